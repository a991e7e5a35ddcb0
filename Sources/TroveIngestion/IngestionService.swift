import Crypto
import Foundation
import GRPCCore
import Logging
import ServiceLifecycle
import SwiftProtobuf
import TextProcessing
import TroveContracts
import TroveCore

/// The ingestion service: documents in, search results out.
///
/// It owns no data: documents' bytes go to object storage, their records and chunks to the
/// metadata service, vectors to vector search, all through their gRPC clients. Processing runs
/// in the background (`pipeline`, a lifecycle service to run beside the server).
public struct IngestionService: Trove_V1_Ingestion.SimpleServiceProtocol {
    /// What ingestion is told by the configuration.
    public struct Configuration: Sendable {
        /// The bucket that holds ingested documents' bytes, under `<collection>/<sha256>`.
        public var bucket = "trove-documents"
        public var workers = 16
        /// The most bytes of documents in hand at once: many workers share small documents,
        /// while large ones wait for room (one larger than this runs alone).
        public var maxBytesInHand = 256 << 20
        public var maxAttempts = 3
        public var retryBackoff = Duration.seconds(1)
        public var maxDocumentBytes = 256 << 20
        public var embedBatchSize = 64
        /// Chunking for collections that set none: unit ("tokens" or "characters"), size, overlap.
        public var defaultChunkUnit = "tokens"
        public var defaultChunkSize = 200
        public var defaultChunkOverlap = 20
        public var searchCacheTTL = Duration.seconds(300)
        public var searchCacheEntries = 1024
        /// Time between sweeps for objects in `bucket` no document points to; nil: no sweeps.
        public var orphanSweepInterval: Duration? = .seconds(3600)
        /// How old such an object must be before a sweep removes it.
        public var orphanGrace = Duration.seconds(3600)
        /// How long a graceful shutdown waits for the documents being processed; past it they are
        /// cut short and taken up again at the next start.
        public var shutdownGrace = Duration.seconds(20)

        public init() {}
    }

    let downstream: Downstream
    let configuration: Configuration
    let logger: Logger
    let events: IngestionEvents
    let cache: SearchCache
    let pipeline: DocumentPipeline
    private let bucketReady: BucketReadiness

    public init(downstream: Downstream, configuration: Configuration = Configuration(), logger: Logger) {
        self.downstream = downstream
        self.configuration = configuration
        self.logger = logger
        self.events = IngestionEvents()
        self.cache = SearchCache(timeToLive: configuration.searchCacheTTL, capacity: configuration.searchCacheEntries)
        self.bucketReady = BucketReadiness()
        self.pipeline = DocumentPipeline(
            configuration: .init(
                workers: configuration.workers,
                maxBytesInHand: configuration.maxBytesInHand,
                maxQueuedBytes: configuration.maxBytesInHand / 4,
                maxAttempts: configuration.maxAttempts,
                retryBackoff: configuration.retryBackoff,
                maxDocumentBytes: configuration.maxDocumentBytes,
                embedBatchSize: configuration.embedBatchSize,
                defaultChunking: ChunkingPolicy(
                    unit: configuration.defaultChunkUnit == "characters" ? .characters : .tokens,
                    size: configuration.defaultChunkSize,
                    overlap: configuration.defaultChunkOverlap
                ),
                orphanSweep: .init(bucket: configuration.bucket, interval: configuration.orphanSweepInterval, grace: configuration.orphanGrace),
                shutdownGrace: configuration.shutdownGrace
            ),
            downstream: downstream,
            events: self.events,
            cache: self.cache,
            logger: logger
        )
    }

    /// The background processing of documents; run it beside the server.
    public var processing: any Service { self.pipeline }

    // MARK: Collections

