import Foundation
import SkeinModel

/// Where a node serves: one Kafka listener.
public struct NodeEndpoint: Codable, Hashable, Sendable {
    public var name: String
    public var host: String
    public var port: Int32
    public init(name: String, host: String, port: Int32) {
        self.name = name
        self.host = host
        self.port = port
    }
}

/// A node as it registered with the controller: its id, rack and addresses.
public struct NodeRegistration: Codable, Hashable, Sendable {
    public var id: Int32
    public var rack: String?
    public var listeners: [NodeEndpoint]
    public var rpcHost: String
    public var rpcPort: Int32
    public init(id: Int32, rack: String?, listeners: [NodeEndpoint], rpcHost: String, rpcPort: Int32) {
        self.id = id
        self.rack = rack
        self.listeners = listeners
        self.rpcHost = rpcHost
        self.rpcPort = rpcPort
    }

    /// The listener a client connected through `listenerName` is sent to (Kafka's rule), else the first one.
    public func endpoint(for listenerName: String) -> NodeEndpoint? {
        listeners.first { $0.name == listenerName } ?? listeners.first
    }
}

/// A topic in the cluster metadata: its id, each partition's replica set (the first replica is the preferred
/// leader) and its configs.
public struct TopicMetadata: Codable, Hashable, Sendable {
    public var name: String
    /// Kafka's topic id, as two 64-bit halves (Codable without a custom coder).
    public var idHigh: UInt64
    public var idLow: UInt64
    public var replicas: [[Int32]]
    public var configs: [String: String]

    public var id: KafkaUUID { KafkaUUID(mostSignificantBits: idHigh, leastSignificantBits: idLow) }
    public var partitionCount: Int32 { Int32(replicas.count) }

    public init(name: String, id: KafkaUUID, replicas: [[Int32]], configs: [String: String]) {
        self.name = name
        self.idHigh = id.mostSignificantBits
        self.idLow = id.leastSignificantBits
        self.replicas = replicas
        self.configs = configs
    }
}

/// One change to the cluster metadata: the payload of a controller log entry.
public enum MetadataCommand: Codable, Hashable, Sendable {
    case registerNode(NodeRegistration)
    case createTopic(TopicMetadata)
    case deleteTopic(name: String)
    /// Appends partitions with these replica sets.
    case createPartitions(topic: String, replicas: [[Int32]])
    /// Replaces the topic's configs (validated by the proposer).
    case setTopicConfigs(topic: String, configs: [String: String])
    /// Reserves the next `count` producer ids for the proposer (which learns the block from the submit's result):
    /// ids come from the replicated counter, so none is ever handed out twice, even across controller failovers.
    case allocateProducerIds(count: Int64)
    /// Gossip's verdict on a registered node, as the controller leader records it: a dead node is left out of
    /// Metadata's brokers (and DescribeCluster's) and of new placements, and reported as an offline replica.
    case setNodeLiveness(id: Int32, alive: Bool)
    /// Gives a partition a new replica set (re-replication off a dead node); the partition's leader then changes
    /// its Raft voters one server at a time to match.
    case reassignPartition(topic: String, partition: Int32, replicas: [Int32])
    /// A request to the controller leader, never written to the log: place a new topic with the leader's view of
    /// the live nodes and their load (any node takes CreateTopics, but only the leader's view is current), then
    /// commit it as `createTopic`.
    case placeTopic(TopicPlacement)
    /// The same for new partitions of a topic (to `count` in all), at the topic's replication factor.
    case placePartitions(topic: String, count: Int32, validateOnly: Bool)

    /// Whether the leader turns this command into another before it is committed.
    public var isPlacement: Bool {
        switch self {
        case .placeTopic, .placePartitions: true
        default: false
        }
    }

    public func encoded() -> [UInt8] {
        // Encoding a plain Codable enum cannot fail.
        [UInt8](try! JSONEncoder().encode(self))
    }

    public static func decode(_ bytes: [UInt8]) throws -> MetadataCommand {
        try JSONDecoder().decode(MetadataCommand.self, from: Data(bytes))
    }
}

