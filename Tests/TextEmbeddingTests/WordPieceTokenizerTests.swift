import Testing
import TextEmbedding

/// The tokenizer's steps one at a time, on a small vocabulary made for each case.
@Suite("WordPiece tokenizer steps")
struct WordPieceTokenizerTests {
    static let vocabulary = [
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
        "hello", "world", ",", "!", ".", "$", "^", "[", "]", "mask", "cafe", "naive", "x", "##x",
        "我", "爱", "un", "##aff", "##able", "οδοσ", "ab", "a", "b", "안", "¿", "—",
    ]

    let tokenizer = try! WordPieceTokenizer(vocabulary: Self.vocabulary)

    func tokens(_ text: String) -> [String] {
        tokenizer.tokenIDs(text).map { tokenizer.token(of: $0) ?? "?" }
    }

    @Test("Special token ids come from the vocabulary")
    func specialIDs() {
        #expect(tokenizer.padID == 0)
        #expect(tokenizer.unknownID == 1)
        #expect(tokenizer.classID == 2)
        #expect(tokenizer.separatorID == 3)
        #expect(tokenizer.maskID == 4)
    }

    @Test("Punctuation is split off, ASCII symbols and Unicode P* alike")
    func punctuation() {
        #expect(tokens("Hello,world!") == ["hello", ",", "world", "!"])
        #expect(tokens("$hello^") == ["$", "hello", "^"])
        #expect(tokens("¿hello—world") == ["¿", "hello", "—", "world"])
    }

    @Test("CJK ideographs are words of their own")
    func cjk() {
        #expect(tokens("我爱hello") == ["我", "爱", "hello"])
    }

    @Test("Accents are stripped after NFD, and text is lowercased")
    func accents() {
        #expect(tokens("CAFÉ Naïve") == ["cafe", "naive"])
        // Already decomposed input: e + U+0301.
        #expect(tokens("Cafe\u{301}") == ["cafe"])
    }

    @Test("Special tokens are matched verbatim before normalisation")
    func specialTokensVerbatim() {
        #expect(tokens("hello[MASK]world") == ["hello", "[MASK]", "world"])
        #expect(tokens("[mask]") == ["[", "mask", "]"])
        #expect(tokens("[MASK") == ["[", "mask"])
    }

    @Test("Greedy longest match with ## continuations; a word with an unmatched part is [UNK]")
    func wordPiece() {
        #expect(tokens("unaffable") == ["un", "##aff", "##able"])
        #expect(tokens("unaffablez hello") == ["[UNK]", "hello"])
    }

    @Test("A word of 100 scalars is tokenized; one of 101 is [UNK]")
    func longWords() {
        #expect(tokens(String(repeating: "x", count: 100)) == ["x"] + Array(repeating: "##x", count: 99))
        #expect(tokens(String(repeating: "x", count: 101)) == ["[UNK]"])
    }

    @Test("Control characters are dropped, whitespace separates words")
    func cleaning() {
        #expect(tokens("a\u{0}b") == ["ab"])
        #expect(tokens("a\u{200B}b a\u{AD}b a\u{FFFD}b") == ["ab", "ab", "ab"])
        #expect(tokens("a\tb\nhello\r\u{3000}world\u{A0}x") == ["a", "b", "hello", "world", "x"])
    }

    @Test("Each scalar is lowercased alone: a word-final capital sigma becomes σ, not ς")
    func greekSigma() {
        #expect(tokens("ΟΔΟΣ") == ["οδοσ"])
    }

    @Test("Hangul decomposes to jamo and does not match a precomposed vocabulary entry")
    func hangul() {
        #expect(tokens("안") == ["[UNK]"])
    }

    @Test("Encoding adds [CLS] and [SEP] and truncates to the maximum length")
    func truncation() {
        let fits = tokenizer.encode(Array(repeating: "x", count: 254).joined(separator: " "), maxLength: 256)
        #expect(fits.ids.count == 256)
        #expect(!fits.isTruncated)
        let long = tokenizer.encode(Array(repeating: "x", count: 300).joined(separator: " "), maxLength: 256)
        #expect(long.ids.count == 256)
        #expect(long.isTruncated)
        #expect(long.ids.first == tokenizer.classID)
        #expect(long.ids.last == tokenizer.separatorID)
        #expect(long.ids.dropFirst().dropLast().allSatisfy { $0 == tokenizer.id(of: "x") })
        // Cut in the middle of a word's pieces.
        let pieces = tokenizer.encode(String(repeating: "x", count: 100), maxLength: 10)
        #expect(pieces.ids.count == 10)
        #expect(pieces.isTruncated)
        #expect(tokenizer.encode("", maxLength: 256) == TokenizedText(ids: [2, 3], isTruncated: false))
    }

    @Test("A vocabulary without the special tokens is refused")
    func missingSpecialTokens() {
        #expect(throws: TextEmbeddingError.self) { try WordPieceTokenizer(vocabulary: ["a", "b"]) }
    }
}
