import SkeinModel

/// One replica of one Raft group: a pure state machine driven by `step`, `tick`, `propose`, then `ready` /
/// `advance` (etcd-io/raft's shape). It reads no clock, does no I/O and draws randomness only from the injected
/// generator, so a seed replays a run.
///
/// Contract: whenever `hasReady`, take `ready()`, persist what it says, then send its messages, apply its
/// committed entries, and `advance(_:)` with it, with no other call on this replica between `ready()` and
/// `advance(_:)`. Several inputs may be stepped before a Ready is taken; nothing leaves before it is durable.
public struct RaftNode: Sendable {
    public let config: RaftConfig
    public var id: BrokerId { config.id }

    public private(set) var term: Int64
    public private(set) var votedFor: BrokerId
    public private(set) var role: RaftRole = .follower
    /// The leader this replica knows of in `term`, or `.none`.
    public private(set) var leader: BrokerId = .none
    public private(set) var log: RaftLog
    /// The highest index known committed (the Kafka high watermark is `commitIndex + 1`).
    public private(set) var commitIndex: Int64
    /// The highest index handed out in `Ready.committedEntries` (or covered by an installed snapshot).
    public private(set) var appliedIndex: Int64
    /// The voter a leader is handing over to, if any.
    public private(set) var transferTarget: BrokerId?
    /// The current voters: those of the last configuration entry in the log, else those at the log start.
    public private(set) var voters: [BrokerId]
    /// The voters as of the log start.
    private var baseVoters: [BrokerId]
    /// A leader takes a new membership change only once this index is committed (its last configuration entry,
    /// or its first entry: a leader must commit in its term before changing membership).
    private var pendingConfigIndex: Int64 = .min

    private var random: SeededRandom
    private var electionElapsed = 0
    private var heartbeatElapsed = 0
    private var randomizedElectionTimeout = 0
    private var votes: [BrokerId: Bool] = [:]
    private var progress: [BrokerId: Progress] = [:]
    private var outbox: [RaftMessage] = []
    /// The first index not yet handed out in a Ready.
    private var unstableFrom: Int64
    /// The last index the shell has made durable; a leader counts only this toward its own match, so that a
    /// commit never relies on an entry the leader could lose in a crash.
    private var stableIndex: Int64
    private var pendingSnapshot: RaftSnapshot?
    private var persistedHardState: HardState

    /// A match index below every real index, for followers a new leader knows nothing about yet.
    private static let unknownMatch = Int64.min / 2

    /// What a leader knows of one follower.
    struct Progress: Sendable {
        var match: Int64
        var next: Int64
        /// Probing: send one batch at a time from `next` until a response says where the logs agree.
        /// Otherwise (replicating) `next` advances optimistically as batches go out.
        var probing = true
        /// A probe is in flight: send nothing more until a response (or a heartbeat response) arrives.
        var probeSent = false
        /// Replicating: the last indices of the appends sent and not yet acknowledged (flow control: at most
        /// `maxInflightAppends` of them).
        var inflight: [Int64] = []
        /// Heard from in the current check-quorum window.
        var recentActive = false
    }

    /// A replica starting from durable state (a new replica passes the default empty state).
    /// `appliedIndex` is what the shell's state machine already reflects (entries after it are re-delivered).
    public init(
        config: RaftConfig, state: RaftPersistentState = RaftPersistentState(), random: SeededRandom,
        appliedIndex: Int64? = nil
    ) {
        self.config = config
        self.random = random
        term = state.hardState.term
        votedFor = state.hardState.votedFor
        log = RaftLog(start: state.logStart, entries: state.entries)
        baseVoters = (state.voters ?? config.voters).sorted()
        voters = baseVoters
        commitIndex = min(max(state.hardState.commit, state.logStart.index), log.lastIndex)
        self.appliedIndex = min(max(appliedIndex ?? state.logStart.index, state.logStart.index), commitIndex)
        unstableFrom = log.lastIndex + 1
        stableIndex = log.lastIndex
        persistedHardState = state.hardState
        resetTimers()
        recomputeVoters()
    }

    /// What a leader knows a follower holds (nil for this replica, a non-voter, or when not leading; a value
    /// below -1 when it knows nothing yet).
    public func matchIndex(of peer: BrokerId) -> Int64? { progress[peer]?.match }

