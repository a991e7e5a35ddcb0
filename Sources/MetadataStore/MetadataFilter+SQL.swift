import Foundation
import JSONFilter

/// A piece of SQL with `?` placeholders and the values to bind to them, in order.
package struct SQLFragment: Sendable, Hashable {
    package var sql: String
    package var bindings: [SQLValue]
}

extension MetadataFilter {
    /// Translates the filter to an SQL boolean expression over the JSON text in `column`.
    ///
    /// Every value and every JSON path is a bound parameter; only `column` (chosen by the store,
    /// never by a caller) and fixed SQL are interpolated. Each condition is wrapped in
    /// COALESCE(…, 0) so that a missing field makes it false rather than NULL, which keeps
    /// `not` meaning "does not match" (not(a = 1) matches documents without `a`).
    package func sql(column: String, field: String = "filter") throws(MetadataStoreError) -> SQLFragment {
        var nodes = 0
        var bindings: [SQLValue] = []
        let sql = try self.translate(column: column, depth: 1, nodes: &nodes, bindings: &bindings, field: field)
        return SQLFragment(sql: sql, bindings: bindings)
    }

    private func translate(
        column: String,
        depth: Int,
        nodes: inout Int,
        bindings: inout [SQLValue],
        field: String
    ) throws(MetadataStoreError) -> String {
        guard depth <= Self.maximumDepth else {
            throw MetadataStoreError.invalid(field, "nested deeper than \(Self.maximumDepth) levels")
        }
        nodes += 1
        guard nodes <= Self.maximumNodes else {
            throw MetadataStoreError.invalid(field, "has more than \(Self.maximumNodes) conditions")
        }

        func path(_ name: String) throws(MetadataStoreError) -> SQLValue {
            .text(try Self.jsonPath(name, field: field))
        }
        func typeIs(_ name: String, _ types: String) throws(MetadataStoreError) -> String {
            bindings.append(try path(name))
            return "json_type(\(column), ?) IN (\(types))"
        }
        func extract(_ name: String) throws(MetadataStoreError) -> String {
            bindings.append(try path(name))
            return "json_extract(\(column), ?)"
        }
        func equality(_ name: String, _ value: JSONValue) throws(MetadataStoreError) -> String {
            switch value {
            case .null:
                return try typeIs(name, "'null'")
            case .bool(let flag):
                return try typeIs(name, flag ? "'true'" : "'false'")
            case .number(let number):
                let type = try typeIs(name, "'integer', 'real'")
                let left = try extract(name)
                bindings.append(.real(number))
                return "\(type) AND \(left) = ?"
            case .string(let text):
                let type = try typeIs(name, "'text'")
                let left = try extract(name)
                bindings.append(.text(text))
                return "\(type) AND \(left) = ?"
            case .array, .object:
                throw MetadataStoreError.invalid(field, "'\(name)' can only be compared with a string, number, bool or null")
            }
        }
        func condition(_ sql: String) -> String { "COALESCE((\(sql)), 0)" }

        switch self {
        case .equals(let name, let value):
            return condition(try equality(name, value))

        case .isIn(let name, let values):
            guard !values.isEmpty else { return "0" }
            var parts: [String] = []
            for value in values {
                parts.append("(\(try equality(name, value)))")
            }
            return condition(parts.joined(separator: " OR "))

        case .numberRange(let name, let range):
            var parts = [try typeIs(name, "'integer', 'real'")]
            let bounds: [(Double?, String)] = [
                (range.greaterThan, ">"), (range.greaterThanOrEqual, ">="),
                (range.lessThan, "<"), (range.lessThanOrEqual, "<="),
            ]
            for case (let bound?, let op) in bounds {
                guard bound.isFinite else {
                    throw MetadataStoreError.invalid(field, "range bounds for '\(name)' must be finite numbers")
                }
                parts.append("\(try extract(name)) \(op) ?")
                bindings.append(.real(bound))
            }
            return condition(parts.joined(separator: " AND "))

        case .timeRange(let name, let range):
            // julianday() parses RFC 3339 with 'T', fractions and offsets; comparing the bound's
            // Julian day computed the way SQLite does (integer milliseconds / 86,400,000) makes
            // an instant equal to itself whatever offset the stored string used.
            var parts = [try typeIs(name, "'text'")]
            let bounds: [(Date?, String)] = [
                (range.after, ">"), (range.atOrAfter, ">="), (range.before, "<"), (range.atOrBefore, "<="),
            ]
            for case (let bound?, let op) in bounds {
                parts.append("julianday(\(try extract(name))) \(op) ?")
                bindings.append(.real(Self.julianDay(bound)))
            }
            return condition(parts.joined(separator: " AND "))

        case .exists(let name, let present):
            bindings.append(try path(name))
            return "json_type(\(column), ?) IS \(present ? "NOT NULL" : "NULL")"

        case .allOf(let filters), .anyOf(let filters):
            let isAll: Bool
            if case .allOf = self { isAll = true } else { isAll = false }
            guard !filters.isEmpty else { return isAll ? "1" : "0" }
            var parts: [String] = []
            for filter in filters {
                parts.append(try filter.translate(column: column, depth: depth + 1, nodes: &nodes, bindings: &bindings, field: field))
            }
            return "(" + parts.joined(separator: isAll ? " AND " : " OR ") + ")"

        case .not(let filter):
            return "(NOT \(try filter.translate(column: column, depth: depth + 1, nodes: &nodes, bindings: &bindings, field: field)))"
        }
    }

    /// `author.name` → `$."author"."name"`; keys are quoted so they may hold any character but `"`.
    package static func jsonPath(_ name: String, field: String = "filter") throws(MetadataStoreError) -> String {
        guard !name.isEmpty else {
            throw MetadataStoreError.invalid(field, "a condition needs a field name")
        }
        var path = "$"
        for segment in name.split(separator: ".", omittingEmptySubsequences: false) {
            guard !segment.isEmpty, !segment.contains("\"") else {
                throw MetadataStoreError.invalid(field, "'\(name)' is not a valid dotted field path")
            }
            path += ".\"\(segment)\""
        }
        return path
    }

    /// The Julian day SQLite's julianday() gives for `date`, rounded to the millisecond.
    package static func julianDay(_ date: Date) -> Double {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
        return Double(milliseconds + 210_866_760_000_000) / 86_400_000.0
    }
}
