import Synchronization

/// Bounds the bytes of the documents in hand at once, so that many workers can share small
/// documents without as many large ones in memory together.
///
/// A claim is granted when its bytes fit in what is left of the budget, or when nothing else is
/// held (a document larger than the whole budget still runs, alone). Claims are granted in the
/// order they were made: a large claim waiting at the front is not overtaken by smaller ones.
final class ByteBudget: Sendable {
    let limit: Int

    private struct Waiter {
        let id: UInt64
        let bytes: Int
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var held = 0
        var holders = 0
        var waiters: [Waiter] = []
        var nextID: UInt64 = 0

        func fits(_ bytes: Int, limit: Int) -> Bool {
            self.holders == 0 || self.held + bytes <= limit
        }
    }

    private let state = Mutex(State())

    init(limit: Int) {
        precondition(limit > 0, "a byte budget must be positive")
        self.limit = limit
    }

    /// Bytes held by granted claims.
    var held: Int {
        self.state.withLock { $0.held }
    }

    /// Claims waiting to be granted.
    var waiting: Int {
        self.state.withLock { $0.waiters.count }
    }

    /// Runs `body` holding `bytes` of the budget, once they are granted; throws
    /// `CancellationError` if the task is cancelled while it waits.
    func withBytes<Result>(_ bytes: Int, _ body: () async throws -> Result) async throws -> Result {
        let bytes = max(0, bytes)
        try await self.claim(bytes)
        defer { self.release(bytes) }
        return try await body()
    }

    private func claim(_ bytes: Int) async throws {
        let id = self.state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Outcome { case granted, cancelled, waiting }
                let outcome = self.state.withLock { state -> Outcome in
                    // Checked under the lock: a cancellation handler that ran before the waiter
                    // was added found nothing to remove.
                    if Task.isCancelled { return .cancelled }
                    if state.waiters.isEmpty && state.fits(bytes, limit: self.limit) {
                        state.held += bytes
                        state.holders += 1
                        return .granted
                    }
                    state.waiters.append(Waiter(id: id, bytes: bytes, continuation: continuation))
                    return .waiting
                }
                switch outcome {
                case .granted: continuation.resume()
                case .cancelled: continuation.resume(throwing: CancellationError())
                case .waiting: break
                }
            }
        } onCancel: {
            let removed = self.state.withLock { state -> Waiter? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index)
            }
            removed?.continuation.resume(throwing: CancellationError())
            // The head may have been the one blocking those behind it.
            self.grantWaiting()
        }
    }

    private func release(_ bytes: Int) {
        self.state.withLock { state in
            state.held -= bytes
            state.holders -= 1
        }
        self.grantWaiting()
    }

    /// Grants the claims at the front of the queue that now fit.
    private func grantWaiting() {
        let granted = self.state.withLock { state -> [Waiter] in
            var granted: [Waiter] = []
            while let first = state.waiters.first, state.fits(first.bytes, limit: self.limit) {
                state.waiters.removeFirst()
                state.held += first.bytes
                state.holders += 1
                granted.append(first)
            }
            return granted
        }
        for waiter in granted {
            waiter.continuation.resume()
        }
    }
}
