/// The index on its own, without a log or snapshots: for benchmarks and tools. Rows are
/// numbered in the order they are added.
extension HNSWIndex {
    public convenience init(dimension: Int, metric: VectorMetric, parameters: HNSWParameters, expectedCount: Int) {
        self.init(dimension: dimension, metric: metric, parameters: parameters, capacity: max(expectedCount, 16))
    }

    /// Adds a row (normalised first for cosine).
    public func add(_ vector: UnsafeBufferPointer<Float>, label: String) {
        precondition(vector.count == self.dimension, "a vector of \(vector.count) values in an index of dimension \(self.dimension)")
        var row = Array(vector)
        row.withUnsafeMutableBufferPointer { row in
            let prepared = self.metric.prepare(row)
            precondition(prepared, "a zero vector has no direction for cosine similarity")
            _ = self.insert(row.baseAddress!, label: label, payload: nil, payloadBytes: 0)
        }
    }

    /// Rows of the `k` nearest neighbours found through the graph, nearest first; with `accept`,
    /// only rows it accepts (the others are still walked through).
    public func nearest(to query: UnsafeBufferPointer<Float>, k: Int, ef: Int, where accept: ((Int) -> Bool)? = nil) -> [Int] {
        self.search(query.baseAddress!, k: k, ef: ef, accept: accept).map { Int($0.slot) }
    }

    /// Rows of the exact `k` nearest neighbours, nearest first; with `accept`, among the rows it
    /// accepts.
    public func exactNearest(to query: UnsafeBufferPointer<Float>, k: Int, where accept: ((Int) -> Bool)? = nil) -> [Int] {
        self.exactSearch(query.baseAddress!, k: k, accept: accept).map { Int($0.slot) }
    }

    /// Bytes held by the index.
    public var residentBytes: Int { self.withSharedAccess { self.memoryBytes } }
}
