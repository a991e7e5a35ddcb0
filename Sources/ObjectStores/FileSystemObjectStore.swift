import Crypto
import CurlHTTP
import Foundation
import NIOPosix
import SigV4

import Glibc

/// Keeps objects as files under one root directory: Trove's embedded default.
///
/// Layout under `root`:
/// - `buckets/NAME/.bucket` marks a bucket and records when it was made;
/// - `buckets/NAME/d<segment>/…/o<segment>` is an object, one directory per key segment. The
///   `d`/`o` prefixes keep the key `a` and the keys under `a/` apart, and no segment can be `.`
///   or `..` on disk. Bytes that are awkward in file names are percent-encoded.
/// - `tmp/` holds objects being written. Each is renamed into place only once all of its bytes,
///   its SHA-256 and its metadata are on disk (fsync), so a reader sees a whole object or none,
///   and a crash leaves only a temporary file, removed at the next start.
///
/// An object file is its bytes followed by a JSON metadata block and a fixed-size trailer that
/// gives the lengths of both and a magic number (see `ObjectFileFormat`), so the bytes and what
/// is said about them change together in one rename.
public struct FileSystemObjectStore: ObjectStore {
    /// Where and how the store keeps its files.
    public struct Configuration: Sendable {
        /// The directory holding everything; created when missing.
        public var root: String
        /// Bytes per chunk handed to readers.
        public var readChunkSize: Int
        /// Whether writes are flushed to stable storage before they are acknowledged. Only tests
        /// that do not care about crashes turn it off.
        public var fsync: Bool

        public init(root: String, readChunkSize: Int = 256 * 1024, fsync: Bool = true) {
            self.root = root
            self.readChunkSize = readChunkSize
            self.fsync = fsync
        }
    }

    public let configuration: Configuration
    let threadPool: NIOThreadPool
    /// Enough idle chunk buffers for a few reads at once (4 MiB at the default chunk size).
    let readBuffers: BufferPool
    let bucketsDirectory: String
    let temporaryDirectory: String

    /// Opens (creating when needed) the store at `configuration.root` and removes temporary files
    /// left by a crash. One process owns a root at a time.
    public init(configuration: Configuration, threadPool: NIOThreadPool = .singleton) throws {
        self.configuration = configuration
        self.threadPool = threadPool
        self.readBuffers = BufferPool(bufferSize: configuration.readChunkSize, keptBuffers: 16)
        let root = configuration.root.hasSuffix("/") ? String(configuration.root.dropLast()) : configuration.root
        self.bucketsDirectory = root + "/buckets"
        self.temporaryDirectory = root + "/tmp"
        try POSIXFile.makeDirectories(self.bucketsDirectory)
        try POSIXFile.makeDirectories(self.temporaryDirectory)
        for name in try POSIXFile.directoryEntries(self.temporaryDirectory) {
            try POSIXFile.removeTree(self.temporaryDirectory + "/" + name)
        }
    }

    // MARK: Buckets

    public func createBucket(_ name: String) async throws -> BucketInfo {
        let bucketDirectory = try self.validBucketDirectory(name)
        let info = BucketInfo(name: name, createdAt: Date())
        let staging = self.temporaryDirectory + "/bucket-" + UUID().uuidString
        let fsync = self.configuration.fsync
        let marker = try JSONEncoder().encode(BucketMarker(createdAt: info.createdAt.timeIntervalSince1970))
        try await self.blocking {
            if POSIXFile.exists(bucketDirectory) {
                throw ObjectStoreError(.alreadyExists, "bucket '\(name)' already exists")
            }
            try POSIXFile.makeDirectories(staging)
            do {
                try POSIXFile.writeWholeFile(staging + "/.bucket", contents: marker, fsync: fsync)
                // rename(2) refuses to replace a non-empty directory, so two concurrent creators
                // cannot both succeed.
                try POSIXFile.rename(staging, to: bucketDirectory, what: "bucket '\(name)'")
            } catch let error as ObjectStoreError where error.code == .alreadyExists || error.code == .failedPrecondition {
                try? POSIXFile.removeTree(staging)
                throw ObjectStoreError(.alreadyExists, "bucket '\(name)' already exists")
            } catch {
                try? POSIXFile.removeTree(staging)
                throw error
            }
            if fsync {
                try POSIXFile.syncDirectory(self.bucketsDirectory)
            }
        }
        return info
    }

