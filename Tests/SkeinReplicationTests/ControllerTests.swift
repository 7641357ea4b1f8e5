import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SkeinModel
import SkeinRaft
import SkeinStorage
import Testing

@testable import SkeinReplication

final class TestNode: @unchecked Sendable {
    let id: BrokerId
    let engine: ReplicationEngine
    let controller: ClusterController
    let replicas: LocalReplicas
    let metadataLog: PartitionLog?

    init(id: BrokerId, voters: [BrokerId], root: String, network: MemoryNetwork, loop: any EventLoop) async throws {
        self.id = id
        var logger = Logger(label: "node-\(id)")
        logger.logLevel = .warning
        let transport = network.transport(for: id)
        var settings = ReplicationEngine.Settings()
        settings.tickInterval = .milliseconds(10)
        engine = ReplicationEngine(
            nodeId: id, loop: loop, transport: transport, settings: settings, clock: WallClock(),
            seed: UInt64(id.rawValue), logger: logger)
        controller = ClusterController(nodeId: id, voters: voters, engine: engine, transport: transport, logger: logger)
        replicas = LocalReplicas(
            nodeId: id, dataDirectory: "\(root)/n\(id)", engine: engine, clock: WallClock(),
            logConfig: { _ in LogConfig() }, logger: logger)
        let replicas = self.replicas
        controller.onChange = { replicas.reconcile($0) }
        network.register(id, PeerDispatcher(engine: engine, controller: controller))
        metadataLog =
            voters.contains(id)
            ? try PartitionLog(directory: "\(root)/n\(id)/__cluster_metadata-0", clock: WallClock()) : nil
        try await controller.start(log: metadataLog, pollInterval: .milliseconds(20))
        engine.start()
    }

    func registration() -> NodeRegistration {
        NodeRegistration(
            id: id.rawValue, rack: nil, listeners: [NodeEndpoint(name: "PLAINTEXT", host: "127.0.0.1", port: 9000)],
            rpcHost: "127.0.0.1", rpcPort: 0)
    }

    func kill(_ network: MemoryNetwork) async throws {
        network.setDown(id)
        controller.stop()
        try await engine.stop().get()
        replicas.closeAll()
        try metadataLog?.close()
    }
}

