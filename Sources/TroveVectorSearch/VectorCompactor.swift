import Logging
import ServiceLifecycle
import TroveCore
import VectorIndex

/// Compacts collections whose tombstones the policy says are worth it, every `interval`, so that
/// deleted and replaced vectors give their memory back without anyone calling `Compact`.
/// Compaction builds the new index beside the old one: searches go on; writes to that
/// collection wait for it.
public struct VectorCompactor: Service {
    let store: VectorStore
    let policy: CompactionPolicy
    let interval: Duration
    let logger: Logger

    public init(store: VectorStore, policy: CompactionPolicy, interval: Duration, logger: Logger) {
        self.store = store
        self.policy = policy
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        // Ends at once on graceful shutdown; a compaction under way finishes first (it holds a
        // Dispatch thread, not the task).
        await repeatUntilShutdown(every: self.interval) { await self.compactWhereWanted() }
    }

    /// One pass over the collections.
    func compactWhereWanted() async {
        for collection in self.store.list() where self.policy.wantsCompaction(collection.statistics) {
            let name = collection.configuration.name
            do {
                let (removed, reclaimed) = try await VectorSearchService.blocking { try collection.compact() }
                self.logger.info(
                    "compacted vector collection",
                    metadata: ["collection": "\(name)", "removed": "\(removed)", "bytes_reclaimed": "\(reclaimed)", "reason": "tombstones"]
                )
            } catch {
                // A dropped collection, a full disk: the next pass tries again.
                self.logger.warning("automatic compaction failed", metadata: ["collection": "\(name)", "error": "\(error)"])
            }
        }
    }
}
