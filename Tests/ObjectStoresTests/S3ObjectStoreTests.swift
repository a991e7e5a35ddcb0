import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import ObjectStores
import S3
import SigV4
import Testing
import TroveTestSupport

/// What only the S3 backend does: multipart uploads, signatures the server checks, and the
/// mapping of S3's failures.
@Suite("S3 object store (moto_server and nanio, signatures checked)")
struct S3ObjectStoreTests {
    /// A store on `server` that goes multipart past `partSize`, in parts and ranges of that size,
    /// with a new bucket named after `prefix`.
    private static func multipartFixture(_ server: S3TestServer, prefix: String, partSize: Int) async throws -> StoreFixture {
        let store = try await server.store(readChunkSize: partSize, multipartThreshold: partSize, partSize: partSize)
        let bucket = prefix + "-" + UUID().uuidString.prefix(8).lowercased()
        _ = try await store.createBucket(bucket)
        return StoreFixture(store: store, bucket: bucket)
    }

    @Test("A 100 MiB object goes up as a multipart upload and comes back byte-identical")
    func multipartRoundTrip() async throws {
        let fixture = try await Self.multipartFixture(.moto, prefix: "multipart", partSize: 8 << 20)
        let (store, bucket) = (fixture.store, fixture.bucket)
        let data = randomBytes(100 << 20, seed: 100)
        let stored = try await store.putObject(
            ObjectDescription(bucket: bucket, key: "big/object.bin", contentType: "application/x-big", userMetadata: ["kind": "multipart"]),
            body: TestBody(data, chunkSize: 1 << 20)
        )
        #expect(stored.sha256 == sha256Hex(data))
        let head = try await fixture.head("big/object.bin")
        #expect(head.size == UInt64(data.count))
        #expect(head.sha256 == sha256Hex(data), "the SHA-256 was recorded after the upload")
        #expect(head.contentType == "application/x-big")
        #expect(head.userMetadata == ["kind": "multipart"])
        #expect(try await fixture.read("big/object.bin") == data)

        // With the hash given up front it is recorded as the upload begins, with no copy. Odd-sized
        // messages make the parts cut across them.
        let vouched = try await store.putObject(
            ObjectDescription(bucket: bucket, key: "big/vouched.bin", expectedSHA256: sha256Hex(data)),
            body: TestBody(data, chunkSize: 700_001)
        )
        #expect(vouched.sha256 == sha256Hex(data))
        #expect(try await fixture.head("big/vouched.bin").sha256 == sha256Hex(data))
        #expect(try await fixture.read("big/vouched.bin") == data)
        let client = try S3Client(configuration: try await S3TestServer.moto.clientConfiguration())
        #expect(try await client.listMultipartUploads(bucket: bucket).isEmpty)
    }

