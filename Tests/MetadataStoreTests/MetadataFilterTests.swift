import Foundation
import JSONFilter
import MetadataStore
import Testing

@Suite("Metadata filters")
struct MetadataFilterTests {
    /// Five documents with varied metadata; returns a lookup from label to id.
    static func seed(_ store: SQLiteMetadataStore) async throws -> [String: UUID] {
        let rows: [(String, JSONObject)] = [
            ("a", ["author": .object(["name": .string("Ada")]), "year": .number(1843), "draft": .bool(false),
                   "published": .string("1843-09-01T00:00:00Z"), "tag": .string("math")]),
            ("b", ["author": .object(["name": .string("Babbage")]), "year": .number(1837), "draft": .bool(true),
                   "published": .string("1837-12-01T10:00:00+02:00"), "tag": .string("engine")]),
            ("c", ["author": .object(["name": .string("O'Brien \"Bob\"")]), "year": .number(2024.5), "note": .null]),
            ("d", ["year": .string("1843"), "tag": .string("math")]),
            ("e", [:]),
        ]
        var ids: [String: UUID] = [:]
        for (index, (label, metadata)) in rows.enumerated() {
            ids[label] = try await store.makeDocument(seed: index + 1, metadata: metadata).id
        }
        return ids
    }

    static func matching(_ store: SQLiteMetadataStore, _ filter: MetadataFilter, _ ids: [String: UUID]) async throws -> Set<String> {
        let page = try await store.listDocuments(DocumentQuery(collection: "docs", filter: filter), page: PageRequest(size: 100))
        let labels = Dictionary(uniqueKeysWithValues: ids.map { ($1, $0) })
        return Set(page.items.compactMap { labels[$0.id] })
    }

    @Test("each operator")
    func operators() async throws {
        try await withStore { store, _ in
            let ids = try await Self.seed(store)
            func check(_ filter: MetadataFilter, _ expected: Set<String>, sourceLocation: SourceLocation = #_sourceLocation) async throws {
                #expect(try await Self.matching(store, filter, ids) == expected, sourceLocation: sourceLocation)
            }
            // Equality is typed: the number 1843 is not the string "1843", and true is not 1.
            try await check(.equals(field: "year", value: .number(1843)), ["a"])
            try await check(.equals(field: "year", value: .string("1843")), ["d"])
            try await check(.equals(field: "author.name", value: .string("Ada")), ["a"])
            try await check(.equals(field: "draft", value: .bool(true)), ["b"])
            try await check(.equals(field: "draft", value: .number(1)), [])
            try await check(.equals(field: "note", value: .null), ["c"])
            try await check(.isIn(field: "tag", values: [.string("math"), .string("engine")]), ["a", "b", "d"])
            try await check(.isIn(field: "tag", values: []), [])
            try await check(.numberRange(field: "year", NumberRange(greaterThanOrEqual: 1843)), ["a", "c"])
            try await check(.numberRange(field: "year", NumberRange(greaterThan: 1837, lessThan: 2024.5)), ["a"])
            try await check(.numberRange(field: "year", NumberRange(lessThanOrEqual: 1837)), ["b"])
            try await check(.timeRange(field: "published", TimeRange(atOrAfter: Date(timeIntervalSince1970: -4_000_000_000))), ["a"])
            // b was published at 08:00 UTC; the offset in the stored string is honoured.
            let bPublished = ISO8601DateFormatter().date(from: "1837-12-01T08:00:00Z")!
            try await check(.timeRange(field: "published", TimeRange(atOrAfter: bPublished, atOrBefore: bPublished)), ["b"])
            try await check(.timeRange(field: "published", TimeRange(after: bPublished)), ["a"])
            try await check(.exists(field: "note", true), ["c"])
            try await check(.exists(field: "tag", false), ["c", "e"])
            try await check(.exists(field: "author.name", true), ["a", "b", "c"])
        }
    }

