extension BertModel {
    /// The buffers of one forward pass, kept between passes so that a pass allocates nothing once
    /// they are large enough. Not thread-safe: one workspace per concurrent caller.
    final class Workspace {
        private let hiddenSize: Int
        private let intermediateSize: Int
        private(set) var tokenCapacity = 0
        private(set) var sequenceCapacity = 0
        private(set) var partCapacity = 0

        /// [tokens × hidden]: the hidden states, input and output of each layer.
        private(set) var hidden: UnsafeMutablePointer<Float>
        /// [tokens × 3·hidden]: queries, keys and values.
        private(set) var qkv: UnsafeMutablePointer<Float>
        /// [tokens × hidden]: attention output before its projection.
        private(set) var context: UnsafeMutablePointer<Float>
        /// [tokens × hidden]: a projection plus its residual, before layer norm.
        private(set) var scratch: UnsafeMutablePointer<Float>
        /// [tokens × intermediate]: the feed-forward activations.
        private(set) var intermediate: UnsafeMutablePointer<Float>
        /// [parts × longest sequence²]: one head's attention scores for each part of a pass.
        private(set) var scores: UnsafeMutablePointer<Float>

        init(configuration: Configuration) {
            self.configuration = configuration
            hiddenSize = configuration.hiddenSize
            intermediateSize = configuration.intermediateSize
            hidden = .allocate(capacity: 0)
            qkv = .allocate(capacity: 0)
            context = .allocate(capacity: 0)
            scratch = .allocate(capacity: 0)
            intermediate = .allocate(capacity: 0)
            scores = .allocate(capacity: 0)
        }

        deinit {
            for buffer in [hidden, qkv, context, scratch, intermediate, scores] {
                buffer.deallocate()
            }
        }

        /// One workspace per thread, for passes that split a batch's texts between threads;
        /// made on first use and kept.
        private var perThread: [Workspace] = []
        private let configuration: Configuration

        func threadWorkspaces(_ count: Int) -> [Workspace] {
            while perThread.count < count {
                perThread.append(Workspace(configuration: configuration))
            }
            return Array(perThread.prefix(count))
        }

        /// Grows the buffers, with headroom, to hold `tokens` tokens and, for each of `parts`, the
        /// scores of a sequence of `longestSequence`.
        func reserve(tokens: Int, longestSequence: Int, parts: Int) {
            if tokens > tokenCapacity {
                let capacity = max(tokens, tokenCapacity * 3 / 2, 64)
                for buffer in [hidden, qkv, context, scratch, intermediate] {
                    buffer.deallocate()
                }
                hidden = .allocate(capacity: capacity * hiddenSize)
                qkv = .allocate(capacity: capacity * 3 * hiddenSize)
                context = .allocate(capacity: capacity * hiddenSize)
                scratch = .allocate(capacity: capacity * hiddenSize)
                intermediate = .allocate(capacity: capacity * intermediateSize)
                tokenCapacity = capacity
            }
            if longestSequence > sequenceCapacity || parts > partCapacity {
                scores.deallocate()
                sequenceCapacity = max(longestSequence, sequenceCapacity)
                partCapacity = max(parts, partCapacity)
                scores = .allocate(capacity: partCapacity * sequenceCapacity * sequenceCapacity)
            }
        }
    }
}
