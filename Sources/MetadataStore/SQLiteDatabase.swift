import CSQLite
import Foundation

/// A value bound to, or read from, an SQL statement.
package enum SQLValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

/// A failed SQLite call: the extended result code and SQLite's message.
package struct SQLiteError: Error, CustomStringConvertible, Sendable {
    /// The extended result code (extended result codes are always on).
    package var code: Int32
    package var message: String

    package init(code: Int32, message: String) {
        self.code = code
        self.message = message
    }

    /// The primary result code, e.g. `SQLITE_CONSTRAINT` for `SQLITE_CONSTRAINT_UNIQUE`.
    package var primaryCode: Int32 { self.code & 0xFF }

    package var description: String { "SQLite error \(self.code): \(self.message)" }

    // The extended codes are function-like macros in sqlite3.h, which Swift does not import.
    package static let constraintCheck = SQLITE_CONSTRAINT | (1 << 8)
    package static let constraintForeignKey = SQLITE_CONSTRAINT | (3 << 8)
    package static let constraintNotNull = SQLITE_CONSTRAINT | (5 << 8)
    package static let constraintPrimaryKey = SQLITE_CONSTRAINT | (6 << 8)
    package static let constraintTrigger = SQLITE_CONSTRAINT | (7 << 8)
    package static let constraintUnique = SQLITE_CONSTRAINT | (8 << 8)
}

/// One SQLite connection with a cache of prepared statements.
///
/// Not thread-safe by itself (it is opened with `SQLITE_OPEN_NOMUTEX`): `SQLiteConnectionPool`
/// hands each connection to one caller at a time, which is what makes the `@unchecked Sendable`
/// sound.
package final class SQLiteConnection: @unchecked Sendable {
    package let path: String
    private let handle: OpaquePointer
    private var statements: [String: OpaquePointer] = [:]

    /// Opens (creating if needed) the database file at `path`.
    package init(path: String, busyTimeoutMilliseconds: Int32) throws(SQLiteError) {
        self.path = path
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot allocate a connection"
            sqlite3_close_v2(db)
            throw SQLiteError(code: rc, message: "cannot open \(path): \(message)")
        }
        self.handle = db
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, busyTimeoutMilliseconds)
    }

    deinit {
        for statement in self.statements.values {
            sqlite3_finalize(statement)
        }
        sqlite3_close_v2(self.handle)
    }

    /// Rows changed by the last INSERT, UPDATE or DELETE (not counting triggers and cascades).
    package var changes: Int { Int(sqlite3_changes(self.handle)) }

    /// True outside an explicit transaction.
    package var isAutocommit: Bool { sqlite3_get_autocommit(self.handle) != 0 }

    /// Runs one or more statements that take no parameters (schema, pragmas).
    package func execute(_ sql: String) throws(SQLiteError) {
        var errorMessage: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(self.handle, sql, nil, nil, &errorMessage)
        if rc != SQLITE_OK {
            let message = errorMessage.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(self.handle))
            sqlite3_free(errorMessage)
            throw SQLiteError(code: sqlite3_extended_errcode(self.handle), message: message)
        }
    }

    /// Runs `body` with the prepared statement for `sql`, reset and unbound afterwards.
    ///
    /// Statements with a fixed text are prepared once per connection; pass `cached: false` for
    /// text built per request (filters), so the cache does not grow without bound.
    package func withStatement<T>(
        _ sql: String,
        cached: Bool = true,
        _ body: (SQLiteStatement) throws -> T
    ) throws -> T {
        let statement: OpaquePointer
        if cached, let existing = self.statements[sql] {
            statement = existing
        } else {
            var prepared: OpaquePointer?
            let rc = sqlite3_prepare_v3(
                self.handle, sql, -1, cached ? UInt32(SQLITE_PREPARE_PERSISTENT) : 0, &prepared, nil)
            guard rc == SQLITE_OK, let prepared else {
                throw SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(self.handle)))
            }
            statement = prepared
            if cached {
                self.statements[sql] = prepared
            }
        }
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
            if !cached {
                sqlite3_finalize(statement)
            }
        }
        return try body(SQLiteStatement(handle: statement, db: self.handle))
    }

    /// Runs a statement that returns no rows; returns the number of rows it changed.
    @discardableResult
    package func run(_ sql: String, _ bindings: [SQLValue] = [], cached: Bool = true) throws -> Int {
        try self.withStatement(sql, cached: cached) { statement in
            try statement.bind(bindings)
            while try statement.step() {}
            return self.changes
        }
    }

    /// Runs a query and maps every row.
    package func query<T>(
        _ sql: String,
        _ bindings: [SQLValue] = [],
        cached: Bool = true,
        _ row: (SQLiteStatement) throws -> T
    ) throws -> [T] {
        try self.withStatement(sql, cached: cached) { statement in
            try statement.bind(bindings)
            var rows: [T] = []
            while try statement.step() {
                rows.append(try row(statement))
            }
            return rows
        }
    }

    /// Runs a query and maps its first row, if any.
    package func queryFirst<T>(
        _ sql: String,
        _ bindings: [SQLValue] = [],
        cached: Bool = true,
        _ row: (SQLiteStatement) throws -> T
    ) throws -> T? {
        try self.withStatement(sql, cached: cached) { statement in
            try statement.bind(bindings)
            return try statement.step() ? try row(statement) : nil
        }
    }

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws.
    ///
    /// Writes use `BEGIN IMMEDIATE`, which takes the write lock up front, so a transaction never
    /// fails half-way with SQLITE_BUSY when it upgrades from reading to writing; reads use a
    /// deferred `BEGIN`, which gives them one consistent snapshot.
    package func transaction<T>(immediate: Bool = true, _ body: () throws -> T) throws -> T {
        try self.run(immediate ? "BEGIN IMMEDIATE" : "BEGIN")
        do {
            let result = try body()
            try self.run("COMMIT")
            return result
        } catch {
            if !self.isAutocommit {
                _ = try? self.run("ROLLBACK")
            }
            throw error
        }
    }
}

