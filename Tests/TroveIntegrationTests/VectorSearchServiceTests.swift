import Foundation
import GRPCCore
import Glibc
import Synchronization
import Testing
import TroveContracts
import TroveTestSupport

/// `trove serve vector-search` as its own process: crashes, restarts and statuses over the wire.
@Suite("trove serve vector-search")
struct VectorSearchServiceTests {
    static let dimension = 16

    /// A seeded vector for id number `number`.
    static func values(_ number: Int) -> [Float] {
        (0..<Self.dimension).map { axis in Float(sin(Double(number * 31 + axis * 7))) + (axis == number % Self.dimension ? 2 : 0) }
    }

    @Test("kill -9 during a stream of upserts (fsync on every write): every acknowledged vector is there after restart")
    func killDuringUpserts() async throws {
        let first = try await TroveProcess.start(role: "vector-search", environment: ["TROVE_VECTOR_SEARCH_FSYNC": "always"])
        let dataDirectory = first.dataDirectory
        let acknowledged = AcknowledgedNumbers()
        let killed = try await withClient(first) { client in
            let vectors = Trove_V1_VectorSearch.Client(wrapping: client)
            _ = try await vectors.createCollection(.with {
                $0.name = "crash"
                $0.dimension = UInt32(Self.dimension)
                $0.metric = .l2
            })
            return try await withThrowingTaskGroup(of: Bool.self) { group in
                // Two writers, each sending batches of 20 and recording what was acknowledged.
                for writer in 0..<2 {
                    group.addTask {
                        var batch = 0
                        while true {
                            let numbers = (0..<20).map { (writer * 1_000_000) + batch * 20 + $0 }
                            do {
                                _ = try await vectors.upsert(.with {
                                    $0.collection = "crash"
                                    $0.vectors = numbers.map { number in
                                        .with {
                                            $0.id = "v\(number)"
                                            $0.values = Self.values(number)
                                            $0.payload = .with { $0.fields["n"] = .init(numberValue: Double(number)) }
                                        }
                                    }
                                })
                            } catch {
                                return true
                            }
                            acknowledged.numbers.withLock { $0.formUnion(numbers) }
                            batch += 1
                        }
                    }
                }
                group.addTask {
                    let deadline = ContinuousClock.now + .seconds(60)
                    while acknowledged.numbers.withLock({ $0.count }) < 3_000 {
                        guard ContinuousClock.now < deadline else {
                            // Too slow: stop the writers anyway (they end when a call fails).
                            first.signal(SIGKILL)
                            return false
                        }
                        try await Task.sleep(for: .milliseconds(5))
                    }
                    first.signal(SIGKILL)
                    return true
                }
                var results: [Bool] = []
                for try await result in group { results.append(result) }
                return results.allSatisfy { $0 }
            }
        }
        #expect(killed)
        #expect(try await first.waitForExit() == SIGKILL)

        let saved = acknowledged.numbers.withLock { $0 }
        let second = try await TroveProcess.start(role: "vector-search", dataDirectory: dataDirectory)
        defer { Task { await second.stopAndRemove() } }
        try await withClient(second) { client in
            let vectors = Trove_V1_VectorSearch.Client(wrapping: client)
            let info = try await vectors.describeCollection(.with { $0.name = "crash" })
            #expect(Int(info.count) >= saved.count, "unacknowledged batches may survive too, acknowledged ones must")
            var found = 0
            for chunk in Array(saved).chunked(500) {
                let got = try await vectors.get(.with {
                    $0.collection = "crash"
                    $0.ids = chunk.map { "v\($0)" }
                    $0.includeValues = true
                })
                found += got.vectors.count
                for vector in got.vectors {
                    let number = Int(vector.id.dropFirst())!
                    #expect(vector.values == Self.values(number))
                    #expect(vector.payload.fields["n"]?.numberValue == Double(number))
                }
            }
            #expect(found == saved.count, "\(saved.count - found) acknowledged vectors were lost")
            // And the index answers: a stored vector is its own nearest neighbour.
            let probe = saved.min()!
            let nearest = try await vectors.search(.with {
                $0.collection = "crash"
                $0.vector = Self.values(probe)
                $0.k = 1
            })
            #expect(nearest.results.first?.id == "v\(probe)")
        }
    }