    /// Whether this replica may campaign (it is a voter).
    public var isVoter: Bool { voters.contains(id) }

    /// Votes (or acknowledgements) that make a majority of the current voters.
    public var quorum: Int { voters.count / 2 + 1 }

    // MARK: - Inputs

    /// Advances logical time by one tick: election timeouts for followers and candidates, heartbeats and the
    /// check-quorum window for leaders.
    public mutating func tick() {
        electionElapsed += 1
        guard role == .leader else {
            if isVoter && electionElapsed >= randomizedElectionTimeout {
                electionElapsed = 0
                startElection()
            }
            return
        }
        heartbeatElapsed += 1
        if electionElapsed >= config.electionTicks {
            electionElapsed = 0
            if config.checkQuorum {
                let active = voters.filter { $0 == id || progress[$0]?.recentActive == true }.count
                if active < quorum {
                    becomeFollower(term: term, leader: .none)
                    return
                }
                for peer in progress.keys { progress[peer]!.recentActive = false }
            }
            // A transfer that did not finish within an election timeout is abandoned.
            transferTarget = nil
        }
        if heartbeatElapsed >= config.heartbeatTicks {
            heartbeatElapsed = 0
            for peer in peers {
                let pr = progress[peer]!
                send(to: peer, .heartbeat(commit: min(pr.match, commitIndex)))
            }
        }
    }

    /// Campaigns now (etcd's MsgHup): a pre-vote first when configured. Ignored by leaders and non-voters.
    public mutating func startElection() {
        guard role != .leader, isVoter else { return }
        campaign(config.preVote ? .preElection : .election)
    }

    /// Appends a client payload covering `count` indices at the leader; returns the entry's end (what the commit
    /// index must reach), or why not. The entry starts at `log.lastIndex + 1` in `term`: a shell that writes those
    /// into the payload (a batch's base offset and leader epoch) reads them just before proposing.
    public mutating func propose(_ payload: [UInt8], count: Int64 = 1) -> Result<LogPosition, RaftError> {
        guard role == .leader else { return .failure(.notLeader(leader: leader)) }
        guard transferTarget == nil else { return .failure(.transferInProgress) }
        let entry = LogEntry(index: log.lastIndex + 1, term: term, kind: .data, payload: payload, count: count)
        log.append(entry)
        for peer in peers { sendAppend(to: peer, allowEmpty: false) }
        return .success(entry.position)
    }

    /// Proposes a one-server membership change at the leader. The new voter set applies as soon as the entry is
    /// appended; a removed leader steps down once it commits. A new voter catches up through normal replication
    /// (a learner phase is future work), so add one voter at a time to a healthy group.
    public mutating func proposeConfigChange(_ change: ConfigChange) -> Result<LogPosition, RaftError> {
        guard role == .leader else { return .failure(.notLeader(leader: leader)) }
        guard transferTarget == nil else { return .failure(.transferInProgress) }
        guard pendingConfigIndex <= commitIndex else { return .failure(.configChangeInProgress) }
        var next = Set(voters)
        switch change {
        case .addVoter(let v):
            guard next.insert(v).inserted else { return .failure(.invalidConfigChange) }
        case .removeVoter(let v):
            guard next.remove(v) != nil, !next.isEmpty else { return .failure(.invalidConfigChange) }
        }
        let position = LogPosition(index: log.lastIndex + 1, term: term)
        let entry = LogEntry(
            index: position.index, term: term, kind: .configuration,
            payload: config.configurationPayload(next.sorted(), position))
        log.append(entry)
        pendingConfigIndex = entry.index
        recomputeVoters()
        for peer in peers { sendAppend(to: peer, allowEmpty: false) }
        // A group that shrank to this replica alone may commit at once.
        if maybeCommit() { broadcastAppend() }
        return .success(entry.position)
    }

    /// Hands leadership to `target`: once its log is caught up, it is told to campaign at once (TimeoutNow).
    public mutating func transferLeadership(to target: BrokerId) -> Result<Void, RaftError> {
        guard role == .leader else { return .failure(.notLeader(leader: leader)) }
        guard target != id, voters.contains(target), progress[target] != nil else {
            return .failure(.invalidTransferTarget)
        }
        transferTarget = target
        // The transfer gets one election timeout to finish.
        electionElapsed = 0
        if progress[target]!.match == log.lastIndex {
            send(to: target, .timeoutNow)
        } else {
            sendAppend(to: target, allowEmpty: true)
        }
        return .success(())
    }

