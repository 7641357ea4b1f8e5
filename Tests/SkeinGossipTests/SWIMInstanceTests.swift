import SkeinGossip
import SkeinModel
import Testing

extension SWIMInstance {
    /// Runs every deadline up to and including `time`; returns what came out, with the time of each.
    mutating func tick(through time: Int64) -> [(now: Int64, directive: SWIMDirective)] {
        var out: [(Int64, SWIMDirective)] = []
        while nextDeadline <= time {
            let now = nextDeadline
            out += onTick(now: now).map { (now, $0) }
        }
        return out
    }
}

/// A message that only carries gossip: a nack nobody waits for.
func carrier(from: Int32, _ gossip: [SWIMGossip]) -> SWIMMessage {
    .nack(from: BrokerId(from), target: BrokerId(from), sequence: 999_999, gossip: gossip)
}

@Suite("SWIM probing")
struct ProbingTests {
    @Test("a probe is a ping to the next member; the target acks with the same sequence; no suspicion follows")
    func probeAndAck() {
        var a = makeInstance(1, knowing: [2])
        var b = makeInstance(2, knowing: [1])
        let (t0, out) = a.tickToNextDeadline()
        #expect(out.pings.count == 1)
        let ping = out.pings[0]
        #expect(ping.to == address(2) && ping.target == 2)
        let reply = b.onMessage(from: address(1), message: out.sends[0].message, now: t0 + 1)
        #expect(reply.acks.count == 1)
        #expect(reply.acks[0].to == address(1) && reply.acks[0].target == 2 && reply.acks[0].sequence == ping.sequence)
        #expect(a.onMessage(from: address(2), message: reply.sends[0].message, now: t0 + 2).isEmpty)
        // Acked: nothing until the next period, which raises no suspicion.
        #expect(a.nextDeadline == t0 + 1000)
        let (t1, next) = a.tickToNextDeadline()
        #expect(t1 == t0 + 1000 && next.changes.isEmpty && next.pings.count == 1)
        #expect(a.member(2)?.status == .alive && a.localHealth == 0)
    }

    @Test("a ping meant for another id is not answered")
    func misdirectedPing() {
        var b = makeInstance(2, knowing: [1])
        let out = b.onMessage(from: address(1), message: .ping(from: 1, target: 5, sequence: 3, gossip: []), now: 0)
        #expect(out.sends.isEmpty)
    }

    @Test("a probe that times out goes to k other members as ping-reqs; a probe with no ack makes the target suspect")
    func indirectThenSuspect() {
        let settings = SWIMSettings()
        var a = makeInstance(1, knowing: [2, 3, 4, 5], settings: settings)
        let (t0, out) = a.tickToNextDeadline()
        let probe = out.pings[0]
        let target = probe.target!
        let (t1, indirect) = a.tickToNextDeadline()
        #expect(t1 == t0 + settings.pingTimeoutMillis)
        let reqs = indirect.pingReqs
        #expect(reqs.count == settings.indirectProbeCount)
        #expect(Set(reqs.map(\.to)).count == 3)
        #expect(!reqs.contains { $0.to == address(target.rawValue) || $0.to == address(1) })
        #expect(reqs.allSatisfy { $0.target == peer(target.rawValue) && $0.sequence == probe.sequence })

        let (t2, verdict) = a.tickToNextDeadline()
        #expect(t2 == t0 + settings.probeIntervalMillis)
        #expect(verdict.changes.count == 1)
        #expect(verdict.changes[0].member.id == target)
        #expect(verdict.changes[0].from == .alive && verdict.changes[0].to == .suspect)
        #expect(a.pendingGossip.contains(.suspect(target, incarnation: 1, from: 1)))
        // A failed probe and missing nacks: LHM 2.
        #expect(a.localHealth == 2)
        #expect(a.suspicionDeadline(of: target) == t2 + settings.suspicionTimeoutMax(members: 5))
    }

