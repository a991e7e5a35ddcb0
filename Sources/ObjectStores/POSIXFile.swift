import Foundation

import Glibc

/// A thin, blocking wrapper over a file descriptor and the few system calls the filesystem
/// backend needs, turning `errno` into `ObjectStoreError`s with the right code. Called only on
/// the thread pool.
final class POSIXFile: @unchecked Sendable {
    // The descriptor is used by one task at a time; `close` is idempotent.
    private var descriptor: CInt

    /// Creates a new file that must not exist yet.
    init(creating path: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw Self.error(errno, "cannot create \(path)")
        }
        self.descriptor = descriptor
    }

    init(openingForReading path: String, notFound: @autoclosure () -> String) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            let code = errno
            if code == ENOENT || code == ENOTDIR {
                throw ObjectStoreError(.notFound, "\(notFound()) does not exist")
            }
            throw Self.error(code, "cannot open \(path)")
        }
        self.descriptor = descriptor
    }

    deinit {
        if self.descriptor >= 0 {
            Glibc.close(self.descriptor)
        }
    }

    func writeAll(_ data: Data) throws {
        try data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(self.descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw Self.error(errno, "cannot write object data")
                }
                offset += written
            }
        }
    }

    func read(count: Int, at offset: UInt64) throws -> Data {
        var data = Data(count: count)
        let total = try data.withUnsafeMutableBytes { try self.read(into: $0, at: offset) }
        if total < count {
            data.removeSubrange(total..<count)
        }
        return data
    }

    /// Fills `buffer` from `offset`; returns the bytes read, fewer only at the end of the file.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        var total = 0
        while total < buffer.count {
            let got = pread(self.descriptor, buffer.baseAddress! + total, buffer.count - total, off_t(offset) + off_t(total))
            if got < 0 {
                if errno == EINTR { continue }
                throw Self.error(errno, "cannot read object data")
            }
            if got == 0 { break }
            total += got
        }
        return total
    }

    func size() throws -> UInt64 {
        var info = stat()
        guard fstat(self.descriptor, &info) == 0 else {
            throw Self.error(errno, "cannot stat object file")
        }
        return UInt64(info.st_size)
    }

    func sync() throws {
        guard fsync(self.descriptor) == 0 else {
            throw Self.error(errno, "cannot flush object data to disk")
        }
    }

    func close() throws {
        guard self.descriptor >= 0 else { return }
        let descriptor = self.descriptor
        self.descriptor = -1
        guard Glibc.close(descriptor) == 0 else {
            throw Self.error(errno, "cannot close object file")
        }
    }

    // MARK: Paths

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return String(path[..<slash])
    }

    static func makeDirectories(_ path: String) throws {
        if mkdir(path, 0o755) == 0 || errno == EEXIST {
            return
        }
        guard errno == ENOENT else {
            throw Self.error(errno, "cannot create directory \(path)")
        }
        try makeDirectories(parent(of: path))
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
            throw Self.error(errno, "cannot create directory \(path)")
        }
    }

    static func directoryEntries(_ path: String) throws -> [String] {
        guard let directory = opendir(path) else {
            throw Self.error(errno, "cannot read directory \(path)")
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." {
                names.append(name)
            }
        }
        return names
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    static func rename(_ source: String, to destination: String, what: String) throws {
        guard Glibc.rename(source, destination) == 0 else {
            let code = errno
            switch code {
            case ENOENT:
                throw ObjectStoreError(.notFound, "cannot move \(what) into place: a directory is missing")
            case EEXIST, ENOTEMPTY:
                throw ObjectStoreError(.alreadyExists, "\(what) already exists")
            case EISDIR, ENOTDIR:
                throw ObjectStoreError(.failedPrecondition, "\(what) collides with a directory")
            default:
                throw Self.error(code, "cannot move \(what) into place")
            }
        }
    }

    static func syncDirectory(_ path: String) throws {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw Self.error(errno, "cannot open directory \(path)")
        }
        defer { Glibc.close(descriptor) }
        guard fsync(descriptor) == 0 else {
            throw Self.error(errno, "cannot flush directory \(path)")
        }
    }

    static func removeFile(_ path: String) throws {
        guard unlink(path) == 0 || errno == ENOENT else {
            throw Self.error(errno, "cannot remove \(path)")
        }
    }

    /// Returns false when there was no file.
    static func removeFileIfPresent(_ path: String) throws -> Bool {
        if unlink(path) == 0 {
            return true
        }
        if errno == ENOENT || errno == ENOTDIR {
            return false
        }
        throw Self.error(errno, "cannot remove \(path)")
    }

    static func removeTree(_ path: String) throws {
        if isDirectory(path) {
            for name in try directoryEntries(path) {
                try removeTree(path + "/" + name)
            }
            guard rmdir(path) == 0 || errno == ENOENT else {
                throw Self.error(errno, "cannot remove directory \(path)")
            }
        } else {
            try removeFile(path)
        }
    }

    /// Removes `directory` and its ancestors while they are empty, stopping at `limit`.
    static func removeEmptyDirectories(from directory: String, upTo limit: String) {
        var current = directory
        while current.count > limit.count, current.hasPrefix(limit + "/") {
            // rmdir fails on a directory that is not empty, which ends the climb.
            guard rmdir(current) == 0 else { return }
            current = parent(of: current)
        }
    }

    static func writeWholeFile(_ path: String, contents: Data, fsync: Bool) throws {
        let file = try POSIXFile(creating: path)
        try file.writeAll(contents)
        if fsync {
            try file.sync()
        }
        try file.close()
    }

    static func readWholeFile(_ path: String) throws -> Data {
        let file = try POSIXFile(openingForReading: path, notFound: path)
        defer { try? file.close() }
        return try file.read(count: Int(try file.size()), at: 0)
    }

    static func error(_ code: CInt, _ what: String) -> ObjectStoreError {
        let reason = String(cString: strerror(code))
        switch code {
        case ENOSPC, EDQUOT:
            return ObjectStoreError(.storageFull, "\(what): the disk is full (\(reason))")
        case ENOENT:
            return ObjectStoreError(.notFound, "\(what): \(reason)")
        case EACCES, EPERM, EROFS:
            return ObjectStoreError(.unavailable, "\(what): \(reason)")
        default:
            return ObjectStoreError(.internalError, "\(what): \(reason)")
        }
    }
}
