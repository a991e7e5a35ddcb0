/// A node and its distance to the query, ordered by distance.
struct Neighbor: Comparable {
    var distance: Float
    var slot: UInt32

    static func < (lhs: Neighbor, rhs: Neighbor) -> Bool { lhs.distance < rhs.distance }
}

/// One allocation of trivial values, freed with the last reference. Scratch structs keep its
/// pointer in a stored property of their own, so hot loops reach the memory without going
/// through a class property (and without the exclusivity checks that would cost).
final class ScratchBuffer<Element>: @unchecked Sendable {
    let base: UnsafeMutablePointer<Element>
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        self.base = .allocate(capacity: capacity)
    }

    deinit { self.base.deallocate() }
}

/// A binary heap over reusable storage; `isMax` puts the farthest node on top.
/// Copies share their storage (there is no copy-on-write), so only one copy may be used; that
/// is also why the `Sendable` conformance is unchecked.
struct NeighborHeap: @unchecked Sendable {
    private var storage: ScratchBuffer<Neighbor>
    private var items: UnsafeMutablePointer<Neighbor>
    private(set) var count = 0
    let isMax: Bool

    init(isMax: Bool, capacity: Int = 64) {
        self.isMax = isMax
        self.storage = ScratchBuffer(capacity: max(capacity, 1))
        self.items = self.storage.base
    }

    var isEmpty: Bool { self.count == 0 }
    var top: Neighbor { self.items[0] }
    /// The items in heap order (not sorted); valid until the next push.
    var unordered: UnsafeBufferPointer<Neighbor> { UnsafeBufferPointer(start: self.items, count: self.count) }

    @inline(__always)
    private static func above(_ a: Neighbor, _ b: Neighbor, isMax: Bool) -> Bool {
        isMax ? a.distance > b.distance : a.distance < b.distance
    }

    mutating func removeAll() { self.count = 0 }

    /// Makes room for `capacity` items, so pushes up to there never reallocate.
    mutating func reserve(_ capacity: Int) {
        guard capacity > self.storage.capacity else { return }
        let storage = ScratchBuffer<Neighbor>(capacity: capacity)
        storage.base.update(from: self.items, count: self.count)
        self.storage = storage
        self.items = storage.base
    }

    @inline(__always)
    mutating func push(_ neighbor: Neighbor) {
        if self.count == self.storage.capacity { self.reserve(2 * self.count) }
        let items = self.items
        let isMax = self.isMax
        // Sift a hole up from the end and drop the new item into it: one write per level.
        var child = self.count
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.above(neighbor, items[parent], isMax: isMax) else { break }
            items[child] = items[parent]
            child = parent
        }
        items[child] = neighbor
        self.count += 1
    }

    @discardableResult @inline(__always)
    mutating func pop() -> Neighbor {
        let items = self.items
        let top = items[0]
        self.count -= 1
        let count = self.count
        guard count > 0 else { return top }
        let last = items[count]
        let isMax = self.isMax
        // Sift a hole down from the root and drop the old last item into it.
        var parent = 0
        while true {
            let left = 2 * parent + 1
            guard left < count else { break }
            var best = left
            if left + 1 < count, Self.above(items[left + 1], items[left], isMax: isMax) { best = left + 1 }
            guard Self.above(items[best], last, isMax: isMax) else { break }
            items[parent] = items[best]
            parent = best
        }
        items[parent] = last
        return top
    }
}

