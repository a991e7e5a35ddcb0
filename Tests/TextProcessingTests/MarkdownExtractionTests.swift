import Testing
import TextProcessing

@Suite("Text extraction: Markdown")
struct MarkdownExtractionTests {
    @Test("A realistic README: markup dropped, words and paragraphs kept")
    func readme() throws {
        let markdown = """
            # Trove *data layer* #

            Trove is a **self-hostable** data layer with _vector_ search, ~~no~~ *few* dependencies
            and a [web site](https://trove.example/docs "Docs") plus ![architecture diagram](img/arch.png).
            Use `swift build -c release` to build; snake_case_names and 2 * 3 stay as written.

            Features
            --------

            - Object storage
            - [x] Metadata with **filters**
              * nested: [HNSW][hnsw] index
            + Ingestion
            1. First step
            2) Second step

            > Quoted *wisdom*
            > > nested quote

            ```swift
            let chunks = try await chunker.chunk(text) // *not* emphasis
            ```

            ~~~
            plain fence
            ~~~

            | Service | Port |
            |---------|-----:|
            | Metadata | 7002 |

            <!-- a comment
            over two lines -->
            Line with <span class="x">inline html</span>, <https://auto.link/x>, \\*escaped\\* and &copy; 2024.

            ***

            [hnsw]: https://arxiv.org/abs/1603.09320
            [^1]: A footnote that stays.
            """
        let result = try extract(markdown, "text/markdown")
        #expect(result.format == .markdown)
        #expect(
            result.text == """
                Trove data layer

                Trove is a self-hostable data layer with vector search, no few dependencies
                and a web site plus architecture diagram.
                Use swift build -c release to build; snake_case_names and 2 * 3 stay as written.

                Features

                Object storage
                Metadata with filters
                nested: HNSW index
                Ingestion
                1. First step
                2) Second step

                Quoted wisdom
                nested quote

                let chunks = try await chunker.chunk(text) // *not* emphasis

                plain fence

                Service | Port
                Metadata | 7002

                Line with inline html, https://auto.link/x, *escaped* and © 2024.

                A footnote that stays.
                """)
    }

    @Test("Headings become paragraphs of their own")
    func headings() throws {
        let markdown = "Intro line\n## Section\nBody text\n###### Deep ######\n#hashtag is not a heading"
        #expect(
            try extract(markdown, "text/x-markdown").text
                == "Intro line\n\nSection\n\nBody text\n\nDeep\n\n#hashtag is not a heading")
    }

    @Test("Code fences keep their content verbatim, indentation included, even when unclosed")
    func codeFences() throws {
        let markdown = "Before\n\n  ````\n  if a < b { *x* }\n    indented\n  ````\n\n```\nnever closed **bold**"
        #expect(
            try extract(markdown, "text/markdown").text
                == "Before\n\nif a < b { *x* }\n  indented\n\nnever closed **bold**")
    }

    @Test("Links: inline, reference, nested image, with parentheses in the target; lone brackets stay")
    func links() throws {
        let markdown =
            "See [the *docs*](https://x.org/a_(b)) and [![logo](l.png)](https://x.org) and [ref][1], [note] or a[0]."
        #expect(try extract(markdown, "text/markdown").text == "See the docs and logo and ref, [note] or a[0].")
    }

    @Test("Emphasis markers are dropped where they open or close, kept elsewhere")
    func emphasis() throws {
        let markdown = "***all*** __strong__ *a*b _c_ x_y_z 5 * 6 **unclosed ~one~ ~~two~~"
        #expect(try extract(markdown, "text/markdown").text == "all strong ab c x_y_z 5 * 6 unclosed ~one~ two")
    }
}
