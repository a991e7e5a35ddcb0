import Foundation

extension SQLiteMetadataStore {
    /// The tables `stats` counts, in the order it reports them.
    static let statsTables = [
        "collections", "documents", "chunks", "chunk_relationships", "annotations", "embedding_records", "api_keys",
        "audit_events",
    ]

    // MARK: Stats and retention

    public func stats() async throws -> StoreStats {
        let walPath = self.configuration.path + "-wal"
        return try await self.read { connection in
            var tables: [TableStats] = []
            for table in Self.statsTables {
                let rows = try connection.queryFirst("SELECT count(*) FROM \(table)") { $0.int(0) } ?? 0
                tables.append(TableStats(table: table, rows: rows))
            }
            let pageSize = try connection.queryFirst("PRAGMA page_size") { $0.int64(0) } ?? 0
            let pageCount = try connection.queryFirst("PRAGMA page_count") { $0.int64(0) } ?? 0
            let freePages = try connection.queryFirst("PRAGMA freelist_count") { $0.int64(0) } ?? 0
            // dbstat reads every page of the indexes; this is a monitoring call, not a hot path.
            let indexBytes = try connection.queryFirst(
                """
                SELECT coalesce(sum(s.pgsize), 0) FROM dbstat s JOIN sqlite_schema m ON m.name = s.name
                WHERE m.type = 'index' OR m.name GLOB 'chunks_fts_*'
                """
            ) { $0.int64(0) } ?? 0
            var documentsByStatus: [DocumentStatus: Int] = [:]
            for (status, count) in try connection.query("SELECT status, count(*) FROM documents GROUP BY status", [], { ($0.text(0), $0.int(1)) }) {
                if let status = DocumentStatus(rawValue: status) { documentsByStatus[status] = count }
            }
            let walBytes = ((try? FileManager.default.attributesOfItem(atPath: walPath))?[.size] as? NSNumber)?.int64Value ?? 0
            return StoreStats(
                tables: tables, databaseBytes: pageSize * pageCount, indexBytes: indexBytes, walBytes: walBytes,
                freePages: freePages, documentsByStatus: documentsByStatus)
        }
    }

    public func collectionCounts() async throws -> [CollectionCounts] {
        try await self.read { connection in
            // Every collection, the empty ones too; chunk_count is kept by putChunks/deleteChunks.
            try connection.query(
                """
                SELECT c.name, count(d.id), coalesce(sum(d.chunk_count), 0)
                FROM collections c LEFT JOIN documents d ON d.collection = c.name
                GROUP BY c.name ORDER BY c.name
                """,
                []
            ) { CollectionCounts(collection: $0.text(0), documents: $0.int(1), chunks: $0.int(2)) }
        }
    }

    /// Documents deleted per transaction by retention, so a large sweep does not hold the write lock for long.
    static let retentionBatchSize = 500

