import Foundation
import GRPCCore
import SwiftProtobuf
import TroveContracts

extension IngestionService {
    /// The four services ingestion drives, reached only through their gRPC clients.
    public struct Downstream: Sendable {
        public var objectStorage: any Trove_V1_ObjectStorage.ClientProtocol
        public var metadata: any Trove_V1_Metadata.ClientProtocol
        public var embedding: any Trove_V1_Embedding.ClientProtocol
        public var vectorSearch: any Trove_V1_VectorSearch.ClientProtocol

        public init(
            objectStorage: any Trove_V1_ObjectStorage.ClientProtocol,
            metadata: any Trove_V1_Metadata.ClientProtocol,
            embedding: any Trove_V1_Embedding.ClientProtocol,
            vectorSearch: any Trove_V1_VectorSearch.ClientProtocol
        ) {
            self.objectStorage = objectStorage
            self.metadata = metadata
            self.embedding = embedding
            self.vectorSearch = vectorSearch
        }
    }
}

/// Bytes in a PutObject or GetObject message: below the default 8 MiB message limit with room to spare.
let objectPartBytes = 1 << 20

extension IngestionService.Downstream {
    /// Stores `bytes` as one object; object storage checks them against `sha256`.
    func putObject(_ location: Trove_V1_ObjectLocation, bytes: [UInt8], contentType: String, sha256: String) async throws -> Trove_V1_ObjectInfo {
        try await self.objectStorage.putObject(
            metadata: [:],
            options: .defaults,
            requestProducer: { writer in
                try await writer.write(.with {
                    $0.header = .with {
                        $0.bucket = location.bucket
                        $0.key = location.key
                        $0.contentType = contentType
                        $0.expectedSha256 = sha256
                    }
                })
                var offset = 0
                while offset < bytes.count {
                    let end = min(bytes.count, offset + objectPartBytes)
                    try await writer.write(.with { $0.chunk = Data(bytes[offset..<end]) })
                    offset = end
                }
            },
            onResponse: { try $0.message.object }
        )
    }

    /// Reads a whole object (at most `limit` bytes: a larger one is RESOURCE_EXHAUSTED).
    func getObject(_ location: Trove_V1_ObjectLocation, limit: Int) async throws -> (info: Trove_V1_ObjectInfo, bytes: [UInt8]) {
        try await self.objectStorage.getObject(
            .with {
                $0.bucket = location.bucket
                $0.key = location.key
            },
            metadata: [:],
            options: .defaults
        ) { response in
            var info = Trove_V1_ObjectInfo()
            var bytes: [UInt8] = []
            for try await message in response.messages {
                switch message.part {
                case .info(let value):
                    info = value
                    if value.size > UInt64(limit) {
                        throw RPCError(
                            code: .resourceExhausted,
                            message: "object '\(location.key)' is \(value.size) bytes, more than ingestion.max_document_bytes (\(limit))"
                        )
                    }
                    bytes.reserveCapacity(Int(value.size))
                case .chunk(let chunk):
                    bytes.append(contentsOf: chunk)
                case nil:
                    break
                }
            }
            return (info, bytes)
        }
    }

    /// Every document of a collection with a status (unspecified: every status).
    func allDocuments(collection: String = "", status: Trove_V1_DocumentStatus = .unspecified) async throws -> [Trove_V1_Document] {
        try await allPages { token in
            let page = try await self.metadata.listDocuments(.with {
                $0.collection = collection
                $0.status = status
                $0.page = .with {
                    $0.pageSize = 1000
                    $0.pageToken = token
                }
            })
            return (page.documents, page.nextPageToken)
        }
    }

    /// Every collection in the metadata service.
    func allCollections() async throws -> [Trove_V1_Collection] {
        try await allPages { token in
            let page = try await self.metadata.listCollections(.with { $0.page = .with { $0.pageToken = token } })
            return (page.collections, page.nextPageToken)
        }
    }

    /// Removes a document's vectors from its collection; a missing collection has none.
    func deleteVectors(ofDocument documentID: String, collection: String) async throws -> UInt64 {
        do {
            return try await self.vectorSearch.delete(.with {
                $0.collection = collection
                $0.filter = .equals(field: PayloadField.documentID, value: documentID)
            }).deleted
        } catch let error as RPCError where error.code == .notFound {
            return 0
        }
    }
}

/// The items of every page of a list call, following its page tokens from the first page.
func allPages<Item>(_ fetch: (_ token: String) async throws -> (items: [Item], next: String)) async throws -> [Item] {
    var items: [Item] = []
    var token = ""
    repeat {
        let page = try await fetch(token)
        items += page.items
        token = page.next
    } while !token.isEmpty
    return items
}

/// Fields of the payload every chunk's vector carries.
enum PayloadField {
    static let documentID = "document_id"
    static let chunk = "chunk"
    static let collection = "collection"
    static let filename = "filename"
    /// The document's metadata sits under this key, so its fields cannot collide with the others.
    static let metadata = "metadata"
}

extension Trove_V1_Filter {
    /// `field == value` for a string value.
    static func equals(field: String, value: String) -> Trove_V1_Filter {
        .with {
            $0.condition = .with {
                $0.field = field
                $0.equals = .with { $0.stringValue = value }
            }
        }
    }

    /// The same filter with every field path moved under `prefix` (document metadata filters
    /// applied to vector payloads, where the metadata sits under `metadata`).
    func prefixingFields(with prefix: String) -> Trove_V1_Filter {
        var filter = self
        switch self.expression {
        case .condition(let condition):
            var condition = condition
            condition.field = prefix + "." + condition.field
            filter.condition = condition
        case .allOf(let list):
            filter.allOf = .with { $0.filters = list.filters.map { $0.prefixingFields(with: prefix) } }
        case .anyOf(let list):
            filter.anyOf = .with { $0.filters = list.filters.map { $0.prefixingFields(with: prefix) } }
        case .negate(let inner):
            filter.negate = inner.prefixingFields(with: prefix)
        case nil:
            break
        }
        return filter
    }
}
