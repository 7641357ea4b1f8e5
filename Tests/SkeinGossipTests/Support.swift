import SkeinGossip
import SkeinModel

// Helpers for driving single instances by hand and reading their directives.

func address(_ id: Int32) -> String { "node-\(id):7946" }
func peer(_ id: Int32) -> SWIMPeer { SWIMPeer(id: BrokerId(id), address: address(id)) }

/// A member with id `id` that already knows `members` (alive at incarnation 1), learned through a join reply so
/// that nothing is queued about them.
func makeInstance(
    _ id: Int32, knowing members: [Int32] = [], settings: SWIMSettings = SWIMSettings(), incarnation: UInt64 = 1,
    seed: UInt64 = 7, now: Int64 = 0
) -> SWIMInstance {
    var instance = SWIMInstance(
        myself: peer(id), incarnation: incarnation, metadata: ["rack": "r\(id)"], settings: settings,
        random: SeededRandom(seed: seed), now: now)
    if !members.isEmpty {
        let gossip = members.map { SWIMGossip.alive(peer($0), incarnation: 1, metadata: [:]) }
        _ = instance.onMessage(
            from: address(members[0]),
            message: .ack(from: BrokerId(members[0]), target: nil, sequence: 0, gossip: gossip),
            now: now)
    }
    return instance
}

extension SWIMDirective {
    var sent: (to: String, message: SWIMMessage)? {
        if case .send(let to, let message) = self { return (to, message) }
        return nil
    }
    var change: (member: SWIMMember, from: SWIMMemberStatus?, to: SWIMMemberStatus)? {
        if case .membershipChanged(let m, let from, let to) = self { return (m, from, to) }
        return nil
    }
}

extension Array where Element == SWIMDirective {
    var sends: [(to: String, message: SWIMMessage)] { compactMap(\.sent) }
    var changes: [(member: SWIMMember, from: SWIMMemberStatus?, to: SWIMMemberStatus)] { compactMap(\.change) }
    var pings: [(to: String, target: BrokerId?, sequence: UInt64, gossip: [SWIMGossip])] {
        sends.compactMap {
            if case .ping(_, let target, let seq, let gossip) = $0.message { return ($0.to, target, seq, gossip) }
            return nil
        }
    }
    var pingReqs: [(to: String, target: SWIMPeer, sequence: UInt64)] {
        sends.compactMap {
            if case .pingReq(_, let target, let seq, _) = $0.message { return ($0.to, target, seq) }
            return nil
        }
    }
    var acks: [(to: String, target: BrokerId?, sequence: UInt64, gossip: [SWIMGossip])] {
        sends.compactMap {
            if case .ack(_, let target, let seq, let gossip) = $0.message { return ($0.to, target, seq, gossip) }
            return nil
        }
    }
    var nacks: [(to: String, target: BrokerId, sequence: UInt64)] {
        sends.compactMap {
            if case .nack(_, let target, let seq, _) = $0.message { return ($0.to, target, seq) }
            return nil
        }
    }
}

extension SWIMInstance {
    /// Ticks at the next deadline; returns the time and what came out.
    mutating func tickToNextDeadline() -> (now: Int64, directives: [SWIMDirective]) {
        let now = nextDeadline
        return (now, onTick(now: now))
    }

    /// Ticks deadline by deadline until a probe (a ping with a target) goes out; returns it and the time.
    mutating func tickUntilProbe(limit: Int = 100) -> (now: Int64, target: BrokerId, sequence: UInt64)? {
        for _ in 0..<limit {
            let (now, directives) = tickToNextDeadline()
            if let ping = directives.pings.first(where: { $0.target != nil }) {
                return (now, ping.target!, ping.sequence)
            }
        }
        return nil
    }
}
