/// exp and erf eight floats at a time, for softmax and GELU: libm's `expf` and `erff` are one
/// value per call and took about 15 % of a pass. Both are accurate to a few units in the last
/// place of a Float, well inside the model's 1e-5 agreement with PyTorch.
enum VectorMath {
    typealias Floats = SIMD8<Float>

    /// e^x; inputs are clamped to [-87.3, 88.3]: no denormals, no infinities.
    @inline(__always)
    static func exp(_ x: Floats) -> Floats {
        // (`clamped` is not inlined and cost more than the rest of the function.)
        let low = Floats(repeating: -87.3)
        let high = Floats(repeating: 88.3)
        var x = x.replacing(with: low, where: x .< low)
        x.replace(with: high, where: x .> high)
        // x = n·ln 2 + r with |r| ≤ ln 2 / 2. Adding 1.5·2²³ rounds x·log₂e to the nearest
        // integer n and leaves n in the low bits of the sum, so neither a rounding instruction
        // (not in baseline x86-64) nor a float-to-integer conversion is needed.
        let magic = Floats(repeating: 12_582_912)
        let shifted = x * Floats(repeating: 1.442_695_04) + magic
        let n = shifted - magic
        var r = x - n * Floats(repeating: 0.693_145_75)
        r = r - n * Floats(repeating: 1.428_606_8e-6)
        // e^r by its Taylor series to r⁶/720: relative error below 2e-7 on |r| ≤ 0.35.
        var p = Floats(repeating: 1.0 / 720)
        p = p * r + Floats(repeating: 1.0 / 120)
        p = p * r + Floats(repeating: 1.0 / 24)
        p = p * r + Floats(repeating: 1.0 / 6)
        p = p * r + Floats(repeating: 0.5)
        p = p * r + Floats(repeating: 1)
        p = p * r + Floats(repeating: 1)
        // 2ⁿ from the exponent bits: (n + 127)·2²³.
        let integer = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self)
        let exponent = (integer &+ SIMD8<Int32>(repeating: 127)) &* SIMD8<Int32>(repeating: 1 << 23)
        return p * unsafeBitCast(exponent, to: Floats.self)
    }

    /// erf(x), Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7), odd in x.
    @inline(__always)
    static func erf(_ x: Floats) -> Floats {
        let a = x.replacing(with: -x, where: x .< 0)
        let t = 1 / (1 + Floats(repeating: 0.327_591_1) * a)
        var p = Floats(repeating: 1.061_405_429)
        p = p * t + Floats(repeating: -1.453_152_027)
        p = p * t + Floats(repeating: 1.421_413_741)
        p = p * t + Floats(repeating: -0.284_496_736)
        p = p * t + Floats(repeating: 0.254_829_592)
        p = p * t
        let magnitude = 1 - p * Self.exp(-(a * a))
        return magnitude.replacing(with: -magnitude, where: x .< 0)
    }

    /// Exact-form GELU, x·½·(1 + erf(x/√2)), in place.
    static func gelu(_ values: UnsafeMutablePointer<Float>, count: Int) {
        let half = Floats(repeating: 0.5)
        let inverseRootTwo = Floats(repeating: 0.707_106_781_186_547_52)
        var i = 0
        while i + 8 <= count {
            let x = UnsafeRawPointer(values + i).loadUnaligned(as: Floats.self)
            let y = x * half * (1 + Self.erf(x * inverseRootTwo))
            UnsafeMutableRawPointer(values + i).storeBytes(of: y, as: Floats.self)
            i += 8
        }
        if i < count {
            var x = Floats(repeating: 0)
            for j in 0..<(count - i) { x[j] = values[i + j] }
            let y = x * half * (1 + Self.erf(x * inverseRootTwo))
            for j in 0..<(count - i) { values[i + j] = y[j] }
        }
    }

    /// Softmax of each row of `matrix`, in place.
    static func softmaxRows(_ matrix: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
        for r in 0..<rows {
            let row = matrix + r * columns
            var largest = -Float.infinity
            for j in 0..<columns { largest = max(largest, row[j]) }
            let shift = Floats(repeating: largest)
            var sums = Floats(repeating: 0)
            var j = 0
            while j + 8 <= columns {
                let e = Self.exp(UnsafeRawPointer(row + j).loadUnaligned(as: Floats.self) - shift)
                UnsafeMutableRawPointer(row + j).storeBytes(of: e, as: Floats.self)
                sums += e
                j += 8
            }
            var sum = sums.sum()
            if j < columns {
                var x = Floats(repeating: -Float.infinity)
                for k in 0..<(columns - j) { x[k] = row[j + k] }
                let e = Self.exp(x - shift)
                for k in 0..<(columns - j) {
                    row[j + k] = e[k]
                    sum += e[k]
                }
            }
            let inverse = 1 / sum
            for k in 0..<columns { row[k] *= inverse }
        }
    }
}
