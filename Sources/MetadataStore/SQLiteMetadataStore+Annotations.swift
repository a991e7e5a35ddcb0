import Foundation
import JSONFilter

extension SQLiteMetadataStore {
    static let annotationColumns =
        "a.id, a.document_id, a.chunk_id, a.annotator, a.type, a.content, a.confidence, a.version, a.created_at, a.updated_at"

    static func decodeAnnotation(_ row: SQLiteStatement) throws -> Annotation {
        let target: AnnotationTarget =
            if let document = row.optionalText(1) {
                .document(try Self.uuid(document))
            } else {
                .chunk(try Self.uuid(row.text(2)))
            }
        return Annotation(
            id: try Self.uuid(row.text(0)),
            target: target,
            annotator: row.text(3),
            type: row.text(4),
            content: JSONObject(jsonText: row.text(5)),
            confidence: row.double(6),
            version: row.int64(7),
            createdAt: Self.date(row.int64(8)),
            updatedAt: Self.date(row.int64(9))
        )
    }

    static func fetchAnnotation(_ connection: SQLiteConnection, _ id: UUID) throws -> Annotation {
        let annotation = try connection.queryFirst(
            "SELECT \(annotationColumns) FROM annotations a WHERE a.id = ?", [.text(Self.idText(id))], Self.decodeAnnotation)
        guard let annotation else {
            throw MetadataStoreError.notFound("id", "annotation \(Self.idText(id)) does not exist")
        }
        return annotation
    }

    static func validateConfidence(_ confidence: Double) throws(MetadataStoreError) {
        guard confidence >= 0, confidence <= 1 else {
            throw MetadataStoreError.invalid("confidence", "must be between 0 and 1")
        }
    }

    /// Throws NOT_FOUND unless the annotated document or chunk exists.
    static func requireTarget(_ connection: SQLiteConnection, _ target: AnnotationTarget) throws {
        switch target {
        case .document(let id):
            try Self.requireRow(
                connection, "SELECT 1 FROM documents WHERE id = ?", Self.idText(id), field: "target.document_id",
                "document \(Self.idText(id)) does not exist")
        case .chunk(let id):
            try Self.requireRow(
                connection, "SELECT 1 FROM chunks WHERE id = ?", Self.idText(id), field: "target.chunk_id",
                "chunk \(Self.idText(id)) does not exist")
        }
    }

    public func addAnnotation(_ annotation: NewAnnotation) async throws -> Annotation {
        try Self.requireText(annotation.annotator, field: "annotator")
        try Self.requireText(annotation.type, field: "type", maxLength: 128)
        try Self.validateConfidence(annotation.confidence)
        let now = self.now
        let id = UUID()
        return try await self.write { connection in
            try Self.requireTarget(connection, annotation.target)
            var document: SQLValue = .null
            var chunk: SQLValue = .null
            switch annotation.target {
            case .document(let target): document = .text(Self.idText(target))
            case .chunk(let target): chunk = .text(Self.idText(target))
            }
            try connection.run(
                """
                INSERT INTO annotations (id, document_id, chunk_id, annotator, type, content, confidence, version, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?)
                """,
                [
                    .text(Self.idText(id)), document, chunk, .text(annotation.annotator), .text(annotation.type),
                    .text(annotation.content.jsonText), .real(annotation.confidence), .integer(now), .integer(now),
                ]
            )
            return try Self.fetchAnnotation(connection, id)
        }
    }

    public func listAnnotations(target: AnnotationTarget, type: String?, page: PageRequest) async throws -> Page<Annotation> {
        let size = try PageToken.size(page)
        let after = try PageToken.decode(page.token, kind: "annotations", count: 2)
        let afterTime = try after.map { key throws(MetadataStoreError) -> Int64 in
            guard let time = Int64(key[0]) else {
                throw MetadataStoreError.invalid("page_token", "is not a token from this list call")
            }
            return time
        }
        let (column, id): (String, UUID) =
            switch target {
            case .document(let id): ("a.document_id", id)
            case .chunk(let id): ("a.chunk_id", id)
            }
        let type = type.flatMap { $0.isEmpty ? nil : $0 }
        let sql = """
            SELECT \(Self.annotationColumns) FROM annotations a
            WHERE \(column) = ? AND (?2 IS NULL OR a.type = ?2) AND (?3 IS NULL OR (a.created_at, a.id) > (?3, ?4))
            ORDER BY a.created_at, a.id LIMIT ?5
            """
        let bindings: [SQLValue] = [
            .text(Self.idText(id)), type.map { .text($0) } ?? .null, afterTime.map { .integer($0) } ?? .null,
            after.map { .text($0[1]) } ?? .null, .integer(Int64(size + 1)),
        ]
        return try await self.read { connection in
            try Self.requireTarget(connection, target)
            let rows = try connection.query(sql, bindings, Self.decodeAnnotation)
            return PageToken.page(rows, size: size, kind: "annotations") {
                [String(Self.microseconds($0.createdAt)), Self.idText($0.id)]
            }
        }
    }

