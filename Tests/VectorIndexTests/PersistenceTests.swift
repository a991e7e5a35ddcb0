import Foundation
import JSONFilter
import Testing

@testable import VectorIndex

@Suite("Vector persistence: write-ahead log, snapshots, recovery")
struct PersistenceTests {
    @Test("reopening replays the log, then the snapshot plus the log after it")
    func reopen() throws {
        try withStore { _, directory in
            let vectors = clusteredVectors(count: 2_000, dimension: 8, seed: 21)
            do {
                let store = try VectorStore(directory: directory)
                let collection = try store.create(CollectionConfiguration(name: "kept", dimension: 8, metric: .cosine, embeddingModel: "minilm"))
                _ = try collection.upsert(vectors.prefix(1_200).enumerated().map { VectorRecord(id: "v\($0.offset)", values: $0.element, payload: ["n": .number(Double($0.offset))]) })
                try collection.snapshot()
                _ = try collection.upsert(vectors.suffix(800).enumerated().map { VectorRecord(id: "v\(1_200 + $0.offset)", values: $0.element) })
                _ = try collection.delete(ids: ["v1", "v1500"])
                #expect(collection.statistics.walBytes > 0)
            }
            let store = try VectorStore(directory: directory)
            let collection = try store.collection("kept")
            #expect(collection.configuration.embeddingModel == "minilm")
            #expect(collection.statistics.count == 1_998)
            #expect(collection.get(ids: ["v0", "v1", "v1199", "v1500", "v1999"], includeValues: false).map(\.id) == ["v0", "v1199", "v1999"])
            #expect(collection.get(ids: ["v5"], includeValues: false).first?.payload == ["n": .number(5)])
            let nearest = try collection.search(VectorQuery(vector: vectors[1999], k: 1))
            #expect(nearest.first?.id == "v1999")
            // Over 1,024 vectors, so the restored graph (not an exact scan) answers.
            #expect(try recall(collection, queries: Array(vectors.prefix(30)), ef: 64) >= 0.95)
        }
    }

    @Test("a half-written record at the end of the log is cut off; the records before it survive")
    func tornLogTail() throws {
        try withStore { _, directory in
            do {
                let store = try VectorStore(directory: directory)
                let collection = try store.create(CollectionConfiguration(name: "torn", dimension: 4, metric: .l2))
                for position in 0..<10 { _ = try collection.upsert([VectorRecord(id: "v\(position)", values: [Float(position), 0, 0, 1])]) }
            }
            let log = directory + "/torn/wal.log"
            let whole = fileSize(log)
            let handle = try #require(FileHandle(forWritingAtPath: log))
            try handle.truncate(atOffset: UInt64(whole - 7))
            try handle.close()

            let store = try VectorStore(directory: directory)
            let collection = try store.collection("torn")
            #expect(collection.statistics.count == 9)
            #expect(fileSize(log) < whole - 7)
            _ = try collection.upsert([VectorRecord(id: "after", values: [1, 2, 3, 4])])
            let reopened = try VectorStore(directory: directory).collection("torn")
            #expect(reopened.statistics.count == 10)
            #expect(reopened.get(ids: ["v8", "v9", "after"], includeValues: false).map(\.id) == ["v8", "after"])
        }
    }