/// A new topic to place: `replicationFactor` -1 means `defaultReplicationFactor`, or when that is nil the live
/// nodes up to 3; `validateOnly` checks it without creating it.
public struct TopicPlacement: Codable, Hashable, Sendable {
    public var name: String
    public var idHigh: UInt64
    public var idLow: UInt64
    public var partitions: Int32
    public var replicationFactor: Int16
    public var defaultReplicationFactor: Int16?
    public var configs: [String: String]
    public var validateOnly: Bool
    /// Internal topics: the replication factor is capped by the live node count (Kafka's
    /// offsets.topic.replication.factor behaves so until the cluster has that many brokers).
    public var capToLiveNodes: Bool?
    public init(
        name: String, id: KafkaUUID, partitions: Int32, replicationFactor: Int16, defaultReplicationFactor: Int16?,
        configs: [String: String], validateOnly: Bool, capToLiveNodes: Bool = false
    ) {
        self.capToLiveNodes = capToLiveNodes
        self.name = name
        idHigh = id.mostSignificantBits
        idLow = id.leastSignificantBits
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.defaultReplicationFactor = defaultReplicationFactor
        self.configs = configs
        self.validateOnly = validateOnly
    }
}

/// Why a metadata command was refused, with Kafka's error code.
public struct MetadataError: Error, Hashable, Sendable, CustomStringConvertible {
    public var code: KafkaErrorCode
    public var message: String
    public init(_ code: KafkaErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { "\(code): \(message)" }
}

/// The cluster metadata every node holds: what the controller log says once applied in order. Pure and
/// deterministic: every replica that applies the same commands holds the same state.
public struct ClusterMetadata: Codable, Hashable, Sendable {
    public private(set) var nodes: [Int32: NodeRegistration] = [:]
    public private(set) var topics: [String: TopicMetadata] = [:]
    /// The controller log offset of the last command applied (-1: none).
    public private(set) var appliedOffset: Int64 = -1
    /// The first producer id not yet reserved by any node.
    public private(set) var nextProducerId: Int64 = 0
    /// Registered nodes the controller marked dead (gossip declared them dead or gone).
    public private(set) var deadNodes: Set<Int32> = []

    /// Registered nodes not marked dead: Metadata's brokers, and where new replicas go.
    public var liveNodes: [NodeRegistration] {
        nodes.values.filter { !deadNodes.contains($0.id) }.sorted { $0.id < $1.id }
    }

    public init() {}

    /// Checks a command against the current state without applying it (the proposer's validation; `apply` runs
    /// the same checks so that a command that raced another one changes nothing).
    public func check(_ command: MetadataCommand) -> MetadataError? {
        switch command {
        case .registerNode(let n):
            guard n.id >= 0 else { return MetadataError(.invalidRequest, "node id \(n.id) is negative") }
            return nil
        case .createTopic(let t):
            if topics[t.name] != nil {
                return MetadataError(.topicAlreadyExists, "Topic '\(t.name)' already exists.")
            }
            if let clash = topics.values.first(where: { Self.collides($0.name, t.name) }) {
                return MetadataError(
                    .invalidTopicException,
                    "Topic '\(t.name)' collides with existing topic '\(clash.name)' ('.' and '_' are alike).")
            }
            return checkReplicas(t.replicas)
        case .deleteTopic(let name):
            return topics[name] == nil
                ? MetadataError(.unknownTopicOrPartition, "Topic '\(name)' does not exist.") : nil
        case .createPartitions(let name, let replicas):
            guard topics[name] != nil else {
                return MetadataError(.unknownTopicOrPartition, "Topic '\(name)' does not exist.")
            }
            return checkReplicas(replicas)
        case .setTopicConfigs(let name, _):
            return topics[name] == nil
                ? MetadataError(.unknownTopicOrPartition, "Topic '\(name)' does not exist.") : nil
        case .allocateProducerIds(let count):
            guard count > 0, count <= 1_000_000 else {
                return MetadataError(.invalidRequest, "a producer id block of \(count) ids")
            }
            guard nextProducerId <= Int64.max - count else {
                return MetadataError(.unknownServerError, "producer ids are exhausted")
            }
            return nil
        case .setNodeLiveness(let id, _):
            return nodes[id] == nil ? MetadataError(.invalidRequest, "node \(id) is not registered") : nil
        case .reassignPartition(let name, let partition, let replicas):
            guard let topic = topics[name] else {
                return MetadataError(.unknownTopicOrPartition, "Topic '\(name)' does not exist.")
            }
            guard partition >= 0, partition < topic.partitionCount else {
                return MetadataError(.unknownTopicOrPartition, "Topic '\(name)' has no partition \(partition).")
            }
            return checkReplicas([replicas])
        case .placeTopic, .placePartitions:
            return MetadataError(.invalidRequest, "a placement request is resolved by the leader, not committed")
        }
    }

    /// The most partitions one topic may have (Kafka has no hard cap; this keeps a request for 2^31 partitions
    /// from exhausting the controller's memory).
    public static let maxPartitions: Int32 = 100_000