    /// Drops log entries through `index`, which must be applied and persisted (the shell's retention).
    public mutating func compact(through index: Int64) {
        guard index <= appliedIndex, index < unstableFrom, index <= stableIndex, index > log.start.index else { return }
        let dropped = log.entries(from: log.start.index + 1, through: index).filter { $0.lastIndex <= index }
        if let last = dropped.last(where: { $0.kind == .configuration }) {
            baseVoters = config.decodeVoters(last.payload)
        }
        log.compact(through: index)
    }

    /// Sets the voters from the last configuration entry in the log (or the log start), and a leader's progress
    /// to match.
    private mutating func recomputeVoters() {
        let latest = log.entries.last(where: { $0.kind == .configuration }).map { config.decodeVoters($0.payload) }
        voters = latest ?? baseVoters
        guard role == .leader else { return }
        for peer in peers where progress[peer] == nil {
            progress[peer] = Progress(match: Self.unknownMatch, next: log.lastIndex + 1, recentActive: true)
        }
        for peer in progress.keys where !voters.contains(peer) { progress[peer] = nil }
    }

    /// A leader that is no longer a voter leaves once the change that removed it is committed.
    private mutating func stepDownIfRemoved() {
        if role == .leader && !isVoter && commitIndex >= pendingConfigIndex {
            becomeFollower(term: term, leader: .none)
        }
    }

    /// Handles one message from a peer.
    public mutating func step(_ m: RaftMessage) {
        guard m.to == id, m.from != id else { return }
        if m.term > term {
            switch m.kind {
            case .preVote, .vote(_, transfer: false):
                // Leader stickiness: a replica that heard from a live leader within an election timeout does
                // not help depose it (unless the leader itself asked, via a transfer).
                if config.checkQuorum && leader != .none && electionElapsed < config.electionTicks { return }
            default: break
            }
            switch m.kind {
            case .preVote, .preVoteResponse(granted: true):
                // A pre-vote carries the term the candidate would take; it never moves ours.
                break
            case .append, .heartbeat, .snapshot:
                becomeFollower(term: m.term, leader: m.from)
            default:
                becomeFollower(term: m.term, leader: .none)
            }
        } else if m.term < term {
            switch m.kind {
            case .append, .heartbeat:
                // Tell a stale leader our term so it steps down; with check-quorum and pre-vote it may otherwise
                // never learn it (we reject its votes and it never raises its term).
                if config.checkQuorum || config.preVote { send(to: m.from, .heartbeatResponse) }
            case .preVote:
                send(to: m.from, .preVoteResponse(granted: false))
            default:
                break
            }
            return
        }

        switch m.kind {
        case .preVote(let last):
            handleVoteRequest(m, last: last, pre: true)
            return
        case .vote(let last, _):
            handleVoteRequest(m, last: last, pre: false)
            return
        default:
            break
        }

        switch role {
        case .leader: stepLeader(m)
        case .preCandidate, .candidate: stepCandidate(m)
        case .follower: stepFollower(m)
        }
    }

    // MARK: - Ready / advance

    /// Whether `ready()` has anything to hand out.
    public var hasReady: Bool {
        !outbox.isEmpty || unstableFrom <= log.lastIndex || pendingSnapshot != nil
            || currentHardState != persistedHardState
            || min(commitIndex, log.lastIndex) > appliedIndex
    }

    /// What to persist, send and apply now. Does not change the replica; `advance(_:)` acknowledges it.
    public func ready() -> Ready {
        let hs = currentHardState
        return Ready(
            hardState: hs == persistedHardState ? nil : hs,
            snapshot: pendingSnapshot,
            entries: log.entries(from: unstableFrom, through: log.lastIndex),
            messages: outbox,
            committedEntries: log.entries(from: appliedIndex + 1, through: commitIndex),
            role: role,
            leader: leader
        )
    }

