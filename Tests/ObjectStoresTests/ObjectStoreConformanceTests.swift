import Foundation
import ObjectStores
import Testing

/// What every object-store backend must do, run unchanged against the filesystem backend and
/// against S3 (moto_server with signature checking on).
@Suite("Object store conformance")
struct ObjectStoreConformanceTests {
    @Test("Objects of 0, 1 and many bytes come back identical with their SHA-256", arguments: Backend.conformance, [0, 1, 65_535, 1_000_001])
    func roundTrip(backend: Backend, size: Int) async throws {
        try await withStore(backend) { fixture in
            let data = randomBytes(size, seed: UInt64(size))
            let stored = try await fixture.put("objects/\(size).bin", data, contentType: "application/x-test")
            #expect(stored.size == UInt64(size))
            #expect(stored.sha256 == sha256Hex(data))
            #expect(try await fixture.read("objects/\(size).bin") == data)
            let head = try await fixture.head("objects/\(size).bin")
            #expect(head.sha256 == sha256Hex(data))
            #expect(head.size == UInt64(size))
            #expect(head.contentType == "application/x-test")
        }
    }

    @Test("User metadata and content type are kept", arguments: Backend.conformance)
    func metadata(backend: Backend) async throws {
        try await withStore(backend) { fixture in
            let description = ObjectDescription(bucket: fixture.bucket, key: "k", contentType: "text/plain", userMetadata: ["origin": "test", "batch": "7"])
            _ = try await fixture.store.putObject(description, body: TestBody(Data("hello".utf8)))
            let info = try await fixture.head("k")
            #expect(info.userMetadata == ["origin": "test", "batch": "7"])
            #expect(info.contentType == "text/plain")
            #expect(info.sha256 == sha256Hex(Data("hello".utf8)))
        }
    }

