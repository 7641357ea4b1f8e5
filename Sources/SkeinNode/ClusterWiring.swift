import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import SkeinBroker
import SkeinGossip
import SkeinGossipTransport
import SkeinModel
import SkeinRPC
import SkeinReplication
import SkeinStorage

/// The replication side of a node in cluster mode: RPC over mutual TLS, the replication engine, the controller
/// and the local replicas, wired together; with `[gossip]`, SWIM membership too, whose view the controller leader
/// turns into node registrations and liveness (gossip informs; Raft decides: it never elects anything).
final class ClusterServices: Sendable {
    let engine: ReplicationEngine
    let controller: ClusterController
    let replicas: LocalReplicas
    let metadataLog: PartitionLog?
    private let transport: RPCTransport
    private let logger: Logger
    private let gossipNode = NIOLockedValueBox<GossipNode?>(nil)
    private let livenessTask = NIOLockedValueBox<RepeatedTask?>(nil)
    /// Nodes with RPC addresses from the config, from registrations or from gossip.
    private let knownPeers = NIOLockedValueBox(Set<BrokerId>())
    var gossip: GossipNode? { gossipNode.withLockedValue { $0 } }

    var context: ClusterContext {
        let transport = self.transport
        return ClusterContext(
            controller: controller, engine: engine, replicas: replicas,
            peerRequest: { to, kind, payload, timeout in
                try await transport.request(to: to, kind: kind, payload: payload, timeout: timeout)
            })
    }
    var rpc: RPCNode? { transport.node }

    init(config: NodeConfig, cluster: ClusterConfig, loop: any EventLoop, logger: Logger) throws {
        let nodeId = BrokerId(config.nodeId)
        deadNodeGrace = .milliseconds(cluster.deadNodeGraceMs)
        transport = RPCTransport()
        self.logger = logger
        engine = ReplicationEngine(
            nodeId: nodeId, loop: loop, transport: transport, clock: SystemClock(),
            seed: UInt64.random(in: 0...UInt64.max),
            logger: logger)
        let voters = cluster.controllerVoters.map { BrokerId($0) }
        controller = ClusterController(
            nodeId: nodeId, voters: voters, engine: engine, transport: transport, logger: logger)
        replicas = LocalReplicas(
            nodeId: nodeId, dataDirectory: config.dataDirectory, engine: engine, clock: SystemClock(),
            logConfig: { Broker.logConfig(forTopicConfigs: $0) }, logger: logger)
        metadataLog =
            voters.contains(nodeId)
            ? try PartitionLog(directory: config.dataDirectory + "/__cluster_metadata-0", clock: SystemClock()) : nil
        let replicas = self.replicas
        controller.onChange = { [weak self] metadata in
            replicas.reconcile(metadata)
            guard let self, let rpc = self.rpc else { return }
            // Registrations carry RPC addresses: a node found only through the controller is reachable too.
            for n in metadata.nodes.values where n.id != config.nodeId {
                rpc.setPeerAddress(BrokerId(n.id), host: n.rpcHost, port: Int(n.rpcPort))
            }
            self.addPeers(metadata.nodes.keys.map { BrokerId($0) })
        }
    }

    private func addPeers(_ ids: [BrokerId]) {
        let all = knownPeers.withLockedValue { known -> [BrokerId]? in
            let before = known.count
            known.formUnion(ids.filter { $0 != engine.nodeId })
            return known.count == before ? nil : Array(known)
        }
        if let all { engine.setPeers(all) }
    }

