import Foundation
import GRPCCore
import JSONFilter
import Logging
import MetadataStore
import Metrics
import SwiftProtobuf
import TroveContracts
import TroveCore

/// The metadata service: the gRPC face of a `MetadataStore` — collections, documents, chunks,
/// relationships, annotations, embedding records, retention, API keys and audit.
///
/// Each RPC maps its request to the store's types (see Conversions.swift), calls the store once,
/// and maps the answer back; the store's errors become statuses in MetadataStoreError+RPC.swift.
public struct MetadataService: Trove_V1_Metadata.SimpleServiceProtocol {
    public let store: any MetadataStore
    let logger: Logger

    public init(store: any MetadataStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    // MARK: Collections

    public func createCollection(request: Trove_V1_CreateCollectionRequest, context: ServerContext) async throws -> Trove_V1_Collection {
        guard request.hasCollection else {
            throw RPCError.invalidField("collection", "is required")
        }
        let created = try await self.store.createCollection(try DocumentCollection(request.collection))
        return Trove_V1_Collection(created)
    }

    public func getCollection(request: Trove_V1_GetCollectionRequest, context: ServerContext) async throws -> Trove_V1_Collection {
        let name = try RequestField.required(request.name, field: "name")
        return Trove_V1_Collection(try await self.store.collection(named: name))
    }

    public func listCollections(request: Trove_V1_ListCollectionsRequest, context: ServerContext) async throws -> Trove_V1_ListCollectionsResponse {
        let page = try await self.store.listCollections(page: RequestField.page(request.page))
        return .with {
            $0.collections = page.items.map(Trove_V1_Collection.init)
            $0.nextPageToken = page.nextPageToken ?? ""
        }
    }

    public func updateCollection(request: Trove_V1_UpdateCollectionRequest, context: ServerContext) async throws -> Trove_V1_Collection {
        let name = try RequestField.required(request.name, field: "name")
        let updated = try await self.store.updateCollection(
            named: name,
            chunking: request.hasChunking ? try ChunkingOptions(request.chunking, field: "chunking") : nil,
            metadata: request.hasMetadata ? JSONObject(request.metadata) : nil
        )
        return Trove_V1_Collection(updated)
    }

    public func deleteCollection(request: Trove_V1_DeleteCollectionRequest, context: ServerContext) async throws -> Trove_V1_DeleteCollectionResponse {
        let name = try RequestField.required(request.name, field: "name")
        let deleted = try await self.store.deleteCollection(named: name)
        return .with { $0.documentsDeleted = UInt64(clamping: deleted) }
    }

    // MARK: Documents

    public func createDocument(request: Trove_V1_CreateDocumentRequest, context: ServerContext) async throws -> Trove_V1_CreateDocumentResponse {
        guard request.hasDocument else {
            throw RPCError.invalidField("document", "is required")
        }
        let creation = try await self.store.createDocument(try NewDocument(request.document))
        return .with {
            $0.document = Trove_V1_Document(creation.document)
            $0.alreadyExisted = creation.alreadyExisted
        }
    }

    public func getDocument(request: Trove_V1_GetDocumentRequest, context: ServerContext) async throws -> Trove_V1_GetDocumentResponse {
        let id = try RequestField.uuid(request.id, field: "id")
        let detail = try await self.store.getDocument(id: id, includeChunks: request.includeChunks)
        return .with {
            $0.document = Trove_V1_Document(detail.document)
            $0.chunks = detail.chunks.map(Trove_V1_Chunk.init)
        }
    }

    public func listDocuments(request: Trove_V1_ListDocumentsRequest, context: ServerContext) async throws -> Trove_V1_ListDocumentsResponse {
        let query = DocumentQuery(
            collection: request.collection.isEmpty ? nil : request.collection,
            status: try DocumentStatus.from(request.status, field: "status"),
            filter: try MetadataFilter.from(request.hasFilter ? request.filter : nil),
            createdBefore: request.hasCreatedBefore ? try request.createdBefore.validDate(field: "created_before") : nil
        )
        let page = try await self.store.listDocuments(query, page: RequestField.page(request.page))
        return .with {
            $0.documents = page.items.map(Trove_V1_Document.init)
            $0.nextPageToken = page.nextPageToken ?? ""
        }
    }

    public func updateDocument(request: Trove_V1_UpdateDocumentRequest, context: ServerContext) async throws -> Trove_V1_Document {
        let id = try RequestField.uuid(request.id, field: "id")
        let update = DocumentUpdate(
            metadata: request.hasMetadata ? JSONObject(request.metadata) : nil,
            location: request.hasLocation ? ObjectLocation(request.location) : nil,
            filename: request.filename.isEmpty ? nil : request.filename,
            objectType: try ObjectType.from(request.objectType, field: "object_type"),
            chunking: request.hasChunking ? try ChunkingOptions(request.chunking, field: "chunking") : nil
        )
        let updated = try await self.store.updateDocument(
            id: id,
            expectedVersion: try RequestField.expectedVersion(request.expectedVersion),
            update
        )
        return Trove_V1_Document(updated)
    }

    public func updateDocumentStatus(request: Trove_V1_UpdateDocumentStatusRequest, context: ServerContext) async throws -> Trove_V1_Document {
        let id = try RequestField.uuid(request.id, field: "id")
        guard let status = try DocumentStatus.from(request.status, field: "status") else {
            throw RPCError.invalidField("status", "is required")
        }
        let updated = try await self.store.updateDocumentStatus(
            id: id,
            to: status,
            expectedVersion: try RequestField.expectedVersion(request.expectedVersion),
            errorMessage: request.errorMessage.isEmpty ? nil : request.errorMessage
        )
        return Trove_V1_Document(updated)
    }

    public func deleteDocument(request: Trove_V1_DeleteDocumentRequest, context: ServerContext) async throws -> Trove_V1_DeleteDocumentResponse {
        let id = try RequestField.uuid(request.id, field: "id")
        let deletion = try await self.store.deleteDocument(
            id: id,
            expectedVersion: try RequestField.expectedVersion(request.expectedVersion)
        )
        return .with {
            $0.chunksDeleted = UInt64(clamping: deletion.chunksDeleted)
            $0.relationshipsDeleted = UInt64(clamping: deletion.relationshipsDeleted)
            $0.annotationsDeleted = UInt64(clamping: deletion.annotationsDeleted)
            $0.embeddingRecordsDeleted = UInt64(clamping: deletion.embeddingRecordsDeleted)
        }
    }

    // MARK: Chunks

    public func putChunks(request: Trove_V1_PutChunksRequest, context: ServerContext) async throws -> Trove_V1_PutChunksResponse {
        let documentID = try RequestField.uuid(request.documentID, field: "document_id")
        let chunks = try request.chunks.enumerated().map { index, chunk in
            try NewChunk(chunk, documentID: documentID, field: "chunks[\(index)]")
        }
        let relationships = try request.relationships.enumerated().map { index, relationship in
            try ChunkRelationship(relationship, field: "relationships[\(index)]")
        }
        let records = try request.embeddingRecords.enumerated().map { index, record in
            try EmbeddingRecord(record, field: "embedding_records[\(index)]")
        }
        let stored = try await self.store.putChunks(
            documentID: documentID, chunks, replaceExisting: request.replaceExisting,
            relationships: relationships, embeddingRecords: records)
        return .with {
            $0.chunks = stored.map(Trove_V1_Chunk.init)
            $0.relationshipsAdded = UInt32(clamping: relationships.count)
            $0.embeddingRecordsWritten = UInt32(clamping: records.count)
        }
    }

    public func getChunks(request: Trove_V1_GetChunksRequest, context: ServerContext) async throws -> Trove_V1_GetChunksResponse {
        let ids = try request.ids.enumerated().map { index, id in try RequestField.uuid(id, field: "ids[\(index)]") }
        let chunks = try await self.store.chunks(ids: ids)
        return .with { $0.chunks = chunks.map(Trove_V1_Chunk.init) }
    }

    public func listChunks(request: Trove_V1_ListChunksRequest, context: ServerContext) async throws -> Trove_V1_ListChunksResponse {
        let documentID = try RequestField.uuid(request.documentID, field: "document_id")
        let page = try await self.store.listChunks(documentID: documentID, page: RequestField.page(request.page))
        return .with {
            $0.chunks = page.items.map(Trove_V1_Chunk.init)
            $0.nextPageToken = page.nextPageToken ?? ""
        }
    }

    public func deleteChunks(request: Trove_V1_DeleteChunksRequest, context: ServerContext) async throws -> Trove_V1_DeleteChunksResponse {
        let documentID = try RequestField.uuid(request.documentID, field: "document_id")
        let deleted = try await self.store.deleteChunks(documentID: documentID)
        return .with { $0.chunksDeleted = UInt64(clamping: deleted) }
    }

    public func searchChunksText(request: Trove_V1_SearchChunksTextRequest, context: ServerContext) async throws -> Trove_V1_SearchChunksTextResponse {
        let query = TextSearchQuery(
            collection: request.collection,
            query: request.query,
            limit: Int(request.limit),
            filter: try MetadataFilter.from(request.hasFilter ? request.filter : nil)
        )
        let matches = try await self.store.searchChunksText(query)
        return .with { $0.matches = matches.map(Trove_V1_TextMatch.init) }
    }

    // MARK: Relationships

    public func addRelationships(request: Trove_V1_AddRelationshipsRequest, context: ServerContext) async throws -> Trove_V1_AddRelationshipsResponse {
        let relationships = try request.relationships.enumerated().map { index, relationship in
            try ChunkRelationship(relationship, field: "relationships[\(index)]")
        }
        let added = try await self.store.addRelationships(relationships)
        return .with { $0.added = UInt32(clamping: added) }
    }

    public func listRelationships(request: Trove_V1_ListRelationshipsRequest, context: ServerContext) async throws -> Trove_V1_ListRelationshipsResponse {
        let query = RelationshipQuery(
            sourceChunkID: try RequestField.optionalUUID(request.sourceChunkID, field: "source_chunk_id"),
            targetChunkID: try RequestField.optionalUUID(request.targetChunkID, field: "target_chunk_id"),
            type: request.type.isEmpty ? nil : request.type
        )
        let page = try await self.store.listRelationships(query, page: RequestField.page(request.page))
        return .with {
            $0.relationships = page.items.map(Trove_V1_ChunkRelationship.init)
            $0.nextPageToken = page.nextPageToken ?? ""
        }
    }

    public func getNeighbors(request: Trove_V1_GetNeighborsRequest, context: ServerContext) async throws -> Trove_V1_GetNeighborsResponse {
        let chunkID = try RequestField.uuid(request.chunkID, field: "chunk_id")
        let neighborhood = try await self.store.neighbors(of: chunkID, types: request.types, depth: Int(request.depth))
        return .with {
            $0.chunks = neighborhood.chunks.map(Trove_V1_Chunk.init)
            $0.relationships = neighborhood.relationships.map(Trove_V1_ChunkRelationship.init)
        }
    }

    public func deleteRelationship(request: Trove_V1_DeleteRelationshipRequest, context: ServerContext) async throws -> Trove_V1_DeleteRelationshipResponse {
        let deleted = try await self.store.deleteRelationship(
            sourceChunkID: try RequestField.uuid(request.sourceChunkID, field: "source_chunk_id"),
            targetChunkID: try RequestField.uuid(request.targetChunkID, field: "target_chunk_id"),
            type: try RequestField.required(request.type, field: "type")
        )
        return .with { $0.deleted = deleted }
    }

    // MARK: Annotations

    public func addAnnotation(request: Trove_V1_AddAnnotationRequest, context: ServerContext) async throws -> Trove_V1_Annotation {
        guard request.hasAnnotation else {
            throw RPCError.invalidField("annotation", "is required")
        }
        return Trove_V1_Annotation(try await self.store.addAnnotation(try NewAnnotation(request.annotation)))
    }

    public func listAnnotations(request: Trove_V1_ListAnnotationsRequest, context: ServerContext) async throws -> Trove_V1_ListAnnotationsResponse {
        let page = try await self.store.listAnnotations(
            target: try AnnotationTarget(request.target, field: "target"),
            type: request.type.isEmpty ? nil : request.type,
            page: RequestField.page(request.page)
        )
        return .with {
            $0.annotations = page.items.map(Trove_V1_Annotation.init)
            $0.nextPageToken = page.nextPageToken ?? ""
        }
    }

    public func updateAnnotation(request: Trove_V1_UpdateAnnotationRequest, context: ServerContext) async throws -> Trove_V1_Annotation {
        let updated = try await self.store.updateAnnotation(
            id: try RequestField.uuid(request.id, field: "id"),
            expectedVersion: try RequestField.expectedVersion(request.expectedVersion),
            content: request.hasContent ? JSONObject(request.content) : nil,
            confidence: request.hasConfidence ? request.confidence : nil
        )
        return Trove_V1_Annotation(updated)
    }

    public func deleteAnnotation(request: Trove_V1_DeleteAnnotationRequest, context: ServerContext) async throws -> Trove_V1_DeleteAnnotationResponse {
        let deleted = try await self.store.deleteAnnotation(id: try RequestField.uuid(request.id, field: "id"))
        return .with { $0.deleted = deleted }
    }

    // MARK: Embedding records

    public func putEmbeddingRecords(request: Trove_V1_PutEmbeddingRecordsRequest, context: ServerContext) async throws -> Trove_V1_PutEmbeddingRecordsResponse {
        let records = try request.records.enumerated().map { index, record in
            try EmbeddingRecord(record, field: "records[\(index)]")
        }
        let written = try await self.store.putEmbeddingRecords(records)
        return .with { $0.written = UInt32(clamping: written) }
    }

    public func listEmbeddingRecords(request: Trove_V1_ListEmbeddingRecordsRequest, context: ServerContext) async throws -> Trove_V1_ListEmbeddingRecordsResponse {
        let scope = try EmbeddingRecordScope(chunkID: request.chunkID, documentID: request.documentID)
        let records = try await self.store.listEmbeddingRecords(scope)
        return .with { $0.records = records.map(Trove_V1_EmbeddingRecord.init) }
    }

    public func deleteEmbeddingRecords(request: Trove_V1_DeleteEmbeddingRecordsRequest, context: ServerContext) async throws -> Trove_V1_DeleteEmbeddingRecordsResponse {
        let scope = try EmbeddingRecordScope(chunkID: request.chunkID, documentID: request.documentID)
        let deleted = try await self.store.deleteEmbeddingRecords(scope)
        return .with { $0.deleted = UInt64(clamping: deleted) }
    }

    // MARK: Monitoring and retention

    public func getStats(request: Trove_V1_GetStatsRequest, context: ServerContext) async throws -> Trove_V1_GetStatsResponse {
        Trove_V1_GetStatsResponse(try await self.store.stats())
    }

    public func applyRetention(request: Trove_V1_ApplyRetentionRequest, context: ServerContext) async throws -> Trove_V1_ApplyRetentionResponse {
        let result = try await self.store.applyRetention(
            documentMaxAge: try RequestField.age(seconds: request.maxAgeSeconds, field: "max_age_seconds"),
            auditMaxAge: try RequestField.age(seconds: request.auditMaxAgeSeconds, field: "audit_max_age_seconds"),
            dryRun: request.dryRun
        )
        if !request.dryRun, result.documentsDeleted + result.auditEventsDeleted > 0 {
            self.logger.info(
                "retention applied",
                metadata: ["documents_deleted": "\(result.documentsDeleted)", "audit_events_deleted": "\(result.auditEventsDeleted)"]
            )
        }
        return .with {
            $0.documentsDeleted = UInt64(clamping: result.documentsDeleted)
            $0.auditEventsDeleted = UInt64(clamping: result.auditEventsDeleted)
            $0.documents = result.documents.map(Trove_V1_Document.init)
        }
    }

    // MARK: API keys

    public func createApiKey(request: Trove_V1_CreateApiKeyRequest, context: ServerContext) async throws -> Trove_V1_CreateApiKeyResponse {
        let role = try APIKeyRole(request.role, field: "role")
        let secret = APIKeySecret.generate()
        let key = try await self.store.createAPIKey(
            NewAPIKey(name: request.name, role: role, collections: request.collections, secretHash: APIKeySecret.hash(secret))
        )
        self.logger.notice("API key created", metadata: ["key_id": "\(key.id)", "role": "\(key.role.rawValue)"])
        return .with {
            $0.key = Trove_V1_ApiKey(key)
            $0.secret = secret
        }
    }

    public func listApiKeys(request: Trove_V1_ListApiKeysRequest, context: ServerContext) async throws -> Trove_V1_ListApiKeysResponse {
        let keys = try await self.store.listAPIKeys(includeRevoked: request.includeRevoked)
        return .with { $0.keys = keys.map(Trove_V1_ApiKey.init) }
    }

    public func revokeApiKey(request: Trove_V1_RevokeApiKeyRequest, context: ServerContext) async throws -> Trove_V1_RevokeApiKeyResponse {
        let key = try await self.store.revokeAPIKey(id: try RequestField.required(request.id, field: "id"))
        self.logger.notice("API key revoked", metadata: ["key_id": "\(key.id)"])
        return .with { $0.key = Trove_V1_ApiKey(key) }
    }

    public func authenticateApiKey(request: Trove_V1_AuthenticateApiKeyRequest, context: ServerContext) async throws -> Trove_V1_ApiKey {
        guard !request.secret.isEmpty else {
            throw RPCError(code: .invalidArgument, message: "secret: is required")
        }
        guard let key = try await self.store.authenticateAPIKey(secretHash: APIKeySecret.hash(request.secret)) else {
            // Never echo the secret: the message goes back to whoever presented it, and into logs.
            throw RPCError(code: .unauthenticated, message: "secret: the API key is unknown or revoked")
        }
        return Trove_V1_ApiKey(key)
    }

    /// The stored key a secret belongs to, nil when unknown or revoked: the access interceptor
    /// of the process that runs the metadata service asks here instead of over gRPC.
    public func resolveAPIKey(secret: String) async throws -> Trove_V1_ApiKey? {
        try await self.store.authenticateAPIKey(secretHash: APIKeySecret.hash(secret)).map(Trove_V1_ApiKey.init)
    }

    /// Writes audit events (from this process's own listeners, or RecordAuditEvents); returns
    /// how many were recorded.
    @discardableResult
    public func recordAuditEvents(_ events: [Trove_V1_AuditEvent]) async throws -> Int {
        let now = Date()
        return try await self.store.recordAuditEvents(events.enumerated().map { try AuditEvent($1, now: now, field: "events[\($0)]") })
    }

    /// Sets the per-collection gauges of documents and chunks; the process calls it periodically.
    public func reportMetrics() async {
        do {
            for counts in try await self.store.collectionCounts() {
                let dimensions = [("collection", counts.collection)]
                Gauge(label: TroveMetrics.documents, dimensions: dimensions).record(counts.documents)
                Gauge(label: TroveMetrics.chunks, dimensions: dimensions).record(counts.chunks)
            }
        } catch {
            self.logger.warning("cannot count documents for metrics", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Audit

    public func recordAuditEvents(request: Trove_V1_RecordAuditEventsRequest, context: ServerContext) async throws -> Trove_V1_RecordAuditEventsResponse {
        let recorded = try await self.recordAuditEvents(request.events)
        return .with { $0.recorded = UInt32(clamping: recorded) }
    }

    public func listAuditEvents(request: Trove_V1_ListAuditEventsRequest, context: ServerContext) async throws -> Trove_V1_ListAuditEventsResponse {
        let query = AuditQuery(
            keyID: request.keyID.isEmpty ? nil : request.keyID,
            service: request.service.isEmpty ? nil : request.service,
            method: request.method.isEmpty ? nil : request.method,
            since: request.hasSince ? try request.since.validDate(field: "since") : nil,
            until: request.hasUntil ? try request.until.validDate(field: "until") : nil
        )
        let page = try await self.store.listAuditEvents(query, page: RequestField.page(request.page))
        return .with {
            $0.events = page.items.map(Trove_V1_AuditEvent.init)
            $0.nextPageToken = page.nextPageToken ?? ""
        }
    }
}