    /// Acknowledges a Ready from `ready()`: its state is durable, its messages sent, its entries applied.
    public mutating func advance(_ ready: Ready) {
        if let hs = ready.hardState { persistedHardState = hs }
        if let snap = ready.snapshot {
            if pendingSnapshot == snap { pendingSnapshot = nil }
            stableIndex = snap.position.index
        }
        if let last = ready.entries.last {
            unstableFrom = max(unstableFrom, last.lastIndex + 1)
            stableIndex = last.lastIndex
        }
        outbox.removeFirst(min(ready.messages.count, outbox.count))
        if let last = ready.committedEntries.last { appliedIndex = max(appliedIndex, last.lastIndex) }
        // The leader's own entries count toward a quorum only now that they are durable.
        if role == .leader && maybeCommit() {
            broadcastAppend()
            stepDownIfRemoved()
        }
    }

    private var currentHardState: HardState { HardState(term: term, votedFor: votedFor, commit: commitIndex) }

    // MARK: - Roles

    private var peers: [BrokerId] { voters.filter { $0 != id } }

    private mutating func resetTimers() {
        electionElapsed = 0
        heartbeatElapsed = 0
        randomizedElectionTimeout =
            config.electionTicks + Int(random.next() % UInt64(config.electionTicks))
    }

    private mutating func becomeFollower(term newTerm: Int64, leader newLeader: BrokerId) {
        if newTerm != term {
            term = newTerm
            votedFor = .none
        }
        role = .follower
        leader = newLeader
        votes = [:]
        progress = [:]
        transferTarget = nil
        resetTimers()
    }

    private enum CampaignKind { case preElection, election, transfer }

    private mutating func campaign(_ kind: CampaignKind) {
        let last = log.last
        resetTimers()
        votes = [id: true]
        leader = .none
        progress = [:]
        if kind == .preElection {
            role = .preCandidate
            if hasWon { return campaign(.election) }
            for peer in peers { send(to: peer, term: term + 1, .preVote(last: last)) }
        } else {
            term += 1
            votedFor = id
            role = .candidate
            if hasWon { return becomeLeader() }
            for peer in peers { send(to: peer, .vote(last: last, transfer: kind == .transfer)) }
        }
    }

    private var hasWon: Bool { votes.filter { voters.contains($0.key) && $0.value }.count >= quorum }
    private var hasLost: Bool { votes.filter { voters.contains($0.key) && !$0.value }.count > voters.count - quorum }

    private mutating func becomeLeader() {
        role = .leader
        leader = id
        votes = [:]
        transferTarget = nil
        resetTimers()
        progress = [:]
        for peer in peers {
            progress[peer] = Progress(match: Self.unknownMatch, next: log.lastIndex + 1)
        }
        // An entry of the new term: only entries of the current term commit by counting (§5.4.2), and this one
        // commits everything before it.
        let noop = LogPosition(index: log.lastIndex + 1, term: term)
        log.append(LogEntry(index: noop.index, term: term, kind: .leaderNoop, payload: config.leaderNoopPayload(noop)))
        pendingConfigIndex = log.lastIndex
        broadcastAppend()
    }

    private mutating func handleVoteRequest(_ m: RaftMessage, last: LogPosition, pre: Bool) {
        // For a real vote the term already equals ours here (a higher one made us a follower of it).
        let canVote = votedFor == m.from || (votedFor == .none && leader == .none) || (pre && m.term > term)
        if canVote && log.isUpToDate(last) {
            if pre {
                send(to: m.from, term: m.term, .preVoteResponse(granted: true))
            } else {
                electionElapsed = 0
                votedFor = m.from
                send(to: m.from, .voteResponse(granted: true))
            }
        } else {
            send(to: m.from, pre ? .preVoteResponse(granted: false) : .voteResponse(granted: false))
        }
    }

    private mutating func stepCandidate(_ m: RaftMessage) {
        switch m.kind {
        case .append, .heartbeat, .snapshot:
            // A leader exists in our term: it won.
            becomeFollower(term: term, leader: m.from)
            stepFollower(m)
        case .preVoteResponse(let granted) where role == .preCandidate:
            votes[m.from] = votes[m.from] ?? granted
            if hasWon { campaign(.election) } else if hasLost { becomeFollower(term: term, leader: .none) }
        case .voteResponse(let granted) where role == .candidate:
            votes[m.from] = votes[m.from] ?? granted
            if hasWon { becomeLeader() } else if hasLost { becomeFollower(term: term, leader: .none) }
        default:
            break
        }
    }

