import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Glibc
import Testing
import TroveContracts
import TroveTestSupport

/// The reliability suite's dependency faults, end to end: `trove serve all` with its objects on
/// S3 behind a fault proxy (moto with signatures checked), ingesting while S3 answers 503s, is
/// slow, or drops connections.
@Suite("Dependency faults", .serialized)
struct DependencyFaultTests {
    @Test("S3 throttling, slow answers and dropped connections: retried where safe, UNAVAILABLE promptly when it lasts, every document completes after")
    func s3Faults() async throws {
        let s3 = try await S3TestServer.moto.endpoint()
        let proxy = try S3FaultProxy(upstream: s3.endpoint)
        let bucket = "faults-" + UUID().uuidString.prefix(8).lowercased()
        let trove = try await TroveProcess.start(environment: [
            "TROVE_EMBEDDING_PROVIDER": "hashing",
            "TROVE_OBJECT_STORAGE_BACKEND": "s3",
            "TROVE_OBJECT_STORAGE_S3_ENDPOINT": proxy.endpoint,
            "TROVE_OBJECT_STORAGE_S3_MAX_ATTEMPTS": "3",
            "TROVE_OBJECT_STORAGE_S3_IDLE_TIMEOUT_SECONDS": "2",
            "AWS_ACCESS_KEY_ID": s3.access_key_id,
            "AWS_SECRET_ACCESS_KEY": s3.secret_access_key,
            "TROVE_INGESTION_BUCKET": bucket,
            "TROVE_INGESTION_RETRY_BACKOFF_MS": "200",
        ])
        defer { Task { await trove.stopAndRemove() } }
        func text(_ name: String) -> String {
            "The \(name) document: stored on S3 while S3 misbehaves, then chunked, embedded and indexed like any other."
        }
        func sha(_ name: String) -> String { sha256Hex(Data(text(name).utf8)) }
        try await withClient(trove) { client in
            let ingestion = Trove_V1_Ingestion.Client(wrapping: client)
            _ = try await ingestion.createCollection(.with { $0.name = "faults" })
            var ids: [String] = []

            // Throttled twice: the object storage service retries, the ingest succeeds.
            try await proxy.failNext(2, status: 503, code: "SlowDown", matching: sha("throttled"))
            ids.append(try await ingestion.ingest(collection: "faults", filename: "throttled.txt", Data(text("throttled").utf8)).documentID)

            // Slow answers are waited for.
            try await proxy.delayNext(3, seconds: 0.5, matching: sha("slow"))
            ids.append(try await ingestion.ingest(collection: "faults", filename: "slow.txt", Data(text("slow").utf8)).documentID)

            // S3 unreachable for longer than the retries: UNAVAILABLE, promptly (within a 20-second
            // deadline), naming the cause. Three tries, and libcurl itself sends a request again
            // once when a reused connection closes without an answer: six drops cover them all.
            try await proxy.dropNext(6, matching: sha("refused"))
            do {
                _ = try await ingestion.ingest(collection: "faults", filename: "refused.txt", Data(text("refused").utf8), options: .deadline(.seconds(20)))
                Issue.record("an ingest while S3 drops every connection should fail")
            } catch let error as RPCError {
                #expect(error.code == .unavailable, "\(error)")
                #expect(!error.message.isEmpty)
            }
            // Retried (max_attempts tries of a request), then given up: every try was dropped.
            let refused = try await proxy.seenRequests().filter { $0.path.contains(sha("refused")) }
            #expect(refused.count >= 3 && refused.allSatisfy(\.injected), "\(refused.map { "\($0.method) \($0.injected)" })")
            try await proxy.clearFaults()

            // Failing while a document is processed (its bytes read back, here by a reprocess):
            // the attempts wait for S3, uncounted, and the document completes once it answers.
            let waiting = try await ingestion.ingest(collection: "faults", filename: "waiting.txt", Data(text("waiting").utf8)).documentID
            #expect(try await ingestion.waitUntilSettled(waiting).status == .completed)
            try await proxy.failNext(6, status: 503, code: "ServiceUnavailable", matching: sha("waiting"))
            _ = try await ingestion.reprocessDocument(.with { $0.documentID = waiting })
            ids.append(waiting)

            // The refused document, sent again once S3 is back.
            ids.append(try await ingestion.ingest(collection: "faults", filename: "refused.txt", Data(text("refused").utf8)).documentID)
            for id in ids {
                let document = try await ingestion.waitUntilSettled(id, timeout: .seconds(120))
                #expect(document.status == .completed, "\(document.filename): \(document.errorMessage)")
            }
            let reads = try await proxy.seenRequests().filter { $0.path.contains(sha("waiting")) && $0.method != "PUT" }
            #expect(reads.filter(\.injected).count == 6, "two attempts, three tries each, failed: \(reads.map { "\($0.method) \($0.injected)" })")
            let reprocessed = try await ingestion.getDocumentStatus(.with { $0.documentID = waiting })
            #expect(reprocessed.attempts >= 4, "the first run, two failed attempts, the one that completed")
            try await expectConsistent(collection: "faults", documents: 4, client: client)
        }
    }