    /// A placement request resolved with this metadata: the command to commit (nil for a validate-only request
    /// that passed) and the partition count and replication factor placed, or the refusal.
    public func resolve(_ command: MetadataCommand) -> Result<(MetadataCommand?, partitions: Int32, rf: Int16), MetadataError>
    {
        switch command {
        case .placeTopic(let p):
            guard p.partitions >= 1 else {
                return .failure(MetadataError(.invalidPartitions, "Number of partitions must be larger than 0."))
            }
            guard p.partitions <= Self.maxPartitions else {
                return .failure(
                    MetadataError(
                        .invalidPartitions,
                        "Number of partitions \(p.partitions) is larger than the limit of \(Self.maxPartitions)."))
            }
            let live = liveNodes
            var rf =
                p.replicationFactor != -1
                ? Int(p.replicationFactor) : Int(p.defaultReplicationFactor ?? Int16(min(3, max(live.count, 1))))
            if p.capToLiveNodes == true { rf = max(1, min(rf, live.count)) }
            let replicas: [[Int32]]
            do {
                replicas = try ReplicaPlacement.assign(
                    partitions: Int(p.partitions), replicationFactor: rf, nodes: live, load: replicaLoad)
            } catch {
                return .failure(error)
            }
            let topic = TopicMetadata(
                name: p.name, id: KafkaUUID(mostSignificantBits: p.idHigh, leastSignificantBits: p.idLow),
                replicas: replicas, configs: p.configs)
            if let refusal = check(.createTopic(topic)) { return .failure(refusal) }
            return .success((p.validateOnly ? nil : .createTopic(topic), p.partitions, Int16(rf)))
        case .placePartitions(let name, let count, let validateOnly):
            guard let topic = topics[name] else {
                return .failure(MetadataError(.unknownTopicOrPartition, "The topic '\(name)' does not exist."))
            }
            let current = topic.partitionCount
            guard count > current else {
                return .failure(
                    MetadataError(
                        .invalidPartitions,
                        count == current
                            ? "Topic already has \(current) partitions."
                            : "Topic currently has \(current) partitions, which is higher than the requested \(count)."))
            }
            guard count <= Self.maxPartitions else {
                return .failure(
                    MetadataError(.invalidPartitions, "Number of partitions \(count) is too large."))
            }
            let rf = topic.replicas.first?.count ?? 1
            let added: [[Int32]]
            do {
                added = try ReplicaPlacement.assign(
                    partitions: Int(count - current), replicationFactor: rf, nodes: liveNodes, load: replicaLoad)
            } catch {
                return .failure(error)
            }
            let resolved = MetadataCommand.createPartitions(topic: name, replicas: added)
            if let refusal = check(resolved) { return .failure(refusal) }
            return .success((validateOnly ? nil : resolved, count, Int16(rf)))
        default:
            return .success((command, 0, 0))
        }
    }

    private func checkReplicas(_ replicas: [[Int32]]) -> MetadataError? {
        for set in replicas {
            if set.isEmpty { return MetadataError(.invalidReplicaAssignment, "a partition needs a replica") }
            if Set(set).count != set.count {
                return MetadataError(.invalidReplicaAssignment, "replica set \(set) names a node twice")
            }
            if let unknown = set.first(where: { nodes[$0] == nil }) {
                return MetadataError(.invalidReplicaAssignment, "replica set \(set) names unknown node \(unknown)")
            }
        }
        return nil
    }

    /// Applies the command at `offset` of the controller log. A refused command changes nothing but the applied
    /// offset; the refusal is returned for the proposer to report.
    @discardableResult
    public mutating func apply(_ command: MetadataCommand, at offset: Int64) -> MetadataError? {
        appliedOffset = max(appliedOffset, offset)
        if let error = check(command) { return error }
        switch command {
        case .registerNode(let n): nodes[n.id] = n
        case .createTopic(let t): topics[t.name] = t
        case .deleteTopic(let name): topics[name] = nil
        case .createPartitions(let name, let replicas): topics[name]!.replicas += replicas
        case .setTopicConfigs(let name, let configs): topics[name]!.configs = configs
        case .allocateProducerIds(let count): nextProducerId += count
        case .setNodeLiveness(let id, let alive):
            if alive { deadNodes.remove(id) } else { deadNodes.insert(id) }
        case .reassignPartition(let name, let partition, let replicas):
            topics[name]!.replicas[Int(partition)] = replicas
        case .placeTopic, .placePartitions:
            break  // refused by check
        }
        return nil
    }

