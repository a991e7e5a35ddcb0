import Foundation
import JSONFilter

extension SQLiteMetadataStore {
    static let documentColumns = """
        d.id, d.collection, d.filename, d.mime_type, d.object_type, d.sha256, d.location_bucket, d.location_key, \
        d.size_bytes, d.metadata, d.status, d.error_message, d.attempts, d.version, d.created_at, d.updated_at, d.chunk_count, \
        d.chunk_unit, d.chunk_size, d.chunk_overlap
        """
    /// How many columns `documentColumns` has, for queries that select more after them.
    static let documentColumnCount: Int32 = 20

    static func decodeDocument(_ row: SQLiteStatement, from first: Int32 = 0) throws -> Document {
        let bucket = row.optionalText(first + 6)
        let key = row.optionalText(first + 7)
        return Document(
            id: try Self.uuid(row.text(first)),
            collection: row.text(first + 1),
            filename: row.text(first + 2),
            mimeType: row.text(first + 3),
            objectType: row.optionalText(first + 4).flatMap(ObjectType.init(rawValue:)),
            sha256: row.text(first + 5),
            location: bucket.map { ObjectLocation(bucket: $0, key: key ?? "") },
            sizeBytes: row.int64(first + 8),
            metadata: JSONObject(jsonText: row.text(first + 9)),
            status: DocumentStatus(rawValue: row.text(first + 10)) ?? .pending,
            errorMessage: row.optionalText(first + 11),
            attempts: row.int(first + 12),
            version: row.int64(first + 13),
            createdAt: Self.date(row.int64(first + 14)),
            updatedAt: Self.date(row.int64(first + 15)),
            chunkCount: row.int(first + 16),
            chunking: ChunkingOptions(
                unit: row.optionalText(first + 17).flatMap(ChunkUnit.init(rawValue:)),
                size: row.int(first + 18),
                overlap: row.int(first + 19)
            )
        )
    }

    static func fetchDocument(_ connection: SQLiteConnection, _ id: UUID) throws -> Document {
        let document = try connection.queryFirst(
            "SELECT \(documentColumns) FROM documents d WHERE d.id = ?", [.text(Self.idText(id))]) { try Self.decodeDocument($0) }
        guard let document else {
            throw MetadataStoreError.notFound("id", "document \(Self.idText(id)) does not exist")
        }
        return document
    }

    static func checkVersion(_ expected: Int64?, _ actual: Int64, what: String) throws(MetadataStoreError) {
        if let expected, expected != actual {
            throw MetadataStoreError(
                .aborted, field: "expected_version",
                "\(what) is at version \(actual), not the expected \(expected)")
        }
    }

    static func normalizedSHA256(_ value: String) throws(MetadataStoreError) -> String {
        let lowered = value.lowercased()
        guard lowered.utf8.count == 64, lowered.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else {
            throw MetadataStoreError.invalid("sha256", "must be 64 hexadecimal digits")
        }
        return lowered
    }

    public func createDocument(_ new: NewDocument) async throws -> DocumentCreation {
        try Self.requireText(new.collection, field: "collection")
        let sha256 = try Self.normalizedSHA256(new.sha256)
        guard new.sizeBytes >= 0 else {
            throw MetadataStoreError.invalid("size_bytes", "must not be negative")
        }
        try Self.validateChunking(new.chunking)
        let now = self.now
        let id = Self.idText(UUID())
        return try await self.write { connection in
            _ = try Self.fetchCollection(connection, new.collection)
            let existing = try connection.queryFirst(
                "SELECT \(Self.documentColumns) FROM documents d WHERE d.collection = ? AND d.sha256 = ?",
                [.text(new.collection), .text(sha256)]
            ) { try Self.decodeDocument($0) }
            if let existing {
                return DocumentCreation(document: existing, alreadyExisted: true)
            }
            try connection.run(
                """
                INSERT INTO documents (id, collection, filename, mime_type, object_type, sha256, location_bucket,
                    location_key, size_bytes, metadata, status, attempts, version, created_at, updated_at,
                    chunk_unit, chunk_size, chunk_overlap)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, 1, ?, ?, ?, ?, ?)
                """,
                [
                    .text(id), .text(new.collection), .text(new.filename), .text(new.mimeType),
                    new.objectType.map { .text($0.rawValue) } ?? .null, .text(sha256),
                    new.location.map { .text($0.bucket) } ?? .null, new.location.map { .text($0.key) } ?? .null,
                    .integer(new.sizeBytes), .text(new.metadata.jsonText), .integer(now), .integer(now),
                    new.chunking.unit.map { .text($0.rawValue) } ?? .null, .integer(Int64(new.chunking.size)),
                    .integer(Int64(new.chunking.overlap)),
                ]
            )
            return DocumentCreation(document: try Self.fetchDocument(connection, try Self.uuid(id)), alreadyExisted: false)
        }
    }

