import Foundation
import GRPCCore
import JSONFilter
import MetadataStore
import SwiftProtobuf
import TroveContracts
import TroveCore

// Field-by-field mappings between trove.v1 messages and the metadata store's model types.
// Proto → store conversions validate what the store cannot see (ids that are not UUIDs, enum
// values this build does not know, numbers too large for the store, missing messages) and throw
// INVALID_ARGUMENT naming the request field; the store checks everything else.

/// Reads scalar request fields into the store's types.
enum RequestField {
    static func uuid(_ text: String, field: String) throws -> UUID {
        guard !text.isEmpty else {
            throw RPCError.invalidField(field, "is required")
        }
        guard let id = UUID(uuidString: text) else {
            throw RPCError.invalidField(field, "'\(text.prefix(64))' is not a UUID")
        }
        return id
    }

    /// Nil for an empty string: proto3 cannot tell an unset string from an empty one.
    static func optionalUUID(_ text: String, field: String) throws -> UUID? {
        text.isEmpty ? nil : try Self.uuid(text, field: field)
    }

    static func required(_ text: String, field: String) throws -> String {
        guard !text.isEmpty else {
            throw RPCError.invalidField(field, "is required")
        }
        return text
    }

    static func int(_ value: UInt64, field: String) throws -> Int {
        guard let result = Int(exactly: value) else {
            throw RPCError.invalidField(field, "\(value) is too large")
        }
        return result
    }

    static func int64(_ value: UInt64, field: String) throws -> Int64 {
        guard let result = Int64(exactly: value) else {
            throw RPCError.invalidField(field, "\(value) is too large")
        }
        return result
    }

    /// An `expected_version`: 0 skips the check.
    static func expectedVersion(_ value: UInt64) throws -> Int64? {
        value == 0 ? nil : try Self.int64(value, field: "expected_version")
    }

    /// An age in seconds: 0 means the configured age.
    static func age(seconds: UInt64, field: String) throws -> Duration? {
        seconds == 0 ? nil : .seconds(try Self.int64(seconds, field: field))
    }

    static func page(_ page: Trove_V1_PageRequest) -> PageRequest {
        PageRequest(size: Int(page.pageSize), token: page.pageToken.isEmpty ? nil : page.pageToken)
    }
}

// MARK: Enums

extension DistanceMetric {
    /// Unspecified means the store's default, cosine.
    init(_ proto: Trove_V1_DistanceMetric, field: String) throws {
        switch proto {
        case .unspecified, .cosine: self = .cosine
        case .l2: self = .l2
        case .innerProduct: self = .innerProduct
        case .UNRECOGNIZED(let value): throw RPCError.invalidField(field, "\(value) is not a distance metric")
        }
    }
}

extension Trove_V1_DistanceMetric {
    init(_ metric: DistanceMetric) {
        switch metric {
        case .cosine: self = .cosine
        case .l2: self = .l2
        case .innerProduct: self = .innerProduct
        }
    }
}

extension ChunkUnit {
    /// Nil for unspecified.
    static func from(_ proto: Trove_V1_ChunkUnit, field: String) throws -> ChunkUnit? {
        switch proto {
        case .unspecified: nil
        case .tokens: .tokens
        case .characters: .characters
        case .UNRECOGNIZED(let value): throw RPCError.invalidField(field, "\(value) is not a chunk unit")
        }
    }
}

extension Trove_V1_ChunkUnit {
    init(_ unit: ChunkUnit?) {
        switch unit {
        case nil: self = .unspecified
        case .tokens: self = .tokens
        case .characters: self = .characters
        }
    }
}

extension ObjectType {
    /// Nil for unspecified.
    static func from(_ proto: Trove_V1_ObjectType, field: String) throws -> ObjectType? {
        switch proto {
        case .unspecified: nil
        case .text: .text
        case .image: .image
        case .audio: .audio
        case .video: .video
        case .document: .document
        case .UNRECOGNIZED(let value): throw RPCError.invalidField(field, "\(value) is not an object type")
        }
    }
}

extension Trove_V1_ObjectType {
    init(_ type: ObjectType?) {
        switch type {
        case nil: self = .unspecified
        case .text: self = .text
        case .image: self = .image
        case .audio: self = .audio
        case .video: self = .video
        case .document: self = .document
        }
    }
}

