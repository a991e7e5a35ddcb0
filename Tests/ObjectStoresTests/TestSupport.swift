import Crypto
import Foundation
import ObjectStores

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

/// A store in its own temporary directory with one bucket, "test-bucket".
func withStore<Result>(
    fsync: Bool = false,
    readChunkSize: Int = 64 * 1024,
    _ body: (FileSystemObjectStore, TemporaryDirectory) async throws -> Result
) async throws -> Result {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let store = try FileSystemObjectStore(configuration: .init(root: directory.path, readChunkSize: readChunkSize, fsync: fsync))
    _ = try await store.createBucket("test-bucket")
    return try await body(store, directory)
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

extension FileSystemObjectStore {
    func put(_ key: String, _ data: Data, bucket: String = "test-bucket", contentType: String = "application/octet-stream") async throws -> ObjectInfo {
        try await self.putObject(ObjectDescription(bucket: bucket, key: key, contentType: contentType), body: TestBody(data))
    }

    func read(_ key: String, bucket: String = "test-bucket", range: ByteRange? = nil) async throws -> Data {
        try await self.withObject(bucket: bucket, key: key, range: range) { _, chunks in
            var data = Data()
            for try await chunk in chunks {
                data.append(chunk)
            }
            return data
        }
    }

    /// Every key in the bucket, following continuation tokens.
    func allKeys(bucket: String = "test-bucket", prefix: String = "", delimiter: String = "", pageSize: Int = 1000) async throws -> (keys: [String], prefixes: [String], pages: Int) {
        var keys: [String] = []
        var prefixes: [String] = []
        var token: String?
        var pages = 0
        repeat {
            let page = try await self.listObjects(
                ObjectListQuery(bucket: bucket, prefix: prefix, delimiter: delimiter, maxKeys: pageSize, continuationToken: token)
            )
            pages += 1
            keys += page.objects.map(\.key)
            prefixes += page.commonPrefixes
            token = page.nextContinuationToken
        } while token != nil
        return (keys, prefixes, pages)
    }
}

/// Files left in the store's temporary directory.
func temporaryFiles(in directory: TemporaryDirectory) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory.path + "/tmp")
}
