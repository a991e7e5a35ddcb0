import GRPCCore
import Logging
import TroveContracts
import TroveCore

/// The embedding service: text to vectors, through the configured providers.
public struct EmbeddingService: Trove_V1_Embedding.SimpleServiceProtocol {
    /// What a request may hold.
    public struct Limits: Sendable {
        /// The most texts in one Embed or Tokenize request.
        public var maxTextsPerRequest: Int
        /// The largest text, in UTF-8 bytes.
        public var maxTextBytes: Int

        /// Creates limits.
        public init(maxTextsPerRequest: Int = 2048, maxTextBytes: Int = 1 << 20) {
            self.maxTextsPerRequest = maxTextsPerRequest
            self.maxTextBytes = maxTextBytes
        }
    }

    /// The providers served; the first answers requests that name no model.
    public let providers: [any EmbeddingProvider]
    let limits: Limits
    let logger: Logger

    /// Serves `providers`, the first being the default.
    public init(providers: [any EmbeddingProvider], limits: Limits = Limits(), logger: Logger) {
        precondition(!providers.isEmpty, "the embedding service needs a provider")
        self.providers = providers
        self.limits = limits
        self.logger = logger
    }

    public func embed(request: Trove_V1_EmbedRequest, context: ServerContext) async throws -> Trove_V1_EmbedResponse {
        // gRPC reports a cancelled call (the client gave up, its deadline passed) through the
        // handle, not by cancelling this task: cancel the work so its queued texts leave the batch.
        let work = Task { try await self.embed(request) }
        return try await withRPCCancellationHandler {
            try await work.value
        } onCancelRPC: {
            work.cancel()
        }
    }

    public func embedStream(
        request: RPCAsyncSequence<Trove_V1_EmbedRequest, any Error>,
        response: RPCWriter<Trove_V1_EmbedResponse>,
        context: ServerContext
    ) async throws {
        // One message at a time keeps the answers in order and bounds what either side holds.
        for try await message in request {
            try await response.write(try await self.embed(message))
        }
    }

    public func listModels(request: Trove_V1_ListModelsRequest, context: ServerContext) async throws -> Trove_V1_ListModelsResponse {
        .with {
            $0.models = self.providers.enumerated().map { index, provider in
                .with {
                    $0.id = provider.modelID
                    $0.provider = provider.providerName
                    $0.dimension = UInt32(provider.dimension)
                    $0.maxTokens = UInt32(provider.maxTokens)
                    $0.modalities = [EmbeddingModality.text, .image, .audio].filter(provider.modalities.contains).map(\.proto)
                    $0.available = provider.unavailableReason == nil
                    $0.unavailableReason = provider.unavailableReason ?? ""
                    $0.isDefault = index == 0
                }
            }
        }
    }

    public func tokenize(request: Trove_V1_TokenizeRequest, context: ServerContext) async throws -> Trove_V1_TokenizeResponse {
        let provider = try self.provider(named: request.model)
        if request.includeOffsets {
            throw EmbeddingError(code: .unimplemented, field: "include_offsets", message: "token offsets are not available yet; token counts and ids are")
        }
        if request.texts.isEmpty {
            throw EmbeddingError(code: .invalidArgument, field: "texts", message: "give at least one text")
        }
        try self.checkCount(request.texts.count, field: "texts")
        for (index, text) in request.texts.enumerated() {
            try self.checkSize(text, field: "texts[\(index)]")
        }
        let tokenized = try await provider.tokenize(request.texts)
        return .with {
            $0.model = provider.modelID
            $0.texts = tokenized.map { tokens in
                .with {
                    $0.tokenCount = UInt32(tokens.ids.count)
                    $0.truncated = tokens.isTruncated
                    if request.includeIds { $0.ids = tokens.ids }
                }
            }
        }
    }

    private func embed(_ request: Trove_V1_EmbedRequest) async throws -> Trove_V1_EmbedResponse {
        let provider = try self.provider(named: request.model)
        let total = request.inputs.count + request.texts.count
        if total == 0 {
            throw EmbeddingError(code: .invalidArgument, field: "texts", message: "give at least one text (in texts or inputs)")
        }
        try self.checkCount(total, field: "texts")
        var texts: [String] = []
        texts.reserveCapacity(total)
        for (index, input) in request.inputs.enumerated() {
            let field = "inputs[\(index)]"
            switch input.content {
            case .text(let text):
                try self.checkText(text, field: field)
                texts.append(text)
            case .image:
                try self.checkModality(.image, of: provider, field: field)
            case .audio:
                try self.checkModality(.audio, of: provider, field: field)
            case nil:
                throw EmbeddingError(code: .invalidArgument, field: field, message: "set text, image or audio")
            }
        }
        for (index, text) in request.texts.enumerated() {
            try self.checkText(text, field: "texts[\(index)]")
            texts.append(text)
        }
        let vectors = try await provider.embed(texts)
        return .with {
            $0.model = provider.modelID
            $0.dimension = UInt32(provider.dimension)
            $0.embeddings = vectors.map { vector in
                .with {
                    $0.values = vector.values
                    $0.tokenCount = UInt32(vector.tokenCount)
                    $0.truncated = vector.isTruncated
                }
            }
        }
    }

    private func provider(named model: String) throws -> any EmbeddingProvider {
        if model.isEmpty { return self.providers[0] }
        guard let provider = self.providers.first(where: { $0.modelID == model }) else {
            let known = self.providers.map(\.modelID).joined(separator: ", ")
            throw EmbeddingError(code: .notFound, field: "model", message: "no model '\(model)' here; the models are: \(known)")
        }
        return provider
    }

    private func checkCount(_ count: Int, field: String) throws {
        if count > self.limits.maxTextsPerRequest {
            throw EmbeddingError(
                code: .invalidArgument,
                field: field,
                message: "\(count) texts is more than the \(self.limits.maxTextsPerRequest) one request may hold (embedding.max_texts_per_request); split the batch or use EmbedStream"
            )
        }
    }

    private func checkSize(_ text: String, field: String) throws {
        if text.utf8.count > self.limits.maxTextBytes {
            throw EmbeddingError(
                code: .invalidArgument,
                field: field,
                message: "\(text.utf8.count) bytes is more than the \(self.limits.maxTextBytes) a text may hold (embedding.max_text_bytes); chunk it first"
            )
        }
    }

    private func checkText(_ text: String, field: String) throws {
        if text.isEmpty {
            throw EmbeddingError(code: .invalidArgument, field: field, message: "the text is empty")
        }
        try self.checkSize(text, field: field)
    }

    private func checkModality(_ modality: EmbeddingModality, of provider: any EmbeddingProvider, field: String) throws {
        guard provider.modalities.contains(modality) else {
            throw EmbeddingError(
                code: .unimplemented,
                field: field,
                message: "\(provider.modelID) (\(provider.providerName)) embeds only \(provider.modalities.map { "\($0)" }.sorted().joined(separator: ", ")), not \(modality)"
            )
        }
        // No provider here embeds images or audio yet, so one that claims to has nothing to call.
        throw EmbeddingError(code: .unimplemented, field: field, message: "\(modality) embedding is not built yet")
    }
}

extension EmbeddingModality {
    var proto: Trove_V1_Modality {
        switch self {
        case .text: .text
        case .image: .image
        case .audio: .audio
        }
    }
}
