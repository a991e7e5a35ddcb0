/// The readable text of a Markdown document: markup that is noise to a reader or an embedding model
/// is dropped, the words and the paragraph structure are kept.
///
/// Dropped: heading `#`s (a heading becomes a paragraph of its own), emphasis and strikethrough
/// markers, bullet markers and task boxes, blockquote `>`s, code fence lines (the code is kept
/// verbatim), link targets (the link text stays), images (the alt text stays), reference
/// definitions, table delimiter rows and outer pipes, HTML tags and comments, backslashes of escapes.
/// Line by line, in the spirit of CommonMark rather than to the letter: a construct spanning lines,
/// such as a link whose text wraps, is left as it is.
enum MarkdownTextExtractor {
    private struct Fence {
        var marker: Unicode.Scalar
        var length: Int
        var indent: Int
    }

    /// The text of a Markdown document whose line endings are LF.
    static func text(of scalars: [Unicode.Scalar]) -> String {
        var output: [Unicode.Scalar] = []
        output.reserveCapacity(scalars.count)
        var openFence: Fence?
        var inComment = false
        var blankLineBeforeNext = false

        func appendLine<S: Sequence<Unicode.Scalar>>(_ line: S) {
            if blankLineBeforeNext {
                output.append("\n")
                blankLineBeforeNext = false
            }
            output.append(contentsOf: line)
            output.append("\n")
        }

        var lineStart = 0
        while lineStart < scalars.count {
            var lineEnd = lineStart
            while lineEnd < scalars.count && scalars[lineEnd] != "\n" { lineEnd += 1 }
            defer { lineStart = lineEnd + 1 }
            var line = Array(scalars[lineStart..<lineEnd])

            if let fence = openFence {
                if isClosingFence(line, of: fence) {
                    openFence = nil
                } else {
                    appendLine(line.dropFirst(min(fence.indent, leadingSpaces(line))))
                }
                continue
            }
            if inComment || line.contains("<") {
                let hadText = line.contains { !$0.isTextWhitespace }
                line = removingComments(line, inComment: &inComment)
                if hadText && !line.contains(where: { !$0.isTextWhitespace }) { continue }
            }
            let indent = leadingSpaces(line)
            var content = line[indent...]
            if content.isEmpty || content.allSatisfy(\.isTextWhitespace) {
                output.append("\n")
                continue
            }
            if indent < 4, let fence = openingFence(content, indent: indent) {
                openFence = fence
                continue
            }
            if indent < 4 && isBreakOrUnderline(content) {
                // A setext underline makes the line above a heading: a paragraph of its own.
                output.append("\n")
                continue
            }
            if indent < 4, content.first == "[", let definition = referenceDefinition(content) {
                if case .footnote(let text) = definition {
                    appendLine(MarkdownInline(Array(text)).rendered())
                }
                continue
            }
            if isTableDelimiterRow(content) { continue }

            while content.first == ">" {
                content = content.dropFirst()
                content = content.drop(while: \.isTextWhitespace)
            }
            if let heading = headingText(content) {
                blankLineBeforeNext = true
                appendLine(MarkdownInline(Array(heading)).rendered())
                blankLineBeforeNext = true
                continue
            }
            content = withoutBulletMarker(content)
            if content.first == "|" {
                content = withoutOuterPipes(content)
            }
            appendLine(MarkdownInline(Array(content)).rendered())
        }
        return TextExtractor.tidiedLines(output)
    }

    private static func leadingSpaces(_ line: [Unicode.Scalar]) -> Int {
        line.prefix(while: { $0 == " " || $0 == "\t" }).count
    }

    private static func openingFence(_ content: ArraySlice<Unicode.Scalar>, indent: Int) -> Fence? {
        guard let marker = content.first, marker == "`" || marker == "~" else { return nil }
        let length = content.prefix(while: { $0 == marker }).count
        guard length >= 3 else { return nil }
        if marker == "`" && content.dropFirst(length).contains("`") { return nil }
        return Fence(marker: marker, length: length, indent: indent)
    }

    private static func isClosingFence(_ line: [Unicode.Scalar], of fence: Fence) -> Bool {
        let indent = leadingSpaces(line)
        guard indent < 4 else { return false }
        let content = line[indent...]
        let length = content.prefix(while: { $0 == fence.marker }).count
        return length >= fence.length && content.dropFirst(length).allSatisfy(\.isTextWhitespace)
    }