    @Test("tombstones past the configured share are compacted in the background; fewer are left alone; the result survives kill -9")
    func automaticCompaction() async throws {
        let environment = [
            "TROVE_VECTOR_SEARCH_COMPACT_TOMBSTONE_PERCENT": "20",
            "TROVE_VECTOR_SEARCH_COMPACT_MIN_TOMBSTONES": "100",
            "TROVE_VECTOR_SEARCH_COMPACT_CHECK_SECONDS": "1",
        ]
        let first = try await TroveProcess.start(role: "vector-search", environment: environment)
        let dataDirectory = first.dataDirectory
        func record(_ number: Int, shift: Int = 0) -> Trove_V1_Vector {
            .with {
                $0.id = "v\(number)"
                $0.values = Self.values(number + shift)
            }
        }
        try await withClient(first) { client in
            let vectors = Trove_V1_VectorSearch.Client(wrapping: client)
            for name in ["churned", "calm"] {
                _ = try await vectors.createCollection(.with {
                    $0.name = name
                    $0.dimension = UInt32(Self.dimension)
                    $0.metric = .l2
                })
                _ = try await vectors.upsert(.with {
                    $0.collection = name
                    $0.vectors = (0..<1_000).map { record($0) }
                })
            }
            // 400 replaced: 400 tombstones of 1,400 slots (29 %), past 20 %.
            _ = try await vectors.upsert(.with {
                $0.collection = "churned"
                $0.vectors = (0..<400).map { record($0, shift: 5_000) }
            })
            // 150 deleted: 150 of 1,000 slots (15 %), under it.
            _ = try await vectors.delete(.with {
                $0.collection = "calm"
                $0.ids = (0..<150).map { "v\($0)" }
            })

            let deadline = ContinuousClock.now + .seconds(60)
            var churned = try await vectors.describeCollection(.with { $0.name = "churned" })
            while churned.tombstones > 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
                churned = try await vectors.describeCollection(.with { $0.name = "churned" })
            }
            #expect(churned.tombstones == 0, "never compacted")
            #expect(churned.count == 1_000)
            // The compactor has passed over "calm" at least once since (it checks every second).
            try await Task.sleep(for: .seconds(2))
            let calm = try await vectors.describeCollection(.with { $0.name = "calm" })
            #expect(calm.tombstones == 150)
            #expect(calm.count == 850)
            // Replaced vectors answer with their new values.
            let nearest = try await vectors.search(.with {
                $0.collection = "churned"
                $0.vector = Self.values(7 + 5_000)
                $0.k = 1
            })
            #expect(nearest.results.first?.id == "v7")
        }
        // Killed: the compacted state must be on disk, not only in memory.
        first.signal(SIGKILL)
        #expect(try await first.waitForExit() == SIGKILL)

        let second = try await TroveProcess.start(role: "vector-search", dataDirectory: dataDirectory)
        defer { Task { await second.stopAndRemove() } }
        try await withClient(second) { client in
            let vectors = Trove_V1_VectorSearch.Client(wrapping: client)
            let churned = try await vectors.describeCollection(.with { $0.name = "churned" })
            #expect(churned.count == 1_000)
            #expect(churned.tombstones == 0)
            let got = try await vectors.get(.with {
                $0.collection = "churned"
                $0.ids = ["v3", "v999"]
                $0.includeValues = true
            })
            #expect(got.vectors.map(\.values) == [Self.values(3 + 5_000), Self.values(999)])
        }
    }

    @Test("statuses name the field: wrong dimension, NaN, unknown collection, duplicate name, ids and filter together")
    func statuses() async throws {
        let process = try await TroveProcess.start(role: "vector-search")
        defer { Task { await process.stopAndRemove() } }
        try await withClient(process) { client in
            let vectors = Trove_V1_VectorSearch.Client(wrapping: client)
            _ = try await vectors.createCollection(.with {
                $0.name = "checked"
                $0.dimension = 3
                $0.metric = .cosine
            })
            await expectRPCError(.alreadyExists, field: "name") {
                _ = try await vectors.createCollection(.with {
                    $0.name = "checked"
                    $0.dimension = 3
                    $0.metric = .cosine
                })
            }
            await expectRPCError(.invalidArgument, field: "metric") {
                _ = try await vectors.createCollection(.with {
                    $0.name = "nometric"
                    $0.dimension = 3
                })
            }
            await expectRPCError(.invalidArgument, field: "vectors[0].values") {
                _ = try await vectors.upsert(.with {
                    $0.collection = "checked"
                    $0.vectors = [.with {
                        $0.id = "a"
                        $0.values = [1, 2]
                    }]
                })
            }
            await expectRPCError(.invalidArgument, field: "vectors[0].values") {
                _ = try await vectors.upsert(.with {
                    $0.collection = "checked"
                    $0.vectors = [.with {
                        $0.id = "a"
                        $0.values = [1, .nan, 2]
                    }]
                })
            }
            await expectRPCError(.notFound, field: "collection") {
                _ = try await vectors.search(.with {
                    $0.collection = "missing"
                    $0.vector = [1, 2, 3]
                })
            }
            await expectRPCError(.invalidArgument, field: "searches[1].vector") {
                _ = try await vectors.searchBatch(.with {
                    $0.searches = [
                        .with {
                            $0.collection = "checked"
                            $0.vector = [1, 2, 3]
                        },
                        .with {
                            $0.collection = "checked"
                            $0.vector = [1]
                        },
                    ]
                })
            }
            await expectRPCError(.invalidArgument, field: "ids") {
                _ = try await vectors.delete(.with {
                    $0.collection = "checked"
                    $0.ids = ["a"]
                    $0.filter = .with { $0.condition = .with { $0.field = "n"; $0.exists = true } }
                })
            }
        }
    }
}

/// Ids whose upserts were acknowledged, shared by the writer tasks.
private final class AcknowledgedNumbers: Sendable {
    let numbers = Mutex<Set<Int>>([])
}

extension Array {
    func chunked(_ size: Int) -> [[Element]] {
        stride(from: 0, to: self.count, by: size).map { Array(self[$0..<Swift.min($0 + size, self.count)]) }
    }
}
