import Foundation

/// A filter over a JSON metadata object: conditions on dotted field paths ("author.name")
/// combined with and, or and not. Mirrors trove.v1.Filter.
public indirect enum MetadataFilter: Sendable, Hashable {
    /// The field equals the value (string, number, bool or null; arrays and objects are refused).
    case equals(field: String, value: JSONValue)
    /// The field equals one of the values; an empty list matches nothing.
    case isIn(field: String, values: [JSONValue])
    /// The field is a number inside the range.
    case numberRange(field: String, NumberRange)
    /// The field is an RFC 3339 timestamp string inside the range (millisecond precision).
    case timeRange(field: String, TimeRange)
    /// True: the field is present (even as null). False: the field is absent.
    case exists(field: String, Bool)
    /// Every filter matches; an empty list matches everything.
    case allOf([MetadataFilter])
    /// At least one filter matches; an empty list matches nothing.
    case anyOf([MetadataFilter])
    /// The filter does not match.
    case not(MetadataFilter)

    /// Deeper filters are refused: each and, or and not adds a level.
    public static let maximumDepth = 32
    /// Filters with more nodes than this are refused.
    public static let maximumNodes = 1024
}

/// Bounds of a numeric range; nil bounds are open.
public struct NumberRange: Sendable, Hashable {
    public var greaterThan: Double?
    public var greaterThanOrEqual: Double?
    public var lessThan: Double?
    public var lessThanOrEqual: Double?

    public init(greaterThan: Double? = nil, greaterThanOrEqual: Double? = nil, lessThan: Double? = nil, lessThanOrEqual: Double? = nil) {
        self.greaterThan = greaterThan
        self.greaterThanOrEqual = greaterThanOrEqual
        self.lessThan = lessThan
        self.lessThanOrEqual = lessThanOrEqual
    }
}

/// Bounds of a time range; nil bounds are open.
public struct TimeRange: Sendable, Hashable {
    public var after: Date?
    public var atOrAfter: Date?
    public var before: Date?
    public var atOrBefore: Date?

    public init(after: Date? = nil, atOrAfter: Date? = nil, before: Date? = nil, atOrBefore: Date? = nil) {
        self.after = after
        self.atOrAfter = atOrAfter
        self.before = before
        self.atOrBefore = atOrBefore
    }
}

/// Why a filter was refused: it is too deep, too large, or names a field badly.
public struct FilterError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The request field holding the filter, e.g. `filter`.
    public var field: String
    public var message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "\(self.field): \(self.message)" }
}

extension MetadataFilter {
    /// Splits a dotted field path (`author.name`) into its keys; empty keys and `"` are refused.
    public static func pathComponents(_ name: String, field: String = "filter") throws(FilterError) -> [String] {
        guard !name.isEmpty else {
            throw FilterError(field: field, message: "a condition needs a field name")
        }
        var components: [String] = []
        for segment in name.split(separator: ".", omittingEmptySubsequences: false) {
            guard !segment.isEmpty, !segment.contains("\"") else {
                throw FilterError(field: field, message: "'\(name)' is not a valid dotted field path")
            }
            components.append(String(segment))
        }
        return components
    }

    /// Checks the filter's size and field paths and prepares it for evaluation over many objects.
    public func compiled(field: String = "filter") throws(FilterError) -> CompiledFilter {
        var nodes = 0
        return CompiledFilter(root: try CompiledFilter.Node(self, depth: 1, nodes: &nodes, field: field))
    }
}

