import Foundation
import JSONFilter

// The metadata store's own model types. They mirror trove/v1 common.proto and metadata.proto
// so the gRPC service is a field-by-field mapping, but they know nothing of protobuf.

/// How vectors in a collection are compared.
public enum DistanceMetric: String, Sendable, Hashable, CaseIterable {
    case cosine
    case l2
    case innerProduct = "inner_product"
}

/// The unit chunk sizes are counted in.
public enum ChunkUnit: String, Sendable, Hashable, CaseIterable {
    case tokens
    case characters
}

/// How extracted text is cut into chunks; a size of 0 means Trove's default.
public struct ChunkingOptions: Sendable, Hashable {
    public var unit: ChunkUnit?
    public var size: Int
    public var overlap: Int

    public init(unit: ChunkUnit? = nil, size: Int = 0, overlap: Int = 0) {
        self.unit = unit
        self.size = size
        self.overlap = overlap
    }
}

/// A collection: a named set of documents embedded with one model; the model and dimension never change.
/// (Not `Collection`, which would shadow the standard library protocol.)
public struct DocumentCollection: Sendable, Hashable {
    public var name: String
    public var embeddingModel: String
    public var dimension: Int
    public var metric: DistanceMetric
    public var chunking: ChunkingOptions
    public var metadata: JSONObject
    public var createdAt: Date

    public init(
        name: String,
        embeddingModel: String,
        dimension: Int,
        metric: DistanceMetric = .cosine,
        chunking: ChunkingOptions = ChunkingOptions(),
        metadata: JSONObject = [:],
        createdAt: Date = Date(timeIntervalSince1970: 0)
    ) {
        self.name = name
        self.embeddingModel = embeddingModel
        self.dimension = dimension
        self.metric = metric
        self.chunking = chunking
        self.metadata = metadata
        self.createdAt = createdAt
    }
}

/// The kind of content a document holds.
public enum ObjectType: String, Sendable, Hashable, CaseIterable {
    case text, image, audio, video, document
}

/// Where an object lives in object storage.
public struct ObjectLocation: Sendable, Hashable {
    public var bucket: String
    public var key: String

    public init(bucket: String, key: String) {
        self.bucket = bucket
        self.key = key
    }
}

/// A document as stored.
public struct Document: Sendable, Hashable {
    public var id: UUID
    public var collection: String
    public var filename: String
    public var mimeType: String
    public var objectType: ObjectType?
    /// Lower-case hex SHA-256 of the raw content; unique within the collection.
    public var sha256: String
    public var location: ObjectLocation?
    public var sizeBytes: Int64
    public var metadata: JSONObject
    public var status: DocumentStatus
    /// Why the last attempt failed, or why the document is stored but not embedded.
    public var errorMessage: String?
    public var attempts: Int
    /// Optimistic concurrency: every change to the document increments it.
    public var version: Int64
    public var createdAt: Date
    public var updatedAt: Date
    public var chunkCount: Int
    /// The options this document is chunked with; all defaults (size 0) mean the collection's.
    public var chunking: ChunkingOptions

    public init(
        id: UUID,
        collection: String,
        filename: String,
        mimeType: String,
        objectType: ObjectType?,
        sha256: String,
        location: ObjectLocation?,
        sizeBytes: Int64,
        metadata: JSONObject,
        status: DocumentStatus,
        errorMessage: String?,
        attempts: Int,
        version: Int64,
        createdAt: Date,
        updatedAt: Date,
        chunkCount: Int,
        chunking: ChunkingOptions = ChunkingOptions()
    ) {
        self.id = id
        self.collection = collection
        self.filename = filename
        self.mimeType = mimeType
        self.objectType = objectType
        self.sha256 = sha256
        self.location = location
        self.sizeBytes = sizeBytes
        self.metadata = metadata
        self.status = status
        self.errorMessage = errorMessage
        self.attempts = attempts
        self.version = version
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.chunkCount = chunkCount
        self.chunking = chunking
    }
}

