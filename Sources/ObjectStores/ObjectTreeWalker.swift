import Foundation

/// Where a listing stopped: the last key or common prefix it returned. Carried to the client
/// as an opaque continuation token.
struct ListingPosition: Equatable {
    static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.isCommonPrefix == rhs.isCommonPrefix && lhs.value.utf8.elementsEqual(rhs.value.utf8)
    }

    var value: String
    var isCommonPrefix: Bool

    init(value: String, isCommonPrefix: Bool) {
        self.value = value
        self.isCommonPrefix = isCommonPrefix
    }

    init(token: String) throws(ObjectStoreError) {
        guard let data = Data(base64Encoded: token), let text = String(data: data, encoding: .utf8),
            let kind = text.first, kind == "k" || kind == "p"
        else {
            throw ObjectStoreError(.invalidArgument, "continuation_token is not one this service issued")
        }
        self.value = String(text.dropFirst())
        self.isCommonPrefix = kind == "p"
    }

    var token: String {
        Data(((self.isCommonPrefix ? "p" : "k") + self.value).utf8).base64EncodedString()
    }
}

/// One page of keys and common prefixes, in byte order.
struct ListingPage {
    var keys: [String] = []
    var commonPrefixes: [String] = []
    var next: ListingPosition?
}

/// Walks a bucket's directory tree in the byte order of the keys it holds.
///
/// Within a directory, an object `x` sorts as "x" and the directory of keys below it as "x/";
/// since every key below shares that prefix, a depth-first walk in that order yields keys in
/// global byte order. Subtrees that cannot hold a wanted key (outside the prefix, before the
/// continuation point, or rolled up into a common prefix) are not entered.
struct ObjectTreeWalker {
    let bucketDirectory: String

    func containsAnyObject() throws -> Bool {
        try self.containsAnyObject(in: self.bucketDirectory)
    }

    private func containsAnyObject(in directory: String) throws -> Bool {
        for name in try POSIXFile.directoryEntries(directory) {
            guard let decoded = FileNameCoding.decode(name) else { continue }
            if decoded.isObject {
                return true
            }
            if try self.containsAnyObject(in: directory + "/" + name) {
                return true
            }
        }
        return false
    }

    func page(prefix: String, delimiter: String, maxKeys: Int, after: ListingPosition?) throws -> ListingPage {
        var collector = Collector(prefix: prefix, delimiter: delimiter, maxKeys: maxKeys, after: after)
        _ = try self.walk(directory: self.bucketDirectory, keyPrefix: "", collector: &collector)
        return collector.page
    }

    private struct Entry {
        var name: String
        var sortKey: String
        var isObject: Bool
    }

    /// Returns false once the page is full.
    private func walk(directory: String, keyPrefix: String, collector: inout Collector) throws -> Bool {
        var entries: [Entry] = []
        for name in try POSIXFile.directoryEntries(directory) {
            guard let decoded = FileNameCoding.decode(name) else { continue }
            let sortKey = keyPrefix + decoded.segment + (decoded.isObject ? "" : "/")
            entries.append(Entry(name: name, sortKey: sortKey, isObject: decoded.isObject))
        }
        entries.sort { $0.sortKey.utf8.lexicographicallyPrecedes($1.sortKey.utf8) }

        for entry in entries {
            if entry.isObject {
                guard collector.offer(key: entry.sortKey) else { return false }
                continue
            }
            let path = directory + "/" + entry.name
            switch collector.decision(forDirectory: entry.sortKey) {
            case .skip:
                continue
            case .rollUp(let commonPrefix):
                if try self.containsAnyObject(in: path) {
                    guard collector.offer(commonPrefix: commonPrefix) else { return false }
                }
            case .descend:
                guard try self.walk(directory: path, keyPrefix: entry.sortKey, collector: &collector) else {
                    return false
                }
            }
        }
        return true
    }
}

/// Decides what goes on a page, for keys offered in byte order.
private struct Collector {
    let prefix: String
    let delimiter: String
    let maxKeys: Int
    let after: ListingPosition?
    var page = ListingPage()
    private var count = 0
    private var lastPosition: ListingPosition?

