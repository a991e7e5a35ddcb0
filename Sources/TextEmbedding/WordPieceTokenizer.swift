import Foundation

/// BERT's uncased WordPiece tokenizer, as Hugging Face's `BertTokenizerFast` runs it for
/// all-MiniLM-L6-v2 (`do_lower_case`, `tokenize_chinese_chars`, accents stripped).
///
/// The steps, in the reference's order, all on Unicode scalars (never on `Character`s, whose
/// grapheme clustering and canonical-equivalence comparisons the reference does not do):
/// 1. special tokens (`[CLS]`, `[SEP]`, `[MASK]`, `[PAD]`, `[UNK]`) are matched verbatim in the raw
///    text, before any normalisation, so `[MASK]` is one token and `[mask]` is not;
/// 2. cleaning: NUL, U+FFFD and control characters (general category C*, except tab, newline and
///    carriage return) are dropped, and whitespace becomes a space;
/// 3. CJK ideographs get a space on each side, so each is a word of its own;
/// 4. NFD, then non-spacing marks (Mn) are removed: "Café" → "Cafe";
/// 5. each scalar is lowercased on its own. This is Rust's `char::to_lowercase`, which the fast
///    tokenizer that produced the reference uses: no context, so a word-final "Σ" becomes "σ",
///    not the "ς" that Python's `str.lower()` would give;
/// 6. words are split at whitespace, and every punctuation scalar is a word of its own;
/// 7. each word becomes the greedy longest-match WordPiece pieces (continuations prefixed `##`),
///    or `[UNK]` when some part of it matches nothing or it is longer than 100 scalars.
public struct WordPieceTokenizer: Sendable {
    /// Words longer than this many scalars become `[UNK]` (the reference's `max_input_chars_per_word`).
    public static let maxScalarsPerWord = 100

    /// The id of `[PAD]`.
    public let padID: Int32
    /// The id of `[UNK]`.
    public let unknownID: Int32
    /// The id of `[CLS]`, which starts every encoded text.
    public let classID: Int32
    /// The id of `[SEP]`, which ends every encoded text.
    public let separatorID: Int32
    /// The id of `[MASK]`.
    public let maskID: Int32

    /// Vocabulary keyed by UTF-8 bytes: a `String` key would compare by canonical equivalence, and
    /// then the Hangul jamo the NFD step produces would match a precomposed syllable in the vocabulary.
    private let idsByToken: [[UInt8]: Int32]
    private let tokensByID: [String]
    private let specialTokens: [(scalars: [Unicode.Scalar], id: Int32)]

    /// Creates a tokenizer from a vocabulary, one token a line, a token's id its line number.
    public init(vocabulary: [String]) throws {
        var ids: [[UInt8]: Int32] = [:]
        ids.reserveCapacity(vocabulary.count)
        for (index, token) in vocabulary.enumerated() {
            // A repeated token keeps its last id, as the reference's vocabulary loader does.
            ids[Array(token.utf8)] = Int32(index)
        }
        func id(of token: String) throws -> Int32 {
            guard let id = ids[Array(token.utf8)] else {
                throw TextEmbeddingError(code: .invalidModel, message: "the vocabulary has no \(token) token")
            }
            return id
        }
        self.idsByToken = ids
        self.tokensByID = vocabulary
        self.padID = try id(of: "[PAD]")
        self.unknownID = try id(of: "[UNK]")
        self.classID = try id(of: "[CLS]")
        self.separatorID = try id(of: "[SEP]")
        self.maskID = try id(of: "[MASK]")
        // Longest first, so that a match is the longest one where several start at the same place.
        self.specialTokens = [
            ("[MASK]", maskID), ("[PAD]", padID), ("[UNK]", unknownID), ("[CLS]", classID), ("[SEP]", separatorID),
        ]
        .map { (Array($0.0.unicodeScalars), $0.1) }
        .sorted { $0.scalars.count > $1.scalars.count }
    }

