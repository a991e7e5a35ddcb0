import Foundation
import MetadataStore
import Testing

/// Every constraint comes back as a typed error that names the field: first through the store's
/// API (checked in Swift), then straight against the schema (checked by SQLite), so that rows
/// written by anything else are held to the same rules.
@Suite("Constraints")
struct ConstraintTests {
    @Test("collection names are unique")
    func uniqueCollectionName() async throws {
        try await withStore { store, _ in
            _ = try await store.createCollection(DocumentCollection(name: "docs", embeddingModel: "mini", dimension: 4))
            let error = await expectStoreError(.alreadyExists, field: "name") {
                _ = try await store.createCollection(DocumentCollection(name: "docs", embeddingModel: "other", dimension: 8))
            }
            #expect(error?.message == "name: a collection with this name already exists")
        }
    }

    @Test("collection fields are validated")
    func collectionFields() async throws {
        try await withStore { store, _ in
            await expectStoreError(.invalidArgument, field: "name") {
                _ = try await store.createCollection(DocumentCollection(name: "has space", embeddingModel: "m", dimension: 4))
            }
            await expectStoreError(.invalidArgument, field: "name") {
                _ = try await store.createCollection(DocumentCollection(name: String(repeating: "a", count: 129), embeddingModel: "m", dimension: 4))
            }
            await expectStoreError(.invalidArgument, field: "embedding_model") {
                _ = try await store.createCollection(DocumentCollection(name: "a", embeddingModel: "", dimension: 4))
            }
            await expectStoreError(.invalidArgument, field: "dimension") {
                _ = try await store.createCollection(DocumentCollection(name: "a", embeddingModel: "m", dimension: 0))
            }
            await expectStoreError(.invalidArgument, field: "chunking.overlap") {
                _ = try await store.createCollection(
                    DocumentCollection(name: "a", embeddingModel: "m", dimension: 4, chunking: ChunkingOptions(unit: .tokens, size: 100, overlap: 100)))
            }
            await expectStoreError(.notFound, field: "collection") {
                _ = try await store.collection(named: "missing")
            }
        }
    }

    @Test("a collection pins its model and dimension")
    func pinnedModelAndDimension() async throws {
        try await withStore { store, _ in
            let document = try await store.makeDocument()
            let chunk = try await store.addChunks(to: document.id, count: 1)[0]
            let good = EmbeddingRecord(chunkID: chunk.id, model: "mini", dimension: 4, vectorCollection: "docs", vectorID: "v1")
            #expect(try await store.putEmbeddingRecords([good]) == 1)

            var wrongDimension = good
            wrongDimension.dimension = 8
            await expectStoreError(.invalidArgument, field: "records[0].dimension") {
                _ = try await store.putEmbeddingRecords([wrongDimension])
            }
            var wrongModel = good
            wrongModel.model = "other-model"
            await expectStoreError(.invalidArgument, field: "records[0].model") {
                _ = try await store.putEmbeddingRecords([wrongModel])
            }
            // Through SQL too: the collection row cannot change its model or dimension.
            let model = await store.rawSQLError("UPDATE collections SET embedding_model = 'x' WHERE name = 'docs'")
            #expect(model?.code == .invalidArgument)
            #expect(model?.field == "embedding_model")
            let dimension = await store.rawSQLError("UPDATE collections SET dimension = 9 WHERE name = 'docs'")
            #expect(dimension?.field == "dimension")
            #expect(try await store.collection(named: "docs").dimension == 4)
            #expect(try await store.listEmbeddingRecords(.chunk(chunk.id)).map(\.dimension) == [4])
        }
    }

    @Test("sha256 is unique per collection: the same content returns the existing document")
    func sha256PerCollection() async throws {
        try await withStore { store, _ in
            let first = try await store.makeDocument(seed: 7)
            let again = try await store.createDocument(NewDocument(collection: "docs", filename: "copy.txt", sha256: sha(7).uppercased()))
            #expect(again.alreadyExisted)
            #expect(again.document == first)
            #expect(try await store.count("documents") == 1)

            // Another collection may hold the same content.
            let other = try await store.makeDocument(collection: "other", seed: 7)
            #expect(other.id != first.id)

            // And the schema enforces it for writers that skip the lookup.
            let error = await store.rawSQLError(
                """
                INSERT INTO documents (id, collection, sha256, created_at, updated_at)
                VALUES ('00000000-0000-0000-0000-000000000001', 'docs', '\(sha(7))', 0, 0)
                """)
            #expect(error?.code == .alreadyExists)
            #expect(error?.field == "sha256")
        }
    }

