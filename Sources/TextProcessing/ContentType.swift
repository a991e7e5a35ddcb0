import Foundation

/// MIME type guessing.
public enum ContentType {
    /// The type for content nothing else is known about.
    public static let octetStream = "application/octet-stream"

    /// MIME types by lower-cased file extension.
    static let typesByExtension: [String: String] = [
        "txt": "text/plain", "text": "text/plain", "log": "text/plain",
        "md": "text/markdown", "markdown": "text/markdown", "mdown": "text/markdown", "mkd": "text/markdown",
        "html": "text/html", "htm": "text/html",
        "xhtml": "application/xhtml+xml", "xht": "application/xhtml+xml",
        "json": "application/json", "jsonld": "application/ld+json", "geojson": "application/geo+json",
        "csv": "text/csv",
        "tsv": "text/tab-separated-values", "tab": "text/tab-separated-values",
        "xml": "application/xml",
        "yaml": "application/yaml", "yml": "application/yaml",
        "toml": "application/toml",
        "css": "text/css",
        "js": "text/javascript", "mjs": "text/javascript",
        "rst": "text/x-rst", "tex": "text/x-tex",
        "py": "text/x-python", "swift": "text/x-swift", "c": "text/x-c", "h": "text/x-c",
        "java": "text/x-java", "go": "text/x-go", "rs": "text/x-rust", "sh": "text/x-shellscript",
        "ics": "text/calendar", "vcf": "text/vcard",
        "rtf": "application/rtf",
        "pdf": "application/pdf",
        "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif",
        "webp": "image/webp", "svg": "image/svg+xml", "bmp": "image/bmp",
        "tif": "image/tiff", "tiff": "image/tiff", "ico": "image/vnd.microsoft.icon",
        "doc": "application/msword",
        "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls": "application/vnd.ms-excel",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "ppt": "application/vnd.ms-powerpoint",
        "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "odt": "application/vnd.oasis.opendocument.text",
        "epub": "application/epub+zip",
        "zip": "application/zip", "gz": "application/gzip", "tgz": "application/gzip",
        "tar": "application/x-tar", "bz2": "application/x-bzip2", "xz": "application/x-xz",
        "7z": "application/x-7z-compressed",
        "mp3": "audio/mpeg", "wav": "audio/wav", "ogg": "audio/ogg", "flac": "audio/flac",
        "mp4": "video/mp4", "webm": "video/webm", "mov": "video/quicktime",
        "wasm": "application/wasm",
        "eml": "message/rfc822",
    ]

    /// Signatures at offset 0, checked in order.
    private static let magicNumbers: [(bytes: [UInt8], mimeType: String)] = [
        (Array("%PDF-".utf8), "application/pdf"),
        ([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "image/png"),
        ([0xFF, 0xD8, 0xFF], "image/jpeg"),
        (Array("GIF87a".utf8), "image/gif"),
        (Array("GIF89a".utf8), "image/gif"),
        ([0x50, 0x4B, 0x03, 0x04], "application/zip"),
        ([0x50, 0x4B, 0x05, 0x06], "application/zip"),
        ([0x1F, 0x8B], "application/gzip"),
        (Array("BZh".utf8), "application/x-bzip2"),
        ([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00], "application/x-xz"),
        ([0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C], "application/x-7z-compressed"),
        (Array("OggS".utf8), "audio/ogg"),
        (Array("fLaC".utf8), "audio/flac"),
        (Array("ID3".utf8), "audio/mpeg"),
        ([0x00, 0x61, 0x73, 0x6D], "application/wasm"),
    ]

    /// How much of the content the text and markup sniffing looks at.
    private static let sniffLength = 64 * 1024

    /// The MIME type for a file: by extension first, then by sniffing the first bytes (magic numbers,
    /// HTML, XML, JSON, UTF-8 text without NULs), else `application/octet-stream`. `content` may be
    /// just the start of the file: JSON cut short, or a UTF-8 sequence cut short, at its end still
    /// counts.
    public static func guess(filename: String, content: some Collection<UInt8>) -> String {
        if let fileExtension = fileExtension(of: filename), let mimeType = typesByExtension[fileExtension] {
            return mimeType
        }
        return sniff(content)
    }

    /// The MIME type without parameters, lower-cased ("Text/HTML; charset=utf-8" → "text/html").
    public static func essence(of mimeType: String) -> String {
        let type = mimeType.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return type.trimmingCharacters(in: .whitespaces).lowercased()
    }

    /// The lower-cased extension of the last path component, if it has one; a leading dot
    /// (`.bashrc`) does not start an extension.
    static func fileExtension(of filename: String) -> String? {
        let name = filename.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last ?? ""
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return nil }
        let fileExtension = name[name.index(after: dot)...]
        return fileExtension.isEmpty ? nil : fileExtension.lowercased()
    }

