import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Glibc
import SwiftProtobuf
import Testing
import TroveContracts
import TroveTestSupport

/// Ingestion end to end: `trove serve all` (and the five services as separate processes),
/// driven through the generated Swift clients; every store is checked afterwards.
@Suite("Ingestion end to end", .serialized)
struct IngestionTests {
    static let documents: [(name: String, text: String, metadata: [String: Google_Protobuf_Value])] = [
        (
            "sourdough.md",
            """
            # Keeping a sourdough starter

            A sourdough starter is flour and water colonised by wild yeast and lactic acid bacteria. Feed it \
            every day at room temperature: discard most of it, then add equal weights of flour and water.

            A starter that smells of acetone is hungry. Feed it more often, or keep it in the fridge and feed it weekly.
            """,
            ["topic": .init(stringValue: "baking"), "year": .init(numberValue: 2021)]
        ),
        (
            "brakes.txt",
            """
            Adjusting bicycle rim brakes. When the brake lever pulls all the way to the handlebar, the cable has \
            stretched. Turn the barrel adjuster anticlockwise until the pads grip the rim with the lever half way.

            Worn brake pads lose their grooves; replace them before the metal backing touches the rim.
            """,
            ["topic": .init(stringValue: "cycling"), "year": .init(numberValue: 2019)]
        ),
        (
            "congestion.html",
            """
            <html><head><title>TCP congestion control</title><style>p { color: red }</style>
            <script>var tracking = "zebra-telemetry";</script></head>
            <body><p>TCP starts a connection in slow start, doubling its congestion window every round trip.</p>
            <p>When a packet is lost, the sender halves the window &amp; grows it again linearly: additive increase, \
            multiplicative decrease.</p></body></html>
            """,
            ["topic": .init(stringValue: "networking"), "year": .init(numberValue: 2023)]
        ),
    ]

