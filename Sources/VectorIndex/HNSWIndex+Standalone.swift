/// The index on its own, without a log or snapshots: for benchmarks and tools. Rows are
/// numbered in the order they are added.
extension HNSWIndex {
    public convenience init(dimension: Int, metric: VectorMetric, parameters: HNSWParameters, expectedCount: Int) {
        self.init(dimension: dimension, metric: metric, parameters: parameters, capacity: max(expectedCount, 16))
    }

    /// Adds a row (normalised first for cosine). With `link: false` the row is stored but not
    /// linked into the graph, which only exact search can then find — for ground truth.
    public func add(_ vector: UnsafeBufferPointer<Float>, label: String, link: Bool = true) {
        precondition(vector.count == self.dimension, "a vector of \(vector.count) values in an index of dimension \(self.dimension)")
        if self.metric == .cosine {
            let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
            let normalised = vector.map { $0 / norm }
            normalised.withUnsafeBufferPointer { self.insert($0.baseAddress!, label: label, payload: nil, payloadBytes: 0, link: link) }
        } else {
            self.insert(vector.baseAddress!, label: label, payload: nil, payloadBytes: 0, link: link)
        }
    }

    /// Rows of the `k` nearest neighbours found through the graph, nearest first.
    public func nearest(to query: UnsafeBufferPointer<Float>, k: Int, ef: Int) -> [Int] {
        self.search(query.baseAddress!, k: k, ef: ef).map { Int($0.slot) }
    }

    /// Rows of the exact `k` nearest neighbours, nearest first.
    public func exactNearest(to query: UnsafeBufferPointer<Float>, k: Int) -> [Int] {
        self.exactSearch(query.baseAddress!, k: k).map { Int($0.slot) }
    }

    /// Bytes held by the index.
    public var residentBytes: Int { self.withSharedAccess { self.memoryBytes } }
}