    public func createCollection(request: Trove_V1_CreateIngestionCollectionRequest, context: ServerContext) async throws -> Trove_V1_Collection {
        guard !request.name.isEmpty else {
            throw RPCError.invalidField("name", "give the collection a name: 1 to 128 letters, digits, '-', '_' or '.'")
        }
        let model = try await self.model(named: request.embeddingModel, field: "embedding_model")
        if request.hasChunking {
            try self.validate(request.chunking, model: model, field: "chunking")
        }
        let metric: Trove_V1_DistanceMetric = request.metric == .unspecified ? .cosine : request.metric
        let collection = try await self.downstream.metadata.createCollection(.with {
            $0.collection = .with {
                $0.name = request.name
                $0.embeddingModel = model.id
                $0.dimension = model.dimension
                $0.metric = metric
                $0.chunking = request.chunking
                $0.metadata = request.metadata
            }
        })
        do {
            _ = try await self.downstream.vectorSearch.createCollection(.with {
                $0.name = request.name
                $0.dimension = model.dimension
                $0.metric = metric
                $0.embeddingModel = model.id
            })
        } catch let error as RPCError where error.code == .alreadyExists {
            // Left by a create that stopped half-way, or a delete that did: usable if it matches.
            let existing = try await self.downstream.vectorSearch.describeCollection(.with { $0.name = request.name })
            guard existing.dimension == model.dimension, existing.metric == metric else {
                _ = try? await self.downstream.metadata.deleteCollection(.with { $0.name = request.name })
                throw RPCError(
                    code: .failedPrecondition,
                    message: "vector search already has a collection '\(request.name)' of dimension \(existing.dimension) and metric \(existing.metric); drop it first"
                )
            }
        } catch {
            _ = try? await self.downstream.metadata.deleteCollection(.with { $0.name = request.name })
            throw error
        }
        return collection
    }

    public func listCollections(request: Trove_V1_ListIngestionCollectionsRequest, context: ServerContext) async throws -> Trove_V1_ListIngestionCollectionsResponse {
        let collections = try await self.downstream.allCollections()
        let vectors = try await self.downstream.vectorSearch.listCollections(.init()).collections
        let vectorCounts = Dictionary(vectors.map { ($0.name, $0.count) }, uniquingKeysWith: { first, _ in first })
        var summaries: [Trove_V1_CollectionSummary] = []
        for collection in collections {
            let documents = try await self.downstream.allDocuments(collection: collection.name)
            summaries.append(.with {
                $0.collection = collection
                $0.documents = UInt64(documents.count)
                $0.chunks = documents.reduce(0) { $0 + UInt64($1.chunkCount) }
                $0.vectors = vectorCounts[collection.name] ?? 0
            })
        }
        return .with { $0.collections = summaries }
    }

    public func deleteCollection(request: Trove_V1_DeleteIngestionCollectionRequest, context: ServerContext) async throws -> Trove_V1_DeleteIngestionCollectionResponse {
        guard !request.name.isEmpty else {
            throw RPCError.invalidField("name", "name the collection to delete")
        }
        // Metadata first: once the records are gone, attempts in flight fail and undo their writes.
        var documentsDeleted: UInt64 = 0
        var found = false
        do {
            documentsDeleted = try await self.downstream.metadata.deleteCollection(.with { $0.name = request.name }).documentsDeleted
            found = true
        } catch let error as RPCError where error.code == .notFound {
            // A delete that stopped half-way: finish it.
        }
        do {
            _ = try await self.downstream.vectorSearch.dropCollection(.with { $0.name = request.name })
            found = true
        } catch let error as RPCError where error.code == .notFound {
        }
        let objects = try await self.deleteObjects(prefix: request.name + "/")
        self.cache.invalidate(collection: request.name)
        guard found || objects > 0 else {
            throw RPCError(code: .notFound, message: "collection '\(request.name)' does not exist")
        }
        self.logger.info("collection deleted", metadata: ["collection": "\(request.name)", "documents": "\(documentsDeleted)", "objects": "\(objects)"])
        return .with { $0.documentsDeleted = documentsDeleted }
    }

    // MARK: Documents

