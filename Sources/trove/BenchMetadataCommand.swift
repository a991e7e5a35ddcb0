import ArgumentParser
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import TroveContracts

/// `trove bench metadata`: chunk inserts through the metadata service and `GetDocument` latency,
/// beside the same work done by Python's sqlite3 module directly on a database with the same
/// schema, in one run.
struct BenchMetadataCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metadata",
        abstract: "Chunk inserts and document reads through the metadata service versus raw sqlite3.",
        discussion: """
            Starts `trove serve metadata` as a child process on a free loopback port, inserts \
            chunks with PutChunks in batches and reads a 100-chunk document with GetDocument. \
            Then a second service makes a fresh database with the same schema, collection and \
            documents and stops, and Benchmarks/sqlite3_metadata.py does the same inserts (one \
            transaction per batch, the same settings: WAL, synchronous FULL, foreign keys) and \
            reads with Python's sqlite3 module.
            """
    )

    @Option(name: .long, help: "Number of PutChunks batches.")
    var batches: Int = 50

    @Option(name: .long, help: "Chunks per batch.")
    var batchSize: Int = 1000

    @Option(name: .long, help: "Words of text per chunk.")
    var words: Int = 30

    @Option(name: .long, help: "GetDocument calls (and sqlite3 reads) for the latency figures.")
    var reads: Int = 500

    @Option(name: .long, help: "Rounds, the service and sqlite3 taking turns; the median insert rate of each is reported.")
    var rounds: Int = 3

    @Option(name: .long, help: "Python interpreter for the sqlite3 peer.")
    var python: String = "python3"

    @Option(name: .long, help: "The sqlite3 peer script.")
    var peerScript: String = "Benchmarks/sqlite3_metadata.py"

    @Option(name: .long, help: "Directory for the databases (default: a new temporary one).")
    var workDir: String?

    func validate() throws {
        guard self.rounds > 0, self.batches > 0, self.batchSize > 0, self.words > 0, self.reads > 0 else {
            throw ValidationError("counts must be positive")
        }
    }

    func run() async throws {
        let work = self.workDir ?? FileManager.default.temporaryDirectory.path + "/trove-bench-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        print("trove bench metadata — \(self.rounds) rounds of \(self.batches) batches of \(self.batchSize) chunks, \(self.words) words each; \(self.reads) reads")

        var serviceRates: [Double] = []
        var peerRates: [Double] = []
        var readLatencies: [Double] = []
        var peerReadLatencies: [Double] = []
        var roundTrips: [Double] = []
        let chunks = Double(self.batches * self.batchSize)
        for round in 0..<self.rounds {
            let result = try await self.round(round, work: work)
            serviceRates.append(chunks / result.insertSeconds)
            peerRates.append(chunks / result.peerInsertSeconds)
            readLatencies += result.readLatencies
            peerReadLatencies += result.peerReadLatencies
            roundTrips += result.roundTrips
        }
        let serviceRate = percentile(serviceRates, 0.5)
        let peerRate = percentile(peerRates, 0.5)
        print("")
        print(padded("", 40) + padded("trove service", 16) + padded("python sqlite3", 16) + "ratio")
        print(
            padded("chunk inserts / s (batches of \(self.batchSize))", 40) + padded(String(format: "%.0f", serviceRate), 16)
                + padded(String(format: "%.0f", peerRate), 16) + String(format: "%.2f×", serviceRate / peerRate)
        )
        print(
            padded("GetCollection (round trip): p50 ms", 40) + padded(String(format: "%.3f", percentile(roundTrips, 0.5)), 16)
        )
        for (name, quantile) in [("GetDocument, 100 chunks: p50 ms", 0.5), ("GetDocument, 100 chunks: p99 ms", 0.99)] {
            let service = percentile(readLatencies, quantile)
            let direct = percentile(peerReadLatencies, quantile)
            print(
                padded(name, 40) + padded(String(format: "%.3f", service), 16) + padded(String(format: "%.3f", direct), 16)
                    + String(format: "%.2f× the time", service / direct)
            )
        }
    }

    /// One round: the inserts and reads through a fresh service, then by sqlite3 on a fresh
    /// database with the same schema.
    private func round(_ round: Int, work: String) async throws -> (
        insertSeconds: Double, readLatencies: [Double], roundTrips: [Double], peerInsertSeconds: Double, peerReadLatencies: [Double]
    ) {
        // Through the service.
        let service = try await ServiceProcess.start("metadata", dataDirectory: work + "/service-\(round)")
        let (insertSeconds, readLatencies, roundTrips) = try await service.withGRPCClient { client in
            let metadata = Trove_V1_Metadata.Client(wrapping: client)
            let (insertID, readID) = try await Self.prepare(metadata)
            let clock = ContinuousClock()
            let started = clock.now
            var offset: UInt64 = 0
            for batch in 0..<self.batches {
                let chunks = (0..<self.batchSize).map { index in
                    let sequence = batch * self.batchSize + index
                    let text = chunkText(sequence: sequence, words: self.words)
                    defer { offset += UInt64(text.unicodeScalars.count) }
                    return Trove_V1_Chunk.with {
                        $0.sequence = UInt32(sequence)
                        $0.content = text
                        $0.startOffset = offset
                        $0.endOffset = offset + UInt64(text.unicodeScalars.count)
                        $0.tokenCount = UInt32(self.words)
                    }
                }
                let stored = try await metadata.putChunks(.with {
                    $0.documentID = insertID
                    $0.chunks = chunks
                })
                guard stored.chunks.count == self.batchSize else {
                    throw CommandFailure("PutChunks stored \(stored.chunks.count) of \(self.batchSize) chunks")
                }
            }
            let insertSeconds = (clock.now - started).seconds
            // The smallest call, for the cost of a round trip alone.
            var roundTrips: [Double] = []
            for _ in 0..<self.reads {
                let start = clock.now
                _ = try await metadata.getCollection(.with { $0.name = "bench" })
                roundTrips.append((clock.now - start).seconds * 1000)
            }
            var latencies: [Double] = []
            for _ in 0..<self.reads {
                let start = clock.now
                let response = try await metadata.getDocument(.with {
                    $0.id = readID
                    $0.includeChunks = true
                })
                latencies.append((clock.now - start).seconds * 1000)
                guard response.chunks.count == 100 else {
                    throw CommandFailure("GetDocument returned \(response.chunks.count) chunks, not 100")
                }
            }
            return (insertSeconds, latencies, roundTrips)
        }
        service.stop()

        // The same schema for the peer, made by the service, then left to sqlite3 alone.
        let peerDirectory = work + "/peer-\(round)"
        let schemaMaker = try await ServiceProcess.start("metadata", dataDirectory: peerDirectory)
        let (peerInsertID, peerReadID) = try await schemaMaker.withGRPCClient { client in
            try await Self.prepare(Trove_V1_Metadata.Client(wrapping: client))
        }
        schemaMaker.stop()
        let peer = try self.runPeer(
            database: peerDirectory + "/metadata.sqlite",
            insertDocument: peerInsertID,
            readDocument: peerReadID
        )

        return (insertSeconds, readLatencies, roundTrips, peer.insertSeconds, peer.readLatencies)
    }

    /// A collection, an empty document for the inserts and a document with 100 chunks to read.
    private static func prepare(_ metadata: Trove_V1_Metadata.Client<HTTP2ClientTransport.Posix>) async throws -> (String, String) {
        _ = try await metadata.createCollection(.with {
            $0.collection = .with {
                $0.name = "bench"
                $0.embeddingModel = "all-MiniLM-L6-v2"
                $0.dimension = 384
                $0.metric = .cosine
            }
        })
        func document(_ number: Int) async throws -> String {
            try await metadata.createDocument(.with {
                $0.document = .with {
                    $0.collection = "bench"
                    $0.filename = "bench-\(number).txt"
                    $0.mimeType = "text/plain"
                    $0.objectType = .text
                    $0.sha256 = String(repeating: String(number), count: 64)
                }
            }).document.id
        }
        let insertID = try await document(1)
        let readID = try await document(2)
        var offset: UInt64 = 0
        _ = try await metadata.putChunks(.with {
            $0.documentID = readID
            $0.chunks = (0..<100).map { sequence in
                let text = chunkText(sequence: sequence, words: 30)
                defer { offset += UInt64(text.unicodeScalars.count) }
                return .with {
                    $0.sequence = UInt32(sequence)
                    $0.content = text
                    $0.startOffset = offset
                    $0.endOffset = offset + UInt64(text.unicodeScalars.count)
                    $0.tokenCount = 30
                }
            }
        })
        return (insertID, readID)
    }

    private func runPeer(database: String, insertDocument: String, readDocument: String) throws -> (insertSeconds: Double, readLatencies: [Double]) {
        let data = try runPeerProgram(
            [
                self.python, self.peerScript, database, insertDocument, readDocument,
                String(self.batches), String(self.batchSize), String(self.reads), String(self.words),
            ],
            name: "sqlite3 peer"
        )
        struct Result: Decodable {
            let insert_seconds: Double
            let read_latencies_ms: [Double]
        }
        let result = try JSONDecoder().decode(Result.self, from: data)
        return (result.insert_seconds, result.read_latencies_ms)
    }
}

private let benchWords = """
    vector search index chunk document embedding model token offset storage query result \
    metadata filter collection retrieval pipeline graph neighbour cosine distance recall latency \
    throughput batch stream object bucket region signature version status failure retry
    """.split(separator: " ").map(String.init)

/// The text of chunk `sequence`; Benchmarks/sqlite3_metadata.py makes the same.
private func chunkText(sequence: Int, words: Int) -> String {
    (0..<words).map { benchWords[(sequence * 7 + $0 * 13) % benchWords.count] }.joined(separator: " ")
}

