import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import SkeinBroker
import SkeinModel
import SkeinRPC
import SkeinReplication
import SkeinStorage

/// The replication side of a node in cluster mode: RPC over mutual TLS, the replication engine, the controller
/// and the local replicas, wired together.
final class ClusterServices: Sendable {
    let engine: ReplicationEngine
    let controller: ClusterController
    let replicas: LocalReplicas
    let metadataLog: PartitionLog?
    private let transport: RPCTransport
    private let logger: Logger

    var context: ClusterContext { ClusterContext(controller: controller, engine: engine, replicas: replicas) }
    var rpc: RPCNode? { transport.node }

    init(config: NodeConfig, cluster: ClusterConfig, loop: any EventLoop, logger: Logger) throws {
        let nodeId = BrokerId(config.nodeId)
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
        let engine = self.engine
        controller.onChange = { metadata in
            replicas.reconcile(metadata)
            engine.setPeers(metadata.nodes.keys.map { BrokerId($0) })
        }
    }

    /// Starts RPC, joins the controller group and starts ticking. `broker` is woken when high watermarks move.
    func start(config: NodeConfig, cluster: ClusterConfig, group: any EventLoopGroup, broker: Broker) async throws {
        engine.onHighWatermark = { _, _ in broker.notifyDataAvailable() }
        let dispatcher = PeerDispatcher(engine: engine, controller: controller)
        let rpc = try await RPCNode.start(
            configuration: RPCConfiguration(
                nodeId: BrokerId(config.nodeId), host: cluster.rpcHost, port: cluster.rpcPort, tls: config.tls!,
                maxQueuedBytesPerPeer: 256 << 20),
            group: group, handler: DispatchingRPCHandler(dispatcher: dispatcher), logger: logger)
        transport.set(rpc)
        for peer in cluster.peers { rpc.setPeerAddress(BrokerId(peer.id), host: peer.host, port: peer.port) }
        engine.setPeers(cluster.peers.map { BrokerId($0.id) })
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

    func stop() async {
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
    func handleOneWay(from: BrokerId, kind: UInt16, payload: ByteBuffer) {
        dispatcher.oneWay(from: from, kind: kind, payload: payload)
    }
    func handleRequest(from: BrokerId, kind: UInt16, payload: ByteBuffer) async throws -> ByteBuffer {
        try await dispatcher.request(from: from, kind: kind, payload: payload)
    }
}
