import Foundation

/// One moto_server for the whole test run, started on first use by Tests/Support/s3_test_server.py.
public actor S3TestServer {
    public static let shared = S3TestServer()

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
        process.arguments = python == "/usr/bin/env" ? ["python3", script] : [script]
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
            throw StartFailure(description: "Tests/Support/s3_test_server.py did not start moto_server; run Scripts/install-dependencies.sh --test")
        }
        let endpoint = try JSONDecoder().decode(Endpoint.self, from: line)
        self.started = (process, input, endpoint)
        return endpoint
    }
}
