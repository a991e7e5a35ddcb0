import CSQLite
import Foundation
import JSONFilter

/// The embedded metadata store: one SQLite database file in WAL mode.
///
/// A `final class`, not an actor: all of its mutable state is the SQLite connections, and those
/// are owned by two `SQLiteConnectionPool`s — one writer connection, so writes are serialized in
/// this process and every write transaction is `BEGIN IMMEDIATE`, and several reader connections,
/// so reads proceed on their own WAL snapshots while a write is in progress. An actor would
/// serialize reads behind writes and run blocking SQLite calls on the cooperative thread pool;
/// the pools instead run them on Dispatch threads.
public final class SQLiteMetadataStore: MetadataStore, Sendable {
    /// How the store opens its database.
    public struct Configuration: Sendable {
        /// How hard SQLite works to make a commit durable.
        public enum Synchronous: String, Sendable, Hashable {
            /// fsync at every commit: an acknowledged write survives kill -9 and power loss.
            case full = "FULL"
            /// fsync at checkpoints only: an acknowledged write survives kill -9, but the last
            /// transactions may be lost on power loss. Faster.
            case normal = "NORMAL"
        }

        /// Retention applied by `applyRetention` when a call does not give its own ages.
        public struct Retention: Sendable, Hashable {
            /// Completed documents created longer ago are deleted; nil keeps them.
            public var documentMaxAge: Duration?
            /// Audit events older than this are deleted; nil keeps them.
            public var auditMaxAge: Duration?

            public init(documentMaxAge: Duration? = nil, auditMaxAge: Duration? = nil) {
                self.documentMaxAge = documentMaxAge
                self.auditMaxAge = auditMaxAge
            }
        }

        /// The database file; its directory must exist.
        public var path: String
        /// How long a statement waits for another process's lock before failing UNAVAILABLE.
        public var busyTimeout: Duration
        public var synchronous: Synchronous
        /// Reader connections; reads beyond this many wait for one to be free.
        public var readers: Int
        public var retention: Retention
        /// The time source for every timestamp the store writes and for retention.
        public var clock: @Sendable () -> Date

        public init(
            path: String,
            busyTimeout: Duration = .milliseconds(5000),
            synchronous: Synchronous = .full,
            readers: Int = 4,
            retention: Retention = Retention(),
            clock: @escaping @Sendable () -> Date = { Date() }
        ) {
            self.path = path
            self.busyTimeout = busyTimeout
            self.synchronous = synchronous
            self.readers = readers
            self.retention = retention
            self.clock = clock
        }
    }

    public let configuration: Configuration
    let writer: SQLiteConnectionPool
    let readers: SQLiteConnectionPool

    /// Opens (creating if needed) the database and brings its schema up to date.
    public init(configuration: Configuration) throws {
        self.configuration = configuration
        let timeout = configuration.busyTimeout.components
        let milliseconds = Int32(clamping: timeout.seconds * 1000 + timeout.attoseconds / 1_000_000_000_000_000)
        do {
            let writer = try SQLiteConnection(path: configuration.path, busyTimeoutMilliseconds: milliseconds)
            // journal_mode is persistent in the file and cannot change inside a transaction.
            let mode = try writer.queryFirst("PRAGMA journal_mode = WAL", cached: false) { $0.text(0) }
            guard mode?.lowercased() == "wal" else {
                throw MetadataStoreError(.unavailable, "the metadata database cannot use WAL mode (got \(mode ?? "nothing"))")
            }
            try Self.configure(writer, synchronous: configuration.synchronous)
            try Migrations.migrate(writer)
            self.writer = SQLiteConnectionPool(connections: [writer], label: "trove.metadata.writer")

            var readers: [SQLiteConnection] = []
            for _ in 0..<max(1, configuration.readers) {
                let reader = try SQLiteConnection(path: configuration.path, busyTimeoutMilliseconds: milliseconds)
                try Self.configure(reader, synchronous: configuration.synchronous)
                try reader.execute("PRAGMA query_only = ON")
                readers.append(reader)
            }
            self.readers = SQLiteConnectionPool(connections: readers, label: "trove.metadata.readers")
        } catch {
            throw MetadataStoreError.wrap(error)
        }
    }

