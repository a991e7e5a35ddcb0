import Foundation
import ObjectStores
import S3
import SigV4
import Testing
import TroveTestSupport

/// Retries, timeouts and addressing, through a proxy in front of moto that injects faults.
/// Signatures are still checked by moto behind it.
@Suite("S3 faults (fault proxy in front of moto)")
struct S3FaultTests {
    private func store(
        _ proxy: S3FaultProxy,
        endpoint: String? = nil,
        pathStyle: Bool = true,
        maxAttempts: Int = 4,
        idleTimeout: Duration = .seconds(60)
    ) async throws -> S3ObjectStore {
        let moto = try await S3TestServer.moto.endpoint()
        let client = S3Client.Configuration(
            endpoint: endpoint ?? proxy.endpoint,
            region: "us-east-1",
            credentials: SigV4Credentials(accessKeyID: moto.access_key_id, secretAccessKey: moto.secret_access_key),
            pathStyle: pathStyle,
            connectTimeout: .seconds(5),
            idleTimeout: idleTimeout,
            maxAttempts: maxAttempts,
            initialBackoff: .milliseconds(20),
            maxBackoff: .milliseconds(200)
        )
        return try S3ObjectStore(configuration: .init(client: client, multipartThreshold: 5 << 20, partSize: 5 << 20, readChunkSize: 1 << 20))
    }

    private func freshBucket(_ store: S3ObjectStore) async throws -> String {
        let bucket = "faults-" + UUID().uuidString.prefix(8).lowercased()
        _ = try await store.createBucket(bucket)
        return bucket
    }

    @Test("SlowDown, 500 and 503 answers are retried, and the request then succeeds")
    func transientErrorsAreRetried() async throws {
        let proxy = try S3FaultProxy(upstream: try await S3TestServer.moto.endpoint().endpoint)
        let store = try await self.store(proxy)
        let bucket = try await self.freshBucket(store)
        let data = randomBytes(200_000, seed: 31)
        _ = try await store.putObject(ObjectDescription(bucket: bucket, key: "retried"), body: TestBody(data))

        try await proxy.failNext(1, status: 503, code: "SlowDown", matching: "/retried")
        try await proxy.failNext(1, status: 500, code: "InternalError", matching: "/retried")
        try await proxy.failNext(1, status: 503, code: "ServiceUnavailable", matching: "/retried")
        let info = try await store.headObject(bucket: bucket, key: "retried")
        #expect(info.sha256 == sha256Hex(data))

        let heads = try await proxy.seenRequests().filter { $0.method == "HEAD" && $0.path.hasSuffix("/retried") }
        #expect(heads.map(\.injected) == [true, true, true, false], "three failed attempts, then the one that succeeded")
    }

