import Foundation
import GRPCCore
import SwiftProtobuf
import Testing
import TroveContracts
import TroveTestSupport

@Suite("Metadata service: relationships, annotations, embedding records and cascades over gRPC")
struct RelationshipAndAnnotationTests {
    private func relationship(_ source: Trove_V1_Chunk, _ target: Trove_V1_Chunk, _ type: String, weight: Double = 1) -> Trove_V1_ChunkRelationship {
        .with {
            $0.sourceChunkID = source.id
            $0.targetChunkID = target.id
            $0.type = type
            $0.weight = weight
        }
    }

    @Test("relationships are added all or nothing, listed, followed to neighbours and deleted")
    func relationships() async throws {
        try await withMetadataServer { server in
            let client = server.client
            try await client.makeCollection()
            let document = try await client.makeDocument()
            let c = try await client.addChunks(to: document, contents: ["zero", "one", "two", "three"])

            await expectRPCError(.invalidArgument, field: "relationships[1].weight") {
                _ = try await client.addRelationships(.with {
                    $0.relationships = [self.relationship(c[0], c[1], "next"), self.relationship(c[1], c[2], "next", weight: 1.5)]
                })
            }
            await expectRPCError(.invalidArgument, field: "relationships[0].source_chunk_id") {
                _ = try await client.addRelationships(.with {
                    $0.relationships = [.with { $0.sourceChunkID = "c0"; $0.targetChunkID = c[1].id; $0.type = "next" }]
                })
            }
            await expectRPCError(.notFound, field: "relationships[1].target_chunk_id") {
                _ = try await client.addRelationships(.with {
                    var dangling = self.relationship(c[1], c[2], "next")
                    dangling.targetChunkID = UUID().uuidString
                    $0.relationships = [self.relationship(c[0], c[1], "next"), dangling]
                })
            }
            // None of the failed batches left an edge behind.
            let empty = try await client.listRelationships(.with { $0.sourceChunkID = c[0].id })
            #expect(empty.relationships.isEmpty)

            let added = try await client.addRelationships(.with {
                $0.relationships = [
                    self.relationship(c[0], c[1], "next"),
                    self.relationship(c[1], c[2], "next"),
                    self.relationship(c[2], c[3], "next"),
                    self.relationship(c[0], c[3], "cites", weight: 0.25),
                ]
                $0.relationships[3].metadata = .init(fields: ["page": .init(numberValue: 4)])
            })
            #expect(added.added == 4)
            await expectRPCError(.alreadyExists, field: "relationships[0].relationship") {
                _ = try await client.addRelationships(.with { $0.relationships = [self.relationship(c[0], c[1], "next")] })
            }

            let fromZero = try await client.listRelationships(.with { $0.sourceChunkID = c[0].id })
            #expect(Set(fromZero.relationships.map(\.type)) == ["next", "cites"])
            let cites = try #require(fromZero.relationships.first { $0.type == "cites" })
            #expect(cites.weight == 0.25)
            #expect(cites.metadata.fields["page"]?.numberValue == 4)
            let intoTwo = try await client.listRelationships(.with { $0.targetChunkID = c[2].id; $0.type = "next" })
            #expect(intoTwo.relationships.map(\.sourceChunkID) == [c[1].id])
            await expectRPCError(.invalidArgument, field: "source_chunk_id") {
                _ = try await client.listRelationships(Trove_V1_ListRelationshipsRequest())
            }

            let oneHop = try await client.getNeighbors(.with { $0.chunkID = c[1].id })
            #expect(Set(oneHop.chunks.map(\.id)) == [c[0].id, c[2].id])
            #expect(oneHop.relationships.count == 2)
            let twoHops = try await client.getNeighbors(.with { $0.chunkID = c[1].id; $0.depth = 2; $0.types = ["next"] })
            #expect(Set(twoHops.chunks.map(\.id)) == [c[0].id, c[2].id, c[3].id])
            #expect(twoHops.relationships.allSatisfy { $0.type == "next" })
            await expectRPCError(.invalidArgument, field: "depth") {
                _ = try await client.getNeighbors(.with { $0.chunkID = c[1].id; $0.depth = 6 })
            }
            await expectRPCError(.notFound, field: "chunk_id") {
                _ = try await client.getNeighbors(.with { $0.chunkID = UUID().uuidString })
            }

            let deleted = try await client.deleteRelationship(.with {
                $0.sourceChunkID = c[0].id
                $0.targetChunkID = c[3].id
                $0.type = "cites"
            })
            #expect(deleted.deleted)
            let again = try await client.deleteRelationship(.with {
                $0.sourceChunkID = c[0].id
                $0.targetChunkID = c[3].id
                $0.type = "cites"
            })
            #expect(!again.deleted)
            await expectRPCError(.invalidArgument, field: "type") {
                _ = try await client.deleteRelationship(.with { $0.sourceChunkID = c[0].id; $0.targetChunkID = c[1].id })
            }
        }
    }