    private static func configure(_ connection: SQLiteConnection, synchronous: Configuration.Synchronous) throws {
        try connection.execute(
            """
            PRAGMA foreign_keys = ON;
            PRAGMA synchronous = \(synchronous.rawValue);
            PRAGMA temp_store = MEMORY;
            """
        )
    }

    // MARK: Running work

    /// Runs `body` in a write transaction on the writer connection.
    func write<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws(MetadataStoreError) -> T {
        do {
            return try await self.writer.withConnection { connection in
                try connection.transaction { try body(connection) }
            }
        } catch {
            throw MetadataStoreError.wrap(error)
        }
    }

    /// Runs `body` in a read transaction (one snapshot) on a reader connection.
    func read<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws(MetadataStoreError) -> T {
        do {
            return try await self.readers.withConnection { connection in
                try connection.transaction(immediate: false) { try body(connection) }
            }
        } catch {
            throw MetadataStoreError.wrap(error)
        }
    }

    /// Runs raw SQL on the writer connection, outside the store's API (tests, maintenance).
    package func withWriterConnection<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        try await self.writer.withConnection(body)
    }

    var now: Int64 { Self.microseconds(self.configuration.clock()) }

    // MARK: Shared conversions

    /// Microseconds since 1970, clamped to what an Int64 holds (a date that far away is refused
    /// by the services before it gets here; the store must not trap on one either).
    static func microseconds(_ date: Date) -> Int64 {
        date.unixTime(unitsPerSecond: 1_000_000)
    }

    static func date(_ microseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(microseconds) / 1_000_000)
    }

    static func optionalDate(_ microseconds: Int64?) -> Date? {
        microseconds.map { Self.date($0) }
    }

    static func seconds(_ duration: Duration) -> Double {
        let parts = duration.components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }

    static func idText(_ id: UUID) -> String {
        id.lowercasedText
    }

    static func uuid(_ text: String) throws -> UUID {
        guard let id = UUID(uuidString: text) else {
            throw MetadataStoreError(.dataLoss, "the metadata database holds a malformed id '\(text)'")
        }
        return id
    }

    static func stringArray(_ json: String) -> [String] {
        (try? JSONDecoder().decode([String].self, from: Data(json.utf8))) ?? []
    }

    static func jsonText(_ strings: [String]) -> String {
        JSONValue.array(strings.map { .string($0) }).jsonText
    }

    /// Throws NOT_FOUND unless the row exists.
    static func requireRow(_ connection: SQLiteConnection, _ sql: String, _ id: String, field: String, _ message: @autoclosure () -> String) throws {
        let exists = try connection.queryFirst(sql, [.text(id)]) { _ in true } ?? false
        if !exists {
            throw MetadataStoreError.notFound(field, message())
        }
    }

    static func requireText(_ value: String, field: String, maxLength: Int = 1024) throws(MetadataStoreError) {
        if value.isEmpty {
            throw MetadataStoreError.invalid(field, "is required")
        }
        if value.utf8.count > maxLength {
            throw MetadataStoreError.invalid(field, "is longer than \(maxLength) bytes")
        }
    }
}

extension UUID {
    /// The canonical lower-case text form, `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, as stored.
    ///
    /// Written out directly: `uuidString` goes through `sprintf` on Linux, which was the largest
    /// single cost of building a thousand-chunk answer.
    public var lowercasedText: String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        return withUnsafeBytes(of: self.uuid) { bytes in
            String(unsafeUninitializedCapacity: 36) { buffer in
                var position = 0
                for (index, byte) in bytes.enumerated() {
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        buffer[position] = UInt8(ascii: "-")
                        position += 1
                    }
                    buffer[position] = digits[Int(byte >> 4)]
                    buffer[position + 1] = digits[Int(byte & 0x0f)]
                    position += 2
                }
                return position
            }
        }
    }
}