    @Test("A multipart upload that fails part-way is aborted: no object, no upload left behind")
    func failedMultipartIsAborted() async throws {
        let fixture = try await Self.multipartFixture(.moto, prefix: "aborted", partSize: 5 << 20)
        let (store, bucket) = (fixture.store, fixture.bucket)
        await #expect(throws: TestBody.Failure_.self) {
            _ = try await store.putObject(
                ObjectDescription(bucket: bucket, key: "partial"),
                body: TestBody(randomBytes(30 << 20, seed: 5), chunkSize: 1 << 20, failAfter: 17)
            )
        }
        let wrongHash = await #expect(throws: ObjectStoreError.self) {
            _ = try await store.putObject(
                ObjectDescription(bucket: bucket, key: "mismatch", expectedSHA256: String(repeating: "a", count: 64)),
                body: TestBody(randomBytes(12 << 20, seed: 6), chunkSize: 1 << 20)
            )
        }
        #expect(wrongHash?.code == .dataLoss)
        let client = try S3Client(configuration: try await S3TestServer.moto.clientConfiguration())
        #expect(try await client.listMultipartUploads(bucket: bucket).isEmpty)
        #expect(try await fixture.allKeys().keys.isEmpty)
    }

    @Test("Where a copy keeps the old metadata (nanio), a multipart upload without expected_sha256 is refused and leaves nothing")
    func unrecordedHashIsRefused() async throws {
        let fixture = try await Self.multipartFixture(.nanio, prefix: "unrecorded", partSize: 5 << 20)
        let (store, bucket) = (fixture.store, fixture.bucket)
        let data = randomBytes(12 << 20, seed: 12)
        let refused = await #expect(throws: ObjectStoreError.self) {
            _ = try await store.putObject(ObjectDescription(bucket: bucket, key: "unvouched"), body: TestBody(data, chunkSize: 1 << 20))
        }
        #expect(refused?.code == .failedPrecondition)
        #expect(refused?.message.contains("expected_sha256") == true)
        #expect(try await fixture.allKeys().keys.isEmpty)

        // With the hash given up front, the same upload is stored, its hash recorded and checked.
        _ = try await store.putObject(
            ObjectDescription(bucket: bucket, key: "vouched", expectedSHA256: sha256Hex(data)),
            body: TestBody(data, chunkSize: 1 << 20)
        )
        #expect(try await fixture.head("vouched").sha256 == sha256Hex(data))
        #expect(try await fixture.read("vouched") == data)
    }

    @Test("The server checks Trove's signatures: a wrong secret key is refused as UNAUTHENTICATED")
    func wrongSecretIsRefused() async throws {
        let configuration = try await S3TestServer.moto.clientConfiguration(secretAccessKey: "not-the-secret")
        let store = try S3ObjectStore(configuration: .init(client: configuration))
        let error = await #expect(throws: ObjectStoreError.self) { _ = try await store.listBuckets() }
        #expect(error?.code == .unauthenticated)
        #expect(error?.message.contains("SignatureDoesNotMatch") == true)
        #expect(error?.message.contains("not-the-secret") == false, "the secret never appears in a message")
    }

    @Test("An endpoint that does not answer is UNAVAILABLE, after retries")
    func endpointDown() async throws {
        let configuration = S3Client.Configuration(
            endpoint: "http://127.0.0.1:9",
            region: "us-east-1",
            credentials: SigV4Credentials(accessKeyID: "AKID", secretAccessKey: "secret"),
            connectTimeout: .seconds(2),
            maxAttempts: 3,
            initialBackoff: .milliseconds(10)
        )
        let store = try S3ObjectStore(configuration: .init(client: configuration))
        let error = await #expect(throws: ObjectStoreError.self) { _ = try await store.bucketExists("anything") }
        #expect(error?.code == .unavailable)
    }
}

/// Presigned URLs, against nanio, which checks them (moto does not).
@Suite("Presigned URLs (nanio, which checks them)")
struct PresignedURLTests {
    private func fetch(_ url: String, method: String = "GET", body: Data? = nil) async throws -> (status: Int, body: Data) {
        var request = URLRequest(url: try #require(URL(string: url)))
        request.httpMethod = method
        request.httpBody = body
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
    }

    @Test("A presigned GET returns the object to anyone holding it; a tampered one is refused")
    func presignedGet() async throws {
        try await withStore(.nanio) { fixture in
            let key = "presigned/with space+plus=&ü.bin"
            let data = randomBytes(100_000, seed: 3)
            _ = try await fixture.put(key, data)
            let presigned = try await fixture.store.presignedURL(for: ObjectLocation(bucket: fixture.bucket, key: key), method: .get, expiresIn: 60)
            #expect(presigned.url.contains("X-Amz-Signature="))
            #expect(presigned.url.contains("X-Amz-Expires=60"))
            let fetched = try await self.fetch(presigned.url)
            #expect(fetched.status == 200)
            #expect(fetched.body == data)
            let tampered = presigned.url.replacingOccurrences(of: "X-Amz-Expires=60", with: "X-Amz-Expires=600")
            #expect(try await self.fetch(tampered).status == 403)
        }
    }

    @Test("A presigned PUT stores what its holder sends")
    func presignedPut() async throws {
        try await withStore(.nanio) { fixture in
            let presigned = try await fixture.store.presignedURL(for: ObjectLocation(bucket: fixture.bucket, key: "uploads/by-url"), method: .put, expiresIn: 60)
            let data = Data("uploaded without credentials".utf8)
            #expect(try await self.fetch(presigned.url, method: "PUT", body: data).status == 200)
            #expect(try await fixture.read("uploads/by-url") == data)
        }
    }

    @Test("Expiry outside 1 second to 7 days is refused; the filesystem backend cannot presign")
    func limits() async throws {
        try await withStore(.nanio) { fixture in
            for seconds in [0, 604_801] {
                let error = await #expect(throws: ObjectStoreError.self) {
                    _ = try await fixture.store.presignedURL(for: ObjectLocation(bucket: fixture.bucket, key: "k"), method: .get, expiresIn: seconds)
                }
                #expect(error?.code == .invalidArgument)
            }
        }
        try await withStore(.filesystem) { fixture in
            let error = await #expect(throws: ObjectStoreError.self) {
                _ = try await fixture.store.presignedURL(for: ObjectLocation(bucket: fixture.bucket, key: "k"), method: .get, expiresIn: 60)
            }
            #expect(error?.code == .failedPrecondition)
        }
    }
}
