import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The `trove` executable built beside these tests (or `TROVE_BINARY`).
let troveBinary: String = {
    if let path = ProcessInfo.processInfo.environment["TROVE_BINARY"] {
        return path
    }
    let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    var directory = testBinary.deletingLastPathComponent()
    // The test runner may live inside a bundle directory below the build folder.
    for _ in 0..<4 {
        let candidate = directory.appendingPathComponent("trove").path
        if FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        directory = directory.deletingLastPathComponent()
    }
    return "trove"
}()

/// A `trove serve …` subprocess on a free loopback port, with its own data directory.
final class TroveProcess: Sendable {
    let process: Process
    let host: String
    let port: Int
    let dataDirectory: String
    let logPath: String
    /// What the process printed on standard output.
    private let output: LineCollector

    struct StartFailure: Error, CustomStringConvertible {
        let description: String
    }

    /// Starts `trove serve ROLE --listen 127.0.0.1:0` and waits for the line that says where it
    /// listens.
    static func start(
        role: String = "all",
        dataDirectory: String? = nil,
        listen: String = "127.0.0.1:0",
        environment: [String: String] = [:]
    ) async throws -> TroveProcess {
        let dataDirectory = dataDirectory ?? FileManager.default.temporaryDirectory.path + "/trove-it-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let logPath = dataDirectory + "/serve-\(UUID().uuidString.prefix(8)).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: troveBinary)
        process.arguments = ["serve", role, "--listen", listen, "--data-dir", dataDirectory]
        var processEnvironment = ProcessInfo.processInfo.environment
        processEnvironment["TROVE_LOG_LEVEL"] = "debug"
        for (name, value) in environment {
            processEnvironment[name] = value
        }
        process.environment = processEnvironment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle(forWritingAtPath: logPath)
        try process.run()

        let lines = LineCollector()
        output.fileHandleForReading.readabilityHandler = { handle in
            lines.append(handle.availableData)
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let line = lines.first(containing: "listening on ", excluding: "metrics:"),
                let address = line.components(separatedBy: "listening on ").last,
                let colon = address.lastIndex(of: ":"),
                let port = Int(address[address.index(after: colon)...])
            {
                return TroveProcess(process: process, host: "127.0.0.1", port: port, dataDirectory: dataDirectory, logPath: logPath, output: lines)
            }
            if !process.isRunning {
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        process.terminate()
        let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        throw StartFailure(description: "trove serve \(role) did not start listening; its log:\n\(log)")
    }

    private init(process: Process, host: String, port: Int, dataDirectory: String, logPath: String, output: LineCollector) {
        self.output = output
        self.process = process
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
        self.logPath = logPath
    }

    var address: String { "\(self.host):\(self.port)" }

    /// Starts each of `roles` in its own process in `dataDirectory` and adds its address to
    /// `environment` (`TROVE_METADATA_ADDRESS`, …) as `addressHost:PORT`, for the processes
    /// started next. If one fails to start, the others are stopped.
    static func startEach(
        _ roles: [String] = ["metadata", "object-storage", "embedding", "vector-search"],
        dataDirectory: String,
        environment: inout [String: String],
        addressHost: String = "127.0.0.1"
    ) async throws -> [TroveProcess] {
        var started: [TroveProcess] = []
        do {
            for role in roles {
                let process = try await TroveProcess.start(role: role, dataDirectory: dataDirectory, environment: environment)
                started.append(process)
                let variable = "TROVE_" + role.uppercased().replacingOccurrences(of: "-", with: "_") + "_ADDRESS"
                environment[variable] = "\(addressHost):\(process.port)"
            }
        } catch {
            for process in started { process.signal(SIGKILL) }
            throw error
        }
        return started
    }

    /// The address of the metrics listener, from the line `trove serve NAME metrics: listening on …`.
    var metricsAddress: String? {
        self.output.first(containing: "metrics: listening on ")?.components(separatedBy: "listening on ").last
    }

    func signal(_ signal: Int32) {
        kill(self.process.processIdentifier, signal)
    }

    /// Waits for the process to exit and returns its status; nil if it is still running after
    /// `timeout`.
    func waitForExit(timeout: Duration = .seconds(20)) async throws -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while self.process.isRunning && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        return self.process.isRunning ? nil : self.process.terminationStatus
    }

    /// Stops the process (SIGKILL if SIGTERM is not enough) and removes its data directory.
    func stopAndRemove() async {
        self.signal(SIGTERM)
        if (try? await self.waitForExit(timeout: .seconds(10))) == nil {
            self.signal(SIGKILL)
            _ = try? await self.waitForExit()
        }
        try? FileManager.default.removeItem(atPath: self.dataDirectory)
    }
}

/// The five services, each in its own process, sharing a new data directory; the ingestion
/// service knows where the others listen.
struct SeparateServices {
    let dataDirectory: String
    /// Metadata, object storage, embedding and vector search, in that order.
    let others: [TroveProcess]
    let ingestion: TroveProcess

    /// Starts them in a directory named after `name` in the system's temporary directory.
    static func start(_ name: String, environment: [String: String] = ["TROVE_EMBEDDING_PROVIDER": "hashing"]) async throws -> SeparateServices {
        let base = FileManager.default.temporaryDirectory.path + "/trove-\(name)-" + UUID().uuidString
        var environment = environment
        let others = try await TroveProcess.startEach(dataDirectory: base, environment: &environment)
        do {
            let ingestion = try await TroveProcess.start(role: "ingestion", dataDirectory: base, environment: environment)
            return SeparateServices(dataDirectory: base, others: others, ingestion: ingestion)
        } catch {
            for process in others { process.signal(SIGKILL) }
            throw error
        }
    }

    /// Kills every process and removes the data directory.
    func stop() {
        for process in self.others + [self.ingestion] {
            process.signal(SIGKILL)
        }
        try? FileManager.default.removeItem(atPath: self.dataDirectory)
    }
}

/// Lines written by a subprocess, collected as they arrive.
private final class LineCollector: Sendable {
    private let text = Mutex("")

    func append(_ data: Data) {
        self.text.withLock { $0 += String(decoding: data, as: UTF8.self) }
    }

    func first(containing needle: String, excluding other: String? = nil) -> String? {
        self.text.withLock { text in
            text.split(separator: "\n").first { $0.contains(needle) && !(other.map($0.contains) ?? false) }.map(String.init)
        }
    }
}

/// Runs the `trove` command line and returns its exit status and output.
func runTrove(_ arguments: [String], input: Data? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: troveBinary)
    process.arguments = arguments
    let stdout = Pipe()
    let stderr = Pipe()
    process.standardOutput = stdout
    process.standardError = stderr
    if let input {
        let stdin = Pipe()
        process.standardInput = stdin
        try process.run()
        try stdin.fileHandleForWriting.write(contentsOf: input)
        try stdin.fileHandleForWriting.close()
    } else {
        try process.run()
    }
    let out = stdout.fileHandleForReading.readDataToEndOfFile()
    let err = stderr.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
}
