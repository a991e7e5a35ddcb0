import ArgumentParser
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import TroveContracts

/// `trove bench objects`: object PUT and GET throughput through the object-storage service,
/// side by side in one run with the direct path to the same storage — a plain file copy for the
/// filesystem backend, boto3 for S3 — and the service's resident memory while it moves a large
/// object.
struct BenchObjectsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "objects",
        abstract: "Object throughput through the service versus the direct path, and the service's memory.",
        discussion: """
            Starts `trove serve object-storage` as a child process on a free loopback port (once on \
            the filesystem backend, and once on S3 when --s3-endpoint is given), uploads and \
            downloads files through it, and does the same transfers directly: a file copy with fsync \
            (the service also flushes every object), and boto3's upload_file/download_file against \
            the same S3 server. S3 credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. \
            Benchmarks/objects.sh starts a local S3 server and runs this.
            """
    )

    @Option(name: .long, help: "S3 endpoint for the S3 half, e.g. http://127.0.0.1:9000; without it only the filesystem half runs.")
    var s3Endpoint: String?

    @Option(name: .long, help: "Python interpreter with boto3, for the S3 peer.")
    var python: String = ".venv/bin/python"

    @Option(name: .long, help: "The boto3 peer script.")
    var boto3Script: String = "Benchmarks/boto3_objects.py"

    @Option(name: .long, help: "Number of small objects.")
    var smallCount: Int = 200

    @Option(name: .customLong("small-mib"), help: "Size of each small object, in MiB.")
    var smallMiB: Int = 1

    @Option(name: .long, help: "Number of large objects.")
    var largeCount: Int = 2

    @Option(name: .customLong("large-mib"), help: "Size of each large object, in MiB.")
    var largeMiB: Int = 256

    @Option(name: .customLong("memory-mib"), help: "Size of the object moved while the service's memory is watched, in MiB (0: skip).")
    var memoryMiB: Int = 1024

    /// Whichever side goes first in a round may meet page-cache pages the machine has never
    /// touched, which can cost several times more to write than pages freed before (on one VM
    /// here: ~2.4 against ~0.24 ms per MiB); trove and the direct path take turns at going first
    /// so that neither always does.
    @Option(name: .long, help: "Rounds of each case, trove and the direct path taking turns at going first; the median round is reported.")
    var rounds: Int = 4

    @Option(name: .long, help: "Directory for the source files, the service's data and the copies (default: a new temporary one).")
    var workDir: String?

    func validate() throws {
        guard self.rounds > 0, self.smallCount > 0, self.largeCount > 0, self.smallMiB > 0, self.largeMiB > 0, self.memoryMiB >= 0 else {
            throw ValidationError("counts and sizes must be positive")
        }
    }

    func run() async throws {
        let work = self.workDir ?? FileManager.default.temporaryDirectory.path + "/trove-bench-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }

        print("trove bench objects — sources in \(work)")
        let cases = [
            BenchCase(name: "small", count: self.smallCount, bytesEach: self.smallMiB << 20, source: work + "/small.bin"),
            BenchCase(name: "large", count: self.largeCount, bytesEach: self.largeMiB << 20, source: work + "/large.bin"),
        ]
        for benchCase in cases {
            try writeRandomFile(benchCase.source, bytes: benchCase.bytesEach)
        }
        let memorySource = work + "/memory.bin"
        if self.memoryMiB > 0 {
            try writeRandomFile(memorySource, bytes: self.memoryMiB << 20)
        }

        var rows: [ResultRow] = []
        var memory: [MemoryRow] = []
        var emptyCalls: [(backend: String, seconds: Double)] = []

        // Filesystem backend against a file copy.
        do {
            let service = try await ServiceProcess.start(
                "object-storage",
                dataDirectory: work + "/fs-service",
                environment: ["TROVE_OBJECT_STORAGE_BACKEND": "filesystem"]
            )
            defer { service.stop() }
            let copies = work + "/fs-copies"
            try FileManager.default.createDirectory(atPath: copies, withIntermediateDirectories: true)
            for benchCase in cases {
                var trove: [Transfer] = []
                var copy: [Transfer] = []
                for round in 0..<self.rounds {
                    try await takingTurns(
                        round: round,
                        trove: { trove.append(try await service.transfer(benchCase, bucket: "bench")) },
                        direct: { copy.append(try fileCopy(benchCase, directory: copies)) }
                    )
                }
                rows.append(ResultRow(benchCase: benchCase, backend: "filesystem", peer: "file copy", trove: .median(trove), direct: .median(copy)))
            }
            emptyCalls.append(("filesystem", try await service.emptyCallSeconds(bucket: "bench")))
            if self.memoryMiB > 0 {
                memory.append(try await service.watchMemory(moving: memorySource, bytes: self.memoryMiB << 20, backend: "filesystem"))
            }
        }

        // S3 backend against boto3 on the same server.
        if let endpoint = self.s3Endpoint {
            let environment = ProcessInfo.processInfo.environment
            guard environment["AWS_ACCESS_KEY_ID"] != nil, environment["AWS_SECRET_ACCESS_KEY"] != nil else {
                throw ValidationError("the S3 half needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment")
            }
            let service = try await ServiceProcess.start(
                "object-storage",
                dataDirectory: work + "/s3-service",
                environment: [
                    "TROVE_OBJECT_STORAGE_BACKEND": "s3",
                    "TROVE_OBJECT_STORAGE_S3_ENDPOINT": endpoint,
                ]
            )
            defer { service.stop() }
            var trove: [String: [Transfer]] = [:]
            var boto3: [String: [Transfer]] = [:]
            for round in 0..<self.rounds {
                try await takingTurns(
                    round: round,
                    trove: {
                        for benchCase in cases {
                            trove[benchCase.name, default: []].append(try await service.transfer(benchCase, bucket: "bench-trove"))
                        }
                    },
                    direct: {
                        for (name, result) in try runBoto3(endpoint: endpoint, cases: cases) {
                            boto3[name, default: []].append(result)
                        }
                    }
                )
            }
            for benchCase in cases {
                guard let direct = boto3[benchCase.name], direct.count == self.rounds else {
                    throw CommandFailure("the boto3 peer printed no result for \(benchCase.name)")
                }
                rows.append(ResultRow(benchCase: benchCase, backend: "S3", peer: "boto3", trove: .median(trove[benchCase.name]!), direct: .median(direct)))
            }
            if self.memoryMiB > 0 {
                memory.append(try await service.watchMemory(moving: memorySource, bytes: self.memoryMiB << 20, backend: "S3"))
            }
        } else {
            print("(no --s3-endpoint: the S3 half is skipped)")
        }

        printTables(rows: rows, memory: memory, emptyCalls: emptyCalls)
    }

    private func runBoto3(endpoint: String, cases: [BenchCase]) throws -> [String: Transfer] {
        let data = try runPeerProgram(
            [self.python, self.boto3Script, endpoint, "bench-boto3"] + cases.map { "\($0.name):\($0.source):\($0.count)" },
            name: "boto3 peer"
        )
        struct Line: Decodable {
            let `case`: String
            let bytes: Int
            let put_seconds: Double
            let get_seconds: Double
        }
        var results: [String: Transfer] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let decoded = try JSONDecoder().decode(Line.self, from: Data(line.utf8))
            results[decoded.case] = Transfer(bytes: decoded.bytes, putSeconds: decoded.put_seconds, getSeconds: decoded.get_seconds)
        }
        return results
    }
}

