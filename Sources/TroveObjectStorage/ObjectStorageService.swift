import Foundation
import GRPCCore
import Logging
import Metrics
import ObjectStores
import SwiftProtobuf
import TroveContracts
import TroveCore

/// The object-storage service: the gRPC face of an `ObjectStore` backend.
public struct ObjectStorageService: Trove_V1_ObjectStorage.SimpleServiceProtocol {
    public let store: any ObjectStore
    let logger: Logger

    /// The most object bytes in one GetObject message.
    static let maxChunkBytes = 1 << 20

    public init(store: any ObjectStore, logger: Logger) {
        self.store = store
        self.logger = logger
        let backend = store is S3ObjectStore ? "s3" : "filesystem"
        self.bytesWritten = Counter(label: TroveMetrics.objectBytesWritten, dimensions: [("backend", backend)])
        self.bytesRead = Counter(label: TroveMetrics.objectBytesRead, dimensions: [("backend", backend)])
    }

    private let bytesWritten: Counter
    private let bytesRead: Counter

    // MARK: Buckets

    public func createBucket(request: Trove_V1_CreateBucketRequest, context: ServerContext) async throws -> Trove_V1_CreateBucketResponse {
        let bucket = try await self.store.createBucket(request.bucket)
        return .with { $0.bucket = Trove_V1_BucketInfo(bucket) }
    }

    public func headBucket(request: Trove_V1_HeadBucketRequest, context: ServerContext) async throws -> Trove_V1_HeadBucketResponse {
        let exists = try await self.store.bucketExists(request.bucket)
        return .with { $0.exists = exists }
    }

    public func listBuckets(request: Trove_V1_ListBucketsRequest, context: ServerContext) async throws -> Trove_V1_ListBucketsResponse {
        let buckets = try await self.store.listBuckets()
        return .with { $0.buckets = buckets.map(Trove_V1_BucketInfo.init) }
    }

    public func deleteBucket(request: Trove_V1_DeleteBucketRequest, context: ServerContext) async throws -> Trove_V1_DeleteBucketResponse {
        try await self.store.deleteBucket(request.bucket)
        return Trove_V1_DeleteBucketResponse()
    }

    // MARK: Objects

