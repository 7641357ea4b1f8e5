import NIOCore
import SkeinModel
import SkeinTLS

/// What a node does with the messages its peers send it.
public protocol RPCHandler: Sendable {
    /// A one-way message from an authenticated peer (`from` comes from its verified certificate). Called on the
    /// connection's event loop, in the order the peer sent them: it must not block.
    func handleOneWay(from: BrokerId, kind: UInt16, payload: ByteBuffer)
    /// A request from an authenticated peer; the returned bytes are the response. A thrown error goes back to the
    /// caller as `RPCError.remote(String)`.
    func handleRequest(from: BrokerId, kind: UInt16, payload: ByteBuffer) async throws -> ByteBuffer
}

/// How a node runs its internal RPC.
public struct RPCConfiguration: Sendable {
    public var nodeId: BrokerId
    public var host: String
    /// 0 picks a free port (tests).
    public var port: Int
    /// The node's certificate must carry `nodeId` (`ClusterCertificates` issues such certificates).
    public var tls: TLSMaterial
    /// The largest frame accepted or sent (header and payload); larger frames close the connection.
    public var maxFrameSize: Int
    public var connectTimeout: TimeAmount
    /// A connection whose TLS handshake (and identity check) has not finished by then is closed.
    public var handshakeTimeout: TimeAmount
    /// Messages waiting for a peer's connection (while connecting, or while the socket is full) up to this many
    /// bytes; beyond it the oldest are dropped. A single message is always taken into an empty queue.
    public var maxQueuedBytesPerPeer: Int
    /// Reconnection backoff after a failure: doubles from `initialBackoff` up to `maxBackoff`.
    public var initialBackoff: TimeAmount
    public var maxBackoff: TimeAmount

    public init(
        nodeId: BrokerId, host: String = "127.0.0.1", port: Int, tls: TLSMaterial, maxFrameSize: Int = 64 * 1024 * 1024,
        connectTimeout: TimeAmount = .seconds(2), handshakeTimeout: TimeAmount = .seconds(5),
        maxQueuedBytesPerPeer: Int = 8 * 1024 * 1024, initialBackoff: TimeAmount = .milliseconds(50),
        maxBackoff: TimeAmount = .seconds(1)
    ) {
        self.nodeId = nodeId
        self.host = host
        self.port = port
        self.tls = tls
        self.maxFrameSize = maxFrameSize
        self.connectTimeout = connectTimeout
        self.handshakeTimeout = handshakeTimeout
        self.maxQueuedBytesPerPeer = maxQueuedBytesPerPeer
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
    }
}

/// Why a request did not get a response.
public enum RPCError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The peer's handler threw; its description.
    case remote(String)
    case timeout(peer: BrokerId, after: TimeAmount)
    /// The connection that carried the request closed before the response came.
    case connectionClosed(peer: BrokerId)
    /// The request could not be sent: no address, the peer is unreachable (in backoff), or its queue overflowed.
    case unreachable(peer: BrokerId, reason: String)
    case payloadTooLarge(size: Int, limit: Int)
    /// The local node is closed.
    case nodeClosed
    /// The node cannot start with its configuration.
    case invalidConfiguration(String)

    public var description: String {
        switch self {
        case .remote(let message): return "the peer's handler failed: \(message)"
        case .timeout(let peer, let after): return "no response from node \(peer) within \(after)"
        case .connectionClosed(let peer): return "the connection to node \(peer) closed before the response"
        case .unreachable(let peer, let reason): return "node \(peer) is unreachable: \(reason)"
        case .payloadTooLarge(let size, let limit): return "frame of \(size) bytes exceeds the limit of \(limit)"
        case .nodeClosed: return "the RPC node is closed"
        case .invalidConfiguration(let message): return "invalid RPC configuration: \(message)"
        }
    }
}

/// Totals since the node started, for metrics.
public struct RPCCounters: Sendable, Equatable {
    /// One-way messages and requests written to a connection.
    public var messagesSent: UInt64 = 0
    /// One-way messages and requests received from authenticated peers.
    public var messagesReceived: UInt64 = 0
    /// One-way messages and requests never written: no address, peer unreachable, queue bound, node closed.
    public var messagesDropped: UInt64 = 0
    /// Connections refused at the TLS handshake (no certificate, another CA) or for a wrong node identity.
    public var handshakeFailures: UInt64 = 0
    /// Connections closed for a malformed frame.
    public var malformedFrames: UInt64 = 0
    public var requestTimeouts: UInt64 = 0
    /// Outbound connections established (handshake and identity checked).
    public var connectionsEstablished: UInt64 = 0

    public init() {}
}
