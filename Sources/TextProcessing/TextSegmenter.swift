/// How strongly the text is divided between a piece and the one after it; chunks prefer to end at
/// the strongest division they can.
enum PieceBoundary: Int, Comparable {
    /// The next piece continues the same BERT word: a hard split where BERT does not split. Token
    /// counts do not add up across it, so a chunk never spans it.
    case insideToken
    /// The next piece continues the same whitespace-separated word, where BERT splits it too.
    case insideWord
    /// Whitespace without a line break.
    case word
    /// Whitespace with a line break, inside a sentence.
    case line
    case sentence
    case paragraph

    static func < (lhs: PieceBoundary, rhs: PieceBoundary) -> Bool {
        lhs.rawValue < rhs.rawValue
    }
}

/// A run of a text, as scalar offsets, that chunks are made of: a sentence, or a part of one too
/// long to be a chunk by itself.
struct TextPiece {
    enum Level {
        case sentence
        /// Whitespace-separated.
        case word
        /// A punctuation scalar, a CJK ideograph, or a run of other scalars: a word of BERT's basic
        /// tokenizer, so token counts add up over them.
        case preToken
        /// A hard split of something longer than a chunk may be.
        case fragment
    }

    var start: Int
    /// Past the last scalar; `start..<end` holds no leading or trailing whitespace.
    var end: Int
    var level: Level
    var boundaryAfter: PieceBoundary
    /// Size in the policy's unit, once known.
    var units = 0

    var length: Int { end - start }
}

/// Cuts a text's scalars into paragraphs, sentences, words, pre-tokens and hard fragments, in
/// linear time.
struct TextSegmenter {
    let scalars: [Unicode.Scalar]

    /// Abbreviations whose period does not end a sentence (lower-cased, without the period), packed
    /// as by `packedKey` so looking one up costs no allocation.
    private static let abbreviations: Set<UInt64> = Set(
        [
            "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "cf", "fig", "figs", "eq", "al",
            "approx", "dept", "inc", "ltd", "corp", "co", "gen", "gov", "sen", "rep", "lt", "col", "sgt",
            "capt", "mt", "pp", "vol", "ed", "eds", "esp", "resp", "ca", "incl", "nr",
        ].map { packedKey(Array($0.unicodeScalars)[...])! })

    /// Up to 8 ASCII letters, lower-cased, as one integer; nil for anything else.
    private static func packedKey(_ word: ArraySlice<Unicode.Scalar>) -> UInt64? {
        guard word.count <= 8 else { return nil }
        var key: UInt64 = 0
        for scalar in word {
            guard scalar.isASCIILetter else { return nil }
            key = key << 8 | UInt64(scalar.asciiLowercased.value)
        }
        return key
    }

    /// The sentences of the text, trimmed; the last one of each paragraph has a paragraph boundary.
    func sentences() -> [TextPiece] {
        var sentences: [TextPiece] = []
        var paragraphStart: Int?
        var index = 0
        let count = scalars.count
        while index < count {
            guard scalars[index].isTextWhitespace else {
                if paragraphStart == nil { paragraphStart = index }
                index += 1
                continue
            }
            // A paragraph ends at whitespace holding two line breaks (CRLF counting as one), or a
            // PARAGRAPH SEPARATOR.
            let runStart = index
            var lineBreaks = 0
            while index < count && scalars[index].isTextWhitespace {
                let scalar = scalars[index]
                if scalar == "\u{2029}" {
                    lineBreaks += 2
                } else if scalar.isLineBreak && !(scalar == "\n" && index > runStart && scalars[index - 1] == "\r") {
                    lineBreaks += 1
                }
                index += 1
            }
            if lineBreaks >= 2, let start = paragraphStart {
                appendSentences(of: start..<runStart, into: &sentences)
                paragraphStart = nil
            }
        }
        if let start = paragraphStart {
            // The text's last non-whitespace scalar ends it.
            var end = count
            while scalars[end - 1].isTextWhitespace { end -= 1 }
            appendSentences(of: start..<end, into: &sentences)
        }
        return sentences
    }