    public func putObject(
        request: RPCAsyncSequence<Trove_V1_PutObjectRequest, any Error>,
        context: ServerContext
    ) async throws -> Trove_V1_PutObjectResponse {
        var messages = request.makeAsyncIterator()
        guard let first = try await messages.next() else {
            throw RPCError(code: .invalidArgument, message: "header: the stream ended before its first message")
        }
        guard case .header(let header) = first.part else {
            throw RPCError(code: .invalidArgument, message: "header: the first message must carry the header, not bytes")
        }
        if !header.expectedSha256.isEmpty,
            header.expectedSha256.utf8.count != 64 || !header.expectedSha256.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) })
        {
            throw RPCError(code: .invalidArgument, message: "header.expected_sha256: expected 64 lower-case hex digits, got '\(header.expectedSha256.prefix(80))'")
        }
        let description = ObjectDescription(
            bucket: header.bucket,
            key: header.key,
            contentType: header.contentType,
            userMetadata: header.userMetadata,
            expectedSHA256: header.expectedSha256.isEmpty ? nil : header.expectedSha256
        )
        let chunks = PutObjectChunks(messages: messages)
        let info = try await self.store.putObject(description, body: ObjectChunks { try await chunks.next() })
        self.bytesWritten.increment(by: Int64(clamping: info.size))
        return .with { $0.object = Trove_V1_ObjectInfo(info) }
    }

    public func getObject(
        request: Trove_V1_GetObjectRequest,
        response: RPCWriter<Trove_V1_GetObjectResponse>,
        context: ServerContext
    ) async throws {
        var range: ByteRange?
        if request.hasRange {
            range = ByteRange(offset: request.range.offset, length: request.range.length == 0 ? nil : request.range.length)
        }
        try await self.store.withObject(bucket: request.bucket, key: request.key, range: range) { info, chunks in
            try await response.write(.with { $0.info = Trove_V1_ObjectInfo(info) })
            for try await chunk in chunks {
                if context.cancellation.isCancelled {
                    throw RPCError(code: .cancelled, message: "the client cancelled the download")
                }
                // Backends read in chunks of their own size (8 MiB ranged GETs for S3); messages
                // stay well below every client's default 4 MiB limit.
                var offset = chunk.startIndex
                while offset < chunk.endIndex {
                    let end = min(chunk.endIndex, offset + Self.maxChunkBytes)
                    try await response.write(.with { $0.chunk = chunk[offset..<end] })
                    offset = end
                }
                self.bytesRead.increment(by: chunk.count)
            }
        }
    }

    public func headObject(request: Trove_V1_HeadObjectRequest, context: ServerContext) async throws -> Trove_V1_ObjectInfo {
        Trove_V1_ObjectInfo(try await self.store.headObject(bucket: request.bucket, key: request.key))
    }

    public func deleteObject(request: Trove_V1_DeleteObjectRequest, context: ServerContext) async throws -> Trove_V1_DeleteObjectResponse {
        let deleted = try await self.store.deleteObject(bucket: request.bucket, key: request.key)
        return .with { $0.deleted = deleted }
    }

    public func listObjects(request: Trove_V1_ListObjectsRequest, context: ServerContext) async throws -> Trove_V1_ListObjectsResponse {
        let listing = try await self.store.listObjects(
            ObjectListQuery(
                bucket: request.bucket,
                prefix: request.prefix,
                delimiter: request.delimiter,
                maxKeys: request.pageSize == 0 ? ObjectListQuery.maxPageSize : Int(request.pageSize),
                continuationToken: request.continuationToken.isEmpty ? nil : request.continuationToken
            )
        )
        return .with {
            $0.objects = listing.objects.map(Trove_V1_ObjectInfo.init)
            $0.commonPrefixes = listing.commonPrefixes
            $0.nextContinuationToken = listing.nextContinuationToken ?? ""
        }
    }

    public func copyObject(request: Trove_V1_CopyObjectRequest, context: ServerContext) async throws -> Trove_V1_ObjectInfo {
        let info = try await self.store.copyObject(
            from: ObjectLocation(bucket: request.sourceBucket, key: request.sourceKey),
            to: ObjectLocation(bucket: request.destinationBucket, key: request.destinationKey)
        )
        return Trove_V1_ObjectInfo(info)
    }

    public func presignObject(request: Trove_V1_PresignObjectRequest, context: ServerContext) async throws -> Trove_V1_PresignObjectResponse {
        let method: PresignMethod
        switch request.method {
        case .get: method = .get
        case .put: method = .put
        default: throw RPCError(code: .invalidArgument, message: "method must be PRESIGN_METHOD_GET or PRESIGN_METHOD_PUT")
        }
        guard (1...604_800).contains(request.expiresSeconds) else {
            throw RPCError(code: .invalidArgument, message: "expires_seconds must be 1 to 604800 (7 days), got \(request.expiresSeconds)")
        }
        let presigned = try await self.store.presignedURL(
            for: ObjectLocation(bucket: request.bucket, key: request.key),
            method: method,
            expiresIn: Int(request.expiresSeconds)
        )
        return .with {
            $0.url = presigned.url
            $0.expiresAt = Google_Protobuf_Timestamp(date: presigned.expiresAt)
        }
    }

    public func putBucketLifecycle(request: Trove_V1_PutBucketLifecycleRequest, context: ServerContext) async throws -> Trove_V1_PutBucketLifecycleResponse {
        let rules = request.rules.map { LifecycleRule(id: $0.id, prefix: $0.prefix, expireAfterDays: Int($0.expireAfterDays)) }
        try await self.store.putLifecycleRules(rules, bucket: request.bucket)
        return Trove_V1_PutBucketLifecycleResponse()
    }

    public func getBucketLifecycle(request: Trove_V1_GetBucketLifecycleRequest, context: ServerContext) async throws -> Trove_V1_GetBucketLifecycleResponse {
        let rules = try await self.store.lifecycleRules(bucket: request.bucket)
        return .with {
            $0.rules = rules.map { rule in
                .with {
                    $0.id = rule.id
                    $0.prefix = rule.prefix
                    $0.expireAfterDays = UInt32(clamping: rule.expireAfterDays)
                }
            }
        }
    }
}

/// The byte chunks that follow a PutObject header, read from the same stream iterator that
/// gave the header; another header in the stream is an error.
private final class PutObjectChunks: @unchecked Sendable {
    // Only the store's write loop calls `next`, one call at a time.
    private var messages: RPCAsyncSequence<Trove_V1_PutObjectRequest, any Error>.AsyncIterator

    init(messages: RPCAsyncSequence<Trove_V1_PutObjectRequest, any Error>.AsyncIterator) {
        self.messages = messages
    }

    func next() async throws -> Data? {
        guard let message = try await self.messages.next() else {
            return nil
        }
        guard case .chunk(let chunk) = message.part else {
            throw RPCError(code: .invalidArgument, message: "chunk: only the first message may carry a header")
        }
        return chunk
    }
}

extension Trove_V1_ObjectInfo {
    init(_ info: ObjectInfo) {
        self = .with {
            $0.bucket = info.bucket
            $0.key = info.key
            $0.size = info.size
            $0.sha256 = info.sha256
            $0.contentType = info.contentType
            $0.userMetadata = info.userMetadata
            $0.lastModified = Google_Protobuf_Timestamp(date: info.lastModified)
            $0.etag = info.etag
        }
    }
}

extension Trove_V1_BucketInfo {
    init(_ bucket: BucketInfo) {
        self = .with {
            $0.name = bucket.name
            $0.createdAt = Google_Protobuf_Timestamp(date: bucket.createdAt)
        }
    }
}
