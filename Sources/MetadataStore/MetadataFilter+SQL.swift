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
        // The checks (depth, size, field paths, comparable values, finite bounds) are the ones
        // the vector index's in-memory evaluation makes; past them translation cannot fail.
        do {
            _ = try self.compiled(field: field)
        } catch {
            throw MetadataStoreError.invalid(error.field, error.message)
        }
        var bindings: [SQLValue] = []
        let sql = self.translate(column: column, bindings: &bindings)
        return SQLFragment(sql: sql, bindings: bindings)
    }

    private func translate(column: String, bindings: inout [SQLValue]) -> String {
        func typeIs(_ name: String, _ types: String) -> String {
            bindings.append(.text(Self.jsonPath(name)))
            return "json_type(\(column), ?) IN (\(types))"
        }
        func extract(_ name: String) -> String {
            bindings.append(.text(Self.jsonPath(name)))
            return "json_extract(\(column), ?)"
        }
        func equality(_ name: String, _ value: JSONValue) -> String {
            switch value {
            case .null:
                return typeIs(name, "'null'")
            case .bool(let flag):
                return typeIs(name, flag ? "'true'" : "'false'")
            case .number(let number):
                let type = typeIs(name, "'integer', 'real'")
                let left = extract(name)
                bindings.append(.real(number))
                return "\(type) AND \(left) = ?"
            case .string(let text):
                let type = typeIs(name, "'text'")
                let left = extract(name)
                bindings.append(.text(text))
                return "\(type) AND \(left) = ?"
            case .array, .object:
                return "0"  // Refused by compiled(field:) before translation.
            }
        }
        func condition(_ sql: String) -> String { "COALESCE((\(sql)), 0)" }

        switch self {
        case .equals(let name, let value):
            return condition(equality(name, value))

        case .isIn(let name, let values):
            guard !values.isEmpty else { return "0" }
            var parts: [String] = []
            for value in values {
                parts.append("(\(equality(name, value)))")
            }
            return condition(parts.joined(separator: " OR "))

        case .numberRange(let name, let range):
            var parts = [typeIs(name, "'integer', 'real'")]
            let bounds: [(Double?, String)] = [
                (range.greaterThan, ">"), (range.greaterThanOrEqual, ">="),
                (range.lessThan, "<"), (range.lessThanOrEqual, "<="),
            ]
            for case (let bound?, let op) in bounds {
                parts.append("\(extract(name)) \(op) ?")
                bindings.append(.real(bound))
            }
            return condition(parts.joined(separator: " AND "))

        case .timeRange(let name, let range):
            // julianday() parses RFC 3339 with 'T', fractions and offsets; comparing the bound's
            // Julian day computed the way SQLite does (integer milliseconds / 86,400,000) makes
            // an instant equal to itself whatever offset the stored string used.
            var parts = [typeIs(name, "'text'")]
            let bounds: [(Date?, String)] = [
                (range.after, ">"), (range.atOrAfter, ">="), (range.before, "<"), (range.atOrBefore, "<="),
            ]
            for case (let bound?, let op) in bounds {
                parts.append("julianday(\(extract(name))) \(op) ?")
                bindings.append(.real(Self.julianDay(bound)))
            }
            return condition(parts.joined(separator: " AND "))

        case .exists(let name, let present):
            bindings.append(.text(Self.jsonPath(name)))
            return "json_type(\(column), ?) IS \(present ? "NOT NULL" : "NULL")"

        case .allOf(let filters), .anyOf(let filters):
            let isAll: Bool
            if case .allOf = self { isAll = true } else { isAll = false }
            guard !filters.isEmpty else { return isAll ? "1" : "0" }
            var parts: [String] = []
            for filter in filters {
                parts.append(filter.translate(column: column, bindings: &bindings))
            }
            return "(" + parts.joined(separator: isAll ? " AND " : " OR ") + ")"

        case .not(let filter):
            return "(NOT \(filter.translate(column: column, bindings: &bindings)))"
        }
    }

    /// `author.name` → `$."author"."name"`; keys are quoted so they may hold any character but `"`
    /// (which, with empty keys, `compiled(field:)` refuses first).
    private static func jsonPath(_ name: String) -> String {
        "$" + name.split(separator: ".", omittingEmptySubsequences: false).map { ".\"\($0)\"" }.joined()
    }

    /// The Julian day SQLite's julianday() gives for `date`, rounded to the millisecond.
    package static func julianDay(_ date: Date) -> Double {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
        return Double(milliseconds + 210_866_760_000_000) / 86_400_000.0
    }
}
