import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import SkeinModel
import SkeinTLS

/// Node-to-node messaging over mutual TLS: one-way messages (Raft) and requests with responses.
///
/// Every node listens for its peers and dials each peer once, lazily, on first use; messages to a peer leave in
/// the order they were sent for as long as that connection lives. Both sides present certificates issued by
/// the cluster CA (the only trust root); a node learns who a peer is from its certificate, and checks that the
/// node it dialed is the one it meant. A failed connection is retried with capped exponential backoff, and
/// messages sent meanwhile are dropped and counted (Raft retransmits).
public final class RPCNode: Sendable {
    public let configuration: RPCConfiguration
    let handler: any RPCHandler
    let logger: Logger
    private let group: any EventLoopGroup
    private let clientContext: NIOSSLContext
    private let serverChannel = NIOLockedValueBox<(any Channel)?>(nil)
    private let state = NIOLockedValueBox(NodeState())
    private let requests = NIOLockedValueBox(RequestTable())
    private let counterBox = NIOLockedValueBox(RPCCounters())

    private struct NodeState {
        var closed = false
        var peers: [BrokerId: OutboundPeer] = [:]
        /// Accepted connections, closed with the node.
        var inbound: [UInt64: any Channel] = [:]
        var nextSerial: UInt64 = 0
    }

    private struct PendingRequest {
        let promise: EventLoopPromise<ByteBuffer>
        let peer: BrokerId
        var timer: Scheduled<Void>?
        /// The connection that carried the request; nil while it waits in the queue.
        var connection: UInt64?
    }

    private struct RequestTable {
        var closed = false
        var nextCorrelationId: UInt64 = 0
        var pending: [UInt64: PendingRequest] = [:]
    }

    static let writeBufferWaterMark = ChannelOptions.Types.WriteBufferWaterMark(low: 1 << 20, high: 4 << 20)

    private init(
        configuration: RPCConfiguration, group: any EventLoopGroup, handler: any RPCHandler, logger: Logger,
        clientContext: NIOSSLContext
    ) {
        self.configuration = configuration
        self.group = group
        self.handler = handler
        self.logger = logger
        self.clientContext = clientContext
    }