    /// Starts RPC, joins the controller group and starts ticking. `broker` is woken when high watermarks move.
    func start(config: NodeConfig, cluster: ClusterConfig, group: any EventLoopGroup, broker: Broker) async throws {
        engine.onHighWatermark = { _, _ in broker.notifyDataAvailable() }
        let dispatcher = PeerDispatcher(engine: engine, controller: controller)
        let rpc = try await RPCNode.start(
            configuration: RPCConfiguration(
                nodeId: BrokerId(config.nodeId), host: cluster.rpcHost, port: cluster.rpcPort, tls: config.tls!,
                maxQueuedBytesPerPeer: 256 << 20),
            group: group, handler: DispatchingRPCHandler(dispatcher: dispatcher, broker: broker), logger: logger)
        transport.set(rpc)
        for peer in cluster.peers { rpc.setPeerAddress(BrokerId(peer.id), host: peer.host, port: peer.port) }
        addPeers(cluster.peers.map { BrokerId($0.id) })
        logger.info("RPC up", metadata: ["address": "\(rpc.localAddress.map { "\($0)" } ?? "?")"])
        try await controller.start(log: metadataLog)
        engine.start()
    }

    /// Registers this node with the controller (retrying until a controller leader takes it), in the background.
    func register(_ registration: NodeRegistration) {
        let controller = self.controller
        let logger = self.logger
        Task {
            while true {
                if controller.metadata.nodes[registration.id] == registration { return }
                do {
                    try await controller.submit(.registerNode(registration))
                    logger.info("registered with the controller", metadata: ["node": "\(registration.id)"])
                    return
                } catch {
                    logger.debug("registration not taken yet: \(error)")
                    try? await Task.sleep(for: .milliseconds(200))
                }
            }
        }
    }

    // MARK: - Gossip

    /// Starts gossip (when configured) with this node's registration as its metadata, joining through the seeds.
    func startGossip(config: NodeConfig, registration: NodeRegistration, group: any EventLoopGroup) async throws {
        guard let g = config.gossip else { return }
        var settings = SWIMSettings(lifeguard: g.lifeguard)
        settings.probeIntervalMillis = g.probeIntervalMs
        settings.pingTimeoutMillis = g.pingTimeoutMs
        let node = GossipNode(
            id: BrokerId(config.nodeId), advertisedAddress: "\(g.advertisedHost):\(g.port)",
            // A wall-clock reading: a restarted node's incarnation beats everything said about the previous one.
            incarnation: UInt64(Date().timeIntervalSince1970 * 1000),
            metadata: gossipMetadata.withLockedValue { m in
                m = GossipMetadata.encode(registration)
                return m
            }, settings: settings,
            keyring: try GossipKeyring(base64Keys: g.keys), loop: group.next(),
            seed: UInt64.random(in: 0...UInt64.max), logger: logger)
        node.onChange { [weak self] member, _, status in self?.gossipChanged(member, status) }
        try await node.bind(host: g.host, port: g.port)
        gossipNode.withLockedValue { $0 = node }
        let seeds = g.seeds.filter { $0 != "\(g.advertisedHost):\(g.port)" }
        if !seeds.isEmpty { node.join(seeds: seeds) }
        let port = try await node.localPort() ?? g.port
        logger.info("gossip up", metadata: ["port": "\(port)", "seeds": "\(seeds)"])
        let task = engine.loop.scheduleRepeatedTask(initialDelay: .milliseconds(500), delay: .milliseconds(500)) {
            [weak self] _ in self?.actOnMembership()
        }
        livenessTask.withLockedValue { $0 = task }
    }

    /// Adds the HTTP address (metrics, `/v1/cluster`, later the Schema Registry) to what gossip says of this node.
    func advertiseHTTP(host: String, port: Int) {
        guard let gossip else { return }
        let metadata = gossipMetadata.withLockedValue { m -> [String: String] in
            m["http"] = "\(host):\(port)"
            return m
        }
        gossip.updateMetadata(metadata)
    }
    private let gossipMetadata = NIOLockedValueBox([String: String]())

    /// A member seen alive brings its RPC address; it becomes a peer of the engine.
    private func gossipChanged(_ member: SWIMMember, _ status: SWIMMemberStatus) {
        guard status.isLive, member.id != engine.nodeId, let reg = GossipMetadata.decode(member) else { return }
        rpc?.setPeerAddress(member.id, host: reg.rpcHost, port: Int(reg.rpcPort))
        addPeers([member.id])
    }

