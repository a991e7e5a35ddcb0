import Foundation

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

    public struct StartFailure: Error, CustomStringConvertible {
        public let description: String
    }

    private var started: (process: Process, input: Pipe, endpoint: Endpoint)?

    public func endpoint() throws -> Endpoint {
        if let started { return started.endpoint }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let venvPython = root.appendingPathComponent(".venv/bin/python").path
        let python = ProcessInfo.processInfo.environment["TROVE_PYTHON"]
            ?? (FileManager.default.isExecutableFile(atPath: venvPython) ? venvPython : "/usr/bin/env")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        let script = root.appendingPathComponent("Tests/Support/s3_test_server.py").path
        process.arguments = (python == "/usr/bin/env" ? ["python3", script] : [script]) + [self.kind]
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
            throw StartFailure(description: "Tests/Support/s3_test_server.py did not start \(self.kind); run Scripts/install-dependencies.sh --test")
        }
        let endpoint = try JSONDecoder().decode(Endpoint.self, from: line)
        self.started = (process, input, endpoint)
        return endpoint
    }
}
