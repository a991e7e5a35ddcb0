import Dispatch
import GRPCCore
import JSONFilter
import Logging
import Metrics
import SwiftProtobuf
import TroveContracts
import TroveCore
import VectorIndex

/// The vector-search service: collections of vectors and nearest-neighbour search, over the
/// VectorIndex engine.
public struct VectorSearchService: Trove_V1_VectorSearch.SimpleServiceProtocol {
    public let store: VectorStore
    let logger: Logger

    /// The most searches one SearchBatch may hold.
    public static let maximumBatchSearches = 1_000

    public init(store: VectorStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    // MARK: Collections

    public func createCollection(request: Trove_V1_CreateVectorCollectionRequest, context: ServerContext) async throws -> Trove_V1_VectorCollectionInfo {
        let defaults = HNSWParameters()
        let hnsw = request.hnsw
        let configuration = CollectionConfiguration(
            name: request.name,
            dimension: Int(request.dimension),
            metric: try VectorMetric(request.metric, field: "metric"),
            parameters: HNSWParameters(
                m: hnsw.m == 0 ? defaults.m : Int(hnsw.m),
                efConstruction: hnsw.efConstruction == 0 ? defaults.efConstruction : Int(hnsw.efConstruction),
                efSearch: hnsw.efSearch == 0 ? defaults.efSearch : Int(hnsw.efSearch),
                seed: hnsw.seed == 0 ? defaults.seed : hnsw.seed
            ),
            embeddingModel: request.embeddingModel,
            exactOnly: request.exactOnly
        )
        let store = self.store
        let collection = try await Self.blocking { try store.create(configuration) }
        self.logger.info("created vector collection", metadata: ["collection": "\(request.name)", "dimension": "\(request.dimension)"])
        return Trove_V1_VectorCollectionInfo(collection)
    }

    /// Sets the per-collection gauges of vectors and index memory; the process calls it periodically.
    public func reportMetrics() {
        for collection in self.store.list() {
            let statistics = collection.statistics
            let dimensions = [("collection", collection.configuration.name)]
            Gauge(label: TroveMetrics.vectors, dimensions: dimensions).record(statistics.count)
            Gauge(label: TroveMetrics.indexMemoryBytes, dimensions: dimensions).record(statistics.memoryBytes)
        }
    }

    public func listCollections(request: Trove_V1_ListVectorCollectionsRequest, context: ServerContext) async throws -> Trove_V1_ListVectorCollectionsResponse {
        .with { $0.collections = self.store.list().map(Trove_V1_VectorCollectionInfo.init) }
    }

    public func describeCollection(request: Trove_V1_DescribeVectorCollectionRequest, context: ServerContext) async throws -> Trove_V1_VectorCollectionInfo {
        Trove_V1_VectorCollectionInfo(try self.store.collection(request.name, field: "name"))
    }

    public func dropCollection(request: Trove_V1_DropVectorCollectionRequest, context: ServerContext) async throws -> Trove_V1_DropVectorCollectionResponse {
        let store = self.store
        try await Self.blocking { try store.drop(request.name) }
        self.logger.info("dropped vector collection", metadata: ["collection": "\(request.name)"])
        return Trove_V1_DropVectorCollectionResponse()
    }

    // MARK: Writes

    public func upsert(request: Trove_V1_UpsertRequest, context: ServerContext) async throws -> Trove_V1_UpsertResponse {
        let collection = try self.store.collection(request.collection)
        let records = request.vectors.map(VectorRecord.init)
        let upserted = try await Self.blocking { try collection.upsert(records) }
        return .with { $0.upserted = UInt64(upserted) }
    }

    public func upsertStream(request: RPCAsyncSequence<Trove_V1_UpsertRequest, any Error>, context: ServerContext) async throws -> Trove_V1_UpsertResponse {
        // Each message is validated and logged as it arrives; a failure answers with the count
        // of vectors acknowledged before it in the message (earlier messages are kept).
        var upserted: UInt64 = 0
        var name: String?
        for try await message in request {
            if let name, !message.collection.isEmpty, message.collection != name {
                throw RPCError.invalidField("collection", "every message of one stream must name the same collection ('\(name)', not '\(message.collection)')")
            }
            name = name ?? message.collection
            let collection = try self.store.collection(name ?? "")
            let records = message.vectors.map(VectorRecord.init)
            upserted += UInt64(try await Self.blocking { try collection.upsert(records) })
        }
        return .with { $0.upserted = upserted }
    }

    public func delete(request: Trove_V1_DeleteVectorsRequest, context: ServerContext) async throws -> Trove_V1_DeleteVectorsResponse {
        let collection = try self.store.collection(request.collection)
        let filter = try MetadataFilter.from(request.hasFilter ? request.filter : nil)
        let deleted: Int
        switch (request.ids.isEmpty, filter) {
        case (false, nil):
            let ids = request.ids
            deleted = try await Self.blocking { try collection.delete(ids: ids) }
        case (true, let filter?):
            deleted = try await Self.blocking { try collection.delete(filter: filter) }
        case (false, _?):
            throw RPCError.invalidField("ids", "give ids or a filter, not both")
        case (true, nil):
            throw RPCError.invalidField("ids", "give the ids to delete or a filter")
        }
        return .with { $0.deleted = UInt64(deleted) }
    }

    public func compact(request: Trove_V1_CompactRequest, context: ServerContext) async throws -> Trove_V1_CompactResponse {
        let collection = try self.store.collection(request.collection)
        let (removed, reclaimed) = try await Self.blocking { try collection.compact() }
        self.logger.info("compacted vector collection", metadata: ["collection": "\(request.collection)", "removed": "\(removed)"])
        return .with {
            $0.vectorsRemoved = UInt64(removed)
            $0.bytesReclaimed = UInt64(reclaimed)
        }
    }

    public func snapshot(request: Trove_V1_SnapshotRequest, context: ServerContext) async throws -> Trove_V1_SnapshotResponse {
        let collection = try self.store.collection(request.collection)
        let (sequence, bytes) = try await Self.blocking { try collection.snapshot() }
        return .with {
            $0.sequence = sequence
            $0.bytes = UInt64(bytes)
        }
    }

    /// Runs a write on a Dispatch thread. Writes block — on the collection's writer lock, on
    /// fsync, on linking vectors into the graph, on writing a snapshot — and must not hold the
    /// few cooperative threads that searches (short and CPU-bound, left where they are) run on.
    static func blocking<Value: Sendable>(_ body: @escaping @Sendable () throws -> Value) async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try body() })
            }
        }
    }

    // MARK: Reads

    public func get(request: Trove_V1_GetVectorsRequest, context: ServerContext) async throws -> Trove_V1_GetVectorsResponse {
        let collection = try self.store.collection(request.collection)
        let records = collection.get(ids: request.ids, includeValues: request.includeValues)
        return .with {
            $0.vectors = records.map { record in
                .with {
                    $0.id = record.id
                    $0.values = record.values
                    if let payload = record.payload { $0.payload = Google_Protobuf_Struct(payload) }
                }
            }
        }
    }

    public func search(request: Trove_V1_SearchVectorsRequest, context: ServerContext) async throws -> Trove_V1_SearchVectorsResponse {
        try self.search(request, field: "")
    }

    public func searchBatch(request: Trove_V1_SearchVectorsBatchRequest, context: ServerContext) async throws -> Trove_V1_SearchVectorsBatchResponse {
        guard request.searches.count <= Self.maximumBatchSearches else {
            throw RPCError.invalidField("searches", "holds \(request.searches.count) searches; the most is \(Self.maximumBatchSearches)")
        }
        var response = Trove_V1_SearchVectorsBatchResponse()
        for (position, search) in request.searches.enumerated() {
            response.results.append(try self.search(search, field: "searches[\(position)]."))
        }
        return response
    }

    private func search(_ request: Trove_V1_SearchVectorsRequest, field prefix: String) throws -> Trove_V1_SearchVectorsResponse {
        let collection = try self.store.collection(request.collection, field: prefix + "collection")
        let query = VectorQuery(
            vector: request.vector,
            k: request.k == 0 ? 10 : Int(request.k),
            ef: request.ef == 0 ? nil : Int(request.ef),
            minimumScore: request.hasMinSimilarity ? request.minSimilarity : nil,
            filter: try MetadataFilter.from(request.hasFilter ? request.filter : nil, field: prefix + "filter"),
            exact: request.exact
        )
        let results: [ScoredRecord]
        do {
            results = try collection.search(query, includeValues: request.includeValues, includePayload: request.includePayload)
        } catch {
            throw error.prefixingField(prefix)
        }
        var response = Trove_V1_SearchVectorsResponse()
        response.results.reserveCapacity(results.count)
        for result in results {
            var scored = Trove_V1_ScoredVector()
            scored.id = result.id
            scored.score = result.score
            if let values = result.values { scored.values = values }
            if let payload = result.payload { scored.payload = Google_Protobuf_Struct(payload) }
            response.results.append(scored)
        }
        return response
    }
}

