import Testing
import TextProcessing

@Suite("Chunker")
struct ChunkerTests {
    static let policies: [ChunkingPolicy] = [
        ChunkingPolicy(unit: .characters, size: 200, overlap: 0),
        ChunkingPolicy(unit: .characters, size: 120, overlap: 40),
        ChunkingPolicy(unit: .characters, size: 30, overlap: 29),
        ChunkingPolicy(unit: .characters, size: 1, overlap: 0),
        ChunkingPolicy(unit: .tokens, size: 64, overlap: 0),
        ChunkingPolicy(unit: .tokens, size: 24, overlap: 8),
        ChunkingPolicy(unit: .tokens, size: 8, overlap: 7),
        ChunkingPolicy(unit: .tokens, size: 16, overlap: 4, maxScalars: 20),
    ]

    @Test("Invariants hold for prose, CJK and multi-scalar graphemes in both modes", arguments: policies)
    func invariants(policy: ChunkingPolicy) async throws {
        for text in [
            SampleTexts.prose, SampleTexts.cjk, SampleTexts.graphemes, SampleTexts.sentences(40, perParagraph: 7),
        ] {
            let chunks = try await checkedChunks(text, policy)
            #expect(!chunks.isEmpty)
        }
    }

    @Test(
        "An empty or whitespace-only text has no chunks",
        arguments: [
            ChunkingPolicy(unit: .characters, size: 10, overlap: 2),
            ChunkingPolicy(unit: .tokens, size: 10, overlap: 2),
        ])
    func emptyText(policy: ChunkingPolicy) async throws {
        let counter = FakeTokenCounter()
        for text in ["", " ", "\n\n \t\r\n", "\u{3000}\u{A0}"] {
            let chunks = try await Chunker(policy: policy).chunk(text, countTokens: counter.countTokens)
            #expect(chunks.isEmpty)
        }
        #expect(counter.batchSizes.isEmpty)
    }

    @Test(
        "Chunks end at sentence ends when every sentence fits",
        arguments: [
            ChunkingPolicy(unit: .characters, size: 100, overlap: 0),
            ChunkingPolicy(unit: .characters, size: 100, overlap: 50),
            ChunkingPolicy(unit: .tokens, size: 20, overlap: 0),
            ChunkingPolicy(unit: .tokens, size: 20, overlap: 6),
        ])
    func sentenceEnds(policy: ChunkingPolicy) async throws {
        let text = SampleTexts.sentences(30)
        let chunks = try await checkedChunks(text, policy)
        #expect(chunks.count > 3)
        for chunk in chunks {
            #expect(chunk.text.hasPrefix("Sentence number "), "\(chunk.text)")
            #expect(chunk.text.hasSuffix(" says little."), "\(chunk.text)")
        }
    }

