import Foundation
import GRPCCore
import Glibc
import Testing
import TroveContracts

/// `trove serve metadata` as its own process, on its SQLite file: crashes and concurrent clients.
@Suite("trove serve metadata")
struct MetadataServiceTests {
    private static func makeDocument(_ metadata: Trove_V1_Metadata.Client<some ClientTransport>) async throws -> String {
        _ = try await metadata.createCollection(.with {
            $0.collection = .with {
                $0.name = "crash"
                $0.embeddingModel = "all-MiniLM-L6-v2"
                $0.dimension = 384
                $0.metric = .cosine
            }
        })
        return try await metadata.createDocument(.with {
            $0.document = .with {
                $0.collection = "crash"
                $0.filename = "big.txt"
                $0.sha256 = String(repeating: "ab", count: 32)
            }
        }).document.id
    }

    private static func chunks(_ count: Int) -> [Trove_V1_Chunk] {
        (0..<count).map { sequence in
            .with {
                $0.sequence = UInt32(sequence)
                $0.content = "chunk \(sequence) of a document that is being written when the power goes"
                $0.startOffset = UInt64(sequence * 100)
                $0.endOffset = UInt64(sequence * 100 + 80)
                $0.tokenCount = 14
            }
        }
    }

    private static func storedChunkCount(_ metadata: Trove_V1_Metadata.Client<some ClientTransport>, document: String) async throws -> (Int, Int) {
        let detail = try await metadata.getDocument(.with {
            $0.id = document
            $0.includeChunks = true
        })
        return (Int(detail.document.chunkCount), detail.chunks.count)
    }

    private static func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
    }

    @Test("kill -9 in the middle of a 50,000-chunk PutChunks leaves none of them; after an acknowledged one, all of them")
    func killDuringPutChunks() async throws {
        let first = try await TroveProcess.start(role: "metadata")
        let dataDirectory = first.dataDirectory
        let wal = dataDirectory + "/metadata.sqlite-wal"
        let document = try await withClient(first) { client in
            try await Self.makeDocument(Trove_V1_Metadata.Client(wrapping: client))
        }
        let walBefore = Self.fileSize(wal)

        // The transaction spills pages into the WAL as it goes; once it has grown by a few
        // megabytes the insert is under way but not committed, and the process dies.
        let killedMidway = try await withClient(first) { client in
            let metadata = Trove_V1_Metadata.Client(wrapping: client)
            return try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask {
                    do {
                        _ = try await metadata.putChunks(.with {
                            $0.documentID = document
                            $0.chunks = Self.chunks(50_000)
                        })
                        return false
                    } catch {
                        return true
                    }
                }
                group.addTask {
                    let deadline = ContinuousClock.now + .seconds(60)
                    while Self.fileSize(wal) < walBefore + (4 << 20) {
                        guard ContinuousClock.now < deadline else { return false }
                        try await Task.sleep(for: .milliseconds(2))
                    }
                    first.signal(SIGKILL)
                    return true
                }
                var results: [Bool] = []
                for try await result in group { results.append(result) }
                return results.allSatisfy { $0 }
            }
        }
        #expect(killedMidway, "the call failed because the process died while the WAL was growing")
        #expect(try await first.waitForExit() == SIGKILL)

        let second = try await TroveProcess.start(role: "metadata", dataDirectory: dataDirectory)
        let acknowledged = try await withClient(second) { client in
            let metadata = Trove_V1_Metadata.Client(wrapping: client)
            let (count, listed) = try await Self.storedChunkCount(metadata, document: document)
            #expect(count == 0 && listed == 0, "none of the interrupted batch survives")

            let stored = try await metadata.putChunks(.with {
                $0.documentID = document
                $0.chunks = Self.chunks(50_000)
            })
            return stored.chunks.count
        }
        #expect(acknowledged == 50_000)
        // Killed right after the acknowledgement: every chunk must be there after restart.
        second.signal(SIGKILL)
        #expect(try await second.waitForExit() == SIGKILL)

        let third = try await TroveProcess.start(role: "metadata", dataDirectory: dataDirectory)
        defer { Task { await third.stopAndRemove() } }
        try await withClient(third) { client in
            let metadata = Trove_V1_Metadata.Client(wrapping: client)
            let (count, listed) = try await Self.storedChunkCount(metadata, document: document)
            #expect(count == 50_000 && listed == 50_000)
            let hits = try await metadata.searchChunksText(.with {
                $0.collection = "crash"
                $0.query = "power"
                $0.limit = 5
            })
            #expect(hits.matches.count == 5, "the full-text index holds the surviving chunks")
        }
    }

    @Test("Two clients update one document at once: one wins, the other gets ABORTED, nothing is lost")
    func concurrentUpdates() async throws {
        let trove = try await TroveProcess.start(role: "metadata")
        defer { Task { await trove.stopAndRemove() } }
        let document = try await withClient(trove) { client in
            try await Self.makeDocument(Trove_V1_Metadata.Client(wrapping: client))
        }
        for round in 0..<10 {
            // Both clients read the same version, then both try to move the document on.
            let version = try await withClient(trove) { client in
                try await Trove_V1_Metadata.Client(wrapping: client).getDocument(.with { $0.id = document }).document.version
            }
            let outcomes = try await withThrowingTaskGroup(of: Result<Trove_V1_Document, RPCError>.self) { group in
                for client in 0..<2 {
                    group.addTask {
                        try await withClient(trove) { connection in
                            do {
                                let updated = try await Trove_V1_Metadata.Client(wrapping: connection).updateDocument(.with {
                                    $0.id = document
                                    $0.expectedVersion = version
                                    $0.metadata = .init(fields: ["writer": .init(stringValue: "client-\(client)"), "round": .init(numberValue: Double(round))])
                                })
                                return .success(updated)
                            } catch let error as RPCError {
                                return .failure(error)
                            }
                        }
                    }
                }
                var outcomes: [Result<Trove_V1_Document, RPCError>] = []
                for try await outcome in group { outcomes.append(outcome) }
                return outcomes
            }
            let winners = outcomes.compactMap { try? $0.get() }
            let losers = outcomes.compactMap { outcome -> RPCError? in
                if case .failure(let error) = outcome { return error }
                return nil
            }
            #expect(winners.count == 1 && losers.count == 1)
            #expect(losers.first?.code == .aborted)
            let stored = try await withClient(trove) { client in
                try await Trove_V1_Metadata.Client(wrapping: client).getDocument(.with { $0.id = document }).document
            }
            #expect(stored.version == version + 1)
            #expect(stored.metadata == winners.first?.metadata, "the winner's write is the one stored")
        }
    }
}
