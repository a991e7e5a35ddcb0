/// A node and its distance to the query, ordered by distance.
struct Neighbor: Comparable {
    var distance: Float
    var slot: UInt32

    static func < (lhs: Neighbor, rhs: Neighbor) -> Bool { lhs.distance < rhs.distance }
}

/// A binary heap over preallocated storage; `isMax` puts the farthest node on top.
struct NeighborHeap {
    private(set) var items: [Neighbor] = []
    let isMax: Bool

    init(isMax: Bool) {
        self.isMax = isMax
    }

    var count: Int { self.items.count }
    var isEmpty: Bool { self.items.isEmpty }
    var top: Neighbor { self.items[0] }

    @inline(__always)
    private static func above(_ a: Neighbor, _ b: Neighbor, isMax: Bool) -> Bool {
        isMax ? a.distance > b.distance : a.distance < b.distance
    }

    mutating func removeAll() {
        self.items.removeAll(keepingCapacity: true)
    }

    mutating func push(_ neighbor: Neighbor) {
        self.items.append(neighbor)
        var child = self.items.count - 1
        let isMax = self.isMax
        self.items.withUnsafeMutableBufferPointer { items in
            while child > 0 {
                let parent = (child - 1) / 2
                guard Self.above(items[child], items[parent], isMax: isMax) else { break }
                items.swapAt(child, parent)
                child = parent
            }
        }
    }

    @discardableResult
    mutating func pop() -> Neighbor {
        let last = self.items.removeLast()
        guard !self.items.isEmpty else { return last }
        let top = self.items[0]
        let isMax = self.isMax
        self.items.withUnsafeMutableBufferPointer { items in
            items[0] = last
            var parent = 0
            let count = items.count
            while true {
                let left = 2 * parent + 1
                guard left < count else { break }
                var best = left
                if left + 1 < count, Self.above(items[left + 1], items[left], isMax: isMax) { best = left + 1 }
                guard Self.above(items[best], items[parent], isMax: isMax) else { break }
                items.swapAt(best, parent)
                parent = best
            }
        }
        return top
    }
}

/// What one search needs besides the graph: visited marks and two heaps, kept for reuse.
///
/// Visited marks are generation numbers, so starting a search costs nothing until the
/// 65,535th search, when the marks are cleared. A value type passed `inout`, so the compiler
/// proves exclusive access statically instead of checking it on every heap operation.
struct SearchScratch: Sendable {
    private var marks: [UInt16] = []
    private var generation: UInt16 = 0
    var candidates = NeighborHeap(isMax: false)
    var results = NeighborHeap(isMax: true)
    var neighbors: [UInt32] = []

    mutating func beginSearch(capacity: Int) {
        if self.marks.count < capacity {
            self.marks = [UInt16](repeating: 0, count: max(capacity, self.marks.count * 2))
            self.generation = 0
        }
        if self.generation == UInt16.max {
            for index in self.marks.indices { self.marks[index] = 0 }
            self.generation = 0
        }
        self.generation += 1
        self.candidates.removeAll()
        self.results.removeAll()
    }

    /// Marks `slot` visited; false when it already was.
    @inline(__always)
    mutating func visit(_ slot: UInt32) -> Bool {
        let generation = self.generation
        return self.marks.withUnsafeMutableBufferPointer { marks in
            if marks[Int(slot)] == generation { return false }
            marks[Int(slot)] = generation
            return true
        }
    }
}
