import SkeinModel

/// One member's SWIM failure detector and membership, with the Lifeguard refinements (Das et al. 2002;
/// Dadgar et al. 2017): a pure state machine. Inputs are method calls carrying the time (`now`, milliseconds of
/// an injected monotonic clock); outputs are `SWIMDirective`s. It reads no clock, does no I/O and draws
/// randomness only from the injected generator, so a seed replays a run.
///
/// The shell calls `onTick(now:)` whenever `nextDeadline` has passed (calling it early or often is harmless),
/// `onMessage(from:message:now:)` for each datagram that decoded, and carries out the directives in order.
///
/// Protocol period (SWIM §3, §4.3): every probe interval the next member in a shuffled round-robin order gets a
/// ping; without an ack within the ping timeout, k members are asked to ping it (ping-req); without any ack by
/// the end of the period it becomes suspect, and dead when the suspicion times out unrefuted. Lifeguard adds
/// the Local Health Multiplier (LHM) that stretches the period and timeout of a member that sees signs of being
/// slow itself (§IV-A), nacks from relays as one such sign, a suspicion timeout that starts long and shrinks with
/// independent confirmations (§IV-B), and piggybacking a suspicion on the ping to the suspect (§IV-C).
public struct SWIMInstance: Sendable {
    public let settings: SWIMSettings
    /// This member, as it announces itself.
    public private(set) var myself: SWIMMember
    /// Lifeguard's Local Health Multiplier, 0...S: probe interval and ping timeout are scaled by LHM + 1.
    /// Always 0 with Lifeguard off.
    public private(set) var localHealth = 0

    private var records: [BrokerId: Record] = [:]
    /// Others that are alive or suspect; n for the timeouts is this plus one.
    private var liveOthers = 0
    private var probeOrder: [BrokerId] = []
    private var probeCursor = 0
    private var probe: Probe?
    private var nextProbeAt: Int64
    private var periods = 0
    private var nextSyncAt: Int64
    /// Indirect probes this member makes for others, by the sequence number of its own ping to the target.
    private var relays: [UInt64: Relay] = [:]
    private var suspicions: [BrokerId: Suspicion] = [:]
    private var dissemination = DisseminationQueue()
    private var seeds: [String] = []
    /// When this member last asked a sender it did not know for its membership (rate limit).
    private var syncRequestedAt: [BrokerId: Int64] = [:]
    private var sequence: UInt64 = 0
    private var random: SeededRandom

    struct Record: Sendable {
        var member: SWIMMember
        /// When the status last changed: dead and left members are forgotten a retention period later.
        var since: Int64
    }

    struct Probe: Sendable {
        var target: SWIMPeer
        /// The incarnation probed: a failure says nothing about a later one (a restart during the period).
        var incarnation: UInt64
        var sequence: UInt64
        var directDeadline: Int64
        var indirectSent = false
        var relaysAsked = 0
        var nacks = 0
        var acked = false
    }

    struct Relay: Sendable {
        /// The prober's address and its sequence number: the ack or nack goes back under it.
        var origin: String
        var originSequence: UInt64
        var target: BrokerId
        /// When to send the nack (nil once sent, or with Lifeguard off).
        var nackAt: Int64?
        var expiresAt: Int64
    }

    struct Suspicion: Sendable {
        var incarnation: UInt64
        var startedAt: Int64
        /// n when the suspicion started: the timeout does not move as members come and go.
        var members: Int
        /// The first suspecter, then each independent confirmer.
        var suspecters: [BrokerId]
        var deadline: Int64
    }

    /// Protocol periods until the next sync after a sync (or join) reply that brought news.
    static let eagerSyncPeriods: Int64 = 5