    /// Appends the sentences of a paragraph that starts and ends with non-whitespace.
    private func appendSentences(of paragraph: Range<Int>, into sentences: inout [TextPiece]) {
        var sentenceStart = paragraph.lowerBound
        var index = paragraph.lowerBound
        let end = paragraph.upperBound
        while index < end {
            let scalar = scalars[index]
            guard Self.isSentenceTerminator(scalar) else {
                index += 1
                continue
            }
            var after = index + 1
            var fullWidth = Self.isFullWidthTerminator(scalar)
            while after < end && Self.isSentenceTerminator(scalars[after]) {
                fullWidth = fullWidth || Self.isFullWidthTerminator(scalars[after])
                after += 1
            }
            let terminatorCount = after - index
            while after < end && Self.isClosingQuoteOrBracket(scalars[after]) { after += 1 }
            // Full-width terminators end a sentence even without a space after them: CJK text has none.
            if after < end && (fullWidth || scalars[after].isTextWhitespace)
                && !(terminatorCount == 1 && scalar == "." && isAbbreviation(endingAt: index, from: sentenceStart))
            {
                appendTrimmed(sentenceStart..<after, to: &sentences)
                sentenceStart = after
            }
            index = after
        }
        appendTrimmed(sentenceStart..<end, to: &sentences)
        sentences[sentences.count - 1].boundaryAfter = .paragraph
    }

    private func appendTrimmed(_ range: Range<Int>, to sentences: inout [TextPiece]) {
        var start = range.lowerBound
        while start < range.upperBound && scalars[start].isTextWhitespace { start += 1 }
        guard start < range.upperBound else { return }
        sentences.append(TextPiece(start: start, end: range.upperBound, level: .sentence, boundaryAfter: .sentence))
    }

    /// Whether the word before the period at `period` is an abbreviation or an initial ("e.g.",
    /// "Dr.", "J."), whose period does not end a sentence.
    private func isAbbreviation(endingAt period: Int, from lowerBound: Int) -> Bool {
        // Abbreviations are short: a word of 16 scalars or more is not looked at.
        var start = period
        while start > lowerBound && period - start < 16 && !scalars[start - 1].isTextWhitespace { start -= 1 }
        guard period - start < 16 else { return false }
        // Opening brackets and quotes are not part of the word.
        while start < period && !Self.isLetter(scalars[start]) && !scalars[start].isASCIIDigit { start += 1 }
        let word = scalars[start..<period]
        guard let first = word.first else { return false }
        if word.count == 1 {
            // An initial ("J. R. R. Tolkien"); "I" is more often a sentence's last word.
            return first != "I"
                && (first.isASCII ? first.value >= 0x41 && first.value <= 0x5A : first.properties.isUppercase)
        }
        if word.contains(".") {
            // "e.g", "i.e", "U.S", "Ph.D": groups of one or two letters joined by periods.
            var groupLength = 0
            for scalar in word {
                if scalar == "." {
                    guard groupLength > 0 else { return false }
                    groupLength = 0
                } else {
                    guard Self.isLetter(scalar), groupLength < 2 else { return false }
                    groupLength += 1
                }
            }
            return groupLength > 0
        }
        return Self.packedKey(word).map(Self.abbreviations.contains) ?? false
    }

    private static func isLetter(_ scalar: Unicode.Scalar) -> Bool {
        scalar.isASCII ? scalar.isASCIILetter : scalar.properties.isAlphabetic
    }

