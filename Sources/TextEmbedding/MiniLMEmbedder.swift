import COpenBLAS
import CVectorKernels
import Foundation
import Synchronization

/// sentence-transformers' all-MiniLM-L6-v2 in-process: WordPiece tokens, the 6-layer BERT
/// encoder, mean pooling over the tokens, L2 normalisation; 384-dimensional unit vectors that
/// match sentence-transformers' within 1e-5.
///
/// Thread-safety: `Sendable`, and safe to call from any task or thread. At most
/// `concurrentPasses` passes run the model at once (one by default), each under a lock that
/// guards its reused buffers: further callers queue rather than each holding a copy of the
/// buffers. The parallelism is inside a pass, over `threadCount` threads (or as many as the call
/// asks for) that each run their products single-threaded (in Trove's AVX-512 kernel or in
/// OpenBLAS). Calls block their thread for the length of a pass (milliseconds to about a second
/// for a large batch); run them off latency-sensitive executors, and batch texts into one call
/// rather than making many small ones.
public final class MiniLMEmbedder: Sendable {
    /// How the embedder runs.
    public struct Configuration: Sendable {
        /// Threads a pass is split over; `nil`: one per core. OpenBLAS is set to one thread of
        /// its own (a process-wide setting), since the pass divides the work itself.
        public var threadCount: Int?
        /// The most tokens one forward pass takes; larger batches run as several passes. Bounds
        /// the buffers a pass keeps: about 15 KiB per token.
        public var maxTokensPerPass: Int
        /// Whether the dense layers run in Trove's AVX-512 kernel over weights packed once at
        /// load (the default where the CPU has AVX-512F; `true` elsewhere stops the program when
        /// the model loads); `false`: every product through OpenBLAS, which packs the weights
        /// again on each call.
        public var packedWeights: Bool
        /// Passes that may run at once, each with buffers of its own (see `maxTokensPerPass`);
        /// for a caller that runs several passes side by side, each on fewer threads.
        public var concurrentPasses: Int

        /// Creates a configuration.
        public init(
            threadCount: Int? = nil, maxTokensPerPass: Int = 4096, packedWeights: Bool = MiniLMEmbedder.packedWeightsSupported,
            concurrentPasses: Int = 1
        ) {
            self.threadCount = threadCount
            self.maxTokensPerPass = maxTokensPerPass
            self.packedWeights = packedWeights
            self.concurrentPasses = concurrentPasses
        }
    }

    /// A text's embedding and what the model saw of the text.
    public struct Embedding: Sendable, Equatable {
        /// The unit-length vector, `dimension` floats.
        public var vector: [Float]
        /// Tokens the model saw, `[CLS]` and `[SEP]` included: at most `maxTokens`.
        public var tokenCount: Int
        /// Whether the text was longer than `maxTokens` tokens and its end was not embedded.
        public var isTruncated: Bool

        /// Creates an embedding.
        public init(vector: [Float], tokenCount: Int, isTruncated: Bool) {
            self.vector = vector
            self.tokenCount = tokenCount
            self.isTruncated = isTruncated
        }
    }

    /// Whether this CPU can run the dense layers over packed weights (it has AVX-512F).
    public static var packedWeightsSupported: Bool { BertModel.packedWeightsSupported }

    /// What one core of this CPU reaches, in GFLOP/s, running nothing but independent fused
    /// multiply-adds for about `seconds` (`trove_fma_peak_gflops`): the ceiling of the model's
    /// matrix products on that core. 0 on a CPU with neither AVX-512F nor AVX2 and FMA.
    public static func coreFMAPeak(seconds: Double = 0.5) -> Double {
        trove_fma_peak_gflops(seconds)
    }

    /// What the dense layers' product kernel reaches on one core, in GFLOP/s, on a tile whose
    /// operands never leave L1 (`trove_gemm_packed_tile_gflops`): the most any of the model's
    /// products can reach there, a little under `coreFMAPeak` because the kernel also loads its
    /// operands. 0 where the dense layers run through OpenBLAS (no AVX-512F).
    public static func tileProductRate(seconds: Double = 0.5) -> Double {
        packedWeightsSupported ? trove_gemm_packed_tile_gflops(seconds) : 0
    }

    /// The model's name as sentence-transformers publishes it.
    public static let modelID = "all-MiniLM-L6-v2"
    /// Where `Scripts/fetch-model.sh` puts the model, relative to the repository root.
    public static let defaultModelPath = ".trove-model/all-MiniLM-L6-v2"

