import Dispatch
import Synchronization

/// Lends SQLite connections to one caller at a time and runs the caller's work on a Dispatch
/// thread, so blocking SQLite calls (disk I/O, fsync, busy waits) never occupy a thread of Swift
/// concurrency's small cooperative pool.
///
/// The writer is a pool of one connection, which serializes every write in this process; the
/// readers are a pool of several, which in WAL mode read their own snapshots while a write is in
/// progress. Callers that find no idle connection wait (without blocking a thread) in FIFO order.
package final class SQLiteConnectionPool: Sendable {
    private struct State {
        var idle: [SQLiteConnection]
        var waiters: [CheckedContinuation<SQLiteConnection, Never>] = []
    }

    private let state: Mutex<State>
    private let queue: DispatchQueue

    package init(connections: [SQLiteConnection], label: String) {
        precondition(!connections.isEmpty, "a connection pool needs at least one connection")
        self.state = Mutex(State(idle: connections))
        self.queue = DispatchQueue(label: label, attributes: connections.count > 1 ? .concurrent : [])
    }

    /// Runs `body` with a connection of its own.
    package func withConnection<T: Sendable>(
        _ body: @escaping @Sendable (SQLiteConnection) throws -> T
    ) async throws -> T {
        let connection = await self.checkOut()
        defer { self.checkIn(connection) }
        return try await withCheckedThrowingContinuation { continuation in
            self.queue.async {
                continuation.resume(with: Result { try body(connection) })
            }
        }
    }

    private func checkOut() async -> SQLiteConnection {
        if let connection = self.state.withLock({ $0.idle.popLast() }) {
            return connection
        }
        return await withCheckedContinuation { continuation in
            let connection = self.state.withLock { state -> SQLiteConnection? in
                if let connection = state.idle.popLast() {
                    return connection
                }
                state.waiters.append(continuation)
                return nil
            }
            if let connection {
                continuation.resume(returning: connection)
            }
        }
    }

    private func checkIn(_ connection: SQLiteConnection) {
        let waiter = self.state.withLock { state -> CheckedContinuation<SQLiteConnection, Never>? in
            if state.waiters.isEmpty {
                state.idle.append(connection)
                return nil
            }
            return state.waiters.removeFirst()
        }
        waiter?.resume(returning: connection)
    }
}
