import Foundation

extension BertModel {
    /// The architecture, from a Hugging Face `config.json`.
    struct Configuration: Sendable, Equatable {
        var vocabularySize: Int
        var hiddenSize: Int
        var layerCount: Int
        var headCount: Int
        var intermediateSize: Int
        var maxPositions: Int
        var typeVocabularySize: Int
        var layerNormEpsilon: Float

        /// Reads `config.json`, refusing what this encoder does not implement (another activation,
        /// relative positions), so such a model fails at load instead of giving wrong vectors.
        init(contentsOf url: URL) throws {
            struct File: Decodable {
                var vocab_size: Int
                var hidden_size: Int
                var num_hidden_layers: Int
                var num_attention_heads: Int
                var intermediate_size: Int
                var max_position_embeddings: Int
                var type_vocab_size: Int
                var layer_norm_eps: Double
                var hidden_act: String?
                var position_embedding_type: String?
            }
            let file: File
            do {
                file = try JSONDecoder().decode(File.self, from: Data(contentsOf: url))
            } catch let error as CocoaError where error.code == .fileReadNoSuchFile {
                throw TextEmbeddingError(code: .modelNotFound, message: "\(url.path) does not exist", cause: error)
            } catch {
                throw TextEmbeddingError(code: .invalidModel, message: "cannot read \(url.path)", cause: error)
            }
            guard (file.hidden_act ?? "gelu") == "gelu" else {
                throw TextEmbeddingError(
                    code: .invalidModel, message: "\(url.path): hidden_act \(file.hidden_act ?? "") is not supported, only gelu")
            }
            guard (file.position_embedding_type ?? "absolute") == "absolute" else {
                throw TextEmbeddingError(
                    code: .invalidModel,
                    message: "\(url.path): position_embedding_type \(file.position_embedding_type ?? "") is not supported")
            }
            guard file.num_attention_heads > 0, file.hidden_size % file.num_attention_heads == 0 else {
                throw TextEmbeddingError(
                    code: .invalidModel, message: "\(url.path): hidden_size is not a multiple of num_attention_heads")
            }
            self.vocabularySize = file.vocab_size
            self.hiddenSize = file.hidden_size
            self.layerCount = file.num_hidden_layers
            self.headCount = file.num_attention_heads
            self.intermediateSize = file.intermediate_size
            self.maxPositions = file.max_position_embeddings
            self.typeVocabularySize = file.type_vocab_size
            self.layerNormEpsilon = Float(file.layer_norm_eps)
        }

        /// The floating-point operations (a multiply and an add counted apart) of the matrix
        /// products of one pass over texts of `tokenCounts` tokens each: per token and layer, the
        /// query, key, value and output projections and the two feed-forward layers; per text and
        /// layer, attention's scores and weighted sum, which grow with the square of its length.
        /// Layer norm, softmax and GELU, a few operations per value rather than per product term,
        /// are left out.
        func productOperations(tokenCounts: [Int]) -> Double {
            let hidden = Double(hiddenSize)
            let perToken = 2 * (4 * hidden * hidden + 2 * hidden * Double(intermediateSize))
            let total = tokenCounts.reduce(0.0) { sum, count in
                let tokens = Double(count)
                return sum + tokens * perToken + 4 * tokens * tokens * hidden
            }
            return total * Double(layerCount)
        }
    }
}
