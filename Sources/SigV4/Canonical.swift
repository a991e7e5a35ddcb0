/// The canonical form of a request that SigV4 signs.
struct Canonical {
    let method: String
    /// Encoded path.
    let path: String
    /// Encoded, sorted query.
    let query: String
    /// `name:value\n` lines, sorted by name.
    let headers: String
    /// `name;name;…`
    let signedHeaders: String

    /// Headers that proxies and clients add or change in flight, so signing them would break
    /// requests for no gain.
    static let unsignedHeaders: Set<String> = ["authorization", "user-agent", "x-amzn-trace-id", "expect", "transfer-encoding", "connection"]

    init(request: SigV4Request, headers: [(name: String, value: String)], query: [(name: String, value: String)], normalizePath: Bool) {
        self.method = request.method
        let path = normalizePath ? Self.normalize(request.path) : request.path
        self.path = SigV4Encoding.encode(path.isEmpty ? "/" : path, keepSlash: true)

        let encoded = query.map { (SigV4Encoding.encode($0.name, keepSlash: false), SigV4Encoding.encode($0.value, keepSlash: false)) }
        self.query = encoded
            .sorted { $0.0 == $1.0 ? $0.1.utf8.lexicographicallyPrecedes($1.1.utf8) : $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")

        let grouped = Self.groupedHeaders(headers)
        self.headers = grouped.map { "\($0.name):\($0.value)\n" }.joined()
        self.signedHeaders = grouped.map(\.name).joined(separator: ";")
    }

    func request(payload: String) -> String {
        "\(self.method)\n\(self.path)\n\(self.query)\n\(self.headers)\n\(self.signedHeaders)\n\(payload)"
    }

    static func signedHeaderNames(_ headers: [(name: String, value: String)]) -> String {
        self.groupedHeaders(headers).map(\.name).joined(separator: ";")
    }

    /// Lower-cased names, sorted; values trimmed with runs of white space collapsed; repeated
    /// headers joined with commas in the order given.
    private static func groupedHeaders(_ headers: [(name: String, value: String)]) -> [(name: String, value: String)] {
        var values: [String: [String]] = [:]
        for header in headers {
            let name = header.name.lowercased()
            guard !self.unsignedHeaders.contains(name) else { continue }
            values[name, default: []].append(self.collapseWhitespace(header.value))
        }
        return values.keys.sorted().map { ($0, values[$0]!.joined(separator: ",")) }
    }

    private static func collapseWhitespace(_ value: String) -> String {
        value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }).joined(separator: " ")
    }

    /// RFC 3986 dot-segment removal, also dropping empty segments, keeping a trailing slash.
    static func normalize(_ path: String) -> String {
        var segments: [Substring] = []
        for segment in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch segment {
            case ".": continue
            case "..": _ = segments.popLast()
            default: segments.append(segment)
            }
        }
        var result = "/" + segments.joined(separator: "/")
        let last = path.split(separator: "/", omittingEmptySubsequences: false).last
        if path.hasSuffix("/") || last == "." || last == ".." {
            if !result.hasSuffix("/") { result += "/" }
        }
        return result
    }
}

/// SigV4's percent-encoding: every byte but the unreserved characters (A-Z a-z 0-9 - _ . ~)
/// becomes %XX in upper-case hex; '/' is kept in paths.
public enum SigV4Encoding {
    public static func encode(_ text: String, keepSlash: Bool) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                bytes.append(byte)
            case UInt8(ascii: "/") where keepSlash:
                bytes.append(byte)
            default:
                bytes += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Decodes %XX sequences; nil when one is malformed.
    public static func decode(_ text: String) -> String? {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next(), let low = iterator.next(),
                    let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
                else { return nil }
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
