import SkeinModel

/// A point in the Raft log: an index (the Kafka offset) and the term (the partitionLeaderEpoch) of the entry there.
public struct LogPosition: Hashable, Sendable, CustomStringConvertible {
    public var index: Int64
    public var term: Int64
    public init(index: Int64, term: Int64) {
        self.index = index
        self.term = term
    }
    /// The position just before Kafka offset 0 in a log that never had an entry.
    public static let empty = LogPosition(index: -1, term: 0)
    public var description: String { "\(index)@\(term)" }
}

/// What an entry carries: client data, or the empty entry a new leader appends so that it can commit (§5.4.2).
public enum EntryKind: UInt8, Hashable, Sendable {
    case data
    case leaderNoop
    /// A new voter set (payload: `VoterSet.encode`). It takes effect as soon as it is in a log, committed or not
    /// (single-server changes, Raft dissertation §4.1); consumers skip it like a Kafka control record.
    case configuration
}

/// Voter sets as configuration entries carry them: sorted broker ids, 4 bytes big-endian each.
public enum VoterSet {
    public static func encode(_ voters: [BrokerId]) -> [UInt8] {
        var out = [UInt8]()
        for v in voters.sorted() {
            let raw = UInt32(bitPattern: v.rawValue)
            out += [
                UInt8(raw >> 24), UInt8(truncatingIfNeeded: raw >> 16), UInt8(truncatingIfNeeded: raw >> 8),
                UInt8(truncatingIfNeeded: raw),
            ]
        }
        return out
    }

    public static func decode(_ bytes: [UInt8]) -> [BrokerId] {
        stride(from: 0, to: bytes.count - 3, by: 4).map { i in
            let raw =
                UInt32(bytes[i]) << 24 | UInt32(bytes[i + 1]) << 16 | UInt32(bytes[i + 2]) << 8
                | UInt32(bytes[i + 3])
            return BrokerId(Int32(bitPattern: raw))
        }
    }
}

/// A one-server membership change (the only kind: a majority of the old and the new set always overlap).
public enum ConfigChange: Hashable, Sendable {
    case addVoter(BrokerId)
    case removeVoter(BrokerId)
}

/// What a log start stands for: the position of the last entry a snapshot covers and the voters as of then.
/// The data itself is the shell's business (for Skein, the Kafka log's segments below the log start offset).
public struct RaftSnapshot: Hashable, Sendable, CustomStringConvertible {
    public var position: LogPosition
    public var voters: [BrokerId]
    public init(position: LogPosition, voters: [BrokerId]) {
        self.position = position
        self.voters = voters.sorted()
    }
    public var description: String { "\(position) voters=\(voters)" }
}

/// One entry of the replicated log. The payload is opaque to Raft (a record batch for the shell).
///
/// An entry covers `count` consecutive indices, `index` through `lastIndex`: for Skein a record batch holds several
/// records, each with its own Kafka offset, and the Raft index is the offset. All indices of an entry share its
/// term and are appended, replicated, committed and truncated together; positions the protocol exchanges (prev,
/// match, commit, log start) are always entry ends. Entries of one term are cut by that term's single leader, so
/// every replica holding an entry of a term holds it with the same bounds.
public struct LogEntry: Hashable, Sendable, CustomStringConvertible {
    /// The first index the entry covers (a batch's base offset).
    public var index: Int64
    public var term: Int64
    public var kind: EntryKind
    public var payload: [UInt8]
    /// How many indices the entry covers (a batch's record count); at least 1.
    public var count: Int64
    public init(index: Int64, term: Int64, kind: EntryKind = .data, payload: [UInt8], count: Int64 = 1) {
        precondition(count >= 1, "an entry covers at least one index")
        self.index = index
        self.term = term
        self.kind = kind
        self.payload = payload
        self.count = count
    }
    /// The last index the entry covers (a batch's last offset).
    public var lastIndex: Int64 { index + count - 1 }
    /// The entry's end: what a follower matches and what a commit must reach for the entry to be committed.
    public var position: LogPosition { LogPosition(index: lastIndex, term: term) }
    public var description: String {
        let span = count == 1 ? "\(index)" : "\(index)-\(lastIndex)"
        return "\(span)@\(term)\(kind == .leaderNoop ? "noop" : "")"
    }
}