/// A filter checked once and ready to test objects: paths split, bounds as milliseconds.
///
/// It gives the answers the metadata store's SQL gives: a missing field makes a condition
/// false (so `not` matches objects without the field); `exists` counts a null as present;
/// numbers compare as doubles; a time range matches only strings that parse as RFC 3339.
public struct CompiledFilter: Sendable {
    fileprivate indirect enum Node: Sendable {
        case equals(path: [String], value: JSONValue)
        case isIn(path: [String], values: [JSONValue])
        case numberRange(path: [String], NumberRange)
        case timeRange(path: [String], lower: (Int64, inclusive: Bool)?, upper: (Int64, inclusive: Bool)?)
        case exists(path: [String], Bool)
        case allOf([Node])
        case anyOf([Node])
        case not(Node)

        init(_ filter: MetadataFilter, depth: Int, nodes: inout Int, field: String) throws(FilterError) {
            guard depth <= MetadataFilter.maximumDepth else {
                throw FilterError(field: field, message: "nested deeper than \(MetadataFilter.maximumDepth) levels")
            }
            nodes += 1
            guard nodes <= MetadataFilter.maximumNodes else {
                throw FilterError(field: field, message: "has more than \(MetadataFilter.maximumNodes) conditions")
            }
            func scalar(_ name: String, _ value: JSONValue) throws(FilterError) {
                switch value {
                case .array, .object:
                    throw FilterError(field: field, message: "'\(name)' can only be compared with a string, number, bool or null")
                default:
                    break
                }
            }
            switch filter {
            case .equals(let name, let value):
                try scalar(name, value)
                self = .equals(path: try MetadataFilter.pathComponents(name, field: field), value: value)
            case .isIn(let name, let values):
                for value in values { try scalar(name, value) }
                self = .isIn(path: try MetadataFilter.pathComponents(name, field: field), values: values)
            case .numberRange(let name, let range):
                for bound in [range.greaterThan, range.greaterThanOrEqual, range.lessThan, range.lessThanOrEqual] {
                    if let bound, !bound.isFinite {
                        throw FilterError(field: field, message: "range bounds for '\(name)' must be finite numbers")
                    }
                }
                self = .numberRange(path: try MetadataFilter.pathComponents(name, field: field), range)
            case .timeRange(let name, let range):
                // Clamped: a bound past what an Int64 of milliseconds holds is past every stored time.
                func milliseconds(_ date: Date) -> Int64 { date.unixTime(unitsPerSecond: 1000) }
                var lower: (Int64, inclusive: Bool)?
                var upper: (Int64, inclusive: Bool)?
                if let after = range.after { lower = (milliseconds(after), false) }
                if let atOrAfter = range.atOrAfter, lower.map({ milliseconds(atOrAfter) > $0.0 }) ?? true {
                    lower = (milliseconds(atOrAfter), true)
                }
                if let before = range.before { upper = (milliseconds(before), false) }
                if let atOrBefore = range.atOrBefore, upper.map({ milliseconds(atOrBefore) < $0.0 }) ?? true {
                    upper = (milliseconds(atOrBefore), true)
                }
                self = .timeRange(path: try MetadataFilter.pathComponents(name, field: field), lower: lower, upper: upper)
            case .exists(let name, let present):
                self = .exists(path: try MetadataFilter.pathComponents(name, field: field), present)
            case .allOf(let filters):
                var children: [Node] = []
                for child in filters { children.append(try Node(child, depth: depth + 1, nodes: &nodes, field: field)) }
                self = .allOf(children)
            case .anyOf(let filters):
                var children: [Node] = []
                for child in filters { children.append(try Node(child, depth: depth + 1, nodes: &nodes, field: field)) }
                self = .anyOf(children)
            case .not(let child):
                self = .not(try Node(child, depth: depth + 1, nodes: &nodes, field: field))
            }
        }

        func matches(_ object: JSONObject) -> Bool {
            switch self {
            case .equals(let path, let expected):
                guard let value = Self.lookup(path, in: object) else { return false }
                return Self.scalarEquals(value, expected)
            case .isIn(let path, let values):
                guard let value = Self.lookup(path, in: object) else { return false }
                return values.contains { Self.scalarEquals(value, $0) }
            case .numberRange(let path, let range):
                guard case .number(let number)? = Self.lookup(path, in: object) else { return false }
                if let bound = range.greaterThan, !(number > bound) { return false }
                if let bound = range.greaterThanOrEqual, !(number >= bound) { return false }
                if let bound = range.lessThan, !(number < bound) { return false }
                if let bound = range.lessThanOrEqual, !(number <= bound) { return false }
                return true
            case .timeRange(let path, let lower, let upper):
                guard case .string(let text)? = Self.lookup(path, in: object),
                    let instant = RFC3339.milliseconds(text)
                else { return false }
                if let (bound, inclusive) = lower, inclusive ? instant < bound : instant <= bound { return false }
                if let (bound, inclusive) = upper, inclusive ? instant > bound : instant >= bound { return false }
                return true
            case .exists(let path, let present):
                return (Self.lookup(path, in: object) != nil) == present
            case .allOf(let children):
                return children.allSatisfy { $0.matches(object) }
            case .anyOf(let children):
                return children.contains { $0.matches(object) }
            case .not(let child):
                return !child.matches(object)
            }
        }

        private static func lookup(_ path: [String], in object: JSONObject) -> JSONValue? {
            var current = object
            for key in path.dropLast() {
                guard case .object(let members)? = current[key] else { return nil }
                current = members
            }
            return current[path[path.count - 1]]
        }

        private static func scalarEquals(_ value: JSONValue, _ expected: JSONValue) -> Bool {
            switch (value, expected) {
            case (.null, .null): return true
            case (.bool(let left), .bool(let right)): return left == right
            case (.number(let left), .number(let right)): return left == right
            case (.string(let left), .string(let right)): return left == right
            default: return false
            }
        }
    }

