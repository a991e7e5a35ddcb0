import Foundation
import MetadataStore
import Testing

@Suite("Documents")
struct DocumentTests {
    @Test("create assigns id, pending status, version 1 and times from the clock")
    func create() async throws {
        try await withStore { store, clock in
            _ = try await store.createCollection(DocumentCollection(name: "docs", embeddingModel: "mini", dimension: 4))
            let created = try await store.createDocument(
                NewDocument(
                    collection: "docs", filename: "a.pdf", mimeType: "application/pdf", objectType: .document,
                    sha256: sha(1).uppercased(), location: ObjectLocation(bucket: "raw", key: "a.pdf"), sizeBytes: 1234,
                    metadata: ["author": .string("Ada"), "pages": .number(12)]))
            #expect(!created.alreadyExisted)
            let document = created.document
            #expect(document.status == .pending)
            #expect(document.version == 1)
            #expect(document.attempts == 0)
            #expect(document.sha256 == sha(1))
            #expect(document.location == ObjectLocation(bucket: "raw", key: "a.pdf"))
            #expect(document.metadata == ["author": .string("Ada"), "pages": .number(12)])
            #expect(document.createdAt == clock.now)
            #expect(document.updatedAt == clock.now)
            #expect(try await store.getDocument(id: document.id, includeChunks: false).document == document)
        }
    }

    @Test("status moves through the lifecycle; illegal moves are failed preconditions that change nothing")
    func statusThroughStore() async throws {
        try await withStore { store, _ in
            let document = try await store.makeDocument()
            await expectStoreError(.failedPrecondition, field: "status") {
                _ = try await store.updateDocumentStatus(id: document.id, to: .completed, expectedVersion: nil, errorMessage: nil)
            }
            let processing = try await store.updateDocumentStatus(id: document.id, to: .processing, expectedVersion: 1, errorMessage: nil)
            #expect(processing.status == .processing)
            #expect(processing.version == 2)
            #expect(processing.attempts == 1)
            let failed = try await store.updateDocumentStatus(id: document.id, to: .failed, expectedVersion: 2, errorMessage: "timeout")
            #expect(failed.errorMessage == "timeout")
            let retry = try await store.updateDocumentStatus(id: document.id, to: .pending, expectedVersion: 3, errorMessage: nil)
            #expect(retry.status == .pending)
            _ = try await store.updateDocumentStatus(id: document.id, to: .processing, expectedVersion: nil, errorMessage: nil)
            let done = try await store.updateDocumentStatus(id: document.id, to: .completed, expectedVersion: nil, errorMessage: nil)
            #expect(done.status == .completed)
            #expect(done.attempts == 2)
            #expect(done.version == 6)
            #expect(done.errorMessage == nil)
            // A completed document may only go back to pending (to be reprocessed).
            for next in DocumentStatus.allCases where next != .pending {
                await expectStoreError(.failedPrecondition, field: "status") {
                    _ = try await store.updateDocumentStatus(id: document.id, to: next, expectedVersion: nil, errorMessage: nil)
                }
            }
            #expect(try await store.getDocument(id: document.id, includeChunks: false).document.version == 6)
            await expectStoreError(.notFound, field: "id") {
                _ = try await store.updateDocumentStatus(id: UUID(), to: .processing, expectedVersion: nil, errorMessage: nil)
            }
        }
    }

    @Test("a stale expected version is aborted and writes nothing")
    func versionConflict() async throws {
        try await withStore { store, _ in
            let document = try await store.makeDocument()
            let updated = try await store.updateDocument(id: document.id, expectedVersion: 1, DocumentUpdate(metadata: ["k": .string("v")], filename: "renamed.txt"))
            #expect(updated.version == 2)
            #expect(updated.filename == "renamed.txt")
            #expect(updated.metadata == ["k": .string("v")])
            let error = await expectStoreError(.aborted, field: "expected_version") {
                _ = try await store.updateDocument(id: document.id, expectedVersion: 1, DocumentUpdate(filename: "lost.txt"))
            }
            #expect(error?.message.contains("version 2") == true)
            await expectStoreError(.aborted) {
                _ = try await store.updateDocumentStatus(id: document.id, to: .processing, expectedVersion: 1, errorMessage: nil)
            }
            await expectStoreError(.aborted) {
                _ = try await store.deleteDocument(id: document.id, expectedVersion: 5)
            }
            let current = try await store.getDocument(id: document.id, includeChunks: false).document
            #expect(current.filename == "renamed.txt")
            #expect(current.status == .pending)
            #expect(current.version == 2)
        }
    }