    @Test("an unrefuted suspicion times out: dead, and the death is gossiped")
    func suspicionTimeout() {
        // Plain SWIM, so that this member's own failing probes do not confirm the suspicion and move the deadline.
        var a = makeInstance(1, knowing: [2, 3, 4, 5], settings: SWIMSettings(lifeguard: false))
        _ = a.onMessage(from: address(2), message: carrier(from: 2, [.suspect(5, incarnation: 1, from: 2)]), now: 50)
        let deadline = a.suspicionDeadline(of: 5)!
        #expect(deadline == 50 + a.settings.suspicionTimeout(members: 5, confirmations: 0))
        let events = a.tick(through: deadline)
        let deaths = events.filter { $0.directive.change?.member.id == 5 && $0.directive.change?.to == .dead }
        #expect(deaths.count == 1 && deaths.first?.now == deadline)
        #expect(a.member(5)?.status == .dead)
        #expect(a.pendingGossip.contains(.dead(5, incarnation: 1, from: 1)))
        #expect(a.liveMemberCount == 4)
    }

    @Test("Lifeguard's buddy system: the ping to a suspect carries its suspicion first")
    func buddySystem() {
        var a = makeInstance(1, knowing: [2])
        _ = a.tickUntilProbe()
        let events = a.tick(through: a.nextDeadline + 1000)
        #expect(a.member(2)?.status == .suspect)
        let ping = events.map(\.directive).pings.last!
        #expect(ping.target == 2 && ping.gossip.first == .suspect(2, incarnation: 1, from: 1))
    }

    @Test("an ack relayed by a ping-req counts as success")
    func indirectAck() {
        var a = makeInstance(1, knowing: [2, 3, 4])
        let (t0, out) = a.tickToNextDeadline()
        let target = out.pings[0].target!
        _ = a.tickToNextDeadline()
        let relay: BrokerId = target == 2 ? 3 : 2
        let ack = SWIMMessage.ack(from: relay, target: target, sequence: out.pings[0].sequence, gossip: [])
        _ = a.onMessage(from: address(relay.rawValue), message: ack, now: t0 + 700)
        let (_, verdict) = a.tickToNextDeadline()
        #expect(verdict.changes.isEmpty && a.localHealth == 0)
    }
}

@Suite("Incarnations, refutation, restarts, leaving")
struct IncarnationTests {
    @Test("a member suspected or declared dead at its incarnation refutes with a higher one")
    func refutation() {
        var a = makeInstance(1, knowing: [2], incarnation: 5)
        let ping = SWIMMessage.ping(from: 2, target: 1, sequence: 9, gossip: [.suspect(1, incarnation: 5, from: 2)])
        let out = a.onMessage(from: address(2), message: ping, now: 10)
        #expect(a.incarnation == 6)
        #expect(out.acks.count == 1)
        #expect(out.acks[0].gossip.contains(.alive(peer(1), incarnation: 6, metadata: ["rack": "r1"])))
        #expect(a.localHealth == 1)
        // An older claim is stale: nothing to refute.
        _ = a.onMessage(from: address(2), message: carrier(from: 2, [.suspect(1, incarnation: 5, from: 2)]), now: 11)
        #expect(a.incarnation == 6)
        _ = a.onMessage(from: address(2), message: carrier(from: 2, [.dead(1, incarnation: 6, from: 2)]), now: 12)
        #expect(a.incarnation == 7 && a.member(1)?.status == .alive)
    }

    @Test("the refutation overrides the suspicion everywhere; the same incarnation does not")
    func refutationAccepted() {
        var b = makeInstance(2, knowing: [1, 3])
        _ = b.onMessage(from: address(3), message: carrier(from: 3, [.suspect(1, incarnation: 1, from: 3)]), now: 0)
        #expect(b.member(1)?.status == .suspect)
        _ = b.onMessage(
            from: address(3), message: carrier(from: 3, [.alive(peer(1), incarnation: 1, metadata: [:])]), now: 1)
        #expect(b.member(1)?.status == .suspect)
        let out = b.onMessage(
            from: address(1), message: carrier(from: 1, [.alive(peer(1), incarnation: 2, metadata: [:])]), now: 2)
        #expect(out.changes.count == 1 && out.changes[0].from == .suspect && out.changes[0].to == .alive)
        #expect(b.suspicionDeadline(of: 1) == nil)
    }

