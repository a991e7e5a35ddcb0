import Crypto
import CurlHTTP
import Foundation
import SigV4

/// A client of the S3 API (AWS S3, MinIO, any compatible server): requests signed with SigV4
/// by Trove, carried by libcurl, retried with exponential backoff and jitter when they are
/// idempotent and the failure is transient.
public struct S3Client: Sendable {
    public struct Configuration: Sendable {
        /// Base URL, e.g. `https://s3.eu-west-1.amazonaws.com` or `http://127.0.0.1:9000`.
        public var endpoint: String
        public var region: String
        public var credentials: SigV4Credentials
        /// `endpoint/bucket/key` (MinIO, most self-hosted servers) rather than
        /// `bucket.endpoint/key`.
        public var pathStyle: Bool
        public var connectTimeout: Duration
        /// A request that moves no byte for this long fails (and may be retried).
        public var idleTimeout: Duration
        /// Whole-request limit; nil for none, so a large part on a slow link is not cut off.
        public var totalTimeout: Duration?
        /// Tries per idempotent request, the first included.
        public var maxAttempts: Int
        public var initialBackoff: Duration
        public var maxBackoff: Duration

        public init(
            endpoint: String,
            region: String,
            credentials: SigV4Credentials,
            pathStyle: Bool = true,
            connectTimeout: Duration = .seconds(10),
            idleTimeout: Duration = .seconds(60),
            totalTimeout: Duration? = nil,
            maxAttempts: Int = 4,
            initialBackoff: Duration = .milliseconds(100),
            maxBackoff: Duration = .seconds(5)
        ) {
            self.endpoint = endpoint
            self.region = region
            self.credentials = credentials
            self.pathStyle = pathStyle
            self.connectTimeout = connectTimeout
            self.idleTimeout = idleTimeout
            self.totalTimeout = totalTimeout
            self.maxAttempts = maxAttempts
            self.initialBackoff = initialBackoff
            self.maxBackoff = maxBackoff
        }
    }

    /// An object's size, entity tag, type, user metadata and time, from HEAD or GET.
    public struct ObjectHead: Sendable {
        public var size: UInt64
        public var etag: String
        public var contentType: String
        /// `x-amz-meta-*` headers, without the prefix.
        public var metadata: [String: String]
        public var lastModified: Date
    }

    public struct ListedObject: Sendable {
        public var key: String
        public var size: UInt64
        public var etag: String
        public var lastModified: Date
    }

    public struct ListPage: Sendable {
        public var objects: [ListedObject]
        public var commonPrefixes: [String]
        public var nextContinuationToken: String?
    }

    public let configuration: Configuration
    private let http: CurlHTTPClient
    private let signer: SigV4Signer
    private let scheme: String
    private let authority: String
    private let basePath: String

    public init(configuration: Configuration, clock: @escaping @Sendable () -> Date = { Date() }) throws(S3Error) {
        guard let url = URL(string: configuration.endpoint), let scheme = url.scheme, let host = url.host else {
            throw S3Error(status: 0, code: "InvalidEndpoint", message: "endpoint must be a URL such as http://127.0.0.1:9000, got '\(configuration.endpoint)'")
        }
        self.configuration = configuration
        self.scheme = scheme
        self.authority = url.port.map { "\(host):\($0)" } ?? host
        self.basePath = url.path == "/" ? "" : url.path
        self.http = CurlHTTPClient(
            timeouts: .init(connect: configuration.connectTimeout, idle: configuration.idleTimeout, total: configuration.totalTimeout)
        )
        self.signer = SigV4Signer(credentials: configuration.credentials, configuration: .s3(region: configuration.region), clock: clock)
    }

    // MARK: Requests

    struct Response {
        var status: Int
        var headers: [String: String]
        var body: Data
    }

