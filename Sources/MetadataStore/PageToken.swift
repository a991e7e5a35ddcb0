import Foundation

/// Keyset page tokens: the sort key of the last row of a page, so the next page starts after it
/// with an indexed range scan (no OFFSET), and rows added or deleted meanwhile neither repeat nor
/// shift other rows. Opaque to clients: base64url of a JSON array [kind, key…].
package enum PageToken {
    package static let defaultPageSize = 100
    package static let maximumPageSize = 1000

    /// The page size to use for `request`.
    package static func size(_ request: PageRequest) throws(MetadataStoreError) -> Int {
        guard request.size >= 0 else {
            throw MetadataStoreError.invalid("page_size", "must not be negative")
        }
        return request.size == 0 ? defaultPageSize : min(request.size, maximumPageSize)
    }

    package static func encode(kind: String, _ key: [String]) -> String {
        let data = (try? JSONEncoder().encode([kind] + key)) ?? Data()
        return data.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// The key in `token`, nil for no token; INVALID_ARGUMENT (`page_token`) for a token that
    /// is malformed or was issued by a different list call.
    package static func decode(_ token: String?, kind: String, count: Int) throws(MetadataStoreError) -> [String]? {
        guard let token, !token.isEmpty else { return nil }
        var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64),
            let parts = try? JSONDecoder().decode([String].self, from: data),
            parts.count == count + 1, parts[0] == kind
        else {
            throw MetadataStoreError.invalid("page_token", "is not a token from this list call")
        }
        return Array(parts.dropFirst())
    }

    /// Builds a page from `rows` fetched with LIMIT size + 1: the extra row only says there is more.
    package static func page<Item: Sendable>(
        _ rows: [Item],
        size: Int,
        kind: String,
        key: (Item) -> [String]
    ) -> Page<Item> {
        guard rows.count > size else { return Page(items: rows, nextPageToken: nil) }
        let items = Array(rows.prefix(size))
        return Page(items: items, nextPageToken: encode(kind: kind, key(items[items.count - 1])))
    }
}
