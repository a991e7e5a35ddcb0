import Foundation
import JSONFilter
import Synchronization

/// What a collection is: fixed when it is created.
public struct CollectionConfiguration: Sendable, Hashable, Codable {
    public var name: String
    public var dimension: Int
    public var metric: VectorMetric
    public var parameters: HNSWParameters
    public var embeddingModel: String
    /// Answer every search by exact scan instead of walking the graph.
    public var exactOnly: Bool

    public init(name: String, dimension: Int, metric: VectorMetric, parameters: HNSWParameters = HNSWParameters(), embeddingModel: String = "", exactOnly: Bool = false) {
        self.name = name
        self.dimension = dimension
        self.metric = metric
        self.parameters = parameters
        self.embeddingModel = embeddingModel
        self.exactOnly = exactOnly
    }
}

extension VectorMetric: Codable {}

/// A vector with its id and payload.
public struct VectorRecord: Sendable, Hashable {
    /// 1 to 512 bytes of UTF-8.
    public var id: String
    public var values: [Float]
    public var payload: JSONObject?

    public init(id: String, values: [Float], payload: JSONObject? = nil) {
        self.id = id
        self.values = values
        self.payload = payload
    }
}

/// One nearest-neighbour query.
public struct VectorQuery: Sendable {
    public var vector: [Float]
    public var k: Int = 10
    /// nil uses the collection's ef_search.
    public var ef: Int?
    /// Only results scoring above this.
    public var minimumScore: Float?
    public var filter: MetadataFilter?
    /// Compare with every vector instead of walking the graph.
    public var exact = false

    public init(vector: [Float], k: Int = 10, ef: Int? = nil, minimumScore: Float? = nil, filter: MetadataFilter? = nil, exact: Bool = false) {
        self.vector = vector
        self.k = k
        self.ef = ef
        self.minimumScore = minimumScore
        self.filter = filter
        self.exact = exact
    }
}

/// A search result: higher scores are more similar.
public struct ScoredRecord: Sendable {
    public var id: String
    public var score: Float
    public var values: [Float]?
    public var payload: JSONObject?
}

/// Counts and sizes of a collection.
public struct CollectionStatistics: Sendable, Hashable {
    public var count: Int
    public var tombstones: Int
    public var memoryBytes: Int
    public var diskBytes: Int
    public var maxLevel: Int
    public var walBytes: Int
    public var lastSnapshotSequence: UInt64
}

/// When a collection's tombstones are worth a compaction: at least `minimumTombstones` of them,
/// making up at least `tombstonePercent` of its slots (live vectors and tombstones). Deleted and
/// replaced vectors keep their memory and slow searches (the graph walks through them) until then.
public struct CompactionPolicy: Sendable, Hashable {
    /// 1 to 100.
    public var tombstonePercent: Int
    public var minimumTombstones: Int

    public init(tombstonePercent: Int = 20, minimumTombstones: Int = 1_000) {
        self.tombstonePercent = tombstonePercent
        self.minimumTombstones = minimumTombstones
    }

    public func wantsCompaction(_ statistics: CollectionStatistics) -> Bool {
        let slots = statistics.count + statistics.tombstones
        return statistics.tombstones > 0 && statistics.tombstones >= self.minimumTombstones
            && statistics.tombstones * 100 >= self.tombstonePercent * slots
    }
}

/// One collection: an HNSW index, its write-ahead log and its snapshot, in one directory.
///
/// Writes (upsert, delete, compaction, snapshots) take turns under `writer`; each is logged and,
/// under `.everyWrite`, fsynced before it is applied and acknowledged. Searches and reads run
/// beside writes on the current index; compaction builds a new index beside the old one and
/// swaps it in, so searches never stop.
public final class VectorCollection: Sendable {
    public let configuration: CollectionConfiguration
    let directory: String
    private let durability: Durability
    private let snapshotAfterLogBytes: Int
    /// Bytes of memory the store's budget still allows, across all its collections.
    private let memoryHeadroom: @Sendable () -> Int
    private let writer: Mutex<WriterState>
    /// The index searches use; replaced whole by compaction.
    private let current: Mutex<HNSWIndex>

