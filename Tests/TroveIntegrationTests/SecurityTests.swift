import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Glibc
import Testing
import TroveContracts
import TroveCore

/// API keys, roles, collection limits, the audit trail and TLS, against real `trove serve`
/// processes.
@Suite("Security", .serialized)
struct SecurityTests {
    /// A fresh service credential per run.
    static let serviceKey = "trove_service_" + UUID().uuidString.replacingOccurrences(of: "-", with: "")

    /// Auth on, revocations seen at once, the hashing provider (no model needed).
    static var environment: [String: String] {
        [
            "TROVE_AUTH_ENABLED": "true",
            "TROVE_AUTH_SERVICE_KEY": Self.serviceKey,
            "TROVE_AUTH_KEY_CACHE_SECONDS": "0",
            "TROVE_EMBEDDING_PROVIDER": "hashing",
        ]
    }

    static func createKey(
        _ role: Trove_V1_Role,
        collections: [String] = [],
        on client: GRPCClient<HTTP2ClientTransport.Posix>
    ) async throws -> (id: String, secret: String) {
        let response = try await Trove_V1_Metadata.Client(wrapping: client).createApiKey(
            .with {
                $0.name = "test-\(role)"
                $0.role = role
                $0.collections = collections
            }
        )
        return (response.key.id, response.secret)
    }

    @Test("Every RPC of every service × {no key, bad key, readonly, datawriter, admin}: the expected status, zero unauthorized successes")
    func matrix() async throws {
        let trove = try await TroveProcess.start(environment: Self.environment)
        defer { Task { await trove.stopAndRemove() } }
        let keys = try await withClient(trove, credentials: .key(Self.serviceKey)) { client in
            (
                readonly: try await Self.createKey(.readonly, on: client).secret,
                datawriter: try await Self.createKey(.datawriter, on: client).secret,
                admin: try await Self.createKey(.admin, on: client).secret
            )
        }
        let callers: [(name: String, key: String?, granted: Permission?)] = [
            ("no key", nil, nil),
            ("bad key", "trove_" + String(repeating: "A", count: 43), nil),
            ("readonly", keys.readonly, .read),
            ("datawriter", keys.datawriter, .write),
            ("admin", keys.admin, .admin),
        ]
        #expect(everyMethod.count == 79)

        var violations: [String] = []
        var cells = 0
        var summary: [String] = []
        for caller in callers {
            var allowed = 0
            var refused = 0
            try await withClient(trove, credentials: .key(caller.key)) { client in
                for method in everyMethod {
                    let rule = try #require(AccessPolicy.trove[method], "\(method) has a rule")
                    let code = await RawCall.code(of: method, client: client)
                    cells += 1
                    let mayCall = rule.permission == .open || caller.granted.map { $0 >= rule.permission } == true
                    if mayCall {
                        allowed += 1
                        // Let in: any answer but a refusal (an empty request is mostly INVALID_ARGUMENT).
                        if code == .unauthenticated || code == .permissionDenied {
                            violations.append("\(caller.name) → \(method): refused (\(code.map { "\($0)" } ?? "ok")) though it needs \(rule.permission)")
                        }
                    } else {
                        refused += 1
                        let expected: RPCError.Code = caller.granted == nil ? .unauthenticated : .permissionDenied
                        if code != expected {
                            violations.append("\(caller.name) → \(method): \(code.map { "\($0)" } ?? "ok"), expected \(expected)")
                        }
                    }
                }
            }
            summary.append("\(caller.name): \(allowed) let in, \(refused) refused")
        }
        print("access matrix, \(cells) calls: " + summary.joined(separator: "; "))
        #expect(cells == 5 * 79)
        #expect(violations.isEmpty, "\(violations.joined(separator: "\n"))")
    }

