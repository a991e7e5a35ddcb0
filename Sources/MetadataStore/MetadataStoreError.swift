import CSQLite
import Foundation

/// Why the metadata store refused or failed an operation.
public struct MetadataStoreError: Error, CustomStringConvertible, Sendable {
    /// The kind of failure; the service maps each to one gRPC status code.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable {
            case invalidArgument, notFound, alreadyExists, failedPrecondition, aborted
            case storageFull, unavailable, dataLoss, internalError
        }

        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// A value breaks a constraint (range, format, CHECK, NOT NULL); `field` names it.
        public static let invalidArgument = Code(.invalidArgument)
        /// The collection, document, chunk, annotation or key does not exist.
        public static let notFound = Code(.notFound)
        /// A unique value is taken (collection name, chunk sequence, relationship key); `field` names it.
        public static let alreadyExists = Code(.alreadyExists)
        /// The operation does not apply in the current state, such as an illegal status transition.
        public static let failedPrecondition = Code(.failedPrecondition)
        /// The stored version differs from the expected one (optimistic concurrency).
        public static let aborted = Code(.aborted)
        /// The disk is full (SQLITE_FULL).
        public static let storageFull = Code(.storageFull)
        /// The database is locked by another process for longer than the busy timeout, or cannot be opened.
        public static let unavailable = Code(.unavailable)
        /// The database file is damaged.
        public static let dataLoss = Code(.dataLoss)
        /// Anything else: a broken invariant or an unexpected SQLite error.
        public static let internalError = Code(.internalError)

        public var description: String { String(describing: self.wrapped) }
    }

    public var code: Code
    /// The request field the error is about, e.g. `name`, `sha256`, `chunks[3].end_offset`.
    public var field: String?
    /// Says what failed; never holds a secret.
    public var message: String
    public var cause: (any Error)?

    public init(_ code: Code, field: String? = nil, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.field = field
        self.message = message
        self.cause = cause
    }

    public var description: String {
        var text = "\(self.code): \(self.message)"
        if let cause = self.cause {
            text += " (\(cause))"
        }
        return text
    }

    static func invalid(_ field: String, _ message: String) -> MetadataStoreError {
        MetadataStoreError(.invalidArgument, field: field, "\(field): \(message)")
    }

    static func notFound(_ field: String, _ message: String) -> MetadataStoreError {
        MetadataStoreError(.notFound, field: field, message)
    }
}

extension MetadataStoreError {
    /// Maps an SQLite failure to a store error, naming the field a constraint is about.
    ///
    /// The schema names every CHECK constraint after the field it checks, so SQLite's message
    /// ("CHECK constraint failed: weight") carries the field; UNIQUE and NOT NULL messages name
    /// "table.column" and the field is the last column; triggers raise "field: message".
    package init(_ error: SQLiteError, fieldPrefix: String = "") {
        let message = error.message
        func after(_ prefix: String) -> String? {
            guard let range = message.range(of: prefix) else { return nil }
            return String(message[range.upperBound...])
        }
        func lastColumn(_ list: String) -> String {
            let last = list.split(separator: ",").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? list
            return String(last.split(separator: ".").last ?? Substring(last))
        }
        switch error.code {
        case SQLiteError.constraintUnique, SQLiteError.constraintPrimaryKey:
            let columns = after("constraint failed: ") ?? ""
            let column = Self.uniqueField(columns: columns, last: lastColumn(columns))
            let field = fieldPrefix + column
            let table = columns.split(separator: ".").first.map(String.init) ?? ""
            let thing = Self.rowNames[table] ?? "row"
            let exists = column == thing ? "this \(thing) already exists" : "\("aeiou".contains(thing.lowercased().first ?? "r") ? "an" : "a") \(thing) with this \(column) already exists"
            self.init(.alreadyExists, field: field, "\(field): \(exists)", cause: error)
        case SQLiteError.constraintCheck:
            let field = fieldPrefix + (after("constraint failed: ") ?? "value")
            self.init(.invalidArgument, field: field, "\(field): value is out of range or malformed", cause: error)
        case SQLiteError.constraintNotNull:
            let field = fieldPrefix + lastColumn(after("constraint failed: ") ?? "value")
            self.init(.invalidArgument, field: field, "\(field): is required", cause: error)
        case SQLiteError.constraintTrigger:
            let parts = message.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            let field = fieldPrefix + (parts.count == 2 ? parts[0] : "value")
            let text = parts.count == 2 ? parts[1] : message
            self.init(.invalidArgument, field: field, "\(field): \(text)", cause: error)
        case SQLiteError.constraintForeignKey:
            self.init(.notFound, "a referenced row does not exist", cause: error)
        default:
            switch error.primaryCode {
            case SQLITE_FULL:
                self.init(.storageFull, "the metadata database's disk is full", cause: error)
            case SQLITE_BUSY, SQLITE_LOCKED:
                self.init(.unavailable, "the metadata database is locked by another writer", cause: error)
            case SQLITE_CORRUPT, SQLITE_NOTADB:
                self.init(.dataLoss, "the metadata database file is damaged", cause: error)
            case SQLITE_CANTOPEN, SQLITE_IOERR, SQLITE_READONLY, SQLITE_PERM:
                self.init(.unavailable, "the metadata database cannot be read or written", cause: error)
            case SQLITE_CONSTRAINT:
                self.init(.invalidArgument, "a value breaks a constraint: \(message)", cause: error)
            default:
                self.init(.internalError, "metadata database error", cause: error)
            }
        }
    }

    /// What a row of each table is, for messages.
    private static let rowNames = [
        "collections": "collection", "documents": "document", "chunks": "chunk", "chunk_relationships": "relationship",
        "annotations": "annotation", "embedding_records": "embedding record", "api_keys": "API key", "audit_events": "audit event",
    ]

    /// The field to name for a multi-column unique key: the column the caller chose.
    private static func uniqueField(columns: String, last: String) -> String {
        switch columns {
        case "chunk_relationships.source_chunk_id, chunk_relationships.target_chunk_id, chunk_relationships.type":
            return "relationship"
        case "embedding_records.chunk_id, embedding_records.model":
            return "model"
        default:
            return last
        }
    }

    /// Converts any error thrown inside the store to a store error.
    static func wrap(_ error: any Error) -> MetadataStoreError {
        switch error {
        case let error as MetadataStoreError: return error
        case let error as SQLiteError: return MetadataStoreError(error)
        default: return MetadataStoreError(.internalError, "unexpected error", cause: error)
        }
    }
}
