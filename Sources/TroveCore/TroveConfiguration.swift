import Foundation
import Logging
import Yams

/// Everything a Trove process can be told, with defaults that give the embedded set-up: every
/// service on loopback, data under `./trove-data`.
///
/// Values come from, in rising order of precedence: the defaults, a YAML file (`--config`), and
/// environment variables named `TROVE_` + the option's dotted name in upper case with '.' as
/// '_' (`object_storage.listen` → `TROVE_OBJECT_STORAGE_LISTEN`).
public struct TroveConfiguration: Sendable {
    /// Where a service listens and where the other services reach it.
    public struct Endpoint: Sendable, Equatable {
        /// The address this service binds when it runs on its own (an IP literal or localhost).
        public var listen: HostAndPort
        /// The address other services dial to reach it when it runs on its own, e.g.
        /// `metadata:7422` in a container network.
        public var address: HostAndPort

        public init(port: Int) {
            self.listen = HostAndPort(host: "127.0.0.1", port: port)
            self.address = HostAndPort(host: "127.0.0.1", port: port)
        }
    }

    /// Object-storage options.
    public struct ObjectStorage: Sendable, Equatable {
        public enum Backend: String, Sendable, CaseIterable {
            case filesystem
            case s3
        }

        /// Where the S3 backend finds its server and how it talks to it.
        public struct S3: Sendable, Equatable {
            /// e.g. `https://s3.eu-west-1.amazonaws.com`, `http://minio:9000`; falls back to
            /// `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`.
            public var endpoint = ""
            /// Falls back to `AWS_REGION` / `AWS_DEFAULT_REGION`, then us-east-1.
            public var region = ""
            /// Fall back to `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`.
            public var accessKeyID = ""
            public var secretAccessKey = ""
            public var sessionToken = ""
            /// `endpoint/bucket/key` (MinIO and most self-hosted servers) or `bucket.endpoint/key`.
            public var pathStyle = true
            public var multipartThreshold = 16 << 20
            public var partSize = 5 << 20
            /// Parts uploaded, or ranges read, at once for one object.
            public var concurrency = 2
            public var connectTimeoutSeconds = 10
            public var idleTimeoutSeconds = 60
            /// 0: no limit on a whole request.
            public var totalTimeoutSeconds = 0
            public var maxAttempts = 4
        }

        public var endpoint = Endpoint(port: 7421)
        public var backend = Backend.filesystem
        public var s3 = S3()
        /// Root of the filesystem backend; empty means `<data_dir>/objects`.
        public var root = ""
        /// Whether writes reach stable storage before they are acknowledged.
        public var fsync = true
        /// How often the filesystem backend applies bucket lifecycle rules.
        public var lifecycleSweepSeconds = 3600
    }

    /// Metadata options.
    public struct Metadata: Sendable, Equatable {
        /// How hard the SQLite database works to make a commit durable.
        public enum Synchronous: String, Sendable, CaseIterable {
            /// Flush at every commit: an acknowledged write survives a crash and a power loss.
            case full
            /// Flush at checkpoints only: an acknowledged write survives a crash of the process,
            /// but the last transactions may be lost on power loss. Faster.
            case normal
        }

        public var endpoint = Endpoint(port: 7422)
        /// The SQLite database file; empty means `<data_dir>/metadata.sqlite`.
        public var database = ""
        public var synchronous = Synchronous.full
        /// How long a write waits for another process's lock on the database before failing.
        public var busyTimeoutMilliseconds = 5000
        /// Completed documents older than this many days are deleted by ApplyRetention when the
        /// request gives no age; 0 keeps them.
        public var retentionDays = 0
    }

    /// Embedding options.
    public struct Embedding: Sendable, Equatable {
        /// Which provider answers for the default model.
        public enum Provider: String, Sendable, CaseIterable {
            /// all-MiniLM-L6-v2, built in.
            case minilm
            /// Signed feature hashing of word n-grams: no model files, not semantic. Only when chosen.
            case hashing
            /// A server speaking OpenAI's embeddings API (OpenAI, TEI, Ollama, vLLM): `embedding.openai`.
            case openaiCompatible = "openai-compatible"
        }