    @Test("a dead member that restarts with a higher incarnation is alive again, at its new address")
    func restart() {
        var a = makeInstance(1, knowing: [2])
        let died = a.onMessage(from: address(3), message: carrier(from: 3, [.dead(2, incarnation: 1, from: 3)]), now: 0)
        #expect(died.changes.first.map { $0.from == .alive && $0.to == .dead } == true)
        // Stale news about the old process changes nothing.
        let stale: [SWIMGossip] = [
            .alive(peer(2), incarnation: 1, metadata: [:]), .suspect(2, incarnation: 1, from: 3),
        ]
        #expect(a.onMessage(from: address(3), message: carrier(from: 3, stale), now: 1).changes.isEmpty)
        #expect(a.member(2)?.status == .dead)

        let reborn = SWIMPeer(id: 2, address: "node-2b:7946")
        let back = a.onMessage(
            from: reborn.address,
            message: carrier(from: 2, [.alive(reborn, incarnation: 1_000_000, metadata: ["version": "2"])]), now: 2)
        #expect(back.changes.count == 1 && back.changes[0].from == .dead && back.changes[0].to == .alive)
        #expect(a.member(2)?.address == reborn.address && a.member(2)?.metadata == ["version": "2"])
        // Probed again, at the new address.
        var probes: [String] = []
        for _ in 0..<5 { probes += a.tick(through: a.nextDeadline).map(\.directive).pings.map(\.to) }
        #expect(probes.contains(reborn.address) && !probes.contains(address(2)))
    }

    @Test("a graceful leave: left everywhere it is heard, never probed, never refuted")
    func gracefulLeave() {
        var a = makeInstance(1, knowing: [2, 3])
        var b = makeInstance(2, knowing: [1, 3])
        let out = b.leave(now: 100)
        #expect(b.isLeaving)
        #expect(Set(out.pings.map(\.to)) == [address(1), address(3)])
        #expect(out.pings.allSatisfy { $0.gossip.contains(.left(2, incarnation: 1)) })
        let heard = a.onMessage(from: address(2), message: out.sends.first { $0.to == address(1) }!.message, now: 101)
        #expect(heard.changes.count == 1 && heard.changes[0].from == .alive && heard.changes[0].to == .left)
        #expect(a.pendingGossip.contains(.left(2, incarnation: 1)))
        #expect(a.liveMemberCount == 2)
        // Never probed again, and an old alive does not bring it back.
        _ = a.onMessage(
            from: address(3), message: carrier(from: 3, [.alive(peer(2), incarnation: 1, metadata: [:])]), now: 102)
        let later = a.tick(through: 30_000).map(\.directive)
        #expect(!later.pings.contains { $0.target == 2 })
        #expect(a.member(2)?.status == .left)
        // The leaver does not refute what is said about it.
        _ = b.onMessage(from: address(3), message: carrier(from: 3, [.dead(2, incarnation: 1, from: 3)]), now: 200)
        #expect(b.incarnation == 1)
        // It keeps spreading the news, one ping per period, until its retransmit budget is spent.
        let drain = b.tick(through: 60_000).map(\.directive)
        #expect(!drain.pings.isEmpty && !b.hasPendingGossip)
    }

    @Test("new metadata goes out with a higher incarnation")
    func metadataUpdate() {
        var a = makeInstance(1)
        a.updateMetadata(["kafka": "10.0.0.1:9092"])
        #expect(a.incarnation == 2)
        #expect(a.pendingGossip.first == .alive(peer(1), incarnation: 2, metadata: ["kafka": "10.0.0.1:9092"]))
    }
}

@Suite("Dissemination and joining")
struct DisseminationTests {
    @Test("an update is piggybacked exactly λ·⌈log10(n+1)⌉ times")
    func retransmitBound() {
        var a = makeInstance(1, knowing: [2, 3])
        let news = SWIMGossip.alive(peer(4), incarnation: 1, metadata: ["rack": "r4"])
        let first = a.onMessage(
            from: address(2), message: .ping(from: 2, target: 1, sequence: 1, gossip: [news]), now: 0)
        let limit = a.settings.retransmitLimit(members: a.liveMemberCount)
        #expect(a.liveMemberCount == 4 && limit == 4)
        var carried = first.sends.filter { $0.message.gossip.contains(news) }.count
        for (_, directive) in a.tick(through: 60_000) where directive.sent?.message.gossip.contains(news) == true {
            carried += 1
        }
        #expect(carried == limit)
        #expect(!a.pendingGossip.contains(news))
        #expect(SWIMSettings().retransmitLimit(members: 200) == 12)
    }

