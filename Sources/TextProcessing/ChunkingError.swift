/// Why text could not be chunked: an invalid policy, or a token counter that misbehaved.
public struct ChunkingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The policy field (`size`, `overlap`, `maxScalars`) or argument (`countTokens`) at fault.
    public var field: String
    /// What is wrong with it.
    public var message: String

    /// Creates an error about a field.
    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    /// The field and the message, as "overlap: must be …".
    public var description: String { "\(self.field): \(self.message)" }
}
