import CVectorKernels
import Foundation
import Testing

/// The AVX-512 product over packed weights against the same product in Double: every row count
/// of the kernel and a remainder, row counts over one block of rows and a remainder, column
/// counts that end inside a panel's first or second half, depths below, at and over one pass,
/// strided rows, and a split of the columns between two calls as the model's threads make it;
/// and the form that adds a bias and a residual and applies GELU against those steps one by one.
@Suite(
    "Packed dense products",
    .enabled(if: trove_gemm_packed_supported() != 0, "this CPU has no AVX-512F: the model runs every product through OpenBLAS")
)
struct PackedGEMMTests {
    private struct Generator {
        var state: UInt64
        mutating func next() -> Float {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Double(state >> 40) / Double(1 << 24) - 0.5)
        }
    }

    @Test(
        "C += A·Bᵀ within 4e-6·√k of the Double product, columns outside it untouched",
        arguments: [1, 5, 12, 13, 25, 40], [1, 16, 17, 31, 32, 33, 70, 290, 1152]
    )
    func matchesDouble(rows: Int, columns: Int) {
        self.check(rows: rows, columns: columns, depths: [1, 7, 384, 500, 1536])
    }

    @Test(
        "Row counts over a block of 96 rows, which the product takes one at a time",
        arguments: [96, 97, 203], [33, 290]
    )
    func matchesDoubleOverBlocks(rows: Int, columns: Int) {
        self.check(rows: rows, columns: columns, depths: [384, 500])
    }

    private func check(rows: Int, columns: Int, depths: [Int]) {
        var generator = Generator(state: UInt64(rows * 10_007 + columns))
        for depth in depths {
            // Strides wider than the matrices, so that rows are not contiguous.
            let (lda, ldb, ldc) = (depth + 3, depth + 5, columns + 2)
            let a = (0..<(rows * lda)).map { _ in generator.next() }
            let b = (0..<(columns * ldb)).map { _ in generator.next() }
            var c = (0..<(rows * ldc)).map { _ in generator.next() }
            var expected = c.map(Double.init)
            for i in 0..<rows {
                for j in 0..<columns {
                    var sum = expected[i * ldc + j]
                    for k in 0..<depth { sum += Double(a[i * lda + k]) * Double(b[j * ldb + k]) }
                    expected[i * ldc + j] = sum
                }
            }

            let count = trove_gemm_packed_count(columns, depth)
            let packed = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64).bindMemory(to: Float.self, capacity: count)
            defer { packed.deallocate() }
            trove_gemm_pack(b, ldb, columns, depth, packed)
            // Two calls, the second from the second panel on, as two threads would split it.
            let split = min(columns, Int(TROVE_GEMM_PANEL))
            trove_gemm_packed(rows, split, depth, a, lda, packed, &c, ldc)
            if split < columns {
                c.withUnsafeMutableBufferPointer { c in
                    trove_gemm_packed(rows, columns - split, depth, a, lda, packed + split * depth, c.baseAddress! + split, ldc)
                }
            }

            let bound = 4e-6 * Double(depth).squareRoot()
            var worst = 0.0
            for index in c.indices {
                worst = max(worst, abs(Double(c[index]) - expected[index]))
            }
            #expect(worst <= bound, "\(rows)×\(columns)×\(depth): largest difference \(worst), bound \(bound)")
        }
    }

    @Test(
        "residual + bias + A·Bᵀ, then GELU, in one call is bit for bit the steps one by one",
        arguments: [(1, 17, 7), (13, 290, 384), (25, 70, 500), (97, 33, 1536)]
    )
    func biasResidualAndGELU(rows: Int, columns: Int, depth: Int) {
        var generator = Generator(state: UInt64(rows * 31 + columns * 7 + depth))
        let (lda, ldb, ldc, ldr) = (depth + 3, depth + 5, columns + 2, columns + 4)
        // Values of a size that reaches both ends of GELU: near zero and far into either tail.
        let a = (0..<(rows * lda)).map { _ in generator.next() * 4 }
        let b = (0..<(columns * ldb)).map { _ in generator.next() }
        let bias = (0..<columns).map { _ in generator.next() }
        let residual = (0..<(rows * ldr)).map { _ in generator.next() * 8 }
        let count = trove_gemm_packed_count(columns, depth)
        let packed = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64).bindMemory(to: Float.self, capacity: count)
        defer { packed.deallocate() }
        trove_gemm_pack(b, ldb, columns, depth, packed)
        let split = min(columns, Int(TROVE_GEMM_PANEL))

        for (withResidual, gelu) in [(false, false), (false, true), (true, false), (true, true)] {
            // One step at a time: C filled with residual + bias, the product added, GELU in place.
            var expected = [Float](repeating: 0, count: rows * ldc)
            for i in 0..<rows {
                for j in 0..<columns {
                    expected[i * ldc + j] = withResidual ? residual[i * ldr + j] + bias[j] : bias[j]
                }
            }
            trove_gemm_packed(rows, columns, depth, a, lda, packed, &expected, ldc)
            if gelu {
                for i in 0..<rows {
                    expected.withUnsafeMutableBufferPointer { trove_gelu($0.baseAddress! + i * ldc, columns, trove_kernels_use_avx2()) }
                }
            }

            // In one call per part, as two threads would split the columns; the gaps between rows
            // keep what was there.
            var c = [Float](repeating: 42, count: rows * ldc)
            c.withUnsafeMutableBufferPointer { c in
                residual.withUnsafeBufferPointer { residual in
                    bias.withUnsafeBufferPointer { bias in
                        let residualRows = withResidual ? residual.baseAddress : nil
                        trove_gemm_packed_bias(rows, split, depth, a, lda, packed, bias.baseAddress, residualRows, ldr, gelu ? 1 : 0, c.baseAddress, ldc)
                        if split < columns {
                            trove_gemm_packed_bias(
                                rows, columns - split, depth, a, lda, packed + split * depth, bias.baseAddress! + split,
                                residualRows.map { $0 + split }, ldr, gelu ? 1 : 0, c.baseAddress! + split, ldc)
                        }
                    }
                }
            }
            var mismatches = 0
            for i in 0..<rows {
                for j in 0..<ldc {
                    let index = i * ldc + j
                    let want = j < columns ? expected[index] : 42
                    if c[index].bitPattern != want.bitPattern { mismatches += 1 }
                }
            }
            #expect(mismatches == 0, "\(rows)×\(columns)×\(depth), residual \(withResidual), GELU \(gelu): \(mismatches) values differ")
        }
    }

    @Test("Packing lays out panels of 32 weight rows, k-major, the last one padded with zeros")
    func packingLayout() {
        let (n, k) = (33, 3)
        let b = (0..<(n * k)).map { Float($0) }
        let count = trove_gemm_packed_count(n, k)
        #expect(count == 64 * k)
        var packed = [Float](repeating: -1, count: count)
        trove_gemm_pack(b, k, n, k, &packed)
        for panel in 0..<2 {
            for depth in 0..<k {
                for row in 0..<32 {
                    let source = panel * 32 + row
                    let expected = source < n ? b[source * k + depth] : 0
                    #expect(packed[panel * 32 * k + depth * 32 + row] == expected)
                }
            }
        }
    }
}
