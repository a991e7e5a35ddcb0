import Foundation
import GRPCCore

/// What a call hands on to the calls its handler makes: its request id, for following one
/// request through every service's logs, and its deadline, so a client's deadline reaches every
/// downstream call.
///
/// Set by `RequestObservingInterceptor` on the server for the handler's task; read by
/// `RequestScopePropagation` on the clients services use to call each other.
public struct RequestScope: Sendable {
    /// From the caller's `x-request-id`, or made here when it sent none.
    public var requestID: String
    /// From the caller's `grpc-timeout`.
    public var deadline: ContinuousClock.Instant?

    @TaskLocal public static var current: RequestScope?

    public static let requestIDKey = "x-request-id"

    /// The scope of a call with `metadata`, received now.
    init(metadata: Metadata, now: ContinuousClock.Instant = .now) {
        let presented = metadata[stringValues: Self.requestIDKey].first(where: { _ in true }) ?? ""
        // An id is echoed into logs: keep it short and printable.
        let usable = !presented.isEmpty && presented.utf8.count <= 128 && presented.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value < 0x7F }
        self.requestID = usable ? presented : Self.makeID()
        self.deadline = metadata[stringValues: "grpc-timeout"].first(where: { _ in true }).flatMap(GRPCTimeout.parse).map { now + $0 }
    }

    /// 16 random hex digits.
    static func makeID() -> String {
        var generator = SystemRandomNumberGenerator()
        return withUnsafeBytes(of: generator.next() as UInt64) { $0.lowercaseHex }
    }
}

/// Adds the current call's request id and what is left of its deadline to every call a client
/// makes from inside a handler. A call that sets its own timeout keeps it.
public struct RequestScopePropagation: ClientInterceptor {
    public init() {}

    public func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingClientRequest<Input>,
        context: ClientContext,
        next: (StreamingClientRequest<Input>, ClientContext) async throws -> StreamingClientResponse<Output>
    ) async throws -> StreamingClientResponse<Output> {
        guard let scope = RequestScope.current else {
            return try await next(request, context)
        }
        var request = request
        request.metadata.replaceOrAddString(scope.requestID, forKey: RequestScope.requestIDKey)
        if let deadline = scope.deadline, request.metadata[stringValues: "grpc-timeout"].first(where: { _ in true }) == nil {
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else {
                throw RPCError(code: .deadlineExceeded, message: "the caller's deadline passed before \(context.descriptor.fullyQualifiedMethod) was called")
            }
            request.metadata.addString(GRPCTimeout.format(remaining), forKey: "grpc-timeout")
        }
        return try await next(request, context)
    }
}

/// The `grpc-timeout` header: at most eight digits and a unit (H, M, S, m, u, n).
enum GRPCTimeout {
    static func parse(_ text: String) -> Duration? {
        guard let unit = text.last, (2...9).contains(text.count) else { return nil }
        let digits = text.dropLast()
        guard digits.allSatisfy(\.isASCII), let value = Int64(digits), value >= 0 else { return nil }
        switch unit {
        case "H": return .seconds(value * 3600)
        case "M": return .seconds(value * 60)
        case "S": return .seconds(value)
        case "m": return .milliseconds(value)
        case "u": return .microseconds(value)
        case "n": return .nanoseconds(value)
        default: return nil
        }
    }

    /// The finest unit whose value fits in eight digits.
    static func format(_ duration: Duration) -> String {
        let microseconds = max(1, duration / .microseconds(1))
        if microseconds <= 99_999_999 { return "\(Int64(microseconds))u" }
        let milliseconds = duration / .milliseconds(1)
        if milliseconds <= 99_999_999 { return "\(Int64(milliseconds))m" }
        return "\(min(99_999_999, Int64(duration / .seconds(1))))S"
    }
}
