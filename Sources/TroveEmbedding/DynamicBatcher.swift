import CVectorKernels
import Foundation
import Metrics
import Synchronization
import TroveCore

/// Gathers the texts of concurrent requests into batches for an engine that blocks its thread
/// while it runs a pass (`MiniLMEmbedder`).
///
/// A text waits until `maxBatchSize` texts are waiting or the oldest has waited `maxWait`; then up
/// to `maxBatchSize` texts, oldest first, are sorted by length (so a pass pads little) and run in
/// one call on one of the batcher's own threads, off the cooperative pool. Each request gets its
/// vectors back in its own order. A request larger than a batch is spread over several. A
/// cancelled request's texts leave the queue at once (texts already in a running pass finish
/// with it).
///
/// Up to `concurrentPasses` passes run at once, each on a thread of the batcher's and each on one
/// thread of the engine's: under a steady load they run side by side and never wait for each
/// other, where one pass split over threads leaves all but one idle while its last part finishes
/// and until the next batch starts. A batch gathered while other runners are idle is shared with
/// them, so that a lone request still gets every core; a lone text, which cannot be shared, is
/// run alone on `concurrentPasses` threads (the engine is told how many threads its pass may use).
public final class DynamicBatcher: Sendable {
    /// How texts are batched.
    public struct Configuration: Sendable {
        /// The most texts one engine call takes.
        public var maxBatchSize: Int
        /// How long the oldest waiting text waits for others to share its call.
        public var maxWait: Duration
        /// Engine calls that may run at once, each on a thread of the batcher's; also the threads
        /// a call may use when it runs alone.
        public var concurrentPasses: Int

        /// Creates a configuration.
        public init(maxBatchSize: Int = 32, maxWait: Duration = .milliseconds(5), concurrentPasses: Int = 1) {
            precondition(maxBatchSize >= 1, "maxBatchSize must be at least 1")
            precondition(concurrentPasses >= 1, "concurrentPasses must be at least 1")
            self.maxBatchSize = maxBatchSize
            self.maxWait = maxWait
            self.concurrentPasses = concurrentPasses
        }
    }

    /// What the batcher has done since it started.
    public struct Statistics: Sendable, Equatable {
        /// Engine calls made.
        public var batches = 0
        /// Texts embedded.
        public var texts = 0
        /// The most texts one call took.
        public var largestBatch = 0
    }

    /// The blocking work: each text's vector, in the order given, using at most `threads` threads.
    public typealias Engine = @Sendable (_ texts: [String], _ threads: Int) throws -> [TextVector]

    private let queue: BatchQueue

    /// Starts the batcher's threads; they end when the batcher is released. The threads are
    /// called `name`, or `name.1`, `name.2` … with several passes, as `top -H` and `perf` show
    /// them; Linux keeps the first 15 bytes of a thread's name, so `name` should leave room for
    /// the number.
    public init(configuration: Configuration = Configuration(), name: String = "trove.batcher", engine: @escaping Engine) {
        self.queue = BatchQueue(configuration: configuration, engine: engine)
        let queue = self.queue
        for number in 1...configuration.concurrentPasses {
            let threadName = configuration.concurrentPasses == 1 ? name : "\(name).\(number)"
            let thread = Thread {
                trove_name_current_thread(threadName)
                queue.run()
            }
            thread.name = threadName
            thread.start()
        }
    }

    deinit {
        self.queue.shutDown()
    }

    /// What the batcher has done so far.
    public var statistics: Statistics {
        self.queue.statistics.withLock { $0 }
    }

    /// Each text's vector, in order, once the batches holding them have run.
    public func embed(_ texts: [String]) async throws -> [TextVector] {
        if texts.isEmpty { return [] }
        let request = PendingRequest(count: texts.count)
        let queue = self.queue
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                if request.start(continuation) {
                    queue.enqueue(request, texts: texts)
                }
            }
        } onCancel: {
            queue.cancel(request)
        }
    }
}

/// A request whose texts are in the queue. Its vectors are collected under `collected`'s lock,
/// from whichever passes hold its texts; how the request ends is decided once, under `state`'s
/// lock, by whichever of the batcher (vectors or an error) and a cancellation comes first.
private final class PendingRequest: Sendable {
    /// The vectors so far, by text, and how many are still missing.
    private let collected: Mutex<(vectors: [TextVector?], missing: Int)>

    private enum State {
        case created
        case waiting(CheckedContinuation<[TextVector], any Error>)
        case finished
    }
    private let state = Mutex(State.created)

    init(count: Int) {
        self.collected = Mutex((Array(repeating: nil, count: count), count))
    }

    /// Keeps the vector of text `index`; with the last one, the request succeeds.
    func deliver(_ vector: TextVector, at index: Int) {
        let complete: [TextVector]? = self.collected.withLock { collected in
            collected.vectors[index] = vector
            collected.missing -= 1
            return collected.missing == 0 ? collected.vectors.map { $0! } : nil
        }
        if let complete { self.succeed(complete) }
    }

    /// Keeps the caller's continuation; false (and the continuation resumed) when the request
    /// was cancelled before it got here.
    func start(_ continuation: CheckedContinuation<[TextVector], any Error>) -> Bool {
        let started = self.state.withLock { state in
            guard case .created = state else { return false }
            state = .waiting(continuation)
            return true
        }
        if !started {
            continuation.resume(throwing: EmbeddingError(code: .cancelled, message: "the request was cancelled"))
        }
        return started
    }

