import SkeinModel
import SkeinRaft

/// Fault rates and sizes of one simulated run. Probabilities are per tick unless said otherwise.
public struct SimulationOptions: Sendable {
    public var replicas = 3
    /// Extra replicas that start outside the voter set; membership changes add and remove voters among all.
    public var spares = 0
    /// Per tick: the leader proposes adding a non-voter or removing a voter (keeping at least `replicas` voters).
    public var configChangeRate = 0.0
    /// Ticks with faults, then up to `healTicks` of a healed network to show liveness.
    public var faultTicks = 300
    public var healTicks = 300
    public var electionTicks = 10
    public var heartbeatTicks = 2
    /// Per message.
    public var dropRate = 0.05
    public var duplicateRate = 0.03
    /// A message arrives 0...maxDelay ticks after it is sent (so later messages may overtake earlier ones).
    public var maxDelay = 3
    public var crashRate = 0.02
    /// Per Ready: crash before persisting it, or after persisting but before sending its messages.
    public var crashInReadyRate = 0.002
    public var restartRate = 0.15
    public var partitionRate = 0.02
    public var healRate = 0.08
    public var proposeRate = 0.4
    public var compactRate = 0.05
    public var transferRate = 0.01
    public var preVote = true
    public var checkQuorum = true

    public init(replicas: Int = 3) { self.replicas = replicas }
}

/// Counts of what a run exercised, to show the faults actually happened.
public struct SimulationStats: Sendable {
    public var leadersElected = 0
    public var crashes = 0
    public var crashesInReady = 0
    public var partitions = 0
    public var transfers = 0
    public var configChanges = 0
    public var snapshotsInstalled = 0
    public var proposals = 0
    public var acknowledged = 0
    public init() {}
    public mutating func add(_ o: SimulationStats) {
        leadersElected += o.leadersElected
        crashes += o.crashes
        crashesInReady += o.crashesInReady
        partitions += o.partitions
        transfers += o.transfers
        configChanges += o.configChanges
        snapshotsInstalled += o.snapshotsInstalled
        proposals += o.proposals
        acknowledged += o.acknowledged
    }
}

/// A deterministic cluster of N replicas over a simulated network, driven by one seed: message delay, drop,
/// duplication and reordering, partitions, crashes (losing whatever a replica had not persisted through
/// Ready/advance) and restarts from persisted state. A client proposes entries and records the ones a leader
/// reported committed ("acknowledged"). Invariants are checked after every event; `violations` lists breaches.
public final class SimulatedCluster {
    public let seed: UInt64
    public let options: SimulationOptions
    public let ids: [BrokerId]
    public private(set) var nodes: [BrokerId: RaftNode] = [:]
    public private(set) var storage: [BrokerId: RaftPersistentState] = [:]
    public private(set) var now = 0
    /// Invariant breaches, each with the tick it was seen at. Empty for a correct run.
    public private(set) var violations: [String] = []
    /// Entries a leader reported committed to the client, by index.
    public private(set) var acknowledged: [Int64: LogEntry] = [:]
    /// Event log; recorded only when `recordTranscript` was set, since formatting costs time on every event.
    public private(set) var transcript: [String] = []
    public let recordTranscript: Bool
    public private(set) var stats = SimulationStats()

    private var random: SeededRandom
    private var configs: [BrokerId: RaftConfig] = [:]
    private var inFlight: [InFlight] = []
    private var sequence = 0
    private var cuts: Set<Link> = []
    private var nextPayload: UInt64 = 1
    private var dropRate: Double
    private var duplicateRate: Double

    // Invariant bookkeeping.
    private var leaderOfTerm: [Int64: BrokerId] = [:]
    /// Every (index, term) ever appended anywhere: its payload and the term of the entry before it.
    private var entryFacts: [LogPosition: EntryFact] = [:]
    /// What was applied at each index (by anyone), and the lowest term of a replica that applied it: any leader
    /// of a higher term must hold it (leader completeness).
    private var appliedAt: [Int64: LogEntry] = [:]
    private var committedSeenAtTerm: [Int64: Int64] = [:]

