import COpenBLAS
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A BERT encoder (post-layer-norm, absolute positions, exact-erf GELU) in F32, its matrix
/// products through OpenBLAS. It returns the last hidden state of every token; pooling is the
/// caller's.
///
/// Sequences are packed one after another, without padding: every step but attention works on
/// tokens one at a time, and attention runs per sequence over that sequence's tokens only. That
/// gives the same numbers as padding to the longest sequence with an attention mask (a masked
/// key's softmax weight is exactly zero there) while doing no work for padding.
///
/// Immutable once loaded, so one instance serves any number of threads; the mutable state of a
/// pass lives in a `Workspace`, one per concurrent caller.
final class BertModel: @unchecked Sendable {
    // @unchecked: the weight pointers point into `storage`, written only in `init` and freed in
    // `deinit`; after `init` nothing writes through them.

    let configuration: Configuration
    /// Threads the element-wise steps (layer norm, softmax, GELU) are split over. They run
    /// between matrix products, while OpenBLAS's threads wait; on one thread they took a quarter
    /// of a pass over 200-token texts. Each element is computed exactly as on one thread.
    var parallelism = ProcessInfo.processInfo.activeProcessorCount

    private struct Layer {
        /// Query, key and value weights stacked into one [3·hidden, hidden] matrix: one GEMM for all three.
        var qkvWeight: UnsafePointer<Float>
        var qkvBias: UnsafePointer<Float>
        var attentionOutputWeight: UnsafePointer<Float>
        var attentionOutputBias: UnsafePointer<Float>
        var attentionNormWeight: UnsafePointer<Float>
        var attentionNormBias: UnsafePointer<Float>
        var intermediateWeight: UnsafePointer<Float>
        var intermediateBias: UnsafePointer<Float>
        var outputWeight: UnsafePointer<Float>
        var outputBias: UnsafePointer<Float>
        var outputNormWeight: UnsafePointer<Float>
        var outputNormBias: UnsafePointer<Float>
    }

    private let storage: UnsafeMutableBufferPointer<Float>
    private let wordEmbeddings: UnsafePointer<Float>
    private let positionEmbeddings: UnsafePointer<Float>
    private let tokenTypeEmbeddings: UnsafePointer<Float>
    private let embeddingNormWeight: UnsafePointer<Float>
    private let embeddingNormBias: UnsafePointer<Float>
    private let layers: [Layer]

    /// Loads the weights of a Hugging Face `BertModel` from a safetensors file, with or without
    /// the `bert.` prefix that `BertFor…` checkpoints put on the names.
    init(configuration: Configuration, weightsFile: URL) throws {
        let file = try SafeTensorsFile(contentsOf: weightsFile)
        let prefix = file.tensors["embeddings.word_embeddings.weight"] == nil
            && file.tensors["bert.embeddings.word_embeddings.weight"] != nil ? "bert." : ""

        let hidden = configuration.hiddenSize
        let intermediate = configuration.intermediateSize
        let perLayer = 3 * hidden * hidden + 3 * hidden + hidden * hidden + 3 * hidden
            + 2 * intermediate * hidden + intermediate + 3 * hidden
        let total = (configuration.vocabularySize + configuration.maxPositions + configuration.typeVocabularySize + 2)
            * hidden + configuration.layerCount * perLayer
        let storage = UnsafeMutableBufferPointer<Float>.allocate(capacity: total)
        var next = storage.baseAddress!
        func load(_ names: [String], shape: [Int]) throws -> UnsafePointer<Float> {
            let start = next
            for name in names {
                let bytes = try file.floatTensor(prefix + name, shape: shape)
                // The file is little-endian, as is every platform Trove builds for; copyMemory
                // (memcpy) copes with any alignment.
                UnsafeMutableRawPointer(next).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
                next += shape.reduce(1, *)
            }
            return UnsafePointer(start)
        }

        do {
            wordEmbeddings = try load(["embeddings.word_embeddings.weight"], shape: [configuration.vocabularySize, hidden])
            positionEmbeddings = try load(["embeddings.position_embeddings.weight"], shape: [configuration.maxPositions, hidden])
            tokenTypeEmbeddings = try load(
                ["embeddings.token_type_embeddings.weight"], shape: [configuration.typeVocabularySize, hidden])
            embeddingNormWeight = try load(["embeddings.LayerNorm.weight"], shape: [hidden])
            embeddingNormBias = try load(["embeddings.LayerNorm.bias"], shape: [hidden])
            var layers: [Layer] = []
            for index in 0..<configuration.layerCount {
                let p = "encoder.layer.\(index)."
                let attention = ["query", "key", "value"].map { p + "attention.self.\($0)" }
                layers.append(
                    Layer(
                        qkvWeight: try load(attention.map { $0 + ".weight" }, shape: [hidden, hidden]),
                        qkvBias: try load(attention.map { $0 + ".bias" }, shape: [hidden]),
                        attentionOutputWeight: try load([p + "attention.output.dense.weight"], shape: [hidden, hidden]),
                        attentionOutputBias: try load([p + "attention.output.dense.bias"], shape: [hidden]),
                        attentionNormWeight: try load([p + "attention.output.LayerNorm.weight"], shape: [hidden]),
                        attentionNormBias: try load([p + "attention.output.LayerNorm.bias"], shape: [hidden]),
                        intermediateWeight: try load([p + "intermediate.dense.weight"], shape: [intermediate, hidden]),
                        intermediateBias: try load([p + "intermediate.dense.bias"], shape: [intermediate]),
                        outputWeight: try load([p + "output.dense.weight"], shape: [hidden, intermediate]),
                        outputBias: try load([p + "output.dense.bias"], shape: [hidden]),
                        outputNormWeight: try load([p + "output.LayerNorm.weight"], shape: [hidden]),
                        outputNormBias: try load([p + "output.LayerNorm.bias"], shape: [hidden])
                    ))
            }
            self.layers = layers
        } catch {
            storage.deallocate()
            throw error
        }
        precondition(next == storage.baseAddress! + total, "weight layout and size disagree")
        self.storage = storage
        self.configuration = configuration
    }