    private mutating func stepFollower(_ m: RaftMessage) {
        switch m.kind {
        case .append(let prev, let entries, let commit):
            electionElapsed = 0
            leader = m.from
            handleAppend(from: m.from, prev: prev, entries: entries, commit: commit)
        case .heartbeat(let commit):
            electionElapsed = 0
            leader = m.from
            commitIndex = max(commitIndex, min(commit, log.lastIndex))
            send(to: m.from, .heartbeatResponse)
        case .snapshot(let snap):
            electionElapsed = 0
            leader = m.from
            handleSnapshot(from: m.from, snap)
        case .timeoutNow:
            if isVoter { campaign(.transfer) }
        default:
            break
        }
    }

    private mutating func handleAppend(from: BrokerId, prev: LogPosition, entries: [LogEntry], commit: Int64) {
        var prev = prev
        var entries = entries
        if prev.index < commitIndex {
            // Committed entries match the leader's (leader completeness); look only past our commit.
            entries.removeAll { $0.lastIndex <= commitIndex }
            guard let first = entries.first else {
                send(to: from, .appendResponse(.accepted(match: commitIndex)))
                return
            }
            precondition(first.index == commitIndex + 1, "a leader's entry straddles the commit index")
            prev = LogPosition(index: commitIndex, term: log.term(at: commitIndex)!)
        }
        guard log.term(at: prev.index) == prev.term else {
            let hint = log.lastPosition(atOrBelow: min(prev.index, log.lastIndex), termAtMost: prev.term) ?? log.start
            send(to: from, .appendResponse(.rejected(prevIndex: prev.index, hint: hint)))
            return
        }
        // Log matching: keep what agrees, cut the first divergent entry and everything after it.
        if let conflict = entries.first(where: { e in log.entry(at: e.index).map { $0 != e } ?? true }) {
            precondition(conflict.index > commitIndex, "a leader tried to overwrite a committed entry")
            let truncated = conflict.index <= log.lastIndex
            if truncated {
                log.truncate(from: conflict.index)
                unstableFrom = min(unstableFrom, conflict.index)
                stableIndex = min(stableIndex, conflict.index - 1)
            }
            for e in entries where e.index >= conflict.index { log.append(e) }
            if truncated || entries.contains(where: { $0.kind == .configuration }) { recomputeVoters() }
        }
        let lastNew = entries.last?.lastIndex ?? prev.index
        commitIndex = max(commitIndex, min(commit, lastNew))
        send(to: from, .appendResponse(.accepted(match: lastNew)))
    }

    private mutating func handleSnapshot(from: BrokerId, _ snap: RaftSnapshot) {
        let position = snap.position
        if position.index <= commitIndex {
            send(to: from, .appendResponse(.accepted(match: commitIndex)))
            return
        }
        if log.term(at: position.index) == position.term {
            // We already hold that entry, hence (log matching) everything before it: just commit.
            commitIndex = position.index
        } else {
            log.reset(to: position)
            baseVoters = snap.voters
            recomputeVoters()
            commitIndex = position.index
            appliedIndex = position.index
            unstableFrom = position.index + 1
            stableIndex = min(stableIndex, position.index)
            pendingSnapshot = snap
        }
        send(to: from, .appendResponse(.accepted(match: position.index)))
    }