    @Test("Ingest, dedup, status, search in three modes with filters, delete cascade: nothing orphaned")
    func endToEnd() async throws {
        let trove = try await TroveProcess.start()
        defer { Task { await trove.stopAndRemove() } }
        try await withClient(trove) { client in
            let ingestion = Trove_V1_Ingestion.Client(wrapping: client)
            let collection = try await ingestion.createCollection(.with { $0.name = "notes" })
            #expect(collection.embeddingModel == "all-MiniLM-L6-v2")
            #expect(collection.dimension == 384)
            let again = await #expect(throws: RPCError.self) { _ = try await ingestion.createCollection(.with { $0.name = "notes" }) }
            #expect(again?.code == .alreadyExists)

            var ids: [String: String] = [:]
            for document in Self.documents {
                let response = try await ingestion.ingest(collection: "notes", filename: document.name, Data(document.text.utf8), metadata: document.metadata)
                #expect(response.status == .pending)
                #expect(!response.duplicate)
                ids[document.name] = response.documentID
            }
            // The same bytes under another name: the existing document, not processed again.
            let duplicate = try await ingestion.ingest(collection: "notes", filename: "copy.md", Data(Self.documents[0].text.utf8))
            #expect(duplicate.duplicate)
            #expect(duplicate.documentID == ids["sourdough.md"])

            for id in ids.values {
                let document = try await ingestion.waitUntilSettled(id)
                #expect(document.status == .completed, "\(document.filename): \(document.errorMessage)")
                #expect(document.chunkCount >= 1)
                #expect(document.attempts == 1)
            }
            let html = try await ingestion.getDocumentStatus(.with { $0.documentID = ids["congestion.html"]! })
            #expect(html.mimeType == "text/html")

            // Chunks: offsets into the extracted text, linked next/previous, script text gone.
            let metadata = Trove_V1_Metadata.Client(wrapping: client)
            let htmlChunks = try await metadata.getDocument(.with {
                $0.id = html.id
                $0.includeChunks = true
            }).chunks
            #expect(!htmlChunks.isEmpty)
            #expect(!htmlChunks.contains { $0.content.contains("zebra-telemetry") || $0.content.contains("color: red") })
            #expect(htmlChunks.contains { $0.content.contains("halves the window & grows") })

            // Vector search finds by meaning; the filter narrows by the document's metadata.
            let brakes = try await ingestion.search(.with {
                $0.collection = "notes"
                $0.query = "my bike does not stop well, how do I fix it"
                $0.k = 3
            })
            #expect(brakes.hits.first?.filename == "brakes.txt")
            #expect(brakes.hits.first?.vectorRank == 1)
            #expect(brakes.hits.first.map { !$0.content.isEmpty && $0.endOffset > $0.startOffset } == true)
            let filtered = try await ingestion.search(.with {
                $0.collection = "notes"
                $0.query = "my bike does not stop well, how do I fix it"
                $0.k = 3
                $0.filter = .with { $0.condition = .with { $0.field = "year"; $0.numberRange = .with { $0.gte = 2020 } } }
            })
            #expect(!filtered.hits.isEmpty)
            #expect(!filtered.hits.contains { $0.filename == "brakes.txt" })
            #expect(filtered.hits.allSatisfy { ($0.metadata.fields["year"]?.numberValue ?? 0) >= 2020 })

            // Keyword search matches words; hybrid fuses both rankings.
            let keyword = try await ingestion.search(.with {
                $0.collection = "notes"
                $0.query = "acetone?"
                $0.mode = .keyword
            })
            #expect(keyword.hits.map(\.filename) == ["sourdough.md"])
            #expect(keyword.hits.first?.snippet.contains("<b>acetone</b>") == true)
            // Snippets mark the query's telling words, not "how", "do", "a" or "I" (which full-text
            // search also matches); a hit that matched only such words shows the passage a vector
            // hit would.
            let wordy = try await ingestion.search(.with {
                $0.collection = "notes"
                $0.query = "how do I feed a starter"
                $0.mode = .keyword
            })
            #expect(wordy.hits.first?.filename == "sourdough.md")
            #expect(wordy.hits.first.map { $0.snippet.contains("<b>starter</b>") || $0.snippet.contains("<b>feed</b>") } == true)
            for hit in wordy.hits {
                for common in ["how", "How", "do", "a", "A", "I"] {
                    #expect(!hit.snippet.contains("<b>\(common)</b>"), "\(hit.filename): \(hit.snippet)")
                }
            }
            let hybrid = try await ingestion.search(.with {
                $0.collection = "notes"
                $0.query = "packet loss halves the congestion window"
                $0.mode = .hybrid
                $0.k = 2
            })
            #expect(hybrid.hits.first?.filename == "congestion.html")
            #expect(hybrid.hits.first.map { $0.vectorRank >= 1 && $0.keywordRank >= 1 } == true)

            // The cache answers a repeated search, and a change to the collection invalidates it.
            let request = Trove_V1_SearchRequest.with {
                $0.collection = "notes"
                $0.query = "feeding a starter"
            }
            #expect(try await ingestion.search(request).fromCache == false)
            #expect(try await ingestion.search(request).fromCache == true)

            // Delete cascades through vectors, chunks, relationships, embedding records and the object.
            let vectors = Trove_V1_VectorSearch.Client(wrapping: client)
            let storage = Trove_V1_ObjectStorage.Client(wrapping: client)
            let sourdough = try await metadata.getDocument(.with {
                $0.id = ids["sourdough.md"]!
                $0.includeChunks = true
            })
            let chunkIDs = sourdough.chunks.map(\.id)
            #expect(try await vectors.get(.with { $0.collection = "notes"; $0.ids = chunkIDs }).vectors.count == chunkIDs.count)
            let deleted = try await ingestion.deleteDocument(.with { $0.documentID = sourdough.document.id })
            #expect(deleted.chunksDeleted == UInt64(chunkIDs.count))
            #expect(deleted.vectorsDeleted == UInt64(chunkIDs.count))
            #expect(deleted.objectDeleted)
            #expect(try await ingestion.search(request).fromCache == false)
            #expect(try await vectors.get(.with { $0.collection = "notes"; $0.ids = chunkIDs }).vectors.isEmpty)
            let gone = await #expect(throws: RPCError.self) { _ = try await ingestion.getDocumentStatus(.with { $0.documentID = sourdough.document.id }) }
            #expect(gone?.code == .notFound)
            let object = await #expect(throws: RPCError.self) {
                _ = try await storage.headObject(.with {
                    $0.bucket = sourdough.document.location.bucket
                    $0.key = sourdough.document.location.key
                })
            }
            #expect(object?.code == .notFound)
            for chunkID in chunkIDs {
                let links = try await metadata.listRelationships(.with { $0.sourceChunkID = chunkID })
                #expect(links.relationships.isEmpty)
            }

            // What is left is consistent: every vector has its chunk, every chunk its vector.
            try await expectConsistent(collection: "notes", documents: 2, client: client)

            let status = try await ingestion.getSystemStatus(.init())
            #expect(status.services.count == 5 && status.services.allSatisfy(\.serving))
            #expect(status.documents == 2)
            #expect(status.documentsByStatus["completed"] == 2)
            #expect(status.cacheHitRate > 0)

            // Removing the collection removes everything in it.
            let removed = try await ingestion.deleteCollection(.with { $0.name = "notes" })
            #expect(removed.documentsDeleted == 2)
            let objects = try await storage.listObjects(.with { $0.bucket = "trove-documents"; $0.prefix = "notes/" })
            #expect(objects.objects.isEmpty)
            let vectorCollection = await #expect(throws: RPCError.self) { _ = try await vectors.describeCollection(.with { $0.name = "notes" }) }
            #expect(vectorCollection?.code == .notFound)
        }
    }

    @Test("Bad input: clear statuses naming the field; other types stored but not embedded; reprocess re-chunks")
    func badInputAndReprocess() async throws {
        let trove = try await TroveProcess.start()
        defer { Task { await trove.stopAndRemove() } }
        try await withClient(trove) { client in
            let ingestion = Trove_V1_Ingestion.Client(wrapping: client)
            let missing = await #expect(throws: RPCError.self) {
                _ = try await ingestion.ingest(collection: "absent", filename: "a.txt", Data("hello".utf8))
            }
            #expect(missing?.code == .notFound)
            _ = try await ingestion.createCollection(.with { $0.name = "mixed" })
            let noHeader = await #expect(throws: RPCError.self) {
                _ = try await ingestion.ingestDocument(requestProducer: { writer in
                    try await writer.write(.with { $0.chunk = Data("bytes first".utf8) })
                })
            }
            #expect(noHeader?.code == .invalidArgument)
            #expect(noHeader?.message.hasPrefix("header") == true)
            let tooLarge = await #expect(throws: RPCError.self) {
                _ = try await ingestion.createCollection(.with {
                    $0.name = "big-chunks"
                    $0.chunking = .with { $0.size = 400; $0.unit = .tokens }
                })
            }
            #expect(tooLarge?.code == .invalidArgument)
            #expect(tooLarge?.message.hasPrefix("chunking.size") == true)
            let badID = await #expect(throws: RPCError.self) { _ = try await ingestion.getDocumentStatus(.with { $0.documentID = "nope" }) }
            #expect(badID?.code == .invalidArgument)
            #expect(badID?.message.hasPrefix("document_id") == true)
            let emptyQuery = await #expect(throws: RPCError.self) { _ = try await ingestion.search(.with { $0.collection = "mixed"; $0.query = "  " }) }
            #expect(emptyQuery?.message.hasPrefix("query") == true)

            // A PNG is stored and typed, not embedded, with the reason recorded.
            let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13]
            let image = try await ingestion.ingest(collection: "mixed", filename: "pixel.png", Data(png))
            let stored = try await ingestion.waitUntilSettled(image.documentID)
            #expect(stored.status == .completed)
            #expect(stored.objectType == .image)
            #expect(stored.chunkCount == 0)
            #expect(stored.errorMessage.contains("image/png"))

            // Reprocessing with smaller chunks replaces chunks and vectors instead of adding to them.
            let text = (1...40).map { "Sentence number \($0) talks about a different small thing." }.joined(separator: " ")
            let long = try await ingestion.ingest(collection: "mixed", filename: "long.txt", Data(text.utf8))
            let first = try await ingestion.waitUntilSettled(long.documentID)
            #expect(first.status == .completed)
            let reprocessing = try await ingestion.reprocessDocument(.with {
                $0.documentID = long.documentID
                $0.chunking = .with { $0.unit = .characters; $0.size = 200; $0.overlap = 0 }
            })
            #expect(reprocessing.status == .pending)
            let second = try await ingestion.waitUntilSettled(long.documentID)
            #expect(second.status == .completed)
            #expect(second.chunkCount > first.chunkCount)
            #expect(second.chunking.size == 200)
            try await expectConsistent(collection: "mixed", documents: 2, client: client)
        }
    }

    @Test("kill -9 of the ingestion service mid-ingest: every document settles, nothing duplicated")
    func killIngestion() async throws {
        let base = FileManager.default.temporaryDirectory.path + "/trove-kill-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: base) }
        var environment = ["TROVE_EMBEDDING_PROVIDER": "hashing"]
        let others = try await TroveProcess.startEach(dataDirectory: base, environment: &environment)
        defer { for process in others { process.signal(SIGKILL) } }

        let count = 500
        let texts = (0..<count).map { index in
            (0..<(3 + index % 7)).map { sentence in
                "Document \(index) sentence \(sentence) mentions item \(index * 31 + sentence) and colour \(["red", "green", "blue"][sentence % 3])."
            }.joined(separator: " ")
        }
        var acknowledged: [String] = []
        var ingestion = try await TroveProcess.start(role: "ingestion", dataDirectory: base, environment: environment)
        try await withClient(ingestion) { client in
            let service = Trove_V1_Ingestion.Client(wrapping: client)
            _ = try await service.createCollection(.with { $0.name = "kill" })
            for index in 0..<200 {
                acknowledged.append(try await service.ingest(collection: "kill", filename: "doc-\(index).txt", Data(texts[index].utf8)).documentID)
            }
        }
        ingestion.signal(SIGKILL)
        _ = try await ingestion.waitForExit()

        ingestion = try await TroveProcess.start(role: "ingestion", dataDirectory: base, environment: environment)
        defer { ingestion.signal(SIGKILL) }
        let restarted = ingestion
        try await withClient(ingestion) { client in
            let service = Trove_V1_Ingestion.Client(wrapping: client)
            for index in 200..<count {
                acknowledged.append(try await service.ingest(collection: "kill", filename: "doc-\(index).txt", Data(texts[index].utf8)).documentID)
            }
            #expect(Set(acknowledged).count == count)
            for id in acknowledged {
                let document = try await service.waitUntilSettled(id, timeout: .seconds(300))
                #expect(document.status == .completed, "\(document.filename): \(document.errorMessage)")
            }
        }
        // The kill came mid-ingest: the new process found documents to resume.
        let log = try String(contentsOfFile: restarted.logPath, encoding: .utf8)
        #expect(log.contains("resuming documents left unfinished"))
        // Consistency is checked against the stores themselves.
        try await withClient(others[0]) { metadataClient in
            try await withClient(others[3]) { vectorClient in
                try await expectConsistent(collection: "kill", documents: count, metadata: metadataClient, vectors: vectorClient)
            }
        }
    }
}

