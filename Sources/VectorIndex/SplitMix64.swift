import Foundation

/// SplitMix64 (Steele, Lea & Flood): a small seeded generator, for node levels and for the
/// benchmarks' data sets.
public struct SplitMix64: Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { self.state = seed }
    init(state: UInt64) { self.state = state }

    public mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A double in (0, 1].
    public mutating func nextUnitInterval() -> Double {
        Double((self.next() >> 11) + 1) * 0x1.0p-53
    }

    /// A standard normal sample (Box-Muller).
    public mutating func nextGaussian() -> Float {
        Float((-2 * log(self.nextUnitInterval())).squareRoot() * cos(2 * Double.pi * self.nextUnitInterval()))
    }
}
