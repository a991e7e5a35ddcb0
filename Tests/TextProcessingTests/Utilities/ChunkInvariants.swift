import Testing
import TextProcessing

/// Checks what must hold for any chunking of any text, whatever the policy.
///
/// - Each chunk's text is exactly the text's scalars `startOffset..<endOffset`, and starts and ends
///   with non-whitespace.
/// - Sequences are 0, 1, 2, …; chunks move forward; every non-whitespace scalar is in some chunk.
/// - Sizes are measured right and within the policy: scalar counts in characters mode; in tokens
///   mode the fake counter's count of the chunk text (its counts add up over the pieces), at most
///   `size` tokens and `maxScalars` scalars unless `sizesAreExact` is false.
/// - Without overlap, chunks do not overlap.
func expectChunkInvariants(
    _ chunks: [TextChunk],
    of text: String,
    policy: ChunkingPolicy,
    sizesAreExact: Bool = true,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let scalars = Array(text.unicodeScalars)
    var covered = 0  // every non-whitespace scalar before this offset is in a chunk
    for (index, chunk) in chunks.enumerated() {
        #expect(chunk.sequence == index, sourceLocation: sourceLocation)
        guard chunk.startOffset >= 0, chunk.startOffset < chunk.endOffset, chunk.endOffset <= scalars.count else {
            Issue.record(
                "chunk \(index) has offsets \(chunk.startOffset)..<\(chunk.endOffset)", sourceLocation: sourceLocation)
            return
        }
        let slice = scalars[chunk.startOffset..<chunk.endOffset]
        #expect(
            chunk.text == slice.string, "chunk \(index)'s text is not its scalar range", sourceLocation: sourceLocation)
        #expect(
            !slice.first!.properties.isWhitespace, "chunk \(index) starts with whitespace",
            sourceLocation: sourceLocation)
        #expect(
            !slice.last!.properties.isWhitespace, "chunk \(index) ends with whitespace", sourceLocation: sourceLocation)
        if index > 0 {
            let previous = chunks[index - 1]
            #expect(chunk.startOffset > previous.startOffset, sourceLocation: sourceLocation)
            #expect(chunk.endOffset > previous.endOffset, sourceLocation: sourceLocation)
            if policy.overlap == 0 {
                #expect(
                    chunk.startOffset >= previous.endOffset, "chunks \(index - 1) and \(index) overlap",
                    sourceLocation: sourceLocation)
            }
        }
        if covered < chunk.startOffset,
            let uncovered = scalars[covered..<chunk.startOffset].firstIndex(where: { !$0.properties.isWhitespace })
        {
            Issue.record("scalar \(uncovered) is in no chunk", sourceLocation: sourceLocation)
        }
        covered = max(covered, chunk.endOffset)

        switch policy.unit {
        case .characters:
            #expect(chunk.size == slice.count, sourceLocation: sourceLocation)
            #expect(
                chunk.size <= min(policy.size, policy.maxScalars), "chunk \(index) is too long",
                sourceLocation: sourceLocation)
        case .tokens:
            if sizesAreExact {
                #expect(
                    chunk.size == FakeTokenCounter.count(chunk.text), "chunk \(index)'s size",
                    sourceLocation: sourceLocation)
            }
            #expect(
                chunk.size <= policy.size, "chunk \(index) has \(chunk.size) tokens", sourceLocation: sourceLocation)
            #expect(
                slice.count <= policy.maxScalars, "chunk \(index) has \(slice.count) scalars",
                sourceLocation: sourceLocation)
        }
    }
    if let uncovered = scalars[covered...].firstIndex(where: { !$0.properties.isWhitespace }) {
        Issue.record("scalar \(uncovered) is in no chunk", sourceLocation: sourceLocation)
    }
}

extension ArraySlice where Element == Unicode.Scalar {
    var string: String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: self)
        return String(view)
    }
}

/// Chunks `text` with the fake token counter (or none in characters mode), checking the invariants.
func checkedChunks(
    _ text: String,
    _ policy: ChunkingPolicy,
    counter: FakeTokenCounter = FakeTokenCounter(),
    sourceLocation: SourceLocation = #_sourceLocation
) async throws -> [TextChunk] {
    let chunks = try await Chunker(policy: policy).chunk(
        text, countTokens: policy.unit == .tokens ? counter.countTokens : nil)
    expectChunkInvariants(chunks, of: text, policy: policy, sourceLocation: sourceLocation)
    #expect(
        counter.batchSizes.count <= 2, "the token counter was called \(counter.batchSizes.count) times",
        sourceLocation: sourceLocation)
    return chunks
}
