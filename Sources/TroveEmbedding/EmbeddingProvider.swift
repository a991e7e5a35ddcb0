/// What kind of input a model embeds.
public enum EmbeddingModality: Sendable, Hashable {
    case text
    case image
    case audio
}

/// One text's vector and what the model saw of the text.
public struct TextVector: Sendable, Equatable {
    /// The vector, `dimension` floats.
    public var values: [Float]
    /// Tokens the model saw, special ones included.
    public var tokenCount: Int
    /// Whether the text was longer than the model's maximum and its end was not embedded.
    public var isTruncated: Bool

    /// Creates a vector.
    public init(values: [Float], tokenCount: Int, isTruncated: Bool) {
        self.values = values
        self.tokenCount = tokenCount
        self.isTruncated = isTruncated
    }
}

/// One text's tokens, counted before truncation.
public struct TextTokens: Sendable, Equatable {
    /// The token ids, special ones included, before truncation.
    public var ids: [UInt32]
    /// Whether embedding the text would cut it.
    public var isTruncated: Bool

    /// Creates a tokenization.
    public init(ids: [UInt32], isTruncated: Bool) {
        self.ids = ids
        self.isTruncated = isTruncated
    }
}

/// A source of embeddings: the built-in model, feature hashing, or a remote HTTP API.
public protocol EmbeddingProvider: Sendable {
    /// The model id clients name in requests, e.g. `all-MiniLM-L6-v2`.
    var modelID: String { get }
    /// The provider's name in `ListModels`: `minilm`, `hashing`, `openai-compatible`.
    var providerName: String { get }
    /// The length of every vector.
    var dimension: Int { get }
    /// The most tokens of a text that are embedded, special ones included.
    var maxTokens: Int { get }
    /// The inputs the model embeds.
    var modalities: Set<EmbeddingModality> { get }
    /// Why the model cannot be used (files missing, say, and how to get them); `nil` when it can.
    var unavailableReason: String? { get }

    /// Each text's vector, in order.
    func embed(_ texts: [String]) async throws -> [TextVector]
    /// Each text's tokens, in order.
    func tokenize(_ texts: [String]) async throws -> [TextTokens]
}
