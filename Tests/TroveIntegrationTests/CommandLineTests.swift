import Foundation
import Testing

/// The `trove` command line against running servers.
@Suite("trove command line", .serialized)
struct CommandLineTests {
    @Test("trove health exits 0 when everything serves, and 1 with a readable message when nothing listens")
    func health() async throws {
        let trove = try await TroveProcess.start()
        defer { Task { await trove.stopAndRemove() } }
        let healthy = try runTrove(["health", "--addr", trove.address])
        #expect(healthy.status == 0, "\(healthy.stdout)\(healthy.stderr)")
        for name in ["server", "ingestion", "embedding", "vector-search", "metadata", "object-storage"] {
            #expect(healthy.stdout.contains(name))
        }
        #expect(!healthy.stdout.contains("NOT_SERVING"))

        // A port nothing listens on: the one a finished server used.
        let gone = try await TroveProcess.start()
        let address = gone.address
        await gone.stopAndRemove()
        let unreachable = try runTrove(["health", "--addr", address, "--timeout", "3"])
        #expect(unreachable.status != 0)
        #expect(unreachable.stderr.contains("unavailable"), "\(unreachable.stderr)")
    }

    @Test("Each service runs on its own; health checks it by name")
    func singleService() async throws {
        let storage = try await TroveProcess.start(role: "object-storage")
        defer { Task { await storage.stopAndRemove() } }
        let itself = try runTrove(["health", "--addr", storage.address, "--service", "object-storage"])
        #expect(itself.status == 0, "\(itself.stdout)\(itself.stderr)")
        let other = try runTrove(["health", "--addr", storage.address, "--service", "metadata"])
        #expect(other.status == 1)
        #expect(other.stdout.contains("not hosted here"))

        for role in ["ingestion", "embedding", "vector-search", "metadata"] {
            let service = try await TroveProcess.start(role: role)
            let result = try runTrove(["health", "--addr", service.address, "--service", role])
            #expect(result.status == 0, "\(role): \(result.stdout)\(result.stderr)")
            await service.stopAndRemove()
        }
    }

    @Test("trove objects mb, put, ls, head, get and rm round-trip a file")
    func objects() async throws {
        let trove = try await TroveProcess.start()
        defer { Task { await trove.stopAndRemove() } }
        let addr = ["--addr", trove.address]
        let file = trove.dataDirectory + "/upload.bin"
        let data = try randomData(3_000_000)
        try data.write(to: URL(fileURLWithPath: file))

        #expect(try runTrove(["objects", "mb", "cli-bucket"] + addr).status == 0)
        let put = try runTrove(["objects", "put", "cli-bucket", "dir/upload.bin", file, "--meta", "origin=cli", "--chunk-size", "65536"] + addr)
        #expect(put.status == 0, "\(put.stderr)")
        #expect(put.stdout.contains(sha256Hex(data)))

        let piped = try runTrove(["objects", "put", "cli-bucket", "dir/piped.txt", "--content-type", "text/plain"] + addr, input: Data("from stdin\n".utf8))
        #expect(piped.status == 0, "\(piped.stderr)")

        let list = try runTrove(["objects", "ls", "cli-bucket"] + addr)
        #expect(list.stdout.contains("dir/upload.bin"))
        #expect(list.stdout.contains("dir/piped.txt"))
        let rolled = try runTrove(["objects", "ls", "cli-bucket", "--delimiter", "/"] + addr)
        #expect(rolled.stdout.contains("PREFIX") && rolled.stdout.contains("dir/"))

        let head = try runTrove(["objects", "head", "cli-bucket", "dir/upload.bin"] + addr)
        #expect(head.stdout.contains("origin=cli"))
        #expect(head.stdout.contains("3000000"))

        let downloaded = trove.dataDirectory + "/download.bin"
        let get = try runTrove(["objects", "get", "cli-bucket", "dir/upload.bin", downloaded] + addr)
        #expect(get.status == 0, "\(get.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: downloaded)) == data)

        let ranged = try runTrove(["objects", "get", "cli-bucket", "dir/piped.txt", "--range", "5:5"] + addr)
        #expect(ranged.stdout == "stdin")

        let missing = try runTrove(["objects", "get", "cli-bucket", "nope", trove.dataDirectory + "/nope"] + addr)
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("does not exist"))
        #expect(!FileManager.default.fileExists(atPath: trove.dataDirectory + "/nope"))

