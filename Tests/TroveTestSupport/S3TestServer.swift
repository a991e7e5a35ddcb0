import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One S3-compatible server of each kind for the whole test run, started on first use by
/// Tests/Support/s3_test_server.py, with signature checking on.
public actor S3TestServer {
    /// moto_server: checks signatures, but mis-checks keys and query values that need
    /// percent-encoding, and does not check presigned URLs.
    public static let moto = S3TestServer(kind: "moto")
    /// nanio: also checks presigned URLs and percent-encoded keys.
    public static let nanio = S3TestServer(kind: "nanio")

    let kind: String

    init(kind: String) {
        self.kind = kind
    }

    public struct Endpoint: Decodable, Sendable {
        public let endpoint: String
        public let access_key_id: String
        public let secret_access_key: String
    }

    private var started: (process: Process, input: Pipe, endpoint: Endpoint)?

    public func endpoint() throws -> Endpoint {
        if let started { return started.endpoint }
        let (process, input, line) = try startSupportScript("s3_test_server.py", arguments: [self.kind])
        let endpoint = try JSONDecoder().decode(Endpoint.self, from: line)
        self.started = (process, input, endpoint)
        return endpoint
    }
}

/// Tests/Support/s3_fault_proxy.py in front of an S3 server: forwards requests unchanged, or
/// answers them with injected errors, delays or dropped connections.
public final class S3FaultProxy: Sendable {
    public let endpoint: String
    private let process: Process
    private let input: Pipe

    /// What the proxy saw of one request.
    public struct SeenRequest: Decodable, Sendable {
        public let method: String
        public let path: String
        public let host: String
        public let injected: Bool
    }

    public init(upstream: String) throws {
        let (process, input, line) = try startSupportScript("s3_fault_proxy.py", arguments: [upstream])
        struct Started: Decodable { let endpoint: String }
        self.endpoint = try JSONDecoder().decode(Started.self, from: line).endpoint
        self.process = process
        self.input = input
    }

    deinit {
        try? self.input.fileHandleForWriting.close()
    }

    /// Answers the next `count` requests whose path contains `match` with HTTP `status` and the
    /// S3 error `code`.
    public func failNext(_ count: Int, status: Int, code: String, matching match: String = "") async throws {
        try await self.control(["status": status, "code": code, "count": count, "match": match])
    }

    /// Holds the answer to the next `count` matching requests for `seconds`.
    public func delayNext(_ count: Int, seconds: Double, matching match: String = "") async throws {
        try await self.control(["delay_seconds": seconds, "count": count, "match": match])
    }

    /// Closes the next `count` matching connections without an answer.
    public func dropNext(_ count: Int, matching match: String = "") async throws {
        try await self.control(["drop": true, "count": count, "match": match])
    }

    /// Forgets the faults not yet used up.
    public func clearFaults() async throws {
        try await self.control(["clear": true])
    }

    /// Every request the proxy has seen, in order.
    public func seenRequests() async throws -> [SeenRequest] {
        try await getJSON(SeenRequests<SeenRequest>.self, from: self.endpoint + "/__faults__").requests
    }

    private func control(_ fault: [String: any Sendable]) async throws {
        try await postJSON(fault, to: self.endpoint + "/__faults__")
    }
}

/// What a support script's control URL reports of the requests it saw.
struct SeenRequests<Request: Decodable>: Decodable {
    let requests: [Request]
}

/// GETs a support script's control URL and decodes its JSON answer.
func getJSON<Value: Decodable>(_ type: Value.Type, from url: String) async throws -> Value {
    let (data, _) = try await URLSession.shared.data(from: URL(string: url)!)
    return try JSONDecoder().decode(type, from: data)
}

/// POSTs `object` as JSON to a support script's control URL.
func postJSON(_ object: [String: any Sendable], to url: String) async throws {
    var request = URLRequest(url: URL(string: url)!)
    request.httpMethod = "POST"
    request.httpBody = try JSONSerialization.data(withJSONObject: object)
    _ = try await URLSession.shared.data(for: request)
}

public struct SupportScriptFailure: Error, CustomStringConvertible {
    public let description: String
}

/// Runs a Python script from Tests/Support with the project's virtual environment, and returns
/// the first line it prints. The script runs until its standard input closes.
func startSupportScript(_ name: String, arguments: [String]) throws -> (Process, Pipe, Data) {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let venvPython = root.appendingPathComponent(".venv/bin/python").path
    let python = ProcessInfo.processInfo.environment["TROVE_PYTHON"]
        ?? (FileManager.default.isExecutableFile(atPath: venvPython) ? venvPython : "/usr/bin/env")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: python)
    let script = root.appendingPathComponent("Tests/Support/" + name).path
    process.arguments = (python == "/usr/bin/env" ? ["python3", script] : [script]) + arguments
    let input = Pipe()
    let output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    try process.run()
    var line = Data()
    while true {
        let byte = output.fileHandleForReading.readData(ofLength: 1)
        if byte.isEmpty || byte == Data("\n".utf8) { break }
        line.append(byte)
    }
    guard !line.isEmpty else {
        throw SupportScriptFailure(description: "Tests/Support/\(name) did not start; run Scripts/install-dependencies.sh --test")
    }
    return (process, input, line)
}
