import ArgumentParser
import Foundation
import SkeinClient
import SkeinModel

/// `skein txn ...`: transactional ids and the producers of partitions.
struct TxnCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "txn",
        abstract: "List and describe transactions, and show the producers of a topic's partitions.",
        subcommands: [List.self, Describe.self, Producers.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List transactional ids with their producer id, state and coordinator.")
        @OptionGroup var client: ClientOptions
        @Option(help: "Only these states, comma-separated (Ongoing, PrepareCommit, PrepareAbort, CompleteCommit, ...).")
        var state: String?

        func run() async throws {
            let states = state?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } ?? []
            let listed = try await client.withClient { try await $0.listTransactions(states: states) }
            let width = max(14, listed.map(\.transactionalId.count).max() ?? 0)
            print(pad("TRANSACTIONAL ID", width) + "  " + pad("PRODUCER ID", 12) + "  " + pad("STATE", 15) + "  COORDINATOR")
            for t in listed {
                print(pad(t.transactionalId, width) + "  " + pad("\(t.producerId)", 12) + "  " + pad(t.state, 15) + "  \(t.coordinator)")
            }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a transactional id's state, producer, timeout and the partitions of its transaction.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Transactional id.") var transactionalId: String

        func run() async throws {
            let d = try await client.withClient { try await $0.describeTransaction(transactionalId) }
            print(
                "transactional id: \(d.transactionalId)  state: \(d.state)  coordinator: \(d.coordinator)  "
                    + "producer: \(d.producerId) epoch \(d.producerEpoch)  timeout: \(d.timeoutMs) ms")
            if d.startTimeMs >= 0 {
                let age = Int64(Date().timeIntervalSince1970 * 1000) - d.startTimeMs
                print("started: \(age) ms ago")
            }
            for topic in d.partitions.keys.sorted() {
                print("  \(topic): " + (d.partitions[topic] ?? []).map(String.init).joined(separator: ","))
            }
        }
    }

    struct Producers: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the idempotent and transactional producers of a topic's partitions (DescribeProducers).")
        @OptionGroup var client: ClientOptions
        @Option(help: "The topic.") var topic: String

        func run() async throws {
            let producers = try await client.withClient { try await $0.describeProducers(topic: topic) }
            print("PARTITION  PRODUCER ID   EPOCH  LAST SEQ    COORD EPOCH  OPEN TXN FROM")
            for p in producers {
                print(
                    pad("\(p.partition)", 9) + "  " + pad("\(p.producerId)", 12) + "  " + pad("\(p.producerEpoch)", 5)
                        + "  " + pad("\(p.lastSequence)", 10) + "  " + pad("\(p.coordinatorEpoch)", 11) + "  "
                        + (p.currentTxnStartOffset < 0 ? "-" : "\(p.currentTxnStartOffset)"))
            }
        }
    }
}
