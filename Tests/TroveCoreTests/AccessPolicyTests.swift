import Foundation
import GRPCCore
import Testing
import TroveContracts
@testable import TroveCore

@Suite("Access policy")
struct AccessPolicyTests {
    static var services: [(name: String, methods: [MethodDescriptor])] {
        [
            ("trove.v1.Metadata", Trove_V1_Metadata.Method.descriptors),
            ("trove.v1.ObjectStorage", Trove_V1_ObjectStorage.Method.descriptors),
            ("trove.v1.Embedding", Trove_V1_Embedding.Method.descriptors),
            ("trove.v1.VectorSearch", Trove_V1_VectorSearch.Method.descriptors),
            ("trove.v1.Ingestion", Trove_V1_Ingestion.Method.descriptors),
            ("grpc.health.v1.Health", Grpc_Health_V1_Health.Method.descriptors),
            ("grpc.reflection.v1.ServerReflection", Grpc_Reflection_V1_ServerReflection.Method.descriptors),
            ("grpc.reflection.v1alpha.ServerReflection", Grpc_Reflection_V1alpha_ServerReflection.Method.descriptors),
        ]
    }

    static var allMethods: [MethodDescriptor] {
        services.flatMap { $0.methods }
    }

    func targets(_ method: MethodDescriptor, _ request: Any) throws -> RequestTargets {
        try #require(AccessPolicy.trove[method]).targets(request)
    }

    @Test("Every method of every service has a rule")
    func everyMethodHasARule() {
        for service in Self.services {
            #expect(!service.methods.isEmpty, "\(service.name) lists no methods")
            for method in service.methods {
                #expect(method.service.fullyQualifiedService == service.name)
                #expect(AccessPolicy.trove[method] != nil, "no rule for \(method)")
            }
        }
    }

    @Test("There is one rule per method and no rule for anything else")
    func noStrayRules() {
        let methods = Self.allMethods
        #expect(Set(methods).count == methods.count)
        #expect(AccessPolicy.trove.rules.count == methods.count)
        #expect(Set(AccessPolicy.trove.rules.keys) == Set(methods))
    }

    @Test("Only the health methods are open")
    func onlyHealthIsOpen() {
        for (method, rule) in AccessPolicy.trove.rules {
            let isHealth = method.service == Grpc_Health_V1_Health.descriptor
            #expect((rule.permission == .open) == isHealth, "\(method) is \(rule.permission)")
        }
    }

    @Test(
        "Permissions of chosen methods",
        arguments: [
            (Trove_V1_Metadata.Method.CreateApiKey.descriptor, Permission.admin),
            (Trove_V1_Metadata.Method.ListApiKeys.descriptor, .admin),
            (Trove_V1_Metadata.Method.AuthenticateApiKey.descriptor, .admin),
            (Trove_V1_Metadata.Method.ListAuditEvents.descriptor, .admin),
            (Trove_V1_Metadata.Method.ApplyRetention.descriptor, .admin),
            (Trove_V1_Metadata.Method.DeleteCollection.descriptor, .admin),
            (Trove_V1_Metadata.Method.GetCollection.descriptor, .read),
            (Trove_V1_Metadata.Method.GetDocument.descriptor, .read),
            (Trove_V1_Metadata.Method.UpdateDocumentStatus.descriptor, .write),
            (Trove_V1_ObjectStorage.Method.PresignObject.descriptor, .write),
            (Trove_V1_ObjectStorage.Method.CreateBucket.descriptor, .admin),
            (Trove_V1_ObjectStorage.Method.GetObject.descriptor, .read),
            (Trove_V1_Embedding.Method.EmbedStream.descriptor, .read),
            (Trove_V1_VectorSearch.Method.DropCollection.descriptor, .admin),
            (Trove_V1_VectorSearch.Method.Compact.descriptor, .write),
            (Trove_V1_VectorSearch.Method.DescribeCollection.descriptor, .read),
            (Trove_V1_Ingestion.Method.Search.descriptor, .read),
            (Trove_V1_Ingestion.Method.IngestDocument.descriptor, .write),
            (Trove_V1_Ingestion.Method.DeleteCollection.descriptor, .admin),
            (Grpc_Health_V1_Health.Method.Check.descriptor, .open),
        ]
    )
    func permission(method: MethodDescriptor, permission: Permission) {
        #expect(AccessPolicy.trove[method]?.permission == permission, "\(method)")
    }