    private struct InFlight {
        var deliverAt: Int
        var sequence: Int
        var message: RaftMessage
    }

    private struct Link: Hashable {
        var from: BrokerId
        var to: BrokerId
    }

    private struct EntryFact: Equatable {
        var previousTerm: Int64
        var kind: EntryKind
        var payload: [UInt8]
        var count: Int64
    }

    public init(seed: UInt64, options: SimulationOptions, recordTranscript: Bool = false) {
        self.seed = seed
        self.options = options
        self.recordTranscript = recordTranscript
        random = SeededRandom(seed: seed)
        dropRate = options.dropRate
        duplicateRate = options.duplicateRate
        ids = (1...(options.replicas + options.spares)).map { BrokerId(Int32($0)) }
        let initialVoters = Array(ids.prefix(options.replicas))
        for id in ids {
            configs[id] = RaftConfig(
                id: id, voters: initialVoters.contains(id) ? initialVoters : [],
                electionTicks: options.electionTicks, heartbeatTicks: options.heartbeatTicks,
                preVote: options.preVote, checkQuorum: options.checkQuorum, maxEntriesPerAppend: 8
            )
            storage[id] = RaftPersistentState()
            nodes[id] = RaftNode(config: configs[id]!, random: SeededRandom(seed: random.next()))
        }
    }

    // MARK: - Running

    /// Runs the fault phase, then heals everything and checks liveness: a leader is elected and a final
    /// proposal commits on every replica. Returns true when no invariant was violated.
    @discardableResult
    public func run() -> Bool {
        for _ in 0..<options.faultTicks {
            runTick(faults: true)
            if !violations.isEmpty { return false }
        }
        heal()
        var finalProposal: LogPosition?
        var proposedAt = 0
        for _ in 0..<options.healTicks {
            runTick(faults: false)
            if !violations.isEmpty { return false }
            if let p = finalProposal, finalVoters.allSatisfy({ appliedThrough(p, at: $0) }) {
                checkAcknowledgedSurvived(through: p.index)
                return violations.isEmpty
            }
            // (Re)propose the final entry until one sticks: a leader change can drop an uncommitted proposal.
            if finalProposal == nil || now - proposedAt > 4 * options.electionTicks {
                if let leader = currentLeader, case .success(let pos) = propose(at: leader) {
                    finalProposal = pos
                    proposedAt = now
                }
            }
        }
        violate("liveness: no final proposal committed on every replica within \(options.healTicks) healed ticks")
        return false
    }

    /// One tick: maybe a fault, maybe a client proposal, a tick on every live replica, then every event that is
    /// due (message deliveries and Ready handling) in a random order.
    public func runTick(faults: Bool) {
        now += 1
        if faults { injectFaults() }
        if random.chance(options.proposeRate) {
            // Usually at the replica the client believes leads; sometimes anywhere, to exercise redirects.
            let target = random.chance(0.8) ? (currentLeader ?? randomLive()) : randomLive()
            if let target { _ = propose(at: target) }
        }
        if random.chance(options.compactRate), let id = randomLive() { compact(id) }
        for id in ids where nodes[id] != nil {
            nodes[id]!.tick()
            checkNode(id)
        }
        var guardCount = 0
        while guardCount < 100_000 {
            guardCount += 1
            let due = inFlight.indices.filter { inFlight[$0].deliverAt <= now }
            let readyIds = ids.filter { nodes[$0]?.hasReady == true }
            if due.isEmpty && readyIds.isEmpty { break }
            let pick = Int(random.next() % UInt64(due.count + readyIds.count))
            if pick < due.count {
                let m = inFlight.remove(at: due[pick]).message
                deliver(m)
            } else {
                handleReady(readyIds[pick - due.count], faults: faults)
            }
            if !violations.isEmpty { return }
        }
    }

