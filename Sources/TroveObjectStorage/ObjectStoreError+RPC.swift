import GRPCCore
import ObjectStores

// The one place where object-store failures become gRPC statuses.
extension ObjectStoreError: RPCErrorConvertible {
    public var rpcErrorCode: RPCError.Code {
        switch self.code {
        case .invalidArgument: .invalidArgument
        case .notFound: .notFound
        case .alreadyExists: .alreadyExists
        case .failedPrecondition: .failedPrecondition
        case .outOfRange: .outOfRange
        case .storageFull: .resourceExhausted
        case .dataLoss: .dataLoss
        case .unavailable: .unavailable
        case .permissionDenied: .permissionDenied
        case .unauthenticated: .unauthenticated
        default: .internalError
        }
    }

    public var rpcErrorMessage: String {
        self.message
    }
}