    @Test("annotations on documents and chunks: add, list by type, versioned update, delete")
    func annotations() async throws {
        try await withMetadataServer { server in
            let client = server.client
            try await client.makeCollection()
            let document = try await client.makeDocument()
            let chunks = try await client.addChunks(to: document, contents: ["alpha", "beta"])

            await expectRPCError(.invalidArgument, field: "confidence") {
                _ = try await client.addAnnotation(.with {
                    $0.annotation = .with {
                        $0.target = .with { $0.documentID = document.id }
                        $0.annotator = "classifier-v1"
                        $0.type = "classification"
                        $0.confidence = 1.2
                    }
                })
            }
            await expectRPCError(.invalidArgument, field: "target") {
                _ = try await client.addAnnotation(.with {
                    $0.annotation = .with { $0.annotator = "a"; $0.type = "t" }
                })
            }
            await expectRPCError(.invalidArgument, field: "target.chunk_id") {
                _ = try await client.addAnnotation(.with {
                    $0.annotation = .with { $0.target = .with { $0.chunkID = "chunk" }; $0.annotator = "a"; $0.type = "t" }
                })
            }
            await expectRPCError(.notFound, field: "target.document_id") {
                _ = try await client.addAnnotation(.with {
                    $0.annotation = .with { $0.target = .with { $0.documentID = UUID().uuidString }; $0.annotator = "a"; $0.type = "t" }
                })
            }

            let label = try await client.addAnnotation(.with {
                $0.annotation = .with {
                    $0.target = .with { $0.documentID = document.id }
                    $0.annotator = "classifier-v1"
                    $0.type = "classification"
                    $0.content = .init(fields: ["label": .init(stringValue: "invoice")])
                    $0.confidence = 0.75
                }
            })
            #expect(UUID(uuidString: label.id) != nil)
            #expect(label.version == 1)
            #expect(label.target.documentID == document.id)
            #expect(label.content.fields["label"]?.stringValue == "invoice")
            #expect(label.confidence == 0.75)
            server.clock.advance(by: 1)
            let summary = try await client.addAnnotation(.with {
                $0.annotation = .with {
                    $0.target = .with { $0.documentID = document.id }
                    $0.annotator = "llm"
                    $0.type = "summary"
                    $0.confidence = 0.5
                }
            })
            let onChunk = try await client.addAnnotation(.with {
                $0.annotation = .with {
                    $0.target = .with { $0.chunkID = chunks[1].id }
                    $0.annotator = "ner"
                    $0.type = "extraction"
                    $0.confidence = 0.9
                }
            })
            #expect(onChunk.target.chunkID == chunks[1].id)

            let all = try await client.listAnnotations(.with { $0.target = .with { $0.documentID = document.id } })
            #expect(all.annotations.map(\.id) == [label.id, summary.id])
            let summaries = try await client.listAnnotations(.with {
                $0.target = .with { $0.documentID = document.id }
                $0.type = "summary"
            })
            #expect(summaries.annotations.map(\.id) == [summary.id])
            let paged = try await client.listAnnotations(.with {
                $0.target = .with { $0.documentID = document.id }
                $0.page = .with { $0.pageSize = 1 }
            })
            #expect(paged.annotations.map(\.id) == [label.id])
            #expect(!paged.nextPageToken.isEmpty)
            await expectRPCError(.invalidArgument, field: "target") {
                _ = try await client.listAnnotations(Trove_V1_ListAnnotationsRequest())
            }

            let updated = try await client.updateAnnotation(.with {
                $0.id = label.id
                $0.expectedVersion = 1
                $0.confidence = 0.0
            })
            #expect(updated.confidence == 0, "an explicit 0 is applied: confidence is optional in the proto")
            #expect(updated.version == 2)
            #expect(updated.content == label.content, "content not given stays")
            await expectRPCError(.aborted, field: "expected_version") {
                _ = try await client.updateAnnotation(.with { $0.id = label.id; $0.expectedVersion = 1; $0.content = .init() })
            }
            await expectRPCError(.invalidArgument, field: "confidence") {
                _ = try await client.updateAnnotation(.with { $0.id = label.id; $0.confidence = -0.1 })
            }
            await expectRPCError(.notFound, field: "id") {
                _ = try await client.updateAnnotation(.with { $0.id = UUID().uuidString; $0.confidence = 0.5 })
            }

            #expect(try await client.deleteAnnotation(.with { $0.id = summary.id }).deleted)
            #expect(try await !client.deleteAnnotation(.with { $0.id = summary.id }).deleted)
            await expectRPCError(.invalidArgument, field: "id") {
                _ = try await client.deleteAnnotation(.with { $0.id = "summary" })
            }
        }
    }