    public func ingestDocument(request: RPCAsyncSequence<Trove_V1_IngestDocumentRequest, any Error>, context: ServerContext) async throws -> Trove_V1_IngestDocumentResponse {
        var messages = request.makeAsyncIterator()
        guard let first = try await messages.next() else {
            throw RPCError.invalidField("header", "the stream is empty: send the header first, then the bytes")
        }
        guard case .header(let header) = first.part else {
            throw RPCError.invalidField("header", "the first message must be the header (collection, filename, …)")
        }
        guard !header.collection.isEmpty else {
            throw RPCError.invalidField("header.collection", "name the collection to ingest into")
        }
        let collection = try await self.downstream.metadata.getCollection(.with { $0.name = header.collection })
        if header.hasChunking {
            let model = try await self.model(named: collection.embeddingModel, field: "header.chunking")
            try self.validate(header.chunking, model: model, field: "header.chunking")
        }

        let location: Trove_V1_ObjectLocation
        let bytes: [UInt8]
        let digest: String
        var filename = header.filename
        if header.hasObjectReference {
            let reference = header.objectReference
            guard !reference.bucket.isEmpty, !reference.key.isEmpty else {
                throw RPCError.invalidField("header.object_reference", "give both the bucket and the key")
            }
            if try await messages.next() != nil {
                throw RPCError.invalidField("chunk", "send either bytes or an object reference, not both")
            }
            let (info, stored) = try await self.downstream.getObject(reference, limit: self.configuration.maxDocumentBytes)
            bytes = stored
            digest = info.sha256.isEmpty ? SHA256.hash(data: stored).lowercaseHex : info.sha256
            location = reference
            if filename.isEmpty {
                filename = String(reference.key.split(separator: "/").last ?? Substring(reference.key))
            }
        } else {
            guard !filename.isEmpty else {
                throw RPCError.invalidField("header.filename", "name the document (it sets the type when header.mime_type is empty)")
            }
            var received: [UInt8] = []
            var hasher = SHA256()
            while let message = try await messages.next() {
                guard case .chunk(let chunk) = message.part else {
                    throw RPCError.invalidField("header", "only the first message may be a header")
                }
                guard received.count + chunk.count <= self.configuration.maxDocumentBytes else {
                    throw RPCError(
                        code: .resourceExhausted,
                        message: "the document is larger than ingestion.max_document_bytes (\(self.configuration.maxDocumentBytes) bytes)"
                    )
                }
                hasher.update(data: chunk)
                received.append(contentsOf: chunk)
            }
            bytes = received
            digest = hasher.finalize().lowercaseHex
            location = .with {
                $0.bucket = self.configuration.bucket
                $0.key = header.collection + "/" + digest
            }
        }

        let mimeType = header.mimeType.isEmpty ? ContentType.guess(filename: filename, content: bytes.prefix(4096)) : ContentType.essence(of: header.mimeType)
        if !header.hasObjectReference {
            try await self.store(bytes, at: location, sha256: digest, contentType: mimeType)
        }
        let creation = try await self.downstream.metadata.createDocument(.with {
            $0.document = .with {
                $0.collection = header.collection
                $0.filename = filename
                $0.mimeType = mimeType
                $0.objectType = Self.objectType(of: mimeType)
                $0.sha256 = digest
                $0.location = location
                $0.sizeBytes = UInt64(bytes.count)
                $0.metadata = header.metadata
                if header.hasChunking { $0.chunking = header.chunking }
            }
        })
        let document = creation.document
        // A new document is pending; so is one created by a call whose answer was lost (the
        // client sends it again), which is in no queue yet. One already queued or in hand is not
        // queued twice.
        if document.status == .pending {
            self.pipeline.enqueue(
                document.id,
                attempts: Int(document.attempts),
                handed: .init(document: document, collection: collection, bytes: bytes)
            )
        }
        if !creation.alreadyExisted {
            self.events.publish(.with {
                $0.documentID = document.id
                $0.collection = document.collection
                $0.stage = .queued
                $0.status = document.status
            })
        }
        return .with {
            $0.documentID = document.id
            $0.status = document.status
            $0.duplicate = creation.alreadyExisted
            $0.sha256 = digest
        }
    }

    public func getDocumentStatus(request: Trove_V1_GetDocumentStatusRequest, context: ServerContext) async throws -> Trove_V1_Document {
        try Self.checkDocumentID(request.documentID)
        return try await self.downstream.metadata.getDocument(.with { $0.id = request.documentID }).document
    }

    public func listDocuments(request: Trove_V1_ListIngestedDocumentsRequest, context: ServerContext) async throws -> Trove_V1_ListIngestedDocumentsResponse {
        let page = try await self.downstream.metadata.listDocuments(.with {
            $0.collection = request.collection
            $0.status = request.status
            if request.hasFilter { $0.filter = request.filter }
            $0.page = request.page
        })
        return .with {
            $0.documents = page.documents
            $0.nextPageToken = page.nextPageToken
        }
    }

    public func watchIngestion(request: Trove_V1_WatchIngestionRequest, response: RPCWriter<Trove_V1_IngestionEvent>, context: ServerContext) async throws {
        for id in request.documentIds {
            try Self.checkDocumentID(id, field: "document_ids")
        }
        let subscription = self.events.subscribe(collection: request.collection, documentIDs: Set(request.documentIds))
        // gRPC reports a cancelled call through the handle, not by cancelling this task.
        try await withRPCCancellationHandler {
            for await event in subscription.events {
                try await response.write(event)
            }
        } onCancelRPC: {
            subscription.end()
        }
    }

