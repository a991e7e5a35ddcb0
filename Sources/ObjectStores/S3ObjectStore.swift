import Crypto
import CurlHTTP
import Foundation
import S3
import SigV4

/// Keeps objects in S3 or an S3-compatible server (MinIO, …).
///
/// Bodies up to `multipartThreshold` go up in one PUT; larger ones as a multipart upload of
/// `partSize` parts, up to `concurrency` of them in flight while the body keeps streaming in,
/// aborted on any failure so no parts are left behind. Reads fetch ranges of `readChunkSize`,
/// up to `concurrency` ahead of the reader, into buffers reused from one range to the next.
/// Memory per transfer is thus bounded by about `concurrency` + 1 parts or ranges, whatever the
/// object's size.
///
/// The SHA-256 computed while streaming is stored as the user metadata `trove-sha256` and
/// checked when an object is read whole. A multipart upload records it from the start when the
/// caller gives `expectedSHA256` (checked before the upload completes); otherwise by a
/// server-side copy onto itself once the hash is known, which S3 allows up to 5 GiB: larger
/// objects, and servers that do not replace metadata in a copy, need `expectedSHA256`.
public struct S3ObjectStore: ObjectStore {
    public struct Configuration: Sendable {
        public var client: S3Client.Configuration
        /// Largest body sent in a single PUT.
        public var multipartThreshold: Int
        /// Size of each multipart part (S3's minimum is 5 MiB, except the last). S3 takes at most
        /// 10,000 parts, so an object may be up to 10,000 times this (48.8 GiB at the default).
        /// With 8 MiB parts the service grew by 56–74 MiB while moving a 1 GiB object, with 5 MiB
        /// parts by 47–57, at the same speed.
        public var partSize: Int
        /// Bytes fetched per ranged GET when reading.
        public var readChunkSize: Int
        /// Parts uploaded, or ranges fetched, at once for one object.
        public var concurrency: Int

        public init(
            client: S3Client.Configuration,
            multipartThreshold: Int = 16 << 20,
            partSize: Int = 5 << 20,
            readChunkSize: Int = 4 << 20,
            concurrency: Int = 2
        ) {
            self.client = client
            self.multipartThreshold = multipartThreshold
            self.partSize = partSize
            self.readChunkSize = readChunkSize
            self.concurrency = max(1, concurrency)
        }
    }

    /// The user-metadata key holding the object's SHA-256.
    static let sha256MetadataKey = "trove-sha256"

    /// A part that is up, and its buffer, to be filled again.
    private struct UploadedPart: Sendable {
        var number: Int
        var etag: String
        var buffer: Data
    }

    /// The largest object S3 copies in one CopyObject.
    static let maxCopySize: UInt64 = 5 << 30

    public let configuration: Configuration
    let client: S3Client
    /// Buffers for the ranges of downloads: enough idle ones for a download's ranges in flight
    /// and the one being read.
    let rangeBuffers: BufferPool

    public init(configuration: Configuration) throws {
        self.configuration = configuration
        self.rangeBuffers = BufferPool(bufferSize: configuration.readChunkSize, keptBuffers: configuration.concurrency + 1)
        do {
            self.client = try S3Client(configuration: configuration.client)
        } catch {
            throw ObjectStoreError(.invalidArgument, error.description)
        }
    }

    // MARK: Buckets

    public func createBucket(_ name: String) async throws -> BucketInfo {
        try ObjectNames.validateBucket(name)
        // S3 in us-east-1 (and moto) answers 200 to creating a bucket one already owns.
        if try await self.bucketExists(name) {
            throw ObjectStoreError(.alreadyExists, "bucket '\(name)' already exists")
        }
        try await self.mapping(bucket: name) { try await self.client.createBucket(name) }
        return BucketInfo(name: name, createdAt: Date())
    }

    public func bucketExists(_ name: String) async throws -> Bool {
        try ObjectNames.validateBucket(name)
        return try await self.mapping(bucket: name) { try await self.client.bucketExists(name) }
    }

