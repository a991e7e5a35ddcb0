import ArgumentParser
import Foundation
import GRPCCore
import Glibc
import SwiftProtobuf
import Synchronization
import TroveContracts

/// `trove ingest PATH…`: files and directories into a collection, with progress and a summary.
struct IngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Ingest files and directories (recursively) into a collection and wait until they are processed."
    )

    @Argument(help: "Files and directories to ingest.")
    var paths: [String]

    @Option(name: .shortAndLong, help: "The collection (created with the defaults when missing).")
    var collection = "default"

    @Option(name: .long, help: "Only files whose name or relative path matches this glob (repeatable).")
    var include: [String] = []

    @Option(name: .long, help: "Skip files whose name or relative path matches this glob (repeatable).")
    var exclude: [String] = []

    @Option(name: .long, help: "Files uploaded at once.")
    var parallel = 4

    @Option(name: .long, help: "Metadata for every document, KEY=VALUE (repeatable; VALUE as JSON when it parses).")
    var meta: [String] = []

    @Flag(name: .long, help: "Return once uploaded, without waiting for processing.")
    var noWait = false

    @OptionGroup var client: ClientOptions

    func validate() throws {
        guard self.parallel >= 1 else { throw ValidationError("--parallel must be at least 1") }
    }

    func run() async throws {
        let files = try FileSelection(include: self.include, exclude: self.exclude).files(in: self.paths)
        guard !files.isEmpty else {
            throw CommandFailure("no files to ingest in \(self.paths.joined(separator: " "))")
        }
        let metadata = try Self.metadata(self.meta)
        let progress = IngestProgress(total: files.count, totalBytes: files.reduce(0) { $0 + $1.size }, interactive: isatty(STDERR_FILENO) == 1)
        let (failures, summary) = try await self.client.withClient { client in
            let ingestion = Trove_V1_Ingestion.Client(wrapping: client)
            do {
                _ = try await ingestion.createCollection(.with { $0.name = self.collection }, options: self.client.callOptions)
                progress.note("created collection '\(self.collection)'")
            } catch let error as RPCError where error.code == .alreadyExists {
            }
            return try await withThrowingTaskGroup(of: Void.self) { group in
                // Events first, so none for our documents is missed.
                if !self.noWait {
                    let events = IngestEvents()
                    group.addTask {
                        try await ingestion.watchIngestion(.with { $0.collection = self.collection }) { response in
                            events.started()
                            for try await event in response.messages {
                                progress.record(event)
                            }
                        }
                    }
                    try await events.waitUntilStarted()
                }
                try await self.upload(files, metadata: metadata, ingestion: ingestion, progress: progress)
                if !self.noWait {
                    try await progress.waitForAll(poll: ingestion, options: self.client.callOptions)
                }
                group.cancelAll()
                return (progress.failures, progress.summary)
            }
        }
        progress.finish()
        print(summary)
        for (file, reason) in failures {
            print("  failed  \(file): \(reason)")
        }
        if !failures.isEmpty {
            throw ExitCode(1)
        }
    }

    private func upload(
        _ files: [SelectedFile],
        metadata: Google_Protobuf_Struct,
        ingestion: Trove_V1_Ingestion.Client<some ClientTransport>,
        progress: IngestProgress
    ) async throws {
        try await forEach(files, atOnce: self.parallel) { file in
            do {
                let response = try await Self.upload(file, collection: self.collection, metadata: metadata, ingestion: ingestion)
                progress.uploaded(file, response: response)
            } catch let error as RPCError {
                progress.rejected(file, reason: "\(error.code): \(error.message)")
            } catch {
                progress.rejected(file, reason: "\(error)")
            }
        }
    }

    static func upload(
        _ file: SelectedFile,
        collection: String,
        metadata: Google_Protobuf_Struct,
        ingestion: Trove_V1_Ingestion.Client<some ClientTransport>
    ) async throws -> Trove_V1_IngestDocumentResponse {
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: file.path))
        defer { try? handle.close() }
        var withPath = metadata
        withPath.fields["path"] = .init(stringValue: file.relativePath)
        let documentMetadata = withPath
        return try await ingestion.ingestDocument(requestProducer: { writer in
            try await writer.write(.with {
                $0.header = .with {
                    $0.collection = collection
                    $0.filename = file.relativePath
                    $0.metadata = documentMetadata
                }
            })
            while let data = try handle.read(upToCount: 1 << 20), !data.isEmpty {
                try await writer.write(.with { $0.chunk = data })
            }
        })
    }

    static func metadata(_ pairs: [String]) throws -> Google_Protobuf_Struct {
        var metadata = Google_Protobuf_Struct()
        for pair in pairs {
            guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                throw ValidationError("--meta takes KEY=VALUE, got '\(pair)'")
            }
            metadata.fields[String(pair[..<equals])] = jsonValue(String(pair[pair.index(after: equals)...]))
        }
        return metadata
    }
}

