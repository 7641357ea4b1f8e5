import Foundation
import KafkaRecords
import Logging
import NIOCore
import NIOPosix
import SkeinModel
import SkeinNode
import Testing

@testable import SkeinClient

/// Runs `body` against a real single-node Skein broker in this process, on a fresh data directory that is
/// removed afterwards (the node is stopped even when the body throws).
func withNode(_ body: (KafkaClient) async throws -> Void) async throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("skein-client-\(UUID().uuidString)").path
    // The broker advertises the configured port, so port 0 would be advertised as 0: take a free port instead.
    let port = try await freePort()
    let config = try NodeConfig(
        parsing: """
            node_id = 1
            data_dir = "\(dir)"
            [[listeners]]
            name = "PLAINTEXT"
            host = "127.0.0.1"
            port = \(port)
            [http]
            port = 0
            """)
    var logger = Logger(label: "skein.client.tests")
    logger.logLevel = .warning
    let node = try await Node.start(config: config, logger: logger)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    do {
        let bound = node.listeners[0].localAddress?.port ?? port
        let client = try KafkaClient(bootstrap: "127.0.0.1:\(bound)", requestTimeout: .seconds(10))
        do {
            try await body(client)
        } catch {
            await client.close()
            throw error
        }
        await client.close()
    } catch {
        await node.stop()
        throw error
    }
    await node.stop()
}

/// A port nobody listens on right now (bound and released at once).
func freePort() async throws -> Int {
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .bind(host: "127.0.0.1", port: 0).get()
    let port = channel.localAddress?.port ?? 0
    try await channel.close()
    return port
}

@Suite(.serialized) struct IntegrationTests {
    @Test func topicLifecycleProduceAndConsume() async throws {
        try await withNode { client in
            try await client.createTopic(name: "orders", partitions: 3, configs: ["retention.ms": "3600000"])
            let error = await #expect(throws: KafkaError.self) { try await client.createTopic(name: "orders") }
            #expect(error?.code == .topicAlreadyExists)
            #expect(try await client.listTopics() == ["orders"])

            let description = try await client.describeTopic("orders")
            #expect(description.topic.partitions.map(\.partition) == [0, 1, 2])
            #expect(description.topic.partitions.allSatisfy { $0.leader == 1 && $0.replicas == [1] && $0.isr == [1] })
            if let configs = description.configs {
                #expect(configs.first { $0.name == "retention.ms" }?.value == "3600000")
                #expect(configs.first { $0.name == "retention.ms" }?.isDefault == false)
                // IncrementalAlterConfigs, where served: set one config, reset another to its default.
                do {
                    try await client.alterTopicConfig(
                        "orders", set: ["cleanup.policy": "compact"], delete: ["retention.ms"])
                    let altered = try await client.describeTopic("orders").configs ?? []
                    #expect(altered.first { $0.name == "cleanup.policy" }?.value == "compact")
                    #expect(altered.first { $0.name == "retention.ms" }?.isDefault == true)
                } catch KafkaClientError.unsupportedApi(.incrementalAlterConfigs, _) {}
            } else {
                #expect(description.configNote?.contains("DescribeConfigs") == true)
            }

            // Keyed records: each lands where the Java client would put it.
            let keys = (0..<30).map { "customer-\($0)" }
            let records = keys.map { ProducerRecord(key: $0, value: "order of \($0)", headers: [("source", "test")]) }
            let produced = try await client.produce(topic: "orders", records: records, compression: .zstd)
            #expect(produced.reduce(0) { $0 + $1.recordCount } == 30)
            #expect(produced.allSatisfy { $0.baseOffset == 0 })

            var seen: [String: (partition: Int32, value: String)] = [:]
            for try await r in client.records(topic: "orders", from: .earliest, stopAtEnd: true) {
                seen[String(buffer: r.key!)] = (r.partition, String(buffer: r.value!))
                #expect(r.headers == [RecordHeader(key: "source", value: ByteBuffer(string: "test"))])
            }
            #expect(seen.count == 30)
            for key in keys {
                let expected = Partitioner.partition(forKey: ByteBuffer(string: key), partitionCount: 3)
                #expect(seen[key]?.partition == expected, "\(key)")
                #expect(seen[key]?.value == "order of \(key)")
            }

            // A second produce to an explicit partition continues its offsets; fetch reads from an offset. (The
            // topic may be compacted by now, which takes keyed records only: Kafka refuses a null key there.)
            let before = try await client.offset(topic: "orders", partition: 1, .latest)
            let more = try await client.produce(
                topic: "orders", partition: 1,
                records: [ProducerRecord(key: "k-x", value: "x"), .init(key: "k-y", value: "y")],
                acks: .leader)
            #expect(more == [ProduceResult(partition: 1, baseOffset: before, recordCount: 2)])
            let fetched = try await client.fetch(topic: "orders", partition: 1, offset: before + 1)
            #expect(fetched.records.map { String(buffer: $0.value!) } == ["y"])
            #expect(fetched.nextOffset == before + 2 && fetched.highWatermark == before + 2)
            #expect(try await client.offset(topic: "orders", partition: 1, .earliest) == 0)

            try await client.deleteTopic("orders")
            #expect(try await client.listTopics() == [])
            let missing = await #expect(throws: KafkaError.self) { try await client.describeTopic("orders") }
            #expect(missing?.code == .unknownTopicOrPartition)
        }
    }

    @Test func nullKeysRoundRobinAndAcksZero() async throws {
        try await withNode { client in
            try await client.createTopic(name: "events", partitions: 2)
            let results = try await client.produce(
                topic: "events", records: (0..<4).map { ProducerRecord(key: nil, value: "e\($0)") }, acks: .none)
            #expect(results.map(\.partition) == [0, 1])
            #expect(results.allSatisfy { $0.baseOffset == -1 && $0.recordCount == 2 })
            // acks=0 has no answer: wait until both partitions show the records.
            var ends: [Int64] = []
            for _ in 0..<50 {
                ends = [
                    try await client.offset(topic: "events", partition: 0, .latest),
                    try await client.offset(topic: "events", partition: 1, .latest),
                ]
                if ends == [2, 2] { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(ends == [2, 2])
        }
    }

    @Test func errorsCarryKafkasCode() async throws {
        try await withNode { client in
            let bad = await #expect(throws: KafkaError.self) {
                try await client.createTopic(name: "bad/name", partitions: 1)
            }
            #expect(bad?.code == .invalidTopicException)
            let replicas = await #expect(throws: KafkaError.self) {
                try await client.createTopic(name: "r3", partitions: 1, replicationFactor: 3)
            }
            #expect(replicas?.code == .invalidReplicationFactor)
            let gone = await #expect(throws: KafkaError.self) { try await client.deleteTopic("nope") }
            #expect(gone?.code == .unknownTopicOrPartition)
            let noPartition = await #expect(throws: KafkaError.self) {
                try await client.createTopic(name: "one", partitions: 1)
                _ = try await client.produce(topic: "one", partition: 5, records: [.init(key: nil, value: "v")])
            }
            #expect(noPartition?.code == .unknownTopicOrPartition)
        }
    }

    @Test func unreachableBootstrapFailsFast() async throws {
        let port = try await freePort()
        let client = try KafkaClient(bootstrap: "127.0.0.1:\(port)", requestTimeout: .seconds(2))
        await #expect(throws: KafkaClientError.self) { try await client.listTopics() }
    }
}