    /// Creates a tokenizer from a BERT `vocab.txt`.
    public init(vocabularyFile: URL) throws {
        let data: Data
        do {
            data = try Data(contentsOf: vocabularyFile)
        } catch {
            throw TextEmbeddingError(
                code: .modelNotFound, message: "cannot read the vocabulary \(vocabularyFile.path)", cause: error)
        }
        // Split on "\n" bytes only: a token may hold any other scalar, "\r" included.
        var lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }
        try self.init(vocabulary: lines.map { String(decoding: $0, as: UTF8.self) })
    }

    /// The number of tokens in the vocabulary.
    public var vocabularySize: Int { tokensByID.count }

    /// The id of a token, if the vocabulary has it.
    public func id(of token: String) -> Int32? { idsByToken[Array(token.utf8)] }

    /// The token with an id, if there is one.
    public func token(of id: Int32) -> String? {
        tokensByID.indices.contains(Int(id)) ? tokensByID[Int(id)] : nil
    }

    /// The ids of a text's tokens, without `[CLS]`/`[SEP]` and without truncation.
    public func tokenIDs(_ text: String) -> [Int32] {
        var ids: [Int32] = []
        appendTokenIDs(of: text, to: &ids, limit: Int.max)
        return ids
    }

    /// A text as the model sees it: `[CLS]`, its tokens, `[SEP]`, at most `maxLength` ids in all.
    public func encode(_ text: String, maxLength: Int) -> TokenizedText {
        precondition(maxLength >= 2, "room is needed for [CLS] and [SEP]")
        var ids: [Int32] = [classID]
        // One past the limit tells whether anything was cut, without tokenizing the whole text.
        let truncated = appendTokenIDs(of: text, to: &ids, limit: maxLength - 2 + 1) > maxLength - 2
        if truncated { ids.removeLast(ids.count - (maxLength - 1)) }
        ids.append(separatorID)
        return TokenizedText(ids: ids, isTruncated: truncated)
    }

    /// Appends the text's token ids until `limit` have been added; returns how many were added.
    @discardableResult
    private func appendTokenIDs(of text: String, to ids: inout [Int32], limit: Int) -> Int {
        let scalars = Array(text.unicodeScalars)
        let start = ids.count
        var segmentStart = 0
        var index = 0
        while index < scalars.count, ids.count - start < limit {
            if scalars[index] == "[", let special = specialToken(in: scalars, at: index) {
                appendSegment(scalars[segmentStart..<index], to: &ids, limit: start + limit)
                if ids.count - start < limit { ids.append(special.id) }
                index += special.length
                segmentStart = index
            } else {
                index += 1
            }
        }
        if ids.count - start < limit {
            appendSegment(scalars[segmentStart..<scalars.count], to: &ids, limit: start + limit)
        }
        return ids.count - start
    }

    private func specialToken(in scalars: [Unicode.Scalar], at index: Int) -> (id: Int32, length: Int)? {
        for special in specialTokens where scalars.count - index >= special.scalars.count {
            if scalars[index..<(index + special.scalars.count)].elementsEqual(special.scalars) {
                return (special.id, special.scalars.count)
            }
        }
        return nil
    }

    /// Tokenizes text that holds no special token, until `ids` has `limit` elements.
    private func appendSegment(_ segment: ArraySlice<Unicode.Scalar>, to ids: inout [Int32], limit: Int) {
        guard !segment.isEmpty else { return }
        var word: [Unicode.Scalar] = []
        for scalar in Self.normalize(segment) {
            if ids.count >= limit { break }
            if Self.isWhitespace(scalar) {
                appendWord(&word, to: &ids)
            } else if Self.isPunctuation(scalar) {
                appendWord(&word, to: &ids)
                if ids.count < limit { appendWord([scalar], to: &ids) }
            } else {
                word.append(scalar)
            }
        }
        if ids.count < limit { appendWord(&word, to: &ids) }
        if ids.count > limit { ids.removeLast(ids.count - limit) }
    }

    private func appendWord(_ word: inout [Unicode.Scalar], to ids: inout [Int32]) {
        guard !word.isEmpty else { return }
        appendWord(word, to: &ids)
        word.removeAll(keepingCapacity: true)
    }

    /// Greedy longest-match-first WordPiece, all or nothing: a word with an unmatched part is `[UNK]`.
    private func appendWord(_ word: [Unicode.Scalar], to ids: inout [Int32]) {
        guard word.count <= Self.maxScalarsPerWord else {
            ids.append(unknownID)
            return
        }
        // UTF-8 offset of each scalar boundary, so candidate pieces are byte slices.
        var utf8: [UInt8] = []
        var boundaries: [Int] = [0]
        for scalar in word {
            utf8.append(contentsOf: UTF8.encode(scalar)!)
            boundaries.append(utf8.count)
        }
        let firstPiece = ids.count
        var start = 0
        var candidate: [UInt8] = []
        while start < word.count {
            var end = word.count
            var match: Int32?
            while start < end {
                candidate.removeAll(keepingCapacity: true)
                if start > 0 { candidate.append(contentsOf: [UInt8(ascii: "#"), UInt8(ascii: "#")]) }
                candidate.append(contentsOf: utf8[boundaries[start]..<boundaries[end]])
                if let id = idsByToken[candidate] {
                    match = id
                    break
                }
                end -= 1
            }
            guard let match else {
                ids.removeLast(ids.count - firstPiece)
                ids.append(unknownID)
                return
            }
            ids.append(match)
            start = end
        }
    }

    // MARK: - Normalisation

    /// Cleaning, CJK spacing, NFD without non-spacing marks, then per-scalar lowercasing.
    static func normalize(_ segment: ArraySlice<Unicode.Scalar>) -> [Unicode.Scalar] {
        var cleaned = String.UnicodeScalarView()
        var isASCII = true
        for scalar in segment {
            let value = scalar.value
            if value == 0 || value == 0xFFFD || isControl(scalar) { continue }
            if isCleaningWhitespace(scalar) {
                cleaned.append(" ")
            } else if isCJKIdeograph(value) {
                cleaned.append(" ")
                cleaned.append(scalar)
                cleaned.append(" ")
                isASCII = false
            } else {
                cleaned.append(scalar)
                if value >= 0x80 { isASCII = false }
            }
        }
        var result: [Unicode.Scalar] = []
        result.reserveCapacity(cleaned.count)
        if isASCII {
            for scalar in cleaned {
                let value = scalar.value
                result.append((65...90).contains(value) ? Unicode.Scalar(UInt8(value + 32)) : scalar)
            }
            return result
        }
        let decomposed = String(cleaned).decomposedStringWithCanonicalMapping
        for scalar in decomposed.unicodeScalars where scalar.properties.generalCategory != .nonspacingMark {
            if scalar.isASCII {
                let value = scalar.value
                result.append((65...90).contains(value) ? Unicode.Scalar(UInt8(value + 32)) : scalar)
            } else {
                result.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
            }
        }
        return result
    }

    /// Control characters, which cleaning drops: every category C* but tab, newline, carriage return.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "\t", "\n", "\r": return false
        default: break
        }
        switch scalar.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned: return true
        default: return false
        }
    }

    /// Whitespace that cleaning turns into a space: space, tab, newline, carriage return, Zs, and
    /// the other White_Space scalars (U+2028, U+2029) that the reference's Rust code also counts.
    static func isCleaningWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case " ", "\t", "\n", "\r": return true
        default: return scalar.properties.generalCategory == .spaceSeparator || scalar.properties.isWhitespace
        }
    }

    /// Word separators after cleaning.
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        scalar == " " || (scalar.value >= 0x80 && scalar.properties.isWhitespace)
    }

    /// ASCII symbols count as punctuation ("$", "^", "`" too), and so does every Unicode P* scalar.
    static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if (33...47).contains(value) || (58...64).contains(value) || (91...96).contains(value)
            || (123...126).contains(value)
        {
            return true
        }
        if value < 0x80 { return false }
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
            .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }

    /// BERT's "Chinese character" ranges: CJK Unified Ideographs and their extensions, and the
    /// compatibility ideographs. Not Hiragana, Katakana or Hangul, which are tokenized as words.
    static func isCJKIdeograph(_ value: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(value) || (0x3400...0x4DBF).contains(value)
            || (0x20000...0x2A6DF).contains(value) || (0x2A700...0x2B73F).contains(value)
            || (0x2B740...0x2B81F).contains(value) || (0x2B820...0x2CEAF).contains(value)
            || (0xF900...0xFAFF).contains(value) || (0x2F800...0x2FA1F).contains(value)
    }
}

/// A text's token ids as the model takes them: `[CLS]`, the tokens, `[SEP]`.
public struct TokenizedText: Sendable, Equatable {
    /// The ids, `[CLS]` and `[SEP]` included.
    public var ids: [Int32]
    /// Whether tokens at the end of the text were dropped to fit the model's maximum length.
    public var isTruncated: Bool

    /// Creates a tokenized text.
    public init(ids: [Int32], isTruncated: Bool) {
        self.ids = ids
        self.isTruncated = isTruncated
    }
}