        /// The `openai-compatible` provider's server.
        public struct OpenAI: Sendable, Equatable {
            /// The API's base URL (`https://api.openai.com/v1`); `/embeddings` is added.
            public var url = ""
            /// The server's model name, also the model id collections name.
            public var model = ""
            /// The length of the model's vectors.
            public var dimension = 0
            /// The most tokens the model embeds (reported by ListModels).
            public var maxTokens = 8191
            /// The environment variable holding the API key; empty, or unset, sends no key.
            public var apiKeyVariable = "OPENAI_API_KEY"
            /// The key read from that variable at start-up; never printed.
            public var apiKey: String?
            /// Send `dimensions` (text-embedding-3 models shorten their vectors to it).
            public var sendDimensions = false
            /// `float` or `base64`.
            public var encodingFormat = EncodingFormat.float
            /// The most texts in one HTTP request.
            public var maxInputsPerRequest = 256
            /// Tries per HTTP request, the first included (429, 5xx and timeouts are retried).
            public var maxAttempts = 4
            /// Longest wait for one HTTP request's answer.
            public var timeoutSeconds = 120

            public enum EncodingFormat: String, Sendable, CaseIterable {
                case float
                case base64
            }
        }

        public var endpoint = Endpoint(port: 7423)
        public var provider = Provider.minilm
        /// The all-MiniLM-L6-v2 directory; empty means `<data_dir>/models/all-MiniLM-L6-v2`, else
        /// `.trove-model/all-MiniLM-L6-v2` (where `Scripts/fetch-model.sh` puts it) when that exists.
        public var modelDirectory = ""
        /// The length of the hashing provider's vectors.
        public var hashingDimension = 384
        /// The `openai-compatible` provider's server.
        public var openAI = OpenAI()
        /// Threads for the model: passes that run at once, one thread each (a lone text's pass
        /// is split over all of them); 0 means one per core.
        public var threads = 0
        /// The most texts one pass of the model takes from the queue of waiting requests.
        public var maxBatchSize = 32
        /// How long the first waiting text waits for others to share its pass. 0: a pass starts as
        /// soon as the model is free; texts arriving during a pass share the next one anyway.
        public var maxBatchWaitMilliseconds = 0
        /// The most texts one Embed or Tokenize request may hold.
        public var maxTextsPerRequest = 2048
        /// The largest text, in UTF-8 bytes.
        public var maxTextBytes = 1 << 20
    }

    /// The directory under which every embedded backend keeps its files.
    public var dataDirectory = "./trove-data"
    public var logLevel = Logger.Level.info
    /// Where `trove serve all` listens, for all five services at once.
    public var listen = HostAndPort(host: "127.0.0.1", port: 7420)
    /// The largest request message a service accepts; bulk data is streamed in chunks below it.
    public var maxMessageBytes = 8 << 20
    /// Calls a listener serves at once; more are RESOURCE_EXHAUSTED (health checks always pass).
    public var maxConcurrentCalls = 1000

    public var ingestion = Ingestion()
    public var objectStorage = ObjectStorage()
    public var metadata = Metadata()
    public var embedding = Embedding()
    public var vectorSearch = VectorSearch()
    public var auth = Auth()
    public var tls = TLS()
    public var metrics = Metrics()

    /// The defaults.
    public init() {}

    /// Ingestion options.
    public struct Ingestion: Sendable, Equatable {
        /// The unit of the default chunk size.
        public enum ChunkUnit: String, Sendable, CaseIterable {
            case tokens
            case characters
        }

