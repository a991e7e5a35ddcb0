import CCurl
import Foundation
import NIOPosix
import Synchronization

/// HTTP/1.1 and HTTP/2 requests through libcurl, used as a transport only: callers build and sign
/// their requests themselves (the S3 client computes SigV4; libcurl's own signing is wrong for S3).
/// Each request runs blocking on a thread pool of its own (so that remote calls neither starve nor
/// are starved by other blocking work, and one transfer's parallel parts really run in parallel);
/// easy handles are pooled so their connections are reused.
public final class CurlHTTPClient: Sendable {
    public struct Timeouts: Sendable {
        /// Time to establish a connection.
        public var connect: Duration
        /// Longest time without a byte moving before the request fails.
        public var idle: Duration
        /// Longest time for a whole request; nil for no limit (long multipart parts on slow
        /// links must not hit a fixed limit).
        public var total: Duration?

        /// Creates timeouts.
        public init(connect: Duration, idle: Duration, total: Duration?) {
            self.connect = connect
            self.idle = idle
            self.total = total
        }
    }

    public struct Request: Sendable {
        public var method: String
        public var url: String
        public var headers: [(name: String, value: String)]
        /// The body as pieces sent one after another, never joined into one buffer (a single PUT
        /// sends an object as the messages it was streamed in); nil sends none.
        public var body: [Data]?
        /// Where the response body is collected: in a buffer of this pool when it fits (a body
        /// that outgrows it carries on in memory of its own), else in memory allocated for it.
        /// For large responses asked for again and again, such as the ranges of a download.
        public var responseBuffers: BufferPool?

        /// Creates a request; a nil body sends none.
        public init(method: String, url: String, headers: [(name: String, value: String)], body: Data?) {
            self.init(method: method, url: url, headers: headers, bodyPieces: body.map { [$0] })
        }

        /// Creates a request whose body is `bodyPieces`, in order; nil sends none.
        public init(method: String, url: String, headers: [(name: String, value: String)], bodyPieces: [Data]?) {
            self.method = method
            self.url = url
            self.headers = headers
            self.body = bodyPieces
        }
    }

    public struct Response: Sendable {
        public var status: Int
        /// Lower-cased names; a repeated header keeps its last value.
        public var headers: [String: String]
        public var body: Data
    }

    /// A failure below HTTP: no connection, a timeout, a reset.
    public struct TransportError: Error, CustomStringConvertible {
        public let code: Int
        public let message: String
        public let isTimeout: Bool
        public var description: String { self.message }
    }

    /// An easy handle; used by one request at a time, then returned to the pool.
    private struct Handle: @unchecked Sendable {
        let pointer: UnsafeMutableRawPointer
    }

    private let handles = Mutex<[Handle]>([])
    private let threadPool: NIOThreadPool
    private let timeouts: Timeouts

