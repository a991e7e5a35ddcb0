import NIOCore
import NIOHPACK
import NIOHTTP2

/// Answers a request message larger than `max_message_bytes` with RESOURCE_EXHAUSTED and a
/// message saying so, as gRPC's status codes ask.
///
/// grpc-swift's HTTP/2 transport enforces its own limit by resetting the stream, which clients
/// report as CANCELLED ("Stream removed"), leaving the caller to guess. This handler sits first
/// in every HTTP/2 stream's pipeline, reads the 5-byte prefix of each length-prefixed message
/// as the bytes arrive (nothing is buffered), and at the prefix of an oversized one stops
/// passing bytes on, sends trailers with the status and ends the stream with RST_STREAM
/// NO_ERROR (a complete response sent before the request ended, RFC 9113 §8.1). The transport's
/// own limit, set to the same size, never sees such a prefix.
final class OversizedMessageGuard: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = HTTP2Frame.FramePayload
    typealias OutboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private let limit: Int
    /// The prefix of the message being read, while it is incomplete.
    private var prefix: [UInt8] = []
    /// Bytes of the current message still to come after its prefix.
    private var remainingInMessage = 0
    /// Whether the service has sent response headers (the status then goes in trailers only).
    private var responseStarted = false
    private var refused = false

    init(limit: Int) {
        self.limit = limit
        self.prefix.reserveCapacity(5)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.refused else { return }
        guard case .data(let frame) = self.unwrapInboundIn(data), case .byteBuffer(let buffer) = frame.data else {
            context.fireChannelRead(data)
            return
        }
        let count = buffer.readableBytes
        var offset = 0
        while offset < count {
            if self.remainingInMessage > 0 {
                let step = min(self.remainingInMessage, count - offset)
                self.remainingInMessage -= step
                offset += step
                continue
            }
            let start = offset
            let take = min(5 - self.prefix.count, count - offset)
            self.prefix += buffer.getBytes(at: buffer.readerIndex + offset, length: take) ?? []
            offset += take
            guard self.prefix.count == 5 else { continue }
            let length = self.prefix[1...4].reduce(0) { $0 << 8 | Int($1) }
            self.prefix.removeAll(keepingCapacity: true)
            guard length <= self.limit else {
                // Messages before this one in the frame go on; the prefix (or what of it is in
                // this frame) does not.
                if start > 0 {
                    let before = buffer.getSlice(at: buffer.readerIndex, length: start)!
                    context.fireChannelRead(self.wrapInboundOut(.data(.init(data: .byteBuffer(before)))))
                }
                self.refuse(length: length, context: context)
                return
            }
            self.remainingInMessage = length
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard !self.refused else {
            // The stream is answered: what the service still writes goes nowhere.
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        if case .headers = self.unwrapOutboundIn(data) {
            self.responseStarted = true
        }
        context.write(data, promise: promise)
    }

    private func refuse(length: Int, context: ChannelHandlerContext) {
        self.refused = true
        var headers = HPACKHeaders()
        if !self.responseStarted {
            headers.add(name: ":status", value: "200")
            headers.add(name: "content-type", value: "application/grpc")
        }
        headers.add(name: "grpc-status", value: "8")  // RESOURCE_EXHAUSTED
        headers.add(
            name: "grpc-message",
            value: "the request message of \(length) bytes is larger than max_message_bytes (\(self.limit)); send large data as a stream of smaller messages"
        )
        context.write(self.wrapOutboundOut(.headers(.init(headers: headers, endStream: true))), promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.rstStream(.noError)), promise: nil)
    }
}
