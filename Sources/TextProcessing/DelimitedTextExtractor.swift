/// The text of CSV (RFC 4180) and tab-separated values: one line per row.
///
/// When the first row looks like a header, each row reads "header1: value1; header2: value2", so a
/// chunk holding a row out of context still says what its values are; otherwise values are joined
/// by ", ". Empty values are left out, and line breaks inside quoted values become spaces so a row
/// stays one line. Malformed quoting is tolerated as spreadsheet programs do: a quote that does not
/// start a field is text, and an unterminated quoted field runs to the end of the input.
enum DelimitedTextExtractor {
    /// Header cells longer than this are taken for data.
    private static let maximumHeaderLength = 100

    /// The text of a table whose line endings are LF.
    static func text(of scalars: [Unicode.Scalar], delimiter: Unicode.Scalar) -> String {
        let rows = records(scalars, delimiter: delimiter).filter { $0.contains { !$0.isEmpty } }
        guard let first = rows.first else { return "" }
        var lines: [String] = []
        lines.reserveCapacity(rows.count)
        if rows.count > 1 && looksLikeHeader(first) {
            for row in rows.dropFirst() {
                var parts: [String] = []
                for (column, value) in row.enumerated() where !value.isEmpty {
                    parts.append(column < first.count ? "\(first[column]): \(value)" : value)
                }
                lines.append(parts.joined(separator: "; "))
            }
        } else {
            for row in rows {
                lines.append(row.filter { !$0.isEmpty }.joined(separator: ", "))
            }
        }
        return lines.joined(separator: "\n")
    }

    /// The records of the table, each a list of cleaned field values.
    static func records(_ scalars: [Unicode.Scalar], delimiter: Unicode.Scalar) -> [[String]] {
        var records: [[String]] = []
        var record: [String] = []
        var field: [Unicode.Scalar] = []
        var fieldIsBlank = true  // only whitespace so far, so a quote may still open it
        var inQuotes = false
        var index = 0
        let count = scalars.count

        func endField() {
            record.append(cleanedValue(field))
            field.removeAll(keepingCapacity: true)
            fieldIsBlank = true
        }

        while index < count {
            let scalar = scalars[index]
            index += 1
            if inQuotes {
                if scalar == "\"" {
                    if index < count && scalars[index] == "\"" {
                        field.append("\"")
                        index += 1
                    } else {
                        inQuotes = false
                    }
                } else {
                    field.append(scalar)
                }
                continue
            }
            switch scalar {
            case "\"" where fieldIsBlank:
                field.removeAll(keepingCapacity: true)
                inQuotes = true
                fieldIsBlank = false
            case delimiter:
                endField()
            case "\n":
                endField()
                records.append(record)
                record = []
            default:
                field.append(scalar)
                if !scalar.isTextWhitespace { fieldIsBlank = false }
            }
        }
        if !field.isEmpty || !record.isEmpty || inQuotes {
            endField()
            records.append(record)
        }
        return records
    }

    /// The value trimmed, with each run of whitespace that holds a line break made one space.
    private static func cleanedValue(_ raw: [Unicode.Scalar]) -> String {
        guard let first = raw.firstIndex(where: { !$0.isTextWhitespace }),
            let last = raw.lastIndex(where: { !$0.isTextWhitespace })
        else { return "" }
        let trimmed = raw[first...last]
        guard trimmed.contains(where: \.isLineBreak) else { return trimmed.string }
        var result: [Unicode.Scalar] = []
        var pendingWhitespace: [Unicode.Scalar] = []
        for scalar in trimmed {
            if scalar.isTextWhitespace {
                pendingWhitespace.append(scalar)
                continue
            }
            if !pendingWhitespace.isEmpty {
                if pendingWhitespace.contains(where: \.isLineBreak) {
                    result.append(" ")
                } else {
                    result.append(contentsOf: pendingWhitespace)
                }
                pendingWhitespace.removeAll()
            }
            result.append(scalar)
        }
        return result.string
    }

    /// A header row: every cell filled, short, unique and not a number.
    private static func looksLikeHeader(_ row: [String]) -> Bool {
        var seen: Set<String> = []
        for cell in row {
            guard !cell.isEmpty, cell.unicodeScalars.count <= maximumHeaderLength, !isNumber(cell),
                seen.insert(cell.lowercased()).inserted
            else { return false }
        }
        return true
    }

    private static func isNumber(_ cell: String) -> Bool {
        let stripped = cell.filter { !",%$€£¥ ".contains($0) }
        return !stripped.isEmpty && Double(stripped) != nil
    }
}
