import GRPCCore
import Synchronization
import TroveContracts

/// The serving status of every service a process hosts, shared by its listeners and changed
/// as the process starts and stops.
public final class HealthStatusBoard: Sendable {
    public typealias Status = Grpc_Health_V1_HealthCheckResponse.ServingStatus

    private struct State {
        var statuses: [String: Status] = [:]
        var watchers: [Int: (service: String, continuation: AsyncStream<Status>.Continuation)] = [:]
        var nextWatcher = 0
    }

    private let state: Mutex<State>

    /// Creates a board for the named services (fully qualified, e.g. "trove.v1.Metadata"), all
    /// `NOT_SERVING` until `setAll(.serving)`. The empty name stands for the whole server.
    public init(services: [String]) {
        var state = State()
        for service in services + [""] {
            state.statuses[service] = .notServing
        }
        self.state = Mutex(state)
    }

    /// The status of a service, or nil when this process does not host it.
    public func status(of service: String) -> Status? {
        self.state.withLock { $0.statuses[service] }
    }

    /// Sets one service's status and tells its watchers.
    public func set(_ status: Status, for service: String) {
        self.state.withLock { state in
            guard state.statuses[service] != nil else { return }
            state.statuses[service] = status
            for watcher in state.watchers.values where watcher.service == service {
                watcher.continuation.yield(status)
            }
        }
    }

    /// Sets every service's status, and the whole server's.
    public func setAll(_ status: Status) {
        let services = self.state.withLock { Array($0.statuses.keys) }
        for service in services {
            self.set(status, for: service)
        }
    }

    /// The status now, then every change, until `stop` is called or the consumer goes away.
    func watch(_ service: String) -> (updates: AsyncStream<Status>, stop: @Sendable () -> Void) {
        let (stream, continuation) = AsyncStream.makeStream(of: Status.self, bufferingPolicy: .bufferingNewest(1))
        let id = self.state.withLock { state in
            let id = state.nextWatcher
            state.nextWatcher += 1
            state.watchers[id] = (service, continuation)
            continuation.yield(state.statuses[service] ?? .serviceUnknown)
            return id
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.watchers.removeValue(forKey: id) }
        }
        return (stream, { continuation.finish() })
    }
}

/// The standard `grpc.health.v1.Health` service over a `HealthStatusBoard`.
public struct HealthService: Grpc_Health_V1_Health.SimpleServiceProtocol {
    let board: HealthStatusBoard

    public init(board: HealthStatusBoard) {
        self.board = board
    }

    public func check(
        request: Grpc_Health_V1_HealthCheckRequest,
        context: ServerContext
    ) async throws -> Grpc_Health_V1_HealthCheckResponse {
        guard let status = self.board.status(of: request.service) else {
            throw RPCError(code: .notFound, message: "service '\(request.service)' is not hosted by this server")
        }
        return .with { $0.status = status }
    }

    public func watch(
        request: Grpc_Health_V1_HealthCheckRequest,
        response: RPCWriter<Grpc_Health_V1_HealthCheckResponse>,
        context: ServerContext
    ) async throws {
        let (updates, stop) = self.board.watch(request.service)
        try await withThrowingTaskGroup(of: Void.self) { group in
            // gRPC signals a cancelled call (or a server shutting down) through the context,
            // not by cancelling this task: end the stream of updates when it does.
            group.addTask {
                try? await context.cancellation.cancelled
                stop()
            }
            for await status in updates {
                try await response.write(.with { $0.status = status })
            }
            group.cancelAll()
        }
    }
}