    @Test("An embedding provider that stalls past its timeout: searches answer UNAVAILABLE promptly, documents wait for it uncounted and complete after")
    func embeddingProviderTimeouts() async throws {
        let server = try OpenAIEmbeddingServer()
        let trove = try await TroveProcess.start(environment: server.troveEnvironment.merging([
            "TROVE_EMBEDDING_OPENAI_TIMEOUT_SECONDS": "1",
            "TROVE_EMBEDDING_OPENAI_MAX_ATTEMPTS": "2",
            "TROVE_INGESTION_RETRY_BACKOFF_MS": "200",
        ]) { $1 })
        defer { Task { await trove.stopAndRemove() } }
        try await withClient(trove) { client in
            let ingestion = Trove_V1_Ingestion.Client(wrapping: client)
            _ = try await ingestion.createCollection(.with {
                $0.name = "stalled"
                $0.chunking = .with {
                    $0.unit = .characters
                    $0.size = 300
                }
            })
            let first = try await ingestion.ingest(collection: "stalled", filename: "kettle.txt", Data("Descaling a kettle: boil a mix of water and white vinegar, let it stand, rinse twice.".utf8))
            #expect(try await ingestion.waitUntilSettled(first.documentID).status == .completed)

            // Both tries of a search's query stall for 3 s, past the 1 s timeout: UNAVAILABLE, well
            // within the caller's 15 s deadline, saying why.
            try await server.delayNext(2, seconds: 3)
            do {
                _ = try await ingestion.search(.with {
                    $0.collection = "stalled"
                    $0.query = "how to remove limescale"
                }, options: .deadline(.seconds(15)))
                Issue.record("a search whose query cannot be embedded should fail")
            } catch let error as RPCError {
                #expect(error.code == .unavailable, "\(error)")
                #expect(error.message.contains("timed out") || error.message.contains("timeout"), "\(error.message)")
            }

            // Six stalled requests: three attempts of two tries. The document waits (attempts
            // failed by an unreachable dependency are not counted against it) and completes.
            let before = try await server.seenRequests().count
            try await server.delayNext(6, seconds: 3)
            let second = try await ingestion.ingest(collection: "stalled", filename: "bicycle.txt", Data("Adjusting bicycle brakes: centre the caliper, then tighten the cable until the pads bite.".utf8))
            let settled = try await ingestion.waitUntilSettled(second.documentID, timeout: .seconds(120))
            #expect(settled.status == .completed, "\(settled.errorMessage)")
            #expect(settled.attempts >= 4, "three attempts cut short by the stalls, then the one that completed")
            #expect(try await server.seenRequests().count - before >= 7)

            // After recovery: searches answer and the invariants hold.
            let hits = try await ingestion.search(.with {
                $0.collection = "stalled"
                $0.query = "my brakes are loose"
                $0.k = 1
            }).hits
            #expect(hits.first?.filename == "bicycle.txt")
            try await expectConsistent(collection: "stalled", documents: 2, client: client)
        }
    }

    @Test("The metadata service's answer to a document's completion lost after it was made: the document stays completed with every chunk and vector")
    func lostCompletionAnswer() async throws {
        // The first answer to each document's change to `completed` is lost on the way back to
        // the ingestion service, as when the metadata service dies right after committing.
        let lost = GatheredStrings()
        let texts = (0..<3).map { index in
            (0..<12).map { "Document \(index), sentence \($0): the metadata service commits the change but its answer never arrives." }
                .joined(separator: " ")
        }
        let ids = try await Self.withMetadataLosingAnswers { method, message in
            guard method == Trove_V1_Metadata.Method.UpdateDocumentStatus.descriptor,
                let request = try? Trove_V1_UpdateDocumentStatusRequest(serializedBytes: message),
                request.status == .completed
            else { return false }
            return lost.insert(request.id)
        } ingesting: { api in
            var ids: [String] = []
            for (index, text) in texts.enumerated() {
                ids.append(try await api.ingest(collection: "lost", filename: "doc-\(index).txt", Data(text.utf8)).documentID)
            }
            for id in ids {
                let document = try await api.waitUntilSettled(id, timeout: .seconds(60))
                #expect(document.status == .completed, "\(document.filename): \(document.errorMessage)")
            }
            return ids
        } checking: { ids, metadata in
            #expect(lost.all == Set(ids), "each document's completion lost its answer once")
            for id in ids {
                let document = try await metadata.getDocument(.with {
                    $0.id = id
                    $0.includeChunks = true
                })
                #expect(document.document.status == .completed)
                #expect(!document.chunks.isEmpty, "\(document.document.filename) kept its chunks")
            }
        }
        #expect(ids.count == texts.count)
    }

