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

    @Test func livenessSurvivesTheCommandEncoding() throws {
        let c = MetadataCommand.setNodeLiveness(id: 7, alive: false)
        #expect(try MetadataCommand.decode(c.encoded()) == c)
    }
}
