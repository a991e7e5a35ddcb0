import CurlHTTP
import Foundation

/// Embeddings from a server that speaks OpenAI's embeddings API (`POST <url>/embeddings`):
/// OpenAI itself, Hugging Face TEI, Ollama, vLLM, LiteLLM and others.
///
/// Texts are sent in requests of at most `maxInputsPerRequest`, one request at a time, and come
/// back in the order given whatever order the server answers in. Rate limits (429), server
/// errors (5xx), timeouts and dropped connections are retried with exponential backoff and
/// jitter, honouring `Retry-After`; a refused key, an unknown model or an answer of the wrong
/// shape is a configuration problem and is not retried. The API key never appears in errors.
///
/// The API has no tokenizer, so `tokenize` answers UNIMPLEMENTED (chunk in characters), and a
/// vector's token count is the server's own count only when a request held that one text.
public struct OpenAICompatibleProvider: EmbeddingProvider {
    /// Where the server is and what to ask of it.
    public struct Configuration: Sendable {
        /// The API's base URL, to which `/embeddings` is added: `https://api.openai.com/v1`,
        /// `http://localhost:11434/v1` (Ollama), `http://tei:8080/v1`.
        public var url: String
        /// The server's name for the model, e.g. `text-embedding-3-small`; also the model id
        /// Trove's clients and collections use.
        public var model: String
        /// The length of the model's vectors; an answer of another length is refused.
        public var dimension: Int
        /// The most tokens the model embeds, as reported by `ListModels`.
        public var maxTokens: Int
        /// Sent as `Authorization: Bearer …`; nil sends none (a local server).
        public var apiKey: String?
        /// Where the key comes from, for messages: e.g. `the OPENAI_API_KEY environment variable`.
        public var apiKeySource: String
        /// Whether to send `dimensions` (models such as text-embedding-3 shorten their vectors
        /// to it); most other servers refuse the parameter.
        public var sendsDimensions: Bool
        /// `float` (JSON numbers; every server) or `base64` (exact and smaller; OpenAI, TEI, vLLM).
        public var encodingFormat: String
        /// The most texts in one HTTP request (OpenAI allows 2048).
        public var maxInputsPerRequest: Int
        /// Tries per request, the first included.
        public var maxAttempts: Int
        /// The wait before the first retry; each further retry waits twice as long, with jitter.
        public var initialBackoff: Duration
        /// Longest wait for a connection.
        public var connectTimeout: Duration
        /// Longest wait for one HTTP request's whole answer (also without a byte moving: servers
        /// send nothing until the vectors are ready).
        public var requestTimeout: Duration

        /// Creates a configuration.
        public init(
            url: String,
            model: String,
            dimension: Int,
            maxTokens: Int = 8191,
            apiKey: String?,
            apiKeySource: String = "the configured environment variable",
            sendsDimensions: Bool = false,
            encodingFormat: String = "float",
            maxInputsPerRequest: Int = 256,
            maxAttempts: Int = 4,
            initialBackoff: Duration = .milliseconds(500),
            connectTimeout: Duration = .seconds(10),
            requestTimeout: Duration = .seconds(120)
        ) {
            self.url = url
            self.model = model
            self.dimension = dimension
            self.maxTokens = maxTokens
            self.apiKey = apiKey
            self.apiKeySource = apiKeySource
            self.sendsDimensions = sendsDimensions
            self.encodingFormat = encodingFormat
            self.maxInputsPerRequest = maxInputsPerRequest
            self.maxAttempts = maxAttempts
            self.initialBackoff = initialBackoff
            self.connectTimeout = connectTimeout
            self.requestTimeout = requestTimeout
        }
    }

    public let providerName = "openai-compatible"
    public let modalities: Set<EmbeddingModality> = [.text]
    public var modelID: String { self.configuration.model }
    public var dimension: Int { self.configuration.dimension }
    public var maxTokens: Int { self.configuration.maxTokens }
    public var unavailableReason: String? { nil }

    private let configuration: Configuration
    private let endpoint: String
    private let http: CurlHTTPClient

    /// Creates a provider; nothing is sent until the first texts are embedded.
    public init(configuration: Configuration) {
        precondition(configuration.dimension >= 1, "dimension must be at least 1")
        precondition(configuration.maxInputsPerRequest >= 1, "maxInputsPerRequest must be at least 1")
        self.configuration = configuration
        var base = configuration.url
        while base.hasSuffix("/") { base.removeLast() }
        self.endpoint = base + "/embeddings"
        self.http = CurlHTTPClient(
            timeouts: .init(connect: configuration.connectTimeout, idle: configuration.requestTimeout, total: configuration.requestTimeout)
        )
    }

