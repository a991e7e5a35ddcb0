import Foundation
import GRPCCore
import SwiftProtobuf
import Testing
import TroveContracts
import TroveTestSupport

@Suite("Metadata service: collections and documents over gRPC")
struct CollectionAndDocumentTests {
    @Test("collections are created, read, listed in pages, updated and deleted with their documents")
    func collections() async throws {
        try await withMetadataServer { server in
            let client = server.client
            let created = try await client.createCollection(.with {
                $0.collection = .with {
                    $0.name = "papers"
                    $0.embeddingModel = "all-MiniLM-L6-v2"
                    $0.dimension = 384
                    $0.metric = .innerProduct
                    $0.chunking = .with {
                        $0.unit = .tokens
                        $0.size = 256
                        $0.overlap = 32
                    }
                    $0.metadata = .init(fields: ["owner": .init(stringValue: "ml")])
                }
            })
            #expect(created.name == "papers")
            #expect(created.metric == .innerProduct)
            #expect(created.chunking.unit == .tokens)
            #expect(created.chunking.size == 256)
            #expect(created.hasCreatedAt)
            #expect(created.createdAt.date == server.clock.now)
            #expect(created.metadata.fields["owner"]?.stringValue == "ml")

            let fetched = try await client.getCollection(.with { $0.name = "papers" })
            #expect(fetched == created)

            try await client.makeCollection("alpha")
            try await client.makeCollection("zeta")
            let first = try await client.listCollections(.with { $0.page = .with { $0.pageSize = 2 } })
            #expect(first.collections.map(\.name) == ["alpha", "papers"])
            #expect(!first.nextPageToken.isEmpty)
            let second = try await client.listCollections(.with {
                $0.page = .with {
                    $0.pageSize = 2
                    $0.pageToken = first.nextPageToken
                }
            })
            #expect(second.collections.map(\.name) == ["zeta"])
            #expect(second.nextPageToken.isEmpty)

            let updated = try await client.updateCollection(.with {
                $0.name = "papers"
                $0.chunking = .with {
                    $0.unit = .characters
                    $0.size = 1000
                }
                $0.metadata = .init(fields: ["owner": .init(stringValue: "search")])
            })
            #expect(updated.chunking.unit == .characters)
            #expect(updated.chunking.size == 1000)
            #expect(updated.metadata.fields["owner"]?.stringValue == "search")
            #expect(updated.embeddingModel == "all-MiniLM-L6-v2")
            #expect(updated.dimension == 384)

            _ = try await client.makeDocument(collection: "papers", seed: 1)
            _ = try await client.makeDocument(collection: "papers", seed: 2)
            let deleted = try await client.deleteCollection(.with { $0.name = "papers" })
            #expect(deleted.documentsDeleted == 2)
            await expectRPCError(.notFound) {
                _ = try await client.getCollection(.with { $0.name = "papers" })
            }
        }
    }

    @Test("collection constraints come back as statuses that name the field")
    func collectionConstraints() async throws {
        try await withMetadataServer { server in
            let client = server.client
            try await client.makeCollection("docs")
            await expectRPCError(.alreadyExists, field: "name") {
                try await client.makeCollection("docs")
            }
            await expectRPCError(.invalidArgument, field: "name") {
                try await client.makeCollection("no spaces allowed")
            }
            await expectRPCError(.invalidArgument, field: "dimension") {
                _ = try await client.createCollection(.with {
                    $0.collection = .with {
                        $0.name = "flat"
                        $0.embeddingModel = "m"
                    }
                })
            }
            await expectRPCError(.invalidArgument, field: "chunking.overlap") {
                _ = try await client.createCollection(.with {
                    $0.collection = .with {
                        $0.name = "overlapping"
                        $0.embeddingModel = "m"
                        $0.dimension = 8
                        $0.chunking = .with {
                            $0.size = 10
                            $0.overlap = 10
                        }
                    }
                })
            }
            // An enum value this build does not know is refused, not stored as a default.
            await expectRPCError(.invalidArgument, field: "metric") {
                _ = try await client.createCollection(.with {
                    $0.collection = .with {
                        $0.name = "future"
                        $0.embeddingModel = "m"
                        $0.dimension = 8
                        $0.metric = .UNRECOGNIZED(42)
                    }
                })
            }
            await expectRPCError(.invalidArgument, field: "collection") {
                _ = try await client.createCollection(Trove_V1_CreateCollectionRequest())
            }
            await expectRPCError(.notFound, field: "collection") {
                _ = try await client.updateCollection(.with { $0.name = "missing" })
            }
            let collections = try await client.listCollections(Trove_V1_ListCollectionsRequest())
            #expect(collections.collections.map(\.name) == ["docs"])
        }
    }