    /// A member about to start. `incarnation` should exceed anything an earlier process with the same id could
    /// have reached (a wall-clock reading in milliseconds does), so that a restart beats the old process's
    /// suspicions and death. `now` sets the phase of the first protocol period, which is random so that members
    /// started together do not probe in lockstep.
    public init(
        myself: SWIMPeer, incarnation: UInt64 = 0, metadata: [String: String] = [:],
        settings: SWIMSettings = SWIMSettings(), random: SeededRandom, now: Int64
    ) {
        precondition(settings.probeIntervalMillis > 0 && settings.pingTimeoutMillis > 0, "timeouts must be > 0")
        precondition(settings.pingTimeoutMillis < settings.probeIntervalMillis, "ping timeout must be < interval")
        self.settings = settings
        self.myself = SWIMMember(peer: myself, incarnation: incarnation, status: .alive, metadata: metadata)
        var random = random
        nextProbeAt = now + Int64.random(in: 0..<settings.probeIntervalMillis, using: &random)
        nextSyncAt = now + settings.syncIntervalMillis
        // Sequence numbers start at a random point, so that a late ack meant for a previous process at the same
        // address is unlikely to match a probe of this one.
        sequence = random.next() >> 32
        self.random = random
        dissemination.enqueue(selfAlive)
    }

    // MARK: - What it knows

    public var id: BrokerId { myself.id }
    public var incarnation: UInt64 { myself.incarnation }
    /// Whether `leave(now:)` was called.
    public var isLeaving: Bool { myself.status == .left }

    /// Every other member known, dead and left ones included until forgotten, by id.
    public var members: [SWIMMember] { records.values.map(\.member).sorted { $0.id < $1.id } }

    /// What this member thinks of `id` (itself included).
    public func member(_ id: BrokerId) -> SWIMMember? { id == myself.id ? myself : records[id]?.member }

    /// n in the papers' formulas: the members alive or suspect, this one included.
    public var liveMemberCount: Int { liveOthers + 1 }

    /// The current protocol period: the probe interval scaled by the LHM.
    public var probeIntervalMillis: Int64 { settings.probeIntervalMillis * Int64(localHealth + 1) }

    /// The current ping timeout, scaled by the LHM.
    public var pingTimeoutMillis: Int64 { settings.pingTimeoutMillis * Int64(localHealth + 1) }

    /// When a suspected member will be declared dead unless it refutes or more confirmations arrive.
    public func suspicionDeadline(of id: BrokerId) -> Int64? { suspicions[id]?.deadline }

    /// Independent confirmations of the suspicion of `id` (suspecters after the first).
    public func suspicionConfirmations(of id: BrokerId) -> Int? { suspicions[id].map { $0.suspecters.count - 1 } }

    /// Updates waiting to be piggybacked, most urgent first.
    public var pendingGossip: [SWIMGossip] { dissemination.pending }

    /// The earliest time `onTick` has something to do.
    public var nextDeadline: Int64 {
        var deadline = nextProbeAt
        if let p = probe, !p.acked, !p.indirectSent { deadline = min(deadline, p.directDeadline) }
        for relay in relays.values {
            if let nackAt = relay.nackAt { deadline = min(deadline, nackAt) }
            deadline = min(deadline, relay.expiresAt)
        }
        for s in suspicions.values { deadline = min(deadline, s.deadline) }
        return deadline
    }

    // MARK: - Inputs

    /// Joins through `seeds` (gossip addresses): each gets a join request, answered with its membership. Until
    /// some member is known, the requests are repeated every protocol period.
    public mutating func join(seeds: [String], now: Int64) -> [SWIMDirective] {
        var unique: [String] = []
        for s in seeds where s != myself.address && !unique.contains(s) { unique.append(s) }
        self.seeds = unique
        var out: [SWIMDirective] = []
        for seed in unique { sendJoinRequest(to: seed, &out) }
        return out
    }

    /// Leaves gracefully: a `left` update goes straight to a few members and keeps being piggybacked on pings
    /// (one per period) until its retransmit budget is spent. The shell stops the member after that
    /// (`hasPendingGossip` false) or after a few periods. Probing and refuting stop at once.
    public mutating func leave(now: Int64) -> [SWIMDirective] {
        guard !isLeaving else { return [] }
        myself.status = .left
        probe = nil
        dissemination.enqueue(.left(myself.id, incarnation: myself.incarnation))
        var out: [SWIMDirective] = []
        let live = records.values.filter { $0.member.status.isLive }.map(\.member).sorted { $0.id < $1.id }
        for target in pick(settings.indirectProbeCount + 1, from: live) {
            out.append(
                .send(
                    to: target.address,
                    .ping(
                        from: myself.id, target: target.id, sequence: nextSequence(), gossip: piggyback())))
        }
        nextProbeAt = now + settings.probeIntervalMillis
        return out
    }

