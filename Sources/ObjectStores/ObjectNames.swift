/// The rules every backend applies to bucket names and object keys, so that a name accepted by
/// one backend is accepted by all of them and none can reach outside its bucket.
public enum ObjectNames {
    /// The longest key, in UTF-8 bytes, as in S3.
    public static let maxKeyBytes = 1024

    /// Checks a bucket name: 3 to 63 characters of lower-case letters, digits, '-' and '.',
    /// starting and ending with a letter or digit.
    public static func validateBucket(_ name: String, field: String = "bucket") throws(ObjectStoreError) {
        let bytes = Array(name.utf8)
        guard (3...63).contains(bytes.count) else {
            throw ObjectStoreError(
                .invalidArgument,
                "\(field) must be 3 to 63 characters long, got \(bytes.count)"
            )
        }
        func isLetterOrDigit(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        }
        for byte in bytes where !(isLetterOrDigit(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")) {
            throw ObjectStoreError(
                .invalidArgument,
                "\(field) may hold only lower-case letters, digits, '-' and '.': \(quoted(name))"
            )
        }
        guard isLetterOrDigit(bytes.first!), isLetterOrDigit(bytes.last!) else {
            throw ObjectStoreError(.invalidArgument, "\(field) must start and end with a letter or digit: \(quoted(name))")
        }
        if name.contains("..") {
            throw ObjectStoreError(.invalidArgument, "\(field) must not contain '..': \(quoted(name))")
        }
    }

    /// Checks an object key: 1 to 1024 bytes of UTF-8, no NUL, no leading '/', and no '.' or '..'
    /// path segment, so that no key can name a path outside its bucket on any backend.
    public static func validateKey(_ key: String, field: String = "key") throws(ObjectStoreError) {
        let count = key.utf8.count
        guard count > 0 else {
            throw ObjectStoreError(.invalidArgument, "\(field) must not be empty")
        }
        guard count <= maxKeyBytes else {
            throw ObjectStoreError(.invalidArgument, "\(field) is \(count) bytes long; the limit is \(maxKeyBytes)")
        }
        if key.utf8.contains(0) {
            throw ObjectStoreError(.invalidArgument, "\(field) must not contain a NUL byte")
        }
        if key.utf8.first == UInt8(ascii: "/") {
            throw ObjectStoreError(.invalidArgument, "\(field) must not start with '/': \(quoted(key))")
        }
        for segment in segments(of: key) where segment == "." || segment == ".." {
            throw ObjectStoreError(.invalidArgument, "\(field) must not contain a '\(segment)' path segment: \(quoted(key))")
        }
    }

    /// The '/'-separated segments of a key, split on bytes: a '/' followed by a combining mark
    /// is one Character but still a separator.
    static func segments(of key: String) -> [String] {
        key.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).map {
            String(decoding: $0, as: UTF8.self)
        }
    }

    /// A name shortened for messages, so a 1 KiB key does not flood a log line.
    static func quoted(_ name: String) -> String {
        let limit = 80
        if name.count <= limit {
            return "'\(name)'"
        }
        return "'\(name.prefix(limit))…'"
    }
}