    /// Proposes a fresh unique payload at `id`.
    public func propose(at id: BrokerId) -> Result<LogPosition, RaftError> {
        guard nodes[id] != nil else { return .failure(.notLeader(leader: .none)) }
        var payload = [UInt8]()
        for shift in stride(from: 56, through: 0, by: -8) {
            payload.append(UInt8(truncatingIfNeeded: nextPayload >> UInt64(shift)))
        }
        // Entries cover 1 to 3 indices (a record batch covers several offsets), without drawing randomness so
        // that the seeds kept as regression tests replay as before.
        let count = Int64(1 + nextPayload % 3)
        nextPayload += 1
        let result = nodes[id]!.propose(payload, count: count)
        if case .success = result { stats.proposals += 1 }
        note("propose at \(id): \(result)")
        checkNode(id)
        return result
    }

    /// The voters as the current leader sees them (all replicas when there is no leader).
    public var finalVoters: [BrokerId] { currentLeader.map { nodes[$0]!.voters } ?? ids }

    /// The live leader with the highest term, if any.
    public var currentLeader: BrokerId? {
        ids.filter { nodes[$0]?.role == .leader }.max { nodes[$0]!.term < nodes[$1]!.term }
    }

    // MARK: - Faults

    private func injectFaults() {
        if random.chance(options.crashRate), let id = randomLive() { crash(id) }
        if random.chance(options.restartRate), let id = ids.filter({ nodes[$0] == nil }).randomElement(using: &random) {
            restart(id)
        }
        if random.chance(options.partitionRate) {
            stats.partitions += 1
            if random.chance(0.5), let id = ids.randomElement(using: &random) {
                for other in ids where other != id { cutBoth(id, other) }
                note("isolate \(id)")
            } else {
                let side = Set(ids.filter { _ in random.chance(0.5) })
                for a in side { for b in ids where !side.contains(b) { cutBoth(a, b) } }
                note("split \(side.sorted()) | \(ids.filter { !side.contains($0) })")
            }
        }
        if random.chance(options.transferRate), let leader = currentLeader,
            let target = ids.filter({ $0 != leader }).randomElement(using: &random)
        {
            let result = nodes[leader]!.transferLeadership(to: target)
            stats.transfers += 1
            note("transfer \(leader) -> \(target): \(result)")
            checkNode(leader)
        }
        if random.chance(options.configChangeRate), let leader = currentLeader {
            let voters = nodes[leader]!.voters
            let outside = ids.filter { !voters.contains($0) }
            let change: ConfigChange? =
                if random.chance(0.5), let v = outside.randomElement(using: &random) {
                    .addVoter(v)
                } else if voters.count > options.replicas, let v = voters.randomElement(using: &random) {
                    .removeVoter(v)
                } else {
                    nil
                }
            if let change {
                let result = nodes[leader]!.proposeConfigChange(change)
                if case .success = result { stats.configChanges += 1 }
                note("config change at \(leader): \(change) -> \(result)")
                checkNode(leader)
            }
        }
        if !cuts.isEmpty && random.chance(options.healRate) {
            cuts = []
            note("heal partitions")
        }
    }

    private func cutBoth(_ a: BrokerId, _ b: BrokerId) {
        cuts.insert(Link(from: a, to: b))
        cuts.insert(Link(from: b, to: a))
    }

    /// Ends all faults: partitions healed, no drops or duplicates, every replica restarted.
    public func heal() {
        cuts = []
        dropRate = 0
        duplicateRate = 0
        for id in ids where nodes[id] == nil { restart(id) }
        note("heal all")
    }

    public func crash(_ id: BrokerId) {
        nodes[id] = nil
        stats.crashes += 1
        note("crash \(id)")
    }

    public func restart(_ id: BrokerId) {
        nodes[id] = RaftNode(config: configs[id]!, state: storage[id]!, random: SeededRandom(seed: random.next()))
        note("restart \(id) from \(storage[id]!.hardState) log=\(storage[id]!.logStart)..\(storage[id]!.lastIndex)")
        checkNode(id)
    }