    /// Signs and sends one request; retries it when `idempotent` and the failure is transient.
    func send(
        _ method: String,
        bucket: String?,
        key: String? = nil,
        query: [(name: String, value: String)] = [],
        headers: [(name: String, value: String)] = [],
        body: [Data]? = nil,
        bodySHA256: String? = nil,
        idempotent: Bool = true,
        responseBuffers: BufferPool? = nil
    ) async throws -> Response {
        let payloadHash = bodySHA256 ?? Self.sha256Hex(of: body ?? [])
        let (host, path) = self.hostAndPath(bucket: bucket, key: key)
        let attempts = idempotent ? max(1, self.configuration.maxAttempts) : 1
        var attempt = 0
        while true {
            attempt += 1
            let request = SigV4Request(method: method, path: path, query: query, headers: headers + [("Host", host)])
            let signed = self.signer.signHeaders(request, payload: .sha256(payloadHash))
            var url = "\(self.scheme)://\(host)\(signed.encodedPath)"
            if !signed.encodedQuery.isEmpty {
                url += "?" + signed.encodedQuery
            }
            do {
                var httpRequest = CurlHTTPClient.Request(method: method, url: url, headers: request.headers + signed.headersToAdd, bodyPieces: body)
                httpRequest.responseBuffers = responseBuffers
                let response = try await self.http.perform(httpRequest)
                if (200..<300).contains(response.status) {
                    return Response(status: response.status, headers: response.headers, body: response.body)
                }
                throw Self.error(from: response)
            } catch let error as CurlHTTPClient.TransportError {
                let failure = S3Error(
                    status: 0,
                    code: error.isTimeout ? "Timeout" : "ConnectionFailed",
                    message: "\(error.message) (\(self.scheme)://\(host))"
                )
                guard attempt < attempts else { throw failure }
            } catch let error as S3Error {
                guard error.isRetryable, attempt < attempts else { throw error }
            }
            try await Task.sleep(for: RetryBackoff(initial: self.configuration.initialBackoff, maximum: self.configuration.maxBackoff).delay(beforeRetry: attempt))
        }
    }

    /// The SHA-256 of a body given as pieces, in lower-case hex.
    static func sha256Hex(of pieces: [Data]) -> String {
        var hasher = SHA256()
        for piece in pieces { hasher.update(data: piece) }
        return hasher.finalize().hex
    }

    /// The host to address and the (decoded) path of a bucket or object, path-style or
    /// virtual-host style.
    func hostAndPath(bucket: String?, key: String?) -> (host: String, path: String) {
        guard let bucket else {
            return (self.authority, self.basePath + "/")
        }
        if self.configuration.pathStyle {
            return (self.authority, self.basePath + "/" + bucket + "/" + (key ?? ""))
        }
        return (bucket + "." + self.authority, self.basePath + "/" + (key ?? ""))
    }

    static func error(from response: CurlHTTPClient.Response) -> S3Error {
        let requestID = response.headers["x-amz-request-id"]
        if let xml = S3XMLNode.parse(response.body), xml.name == "Error" {
            return S3Error(
                status: response.status,
                code: xml.text("Code") ?? "HTTP\(response.status)",
                message: xml.text("Message") ?? "",
                requestID: xml.text("RequestId") ?? requestID
            )
        }
        // HEAD responses have no body to say why.
        let code: String
        switch response.status {
        case 404: code = "NotFound"
        case 403: code = "AccessDenied"
        case 400: code = "BadRequest"
        case 412: code = "PreconditionFailed"
        case 503: code = "SlowDown"
        default: code = "HTTP\(response.status)"
        }
        return S3Error(status: response.status, code: code, message: "", requestID: requestID)
    }

    // MARK: Buckets

    public func createBucket(_ bucket: String) async throws {
        var body: Data?
        if self.configuration.region != "us-east-1" {
            body = Data("<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>\(self.configuration.region.xmlEscaped)</LocationConstraint></CreateBucketConfiguration>".utf8)
        }
        _ = try await self.send("PUT", bucket: bucket, body: body.map { [$0] }, idempotent: false)
    }

    public func bucketExists(_ bucket: String) async throws -> Bool {
        do {
            _ = try await self.send("HEAD", bucket: bucket)
            return true
        } catch let error as S3Error where error.status == 404 {
            return false
        }
    }

