import Foundation
import GRPCCore
import Testing
import TextEmbedding
import TroveContracts
import TroveEmbedding

@Suite("Embedding service with all-MiniLM-L6-v2")
struct MiniLMServiceTests {
    @Test("Embed matches the engine's own vectors, token counts and truncation")
    func embedMatchesEngine() async throws {
        let directory = try modelDirectory()
        let engine = try MiniLMEmbedder(modelDirectory: directory)
        let long = Array(repeating: "word", count: 400).joined(separator: " ")
        let texts = ["The cat sat on the mat.", "Swift is a programming language.", long]
        // The engine embeds the short texts; the long one's expectations come from its tokenizer,
        // which keeps a debug build from running the model over 256 tokens twice.
        let expected = try engine.embeddings(for: Array(texts.prefix(2)))
        let longTokens = engine.tokenize(long)
        let provider = try makeMiniLMProvider()
        try await withEmbeddingServer(providers: [provider]) { client in
            let response = try await client.embed(.with {
                $0.inputs = [.with { $0.text = texts[0] }]
                $0.texts = Array(texts[1...])
            })
            #expect(response.model == "all-MiniLM-L6-v2")
            #expect(response.dimension == 384)
            #expect(response.embeddings.count == 3)
            for (got, want) in zip(response.embeddings, expected) {
                #expect(maxAbsoluteDifference(got.values, want.vector) < 1e-5)
                #expect(Int(got.tokenCount) == want.tokenCount)
                #expect(got.truncated == want.isTruncated)
            }
            #expect(longTokens.isTruncated)
            #expect(response.embeddings[2].truncated)
            #expect(Int(response.embeddings[2].tokenCount) == longTokens.ids.count)
            #expect(response.embeddings[2].tokenCount == 256)
            #expect(abs(norm(response.embeddings[2].values) - 1) < 1e-4)
            #expect(!response.embeddings[0].truncated)
        }
    }

    @Test("Tokenize counts tokens before truncation and gives ids")
    func tokenize() async throws {
        let directory = try modelDirectory()
        let engine = try MiniLMEmbedder(modelDirectory: directory)
        let long = Array(repeating: "word", count: 400).joined(separator: " ")
        try await withEmbeddingServer(providers: [try makeMiniLMProvider()]) { client in
            let response = try await client.tokenize(.with {
                $0.texts = ["Hello, world!", long, ""]
                $0.includeIds = true
            })
            #expect(response.model == "all-MiniLM-L6-v2")
            #expect(response.texts.count == 3)
            let hello = engine.tokenize("Hello, world!")
            #expect(response.texts[0].ids == hello.ids.map { UInt32(bitPattern: $0) })
            #expect(Int(response.texts[0].tokenCount) == hello.ids.count)
            #expect(!response.texts[0].truncated)
            #expect(response.texts[1].tokenCount == 402)
            #expect(response.texts[1].truncated)
            #expect(response.texts[2].tokenCount == 2)

            let counts = try await client.tokenize(.with { $0.texts = ["Hello, world!"] })
            #expect(counts.texts[0].ids.isEmpty)
            #expect(counts.texts[0].tokenCount == response.texts[0].tokenCount)
        }
    }

    @Test("ListModels describes the model")
    func listModels() async throws {
        try await withEmbeddingServer(providers: [try makeMiniLMProvider(), HashingProvider(dimension: 64)]) { client in
            let models = try await client.listModels(.init()).models
            #expect(models.count == 2)
            let minilm = try #require(models.first)
            #expect(minilm.id == "all-MiniLM-L6-v2")
            #expect(minilm.provider == "minilm")
            #expect(minilm.dimension == 384)
            #expect(minilm.maxTokens == 256)
            #expect(minilm.modalities == [.text])
            #expect(minilm.available)
            #expect(minilm.isDefault)
            #expect(models[1].id == "hashing-64")
            #expect(models[1].provider == "hashing")
            #expect(!models[1].isDefault)
        }
    }

    @Test("EmbedStream answers each message in order")
    func embedStream() async throws {
        let directory = try modelDirectory()
        let engine = try MiniLMEmbedder(modelDirectory: directory)
        let batches = [["first message"], ["second message", "and another"], ["third"]]
        let expected = try batches.map { try engine.embed($0) }
        try await withEmbeddingServer(providers: [try makeMiniLMProvider()]) { client in
            let responses = try await client.embedStream(
                requestProducer: { writer in
                    for batch in batches {
                        try await writer.write(.with { $0.texts = batch })
                    }
                },
                onResponse: { response in
                    var all: [Trove_V1_EmbedResponse] = []
                    for try await message in response.messages { all.append(message) }
                    return all
                }
            )
            #expect(responses.count == 3)
            for (response, want) in zip(responses, expected) {
                #expect(response.embeddings.count == want.count)
                for (got, vector) in zip(response.embeddings, want) {
                    #expect(maxAbsoluteDifference(got.values, vector) < 1e-5)
                }
            }
        }
    }

    @Test("1,000 concurrent single-sentence requests are all answered correctly, in shared batches")
    func concurrentRequests() async throws {
        let directory = try modelDirectory()
        let engine = try MiniLMEmbedder(modelDirectory: directory)
        // Two-word sentences: a debug build of the model costs about 15 ms a token, however batched.
        let subjects = ["Cats", "Dogs", "Birds", "Fish", "Kids", "Trees", "Rivers", "Stars", "Bees", "Wolves"]
        let verbs = ["sleep", "run", "sing", "swim", "grow"]
        let sentences = subjects.flatMap { subject in verbs.map { "\(subject) \($0)" } }
        #expect(sentences.count == 50)
        // Sequential, one text per call: the reference each batched answer must equal.
        var sequential: [String: [Float]] = [:]
        for sentence in sentences {
            sequential[sentence] = try engine.embed([sentence])[0]
        }
        let reference = sequential
        let provider = try makeMiniLMProvider(batching: .init(maxBatchSize: 64, maxWait: .milliseconds(20)))
        let batcher = try #require(provider.batcher)
        let before = batcher.statistics
        let failures = try await withEmbeddingServer(providers: [provider]) { client in
            try await withThrowingTaskGroup(of: Float.self) { group in
                for index in 0..<1000 {
                    let sentence = sentences[index % sentences.count]
                    group.addTask {
                        let response = try await client.embed(.with { $0.texts = [sentence] })
                        guard response.embeddings.count == 1 else { return .infinity }
                        return maxAbsoluteDifference(response.embeddings[0].values, reference[sentence]!)
                    }
                }
                var answered = 0
                var wrong = 0
                for try await difference in group {
                    answered += 1
                    if !(difference < 1e-5) { wrong += 1 }
                }
                #expect(answered == 1000)
                return wrong
            }
        }
        #expect(failures == 0)
        let after = batcher.statistics
        let batches = after.batches - before.batches
        #expect(after.texts - before.texts == 1000)
        #expect(batches < 1000)
        #expect(after.largestBatch > 1)
        print("1,000 concurrent requests: \(batches) batches, largest \(after.largestBatch) texts")
    }
}