    @Test("Past the attempt budget the failure is UNAVAILABLE, naming S3's code and request id")
    func attemptsAreBounded() async throws {
        let proxy = try S3FaultProxy(upstream: try await S3TestServer.moto.endpoint().endpoint)
        let store = try await self.store(proxy, maxAttempts: 3)
        let bucket = try await self.freshBucket(store)
        try await proxy.failNext(10, status: 503, code: "SlowDown", matching: "/throttled")
        let error = await #expect(throws: ObjectStoreError.self) { _ = try await store.headObject(bucket: bucket, key: "throttled") }
        #expect(error?.code == .unavailable)
        let heads = try await proxy.seenRequests().filter { $0.path.hasSuffix("/throttled") }
        #expect(heads.count == 3, "exactly max_attempts tries")

        // A GET carries S3's error document; its code and request id reach the message.
        let getError = await #expect(throws: ObjectStoreError.self) {
            _ = try await store.withObject(bucket: bucket, key: "throttled", range: nil) { _, _ in }
        }
        #expect(getError?.code == .unavailable)
        try await proxy.failNext(10, status: 503, code: "SlowDown", matching: "list-type=2")
        let listError = await #expect(throws: ObjectStoreError.self) {
            _ = try await store.listObjects(ObjectListQuery(bucket: bucket))
        }
        #expect(listError?.code == .unavailable)
        #expect(listError?.message.contains("SlowDown") == true)
        #expect(listError?.message.contains("fault-proxy") == true, "the request id is in the message")
    }

    @Test("Creating a multipart upload is not idempotent, so it is tried once")
    func nonIdempotentRequestsAreNotRetried() async throws {
        let proxy = try S3FaultProxy(upstream: try await S3TestServer.moto.endpoint().endpoint)
        let store = try await self.store(proxy)
        let bucket = try await self.freshBucket(store)
        try await proxy.failNext(1, status: 503, code: "SlowDown", matching: "?uploads")
        let error = await #expect(throws: ObjectStoreError.self) {
            _ = try await store.putObject(ObjectDescription(bucket: bucket, key: "once"), body: TestBody(randomBytes(8 << 20, seed: 2), chunkSize: 1 << 20))
        }
        #expect(error?.code == .unavailable)
        let creates = try await proxy.seenRequests().filter { $0.method == "POST" && $0.path.contains("?uploads") }
        #expect(creates.count == 1)
    }

    @Test("A stalled answer times out after the idle timeout and the retry succeeds")
    func stalledAnswerTimesOut() async throws {
        let proxy = try S3FaultProxy(upstream: try await S3TestServer.moto.endpoint().endpoint)
        let store = try await self.store(proxy, idleTimeout: .seconds(1))
        let bucket = try await self.freshBucket(store)
        let data = randomBytes(50_000, seed: 4)
        _ = try await store.putObject(ObjectDescription(bucket: bucket, key: "slow"), body: TestBody(data))
        try await proxy.delayNext(1, seconds: 4, matching: "/slow")
        let info = try await store.headObject(bucket: bucket, key: "slow")
        #expect(info.size == UInt64(data.count))
        // The stalled HEAD, then the retry that answered (on a loaded machine a retry can itself
        // run past the 1 s idle timeout and be tried once more).
        let heads = try await proxy.seenRequests().filter { $0.method == "HEAD" && $0.path.hasSuffix("/slow") }
        #expect(heads.first?.injected == true && heads.count >= 2 && heads.dropFirst().allSatisfy { !$0.injected }, "\(heads.map(\.injected))")
    }

    @Test("A dropped connection is retried")
    func droppedConnectionIsRetried() async throws {
        let proxy = try S3FaultProxy(upstream: try await S3TestServer.moto.endpoint().endpoint)
        let store = try await self.store(proxy)
        let bucket = try await self.freshBucket(store)
        let data = randomBytes(300_000, seed: 5)
        _ = try await store.putObject(ObjectDescription(bucket: bucket, key: "dropped"), body: TestBody(data))
        try await proxy.dropNext(1, matching: "/dropped")
        var read = Data()
        try await store.withObject(bucket: bucket, key: "dropped", range: nil) { _, chunks in
            for try await chunk in chunks { read.append(chunk) }
        }
        #expect(read == data)
    }

    @Test("Failed parts are retried and the multipart upload completes intact, leaving no upload behind")
    func failedPartsAreRetried() async throws {
        let proxy = try S3FaultProxy(upstream: try await S3TestServer.moto.endpoint().endpoint)
        let store = try await self.store(proxy)
        let bucket = try await self.freshBucket(store)
        try await proxy.failNext(2, status: 503, code: "SlowDown", matching: "partNumber=2")
        try await proxy.failNext(1, status: 500, code: "InternalError", matching: "partNumber=3")
        let data = randomBytes(23 << 20, seed: 6)
        let stored = try await store.putObject(ObjectDescription(bucket: bucket, key: "parts"), body: TestBody(data, chunkSize: 1 << 20))
        #expect(stored.sha256 == sha256Hex(data))
        var read = Data()
        try await store.withObject(bucket: bucket, key: "parts", range: nil) { info, chunks in
            #expect(info.sha256 == sha256Hex(data))
            for try await chunk in chunks { read.append(chunk) }
        }
        #expect(read == data)
        let parts = try await proxy.seenRequests().filter { $0.method == "PUT" && $0.path.contains("partNumber=") }
        #expect(parts.count == 5 + 3, "five parts, three of them answered with an error first")
        let client = try S3Client(configuration: try await S3TestServer.moto.clientConfiguration())
        #expect(try await client.listMultipartUploads(bucket: bucket).isEmpty)
    }

    @Test("Virtual-host addressing puts the bucket in the Host header, and the server accepts the signature")
    func virtualHostAddressing() async throws {
        let proxy = try S3FaultProxy(upstream: try await S3TestServer.moto.endpoint().endpoint)
        // curl resolves every *.localhost name to the loopback address itself.
        let port = try #require(URL(string: proxy.endpoint)?.port)
        let store = try await self.store(proxy, endpoint: "http://localhost:\(port)", pathStyle: false)
        let bucket = try await self.freshBucket(store)
        let data = randomBytes(70_000, seed: 7)
        _ = try await store.putObject(ObjectDescription(bucket: bucket, key: "dir/virtual host.bin"), body: TestBody(data))
        var read = Data()
        try await store.withObject(bucket: bucket, key: "dir/virtual host.bin", range: nil) { _, chunks in
            for try await chunk in chunks { read.append(chunk) }
        }
        #expect(read == data)
        let requests = try await proxy.seenRequests().filter { $0.path.hasPrefix("/dir/virtual") }
        #expect(!requests.isEmpty)
        for request in requests {
            #expect(request.host == "\(bucket).localhost:\(port)")
            #expect(!request.path.contains(bucket))
        }
    }
}
