/// Cuts text into chunks for embedding: paragraph and sentence aware, with exact offsets.
///
/// The text is cut into paragraphs (at blank lines), paragraphs into sentences, a sentence too big
/// for a chunk into words, and a word too long into hard scalar splits (in tokens mode where BERT
/// splits words too, when there is such a place). In tokens mode a piece with more tokens than a
/// chunk holds is cut into BERT's pre-tokens. The pieces are packed greedily into chunks of at most
/// `size` units and `maxScalars` scalars. A chunk at least half full ends with its paragraph (unless
/// the rest of the text, a quarter of a chunk at most, fits in it), and a chunk never ends inside a
/// sentence unless the sentence alone is bigger than a chunk. A chunk that does not end a paragraph
/// is followed by one that starts with its trailing pieces, up to `overlap` units.
///
/// Offsets count Unicode scalars of the text as given; everything runs in linear time on the
/// scalars, never on `Character`s.
public struct Chunker: Sendable {
    /// The policy chunks are cut by.
    public var policy: ChunkingPolicy

    /// Creates a chunker; the policy is validated when chunking.
    public init(policy: ChunkingPolicy) {
        self.policy = policy
    }

    /// The chunks of `text`; none for an empty or whitespace-only text.
    ///
    /// In characters mode `countTokens` is not used and may be nil. In tokens mode it is required: it
    /// is given a batch of pieces of the text and returns the number of WordPiece tokens of each,
    /// without special tokens. It is called at most twice: once for every sentence (or, for a
    /// sentence longer than `maxScalars`, its words and hard splits of longer words), then, if some
    /// have more than `size` tokens, once for their pre-tokens (what BERT's basic tokenizer makes
    /// words: split at whitespace and punctuation, CJK ideographs alone). A pre-token still bigger
    /// than `size` (a long word when `size` is small) is split by scalars with its count shared out
    /// in proportion, rounded up: an estimate, the only one.
    public func chunk(
        _ text: String,
        countTokens: (@Sendable ([Substring]) async throws -> [Int])?
    ) async throws -> [TextChunk] {
        let policy = try self.policy.validated()
        var text = text
        // Scalar offsets become string indices through UTF-8 offsets, in O(1) only for native UTF-8.
        text.makeContiguousUTF8()
        // One decoding pass: `Array(text.unicodeScalars)` would make two, counting first.
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            scalars.append(scalar)
        }
        let segmenter = TextSegmenter(scalars: scalars)
        let sentences = segmenter.sentences()
        guard !sentences.isEmpty else { return [] }

        let pieces: [TextPiece]
        let packer: ChunkPacker
        switch policy.unit {
        case .characters:
            let capacity = min(policy.size, policy.maxScalars)
            var bounded: [TextPiece] = []
            bounded.reserveCapacity(sentences.count)
            for sentence in sentences {
                segmenter.appendBounded(sentence, maxLength: capacity, forTokens: false, into: &bounded)
            }
            pieces = bounded
            packer = ChunkPacker(
                pieces: pieces, measuresUnits: false, capacity: capacity, overlap: policy.overlap,
                maxScalars: capacity)
        case .tokens:
            guard let countTokens else {
                throw ChunkingError(field: "countTokens", message: "a token counter is needed to chunk by tokens")
            }
            pieces = try await tokenPieces(
                of: sentences, segmenter: segmenter, text: text, policy: policy, countTokens: countTokens)
            packer = ChunkPacker(
                pieces: pieces, measuresUnits: true, capacity: policy.size, overlap: policy.overlap,
                maxScalars: policy.maxScalars)
        }

