import GRPCCore
import GRPCNIOTransportHTTP2
import ServiceLifecycle

/// Runs a gRPC client's connections as a swift-service-lifecycle `Service`, closing them
/// gracefully on shutdown.
public struct ClientConnection<Transport: ClientTransport>: Service {
    public let client: GRPCClient<Transport>

    public init(client: GRPCClient<Transport>) {
        self.client = client
    }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await self.client.runConnections()
        } onGracefulShutdown: {
            self.client.beginGracefulShutdown()
        }
    }
}

extension ClientConnection where Transport == HTTP2ClientTransport.Posix {
    /// An HTTP/2 client for the service at `address`: TLS as `tls` says (plaintext by default;
    /// the server's certificate must name the address's host), with `interceptors` on every call
    /// (the service credential, say).
    public init(
        address: HostAndPort,
        maxMessageBytes: Int,
        tls: TroveConfiguration.TLS = .init(),
        interceptors: [any ClientInterceptor] = []
    ) throws {
        // The same message limit as the servers, both ways: grpc-swift-nio-transport 2.9.2
        // applies the request limit to responses too.
        var methodConfig = MethodConfig(names: [MethodConfig.Name(service: "")])
        methodConfig.maxRequestMessageBytes = maxMessageBytes
        methodConfig.maxResponseMessageBytes = maxMessageBytes
        let transport = try HTTP2ClientTransport.Posix(
            target: address.clientTarget,
            transportSecurity: tls.clientSecurity(),
            config: .defaults { config in
                config.backoff.max = .seconds(5)
                // Coalescing holds each write back for up to its delay in case another follows:
                // it doubled the round trip of one call at a time (see trove bench ann).
                config.connection.flushCoalescing = nil
            },
            serviceConfig: ServiceConfig(methodConfig: [methodConfig])
        )
        self.init(client: GRPCClient(transport: transport, interceptors: interceptors))
    }
}
