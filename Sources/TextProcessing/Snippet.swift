import Foundation

/// Search-result snippets: a short passage around where the query's words are.
public enum Snippet {
    /// Query words too common to say where the passage is, with the words a question starts with.
    private static let stopWords: Set<String> = [
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "could", "did", "do", "does", "for",
        "from", "has", "have", "how", "if", "in", "into", "is", "it", "its", "my", "of", "on", "or", "our",
        "should", "so", "than", "that", "the", "then", "there", "they", "this", "to", "was", "we", "were",
        "what", "when", "where", "which", "who", "why", "will", "with", "would", "you", "your",
    ]

    /// English endings a word and a query word may differ by ("index" finds "indexes" and
    /// "indexing"), longest first.
    private static let suffixes: [[Unicode.Scalar]] = ["ing", "ers", "es", "ed", "er", "ly", "s"].map {
        Array($0.unicodeScalars)
    }

    private struct Match {
        var start: Int
        var end: Int
        var term: Int
    }

    /// A short passage of `content` (at most `maxScalars` scalars, "…" included, markers not; cut at
    /// word boundaries with "…" where cut; whitespace as `Passage` writes it) centred on the
    /// densest run of query-word matches, each match wrapped in `open`/`close`. Matching is case-
    /// and diacritic-insensitive, on whole words give or take a few English endings, or on
    /// substrings for CJK words; words shorter than 2 scalars and stop words are ignored. No
    /// match: the start of the content.
    public static func make(
        content: String, query: String, maxScalars: Int = 240, open: String = "[", close: String = "]"
    ) -> String {
        let scalars = Array(content.unicodeScalars)
        let limit = max(1, maxScalars)
        let matches = findMatches(of: queryTerms(query), in: scalars)

        var focus = 0..<0
        if let densest = densestRun(matches, width: max(1, limit - 2)) {
            focus = matches[densest.lowerBound].start..<matches[densest.upperBound].end
        }
        var range = 0..<scalars.count
        if scalars.count > limit {
            range = window(around: focus, in: scalars, budget: max(1, limit - 2))
        }
        // Whitespace at either end is dropped rather than shown as a space.
        var lower = range.lowerBound
        var upper = range.upperBound
        while lower < upper && scalars[lower].isTextWhitespace { lower += 1 }
        while upper > lower && scalars[upper - 1].isTextWhitespace { upper -= 1 }

        var passage = Passage()
        // Below 3 scalars there is no room for ellipses.
        let marksCuts = limit >= 3
        if range.lowerBound > 0 && marksCuts { passage.write(marker: "…") }
        var nextMatch = matches.firstIndex { $0.start >= lower } ?? matches.count
        var index = lower
        while index < upper {
            if nextMatch < matches.count && matches[nextMatch].start == index && matches[nextMatch].end <= upper {
                let match = matches[nextMatch]
                passage.write(marker: open)
                passage.write(text: scalars[match.start..<match.end])
                passage.write(marker: close)
                index = match.end
                nextMatch += 1
                continue
            }
            if scalars[index].isTextWhitespace {
                let start = index
                while index < upper && scalars[index].isTextWhitespace { index += 1 }
                passage.write(whitespace: scalars[start..<index])
                continue
            }
            passage.write(text: scalars[index...index])
            index += 1
        }
        if range.upperBound < scalars.count && marksCuts { passage.write(marker: "…") }
        return passage.scalars.string
    }

    /// `snippet` (made elsewhere: SQLite's full-text search keeps the text's line breaks) on one
    /// line, each whitespace run shown as `make` shows it and none at either end; the `open` and
    /// `close` marks are kept, and looked through to the text before them.
    public static func flattened(_ snippet: String, open: String, close: String) -> String {
        let scalars = Array(snippet.unicodeScalars)
        let marks = [open, close].filter { !$0.isEmpty }
        var passage = Passage()
        var index = 0
        while index < scalars.count {
            if let mark = marks.first(where: { scalars[index...].starts(with: $0.unicodeScalars) }) {
                passage.write(marker: mark)
                index += mark.unicodeScalars.count
                continue
            }
            if scalars[index].isTextWhitespace {
                let start = index
                while index < scalars.count && scalars[index].isTextWhitespace { index += 1 }
                if passage.hasText && index < scalars.count {
                    passage.write(whitespace: scalars[start..<index])
                }
                continue
            }
            passage.write(text: scalars[index...index])
            index += 1
        }
        return passage.scalars.string
    }

