import CVectorKernels
import Foundation
import Testing

/// The C layer norm, softmax and GELU the model uses, on both paths (AVX2/FMA where this CPU has
/// them, and the portable one every machine can run), against the same functions in Double.
@Suite("Model kernels")
struct ModelKernelTests {
    static var paths: [Int32] {
        trove_kernels_use_avx2() == 1 ? [0, 1] : [0]
    }

    @Test(
        "The FMA peak a benchmark sets beside the model's rate is a positive, finite rate",
        .enabled(if: trove_kernels_use_avx2() == 1, "without AVX2 and FMA there is no FMA rate to measure: it is 0")
    )
    func fmaPeak() {
        let rate = trove_fma_peak_gflops(0.02)
        #expect(rate > 0 && rate.isFinite, "\(rate) GFLOP/s")
    }

    @Test(
        "The product kernel's rate on a tile in L1 is a positive, finite rate",
        .enabled(if: trove_gemm_packed_supported() != 0, "without AVX-512F there is no packed product kernel: it is 0")
    )
    func tileProductRate() {
        let rate = trove_gemm_packed_tile_gflops(0.02)
        #expect(rate > 0 && rate.isFinite, "\(rate) GFLOP/s")
    }

    @Test("GELU within 5e-7 of x·½·(1 + erf(x/√2)) from -12 to 12, every length's tail included", arguments: Self.paths)
    func gelu(path: Int32) {
        for count in [1, 7, 8, 9, 15, 16, 17, 100_003] {
            let inputs = (0..<count).map { Float(-12 + 24 * Double($0) / Double(max(1, count - 1))) }
            var values = inputs
            trove_gelu(&values, values.count, path)
            var worst = 0.0
            for (x, y) in zip(inputs, values) {
                let exact = Double(x) * 0.5 * (1 + Foundation.erf(Double(x) / 2.0.squareRoot()))
                worst = max(worst, abs(Double(y) - exact))
            }
            #expect(worst < 5e-7, "count \(count): largest error \(worst)")
        }
    }

    @Test("softmax rows sum to 1 and are within 3e-7 of exp(x - max) / Σ, rows of every length to 300", arguments: Self.paths)
    func softmax(path: Int32) {
        var state: UInt64 = 42
        for columns in 1...300 {
            let rows = 3
            var matrix = (0..<(rows * columns)).map { _ -> Float in
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return Float(Double(state >> 40) / Double(1 << 24) * 60 - 30)
            }
            let inputs = matrix
            trove_softmax_rows(&matrix, rows, columns, path)
            for r in 0..<rows {
                let row = inputs[(r * columns)..<((r + 1) * columns)].map(Double.init)
                let largest = row.max()!
                let total = row.reduce(0) { $0 + Foundation.exp($1 - largest) }
                var sum = 0.0
                for j in 0..<columns {
                    let exact = Foundation.exp(row[j] - largest) / total
                    let value = Double(matrix[r * columns + j])
                    #expect(abs(value - exact) < 3e-7, "columns \(columns), row \(r), column \(j): \(value) vs \(exact)")
                    sum += value
                }
                #expect(abs(sum - 1) < 2e-6, "columns \(columns), row \(r): sums to \(sum)")
            }
        }
    }

    @Test("layer norm within 1e-5 of the Double formula, in place and not, widths with and without a tail", arguments: Self.paths)
    func layerNorm(path: Int32) {
        var state: UInt64 = 7
        func next() -> Float {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Double(state >> 40) / Double(1 << 24) * 8 - 4)
        }
        for width in [1, 5, 8, 13, 384] {
            let rows = 4
            // One row off zero mean too. The mean is subtracted in Float (as PyTorch does), so the
            // error grows with the mean's rounding: 1e-5 leaves room for a mean of 10.
            let input = (0..<(rows * width)).map { index in next() + (index / width == 3 ? 10 : 0) }
            let weight = (0..<width).map { _ in next() }
            let bias = (0..<width).map { _ in next() }
            var output = [Float](repeating: .nan, count: rows * width)
            trove_layer_norm(input, &output, rows, width, weight, bias, 1e-12, path)
            var inPlace = input
            inPlace.withUnsafeMutableBufferPointer { buffer in
                trove_layer_norm(buffer.baseAddress!, buffer.baseAddress!, rows, width, weight, bias, 1e-12, path)
            }
            #expect(inPlace == output, "width \(width): in place differs")
            for r in 0..<rows {
                let row = input[(r * width)..<((r + 1) * width)].map(Double.init)
                let mean = row.reduce(0, +) / Double(width)
                let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(width)
                for j in 0..<width {
                    let exact = (row[j] - mean) / (variance + 1e-12).squareRoot() * Double(weight[j]) + Double(bias[j])
                    let value = Double(output[r * width + j])
                    #expect(abs(value - exact) < 1e-5 * max(1, abs(exact)), "width \(width), row \(r), column \(j): \(value) vs \(exact)")
                }
            }
        }
    }
}