extension DocumentStatus {
    /// Nil for unspecified.
    static func from(_ proto: Trove_V1_DocumentStatus, field: String) throws -> DocumentStatus? {
        switch proto {
        case .unspecified: nil
        case .pending: .pending
        case .processing: .processing
        case .completed: .completed
        case .failed: .failed
        case .UNRECOGNIZED(let value): throw RPCError.invalidField(field, "\(value) is not a document status")
        }
    }
}

extension Trove_V1_DocumentStatus {
    init(_ status: DocumentStatus) {
        switch status {
        case .pending: self = .pending
        case .processing: self = .processing
        case .completed: self = .completed
        case .failed: self = .failed
        }
    }
}

extension APIKeyRole {
    /// A key must have a role: unspecified is refused.
    init(_ proto: Trove_V1_Role, field: String) throws {
        switch proto {
        case .readonly: self = .readOnly
        case .datawriter: self = .dataWriter
        case .admin: self = .admin
        case .service: self = .service
        case .unspecified: throw RPCError.invalidField(field, "is required")
        case .UNRECOGNIZED(let value): throw RPCError.invalidField(field, "\(value) is not a role")
        }
    }
}

extension Trove_V1_Role {
    init(_ role: APIKeyRole) {
        switch role {
        case .readOnly: self = .readonly
        case .dataWriter: self = .datawriter
        case .admin: self = .admin
        case .service: self = .service
        }
    }
}

// MARK: Collections

extension ChunkingOptions {
    init(_ proto: Trove_V1_ChunkingOptions, field: String) throws {
        self.init(unit: try ChunkUnit.from(proto.unit, field: field + ".unit"), size: Int(proto.size), overlap: Int(proto.overlap))
    }
}

extension Trove_V1_ChunkingOptions {
    init(_ options: ChunkingOptions) {
        self.init()
        self.unit = Trove_V1_ChunkUnit(options.unit)
        self.size = UInt32(clamping: options.size)
        self.overlap = UInt32(clamping: options.overlap)
    }
}

extension DocumentCollection {
    init(_ proto: Trove_V1_Collection) throws {
        self.init(
            name: proto.name,
            embeddingModel: proto.embeddingModel,
            dimension: Int(proto.dimension),
            metric: try DistanceMetric(proto.metric, field: "metric"),
            chunking: try ChunkingOptions(proto.chunking, field: "chunking"),
            metadata: JSONObject(proto.metadata)
        )
    }
}

extension Trove_V1_Collection {
    init(_ collection: DocumentCollection) {
        self.init()
        self.name = collection.name
        self.embeddingModel = collection.embeddingModel
        self.dimension = UInt32(clamping: collection.dimension)
        self.metric = Trove_V1_DistanceMetric(collection.metric)
        self.chunking = Trove_V1_ChunkingOptions(collection.chunking)
        self.createdAt = Google_Protobuf_Timestamp(date: collection.createdAt)
        self.metadata = Google_Protobuf_Struct(collection.metadata)
    }
}

// MARK: Documents and chunks

extension ObjectLocation {
    init(_ proto: Trove_V1_ObjectLocation) {
        self.init(bucket: proto.bucket, key: proto.key)
    }
}

extension Trove_V1_ObjectLocation {
    init(_ location: ObjectLocation) {
        self.init()
        self.bucket = location.bucket
        self.key = location.key
    }
}

extension NewDocument {
    init(_ proto: Trove_V1_Document) throws {
        self.init(
            collection: proto.collection,
            filename: proto.filename,
            mimeType: proto.mimeType,
            objectType: try ObjectType.from(proto.objectType, field: "object_type"),
            sha256: proto.sha256,
            location: proto.hasLocation ? ObjectLocation(proto.location) : nil,
            sizeBytes: try RequestField.int64(proto.sizeBytes, field: "size_bytes"),
            metadata: JSONObject(proto.metadata),
            chunking: try ChunkingOptions(proto.chunking, field: "chunking")
        )
    }
}

