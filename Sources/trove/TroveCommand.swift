import ArgumentParser

/// The `trove` command: servers, health checks and clients of Trove's services.
@main
struct TroveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trove",
        abstract: "A self-hostable data layer for retrieval and multi-modal ML pipelines.",
        subcommands: [ServeCommand.self, HealthCommand.self, ObjectsCommand.self, BenchCommand.self]
    )
}