    private func compact(_ id: BrokerId) {
        let node = nodes[id]!
        let through = min(node.appliedIndex, storage[id]!.lastIndex) - 2
        guard through > node.log.start.index else { return }
        nodes[id]!.compact(through: through)
        storage[id]!.compact(through: nodes[id]!.log.start.index)
        note("compact \(id) through \(nodes[id]!.log.start)")
    }

    private func randomLive() -> BrokerId? { ids.filter { nodes[$0] != nil }.randomElement(using: &random) }

    // MARK: - Events

    private func deliver(_ m: RaftMessage) {
        guard nodes[m.to] != nil, !cuts.contains(Link(from: m.from, to: m.to)) else {
            note("lost \(m)")
            return
        }
        note("deliver \(m)")
        nodes[m.to]!.step(m)
        checkNode(m.to)
    }

    private func handleReady(_ id: BrokerId, faults: Bool) {
        if faults && random.chance(options.crashInReadyRate) {
            note("crash \(id) before persisting its Ready")
            stats.crashesInReady += 1
            crash(id)
            return
        }
        var node = nodes[id]!
        let rd = node.ready()
        checkReady(id, rd, node: node)
        storage[id]!.apply(rd)
        if rd.snapshot != nil { stats.snapshotsInstalled += 1 }
        if recordTranscript {
            note(
                "ready \(id) \(rd.role) hs=\(rd.hardState.map(\.description) ?? "-") "
                    + "snap=\(rd.snapshot.map(\.description) ?? "-") "
                    + "entries=\(rd.entries.map(\.description)) commit=\(rd.committedEntries.map(\.description))"
            )
        }
        if faults && random.chance(options.crashInReadyRate) {
            note("crash \(id) after persisting, before sending")
            stats.crashesInReady += 1
            crash(id)
            return
        }
        for m in rd.messages { send(m) }
        for e in rd.committedEntries { apply(e, at: id, role: rd.role, term: node.term) }
        node.advance(rd)
        nodes[id] = node
        checkNode(id)
    }

    private func send(_ m: RaftMessage) {
        if cuts.contains(Link(from: m.from, to: m.to)) || random.chance(dropRate) { return }
        enqueue(m)
        if random.chance(duplicateRate) { enqueue(m) }
    }

    private func enqueue(_ m: RaftMessage) {
        sequence += 1
        let delay = Int(random.next() % UInt64(options.maxDelay + 1))
        inFlight.append(InFlight(deliverAt: now + delay, sequence: sequence, message: m))
    }

    private func apply(_ e: LogEntry, at id: BrokerId, role: RaftRole, term: Int64) {
        // State-machine safety: no two replicas apply different entries at an index. An entry covers several
        // indices, so every index it covers is checked (two different entries that overlap are a violation even
        // where neither ends).
        for index in e.index...e.lastIndex {
            if let prior = appliedAt[index] {
                if prior != e {
                    violate("state machine safety: \(id) applies \(e) at \(index), another applied \(prior)")
                    break
                }
            } else {
                appliedAt[index] = e
            }
        }
        if let seen = committedSeenAtTerm[e.lastIndex], seen <= term {
        } else {
            committedSeenAtTerm[e.lastIndex] = term
            // Any current leader of a later term must already hold it.
            for l in ids where nodes[l]?.role == .leader && nodes[l]!.term > term { checkHolds(l, e, why: "commit") }
        }
        // The client hears "committed" from the leader.
        if role == .leader && e.kind == .data && acknowledged[e.lastIndex] == nil {
            acknowledged[e.lastIndex] = e
            stats.acknowledged += 1
            note("ack \(e)")
        }
    }

    private func appliedThrough(_ p: LogPosition, at id: BrokerId) -> Bool {
        guard let node = nodes[id], node.appliedIndex >= p.index else { return false }
        return appliedAt[p.index]?.term == p.term
    }

