import Foundation
import Glibc
import ObjectStores
import Testing

/// A filesystem store in its own temporary directory, with the bucket "test-bucket".
private func withStore<Result>(
    readChunkSize: Int = 64 * 1024,
    _ body: (StoreFixture, TemporaryDirectory) async throws -> Result
) async throws -> Result {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let store = try FileSystemObjectStore(configuration: .init(root: directory.path, readChunkSize: readChunkSize, fsync: false))
    _ = try await store.createBucket("test-bucket")
    return try await body(StoreFixture(store: store, bucket: "test-bucket"), directory)
}

/// What only the filesystem backend promises, or what only it lets a test reach in and break.
@Suite("Filesystem object store")
struct FileSystemObjectStoreTests {
    @Test("A reader holding an object keeps seeing the version it opened while a new one replaces it")
    func readerSeesOneVersion() async throws {
        try await withStore(readChunkSize: 4096) { fixture, _ in
            let first = randomBytes(200_000, seed: 10)
            let second = randomBytes(300_000, seed: 11)
            _ = try await fixture.put("versioned", first)
            let seen = try await fixture.store.withObject(bucket: "test-bucket", key: "versioned", range: nil) { info, chunks in
                var data = Data()
                var iterator = chunks.makeAsyncIterator()
                data.append(try await iterator.next()!)
                // Replace the object while this reader is half-way through.
                _ = try await fixture.put("versioned", second)
                while let chunk = try await iterator.next() {
                    data.append(chunk)
                }
                return (info.sha256, data)
            }
            #expect(seen.0 == sha256Hex(first))
            #expect(seen.1 == first)
            #expect(try await fixture.read("versioned") == second)
        }
    }

    @Test("Damaged bytes on disk are reported as data loss, not returned silently")
    func corruptionIsDetected() async throws {
        try await withStore { fixture, directory in
            let data = randomBytes(50_000, seed: 5)
            _ = try await fixture.put("fragile", data)
            let path = directory.path + "/buckets/test-bucket/ofragile"
            let handle = try #require(FileHandle(forUpdatingAtPath: path))
            try handle.seek(toOffset: 1234)
            try handle.write(contentsOf: Data([data[1234] ^ 0xFF]))
            try handle.close()
            let error = await #expect(throws: ObjectStoreError.self) { _ = try await fixture.read("fragile") }
            #expect(error?.code == .dataLoss)

            // A truncated file is caught by its trailer.
            #expect(truncate(path, 100) == 0)
            let truncated = await #expect(throws: ObjectStoreError.self) { _ = try await fixture.head("fragile") }
            #expect(truncated?.code == .dataLoss)
        }
    }

    @Test("Temporary files left by a crash are removed when the store opens")
    func crashLeftovers() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileSystemObjectStore(configuration: .init(root: directory.path))
        _ = try await store.createBucket("test-bucket")
        let fixture = StoreFixture(store: store, bucket: "test-bucket")
        // What a process killed in the middle of a write leaves: a partial temporary file.
        _ = FileManager.default.createFile(atPath: directory.path + "/tmp/\(UUID().uuidString).part", contents: randomBytes(4096))
        #expect(try temporaryFiles(in: directory).count == 1)
        #expect(try await fixture.allKeys().keys.isEmpty)
        _ = try FileSystemObjectStore(configuration: .init(root: directory.path))
        #expect(try temporaryFiles(in: directory).isEmpty)
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
        let fixture = StoreFixture(store: store, bucket: "test-bucket")
        let small = randomBytes(100_000, seed: 1)
        _ = try await fixture.put("small", small)
        let error = await #expect(throws: ObjectStoreError.self) { _ = try await fixture.put("big", randomBytes(3_000_000, seed: 2)) }
        #expect(error?.code == .storageFull)
        #expect(try temporaryFiles(in: directory).isEmpty)
        #expect(try await fixture.allKeys().keys == ["small"])
        #expect(try await fixture.read("small") == small)
        // Once space is free again, writes work.
        _ = try await fixture.put("after", randomBytes(500_000, seed: 3))
    }

    @Test("A write that fails midway leaves no temporary file behind")
    func failedWriteIsInvisible() async throws {
        try await withStore { fixture, directory in
            let original = randomBytes(10_000, seed: 1)
            _ = try await fixture.put("doc", original)
            let replacement = ObjectDescription(bucket: "test-bucket", key: "doc")
            await #expect(throws: TestBody.Failure_.self) {
                _ = try await fixture.store.putObject(replacement, body: TestBody(randomBytes(1_000_000, seed: 2), failAfter: 3))
            }
            #expect(try await fixture.read("doc") == original)
            let fresh = ObjectDescription(bucket: "test-bucket", key: "never")
            await #expect(throws: TestBody.Failure_.self) {
                _ = try await fixture.store.putObject(fresh, body: TestBody(randomBytes(1_000_000, seed: 3), failAfter: 2))
            }
            await #expect(throws: ObjectStoreError.self) { try await fixture.head("never") }
            #expect(try await fixture.allKeys().keys == ["doc"])
            #expect(try temporaryFiles(in: directory).isEmpty)
        }
    }
}