    /// A thematic break (`***`, `- - -`, `___`) or a setext heading underline (`===`, `---`).
    private static func isBreakOrUnderline(_ content: ArraySlice<Unicode.Scalar>) -> Bool {
        guard let marker = content.first, marker == "-" || marker == "*" || marker == "_" || marker == "=" else {
            return false
        }
        var count = 0
        for scalar in content {
            if scalar == marker {
                count += 1
            } else if scalar != " " && scalar != "\t" {
                return false
            }
        }
        return count >= 3
    }

    private enum ReferenceDefinition {
        /// `[label]: url "title"`, which is dropped.
        case link
        /// `[^1]: text`, whose text is kept.
        case footnote(ArraySlice<Unicode.Scalar>)
    }

    /// The definition the line is, if it is one.
    private static func referenceDefinition(_ content: ArraySlice<Unicode.Scalar>) -> ReferenceDefinition? {
        guard let close = content.firstIndex(of: "]"), close > content.startIndex + 1,
            close + 1 < content.endIndex, content[close + 1] == ":"
        else { return nil }
        let rest = content[(close + 2)...].drop(while: \.isTextWhitespace)
        if content[content.startIndex + 1] == "^" {
            return .footnote(rest)
        }
        // The destination is one word; only a title in quotes or parentheses may follow it.
        let destination = rest.prefix(while: { !$0.isTextWhitespace })
        let title = rest.dropFirst(destination.count).drop(while: \.isTextWhitespace)
        guard !destination.isEmpty, title.isEmpty || title.first == "\"" || title.first == "'" || title.first == "("
        else { return nil }
        return .link
    }

    private static func isTableDelimiterRow(_ content: ArraySlice<Unicode.Scalar>) -> Bool {
        content.contains("|") && content.contains("-")
            && content.allSatisfy { $0 == "|" || $0 == "-" || $0 == ":" || $0 == " " || $0 == "\t" }
    }

    /// The text of an ATX heading (`## Title ##`), or nil.
    private static func headingText(_ content: ArraySlice<Unicode.Scalar>) -> ArraySlice<Unicode.Scalar>? {
        let level = content.prefix(while: { $0 == "#" }).count
        guard level >= 1 && level <= 6 else { return nil }
        var text = content.dropFirst(level)
        guard text.isEmpty || text.first!.isTextWhitespace else { return nil }
        text = text.drop(while: \.isTextWhitespace)
        while let last = text.last, last.isTextWhitespace { text = text.dropLast() }
        // A closing sequence of #s counts only after a space.
        let closing = text.reversed().prefix(while: { $0 == "#" }).count
        if closing > 0 {
            let beforeClosing = text.dropLast(closing)
            if beforeClosing.isEmpty || beforeClosing.last!.isTextWhitespace {
                text = beforeClosing
                while let last = text.last, last.isTextWhitespace { text = text.dropLast() }
            }
        }
        return text
    }

    /// The line without a `-`, `*` or `+` bullet and a task box after it; ordered list numbers stay,
    /// as they are part of what a reader reads.
    private static func withoutBulletMarker(_ content: ArraySlice<Unicode.Scalar>) -> ArraySlice<Unicode.Scalar> {
        guard let marker = content.first, marker == "-" || marker == "*" || marker == "+",
            content.count >= 2, content[content.startIndex + 1] == " " || content[content.startIndex + 1] == "\t"
        else { return content }
        var rest = content.dropFirst().drop(while: \.isTextWhitespace)
        let box = Array(rest.prefix(4))
        if box.count >= 3, box[0] == "[", box[1] == " " || box[1] == "x" || box[1] == "X", box[2] == "]",
            box.count == 3 || box[3].isTextWhitespace
        {
            rest = rest.dropFirst(3).drop(while: \.isTextWhitespace)
        }
        return rest
    }