    @Test("embedding records are written per chunk and model, listed and deleted by chunk or document")
    func embeddingRecords() async throws {
        try await withMetadataServer { server in
            let client = server.client
            try await client.makeCollection()
            let document = try await client.makeDocument()
            let chunks = try await client.addChunks(to: document, contents: ["a", "b"])
            func record(_ chunk: Trove_V1_Chunk, dimension: UInt32 = 384, vector: String) -> Trove_V1_EmbeddingRecord {
                .with {
                    $0.chunkID = chunk.id
                    $0.model = "all-MiniLM-L6-v2"
                    $0.dimension = dimension
                    $0.vectorCollection = "docs"
                    $0.vectorID = vector
                }
            }
            await expectRPCError(.invalidArgument, field: "records[1].dimension") {
                _ = try await client.putEmbeddingRecords(.with { $0.records = [record(chunks[0], vector: "v0"), record(chunks[1], dimension: 0, vector: "v1")] })
            }
            await expectRPCError(.invalidArgument, field: "records[0].chunk_id") {
                _ = try await client.putEmbeddingRecords(.with { $0.records = [.with { $0.chunkID = "x"; $0.model = "m" }] })
            }
            // A record must match the collection's pinned model and dimension.
            await expectRPCError(.invalidArgument, field: "records[0].model") {
                var wrongModel = record(chunks[0], vector: "v0")
                wrongModel.model = "another-model"
                _ = try await client.putEmbeddingRecords(.with { $0.records = [wrongModel] })
            }
            #expect(try await client.listEmbeddingRecords(.with { $0.documentID = document.id }).records.isEmpty)
            let written = try await client.putEmbeddingRecords(.with {
                $0.records = [record(chunks[0], vector: "v0"), record(chunks[1], vector: "v1")]
            })
            #expect(written.written == 2)
            // Re-embedding a chunk with the same model replaces its record.
            _ = try await client.putEmbeddingRecords(.with { $0.records = [record(chunks[0], vector: "v0-new")] })

            let byDocument = try await client.listEmbeddingRecords(.with { $0.documentID = document.id })
            #expect(byDocument.records.count == 2)
            let byChunk = try await client.listEmbeddingRecords(.with { $0.chunkID = chunks[0].id })
            #expect(byChunk.records.map(\.vectorID) == ["v0-new"])
            #expect(byChunk.records[0].createdAt.date == server.clock.now)
            await expectRPCError(.invalidArgument, field: "chunk_id") {
                _ = try await client.listEmbeddingRecords(Trove_V1_ListEmbeddingRecordsRequest())
            }
            await expectRPCError(.invalidArgument, field: "document_id") {
                _ = try await client.listEmbeddingRecords(.with { $0.chunkID = chunks[0].id; $0.documentID = document.id })
            }

            #expect(try await client.deleteEmbeddingRecords(.with { $0.chunkID = chunks[1].id }).deleted == 1)
            #expect(try await client.deleteEmbeddingRecords(.with { $0.documentID = document.id }).deleted == 1)
            #expect(try await client.listEmbeddingRecords(.with { $0.documentID = document.id }).records.isEmpty)
        }
    }