    @Test("A request by document id names no collection")
    func documentByID() throws {
        var request = Trove_V1_GetDocumentRequest()
        request.id = "d1"
        let targets = try self.targets(Trove_V1_Metadata.Method.GetDocument.descriptor, request)
        #expect(targets.collections == nil)
        #expect(targets.ids == ["d1"])
    }

    @Test("A search names its collection")
    func searchNamesItsCollection() throws {
        var request = Trove_V1_SearchRequest()
        request.collection = "a"
        request.query = "q"
        let targets = try self.targets(Trove_V1_Ingestion.Method.Search.descriptor, request)
        #expect(targets.collections == ["a"])
    }

    @Test("A list without a collection names none, so a limited key cannot list across all")
    func listWithoutCollection() throws {
        let method = Trove_V1_Metadata.Method.ListDocuments.descriptor
        var request = Trove_V1_ListDocumentsRequest()
        #expect(try self.targets(method, request).collections == nil)
        request.collection = "b"
        #expect(try self.targets(method, request).collections == ["b"])
    }

    @Test("Client streams are judged by their first message, the header")
    func clientStreamHeaders() throws {
        let ingest = Trove_V1_Ingestion.Method.IngestDocument.descriptor
        var header = Trove_V1_IngestHeader()
        header.collection = "c"
        header.filename = "f.txt"
        var request = Trove_V1_IngestDocumentRequest()
        request.header = header
        #expect(try self.targets(ingest, request) == .collection("c", ids: ["f.txt"]))

        var location = Trove_V1_ObjectLocation()
        location.bucket = "b"
        location.key = "k"
        header.filename = ""
        header.objectReference = location
        request.header = header
        #expect(try self.targets(ingest, request) == .collection("c", ids: ["b/k"]))

        request.chunk = Data([1])
        #expect(try self.targets(ingest, request).collections == nil)

        var objectHeader = Trove_V1_PutObjectHeader()
        objectHeader.bucket = "b"
        objectHeader.key = "k"
        var put = Trove_V1_PutObjectRequest()
        put.header = objectHeader
        #expect(try self.targets(Trove_V1_ObjectStorage.Method.PutObject.descriptor, put) == .ids(["b/k"]))
    }

    @Test("A search batch names every collection it searches")
    func searchBatch() throws {
        let method = Trove_V1_VectorSearch.Method.SearchBatch.descriptor
        var request = Trove_V1_SearchVectorsBatchRequest()
        #expect(try self.targets(method, request).collections == nil)
        request.searches = ["b", "a", "b"].map { name in
            var search = Trove_V1_SearchVectorsRequest()
            search.collection = name
            return search
        }
        #expect(try self.targets(method, request).collections == ["a", "b"])
    }

    @Test("A key for every collection names none")
    func apiKeyCollections() throws {
        let method = Trove_V1_Metadata.Method.CreateApiKey.descriptor
        var request = Trove_V1_CreateApiKeyRequest()
        request.name = "k"
        #expect(try self.targets(method, request).collections == nil)
        request.collections = ["a", "b"]
        #expect(try self.targets(method, request).collections == ["a", "b"])
    }

    @Test("Authenticating a key never names its secret")
    func authenticateHidesTheSecret() throws {
        var request = Trove_V1_AuthenticateApiKeyRequest()
        request.secret = "s3cret"
        let targets = try self.targets(Trove_V1_Metadata.Method.AuthenticateApiKey.descriptor, request)
        #expect(!targets.ids.contains("s3cret"))
    }

    @Test("Chunk ids are capped at 16")
    func chunkIDsAreCapped() throws {
        var request = Trove_V1_GetChunksRequest()
        request.ids = (0..<40).map { "c\($0)" }
        #expect(try self.targets(Trove_V1_Metadata.Method.GetChunks.descriptor, request).ids.count == 16)
    }
}
