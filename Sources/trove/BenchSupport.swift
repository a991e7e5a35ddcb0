import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2

/// A `trove serve ROLE` child process of a benchmark, on a free loopback port.
final class ServiceProcess: Sendable {
    let process: Process
    let port: Int

    private init(process: Process, port: Int) {
        self.process = process
        self.port = port
    }

    /// Starts this same executable as `trove serve ROLE` and waits until it listens.
    static func start(_ role: String, dataDirectory: String, environment: [String: String] = [:]) async throws -> ServiceProcess {
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = ["serve", role, "--listen", "127.0.0.1:0", "--data-dir", dataDirectory]
        var merged = ProcessInfo.processInfo.environment
        merged["TROVE_LOG_LEVEL"] = "warning"
        merged.merge(environment) { _, new in new }
        process.environment = merged
        let output = Pipe()
        process.standardOutput = output
        try process.run()

        // The service prints "trove serve ROLE: listening on HOST:PORT" once it listens.
        let reader = output.fileHandleForReading
        var text = ""
        while !text.contains("\n") {
            guard let data = try reader.read(upToCount: 1), !data.isEmpty else {
                process.waitUntilExit()
                throw CommandFailure("trove serve \(role) exited before it listened (status \(process.terminationStatus))")
            }
            text += String(decoding: data, as: UTF8.self)
        }
        guard let address = text.components(separatedBy: "listening on ").last?.trimmingCharacters(in: .whitespacesAndNewlines),
            let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...])
        else {
            process.terminate()
            throw CommandFailure("unexpected first line from trove serve \(role): \(text)")
        }
        return ServiceProcess(process: process, port: port)
    }

    func stop() {
        guard self.process.isRunning else { return }
        self.process.terminate()
        self.process.waitUntilExit()
    }

    /// The process's resident set size, from /proc.
    var residentBytes: Int {
        guard let status = try? String(contentsOfFile: "/proc/\(self.process.processIdentifier)/status", encoding: .utf8) else {
            return 0
        }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let kilobytes = line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
            return kilobytes * 1024
        }
        return 0
    }

    /// Runs `body` with a plaintext HTTP/2 client connected to the service.
    func withGRPCClient<Result: Sendable>(
        _ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> Result
    ) async throws -> Result {
        let transport = try HTTP2ClientTransport.Posix(
            target: .ipv4(address: "127.0.0.1", port: self.port),
            transportSecurity: .plaintext,
            config: .defaults { config in
                config.http2.targetWindowSize = 8 << 20
                config.http2.maxFrameSize = 1 << 20
                config.connection.flushCoalescing = nil
            }
        )
        return try await GRPCCore.withGRPCClient(transport: transport) { client in
            try await body(client)
        }
    }
}

/// Runs a benchmark's peer (`/usr/bin/env ARGUMENTS…`) and returns what it printed; `name` says
/// which peer failed.
func runPeerProgram(_ arguments: [String], name: String) throws -> Data {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw CommandFailure("the \(name) exited with status \(process.terminationStatus)")
    }
    return data
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = self.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

/// Left-aligned in `width` columns.
func padded(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}