    /// Whether updates are still waiting to be piggybacked (after `leave`, whether the news is out).
    public var hasPendingGossip: Bool { !dissemination.isEmpty }

    /// Publishes new metadata: a higher incarnation, so that it overrides the old alive gossip everywhere.
    public mutating func updateMetadata(_ metadata: [String: String]) {
        guard !isLeaving else { return }
        myself.metadata = metadata
        myself.incarnation += 1
        dissemination.enqueue(selfAlive)
    }

    /// Runs every timer that is due: relays' nacks, indirect probes, suspicion timeouts, and at the end of a
    /// protocol period the verdict on its probe and the next probe.
    public mutating func onTick(now: Int64) -> [SWIMDirective] {
        var out: [SWIMDirective] = []
        expireRelays(now, &out)
        if let p = probe, !p.acked, !p.indirectSent, now >= p.directDeadline { sendIndirectProbes(&out) }
        expireSuspicions(now, &out)
        guard now >= nextProbeAt else { return out }
        guard !isLeaving else {
            // A leaving member only spreads its news: one ping per period while updates are pending.
            nextProbeAt = now + settings.probeIntervalMillis
            let live = records.values.filter { $0.member.status.isLive }.map(\.member).sorted { $0.id < $1.id }
            if !dissemination.isEmpty, let target = pick(1, from: live).first {
                out.append(
                    .send(
                        to: target.address,
                        .ping(
                            from: myself.id, target: target.id, sequence: nextSequence(), gossip: piggyback())))
            }
            return out
        }
        concludeProbe(now, &out)
        periods += 1
        forgetDeparted(now)
        if liveOthers == 0 {
            for seed in seeds { sendJoinRequest(to: seed, &out) }
        } else if settings.syncIntervalMillis > 0 && now >= nextSyncAt {
            nextSyncAt = now + settings.syncIntervalMillis
            let live = records.values.filter { $0.member.status == .alive }.map(\.member).sorted { $0.id < $1.id }
            if let peer = pick(1, from: live).first { sendJoinRequest(to: peer.address, &out) }
        }
        if settings.deadProbePeriods > 0 && periods % settings.deadProbePeriods == 0 { probeTheDead(&out) }
        startProbe(now, &out)
        return out
    }

