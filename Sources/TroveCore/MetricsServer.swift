import Logging
import Metrics
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle
import Synchronization

/// The metric names every Trove process reports, in one place.
public enum TroveMetrics {
    /// Calls by service, method and status code (counter).
    public static let requests = "trove_requests_total"
    /// Call latency by service, method and status code (histogram, seconds).
    public static let requestDuration = "trove_request_duration_seconds"
    /// Documents whose processing ended, by outcome: completed, failed (counter).
    public static let documentsIngested = "trove_documents_ingested_total"
    /// Search-result cache lookups by result: hit, miss (counter).
    public static let searchCacheLookups = "trove_search_cache_lookups_total"
    /// Texts per pass of the embedding model (histogram).
    public static let embeddingBatchSize = "trove_embedding_batch_size"
    /// Vectors in a collection (gauge).
    public static let vectors = "trove_vectors"
    /// Bytes of memory a collection's index holds (gauge).
    public static let indexMemoryBytes = "trove_index_memory_bytes"
    /// Documents and chunks in a collection, as the metadata service counts them (gauges).
    public static let documents = "trove_documents"
    public static let chunks = "trove_chunks"
    /// Object bytes written and read, by backend (counters).
    public static let objectBytesWritten = "trove_object_bytes_written_total"
    public static let objectBytesRead = "trove_object_bytes_read_total"
    /// Objects and their bytes held by a backend, where it can count them cheaply (gauges).
    public static let objectBytesStored = "trove_object_bytes_stored"

    /// Whether `bootstrapPrometheus` ran: without it every metric is swift-metrics' no-op, and
    /// per-call metrics are not worth making.
    public static var isEnabled: Bool { enabled.load(ordering: .relaxed) }
    private static let enabled = Atomic<Bool>(false)

    /// Makes swift-metrics report to a new Prometheus registry, with buckets suited to Trove's
    /// latencies (100 µs to 30 s) and batch sizes. Once per process.
    public static func bootstrapPrometheus() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets[Self.requestDuration] = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(30),
        ]
        factory.valueHistogramBuckets[Self.embeddingBatchSize] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
        MetricsSystem.bootstrap(factory)
        Self.enabled.store(true, ordering: .relaxed)
        return registry
    }
}

/// Answers `GET /metrics` with the registry in Prometheus' text format, on its own HTTP port.
public struct MetricsServer: Service {
    let address: HostAndPort
    let registry: PrometheusCollectorRegistry
    let logger: Logger
    let onListening: @Sendable (HostAndPort) -> Void

    public init(
        address: HostAndPort,
        registry: PrometheusCollectorRegistry,
        logger: Logger,
        onListening: @escaping @Sendable (HostAndPort) -> Void = { _ in }
    ) {
        self.address = address
        self.registry = registry
        self.logger = logger
        self.onListening = onListening
    }

    public func run() async throws {
        let registry = self.registry
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(registry: registry))
                }
            }
            .bind(host: self.address.host == "localhost" ? "127.0.0.1" : self.address.host, port: self.address.port)
            .get()
        let bound = channel.localAddress.flatMap { address in address.port.map { HostAndPort(host: self.address.host, port: $0) } } ?? self.address
        self.logger.info("metrics listening", metadata: ["address": "http://\(bound)/metrics"])
        self.onListening(bound)
        try await withGracefulShutdownHandler {
            try await channel.closeFuture.get()
        } onGracefulShutdown: {
            channel.close(promise: nil)
        }
    }
}

/// One request at a time per connection: `GET /metrics` gets the text, anything else 404/405.
private final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let registry: PrometheusCollectorRegistry
    private var head: HTTPRequestHead?

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body:
            break
        case .end:
            guard let head = self.head else { return }
            self.head = nil
            let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
            let (status, body, type): (HTTPResponseStatus, [UInt8], String)
            switch (head.method, path) {
            case (.GET, "/metrics"), (.HEAD, "/metrics"):
                (status, body, type) = (.ok, self.registry.emitToBuffer(), "text/plain; version=0.0.4; charset=utf-8")
            case (_, "/metrics"):
                (status, body, type) = (.methodNotAllowed, Array("GET only\n".utf8), "text/plain; charset=utf-8")
            default:
                (status, body, type) = (.notFound, Array("metrics are at /metrics\n".utf8), "text/plain; charset=utf-8")
            }
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: type)
            headers.add(name: "Content-Length", value: "\(body.count)")
            let keepAlive = head.isKeepAlive
            if !keepAlive { headers.add(name: "Connection", value: "close") }
            context.write(self.wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
            if head.method != .HEAD {
                context.write(self.wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
            }
            let done = context.writeAndFlush(self.wrapOutboundOut(.end(nil)))
            if !keepAlive {
                done.whenComplete { [context] _ in context.close(promise: nil) }
            }
        }
    }
}

/// Sets gauges that are read rather than counted (vectors and documents per collection, index
/// memory) every `interval`, so a scrape sees values at most that old.
public struct MetricsReporter: Service {
    let interval: Duration
    let report: @Sendable () async -> Void

    public init(interval: Duration = .seconds(10), report: @escaping @Sendable () async -> Void) {
        self.interval = interval
        self.report = report
    }

    public func run() async throws {
        await repeatUntilShutdown(every: self.interval, self.report)
    }
}
