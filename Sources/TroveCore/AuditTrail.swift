import Logging
import ServiceLifecycle
import Synchronization
import TroveContracts

/// Collects audit events from a process's listeners and writes them to the metadata service in
/// batches, off the path of the calls they describe.
///
/// Events wait in memory for at most `interval`; at shutdown, after the listeners have stopped,
/// what is left is written. If the metadata service cannot take them, they are kept and tried
/// again, up to `capacity` events; past that the oldest are dropped and the loss is logged.
public final class AuditTrail: Service, Sendable {
    public typealias Write = @Sendable ([Trove_V1_AuditEvent]) async throws -> Void

    private let write: Write
    private let interval: Duration
    private let capacity: Int
    private let logger: Logger
    private let pending = Mutex<[Trove_V1_AuditEvent]>([])
    private let dropped = Atomic<Int>(0)

    public init(interval: Duration = .milliseconds(500), capacity: Int = 100_000, logger: Logger, write: @escaping Write) {
        self.write = write
        self.interval = interval
        self.capacity = capacity
        self.logger = logger
    }

    public func record(_ event: Trove_V1_AuditEvent) {
        let overflow = self.pending.withLock { pending in
            pending.append(event)
            guard pending.count > self.capacity else { return 0 }
            let excess = pending.count - self.capacity
            pending.removeFirst(excess)
            return excess
        }
        if overflow > 0 {
            self.dropped.add(overflow, ordering: .relaxed)
        }
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: self.interval)
                await self.flush()
            }
        }
        await self.flush()
    }

    /// Writes what is pending, in batches; keeps what could not be written.
    public func flush() async {
        let lost = self.dropped.exchange(0, ordering: .relaxed)
        if lost > 0 {
            self.logger.error("audit events dropped: the metadata service did not take them in time", metadata: ["count": "\(lost)"])
        }
        while true {
            let batch = self.pending.withLock { pending in
                let batch = Array(pending.prefix(Self.batchSize))
                pending.removeFirst(batch.count)
                return batch
            }
            guard !batch.isEmpty else { return }
            do {
                try await self.write(batch)
            } catch {
                self.logger.warning("cannot write audit events yet; will retry", metadata: ["count": "\(batch.count)", "error": "\(error)"])
                self.pending.withLock { $0.insert(contentsOf: batch, at: 0) }
                return
            }
        }
    }

    static let batchSize = 500
}
