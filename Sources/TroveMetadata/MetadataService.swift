import GRPCCore
import Logging
import TroveContracts
import TroveCore

/// The metadata service: collections, documents, chunks, relationships, annotations, keys and audit.
///
/// Every RPC of the contract is here; those not built yet answer UNIMPLEMENTED.
public struct MetadataService: Trove_V1_Metadata.SimpleServiceProtocol {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    public func createCollection(request: Trove_V1_CreateCollectionRequest, context: ServerContext) async throws -> Trove_V1_Collection {
        throw RPCError.notBuiltYet("CreateCollection", missing: "the SQLite metadata store has not landed")
    }

    public func getCollection(request: Trove_V1_GetCollectionRequest, context: ServerContext) async throws -> Trove_V1_Collection {
        throw RPCError.notBuiltYet("GetCollection", missing: "the SQLite metadata store has not landed")
    }

    public func listCollections(request: Trove_V1_ListCollectionsRequest, context: ServerContext) async throws -> Trove_V1_ListCollectionsResponse {
        throw RPCError.notBuiltYet("ListCollections", missing: "the SQLite metadata store has not landed")
    }

    public func updateCollection(request: Trove_V1_UpdateCollectionRequest, context: ServerContext) async throws -> Trove_V1_Collection {
        throw RPCError.notBuiltYet("UpdateCollection", missing: "the SQLite metadata store has not landed")
    }

    public func deleteCollection(request: Trove_V1_DeleteCollectionRequest, context: ServerContext) async throws -> Trove_V1_DeleteCollectionResponse {
        throw RPCError.notBuiltYet("DeleteCollection", missing: "the SQLite metadata store has not landed")
    }

    public func createDocument(request: Trove_V1_CreateDocumentRequest, context: ServerContext) async throws -> Trove_V1_CreateDocumentResponse {
        throw RPCError.notBuiltYet("CreateDocument", missing: "the SQLite metadata store has not landed")
    }

    public func getDocument(request: Trove_V1_GetDocumentRequest, context: ServerContext) async throws -> Trove_V1_GetDocumentResponse {
        throw RPCError.notBuiltYet("GetDocument", missing: "the SQLite metadata store has not landed")
    }

    public func listDocuments(request: Trove_V1_ListDocumentsRequest, context: ServerContext) async throws -> Trove_V1_ListDocumentsResponse {
        throw RPCError.notBuiltYet("ListDocuments", missing: "the SQLite metadata store has not landed")
    }

    public func updateDocument(request: Trove_V1_UpdateDocumentRequest, context: ServerContext) async throws -> Trove_V1_Document {
        throw RPCError.notBuiltYet("UpdateDocument", missing: "the SQLite metadata store has not landed")
    }

    public func updateDocumentStatus(request: Trove_V1_UpdateDocumentStatusRequest, context: ServerContext) async throws -> Trove_V1_Document {
        throw RPCError.notBuiltYet("UpdateDocumentStatus", missing: "the SQLite metadata store has not landed")
    }

    public func deleteDocument(request: Trove_V1_DeleteDocumentRequest, context: ServerContext) async throws -> Trove_V1_DeleteDocumentResponse {
        throw RPCError.notBuiltYet("DeleteDocument", missing: "the SQLite metadata store has not landed")
    }

    public func putChunks(request: Trove_V1_PutChunksRequest, context: ServerContext) async throws -> Trove_V1_PutChunksResponse {
        throw RPCError.notBuiltYet("PutChunks", missing: "the SQLite metadata store has not landed")
    }

    public func getChunks(request: Trove_V1_GetChunksRequest, context: ServerContext) async throws -> Trove_V1_GetChunksResponse {
        throw RPCError.notBuiltYet("GetChunks", missing: "the SQLite metadata store has not landed")
    }

    public func listChunks(request: Trove_V1_ListChunksRequest, context: ServerContext) async throws -> Trove_V1_ListChunksResponse {
        throw RPCError.notBuiltYet("ListChunks", missing: "the SQLite metadata store has not landed")
    }

    public func deleteChunks(request: Trove_V1_DeleteChunksRequest, context: ServerContext) async throws -> Trove_V1_DeleteChunksResponse {
        throw RPCError.notBuiltYet("DeleteChunks", missing: "the SQLite metadata store has not landed")
    }

    public func searchChunksText(request: Trove_V1_SearchChunksTextRequest, context: ServerContext) async throws -> Trove_V1_SearchChunksTextResponse {
        throw RPCError.notBuiltYet("SearchChunksText", missing: "the SQLite metadata store has not landed")
    }

    public func addRelationships(request: Trove_V1_AddRelationshipsRequest, context: ServerContext) async throws -> Trove_V1_AddRelationshipsResponse {
        throw RPCError.notBuiltYet("AddRelationships", missing: "the SQLite metadata store has not landed")
    }