        public var endpoint = Endpoint(port: 7420)
        /// The object-storage bucket that holds ingested documents' bytes, created when missing.
        public var bucket = "trove-documents"
        /// Documents processed at once.
        public var workers = 16
        /// The most bytes of documents in hand at once (a larger document runs alone); a quarter
        /// of it more may be kept for queued documents, so that they are not read back.
        public var maxBytesInHand = 256 << 20
        /// Attempts at processing a document before it is left `failed`.
        public var maxAttempts = 3
        /// The wait before the first retry; each further retry waits twice as long (with jitter).
        public var retryBackoffMilliseconds = 1000
        /// The largest document IngestDocument accepts.
        public var maxDocumentBytes = 256 << 20
        /// Chunks per Embed call.
        public var embedBatchSize = 64
        /// Chunking for collections that set none.
        public var chunkUnit = ChunkUnit.tokens
        public var chunkSize = 200
        public var chunkOverlap = 20
        /// How long a search result stays cached (0 turns the cache off) and how many are kept.
        public var searchCacheTTLSeconds = 300
        public var searchCacheEntries = 1024
        /// Seconds between sweeps for stored documents' bytes no document points to; 0: none.
        public var orphanSweepIntervalSeconds = 3600
        /// How old such bytes must be before a sweep removes them.
        public var orphanGraceSeconds = 3600
        /// How long a graceful shutdown waits for documents being processed before cutting them
        /// short (they are taken up again at the next start).
        public var shutdownGraceSeconds = 20
    }

    /// Vector-search options.
    public struct VectorSearch: Sendable, Equatable {
        /// When an acknowledged upsert or delete reaches the disk.
        public enum Fsync: String, Sendable, CaseIterable {
            /// Before the write is acknowledged: it survives a crash and a power loss.
            case always
            /// Every `fsync_interval_ms`: it survives a crash of the process; a power loss may lose
            /// that window.
            case interval
        }

        public var endpoint = Endpoint(port: 7424)
        /// Collections' directories; empty means `<data_dir>/vectors`.
        public var directory = ""
        public var fsync = Fsync.always
        public var fsyncIntervalMilliseconds = 100
        /// Memory all collections together may use; 0 means no limit.
        public var memoryBudgetBytes = 0
        /// A collection writes a snapshot and empties its log when the log grows past this.
        public var snapshotAfterLogBytes = 256 << 20
        /// A collection is compacted once tombstones (deleted and replaced vectors) make up this
        /// percentage of its slots and number at least `compactMinTombstones`; 0 never does.
        public var compactTombstonePercent = 20
        public var compactMinTombstones = 1_000
        /// How often collections are checked for compaction.
        public var compactCheckSeconds = 10
    }

    /// The vector collections' directory with the default applied.
    public var vectorDirectory: String {
        self.vectorSearch.directory.isEmpty ? self.dataDirectory + "/vectors" : self.vectorSearch.directory
    }

    /// The object-storage root with the default applied.
    public var objectStorageRoot: String {
        self.objectStorage.root.isEmpty ? self.dataDirectory + "/objects" : self.objectStorage.root
    }

    /// The metadata database file with the default applied.
    public var metadataDatabasePath: String {
        self.metadata.database.isEmpty ? self.dataDirectory + "/metadata.sqlite" : self.metadata.database
    }

    /// The all-MiniLM-L6-v2 directory with the defaults applied: the configured one, else
    /// `<data_dir>/models/all-MiniLM-L6-v2`, else `.trove-model/all-MiniLM-L6-v2` under the
    /// current directory when only that one exists.
    public var embeddingModelDirectory: String {
        if !self.embedding.modelDirectory.isEmpty { return self.embedding.modelDirectory }
        let inDataDirectory = self.dataDirectory + "/models/all-MiniLM-L6-v2"
        let fetched = FileManager.default.currentDirectoryPath + "/.trove-model/all-MiniLM-L6-v2"
        let fileManager = FileManager.default
        if !fileManager.fileExists(atPath: inDataDirectory + "/config.json") && fileManager.fileExists(atPath: fetched + "/config.json") {
            return fetched
        }
        return inDataDirectory
    }

