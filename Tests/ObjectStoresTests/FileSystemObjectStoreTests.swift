import Foundation
import Glibc
import ObjectStores
import Testing

@Suite("Filesystem object store")
struct FileSystemObjectStoreTests {
    @Test("Objects of 0, 1 and many bytes come back identical with their SHA-256", arguments: [0, 1, 65_535, 65_536, 1_000_001])
    func roundTrip(size: Int) async throws {
        try await withStore { store, _ in
            let data = randomBytes(size, seed: UInt64(size))
            let stored = try await store.put("objects/\(size).bin", data, contentType: "application/x-test")
            #expect(stored.size == UInt64(size))
            #expect(stored.sha256 == sha256Hex(data))
            #expect(try await store.read("objects/\(size).bin") == data)
            let head = try await store.headObject(bucket: "test-bucket", key: "objects/\(size).bin")
            #expect(head.sha256 == sha256Hex(data))
            #expect(head.size == UInt64(size))
            #expect(head.contentType == "application/x-test")
        }
    }

    @Test("User metadata and content type are kept")
    func metadata() async throws {
        try await withStore { store, _ in
            let description = ObjectDescription(
                bucket: "test-bucket",
                key: "k",
                contentType: "text/plain",
                userMetadata: ["origin": "test", "ünïcode": "välue"]
            )
            _ = try await store.putObject(description, body: TestBody(Data("hello".utf8)))
            let info = try await store.headObject(bucket: "test-bucket", key: "k")
            #expect(info.userMetadata == ["origin": "test", "ünïcode": "välue"])
            #expect(info.contentType == "text/plain")
            #expect(info.etag == "\"\(sha256Hex(Data("hello".utf8)))\"")
        }
    }

