import Foundation
import GRPCCore
import GRPCInProcessTransport
import GRPCNIOTransportHTTP2
import Logging
import MetadataStore
import ObjectStores
import Prometheus
import S3
import ServiceLifecycle
import SigV4
import TroveContracts
import TroveCore
import TroveEmbedding
import TroveIngestion
import TroveMetadata
import TroveObjectStorage
import TroveVectorSearch
import VectorIndex

/// What `trove serve` runs: one service, or all five in one process.
enum ServeRole: String, CaseIterable, Sendable {
    case all
    case ingestion
    case embedding
    case vectorSearch = "vector-search"
    case metadata
    case objectStorage = "object-storage"

    var service: TroveServiceName? {
        TroveServiceName(rawValue: self.rawValue)
    }
}

/// Builds the services a process runs from its configuration.
///
/// The same service values run alone behind HTTP/2 or together in one process; only the way
/// ingestion reaches the other four differs (HTTP/2 clients, or grpc-swift's in-process
/// transport), never what a service does.
struct ServiceAssembly {
    let configuration: TroveConfiguration
    let logger: Logger
    /// Where swift-metrics reports, when `metrics.listen` is set.
    var metricsRegistry: PrometheusCollectorRegistry?
    /// Told the address each HTTP/2 listener bound.
    let onListening: @Sendable (String, HostAndPort) -> Void

    /// The lifecycle services to run, in start order (shutdown runs in reverse, so listeners
    /// stop before the audit trail and the clients they use).
    func services(for role: ServeRole) throws -> [any Service] {
        try self.configuration.tls.checkFiles()
        let serviceKey = try self.configuration.auth.resolvedServiceKey()
        if !self.configuration.auth.enabled {
            self.logger.warning("auth is off: every caller may read, write and administer; set auth.enabled for anything but a trusted machine")
        }
        guard let service = role.service else {
            return try self.allInOne(serviceKey: serviceKey)
        }
        let board = HealthStatusBoard(services: [service.grpcName])
        var lifecycle: [any Service] = []
        // Every call to another service carries the request id and deadline of the call that
        // made it, and the service credential.
        let outgoing: [any ClientInterceptor] = [RequestScopePropagation()] + (serviceKey.isEmpty ? [] : [BearerTokenInterceptor(key: serviceKey)])
        func connect(_ endpoint: TroveConfiguration.Endpoint) throws -> ClientConnection<HTTP2ClientTransport.Posix> {
            let connection = try ClientConnection(
                address: endpoint.address,
                maxMessageBytes: self.configuration.maxMessageBytes,
                tls: self.configuration.tls,
                interceptors: outgoing
            )
            lifecycle.append(connection)
            return connection
        }

        var downstream: IngestionService.Downstream?
        var metadataClient: Trove_V1_Metadata.Client<HTTP2ClientTransport.Posix>?
        if service == .ingestion {
            let objectStorage = try connect(self.configuration.objectStorage.endpoint)
            let metadata = try connect(self.configuration.metadata.endpoint)
            let embedding = try connect(self.configuration.embedding.endpoint)
            let vectorSearch = try connect(self.configuration.vectorSearch.endpoint)
            metadataClient = Trove_V1_Metadata.Client(wrapping: metadata.client)
            downstream = IngestionService.Downstream(
                objectStorage: Trove_V1_ObjectStorage.Client(wrapping: objectStorage.client),
                metadata: Trove_V1_Metadata.Client(wrapping: metadata.client),
                embedding: Trove_V1_Embedding.Client(wrapping: embedding.client),
                vectorSearch: Trove_V1_VectorSearch.Client(wrapping: vectorSearch.client)
            )
        } else if service != .metadata && self.configuration.auth.enabled {
            metadataClient = Trove_V1_Metadata.Client(wrapping: try connect(self.configuration.metadata.endpoint).client)
        }
        let rpcService = try self.makeService(service, downstream: downstream)

        // Keys and the audit trail live in the metadata service: its own process asks its
        // store; the others ask it over gRPC with the service credential.
        let auditing = self.configuration.auth.enabled
        let access: (interceptor: AccessInterceptor, auditTrail: AuditTrail?)
        if let metadata = rpcService as? MetadataService {
            let resolve: Authenticator.Resolve = { secret in try await metadata.resolveAPIKey(secret: secret) }
            let write: AuditTrail.Write = { events in try await metadata.recordAuditEvents(events) }
            access = self.accessControl(serviceKey: serviceKey, resolve: resolve, writeAudit: auditing ? write : nil)
        } else if let metadataClient {
            let resolve: Authenticator.Resolve = { secret in try await Self.resolve(secret: secret, with: metadataClient) }
            let write: AuditTrail.Write = { events in _ = try await metadataClient.recordAuditEvents(.with { $0.events = events }) }
            access = self.accessControl(serviceKey: serviceKey, resolve: resolve, writeAudit: auditing ? write : nil)
        } else {
            access = (AccessInterceptor(policy: .trove, authenticator: nil, auditTrail: nil), nil)
        }
        if let auditTrail = access.auditTrail {
            lifecycle.append(auditTrail)
        }

        lifecycle += self.backgroundServices(of: [rpcService]) + self.metricsServices(of: [rpcService], name: service.rawValue)
        let listen = self.endpoint(of: service).listen
        lifecycle.append(
            ServiceHost(
                name: service.rawValue,
                listener: .http2(listen, maxMessageBytes: self.configuration.maxMessageBytes, tls: self.configuration.tls),
                services: [rpcService],
                health: board,
                interceptors: [ConcurrencyLimitInterceptor(limit: self.configuration.maxConcurrentCalls), access.interceptor],
                logger: self.logger,
                onListening: { address in self.onListening(service.rawValue, address) }
            )
        )
        return lifecycle + self.processingServices(of: [rpcService])
    }