    @Test("join: the seed gets our alive update and answers with its membership, which is not spread again")
    func join() {
        var seed = makeInstance(1, knowing: [2, 3])
        var joiner = makeInstance(9)
        let out = joiner.join(seeds: [address(1), address(9), address(1)], now: 0)
        #expect(out.pings.count == 1)
        #expect(out.pings[0].to == address(1) && out.pings[0].target == nil)
        #expect(out.pings[0].gossip == [.alive(peer(9), incarnation: 1, metadata: ["rack": "r9"])])

        let reply = seed.onMessage(from: address(9), message: out.sends[0].message, now: 5)
        #expect(reply.changes.map(\.member.id) == [9] && reply.changes[0].from == nil)
        #expect(reply.acks.count == 1 && reply.acks[0].target == nil && reply.acks[0].to == address(9))
        let learned = joiner.onMessage(from: address(1), message: reply.sends[0].message, now: 10)
        #expect(Set(learned.changes.map(\.member.id)) == [1, 2, 3])
        #expect(joiner.member(1)?.metadata == ["rack": "r1"])
        #expect(joiner.pendingGossip.allSatisfy { $0.subject == 9 })
        // The seed spreads the newcomer.
        #expect(seed.pendingGossip.contains(.alive(peer(9), incarnation: 1, metadata: ["rack": "r9"])))
    }

    @Test("periodic sync: a random member is asked for its membership; a reply with news brings the next one forward")
    func sync() {
        // makeInstance learned 2 and 3 from a join reply: news, so the first sync comes five periods later; with
        // no reply after that, the next one waits the full interval. Every probe is acked at once.
        var a = makeInstance(1, knowing: [2, 3])
        var syncs: [Int64] = []
        while a.nextDeadline <= 60_000 {
            let now = a.nextDeadline
            for send in a.onTick(now: now).sends {
                guard case .ping(_, let target, let seq, _) = send.message else { continue }
                guard let target else {
                    syncs.append(now)
                    continue
                }
                let ack = SWIMMessage.ack(from: target, target: target, sequence: seq, gossip: [])
                _ = a.onMessage(from: send.to, message: ack, now: now)
            }
        }
        #expect(syncs.count == 2)
        #expect(syncs.first.map { (5_000..<6_000).contains($0) } == true)
        #expect(syncs.last.map { $0 - syncs[0] >= 30_000 && $0 - syncs[0] < 31_000 } == true)
    }

    @Test("join requests repeat every period until a member is known")
    func joinRetry() {
        var joiner = makeInstance(9)
        _ = joiner.join(seeds: [address(1), address(2)], now: 0)
        let out = joiner.tick(through: 3_000).map(\.directive)
        #expect(out.pings.filter { $0.target == nil }.count >= 4)
    }

    @Test("a ping from a member we do not know gets an ack and, at most once in a while, a sync request")
    func unknownSender() {
        var a = makeInstance(1, knowing: [2])
        let out = a.onMessage(from: address(7), message: .ping(from: 7, target: 1, sequence: 4, gossip: []), now: 0)
        #expect(out.acks.count == 1)
        #expect(out.pings.count == 1 && out.pings[0].target == nil && out.pings[0].to == address(7))
        let again = a.onMessage(from: address(7), message: .ping(from: 7, target: 1, sequence: 5, gossip: []), now: 10)
        #expect(again.acks.count == 1 && again.pings.isEmpty)
    }

    @Test("a member we think dead that pings us hears of its death and refutes")
    func deadSenderHearsIt() {
        var a = makeInstance(1, knowing: [2])
        _ = a.onMessage(from: address(3), message: carrier(from: 3, [.dead(2, incarnation: 1, from: 3)]), now: 0)
        var b = makeInstance(2, knowing: [1])
        let ping = SWIMMessage.ping(from: 2, target: 1, sequence: 1, gossip: [])
        let ack = a.onMessage(from: address(2), message: ping, now: 1).sends.first {
            if case .ack = $0.message { true } else { false }
        }!
        #expect(ack.message.gossip.first == .dead(2, incarnation: 1, from: 1))
        _ = b.onMessage(from: address(1), message: ack.message, now: 2)
        #expect(b.incarnation == 2)
    }
}

