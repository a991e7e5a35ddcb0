import Logging
import ObjectStores
import ServiceLifecycle
import TroveCore

/// Applies bucket lifecycle rules to the filesystem backend, as S3 applies them to its own
/// buckets: every `interval`, objects past their rule's age are deleted.
public struct LifecycleSweeper: Service {
    let store: FileSystemObjectStore
    let interval: Duration
    let logger: Logger

    public init(store: FileSystemObjectStore, interval: Duration, logger: Logger) {
        self.store = store
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        // Ends at once, without an error, on graceful shutdown: a sweep cut short is simply
        // done again next time.
        await repeatUntilShutdown(every: self.interval) {
            do {
                let deleted = try await self.store.sweepExpiredObjects()
                if deleted > 0 {
                    self.logger.info("lifecycle sweep", metadata: ["deleted": "\(deleted)"])
                }
            } catch is CancellationError {
                return
            } catch {
                self.logger.error("lifecycle sweep failed", metadata: ["error": "\(error)"])
            }
        }
    }
}