// MARK: Conversions

extension VectorRecord {
    init(_ proto: Trove_V1_Vector) {
        self.init(id: proto.id, values: proto.values, payload: proto.hasPayload ? JSONObject(proto.payload) : nil)
    }
}

extension VectorMetric {
    init(_ proto: Trove_V1_DistanceMetric, field: String) throws {
        switch proto {
        case .cosine: self = .cosine
        case .l2: self = .l2
        case .innerProduct: self = .innerProduct
        case .unspecified, .UNRECOGNIZED:
            throw RPCError.invalidField(field, "must be DISTANCE_METRIC_COSINE, DISTANCE_METRIC_L2 or DISTANCE_METRIC_INNER_PRODUCT")
        }
    }
}

extension Trove_V1_DistanceMetric {
    init(_ metric: VectorMetric) {
        switch metric {
        case .cosine: self = .cosine
        case .l2: self = .l2
        case .innerProduct: self = .innerProduct
        }
    }
}

extension Trove_V1_VectorCollectionInfo {
    init(_ collection: VectorCollection) {
        let configuration = collection.configuration
        let statistics = collection.statistics
        self.init()
        self.name = configuration.name
        self.dimension = UInt32(configuration.dimension)
        self.metric = Trove_V1_DistanceMetric(configuration.metric)
        self.hnsw = .with {
            $0.m = UInt32(configuration.parameters.m)
            $0.efConstruction = UInt32(configuration.parameters.efConstruction)
            $0.efSearch = UInt32(configuration.parameters.efSearch)
            $0.seed = configuration.parameters.seed
        }
        self.embeddingModel = configuration.embeddingModel
        self.exactOnly = configuration.exactOnly
        self.count = UInt64(statistics.count)
        self.tombstones = UInt64(statistics.tombstones)
        self.memoryBytes = UInt64(statistics.memoryBytes)
        self.diskBytes = UInt64(statistics.diskBytes)
        self.maxLevel = UInt32(statistics.maxLevel)
        self.walBytes = UInt64(statistics.walBytes)
        self.lastSnapshotSequence = statistics.lastSnapshotSequence
    }
}

// The one place where vector-index failures become gRPC statuses.
extension VectorIndexError: RPCErrorConvertible {
    public var rpcErrorCode: RPCError.Code {
        switch self.code {
        case .invalidArgument: .invalidArgument
        case .notFound: .notFound
        case .alreadyExists: .alreadyExists
        case .resourceExhausted: .resourceExhausted
        case .dataLoss: .dataLoss
        case .ioError: .internalError
        }
    }

    public var rpcErrorMessage: String { self.description }

    /// The same error with its field inside a batch entry (`searches[2].vector`).
    func prefixingField(_ prefix: String) -> VectorIndexError {
        var error = self
        if let field = error.field, !prefix.isEmpty { error.field = prefix + field }
        return error
    }
}
