// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let grpcCore: Target.Dependency = .product(name: "GRPCCore", package: "grpc-swift-2")
let grpcProtobuf: Target.Dependency = .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf")
let swiftProtobuf: Target.Dependency = .product(name: "SwiftProtobuf", package: "swift-protobuf")
let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")
let metrics: Target.Dependency = .product(name: "Metrics", package: "swift-metrics")

let package = Package(
    name: "Trove",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "trove", targets: ["trove"]),
        // For the libFuzzer build in Fuzz/ (Scripts/fuzz.sh) only.
        .library(name: "TroveFuzzTargets", targets: ["FuzzTargets"]),
    ],
    dependencies: [
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // Generated gRPC contracts (Protos/ -> Scripts/generate-protos.sh). Never edited by hand.
        .target(
            name: "TroveContracts",
            dependencies: [grpcCore, grpcProtobuf, swiftProtobuf],
            swiftSettings: swiftSettings
        ),

        // Shared core: configuration, logging, error -> status mapping, server bootstrap, health.
        .target(
            name: "TroveCore",
            dependencies: [
                "TroveContracts",
                "JSONFilter",
                grpcCore,
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCInProcessTransport", package: "grpc-swift-2"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
                swiftProtobuf,
                .product(name: "NIOPosix", package: "swift-nio"),
                logging,
                metrics,
            ],
            swiftSettings: swiftSettings
        ),

        // Engine: object storage backends. Knows nothing of gRPC.
        .target(
            name: "ObjectStores",
            dependencies: [
                "CurlHTTP",
                "S3",
                "SigV4",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOPosix", package: "swift-nio"),
                logging,
            ],
            swiftSettings: swiftSettings
        ),

        // Engine: AWS Signature Version 4, for the S3 backend. Knows nothing of gRPC or HTTP clients.
        .target(
            name: "SigV4",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),

        // libcurl, the HTTP transport of the S3 client and of remote embedding providers
        // (Debian: libcurl4-openssl-dev).
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),

        // Engine: HTTP requests through libcurl, pooled connections, on threads of their own.
        // Knows nothing of gRPC, S3 or signing.
        .target(
            name: "CurlHTTP",
            dependencies: ["CCurl", .product(name: "NIOPosix", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),

        // Engine: an S3 API client (SigV4 by Trove, libcurl as transport). Knows nothing of gRPC.
        .target(
            name: "S3",
            dependencies: [
                "CurlHTTP",
                "SigV4",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),

        // SQLite, the metadata store's embedded database (Debian: libsqlite3-dev).
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),

        // JSON values and the filter expression over them, shared by the metadata store (as SQL)
        // and the vector index (evaluated in memory). Knows nothing of gRPC.
        .target(
            name: "JSONFilter",
            swiftSettings: swiftSettings
        ),

        // Engine: the metadata store (SQLite by default, PostgreSQL later). Knows nothing of gRPC.
        .target(
            name: "MetadataStore",
            dependencies: ["CSQLite", "JSONFilter"],
            swiftSettings: swiftSettings
        ),

        // OpenBLAS, the embedding model's matrix products (Debian: libopenblas-dev).
        .systemLibrary(
            name: "COpenBLAS",
            providers: [.apt(["libopenblas-dev"])]
        ),

        // Engine: the built-in text embedding model (WordPiece + all-MiniLM-L6-v2). Knows nothing of gRPC.
        .target(
            name: "TextEmbedding",
            dependencies: ["COpenBLAS", "CVectorKernels"],
            // Optimised even in debug builds: the model's loops are ~50× slower without it, which
            // would make the model's tests dominate the test run.
            swiftSettings: swiftSettings + [.unsafeFlags(["-O"], .when(configuration: .debug))]
        ),

        // Distance kernels and the model's layer norm, softmax and GELU in C, compiled for AVX2/FMA
        // and for the baseline, and its dense products over packed weights for AVX-512F; chosen
        // at run time.
        .target(
            name: "CVectorKernels",
            cSettings: [.unsafeFlags(["-O3"])]
        ),

        // Engine: the HNSW vector index with filters, deletes, write-ahead log and snapshots.
        // Knows nothing of gRPC.
        .target(
            name: "VectorIndex",
            dependencies: ["CVectorKernels", "JSONFilter"],
            swiftSettings: swiftSettings + [.unsafeFlags(["-O"], .when(configuration: .debug))]
        ),

        // The five services. A service never imports another service's module.
        .target(
            name: "TroveObjectStorage",
            dependencies: [
                "TroveCore", "TroveContracts", "ObjectStores", grpcCore, swiftProtobuf, logging, metrics,
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TroveMetadata",
            dependencies: [
                "TroveCore", "TroveContracts", "MetadataStore", "JSONFilter", grpcCore, swiftProtobuf, logging, metrics,
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TroveEmbedding",
            dependencies: ["TroveCore", "TroveContracts", "TextEmbedding", "CVectorKernels", "CurlHTTP", grpcCore, logging, metrics],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TroveVectorSearch",
            dependencies: [
                "TroveCore", "TroveContracts", "VectorIndex", "JSONFilter", grpcCore, swiftProtobuf, logging, metrics,
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TroveIngestion",
            dependencies: [
                "TroveCore",
                "TroveContracts",
                "TextProcessing",
                grpcCore,
                swiftProtobuf,
                logging,
                metrics,
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // Engine: documents' bytes to text, text to chunks with exact offsets, snippets. Knows nothing of gRPC.
        .target(
            name: "TextProcessing",
            swiftSettings: swiftSettings
        ),

        // The `trove` command: servers, health, object commands.
        .executableTarget(
            name: "trove",
            dependencies: [
                "TroveCore",
                "TroveContracts",
                "TroveObjectStorage",
                "TroveMetadata",
                "TroveEmbedding",
                "TroveVectorSearch",
                "TroveIngestion",
                "ObjectStores",
                "MetadataStore",
                "TextEmbedding",
                "VectorIndex",
                "JSONFilter",
                "S3",
                "SigV4",
                grpcCore,
                swiftProtobuf,
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCInProcessTransport", package: "grpc-swift-2"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                logging,
            ],
            swiftSettings: swiftSettings
        ),

        // Starts the servers tests talk to (moto_server for S3).
        .target(
            name: "TroveTestSupport",
            dependencies: [grpcCore],
            path: "Tests/TroveTestSupport",
            swiftSettings: swiftSettings
        ),
        // What the fuzzers check, shared by libFuzzer (Fuzz/) and the corpus replay in the tests.
        .target(
            name: "FuzzTargets",
            dependencies: ["TextEmbedding", "JSONFilter", "MetadataStore", "SigV4", "VectorIndex"],
            path: "Tests/FuzzTargets",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FuzzCorpusTests",
            dependencies: ["FuzzTargets"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ObjectStoresTests",
            dependencies: ["ObjectStores", "S3", "SigV4", "TroveTestSupport", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CurlHTTPTests",
            dependencies: ["CurlHTTP"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TextProcessingTests",
            dependencies: ["TextProcessing"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SigV4Tests",
            dependencies: ["SigV4", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TextEmbeddingTests",
            dependencies: ["TextEmbedding", "CVectorKernels"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "VectorIndexTests",
            dependencies: ["VectorIndex", "JSONFilter"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MetadataStoreTests",
            dependencies: ["MetadataStore", "JSONFilter"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TroveMetadataTests",
            dependencies: [
                "TroveTestSupport",
                "TroveMetadata", "TroveContracts", "MetadataStore", "JSONFilter", grpcCore, swiftProtobuf, logging,
                .product(name: "GRPCInProcessTransport", package: "grpc-swift-2"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TroveEmbeddingTests",
            dependencies: [
                "TroveTestSupport",
                "TroveEmbedding", "TroveContracts", "TextEmbedding", grpcCore, logging,
                .product(name: "GRPCInProcessTransport", package: "grpc-swift-2"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TroveCoreTests",
            dependencies: [
                "TroveCore", "TroveContracts", grpcCore, .product(name: "Yams", package: "Yams"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TroveIntegrationTests",
            dependencies: [
                "trove",
                "TroveCore",
                "TroveIngestion",
                "TroveTestSupport",
                "TroveContracts",
                grpcCore,
                swiftProtobuf,
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