    public func applyRetention(documentMaxAge: Duration?, auditMaxAge: Duration?, dryRun: Bool) async throws -> RetentionResult {
        let now = self.configuration.clock()
        let documentAge = documentMaxAge ?? self.configuration.retention.documentMaxAge
        let auditAge = auditMaxAge ?? self.configuration.retention.auditMaxAge
        for (age, field) in [(documentAge, "max_age_seconds"), (auditAge, "audit_max_age_seconds")] {
            if let age, age <= .zero {
                throw MetadataStoreError.invalid(field, "must be positive")
            }
        }
        let documentCutoff = documentAge.map { Self.microseconds(now.addingTimeInterval(-Self.seconds($0))) }
        let auditCutoff = auditAge.map { Self.microseconds(now.addingTimeInterval(-Self.seconds($0))) }

        var result = RetentionResult(documentsDeleted: 0, auditEventsDeleted: 0, documents: [])
        if let documentCutoff {
            let select = """
                SELECT \(Self.documentColumns) FROM documents d
                WHERE d.status = 'completed' AND d.created_at < ? AND (d.created_at, d.id) > (?, ?)
                ORDER BY d.created_at, d.id LIMIT ?
                """
            var after: (Int64, String) = (Int64.min, "")
            while true {
                let cursor = after
                let batch = try await self.write { connection in
                    let batch = try connection.query(
                        select,
                        [.integer(documentCutoff), .integer(cursor.0), .text(cursor.1), .integer(Int64(Self.retentionBatchSize))]
                    ) { try Self.decodeDocument($0) }
                    if !dryRun {
                        _ = try Self.deleteDocuments(connection, ids: batch.map { Self.idText($0.id) })
                    }
                    return batch
                }
                result.documents += batch
                guard let last = batch.last, batch.count == Self.retentionBatchSize else { break }
                after = (Self.microseconds(last.createdAt), Self.idText(last.id))
            }
            result.documentsDeleted = result.documents.count
        }
        if let auditCutoff {
            result.auditEventsDeleted = try await self.write { connection in
                dryRun
                    ? try connection.queryFirst("SELECT count(*) FROM audit_events WHERE time < ?", [.integer(auditCutoff)]) { $0.int(0) } ?? 0
                    : try connection.run("DELETE FROM audit_events WHERE time < ?", [.integer(auditCutoff)])
            }
        }
        return result
    }

    // MARK: API keys

    static let apiKeyColumns = "id, name, role, collections, created_at, revoked_at, last_used_at"

    static func decodeAPIKey(_ row: SQLiteStatement) throws -> APIKey {
        APIKey(
            id: row.text(0),
            name: row.text(1),
            role: APIKeyRole(rawValue: row.text(2)) ?? .readOnly,
            collections: Self.stringArray(row.text(3)),
            createdAt: Self.date(row.int64(4)),
            revokedAt: Self.optionalDate(row.optionalInt64(5)),
            lastUsedAt: Self.optionalDate(row.optionalInt64(6))
        )
    }

    static func fetchAPIKey(_ connection: SQLiteConnection, _ id: String) throws -> APIKey {
        guard let key = try connection.queryFirst("SELECT \(apiKeyColumns) FROM api_keys WHERE id = ?", [.text(id)], Self.decodeAPIKey) else {
            throw MetadataStoreError.notFound("id", "API key '\(id)' does not exist")
        }
        return key
    }

