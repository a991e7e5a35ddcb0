/// Texts the chunker is tried on.
enum SampleTexts {
    /// Paragraphs of ordinary sentences with abbreviations, decimals, quotes and a list.
    static let prose = """
        Trove stores documents and makes them searchable. Each document is split into chunks, \
        and each chunk is embedded by the model (all-MiniLM-L6-v2, e.g. 384 dimensions). \
        Dr. Smith measured 3.14 units at 5 p.m. on Tuesday! Was that right? "Nobody knows." Then \
        the index was rebuilt.

        A second paragraph follows the first. It is shorter, but it still has a few sentences in it. \
        Mr. Jones thinks so… and Mrs. Jones agrees.

        Shopping list:
        - apples and pears
        - bread, butter and a very large wheel of cheese for the party on Saturday night
        - milk

        The last paragraph has one sentence that runs on for a long while without ending, \
        listing things like rivers and mountains and valleys and lakes and forests and deserts \
        and glaciers and islands and bays and capes and straits and plains and plateaus and \
        canyons and reefs and volcanoes and lagoons and fjords and marshes and dunes and hills
        and going on across a line break and still on, until at last it stops here.
        """

    /// Chinese and Japanese without spaces, with and without sentence punctuation.
    static let cjk = """
        我爱北京天安门。天安门上太阳升！你好吗？我很好。

        東京は日本の首都です。大阪は商業の中心地として知られています。\
        京都には古い寺がたくさんあります

        这是一个没有标点符号的很长的句子它一直持续下去没有任何停顿也没有任何空格所以必须在某个地方切断它才能放进一个块里面否则块就会太大了我们继续写更多的文字让它足够长
        """

    /// Emoji (with ZWJ sequences and modifiers), combining marks and other multi-scalar graphemes.
    static let graphemes = """
        Family 👩‍👩‍👧‍👦 went to the café (written cafe\u{301}). Flags 🇫🇷🇯🇵 and a thumbs-up 👍🏽 were shown.

        Zalgo t\u{336}e\u{336}x\u{336}t and Hangul 한국어 and Devanagari नमस्ते appear. The end is near. \
        Ǆ and ﬁ ligatures too.
        """

    /// A text of `count` short sentences of a few words each, in paragraphs of `perParagraph`.
    static func sentences(_ count: Int, perParagraph: Int = .max) -> String {
        var text = ""
        for index in 0..<count {
            if index > 0 {
                text += index % perParagraph == 0 ? "\n\n" : " "
            }
            text += "Sentence number \(index) says little."
        }
        return text
    }
}
