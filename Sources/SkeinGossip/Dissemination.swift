import SkeinModel

/// The updates waiting to be piggybacked (SWIM §4.1): at most one per member, the newest replacing older ones,
/// each sent a bounded number of times. Updates sent fewer times go first, then newer ones, as in SWIM's
/// "prefer recent updates" so that fresh news spreads before old news repeats.
struct DisseminationQueue: Sendable {
    struct Entry: Sendable {
        var gossip: SWIMGossip
        var transmissions: Int
        /// Enqueue order, newest highest: the tie-break, and a total order so that selection never depends on
        /// dictionary order (which differs between processes).
        var serial: UInt64
        var size: Int
    }

    private(set) var entries: [BrokerId: Entry] = [:]
    private var serial: UInt64 = 0

    var isEmpty: Bool { entries.isEmpty }

    /// Queues `gossip`, replacing whatever was queued about the same member, with its send count reset.
    mutating func enqueue(_ gossip: SWIMGossip) {
        serial += 1
        entries[gossip.subject] = Entry(
            gossip: gossip, transmissions: 0, serial: serial, size: SWIMCodec.encodedSize(gossip))
    }

    mutating func remove(about subject: BrokerId) { entries[subject] = nil }

    /// Takes updates for one message, within `budget` bytes, counting a transmission for each and dropping the
    /// ones sent `limit` times. `pinned` goes first whatever its rank (Lifeguard's buddy system: the suspect
    /// hears of its suspicion from the member probing it); it counts as a transmission of the queued update about
    /// the same member, if any.
    mutating func take(budget: Int, limit: Int, pinned: SWIMGossip? = nil) -> [SWIMGossip] {
        var chosen: [SWIMGossip] = []
        var used = 0
        if let pinned {
            chosen.append(pinned)
            used += SWIMCodec.encodedSize(pinned)
            if entries[pinned.subject]?.gossip == pinned { count(pinned.subject, limit: limit) }
        }
        guard !entries.isEmpty else { return chosen }
        let ranked = entries.values.sorted {
            $0.transmissions != $1.transmissions ? $0.transmissions < $1.transmissions : $0.serial > $1.serial
        }
        for entry in ranked {
            let subject = entry.gossip.subject
            if subject == pinned?.subject { continue }
            if entry.transmissions >= limit {
                entries[subject] = nil
                continue
            }
            guard used + entry.size <= budget else { continue }
            chosen.append(entry.gossip)
            used += entry.size
            count(subject, limit: limit)
        }
        return chosen
    }

    private mutating func count(_ subject: BrokerId, limit: Int) {
        guard var entry = entries[subject] else { return }
        entry.transmissions += 1
        entries[subject] = entry.transmissions >= limit ? nil : entry
    }

    /// Queued updates, most urgent first.
    var pending: [SWIMGossip] {
        entries.values.sorted {
            $0.transmissions != $1.transmissions ? $0.transmissions < $1.transmissions : $0.serial > $1.serial
        }.map(\.gossip)
    }
}
