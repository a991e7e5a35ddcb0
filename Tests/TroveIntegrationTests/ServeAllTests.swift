import Foundation
import GRPCCore
import Glibc
import Testing
import TroveContracts
import TroveTestSupport

/// `trove serve all` as a subprocess, driven through the generated Swift clients over HTTP/2.
@Suite("trove serve all", .serialized)
struct ServeAllTests {
    static let serviceNames = [
        "trove.v1.Ingestion", "trove.v1.Embedding", "trove.v1.VectorSearch", "trove.v1.Metadata", "trove.v1.ObjectStorage",
    ]

    @Test("Health answers SERVING for the server and each of the five services, NOT_FOUND for others")
    func health() async throws {
        let trove = try await TroveProcess.start()
        defer { Task { await trove.stopAndRemove() } }
        try await withClient(trove) { client in
            let health = Grpc_Health_V1_Health.Client(wrapping: client)
            for name in [""] + Self.serviceNames {
                let response = try await health.check(.with { $0.service = name })
                #expect(response.status == .serving, "\(name)")
            }
            let error = await #expect(throws: RPCError.self) {
                _ = try await health.check(.with { $0.service = "trove.v1.Nope" })
            }
            #expect(error?.code == .notFound)
        }
    }

    @Test("Objects of 0 bytes, 1 byte and 64 MiB come back identical with the right SHA-256")
    func roundTrips() async throws {
        let trove = try await TroveProcess.start()
        defer { Task { await trove.stopAndRemove() } }
        try await withClient(trove) { client in
            let storage = Trove_V1_ObjectStorage.Client(wrapping: client)
            _ = try await storage.createBucket(.with { $0.bucket = "round-trips" })
            for size in [0, 1, 64 << 20] {
                let data = try randomData(size)
                let stored = try await storage.upload(bucket: "round-trips", key: "objects/\(size)", data)
                #expect(stored.size == UInt64(size))
                #expect(stored.sha256 == sha256Hex(data))
                let (info, downloaded) = try await storage.download(bucket: "round-trips", key: "objects/\(size)")
                #expect(info.sha256 == sha256Hex(data))
                #expect(downloaded.count == data.count)
                #expect(downloaded == data)
                let head = try await storage.headObject(.with {
                    $0.bucket = "round-trips"
                    $0.key = "objects/\(size)"
                })
                #expect(head.size == UInt64(size))
                #expect(head.sha256 == sha256Hex(data))
            }
            let listing = try await storage.listObjects(.with { $0.bucket = "round-trips" })
            #expect(listing.objects.map(\.key) == ["objects/0", "objects/1", "objects/67108864"])
        }
    }

    @Test("Bad input gets a clear status naming the field; missing things are NOT_FOUND")
    func badInput() async throws {
        let trove = try await TroveProcess.start()
        defer { Task { await trove.stopAndRemove() } }
        try await withClient(trove) { client in
            let storage = Trove_V1_ObjectStorage.Client(wrapping: client)
            _ = try await storage.createBucket(.with { $0.bucket = "inputs" })

            let duplicate = await #expect(throws: RPCError.self) { _ = try await storage.createBucket(.with { $0.bucket = "inputs" }) }
            #expect(duplicate?.code == .alreadyExists)

            for key in ["../escape", "/absolute", "", "a/./b"] {
                let error = await #expect(throws: RPCError.self) { _ = try await storage.upload(bucket: "inputs", key: key, Data("x".utf8)) }
                #expect(error?.code == .invalidArgument, "\(key)")
                #expect(error?.message.hasPrefix("key") == true, "\(String(describing: error?.message))")
            }
            let badBucket = await #expect(throws: RPCError.self) { _ = try await storage.createBucket(.with { $0.bucket = "Bad_Name" }) }
            #expect(badBucket?.code == .invalidArgument)
            #expect(badBucket?.message.hasPrefix("bucket") == true)

            let missing = await #expect(throws: RPCError.self) { _ = try await storage.download(bucket: "inputs", key: "absent") }
            #expect(missing?.code == .notFound)
            let noBucket = await #expect(throws: RPCError.self) { _ = try await storage.upload(bucket: "no-such-bucket", key: "k", Data()) }
            #expect(noBucket?.code == .notFound)

            let headerless = await #expect(throws: RPCError.self) {
                _ = try await storage.putObject { writer in
                    try await writer.write(.with { $0.chunk = Data("bytes first".utf8) })
                }
            }
            #expect(headerless?.code == .invalidArgument)
            #expect(headerless?.message.hasPrefix("header") == true)

            _ = try await storage.upload(bucket: "inputs", key: "small", Data("abc".utf8))
            _ = try await storage.putBucketLifecycle(.with {
                $0.bucket = "inputs"
                $0.rules = [.with {
                    $0.id = "expire-tmp"
                    $0.prefix = "tmp/"
                    $0.expireAfterDays = 7
                }]
            })
            let rules = try await storage.getBucketLifecycle(.with { $0.bucket = "inputs" }).rules
            #expect(rules.map(\.id) == ["expire-tmp"] && rules.first?.expireAfterDays == 7)
            let zeroDays = await #expect(throws: RPCError.self) {
                _ = try await storage.putBucketLifecycle(.with {
                    $0.bucket = "inputs"
                    $0.rules = [.with { $0.id = "now" }]
                })
            }
            #expect(zeroDays?.code == .invalidArgument)
            #expect(zeroDays?.message.contains("expire_after_days") == true)

            let pastEnd = await #expect(throws: RPCError.self) {
                _ = try await storage.getObject(.with {
                    $0.bucket = "inputs"
                    $0.key = "small"
                    $0.range = .with { $0.offset = 10 }
                }) { response in
                    for try await _ in response.messages {}
                }
            }
            #expect(pastEnd?.code == .outOfRange)
        }
    }

    @Test("Each service answers from its own store under the data directory")
    func storesUnderDataDirectory() async throws {
        let trove = try await TroveProcess.start()
        defer { Task { await trove.stopAndRemove() } }
        try await withClient(trove) { client in
            // The metadata service is built: it answers from its SQLite file in the data directory.
            let stats = try await Trove_V1_Metadata.Client(wrapping: client).getStats(Trove_V1_GetStatsRequest())
            #expect(stats.databaseBytes > 0)
            #expect(FileManager.default.fileExists(atPath: trove.dataDirectory + "/metadata.sqlite"))

            // So is the embedding service, with its built-in model listed.
            let models = try await Trove_V1_Embedding.Client(wrapping: client).listModels(Trove_V1_ListModelsRequest())
            #expect(models.models.contains { $0.id == "all-MiniLM-L6-v2" && $0.isDefault })

            // And vector search, keeping its collections under the data directory.
            let vectors = Trove_V1_VectorSearch.Client(wrapping: client)
            _ = try await vectors.createCollection(.with {
                $0.name = "all"
                $0.dimension = 4
                $0.metric = .l2
            })
            #expect(try await vectors.listCollections(Trove_V1_ListVectorCollectionsRequest()).collections.map(\.name) == ["all"])
            #expect(FileManager.default.fileExists(atPath: trove.dataDirectory + "/vectors/all/collection.json"))

            // And ingestion, which reaches the others through their clients.
            let missing = await #expect(throws: RPCError.self) {
                _ = try await Trove_V1_Ingestion.Client(wrapping: client).search(.with {
                    $0.collection = "absent"
                    $0.query = "hello"
                })
            }
            #expect(missing?.code == .notFound)
        }
    }

    @Test("Killing the server during a 64 MiB upload leaves no object and no stray file")
    func killDuringUpload() async throws {
        let first = try await TroveProcess.start()
        let dataDirectory = first.dataDirectory
        try await withClient(first) { client in
            let storage = Trove_V1_ObjectStorage.Client(wrapping: client)
            _ = try await storage.createBucket(.with { $0.bucket = "crash" })
            _ = try await storage.upload(bucket: "crash", key: "survivor", Data("kept".utf8))
            let data = try randomData(64 << 20)
            await #expect(throws: (any Error).self) {
                _ = try await storage.putObject { writer in
                    try await writer.write(.with {
                        $0.header = .with {
                            $0.bucket = "crash"
                            $0.key = "half-written"
                        }
                    })
                    for index in 0..<64 {
                        if index == 32 {
                            // Half-way: the server has part of the object in a temporary file.
                            first.signal(SIGKILL)
                        }
                        try await writer.write(.with { $0.chunk = data.subdata(in: index << 20..<(index + 1) << 20) })
                    }
                }
            }
        }
        #expect(try await first.waitForExit() == SIGKILL)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dataDirectory + "/objects/tmp")
        #expect(leftovers.count <= 1, "at most the one partial file, before restart")

        let second = try await TroveProcess.start(dataDirectory: dataDirectory)
        defer { Task { await second.stopAndRemove() } }
        try await withClient(second) { client in
            let storage = Trove_V1_ObjectStorage.Client(wrapping: client)
            let listing = try await storage.listObjects(.with { $0.bucket = "crash" })
            #expect(listing.objects.map(\.key) == ["survivor"])
            let missing = await #expect(throws: RPCError.self) {
                _ = try await storage.headObject(.with {
                    $0.bucket = "crash"
                    $0.key = "half-written"
                })
            }
            #expect(missing?.code == .notFound)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dataDirectory + "/objects/tmp").isEmpty)
    }

    @Test("Watch streams a service's status, and an open watch does not hold up shutdown", .timeLimit(.minutes(1)))
    func watchThenShutdown() async throws {
        let trove = try await TroveProcess.start()
        defer { try? FileManager.default.removeItem(atPath: trove.dataDirectory) }
        let first = try await withClient(trove) { client in
            try await Grpc_Health_V1_Health.Client(wrapping: client).watch(.with { $0.service = "trove.v1.Metadata" }) { response in
                var first: Grpc_Health_V1_HealthCheckResponse.ServingStatus?
                do {
                    for try await message in response.messages where first == nil {
                        first = message.status
                        trove.signal(SIGTERM)
                    }
                } catch {
                    // The stream may end with UNAVAILABLE as the server goes away.
                }
                return first
            }
        }
        #expect(first == .serving)
        #expect(try await trove.waitForExit() == 0)
    }

    @Test("SIGTERM shuts the server down gracefully with exit status 0")
    func gracefulShutdown() async throws {
        let trove = try await TroveProcess.start()
        defer { try? FileManager.default.removeItem(atPath: trove.dataDirectory) }
        trove.signal(SIGTERM)
        #expect(try await trove.waitForExit() == 0)
    }
}