    private static let globalInit: Void = {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT))
    }()

    /// Threads for blocking transfers, shared by every client in the process: enough for a few
    /// objects moving at once with their parts in parallel. Idle threads cost only their stacks.
    public static let sharedThreadPool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 16)
        pool.start()
        return pool
    }()

    public init(timeouts: Timeouts, threadPool: NIOThreadPool = CurlHTTPClient.sharedThreadPool) {
        _ = Self.globalInit
        self.timeouts = timeouts
        self.threadPool = threadPool
    }

    deinit {
        for handle in self.handles.withLock({ $0 }) {
            curl_easy_cleanup(handle.pointer)
        }
    }

    /// Sends `request` and collects the whole response. HTTP error statuses are responses;
    /// only failures below HTTP throw (as `TransportError`).
    ///
    /// With `stopsWhenCancelled`, cancelling the calling task stops the transfer within about a
    /// second (curl checks between reads and at least once a second while waiting) and throws
    /// `CancellationError`. Without it the request runs to its end: clean-up requests, such as
    /// aborting a multipart upload after a failure, must not be cut short by the cancellation
    /// that caused them.
    public func perform(_ request: Request, stopsWhenCancelled: Bool = false) async throws -> Response {
        guard stopsWhenCancelled else {
            return try await self.threadPool.runIfActive { try self.performBlocking(request, cancellation: nil) }
        }
        let cancellation = Cancellation()
        return try await withTaskCancellationHandler {
            try Task.checkCancellation()
            return try await self.threadPool.runIfActive { try self.performBlocking(request, cancellation: cancellation) }
        } onCancel: {
            cancellation.isRequested.store(true, ordering: .relaxed)
        }
    }

    /// Set when the task that sent a request is cancelled; curl's progress callback reads it.
    final class Cancellation: Sendable {
        let isRequested = Atomic<Bool>(false)
    }

    /// Runs the prepared transfer, sending `body` if there is one.
    private static func perform(_ handle: UnsafeMutableRawPointer, body: [Data]?) -> CURLcode {
        guard let body else {
            return curl_easy_perform(handle)
        }
        guard body.count > 1 else {
            // One piece: curl reads it in place. It needs a valid pointer even for an empty
            // body: such a body is one byte of which zero are sent.
            let bodySize = body.first?.count ?? 0
            let piece = bodySize > 0 ? body[0] : Data([0])
            // Read-only access: a mutable one would copy a body the caller still holds.
            return piece.withUnsafeBytes { bytes in
                trove_curl_set_off_t(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(bodySize))
                // curl only reads POSTFIELDS.
                trove_curl_set_pointer(handle, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: bytes.baseAddress))
                return curl_easy_perform(handle)
            }
        }
        // Several pieces: an upload of known length, read from them as curl asks for bytes (and
        // from any offset again should it have to resend); the request's own method replaces
        // the PUT that CURLOPT_UPLOAD implies.
        let reader = BodyReader(pieces: body)
        let context = Unmanaged.passUnretained(reader).toOpaque()
        trove_curl_set_long(handle, CURLOPT_UPLOAD, 1)
        trove_curl_set_off_t(handle, CURLOPT_INFILESIZE_LARGE, curl_off_t(reader.count))
        trove_curl_set_callback(handle, CURLOPT_READFUNCTION) { buffer, size, count, context in
            let reader = Unmanaged<BodyReader>.fromOpaque(context!).takeUnretainedValue()
            return reader.read(into: UnsafeMutableRawBufferPointer(start: buffer, count: size * count))
        }
        trove_curl_set_pointer(handle, CURLOPT_READDATA, context)
        trove_curl_set_seek_callback(handle) { context, offset, origin in
            let reader = Unmanaged<BodyReader>.fromOpaque(context!).takeUnretainedValue()
            return origin == SEEK_SET && reader.seek(to: Int(offset)) ? 0 : 1  // CURL_SEEKFUNC_OK, _FAIL
        }
        trove_curl_set_pointer(handle, CURLOPT_SEEKDATA, context)
        return withExtendedLifetime(reader) { curl_easy_perform(handle) }
    }

    private func performBlocking(_ request: Request, cancellation: Cancellation?) throws -> Response {
        let handle = self.handles.withLock { $0.popLast()?.pointer } ?? curl_easy_init()!
        var reusable = false
        defer {
            if reusable {
                self.handles.withLock { $0.append(Handle(pointer: handle)) }
            } else {
                curl_easy_cleanup(handle)
            }
        }
        curl_easy_reset(handle)

        let sink = ResponseSink(cancellation: cancellation)
        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headerList) }
        // curl adds these unless told not to; none belongs in a signed request. Its default
        // Content-Type for a body (a form) would even make some servers consume the body as one.
        var defaultsRemoved = ["Expect:", "Accept:"]
        if !request.headers.contains(where: { $0.name.lowercased() == "content-type" }) {
            defaultsRemoved.append("Content-Type:")
        }
        for line in request.headers.map({ "\($0.name): \($0.value)" }) + defaultsRemoved {
            headerList = curl_slist_append(headerList, line)
        }

        let status: CURLcode
        let body: Data
        if let pool = request.responseBuffers {
            var pooledStatus = CURLE_OK
            let pooled = try pool.chunk { buffer in
                sink.buffer = buffer
                pooledStatus = self.transfer(handle, request, headerList: headerList, sink: sink, cancellation: cancellation)
                // Nothing is left in the pooled buffer when the body outgrew it.
                return sink.buffer == nil ? 0 : sink.bufferFill
            }
            status = pooledStatus
            body = sink.buffer == nil ? sink.body : pooled
        } else {
            status = self.transfer(handle, request, headerList: headerList, sink: sink, cancellation: cancellation)
            body = sink.body
        }
        if status == CURLE_ABORTED_BY_CALLBACK {
            throw CancellationError()
        }
        guard status == CURLE_OK else {
            let message = String(cString: curl_easy_strerror(status))
            throw TransportError(code: Int(status.rawValue), message: message, isTimeout: status == CURLE_OPERATION_TIMEDOUT)
        }
        var code = 0
        trove_curl_get_long(handle, CURLINFO_RESPONSE_CODE, &code)
        reusable = true
        return Response(status: code, headers: sink.headers, body: body)
    }

    /// Sets up `handle` for `request` and runs it, collecting the response in `sink`.
    private func transfer(
        _ handle: UnsafeMutableRawPointer,
        _ request: Request,
        headerList: UnsafeMutablePointer<curl_slist>?,
        sink: ResponseSink,
        cancellation: Cancellation?
    ) -> CURLcode {
        let context = Unmanaged.passUnretained(sink).toOpaque()
        return request.url.withCString { url in
            request.method.withCString { method in
                trove_curl_set_string(handle, CURLOPT_URL, url)
                trove_curl_set_long(handle, CURLOPT_NOSIGNAL, 1)
                trove_curl_set_long(handle, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_2TLS))
                trove_curl_set_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Int(self.timeouts.connect.milliseconds))
                trove_curl_set_long(handle, CURLOPT_LOW_SPEED_LIMIT, 1)
                trove_curl_set_long(handle, CURLOPT_LOW_SPEED_TIME, max(1, Int(self.timeouts.idle.milliseconds / 1000)))
                trove_curl_set_long(handle, CURLOPT_TIMEOUT_MS, Int(self.timeouts.total?.milliseconds ?? 0))
                trove_curl_set_pointer(handle, CURLOPT_HTTPHEADER, UnsafeMutableRawPointer(headerList))
                if request.method == "HEAD" {
                    trove_curl_set_long(handle, CURLOPT_NOBODY, 1)
                } else {
                    trove_curl_set_string(handle, CURLOPT_CUSTOMREQUEST, method)
                }
                trove_curl_set_callback(handle, CURLOPT_WRITEFUNCTION) { data, size, count, context in
                    let sink = Unmanaged<ResponseSink>.fromOpaque(context!).takeUnretainedValue()
                    sink.append(UnsafeRawBufferPointer(start: data, count: size * count))
                    return size * count
                }
                trove_curl_set_pointer(handle, CURLOPT_WRITEDATA, context)
                trove_curl_set_callback(handle, CURLOPT_HEADERFUNCTION) { data, size, count, context in
                    let sink = Unmanaged<ResponseSink>.fromOpaque(context!).takeUnretainedValue()
                    let line = String(decoding: UnsafeRawBufferPointer(start: data, count: size * count), as: UTF8.self)
                    sink.addHeaderLine(line)
                    return size * count
                }
                trove_curl_set_pointer(handle, CURLOPT_HEADERDATA, context)
                if cancellation != nil {
                    trove_curl_set_long(handle, CURLOPT_NOPROGRESS, 0)
                    trove_curl_set_progress_callback(handle) { context, _, _, _, _ in
                        let sink = Unmanaged<ResponseSink>.fromOpaque(context!).takeUnretainedValue()
                        // Non-zero stops the transfer (CURLE_ABORTED_BY_CALLBACK).
                        return sink.cancellation?.isRequested.load(ordering: .relaxed) == true ? 1 : 0
                    }
                    trove_curl_set_pointer(handle, CURLOPT_XFERINFODATA, context)
                }
                return Self.perform(handle, body: request.body)
            }
        }
    }
}

