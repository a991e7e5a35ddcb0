import Foundation
import GRPCCore
import Glibc
import SwiftProtobuf
import Testing
import TroveContracts

/// Prometheus metrics on their own port and `trove config check`.
@Suite("Operations", .serialized)
struct OperationsTests {
    /// `curl -s URL`: the body and the HTTP status.
    static func curl(_ url: String) throws -> (status: Int, body: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["curl", "-s", "-w", "\n%{http_code}", url]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        var lines = String(decoding: data, as: UTF8.self).components(separatedBy: "\n")
        let status = Int(lines.popLast() ?? "") ?? 0
        return (status, lines.joined(separator: "\n"))
    }

    /// The value of the sample `name{labels}` in Prometheus text, nil when absent.
    static func sample(_ name: String, _ labels: String, in text: String) -> Double? {
        let prefix = labels.isEmpty ? name + " " : "\(name){\(labels)} "
        return text.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Double($0.dropFirst(prefix.count)) }
    }

    @Test("curl on the metrics port: Prometheus text whose request, ingestion, cache, vector and storage metrics move with traffic")
    func metricsMoveWithTraffic() async throws {
        let trove = try await TroveProcess.start(environment: ["TROVE_METRICS_LISTEN": "127.0.0.1:0", "TROVE_EMBEDDING_PROVIDER": "hashing"])
        defer { Task { await trove.stopAndRemove() } }
        let metrics = try #require(trove.metricsAddress, "the process names its metrics address")

        let before = try Self.curl("http://\(metrics)/metrics")
        #expect(before.status == 200)
        #expect(Self.sample("trove_requests_total", #"service="trove.v1.Ingestion",method="Search",code="ok""#, in: before.body) == nil)
        #expect(try Self.curl("http://\(metrics)/elsewhere").status == 404)

        try await withClient(trove) { client in
            let ingestion = Trove_V1_Ingestion.Client(wrapping: client)
            _ = try await ingestion.createCollection(.with { $0.name = "watched" })
            let text = Data("Honey bees keep the hive near thirty-five degrees by clustering and fanning their wings.".utf8)
            let accepted = try await ingestion.ingest(collection: "watched", filename: "bees.txt", text)
            #expect(try await ingestion.waitUntilSettled(accepted.documentID).status == .completed)
            for _ in 0..<2 {
                _ = try await ingestion.search(.with { $0.collection = "watched"; $0.query = "hive temperature" })
            }
            let missing = await #expect(throws: RPCError.self) {
                _ = try await ingestion.search(.with { $0.collection = "nowhere"; $0.query = "x" })
            }
            #expect(missing?.code == .notFound)
        }

        // Gauges are read from the services every 10 seconds: one reading may have come between
        // the collection's creation and the document's completion (zeros), so wait for a later one.
        let deadline = ContinuousClock.now + .seconds(30)
        var text = ""
        while ContinuousClock.now < deadline {
            text = try Self.curl("http://\(metrics)/metrics").body
            if (Self.sample("trove_vectors", #"collection="watched""#, in: text) ?? 0) > 0
                && (Self.sample("trove_documents", #"collection="watched""#, in: text) ?? 0) > 0
            {
                break
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        #expect(text.contains("# TYPE trove_requests_total counter"))
        #expect(text.contains("# TYPE trove_request_duration_seconds histogram"))
        #expect(Self.sample("trove_requests_total", #"service="trove.v1.Ingestion",method="Search",code="ok""#, in: text) == 2)
        #expect(Self.sample("trove_requests_total", #"service="trove.v1.Ingestion",method="Search",code="notFound""#, in: text) == 1)
        #expect(Self.sample("trove_request_duration_seconds_count", #"service="trove.v1.Ingestion",method="Search",code="ok""#, in: text) == 2)
        #expect(Self.sample("trove_documents_ingested_total", #"outcome="completed""#, in: text) == 1)
        #expect(Self.sample("trove_search_cache_lookups_total", #"result="hit""#, in: text) == 1)
        // The search of a missing collection missed the cache too.
        #expect(Self.sample("trove_search_cache_lookups_total", #"result="miss""#, in: text) == 2)
        let vectors = try #require(Self.sample("trove_vectors", #"collection="watched""#, in: text))
        #expect(vectors >= 1)
        #expect(Self.sample("trove_chunks", #"collection="watched""#, in: text) == vectors, "one vector per chunk")
        #expect(Self.sample("trove_documents", #"collection="watched""#, in: text) == 1)
        #expect((Self.sample("trove_index_memory_bytes", #"collection="watched""#, in: text) ?? 0) > 0)
        #expect((Self.sample("trove_object_bytes_written_total", #"backend="filesystem""#, in: text) ?? 0) > 0)
    }

    @Test("A client's deadline and request id reach every service a search calls, in their one-line request logs")
    func deadlineAndRequestIDPropagate() async throws {
        let services = try await SeparateServices.start("scope")
        defer { services.stop() }
        let (others, ingestionProcess) = (services.others, services.ingestion)

        let requestID = "trace-" + UUID().uuidString.prefix(8)
        let (echoed, firstHit, documentID): (String?, String?, String) = try await withClient(ingestionProcess) { client in
            let ingestion = Trove_V1_Ingestion.Client(wrapping: client)
            _ = try await ingestion.createCollection(.with { $0.name = "scoped" })
            let accepted = try await ingestion.ingest(collection: "scoped", filename: "tea.txt", Data("Green tea is steeped at 80 degrees for two minutes.".utf8))
            _ = try await ingestion.waitUntilSettled(accepted.documentID)
            var metadata = Metadata()
            metadata.addString(requestID, forKey: "x-request-id")
            let request = ClientRequest<Trove_V1_SearchRequest>(
                message: .with { $0.collection = "scoped"; $0.query = "green tea"; $0.noCache = true },
                metadata: metadata
            )
            let (echoed, hit): (String?, String?) = try await ingestion.search(request: request, options: .deadline(.seconds(5))) { response in
                (response.metadata[stringValues: "x-request-id"].first(where: { _ in true }), try response.message.hits.first?.documentID)
            }
            return (echoed, hit, accepted.documentID)
        }
        #expect(firstHit == documentID)
        #expect(echoed == requestID, "the request id comes back in the response metadata")

        // The search embedded the query, searched the vectors and joined chunks from metadata: each
        // of those services logged the call under the client's request id, with at most 5 s left.
        for (process, method) in [(others[2], "trove.v1.Embedding/Embed"), (others[3], "trove.v1.VectorSearch/Search"), (others[0], "trove.v1.Metadata/GetChunks")] {
            let log = try String(contentsOfFile: process.logPath, encoding: .utf8)
            let line = log.split(separator: "\n").first { $0.contains("request_id=\(requestID)") && $0.contains("method=\(method)") }
            let found = try #require(line, "\(method) was logged with the request id")
            let timeout = found.split(separator: " ").first { $0.hasPrefix("timeout_ms=") }.flatMap { Int($0.dropFirst("timeout_ms=".count)) }
            #expect(timeout.map { $0 > 0 && $0 <= 5000 } == true, "\(found)")
        }
        // Background processing runs under no caller's deadline.
        let metadataLog = try String(contentsOfFile: others[0].logPath, encoding: .utf8)
        #expect(metadataLog.split(separator: "\n").contains { $0.contains("method=trove.v1.Metadata/PutChunks") && $0.contains("timeout_ms=none") })
    }

    @Test("Past max_concurrent_calls a listener answers RESOURCE_EXHAUSTED, health still passes, and it recovers")
    func concurrencyLimit() async throws {
        let trove = try await TroveProcess.start(environment: ["TROVE_MAX_CONCURRENT_CALLS": "2", "TROVE_EMBEDDING_PROVIDER": "hashing"])
        defer { Task { await trove.stopAndRemove() } }
        try await withClient(trove) { client in
            let ingestion = Trove_V1_Ingestion.Client(wrapping: client)
            try await withThrowingTaskGroup(of: Void.self) { group in
                // Two watchers hold both places until cancelled.
                let started = AsyncStream.makeStream(of: Void.self)
                for _ in 0..<2 {
                    group.addTask {
                        try await ingestion.watchIngestion(.init()) { response in
                            started.continuation.yield()
                            for try await _ in response.messages {}
                        }
                    }
                }
                var iterator = started.stream.makeAsyncIterator()
                _ = await iterator.next()
                _ = await iterator.next()
                let refused = await #expect(throws: RPCError.self) { _ = try await ingestion.listCollections(.init()) }
                #expect(refused?.code == .resourceExhausted)
                #expect(refused?.message.contains("max_concurrent_calls") == true)
                let health = try await Grpc_Health_V1_Health.Client(wrapping: client).check(.init())
                #expect(health.status == .serving)
                group.cancelAll()
                _ = try? await group.waitForAll()
            }
            // The watchers' places are free again.
            var answered = false
            for _ in 0..<50 where !answered {
                answered = (try? await ingestion.listCollections(.init())) != nil
                if !answered { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(answered)
        }
    }

    @Test("Reflection (v1): the listener's services, the file defining a symbol with its imports, NOT_FOUND for an unknown one")
    func reflection() async throws {
        let trove = try await TroveProcess.start(environment: ["TROVE_EMBEDDING_PROVIDER": "hashing"])
        defer { Task { await trove.stopAndRemove() } }
        let answers = try await withClient(trove) { client in
            try await Grpc_Reflection_V1_ServerReflection.Client(wrapping: client).serverReflectionInfo(
                requestProducer: { writer in
                    try await writer.write(.with { $0.listServices = "" })
                    try await writer.write(.with { $0.fileContainingSymbol = "trove.v1.Ingestion.Search" })
                    try await writer.write(.with { $0.fileByFilename = "trove/v1/metadata.proto" })
                    try await writer.write(.with { $0.fileContainingSymbol = "trove.v1.Nothing" })
                },
                onResponse: { response in
                    var answers: [Grpc_Reflection_V1_ServerReflectionResponse] = []
                    for try await message in response.messages { answers.append(message) }
                    return answers
                }
            )
        }
        try #require(answers.count == 4)
        let services = Set(answers[0].listServicesResponse.service.map(\.name))
        #expect(
            services == [
                "trove.v1.Ingestion", "trove.v1.Embedding", "trove.v1.VectorSearch", "trove.v1.Metadata", "trove.v1.ObjectStorage",
                "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection",
            ]
        )
        let files = try answers[1].fileDescriptorResponse.fileDescriptorProto.map { try Google_Protobuf_FileDescriptorProto(serializedBytes: $0) }
        #expect(files.first?.name == "trove/v1/ingestion.proto")
        #expect(files.first?.service.first?.method.contains { $0.name == "Search" } == true)
        // Every import is there, once, so a client can build the whole pool from this answer.
        let names = Set(files.map(\.name))
        #expect(names.count == files.count)
        for file in files { #expect(Set(file.dependency).isSubset(of: names), "\(file.name)") }
        #expect(names.contains("trove/v1/common.proto"))
        let metadata = try answers[2].fileDescriptorResponse.fileDescriptorProto.first.map { try Google_Protobuf_FileDescriptorProto(serializedBytes: $0) }
        #expect(metadata?.service.first?.name == "Metadata")
        #expect(answers[3].errorResponse.errorCode == Int32(RPCError.Code.notFound.rawValue))
        #expect(answers[3].originalRequest.fileContainingSymbol == "trove.v1.Nothing")
    }

    @Test("trove config check: a valid file passes with a summary; a bad value, an unknown option and a missing key file are named")
    func configCheck() throws {
        let directory = FileManager.default.temporaryDirectory.path + "/trove-config-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func check(_ yaml: String) throws -> (status: Int32, stdout: String, stderr: String) {
            let file = directory + "/trove-\(UUID().uuidString.prefix(6)).yaml"
            try yaml.write(toFile: file, atomically: true, encoding: .utf8)
            return try runTrove(["config", "check", file])
        }
        let keyFile = directory + "/service.key"
        try String(repeating: "k", count: 40).write(toFile: keyFile, atomically: true, encoding: .utf8)

        let valid = try check("auth:\n  enabled: true\n  service_key_file: \(keyFile)\nmetrics:\n  listen: 0.0.0.0:9090\n")
        #expect(valid.status == 0, "\(valid.stderr)")
        #expect(valid.stdout.contains("valid") && valid.stdout.contains("auth                on"), "\(valid.stdout)")

        let badValue = try check("metadata:\n  listen: nowhere\n")
        #expect(badValue.status != 0 && badValue.stderr.contains("metadata.listen"), "\(badValue.stderr)")
        let unknown = try check("metrics:\n  listn: 0.0.0.0:9090\n")
        #expect(unknown.status != 0 && unknown.stderr.contains("metrics.listn"), "\(unknown.stderr)")
        let missingKey = try check("auth:\n  enabled: true\n  service_key_file: \(directory)/absent\n")
        #expect(missingKey.status != 0 && missingKey.stderr.contains("auth.service_key_file"), "\(missingKey.stderr)")
        let noKey = try check("auth:\n  enabled: true\n")
        #expect(noKey.status != 0 && noKey.stderr.contains("auth.service_key"), "\(noKey.stderr)")
        let halfTLS = try check("tls:\n  certificate_file: \(keyFile)\n")
        #expect(halfTLS.status != 0 && halfTLS.stderr.contains("tls.private_key_file"), "\(halfTLS.stderr)")
    }
}
