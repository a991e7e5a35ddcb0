import ArgumentParser
import Foundation
import Testing
import TroveCore
import Yams

@testable import trove

/// No Docker engine runs here, so the deployment files are checked the way Docker would use
/// them: every command and health check they give must parse with trove's own command-line
/// parser, and every environment they set must be a valid Trove configuration.
@Suite("Deployment files")
struct DeploymentTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    private func composeServices() throws -> [String: [String: Any]] {
        let text = try String(contentsOf: Self.root.appendingPathComponent("Deploy/docker-compose.yml"), encoding: .utf8)
        let document = try #require(try Yams.load(yaml: text) as? [String: Any])
        let services = try #require(document["services"] as? [String: Any])
        return services.compactMapValues { $0 as? [String: Any] }
    }

    @Test("docker-compose.yml runs each of the five services in its own container, plus MinIO")
    func oneContainerPerService() throws {
        let services = try self.composeServices()
        #expect(Set(services.keys) == ["ingestion", "embedding", "vector-search", "metadata", "object-storage", "minio"])
        for role in TroveServiceName.allCases {
            let service = try #require(services[role.rawValue])
            let command = try #require(service["command"] as? [String])
            #expect(command == ["serve", role.rawValue])
            #expect(service["volumes"] != nil, "\(role.rawValue) keeps its data on a named volume")
        }
    }

    @Test("Every trove command and health check in docker-compose.yml is one trove accepts")
    func commandsParse() throws {
        var checked = 0
        for (name, service) in try self.composeServices() where name != "minio" {
            let command = try #require(service["command"] as? [String], "\(name) has a command")
            #expect(throws: Never.self, "\(name): \(command)") { _ = try TroveCommand.parseAsRoot(command) }

            let healthcheck = try #require(service["healthcheck"] as? [String: Any], "\(name) has a health check")
            let test = try #require(healthcheck["test"] as? [String])
            #expect(Array(test.prefix(2)) == ["CMD", "trove"], "\(name) checks health with trove")
            let arguments = Array(test.dropFirst(2))
            #expect(throws: Never.self, "\(name): \(arguments)") { _ = try TroveCommand.parseAsRoot(arguments) }
            #expect(arguments.first == "health")

            let environment = try #require(service["environment"] as? [String: Any])
            let variables = environment.mapValues { "\($0)" }
            // The shared settings arrive through the YAML merge key, as Docker resolves it.
            #expect(variables["TROVE_DATA_DIR"] == "/data", "\(name)")
            #expect(variables["TROVE_METADATA_ADDRESS"] == "metadata:7422", "\(name)")
            #expect(throws: Never.self, "\(name): \(variables)") {
                _ = try TroveConfiguration.load(file: nil, environment: variables)
            }
            checked += 1
        }
        #expect(checked == 5)
    }

    @Test("The parser would notice a wrong command, so the check above can fail")
    func wrongCommandsFail() {
        #expect(throws: (any Error).self) { _ = try TroveCommand.parseAsRoot(["serve", "everything"]) }
        #expect(throws: (any Error).self) { _ = try TroveCommand.parseAsRoot(["health", "--adress", "x"]) }
        #expect(throws: ConfigurationError.self) {
            _ = try TroveConfiguration.load(file: nil, environment: ["TROVE_METADATA_LISTEN": "metadata:7422"])
        }
    }

    @Test("The Dockerfile builds in the Swift image and runs trove on slim Debian")
    func dockerfile() throws {
        let text = try String(contentsOf: Self.root.appendingPathComponent("Deploy/Dockerfile"), encoding: .utf8)
        let stages = text.split(separator: "\n").filter { $0.hasPrefix("FROM ") }
        #expect(stages.count == 2)
        #expect(stages.first?.contains("swift:") == true)
        #expect(stages.last?.contains("slim") == true)
        let entrypoint = try #require(text.split(separator: "\n").first { $0.hasPrefix("CMD ") })
        let arguments = try #require(try JSONSerialization.jsonObject(with: Data(entrypoint.dropFirst(4).utf8)) as? [String])
        #expect(throws: Never.self) { _ = try TroveCommand.parseAsRoot(arguments) }
    }
}