    public func listBuckets() async throws -> [BucketInfo] {
        try await self.mapping { try await self.client.listBuckets() }
            .map { BucketInfo(name: $0.name, createdAt: $0.createdAt) }
            .sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
    }

    public func deleteBucket(_ name: String) async throws {
        try ObjectNames.validateBucket(name)
        try await self.mapping(bucket: name) { try await self.client.deleteBucket(name) }
    }

    // MARK: Objects

    public func putObject(
        _ object: ObjectDescription,
        body: some AsyncSequence<Data, any Error> & Sendable
    ) async throws -> ObjectInfo {
        try ObjectNames.validateBucket(object.location.bucket)
        try ObjectNames.validateKey(object.location.key)
        let bucket = object.location.bucket
        let key = object.location.key
        let contentType = object.contentType.isEmpty ? "application/octet-stream" : object.contentType
        var hasher = SHA256()
        var size: UInt64 = 0
        var uploadID: String?

        func checkedDigest() throws -> String {
            let digest = hasher.finalize().hex
            if let expected = object.expectedSHA256, expected.lowercased() != digest {
                throw ObjectStoreError(.dataLoss, "the bytes received hash to \(digest), not the expected_sha256 \(expected); nothing was stored")
            }
            return digest
        }

        do {
            // Parts go up while the body keeps arriving, at most `concurrency` at a time; the
            // group waits for every part it started, even on failure, so that the abort below
            // comes after the last of them.
            let (digest, remainder, parts) = try await withThrowingTaskGroup(of: UploadedPart.self) { group in
                let partSize = self.configuration.partSize
                // Until the body outgrows one PUT it is kept as the messages it arrived in, and a
                // single PUT sends them as they are. Past that, bytes are copied into part
                // buffers: at most `concurrency` + 1 of them, each refilled once its part is up
                // and all freed when the upload ends. (A fresh buffer per part cost a page fault
                // per 4 KiB; sending the messages themselves as parts saved CPU but kept more
                // memory resident.)
                var received: [Data] = []
                var part = Data()
                var partFill = 0
                var spareBuffers: [Data] = []
                var parts: [(number: Int, etag: String)] = []
                var started = 0

                func finished(_ uploaded: UploadedPart) {
                    parts.append((uploaded.number, uploaded.etag))
                    spareBuffers.append(uploaded.buffer)
                }

                // Hands `body` to an upload task, first waiting for one to finish when
                // `concurrency` are already running.
                func startPart(_ body: Data, uploadID: String) async throws {
                    if started - parts.count >= self.configuration.concurrency, let uploaded = try await group.next() {
                        finished(uploaded)
                    }
                    started += 1
                    let number = started
                    group.addTask {
                        let etag = try await self.mapping(bucket: bucket, key: key) {
                            try await self.client.uploadPart(bucket: bucket, key: key, uploadID: uploadID, partNumber: number, body: [body])
                        }
                        return UploadedPart(number: number, etag: etag, buffer: body)
                    }
                }

                // Copies `piece` into parts of exactly partSize (some S3-compatible stores insist
                // on equal parts), starting the upload of each part as it fills. A part buffer is
                // overwritten in place (same-length ranges), which keeps its memory when it comes
                // back for the next part (appending to an emptied Data allocates anew).
                func fill(_ piece: Data, uploadID: String) async throws {
                    var offset = piece.startIndex
                    while offset < piece.endIndex {
                        if part.isEmpty {
                            part = spareBuffers.popLast() ?? Data(count: partSize)
                        }
                        let count = min(partSize - partFill, piece.endIndex - offset)
                        part.replaceSubrange(partFill..<(partFill + count), with: piece[offset..<(offset + count)])
                        partFill += count
                        offset += count
                        if partFill == partSize {
                            let full = part
                            part = Data()
                            partFill = 0
                            try await startPart(full, uploadID: uploadID)
                        }
                    }
                }

                for try await chunk in body where !chunk.isEmpty {
                    hasher.update(data: chunk)
                    size += UInt64(chunk.count)
                    if let uploadID {
                        try await fill(chunk, uploadID: uploadID)
                        continue
                    }
                    received.append(chunk)
                    // Until multipart begins, every byte so far is in `received`.
                    if size > UInt64(self.configuration.multipartThreshold) {
                        // A hash the caller vouches for is recorded up front (and checked at the
                        // end); otherwise it is recorded after the upload.
                        var initialMetadata = object.userMetadata
                        initialMetadata[Self.sha256MetadataKey] = object.expectedSHA256?.lowercased()
                        let id = try await self.mapping(bucket: bucket, key: key) {
                            try await self.client.createMultipartUpload(bucket: bucket, key: key, contentType: contentType, metadata: initialMetadata)
                        }
                        uploadID = id
                        // Each message is let go once it is in a part buffer: held until all were
                        // copied, up to `multipartThreshold` of them sat beside the part buffers.
                        received.reverse()
                        while let piece = received.popLast() {
                            try await fill(piece, uploadID: id)
                        }
                    }
                }
                let digest = try checkedDigest()
                if let id = uploadID, partFill > 0 || started == 0 {
                    try await startPart(part.prefix(partFill), uploadID: id)
                }
                while let uploaded = try await group.next() {
                    finished(uploaded)
                }
                return (digest, received, parts.sorted { $0.number < $1.number })
            }
            var metadata = object.userMetadata
            metadata[Self.sha256MetadataKey] = digest
            if let id = uploadID {
                if object.expectedSHA256 == nil && size > Self.maxCopySize {
                    // The hash could only be recorded by a copy, which S3 refuses above 5 GiB:
                    // better no object than one whose reads cannot be checked.
                    throw ObjectStoreError(
                        .invalidArgument,
                        "expected_sha256: objects over 5 GiB on S3 need the SHA-256 in the header, so that it is recorded as the upload begins (\(size) bytes received; nothing was stored)"
                    )
                }
                try await self.mapping(bucket: bucket, key: key) {
                    try await self.client.completeMultipartUpload(bucket: bucket, key: key, uploadID: id, parts: parts)
                }
                uploadID = nil
                if object.expectedSHA256 == nil {
                    // Now that the hash is known, record it: a copy onto itself replacing the
                    // metadata. Should that fail, the object goes too: an object without its
                    // hash could not be checked when read.
                    do {
                        try await self.mapping(bucket: bucket, key: key) {
                            try await self.client.copyObject(from: (bucket, key), to: (bucket, key), replacing: (contentType, metadata))
                        }
                        // Some S3-compatible servers (nanio 0.1.7) answer such a copy with success
                        // but keep the metadata the object had.
                        let recorded = try await self.mapping(bucket: bucket, key: key) {
                            try await self.client.headObject(bucket: bucket, key: key)
                        }
                        guard recorded.metadata[Self.sha256MetadataKey] == digest else {
                            throw ObjectStoreError(
                                .failedPrecondition,
                                "the S3 server did not replace the object's metadata when asked to (a copy onto itself with x-amz-metadata-directive REPLACE), so its SHA-256 could not be recorded and its reads could not be checked; nothing was stored. Send expected_sha256 in the header: it is recorded as the upload begins"
                            )
                        }
                    } catch {
                        try? await self.client.deleteObject(bucket: bucket, key: key)
                        throw error
                    }
                }
            } else {
                _ = try await self.mapping(bucket: bucket, key: key) {
                    // The body is the whole object: its hash is the payload hash the signature needs.
                    try await self.client.putObject(bucket: bucket, key: key, body: remainder, bodySHA256: digest, contentType: contentType, metadata: metadata)
                }
            }
            return ObjectInfo(
                bucket: bucket,
                key: key,
                size: size,
                sha256: digest,
                contentType: contentType,
                userMetadata: object.userMetadata,
                lastModified: Date()
            )
        } catch {
            if let uploadID {
                // Best effort: the original failure is what the caller needs to see.
                try? await self.client.abortMultipartUpload(bucket: bucket, key: key, uploadID: uploadID)
            }
            throw error
        }
    }

