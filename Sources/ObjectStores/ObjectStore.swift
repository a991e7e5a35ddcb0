import Foundation

/// A place that keeps objects (named byte strings) in buckets: the local filesystem, or S3.
///
/// Every backend gives the same guarantees: a write becomes visible atomically and completely
/// or not at all, the SHA-256 of every object is computed while it streams in and kept with it,
/// and objects of any size move through in bounded memory.
public protocol ObjectStore: Sendable {
    /// Creates a bucket; `alreadyExists` when it is there.
    func createBucket(_ name: String) async throws -> BucketInfo
    /// Whether the bucket exists.
    func bucketExists(_ name: String) async throws -> Bool
    /// Every bucket, sorted by name.
    func listBuckets() async throws -> [BucketInfo]
    /// Deletes an empty bucket; `failedPrecondition` while it holds objects.
    func deleteBucket(_ name: String) async throws

    /// Stores the bytes of `body` under `key`, replacing any object there once all of them have
    /// been written. When the body throws, nothing is stored.
    func putObject(
        _ object: ObjectDescription,
        body: some AsyncSequence<Data, any Error> & Sendable
    ) async throws -> ObjectInfo

    /// Opens an object, hands its info and its bytes (in `range`, or all of them) to `body`, and
    /// closes it when `body` returns.
    func withObject<Result: Sendable>(
        bucket: String,
        key: String,
        range: ByteRange?,
        _ body: (ObjectInfo, ObjectChunks) async throws -> Result
    ) async throws -> Result

    /// The info of one object; `notFound` when there is none.
    func headObject(bucket: String, key: String) async throws -> ObjectInfo
    /// Deletes an object; returns false when there was none.
    func deleteObject(bucket: String, key: String) async throws -> Bool
    /// One page of the objects in a bucket, in byte order of their keys.
    func listObjects(_ query: ObjectListQuery) async throws -> ObjectListing
    /// Copies an object, with its content type and user metadata.
    func copyObject(from source: ObjectLocation, to destination: ObjectLocation) async throws -> ObjectInfo

    /// A URL that lets its holder GET or PUT one object, without credentials, for `seconds`.
    func presignedURL(for location: ObjectLocation, method: PresignMethod, expiresIn seconds: Int) async throws -> PresignedURL

    /// Replaces a bucket's lifecycle rules; an empty list removes them.
    func putLifecycleRules(_ rules: [LifecycleRule], bucket: String) async throws
    /// A bucket's lifecycle rules, empty when it has none.
    func lifecycleRules(bucket: String) async throws -> [LifecycleRule]
}

/// Objects under `prefix` are deleted once they are older than `expireAfterDays`.
public struct LifecycleRule: Hashable, Sendable, Codable {
    public var id: String
    public var prefix: String
    public var expireAfterDays: Int

    public init(id: String, prefix: String, expireAfterDays: Int) {
        self.id = id
        self.prefix = prefix
        self.expireAfterDays = expireAfterDays
    }

    /// Checks a rule set as S3 would: 1 to 1,000 rules with distinct ids of 1 to 255
    /// characters, and at least one day to expiry.
    public static func validate(_ rules: [LifecycleRule]) throws(ObjectStoreError) {
        guard rules.count <= 1000 else {
            throw ObjectStoreError(.invalidArgument, "rules: at most 1000, got \(rules.count)")
        }
        var ids = Set<String>()
        for (index, rule) in rules.enumerated() {
            guard (1...255).contains(rule.id.count) else {
                throw ObjectStoreError(.invalidArgument, "rules[\(index)].id must be 1 to 255 characters")
            }
            guard ids.insert(rule.id).inserted else {
                throw ObjectStoreError(.invalidArgument, "rules[\(index)].id '\(rule.id)' is used twice")
            }
            guard rule.expireAfterDays >= 1 else {
                throw ObjectStoreError(.invalidArgument, "rules[\(index)].expire_after_days must be at least 1")
            }
        }
    }

