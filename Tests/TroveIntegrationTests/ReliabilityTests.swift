import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Glibc
import Synchronization
import Testing
import TroveContracts

/// The reliability suite's crash scenario: the five services as separate processes, each killed
/// with SIGKILL at random moments during an ingest with searches running, and restarted; then
/// every invariant of the stores is checked. CI runs 3 kills per service; `Scripts/reliability.sh`
/// (TROVE_RELIABILITY_LONG=1) runs 20.
@Suite("Reliability", .serialized)
struct ReliabilityTests {
    static let isLong = ProcessInfo.processInfo.environment["TROVE_RELIABILITY_LONG"] == "1"
    static let roles = ["metadata", "object-storage", "embedding", "vector-search", "ingestion"]

    @Test("Crash anywhere: every service killed during a 1,000-document ingest with searches; nothing lost, orphaned or duplicated")
    func crashAnywhere() async throws {
        let killsPerService = Self.isLong ? 20 : 3
        let documentCount = 1000
        let seed = UInt64(ProcessInfo.processInfo.environment["TROVE_RELIABILITY_SEED"] ?? "") ?? UInt64.random(in: 1...UInt64.max >> 1)
        print("reliability: crash anywhere, seed \(seed) (TROVE_RELIABILITY_SEED repeats the run)")
        var random = SeededRandom(seed: seed)
        let texts = (0..<documentCount).map { Self.document($0, random: &random) }

        let base = FileManager.default.temporaryDirectory.path + "/trove-crash-" + UUID().uuidString
        let cluster = try await Cluster.start(roles: Self.roles, dataDirectory: base, environment: ["TROVE_EMBEDDING_PROVIDER": "hashing"])
        defer {
            cluster.killAll()
            try? FileManager.default.removeItem(atPath: base)
        }
        try await cluster.withClient("ingestion") { client in
            _ = try await Self.retrying { try await Trove_V1_Ingestion.Client(wrapping: client).createCollection(.with { $0.name = "crash" }) }
        }

        let kills = Self.killSchedule(perService: killsPerService, random: &random)
        // Spread the ingest over the kills so that every kill lands while documents arrive.
        let pace = Duration.seconds(kills.map(\.delay).reduce(0, +) + Double(kills.count) * 1.0) / documentCount
        let state = RunState()

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await cluster.withClient("ingestion") { client in
                    let ingestion = Trove_V1_Ingestion.Client(wrapping: client)
                    for (index, text) in texts.enumerated() {
                        let response = try await Self.retrying {
                            try await ingestion.ingest(collection: "crash", filename: "doc-\(index).txt", Data(text.utf8))
                        }
                        state.acknowledged.withLock { $0[index] = response.documentID }
                        try await Task.sleep(for: pace)
                    }
                }
                state.ingestDone.store(true, ordering: .relaxed)
            }
            group.addTask {
                try await cluster.withClient("ingestion") { client in
                    let ingestion = Trove_V1_Ingestion.Client(wrapping: client)
                    var query = 0
                    while !state.ingestDone.load(ordering: .relaxed) {
                        query += 1
                        do {
                            _ = try await ingestion.search(
                                .with {
                                    $0.collection = "crash"
                                    $0.query = "item \(query * 7) colour \(["red", "green", "blue"][query % 3])"
                                    $0.k = 5
                                    $0.mode = query % 2 == 0 ? .vector : .hybrid
                                },
                                options: .deadline(.seconds(10))
                            )
                            state.searches.withLock { $0.succeeded += 1 }
                        } catch {
                            state.searches.withLock { $0.failed += 1 }
                            try await Task.sleep(for: .milliseconds(50))
                        }
                    }
                }
            }
            group.addTask {
                for kill in kills {
                    try await Task.sleep(for: .seconds(kill.delay))
                    try await cluster.killAndRestart(kill.role)
                }
            }
            try await group.waitForAll()
        }

        let ids = state.acknowledged.withLock { $0 }
        #expect(ids.count == documentCount)
        #expect(Set(ids.values).count == documentCount, "every text is its own document")
        try await cluster.withClient("ingestion") { client in
            let ingestion = Trove_V1_Ingestion.Client(wrapping: client)
            for id in ids.values {
                _ = try await Self.retrying { try await ingestion.waitUntilSettled(id, timeout: .seconds(600)) }
            }
        }
        let violations = try await Self.checkInvariants(cluster: cluster, collection: "crash", texts: texts, ids: ids)
        let (succeeded, failed) = state.searches.withLock { ($0.succeeded, $0.failed) }
        let perRole = Dictionary(grouping: kills, by: \.role).mapValues(\.count)
        print(
            "reliability: crash anywhere — \(kills.count) kills (\(Self.roles.map { "\($0) \(perRole[$0] ?? 0)" }.joined(separator: ", "))), "
                + "\(documentCount) documents (\(violations.completed) completed, \(violations.failed) failed), "
                + "searches \(succeeded) answered / \(failed) refused during kills, invariant violations \(violations.list.count)"
        )
        for violation in violations.list.prefix(50) {
            Issue.record("invariant violated: \(violation)")
        }
    }

    // MARK: The run

    /// What the run's concurrent tasks share.
    final class RunState: Sendable {
        /// Document ids by text number, as the ingestion service acknowledged them.
        let acknowledged = Mutex<[Int: String]>([:])
        let searches = Mutex((succeeded: 0, failed: 0))
        let ingestDone = Atomic<Bool>(false)
    }

    struct Kill {
        var role: String
        /// Seconds after the previous restart.
        var delay: Double
    }

    /// Each service `perService` times, in turn, at random moments.
    static func killSchedule(perService: Int, random: inout SeededRandom) -> [Kill] {
        (0..<perService).flatMap { _ in
            Self.roles.map { Kill(role: $0, delay: 0.2 + random.nextUnit() * 1.3) }
        }
    }

    /// A plain-text document of 2 to 60 sentences: one to several chunks.
    static func document(_ index: Int, random: inout SeededRandom) -> String {
        let sentences = 2 + Int(random.nextUnit() * 58)
        return (0..<sentences).map { sentence in
            "Document \(index) sentence \(sentence) mentions item \(index * 31 + sentence) and colour \(["red", "green", "blue"][(index + sentence) % 3])."
        }.joined(separator: sentences % 4 == 0 ? "\n\n" : " ")
    }

    /// Runs `body` until it succeeds: a service being killed or restarted refuses calls for a
    /// moment. Gives up after two minutes.
    static func retrying<Result: Sendable>(_ body: () async throws -> Result) async throws -> Result {
        let deadline = ContinuousClock.now + .seconds(120)
        while true {
            do {
                return try await body()
            } catch let error as RPCError where ContinuousClock.now < deadline {
                // Only statuses a restart explains; anything else is a bug to see.
                guard [.unavailable, .deadlineExceeded, .cancelled, .unknown].contains(error.code) else { throw error }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    // MARK: Invariants

    struct Violations {
        var list: [String] = []
        var completed = 0
        var failed = 0
    }

    /// Every document completed, or failed with a reason; a completed one has its object with the
    /// right SHA-256, contiguous chunks whose offsets cover its text, and one vector per chunk; a
    /// failed one has neither chunks nor vectors; no vector, chunk or object belongs to no
    /// document; nothing is duplicated.
    static func checkInvariants(cluster: Cluster, collection: String, texts: [String], ids: [Int: String]) async throws -> Violations {
        var violations = Violations()
        try await cluster.withClient("metadata") { metadataClient in
            try await cluster.withClient("vector-search") { vectorClient in
                try await cluster.withClient("object-storage") { objectClient in
                    let metadata = Trove_V1_Metadata.Client(wrapping: metadataClient)
                    let vectors = Trove_V1_VectorSearch.Client(wrapping: vectorClient)
                    let objects = Trove_V1_ObjectStorage.Client(wrapping: objectClient)
                    let documents = try await metadata.allDocuments(collection: collection)

                    let indexByID = Dictionary(uniqueKeysWithValues: ids.map { ($1, $0) })
                    if documents.count != texts.count {
                        violations.list.append("\(documents.count) documents for \(texts.count) texts")
                    }
                    if Set(documents.map(\.filename)).count != documents.count {
                        violations.list.append("a filename appears twice among the documents")
                    }
                    var chunkIDs = Set<String>()
                    var objectKeys = Set<String>()
                    for document in documents {
                        guard let index = indexByID[document.id] else {
                            violations.list.append("document \(document.id) (\(document.filename)) was never acknowledged")
                            continue
                        }
                        let text = texts[index]
                        objectKeys.insert(document.location.key)
                        let chunks = try await metadata.getDocument(.with { $0.id = document.id; $0.includeChunks = true }).chunks
                        let found = chunks.isEmpty ? [] : try await vectors.get(.with { $0.collection = collection; $0.ids = chunks.map(\.id) }).vectors
                        switch document.status {
                        case .completed:
                            violations.completed += 1
                            violations.list += Self.checkCompleted(document, text: text, chunks: chunks, vectors: found)
                            let (info, bytes) = try await objects.download(bucket: document.location.bucket, key: document.location.key)
                            let digest = sha256Hex(bytes)
                            let expected = sha256Hex(Data(text.utf8))
                            if digest != expected || document.sha256 != expected || info.sha256 != expected {
                                violations.list.append("\(document.filename): object \(document.location.key) has SHA-256 \(digest), document says \(document.sha256), text is \(expected)")
                            }
                        case .failed:
                            violations.failed += 1
                            print("reliability: \(document.filename) failed: \(document.errorMessage)")
                            if document.errorMessage.isEmpty {
                                violations.list.append("\(document.filename) failed without a reason")
                            }
                            if !chunks.isEmpty || !found.isEmpty {
                                violations.list.append("\(document.filename) failed but kept \(chunks.count) chunks and \(found.count) vectors")
                            }
                        default:
                            violations.list.append("\(document.filename) is still \(document.status) after settling")
                        }
                        for chunk in chunks where !chunkIDs.insert(chunk.id).inserted {
                            violations.list.append("chunk \(chunk.id) appears twice")
                        }
                    }

                    let vectorCount = try await vectors.describeCollection(.with { $0.name = collection }).count
                    if vectorCount != UInt64(chunkIDs.count) {
                        violations.list.append("the collection holds \(vectorCount) vectors for \(chunkIDs.count) chunks")
                    }
                    let stats = try await metadata.getStats(.init())
                    let chunkRows = stats.tables.first { $0.table == "chunks" }?.rows ?? 0
                    if chunkRows != UInt64(chunkIDs.count) {
                        violations.list.append("the metadata store holds \(chunkRows) chunks, the documents \(chunkIDs.count)")
                    }
                    var stored = Set<String>()
                    var continuation = ""
                    let bucket = documents.first?.location.bucket ?? "trove-documents"
                    repeat {
                        let page = try await objects.listObjects(.with {
                            $0.bucket = bucket
                            $0.prefix = collection + "/"
                            $0.continuationToken = continuation
                        })
                        stored.formUnion(page.objects.map(\.key))
                        continuation = page.nextContinuationToken
                    } while !continuation.isEmpty
                    for key in stored.subtracting(objectKeys).sorted() {
                        violations.list.append("object \(key) belongs to no document")
                    }
                    for key in objectKeys.subtracting(stored).sorted() {
                        violations.list.append("document object \(key) is missing")
                    }
                }
            }
        }
        return violations
    }

    /// A completed document's chunks: numbered from 0, as many as it says, each the text between
    /// its offsets, together covering the text without gaps; one vector each, naming the document.
    static func checkCompleted(_ document: Trove_V1_Document, text: String, chunks: [Trove_V1_Chunk], vectors: [Trove_V1_Vector]) -> [String] {
        var problems: [String] = []
        let name = document.filename
        let scalars = Array(text.unicodeScalars)
        if chunks.isEmpty { problems.append("\(name) completed without chunks") }
        if chunks.map(\.sequence) != (0..<UInt32(chunks.count)).map({ $0 }) { problems.append("\(name): chunk numbers \(chunks.map(\.sequence))") }
        if chunks.count != Int(document.chunkCount) { problems.append("\(name): \(chunks.count) chunks, the document says \(document.chunkCount)") }
        var covered = 0
        for chunk in chunks {
            let start = Int(chunk.startOffset)
            let end = Int(chunk.endOffset)
            guard start < end, end <= scalars.count else {
                problems.append("\(name): chunk \(chunk.sequence) has offsets \(start)..<\(end) in a text of \(scalars.count)")
                continue
            }
            if String(String.UnicodeScalarView(scalars[start..<end])) != chunk.content {
                problems.append("\(name): chunk \(chunk.sequence)'s content is not the text between its offsets")
            }
            if start > covered, !scalars[covered..<start].allSatisfy(\.properties.isWhitespace) {
                problems.append("\(name): text \(covered)..<\(start) is in no chunk")
            }
            covered = max(covered, end)
        }
        if covered < scalars.count, !scalars[covered...].allSatisfy(\.properties.isWhitespace) {
            problems.append("\(name): text from \(covered) is in no chunk")
        }
        if vectors.count != chunks.count { problems.append("\(name): \(vectors.count) vectors for \(chunks.count) chunks") }
        if !vectors.allSatisfy({ $0.payload.fields["document_id"]?.stringValue == document.id }) {
            problems.append("\(name): a vector names another document")
        }
        return problems
    }
}

/// The five services as separate processes on fixed ports, so one can be killed and restarted
/// where the others expect it.
final class Cluster: Sendable {
    private let processes: Mutex<[String: TroveProcess]>
    private let ports: [String: Int]
    private let dataDirectory: String
    private let environment: [String: String]

    private init(processes: [String: TroveProcess], dataDirectory: String, environment: [String: String]) {
        self.processes = Mutex(processes)
        self.ports = processes.mapValues(\.port)
        self.dataDirectory = dataDirectory
        self.environment = environment
    }

    /// Starts `roles` in order, each told where the ones before it listen.
    static func start(roles: [String], dataDirectory: String, environment: [String: String]) async throws -> Cluster {
        var environment = environment
        let started = try await TroveProcess.startEach(roles, dataDirectory: dataDirectory, environment: &environment)
        return Cluster(processes: Dictionary(uniqueKeysWithValues: zip(roles, started)), dataDirectory: dataDirectory, environment: environment)
    }

    /// SIGKILLs `role`, waits for it to die and starts it again on its port.
    func killAndRestart(_ role: String) async throws {
        guard let process = self.processes.withLock({ $0[role] }), let port = self.ports[role] else { return }
        process.signal(SIGKILL)
        _ = try await process.waitForExit()
        var attempt = 0
        while true {
            attempt += 1
            do {
                let restarted = try await TroveProcess.start(
                    role: role,
                    dataDirectory: self.dataDirectory,
                    listen: "127.0.0.1:\(port)",
                    environment: self.environment
                )
                self.processes.withLock { $0[role] = restarted }
                return
            } catch where attempt < 20 {
                // The port may not be free again yet.
                try await Task.sleep(for: .milliseconds(250))
            }
        }
    }

    /// A client of `role`'s port; it reconnects by itself after a restart.
    func withClient<Result: Sendable>(_ role: String, _ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> Result) async throws -> Result {
        try await TroveIntegrationTests.withClient(host: "127.0.0.1", port: self.ports[role]!, body)
    }

    func killAll() {
        for process in self.processes.withLock({ Array($0.values) }) {
            process.signal(SIGKILL)
        }
    }
}

/// SplitMix64: the run's randomness, repeatable from its seed.
struct SeededRandom {
    private var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in [0, 1).
    mutating func nextUnit() -> Double {
        Double(self.next() >> 11) / Double(1 << 53)
    }
}
