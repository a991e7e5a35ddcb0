import Foundation
import GRPCCore
import GRPCInProcessTransport
import Logging
import MetadataStore
import ObjectStores
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
    /// Told the address each HTTP/2 listener bound.
    let onListening: @Sendable (String, HostAndPort) -> Void

    /// The lifecycle services to run, in start order (shutdown runs in reverse, so listeners
    /// stop before the clients they use).
    func services(for role: ServeRole) throws -> [any Service] {
        guard let service = role.service else {
            return try self.allInOne()
        }
        let board = HealthStatusBoard(services: [service.grpcName])
        var lifecycle: [any Service] = []
        var downstream: IngestionService.Downstream?
        if service == .ingestion {
            let objectStorage = try ClientConnection(address: self.configuration.objectStorage.endpoint.address, maxMessageBytes: self.configuration.maxMessageBytes)
            let metadata = try ClientConnection(address: self.configuration.metadata.endpoint.address, maxMessageBytes: self.configuration.maxMessageBytes)
            let embedding = try ClientConnection(address: self.configuration.embedding.endpoint.address, maxMessageBytes: self.configuration.maxMessageBytes)
            let vectorSearch = try ClientConnection(address: self.configuration.vectorSearch.endpoint.address, maxMessageBytes: self.configuration.maxMessageBytes)
            lifecycle += [objectStorage, metadata, embedding, vectorSearch]
            downstream = IngestionService.Downstream(
                objectStorage: Trove_V1_ObjectStorage.Client(wrapping: objectStorage.client),
                metadata: Trove_V1_Metadata.Client(wrapping: metadata.client),
                embedding: Trove_V1_Embedding.Client(wrapping: embedding.client),
                vectorSearch: Trove_V1_VectorSearch.Client(wrapping: vectorSearch.client)
            )
        }
        let rpcService = try self.makeService(service, downstream: downstream)
        lifecycle += self.backgroundServices(of: [rpcService])
        let listen = self.endpoint(of: service).listen
        lifecycle.append(
            ServiceHost(
                name: service.rawValue,
                listener: .http2(listen, maxMessageBytes: self.configuration.maxMessageBytes),
                services: [rpcService],
                health: board,
                logger: self.logger,
                onListening: { address in self.onListening(service.rawValue, address) }
            )
        )
        return lifecycle + self.processingServices(of: [rpcService])
    }

    private func allInOne() throws -> [any Service] {
        let board = HealthStatusBoard(services: TroveServiceName.allCases.map(\.grpcName))
        let inProcess = InProcessTransport()
        let client = ClientConnection(client: GRPCClient(transport: inProcess.client))
        let downstream = IngestionService.Downstream(
            objectStorage: Trove_V1_ObjectStorage.Client(wrapping: client.client),
            metadata: Trove_V1_Metadata.Client(wrapping: client.client),
            embedding: Trove_V1_Embedding.Client(wrapping: client.client),
            vectorSearch: Trove_V1_VectorSearch.Client(wrapping: client.client)
        )
        let services = try TroveServiceName.allCases.map { try self.makeService($0, downstream: downstream) }
        return [client] + self.backgroundServices(of: services) + [
            ServiceHost(name: "all (in-process)", listener: .inProcess(inProcess.server), services: services, health: board, logger: self.logger),
            ServiceHost(
                name: "all",
                listener: .http2(self.configuration.listen, maxMessageBytes: self.configuration.maxMessageBytes),
                services: services,
                health: board,
                logger: self.logger,
                onListening: { address in self.onListening("all", address) }
            ),
        ] + self.processingServices(of: services)
    }

    /// Work a service does besides answering calls: the filesystem backend's lifecycle sweeper.
    private func backgroundServices(of services: [any RegistrableRPCService]) -> [any Service] {
        services.compactMap { service in
            guard let storage = service as? ObjectStorageService, let store = storage.store as? FileSystemObjectStore else {
                return nil
            }
            return LifecycleSweeper(
                store: store,
                interval: .seconds(self.configuration.objectStorage.lifecycleSweepSeconds),
                logger: self.logger.with(service: .objectStorage)
            )
        }
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
            configuration.maxAttempts = options.maxAttempts
            configuration.retryBackoff = .milliseconds(options.retryBackoffMilliseconds)
            configuration.maxDocumentBytes = options.maxDocumentBytes
            configuration.embedBatchSize = options.embedBatchSize
            configuration.defaultChunkUnit = options.chunkUnit.rawValue
            configuration.defaultChunkSize = options.chunkSize
            configuration.defaultChunkOverlap = options.chunkOverlap
            configuration.searchCacheTTL = .seconds(options.searchCacheTTLSeconds)
            configuration.searchCacheEntries = options.searchCacheEntries
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