/// Hands curl a request body's pieces in order, without joining them; touched only by the
/// thread running the request.
final class BodyReader {
    let pieces: [Data]
    let count: Int
    private var piece = 0
    private var offsetInPiece = 0

    init(pieces: [Data]) {
        self.pieces = pieces
        self.count = pieces.reduce(0) { $0 + $1.count }
    }

    /// Copies the next bytes into `buffer`; returns how many (0 at the end).
    func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        var written = 0
        while written < buffer.count, self.piece < self.pieces.count {
            let current = self.pieces[self.piece]
            let length = min(buffer.count - written, current.count - self.offsetInPiece)
            current.withUnsafeBytes { bytes in
                let start = bytes.baseAddress! + self.offsetInPiece
                (buffer.baseAddress! + written).copyMemory(from: start, byteCount: length)
            }
            written += length
            self.offsetInPiece += length
            if self.offsetInPiece == current.count {
                self.piece += 1
                self.offsetInPiece = 0
            }
        }
        return written
    }

    /// Moves to `offset` bytes from the start of the body; false if that is past its end.
    func seek(to offset: Int) -> Bool {
        guard (0...self.count).contains(offset) else { return false }
        var remaining = offset
        self.piece = 0
        while self.piece < self.pieces.count, remaining >= self.pieces[self.piece].count, remaining > 0 {
            remaining -= self.pieces[self.piece].count
            self.piece += 1
        }
        self.offsetInPiece = remaining
        return true
    }
}

