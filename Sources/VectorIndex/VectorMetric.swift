import CVectorKernels

/// How vectors are compared. Internally every metric is a distance (smaller is nearer); callers
/// see a score where higher is more similar.
public enum VectorMetric: String, Sendable, Hashable, CaseIterable {
    /// Cosine similarity. Vectors are normalised on the way in, so it is an inner product inside.
    case cosine
    /// Squared Euclidean distance; the score is its negation.
    case l2
    /// Inner product, for vectors whose length carries meaning.
    case innerProduct = "ip"

    /// The C kernel computing this metric's distance.
    var kernel: trove_kernel {
        switch self {
        case .cosine, .innerProduct: trove_dot_kernel()
        case .l2: trove_l2_squared_kernel()
        }
    }

    /// Turns a kernel result (inner product or squared L2) into a distance.
    @inline(__always)
    func distance(fromKernel value: Float) -> Float {
        switch self {
        case .cosine: 1 - value
        case .innerProduct: -value
        case .l2: value
        }
    }

    /// The score a caller sees for a distance: cosine similarity, inner product or -squared L2.
    @inline(__always)
    public func score(distance: Float) -> Float {
        switch self {
        case .cosine: 1 - distance
        case .innerProduct: -distance
        case .l2: -distance
        }
    }

    /// The distance below which a result's score is at least `score`.
    func distance(forScore score: Float) -> Float {
        switch self {
        case .cosine: 1 - score
        case .innerProduct, .l2: -score
        }
    }

    /// Scales `values` to unit length for cosine (whose kernel is an inner product); other
    /// metrics compare vectors as they are. False for a cosine vector of length zero or beyond
    /// what a Float holds, which has no direction.
    func prepare(_ values: UnsafeMutableBufferPointer<Float>) -> Bool {
        guard self == .cosine else { return true }
        let squares = values.reduce(0) { $0 + $1 * $1 }
        guard squares > 0, squares.isFinite else { return false }
        let scale = 1 / squares.squareRoot()
        for position in values.indices { values[position] *= scale }
        return true
    }
}