    @Test("and, or and not nest; not of a missing field matches")
    func combinations() async throws {
        try await withStore { store, _ in
            let ids = try await Self.seed(store)
            let math = MetadataFilter.equals(field: "tag", value: .string("math"))
            #expect(try await Self.matching(store, .allOf([math, .equals(field: "year", value: .number(1843))]), ids) == ["a"])
            #expect(try await Self.matching(store, .anyOf([math, .equals(field: "draft", value: .bool(true))]), ids) == ["a", "b", "d"])
            #expect(try await Self.matching(store, .not(math), ids) == ["b", "c", "e"])
            #expect(try await Self.matching(store, .allOf([]), ids) == ["a", "b", "c", "d", "e"])
            #expect(try await Self.matching(store, .anyOf([]), ids) == [])
            let nested = MetadataFilter.allOf([
                .anyOf([math, .exists(field: "author", true)]),
                .not(.anyOf([.equals(field: "draft", value: .bool(true)), .numberRange(field: "year", NumberRange(greaterThan: 2000))])),
            ])
            #expect(try await Self.matching(store, nested, ids) == ["a", "d"])
        }
    }

    @Test("values are bound, never spliced into SQL")
    func valuesAreBound() async throws {
        try await withStore { store, _ in
            let ids = try await Self.seed(store)
            #expect(try await Self.matching(store, .equals(field: "author.name", value: .string("O'Brien \"Bob\"")), ids) == ["c"])
            let injection = "x' OR 1=1 --"
            #expect(try await Self.matching(store, .equals(field: "tag", value: .string(injection)), ids) == [])
            #expect(try await Self.matching(store, .exists(field: "it's", false), ids).count == 5)

            let fragment = try MetadataFilter.allOf([
                .equals(field: "tag", value: .string(injection)), .exists(field: "a'b", true),
            ]).sql(column: "d.metadata")
            #expect(!fragment.sql.contains("OR 1=1"))
            #expect(!fragment.sql.contains("'x"))
            #expect(!fragment.sql.contains("a'b"))
            #expect(fragment.bindings.contains(.text(injection)))
            #expect(fragment.bindings.contains(.text("$.\"a'b\"")))
            #expect(fragment.sql.filter { $0 == "?" }.count == fragment.bindings.count)
        }
    }

    @Test("filters deeper than 32 levels are refused with a clear error")
    func depthLimit() async throws {
        func nested(_ depth: Int) -> MetadataFilter {
            var filter = MetadataFilter.exists(field: "a", true)
            for level in 1..<depth {
                filter = level % 2 == 0 ? .not(filter) : .allOf([filter])
            }
            return filter
        }
        #expect(throws: Never.self) { _ = try nested(32).sql(column: "m") }
        #expect {
            _ = try nested(33).sql(column: "m")
        } throws: { error in
            let error = error as? MetadataStoreError
            return error?.code == .invalidArgument && error?.field == "filter" && error?.message.contains("32") == true
        }
        try await withStore { store, _ in
            _ = try await store.makeDocument()
            await expectStoreError(.invalidArgument, field: "filter") {
                _ = try await store.listDocuments(DocumentQuery(filter: nested(1000)), page: PageRequest())
            }
            // 15 nots around "a exists": the document, which has no "a", matches.
            #expect(try await store.listDocuments(DocumentQuery(filter: nested(32)), page: PageRequest()).items.count == 1)
            #expect(try await store.listDocuments(DocumentQuery(filter: .not(nested(31))), page: PageRequest()).items.isEmpty)
        }
    }

    @Test("malformed conditions are refused")
    func malformed() {
        for filter: MetadataFilter in [
            .equals(field: "", value: .string("x")),
            .equals(field: "a..b", value: .string("x")),
            .equals(field: "a\"b", value: .string("x")),
            .equals(field: "a", value: .array([.number(1)])),
            .numberRange(field: "a", NumberRange(greaterThan: .infinity)),
        ] {
            #expect {
                _ = try filter.sql(column: "m")
            } throws: { error in
                (error as? MetadataStoreError)?.code == .invalidArgument && (error as? MetadataStoreError)?.field == "filter"
            }
        }
    }
}
