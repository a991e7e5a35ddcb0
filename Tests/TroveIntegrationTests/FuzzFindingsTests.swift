import Foundation
import GRPCCore
import SwiftProtobuf
import Testing
import TroveContracts
import TroveTestSupport

/// What the RPC fuzzer (Tests/Reliability/fuzz_rpcs.py) found, kept fixed: out-of-range
/// timestamps crashed `serve all` (a trap in SwiftProtobuf's `Timestamp.date` and in Double to
/// Int64 conversions), and messages quoting a huge name did not fit a client's metadata limit.
@Suite("RPC fuzzer findings")
struct FuzzFindingsTests {
    static let farPast = Google_Protobuf_Timestamp.with { $0.seconds = Int64.min }
    static let farFuture = Google_Protobuf_Timestamp.with { $0.seconds = Int64.max }
    static let year2286 = Google_Protobuf_Timestamp.with { $0.seconds = 10_000_000_000_000 }

    static func timeFilter(_ bound: Google_Protobuf_Timestamp) -> Trove_V1_Filter {
        .with { $0.condition = .with { $0.field = "t"; $0.timeRange = .with { $0.gt = bound } } }
    }

    @Test("Timestamps outside years 1 to 9999 are INVALID_ARGUMENT naming the field, and the server lives on")
    func outOfRangeTimestamps() async throws {
        let trove = try await TroveProcess.start(environment: ["TROVE_EMBEDDING_PROVIDER": "hashing"])
        defer { Task { await trove.stopAndRemove() } }
        try await withClient(trove) { client in
            let metadata = Trove_V1_Metadata.Client(wrapping: client)
            let vectors = Trove_V1_VectorSearch.Client(wrapping: client)
            let ingestion = Trove_V1_Ingestion.Client(wrapping: client)
            _ = try await ingestion.createCollection(.with { $0.name = "times" })
            for bound in [Self.farPast, Self.farFuture, Self.year2286] {
                await expectRPCError(.invalidArgument, field: "since") {
                    _ = try await metadata.listAuditEvents(.with { $0.since = bound })
                }
                await expectRPCError(.invalidArgument, field: "until") {
                    _ = try await metadata.listAuditEvents(.with { $0.until = bound })
                }
                await expectRPCError(.invalidArgument, field: "created_before") {
                    _ = try await metadata.listDocuments(.with { $0.collection = "times"; $0.createdBefore = bound })
                }
                await expectRPCError(.invalidArgument, field: "filter") {
                    _ = try await metadata.listDocuments(.with { $0.collection = "times"; $0.filter = Self.timeFilter(bound) })
                }
                await expectRPCError(.invalidArgument, field: "events[0].time") {
                    _ = try await metadata.recordAuditEvents(.with {
                        $0.events = [.with { $0.time = bound; $0.service = "s"; $0.method = "m"; $0.outcome = "ok" }]
                    })
                }
                await expectRPCError(.invalidArgument, field: "filter") {
                    _ = try await vectors.search(.with { $0.collection = "times"; $0.vector = Array(repeating: 0.1, count: 384); $0.filter = Self.timeFilter(bound) })
                }
                await expectRPCError(.invalidArgument) {
                    _ = try await ingestion.search(.with { $0.collection = "times"; $0.query = "when"; $0.filter = Self.timeFilter(bound) })
                }
            }
            // Nanos outside 0..<1e9 too.
            await expectRPCError(.invalidArgument, field: "since") {
                _ = try await metadata.listAuditEvents(.with { $0.since = .with { $0.seconds = 0; $0.nanos = -1 } })
            }
            // The last valid instant is accepted.
            _ = try await metadata.listAuditEvents(.with { $0.since = .with { $0.seconds = 253_402_300_799; $0.nanos = 999_999_999 } })
            let health = try await Grpc_Health_V1_Health.Client(wrapping: client).check(.init())
            #expect(health.status == .serving)
        }
    }

    @Test("An error quoting a 100 KB name is cut to a message a client can read")
    func longNamesInErrors() async throws {
        let trove = try await TroveProcess.start(environment: ["TROVE_EMBEDDING_PROVIDER": "hashing"])
        defer { Task { await trove.stopAndRemove() } }
        try await withClient(trove) { client in
            let name = String(repeating: "a", count: 100_000)
            do {
                _ = try await Trove_V1_VectorSearch.Client(wrapping: client).describeCollection(.with { $0.name = name })
                Issue.record("an unknown collection should be NOT_FOUND")
            } catch let error as RPCError {
                #expect(error.code == .notFound, "\(error)")
                #expect(error.message.utf8.count <= 1024)
                #expect(error.message.contains("bytes cut"))
            }
        }
    }

    @Test("A request the protobuf decoder refuses is INVALID_ARGUMENT saying why: bad UTF-8, nesting past 100, cut short")
    func undecodableRequests() async throws {
        let trove = try await TroveProcess.start(environment: ["TROVE_EMBEDDING_PROVIDER": "hashing"])
        defer { Task { await trove.stopAndRemove() } }
        try await withClient(trove) { client in
            let describe = Trove_V1_VectorSearch.Method.DescribeCollection.descriptor
            // Field 1 (name), a string of two bytes that are not UTF-8.
            let badUTF8 = await RawCall.error(of: describe, sending: [0x0A, 0x02, 0xFF, 0xFE], client: client, timeout: .seconds(30))
            #expect(badUTF8?.code == .invalidArgument)
            #expect(badUTF8?.message.contains("not valid UTF-8") == true, "\(String(describing: badUTF8))")
            // Field 1 announces 10 bytes; 2 follow.
            let cut = await RawCall.error(of: describe, sending: [0x0A, 0x0A, 0x61, 0x62], client: client, timeout: .seconds(30))
            #expect(cut?.code == .invalidArgument)
            #expect(cut?.message.contains("end in the middle of a field") == true, "\(String(describing: cut))")

            // A filter of 150 nested nots: the client encodes it, the server refuses to decode it.
            var filter = Trove_V1_Filter.with { $0.condition = .with { $0.field = "n"; $0.exists = true } }
            for _ in 0..<150 { filter = .with { [filter] in $0.negate = filter } }
            let search = Trove_V1_SearchRequest.with {
                $0.collection = "any"
                $0.query = "deep"
                $0.filter = filter
            }
            let deep = await RawCall.error(of: Trove_V1_Ingestion.Method.Search.descriptor, sending: try search.serializedBytes(), client: client, timeout: .seconds(30))
            #expect(deep?.code == .invalidArgument)
            #expect(deep?.message.contains("nested more than 100 deep") == true, "\(String(describing: deep))")
            let health = try await Grpc_Health_V1_Health.Client(wrapping: client).check(.init())
            #expect(health.status == .serving)
        }
    }
}
