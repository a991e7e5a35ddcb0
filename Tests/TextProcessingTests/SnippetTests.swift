import Testing
import TextProcessing

@Suite("Snippets")
struct SnippetTests {
    static let content = """
        Trove is a self-hostable data layer. It stores objects, keeps their metadata, and embeds text so that \
        it can be searched by meaning. The vector index uses HNSW graphs with filters and deletes. Ingestion \
        extracts text from documents, cuts it into chunks and indexes every chunk. Searching returns the best \
        chunks with a snippet around the words of the query, like this one. Café owners love the Indexing features.
        """

    @Test("The passage is centred on the densest run of matches, cut at words, with ellipses")
    func densestRun() {
        let snippet = Snippet.make(content: Self.content, query: "vector index filters", maxScalars: 120)
        #expect(
            snippet
                == "…it can be searched by meaning. The [vector] [index] uses HNSW graphs with [filters] and deletes. Ingestion extracts text…"
        )
        #expect(
            snippet.replacingOccurrences(of: "[", with: "").replacingOccurrences(of: "]", with: "").unicodeScalars.count
                <= 120)
    }

    @Test("Matching ignores case and diacritics, allows a few English endings, skips stop words and short words")
    func matching() {
        let snippet = Snippet.make(content: Self.content, query: "CAFE indexes the a", maxScalars: 100)
        #expect(snippet.hasSuffix("[Café] owners love the [Indexing] features."))
        #expect(snippet.hasPrefix("…"))
        #expect(!snippet.contains("[the]"))
        #expect(Snippet.make(content: "the chunk and the chunks", query: "chunk") == "the [chunk] and the [chunks]")
    }

    @Test("Without a match, the start of the content; content that fits is not cut")
    func noMatch() {
        #expect(
            Snippet.make(content: Self.content, query: "zebra", maxScalars: 60)
                == "Trove is a self-hostable data layer. It stores objects,…")
        #expect(Snippet.make(content: "Short text here.", query: "") == "Short text here.")
        #expect(Snippet.make(content: "", query: "anything") == "")
    }

    @Test("Markers are configurable; whitespace runs without a blank line become one space")
    func markersAndWhitespace() {
        #expect(
            Snippet.make(
                content: "  lots   of\n\t whitespace   here  ", query: "Whitespace", open: "<b>", close: "</b>")
                == "lots of <b>whitespace</b> here")
    }

    @Test("CJK words match as substrings")
    func cjk() {
        #expect(Snippet.make(content: "東京タワーは東京の観光名所です。", query: "東京") == "[東京]タワーは[東京]の観光名所です。")
    }

    @Test("A word longer than the budget is cut where the budget ends")
    func longWord() {
        let snippet = Snippet.make(content: String(repeating: "x", count: 500), query: "y", maxScalars: 50)
        // Room is kept for an ellipsis at each end, though only one is needed here.
        #expect(snippet == String(repeating: "x", count: 48) + "…")
        let matched = Snippet.make(
            content: "a " + String(repeating: "y", count: 500), query: "y" + String(repeating: "y", count: 499),
            maxScalars: 50)
        #expect(matched.unicodeScalars.count == 50)
        #expect(matched.hasPrefix("…y"))
    }

    @Test("Marks made elsewhere come off stop words and one-letter words, and stay on the rest")
    func unmarkingCommonWords() {
        let fullText = "…Brewing methods <b>How</b> do <b>I</b> make coffee in <b>a</b> <b>French</b> <b>press</b>? <b>Café</b> <b>À</b>…"
        #expect(
            Snippet.unmarkingCommonWords(in: fullText, open: "<b>", close: "</b>")
                == "…Brewing methods How do I make coffee in a <b>French</b> <b>press</b>? <b>Café</b> À…")
        // The same words as `make` leaves unmarked.
        #expect(Snippet.make(content: "How do I make coffee in a French press", query: "how I a French press") == "How do I make coffee in a [French] [press]")
        // A mark left open is text, not a mark.
        #expect(Snippet.unmarkingCommonWords(in: "[a] and [b", open: "[", close: "]") == "a and [b")
        #expect(Snippet.unmarkingCommonWords(in: "no marks", open: "<b>", close: "</b>") == "no marks")
    }

    @Test("A blank line after text that ends no sentence shows as a dash; other whitespace as a space")
    func paragraphBreaks() {
        let content = "Keeping a Starter Alive\n\nA starter is flour and\nwater.\n\nFeed it:\n\n\"every day.\"\r\n\r\nOr not"
        #expect(
            Snippet.make(content: content, query: "starter")
                == "Keeping a [Starter] Alive — A [starter] is flour and water. Feed it: \"every day.\" Or not")
        // A heading that is itself the match, and lines without a blank one between them.
        #expect(Snippet.make(content: "Alive\n\nnext", query: "alive") == "[Alive] — next")
        #expect(Snippet.make(content: "one\ntwo\n  three", query: "") == "one two three")
    }

    @Test("A full-text search's snippet is made one line the same way, through its marks, trimmed")
    func flattened() {
        #expect(
            Snippet.flattened("\n…Keeping a <b>Starter</b> Alive\n\nA <b>starter</b>\nis flour.\n\nFeed it…\n", open: "<b>", close: "</b>")
                == "…Keeping a <b>Starter</b> Alive — A <b>starter</b> is flour. Feed it…")
        #expect(Snippet.flattened("no breaks here", open: "<b>", close: "</b>") == "no breaks here")
        #expect(Snippet.flattened(" \n ", open: "<b>", close: "</b>") == "")
    }
}
