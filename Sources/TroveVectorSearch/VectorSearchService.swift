import GRPCCore
import Logging
import TroveContracts
import TroveCore

/// The vector-search service: collections of vectors and nearest-neighbour search.
///
/// Every RPC of the contract is here; those not built yet answer UNIMPLEMENTED.
public struct VectorSearchService: Trove_V1_VectorSearch.SimpleServiceProtocol {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    public func createCollection(request: Trove_V1_CreateVectorCollectionRequest, context: ServerContext) async throws -> Trove_V1_VectorCollectionInfo {
        throw RPCError.notBuiltYet("CreateCollection", missing: "the HNSW vector index has not landed")
    }

    public func listCollections(request: Trove_V1_ListVectorCollectionsRequest, context: ServerContext) async throws -> Trove_V1_ListVectorCollectionsResponse {
        throw RPCError.notBuiltYet("ListCollections", missing: "the HNSW vector index has not landed")
    }

    public func describeCollection(request: Trove_V1_DescribeVectorCollectionRequest, context: ServerContext) async throws -> Trove_V1_VectorCollectionInfo {
        throw RPCError.notBuiltYet("DescribeCollection", missing: "the HNSW vector index has not landed")
    }

    public func dropCollection(request: Trove_V1_DropVectorCollectionRequest, context: ServerContext) async throws -> Trove_V1_DropVectorCollectionResponse {
        throw RPCError.notBuiltYet("DropCollection", missing: "the HNSW vector index has not landed")
    }

    public func upsert(request: Trove_V1_UpsertRequest, context: ServerContext) async throws -> Trove_V1_UpsertResponse {
        throw RPCError.notBuiltYet("Upsert", missing: "the HNSW vector index has not landed")
    }

    public func upsertStream(request: RPCAsyncSequence<Trove_V1_UpsertRequest, any Error>, context: ServerContext) async throws -> Trove_V1_UpsertResponse {
        throw RPCError.notBuiltYet("UpsertStream", missing: "the HNSW vector index has not landed")
    }

    public func get(request: Trove_V1_GetVectorsRequest, context: ServerContext) async throws -> Trove_V1_GetVectorsResponse {
        throw RPCError.notBuiltYet("Get", missing: "the HNSW vector index has not landed")
    }

    public func delete(request: Trove_V1_DeleteVectorsRequest, context: ServerContext) async throws -> Trove_V1_DeleteVectorsResponse {
        throw RPCError.notBuiltYet("Delete", missing: "the HNSW vector index has not landed")
    }

    public func search(request: Trove_V1_SearchVectorsRequest, context: ServerContext) async throws -> Trove_V1_SearchVectorsResponse {
        throw RPCError.notBuiltYet("Search", missing: "the HNSW vector index has not landed")
    }

    public func searchBatch(request: Trove_V1_SearchVectorsBatchRequest, context: ServerContext) async throws -> Trove_V1_SearchVectorsBatchResponse {
        throw RPCError.notBuiltYet("SearchBatch", missing: "the HNSW vector index has not landed")
    }

    public func compact(request: Trove_V1_CompactRequest, context: ServerContext) async throws -> Trove_V1_CompactResponse {
        throw RPCError.notBuiltYet("Compact", missing: "the HNSW vector index has not landed")
    }

    public func snapshot(request: Trove_V1_SnapshotRequest, context: ServerContext) async throws -> Trove_V1_SnapshotResponse {
        throw RPCError.notBuiltYet("Snapshot", missing: "the HNSW vector index has not landed")
    }
}
