/// A failed S3 request: the HTTP status, S3's error code and request id, or a transport failure.
/// Never holds credentials.
public struct S3Error: Error, CustomStringConvertible, Sendable {
    /// HTTP status; 0 when no response came back.
    public var status: Int
    /// S3's error code, e.g. `NoSuchKey`, `SignatureDoesNotMatch`; for transport failures
    /// `ConnectionFailed` or `Timeout`.
    public var code: String
    public var message: String
    public var requestID: String?

    public init(status: Int, code: String, message: String, requestID: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.requestID = requestID
    }

    /// Whether trying an idempotent request again may succeed: server errors, throttling,
    /// timeouts and dropped connections.
    public var isRetryable: Bool {
        self.status >= 500 || self.status == 0 || self.code == "SlowDown" || self.code == "RequestTimeout"
            || self.code == "InternalError" || self.status == 429
    }

    public var description: String {
        var text = "S3 \(self.code)"
        if self.status > 0 { text += " (HTTP \(self.status))" }
        if !self.message.isEmpty { text += ": \(self.message)" }
        if let requestID, !requestID.isEmpty { text += " [request id \(requestID)]" }
        return text
    }
}