extension IngestionTests {
    @Test("A dependency down: attempts fail, are undone and retried with backoff beyond max_attempts; the document completes once it is back")
    func retriesUntilTheEmbeddingServiceIsBack() async throws {
        let base = FileManager.default.temporaryDirectory.path + "/trove-retry-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: base) }
        var environment = ["TROVE_EMBEDDING_PROVIDER": "hashing", "TROVE_INGESTION_RETRY_BACKOFF_MS": "200", "TROVE_INGESTION_MAX_ATTEMPTS": "2"]
        var processes = try await TroveProcess.startEach(["metadata", "object-storage", "vector-search"], dataDirectory: base, environment: &environment)
        defer { for process in processes { process.signal(SIGKILL) } }
        let embeddingAddress = "127.0.0.1:\(try freePort())"
        environment["TROVE_EMBEDDING_ADDRESS"] = embeddingAddress
        var embedding = try await TroveProcess.start(role: "embedding", dataDirectory: base, listen: embeddingAddress, environment: environment)
        let ingestion = try await TroveProcess.start(role: "ingestion", dataDirectory: base, environment: environment)
        processes.append(ingestion)
        try await withClient(ingestion) { client in
            let service = Trove_V1_Ingestion.Client(wrapping: client)
            _ = try await service.createCollection(.with { $0.name = "retry" })
            // A permanent failure is not retried: the reason is recorded at once.
            let broken = try await service.ingest(collection: "retry", filename: "broken.json", Data("{\"a\": [1, 2".utf8))
            let failed = try await service.waitUntilSettled(broken.documentID)
            #expect(failed.status == .failed)
            #expect(failed.attempts == 1)
            #expect(failed.errorMessage.contains("cannot extract text"))

            embedding.signal(SIGKILL)
            _ = try await embedding.waitForExit()
            let text = (0..<30).map { "Sentence \($0) of a document that waits for its embeddings." }.joined(separator: " ")
            let response = try await service.ingest(collection: "retry", filename: "waiting.txt", Data(text.utf8))
            var document = try await service.getDocumentStatus(.with { $0.documentID = response.documentID })
            // More attempts than max_attempts: a service that cannot be reached is waited for.
            let deadline = ContinuousClock.now + .seconds(30)
            while document.attempts < 3 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
                document = try await service.getDocumentStatus(.with { $0.documentID = response.documentID })
            }
            #expect(document.attempts >= 3)
            #expect(document.status == .pending || document.status == .processing, "\(document.status)")
            #expect(document.errorMessage.contains("failed: unavailable"), "\(document.errorMessage)")

            embedding = try await TroveProcess.start(role: "embedding", dataDirectory: base, listen: embeddingAddress, environment: environment)
            processes.append(embedding)
            document = try await service.waitUntilSettled(response.documentID)
            #expect(document.status == .completed, "\(document.errorMessage)")
            #expect(document.attempts >= 2)
        }
        try await withClient(processes[0]) { metadataClient in
            try await withClient(processes[2]) { vectorClient in
                try await expectConsistent(collection: "retry", documents: 2, metadata: metadataClient, vectors: vectorClient)
            }
        }
    }

    @Test("WatchIngestion streams a document's stages; an object already stored is ingested by reference and kept on delete")
    func watchAndReference() async throws {
        let trove = try await TroveProcess.start(environment: ["TROVE_EMBEDDING_PROVIDER": "hashing"])
        defer { Task { await trove.stopAndRemove() } }
        try await withClient(trove) { client in
            let service = Trove_V1_Ingestion.Client(wrapping: client)
            let storage = Trove_V1_ObjectStorage.Client(wrapping: client)
            _ = try await service.createCollection(.with { $0.name = "watched" })
            _ = try await storage.createBucket(.with { $0.bucket = "mine" })
            let text = "Lighthouses once burned whale oil; later ones used kerosene and then electric lamps."
            _ = try await storage.upload(bucket: "mine", key: "notes/lighthouses.txt", Data(text.utf8))

            let stages = try await withThrowingTaskGroup(of: [Trove_V1_IngestionStage].self) { group in
                group.addTask {
                    try await service.watchIngestion(.with { $0.collection = "watched" }) { response in
                        var seen: [Trove_V1_IngestionStage] = []
                        for try await event in response.messages {
                            seen.append(event.stage)
                            if event.stage == .completed || event.stage == .failed { break }
                        }
                        return seen
                    }
                }
                try await Task.sleep(for: .milliseconds(300))
                let response = try await service.ingestDocument(requestProducer: { writer in
                    try await writer.write(.with {
                        $0.header = .with {
                            $0.collection = "watched"
                            $0.objectReference = .with { $0.bucket = "mine"; $0.key = "notes/lighthouses.txt" }
                        }
                    })
                })
                #expect(response.sha256 == sha256Hex(Data(text.utf8)))
                let document = try await service.waitUntilSettled(response.documentID)
                #expect(document.status == .completed)
                #expect(document.filename == "lighthouses.txt")
                #expect(document.location.bucket == "mine")
                let deleted = try await service.deleteDocument(.with { $0.documentID = response.documentID })
                #expect(!deleted.objectDeleted)
                let stages = try await group.next() ?? []
                group.cancelAll()
                return stages
            }
            #expect(stages.first == .queued)
            #expect(stages.last == .completed)
            #expect(stages.contains(.embedding) && stages.contains(.indexing) && stages.contains(.savingChunks))
            // The referenced object belongs to whoever stored it.
            let head = try await storage.headObject(.with { $0.bucket = "mine"; $0.key = "notes/lighthouses.txt" })
            #expect(head.size == UInt64(text.utf8.count))
        }
    }
}