    public func bucketExists(_ name: String) async throws -> Bool {
        let marker = try self.validBucketDirectory(name) + "/.bucket"
        return try await self.blocking { POSIXFile.exists(marker) }
    }

    public func listBuckets() async throws -> [BucketInfo] {
        let directory = self.bucketsDirectory
        return try await self.blocking {
            var buckets: [BucketInfo] = []
            for name in try POSIXFile.directoryEntries(directory) {
                guard let data = try? POSIXFile.readWholeFile(directory + "/" + name + "/.bucket"),
                    let marker = try? JSONDecoder().decode(BucketMarker.self, from: data)
                else { continue }
                buckets.append(BucketInfo(name: name, createdAt: Date(timeIntervalSince1970: marker.createdAt)))
            }
            return buckets.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        }
    }

    public func deleteBucket(_ name: String) async throws {
        let directory = try await self.existingBucketDirectory(name)
        let graveyard = self.temporaryDirectory + "/deleted-" + UUID().uuidString
        try await self.blocking {
            if try ObjectTreeWalker(bucketDirectory: directory).containsAnyObject() {
                throw ObjectStoreError(.failedPrecondition, "bucket '\(name)' is not empty; delete its objects first")
            }
            // Move it out of sight in one step, then clear it away.
            try POSIXFile.rename(directory, to: graveyard, what: "bucket '\(name)'")
            try POSIXFile.removeTree(graveyard)
        }
    }

    // MARK: Objects

    public func putObject(
        _ object: ObjectDescription,
        body: some AsyncSequence<Data, any Error> & Sendable
    ) async throws -> ObjectInfo {
        try ObjectNames.validateKey(object.location.key)
        let bucketDirectory = try self.validBucketDirectory(object.location.bucket)
        let finalPath = try Self.objectPath(bucketDirectory: bucketDirectory, key: object.location.key)
        let temporaryPath = self.temporaryDirectory + "/" + UUID().uuidString + ".part"
        let fsync = self.configuration.fsync

        let file = try await self.blocking {
            try Self.requireBucket(bucketDirectory, name: object.location.bucket)
            return try POSIXFile(creating: temporaryPath)
        }
        do {
            var hasher = SHA256()
            var size: UInt64 = 0
            for try await chunk in body where !chunk.isEmpty {
                hasher.update(data: chunk)
                size += UInt64(chunk.count)
                try await self.blocking { try file.writeAll(chunk) }
            }
            let sha256 = hasher.finalize().hex
            if let expected = object.expectedSHA256, expected.lowercased() != sha256 {
                throw ObjectStoreError(
                    .dataLoss,
                    "the bytes received hash to \(sha256), not the expected_sha256 \(expected); nothing was stored"
                )
            }
            let info = ObjectInfo(
                bucket: object.location.bucket,
                key: object.location.key,
                size: size,
                sha256: sha256,
                contentType: object.contentType.isEmpty ? "application/octet-stream" : object.contentType,
                userMetadata: object.userMetadata,
                lastModified: Date()
            )
            let trailer = try ObjectFileFormat.trailer(for: info)
            try await self.blocking {
                try file.writeAll(trailer)
                if fsync {
                    try file.sync()
                }
                try file.close()
                try Self.moveIntoPlace(temporaryPath, to: finalPath, bucketDirectory: bucketDirectory, fsync: fsync)
            }
            return info
        } catch {
            try? file.close()
            _ = try? await self.blocking { try POSIXFile.removeFile(temporaryPath) }
            throw error
        }
    }