/// What a caller supplies to create a document; id, status, version and times are assigned.
public struct NewDocument: Sendable, Hashable {
    public var collection: String
    public var filename: String
    public var mimeType: String
    public var objectType: ObjectType?
    public var sha256: String
    public var location: ObjectLocation?
    public var sizeBytes: Int64
    public var metadata: JSONObject
    /// Size 0: the collection's options.
    public var chunking: ChunkingOptions

    public init(
        collection: String,
        filename: String = "",
        mimeType: String = "",
        objectType: ObjectType? = nil,
        sha256: String,
        location: ObjectLocation? = nil,
        sizeBytes: Int64 = 0,
        metadata: JSONObject = [:],
        chunking: ChunkingOptions = ChunkingOptions()
    ) {
        self.collection = collection
        self.filename = filename
        self.mimeType = mimeType
        self.objectType = objectType
        self.sha256 = sha256
        self.location = location
        self.sizeBytes = sizeBytes
        self.metadata = metadata
        self.chunking = chunking
    }
}

/// The result of `createDocument`: the new document, or the one that already had this content.
public struct DocumentCreation: Sendable, Hashable {
    public var document: Document
    /// True when the collection already held a document with the same SHA-256; nothing was written.
    public var alreadyExisted: Bool

    public init(
        document: Document,
        alreadyExisted: Bool
    ) {
        self.document = document
        self.alreadyExisted = alreadyExisted
    }
}

/// Changes to a document's descriptive fields; nil leaves a field as it is.
public struct DocumentUpdate: Sendable, Hashable {
    /// Replaces the whole metadata object.
    public var metadata: JSONObject?
    public var location: ObjectLocation?
    public var filename: String?
    public var objectType: ObjectType?
    /// Replaces the document's chunking options (size 0: back to the collection's).
    public var chunking: ChunkingOptions?

    public init(
        metadata: JSONObject? = nil,
        location: ObjectLocation? = nil,
        filename: String? = nil,
        objectType: ObjectType? = nil,
        chunking: ChunkingOptions? = nil
    ) {
        self.metadata = metadata
        self.chunking = chunking
        self.location = location
        self.filename = filename
        self.objectType = objectType
    }
}

/// Which documents `listDocuments` returns; nil fields do not filter.
public struct DocumentQuery: Sendable, Hashable {
    public var collection: String?
    public var status: DocumentStatus?
    /// Over the document's metadata.
    public var filter: MetadataFilter?
    /// Only documents created strictly before this time.
    public var createdBefore: Date?

    public init(
        collection: String? = nil,
        status: DocumentStatus? = nil,
        filter: MetadataFilter? = nil,
        createdBefore: Date? = nil
    ) {
        self.collection = collection
        self.status = status
        self.filter = filter
        self.createdBefore = createdBefore
    }
}

/// A document with its chunks, as `getDocument` returns it.
public struct DocumentDetail: Sendable, Hashable {
    public var document: Document
    /// In sequence order; empty unless chunks were asked for.
    public var chunks: [Chunk]

    public init(
        document: Document,
        chunks: [Chunk]
    ) {
        self.document = document
        self.chunks = chunks
    }
}

/// What was removed with a document.
public struct DocumentDeletion: Sendable, Hashable {
    public var chunksDeleted: Int
    public var relationshipsDeleted: Int
    public var annotationsDeleted: Int
    public var embeddingRecordsDeleted: Int

    public init(
        chunksDeleted: Int,
        relationshipsDeleted: Int,
        annotationsDeleted: Int,
        embeddingRecordsDeleted: Int
    ) {
        self.chunksDeleted = chunksDeleted
        self.relationshipsDeleted = relationshipsDeleted
        self.annotationsDeleted = annotationsDeleted
        self.embeddingRecordsDeleted = embeddingRecordsDeleted
    }
}

/// A chunk as stored.
public struct Chunk: Sendable, Hashable {
    public var id: UUID
    public var documentID: UUID
    /// Position in the document from 0; unique per document.
    public var sequence: Int
    public var content: String
    /// Offsets into the document's extracted text, in Unicode scalars; end > start.
    public var startOffset: Int
    public var endOffset: Int
    public var tokenCount: Int