    private func allInOne(serviceKey: String) throws -> [any Service] {
        let board = HealthStatusBoard(services: TroveServiceName.allCases.map(\.grpcName))
        let inProcess = InProcessTransport()
        let client = ClientConnection(client: GRPCClient(transport: inProcess.client, interceptors: [RequestScopePropagation()]))
        let downstream = IngestionService.Downstream(
            objectStorage: Trove_V1_ObjectStorage.Client(wrapping: client.client),
            metadata: Trove_V1_Metadata.Client(wrapping: client.client),
            embedding: Trove_V1_Embedding.Client(wrapping: client.client),
            vectorSearch: Trove_V1_VectorSearch.Client(wrapping: client.client)
        )
        let services = try TroveServiceName.allCases.map { try self.makeService($0, downstream: downstream) }
        guard let metadata = services.lazy.compactMap({ $0 as? MetadataService }).first else {
            preconditionFailure("all in one runs the metadata service")
        }
        // Only the HTTP/2 listener is guarded and audited: the in-process one carries the
        // services' calls to each other and nothing else. Its users' writes are audited with
        // auth off too (with no key id): they all come through this listener.
        let resolve: Authenticator.Resolve = { secret in try await metadata.resolveAPIKey(secret: secret) }
        let write: AuditTrail.Write = { events in try await metadata.recordAuditEvents(events) }
        let access = self.accessControl(serviceKey: serviceKey, resolve: resolve, writeAudit: write)
        let lifecycle: [any Service] = [client] + (access.auditTrail.map { [$0] } ?? [])
        return lifecycle + self.backgroundServices(of: services) + self.metricsServices(of: services, name: "all") + [
            ServiceHost(name: "all (in-process)", listener: .inProcess(inProcess.server), services: services, health: board, logger: self.logger),
            ServiceHost(
                name: "all",
                listener: .http2(self.configuration.listen, maxMessageBytes: self.configuration.maxMessageBytes, tls: self.configuration.tls),
                services: services,
                health: board,
                interceptors: [ConcurrencyLimitInterceptor(limit: self.configuration.maxConcurrentCalls), access.interceptor],
                logger: self.logger,
                onListening: { address in self.onListening("all", address) }
            ),
        ] + self.processingServices(of: services)
    }