    /// On the controller leader: registers members gossip knows and the metadata does not (or knows with other
    /// addresses), and records gossip's verdict on registered nodes (dead or left: out of Metadata's brokers; alive
    /// again: back in). Nodes gossip has never seen are left as they are.
    private func actOnMembership() {
        guard let gossip, controller.leader == engine.nodeId else {
            deadSince.withLockedValue { $0.removeAll() }
            return
        }
        let metadata = controller.metadata
        var commands: [MetadataCommand] = []
        // After the grace period, the replicas of a node still dead move to live nodes.
        let now = ContinuousClock.now
        let expired = deadSince.withLockedValue { since -> [Int32] in
            for id in since.keys where !metadata.deadNodes.contains(id) { since[id] = nil }
            for id in metadata.deadNodes where since[id] == nil { since[id] = now }
            guard deadNodeGrace > .zero else { return [] }
            return since.filter { now - $0.value >= deadNodeGrace }.keys.sorted()
        }
        for id in expired { commands += metadata.reassignments(off: id, limit: 64) }
        for member in gossip.members {
            let id = member.id.rawValue
            switch member.status {
            case .alive, .suspect:
                if let reg = GossipMetadata.decode(member), metadata.nodes[id] != reg, member.status == .alive {
                    commands.append(.registerNode(reg))
                }
                if member.status == .alive && metadata.deadNodes.contains(id) && metadata.nodes[id] != nil {
                    commands.append(.setNodeLiveness(id: id, alive: true))
                }
            case .dead, .left:
                if metadata.nodes[id] != nil && !metadata.deadNodes.contains(id) {
                    commands.append(.setNodeLiveness(id: id, alive: false))
                }
            }
        }
        guard !commands.isEmpty else { return }
        let controller = self.controller
        let logger = self.logger
        let inFlight = self.membershipInFlight
        let acquired = inFlight.withLockedValue { busy -> Bool in
            if busy { return false }
            busy = true
            return true
        }
        guard acquired else { return }
        Task {
            for c in commands {
                do {
                    try await controller.submit(c, timeout: .seconds(2))
                    logger.info("controller: membership recorded", metadata: ["change": "\(c)"])
                } catch {
                    logger.debug("controller: membership change not recorded: \(error)")
                }
            }
            inFlight.withLockedValue { $0 = false }
        }
    }
    private let membershipInFlight = NIOLockedValueBox(false)
    /// When this controller leader first saw each dead node dead (a new leader starts the grace period again).
    private let deadSince = NIOLockedValueBox([Int32: ContinuousClock.Instant]())
    private let deadNodeGrace: Duration

    /// Hands every leadership here to another replica (graceful shutdown), waiting at most `timeout`.
    func transferLeaderships(timeout: Duration) async {
        let led = engine.allStatuses.filter { $0.value.role == .leader && $0.value.voters.count > 1 }.map(\.key)
        guard !led.isEmpty else { return }
        for g in led { _ = try? await engine.transferLeadership(g).get() }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if !engine.allStatuses.values.contains(where: { $0.role == .leader && $0.voters.count > 1 }) { break }
            try? await Task.sleep(for: .milliseconds(20))
        }
        logger.info("leadership handed over", metadata: ["groups": "\(led.count)"])
    }

    /// What `GET /v1/cluster` answers: this node, the controller leader it knows, and the gossip members.
    func statusJSON() -> String {
        struct Member: Encodable {
            var id: Int32
            var gossip: String
            var status: String
            var incarnation: UInt64
            var metadata: [String: String]
        }
        struct GossipCounts: Encodable {
            var sent: Int
            var received: Int
            /// Datagrams no key of the ring opened (another cluster, a wrong key, garbage).
            var droppedUnsealed: Int
            var droppedMalformed: Int
        }
        struct Status: Encodable {
            var node: Int32
            var controller: Int32?
            var deadNodes: [Int32]
            var members: [Member]
            var gossip: GossipCounts?
        }
        let metadata = controller.metadata
        let status = Status(
            node: engine.nodeId.rawValue, controller: controller.leader?.rawValue,
            deadNodes: metadata.deadNodes.sorted(),
            members: (gossip?.members ?? []).map {
                Member(
                    id: $0.id.rawValue, gossip: $0.address, status: $0.status.description,
                    incarnation: $0.incarnation, metadata: $0.metadata)
            }.sorted { $0.id < $1.id },
            gossip: gossip.map {
                let s = $0.statistics
                return GossipCounts(
                    sent: s.sent, received: s.received, droppedUnsealed: s.droppedUnsealed,
                    droppedMalformed: s.droppedMalformed)
            })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(status)).flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
    }

    /// Tells the other members this node is leaving (they record it as left, not dead), then stops gossip.
    func leaveGossip() async {
        livenessTask.withLockedValue { $0?.cancel() }
        try? await gossip?.leave()
    }

    func stop() async {
        livenessTask.withLockedValue { $0?.cancel() }
        try? await gossip?.stop()
        controller.stop()
        try? await engine.stop().get()
        try? await transport.node?.close()
        replicas.closeAll()
        try? metadataLog?.close()
    }
}

