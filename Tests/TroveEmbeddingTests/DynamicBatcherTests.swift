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
        let batcher = DynamicBatcher(configuration: .init(maxBatchSize: 4, maxWait: .milliseconds(1))) { texts in
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
}
