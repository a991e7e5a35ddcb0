import Testing
import TextEmbedding

/// The tokenizer against the ids Hugging Face's tokenizer gives for 24 texts chosen for their
/// edge cases: accents, CJK, Hangul, Greek final sigma, emoji, control characters, special tokens
/// written in the text, a word over 100 scalars, a text cut at 256 tokens.
@Suite("WordPiece tokenizer against Hugging Face's")
struct ReferenceTokenizationTests {
    @Test("All 24 reference texts are there")
    func referencePresent() throws {
        let references = try TestData.referenceTokens.get()
        #expect(references.count == 24, "in \(TestData.referenceDirectory.path)")
    }

    @Test("Token ids are identical to the reference's", arguments: 0..<24)
    func tokenIDs(index: Int) throws {
        let tokenizer = try TestData.tokenizer.get()
        let references = try TestData.referenceTokens.get()
        try #require(index < references.count, "the reference has only \(references.count) texts")
        let reference = references[index]
        let encoded = tokenizer.encode(reference.text, maxLength: 256)
        let tokens = encoded.ids.map { tokenizer.token(of: $0) ?? "?" }
        #expect(encoded.ids == reference.input_ids, "text \(index) \(reference.text.debugDescription): got \(tokens), expected \(reference.tokens)")
    }

    @Test("Only the text longer than 256 tokens is flagged truncated")
    func truncationFlag() throws {
        let tokenizer = try TestData.tokenizer.get()
        for reference in try TestData.referenceTokens.get() {
            let encoded = tokenizer.encode(reference.text, maxLength: 256)
            let untruncated = tokenizer.tokenIDs(reference.text).count + 2
            #expect(encoded.isTruncated == (untruncated > 256), "\(reference.text.prefix(40).debugDescription)")
        }
    }
}
