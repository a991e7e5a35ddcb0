import Foundation
import Testing
import TextEmbedding

/// The embedder against sentence-transformers' vectors for the same 24 texts. The model comes
/// from Scripts/fetch-model.sh; without it these tests fail and say so.
@Suite("all-MiniLM-L6-v2 against sentence-transformers")
struct MiniLMEmbedderTests {
    static let tolerance: Float = 1e-5

    @Test("The model reports its id, dimension and maximum length")
    func metadata() throws {
        let embedder = try TestData.embedder.get()
        #expect(embedder.modelID == "all-MiniLM-L6-v2")
        #expect(embedder.dimension == 384)
        #expect(embedder.maxTokens == 256)
    }

    @Test("Embeddings of the 24 texts, in one batch, match within 1e-5")
    func referenceEmbeddingsBatched() throws {
        let embedder = try TestData.embedder.get()
        let references = try TestData.referenceEmbeddings.get()
        #expect(references.count == 24)
        let embeddings = try embedder.embeddings(for: references.map(\.text))
        try #require(embeddings.count == references.count)
        var worst: Float = 0
        for (embedding, reference) in zip(embeddings, references) {
            try #require(embedding.vector.count == 384)
            let difference = maxAbsoluteDifference(embedding.vector, reference.embedding)
            worst = max(worst, difference)
            #expect(difference <= Self.tolerance, "\(reference.text.prefix(40).debugDescription): max difference \(difference)")
        }
        print("largest difference from sentence-transformers over \(references.count) texts: \(worst)")
    }

    @Test(
        "With every product through OpenBLAS the 24 texts match within 1e-5 too, and within 1e-6 of the packed path",
        .enabled(if: MiniLMEmbedder.packedWeightsSupported, "without AVX-512F the default is already OpenBLAS for every product")
    )
    func unpackedWeights() throws {
        let packed = try TestData.embedder.get()
        let unpacked = try MiniLMEmbedder(modelDirectory: TestData.modelDirectory, configuration: .init(packedWeights: false))
        let references = try TestData.referenceEmbeddings.get()
        let texts = references.map(\.text)
        for ((a, b), reference) in zip(zip(try unpacked.embed(texts), try packed.embed(texts)), references) {
            #expect(maxAbsoluteDifference(a, reference.embedding) <= Self.tolerance, "\(reference.text.prefix(40).debugDescription)")
            #expect(maxAbsoluteDifference(a, b.map(Double.init)) <= 1e-6, "\(reference.text.prefix(40).debugDescription)")
        }
    }

    @Test("One text at a time gives the batch's vectors")
    func singleMatchesBatch() throws {
        let embedder = try TestData.embedder.get()
        let texts = try TestData.referenceEmbeddings.get().map(\.text)
        let batched = try embedder.embed(texts)
        for (text, vector) in zip(texts, batched) {
            let single = try embedder.embed([text])[0]
            #expect(maxAbsoluteDifference(single, vector.map(Double.init)) <= 1e-6, "\(text.prefix(40).debugDescription)")
        }
    }

    @Test("A batch split over several passes gives the same vectors")
    func multiplePasses() throws {
        let model = try TestData.embedder.get()
        let small = try MiniLMEmbedder(
            modelDirectory: TestData.modelDirectory, configuration: .init(threadCount: 1, maxTokensPerPass: 300))
        let references = try TestData.referenceEmbeddings.get()
        let texts = references.map(\.text)
        for (a, b) in zip(try small.embed(texts), try model.embed(texts)) {
            #expect(maxAbsoluteDifference(a, b.map(Double.init)) <= 1e-6)
        }
    }

    @Test("One thread encoding a batch in groups gives the vectors of passes too small to group, bit for bit")
    func oneThreadGroups() throws {
        // The 24 texts are 751 tokens: one pass on one thread takes them in groups; passes of at
        // most 300 tokens each run whole.
        let grouped = try MiniLMEmbedder(modelDirectory: TestData.modelDirectory, configuration: .init(threadCount: 1))
        let whole = try MiniLMEmbedder(
            modelDirectory: TestData.modelDirectory, configuration: .init(threadCount: 1, maxTokensPerPass: 300))
        let texts = try TestData.referenceEmbeddings.get().map(\.text)
        let vectors = try grouped.embed(texts)
        #expect(vectors.count == texts.count)
        #expect(vectors == (try whole.embed(texts)))
    }