    public func getDocument(id: UUID, includeChunks: Bool) async throws -> DocumentDetail {
        try await self.read { connection in
            let document = try Self.fetchDocument(connection, id)
            let chunks =
                includeChunks
                ? try connection.query(
                    "SELECT \(Self.chunkColumns) FROM chunks c WHERE c.document_id = ? ORDER BY c.sequence",
                    [.text(Self.idText(id))], Self.decodeChunk)
                : []
            return DocumentDetail(document: document, chunks: chunks)
        }
    }

    public func listDocuments(_ query: DocumentQuery, page: PageRequest) async throws -> Page<Document> {
        let size = try PageToken.size(page)
        let after = try PageToken.decode(page.token, kind: "documents", count: 2)
        var conditions: [String] = []
        var bindings: [SQLValue] = []
        if let collection = query.collection {
            conditions.append("d.collection = ?")
            bindings.append(.text(collection))
        }
        if let status = query.status {
            conditions.append("d.status = ?")
            bindings.append(.text(status.rawValue))
        }
        if let createdBefore = query.createdBefore {
            conditions.append("d.created_at < ?")
            bindings.append(.integer(Self.microseconds(createdBefore)))
        }
        if let after {
            guard let createdAt = Int64(after[0]) else {
                throw MetadataStoreError.invalid("page_token", "is not a token from this list call")
            }
            conditions.append("(d.created_at, d.id) > (?, ?)")
            bindings.append(contentsOf: [.integer(createdAt), .text(after[1])])
        }
        if let filter = query.filter {
            let fragment = try filter.sql(column: "d.metadata")
            conditions.append(fragment.sql)
            bindings.append(contentsOf: fragment.bindings)
        }
        bindings.append(.integer(Int64(size + 1)))
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let sql = "SELECT \(Self.documentColumns) FROM documents d \(whereClause) ORDER BY d.created_at, d.id LIMIT ?"
        let cached = query.filter == nil
        let collection = query.collection
        let finalBindings = bindings
        return try await self.read { connection in
            if let collection {
                _ = try Self.fetchCollection(connection, collection)
            }
            let rows = try connection.query(sql, finalBindings, cached: cached) { try Self.decodeDocument($0) }
            return PageToken.page(rows, size: size, kind: "documents") {
                [String(Self.microseconds($0.createdAt)), Self.idText($0.id)]
            }
        }
    }

    public func updateDocument(id: UUID, expectedVersion: Int64?, _ update: DocumentUpdate) async throws -> Document {
        if let location = update.location {
            try Self.requireText(location.bucket, field: "location.bucket")
            try Self.requireText(location.key, field: "location.key")
        }
        if let chunking = update.chunking {
            try Self.validateChunking(chunking)
        }
        let now = self.now
        return try await self.write { connection in
            var document = try Self.fetchDocument(connection, id)
            try Self.checkVersion(expectedVersion, document.version, what: "document \(Self.idText(id))")
            if let metadata = update.metadata { document.metadata = metadata }
            if let location = update.location { document.location = location }
            if let filename = update.filename { document.filename = filename }
            if let objectType = update.objectType { document.objectType = objectType }
            if let chunking = update.chunking { document.chunking = chunking }
            try connection.run(
                """
                UPDATE documents SET metadata = ?, location_bucket = ?, location_key = ?, filename = ?, object_type = ?,
                    chunk_unit = ?, chunk_size = ?, chunk_overlap = ?, version = version + 1, updated_at = ?
                WHERE id = ?
                """,
                [
                    .text(document.metadata.jsonText),
                    document.location.map { .text($0.bucket) } ?? .null, document.location.map { .text($0.key) } ?? .null,
                    .text(document.filename), document.objectType.map { .text($0.rawValue) } ?? .null,
                    document.chunking.unit.map { .text($0.rawValue) } ?? .null, .integer(Int64(document.chunking.size)),
                    .integer(Int64(document.chunking.overlap)),
                    .integer(now), .text(Self.idText(id)),
                ]
            )
            return try Self.fetchDocument(connection, id)
        }
    }

