/// Turns document bytes into the plain text that is chunked, embedded and searched.
///
/// Extraction is a pure function of the bytes and the MIME type: chunk offsets refer to the text it
/// returns, so the same document must always give the same text.
public enum TextExtractor {
    /// The UTF-8 byte order mark, which is dropped.
    static let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]

    /// Types outside `text/` that are plain text all the same.
    private static let plainTextApplicationTypes: Set<String> = [
        "application/yaml", "application/x-yaml", "application/toml", "application/javascript",
        "application/sql", "application/x-sh",
    ]

    /// Which extractor a MIME type essence goes to.
    private enum Extractor {
        case plainText, markdown, html, json, delimited(Unicode.Scalar)
    }

    private static func extractor(for essence: String) -> Extractor? {
        switch essence {
        case "text/html", "application/xhtml+xml":
            return .html
        case "text/markdown", "text/x-markdown":
            return .markdown
        case "application/json", "text/json":
            return .json
        case "text/csv", "application/csv":
            return .delimited(",")
        case "text/tab-separated-values":
            return .delimited("\t")
        default:
            if essence.hasPrefix("application/") && essence.hasSuffix("+json") {
                return .json
            }
            if essence.hasPrefix("text/") && essence.count > 5 || plainTextApplicationTypes.contains(essence) {
                return .plainText
            }
            return nil
        }
    }

    /// Extracts text. Supported: text/plain and other text/*, text/markdown, text/html and
    /// application/xhtml+xml, application/json and *+json, text/csv, text/tab-separated-values.
    /// Bytes are UTF-8 (a BOM is dropped); invalid sequences become U+FFFD rather than failing.
    public static func extract(_ bytes: [UInt8], mimeType: String) throws(ExtractionError) -> ExtractedText {
        let essence = ContentType.essence(of: mimeType)
        guard let extractor = extractor(for: essence) else {
            throw .unsupportedType(essence)
        }
        let body = bytes.starts(with: byteOrderMark) ? bytes[3...] : bytes[...]
        switch extractor {
        case .plainText:
            return ExtractedText(text: decodeNormalisingLineEndings(body), format: .plainText)
        case .markdown:
            let scalars = Array(decodeNormalisingLineEndings(body).unicodeScalars)
            return ExtractedText(text: MarkdownTextExtractor.text(of: scalars), format: .markdown)
        case .html:
            let scalars = Array(decodeNormalisingLineEndings(body).unicodeScalars)
            return ExtractedText(text: HTMLTextExtractor.text(of: scalars), format: .html)
        case .json:
            do {
                let strings = try JSONScanner.strings(in: body)
                // A paragraph each: values are separate texts (a title, a question, its answer),
                // more divided from each other than the lines inside one value.
                return ExtractedText(text: normalisingLineEndings(strings.joined(separator: "\n\n")), format: .json)
            } catch {
                throw .malformedContent(
                    mimeType: essence, "malformed JSON \(error.location(in: body)): \(error.message)")
            }
        case .delimited(let delimiter):
            let scalars = Array(decodeNormalisingLineEndings(body).unicodeScalars)
            return ExtractedText(text: DelimitedTextExtractor.text(of: scalars, delimiter: delimiter), format: .csv)
        }
    }

    /// Whether `extract` handles the MIME type (parameters are ignored).
    public static func canExtract(mimeType: String) -> Bool {
        extractor(for: ContentType.essence(of: mimeType)) != nil
    }

    /// The bytes as UTF-8, invalid sequences as U+FFFD, CRLF and CR as LF.
    static func decodeNormalisingLineEndings(_ bytes: ArraySlice<UInt8>) -> String {
        guard bytes.contains(0x0D) else {
            return String(decoding: bytes, as: UTF8.self)
        }
        // A CR byte is never part of a multi-byte sequence, so this is safe before decoding.
        var normalised: [UInt8] = []
        normalised.reserveCapacity(bytes.count)
        var previousWasCR = false
        for byte in bytes {
            if byte == 0x0D {
                normalised.append(0x0A)
                previousWasCR = true
            } else {
                if !(byte == 0x0A && previousWasCR) {
                    normalised.append(byte)
                }
                previousWasCR = false
            }
        }
        return String(decoding: normalised, as: UTF8.self)
    }

    /// The text with CRLF and CR as LF; escapes and entities can bring CRs in after decoding.
    static func normalisingLineEndings(_ text: String) -> String {
        guard text.utf8.contains(0x0D) else { return text }
        return decodeNormalisingLineEndings(Array(text.utf8)[...])
    }

    /// Tidies text a markup extractor produced: trailing whitespace of each line removed, runs of
    /// blank lines made one, leading and trailing blank lines removed.
    static func tidiedLines(_ scalars: [Unicode.Scalar]) -> String {
        var result: [Unicode.Scalar] = []
        result.reserveCapacity(scalars.count)
        var pendingNewlines = 0
        var lineStart = 0
        let count = scalars.count
        while lineStart <= count {
            var lineEnd = lineStart
            while lineEnd < count && scalars[lineEnd] != "\n" { lineEnd += 1 }
            var contentEnd = lineEnd
            while contentEnd > lineStart && scalars[contentEnd - 1].isTextWhitespace { contentEnd -= 1 }
            if contentEnd > lineStart {
                if !result.isEmpty {
                    result.append(contentsOf: repeatElement("\n", count: min(pendingNewlines, 2)))
                }
                result.append(contentsOf: scalars[lineStart..<contentEnd])
                pendingNewlines = 1
            } else {
                pendingNewlines += 1
            }
            lineStart = lineEnd + 1
        }
        return result.string
    }
}