    deinit {
        storage.deallocate()
    }

    /// Runs the encoder over `sequences` (token ids, each at most `maxPositions` long), packed one
    /// after another; returns the last hidden states, [total tokens × hidden], valid until the
    /// workspace's next use.
    func encode(_ sequences: [[Int32]], workspace: Workspace) -> UnsafePointer<Float> {
        let hidden = configuration.hiddenSize
        let intermediate = configuration.intermediateSize
        let headSize = hidden / configuration.headCount
        let tokens = sequences.reduce(0) { $0 + $1.count }
        let longest = sequences.reduce(0) { max($0, $1.count) }
        precondition(longest <= configuration.maxPositions, "a sequence is longer than the model's positions")
        workspace.reserve(tokens: tokens, longestSequence: longest)
        guard tokens > 0 else { return UnsafePointer(workspace.hidden) }

        // Embeddings: word + token type 0 + position, in PyTorch's order of addition, then layer norm.
        var row = workspace.hidden
        for sequence in sequences {
            for (position, id) in sequence.enumerated() {
                precondition(id >= 0 && Int(id) < configuration.vocabularySize, "token id \(id) is outside the vocabulary")
                let word = wordEmbeddings + Int(id) * hidden
                let positionRow = positionEmbeddings + position * hidden
                for j in 0..<hidden {
                    row[j] = (word[j] + tokenTypeEmbeddings[j]) + positionRow[j]
                }
                row += hidden
            }
        }
        layerNorm(workspace.hidden, rows: tokens, weight: embeddingNormWeight, bias: embeddingNormBias, into: workspace.hidden)

        let scale = 1 / Float(headSize).squareRoot()
        for layer in layers {
            // Q, K and V of every token at once: [tokens × 3·hidden].
            fill(workspace.qkv, rows: tokens, with: layer.qkvBias, width: 3 * hidden)
            gemm(
                m: tokens, n: 3 * hidden, k: hidden, a: workspace.hidden, lda: hidden, b: layer.qkvWeight, ldb: hidden,
                transposeB: true, beta: 1, c: workspace.qkv, ldc: 3 * hidden)

            // Attention, per sequence and head, reading Q, K and V in place with a row stride.
            var offset = 0
            for sequence in sequences {
                let length = sequence.count
                for head in 0..<configuration.headCount {
                    let query = workspace.qkv + offset * 3 * hidden + head * headSize
                    gemm(
                        m: length, n: length, k: headSize, alpha: scale, a: query, lda: 3 * hidden,
                        b: query + hidden, ldb: 3 * hidden, transposeB: true, beta: 0, c: workspace.scores, ldc: length)
                    let scores = workspace.scores
                    forEachRowRange(length, cost: length) { rows in
                        softmaxRows(scores + rows.lowerBound * length, rows: rows.count, columns: length)
                    }
                    gemm(
                        m: length, n: headSize, k: length, a: workspace.scores, lda: length,
                        b: query + 2 * hidden, ldb: 3 * hidden, transposeB: false, beta: 0,
                        c: workspace.context + offset * hidden + head * headSize, ldc: hidden)
                }
                offset += length
            }

            // Output projection, residual, layer norm.
            addRows(workspace.hidden, layer.attentionOutputBias, rows: tokens, width: hidden, into: workspace.scratch)
            gemm(
                m: tokens, n: hidden, k: hidden, a: workspace.context, lda: hidden, b: layer.attentionOutputWeight,
                ldb: hidden, transposeB: true, beta: 1, c: workspace.scratch, ldc: hidden)
            layerNorm(
                workspace.scratch, rows: tokens, weight: layer.attentionNormWeight, bias: layer.attentionNormBias,
                into: workspace.hidden)

            // Feed-forward: hidden → intermediate (GELU) → hidden, residual, layer norm.
            fill(workspace.intermediate, rows: tokens, with: layer.intermediateBias, width: intermediate)
            gemm(
                m: tokens, n: intermediate, k: hidden, a: workspace.hidden, lda: hidden, b: layer.intermediateWeight,
                ldb: hidden, transposeB: true, beta: 1, c: workspace.intermediate, ldc: intermediate)
            let activations = workspace.intermediate
            forEachRowRange(tokens, cost: intermediate * 8) { rows in
                gelu(activations + rows.lowerBound * intermediate, count: rows.count * intermediate)
            }
            addRows(workspace.hidden, layer.outputBias, rows: tokens, width: hidden, into: workspace.scratch)
            gemm(
                m: tokens, n: hidden, k: intermediate, a: workspace.intermediate, lda: intermediate,
                b: layer.outputWeight, ldb: intermediate, transposeB: true, beta: 1, c: workspace.scratch, ldc: hidden)
            layerNorm(
                workspace.scratch, rows: tokens, weight: layer.outputNormWeight, bias: layer.outputNormBias,
                into: workspace.hidden)
        }
        return UnsafePointer(workspace.hidden)
    }