    @Test("A write that fails midway leaves no object, no temporary file, and the old object intact")
    func failedWriteIsInvisible() async throws {
        try await withStore { store, directory in
            let original = randomBytes(10_000, seed: 1)
            _ = try await store.put("doc", original)
            let replacement = ObjectDescription(bucket: "test-bucket", key: "doc")
            await #expect(throws: TestBody.Failure_.self) {
                _ = try await store.putObject(replacement, body: TestBody(randomBytes(1_000_000, seed: 2), failAfter: 3))
            }
            #expect(try await store.read("doc") == original)
            let fresh = ObjectDescription(bucket: "test-bucket", key: "never")
            await #expect(throws: TestBody.Failure_.self) {
                _ = try await store.putObject(fresh, body: TestBody(randomBytes(1_000_000, seed: 3), failAfter: 2))
            }
            await #expect(throws: ObjectStoreError.self) { try await store.headObject(bucket: "test-bucket", key: "never") }
            #expect(try await store.allKeys().keys == ["doc"])
            #expect(try temporaryFiles(in: directory).isEmpty)
        }
    }

    @Test("A reader holding an object keeps seeing the version it opened while a new one replaces it")
    func readerSeesOneVersion() async throws {
        try await withStore(readChunkSize: 4096) { store, _ in
            let first = randomBytes(200_000, seed: 10)
            let second = randomBytes(300_000, seed: 11)
            _ = try await store.put("versioned", first)
            let seen = try await store.withObject(bucket: "test-bucket", key: "versioned", range: nil) { info, chunks in
                var data = Data()
                var iterator = chunks.makeAsyncIterator()
                data.append(try await iterator.next()!)
                // Replace the object while this reader is half-way through.
                _ = try await store.put("versioned", second)
                while let chunk = try await iterator.next() {
                    data.append(chunk)
                }
                return (info.sha256, data)
            }
            #expect(seen.0 == sha256Hex(first))
            #expect(seen.1 == first)
            #expect(try await store.read("versioned") == second)
        }
    }

    @Test("The expected SHA-256 is checked and a mismatch stores nothing")
    func expectedChecksum() async throws {
        try await withStore { store, directory in
            let data = Data("checked".utf8)
            let wrong = ObjectDescription(bucket: "test-bucket", key: "c", expectedSHA256: String(repeating: "0", count: 64))
            let error = await #expect(throws: ObjectStoreError.self) { _ = try await store.putObject(wrong, body: TestBody(data)) }
            #expect(error?.code == .dataLoss)
            await #expect(throws: ObjectStoreError.self) { try await store.headObject(bucket: "test-bucket", key: "c") }
            let right = ObjectDescription(bucket: "test-bucket", key: "c", expectedSHA256: sha256Hex(data).uppercased())
            _ = try await store.putObject(right, body: TestBody(data))
            #expect(try await store.read("c") == data)
            #expect(try temporaryFiles(in: directory).isEmpty)
        }
    }

    @Test("Damaged bytes on disk are reported as data loss, not returned silently")
    func corruptionIsDetected() async throws {
        try await withStore { store, directory in
            let data = randomBytes(50_000, seed: 5)
            _ = try await store.put("fragile", data)
            let path = directory.path + "/buckets/test-bucket/ofragile"
            let handle = try #require(FileHandle(forUpdatingAtPath: path))
            try handle.seek(toOffset: 1234)
            try handle.write(contentsOf: Data([data[1234] ^ 0xFF]))
            try handle.close()
            let error = await #expect(throws: ObjectStoreError.self) { _ = try await store.read("fragile") }
            #expect(error?.code == .dataLoss)

            // A truncated file is caught by its trailer.
            #expect(truncate(path, 100) == 0)
            let truncated = await #expect(throws: ObjectStoreError.self) { _ = try await store.headObject(bucket: "test-bucket", key: "fragile") }
            #expect(truncated?.code == .dataLoss)
        }
    }

    @Test("Keys that could escape the bucket are refused", arguments: ["", "..", "../etc/passwd", "a/../../b", "a/./b", ".", "/absolute", "nul\u{0}byte", String(repeating: "k", count: 1025)])
    func invalidKeys(key: String) async throws {
        try await withStore { store, _ in
            let error = await #expect(throws: ObjectStoreError.self) { _ = try await store.put(key, Data("x".utf8)) }
            #expect(error?.code == .invalidArgument)
            let readError = await #expect(throws: ObjectStoreError.self) { _ = try await store.headObject(bucket: "test-bucket", key: key) }
            #expect(readError?.code == .invalidArgument)
        }
    }

    @Test("Unusual but valid keys round-trip", arguments: ["with space", "plus+equals=amp&", "percent%2F%", "ünïcödé/日本語/😀", "trailing/", "double//slash", "..dots..", "a.", "tab\tnewline\n", "x/.hidden"])
    func unusualKeys(key: String) async throws {
        try await withStore { store, _ in
            let data = Data(key.utf8)
            _ = try await store.put(key, data)
            #expect(try await store.read(key) == data)
            #expect(try await store.allKeys().keys == [key])
            #expect(try await store.deleteObject(bucket: "test-bucket", key: key))
            #expect(try await store.allKeys().keys.isEmpty)
        }
    }

    @Test("A key and keys below it (a, a/b) live side by side")
    func fileAndDirectoryKeys() async throws {
        try await withStore { store, _ in
            _ = try await store.put("a", Data("1".utf8))
            _ = try await store.put("a/b", Data("2".utf8))
            _ = try await store.put("a/b/c", Data("3".utf8))
            #expect(try await store.read("a") == Data("1".utf8))
            #expect(try await store.read("a/b") == Data("2".utf8))
            #expect(try await store.read("a/b/c") == Data("3".utf8))
            #expect(try await store.allKeys().keys == ["a", "a/b", "a/b/c"])
        }
    }

    @Test("Byte ranges", arguments: [
        (0, 0, 0, 10_000), (0, 1, 0, 1), (9_999, 0, 9_999, 10_000), (10_000, 0, 10_000, 10_000),
        (500, 1_000, 500, 1_500), (9_000, 5_000, 9_000, 10_000),
    ])
    func ranges(offset: Int, length: Int, expectedStart: Int, expectedEnd: Int) async throws {
        try await withStore(readChunkSize: 333) { store, _ in
            let data = randomBytes(10_000, seed: 7)
            _ = try await store.put("ranged", data)
            let range = ByteRange(offset: UInt64(offset), length: length == 0 ? nil : UInt64(length))
            #expect(try await store.read("ranged", range: range) == data.subdata(in: expectedStart..<expectedEnd))
        }
    }

    @Test("A range past the end is out of range")
    func rangePastEnd() async throws {
        try await withStore { store, _ in
            _ = try await store.put("short", Data("abc".utf8))
            let error = await #expect(throws: ObjectStoreError.self) {
                _ = try await store.read("short", range: ByteRange(offset: 4))
            }
            #expect(error?.code == .outOfRange)
        }
    }

    @Test("Missing buckets and objects are not found; deleting twice is harmless")
    func notFound() async throws {
        try await withStore { store, _ in
            let missingObject = await #expect(throws: ObjectStoreError.self) { _ = try await store.read("absent") }
            #expect(missingObject?.code == .notFound)
            let missingBucket = await #expect(throws: ObjectStoreError.self) { _ = try await store.put("k", Data(), bucket: "no-such-bucket") }
            #expect(missingBucket?.code == .notFound)
            _ = try await store.put("k", Data("x".utf8))
            #expect(try await store.deleteObject(bucket: "test-bucket", key: "k"))
            #expect(try await store.deleteObject(bucket: "test-bucket", key: "k") == false)
        }
    }

    @Test("Buckets: create, exists, list, refuse duplicates and bad names, delete only when empty")
    func buckets() async throws {
        try await withStore { store, _ in
            let duplicate = await #expect(throws: ObjectStoreError.self) { _ = try await store.createBucket("test-bucket") }
            #expect(duplicate?.code == .alreadyExists)
            for name in ["ab", "UPPER", "-leading", "trailing-", "has_underscore", "a..b", String(repeating: "b", count: 64)] {
                let invalid = await #expect(throws: ObjectStoreError.self) { _ = try await store.createBucket(name) }
                #expect(invalid?.code == .invalidArgument)
            }
            _ = try await store.createBucket("second.bucket-2")
            #expect(try await store.bucketExists("second.bucket-2"))
            #expect(try await store.bucketExists("third") == false)
            #expect(try await store.listBuckets().map(\.name) == ["second.bucket-2", "test-bucket"])

            _ = try await store.put("deep/inside/object", Data("x".utf8))
            let notEmpty = await #expect(throws: ObjectStoreError.self) { try await store.deleteBucket("test-bucket") }
            #expect(notEmpty?.code == .failedPrecondition)
            _ = try await store.deleteObject(bucket: "test-bucket", key: "deep/inside/object")
            try await store.deleteBucket("test-bucket")
            #expect(try await store.listBuckets().map(\.name) == ["second.bucket-2"])
        }
    }

    @Test("Temporary files left by a crash are removed when the store opens")
    func crashLeftovers() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileSystemObjectStore(configuration: .init(root: directory.path))
        _ = try await store.createBucket("test-bucket")
        // What a process killed in the middle of a write leaves: a partial temporary file.
        FileManager.default.createFile(atPath: directory.path + "/tmp/\(UUID().uuidString).part", contents: randomBytes(4096))
        #expect(try temporaryFiles(in: directory).count == 1)
        #expect(try await store.allKeys().keys.isEmpty)
        _ = try FileSystemObjectStore(configuration: .init(root: directory.path))
        #expect(try temporaryFiles(in: directory).isEmpty)
    }

    @Test("Copy keeps bytes, type and metadata")
    func copy() async throws {
        try await withStore { store, _ in
            let data = randomBytes(300_000, seed: 9)
            _ = try await store.putObject(
                ObjectDescription(bucket: "test-bucket", key: "src", contentType: "image/png", userMetadata: ["a": "b"]),
                body: TestBody(data)
            )
            let copied = try await store.copyObject(
                from: ObjectLocation(bucket: "test-bucket", key: "src"),
                to: ObjectLocation(bucket: "test-bucket", key: "dst/copy")
            )
            #expect(copied.sha256 == sha256Hex(data))
            #expect(copied.contentType == "image/png")
            #expect(copied.userMetadata == ["a": "b"])
            #expect(try await store.read("dst/copy") == data)
        }
    }

    @Test("A full disk is reported as storage full and leaves nothing behind", .enabled(if: geteuid() == 0, "mounting a small tmpfs needs root"))
    func diskFull() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=2m", "tmpfs", directory.path]
        try mount.run()
        mount.waitUntilExit()
        try #require(mount.terminationStatus == 0, "mount failed")
        defer {
            let unmount = Process()
            unmount.executableURL = URL(fileURLWithPath: "/bin/umount")
            unmount.arguments = [directory.path]
            try? unmount.run()
            unmount.waitUntilExit()
        }
        let store = try FileSystemObjectStore(configuration: .init(root: directory.path, fsync: true))
        _ = try await store.createBucket("test-bucket")
        let small = randomBytes(100_000, seed: 1)
        _ = try await store.put("small", small)
        let error = await #expect(throws: ObjectStoreError.self) { _ = try await store.put("big", randomBytes(3_000_000, seed: 2)) }
        #expect(error?.code == .storageFull)
        #expect(try temporaryFiles(in: directory).isEmpty)
        #expect(try await store.allKeys().keys == ["small"])
        #expect(try await store.read("small") == small)
        // Once space is free again, writes work.
        _ = try await store.put("after", randomBytes(500_000, seed: 3))
    }
}