    public func deleteDocument(request: Trove_V1_DeleteIngestedDocumentRequest, context: ServerContext) async throws -> Trove_V1_DeleteIngestedDocumentResponse {
        try Self.checkDocumentID(request.documentID)
        let document = try await self.downstream.metadata.getDocument(.with { $0.id = request.documentID }).document
        // Vectors first: a vector without its chunk would be an orphan; a chunk without its
        // vector is only invisible to vector search until the delete is retried.
        let vectors = try await self.downstream.deleteVectors(ofDocument: document.id, collection: document.collection)
        let removed = try await self.downstream.metadata.deleteDocument(.with { $0.id = document.id })
        var objectDeleted = false
        if self.ownsObject(document) {
            objectDeleted = try await self.downstream.objectStorage.deleteObject(.with {
                $0.bucket = document.location.bucket
                $0.key = document.location.key
            }).deleted
        }
        self.cache.invalidate(collection: document.collection)
        return .with {
            $0.chunksDeleted = removed.chunksDeleted
            $0.vectorsDeleted = vectors
            $0.objectDeleted = objectDeleted
        }
    }

    public func reprocessDocument(request: Trove_V1_ReprocessDocumentRequest, context: ServerContext) async throws -> Trove_V1_Document {
        try Self.checkDocumentID(request.documentID)
        var document = try await self.downstream.metadata.getDocument(.with { $0.id = request.documentID }).document
        // A pending document is about to be processed anyway: the request is granted as it stands
        // (a client resending a reprocess whose answer was lost finds it so, and the document is
        // queued here in case the first call never got to it).
        guard document.status == .completed || document.status == .failed || document.status == .pending else {
            throw RPCError(code: .failedPrecondition, message: "document \(document.id) is \(Self.name(of: document.status)); reprocess it once it is completed or failed")
        }
        if request.hasChunking {
            let collection = try await self.downstream.metadata.getCollection(.with { $0.name = document.collection })
            let model = try await self.model(named: collection.embeddingModel, field: "chunking")
            try self.validate(request.chunking, model: model, field: "chunking")
            document = try await self.downstream.metadata.updateDocument(.with {
                $0.id = document.id
                $0.expectedVersion = document.version
                $0.chunking = request.chunking
            })
        }
        if document.status != .pending {
            document = try await self.downstream.metadata.updateDocumentStatus(.with {
                $0.id = document.id
                $0.status = .pending
                $0.expectedVersion = document.version
                $0.errorMessage = "reprocessing requested"
            })
        }
        self.pipeline.enqueue(document.id, attempts: Int(document.attempts))
        return document
    }

    // MARK: Status

    public func getSystemStatus(request: Trove_V1_GetSystemStatusRequest, context: ServerContext) async throws -> Trove_V1_SystemStatus {
        var status = Trove_V1_SystemStatus()
        status.version = TroveVersion.current
        status.queuedJobs = UInt64(self.pipeline.queuedJobs)
        status.cacheHitRate = self.cache.hitRate
        for (stage, time) in self.pipeline.stageTimes {
            status.stageTimeUs[stage.rawValue] = time.wholeMicroseconds
        }
        func check(_ name: String, _ probe: () async throws -> Void) async {
            do {
                try await probe()
                status.services.append(.with {
                    $0.name = name
                    $0.serving = true
                })
            } catch {
                status.services.append(.with {
                    $0.name = name
                    $0.serving = false
                    $0.message = "\(error)"
                })
            }
        }
        status.services.append(.with {
            $0.name = "ingestion"
            $0.serving = true
        })
        await check("metadata") {
            let stats = try await self.downstream.metadata.getStats(.init())
            for table in stats.tables {
                switch table.table {
                case "collections": status.collections = table.rows
                case "documents": status.documents = table.rows
                case "chunks": status.chunks = table.rows
                default: break
                }
            }
            status.documentsByStatus = stats.documentsByStatus
        }
        await check("vector-search") {
            status.vectors = try await self.downstream.vectorSearch.listCollections(.init()).collections.reduce(0) { $0 + $1.count }
        }
        await check("embedding") {
            _ = try await self.downstream.embedding.listModels(.init())
        }
        await check("object-storage") {
            _ = try await self.downstream.objectStorage.listBuckets(.init())
        }
        return status
    }

    // MARK: Helpers