extension IngestionTests {
    @Test("With the openai-compatible provider: chunks in characters are embedded by the server and found; chunks in tokens fail saying why")
    func openAICompatibleProvider() async throws {
        let server = try OpenAIEmbeddingServer()
        let trove = try await TroveProcess.start(environment: server.troveEnvironment)
        defer { Task { await trove.stopAndRemove() } }
        try await withClient(trove) { client in
            let ingestion = Trove_V1_Ingestion.Client(wrapping: client)
            let collection = try await ingestion.createCollection(.with {
                $0.name = "remote"
                $0.chunking = .with {
                    $0.unit = .characters
                    $0.size = 300
                    $0.overlap = 30
                }
            })
            #expect(collection.embeddingModel == server.model)
            #expect(collection.dimension == 384)
            var ids: [String] = []
            for document in Self.documents {
                ids.append(try await ingestion.ingest(collection: "remote", filename: document.name, Data(document.text.utf8)).documentID)
            }
            for id in ids {
                let document = try await ingestion.waitUntilSettled(id)
                #expect(document.status == .completed, "\(document.filename): \(document.errorMessage)")
            }
            let hits = try await ingestion.search(.with {
                $0.collection = "remote"
                $0.query = "my bike does not stop well, how do I fix it"
                $0.k = 3
            }).hits
            #expect(hits.first?.filename == "brakes.txt")
            try await expectConsistent(collection: "remote", documents: Self.documents.count, client: client)

            _ = try await ingestion.createCollection(.with { $0.name = "remote-tokens" })
            let id = try await ingestion.ingest(collection: "remote-tokens", filename: "brakes.txt", Data(Self.documents[1].text.utf8)).documentID
            let failed = try await ingestion.waitUntilSettled(id)
            #expect(failed.status == .failed)
            #expect(failed.errorMessage.contains("characters"), "\(failed.errorMessage)")
        }
        let seen = try await server.seenRequests()
        #expect(!seen.isEmpty && seen.allSatisfy(\.authorized))
    }

