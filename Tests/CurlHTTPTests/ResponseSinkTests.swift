import Foundation
import Testing

@testable import CurlHTTP

/// A response body is written into a pooled buffer while it fits; one that turns out larger
/// carries on in memory of its own with none of its bytes lost.
@Suite("Response sink")
struct ResponseSinkTests {
    private static func bytes(_ range: Range<Int>) -> [UInt8] {
        range.map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
    }

    private static func feed(_ sink: ResponseSink, _ pieces: [[UInt8]]) {
        for piece in pieces {
            piece.withUnsafeBytes { sink.append($0) }
        }
    }

    /// Runs `body` with a sink writing into a 16-byte buffer, as for a pooled request.
    private static func withPooledSink(_ body: (ResponseSink, UnsafeMutableRawBufferPointer) -> Void) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 8)
        defer { buffer.deallocate() }
        let sink = ResponseSink()
        sink.buffer = buffer
        body(sink, buffer)
    }

    @Test("A body that fits stays in the buffer, written in order")
    func bodyThatFits() {
        Self.withPooledSink { sink, buffer in
            sink.addHeaderLine("Content-Length: 16\r\n")
            Self.feed(sink, [Self.bytes(0..<5), Self.bytes(5..<16)])
            #expect(sink.buffer != nil)
            #expect(sink.bufferFill == 16)
            #expect(Array(buffer) == Self.bytes(0..<16))
            #expect(sink.body.isEmpty)
        }
    }

    @Test("A body that outgrows the buffer part-way carries on in the sink's own memory, whole")
    func bodyThatOutgrowsTheBuffer() {
        Self.withPooledSink { sink, _ in
            // No Content-Length (a chunked response), or one the server does not keep to.
            Self.feed(sink, [Self.bytes(0..<10), Self.bytes(10..<20), Self.bytes(20..<40)])
            #expect(sink.buffer == nil)
            #expect(Array(sink.body) == Self.bytes(0..<40))
        }
    }

    @Test("A Content-Length larger than the buffer sends the body to the sink's own memory from the start")
    func announcedLargerBody() {
        Self.withPooledSink { sink, _ in
            sink.addHeaderLine("content-length: 17\r\n")
            #expect(sink.buffer == nil)
            Self.feed(sink, [Self.bytes(0..<17)])
            #expect(Array(sink.body) == Self.bytes(0..<17))
        }
    }
}