    /// The access interceptor of a process's listeners and, with `writeAudit`, the audit trail
    /// it writes to (a lifecycle service: it goes after the clients and before the listeners, so
    /// it stops after the listeners and before the clients).
    private func accessControl(
        serviceKey: String,
        resolve: @escaping Authenticator.Resolve,
        writeAudit: AuditTrail.Write?
    ) -> (interceptor: AccessInterceptor, auditTrail: AuditTrail?) {
        let authenticator = self.configuration.auth.enabled
            ? Authenticator(serviceKey: serviceKey, cacheTTL: .seconds(self.configuration.auth.keyCacheSeconds), resolve: resolve)
            : nil
        let auditTrail = writeAudit.map { AuditTrail(logger: self.logger, write: $0) }
        return (AccessInterceptor(policy: .trove, authenticator: authenticator, auditTrail: auditTrail), auditTrail)
    }

    /// Asks the metadata service whose key a secret is; an unknown or revoked one is nil.
    private static func resolve<Transport: ClientTransport>(secret: String, with metadata: Trove_V1_Metadata.Client<Transport>) async throws -> Trove_V1_ApiKey? {
        do {
            return try await metadata.authenticateApiKey(.with { $0.secret = secret })
        } catch let error as RPCError where error.code == .unauthenticated && error.message.hasPrefix("secret:") {
            // The metadata service's answer about the secret; any other refusal (of this
            // service's own credential, say) is an error to report, not an unknown key.
            return nil
        }
    }

    /// Work a service does besides answering calls: the filesystem backend's lifecycle sweeper,
    /// vector search's automatic compaction.
    private func backgroundServices(of services: [any RegistrableRPCService]) -> [any Service] {
        services.compactMap { service -> (any Service)? in
            if let storage = service as? ObjectStorageService, let store = storage.store as? FileSystemObjectStore {
                return LifecycleSweeper(
                    store: store,
                    interval: .seconds(self.configuration.objectStorage.lifecycleSweepSeconds),
                    logger: self.logger.with(service: .objectStorage)
                )
            }
            let options = self.configuration.vectorSearch
            if let vectorSearch = service as? VectorSearchService, options.compactTombstonePercent > 0 {
                return VectorCompactor(
                    store: vectorSearch.store,
                    policy: CompactionPolicy(tombstonePercent: options.compactTombstonePercent, minimumTombstones: options.compactMinTombstones),
                    interval: .seconds(options.compactCheckSeconds),
                    logger: self.logger.with(service: .vectorSearch)
                )
            }
            return nil
        }
    }

    /// The metrics listener and the reporter of gauges read from the services, when metrics are on.
    private func metricsServices(of services: [any RegistrableRPCService], name: String) -> [any Service] {
        guard let registry = self.metricsRegistry, let listen = self.configuration.metrics.listen else { return [] }
        let metadata = services.lazy.compactMap { $0 as? MetadataService }.first
        let vectorSearch = services.lazy.compactMap { $0 as? VectorSearchService }.first
        var lifecycle: [any Service] = [
            MetricsServer(address: listen, registry: registry, logger: self.logger) { address in
                self.onListening("\(name) metrics", address)
            }
        ]
        if metadata != nil || vectorSearch != nil {
            lifecycle.append(
                MetricsReporter {
                    await metadata?.reportMetrics()
                    vectorSearch?.reportMetrics()
                }
            )
        }
        return lifecycle
    }

    /// Ingestion's document processing. It goes after the listeners in the list, so at shutdown
    /// it stops first, while the services it calls still answer.
    private func processingServices(of services: [any RegistrableRPCService]) -> [any Service] {
        services.compactMap { ($0 as? IngestionService)?.processing }
    }

