import Foundation
import MetadataStore
import Testing

@Suite("Chunks and full-text search")
struct ChunkTests {
    @Test("put chunks writes thousands in one call and keeps the document's count")
    func bulkPut() async throws {
        try await withStore { store, _ in
            let document = try await store.makeDocument()
            let stored = try await store.addChunks(to: document.id, count: 5000)
            #expect(stored.count == 5000)
            #expect(Set(stored.map(\.id)).count == 5000)
            let detail = try await store.getDocument(id: document.id, includeChunks: true)
            #expect(detail.document.chunkCount == 5000)
            #expect(detail.chunks.map(\.sequence) == Array(0..<5000))
            #expect(detail.chunks[42] == stored[42])
            // Chunk writes do not bump the version that status updates are checked against.
            #expect(detail.document.version == 1)
        }
    }

    @Test("a batch with one bad chunk writes none of them")
    func allOrNothing() async throws {
        try await withStore { store, _ in
            let document = try await store.makeDocument()
            _ = try await store.addChunks(to: document.id, count: 2)
            var batch = (2..<1002).map { NewChunk(sequence: $0, content: "c\($0)", startOffset: 0, endOffset: 1) }
            // Caught by SQLite, not by validation: the sequence clashes with a stored chunk.
            batch[999] = NewChunk(sequence: 1, content: "clash", startOffset: 0, endOffset: 1)
            await expectStoreError(.alreadyExists, field: "chunks[999].sequence") {
                _ = try await store.putChunks(documentID: document.id, batch, replaceExisting: false)
            }
            // Two chunks of the same batch with the same sequence.
            batch[999] = NewChunk(sequence: 2, content: "twin", startOffset: 0, endOffset: 1)
            await expectStoreError(.alreadyExists, field: "chunks[999].sequence") {
                _ = try await store.putChunks(documentID: document.id, batch, replaceExisting: false)
            }
            batch[999] = NewChunk(sequence: 1001, content: "bad", startOffset: 4, endOffset: 2)
            await expectStoreError(.invalidArgument, field: "chunks[999].end_offset") {
                _ = try await store.putChunks(documentID: document.id, batch, replaceExisting: false)
            }
            let detail = try await store.getDocument(id: document.id, includeChunks: true)
            #expect(detail.chunks.count == 2)
            #expect(detail.document.chunkCount == 2)
            #expect(try await store.searchChunksText(TextSearchQuery(collection: "docs", query: "clash OR twin")).isEmpty)
            await expectStoreError(.notFound, field: "document_id") {
                _ = try await store.putChunks(documentID: UUID(), [NewChunk(sequence: 0, content: "x", startOffset: 0, endOffset: 1)], replaceExisting: false)
            }
        }
    }

    @Test("replacing chunks removes the old ones with what hangs off them")
    func replace() async throws {
        try await withStore { store, _ in
            let document = try await store.makeDocument()
            let old = try await store.addChunks(to: document.id, count: 3, contents: ["old one", "old two", "old three"])
            _ = try await store.addRelationships([ChunkRelationship(sourceChunkID: old[0].id, targetChunkID: old[1].id, type: "next")])
            _ = try await store.putEmbeddingRecords([EmbeddingRecord(chunkID: old[0].id, model: "mini", dimension: 4, vectorCollection: "docs", vectorID: "1")])
            let fresh = try await store.putChunks(
                documentID: document.id, [NewChunk(sequence: 0, content: "new text", startOffset: 0, endOffset: 8)], replaceExisting: true)
            let detail = try await store.getDocument(id: document.id, includeChunks: true)
            #expect(detail.chunks == fresh)
            #expect(detail.document.chunkCount == 1)
            #expect(try await store.count("chunk_relationships") == 0)
            #expect(try await store.count("embedding_records") == 0)
            #expect(try await store.searchChunksText(TextSearchQuery(collection: "docs", query: "old")).isEmpty)
            #expect(try await store.deleteChunks(documentID: document.id) == 1)
            #expect(try await store.getDocument(id: document.id, includeChunks: false).document.chunkCount == 0)
        }
    }

