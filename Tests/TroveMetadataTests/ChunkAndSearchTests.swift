import Foundation
import GRPCCore
import SwiftProtobuf
import Testing
import TroveContracts
import TroveTestSupport

@Suite("Metadata service: chunks and full-text search over gRPC")
struct ChunkAndSearchTests {
    @Test("PutChunks writes every chunk or none, and errors name the chunk and field")
    func putChunksAllOrNothing() async throws {
        try await withMetadataServer { server in
            let client = server.client
            try await client.makeCollection()
            let document = try await client.makeDocument()
            func chunk(_ sequence: UInt32, start: UInt64 = 0, end: UInt64 = 10) -> Trove_V1_Chunk {
                .with {
                    $0.sequence = sequence
                    $0.content = "chunk \(sequence)"
                    $0.startOffset = start
                    $0.endOffset = end
                }
            }
            await expectRPCError(.invalidArgument, field: "chunks[2].end_offset") {
                _ = try await client.putChunks(.with {
                    $0.documentID = document.id
                    $0.chunks = [chunk(0), chunk(1), chunk(2, start: 50, end: 40), chunk(3)]
                })
            }
            // Caught by SQLite inside the transaction, after chunk 0 was inserted.
            await expectRPCError(.alreadyExists, field: "chunks[1].sequence") {
                _ = try await client.putChunks(.with {
                    $0.documentID = document.id
                    $0.chunks = [chunk(0), chunk(0)]
                })
            }
            await expectRPCError(.invalidArgument, field: "chunks[1].id") {
                _ = try await client.putChunks(.with {
                    $0.documentID = document.id
                    $0.chunks = [chunk(0), .with { $0.id = "chunk-one"; $0.sequence = 1; $0.endOffset = 1 }]
                })
            }
            await expectRPCError(.invalidArgument, field: "chunks[0].document_id") {
                _ = try await client.putChunks(.with {
                    $0.documentID = document.id
                    $0.chunks = [.with { $0.documentID = UUID().uuidString; $0.endOffset = 1 }]
                })
            }
            await expectRPCError(.invalidArgument, field: "document_id") {
                _ = try await client.putChunks(.with { $0.documentID = "not-a-uuid"; $0.chunks = [chunk(0)] })
            }
            await expectRPCError(.notFound, field: "document_id") {
                _ = try await client.putChunks(.with { $0.documentID = UUID().uuidString; $0.chunks = [chunk(0)] })
            }
            let untouched = try await client.getDocument(.with { $0.id = document.id; $0.includeChunks = true })
            #expect(untouched.chunks.isEmpty)
            #expect(untouched.document.chunkCount == 0)

            let givenID = UUID().uuidString.lowercased()
            var batch = [chunk(2), chunk(0), chunk(1)]
            batch[1].id = givenID
            let stored = try await client.putChunks(.with {
                $0.documentID = document.id
                $0.chunks = batch
            }).chunks
            #expect(stored.count == 3)
            #expect(stored.allSatisfy { $0.documentID == document.id && UUID(uuidString: $0.id) != nil })
            #expect(stored.first { $0.sequence == 0 }?.id == givenID)

            // Adding a sequence that exists fails; replacing swaps the whole set.
            await expectRPCError(.alreadyExists, field: "chunks[0].sequence") {
                _ = try await client.putChunks(.with { $0.documentID = document.id; $0.chunks = [chunk(1)] })
            }
            let replaced = try await client.putChunks(.with {
                $0.documentID = document.id
                $0.chunks = [chunk(0, end: 5)]
                $0.replaceExisting = true
            }).chunks
            let detail = try await client.getDocument(.with { $0.id = document.id; $0.includeChunks = true })
            #expect(detail.chunks == replaced)
            #expect(detail.document.chunkCount == 1)
        }
    }