    @Test("Stored bytes no document points to are swept once older than the grace; documents' objects stay")
    func orphanSweep() async throws {
        let trove = try await TroveProcess.start(environment: [
            "TROVE_EMBEDDING_PROVIDER": "hashing",
            "TROVE_INGESTION_ORPHAN_SWEEP_INTERVAL_SECONDS": "1",
            "TROVE_INGESTION_ORPHAN_GRACE_SECONDS": "5",
        ])
        defer { Task { await trove.stopAndRemove() } }
        try await withClient(trove) { client in
            let ingestion = Trove_V1_Ingestion.Client(wrapping: client)
            let objects = Trove_V1_ObjectStorage.Client(wrapping: client)
            _ = try await ingestion.createCollection(.with { $0.name = "kept" })
            let response = try await ingestion.ingest(collection: "kept", filename: "kept.txt", Data("A document that keeps its bytes.".utf8))
            let document = try await ingestion.waitUntilSettled(response.documentID)
            #expect(document.status == .completed)
            // What an ingest whose client gave up after the bytes were stored leaves behind.
            let orphan = "kept/" + String(repeating: "ab", count: 32)
            _ = try await objects.upload(bucket: document.location.bucket, key: orphan, Data("abandoned".utf8))

            let deadline = ContinuousClock.now + .seconds(60)
            var swept = false
            while !swept && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(250))
                do {
                    _ = try await objects.headObject(.with { $0.bucket = document.location.bucket; $0.key = orphan })
                } catch let error as RPCError where error.code == .notFound {
                    swept = true
                }
            }
            #expect(swept)
            let kept = try await objects.headObject(.with { $0.bucket = document.location.bucket; $0.key = document.location.key })
            #expect(kept.sha256 == document.sha256)
            // A young orphan outlives sweeps (one a second) until its grace (5 s) is over: its
            // document may be on the way.
            let young = "kept/" + String(repeating: "cd", count: 32)
            _ = try await objects.upload(bucket: document.location.bucket, key: young, Data("just stored".utf8))
            try await Task.sleep(for: .seconds(2))
            _ = try await objects.headObject(.with { $0.bucket = document.location.bucket; $0.key = young })
        }
    }

    @Test("SIGTERM stops the server while a WatchIngestion stream is open")
    func shutdownWithWatcher() async throws {
        let trove = try await TroveProcess.start(environment: ["TROVE_EMBEDDING_PROVIDER": "hashing"])
        defer { Task { await trove.stopAndRemove() } }
        try await withClient(trove) { client in
            let service = Trove_V1_Ingestion.Client(wrapping: client)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try? await service.watchIngestion(.init()) { response in
                        for try await _ in response.messages {}
                    }
                }
                try await Task.sleep(for: .milliseconds(300))
                trove.signal(SIGTERM)
                let status = try await trove.waitForExit(timeout: .seconds(15))
                #expect(status != nil, "still running 15 s after SIGTERM")
                group.cancelAll()
            }
        }
    }

    @Test("SIGTERM while a document waits on a stalled embedding call: exit after the shutdown grace; the next start finishes the document")
    func shutdownGrace() async throws {
        let server = try OpenAIEmbeddingServer()
        let environment = server.troveEnvironment.merging([
            "TROVE_EMBEDDING_OPENAI_TIMEOUT_SECONDS": "120",
            "TROVE_INGESTION_SHUTDOWN_GRACE_SECONDS": "2",
        ]) { $1 }
        let first = try await TroveProcess.start(environment: environment)
        let dataDirectory = first.dataDirectory
        let documentID = try await withClient(first) { client in
            let ingestion = Trove_V1_Ingestion.Client(wrapping: client)
            _ = try await ingestion.createCollection(.with {
                $0.name = "interrupted"
                $0.chunking = .with { $0.unit = .characters; $0.size = 300 }
            })
            // The document's embeddings request is held for a minute.
            try await server.delayNext(1, seconds: 60)
            let id = try await ingestion.ingest(collection: "interrupted", filename: "kettle.txt", Data("Descale the kettle with vinegar and water.".utf8)).documentID
            let deadline = ContinuousClock.now + .seconds(30)
            while try await server.seenRequests().isEmpty, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(try await ingestion.getDocumentStatus(.with { $0.documentID = id }).status == .processing)
            return id
        }
        first.signal(SIGTERM)
        // Without the grace it would wait the minute out.
        #expect(try await first.waitForExit(timeout: .seconds(20)) == 0, "not stopped 20 s after SIGTERM (grace 2 s)")

        let second = try await TroveProcess.start(dataDirectory: dataDirectory, environment: environment)
        defer { Task { await second.stopAndRemove() } }
        try await withClient(second) { client in
            let ingestion = Trove_V1_Ingestion.Client(wrapping: client)
            let document = try await ingestion.waitUntilSettled(documentID)
            #expect(document.status == .completed, "\(document.errorMessage)")
            #expect(document.attempts == 2, "the interrupted attempt and the one that completed")
            try await expectConsistent(collection: "interrupted", documents: 1, client: client)
        }
    }
}