/// Collects one response; touched only by the thread running the request.
final class ResponseSink {
    /// The body, unless it is collected in `buffer`.
    var body = Data()
    /// Pooled memory the body is written into while it fits; nil once it has outgrown it (its
    /// bytes then carry on in `body`).
    var buffer: UnsafeMutableRawBufferPointer?
    /// The bytes of `buffer` written so far.
    var bufferFill = 0
    var headers: [String: String] = [:]
    let cancellation: CurlHTTPClient.Cancellation?

    init(cancellation: CurlHTTPClient.Cancellation? = nil) {
        self.cancellation = cancellation
    }

    func append(_ bytes: UnsafeRawBufferPointer) {
        if let buffer = self.buffer {
            if bytes.count <= buffer.count - self.bufferFill {
                UnsafeMutableRawBufferPointer(rebasing: buffer[self.bufferFill...]).copyMemory(from: bytes)
                self.bufferFill += bytes.count
                return
            }
            self.body.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[..<self.bufferFill]))
            self.buffer = nil
        }
        self.body.append(contentsOf: bytes)
    }

    func addHeaderLine(_ line: String) {
        if line.hasPrefix("HTTP/") {
            // A new response (after 100 Continue or a redirect) starts over.
            self.headers = [:]
            return
        }
        guard let colon = line.firstIndex(of: ":") else { return }
        let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
        self.headers[name] = value
        if name == "content-length", let length = Int(value), length > 0, length <= 1 << 30 {
            if let buffer = self.buffer, length > buffer.count, self.bufferFill == 0 {
                // Too large for the pooled buffer: collected in memory of its own from the start.
                self.buffer = nil
            }
            if self.buffer == nil {
                // One allocation for the whole body, rather than a growing series of them.
                self.body.reserveCapacity(length)
            }
        }
    }
}

extension Duration {
    var milliseconds: Int64 {
        self.components.seconds * 1000 + self.components.attoseconds / 1_000_000_000_000_000
    }
}
