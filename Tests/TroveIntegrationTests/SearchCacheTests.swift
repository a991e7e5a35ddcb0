import Testing
import TroveContracts

@testable import TroveIngestion

@Suite("Search cache")
struct SearchCacheTests {
    static func request(_ query: String, collection: String) -> (key: [UInt8], response: Trove_V1_SearchResponse) {
        let request = Trove_V1_SearchRequest.with {
            $0.collection = collection
            $0.query = query
        }
        let response = Trove_V1_SearchResponse.with { $0.hits = [.with { $0.documentID = query }] }
        return (Array(SearchCache.key(for: request)!), response)
    }

    @Test("a change to a collection makes its entries misses, and a full cache drops those before any live entry")
    func staleEntriesGoFirst() {
        let cache = SearchCache(timeToLive: .seconds(300), capacity: 4)
        func store(_ query: String, _ collection: String) {
            let (key, response) = Self.request(query, collection: collection)
            cache.store(response, key: .init(key), collection: collection, generation: cache.generation(of: collection))
        }
        func lookup(_ query: String, _ collection: String) -> String? {
            cache.lookup(.init(Self.request(query, collection: collection).key), collection: collection)?.hits.first?.documentID
        }
        store("a1", "a")
        store("a2", "a")
        store("b1", "b")
        store("b2", "b")
        #expect(lookup("a1", "a") == "a1")
        #expect(cache.count == 4)

        // Collection a changes: its two entries are stale, and the next store into the full
        // cache drops them rather than b's, even though b's were used less recently.
        cache.invalidate(collection: "a")
        store("c1", "c")
        #expect(cache.count == 3)
        #expect(lookup("a1", "a") == nil)
        #expect(lookup("b1", "b") == "b1")
        #expect(lookup("b2", "b") == "b2")
        #expect(lookup("c1", "c") == "c1")

        // Full again with live entries only: the least recently used one goes.
        store("c2", "c")
        store("c3", "c")
        #expect(cache.count == 4)
        #expect(lookup("b1", "b") == nil)
        #expect(lookup("c3", "c") == "c3")
    }
}
