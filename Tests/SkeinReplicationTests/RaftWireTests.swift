import NIOCore
import SkeinModel
import SkeinRaft
import Testing

@testable import SkeinReplication

@Suite("RaftWire: the per-peer frame of Raft messages")
struct RaftWireTests {
    static func sample(_ rng: inout SeededRandom) -> [RaftWire.Message] {
        var out: [RaftWire.Message] = []
        for i in 0..<Int(rng.next() % 20) {
            let group = GroupId(topic: i % 3 == 0 ? GroupId.controller.topic : "orders-é\(i)", partition: Int32(i))
            let pos = LogPosition(index: Int64(rng.next() % 1000) - 1, term: Int64(rng.next() % 9))
            let kind: RaftMessage.Kind
            switch rng.next() % 11 {
            case 0: kind = .preVote(last: pos)
            case 1: kind = .preVoteResponse(granted: rng.next() % 2 == 0)
            case 2: kind = .vote(last: pos, transfer: rng.next() % 2 == 0)
            case 3: kind = .voteResponse(granted: false)
            case 4:
                var entries: [LogEntry] = []
                var next = pos.index + 1
                for _ in 0..<(rng.next() % 4) {
                    let count = Int64(1 + rng.next() % 5)
                    let payload = (0..<(rng.next() % 40)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                    let kind: EntryKind = rng.next() % 4 == 0 ? .leaderNoop : .data
                    entries.append(LogEntry(index: next, term: pos.term, kind: kind, payload: payload, count: count))
                    next += count
                }
                kind = .append(prev: pos, entries: entries, commit: pos.index)
            case 5: kind = .appendResponse(.accepted(match: pos.index))
            case 6: kind = .appendResponse(.rejected(prevIndex: pos.index, hint: pos))
            case 7: kind = .heartbeat(commit: pos.index)
            case 8: kind = .heartbeatResponse
            case 9: kind = .snapshot(RaftSnapshot(position: pos, voters: [1, 2, 3]))
            default: kind = .timeoutNow
            }
            out.append((group, i % 3 == 0 ? 0 : rng.next(), RaftMessage(from: 1, to: 2, term: pos.term, kind: kind)))
        }
        return out
    }

    @Test("every message type round-trips, 2,000 random frames")
    func roundTrip() throws {
        var rng = SeededRandom(seed: 42)
        for _ in 0..<2000 {
            let messages = Self.sample(&rng)
            var buffer = ByteBuffer()
            RaftWire.encode(messages, into: &buffer)
            let decoded = try RaftWire.decode(&buffer)
            #expect(decoded.map(\.group) == messages.map(\.group))
            #expect(decoded.map(\.incarnation) == messages.map(\.incarnation))
            #expect(decoded.map(\.message) == messages.map(\.message))
        }
    }

    @Test("truncated, mutated and random frames are refused with an error, never a trap")
    func malformed() throws {
        var rng = SeededRandom(seed: 7)
        var refused = 0
        for round in 0..<4000 {
            var buffer = ByteBuffer()
            RaftWire.encode(Self.sample(&rng), into: &buffer)
            var bytes = Array(buffer.readableBytesView)
            switch round % 3 {
            case 0: bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count + 1))))
            case 1:
                for _ in 0..<3 where !bytes.isEmpty {
                    bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next())
                }
            default: bytes = (0..<(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            }
            var input = ByteBuffer(bytes: bytes)
            do { _ = try RaftWire.decode(&input) } catch { refused += 1 }
        }
        #expect(refused > 1000)
    }
}

@Suite("Cluster metadata and replica placement")
struct ClusterMetadataTests {
    static func node(_ id: Int32, rack: String? = nil) -> NodeRegistration {
        NodeRegistration(
            id: id, rack: rack, listeners: [NodeEndpoint(name: "PLAINTEXT", host: "127.0.0.1", port: 9090 + id)],
            rpcHost: "127.0.0.1", rpcPort: 19000 + id)
    }