extension Trove_V1_Document {
    init(_ document: Document) {
        self.init()
        self.id = document.id.lowercasedText
        self.collection = document.collection
        self.filename = document.filename
        self.mimeType = document.mimeType
        self.objectType = Trove_V1_ObjectType(document.objectType)
        self.sha256 = document.sha256
        if let location = document.location {
            self.location = Trove_V1_ObjectLocation(location)
        }
        self.sizeBytes = UInt64(clamping: document.sizeBytes)
        self.metadata = Google_Protobuf_Struct(document.metadata)
        self.status = Trove_V1_DocumentStatus(document.status)
        self.errorMessage = document.errorMessage ?? ""
        self.attempts = UInt32(clamping: document.attempts)
        self.version = UInt64(clamping: document.version)
        self.createdAt = Google_Protobuf_Timestamp(date: document.createdAt)
        self.updatedAt = Google_Protobuf_Timestamp(date: document.updatedAt)
        self.chunkCount = UInt32(clamping: document.chunkCount)
        if document.chunking != ChunkingOptions() {
            self.chunking = Trove_V1_ChunkingOptions(document.chunking)
        }
    }
}

extension NewChunk {
    /// `field` is the chunk's place in the request, e.g. `chunks[3]`.
    init(_ proto: Trove_V1_Chunk, documentID: UUID, field: String) throws {
        if !proto.documentID.isEmpty, try RequestField.uuid(proto.documentID, field: field + ".document_id") != documentID {
            throw RPCError.invalidField(field + ".document_id", "must be empty or the request's document_id")
        }
        self.init(
            id: try RequestField.optionalUUID(proto.id, field: field + ".id"),
            sequence: Int(proto.sequence),
            content: proto.content,
            startOffset: try RequestField.int(proto.startOffset, field: field + ".start_offset"),
            endOffset: try RequestField.int(proto.endOffset, field: field + ".end_offset"),
            tokenCount: Int(proto.tokenCount)
        )
    }
}

extension Trove_V1_Chunk {
    init(_ chunk: Chunk) {
        self.init()
        self.id = chunk.id.lowercasedText
        self.documentID = chunk.documentID.lowercasedText
        self.sequence = UInt32(clamping: chunk.sequence)
        self.content = chunk.content
        self.startOffset = UInt64(clamping: chunk.startOffset)
        self.endOffset = UInt64(clamping: chunk.endOffset)
        self.tokenCount = UInt32(clamping: chunk.tokenCount)
    }
}

extension Trove_V1_TextMatch {
    init(_ match: TextMatch) {
        self.init()
        self.chunk = Trove_V1_Chunk(match.chunk)
        self.score = match.score
        self.snippet = match.snippet
        self.document = Trove_V1_Document(match.document)
    }
}

// MARK: Relationships and annotations

extension ChunkRelationship {
    /// `field` is the relationship's place in the request, e.g. `relationships[0]`.
    init(_ proto: Trove_V1_ChunkRelationship, field: String) throws {
        self.init(
            sourceChunkID: try RequestField.uuid(proto.sourceChunkID, field: field + ".source_chunk_id"),
            targetChunkID: try RequestField.uuid(proto.targetChunkID, field: field + ".target_chunk_id"),
            type: proto.type,
            weight: proto.weight,
            metadata: JSONObject(proto.metadata)
        )
    }
}

extension Trove_V1_ChunkRelationship {
    init(_ relationship: ChunkRelationship) {
        self.init()
        self.sourceChunkID = relationship.sourceChunkID.lowercasedText
        self.targetChunkID = relationship.targetChunkID.lowercasedText
        self.type = relationship.type
        self.weight = relationship.weight
        self.metadata = Google_Protobuf_Struct(relationship.metadata)
    }
}

extension AnnotationTarget {
    init(_ proto: Trove_V1_AnnotationTarget, field: String) throws {
        switch proto.target {
        case .documentID(let id): self = .document(try RequestField.uuid(id, field: field + ".document_id"))
        case .chunkID(let id): self = .chunk(try RequestField.uuid(id, field: field + ".chunk_id"))
        case nil: throw RPCError.invalidField(field, "a document_id or a chunk_id is required")
        }
    }
}

extension Trove_V1_AnnotationTarget {
    init(_ target: AnnotationTarget) {
        self.init()
        switch target {
        case .document(let id): self.target = .documentID(id.lowercasedText)
        case .chunk(let id): self.target = .chunkID(id.lowercasedText)
        }
    }
}

extension NewAnnotation {
    init(_ proto: Trove_V1_Annotation) throws {
        self.init(
            target: try AnnotationTarget(proto.target, field: "target"),
            annotator: proto.annotator,
            type: proto.type,
            content: JSONObject(proto.content),
            confidence: proto.confidence
        )
    }
}

