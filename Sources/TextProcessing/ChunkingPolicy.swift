/// What a chunk's size is measured in.
public enum ChunkUnit: String, Sendable {
    /// WordPiece tokens of the embedding model, without `[CLS]`/`[SEP]`.
    case tokens
    /// Unicode scalars.
    case characters
}

/// How a text is cut into chunks: their size, their overlap and a hard cap on their length.
public struct ChunkingPolicy: Sendable, Hashable {
    /// What `size` and `overlap` are measured in.
    public var unit: ChunkUnit
    /// The target maximum size of a chunk in `unit`s (> 0).
    public var size: Int
    /// How much of the end of a chunk the next one repeats, in `unit`s (0 ≤ overlap < size).
    public var overlap: Int
    /// Hard cap on a chunk's length in Unicode scalars whatever the unit. In tokens mode a word of
    /// 10,000 scalars is one `[UNK]` token, so without it a chunk could be enormous.
    public var maxScalars: Int

    /// Creates a policy; `maxScalars` defaults to `size * 12` for tokens and `size` for characters.
    public init(unit: ChunkUnit, size: Int, overlap: Int, maxScalars: Int? = nil) {
        self.unit = unit
        self.size = size
        self.overlap = overlap
        if let maxScalars {
            self.maxScalars = maxScalars
        } else if unit == .tokens {
            let (product, overflow) = size.multipliedReportingOverflow(by: 12)
            self.maxScalars = overflow ? Int.max : product
        } else {
            self.maxScalars = size
        }
    }

    /// Throws a ChunkingError naming the field ("size", "overlap", "maxScalars") when invalid.
    public func validated() throws(ChunkingError) -> ChunkingPolicy {
        guard size > 0 else {
            throw ChunkingError(field: "size", message: "must be greater than 0, got \(size)")
        }
        guard overlap >= 0 && overlap < size else {
            throw ChunkingError(
                field: "overlap", message: "must be at least 0 and less than size (\(size)), got \(overlap)")
        }
        guard maxScalars > 0 else {
            throw ChunkingError(field: "maxScalars", message: "must be greater than 0, got \(maxScalars)")
        }
        return self
    }
}