    @Test("creating the same content twice returns the first document and says it already existed")
    func createDeduplicates() async throws {
        try await withMetadataServer { server in
            let client = server.client
            try await client.makeCollection()
            let first = try await client.createDocument(.with {
                $0.document = .with {
                    $0.collection = "docs"
                    $0.filename = "a.txt"
                    $0.sha256 = sha256(seed: 7).uppercased()
                    $0.metadata = .init(fields: ["author": .init(stringValue: "Ada"), "pages": .init(numberValue: 12)])
                }
            })
            #expect(!first.alreadyExisted)
            #expect(UUID(uuidString: first.document.id) != nil)
            #expect(first.document.status == .pending)
            #expect(first.document.version == 1)
            #expect(first.document.attempts == 0)
            #expect(first.document.sha256 == sha256(seed: 7), "stored in lower case")
            #expect(first.document.metadata.fields["pages"]?.numberValue == 12)

            let second = try await client.createDocument(.with {
                $0.document = .with {
                    $0.collection = "docs"
                    $0.filename = "copy-of-a.txt"
                    $0.sha256 = sha256(seed: 7)
                }
            })
            #expect(second.alreadyExisted)
            #expect(second.document.id == first.document.id)
            #expect(second.document.filename == "a.txt", "nothing was written")

            // The same content in another collection is another document.
            try await client.makeCollection("other")
            let elsewhere = try await client.createDocument(.with {
                $0.document = .with {
                    $0.collection = "other"
                    $0.sha256 = sha256(seed: 7)
                }
            })
            #expect(!elsewhere.alreadyExisted)
            #expect(elsewhere.document.id != first.document.id)
        }
    }

    @Test("document requests with bad or missing values are refused naming the field")
    func documentValidation() async throws {
        try await withMetadataServer { server in
            let client = server.client
            try await client.makeCollection()
            await expectRPCError(.invalidArgument, field: "sha256") {
                _ = try await client.createDocument(.with {
                    $0.document = .with {
                        $0.collection = "docs"
                        $0.sha256 = "not-a-hash"
                    }
                })
            }
            await expectRPCError(.invalidArgument, field: "object_type") {
                _ = try await client.createDocument(.with {
                    $0.document = .with {
                        $0.collection = "docs"
                        $0.sha256 = sha256(seed: 1)
                        $0.objectType = .UNRECOGNIZED(99)
                    }
                })
            }
            await expectRPCError(.notFound, field: "collection") {
                _ = try await client.makeDocument(collection: "nowhere")
            }
            await expectRPCError(.invalidArgument, field: "document") {
                _ = try await client.createDocument(Trove_V1_CreateDocumentRequest())
            }
            await expectRPCError(.invalidArgument, field: "id") {
                _ = try await client.getDocument(.with { $0.id = "12345" })
            }
            await expectRPCError(.invalidArgument, field: "id") {
                _ = try await client.getDocument(Trove_V1_GetDocumentRequest())
            }
            await expectRPCError(.notFound, field: "id") {
                _ = try await client.getDocument(.with { $0.id = UUID().uuidString })
            }
            await expectRPCError(.invalidArgument, field: "status") {
                _ = try await client.listDocuments(.with { $0.status = .UNRECOGNIZED(9) })
            }
            let listed = try await client.listDocuments(.with { $0.collection = "docs" })
            #expect(listed.documents.isEmpty)
        }
    }