    /// Handles one message that arrived from `address` (where replies go).
    public mutating func onMessage(from address: String, message: SWIMMessage, now: Int64) -> [SWIMDirective] {
        var out: [SWIMDirective] = []
        guard message.from != myself.id else { return out }
        // A join reply is the responder's whole membership: taken in, but not news worth spreading again.
        var isJoinReply = false
        if case .ack(_, nil, _, _) = message { isJoinReply = true }
        for gossip in message.gossip { apply(gossip, now: now, disseminate: !isJoinReply, &out) }
        if isJoinReply && !out.isEmpty && settings.syncIntervalMillis > 0 {
            // The snapshot taught us something: membership is still settling (a join storm, a healed
            // partition), so sync again soon rather than a whole interval later.
            nextSyncAt = min(nextSyncAt, now + settings.probeIntervalMillis * Self.eagerSyncPeriods)
        }

        switch message {
        case .ping(let from, let target, let seq, _):
            guard let target else {
                out.append(.send(to: address, .ack(from: myself.id, target: nil, sequence: seq, gossip: joinReply())))
                return out
            }
            guard target == myself.id else { return out }
            // A sender we think dead or suspect hears it in the ack, so that it refutes if it is wrong; one that
            // probes a member that is leaving hears that it left.
            let pinned = isLeaving ? .left(myself.id, incarnation: myself.incarnation) : notice(about: from)
            out.append(
                .send(
                    to: address,
                    .ack(
                        from: myself.id, target: myself.id, sequence: seq, gossip: piggyback(pinned: pinned))))
            // It knows us but we missed its alive gossip (or think it gone): ask it for its membership, which
            // includes itself. At most once per five periods per sender.
            let known = records[from]?.member.status.isLive ?? false
            let askedRecently = syncRequestedAt[from].map { now - $0 < settings.probeIntervalMillis * 5 } ?? false
            if !known && !isLeaving && !askedRecently {
                syncRequestedAt[from] = now
                sendJoinRequest(to: address, &out)
            }
        case .pingReq(_, let target, let seq, _):
            if let r = records[target.id], r.member.status == .left {
                // The prober missed that the target left: tell it now, before its probe fails and it suspects
                // a member that is gone on purpose.
                let left = SWIMGossip.left(target.id, incarnation: r.member.incarnation)
                out.append(
                    .send(
                        to: address,
                        .nack(
                            from: myself.id, target: target.id, sequence: seq, gossip: piggyback(pinned: left))))
                return out
            }
            guard target.id != myself.id else {
                out.append(
                    .send(
                        to: address,
                        .ack(
                            from: myself.id, target: myself.id, sequence: seq, gossip: piggyback())))
                return out
            }
            let relaySequence = nextSequence()
            let nackAfter = Int64(Double(settings.pingTimeoutMillis) * settings.nackTimeoutRatio)
            relays[relaySequence] = Relay(
                origin: address, originSequence: seq, target: target.id,
                nackAt: settings.lifeguard ? now + nackAfter : nil, expiresAt: now + settings.probeIntervalMillis)
            out.append(
                .send(
                    to: target.address,
                    .ping(
                        from: myself.id, target: target.id, sequence: relaySequence, gossip: piggyback())))
        case .ack(_, let target, let seq, _):
            if let relay = relays[seq] {
                guard target == relay.target else { return out }
                relays[seq] = nil
                out.append(
                    .send(
                        to: relay.origin,
                        .ack(
                            from: myself.id, target: relay.target, sequence: relay.originSequence, gossip: piggyback()))
                )
            } else if var p = probe, p.sequence == seq, target == p.target.id, !p.acked {
                p.acked = true
                probe = p
                adjustLocalHealth(-1)
            }
        case .nack(_, let target, let seq, _):
            if var p = probe, p.sequence == seq, target == p.target.id {
                p.nacks += 1
                probe = p
            }
        }
        return out
    }

    // MARK: - Probing

    private mutating func startProbe(_ now: Int64, _ out: inout [SWIMDirective]) {
        nextProbeAt = now + probeIntervalMillis
        guard let target = nextProbeTarget() else {
            probe = nil
            return
        }
        probe = Probe(
            target: target.peer, incarnation: target.incarnation, sequence: nextSequence(),
            directDeadline: now + pingTimeoutMillis)
        out.append(
            .send(
                to: target.address,
                .ping(
                    from: myself.id, target: target.id, sequence: probe!.sequence,
                    gossip: piggyback(pinned: notice(about: target.id)))))
    }

    /// The next live member in this round's order; a new round gets a fresh shuffle (SWIM §4.3: round-robin
    /// over a random permutation bounds the time until every member is probed).
    private mutating func nextProbeTarget() -> SWIMMember? {
        for _ in 0..<2 {
            while probeCursor < probeOrder.count {
                let id = probeOrder[probeCursor]
                probeCursor += 1
                if let r = records[id], r.member.status.isLive { return r.member }
            }
            var order = records.values.filter { $0.member.status.isLive }.map(\.member.id).sorted()
            shuffle(&order)
            probeOrder = order
            probeCursor = 0
        }
        return nil
    }

    /// A member that became live joins the current round at a random place (SWIM §4.3).
    private mutating func addToProbeOrder(_ id: BrokerId) {
        if let at = probeOrder.firstIndex(of: id), at >= probeCursor { return }
        let position = Int.random(in: probeCursor...probeOrder.count, using: &random)
        probeOrder.insert(id, at: position)
    }

