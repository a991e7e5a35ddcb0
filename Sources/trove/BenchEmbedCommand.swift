import ArgumentParser
import Foundation
import Synchronization
import TextEmbedding

/// `trove bench embed`: the built-in all-MiniLM-L6-v2 against sentence-transformers on PyTorch,
/// the same model files and sentences, in one run.
struct BenchEmbedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Embedding throughput and latency of the built-in model versus sentence-transformers on PyTorch.",
        discussion: """
            Embeds the sentences of Benchmarks/sentences.txt (32 different ~60-word English \
            sentences) in one batch, on each thread count, and one short sentence at a time; then \
            runs Benchmarks/pytorch_embed.py to do the same with sentence-transformers. Both \
            sides' rates are also given in GFLOP/s of the model's matrix products, beside what \
            the cores reach running nothing but FMAs and what the product kernel reaches on a \
            tile that stays in L1, measured in the same run. \
            Benchmarks/embed.sh installs PyTorch into .venv-bench and runs this.
            """
    )

    @Option(name: .long, help: "The model directory (Scripts/fetch-model.sh puts it here).")
    var modelDir: String = ".trove-model/all-MiniLM-L6-v2"

    @Option(name: .long, help: "One sentence per line.")
    var sentences: String = "Benchmarks/sentences.txt"

    @Option(name: .long, help: "Thread counts to measure.")
    var threads: [Int] = [1, 2]

    @Option(name: .long, help: "Timed batches per thread count; the best is reported by both sides.")
    var rounds: Int = 5

    @Option(name: .long, help: "Python with torch and sentence-transformers, for the peer (empty: skip the peer).")
    var python: String = ".venv-bench/bin/python"

    @Option(name: .long, help: "The PyTorch peer script.")
    var peerScript: String = "Benchmarks/pytorch_embed.py"

    func validate() throws {
        guard self.rounds > 0, !self.threads.isEmpty, self.threads.allSatisfy({ $0 > 0 }) else {
            throw ValidationError("rounds and thread counts must be positive")
        }
    }

    func run() async throws {
        let texts = try String(contentsOfFile: self.sentences, encoding: .utf8)
            .split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !texts.isEmpty else { throw ValidationError("\(self.sentences) holds no sentences") }
        let clock = ContinuousClock()
        var rates: [Int: Double] = [:]
        var shortLatency = 0.0
        // The sentences' token counts and the operations of a batch of them, from the first model.
        var tokenCounts: [Int] = []
        var operations = 0.0
        for threadCount in self.threads {
            let embedder = try MiniLMEmbedder(
                modelDirectory: URL(fileURLWithPath: self.modelDir),
                configuration: .init(threadCount: threadCount)
            )
            _ = try embedder.embed(texts)  // warm-up
            if tokenCounts.isEmpty {
                tokenCounts = texts.map { embedder.tokenize($0).ids.count }
                operations = embedder.productOperations(tokenCounts: tokenCounts)
            }
            var best = 0.0
            for _ in 0..<self.rounds {
                let start = clock.now
                let vectors = try embedder.embed(texts)
                let elapsed = (clock.now - start).seconds
                guard vectors.count == texts.count else { throw CommandFailure("embedded \(vectors.count) of \(texts.count)") }
                best = max(best, Double(texts.count) / elapsed)
            }
            rates[threadCount] = best
            if threadCount == self.threads[0] {
                var latencies: [Double] = []
                for _ in 0..<50 {
                    let start = clock.now
                    _ = try embedder.embed(["What is the capital of France?"])
                    latencies.append((clock.now - start).seconds * 1000)
                }
                shortLatency = percentile(latencies, 0.5)
            }
        }
        let rss = Double(memoryFigure("VmHWM")) / 1_048_576
        // The ceilings of as many cores as each thread count uses, all running at once (a core
        // may clock lower when the other is busy too): FMAs alone, and the model's product
        // kernel on a tile that stays in L1.
        var ceilings: [Int: (fma: Double, tile: Double)] = [:]
        for threadCount in self.threads {
            let perCore = Mutex([(fma: Double, tile: Double)](repeating: (0, 0), count: threadCount))
            DispatchQueue.concurrentPerform(iterations: threadCount) { core in
                // Unmeasured first, while the scheduler spreads the threads over the cores: the
                // two may start on one core, and a shared core halves both rates.
                _ = MiniLMEmbedder.coreFMAPeak(seconds: 0.2)
                let fma = MiniLMEmbedder.coreFMAPeak(seconds: 0.5)
                let tile = MiniLMEmbedder.tileProductRate(seconds: 0.5)
                perCore.withLock { $0[core] = (fma, tile) }
            }
            ceilings[threadCount] = perCore.withLock { cores in
                (cores.reduce(0) { $0 + $1.fma }, cores.reduce(0) { $0 + $1.tile })
            }
        }

        var peer: (rates: [Int: Double], latency: Double, rss: Double)?
        if !self.python.isEmpty {
            peer = try self.runPeer()
        }

        let tokens = texts.map { min(256, $0.split(separator: " ").count) }.reduce(0, +)
        print("trove bench embed — all-MiniLM-L6-v2, \(texts.count) sentences (~\(tokens / texts.count) words each), best of \(self.rounds)")
        print("")
        print(padded("", 40) + padded("trove (Swift)", 16) + padded("PyTorch", 16) + "ratio")
        for threadCount in self.threads {
            let ours = rates[threadCount] ?? 0
            let theirs = peer?.rates[threadCount]
            print(
                padded("sentences / s, batch of 32, \(threadCount) thread\(threadCount == 1 ? "" : "s")", 40)
                    + padded(String(format: "%.1f", ours), 16)
                    + padded(theirs.map { String(format: "%.1f", $0) } ?? "-", 16)
                    + (theirs.map { String(format: "%.2f×", ours / $0) } ?? "")
            )
        }
        print(
            padded("one short sentence, p50 ms", 40) + padded(String(format: "%.2f", shortLatency), 16)
                + padded(peer.map { String(format: "%.2f", $0.latency) } ?? "-", 16)
                + (peer.map { String(format: "%.2f× the time", shortLatency / $0.latency) } ?? "")
        )
        print(
            padded("peak resident memory, MiB", 40) + padded(String(format: "%.0f", rss), 16)
                + padded(peer.map { String(format: "%.0f", $0.rss) } ?? "-", 16)
        )

        // What the rates mean in arithmetic: the products a batch cannot do without, against the
        // most this CPU can do in the same time.
        print("")
        print(
            "matrix products: \(String(format: "%.1f", operations / 1e9)) GFLOP a batch (\(tokenCounts.reduce(0, +)) tokens); GFLOP/s, "
                + "and its share of the FMA peak and of the product kernel's rate on a tile in L1, both measured in this run:"
        )
        for threadCount in self.threads {
            let ceiling = ceilings[threadCount] ?? (0, 0)
            func rate(_ sentencesPerSecond: Double) -> String {
                let gflops = sentencesPerSecond / Double(texts.count) * operations / 1e9
                let shares = [ceiling.fma, ceiling.tile].filter { $0 > 0 }.map { String(format: "%.0f %%", 100 * gflops / $0) }
                return String(format: "%.1f", gflops) + (shares.isEmpty ? "" : " (" + shares.joined(separator: ", ") + ")")
            }
            let label = "  \(threadCount) thread\(threadCount == 1 ? "" : "s"): peak " + String(format: "%.1f", ceiling.fma)
                + (ceiling.tile > 0 ? String(format: ", tile %.1f", ceiling.tile) : "")
            let theirs = peer?.rates[threadCount]
            print(
                padded(label, 40) + padded(rate(rates[threadCount] ?? 0), 20) + padded(theirs.map(rate) ?? "-", 20)
                    + (theirs.map { "1.5× PyTorch needs " + rate(1.5 * $0) } ?? "")
            )
        }
    }

    private func runPeer() throws -> (rates: [Int: Double], latency: Double, rss: Double) {
        let data = try runPeerProgram(
            [self.python, self.peerScript, self.modelDir, self.sentences, String(self.rounds)] + self.threads.map(String.init),
            name: "PyTorch peer (Benchmarks/embed.sh installs it)"
        )
        struct Result: Decodable {
            let threads: [String: Double]
            let short_latency_ms: Double
            let rss_mib: Double
        }
        let result = try JSONDecoder().decode(Result.self, from: data)
        var rates: [Int: Double] = [:]
        for (key, value) in result.threads {
            if let threads = Int(key) { rates[threads] = value }
        }
        return (rates, result.short_latency_ms, result.rss_mib)
    }
}