@Suite("Lifeguard")
struct LifeguardTests {
    @Test("suspicion timeout formula: max with no confirmation, min after K, log-shaped in between")
    func formula() {
        let s = SWIMSettings()
        #expect(s.suspicionTimeoutMin(members: 200) == 11_505)
        #expect(s.suspicionTimeoutMax(members: 200) == 69_030)
        #expect(s.suspicionTimeoutMin(members: 5) == 5_000)
        #expect(s.suspicionTimeout(members: 200, confirmations: 0) == 69_030)
        #expect(s.suspicionTimeout(members: 200, confirmations: 1) == 40_267)  // 69 030 − 57 525 · ln 2 / ln 4
        #expect(s.suspicionTimeout(members: 200, confirmations: 3) == 11_505)
        #expect(s.suspicionTimeout(members: 200, confirmations: 10) == 11_505)
        // Nobody can confirm in a cluster of two: the minimum at once.
        #expect(s.suspicionTimeout(members: 2, confirmations: 0) == 5_000)
        let plain = SWIMSettings(lifeguard: false)
        #expect(plain.suspicionTimeout(members: 200, confirmations: 0) == 11_505)
    }

    @Test("the suspicion timeout shrinks with each independent confirmation, which is spread again")
    func confirmations() {
        var a = makeInstance(1, knowing: [2, 3, 4, 5, 6])
        func suspectedBy(_ from: Int32, at now: Int64) {
            _ = a.onMessage(
                from: address(from), message: carrier(from: from, [.suspect(6, incarnation: 1, from: BrokerId(from))]),
                now: now)
        }
        let s = a.settings
        suspectedBy(2, at: 100)
        #expect(a.suspicionDeadline(of: 6) == 100 + s.suspicionTimeoutMax(members: 6))
        suspectedBy(3, at: 200)
        let one = a.suspicionDeadline(of: 6)!
        #expect(one == 100 + s.suspicionTimeout(members: 6, confirmations: 1) && one < 100 + 30_000)
        suspectedBy(3, at: 250)
        #expect(a.suspicionDeadline(of: 6) == one && a.suspicionConfirmations(of: 6) == 1)
        #expect(a.pendingGossip.contains(.suspect(6, incarnation: 1, from: 3)))
        suspectedBy(4, at: 300)
        let two = a.suspicionDeadline(of: 6)!
        #expect(two < one)
        suspectedBy(5, at: 400)
        #expect(a.suspicionDeadline(of: 6) == 100 + s.suspicionTimeoutMin(members: 6))
        #expect(a.suspicionConfirmations(of: 6) == 3)

        // Plain SWIM: the minimum from the start, confirmations or not.
        var plain = makeInstance(1, knowing: [2, 3, 4, 5, 6], settings: SWIMSettings(lifeguard: false))
        _ = plain.onMessage(
            from: address(2), message: carrier(from: 2, [.suspect(6, incarnation: 1, from: 2)]), now: 100)
        _ = plain.onMessage(
            from: address(3), message: carrier(from: 3, [.suspect(6, incarnation: 1, from: 3)]), now: 200)
        let deadline = plain.suspicionDeadline(of: 6)
        #expect(deadline == 5_100)
    }

    @Test("failed probes raise the LHM, which stretches the probe interval and ping timeout; an ack lowers it")
    func localHealth() {
        var a = makeInstance(1, knowing: [2, 3])
        let (t0, _, _) = a.tickUntilProbe()!
        _ = a.tick(through: t0 + 999)
        let verdict = a.onTick(now: t0 + 1000)
        #expect(a.localHealth == 2)
        #expect(a.probeIntervalMillis == 3_000 && a.pingTimeoutMillis == 1_500)
        // The probe that just went out waits 1.5 s for its ack, and the next comes 3 s later.
        #expect(a.nextDeadline == t0 + 1000 + 1_500)
        let probe = verdict.pings.first { $0.target != nil }!
        let ack = SWIMMessage.ack(from: probe.target!, target: probe.target!, sequence: probe.sequence, gossip: [])
        _ = a.onMessage(from: probe.to, message: ack, now: t0 + 1100)
        #expect(a.localHealth == 1)
        #expect(a.nextDeadline == t0 + 1000 + 3_000)

        // Nobody answering for long: the LHM saturates at S.
        _ = a.tick(through: 300_000)
        #expect(a.localHealth == a.settings.maxLocalHealth)
        #expect(a.probeIntervalMillis == 9_000)

        // Plain SWIM keeps its pace.
        var plain = makeInstance(1, knowing: [2, 3], settings: SWIMSettings(lifeguard: false))
        _ = plain.tick(through: 60_000)
        #expect(plain.localHealth == 0 && plain.probeIntervalMillis == 1_000)
    }