        let ranges = packer.chunkRanges()
        var chunks: [TextChunk] = []
        chunks.reserveCapacity(ranges.count)
        // Starts and ends both only move forward, so two cursors find every index in one pass.
        var startCursor = ScalarOffsetCursor()
        var endCursor = ScalarOffsetCursor()
        for (sequence, range) in ranges.enumerated() {
            let start = pieces[range.lowerBound].start
            let end = pieces[range.upperBound].end
            let lower = startCursor.index(at: start, in: text, scalars: scalars)
            let upper = endCursor.index(at: end, in: text, scalars: scalars)
            chunks.append(
                TextChunk(
                    sequence: sequence, startOffset: start, endOffset: end,
                    text: String(text[lower..<upper]),
                    size: packer.measure(range.lowerBound, range.upperBound)))
        }
        return chunks
    }

    /// The pieces for tokens mode, each with its token count, at most `size` tokens (but for a
    /// scalar that alone counts more) and `maxScalars` scalars.
    private func tokenPieces(
        of sentences: [TextPiece],
        segmenter: TextSegmenter,
        text: String,
        policy: ChunkingPolicy,
        countTokens: @Sendable ([Substring]) async throws -> [Int]
    ) async throws -> [TextPiece] {
        // First call: sentences, or for a sentence longer than maxScalars its words (and hard
        // fragments of words longer than that), which must be split whatever their counts.
        var pieces: [TextPiece] = []
        pieces.reserveCapacity(sentences.count)
        for sentence in sentences {
            segmenter.appendBounded(sentence, maxLength: policy.maxScalars, forTokens: true, into: &pieces)
        }
        try await assignCounts(to: &pieces, text: text, scalars: segmenter.scalars, countTokens: countTokens)

        // Second call: the pre-tokens of every piece with more than size tokens. Counting pre-tokens
        // rather than words gives the words' counts too (BERT's counts add up over pre-tokens), and
        // exact counts for splitting a word with more tokens than a chunk holds.
        var preTokens: [TextPiece] = []
        var expansions: [(piece: Int, preTokens: Range<Int>)] = []
        for (index, piece) in pieces.enumerated() where piece.units > policy.size {
            let first = preTokens.count
            segmenter.appendPreTokens(of: piece, maxLength: policy.maxScalars, into: &preTokens)
            if preTokens.count - first == 1 {
                // One pre-token: the piece itself, whose count is known.
                preTokens.removeLast()
            } else {
                expansions.append((index, first..<preTokens.count))
            }
        }
        if !expansions.isEmpty {
            try await assignCounts(to: &preTokens, text: text, scalars: segmenter.scalars, countTokens: countTokens)
        }

        var result: [TextPiece] = []
        result.reserveCapacity(pieces.count + preTokens.count)
        var nextExpansion = 0
        for (index, piece) in pieces.enumerated() {
            if nextExpansion < expansions.count && expansions[nextExpansion].piece == index {
                let expansion = preTokens[expansions[nextExpansion].preTokens]
                appendRegrouped(expansion, size: policy.size, segmenter: segmenter, into: &result)
                nextExpansion += 1
            } else {
                appendWithinSize(piece, size: policy.size, segmenter: segmenter, into: &result)
            }
        }
        return result
    }

    /// Appends pre-tokens joined back into whole words where the word is within size.
    private func appendRegrouped(
        _ preTokens: ArraySlice<TextPiece>, size: Int, segmenter: TextSegmenter, into result: inout [TextPiece]
    ) {
        var index = preTokens.startIndex
        while index < preTokens.endIndex {
            var wordEnd = index
            var units = preTokens[index].units
            while wordEnd + 1 < preTokens.endIndex && preTokens[wordEnd].boundaryAfter == .insideWord {
                wordEnd += 1
                units += preTokens[wordEnd].units
            }
            if units <= size {
                var word = preTokens[index]
                word.end = preTokens[wordEnd].end
                word.level = .word
                word.boundaryAfter = preTokens[wordEnd].boundaryAfter
                word.units = units
                result.append(word)
            } else {
                for preToken in preTokens[index...wordEnd] {
                    appendWithinSize(preToken, size: size, segmenter: segmenter, into: &result)
                }
            }
            index = wordEnd + 1
        }
    }

    /// Appends the piece, or if it has more than `size` tokens, hard splits of it short enough to
    /// hold about `size` tokens each, the count shared out in proportion to length and rounded up.
    private func appendWithinSize(
        _ piece: TextPiece, size: Int, segmenter: TextSegmenter, into result: inout [TextPiece]
    ) {
        guard piece.units > size && piece.length > 1 else {
            result.append(piece)
            return
        }
        let length = Double(piece.length)
        let units = Double(piece.units)
        let fragmentLength = max(1, Int(length * Double(size) / units))
        var fragments: [TextPiece] = []
        segmenter.appendFragments(of: piece, maxLength: fragmentLength, forTokens: true, into: &fragments)
        for var fragment in fragments {
            let share = (units * Double(fragment.length) / length).rounded(.up)
            fragment.units = min(size, Int(share))
            result.append(fragment)
        }
    }

    /// Counts the pieces' tokens in one call.
    private func assignCounts(
        to pieces: inout [TextPiece],
        text: String,
        scalars: [Unicode.Scalar],
        countTokens: @Sendable ([Substring]) async throws -> [Int]
    ) async throws {
        var cursor = ScalarOffsetCursor()
        var batch: [Substring] = []
        batch.reserveCapacity(pieces.count)
        for piece in pieces {
            let lower = cursor.index(at: piece.start, in: text, scalars: scalars)
            let upper = cursor.index(at: piece.end, in: text, scalars: scalars)
            batch.append(text[lower..<upper])
        }
        let counts = try await countTokens(batch)
        guard counts.count == pieces.count else {
            throw ChunkingError(
                field: "countTokens", message: "returned \(counts.count) counts for \(pieces.count) pieces")
        }
        for index in pieces.indices {
            guard counts[index] >= 0 else {
                throw ChunkingError(field: "countTokens", message: "returned a negative count, \(counts[index])")
            }
            pieces[index].units = counts[index]
        }
    }
}

/// Turns increasing scalar offsets into string indices in one pass over the scalars. The indices
/// are scalar-aligned, and slicing a `String` with such indices gives exactly those scalars, even
/// where they split a `Character`.
private struct ScalarOffsetCursor {
    private var scalarOffset = 0
    private var utf8Offset = 0

    mutating func index(at offset: Int, in text: String, scalars: [Unicode.Scalar]) -> String.Index {
        precondition(offset >= scalarOffset, "scalar offsets must not decrease")
        while scalarOffset < offset {
            utf8Offset += scalars[scalarOffset].utf8Length
            scalarOffset += 1
        }
        return text.utf8.index(text.utf8.startIndex, offsetBy: utf8Offset)
    }
}