    /// The MIME type the content's first bytes show.
    static func sniff(_ content: some Collection<UInt8>) -> String {
        let head = Array(content.prefix(sniffLength))
        for (magic, mimeType) in magicNumbers where head.starts(with: magic) {
            return mimeType
        }
        let bodyStart = head.starts(with: TextExtractor.byteOrderMark) ? 3 : 0
        guard let first = head[bodyStart...].firstIndex(where: { !isJSONWhitespace($0) }) else {
            return isUTF8Text(head) ? "text/plain" : octetStream
        }
        let markup = head[first...].prefix(1024)
        if startsWithHTML(markup) {
            return "text/html"
        }
        if startsCaseInsensitive(markup, with: "<?xml") {
            return containsCaseInsensitive(markup, "<html") ? "application/xhtml+xml" : "application/xml"
        }
        if head[first] == UInt8(ascii: "{") || head[first] == UInt8(ascii: "[") {
            let whole = head.count < content.count ? Array(content) : head
            if JSONScanner.isValidOrCutShort(whole[bodyStart...]) {
                return "application/json"
            }
        }
        return isUTF8Text(head) ? "text/plain" : octetStream
    }

    private static func isJSONWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    private static func startsWithHTML(_ bytes: ArraySlice<UInt8>) -> Bool {
        if startsCaseInsensitive(bytes, with: "<!doctype html") {
            return true
        }
        for tag in ["<html", "<head", "<body"] where startsCaseInsensitive(bytes, with: tag) {
            let next = bytes.dropFirst(tag.utf8.count).first
            if next == nil || next == UInt8(ascii: ">") || next.map(isJSONWhitespace) == true {
                return true
            }
        }
        return false
    }

    private static func startsCaseInsensitive(_ bytes: ArraySlice<UInt8>, with prefix: String) -> Bool {
        let prefix = Array(prefix.utf8)
        guard bytes.count >= prefix.count else { return false }
        return zip(bytes, prefix).allSatisfy { asciiLowercased($0) == $1 }
    }

    private static func containsCaseInsensitive(_ bytes: ArraySlice<UInt8>, _ needle: String) -> Bool {
        var rest = bytes
        while !rest.isEmpty {
            if startsCaseInsensitive(rest, with: needle) { return true }
            rest = rest.dropFirst()
        }
        return false
    }

    private static func asciiLowercased(_ byte: UInt8) -> UInt8 {
        (byte >= 0x41 && byte <= 0x5A) ? byte + 0x20 : byte
    }

    /// Whether the bytes are UTF-8 without NULs. They may be a prefix of the content, so a sequence
    /// cut short at their end is not held against them.
    static func isUTF8Text(_ bytes: [UInt8]) -> Bool {
        var index = 0
        let count = bytes.count
        while index < count {
            let lead = bytes[index]
            if lead < 0x80 {
                if lead == 0 { return false }
                index += 1
                continue
            }
            let length: Int
            var lowerBound: UInt8 = 0x80
            var upperBound: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF: length = 2
            case 0xE0:
                length = 3
                lowerBound = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED:
                length = 3
                upperBound = 0x9F  // no surrogates
            case 0xF0:
                length = 4
                lowerBound = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4:
                length = 4
                upperBound = 0x8F
            default: return false
            }
            for offset in 1..<length {
                guard index + offset < count else { return true }
                let byte = bytes[index + offset]
                let (low, high) = offset == 1 ? (lowerBound, upperBound) : (0x80, 0xBF)
                guard byte >= low && byte <= high else { return false }
            }
            index += length
        }
        return true
    }
}
