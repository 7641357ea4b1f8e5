import ArgumentParser

/// The `skein` command: runs nodes and, in the spirit of Redpanda's `rpk`, operates and measures them.
@main
struct Skein: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "skein",
        abstract: "Skein: a Kafka-compatible event streaming cluster.",
        subcommands: [NodeCommand.self, TopicCommand.self, ProduceCommand.self, ConsumeCommand.self, Bench.self]
    )
}
