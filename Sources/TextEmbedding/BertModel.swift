import COpenBLAS
import CVectorKernels
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A BERT encoder (post-layer-norm, absolute positions, exact-erf GELU) in F32, its dense layers
/// in Trove's AVX-512 kernel over weights packed at load where the CPU has AVX-512F, and every
/// other matrix product through OpenBLAS. It returns the last hidden state of every token;
/// pooling is the caller's.
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
    /// Threads a pass is split over: the large matrix products by rows of tokens, attention by
    /// (text, head), the element-wise steps (layer norm, softmax, GELU) by rows. OpenBLAS runs on
    /// one thread inside each part: its own pool spun waiting between the many small products of
    /// attention and between the steps (about 30 % of a pass's time with 2 threads), and it
    /// could not run two heads' small products at once.
    var parallelism = ProcessInfo.processInfo.activeProcessorCount

    private struct Layer {
        /// Query, key and value weights stacked into one [3·hidden, hidden] matrix: one GEMM for all three.
        var qkvWeight: DenseWeight
        var qkvBias: UnsafePointer<Float>
        var attentionOutputWeight: DenseWeight
        var attentionOutputBias: UnsafePointer<Float>
        var attentionNormWeight: UnsafePointer<Float>
        var attentionNormBias: UnsafePointer<Float>
        var intermediateWeight: DenseWeight
        var intermediateBias: UnsafePointer<Float>
        var outputWeight: DenseWeight
        var outputBias: UnsafePointer<Float>
        var outputNormWeight: UnsafePointer<Float>
        var outputNormBias: UnsafePointer<Float>
    }

    /// The weights of a dense layer, [outputs × inputs] as stored in the file, or packed in panels
    /// for `trove_gemm_packed`.
    private struct DenseWeight {
        var values: UnsafePointer<Float>
        var outputs: Int
        var inputs: Int
        var isPacked: Bool
    }

    /// Whether this CPU can run the dense products on packed weights (AVX-512F).
    static let packedWeightsSupported = trove_gemm_packed_supported() != 0

    /// Whether layer norm, softmax and GELU (C kernels) run eight floats at a time with AVX2 and
    /// FMA; the portable path computes the same approximations.
    private static let kernelsUseAVX2 = trove_kernels_use_avx2()

    private let storage: UnsafeMutableBufferPointer<Float>
    /// The dense layers' weights when they are packed; empty otherwise.
    private let packedStorage: UnsafeMutableRawBufferPointer
    private let wordEmbeddings: UnsafePointer<Float>
    private let positionEmbeddings: UnsafePointer<Float>
    private let tokenTypeEmbeddings: UnsafePointer<Float>
    private let embeddingNormWeight: UnsafePointer<Float>
    private let embeddingNormBias: UnsafePointer<Float>
    private let layers: [Layer]

    /// Loads the weights of a Hugging Face `BertModel` from a safetensors file, with or without
    /// the `bert.` prefix that `BertFor…` checkpoints put on the names. With `packWeights` the
    /// dense layers' weights are packed once here and their products run in Trove's AVX-512
    /// kernel, which packs nothing per call; without it every product goes through OpenBLAS.
    init(configuration: Configuration, weightsFile: URL, packWeights: Bool = BertModel.packedWeightsSupported) throws {
        precondition(!packWeights || Self.packedWeightsSupported, "packed weights need AVX-512F")
        let file = try SafeTensorsFile(contentsOf: weightsFile)
        let prefix = file.tensors["embeddings.word_embeddings.weight"] == nil
            && file.tensors["bert.embeddings.word_embeddings.weight"] != nil ? "bert." : ""

        let hidden = configuration.hiddenSize
        let intermediate = configuration.intermediateSize
        // [outputs, inputs] of the dense weights of one layer.
        let denseShapes = [(3 * hidden, hidden), (hidden, hidden), (intermediate, hidden), (hidden, intermediate)]
        let denseCount = denseShapes.reduce(0) { $0 + $1.0 * $1.1 }
        let perLayer = 3 * hidden + 3 * hidden + intermediate + 3 * hidden + (packWeights ? 0 : denseCount)
        let total = (configuration.vocabularySize + configuration.maxPositions + configuration.typeVocabularySize + 2)
            * hidden + configuration.layerCount * perLayer
        let packedTotal = packWeights ? configuration.layerCount * denseShapes.reduce(0) { $0 + trove_gemm_packed_count($1.0, $1.1) } : 0
        let storage = UnsafeMutableBufferPointer<Float>.allocate(capacity: total)
        let packedStorage = UnsafeMutableRawBufferPointer.allocate(
            byteCount: packedTotal * MemoryLayout<Float>.size, alignment: 64)
        // A dense layer's weights on their way to being packed.
        let unpacked = UnsafeMutableBufferPointer<Float>.allocate(capacity: packWeights ? denseShapes.map { $0.0 * $0.1 }.max()! : 0)
        defer { unpacked.deallocate() }
        var next = storage.baseAddress!
        var nextPacked = packedStorage.bindMemory(to: Float.self).baseAddress
        func copy(_ names: [String], shape: [Int], to destination: UnsafeMutablePointer<Float>) throws {
            var destination = destination
            for name in names {
                let bytes = try file.floatTensor(prefix + name, shape: shape)
                // The file is little-endian, as is every platform Trove builds for; copyMemory
                // (memcpy) copes with any alignment.
                UnsafeMutableRawPointer(destination).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
                destination += shape.reduce(1, *)
            }
        }
        func load(_ names: [String], shape: [Int]) throws -> UnsafePointer<Float> {
            let start = next
            try copy(names, shape: shape, to: start)
            next += names.count * shape.reduce(1, *)
            return UnsafePointer(start)
        }
        /// The weights of one dense layer, stacked when there are several names of [rows, inputs] each.
        func loadDense(_ names: [String], rows: Int, inputs: Int) throws -> DenseWeight {
            let outputs = names.count * rows
            guard packWeights, let packed = nextPacked else {
                return DenseWeight(values: try load(names, shape: [rows, inputs]), outputs: outputs, inputs: inputs, isPacked: false)
            }
            try copy(names, shape: [rows, inputs], to: unpacked.baseAddress!)
            trove_gemm_pack(unpacked.baseAddress!, inputs, outputs, inputs, packed)
            // Whole panels of 32 floats per step of depth: the next matrix starts 64-byte aligned too.
            nextPacked = packed + trove_gemm_packed_count(outputs, inputs)
            return DenseWeight(values: UnsafePointer(packed), outputs: outputs, inputs: inputs, isPacked: true)
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
                        qkvWeight: try loadDense(attention.map { $0 + ".weight" }, rows: hidden, inputs: hidden),
                        qkvBias: try load(attention.map { $0 + ".bias" }, shape: [hidden]),
                        attentionOutputWeight: try loadDense([p + "attention.output.dense.weight"], rows: hidden, inputs: hidden),
                        attentionOutputBias: try load([p + "attention.output.dense.bias"], shape: [hidden]),
                        attentionNormWeight: try load([p + "attention.output.LayerNorm.weight"], shape: [hidden]),
                        attentionNormBias: try load([p + "attention.output.LayerNorm.bias"], shape: [hidden]),
                        intermediateWeight: try loadDense([p + "intermediate.dense.weight"], rows: intermediate, inputs: hidden),
                        intermediateBias: try load([p + "intermediate.dense.bias"], shape: [intermediate]),
                        outputWeight: try loadDense([p + "output.dense.weight"], rows: hidden, inputs: intermediate),
                        outputBias: try load([p + "output.dense.bias"], shape: [hidden]),
                        outputNormWeight: try load([p + "output.LayerNorm.weight"], shape: [hidden]),
                        outputNormBias: try load([p + "output.LayerNorm.bias"], shape: [hidden])
                    ))
            }
            self.layers = layers
        } catch {
            storage.deallocate()
            packedStorage.deallocate()
            throw error
        }
        precondition(next == storage.baseAddress! + total, "weight layout and size disagree")
        precondition(
            nextPacked == packedStorage.bindMemory(to: Float.self).baseAddress.map { $0 + packedTotal },
            "packed weight layout and size disagree")
        self.storage = storage
        self.packedStorage = packedStorage
        self.configuration = configuration
    }

    deinit {
        storage.deallocate()
        packedStorage.deallocate()
    }

    /// Runs the encoder over `sequences` (token ids, each at most `maxPositions` long), packed one
    /// after another, on `threads` threads (`nil`: `parallelism`); returns the last hidden
    /// states, [total tokens × hidden], valid until the workspace's next use.
    ///
    /// With enough texts, the threads encode groups of them from start to end, each group in the
    /// workspace of the thread that took it, and nothing is shared until the rows are gathered:
    /// the threads never wait for each other between steps. The groups are small (about
    /// `groupTokens` tokens, at least `groupsPerThread` per thread) and taken one at a time as
    /// threads come free, so that a thread that got cheaper texts (attention grows with the
    /// square of a text's length) or a slower core does not leave the other waiting at the end.
    /// Fewer texts than that (one query, say) are split inside each step instead: products by
    /// rows, attention by (text, head), element-wise steps by rows. One thread, too, takes a batch
    /// of at least two groups' worth of tokens in groups, whose activations stay in its core's
    /// cache (see `groupTokens`): 32 sentences of ~70 tokens encoded 1.5–3 % faster than in one pass.
    func encode(_ sequences: [[Int32]], workspace: Workspace, threads: Int? = nil) -> UnsafePointer<Float> {
        let parts = max(1, threads ?? self.parallelism)
        let tokens = sequences.reduce(0) { $0 + $1.count }
        guard sequences.count >= 2 * parts, parts > 1 || tokens >= 2 * Self.groupTokens else {
            return self.encode(sequences, workspace: workspace, parts: parts)
        }
        // Contiguous groups of about equal tokens, so that each group's rows are one range of
        // the output.
        let groupCount = min(
            sequences.count, max(Self.groupsPerThread * parts, (tokens + Self.groupTokens - 1) / Self.groupTokens))
        var groups: [(texts: Range<Int>, firstRow: Int)] = []
        var start = 0
        var startRow = 0
        var counted = 0
        for (index, sequence) in sequences.enumerated() {
            counted += sequence.count
            if counted * groupCount >= tokens * (groups.count + 1) || index == sequences.count - 1 {
                groups.append((start..<(index + 1), startRow))
                start = index + 1
                startRow = counted
            }
        }
        // The group with the longest text first: the costliest go first, the cheapest fill in.
        let longestInGroup = groups.map { group in sequences[group.texts].reduce(0) { max($0, $1.count) } }
        let order = groups.indices.sorted { longestInGroup[$0] > longestInGroup[$1] }
        let longest = longestInGroup.max() ?? 0
        workspace.reserve(tokens: tokens, longestSequence: longest, parts: 1)
        let threads = workspace.threadWorkspaces(parts)
        let hidden = configuration.hiddenSize
        let output = workspace.hidden
        let nextGroup = Atomic(0)
        concurrently(parts) { part in
            while true {
                let taken = nextGroup.add(1, ordering: .relaxed).oldValue
                guard taken < order.count else { return }
                let group = groups[order[taken]]
                let texts = Array(sequences[group.texts])
                let states = self.encode(texts, workspace: threads[part], parts: 1)
                let rows = texts.reduce(0) { $0 + $1.count }
                (output + group.firstRow * hidden).update(from: states, count: rows * hidden)
            }
        }
        return UnsafePointer(output)
    }

    /// Groups of texts per thread, at least, in a pass that splits the texts between threads.
    private static let groupsPerThread = 4

    /// Tokens per group, about, when that makes more groups than `groupsPerThread`. A group this
    /// small keeps its activations in a core's cache through each step (the feed-forward's are
    /// 6 KiB a token) and leaves little for one thread to finish alone at the end: two threads on
    /// 32 sentences of ~70 tokens encoded 4–6 % more per second than in 8 groups of 4 sentences.
    private static let groupTokens = 160

    /// One pass over `sequences`, each step split over `parts` threads.
    private func encode(_ sequences: [[Int32]], workspace: Workspace, parts: Int) -> UnsafePointer<Float> {
        let hidden = configuration.hiddenSize
        let headSize = hidden / configuration.headCount
        let tokens = sequences.reduce(0) { $0 + $1.count }
        let longest = sequences.reduce(0) { max($0, $1.count) }
        precondition(longest <= configuration.maxPositions, "a sequence is longer than the model's positions")
        workspace.reserve(tokens: tokens, longestSequence: longest, parts: parts)
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
        layerNorm(workspace.hidden, rows: tokens, parts: parts, weight: embeddingNormWeight, bias: embeddingNormBias, into: workspace.hidden)

        let scale = 1 / Float(headSize).squareRoot()
        // Every (text, head) pair's first token and length, the longest first so that the parts
        // finish together.
        var attention: [(offset: Int, length: Int, head: Int)] = []
        attention.reserveCapacity(sequences.count * configuration.headCount)
        var offset = 0
        for sequence in sequences {
            for head in 0..<configuration.headCount {
                attention.append((offset, sequence.count, head))
            }
            offset += sequence.count
        }
        attention.sort { $0.length > $1.length }
        for layer in layers {
            // Q, K and V of every token at once: [tokens × 3·hidden].
            dense(parts: parts, rows: tokens, input: workspace.hidden, weight: layer.qkvWeight, bias: layer.qkvBias, into: workspace.qkv)

            // Attention, per text and head, reading Q, K and V in place with a row stride. The
            // (text, head) pairs are dealt round-robin to the parts, each with its own scores.
            let qkv = UnsafePointer(workspace.qkv)
            let context = workspace.context
            let scoresStride = longest * longest
            forEachPart(parts, of: attention.count) { part, pairs in
                let scores = workspace.scores + part * scoresStride
                for index in pairs {
                    let (offset, length, head) = attention[index]
                    let query = qkv + offset * 3 * hidden + head * headSize
                    gemm(
                        m: length, n: length, k: headSize, alpha: scale, a: query, lda: 3 * hidden,
                        b: query + hidden, ldb: 3 * hidden, transposeB: true, beta: 0, c: scores, ldc: length)
                    trove_softmax_rows(scores, length, length, Self.kernelsUseAVX2)
                    gemm(
                        m: length, n: headSize, k: length, a: scores, lda: length,
                        b: query + 2 * hidden, ldb: 3 * hidden, transposeB: false, beta: 0,
                        c: context + offset * hidden + head * headSize, ldc: hidden)
                }
            }

            // Output projection, residual, layer norm.
            dense(
                parts: parts, rows: tokens, input: workspace.context, weight: layer.attentionOutputWeight,
                bias: layer.attentionOutputBias, residual: workspace.hidden, into: workspace.scratch)
            layerNorm(
                workspace.scratch, rows: tokens, parts: parts, weight: layer.attentionNormWeight, bias: layer.attentionNormBias,
                into: workspace.hidden)

            // Feed-forward: hidden → intermediate (GELU) → hidden, residual, layer norm.
            dense(
                parts: parts, rows: tokens, input: workspace.hidden, weight: layer.intermediateWeight,
                bias: layer.intermediateBias, gelu: true, into: workspace.intermediate)
            dense(
                parts: parts, rows: tokens, input: workspace.intermediate, weight: layer.outputWeight,
                bias: layer.outputBias, residual: workspace.hidden, into: workspace.scratch)
            layerNorm(
                workspace.scratch, rows: tokens, parts: parts, weight: layer.outputNormWeight, bias: layer.outputNormBias,
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

    /// output[rows × outputs] = residual + bias + input[rows × inputs] · weightᵀ, then GELU of
    /// each value if `gelu`; split over the parts by columns of the output — rows of the weights
    /// — each part one single-threaded call. Splitting by rows of the input made every part pack
    /// all of the weights for OpenBLAS; for the few tokens of a query, that packing was most of
    /// the work (half of a one-sentence pass went to `sgemm_incopy`). Packed weights are split on
    /// whole panels and packed no more, and their kernel adds the bias and the residual as it
    /// starts and applies GELU to each tile it has just stored, instead of passes of their own
    /// over the output.
    private func dense(
        parts: Int, rows: Int, input: UnsafePointer<Float>, weight: DenseWeight, bias: UnsafePointer<Float>,
        residual: UnsafePointer<Float>? = nil, gelu: Bool = false, into output: UnsafeMutablePointer<Float>
    ) {
        let (outputs, inputs) = (weight.outputs, weight.inputs)
        guard weight.isPacked else {
            if let residual {
                addRows(residual, bias, rows: rows, width: outputs, into: output)
            } else {
                fill(output, rows: rows, with: bias, width: outputs)
            }
            forEachRowRange(outputs, parts: parts, cost: rows * inputs) { columns in
                gemm(
                    m: rows, n: columns.count, k: inputs, a: input, lda: inputs, b: weight.values + columns.lowerBound * inputs,
                    ldb: inputs, transposeB: true, beta: 1, c: output + columns.lowerBound, ldc: outputs)
            }
            if gelu {
                forEachRowRange(rows, parts: parts, cost: outputs * 8) { range in
                    trove_gelu(output + range.lowerBound * outputs, range.count * outputs, Self.kernelsUseAVX2)
                }
            }
            return
        }
        let panel = Int(TROVE_GEMM_PANEL)
        let panels = (outputs + panel - 1) / panel
        forEachRowRange(panels, parts: parts, cost: rows * inputs * panel) { panelRange in
            let first = panelRange.lowerBound * panel
            let end = min(panelRange.upperBound * panel, outputs)
            trove_gemm_packed_bias(
                rows, end - first, inputs, input, inputs, weight.values + first * inputs, bias + first, residual.map { $0 + first },
                outputs, gelu ? 1 : 0, output + first, outputs)
        }
    }

    /// Runs `body(part, indices)` for `parts` parts of `count` items dealt round-robin, at once.
    private func forEachPart(_ parts: Int, of count: Int, _ body: (Int, StrideTo<Int>) -> Void) {
        let parts = min(parts, count)
        guard parts > 1 else {
            body(0, stride(from: 0, to: count, by: 1))
            return
        }
        concurrently(parts) { part in
            body(part, stride(from: part, to: count, by: parts))
        }
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
        _ input: UnsafePointer<Float>, rows: Int, parts: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        into output: UnsafeMutablePointer<Float>
    ) {
        let width = configuration.hiddenSize
        let epsilon = Double(configuration.layerNormEpsilon)
        forEachRowRange(rows, parts: parts, cost: width * 4) { range in
            trove_layer_norm(
                input + range.lowerBound * width, output + range.lowerBound * width, range.count, width, weight, bias, epsilon,
                Self.kernelsUseAVX2)
        }
    }

    /// Runs `body(part)` for each of `parts` parts at once; returns when all are done.
    private func concurrently(_ parts: Int, _ body: (Int) -> Void) {
        withoutActuallyEscaping(body) { body in
            let work = PartOfPass(body: body)
            DispatchQueue.concurrentPerform(iterations: parts) { part in work.body(part) }
        }
    }

    /// Runs `body` over `rows` split into one contiguous range per thread, or in one piece when
    /// the work (`cost` per row, in rough element operations) is too small to be worth a hand-off.
    private func forEachRowRange(_ rows: Int, parts: Int, cost: Int, _ body: (Range<Int>) -> Void) {
        let parts = min(parts, rows)
        guard parts > 1, rows * cost >= 64 * 1024 else {
            body(0..<rows)
            return
        }
        // The ranges are disjoint rows of buffers this pass owns.
        concurrently(parts) { part in
            let start = rows * part / parts
            let end = rows * (part + 1) / parts
            if start < end { body(start..<end) }
        }
    }
}

/// Work handed to the threads of a pass; each part writes only memory no other part touches.
private struct PartOfPass: @unchecked Sendable {
    let body: (Int) -> Void
}