    @Test("Keys limited to collections, revocation, and the audit trail of writes and admin actions")
    func collectionsRevocationAndAudit() async throws {
        let trove = try await TroveProcess.start(environment: Self.environment)
        defer { Task { await trove.stopAndRemove() } }
        let admin = try await withClient(trove, credentials: .key(Self.serviceKey)) { try await Self.createKey(.admin, on: $0) }
        try await withClient(trove, credentials: .key(admin.secret)) { client in
            let ingestion = Trove_V1_Ingestion.Client(wrapping: client)
            _ = try await ingestion.createCollection(.with { $0.name = "alpha" })
            _ = try await ingestion.createCollection(.with { $0.name = "beta" })
        }
        let writer = try await withClient(trove, credentials: .key(admin.secret)) {
            try await Self.createKey(.datawriter, collections: ["alpha"], on: $0)
        }
        let text = Data("Tides follow the moon: two high tides a day, about fifty minutes later each day.".utf8)

        let documentID = try await withClient(trove, credentials: .key(writer.secret)) { client in
            let ingestion = Trove_V1_Ingestion.Client(wrapping: client)
            let accepted = try await ingestion.ingest(collection: "alpha", filename: "tides.txt", text)
            let other = await #expect(throws: RPCError.self) { _ = try await ingestion.ingest(collection: "beta", filename: "tides.txt", text) }
            #expect(other?.code == .permissionDenied)
            #expect(other?.message.contains("'beta'") == true, "\(other?.message ?? "")")
            // A request that names no collection is out of reach of a key limited to some.
            let byID = await #expect(throws: RPCError.self) { _ = try await ingestion.getDocumentStatus(.with { $0.documentID = accepted.documentID }) }
            #expect(byID?.code == .permissionDenied)
            let hits = try await ingestion.search(.with { $0.collection = "alpha"; $0.query = "moon tides"; $0.mode = .keyword })
            #expect(hits.hits.isEmpty || hits.hits.allSatisfy { $0.documentID == accepted.documentID })
            // datawriter is not admin.
            let create = await #expect(throws: RPCError.self) { _ = try await ingestion.createCollection(.with { $0.name = "alpha-2" }) }
            #expect(create?.code == .permissionDenied)
            return accepted.documentID
        }

        try await withClient(trove, credentials: .key(admin.secret)) { client in
            _ = try await Trove_V1_Metadata.Client(wrapping: client).revokeApiKey(.with { $0.id = writer.id })
        }
        try await withClient(trove, credentials: .key(writer.secret)) { client in
            let revoked = await #expect(throws: RPCError.self) {
                _ = try await Trove_V1_Ingestion.Client(wrapping: client).ingest(collection: "alpha", filename: "again.txt", text)
            }
            #expect(revoked?.code == .unauthenticated)
        }

