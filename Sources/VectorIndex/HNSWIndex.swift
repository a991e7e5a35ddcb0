import CVectorKernels
import Foundation
import JSONFilter
import Synchronization

/// Parameters of the HNSW graph.
public struct HNSWParameters: Sendable, Hashable, Codable {
    /// Neighbours per node on the upper layers; the base layer keeps twice as many.
    public var m: Int
    /// Candidates considered when linking a new node.
    public var efConstruction: Int
    /// Candidates considered by a search that does not choose its own ef.
    public var efSearch: Int
    /// Seed of the level generator: the same inserts in the same order build the same graph.
    public var seed: UInt64

    public init(m: Int = 16, efConstruction: Int = 200, efSearch: Int = 64, seed: UInt64 = 0x5EED) {
        self.m = m
        self.efConstruction = efConstruction
        self.efSearch = efSearch
        self.seed = seed
    }
}

/// A hierarchical navigable small world graph (Malkov & Yashunin) over fixed-size float vectors,
/// with string labels and JSON payloads per node.
///
/// Nodes live in slots. Vectors are rows of one 64-byte-aligned block; each row is padded to a
/// multiple of 16 floats. The base layer's links are one flat block of `1 + 2M` words per slot
/// (count, then neighbours); upper layers have `1 + M` words per level, allocated per node.
///
/// Concurrency: one writer at a time (the caller serialises inserts, deletes and compaction), any
/// number of searches alongside it. Searches hold `structure` shared; the writer holds it shared
/// while it links nodes and exclusively only to add a slot, grow the blocks or move the entry point.
/// A node's link lists are read and written under that node's one-byte lock.
public final class HNSWIndex: @unchecked Sendable {
    let dimension: Int
    /// Floats per stored row: `dimension` rounded up to 16.
    let stride: Int
    /// 64-byte cache lines per stored row.
    private let rowLines: Int
    let metric: VectorMetric
    let parameters: HNSWParameters
    private let kernel: trove_kernel
    private let maxNeighbors0: Int
    private let levelMultiplier: Double
    private let level0Words: Int
    private let upperWords: Int

    private(set) var capacity: Int = 0
    /// Slots in use, tombstones included.
    private(set) var count: Int = 0
    private(set) var liveCount: Int = 0
    private var vectors: UnsafeMutableRawPointer
    private var level0: UnsafeMutablePointer<UInt32>
    private var upper: UnsafeMutablePointer<UnsafeMutablePointer<UInt32>?>
    private var levels: UnsafeMutablePointer<UInt8>
    private var deleted: UnsafeMutablePointer<UInt8>
    private var locks: UnsafeMutablePointer<UInt8>
    private(set) var labels: [String] = []
    private(set) var payloads: [JSONObject?] = []
    /// Bytes of each payload's JSON text, for memory accounting.
    private var payloadSizes: [UInt32] = []
    private(set) var slotsByLabel: [String: UInt32] = [:]
    private(set) var entryPoint: Int = -1
    private(set) var maxLevel: Int = -1
    private var random: SplitMix64
    private let structure: UnsafeMutablePointer<pthread_rwlock_t>
    private let scratchPool = Mutex<[SearchScratch]>([])
    private var upperLinkWords = 0