    /// What only the writer touches.
    private struct WriterState {
        var log: WriteAheadLog?
        var sequence: UInt64 = 0
        var snapshotSequence: UInt64 = 0
        var snapshotBytes = 0
    }

    static let configurationFile = "collection.json"
    static let snapshotFile = "snapshot.hnsw"
    static let logFile = "wal.log"

    /// Longest id, in UTF-8 bytes.
    public static let maximumIDBytes = 512

    /// Opens a collection directory: loads the snapshot, then replays the log after it.
    init(directory: String, durability: Durability, snapshotAfterLogBytes: Int, memoryHeadroom: @escaping @Sendable () -> Int) throws(VectorIndexError) {
        self.directory = directory
        self.durability = durability
        self.snapshotAfterLogBytes = snapshotAfterLogBytes
        self.memoryHeadroom = memoryHeadroom
        let configurationPath = directory + "/" + Self.configurationFile
        guard let data = FileManager.default.contents(atPath: configurationPath),
            let configuration = try? JSONDecoder().decode(CollectionConfiguration.self, from: data)
        else {
            throw VectorIndexError(.dataLoss, "\(configurationPath) is missing or unreadable")
        }
        self.configuration = configuration

        var index: HNSWIndex
        var state = WriterState()
        let snapshotPath = directory + "/" + Self.snapshotFile
        if FileManager.default.fileExists(atPath: snapshotPath) {
            let (restored, sequence) = try SnapshotFile.read(from: snapshotPath)
            guard restored.dimension == configuration.dimension, restored.metric == configuration.metric else {
                throw VectorIndexError(.dataLoss, "the snapshot \(snapshotPath) does not match \(Self.configurationFile)")
            }
            index = restored
            state.sequence = sequence
            state.snapshotSequence = sequence
            state.snapshotBytes = (try? FileManager.default.attributesOfItem(atPath: snapshotPath)[.size] as? Int) ?? 0
        } else {
            index = HNSWIndex(dimension: configuration.dimension, metric: configuration.metric, parameters: configuration.parameters)
        }
        let replayIndex = index
        var lastSequence = state.sequence
        state.log = try WriteAheadLog(path: directory + "/" + Self.logFile, replayAfter: state.sequence) { (sequence, record) throws(VectorIndexError) in
            Self.apply(record, to: replayIndex, link: !configuration.exactOnly)
            lastSequence = sequence
        }
        state.sequence = lastSequence
        self.current = Mutex(index)
        self.writer = Mutex(state)
    }