    public func withObject<Result: Sendable>(
        bucket: String,
        key: String,
        range: ByteRange?,
        _ body: (ObjectInfo, ObjectChunks) async throws -> Result
    ) async throws -> Result {
        try ObjectNames.validateBucket(bucket)
        try ObjectNames.validateKey(key)
        let head = try await self.mapping(bucket: bucket, key: key) { try await self.client.headObject(bucket: bucket, key: key) }
        let info = Self.info(bucket: bucket, key: key, head: head)
        let start = range?.offset ?? 0
        guard start <= info.size else {
            throw ObjectStoreError(.outOfRange, "range offset \(start) is past the end of the object (\(info.size) bytes)")
        }
        let end = range?.length.map { min(info.size, start + $0) } ?? info.size
        let reader = S3RangeReader(
            store: self,
            bucket: bucket,
            key: key,
            etag: head.etag,
            start: start,
            end: end,
            chunkSize: UInt64(self.configuration.readChunkSize),
            concurrency: self.configuration.concurrency,
            expectedSHA256: (start == 0 && end == info.size && !info.sha256.isEmpty) ? info.sha256 : nil
        )
        return try await body(info, ObjectChunks { try await reader.next() })
    }

    public func headObject(bucket: String, key: String) async throws -> ObjectInfo {
        try ObjectNames.validateBucket(bucket)
        try ObjectNames.validateKey(key)
        let head = try await self.mapping(bucket: bucket, key: key) { try await self.client.headObject(bucket: bucket, key: key) }
        return Self.info(bucket: bucket, key: key, head: head)
    }