    public func updateAnnotation(id: UUID, expectedVersion: Int64?, content: JSONObject?, confidence: Double?) async throws -> Annotation {
        if let confidence {
            try Self.validateConfidence(confidence)
        }
        let now = self.now
        return try await self.write { connection in
            var annotation = try Self.fetchAnnotation(connection, id)
            try Self.checkVersion(expectedVersion, annotation.version, what: "annotation \(Self.idText(id))")
            if let content { annotation.content = content }
            if let confidence { annotation.confidence = confidence }
            try connection.run(
                "UPDATE annotations SET content = ?, confidence = ?, version = version + 1, updated_at = ? WHERE id = ?",
                [.text(annotation.content.jsonText), .real(annotation.confidence), .integer(now), .text(Self.idText(id))]
            )
            return try Self.fetchAnnotation(connection, id)
        }
    }

    public func deleteAnnotation(id: UUID) async throws -> Bool {
        try await self.write { connection in
            try connection.run("DELETE FROM annotations WHERE id = ?", [.text(Self.idText(id))]) > 0
        }
    }

    // MARK: Embedding records

    static func decodeEmbeddingRecord(_ row: SQLiteStatement) throws -> EmbeddingRecord {
        EmbeddingRecord(
            chunkID: try Self.uuid(row.text(0)),
            model: row.text(1),
            dimension: row.int(2),
            vectorCollection: row.text(3),
            vectorID: row.text(4),
            createdAt: Self.date(row.int64(5))
        )
    }

    public func putEmbeddingRecords(_ records: [EmbeddingRecord]) async throws -> Int {
        try Self.validate(records, field: "records")
        let now = self.now
        return try await self.write { connection in
            try Self.insert(records, field: "records", now: now, connection)
            return records.count
        }
    }

    /// Checks what can be checked before the transaction; errors name `field[i]`.
    static func validate(_ records: [EmbeddingRecord], field: String) throws {
        for (index, record) in records.enumerated() {
            try Self.requireText(record.model, field: "\(field)[\(index)].model")
            guard record.dimension > 0 else {
                throw MetadataStoreError.invalid("\(field)[\(index)].dimension", "must be positive")
            }
            try Self.requireText(record.vectorCollection, field: "\(field)[\(index)].vector_collection")
            try Self.requireText(record.vectorID, field: "\(field)[\(index)].vector_id")
        }
    }

    /// Writes validated records inside the caller's transaction; re-embedding a chunk with the
    /// same model replaces its record.
    static func insert(_ records: [EmbeddingRecord], field: String, now: Int64, _ connection: SQLiteConnection) throws {
        for (index, record) in records.enumerated() {
            let chunk = Self.idText(record.chunkID)
            try Self.requireRow(
                connection, "SELECT 1 FROM chunks WHERE id = ?", chunk, field: "\(field)[\(index)].chunk_id",
                "chunk \(chunk) does not exist")
            do {
                try connection.run(
                    """
                    INSERT INTO embedding_records (chunk_id, model, dimension, vector_collection, vector_id, created_at)
                    VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT (chunk_id, model) DO UPDATE SET
                        dimension = excluded.dimension, vector_collection = excluded.vector_collection,
                        vector_id = excluded.vector_id, created_at = excluded.created_at
                    """,
                    [
                        .text(chunk), .text(record.model), .integer(Int64(record.dimension)),
                        .text(record.vectorCollection), .text(record.vectorID), .integer(now),
                    ]
                )
            } catch let error as SQLiteError {
                throw MetadataStoreError(error, fieldPrefix: "\(field)[\(index)].")
            }
        }
    }

    static func embeddingScope(_ scope: EmbeddingRecordScope) -> (condition: String, id: String) {
        switch scope {
        case .chunk(let id):
            return ("e.chunk_id = ?", Self.idText(id))
        case .document(let id):
            return ("e.chunk_id IN (SELECT id FROM chunks WHERE document_id = ?)", Self.idText(id))
        }
    }

    public func listEmbeddingRecords(_ scope: EmbeddingRecordScope) async throws -> [EmbeddingRecord] {
        let (condition, id) = Self.embeddingScope(scope)
        return try await self.read { connection in
            try connection.query(
                """
                SELECT e.chunk_id, e.model, e.dimension, e.vector_collection, e.vector_id, e.created_at
                FROM embedding_records e WHERE \(condition) ORDER BY e.chunk_id, e.model
                """,
                [.text(id)], Self.decodeEmbeddingRecord)
        }
    }

    public func deleteEmbeddingRecords(_ scope: EmbeddingRecordScope) async throws -> Int {
        let (condition, id) = Self.embeddingScope(scope)
        return try await self.write { connection in
            try connection.run("DELETE FROM embedding_records AS e WHERE \(condition)", [.text(id)])
        }
    }
}