    public init(
        id: UUID,
        documentID: UUID,
        sequence: Int,
        content: String,
        startOffset: Int,
        endOffset: Int,
        tokenCount: Int
    ) {
        self.id = id
        self.documentID = documentID
        self.sequence = sequence
        self.content = content
        self.startOffset = startOffset
        self.endOffset = endOffset
        self.tokenCount = tokenCount
    }
}

/// A chunk to write; a nil id is assigned by the store.
public struct NewChunk: Sendable, Hashable {
    public var id: UUID?
    public var sequence: Int
    public var content: String
    public var startOffset: Int
    public var endOffset: Int
    public var tokenCount: Int

    public init(id: UUID? = nil, sequence: Int, content: String, startOffset: Int, endOffset: Int, tokenCount: Int = 0) {
        self.id = id
        self.sequence = sequence
        self.content = content
        self.startOffset = startOffset
        self.endOffset = endOffset
        self.tokenCount = tokenCount
    }
}

/// A keyword search over chunk content.
public struct TextSearchQuery: Sendable, Hashable {
    public var collection: String
    /// FTS5 query syntax; text that is not valid FTS5 is searched as plain words (all must match).
    public var query: String
    /// 1 to 1,000; 0 means 10.
    public var limit: Int
    /// Over the owning document's metadata.
    public var filter: MetadataFilter?
    /// Wrapped around each match in the snippet.
    public var snippetStart: String
    public var snippetEnd: String

    public init(
        collection: String,
        query: String,
        limit: Int = 10,
        filter: MetadataFilter? = nil,
        snippetStart: String = "<b>",
        snippetEnd: String = "</b>"
    ) {
        self.collection = collection
        self.query = query
        self.limit = limit
        self.filter = filter
        self.snippetStart = snippetStart
        self.snippetEnd = snippetEnd
    }
}

/// One keyword search hit.
public struct TextMatch: Sendable, Hashable {
    public var chunk: Chunk
    /// Negated BM25: higher is better.
    public var score: Double
    /// The matching passage with matches wrapped in the snippet markers.
    public var snippet: String
    public var document: Document

    public init(
        chunk: Chunk,
        score: Double,
        snippet: String,
        document: Document
    ) {
        self.chunk = chunk
        self.score = score
        self.snippet = snippet
        self.document = document
    }
}

/// A typed, weighted edge between two chunks; the key is (source, target, type).
public struct ChunkRelationship: Sendable, Hashable {
    public var sourceChunkID: UUID
    public var targetChunkID: UUID
    /// For example "next", "previous", "cites", "similar".
    public var type: String
    /// 0 to 1.
    public var weight: Double
    public var metadata: JSONObject

    public init(sourceChunkID: UUID, targetChunkID: UUID, type: String, weight: Double = 1, metadata: JSONObject = [:]) {
        self.sourceChunkID = sourceChunkID
        self.targetChunkID = targetChunkID
        self.type = type
        self.weight = weight
        self.metadata = metadata
    }
}

/// Which relationships `listRelationships` returns; at least one chunk id is required.
public struct RelationshipQuery: Sendable, Hashable {
    public var sourceChunkID: UUID?
    public var targetChunkID: UUID?
    public var type: String?

    public init(sourceChunkID: UUID? = nil, targetChunkID: UUID? = nil, type: String? = nil) {
        self.sourceChunkID = sourceChunkID
        self.targetChunkID = targetChunkID
        self.type = type
    }
}

/// The chunks reachable from a chunk and the edges that reach them.
public struct Neighborhood: Sendable, Hashable {
    /// Reachable chunks, nearest first, without the starting chunk.
    public var chunks: [Chunk]
    public var relationships: [ChunkRelationship]

    public init(
        chunks: [Chunk],
        relationships: [ChunkRelationship]
    ) {
        self.chunks = chunks
        self.relationships = relationships
    }
}