    @Test("document fields are validated")
    func documentFields() async throws {
        try await withStore { store, _ in
            _ = try await store.createCollection(DocumentCollection(name: "docs", embeddingModel: "m", dimension: 4))
            await expectStoreError(.invalidArgument, field: "sha256") {
                _ = try await store.createDocument(NewDocument(collection: "docs", sha256: "abc"))
            }
            await expectStoreError(.invalidArgument, field: "sha256") {
                _ = try await store.createDocument(NewDocument(collection: "docs", sha256: String(repeating: "g", count: 64)))
            }
            await expectStoreError(.invalidArgument, field: "size_bytes") {
                _ = try await store.createDocument(NewDocument(collection: "docs", sha256: sha(1), sizeBytes: -1))
            }
            await expectStoreError(.notFound, field: "collection") {
                _ = try await store.createDocument(NewDocument(collection: "nope", sha256: sha(1)))
            }
            let status = await store.rawSQLError(
                "INSERT INTO documents (id, collection, sha256, status, created_at, updated_at) VALUES ('x', 'docs', '\(sha(2))', 'done', 0, 0)")
            #expect(status?.code == .invalidArgument)
            #expect(status?.field == "status")
            let malformed = await store.rawSQLError(
                "INSERT INTO documents (id, collection, sha256, created_at, updated_at) VALUES ('x', 'docs', '\(sha(2).uppercased().replacingOccurrences(of: "0", with: "A"))', 0, 0)")
            #expect(malformed?.field == "sha256")
        }
    }

    @Test("chunk sequence numbers are unique per document")
    func uniqueSequence() async throws {
        try await withStore { store, _ in
            let document = try await store.makeDocument()
            _ = try await store.addChunks(to: document.id, count: 3)
            let error = await expectStoreError(.alreadyExists, field: "chunks[1].sequence") {
                _ = try await store.putChunks(
                    documentID: document.id,
                    [NewChunk(sequence: 3, content: "new", startOffset: 0, endOffset: 1), NewChunk(sequence: 2, content: "dup", startOffset: 0, endOffset: 1)],
                    replaceExisting: false)
            }
            #expect(error?.message == "chunks[1].sequence: a chunk with this sequence already exists")
            // Another document may use the same sequence numbers.
            let other = try await store.makeDocument(seed: 2)
            #expect(try await store.addChunks(to: other.id, count: 3).count == 3)
        }
    }

    @Test("a chunk's end offset is after its start")
    func offsets() async throws {
        try await withStore { store, _ in
            let document = try await store.makeDocument()
            await expectStoreError(.invalidArgument, field: "chunks[0].end_offset") {
                _ = try await store.putChunks(documentID: document.id, [NewChunk(sequence: 0, content: "x", startOffset: 5, endOffset: 5)], replaceExisting: false)
            }
            await expectStoreError(.invalidArgument, field: "chunks[0].start_offset") {
                _ = try await store.putChunks(documentID: document.id, [NewChunk(sequence: 0, content: "x", startOffset: -1, endOffset: 5)], replaceExisting: false)
            }
            await expectStoreError(.invalidArgument, field: "chunks[0].sequence") {
                _ = try await store.putChunks(documentID: document.id, [NewChunk(sequence: -1, content: "x", startOffset: 0, endOffset: 5)], replaceExisting: false)
            }
            let error = await store.rawSQLError(
                """
                INSERT INTO chunks (id, document_id, sequence, content, start_offset, end_offset)
                VALUES ('c', '\(document.id.uuidString.lowercased())', 0, 'x', 9, 3)
                """)
            #expect(error?.code == .invalidArgument)
            #expect(error?.field == "end_offset")
            let notNull = await store.rawSQLError(
                "INSERT INTO chunks (id, document_id, sequence, start_offset, end_offset) VALUES ('c', '\(document.id.uuidString.lowercased())', 0, 0, 1)")
            #expect(notNull?.code == .invalidArgument)
            #expect(notNull?.field == "content")
            #expect(try await store.count("chunks") == 0)
        }
    }