/// What must survive a crash besides the log: the current term, the vote cast in it, and the commit index.
public struct HardState: Hashable, Sendable, CustomStringConvertible {
    public var term: Int64
    public var votedFor: BrokerId
    public var commit: Int64
    public init(term: Int64, votedFor: BrokerId, commit: Int64) {
        self.term = term
        self.votedFor = votedFor
        self.commit = commit
    }
    public var description: String { "term=\(term) vote=\(votedFor) commit=\(commit)" }
}

/// The role of a replica. A pre-candidate asks whether it would win before it bumps its term.
public enum RaftRole: String, Hashable, Sendable {
    case follower, preCandidate, candidate, leader
}

/// Static settings of one replica of one Raft group.
public struct RaftConfig: Sendable {
    /// This replica.
    public var id: BrokerId
    /// The initial voters of the group, used until the log (or the persisted log start) says otherwise.
    /// Empty for a replica that waits to be added.
    public var voters: [BrokerId]
    /// A follower campaigns after a random timeout in [electionTicks, 2 * electionTicks).
    public var electionTicks: Int
    /// A leader sends heartbeats every this many ticks; keep it well below electionTicks.
    public var heartbeatTicks: Int
    /// Ask for a pre-vote before bumping the term, so a partitioned replica cannot inflate terms.
    public var preVote: Bool
    /// A leader that has not heard from a majority within an election timeout steps down; followers that heard
    /// from a leader within one reject (pre-)votes (leader stickiness).
    public var checkQuorum: Bool
    /// The most entries one AppendEntries message carries.
    public var maxEntriesPerAppend: Int
    /// The most payload bytes one AppendEntries message carries (at least one entry is always sent).
    public var maxBytesPerAppend: Int
    /// The most appends in flight to one follower while replicating (etcd's MaxInflightMsgs).
    public var maxInflightAppends: Int
    /// The payload of the empty entry a new leader appends, given its position (for Skein, a Kafka control batch
    /// at that offset and epoch, so that every replica stores the same bytes). Empty by default.
    public var leaderNoopPayload: @Sendable (LogPosition) -> [UInt8]
    /// The payload of a configuration entry for these voters at this position (for Skein, a Kafka control batch),
    /// and how to read the voters back from one. `VoterSet` by default.
    public var configurationPayload: @Sendable ([BrokerId], LogPosition) -> [UInt8]
    public var decodeVoters: @Sendable ([UInt8]) -> [BrokerId]

    public init(
        id: BrokerId, voters: [BrokerId], electionTicks: Int = 10, heartbeatTicks: Int = 1, preVote: Bool = true,
        checkQuorum: Bool = true, maxEntriesPerAppend: Int = 64, maxBytesPerAppend: Int = 1 << 20,
        maxInflightAppends: Int = 64,
        leaderNoopPayload: @escaping @Sendable (LogPosition) -> [UInt8] = { _ in [] },
        configurationPayload: @escaping @Sendable ([BrokerId], LogPosition) -> [UInt8] = { v, _ in VoterSet.encode(v) },
        decodeVoters: @escaping @Sendable ([UInt8]) -> [BrokerId] = { VoterSet.decode($0) }
    ) {
        precondition(electionTicks > heartbeatTicks && heartbeatTicks > 0, "need 0 < heartbeatTicks < electionTicks")
        self.id = id
        self.voters = voters.sorted()
        self.electionTicks = electionTicks
        self.heartbeatTicks = heartbeatTicks
        self.preVote = preVote
        self.checkQuorum = checkQuorum
        self.maxEntriesPerAppend = max(1, maxEntriesPerAppend)
        self.maxBytesPerAppend = max(1, maxBytesPerAppend)
        self.maxInflightAppends = max(1, maxInflightAppends)
        self.leaderNoopPayload = leaderNoopPayload
        self.configurationPayload = configurationPayload
        self.decodeVoters = decodeVoters
    }

}

