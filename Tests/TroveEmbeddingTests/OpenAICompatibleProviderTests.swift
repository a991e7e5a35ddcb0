import Foundation
import GRPCCore
import Testing
import TextEmbedding
import TroveContracts
import TroveEmbedding
import TroveTestSupport

/// The `openai-compatible` provider against a real HTTP server speaking OpenAI's embeddings API
/// (Tests/Support/openai_embedding_server.py: all-MiniLM-L6-v2 in numpy, tokenized by Hugging
/// Face `tokenizers`), with faults injected by the server.
@Suite("OpenAI-compatible provider")
struct OpenAICompatibleProviderTests {
    private func startServer() throws -> OpenAIEmbeddingServer {
        try OpenAIEmbeddingServer(modelDirectory: try modelDirectory().path)
    }

    private func provider(
        _ server: OpenAIEmbeddingServer,
        apiKey: String?? = .none,
        dimension: Int = 384,
        model: String? = nil,
        encodingFormat: String = "float",
        maxInputsPerRequest: Int = 256,
        maxAttempts: Int = 4,
        requestTimeout: Duration = .seconds(30)
    ) -> OpenAICompatibleProvider {
        OpenAICompatibleProvider(
            configuration: .init(
                url: server.url,
                model: model ?? server.model,
                dimension: dimension,
                maxTokens: 256,
                apiKey: apiKey ?? server.apiKey,
                apiKeySource: "TEST_API_KEY",
                encodingFormat: encodingFormat,
                maxInputsPerRequest: maxInputsPerRequest,
                maxAttempts: maxAttempts,
                initialBackoff: .milliseconds(10),
                requestTimeout: requestTimeout
            )
        )
    }

    private static let texts = [
        "The cat sat on the mat.",
        "Vector databases index embeddings for nearest-neighbour search.",
        "Café au lait, naïve résumé.",
        "東京は日本の首都です。",
        "Rust and Swift both have strong type systems.",
        "A quick brown fox jumps over the lazy dog.",
        "Object storage keeps the raw bytes of every document.",
        "Ingestion extracts text, chunks it and embeds the chunks.",
        "SQLite is the metadata service's default database.",
        "Semantic search ranks chunks by cosine similarity.",
    ]

    @Test("Vectors from the server match the built-in model, in order, in requests of the configured size")
    func vectorsMatchTheBuiltInModel() async throws {
        let server = try self.startServer()
        let expected = try MiniLMEmbedder(modelDirectory: try modelDirectory()).embeddings(for: Self.texts)

        let vectors = try await self.provider(server, maxInputsPerRequest: 4).embed(Self.texts)
        #expect(vectors.count == Self.texts.count)
        for (index, (got, want)) in zip(vectors, expected).enumerated() {
            #expect(maxAbsoluteDifference(got.values, want.vector) < 1e-5, "text \(index)")
            #expect(!got.isTruncated)
        }
        let seen = try await server.seenRequests()
        #expect(seen.map(\.inputs) == [4, 4, 2])
        #expect(seen.allSatisfy { $0.authorized && $0.status == 200 })

        // base64 carries the same float32s as the JSON numbers (the same requests are the same
        // padded batches on the server, so the same floats).
        let base64 = try await self.provider(server, encodingFormat: "base64", maxInputsPerRequest: 4).embed(Self.texts)
        let identical = base64.map(\.values) == vectors.map(\.values)
        #expect(identical)

        // One text per request: the server's token count is the text's.
        let single = try await self.provider(server).embed(["Hello, world!"])
        #expect(single[0].tokenCount == 6)
    }

    @Test("Through the service: Embed, ListModels, and Tokenize is UNIMPLEMENTED with what to do")
    func throughTheService() async throws {
        let server = try self.startServer()
        try await withEmbeddingServer(providers: [self.provider(server)]) { client in
            let response = try await client.embed(.with { $0.texts = Array(Self.texts.prefix(3)) })
            #expect(response.model == server.model)
            #expect(response.dimension == 384)
            #expect(response.embeddings.count == 3)
            #expect(response.embeddings.allSatisfy { abs(norm($0.values) - 1) < 1e-4 })

            let models = try await client.listModels(.init())
            #expect(models.models.map(\.provider) == ["openai-compatible"])
            #expect(models.models.first?.available == true)

            await expectRPCError(.unimplemented) {
                _ = try await client.tokenize(.with { $0.texts = ["one"] })
            }
            do {
                _ = try await client.tokenize(.with { $0.texts = ["one"] })
            } catch let error as RPCError {
                #expect(error.message.contains("chunk"))
            }
        }
    }