    private mutating func stepLeader(_ m: RaftMessage) {
        guard var pr = progress[m.from] else { return }
        switch m.kind {
        case .appendResponse(.accepted(let match)):
            pr.recentActive = true
            pr.probeSent = false
            pr.match = max(pr.match, match)
            pr.next = max(pr.next, pr.match + 1)
            if pr.probing { pr.inflight = [] }
            pr.inflight.removeAll { $0 <= pr.match }
            pr.probing = false
            progress[m.from] = pr
            if maybeCommit() {
                broadcastAppend()
                stepDownIfRemoved()
                if role != .leader { return }
            } else if pr.match < log.lastIndex {
                sendAppend(to: m.from, allowEmpty: false)
            }
            if transferTarget == m.from && progress[m.from]!.match == log.lastIndex { send(to: m.from, .timeoutNow) }
        case .appendResponse(.rejected(let prevIndex, let hint)):
            pr.recentActive = true
            // A rejection of something other than what we are probing, or below what is known to match, is stale.
            if prevIndex <= pr.match || (pr.probing && prevIndex != pr.next - 1) {
                progress[m.from] = pr
                return
            }
            if let agreed = log.lastPosition(atOrBelow: hint.index, termAtMost: hint.term) {
                pr.next = max(pr.match + 1, min(agreed.index + 1, log.entryEnd(before: prevIndex) + 1))
            } else {
                // The follower is behind our log start: the next send is a snapshot.
                pr.next = max(pr.match + 1, log.start.index)
            }
            pr.probing = true
            pr.probeSent = false
            pr.inflight = []
            progress[m.from] = pr
            sendAppend(to: m.from, allowEmpty: true)
        case .heartbeatResponse:
            pr.recentActive = true
            // The probe may have been lost; a heartbeat round is the retry interval.
            pr.probeSent = false
            if pr.match < log.lastIndex {
                // Something was lost (or is slow): fall back to probing from what is known to match.
                if !pr.probing {
                    pr.probing = true
                    pr.next = pr.match + 1
                    pr.inflight = []
                }
                progress[m.from] = pr
                sendAppend(to: m.from, allowEmpty: true)
            } else {
                progress[m.from] = pr
            }
        default:
            progress[m.from] = pr
        }
    }

    /// Moves the commit index to the highest index a quorum holds, if that entry is from the current term.
    private mutating func maybeCommit() -> Bool {
        guard !voters.isEmpty else { return false }
        let matches = voters.map { $0 == id ? stableIndex : (progress[$0]?.match ?? Self.unknownMatch) }
            .sorted(by: >)
        let n = matches[quorum - 1]
        guard n > commitIndex, log.term(at: n) == term else { return false }
        commitIndex = n
        return true
    }

    private mutating func broadcastAppend() {
        for peer in peers { sendAppend(to: peer, allowEmpty: true) }
    }

    private mutating func sendAppend(to peer: BrokerId, allowEmpty: Bool) {
        guard var pr = progress[peer], !(pr.probing && pr.probeSent) else { return }
        pr.next = min(pr.next, log.lastIndex + 1)
        // Appends start right after an entry end; never in the middle of an entry.
        if pr.next - 1 > log.start.index && !log.isEntryEnd(pr.next - 1) {
            pr.next = log.entryEnd(before: pr.next - 1) + 1
        }
        let prevIndex = pr.next - 1
        guard let prevTerm = log.term(at: prevIndex) else {
            // The entries the follower needs are compacted away.
            send(to: peer, .snapshot(RaftSnapshot(position: log.start, voters: baseVoters)))
            pr.next = log.start.index + 1
            pr.probing = true
            pr.probeSent = true
            progress[peer] = pr
            return
        }
        // Flow control while replicating: a full window sends nothing new (a heartbeat still may, to probe).
        let windowFull = !pr.probing && pr.inflight.count >= config.maxInflightAppends
        var batch =
            windowFull
            ? [] : log.entries(from: pr.next, through: log.lastIndex, limit: config.maxEntriesPerAppend)
        var bytes = 0
        if let cut = batch.indices.first(where: { k in
            bytes += batch[k].payload.count
            return k > 0 && bytes > config.maxBytesPerAppend
        }) {
            batch.removeLast(batch.count - cut)
        }
        if batch.isEmpty && (!allowEmpty || windowFull) {
            progress[peer] = pr
            return
        }
        send(
            to: peer,
            .append(prev: LogPosition(index: prevIndex, term: prevTerm), entries: batch, commit: commitIndex)
        )
        if pr.probing {
            pr.probeSent = true
        } else if let last = batch.last {
            pr.next = last.lastIndex + 1
            pr.inflight.append(last.lastIndex)
        }
        progress[peer] = pr
    }

    private mutating func send(to peer: BrokerId, term messageTerm: Int64? = nil, _ kind: RaftMessage.Kind) {
        outbox.append(RaftMessage(from: id, to: peer, term: messageTerm ?? term, kind: kind))
    }
}