    @Test("UpdateDocument replaces metadata, checks the expected version and bumps it")
    func updateDocument() async throws {
        try await withMetadataServer { server in
            let client = server.client
            try await client.makeCollection()
            let document = try await client.makeDocument(metadata: ["team": .init(stringValue: "web")])
            server.clock.advance(by: 10)
            let updated = try await client.updateDocument(.with {
                $0.id = document.id
                $0.expectedVersion = document.version
                $0.metadata = .init(fields: ["team": .init(stringValue: "ml")])
                $0.filename = "renamed.txt"
                $0.objectType = .document
                $0.location = .with {
                    $0.bucket = "archive"
                    $0.key = "renamed.txt"
                }
            })
            #expect(updated.version == document.version + 1)
            #expect(updated.metadata.fields == ["team": .init(stringValue: "ml")])
            #expect(updated.filename == "renamed.txt")
            #expect(updated.objectType == .document)
            #expect(updated.location.bucket == "archive")
            #expect(updated.mimeType == "text/plain", "fields not given stay as they were")
            #expect(updated.updatedAt.date == server.clock.now)
            #expect(updated.createdAt == document.createdAt)

            await expectRPCError(.aborted, field: "expected_version") {
                _ = try await client.updateDocument(.with {
                    $0.id = document.id
                    $0.expectedVersion = document.version
                    $0.filename = "lost-update.txt"
                })
            }
            let stored = try await client.getDocument(.with { $0.id = document.id }).document
            #expect(stored.filename == "renamed.txt")
            #expect(stored.version == updated.version)
        }
    }

    @Test("UpdateDocumentStatus enforces the lifecycle and optimistic versions")
    func statusLifecycle() async throws {
        try await withMetadataServer { server in
            let client = server.client
            try await client.makeCollection()
            let document = try await client.makeDocument()

            // pending → completed skips processing.
            await expectRPCError(.failedPrecondition, field: "status") {
                _ = try await client.moveDocument(document.id, to: .completed)
            }
            await expectRPCError(.invalidArgument, field: "status") {
                _ = try await client.moveDocument(document.id, to: .unspecified)
            }
            await expectRPCError(.invalidArgument, field: "status") {
                _ = try await client.moveDocument(document.id, to: .UNRECOGNIZED(7))
            }

            let processing = try await client.updateDocumentStatus(.with {
                $0.id = document.id
                $0.status = .processing
                $0.expectedVersion = document.version
            })
            #expect(processing.status == .processing)
            #expect(processing.attempts == 1)
            #expect(processing.version == document.version + 1)

            // A second worker that read the pending document loses.
            await expectRPCError(.aborted, field: "expected_version") {
                _ = try await client.updateDocumentStatus(.with {
                    $0.id = document.id
                    $0.status = .processing
                    $0.expectedVersion = document.version
                })
            }

            let failed = try await client.moveDocument(document.id, to: .failed, errorMessage: "embedding timed out")
            #expect(failed.status == .failed)
            #expect(failed.errorMessage == "embedding timed out")
            await expectRPCError(.failedPrecondition, field: "status") {
                _ = try await client.moveDocument(document.id, to: .processing)
            }
            let retried = try await client.moveDocument(document.id, to: .pending)
            #expect(retried.status == .pending)
            #expect(retried.errorMessage == "embedding timed out", "the last error stays visible on retry")
            _ = try await client.moveDocument(document.id, to: .processing)
            let completed = try await client.moveDocument(document.id, to: .completed)
            #expect(completed.status == .completed)
            #expect(completed.attempts == 2)
            #expect(completed.errorMessage.isEmpty)
            #expect(completed.version == document.version + 5)
            await expectRPCError(.failedPrecondition, field: "status") {
                _ = try await client.moveDocument(document.id, to: .processing)
            }
            await expectRPCError(.notFound, field: "id") {
                _ = try await client.moveDocument(UUID().uuidString, to: .processing)
            }
            await expectRPCError(.invalidArgument, field: "id") {
                _ = try await client.moveDocument("doc-1", to: .processing)
            }
        }
    }

