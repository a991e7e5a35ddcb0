import Foundation
import Testing
@testable import TroveCore

@Suite("Configuration")
struct TroveConfigurationTests {
    private func withFile<Result>(_ yaml: String, _ body: (String) throws -> Result) throws -> Result {
        let path = FileManager.default.temporaryDirectory.path + "/trove-config-\(UUID().uuidString).yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try body(path)
    }

    @Test("With nothing given, the defaults are the embedded set-up")
    func defaults() throws {
        let configuration = try TroveConfiguration.load(file: nil, environment: [:])
        #expect(configuration.dataDirectory == "./trove-data")
        #expect(configuration.listen == HostAndPort(host: "127.0.0.1", port: 7420))
        #expect(configuration.objectStorage.backend == .filesystem)
        #expect(configuration.objectStorageRoot == "./trove-data/objects")
        #expect(configuration.objectStorage.endpoint.listen.port == 7421)
        #expect(configuration.metadata.endpoint.address == HostAndPort(host: "127.0.0.1", port: 7422))
        #expect(configuration.logLevel == .info)
        #expect(configuration.metadataDatabasePath == "./trove-data/metadata.sqlite")
        #expect(configuration.metadata.synchronous == .full)
        #expect(configuration.metadata.busyTimeoutMilliseconds == 5000)
        #expect(configuration.metadata.retentionDays == 0)
    }

    @Test("Metadata database options come from the file and the environment")
    func metadataOptions() throws {
        let yaml = """
            data_dir: /var/lib/trove
            metadata:
              synchronous: normal
              busy_timeout_ms: 250
            """
        let configuration = try self.withFile(yaml) { path in
            try TroveConfiguration.load(
                file: path,
                environment: ["TROVE_METADATA_DATABASE": "/srv/meta.db", "TROVE_METADATA_RETENTION_DAYS": "30"]
            )
        }
        #expect(configuration.metadataDatabasePath == "/srv/meta.db")
        #expect(configuration.metadata.synchronous == .normal)
        #expect(configuration.metadata.busyTimeoutMilliseconds == 250)
        #expect(configuration.metadata.retentionDays == 30)
    }

    @Test("A YAML file sets options, and environment variables override it")
    func fileAndEnvironment() throws {
        let yaml = """
            data_dir: /var/lib/trove
            log_level: debug
            listen: 0.0.0.0:9000
            object_storage:
              listen: "[::]:9001"
              root: /srv/objects
              fsync: false
            metadata:
              address: metadata.internal:7422
            """
        let configuration = try withFile(yaml) { path in
            try TroveConfiguration.load(
                file: path,
                environment: ["TROVE_LISTEN": "127.0.0.1:9100", "TROVE_METADATA_LISTEN": "0.0.0.0:7500", "UNRELATED": "x"]
            )
        }
        #expect(configuration.dataDirectory == "/var/lib/trove")
        #expect(configuration.logLevel == .debug)
        #expect(configuration.listen == HostAndPort(host: "127.0.0.1", port: 9100))
        #expect(configuration.objectStorage.endpoint.listen == HostAndPort(host: "::", port: 9001))
        #expect(configuration.objectStorageRoot == "/srv/objects")
        #expect(configuration.objectStorage.fsync == false)
        #expect(configuration.metadata.endpoint.address == HostAndPort(host: "metadata.internal", port: 7422))
        #expect(configuration.metadata.endpoint.listen == HostAndPort(host: "0.0.0.0", port: 7500))
    }

