import Synchronization
import Testing

@testable import TroveIngestion

@Suite("Byte budget of documents in hand")
struct ByteBudgetTests {
    /// The names of the claims whose bodies have started, in order.
    final class Started: Sendable {
        private let names = Mutex<[String]>([])
        func append(_ name: String) { self.names.withLock { $0.append(name) } }
        var all: [String] { self.names.withLock { $0 } }
    }

    /// A claim whose body records that it started and then holds its bytes until `letGo()`.
    final class Claim: Sendable {
        let task: Task<Void, any Error>
        private let gate: AsyncStream<Void>.Continuation

        init(_ name: String, bytes: Int, budget: ByteBudget, started: Started) {
            let (stream, gate) = AsyncStream.makeStream(of: Void.self)
            self.gate = gate
            self.task = Task {
                try await budget.withBytes(bytes) {
                    started.append(name)
                    for await _ in stream {}
                }
            }
        }

        func letGo() async throws {
            self.gate.finish()
            try await self.task.value
        }
    }

    /// A budget, and claims on it that record when they start.
    struct Scene {
        let budget: ByteBudget
        let started = Started()

        init(limit: Int) {
            self.budget = ByteBudget(limit: limit)
        }

        func claim(_ name: String, bytes: Int) -> Claim {
            Claim(name, bytes: bytes, budget: self.budget, started: self.started)
        }
    }

    /// Waits (yielding, up to ~10 s) until `condition` holds; false if it never does.
    static func eventually(_ condition: () -> Bool) async -> Bool {
        for _ in 0..<10_000 {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(1))
        }
        return condition()
    }

    @Test("claims that fit run together; one that does not waits for a release, and those behind it wait in order")
    func claimsWaitInOrder() async throws {
        let scene = Scene(limit: 100)
        let (budget, started) = (scene.budget, scene.started)
        let a = scene.claim("a", bytes: 60)
        #expect(await Self.eventually { budget.held == 60 })
        let b = scene.claim("b", bytes: 30)
        #expect(await Self.eventually { budget.held == 90 })
        let c = scene.claim("c", bytes: 20)
        #expect(await Self.eventually { budget.waiting == 1 })
        // d would fit (90 + 5), but c is ahead of it.
        let d = scene.claim("d", bytes: 5)
        #expect(await Self.eventually { budget.waiting == 2 })
        #expect(started.all == ["a", "b"])

        try await b.letGo()
        #expect(await Self.eventually { budget.waiting == 0 })
        #expect(await Self.eventually { started.all.count == 4 })
        #expect(started.all == ["a", "b", "c", "d"])
        #expect(budget.held == 85)

        for claim in [a, c, d] { try await claim.letGo() }
        #expect(budget.held == 0)
    }

    @Test("a document larger than the whole budget runs alone")
    func oversizedClaimRunsAlone() async throws {
        let scene = Scene(limit: 100)
        let (budget, started) = (scene.budget, scene.started)
        let large = scene.claim("large", bytes: 500)
        #expect(await Self.eventually { budget.held == 500 })
        let small = scene.claim("small", bytes: 1)
        #expect(await Self.eventually { budget.waiting == 1 })
        #expect(started.all == ["large"])

        try await large.letGo()
        #expect(await Self.eventually { budget.held == 1 })
        #expect(started.all == ["large", "small"])
        try await small.letGo()
        #expect(budget.held == 0)

        // And an oversized claim waits for the budget to empty rather than overtaking.
        let first = scene.claim("first", bytes: 10)
        #expect(await Self.eventually { budget.held == 10 })
        let second = scene.claim("second", bytes: 500)
        #expect(await Self.eventually { budget.waiting == 1 })
        try await first.letGo()
        #expect(await Self.eventually { budget.held == 500 })
        try await second.letGo()
        #expect(budget.held == 0)
    }

    @Test("a claim cancelled while it waits throws CancellationError, holds nothing, and lets those behind it in")
    func cancelledClaimLeavesTheQueue() async throws {
        let scene = Scene(limit: 100)
        let (budget, started) = (scene.budget, scene.started)
        let a = scene.claim("a", bytes: 90)
        #expect(await Self.eventually { budget.held == 90 })
        let b = scene.claim("b", bytes: 50)
        #expect(await Self.eventually { budget.waiting == 1 })
        let c = scene.claim("c", bytes: 10)
        #expect(await Self.eventually { budget.waiting == 2 })

        b.task.cancel()
        do {
            try await b.task.value
            Issue.record("a cancelled claim ran")
        } catch {
            #expect(error is CancellationError)
        }
        // c fits beside a (90 + 10) once b no longer blocks the front of the queue.
        #expect(await Self.eventually { budget.held == 100 })
        #expect(budget.waiting == 0)
        #expect(started.all == ["a", "c"])

        try await a.letGo()
        try await c.letGo()
        #expect(budget.held == 0)
    }
}
