import Foundation
import GRPCCore
import GRPCInProcessTransport
import Logging
import MetadataStore
import SwiftProtobuf
import Synchronization
import Testing
import TroveContracts
import TroveMetadata

typealias MetadataClient = Trove_V1_Metadata.Client<InProcessTransport.Client>

/// A clock tests move by hand, for the store's timestamps and retention.
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

/// What a test gets: the client, the clock the store runs on, and where the database lives.
struct MetadataServer {
    let client: MetadataClient
    let clock: ManualClock
    let databasePath: String
}

/// Runs the real `MetadataService` on a fresh SQLite file in a temporary directory behind
/// grpc-swift's in-process transport, and hands `body` a client for it.
func withMetadataServer<T: Sendable>(
    retention: SQLiteMetadataStore.Configuration.Retention = .init(),
    _ body: (MetadataServer) async throws -> T
) async throws -> T {
    let directory = NSTemporaryDirectory() + "trove-metadata-service-tests-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }

    let clock = ManualClock()
    let path = directory + "/metadata.sqlite"
    // NORMAL: durability across power loss is not what these tests check, and it keeps them fast.
    let store = try SQLiteMetadataStore(
        configuration: .init(path: path, synchronous: .normal, readers: 2, retention: retention, clock: { clock.now })
    )
    var logger = Logger(label: "trove.metadata.tests")
    logger.logLevel = .critical
    let service = MetadataService(store: store, logger: logger)
    let transport = InProcessTransport()
    return try await withGRPCServer(transport: transport.server, services: [service]) { _ in
        try await withGRPCClient(transport: transport.client) { client in
            try await body(MetadataServer(client: MetadataClient(wrapping: client), clock: clock, databasePath: path))
        }
    }
}

// MARK: Fixtures

/// A lower-case hex SHA-256-shaped string that differs per seed.
func sha256(seed: Int) -> String {
    let hex = String(seed, radix: 16)
    return String(repeating: "0", count: 64 - hex.count) + hex
}

extension MetadataClient {
    @discardableResult
    func makeCollection(_ name: String = "docs") async throws -> Trove_V1_Collection {
        try await self.createCollection(.with {
            $0.collection = .with {
                $0.name = name
                $0.embeddingModel = "all-MiniLM-L6-v2"
                $0.dimension = 384
                $0.metric = .cosine
            }
        })
    }

    func makeDocument(
        collection: String = "docs",
        seed: Int = 1,
        metadata: [String: Google_Protobuf_Value] = [:]
    ) async throws -> Trove_V1_Document {
        try await self.createDocument(.with {
            $0.document = .with {
                $0.collection = collection
                $0.filename = "file-\(seed).txt"
                $0.mimeType = "text/plain"
                $0.objectType = .text
                $0.sha256 = sha256(seed: seed)
                $0.sizeBytes = UInt64(100 + seed)
                $0.location = .with {
                    $0.bucket = "raw"
                    $0.key = "file-\(seed).txt"
                }
                $0.metadata = .init(fields: metadata)
            }
        }).document
    }

    /// Stores chunks 0..<contents.count with the given contents.
    func addChunks(to document: Trove_V1_Document, contents: [String]) async throws -> [Trove_V1_Chunk] {
        try await self.putChunks(.with {
            $0.documentID = document.id
            $0.chunks = contents.enumerated().map { index, content in
                .with {
                    $0.sequence = UInt32(index)
                    $0.content = content
                    $0.startOffset = UInt64(index * 100)
                    $0.endOffset = UInt64(index * 100 + content.unicodeScalars.count)
                    $0.tokenCount = UInt32(content.split(separator: " ").count)
                }
            }
        }).chunks
    }

    func moveDocument(_ id: String, to status: Trove_V1_DocumentStatus, errorMessage: String = "") async throws -> Trove_V1_Document {
        try await self.updateDocumentStatus(.with {
            $0.id = id
            $0.status = status
            $0.errorMessage = errorMessage
        })
    }
}
