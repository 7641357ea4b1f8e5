import SkeinModel

/// Where a member is reached: its node id and its gossip (UDP) address, `host:port`.
public struct SWIMPeer: Hashable, Sendable, CustomStringConvertible {
    public var id: BrokerId
    public var address: String
    public init(id: BrokerId, address: String) {
        self.id = id
        self.address = address
    }
    public var description: String { "\(id)@\(address)" }
}

/// A member's state as one instance sees it (SWIM §4.2 plus a graceful leave). The order of precedence between
/// gossip about the same member is decided by incarnation first, then by these rules (see `SWIMInstance`).
public enum SWIMMemberStatus: UInt8, Hashable, Sendable, CustomStringConvertible {
    case alive = 1
    /// Failed a probe; declared dead unless it refutes (bumps its incarnation) within the suspicion timeout.
    case suspect = 2
    /// Confirmed failed. Kept as a tombstone for a while so that stale gossip cannot revive it.
    case dead = 3
    /// Left on purpose (`SWIMInstance.leave`): never suspected, never probed.
    case left = 4

    /// Alive or suspect: still probed, still counted in `n` for the timeouts.
    public var isLive: Bool { self == .alive || self == .suspect }
    public var description: String {
        switch self {
        case .alive: "alive"
        case .suspect: "suspect"
        case .dead: "dead"
        case .left: "left"
        }
    }
}

/// One member of the cluster: identity, address, incarnation, status, and the metadata its alive gossip carries
/// (Kafka, RPC and HTTP addresses, rack, version, ...). Gossip reports liveness and addresses only; it never
/// decides leadership (that is Raft's).
public struct SWIMMember: Hashable, Sendable, CustomStringConvertible {
    public var peer: SWIMPeer
    /// Raised only by the member itself: to refute a suspicion, to publish new metadata, or by restarting with a
    /// higher starting value (a clock reading), so that a restart beats everything said about the old process.
    public var incarnation: UInt64
    public var status: SWIMMemberStatus
    public var metadata: [String: String]

    public init(peer: SWIMPeer, incarnation: UInt64, status: SWIMMemberStatus, metadata: [String: String] = [:]) {
        self.peer = peer
        self.incarnation = incarnation
        self.status = status
        self.metadata = metadata
    }
    public var id: BrokerId { peer.id }
    public var address: String { peer.address }
    public var description: String { "\(peer) \(status)#\(incarnation)" }
}

/// One membership update, piggybacked on protocol messages (SWIM §4.1's "infection-style" dissemination).
/// Each is about one member (`subject`) at one incarnation.
public enum SWIMGossip: Hashable, Sendable, CustomStringConvertible {
    /// The member is alive at this incarnation, reached at this address, with this metadata.
    case alive(SWIMPeer, incarnation: UInt64, metadata: [String: String])
    /// `from` failed to get an ack from the member at this incarnation. Distinct `from`s suspecting the same
    /// incarnation are Lifeguard's independent confirmations.
    case suspect(BrokerId, incarnation: UInt64, from: BrokerId)
    /// `from` declared the member dead at this incarnation (its suspicion timed out).
    case dead(BrokerId, incarnation: UInt64, from: BrokerId)
    /// The member left gracefully at this incarnation.
    case left(BrokerId, incarnation: UInt64)

    /// The member the update is about.
    public var subject: BrokerId {
        switch self {
        case .alive(let peer, _, _): peer.id
        case .suspect(let id, _, _), .dead(let id, _, _), .left(let id, _): id
        }
    }

    public var incarnation: UInt64 {
        switch self {
        case .alive(_, let inc, _), .suspect(_, let inc, _), .dead(_, let inc, _), .left(_, let inc): inc
        }
    }

    public var description: String {
        switch self {
        case .alive(let peer, let inc, _): "alive(\(peer)#\(inc))"
        case .suspect(let id, let inc, let from): "suspect(\(id)#\(inc) by \(from))"
        case .dead(let id, let inc, let from): "dead(\(id)#\(inc) by \(from))"
        case .left(let id, let inc): "left(\(id)#\(inc))"
        }
    }
}

/// A protocol message between members (SWIM's ping, ping-req and ack, plus Lifeguard's nack), each carrying
/// piggybacked gossip. `from` is the sender's node id; replies go to the address a message came from.
/// `sequence` matches a reply to its probe.
public enum SWIMMessage: Hashable, Sendable, CustomStringConvertible {
    /// A direct probe of `target`. A nil target is a join (or periodic sync) request: "whoever you are at this
    /// address, answer with your membership". A ping meant for another id is not answered, so a new process at
    /// an old address never makes the old one look alive.
    case ping(from: BrokerId, target: BrokerId?, sequence: UInt64, gossip: [SWIMGossip])
    /// Asks the receiver to probe `target` on the sender's behalf (SWIM's indirect probe).
    case pingReq(from: BrokerId, target: SWIMPeer, sequence: UInt64, gossip: [SWIMGossip])
    /// `target` answered the probe with this sequence (directly, or relayed through `from`). A nil target
    /// answers a join request, and its gossip is the responder's membership.
    case ack(from: BrokerId, target: BrokerId?, sequence: UInt64, gossip: [SWIMGossip])
    /// Lifeguard §IV-A: the relay `from` is alive and tried, but `target` did not answer in time. A prober that
    /// does not even get the nacks it expects learns that it is itself the slow one. A relay that knows the
    /// target left answers with a nack at once, carrying the leave.
    case nack(from: BrokerId, target: BrokerId, sequence: UInt64, gossip: [SWIMGossip])

    public var from: BrokerId {
        switch self {
        case .ping(let from, _, _, _), .pingReq(let from, _, _, _), .ack(let from, _, _, _),
            .nack(let from, _, _, _):
            from
        }
    }

    public var sequence: UInt64 {
        switch self {
        case .ping(_, _, let seq, _), .pingReq(_, _, let seq, _), .ack(_, _, let seq, _), .nack(_, _, let seq, _):
            seq
        }
    }

    public var gossip: [SWIMGossip] {
        switch self {
        case .ping(_, _, _, let g), .pingReq(_, _, _, let g), .ack(_, _, _, let g), .nack(_, _, _, let g): g
        }
    }

    public var description: String {
        switch self {
        case .ping(let from, let target, let seq, let g):
            "ping(\(from)->\(target.map(String.init(describing:)) ?? "any") #\(seq) \(g))"
        case .pingReq(let from, let target, let seq, let g): "pingReq(\(from)->\(target) #\(seq) \(g))"
        case .ack(let from, let target, let seq, let g):
            "ack(\(from) for \(target.map(String.init(describing:)) ?? "join") #\(seq) \(g.count) gossip)"
        case .nack(let from, let target, let seq, let g): "nack(\(from) for \(target) #\(seq) \(g))"
        }
    }
}

/// What an instance asks its shell to do. The shell switches over these and carries them out in order.
public enum SWIMDirective: Hashable, Sendable, CustomStringConvertible {
    /// Send `message` to the gossip address `to` (encode with `SWIMCodec`, seal, send one datagram).
    case send(to: String, SWIMMessage)
    /// This instance's view of a member changed: `from` is nil for a member it did not know. Alive to alive
    /// means the member came back with a higher incarnation and a new address or metadata.
    case membershipChanged(SWIMMember, from: SWIMMemberStatus?, to: SWIMMemberStatus)

    public var description: String {
        switch self {
        case .send(let to, let message): "send(\(to), \(message))"
        case .membershipChanged(let m, let from, let to):
            "membershipChanged(\(m.peer)#\(m.incarnation) \(from.map(\.description) ?? "new") -> \(to))"
        }
    }
}
