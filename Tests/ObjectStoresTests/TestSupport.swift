import Crypto
import Foundation
import ObjectStores
import S3
import SigV4
import Testing
import TroveTestSupport

/// A fresh directory under the system's temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        self.path = FileManager.default.temporaryDirectory.path + "/trove-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: self.path, withIntermediateDirectories: true)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: self.path)
    }
}

/// The backends every conformance test runs against.
enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case filesystem
    /// S3 on moto_server with signature checking on.
    case moto
    /// S3 on nanio, which also checks percent-encoded keys and presigned URLs.
    case nanio

    /// The backends the whole conformance suite runs on. nanio keeps objects as plain files,
    /// so it cannot hold `a` beside `a/b`, empty segments or control characters; it runs the
    /// tests that need a server checking percent-encoded keys and presigned URLs.
    static let conformance: [Backend] = [.filesystem, .moto]

    var server: S3TestServer? {
        switch self {
        case .filesystem: nil
        case .moto: .moto
        case .nanio: .nanio
        }
    }

    var testDescription: String { self.rawValue }
}

/// A store with an empty bucket of its own.
struct StoreFixture {
    let store: any ObjectStore
    let bucket: String
}

/// Runs `body` with a store of the given backend and a fresh bucket.
func withStore<Result>(
    _ backend: Backend,
    readChunkSize: Int = 64 * 1024,
    _ body: (StoreFixture) async throws -> Result
) async throws -> Result {
    switch backend {
    case .filesystem:
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileSystemObjectStore(configuration: .init(root: directory.path, readChunkSize: readChunkSize, fsync: false))
        _ = try await store.createBucket("test-bucket")
        return try await body(StoreFixture(store: store, bucket: "test-bucket"))
    case .moto, .nanio:
        let store = try await backend.server!.store(readChunkSize: readChunkSize)
        let bucket = "test-" + UUID().uuidString.lowercased().prefix(18)
        _ = try await store.createBucket(String(bucket))
        return try await body(StoreFixture(store: store, bucket: String(bucket)))
    }
}

extension S3TestServer {
    func clientConfiguration(secretAccessKey: String? = nil) throws -> S3Client.Configuration {
        let endpoint = try self.endpoint()
        return S3Client.Configuration(
            endpoint: endpoint.endpoint,
            region: "us-east-1",
            credentials: SigV4Credentials(accessKeyID: endpoint.access_key_id, secretAccessKey: secretAccessKey ?? endpoint.secret_access_key),
            maxAttempts: 2,
            initialBackoff: .milliseconds(20)
        )
    }

    func store(readChunkSize: Int, multipartThreshold: Int = 16 << 20, partSize: Int = 8 << 20) throws -> S3ObjectStore {
        try S3ObjectStore(
            configuration: .init(
                client: try self.clientConfiguration(),
                multipartThreshold: multipartThreshold,
                partSize: partSize,
                readChunkSize: max(readChunkSize, 1 << 20)
            )
        )
    }
}

/// Chunks of bytes as an async sequence, optionally failing after some of them.
struct TestBody: AsyncSequence, Sendable {
    typealias Element = Data
    typealias Failure = any Error

    struct Failure_: Error {}

    let chunks: [Data]
    var failAfter: Int?

    init(_ data: Data, chunkSize: Int = 100_000, failAfter: Int? = nil) {
        var chunks: [Data] = []
        var offset = 0
        while offset < data.count {
            let end = Swift.min(data.count, offset + chunkSize)
            chunks.append(data.subdata(in: offset..<end))
            offset = end
        }
        self.chunks = chunks
        self.failAfter = failAfter
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        let chunks: [Data]
        let failAfter: Int?
        var index = 0

        mutating func next() async throws -> Data? {
            if let failAfter, self.index == failAfter {
                throw Failure_()
            }
            guard self.index < self.chunks.count else { return nil }
            defer { self.index += 1 }
            return self.chunks[self.index]
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(chunks: self.chunks, failAfter: self.failAfter)
    }
}

/// Deterministic pseudo-random bytes.
func randomBytes(_ count: Int, seed: UInt64 = 42) -> Data {
    var state = seed
    var bytes = [UInt8](repeating: 0, count: count)
    for index in 0..<count {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        bytes[index] = UInt8(truncatingIfNeeded: state >> 33)
    }
    return Data(bytes)
}

func sha256Hex(_ data: Data) -> String {
    SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
}

extension StoreFixture {
    func put(_ key: String, _ data: Data, contentType: String = "application/octet-stream") async throws -> ObjectInfo {
        try await self.store.putObject(ObjectDescription(bucket: self.bucket, key: key, contentType: contentType), body: TestBody(data))
    }

    func read(_ key: String, range: ByteRange? = nil) async throws -> Data {
        try await self.store.withObject(bucket: self.bucket, key: key, range: range) { _, chunks in
            var data = Data()
            for try await chunk in chunks {
                data.append(chunk)
            }
            return data
        }
    }

    func head(_ key: String) async throws -> ObjectInfo {
        try await self.store.headObject(bucket: self.bucket, key: key)
    }

    func delete(_ key: String) async throws -> Bool {
        try await self.store.deleteObject(bucket: self.bucket, key: key)
    }

    /// Every key in the bucket, following continuation tokens.
    func allKeys(prefix: String = "", delimiter: String = "", pageSize: Int = 1000) async throws -> (keys: [String], prefixes: [String], pages: Int) {
        var keys: [String] = []
        var prefixes: [String] = []
        var token: String?
        var pages = 0
        repeat {
            let page = try await self.store.listObjects(
                ObjectListQuery(bucket: self.bucket, prefix: prefix, delimiter: delimiter, maxKeys: pageSize, continuationToken: token)
            )
            pages += 1
            keys += page.objects.map(\.key)
            prefixes += page.commonPrefixes
            token = page.nextContinuationToken
        } while token != nil
        return (keys, prefixes, pages)
    }
}

/// Files left in a filesystem store's temporary directory.
func temporaryFiles(in directory: TemporaryDirectory) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory.path + "/tmp")
}

/// Keys nanio stores: no empty segment or trailing '/', no control characters, and no '%' (it
/// mis-checks the signature of such keys; boto3 fails the same way against it).
func nanioSafe(_ key: String) -> Bool {
    !key.contains("%") && !key.contains("//") && !key.hasSuffix("/")
        && key.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7F }
}

/// Keys moto_server signs correctly: it mis-checks keys whose path needs percent-encoding.
func motoSafe(_ key: String) -> Bool {
    key.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-_.~/".unicodeScalars.contains($0)) }
}
