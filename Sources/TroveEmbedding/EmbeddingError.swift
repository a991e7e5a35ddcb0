/// Why the embedding service could not answer a request.
public struct EmbeddingError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, as a value callers can switch over; cases can be added without breaking them.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable {
            case invalidArgument
            case notFound
            case unimplemented
            case modelUnavailable
            case unavailable
            case resourceExhausted
            case cancelled
            case internalError
        }

        private let wrapped: Wrapped

        /// A request value is wrong; `field` names it.
        public static let invalidArgument = Code(wrapped: .invalidArgument)
        /// The named model is not served here.
        public static let notFound = Code(wrapped: .notFound)
        /// The model does not take this kind of input, or the feature is not built.
        public static let unimplemented = Code(wrapped: .unimplemented)
        /// The model is known but cannot run: its files are missing, say.
        public static let modelUnavailable = Code(wrapped: .modelUnavailable)
        /// The provider is shutting down or a remote provider cannot be reached.
        public static let unavailable = Code(wrapped: .unavailable)
        /// A remote provider kept refusing for its rate limit or quota.
        public static let resourceExhausted = Code(wrapped: .resourceExhausted)
        /// The caller gave up (its call was cancelled) before the texts were embedded.
        public static let cancelled = Code(wrapped: .cancelled)
        /// A broken invariant or an engine failure.
        public static let internalError = Code(wrapped: .internalError)

        public var description: String {
            switch self.wrapped {
            case .invalidArgument: "invalid argument"
            case .notFound: "not found"
            case .unimplemented: "unimplemented"
            case .modelUnavailable: "model unavailable"
            case .unavailable: "unavailable"
            case .resourceExhausted: "resource exhausted"
            case .cancelled: "cancelled"
            case .internalError: "internal error"
            }
        }
    }

    /// The kind of failure.
    public var code: Code
    /// The request field the failure is about, e.g. `texts[3]`; empty when none.
    public var field: String
    /// What failed, for the client.
    public var message: String
    /// The error that caused this one, for the server's logs only.
    public var cause: (any Error & Sendable)?

    /// Creates an error.
    public init(code: Code, field: String = "", message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.field = field
        self.message = message
        self.cause = cause
    }

    public var description: String {
        let text = self.field.isEmpty ? "\(self.code): \(self.message)" : "\(self.code): \(self.field): \(self.message)"
        return self.cause.map { "\(text) (\($0))" } ?? text
    }
}
