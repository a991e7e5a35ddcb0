import Foundation
import JSONFilter
import MetadataStore
import Synchronization
import Testing

/// A clock tests move by hand, so times and retention are deterministic.
final class ManualClock: Sendable {
    private let current: Mutex<Date>

    init(_ start: Date = Date(timeIntervalSince1970: 1_700_000_000)) {
        self.current = Mutex(start)
    }

    var now: Date { self.current.withLock { $0 } }

    func advance(by seconds: TimeInterval) {
        self.current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }
}

/// A fresh directory under the system temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        self.path = NSTemporaryDirectory() + "trove-metadata-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: self.path, withIntermediateDirectories: true)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: self.path)
    }
}

/// Runs `body` with a store on a real database file in a temporary directory.
func withStore<T>(
    clock: ManualClock = ManualClock(),
    configure: (inout SQLiteMetadataStore.Configuration) -> Void = { _ in },
    _ body: (SQLiteMetadataStore, ManualClock) async throws -> T
) async throws -> T {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    var configuration = SQLiteMetadataStore.Configuration(path: directory.path + "/metadata.sqlite", clock: { clock.now })
    configure(&configuration)
    let store = try SQLiteMetadataStore(configuration: configuration)
    return try await body(store, clock)
}

/// A lower-case hex string of 64 digits derived from `seed`, standing in for a content hash.
func sha(_ seed: Int) -> String {
    let hex = String(seed, radix: 16)
    return String(repeating: "0", count: 64 - hex.count) + hex
}

/// Expects `body` to throw a `MetadataStoreError` and returns it.
@discardableResult
func expectStoreError(
    _ code: MetadataStoreError.Code,
    field: String? = nil,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> Void
) async -> MetadataStoreError? {
    do {
        try await body()
        Issue.record("expected \(code) but nothing was thrown", sourceLocation: sourceLocation)
        return nil
    } catch let error as MetadataStoreError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        if let field {
            #expect(error.field == field, "\(error)", sourceLocation: sourceLocation)
        }
        return error
    } catch {
        Issue.record("expected MetadataStoreError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

extension SQLiteMetadataStore {
    /// A collection "docs" (model "mini", dimension 4) and one pending document in it.
    func makeDocument(
        collection: String = "docs",
        seed: Int = 1,
        metadata: JSONObject = [:]
    ) async throws -> Document {
        if (try? await self.collection(named: collection)) == nil {
            _ = try await self.createCollection(DocumentCollection(name: collection, embeddingModel: "mini", dimension: 4))
        }
        return try await self.createDocument(
            NewDocument(collection: collection, filename: "f\(seed).txt", mimeType: "text/plain", objectType: .text, sha256: sha(seed), metadata: metadata)
        ).document
    }

    /// Chunks with sequences 0..<count and the given contents (or "chunk N").
    func addChunks(to document: UUID, count: Int, contents: [String]? = nil) async throws -> [Chunk] {
        let chunks = (0..<count).map { index in
            NewChunk(sequence: index, content: contents?[index] ?? "chunk \(index)", startOffset: index * 10, endOffset: index * 10 + 10, tokenCount: 3)
        }
        return try await self.putChunks(documentID: document, chunks, replaceExisting: false)
    }

    /// Runs raw SQL on the writer connection and returns the store error it maps to, if any.
    func rawSQLError(_ sql: String) async -> MetadataStoreError? {
        do {
            try await self.withWriterConnection { connection in try connection.execute(sql) }
            return nil
        } catch let error as SQLiteError {
            return MetadataStoreError(error)
        } catch {
            return MetadataStoreError(.internalError, "\(error)")
        }
    }

    func count(_ table: String) async throws -> Int {
        try await self.stats().tables.first { $0.table == table }?.rows ?? -1
    }
}
