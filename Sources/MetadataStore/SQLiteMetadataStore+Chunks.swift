import CSQLite
import Foundation

extension SQLiteMetadataStore {
    static let chunkColumns = "c.id, c.document_id, c.sequence, c.content, c.start_offset, c.end_offset, c.token_count"

    static func decodeChunk(_ row: SQLiteStatement) throws -> Chunk {
        Chunk(
            id: try Self.uuid(row.text(0)),
            documentID: try Self.uuid(row.text(1)),
            sequence: row.int(2),
            content: row.text(3),
            startOffset: row.int(4),
            endOffset: row.int(5),
            tokenCount: row.int(6)
        )
    }

    static func validate(_ chunk: NewChunk, index: Int) throws(MetadataStoreError) {
        if chunk.sequence < 0 {
            throw MetadataStoreError.invalid("chunks[\(index)].sequence", "must not be negative")
        }
        if chunk.startOffset < 0 {
            throw MetadataStoreError.invalid("chunks[\(index)].start_offset", "must not be negative")
        }
        if chunk.endOffset <= chunk.startOffset {
            throw MetadataStoreError.invalid("chunks[\(index)].end_offset", "must be greater than start_offset")
        }
        if chunk.tokenCount < 0 {
            throw MetadataStoreError.invalid("chunks[\(index)].token_count", "must not be negative")
        }
    }

    public func putChunks(
        documentID: UUID,
        _ chunks: [NewChunk],
        replaceExisting: Bool,
        relationships: [ChunkRelationship],
        embeddingRecords: [EmbeddingRecord]
    ) async throws -> [Chunk] {
        for (index, chunk) in chunks.enumerated() {
            try Self.validate(chunk, index: index)
        }
        try Self.validate(relationships, field: "relationships")
        try Self.validate(embeddingRecords, field: "embedding_records")
        let stored = chunks.map {
            Chunk(
                id: $0.id ?? UUID(), documentID: documentID, sequence: $0.sequence, content: $0.content,
                startOffset: $0.startOffset, endOffset: $0.endOffset, tokenCount: $0.tokenCount)
        }
        let now = self.now
        let document = Self.idText(documentID)
        return try await self.write { connection in
            try Self.requireRow(
                connection, "SELECT 1 FROM documents WHERE id = ?", document, field: "document_id",
                "document \(document) does not exist")
            if replaceExisting {
                try connection.run("DELETE FROM chunks WHERE document_id = ?", [.text(document)])
            }
            // One prepared statement for the whole batch; the document id stays bound across resets.
            try connection.withStatement(
                """
                INSERT INTO chunks (id, document_id, sequence, content, start_offset, end_offset, token_count)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """
            ) { insert in
                try insert.bind(document, at: 2)
                for (index, chunk) in stored.enumerated() {
                    try insert.bind(Self.idText(chunk.id), at: 1)
                    try insert.bind(chunk.sequence, at: 3)
                    try insert.bind(chunk.content, at: 4)
                    try insert.bind(chunk.startOffset, at: 5)
                    try insert.bind(chunk.endOffset, at: 6)
                    try insert.bind(chunk.tokenCount, at: 7)
                    do {
                        _ = try insert.step()
                    } catch let error as SQLiteError {
                        throw MetadataStoreError(error, fieldPrefix: "chunks[\(index)].")
                    }
                    insert.reset()
                }
            }
            try connection.run(
                """
                UPDATE documents SET chunk_count = CASE WHEN ?1 THEN ?2 ELSE chunk_count + ?2 END, updated_at = ?3
                WHERE id = ?4
                """,
                [.integer(replaceExisting ? 1 : 0), .integer(Int64(stored.count)), .integer(now), .text(document)]
            )
            try Self.insert(relationships, field: "relationships", now: now, connection)
            try Self.insert(embeddingRecords, field: "embedding_records", now: now, connection)
            return stored
        }
    }

    public func chunks(ids: [UUID]) async throws -> [Chunk] {
        guard !ids.isEmpty else { return [] }
        return try await self.read { connection in
            var found: [UUID: Chunk] = [:]
            for id in ids where found[id] == nil {
                if let chunk = try connection.queryFirst(
                    "SELECT \(Self.chunkColumns) FROM chunks c WHERE c.id = ?", [.text(Self.idText(id))], Self.decodeChunk)
                {
                    found[id] = chunk
                }
            }
            return ids.compactMap { found[$0] }
        }
    }