    /// A passage being written, which shows each run of whitespace as one space, or as " — "
    /// where the run holds a blank line (a paragraph break: a heading and the paragraph under it,
    /// say) after text that does not end a sentence or clause, so that "Keeping a Starter Alive"
    /// and the paragraph under it do not read as one sentence. A single line break is a space:
    /// plain text is often wrapped in the middle of a sentence.
    private struct Passage {
        private(set) var scalars: [Unicode.Scalar] = []
        /// The last scalar of text written, closing quotes and brackets skipped.
        private var previous: Unicode.Scalar?

        /// Whether any text (not only markers) has been written.
        var hasText: Bool { previous != nil }

        mutating func write(text: ArraySlice<Unicode.Scalar>) {
            scalars.append(contentsOf: text)
            if let last = text.last(where: { !"\"')]}»”’".unicodeScalars.contains($0) }) { previous = last }
        }

        /// A match's mark or an ellipsis: written, but not text to look back at.
        mutating func write(marker: String) {
            scalars.append(contentsOf: marker.unicodeScalars)
        }

        mutating func write(whitespace: ArraySlice<Unicode.Scalar>) {
            var breaks = 0
            for (offset, scalar) in zip(whitespace.indices, whitespace) {
                switch scalar {
                case "\n", "\u{2028}": breaks += 1
                case "\r": if offset + 1 == whitespace.endIndex || whitespace[offset + 1] != "\n" { breaks += 1 }
                case "\u{2029}": breaks += 2
                default: break
                }
            }
            let endsClause = previous.map { ".!?:;,…—–-".unicodeScalars.contains($0) } ?? true
            scalars.append(contentsOf: (breaks >= 2 && !endsClause ? " — " : " ").unicodeScalars)
        }
    }

    /// `snippet` without the marks around words that `make` would not mark — stop words and words
    /// shorter than 2 scalars — for snippets made elsewhere: SQLite's full-text search marks every
    /// word of the query it finds, "a" and "how" as much as "press".
    public static func unmarkingCommonWords(in snippet: String, open: String, close: String) -> String {
        guard !open.isEmpty, !close.isEmpty else { return snippet }
        var result = ""
        var rest = snippet[...]
        while let start = rest.range(of: open), let end = rest.range(of: close, range: start.upperBound..<rest.endIndex) {
            let word = rest[start.upperBound..<end.lowerBound]
            result += rest[..<start.lowerBound]
            let term = folded(ArraySlice(word.unicodeScalars))
            result += term.unicodeScalars.count < 2 || stopWords.contains(term) ? word : rest[start.lowerBound..<end.upperBound]
            rest = rest[end.upperBound...]
        }
        return result + rest
    }

    /// The query's distinct words, folded, without short words and stop words.
    private static func queryTerms(_ query: String) -> [[Unicode.Scalar]] {
        let scalars = Array(query.unicodeScalars)
        var terms: [[Unicode.Scalar]] = []
        var seen: Set<String> = []
        forEachWord(in: scalars) { word in
            let term = folded(scalars[word])
            guard term.unicodeScalars.count >= 2, !stopWords.contains(term), seen.insert(term).inserted else { return }
            terms.append(Array(term.unicodeScalars))
        }
        return terms
    }

    /// The matches in text order, not overlapping.
    private static func findMatches(of terms: [[Unicode.Scalar]], in scalars: [Unicode.Scalar]) -> [Match] {
        guard !terms.isEmpty else { return [] }
        var matches: [Match] = []
        let wordTerms = terms.indices.filter { !terms[$0].contains(where: isCJK) }
        let substringTerms = terms.indices.filter { terms[$0].contains(where: isCJK) }
        if !wordTerms.isEmpty {
            forEachWord(in: scalars) { word in
                let candidate = Array(folded(scalars[word]).unicodeScalars)
                for term in wordTerms where matchesWord(candidate, term: terms[term]) {
                    matches.append(Match(start: word.lowerBound, end: word.upperBound, term: term))
                    break
                }
            }
        }
        for term in substringTerms {
            let needle = terms[term]
            var index = 0
            while index + needle.count <= scalars.count {
                if scalars[index] == needle[0] && scalars[index..<(index + needle.count)].elementsEqual(needle) {
                    matches.append(Match(start: index, end: index + needle.count, term: term))
                    index += needle.count
                } else {
                    index += 1
                }
            }
        }
        guard !substringTerms.isEmpty else { return matches }
        matches.sort { $0.start < $1.start }
        var disjoint: [Match] = []
        for match in matches where disjoint.last.map({ $0.end <= match.start }) ?? true {
            disjoint.append(match)
        }
        return disjoint
    }