    /// Reads the configuration from an optional YAML file and the environment.
    ///
    /// - Throws: `ConfigurationError` naming the option when a value is invalid or a file holds
    ///   an option Trove does not know.
    public static func load(
        file: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> TroveConfiguration {
        var fileValues: [String: String] = [:]
        if let file {
            let text: String
            do {
                text = try String(contentsOfFile: file, encoding: .utf8)
            } catch {
                throw ConfigurationError(option: "--config", message: "cannot read \(file): \(error.localizedDescription)")
            }
            fileValues = try Self.flatten(yaml: text, file: file)
        }
        var reader = ConfigurationReader(fileValues: fileValues, fileName: file, environment: environment)
        let configuration = try Self(reading: &reader)
        try reader.rejectUnknownOptions()
        return configuration
    }

    init(reading reader: inout ConfigurationReader) throws {
        let defaults = TroveConfiguration()
        self.dataDirectory = try reader.string("data_dir", default: defaults.dataDirectory, allowEmpty: false)
        self.logLevel = try reader.choice("log_level", default: defaults.logLevel)
        self.listen = try reader.listenAddress("listen", default: defaults.listen)
        self.maxMessageBytes = try reader.integer("max_message_bytes", default: defaults.maxMessageBytes, range: 64 << 10...(1 << 30))
        self.maxConcurrentCalls = try reader.integer("max_concurrent_calls", default: defaults.maxConcurrentCalls, range: 1...1_000_000)

        self.ingestion = try Self.readIngestion(&reader)
        self.objectStorage.endpoint = try reader.endpoint("object_storage", default: defaults.objectStorage.endpoint)
        self.objectStorage.backend = try reader.choice("object_storage.backend", default: defaults.objectStorage.backend)
        self.objectStorage.root = try reader.string("object_storage.root", default: defaults.objectStorage.root, allowEmpty: true)
        self.objectStorage.fsync = try reader.boolean("object_storage.fsync", default: defaults.objectStorage.fsync)
        self.objectStorage.lifecycleSweepSeconds = try reader.integer(
            "object_storage.lifecycle_sweep_seconds",
            default: defaults.objectStorage.lifecycleSweepSeconds,
            range: 1...604_800
        )
        self.objectStorage.s3 = try Self.readS3(&reader, backend: self.objectStorage.backend)
        self.metadata.endpoint = try reader.endpoint("metadata", default: defaults.metadata.endpoint)
        self.metadata.database = try reader.string("metadata.database", default: defaults.metadata.database, allowEmpty: true)
        self.metadata.synchronous = try reader.choice("metadata.synchronous", default: defaults.metadata.synchronous)
        self.metadata.busyTimeoutMilliseconds = try reader.integer(
            "metadata.busy_timeout_ms",
            default: defaults.metadata.busyTimeoutMilliseconds,
            range: 0...600_000
        )
        self.metadata.retentionDays = try reader.integer("metadata.retention_days", default: defaults.metadata.retentionDays, range: 0...36_500)
        self.embedding.endpoint = try reader.endpoint("embedding", default: defaults.embedding.endpoint)
        self.embedding.provider = try reader.choice("embedding.provider", default: defaults.embedding.provider)
        self.embedding.modelDirectory = try reader.string("embedding.model_dir", default: defaults.embedding.modelDirectory, allowEmpty: true)
        self.embedding.hashingDimension = try reader.integer("embedding.hashing_dimension", default: defaults.embedding.hashingDimension, range: 1...65_536)
        self.embedding.openAI = try Self.readOpenAI(&reader, provider: self.embedding.provider)
        self.embedding.threads = try reader.integer("embedding.threads", default: defaults.embedding.threads, range: 0...1024)
        self.embedding.maxBatchSize = try reader.integer("embedding.max_batch_size", default: defaults.embedding.maxBatchSize, range: 1...4096)
        self.embedding.maxBatchWaitMilliseconds = try reader.integer(
            "embedding.max_batch_wait_ms",
            default: defaults.embedding.maxBatchWaitMilliseconds,
            range: 0...10_000
        )
        self.embedding.maxTextsPerRequest = try reader.integer(
            "embedding.max_texts_per_request",
            default: defaults.embedding.maxTextsPerRequest,
            range: 1...1_000_000
        )
        self.embedding.maxTextBytes = try reader.integer("embedding.max_text_bytes", default: defaults.embedding.maxTextBytes, range: 1...(1 << 30))
        self.vectorSearch.endpoint = try reader.endpoint("vector_search", default: defaults.vectorSearch.endpoint)
        self.vectorSearch.directory = try reader.string("vector_search.directory", default: defaults.vectorSearch.directory, allowEmpty: true)
        self.vectorSearch.fsync = try reader.choice("vector_search.fsync", default: defaults.vectorSearch.fsync)
        self.vectorSearch.fsyncIntervalMilliseconds = try reader.integer(
            "vector_search.fsync_interval_ms",
            default: defaults.vectorSearch.fsyncIntervalMilliseconds,
            range: 1...60_000
        )
        self.vectorSearch.memoryBudgetBytes = try reader.integer(
            "vector_search.memory_budget_bytes",
            default: defaults.vectorSearch.memoryBudgetBytes,
            range: 0...(1 << 50)
        )
        self.vectorSearch.snapshotAfterLogBytes = try reader.integer(
            "vector_search.snapshot_after_log_bytes",
            default: defaults.vectorSearch.snapshotAfterLogBytes,
            range: (1 << 10)...(1 << 40)
        )
        self.vectorSearch.compactTombstonePercent = try reader.integer(
            "vector_search.compact_tombstone_percent",
            default: defaults.vectorSearch.compactTombstonePercent,
            range: 0...100
        )
        self.vectorSearch.compactMinTombstones = try reader.integer(
            "vector_search.compact_min_tombstones",
            default: defaults.vectorSearch.compactMinTombstones,
            range: 1...(1 << 40)
        )
        self.vectorSearch.compactCheckSeconds = try reader.integer(
            "vector_search.compact_check_seconds",
            default: defaults.vectorSearch.compactCheckSeconds,
            range: 1...86_400
        )
        self.auth = try Self.readAuth(&reader)
        self.tls = try Self.readTLS(&reader)
        self.metrics = try Self.readMetrics(&reader)
    }

    private static func readIngestion(_ reader: inout ConfigurationReader) throws -> Ingestion {
        let defaults = Ingestion()
        var ingestion = Ingestion()
        ingestion.endpoint = try reader.endpoint("ingestion", default: defaults.endpoint)
        ingestion.bucket = try reader.string("ingestion.bucket", default: defaults.bucket, allowEmpty: false)
        ingestion.workers = try reader.integer("ingestion.workers", default: defaults.workers, range: 1...256)
        ingestion.maxBytesInHand = try reader.integer(
            "ingestion.max_bytes_in_hand", default: defaults.maxBytesInHand, range: 1...(1 << 40))
        ingestion.maxAttempts = try reader.integer("ingestion.max_attempts", default: defaults.maxAttempts, range: 1...100)
        ingestion.retryBackoffMilliseconds = try reader.integer(
            "ingestion.retry_backoff_ms", default: defaults.retryBackoffMilliseconds, range: 0...3_600_000)
        ingestion.maxDocumentBytes = try reader.integer("ingestion.max_document_bytes", default: defaults.maxDocumentBytes, range: 1...(1 << 40))
        ingestion.embedBatchSize = try reader.integer("ingestion.embed_batch_size", default: defaults.embedBatchSize, range: 1...4096)
        ingestion.chunkUnit = try reader.choice("ingestion.chunk_unit", default: defaults.chunkUnit)
        ingestion.chunkSize = try reader.integer("ingestion.chunk_size", default: defaults.chunkSize, range: 1...1_000_000)
        ingestion.chunkOverlap = try reader.integer("ingestion.chunk_overlap", default: defaults.chunkOverlap, range: 0...999_999)
        if ingestion.chunkOverlap >= ingestion.chunkSize {
            throw ConfigurationError(option: "ingestion.chunk_overlap", message: "must be smaller than ingestion.chunk_size (\(ingestion.chunkSize))")
        }
        ingestion.searchCacheTTLSeconds = try reader.integer(
            "ingestion.search_cache_ttl_seconds", default: defaults.searchCacheTTLSeconds, range: 0...86_400)
        ingestion.searchCacheEntries = try reader.integer(
            "ingestion.search_cache_entries", default: defaults.searchCacheEntries, range: 1...1_000_000)
        ingestion.orphanSweepIntervalSeconds = try reader.integer(
            "ingestion.orphan_sweep_interval_seconds", default: defaults.orphanSweepIntervalSeconds, range: 0...604_800)
        ingestion.orphanGraceSeconds = try reader.integer(
            "ingestion.orphan_grace_seconds", default: defaults.orphanGraceSeconds, range: 0...2_592_000)
        ingestion.shutdownGraceSeconds = try reader.integer(
            "ingestion.shutdown_grace_seconds", default: defaults.shutdownGraceSeconds, range: 0...3600)
        return ingestion
    }

    /// Whether `text` is an http or https URL with a host.
    private static func isHTTPURL(_ text: String) -> Bool {
        guard let url = URL(string: text), url.host != nil else { return false }
        return url.scheme == "http" || url.scheme == "https"
    }

    private static func readOpenAI(_ reader: inout ConfigurationReader, provider: Embedding.Provider) throws -> Embedding.OpenAI {
        let defaults = Embedding.OpenAI()
        var openAI = Embedding.OpenAI()
        openAI.url = try reader.string("embedding.openai.url", default: defaults.url, allowEmpty: true)
        openAI.model = try reader.string("embedding.openai.model", default: defaults.model, allowEmpty: true)
        openAI.dimension = try reader.integer("embedding.openai.dimension", default: defaults.dimension, range: 0...65_536)
        openAI.maxTokens = try reader.integer("embedding.openai.max_tokens", default: defaults.maxTokens, range: 1...10_000_000)
        openAI.apiKeyVariable = try reader.string("embedding.openai.api_key_env", default: defaults.apiKeyVariable, allowEmpty: true)
        openAI.apiKey = openAI.apiKeyVariable.isEmpty ? nil : reader.environment[openAI.apiKeyVariable].flatMap { $0.isEmpty ? nil : $0 }
        openAI.sendDimensions = try reader.boolean("embedding.openai.send_dimensions", default: defaults.sendDimensions)
        openAI.encodingFormat = try reader.choice("embedding.openai.encoding_format", default: defaults.encodingFormat)
        openAI.maxInputsPerRequest = try reader.integer(
            "embedding.openai.max_inputs_per_request", default: defaults.maxInputsPerRequest, range: 1...2048)
        openAI.maxAttempts = try reader.integer("embedding.openai.max_attempts", default: defaults.maxAttempts, range: 1...20)
        openAI.timeoutSeconds = try reader.integer("embedding.openai.timeout_seconds", default: defaults.timeoutSeconds, range: 1...3600)
        if provider == .openaiCompatible {
            guard Self.isHTTPURL(openAI.url) else {
                let problem = openAI.url.isEmpty ? "required" : "invalid value '\(openAI.url)'"
                throw ConfigurationError(
                    option: "embedding.openai.url",
                    message: "\(problem) when embedding.provider is openai-compatible: the API's base URL, such as https://api.openai.com/v1"
                )
            }
            if openAI.model.isEmpty {
                throw ConfigurationError(option: "embedding.openai.model", message: "required when embedding.provider is openai-compatible, e.g. text-embedding-3-small")
            }
            if openAI.dimension == 0 {
                throw ConfigurationError(option: "embedding.openai.dimension", message: "required when embedding.provider is openai-compatible: the length of the model's vectors")
            }
        }
        return openAI
    }

    private static func readS3(_ reader: inout ConfigurationReader, backend: ObjectStorage.Backend) throws -> ObjectStorage.S3 {
        let defaults = ObjectStorage.S3()
        let environment = reader.environment
        func fallback(_ value: String, _ names: String...) -> String {
            value.isEmpty ? names.lazy.compactMap { environment[$0] }.first ?? "" : value
        }
        var s3 = ObjectStorage.S3()
        s3.endpoint = fallback(try reader.string("object_storage.s3.endpoint", default: "", allowEmpty: true), "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
        s3.region = fallback(try reader.string("object_storage.s3.region", default: "", allowEmpty: true), "AWS_REGION", "AWS_DEFAULT_REGION")
        if s3.region.isEmpty { s3.region = "us-east-1" }
        s3.accessKeyID = fallback(try reader.string("object_storage.s3.access_key_id", default: "", allowEmpty: true), "AWS_ACCESS_KEY_ID")
        s3.secretAccessKey = fallback(try reader.string("object_storage.s3.secret_access_key", default: "", allowEmpty: true), "AWS_SECRET_ACCESS_KEY")
        s3.sessionToken = fallback(try reader.string("object_storage.s3.session_token", default: "", allowEmpty: true), "AWS_SESSION_TOKEN")
        s3.pathStyle = try reader.boolean("object_storage.s3.path_style", default: defaults.pathStyle)
        s3.partSize = try reader.integer("object_storage.s3.part_size", default: defaults.partSize, range: (5 << 20)...(5 << 30))
        s3.multipartThreshold = try reader.integer("object_storage.s3.multipart_threshold", default: defaults.multipartThreshold, range: (5 << 20)...(5 << 30))
        s3.concurrency = try reader.integer("object_storage.s3.concurrency", default: defaults.concurrency, range: 1...16)
        s3.connectTimeoutSeconds = try reader.integer("object_storage.s3.connect_timeout_seconds", default: defaults.connectTimeoutSeconds, range: 1...600)
        s3.idleTimeoutSeconds = try reader.integer("object_storage.s3.idle_timeout_seconds", default: defaults.idleTimeoutSeconds, range: 1...3600)
        s3.totalTimeoutSeconds = try reader.integer("object_storage.s3.total_timeout_seconds", default: defaults.totalTimeoutSeconds, range: 0...86_400)
        s3.maxAttempts = try reader.integer("object_storage.s3.max_attempts", default: defaults.maxAttempts, range: 1...20)
        if backend == .s3 {
            let required = [
                ("object_storage.s3.endpoint", s3.endpoint, "AWS_ENDPOINT_URL_S3"),
                ("object_storage.s3.access_key_id", s3.accessKeyID, "AWS_ACCESS_KEY_ID"),
                ("object_storage.s3.secret_access_key", s3.secretAccessKey, "AWS_SECRET_ACCESS_KEY"),
            ]
            for (option, value, variable) in required where value.isEmpty {
                throw ConfigurationError(option: option, message: "required when object_storage.backend is s3 (or set \(variable))")
            }
            guard Self.isHTTPURL(s3.endpoint) else {
                throw ConfigurationError(option: "object_storage.s3.endpoint", message: "invalid value '\(s3.endpoint)': expected a URL such as http://127.0.0.1:9000")
            }
        }
        return s3
    }

    /// Turns a YAML mapping into dotted option names and scalar values.
    static func flatten(yaml: String, file: String) throws -> [String: String] {
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch {
            throw ConfigurationError(option: "--config", message: "\(file) is not valid YAML: \(error)")
        }
        guard let node else { return [:] }
        guard case .mapping = node else {
            throw ConfigurationError(option: "--config", message: "\(file) must hold a mapping of options at its top level")
        }
        var values: [String: String] = [:]
        func visit(_ node: Node, path: String) throws {
            switch node {
            case .mapping(let mapping):
                for (key, value) in mapping {
                    guard let name = key.string else {
                        throw ConfigurationError(option: path.isEmpty ? "--config" : path, message: "keys must be strings")
                    }
                    try visit(value, path: path.isEmpty ? name : path + "." + name)
                }
            case .scalar(let scalar):
                values[path] = scalar.string
            case .sequence:
                throw ConfigurationError(option: path, message: "expected a single value, not a list")
            case .alias:
                throw ConfigurationError(option: path, message: "YAML aliases are not supported")
            }
        }
        try visit(node, path: "")
        return values
    }
}

/// Reads typed options from file values and environment variables, remembering which options
/// it was asked for so that unknown ones in the file can be reported.
struct ConfigurationReader {
    let fileValues: [String: String]
    let fileName: String?
    let environment: [String: String]
    private(set) var knownOptions: Set<String> = []

    init(fileValues: [String: String], fileName: String?, environment: [String: String]) {
        self.fileValues = fileValues
        self.fileName = fileName
        self.environment = environment
    }

    static func environmentName(of option: String) -> String {
        "TROVE_" + option.uppercased().replacingOccurrences(of: ".", with: "_")
    }

    private mutating func raw(_ option: String) -> (value: String, origin: String)? {
        self.knownOptions.insert(option)
        let variable = Self.environmentName(of: option)
        if let value = self.environment[variable] {
            return (value, "environment variable \(variable)")
        }
        if let value = self.fileValues[option] {
            return (value, self.fileName.map { "file \($0)" } ?? "file")
        }
        return nil
    }

    private func invalid(_ option: String, _ raw: (value: String, origin: String), expected: String) -> ConfigurationError {
        ConfigurationError(option: option, message: "invalid value '\(raw.value)' (from \(raw.origin)): expected \(expected)")
    }

    mutating func string(_ option: String, default value: String, allowEmpty: Bool) throws -> String {
        guard let raw = self.raw(option) else { return value }
        if !allowEmpty && raw.value.isEmpty {
            throw self.invalid(option, raw, expected: "a non-empty string")
        }
        return raw.value
    }

    mutating func integer(_ option: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let raw = self.raw(option) else { return value }
        guard let number = Int(raw.value.trimmingCharacters(in: .whitespaces)), range.contains(number) else {
            throw self.invalid(option, raw, expected: "an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    mutating func boolean(_ option: String, default value: Bool) throws -> Bool {
        guard let raw = self.raw(option) else { return value }
        switch raw.value.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw self.invalid(option, raw, expected: "true or false")
        }
    }

    mutating func choice<Choice: RawRepresentable & CaseIterable>(
        _ option: String,
        default value: Choice
    ) throws -> Choice where Choice.RawValue == String {
        guard let raw = self.raw(option) else { return value }
        guard let choice = Choice(rawValue: raw.value.lowercased()) else {
            let names = Choice.allCases.map(\.rawValue).joined(separator: ", ")
            throw self.invalid(option, raw, expected: "one of \(names)")
        }
        return choice
    }

    mutating func address(_ option: String, default value: HostAndPort) throws -> HostAndPort {
        guard let raw = self.raw(option) else { return value }
        guard let address = HostAndPort(parsing: raw.value), address.port > 0 else {
            throw self.invalid(option, raw, expected: "HOST:PORT with a port from 1 to 65535")
        }
        return address
    }

    /// A listener: an IP literal or localhost; port 0 picks a free port.
    mutating func listenAddress(_ option: String, default value: HostAndPort) throws -> HostAndPort {
        guard let raw = self.raw(option) else { return value }
        guard let address = HostAndPort(parsing: raw.value), address.isIPLiteralOrLocalhost else {
            throw self.invalid(option, raw, expected: "IP:PORT to listen on, e.g. 0.0.0.0:7420 or [::]:7420")
        }
        return address
    }

    mutating func endpoint(_ service: String, default value: TroveConfiguration.Endpoint) throws -> TroveConfiguration.Endpoint {
        var endpoint = value
        endpoint.listen = try self.listenAddress(service + ".listen", default: value.listen)
        endpoint.address = try self.address(service + ".address", default: value.address)
        return endpoint
    }

    func rejectUnknownOptions() throws {
        let unknown = Set(self.fileValues.keys).subtracting(self.knownOptions).sorted()
        if let first = unknown.first {
            let known = self.knownOptions.sorted().joined(separator: ", ")
            throw ConfigurationError(
                option: first,
                message: "unknown option in \(self.fileName ?? "the file"); known options are: \(known)"
            )
        }
    }
}