    /// Creates the directory of a new collection (atomically: a temporary directory renamed).
    static func create(
        _ configuration: CollectionConfiguration,
        directory: String,
        durability: Durability,
        snapshotAfterLogBytes: Int,
        memoryHeadroom: @escaping @Sendable () -> Int
    ) throws(VectorIndexError) -> VectorCollection {
        let temporary = directory + ".creating"
        try? FileManager.default.removeItem(atPath: temporary)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        guard let data = try? encoder.encode(configuration),
            (try? FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: true)) != nil
        else {
            throw VectorIndexError(.ioError, "cannot create \(temporary)")
        }
        let file = try PosixFile.open(temporary + "/" + Self.configurationFile, flags: O_WRONLY | O_CREAT | O_TRUNC)
        defer { file.close() }
        try [UInt8](data).withBytes { (buffer) throws(VectorIndexError) in try file.write(buffer) }
        try file.sync()
        try PosixFile.syncDirectory(temporary)
        guard rename(temporary, directory) == 0 else { throw PosixFile.error("rename", temporary) }
        try PosixFile.syncDirectory((directory as NSString).deletingLastPathComponent)
        return try VectorCollection(directory: directory, durability: durability, snapshotAfterLogBytes: snapshotAfterLogBytes, memoryHeadroom: memoryHeadroom)
    }

    private var index: HNSWIndex {
        self.current.withLock { index -> HNSWIndex in
            let reference: HNSWIndex = index
            return reference
        }
    }

    // MARK: Writes

    /// Inserts or replaces vectors by id; returns how many. A batch that needs more memory than
    /// the store's budget leaves is refused whole.
    public func upsert(_ records: [VectorRecord]) throws(VectorIndexError) -> Int {
        guard !records.isEmpty else { return 0 }
        let index = self.index
        var logged: [LogRecord] = []
        logged.reserveCapacity(records.count)
        var labelBytes = 0
        var payloadBytes = 0
        for (position, var record) in records.enumerated() {
            try Self.validate(id: record.id, field: "vectors[\(position)].id")
            try self.normalize(&record.values, field: "vectors[\(position)].values")
            let payloadJSON = record.payload.map { JSONValue.object($0).jsonText }
            labelBytes += record.id.utf8.count
            payloadBytes += payloadJSON?.utf8.count ?? 0
            logged.append(.upsert(id: record.id, values: record.values, payload: record.payload, payloadJSON: payloadJSON))
        }
        let needed = index.additionalBytes(inserting: records.count, labelBytes: labelBytes, payloadBytes: payloadBytes)
        let budget = self.memoryHeadroom()
        guard needed <= budget else {
            throw VectorIndexError(
                .resourceExhausted,
                "the batch needs about \(needed) bytes of memory but the memory budget leaves \(max(budget, 0)); delete and compact, or raise vector_search.memory_budget_bytes"
            )
        }
        return try self.writer.withLock { (state) throws(VectorIndexError) -> Int in
            try self.commit(logged, state: &state)
        }
    }

    /// Deletes vectors by id; ids that do not exist are skipped. Returns how many were deleted.
    public func delete(ids: [String]) throws(VectorIndexError) -> Int {
        for (position, id) in ids.enumerated() { try Self.validate(id: id, field: "ids[\(position)]") }
        return try self.writer.withLock { (state) throws(VectorIndexError) -> Int in
            let index = self.index
            var seen = Set<String>()
            let unique = index.withSharedAccess { ids.filter { index.slotsByLabel[$0] != nil && seen.insert($0).inserted } }
            return try self.commit(unique.map { LogRecord.delete(id: $0) }, state: &state)
        }
    }

    /// Deletes every vector whose payload passes `filter`. Returns how many were deleted.
    public func delete(filter: MetadataFilter) throws(VectorIndexError) -> Int {
        let compiled = try Self.compile(filter)
        return try self.writer.withLock { (state) throws(VectorIndexError) -> Int in
            let index = self.index
            let matching: [String] = index.withSharedAccess {
                (0..<index.count).compactMap { slot in
                    guard !index.isDeleted(slot), let payload = index.payloads[slot], compiled.matches(payload) else { return nil }
                    return index.labels[slot]
                }
            }
            return try self.commit(matching.map { LogRecord.delete(id: $0) }, state: &state)
        }
    }

    /// Logs the records (fsynced under `.everyWrite`), then applies them; the writer holds `state`.
    private func commit(_ records: [LogRecord], state: inout WriterState) throws(VectorIndexError) -> Int {
        guard !records.isEmpty, let log = state.log else { return 0 }
        var encoded = ByteWriter()
        var sequence = state.sequence
        for record in records {
            sequence += 1
            WriteAheadLog.encode(record, sequence: sequence, into: &encoded)
        }
        try log.append(encoded, sync: self.durability == .everyWrite)
        state.sequence = sequence
        let index = self.index
        for record in records { Self.apply(record, to: index, link: !self.configuration.exactOnly) }
        if log.bytes >= self.snapshotAfterLogBytes {
            try self.writeSnapshot(state: &state)
        }
        return records.count
    }

    /// Applies one logged change to the index (already validated and normalised). Exact-only
    /// collections store vectors without linking them into a graph.
    private static func apply(_ record: LogRecord, to index: HNSWIndex, link: Bool) {
        switch record {
        case .upsert(let id, let values, let payload, let payloadJSON):
            if let slot = index.slotsByLabel[id] { index.delete(Int(slot)) }
            let payloadBytes = payloadJSON?.utf8.count ?? 0
            values.withUnsafeBufferPointer { _ = index.insert($0.baseAddress!, label: id, payload: payload, payloadBytes: payloadBytes, link: link) }
        case .delete(let id):
            if let slot = index.slotsByLabel[id] { index.delete(Int(slot)) }
        }
    }

    /// fsyncs the log if writes are waiting for it (the `.interval` policy's timer calls this).
    public func syncLog() throws(VectorIndexError) {
        try self.writer.withLock { (state) throws(VectorIndexError) in try state.log?.sync() }
    }

    // MARK: Snapshots and compaction

    /// Writes a snapshot of everything logged so far and empties the log.
    @discardableResult
    public func snapshot() throws(VectorIndexError) -> (sequence: UInt64, bytes: Int) {
        try self.writer.withLock { (state) throws(VectorIndexError) in
            try self.writeSnapshot(state: &state)
            return (state.snapshotSequence, state.snapshotBytes)
        }
    }

    private func writeSnapshot(state: inout WriterState) throws(VectorIndexError) {
        state.snapshotBytes = try SnapshotFile.write(self.index, sequence: state.sequence, to: self.directory + "/" + Self.snapshotFile)
        state.snapshotSequence = state.sequence
        try state.log?.reset()
    }

    /// Drops tombstoned vectors: builds a compacted index beside the current one (searches go on),
    /// swaps it in and writes a snapshot. Returns the vectors removed and the bytes of memory freed.
    public func compact() throws(VectorIndexError) -> (removed: Int, bytesReclaimed: Int) {
        try self.writer.withLock { (state) throws(VectorIndexError) in
            let old = self.index
            let removed = old.count - old.liveCount
            guard removed > 0 else { return (0, 0) }
            let compacted = old.compacted()
            self.current.withLock { $0 = compacted }
            try self.writeSnapshot(state: &state)
            return (removed, max(old.memoryBytes - compacted.memoryBytes, 0))
        }
    }

    // MARK: Reads

    public func get(ids: [String], includeValues: Bool) -> [VectorRecord] {
        let index = self.index
        return index.withSharedAccess {
            ids.compactMap { id in
                guard let slot = index.slotsByLabel[id].map(Int.init) else { return nil }
                let values = includeValues ? Array(UnsafeBufferPointer(start: index.vector(slot), count: index.dimension)) : []
                return VectorRecord(id: id, values: values, payload: index.payloads[slot])
            }
        }
    }

    /// Below this many passing vectors (estimated) a filtered search scans them exactly.
    static let exactFilterThreshold = 2_000
    /// Collections this small are always searched exactly: a scan costs about what a graph walk
    /// does and is never wrong.
    static let exactCollectionThreshold = 1_024
    /// Payloads sampled to estimate a filter's selectivity.
    static let selectivitySample = 512

    /// The query's nearest neighbours, best first.
    public func search(_ query: VectorQuery, includeValues: Bool = false, includePayload: Bool = false) throws(VectorIndexError) -> [ScoredRecord] {
        guard (1...10_000).contains(query.k) else { throw VectorIndexError.invalid("k", "must be 1 to 10,000, not \(query.k)") }
        var vector = query.vector
        try self.normalize(&vector, field: "vector")
        let ef = query.ef ?? self.configuration.parameters.efSearch
        guard (1...100_000).contains(ef) else { throw VectorIndexError.invalid("ef", "must be 1 to 100,000, not \(ef)") }
        let compiled = try query.filter.map { (filter) throws(VectorIndexError) in try Self.compile(filter) }
        let index = self.index
        let metric = self.configuration.metric
        return vector.withUnsafeBufferPointer { buffer in
            let pointer = buffer.baseAddress!
            let accept = compiled.map { filter in { (slot: Int) in index.payloads[slot].map(filter.matches) ?? false } }
            // Exact when asked, when the collection is small, or when few vectors pass the filter.
            var exact = query.exact || self.configuration.exactOnly || index.liveCount <= Self.exactCollectionThreshold
            if !exact, let compiled {
                exact = self.estimatedMatches(compiled, in: index) <= Self.exactFilterThreshold
            }
            var found = exact ? index.exactSearch(pointer, k: query.k, accept: accept) : index.search(pointer, k: query.k, ef: ef, accept: accept)
            if let minimumScore = query.minimumScore {
                found.removeAll { metric.score(distance: $0.distance) <= minimumScore }
            }
            return index.withSharedAccess {
                found.map { neighbor in
                    let slot = Int(neighbor.slot)
                    return ScoredRecord(
                        id: index.labels[slot],
                        score: metric.score(distance: neighbor.distance),
                        values: includeValues ? Array(UnsafeBufferPointer(start: index.vector(slot), count: index.dimension)) : nil,
                        payload: includePayload ? index.payloads[slot] : nil
                    )
                }
            }
        }
    }

    /// How many live vectors pass the filter, estimated from a fixed sample of slots.
    private func estimatedMatches(_ filter: CompiledFilter, in index: HNSWIndex) -> Int {
        index.withSharedAccess {
            let count = index.count
            guard count > Self.selectivitySample else {
                return (0..<count).filter { !index.isDeleted($0) && (index.payloads[$0].map(filter.matches) ?? false) }.count
            }
            var sampled = 0
            var passed = 0
            var random = SplitMix64(seed: UInt64(count))
            while sampled < Self.selectivitySample {
                let slot = Int(random.next() % UInt64(count))
                guard !index.isDeleted(slot) else {
                    if index.liveCount == 0 { return 0 }
                    continue
                }
                sampled += 1
                if index.payloads[slot].map(filter.matches) ?? false { passed += 1 }
            }
            return passed * index.liveCount / sampled
        }
    }

    public var statistics: CollectionStatistics {
        let index = self.index
        let (walBytes, snapshotSequence, snapshotBytes) = self.writer.withLock { ($0.log?.bytes ?? 0, $0.snapshotSequence, $0.snapshotBytes) }
        return index.withSharedAccess {
            CollectionStatistics(
                count: index.liveCount,
                tombstones: index.count - index.liveCount,
                memoryBytes: index.memoryBytes,
                diskBytes: snapshotBytes + walBytes,
                maxLevel: max(index.maxLevel, 0),
                walBytes: walBytes,
                lastSnapshotSequence: snapshotSequence
            )
        }
    }

    var memoryBytes: Int {
        let index = self.index
        return index.withSharedAccess { index.memoryBytes }
    }

    // MARK: Validation

    private static func compile(_ filter: MetadataFilter) throws(VectorIndexError) -> CompiledFilter {
        do {
            return try filter.compiled()
        } catch {
            throw VectorIndexError.invalid(error.field, error.message)
        }
    }

    static func validate(id: String, field: String) throws(VectorIndexError) {
        let bytes = id.utf8.count
        guard bytes >= 1, bytes <= Self.maximumIDBytes else {
            throw VectorIndexError.invalid(field, "must be 1 to \(Self.maximumIDBytes) bytes of UTF-8, not \(bytes)")
        }
    }

    /// Checks the dimension and finiteness, and scales to unit length for cosine.
    private func normalize(_ values: inout [Float], field: String) throws(VectorIndexError) {
        guard values.count == self.configuration.dimension else {
            throw VectorIndexError.invalid(field, "has \(values.count) values but the collection '\(self.configuration.name)' has dimension \(self.configuration.dimension)")
        }
        for (position, value) in values.enumerated() where !value.isFinite {
            throw VectorIndexError.invalid(field, "value \(position) is \(value); vectors must be finite")
        }
        guard values.withUnsafeMutableBufferPointer({ self.configuration.metric.prepare($0) }) else {
            throw VectorIndexError.invalid(field, "is a zero vector, which has no direction for cosine similarity")
        }
    }
}
