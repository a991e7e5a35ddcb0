import ArgumentParser
import Foundation
import Glibc
import SwiftProtobuf
import TroveContracts

/// `trove search "…"`: ranked passages with their source, offsets and a highlighted snippet.
struct SearchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Search a collection: by meaning (vector), by words (keyword), or both (hybrid)."
    )

    enum Mode: String, ExpressibleByArgument, CaseIterable {
        case vector, keyword, hybrid
    }

    @Argument(help: "What to search for.")
    var query: String

    @Option(name: .shortAndLong, help: "The collection.")
    var collection = "default"

    @Option(name: .short, help: "How many results.")
    var k = 5

    @Option(name: .long, help: "vector, keyword or hybrid.")
    var mode = Mode.vector

    @Option(name: .long, help: "Only documents whose metadata passes: FIELD=VALUE, FIELD!=VALUE, FIELD>N, FIELD>=N, FIELD<N, FIELD<=N or FIELD? (present); repeat to require all.")
    var filter: [String] = []

    @Option(name: .long, help: "Only results at least this similar (vector mode).")
    var minSimilarity: Float?

    @Option(name: .long, help: "Hybrid mode: weight of the vector ranking, 0 to 1.")
    var vectorWeight: Float?

    @Flag(name: .long, help: "Print the response as JSON, for scripts.")
    var json = false

    @OptionGroup var client: ClientOptions

    func run() async throws {
        var request = Trove_V1_SearchRequest()
        request.collection = self.collection
        request.query = self.query
        request.k = UInt32(clamping: self.k)
        request.mode = switch self.mode {
        case .vector: .vector
        case .keyword: .keyword
        case .hybrid: .hybrid
        }
        if let minSimilarity { request.minSimilarity = minSimilarity }
        if let vectorWeight { request.vectorWeight = vectorWeight }
        if !self.filter.isEmpty {
            request.filter = try FilterExpression.parse(self.filter)
        }
        let response = try await self.client.withClient { client in
            try await Trove_V1_Ingestion.Client(wrapping: client).search(request, options: self.client.callOptions)
        }
        if self.json {
            var options = JSONEncodingOptions()
            options.preserveProtoFieldNames = true
            print(try response.jsonString(options: options))
            return
        }
        if response.hits.isEmpty {
            print("no results")
            return
        }
        let emphasis = isatty(STDOUT_FILENO) == 1
        for (rank, hit) in response.hits.enumerated() {
            let score = IngestProgress.format(hit.score, digits: 3)
            var ranks = ""
            if self.mode == .hybrid {
                ranks = ", vector #\(hit.vectorRank == 0 ? "-" : String(hit.vectorRank)), keyword #\(hit.keywordRank == 0 ? "-" : String(hit.keywordRank))"
            }
            let title = "\(rank + 1). \(hit.filename)  [chunk \(hit.chunkSequence), characters \(hit.startOffset)–\(hit.endOffset), score \(score)\(ranks)]"
            print(emphasis ? "\u{1B}[1m\(title)\u{1B}[0m" : title)
            print("   " + Self.highlight(hit.snippet, emphasis: emphasis))
            print()
        }
        let total = response.timingsUs.values.reduce(0, +)
        let parts = response.timingsUs.sorted { $0.key < $1.key }.map { "\($0.key) \(IngestProgress.format(Double($0.value) / 1000, digits: 1)) ms" }
        print(response.fromCache ? "(from the cache)" : "(\(IngestProgress.format(Double(total) / 1000, digits: 1)) ms: \(parts.joined(separator: ", ")))")
    }

    /// The snippet on one line, with its <b>…</b> marks as bold on a terminal and [ … ] otherwise.
    static func highlight(_ snippet: String, emphasis: Bool) -> String {
        let flat = snippet.split(whereSeparator: \.isNewline).joined(separator: " ")
        return flat.replacingOccurrences(of: "<b>", with: emphasis ? "\u{1B}[1;33m" : "[")
            .replacingOccurrences(of: "</b>", with: emphasis ? "\u{1B}[0m" : "]")
    }
}

/// The command line's filter syntax, as the shared filter expression.
enum FilterExpression {
    static func parse(_ terms: [String]) throws -> Trove_V1_Filter {
        let conditions = try terms.map(Self.condition)
        if conditions.count == 1 { return conditions[0] }
        return .with { $0.allOf = .with { $0.filters = conditions } }
    }

    private static func condition(_ term: String) throws -> Trove_V1_Filter {
        if term.hasSuffix("?") {
            let field = String(term.dropLast())
            guard !field.isEmpty else { throw ValidationError("--filter '\(term)': name a field before '?'") }
            return .with { $0.condition = .with { $0.field = field; $0.exists = true } }
        }
        for symbol in ["!=", ">=", "<=", "=", ">", "<"] {
            guard let range = term.range(of: symbol) else { continue }
            let field = String(term[..<range.lowerBound])
            let text = String(term[range.upperBound...])
            guard !field.isEmpty else { throw ValidationError("--filter '\(term)': name a field before '\(symbol)'") }
            let value = jsonValue(text)
            switch symbol {
            case "=":
                return .with { $0.condition = .with { $0.field = field; $0.equals = value } }
            case "!=":
                return .with { $0.negate = .with { $0.condition = .with { $0.field = field; $0.equals = value } } }
            default:
                guard let number = Double(text) else {
                    throw ValidationError("--filter '\(term)': '\(symbol)' compares numbers, and '\(text)' is not one")
                }
                return .with {
                    $0.condition = .with {
                        $0.field = field
                        $0.numberRange = .with {
                            switch symbol {
                            case ">": $0.gt = number
                            case ">=": $0.gte = number
                            case "<": $0.lt = number
                            default: $0.lte = number
                            }
                        }
                    }
                }
            }
        }
        throw ValidationError("--filter '\(term)': expected FIELD=VALUE, FIELD!=VALUE, FIELD>N, FIELD>=N, FIELD<N, FIELD<=N or FIELD?")
    }
}