    public func listChunks(documentID: UUID, page: PageRequest) async throws -> Page<Chunk> {
        let size = try PageToken.size(page)
        let after = try PageToken.decode(page.token, kind: "chunks", count: 1).map { key throws(MetadataStoreError) -> Int64 in
            guard let sequence = Int64(key[0]) else {
                throw MetadataStoreError.invalid("page_token", "is not a token from this list call")
            }
            return sequence
        }
        let document = Self.idText(documentID)
        return try await self.read { connection in
            try Self.requireRow(
                connection, "SELECT 1 FROM documents WHERE id = ?", document, field: "document_id",
                "document \(document) does not exist")
            let rows = try connection.query(
                "SELECT \(Self.chunkColumns) FROM chunks c WHERE c.document_id = ? AND c.sequence > ? ORDER BY c.sequence LIMIT ?",
                [.text(document), .integer(after ?? -1), .integer(Int64(size + 1))],
                Self.decodeChunk
            )
            return PageToken.page(rows, size: size, kind: "chunks") { [String($0.sequence)] }
        }
    }

    public func deleteChunks(documentID: UUID) async throws -> Int {
        let document = Self.idText(documentID)
        let now = self.now
        return try await self.write { connection in
            try Self.requireRow(
                connection, "SELECT 1 FROM documents WHERE id = ?", document, field: "document_id",
                "document \(document) does not exist")
            let deleted = try connection.run("DELETE FROM chunks WHERE document_id = ?", [.text(document)])
            try connection.run(
                "UPDATE documents SET chunk_count = 0, updated_at = ? WHERE id = ?", [.integer(now), .text(document)])
            return deleted
        }
    }

    public func searchChunksText(_ query: TextSearchQuery) async throws -> [TextMatch] {
        try Self.requireText(query.collection, field: "collection")
        guard !query.query.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw MetadataStoreError.invalid("query", "is required")
        }
        guard (0...1000).contains(query.limit) else {
            throw MetadataStoreError.invalid("limit", "must be between 1 and 1000")
        }
        let limit = query.limit == 0 ? 10 : query.limit
        let filter = try query.filter.map { filter throws(MetadataStoreError) in try filter.sql(column: "d.metadata") }
        let sql = """
            SELECT \(Self.chunkColumns), bm25(chunks_fts), snippet(chunks_fts, 0, ?, ?, '…', 16), \(Self.documentColumns)
            FROM chunks_fts
            JOIN chunks c ON c.pk = chunks_fts.rowid
            JOIN documents d ON d.id = c.document_id
            WHERE chunks_fts MATCH ? AND d.collection = ?\(filter.map { " AND " + $0.sql } ?? "")
            ORDER BY bm25(chunks_fts), c.pk
            LIMIT ?
            """
        func bindings(_ match: String) -> [SQLValue] {
            [.text(query.snippetStart), .text(query.snippetEnd), .text(match), .text(query.collection)]
                + (filter?.bindings ?? []) + [.integer(Int64(limit))]
        }
        let asWritten = bindings(query.query)
        let asWords = bindings(Self.plainWordsQuery(query.query))
        let collection = query.collection
        let cached = filter == nil
        return try await self.read { connection in
            _ = try Self.fetchCollection(connection, collection)
            func run(_ values: [SQLValue]) throws -> [TextMatch] {
                try connection.query(sql, values, cached: cached) { row in
                    TextMatch(
                        chunk: try Self.decodeChunk(row),
                        score: -row.double(7),
                        snippet: row.text(8),
                        document: try Self.decodeDocument(row, from: 9)
                    )
                }
            }
            do {
                return try run(asWritten)
            } catch let error as SQLiteError where error.primaryCode == SQLITE_ERROR {
                // Not valid FTS5 syntax (a stray quote, a hyphen, a colon): search the words instead.
                do {
                    return try run(asWords)
                } catch let error as SQLiteError where error.primaryCode == SQLITE_ERROR {
                    throw MetadataStoreError(.invalidArgument, field: "query", "query: \(error.message)", cause: error)
                }
            }
        }
    }

    /// Each whitespace-separated word as an FTS5 string, so nothing in it is syntax; all must match.
    static func plainWordsQuery(_ text: String) -> String {
        text.split(whereSeparator: { $0.isWhitespace })
            .map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
            .joined(separator: " ")
    }
}