/// A TCP port on loopback that nothing listens on right now.
func freePort() throws -> Int {
    let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(socket) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) == 0 && getsockname(socket, $0, &length) == 0 }
    }
    guard bound else { throw POSIXError(.EADDRINUSE) }
    return Int(UInt16(bigEndian: address.sin_port))
}

extension Trove_V1_Ingestion.Client {
    func ingest(
        collection: String,
        filename: String,
        _ data: Data,
        metadata: [String: Google_Protobuf_Value] = [:],
        options: CallOptions = .defaults
    ) async throws -> Trove_V1_IngestDocumentResponse {
        try await self.ingestDocument(options: options, requestProducer: { writer in
            try await writer.write(.with {
                $0.header = .with {
                    $0.collection = collection
                    $0.filename = filename
                    $0.metadata = .with { $0.fields = metadata }
                }
            })
            try await writer.write(.with { $0.chunk = data })
        })
    }

    /// Polls until the document is completed or failed.
    func waitUntilSettled(_ id: String, timeout: Duration = .seconds(120)) async throws -> Trove_V1_Document {
        let deadline = ContinuousClock.now + timeout
        while true {
            let document = try await self.getDocumentStatus(.with { $0.documentID = id })
            if document.status == .completed || document.status == .failed || ContinuousClock.now > deadline {
                return document
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}

extension Trove_V1_Metadata.Client {
    /// Every document of `collection`, page after page.
    func allDocuments(collection: String) async throws -> [Trove_V1_Document] {
        var documents: [Trove_V1_Document] = []
        var token = ""
        repeat {
            let page = try await self.listDocuments(.with {
                $0.collection = collection
                $0.page = .with { $0.pageSize = 1000; $0.pageToken = token }
            })
            documents += page.documents
            token = page.nextPageToken
        } while !token.isEmpty
        return documents
    }
}

/// Every completed document's chunks are contiguous from 0 and each has exactly one vector
/// (with the document's id in its payload), and the collection holds no other vector.
func expectConsistent(collection: String, documents expected: Int, client: GRPCClient<HTTP2ClientTransport.Posix>) async throws {
    try await expectConsistent(collection: collection, documents: expected, metadata: client, vectors: client)
}

func expectConsistent(
    collection: String,
    documents expected: Int,
    metadata metadataClient: GRPCClient<HTTP2ClientTransport.Posix>,
    vectors vectorClient: GRPCClient<HTTP2ClientTransport.Posix>
) async throws {
    let metadata = Trove_V1_Metadata.Client(wrapping: metadataClient)
    let vectors = Trove_V1_VectorSearch.Client(wrapping: vectorClient)
    let documents = try await metadata.allDocuments(collection: collection)
    #expect(documents.count == expected)
    var chunkTotal = 0
    for document in documents {
        let chunks = try await metadata.getDocument(.with { $0.id = document.id; $0.includeChunks = true }).chunks
        #expect(chunks.map(\.sequence) == (0..<UInt32(chunks.count)).map { $0 }, "\(document.filename)")
        #expect(chunks.count == Int(document.chunkCount))
        chunkTotal += chunks.count
        guard !chunks.isEmpty else { continue }
        let found = try await vectors.get(.with {
            $0.collection = collection
            $0.ids = chunks.map(\.id)
        }).vectors
        #expect(found.count == chunks.count, "\(document.filename)")
        #expect(found.allSatisfy { $0.payload.fields["document_id"]?.stringValue == document.id })
    }
    let info = try await vectors.describeCollection(.with { $0.name = collection })
    #expect(info.count == UInt64(chunkTotal), "vectors in the collection vs chunks in metadata")
}

extension IngestionTests {
    @Test("An error passed on from another service (NOT_FOUND from the metadata service) reaches the client as that status and leaves its connection, and a watch open on it, alone")
    func passedOnErrorKeepsTheConnection() async throws {
        let services = try await SeparateServices.start("passed-on")
        defer { services.stop() }

        try await withClient(services.ingestion) { client in
            let service = Trove_V1_Ingestion.Client(wrapping: client)
            _ = try await service.createCollection(.with { $0.name = "passed-on" })
            // A watch on this connection, open across the failing calls.
            let watched = GatheredStrings()
            let watch = Task {
                try await service.watchIngestion(.with { $0.collection = "passed-on" }) { response in
                    for try await event in response.messages {
                        watched.insert(event.documentID)
                    }
                }
            }
            defer { watch.cancel() }
            // The watch has begun once a document ingested after it shows in it.
            var begun = false
            for index in 0..<20 where !begun {
                let id = try await service.ingest(collection: "passed-on", filename: "first-\(index).txt", Data("Text \(index), before any error.".utf8)).documentID
                begun = try await watched.wait(for: id, timeout: .milliseconds(500))
            }
            #expect(begun, "the watch delivers events")

            // The ingestion service asks the metadata service, which answers NOT_FOUND; that
            // status comes back, three times on the same connection.
            for _ in 0..<3 {
                await #expect {
                    try await service.getDocumentStatus(.with { $0.documentID = UUID().uuidString.lowercased() })
                } throws: { error in
                    (error as? RPCError)?.code == .notFound
                }
            }
            // The watch is still open and sees the next document.
            let second = try await service.ingest(
                collection: "passed-on", filename: "second.txt", Data("The second text, after three errors.".utf8),
                options: .deadline(.seconds(5)))
            #expect(try await watched.wait(for: second.documentID, timeout: .seconds(10)), "the watch saw the document ingested after the errors")
        }
    }
}