    fileprivate let root: Node

    fileprivate init(root: Node) {
        self.root = root
    }

    /// Whether the object passes the filter.
    public func matches(_ object: JSONObject) -> Bool {
        self.root.matches(object)
    }
}

/// RFC 3339 timestamps (`2026-11-26T01:02:03.456Z`, `…+02:00`, a space for `T`) as Unix milliseconds.
extension Date {
    /// Whole `unitsPerSecond` since 1970, rounded, clamped to what an Int64 holds (about 292,000
    /// years of microseconds either way) rather than trapping.
    package func unixTime(unitsPerSecond: Double) -> Int64 {
        let value = (self.timeIntervalSince1970 * unitsPerSecond).rounded()
        guard value.isFinite else { return value > 0 ? .max : .min }
        return value >= 9.2e18 ? .max : value <= -9.2e18 ? .min : Int64(value)
    }
}

enum RFC3339 {
    static func milliseconds(_ text: String) -> Int64? {
        var utf8 = Array(text.utf8)[...]
        func number(_ digits: Int) -> Int64? {
            guard utf8.count >= digits else { return nil }
            var value: Int64 = 0
            for _ in 0..<digits {
                let byte = utf8.removeFirst()
                guard byte >= 0x30, byte <= 0x39 else { return nil }
                value = value * 10 + Int64(byte - 0x30)
            }
            return value
        }
        func expect(_ characters: String) -> Bool {
            guard let byte = utf8.first, characters.utf8.contains(byte) else { return false }
            utf8.removeFirst()
            return true
        }
        guard let year = number(4), expect("-"), let month = number(2), expect("-"), let day = number(2),
            (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        var seconds: Int64 = 0
        var fraction: Int64 = 0
        if !utf8.isEmpty {
            guard expect("Tt "), let hour = number(2), expect(":"), let minute = number(2), expect(":"),
                let second = number(2), hour < 24, minute < 60, second < 61
            else { return nil }
            seconds = hour * 3600 + minute * 60 + second
            if expect(".") {
                var scale: Int64 = 100
                var digits = 0
                while let byte = utf8.first, byte >= 0x30, byte <= 0x39 {
                    utf8.removeFirst()
                    fraction += Int64(byte - 0x30) * scale
                    scale /= 10
                    digits += 1
                }
                guard digits > 0 else { return nil }
            }
            if expect("Zz") {
            } else if let sign = utf8.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
                utf8.removeFirst()
                guard let hours = number(2), expect(":"), let minutes = number(2) else { return nil }
                let offset = hours * 3600 + minutes * 60
                seconds -= sign == UInt8(ascii: "+") ? offset : -offset
            }
            guard utf8.isEmpty else { return nil }
        }
        // Days from 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's algorithm).
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        return (days * 86_400 + seconds) * 1000 + fraction
    }
}
