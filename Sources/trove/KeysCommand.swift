import ArgumentParser
import Foundation
import GRPCCore
import SwiftProtobuf
import TroveContracts
import TroveCore

/// `trove keys create|ls|revoke`: API keys, kept by the metadata service.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Create, list and revoke API keys (admin).",
        discussion: """
            Keys live in the metadata service: point --addr at it (or at `trove serve all`). The \
            first admin key is made with the service key (auth.service_key) as --api-key.
            """,
        subcommands: [Create.self, List.self, Revoke.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Create a key and print its secret, which is shown this once."
        )

        @Option(name: .long, help: "readonly (read and search), datawriter (also write) or admin (also collections, keys, retention).")
        var role: String
        @Option(name: .long, help: "A name to recognise the key by (default: the role).")
        var name: String?
        @Option(name: .long, help: "Limit the key to this collection; repeatable. Default: every collection.")
        var collection: [String] = []
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let role: Trove_V1_Role
            switch self.role {
            case "readonly": role = .readonly
            case "datawriter": role = .datawriter
            case "admin": role = .admin
            default: throw ValidationError("--role must be readonly, datawriter or admin")
            }
            let response = try await self.client.withClient { client in
                try await Trove_V1_Metadata.Client(wrapping: client).createApiKey(
                    .with {
                        $0.name = self.name ?? self.role
                        $0.role = role
                        $0.collections = self.collection
                    },
                    options: self.client.callOptions
                )
            }
            print(response.secret)
            let scope = response.key.collections.isEmpty ? "every collection" : response.key.collections.joined(separator: ", ")
            FileHandle.standardError.write(
                Data("key \(response.key.id) (\(self.role), \(scope)): keep the secret above; only its hash is stored\n".utf8)
            )
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List keys (never their secrets).")

        @Flag(name: .long, help: "Include revoked keys.")
        var all = false
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let keys = try await self.client.withClient { client in
                try await Trove_V1_Metadata.Client(wrapping: client).listApiKeys(
                    .with { $0.includeRevoked = self.all },
                    options: self.client.callOptions
                ).keys
            }
            if keys.isEmpty {
                print("no keys (create one with `trove keys create --role readonly|datawriter|admin`)")
                return
            }
            print(padded("ID", 38) + padded("ROLE", 12) + padded("NAME", 20) + padded("CREATED", 22) + padded("LAST USED", 22) + "COLLECTIONS")
            for key in keys {
                let role =
                    switch key.role {
                    case .readonly: "readonly"
                    case .datawriter: "datawriter"
                    case .admin: "admin"
                    default: "\(key.role)"
                    }
                let used = key.hasLastUsedAt ? Self.format(key.lastUsedAt) : "never"
                let collections = key.collections.isEmpty ? "all" : key.collections.joined(separator: ",")
                let revoked = key.hasRevokedAt ? "  (revoked \(Self.format(key.revokedAt)))" : ""
                print(padded(key.id, 38) + padded(role, 12) + padded(key.name, 20) + padded(Self.format(key.createdAt), 22) + padded(used, 22) + collections + revoked)
            }
        }

        static func format(_ timestamp: Google_Protobuf_Timestamp) -> String {
            ISO8601DateFormatter().string(from: timestamp.date)
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke a key; services stop accepting it within auth.key_cache_seconds.")

        @Argument(help: "The key's id (from `trove keys ls`).")
        var id: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let key = try await self.client.withClient { client in
                try await Trove_V1_Metadata.Client(wrapping: client).revokeApiKey(.with { $0.id = self.id }, options: self.client.callOptions).key
            }
            print("revoked \(key.id)")
        }
    }
}

/// `trove config check FILE`: reads a configuration as `trove serve` would, without starting anything.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Work with configuration files.",
        subcommands: [Check.self]
    )

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Validate a configuration file (with the TROVE_* environment) without starting anything.",
            discussion: "Exits 0 and prints a summary when `trove serve --config FILE` would accept it; otherwise prints the option at fault and exits 1."
        )

        @Argument(help: "The YAML file.")
        var file: String

        func run() async throws {
            let configuration: TroveConfiguration
            do {
                configuration = try TroveConfiguration.load(file: self.file)
                try configuration.tls.checkFiles()
                _ = try configuration.auth.resolvedServiceKey()
            } catch let error as ConfigurationError {
                throw CommandFailure("\(self.file): \(error)")
            }
            print("\(self.file): valid")
            print("  data_dir            \(configuration.dataDirectory)")
            print("  auth                \(configuration.auth.enabled ? "on" : "off (every caller may do everything)")")
            let tls = configuration.tls
            print("  tls                 \(tls.isEnabled ? (tls.requireClientCertificate ? "on, client certificates required" : "on") : "off")")
            print("  metrics             \(configuration.metrics.listen.map { "http://\($0)/metrics" } ?? "off")")
            print("  object storage      \(configuration.objectStorage.backend.rawValue)")
            print("  embedding provider  \(configuration.embedding.provider.rawValue)")
        }
    }
}

/// `trove audit`: the audit trail of writes and admin actions, oldest first (the first `--limit`).
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Show the audit trail: who wrote or administered what, when, and the outcome (admin)."
    )

    @Option(name: .long, help: "Only this key's calls.")
    var key = ""
    @Option(name: .long, help: "Only this method, e.g. IngestDocument.")
    var method = ""
    @Option(name: .long, help: "At most this many events.")
    var limit = 50
    @Flag(name: .long, help: "One JSON object per line.")
    var json = false
    @OptionGroup var client: ClientOptions

    func run() async throws {
        let events = try await self.client.withClient { client in
            try await Trove_V1_Metadata.Client(wrapping: client).listAuditEvents(
                .with {
                    $0.keyID = self.key
                    $0.method = self.method
                    $0.page = .with { $0.pageSize = UInt32(clamping: self.limit) }
                },
                options: self.client.callOptions
            ).events
        }
        for event in events {
            if self.json {
                print(try event.jsonString())
            } else {
                let who = event.keyID.isEmpty ? "-" : event.keyID
                let service = event.service.split(separator: ".").last.map(String.init) ?? event.service
                print(
                    padded(ISO8601DateFormatter().string(from: event.time.date), 22) + padded(who, 38) + padded("\(service)/\(event.method)", 36)
                        + padded(event.outcome, 18) + event.targetIds.joined(separator: " ")
                )
            }
        }
    }
}