    @Test("PutChunks writes the chunks' relationships and embedding records with them, or nothing")
    func chunksWithLinksAndRecords() async throws {
        try await withMetadataServer { server in
            let client = server.client
            try await client.makeCollection()
            let document = try await client.makeDocument()
            let ids = [UUID().uuidString.lowercased(), UUID().uuidString.lowercased()]
            func request(model: String) -> Trove_V1_PutChunksRequest {
                .with {
                    $0.documentID = document.id
                    $0.chunks = ids.enumerated().map { index, id in
                        .with {
                            $0.id = id
                            $0.sequence = UInt32(index)
                            $0.content = "part \(index)"
                            $0.startOffset = UInt64(10 * index)
                            $0.endOffset = UInt64(10 * index + 6)
                        }
                    }
                    $0.relationships = [.with { $0.sourceChunkID = ids[0]; $0.targetChunkID = ids[1]; $0.type = "next" }]
                    $0.embeddingRecords = ids.map { id in
                        .with {
                            $0.chunkID = id
                            $0.model = model
                            $0.dimension = 384
                            $0.vectorCollection = "docs"
                            $0.vectorID = id
                        }
                    }
                }
            }
            // The collection's model is pinned: a record for another one fails the whole call.
            await expectRPCError(.invalidArgument, field: "embedding_records[0].model") {
                _ = try await client.putChunks(request(model: "another-model"))
            }
            #expect(try await client.listChunks(.with { $0.documentID = document.id }).chunks.isEmpty)

            let written = try await client.putChunks(request(model: "all-MiniLM-L6-v2"))
            #expect(written.chunks.map(\.id) == ids)
            #expect(written.relationshipsAdded == 1)
            #expect(written.embeddingRecordsWritten == 2)
            let links = try await client.listRelationships(.with { $0.sourceChunkID = ids[0] })
            #expect(links.relationships.map(\.targetChunkID) == [ids[1]])
            let records = try await client.listEmbeddingRecords(.with { $0.documentID = document.id })
            #expect(Set(records.records.map(\.vectorID)) == Set(ids))
        }
    }

    @Test("DeleteDocument cascades and counts what went with the document")
    func deleteCascade() async throws {
        try await withMetadataServer { server in
            let client = server.client
            try await client.makeCollection()
            let document = try await client.makeDocument(seed: 1)
            let survivor = try await client.makeDocument(seed: 2)
            let chunks = try await client.addChunks(to: document, contents: ["one", "two", "three"])
            let kept = try await client.addChunks(to: survivor, contents: ["kept"])
            _ = try await client.addRelationships(.with {
                $0.relationships = [
                    self.relationship(chunks[0], chunks[1], "next"),
                    self.relationship(chunks[1], chunks[2], "next"),
                    self.relationship(kept[0], chunks[0], "cites"),
                ]
            })
            for target in [Trove_V1_AnnotationTarget.with { $0.documentID = document.id }, .with { $0.chunkID = chunks[2].id }] {
                _ = try await client.addAnnotation(.with {
                    $0.annotation = .with { $0.target = target; $0.annotator = "a"; $0.type = "t"; $0.confidence = 1 }
                })
            }
            _ = try await client.putEmbeddingRecords(.with {
                $0.records = chunks.map { chunk in
                    .with { $0.chunkID = chunk.id; $0.model = "all-MiniLM-L6-v2"; $0.dimension = 384; $0.vectorCollection = "docs"; $0.vectorID = chunk.id }
                }
            })

            await expectRPCError(.aborted, field: "expected_version") {
                _ = try await client.deleteDocument(.with { $0.id = document.id; $0.expectedVersion = 99 })
            }
            let deletion = try await client.deleteDocument(.with { $0.id = document.id; $0.expectedVersion = document.version })
            #expect(deletion.chunksDeleted == 3)
            #expect(deletion.relationshipsDeleted == 3)
            #expect(deletion.annotationsDeleted == 2)
            #expect(deletion.embeddingRecordsDeleted == 3)

            await expectRPCError(.notFound, field: "id") {
                _ = try await client.getDocument(.with { $0.id = document.id })
            }
            await expectRPCError(.notFound, field: "id") {
                _ = try await client.deleteDocument(.with { $0.id = document.id })
            }
            #expect(try await client.getChunks(.with { $0.ids = chunks.map(\.id) + kept.map(\.id) }).chunks.map(\.id) == [kept[0].id])
            #expect(try await client.listRelationships(.with { $0.sourceChunkID = kept[0].id }).relationships.isEmpty)
            let survivorNow = try await client.getDocument(.with { $0.id = survivor.id })
            #expect(survivorNow.document.chunkCount == 1)
        }
    }
}
