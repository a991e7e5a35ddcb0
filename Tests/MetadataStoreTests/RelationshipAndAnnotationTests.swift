import Foundation
import MetadataStore
import Testing

@Suite("Relationships, annotations and embedding records")
struct RelationshipAndAnnotationTests {
    @Test("relationships list by source or target and type, page, and delete by key")
    func relationships() async throws {
        try await withStore { store, _ in
            let document = try await store.makeDocument()
            let c = try await store.addChunks(to: document.id, count: 6)
            let edges = (1..<6).map { ChunkRelationship(sourceChunkID: c[0].id, targetChunkID: c[$0].id, type: "similar", weight: Double($0) / 10, metadata: ["n": .number(Double($0))]) }
                + [ChunkRelationship(sourceChunkID: c[0].id, targetChunkID: c[1].id, type: "next")]
            #expect(try await store.addRelationships(edges) == 6)

            var listed: [ChunkRelationship] = []
            var token: String?
            repeat {
                let page = try await store.listRelationships(RelationshipQuery(sourceChunkID: c[0].id), page: PageRequest(size: 4, token: token))
                listed += page.items
                token = page.nextPageToken
            } while token != nil
            #expect(Set(listed) == Set(edges))
            #expect(listed.count == 6)

            let similar = try await store.listRelationships(RelationshipQuery(sourceChunkID: c[0].id, type: "similar"), page: PageRequest())
            #expect(similar.items.count == 5)
            let toOne = try await store.listRelationships(RelationshipQuery(targetChunkID: c[1].id), page: PageRequest())
            #expect(Set(toOne.items.map(\.type)) == ["similar", "next"])
            await expectStoreError(.invalidArgument, field: "source_chunk_id") {
                _ = try await store.listRelationships(RelationshipQuery(type: "next"), page: PageRequest())
            }

            #expect(try await store.deleteRelationship(sourceChunkID: c[0].id, targetChunkID: c[1].id, type: "next"))
            #expect(try await !store.deleteRelationship(sourceChunkID: c[0].id, targetChunkID: c[1].id, type: "next"))
            #expect(try await store.count("chunk_relationships") == 5)
        }
    }

    @Test("neighbors follow edges both ways up to the depth, filtered by type")
    func neighbors() async throws {
        try await withStore { store, _ in
            let document = try await store.makeDocument()
            let c = try await store.addChunks(to: document.id, count: 5)
            // 0 -next-> 1 -next-> 2 -next-> 3, and 4 -cites-> 1
            _ = try await store.addRelationships([
                ChunkRelationship(sourceChunkID: c[0].id, targetChunkID: c[1].id, type: "next"),
                ChunkRelationship(sourceChunkID: c[1].id, targetChunkID: c[2].id, type: "next"),
                ChunkRelationship(sourceChunkID: c[2].id, targetChunkID: c[3].id, type: "next"),
                ChunkRelationship(sourceChunkID: c[4].id, targetChunkID: c[1].id, type: "cites", weight: 0.3),
            ])
            let one = try await store.neighbors(of: c[1].id, types: [], depth: 0)
            #expect(Set(one.chunks.map(\.sequence)) == [0, 2, 4])
            #expect(one.relationships.count == 3)
            let nextOnly = try await store.neighbors(of: c[1].id, types: ["next"], depth: 1)
            #expect(Set(nextOnly.chunks.map(\.sequence)) == [0, 2])
            let two = try await store.neighbors(of: c[0].id, types: ["next"], depth: 2)
            #expect(two.chunks.map(\.sequence) == [1, 2])
            let all = try await store.neighbors(of: c[0].id, types: [], depth: 5)
            #expect(Set(all.chunks.map(\.sequence)) == [1, 2, 3, 4])
            #expect(!all.chunks.contains { $0.id == c[0].id })
            await expectStoreError(.invalidArgument, field: "depth") { _ = try await store.neighbors(of: c[0].id, types: [], depth: 6) }
            await expectStoreError(.notFound, field: "chunk_id") { _ = try await store.neighbors(of: UUID(), types: [], depth: 1) }
        }
    }

