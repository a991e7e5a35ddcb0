import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
import Testing

@testable import TroveCore

@Suite("Oversized request messages")
struct OversizedMessageGuardTests {
    static let limit = 16

    /// A length-prefixed gRPC message of `length` bytes of `byte`.
    static func message(_ length: Int, byte: UInt8 = 0x61) -> [UInt8] {
        [0, UInt8(length >> 24 & 0xFF), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]
            + [UInt8](repeating: byte, count: length)
    }

    static func dataFrame(_ bytes: some Sequence<UInt8>) -> HTTP2Frame.FramePayload {
        .data(.init(data: .byteBuffer(ByteBuffer(bytes: Array(bytes)))))
    }

    /// Every byte passed on by the guard, in order, and whatever it wrote.
    static func run(_ frames: [[UInt8]], responseStarted: Bool = false) throws -> (passed: [UInt8], written: [HTTP2Frame.FramePayload]) {
        let channel = EmbeddedChannel(handler: OversizedMessageGuard(limit: Self.limit))
        if responseStarted {
            try channel.writeOutbound(HTTP2Frame.FramePayload.headers(.init(headers: [":status": "200"])))
        }
        for frame in frames {
            try channel.writeInbound(Self.dataFrame(frame))
        }
        var passed: [UInt8] = []
        while let payload = try channel.readInbound(as: HTTP2Frame.FramePayload.self) {
            guard case .data(let data) = payload, case .byteBuffer(let buffer) = data.data else {
                Issue.record("passed on something other than data: \(payload)")
                continue
            }
            passed += buffer.readableBytesView
        }
        var written: [HTTP2Frame.FramePayload] = []
        while let payload = try channel.readOutbound(as: HTTP2Frame.FramePayload.self) {
            written.append(payload)
        }
        _ = try? channel.finish()
        return (passed, written)
    }

    @Test("messages up to the limit pass untouched, however the frames cut their prefixes")
    func withinTheLimit() throws {
        let wire = Self.message(Self.limit) + Self.message(0) + Self.message(3, byte: 0x62) + Self.message(Self.limit, byte: 0x63)
        for size in [1, 2, 3, 4, 5, 6, 7, 21, wire.count] {
            let frames = stride(from: 0, to: wire.count, by: size).map { Array(wire[$0..<min($0 + size, wire.count)]) }
            let (passed, written) = try Self.run(frames)
            #expect(passed == wire, "frames of \(size) bytes")
            #expect(written.isEmpty, "frames of \(size) bytes")
        }
    }

    @Test("a message over the limit: what came before it passes, then RESOURCE_EXHAUSTED and RST_STREAM NO_ERROR, and nothing after")
    func overTheLimit() throws {
        let before = Self.message(4) + Self.message(Self.limit)
        let oversized = Self.message(Self.limit + 1)
        let (passed, written) = try Self.run([before + oversized, Self.message(2)])
        #expect(passed == before)
        #expect(written.count == 2)
        guard written.count == 2, case .headers(let trailers) = written[0], case .rstStream(let code) = written[1] else {
            Issue.record("expected trailers then RST_STREAM, got \(written)")
            return
        }
        #expect(trailers.endStream)
        #expect(trailers.headers.first(name: ":status") == "200")
        #expect(trailers.headers.first(name: "content-type") == "application/grpc")
        #expect(trailers.headers.first(name: "grpc-status") == "8")
        #expect(trailers.headers.first(name: "grpc-message")?.contains("17 bytes is larger than max_message_bytes (16)") == true)
        #expect(code == .noError)
    }

    @Test("an oversized prefix split across frames: the first part has passed, the rest does not")
    func prefixAcrossFrames() throws {
        let first = Self.message(3)
        let oversized = Self.message(1_000_000)
        let (passed, written) = try Self.run([first + oversized[0..<2], Array(oversized[2..<5]), Array(oversized[5..<100])])
        #expect(passed == first + oversized[0..<2])
        #expect(written.count == 2)
    }

    @Test("after the service has sent response headers, the status goes in trailers alone")
    func afterResponseHeaders() throws {
        let (passed, written) = try Self.run([Self.message(Self.limit + 1)], responseStarted: true)
        #expect(passed.isEmpty)
        // The service's own headers, then the trailers.
        guard written.count == 3, case .headers(let trailers) = written[1] else {
            Issue.record("expected headers, trailers and RST_STREAM, got \(written)")
            return
        }
        #expect(trailers.headers.first(name: ":status") == nil)
        #expect(trailers.headers.first(name: "grpc-status") == "8")
    }
}