    public func listBuckets() async throws -> [(name: String, createdAt: Date)] {
        let response = try await self.send("GET", bucket: nil)
        guard let xml = S3XMLNode.parse(response.body) else {
            throw S3Error(status: response.status, code: "MalformedResponse", message: "ListBuckets answer is not XML")
        }
        return (xml.child("Buckets")?.children("Bucket") ?? []).map { bucket in
            (bucket.text("Name") ?? "", Self.parseDate(bucket.text("CreationDate")) ?? Date(timeIntervalSince1970: 0))
        }
    }

    public func deleteBucket(_ bucket: String) async throws {
        _ = try await self.send("DELETE", bucket: bucket)
    }

    // MARK: Objects

    /// Stores `body` (its pieces in order) in one PUT. Returns the entity tag. `bodySHA256`
    /// (lower-case hex), when the caller has it, spares hashing the body again for the signature.
    @discardableResult
    public func putObject(bucket: String, key: String, body: [Data], bodySHA256: String? = nil, contentType: String, metadata: [String: String]) async throws -> String {
        let response = try await self.send(
            "PUT",
            bucket: bucket,
            key: key,
            headers: [("Content-Type", contentType)] + Self.metadataHeaders(metadata),
            body: body,
            bodySHA256: bodySHA256
        )
        return response.headers["etag"] ?? ""
    }

    public func headObject(bucket: String, key: String) async throws -> ObjectHead {
        Self.objectHead(from: try await self.send("HEAD", bucket: bucket, key: key).headers)
    }

    /// One GET, optionally of the bytes `range` (inclusive), failing with `PreconditionFailed`
    /// when the object's entity tag is no longer `ifMatch`. With `responseBuffers`, the bytes
    /// come in a buffer of that pool when they fit (see `CurlHTTPClient.Request.responseBuffers`).
    public func getObject(
        bucket: String,
        key: String,
        range: ClosedRange<UInt64>? = nil,
        ifMatch: String? = nil,
        responseBuffers: BufferPool? = nil
    ) async throws -> (ObjectHead, Data) {
        var headers: [(name: String, value: String)] = []
        if let range {
            headers.append(("Range", "bytes=\(range.lowerBound)-\(range.upperBound)"))
        }
        if let ifMatch {
            headers.append(("If-Match", ifMatch))
        }
        let response = try await self.send("GET", bucket: bucket, key: key, headers: headers, responseBuffers: responseBuffers)
        return (Self.objectHead(from: response.headers), response.body)
    }

    public func deleteObject(bucket: String, key: String) async throws {
        _ = try await self.send("DELETE", bucket: bucket, key: key)
    }

    /// Server-side copy (up to 5 GiB). With `replacing`, the copy gets that content type and
    /// metadata instead of the source's.
    public func copyObject(
        from source: (bucket: String, key: String),
        to destination: (bucket: String, key: String),
        replacing: (contentType: String, metadata: [String: String])? = nil
    ) async throws {
        var headers: [(name: String, value: String)] = [
            ("x-amz-copy-source", SigV4Encoding.encode("/\(source.bucket)/\(source.key)", keepSlash: true))
        ]
        if let replacing {
            headers += [("x-amz-metadata-directive", "REPLACE"), ("Content-Type", replacing.contentType)]
            headers += Self.metadataHeaders(replacing.metadata)
        }
        let response = try await self.send("PUT", bucket: destination.bucket, key: destination.key, headers: headers)
        // A copy can fail after the 200 status line; the error is then in the body.
        if let xml = S3XMLNode.parse(response.body), xml.name == "Error" {
            throw S3Error(status: 200, code: xml.text("Code") ?? "InternalError", message: xml.text("Message") ?? "", requestID: xml.text("RequestId"))
        }
    }

