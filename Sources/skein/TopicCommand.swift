import ArgumentParser
import SkeinClient
import SkeinModel

/// `skein topic ...`: create, list, describe, delete topics and alter their configs.
struct TopicCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topic",
        abstract: "Create, list, describe, alter and delete topics.",
        subcommands: [Create.self, List.self, Describe.self, Delete.self, AlterConfig.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a topic.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Topic name.") var name: String
        @Option(name: [.short, .long], help: "Partitions (default: the broker's).") var partitions: Int32?
        @Option(name: [.short, .long], help: "Replication factor (default: the broker's).") var replicas: Int16?
        @Option(name: [.short, .long], help: "A topic config as key=value; repeatable.") var config: [String] = []

        func run() async throws {
            let configs = Dictionary(try parseKeyValues(config, option: "--config")) { _, last in last }
            try await client.withClient { c in
                try await c.createTopic(
                    name: name, partitions: partitions, replicationFactor: replicas, configs: configs)
            }
            print("created topic \(name)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List topics with their partition counts.")
        @OptionGroup var client: ClientOptions
        @Flag(help: "Only list the brokers the cluster reports, one 'broker ID HOST:PORT' line each.")
        var brokersOnly = false

        func run() async throws {
            let metadata = try await client.withClient { try await $0.metadata(topics: nil) }
            if brokersOnly {
                for b in metadata.brokers { print("broker \(b.id) \(b.address.host):\(b.address.port)") }
                return
            }
            let width = max(4, metadata.topics.map(\.name.count).max() ?? 0)
            print(pad("NAME", width) + "  PARTITIONS  REPLICAS")
            for t in metadata.topics {
                let rf = t.partitions.first?.replicas.count ?? 0
                print(pad(t.name, width) + "  " + pad("\(t.partitions.count)", 10) + "  \(rf)")
            }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a topic's partitions and configs.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Topic name.") var name: String

        func run() async throws {
            let d = try await client.withClient { try await $0.describeTopic(name) }
            print(
                "topic: \(d.topic.name)  id: \(d.topic.id)  partitions: \(d.topic.partitions.count)"
                    + (d.topic.isInternal ? "  internal" : ""))
            print("PARTITION  LEADER  EPOCH  REPLICAS  ISR")
            let ids = { (b: [BrokerId]) in b.map(\.description).joined(separator: ",") }
            for p in d.topic.partitions {
                var line = pad("\(p.partition)", 9) + "  " + pad("\(p.leader)", 6) + "  " + pad("\(p.leaderEpoch)", 5)
                line += "  " + pad(ids(p.replicas), 8) + "  " + ids(p.isr)
                if p.error != .none { line += "  \(p.error.name)" }
                print(line)
            }
            if let configs = d.configs {
                print("configs:")
                for c in configs {
                    let value = c.isSensitive ? "(sensitive)" : (c.value ?? "null")
                    print("  \(c.name)=\(value)" + (c.isDefault ? "" : "  (set on topic)"))
                }
            } else if let note = d.configNote {
                print(note)
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a topic.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Topic name.") var name: String

        func run() async throws {
            try await client.withClient { try await $0.deleteTopic(name) }
            print("deleted topic \(name)")
        }
    }

    struct AlterConfig: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "alter-config", abstract: "Set or reset topic configs (IncrementalAlterConfigs).")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Topic name.") var name: String
        @Option(help: "A config to set, key=value; repeatable.") var set: [String] = []
        @Option(help: "A config to reset to its default; repeatable.") var delete: [String] = []

        func validate() throws {
            if set.isEmpty && delete.isEmpty { throw ValidationError("give at least one --set or --delete") }
        }

        func run() async throws {
            let updates = Dictionary(try parseKeyValues(set, option: "--set")) { _, last in last }
            try await client.withClient { try await $0.alterTopicConfig(name, set: updates, delete: delete) }
            print("altered configs of topic \(name)")
        }
    }
}

/// Left-aligns `s` in a column of `width` characters.
func pad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
}