    /// Loads the TLS material (whose certificate must be for `configuration.nodeId`) and starts listening.
    public static func start(
        configuration: RPCConfiguration, group: any EventLoopGroup, handler: any RPCHandler, logger: Logger
    ) async throws -> RPCNode {
        guard configuration.maxFrameSize >= RPCFrame.headerSize, configuration.maxFrameSize <= Int(UInt32.max) else {
            throw RPCError.invalidConfiguration("maxFrameSize \(configuration.maxFrameSize) is out of range")
        }
        let material = try configuration.tls.load()
        guard material.nodeId == configuration.nodeId else {
            throw RPCError.invalidConfiguration(
                "certificate \(configuration.tls.certificatePath) is for "
                    + (material.nodeId.map { "node \($0)" } ?? "no node") + ", this node is \(configuration.nodeId)")
        }
        let serverContext = try material.makeContext(material.rpcServerConfiguration())
        let clientContext = try material.makeContext(material.rpcClientConfiguration())
        var logger = logger
        logger[metadataKey: "node"] = "\(configuration.nodeId)"
        let node = RPCNode(
            configuration: configuration, group: group, handler: handler, logger: logger, clientContext: clientContext)
        let maxFrameSize = configuration.maxFrameSize
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.socketOption(.so_keepalive), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: writeBufferWaterMark)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let serial = node.registerInbound(channel) else { throw RPCError.nodeClosed }
                    try channel.pipeline.syncOperations.addHandlers([
                        NIOSSLServerHandler(context: serverContext),
                        ByteToMessageHandler(RPCFrameDecoder(maxFrameSize: maxFrameSize)),
                        RPCConnectionHandler(node: node, role: .inbound, serial: serial, logger: node.logger),
                    ])
                    channel.closeFuture.whenComplete { _ in node.unregisterInbound(serial) }
                }
            }
            .bind(host: configuration.host, port: configuration.port)
            .get()
        node.serverChannel.withLockedValue { $0 = channel }
        logger.info("RPC listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
        return node
    }

    /// The address actually bound (the port when 0 was asked for).
    public var localAddress: SocketAddress? { serverChannel.withLockedValue { $0?.localAddress } }

    /// The totals so far.
    public var counters: RPCCounters { counterBox.withLockedValue { $0 } }

    func count(_ update: (inout RPCCounters) -> Void) { counterBox.withLockedValue(update) }

    // MARK: address book

    /// Where peer `id` listens (static config today, gossip later). Changing an address drops the old
    /// connection; the next message dials the new one.
    public func setPeerAddress(_ id: BrokerId, host: String, port: Int) {
        let address = OutboundPeer.Address(host: host, port: port)
        guard
            let peer = state.withLockedValue({ s -> OutboundPeer? in
                if s.closed { return nil }
                if let peer = s.peers[id] { return peer }
                let peer = OutboundPeer(id: id, eventLoop: group.next())
                s.peers[id] = peer
                return peer
            })
        else { return }
        let (old, connect) = peer.state.withLockedValue { s -> ((any Channel)?, UInt64?) in
            guard s.address != address, !s.isClosed else { return (nil, nil) }
            s.address = address
            s.failures = 0
            var old: (any Channel)?
            if case .connected(let connection) = s.phase { old = connection.channel }
            if s.queue.isEmpty {
                s.phase = .idle
                return (old, nil)
            }
            let serial = nextSerial()
            s.phase = .connecting(serial: serial)
            return (old, serial)
        }
        if let old {
            logger.info("peer address changed, dropping its connection", metadata: ["peer": "\(id)"])
            old.close(promise: nil)
        }
        if let connect { self.connect(peer, serial: connect, address: address) }
    }

    /// Forgets peer `id`: closes its connection and drops what waits for it.
    public func removePeer(_ id: BrokerId) {
        guard let peer = state.withLockedValue({ $0.peers.removeValue(forKey: id) }) else { return }
        let (channel, dropped) = peer.close()
        channel?.close(promise: nil)
        drop(dropped, error: .unreachable(peer: id, reason: "removed from the address book"))
    }

    private func nextSerial() -> UInt64 {
        state.withLockedValue {
            $0.nextSerial += 1
            return $0.nextSerial
        }
    }

    private func registerInbound(_ channel: any Channel) -> UInt64? {
        state.withLockedValue { s in
            guard !s.closed else { return nil }
            s.nextSerial += 1
            s.inbound[s.nextSerial] = channel
            return s.nextSerial
        }
    }

    private func unregisterInbound(_ serial: UInt64) {
        _ = state.withLockedValue { $0.inbound.removeValue(forKey: serial) }
    }

    // MARK: sending

    /// Fire-and-forget; never blocks, never throws. Dials the peer if need be and queues a bounded amount while
    /// connecting; drops (and counts) when the peer has no address, is unreachable (in backoff) or the frame is
    /// larger than `maxFrameSize`.
    public func send(to id: BrokerId, kind: UInt16, payload: ByteBuffer) {
        let message = OutboundMessage(type: .oneWay, correlationId: 0, kind: kind, payload: payload)
        guard message.size - RPCFrame.lengthSize <= configuration.maxFrameSize else {
            count { $0.messagesDropped += 1 }
            logger.warning(
                "dropping a message larger than the frame limit",
                metadata: ["peer": "\(id)", "bytes": "\(message.size)", "kind": "\(kind)"])
            return
        }
        enqueue(message, to: id)
    }

    /// Sends a request and waits for its response, which comes back on the same connection. Fails with
    /// `RPCError`: `.remote` when the peer's handler threw, `.timeout`, `.connectionClosed`, `.unreachable`.
    public func request(to id: BrokerId, kind: UInt16, payload: ByteBuffer, timeout: TimeAmount) async throws
        -> ByteBuffer
    {
        let size = RPCFrame.headerSize + payload.readableBytes
        guard size <= configuration.maxFrameSize else {
            throw RPCError.payloadTooLarge(size: size, limit: configuration.maxFrameSize)
        }
        guard let peer = state.withLockedValue({ $0.peers[id] }) else {
            count { $0.messagesDropped += 1 }
            throw RPCError.unreachable(peer: id, reason: "no address known")
        }
        let promise = peer.eventLoop.makePromise(of: ByteBuffer.self)
        guard
            let correlationId = requests.withLockedValue({ t -> UInt64? in
                guard !t.closed else { return nil }
                t.nextCorrelationId += 1
                t.pending[t.nextCorrelationId] = PendingRequest(promise: promise, peer: id)
                return t.nextCorrelationId
            })
        else {
            promise.fail(RPCError.nodeClosed)
            throw RPCError.nodeClosed
        }
        let timer = peer.eventLoop.scheduleTask(in: timeout) {
            _ = self.finishRequest(correlationId, onConnection: nil, .failure(.timeout(peer: id, after: timeout)))
        }
        requests.withLockedValue { t in
            if t.pending[correlationId] != nil {
                t.pending[correlationId]!.timer = timer
            } else {
                timer.cancel()
            }
        }
        enqueue(OutboundMessage(type: .request, correlationId: correlationId, kind: kind, payload: payload), to: id)
        return try await promise.futureResult.get()
    }

    private enum EnqueueAction {
        case none
        case drop(RPCError)
        case connect(serial: UInt64, address: OutboundPeer.Address)
        case drain
    }

    private func enqueue(_ message: OutboundMessage, to id: BrokerId) {
        guard let peer = state.withLockedValue({ $0.peers[id] }) else {
            drop([message], error: .unreachable(peer: id, reason: "no address known"))
            return
        }
        let bound = configuration.maxQueuedBytesPerPeer
        let (action, evicted) = peer.state.withLockedValue { s -> (EnqueueAction, [OutboundMessage]) in
            switch s.phase {
            case .closed:
                return (.drop(.nodeClosed), [])
            case .backoff:
                return (.drop(.unreachable(peer: id, reason: "the connection failed, retrying after backoff")), [])
            case .idle:
                guard let address = s.address else {
                    return (.drop(.unreachable(peer: id, reason: "no address known")), [])
                }
                let evicted = s.append(message, maxBytes: bound)
                let serial = nextSerial()
                s.phase = .connecting(serial: serial)
                return (.connect(serial: serial, address: address), evicted)
            case .connecting:
                return (.none, s.append(message, maxBytes: bound))
            case .connected:
                let evicted = s.append(message, maxBytes: bound)
                if s.drainScheduled { return (.none, evicted) }
                s.drainScheduled = true
                return (.drain, evicted)
            }
        }
        if !evicted.isEmpty {
            drop(evicted, error: .unreachable(peer: id, reason: "more than \(bound) bytes queued"))
        }
        switch action {
        case .none:
            break
        case .drop(let error):
            drop([message], error: error)
        case .connect(let serial, let address):
            connect(peer, serial: serial, address: address)
        case .drain:
            peer.eventLoop.execute { self.drain(peer) }
        }
    }

    /// Counts messages that will never be written and fails the requests among them.
    private func drop(_ messages: [OutboundMessage], error: RPCError) {
        guard !messages.isEmpty else { return }
        count { $0.messagesDropped += UInt64(messages.count) }
        for message in messages where message.type == .request {
            finishRequest(message.correlationId, onConnection: nil, .failure(error))
        }
    }

    /// Writes everything queued for a connected peer, with one flush. Runs on the peer's event loop, which is
    /// its connection's.
    private func drain(_ peer: OutboundPeer) {
        let work = peer.state.withLockedValue { s -> (OutboundPeer.Connection, [OutboundMessage])? in
            s.drainScheduled = false
            guard case .connected(let connection) = s.phase, !s.queue.isEmpty, connection.channel.isWritable else {
                return nil  // a writability change drains again
            }
            let batch = Array(s.queue)
            s.queue.removeAll(keepingCapacity: true)
            s.queuedBytes = 0
            return (connection, batch)
        }
        guard let (connection, batch) = work else { return }
        let requestIds = batch.lazy.filter { $0.type == .request }.map(\.correlationId)
        if !requestIds.isEmpty {
            requests.withLockedValue { t in
                for id in requestIds where t.pending[id] != nil { t.pending[id]!.connection = connection.serial }
            }
        }
        if connection.handler.value.write(batch) {
            count { $0.messagesSent += UInt64(batch.count) }
        } else {
            drop(batch, error: .connectionClosed(peer: peer.id))
        }
    }

    /// The connection's socket can take more: write what queued up meanwhile.
    func scheduleDrain(peer id: BrokerId) {
        guard let peer = state.withLockedValue({ $0.peers[id] }) else { return }
        let schedule = peer.state.withLockedValue { s -> Bool in
            guard case .connected = s.phase, !s.queue.isEmpty, !s.drainScheduled else { return false }
            s.drainScheduled = true
            return true
        }
        if schedule { peer.eventLoop.execute { self.drain(peer) } }
    }

    // MARK: connections

    private func connect(_ peer: OutboundPeer, serial: UInt64, address: OutboundPeer.Address) {
        let clientContext = self.clientContext
        let maxFrameSize = configuration.maxFrameSize
        let expected = peer.id
        ClientBootstrap(group: peer.eventLoop)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelOption(.writeBufferWaterMark, value: Self.writeBufferWaterMark)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        try NIOSSLClientHandler(context: clientContext, serverHostname: nil),
                        ByteToMessageHandler(RPCFrameDecoder(maxFrameSize: maxFrameSize)),
                        RPCConnectionHandler(
                            node: self, role: .outbound(expected: expected), serial: serial, logger: self.logger),
                    ])
                }
            }
            .connect(host: address.host, port: address.port)
            .whenFailure { error in
                self.outboundFailed(peer: expected, serial: serial, reason: "cannot connect to \(address): \(error)")
            }
    }

    /// The handshake and the identity check passed: the queue can go.
    func outboundEstablished(
        peer id: BrokerId, serial: UInt64, channel: any Channel, handler: NIOLoopBound<RPCConnectionHandler>
    ) {
        guard let peer = state.withLockedValue({ $0.peers[id] }) else {
            channel.close(promise: nil)
            return
        }
        let connection = OutboundPeer.Connection(
            channel: channel, handler: handler, serial: serial, since: .now())
        let (accepted, drainNow) = peer.state.withLockedValue { s -> (Bool, Bool) in
            guard case .connecting(serial) = s.phase else { return (false, false) }
            s.phase = .connected(connection)
            guard !s.queue.isEmpty, !s.drainScheduled else { return (true, false) }
            s.drainScheduled = true
            return (true, true)
        }
        guard accepted else {
            channel.close(promise: nil)  // the address changed meanwhile, or the node closed
            return
        }
        count { $0.connectionsEstablished += 1 }
        logger.debug("RPC connection established", metadata: ["peer": "\(id)"])
        if drainNow { drain(peer) }  // on the connection's event loop already
    }

    /// Dialing failed (TCP, TLS or identity): back off, dropping what was queued. `logged`: the handler already
    /// logged the failure as a warning.
    func outboundFailed(peer id: BrokerId, serial: UInt64, reason: String, logged: Bool = false) {
        guard let peer = state.withLockedValue({ $0.peers[id] }) else { return }
        let result = peer.state.withLockedValue { s -> (Int, [OutboundMessage])? in
            guard case .connecting(serial) = s.phase else { return nil }
            s.failures += 1
            s.phase = .backoff(serial: serial)
            return (s.failures, s.takeQueue())
        }
        guard let (failures, dropped) = result else { return }
        if failures == 1 && !logged {
            logger.warning(
                "cannot reach RPC peer, retrying with backoff", metadata: ["peer": "\(id)", "why": "\(reason)"])
        } else {
            logger.debug("cannot reach RPC peer", metadata: ["peer": "\(id)", "why": "\(reason)"])
        }
        drop(dropped, error: .unreachable(peer: id, reason: reason))
        scheduleBackoffEnd(peer, serial: serial, failures: failures)
    }

    /// An established connection closed: back off briefly (longer if it keeps happening), then dial again on
    /// the next message.
    func outboundClosed(peer id: BrokerId, serial: UInt64) {
        guard let peer = state.withLockedValue({ $0.peers[id] }) else { return }
        let maxBackoff = configuration.maxBackoff
        let result = peer.state.withLockedValue { s -> (Int, [OutboundMessage])? in
            guard case .connected(let connection) = s.phase, connection.serial == serial else { return nil }
            // A connection that lived a while was healthy: start the backoff over.
            if NIODeadline.now() - connection.since >= maxBackoff { s.failures = 0 }
            s.failures += 1
            s.phase = .backoff(serial: serial)
            return (s.failures, s.takeQueue())
        }
        guard let (failures, dropped) = result else { return }
        logger.info("RPC connection closed", metadata: ["peer": "\(id)"])
        drop(dropped, error: .connectionClosed(peer: id))
        scheduleBackoffEnd(peer, serial: serial, failures: failures)
    }

    private func scheduleBackoffEnd(_ peer: OutboundPeer, serial: UInt64, failures: Int) {
        let initial = configuration.initialBackoff.nanoseconds
        let shift = Int64(min(failures - 1, 30))
        let delay = TimeAmount.nanoseconds(min(initial << shift, configuration.maxBackoff.nanoseconds))
        peer.eventLoop.scheduleTask(in: delay) {
            peer.state.withLockedValue { s in
                if case .backoff(serial) = s.phase { s.phase = .idle }
            }
        }
    }

    /// Any connection closed: the requests it carried will get no response.
    func connectionClosed(serial: UInt64, peer: BrokerId?) {
        let orphaned = requests.withLockedValue { t -> [PendingRequest] in
            let ids = t.pending.filter { $0.value.connection == serial }.map(\.key)
            return ids.compactMap { t.pending.removeValue(forKey: $0) }
        }
        // Completed outside the lock; removed from the table, so nothing else completes them.
        for entry in orphaned {
            entry.timer?.cancel()
            entry.promise.fail(RPCError.connectionClosed(peer: entry.peer))
        }
    }

    // MARK: requests

    /// Completes a pending request once: whichever of response, error, timeout, drop or close comes first. With
    /// a connection, only a request carried by that connection matches. Returns whether it was still pending.
    @discardableResult
    func finishRequest(_ id: UInt64, onConnection connection: UInt64?, _ result: Result<ByteBuffer, RPCError>)
        -> Bool
    {
        let entry = requests.withLockedValue { t -> PendingRequest? in
            guard let entry = t.pending[id] else { return nil }
            if let connection, entry.connection != connection { return nil }
            return t.pending.removeValue(forKey: id)
        }
        guard let entry else { return false }
        entry.timer?.cancel()
        if case .failure(.timeout) = result { count { $0.requestTimeouts += 1 } }
        switch result {
        case .success(let bytes): entry.promise.succeed(bytes)
        case .failure(let error): entry.promise.fail(error)
        }
        return true
    }

    // MARK: closing

    /// Stops listening, closes every connection, fails pending requests with `RPCError.nodeClosed`.
    public func close() async throws {
        let (peers, inbound) = state.withLockedValue { s -> ([OutboundPeer], [any Channel]) in
            s.closed = true
            return (Array(s.peers.values), Array(s.inbound.values))
        }
        var channels = inbound
        if let server = serverChannel.withLockedValue({ $0 }) { channels.append(server) }
        for peer in peers {
            let (channel, dropped) = peer.close()
            if let channel { channels.append(channel) }
            drop(dropped, error: .nodeClosed)
        }
        let pending = requests.withLockedValue { t -> [PendingRequest] in
            t.closed = true
            defer { t.pending.removeAll() }
            return Array(t.pending.values)
        }
        for entry in pending {
            entry.timer?.cancel()
            entry.promise.fail(RPCError.nodeClosed)
        }
        for channel in channels {
            channel.close(promise: nil)
            try? await channel.closeFuture.get()
        }
        logger.info("RPC closed")
    }
}
