/// Where and why JSON failed to parse.
struct MalformedJSON: Error {
    /// The byte offset of the problem, from the start of the scanned bytes.
    var offset: Int
    var message: String

    /// "at line 3, column 7", the column counted in Unicode scalars.
    func location(in bytes: ArraySlice<UInt8>) -> String {
        var line = 1
        var column = 1
        for byte in bytes.prefix(offset) {
            if byte == 0x0A {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
        }
        return "at line \(line), column \(column)"
    }
}

/// A strict RFC 8259 JSON scanner that collects string values in document order.
///
/// Foundation's parser is no use here: its dictionaries lose the order of an object's members, and
/// the extracted text must follow the document. Iterative rather than recursive, so a deeply nested
/// document cannot overflow the stack.
struct JSONScanner {
    private let bytes: ArraySlice<UInt8>
    private var position: Int
    private var buffer: [UInt8] = []

    private init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.position = bytes.startIndex
    }

    /// Every string value (not member names) in document order, empty strings left out.
    static func strings(in bytes: ArraySlice<UInt8>) throws(MalformedJSON) -> [String] {
        var scanner = JSONScanner(bytes)
        do {
            return try scanner.scan(collecting: true)
        } catch {
            throw MalformedJSON(offset: error.offset - bytes.startIndex, message: error.message)
        }
    }

    /// Whether the bytes are one JSON value, or the start of one cut short by their end.
    static func isValidOrCutShort(_ bytes: ArraySlice<UInt8>) -> Bool {
        var scanner = JSONScanner(bytes)
        do {
            _ = try scanner.scan(collecting: false)
            return true
        } catch {
            // Running out of input is reported at the end; anything else where it went wrong.
            return error.offset == bytes.endIndex
        }
    }

    private enum Container {
        case object, array
    }

    private mutating func scan(collecting: Bool) throws(MalformedJSON) -> [String] {
        var values: [String] = []
        var containers: [Container] = []
        value: while true {
            skipWhitespace()
            guard let byte = peek() else { throw failure("expected a value, found the end of the input") }
            switch byte {
            case UInt8(ascii: "{"):
                position += 1
                skipWhitespace()
                if peek() == UInt8(ascii: "}") {
                    position += 1
                } else {
                    containers.append(.object)
                    try scanMemberName()
                    continue value
                }
            case UInt8(ascii: "["):
                position += 1
                skipWhitespace()
                if peek() == UInt8(ascii: "]") {
                    position += 1
                } else {
                    containers.append(.array)
                    continue value
                }
            case UInt8(ascii: "\""):
                let string = try scanString(keeping: collecting)
                if collecting && !string.isEmpty {
                    values.append(string)
                }
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                try scanNumber()
            case UInt8(ascii: "t"):
                try scanLiteral("true")
            case UInt8(ascii: "f"):
                try scanLiteral("false")
            case UInt8(ascii: "n"):
                try scanLiteral("null")
            default:
                throw failure("expected a value")
            }
            // After a value: close containers until one continues with a comma.
            while true {
                skipWhitespace()
                guard let container = containers.last else {
                    guard position == bytes.endIndex else { throw failure("unexpected content after the JSON value") }
                    return values
                }
                let closing = container == .object ? UInt8(ascii: "}") : UInt8(ascii: "]")
                guard let byte = peek() else {
                    throw failure("expected ',' or '\(Character(Unicode.Scalar(closing)))', found the end of the input")
                }
                position += 1
                if byte == UInt8(ascii: ",") {
                    if container == .object {
                        try scanMemberName()
                    }
                    continue value
                }
                guard byte == closing else {
                    position -= 1
                    throw failure("expected ',' or '\(Character(Unicode.Scalar(closing)))'")
                }
                containers.removeLast()
            }
        }
    }

    private mutating func scanMemberName() throws(MalformedJSON) {
        skipWhitespace()
        guard peek() == UInt8(ascii: "\"") else { throw failure("expected a member name in double quotes") }
        _ = try scanString(keeping: false)
        skipWhitespace()
        guard peek() == UInt8(ascii: ":") else { throw failure("expected ':' after a member name") }
        position += 1
    }

