import ArgumentParser
import Foundation
import GRPCCore
import SwiftProtobuf
import TroveContracts

/// `trove collections create|ls|rm`.
struct CollectionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collections",
        abstract: "Create, list and remove collections.",
        subcommands: [Create.self, List.self, Remove.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a collection.")

        @Argument var name: String
        @Option(name: .long, help: "Embedding model (default: the embedding service's default).")
        var model = ""
        @Option(name: .long, help: "cosine, l2 or inner_product.")
        var metric = "cosine"
        @Option(name: .long, help: "Chunk size (default: Trove's).")
        var chunkSize: UInt32 = 0
        @Option(name: .long, help: "Chunk overlap.")
        var chunkOverlap: UInt32 = 0
        @Option(name: .long, help: "tokens or characters.")
        var chunkUnit = "tokens"
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let metric: Trove_V1_DistanceMetric
            switch self.metric {
            case "cosine": metric = .cosine
            case "l2": metric = .l2
            case "inner_product": metric = .innerProduct
            default: throw ValidationError("--metric must be cosine, l2 or inner_product")
            }
            guard ["tokens", "characters"].contains(self.chunkUnit) else {
                throw ValidationError("--chunk-unit must be tokens or characters")
            }
            let collection = try await self.client.withClient { client in
                try await Trove_V1_Ingestion.Client(wrapping: client).createCollection(
                    .with {
                        $0.name = self.name
                        $0.embeddingModel = self.model
                        $0.metric = metric
                        if self.chunkSize > 0 {
                            $0.chunking = .with {
                                $0.unit = self.chunkUnit == "tokens" ? .tokens : .characters
                                $0.size = self.chunkSize
                                $0.overlap = self.chunkOverlap
                            }
                        }
                    },
                    options: self.client.callOptions
                )
            }
            print("created \(collection.name): \(collection.embeddingModel), \(collection.dimension) dimensions")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List collections with their counts.")
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let response = try await self.client.withClient { client in
                try await Trove_V1_Ingestion.Client(wrapping: client).listCollections(.init(), options: self.client.callOptions)
            }
            if response.collections.isEmpty {
                print("no collections (create one with `trove collections create NAME`, or just `trove ingest PATH`)")
                return
            }
            print(padded("NAME", 24) + padded("MODEL", 20) + padded("DOCUMENTS", 11) + padded("CHUNKS", 10) + "VECTORS")
            for summary in response.collections {
                print(
                    padded(summary.collection.name, 24) + padded(summary.collection.embeddingModel, 20)
                        + padded("\(summary.documents)", 11) + padded("\(summary.chunks)", 10) + "\(summary.vectors)"
                )
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a collection with all its documents.")
        @Argument var name: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let response = try await self.client.withClient { client in
                try await Trove_V1_Ingestion.Client(wrapping: client).deleteCollection(.with { $0.name = self.name }, options: self.client.callOptions)
            }
            print("removed \(self.name) (\(response.documentsDeleted) documents)")
        }
    }
}

