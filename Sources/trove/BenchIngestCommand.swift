import ArgumentParser
import Foundation
import GRPCCore
import SwiftProtobuf
import TroveContracts

/// `trove bench ingest`: a corpus of text files through Trove's whole pipeline, beside the
/// pipeline users build today (sentence-transformers + Chroma) fed the same chunks.
struct BenchIngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Ingest a corpus end to end and search it, beside sentence-transformers + Chroma.",
        discussion: """
            Starts `trove serve all` (default model and chunking) in a fresh data directory, ingests every \
            file of the corpus, then searches it. The peer gets the chunks Trove made, embeds them with \
            sentence-transformers (same model) and adds them to a Chroma PersistentClient, then answers \
            the same queries. Trove's model alone is timed too, on a sample of the chunks sent \
            straight to the embedding service, for its share of the ingest. Benchmarks/ingest.sh \
            makes the corpus, installs the peer and runs this.
            """
    )

    @Option(name: .long, help: "A directory of text files.")
    var corpus: String

    @Option(name: .long, help: "Files uploaded at once.")
    var parallel = 8

    @Option(name: .long, help: "Search queries timed (taken from the corpus's chunks, seeded).")
    var queries = 1000

    @Option(name: .long, help: "Python with sentence-transformers and chromadb (empty: skip the peer).")
    var python = ".venv-bench/bin/python"

    @Option(name: .long, help: "The peer script.")
    var peerScript = "Benchmarks/chroma_ingest.py"

    @Option(name: .long, help: "Threads for the peer's PyTorch.")
    var peerThreads = 2

    @Option(name: .long, help: "Chunks embedded again through the embedding service alone, for the model's share of the ingest (0: skip).")
    var modelSample = 2000

    func run() async throws {
        let files = try FileSelection(include: [], exclude: []).files(in: [self.corpus])
        guard !files.isEmpty else { throw CommandFailure("no files in \(self.corpus)") }
        let totalBytes = files.reduce(0) { $0 + $1.size }
        let work = FileManager.default.temporaryDirectory.path + "/trove-bench-ingest-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: work) }
        let server = try await ServiceProcess.start("all", dataDirectory: work + "/trove")
        defer { server.stop() }
        print("corpus: \(files.count) files, \(IngestProgress.format(Double(totalBytes) / 1_048_576, digits: 1)) MB; parallel uploads: \(self.parallel)")

        let trove = try await server.withGRPCClient { client in
            try await self.measureTrove(files: files, client: client, server: server, work: work)
        }
        print(
            "trove: \(trove.documents) documents, \(trove.chunks) chunks in \(IngestProgress.format(trove.seconds, digits: 1)) s"
                + (trove.failed > 0 ? " (\(trove.failed) failed)" : "")
        )
        var peer: PeerResult?
        if !self.python.isEmpty {
            print("peer: sentence-transformers + chromadb on the same \(trove.chunks) chunks …")
            let output = try runPeerProgram(
                [
                    self.python, self.peerScript, "--chunks", work + "/chunks.jsonl", "--queries", work + "/queries.txt",
                    "--db", work + "/chroma", "--threads", "\(self.peerThreads)", "--json",
                ],
                name: "sentence-transformers + Chroma peer"
            )
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            peer = try decoder.decode(PeerResult.self, from: output)
        }
        self.printTable(trove: trove, peer: peer, bytes: totalBytes)
    }

    struct TroveResult {
        var documents: Int
        var failed: Int
        var chunks: Int
        var seconds: Double
        var stageMicroseconds: [String: UInt64]
        var searchMilliseconds: [Double]
        /// The model alone: chunks a second through the embedding service, and how many were timed.
        var model: (chunksPerSecond: Double, sample: Int)?
        var cpu: CPUTime
    }

    /// CPU seconds: the service process's, its embedding runner threads' (the model) and this
    /// process's (the client reading and uploading the files).
    struct CPUTime {
        var service: Double
        var model: Double
        var client: Double

        static func now(_ server: ServiceProcess) -> CPUTime {
            CPUTime(
                service: server.cpuSeconds,
                model: server.cpuSeconds(ofThreadsNamed: "trove.minilm"),
                client: ServiceProcess.cpuSeconds(stat: "/proc/self/stat")
            )
        }

        static func - (after: CPUTime, before: CPUTime) -> CPUTime {
            CPUTime(service: after.service - before.service, model: after.model - before.model, client: after.client - before.client)
        }
    }

    /// What the peer script prints with --json.
    struct PeerResult: Decodable {
        var documents: Int
        var chunks: Int
        var ingestSeconds: Double
        var embedSeconds: Double
        var addSeconds: Double
        var queryP50Ms: Double
        var queryP99Ms: Double
        var chromadbVersion: String?
    }

    private func measureTrove(
        files: [SelectedFile], client: GRPCClient<some ClientTransport>, server: ServiceProcess, work: String
    ) async throws -> TroveResult {
        let ingestion = Trove_V1_Ingestion.Client(wrapping: client)
        _ = try await ingestion.createCollection(.with { $0.name = "bench" })
        let startCPU = CPUTime.now(server)
        let start = ContinuousClock.now
        try await forEach(files, atOnce: self.parallel) { file in
            _ = try await IngestCommand.upload(file, collection: "bench", metadata: .init(), ingestion: ingestion)
        }
        // Done when no document is pending or processing (two one-row lists: cheap to ask often).
        while true {
            var unsettled = 0
            for state in [Trove_V1_DocumentStatus.pending, .processing] {
                unsettled += try await ingestion.listDocuments(.with {
                    $0.collection = "bench"
                    $0.status = state
                    $0.page = .with { $0.pageSize = 1 }
                }).documents.count
            }
            if unsettled == 0 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let seconds = (ContinuousClock.now - start).seconds
        let cpu = CPUTime.now(server) - startCPU
        let status = try await ingestion.getSystemStatus(.init())

        // The chunks, for the peer, and queries made from them.
        var lines = Data()
        var chunkTexts: [String] = []
        var token = ""
        let encoder = JSONEncoder()
        repeat {
            let page = try await ingestion.listDocuments(.with {
                $0.collection = "bench"
                $0.page = .with { $0.pageSize = 500; $0.pageToken = token }
            })
            for document in page.documents {
                let chunks = try await Trove_V1_Metadata.Client(wrapping: client).getDocument(.with {
                    $0.id = document.id
                    $0.includeChunks = true
                }).chunks
                for chunk in chunks {
                    let line = PeerChunk(document: document.filename, chunk: Int(chunk.sequence), text: chunk.content, bytes: Int(document.sizeBytes))
                    lines.append(try encoder.encode(line))
                    lines.append(0x0A)
                    chunkTexts.append(chunk.content)
                }
            }
            token = page.nextPageToken
        } while !token.isEmpty
        try lines.write(to: URL(fileURLWithPath: work + "/chunks.jsonl"))
        let queries = Self.queries(from: chunkTexts, count: self.queries)
        try (queries.joined(separator: "\n") + "\n").write(toFile: work + "/queries.txt", atomically: true, encoding: .utf8)

        var latencies: [Double] = []
        latencies.reserveCapacity(queries.count)
        for query in queries {
            let begin = ContinuousClock.now
            _ = try await ingestion.search(.with {
                $0.collection = "bench"
                $0.query = query
                $0.k = 10
                $0.noCache = true
            })
            latencies.append((ContinuousClock.now - begin).seconds * 1000)
        }

        // The model alone: chunks spread over the corpus through the embedding service in full
        // batches, as many at once as the service runs passes (one per core), nothing else running.
        var model: (chunksPerSecond: Double, sample: Int)?
        if self.modelSample > 0 && !chunkTexts.isEmpty {
            let step = max(1, chunkTexts.count / self.modelSample)
            let sample = Array(stride(from: 0, to: chunkTexts.count, by: step).prefix(self.modelSample).map { chunkTexts[$0] })
            let batches = stride(from: 0, to: sample.count, by: 32).map { Array(sample[$0..<min(sample.count, $0 + 32)]) }
            let embedding = Trove_V1_Embedding.Client(wrapping: client)
            let begin = ContinuousClock.now
            try await forEach(batches, atOnce: ProcessInfo.processInfo.activeProcessorCount) { batch in
                _ = try await embedding.embed(.with { $0.texts = batch })
            }
            model = (Double(sample.count) / (ContinuousClock.now - begin).seconds, sample.count)
        }
        return TroveResult(
            documents: files.count,
            failed: Int(status.documentsByStatus["failed"] ?? 0),
            chunks: Int(status.chunks),
            seconds: seconds,
            stageMicroseconds: status.stageTimeUs,
            searchMilliseconds: latencies.sorted(),
            model: model,
            cpu: cpu
        )
    }

    private struct PeerChunk: Encodable {
        var document: String
        var chunk: Int
        var text: String
        var bytes: Int
    }

    /// Up to `count` queries: the first eight words of chunks picked with a fixed seed.
    static func queries(from chunks: [String], count: Int) -> [String] {
        guard !chunks.isEmpty else { return [] }
        var state: UInt64 = 0x5EED
        var queries: [String] = []
        var tries = 0
        while queries.count < count && tries < count * 100 {
            tries += 1
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let chunk = chunks[Int((state >> 33) % UInt64(chunks.count))]
            let words = chunk.split(whereSeparator: { $0.isWhitespace }).prefix(8)
            if words.count >= 3 { queries.append(words.joined(separator: " ")) }
        }
        return queries
    }

    private func printTable(trove: TroveResult, peer: PeerResult?, bytes: Int) {
        let megabytes = Double(bytes) / 1_048_576
        func percentile(_ sorted: [Double], _ p: Double) -> Double {
            sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
        }
        let troveP50 = percentile(trove.searchMilliseconds, 0.5)
        let troveP99 = percentile(trove.searchMilliseconds, 0.99)
        var rows: [(String, Double, Double?, Bool)] = [
            ("documents/s", Double(trove.documents) / trove.seconds, peer.map { Double($0.documents) / $0.ingestSeconds }, true),
            ("MB/s", megabytes / trove.seconds, peer.map { megabytes / $0.ingestSeconds }, true),
            ("chunks/s", Double(trove.chunks) / trove.seconds, peer.map { Double($0.chunks) / $0.ingestSeconds }, true),
            ("ingest seconds", trove.seconds, peer.map(\.ingestSeconds), false),
        ]
        rows.append(("search p50 ms", troveP50, peer.map(\.queryP50Ms), false))
        rows.append(("search p99 ms", troveP99, peer.map(\.queryP99Ms), false))
        print()
        print(padded("", 18) + padded("trove", 12) + padded("st+chroma", 12) + "trove advantage")
        for (name, ours, theirs, higherIsBetter) in rows {
            let ratio = theirs.map { theirs in higherIsBetter ? ours / theirs : theirs / ours }
            print(
                padded(name, 18) + padded(IngestProgress.format(ours, digits: 3), 12)
                    + padded(theirs.map { IngestProgress.format($0, digits: 3) } ?? "-", 12)
                    + (ratio.map { IngestProgress.format($0, digits: 2) + "×" } ?? "-")
            )
        }
        let stageTotal = max(1, trove.stageMicroseconds.values.reduce(0, +))
        print()
        print("trove processing time by stage (summed over workers):")
        for stage in ["storage", "extract", "chunk", "embed", "index", "metadata"] {
            let value = trove.stageMicroseconds[stage] ?? 0
            print(
                "  " + padded(stage, 10) + padded(IngestProgress.format(Double(value) / 1e6, digits: 1) + " s", 12)
                    + IngestProgress.format(Double(value) * 100 / Double(stageTotal), digits: 1) + " %"
            )
        }
        let cpu = trove.cpu
        if cpu.model > 0 {
            let rest = cpu.service - cpu.model
            print(
                "trove's CPU during the ingest: the service process \(IngestProgress.format(cpu.service, digits: 1)) s — the model's threads "
                    + "\(IngestProgress.format(cpu.model, digits: 1)) s (\(IngestProgress.format(100 * cpu.model / cpu.service, digits: 1)) %), "
                    + "everything else \(IngestProgress.format(rest, digits: 1)) s (\(IngestProgress.format(100 * rest / cpu.service, digits: 1)) %); "
                    + "this client, reading and uploading the files, \(IngestProgress.format(cpu.client, digits: 1)) s"
            )
        }
        if let peer {
            print(
                "peer time: embed \(IngestProgress.format(peer.embedSeconds, digits: 1)) s, chroma add \(IngestProgress.format(peer.addSeconds, digits: 1)) s"
                    + (peer.chromadbVersion.map { " (chromadb \($0))" } ?? "")
            )
        }
        if let model = trove.model {
            // What the ingest would take if it were the model and nothing else.
            let modelSeconds = Double(trove.chunks) / model.chunksPerSecond
            let peerRate = peer.map { Double($0.chunks) / $0.embedSeconds }
            print(
                "model alone: \(model.sample) of the chunks through the embedding service, \(IngestProgress.format(model.chunksPerSecond, digits: 1)) chunks/s"
                    + (peerRate.map { ", \(IngestProgress.format(model.chunksPerSecond / $0, digits: 2))× the peer's embedding" } ?? "")
                    + "; all \(trove.chunks) would take \(IngestProgress.format(modelSeconds, digits: 1)) s, "
                    + "\(IngestProgress.format(100 * modelSeconds / trove.seconds, digits: 0)) % of trove's ingest"
            )
        }
    }
}
