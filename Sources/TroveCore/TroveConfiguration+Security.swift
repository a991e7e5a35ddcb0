import Foundation

extension TroveConfiguration {
    /// API keys: who may call what.
    public struct Auth: Sendable, Equatable {
        /// When off (the embedded default), every call is allowed and start-up warns.
        public var enabled = false
        /// The secret the services present to each other, inline.
        public var serviceKey = ""
        /// A file holding that secret (a container secret, say); read at start-up.
        public var serviceKeyFile = ""
        /// How long a service trusts what the metadata service said about a key; a revoked
        /// key stops working within this time.
        public var keyCacheSeconds = 30

        /// The service credential, from `service_key` or the file `service_key_file`.
        public func resolvedServiceKey() throws -> String {
            guard !self.serviceKeyFile.isEmpty else { return self.serviceKey }
            let text: String
            do {
                text = try String(contentsOfFile: self.serviceKeyFile, encoding: .utf8)
            } catch {
                throw ConfigurationError(option: "auth.service_key_file", message: "cannot read \(self.serviceKeyFile): \(error.localizedDescription)")
            }
            let key = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard key.utf8.count >= Self.minimumServiceKeyBytes else {
                throw ConfigurationError(
                    option: "auth.service_key_file",
                    message: "\(self.serviceKeyFile) holds \(key.utf8.count) characters; a service key needs at least \(Self.minimumServiceKeyBytes)"
                )
            }
            return key
        }

        /// 32 characters: a random key of fewer has too little entropy to stand for every service.
        static let minimumServiceKeyBytes = 32

        public init() {}
    }

    /// TLS for every listener and for the calls services make to each other.
    public struct TLS: Sendable, Equatable {
        /// PEM certificate chain; TLS is on when set.
        public var certificateFile = ""
        /// PEM private key of that certificate.
        public var privateKeyFile = ""
        /// PEM trust roots: for verifying the services this one calls and, with mutual TLS, its
        /// clients. Empty: the system's roots.
        public var caFile = ""
        /// Mutual TLS: refuse clients without a certificate signed by `ca_file`.
        public var requireClientCertificate = false

        public var isEnabled: Bool { !self.certificateFile.isEmpty }

        public init() {}

        /// Checks that each configured file can be read, naming the option of the first that cannot.
        public func checkFiles() throws {
            for (option, path) in [("tls.certificate_file", self.certificateFile), ("tls.private_key_file", self.privateKeyFile), ("tls.ca_file", self.caFile)]
            where !path.isEmpty {
                guard FileManager.default.isReadableFile(atPath: path) else {
                    throw ConfigurationError(option: option, message: "cannot read \(path)")
                }
            }
        }
    }

    /// Prometheus metrics over HTTP.
    public struct Metrics: Sendable, Equatable {
        /// Where `GET /metrics` is answered; nil: no metrics listener.
        public var listen: HostAndPort?

        public init(listen: HostAndPort? = nil) {
            self.listen = listen
        }
    }

    static func readAuth(_ reader: inout ConfigurationReader) throws -> Auth {
        let defaults = Auth()
        var auth = Auth()
        auth.enabled = try reader.boolean("auth.enabled", default: defaults.enabled)
        auth.serviceKey = try reader.string("auth.service_key", default: defaults.serviceKey, allowEmpty: true)
        auth.serviceKeyFile = try reader.string("auth.service_key_file", default: defaults.serviceKeyFile, allowEmpty: true)
        auth.keyCacheSeconds = try reader.integer("auth.key_cache_seconds", default: defaults.keyCacheSeconds, range: 0...3600)
        if !auth.serviceKey.isEmpty && !auth.serviceKeyFile.isEmpty {
            throw ConfigurationError(option: "auth.service_key", message: "give auth.service_key or auth.service_key_file, not both")
        }
        if !auth.serviceKey.isEmpty && auth.serviceKey.utf8.count < Auth.minimumServiceKeyBytes {
            throw ConfigurationError(
                option: "auth.service_key",
                message: "is \(auth.serviceKey.utf8.count) characters; a service key needs at least \(Auth.minimumServiceKeyBytes) (e.g. `openssl rand -base64 32`)"
            )
        }
        if auth.enabled && auth.serviceKey.isEmpty && auth.serviceKeyFile.isEmpty {
            throw ConfigurationError(
                option: "auth.service_key",
                message: "required when auth.enabled is true (or auth.service_key_file): the services present it to each other"
            )
        }
        return auth
    }

    static func readTLS(_ reader: inout ConfigurationReader) throws -> TLS {
        let defaults = TLS()
        var tls = TLS()
        tls.certificateFile = try reader.string("tls.certificate_file", default: defaults.certificateFile, allowEmpty: true)
        tls.privateKeyFile = try reader.string("tls.private_key_file", default: defaults.privateKeyFile, allowEmpty: true)
        tls.caFile = try reader.string("tls.ca_file", default: defaults.caFile, allowEmpty: true)
        tls.requireClientCertificate = try reader.boolean("tls.require_client_certificate", default: defaults.requireClientCertificate)
        if tls.certificateFile.isEmpty != tls.privateKeyFile.isEmpty {
            let missing = tls.certificateFile.isEmpty ? "tls.certificate_file" : "tls.private_key_file"
            throw ConfigurationError(option: missing, message: "required with \(missing == "tls.certificate_file" ? "tls.private_key_file" : "tls.certificate_file")")
        }
        if tls.requireClientCertificate && (!tls.isEnabled || tls.caFile.isEmpty) {
            throw ConfigurationError(
                option: "tls.require_client_certificate",
                message: "needs tls.certificate_file, tls.private_key_file and tls.ca_file (the roots client certificates are checked against)"
            )
        }
        return tls
    }

    static func readMetrics(_ reader: inout ConfigurationReader) throws -> Metrics {
        let text = try reader.string("metrics.listen", default: "", allowEmpty: true)
        guard !text.isEmpty else { return Metrics() }
        guard let address = HostAndPort(parsing: text), address.isIPLiteralOrLocalhost else {
            throw ConfigurationError(option: "metrics.listen", message: "invalid value '\(text)': expected IP:PORT, e.g. 0.0.0.0:9090")
        }
        return Metrics(listen: address)
    }
}
