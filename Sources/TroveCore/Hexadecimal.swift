extension Sequence where Element == UInt8 {
    /// Lower-case hexadecimal, as Trove spells SHA-256 digests and derived ids. (The SigV4
    /// engine has its own: it knows nothing of the services' core.)
    public var lowercaseHex: String {
        let digits = Array("0123456789abcdef".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(self.underestimatedCount * 2)
        for byte in self {
            bytes.append(digits[Int(byte >> 4)])
            bytes.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
