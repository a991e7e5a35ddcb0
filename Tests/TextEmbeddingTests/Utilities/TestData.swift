import Foundation
import TextEmbedding

/// Where the tests find the shared reference data and the model.
enum TestData {
    /// The repository root. Symlinks are resolved so that a package that links these sources in
    /// from elsewhere still finds the files beside the real checkout.
    static let repositoryRoot = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `../shared/testdata/minilm` beside the repository: texts with the token ids and embeddings
    /// that Hugging Face tokenizers and sentence-transformers give for them.
    static let referenceDirectory = repositoryRoot.deletingLastPathComponent()
        .appendingPathComponent("shared/testdata/minilm")

    /// `$TROVE_MODEL_DIR`, else where `Scripts/fetch-model.sh` puts the model.
    static let modelDirectory: URL = {
        if let path = ProcessInfo.processInfo.environment["TROVE_MODEL_DIR"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return repositoryRoot.appendingPathComponent(MiniLMEmbedder.defaultModelPath)
    }()

    /// Why the model cannot be used, naming the command that fetches it; nil when it is there.
    static func missingModelMessage(file: String) -> String? {
        let path = modelDirectory.appendingPathComponent(file).path
        guard !FileManager.default.fileExists(atPath: path) else { return nil }
        return "\(path) is missing: run Scripts/fetch-model.sh (or Scripts/install-dependencies.sh) to fetch "
            + "\(MiniLMEmbedder.modelID), or set TROVE_MODEL_DIR to a directory that holds it"
    }

    struct ReferenceTokens: Decodable, Sendable {
        var text: String
        var input_ids: [Int32]
        var tokens: [String]
    }

    struct ReferenceEmbedding: Decodable, Sendable {
        var text: String
        var embedding: [Double]
    }

    static func readLines<T: Decodable>(_ name: String, as type: T.Type) throws -> [T] {
        let data = try Data(contentsOf: referenceDirectory.appendingPathComponent(name))
        return try data.split(separator: UInt8(ascii: "\n")).map { try JSONDecoder().decode(T.self, from: Data($0)) }
    }

    static let referenceTokens: Result<[ReferenceTokens], any Error> = Result {
        try readLines("reference_tokens.jsonl", as: ReferenceTokens.self)
    }

    static let referenceEmbeddings: Result<[ReferenceEmbedding], any Error> = Result {
        try readLines("reference.jsonl", as: ReferenceEmbedding.self)
    }

    /// The real tokenizer, loaded once.
    static let tokenizer: Result<WordPieceTokenizer, any Error> = Result {
        if let message = missingModelMessage(file: "vocab.txt") { throw TestDataError(message: message) }
        return try WordPieceTokenizer(vocabularyFile: modelDirectory.appendingPathComponent("vocab.txt"))
    }

    /// The embedder, loaded once for all tests.
    static let embedder: Result<MiniLMEmbedder, any Error> = Result {
        if let message = missingModelMessage(file: "model.safetensors") { throw TestDataError(message: message) }
        return try MiniLMEmbedder(modelDirectory: modelDirectory, configuration: .init(threadCount: 1))
    }
}

struct TestDataError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
