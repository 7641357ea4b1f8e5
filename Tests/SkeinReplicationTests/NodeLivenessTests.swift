import SkeinModel
import Testing

@testable import SkeinReplication

/// The pure metadata state machine: node liveness as the controller records gossip's verdicts.
@Suite struct NodeLivenessTests {
    func node(_ id: Int32, rack: String? = nil) -> NodeRegistration {
        NodeRegistration(
            id: id, rack: rack, listeners: [NodeEndpoint(name: "PLAINTEXT", host: "127.0.0.1", port: 9090 + id)],
            rpcHost: "127.0.0.1", rpcPort: 9190 + id)
    }

    @Test func deadNodesLeaveTheLiveSetAndComeBack() {
        var m = ClusterMetadata()
        for (i, id) in [1, 2, 3].enumerated() { #expect(m.apply(.registerNode(node(Int32(id))), at: Int64(i)) == nil) }
        #expect(m.liveNodes.map(\.id) == [1, 2, 3])
        #expect(m.apply(.setNodeLiveness(id: 2, alive: false), at: 3) == nil)
        #expect(m.liveNodes.map(\.id) == [1, 3] && m.deadNodes == [2])
        // Still registered: its replicas keep their places; it is just not a broker to send clients to.
        #expect(m.nodes[2] != nil)
        // Placement only uses live nodes: RF 3 is refused with one of three dead.
        #expect(throws: MetadataError.self) {
            try ReplicaPlacement.assign(partitions: 1, replicationFactor: 3, nodes: m.liveNodes)
        }
        let two = try? ReplicaPlacement.assign(partitions: 4, replicationFactor: 2, nodes: m.liveNodes)
        #expect(two?.allSatisfy { !$0.contains(2) } == true)
        // Recorded twice: no change; back alive: live again.
        #expect(m.apply(.setNodeLiveness(id: 2, alive: false), at: 4) == nil && m.deadNodes == [2])
        #expect(m.apply(.setNodeLiveness(id: 2, alive: true), at: 5) == nil)
        #expect(m.liveNodes.map(\.id) == [1, 2, 3] && m.deadNodes.isEmpty)
        // An unregistered node cannot be marked.
        #expect(m.apply(.setNodeLiveness(id: 9, alive: false), at: 6)?.code == .invalidRequest)
        #expect(m.appliedOffset == 6 && m.deadNodes.isEmpty)
    }

    @Test func replicasOfADeadNodeMoveToTheLeastLoadedLiveNodes() throws {
        var m = ClusterMetadata()
        for (i, id) in [1, 2, 3, 4, 5].enumerated() {
            m.apply(.registerNode(node(Int32(id), rack: id <= 3 ? "a" : "b")), at: Int64(i))
        }
        let sets: [[Int32]] = [[1, 2, 3], [2, 3, 1], [3, 1, 2], [1, 4, 5], [4, 5, 1]]
        let topic = TopicMetadata(name: "t", id: KafkaUUID(mostSignificantBits: 1, leastSignificantBits: 1),
            replicas: sets, configs: [:])
        #expect(m.apply(.createTopic(topic), at: 10) == nil)
        m.apply(.setNodeLiveness(id: 1, alive: false), at: 11)
        let moves = m.reassignments(off: 1, limit: 100)
        // Every partition with node 1 gets a replacement in node 1's place; partitions of racks a only prefer b.
        #expect(moves.count == 5)
        var after = m
        for (i, c) in moves.enumerated() { #expect(after.apply(c, at: Int64(12 + i)) == nil) }
        let replicas = after.topics["t"]!.replicas
        #expect(replicas.allSatisfy { !$0.contains(1) && Set($0).count == 3 })
        #expect(replicas[0][0] != 1 && [4, 5].contains(replicas[0][0]) && replicas[0][1...] == [2, 3])
        // Partitions whose set already holds every other live node cannot move: {4,5,1} gets 2 or 3.
        #expect([2, 3].contains(replicas[4][2]))
        // Balanced: the five replicas spread over nodes 2-5, none taking more than two.
        let counts = Dictionary(grouping: moves.compactMap { c -> Int32? in
            if case .reassignPartition(_, let p, let r) = c { return r[sets[Int(p)].firstIndex(of: 1)!] }
            return nil
        }, by: { $0 }).mapValues(\.count)
        #expect(counts.values.allSatisfy { $0 <= 2 })
        // The limit holds; a node with nothing dead moves nothing.
        #expect(m.reassignments(off: 1, limit: 2).count == 2)
        #expect(m.reassignments(off: 9, limit: 100).isEmpty)
    }

    @Test func livenessSurvivesTheCommandEncoding() throws {
        let c = MetadataCommand.setNodeLiveness(id: 7, alive: false)
        #expect(try MetadataCommand.decode(c.encoded()) == c)
    }
}