    init(dimension: Int, metric: VectorMetric, parameters: HNSWParameters, capacity: Int = 1024) {
        precondition(dimension > 0 && parameters.m >= 2)
        self.dimension = dimension
        self.stride = (dimension + 15) / 16 * 16
        self.rowLines = self.stride / 16
        self.metric = metric
        self.parameters = parameters
        self.kernel = metric.kernel
        self.maxNeighbors0 = 2 * parameters.m
        self.levelMultiplier = 1 / log(Double(parameters.m))
        self.level0Words = 1 + 2 * parameters.m
        self.upperWords = 1 + parameters.m
        self.random = SplitMix64(seed: parameters.seed)
        self.structure = .allocate(capacity: 1)
        pthread_rwlock_init(self.structure, nil)
        self.vectors = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)
        self.level0 = .allocate(capacity: 1)
        self.upper = .allocate(capacity: 1)
        self.levels = .allocate(capacity: 1)
        self.deleted = .allocate(capacity: 1)
        self.locks = .allocate(capacity: 1)
        self.grow(to: max(capacity, 16))
    }

    deinit {
        for slot in 0..<self.count { self.upper[slot]?.deallocate() }
        self.vectors.deallocate()
        self.level0.deallocate()
        self.upper.deallocate()
        self.levels.deallocate()
        self.deleted.deallocate()
        self.locks.deallocate()
        pthread_rwlock_destroy(self.structure)
        self.structure.deallocate()
    }

    // MARK: Storage

    /// Reallocates every per-slot block for `newCapacity` slots. Callers hold `structure` exclusively
    /// (or own the index alone, as in init).
    private func grow(to newCapacity: Int) {
        let rowBytes = self.stride * MemoryLayout<Float>.stride
        let vectors = Self.allocateBlock(byteCount: max(newCapacity * rowBytes, 64))
        vectors.copyMemory(from: self.vectors, byteCount: self.count * rowBytes)
        self.vectors.deallocate()
        self.vectors = vectors

        func regrow<T>(_ old: UnsafeMutablePointer<T>, _ perSlot: Int, fill: T) -> UnsafeMutablePointer<T> {
            let new = Self.allocateBlock(byteCount: newCapacity * perSlot * MemoryLayout<T>.stride)
                .bindMemory(to: T.self, capacity: newCapacity * perSlot)
            new.moveInitialize(from: old, count: self.count * perSlot)
            (new + self.count * perSlot).initialize(repeating: fill, count: (newCapacity - self.count) * perSlot)
            old.deallocate()
            return new
        }
        self.level0 = regrow(self.level0, self.level0Words, fill: 0)
        self.upper = regrow(self.upper, 1, fill: nil)
        self.levels = regrow(self.levels, 1, fill: 0)
        self.deleted = regrow(self.deleted, 1, fill: 0)
        self.locks = regrow(self.locks, 1, fill: 0)
        self.capacity = newCapacity
    }

    /// Allocates a block, on 2 MB pages where Linux allows it (transparent huge pages in `madvise`
    /// mode). Searches read rows and link lists at random, and with 4 KB pages nearly every row
    /// read is also a TLB miss; a block of 2 MB pages cuts those misses to a few hundred pages.
    private static func allocateBlock(byteCount: Int) -> UnsafeMutableRawPointer {
        let hugePage = 2 << 20
        guard byteCount >= hugePage else { return UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: 64) }
        let block = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: hugePage)
        #if os(Linux)
        _ = madvise(block, byteCount / hugePage * hugePage, MADV_HUGEPAGE)
        #endif
        return block
    }

    @inline(__always)
    func vector(_ slot: Int) -> UnsafeMutablePointer<Float> {
        (self.vectors + slot * self.stride * MemoryLayout<Float>.stride).assumingMemoryBound(to: Float.self)
    }

    @inline(__always)
    private func links(_ slot: Int, level: Int) -> UnsafeMutablePointer<UInt32> {
        level == 0 ? self.level0 + slot * self.level0Words : self.upper[slot]! + (level - 1) * self.upperWords
    }

    @inline(__always)
    private func maxNeighbors(level: Int) -> Int {
        level == 0 ? self.maxNeighbors0 : self.parameters.m
    }

    @inline(__always)
    func distance(_ query: UnsafePointer<Float>, _ slot: Int) -> Float {
        self.metric.distance(fromKernel: self.kernel(query, self.vector(slot), self.dimension))
    }

    @inline(__always)
    func isDeleted(_ slot: Int) -> Bool { self.deleted[slot] != 0 }

    func level(_ slot: Int) -> Int { Int(self.levels[slot]) }

    /// Bytes held for vectors, links, labels and payloads (payloads estimated from their JSON).
    private(set) var labelBytes = 0
    private(set) var payloadBytes = 0
    var memoryBytes: Int {
        self.capacity * (self.stride * 4 + self.level0Words * 4 + MemoryLayout<UInt>.size + 3)
            + self.upperLinkWords * 4 + self.labelBytes + self.payloadBytes
            + self.labels.capacity * 16 + self.payloads.capacity * 8 + self.slotsByLabel.capacity * 24
    }

    /// Bytes `count` more vectors would add, counting the doubling of the per-slot blocks when
    /// they run out of room, for memory budgets.
    func additionalBytes(inserting count: Int, labelBytes: Int, payloadBytes: Int) -> Int {
        var capacity = self.capacity
        while self.count + count > capacity { capacity *= 2 }
        let perSlot = self.stride * 4 + self.level0Words * 4 + MemoryLayout<UInt>.size + 3 + 16 + 8 + 24
        // Upper layers hold 1/(M-1) of the nodes on average, at 1 + M words each.
        let upper = count * self.upperWords * 4 / max(self.parameters.m - 1, 1)
        return (capacity - self.capacity) * perSlot + upper + labelBytes + payloadBytes
    }

    func withSharedAccess<Result>(_ body: () throws -> Result) rethrows -> Result {
        pthread_rwlock_rdlock(self.structure)
        defer { pthread_rwlock_unlock(self.structure) }
        return try body()
    }

    private func withExclusiveAccess<Result>(_ body: () throws -> Result) rethrows -> Result {
        pthread_rwlock_wrlock(self.structure)
        defer { pthread_rwlock_unlock(self.structure) }
        return try body()
    }

    private func withScratch<Result>(_ body: (inout SearchScratch) throws -> Result) rethrows -> Result {
        var scratch = self.scratchPool.withLock { $0.popLast() } ?? SearchScratch(maxNeighbors: self.maxNeighbors0)
        defer { self.scratchPool.withLock { [scratch] in $0.append(scratch) } }
        return try body(&scratch)
    }

    /// Copies a node's neighbours at `level` under its lock.
    @inline(__always)
    private func readNeighbors(_ slot: Int, level: Int, into buffer: inout [UInt32]) {
        buffer.removeAll(keepingCapacity: true)
        trove_lock(self.locks + slot)
        let list = self.links(slot, level: level)
        let count = Int(list[0])
        for index in 0..<count { buffer.append(list[1 + index]) }
        trove_unlock(self.locks + slot)
    }

    /// Copies a node's neighbours at `level` under its lock into `buffer` (room for 2M), returning
    /// how many there are. Not an overload of `readNeighbors`: `&array` would silently convert to
    /// the pointer and write past an empty array's storage.
    @inline(__always)
    private func copyNeighbors(_ slot: Int, level: Int, to buffer: UnsafeMutablePointer<UInt32>) -> Int {
        trove_lock(self.locks + slot)
        let list = self.links(slot, level: level)
        let count = Int(list[0])
        // A plain loop: at most 2M words, too few to be worth a call to memmove.
        for index in 0..<count { buffer[index] = list[1 + index] }
        trove_unlock(self.locks + slot)
        return count
    }

    /// Sets a node's list at `level` to the slots of `neighbors`, under its lock.
    private func writeNeighbors(_ slot: Int, level: Int, _ neighbors: UnsafeBufferPointer<Neighbor>) {
        trove_lock(self.locks + slot)
        let list = self.links(slot, level: level)
        for (index, neighbor) in neighbors.enumerated() { list[1 + index] = neighbor.slot }
        list[0] = UInt32(neighbors.count)
        trove_unlock(self.locks + slot)
    }

    private func writeNeighbors(_ slot: Int, level: Int, _ neighbors: [UInt32]) {
        trove_lock(self.locks + slot)
        let list = self.links(slot, level: level)
        for (index, neighbor) in neighbors.enumerated() { list[1 + index] = neighbor }
        list[0] = UInt32(neighbors.count)
        trove_unlock(self.locks + slot)
    }

    // MARK: Insert

    /// Puts a node in the next slot with empty link lists and counts it live; returns the slot.
    /// The caller owns the index alone or holds `structure` exclusively, and has made room.
    private func appendNode(_ vector: UnsafePointer<Float>, level: Int, label: String, payload: JSONObject?, payloadBytes: Int) -> Int {
        let slot = self.count
        let row = self.vector(slot)
        row.update(from: vector, count: self.dimension)
        (row + self.dimension).update(repeating: 0, count: self.stride - self.dimension)
        self.levels[slot] = UInt8(level)
        self.level0[slot * self.level0Words] = 0
        if level > 0 {
            let words = level * self.upperWords
            let lists = UnsafeMutablePointer<UInt32>.allocate(capacity: words)
            lists.initialize(repeating: 0, count: words)
            self.upper[slot] = lists
            self.upperLinkWords += words
        }
        self.deleted[slot] = 0
        self.labels.append(label)
        self.payloads.append(payload)
        self.payloadSizes.append(UInt32(clamping: payloadBytes))
        self.slotsByLabel[label] = UInt32(slot)
        self.labelBytes += label.utf8.count
        self.payloadBytes += payloadBytes
        self.count += 1
        self.liveCount += 1
        return slot
    }

    /// Adds a node (the writer only). `vector` holds `dimension` floats, already normalised for cosine.
    @discardableResult
    func insert(_ vector: UnsafePointer<Float>, label: String, payload: JSONObject?, payloadBytes: Int, link: Bool = true) -> Int {
        let level = min(Int(-log(self.random.nextUnitInterval()) * self.levelMultiplier), 64)
        return self.insert(vector, label: label, payload: payload, payloadBytes: payloadBytes, level: level, link: link)
    }

    private func insert(_ vector: UnsafePointer<Float>, label: String, payload: JSONObject?, payloadBytes: Int, level: Int, link: Bool) -> Int {
        let slot = self.withExclusiveAccess {
            if self.count == self.capacity { self.grow(to: self.capacity * 2) }
            let slot = self.appendNode(vector, level: level, label: label, payload: payload, payloadBytes: payloadBytes)
            if self.entryPoint < 0 {
                self.entryPoint = slot
                self.maxLevel = level
            }
            return slot
        }
        guard link, self.entryPoint != slot else { return slot }

        self.withSharedAccess {
            self.withScratch { scratch in
                let query = UnsafePointer(self.vector(slot))
                var nearest = Neighbor(distance: self.distance(query, self.entryPoint), slot: UInt32(self.entryPoint))
                if self.maxLevel > level {
                    for layer in Swift.stride(from: self.maxLevel, to: level, by: -1) {
                        nearest = self.greedyClosest(query, from: nearest, level: layer, scratch: &scratch)
                    }
                }
                // Links are chosen on every layer first, top down (each layer's search starts from
                // the nearest node found on the layer above), and written after, bottom up. A search
                // that reaches the new node on some layer then finds its lists below in place;
                // written top down, the base layer would still be empty, and a search descending
                // onto the node would return it alone. Links on one layer never affect the searches
                // on the layers below, so the graph is the same either way.
                let top = min(level, self.maxLevel)
                let m = self.parameters.m
                scratch.reservePlan(layers: top + 1, linksPerLayer: m)
                for layer in Swift.stride(from: top, through: 0, by: -1) {
                    self.searchLayer(query, entry: nearest, ef: self.parameters.efConstruction, level: layer, scratch: &scratch) {
                        $0 != slot && !self.isDeleted($0)
                    }
                    let foundCount = scratch.sortResults()
                    scratch.planCounts[layer] = 0
                    guard foundCount > 0 else { continue }
                    let found = scratch.list
                    nearest = found[0]
                    let linkCount = self.selectNeighbors(found, count: foundCount, maximum: m)
                    (scratch.plan + layer * m).update(from: found, count: linkCount)
                    scratch.planCounts[layer] = linkCount
                }
                for layer in 0...top {
                    let links = scratch.plan + layer * m
                    let linkCount = scratch.planCounts[layer]
                    self.writeNeighbors(slot, level: layer, UnsafeBufferPointer(start: links, count: linkCount))
                    for index in 0..<linkCount {
                        self.addLink(from: Int(links[index].slot), to: slot, distance: links[index].distance, level: layer, scratch: &scratch)
                    }
                }
            }
        }
        if level > self.maxLevel {
            self.withExclusiveAccess {
                self.entryPoint = slot
                self.maxLevel = level
            }
        }
        return slot
    }

    /// Links `from` → `to`; a full list is pruned with the selection heuristic.
    private func addLink(from: Int, to: Int, distance: Float, level: Int, scratch: inout SearchScratch) {
        let maximum = self.maxNeighbors(level: level)
        trove_lock(self.locks + from)
        let list = self.links(from, level: level)
        let count = Int(list[0])
        if count < maximum {
            list[1 + count] = UInt32(to)
            list[0] = UInt32(count + 1)
            trove_unlock(self.locks + from)
            return
        }
        // The new link and the current ones, pruned back to `maximum` in the scratch's buffer.
        let candidates = scratch.pruneList
        candidates[0] = Neighbor(distance: distance, slot: UInt32(to))
        for index in 0..<count { self.prefetchHead(Int(list[1 + index])) }
        let base = UnsafePointer(self.vector(from))
        for index in 0..<count {
            let neighbor = list[1 + index]
            if index + Self.lookahead < count { self.prefetchTail(Int(list[1 + index + Self.lookahead])) }
            candidates[1 + index] = Neighbor(distance: self.distance(base, Int(neighbor)), slot: neighbor)
        }
        Self.sortByDistance(candidates, count: count + 1)
        let selected = self.selectNeighbors(candidates, count: count + 1, maximum: maximum)
        for index in 0..<selected { list[1 + index] = candidates[index].slot }
        list[0] = UInt32(selected)
        trove_unlock(self.locks + from)
    }

    /// Sorts a short list by distance, keeping equal ones in order. Insertion sort: the lists are
    /// at most 2M + 1 long and mostly sorted already.
    private static func sortByDistance(_ items: UnsafeMutablePointer<Neighbor>, count: Int) {
        guard count > 1 else { return }
        for index in 1..<count {
            let item = items[index]
            var position = index
            while position > 0 && item.distance < items[position - 1].distance {
                items[position] = items[position - 1]
                position -= 1
            }
            items[position] = item
        }
    }

    /// The heuristic of the HNSW paper (algorithm 4): keep a candidate only if it is nearer to
    /// the base than to every neighbour already kept, which spreads links in all directions.
    /// `candidates` are sorted by distance to the base, nearest first; the ones kept move to the
    /// front, in order, and their number is returned.
    private func selectNeighbors(_ candidates: UnsafeMutablePointer<Neighbor>, count: Int, maximum: Int) -> Int {
        guard count > maximum else { return count }
        var selected = 0
        for index in 0..<count {
            let candidate = candidates[index]
            let vector = UnsafePointer(self.vector(Int(candidate.slot)))
            var keep = true
            for kept in 0..<selected where self.distance(vector, Int(candidates[kept].slot)) < candidate.distance {
                keep = false
                break
            }
            if keep {
                candidates[selected] = candidate
                selected += 1
                if selected == maximum { break }
            }
        }
        return selected
    }

    /// `selectNeighbors` over an array, for deletion and compaction.
    private func selectNeighbors(_ candidates: [Neighbor], maximum: Int) -> [Neighbor] {
        guard candidates.count > maximum else { return candidates }
        var candidates = candidates
        let selected = candidates.withUnsafeMutableBufferPointer {
            self.selectNeighbors($0.baseAddress!, count: $0.count, maximum: maximum)
        }
        return Array(candidates.prefix(selected))
    }

    // MARK: Search

    // Comparing a node's neighbours is mostly waiting for their rows to arrive from memory (a
    // 384-float row is 24 cache lines). Asking for whole rows of all 32 neighbours at once floods
    // the CPU's miss queue, and asking for one line at a time leaves it idle, so the loops ask for
    // the first `leadLines` of every row they are about to read, then for the rest of each row
    // `lookahead` neighbours before they compare it.
    private static let leadLines = 4
    private static let lookahead = 2

    /// Starts loading the first lines of a node's row.
    @inline(__always)
    private func prefetchHead(_ slot: Int) {
        let row = UnsafeRawPointer(self.vector(slot))
        for line in 0..<min(Self.leadLines, self.rowLines) { trove_prefetch(row + 64 * line) }
    }

    /// Starts loading the lines of a node's row that `prefetchHead` left out.
    @inline(__always)
    private func prefetchTail(_ slot: Int) {
        let row = UnsafeRawPointer(self.vector(slot))
        for line in min(Self.leadLines, self.rowLines)..<self.rowLines { trove_prefetch(row + 64 * line) }
    }

    /// Walks greedily towards the query on one upper layer.
    private func greedyClosest(_ query: UnsafePointer<Float>, from start: Neighbor, level: Int, scratch: inout SearchScratch) -> Neighbor {
        let neighbors = scratch.neighbors
        var nearest = start
        var changed = true
        while changed {
            changed = false
            let count = self.copyNeighbors(Int(nearest.slot), level: level, to: neighbors)
            for index in 0..<count { self.prefetchHead(Int(neighbors[index])) }
            for index in 0..<count {
                let neighbor = neighbors[index]
                if index + Self.lookahead < count { self.prefetchTail(Int(neighbors[index + Self.lookahead])) }
                let distance = self.distance(query, Int(neighbor))
                if distance < nearest.distance {
                    nearest = Neighbor(distance: distance, slot: neighbor)
                    changed = true
                }
            }
        }
        return nearest
    }

    /// Best-first search of one layer (algorithm 2 of the paper); leaves the `ef` nearest
    /// accepted nodes in `scratch.results`. Rejected nodes are still walked through, so a
    /// filter or a tombstone never cuts the graph. Inlined, so each caller's `accept` test is
    /// compiled into the loop rather than called through a closure.
    @inline(__always)
    private func searchLayer(
        _ query: UnsafePointer<Float>,
        entry: Neighbor,
        ef: Int,
        level: Int,
        scratch: inout SearchScratch,
        accept: (Int) -> Bool
    ) {
        scratch.beginSearch(capacity: self.capacity, ef: ef)
        _ = scratch.visit(entry.slot)
        scratch.candidates.push(entry)
        if accept(Int(entry.slot)) { scratch.results.push(entry) }
        var bound = scratch.results.isEmpty ? Float.infinity : scratch.results.top.distance
        let neighbors = scratch.neighbors
        while !scratch.candidates.isEmpty {
            let current = scratch.candidates.pop()
            if current.distance > bound && scratch.results.count >= ef { break }
            // The likeliest next node to expand: its link list loads while this one's are compared.
            if !scratch.candidates.isEmpty {
                trove_prefetch(self.links(Int(scratch.candidates.top.slot), level: level))
            }
            // Drop the neighbours seen before first, so only rows that will be read are fetched.
            let count = self.copyNeighbors(Int(current.slot), level: level, to: neighbors)
            var fresh = 0
            for index in 0..<count where scratch.visit(neighbors[index]) {
                neighbors[fresh] = neighbors[index]
                fresh += 1
            }
            for index in 0..<fresh { self.prefetchHead(Int(neighbors[index])) }
            for index in 0..<fresh {
                let neighbor = neighbors[index]
                if index + Self.lookahead < fresh { self.prefetchTail(Int(neighbors[index + Self.lookahead])) }
                let distance = self.distance(query, Int(neighbor))
                guard scratch.results.count < ef || distance < bound else { continue }
                let found = Neighbor(distance: distance, slot: neighbor)
                scratch.candidates.push(found)
                if accept(Int(neighbor)) {
                    scratch.results.push(found)
                    if scratch.results.count > ef { scratch.results.pop() }
                    bound = scratch.results.top.distance
                }
            }
        }
    }

    /// The `k` nearest live nodes accepted by `accept`, nearest first, searched through the graph.
    func search(_ query: UnsafePointer<Float>, k: Int, ef: Int, accept: ((Int) -> Bool)? = nil) -> [Neighbor] {
        self.withSharedAccess {
            guard self.entryPoint >= 0 else { return [] }
            return self.withScratch { scratch in
                var nearest = Neighbor(distance: self.distance(query, self.entryPoint), slot: UInt32(self.entryPoint))
                for layer in Swift.stride(from: self.maxLevel, to: 0, by: -1) {
                    nearest = self.greedyClosest(query, from: nearest, level: layer, scratch: &scratch)
                }
                // Without a filter the per-node test is one byte load, and the loop is compiled
                // without a call through an optional closure.
                if let accept {
                    self.searchLayer(query, entry: nearest, ef: max(ef, k), level: 0, scratch: &scratch) { slot in
                        !self.isDeleted(slot) && accept(slot)
                    }
                } else {
                    self.searchLayer(query, entry: nearest, ef: max(ef, k), level: 0, scratch: &scratch) { slot in
                        !self.isDeleted(slot)
                    }
                }
                let found = scratch.sortResults()
                return Array(UnsafeBufferPointer(start: scratch.list, count: min(k, found)))
            }
        }
    }

    /// The `k` nearest live nodes accepted by `accept`, by comparing the query with every vector.
    func exactSearch(_ query: UnsafePointer<Float>, k: Int, accept: ((Int) -> Bool)? = nil) -> [Neighbor] {
        self.withSharedAccess {
            var results = NeighborHeap(isMax: true)
            for slot in 0..<self.count where !self.isDeleted(slot) && (accept?(slot) ?? true) {
                let distance = self.distance(query, slot)
                if results.count < k {
                    results.push(Neighbor(distance: distance, slot: UInt32(slot)))
                } else if distance < results.top.distance {
                    results.pop()
                    results.push(Neighbor(distance: distance, slot: UInt32(slot)))
                }
            }
            return results.unordered.sorted()
        }
    }

    // MARK: Delete

    /// Tombstones a node (the writer only) and reconnects its neighbours around it, so searches
    /// keep finding what lay behind it. The slot stays (as a waypoint) until compaction.
    func delete(_ slot: Int) {
        guard !self.isDeleted(slot) else { return }
        let level = self.level(slot)
        self.withExclusiveAccess {
            self.deleted[slot] = 1
            self.liveCount -= 1
            self.slotsByLabel[self.labels[slot]] = nil
            self.labelBytes -= self.labels[slot].utf8.count
            self.payloads[slot] = nil
            self.payloadBytes -= Int(self.payloadSizes[slot])
            self.payloadSizes[slot] = 0
        }
        self.withSharedAccess {
            var ownNeighbors: [UInt32] = []
            var theirs: [UInt32] = []
            for layer in 0...level {
                self.readNeighbors(slot, level: layer, into: &ownNeighbors)
                for neighbor in ownNeighbors where !self.isDeleted(Int(neighbor)) {
                    self.readNeighbors(Int(neighbor), level: layer, into: &theirs)
                    guard theirs.contains(UInt32(slot)) else { continue }
                    self.writeNeighbors(Int(neighbor), level: layer, self.bestNeighbors(for: Int(neighbor), level: layer, among: theirs + ownNeighbors))
                }
            }
        }
        if slot == self.entryPoint {
            self.withExclusiveAccess { self.chooseEntryPoint() }
        }
    }

    /// The neighbours the selection heuristic keeps for `slot` at `level` among `candidates`
    /// (repeats, the node itself and tombstones left out). Candidates come from lists at `level`,
    /// so every one of them reaches that level.
    private func bestNeighbors(for slot: Int, level: Int, among candidates: [UInt32]) -> [UInt32] {
        let base = UnsafePointer(self.vector(slot))
        var seen = Set<UInt32>()
        var scored: [Neighbor] = []
        for candidate in candidates where Int(candidate) != slot && !self.isDeleted(Int(candidate)) && seen.insert(candidate).inserted {
            scored.append(Neighbor(distance: self.distance(base, Int(candidate)), slot: candidate))
        }
        return self.selectNeighbors(scored.sorted(), maximum: self.maxNeighbors(level: level)).map(\.slot)
    }

    /// The live node with the highest level becomes the entry point (none when all are deleted).
    private func chooseEntryPoint() {
        self.entryPoint = -1
        self.maxLevel = -1
        for slot in 0..<self.count where !self.isDeleted(slot) && self.level(slot) > self.maxLevel {
            self.entryPoint = slot
            self.maxLevel = self.level(slot)
        }
    }

    // MARK: Compaction

    /// A new index holding only the live nodes, renumbered in order, with links to removed nodes
    /// replaced from the removed nodes' own neighbours. Runs beside searches (the writer only).
    func compacted() -> HNSWIndex {
        self.withSharedAccess {
            let index = HNSWIndex(dimension: self.dimension, metric: self.metric, parameters: self.parameters, capacity: max(self.liveCount, 16))
            index.random = self.random
            var newSlot = [Int32](repeating: -1, count: self.count)
            var next: Int32 = 0
            for slot in 0..<self.count where !self.isDeleted(slot) {
                newSlot[slot] = next
                next += 1
            }
            var own: [UInt32] = []
            var removedNeighbors: [UInt32] = []
            for slot in 0..<self.count where !self.isDeleted(slot) {
                _ = index.appendNode(
                    self.vector(slot),
                    level: self.level(slot),
                    label: self.labels[slot],
                    payload: self.payloads[slot],
                    payloadBytes: Int(self.payloadSizes[slot])
                )
            }
            for slot in 0..<self.count where !self.isDeleted(slot) {
                for layer in 0...self.level(slot) {
                    self.readNeighbors(slot, level: layer, into: &own)
                    var candidates: [UInt32] = []
                    var lostAny = false
                    for neighbor in own {
                        if !self.isDeleted(Int(neighbor)) {
                            candidates.append(neighbor)
                        } else {
                            lostAny = true
                            self.readNeighbors(Int(neighbor), level: layer, into: &removedNeighbors)
                            candidates += removedNeighbors
                        }
                    }
                    let list = lostAny ? self.bestNeighbors(for: slot, level: layer, among: candidates) : candidates
                    index.writeNeighbors(Int(newSlot[slot]), level: layer, list.map { UInt32(newSlot[Int($0)]) })
                }
            }
            if self.entryPoint >= 0 {
                index.entryPoint = Int(newSlot[self.entryPoint])
                index.maxLevel = self.maxLevel
            }
            return index
        }
    }

    // MARK: Persistence support

    /// Raw access for snapshots; callers hold the writer role so nothing changes underneath.
    struct RawParts {
        var vectors: UnsafeRawBufferPointer
        var levels: UnsafeBufferPointer<UInt8>
        var deleted: UnsafeBufferPointer<UInt8>
        var level0: UnsafeBufferPointer<UInt32>
    }

    /// The blocks as they are; valid until the next write, so only the writer may call this.
    var rawParts: RawParts {
        RawParts(
            vectors: UnsafeRawBufferPointer(start: self.vectors, count: self.count * self.stride * 4),
            levels: UnsafeBufferPointer(start: self.levels, count: self.count),
            deleted: UnsafeBufferPointer(start: self.deleted, count: self.count),
            level0: UnsafeBufferPointer(start: self.level0, count: self.count * self.level0Words)
        )
    }

    /// A node's upper-layer lists as stored (`level × (1 + M)` words), for snapshots.
    func upperLinks(_ slot: Int) -> UnsafeBufferPointer<UInt32> {
        UnsafeBufferPointer(start: self.upper[slot], count: self.level(slot) * self.upperWords)
    }

    var randomState: UInt64 { self.random.state }

    /// Rebuilds an index from a snapshot's parts; `upperLinks(slot)` gives each node's upper lists.
    static func restore(
        dimension: Int,
        metric: VectorMetric,
        parameters: HNSWParameters,
        count: Int,
        vectors: UnsafeRawBufferPointer,
        levels: UnsafeBufferPointer<UInt8>,
        deleted: UnsafeBufferPointer<UInt8>,
        level0: UnsafeBufferPointer<UInt32>,
        upperLinks: (Int) -> UnsafeBufferPointer<UInt32>,
        labels: [String],
        payloads: [JSONObject?],
        payloadSizes: [UInt32],
        entryPoint: Int,
        maxLevel: Int,
        randomState: UInt64
    ) -> HNSWIndex {
        let index = HNSWIndex(dimension: dimension, metric: metric, parameters: parameters, capacity: max(count, 16))
        index.vectors.copyMemory(from: vectors.baseAddress!, byteCount: vectors.count)
        index.levels.update(from: levels.baseAddress!, count: count)
        index.deleted.update(from: deleted.baseAddress!, count: count)
        index.level0.update(from: level0.baseAddress!, count: level0.count)
        for slot in 0..<count where levels[slot] > 0 {
            let source = upperLinks(slot)
            let lists = UnsafeMutablePointer<UInt32>.allocate(capacity: source.count)
            lists.initialize(from: source.baseAddress!, count: source.count)
            index.upper[slot] = lists
            index.upperLinkWords += source.count
        }
        index.count = count
        index.labels = labels
        index.payloads = payloads
        index.payloadSizes = payloadSizes
        index.payloadBytes = payloadSizes.reduce(0) { $0 + Int($1) }
        for slot in 0..<count where deleted[slot] == 0 {
            index.slotsByLabel[labels[slot]] = UInt32(slot)
            index.labelBytes += labels[slot].utf8.count
        }
        index.liveCount = index.slotsByLabel.count
        index.entryPoint = entryPoint
        index.maxLevel = maxLevel
        index.random = SplitMix64(state: randomState)
        return index
    }
}
