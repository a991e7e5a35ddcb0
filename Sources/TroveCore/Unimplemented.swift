import GRPCCore

extension RPCError {
    /// The error for an RPC that is part of the contract but not built yet: UNIMPLEMENTED,
    /// saying which method and what is missing.
    public static func notBuiltYet(_ method: String, missing: String) -> RPCError {
        RPCError(code: .unimplemented, message: "\(method) is not implemented yet: \(missing)")
    }
}
