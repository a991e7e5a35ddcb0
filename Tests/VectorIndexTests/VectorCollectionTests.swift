import Foundation
import JSONFilter
import Testing

@testable import VectorIndex

/// A fresh store in a temporary directory, removed afterwards.
func withStore<Result>(
    options: VectorStore.Options = VectorStore.Options(),
    _ body: (VectorStore, String) throws -> Result
) throws -> Result {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("trove-vectors-\(UUID())").path
    defer { try? FileManager.default.removeItem(atPath: directory) }
    return try body(try VectorStore(directory: directory, options: options), directory)
}

/// Seeded clustered vectors: `clusters` centres with spread around each.
func clusteredVectors(count: Int, dimension: Int, clusters: Int = 50, seed: UInt64 = 1) -> [[Float]] {
    var random = SplitMix64(seed: seed)
    func gaussian() -> Float { random.nextGaussian() }
    let centres = (0..<clusters).map { _ in (0..<dimension).map { _ in gaussian() } }
    return (0..<count).map { _ in
        let centre = centres[Int(random.next() % UInt64(clusters))]
        return centre.map { $0 + 0.4 * gaussian() }
    }
}

/// Mean overlap of the top-k ids with exact search's top-k.
func recall(_ collection: VectorCollection, queries: [[Float]], k: Int = 10, ef: Int? = nil, filter: MetadataFilter? = nil) throws -> Double {
    var hits = 0
    var total = 0
    for query in queries {
        let exact = try collection.search(VectorQuery(vector: query, k: k, filter: filter, exact: true)).map(\.id)
        let approximate = try collection.search(VectorQuery(vector: query, k: k, ef: ef, filter: filter)).map(\.id)
        hits += Set(exact).intersection(approximate).count
        total += exact.count
    }
    return total == 0 ? 1 : Double(hits) / Double(total)
}