    @Test("a damaged snapshot is DATA_LOSS, never a silently empty collection")
    func damagedSnapshot() throws {
        try withStore { _, directory in
            do {
                let store = try VectorStore(directory: directory)
                let collection = try store.create(CollectionConfiguration(name: "damaged", dimension: 4, metric: .l2))
                _ = try collection.upsert((0..<50).map { VectorRecord(id: "v\($0)", values: [Float($0), 1, 2, 3]) })
                try collection.snapshot()
            }
            let path = directory + "/damaged/snapshot.hnsw"
            var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            bytes[200] ^= 0xFF
            try bytes.write(to: URL(fileURLWithPath: path))
            #expect {
                _ = try VectorStore(directory: directory)
            } throws: { error in
                (error as? VectorIndexError)?.code == .dataLoss
            }
        }
    }

    @Test("dropping removes the files; create and drop survive a reopen")
    func dropCollection() throws {
        try withStore { store, directory in
            _ = try store.create(CollectionConfiguration(name: "gone", dimension: 4, metric: .l2))
            _ = try store.create(CollectionConfiguration(name: "stays", dimension: 4, metric: .l2))
            try store.drop("gone")
            #expect(!FileManager.default.fileExists(atPath: directory + "/gone"))
            #expect(throws: VectorIndexError.self) { try store.drop("gone") }
            #expect(try VectorStore(directory: directory).list().map(\.configuration.name) == ["stays"])
        }
    }

    @Test("a memory budget refuses the insert that would exceed it and keeps what was there")
    func memoryBudget() throws {
        try withStore { _, directory in
            let store = try VectorStore(directory: directory, options: VectorStore.Options(memoryBudgetBytes: 3 << 20))
            let collection = try store.create(CollectionConfiguration(name: "budget", dimension: 64, metric: .l2))
            var accepted = 0
            var refusal: VectorIndexError?
            let vectors = clusteredVectors(count: 20_000, dimension: 64)
            for start in stride(from: 0, to: 20_000, by: 500) {
                do {
                    accepted += try collection.upsert((start..<start + 500).map { VectorRecord(id: "v\($0)", values: vectors[$0]) })
                } catch let error as VectorIndexError {
                    refusal = error
                    break
                }
            }
            #expect(refusal?.code == .resourceExhausted)
            #expect(accepted > 0 && accepted < 20_000)
            #expect(collection.statistics.count == accepted)
            #expect(collection.statistics.memoryBytes <= 3 << 20)
        }
    }
}

@Suite("Filters evaluated in memory")
struct InMemoryFilterTests {
    let object: JSONObject = [
        "author": .object(["name": .string("Ada"), "age": .number(36)]),
        "tags": .array([.string("math")]),
        "draft": .bool(false),
        "note": .null,
        "published": .string("2026-11-26T10:00:00+02:00"),
    ]

    func matches(_ filter: MetadataFilter) throws -> Bool {
        try filter.compiled().matches(self.object)
    }

    @Test("conditions, nesting, missing fields and timestamps answer as the SQL translation does")
    func semantics() throws {
        #expect(try self.matches(.equals(field: "author.name", value: .string("Ada"))))
        #expect(try !self.matches(.equals(field: "author.name", value: .string("ada"))))
        #expect(try self.matches(.equals(field: "draft", value: .bool(false))))
        #expect(try !self.matches(.equals(field: "draft", value: .number(0))))
        #expect(try self.matches(.equals(field: "note", value: .null)))
        #expect(try self.matches(.isIn(field: "author.age", values: [.number(1), .number(36)])))
        #expect(try !self.matches(.isIn(field: "author.age", values: [])))
        #expect(try self.matches(.numberRange(field: "author.age", NumberRange(greaterThan: 35, lessThanOrEqual: 36))))
        #expect(try !self.matches(.numberRange(field: "author.name", NumberRange(greaterThan: 0))))
        #expect(try self.matches(.exists(field: "note", true)))
        #expect(try self.matches(.exists(field: "author.email", false)))
        #expect(try !self.matches(.exists(field: "tags.first", true)))
        #expect(try self.matches(.not(.equals(field: "missing", value: .number(1)))))
        #expect(try self.matches(.allOf([])))
        #expect(try !self.matches(.anyOf([])))
        let instant = Date(timeIntervalSince1970: 1_795_680_000)  // 2026-11-26T08:00:00Z, the same instant
        #expect(try self.matches(.timeRange(field: "published", TimeRange(atOrAfter: instant, atOrBefore: instant))))
        #expect(try !self.matches(.timeRange(field: "published", TimeRange(after: instant))))
        #expect(try !self.matches(.timeRange(field: "author.name", TimeRange(after: Date(timeIntervalSince1970: 0)))))
    }

    @Test("too deep, too large and badly named filters are refused")
    func limits() {
        var deep = MetadataFilter.exists(field: "a", true)
        for _ in 0..<40 { deep = .not(deep) }
        #expect(throws: FilterError.self) { _ = try deep.compiled() }
        #expect(throws: FilterError.self) { _ = try MetadataFilter.anyOf(Array(repeating: .exists(field: "a", true), count: 2_000)).compiled() }
        #expect(throws: FilterError.self) { _ = try MetadataFilter.exists(field: "a..b", true).compiled() }
        #expect(throws: FilterError.self) { _ = try MetadataFilter.equals(field: "a", value: .array([])).compiled() }
    }
}