    public func deleteObject(bucket: String, key: String) async throws -> Bool {
        try ObjectNames.validateBucket(bucket)
        try ObjectNames.validateKey(key)
        // S3 answers a delete the same whether or not the object existed.
        do {
            _ = try await self.headObject(bucket: bucket, key: key)
        } catch let error as ObjectStoreError where error.code == .notFound {
            // HEAD answers a bare 404 for a missing bucket too.
            guard try await self.bucketExists(bucket) else {
                throw ObjectStoreError(.notFound, "bucket '\(bucket)' does not exist", cause: error)
            }
            return false
        }
        try await self.mapping(bucket: bucket, key: key) { try await self.client.deleteObject(bucket: bucket, key: key) }
        return true
    }

    public func listObjects(_ query: ObjectListQuery) async throws -> ObjectListing {
        try ObjectNames.validateBucket(query.bucket)
        guard (1...ObjectListQuery.maxPageSize).contains(query.maxKeys) else {
            throw ObjectStoreError(.invalidArgument, "page_size must be 1 to \(ObjectListQuery.maxPageSize), got \(query.maxKeys)")
        }
        let page = try await self.mapping(bucket: query.bucket) {
            try await self.client.listObjects(
                bucket: query.bucket,
                prefix: query.prefix,
                delimiter: query.delimiter,
                maxKeys: query.maxKeys,
                continuationToken: query.continuationToken
            )
        }
        // A listing carries neither the SHA-256 nor the user metadata; HEAD each object, a few
        // at a time.
        let infos = try await withThrowingTaskGroup(of: (Int, ObjectInfo?).self) { group in
            var results = [ObjectInfo?](repeating: nil, count: page.objects.count)
            var next = 0
            func addTask() {
                let index = next
                let key = page.objects[index].key
                group.addTask {
                    do {
                        return (index, try await self.headObject(bucket: query.bucket, key: key))
                    } catch let error as ObjectStoreError where error.code == .notFound {
                        return (index, nil)
                    }
                }
                next += 1
            }
            while next < min(8, page.objects.count) { addTask() }
            while let (index, info) = try await group.next() {
                results[index] = info
                if next < page.objects.count { addTask() }
            }
            return results.compactMap { $0 }
        }
        return ObjectListing(objects: infos, commonPrefixes: page.commonPrefixes, nextContinuationToken: page.nextContinuationToken)
    }

    public func copyObject(from source: ObjectLocation, to destination: ObjectLocation) async throws -> ObjectInfo {
        try ObjectNames.validateBucket(source.bucket, field: "source_bucket")
        try ObjectNames.validateKey(source.key, field: "source_key")
        try ObjectNames.validateBucket(destination.bucket, field: "destination_bucket")
        try ObjectNames.validateKey(destination.key, field: "destination_key")
        try await self.mapping(bucket: source.bucket, key: source.key) {
            try await self.client.copyObject(from: (source.bucket, source.key), to: (destination.bucket, destination.key))
        }
        return try await self.headObject(bucket: destination.bucket, key: destination.key)
    }