    @Test("A write that fails midway leaves no object and the old object intact", arguments: Backend.conformance)
    func failedWriteIsInvisible(backend: Backend) async throws {
        try await withStore(backend) { fixture in
            let original = randomBytes(10_000, seed: 1)
            _ = try await fixture.put("doc", original)
            await #expect(throws: TestBody.Failure_.self) {
                _ = try await fixture.store.putObject(
                    ObjectDescription(bucket: fixture.bucket, key: "doc"),
                    body: TestBody(randomBytes(1_000_000, seed: 2), failAfter: 3)
                )
            }
            #expect(try await fixture.read("doc") == original)
            await #expect(throws: TestBody.Failure_.self) {
                _ = try await fixture.store.putObject(
                    ObjectDescription(bucket: fixture.bucket, key: "never"),
                    body: TestBody(randomBytes(1_000_000, seed: 3), failAfter: 2)
                )
            }
            let missing = await #expect(throws: ObjectStoreError.self) { try await fixture.head("never") }
            #expect(missing?.code == .notFound)
            #expect(try await fixture.allKeys().keys == ["doc"])
        }
    }

    @Test("The expected SHA-256 is checked and a mismatch stores nothing", arguments: Backend.conformance)
    func expectedChecksum(backend: Backend) async throws {
        try await withStore(backend) { fixture in
            let data = Data("checked".utf8)
            let wrong = ObjectDescription(bucket: fixture.bucket, key: "c", expectedSHA256: String(repeating: "0", count: 64))
            let error = await #expect(throws: ObjectStoreError.self) { _ = try await fixture.store.putObject(wrong, body: TestBody(data)) }
            #expect(error?.code == .dataLoss)
            await #expect(throws: ObjectStoreError.self) { try await fixture.head("c") }
            let right = ObjectDescription(bucket: fixture.bucket, key: "c", expectedSHA256: sha256Hex(data).uppercased())
            _ = try await fixture.store.putObject(right, body: TestBody(data))
            #expect(try await fixture.read("c") == data)
        }
    }

    @Test("Keys that could escape the bucket are refused", arguments: Backend.conformance, ["", "..", "../etc/passwd", "a/../../b", "a/./b", ".", "/absolute", "nul\u{0}byte", String(repeating: "k", count: 1025)])
    func invalidKeys(backend: Backend, key: String) async throws {
        try await withStore(backend) { fixture in
            let error = await #expect(throws: ObjectStoreError.self) { _ = try await fixture.put(key, Data("x".utf8)) }
            #expect(error?.code == .invalidArgument)
            let readError = await #expect(throws: ObjectStoreError.self) { _ = try await fixture.head(key) }
            #expect(readError?.code == .invalidArgument)
        }
    }

    static let unusualKeyExamples = [
        "with space", "plus+equals=amp&", "percent%2F%", "ünïcödé/日本語/😀", "trailing/", "double//slash", "..dots..", "a.", "tab\tnewline\n", "x/.hidden",
    ]

    @Test("Unusual but valid keys round-trip (on moto and nanio: those each handles)", arguments: Backend.allCases, unusualKeyExamples)
    func unusualKeys(backend: Backend, key: String) async throws {
        // moto_server mis-checks signatures of keys that need percent-encoding, so it gets only
        // the plain ones; nanio checks those (spaces, '+', '=', '&', non-ASCII).
        guard backend != .moto || motoSafe(key), backend != .nanio || nanioSafe(key) else { return }
        try await withStore(backend) { fixture in
            let data = Data(key.utf8)
            _ = try await fixture.put(key, data)
            #expect(try await fixture.read(key) == data)
            #expect(try await fixture.allKeys().keys == [key])
            #expect(try await fixture.delete(key))
            #expect(try await fixture.allKeys().keys.isEmpty)
        }
    }

    @Test("A key and keys below it (a, a/b) live side by side", arguments: Backend.conformance)
    func fileAndDirectoryKeys(backend: Backend) async throws {
        try await withStore(backend) { fixture in
            _ = try await fixture.put("a", Data("1".utf8))
            _ = try await fixture.put("a/b", Data("2".utf8))
            _ = try await fixture.put("a/b/c", Data("3".utf8))
            #expect(try await fixture.read("a") == Data("1".utf8))
            #expect(try await fixture.read("a/b") == Data("2".utf8))
            #expect(try await fixture.read("a/b/c") == Data("3".utf8))
            #expect(try await fixture.allKeys().keys == ["a", "a/b", "a/b/c"])
        }
    }

    @Test("Byte ranges", arguments: Backend.conformance, [
        [0, 0, 0, 10_000], [0, 1, 0, 1], [9_999, 0, 9_999, 10_000], [10_000, 0, 10_000, 10_000],
        [500, 1_000, 500, 1_500], [9_000, 5_000, 9_000, 10_000],
    ])
    func ranges(backend: Backend, range: [Int]) async throws {
        try await withStore(backend, readChunkSize: 333) { fixture in
            let data = randomBytes(10_000, seed: 7)
            _ = try await fixture.put("ranged", data)
            let byteRange = ByteRange(offset: UInt64(range[0]), length: range[1] == 0 ? nil : UInt64(range[1]))
            #expect(try await fixture.read("ranged", range: byteRange) == data.subdata(in: range[2]..<range[3]))
        }
    }

    @Test("A range past the end is out of range", arguments: Backend.conformance)
    func rangePastEnd(backend: Backend) async throws {
        try await withStore(backend) { fixture in
            _ = try await fixture.put("short", Data("abc".utf8))
            let error = await #expect(throws: ObjectStoreError.self) { _ = try await fixture.read("short", range: ByteRange(offset: 4)) }
            #expect(error?.code == .outOfRange)
        }
    }

    @Test("Missing buckets and objects are not found; deleting twice is harmless", arguments: Backend.conformance)
    func notFound(backend: Backend) async throws {
        try await withStore(backend) { fixture in
            let missingObject = await #expect(throws: ObjectStoreError.self) { _ = try await fixture.read("absent") }
            #expect(missingObject?.code == .notFound)
            let absentBucket = "no-such-bucket-\(UUID().uuidString.prefix(8).lowercased())"
            let missingBucket = await #expect(throws: ObjectStoreError.self) {
                _ = try await fixture.store.putObject(ObjectDescription(bucket: absentBucket, key: "k"), body: TestBody(Data()))
            }
            #expect(missingBucket?.code == .notFound)
            let inAbsentBucket = StoreFixture(store: fixture.store, bucket: absentBucket)
            let missingBucketErrors = [
                await #expect(throws: ObjectStoreError.self) { _ = try await inAbsentBucket.read("k") },
                await #expect(throws: ObjectStoreError.self) { _ = try await inAbsentBucket.head("k") },
                await #expect(throws: ObjectStoreError.self) { _ = try await inAbsentBucket.delete("k") },
            ]
            for error in missingBucketErrors {
                #expect(error?.code == .notFound)
                if backend == .filesystem {
                    #expect(error?.message == "bucket '\(absentBucket)' does not exist")
                }
            }
            _ = try await fixture.put("k", Data("x".utf8))
            #expect(try await fixture.delete("k"))
            #expect(try await fixture.delete("k") == false)
        }
    }

    @Test("Buckets: create, exists, list, refuse duplicates and bad names, delete only when empty", arguments: Backend.conformance)
    func buckets(backend: Backend) async throws {
        try await withStore(backend) { fixture in
            let store = fixture.store
            let duplicate = await #expect(throws: ObjectStoreError.self) { _ = try await store.createBucket(fixture.bucket) }
            #expect(duplicate?.code == .alreadyExists)
            for name in ["ab", "UPPER", "-leading", "trailing-", "has_underscore", "a..b", String(repeating: "b", count: 64)] {
                let invalid = await #expect(throws: ObjectStoreError.self) { _ = try await store.createBucket(name) }
                #expect(invalid?.code == .invalidArgument)
            }
            let second = "second.bucket-" + UUID().uuidString.prefix(8).lowercased()
            _ = try await store.createBucket(second)
            #expect(try await store.bucketExists(second))
            #expect(try await store.bucketExists("third-\(UUID().uuidString.prefix(8).lowercased())") == false)
            let names = try await store.listBuckets().map(\.name)
            #expect(names.contains(second) && names.contains(fixture.bucket))

            _ = try await fixture.put("deep/inside/object", Data("x".utf8))
            let notEmpty = await #expect(throws: ObjectStoreError.self) { try await store.deleteBucket(fixture.bucket) }
            #expect(notEmpty?.code == .failedPrecondition)
            _ = try await fixture.delete("deep/inside/object")
            try await store.deleteBucket(fixture.bucket)
            #expect(try await store.bucketExists(fixture.bucket) == false)
        }
    }

    @Test("Copy keeps bytes, type and metadata", arguments: Backend.conformance)
    func copy(backend: Backend) async throws {
        try await withStore(backend) { fixture in
            let data = randomBytes(300_000, seed: 9)
            _ = try await fixture.store.putObject(
                ObjectDescription(bucket: fixture.bucket, key: "src", contentType: "image/png", userMetadata: ["a": "b"]),
                body: TestBody(data)
            )
            let copied = try await fixture.store.copyObject(
                from: ObjectLocation(bucket: fixture.bucket, key: "src"),
                to: ObjectLocation(bucket: fixture.bucket, key: "dst/copy")
            )
            #expect(copied.sha256 == sha256Hex(data))
            #expect(copied.contentType == "image/png")
            #expect(copied.userMetadata == ["a": "b"])
            #expect(try await fixture.read("dst/copy") == data)
        }
    }
}

