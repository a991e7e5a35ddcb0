/// The format text was extracted from, which tells how its line structure came about.
public enum TextFormat: String, Sendable {
    case plainText
    case markdown
    case html
    case json
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