    @Test("commands apply in order; refused ones change nothing; encoding round-trips")
    func apply() throws {
        var m = ClusterMetadata()
        for (i, id) in [1, 2, 3].enumerated() {
            #expect(m.apply(.registerNode(Self.node(Int32(id))), at: Int64(i)) == nil)
        }
        let topic = TopicMetadata(name: "orders", id: .zero, replicas: [[1, 2, 3], [2, 3, 1]], configs: [:])
        let create = MetadataCommand.createTopic(topic)
        #expect(try MetadataCommand.decode(create.encoded()) == create)
        #expect(m.apply(create, at: 3) == nil)
        #expect(m.apply(create, at: 4)?.code == .topicAlreadyExists)
        let clash = TopicMetadata(name: "ord.ers", id: .zero, replicas: [[1]], configs: [:])
        #expect(m.apply(.createTopic(clash), at: 5) == nil)
        #expect(
            m.apply(.createTopic(TopicMetadata(name: "ord_ers", id: .zero, replicas: [[1]], configs: [:])), at: 6)?.code
                == .invalidTopicException)
        #expect(
            m.apply(.createTopic(TopicMetadata(name: "x", id: .zero, replicas: [[1, 9]], configs: [:])), at: 7)?.code
                == .invalidReplicaAssignment)
        #expect(m.apply(.createPartitions(topic: "orders", replicas: [[3, 1, 2]]), at: 8) == nil)
        #expect(m.topics["orders"]?.partitionCount == 3)
        #expect(m.apply(.setTopicConfigs(topic: "orders", configs: ["cleanup.policy": "compact"]), at: 9) == nil)
        #expect(m.apply(.deleteTopic(name: "orders"), at: 10) == nil)
        #expect(m.topics["orders"] == nil)
        #expect(m.appliedOffset == 10)
    }

    @Test("placement: replicas and preferred leaders spread evenly; RF above the node count is refused")
    func balanced() throws {
        let nodes = [1, 2, 3, 4, 5].map { Self.node(Int32($0)) }
        let sets = try ReplicaPlacement.assign(partitions: 10, replicationFactor: 3, nodes: nodes)
        var replicas: [Int32: Int] = [:]
        var leaders: [Int32: Int] = [:]
        for s in sets {
            #expect(Set(s).count == 3)
            leaders[s[0], default: 0] += 1
            for r in s { replicas[r, default: 0] += 1 }
        }
        #expect(leaders.values.allSatisfy { $0 == 2 })
        #expect(replicas.values.allSatisfy { $0 == 6 })
        #expect(throws: MetadataError.self) {
            try ReplicaPlacement.assign(partitions: 1, replicationFactor: 6, nodes: nodes)
        }
        do {
            _ = try ReplicaPlacement.assign(partitions: 1, replicationFactor: 4, nodes: Array(nodes.prefix(3)))
        } catch {
            #expect(error.code == .invalidReplicationFactor)
        }
    }

    @Test("placement with racks: each partition's replicas span as many racks as there are")
    func rackAware() throws {
        let nodes = [
            Self.node(1, rack: "a"), Self.node(2, rack: "a"), Self.node(3, rack: "b"), Self.node(4, rack: "b"),
            Self.node(5, rack: "c"), Self.node(6, rack: "c"),
        ]
        let rackOf = Dictionary(uniqueKeysWithValues: nodes.map { ($0.id, $0.rack!) })
        for s in try ReplicaPlacement.assign(partitions: 12, replicationFactor: 3, nodes: nodes) {
            #expect(Set(s.map { rackOf[$0]! }).count == 3)
        }
        for s in try ReplicaPlacement.assign(partitions: 12, replicationFactor: 2, nodes: nodes) {
            #expect(Set(s.map { rackOf[$0]! }).count == 2)
        }
    }
}
