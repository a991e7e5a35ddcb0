import ArgumentParser
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import TroveCore

/// `--addr` and a connected client, for every command that talks to a running Trove.
struct ClientOptions: ParsableArguments {
    @Option(name: .long, help: "Address of the Trove service (HOST:PORT).")
    var addr: String = "127.0.0.1:7420"

    @Option(name: .long, help: "Seconds to wait for each call.")
    var timeout: Double = 30

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
        let transport = try HTTP2ClientTransport.Posix(
            target: .dns(host: address.host, port: address.port),
            transportSecurity: .plaintext,
            config: .defaults { config in
                config.connection.maxIdleTime = nil
            }
        )
        do {
            return try await withGRPCClient(transport: transport) { client in
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
        if error.code == .unavailable {
            text += " (is Trove running at \(address)? Start it with `trove serve all`.)"
        }
        self.description = text
    }
}