    public func updateDocumentStatus(
        id: UUID,
        to status: DocumentStatus,
        expectedVersion: Int64?,
        errorMessage: String?
    ) async throws -> Document {
        let now = self.now
        return try await self.write { connection in
            let document = try Self.fetchDocument(connection, id)
            try Self.checkVersion(expectedVersion, document.version, what: "document \(Self.idText(id))")
            let current = DocumentLifecycle(status: document.status, attempts: document.attempts, errorMessage: document.errorMessage)
            let next = try current.moving(to: status, errorMessage: errorMessage)
            try connection.run(
                """
                UPDATE documents SET status = ?, attempts = ?, error_message = ?, version = version + 1, updated_at = ?
                WHERE id = ? AND version = ?
                """,
                [
                    .text(next.status.rawValue), .integer(Int64(next.attempts)), next.errorMessage.map { .text($0) } ?? .null,
                    .integer(now), .text(Self.idText(id)), .integer(document.version),
                ]
            )
            return try Self.fetchDocument(connection, id)
        }
    }

    public func deleteDocument(id: UUID, expectedVersion: Int64?) async throws -> DocumentDeletion {
        try await self.write { connection in
            let document = try Self.fetchDocument(connection, id)
            try Self.checkVersion(expectedVersion, document.version, what: "document \(Self.idText(id))")
            return try Self.deleteDocuments(connection, ids: [Self.idText(id)])
        }
    }

    /// Deletes documents (the schema cascades to everything attached) and counts what went with them.
    static func deleteDocuments(_ connection: SQLiteConnection, ids: [String]) throws -> DocumentDeletion {
        var total = DocumentDeletion(chunksDeleted: 0, relationshipsDeleted: 0, annotationsDeleted: 0, embeddingRecordsDeleted: 0)
        for id in ids {
            let counts = try Self.countAttached(connection, documentID: id, includeDocumentAnnotations: true)
            try connection.run("DELETE FROM documents WHERE id = ?", [.text(id)])
            total.chunksDeleted += counts.chunksDeleted
            total.relationshipsDeleted += counts.relationshipsDeleted
            total.annotationsDeleted += counts.annotationsDeleted
            total.embeddingRecordsDeleted += counts.embeddingRecordsDeleted
        }
        return total
    }

    /// What deleting a document's chunks (and, with `includeDocumentAnnotations`, the document) removes.
    static func countAttached(_ connection: SQLiteConnection, documentID: String, includeDocumentAnnotations: Bool) throws -> DocumentDeletion {
        let id = SQLValue.text(documentID)
        let chunks = try connection.queryFirst("SELECT count(*) FROM chunks WHERE document_id = ?", [id]) { $0.int(0) } ?? 0
        guard chunks > 0 || includeDocumentAnnotations else {
            return DocumentDeletion(chunksDeleted: 0, relationshipsDeleted: 0, annotationsDeleted: 0, embeddingRecordsDeleted: 0)
        }
        let relationships = try connection.queryFirst(
            """
            SELECT count(*) FROM chunk_relationships
            WHERE source_chunk_id IN (SELECT id FROM chunks WHERE document_id = ?1)
               OR target_chunk_id IN (SELECT id FROM chunks WHERE document_id = ?1)
            """, [id]) { $0.int(0) } ?? 0
        let annotations = try connection.queryFirst(
            """
            SELECT count(*) FROM annotations
            WHERE (?2 AND document_id = ?1) OR chunk_id IN (SELECT id FROM chunks WHERE document_id = ?1)
            """, [id, .integer(includeDocumentAnnotations ? 1 : 0)]) { $0.int(0) } ?? 0
        let embeddings = try connection.queryFirst(
            "SELECT count(*) FROM embedding_records WHERE chunk_id IN (SELECT id FROM chunks WHERE document_id = ?)",
            [id]) { $0.int(0) } ?? 0
        return DocumentDeletion(
            chunksDeleted: chunks, relationshipsDeleted: relationships,
            annotationsDeleted: annotations, embeddingRecordsDeleted: embeddings)
    }
}