    @Test("An invalid value is an error naming the option and where it came from", arguments: [
        ("TROVE_LISTEN", "not-an-address", "listen"),
        ("TROVE_OBJECT_STORAGE_LISTEN", "example.com:80", "object_storage.listen"),
        ("TROVE_METADATA_ADDRESS", "host:99999", "metadata.address"),
        ("TROVE_OBJECT_STORAGE_BACKEND", "floppy", "object_storage.backend"),
        ("TROVE_LOG_LEVEL", "loud", "log_level"),
        ("TROVE_MAX_MESSAGE_BYTES", "12", "max_message_bytes"),
        ("TROVE_OBJECT_STORAGE_FSYNC", "sometimes", "object_storage.fsync"),
        ("TROVE_DATA_DIR", "", "data_dir"),
        ("TROVE_METADATA_SYNCHRONOUS", "off", "metadata.synchronous"),
        ("TROVE_METADATA_BUSY_TIMEOUT_MS", "-1", "metadata.busy_timeout_ms"),
        ("TROVE_METADATA_RETENTION_DAYS", "a week", "metadata.retention_days"),
    ])
    func invalidValues(variable: String, value: String, option: String) throws {
        let error = #expect(throws: ConfigurationError.self) {
            try TroveConfiguration.load(file: nil, environment: [variable: value])
        }
        #expect(error?.option == option)
        #expect(error?.description.contains(variable) == true)
        #expect(error?.description.contains("'\(value)'") == true)
    }

    @Test("The openai-compatible provider needs a URL, a model and a dimension, and reads its key from the environment")
    func openAICompatibleProvider() throws {
        let yaml = """
            embedding:
              provider: openai-compatible
              openai:
                url: https://api.openai.com/v1
                model: text-embedding-3-small
                dimension: 1536
                api_key_env: MY_EMBEDDING_KEY
                encoding_format: base64
            """
        let configuration = try self.withFile(yaml) { path in
            try TroveConfiguration.load(file: path, environment: ["MY_EMBEDDING_KEY": "sk-secret"])
        }
        #expect(configuration.embedding.provider == .openaiCompatible)
        #expect(configuration.embedding.openAI.url == "https://api.openai.com/v1")
        #expect(configuration.embedding.openAI.model == "text-embedding-3-small")
        #expect(configuration.embedding.openAI.dimension == 1536)
        #expect(configuration.embedding.openAI.apiKey == "sk-secret")
        #expect(configuration.embedding.openAI.encodingFormat == .base64)
        #expect(configuration.embedding.openAI.maxInputsPerRequest == 256)

        let unset = try self.withFile(yaml) { path in try TroveConfiguration.load(file: path, environment: [:]) }
        #expect(unset.embedding.openAI.apiKey == nil)

        for (missing, option) in [("url", "embedding.openai.url"), ("model", "embedding.openai.model"), ("dimension", "embedding.openai.dimension")] {
            let lines = yaml.split(separator: "\n").filter { !$0.contains(" \(missing):") }.joined(separator: "\n")
            let error = try self.withFile(lines) { path in
                #expect(throws: ConfigurationError.self) { try TroveConfiguration.load(file: path, environment: [:]) }
            }
            #expect(error?.option == option)
        }
        // The section is ignored while another provider is chosen.
        let idle = try TroveConfiguration.load(file: nil, environment: ["TROVE_EMBEDDING_OPENAI_URL": "not a url"])
        #expect(idle.embedding.provider == .minilm)
    }

    @Test("An unknown option in the file is refused, so a typo does not pass silently")
    func unknownOption() throws {
        let error = try withFile("object_storage:\n  rooot: /tmp/x\n") { path in
            #expect(throws: ConfigurationError.self) { try TroveConfiguration.load(file: path, environment: [:]) }
        }
        #expect(error?.option == "object_storage.rooot")
    }

    @Test("A file that is not a YAML mapping, or cannot be read, is refused")
    func badFiles() throws {
        _ = try withFile("- a\n- b\n") { path in
            #expect(throws: ConfigurationError.self) { try TroveConfiguration.load(file: path, environment: [:]) }
        }
        try withFile("listen: [1, 2]\n") { path in
            let error = #expect(throws: ConfigurationError.self) { try TroveConfiguration.load(file: path, environment: [:]) }
            #expect(error?.option == "listen")
        }
        #expect(throws: ConfigurationError.self) {
            try TroveConfiguration.load(file: "/nonexistent/trove.yaml", environment: [:])
        }
    }

    @Test("Addresses parse as HOST:PORT and [IPv6]:PORT", arguments: [
        ("127.0.0.1:7420", "127.0.0.1", 7420, true),
        ("[::1]:80", "::1", 80, true),
        ("localhost:1", "localhost", 1, true),
        ("metadata:7422", "metadata", 7422, false),
    ])
    func addresses(text: String, host: String, port: Int, isListenable: Bool) throws {
        let address = try #require(HostAndPort(parsing: text))
        #expect(address.host == host)
        #expect(address.port == port)
        #expect(address.isIPLiteralOrLocalhost == isListenable)
        #expect(HostAndPort(parsing: address.description) == address)
    }

    @Test("Malformed addresses are refused", arguments: ["", "host", ":80", "host:", "host:-1", "host:65536", "::1:80", "[::1]80"])
    func badAddresses(text: String) {
        #expect(HostAndPort(parsing: text) == nil)
    }
}

@Suite("Configuration of the S3 backend")
struct S3ConfigurationTests {
    @Test("Credentials, region and endpoint fall back to the standard AWS_* variables")
    func awsFallbacks() throws {
        let configuration = try TroveConfiguration.load(file: nil, environment: [
            "TROVE_OBJECT_STORAGE_BACKEND": "s3",
            "AWS_ENDPOINT_URL": "http://minio:9000",
            "AWS_REGION": "eu-west-1",
            "AWS_ACCESS_KEY_ID": "AKID",
            "AWS_SECRET_ACCESS_KEY": "secret",
        ])
        #expect(configuration.objectStorage.backend == .s3)
        #expect(configuration.objectStorage.s3.endpoint == "http://minio:9000")
        #expect(configuration.objectStorage.s3.region == "eu-west-1")
        #expect(configuration.objectStorage.s3.accessKeyID == "AKID")
        #expect(configuration.objectStorage.s3.pathStyle)
    }

    @Test("The S3 backend without credentials or with a bad endpoint is refused, naming the option")
    func required() throws {
        let missing = #expect(throws: ConfigurationError.self) {
            try TroveConfiguration.load(file: nil, environment: ["TROVE_OBJECT_STORAGE_BACKEND": "s3", "TROVE_OBJECT_STORAGE_S3_ENDPOINT": "http://x:9000"])
        }
        #expect(missing?.option == "object_storage.s3.access_key_id")
        let badEndpoint = #expect(throws: ConfigurationError.self) {
            try TroveConfiguration.load(file: nil, environment: [
                "TROVE_OBJECT_STORAGE_BACKEND": "s3", "TROVE_OBJECT_STORAGE_S3_ENDPOINT": "minio:9000",
                "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b",
            ])
        }
        #expect(badEndpoint?.option == "object_storage.s3.endpoint")
        let smallParts = #expect(throws: ConfigurationError.self) {
            try TroveConfiguration.load(file: nil, environment: ["TROVE_OBJECT_STORAGE_S3_PART_SIZE": "1024"])
        }
        #expect(smallParts?.option == "object_storage.s3.part_size")
    }
}