    private mutating func sendIndirectProbes(_ out: inout [SWIMDirective]) {
        guard var p = probe else { return }
        p.indirectSent = true
        let candidates = records.values.filter { $0.member.status == .alive && $0.member.id != p.target.id }
            .map(\.member).sorted { $0.id < $1.id }
        let relays = pick(settings.indirectProbeCount, from: candidates)
        p.relaysAsked = relays.count
        probe = p
        for relay in relays {
            out.append(
                .send(
                    to: relay.address,
                    .pingReq(
                        from: myself.id, target: p.target, sequence: p.sequence, gossip: piggyback())))
        }
    }

    /// The end of a protocol period: a probe without any ack makes its target suspect.
    private mutating func concludeProbe(_ now: Int64, _ out: inout [SWIMDirective]) {
        guard let p = probe else { return }
        probe = nil
        guard !p.acked else { return }
        adjustLocalHealth(+1)
        // Relays that did not even nack: the messages they sent were lost or came too late for us to see them,
        // a sign that we may be the slow one (Lifeguard §IV-A).
        if p.relaysAsked > 0 && p.nacks < p.relaysAsked { adjustLocalHealth(+1) }
        guard let r = records[p.target.id], r.member.status.isLive, r.member.incarnation == p.incarnation else {
            return
        }
        suspect(p.target.id, incarnation: p.incarnation, from: myself.id, now: now, disseminate: true, &out)
    }

    private mutating func expireRelays(_ now: Int64, _ out: inout [SWIMDirective]) {
        guard !relays.isEmpty else { return }
        for seq in relays.keys.sorted() {
            guard var relay = relays[seq] else { continue }
            if let nackAt = relay.nackAt, nackAt <= now {
                relay.nackAt = nil
                out.append(
                    .send(
                        to: relay.origin,
                        .nack(
                            from: myself.id, target: relay.target, sequence: relay.originSequence, gossip: piggyback()))
                )
            }
            relays[seq] = relay.expiresAt <= now ? nil : relay
        }
    }

    /// Pings one random dead member with its death notice: if it is in fact alive (a healed partition), it
    /// refutes, and the refutation spreads. memberlist keeps gossiping to the dead for the same reason.
    private mutating func probeTheDead(_ out: inout [SWIMDirective]) {
        let dead = records.values.filter { $0.member.status == .dead }.map(\.member).sorted { $0.id < $1.id }
        guard let target = pick(1, from: dead).first else { return }
        out.append(
            .send(
                to: target.address,
                .ping(
                    from: myself.id, target: target.id, sequence: nextSequence(),
                    gossip: piggyback(pinned: notice(about: target.id)))))
    }

    private mutating func sendJoinRequest(to address: String, _ out: inout [SWIMDirective]) {
        // Our own alive update always rides along: the responder learns us even when the queue has moved on.
        out.append(
            .send(
                to: address,
                .ping(
                    from: myself.id, target: nil, sequence: nextSequence(), gossip: [selfAlive])))
    }

    /// Regular piggyback, then as much of the membership as fits: alive and suspect members as alive updates
    /// (a suspicion reaches the newcomer by its own probes or by gossip), this member first.
    private mutating func joinReply() -> [SWIMGossip] {
        var gossip = piggyback()
        var used = gossip.reduce(0) { $0 + SWIMCodec.encodedSize($1) }
        var snapshot = records.values.filter { $0.member.status.isLive }.map(\.member).sorted { $0.id < $1.id }
        shuffle(&snapshot)
        for member in [myself] + snapshot {
            let update = SWIMGossip.alive(member.peer, incarnation: member.incarnation, metadata: member.metadata)
            let size = SWIMCodec.encodedSize(update)
            guard used + size <= settings.maxJoinReplyBytes else { continue }
            gossip.append(update)
            used += size
        }
        return gossip
    }

    // MARK: - Gossip

    private var selfAlive: SWIMGossip {
        .alive(myself.peer, incarnation: myself.incarnation, metadata: myself.metadata)
    }

