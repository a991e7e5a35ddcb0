import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Tests/Support/openai_embedding_server.py: a server speaking OpenAI's embeddings API that runs
/// all-MiniLM-L6-v2 in numpy (tokenized by Hugging Face `tokenizers`), with controls for
/// injecting rate limits, server errors, delays and dropped connections. Each instance is its
/// own process, stopped when the instance goes away.
public final class OpenAIEmbeddingServer: Sendable {
    /// The API's base URL, e.g. `http://127.0.0.1:PORT/v1`.
    public let url: String
    /// The key the server accepts.
    public let apiKey: String
    /// The model name it serves.
    public let model: String
    private let process: Process
    private let input: Pipe

    /// What the server saw of one embeddings request.
    public struct SeenRequest: Decodable, Sendable {
        /// Texts in the request; 0 when it could not be read.
        public let inputs: Int
        /// Whether a fault was injected instead of an answer.
        public let injected: Bool
        public let status: Int
        /// Whether it carried the right key.
        public let authorized: Bool
    }

    /// Starts a server on the model in `modelDirectory`.
    public init(modelDirectory: String) throws {
        let (process, input, line) = try startSupportScript("openai_embedding_server.py", arguments: ["--model-dir", modelDirectory])
        struct Started: Decodable {
            let url: String
            let api_key: String
            let model: String
        }
        let started = try JSONDecoder().decode(Started.self, from: line)
        self.url = started.url
        self.apiKey = started.api_key
        self.model = started.model
        self.process = process
        self.input = input
    }

    /// Starts a server on the model the tests use: `TROVE_MODEL_DIR`, else where
    /// `Scripts/fetch-model.sh` puts it in the repository.
    public convenience init() throws {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let configured = ProcessInfo.processInfo.environment["TROVE_MODEL_DIR"].flatMap { $0.isEmpty ? nil : $0 }
        try self.init(modelDirectory: configured ?? repository.appendingPathComponent(".trove-model/all-MiniLM-L6-v2").path)
    }

    deinit {
        try? self.input.fileHandleForWriting.close()
    }

    /// The environment that makes `trove` embed through this server (384 dimensions; the key in
    /// `TROVE_TEST_EMBEDDING_KEY`).
    public var troveEnvironment: [String: String] {
        [
            "TROVE_EMBEDDING_PROVIDER": "openai-compatible",
            "TROVE_EMBEDDING_OPENAI_URL": self.url,
            "TROVE_EMBEDDING_OPENAI_MODEL": self.model,
            "TROVE_EMBEDDING_OPENAI_DIMENSION": "384",
            "TROVE_EMBEDDING_OPENAI_API_KEY_ENV": "TROVE_TEST_EMBEDDING_KEY",
            "TROVE_TEST_EMBEDDING_KEY": self.apiKey,
        ]
    }

    /// Answers the next `count` embeddings requests with HTTP `status`, and `Retry-After` when given.
    public func failNext(_ count: Int, status: Int, retryAfter: Double? = nil) async throws {
        var fault: [String: any Sendable] = ["status": status, "count": count]
        if let retryAfter { fault["retry_after"] = retryAfter }
        try await self.control(fault)
    }

    /// Holds the answers to the next `count` embeddings requests for `seconds`.
    public func delayNext(_ count: Int, seconds: Double) async throws {
        try await self.control(["delay_seconds": seconds, "count": count])
    }

    /// Closes the next `count` connections carrying an embeddings request without an answer.
    public func dropNext(_ count: Int) async throws {
        try await self.control(["drop": true, "count": count])
    }

    /// Every embeddings request seen, in order.
    public func seenRequests() async throws -> [SeenRequest] {
        try await getJSON(SeenRequests<SeenRequest>.self, from: self.controlURL).requests
    }

    private var controlURL: String {
        self.url.replacingOccurrences(of: "/v1", with: "") + "/__control__"
    }

    private func control(_ fault: [String: any Sendable]) async throws {
        try await postJSON(fault, to: self.controlURL)
    }
}
