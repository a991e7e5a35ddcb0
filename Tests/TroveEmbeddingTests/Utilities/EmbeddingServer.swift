import Foundation
import GRPCCore
import GRPCInProcessTransport
import Logging
import Testing
import TextEmbedding
import TroveContracts
import TroveEmbedding

typealias EmbeddingClient = Trove_V1_Embedding.Client<InProcessTransport.Client>

/// Runs the real `EmbeddingService` over `providers` behind grpc-swift's in-process transport,
/// and hands `body` a client for it.
func withEmbeddingServer<T: Sendable>(
    providers: [any EmbeddingProvider],
    limits: EmbeddingService.Limits = .init(),
    _ body: (EmbeddingClient) async throws -> T
) async throws -> T {
    var logger = Logger(label: "trove.embedding.tests")
    logger.logLevel = .critical
    let service = EmbeddingService(providers: providers, limits: limits, logger: logger)
    let transport = InProcessTransport()
    return try await withGRPCServer(transport: transport.server, services: [service]) { _ in
        try await withGRPCClient(transport: transport.client) { client in
            try await body(EmbeddingClient(wrapping: client))
        }
    }
}

/// all-MiniLM-L6-v2's directory: `TROVE_MODEL_DIR`, else `.trove-model/all-MiniLM-L6-v2` in the
/// repository. A missing model fails the test, saying how to fetch it.
func modelDirectory(sourceLocation: SourceLocation = #_sourceLocation) throws -> URL {
    let directory: URL
    if let configured = ProcessInfo.processInfo.environment["TROVE_MODEL_DIR"], !configured.isEmpty {
        directory = URL(fileURLWithPath: configured)
    } else {
        let repository = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        directory = repository.appendingPathComponent(MiniLMEmbedder.defaultModelPath)
    }
    guard FileManager.default.fileExists(atPath: directory.appendingPathComponent("model.safetensors").path) else {
        throw ModelMissing(directory: directory.path)
    }
    return directory
}

struct ModelMissing: Error, CustomStringConvertible {
    let directory: String
    var description: String {
        "all-MiniLM-L6-v2 is not in \(directory): run Scripts/fetch-model.sh (or set TROVE_MODEL_DIR)"
    }
}

/// A MiniLM provider on the test model.
func makeMiniLMProvider(batching: DynamicBatcher.Configuration = .init()) throws -> MiniLMProvider {
    let provider = MiniLMProvider(configuration: .init(modelDirectory: try modelDirectory(), batching: batching))
    if let reason = provider.unavailableReason {
        Issue.record("the model did not load: \(reason)")
    }
    return provider
}

func maxAbsoluteDifference(_ a: [Float], _ b: [Float]) -> Float {
    guard a.count == b.count else { return .infinity }
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}

func norm(_ vector: [Float]) -> Float {
    vector.map { $0 * $0 }.reduce(0, +).squareRoot()
}
