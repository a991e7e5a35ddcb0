import GRPCCore
import GRPCInProcessTransport
import GRPCNIOTransportHTTP2
import Logging
import ServiceLifecycle

/// Runs a set of gRPC services, with health, reflection, request metrics and logging (and the
/// interceptors it is given: access control, limits), on one transport, as a
/// swift-service-lifecycle `Service` that shuts down gracefully: the listener closes, new calls
/// are refused, calls in flight finish.
public struct ServiceHost: Service {
    /// Where the services are offered.
    public enum Listener: Sendable {
        /// HTTP/2 on a TCP address (port 0 picks a free port), with TLS when configured.
        case http2(HostAndPort, maxMessageBytes: Int, tls: TroveConfiguration.TLS = .init())
        /// grpc-swift's in-process transport, for services in the same process.
        case inProcess(InProcessTransport.Server)
    }

    /// A name for logs, e.g. "all" or "metadata".
    public let name: String
    public let listener: Listener
    let services: [any RegistrableRPCService]
    let health: HealthStatusBoard
    let interceptors: [any ServerInterceptor]
    let logger: Logger
    let onListening: @Sendable (HostAndPort) -> Void

    /// - Parameters:
    ///   - services: The services to offer; health and reflection are added.
    ///   - health: The board to mark serving once listening (shared by every listener of a
    ///     process); marked not serving on shutdown.
    ///   - interceptors: Run for every call after request logging (access control, audit).
    ///   - onListening: Called with the bound address of an HTTP/2 listener.
    public init(
        name: String,
        listener: Listener,
        services: [any RegistrableRPCService],
        health: HealthStatusBoard,
        interceptors: [any ServerInterceptor] = [],
        logger: Logger,
        onListening: @escaping @Sendable (HostAndPort) -> Void = { _ in }
    ) {
        self.name = name
        self.listener = listener
        self.services = services
        self.health = health
        self.interceptors = interceptors
        self.logger = logger
        self.onListening = onListening
    }

    public func run() async throws {
        var router = RPCRouter<InProcessTransport.Server>()
        for service in self.services {
            service.registerMethods(with: &router)
        }
        let names = Set(router.methods.map(\.service.fullyQualifiedService)).union(["grpc.health.v1.Health"])
        let reflection = ReflectionService(services: Array(names))
        let services = self.services + [HealthService(board: self.health), reflection, reflection.alpha]
        let interceptors: [any ServerInterceptor] = [RequestObservingInterceptor(logger: self.logger)] + self.interceptors
        switch self.listener {
        case .http2(let address, let maxMessageBytes, let tls):
            let transport = HTTP2ServerTransport.Posix(
                address: address.socketAddress,
                transportSecurity: tls.serverSecurity,
                config: .defaults { config in
                    config.rpc.maxRequestPayloadSize = maxMessageBytes
                    // The default 64 KiB window makes a client stream wait a round trip every
                    // 64 KiB: uploads ran at ~100 MB/s on loopback. 8 MiB (the client's default)
                    // and larger frames keep them moving; memory per stream stays bounded by it.
                    config.http2.targetWindowSize = 8 << 20
                    config.http2.maxFrameSize = 1 << 20
                    config.connection.flushCoalescing = nil
                    // An oversized request gets RESOURCE_EXHAUSTED rather than the transport's
                    // bare stream reset.
                    config.channelDebuggingCallbacks.onAcceptHTTP2Stream = { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(OversizedMessageGuard(limit: maxMessageBytes), position: .first)
                        }
                    }
                }
            )
            let server = GRPCServer(transport: transport, services: services, interceptors: interceptors)
            try await self.serve(server) {
                let bound = try await transport.listeningAddress
                let address = HostAndPort(bound) ?? address
                self.logger.info(
                    "listening",
                    metadata: ["service": "\(self.name)", "address": "\(address)", "tls": "\(tls.isEnabled ? (tls.requireClientCertificate ? "mutual" : "on") : "off")"]
                )
                self.onListening(address)
            }
        case .inProcess(let transport):
            let server = GRPCServer(transport: transport, services: services, interceptors: interceptors)
            try await self.serve(server) {}
        }
    }

    private func serve<Transport: ServerTransport>(
        _ server: GRPCServer<Transport>,
        whenListening: @escaping @Sendable () async throws -> Void
    ) async throws {
        let health = self.health
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await server.serve() }
                group.addTask {
                    try await whenListening()
                    health.setAll(.serving)
                }
                try await group.waitForAll()
            }
        } onGracefulShutdown: {
            health.setAll(.notServing)
            server.beginGracefulShutdown()
        }
    }
}

extension TroveConfiguration.TLS {
    /// The listener's security: plaintext, TLS, or TLS that requires client certificates signed
    /// by `ca_file` (any host name: clients have none to check).
    var serverSecurity: HTTP2ServerTransport.Posix.TransportSecurity {
        guard self.isEnabled else { return .plaintext }
        return .tls(
            certificateChain: [.file(path: self.certificateFile, format: .pem)],
            privateKey: .file(path: self.privateKeyFile, format: .pem)
        ) { config in
            if !self.caFile.isEmpty {
                config.trustRoots = .certificates([.file(path: self.caFile, format: .pem)])
            }
            if self.requireClientCertificate {
                config.clientCertificateVerification = .noHostnameVerification
            }
        }
    }

    /// A client's security towards a Trove listener: TLS verifying the server against `ca_file`
    /// (or the system's roots), presenting this process's certificate when it has one; plaintext
    /// when no file is set, unless `always`.
    public func clientSecurity(always: Bool = false) -> HTTP2ClientTransport.Posix.TransportSecurity {
        guard always || self.isEnabled || !self.caFile.isEmpty else { return .plaintext }
        return .tls { config in
            if !self.certificateFile.isEmpty {
                config.certificateChain = [.file(path: self.certificateFile, format: .pem)]
                config.privateKey = .file(path: self.privateKeyFile, format: .pem)
            }
            if !self.caFile.isEmpty {
                config.trustRoots = .certificates([.file(path: self.caFile, format: .pem)])
            }
        }
    }
}

extension HostAndPort {
    var socketAddress: GRPCNIOTransportCore.SocketAddress {
        if self.host == "localhost" {
            return .ipv4(host: "127.0.0.1", port: self.port)
        }
        return self.isIPv6 ? .ipv6(host: self.host, port: self.port) : .ipv4(host: self.host, port: self.port)
    }

    init?(_ address: GRPCNIOTransportCore.SocketAddress) {
        if let ipv4 = address.ipv4 {
            self.init(host: ipv4.host, port: ipv4.port)
        } else if let ipv6 = address.ipv6 {
            self.init(host: ipv6.host, port: ipv6.port)
        } else {
            return nil
        }
    }
}
