import Foundation
import GRPCCore
import Glibc
import Testing
import TroveContracts
import TroveTestSupport

/// Whether this process may mount a tmpfs (CAP_SYS_ADMIN; root in a container usually may).
let canMountTmpfs: Bool = {
    let probe = FileManager.default.temporaryDirectory.path + "/trove-mount-probe-" + UUID().uuidString
    defer { try? FileManager.default.removeItem(atPath: probe) }
    guard (try? FileManager.default.createDirectory(atPath: probe, withIntermediateDirectories: true)) != nil,
        (try? DiskFullTests.run("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", probe])) == 0
    else { return false }
    _ = try? DiskFullTests.run("/bin/umount", [probe])
    return true
}()

/// The reliability suite's disk-full scenario: object storage's files, SQLite and the vector
/// log on a small tmpfs that is then filled. Mounting needs CAP_SYS_ADMIN (root in a container
/// usually has it); without it the test is skipped.
@Suite("Disk full", .serialized, .enabled(if: canMountTmpfs, "needs to mount a tmpfs (CAP_SYS_ADMIN)"))
struct DiskFullTests {
    @discardableResult
    static func run(_ tool: String, _ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    @Test("A full disk: writes answer RESOURCE_EXHAUSTED and leave nothing half-written, reads go on; with space back everything works and survives a restart")
    func diskFull() async throws {
        let logs = FileManager.default.temporaryDirectory.path + "/trove-full-logs-" + UUID().uuidString
        let disk = FileManager.default.temporaryDirectory.path + "/trove-full-disk-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
        try #require(try Self.run("/bin/mount", ["-t", "tmpfs", "-o", "size=24m", "tmpfs", disk]) == 0)
        let environment = [
            "TROVE_EMBEDDING_PROVIDER": "hashing",
            "TROVE_OBJECT_STORAGE_ROOT": disk + "/objects",
            "TROVE_METADATA_DATABASE": disk + "/metadata.sqlite",
            "TROVE_VECTOR_SEARCH_DIRECTORY": disk + "/vectors",
        ]
        var trove = try await TroveProcess.start(dataDirectory: logs, environment: environment)
        defer {
            trove.signal(SIGKILL)
            _ = try? Self.run("/bin/umount", ["-l", disk])
            try? FileManager.default.removeItem(atPath: disk)
            try? FileManager.default.removeItem(atPath: logs)
        }
        let before = try randomData(1 << 20)
        // 500 vectors: a log record far larger than what is left of a page the log already holds.
        func vectors(_ prefix: String) -> [Trove_V1_Vector] {
            (0..<500).map { index in .with { $0.id = "\(prefix)-\(index)"; $0.values = (0..<8).map { Float($0 + index) } } }
        }
        let text = "A short note about disks that fill up, and what a data layer should do then."

        try await withClient(trove) { client in
            let objects = Trove_V1_ObjectStorage.Client(wrapping: client)
            let search = Trove_V1_VectorSearch.Client(wrapping: client)
            let ingestion = Trove_V1_Ingestion.Client(wrapping: client)
            let metadata = Trove_V1_Metadata.Client(wrapping: client)
            _ = try await objects.createBucket(.with { $0.bucket = "full" })
            _ = try await objects.upload(bucket: "full", key: "before", before)
            _ = try await search.createCollection(.with { $0.name = "full"; $0.dimension = 8; $0.metric = .l2 })
            _ = try await search.upsert(.with { $0.collection = "full"; $0.vectors = vectors("before") })
            _ = try await ingestion.createCollection(.with { $0.name = "docs" })
            let first = try await ingestion.ingest(collection: "docs", filename: "before.txt", Data(text.utf8))
            #expect(try await ingestion.waitUntilSettled(first.documentID).status == .completed)

            let filesBefore = try Self.files(under: disk + "/objects")
            let filler = try Self.fill(disk)

            // Every write is refused as RESOURCE_EXHAUSTED, promptly: within a 10-second deadline.
            let prompt = CallOptions.deadline(.seconds(10))
            await expectRPCError(.resourceExhausted) {
                _ = try await objects.upload(bucket: "full", key: "during", try randomData(1 << 20), options: prompt)
            }
            await expectRPCError(.resourceExhausted) {
                _ = try await search.upsert(.with { $0.collection = "full"; $0.vectors = vectors("during") }, options: prompt)
            }
            await expectRPCError(.resourceExhausted) {
                _ = try await ingestion.ingest(collection: "docs", filename: "during.txt", Data((text + " During.").utf8), options: prompt)
            }
            // SQLite may still find room in pages it holds; writes growing the file are refused.
            var metadataRefused = false
            for attempt in 0..<50 where !metadataRefused {
                do {
                    _ = try await metadata.createCollection(
                        .with {
                            $0.collection = .with {
                                $0.name = "filler-\(attempt)"
                                $0.embeddingModel = "hashing-384"
                                $0.dimension = 384
                                $0.metadata = .with { $0.fields = ["padding": .init(stringValue: String(repeating: "x", count: 64 << 10))] }
                            }
                        },
                        options: prompt
                    )
                } catch let error as RPCError {
                    #expect(error.code == .resourceExhausted, "\(error)")
                    metadataRefused = true
                }
            }
            #expect(metadataRefused)
            #expect(try Self.files(under: disk + "/objects") == filesBefore, "a refused upload left files behind")

            // Reads go on.
            #expect(try await objects.download(bucket: "full", key: "before").1 == before)
            #expect(try await search.get(.with { $0.collection = "full"; $0.ids = ["before-3"] }).vectors.count == 1)
            #expect(try await ingestion.getDocumentStatus(.with { $0.documentID = first.documentID }).status == .completed)

            // Space back: everything works again.
            try FileManager.default.removeItem(atPath: filler)
            _ = try await objects.upload(bucket: "full", key: "after", before)
            _ = try await search.upsert(.with { $0.collection = "full"; $0.vectors = vectors("after") })
            let second = try await ingestion.ingest(collection: "docs", filename: "after.txt", Data((text + " After.").utf8))
            #expect(try await ingestion.waitUntilSettled(second.documentID).status == .completed)
        }

        // Nothing acknowledged is lost, nothing refused appears, across a kill -9.
        trove.signal(SIGKILL)
        _ = try await trove.waitForExit()
        trove = try await TroveProcess.start(dataDirectory: logs, environment: environment)
        try await withClient(trove) { client in
            let objects = Trove_V1_ObjectStorage.Client(wrapping: client)
            let search = Trove_V1_VectorSearch.Client(wrapping: client)
            #expect(try await objects.download(bucket: "full", key: "after").1 == before)
            await expectRPCError(.notFound) { _ = try await objects.headObject(.with { $0.bucket = "full"; $0.key = "during" }) }
            let stored = try await search.get(.with {
                $0.collection = "full"
                $0.ids = vectors("before").map(\.id) + vectors("during").map(\.id) + vectors("after").map(\.id)
            }).vectors
            #expect(Set(stored.map(\.id)) == Set((vectors("before") + vectors("after")).map(\.id)))
            try await expectConsistent(collection: "docs", documents: 2, client: client)
        }
    }

    /// Writes a file that takes every free byte of the file system at `directory`.
    static func fill(_ directory: String) throws -> String {
        let path = directory + "/filler"
        // Opening it below throws if the file was not made.
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        let block = Data(repeating: 0xAB, count: 64 << 10)
        var small = Data(repeating: 0xCD, count: 512)
        do {
            while true { try handle.write(contentsOf: block) }
        } catch {}
        // Top up what a 64 KiB write could not take.
        do {
            while true { try handle.write(contentsOf: small) }
        } catch {}
        small.removeAll()
        return path
    }

    /// Every regular file below `directory`, by path relative to it.
    static func files(under directory: String) throws -> Set<String> {
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return [] }
        var files = Set<String>()
        for case let path as String in walker {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: directory + "/" + path, isDirectory: &isDirectory), !isDirectory.boolValue {
                files.insert(path)
            }
        }
        return files
    }
}