    @Test("annotations: add, list by target and type, update with versions, delete")
    func annotations() async throws {
        try await withStore { store, clock in
            let document = try await store.makeDocument()
            let chunk = try await store.addChunks(to: document.id, count: 1)[0]
            var added: [Annotation] = []
            for index in 0..<5 {
                clock.advance(by: 1)
                added.append(try await store.addAnnotation(NewAnnotation(
                    target: .document(document.id), annotator: "model-\(index)", type: index % 2 == 0 ? "label" : "summary",
                    content: ["value": .string("v\(index)"), "nested": .object(["ok": .bool(true)])], confidence: 0.5)))
            }
            let onChunk = try await store.addAnnotation(NewAnnotation(target: .chunk(chunk.id), annotator: "ner", type: "entity", content: ["name": .string("Ada")], confidence: 0.9))
            #expect(onChunk.target == .chunk(chunk.id))
            #expect(onChunk.version == 1)

            var listed: [Annotation] = []
            var token: String?
            repeat {
                let page = try await store.listAnnotations(target: .document(document.id), type: nil, page: PageRequest(size: 2, token: token))
                listed += page.items
                token = page.nextPageToken
            } while token != nil
            #expect(listed == added)
            #expect(try await store.listAnnotations(target: .document(document.id), type: "label", page: PageRequest()).items.map(\.annotator) == ["model-0", "model-2", "model-4"])
            #expect(try await store.listAnnotations(target: .chunk(chunk.id), type: nil, page: PageRequest()).items == [onChunk])

            clock.advance(by: 1)
            let updated = try await store.updateAnnotation(id: added[0].id, expectedVersion: 1, content: ["value": .string("changed")], confidence: 0.75)
            #expect(updated.version == 2)
            #expect(updated.content == ["value": .string("changed")])
            #expect(updated.confidence == 0.75)
            #expect(updated.updatedAt > updated.createdAt)
            await expectStoreError(.aborted, field: "expected_version") {
                _ = try await store.updateAnnotation(id: added[0].id, expectedVersion: 1, content: nil, confidence: 0.1)
            }
            await expectStoreError(.notFound, field: "target.document_id") {
                _ = try await store.addAnnotation(NewAnnotation(target: .document(UUID()), annotator: "m", type: "t"))
            }
            #expect(try await store.deleteAnnotation(id: added[1].id))
            #expect(try await !store.deleteAnnotation(id: added[1].id))
            #expect(try await store.count("annotations") == 5)
        }
    }

    @Test("embedding records: put replaces per chunk and model, list and delete by chunk or document")
    func embeddingRecords() async throws {
        try await withStore { store, _ in
            let document = try await store.makeDocument()
            let chunks = try await store.addChunks(to: document.id, count: 3)
            let records = chunks.map { EmbeddingRecord(chunkID: $0.id, model: "mini", dimension: 4, vectorCollection: "docs", vectorID: "v\($0.sequence)") }
            #expect(try await store.putEmbeddingRecords(records) == 3)
            var again = records[0]
            again.vectorID = "v0-again"
            #expect(try await store.putEmbeddingRecords([again]) == 1)
            let forChunk = try await store.listEmbeddingRecords(.chunk(chunks[0].id))
            #expect(forChunk.map(\.vectorID) == ["v0-again"])
            #expect(try await store.listEmbeddingRecords(.document(document.id)).count == 3)
            await expectStoreError(.notFound, field: "records[0].chunk_id") {
                _ = try await store.putEmbeddingRecords([EmbeddingRecord(chunkID: UUID(), model: "mini", dimension: 4, vectorCollection: "docs", vectorID: "x")])
            }
            #expect(try await store.deleteEmbeddingRecords(.chunk(chunks[1].id)) == 1)
            #expect(try await store.deleteEmbeddingRecords(.document(document.id)) == 2)
            #expect(try await store.count("embedding_records") == 0)
        }
    }
}
