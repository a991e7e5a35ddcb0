import ArgumentParser
import Crypto
import Foundation
import GRPCCore
import SigV4
import SwiftProtobuf
import TroveContracts

/// `trove objects …`: buckets and objects in the object-storage service.
struct ObjectsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "objects",
        abstract: "Store, fetch, inspect, list and remove objects.",
        subcommands: [MakeBucket.self, Put.self, Get.self, Head.self, List.self, Remove.self]
    )

    struct MakeBucket: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "mb", abstract: "Create a bucket.")

        @OptionGroup var client: ClientOptions
        @Argument(help: "Bucket name: 3-63 of a-z, 0-9, '-' and '.'.") var bucket: String

        func run() async throws {
            let options = self.client.callOptions
            try await self.client.withClient { client in
                let storage = Trove_V1_ObjectStorage.Client(wrapping: client)
                _ = try await storage.createBucket(.with { $0.bucket = self.bucket }, options: options)
            }
            print("created bucket \(self.bucket)")
        }
    }

    struct Put: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Upload a file (or standard input) as an object.")

        @OptionGroup var client: ClientOptions
        @Argument var bucket: String
        @Argument var key: String
        @Argument(help: "File to upload; '-' or nothing reads standard input.") var file: String = "-"
        @Option(name: .long, help: "Content type stored with the object.") var contentType: String = "application/octet-stream"
        @Option(name: .long, help: "User metadata as KEY=VALUE; repeatable.") var meta: [String] = []
        @Option(name: .long, help: "Bytes per message.") var chunkSize: Int = 1 << 20

        func run() async throws {
            var metadata: [String: String] = [:]
            for pair in self.meta {
                guard let equals = pair.firstIndex(of: "=") else {
                    throw ValidationError("--meta must be KEY=VALUE, got '\(pair)'")
                }
                metadata[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
            }
            guard (1...(4 << 20)).contains(self.chunkSize) else {
                throw ValidationError("--chunk-size must be 1 to 4194304")
            }
            let handle: FileHandle
            if self.file == "-" {
                handle = .standardInput
            } else {
                guard let opened = FileHandle(forReadingAtPath: self.file) else {
                    throw ValidationError("cannot open \(self.file)")
                }
                handle = opened
            }
            // A file is hashed first, so that the service can record the hash as the upload
            // begins (and refuse bytes that do not match it); standard input is hashed by the
            // service as it streams in.
            let expectedSHA256 = self.file == "-" ? "" : try sha256Hex(ofFile: self.file)
            let header = Trove_V1_PutObjectHeader.with {
                $0.bucket = self.bucket
                $0.key = self.key
                $0.contentType = self.contentType
                $0.userMetadata = metadata
                $0.expectedSha256 = expectedSHA256
            }
            let chunkSize = self.chunkSize
            let options = self.client.callOptions
            let (info, localSHA256) = try await self.client.withClient { client in
                let storage = Trove_V1_ObjectStorage.Client(wrapping: client)
                let hasher = HashingReader(handle: handle, chunkSize: chunkSize)
                let response = try await storage.putObject(options: options) { writer in
                    try await writer.write(.with { $0.header = header })
                    while let chunk = try hasher.next() {
                        try await writer.write(.with { $0.chunk = chunk })
                    }
                }
                return (response.object, hasher.digest)
            }
            guard info.sha256 == localSHA256 else {
                throw CommandFailure("the service stored SHA-256 \(info.sha256) but the bytes sent hash to \(localSHA256)")
            }
            print("stored \(info.bucket)/\(info.key)  \(info.size) bytes  sha256 \(info.sha256)")
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Download an object to a file (or standard output).")

        @OptionGroup var client: ClientOptions
        @Argument var bucket: String
        @Argument var key: String
        @Argument(help: "File to write; '-' or nothing writes standard output.") var file: String = "-"
        @Option(name: .long, help: "Only these bytes: OFFSET or OFFSET:LENGTH.") var range: String?

        func run() async throws {
            var request = Trove_V1_GetObjectRequest.with {
                $0.bucket = self.bucket
                $0.key = self.key
            }
            if let range = self.range {
                let parts = range.split(separator: ":", omittingEmptySubsequences: false)
                guard (1...2).contains(parts.count), let offset = UInt64(parts[0]),
                    let length = parts.count == 2 ? UInt64(parts[1]) : 0
                else {
                    throw ValidationError("--range must be OFFSET or OFFSET:LENGTH, got '\(range)'")
                }
                request.range = .with {
                    $0.offset = offset
                    $0.length = length
                }
            }
            let toStandardOutput = self.file == "-"
            let temporary = self.file + ".trove-partial"
            let output: FileHandle
            if toStandardOutput {
                output = .standardOutput
            } else {
                guard FileManager.default.createFile(atPath: temporary, contents: nil),
                    let opened = FileHandle(forWritingAtPath: temporary)
                else {
                    throw ValidationError("cannot write \(self.file)")
                }
                output = opened
            }
            let options = self.client.callOptions
            do {
                let (info, written) = try await self.client.withClient { client in
                    let storage = Trove_V1_ObjectStorage.Client(wrapping: client)
                    return try await storage.getObject(request, options: options) { response in
                        var info = Trove_V1_ObjectInfo()
                        var written: UInt64 = 0
                        for try await message in response.messages {
                            switch message.part {
                            case .info(let value): info = value
                            case .chunk(let chunk):
                                try output.write(contentsOf: chunk)
                                written += UInt64(chunk.count)
                            case nil: break
                            }
                        }
                        return (info, written)
                    }
                }
                if !toStandardOutput {
                    try output.close()
                    _ = try? FileManager.default.removeItem(atPath: self.file)
                    try FileManager.default.moveItem(atPath: temporary, toPath: self.file)
                    print("wrote \(self.file)  \(written) of \(info.size) bytes  sha256 \(info.sha256)")
                }
            } catch {
                if !toStandardOutput {
                    try? FileManager.default.removeItem(atPath: temporary)
                }
                throw error
            }
        }
    }

    struct Head: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an object's size, SHA-256, type and metadata.")

        @OptionGroup var client: ClientOptions
        @Argument var bucket: String
        @Argument var key: String

        func run() async throws {
            let options = self.client.callOptions
            let info = try await self.client.withClient { client in
                try await Trove_V1_ObjectStorage.Client(wrapping: client).headObject(
                    .with {
                        $0.bucket = self.bucket
                        $0.key = self.key
                    },
                    options: options
                )
            }
            print("bucket         \(info.bucket)")
            print("key            \(info.key)")
            print("size           \(info.size)")
            print("sha256         \(info.sha256)")
            print("content type   \(info.contentType)")
            print("last modified  \(ISO8601DateFormatter().string(from: info.lastModified.date))")
            for (name, value) in info.userMetadata.sorted(by: { $0.key < $1.key }) {
                print("meta           \(name)=\(value)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List buckets, or the objects in a bucket.")

        @OptionGroup var client: ClientOptions
        @Argument(help: "Bucket to list; without it, list buckets.") var bucket: String?
        @Option(name: .long) var prefix: String = ""
        @Option(name: .long, help: "Roll keys up at this delimiter, e.g. '/'.") var delimiter: String = ""
        @Option(name: .long, help: "Stop after this many entries (0: all).") var limit: Int = 0

        func run() async throws {
            let options = self.client.callOptions
            try await self.client.withClient { client in
                let storage = Trove_V1_ObjectStorage.Client(wrapping: client)
                guard let bucket = self.bucket else {
                    for bucket in try await storage.listBuckets(Trove_V1_ListBucketsRequest(), options: options).buckets {
                        print(bucket.name)
                    }
                    return
                }
                var token = ""
                var shown = 0
                repeat {
                    let page = try await storage.listObjects(
                        .with {
                            $0.bucket = bucket
                            $0.prefix = self.prefix
                            $0.delimiter = self.delimiter
                            $0.continuationToken = token
                        },
                        options: options
                    )
                    for prefix in page.commonPrefixes {
                        print("\("PREFIX".padding(toLength: 12, withPad: " ", startingAt: 0))  \(prefix)")
                        shown += 1
                        if self.limit > 0 && shown >= self.limit { return }
                    }
                    for object in page.objects {
                        print("\(String(object.size).padding(toLength: 12, withPad: " ", startingAt: 0))  \(object.key)")
                        shown += 1
                        if self.limit > 0 && shown >= self.limit { return }
                    }
                    token = page.nextContinuationToken
                } while !token.isEmpty
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete an object.")

        @OptionGroup var client: ClientOptions
        @Argument var bucket: String
        @Argument var key: String

        func run() async throws {
            let options = self.client.callOptions
            let deleted = try await self.client.withClient { client in
                try await Trove_V1_ObjectStorage.Client(wrapping: client).deleteObject(
                    .with {
                        $0.bucket = self.bucket
                        $0.key = self.key
                    },
                    options: options
                ).deleted
            }
            print(deleted ? "deleted \(self.bucket)/\(self.key)" : "no object \(self.bucket)/\(self.key)")
        }
    }
}

/// The lower-case hex SHA-256 of a file's contents.
func sha256Hex(ofFile path: String) throws -> String {
    guard let handle = FileHandle(forReadingAtPath: path) else {
        throw ValidationError("cannot open \(path)")
    }
    defer { try? handle.close() }
    var hasher = SHA256()
    while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
        hasher.update(data: chunk)
    }
    return hasher.finalize().hex
}

/// Reads a file in chunks while hashing what it read.
private final class HashingReader: @unchecked Sendable {
    // Used by one upload loop at a time.
    private let handle: FileHandle
    private let chunkSize: Int
    private var hasher = SHA256()

    init(handle: FileHandle, chunkSize: Int) {
        self.handle = handle
        self.chunkSize = chunkSize
    }

    func next() throws -> Data? {
        guard let chunk = try self.handle.read(upToCount: self.chunkSize), !chunk.isEmpty else {
            return nil
        }
        self.hasher.update(data: chunk)
        return chunk
    }

    var digest: String {
        self.hasher.finalize().hex
    }
}
