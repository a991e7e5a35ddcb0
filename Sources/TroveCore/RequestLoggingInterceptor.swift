import GRPCCore
import Logging

/// Logs one line per request at debug level: method, status, duration and peer.
public struct RequestLoggingInterceptor: ServerInterceptor {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    public func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        guard self.logger.logLevel <= .debug else {
            return try await next(request, context)
        }
        let start = ContinuousClock.now
        let logger = self.logger
        let method = context.descriptor.fullyQualifiedMethod
        let peer = context.remotePeer
        @Sendable func log(_ code: String) {
            let elapsed = ContinuousClock.now - start
            let micros = elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000
            logger.debug(
                "request",
                metadata: ["method": "\(method)", "status": "\(code)", "duration_us": "\(micros)", "peer": "\(peer)"]
            )
        }
        return try await callObservingOutcome(next, request: request, context: context) { error in
            log(error.map(statusName(of:)) ?? "ok")
        }
    }
}

/// The name of the gRPC status an error ends a call with, e.g. "permissionDenied".
func statusName(of error: any Error) -> String {
    switch error {
    case let error as RPCError: "\(error.code)"
    case let error as any RPCErrorConvertible: "\(error.rpcErrorCode)"
    default: "unknown"
    }
}

/// Runs the rest of the interceptor chain and the handler, and calls `outcome` once when the
/// call has ended: with nil when it succeeded, with the error it ended with otherwise (thrown
/// before the response, refused in it, or thrown while its messages were written).
func callObservingOutcome<Input: Sendable, Output: Sendable>(
    _ next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>,
    request: StreamingServerRequest<Input>,
    context: ServerContext,
    outcome: @escaping @Sendable ((any Error)?) -> Void
) async throws -> StreamingServerResponse<Output> {
    do {
        var response = try await next(request, context)
        switch response.accepted {
        case .success(var contents):
            let producer = contents.producer
            contents.producer = { writer in
                do {
                    let trailers = try await producer(writer)
                    outcome(nil)
                    return trailers
                } catch {
                    outcome(error)
                    throw error
                }
            }
            response.accepted = .success(contents)
        case .failure(let error):
            outcome(error)
        }
        return response
    } catch {
        outcome(error)
        throw error
    }
}