    /// Stores a document's bytes unless the same content is already there (the key is its SHA-256).
    private func store(_ bytes: [UInt8], at location: Trove_V1_ObjectLocation, sha256: String, contentType: String) async throws {
        try await self.pipeline.timed(.storage) {
            try await self.bucketReady.ensure(location.bucket, downstream: self.downstream)
            do {
                let existing = try await self.downstream.objectStorage.headObject(.with {
                    $0.bucket = location.bucket
                    $0.key = location.key
                })
                if existing.sha256 == sha256 { return }
            } catch let error as RPCError where error.code == .notFound {
            }
            _ = try await self.downstream.putObject(location, bytes: bytes, contentType: contentType, sha256: sha256)
        }
    }

    /// True when the document's object was stored by ingestion (an object ingested by reference
    /// belongs to whoever stored it and is left alone).
    private func ownsObject(_ document: Trove_V1_Document) -> Bool {
        document.hasLocation && document.location.bucket == self.configuration.bucket
            && document.location.key == document.collection + "/" + document.sha256
    }

    private func deleteObjects(prefix: String) async throws -> Int {
        var deleted = 0
        while true {
            let page: Trove_V1_ListObjectsResponse
            do {
                page = try await self.downstream.objectStorage.listObjects(.with {
                    $0.bucket = self.configuration.bucket
                    $0.prefix = prefix
                })
            } catch let error as RPCError where error.code == .notFound {
                return deleted
            }
            var removed = 0
            for object in page.objects {
                let response = try await self.downstream.objectStorage.deleteObject(.with {
                    $0.bucket = self.configuration.bucket
                    $0.key = object.key
                })
                if response.deleted { removed += 1 }
            }
            // Each round lists from the start again; a round that removes nothing ends it.
            if removed == 0 { return deleted }
            deleted += removed
        }
    }

    /// The embedding model by id (empty: the default), which must be available.
    func model(named name: String, field: String) async throws -> Trove_V1_ModelInfo {
        let models = try await self.downstream.embedding.listModels(.init()).models
        guard let model = models.first(where: { name.isEmpty ? $0.isDefault : $0.id == name }) else {
            let known = models.map(\.id).joined(separator: ", ")
            throw RPCError.invalidField(field, "the embedding service has no model '\(name)'; it has: \(known)")
        }
        guard model.available else {
            throw RPCError(code: .failedPrecondition, message: "embedding model \(model.id) is not available: \(model.unavailableReason)")
        }
        return model
    }

    private func validate(_ options: Trove_V1_ChunkingOptions, model: Trove_V1_ModelInfo, field: String) throws {
        guard options.size > 0 else {
            if options.overlap > 0 || options.unit != .unspecified {
                throw RPCError.invalidField(field + ".size", "give a size (it is 0, which means the collection's default)")
            }
            return
        }
        if options.overlap >= options.size {
            throw RPCError.invalidField(field + ".overlap", "must be smaller than the size (\(options.size))")
        }
        if options.unit != .characters, model.maxTokens > 2, options.size > model.maxTokens - 2 {
            throw RPCError.invalidField(
                field + ".size",
                "\(options.size) tokens is more than \(model.id) reads (\(model.maxTokens - 2) besides [CLS] and [SEP])"
            )
        }
    }

    static func checkDocumentID(_ id: String, field: String = "document_id") throws {
        guard UUID(uuidString: id) != nil else {
            throw RPCError.invalidField(field, id.isEmpty ? "give the document's id" : "'\(id)' is not a document id (a UUID)")
        }
    }

    static func objectType(of mimeType: String) -> Trove_V1_ObjectType {
        if mimeType.hasPrefix("image/") { return .image }
        if mimeType.hasPrefix("audio/") { return .audio }
        if mimeType.hasPrefix("video/") { return .video }
        return TextExtractor.canExtract(mimeType: mimeType) ? .text : .document
    }

    static func name(of status: Trove_V1_DocumentStatus) -> String {
        switch status {
        case .pending: "pending"
        case .processing: "processing"
        case .completed: "completed"
        case .failed: "failed"
        default: "unknown"
        }
    }
}

/// Creates the documents bucket the first time it is needed.
private actor BucketReadiness {
    private var ready: Set<String> = []

    func ensure(_ bucket: String, downstream: IngestionService.Downstream) async throws {
        guard !self.ready.contains(bucket) else { return }
        do {
            _ = try await downstream.objectStorage.createBucket(.with { $0.bucket = bucket })
        } catch let error as RPCError where error.code == .alreadyExists {
        }
        self.ready.insert(bucket)
    }
}
