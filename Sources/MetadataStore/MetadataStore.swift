import Foundation
import JSONFilter

/// Trove's system of record for collections, documents, chunks, relationships, annotations,
/// embedding records, API keys and audit events. `SQLiteMetadataStore` is the embedded default;
/// a PostgreSQL store can take its place behind this protocol.
///
/// Every method throws `MetadataStoreError`: `invalidArgument`/`alreadyExists` name the field,
/// `notFound` for missing rows, `aborted` for a stale expected version, `failedPrecondition` for
/// an illegal status transition. An `expectedVersion` of nil skips the version check.
public protocol MetadataStore: Sendable {
    // MARK: Collections

    /// Creates a collection; `createdAt` is assigned. ALREADY_EXISTS (`name`) when the name is taken.
    func createCollection(_ collection: DocumentCollection) async throws -> DocumentCollection
    func collection(named name: String) async throws -> DocumentCollection
    /// In name order.
    func listCollections(page: PageRequest) async throws -> Page<DocumentCollection>
    /// Changes chunking defaults and/or metadata; the model and dimension are pinned.
    func updateCollection(named name: String, chunking: ChunkingOptions?, metadata: JSONObject?) async throws -> DocumentCollection
    /// Deletes the collection with its documents and everything attached; returns the documents deleted.
    func deleteCollection(named name: String) async throws -> Int

    // MARK: Documents

    /// Creates a pending document, or returns the one in the collection with the same SHA-256.
    func createDocument(_ document: NewDocument) async throws -> DocumentCreation
    func getDocument(id: UUID, includeChunks: Bool) async throws -> DocumentDetail
    /// Oldest first (creation time, then id).
    func listDocuments(_ query: DocumentQuery, page: PageRequest) async throws -> Page<Document>
    func updateDocument(id: UUID, expectedVersion: Int64?, _ update: DocumentUpdate) async throws -> Document
    /// Enforces the lifecycle in `DocumentLifecycle`.
    func updateDocumentStatus(id: UUID, to status: DocumentStatus, expectedVersion: Int64?, errorMessage: String?) async throws -> Document
    /// Deletes the document with its chunks, relationships, annotations and embedding records.
    func deleteDocument(id: UUID, expectedVersion: Int64?) async throws -> DocumentDeletion

    // MARK: Chunks

    /// Writes every chunk in one transaction, or none, with the relationships and embedding
    /// records given (which may name these chunks), as `addRelationships` and
    /// `putEmbeddingRecords` would write them. `replaceExisting` first removes the document's
    /// chunks; otherwise a sequence number that exists is ALREADY_EXISTS.
    func putChunks(
        documentID: UUID,
        _ chunks: [NewChunk],
        replaceExisting: Bool,
        relationships: [ChunkRelationship],
        embeddingRecords: [EmbeddingRecord]
    ) async throws -> [Chunk]
    /// In the order of `ids`; ids that do not exist are left out.
    func chunks(ids: [UUID]) async throws -> [Chunk]
    /// In sequence order.
    func listChunks(documentID: UUID, page: PageRequest) async throws -> Page<Chunk>
    /// Deletes every chunk of the document with their relationships, annotations and embedding records.
    func deleteChunks(documentID: UUID) async throws -> Int
    /// Full-text search, best BM25 score first.
    func searchChunksText(_ query: TextSearchQuery) async throws -> [TextMatch]

    // MARK: Relationships

    /// Adds every relationship in one transaction, or none; returns how many were added.
    func addRelationships(_ relationships: [ChunkRelationship]) async throws -> Int
    func listRelationships(_ query: RelationshipQuery, page: PageRequest) async throws -> Page<ChunkRelationship>
    /// Chunks reachable in up to `depth` (1 to 5) hops, following edges in either direction;
    /// empty `types` follows every type.
    func neighbors(of chunkID: UUID, types: [String], depth: Int) async throws -> Neighborhood
    func deleteRelationship(sourceChunkID: UUID, targetChunkID: UUID, type: String) async throws -> Bool

    // MARK: Annotations

    func addAnnotation(_ annotation: NewAnnotation) async throws -> Annotation
    /// Oldest first; nil `type` lists every type.
    func listAnnotations(target: AnnotationTarget, type: String?, page: PageRequest) async throws -> Page<Annotation>
    func updateAnnotation(id: UUID, expectedVersion: Int64?, content: JSONObject?, confidence: Double?) async throws -> Annotation
    func deleteAnnotation(id: UUID) async throws -> Bool

    // MARK: Embedding records

    /// Writes (or replaces, per chunk and model) every record in one transaction, or none.
    func putEmbeddingRecords(_ records: [EmbeddingRecord]) async throws -> Int
    func listEmbeddingRecords(_ scope: EmbeddingRecordScope) async throws -> [EmbeddingRecord]
    func deleteEmbeddingRecords(_ scope: EmbeddingRecordScope) async throws -> Int

    // MARK: Monitoring and retention

    func stats() async throws -> StoreStats
    /// Documents and chunks per collection, for metrics.
    func collectionCounts() async throws -> [CollectionCounts]
    /// Deletes completed documents created more than `documentMaxAge` ago and audit events older
    /// than `auditMaxAge`; nil uses the configured age (and no configured age deletes nothing).
    func applyRetention(documentMaxAge: Duration?, auditMaxAge: Duration?, dryRun: Bool) async throws -> RetentionResult

    // MARK: API keys

    func createAPIKey(_ key: NewAPIKey) async throws -> APIKey
    func listAPIKeys(includeRevoked: Bool) async throws -> [APIKey]
    /// Revoking a revoked key returns it unchanged.
    func revokeAPIKey(id: String) async throws -> APIKey
    /// The live (not revoked) key with this secret hash, or nil; records when it was last used.
    func authenticateAPIKey(secretHash: String) async throws -> APIKey?

    // MARK: Audit

    func recordAuditEvents(_ events: [AuditEvent]) async throws -> Int
    /// Oldest first.
    func listAuditEvents(_ query: AuditQuery, page: PageRequest) async throws -> Page<AuditEvent>
}

extension MetadataStore {
    /// Writes every chunk in one transaction, or none, without relationships or records.
    public func putChunks(documentID: UUID, _ chunks: [NewChunk], replaceExisting: Bool) async throws -> [Chunk] {
        try await self.putChunks(documentID: documentID, chunks, replaceExisting: replaceExisting, relationships: [], embeddingRecords: [])
    }
}
