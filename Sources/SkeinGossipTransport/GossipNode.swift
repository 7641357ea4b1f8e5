import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SkeinGossip
import SkeinModel

/// The UDP shell around a `SWIMInstance`: one datagram socket both sends and receives, every datagram sealed with
/// the cluster keyring (`GossipKeyring`); the instance lives on one event loop, ticked every `tickInterval`, and its
/// directives are carried out here (send a datagram, report a membership change). Datagrams that the keyring does
/// not open, or that do not decode, are dropped and counted.
public final class GossipNode: @unchecked Sendable {
    public struct Statistics: Hashable, Sendable {
        public var sent = 0
        public var received = 0
        /// Datagrams no key of the ring opened (another cluster, a wrong key, garbage).
        public var droppedUnsealed = 0
        /// Datagrams that opened but did not decode as a SWIM message.
        public var droppedMalformed = 0
    }

    /// A membership change as this node sees it: `from` is nil for a member it did not know.
    public typealias ChangeHandler = @Sendable (SWIMMember, _ from: SWIMMemberStatus?, _ to: SWIMMemberStatus) -> Void

    public let loop: any EventLoop
    private let keyring: GossipKeyring
    private let logger: Logger
    private let now: @Sendable () -> Int64
    private var instance: SWIMInstance  // loop only
    /// Set when the advertised port is the one bound (port 0 in the config): the instance is made again at bind.
    private let advertiseBoundPort: Bool
    private let seed: UInt64
    private var channel: (any Channel)?
    private var ticker: RepeatedTask?
    private var resolved: [String: SocketAddress] = [:]  // loop only
    private let stats = NIOLockedValueBox(Statistics())
    private let view = NIOLockedValueBox([SWIMMember]())
    private let handlers = NIOLockedValueBox([ChangeHandler]())

    /// - Parameters:
    ///   - advertisedAddress: `host:port` as other members reach this one; `host:0` advertises the bound port.
    ///   - incarnation: higher than any this node had before (a wall-clock reading in ms does), so that a restart
    ///     refutes what the cluster remembers of the previous process.
    ///   - now: a monotonic clock in milliseconds (injected for tests).
    public init(
        id: BrokerId, advertisedAddress: String, incarnation: UInt64, metadata: [String: String],
        settings: SWIMSettings = SWIMSettings(), keyring: GossipKeyring, loop: any EventLoop, seed: UInt64,
        logger: Logger, now: @escaping @Sendable () -> Int64 = { Int64(NIODeadline.now().uptimeNanoseconds / 1_000_000) }
    ) {
        self.loop = loop
        self.keyring = keyring
        self.logger = logger
        self.now = now
        advertiseBoundPort = advertisedAddress.hasSuffix(":0")
        self.seed = seed
        instance = SWIMInstance(
            myself: SWIMPeer(id: id, address: advertisedAddress), incarnation: incarnation, metadata: metadata,
            settings: settings, random: SeededRandom(seed: seed), now: now())
    }