    /// Moves replicas off `dead` (at most `limit` partitions): each replica of it is replaced, in its place in the
    /// set, by the live node outside the set with the fewest replicas (on a rack the set does not use yet, when
    /// racks are configured; then the lowest id). Partitions with no such node keep their set.
    public func reassignments(off dead: Int32, limit: Int) -> [MetadataCommand] {
        var load = replicaLoad.mapValues(\.replicas)
        let live = liveNodes.filter { $0.id != dead }
        var out: [MetadataCommand] = []
        for topic in topics.values.sorted(by: { $0.name < $1.name }) {
            for (p, set) in topic.replicas.enumerated() {
                guard out.count < limit, let slot = set.firstIndex(of: dead) else { continue }
                let racks = Set(set.compactMap { nodes[$0]?.rack })
                let candidate = live.filter { !set.contains($0.id) }.min { a, b in
                    let aRack = a.rack.map { racks.contains($0) } ?? false
                    let bRack = b.rack.map { racks.contains($0) } ?? false
                    return (aRack ? 1 : 0, load[a.id, default: 0], a.id) < (bRack ? 1 : 0, load[b.id, default: 0], b.id)
                }
                guard let candidate else { continue }
                var replicas = set
                replicas[slot] = candidate.id
                load[candidate.id, default: 0] += 1
                load[dead, default: 0] -= 1
                out.append(.reassignPartition(topic: topic.name, partition: Int32(p), replicas: replicas))
            }
        }
        return out
    }

    /// Notes that the controller log reached `offset` with an entry that is not a command (a leader's no-op).
    public mutating func skip(to offset: Int64) { appliedOffset = max(appliedOffset, offset) }

    /// Kafka refuses topics whose names differ only in '.' versus '_' (they collide in metric names).
    static func collides(_ a: String, _ b: String) -> Bool {
        a != b && a.replacingOccurrences(of: ".", with: "_") == b.replacingOccurrences(of: ".", with: "_")
    }

    /// How many replicas (and preferred leaderships) each node holds: what placement balances.
    public var replicaLoad: [Int32: (replicas: Int, leaders: Int)] {
        var load: [Int32: (replicas: Int, leaders: Int)] = [:]
        for id in nodes.keys { load[id] = (0, 0) }
        for t in topics.values {
            for set in t.replicas {
                for (k, r) in set.enumerated() {
                    load[r, default: (0, 0)].replicas += 1
                    if k == 0 { load[r, default: (0, 0)].leaders += 1 }
                }
            }
        }
        return load
    }
}

/// Chooses replica sets for new partitions: balanced across nodes by their current load, preferred leaders
/// spread too, and with racks configured, the replicas of a partition on as many racks as possible.
public enum ReplicaPlacement {
    public static func assign(
        partitions: Int, replicationFactor: Int, nodes: [NodeRegistration],
        load: [Int32: (replicas: Int, leaders: Int)] = [:]
    ) throws(MetadataError) -> [[Int32]] {
        guard replicationFactor >= 1 else {
            throw MetadataError(.invalidReplicationFactor, "Replication factor must be larger than 0.")
        }
        guard replicationFactor <= nodes.count else {
            throw MetadataError(
                .invalidReplicationFactor,
                "Replication factor: \(replicationFactor) larger than available brokers: \(nodes.count).")
        }
        guard partitions >= 1 else {
            throw MetadataError(.invalidPartitions, "Number of partitions must be larger than 0.")
        }
        var replicaCount: [Int32: Int] = [:]
        var leaderCount: [Int32: Int] = [:]
        for n in nodes {
            replicaCount[n.id] = load[n.id]?.replicas ?? 0
            leaderCount[n.id] = load[n.id]?.leaders ?? 0
        }
        let rackOf = Dictionary(uniqueKeysWithValues: nodes.map { ($0.id, $0.rack ?? "") })
        var result: [[Int32]] = []
        for _ in 0..<partitions {
            // The leader: fewest preferred leaderships, then fewest replicas, then lowest id.
            let leader = nodes.map(\.id).min { a, b in
                (leaderCount[a]!, replicaCount[a]!, a) < (leaderCount[b]!, replicaCount[b]!, b)
            }!
            var chosen = [leader]
            var racks: [String: Int] = [rackOf[leader]!: 1]
            while chosen.count < replicationFactor {
                // Followers: least-used rack first, then fewest replicas, then lowest id.
                let next = nodes.map(\.id).filter { !chosen.contains($0) }.min { a, b in
                    (racks[rackOf[a]!, default: 0], replicaCount[a]!, a)
                        < (racks[rackOf[b]!, default: 0], replicaCount[b]!, b)
                }!
                chosen.append(next)
                racks[rackOf[next]!, default: 0] += 1
            }
            for r in chosen { replicaCount[r]! += 1 }
            leaderCount[leader]! += 1
            result.append(chosen)
        }
        return result
    }
}
