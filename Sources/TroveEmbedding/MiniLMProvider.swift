import Foundation
import TextEmbedding

/// all-MiniLM-L6-v2, built in: the default provider. Concurrent requests share the model's
/// passes through a `DynamicBatcher`, which runs as many passes at once as the model has threads
/// (see `DynamicBatcher` for how a pass's threads are chosen).
///
/// Without the model's files the provider still exists: it is listed as unavailable, and
/// embedding or tokenizing answers FAILED_PRECONDITION naming `Scripts/fetch-model.sh`.
public final class MiniLMProvider: EmbeddingProvider {
    /// How the model is loaded and batched.
    public struct Configuration: Sendable {
        /// The directory holding `config.json`, `model.safetensors` and `vocab.txt`.
        public var modelDirectory: URL
        /// Threads for the matrix products; `nil` means one per core.
        public var threadCount: Int?
        /// How concurrent texts are grouped into passes; its `concurrentPasses` is set to the
        /// thread count.
        public var batching: DynamicBatcher.Configuration

        /// Creates a configuration.
        public init(modelDirectory: URL, threadCount: Int? = nil, batching: DynamicBatcher.Configuration = .init()) {
            self.modelDirectory = modelDirectory
            self.threadCount = threadCount
            self.batching = batching
        }
    }

    public let providerName = "minilm"
    public let modalities: Set<EmbeddingModality> = [.text]
    public var modelID: String { MiniLMEmbedder.modelID }
    public var dimension: Int { self.embedder?.dimension ?? 384 }
    public var maxTokens: Int { self.embedder?.maxTokens ?? 256 }
    public let unavailableReason: String?

    private let embedder: MiniLMEmbedder?
    /// `nil` when the model could not be loaded.
    public let batcher: DynamicBatcher?

    /// Loads the model; a model that cannot be loaded leaves the provider unavailable, with the reason.
    public init(configuration: Configuration) {
        do {
            let threadCount = configuration.threadCount ?? ProcessInfo.processInfo.activeProcessorCount
            let embedder = try MiniLMEmbedder(
                modelDirectory: configuration.modelDirectory,
                configuration: .init(threadCount: threadCount, concurrentPasses: threadCount)
            )
            var batching = configuration.batching
            batching.concurrentPasses = threadCount
            self.embedder = embedder
            self.batcher = DynamicBatcher(configuration: batching, name: "trove.minilm") { texts, threads in
                try embedder.embeddings(for: texts, threads: threads).map {
                    TextVector(values: $0.vector, tokenCount: $0.tokenCount, isTruncated: $0.isTruncated)
                }
            }
            self.unavailableReason = nil
        } catch let error as TextEmbeddingError where error.code == .modelNotFound {
            self.embedder = nil
            self.batcher = nil
            self.unavailableReason = "\(MiniLMEmbedder.modelID) is not installed: \(error.message); run Scripts/fetch-model.sh"
        } catch {
            self.embedder = nil
            self.batcher = nil
            self.unavailableReason = "\(MiniLMEmbedder.modelID) in \(configuration.modelDirectory.path) cannot be loaded: \(error); run Scripts/fetch-model.sh to fetch it again"
        }
    }

    public func embed(_ texts: [String]) async throws -> [TextVector] {
        guard let batcher = self.batcher else { throw self.unavailable }
        return try await batcher.embed(texts)
    }

    public func tokenize(_ texts: [String]) async throws -> [TextTokens] {
        guard let embedder = self.embedder else { throw self.unavailable }
        let tokenizer = embedder.tokenizer
        let maxTokens = embedder.maxTokens
        return texts.map { text in
            var ids = [UInt32(bitPattern: tokenizer.classID)]
            ids += tokenizer.tokenIDs(text).map { UInt32(bitPattern: $0) }
            ids.append(UInt32(bitPattern: tokenizer.separatorID))
            return TextTokens(ids: ids, isTruncated: ids.count > maxTokens)
        }
    }

    private var unavailable: EmbeddingError {
        EmbeddingError(code: .modelUnavailable, field: "model", message: self.unavailableReason ?? "the model is not loaded")
    }
}
