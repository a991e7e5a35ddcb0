// Character classes the segmenters test millions of times on a large document. Each answers ASCII
// with a compare or two and only asks the Unicode property tables about other scalars, which are
// far slower to query.

extension Unicode.Scalar {
    /// Unicode White_Space, the set `Character.isWhitespace` and BERT's cleaner use.
    var isTextWhitespace: Bool {
        let value = self.value
        if value < 0x80 {
            return value == 0x20 || (value >= 0x09 && value <= 0x0D)
        }
        switch value {
        case 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }

    /// A scalar that ends a line: LF, VT, FF, CR, NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR.
    var isLineBreak: Bool {
        switch self.value {
        case 0x0A...0x0D, 0x85, 0x2028, 0x2029:
            return true
        default:
            return false
        }
    }

    /// Punctuation as BERT's basic tokenizer sees it: every ASCII symbol, and Unicode categories P*.
    /// BERT makes each such scalar a word of its own, so token counts add up across these splits.
    var isBERTPunctuation: Bool {
        let value = self.value
        if value < 0x80 {
            return (value >= 33 && value <= 47) || (value >= 58 && value <= 64)
                || (value >= 91 && value <= 96) || (value >= 123 && value <= 126)
        }
        switch self.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
            .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }

    /// The CJK ideograph blocks BERT surrounds with spaces, making each ideograph a word.
    var isCJKIdeograph: Bool {
        switch self.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F,
            0x2B740...0x2B81F, 0x2B820...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }

    /// A scalar that belongs to the grapheme before it (combining marks, joiners, variation
    /// selectors, emoji modifiers and tags), so a hard split should not fall just before it.
    var extendsPreviousScalar: Bool {
        let value = self.value
        if value < 0x300 { return false }
        switch value {
        case 0x200C, 0x200D, 0xFE00...0xFE0F, 0xE0100...0xE01EF, 0x1F3FB...0x1F3FF, 0xE0020...0xE007F:
            return true
        default:
            switch self.properties.generalCategory {
            case .nonspacingMark, .spacingMark, .enclosingMark:
                return true
            default:
                return false
            }
        }
    }

    /// An ASCII letter, the only scalars an HTML tag name may start with.
    var isASCIILetter: Bool {
        (self.value >= 0x41 && self.value <= 0x5A) || (self.value >= 0x61 && self.value <= 0x7A)
    }

    /// An ASCII digit.
    var isASCIIDigit: Bool {
        self.value >= 0x30 && self.value <= 0x39
    }

    /// ASCII punctuation, the scalars a Markdown backslash escapes.
    var isASCIIPunctuation: Bool {
        let value = self.value
        return (value >= 33 && value <= 47) || (value >= 58 && value <= 64)
            || (value >= 91 && value <= 96) || (value >= 123 && value <= 126)
    }

    /// The scalar with ASCII capitals lowered; other scalars unchanged.
    var asciiLowercased: Unicode.Scalar {
        (self.value >= 0x41 && self.value <= 0x5A) ? Unicode.Scalar(UInt8(self.value + 0x20)) : self
    }

    /// How many bytes the scalar takes in UTF-8.
    var utf8Length: Int {
        switch self.value {
        case ..<0x80: return 1
        case ..<0x800: return 2
        case ..<0x10000: return 3
        default: return 4
        }
    }
}

extension Sequence where Element == Unicode.Scalar {
    /// The scalars as a `String`, built through UTF-8 in one pass. (Appending to a
    /// `String.UnicodeScalarView` piece by piece is quadratic: each `append(contentsOf:)` copies.)
    var string: String {
        var utf8: [UInt8] = []
        utf8.reserveCapacity(underestimatedCount)
        for scalar in self {
            let value = scalar.value
            switch value {
            case ..<0x80:
                utf8.append(UInt8(value))
            case ..<0x800:
                utf8.append(UInt8(0xC0 | value >> 6))
                utf8.append(UInt8(0x80 | value & 0x3F))
            case ..<0x10000:
                utf8.append(UInt8(0xE0 | value >> 12))
                utf8.append(UInt8(0x80 | value >> 6 & 0x3F))
                utf8.append(UInt8(0x80 | value & 0x3F))
            default:
                utf8.append(UInt8(0xF0 | value >> 18))
                utf8.append(UInt8(0x80 | value >> 12 & 0x3F))
                utf8.append(UInt8(0x80 | value >> 6 & 0x3F))
                utf8.append(UInt8(0x80 | value & 0x3F))
            }
        }
        return String(decoding: utf8, as: UTF8.self)
    }
}
