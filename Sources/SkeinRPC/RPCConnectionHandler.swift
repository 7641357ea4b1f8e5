import Logging
import NIOCore
import NIOSSL
import NIOTLS
import SkeinModel
import SkeinTLS

/// A message waiting to be written to a peer.
struct OutboundMessage: Sendable {
    var type: RPCFrameType
    var correlationId: UInt64
    var kind: UInt16
    var payload: ByteBuffer

    /// The bytes it takes on the wire, length prefix included.
    var size: Int { RPCFrame.lengthSize + RPCFrame.headerSize + payload.readableBytes }
}

/// The last handler of every RPC connection, inbound or outbound. After the TLS handshake it reads the peer's
/// node id from its certificate (and, dialing, checks it is the node it dialed); then it hands frames to the
/// node's `RPCHandler` or to the pending request they answer, and writes what the node gives it.
final class RPCConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = RPCFrame
    typealias OutboundOut = ByteBuffer

    enum Role {
        /// Accepted: the peer is whoever its certificate says.
        case inbound
        /// Dialed for node `expected`: its certificate must say so.
        case outbound(expected: BrokerId)
    }

    /// Payloads at least this large are written as their own buffer rather than copied into the batch buffer.
    static let copyLimit = 16 * 1024
    /// Batch buffers are written once they reach this size.
    static let batchBufferSize = 64 * 1024

    let role: Role
    /// Unique per node: ties pending requests to the connection that carried them.
    let serial: UInt64
    private let node: RPCNode
    private var logger: Logger
    private var context: ChannelHandlerContext?
    private(set) var peerId: BrokerId?
    private var established = false
    /// A connection counts at most one failure.
    private var failed = false
    private var handshakeTimer: Scheduled<Void>?
    /// Messages received since the last read batch ended, added to the counters in one step.
    private var received: UInt64 = 0
    private var flushScheduled = false

    init(node: RPCNode, role: Role, serial: UInt64, logger: Logger) {
        self.node = node
        self.role = role
        self.serial = serial
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { startHandshakeTimer(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        startHandshakeTimer(context: context)
        context.fireChannelActive()
    }

    private func startHandshakeTimer(context: ChannelHandlerContext) {
        guard handshakeTimer == nil, !established else { return }
        logger[metadataKey: "remote"] = "\(context.remoteAddress.map { "\($0)" } ?? "?")"
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        handshakeTimer = context.eventLoop.scheduleTask(in: node.configuration.handshakeTimeout) {
            let (handler, context) = bound.value
            guard !handler.established else { return }
            handler.refuse(context: context, reason: "the TLS handshake did not finish in time")
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event {
            verifyPeer(context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// The certificate is already verified against the cluster CA; what remains is whose it is.
    private func verifyPeer(context: ChannelHandlerContext) {
        let id: BrokerId
        do {
            guard let certificate = try context.pipeline.syncOperations.nioSSL_peerCertificate() else {
                throw TLSMaterialError.noNodeIdentity(reason: "the peer presented no certificate")
            }
            id = try NodeIdentity.nodeId(of: certificate)
        } catch {
            refuse(context: context, reason: "\(error)")
            return
        }
        if case .outbound(let expected) = role, id != expected {
            refuse(context: context, reason: "dialed node \(expected) but its certificate is for node \(id)")
            return
        }
        peerId = id
        logger[metadataKey: "peer"] = "\(id)"
        established = true
        handshakeTimer?.cancel()
        handshakeTimer = nil
        switch role {
        case .inbound:
            logger.debug("accepted an RPC connection")
        case .outbound:
            node.outboundEstablished(
                peer: id, serial: serial, channel: context.channel,
                handler: NIOLoopBound(self, eventLoop: context.eventLoop))
        }
    }

    /// Closes a connection that failed the handshake or the identity check, counting and logging it once.
    private func refuse(context: ChannelHandlerContext, reason: String) {
        if !failed {
            failed = true
            node.count { $0.handshakeFailures += 1 }
            switch role {
            case .inbound:
                logger.warning(
                    "refused an RPC connection: \(reason) (a peer needs a node certificate issued by the cluster CA)")
            case .outbound(let expected):
                logger.warning("RPC connection to node \(expected) refused: \(reason)")
                node.outboundFailed(peer: expected, serial: serial, reason: reason, logged: true)
            }
        }
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard established, let from = peerId else {
            // TLS delivers no application data before the handshake completes; this cannot happen.
            refuse(context: context, reason: "a frame arrived before the peer was identified")
            return
        }
        switch frame.type {
        case .oneWay:
            received += 1
            node.handler.handleOneWay(from: from, kind: frame.kind, payload: frame.payload)
        case .request:
            received += 1
            serve(frame, from: from, context: context)
        case .response:
            node.finishRequest(frame.correlationId, onConnection: serial, .success(frame.payload))
        case .error:
            node.finishRequest(
                frame.correlationId, onConnection: serial, .failure(.remote(String(buffer: frame.payload))))
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        reportReceived()
        context.fireChannelReadComplete()
    }

    private func reportReceived() {
        guard received > 0 else { return }
        let n = received
        received = 0
        node.count { $0.messagesReceived += n }
    }

    /// Runs the request's handler off the event loop and writes its answer on this connection.
    private func serve(_ frame: RPCFrame, from: BrokerId, context: ChannelHandlerContext) {
        let handler = node.handler
        let eventLoop = context.eventLoop
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        Task {
            let answer: RPCFrame
            do {
                let response = try await handler.handleRequest(from: from, kind: frame.kind, payload: frame.payload)
                answer = RPCFrame(
                    type: .response, correlationId: frame.correlationId, kind: frame.kind, payload: response)
            } catch {
                answer = RPCFrame(
                    type: .error, correlationId: frame.correlationId, kind: frame.kind,
                    payload: ByteBuffer(string: "\(error)"))
            }
            eventLoop.execute { bound.value.writeAnswer(answer) }
        }
    }

    private func writeAnswer(_ frame: RPCFrame) {
        guard let context, context.channel.isActive else { return }
        var frame = frame
        let size = RPCFrame.headerSize + frame.payload.readableBytes
        if size > node.configuration.maxFrameSize {
            frame = RPCFrame(
                type: .error, correlationId: frame.correlationId, kind: frame.kind,
                payload: ByteBuffer(
                    string: "response of \(size) bytes exceeds the limit of \(node.configuration.maxFrameSize)"))
        }
        var buffer = context.channel.allocator.buffer(
            capacity: RPCFrame.lengthSize + RPCFrame.headerSize + frame.payload.readableBytes)
        frame.encode(into: &buffer)
        context.write(wrapOutboundOut(buffer), promise: nil)
        // Answers finished in the same event loop tick share one flush.
        guard !flushScheduled else { return }
        flushScheduled = true
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (handler, context) = bound.value
            handler.flushScheduled = false
            context.flush()
        }
    }

    /// Writes a batch of messages and flushes once. Small frames are copied into shared buffers (fewer, larger
    /// TLS records); large payloads go as their own buffer, uncopied. Returns false when the connection is gone.
    func write(_ batch: [OutboundMessage]) -> Bool {
        guard let context, context.channel.isActive else { return false }
        let allocator = context.channel.allocator
        let total = batch.reduce(0) { $0 + $1.size }
        var buffer = allocator.buffer(capacity: min(total, Self.batchBufferSize))
        for message in batch {
            RPCFrame.writeHeader(
                type: message.type, correlationId: message.correlationId, kind: message.kind,
                payloadLength: message.payload.readableBytes, into: &buffer)
            if message.payload.readableBytes >= Self.copyLimit {
                context.write(wrapOutboundOut(buffer), promise: nil)
                context.write(wrapOutboundOut(message.payload), promise: nil)
                buffer = allocator.buffer(capacity: Self.batchBufferSize)
            } else {
                buffer.writeImmutableBuffer(message.payload)
                if buffer.readableBytes >= Self.batchBufferSize {
                    context.write(wrapOutboundOut(buffer), promise: nil)
                    buffer = allocator.buffer(capacity: Self.batchBufferSize)
                }
            }
        }
        if buffer.readableBytes > 0 { context.write(wrapOutboundOut(buffer), promise: nil) }
        context.flush()
        return true
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, established, case .outbound = role, let peerId {
            node.scheduleDrain(peer: peerId)
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let frameError = error as? RPCFrameError {
            if !failed {
                failed = true
                node.count { $0.malformedFrames += 1 }
                logger.warning("closing an RPC connection: malformed frame: \(frameError)")
            }
            context.close(promise: nil)
        } else if !established {
            refuse(context: context, reason: "TLS handshake failed: \(error)")
        } else {
            logger.debug("RPC connection error", metadata: ["error": "\(error)"])
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        handshakeTimer?.cancel()
        handshakeTimer = nil
        reportReceived()
        node.connectionClosed(serial: serial, peer: peerId)
        if case .outbound(let expected) = role {
            if established {
                node.outboundClosed(peer: expected, serial: serial)
            } else if !failed {
                failed = true
                node.outboundFailed(peer: expected, serial: serial, reason: "closed during the TLS handshake")
            }
        }
        context.fireChannelInactive()
    }
}