    @Test("Sentences end at . ! ? … and CJK marks, not at abbreviations, initials or decimals")
    func sentenceSegmentation() async throws {
        let text = """
            Dr. Smith met J. R. Tolkien at 3.14 p.m. in the U.S. yesterday. Was it fun? "Yes!" he said… \
            Then e.g. lunch (i.e. soup) followed. 我爱你。你好吗？Done
            """
        // Every piece counted as a full chunk makes each chunk one sentence.
        let policy = ChunkingPolicy(unit: .tokens, size: 10, overlap: 0, maxScalars: 1_000)
        let chunks = try await Chunker(policy: policy).chunk(text) { pieces in pieces.map { _ in 10 } }
        #expect(
            chunks.map(\.text) == [
                "Dr. Smith met J. R. Tolkien at 3.14 p.m. in the U.S. yesterday.",
                "Was it fun?",
                // A closing quote after the mark ends the sentence too; "he said" is a sentence of its own.
                "\"Yes!\"",
                "he said…",
                "Then e.g. lunch (i.e. soup) followed.",
                "我爱你。",
                "你好吗？",
                "Done",
            ])
    }

    @Test("A paragraph that ends a chunk at least half full is not followed in that chunk")
    func paragraphEnds() async throws {
        // Paragraphs of 3 sentences (about 60% of the size) each get a chunk of their own.
        let text = SampleTexts.sentences(12, perParagraph: 3)
        for policy in [
            ChunkingPolicy(unit: .characters, size: 170, overlap: 40),
            ChunkingPolicy(unit: .tokens, size: 30, overlap: 5),
        ] {
            let chunks = try await checkedChunks(text, policy)
            #expect(chunks.count == 4)
            for chunk in chunks {
                #expect(!chunk.text.contains("\n"))
                #expect(chunk.text.hasPrefix("Sentence number ") && chunk.text.hasSuffix("says little."))
            }
        }
    }

    @Test("A last paragraph of a quarter of a chunk at most joins the chunk before it when it fits; a longer one does not")
    func shortLastParagraph() async throws {
        // Three sentences fill a chunk by about 60 %: past half, so their paragraph would end it.
        let body = SampleTexts.sentences(3)
        for policy in [
            ChunkingPolicy(unit: .characters, size: 170, overlap: 40),
            ChunkingPolicy(unit: .tokens, size: 30, overlap: 5),
        ] {
            let folded = try await checkedChunks(body + "\n\n[janitor]", policy)
            #expect(folded.map(\.text) == [body + "\n\n[janitor]"], "\(policy.unit)")
            // Two sentences are more than a quarter of a chunk, though they would fit.
            let tail = "Sentence number 3 says little. Sentence number 4 says little."
            let kept = try await checkedChunks(body + "\n\n" + tail, policy)
            #expect(kept.map(\.text) == [body, tail], "\(policy.unit)")
            // A short tail after a chunk with no room for it gets a chunk of its own.
            let full = SampleTexts.sentences(5)
            let signature = "Signed off by the janitor."
            let crowded = try await checkedChunks(full + "\n\n" + signature, policy)
            #expect(crowded.map(\.text) == [full, signature], "\(policy.unit)")
        }
    }

    @Test("Small paragraphs share a chunk; a paragraph that would overflow starts the next one")
    func smallParagraphs() async throws {
        let text = "Alpha one.\n\nBeta two.\n\nGamma three.\n\nDelta four is a much longer paragraph than the others."
        let chunks = try await checkedChunks(text, ChunkingPolicy(unit: .characters, size: 60, overlap: 10))
        #expect(
            chunks.map(\.text) == [
                "Alpha one.\n\nBeta two.\n\nGamma three.",
                "Delta four is a much longer paragraph than the others.",
            ])
    }

    @Test("A blank line holding spaces, CRLFs or a PARAGRAPH SEPARATOR ends a paragraph; one line break does not")
    func paragraphSeparators() async throws {
        let policy = ChunkingPolicy(unit: .characters, size: 24, overlap: 0)
        let chunks = try await checkedChunks(
            "First part here.\r\n \t\r\nSecond part.\u{2029}Third part.\nStill third.", policy)
        #expect(chunks.map(\.text) == ["First part here.", "Second part.", "Third part.\nStill third."])
    }

    @Test(
        "Overlap repeats trailing whole sentences, up to the overlap",
        arguments: [
            ChunkingPolicy(unit: .characters, size: 120, overlap: 60),
            ChunkingPolicy(unit: .tokens, size: 24, overlap: 12),
        ])
    func overlap(policy: ChunkingPolicy) async throws {
        let text = SampleTexts.sentences(20)
        let chunks = try await checkedChunks(text, policy)
        #expect(chunks.count > 3)
        let scalars = Array(text.unicodeScalars)
        for (previous, next) in zip(chunks, chunks.dropFirst()) {
            #expect(
                next.startOffset < previous.endOffset, "no overlap between \(previous.sequence) and \(next.sequence)")
            let shared = scalars[next.startOffset..<previous.endOffset].string
            #expect(shared.hasPrefix("Sentence number ") && shared.hasSuffix(" says little."))
            let sharedSize = policy.unit == .tokens ? FakeTokenCounter.count(shared) : shared.unicodeScalars.count
            #expect(sharedSize <= policy.overlap)
        }
    }

    @Test("No overlap when it is 0, nor across a paragraph end")
    func noOverlap() async throws {
        let chunks = try await checkedChunks(
            SampleTexts.sentences(20), ChunkingPolicy(unit: .tokens, size: 24, overlap: 0))
        #expect(chunks.count > 3)
        let paragraphs = SampleTexts.sentences(12, perParagraph: 3)
        let paragraphChunks = try await checkedChunks(
            paragraphs, ChunkingPolicy(unit: .characters, size: 170, overlap: 60))
        for (previous, next) in zip(paragraphChunks, paragraphChunks.dropFirst()) {
            #expect(next.startOffset >= previous.endOffset)
        }
    }

    @Test(
        "A sentence longer than the size is cut at words, preferring line breaks",
        arguments: [
            ChunkingPolicy(unit: .characters, size: 60, overlap: 0),
            ChunkingPolicy(unit: .tokens, size: 12, overlap: 3),
        ])
    func longSentence(policy: ChunkingPolicy) async throws {
        let words = (0..<60).map { "word\($0)" }
        let text = "Short start. " + words.joined(separator: " ") + " end."
        let chunks = try await checkedChunks(text, policy)
        #expect(chunks.count > 4)
        // Less than half a chunk before the long sentence: the chunk is filled with its first words.
        #expect(chunks[0].text.hasPrefix("Short start. word0 word1"))
        for chunk in chunks {
            // Cut at words: a chunk starts and ends on a whole word.
            #expect(chunk.text.hasPrefix("Short start.") || chunk.text.hasPrefix("word"), "\(chunk.text)")
            #expect(chunk.text.hasSuffix("end.") || chunk.text.last!.isNumber, "\(chunk.text)")
        }

        let lines = (0..<8).map { line in (0..<5).map { "w\(line)x\($0)" }.joined(separator: " ") }
        let wrapped = lines.joined(separator: "\n") + "."
        let lineChunks = try await checkedChunks(wrapped, ChunkingPolicy(unit: .characters, size: 60, overlap: 0))
        #expect(
            lineChunks.map(\.text) == [
                lines[0] + "\n" + lines[1], lines[2] + "\n" + lines[3], lines[4] + "\n" + lines[5],
                lines[6] + "\n" + lines[7] + ".",
            ])
    }

    @Test("A word longer than the size is cut by scalars in characters mode")
    func longWordCharacters() async throws {
        let word = String(repeating: "abcdefghij", count: 25)
        let text = "Before it. \(word) after."
        let chunks = try await checkedChunks(text, ChunkingPolicy(unit: .characters, size: 100, overlap: 10))
        #expect(chunks.map(\.text).joined().contains(word))
        #expect(chunks.contains { $0.text.count == 100 })
    }

    @Test("A 2 MB single-line text without spaces is cut by maxScalars in tokens mode")
    func hugeWordTokens() async throws {
        let text = String(repeating: "x", count: 2_000_000)
        let counter = FakeTokenCounter()
        let policy = ChunkingPolicy(unit: .tokens, size: 254, overlap: 32)
        let chunks = try await checkedChunks(text, policy, counter: counter)
        #expect(policy.maxScalars == 254 * 12)
        #expect(chunks.count == (2_000_000 + policy.maxScalars - 1) / policy.maxScalars)
        #expect(chunks.dropLast().allSatisfy { $0.endOffset - $0.startOffset == policy.maxScalars })
        #expect(counter.batchSizes.count == 1)
    }

    @Test("A word with more tokens than the size, or longer than maxScalars, is cut where BERT splits words")
    func punctuatedWord() async throws {
        let word = (0..<100).map { "p\($0)" }.joined(separator: "-")  // 199 tokens
        let text = "Intro sentence. \(word) outro."
        let counter = FakeTokenCounter()
        // maxScalars above the word's length, so only its token count makes it split.
        let policy = ChunkingPolicy(unit: .tokens, size: 20, overlap: 4, maxScalars: 1_000)
        let chunks = try await checkedChunks(text, policy, counter: counter)
        #expect(chunks.count >= 10)
        #expect(counter.batchSizes.count == 2)

        // Longer than maxScalars: hard splits, but where BERT splits too, never inside "p12".
        let splitCounter = FakeTokenCounter()
        let split = try await checkedChunks(
            text, ChunkingPolicy(unit: .tokens, size: 20, overlap: 4, maxScalars: 30), counter: splitCounter)
        #expect(split.count >= 14)
        #expect(splitCounter.batchSizes.count == 1)
        let scalars = Array(text.unicodeScalars)
        for chunk in split {
            let cutsWord = [chunk.startOffset, chunk.endOffset].contains { offset in
                offset > 0 && offset < scalars.count
                    && !"- .".unicodeScalars.contains(scalars[offset - 1])
                    && !"- .".unicodeScalars.contains(scalars[offset])
            }
            #expect(!cutsWord, "\(chunk.text)")
        }
    }

    @Test("A piece with more tokens than the size even alone gets a proportional estimate")
    func estimatedSplit() async throws {
        // A counter where every scalar is a token: an unpunctuated word is one pre-token.
        let counter: @Sendable ([Substring]) async throws -> [Int] = { pieces in
            pieces.map { $0.unicodeScalars.filter { !$0.properties.isWhitespace }.count }
        }
        let text = "Tiny. abcdefghijklmnopqrstuvwxyz end"
        let policy = ChunkingPolicy(unit: .tokens, size: 8, overlap: 0)
        let chunks = try await Chunker(policy: policy).chunk(text, countTokens: counter)
        expectChunkInvariants(chunks, of: text, policy: policy, sizesAreExact: false)
        #expect(chunks.allSatisfy { $0.size <= 8 && $0.size == $0.text.unicodeScalars.filter { $0 != " " }.count })
    }

    @Test(
        "CJK text without spaces is cut at its sentence marks, else by scalars",
        arguments: [
            ChunkingPolicy(unit: .characters, size: 20, overlap: 0),
            ChunkingPolicy(unit: .tokens, size: 20, overlap: 5),
        ])
    func cjk(policy: ChunkingPolicy) async throws {
        let chunks = try await checkedChunks(SampleTexts.cjk, policy)
        #expect(chunks.first?.text == "我爱北京天安门。天安门上太阳升！你好吗？")
        let lastParagraph = try #require(SampleTexts.cjk.components(separatedBy: "\n\n").last)
        let lastParagraphStart = SampleTexts.cjk.unicodeScalars.count - lastParagraph.unicodeScalars.count
        for chunk in chunks where chunk.startOffset < lastParagraphStart {
            #expect("。！？".contains(chunk.text.last!) || chunk.text.hasSuffix("あります"), "\(chunk.text)")
        }
        // The sentence without marks is longer than a chunk: it is cut by scalars (one token each).
        let cut = chunks.filter { $0.startOffset >= lastParagraphStart }
        #expect(cut.count >= 4)
        #expect(cut.dropLast().allSatisfy { $0.text.unicodeScalars.count == 20 })
    }

    @Test(
        "Offsets count Unicode scalars, not Characters or UTF-8 bytes",
        arguments: [
            ChunkingPolicy(unit: .characters, size: 40, overlap: 10),
            ChunkingPolicy(unit: .tokens, size: 10, overlap: 3),
        ])
    func scalarOffsets(policy: ChunkingPolicy) async throws {
        let text = SampleTexts.graphemes
        let chunks = try await checkedChunks(text, policy)
        let scalars = Array(text.unicodeScalars)
        // Where "near" is, in scalars; Characters and UTF-8 bytes give other numbers here.
        let near = try #require(text.range(of: "near"))
        let nearOffset = text.unicodeScalars.distance(from: text.unicodeScalars.startIndex, to: near.lowerBound)
        #expect(nearOffset != text.distance(from: text.startIndex, to: near.lowerBound))
        #expect(nearOffset != text.utf8.distance(from: text.utf8.startIndex, to: near.lowerBound))
        let chunk = try #require(chunks.first { $0.text.contains("near") })
        let inChunk = try #require(chunk.text.range(of: "near"))
        #expect(
            chunk.startOffset + chunk.text.unicodeScalars.distance(from: chunk.text.startIndex, to: inChunk.lowerBound)
                == nearOffset)
        #expect(scalars[chunk.startOffset..<chunk.endOffset].string == chunk.text)
    }

    @Test("Hard splits do not separate a letter from its combining marks")
    func combiningMarks() async throws {
        let text = String(repeating: "e\u{301}\u{302}", count: 100)  // one 300-scalar word
        let chunks = try await checkedChunks(text, ChunkingPolicy(unit: .characters, size: 50, overlap: 0))
        #expect(chunks.count >= 6)
        for chunk in chunks {
            #expect(chunk.text.unicodeScalars.first == "e")
        }
    }

    @Test(
        "Chunking always moves on when the overlap is at least as big as the pieces",
        arguments: [
            ChunkingPolicy(unit: .characters, size: 10, overlap: 9),
            ChunkingPolicy(unit: .characters, size: 2, overlap: 1),
            ChunkingPolicy(unit: .tokens, size: 2, overlap: 1),
            ChunkingPolicy(unit: .tokens, size: 5, overlap: 4),
            ChunkingPolicy(unit: .tokens, size: 3, overlap: 2, maxScalars: 4),
        ])
    func progress(policy: ChunkingPolicy) async throws {
        let text =
            "a b c d e f g h i j k l m n o p. Aa bb cc dd ee ff gg hh ii jj. " + String(repeating: "z", count: 37)
            + " Tail, end."
        let chunks = try await checkedChunks(text, policy)
        #expect(chunks.count > 5)
    }

    @Test("The token counter is called once when every sentence fits, twice when some do not")
    func counterCalls() async throws {
        let fits = FakeTokenCounter()
        _ = try await checkedChunks(
            SampleTexts.prose, ChunkingPolicy(unit: .tokens, size: 200, overlap: 20), counter: fits)
        #expect(fits.batchSizes.count == 1)

        let splits = FakeTokenCounter()
        _ = try await checkedChunks(
            SampleTexts.prose, ChunkingPolicy(unit: .tokens, size: 12, overlap: 4), counter: splits)
        #expect(splits.batchSizes.count == 2)
    }

    @Test("A token counter that returns the wrong number of counts, or none at all, is an error")
    func counterErrors() async throws {
        let policy = ChunkingPolicy(unit: .tokens, size: 10, overlap: 0)
        let error = await #expect(throws: ChunkingError.self) {
            _ = try await Chunker(policy: policy).chunk("One. Two.") { _ in [1] }
        }
        #expect(error?.field == "countTokens")
        let missing = await #expect(throws: ChunkingError.self) {
            _ = try await Chunker(policy: policy).chunk("One. Two.", countTokens: nil)
        }
        #expect(missing?.field == "countTokens")
        let negative = await #expect(throws: ChunkingError.self) {
            _ = try await Chunker(policy: policy).chunk("One. Two.") { pieces in pieces.map { _ in -1 } }
        }
        #expect(negative?.field == "countTokens")
    }

    @Test("An invalid policy is refused, naming the field")
    func policyValidation() async throws {
        #expect(throws: ChunkingError(field: "size", message: "must be greater than 0, got 0")) {
            try ChunkingPolicy(unit: .characters, size: 0, overlap: 0).validated()
        }
        for overlap in [-1, 10, 11] {
            let error = #expect(throws: ChunkingError.self) {
                try ChunkingPolicy(unit: .tokens, size: 10, overlap: overlap).validated()
            }
            #expect(error?.field == "overlap")
        }
        let error = #expect(throws: ChunkingError.self) {
            try ChunkingPolicy(unit: .tokens, size: 10, overlap: 0, maxScalars: 0).validated()
        }
        #expect(error?.field == "maxScalars")
        let chunkError = await #expect(throws: ChunkingError.self) {
            _ = try await Chunker(policy: ChunkingPolicy(unit: .characters, size: 5, overlap: 5)).chunk(
                "text", countTokens: nil)
        }
        #expect(chunkError?.field == "overlap")

        #expect(ChunkingPolicy(unit: .tokens, size: 254, overlap: 0).maxScalars == 3048)
        #expect(ChunkingPolicy(unit: .characters, size: 500, overlap: 0).maxScalars == 500)
        #expect(ChunkingPolicy(unit: .tokens, size: Int.max, overlap: 0).maxScalars == Int.max)
        #expect(try ChunkingPolicy(unit: .tokens, size: 10, overlap: 9).validated().overlap == 9)
    }
}
