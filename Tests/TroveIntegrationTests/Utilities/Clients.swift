import Crypto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Synchronization
import TroveContracts

/// Runs `body` with a plaintext HTTP/2 gRPC client connected to `process`.
func withClient<Result: Sendable>(
    _ process: TroveProcess,
    _ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> Result
) async throws -> Result {
    try await withClient(host: process.host, port: process.port, body)
}

/// Runs `body` with a plaintext HTTP/2 gRPC client of `host:port`; it reconnects within half a
/// second when a server restarts there.
func withClient<Result: Sendable>(
    host: String,
    port: Int,
    _ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> Result
) async throws -> Result {
    // Responses up to 64 MiB (grpc-swift-nio-transport 2.9.2 applies the request limit to them).
    var methodConfig = MethodConfig(names: [MethodConfig.Name(service: "")])
    methodConfig.maxRequestMessageBytes = 64 << 20
    methodConfig.maxResponseMessageBytes = 64 << 20
    let transport = try HTTP2ClientTransport.Posix(
        target: .ipv4(address: host, port: port),
        transportSecurity: .plaintext,
        config: .defaults { $0.backoff = .init(initial: .milliseconds(50), max: .milliseconds(500), multiplier: 1.6, jitter: 0.2) },
        serviceConfig: ServiceConfig(methodConfig: [methodConfig])
    )
    return try await withGRPCClient(transport: transport) { client in
        try await body(client)
    }
}

extension CallOptions {
    /// The defaults with a deadline: a server that does not answer in time fails the call with
    /// DEADLINE_EXCEEDED, so a test of "answers promptly" checks a status, not a stopwatch.
    static func deadline(_ timeout: Duration) -> CallOptions {
        var options = CallOptions.defaults
        options.timeout = timeout
        return options
    }
}

/// Strings gathered from concurrent callbacks (ids a watch reported, answers a proxy lost).
final class GatheredStrings: Sendable {
    private let strings = Mutex<Set<String>>([])

    /// Adds `string`; whether it was not there yet.
    @discardableResult
    func insert(_ string: String) -> Bool {
        self.strings.withLock { $0.insert(string).inserted }
    }

    var all: Set<String> {
        self.strings.withLock { $0 }
    }

    /// Whether `string` is there within `timeout`.
    func wait(for string: String, timeout: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if self.all.contains(string) { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return self.all.contains(string)
    }
}

func randomData(_ count: Int) throws -> Data {
    guard count > 0 else { return Data() }
    let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/dev/urandom"))
    defer { try? handle.close() }
    return try handle.read(upToCount: count) ?? Data()
}

func sha256Hex(_ data: Data) -> String {
    SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
}

extension Trove_V1_ObjectStorage.Client {
    /// Uploads `data` in `chunkSize` pieces.
    func upload(bucket: String, key: String, _ data: Data, chunkSize: Int = 1 << 20, options: CallOptions = .defaults) async throws -> Trove_V1_ObjectInfo {
        try await self.putObject(options: options) { writer in
            try await writer.write(.with {
                $0.header = .with {
                    $0.bucket = bucket
                    $0.key = key
                }
            })
            var offset = 0
            while offset < data.count {
                let end = min(data.count, offset + chunkSize)
                try await writer.write(.with { $0.chunk = data.subdata(in: offset..<end) })
                offset = end
            }
        }.object
    }

    /// Downloads an object: its info and its bytes.
    func download(bucket: String, key: String) async throws -> (Trove_V1_ObjectInfo, Data) {
        try await self.getObject(.with {
            $0.bucket = bucket
            $0.key = key
        }) { response in
            var info = Trove_V1_ObjectInfo()
            var data = Data()
            for try await message in response.messages {
                switch message.part {
                case .info(let value): info = value
                case .chunk(let chunk): data.append(chunk)
                case nil: break
                }
            }
            return (info, data)
        }
    }
}