    public func withObject<Result: Sendable>(
        bucket: String,
        key: String,
        range: ByteRange?,
        _ body: (ObjectInfo, ObjectChunks) async throws -> Result
    ) async throws -> Result {
        try ObjectNames.validateKey(key)
        let bucketDirectory = try self.validBucketDirectory(bucket)
        let path = try Self.objectPath(bucketDirectory: bucketDirectory, key: key)
        let (file, info) = try await self.blocking {
            let file = try Self.openObject(path, bucketDirectory: bucketDirectory, bucket: bucket, key: key)
            do {
                return (file, try ObjectFileFormat.readInfo(file, bucket: bucket, key: key))
            } catch {
                try? file.close()
                throw error
            }
        }
        defer { try? file.close() }

        let start = range?.offset ?? 0
        guard start <= info.size else {
            throw ObjectStoreError(.outOfRange, "range offset \(start) is past the end of the object (\(info.size) bytes)")
        }
        let end = range?.length.map { min(info.size, start + $0) } ?? info.size
        let reader = ObjectFileReader(
            file: file,
            start: start,
            end: end,
            buffers: self.readBuffers,
            // A whole-object read is checked against the stored SHA-256 as it streams.
            expectedSHA256: (start == 0 && end == info.size) ? info.sha256 : nil,
            threadPool: self.threadPool
        )
        return try await body(info, ObjectChunks { try await reader.next() })
    }

    public func headObject(bucket: String, key: String) async throws -> ObjectInfo {
        try ObjectNames.validateKey(key)
        let bucketDirectory = try self.validBucketDirectory(bucket)
        let path = try Self.objectPath(bucketDirectory: bucketDirectory, key: key)
        return try await self.blocking {
            let file = try Self.openObject(path, bucketDirectory: bucketDirectory, bucket: bucket, key: key)
            defer { try? file.close() }
            return try ObjectFileFormat.readInfo(file, bucket: bucket, key: key)
        }
    }

    public func deleteObject(bucket: String, key: String) async throws -> Bool {
        try ObjectNames.validateKey(key)
        let bucketDirectory = try self.validBucketDirectory(bucket)
        let path = try Self.objectPath(bucketDirectory: bucketDirectory, key: key)
        let fsync = self.configuration.fsync
        return try await self.blocking {
            guard try POSIXFile.removeFileIfPresent(path) else {
                try Self.requireBucket(bucketDirectory, name: bucket)
                return false
            }
            let parent = POSIXFile.parent(of: path)
            if fsync {
                try POSIXFile.syncDirectory(parent)
            }
            POSIXFile.removeEmptyDirectories(from: parent, upTo: bucketDirectory)
            return true
        }
    }

    public func listObjects(_ query: ObjectListQuery) async throws -> ObjectListing {
        let bucketDirectory = try await self.existingBucketDirectory(query.bucket)
        guard (1...ObjectListQuery.maxPageSize).contains(query.maxKeys) else {
            throw ObjectStoreError(.invalidArgument, "page_size must be 1 to \(ObjectListQuery.maxPageSize), got \(query.maxKeys)")
        }
        let resume = try query.continuationToken.map(ListingPosition.init(token:))
        return try await self.blocking {
            let page = try ObjectTreeWalker(bucketDirectory: bucketDirectory).page(
                prefix: query.prefix,
                delimiter: query.delimiter,
                maxKeys: query.maxKeys,
                after: resume
            )
            var objects: [ObjectInfo] = []
            objects.reserveCapacity(page.keys.count)
            for key in page.keys {
                let path = try Self.objectPath(bucketDirectory: bucketDirectory, key: key)
                // An object deleted since the walk saw it is simply left out.
                guard let file = try? POSIXFile(openingForReading: path, notFound: key) else { continue }
                defer { try? file.close() }
                objects.append(try ObjectFileFormat.readInfo(file, bucket: query.bucket, key: key))
            }
            return ObjectListing(
                objects: objects,
                commonPrefixes: page.commonPrefixes,
                nextContinuationToken: page.next?.token
            )
        }
    }