    public func embed(_ texts: [String]) async throws -> [TextVector] {
        var vectors: [TextVector] = []
        vectors.reserveCapacity(texts.count)
        var start = 0
        while start < texts.count {
            let end = min(texts.count, start + self.configuration.maxInputsPerRequest)
            vectors += try await self.embedRequest(Array(texts[start..<end]))
            start = end
        }
        return vectors
    }

    public func tokenize(_ texts: [String]) async throws -> [TextTokens] {
        throw EmbeddingError(
            code: .unimplemented,
            message: "\(self.modelID) is served by an OpenAI-compatible API, which has no tokenizer: size chunks in characters (ingestion.chunk_unit, or the collection's chunking unit)"
        )
    }

    // MARK: One request

    private struct RequestBody: Encodable {
        var model: String
        var input: [String]
        var encoding_format: String
        var dimensions: Int?
    }

    private struct ResponseBody: Decodable {
        struct Item: Decodable {
            var index: Int
            var embedding: Embedding
        }
        struct Usage: Decodable {
            var prompt_tokens: Int?
        }
        var data: [Item]
        var usage: Usage?
    }

    /// A vector as JSON numbers or as base64 of little-endian float32s.
    private enum Embedding: Decodable {
        case numbers([Double])
        case base64(String)

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) {
                self = .base64(text)
            } else {
                self = .numbers(try container.decode([Double].self))
            }
        }

        func floats() -> [Float]? {
            switch self {
            case .numbers(let numbers):
                return numbers.map { Float($0) }
            case .base64(let text):
                guard let data = Data(base64Encoded: text), data.count % 4 == 0 else { return nil }
                return data.withUnsafeBytes { bytes in
                    (0..<data.count / 4).map { Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
                }
            }
        }
    }

    private func embedRequest(_ texts: [String]) async throws -> [TextVector] {
        let body = try JSONEncoder().encode(
            RequestBody(
                model: self.configuration.model,
                input: texts,
                encoding_format: self.configuration.encodingFormat,
                dimensions: self.configuration.sendsDimensions ? self.configuration.dimension : nil
            )
        )
        var headers: [(name: String, value: String)] = [("Content-Type", "application/json")]
        if let key = self.configuration.apiKey {
            headers.append(("Authorization", "Bearer \(key)"))
        }
        let request = CurlHTTPClient.Request(method: "POST", url: self.endpoint, headers: headers, body: body)

        var attempt = 0
        while true {
            attempt += 1
            let failure: EmbeddingError
            let retryAfter: Duration?
            switch try await self.send(request, count: texts.count) {
            case .vectors(let vectors):
                return vectors
            case .transientFailure(let error, let wait):
                (failure, retryAfter) = (error, wait)
            }
            guard attempt < self.configuration.maxAttempts else {
                throw EmbeddingError(
                    code: failure.code,
                    field: failure.field,
                    message: "\(failure.message) (gave up after \(attempt) attempts)",
                    cause: failure.cause
                )
            }
            try await Task.sleep(for: retryAfter ?? RetryBackoff(initial: self.configuration.initialBackoff, maximum: .seconds(20)).delay(beforeRetry: attempt))
        }
    }

    private enum Attempt {
        case vectors([TextVector])
        /// A failure that may pass; `retryAfter` is the server's own wait, when it gave one.
        case transientFailure(EmbeddingError, retryAfter: Duration?)
    }

    /// One try; a failure that will not pass is thrown.
    private func send(_ request: CurlHTTPClient.Request, count: Int) async throws -> Attempt {
        let response: CurlHTTPClient.Response
        do {
            // A cancelled call (its client gone, or shutdown past its grace) stops waiting.
            response = try await self.http.perform(request, stopsWhenCancelled: true)
        } catch let error as CurlHTTPClient.TransportError {
            let what = error.isTimeout ? "timed out" : "failed"
            let failure = EmbeddingError(code: .unavailable, message: "the request to \(self.endpoint) \(what): \(error.message)", cause: error)
            return .transientFailure(failure, retryAfter: nil)
        }
        if (200..<300).contains(response.status) {
            return .vectors(try self.vectors(from: response.body, count: count))
        }
        let failure = self.error(for: response)
        guard Self.isTransient(status: response.status) else { throw failure }
        return .transientFailure(failure, retryAfter: Self.retryAfter(response.headers))
    }

    private func vectors(from body: Data, count: Int) throws -> [TextVector] {
        let decoded: ResponseBody
        do {
            decoded = try JSONDecoder().decode(ResponseBody.self, from: body)
        } catch {
            throw self.badAnswer("it is not an embeddings response (\(Self.excerpt(body)))")
        }
        guard decoded.data.count == count else {
            throw self.badAnswer("\(decoded.data.count) vectors for \(count) texts")
        }
        var vectors = [TextVector?](repeating: nil, count: count)
        let tokenCount = count == 1 ? decoded.usage?.prompt_tokens ?? 0 : 0
        for item in decoded.data {
            guard vectors.indices.contains(item.index), vectors[item.index] == nil else {
                throw self.badAnswer("index \(item.index) is out of range or repeated")
            }
            guard let values = item.embedding.floats() else {
                throw self.badAnswer("the vector at index \(item.index) is not valid base64 of float32s")
            }
            guard values.count == self.dimension else {
                throw self.badAnswer("vectors of \(values.count) floats, but the model is configured with dimension \(self.dimension)")
            }
            guard values.allSatisfy(\.isFinite) else {
                throw self.badAnswer("the vector at index \(item.index) holds NaN or infinity")
            }
            vectors[item.index] = TextVector(values: values, tokenCount: tokenCount, isTruncated: false)
        }
        return vectors.map { $0! }
    }

    private func badAnswer(_ what: String) -> EmbeddingError {
        EmbeddingError(code: .modelUnavailable, message: "\(self.endpoint) answered with \(what)")
    }

    // MARK: Errors and retries

    /// 408, 409 (OpenAI's "try again"), 429 and 5xx may pass; other answers will not change.
    private static func isTransient(status: Int) -> Bool {
        status == 408 || status == 409 || status == 429 || status >= 500
    }

    private func error(for response: CurlHTTPClient.Response) -> EmbeddingError {
        let said = self.scrubbed(Self.serverMessage(response.body))
        let answer = "\(self.endpoint) answered HTTP \(response.status): \(said)"
        switch response.status {
        case 400, 413, 422:
            return EmbeddingError(code: .invalidArgument, field: "texts", message: answer)
        case 401, 403:
            let key = self.configuration.apiKey == nil
                ? "no API key was sent (set \(self.configuration.apiKeySource))"
                : "check the key in \(self.configuration.apiKeySource)"
            return EmbeddingError(code: .modelUnavailable, message: "\(answer); \(key)")
        case 429:
            return EmbeddingError(code: .resourceExhausted, message: answer)
        case 408, 409, 500...:
            return EmbeddingError(code: .unavailable, message: answer)
        default:
            return EmbeddingError(code: .modelUnavailable, message: answer)
        }
    }

    /// The error text of an OpenAI-style (`{"error": {"message": …}}`) or TEI/Ollama-style
    /// (`{"error": "…"}`) answer, else the start of the body.
    private static func serverMessage(_ body: Data) -> String {
        if let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] {
            if let error = object["error"] as? [String: Any], let message = error["message"] as? String {
                return message
            }
            if let message = object["error"] as? String {
                return message
            }
        }
        return excerpt(body)
    }

    private static func excerpt(_ body: Data) -> String {
        let text = String(decoding: body.prefix(200), as: UTF8.self)
        return text.isEmpty ? "no body" : text + (body.count > 200 ? "…" : "")
    }

    /// A server may quote the key it refused; it does not leave this process.
    private func scrubbed(_ message: String) -> String {
        guard let key = self.configuration.apiKey, !key.isEmpty else { return message }
        return message.replacingOccurrences(of: key, with: "[key]")
    }

    /// `Retry-After` in seconds, or OpenAI's `retry-after-ms`; at most a minute.
    private static func retryAfter(_ headers: [String: String]) -> Duration? {
        if let value = headers["retry-after-ms"], let milliseconds = Double(value), milliseconds >= 0 {
            return .milliseconds(Int64(min(milliseconds, 60_000)))
        }
        if let value = headers["retry-after"], let seconds = Double(value), seconds >= 0 {
            return .milliseconds(Int64(min(seconds, 60) * 1000))
        }
        return nil
    }
}