/// How a follower answered an AppendEntries (or InstallSnapshot) message.
public enum AppendResult: Hashable, Sendable {
    /// The follower's log matches the leader's through `match`.
    case accepted(match: Int64)
    /// The entry at `prevIndex` did not match. `hint` is the follower's last entry at or below `prevIndex` whose
    /// term is at most the leader's term there, so the leader can skip a whole term at once (fast backtracking).
    case rejected(prevIndex: Int64, hint: LogPosition)
}

/// A message between replicas of one group. Small value type: the shell batches and encodes them.
public struct RaftMessage: Hashable, Sendable, CustomStringConvertible {
    public var from: BrokerId
    public var to: BrokerId
    /// The sender's term; for a pre-vote and a granted pre-vote response, the term the candidate would take.
    public var term: Int64
    public var kind: Kind

    public init(from: BrokerId, to: BrokerId, term: Int64, kind: Kind) {
        self.from = from
        self.to = to
        self.term = term
        self.kind = kind
    }

    /// The message types, after the Raft paper plus etcd's pre-vote, heartbeat and transfer messages.
    public enum Kind: Hashable, Sendable {
        case preVote(last: LogPosition)
        case preVoteResponse(granted: Bool)
        case vote(last: LogPosition, transfer: Bool)
        case voteResponse(granted: Bool)
        case append(prev: LogPosition, entries: [LogEntry], commit: Int64)
        case appendResponse(AppendResult)
        /// Carries min(follower's match, commit): a follower may only commit what it is known to share.
        case heartbeat(commit: Int64)
        case heartbeatResponse
        /// The follower is behind the leader's log start: it must take the leader's snapshot up to this position
        /// (the shell fetches the data; Raft only moves the log start). Answered with an `appendResponse`.
        case snapshot(RaftSnapshot)
        /// Leader transfer: campaign now, skipping pre-vote and leases.
        case timeoutNow
    }

    /// A short name of the message type, for transcripts and test filters.
    public var kindName: String {
        switch kind {
        case .preVote: "preVote"
        case .preVoteResponse: "preVoteResponse"
        case .vote: "vote"
        case .voteResponse: "voteResponse"
        case .append: "append"
        case .appendResponse: "appendResponse"
        case .heartbeat: "heartbeat"
        case .heartbeatResponse: "heartbeatResponse"
        case .snapshot: "snapshot"
        case .timeoutNow: "timeoutNow"
        }
    }

    public var description: String {
        let detail: String
        switch kind {
        case .preVote(let last): detail = "last=\(last)"
        case .preVoteResponse(let g), .voteResponse(let g): detail = g ? "granted" : "rejected"
        case .vote(let last, let transfer): detail = "last=\(last)\(transfer ? " transfer" : "")"
        case .append(let prev, let entries, let commit):
            detail = "prev=\(prev) entries=\(entries.map(\.description)) commit=\(commit)"
        case .appendResponse(.accepted(let match)): detail = "accepted match=\(match)"
        case .appendResponse(.rejected(let prevIndex, let hint)): detail = "rejected prev=\(prevIndex) hint=\(hint)"
        case .heartbeat(let commit): detail = "commit=\(commit)"
        case .heartbeatResponse, .timeoutNow: detail = ""
        case .snapshot(let snap): detail = "\(snap)"
        }
        let head = "\(from)->\(to) t\(term) \(kindName)"
        return detail.isEmpty ? head : head + " " + detail
    }
}