    public func copyObject(from source: ObjectLocation, to destination: ObjectLocation) async throws -> ObjectInfo {
        try ObjectNames.validateKey(source.key, field: "source_key")
        try ObjectNames.validateKey(destination.key, field: "destination_key")
        return try await self.withObject(bucket: source.bucket, key: source.key, range: nil) { info, chunks in
            try await self.putObject(
                ObjectDescription(
                    bucket: destination.bucket,
                    key: destination.key,
                    contentType: info.contentType,
                    userMetadata: info.userMetadata,
                    expectedSHA256: info.sha256
                ),
                body: chunks
            )
        }
    }

    public func presignedURL(for location: ObjectLocation, method: PresignMethod, expiresIn seconds: Int) async throws -> PresignedURL {
        throw ObjectStoreError(
            .failedPrecondition,
            "the filesystem backend serves no HTTP, so it cannot presign URLs; use the S3 backend (object_storage.backend: s3)"
        )
    }

    // MARK: Lifecycle

    public func putLifecycleRules(_ rules: [LifecycleRule], bucket: String) async throws {
        try LifecycleRule.validate(rules)
        let directory = try await self.existingBucketDirectory(bucket)
        let path = directory + "/.lifecycle"
        let staging = self.temporaryDirectory + "/lifecycle-" + UUID().uuidString
        let contents = try JSONEncoder().encode(rules)
        let fsync = self.configuration.fsync
        try await self.blocking {
            guard !rules.isEmpty else {
                try POSIXFile.removeFile(path)
                return
            }
            try POSIXFile.writeWholeFile(staging, contents: contents, fsync: fsync)
            try POSIXFile.rename(staging, to: path, what: "lifecycle rules of bucket '\(bucket)'")
            if fsync {
                try POSIXFile.syncDirectory(directory)
            }
        }
    }

    public func lifecycleRules(bucket: String) async throws -> [LifecycleRule] {
        let path = try await self.existingBucketDirectory(bucket) + "/.lifecycle"
        return try await self.blocking {
            guard POSIXFile.exists(path) else { return [] }
            guard let rules = try? JSONDecoder().decode([LifecycleRule].self, from: POSIXFile.readWholeFile(path)) else {
                throw ObjectStoreError(.dataLoss, "the lifecycle rules of bucket '\(bucket)' are damaged")
            }
            return rules
        }
    }

    /// Deletes every object that a rule of its bucket says has expired at `now`, as S3 does
    /// for its buckets; returns how many. Run periodically by the object-storage service.
    public func sweepExpiredObjects(now: Date = Date()) async throws -> Int {
        var deleted = 0
        for bucket in try await self.listBuckets() {
            let rules = try await self.lifecycleRules(bucket: bucket.name)
            for rule in rules {
                var token: String?
                repeat {
                    let page = try await self.listObjects(ObjectListQuery(bucket: bucket.name, prefix: rule.prefix, continuationToken: token))
                    for object in page.objects where rule.hasExpired(key: object.key, modified: object.lastModified, now: now) {
                        if try await self.deleteObject(bucket: bucket.name, key: object.key) {
                            deleted += 1
                        }
                    }
                    token = page.nextContinuationToken
                } while token != nil
            }
        }
        return deleted
    }

    // MARK: Paths

    func bucketDirectory(_ name: String) -> String {
        self.bucketsDirectory + "/" + name
    }

    /// The directory of bucket `name`, which must be a valid name; whether the bucket exists is
    /// for `requireBucket` to say, on the thread pool.
    private func validBucketDirectory(_ name: String) throws -> String {
        try ObjectNames.validateBucket(name)
        return self.bucketDirectory(name)
    }

    private func existingBucketDirectory(_ name: String) async throws -> String {
        let directory = try self.validBucketDirectory(name)
        try await self.blocking { try Self.requireBucket(directory, name: name) }
        return directory
    }

