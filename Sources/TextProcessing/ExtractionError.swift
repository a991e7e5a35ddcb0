/// Why text could not be extracted: the type has no extractor, or the content is malformed.
public struct ExtractionError: Error, Hashable, Sendable, CustomStringConvertible {
    // Private so kinds can be added without breaking callers that switch over them.
    private enum Kind: Hashable, Sendable {
        case unsupportedType
        case malformedContent
    }

    private let kind: Kind
    /// The MIME type the extraction was asked for, without parameters.
    public let mimeType: String
    /// What went wrong, naming the type or the place in the content.
    public let message: String

    private init(_ kind: Kind, mimeType: String, message: String) {
        self.kind = kind
        self.mimeType = mimeType
        self.message = message
    }

    /// No extractor handles the MIME type.
    public static func unsupportedType(_ mimeType: String) -> ExtractionError {
        let shown = mimeType.isEmpty ? "an empty MIME type" : mimeType
        return ExtractionError(.unsupportedType, mimeType: mimeType, message: "no text extractor for \(shown)")
    }

    /// The content does not parse as its type; `message` says where.
    public static func malformedContent(mimeType: String, _ message: String) -> ExtractionError {
        ExtractionError(.malformedContent, mimeType: mimeType, message: message)
    }

    /// Whether the MIME type has no extractor (as opposed to malformed content).
    public var isUnsupportedType: Bool { self.kind == .unsupportedType }

    /// Whether the content did not parse as its type.
    public var isMalformedContent: Bool { self.kind == .malformedContent }

    /// The message.
    public var description: String { self.message }
}