    // MARK: - Invariants

    private func checkNode(_ id: BrokerId) {
        guard let node = nodes[id] else { return }
        // Election safety: at most one leader per term.
        if node.role == .leader {
            if let other = leaderOfTerm[node.term] {
                if other != id { violate("election safety: \(other) and \(id) both lead term \(node.term)") }
            } else {
                leaderOfTerm[node.term] = id
                stats.leadersElected += 1
                note("\(id) leads term \(node.term) with log \(node.log.start)..\(node.log.last)")
                // Leader completeness: every entry committed in an earlier term is in the new leader's log.
                for (index, seenTerm) in committedSeenAtTerm where seenTerm < node.term {
                    checkHolds(id, appliedAt[index]!, why: "election")
                }
            }
        }
        if node.commitIndex > node.log.lastIndex { violate("\(id) commit \(node.commitIndex) past its last index") }
        if node.log.payloadBytes != node.log.entries.reduce(0, { $0 + $1.payload.count }) {
            violate("\(id) counts \(node.log.payloadBytes) payload bytes in its log, which holds another amount")
        }
    }

    private func checkHolds(_ id: BrokerId, _ e: LogEntry, why: String) {
        let log = nodes[id]!.log
        guard e.index > log.start.index else { return }
        if log.entry(at: e.index) != e {
            violate(
                "leader completeness (\(why)): leader \(id) term \(nodes[id]!.term) lacks committed \(e), has "
                    + "\(log.term(at: e.index).map { "term \($0)" } ?? "nothing")")
        }
    }

    /// Log matching, checked incrementally: the same (index, term) anywhere means the same payload and the same
    /// term just before it; by induction two logs with a common entry agree on everything up to it.
    private func checkReady(_ id: BrokerId, _ rd: Ready, node: RaftNode) {
        for e in rd.entries {
            guard let prevTerm = node.log.term(at: e.index - 1) else {
                violate("\(id) hands out \(e) with no entry before it")
                continue
            }
            if prevTerm > e.term { violate("\(id) log terms decrease at \(e.index)") }
            let fact = EntryFact(previousTerm: prevTerm, kind: e.kind, payload: e.payload, count: e.count)
            if let known = entryFacts[e.position] {
                if known != fact {
                    violate("log matching: \(id) has \(e) differing from another replica's entry at \(e.position)")
                }
            } else {
                entryFacts[e.position] = fact
            }
        }
        // Nothing applied may be lost: a replica's persisted commit never covers what it lacks.
        if let hs = rd.hardState, hs.commit > node.log.lastIndex { violate("\(id) persists commit past its log") }
    }

    /// After healing: every acknowledged entry was applied as acknowledged and is in the leader's log; those up to
    /// the final proposal (which every replica applied) are in every replica's log (or below its log start).
    private func checkAcknowledgedSurvived(through finalIndex: Int64) {
        for (index, e) in acknowledged {
            if appliedAt[index] != e {
                violate("acknowledged \(e) lost: applied \(appliedAt[index].map(\.description) ?? "none")")
            }
            if let leader = currentLeader { checkHolds(leader, e, why: "final") }
            guard index <= finalIndex else { continue }
            for id in finalVoters {
                guard let log = nodes[id]?.log, index > log.start.index else { continue }
                if log.entry(at: index) != e { violate("acknowledged \(e) missing from \(id)'s log") }
            }
        }
    }

    private func violate(_ what: String) {
        violations.append("tick \(now): \(what)")
        note("VIOLATION \(what)")
    }

    private func note(_ line: @autoclosure () -> String) {
        if recordTranscript { transcript.append("[\(now)] \(line())") }
    }
}

extension SeededRandom {
    /// True with probability `p`.
    mutating func chance(_ p: Double) -> Bool {
        guard p > 0 else { return false }
        return Double(next() >> 11) / Double(1 << 53) < p
    }
}