    /// Throws NOT_FOUND unless the bucket in `directory` exists. Called on the thread pool, in
    /// the same trip there as the work it guards: each trip is two thread switches, which on
    /// a virtual machine cost more than the system calls themselves.
    private static func requireBucket(_ directory: String, name: String) throws {
        guard POSIXFile.exists(directory + "/.bucket") else {
            throw ObjectStoreError(.notFound, "bucket '\(name)' does not exist")
        }
    }

    /// Opens the object at `path` for reading; NOT_FOUND names the bucket when that is what is
    /// missing. Called on the thread pool.
    private static func openObject(_ path: String, bucketDirectory: String, bucket: String, key: String) throws -> POSIXFile {
        do {
            return try POSIXFile(openingForReading: path, notFound: "object '\(key)' in bucket '\(bucket)'")
        } catch let error as ObjectStoreError where error.code == .notFound {
            try Self.requireBucket(bucketDirectory, name: bucket)
            throw error
        }
    }

    /// The file that holds `key`; the key must be valid.
    static func objectPath(bucketDirectory: String, key: String) throws(ObjectStoreError) -> String {
        let segments = ObjectNames.segments(of: key)
        var path = bucketDirectory
        for (index, segment) in segments.enumerated() {
            let isLast = index == segments.count - 1
            let name = FileNameCoding.encode(segment, isObject: isLast)
            guard name.utf8.count <= 255 else {
                throw ObjectStoreError(
                    .invalidArgument,
                    "key has a path segment longer than the filesystem backend allows (254 bytes): \(ObjectNames.quoted(key))"
                )
            }
            path += "/" + name
        }
        return path
    }

    private static func moveIntoPlace(_ temporaryPath: String, to finalPath: String, bucketDirectory: String, fsync: Bool) throws {
        let parent = POSIXFile.parent(of: finalPath)
        // A concurrent delete may remove a parent directory that has just become empty; make it
        // again and retry.
        var attempts = 0
        while true {
            attempts += 1
            try POSIXFile.makeDirectories(parent)
            do {
                try POSIXFile.rename(temporaryPath, to: finalPath, what: "object")
                break
            } catch let error as ObjectStoreError where error.code == .notFound && attempts < 5 {
                continue
            }
        }
        if fsync {
            try POSIXFile.syncDirectory(parent)
        }
    }

    func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await self.threadPool.runIfActive(body)
    }
}

struct BucketMarker: Codable {
    var createdAt: Double
}

/// Reads a range of an open object file in chunks on the thread pool, checking the SHA-256 of a
/// whole-object read at its end.
private final class ObjectFileReader: @unchecked Sendable {
    // Only ever used by one task at a time: the consumer of one `ObjectChunks`.
    private let file: POSIXFile
    private var position: UInt64
    private let end: UInt64
    private let buffers: BufferPool
    private let expectedSHA256: String?
    private var hasher = SHA256()
    private let threadPool: NIOThreadPool

    init(file: POSIXFile, start: UInt64, end: UInt64, buffers: BufferPool, expectedSHA256: String?, threadPool: NIOThreadPool) {
        self.file = file
        self.position = start
        self.end = end
        self.buffers = buffers
        self.expectedSHA256 = expectedSHA256
        self.threadPool = threadPool
    }

    func next() async throws -> Data? {
        guard self.position < self.end else {
            return nil
        }
        let count = Int(min(UInt64(self.buffers.bufferSize), self.end - self.position))
        let offset = self.position
        let file = self.file
        let buffers = self.buffers
        let chunk = try await self.threadPool.runIfActive {
            try buffers.chunk { buffer in try file.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer.prefix(count)), at: offset) }
        }
        guard chunk.count == count else {
            throw ObjectStoreError(.dataLoss, "object file is shorter than its trailer says")
        }
        self.position += UInt64(count)
        if let expected = self.expectedSHA256 {
            self.hasher.update(data: chunk)
            if self.position == self.end {
                let actual = self.hasher.finalize().hex
                guard actual == expected else {
                    throw ObjectStoreError(
                        .dataLoss,
                        "stored bytes hash to \(actual) but the object was written with SHA-256 \(expected)"
                    )
                }
            }
        }
        return chunk
    }
}