    /// What we hold against `id`, if it is dead (or, with Lifeguard's buddy system, suspect) in our view:
    /// piggybacked first on messages to it, so that it refutes without waiting for the gossip to reach it.
    private func notice(about id: BrokerId) -> SWIMGossip? {
        guard let r = records[id] else { return nil }
        switch r.member.status {
        case .suspect:
            guard settings.lifeguard else { return nil }
            let first = suspicions[id]?.suspecters.first ?? myself.id
            return .suspect(id, incarnation: r.member.incarnation, from: first)
        case .dead: return .dead(id, incarnation: r.member.incarnation, from: myself.id)
        case .alive, .left: return nil
        }
    }

    private mutating func piggyback(pinned: SWIMGossip? = nil) -> [SWIMGossip] {
        // Room for the message header (ids, sequence, a ping-req's target address) besides the gossip.
        dissemination.take(
            budget: settings.maxPacketBytes - 96, limit: settings.retransmitLimit(members: liveMemberCount),
            pinned: pinned)
    }

    /// Merges one update into our view by SWIM's precedence rules: a higher incarnation wins; at the same
    /// incarnation suspect beats alive and dead beats both; only the member itself raises its incarnation.
    /// Whatever changed our view is queued to spread further (unless `disseminate` is false).
    private mutating func apply(
        _ gossip: SWIMGossip, now: Int64, disseminate: Bool, _ out: inout [SWIMDirective]
    ) {
        if gossip.subject == myself.id {
            applyAboutMyself(gossip)
            return
        }
        switch gossip {
        case .alive(let peer, let inc, let metadata):
            let member = SWIMMember(peer: peer, incarnation: inc, status: .alive, metadata: metadata)
            if let r = records[peer.id] {
                guard inc > r.member.incarnation else { return }
                let old = r.member
                records[peer.id] = Record(member: member, since: old.status == .alive ? r.since : now)
                suspicions[peer.id] = nil
                if !old.status.isLive {
                    liveOthers += 1
                    addToProbeOrder(peer.id)
                }
                if old.status != .alive || old.peer != peer || old.metadata != metadata {
                    out.append(.membershipChanged(member, from: old.status, to: .alive))
                }
            } else {
                records[peer.id] = Record(member: member, since: now)
                liveOthers += 1
                addToProbeOrder(peer.id)
                out.append(.membershipChanged(member, from: nil, to: .alive))
            }
        case .suspect(let id, let inc, let from):
            suspect(id, incarnation: inc, from: from, now: now, disseminate: disseminate, &out)
            return
        case .dead(let id, let inc, _):
            guard let r = records[id], inc >= r.member.incarnation else { return }
            guard r.member.status.isLive else {
                // Already gone: just remember the newest incarnation it died at.
                records[id]!.member.incarnation = inc
                return
            }
            setStatus(id, .dead, incarnation: inc, now: now, &out)
        case .left(let id, let inc):
            guard let r = records[id], inc >= r.member.incarnation, r.member.status != .left else { return }
            setStatus(id, .left, incarnation: inc, now: now, &out)
        }
        if disseminate { dissemination.enqueue(gossip) }
    }

    /// A member hearing it is suspect, dead or gone at its current incarnation (or later) refutes: it bumps its
    /// incarnation past the claim and spreads that it is alive (SWIM §4.2). Lifeguard counts having to refute
    /// as a sign of being slow. An alive claim about us with other details is someone else using our id.
    private mutating func applyAboutMyself(_ gossip: SWIMGossip) {
        guard !isLeaving else { return }
        let inc = gossip.incarnation
        switch gossip {
        case .alive(let peer, _, let metadata):
            let conflicting = inc == myself.incarnation && (peer != myself.peer || metadata != myself.metadata)
            guard inc > myself.incarnation || conflicting else { return }
            refute(above: inc)
        case .suspect, .dead, .left:
            guard inc >= myself.incarnation else { return }
            refute(above: inc)
            adjustLocalHealth(+1)
        }
    }

    private mutating func refute(above inc: UInt64) {
        myself.incarnation = max(myself.incarnation, inc) + 1
        dissemination.enqueue(selfAlive)
    }