    // MARK: - Kernels

    /// C = alpha·A·B(ᵀ) + beta·C, row-major.
    private func gemm(
        m: Int, n: Int, k: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>,
        ldb: Int, transposeB: Bool, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans, blasint(m), blasint(n), blasint(k),
            alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }

    /// Every row of `matrix` set to `row`.
    private func fill(_ matrix: UnsafeMutablePointer<Float>, rows: Int, with row: UnsafePointer<Float>, width: Int) {
        for r in 0..<rows {
            (matrix + r * width).update(from: row, count: width)
        }
    }

    /// `output` = each row of `matrix` plus `row`.
    private func addRows(
        _ matrix: UnsafePointer<Float>, _ row: UnsafePointer<Float>, rows: Int, width: Int,
        into output: UnsafeMutablePointer<Float>
    ) {
        for r in 0..<rows {
            let source = matrix + r * width
            let destination = output + r * width
            for j in 0..<width {
                destination[j] = source[j] + row[j]
            }
        }
    }

    /// Layer norm of each row (biased variance, `layerNormEpsilon`), statistics accumulated in Double.
    private func layerNorm(
        _ input: UnsafePointer<Float>, rows: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        into output: UnsafeMutablePointer<Float>
    ) {
        let width = configuration.hiddenSize
        let epsilon = Double(configuration.layerNormEpsilon)
        forEachRowRange(rows, cost: width * 4) { range in
            for r in range {
                let x = input + r * width
                let y = output + r * width
                var sum = 0.0
                for j in 0..<width { sum += Double(x[j]) }
                let mean = sum / Double(width)
                var squares = 0.0
                for j in 0..<width {
                    let centred = Double(x[j]) - mean
                    squares += centred * centred
                }
                let inverseDeviation = Float(1 / (squares / Double(width) + epsilon).squareRoot())
                let meanFloat = Float(mean)
                for j in 0..<width {
                    y[j] = (x[j] - meanFloat) * inverseDeviation * weight[j] + bias[j]
                }
            }
        }
    }

    /// Runs `body` over `rows` split into one contiguous range per thread, or in one piece when
    /// the work (`cost` per row, in rough element operations) is too small to be worth a hand-off.
    private func forEachRowRange(_ rows: Int, cost: Int, _ body: (Range<Int>) -> Void) {
        let parts = min(self.parallelism, rows)
        guard parts > 1, rows * cost >= 64 * 1024 else {
            body(0..<rows)
            return
        }
        withoutActuallyEscaping(body) { body in
            // The ranges are disjoint rows of buffers this pass owns; concurrentPerform returns
            // only when every part is done.
            let work = RowWork(body: body)
            DispatchQueue.concurrentPerform(iterations: parts) { part in
                let start = rows * part / parts
                let end = rows * (part + 1) / parts
                if start < end { work.body(start..<end) }
            }
        }
    }

    /// Softmax of each row, in place.
    private func softmaxRows(_ matrix: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
        for r in 0..<rows {
            let row = matrix + r * columns
            var largest = -Float.infinity
            for j in 0..<columns { largest = max(largest, row[j]) }
            var sum: Float = 0
            for j in 0..<columns {
                let e = expf(row[j] - largest)
                row[j] = e
                sum += e
            }
            let inverse = 1 / sum
            for j in 0..<columns { row[j] *= inverse }
        }
    }

    /// Exact GELU, x·½·(1 + erf(x/√2)), as PyTorch's default `gelu`, in place.
    private func gelu(_ values: UnsafeMutablePointer<Float>, count: Int) {
        let inverseRootTwo: Float = 0.70710678118654752440
        for i in 0..<count {
            let x = values[i]
            values[i] = x * 0.5 * (1 + erff(x * inverseRootTwo))
        }
    }
}

/// A pass's element-wise step, handed to the threads that each do a disjoint range of its rows.
private struct RowWork: @unchecked Sendable {
    let body: (Range<Int>) -> Void
}