/// One row of the plan: COUNT objects of BYTES each, all uploaded from the same source file.
struct BenchCase: Sendable {
    let name: String
    let count: Int
    let bytesEach: Int
    let source: String

    var label: String {
        let mib = self.bytesEach >> 20
        return "\(mib) MiB × \(self.count)"
    }
}

/// Bytes moved and seconds spent each way; for the service, also the CPU time it used each way.
struct Transfer: Sendable {
    let bytes: Int
    let putSeconds: Double
    let getSeconds: Double
    var putCPUSeconds: Double? = nil
    var getCPUSeconds: Double? = nil

    /// The median of each direction over several rounds of the same transfer.
    static func median(_ rounds: [Transfer]) -> Transfer {
        func middle(_ values: [Double]) -> Double {
            let sorted = values.sorted()
            let half = sorted.count / 2
            return sorted.count % 2 == 1 ? sorted[half] : (sorted[half - 1] + sorted[half]) / 2
        }
        func middle(_ values: [Double?]) -> Double? {
            let known = values.compactMap { $0 }
            return known.count == values.count ? middle(known) : nil
        }
        return Transfer(
            bytes: rounds[0].bytes,
            putSeconds: middle(rounds.map(\.putSeconds)),
            getSeconds: middle(rounds.map(\.getSeconds)),
            putCPUSeconds: middle(rounds.map(\.putCPUSeconds)),
            getCPUSeconds: middle(rounds.map(\.getCPUSeconds))
        )
    }
}

