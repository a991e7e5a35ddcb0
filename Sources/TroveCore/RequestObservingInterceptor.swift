import GRPCCore
import Logging
import Metrics
import SwiftProtobuf

/// Counts every call and its latency by service, method and status code (swift-metrics), logs
/// one line per call at debug level (method, status, duration, peer, request id, time the caller
/// allowed), and runs the handler in the call's `RequestScope`, whose request id it also sends
/// back in the response's metadata. Error messages are made fit for the client (`clientError`):
/// a request that cannot be decoded says why, and long messages are cut.
public struct RequestObservingInterceptor: ServerInterceptor {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    public func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let start = ContinuousClock.now
        let logger = self.logger
        let descriptor = context.descriptor
        let peer = context.remotePeer
        let scope = RequestScope(metadata: request.metadata, now: start)
        let allowed = scope.deadline.map { "\(start.duration(to: $0).wholeMicroseconds / 1000)" } ?? "none"
        @Sendable func record(_ error: (any Error)?) {
            let elapsed = ContinuousClock.now - start
            let code = error.map(statusName(of:)) ?? "ok"
            if TroveMetrics.isEnabled {
                let dimensions = [("service", descriptor.service.fullyQualifiedService), ("method", descriptor.method), ("code", code)]
                Counter(label: TroveMetrics.requests, dimensions: dimensions).increment()
                Timer(label: TroveMetrics.requestDuration, dimensions: dimensions).recordNanoseconds(Int64(clamping: elapsed.wholeNanoseconds))
            }
            if logger.logLevel <= .debug {
                logger.debug(
                    "request",
                    metadata: [
                        "method": "\(descriptor.fullyQualifiedMethod)", "status": "\(code)", "duration_us": "\(elapsed.wholeMicroseconds)",
                        "peer": "\(peer)", "request_id": "\(scope.requestID)", "timeout_ms": "\(allowed)",
                    ]
                )
            }
        }
        // Nothing to count or log: the call only needs its scope.
        let observed = TroveMetrics.isEnabled || logger.logLevel <= .debug
        var response = try await RequestScope.$current.withValue(scope) {
            try await callObservingOutcome(next, request: request, context: context, mappingErrors: clientError, outcome: observed ? record : nil)
        }
        // A streamed response is produced after this returns: it runs in the scope too.
        if case .success(var contents) = response.accepted {
            contents.metadata.replaceOrAddString(scope.requestID, forKey: RequestScope.requestIDKey)
            let producer = contents.producer
            contents.producer = { writer in
                try await RequestScope.$current.withValue(scope) { try await producer(writer) }
            }
            response.accepted = .success(contents)
        }
        return response
    }
}

/// The longest error message a call ends with, in UTF-8 bytes.
let maxErrorMessageLength = 1024

/// The error a call ends with, as the client gets it. A request the protobuf decoder refused
/// gets the reason added (grpc-swift-protobuf says only "Can't deserialize to message of type
/// X.", keeping the decoder's error as a cause the client never sees). A message longer than
/// `maxErrorMessageLength` is cut in the middle of what it quoted: one quoting a request's
/// 100 KB name would not fit a client's metadata limit, and the client would see
/// RESOURCE_EXHAUSTED instead of the real status. An error passed on from another service's
/// answer loses the fields of that answer's HTTP/2 headers (see `transportFields`).
func clientError(_ error: any Error) -> any Error {
    var error = error
    if let refused = error as? RPCError, let cause = refused.cause as? BinaryDecodingError {
        error = RPCError(code: refused.code, message: refused.message + " " + cause.reason, metadata: refused.metadata, cause: cause)
    }
    if let passedOn = error as? RPCError {
        let fields = Set(passedOn.metadata.map(\.key).filter(isTransportField))
        if !fields.isEmpty {
            var metadata = passedOn.metadata
            for key in fields { metadata.removeAllValues(forKey: key) }
            error = RPCError(code: passedOn.code, message: passedOn.message, metadata: metadata, cause: passedOn.cause)
        }
    }
    let code: RPCError.Code
    let message: String
    switch error {
    case let error as RPCError: (code, message) = (error.code, error.message)
    case let error as any RPCErrorConvertible: (code, message) = (error.rpcErrorCode, error.rpcErrorMessage)
    default: return error
    }
    guard message.utf8.count > maxErrorMessageLength else { return error }
    let kept = maxErrorMessageLength / 2 - 32
    let cut = message.utf8.count - 2 * kept
    let head = String(decoding: message.utf8.prefix(kept), as: UTF8.self)
    let tail = String(decoding: message.utf8.suffix(kept), as: UTF8.self)
    return RPCError(code: code, message: "\(head)…[\(cut) bytes cut]…\(tail)")
}

/// Fields of an answer's HTTP/2 headers rather than metadata of the call. grpc-swift's client
/// keeps `:status` and `content-type` of an error answered without a body in the error's
/// metadata; a service passing that error on as it came sent them back in its own trailers, and
/// a pseudo-header there breaks the stream: the client got "UNAVAILABLE: Stream unexpectedly
/// closed" instead of the status, and lost the connection with every call open on it.
private let transportFields: Set<String> = ["content-type", "te", "grpc-status", "grpc-message", "grpc-encoding", "grpc-accept-encoding"]

private func isTransportField(_ key: String) -> Bool {
    key.hasPrefix(":") || transportFields.contains(key.lowercased())
}

extension BinaryDecodingError {
    /// Why protobuf bytes could not be decoded, for a person who sent them.
    var reason: String {
        switch self {
        case .invalidUTF8: "A string field is not valid UTF-8."
        case .messageDepthLimit: "Messages are nested more than 100 deep (a filter's and/or/not, a Struct)."
        case .truncated: "The bytes end in the middle of a field."
        case .malformedProtobuf: "The bytes are not a protobuf encoding of it."
        case .trailingGarbage: "Bytes follow the end of the message."
        default: "The decoder said: \(self)."
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

/// Runs the rest of the interceptor chain and the handler, and calls `outcome` (when given) once
/// the call has ended: with nil when it succeeded, with the error it ended with otherwise (thrown
/// before the response, refused in it, or thrown while its messages were written). Every such
/// error is first passed through `mappingErrors`.
func callObservingOutcome<Input: Sendable, Output: Sendable>(
    _ next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>,
    request: StreamingServerRequest<Input>,
    context: ServerContext,
    mappingErrors map: @escaping @Sendable (any Error) -> any Error = { $0 },
    outcome: (@Sendable ((any Error)?) -> Void)?
) async throws -> StreamingServerResponse<Output> {
    do {
        var response = try await next(request, context)
        switch response.accepted {
        case .success(var contents):
            let producer = contents.producer
            contents.producer = { writer in
                do {
                    let trailers = try await producer(writer)
                    outcome?(nil)
                    return trailers
                } catch {
                    let mapped = map(error)
                    outcome?(mapped)
                    throw mapped
                }
            }
            response.accepted = .success(contents)
        case .failure(let error):
            let mapped = map(error) as? RPCError ?? error
            outcome?(mapped)
            response.accepted = .failure(mapped)
        }
        return response
    } catch {
        let mapped = map(error)
        outcome?(mapped)
        throw mapped
    }
}

extension Duration {
    /// Whole microseconds (none below zero), for timings in logs and RPC answers.
    public var wholeMicroseconds: UInt64 {
        UInt64(max(0, self / .microseconds(1)))
    }

    /// Whole nanoseconds (none below zero), for metrics.
    public var wholeNanoseconds: UInt64 {
        UInt64(max(0, self / .nanoseconds(1)))
    }
}
