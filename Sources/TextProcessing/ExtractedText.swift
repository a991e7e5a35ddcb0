/// The format text was extracted from, which tells how its line structure came about.
public enum TextFormat: String, Sendable {
    /// Plain text (text/plain and other text types): taken as it is.
    case plainText
    /// Markdown with its markup dropped.
    case markdown
    /// HTML or XHTML: the title, then the body's text, blocks as line and paragraph breaks.
    case html
    /// JSON's string values, a paragraph each.
    case json
    /// CSV or tab-separated values, one row a line.
    case csv
}

/// Text extraction result.
public struct ExtractedText: Sendable, Hashable {
    /// The plain text, line endings normalised to LF; chunk offsets refer to it.
    public var text: String
    /// The format the text came from.
    public var format: TextFormat

    /// Creates an extraction result.
    public init(text: String, format: TextFormat) {
        self.text = text
        self.format = format
    }
}