/// The object-storage service on the S3 backend (moto_server, signatures checked), configured
/// through the environment as a container would be.
@Suite("trove serve object-storage on S3")
struct ObjectStorageOnS3Tests {
    @Test("Objects round-trip through the service to S3 with their SHA-256; a wrong secret is UNAUTHENTICATED")
    func roundTripThroughS3() async throws {
        let s3 = try await S3TestServer.moto.endpoint()
        let environment = [
            "TROVE_OBJECT_STORAGE_BACKEND": "s3",
            "TROVE_OBJECT_STORAGE_S3_ENDPOINT": s3.endpoint,
            "AWS_ACCESS_KEY_ID": s3.access_key_id,
            "AWS_SECRET_ACCESS_KEY": s3.secret_access_key,
            "TROVE_OBJECT_STORAGE_S3_PART_SIZE": "\(5 << 20)",
            "TROVE_OBJECT_STORAGE_S3_MULTIPART_THRESHOLD": "\(5 << 20)",
        ]
        let trove = try await TroveProcess.start(role: "object-storage", environment: environment)
        defer { Task { await trove.stopAndRemove() } }
        try await withClient(trove) { client in
            let storage = Trove_V1_ObjectStorage.Client(wrapping: client)
            let bucket = "service-" + UUID().uuidString.prefix(8).lowercased()
            _ = try await storage.createBucket(.with { $0.bucket = bucket })
            for size in [0, 1, 12 << 20] {
                let data = try randomData(size)
                let stored = try await storage.upload(bucket: bucket, key: "sizes/\(size)", data)
                #expect(stored.sha256 == sha256Hex(data))
                let (info, downloaded) = try await storage.download(bucket: bucket, key: "sizes/\(size)")
                #expect(info.sha256 == sha256Hex(data))
                #expect(downloaded == data)
            }
            let missing = await #expect(throws: RPCError.self) { _ = try await storage.download(bucket: bucket, key: "absent") }
            #expect(missing?.code == .notFound)

            let presigned = try await storage.presignObject(.with {
                $0.bucket = bucket
                $0.key = "sizes/1"
                $0.method = .get
                $0.expiresSeconds = 300
            })
            #expect(presigned.url.hasPrefix(s3.endpoint + "/" + bucket + "/sizes/1?"))
            #expect(presigned.url.contains("X-Amz-Expires=300") && presigned.url.contains("X-Amz-Signature="))
            for (method, seconds) in [(Trove_V1_PresignMethod.unspecified, UInt32(60)), (.get, 0), (.put, 604_801)] {
                let invalid = await #expect(throws: RPCError.self) {
                    _ = try await storage.presignObject(.with {
                        $0.bucket = bucket
                        $0.key = "k"
                        $0.method = method
                        $0.expiresSeconds = seconds
                    })
                }
                #expect(invalid?.code == .invalidArgument)
            }
        }

        var wrongSecret = environment
        wrongSecret["AWS_SECRET_ACCESS_KEY"] = "wrong"
        let refused = try await TroveProcess.start(role: "object-storage", environment: wrongSecret)
        defer { Task { await refused.stopAndRemove() } }
        try await withClient(refused) { client in
            let error = await #expect(throws: RPCError.self) {
                _ = try await Trove_V1_ObjectStorage.Client(wrapping: client).listBuckets(Trove_V1_ListBucketsRequest())
            }
            #expect(error?.code == .unauthenticated)
            #expect(error?.message.contains("SignatureDoesNotMatch") == true)
        }
    }
}