/// `trove docs ls|show|rm`.
struct DocsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "docs",
        abstract: "List, show and remove documents.",
        subcommands: [List.self, Show.self, Remove.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List a collection's documents.")
        @Option(name: .shortAndLong) var collection = "default"
        @Option(name: .long, help: "pending, processing, completed or failed.")
        var status: String?
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let status = try self.status.map(DocsCommand.status) ?? .unspecified
            let documents = try await self.client.withClient { client in
                let ingestion = Trove_V1_Ingestion.Client(wrapping: client)
                var documents: [Trove_V1_Document] = []
                var token = ""
                repeat {
                    let page = try await ingestion.listDocuments(
                        .with {
                            $0.collection = self.collection
                            $0.status = status
                            $0.page = .with { $0.pageToken = token }
                        },
                        options: self.client.callOptions
                    )
                    documents += page.documents
                    token = page.nextPageToken
                } while !token.isEmpty
                return documents
            }
            print(padded("ID", 38) + padded("STATUS", 12) + padded("CHUNKS", 8) + padded("BYTES", 10) + "FILENAME")
            for document in documents {
                print(
                    padded(document.id, 38) + padded(DocsCommand.name(document.status), 12) + padded("\(document.chunkCount)", 8)
                        + padded("\(document.sizeBytes)", 10) + document.filename
                )
            }
            print("\(documents.count) documents")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Show a document.")
        @Argument var id: String
        @Flag(name: .long, help: "Print the document as JSON, for scripts.")
        var json = false
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let document = try await self.client.withClient { client in
                try await Trove_V1_Ingestion.Client(wrapping: client).getDocumentStatus(.with { $0.documentID = self.id }, options: self.client.callOptions)
            }
            if self.json {
                var options = JSONEncodingOptions()
                options.preserveProtoFieldNames = true
                print(try document.jsonString(options: options))
                return
            }
            for line in try Self.describe(document) {
                print(line)
            }
        }

        /// The document as "label  value" lines under its filename.
        static func describe(_ document: Trove_V1_Document) throws -> [String] {
            let attempts = document.attempts == 1 ? "1 attempt" : "\(document.attempts) attempts"
            var fields: [(String, String)] = [
                ("id", document.id),
                ("collection", document.collection),
                ("status", "\(DocsCommand.name(document.status)) (\(attempts))"),
            ]
            if !document.errorMessage.isEmpty {
                // On a completed document the message says why it was stored but not embedded.
                fields.append((document.status == .failed ? "error" : "note", document.errorMessage))
            }
            fields += [
                ("type", "\(document.mimeType.isEmpty ? "unknown" : document.mimeType), \(document.sizeBytes) bytes"),
                ("sha256", document.sha256),
                ("stored as", document.location.bucket.isEmpty ? "not yet" : "\(document.location.bucket)/\(document.location.key)"),
                ("chunks", "\(document.chunkCount)"),
            ]
            if document.chunking.size > 0 {
                let unit = document.chunking.unit == .characters ? "characters" : "tokens"
                fields.append(("chunking", "\(document.chunking.size) \(unit), overlap \(document.chunking.overlap)"))
            }
            for (index, (key, value)) in document.metadata.fields.sorted(by: { $0.key < $1.key }).enumerated() {
                let text = if case .stringValue(let string) = value.kind { string } else { try value.jsonString() }
                fields.append((index == 0 ? "metadata" : "", "\(key) = \(text)"))
            }
            fields += [
                ("created", KeysCommand.List.format(document.createdAt)),
                ("updated", KeysCommand.List.format(document.updatedAt)),
            ]
            return [document.filename.isEmpty ? document.id : document.filename] + fields.map { "  " + padded($0.0, 12) + $0.1 }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a document with its chunks, vectors and stored bytes.")
        @Argument var id: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let response = try await self.client.withClient { client in
                try await Trove_V1_Ingestion.Client(wrapping: client).deleteDocument(.with { $0.documentID = self.id }, options: self.client.callOptions)
            }
            print("removed \(self.id): \(response.chunksDeleted) chunks, \(response.vectorsDeleted) vectors, object \(response.objectDeleted ? "deleted" : "kept")")
        }
    }

    static func status(_ text: String) throws -> Trove_V1_DocumentStatus {
        switch text {
        case "pending": .pending
        case "processing": .processing
        case "completed": .completed
        case "failed": .failed
        default: throw ValidationError("--status must be pending, processing, completed or failed")
        }
    }

    static func name(_ status: Trove_V1_DocumentStatus) -> String {
        switch status {
        case .pending: "pending"
        case .processing: "processing"
        case .completed: "completed"
        case .failed: "failed"
        default: "unknown"
        }
    }
}

/// `trove status`: the services, the counts, the queue and the cache.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show what Trove holds and whether every service answers.")
    @OptionGroup var client: ClientOptions

    func run() async throws {
        let status = try await self.client.withClient { client in
            try await Trove_V1_Ingestion.Client(wrapping: client).getSystemStatus(.init(), options: self.client.callOptions)
        }
        print("Trove \(status.version)")
        for service in status.services {
            print("  \(padded(service.name, 16)) \(service.serving ? "serving" : "NOT SERVING: \(service.message)")")
        }
        let byStatus = ["pending", "processing", "completed", "failed"].map { "\(status.documentsByStatus[$0] ?? 0) \($0)" }
        print("collections  \(status.collections)")
        print("documents    \(status.documents) (\(byStatus.joined(separator: ", ")))")
        print("chunks       \(status.chunks)")
        print("vectors      \(status.vectors)")
        print("queued jobs  \(status.queuedJobs)")
        print("search cache hit rate \(IngestProgress.format(status.cacheHitRate * 100, digits: 1)) %")
        let stages = ["storage", "extract", "chunk", "embed", "index", "metadata"].compactMap { stage in
            status.stageTimeUs[stage].map { "\(stage) \(IngestProgress.format(Double($0) / 1e6, digits: 1)) s" }
        }
        if !stages.isEmpty {
            // Documents are processed side by side, so these sums can exceed the time elapsed.
            print("time in each stage since start-up, summed over documents:")
            print("  " + stages.joined(separator: ", "))
        }
    }
}