    init(prefix: String, delimiter: String, maxKeys: Int, after: ListingPosition?) {
        self.prefix = prefix
        self.delimiter = delimiter
        self.maxKeys = maxKeys
        self.after = after
    }

    enum DirectoryDecision {
        case skip
        case descend
        case rollUp(String)
    }

    func decision(forDirectory directoryPrefix: String) -> DirectoryDecision {
        guard directoryPrefix.hasBytePrefix(self.prefix) || self.prefix.hasBytePrefix(directoryPrefix) else {
            return .skip
        }
        if let after = self.after {
            if after.isCommonPrefix && directoryPrefix.hasBytePrefix(after.value) {
                return .skip
            }
            // Every key below starts with directoryPrefix; if the resume point is past all of
            // them, none is wanted.
            if !after.value.hasBytePrefix(directoryPrefix) && bytesPrecede(directoryPrefix, after.value) {
                return .skip
            }
        }
        if directoryPrefix.hasBytePrefix(self.prefix), let commonPrefix = self.commonPrefix(of: directoryPrefix) {
            return .rollUp(commonPrefix)
        }
        return .descend
    }

    /// Returns false when the page was already full (and so there is more to list).
    mutating func offer(key: String) -> Bool {
        guard key.hasBytePrefix(self.prefix), !self.isAtOrBeforeResumePoint(key) else {
            return true
        }
        if let commonPrefix = self.commonPrefix(of: key) {
            return self.offer(commonPrefix: commonPrefix)
        }
        return self.append(ListingPosition(value: key, isCommonPrefix: false))
    }

    mutating func offer(commonPrefix: String) -> Bool {
        if self.lastPosition == ListingPosition(value: commonPrefix, isCommonPrefix: true)
            || self.isAtOrBeforeResumePoint(commonPrefix)
        {
            return true
        }
        return self.append(ListingPosition(value: commonPrefix, isCommonPrefix: true))
    }

    private mutating func append(_ position: ListingPosition) -> Bool {
        guard self.count < self.maxKeys else {
            self.page.next = self.lastPosition
            return false
        }
        if position.isCommonPrefix {
            self.page.commonPrefixes.append(position.value)
        } else {
            self.page.keys.append(position.value)
        }
        self.count += 1
        self.lastPosition = position
        return true
    }

    /// The common prefix `key` rolls up into, if the delimiter occurs after the prefix.
    private func commonPrefix(of key: String) -> String? {
        guard !self.delimiter.isEmpty else { return nil }
        let rest = key.utf8.dropFirst(self.prefix.utf8.count)
        let delimiter = Array(self.delimiter.utf8)
        guard let end = firstRange(of: delimiter, in: Array(rest)) else { return nil }
        return self.prefix + String(decoding: rest.prefix(end), as: UTF8.self)
    }

    private func isAtOrBeforeResumePoint(_ value: String) -> Bool {
        guard let after = self.after else { return false }
        if after.isCommonPrefix && value.hasBytePrefix(after.value) && !value.utf8.elementsEqual(after.value.utf8) {
            return true
        }
        return !bytesPrecede(after.value, value)
    }
}

/// Whether `a` sorts before `b` in byte order, as S3 orders keys.
private func bytesPrecede(_ a: String, _ b: String) -> Bool {
    a.utf8.lexicographicallyPrecedes(b.utf8)
}

/// The end index (exclusive) of the first occurrence of `needle` in `haystack`.
private func firstRange(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
    guard !needle.isEmpty, haystack.count >= needle.count else { return nil }
    for start in 0...(haystack.count - needle.count) where haystack[start..<start + needle.count].elementsEqual(needle) {
        return start + needle.count
    }
    return nil
}

extension String {
    /// Prefix test on UTF-8 bytes; `hasPrefix` compares Characters, which S3 keys are not.
    func hasBytePrefix(_ prefix: String) -> Bool {
        self.utf8.starts(with: prefix.utf8)
    }
}
