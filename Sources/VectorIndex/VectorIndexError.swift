/// Why the vector index refused or failed an operation.
public struct VectorIndexError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure; the service maps each to one gRPC status code.
    public enum Code: Hashable, Sendable {
        /// A value is out of range or malformed; `field` names it.
        case invalidArgument
        /// The collection does not exist.
        case notFound
        /// A collection of that name exists.
        case alreadyExists
        /// The memory budget or the disk would be exceeded.
        case resourceExhausted
        /// A snapshot or log file is damaged beyond what recovery may skip.
        case dataLoss
        /// Reading or writing a file failed.
        case ioError
    }

    public var code: Code
    /// The request field the error is about, e.g. `vectors[3].values`.
    public var field: String?
    public var message: String

    public init(_ code: Code, field: String? = nil, _ message: String) {
        self.code = code
        self.field = field
        self.message = message
    }

    static func invalid(_ field: String, _ message: String) -> VectorIndexError {
        VectorIndexError(.invalidArgument, field: field, message)
    }

    public var description: String {
        self.field.map { "\($0): \(self.message)" } ?? self.message
    }
}