    @Test("chunks come with their relationships and embedding records in one transaction, or not at all")
    func chunksWithLinksAndRecords() async throws {
        try await withStore { store, _ in
            let document = try await store.makeDocument()
            let ids = [UUID(), UUID()]
            let chunks = ids.enumerated().map { NewChunk(id: $1, sequence: $0, content: "part \($0)", startOffset: 10 * $0, endOffset: 10 * $0 + 6) }
            let links = [
                ChunkRelationship(sourceChunkID: ids[0], targetChunkID: ids[1], type: "next"),
                ChunkRelationship(sourceChunkID: ids[1], targetChunkID: ids[0], type: "previous"),
            ]
            let records = ids.map { EmbeddingRecord(chunkID: $0, model: "mini", dimension: 4, vectorCollection: "docs", vectorID: "\($0)") }

            // A record for a chunk that exists nowhere: NOT_FOUND naming it, and no chunk,
            // link or record written.
            var bad = records
            bad[1].chunkID = UUID()
            await expectStoreError(.notFound, field: "embedding_records[1].chunk_id") {
                _ = try await store.putChunks(documentID: document.id, chunks, replaceExisting: false, relationships: links, embeddingRecords: bad)
            }
            await expectStoreError(.invalidArgument, field: "relationships[0].weight") {
                var heavy = links
                heavy[0].weight = 2
                _ = try await store.putChunks(documentID: document.id, chunks, replaceExisting: false, relationships: heavy, embeddingRecords: records)
            }
            #expect(try await store.count("chunks") == 0)
            #expect(try await store.count("chunk_relationships") == 0)
            #expect(try await store.count("embedding_records") == 0)

            let stored = try await store.putChunks(documentID: document.id, chunks, replaceExisting: false, relationships: links, embeddingRecords: records)
            #expect(stored.map(\.id) == ids)
            let next = try await store.listRelationships(RelationshipQuery(sourceChunkID: ids[0]), page: PageRequest())
            #expect(next.items.map(\.targetChunkID) == [ids[1]])
            #expect(next.items.map(\.type) == ["next"])
            let written = try await store.listEmbeddingRecords(.document(document.id))
            #expect(Set(written.map(\.chunkID)) == Set(ids))
            #expect(written.allSatisfy { $0.vectorID == "\($0.chunkID)" })

            // Again with replace: the old chunks' links and records go with them; the new ones
            // stand alone.
            _ = try await store.putChunks(documentID: document.id, chunks, replaceExisting: true, relationships: links, embeddingRecords: records)
            #expect(try await store.count("chunk_relationships") == 2)
            #expect(try await store.count("embedding_records") == 2)
        }
    }

    @Test("chunks by id come back in request order without the missing ones; lists page by sequence")
    func getAndList() async throws {
        try await withStore { store, _ in
            let document = try await store.makeDocument()
            let chunks = try await store.addChunks(to: document.id, count: 25)
            let got = try await store.chunks(ids: [chunks[7].id, UUID(), chunks[2].id])
            #expect(got == [chunks[7], chunks[2]])
            var seen: [Int] = []
            var token: String?
            repeat {
                let page = try await store.listChunks(documentID: document.id, page: PageRequest(size: 10, token: token))
                seen += page.items.map(\.sequence)
                token = page.nextPageToken
            } while token != nil
            #expect(seen == Array(0..<25))
        }
    }

    @Test("full-text search ranks by BM25, wraps matches in snippets and stays in its collection")
    func search() async throws {
        try await withStore { store, _ in
            let document = try await store.makeDocument(metadata: ["lang": .string("en")])
            let chunks = try await store.addChunks(to: document.id, count: 4, contents: [
                "The quick brown fox jumps over the lazy dog.",
                "Foxes are small omnivores. A fox hunts at night; the fox is clever, fox after fox.",
                "Nothing to see here about dogs.",
                "A long passage about databases, write-ahead logs and durable commits.",
            ])
            let other = try await store.makeDocument(collection: "other", seed: 9)
            _ = try await store.addChunks(to: other.id, count: 1, contents: ["fox fox fox fox fox"])

            let matches = try await store.searchChunksText(TextSearchQuery(collection: "docs", query: "fox", snippetStart: "[", snippetEnd: "]"))
            #expect(matches.map(\.chunk.id) == [chunks[1].id, chunks[0].id])
            #expect(matches[0].score > matches[1].score)
            #expect(matches[0].score > 0)
            #expect(matches[0].snippet.contains("[fox]"))
            #expect(matches[1].snippet.contains("[fox]"))
            #expect(matches[0].document.id == document.id)

            // FTS5 syntax works; text that is not valid syntax is searched as words.
            #expect(try await store.searchChunksText(TextSearchQuery(collection: "docs", query: "fox NOT lazy")).map(\.chunk.id) == [chunks[1].id])
            #expect(try await store.searchChunksText(TextSearchQuery(collection: "docs", query: "write-ahead \"logs")).map(\.chunk.id) == [chunks[3].id])
            #expect(try await store.searchChunksText(TextSearchQuery(collection: "docs", query: "databa*")).map(\.chunk.id) == [chunks[3].id])
            #expect(try await store.searchChunksText(TextSearchQuery(collection: "docs", query: "fox", limit: 1)).count == 1)

            // The filter applies to the owning document's metadata.
            #expect(try await store.searchChunksText(TextSearchQuery(collection: "docs", query: "fox", filter: .equals(field: "lang", value: .string("en")))).count == 2)
            #expect(try await store.searchChunksText(TextSearchQuery(collection: "docs", query: "fox", filter: .equals(field: "lang", value: .string("de")))).isEmpty)

            await expectStoreError(.invalidArgument, field: "query") {
                _ = try await store.searchChunksText(TextSearchQuery(collection: "docs", query: "  "))
            }
            await expectStoreError(.notFound, field: "collection") {
                _ = try await store.searchChunksText(TextSearchQuery(collection: "missing", query: "fox"))
            }
        }
    }
}
