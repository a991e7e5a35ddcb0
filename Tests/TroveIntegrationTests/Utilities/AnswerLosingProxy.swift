import GRPCCore
import GRPCNIOTransportHTTP2

/// A gRPC server on a free loopback port that passes the calls of some methods to a real
/// server and can lose an answer after that server has acted on the call: what a client sees
/// when the server is killed between committing a write and answering it.
///
/// Calls are passed on whole: the request messages are collected, sent upstream, and the
/// answers collected before any is returned (enough for unary and short streaming calls).
struct AnswerLosingProxy: RegistrableRPCService {
    /// The methods passed on; others answer UNIMPLEMENTED.
    let methods: [MethodDescriptor]
    let upstream: GRPCClient<HTTP2ClientTransport.Posix>
    /// Called with every request message; true loses the call's answer (the call fails with
    /// UNAVAILABLE once the upstream server has answered).
    let losesAnswer: @Sendable (MethodDescriptor, [UInt8]) -> Bool

    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        for method in self.methods {
            router.registerHandler(forMethod: method, deserializer: RawMessage(), serializer: RawMessage()) { request, _ in
                var received: [[UInt8]] = []
                for try await message in request.messages {
                    received.append(message)
                }
                let messages = received
                let loses = messages.contains { self.losesAnswer(method, $0) }
                let answers = try await self.passOn(messages, to: method)
                if loses {
                    throw RPCError(code: .unavailable, message: "the proxy lost the answer to \(method)")
                }
                return StreamingServerResponse(of: [UInt8].self) { writer in
                    try await writer.write(contentsOf: answers)
                    return [:]
                }
            }
        }
    }

    /// Sends a call's messages upstream and returns the answers. An error is passed on as a new
    /// one with the same status and message: as it came, its metadata holds the upstream
    /// answer's `:status` and `content-type`, which break the proxy's own answer (see
    /// `transportFields` in TroveCore, which does the same for Trove's services).
    private func passOn(_ messages: [[UInt8]], to method: MethodDescriptor) async throws -> [[UInt8]] {
        do {
            return try await self.upstream.bidirectionalStreaming(
                request: StreamingClientRequest(of: [UInt8].self) { writer in
                    try await writer.write(contentsOf: messages)
                },
                descriptor: method,
                serializer: RawMessage(),
                deserializer: RawMessage(),
                options: .defaults
            ) { response in
                var answers: [[UInt8]] = []
                for try await message in response.messages {
                    answers.append(message)
                }
                return answers
            }
        } catch let error as RPCError {
            throw RPCError(code: error.code, message: error.message)
        }
    }

    /// Serves a proxy to `process` for `methods` while `body` runs, giving `body` its port.
    static func serving<Result: Sendable>(
        to process: TroveProcess,
        methods: [MethodDescriptor],
        losesAnswer: @escaping @Sendable (MethodDescriptor, [UInt8]) -> Bool,
        _ body: (Int) async throws -> Result
    ) async throws -> Result {
        try await withClient(process) { upstream in
            let transport = HTTP2ServerTransport.Posix(address: .ipv4(host: "127.0.0.1", port: 0), transportSecurity: .plaintext)
            let proxy = AnswerLosingProxy(methods: methods, upstream: upstream, losesAnswer: losesAnswer)
            let server = GRPCServer(transport: transport, services: [proxy])
            return try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await server.serve() }
                defer {
                    server.beginGracefulShutdown()
                    group.cancelAll()
                }
                guard let port = try await transport.listeningAddress.ipv4?.port else {
                    throw RPCError(code: .internalError, message: "the proxy is not listening on IPv4")
                }
                return try await body(port)
            }
        }
    }
}

/// A message passed on as its bytes.
private struct RawMessage: MessageSerializer, MessageDeserializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes {
        Bytes(message)
    }

    func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> [UInt8] {
        serializedMessageBytes.withUnsafeBytes { Array($0) }
    }
}
