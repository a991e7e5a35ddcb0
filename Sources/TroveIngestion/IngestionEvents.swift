import Foundation
import SwiftProtobuf
import Synchronization
import TroveContracts

/// Fans progress events out to every WatchIngestion call that wants them.
///
/// Events live in memory only: a watcher sees what happens after it subscribes. A slow watcher
/// loses its oldest undelivered events rather than holding the pipeline back.
final class IngestionEvents: Sendable {
    private struct Subscriber {
        var collection: String
        var documentIDs: Set<String>
        var continuation: AsyncStream<Trove_V1_IngestionEvent>.Continuation
    }

    private struct State {
        var nextID = 0
        var subscribers: [Int: Subscriber] = [:]
    }

    private let state = Mutex(State())
    /// Undelivered events a subscriber may have before the oldest are dropped.
    private let bufferLimit: Int

    init(bufferLimit: Int = 10_000) {
        self.bufferLimit = bufferLimit
    }

    /// A stream of the events for `collection` (empty: all) and `documentIDs` (empty: all), and
    /// a function that ends it.
    func subscribe(collection: String, documentIDs: Set<String>) -> (events: AsyncStream<Trove_V1_IngestionEvent>, end: @Sendable () -> Void) {
        let (stream, continuation) = AsyncStream.makeStream(of: Trove_V1_IngestionEvent.self, bufferingPolicy: .bufferingNewest(self.bufferLimit))
        let id = self.state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            state.subscribers[id] = Subscriber(collection: collection, documentIDs: documentIDs, continuation: continuation)
            return id
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return (stream, { continuation.finish() })
    }

    /// Ends every stream (at shutdown, so watchers do not hold the server open).
    func endAll() {
        let continuations = self.state.withLock { state in
            let continuations = state.subscribers.values.map(\.continuation)
            state.subscribers.removeAll()
            return continuations
        }
        for continuation in continuations {
            continuation.finish()
        }
    }

    /// How many watchers are subscribed.
    var subscriberCount: Int {
        self.state.withLock { $0.subscribers.count }
    }

    func publish(_ event: Trove_V1_IngestionEvent) {
        var event = event
        if !event.hasTime {
            event.time = Google_Protobuf_Timestamp(date: Date())
        }
        let targets = self.state.withLock { state in
            state.subscribers.values.filter { subscriber in
                (subscriber.collection.isEmpty || subscriber.collection == event.collection)
                    && (subscriber.documentIDs.isEmpty || subscriber.documentIDs.contains(event.documentID))
            }.map(\.continuation)
        }
        for continuation in targets {
            continuation.yield(event)
        }
    }
}
