import Foundation
import JSONFilter

extension SQLiteMetadataStore {
    static let collectionColumns =
        "name, embedding_model, dimension, metric, chunk_unit, chunk_size, chunk_overlap, metadata, created_at"

    static func decodeCollection(_ row: SQLiteStatement) throws -> DocumentCollection {
        DocumentCollection(
            name: row.text(0),
            embeddingModel: row.text(1),
            dimension: row.int(2),
            metric: DistanceMetric(rawValue: row.text(3)) ?? .cosine,
            chunking: ChunkingOptions(
                unit: row.optionalText(4).flatMap(ChunkUnit.init(rawValue:)),
                size: row.int(5),
                overlap: row.int(6)
            ),
            metadata: JSONObject(jsonText: row.text(7)),
            createdAt: Self.date(row.int64(8))
        )
    }

    static func validateChunking(_ chunking: ChunkingOptions) throws(MetadataStoreError) {
        if chunking.size < 0 {
            throw MetadataStoreError.invalid("chunking.size", "must not be negative")
        }
        if chunking.overlap < 0 || (chunking.overlap > 0 && chunking.overlap >= chunking.size) {
            throw MetadataStoreError.invalid("chunking.overlap", "must be smaller than chunking.size")
        }
    }

    static func fetchCollection(_ connection: SQLiteConnection, _ name: String) throws -> DocumentCollection {
        let collection = try connection.queryFirst(
            "SELECT \(collectionColumns) FROM collections WHERE name = ?", [.text(name)], Self.decodeCollection)
        guard let collection else {
            throw MetadataStoreError.notFound("collection", "collection '\(name)' does not exist")
        }
        return collection
    }

    public func createCollection(_ collection: DocumentCollection) async throws -> DocumentCollection {
        let name = collection.name
        guard (1...128).contains(name.utf8.count),
            name.utf8.allSatisfy({ byte in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-")
                    || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
            })
        else {
            throw MetadataStoreError.invalid("name", "must be 1 to 128 letters, digits, '-', '_' or '.'")
        }
        try Self.requireText(collection.embeddingModel, field: "embedding_model")
        guard collection.dimension > 0 else {
            throw MetadataStoreError.invalid("dimension", "must be positive")
        }
        try Self.validateChunking(collection.chunking)
        let createdAt = self.now
        return try await self.write { connection in
            try connection.run(
                """
                INSERT INTO collections (name, embedding_model, dimension, metric, chunk_unit, chunk_size, chunk_overlap, metadata, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    .text(name), .text(collection.embeddingModel), .integer(Int64(collection.dimension)),
                    .text(collection.metric.rawValue), collection.chunking.unit.map { .text($0.rawValue) } ?? .null,
                    .integer(Int64(collection.chunking.size)), .integer(Int64(collection.chunking.overlap)),
                    .text(collection.metadata.jsonText), .integer(createdAt),
                ]
            )
            return try Self.fetchCollection(connection, name)
        }
    }

    public func collection(named name: String) async throws -> DocumentCollection {
        try await self.read { connection in try Self.fetchCollection(connection, name) }
    }

    public func listCollections(page: PageRequest) async throws -> Page<DocumentCollection> {
        let size = try PageToken.size(page)
        let after = try PageToken.decode(page.token, kind: "collections", count: 1)?[0]
        return try await self.read { connection in
            let rows = try connection.query(
                "SELECT \(Self.collectionColumns) FROM collections WHERE ? IS NULL OR name > ? ORDER BY name LIMIT ?",
                [after.map { .text($0) } ?? .null, after.map { .text($0) } ?? .null, .integer(Int64(size + 1))],
                Self.decodeCollection
            )
            return PageToken.page(rows, size: size, kind: "collections") { [$0.name] }
        }
    }

    public func updateCollection(named name: String, chunking: ChunkingOptions?, metadata: JSONObject?) async throws -> DocumentCollection {
        if let chunking {
            try Self.validateChunking(chunking)
        }
        return try await self.write { connection in
            var collection = try Self.fetchCollection(connection, name)
            if let chunking { collection.chunking = chunking }
            if let metadata { collection.metadata = metadata }
            try connection.run(
                "UPDATE collections SET chunk_unit = ?, chunk_size = ?, chunk_overlap = ?, metadata = ? WHERE name = ?",
                [
                    collection.chunking.unit.map { .text($0.rawValue) } ?? .null,
                    .integer(Int64(collection.chunking.size)), .integer(Int64(collection.chunking.overlap)),
                    .text(collection.metadata.jsonText), .text(name),
                ]
            )
            return collection
        }
    }

    public func deleteCollection(named name: String) async throws -> Int {
        try await self.write { connection in
            _ = try Self.fetchCollection(connection, name)
            let documents = try connection.queryFirst(
                "SELECT count(*) FROM documents WHERE collection = ?", [.text(name)]) { $0.int(0) } ?? 0
            try connection.run("DELETE FROM collections WHERE name = ?", [.text(name)])
            return documents
        }
    }
}