    /// The model's name, `all-MiniLM-L6-v2`.
    public var modelID: String { Self.modelID }
    /// The length of every vector: 384.
    public let dimension: Int
    /// The most tokens of a text that are embedded, `[CLS]` and `[SEP]` included: 256.
    public let maxTokens: Int
    /// The tokenizer, for counting tokens without embedding.
    public let tokenizer: WordPieceTokenizer

    private let configuration: Configuration
    private let model: BertModel
    /// The buffers of the passes that may run at once, one slot each.
    private let workspaces: [WorkspaceSlot]
    /// The slot a caller waits for when every slot is taken.
    private let nextWorkspace = Atomic(0)

    /// Loads the model from a sentence-transformers directory: `config.json`, `model.safetensors`
    /// (F32), `vocab.txt`, and, when present, `sentence_bert_config.json` and `1_Pooling/config.json`.
    public init(modelDirectory: URL, configuration: Configuration = Configuration()) throws {
        precondition(configuration.threadCount.map { $0 >= 1 } ?? true, "threadCount must be at least 1")
        precondition(configuration.concurrentPasses >= 1, "concurrentPasses must be at least 1")
        let fileManager = FileManager.default
        for name in ["config.json", "model.safetensors", "vocab.txt"] {
            let path = modelDirectory.appendingPathComponent(name).path
            guard fileManager.fileExists(atPath: path) else {
                throw TextEmbeddingError(
                    code: .modelNotFound,
                    message: "\(path) does not exist; Scripts/fetch-model.sh fetches \(Self.modelID) into \(Self.defaultModelPath)")
            }
        }
        let bertConfiguration = try BertModel.Configuration(
            contentsOf: modelDirectory.appendingPathComponent("config.json"))
        let maxTokens = try Self.readMaxSequenceLength(modelDirectory: modelDirectory) ?? 256
        try Self.checkPooling(modelDirectory: modelDirectory)
        guard maxTokens >= 2, maxTokens <= bertConfiguration.maxPositions else {
            throw TextEmbeddingError(
                code: .invalidModel,
                message: "max_seq_length \(maxTokens) is outside 2...\(bertConfiguration.maxPositions)")
        }
        let tokenizer = try WordPieceTokenizer(vocabularyFile: modelDirectory.appendingPathComponent("vocab.txt"))
        guard tokenizer.vocabularySize <= bertConfiguration.vocabularySize else {
            throw TextEmbeddingError(
                code: .invalidModel,
                message: "vocab.txt has \(tokenizer.vocabularySize) tokens but the model embeds \(bertConfiguration.vocabularySize)")
        }
        precondition(configuration.maxTokensPerPass >= maxTokens, "maxTokensPerPass must hold one whole text")
        openblas_set_num_threads(1)
        self.model = try BertModel(
            configuration: bertConfiguration, weightsFile: modelDirectory.appendingPathComponent("model.safetensors"),
            packWeights: configuration.packedWeights)
        self.model.parallelism = configuration.threadCount ?? ProcessInfo.processInfo.activeProcessorCount
        self.tokenizer = tokenizer
        self.dimension = bertConfiguration.hiddenSize
        self.maxTokens = maxTokens
        self.configuration = configuration
        self.workspaces = (0..<configuration.concurrentPasses).map { _ in WorkspaceSlot(configuration: bertConfiguration) }
    }

    /// A text's token ids as the model sees them, `[CLS]` … `[SEP]`, cut to `maxTokens`.
    public func tokenize(_ text: String) -> TokenizedText {
        tokenizer.encode(text, maxLength: maxTokens)
    }

    /// The floating-point operations (a multiply and an add counted apart) of the matrix products
    /// of embedding texts of `tokenCounts` tokens each (`tokenize(_:)`, `[CLS]` and `[SEP]`
    /// included): what a pass cannot do without, whatever runs it. Dividing by a pass's time
    /// gives the rate it reached, to set beside `coreFMAPeak`.
    public func productOperations(tokenCounts: [Int]) -> Double {
        model.configuration.productOperations(tokenCounts: tokenCounts)
    }

    /// The unit-length embedding of each text, in order.
    public func embed(_ texts: [String]) throws -> [[Float]] {
        try embeddings(for: texts).map(\.vector)
    }

