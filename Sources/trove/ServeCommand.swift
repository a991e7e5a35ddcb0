import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import TroveCore

extension ServeRole: ExpressibleByArgument {}

/// `trove serve ROLE`: runs one service, or all five, until SIGINT or SIGTERM.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run one Trove service, or all five in one process.",
        discussion: """
            ROLE is one of: \(ServeRole.allCases.map(\.rawValue).joined(separator: ", ")).
            `all` offers every service on one address (default 127.0.0.1:7420) and connects them \
            in-process; each other role listens on its own address from the configuration.
            """
    )

    @Argument(help: "Which service to run.")
    var role: ServeRole

    @Option(name: .long, help: "A YAML configuration file; TROVE_* environment variables override it.")
    var config: String?

    @Option(name: .long, help: "Override the listen address (IP:PORT; port 0 picks a free port).")
    var listen: String?

    @Option(name: .long, help: "Override the data directory (data_dir).")
    var dataDir: String?

    func run() async throws {
        // Buffers over 4 MiB (S3 parts, large batches) are mapped and unmapped on their own, so
        // that their memory goes back to the system when freed. By default glibc raises this
        // threshold as large blocks are freed and then keeps such blocks in its per-thread
        // arenas, so the resident set only ever grows with the largest transfers. Up to 4 MiB
        // they come from the heap: NIO rounds every buffer up to a power of two, so a message
        // just over 1 MiB (an object chunk and its framing) takes a 2 MiB buffer, and mapping
        // each of those afresh faulted in and zeroed every page of every message. Setting the
        // threshold also fixes the trim threshold, which glibc otherwise keeps at twice it, at
        // 128 KiB: every freed message would then hand its pages back and the next one fault
        // them in afresh. Twice the map threshold, as glibc would keep it, holds on to them.
        #if os(Linux)
        _ = mallopt(mmapThresholdOption, (4 << 20) + 4096)
        _ = mallopt(trimThresholdOption, (8 << 20) + 8192)
        #endif
        var configuration = try TroveConfiguration.load(file: self.config)
        if let dataDir = self.dataDir {
            configuration.dataDirectory = dataDir
        }
        if let listen = self.listen {
            guard let address = HostAndPort(parsing: listen), address.isIPLiteralOrLocalhost else {
                throw ValidationError("--listen must be IP:PORT, got '\(listen)'")
            }
            switch self.role {
            case .all: configuration.listen = address
            case .ingestion: configuration.ingestion.endpoint.listen = address
            case .embedding: configuration.embedding.endpoint.listen = address
            case .vectorSearch: configuration.vectorSearch.endpoint.listen = address
            case .metadata: configuration.metadata.endpoint.listen = address
            case .objectStorage: configuration.objectStorage.endpoint.listen = address
            }
        }

        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "trove")
        logger.logLevel = level

        // Before any service exists: swift-metrics hands out its handlers when a metric is made.
        let registry = configuration.metrics.listen == nil ? nil : TroveMetrics.bootstrapPrometheus()
        var assembly = ServiceAssembly(configuration: configuration, logger: logger) { name, address in
            // A stable line on standard output, for people and for scripts that wait for it.
            FileHandle.standardOutput.write(Data("trove serve \(name): listening on \(address)\n".utf8))
        }
        assembly.metricsRegistry = registry
        let group = ServiceGroup(
            configuration: .init(
                services: try assembly.services(for: self.role).map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }
}

#if os(Linux)
/// glibc's `mallopt`, `M_MMAP_THRESHOLD` and `M_TRIM_THRESHOLD` from <malloc.h>, which the Glibc
/// module does not export.
@_silgen_name("mallopt")
private func mallopt(_ option: Int32, _ value: Int32) -> Int32
private let mmapThresholdOption: Int32 = -3
private let trimThresholdOption: Int32 = -1
#endif
