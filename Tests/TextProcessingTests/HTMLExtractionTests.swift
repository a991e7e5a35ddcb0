import Testing
import TextProcessing

@Suite("Text extraction: HTML")
struct HTMLExtractionTests {
    @Test("A realistic page: title first, head, scripts, styles, comments and navigation dropped, blocks as breaks")
    func page() throws {
        let html = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
              <meta charset="utf-8">
              <title>Trove &amp; Friends &mdash; Docs</title>
              <style>body { font: 12px sans-serif; } p > a { color: red; }</style>
              <script>var html = "<p>not text</p>"; if (a < b && c > d) {}</script>
              <link rel="stylesheet" href="x.css">
            </head>
            <body>
              <!-- navigation <p>hidden</p> -->
              <nav><a href="/">Home</a> | <a href="/docs">Docs</a></nav>
              <h1>Getting   started</h1>
              <p>Trove stores
                 <b>documents</b> and makes them <a href="/search?q=a&amp;b=c" title="x > y">searchable</a>.</p>
              <p>Install it with <code>swift build</code>.<br>Then run it.</p>
              <noscript><p>Enable JavaScript</p></noscript>
              <template><p>A template row</p></template>
              <svg><title>icon</title><text>svg text</text></svg>
              <footer>&copy; 2024 Trove</footer>
            </body>
            </html>
            """
        let result = try extract(html, "text/html; charset=utf-8")
        #expect(result.format == .html)
        #expect(
            result.text == """
                Trove & Friends — Docs

                Getting started

                Trove stores documents and makes them searchable.

                Install it with swift build.
                Then run it.

                © 2024 Trove
                """)
    }

    @Test("Entities: named, decimal, hexadecimal, legacy without semicolon, unknown and invalid")
    func entities() throws {
        let html =
            "<p>&lt;tag&gt; &quot;q&quot; &apos;a&apos; &hellip; &ndash; &eacute;t&eacute; &#233; &#x1F600; &#X41;"
            + " &#150; &#0; &#x110000; &amp &copy 2024 &notanentity; AT&T &amp;amp;</p>"
        #expect(
            try extract(html, "text/html").text
                == "<tag> \"q\" 'a' … – été é 😀 A – \u{FFFD} \u{FFFD} & © 2024 &notanentity; AT&T &amp;")
    }

    @Test("A non-breaking space separates words but whitespace runs collapse to one space")
    func whitespace() throws {
        let html = "<p>  one&nbsp;two \n\t three  </p><p>a&nbsp;&nbsp;b</p>"
        #expect(try extract(html, "text/html").text == "one two three\n\na b")
    }

    @Test("Nested lists give one line per item, tables one line per row")
    func listsAndTables() throws {
        let html = """
            <ul>
              <li>Fruit
                <ol><li>Apple</li><li>Pear</li></ol>
              </li>
              <li>Bread</li>
            </ul>
            <p>After the list.</p>
            <table>
              <tr><th>Name</th><th>Age</th></tr>
              <tr><td>Ann</td><td></td><td>30</td></tr>
            </table>
            """
        #expect(
            try extract(html, "text/html").text == """
                Fruit
                Apple
                Pear
                Bread

                After the list.

                Name | Age
                Ann | 30
                """)
    }

    @Test("Preformatted text keeps its whitespace and lines")
    func preformatted() throws {
        let html = "<p>Code:</p><pre>\nfunc f() {\n    return  1\n}\n</pre><p>Done.</p>"
        #expect(try extract(html, "text/html").text == "Code:\n\nfunc f() {\n    return  1\n}\n\nDone.")
    }

    @Test("Broken HTML is tolerated: unclosed and stray tags, lone <, quotes in attributes, cut-off tags")
    func brokenHTML() throws {
        // An attribute quote left open ends the tag at its first `>`; a tag cut off by the end is dropped.
        let html = """
            <div>Unclosed <span>span <p>Para one
            <p>Para two</div></div></b> 3 < 4 and x<-y
            <img src="a.png" alt='say "hi" > there'>after image
            <p class="x>Para three</p>
            <![CDATA[raw <text>]]> <p>last <b
            """
        #expect(
            try extract(html, "text/html").text == """
                Unclosed span

                Para one

                Para two
                3 < 4 and x<-y after image

                Para three

                raw <text>

                last
                """)
    }

    @Test("An unterminated comment or script drops the rest; XHTML is read the same way")
    func unterminated() throws {
        #expect(try extract("<p>kept</p><!-- never closed <p>lost</p>", "text/html").text == "kept")
        #expect(try extract("<p>kept</p><script>lost()", "text/html").text == "kept")
        let xhtml =
            "<?xml version=\"1.0\"?><html xmlns=\"http://www.w3.org/1999/xhtml\"><body><p>X&#233;</p></body></html>"
        #expect(try extract(xhtml, "application/xhtml+xml") == ExtractedText(text: "Xé", format: .html))
    }

    @Test("Line endings are LF whatever the source and the entities")
    func lineEndings() throws {
        #expect(try extract("<pre>a\r\nb\rc&#13;&#10;d</pre>", "text/html").text == "a\nb\nc\nd")
    }
}
