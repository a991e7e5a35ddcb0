import GRPCCore

// The one place where embedding failures become gRPC statuses.
extension EmbeddingError: RPCErrorConvertible {
    public var rpcErrorCode: RPCError.Code {
        switch self.code {
        case .invalidArgument: .invalidArgument
        case .notFound: .notFound
        case .unimplemented: .unimplemented
        case .modelUnavailable: .failedPrecondition
        case .unavailable: .unavailable
        case .resourceExhausted: .resourceExhausted
        case .cancelled: .cancelled
        default: .internalError
        }
    }

    /// The message led by the field it is about; the cause stays in the server's logs.
    public var rpcErrorMessage: String {
        self.field.isEmpty ? self.message : "\(self.field): \(self.message)"
    }
}
