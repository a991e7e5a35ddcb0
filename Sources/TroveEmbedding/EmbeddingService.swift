import GRPCCore
import Logging
import TroveContracts
import TroveCore

/// The embedding service: text to vectors.
///
/// Every RPC of the contract is here; those not built yet answer UNIMPLEMENTED.
public struct EmbeddingService: Trove_V1_Embedding.SimpleServiceProtocol {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    public func embed(request: Trove_V1_EmbedRequest, context: ServerContext) async throws -> Trove_V1_EmbedResponse {
        throw RPCError.notBuiltYet("Embed", missing: "the embedding providers (all-MiniLM-L6-v2, hashing, OpenAI-compatible) have not landed")
    }

    public func embedStream(request: RPCAsyncSequence<Trove_V1_EmbedRequest, any Error>, response: RPCWriter<Trove_V1_EmbedResponse>, context: ServerContext) async throws {
        throw RPCError.notBuiltYet("EmbedStream", missing: "the embedding providers (all-MiniLM-L6-v2, hashing, OpenAI-compatible) have not landed")
    }

    public func listModels(request: Trove_V1_ListModelsRequest, context: ServerContext) async throws -> Trove_V1_ListModelsResponse {
        throw RPCError.notBuiltYet("ListModels", missing: "the embedding providers (all-MiniLM-L6-v2, hashing, OpenAI-compatible) have not landed")
    }

    public func tokenize(request: Trove_V1_TokenizeRequest, context: ServerContext) async throws -> Trove_V1_TokenizeResponse {
        throw RPCError.notBuiltYet("Tokenize", missing: "the embedding providers (all-MiniLM-L6-v2, hashing, OpenAI-compatible) have not landed")
    }
}
