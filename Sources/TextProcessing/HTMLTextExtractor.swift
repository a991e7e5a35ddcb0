/// The readable text of an HTML document: the title as the first paragraph, then the body's text
/// with block elements as line and paragraph breaks.
///
/// A tolerant single pass over the scalars rather than a full HTML5 tree builder: unclosed and
/// stray tags are ignored, a tag cut off by the end of the input is dropped, and a `<` that does not
/// start markup is text. Only what changes the text is tracked: elements whose content is dropped,
/// `<pre>` (whitespace kept) and list nesting.
struct HTMLTextExtractor {
    /// What an element does to the text; elements not listed are inline and do nothing.
    private enum Role {
        /// Its content is raw text up to its end tag, and is dropped.
        case droppedRawText
        /// Its content is raw text that is kept: the title apart, a textarea's in the flow.
        case title, textarea
        /// Its content is markup that is dropped. (A `<head>`'s elements are void or raw text.)
        case droppedContent
        /// It starts and ends a paragraph.
        case paragraph
        /// It starts and ends a line.
        case line
        /// A list: a paragraph at the outermost level, a line when nested.
        case list
        /// Its whitespace is kept.
        case preformatted
        /// A table cell, separated from the previous one on its line by " | ".
        case cell
    }

    private static let roles: [String: Role] = {
        var roles: [String: Role] = ["title": .title, "textarea": .textarea, "td": .cell, "th": .cell]
        for name in ["script", "style", "noscript", "xmp", "iframe", "noembed", "noframes"] {
            roles[name] = .droppedRawText
        }
        // A `<nav>` holds a site's menus and breadcrumbs: the same links on every page, which would
        // open each document's first chunk and pull its vector towards every other page's.
        for name in ["template", "svg", "canvas", "audio", "video", "object", "nav"] {
            roles[name] = .droppedContent
        }
        for name in [
            "p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table", "section", "article", "header",
            "footer", "main", "aside", "figure", "form", "fieldset", "address", "details", "hr",
            "dialog", "hgroup", "body", "search",
        ] {
            roles[name] = .paragraph
        }
        for name in [
            "div", "li", "dt", "dd", "tr", "thead", "tbody", "tfoot", "caption", "figcaption", "summary",
            "legend", "option", "center", "br",
        ] {
            roles[name] = .line
        }
        for name in ["ul", "ol", "dl", "menu"] {
            roles[name] = .list
        }
        for name in ["pre", "listing"] {
            roles[name] = .preformatted
        }
        return roles
    }()

    private let scalars: [Unicode.Scalar]
    private var output = HTMLTextBuilder()
    private var title: String?
    /// Open elements whose content is being dropped, innermost last.
    private var droppedElements: [String] = []
    private var preformattedDepth = 0
    private var listDepth = 0
    /// HTML drops a newline straight after `<pre>`.
    private var skipNewlineAfterPre = false

    private init(_ scalars: [Unicode.Scalar]) {
        self.scalars = scalars
    }

    /// The text of an HTML document.
    static func text(of scalars: [Unicode.Scalar]) -> String {
        var extractor = HTMLTextExtractor(scalars)
        extractor.run()
        let body = TextExtractor.tidiedLines(extractor.output.scalars)
        guard let title = extractor.title, !title.isEmpty else { return body }
        return body.isEmpty ? title : title + "\n\n" + body
    }

    private mutating func run() {
        let count = scalars.count
        var index = 0
        var textStart = 0
        while index < count {
            guard scalars[index] == "<", let markupEnd = handleMarkup(at: index, textBefore: textStart..<index) else {
                index += 1
                continue
            }
            index = markupEnd
            textStart = index
        }
        appendText(textStart..<count)
    }

