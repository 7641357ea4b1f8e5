import ArgumentParser
import Foundation
import SkeinClient
import SkeinModel

/// `skein group ...`: list, describe (members, offsets, lag), delete groups and reset their offsets.
struct GroupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "group",
        abstract: "List, describe, delete consumer groups and reset their offsets.",
        subcommands: [List.self, Describe.self, Delete.self, ResetOffsets.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List groups with their state and type.")
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let groups = try await client.withClient { try await $0.listGroups() }
            let width = max(5, groups.map(\.groupId.count).max() ?? 0)
            print(pad("GROUP", width) + "  " + pad("STATE", 19) + "  " + pad("TYPE", 8) + "  PROTOCOL")
            for g in groups {
                print(pad(g.groupId, width) + "  " + pad(g.state, 19) + "  " + pad(g.type, 8) + "  " + g.protocolType)
            }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a group's state, members and, per partition, committed offset, end offset and lag.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Group id.") var group: String

        func run() async throws {
            let d = try await client.withClient { try await $0.describeGroup(group) }
            print(
                "group: \(d.groupId)  state: \(d.state)  coordinator: \(d.coordinator)  protocol: "
                    + "\(d.protocolType.isEmpty ? "-" : d.protocolType)/\(d.assignor.isEmpty ? "-" : d.assignor)"
                    + "  members: \(d.members.count)")
            for m in d.members {
                let parts = m.assignment.keys.sorted().map { t in
                    "\(t):" + (m.assignment[t] ?? []).sorted().map(String.init).joined(separator: ",")
                }
                print(
                    "  member \(m.memberId)" + (m.instanceId.map { " (instance \($0))" } ?? "")
                        + " client \(m.clientId) \(m.host)" + (parts.isEmpty ? "" : " -> " + parts.joined(separator: " ")))
            }
            let width = max(5, d.offsets.map(\.topic.count).max() ?? 0)
            print(pad("TOPIC", width) + "  PARTITION  COMMITTED  END        LAG        OWNER")
            var total: Int64 = 0
            for o in d.offsets {
                total += o.lag ?? 0
                print(
                    pad(o.topic, width) + "  " + pad("\(o.partition)", 9) + "  "
                        + pad(o.committed < 0 ? "-" : "\(o.committed)", 9) + "  " + pad(o.end.map(String.init) ?? "?", 9)
                        + "  " + pad(o.lag.map(String.init) ?? "-", 9) + "  " + (o.owner ?? "-"))
            }
            print("total lag: \(total)")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a group and its committed offsets.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Group id.") var group: String

        func run() async throws {
            try await client.withClient { try await $0.deleteGroup(group) }
            print("deleted group \(group)")
        }
    }

    struct ResetOffsets: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reset-offsets",
            abstract: "Commit new offsets for a topic's partitions; the group must have no active members.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Group id.") var group: String
        @Option(help: "The topic whose offsets are reset.") var topic: String
        @Option(help: "Only these partitions (comma-separated); default: all.") var partitions: String?
        @Flag(help: "Reset to the log start.") var toEarliest = false
        @Flag(help: "Reset to the end.") var toLatest = false
        @Option(help: "Reset to this offset (clamped to the log).") var toOffset: Int64?
        @Option(help: "Reset to the first record at or after this time, in ms since the epoch.") var toTimestamp: Int64?

        func validate() throws {
            let chosen = [toEarliest, toLatest, toOffset != nil, toTimestamp != nil].filter { $0 }.count
            guard chosen == 1 else {
                throw ValidationError("give exactly one of --to-earliest, --to-latest, --to-offset, --to-timestamp")
            }
        }

        func run() async throws {
            let target: OffsetResetTarget =
                toEarliest ? .earliest : toLatest ? .latest : toOffset.map { .offset($0) } ?? .timestamp(toTimestamp ?? 0)
            let chosen = try partitions.map { list in
                try list.split(separator: ",").map { part -> Int32 in
                    guard let p = Int32(part.trimmingCharacters(in: .whitespaces)) else {
                        throw ValidationError("--partitions: '\(part)' is not a partition number")
                    }
                    return p
                }
            }
            let committed = try await client.withClient {
                try await $0.resetOffsets(group: group, topic: topic, partitions: chosen, to: target)
            }
            for p in committed.keys.sorted() { print("\(topic) \(p) -> \(committed[p] ?? 0)") }
        }
    }
}