    /// A table row without its leading and trailing pipe; inner pipes separate the cells.
    private static func withoutOuterPipes(_ content: ArraySlice<Unicode.Scalar>) -> ArraySlice<Unicode.Scalar> {
        var row = content.dropFirst()
        while let last = row.last, last.isTextWhitespace { row = row.dropLast() }
        if row.last == "|" && (row.count < 2 || row[row.endIndex - 2] != "\\") {
            row = row.dropLast()
        }
        return row.drop(while: \.isTextWhitespace)
    }

    /// The line without HTML comments, which may start or end on other lines.
    private static func removingComments(_ line: [Unicode.Scalar], inComment: inout Bool) -> [Unicode.Scalar] {
        var result: [Unicode.Scalar] = []
        var index = 0
        while index < line.count {
            if inComment {
                guard let end = find(["-", "-", ">"], in: line, from: index) else { return result }
                inComment = false
                index = end + 3
            } else if let start = find(["<", "!", "-", "-"], in: line, from: index) {
                result.append(contentsOf: line[index..<start])
                inComment = true
                index = start + 4
            } else {
                result.append(contentsOf: line[index...])
                break
            }
        }
        return result
    }

    private static func find(_ needle: [Unicode.Scalar], in line: [Unicode.Scalar], from start: Int) -> Int? {
        guard line.count >= needle.count, start <= line.count - needle.count else { return nil }
        for index in start...(line.count - needle.count)
        where line[index..<(index + needle.count)].elementsEqual(needle) {
            return index
        }
        return nil
    }
}

/// Inline Markdown of one line rendered as plain text.
struct MarkdownInline {
    private let line: [Unicode.Scalar]
    /// For each `[`, the index of its matching `]`, or -1; likewise for `(` and `)`.
    private var closingBracket: [Int]
    private var closingParenthesis: [Int]

    init(_ line: [Unicode.Scalar]) {
        self.line = line
        closingBracket = Array(repeating: -1, count: line.count)
        closingParenthesis = Array(repeating: -1, count: line.count)
        var brackets: [Int] = []
        var parentheses: [Int] = []
        var index = 0
        while index < line.count {
            switch line[index] {
            case "\\": index += 1
            case "[": brackets.append(index)
            case "]": if let open = brackets.popLast() { closingBracket[open] = index }
            case "(": parentheses.append(index)
            case ")": if let open = parentheses.popLast() { closingParenthesis[open] = index }
            default: break
            }
            index += 1
        }
    }

    /// The line's text.
    func rendered() -> [Unicode.Scalar] {
        var output: [Unicode.Scalar] = []
        output.reserveCapacity(line.count)
        render(0..<line.count, into: &output, depth: 0)
        return output
    }

    /// Link text nested deeper than this is kept as written, bounding the recursion.
    private static let maximumDepth = 8

    private func render(_ range: Range<Int>, into output: inout [Unicode.Scalar], depth: Int) {
        var index = range.lowerBound
        let end = range.upperBound
        while index < end {
            let scalar = line[index]
            switch scalar {
            case "\\" where index + 1 < end && line[index + 1].isASCIIPunctuation:
                output.append(line[index + 1])
                index += 2
            case "`":
                index = renderCodeSpan(at: index, end: end, into: &output)
            case "!" where index + 1 < end && line[index + 1] == "[" && depth < Self.maximumDepth:
                if let link = link(at: index + 1, end: end) {
                    render(link.text, into: &output, depth: depth + 1)
                    index = link.resume
                } else {
                    output.append(scalar)
                    index += 1
                }
            case "[" where depth < Self.maximumDepth:
                if let link = link(at: index, end: end) {
                    render(link.text, into: &output, depth: depth + 1)
                    index = link.resume
                } else {
                    output.append(scalar)
                    index += 1
                }
            case "<":
                index = renderAngleBrackets(at: index, end: end, into: &output)
            case "*", "_", "~":
                index = renderDelimiterRun(at: index, end: end, into: &output)
            case "&":
                if let (replacement, length) = HTMLEntities.decode(
                    in: line, at: index, end: end, requireSemicolon: true)
                {
                    output.append(contentsOf: replacement.unicodeScalars)
                    index += length
                } else {
                    output.append(scalar)
                    index += 1
                }
            default:
                output.append(scalar)
                index += 1
            }
        }
    }

