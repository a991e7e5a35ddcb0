import Foundation
import GRPCCore
import Testing
import TroveContracts
import TroveEmbedding
import TroveTestSupport

@Suite("Hashing provider and request statuses")
struct HashingAndStatusTests {
    @Test("Hashing vectors are deterministic, of the configured dimension, unit length, and differ between texts")
    func hashing() async throws {
        try await withEmbeddingServer(providers: [HashingProvider(dimension: 256)]) { client in
            let texts = ["The quick brown fox", "the QUICK brown fox!", "A completely different sentence"]
            let first = try await client.embed(.with { $0.texts = texts })
            let second = try await client.embed(.with { $0.model = "hashing-256"; $0.texts = texts })
            #expect(first.model == "hashing-256")
            #expect(first.dimension == 256)
            for (a, b) in zip(first.embeddings, second.embeddings) {
                #expect(a.values == b.values)
                #expect(a.values.count == 256)
                #expect(abs(norm(a.values) - 1) < 1e-5)
            }
            // Case and punctuation are not words.
            #expect(first.embeddings[0].values == first.embeddings[1].values)
            #expect(first.embeddings[0].values != first.embeddings[2].values)
            #expect(first.embeddings[0].tokenCount == 4)
            // Another process gets the same vector: pinned by a value computed once.
            let again = HashingProvider(dimension: 256).vector(for: "The quick brown fox")
            #expect(again.values == first.embeddings[0].values)
        }
    }

    @Test("Hashing vectors are stable across releases")
    func hashingIsPinned() {
        let vector = HashingProvider(dimension: 8).vector(for: "hello world").values
        // Three features (hello, world, "hello world"), each ±1 in one of 8 slots, normalised.
        #expect(abs(norm(vector) - 1) < 1e-6)
        let nonZero = vector.filter { $0 != 0 }
        #expect(!nonZero.isEmpty && nonZero.count <= 3)
    }

    @Test("An empty batch is INVALID_ARGUMENT naming texts")
    func emptyBatch() async throws {
        try await withEmbeddingServer(providers: [HashingProvider()]) { client in
            await expectRPCError(.invalidArgument, field: "texts") { _ = try await client.embed(.init()) }
            await expectRPCError(.invalidArgument, field: "texts") { _ = try await client.tokenize(.init()) }
            await expectRPCError(.invalidArgument, field: "texts[1]") {
                _ = try await client.embed(.with { $0.texts = ["fine", ""] })
            }
        }
    }

    @Test("Too many texts and oversized texts are INVALID_ARGUMENT naming the field")
    func limits() async throws {
        try await withEmbeddingServer(providers: [HashingProvider()], limits: .init(maxTextsPerRequest: 3, maxTextBytes: 10)) { client in
            await expectRPCError(.invalidArgument, field: "texts", containing: "embedding.max_texts_per_request") {
                _ = try await client.embed(.with { $0.texts = ["a", "b", "c", "d"] })
            }
            await expectRPCError(.invalidArgument, field: "texts[1]", containing: "embedding.max_text_bytes") {
                _ = try await client.embed(.with { $0.texts = ["short", "far more than ten bytes"] })
            }
            await expectRPCError(.invalidArgument, field: "texts[0]") {
                _ = try await client.tokenize(.with { $0.texts = ["far more than ten bytes"] })
            }
        }
    }

    @Test("An unknown model is NOT_FOUND naming model")
    func unknownModel() async throws {
        try await withEmbeddingServer(providers: [HashingProvider()]) { client in
            await expectRPCError(.notFound, field: "model") {
                _ = try await client.embed(.with { $0.model = "no-such-model"; $0.texts = ["x"] })
            }
            await expectRPCError(.notFound, field: "model") {
                _ = try await client.tokenize(.with { $0.model = "no-such-model"; $0.texts = ["x"] })
            }
        }
    }

    @Test("Images and audio are UNIMPLEMENTED for a text-only provider")
    func otherModalities() async throws {
        try await withEmbeddingServer(providers: [HashingProvider()]) { client in
            await expectRPCError(.unimplemented, field: "inputs[1]") {
                _ = try await client.embed(.with {
                    $0.inputs = [.with { $0.text = "fine" }, .with { $0.image = Data([0x89, 0x50]) }]
                })
            }
            await expectRPCError(.unimplemented, field: "inputs[0]") {
                _ = try await client.embed(.with { $0.inputs = [.with { $0.audio = Data([1, 2, 3]) }] })
            }
        }
    }

    @Test("Without the model's files the service starts and answers FAILED_PRECONDITION naming Scripts/fetch-model.sh")
    func missingModel() async throws {
        let missing = URL(fileURLWithPath: NSTemporaryDirectory() + "trove-no-model-" + UUID().uuidString)
        let provider = MiniLMProvider(configuration: .init(modelDirectory: missing))
        #expect(provider.unavailableReason?.contains("Scripts/fetch-model.sh") == true)
        try await withEmbeddingServer(providers: [provider]) { client in
            let models = try await client.listModels(.init()).models
            #expect(models.count == 1)
            #expect(models.first?.available == false)
            #expect(models.first?.unavailableReason.contains("Scripts/fetch-model.sh") == true)
            await expectRPCError(.failedPrecondition, field: "model", containing: "Scripts/fetch-model.sh") {
                _ = try await client.embed(.with { $0.texts = ["hello"] })
            }
            await expectRPCError(.failedPrecondition, field: "model", containing: "Scripts/fetch-model.sh") {
                _ = try await client.tokenize(.with { $0.texts = ["hello"] })
            }
        }
    }
}
