import Foundation
import JSONFilter

/// When the write-ahead log reaches the disk.
public enum Durability: Sendable, Hashable {
    /// fsync before a write is acknowledged: an acknowledged write survives a crash or power loss.
    case everyWrite
    /// fsync at most this many milliseconds after a write: a crash of the process loses nothing,
    /// a power loss at most that window.
    case interval(milliseconds: Int)
}

/// One change to a collection, as the log stores it. An upsert keeps its payload both parsed
/// (for the index) and as the JSON text the log holds, so neither is made twice.
enum LogRecord: Equatable {
    case upsert(id: String, values: [Float], payload: JSONObject?, payloadJSON: String?)
    case delete(id: String)
}

/// An append-only log of a collection's changes since its last snapshot.
///
/// Each record is `[length u32][crc32c u32][sequence u64][kind u8][fields…]`, little-endian.
/// Replay stops at the first record that is cut short or fails its checksum — the tail a crash
/// left half-written — and the file is truncated there, so later appends follow good records.
final class WriteAheadLog {
    private let file: PosixFile
    private(set) var bytes: Int
    private(set) var needsSync = false

    static let upsertKind: UInt8 = 1
    static let deleteKind: UInt8 = 2

    /// Opens (or creates) the log and returns the records after `sequence`, in order.
    init(path: String, replayAfter sequence: UInt64, replay: (UInt64, LogRecord) throws(VectorIndexError) -> Void) throws(VectorIndexError) {
        self.file = try PosixFile.open(path, flags: O_RDWR | O_CREAT | O_APPEND)
        let mapped = try MappedFile(path: path)
        var reader = ByteReader(mapped.bytes)
        var goodLength = 0
        while let length = reader.read(UInt32.self), let checksum = reader.read(UInt32.self),
            let body = reader.readBytes(Int(length)), CRC32C.checksum(body) == checksum
        {
            var fields = ByteReader(body)
            guard let recordSequence = fields.read(UInt64.self), let record = Self.decode(&fields) else { break }
            goodLength = reader.offset
            if recordSequence > sequence { try replay(recordSequence, record) }
        }
        if goodLength < mapped.bytes.count {
            try self.file.truncate(to: goodLength)
            try self.file.sync()
        }
        self.bytes = goodLength
    }

    deinit {
        self.file.close()
    }

    private static func decode(_ fields: inout ByteReader) -> LogRecord? {
        switch fields.read(UInt8.self) {
        case Self.upsertKind:
            guard let id = fields.readString(), let count = fields.read(UInt32.self),
                let raw = fields.readBytes(Int(count) * 4), let payloadLength = fields.read(UInt32.self)
            else { return nil }
            let values = [Float](unsafeUninitializedCapacity: Int(count)) { buffer, initialized in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: raw)
                initialized = Int(count)
            }
            var payload: JSONObject?
            var payloadJSON: String?
            if payloadLength != UInt32.max {
                guard let bytes = fields.readBytes(Int(payloadLength)) else { return nil }
                let text = String(decoding: bytes, as: UTF8.self)
                guard case .object(let object)? = try? JSONValue(jsonText: text) else { return nil }
                payload = object
                payloadJSON = text
            }
            return .upsert(id: id, values: values, payload: payload, payloadJSON: payloadJSON)
        case Self.deleteKind:
            guard let id = fields.readString() else { return nil }
            return .delete(id: id)
        default:
            return nil
        }
    }

    /// Encodes one record.
    static func encode(_ record: LogRecord, sequence: UInt64, into output: inout ByteWriter) {
        var body = ByteWriter()
        body.append(sequence)
        switch record {
        case .upsert(let id, let values, _, let payloadText):
            body.append(Self.upsertKind)
            body.append(id)
            body.append(UInt32(values.count))
            values.withUnsafeBufferPointer { body.append(floats: $0) }
            if let payloadText {
                body.append(UInt32(payloadText.utf8.count))
                body.bytes.append(contentsOf: payloadText.utf8)
            } else {
                body.append(UInt32.max)
            }
        case .delete(let id):
            body.append(Self.deleteKind)
            body.append(id)
        }
        output.append(UInt32(body.bytes.count))
        output.append(body.bytes.withUnsafeBytes { CRC32C.checksum($0) })
        output.bytes += body.bytes
    }

    /// Appends encoded records in one write; with `sync`, fsyncs before returning.
    func append(_ encoded: ByteWriter, sync: Bool) throws(VectorIndexError) {
        do {
            try encoded.bytes.withBytes { (buffer) throws(VectorIndexError) in try self.file.write(buffer) }
        } catch {
            // A short write may have left part of a record; cut it off so the log stays whole.
            try? self.file.truncate(to: self.bytes)
            throw error
        }
        self.bytes += encoded.bytes.count
        if sync {
            try self.file.sync()
            self.needsSync = false
        } else {
            self.needsSync = true
        }
    }

    func sync() throws(VectorIndexError) {
        guard self.needsSync else { return }
        try self.file.sync()
        self.needsSync = false
    }

    /// Empties the log once a snapshot holds everything in it.
    func reset() throws(VectorIndexError) {
        try self.file.truncate(to: 0)
        try self.file.sync()
        self.bytes = 0
        self.needsSync = false
    }
}
