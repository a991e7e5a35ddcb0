/// A passage of a text, with its exact place in it.
public struct TextChunk: Sendable, Hashable {
    /// The chunk's position among the text's chunks: 0, 1, 2, …
    public var sequence: Int
    /// Where the chunk starts in the text, in Unicode scalars (not Characters, not UTF-8 bytes).
    public var startOffset: Int
    /// Where the chunk ends in the text, in Unicode scalars; greater than `startOffset`.
    public var endOffset: Int
    /// The text's scalars from `startOffset` up to `endOffset`.
    public var text: String
    /// The size in the policy's unit: the sum of its pieces' token counts, or its scalar count.
    public var size: Int

    /// Creates a chunk.
    public init(sequence: Int, startOffset: Int, endOffset: Int, text: String, size: Int) {
        self.sequence = sequence
        self.startOffset = startOffset
        self.endOffset = endOffset
        self.text = text
        self.size = size
    }
}
