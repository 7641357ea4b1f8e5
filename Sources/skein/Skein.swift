import ArgumentParser
import Foundation

/// The `skein` command: runs nodes and, in the spirit of Redpanda's `rpk`, operates and measures them.
@main
struct Skein: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "skein",
        abstract: "Skein: a Kafka-compatible event streaming cluster.",
        discussion: "Global option: --brokers host:port[,...] (or SKEIN_BROKERS) may come before or after the verb.",
        subcommands: [
            NodeCommand.self, TopicCommand.self, GroupCommand.self, TxnCommand.self, SchemaCommand.self, ProduceCommand.self, ConsumeCommand.self, Bench.self,
            CertsCommand.self, ClusterCommand.self,
        ]
    )

    /// ArgumentParser has no options shared by every subcommand, so a `--brokers` given before the verb is
    /// turned into SKEIN_BROKERS, which every client command reads as its default.
    static func main() async {
        var arguments = Array(CommandLine.arguments.dropFirst())
        var i = 0
        while i < arguments.count, arguments[i].hasPrefix("-") {
            if arguments[i] == "--brokers", i + 1 < arguments.count {
                setenv("SKEIN_BROKERS", arguments[i + 1], 1)
                arguments.removeSubrange(i...(i + 1))
            } else if arguments[i].hasPrefix("--brokers=") {
                setenv("SKEIN_BROKERS", String(arguments[i].dropFirst("--brokers=".count)), 1)
                arguments.remove(at: i)
            } else {
                i += 1
            }
        }
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
