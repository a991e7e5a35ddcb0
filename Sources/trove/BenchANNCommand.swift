import ArgumentParser
import Foundation
import GRPCCore
import GRPCInProcessTransport
import GRPCNIOTransportHTTP2
import Logging
import TroveContracts
import TroveVectorSearch
import VectorIndex

/// `trove bench ann`: the HNSW engine against hnswlib on the same seeded data, in one run, and
/// the same queries through the vector-search service.
struct BenchANNCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ann",
        abstract: "Recall, queries per second, latency, build speed and memory of the HNSW engine versus hnswlib.",
        discussion: """
            Generates two seeded data sets — clustered (a Gaussian mixture, each cluster varying \
            mostly in a low-rank subspace, L2-normalised, cosine) and uniform random (L2) — computes \
            their exact nearest neighbours, builds the index on one thread and queries it one query \
            at a time for each ef; then runs Benchmarks/hnswlib_ann.py to do the same with hnswlib, \
            and sends the clustered queries through the vector-search service, in process and over \
            loopback HTTP/2. \
            Benchmarks/ann.sh installs hnswlib into .venv-bench and runs this.
            """
    )

    @Option(name: .long, help: "Base vectors of the clustered set.")
    var count = 200_000

    @Option(name: .long, help: "Queries of each set.")
    var queries = 1_000

    @Option(name: .long, help: "Dimension of the clustered set.")
    var dimension = 384

    @Option(name: .long, help: "Clusters of the clustered set.")
    var clusters = 1_000

    @Option(name: .long, help: "Base vectors of the uniform set (0: skip it).")
    var uniformCount = 100_000

    @Option(name: .long, help: "Dimension of the uniform set.")
    var uniformDimension = 128

    @Option(name: .long, help: "ef values to measure.")
    var ef: [Int] = [16, 32, 64, 128, 256]

    @Option(name: .customLong("m"), help: "HNSW M.")
    var m = 16

    @Option(name: .long, help: "HNSW ef_construction.")
    var efConstruction = 200

    @Option(name: .long, help: "Seed of the data and of the level generators.")
    var seed: UInt64 = 42

    @Option(name: .long, help: "Python with numpy and hnswlib, for the peer (empty: skip the peer).")
    var python = ".venv-bench/bin/python"

    @Option(name: .long, help: "The hnswlib peer script.")
    var peerScript = "Benchmarks/hnswlib_ann.py"

    @Flag(name: .long, help: "Skip the queries through the gRPC service.")
    var noService = false

    @Option(name: .long, help: "Directory for the data sets and the service's data (default: a new temporary one).")
    var directory: String?

    static let k = 10

    func validate() throws {
        guard self.count > Self.k, self.queries > 0, self.dimension > 0, self.clusters > 0, !self.ef.isEmpty,
            self.ef.allSatisfy({ $0 >= Self.k })
        else {
            throw ValidationError("counts and dimensions must be positive, and every ef at least k = \(Self.k)")
        }
    }

    func run() async throws {
        let root = self.directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("trove-bench-ann-\(UUID())").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { if self.directory == nil { try? FileManager.default.removeItem(atPath: root) } }

        var sets = [
            ANNDataset.clustered(count: self.count, queries: self.queries, dimension: self.dimension, clusters: self.clusters, rank: 16, seed: self.seed)
        ]
        if self.uniformCount > 0 {
            sets.append(ANNDataset.uniform(count: self.uniformCount, queries: self.queries, dimension: self.uniformDimension, seed: self.seed + 1))
        }
        // Every index is built before anything else runs, so each one's growth of resident
        // memory is not blurred by memory freed from an earlier step.
        let built = sets.map { self.buildEngine($0) }
        for (var dataset, (index, build)) in zip(sets, built) {
            let clock = ContinuousClock()
            let started = clock.now
            dataset.computeGroundTruth(k: Self.k, with: index)
            printError("\(dataset.name): exact ground truth in \(String(format: "%.1f", (clock.now - started).seconds)) s")
            let directory = root + "/" + dataset.name
            try dataset.write(to: directory, k: Self.k, m: self.m, efConstruction: self.efConstruction, efSearch: self.ef, seed: self.seed)

            let ours = self.measureEngine(index, build: build, dataset: dataset)
            let peer = self.python.isEmpty ? nil : try self.runPeer(directory)
            var service: ServiceLatency?
            if !self.noService && dataset.name == "clustered" {
                service = try await self.measureService(dataset, directory: directory + "/service")
            }
            self.report(dataset, ours: ours, peer: peer, service: service)
        }
    }

    // MARK: The engine

    struct Measurement {
        var library: String
        var buildSeconds: Double
        var memoryBytes: Int
        var rows: [Row]
        var callOverheadMicroseconds: Double?
        var filtered: [FilteredRow] = []
    }

    struct Row: Decodable {
        var ef: Int
        var recall: Double
        var qps: Double
        /// Microseconds.
        var p50Us: Double
        var p99Us: Double
    }

    /// Builds the index on one thread; returns it with the build time and the growth of this
    /// process's resident memory.
    private func buildEngine(_ dataset: ANNDataset) -> (HNSWIndex, (seconds: Double, memoryBytes: Int)) {
        let clock = ContinuousClock()
        let residentBefore = memoryFigure("VmRSS")
        let started = clock.now
        let index = HNSWIndex(
            dimension: dataset.dimension,
            metric: dataset.metric,
            parameters: HNSWParameters(m: self.m, efConstruction: self.efConstruction, seed: self.seed),
            expectedCount: dataset.count
        )
        for row in 0..<dataset.count {
            dataset.baseRow(row).withUnsafeBufferPointer { index.add($0, label: String(row)) }
        }
        let seconds = (clock.now - started).seconds
        printError("trove: built \(dataset.count) × \(dataset.dimension) in \(String(format: "%.1f", seconds)) s")
        return (index, (seconds, memoryFigure("VmRSS") - residentBefore))
    }

    /// Recall, speed and latency of one-at-a-time queries for each ef, and of filtered searches.
    private func measureEngine(_ index: HNSWIndex, build: (seconds: Double, memoryBytes: Int), dataset: ANNDataset) -> Measurement {
        let clock = ContinuousClock()
        var rows: [Row] = []
        for ef in self.ef {
            func query(_ position: Int) -> [Int] {
                dataset.query(position).withUnsafeBufferPointer { index.nearest(to: $0, k: Self.k, ef: ef) }
            }
            for position in 0..<dataset.queryCount { _ = query(position) }  // warm-up, as the peer does
            var times: [Double] = []
            var hits = 0
            for position in 0..<dataset.queryCount {
                let started = clock.now
                let found = query(position)
                times.append((clock.now - started).seconds)
                hits += dataset.hits(found, query: position)
            }
            rows.append(Self.row(ef: ef, times: times, hits: hits, k: Self.k))
        }
        let filtered = Self.measureFilters(index, dataset: dataset, ef: self.ef.contains(64) ? 64 : self.ef[0])
        return Measurement(library: "trove", buildSeconds: build.seconds, memoryBytes: build.memoryBytes, rows: rows, filtered: filtered)
    }

    struct FilteredRow {
        var selectivity: Double
        var graphRecall: Double
        var graphQPS: Double
        var exactQPS: Double
    }

    /// Recall of filtered searches through the graph at 10% and 1% of rows passing (row % 10 == 3,
    /// row % 100 == 42), against an exact scan of the passing rows, and the speed of both.
    static func measureFilters(_ index: HNSWIndex, dataset: ANNDataset, ef: Int) -> [FilteredRow] {
        let clock = ContinuousClock()
        return [(10, 3), (100, 42)].map { modulus, remainder in
            let accept: (Int) -> Bool = { $0 % modulus == remainder }
            var hits = 0
            var graphSeconds = 0.0
            var exactSeconds = 0.0
            for position in 0..<dataset.queryCount {
                dataset.query(position).withUnsafeBufferPointer { query in
                    var started = clock.now
                    let truth = index.exactNearest(to: query, k: Self.k, where: accept)
                    exactSeconds += (clock.now - started).seconds
                    started = clock.now
                    let found = index.nearest(to: query, k: Self.k, ef: ef, where: accept)
                    graphSeconds += (clock.now - started).seconds
                    hits += Set(found).intersection(truth).count
                }
            }
            return FilteredRow(
                selectivity: 1 / Double(modulus),
                graphRecall: Double(hits) / Double(dataset.queryCount * Self.k),
                graphQPS: Double(dataset.queryCount) / graphSeconds,
                exactQPS: Double(dataset.queryCount) / exactSeconds
            )
        }
    }

    static func row(ef: Int, times: [Double], hits: Int, k: Int) -> Row {
        let sorted = times.sorted()
        func percentile(_ fraction: Double) -> Double {
            sorted[max(0, Int((fraction * Double(sorted.count)).rounded(.up)) - 1)] * 1e6
        }
        return Row(
            ef: ef,
            recall: Double(hits) / Double(times.count * k),
            qps: Double(times.count) / times.reduce(0, +),
            p50Us: percentile(0.5),
            p99Us: percentile(0.99)
        )
    }

    // MARK: The peer

    private func runPeer(_ directory: String) throws -> Measurement {
        let data = try runPeerProgram([self.python, self.peerScript, directory], name: "hnswlib peer (Benchmarks/ann.sh installs it)")
        struct Result: Decodable {
            var library: String
            var buildSeconds: Double
            var memoryBytes: Int
            var callOverheadUs: Double
            var rows: [Row]
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let result = try decoder.decode(Result.self, from: data)
        return Measurement(
            library: result.library,
            buildSeconds: result.buildSeconds,
            memoryBytes: result.memoryBytes,
            rows: result.rows,
            callOverheadMicroseconds: result.callOverheadUs
        )
    }

    // MARK: The service

    /// One query at a time on the service's own collection: straight to the engine, through the
    /// service's search method called directly, and through gRPC's in-process transport.
    struct InProcessLatency {
        var engineP50: Double
        /// The service's search method called directly: its own code, without gRPC.
        var handlerP50: Double
        var p50: Double
        var p99: Double
        /// DescribeCollection: gRPC's round trip with next to no work in the handler.
        var emptyCallP50: Double
    }

    struct ServiceLatency {
        var ef: Int
        var recall: Double
        var inProcess: InProcessLatency
        /// The same with every thread on one CPU: no wake-ups of idle CPUs between threads.
        var inProcessOnOneCPU: InProcessLatency
        /// p50 and p99 over loopback HTTP/2.
        var loopback: (p50: Double, p99: Double)
    }

    /// Loads the set into a vector-search service in this process (through its Upsert RPC) and
    /// times the same queries at the collection's default ef: on the engine, through gRPC's
    /// in-process transport (what the service adds: decoding, validation, encoding, the gRPC
    /// machinery), both again with every thread on one CPU, and over loopback HTTP/2 (what a
    /// client on the same machine sees).
    private func measureService(_ dataset: ANNDataset, directory: String) async throws -> ServiceLatency {
        let ef = self.ef.contains(64) ? 64 : self.ef[0]
        let store = try VectorStore(directory: directory, options: VectorStore.Options(durability: .interval(milliseconds: 100)))
        defer { store.close() }
        let service = VectorSearchService(store: store, logger: Logger(label: "bench"))
        let inProcess = InProcessTransport()
        let http2 = HTTP2ServerTransport.Posix(
            address: .ipv4(host: "127.0.0.1", port: 0),
            transportSecurity: .plaintext,
            config: .defaults { $0.connection.flushCoalescing = nil }
        )
        let inProcessServer = GRPCServer(transport: inProcess.server, services: [service])
        let http2Server = GRPCServer(transport: http2, services: [service])
        return try await withThrowingTaskGroup(of: ServiceLatency?.self) { group in
            group.addTask {
                try await inProcessServer.serve()
                return nil
            }
            group.addTask {
                try await http2Server.serve()
                return nil
            }
            group.addTask {
                defer {
                    inProcessServer.beginGracefulShutdown()
                    http2Server.beginGracefulShutdown()
                }
                let (recall, twoCPUs, oneCPU) = try await withGRPCClient(transport: inProcess.client) { client in
                    let vectors = Trove_V1_VectorSearch.Client(wrapping: client)
                    try await self.load(dataset, into: vectors, ef: ef)
                    let collection = try store.collection("bench")
                    let (recall, twoCPUs) = try await self.timeInProcess(dataset, collection, service, vectors)
                    let oneCPU = try await CPUAffinity.withAllThreads(onCPU: 0) {
                        try await self.timeInProcess(dataset, collection, service, vectors).latency
                    }
                    return (recall, twoCPUs, oneCPU)
                }
                guard let port = try await http2.listeningAddress.ipv4?.port else { throw CommandFailure("the HTTP/2 listener has no IPv4 port") }
                let client = try HTTP2ClientTransport.Posix(
                    target: .ipv4(address: "127.0.0.1", port: port),
                    transportSecurity: .plaintext,
                    config: .defaults { $0.connection.flushCoalescing = nil }
                )
                let loopback = try await withGRPCClient(transport: client) { client in
                    try await self.timeSearches(dataset, Trove_V1_VectorSearch.Client(wrapping: client))
                }
                return ServiceLatency(
                    ef: ef, recall: recall, inProcess: twoCPUs, inProcessOnOneCPU: oneCPU, loopback: (loopback.p50Us, loopback.p99Us))
            }
            var latency: ServiceLatency?
            for try await result in group where result != nil { latency = result }
            guard let latency else { throw CommandFailure("the service measurement ended without a result") }
            return latency
        }
    }

    /// The engine, the service's method called directly, the search through the in-process
    /// transport and an empty call, interleaved so that the machine's drift over the run weighs
    /// on all four alike; each works through every query once, a quarter of the set apart, so
    /// that none runs a query another has just brought into the caches. And the recall.
    private func timeInProcess<Transport: ClientTransport>(
        _ dataset: ANNDataset,
        _ collection: VectorCollection,
        _ service: VectorSearchService,
        _ vectors: Trove_V1_VectorSearch.Client<Transport>
    ) async throws -> (recall: Double, latency: InProcessLatency) {
        let context = ServerContext(
            descriptor: Trove_V1_VectorSearch.Method.Search.descriptor,
            remotePeer: "bench",
            localPeer: "bench",
            cancellation: ServerContext.RPCCancellationHandle()
        )
        let clock = ContinuousClock()
        var times = (engine: [Double](), handler: [Double](), search: [Double](), empty: [Double]())
        var hits = 0
        let count = dataset.queryCount
        for round in 0..<2 {
            for position in 0..<count {
                let request = Self.searchRequest(dataset, position)
                let engineQuery = VectorQuery(vector: Array(dataset.query((position + count / 4) % count)), k: Self.k)
                let handlerRequest = Self.searchRequest(dataset, (position + count / 2) % count)
                let started = clock.now
                _ = try collection.search(engineQuery)
                let engineDone = clock.now
                _ = try await service.search(request: handlerRequest, context: context)
                let handlerDone = clock.now
                let response = try await vectors.search(request)
                let searchDone = clock.now
                _ = try await vectors.describeCollection(.with { $0.name = "bench" })
                let emptyDone = clock.now
                guard round == 1 else { continue }  // The first round warms caches and connections.
                times.engine.append((engineDone - started).seconds)
                times.handler.append((handlerDone - engineDone).seconds)
                times.search.append((searchDone - handlerDone).seconds)
                times.empty.append((emptyDone - searchDone).seconds)
                hits += Self.hits(response.results.map(\.id), position: position, dataset: dataset)
            }
        }
        func row(_ times: [Double]) -> Row { Self.row(ef: 0, times: times, hits: 0, k: Self.k) }
        let search = row(times.search)
        return (
            Double(hits) / Double(times.search.count * Self.k),
            InProcessLatency(
                engineP50: row(times.engine).p50Us,
                handlerP50: row(times.handler).p50Us,
                p50: search.p50Us,
                p99: search.p99Us,
                emptyCallP50: row(times.empty).p50Us
            )
        )
    }

    private func load<Transport: ClientTransport>(_ dataset: ANNDataset, into vectors: Trove_V1_VectorSearch.Client<Transport>, ef: Int) async throws {
        _ = try await vectors.createCollection(
            .with {
                $0.name = "bench"
                $0.dimension = UInt32(dataset.dimension)
                $0.metric = .cosine
                $0.hnsw = .with {
                    $0.m = UInt32(self.m)
                    $0.efConstruction = UInt32(self.efConstruction)
                    $0.efSearch = UInt32(ef)
                    $0.seed = self.seed
                }
            }
        )
        let batch = 1_000
        for start in stride(from: 0, to: dataset.count, by: batch) {
            let request = Trove_V1_UpsertRequest.with {
                $0.collection = "bench"
                $0.vectors = (start..<min(start + batch, dataset.count)).map { row in
                    .with {
                        $0.id = String(row)
                        $0.values = Array(dataset.baseRow(row))
                    }
                }
            }
            _ = try await vectors.upsert(request)
        }
        self.printError("service: loaded \(dataset.count) vectors")
    }

    /// Recall and (p50, p99) µs of the queries one at a time, after one warm-up pass.
    /// The queries one at a time through the service.
    private func timeSearches<Transport: ClientTransport>(_ dataset: ANNDataset, _ vectors: Trove_V1_VectorSearch.Client<Transport>) async throws -> Row {
        try await self.timed(dataset) { position in
            let response = try await vectors.search(Self.searchRequest(dataset, position))
            return Self.hits(response.results.map(\.id), position: position, dataset: dataset)
        }
    }

    private static func searchRequest(_ dataset: ANNDataset, _ position: Int) -> Trove_V1_SearchVectorsRequest {
        .with {
            $0.collection = "bench"
            $0.vector = Array(dataset.query(position))
            $0.k = UInt32(Self.k)
        }
    }

    /// Runs `query` for every query position twice and times the second round (the first warms
    /// caches and connections); `query` returns how many of the true neighbours it found.
    private func timed(_ dataset: ANNDataset, _ query: (Int) async throws -> Int) async rethrows -> Row {
        let clock = ContinuousClock()
        var times: [Double] = []
        var hits = 0
        for round in 0..<2 {
            for position in 0..<dataset.queryCount {
                let started = clock.now
                let found = try await query(position)
                if round == 1 {
                    times.append((clock.now - started).seconds)
                    hits += found
                }
            }
        }
        return Self.row(ef: 0, times: times, hits: hits, k: Self.k)
    }

    /// How many of `ids` are among the true neighbours of query `position`.
    private static func hits(_ ids: [String], position: Int, dataset: ANNDataset) -> Int {
        Set(ids.compactMap { Int($0) }).intersection(dataset.groundTruth[position].map(Int.init)).count
    }

    // MARK: Report

    private func report(_ dataset: ANNDataset, ours: Measurement, peer: Measurement?, service: ServiceLatency?) {
        func number(_ value: Double, _ decimals: Int = 0) -> String { String(format: "%.\(decimals)f", value) }
        func ratio(_ value: Double?) -> String { value.map { String(format: "%.2f×", $0) } ?? "-" }
        print("")
        print(
            "trove bench ann — \(dataset.name): \(dataset.count) × \(dataset.dimension) \(dataset.metric.rawValue), "
                + "\(dataset.queryCount) queries, k=\(Self.k), M=\(self.m), ef_construction=\(self.efConstruction), one thread"
                + (peer.map { ", beside \($0.library)" } ?? "")
        )
        print("")
        print(padded("", 26) + padded("trove", 14) + padded(peer?.library ?? "peer", 16) + "ratio")
        let ourRate = Double(dataset.count) / ours.buildSeconds
        let peerRate = peer.map { Double(dataset.count) / $0.buildSeconds }
        print(padded("build, vectors / s", 26) + padded(number(ourRate), 14) + padded(peerRate.map { number($0) } ?? "-", 16) + ratio(peerRate.map { ourRate / $0 }))
        let ourMemory = Double(ours.memoryBytes) / 1_048_576
        let peerMemory = peer.map { Double($0.memoryBytes) / 1_048_576 }
        print(
            padded("memory growth, MiB", 26) + padded(number(ourMemory), 14) + padded(peerMemory.map { number($0) } ?? "-", 16)
                + ratio(peerMemory.map { ourMemory / $0 })
        )
        print("")
        print(
            padded("ef", 6) + padded("recall trove", 14) + padded("recall peer", 13) + padded("QPS trove", 11) + padded("QPS peer", 10)
                + padded("QPS ratio", 11) + padded("p50 µs", 15) + "p99 µs"
        )
        for row in ours.rows {
            let theirs = peer?.rows.first { $0.ef == row.ef }
            print(
                padded(String(row.ef), 6) + padded(number(row.recall, 4), 14) + padded(theirs.map { number($0.recall, 4) } ?? "-", 13)
                    + padded(number(row.qps), 11) + padded(theirs.map { number($0.qps) } ?? "-", 10)
                    + padded(ratio(theirs.map { row.qps / $0.qps }), 11)
                    + padded(number(row.p50Us, 1) + " / " + (theirs.map { number($0.p50Us, 1) } ?? "-"), 15)
                    + number(row.p99Us, 1) + " / " + (theirs.map { number($0.p99Us, 1) } ?? "-")
            )
        }
        if let overhead = peer?.callOverheadMicroseconds {
            print("(latencies: trove / peer; the peer's Python binding costs \(number(overhead, 1)) µs per call, included in its figures)")
        }
        if !ours.filtered.isEmpty {
            print("")
            for row in ours.filtered {
                print(
                    "filtered, \(number(row.selectivity * 100))% of rows pass: graph walk with the filter recall \(number(row.graphRecall, 4)) "
                        + "at \(number(row.graphQPS)) QPS; exact scan of the passing rows \(number(row.exactQPS)) QPS"
                )
            }
            print("(the vector-search service scans exactly when a sample says at most 2,000 vectors pass, and walks the graph otherwise)")
        }
        if let service {
            func printInProcess(_ latency: InProcessLatency) {
                print(padded("  engine (the service's collection)", 36) + "p50 \(number(latency.engineP50, 1)) µs")
                print(
                    padded("  the service's method, called", 36) + "p50 \(number(latency.handlerP50, 1)) µs"
                        + " — its own code, without gRPC: \(number(latency.handlerP50 - latency.engineP50, 1)) µs over the engine"
                )
                print(
                    padded("  gRPC in-process transport", 36) + "p50 \(number(latency.p50, 1)) µs, p99 \(number(latency.p99, 1)) µs"
                        + " — \(number(latency.p50 - latency.engineP50, 1)) µs over the engine"
                )
                print(padded("  empty call (DescribeCollection)", 36) + "p50 \(number(latency.emptyCallP50, 1)) µs: gRPC's round trip alone")
            }
            print("")
            print("through the vector-search service, ef \(service.ef), one query at a time (recall \(number(service.recall, 4))):")
            printInProcess(service.inProcess)
            print(
                padded("  loopback HTTP/2", 36) + "p50 \(number(service.loopback.p50, 1)) µs, p99 \(number(service.loopback.p99, 1)) µs"
                    + " — \(number(service.loopback.p50 - service.inProcess.engineP50, 1)) µs over the engine, the network hop included"
            )
            print("every thread on one CPU (no wake-ups of idle CPUs between the client's and the handler's threads):")
            printInProcess(service.inProcessOnOneCPU)
        }
    }

    private func printError(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

/// A seeded benchmark data set: base vectors, queries and their exact nearest neighbours.
struct ANNDataset {
    var name: String
    var dimension: Int
    var metric: VectorMetric
    var base: [Float] = []
    var queries: [Float] = []
    var groundTruth: [[Int32]] = []

    var count: Int { self.base.count / self.dimension }
    var queryCount: Int { self.queries.count / self.dimension }

    /// Base vector `row`, without copying.
    func baseRow(_ row: Int) -> ArraySlice<Float> {
        self.base[row * self.dimension..<(row + 1) * self.dimension]
    }

    /// Query `position`, without copying.
    func query(_ position: Int) -> ArraySlice<Float> {
        self.queries[position * self.dimension..<(position + 1) * self.dimension]
    }

    /// How many of `found` are among the exact nearest neighbours of query `position`.
    func hits(_ found: some Sequence<Int>, query position: Int) -> Int {
        Set(found).intersection(self.groundTruth[position].map(Int.init)).count
    }

    /// A Gaussian mixture: `clusters` centres on the unit sphere, each cluster spread mostly along
    /// its own `rank` random directions plus a little isotropic noise; every vector L2-normalised.
    static func clustered(count: Int, queries: Int, dimension: Int, clusters: Int, rank: Int, seed: UInt64) -> ANNDataset {
        var random = SplitMix64(seed: seed)
        let scale = 1 / Float(dimension).squareRoot()
        let centres = (0..<clusters * dimension).map { _ in random.nextGaussian() * scale }
        let directions = (0..<clusters * rank * dimension).map { _ in random.nextGaussian() * scale }
        var dataset = ANNDataset(name: "clustered", dimension: dimension, metric: .cosine)
        func sample(into output: inout [Float]) {
            let cluster = Int(random.next() % UInt64(clusters))
            var point = (0..<dimension).map { centres[cluster * dimension + $0] + 0.1 * random.nextGaussian() * scale }
            for direction in 0..<rank {
                let weight = 0.35 * random.nextGaussian()
                let offset = (cluster * rank + direction) * dimension
                for axis in 0..<dimension { point[axis] += weight * directions[offset + axis] }
            }
            let norm = point.reduce(0) { $0 + $1 * $1 }.squareRoot()
            output += point.map { $0 / norm }
        }
        dataset.base.reserveCapacity(count * dimension)
        for _ in 0..<count { sample(into: &dataset.base) }
        for _ in 0..<queries { sample(into: &dataset.queries) }
        return dataset
    }

    /// Vectors uniform in the unit cube, compared by L2.
    static func uniform(count: Int, queries: Int, dimension: Int, seed: UInt64) -> ANNDataset {
        var random = SplitMix64(seed: seed)
        var dataset = ANNDataset(name: "uniform", dimension: dimension, metric: .l2)
        dataset.base = (0..<count * dimension).map { _ in Float(random.nextUnitInterval()) }
        dataset.queries = (0..<queries * dimension).map { _ in Float(random.nextUnitInterval()) }
        return dataset
    }

    /// The exact k nearest base rows of every query, by scanning `index` (which holds the base
    /// rows in order) on every core.
    mutating func computeGroundTruth(k: Int, with index: HNSWIndex) {
        let dataset = self
        let results = ResultSlots(count: self.queryCount)
        DispatchQueue.concurrentPerform(iterations: self.queryCount) { position in
            dataset.query(position).withUnsafeBufferPointer { query in
                results.set(position, index.exactNearest(to: query, k: k).map { Int32($0) })
            }
        }
        self.groundTruth = results.values
    }

    /// Writes the set in the peer's format: dataset.json, base.f32, queries.f32, ground_truth.i32.
    func write(to directory: String, k: Int, m: Int, efConstruction: Int, efSearch: [Int], seed: UInt64) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let specification: [String: Any] = [
            "name": self.name, "count": self.count, "queries": self.queryCount, "dimension": self.dimension,
            "metric": self.metric.rawValue, "k": k, "m": m, "ef_construction": efConstruction, "ef_search": efSearch, "seed": seed,
        ]
        try JSONSerialization.data(withJSONObject: specification, options: [.sortedKeys]).write(to: URL(fileURLWithPath: directory + "/dataset.json"))
        try self.base.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: directory + "/base.f32")) }
        try self.queries.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: directory + "/queries.f32")) }
        try self.groundTruth.flatMap { $0 }.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: directory + "/ground_truth.i32")) }
    }
}

/// One result per query, written from many threads (each slot by one).
private final class ResultSlots: @unchecked Sendable {
    private(set) var values: [[Int32]]
    private let lock = NSLock()

    init(count: Int) {
        self.values = Array(repeating: [], count: count)
    }

    func set(_ position: Int, _ value: [Int32]) {
        self.lock.withLock { self.values[position] = value }
    }
}
