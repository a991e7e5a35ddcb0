import Foundation

#if canImport(FoundationXML)
import FoundationXML
#endif

/// A small XML tree, enough for S3's responses: elements with text and children.
final class S3XMLNode {
    let name: String
    var text = ""
    var children: [S3XMLNode] = []

    init(name: String) {
        self.name = name
    }

    func child(_ name: String) -> S3XMLNode? {
        self.children.first { $0.name == name }
    }

    func children(_ name: String) -> [S3XMLNode] {
        self.children.filter { $0.name == name }
    }

    func text(_ name: String) -> String? {
        self.child(name)?.text
    }

    /// Parses a document; nil when it is not well-formed XML.
    static func parse(_ data: Data) -> S3XMLNode? {
        let builder = TreeBuilder()
        let parser = XMLParser(data: data)
        parser.delegate = builder
        guard parser.parse() else { return nil }
        return builder.root
    }

    private final class TreeBuilder: NSObject, XMLParserDelegate {
        var root: S3XMLNode?
        var stack: [S3XMLNode] = []

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            let element = S3XMLNode(name: name)
            if let parent = self.stack.last {
                parent.children.append(element)
            } else {
                self.root = element
            }
            self.stack.append(element)
        }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            _ = self.stack.popLast()
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            self.stack.last?.text += string
        }
    }
}

extension String {
    /// Escapes text for an XML element body.
    var xmlEscaped: String {
        self.replacingOccurrences(of: "&", with: "&amp;")
            .replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
            .replacingOccurrences(of: "'", with: "&apos;")
    }
}