private struct ResultRow {
    let benchCase: BenchCase
    let backend: String
    let peer: String
    let trove: Transfer
    let direct: Transfer
}

private struct MemoryRow {
    let backend: String
    let bytes: Int
    let baseline: Int
    let peakDuringPut: Int
    let peakDuringGet: Int
}

private func megabytesPerSecond(_ bytes: Int, _ seconds: Double) -> Double {
    Double(bytes) / 1_000_000 / seconds
}

private func printTables(rows: [ResultRow], memory: [MemoryRow], emptyCalls: [(backend: String, seconds: Double)]) {
    let pad = padded
    func number(_ value: Double) -> String { String(format: "%9.1f", value) }
    func ratio(_ value: Double) -> String { String(format: "%8.2f×", value) }

    print("")
    print(pad("objects", 15) + pad("backend", 12) + pad("path (median round)", 24) + " PUT MB/s  GET MB/s   service CPU ms/MiB (PUT, GET)")
    for row in rows {
        let troveLabel = "trove service"
        let tPut = megabytesPerSecond(row.trove.bytes, row.trove.putSeconds)
        let tGet = megabytesPerSecond(row.trove.bytes, row.trove.getSeconds)
        let dPut = megabytesPerSecond(row.direct.bytes, row.direct.putSeconds)
        let dGet = megabytesPerSecond(row.direct.bytes, row.direct.getSeconds)
        var cpu = ""
        if let put = row.trove.putCPUSeconds, let get = row.trove.getCPUSeconds {
            let mebibytes = Double(row.trove.bytes) / 1_048_576
            cpu = String(format: "   %9.2f %9.2f", put * 1000 / mebibytes, get * 1000 / mebibytes)
        }
        print(pad(row.benchCase.label, 15) + pad(row.backend, 12) + pad(troveLabel, 24) + number(tPut) + " " + number(tGet) + cpu)
        print(pad("", 15) + pad("", 12) + pad(row.peer, 24) + number(dPut) + " " + number(dGet))
        print(pad("", 15) + pad("", 12) + pad("ratio trove / " + row.peer, 24) + ratio(tPut / dPut) + " " + ratio(tGet / dGet))
    }
    // A transfer through the service does the direct path's work and at least one call's round
    // trip more: where the direct path moves an object in about a round trip, that bounds the
    // ratio whatever the service does.
    for (backend, seconds) in emptyCalls {
        print("")
        print("an empty call through the service (HeadBucket, \(backend)): p50 \(String(format: "%.3f", seconds * 1000)) ms")
        for row in rows where row.backend == backend {
            let perObject = (put: row.direct.putSeconds / Double(row.benchCase.count), get: row.direct.getSeconds / Double(row.benchCase.count))
            let ceiling = (put: perObject.put / (perObject.put + seconds), get: perObject.get / (perObject.get + seconds))
            print(
                "  \(row.benchCase.label): \(row.peer) \(String(format: "%.3f", perObject.put * 1000)) ms (PUT), "
                    + "\(String(format: "%.3f", perObject.get * 1000)) ms (GET) per object; with one round trip added, "
                    + "at most \(String(format: "%.2f", ceiling.put))× and \(String(format: "%.2f", ceiling.get))×"
            )
        }
    }
    if !memory.isEmpty {
        print("")
        print(pad("memory", 17) + pad("backend", 12) + "RSS before  peak in PUT  peak in GET  growth")
        for row in memory {
            let growth = max(row.peakDuringPut, row.peakDuringGet) - row.baseline
            print(
                pad("\(row.bytes >> 20) MiB object", 17) + pad(row.backend, 12)
                    + pad(String(format: "%7.1f MiB", Double(row.baseline) / 1_048_576), 12)
                    + pad(String(format: "%7.1f MiB", Double(row.peakDuringPut) / 1_048_576), 13)
                    + pad(String(format: "%7.1f MiB", Double(row.peakDuringGet) / 1_048_576), 13)
                    + String(format: "%5.1f MiB", Double(growth) / 1_048_576)
            )
        }
    }
}