/// A prepared statement borrowed from a connection for the duration of `withStatement`.
package struct SQLiteStatement {
    fileprivate let handle: OpaquePointer
    fileprivate let db: OpaquePointer

    private func check(_ rc: Int32) throws(SQLiteError) {
        if rc != SQLITE_OK {
            throw SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(self.db)))
        }
    }

    /// Binds `values` to parameters 1, 2, …
    package func bind(_ values: [SQLValue]) throws(SQLiteError) {
        for (offset, value) in values.enumerated() {
            try self.bind(value, at: Int32(offset + 1))
        }
    }

    package func bind(_ value: SQLValue, at index: Int32) throws(SQLiteError) {
        switch value {
        case .null: try self.check(sqlite3_bind_null(self.handle, index))
        case .integer(let v): try self.bind(v, at: index)
        case .real(let v): try self.bind(v, at: index)
        case .text(let v): try self.bind(v, at: index)
        case .blob(let v):
            let rc = v.withUnsafeBytes { buffer in
                trove_sqlite3_bind_blob(self.handle, index, buffer.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(buffer.count))
            }
            try self.check(rc)
        }
    }

    package func bind(_ value: Int64, at index: Int32) throws(SQLiteError) {
        try self.check(sqlite3_bind_int64(self.handle, index, value))
    }

    package func bind(_ value: Int, at index: Int32) throws(SQLiteError) {
        try self.check(sqlite3_bind_int64(self.handle, index, Int64(value)))
    }

    package func bind(_ value: Double, at index: Int32) throws(SQLiteError) {
        try self.check(sqlite3_bind_double(self.handle, index, value))
    }

    package func bind(_ value: String, at index: Int32) throws(SQLiteError) {
        var value = value
        let rc = value.withUTF8 { buffer -> Int32 in
            // A null pointer would bind NULL, not the empty string.
            guard let base = buffer.baseAddress, buffer.count > 0 else {
                return trove_sqlite3_bind_text(self.handle, index, "", 0)
            }
            return base.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                trove_sqlite3_bind_text(self.handle, index, $0, Int32(buffer.count))
            }
        }
        try self.check(rc)
    }

    package func bind(_ value: String?, at index: Int32) throws(SQLiteError) {
        if let value {
            try self.bind(value, at: index)
        } else {
            try self.check(sqlite3_bind_null(self.handle, index))
        }
    }

    /// Advances to the next row: true when there is one, false when the statement is done.
    package func step() throws(SQLiteError) -> Bool {
        let rc = sqlite3_step(self.handle)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(self.db)))
        }
    }

    /// Resets the statement (keeping its bindings) so it can run again, as in a batch insert.
    package func reset() {
        sqlite3_reset(self.handle)
    }

    package func isNull(_ column: Int32) -> Bool {
        sqlite3_column_type(self.handle, column) == SQLITE_NULL
    }

    package func int64(_ column: Int32) -> Int64 {
        sqlite3_column_int64(self.handle, column)
    }

    package func int(_ column: Int32) -> Int {
        Int(sqlite3_column_int64(self.handle, column))
    }

    package func double(_ column: Int32) -> Double {
        sqlite3_column_double(self.handle, column)
    }

    package func text(_ column: Int32) -> String {
        guard let pointer = sqlite3_column_text(self.handle, column) else { return "" }
        let count = Int(sqlite3_column_bytes(self.handle, column))
        return String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
    }

    package func optionalText(_ column: Int32) -> String? {
        self.isNull(column) ? nil : self.text(column)
    }

    package func optionalInt64(_ column: Int32) -> Int64? {
        self.isNull(column) ? nil : self.int64(column)
    }
}
