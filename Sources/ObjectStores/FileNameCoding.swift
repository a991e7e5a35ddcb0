/// Turns key segments into file names and back.
///
/// A segment becomes `o<segment>` for the object itself and `d<segment>` for the directory of
/// keys below it, so the key `a` and the keys `a/…` never share a name, and no name is ever `.`
/// or `..`. '%', control bytes and DEL are written as `%XX`.
enum FileNameCoding {
    static func encode(_ segment: String, isObject: Bool) -> String {
        var bytes: [UInt8] = [isObject ? UInt8(ascii: "o") : UInt8(ascii: "d")]
        bytes.reserveCapacity(segment.utf8.count + 1)
        for byte in segment.utf8 {
            if byte == UInt8(ascii: "%") || byte < 0x20 || byte == 0x7F {
                bytes.append(UInt8(ascii: "%"))
                bytes.append(hexDigit(byte >> 4))
                bytes.append(hexDigit(byte & 0xF))
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The segment and whether the name is an object, or `nil` for a name the store did not make.
    static func decode(_ name: String) -> (segment: String, isObject: Bool)? {
        var bytes = Array(name.utf8)
        guard let kind = bytes.first, kind == UInt8(ascii: "o") || kind == UInt8(ascii: "d") else {
            return nil
        }
        bytes.removeFirst()
        var decoded: [UInt8] = []
        decoded.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%") {
                guard index + 2 < bytes.count, let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2])
                else { return nil }
                decoded.append(high << 4 | low)
                index += 3
            } else {
                decoded.append(bytes[index])
                index += 1
            }
        }
        return (String(decoding: decoded, as: UTF8.self), kind == UInt8(ascii: "o"))
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "A") + value - 10
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        default: return nil
        }
    }
}