    /// Binds the socket (port 0 picks one; `boundPort` tells which) and starts ticking.
    public func bind(host: String, port: Int, tickInterval: TimeAmount = .milliseconds(50)) async throws {
        let channel = try await DatagramBootstrap(group: loop)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            // NIO reads datagrams into 2 KiB buffers by default, which would cut a join reply (up to
            // maxJoinReplyBytes) short; UDP's own limit is just under 64 KiB.
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 65_536))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Inbound(node: self))
                }
            }
            .bind(host: host, port: port).get()
        try await loop.submit {
            if self.advertiseBoundPort, let bound = channel.localAddress?.port {
                let me = self.instance.myself
                let host = me.address.dropLast(2)
                self.instance = SWIMInstance(
                    myself: SWIMPeer(id: me.id, address: "\(host):\(bound)"), incarnation: me.incarnation,
                    metadata: me.metadata, settings: self.instance.settings, random: SeededRandom(seed: self.seed),
                    now: self.now())
            }
            self.channel = channel
            self.ticker = self.loop.scheduleRepeatedTask(initialDelay: tickInterval, delay: tickInterval) { _ in
                self.tick()
            }
            self.publish()
        }.get()
    }

    /// The port the socket is bound to.
    public func localPort() async throws -> Int? { try await loop.submit { self.channel?.localAddress?.port }.get() }

    /// Joins through seed addresses (`host:port`); it keeps retrying until one answers.
    public func join(seeds: [String]) {
        loop.execute { self.carryOut(self.instance.join(seeds: seeds, now: self.now())) }
    }

    /// Announces a graceful leave (others mark this node left, not dead), then stops after `linger`.
    public func leave(linger: TimeAmount = .milliseconds(300)) async throws {
        try await loop.submit { self.carryOut(self.instance.leave(now: self.now())) }.get()
        try await Task.sleep(nanoseconds: UInt64(linger.nanoseconds))
        try await stop()
    }

    /// Stops at once, like a crash: nothing is announced.
    public func stop() async throws {
        let channel = try await loop.submit { () -> (any Channel)? in
            self.ticker?.cancel()
            self.ticker = nil
            defer { self.channel = nil }
            return self.channel
        }.get()
        try await channel?.close()
    }

    /// New metadata (addresses, rack, version) gossiped with this node's next alive message.
    public func updateMetadata(_ metadata: [String: String]) {
        loop.execute { self.instance.updateMetadata(metadata) }
    }

    public func onChange(_ handler: @escaping ChangeHandler) { handlers.withLockedValue { $0.append(handler) } }

    /// The members this node knows, itself included, as of the last event.
    public var members: [SWIMMember] { view.withLockedValue { $0 } }
    public var statistics: Statistics { stats.withLockedValue { $0 } }

    // MARK: - Loop

    private func tick() {
        let t = now()
        guard t >= instance.nextDeadline else { return }
        carryOut(instance.onTick(now: t))
    }

    fileprivate func received(_ envelope: AddressedEnvelope<ByteBuffer>) {
        stats.withLockedValue { $0.received += 1 }
        guard let plain = keyring.open(Array(envelope.data.readableBytesView)) else {
            stats.withLockedValue { $0.droppedUnsealed += 1 }
            return
        }
        let message: SWIMMessage
        do {
            message = try SWIMCodec.decode(plain)
        } catch {
            stats.withLockedValue { $0.droppedMalformed += 1 }
            logger.debug("malformed gossip", metadata: ["from": "\(envelope.remoteAddress)", "error": "\(error)"])
            return
        }
        let from = Self.addressString(envelope.remoteAddress)
        carryOut(instance.onMessage(from: from, message: message, now: now()))
    }

    private func carryOut(_ directives: [SWIMDirective]) {
        var changed = false
        for d in directives {
            switch d {
            case .send(let to, let message):
                send(SWIMCodec.encode(message), to: to)
            case .membershipChanged(let member, let from, let to):
                changed = true
                logger.info(
                    "gossip: member \(from.map(\.description) ?? "new") -> \(to)",
                    metadata: ["member": "\(member.peer)", "incarnation": "\(member.incarnation)"])
                for h in handlers.withLockedValue({ $0 }) { h(member, from, to) }
            }
        }
        if changed || view.withLockedValue({ $0.isEmpty }) { publish() }
    }

    private func publish() {
        let all = [instance.myself] + instance.members.filter { $0.id != instance.id }
        view.withLockedValue { $0 = all }
    }

    private func send(_ plaintext: [UInt8], to address: String) {
        guard let channel else { return }
        guard let remote = resolve(address) else {
            logger.debug("cannot resolve gossip address", metadata: ["address": "\(address)"])
            return
        }
        let sealed = keyring.seal(plaintext)
        var buffer = channel.allocator.buffer(capacity: sealed.count)
        buffer.writeBytes(sealed)
        channel.writeAndFlush(AddressedEnvelope(remoteAddress: remote, data: buffer), promise: nil)
        stats.withLockedValue { $0.sent += 1 }
    }

    private func resolve(_ address: String) -> SocketAddress? {
        if let known = resolved[address] { return known }
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
            return nil
        }
        var host = String(address[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let socket =
            (try? SocketAddress(ipAddress: host, port: port))
            ?? (try? SocketAddress.makeAddressResolvingHost(host, port: port))
        if let socket { resolved[address] = socket }
        return socket
    }

    static func addressString(_ address: SocketAddress) -> String {
        let host = address.ipAddress ?? "?"
        let port = address.port ?? 0
        return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    private final class Inbound: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        let node: GossipNode
        init(node: GossipNode) { self.node = node }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            node.received(unwrapInboundIn(data))
        }
        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            // An ICMP port unreachable from a dead peer surfaces here; gossip carries on.
            node.logger.debug("gossip socket error", metadata: ["error": "\(error)"])
        }
    }
}