func fileSize(_ path: String) -> Int {
    (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
}

@Suite("Vector collections: HNSW search, validation, deletes")
struct VectorCollectionTests {
    @Test("graph search finds what exact search finds (recall@10 ≥ 0.95) for every metric")
    func recallAgainstExact() throws {
        try withStore { store, _ in
            let vectors = clusteredVectors(count: 3_000, dimension: 32)
            let queries = clusteredVectors(count: 100, dimension: 32, seed: 99)
            for metric in VectorMetric.allCases {
                let collection = try store.create(CollectionConfiguration(name: "recall-\(metric.rawValue)", dimension: 32, metric: metric))
                let upserted = try collection.upsert(vectors.enumerated().map { VectorRecord(id: "v\($0.offset)", values: $0.element) })
                #expect(upserted == 3_000)
                // Inner product is not a metric (a long vector is "near" everything), so its graph
                // is harder to walk on vectors of unequal length: it gets twice the ef.
                let measured = try recall(collection, queries: queries, ef: metric == .innerProduct ? 128 : 64)
                #expect(measured >= 0.95, "\(metric): recall \(measured)")
                #expect(collection.statistics.count == 3_000)
            }
        }
    }

    @Test("scores: cosine similarity, inner product and negated squared L2, best first, above a threshold")
    func scores() throws {
        try withStore { store, _ in
            let cosine = try store.create(CollectionConfiguration(name: "cosine", dimension: 2, metric: .cosine))
            let l2 = try store.create(CollectionConfiguration(name: "l2", dimension: 2, metric: .l2))
            for collection in [cosine, l2] {
                _ = try collection.upsert([
                    VectorRecord(id: "east", values: [2, 0]), VectorRecord(id: "north", values: [0, 3]),
                    VectorRecord(id: "north-east", values: [1, 1]),
                ])
            }
            let byCosine = try cosine.search(VectorQuery(vector: [1, 0], k: 3))
            #expect(byCosine.map(\.id) == ["east", "north-east", "north"])
            #expect(abs(byCosine[0].score - 1) < 1e-6)
            #expect(abs(byCosine[1].score - 0.70710677) < 1e-6)
            let byL2 = try l2.search(VectorQuery(vector: [1, 0], k: 3))
            // east and north-east are both at squared distance 1: either may come first.
            #expect(Set(byL2.prefix(2).map(\.id)) == ["east", "north-east"])
            #expect(byL2.last?.id == "north")
            #expect(byL2.map(\.score) == [-1, -1, -10])
            let above = try cosine.search(VectorQuery(vector: [1, 0], k: 3, minimumScore: 0.5))
            #expect(above.map(\.id) == ["east", "north-east"])
        }
    }

    @Test("wrong dimensions, NaN, infinity, zero vectors, bad ids, k and ef are INVALID_ARGUMENT naming the field")
    func validation() throws {
        try withStore { store, _ in
            let collection = try store.create(CollectionConfiguration(name: "checked", dimension: 3, metric: .cosine))
            func field(_ body: () throws -> Void) -> String? {
                do {
                    try body()
                    return nil
                } catch let error as VectorIndexError {
                    #expect(error.code == .invalidArgument)
                    return error.field
                } catch {
                    return "unexpected \(error)"
                }
            }
            #expect(field { _ = try collection.upsert([VectorRecord(id: "a", values: [1, 2, 3]), VectorRecord(id: "b", values: [1, 2])]) } == "vectors[1].values")
            #expect(field { _ = try collection.upsert([VectorRecord(id: "a", values: [1, .nan, 3])]) } == "vectors[0].values")
            #expect(field { _ = try collection.upsert([VectorRecord(id: "a", values: [1, .infinity, 3])]) } == "vectors[0].values")
            #expect(field { _ = try collection.upsert([VectorRecord(id: "a", values: [0, 0, 0])]) } == "vectors[0].values")
            #expect(field { _ = try collection.upsert([VectorRecord(id: "", values: [1, 2, 3])]) } == "vectors[0].id")
            #expect(field { _ = try collection.upsert([VectorRecord(id: String(repeating: "x", count: 513), values: [1, 2, 3])]) } == "vectors[0].id")
            #expect(field { _ = try collection.search(VectorQuery(vector: [1, 2])) } == "vector")
            #expect(field { _ = try collection.search(VectorQuery(vector: [1, 2, 3], k: 0)) } == "k")
            #expect(field { _ = try collection.search(VectorQuery(vector: [1, 2, 3], ef: 0)) } == "ef")
            #expect(field { _ = try store.create(CollectionConfiguration(name: "../escape", dimension: 3, metric: .l2)) } == "name")
            #expect(field { _ = try store.create(CollectionConfiguration(name: "zero", dimension: 0, metric: .l2)) } == "dimension")
            // A refused batch wrote nothing, not even its valid first half.
            #expect(collection.statistics.count == 0)
            #expect(collection.statistics.walBytes == 0)
            #expect(throws: VectorIndexError.self) { _ = try store.create(CollectionConfiguration(name: "checked", dimension: 3, metric: .l2)) }
            #expect(throws: VectorIndexError.self) { _ = try store.collection("missing") }
        }
    }

    @Test("upsert replaces by id; get returns values and payloads; delete by id and by filter")
    func upsertGetDelete() throws {
        try withStore { store, _ in
            let collection = try store.create(CollectionConfiguration(name: "crud", dimension: 2, metric: .l2))
            _ = try collection.upsert([
                VectorRecord(id: "a", values: [1, 1], payload: ["colour": .string("red"), "size": .number(3)]),
                VectorRecord(id: "b", values: [2, 2], payload: ["colour": .string("blue"), "size": .number(5)]),
                VectorRecord(id: "c", values: [3, 3], payload: ["colour": .string("red"), "size": .number(7)]),
            ])
            _ = try collection.upsert([VectorRecord(id: "a", values: [9, 9], payload: ["colour": .string("green")])])
            let got = collection.get(ids: ["a", "missing", "b"], includeValues: true)
            #expect(got.map(\.id) == ["a", "b"])
            #expect(got[0].values == [9, 9])
            #expect(got[0].payload == ["colour": .string("green")])
            #expect(collection.statistics.count == 3)
            #expect(collection.statistics.tombstones == 1)

            #expect(try collection.delete(ids: ["b", "b", "missing"]) == 1)
            #expect(try collection.delete(filter: .equals(field: "colour", value: .string("red"))) == 1)
            #expect(collection.get(ids: ["a", "b", "c"], includeValues: false).map(\.id) == ["a"])
            #expect(try collection.search(VectorQuery(vector: [3, 3], k: 10)).map(\.id) == ["a"])
        }
    }

    @Test("filtered search keeps recall@10 ≥ 0.95 at 1% and 10% selectivity")
    func filteredRecall() throws {
        try withStore { store, _ in
            let collection = try store.create(CollectionConfiguration(name: "filtered", dimension: 32, metric: .cosine))
            let vectors = clusteredVectors(count: 20_000, dimension: 32, seed: 5)
            _ = try collection.upsert(
                vectors.enumerated().map { position, values in
                    VectorRecord(id: "v\(position)", values: values, payload: ["bucket": .number(Double(position % 100))])
                }
            )
            let queries = clusteredVectors(count: 50, dimension: 32, seed: 77)
            let onePercent = MetadataFilter.equals(field: "bucket", value: .number(42))
            let tenPercent = MetadataFilter.numberRange(field: "bucket", NumberRange(lessThan: 10))
            let atOne = try recall(collection, queries: queries, filter: onePercent)
            let atTen = try recall(collection, queries: queries, filter: tenPercent)
            #expect(atOne >= 0.95, "1%: \(atOne)")
            #expect(atTen >= 0.95, "10%: \(atTen)")
            // Every result passes the filter.
            let results = try collection.search(VectorQuery(vector: queries[0], k: 10, filter: tenPercent), includePayload: true)
            #expect(results.count == 10)
            #expect(results.allSatisfy { if case .number(let bucket)? = $0.payload?["bucket"] { bucket < 10 } else { false } })
        }
    }

    @Test("deleting half and compacting keeps recall and shrinks memory and files")
    func deleteHalfAndCompact() throws {
        try withStore { store, directory in
            let collection = try store.create(CollectionConfiguration(name: "compacted", dimension: 32, metric: .l2))
            let vectors = clusteredVectors(count: 6_000, dimension: 32, seed: 11)
            _ = try collection.upsert(vectors.enumerated().map { VectorRecord(id: "v\($0.offset)", values: $0.element) })
            try collection.snapshot()
            let before = collection.statistics
            let snapshotBefore = fileSize(directory + "/compacted/snapshot.hnsw")

            #expect(try collection.delete(ids: (0..<6_000).filter { $0 % 2 == 0 }.map { "v\($0)" }) == 3_000)
            let queries = clusteredVectors(count: 100, dimension: 32, seed: 12)
            let afterDelete = try recall(collection, queries: queries, ef: 64)
            #expect(afterDelete >= 0.95, "after delete: \(afterDelete)")

            let (removed, reclaimed) = try collection.compact()
            #expect(removed == 3_000)
            #expect(reclaimed > 0)
            let after = collection.statistics
            #expect(after.count == 3_000)
            #expect(after.tombstones == 0)
            #expect(after.memoryBytes < before.memoryBytes * 6 / 10)
            #expect(fileSize(directory + "/compacted/snapshot.hnsw") < snapshotBefore * 6 / 10)
            #expect(after.walBytes == 0)
            let afterCompact = try recall(collection, queries: queries, ef: 64)
            #expect(afterCompact >= 0.95, "after compaction: \(afterCompact)")
            #expect(collection.get(ids: ["v0", "v1"], includeValues: false).map(\.id) == ["v1"])
        }
    }

    @Test("the compaction policy wants both the share and the minimum number of tombstones")
    func compactionPolicy() {
        let policy = CompactionPolicy(tombstonePercent: 20, minimumTombstones: 1_000)
        func statistics(live: Int, tombstones: Int) -> CollectionStatistics {
            CollectionStatistics(count: live, tombstones: tombstones, memoryBytes: 0, diskBytes: 0, maxLevel: 0, walBytes: 0, lastSnapshotSequence: 0)
        }
        #expect(policy.wantsCompaction(statistics(live: 4_000, tombstones: 1_000)))  // exactly 20 %
        #expect(!policy.wantsCompaction(statistics(live: 4_001, tombstones: 1_000)))  // just under
        #expect(!policy.wantsCompaction(statistics(live: 100, tombstones: 999)))  // most, but too few
        #expect(policy.wantsCompaction(statistics(live: 0, tombstones: 1_000)))  // everything deleted
        #expect(!policy.wantsCompaction(statistics(live: 0, tombstones: 0)))
        #expect(CompactionPolicy(tombstonePercent: 100, minimumTombstones: 1).wantsCompaction(statistics(live: 0, tombstones: 1)))
    }

    @Test("searches run while another thread inserts")
    func searchesDuringInserts() async throws {
        try await withStoreAsync { store in
            let collection = try store.create(CollectionConfiguration(name: "busy", dimension: 16, metric: .l2))
            let vectors = clusteredVectors(count: 4_000, dimension: 16, seed: 3)
            _ = try collection.upsert(vectors.prefix(500).enumerated().map { VectorRecord(id: "v\($0.offset)", values: $0.element) })
            try await withThrowingTaskGroup(of: Int.self) { group in
                group.addTask {
                    for start in stride(from: 500, to: 4_000, by: 100) {
                        _ = try collection.upsert((start..<start + 100).map { VectorRecord(id: "v\($0)", values: vectors[$0]) })
                    }
                    return 0
                }
                for searcher in 0..<2 {
                    group.addTask {
                        var answered = 0
                        for round in 0..<300 {
                            let results = try collection.search(VectorQuery(vector: vectors[(round * 7 + searcher) % 4_000], k: 5))
                            #expect(results.count == 5)
                            #expect(zip(results, results.dropFirst()).allSatisfy { $0.score >= $1.score })
                            answered += 1
                        }
                        return answered
                    }
                }
                var total = 0
                for try await answered in group { total += answered }
                #expect(total == 600)
            }
            #expect(collection.statistics.count == 4_000)
            #expect(try recall(collection, queries: Array(vectors.suffix(50)), ef: 64) >= 0.95)
        }
    }
}

func withStoreAsync(_ body: (VectorStore) async throws -> Void) async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("trove-vectors-\(UUID())").path
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try await body(try VectorStore(directory: directory))
}