    public func listObjects(bucket: String, prefix: String, delimiter: String, maxKeys: Int, continuationToken: String?) async throws -> ListPage {
        var query: [(name: String, value: String)] = [("list-type", "2"), ("max-keys", String(maxKeys))]
        if !prefix.isEmpty { query.append(("prefix", prefix)) }
        if !delimiter.isEmpty { query.append(("delimiter", delimiter)) }
        if let continuationToken { query.append(("continuation-token", continuationToken)) }
        let response = try await self.send("GET", bucket: bucket, query: query)
        guard let xml = S3XMLNode.parse(response.body) else {
            throw S3Error(status: response.status, code: "MalformedResponse", message: "ListObjectsV2 answer is not XML")
        }
        let objects = xml.children("Contents").map { item in
            ListedObject(
                key: item.text("Key") ?? "",
                size: UInt64(item.text("Size") ?? "") ?? 0,
                etag: item.text("ETag") ?? "",
                lastModified: Self.parseDate(item.text("LastModified")) ?? Date(timeIntervalSince1970: 0)
            )
        }
        let prefixes = xml.children("CommonPrefixes").compactMap { $0.text("Prefix") }
        let truncated = xml.text("IsTruncated") == "true"
        return ListPage(objects: objects, commonPrefixes: prefixes, nextContinuationToken: truncated ? xml.text("NextContinuationToken") : nil)
    }

    // MARK: Multipart uploads

    public func createMultipartUpload(bucket: String, key: String, contentType: String, metadata: [String: String]) async throws -> String {
        let response = try await self.send(
            "POST",
            bucket: bucket,
            key: key,
            query: [("uploads", "")],
            headers: [("Content-Type", contentType)] + Self.metadataHeaders(metadata),
            idempotent: false
        )
        guard let uploadID = S3XMLNode.parse(response.body)?.text("UploadId"), !uploadID.isEmpty else {
            throw S3Error(status: response.status, code: "MalformedResponse", message: "CreateMultipartUpload answer has no UploadId")
        }
        return uploadID
    }

    /// Uploads one part (numbers from 1), its pieces in order; returns its entity tag.
    public func uploadPart(bucket: String, key: String, uploadID: String, partNumber: Int, body: [Data]) async throws -> String {
        let response = try await self.send(
            "PUT",
            bucket: bucket,
            key: key,
            query: [("partNumber", String(partNumber)), ("uploadId", uploadID)],
            body: body
        )
        return response.headers["etag"] ?? ""
    }

    public func completeMultipartUpload(bucket: String, key: String, uploadID: String, parts: [(number: Int, etag: String)]) async throws {
        var xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for part in parts {
            xml += "<Part><PartNumber>\(part.number)</PartNumber><ETag>\(part.etag.xmlEscaped)</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        let response = try await self.send(
            "POST",
            bucket: bucket,
            key: key,
            query: [("uploadId", uploadID)],
            headers: [("Content-Type", "application/xml")],
            body: [Data(xml.utf8)]
        )
        if let answer = S3XMLNode.parse(response.body), answer.name == "Error" {
            throw S3Error(status: 200, code: answer.text("Code") ?? "InternalError", message: answer.text("Message") ?? "", requestID: answer.text("RequestId"))
        }
    }

    public func abortMultipartUpload(bucket: String, key: String, uploadID: String) async throws {
        _ = try await self.send("DELETE", bucket: bucket, key: key, query: [("uploadId", uploadID)])
    }

    /// Uploads begun and neither completed nor aborted.
    public func listMultipartUploads(bucket: String) async throws -> [(key: String, uploadID: String)] {
        let response = try await self.send("GET", bucket: bucket, query: [("uploads", "")])
        guard let xml = S3XMLNode.parse(response.body) else {
            throw S3Error(status: response.status, code: "MalformedResponse", message: "ListMultipartUploads answer is not XML")
        }
        return xml.children("Upload").map { ($0.text("Key") ?? "", $0.text("UploadId") ?? "") }
    }

    // MARK: Lifecycle

    /// A lifecycle rule that expires objects under a prefix after some days.
    public struct ExpirationRule: Sendable, Equatable {
        public var id: String
        public var prefix: String
        public var days: Int

        public init(id: String, prefix: String, days: Int) {
            self.id = id
            self.prefix = prefix
            self.days = days
        }
    }

