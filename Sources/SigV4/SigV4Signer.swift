import Crypto
import Foundation

/// AWS credentials: an access key, its secret, and the session token of temporary credentials.
public struct SigV4Credentials: Sendable, Equatable {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }
}

/// An HTTP request to sign, with its path and query *not* percent-encoded: the signer encodes
/// them, and the encoded forms it returns are what goes on the wire, so what is signed and
/// what is sent cannot differ.
public struct SigV4Request: Sendable {
    public var method: String
    /// The decoded path, e.g. "/bucket/key with spaces".
    public var path: String
    /// Decoded query parameters, in any order; a parameter without a value has "".
    public var query: [(name: String, value: String)]
    /// Header names and values as they will be sent; `Host` must be among them.
    public var headers: [(name: String, value: String)]

    public init(method: String, path: String, query: [(name: String, value: String)] = [], headers: [(name: String, value: String)]) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
    }
}

/// What the signature says about the body.
public enum SigV4Payload: Sendable, Equatable {
    /// The body's SHA-256, lower-case hex (the empty body's for a request without one).
    case sha256(String)
    /// The body is not signed ("UNSIGNED-PAYLOAD"), as S3 allows for presigned URLs and for
    /// bodies hashed elsewhere.
    case unsigned

    /// The SHA-256 of an empty body.
    public static let empty = SigV4Payload.sha256("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")

    var value: String {
        switch self {
        case .sha256(let hex): hex
        case .unsigned: "UNSIGNED-PAYLOAD"
        }
    }
}

/// Signs requests with AWS Signature Version 4 (AWS4-HMAC-SHA256), in the Authorization header
/// or as a presigned query.
///
/// S3 differs from other services in two ways, both set by `Configuration.s3`: the path is not
/// normalized (a key may hold "//" or "./"), and `x-amz-content-sha256` is always sent and
/// signed.
public struct SigV4Signer: Sendable {
    public struct Configuration: Sendable {
        public var region: String
        public var service: String
        /// Remove "." and ".." segments and empty segments from the path before signing
        /// (every service but S3).
        public var normalizePath: Bool
        /// Send and sign `x-amz-content-sha256` with every header-signed request (S3).
        public var signContentSHA256Header: Bool
        /// Add the session token after signing instead of signing it (some STS flows).
        public var omitSessionTokenFromSignature: Bool

        public init(
            region: String,
            service: String,
            normalizePath: Bool = true,
            signContentSHA256Header: Bool = false,
            omitSessionTokenFromSignature: Bool = false
        ) {
            self.region = region
            self.service = service
            self.normalizePath = normalizePath
            self.signContentSHA256Header = signContentSHA256Header
            self.omitSessionTokenFromSignature = omitSessionTokenFromSignature
        }

        /// S3's rules for a region.
        public static func s3(region: String) -> Configuration {
            Configuration(region: region, service: "s3", normalizePath: false, signContentSHA256Header: true)
        }
    }

    /// Everything computed on the way to a signature; the tests compare each step with AWS's.
    public struct Signature: Sendable {
        public var canonicalRequest: String
        public var stringToSign: String
        public var signature: String
        /// The canonical (encoded) path to put in the request line.
        public var encodedPath: String
        /// Header-signed requests: the headers to add (X-Amz-Date, X-Amz-Content-Sha256,
        /// X-Amz-Security-Token, Authorization). Presigned requests: empty.
        public var headersToAdd: [(name: String, value: String)]
        /// The query string to send (encoded, including the X-Amz-* parameters and, when
        /// presigned, X-Amz-Signature).
        public var encodedQuery: String
    }

    public let credentials: SigV4Credentials
    public let configuration: Configuration
    private let clock: @Sendable () -> Date

    /// - Parameter clock: The time to sign at; injectable so tests are deterministic.
    public init(credentials: SigV4Credentials, configuration: Configuration, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.credentials = credentials
        self.configuration = configuration
        self.clock = clock
    }