/// The engine and controller send through RPC; the RPC node exists only once they do (its handler needs them).
final class RPCTransport: PeerTransport {
    private let box = NIOLockedValueBox<RPCNode?>(nil)
    var node: RPCNode? { box.withLockedValue { $0 } }
    func set(_ node: RPCNode) { box.withLockedValue { $0 = node } }

    func send(to: BrokerId, kind: UInt16, payload: ByteBuffer) {
        node?.send(to: to, kind: kind, payload: payload)
    }

    func request(to: BrokerId, kind: UInt16, payload: ByteBuffer, timeout: TimeAmount) async throws -> ByteBuffer {
        guard let node else { throw ReplicationError.notLeader(leader: .none) }
        return try await node.request(to: to, kind: kind, payload: payload, timeout: timeout)
    }
}

struct DispatchingRPCHandler: RPCHandler {
    let dispatcher: PeerDispatcher
    let broker: Broker
    func handleOneWay(from: BrokerId, kind: UInt16, payload: ByteBuffer) {
        dispatcher.oneWay(from: from, kind: kind, payload: payload)
    }
    func handleRequest(from: BrokerId, kind: UInt16, payload: ByteBuffer) async throws -> ByteBuffer {
        if let answer = try await broker.handlePeerRequest(kind: kind, payload: payload) { return answer }
        return try await dispatcher.request(from: from, kind: kind, payload: payload)
    }
}

/// This node's registration as gossip metadata (what every member learns of it), and back.
enum GossipMetadata {
    static func encode(_ r: NodeRegistration) -> [String: String] {
        var m = [
            "rpc": "\(r.rpcHost):\(r.rpcPort)",
            "kafka": r.listeners.map { "\($0.name)=\($0.host):\($0.port)" }.joined(separator: ","),
            "version": SkeinVersion.current,
        ]
        if let rack = r.rack { m["rack"] = rack }
        return m
    }

    /// The registration a member's metadata describes; nil when it lacks the RPC address or a listener.
    static func decode(_ member: SWIMMember) -> NodeRegistration? {
        func split(_ address: Substring) -> (String, Int32)? {
            guard let colon = address.lastIndex(of: ":"), let port = Int32(address[address.index(after: colon)...])
            else { return nil }
            return (String(address[..<colon]), port)
        }
        guard let rpc = member.metadata["rpc"].flatMap({ split(Substring($0)) }), let kafka = member.metadata["kafka"]
        else { return nil }
        var listeners: [NodeEndpoint] = []
        for item in kafka.split(separator: ",") {
            guard let eq = item.firstIndex(of: "="), let (host, port) = split(item[item.index(after: eq)...]) else {
                return nil
            }
            listeners.append(NodeEndpoint(name: String(item[..<eq]), host: host, port: port))
        }
        guard !listeners.isEmpty else { return nil }
        return NodeRegistration(
            id: member.id.rawValue, rack: member.metadata["rack"], listeners: listeners, rpcHost: rpc.0,
            rpcPort: rpc.1)
    }
}