    public func createAPIKey(_ key: NewAPIKey) async throws -> APIKey {
        try Self.requireText(key.id, field: "id", maxLength: 128)
        try Self.requireText(key.name, field: "name", maxLength: 256)
        try Self.requireText(key.secretHash, field: "secret_hash")
        let now = self.now
        return try await self.write { connection in
            try connection.run(
                "INSERT INTO api_keys (id, name, role, collections, secret_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    .text(key.id), .text(key.name), .text(key.role.rawValue), .text(Self.jsonText(key.collections)),
                    .text(key.secretHash), .integer(now),
                ]
            )
            return try Self.fetchAPIKey(connection, key.id)
        }
    }

    public func listAPIKeys(includeRevoked: Bool) async throws -> [APIKey] {
        try await self.read { connection in
            try connection.query(
                "SELECT \(Self.apiKeyColumns) FROM api_keys WHERE ? OR revoked_at IS NULL ORDER BY created_at, id",
                [.integer(includeRevoked ? 1 : 0)], Self.decodeAPIKey)
        }
    }

    public func revokeAPIKey(id: String) async throws -> APIKey {
        let now = self.now
        return try await self.write { connection in
            _ = try Self.fetchAPIKey(connection, id)
            try connection.run("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", [.integer(now), .text(id)])
            return try Self.fetchAPIKey(connection, id)
        }
    }

    /// `last_used_at` is written at most this often per key, so authentication is not a disk write per request.
    static let lastUsedResolution: Int64 = 60_000_000

    public func authenticateAPIKey(secretHash: String) async throws -> APIKey? {
        guard !secretHash.isEmpty else { return nil }
        let now = self.now
        let key = try await self.read { connection in
            try connection.queryFirst(
                "SELECT \(Self.apiKeyColumns) FROM api_keys WHERE secret_hash = ? AND revoked_at IS NULL",
                [.text(secretHash)], Self.decodeAPIKey)
        }
        guard var key else { return nil }
        let lastUsed = key.lastUsedAt.map(Self.microseconds)
        if lastUsed.map({ now - $0 >= Self.lastUsedResolution }) ?? true {
            let id = key.id
            _ = try await self.write { connection in
                try connection.run("UPDATE api_keys SET last_used_at = ? WHERE id = ?", [.integer(now), .text(id)])
            }
            key.lastUsedAt = Self.date(now)
        }
        return key
    }

    // MARK: Audit events

    static func decodeAuditEvent(_ row: SQLiteStatement) throws -> AuditEvent {
        AuditEvent(
            id: row.text(0),
            time: Self.date(row.int64(1)),
            keyID: row.optionalText(2),
            service: row.text(3),
            method: row.text(4),
            targetIDs: Self.stringArray(row.text(5)),
            outcome: row.text(6),
            requestID: row.text(7)
        )
    }

    public func recordAuditEvents(_ events: [AuditEvent]) async throws -> Int {
        for (index, event) in events.enumerated() {
            try Self.requireText(event.id, field: "events[\(index)].id", maxLength: 128)
            try Self.requireText(event.service, field: "events[\(index)].service", maxLength: 128)
            try Self.requireText(event.method, field: "events[\(index)].method", maxLength: 256)
        }
        return try await self.write { connection in
            for (index, event) in events.enumerated() {
                do {
                    try connection.run(
                        """
                        INSERT INTO audit_events (id, time, key_id, service, method, target_ids, outcome, request_id)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                        [
                            .text(event.id), .integer(Self.microseconds(event.time)), event.keyID.map { .text($0) } ?? .null,
                            .text(event.service), .text(event.method), .text(Self.jsonText(event.targetIDs)),
                            .text(event.outcome), .text(event.requestID),
                        ]
                    )
                } catch let error as SQLiteError {
                    throw MetadataStoreError(error, fieldPrefix: "events[\(index)].")
                }
            }
            return events.count
        }
    }

    public func listAuditEvents(_ query: AuditQuery, page: PageRequest) async throws -> Page<AuditEvent> {
        let size = try PageToken.size(page)
        let after = try PageToken.decode(page.token, kind: "audit", count: 2)
        var conditions: [String] = []
        var bindings: [SQLValue] = []
        for (column, value) in [("key_id", query.keyID), ("service", query.service), ("method", query.method)] {
            if let value, !value.isEmpty {
                conditions.append("\(column) = ?")
                bindings.append(.text(value))
            }
        }
        if let since = query.since {
            conditions.append("time >= ?")
            bindings.append(.integer(Self.microseconds(since)))
        }
        if let until = query.until {
            conditions.append("time < ?")
            bindings.append(.integer(Self.microseconds(until)))
        }
        if let after {
            guard let time = Int64(after[0]) else {
                throw MetadataStoreError.invalid("page_token", "is not a token from this list call")
            }
            conditions.append("(time, id) > (?, ?)")
            bindings.append(contentsOf: [.integer(time), .text(after[1])])
        }
        bindings.append(.integer(Int64(size + 1)))
        let sql = """
            SELECT id, time, key_id, service, method, target_ids, outcome, request_id FROM audit_events
            \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
            ORDER BY time, id LIMIT ?
            """
        let finalBindings = bindings
        return try await self.read { connection in
            let rows = try connection.query(sql, finalBindings, Self.decodeAuditEvent)
            return PageToken.page(rows, size: size, kind: "audit") { [String(Self.microseconds($0.time)), $0.id] }
        }
    }
}
