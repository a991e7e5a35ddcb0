import Foundation
import Metrics
import Synchronization
import TroveContracts
import TroveCore

/// Search results kept for a while, keyed by the query and its options.
///
/// Every collection has a generation that any change to it (a document completed, deleted or
/// reprocessed, the collection dropped) moves on; an entry from an older generation is a miss,
/// so a change is never hidden by the cache. The generations are this process's: with several
/// ingestion replicas, each one's cache is invalidated by the changes it makes, and the TTL
/// bounds how stale another replica's view can be.
final class SearchCache: Sendable {
    private struct Entry {
        var response: Trove_V1_SearchResponse
        var collection: String
        var generation: UInt64
        var expires: ContinuousClock.Instant
        var lastUsed: UInt64
    }

    private struct State {
        var entries: [Data: Entry] = [:]
        var generations: [String: UInt64] = [:]
        var tick: UInt64 = 0
        var hits: UInt64 = 0
        var misses: UInt64 = 0
    }

    private let state = Mutex(State())
    private let timeToLive: Duration
    private let capacity: Int

    /// A `timeToLive` of zero turns the cache off.
    init(timeToLive: Duration, capacity: Int) {
        self.timeToLive = timeToLive
        self.capacity = max(1, capacity)
    }

    var isEnabled: Bool { self.timeToLive > .zero }

    /// The key for a request: its serialized bytes, which hold the query and every option.
    static func key(for request: Trove_V1_SearchRequest) -> Data? {
        var request = request
        request.noCache = false
        return try? request.serializedBytes()
    }

    func lookup(_ key: Data, collection: String) -> Trove_V1_SearchResponse? {
        let now = ContinuousClock.now
        return self.state.withLock { state in
            let generation = state.generations[collection, default: 0]
            guard let entry = state.entries[key], entry.generation == generation, entry.expires > now else {
                state.entries[key] = nil
                state.misses += 1
                Self.misses.increment()
                return nil
            }
            state.hits += 1
            Self.hits.increment()
            state.tick += 1
            state.entries[key]?.lastUsed = state.tick
            return entry.response
        }
    }

    /// Stores a response computed while the collection was at `generation` (read before the
    /// search began, so a change during the search leaves the entry stale, not wrong).
    func store(_ response: Trove_V1_SearchResponse, key: Data, collection: String, generation: UInt64) {
        let now = ContinuousClock.now
        self.state.withLock { state in
            guard state.generations[collection, default: 0] == generation else { return }
            if state.entries.count >= self.capacity, state.entries[key] == nil {
                // Entries no lookup can return any more (expired, or from before a change to
                // their collection) go first; if that is not enough, the least recently used
                // eighth, in one pass, so a full cache does not scan per insert.
                let generations = state.generations
                state.entries = state.entries.filter { $0.value.expires > now && $0.value.generation == generations[$0.value.collection, default: 0] }
                if state.entries.count >= self.capacity {
                    let victims = state.entries.sorted { $0.value.lastUsed < $1.value.lastUsed }.prefix(max(1, self.capacity / 8))
                    for (victim, _) in victims { state.entries[victim] = nil }
                }
            }
            state.tick += 1
            state.entries[key] = Entry(response: response, collection: collection, generation: generation, expires: now + self.timeToLive, lastUsed: state.tick)
        }
    }

    func generation(of collection: String) -> UInt64 {
        self.state.withLock { $0.generations[collection, default: 0] }
    }

    /// Marks every cached result for `collection` stale.
    func invalidate(collection: String) {
        self.state.withLock { $0.generations[collection, default: 0] += 1 }
    }

    private static let hits = Counter(label: TroveMetrics.searchCacheLookups, dimensions: [("result", "hit")])
    private static let misses = Counter(label: TroveMetrics.searchCacheLookups, dimensions: [("result", "miss")])

    /// Responses held, stale ones included.
    var count: Int {
        self.state.withLock { $0.entries.count }
    }

    /// Hits over lookups since start-up; 0 before the first lookup.
    var hitRate: Double {
        self.state.withLock { state in
            let lookups = state.hits + state.misses
            return lookups == 0 ? 0 : Double(state.hits) / Double(lookups)
        }
    }
}
