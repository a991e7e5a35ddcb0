import Testing
import TextProcessing

@Suite("Content type guessing")
struct ContentTypeTests {
    @Test(
        "The extension decides, whatever the case and the path",
        arguments: [
            ("notes.txt", "text/plain"),
            ("README.md", "text/markdown"),
            ("guide.markdown", "text/markdown"),
            ("site/Index.HTM", "text/html"),
            ("page.html", "text/html"),
            ("doc.xhtml", "application/xhtml+xml"),
            ("C:\\data\\export.json", "application/json"),
            ("table.csv", "text/csv"),
            ("table.tsv", "text/tab-separated-values"),
            ("feed.xml", "application/xml"),
            ("report.pdf", "application/pdf"),
            ("photo.JPG", "image/jpeg"),
            ("photo.jpeg", "image/jpeg"),
            ("icon.png", "image/png"),
            ("anim.gif", "image/gif"),
            ("letter.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
            ("bundle.zip", "application/zip"),
            ("backup.tar.gz", "application/gzip"),
        ])
    func byExtension(filename: String, expected: String) {
        #expect(ContentType.guess(filename: filename, content: [UInt8]()) == expected)
    }

    @Test("The extension wins over the content")
    func extensionFirst() {
        #expect(ContentType.guess(filename: "data.csv", content: Array("%PDF-1.7".utf8)) == "text/csv")
    }

    @Test(
        "Without a known extension, magic numbers decide",
        arguments: [
            (Array("%PDF-1.4\n%âãÏÓ".utf8), "application/pdf"),
            ([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00], "image/png"),
            ([0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0x4A, 0x46], "image/jpeg"),
            (Array("GIF89a\u{01}\u{00}".utf8), "image/gif"),
            ([0x50, 0x4B, 0x03, 0x04, 0x14, 0x00, 0x06, 0x00], "application/zip"),
            ([0x1F, 0x8B, 0x08, 0x00, 0x00, 0x00], "application/gzip"),
        ] as [([UInt8], String)])
    func magicNumbers(content: [UInt8], expected: String) {
        #expect(ContentType.guess(filename: "upload", content: content) == expected)
        #expect(ContentType.guess(filename: "upload.bin", content: content[...]) == expected)
    }

    @Test("HTML is recognised by its doctype or root element, after a BOM and whitespace")
    func sniffHTML() {
        for html in ["<!DOCTYPE html><title>x</title>", "\n  <html lang=\"en\">", "\u{FEFF}<HTML>", "<head><title>t"] {
            #expect(ContentType.guess(filename: "page", content: Array(html.utf8)) == "text/html", "\(html)")
        }
        #expect(ContentType.guess(filename: "x", content: Array("<htmlish> no".utf8)) == "text/plain")
        #expect(
            ContentType.guess(filename: "x", content: Array("<?xml version=\"1.0\"?><rss/>".utf8)) == "application/xml")
    }

    @Test("JSON is recognised when it starts with { or [ and parses, or is cut short by the end of the bytes")
    func sniffJSON() {
        #expect(
            ContentType.guess(filename: "data", content: Array(" {\"a\": [1, 2.5e3, null]}\n".utf8))
                == "application/json")
        #expect(ContentType.guess(filename: "data", content: Array("[\"x\"]".utf8)) == "application/json")
        // Callers may sniff only a prefix of the file.
        for prefix in ["[1, 2", "{\"key\": \"val", "{\"a\": tr", "[-", "{\"a\": \"\\u00"] {
            #expect(ContentType.guess(filename: "data", content: Array(prefix.utf8)) == "application/json", "\(prefix)")
        }
        for notJSON in ["{not json}", "[1, 2]]", "[1,]", "{\"a\": trust}", "\"just a string\""] {
            #expect(ContentType.guess(filename: "data", content: Array(notJSON.utf8)) == "text/plain", "\(notJSON)")
        }
    }

    @Test("UTF-8 without NULs is plain text; anything else is octet-stream")
    func sniffText() {
        #expect(ContentType.guess(filename: "Makefile", content: Array("all:\n\techo héllo 😀\n".utf8)) == "text/plain")
        #expect(ContentType.guess(filename: ".bashrc", content: Array("export A=1".utf8)) == "text/plain")
        #expect(ContentType.guess(filename: "x", content: [0x61, 0x00, 0x62]) == "application/octet-stream")
        #expect(ContentType.guess(filename: "x", content: [0x61, 0xC3, 0x28]) == "application/octet-stream")
        #expect(ContentType.guess(filename: "x", content: [0xED, 0xA0, 0x80]) == "application/octet-stream")  // a surrogate
        #expect(ContentType.guess(filename: "x", content: [0xC0, 0xAF]) == "application/octet-stream")  // overlong
        #expect(ContentType.guess(filename: "x", content: [UInt8]()) == "text/plain")
    }

    @Test("A multi-byte sequence cut short by the end of the bytes does not make text binary")
    func sniffPrefix() {
        let content = Array(repeating: UInt8(ascii: "a"), count: 64 * 1024 - 1) + Array("é and more".utf8)
        #expect(ContentType.guess(filename: "big", content: content) == "text/plain")
        // What a caller sniffing only the first 4,096 bytes of a Chinese text gets: a character cut.
        let chinese = Array(String(repeating: "中文", count: 1_000).utf8)
        #expect(ContentType.guess(filename: "notes", content: chinese.prefix(4096)) == "text/plain")
        #expect(ContentType.guess(filename: "short", content: [0x61, 0xE4, 0xB8]) == "text/plain")
        #expect(ContentType.guess(filename: "short", content: [0x61, 0xE4, 0xB8, 0x61]) == "application/octet-stream")
    }

    @Test("The essence drops parameters and lower-cases")
    func essence() {
        #expect(ContentType.essence(of: "Text/HTML; charset=utf-8") == "text/html")
        #expect(ContentType.essence(of: "  application/JSON  ") == "application/json")
        #expect(ContentType.essence(of: "text/plain;") == "text/plain")
        #expect(ContentType.essence(of: "") == "")
    }
}