    public func presignedURL(for location: ObjectLocation, method: PresignMethod, expiresIn seconds: Int) async throws -> PresignedURL {
        try ObjectNames.validateBucket(location.bucket)
        try ObjectNames.validateKey(location.key)
        guard (1...S3Client.maxPresignSeconds).contains(seconds) else {
            throw ObjectStoreError(.invalidArgument, "expires_seconds must be 1 to \(S3Client.maxPresignSeconds), got \(seconds)")
        }
        let url = self.client.presignedURL(method: method.rawValue, bucket: location.bucket, key: location.key, expiresIn: seconds)
        return PresignedURL(url: url, expiresAt: Date().addingTimeInterval(TimeInterval(seconds)))
    }

    // MARK: Lifecycle

    public func putLifecycleRules(_ rules: [LifecycleRule], bucket: String) async throws {
        try ObjectNames.validateBucket(bucket)
        try LifecycleRule.validate(rules)
        try await self.mapping(bucket: bucket) {
            try await self.client.putLifecycleRules(
                rules.map { S3Client.ExpirationRule(id: $0.id, prefix: $0.prefix, days: $0.expireAfterDays) },
                bucket: bucket
            )
        }
    }

    public func lifecycleRules(bucket: String) async throws -> [LifecycleRule] {
        try ObjectNames.validateBucket(bucket)
        return try await self.mapping(bucket: bucket) { try await self.client.lifecycleRules(bucket: bucket) }
            .map { LifecycleRule(id: $0.id, prefix: $0.prefix, expireAfterDays: $0.days) }
    }

    // MARK: Helpers

    static func info(bucket: String, key: String, head: S3Client.ObjectHead) -> ObjectInfo {
        var metadata = head.metadata
        let sha256 = metadata.removeValue(forKey: Self.sha256MetadataKey) ?? ""
        return ObjectInfo(
            bucket: bucket,
            key: key,
            size: head.size,
            sha256: sha256,
            contentType: head.contentType,
            userMetadata: metadata,
            lastModified: head.lastModified
        )
    }

    /// Runs an S3 call, turning its failure into the `ObjectStoreError` with the right code.
    func mapping<T>(bucket: String? = nil, key: String? = nil, _ operation: () async throws -> T) async throws -> T {
        do {
            return try await operation()
        } catch let error as S3Error {
            throw Self.storeError(error, bucket: bucket, key: key)
        }
    }

    static func storeError(_ error: S3Error, bucket: String?, key: String?) -> ObjectStoreError {
        let what = key.map { "object '\($0)' in bucket '\(bucket ?? "")'" } ?? bucket.map { "bucket '\($0)'" } ?? "S3"
        switch error.code {
        case "NoSuchKey":
            return ObjectStoreError(.notFound, "\(what) does not exist (\(error))", cause: error)
        case "NotFound":
            return ObjectStoreError(.notFound, "\(what) does not exist (\(error))", cause: error)
        case "NoSuchBucket":
            return ObjectStoreError(.notFound, "bucket '\(bucket ?? "")' does not exist (\(error))", cause: error)
        case "NoSuchUpload":
            return ObjectStoreError(.notFound, "the multipart upload of \(what) is gone (\(error))", cause: error)
        case "BucketAlreadyOwnedByYou", "BucketAlreadyExists":
            return ObjectStoreError(.alreadyExists, "bucket '\(bucket ?? "")' already exists (\(error))", cause: error)
        case "BucketNotEmpty":
            return ObjectStoreError(.failedPrecondition, "bucket '\(bucket ?? "")' is not empty; delete its objects first (\(error))", cause: error)
        case "InvalidRange":
            return ObjectStoreError(.outOfRange, "\(what): \(error)", cause: error)
        case "PreconditionFailed":
            return ObjectStoreError(.failedPrecondition, "\(what) changed while it was being read (\(error))", cause: error)
        case "SignatureDoesNotMatch", "InvalidAccessKeyId", "InvalidClientTokenId", "ExpiredToken", "InvalidToken":
            return ObjectStoreError(.unauthenticated, "S3 did not accept Trove's credentials: \(error)", cause: error)
        case "AccessDenied":
            return ObjectStoreError(.permissionDenied, "S3 refused access to \(what): \(error)", cause: error)
        case "InvalidBucketName", "KeyTooLongError", "InvalidArgument", "EntityTooSmall", "EntityTooLarge":
            return ObjectStoreError(.invalidArgument, "\(what): \(error)", cause: error)
        default:
            if error.status == 0 || error.status >= 500 || error.code == "SlowDown" {
                return ObjectStoreError(.unavailable, "S3 is unavailable: \(error)", cause: error)
            }
            return ObjectStoreError(.internalError, "\(what): \(error)", cause: error)
        }
    }
}