/// What an annotation is about.
public enum AnnotationTarget: Sendable, Hashable {
    case document(UUID)
    case chunk(UUID)
}

/// A statement about a document or chunk by a model, a person or a pipeline.
public struct Annotation: Sendable, Hashable {
    public var id: UUID
    public var target: AnnotationTarget
    public var annotator: String
    /// For example "classification", "extraction", "summary".
    public var type: String
    public var content: JSONObject
    /// 0 to 1.
    public var confidence: Double
    public var version: Int64
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: UUID,
        target: AnnotationTarget,
        annotator: String,
        type: String,
        content: JSONObject,
        confidence: Double,
        version: Int64,
        createdAt: Date,
        updatedAt: Date
    ) {
        self.id = id
        self.target = target
        self.annotator = annotator
        self.type = type
        self.content = content
        self.confidence = confidence
        self.version = version
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// An annotation to add; id, version and times are assigned.
public struct NewAnnotation: Sendable, Hashable {
    public var target: AnnotationTarget
    public var annotator: String
    public var type: String
    public var content: JSONObject
    public var confidence: Double

    public init(target: AnnotationTarget, annotator: String, type: String, content: JSONObject = [:], confidence: Double = 1) {
        self.target = target
        self.annotator = annotator
        self.type = type
        self.content = content
        self.confidence = confidence
    }
}

/// Where a chunk's vector from one model lives; the key is (chunk, model).
public struct EmbeddingRecord: Sendable, Hashable {
    public var chunkID: UUID
    /// Must be the collection's embedding model.
    public var model: String
    /// Must be the collection's dimension.
    public var dimension: Int
    public var vectorCollection: String
    public var vectorID: String
    /// Assigned by the store when written.
    public var createdAt: Date

    public init(
        chunkID: UUID,
        model: String,
        dimension: Int,
        vectorCollection: String,
        vectorID: String,
        createdAt: Date = Date(timeIntervalSince1970: 0)
    ) {
        self.chunkID = chunkID
        self.model = model
        self.dimension = dimension
        self.vectorCollection = vectorCollection
        self.vectorID = vectorID
        self.createdAt = createdAt
    }
}

/// Selects embedding records by chunk or by every chunk of a document.
public enum EmbeddingRecordScope: Sendable, Hashable {
    case chunk(UUID)
    case document(UUID)
}

/// Rows in one table.
public struct TableStats: Sendable, Hashable {
    public var table: String
    public var rows: Int

    public init(
        table: String,
        rows: Int
    ) {
        self.table = table
        self.rows = rows
    }
}

/// Storage use of the metadata database.
/// How much one collection holds.
public struct CollectionCounts: Sendable, Hashable {
    public var collection: String
    public var documents: Int
    public var chunks: Int

    public init(collection: String, documents: Int, chunks: Int) {
        self.collection = collection
        self.documents = documents
        self.chunks = chunks
    }
}

public struct StoreStats: Sendable, Hashable {
    public var tables: [TableStats]
    /// Size of the main database file (page count × page size).
    public var databaseBytes: Int64
    /// Bytes in indexes, including the full-text index.
    public var indexBytes: Int64
    /// Size of the write-ahead log file.
    public var walBytes: Int64
    public var freePages: Int64
    /// Documents per status; a status no document has is left out.
    public var documentsByStatus: [DocumentStatus: Int]

    public init(
        tables: [TableStats],
        databaseBytes: Int64,
        indexBytes: Int64,
        walBytes: Int64,
        freePages: Int64,
        documentsByStatus: [DocumentStatus: Int] = [:]
    ) {
        self.documentsByStatus = documentsByStatus
        self.tables = tables
        self.databaseBytes = databaseBytes
        self.indexBytes = indexBytes
        self.walBytes = walBytes
        self.freePages = freePages
    }
}

/// What `applyRetention` removed, or would remove in a dry run.
public struct RetentionResult: Sendable, Hashable {
    public var documentsDeleted: Int
    public var auditEventsDeleted: Int
    /// The deleted documents, so callers can remove their objects and vectors.
    public var documents: [Document]

    public init(
        documentsDeleted: Int,
        auditEventsDeleted: Int,
        documents: [Document]
    ) {
        self.documentsDeleted = documentsDeleted
        self.auditEventsDeleted = auditEventsDeleted
        self.documents = documents
    }
}

/// What an API key may do.
public enum APIKeyRole: String, Sendable, Hashable, CaseIterable {
    /// Read and search.
    case readOnly = "readonly"
    /// Also write documents, chunks, objects and vectors.
    case dataWriter = "datawriter"
    /// Also manage collections, keys and retention.
    case admin
    /// Trove's own services calling each other.
    case service
}

/// An API key as stored: its secret is kept only as a hash and never returned.
public struct APIKey: Sendable, Hashable {
    /// Public identifier, safe to log.
    public var id: String
    public var name: String
    public var role: APIKeyRole
    /// Empty: every collection.
    public var collections: [String]
    public var createdAt: Date
    public var revokedAt: Date?
    public var lastUsedAt: Date?

    public init(
        id: String,
        name: String,
        role: APIKeyRole,
        collections: [String],
        createdAt: Date,
        revokedAt: Date?,
        lastUsedAt: Date?
    ) {
        self.id = id
        self.name = name
        self.role = role
        self.collections = collections
        self.createdAt = createdAt
        self.revokedAt = revokedAt
        self.lastUsedAt = lastUsedAt
    }
}

/// An API key to store; the caller generates the secret and passes only its hash.
public struct NewAPIKey: Sendable, Hashable {
    public var id: String
    public var name: String
    public var role: APIKeyRole
    public var collections: [String]
    /// A hash of the secret (for example lower-case hex SHA-256); unique.
    public var secretHash: String

    public init(id: String = UUID().uuidString.lowercased(), name: String, role: APIKeyRole, collections: [String] = [], secretHash: String) {
        self.id = id
        self.name = name
        self.role = role
        self.collections = collections
        self.secretHash = secretHash
    }
}

/// One audited call.
public struct AuditEvent: Sendable, Hashable {
    public var id: String
    public var time: Date
    /// Key id of the caller; nil when auth is off.
    public var keyID: String?
    public var service: String
    public var method: String
    public var targetIDs: [String]
    /// The gRPC status code name, e.g. "ok", "permissionDenied".
    public var outcome: String
    public var requestID: String

    public init(
        id: String = UUID().uuidString.lowercased(),
        time: Date,
        keyID: String? = nil,
        service: String,
        method: String,
        targetIDs: [String] = [],
        outcome: String,
        requestID: String = ""
    ) {
        self.id = id
        self.time = time
        self.keyID = keyID
        self.service = service
        self.method = method
        self.targetIDs = targetIDs
        self.outcome = outcome
        self.requestID = requestID
    }
}

/// Which audit events `listAuditEvents` returns; nil fields do not filter.
public struct AuditQuery: Sendable, Hashable {
    public var keyID: String?
    public var service: String?
    public var method: String?
    /// Inclusive.
    public var since: Date?
    /// Exclusive.
    public var until: Date?

    public init(keyID: String? = nil, service: String? = nil, method: String? = nil, since: Date? = nil, until: Date? = nil) {
        self.keyID = keyID
        self.service = service
        self.method = method
        self.since = since
        self.until = until
    }
}

/// A page request: size 0 means the default (100); the token comes from the previous page.
public struct PageRequest: Sendable, Hashable {
    public var size: Int
    public var token: String?

    public init(size: Int = 0, token: String? = nil) {
        self.size = size
        self.token = token
    }
}

/// One page of results; `nextPageToken` is nil on the last page.
public struct Page<Item: Sendable>: Sendable {
    public var items: [Item]
    public var nextPageToken: String?

    public init(items: [Item], nextPageToken: String?) {
        self.items = items
        self.nextPageToken = nextPageToken
    }
}

extension Page: Equatable where Item: Equatable {}