    /// Handles the markup at `start` (a `<`) and returns where the text resumes, or nil when the `<`
    /// is text. The text before it is flushed first.
    private mutating func handleMarkup(at start: Int, textBefore: Range<Int>) -> Int? {
        let count = scalars.count
        let next = start + 1 < count ? scalars[start + 1] : " "
        if next == "!" {
            appendText(textBefore)
            if starts(with: "<!--", at: start) {
                return (find("-->", from: start + 4).map { $0 + 3 }) ?? count
            }
            if starts(with: "<![CDATA[", at: start) {
                let end = find("]]>", from: start + 9) ?? count
                appendDecoded(scalars[(start + 9)..<end], decodingEntities: false)
                return min(end + 3, count)
            }
            return (find(">", from: start + 2).map { $0 + 1 }) ?? count
        }
        if next == "?" {
            appendText(textBefore)
            return (find(">", from: start + 2).map { $0 + 1 }) ?? count
        }
        let isEndTag = next == "/"
        let nameStart = start + (isEndTag ? 2 : 1)
        guard nameStart < count, scalars[nameStart].isASCIILetter else { return nil }
        appendText(textBefore)
        var nameEnd = nameStart
        while nameEnd < count, !scalars[nameEnd].isTextWhitespace, scalars[nameEnd] != "/", scalars[nameEnd] != ">" {
            nameEnd += 1
        }
        let name = scalars[nameStart..<nameEnd].map { $0.asciiLowercased }.string
        let role = Self.roles[name]
        let tagEnd = endOfTag(from: nameEnd)
        if isEndTag {
            handleEndTag(name, role: role)
            return tagEnd
        }
        guard let role else { return tagEnd }
        switch role {
        case .droppedRawText, .title, .textarea:
            return handleRawText(name, role: role, contentStart: tagEnd)
        case .droppedContent:
            let selfClosing = tagEnd >= 2 && scalars[tagEnd - 2] == "/" && scalars[tagEnd - 1] == ">"
            if !selfClosing {
                droppedElements.append(name)
            }
        default:
            handleBoundary(role, isStart: true)
        }
        return tagEnd
    }

    /// Where a tag that started before `start` ends: after its `>`, skipping `>` in quoted attribute
    /// values. A quote left open makes the first `>` the end; no `>` at all drops the rest.
    private func endOfTag(from start: Int) -> Int {
        let count = scalars.count
        var index = start
        var quote: Unicode.Scalar?
        var previousSignificant: Unicode.Scalar = " "
        while index < count {
            let scalar = scalars[index]
            if let open = quote {
                if scalar == open { quote = nil }
            } else if scalar == ">" {
                return index + 1
            } else if (scalar == "\"" || scalar == "'") && previousSignificant == "=" {
                quote = scalar
            }
            if !scalar.isTextWhitespace { previousSignificant = scalar }
            index += 1
        }
        return (find(">", from: start).map { $0 + 1 }) ?? count
    }

    /// Handles an element whose content is raw text: finds its end tag and keeps or drops the content.
    private mutating func handleRawText(_ name: String, role: Role, contentStart: Int) -> Int {
        let count = scalars.count
        var contentEnd = count
        var resume = count
        var search = contentStart
        while let candidate = find("</", from: search) {
            let nameEnd = candidate + 2 + name.unicodeScalars.count
            if nameEnd <= count,
                scalars[(candidate + 2)..<nameEnd].map({ $0.asciiLowercased }).elementsEqual(name.unicodeScalars),
                nameEnd == count || scalars[nameEnd].isTextWhitespace || scalars[nameEnd] == "/"
                    || scalars[nameEnd] == ">"
            {
                contentEnd = candidate
                resume = endOfTag(from: nameEnd)
                break
            }
            search = candidate + 2
        }
        guard droppedElements.isEmpty, contentStart < contentEnd else { return resume }
        if role == .title {
            if title == nil {
                var builder = HTMLTextBuilder()
                builder.appendFlowing(decoded(scalars[contentStart..<contentEnd], decodingEntities: true))
                title = TextExtractor.tidiedLines(builder.scalars)
            }
        } else if role == .textarea {
            appendDecoded(scalars[contentStart..<contentEnd], decodingEntities: true)
        }
        return resume
    }

    private mutating func handleEndTag(_ name: String, role: Role?) {
        if let open = droppedElements.lastIndex(of: name) {
            droppedElements.removeSubrange(open...)
            return
        }
        if name == "body" || name == "html" {
            droppedElements.removeAll()
        }
        if let role {
            handleBoundary(role, isStart: false)
        }
    }

    /// The breaks a block element's start or end tag makes.
    private mutating func handleBoundary(_ role: Role, isStart: Bool) {
        guard droppedElements.isEmpty else { return }
        switch role {
        case .cell:
            if isStart { output.separateCell() }
        case .preformatted:
            output.breakLine(paragraph: true)
            preformattedDepth = max(0, preformattedDepth + (isStart ? 1 : -1))
            skipNewlineAfterPre = isStart
        case .list:
            if !isStart { listDepth = max(0, listDepth - 1) }
            output.breakLine(paragraph: listDepth == 0)
            if isStart { listDepth += 1 }
        case .paragraph:
            output.breakLine(paragraph: true)
        case .line:
            output.breakLine(paragraph: false)
        case .droppedRawText, .title, .textarea, .droppedContent:
            break
        }
    }

