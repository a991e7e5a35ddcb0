import GRPCCore
import Logging
import TroveContracts
import TroveCore

/// The ingestion service: documents in, search results out.
///
/// Every RPC of the contract is here; those not built yet answer UNIMPLEMENTED.
public struct IngestionService: Trove_V1_Ingestion.SimpleServiceProtocol {
    /// The four services ingestion drives, reached only through their gRPC clients.
    public struct Downstream: Sendable {
        public var objectStorage: any Trove_V1_ObjectStorage.ClientProtocol
        public var metadata: any Trove_V1_Metadata.ClientProtocol
        public var embedding: any Trove_V1_Embedding.ClientProtocol
        public var vectorSearch: any Trove_V1_VectorSearch.ClientProtocol

        public init(
            objectStorage: any Trove_V1_ObjectStorage.ClientProtocol,
            metadata: any Trove_V1_Metadata.ClientProtocol,
            embedding: any Trove_V1_Embedding.ClientProtocol,
            vectorSearch: any Trove_V1_VectorSearch.ClientProtocol
        ) {
            self.objectStorage = objectStorage
            self.metadata = metadata
            self.embedding = embedding
            self.vectorSearch = vectorSearch
        }
    }

    let downstream: Downstream
    let logger: Logger

    public init(downstream: Downstream, logger: Logger) {
        self.downstream = downstream
        self.logger = logger
    }

    public func createCollection(request: Trove_V1_CreateIngestionCollectionRequest, context: ServerContext) async throws -> Trove_V1_Collection {
        throw RPCError.notBuiltYet("CreateCollection", missing: "the ingestion pipeline has not landed")
    }

    public func listCollections(request: Trove_V1_ListIngestionCollectionsRequest, context: ServerContext) async throws -> Trove_V1_ListIngestionCollectionsResponse {
        throw RPCError.notBuiltYet("ListCollections", missing: "the ingestion pipeline has not landed")
    }

    public func deleteCollection(request: Trove_V1_DeleteIngestionCollectionRequest, context: ServerContext) async throws -> Trove_V1_DeleteIngestionCollectionResponse {
        throw RPCError.notBuiltYet("DeleteCollection", missing: "the ingestion pipeline has not landed")
    }

    public func ingestDocument(request: RPCAsyncSequence<Trove_V1_IngestDocumentRequest, any Error>, context: ServerContext) async throws -> Trove_V1_IngestDocumentResponse {
        throw RPCError.notBuiltYet("IngestDocument", missing: "the ingestion pipeline has not landed")
    }

    public func getDocumentStatus(request: Trove_V1_GetDocumentStatusRequest, context: ServerContext) async throws -> Trove_V1_Document {
        throw RPCError.notBuiltYet("GetDocumentStatus", missing: "the ingestion pipeline has not landed")
    }

    public func listDocuments(request: Trove_V1_ListIngestedDocumentsRequest, context: ServerContext) async throws -> Trove_V1_ListIngestedDocumentsResponse {
        throw RPCError.notBuiltYet("ListDocuments", missing: "the ingestion pipeline has not landed")
    }

    public func watchIngestion(request: Trove_V1_WatchIngestionRequest, response: RPCWriter<Trove_V1_IngestionEvent>, context: ServerContext) async throws {
        throw RPCError.notBuiltYet("WatchIngestion", missing: "the ingestion pipeline has not landed")
    }

    public func deleteDocument(request: Trove_V1_DeleteIngestedDocumentRequest, context: ServerContext) async throws -> Trove_V1_DeleteIngestedDocumentResponse {
        throw RPCError.notBuiltYet("DeleteDocument", missing: "the ingestion pipeline has not landed")
    }

    public func reprocessDocument(request: Trove_V1_ReprocessDocumentRequest, context: ServerContext) async throws -> Trove_V1_Document {
        throw RPCError.notBuiltYet("ReprocessDocument", missing: "the ingestion pipeline has not landed")
    }

    public func search(request: Trove_V1_SearchRequest, context: ServerContext) async throws -> Trove_V1_SearchResponse {
        throw RPCError.notBuiltYet("Search", missing: "the ingestion pipeline has not landed")
    }

    public func getSystemStatus(request: Trove_V1_GetSystemStatusRequest, context: ServerContext) async throws -> Trove_V1_SystemStatus {
        throw RPCError.notBuiltYet("GetSystemStatus", missing: "the ingestion pipeline has not landed")
    }
}