    var isFinished: Bool {
        self.state.withLock { state in
            if case .finished = state { return true }
            return false
        }
    }

    func fail(_ error: any Error) {
        self.finish()?.resume(throwing: error)
    }

    private func succeed(_ vectors: [TextVector]) {
        self.finish()?.resume(returning: vectors)
    }

    /// Marks the request finished; the continuation to resume, if it was waiting.
    private func finish() -> CheckedContinuation<[TextVector], any Error>? {
        self.state.withLock { state in
            let previous = state
            state = .finished
            if case .waiting(let continuation) = previous { return continuation }
            return nil
        }
    }
}

private struct QueuedText {
    let request: PendingRequest
    let index: Int
    let text: String
    let enqueued: Date
}

/// The queue and the runners' loop; the condition guards `waiting`, `ready`, `isForming`,
/// `running` and `isShutDown`.
private final class BatchQueue: @unchecked Sendable {
    let configuration: DynamicBatcher.Configuration
    let engine: DynamicBatcher.Engine
    let statistics = Mutex(DynamicBatcher.Statistics())
    private let condition = NSCondition()
    private var waiting: [QueuedText] = []
    /// Texts at the front of `waiting` left by a batch shared with idle runners, to go at once.
    private var ready = 0
    /// Whether a runner is gathering the next batch (one at a time, so that a batch fills).
    private var isForming = false
    /// Passes running now.
    private var running = 0
    private var isShutDown = false

    init(configuration: DynamicBatcher.Configuration, engine: @escaping DynamicBatcher.Engine) {
        self.configuration = configuration
        self.engine = engine
    }

    func enqueue(_ request: PendingRequest, texts: [String]) {
        let now = Date()
        self.condition.lock()
        if self.isShutDown {
            self.condition.unlock()
            request.fail(EmbeddingError(code: .unavailable, message: "the embedding batcher has shut down"))
            return
        }
        for (index, text) in texts.enumerated() {
            self.waiting.append(QueuedText(request: request, index: index, text: text, enqueued: now))
        }
        // The runner gathering a batch and an idle one waiting for it to finish both look again.
        self.condition.broadcast()
        self.condition.unlock()
    }

    /// Takes a cancelled request's texts out of the queue and ends it.
    func cancel(_ request: PendingRequest) {
        self.condition.lock()
        self.waiting.removeAll { $0.request === request }
        self.ready = min(self.ready, self.waiting.count)
        self.condition.unlock()
        request.fail(EmbeddingError(code: .cancelled, message: "the request was cancelled"))
    }

    func shutDown() {
        self.condition.lock()
        self.isShutDown = true
        self.condition.broadcast()
        self.condition.unlock()
    }

    func run() {
        let maxWait = Double(self.configuration.maxWait.components.seconds)
            + Double(self.configuration.maxWait.components.attoseconds) / 1e18
        while true {
            self.condition.lock()
            while (self.waiting.isEmpty || self.isForming) && !self.isShutDown {
                self.condition.wait()
            }
            if self.isShutDown {
                let abandoned = self.waiting
                self.waiting.removeAll()
                self.condition.unlock()
                for item in abandoned {
                    item.request.fail(EmbeddingError(code: .unavailable, message: "the embedding batcher has shut down"))
                }
                return
            }
            self.isForming = true
            if self.ready == 0 {
                let deadline = self.waiting[0].enqueued.addingTimeInterval(maxWait)
                while self.waiting.count < self.configuration.maxBatchSize && !self.isShutDown && Date() < deadline {
                    _ = self.condition.wait(until: deadline)
                }
            }
            // This runner's share of the batch; the idle runners take the rest at once.
            let idle = self.configuration.concurrentPasses - self.running - 1
            let count = min(self.waiting.count, self.ready > 0 ? self.ready : self.configuration.maxBatchSize)
            let share = (count + idle) / (idle + 1)
            let batch = Array(self.waiting.prefix(share))
            self.waiting.removeFirst(share)
            self.ready = count - share
            self.isForming = false
            let threads = share == 1 && self.running == 0 && self.waiting.isEmpty ? self.configuration.concurrentPasses : 1
            self.running += 1
            // Another runner, if one is idle, gathers the next batch (or the rest of this one).
            self.condition.broadcast()
            self.condition.unlock()
            self.process(batch, threads: threads)
            self.condition.lock()
            self.running -= 1
            self.condition.unlock()
        }
    }

    private func process(_ batch: [QueuedText], threads: Int) {
        // Texts of requests that already failed are not worth a pass.
        let live = batch.filter { !$0.request.isFinished }.sorted { $0.text.utf8.count < $1.text.utf8.count }
        if live.isEmpty { return }
        Recorder(label: TroveMetrics.embeddingBatchSize, aggregate: true).record(live.count)
        let vectors: [TextVector]
        do {
            vectors = try self.engine(live.map(\.text), threads)
            guard vectors.count == live.count else {
                throw EmbeddingError(code: .internalError, message: "the engine returned \(vectors.count) vectors for \(live.count) texts")
            }
        } catch {
            for item in live { item.request.fail(error) }
            return
        }
        self.statistics.withLock { statistics in
            statistics.batches += 1
            statistics.texts += live.count
            statistics.largestBatch = max(statistics.largestBatch, live.count)
        }
        for (item, vector) in zip(live, vectors) {
            item.request.deliver(vector, at: item.index)
        }
    }
}