    @Test("Token counts and the truncated flag")
    func tokenCounts() throws {
        let embedder = try TestData.embedder.get()
        let tokens = try TestData.referenceTokens.get()
        let embeddings = try embedder.embeddings(for: tokens.map(\.text))
        for (embedding, reference) in zip(embeddings, tokens) {
            #expect(embedding.tokenCount == reference.input_ids.count)
            #expect(embedding.isTruncated == (embedder.tokenizer.tokenIDs(reference.text).count + 2 > 256))
        }
        #expect(embeddings.contains { $0.isTruncated })
    }

    @Test("The arithmetic of a pass: every dense weight twice per token and layer, and attention's square")
    func productOperations() throws {
        let embedder = try TestData.embedder.get()
        // "hello world" is [CLS] hello world [SEP]. A layer's dense weights are 384·1152 (query,
        // key, value) + 384·384 (output) + 384·1536 + 1536·384 (feed-forward) = 1,769,472; each
        // is a multiply and an add per token. Attention: 4 tokens² · 384 for the scores and as
        // many for the weighted sum, a multiply and an add each. Six layers.
        let one = 6 * (4 * 2 * 1_769_472 + 2 * 2 * 16 * 384)
        let tokens = embedder.tokenize("hello world").ids.count
        #expect(tokens == 4)
        #expect(embedder.productOperations(tokenCounts: [tokens]) == Double(one))
        // Texts add up; attention does not cross them.
        #expect(embedder.productOperations(tokenCounts: [tokens, tokens]) == Double(2 * one))
        #expect(embedder.productOperations(tokenCounts: []) == 0)
    }

    @Test("Vectors have unit length; an empty batch gives nothing")
    func unitVectors() throws {
        let embedder = try TestData.embedder.get()
        for vector in try embedder.embed(["hello", "", String(repeating: "word ", count: 400)]) {
            let norm = vector.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
            #expect(abs(norm - 1) < 1e-5)
        }
        #expect(try embedder.embed([]).isEmpty)
    }

    @Test("Concurrent callers get the same vectors as one caller")
    func concurrentCallers() async throws {
        let embedder = try TestData.embedder.get()
        let texts = try TestData.referenceEmbeddings.get().map(\.text)
        let expected = try embedder.embed(texts)
        try await withThrowingTaskGroup(of: [[Float]].self) { group in
            for _ in 0..<4 {
                group.addTask { try embedder.embed(texts) }
            }
            for try await vectors in group {
                #expect(vectors == expected)
            }
        }
    }

    @Test("Passes side by side, each on one thread in buffers of its own, give one caller's vectors bit for bit")
    func concurrentPasses() async throws {
        let embedder = try MiniLMEmbedder(
            modelDirectory: TestData.modelDirectory, configuration: .init(threadCount: 2, concurrentPasses: 2))
        let texts = try TestData.referenceEmbeddings.get().map(\.text)
        let expected = try embedder.embed(texts)
        try await withThrowingTaskGroup(of: [[Float]].self) { group in
            for _ in 0..<4 {
                group.addTask { try embedder.embeddings(for: texts, threads: 1).map(\.vector) }
            }
            var answered = 0
            for try await vectors in group {
                #expect(vectors == expected)
                answered += 1
            }
            #expect(answered == 4)
        }
    }

    @Test("A missing model directory is a modelNotFound error naming the fetch script")
    func missingModel() {
        let directory = URL(fileURLWithPath: "/nonexistent/trove-model")
        do {
            _ = try MiniLMEmbedder(modelDirectory: directory)
            Issue.record("loading a missing model succeeded")
        } catch let error as TextEmbeddingError {
            #expect(error.code == .modelNotFound)
            #expect(error.message.contains("Scripts/fetch-model.sh"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    private func maxAbsoluteDifference(_ vector: [Float], _ reference: [Double]) -> Float {
        guard vector.count == reference.count else { return .infinity }
        return zip(vector, reference).reduce(0) { max($0, Float(abs(Double($1.0) - $1.1))) }
    }
}