func eventually(_ timeout: Duration = .seconds(10), _ condition: () -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

@Suite("Controller: replicated cluster metadata", .serialized)
struct ControllerTests {
    @Test("commands from any node commit through the leader; every node applies them and opens its replicas")
    func createAndFailover() async throws {
        let root = NSTemporaryDirectory() + "skein-ctl-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let loops = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let network = MemoryNetwork()
        let voters: [BrokerId] = [1, 2, 3]
        var nodes: [BrokerId: TestNode] = [:]
        for id in [1, 2, 3, 4] as [BrokerId] {
            nodes[id] = try await TestNode(id: id, voters: voters, root: root, network: network, loop: loops.next())
        }
        // A controller leader first (generous: CI machines run the simulation suites beside this test).
        #expect(
            try await eventually(.seconds(60)) {
                nodes.values.filter(\.controller.isVoter).allSatisfy { $0.controller.leader != nil }
            })
        // Node 4 is not a voter: its commands are forwarded, its metadata polled.
        for node in nodes.values {
            try await node.controller.submit(.registerNode(node.registration()), timeout: .seconds(30))
        }
        #expect(try await eventually { nodes.values.allSatisfy { $0.controller.metadata.nodes.count == 4 } })

        let sets = try ReplicaPlacement.assign(
            partitions: 4, replicationFactor: 3, nodes: Array(nodes[1]!.controller.metadata.nodes.values))
        let topic = TopicMetadata(
            name: "orders", id: KafkaUUID(mostSignificantBits: 1, leastSignificantBits: 2), replicas: sets, configs: [:]
        )
        try await nodes[4]!.controller.submit(.createTopic(topic))
        do {
            try await nodes[2]!.controller.submit(.createTopic(topic))
            Issue.record("a second create succeeded")
        } catch {
            #expect(error.code == .topicAlreadyExists)
        }
        #expect(try await eventually { nodes.values.allSatisfy { $0.controller.metadata.topics["orders"] != nil } })
        // Every replica of every partition is opened where placed, and each partition elects a leader.
        #expect(
            try await eventually {
                nodes.values.allSatisfy { n in
                    n.replicas.hosted.count == sets.filter { $0.contains(n.id.rawValue) }.count
                }
            })
        #expect(
            try await eventually {
                (0..<4).allSatisfy { p in
                    nodes.values.contains {
                        $0.engine.status(of: GroupId(topic: "orders", partition: Int32(p)))?.role == .leader
                    }
                }
            })

        // Producer id blocks, from a voter and from a non-voter.
        var blocks: [Int64] = []
        for id in [4, 2] as [BrokerId] {
            blocks.append(try #require(Int64(try await nodes[id]!.controller.submit(.allocateProducerIds(count: 1000)))))
        }

        // The controller leader dies; the other voters elect another and take commands.
        let leader = try #require(nodes[1]!.controller.leader)
        // Nodes announce their leaderships to every peer (as a node does to the registered ones), which is also
        // how nodes that share no group hear from each other.
        for n in nodes.values { n.engine.setPeers(Array(nodes.keys)) }
        #expect(try await eventually { nodes.values.allSatisfy { $0.engine.isReachable(leader) } })
        try await nodes[leader]!.kill(network)
        nodes[leader] = nil
        // What Metadata reports as an offline replica: every other node stops hearing from it.
        #expect(try await eventually { nodes.values.allSatisfy { !$0.engine.isReachable(leader) } })
        let second = TopicMetadata(
            name: "payments", id: KafkaUUID(mostSignificantBits: 3, leastSignificantBits: 4),
            replicas: [[1, 2, 3].filter { $0 != leader.rawValue } + [4]], configs: [:])
        try await nodes[4]!.controller.submit(.createTopic(second))
        #expect(try await eventually { nodes.values.allSatisfy { $0.controller.metadata.topics["payments"] != nil } })

        // It restarts: the replayed log plus what it missed give the same metadata.
        nodes[leader] = try await TestNode(id: leader, voters: voters, root: root, network: network, loop: loops.next())
        #expect(
            try await eventually { nodes[leader]!.controller.metadata.topics.keys.sorted() == ["orders", "payments"] })
        #expect(
            try await eventually {
                nodes[leader]!.controller.metadata.topics == nodes[4]!.controller.metadata.topics
            })
        // Blocks reserved across the failover and the restart never overlap.
        for id in [leader, 4] {
            blocks.append(try #require(Int64(try await nodes[id]!.controller.submit(.allocateProducerIds(count: 1000)))))
        }
        #expect(blocks.sorted() == blocks && zip(blocks, blocks.dropFirst()).allSatisfy { $1 - $0 >= 1000 })

        // Deleting a topic stops and removes its replicas everywhere.
        try await nodes[leader]!.controller.submit(.deleteTopic(name: "orders"))
        #expect(
            try await eventually {
                nodes.values.allSatisfy { n in !n.replicas.hosted.contains { $0.topic == "orders" } }
            })

        // Created again under the same name: new, empty replicas under the same directories.
        let again = TopicMetadata(
            name: "orders", id: KafkaUUID(mostSignificantBits: 5, leastSignificantBits: 6), replicas: [[1, 2, 3]],
            configs: [:])
        try await nodes[leader]!.controller.submit(.createTopic(again))
        let group = GroupId(topic: "orders", partition: 0)
        #expect(
            try await eventually {
                nodes.values.filter { [1, 2, 3].contains($0.id.rawValue) }.allSatisfy {
                    // Empty, as Kafka's new partition is: the leader's no-op takes no offset.
                    $0.replicas.log(for: group)?.logEndOffset == 0
                        && $0.engine.status(of: group).map { $0.leader != .none && $0.highWatermark == 0 } == true
                        && (try? String(contentsOfFile: "\(root)/n\($0.id)/orders-0/topic-id", encoding: .utf8))
                            == again.id.description
                }
            })
        for n in nodes.values { try await n.kill(network) }
        try await loops.shutdownGracefully()
    }
}