    /// Each text's embedding with its token count and whether it was truncated, in order; the
    /// passes run on `threads` threads (`nil`: the configured `threadCount`).
    public func embeddings(for texts: [String], threads: Int? = nil) throws -> [Embedding] {
        precondition(threads.map { $0 >= 1 } ?? true, "threads must be at least 1")
        let tokenized = texts.map(tokenize)
        var results: [Embedding] = []
        results.reserveCapacity(texts.count)
        var start = 0
        while start < tokenized.count {
            // As many texts as fit in one pass; a pass always takes at least one.
            var end = start
            var tokens = 0
            while end < tokenized.count, end == start || tokens + tokenized[end].ids.count <= configuration.maxTokensPerPass {
                tokens += tokenized[end].ids.count
                end += 1
            }
            let batch = tokenized[start..<end]
            let vectors = withWorkspace { workspace in
                let states = model.encode(batch.map(\.ids), workspace: workspace, threads: threads)
                return Self.meanPooledUnitVectors(states, lengths: batch.map(\.ids.count), width: dimension)
            }
            for (text, vector) in zip(batch, vectors) {
                results.append(Embedding(vector: vector, tokenCount: text.ids.count, isTruncated: text.isTruncated))
            }
            start = end
        }
        return results
    }

    /// Runs `body` with a workspace no other pass is using: a free one if there is one, else the
    /// next in turn once its pass ends.
    private func withWorkspace(_ body: (BertModel.Workspace) -> [[Float]]) -> [[Float]] {
        for slot in workspaces {
            if let vectors = slot.workspace.withLockIfAvailable({ body($0) }) { return vectors }
        }
        let slot = workspaces[nextWorkspace.add(1, ordering: .relaxed).oldValue % workspaces.count]
        return slot.workspace.withLock { body($0) }
    }

    /// sentence-transformers' `Pooling` (mean over the text's tokens) then `Normalize` (divide by
    /// the L2 norm, at least 1e-12).
    private static func meanPooledUnitVectors(_ states: UnsafePointer<Float>, lengths: [Int], width: Int) -> [[Float]] {
        var vectors: [[Float]] = []
        vectors.reserveCapacity(lengths.count)
        var sums = [Double](repeating: 0, count: width)
        var row = states
        for length in lengths {
            for j in 0..<width { sums[j] = 0 }
            for _ in 0..<length {
                for j in 0..<width { sums[j] += Double(row[j]) }
                row += width
            }
            let count = Double(max(length, 1))
            var norm = 0.0
            for j in 0..<width {
                sums[j] /= count
                norm += sums[j] * sums[j]
            }
            let scale = 1 / max(norm.squareRoot(), 1e-12)
            vectors.append(sums.map { Float($0 * scale) })
        }
        return vectors
    }

    private static func readMaxSequenceLength(modelDirectory: URL) throws -> Int? {
        struct File: Decodable { var max_seq_length: Int? }
        let url = modelDirectory.appendingPathComponent("sentence_bert_config.json")
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        do {
            return try JSONDecoder().decode(File.self, from: Data(contentsOf: url)).max_seq_length
        } catch {
            throw TextEmbeddingError(code: .invalidModel, message: "cannot read \(url.path)", cause: error)
        }
    }

    /// Only mean pooling is implemented; a model configured otherwise must not load.
    private static func checkPooling(modelDirectory: URL) throws {
        struct File: Decodable {
            var pooling_mode_cls_token: Bool?
            var pooling_mode_mean_tokens: Bool?
            var pooling_mode_max_tokens: Bool?
            var pooling_mode_mean_sqrt_len_tokens: Bool?
        }
        let url = modelDirectory.appendingPathComponent("1_Pooling/config.json")
        guard FileManager.default.fileExists(atPath: url.path) else { return }
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: Data(contentsOf: url))
        } catch {
            throw TextEmbeddingError(code: .invalidModel, message: "cannot read \(url.path)", cause: error)
        }
        guard file.pooling_mode_mean_tokens == true, file.pooling_mode_cls_token != true,
            file.pooling_mode_max_tokens != true, file.pooling_mode_mean_sqrt_len_tokens != true
        else {
            throw TextEmbeddingError(code: .invalidModel, message: "\(url.path): only mean pooling is supported")
        }
    }
}

/// One pass's buffers and the lock that gives them to one pass at a time.
private final class WorkspaceSlot: Sendable {
    let workspace: Mutex<BertModel.Workspace>

    init(configuration: BertModel.Configuration) {
        self.workspace = Mutex(BertModel.Workspace(configuration: configuration))
    }
}
