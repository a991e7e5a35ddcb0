import ArgumentParser
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import TroveCore

/// `--addr`, the key, TLS and a connected client, for every command that talks to a running Trove.
struct ClientOptions: ParsableArguments {
    @Option(name: .long, help: "Address of the Trove service (HOST:PORT).")
    var addr: String = "127.0.0.1:7420"

    @Option(name: .long, help: "Seconds to wait for each call.")
    var timeout: Double = 30

    @Option(name: .long, help: ArgumentHelp("API key, sent as 'authorization: Bearer KEY' (default: $TROVE_API_KEY).", valueName: "key"))
    var apiKey: String?

    @Flag(name: .long, help: "Use TLS, trusting the system's roots (implied by the other --tls options).")
    var tls = false

    @Option(name: .long, help: ArgumentHelp("PEM roots to verify the server's certificate with.", valueName: "file"))
    var tlsCa: String?

    @Option(name: .long, help: ArgumentHelp("PEM client certificate, for servers that require one (with --tls-key).", valueName: "file"))
    var tlsCert: String?

    @Option(name: .long, help: ArgumentHelp("PEM private key of --tls-cert.", valueName: "file"))
    var tlsKey: String?

    @Option(name: .long, help: ArgumentHelp("Name to expect in the server's certificate, when not the --addr host.", valueName: "name"))
    var tlsServerName: String?

    func validate() throws {
        if (self.tlsCert == nil) != (self.tlsKey == nil) {
            throw ValidationError("--tls-cert and --tls-key go together")
        }
    }

    /// The TLS files are read when connecting, not when parsing: a health check written into a
    /// deployment file parses anywhere, and fails plainly where its files are missing.
    private func checkFiles() throws {
        for (flag, path) in [("--tls-ca", self.tlsCa), ("--tls-cert", self.tlsCert), ("--tls-key", self.tlsKey)] {
            if let path, !FileManager.default.isReadableFile(atPath: path) {
                throw CommandFailure("\(flag): cannot read \(path)")
            }
        }
    }

    /// The key to send: --api-key, else $TROVE_API_KEY.
    var key: String? {
        let key = self.apiKey ?? ProcessInfo.processInfo.environment["TROVE_API_KEY"]
        return key?.isEmpty == false ? key : nil
    }

    /// The same TLS settings a service uses towards another, from the flags.
    var transportSecurity: HTTP2ClientTransport.Posix.TransportSecurity {
        var tls = TroveConfiguration.TLS()
        tls.certificateFile = self.tlsCert ?? ""
        tls.privateKeyFile = self.tlsKey ?? ""
        tls.caFile = self.tlsCa ?? ""
        return tls.clientSecurity(always: self.tls)
    }

    var address: HostAndPort {
        get throws {
            guard let address = HostAndPort(parsing: self.addr), address.port > 0 else {
                throw ValidationError("--addr must be HOST:PORT, got '\(self.addr)'")
            }
            return address
        }
    }

    var callOptions: CallOptions {
        var options = CallOptions.defaults
        options.timeout = .milliseconds(Int64(self.timeout * 1000))
        return options
    }

    /// Runs `body` with a client connected to `--addr`, turning gRPC errors into readable ones.
    func withClient<Result: Sendable>(
        _ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> Result
    ) async throws -> Result {
        let address = try self.address
        try self.checkFiles()
        let transport = try HTTP2ClientTransport.Posix(
            target: address.clientTarget,
            transportSecurity: self.transportSecurity,
            config: .defaults { config in
                config.connection.maxIdleTime = nil
                if let name = self.tlsServerName {
                    config.http2.authority = name
                }
            }
        )
        let interceptors: [any ClientInterceptor] = self.key.map { [BearerTokenInterceptor(key: $0)] } ?? []
        do {
            return try await withGRPCClient(transport: transport, interceptors: interceptors) { client in
                try await body(client)
            }
        } catch let error as RPCError {
            throw CommandFailure(error, address: address)
        }
    }
}

/// A failed call, said plainly: the status, what the service said, and a hint when it could
/// not be reached.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }

    init(_ error: RPCError, address: HostAndPort) {
        var text = "\(error.code): \(error.message)"
        switch error.code {
        case .unavailable:
            text += " (is Trove running at \(address)? Start it with `trove serve all`.)"
        case .unauthenticated:
            text += " (pass a key with --api-key or $TROVE_API_KEY; an admin makes one with `trove keys create`.)"
        default:
            break
        }
        self.description = text
    }
}
