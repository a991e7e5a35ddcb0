import GRPCCore
import MetadataStore

// The one place where metadata-store failures become gRPC statuses.
extension MetadataStoreError: RPCErrorConvertible {
    public var rpcErrorCode: RPCError.Code {
        switch self.code {
        case .invalidArgument: .invalidArgument
        case .notFound: .notFound
        case .alreadyExists: .alreadyExists
        case .failedPrecondition: .failedPrecondition
        case .aborted: .aborted
        case .storageFull: .resourceExhausted
        case .unavailable: .unavailable
        case .dataLoss: .dataLoss
        default: .internalError
        }
    }

    /// The store's message, led by the field it is about so a client can tell which value to fix.
    /// The underlying SQLite error stays out of it: it is the cause, seen only in server logs.
    public var rpcErrorMessage: String {
        guard let field = self.field, !field.isEmpty, !self.message.hasPrefix(field + ":") else {
            return self.message
        }
        return "\(field): \(self.message)"
    }
}