    private func peek() -> UInt8? {
        position < bytes.endIndex ? bytes[position] : nil
    }

    private func failure(_ message: String) -> MalformedJSON {
        MalformedJSON(offset: position, message: message)
    }

    private mutating func skipWhitespace() {
        while position < bytes.endIndex {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    private mutating func scanLiteral(_ literal: StaticString) throws(MalformedJSON) {
        let expected = UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
        guard bytes[position...].starts(with: expected) else {
            if expected.starts(with: bytes[position...]) {
                position = bytes.endIndex
                throw failure("expected a value, found the end of the input")
            }
            throw failure("expected a value")
        }
        position += expected.count
    }

    private mutating func scanNumber() throws(MalformedJSON) {
        func digits() -> Int {
            let start = position
            while let byte = peek(), byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") { position += 1 }
            return position - start
        }
        if peek() == UInt8(ascii: "-") { position += 1 }
        if peek() == UInt8(ascii: "0") {
            position += 1
        } else if digits() == 0 {
            throw failure("expected a digit")
        }
        if peek() == UInt8(ascii: ".") {
            position += 1
            guard digits() > 0 else { throw failure("expected a digit after the decimal point") }
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            position += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { position += 1 }
            guard digits() > 0 else { throw failure("expected a digit in the exponent") }
        }
    }

    /// Scans a string starting at its opening quote; returns its value when `keeping`.
    private mutating func scanString(keeping: Bool) throws(MalformedJSON) -> String {
        position += 1
        buffer.removeAll(keepingCapacity: true)
        while true {
            let runStart = position
            while position < bytes.endIndex {
                let byte = bytes[position]
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 { break }
                position += 1
            }
            if keeping {
                buffer.append(contentsOf: bytes[runStart..<position])
            }
            guard let byte = peek() else { throw failure("unterminated string") }
            if byte == UInt8(ascii: "\"") {
                position += 1
                return keeping ? String(decoding: buffer, as: UTF8.self) : ""
            }
            if byte < 0x20 {
                throw failure("control character in a string must be escaped")
            }
            position += 1
            guard let escaped = peek() else { throw failure("unterminated string") }
            position += 1
            let scalar: Unicode.Scalar
            switch escaped {
            case UInt8(ascii: "\""): scalar = "\""
            case UInt8(ascii: "\\"): scalar = "\\"
            case UInt8(ascii: "/"): scalar = "/"
            case UInt8(ascii: "b"): scalar = "\u{08}"
            case UInt8(ascii: "f"): scalar = "\u{0C}"
            case UInt8(ascii: "n"): scalar = "\n"
            case UInt8(ascii: "r"): scalar = "\r"
            case UInt8(ascii: "t"): scalar = "\t"
            case UInt8(ascii: "u"):
                scalar = try scanUnicodeEscape()
            default:
                position -= 1
                throw failure("invalid escape sequence")
            }
            if keeping {
                buffer.append(contentsOf: String(scalar).utf8)
            }
        }
    }

    /// Scans the hex digits of a `\u` escape, and the low half of a surrogate pair after a high one;
    /// an unpaired surrogate becomes U+FFFD.
    private mutating func scanUnicodeEscape() throws(MalformedJSON) -> Unicode.Scalar {
        let unit = try scanHexQuad()
        if (0xD800...0xDBFF).contains(unit),
            bytes[position...].starts(with: [UInt8(ascii: "\\"), UInt8(ascii: "u")])
        {
            let save = position
            position += 2
            let low = try scanHexQuad()
            if (0xDC00...0xDFFF).contains(low) {
                return Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)) ?? "\u{FFFD}"
            }
            position = save
        }
        return Unicode.Scalar(unit) ?? "\u{FFFD}"
    }

    private mutating func scanHexQuad() throws(MalformedJSON) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = peek(), let digit = Self.hexValue(byte) else {
                throw failure("expected four hex digits after \\u")
            }
            value = value << 4 | digit
            position += 1
        }
        return value
    }

    static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(byte - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }
}
