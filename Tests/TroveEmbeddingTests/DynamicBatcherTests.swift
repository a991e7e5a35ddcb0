import Foundation
import Synchronization
import Testing
import TroveEmbedding

/// The batcher's queue, around an engine that records what it is given and can be held inside a
/// pass.
@Suite("Dynamic batcher")
struct DynamicBatcherTests {
    @Test("A cancelled request's texts leave the queue: the engine never sees them and the caller gets CANCELLED")
    func cancelledTextsLeaveTheQueue() async throws {
        let release = DispatchSemaphore(value: 0)
        let passes = Mutex<[[String]]>([])
        let batcher = DynamicBatcher(configuration: .init(maxBatchSize: 4, maxWait: .milliseconds(1))) { texts, _ in
            passes.withLock { $0.append(texts) }
            if texts.contains("held") { release.wait() }
            return texts.map { TextVector(values: [Float($0.count)], tokenCount: 1, isTruncated: false) }
        }
        let held = Task { try await batcher.embed(["held"]) }
        while passes.withLock({ $0.isEmpty }) { await Task.yield() }

        // The engine is busy: these wait in the queue (or have not reached it) when cancelled.
        let cancelled = Task { try await batcher.embed(["never-a", "never-b", "never-c"]) }
        cancelled.cancel()
        let error = await #expect(throws: EmbeddingError.self) { try await cancelled.value }
        #expect(error?.code == .cancelled)

        release.signal()
        #expect(try await held.value.map(\.values) == [[4]])
        #expect(try await batcher.embed(["after"]).map(\.values) == [[5]])
        #expect(passes.withLock { $0 } == [["held"], ["after"]])
        #expect(batcher.statistics.texts == 2)
    }

    @Test("The runner threads carry the batcher's name, numbered, where top -H and perf see it")
    func runnerThreadNames() async throws {
        let names = Mutex<[String]>([])
        let batcher = DynamicBatcher(configuration: .init(maxBatchSize: 4, maxWait: .milliseconds(1), concurrentPasses: 2), name: "trove.minilm") { texts, _ in
            // The kernel's name for the thread running the pass.
            let name = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "(unreadable)"
            names.withLock { $0.append(name.trimmingCharacters(in: .newlines)) }
            return texts.map { _ in TextVector(values: [1], tokenCount: 1, isTruncated: false) }
        }
        _ = try await batcher.embed(["a"])
        let seen = names.withLock { $0 }
        #expect(seen.count == 1)
        #expect(seen.allSatisfy { ["trove.minilm.1", "trove.minilm.2"].contains($0) }, "\(seen)")
    }

    @Test("Passes run side by side: a text is embedded while another pass is held, on one thread; a lone text gets every thread")
    func passesSideBySide() async throws {
        let release = DispatchSemaphore(value: 0)
        let passes = Mutex<[(texts: [String], threads: Int)]>([])
        let batcher = DynamicBatcher(configuration: .init(maxBatchSize: 4, maxWait: .milliseconds(1), concurrentPasses: 2)) { texts, threads in
            passes.withLock { $0.append((texts, threads)) }
            if texts.contains("held") { release.wait() }
            return texts.map { TextVector(values: [Float($0.count)], tokenCount: 1, isTruncated: false) }
        }
        let held = Task { try await batcher.embed(["held"]) }
        while passes.withLock({ $0.isEmpty }) { await Task.yield() }

        // With one pass at a time this would wait for "held" to be released (10 s at most here).
        let beside = Task { try await batcher.embed(["beside"]) }
        let deadline = ContinuousClock.now + .seconds(10)
        while passes.withLock({ $0.count }) < 2 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(1))
        }
        let besideRanBeforeRelease = passes.withLock { $0.count } == 2
        release.signal()
        #expect(besideRanBeforeRelease)
        #expect(try await beside.value.map(\.values) == [[6]])
        #expect(try await held.value.map(\.values) == [[4]])
        let seen = passes.withLock { $0 }
        #expect(seen.map(\.texts) == [["held"], ["beside"]])
        #expect(seen.map(\.threads) == [2, 1])
    }

    @Test("A batch gathered while a runner is idle is shared with it; each request gets its vectors in order")
    func batchSharedWithIdleRunner() async throws {
        let passes = Mutex<[(texts: [String], threads: Int)]>([])
        let batcher = DynamicBatcher(configuration: .init(maxBatchSize: 8, maxWait: .milliseconds(1), concurrentPasses: 2)) { texts, threads in
            passes.withLock { $0.append((texts, threads)) }
            // Each pass waits (5 s at most) for a second one, so that neither ends before the
            // other has taken its texts.
            let deadline = Date().addingTimeInterval(5)
            while passes.withLock({ $0.count }) < 2 && Date() < deadline { usleep(100) }
            return texts.map { TextVector(values: [Float($0.count)], tokenCount: 1, isTruncated: false) }
        }
        let texts = ["a", "bb", "ccc", "dddd"]
        #expect(try await batcher.embed(texts).map(\.values) == [[1], [2], [3], [4]])
        let seen = passes.withLock { $0 }
        #expect(seen.map(\.texts.count) == [2, 2])
        #expect(Set(seen.flatMap(\.texts)) == Set(texts))
        #expect(seen.map(\.threads) == [1, 1])
        #expect(batcher.statistics.batches == 2)
    }
}
