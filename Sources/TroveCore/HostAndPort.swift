import GRPCNIOTransportHTTP2
/// A host and a TCP port, written `HOST:PORT` (`[::1]:PORT` for IPv6).
public struct HostAndPort: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT`, `[IPV6]:PORT`; nil when malformed or the port is out of range.
    public init?(parsing text: String) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { return nil }
        }
        guard !host.isEmpty, let port = Int(portText), (0...65535).contains(port) else {
            return nil
        }
        self.host = String(host)
        self.port = port
    }

    /// Whether the host is an IP literal (or `localhost`), as a listener needs.
    public var isIPLiteralOrLocalhost: Bool {
        self.host == "localhost" || self.isIPv4 || self.isIPv6
    }

    /// Where a client connects: an IP literal as itself (TLS then checks the certificate against
    /// the address: an IP cannot be sent as a TLS server name), a name through DNS.
    public var clientTarget: any ResolvableTarget {
        if self.isIPv4 {
            return .ipv4(address: self.host, port: self.port)
        }
        if self.isIPv6 {
            return .ipv6(address: self.host, port: self.port)
        }
        return .dns(host: self.host, port: self.port)
    }

    var isIPv4: Bool {
        let parts = self.host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { part in
            !part.isEmpty && part.count <= 3 && part.allSatisfy(\.isASCII) && (Int(part).map { (0...255).contains($0) } ?? false)
        }
    }

    var isIPv6: Bool {
        self.host.contains(":") && self.host.allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." }
    }

    public var description: String {
        self.host.contains(":") ? "[\(self.host)]:\(self.port)" : "\(self.host):\(self.port)"
    }
}
