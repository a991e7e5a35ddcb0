/// Signed feature hashing of word unigrams and bigrams: deterministic, any dimension, no model
/// files. Not semantic — for air-gapped tests, and as a fallback a user must choose.
///
/// A text is lower-cased and split into words (runs of letters and digits); each word and each
/// pair of neighbouring words is hashed with 64-bit FNV-1a, which picks an index (the hash modulo
/// the dimension) and a sign (its top bit). The sums are L2-normalised. The same text gives the
/// same vector in every process and on every machine.
public struct HashingProvider: EmbeddingProvider {
    /// The most words of a text that are hashed.
    public static let maxWords = 8192

    public let providerName = "hashing"
    public let modalities: Set<EmbeddingModality> = [.text]
    public let dimension: Int
    public var maxTokens: Int { Self.maxWords }
    public var modelID: String { "hashing-\(self.dimension)" }
    public var unavailableReason: String? { nil }

    /// Creates a provider for vectors of `dimension` floats.
    public init(dimension: Int = 384) {
        precondition(dimension >= 1, "dimension must be at least 1")
        self.dimension = dimension
    }

    public func embed(_ texts: [String]) async throws -> [TextVector] {
        texts.map(self.vector(for:))
    }

    public func tokenize(_ texts: [String]) async throws -> [TextTokens] {
        texts.map { text in
            let words = Self.words(of: text)
            return TextTokens(ids: words.map { UInt32(truncatingIfNeeded: Self.fnv1a($0)) }, isTruncated: words.count > Self.maxWords)
        }
    }

    /// The text's vector; a text without words gives the zero vector.
    public func vector(for text: String) -> TextVector {
        let allWords = Self.words(of: text)
        let words = allWords.prefix(Self.maxWords)
        var values = [Float](repeating: 0, count: self.dimension)
        func add(_ hash: UInt64) {
            let index = Int(hash % UInt64(self.dimension))
            values[index] += (hash >> 63) == 0 ? 1 : -1
        }
        var previous: [UInt8]?
        for word in words {
            add(Self.fnv1a(word))
            if let previous {
                // A space cannot occur inside a word, so a bigram never hashes like a unigram.
                add(Self.fnv1a(previous + [0x20] + word))
            }
            previous = word
        }
        var norm: Float = 0
        for value in values { norm += value * value }
        norm = norm.squareRoot()
        if norm > 0 {
            for index in values.indices { values[index] /= norm }
        }
        return TextVector(values: values, tokenCount: words.count, isTruncated: allWords.count > Self.maxWords)
    }

    /// The lower-cased words of a text, as UTF-8.
    static func words(of text: String) -> [[UInt8]] {
        var words: [[UInt8]] = []
        var current = ""
        for character in text.lowercased() {
            if character.isLetter || character.isNumber {
                current.append(character)
            } else if !current.isEmpty {
                words.append(Array(current.utf8))
                current = ""
            }
        }
        if !current.isEmpty { words.append(Array(current.utf8)) }
        return words
    }

    /// 64-bit FNV-1a: stable across processes, unlike Swift's seeded `Hasher`.
    static func fnv1a(_ bytes: [UInt8]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }
}
