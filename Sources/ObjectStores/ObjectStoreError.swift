/// Why an object store refused or failed an operation.
public struct ObjectStoreError: Error, CustomStringConvertible, Sendable {
    /// The kind of failure; the service maps each to one gRPC status code.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable {
            case invalidArgument, notFound, alreadyExists, failedPrecondition, outOfRange
            case storageFull, dataLoss, unavailable, permissionDenied, unauthenticated, internalError
        }

        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// The request names something malformed: a bad key, bucket or range.
        public static let invalidArgument = Code(.invalidArgument)
        /// No such bucket or object.
        public static let notFound = Code(.notFound)
        /// The bucket exists already.
        public static let alreadyExists = Code(.alreadyExists)
        /// The operation does not apply in the current state, such as deleting a full bucket.
        public static let failedPrecondition = Code(.failedPrecondition)
        /// A range starts past the end of the object.
        public static let outOfRange = Code(.outOfRange)
        /// The disk or quota is full.
        public static let storageFull = Code(.storageFull)
        /// Stored bytes do not match their checksum, or a file is damaged.
        public static let dataLoss = Code(.dataLoss)
        /// The backend cannot be reached.
        public static let unavailable = Code(.unavailable)
        /// The backend refused the credentials' access.
        public static let permissionDenied = Code(.permissionDenied)
        /// The backend did not accept the credentials.
        public static let unauthenticated = Code(.unauthenticated)
        /// Anything else: a broken invariant or an unexpected system error.
        public static let internalError = Code(.internalError)

        public var description: String { String(describing: self.wrapped) }
    }

    public var code: Code
    /// Says what failed and, for invalid input, which field; never holds a secret.
    public var message: String
    public var cause: (any Error)?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        if let cause = self.cause {
            return "\(self.code): \(self.message) (\(cause))"
        }
        return "\(self.code): \(self.message)"
    }
}