    /// `[text](target)`, `[text][label]` or `[text][]` at `open`: the text's range and where to go on.
    private func link(at open: Int, end: Int) -> (text: Range<Int>, resume: Int)? {
        let close = closingBracket[open]
        guard close > open, close + 1 < end else { return nil }
        if line[close + 1] == "(" {
            let targetEnd = closingParenthesis[close + 1]
            guard targetEnd > close, targetEnd < end else { return nil }
            return ((open + 1)..<close, targetEnd + 1)
        }
        if line[close + 1] == "[" {
            let labelEnd = closingBracket[close + 1]
            guard labelEnd > close, labelEnd < end else { return nil }
            return ((open + 1)..<close, labelEnd + 1)
        }
        return nil
    }

    /// A code span keeps its content as written; backticks without a matching run are text.
    private func renderCodeSpan(at start: Int, end: Int, into output: inout [Unicode.Scalar]) -> Int {
        var runEnd = start
        while runEnd < end && line[runEnd] == "`" { runEnd += 1 }
        let length = runEnd - start
        var search = runEnd
        while search < end {
            guard line[search] == "`" else {
                search += 1
                continue
            }
            var closeEnd = search
            while closeEnd < end && line[closeEnd] == "`" { closeEnd += 1 }
            if closeEnd - search == length {
                var content = line[runEnd..<search]
                if content.count >= 2, content.first == " ", content.last == " ",
                    !content.allSatisfy({ $0 == " " })
                {
                    content = content.dropFirst().dropLast()
                }
                output.append(contentsOf: content)
                return closeEnd
            }
            search = closeEnd
        }
        output.append(contentsOf: line[start..<runEnd])
        return runEnd
    }

    /// An autolink `<https://…>` keeps its address; an HTML tag is dropped; anything else is text.
    private func renderAngleBrackets(at start: Int, end: Int, into output: inout [Unicode.Scalar]) -> Int {
        // Bounded, so a line full of `<` that close nothing stays linear.
        let searchEnd = min(end, start + 2_000)
        var close = start + 1
        while close < searchEnd && line[close] != ">" && line[close] != "<" { close += 1 }
        guard close < searchEnd, line[close] == ">", close > start + 1 else {
            output.append("<")
            return start + 1
        }
        let inner = line[(start + 1)..<close]
        if !inner.contains(where: \.isTextWhitespace), inner.contains(":") || inner.contains("@") {
            output.append(contentsOf: inner)
            return close + 1
        }
        let first = inner.first!
        if first.isASCIILetter || (first == "/" && inner.dropFirst().first?.isASCIILetter == true) {
            // "Text <br> more" reads "Text more", not "Text  more".
            let spaceBefore = output.last.map(\.isTextWhitespace) ?? true
            if spaceBefore && close + 1 < end && line[close + 1].isTextWhitespace {
                return close + 2
            }
            return close + 1
        }
        output.append("<")
        return start + 1
    }

    /// Emphasis and strikethrough markers are dropped where they can open or close (CommonMark's
    /// flanking rules; `_` not inside a word); others, like the `*` in `2 * 3`, are text.
    private func renderDelimiterRun(at start: Int, end: Int, into output: inout [Unicode.Scalar]) -> Int {
        let marker = line[start]
        var runEnd = start
        while runEnd < end && line[runEnd] == marker { runEnd += 1 }
        let before: Unicode.Scalar = start > 0 ? line[start - 1] : " "
        let after: Unicode.Scalar = runEnd < line.count ? line[runEnd] : " "
        let beforePunctuation = before.isBERTPunctuation
        let afterPunctuation = after.isBERTPunctuation
        let leftFlanking =
            !after.isTextWhitespace
            && (!afterPunctuation || before.isTextWhitespace || beforePunctuation)
        let rightFlanking =
            !before.isTextWhitespace
            && (!beforePunctuation || after.isTextWhitespace || afterPunctuation)
        let isMarkup: Bool
        switch marker {
        case "*":
            isMarkup = leftFlanking || rightFlanking
        case "_":
            isMarkup =
                (leftFlanking && (!rightFlanking || beforePunctuation))
                || (rightFlanking && (!leftFlanking || afterPunctuation))
        default:
            isMarkup = runEnd - start == 2 && (leftFlanking || rightFlanking)
        }
        if !isMarkup {
            output.append(contentsOf: line[start..<runEnd])
        }
        return runEnd
    }
}
