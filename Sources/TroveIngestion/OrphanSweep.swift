import Foundation
import GRPCCore
import Logging
import ServiceLifecycle
import TroveContracts

/// Removes objects from the documents bucket that no document points to: an ingest whose
/// client gave up between storing the bytes and creating the document leaves one, and so does
/// a delete that stopped between the document and its object. Objects younger than the grace
/// period are left alone (an ingest may be about to create their document).
struct OrphanSweep: Sendable {
    struct Configuration: Sendable {
        /// The bucket the ingestion service owns.
        var bucket: String
        /// Time between sweeps; nil turns sweeping off.
        var interval: Duration?
        /// How old an unreferenced object must be before it is removed.
        var grace: Duration
    }

    let configuration: Configuration
    let downstream: IngestionService.Downstream
    let logger: Logger

    /// Sweeps every interval until graceful shutdown; the first sweep comes one interval after start.
    func run() async {
        guard let interval = self.configuration.interval else { return }
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            guard (try? await cancelWhenGracefulShutdown({ try await Task.sleep(for: interval) })) != nil else { return }
            do {
                let removed = try await self.sweep(now: Date())
                if removed > 0 {
                    self.logger.info("removed objects no document points to", metadata: ["objects": "\(removed)", "bucket": "\(self.configuration.bucket)"])
                }
            } catch {
                self.logger.warning("cannot sweep orphaned objects; trying again later", metadata: ["error": "\(error)"])
            }
        }
    }

    /// One sweep: returns how many objects were removed.
    func sweep(now: Date) async throws -> Int {
        let cutoff = now.addingTimeInterval(-Double(self.configuration.grace.components.seconds))
        var candidates: [String] = []
        let referenced = try await self.referencedKeys()
        var token = ""
        repeat {
            let page: Trove_V1_ListObjectsResponse
            do {
                page = try await self.downstream.objectStorage.listObjects(.with {
                    $0.bucket = self.configuration.bucket
                    $0.continuationToken = token
                })
            } catch let error as RPCError where error.code == .notFound {
                return 0  // No bucket yet: nothing was ever stored.
            }
            for object in page.objects where !referenced.contains(object.key) && object.lastModified.date < cutoff {
                candidates.append(object.key)
            }
            token = page.nextContinuationToken
        } while !token.isEmpty
        guard !candidates.isEmpty else { return 0 }

        // Documents created while the bucket was listed point to objects listed as candidates;
        // a second look at the documents keeps them.
        let stillReferenced = try await self.referencedKeys()
        var removed = 0
        for key in candidates where !stillReferenced.contains(key) {
            let response = try await self.downstream.objectStorage.deleteObject(.with {
                $0.bucket = self.configuration.bucket
                $0.key = key
            })
            if response.deleted { removed += 1 }
        }
        return removed
    }

    /// The keys in the bucket that documents of any collection point to.
    private func referencedKeys() async throws -> Set<String> {
        var keys = Set<String>()
        for document in try await self.downstream.allDocuments() where document.location.bucket == self.configuration.bucket {
            keys.insert(document.location.key)
        }
        return keys
    }
}