    @Test("concurrent writers with the same expected version: exactly one wins")
    func concurrentConflict() async throws {
        try await withStore { store, _ in
            let document = try await store.makeDocument()
            let results = await withTaskGroup(of: Bool.self) { group in
                for index in 0..<8 {
                    group.addTask {
                        (try? await store.updateDocument(id: document.id, expectedVersion: 1, DocumentUpdate(filename: "w\(index)"))) != nil
                    }
                }
                return await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(results.filter { $0 }.count == 1)
            #expect(try await store.getDocument(id: document.id, includeChunks: false).document.version == 2)
        }
    }

    @Test("deleting a document cascades to chunks, relationships, annotations, embedding records and the text index")
    func cascadingDelete() async throws {
        try await withStore { store, _ in
            let document = try await store.makeDocument()
            let keep = try await store.makeDocument(seed: 2)
            let chunks = try await store.addChunks(to: document.id, count: 3, contents: ["alpha zebra", "beta zebra", "gamma zebra"])
            let kept = try await store.addChunks(to: keep.id, count: 1, contents: ["zebra kept"])
            _ = try await store.addRelationships([
                ChunkRelationship(sourceChunkID: chunks[0].id, targetChunkID: chunks[1].id, type: "next"),
                ChunkRelationship(sourceChunkID: chunks[1].id, targetChunkID: chunks[2].id, type: "next"),
                ChunkRelationship(sourceChunkID: kept[0].id, targetChunkID: chunks[0].id, type: "cites"),
            ])
            _ = try await store.addAnnotation(NewAnnotation(target: .document(document.id), annotator: "m", type: "summary"))
            _ = try await store.addAnnotation(NewAnnotation(target: .chunk(chunks[0].id), annotator: "m", type: "entity"))
            _ = try await store.addAnnotation(NewAnnotation(target: .document(keep.id), annotator: "m", type: "summary"))
            _ = try await store.putEmbeddingRecords(chunks.map { EmbeddingRecord(chunkID: $0.id, model: "mini", dimension: 4, vectorCollection: "docs", vectorID: "\($0.sequence)") })

            let deletion = try await store.deleteDocument(id: document.id, expectedVersion: 1)
            #expect(deletion == DocumentDeletion(chunksDeleted: 3, relationshipsDeleted: 3, annotationsDeleted: 2, embeddingRecordsDeleted: 3))

            #expect(try await store.count("documents") == 1)
            #expect(try await store.count("chunks") == 1)
            #expect(try await store.count("chunk_relationships") == 0)
            #expect(try await store.count("annotations") == 1)
            #expect(try await store.count("embedding_records") == 0)
            let matches = try await store.searchChunksText(TextSearchQuery(collection: "docs", query: "zebra"))
            #expect(matches.map(\.chunk.id) == [kept[0].id])
            await expectStoreError(.notFound) {
                _ = try await store.getDocument(id: document.id, includeChunks: true)
            }
        }
    }

    @Test("deleting a collection deletes its documents and everything under them")
    func deleteCollection() async throws {
        try await withStore { store, _ in
            let a = try await store.makeDocument(collection: "a", seed: 1)
            _ = try await store.makeDocument(collection: "a", seed: 2)
            _ = try await store.makeDocument(collection: "b", seed: 3)
            _ = try await store.addChunks(to: a.id, count: 5)
            #expect(try await store.deleteCollection(named: "a") == 2)
            #expect(try await store.count("documents") == 1)
            #expect(try await store.count("chunks") == 0)
            await expectStoreError(.notFound, field: "collection") { _ = try await store.deleteCollection(named: "a") }
        }
    }

    @Test("updating a collection changes chunking and metadata only")
    func updateCollection() async throws {
        try await withStore { store, _ in
            _ = try await store.createCollection(DocumentCollection(name: "c", embeddingModel: "mini", dimension: 4, metric: .l2))
            let updated = try await store.updateCollection(named: "c", chunking: ChunkingOptions(unit: .characters, size: 500, overlap: 50), metadata: ["team": .string("ml")])
            #expect(updated.chunking == ChunkingOptions(unit: .characters, size: 500, overlap: 50))
            #expect(updated.metadata == ["team": .string("ml")])
            #expect(updated.metric == .l2)
            #expect(try await store.collection(named: "c") == updated)
        }
    }

    @Test("listing pages through every document exactly once, filtered by collection and status")
    func pagination() async throws {
        try await withStore { store, clock in
            var ids: [UUID] = []
            for seed in 0..<53 {
                // Several documents share a creation time, so the id breaks ties.
                if seed % 3 == 0 { clock.advance(by: 1) }
                ids.append(try await store.makeDocument(seed: seed).id)
            }
            _ = try await store.makeDocument(collection: "other", seed: 999)
            for id in ids.prefix(10) {
                _ = try await store.updateDocumentStatus(id: id, to: .processing, expectedVersion: nil, errorMessage: nil)
            }

            var seen: [UUID] = []
            var token: String?
            var pages = 0
            repeat {
                let page = try await store.listDocuments(DocumentQuery(collection: "docs"), page: PageRequest(size: 10, token: token))
                #expect(page.items.count <= 10)
                seen += page.items.map(\.id)
                token = page.nextPageToken
                pages += 1
                // A document added mid-walk (created later) shows up at the end, and nothing repeats.
                if pages == 2 { ids.append(try await store.makeDocument(seed: 500).id) }
            } while token != nil
            #expect(seen.count == 54)
            #expect(Set(seen) == Set(ids))
            #expect(pages == 6)

            let processing = try await store.listDocuments(DocumentQuery(collection: "docs", status: .processing), page: PageRequest(size: 100))
            #expect(Set(processing.items.map(\.id)) == Set(ids.prefix(10)))
            #expect(processing.nextPageToken == nil)
            let all = try await store.listDocuments(DocumentQuery(), page: PageRequest(size: 1000))
            #expect(all.items.count == 55)
            let before = try await store.listDocuments(
                DocumentQuery(collection: "docs", createdBefore: Date(timeIntervalSince1970: 1_700_000_002)), page: PageRequest())
            #expect(before.items.count == 3)

            await expectStoreError(.invalidArgument, field: "page_token") {
                _ = try await store.listDocuments(DocumentQuery(), page: PageRequest(token: "garbage"))
            }
            let chunkToken = try await store.listCollections(page: PageRequest(size: 1)).nextPageToken
            await expectStoreError(.invalidArgument, field: "page_token") {
                _ = try await store.listDocuments(DocumentQuery(), page: PageRequest(token: chunkToken))
            }
            await expectStoreError(.notFound, field: "collection") {
                _ = try await store.listDocuments(DocumentQuery(collection: "missing"), page: PageRequest())
            }
        }
    }

    @Test("collections list in name order across pages")
    func listCollections() async throws {
        try await withStore { store, _ in
            let names = (0..<7).map { "c\($0)" }.shuffled()
            for name in names {
                _ = try await store.createCollection(DocumentCollection(name: name, embeddingModel: "m", dimension: 2))
            }
            var seen: [String] = []
            var token: String?
            repeat {
                let page = try await store.listCollections(page: PageRequest(size: 3, token: token))
                seen += page.items.map(\.name)
                token = page.nextPageToken
            } while token != nil
            #expect(seen == names.sorted())
        }
    }
}