    private mutating func appendText(_ range: Range<Int>) {
        guard !range.isEmpty, droppedElements.isEmpty else { return }
        appendDecoded(scalars[range], decodingEntities: true)
    }

    private mutating func appendDecoded(_ text: ArraySlice<Unicode.Scalar>, decodingEntities: Bool) {
        guard droppedElements.isEmpty else { return }
        let text = decoded(text, decodingEntities: decodingEntities)
        if preformattedDepth > 0 {
            output.appendPreformatted(text, skippingLeadingNewline: &skipNewlineAfterPre)
        } else {
            output.appendFlowing(text)
        }
    }

    private func decoded(_ text: ArraySlice<Unicode.Scalar>, decodingEntities: Bool) -> [Unicode.Scalar] {
        guard decodingEntities, text.contains("&") else { return Array(text) }
        var result: [Unicode.Scalar] = []
        result.reserveCapacity(text.count)
        var index = text.startIndex
        while index < text.endIndex {
            if text[index] == "&",
                let (replacement, length) = HTMLEntities.decode(
                    in: scalars, at: index, end: text.endIndex, requireSemicolon: false)
            {
                result.append(contentsOf: replacement.unicodeScalars)
                index += length
            } else {
                result.append(text[index])
                index += 1
            }
        }
        return result
    }

    private func starts(with literal: String, at index: Int) -> Bool {
        var position = index
        for scalar in literal.unicodeScalars {
            guard position < scalars.count, scalars[position].asciiLowercased == scalar.asciiLowercased else {
                return false
            }
            position += 1
        }
        return true
    }

    /// The index of the next occurrence of `literal` (ASCII, case-insensitive) at or after `start`.
    private func find(_ literal: String, from start: Int) -> Int? {
        let first = literal.unicodeScalars.first!
        var index = start
        while index < scalars.count {
            if scalars[index].asciiLowercased == first && starts(with: literal, at: index) {
                return index
            }
            index += 1
        }
        return nil
    }
}

/// Text with HTML's whitespace rules: runs of whitespace become one space, block boundaries become
/// line or paragraph breaks, and breaks and spaces are only written once text follows them.
struct HTMLTextBuilder {
    private(set) var scalars: [Unicode.Scalar] = []
    /// 0, or the newlines to write before the next text: 1 for a line break, 2 for a paragraph.
    private var pendingNewlines = 0
    private var pendingSpace = false
    private var pendingCellSeparator = false
    private var lineHasText = false

    mutating func breakLine(paragraph: Bool) {
        guard !scalars.isEmpty else { return }
        pendingNewlines = max(pendingNewlines, paragraph ? 2 : 1)
        pendingSpace = false
        pendingCellSeparator = false
    }

    /// Table cells on one line are separated by " | ".
    mutating func separateCell() {
        if lineHasText && pendingNewlines == 0 {
            pendingCellSeparator = true
            pendingSpace = false
        }
    }

    mutating func appendFlowing(_ text: [Unicode.Scalar]) {
        for scalar in text {
            if scalar.isTextWhitespace {
                pendingSpace = true
            } else {
                writePending()
                scalars.append(scalar)
                lineHasText = true
            }
        }
    }

    mutating func appendPreformatted(_ text: [Unicode.Scalar], skippingLeadingNewline: inout Bool) {
        for scalar in text {
            if skippingLeadingNewline {
                skippingLeadingNewline = false
                if scalar == "\n" { continue }
            }
            if scalar == "\n" {
                if !scalars.isEmpty {
                    writePending()
                    scalars.append("\n")
                }
                lineHasText = false
            } else {
                writePending()
                scalars.append(scalar)
                lineHasText = true
            }
        }
    }

    private mutating func writePending() {
        if pendingNewlines > 0 {
            scalars.append(contentsOf: repeatElement("\n", count: pendingNewlines))
            lineHasText = false
        } else if pendingCellSeparator {
            scalars.append(contentsOf: " | ".unicodeScalars)
        } else if pendingSpace && lineHasText {
            scalars.append(" ")
        }
        pendingNewlines = 0
        pendingSpace = false
        pendingCellSeparator = false
    }
}