    /// Signs a request in its Authorization header.
    public func signHeaders(_ request: SigV4Request, payload: SigV4Payload) -> Signature {
        let date = SigningDate(self.clock())
        var headers = request.headers
        var added: [(name: String, value: String)] = [("X-Amz-Date", date.timestamp)]
        if self.configuration.signContentSHA256Header {
            added.append(("X-Amz-Content-Sha256", payload.value))
        }
        var tokenAfterSigning: (name: String, value: String)?
        if let token = self.credentials.sessionToken {
            if self.configuration.omitSessionTokenFromSignature {
                tokenAfterSigning = ("X-Amz-Security-Token", token)
            } else {
                added.append(("X-Amz-Security-Token", token))
            }
        }
        headers += added
        let canonical = Canonical(request: request, headers: headers, query: request.query, normalizePath: self.configuration.normalizePath)
        let canonicalRequest = canonical.request(payload: payload.value)
        let scope = self.scope(date)
        let stringToSign = Self.stringToSign(canonicalRequest: canonicalRequest, timestamp: date.timestamp, scope: scope)
        let signature = self.signature(of: stringToSign, day: date.day)
        added.append((
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=\(self.credentials.accessKeyID)/\(scope), SignedHeaders=\(canonical.signedHeaders), Signature=\(signature)"
        ))
        if let tokenAfterSigning {
            added.append(tokenAfterSigning)
        }
        return Signature(
            canonicalRequest: canonicalRequest,
            stringToSign: stringToSign,
            signature: signature,
            encodedPath: canonical.path,
            headersToAdd: added,
            encodedQuery: canonical.query
        )
    }

    /// Signs a request in its query string, valid for `expires` seconds (1 to 604,800).
    public func presign(_ request: SigV4Request, expires: Int, payload: SigV4Payload = .unsigned) -> Signature {
        let date = SigningDate(self.clock())
        let scope = self.scope(date)
        let signedHeaders = Canonical.signedHeaderNames(request.headers)
        var query = request.query
        query += [
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            ("X-Amz-Credential", "\(self.credentials.accessKeyID)/\(scope)"),
            ("X-Amz-Date", date.timestamp),
            ("X-Amz-Expires", String(expires)),
            ("X-Amz-SignedHeaders", signedHeaders),
        ]
        if let token = self.credentials.sessionToken, !self.configuration.omitSessionTokenFromSignature {
            query.append(("X-Amz-Security-Token", token))
        }
        let canonical = Canonical(request: request, headers: request.headers, query: query, normalizePath: self.configuration.normalizePath)
        let canonicalRequest = canonical.request(payload: payload.value)
        let stringToSign = Self.stringToSign(canonicalRequest: canonicalRequest, timestamp: date.timestamp, scope: scope)
        let signature = self.signature(of: stringToSign, day: date.day)
        var encodedQuery = canonical.query + "&X-Amz-Signature=" + signature
        if let token = self.credentials.sessionToken, self.configuration.omitSessionTokenFromSignature {
            encodedQuery += "&X-Amz-Security-Token=" + SigV4Encoding.encode(token, keepSlash: false)
        }
        return Signature(
            canonicalRequest: canonicalRequest,
            stringToSign: stringToSign,
            signature: signature,
            encodedPath: canonical.path,
            headersToAdd: [],
            encodedQuery: encodedQuery
        )
    }

    private func scope(_ date: SigningDate) -> String {
        "\(date.day)/\(self.configuration.region)/\(self.configuration.service)/aws4_request"
    }

    static func stringToSign(canonicalRequest: String, timestamp: String, scope: String) -> String {
        let hash = SHA256.hash(data: Data(canonicalRequest.utf8)).hex
        return "AWS4-HMAC-SHA256\n\(timestamp)\n\(scope)\n\(hash)"
    }

    private func signature(of stringToSign: String, day: String) -> String {
        // kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, day), region), service), "aws4_request")
        var key = SymmetricKey(data: Data(("AWS4" + self.credentials.secretAccessKey).utf8))
        for part in [day, self.configuration.region, self.configuration.service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        return Data(HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: key)).hex
    }
}

/// The signing time in SigV4's two forms, always in UTC.
struct SigningDate {
    /// `20150830T123600Z`
    let timestamp: String
    /// `20150830`
    let day: String

    init(_ date: Date) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func two(_ value: Int?) -> String {
            let value = value ?? 0
            return value < 10 ? "0\(value)" : "\(value)"
        }
        self.day = "\(parts.year ?? 1970)\(two(parts.month))\(two(parts.day))"
        self.timestamp = "\(self.day)T\(two(parts.hour))\(two(parts.minute))\(two(parts.second))Z"
    }
}

extension Sequence where Element == UInt8 {
    /// Lower-case hex, as SigV4 and Trove's stored SHA-256 digests spell bytes.
    public var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var bytes: [UInt8] = []
        for byte in self {
            bytes.append(digits[Int(byte >> 4)])
            bytes.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
