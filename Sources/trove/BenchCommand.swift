import ArgumentParser

/// `trove bench …`: benchmarks that print a table, each beside the peer it is measured against.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure Trove against the direct path to the same storage.",
        subcommands: [BenchObjectsCommand.self, BenchMetadataCommand.self, BenchEmbedCommand.self, BenchANNCommand.self, BenchIngestCommand.self]
    )
}