    private static func matchesWord(_ word: [Unicode.Scalar], term: [Unicode.Scalar]) -> Bool {
        word == term || stem(word).elementsEqual(stem(term))
    }

    /// The word without one of `suffixes`, if at least 3 scalars remain.
    private static func stem(_ word: [Unicode.Scalar]) -> ArraySlice<Unicode.Scalar> {
        for suffix in suffixes where word.count - suffix.count >= 3 && word.reversed().starts(with: suffix.reversed()) {
            return word.dropLast(suffix.count)
        }
        return word[...]
    }

    /// The run of matches `first...last`, spanning at most `width` scalars, with the most distinct
    /// terms, then the most matches; the earliest such run.
    private static func densestRun(_ matches: [Match], width: Int) -> ClosedRange<Int>? {
        guard !matches.isEmpty else { return nil }
        var termCounts: [Int: Int] = [:]
        var best = 0...0
        var bestScore = (terms: 0, matches: 0)
        var first = 0
        for last in matches.indices {
            termCounts[matches[last].term, default: 0] += 1
            while first < last && matches[last].end - matches[first].start > width {
                let term = matches[first].term
                termCounts[term]! -= 1
                if termCounts[term] == 0 { termCounts[term] = nil }
                first += 1
            }
            let score = (terms: termCounts.count, matches: last - first + 1)
            if score.terms > bestScore.terms || score.terms == bestScore.terms && score.matches > bestScore.matches {
                best = first...last
                bestScore = score
            }
        }
        return best
    }

    /// A range of at most `budget` scalars holding `focus` (or its start, if it is longer), centred
    /// on it, with ends moved in to word boundaries where that does not cut into `focus`.
    private static func window(around focus: Range<Int>, in scalars: [Unicode.Scalar], budget: Int) -> Range<Int> {
        let count = scalars.count
        let focus = focus.lowerBound..<min(focus.upperBound, focus.lowerBound + budget)
        let spare = budget - focus.count
        var start = focus.lowerBound - spare / 2
        var end = focus.upperBound + (spare - spare / 2)
        if start < 0 {
            end = min(count, end - start)
            start = 0
        }
        if end > count {
            start = max(0, start - (end - count))
            end = count
        }
        if start > 0 && !scalars[start - 1].isTextWhitespace && !scalars[start].isTextWhitespace {
            while start < focus.lowerBound && !scalars[start].isTextWhitespace { start += 1 }
        }
        if end < count && !scalars[end - 1].isTextWhitespace && !scalars[end].isTextWhitespace {
            var boundary = end
            while boundary > max(focus.upperBound, start) && !scalars[boundary - 1].isTextWhitespace { boundary -= 1 }
            // A word longer than the whole budget is cut where the budget ends.
            if boundary > start {
                end = boundary
            }
        }
        return start..<end
    }

    /// Calls `body` with the range of each word: a run of letters, digits and marks.
    private static func forEachWord(in scalars: [Unicode.Scalar], _ body: (Range<Int>) -> Void) {
        var index = 0
        while index < scalars.count {
            guard isWordScalar(scalars[index]) else {
                index += 1
                continue
            }
            let start = index
            while index < scalars.count && isWordScalar(scalars[index]) { index += 1 }
            body(start..<index)
        }
    }

    private static func isWordScalar(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.isASCII {
            return scalar.isASCIILetter || scalar.isASCIIDigit
        }
        let properties = scalar.properties
        if properties.isAlphabetic || properties.numericType != nil { return true }
        switch properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark: return true
        default: return false
        }
    }

    /// Scripts written without spaces between words, where a query word is looked for as a substring.
    private static func isCJK(_ scalar: Unicode.Scalar) -> Bool {
        scalar.isCJKIdeograph || (0x3040...0x30FF).contains(scalar.value)
    }

    /// The word lower-cased and without diacritics.
    private static func folded(_ word: ArraySlice<Unicode.Scalar>) -> String {
        if word.allSatisfy(\.isASCII) {
            return word.map(\.asciiLowercased).string
        }
        return word.string.folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil)
    }
}