/// Fills `path` with `bytes` random bytes.
private func writeRandomFile(_ path: String, bytes: Int) throws {
    let random = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/dev/urandom"))
    defer { try? random.close() }
    guard FileManager.default.createFile(atPath: path, contents: nil), let output = FileHandle(forWritingAtPath: path) else {
        throw CommandFailure("cannot write \(path)")
    }
    defer { try? output.close() }
    var remaining = bytes
    while remaining > 0 {
        let chunk = try random.read(upToCount: min(remaining, 1 << 20)) ?? Data()
        try output.write(contentsOf: chunk)
        remaining -= chunk.count
    }
}

/// Runs one round of trove's transfers and the direct path's, trove first in even rounds and
/// second in odd ones (see `BenchObjectsCommand.rounds`).
private func takingTurns(
    round: Int, trove: () async throws -> Void, direct: () async throws -> Void
) async throws {
    if round % 2 == 0 {
        try await trove()
        try await direct()
    } else {
        try await direct()
        try await trove()
    }
}

/// The direct path on a filesystem: copy the source to COUNT files, flushing each (as the service
/// does), then copy each back out.
private func fileCopy(_ benchCase: BenchCase, directory: String) throws -> Transfer {
    let clock = ContinuousClock()
    let targets = (0..<benchCase.count).map { directory + "/\(benchCase.name)-\($0)" }
    let putStart = clock.now
    for target in targets {
        try copyFile(from: benchCase.source, to: target, flush: true)
    }
    let putSeconds = (clock.now - putStart).seconds
    let download = benchCase.source + ".copy-download"
    let getStart = clock.now
    for target in targets {
        try copyFile(from: target, to: download, flush: false)
    }
    let getSeconds = (clock.now - getStart).seconds
    for target in targets + [download] {
        try FileManager.default.removeItem(atPath: target)
    }
    return Transfer(bytes: benchCase.bytesEach * benchCase.count, putSeconds: putSeconds, getSeconds: getSeconds)
}

private func copyFile(from source: String, to target: String, flush: Bool) throws {
    guard let input = FileHandle(forReadingAtPath: source) else { throw CommandFailure("cannot read \(source)") }
    defer { try? input.close() }
    guard FileManager.default.createFile(atPath: target, contents: nil), let output = FileHandle(forWritingAtPath: target) else {
        throw CommandFailure("cannot write \(target)")
    }
    defer { try? output.close() }
    while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty {
        try output.write(contentsOf: chunk)
    }
    if flush {
        try output.synchronize()
    }
}

extension ServiceProcess {
    fileprivate func withClient<Result: Sendable>(
        _ body: (Trove_V1_ObjectStorage.Client<HTTP2ClientTransport.Posix>) async throws -> Result
    ) async throws -> Result {
        try await self.withGRPCClient { client in
            try await body(Trove_V1_ObjectStorage.Client(wrapping: client))
        }
    }

    /// Uploads the case's source COUNT times, then downloads each object to a file.
    fileprivate func transfer(_ benchCase: BenchCase, bucket: String) async throws -> Transfer {
        try await self.withClient { storage in
            _ = try? await storage.createBucket(.with { $0.bucket = bucket })
            let clock = ContinuousClock()
            let keys = (0..<benchCase.count).map { "\(benchCase.name)/\($0)" }
            let putStartCPU = self.cpuSeconds
            let putStart = clock.now
            for key in keys {
                let info = try await storage.upload(file: benchCase.source, bucket: bucket, key: key)
                guard info.size == UInt64(benchCase.bytesEach) else {
                    throw CommandFailure("stored \(info.size) bytes of \(benchCase.bytesEach)")
                }
            }
            let putSeconds = (clock.now - putStart).seconds
            let putCPUSeconds = self.cpuSeconds - putStartCPU
            let download = benchCase.source + ".trove-download"
            let getStartCPU = self.cpuSeconds
            let getStart = clock.now
            for key in keys {
                let written = try await storage.download(bucket: bucket, key: key, to: download)
                guard written == benchCase.bytesEach else {
                    throw CommandFailure("downloaded \(written) bytes of \(benchCase.bytesEach)")
                }
            }
            let getSeconds = (clock.now - getStart).seconds
            let getCPUSeconds = self.cpuSeconds - getStartCPU
            try FileManager.default.removeItem(atPath: download)
            for key in keys {
                _ = try await storage.deleteObject(.with {
                    $0.bucket = bucket
                    $0.key = key
                })
            }
            return Transfer(
                bytes: benchCase.bytesEach * benchCase.count,
                putSeconds: putSeconds,
                getSeconds: getSeconds,
                putCPUSeconds: putCPUSeconds,
                getCPUSeconds: getCPUSeconds
            )
        }
    }

