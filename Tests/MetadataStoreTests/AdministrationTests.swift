import Foundation
import MetadataStore
import Testing

@Suite("Stats, retention, API keys, audit, migrations")
struct AdministrationTests {
    @Test("stats count rows per table and report file, index and WAL sizes")
    func stats() async throws {
        try await withStore { store, _ in
            let document = try await store.makeDocument()
            _ = try await store.addChunks(to: document.id, count: 200, contents: (0..<200).map { "chunk number \($0) with some words" })
            let stats = try await store.stats()
            let rows = Dictionary(uniqueKeysWithValues: stats.tables.map { ($0.table, $0.rows) })
            #expect(rows == [
                "collections": 1, "documents": 1, "chunks": 200, "chunk_relationships": 0, "annotations": 0,
                "embedding_records": 0, "api_keys": 0, "audit_events": 0,
            ])
            #expect(stats.databaseBytes > 0)
            #expect(stats.databaseBytes % 4096 == 0)
            #expect(stats.indexBytes > 0)
            #expect(stats.indexBytes < stats.databaseBytes)
            // Writes go to the WAL until a checkpoint.
            #expect(stats.walBytes > 0)
            #expect(stats.freePages >= 0)
        }
    }

    @Test("retention deletes completed documents older than the age, and old audit events")
    func retention() async throws {
        let clock = ManualClock()
        try await withStore(clock: clock, configure: { $0.retention = .init(documentMaxAge: .seconds(3600), auditMaxAge: .seconds(7200)) }) { store, clock in
            var old: [UUID] = []
            for seed in 0..<3 {
                let document = try await store.makeDocument(seed: seed)
                _ = try await store.addChunks(to: document.id, count: 2)
                old.append(document.id)
            }
            let oldPending = try await store.makeDocument(seed: 10)
            _ = try await store.recordAuditEvents([AuditEvent(time: clock.now, service: "metadata", method: "CreateDocument", outcome: "ok")])
            for id in old {
                _ = try await store.updateDocumentStatus(id: id, to: .processing, expectedVersion: nil, errorMessage: nil)
                _ = try await store.updateDocumentStatus(id: id, to: .completed, expectedVersion: nil, errorMessage: nil)
            }
            clock.advance(by: 5400)
            let recent = try await store.makeDocument(seed: 20)
            _ = try await store.updateDocumentStatus(id: recent.id, to: .processing, expectedVersion: nil, errorMessage: nil)
            _ = try await store.updateDocumentStatus(id: recent.id, to: .completed, expectedVersion: nil, errorMessage: nil)

            let dryRun = try await store.applyRetention(documentMaxAge: nil, auditMaxAge: nil, dryRun: true)
            #expect(dryRun.documentsDeleted == 3)
            #expect(dryRun.auditEventsDeleted == 0)
            #expect(try await store.count("documents") == 5)

            let applied = try await store.applyRetention(documentMaxAge: nil, auditMaxAge: nil, dryRun: false)
            #expect(Set(applied.documents.map(\.id)) == Set(old))
            #expect(applied.documentsDeleted == 3)
            #expect(try await store.count("documents") == 2)
            #expect(try await store.count("chunks") == 0)
            #expect(try await store.getDocument(id: oldPending.id, includeChunks: false).document.status == .pending)

            clock.advance(by: 3600)
            let audit = try await store.applyRetention(documentMaxAge: .seconds(999_999), auditMaxAge: nil, dryRun: false)
            #expect(audit.auditEventsDeleted == 1)
            #expect(audit.documentsDeleted == 0)
            // An explicit age overrides the configured one.
            #expect(try await store.applyRetention(documentMaxAge: .seconds(60), auditMaxAge: nil, dryRun: false).documents.map(\.id) == [recent.id])
        }
    }

    @Test("retention without a configured or given age deletes nothing")
    func noRetention() async throws {
        try await withStore { store, clock in
            let document = try await store.makeDocument()
            _ = try await store.updateDocumentStatus(id: document.id, to: .processing, expectedVersion: nil, errorMessage: nil)
            _ = try await store.updateDocumentStatus(id: document.id, to: .completed, expectedVersion: nil, errorMessage: nil)
            clock.advance(by: 10 * 365 * 86400)
            let result = try await store.applyRetention(documentMaxAge: nil, auditMaxAge: nil, dryRun: false)
            #expect(result.documentsDeleted == 0)
            #expect(try await store.count("documents") == 1)
        }
    }

    @Test("API keys: create, list, revoke, authenticate by hash")
    func apiKeys() async throws {
        try await withStore { store, clock in
            let admin = try await store.createAPIKey(NewAPIKey(id: "key-admin", name: "ops", role: .admin, secretHash: "h-admin"))
            let reader = try await store.createAPIKey(NewAPIKey(id: "key-reader", name: "bot", role: .readOnly, collections: ["docs", "wiki"], secretHash: "h-reader"))
            #expect(reader.collections == ["docs", "wiki"])
            #expect(reader.lastUsedAt == nil)

            let authenticated = try await store.authenticateAPIKey(secretHash: "h-reader")
            #expect(authenticated?.id == "key-reader")
            #expect(authenticated?.role == .readOnly)
            #expect(authenticated?.lastUsedAt == clock.now)
            #expect(try await store.authenticateAPIKey(secretHash: "wrong") == nil)

            let revoked = try await store.revokeAPIKey(id: "key-reader")
            #expect(revoked.revokedAt == clock.now)
            clock.advance(by: 10)
            #expect(try await store.revokeAPIKey(id: "key-reader").revokedAt == revoked.revokedAt)
            #expect(try await store.authenticateAPIKey(secretHash: "h-reader") == nil)
            #expect(try await store.listAPIKeys(includeRevoked: false).map(\.id) == [admin.id])
            #expect(try await store.listAPIKeys(includeRevoked: true).map(\.id) == [admin.id, reader.id])
            await expectStoreError(.notFound, field: "id") { _ = try await store.revokeAPIKey(id: "nope") }
        }
    }

    @Test("audit events list with filters and pages, oldest first")
    func audit() async throws {
        try await withStore { store, clock in
            var events: [AuditEvent] = []
            for index in 0..<30 {
                events.append(AuditEvent(
                    time: clock.now.addingTimeInterval(Double(index)), keyID: index % 3 == 0 ? nil : "k\(index % 3)",
                    service: index % 2 == 0 ? "metadata" : "ingestion", method: "M\(index % 5)",
                    targetIDs: ["t\(index)"], outcome: "ok", requestID: "r\(index)"))
            }
            #expect(try await store.recordAuditEvents(events.shuffled()) == 30)

            var seen: [AuditEvent] = []
            var token: String?
            repeat {
                let page = try await store.listAuditEvents(AuditQuery(), page: PageRequest(size: 7, token: token))
                seen += page.items
                token = page.nextPageToken
            } while token != nil
            #expect(seen == events)

            let k1 = try await store.listAuditEvents(AuditQuery(keyID: "k1", service: "metadata"), page: PageRequest())
            #expect(k1.items.map(\.requestID) == events.filter { $0.keyID == "k1" && $0.service == "metadata" }.map(\.requestID))
            let window = try await store.listAuditEvents(
                AuditQuery(since: clock.now.addingTimeInterval(10), until: clock.now.addingTimeInterval(20)), page: PageRequest())
            #expect(window.items.map(\.targetIDs) == (10..<20).map { ["t\($0)"] })
        }
    }

    @Test("re-opening runs no migration twice and keeps the data; a newer schema is refused")
    func reopen() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/metadata.sqlite"
        var documentID: UUID?
        do {
            let store = try SQLiteMetadataStore(configuration: .init(path: path))
            documentID = try await store.makeDocument().id
            #expect(try await store.withWriterConnection { try Migrations.userVersion($0) } == Migrations.latestVersion)
        }
        for _ in 0..<2 {
            let store = try SQLiteMetadataStore(configuration: .init(path: path, synchronous: .normal))
            #expect(try await store.getDocument(id: documentID!, includeChunks: false).document.collection == "docs")
            let settings = try await store.withWriterConnection { connection in
                [
                    try connection.queryFirst("PRAGMA journal_mode") { $0.text(0) } ?? "",
                    try connection.queryFirst("PRAGMA foreign_keys") { $0.text(0) } ?? "",
                    try connection.queryFirst("PRAGMA synchronous") { $0.text(0) } ?? "",
                    try connection.queryFirst("PRAGMA user_version") { $0.text(0) } ?? "",
                ]
            }
            #expect(settings == ["wal", "1", "1", String(Migrations.latestVersion)])
        }
        do {
            let store = try SQLiteMetadataStore(configuration: .init(path: path))
            let synchronous = try await store.withWriterConnection { try $0.queryFirst("PRAGMA synchronous") { $0.int(0) } }
            #expect(synchronous == 2)
            try await store.withWriterConnection { try $0.execute("PRAGMA user_version = 99") }
        }
        #expect {
            _ = try SQLiteMetadataStore(configuration: .init(path: path))
        } throws: { error in
            (error as? MetadataStoreError)?.code == .failedPrecondition
        }
    }

    @Test("a migration that fails leaves the schema at the previous version")
    func failedMigration() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let connection = try SQLiteConnection(path: directory.path + "/m.sqlite", busyTimeoutMilliseconds: 1000)
        let steps = Migrations.all + [Migration(version: Migrations.latestVersion + 1, name: "broken", sql: "CREATE TABLE extra (x); SELECT * FROM no_such_table;")]
        #expect(throws: (any Error).self) { try Migrations.migrate(connection, steps: steps) }
        #expect(try Migrations.userVersion(connection) == Migrations.latestVersion)
        #expect(try connection.queryFirst("SELECT count(*) FROM sqlite_schema WHERE name = 'extra'") { $0.int(0) } == 0)
    }

    @Test("reads proceed while a write transaction is open")
    func readDuringWrite() async throws {
        try await withStore { store, _ in
            let document = try await store.makeDocument()
            let (entered, enteredContinuation) = AsyncStream.makeStream(of: Void.self)
            let semaphore = DispatchSemaphore(value: 0)
            let writer = Task {
                try await store.withWriterConnection { connection in
                    try connection.transaction {
                        try connection.run("UPDATE documents SET filename = 'in-flight'")
                        enteredContinuation.yield()
                        semaphore.wait()
                    }
                }
            }
            for await _ in entered { break }
            // The write lock is held; a read still answers, from the last committed snapshot.
            let seen = try await store.getDocument(id: document.id, includeChunks: false).document.filename
            #expect(seen == document.filename)
            semaphore.signal()
            try await writer.value
            #expect(try await store.getDocument(id: document.id, includeChunks: false).document.filename == "in-flight")
        }
    }
}