    @Test("relationship weights lie in 0...1 and keys are unique")
    func relationshipConstraints() async throws {
        try await withStore { store, _ in
            let document = try await store.makeDocument()
            let chunks = try await store.addChunks(to: document.id, count: 2)
            for weight in [-0.01, 1.01, Double.nan] {
                await expectStoreError(.invalidArgument, field: "relationships[0].weight") {
                    _ = try await store.addRelationships([ChunkRelationship(sourceChunkID: chunks[0].id, targetChunkID: chunks[1].id, type: "next", weight: weight)])
                }
            }
            #expect(try await store.addRelationships([ChunkRelationship(sourceChunkID: chunks[0].id, targetChunkID: chunks[1].id, type: "next", weight: 0)]) == 1)
            #expect(try await store.addRelationships([ChunkRelationship(sourceChunkID: chunks[0].id, targetChunkID: chunks[1].id, type: "cites", weight: 1)]) == 1)
            await expectStoreError(.alreadyExists, field: "relationships[0].relationship") {
                _ = try await store.addRelationships([ChunkRelationship(sourceChunkID: chunks[0].id, targetChunkID: chunks[1].id, type: "next", weight: 0.5)])
            }
            await expectStoreError(.notFound, field: "relationships[0].target_chunk_id") {
                _ = try await store.addRelationships([ChunkRelationship(sourceChunkID: chunks[0].id, targetChunkID: UUID(), type: "x")])
            }
            let (a, b) = (chunks[0].id.uuidString.lowercased(), chunks[1].id.uuidString.lowercased())
            let error = await store.rawSQLError(
                "INSERT INTO chunk_relationships (source_chunk_id, target_chunk_id, type, weight, created_at) VALUES ('\(a)', '\(b)', 'sim', 1.5, 0)")
            #expect(error?.code == .invalidArgument)
            #expect(error?.field == "weight")
            let foreignKey = await store.rawSQLError(
                "INSERT INTO chunk_relationships (source_chunk_id, target_chunk_id, type, weight, created_at) VALUES ('\(a)', 'missing', 'sim', 0.5, 0)")
            #expect(foreignKey?.code == .notFound)
            #expect(try await store.count("chunk_relationships") == 2)
        }
    }

    @Test("annotation confidence lies in 0...1")
    func confidence() async throws {
        try await withStore { store, _ in
            let document = try await store.makeDocument()
            for confidence in [-0.5, 1.5] {
                await expectStoreError(.invalidArgument, field: "confidence") {
                    _ = try await store.addAnnotation(NewAnnotation(target: .document(document.id), annotator: "m", type: "label", confidence: confidence))
                }
            }
            let annotation = try await store.addAnnotation(NewAnnotation(target: .document(document.id), annotator: "m", type: "label", confidence: 1))
            await expectStoreError(.invalidArgument, field: "confidence") {
                _ = try await store.updateAnnotation(id: annotation.id, expectedVersion: nil, content: nil, confidence: 2)
            }
            let error = await store.rawSQLError("UPDATE annotations SET confidence = -1")
            #expect(error?.code == .invalidArgument)
            #expect(error?.field == "confidence")
            let target = await store.rawSQLError(
                "INSERT INTO annotations (id, annotator, type, created_at, updated_at) VALUES ('a', 'm', 't', 0, 0)")
            #expect(target?.field == "target")
        }
    }

    @Test("API key secret hashes are unique")
    func uniqueSecretHash() async throws {
        try await withStore { store, _ in
            _ = try await store.createAPIKey(NewAPIKey(id: "k1", name: "one", role: .admin, secretHash: "hash-1"))
            await expectStoreError(.alreadyExists, field: "secret_hash") {
                _ = try await store.createAPIKey(NewAPIKey(id: "k2", name: "two", role: .admin, secretHash: "hash-1"))
            }
            await expectStoreError(.alreadyExists, field: "id") {
                _ = try await store.createAPIKey(NewAPIKey(id: "k1", name: "three", role: .admin, secretHash: "hash-3"))
            }
        }
    }

    @Test("SQLITE_FULL is a storage-full error, busy is unavailable, corrupt is data loss")
    func resultCodeMapping() {
        #expect(MetadataStoreError(SQLiteError(code: 13, message: "database or disk is full")).code == .storageFull)
        #expect(MetadataStoreError(SQLiteError(code: 5, message: "database is locked")).code == .unavailable)
        #expect(MetadataStoreError(SQLiteError(code: 11, message: "database disk image is malformed")).code == .dataLoss)
        #expect(MetadataStoreError(SQLiteError(code: 1, message: "no such table")).code == .internalError)
    }

    @Test("a full disk surfaces as storage full")
    func fullDisk() async throws {
        try await withStore { store, _ in
            let document = try await store.makeDocument()
            // Cap the file at its current size so the next big write cannot grow it.
            try await store.withWriterConnection { connection in
                let pages = try connection.queryFirst("PRAGMA page_count") { $0.int(0) } ?? 0
                try connection.execute("PRAGMA max_page_count = \(pages)")
            }
            let big = String(repeating: "lorem ipsum ", count: 50_000)
            await expectStoreError(.storageFull) {
                _ = try await store.putChunks(
                    documentID: document.id, (0..<20).map { NewChunk(sequence: $0, content: big, startOffset: 0, endOffset: 1) },
                    replaceExisting: false)
            }
            #expect(try await store.getDocument(id: document.id, includeChunks: true).chunks.isEmpty)
        }
    }
}

@Suite("UUID text")
struct UUIDTextTests {
    @Test("lowercasedText is uuidString in lower case, for every byte value")
    func matchesFoundation() {
        var ids = (0..<1000).map { _ in UUID() }
        ids.append(UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)))
        ids.append(UUID(uuid: (255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255)))
        for id in ids {
            #expect(id.lowercasedText == id.uuidString.lowercased())
        }
    }
}