    /// The median round trip of a call that moves no data (HeadBucket), after a warm-up.
    fileprivate func emptyCallSeconds(bucket: String, calls: Int = 500) async throws -> Double {
        try await self.withClient { storage in
            _ = try? await storage.createBucket(.with { $0.bucket = bucket })
            let clock = ContinuousClock()
            var samples: [Double] = []
            for call in 0..<(calls + 50) {
                let start = clock.now
                _ = try await storage.headBucket(.with { $0.bucket = bucket })
                if call >= 50 {
                    samples.append((clock.now - start).seconds)
                }
            }
            return percentile(samples, 0.5)
        }
    }

    /// Moves one object of `bytes` in and out while sampling the service's resident memory.
    fileprivate func watchMemory(moving source: String, bytes: Int, backend: String) async throws -> MemoryRow {
        try await self.withClient { storage in
            _ = try? await storage.createBucket(.with { $0.bucket = "bench-memory" })
            // A small round trip first, so that the baseline includes a warmed-up connection.
            _ = try await storage.upload(data: Data("warm-up".utf8), bucket: "bench-memory", key: "warm-up")
            let baseline = self.residentBytes
            let download = source + ".trove-download"
            let peakPut = try await self.peakResidentBytes {
                _ = try await storage.upload(file: source, bucket: "bench-memory", key: "memory")
            }
            let peakGet = try await self.peakResidentBytes {
                let written = try await storage.download(bucket: "bench-memory", key: "memory", to: download)
                guard written == bytes else { throw CommandFailure("downloaded \(written) bytes of \(bytes)") }
            }
            try FileManager.default.removeItem(atPath: download)
            return MemoryRow(backend: backend, bytes: bytes, baseline: baseline, peakDuringPut: peakPut, peakDuringGet: peakGet)
        }
    }

    /// Runs `body` while sampling the resident set every 10 ms; returns the largest sample.
    private func peakResidentBytes(during body: () async throws -> Void) async throws -> Int {
        let sampler = Task {
            var peak = self.residentBytes
            while !Task.isCancelled {
                peak = max(peak, self.residentBytes)
                try? await Task.sleep(for: .milliseconds(10))
            }
            return max(peak, self.residentBytes)
        }
        do {
            try await body()
        } catch {
            sampler.cancel()
            throw error
        }
        sampler.cancel()
        return await sampler.value
    }
}

extension Trove_V1_ObjectStorage.Client {
    /// Streams a file into an object in 1 MiB messages, as `trove objects put` does: hashed
    /// first, so that the service records the hash as the upload begins.
    fileprivate func upload(file: String, bucket: String, key: String) async throws -> Trove_V1_ObjectInfo {
        let sha256 = try sha256Hex(ofFile: file)
        guard let input = FileHandle(forReadingAtPath: file) else { throw CommandFailure("cannot read \(file)") }
        defer { try? input.close() }
        return try await self.putObject { writer in
            try await writer.write(.with {
                $0.header = .with {
                    $0.bucket = bucket
                    $0.key = key
                    $0.expectedSha256 = sha256
                }
            })
            while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty {
                try await writer.write(.with { $0.chunk = chunk })
            }
        }.object
    }

    fileprivate func upload(data: Data, bucket: String, key: String) async throws -> Trove_V1_ObjectInfo {
        try await self.putObject { writer in
            try await writer.write(.with {
                $0.header = .with {
                    $0.bucket = bucket
                    $0.key = key
                }
            })
            try await writer.write(.with { $0.chunk = data })
        }.object
    }

    /// Streams an object into a file; returns the number of bytes written.
    fileprivate func download(bucket: String, key: String, to file: String) async throws -> Int {
        guard FileManager.default.createFile(atPath: file, contents: nil), let output = FileHandle(forWritingAtPath: file) else {
            throw CommandFailure("cannot write \(file)")
        }
        defer { try? output.close() }
        return try await self.getObject(.with {
            $0.bucket = bucket
            $0.key = key
        }) { response in
            var written = 0
            for try await message in response.messages {
                if case .chunk(let chunk) = message.part {
                    try output.write(contentsOf: chunk)
                    written += chunk.count
                }
            }
            return written
        }
    }
}