        #expect(try runTrove(["objects", "rm", "cli-bucket", "dir/upload.bin"] + addr).stdout.contains("deleted"))
        #expect(!(try runTrove(["objects", "ls", "cli-bucket"] + addr).stdout.contains("upload.bin")))
    }

    @Test("An invalid configuration stops start-up with a message naming the option")
    func invalidConfiguration() throws {
        let result = try runTroveWithEnvironment(["serve", "all"], environment: ["TROVE_LISTEN": "nowhere"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("listen"))
        #expect(result.stderr.contains("TROVE_LISTEN"))
    }

    @Test("trove ingest, search, docs, collections and status: a directory in, readable answers out")
    func ingestAndSearch() async throws {
        let trove = try await TroveProcess.start()
        defer { Task { await trove.stopAndRemove() } }
        let addr = ["--addr", trove.address]
        let samples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Samples").standardized.path

        let ingest = try runTrove(["ingest", samples, "--collection", "cli", "--include", "*.md", "--exclude", "rust-*", "--meta", "source=samples"] + addr)
        #expect(ingest.status == 0, "\(ingest.stdout)\(ingest.stderr)")
        let markdown = try FileManager.default.contentsOfDirectory(atPath: samples).filter { $0.hasSuffix(".md") && !$0.hasPrefix("rust-") }
        #expect(ingest.stdout.contains("\(markdown.count) files"), "\(ingest.stdout)")
        #expect(ingest.stdout.contains("\(markdown.count) completed"), "\(ingest.stdout)")
        #expect(ingest.stdout.contains("created collection 'cli'") || ingest.stderr.contains("created collection 'cli'"))
        #expect(!ingest.stdout.contains("rust-ownership.md"))

        // Again: every file is a duplicate, nothing is processed twice.
        let again = try runTrove(["ingest", samples, "--collection", "cli", "--include", "*.md", "--exclude", "rust-*"] + addr)
        #expect(again.status == 0)
        #expect(again.stdout.contains("\(markdown.count) duplicate"), "\(again.stdout)")

        let search = try runTrove(["search", "how do I keep my sourdough starter alive", "--collection", "cli", "-k", "2"] + addr)
        #expect(search.status == 0, "\(search.stderr)")
        #expect(search.stdout.hasPrefix("1. sourdough-starter.md"), "\(search.stdout)")
        #expect(search.stdout.contains("characters "))
        let json = try runTrove(["search", "sourdough", "--collection", "cli", "--mode", "keyword", "--filter", "source=samples", "--json"] + addr)
        #expect(json.status == 0, "\(json.stderr)")
        let decoded = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        let hits = decoded?["hits"] as? [[String: Any]] ?? []
        #expect(hits.first?["filename"] as? String == "sourdough-starter.md")
        let none = try runTrove(["search", "sourdough", "--collection", "cli", "--filter", "source=elsewhere"] + addr)
        #expect(none.stdout.contains("no results"))
        let badFilter = try runTrove(["search", "x", "--collection", "cli", "--filter", "year>soon"] + addr)
        #expect(badFilter.status != 0)
        #expect(badFilter.stderr.contains("compares numbers"))

        let docs = try runTrove(["docs", "ls", "--collection", "cli"] + addr)
        #expect(docs.stdout.contains("\(markdown.count) documents"))
        let line = docs.stdout.split(separator: "\n").first { $0.contains("sourdough-starter.md") }
        let id = line.map { String($0.prefix(36)) } ?? ""
        let show = try runTrove(["docs", "show", id] + addr)
        #expect(show.stdout.hasPrefix("sourdough-starter.md\n"), "\(show.stdout)")
        #expect(show.stdout.contains("  status      completed (1 attempt)\n"), "\(show.stdout)")
        #expect(show.stdout.contains("  metadata    path = sourdough-starter.md\n"), "\(show.stdout)")
        #expect(show.stdout.contains("\n              source = samples\n"), "\(show.stdout)")
        let showJSON = try runTrove(["docs", "show", id, "--json"] + addr)
        #expect(showJSON.stdout.contains("\"status\":\"DOCUMENT_STATUS_COMPLETED\""), "\(showJSON.stdout)")
        let removed = try runTrove(["docs", "rm", id] + addr)
        #expect(removed.stdout.contains("object deleted"), "\(removed.stdout)\(removed.stderr)")

        let collections = try runTrove(["collections", "ls"] + addr)
        #expect(collections.stdout.contains("cli"))
        #expect(collections.stdout.contains("all-MiniLM-L6-v2"))
        let status = try runTrove(["status"] + addr)
        #expect(status.stdout.contains("\(markdown.count - 1) completed"), "\(status.stdout)")
        #expect(try runTrove(["collections", "rm", "cli"] + addr).status == 0)
        let missing = try runTrove(["docs", "show", id] + addr)
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("notFound"), "\(missing.stderr)")
    }
}

func runTroveWithEnvironment(_ arguments: [String], environment: [String: String]) throws -> (status: Int32, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: troveBinary)
    process.arguments = arguments
    var merged = ProcessInfo.processInfo.environment
    merged.merge(environment) { _, new in new }
    process.environment = merged
    let stderr = Pipe()
    process.standardError = stderr
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let err = stderr.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: err, as: UTF8.self))
}
