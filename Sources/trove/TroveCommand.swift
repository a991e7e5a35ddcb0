import ArgumentParser
import TroveCore

/// The `trove` command: servers, health checks and clients of Trove's services.
@main
struct TroveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trove",
        abstract: "A self-hostable data layer for retrieval and multi-modal ML pipelines.",
        version: TroveVersion.current,
        subcommands: [
            ServeCommand.self, HealthCommand.self, IngestCommand.self, SearchCommand.self, StatusCommand.self,
            CollectionsCommand.self, DocsCommand.self, ObjectsCommand.self, KeysCommand.self, AuditCommand.self,
            ConfigCommand.self, BenchCommand.self,
        ]
    )
}