/// What one search needs besides the graph: visited marks, two heaps and buffers for link lists
/// and candidate lists, kept for reuse so a search or an insert allocates no working memory.
///
/// Visited marks are generation numbers, so starting a search costs nothing until the
/// 65,535th search, when the marks are cleared. A value type passed `inout`, so the compiler
/// proves exclusive access statically instead of checking it on every heap operation; the
/// memory itself lives in `ScratchBuffer`s, whose pointers the scratch keeps beside them.
/// Unchecked `Sendable` because of those pointers: the index's pool hands a scratch to one
/// search at a time.
struct SearchScratch: @unchecked Sendable {
    private var markStorage = ScratchBuffer<UInt16>(capacity: 1)
    private var marks: UnsafeMutablePointer<UInt16>
    private var generation: UInt16 = 0
    var candidates = NeighborHeap(isMax: false)
    var results = NeighborHeap(isMax: true)
    private var neighborStorage: ScratchBuffer<UInt32>
    /// One node's link list, copied out under its lock.
    private(set) var neighbors: UnsafeMutablePointer<UInt32>
    private var listStorage = ScratchBuffer<Neighbor>(capacity: 1)
    /// The results sorted by distance, nearest first, for choosing a new node's links.
    private(set) var list: UnsafeMutablePointer<Neighbor>
    private var pruneStorage: ScratchBuffer<Neighbor>
    /// A full link list plus the node being linked, while `plan` holds the new node's links.
    private(set) var pruneList: UnsafeMutablePointer<Neighbor>
    private var planStorage = ScratchBuffer<Neighbor>(capacity: 1)
    /// A new node's links, M per layer, from when they are chosen until they are written.
    private(set) var plan: UnsafeMutablePointer<Neighbor>
    private var planCountStorage = ScratchBuffer<Int>(capacity: 1)
    /// How many links `plan` holds on each layer.
    private(set) var planCounts: UnsafeMutablePointer<Int>

    /// A scratch for an index whose nodes have at most `maxNeighbors` links.
    init(maxNeighbors: Int) {
        self.neighborStorage = ScratchBuffer(capacity: maxNeighbors)
        self.pruneStorage = ScratchBuffer(capacity: maxNeighbors + 1)
        self.marks = self.markStorage.base
        self.marks[0] = 0
        self.neighbors = self.neighborStorage.base
        self.list = self.listStorage.base
        self.pruneList = self.pruneStorage.base
        self.plan = self.planStorage.base
        self.planCounts = self.planCountStorage.base
    }

    /// Makes room in `plan` and `planCounts` for the links of a node on `layers` layers.
    mutating func reservePlan(layers: Int, linksPerLayer: Int) {
        if self.planStorage.capacity < layers * linksPerLayer {
            self.planStorage = ScratchBuffer(capacity: layers * linksPerLayer)
            self.plan = self.planStorage.base
        }
        if self.planCountStorage.capacity < layers {
            self.planCountStorage = ScratchBuffer(capacity: layers)
            self.planCounts = self.planCountStorage.base
        }
    }

    /// Readies the scratch for a search over `capacity` slots that keeps `ef` results.
    mutating func beginSearch(capacity: Int, ef: Int) {
        if self.markStorage.capacity < capacity {
            self.markStorage = ScratchBuffer(capacity: max(capacity, self.markStorage.capacity * 2))
            self.marks = self.markStorage.base
            self.marks.initialize(repeating: 0, count: self.markStorage.capacity)
            self.generation = 0
        }
        if self.generation == UInt16.max {
            self.marks.update(repeating: 0, count: self.markStorage.capacity)
            self.generation = 0
        }
        self.generation += 1
        if self.listStorage.capacity < ef {
            self.listStorage = ScratchBuffer(capacity: ef)
            self.list = self.listStorage.base
        }
        self.candidates.removeAll()
        self.results.removeAll()
        self.results.reserve(ef + 1)
    }

    /// Marks `slot` visited; false when it already was.
    @inline(__always)
    mutating func visit(_ slot: UInt32) -> Bool {
        if self.marks[Int(slot)] == self.generation { return false }
        self.marks[Int(slot)] = self.generation
        return true
    }

    /// Copies the results into `list`, nearest first, and returns how many there are. Equal
    /// distances keep their heap order (the sort is stable), so the same inserts build the same graph.
    mutating func sortResults() -> Int {
        let count = self.results.count
        var sorted = UnsafeMutableBufferPointer(start: self.list, count: count)
        _ = sorted.initialize(from: self.results.unordered)
        sorted.sort()
        return count
    }
}
