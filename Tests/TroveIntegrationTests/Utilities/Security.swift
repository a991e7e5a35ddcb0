import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import TroveContracts
import TroveCore

/// A CA and one certificate signed by it (for the name localhost only — no IP address, so that
/// name checks matter; usable by servers and clients), made with openssl at test time.
struct TestCertificates {
    let directory: String
    var ca: String { self.directory + "/ca.pem" }
    var certificate: String { self.directory + "/trove.pem" }
    var privateKey: String { self.directory + "/trove.key" }

    /// A second CA's certificate and key, which the first CA did not sign.
    var strangerCertificate: String { self.directory + "/stranger.pem" }
    var strangerKey: String { self.directory + "/stranger.key" }

    static func make() throws -> TestCertificates {
        let directory = FileManager.default.temporaryDirectory.path + "/trove-certs-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let extensions = directory + "/leaf.cnf"
        try """
            basicConstraints=CA:FALSE
            keyUsage=digitalSignature,keyEncipherment
            extendedKeyUsage=serverAuth,clientAuth
            subjectAltName=DNS:localhost

            """.write(toFile: extensions, atomically: true, encoding: .utf8)
        let curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try Self.openssl(["req", "-x509"] + curve + ["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Trove test CA"], in: directory)
        try Self.openssl(["req"] + curve + ["-keyout", "trove.key", "-out", "trove.csr", "-subj", "/CN=trove"], in: directory)
        try Self.openssl(
            ["x509", "-req", "-in", "trove.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "trove.pem", "-days", "2", "-extfile", "leaf.cnf"],
            in: directory
        )
        try Self.openssl(["req", "-x509"] + curve + ["-keyout", "stranger.key", "-out", "stranger.pem", "-days", "2", "-subj", "/CN=stranger"], in: directory)
        return TestCertificates(directory: directory)
    }

    private static func openssl(_ arguments: [String], in directory: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TroveProcess.StartFailure(description: "openssl \(arguments.joined(separator: " ")) failed: \(String(decoding: message, as: UTF8.self))")
        }
    }

    /// The TROVE_* settings that turn TLS on for a `trove serve`, with client certificates required or not.
    func serverEnvironment(mutual: Bool) -> [String: String] {
        [
            "TROVE_TLS_CERTIFICATE_FILE": self.certificate,
            "TROVE_TLS_PRIVATE_KEY_FILE": self.privateKey,
            "TROVE_TLS_CA_FILE": self.ca,
            "TROVE_TLS_REQUIRE_CLIENT_CERTIFICATE": mutual ? "true" : "false",
        ]
    }
}

/// How a test client connects: plaintext or TLS (trusting the test CA), with or without a client
/// certificate, with or without a key.
struct ClientCredentials: Sendable {
    var key: String?
    var tls: Bool = false
    var roots: String?
    var certificate: (chain: String, key: String)?
    /// The name to expect in the server's certificate.
    var serverName: String?

    static let none = ClientCredentials()

    static func key(_ key: String?) -> ClientCredentials {
        ClientCredentials(key: key)
    }
}

func withClient<Result: Sendable>(
    _ process: TroveProcess,
    credentials: ClientCredentials,
    _ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> Result
) async throws -> Result {
    let security: HTTP2ClientTransport.Posix.TransportSecurity =
        credentials.tls
        ? .tls { config in
            if let roots = credentials.roots {
                config.trustRoots = .certificates([.file(path: roots, format: .pem)])
            }
            if let certificate = credentials.certificate {
                config.certificateChain = [.file(path: certificate.chain, format: .pem)]
                config.privateKey = .file(path: certificate.key, format: .pem)
            }
        }
        : .plaintext
    let transport = try HTTP2ClientTransport.Posix(
        target: .ipv4(address: process.host, port: process.port),
        transportSecurity: security,
        config: .defaults { config in
            config.backoff.max = .milliseconds(200)
            config.http2.authority = credentials.serverName
        }
    )
    let interceptors: [any ClientInterceptor] = credentials.key.map { [BearerTokenInterceptor(key: $0)] } ?? []
    return try await withGRPCClient(transport: transport, interceptors: interceptors) { client in
        try await body(client)
    }
}

/// Sends one message of raw bytes to any method (by default an empty one, a valid request of
/// every type) and reads whatever comes back; the status is what a test looks at.
struct RawCall {
    struct Bytes: Sendable {
        var bytes: [UInt8] = []
    }

    struct Serializer: MessageSerializer {
        func serialize<Output: GRPCContiguousBytes>(_ message: Bytes) throws -> Output {
            Output(message.bytes)
        }
    }

    struct Deserializer: MessageDeserializer {
        func deserialize<Input: GRPCContiguousBytes>(_ serializedMessageBytes: Input) throws -> Bytes {
            Bytes()
        }
    }

    /// The call's status code: nil when it succeeded, `.deadlineExceeded` for a stream that was
    /// let in and kept open.
    static func code(
        of method: MethodDescriptor,
        client: GRPCClient<HTTP2ClientTransport.Posix>,
        timeout: Duration = .seconds(5)
    ) async -> RPCError.Code? {
        await Self.error(of: method, client: client, timeout: timeout).map(\.code)
    }

    /// The error the call ends with; nil when it succeeded.
    static func error(
        of method: MethodDescriptor,
        sending bytes: [UInt8] = [],
        client: GRPCClient<HTTP2ClientTransport.Posix>,
        timeout: Duration = .seconds(5)
    ) async -> RPCError? {
        do {
            try await client.bidirectionalStreaming(
                request: StreamingClientRequest<Bytes> { writer in try await writer.write(Bytes(bytes: bytes)) },
                descriptor: method,
                serializer: Serializer(),
                deserializer: Deserializer(),
                options: .deadline(timeout)
            ) { response in
                for try await _ in response.messages {}
            }
            return nil
        } catch let error as RPCError {
            return error
        } catch {
            return RPCError(code: .unknown, message: "\(error)")
        }
    }
}

/// Every method of every service a Trove process offers.
let everyMethod: [MethodDescriptor] =
    Trove_V1_Metadata.Method.descriptors + Trove_V1_ObjectStorage.Method.descriptors + Trove_V1_Embedding.Method.descriptors
    + Trove_V1_VectorSearch.Method.descriptors + Trove_V1_Ingestion.Method.descriptors + Grpc_Health_V1_Health.Method.descriptors
    + Grpc_Reflection_V1_ServerReflection.Method.descriptors + Grpc_Reflection_V1alpha_ServerReflection.Method.descriptors