    /// Opens (creating if needed) the metadata database; a failure stops start-up naming the file.
    private func openMetadataStore() throws -> SQLiteMetadataStore {
        let options = self.configuration.metadata
        let path = self.configuration.metadataDatabasePath
        let directory = (path as NSString).deletingLastPathComponent
        do {
            if !directory.isEmpty {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
        } catch {
            throw ConfigurationError(
                option: "metadata.database",
                message: "cannot create the directory \(directory) for the metadata database: \(error.localizedDescription)"
            )
        }
        let synchronous: SQLiteMetadataStore.Configuration.Synchronous =
            switch options.synchronous {
            case .full: .full
            case .normal: .normal
            }
        do {
            return try SQLiteMetadataStore(
                configuration: .init(
                    path: path,
                    busyTimeout: .milliseconds(options.busyTimeoutMilliseconds),
                    synchronous: synchronous,
                    retention: .init(documentMaxAge: options.retentionDays == 0 ? nil : .seconds(options.retentionDays * 86_400))
                )
            )
        } catch {
            throw ConfigurationError(option: "metadata.database", message: "cannot open the metadata database \(path): \(error)")
        }
    }

    /// The configured provider; a missing model is logged, not fatal: the service starts and
    /// answers FAILED_PRECONDITION naming Scripts/fetch-model.sh until the model is fetched.
    private func makeEmbeddingService(logger: Logger) -> EmbeddingService {
        let options = self.configuration.embedding
        let provider: any EmbeddingProvider
        switch options.provider {
        case .minilm:
            let directory = self.configuration.embeddingModelDirectory
            let minilm = MiniLMProvider(
                configuration: .init(
                    modelDirectory: URL(fileURLWithPath: directory),
                    threadCount: options.threads == 0 ? nil : options.threads,
                    batching: .init(maxBatchSize: options.maxBatchSize, maxWait: .milliseconds(options.maxBatchWaitMilliseconds))
                )
            )
            if let reason = minilm.unavailableReason {
                logger.warning("embedding model unavailable", metadata: ["reason": "\(reason)"])
            } else {
                logger.info("embedding model loaded", metadata: ["model": "\(minilm.modelID)", "directory": "\(directory)"])
            }
            provider = minilm
        case .hashing:
            provider = HashingProvider(dimension: options.hashingDimension)
        case .openaiCompatible:
            let openAI = options.openAI
            if openAI.apiKey == nil {
                logger.warning(
                    "no API key for the embedding server: none is sent",
                    metadata: ["variable": "\(openAI.apiKeyVariable)", "url": "\(openAI.url)"]
                )
            }
            provider = OpenAICompatibleProvider(
                configuration: .init(
                    url: openAI.url,
                    model: openAI.model,
                    dimension: openAI.dimension,
                    maxTokens: openAI.maxTokens,
                    apiKey: openAI.apiKey,
                    apiKeySource: openAI.apiKeyVariable.isEmpty ? "embedding.openai.api_key_env" : "the \(openAI.apiKeyVariable) environment variable",
                    sendsDimensions: openAI.sendDimensions,
                    encodingFormat: openAI.encodingFormat.rawValue,
                    maxInputsPerRequest: openAI.maxInputsPerRequest,
                    maxAttempts: openAI.maxAttempts,
                    requestTimeout: .seconds(openAI.timeoutSeconds)
                )
            )
        }
        return EmbeddingService(
            providers: [provider],
            limits: .init(maxTextsPerRequest: options.maxTextsPerRequest, maxTextBytes: options.maxTextBytes),
            logger: logger
        )
    }

    private func endpoint(of service: TroveServiceName) -> TroveConfiguration.Endpoint {
        switch service {
        case .ingestion: self.configuration.ingestion.endpoint
        case .embedding: self.configuration.embedding.endpoint
        case .vectorSearch: self.configuration.vectorSearch.endpoint
        case .metadata: self.configuration.metadata.endpoint
        case .objectStorage: self.configuration.objectStorage.endpoint
        }
    }

    private func makeService(_ service: TroveServiceName, downstream: IngestionService.Downstream?) throws -> any RegistrableRPCService {
        let logger = self.logger.with(service: service)
        switch service {
        case .objectStorage:
            let store: any ObjectStore
            switch self.configuration.objectStorage.backend {
            case .filesystem:
                store = try FileSystemObjectStore(
                    configuration: .init(root: self.configuration.objectStorageRoot, fsync: self.configuration.objectStorage.fsync)
                )
            case .s3:
                let s3 = self.configuration.objectStorage.s3
                store = try S3ObjectStore(
                    configuration: .init(
                        client: S3Client.Configuration(
                            endpoint: s3.endpoint,
                            region: s3.region,
                            credentials: SigV4Credentials(
                                accessKeyID: s3.accessKeyID,
                                secretAccessKey: s3.secretAccessKey,
                                sessionToken: s3.sessionToken.isEmpty ? nil : s3.sessionToken
                            ),
                            pathStyle: s3.pathStyle,
                            connectTimeout: .seconds(s3.connectTimeoutSeconds),
                            idleTimeout: .seconds(s3.idleTimeoutSeconds),
                            totalTimeout: s3.totalTimeoutSeconds == 0 ? nil : .seconds(s3.totalTimeoutSeconds),
                            maxAttempts: s3.maxAttempts
                        ),
                        multipartThreshold: s3.multipartThreshold,
                        partSize: s3.partSize,
                        concurrency: s3.concurrency
                    )
                )
            }
            return ObjectStorageService(store: store, logger: logger)
        case .metadata:
            return MetadataService(store: try self.openMetadataStore(), logger: logger)
        case .embedding:
            return self.makeEmbeddingService(logger: logger)
        case .vectorSearch:
            let options = self.configuration.vectorSearch
            let store = try VectorStore(
                directory: self.configuration.vectorDirectory,
                options: VectorStore.Options(
                    durability: options.fsync == .always ? .everyWrite : .interval(milliseconds: options.fsyncIntervalMilliseconds),
                    memoryBudgetBytes: options.memoryBudgetBytes == 0 ? .max : options.memoryBudgetBytes,
                    snapshotAfterLogBytes: options.snapshotAfterLogBytes
                )
            )
            return VectorSearchService(store: store, logger: logger)
        case .ingestion:
            guard let downstream else {
                preconditionFailure("ingestion is always built with its downstream clients")
            }
            let options = self.configuration.ingestion
            var configuration = IngestionService.Configuration()
            configuration.bucket = options.bucket
            configuration.workers = options.workers
            configuration.maxBytesInHand = options.maxBytesInHand
            configuration.maxAttempts = options.maxAttempts
            configuration.retryBackoff = .milliseconds(options.retryBackoffMilliseconds)
            configuration.maxDocumentBytes = options.maxDocumentBytes
            configuration.embedBatchSize = options.embedBatchSize
            configuration.defaultChunkUnit = options.chunkUnit.rawValue
            configuration.defaultChunkSize = options.chunkSize
            configuration.defaultChunkOverlap = options.chunkOverlap
            configuration.searchCacheTTL = .seconds(options.searchCacheTTLSeconds)
            configuration.searchCacheEntries = options.searchCacheEntries
            configuration.orphanSweepInterval = options.orphanSweepIntervalSeconds == 0 ? nil : .seconds(options.orphanSweepIntervalSeconds)
            configuration.orphanGrace = .seconds(options.orphanGraceSeconds)
            configuration.shutdownGrace = .seconds(options.shutdownGraceSeconds)
            return IngestionService(downstream: downstream, configuration: configuration, logger: logger)
        }
    }
}

extension Logger {
    fileprivate func with(service: TroveServiceName) -> Logger {
        var logger = self
        logger[metadataKey: "service"] = "\(service.rawValue)"
        return logger
    }
}
