/// Why the embedding engine could not load a model or embed a text.
public struct TextEmbeddingError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, as a value callers can switch over; cases can be added without breaking them.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable {
            case modelNotFound
            case invalidModel
        }

        private let wrapped: Wrapped

        /// The model directory or one of its files is missing.
        public static let modelNotFound = Code(wrapped: .modelNotFound)
        /// A model file is there but cannot be used: bad format, wrong shapes, unsupported settings.
        public static let invalidModel = Code(wrapped: .invalidModel)

        public var description: String {
            switch wrapped {
            case .modelNotFound: "model not found"
            case .invalidModel: "invalid model"
            }
        }
    }

    /// The kind of failure.
    public var code: Code
    /// What failed, naming the file or tensor involved.
    public var message: String
    /// The error that caused this one, if any.
    public var cause: (any Error & Sendable)?

    /// Creates an error.
    public init(code: Code, message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        if let cause { "\(code): \(message) (\(cause))" } else { "\(code): \(message)" }
    }
}
