import Foundation
import GRPCCore
import SwiftProtobuf
import Testing
import TroveContracts
import TroveTestSupport

@Suite("Metadata service: stats, retention, API keys and audit over gRPC")
struct AdministrationTests {
    @Test("GetStats counts rows per table and reports the database's sizes")
    func stats() async throws {
        try await withMetadataServer { server in
            let client = server.client
            try await client.makeCollection()
            let document = try await client.makeDocument()
            _ = try await client.addChunks(to: document, contents: (0..<20).map { "chunk \($0)" })
            let stats = try await client.getStats(Trove_V1_GetStatsRequest())
            let rows = Dictionary(uniqueKeysWithValues: stats.tables.map { ($0.table, $0.rows) })
            #expect(rows == [
                "collections": 1, "documents": 1, "chunks": 20, "chunk_relationships": 0, "annotations": 0,
                "embedding_records": 0, "api_keys": 0, "audit_events": 0,
            ])
            #expect(stats.databaseBytes > 0)
            #expect(stats.indexBytes > 0)
            #expect(stats.indexBytes < stats.databaseBytes)
            #expect(stats.walBytes > 0)
        }
    }

    @Test("ApplyRetention deletes completed documents older than the request's age, or the configured one")
    func retention() async throws {
        // The configured age (as metadata.retention_days sets it): 2 days.
        try await withMetadataServer(retention: .init(documentMaxAge: .seconds(2 * 86_400))) { server in
            let client = server.client
            try await client.makeCollection()
            var old: [String] = []
            for seed in 0..<3 {
                let document = try await client.makeDocument(seed: seed)
                _ = try await client.addChunks(to: document, contents: ["old \(seed)"])
                _ = try await client.moveDocument(document.id, to: .processing)
                _ = try await client.moveDocument(document.id, to: .completed)
                old.append(document.id)
            }
            let stillPending = try await client.makeDocument(seed: 10)
            _ = try await client.recordAuditEvents(.with {
                $0.events = [.with { $0.service = "metadata"; $0.method = "CreateDocument"; $0.outcome = "ok"; $0.time = .init(date: server.clock.now) }]
            })
            server.clock.advance(by: 86_400 + 60)
            let recent = try await client.makeDocument(seed: 20)
            _ = try await client.moveDocument(recent.id, to: .processing)
            _ = try await client.moveDocument(recent.id, to: .completed)

            // One day given in the request: the three old ones qualify, the recent one does not.
            let dryRun = try await client.applyRetention(.with { $0.maxAgeSeconds = 86_400; $0.dryRun = true })
            #expect(dryRun.documentsDeleted == 3)
            #expect(Set(dryRun.documents.map(\.id)) == Set(old))
            #expect(try await client.listDocuments(.with { $0.collection = "docs" }).documents.count == 5, "a dry run deletes nothing")

            // No age in the request: the configured two days, which nothing is older than yet.
            let configured = try await client.applyRetention(Trove_V1_ApplyRetentionRequest())
            #expect(configured.documentsDeleted == 0)

            server.clock.advance(by: 86_400)
            let applied = try await client.applyRetention(.with { $0.auditMaxAgeSeconds = 3600 })
            #expect(applied.documentsDeleted == 3)
            #expect(Set(applied.documents.map(\.id)) == Set(old))
            #expect(applied.documents.allSatisfy { $0.status == .completed && $0.location.bucket == "raw" })
            #expect(applied.auditEventsDeleted == 1)
            let left = try await client.listDocuments(.with { $0.collection = "docs" }).documents.map(\.id)
            #expect(Set(left) == [stillPending.id, recent.id])
            #expect(try await client.getStats(Trove_V1_GetStatsRequest()).tables.first { $0.table == "chunks" }?.rows == 0)
        }
    }

    @Test("without a configured age, ApplyRetention with no age in the request deletes nothing")
    func retentionOff() async throws {
        try await withMetadataServer { server in
            let client = server.client
            try await client.makeCollection()
            let document = try await client.makeDocument()
            _ = try await client.moveDocument(document.id, to: .processing)
            _ = try await client.moveDocument(document.id, to: .completed)
            server.clock.advance(by: 365 * 86_400)
            let result = try await client.applyRetention(Trove_V1_ApplyRetentionRequest())
            #expect(result.documentsDeleted == 0)
            #expect(result.auditEventsDeleted == 0)
            #expect(try await client.getDocument(.with { $0.id = document.id }).document.status == .completed)
            await expectRPCError(.invalidArgument, field: "max_age_seconds") {
                _ = try await client.applyRetention(.with { $0.maxAgeSeconds = .max })
            }
        }
    }

    @Test("API keys: the secret is shown once, only its hash is stored, and a revoked key no longer authenticates")
    func apiKeys() async throws {
        try await withMetadataServer { server in
            let client = server.client
            let created = try await client.createApiKey(.with {
                $0.name = "ingestion pipeline"
                $0.role = .datawriter
                $0.collections = ["docs", "papers"]
            })
            #expect(!created.key.id.isEmpty)
            #expect(created.key.name == "ingestion pipeline")
            #expect(created.key.role == .datawriter)
            #expect(created.key.collections == ["docs", "papers"])
            #expect(!created.key.hasRevokedAt)
            #expect(!created.key.hasLastUsedAt)
            // trove_ + 256 random bits in unpadded base64url.
            #expect(created.secret.hasPrefix("trove_"))
            let encoded = created.secret.dropFirst("trove_".count)
            #expect(encoded.count == 43)
            #expect(encoded.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })

            let other = try await client.createApiKey(.with { $0.name = "admin"; $0.role = .admin })
            #expect(other.secret != created.secret)
            #expect(other.key.id != created.key.id)

            let authenticated = try await client.authenticateApiKey(.with { $0.secret = created.secret })
            #expect(authenticated.id == created.key.id)
            #expect(authenticated.role == .datawriter)
            #expect(authenticated.lastUsedAt.date == server.clock.now)

            // The database holds the hash, never the secret.
            let files = [server.databasePath, server.databasePath + "-wal"].compactMap { FileManager.default.contents(atPath: $0) }
            #expect(!files.isEmpty)
            for data in files {
                #expect(data.range(of: Data(created.secret.utf8)) == nil)
                #expect(data.range(of: Data(encoded.utf8)) == nil)
            }

            let listed = try await client.listApiKeys(Trove_V1_ListApiKeysRequest())
            #expect(Set(listed.keys.map(\.id)) == [created.key.id, other.key.id])

            server.clock.advance(by: 5)
            let revoked = try await client.revokeApiKey(.with { $0.id = created.key.id })
            #expect(revoked.key.hasRevokedAt)
            #expect(revoked.key.revokedAt.date == server.clock.now)
            await expectRPCError(.unauthenticated, field: "secret") {
                _ = try await client.authenticateApiKey(.with { $0.secret = created.secret })
            }
            #expect(try await client.authenticateApiKey(.with { $0.secret = other.secret }).id == other.key.id)
            #expect(try await client.listApiKeys(Trove_V1_ListApiKeysRequest()).keys.map(\.id) == [other.key.id])
            #expect(try await client.listApiKeys(.with { $0.includeRevoked = true }).keys.count == 2)

            await expectRPCError(.unauthenticated, field: "secret") {
                _ = try await client.authenticateApiKey(.with { $0.secret = "trove_guessed" })
            }
            await expectRPCError(.invalidArgument, field: "secret") {
                _ = try await client.authenticateApiKey(Trove_V1_AuthenticateApiKeyRequest())
            }
            await expectRPCError(.invalidArgument, field: "role") {
                _ = try await client.createApiKey(.with { $0.name = "no role" })
            }
            await expectRPCError(.invalidArgument, field: "name") {
                _ = try await client.createApiKey(.with { $0.role = .readonly })
            }
            await expectRPCError(.notFound, field: "id") {
                _ = try await client.revokeApiKey(.with { $0.id = "no-such-key" })
            }
        }
    }

    @Test("audit events are recorded and listed by service, method, key and time, in pages")
    func audit() async throws {
        try await withMetadataServer { server in
            let client = server.client
            let start = server.clock.now
            let events: [Trove_V1_AuditEvent] = (0..<5).map { index in
                .with {
                    $0.time = .init(date: start.addingTimeInterval(Double(index)))
                    $0.keyID = index < 3 ? "key-a" : "key-b"
                    $0.service = "metadata"
                    $0.method = index.isMultiple(of: 2) ? "CreateDocument" : "DeleteDocument"
                    $0.targetIds = ["doc-\(index)"]
                    $0.outcome = index == 4 ? "permissionDenied" : "ok"
                    $0.requestID = "req-\(index)"
                }
            }
            let recorded = try await client.recordAuditEvents(.with {
                $0.events = events + [.with { $0.service = "ingestion"; $0.method = "Ingest"; $0.outcome = "ok" }]
            })
            #expect(recorded.recorded == 6)

            let metadataEvents = try await client.listAuditEvents(.with { $0.service = "metadata" })
            #expect(metadataEvents.events.map(\.requestID) == ["req-0", "req-1", "req-2", "req-3", "req-4"])
            #expect(metadataEvents.events.allSatisfy { !$0.id.isEmpty })
            #expect(metadataEvents.events[4].outcome == "permissionDenied")
            #expect(metadataEvents.events[4].targetIds == ["doc-4"])
            #expect(metadataEvents.events[2].time.date == start.addingTimeInterval(2))

            let keyB = try await client.listAuditEvents(.with { $0.keyID = "key-b" })
            #expect(keyB.events.map(\.requestID) == ["req-3", "req-4"])
            let creates = try await client.listAuditEvents(.with { $0.method = "CreateDocument" })
            #expect(creates.events.map(\.requestID) == ["req-0", "req-2", "req-4"])
            let window = try await client.listAuditEvents(.with {
                $0.service = "metadata"
                $0.since = .init(date: start.addingTimeInterval(1))
                $0.until = .init(date: start.addingTimeInterval(3))
            })
            #expect(window.events.map(\.requestID) == ["req-1", "req-2"])

            // An event without a time is stamped when recorded; without a key, it has none.
            let ingestion = try await client.listAuditEvents(.with { $0.service = "ingestion" })
            #expect(ingestion.events.count == 1)
            #expect(ingestion.events[0].keyID.isEmpty)
            #expect(ingestion.events[0].hasTime)

            var pages: [[String]] = []
            var token = ""
            repeat {
                let page = try await client.listAuditEvents(.with {
                    $0.service = "metadata"
                    $0.page = .with { $0.pageSize = 2; $0.pageToken = token }
                })
                pages.append(page.events.map(\.requestID))
                token = page.nextPageToken
            } while !token.isEmpty && pages.count < 10
            #expect(pages == [["req-0", "req-1"], ["req-2", "req-3"], ["req-4"]])

            await expectRPCError(.invalidArgument, field: "events[0].service") {
                _ = try await client.recordAuditEvents(.with { $0.events = [.with { $0.method = "X" }] })
            }
        }
    }
}
