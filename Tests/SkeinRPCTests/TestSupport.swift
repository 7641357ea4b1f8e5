import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import SkeinModel
import SkeinRPC
import SkeinTLS

/// A fresh directory under the temp dir; removed by `removeDirectory`.
func makeTemporaryDirectory(_ label: String) -> String {
    let path = NSTemporaryDirectory() + "skein-\(label)-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func removeDirectory(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

/// Polls `condition` every 10 ms until it holds or `timeout` passes (a failure bound, not a measurement).
func eventually(timeout: Duration = .seconds(30), _ condition: @escaping @Sendable () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

/// Records one-way messages; answers requests by kind: 1 echoes "<this node> got <payload> from <from>",
/// 2 throws, 3 waits on `gate` then answers "late".
final class RecordingHandler: RPCHandler {
    struct Message: Equatable, Sendable {
        var from: BrokerId
        var kind: UInt16
        var payload: String
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String { "deliberate failure" }
    }

    let nodeId: BrokerId
    let gate: Gate
    private let box = NIOLockedValueBox<[Message]>([])

    init(nodeId: BrokerId, gate: Gate = Gate()) {
        self.nodeId = nodeId
        self.gate = gate
    }

    var messages: [Message] { box.withLockedValue { $0 } }
    func messages(from: BrokerId) -> [String] { messages.filter { $0.from == from }.map(\.payload) }

    func handleOneWay(from: BrokerId, kind: UInt16, payload: ByteBuffer) {
        let message = Message(from: from, kind: kind, payload: String(buffer: payload))
        box.withLockedValue { $0.append(message) }
    }

    func handleRequest(from: BrokerId, kind: UInt16, payload: ByteBuffer) async throws -> ByteBuffer {
        switch kind {
        case 2:
            throw Failure()
        case 3:
            await gate.wait()
            return ByteBuffer(string: "late")
        default:
            return ByteBuffer(string: "\(nodeId) got \(String(buffer: payload)) from \(from)")
        }
    }
}

/// Holds request handlers until opened.
actor Gate {
    private var open = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func wait() async {
        if open { return }
        await withCheckedContinuation { waiters.append($0) }
    }

    func openGate() {
        open = true
        for waiter in waiters { waiter.resume() }
        waiters.removeAll()
    }
}

/// Nodes with certificates from one CA in a temp directory, on one event loop group.
final class TestCluster: @unchecked Sendable {
    let directory: String
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    var nodes: [BrokerId: RPCNode] = [:]
    var handlers: [BrokerId: RecordingHandler] = [:]
    let logger: Logger

    init(certificates ids: [BrokerId]) throws {
        directory = makeTemporaryDirectory("rpc")
        var logger = Logger(label: "rpc-test")
        logger.logLevel = .warning
        self.logger = logger
        _ = try ClusterCertificates.create(directory: directory, nodeIds: ids)
    }

    @discardableResult
    func start(_ id: BrokerId, port: Int = 0, tls: TLSMaterial? = nil, handshakeTimeout: TimeAmount = .seconds(20))
        async throws -> RPCNode
    {
        let handler = handlers[id] ?? RecordingHandler(nodeId: id)
        let node = try await RPCNode.start(
            configuration: RPCConfiguration(
                nodeId: id, port: port, tls: tls ?? TLSMaterial.node(id, directory: directory),
                handshakeTimeout: handshakeTimeout),
            group: group, handler: handler, logger: logger)
        nodes[id] = node
        handlers[id] = handler
        return node
    }

    func port(_ id: BrokerId) -> Int { nodes[id]!.localAddress!.port! }

    /// Every node knows every other node's address.
    func connectAll() {
        for (id, node) in nodes {
            for other in nodes.keys where other != id {
                node.setPeerAddress(other, host: "127.0.0.1", port: port(other))
            }
        }
    }

    func shutdown() async {
        for node in nodes.values { try? await node.close() }
        nodes.removeAll()
        try? await group.shutdownGracefully()
        removeDirectory(directory)
    }

    /// Runs `body` over a cluster of `ids` (all started) and always cleans up.
    static func with(
        _ ids: [BrokerId], certificates: [BrokerId] = [], _ body: (TestCluster) async throws -> Void
    ) async throws {
        let cluster = try TestCluster(certificates: ids + certificates)
        do {
            for id in ids { try await cluster.start(id) }
            try await body(cluster)
        } catch {
            await cluster.shutdown()
            throw error
        }
        await cluster.shutdown()
    }
}

/// A bare TLS client speaking raw bytes to an RPC port, to play a misbehaving peer.
final class RawTLSClient: Sendable {
    let channel: any Channel

    /// Records what the channel's pipeline saw.
    final class Events: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let handshakeDone = NIOLockedValueBox(false)
        let received = NIOLockedValueBox(0)

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if "\(event)".contains("handshakeCompleted") { handshakeDone.withLockedValue { $0 = true } }
            context.fireUserInboundEventTriggered(event)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let bytes = unwrapInboundIn(data).readableBytes
            received.withLockedValue { $0 += bytes }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }

    let events: Events

    private init(channel: any Channel, events: Events) {
        self.channel = channel
        self.events = events
    }

    static func connect(port: Int, configuration: TLSConfiguration, group: any EventLoopGroup) async throws
        -> RawTLSClient
    {
        let context = try NIOSSLContext(configuration: configuration)
        let events = Events()
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        try NIOSSLClientHandler(context: context, serverHostname: nil), events,
                    ])
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
        return RawTLSClient(channel: channel, events: events)
    }

    func write(_ bytes: ByteBuffer) async throws {
        try await channel.writeAndFlush(bytes)
    }

    var isClosed: Bool { !channel.isActive }
}

/// A one-way frame as `RPCNode` writes it.
func oneWayFrame(kind: UInt16, _ text: String) -> ByteBuffer {
    var buffer = ByteBuffer()
    RPCFrame(type: .oneWay, correlationId: 0, kind: kind, payload: ByteBuffer(string: text)).encode(into: &buffer)
    return buffer
}