    /// `from` suspects `id` at `inc`: starts a suspicion, restarts it for a newer incarnation, or counts an
    /// independent confirmation of the current one (Lifeguard §IV-B), which is spread again so that others
    /// count it too.
    private mutating func suspect(
        _ id: BrokerId, incarnation inc: UInt64, from: BrokerId, now: Int64, disseminate: Bool,
        _ out: inout [SWIMDirective]
    ) {
        guard let r = records[id], inc >= r.member.incarnation || !r.member.status.isLive else { return }
        guard r.member.status.isLive else {
            // Someone suspects a member we know is gone: it missed the news, so spread it again (it has
            // long stopped being piggybacked by then). Without this a missed leave ends as a death.
            if disseminate && from != myself.id && inc <= r.member.incarnation {
                dissemination.enqueue(
                    r.member.status == .left
                        ? .left(id, incarnation: r.member.incarnation)
                        : .dead(id, incarnation: r.member.incarnation, from: myself.id))
            }
            return
        }
        let gossip = SWIMGossip.suspect(id, incarnation: inc, from: from)
        if r.member.status == .suspect && inc == r.member.incarnation {
            guard var s = suspicions[id], !s.suspecters.contains(from) else { return }
            s.suspecters.append(from)
            s.deadline =
                s.startedAt
                + settings.suspicionTimeout(members: s.members, confirmations: s.suspecters.count - 1)
            suspicions[id] = s
            if settings.lifeguard && disseminate { dissemination.enqueue(gossip) }
            return
        }
        let n = liveMemberCount
        suspicions[id] = Suspicion(
            incarnation: inc, startedAt: now, members: n, suspecters: [from],
            deadline: now + settings.suspicionTimeout(members: n, confirmations: 0))
        setStatus(id, .suspect, incarnation: inc, now: now, &out)
        if disseminate { dissemination.enqueue(gossip) }
    }

    private mutating func expireSuspicions(_ now: Int64, _ out: inout [SWIMDirective]) {
        guard !suspicions.isEmpty else { return }
        for id in suspicions.keys.sorted() {
            guard let s = suspicions[id], s.deadline <= now else { continue }
            suspicions[id] = nil
            guard let r = records[id], r.member.status == .suspect, r.member.incarnation == s.incarnation else {
                continue
            }
            setStatus(id, .dead, incarnation: s.incarnation, now: now, &out)
            dissemination.enqueue(.dead(id, incarnation: s.incarnation, from: myself.id))
        }
    }

    /// Changes the status of a known member (never to alive: that takes an alive update) and reports it.
    private mutating func setStatus(
        _ id: BrokerId, _ status: SWIMMemberStatus, incarnation: UInt64, now: Int64, _ out: inout [SWIMDirective]
    ) {
        guard var r = records[id] else { return }
        let old = r.member.status
        r.member.status = status
        r.member.incarnation = incarnation
        if old != status { r.since = now }
        records[id] = r
        if old.isLive && !status.isLive { liveOthers -= 1 }
        if status != .suspect { suspicions[id] = nil }
        if old != status { out.append(.membershipChanged(r.member, from: old, to: status)) }
    }

    /// Forgets members dead or gone for longer than the retention.
    private mutating func forgetDeparted(_ now: Int64) {
        let expired = records.values.filter {
            !$0.member.status.isLive && now - $0.since >= settings.deadMemberRetentionMillis
        }.map(\.member.id)
        for id in expired {
            records[id] = nil
            syncRequestedAt[id] = nil
        }
    }

    // MARK: - Helpers

    private mutating func adjustLocalHealth(_ delta: Int) {
        guard settings.lifeguard else { return }
        localHealth = min(max(localHealth + delta, 0), settings.maxLocalHealth)
    }

    private mutating func nextSequence() -> UInt64 {
        sequence += 1
        return sequence
    }

    /// Fisher–Yates with the injected generator.
    private mutating func shuffle<T>(_ a: inout [T]) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) {
            a.swapAt(i, Int.random(in: 0...i, using: &random))
        }
    }

    /// Up to `k` distinct elements of `from`, chosen at random (a partial Fisher–Yates).
    private mutating func pick<T>(_ k: Int, from: [T]) -> [T] {
        var pool = from
        let count = min(k, pool.count)
        for i in 0..<count { pool.swapAt(i, Int.random(in: i..<pool.count, using: &random)) }
        return Array(pool.prefix(count))
    }
}
