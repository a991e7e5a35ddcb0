import Foundation
import GRPCCore
import SwiftProtobuf
import TextProcessing
import TroveContracts
import TroveCore

extension IngestionService {
    /// Reciprocal-rank fusion's constant: a hit's share is weight / (k + rank).
    static let fusionConstant = 60.0
    /// Marks around matching terms in snippets, the same as the metadata service's full-text search.
    static let snippetMarks = (open: "<b>", close: "</b>")

    /// A keyword match's snippet (made by the metadata service's full-text search) on one line,
    /// as a vector hit's is, marking the words a vector hit's snippet would: not "a" or "how".
    /// Where the full-text search's passage had only such words, the passage a vector hit shows
    /// instead: `vectorSnippet` when the vector search found the chunk too, else one made here.
    static func keywordSnippet(_ match: Trove_V1_TextMatch, query: String, vectorSnippet: String? = nil) -> String {
        let (open, close) = Self.snippetMarks
        let flat = Snippet.flattened(match.snippet, open: open, close: close)
        let snippet = Snippet.unmarkingCommonWords(in: flat, open: open, close: close)
        if snippet.contains(open) {
            return snippet
        }
        return vectorSnippet ?? Snippet.make(content: match.chunk.content, query: query, open: open, close: close)
    }

    public func search(request: Trove_V1_SearchRequest, context: ServerContext) async throws -> Trove_V1_SearchResponse {
        guard !request.collection.isEmpty else {
            throw RPCError.invalidField("collection", "name the collection to search")
        }
        let query = request.query.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !query.isEmpty else {
            throw RPCError.invalidField("query", "give some text to search for")
        }
        guard request.k <= 1000 else {
            throw RPCError.invalidField("k", "must be 1 to 1000 (0 means 10)")
        }
        if request.hasMinSimilarity, !request.minSimilarity.isFinite {
            throw RPCError.invalidField("min_similarity", "must be a finite number")
        }
        if request.hasVectorWeight, !(0...1).contains(request.vectorWeight) {
            throw RPCError.invalidField("vector_weight", "must be between 0 and 1")
        }
        let cacheKey = self.cache.isEnabled && !request.noCache ? SearchCache.key(for: request) : nil
        let generation = self.cache.generation(of: request.collection)
        if let cacheKey, var cached = self.cache.lookup(cacheKey, collection: request.collection) {
            cached.fromCache = true
            return cached
        }

        let collection = try await self.downstream.metadata.getCollection(.with { $0.name = request.collection })
        let k = request.k == 0 ? 10 : Int(request.k)
        let mode: Trove_V1_SearchMode = request.mode == .unspecified ? .vector : request.mode
        var timings: [String: UInt64] = [:]
        var response = Trove_V1_SearchResponse()
        switch mode {
        case .keyword:
            let matches = try await self.keywordMatches(request, query: query, limit: k, timings: &timings)
            response.hits = matches.enumerated().map { rank, match in
                var hit = Self.hit(chunk: match.chunk, document: match.document)
                hit.score = match.score
                hit.snippet = Self.keywordSnippet(match, query: query)
                hit.keywordRank = UInt32(rank + 1)
                return hit
            }
        case .hybrid:
            // Each list deeper than k, so a hit ranked low in one list but high in the other can rise.
            let depth = min(1000, max(2 * k, 20))
            async let vectorHits = self.vectorHits(request, query: query, collection: collection, limit: depth)
            let keyword = try await self.keywordMatches(request, query: query, limit: depth, timings: &timings)
            let (vector, vectorTimings) = try await vectorHits
            timings.merge(vectorTimings) { $1 }
            response.hits = Self.fuse(
                vector: vector, keyword: keyword, k: k,
                vectorWeight: request.hasVectorWeight ? Double(request.vectorWeight) : 0.5, query: query)
        default:
            let (hits, vectorTimings) = try await self.vectorHits(request, query: query, collection: collection, limit: k)
            timings.merge(vectorTimings) { $1 }
            response.hits = hits
        }
        response.timingsUs = timings
        if let cacheKey {
            self.cache.store(response, key: cacheKey, collection: request.collection, generation: generation)
        }
        return response
    }

    /// Query → embedding → nearest chunks → their text and documents, best first.
    private func vectorHits(
        _ request: Trove_V1_SearchRequest,
        query: String,
        collection: Trove_V1_Collection,
        limit: Int
    ) async throws -> ([Trove_V1_SearchHit], [String: UInt64]) {
        var timings: [String: UInt64] = [:]
        var clock = ContinuousClock.now
        func lap(_ name: String) {
            let now = ContinuousClock.now
            timings[name] = (now - clock).wholeMicroseconds
            clock = now
        }
        let embedded = try await self.downstream.embedding.embed(.with {
            $0.model = collection.embeddingModel
            $0.texts = [query]
        })
        guard let vector = embedded.embeddings.first else {
            throw RPCError(code: .internalError, message: "the embedding service returned no vector for the query")
        }
        lap("embed")
        // A filter is applied to the graph's results: ask for more so k survive it.
        let fetch = request.hasFilter ? min(10_000, limit * 4) : limit
        let results = try await self.downstream.vectorSearch.search(.with {
            $0.collection = request.collection
            $0.vector = vector.values
            $0.k = UInt32(fetch)
            $0.ef = UInt32(max(64, fetch))
            if request.hasMinSimilarity { $0.minSimilarity = request.minSimilarity }
            if request.hasFilter { $0.filter = request.filter.prefixingFields(with: PayloadField.metadata) }
        }).results.prefix(limit)
        lap("vector")
        let joined = try await self.join(chunkIDs: results.map(\.id))
        var hits: [Trove_V1_SearchHit] = []
        hits.reserveCapacity(results.count)
        for (rank, result) in results.enumerated() {
            // A vector whose chunk is gone (a delete in progress) is not an answer.
            guard let (chunk, document) = joined[result.id] else { continue }
            var hit = Self.hit(chunk: chunk, document: document)
            hit.score = Double(result.score)
            hit.vectorRank = UInt32(rank + 1)
            hit.snippet = Snippet.make(content: chunk.content, query: query, open: Self.snippetMarks.open, close: Self.snippetMarks.close)
            hits.append(hit)
        }
        lap("join")
        return (hits, timings)
    }

