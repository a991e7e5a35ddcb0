/// Packs pieces into chunks: greedily, up to the capacity, ending where the text is most strongly
/// divided, with the requested overlap.
struct ChunkPacker {
    private let pieces: [TextPiece]
    /// Tokens mode sizes chunks by the sum of their pieces' units; characters mode by their length.
    private let measuresUnits: Bool
    private let capacity: Int
    private let overlap: Int
    private let maxScalars: Int
    /// `cumulativeUnits[i]` is the units of pieces `0..<i`.
    private let cumulativeUnits: [Int]

    init(pieces: [TextPiece], measuresUnits: Bool, capacity: Int, overlap: Int, maxScalars: Int) {
        self.pieces = pieces
        self.measuresUnits = measuresUnits
        self.capacity = capacity
        self.overlap = overlap
        self.maxScalars = maxScalars
        var cumulative = [0]
        if measuresUnits {
            cumulative.reserveCapacity(pieces.count + 1)
            for piece in pieces {
                cumulative.append(cumulative[cumulative.count - 1] + piece.units)
            }
        }
        self.cumulativeUnits = cumulative
    }

    /// The size of a chunk made of pieces `first...last`.
    func measure(_ first: Int, _ last: Int) -> Int {
        measuresUnits ? cumulativeUnits[last + 1] - cumulativeUnits[first] : pieces[last].end - pieces[first].start
    }

    /// Whether pieces `first...last` make a chunk, given that `first..<last` do.
    private func fits(_ first: Int, _ last: Int) -> Bool {
        measure(first, last) <= capacity && pieces[last].end - pieces[first].start <= maxScalars
            && (last == first || pieces[last - 1].boundaryAfter != .insideToken)
    }

    /// The chunks as ranges of piece indices, in order.
    func chunkRanges() -> [ClosedRange<Int>] {
        var ranges: [ClosedRange<Int>] = []
        let half = capacity - capacity / 2
        let count = pieces.count
        var first = 0
        // A chunk must end past the previous one's end, or it would hold nothing new.
        var earliestLast = 0
        while first < count {
            // The overlap and the first new piece: `nextStart` kept only an overlap they fit with,
            // and a piece alone goes in whatever its size (pieces were split where they could be).
            var last = max(first, earliestLast)
            while last + 1 < count {
                // Paragraph-aware: a chunk at least half full ends with its paragraph, unless the
                // rest of the text is a short tail it can take.
                if pieces[last].boundaryAfter == .paragraph && measure(first, last) >= half && !takesTail(first, after: last) {
                    break
                }
                if fits(first, last + 1) {
                    last += 1
                } else {
                    last = preferredEnd(first, last, earliest: earliestLast)
                    break
                }
            }
            ranges.append(first...last)
            guard last + 1 < count else { break }
            first = nextStart(after: first...last)
            earliestLast = last + 1
        }
        return ranges
    }

    /// Whether the chunk from `first` should go on past `last`, a paragraph's end, to the end of
    /// the text: what is left measures a quarter of a chunk at most and fits in this one. A last
    /// line such as a sign-off, a trailer or a heading cut from its section then stays with the
    /// text before it instead of making a chunk that a search would find for nothing.
    private func takesTail(_ first: Int, after last: Int) -> Bool {
        let end = pieces.count - 1
        return measure(last + 1, end) <= capacity / 4 && fits(first, end)
    }

    /// Where a full chunk `first...last` should end, not before `earliest`. At a sentence or
    /// paragraph end, `last`; inside a sentence too long for a chunk, the strongest division in the
    /// chunk's second half (the sentence's start, a line break, a word break), so a long sentence
    /// starts a chunk of its own rather than split at an arbitrary word when the chunk is already
    /// half full.
    private func preferredEnd(_ first: Int, _ last: Int, earliest: Int) -> Int {
        let half = capacity - capacity / 2
        var best = last
        var bestBoundary = pieces[last].boundaryAfter
        var candidate = last - 1
        while bestBoundary < .sentence && candidate >= max(first, earliest) && measure(first, candidate) >= half {
            if pieces[candidate].boundaryAfter > bestBoundary {
                best = candidate
                bestBoundary = pieces[candidate].boundaryAfter
            }
            candidate -= 1
        }
        return best
    }

    /// The first piece of the chunk after `chunk`: after a paragraph end, the next paragraph;
    /// otherwise the chunk's trailing whole pieces that fit in the overlap, within its paragraph,
    /// never its first piece (so chunks always move on), and no more than leave room for the next
    /// new piece.
    private func nextStart(after chunk: ClosedRange<Int>) -> Int {
        let last = chunk.upperBound
        guard overlap > 0, pieces[last].boundaryAfter != .paragraph else { return last + 1 }
        var start = last + 1
        while start - 1 > chunk.lowerBound {
            let candidate = start - 1
            if candidate < last && pieces[candidate].boundaryAfter == .paragraph { break }
            if measure(candidate, last) > overlap { break }
            start = candidate
        }
        while start <= last && !fits(start, last + 1) {
            start += 1
        }
        return start
    }
}
