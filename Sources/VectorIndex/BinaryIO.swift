import CVectorKernels
import Foundation

/// Little-endian encoding into a byte buffer, for log records and snapshot sections.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { self.bytes.append(contentsOf: $0) }
    }

    mutating func append(_ text: String) {
        self.append(UInt32(text.utf8.count))
        self.bytes.append(contentsOf: text.utf8)
    }

    mutating func append(floats: UnsafeBufferPointer<Float>) {
        self.bytes.append(contentsOf: UnsafeRawBufferPointer(floats))
    }
}

/// Reads what ByteWriter wrote; every read checks the bounds and returns nil past the end.
struct ByteReader {
    let buffer: UnsafeRawBufferPointer
    var offset: Int = 0

    init(_ buffer: UnsafeRawBufferPointer, offset: Int = 0) {
        self.buffer = buffer
        self.offset = offset
    }

    var remaining: Int { self.buffer.count - self.offset }

    mutating func read<T: FixedWidthInteger>(_: T.Type = T.self) -> T? {
        guard self.remaining >= MemoryLayout<T>.size else { return nil }
        let value = self.buffer.loadUnaligned(fromByteOffset: self.offset, as: T.self)
        self.offset += MemoryLayout<T>.size
        return T(littleEndian: value)
    }

    mutating func readString() -> String? {
        guard let length = self.read(UInt32.self), self.remaining >= Int(length) else { return nil }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: self.buffer[self.offset..<self.offset + Int(length)]), as: UTF8.self)
        self.offset += Int(length)
        return text
    }

    /// `count` bytes at the current offset, without copying.
    mutating func readBytes(_ count: Int) -> UnsafeRawBufferPointer? {
        guard count >= 0, self.remaining >= count else { return nil }
        defer { self.offset += count }
        return UnsafeRawBufferPointer(rebasing: self.buffer[self.offset..<self.offset + count])
    }

    mutating func align(to boundary: Int) {
        self.offset = (self.offset + boundary - 1) / boundary * boundary
    }
}

/// CRC-32C (Castagnoli), the checksum of log records and snapshots.
enum CRC32C {
    static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress else { return crc }
        return trove_crc32c(crc, base, bytes.count)
    }

    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        Self.update(0, bytes)
    }
}

/// A file descriptor with the few POSIX calls the log and snapshots need, each turning errno
/// into a VectorIndexError that names the file.
struct PosixFile {
    let descriptor: Int32
    let path: String

    static func open(_ path: String, flags: Int32, mode: mode_t = 0o644) throws(VectorIndexError) -> PosixFile {
        let descriptor = Foundation.open(path, flags | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw Self.error("open", path) }
        return PosixFile(descriptor: descriptor, path: path)
    }

    static func error(_ operation: String, _ path: String) -> VectorIndexError {
        let code = errno
        let reason = String(cString: strerror(code))
        if code == ENOSPC || code == EDQUOT {
            return VectorIndexError(.resourceExhausted, "the disk is full (\(operation) \(path): \(reason))")
        }
        return VectorIndexError(.ioError, "\(operation) \(path): \(reason)")
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(VectorIndexError) {
        var offset = 0
        while offset < bytes.count {
            let written = Foundation.write(self.descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw Self.error("write", self.path)
            }
            offset += written
        }
    }

    func sync() throws(VectorIndexError) {
        guard fsync(self.descriptor) == 0 else { throw Self.error("fsync", self.path) }
    }

    func truncate(to length: Int) throws(VectorIndexError) {
        guard ftruncate(self.descriptor, off_t(length)) == 0 else { throw Self.error("truncate", self.path) }
    }

    func size() throws(VectorIndexError) -> Int {
        var status = stat()
        guard fstat(self.descriptor, &status) == 0 else { throw Self.error("stat", self.path) }
        return Int(status.st_size)
    }

    func close() {
        _ = Foundation.close(self.descriptor)
    }

    /// fsyncs a directory, so a rename or a new file in it survives a crash.
    static func syncDirectory(_ path: String) throws(VectorIndexError) {
        let directory = try PosixFile.open(path, flags: O_RDONLY | O_DIRECTORY)
        defer { directory.close() }
        try directory.sync()
    }
}

/// A whole file mapped read-only; unmapped on deinit.
final class MappedFile {
    let bytes: UnsafeRawBufferPointer

    init(path: String) throws(VectorIndexError) {
        let file = try PosixFile.open(path, flags: O_RDONLY)
        defer { file.close() }
        let size = try file.size()
        guard size > 0 else {
            self.bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, file.descriptor, 0), address != MAP_FAILED else {
            throw PosixFile.error("mmap", path)
        }
        self.bytes = UnsafeRawBufferPointer(start: address, count: size)
    }

    deinit {
        if let base = self.bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), self.bytes.count) }
    }
}

extension Array where Element == UInt8 {
    /// `withUnsafeBytes` for a body that throws only VectorIndexError (the standard one rethrows
    /// untyped errors).
    func withBytes<Result>(_ body: (UnsafeRawBufferPointer) throws(VectorIndexError) -> Result) throws(VectorIndexError) -> Result {
        let outcome: Swift.Result<Result, VectorIndexError> = self.withUnsafeBytes { buffer in
            Swift.Result { () throws(VectorIndexError) in try body(buffer) }
        }
        return try outcome.get()
    }
}