    @Test("a relay nacks at 80% of the ping timeout when the target is silent, and still forwards a late ack")
    func relayNack() {
        var r = makeInstance(2, knowing: [1, 3])
        let out = r.onMessage(
            from: address(1), message: .pingReq(from: 1, target: peer(3), sequence: 77, gossip: []), now: 1000)
        #expect(out.pings.count == 1 && out.pings[0].to == address(3) && out.pings[0].target == 3)
        let relaySequence = out.pings[0].sequence
        #expect(r.tick(through: 1399).map(\.directive).nacks.isEmpty)
        let nack = r.tick(through: 1400).map(\.directive).nacks
        #expect(nack.count == 1 && nack[0].to == address(1) && nack[0].target == 3 && nack[0].sequence == 77)
        let late = r.onMessage(
            from: address(3), message: .ack(from: 3, target: 3, sequence: relaySequence, gossip: []), now: 1450)
        #expect(late.acks.count == 1 && late.acks[0].to == address(1) && late.acks[0].sequence == 77)

        // In time: the ack is forwarded and no nack follows.
        let again = r.onMessage(
            from: address(1), message: .pingReq(from: 1, target: peer(3), sequence: 78, gossip: []), now: 2000)
        let seq2 = again.pings[0].sequence
        let forwarded = r.onMessage(
            from: address(3), message: .ack(from: 3, target: 3, sequence: seq2, gossip: []), now: 2010)
        #expect(forwarded.acks.map(\.sequence) == [78])
        #expect(r.tick(through: 5000).map(\.directive).nacks.isEmpty)

        // Plain SWIM has no nacks.
        var plain = makeInstance(2, knowing: [1, 3], settings: SWIMSettings(lifeguard: false))
        _ = plain.onMessage(
            from: address(1), message: .pingReq(from: 1, target: peer(3), sequence: 79, gossip: []), now: 1000)
        #expect(plain.tick(through: 5000).map(\.directive).nacks.isEmpty)
    }

    @Test("a failed probe whose relays all nacked costs one LHM step; missing nacks cost another")
    func nacksAtTheProber() {
        var a = makeInstance(1, knowing: [2, 3, 4, 5])
        let (t0, target, sequence) = a.tickUntilProbe()!
        let reqs = a.tick(through: t0 + 500).map(\.directive).pingReqs
        #expect(reqs.count == 3)
        for req in reqs {
            let relay = BrokerId(Int32(req.to.dropFirst(5).prefix { $0 != ":" })!)
            _ = a.onMessage(
                from: req.to, message: .nack(from: relay, target: target, sequence: sequence, gossip: []), now: t0 + 900
            )
        }
        _ = a.onTick(now: t0 + 1000)
        #expect(a.localHealth == 1)
        #expect(a.member(target)?.status == .suspect)
    }
}

@Suite("Logarithms")
struct MathTests {
    @Test("the core's own logarithm is exact to double precision on sample points")
    func logarithm() {
        // Checked through the formulas that use it.
        let s = SWIMSettings()
        #expect(s.suspicionTimeoutMin(members: 10) == 5_000)
        #expect(s.suspicionTimeoutMin(members: 100) == 10_000)
        #expect(s.suspicionTimeoutMin(members: 1000) == 15_000)
        #expect(s.suspicionTimeoutMin(members: 50) == 8_494)  // 5 · 1.69897 · 1000
        #expect(s.retransmitLimit(members: 9) == 4)
        #expect(s.retransmitLimit(members: 10) == 8)
        #expect(s.retransmitLimit(members: 99) == 8)
        #expect(s.retransmitLimit(members: 100) == 12)
    }
}