/// Reads an S3 object in ranged GETs, each pinned to the entity tag seen at the start, up to
/// `concurrency` ranges ahead of the consumer, and checks the SHA-256 of a whole-object read at
/// its end.
private final class S3RangeReader: @unchecked Sendable {
    // Used by the one consumer of an ObjectChunks at a time.
    private let store: S3ObjectStore
    private let bucket: String
    private let key: String
    private let etag: String
    /// Start of the first range not yet requested.
    private var nextStart: UInt64
    private let end: UInt64
    private let chunkSize: UInt64
    private let concurrency: Int
    private let expectedSHA256: String?
    private var hasher = SHA256()
    /// Requested ranges, in order.
    private var pending: [Task<Data, any Error>] = []

    init(
        store: S3ObjectStore,
        bucket: String,
        key: String,
        etag: String,
        start: UInt64,
        end: UInt64,
        chunkSize: UInt64,
        concurrency: Int,
        expectedSHA256: String?
    ) {
        self.store = store
        self.bucket = bucket
        self.key = key
        self.etag = etag
        self.nextStart = start
        self.end = end
        self.chunkSize = chunkSize
        self.concurrency = concurrency
        self.expectedSHA256 = expectedSHA256
    }

    deinit {
        // A reader dropped early (the caller went away) stops what it had asked for.
        for task in self.pending {
            task.cancel()
        }
    }

    func next() async throws -> Data? {
        self.requestAhead()
        guard !self.pending.isEmpty else { return nil }
        let chunk: Data
        do {
            chunk = try await self.pending.removeFirst().value
        } catch {
            for task in self.pending {
                task.cancel()
            }
            self.pending = []
            throw error
        }
        self.requestAhead()
        if let expected = self.expectedSHA256 {
            self.hasher.update(data: chunk)
            if self.pending.isEmpty && self.nextStart == self.end {
                let actual = self.hasher.finalize().hex
                guard actual == expected else {
                    throw ObjectStoreError(.dataLoss, "object '\(self.key)' in bucket '\(self.bucket)' hashes to \(actual) but was stored with SHA-256 \(expected)")
                }
            }
        }
        return chunk
    }

    private func requestAhead() {
        while self.pending.count < self.concurrency && self.nextStart < self.end {
            let range = self.nextStart...(min(self.end, self.nextStart + self.chunkSize) - 1)
            self.nextStart = range.upperBound + 1
            let (store, bucket, key) = (self.store, self.bucket, self.key)
            let etag = self.etag.isEmpty ? nil : self.etag
            self.pending.append(Task {
                let (_, chunk) = try await store.mapping(bucket: bucket, key: key) {
                    try await store.client.getObject(bucket: bucket, key: key, range: range, ifMatch: etag, responseBuffers: store.rangeBuffers)
                }
                guard UInt64(chunk.count) == range.upperBound - range.lowerBound + 1 else {
                    throw ObjectStoreError(.dataLoss, "S3 returned \(chunk.count) bytes for a range of \(range.upperBound - range.lowerBound + 1)")
                }
                return chunk
            })
        }
    }
}