    public func listRelationships(request: Trove_V1_ListRelationshipsRequest, context: ServerContext) async throws -> Trove_V1_ListRelationshipsResponse {
        throw RPCError.notBuiltYet("ListRelationships", missing: "the SQLite metadata store has not landed")
    }

    public func getNeighbors(request: Trove_V1_GetNeighborsRequest, context: ServerContext) async throws -> Trove_V1_GetNeighborsResponse {
        throw RPCError.notBuiltYet("GetNeighbors", missing: "the SQLite metadata store has not landed")
    }

    public func deleteRelationship(request: Trove_V1_DeleteRelationshipRequest, context: ServerContext) async throws -> Trove_V1_DeleteRelationshipResponse {
        throw RPCError.notBuiltYet("DeleteRelationship", missing: "the SQLite metadata store has not landed")
    }

    public func addAnnotation(request: Trove_V1_AddAnnotationRequest, context: ServerContext) async throws -> Trove_V1_Annotation {
        throw RPCError.notBuiltYet("AddAnnotation", missing: "the SQLite metadata store has not landed")
    }

    public func listAnnotations(request: Trove_V1_ListAnnotationsRequest, context: ServerContext) async throws -> Trove_V1_ListAnnotationsResponse {
        throw RPCError.notBuiltYet("ListAnnotations", missing: "the SQLite metadata store has not landed")
    }

    public func updateAnnotation(request: Trove_V1_UpdateAnnotationRequest, context: ServerContext) async throws -> Trove_V1_Annotation {
        throw RPCError.notBuiltYet("UpdateAnnotation", missing: "the SQLite metadata store has not landed")
    }

    public func deleteAnnotation(request: Trove_V1_DeleteAnnotationRequest, context: ServerContext) async throws -> Trove_V1_DeleteAnnotationResponse {
        throw RPCError.notBuiltYet("DeleteAnnotation", missing: "the SQLite metadata store has not landed")
    }

    public func putEmbeddingRecords(request: Trove_V1_PutEmbeddingRecordsRequest, context: ServerContext) async throws -> Trove_V1_PutEmbeddingRecordsResponse {
        throw RPCError.notBuiltYet("PutEmbeddingRecords", missing: "the SQLite metadata store has not landed")
    }

    public func listEmbeddingRecords(request: Trove_V1_ListEmbeddingRecordsRequest, context: ServerContext) async throws -> Trove_V1_ListEmbeddingRecordsResponse {
        throw RPCError.notBuiltYet("ListEmbeddingRecords", missing: "the SQLite metadata store has not landed")
    }

    public func deleteEmbeddingRecords(request: Trove_V1_DeleteEmbeddingRecordsRequest, context: ServerContext) async throws -> Trove_V1_DeleteEmbeddingRecordsResponse {
        throw RPCError.notBuiltYet("DeleteEmbeddingRecords", missing: "the SQLite metadata store has not landed")
    }

    public func getStats(request: Trove_V1_GetStatsRequest, context: ServerContext) async throws -> Trove_V1_GetStatsResponse {
        throw RPCError.notBuiltYet("GetStats", missing: "the SQLite metadata store has not landed")
    }

    public func applyRetention(request: Trove_V1_ApplyRetentionRequest, context: ServerContext) async throws -> Trove_V1_ApplyRetentionResponse {
        throw RPCError.notBuiltYet("ApplyRetention", missing: "the SQLite metadata store has not landed")
    }

    public func createApiKey(request: Trove_V1_CreateApiKeyRequest, context: ServerContext) async throws -> Trove_V1_CreateApiKeyResponse {
        throw RPCError.notBuiltYet("CreateApiKey", missing: "the SQLite metadata store has not landed")
    }

    public func listApiKeys(request: Trove_V1_ListApiKeysRequest, context: ServerContext) async throws -> Trove_V1_ListApiKeysResponse {
        throw RPCError.notBuiltYet("ListApiKeys", missing: "the SQLite metadata store has not landed")
    }

    public func revokeApiKey(request: Trove_V1_RevokeApiKeyRequest, context: ServerContext) async throws -> Trove_V1_RevokeApiKeyResponse {
        throw RPCError.notBuiltYet("RevokeApiKey", missing: "the SQLite metadata store has not landed")
    }

    public func authenticateApiKey(request: Trove_V1_AuthenticateApiKeyRequest, context: ServerContext) async throws -> Trove_V1_ApiKey {
        throw RPCError.notBuiltYet("AuthenticateApiKey", missing: "the SQLite metadata store has not landed")
    }

    public func recordAuditEvents(request: Trove_V1_RecordAuditEventsRequest, context: ServerContext) async throws -> Trove_V1_RecordAuditEventsResponse {
        throw RPCError.notBuiltYet("RecordAuditEvents", missing: "the SQLite metadata store has not landed")
    }

    public func listAuditEvents(request: Trove_V1_ListAuditEventsRequest, context: ServerContext) async throws -> Trove_V1_ListAuditEventsResponse {
        throw RPCError.notBuiltYet("ListAuditEvents", missing: "the SQLite metadata store has not landed")
    }
}