/// Runs `body` for every item, at most `limit` at a time, in order of starting.
func forEach<Item: Sendable>(_ items: [Item], atOnce limit: Int, _ body: @escaping @Sendable (Item) async throws -> Void) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        var next = items.makeIterator()
        for _ in 0..<limit {
            guard let item = next.next() else { break }
            group.addTask { try await body(item) }
        }
        while try await group.next() != nil {
            guard let item = next.next() else { continue }
            group.addTask { try await body(item) }
        }
    }
}

/// A value typed on the command line: JSON when it parses as a number, boolean or null, else text.
func jsonValue(_ text: String) -> Google_Protobuf_Value {
    switch text {
    case "true": return .init(boolValue: true)
    case "false": return .init(boolValue: false)
    case "null": return .init(nilLiteral: ())
    default:
        if let number = Double(text), number.isFinite { return .init(numberValue: number) }
        if text.count >= 2, text.hasPrefix("\""), text.hasSuffix("\"") { return .init(stringValue: String(text.dropFirst().dropLast())) }
        return .init(stringValue: text)
    }
}

/// A file chosen for ingestion.
struct SelectedFile: Sendable {
    var path: String
    /// The path below the directory named on the command line (the file name for a file named directly).
    var relativePath: String
    var size: Int
}

/// Walks the paths given, keeping regular files that pass the include and exclude globs.
struct FileSelection {
    var include: [String]
    var exclude: [String]

    func files(in paths: [String]) throws -> [SelectedFile] {
        var files: [SelectedFile] = []
        let manager = FileManager.default
        for path in paths {
            var isDirectory: ObjCBool = false
            guard manager.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw CommandFailure("\(path): no such file or directory")
            }
            if !isDirectory.boolValue {
                let name = (path as NSString).lastPathComponent
                if self.accepts(name, relativePath: name) {
                    files.append(SelectedFile(path: path, relativePath: name, size: Self.size(of: path)))
                }
                continue
            }
            guard let walker = manager.enumerator(atPath: path) else { continue }
            var found: [SelectedFile] = []
            while let relative = walker.nextObject() as? String {
                let full = (path as NSString).appendingPathComponent(relative)
                let name = (relative as NSString).lastPathComponent
                if name.hasPrefix(".") {
                    if (walker.fileAttributes?[.type] as? FileAttributeType) == .typeDirectory { walker.skipDescendants() }
                    continue
                }
                guard (walker.fileAttributes?[.type] as? FileAttributeType) == .typeRegular else { continue }
                if self.accepts(name, relativePath: relative) {
                    found.append(SelectedFile(path: full, relativePath: relative, size: Self.size(of: full)))
                }
            }
            files += found.sorted { $0.relativePath < $1.relativePath }
        }
        return files
    }

    private func accepts(_ name: String, relativePath: String) -> Bool {
        func matches(_ pattern: String) -> Bool {
            fnmatch(pattern, name, 0) == 0 || fnmatch(pattern, relativePath, 0) == 0
        }
        if !self.include.isEmpty && !self.include.contains(where: matches) { return false }
        return !self.exclude.contains(where: matches)
    }

    private static func size(of path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
    }
}

/// Signals that the event stream is open.
private final class IngestEvents: Sendable {
    private let opened = Mutex(false)

    func started() {
        self.opened.withLock { $0 = true }
    }

    func waitUntilStarted() async throws {
        // The stream opens at its first response headers; a short wait covers a server that
        // sends them with the first event only.
        for _ in 0..<20 where !self.opened.withLock({ $0 }) {
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}