    @Test("Answers lost after a document was created and after a reprocess was granted: the client's retry finds the document pending, and it is processed")
    func lostCreationAndReprocessAnswers() async throws {
        // The first answer to creating each document, and to taking a document back to
        // `pending` for a reprocess, is lost on the way back to the ingestion service.
        let lost = GatheredStrings()
        let texts = (0..<2).map { index in
            (0..<8).map { "Text \(index), line \($0): the document exists before anybody hears that it does." }.joined(separator: " ")
        }
        _ = try await Self.withMetadataLosingAnswers { method, message in
            switch method {
            case Trove_V1_Metadata.Method.CreateDocument.descriptor:
                guard let request = try? Trove_V1_CreateDocumentRequest(serializedBytes: message) else { return false }
                return lost.insert("create " + request.document.filename)
            case Trove_V1_Metadata.Method.UpdateDocumentStatus.descriptor:
                guard let request = try? Trove_V1_UpdateDocumentStatusRequest(serializedBytes: message),
                    request.status == .pending, request.errorMessage == "reprocessing requested"
                else { return false }
                return lost.insert("reprocess " + request.id)
            default:
                return false
            }
        } ingesting: { api in
            var ids: [String] = []
            for (index, text) in texts.enumerated() {
                let filename = "text-\(index).txt"
                await #expect(throws: RPCError.self, "the first answer is lost") {
                    try await api.ingest(collection: "lost", filename: filename, Data(text.utf8))
                }
                let again = try await api.ingest(collection: "lost", filename: filename, Data(text.utf8))
                #expect(again.duplicate, "the first call created the document")
                ids.append(again.documentID)
            }
            for id in ids {
                let document = try await api.waitUntilSettled(id, timeout: .seconds(30))
                #expect(document.status == .completed, "\(document.filename) is \(document.status)")
            }
            await #expect(throws: RPCError.self, "the first answer is lost") {
                try await api.reprocessDocument(.with { $0.documentID = ids[0] })
            }
            let reprocess = try await api.reprocessDocument(.with { $0.documentID = ids[0] })
            #expect(reprocess.status == .pending)
            let reprocessed = try await api.waitUntilSettled(ids[0], timeout: .seconds(30))
            #expect(reprocessed.status == .completed, "\(reprocessed.filename) is \(reprocessed.status)")
            #expect(reprocessed.attempts == 2)
            return ids
        } checking: { _, _ in }
    }

    /// Starts the four other services, and the ingestion service talking to the metadata service
    /// through an `AnswerLosingProxy` that loses the answers `losesAnswer` picks; runs
    /// `ingesting` with a collection "lost" made, then `checking` with the metadata service
    /// directly, and checks that the stores agree.
    private static func withMetadataLosingAnswers(
        losesAnswer: @escaping @Sendable (MethodDescriptor, [UInt8]) -> Bool,
        ingesting: @escaping @Sendable (Trove_V1_Ingestion.Client<HTTP2ClientTransport.Posix>) async throws -> [String],
        checking: ([String], Trove_V1_Metadata.Client<HTTP2ClientTransport.Posix>) async throws -> Void
    ) async throws -> [String] {
        let base = FileManager.default.temporaryDirectory.path + "/trove-lost-answer-" + UUID().uuidString
        var environment = ["TROVE_EMBEDDING_PROVIDER": "hashing", "TROVE_INGESTION_RETRY_BACKOFF_MS": "100"]
        let services = try await TroveProcess.startEach(dataDirectory: base, environment: &environment)
        defer {
            for service in services { service.signal(SIGKILL) }
            try? FileManager.default.removeItem(atPath: base)
        }
        let (metadata, vectorSearch) = (services[0], services[3])
        let ids = try await AnswerLosingProxy.serving(to: metadata, methods: Trove_V1_Metadata.Method.descriptors, losesAnswer: losesAnswer) { port in
            environment["TROVE_METADATA_ADDRESS"] = "127.0.0.1:\(port)"
            let ingestion = try await TroveProcess.start(role: "ingestion", dataDirectory: base, environment: environment)
            // Gone before the proxy stops: a call arriving at a proxy that is shutting down can
            // crash the test process (NIOAsyncWriter deinited without finish()).
            func stopIngestion() async {
                ingestion.signal(SIGKILL)
                _ = try? await ingestion.waitForExit()
            }
            do {
                let ids = try await withClient(ingestion) { client in
                    let api = Trove_V1_Ingestion.Client(wrapping: client)
                    _ = try await api.createCollection(.with { $0.name = "lost" })
                    return try await ingesting(api)
                }
                await stopIngestion()
                return ids
            } catch {
                await stopIngestion()
                throw error
            }
        }
        try await withClient(metadata) { metadataClient in
            try await checking(ids, Trove_V1_Metadata.Client(wrapping: metadataClient))
            try await withClient(vectorSearch) { vectorClient in
                try await expectConsistent(collection: "lost", documents: ids.count, metadata: metadataClient, vectors: vectorClient)
            }
        }
        return ids
    }
}