/// Why a proposal (or a transfer request) was refused.
public enum RaftError: Error, Hashable, Sendable {
    /// Only the leader takes proposals; `leader` is the one this replica knows of (`.none` if it knows none).
    case notLeader(leader: BrokerId)
    /// The leader is handing over leadership and takes no proposals meanwhile.
    case transferInProgress
    /// A transfer target must be another voter.
    case invalidTransferTarget
    /// One membership change at a time: the previous one (or the leader's first entry) is not committed yet.
    case configChangeInProgress
    /// Adding a voter already in the set, removing one not in it, or removing the last one.
    case invalidConfigChange
}

/// Everything a replica needs the shell to do, in etcd's order: persist `snapshot`, `entries` and `hardState`,
/// then send `messages`, then apply `committedEntries`, then call `advance(_:)` with this value.
public struct Ready: Sendable {
    /// The new hard state, if it changed since the last Ready.
    public var hardState: HardState?
    /// A new log start: discard the whole persisted log and start it after this position (InstallSnapshot).
    public var snapshot: RaftSnapshot?
    /// Entries to persist: truncate the persisted log from the first one's index, then append them all.
    public var entries: [LogEntry]
    /// Messages to send once the above is durable.
    public var messages: [RaftMessage]
    /// Entries known committed, in order, to apply to the state machine.
    public var committedEntries: [LogEntry]
    /// The role and known leader at the time of this Ready (soft state: not persisted).
    public var role: RaftRole
    public var leader: BrokerId

    public init(
        hardState: HardState? = nil, snapshot: RaftSnapshot? = nil, entries: [LogEntry] = [],
        messages: [RaftMessage] = [], committedEntries: [LogEntry] = [], role: RaftRole = .follower,
        leader: BrokerId = .none
    ) {
        self.hardState = hardState
        self.snapshot = snapshot
        self.entries = entries
        self.messages = messages
        self.committedEntries = committedEntries
        self.role = role
        self.leader = leader
    }

    public var isEmpty: Bool {
        hardState == nil && snapshot == nil && entries.isEmpty && messages.isEmpty && committedEntries.isEmpty
    }
}

/// The durable part of a replica: what a restart starts from. `apply(_:)` is what the shell does with a Ready.
public struct RaftPersistentState: Hashable, Sendable {
    public var hardState: HardState
    /// The snapshot point: entries at or below `logStart.index` are gone.
    public var logStart: LogPosition
    /// The voters as of the log start; nil means the replica's configured initial voters.
    public var voters: [BrokerId]?
    /// Entries after the log start, contiguous.
    public var entries: [LogEntry]

    public init(
        hardState: HardState? = nil, logStart: LogPosition = .empty, voters: [BrokerId]? = nil,
        entries: [LogEntry] = []
    ) {
        self.voters = voters
        self.hardState = hardState ?? HardState(term: logStart.term, votedFor: .none, commit: logStart.index)
        self.logStart = logStart
        self.entries = entries
    }

    public var lastIndex: Int64 { entries.last?.lastIndex ?? logStart.index }

    /// Persists a Ready (the in-memory storage of tests and the simulation).
    public mutating func apply(_ ready: Ready) {
        if let hs = ready.hardState { hardState = hs }
        if let snap = ready.snapshot {
            logStart = snap.position
            voters = snap.voters
            entries = []
        }
        if let first = ready.entries.first {
            let keep = entries.firstIndex(where: { $0.index >= first.index }) ?? entries.count
            precondition(
                first.index == (keep == 0 ? logStart.index : entries[keep - 1].lastIndex) + 1,
                "Ready entries do not follow the persisted log")
            entries.removeLast(entries.count - keep)
            entries.append(contentsOf: ready.entries)
        }
    }

    /// Drops persisted entries through the last entry ending at or below `index` (already applied, as the shell
    /// decides).
    public mutating func compact(through index: Int64) {
        let k = entries.firstIndex(where: { $0.lastIndex > index }) ?? entries.count
        guard k > 0 else { return }
        if let last = entries[..<k].last(where: { $0.kind == .configuration }) {
            voters = VoterSet.decode(last.payload)
        }
        logStart = entries[k - 1].position
        entries.removeFirst(k)
    }
}
