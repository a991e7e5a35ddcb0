import Testing
import TextProcessing

/// Extracts a string's UTF-8 bytes.
func extract(_ content: String, _ mimeType: String) throws(ExtractionError) -> ExtractedText {
    try TextExtractor.extract(Array(content.utf8), mimeType: mimeType)
}

@Suite("Text extraction: plain text, JSON, CSV and errors")
struct TextExtractorTests {
    @Test("Plain text is kept as it is, but for line endings and a BOM")
    func plainText() throws {
        let bytes: [UInt8] = [0xEF, 0xBB, 0xBF] + Array("line one\r\nline two\rline three\n\n  indented\n".utf8)
        let result = try TextExtractor.extract(bytes, mimeType: "text/plain; charset=utf-8")
        #expect(result == ExtractedText(text: "line one\nline two\nline three\n\n  indented\n", format: .plainText))
    }

    @Test("Invalid UTF-8 becomes U+FFFD rather than failing")
    func invalidUTF8() throws {
        let result = try TextExtractor.extract([0x61, 0xFF, 0x62, 0xC3, 0x28, 0xE2, 0x82], mimeType: "text/plain")
        #expect(result.text == "a\u{FFFD}b\u{FFFD}(\u{FFFD}")
    }

    @Test(
        "Other text types are plain text; some types are unsupported",
        arguments: [
            ("text/x-log", true), ("text/css", true), ("Text/Plain", true), ("application/yaml", true),
            ("application/ld+json", true), ("application/xhtml+xml", true), ("text/tab-separated-values", true),
            ("application/pdf", false), ("image/png", false), ("application/octet-stream", false), ("text/", false),
            ("", false),
        ])
    func canExtract(mimeType: String, expected: Bool) {
        #expect(TextExtractor.canExtract(mimeType: mimeType) == expected)
    }

    @Test("An unsupported type is an error naming it")
    func unsupported() {
        let error = #expect(throws: ExtractionError.self) {
            try extract("%PDF-1.7", "application/PDF")
        }
        #expect(error?.isUnsupportedType == true)
        #expect(error?.description == "no text extractor for application/pdf")
        #expect(error?.mimeType == "application/pdf")
    }

    @Test("JSON gives its string values in document order, a paragraph each, without keys, numbers or booleans")
    func json() throws {
        let json = """
            {
              "title": "Quarterly report",
              "year": 2024, "draft": false, "owner": null,
              "sections": [
                {"heading": "Summary", "body": "Sales grew.\\r\\nCosts fell.", "pages": [1, 2]},
                {"heading": "Outlook", "tags": ["growth", "", "caf\\u00e9 \\ud83d\\ude00"], "nested": {"deep": {"deeper": "end"}}}
              ],
              "escaped": "quote \\" and slash \\/ and tab\\t."
            }
            """
        let result = try extract(json, "application/json")
        #expect(result.format == .json)
        #expect(
            result.text == """
                Quarterly report

                Summary

                Sales grew.
                Costs fell.

                Outlook

                growth

                café 😀

                end

                quote " and slash / and tab\t.
                """)
        #expect(try extract("[\"a\", [\"b\", [\"c\"]]]", "application/vnd.api+json").text == "a\n\nb\n\nc")
        #expect(try extract("\"top-level\"", "application/json").text == "top-level")
    }

    @Test(
        "Malformed JSON is an error saying where",
        arguments: [
            ("{\"a\": [1, 2,, 3]}", "at line 1, column 13: expected a value"),
            ("{\"a\": 1,\n  \"b\" 2}", "at line 2, column 7: expected ':' after a member name"),
            ("{\"a\": \"é\" \"b\"}", "at line 1, column 11: expected ',' or '}'"),
            ("[1, 2", "at line 1, column 6: expected ',' or ']', found the end of the input"),
            ("{\"a\": 01}", "at line 1, column 8: expected ',' or '}'"),
            ("{\"a\": \"tab\there\"}", "at line 1, column 11: control character in a string must be escaped"),
            ("{\"a\": 1} x", "at line 1, column 10: unexpected content after the JSON value"),
            ("", "at line 1, column 1: expected a value, found the end of the input"),
        ])
    func malformedJSON(json: String, location: String) {
        let error = #expect(throws: ExtractionError.self) {
            try extract(json, "application/json")
        }
        #expect(error?.isMalformedContent == true)
        #expect(error?.description == "malformed JSON \(location)")
    }

    @Test("Deeply nested JSON does not overflow the stack")
    func deepJSON() throws {
        let depth = 100_000
        let json = String(repeating: "[", count: depth) + "\"bottom\"" + String(repeating: "]", count: depth)
        #expect(try extract(json, "application/json").text == "bottom")
    }

    @Test("CSV with a header gives 'header: value' rows, honouring quotes, commas and line breaks in values")
    func csvWithHeader() throws {
        let csv =
            "name,city,notes\r\nAnn,\"Paris, France\",\"said \"\"hi\"\"\r\nthen left\"\r\nBob,Rome,\r\n\r\n  Cy , \"Oslo\" ,x,extra\r\n"
        let result = try extract(csv, "text/csv")
        #expect(result.format == .csv)
        #expect(
            result.text == """
                name: Ann; city: Paris, France; notes: said "hi" then left
                name: Bob; city: Rome
                name: Cy; city: Oslo; notes: x; extra
                """)
    }

    @Test("CSV without a header row gives values joined by commas")
    func csvWithoutHeader() throws {
        #expect(try extract("1,2,3\n4,,6", "text/csv").text == "1, 2, 3\n4, 6")
        #expect(try extract("id,id\na,b", "text/csv").text == "id, id\na, b")  // repeated names: not a header
        #expect(try extract("only one row,here", "text/csv").text == "only one row, here")
        #expect(
            try extract("a,\"unterminated, quote\nstill in it", "text/csv").text == "a, unterminated, quote still in it"
        )
    }

    @Test("Tab-separated values are read like CSV")
    func tsv() throws {
        let result = try extract("term\tdefinition\nHNSW\tA graph index, \"navigable\"\n", "text/tab-separated-values")
        #expect(result == ExtractedText(text: "term: HNSW; definition: A graph index, \"navigable\"", format: .csv))
    }
}