    @Test("GetDocument, GetChunks and ListChunks return chunks as stored, in order")
    func readChunks() async throws {
        try await withMetadataServer { server in
            let client = server.client
            try await client.makeCollection()
            let document = try await client.makeDocument()
            let contents = (0..<5).map { "passage number \($0) about vectors" }
            let stored = try await client.addChunks(to: document, contents: contents)

            let withChunks = try await client.getDocument(.with { $0.id = document.id; $0.includeChunks = true })
            #expect(withChunks.chunks.map(\.content) == contents)
            #expect(withChunks.chunks.map(\.sequence) == [0, 1, 2, 3, 4])
            #expect(withChunks.chunks[3].startOffset == 300)
            #expect(withChunks.chunks[3].endOffset == 300 + UInt64(contents[3].unicodeScalars.count))
            #expect(withChunks.chunks[3].tokenCount == 5)
            #expect(withChunks.document.chunkCount == 5)
            let without = try await client.getDocument(.with { $0.id = document.id })
            #expect(without.chunks.isEmpty)

            let missing = UUID().uuidString
            let some = try await client.getChunks(.with { $0.ids = [stored[4].id, missing, stored[1].id] })
            #expect(some.chunks.map(\.id) == [stored[4].id, stored[1].id])
            await expectRPCError(.invalidArgument, field: "ids[1]") {
                _ = try await client.getChunks(.with { $0.ids = [stored[0].id, "nope"] })
            }

            var listed: [Trove_V1_Chunk] = []
            var token = ""
            repeat {
                let page = try await client.listChunks(.with {
                    $0.documentID = document.id
                    $0.page = .with { $0.pageSize = 2; $0.pageToken = token }
                })
                listed += page.chunks
                token = page.nextPageToken
            } while !token.isEmpty && listed.count < 10
            #expect(listed == withChunks.chunks)

            let deleted = try await client.deleteChunks(.with { $0.documentID = document.id })
            #expect(deleted.chunksDeleted == 5)
            #expect(try await client.getDocument(.with { $0.id = document.id }).document.chunkCount == 0)
        }
    }

    @Test("SearchChunksText ranks chunk text with BM25, marks matches and filters on document metadata")
    func textSearch() async throws {
        try await withMetadataServer { server in
            let client = server.client
            try await client.makeCollection()
            try await client.makeCollection("other")
            let ml = try await client.makeDocument(seed: 1, metadata: ["team": .init(stringValue: "ml")])
            let web = try await client.makeDocument(seed: 2, metadata: ["team": .init(stringValue: "web")])
            let elsewhere = try await client.makeDocument(collection: "other", seed: 3)
            let mlChunks = try await client.addChunks(to: ml, contents: [
                "retrieval augmented generation with retrieval of passages",
                "a chunk about gardening",
            ])
            let webChunks = try await client.addChunks(to: web, contents: ["retrieval of web pages"])
            _ = try await client.addChunks(to: elsewhere, contents: ["retrieval in another collection"])

            let all = try await client.searchChunksText(.with {
                $0.collection = "docs"
                $0.query = "retrieval"
            })
            #expect(all.matches.count == 2)
            #expect(Set(all.matches.map(\.chunk.id)) == [mlChunks[0].id, webChunks[0].id])
            #expect(all.matches[0].score >= all.matches[1].score)
            #expect(all.matches.allSatisfy { $0.snippet.contains("<b>retrieval</b>") })
            let hit = try #require(all.matches.first { $0.chunk.id == mlChunks[0].id })
            #expect(hit.document.id == ml.id)
            #expect(hit.chunk.content == mlChunks[0].content)

            let filtered = try await client.searchChunksText(.with {
                $0.collection = "docs"
                $0.query = "retrieval"
                $0.filter = .with { $0.condition = .with { $0.field = "team"; $0.equals = .init(stringValue: "web") } }
            })
            #expect(filtered.matches.map(\.chunk.id) == [webChunks[0].id])

            let limited = try await client.searchChunksText(.with {
                $0.collection = "docs"
                $0.query = "retrieval"
                $0.limit = 1
            })
            #expect(limited.matches.count == 1)

            let none = try await client.searchChunksText(.with { $0.collection = "docs"; $0.query = "astronomy" })
            #expect(none.matches.isEmpty)
            await expectRPCError(.invalidArgument, field: "query") {
                _ = try await client.searchChunksText(.with { $0.collection = "docs"; $0.query = "  " })
            }
            await expectRPCError(.invalidArgument, field: "limit") {
                _ = try await client.searchChunksText(.with { $0.collection = "docs"; $0.query = "x"; $0.limit = 5000 })
            }
        }
    }
}