@Suite("Object store lifecycle rules")
struct LifecycleRuleTests {
    @Test("Rules are stored, replaced and removed; invalid rule sets are refused", arguments: Backend.conformance)
    func rules(backend: Backend) async throws {
        try await withStore(backend) { fixture in
            #expect(try await fixture.store.lifecycleRules(bucket: fixture.bucket).isEmpty)
            let rules = [
                LifecycleRule(id: "tmp", prefix: "tmp/", expireAfterDays: 1),
                LifecycleRule(id: "logs", prefix: "logs/", expireAfterDays: 30),
            ]
            try await fixture.store.putLifecycleRules(rules, bucket: fixture.bucket)
            #expect(Set(try await fixture.store.lifecycleRules(bucket: fixture.bucket)) == Set(rules))
            try await fixture.store.putLifecycleRules([rules[1]], bucket: fixture.bucket)
            #expect(try await fixture.store.lifecycleRules(bucket: fixture.bucket) == [rules[1]])
            try await fixture.store.putLifecycleRules([], bucket: fixture.bucket)
            #expect(try await fixture.store.lifecycleRules(bucket: fixture.bucket).isEmpty)

            for invalid in [
                [LifecycleRule(id: "a", prefix: "", expireAfterDays: 0)],
                [LifecycleRule(id: "", prefix: "", expireAfterDays: 1)],
                [LifecycleRule(id: "same", prefix: "a", expireAfterDays: 1), LifecycleRule(id: "same", prefix: "b", expireAfterDays: 2)],
            ] {
                let error = await #expect(throws: ObjectStoreError.self) { try await fixture.store.putLifecycleRules(invalid, bucket: fixture.bucket) }
                #expect(error?.code == .invalidArgument)
            }
        }
    }

    @Test("The filesystem sweeper deletes what a rule says has expired, and nothing else")
    func sweeper() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileSystemObjectStore(configuration: .init(root: directory.path, fsync: false))
        _ = try await store.createBucket("swept")
        let fixture = StoreFixture(store: store, bucket: "swept")
        for key in ["tmp/a", "tmp/deep/b", "tmpfile", "keep/c"] {
            _ = try await fixture.put(key, Data(key.utf8))
        }
        try await store.putLifecycleRules([LifecycleRule(id: "tmp", prefix: "tmp/", expireAfterDays: 2)], bucket: "swept")
        #expect(try await store.sweepExpiredObjects(now: Date().addingTimeInterval(86_400)) == 0)
        #expect(try await fixture.allKeys().keys.count == 4)
        #expect(try await store.sweepExpiredObjects(now: Date().addingTimeInterval(3 * 86_400)) == 2)
        #expect(try await fixture.allKeys().keys == ["keep/c", "tmpfile"])
    }
}
