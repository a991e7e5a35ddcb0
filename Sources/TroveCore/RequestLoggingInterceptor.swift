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
        do {
            var response = try await next(request, context)
            switch response.accepted {
            case .success(var contents):
                let producer = contents.producer
                contents.producer = { writer in
                    do {
                        let trailers = try await producer(writer)
                        log("ok")
                        return trailers
                    } catch {
                        log(Self.code(of: error))
                        throw error
                    }
                }
                response.accepted = .success(contents)
            case .failure(let error):
                log("\(error.code)")
            }
            return response
        } catch {
            log(Self.code(of: error))
            throw error
        }
    }

    private static func code(of error: any Error) -> String {
        if let error = error as? RPCError {
            return "\(error.code)"
        }
        if let error = error as? any RPCErrorConvertible {
            return "\(error.rpcErrorCode)"
        }
        return "unknown"
    }
}
