import Foundation
import JSONFilter

extension SQLiteMetadataStore {
    static let relationshipColumns = "r.source_chunk_id, r.target_chunk_id, r.type, r.weight, r.metadata"

    static func decodeRelationship(_ row: SQLiteStatement) throws -> ChunkRelationship {
        ChunkRelationship(
            sourceChunkID: try Self.uuid(row.text(0)),
            targetChunkID: try Self.uuid(row.text(1)),
            type: row.text(2),
            weight: row.double(3),
            metadata: JSONObject(jsonText: row.text(4))
        )
    }

    public func addRelationships(_ relationships: [ChunkRelationship]) async throws -> Int {
        try Self.validate(relationships, field: "relationships")
        let now = self.now
        return try await self.write { connection in
            try Self.insert(relationships, field: "relationships", now: now, connection)
            return relationships.count
        }
    }

    /// Checks what can be checked before the transaction; errors name `field[i]`.
    static func validate(_ relationships: [ChunkRelationship], field: String) throws {
        for (index, relationship) in relationships.enumerated() {
            try Self.requireText(relationship.type, field: "\(field)[\(index)].type", maxLength: 128)
            guard relationship.weight >= 0, relationship.weight <= 1 else {
                throw MetadataStoreError.invalid("\(field)[\(index)].weight", "must be between 0 and 1")
            }
            guard relationship.sourceChunkID != relationship.targetChunkID else {
                throw MetadataStoreError.invalid("\(field)[\(index)].target_chunk_id", "must differ from source_chunk_id")
            }
        }
    }

    /// Inserts validated relationships inside the caller's transaction.
    static func insert(_ relationships: [ChunkRelationship], field: String, now: Int64, _ connection: SQLiteConnection) throws {
        for (index, relationship) in relationships.enumerated() {
            for (id, end) in [(relationship.sourceChunkID, "source_chunk_id"), (relationship.targetChunkID, "target_chunk_id")] {
                try Self.requireRow(
                    connection, "SELECT 1 FROM chunks WHERE id = ?", Self.idText(id), field: "\(field)[\(index)].\(end)",
                    "chunk \(Self.idText(id)) does not exist")
            }
            do {
                try connection.run(
                    """
                    INSERT INTO chunk_relationships (source_chunk_id, target_chunk_id, type, weight, metadata, created_at)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """,
                    [
                        .text(Self.idText(relationship.sourceChunkID)), .text(Self.idText(relationship.targetChunkID)),
                        .text(relationship.type), .real(relationship.weight), .text(relationship.metadata.jsonText),
                        .integer(now),
                    ]
                )
            } catch let error as SQLiteError {
                throw MetadataStoreError(error, fieldPrefix: "\(field)[\(index)].")
            }
        }
    }

    public func listRelationships(_ query: RelationshipQuery, page: PageRequest) async throws -> Page<ChunkRelationship> {
        guard query.sourceChunkID != nil || query.targetChunkID != nil else {
            throw MetadataStoreError.invalid("source_chunk_id", "or target_chunk_id is required")
        }
        let size = try PageToken.size(page)
        let after = try PageToken.decode(page.token, kind: "relationships", count: 3)
        var conditions: [String] = []
        var bindings: [SQLValue] = []
        if let source = query.sourceChunkID {
            conditions.append("r.source_chunk_id = ?")
            bindings.append(.text(Self.idText(source)))
        }
        if let target = query.targetChunkID {
            conditions.append("r.target_chunk_id = ?")
            bindings.append(.text(Self.idText(target)))
        }
        if let type = query.type, !type.isEmpty {
            conditions.append("r.type = ?")
            bindings.append(.text(type))
        }
        if let after {
            conditions.append("(r.source_chunk_id, r.target_chunk_id, r.type) > (?, ?, ?)")
            bindings.append(contentsOf: after.map { .text($0) })
        }
        bindings.append(.integer(Int64(size + 1)))
        let sql = """
            SELECT \(Self.relationshipColumns) FROM chunk_relationships r
            WHERE \(conditions.joined(separator: " AND "))
            ORDER BY r.source_chunk_id, r.target_chunk_id, r.type LIMIT ?
            """
        let finalBindings = bindings
        return try await self.read { connection in
            let rows = try connection.query(sql, finalBindings, Self.decodeRelationship)
            return PageToken.page(rows, size: size, kind: "relationships") {
                [Self.idText($0.sourceChunkID), Self.idText($0.targetChunkID), $0.type]
            }
        }
    }

    /// Most chunks `neighbors` returns, so a dense graph cannot make one call unbounded.
    static let maximumNeighbors = 1000

    public func neighbors(of chunkID: UUID, types: [String], depth: Int) async throws -> Neighborhood {
        let hops = depth == 0 ? 1 : depth
        guard (1...5).contains(hops) else {
            throw MetadataStoreError.invalid("depth", "must be between 1 and 5")
        }
        let typeList = JSONValue.array(types.map { .string($0) }).jsonText
        let start = Self.idText(chunkID)
        return try await self.read { connection in
            try Self.requireRow(connection, "SELECT 1 FROM chunks WHERE id = ?", start, field: "chunk_id", "chunk \(start) does not exist")
            var visited: Set<String> = [start]
            var order: [String] = []
            var frontier: [String] = [start]
            var edges: [ChunkRelationship] = []
            var seenEdges: Set<ChunkRelationship> = []
            for _ in 0..<hops where !frontier.isEmpty && order.count < Self.maximumNeighbors {
                var next: [String] = []
                for node in frontier {
                    let found = try connection.query(
                        """
                        SELECT \(Self.relationshipColumns) FROM chunk_relationships r
                        WHERE (r.source_chunk_id = ?1 OR r.target_chunk_id = ?1)
                          AND (json_array_length(?2) = 0 OR r.type IN (SELECT value FROM json_each(?2)))
                        ORDER BY r.weight DESC, r.source_chunk_id, r.target_chunk_id, r.type
                        """,
                        [.text(node), .text(typeList)],
                        Self.decodeRelationship
                    )
                    for edge in found {
                        if seenEdges.insert(edge).inserted {
                            edges.append(edge)
                        }
                        let source = Self.idText(edge.sourceChunkID)
                        let other = source == node ? Self.idText(edge.targetChunkID) : source
                        if order.count < Self.maximumNeighbors, visited.insert(other).inserted {
                            order.append(other)
                            next.append(other)
                        }
                    }
                }
                frontier = next
            }
            var chunks: [Chunk] = []
            for id in order {
                if let chunk = try connection.queryFirst(
                    "SELECT \(Self.chunkColumns) FROM chunks c WHERE c.id = ?", [.text(id)], Self.decodeChunk)
                {
                    chunks.append(chunk)
                }
            }
            return Neighborhood(chunks: chunks, relationships: edges)
        }
    }

    public func deleteRelationship(sourceChunkID: UUID, targetChunkID: UUID, type: String) async throws -> Bool {
        try await self.write { connection in
            try connection.run(
                "DELETE FROM chunk_relationships WHERE source_chunk_id = ? AND target_chunk_id = ? AND type = ?",
                [.text(Self.idText(sourceChunkID)), .text(Self.idText(targetChunkID)), .text(type)]
            ) > 0
        }
    }
}