        // The trail is written in batches every half second: wait for the last event.
        let events = try await withClient(trove, credentials: .key(admin.secret)) { client in
            let metadata = Trove_V1_Metadata.Client(wrapping: client)
            let deadline = ContinuousClock.now + .seconds(10)
            while true {
                let events = try await metadata.listAuditEvents(.with { $0.page = .with { $0.pageSize = 1000 } }).events
                if events.contains(where: { $0.method == "IngestDocument" && $0.outcome == "unauthenticated" }) || ContinuousClock.now > deadline {
                    return events
                }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        func has(_ method: String, key: String, outcome: String, target: String? = nil) -> Bool {
            events.contains { event in
                event.method == method && event.keyID == key && event.outcome == outcome && (target.map { event.targetIds.contains($0) } ?? true)
            }
        }
        #expect(has("CreateApiKey", key: "service", outcome: "ok"), "the bootstrap with the service key is recorded")
        #expect(has("CreateCollection", key: admin.id, outcome: "ok", target: "alpha"))
        #expect(has("IngestDocument", key: writer.id, outcome: "ok", target: "alpha"))
        #expect(has("IngestDocument", key: writer.id, outcome: "permissionDenied", target: "beta"))
        #expect(has("CreateCollection", key: writer.id, outcome: "permissionDenied"))
        #expect(has("RevokeApiKey", key: admin.id, outcome: "ok", target: writer.id))
        #expect(has("IngestDocument", key: "", outcome: "unauthenticated"))
        #expect(events.allSatisfy { $0.service.hasPrefix("trove.v1.") && !$0.method.isEmpty })
        // Reads are not written down, nor the services' own calls to each other.
        #expect(!events.contains { $0.method == "Search" || $0.method == "GetDocumentStatus" })
        #expect(!events.contains { ["PutChunks", "Upsert", "PutObject", "CreateDocument"].contains($0.method) })
        #expect(!documentID.isEmpty)
    }

    @Test("Five processes with mutual TLS and auth: ingest and search with a key; no certificate, a stranger's, or plaintext is refused")
    func mutualTLSBetweenProcesses() async throws {
        let certificates = try TestCertificates.make()
        defer { try? FileManager.default.removeItem(atPath: certificates.directory) }
        let base = FileManager.default.temporaryDirectory.path + "/trove-tls-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: base) }
        var environment = Self.environment.merging(certificates.serverEnvironment(mutual: true)) { $1 }
        environment["TROVE_METRICS_LISTEN"] = "127.0.0.1:0"
        // Addresses by name: the certificate is for localhost, not for 127.0.0.1.
        var others = try await TroveProcess.startEach(dataDirectory: base, environment: &environment, addressHost: "localhost")
        defer { for process in others { process.signal(SIGKILL) } }
        let metadataProcess = others[0]
        let ingestionProcess = try await TroveProcess.start(role: "ingestion", dataDirectory: base, environment: environment)
        others.append(ingestionProcess)

        let mutual = ClientCredentials(
            key: Self.serviceKey,
            tls: true,
            roots: certificates.ca,
            certificate: (certificates.certificate, certificates.privateKey),
            serverName: "localhost"
        )
        let (admin, writer) = try await withClient(metadataProcess, credentials: mutual) { client in
            (try await Self.createKey(.admin, on: client), try await Self.createKey(.datawriter, on: client))
        }

        var asAdmin = mutual
        asAdmin.key = admin.secret
        try await withClient(ingestionProcess, credentials: asAdmin) { client in
            _ = try await Trove_V1_Ingestion.Client(wrapping: client).createCollection(.with { $0.name = "secure" })
        }
        var asWriter = mutual
        asWriter.key = writer.secret
        try await withClient(ingestionProcess, credentials: asWriter) { client in
            let ingestion = Trove_V1_Ingestion.Client(wrapping: client)
            let text = Data("Volcanoes form where magma rises through the crust, at plate boundaries and hot spots.".utf8)
            let accepted = try await ingestion.ingest(collection: "secure", filename: "volcanoes.txt", text)
            // Processing crosses four TLS connections with the service credential.
            let document = try await ingestion.waitUntilSettled(accepted.documentID, timeout: .seconds(60))
            #expect(document.status == .completed, "\(document.errorMessage)")
            let results = try await ingestion.search(.with { $0.collection = "secure"; $0.query = "magma volcano" })
            #expect(results.hits.first?.documentID == accepted.documentID)
        }

        // Refused before any key is looked at.
        var noCertificate = asWriter
        noCertificate.certificate = nil
        var stranger = asWriter
        stranger.certificate = (certificates.strangerCertificate, certificates.strangerKey)
        let plaintext = ClientCredentials.key(writer.secret)
        for (name, credentials) in [("no client certificate", noCertificate), ("a certificate from another CA", stranger), ("plaintext", plaintext)] {
            let code = try await withClient(ingestionProcess, credentials: credentials) { client in
                await RawCall.code(of: Trove_V1_Ingestion.Method.ListCollections.descriptor, client: client, timeout: .seconds(3))
            }
            #expect(code == .unavailable || code == .deadlineExceeded, "\(name): \(code.map { "\($0)" } ?? "ok")")
        }

        // The command line's TLS options; health needs no key. The certificate names localhost:
        // reached by that name it is accepted, by its address or under another name it is not.
        let tlsFlags = ["--tls-ca", certificates.ca, "--tls-cert", certificates.certificate, "--tls-key", certificates.privateKey]
        let byName = "localhost:\(ingestionProcess.port)"
        let health = try runTrove(["health", "--addr", byName, "--timeout", "5"] + tlsFlags)
        #expect(health.status == 0, "\(health.stdout)\(health.stderr)")
        let byAddress = try runTrove(["health", "--addr", ingestionProcess.address, "--timeout", "5"] + tlsFlags)
        #expect(byAddress.status != 0, "\(byAddress.stdout)\(byAddress.stderr)")
        let serverName = try runTrove(["health", "--addr", ingestionProcess.address, "--tls-server-name", "localhost", "--timeout", "5"] + tlsFlags)
        #expect(serverName.status == 0, "\(serverName.stdout)\(serverName.stderr)")
        let wrongName = try runTrove(["health", "--addr", byName, "--tls-server-name", "elsewhere.example", "--timeout", "5"] + tlsFlags)
        #expect(wrongName.status != 0, "\(wrongName.stdout)\(wrongName.stderr)")
        let search = try runTrove(["search", "magma", "-c", "secure", "--addr", byName, "--api-key", writer.secret, "--json"] + tlsFlags)
        #expect(search.status == 0 && search.stdout.contains("volcanoes.txt"), "\(search.stdout)\(search.stderr)")
        let keyless = try runTrove(["search", "magma", "-c", "secure", "--addr", byName] + tlsFlags)
        #expect(keyless.status != 0 && keyless.stderr.contains("unauthenticated"), "\(keyless.stderr)")

        // The ingestion process sent its audit events to the metadata service.
        var asAdminOnMetadata = mutual
        asAdminOnMetadata.key = admin.secret
        let audited = try await withClient(metadataProcess, credentials: asAdminOnMetadata) { client in
            let metadata = Trove_V1_Metadata.Client(wrapping: client)
            let deadline = ContinuousClock.now + .seconds(10)
            while true {
                let events = try await metadata.listAuditEvents(.with { $0.method = "IngestDocument" }).events
                if !events.isEmpty || ContinuousClock.now > deadline { return events }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        #expect(audited.contains { $0.keyID == writer.id && $0.outcome == "ok" && $0.service == "trove.v1.Ingestion" })

        // Each process reports its own service's calls on its own metrics port (plain HTTP).
        for (process, service) in zip(others, ["Metadata", "ObjectStorage", "Embedding", "VectorSearch", "Ingestion"]) {
            let address = try #require(process.metricsAddress)
            let metrics = try OperationsTests.curl("http://\(address)/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.body.contains("trove_requests_total{service=\"trove.v1.\(service)\""), "\(service): \(metrics.body.prefix(300))")
        }
    }
}
