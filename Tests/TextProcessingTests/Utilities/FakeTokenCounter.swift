import Synchronization

/// A stand-in for the Tokenize RPC: counts what BERT's basic tokenizer makes words (runs of other
/// scalars between whitespace, each punctuation scalar, each CJK ideograph), as if every word were
/// one WordPiece token. Like the real counts, these add up over whitespace and punctuation splits.
final class FakeTokenCounter: Sendable {
    private let calls = Mutex<[Int]>([])

    /// The batch size of each call so far.
    var batchSizes: [Int] { calls.withLock { $0 } }

    /// The closure to give the chunker.
    var countTokens: @Sendable ([Substring]) async throws -> [Int] {
        { [self] pieces in
            self.calls.withLock { $0.append(pieces.count) }
            return pieces.map(Self.count)
        }
    }

    static func count(_ text: Substring) -> Int {
        var count = 0
        var inWord = false
        for scalar in text.unicodeScalars {
            if scalar.properties.isWhitespace {
                inWord = false
            } else if isPunctuation(scalar) || isCJKIdeograph(scalar) {
                count += 1
                inWord = false
            } else if !inWord {
                count += 1
                inWord = true
            }
        }
        return count
    }

    static func count(_ text: String) -> Int {
        count(text[...])
    }

    private static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.isASCII {
            let value = scalar.value
            return (33...47).contains(value) || (58...64).contains(value) || (91...96).contains(value)
                || (123...126).contains(value)
        }
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
            .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }

    private static func isCJKIdeograph(_ scalar: Unicode.Scalar) -> Bool {
        (0x4E00...0x9FFF).contains(scalar.value) || (0x3400...0x4DBF).contains(scalar.value)
            || (0xF900...0xFAFF).contains(scalar.value) || (0x20000...0x2FA1F).contains(scalar.value)
    }
}