extension Trove_V1_Annotation {
    init(_ annotation: Annotation) {
        self.init()
        self.id = annotation.id.lowercasedText
        self.target = Trove_V1_AnnotationTarget(annotation.target)
        self.annotator = annotation.annotator
        self.type = annotation.type
        self.content = Google_Protobuf_Struct(annotation.content)
        self.confidence = annotation.confidence
        self.version = UInt64(clamping: annotation.version)
        self.createdAt = Google_Protobuf_Timestamp(date: annotation.createdAt)
        self.updatedAt = Google_Protobuf_Timestamp(date: annotation.updatedAt)
    }
}

// MARK: Embedding records

extension EmbeddingRecord {
    /// `field` is the record's place in the request, e.g. `records[2]`.
    init(_ proto: Trove_V1_EmbeddingRecord, field: String) throws {
        self.init(
            chunkID: try RequestField.uuid(proto.chunkID, field: field + ".chunk_id"),
            model: proto.model,
            dimension: Int(proto.dimension),
            vectorCollection: proto.vectorCollection,
            vectorID: proto.vectorID
        )
    }
}

extension Trove_V1_EmbeddingRecord {
    init(_ record: EmbeddingRecord) {
        self.init()
        self.chunkID = record.chunkID.lowercasedText
        self.model = record.model
        self.dimension = UInt32(clamping: record.dimension)
        self.vectorCollection = record.vectorCollection
        self.vectorID = record.vectorID
        self.createdAt = Google_Protobuf_Timestamp(date: record.createdAt)
    }
}

extension EmbeddingRecordScope {
    /// Exactly one of the two ids.
    init(chunkID: String, documentID: String) throws {
        switch (chunkID.isEmpty, documentID.isEmpty) {
        case (false, true): self = .chunk(try RequestField.uuid(chunkID, field: "chunk_id"))
        case (true, false): self = .document(try RequestField.uuid(documentID, field: "document_id"))
        case (true, true): throw RPCError.invalidField("chunk_id", "a chunk_id or a document_id is required")
        case (false, false): throw RPCError.invalidField("document_id", "give a chunk_id or a document_id, not both")
        }
    }
}

// MARK: Administration

extension Trove_V1_GetStatsResponse {
    init(_ stats: StoreStats) {
        self.init()
        self.tables = stats.tables.map { table in
            .with {
                $0.table = table.table
                $0.rows = UInt64(clamping: table.rows)
            }
        }
        self.databaseBytes = UInt64(clamping: stats.databaseBytes)
        self.indexBytes = UInt64(clamping: stats.indexBytes)
        self.walBytes = UInt64(clamping: stats.walBytes)
        self.freePages = UInt64(clamping: stats.freePages)
        for (status, count) in stats.documentsByStatus {
            self.documentsByStatus[status.rawValue] = UInt64(clamping: count)
        }
    }
}

extension Trove_V1_ApiKey {
    init(_ key: APIKey) {
        self.init()
        self.id = key.id
        self.name = key.name
        self.role = Trove_V1_Role(key.role)
        self.collections = key.collections
        self.createdAt = Google_Protobuf_Timestamp(date: key.createdAt)
        if let revokedAt = key.revokedAt {
            self.revokedAt = Google_Protobuf_Timestamp(date: revokedAt)
        }
        if let lastUsedAt = key.lastUsedAt {
            self.lastUsedAt = Google_Protobuf_Timestamp(date: lastUsedAt)
        }
    }
}

extension AuditEvent {
    /// An event without an id gets a new one; without a time, `now`. A time outside protobuf's
    /// range is INVALID_ARGUMENT naming `field`.
    init(_ proto: Trove_V1_AuditEvent, now: Date, field: String) throws {
        self.init(
            id: proto.id.isEmpty ? UUID().uuidString.lowercased() : proto.id,
            time: proto.hasTime ? try proto.time.validDate(field: field + ".time") : now,
            keyID: proto.keyID.isEmpty ? nil : proto.keyID,
            service: proto.service,
            method: proto.method,
            targetIDs: proto.targetIds,
            outcome: proto.outcome,
            requestID: proto.requestID
        )
    }
}

extension Trove_V1_AuditEvent {
    init(_ event: AuditEvent) {
        self.init()
        self.id = event.id
        self.time = Google_Protobuf_Timestamp(date: event.time)
        self.keyID = event.keyID ?? ""
        self.service = event.service
        self.method = event.method
        self.targetIds = event.targetIDs
        self.outcome = event.outcome
        self.requestID = event.requestID
    }
}