    /// Whether an object under this rule, last modified at `modified`, has expired at `now`.
    public func hasExpired(key: String, modified: Date, now: Date) -> Bool {
        key.utf8.starts(with: self.prefix.utf8) && now.timeIntervalSince(modified) >= Double(self.expireAfterDays) * 86_400
    }
}

/// What a presigned URL allows.
public enum PresignMethod: String, Sendable {
    case get = "GET"
    case put = "PUT"
}

/// A presigned URL and when it stops working.
public struct PresignedURL: Sendable {
    public var url: String
    public var expiresAt: Date

    public init(url: String, expiresAt: Date) {
        self.url = url
        self.expiresAt = expiresAt
    }
}

/// A bucket and a key.
public struct ObjectLocation: Hashable, Sendable {
    public var bucket: String
    public var key: String

    public init(bucket: String, key: String) {
        self.bucket = bucket
        self.key = key
    }
}

/// What a writer says about an object before its bytes.
public struct ObjectDescription: Sendable {
    public var location: ObjectLocation
    public var contentType: String
    public var userMetadata: [String: String]
    /// Lower-case hex SHA-256 the writer expects; a mismatch is `dataLoss` and stores nothing.
    public var expectedSHA256: String?

    public init(
        bucket: String,
        key: String,
        contentType: String = "application/octet-stream",
        userMetadata: [String: String] = [:],
        expectedSHA256: String? = nil
    ) {
        self.location = ObjectLocation(bucket: bucket, key: key)
        self.contentType = contentType
        self.userMetadata = userMetadata
        self.expectedSHA256 = expectedSHA256
    }
}

/// What a store knows about an object.
public struct ObjectInfo: Hashable, Sendable {
    public var bucket: String
    public var key: String
    public var size: UInt64
    /// Lower-case hex SHA-256 of the bytes.
    public var sha256: String
    public var contentType: String
    public var userMetadata: [String: String]
    public var lastModified: Date

    /// An entity tag derived from the content, as HTTP caches expect.
    public var etag: String { "\"\(self.sha256)\"" }

    public init(
        bucket: String,
        key: String,
        size: UInt64,
        sha256: String,
        contentType: String,
        userMetadata: [String: String],
        lastModified: Date
    ) {
        self.bucket = bucket
        self.key = key
        self.size = size
        self.sha256 = sha256
        self.contentType = contentType
        self.userMetadata = userMetadata
        self.lastModified = lastModified
    }
}

/// A bucket's name and creation time.
public struct BucketInfo: Hashable, Sendable {
    public var name: String
    public var createdAt: Date

    public init(name: String, createdAt: Date) {
        self.name = name
        self.createdAt = createdAt
    }
}

/// A slice of an object's bytes.
public struct ByteRange: Hashable, Sendable {
    public var offset: UInt64
    /// `nil` reads to the end.
    public var length: UInt64?

    public init(offset: UInt64, length: UInt64? = nil) {
        self.offset = offset
        self.length = length
    }
}

/// Which objects a listing asks for.
public struct ObjectListQuery: Sendable {
    public var bucket: String
    public var prefix: String
    /// When not empty, keys holding the delimiter after the prefix are rolled up into common
    /// prefixes.
    public var delimiter: String
    public var maxKeys: Int
    public var continuationToken: String?

    /// The most keys one page holds.
    public static let maxPageSize = 1000

    public init(
        bucket: String,
        prefix: String = "",
        delimiter: String = "",
        maxKeys: Int = ObjectListQuery.maxPageSize,
        continuationToken: String? = nil
    ) {
        self.bucket = bucket
        self.prefix = prefix
        self.delimiter = delimiter
        self.maxKeys = maxKeys
        self.continuationToken = continuationToken
    }
}

/// One page of a listing.
public struct ObjectListing: Sendable {
    public var objects: [ObjectInfo]
    public var commonPrefixes: [String]
    /// `nil` on the last page.
    public var nextContinuationToken: String?

    public init(objects: [ObjectInfo], commonPrefixes: [String], nextContinuationToken: String?) {
        self.objects = objects
        self.commonPrefixes = commonPrefixes
        self.nextContinuationToken = nextContinuationToken
    }
}