    private static func isSentenceTerminator(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case ".", "!", "?", "…", "‼", "⁇", "⁈", "⁉", "。", "！", "？", "｡", "؟", "۔", "।", "॥":
            return true
        default:
            return false
        }
    }

    private static func isFullWidthTerminator(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "。" || scalar == "！" || scalar == "？" || scalar == "｡"
    }

    private static func isClosingQuoteOrBracket(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "\"", "'", "”", "’", "»", "›", ")", "]", "}", "」", "』", "）", "】", "》", "〉", "〕", "］", "｝":
            return true
        default:
            return false
        }
    }

    /// Appends the whitespace-separated words of a piece; the last takes the piece's boundary.
    func appendWords(of piece: TextPiece, into pieces: inout [TextPiece]) {
        var index = piece.start
        while index < piece.end {
            let wordStart = index
            while index < piece.end && !scalars[index].isTextWhitespace { index += 1 }
            let wordEnd = index
            var sawLineBreak = false
            while index < piece.end && scalars[index].isTextWhitespace {
                sawLineBreak = sawLineBreak || scalars[index].isLineBreak
                index += 1
            }
            let boundary: PieceBoundary = index == piece.end ? piece.boundaryAfter : (sawLineBreak ? .line : .word)
            pieces.append(TextPiece(start: wordStart, end: wordEnd, level: .word, boundaryAfter: boundary))
        }
    }

    /// Appends the pre-tokens of a piece, as BERT's basic tokenizer splits it into words, each at
    /// most `maxLength` scalars.
    func appendPreTokens(of piece: TextPiece, maxLength: Int, into pieces: inout [TextPiece]) {
        if piece.level == .sentence {
            var words: [TextPiece] = []
            appendWords(of: piece, into: &words)
            for word in words {
                appendPreTokens(of: word, maxLength: maxLength, into: &pieces)
            }
            return
        }
        var index = piece.start
        while index < piece.end {
            let start = index
            if scalars[index].isBERTPunctuation || scalars[index].isCJKIdeograph {
                index += 1
            } else {
                while index < piece.end && !scalars[index].isBERTPunctuation && !scalars[index].isCJKIdeograph {
                    index += 1
                }
            }
            let boundary: PieceBoundary = index == piece.end ? piece.boundaryAfter : .insideWord
            let preToken = TextPiece(start: start, end: index, level: .preToken, boundaryAfter: boundary)
            if preToken.length <= maxLength {
                pieces.append(preToken)
            } else {
                appendFragments(of: preToken, maxLength: maxLength, forTokens: true, into: &pieces)
            }
        }
    }

    /// Appends hard splits of a piece, each at most `maxLength` scalars. With `forTokens`, a split
    /// moves back (by at most half) to the last place BERT splits too, before or after punctuation
    /// or a CJK ideograph, so token counts still add up across it; where there is none, the split
    /// is marked `insideToken`. Otherwise it moves back a little rather than separate a scalar from
    /// the combining marks or joiners that follow it.
    func appendFragments(
        of piece: TextPiece, maxLength: Int, forTokens: Bool, into pieces: inout [TextPiece]
    ) {
        var start = piece.start
        while piece.end - start > maxLength {
            let earliest = start + maxLength / 2
            var cut = start + maxLength
            var boundary = PieceBoundary.insideWord
            if forTokens, let preTokenBoundary = lastPreTokenBoundary(in: (earliest + 1)...cut) {
                cut = preTokenBoundary
            } else {
                if forTokens { boundary = .insideToken }
                var adjusted = cut
                while adjusted > earliest
                    && (scalars[adjusted].extendsPreviousScalar || scalars[adjusted - 1] == "\u{200D}")
                {
                    adjusted -= 1
                }
                if adjusted > earliest {
                    cut = adjusted
                }
            }
            pieces.append(TextPiece(start: start, end: cut, level: .fragment, boundaryAfter: boundary))
            start = cut
        }
        pieces.append(TextPiece(start: start, end: piece.end, level: .fragment, boundaryAfter: piece.boundaryAfter))
    }

    /// The last offset in `range` where BERT's basic tokenizer splits a word.
    private func lastPreTokenBoundary(in range: ClosedRange<Int>) -> Int? {
        var offset = range.upperBound
        while offset >= range.lowerBound {
            let before = scalars[offset - 1]
            let after = scalars[offset]
            if before.isBERTPunctuation || before.isCJKIdeograph || after.isBERTPunctuation || after.isCJKIdeograph {
                return offset
            }
            offset -= 1
        }
        return nil
    }

    /// Appends the piece if it is at most `maxLength` scalars, else its words, and for a word still
    /// too long, hard fragments (in tokens mode cut where BERT splits words too, where it can).
    func appendBounded(
        _ piece: TextPiece, maxLength: Int, forTokens: Bool, into pieces: inout [TextPiece]
    ) {
        guard piece.length > maxLength else {
            pieces.append(piece)
            return
        }
        if piece.level == .sentence {
            var words: [TextPiece] = []
            appendWords(of: piece, into: &words)
            for word in words {
                appendBounded(word, maxLength: maxLength, forTokens: forTokens, into: &pieces)
            }
        } else {
            appendFragments(of: piece, maxLength: maxLength, forTokens: forTokens, into: &pieces)
        }
    }
}