    private func keywordMatches(
        _ request: Trove_V1_SearchRequest,
        query: String,
        limit: Int,
        timings: inout [String: UInt64]
    ) async throws -> [Trove_V1_TextMatch] {
        let start = ContinuousClock.now
        let matches = try await self.downstream.metadata.searchChunksText(.with {
            $0.collection = request.collection
            $0.query = Self.fullTextQuery(query)
            $0.limit = UInt32(limit)
            if request.hasFilter { $0.filter = request.filter }
        }).matches
        timings["keyword"] = (ContinuousClock.now - start).wholeMicroseconds
        return matches
    }

    /// A person's query as an FTS5 expression: each word a quoted term, any of them matching
    /// (BM25 then ranks chunks with more of them, and rarer ones, first). Quoting keeps FTS5's
    /// operators and punctuation in the query from being read as syntax.
    static func fullTextQuery(_ query: String) -> String {
        var terms: [String] = []
        var seen: Set<String> = []
        var word = ""
        func flush() {
            if !word.isEmpty, seen.insert(word).inserted {
                terms.append("\"" + word + "\"")
            }
            word = ""
        }
        for scalar in query.lowercased().unicodeScalars {
            if scalar.properties.isAlphabetic || scalar.properties.numericType != nil {
                word.unicodeScalars.append(scalar)
            } else {
                flush()
            }
        }
        flush()
        return terms.isEmpty ? "\"" + query.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : terms.joined(separator: " OR ")
    }

    /// Chunks by id with their documents, fetched once per document.
    private func join(chunkIDs: [String]) async throws -> [String: (Trove_V1_Chunk, Trove_V1_Document)] {
        guard !chunkIDs.isEmpty else { return [:] }
        let chunks = try await self.downstream.metadata.getChunks(.with { $0.ids = chunkIDs }).chunks
        let documentIDs = Set(chunks.map(\.documentID))
        let documents = try await withThrowingTaskGroup(of: Trove_V1_Document?.self) { group in
            for id in documentIDs {
                group.addTask {
                    do {
                        return try await self.downstream.metadata.getDocument(.with { $0.id = id }).document
                    } catch let error as RPCError where error.code == .notFound {
                        return nil
                    }
                }
            }
            var byID: [String: Trove_V1_Document] = [:]
            for try await document in group {
                if let document { byID[document.id] = document }
            }
            return byID
        }
        var joined: [String: (Trove_V1_Chunk, Trove_V1_Document)] = [:]
        for chunk in chunks {
            if let document = documents[chunk.documentID] {
                joined[chunk.id] = (chunk, document)
            }
        }
        return joined
    }

    /// Reciprocal-rank fusion of the two rankings: each list gives a hit weight / (60 + rank).
    static func fuse(
        vector: [Trove_V1_SearchHit],
        keyword: [Trove_V1_TextMatch],
        k: Int,
        vectorWeight: Double,
        query: String
    ) -> [Trove_V1_SearchHit] {
        var fused: [String: Trove_V1_SearchHit] = [:]
        var order: [String] = []
        for (index, hit) in vector.enumerated() {
            var hit = hit
            hit.vectorRank = UInt32(index + 1)
            hit.score = vectorWeight / (Self.fusionConstant + Double(index + 1))
            fused[hit.chunkID] = hit
            order.append(hit.chunkID)
        }
        for (index, match) in keyword.enumerated() {
            let share = (1 - vectorWeight) / (Self.fusionConstant + Double(index + 1))
            if var hit = fused[match.chunk.id] {
                hit.keywordRank = UInt32(index + 1)
                hit.score += share
                hit.snippet = Self.keywordSnippet(match, query: query, vectorSnippet: hit.snippet)
                fused[match.chunk.id] = hit
            } else {
                var hit = Self.hit(chunk: match.chunk, document: match.document)
                hit.keywordRank = UInt32(index + 1)
                hit.score = share
                hit.snippet = Self.keywordSnippet(match, query: query)
                fused[match.chunk.id] = hit
                order.append(match.chunk.id)
            }
        }
        // Stable: ties keep the order of first appearance (the vector list first).
        let ranked = order.enumerated().sorted { lhs, rhs in
            let left = fused[lhs.element]!.score
            let right = fused[rhs.element]!.score
            return left != right ? left > right : lhs.offset < rhs.offset
        }
        return ranked.prefix(k).map { fused[$0.element]! }
    }

    static func hit(chunk: Trove_V1_Chunk, document: Trove_V1_Document) -> Trove_V1_SearchHit {
        .with {
            $0.documentID = chunk.documentID
            $0.chunkID = chunk.id
            $0.chunkSequence = chunk.sequence
            $0.content = chunk.content
            $0.startOffset = chunk.startOffset
            $0.endOffset = chunk.endOffset
            $0.filename = document.filename
            $0.metadata = document.metadata
        }
    }
}