    @Test("ListDocuments pages through documents matching a proto Filter over their metadata")
    func listWithFilter() async throws {
        try await withMetadataServer { server in
            let client = server.client
            try await client.makeCollection()
            var ids: [Int: String] = [:]
            for seed in 0..<10 {
                let team = seed % 2 == 0 ? "ml" : "web"
                var metadata: [String: Google_Protobuf_Value] = [
                    "team": .init(stringValue: team),
                    "pages": .init(numberValue: Double(seed)),
                    "review": .init(structValue: .init(fields: ["state": .init(stringValue: seed < 5 ? "draft" : "final")])),
                ]
                if seed == 8 { metadata["archived"] = .init(boolValue: true) }
                ids[seed] = try await client.makeDocument(seed: seed, metadata: metadata).id
                server.clock.advance(by: 1)
            }
            _ = try await client.moveDocument(ids[4]!, to: .processing)

            // team == "ml" AND pages >= 2 AND NOT archived exists AND review.state in ("draft", "final")
            let filter = Trove_V1_Filter.with {
                $0.allOf = .with {
                    $0.filters = [
                        .with { $0.condition = .with { $0.field = "team"; $0.equals = .init(stringValue: "ml") } },
                        .with { $0.condition = .with { $0.field = "pages"; $0.numberRange = .with { $0.gte = 2 } } },
                        .with { $0.negate = .with { $0.condition = .with { $0.field = "archived"; $0.exists = true } } },
                        .with {
                            $0.condition = .with {
                                $0.field = "review.state"
                                $0.in = .init(values: [.init(stringValue: "draft"), .init(stringValue: "final")])
                            }
                        },
                    ]
                }
            }
            var seen: [String] = []
            var token = ""
            var pages = 0
            repeat {
                let page = try await client.listDocuments(.with {
                    $0.collection = "docs"
                    $0.filter = filter
                    $0.page = .with {
                        $0.pageSize = 2
                        $0.pageToken = token
                    }
                })
                #expect(page.documents.count <= 2)
                seen += page.documents.map(\.id)
                token = page.nextPageToken
                pages += 1
            } while !token.isEmpty && pages < 10
            // Oldest first: seeds 2, 4, 6 (8 is archived, 0 has too few pages).
            #expect(seen == [ids[2]!, ids[4]!, ids[6]!])
            #expect(pages == 2)

            let processing = try await client.listDocuments(.with {
                $0.collection = "docs"
                $0.status = .processing
                $0.filter = filter
            })
            #expect(processing.documents.map(\.id) == [ids[4]!])

            let older = try await client.listDocuments(.with {
                $0.collection = "docs"
                $0.createdBefore = .init(date: Date(timeIntervalSince1970: 1_700_000_003))
            })
            #expect(older.documents.map(\.id) == [ids[0]!, ids[1]!, ids[2]!])

            let orFilter = try await client.listDocuments(.with {
                $0.filter = .with {
                    $0.anyOf = .with {
                        $0.filters = [
                            .with { $0.condition = .with { $0.field = "pages"; $0.numberRange = .with { $0.lt = 1 } } },
                            .with { $0.condition = .with { $0.field = "pages"; $0.equals = .init(numberValue: 9) } },
                        ]
                    }
                }
            })
            #expect(orFilter.documents.map(\.id) == [ids[0]!, ids[9]!])

            await expectRPCError(.invalidArgument, field: "filter") {
                _ = try await client.listDocuments(.with {
                    $0.filter = .with { $0.condition = .with { $0.field = "team" } }
                })
            }
            await expectRPCError(.invalidArgument, field: "filter") {
                _ = try await client.listDocuments(.with {
                    $0.filter = .with { $0.condition = .with { $0.field = "bad..path"; $0.exists = true } }
                })
            }
            await expectRPCError(.invalidArgument, field: "page_token") {
                _ = try await client.listDocuments(.with { $0.page = .with { $0.pageToken = "garbage" } })
            }
        }
    }
}
