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

        // The service prints "trove serve ROLE: listening on HOST:PORT" once it listens (after a
        // "trove serve ROLE metrics: listening on …" line when metrics.listen is set).
        let reader = output.fileHandleForReading
        let prefix = "trove serve \(role): listening on "
        var line = ""
        while !line.hasPrefix(prefix) {
            line = ""
            while !line.hasSuffix("\n") {
                guard let data = try reader.read(upToCount: 1), !data.isEmpty else {
                    process.waitUntilExit()
                    throw CommandFailure("trove serve \(role) exited before it listened (status \(process.terminationStatus))")
                }
                line += String(decoding: data, as: UTF8.self)
            }
        }
        let address = line.dropFirst(prefix.count).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
            process.terminate()
            throw CommandFailure("unexpected line from trove serve \(role): \(line)")
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
        memoryFigure("VmRSS", process: "\(self.process.processIdentifier)")
    }

    /// CPU time (user and system) the process has used so far, its ended threads' included,
    /// from /proc.
    var cpuSeconds: Double {
        Self.cpuSeconds(stat: "/proc/\(self.process.processIdentifier)/stat")
    }

    /// CPU time the process's live threads named `prefix…` have used so far (the names threads
    /// give the kernel, such as the embedding runners' `trove.minilm.N`).
    func cpuSeconds(ofThreadsNamed prefix: String) -> Double {
        let tasks = "/proc/\(self.process.processIdentifier)/task"
        let threads = (try? FileManager.default.contentsOfDirectory(atPath: tasks)) ?? []
        return threads.reduce(0) { total, thread in
            guard let name = try? String(contentsOfFile: "\(tasks)/\(thread)/comm", encoding: .utf8), name.hasPrefix(prefix) else {
                return total
            }
            return total + Self.cpuSeconds(stat: "\(tasks)/\(thread)/stat")
        }
    }

    /// utime + stime of a process's or a thread's stat file, in seconds.
    static func cpuSeconds(stat path: String) -> Double {
        guard let stat = try? String(contentsOfFile: path, encoding: .utf8), let afterName = stat.lastIndex(of: ")") else {
            return 0
        }
        // Fields after the command name, from field 3 (state): utime and stime are fields 14 and 15.
        let fields = stat[stat.index(after: afterName)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
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

/// A memory figure of /proc/PROCESS/status in bytes (VmRSS: resident now, VmHWM: the peak);
/// 0 when it cannot be read.
func memoryFigure(_ field: String, process: String = "self") -> Int {
    guard let status = try? String(contentsOfFile: "/proc/\(process)/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
        return (line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0) * 1024
    }
    return 0
}

/// The value at `quantile` (0.5: the median, the upper one of an even count) of `values`, which
/// must not be empty.
func percentile(_ values: [Double], _ quantile: Double) -> Double {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int(Double(sorted.count) * quantile))]
}

/// Left-aligned in `width` columns.
func padded(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}

/// Which CPUs this process's threads may run on. A benchmark pins itself to one CPU to measure
/// a call's own cost without the wake-ups of idle CPUs that a hop between threads pays: on a
/// virtual machine an idle virtual CPU is woken through the host, which costs tens of
/// microseconds (an eventfd ping-pong between two threads took 150 µs here, 8 µs on one CPU).
enum CPUAffinity {
    private typealias SetAffinity = @convention(c) (pid_t, Int, UnsafeRawPointer) -> Int32

    /// glibc's `sched_setaffinity`, which Swift's Glibc module does not export.
    private static let setAffinity: SetAffinity? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "sched_setaffinity") else { return nil }
        return unsafeBitCast(symbol, to: SetAffinity.self)
    }()

    /// Runs `body` with every thread of the process on `cpu` (threads started meanwhile inherit
    /// it), then lets every thread run on every CPU again.
    static func withAllThreads<Result>(onCPU cpu: Int, _ body: () async throws -> Result) async throws -> Result {
        try self.setAllThreads(to: [cpu])
        defer { try? self.setAllThreads(to: Array(0..<ProcessInfo.processInfo.processorCount)) }
        return try await body()
    }

    private static func setAllThreads(to cpus: [Int]) throws {
        guard let setAffinity = self.setAffinity else { throw CommandFailure("sched_setaffinity is not available") }
        // A cpu_set_t: 1,024 bits.
        var mask = [UInt64](repeating: 0, count: 16)
        for cpu in cpus { mask[cpu / 64] |= 1 << UInt64(cpu % 64) }
        let threads = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").compactMap { pid_t($0) }
        for thread in threads {
            let status = mask.withUnsafeBytes { setAffinity(thread, $0.count, $0.baseAddress!) }
            // A thread may have ended since the directory was read.
            if status != 0 && errno != ESRCH {
                throw CommandFailure("sched_setaffinity(\(thread)) failed: errno \(errno)")
            }
        }
    }
}