    /// PutBucketLifecycleConfiguration; an empty list deletes the configuration.
    public func putLifecycleRules(_ rules: [ExpirationRule], bucket: String) async throws {
        guard !rules.isEmpty else {
            _ = try await self.send("DELETE", bucket: bucket, query: [("lifecycle", "")])
            return
        }
        var xml = "<LifecycleConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for rule in rules {
            xml += "<Rule><ID>\(rule.id.xmlEscaped)</ID><Filter><Prefix>\(rule.prefix.xmlEscaped)</Prefix></Filter>"
            xml += "<Status>Enabled</Status><Expiration><Days>\(rule.days)</Days></Expiration></Rule>"
        }
        xml += "</LifecycleConfiguration>"
        let body = Data(xml.utf8)
        // S3 requires an integrity header on this call.
        let md5 = Data(Insecure.MD5.hash(data: body)).base64EncodedString()
        _ = try await self.send(
            "PUT",
            bucket: bucket,
            query: [("lifecycle", "")],
            headers: [("Content-Type", "application/xml"), ("Content-MD5", md5)],
            body: [body]
        )
    }

    /// GetBucketLifecycleConfiguration's expiration rules; empty when the bucket has none.
    public func lifecycleRules(bucket: String) async throws -> [ExpirationRule] {
        let response: Response
        do {
            response = try await self.send("GET", bucket: bucket, query: [("lifecycle", "")])
        } catch let error as S3Error where error.code == "NoSuchLifecycleConfiguration" {
            return []
        }
        guard let xml = S3XMLNode.parse(response.body) else {
            throw S3Error(status: response.status, code: "MalformedResponse", message: "GetBucketLifecycleConfiguration answer is not XML")
        }
        return xml.children("Rule").compactMap { rule in
            guard let days = rule.child("Expiration")?.text("Days").flatMap({ Int($0) }) else { return nil }
            let prefix = rule.child("Filter")?.text("Prefix") ?? rule.text("Prefix") ?? ""
            return ExpirationRule(id: rule.text("ID") ?? "", prefix: prefix, days: days)
        }
    }

    // MARK: Presigned URLs

    /// The longest a presigned URL may live: seven days.
    public static let maxPresignSeconds = 604_800

    /// A URL that allows `method` on one object without credentials for `seconds`; the body of
    /// a presigned PUT is not signed (UNSIGNED-PAYLOAD), as S3 requires.
    public func presignedURL(method: String, bucket: String, key: String, expiresIn seconds: Int) -> String {
        let (host, path) = self.hostAndPath(bucket: bucket, key: key)
        let request = SigV4Request(method: method, path: path, headers: [("Host", host)])
        let signed = self.signer.presign(request, expires: seconds, payload: .unsigned)
        return "\(self.scheme)://\(host)\(signed.encodedPath)?\(signed.encodedQuery)"
    }

    // MARK: Helpers

    static func metadataHeaders(_ metadata: [String: String]) -> [(name: String, value: String)] {
        metadata.sorted { $0.key < $1.key }.map { ("x-amz-meta-" + $0.key.lowercased(), $0.value) }
    }

    static func objectHead(from headers: [String: String]) -> ObjectHead {
        var metadata: [String: String] = [:]
        for (name, value) in headers where name.hasPrefix("x-amz-meta-") {
            metadata[String(name.dropFirst("x-amz-meta-".count))] = value
        }
        var size = UInt64(headers["content-length"] ?? "") ?? 0
        // A ranged GET reports the whole size after the slash of Content-Range.
        if let range = headers["content-range"], let slash = range.lastIndex(of: "/"), let total = UInt64(range[range.index(after: slash)...]) {
            size = total
        }
        return ObjectHead(
            size: size,
            etag: headers["etag"] ?? "",
            contentType: headers["content-type"] ?? "application/octet-stream",
            metadata: metadata,
            lastModified: headers["last-modified"].flatMap(Self.parseHTTPDate) ?? Date(timeIntervalSince1970: 0)
        )
    }

    static func parseDate(_ text: String?) -> Date? {
        guard let text else { return nil }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }

    static func parseHTTPDate(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: text)
    }
}