    @Test("Rate limits, server errors, stalled answers and dropped connections are retried")
    func transientFailuresAreRetried() async throws {
        let server = try self.startServer()
        try await server.failNext(2, status: 429, retryAfter: 0.05)
        try await server.failNext(1, status: 503)
        try await server.dropNext(1)
        try await server.delayNext(1, seconds: 4)
        let provider = self.provider(server, maxAttempts: 6, requestTimeout: .seconds(1))
        let vectors = try await provider.embed(Array(Self.texts.prefix(2)))
        #expect(vectors.count == 2)
        let seen = try await server.seenRequests()
        #expect(seen.count == 6, "\(seen)")
        // The stalled answer is a real one, held past the client's timeout.
        #expect(seen.prefix(4).allSatisfy { $0.injected }, "\(seen)")
        #expect(seen.last?.status == 200)
    }

    @Test("A failure that lasts ends after the configured attempts, with the status it deserves")
    func persistentFailures() async throws {
        let server = try self.startServer()
        try await server.failNext(10, status: 503)
        try await withEmbeddingServer(providers: [self.provider(server, maxAttempts: 3)]) { client in
            await expectRPCError(.unavailable) {
                _ = try await client.embed(.with { $0.texts = ["one"] })
            }
        }
        #expect(try await server.seenRequests().count == 3)

        let limited = try self.startServer()
        try await limited.failNext(10, status: 429, retryAfter: 0)
        do {
            _ = try await self.provider(limited, maxAttempts: 2).embed(["one"])
            Issue.record("a rate limit that lasts should fail")
        } catch let error as EmbeddingError {
            #expect(error.code == .resourceExhausted)
            #expect(error.message.contains("HTTP 429"))
            #expect(error.message.contains("2 attempts"))
        }

        // Nothing listens on port 1.
        let down = OpenAICompatibleProvider(
            configuration: .init(url: "http://127.0.0.1:1/v1", model: "m", dimension: 384, apiKey: nil, maxAttempts: 2, initialBackoff: .milliseconds(10))
        )
        do {
            _ = try await down.embed(["one"])
            Issue.record("an endpoint that is down should fail")
        } catch let error as EmbeddingError {
            #expect(error.code == .unavailable)
        }
    }

    @Test("A refused key, an unknown model or vectors of the wrong length are not retried, and the key is never shown")
    func configurationProblems() async throws {
        let server = try self.startServer()
        let wrongKey = "sk-wrong-0123456789abcdef"
        try await withEmbeddingServer(providers: [self.provider(server, apiKey: wrongKey)]) { client in
            do {
                _ = try await client.embed(.with { $0.texts = ["one"] })
                Issue.record("a wrong key should be refused")
            } catch let error as RPCError {
                #expect(error.code == .failedPrecondition)
                #expect(error.message.contains("HTTP 401"))
                #expect(error.message.contains("TEST_API_KEY"))
                #expect(!error.message.contains(wrongKey))
                #expect(!error.message.contains(server.apiKey))
            }
        }
        do {
            _ = try await self.provider(server, apiKey: .some(nil)).embed(["one"])
            Issue.record("a missing key should be refused")
        } catch let error as EmbeddingError {
            #expect(error.code == .modelUnavailable)
            #expect(error.message.contains("no API key was sent"))
        }
        do {
            _ = try await self.provider(server, model: "no-such-model").embed(["one"])
            Issue.record("an unknown model should be refused")
        } catch let error as EmbeddingError {
            #expect(error.code == .modelUnavailable)
            #expect(error.message.contains("HTTP 404"))
        }
        do {
            _ = try await self.provider(server, dimension: 128).embed(["one"])
            Issue.record("vectors of another length should be refused")
        } catch let error as EmbeddingError {
            #expect(error.code == .modelUnavailable)
            #expect(error.message.contains("384 floats"))
        }
        let seen = try await server.seenRequests()
        #expect(seen.count == 4, "each problem is one request, not retried: \(seen)")
        #expect(seen.map(\.authorized) == [false, false, true, true])
    }
}
