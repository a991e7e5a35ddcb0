import TroveContracts

/// The five Trove services, by the short names the command line and configuration use.
public enum TroveServiceName: String, CaseIterable, Sendable {
    case ingestion
    case embedding
    case vectorSearch = "vector-search"
    case metadata
    case objectStorage = "object-storage"

    /// The fully qualified gRPC service name, e.g. "trove.v1.ObjectStorage", as health checks use.
    public var grpcName: String {
        switch self {
        case .ingestion: Trove_V1_Ingestion.descriptor.fullyQualifiedService
        case .embedding: Trove_V1_Embedding.descriptor.fullyQualifiedService
        case .vectorSearch: Trove_V1_VectorSearch.descriptor.fullyQualifiedService
        case .metadata: Trove_V1_Metadata.descriptor.fullyQualifiedService
        case .objectStorage: Trove_V1_ObjectStorage.descriptor.fullyQualifiedService
        }
    }
}
