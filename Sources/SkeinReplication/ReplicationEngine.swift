import KafkaRecords
import Logging
import NIOConcurrencyHelpers
import NIOCore
import SkeinModel
import SkeinRaft
import SkeinStorage
import SkeinTransactions

/// How replicas reach their peers: one-way frames and requests, as `SkeinRPC` provides over mutual TLS (tests
/// use an in-memory one). `kind` tells the receiver what the payload is (`ReplicationEngine.raftKind`, ...).
public protocol PeerTransport: Sendable {
    func send(to: BrokerId, kind: UInt16, payload: ByteBuffer)
    func request(to: BrokerId, kind: UInt16, payload: ByteBuffer, timeout: TimeAmount) async throws -> ByteBuffer
}

/// Why an append was not taken (or not confirmed).
public enum ReplicationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// This replica does not lead the group; `leader` is the one it knows of.
    case notLeader(leader: BrokerId)
    /// The group is not hosted here.
    case unknownGroup(GroupId)
    /// The entry was appended but lost its place before it committed (a new leader overwrote it, or this one
    /// stepped down); it may still commit, so a retry can duplicate it.
    case leadershipLost
    case storage(String)
    /// Refused by the partition's rules (an idempotent producer's sequence or epoch), with Kafka's error.
    case rejected(KafkaErrorCode, String)

    public var description: String {
        switch self {
        case .notLeader(let leader): "not the leader (leader: \(leader))"
        case .unknownGroup(let g): "no replica of \(g) here"
        case .leadershipLost: "leadership changed before the entry committed"
        case .storage(let why): "storage: \(why)"
        case .rejected(_, let why): why
        }
    }
}

/// A group's state as readers on other threads see it (updated after every Ready).
public struct ReplicaStatus: Hashable, Sendable {
    public var role: RaftRole
    public var leader: BrokerId
    /// The leader epoch (Raft term).
    public var term: Int64
    /// The high watermark: the first offset not known committed.
    public var highWatermark: Int64
    public var logEndOffset: Int64
    public var voters: [BrokerId]
    /// Voters whose log the leader knows to be at most `maxLagEntries` behind (only meaningful on the leader).
    public var inSync: [BrokerId]
}

/// Where an accepted append landed.
public struct AppendPosition: Hashable, Sendable {
    public var baseOffset: Int64
    public var lastOffset: Int64
    public var term: Int64
}

/// The shell around the Raft replicas of one node: it ticks them, feeds them the messages peers send, carries out
/// their Readies (persist to the partition log, send, apply), batches all outgoing messages to one peer into one
/// frame per round, and completes appends when they are stored (acks=1) or committed (acks=all).
///
/// All replica state lives on one event loop; the public methods hop to it. A follower that has fallen behind the
/// leader's in-memory log gets the missing batches from the leader's disk (a catch-up fetch) instead of a
/// snapshot.
public final class ReplicationEngine: @unchecked Sendable {
    public static let raftKind: UInt16 = 1
    public static let catchUpKind: UInt16 = 2
    /// One-way: the groups the sender leads, with their terms, so that nodes without a replica of a partition
    /// can still name its leader in Metadata.
    public static let leadershipKind: UInt16 = 5

    public struct Settings: Sendable {
        public var tickInterval: TimeAmount = .milliseconds(50)
        public var electionTicks = 10
        public var heartbeatTicks = 2
        public var maxEntriesPerAppend = 256
        /// Bytes of batches per append message, and append messages in flight per follower (flow control).
        public var maxBytesPerAppend = 1 << 20
        public var maxInflightAppends = 16
        /// In-memory Raft entries kept per group beyond what every follower has: above it a slow follower is
        /// served from disk by catch-up fetches.
        public var maxInMemoryBytes = 16 << 20
        public var catchUpChunkBytes = 4 << 20
        public var maxLagEntries: Int64 = 1000
        /// How often leaderships move back to preferred replicas (ticks: 100 = 5 s).
        public var balanceTicks = 100
        public init() {}
    }

    final class Replica: @unchecked Sendable {  // confined to the engine's loop
        let group: GroupId
        /// Which topic of this name (from its id; 0 for the controller): see `RaftWire`.
        let incarnation: UInt64
        var node: RaftNode
        let store: ReplicaStore
        var commitWaiters: [(position: LogPosition, promise: EventLoopPromise<AppendPosition>)] = []
        /// A Ready waiting for a catch-up fetch to bring the leader's batches; nothing else runs meanwhile.
        var catchingUp = false
        /// The commit index as of the last Ready carried out: what this replica's disk holds for sure.
        var durableCommit: Int64
        var lastRole: RaftRole = .follower
        /// The replica that should lead when it is healthy (the first of the partition's replica set).
        var preferredLeader: BrokerId?
        /// The voter set the cluster metadata wants (after a reassignment); the leader moves toward it one server
        /// at a time. Nil: keep the voters as they are.
        var targetVoters: [BrokerId]?
        init(group: GroupId, incarnation: UInt64, node: RaftNode, store: ReplicaStore) {
            self.group = group
            self.incarnation = incarnation
            self.node = node
            self.store = store
            durableCommit = node.commitIndex
        }
    }

    public let nodeId: BrokerId
    public let loop: any EventLoop
    public let settings: Settings
    private let transport: any PeerTransport
    private let logger: Logger
    private let clock: any SkeinModel.Clock
    private var replicas: [GroupId: Replica] = [:]
    private var outbound: [BrokerId: [RaftWire.Message]] = [:]
    private var ticker: RepeatedTask?
    private var seed: UInt64
    private let statuses = NIOLockedValueBox([GroupId: ReplicaStatus]())
    private let counters = NIOLockedValueBox((catchUps: 0, catchUpBytes: 0, restarts: 0))
    /// Catch-up fetches completed, bytes they brought, and replicas restarted from disk after a failure.
    public var statistics: (catchUps: Int, catchUpBytes: Int, restarts: Int) { counters.withLockedValue { $0 } }
    /// Per group, what receives its committed entries in order on the engine's loop (the controller applies its
    /// log there; data partitions need none).
    private let commitHandlers = NIOLockedValueBox([GroupId: @Sendable ([LogEntry]) -> Void]())

    /// Registers the receiver of `group`'s committed entries (before the group is added).
    public func addCommitHandler(for group: GroupId, _ handler: @escaping @Sendable ([LogEntry]) -> Void) {
        commitHandlers.withLockedValue { $0[group] = handler }
    }
    /// A group's high watermark moved (wakes long-polling fetches).
    public var onHighWatermark: (@Sendable (GroupId, Int64) -> Void)?

    public init(
        nodeId: BrokerId, loop: any EventLoop, transport: any PeerTransport, settings: Settings = Settings(),
        clock: any SkeinModel.Clock, seed: UInt64, logger: Logger
    ) {
        self.nodeId = nodeId
        self.loop = loop
        self.transport = transport
        self.settings = settings
        self.clock = clock
        self.seed = seed
        self.logger = logger
    }

    public func start() {
        ticker = loop.scheduleRepeatedTask(initialDelay: settings.tickInterval, delay: settings.tickInterval) {
            [weak self] _ in self?.tickAll()
        }
    }

    /// Stops ticking and saves every replica's commit index.
    public func stop() -> EventLoopFuture<Void> {
        loop.submit {
            self.ticker?.cancel()
            self.ticker = nil
            for r in self.replicas.values { try? r.store.saveCommit() }
            for r in self.replicas.values { self.failWaiters(r, .leadershipLost) }
        }
    }

    // MARK: - Groups

    /// Starts (or restarts) the replica of `group` over `log`, with the given voters. `incarnation` tells this
    /// topic from an earlier one of the same name (`RaftWire`).
    public func addGroup(
        _ group: GroupId, voters: [BrokerId], log: PartitionLog, preferredLeader: BrokerId? = nil,
        incarnation: UInt64 = 0
    ) -> EventLoopFuture<Void> {
        loop.submit {
            guard self.replicas[group] == nil else { return }
            let store = try ReplicaStore(log: log)
            // The voters it was created with, kept from now on: later the log's configuration entries decide.
            if try store.loadVoters() == nil { try store.saveVoters(voters) }
            let state = try store.load()
            self.seed = self.seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let clock = self.clock
            let config = RaftConfig(
                id: self.nodeId, voters: voters, electionTicks: self.settings.electionTicks,
                heartbeatTicks: self.settings.heartbeatTicks, maxEntriesPerAppend: self.settings.maxEntriesPerAppend,
                maxBytesPerAppend: self.settings.maxBytesPerAppend,
                maxInflightAppends: self.settings.maxInflightAppends,
                leaderNoopPayload: { ReplicaStore.leaderChangeBatch(at: $0, timestamp: clock.nowMillis) },
                configurationPayload: { ReplicaStore.votersBatch($0, at: $1, timestamp: clock.nowMillis) },
                decodeVoters: { ReplicaStore.voters(inBatch: $0) })
            let node = RaftNode(
                config: config, state: state,
                random: SeededRandom(seed: self.seed ^ UInt64(bitPattern: Int64(group.hashValue))),
                appliedIndex: state.logStart.index)
            let replica = Replica(group: group, incarnation: incarnation, node: node, store: store)
            replica.preferredLeader = preferredLeader
            self.replicas[group] = replica
            // A group of one elects itself at once; so does the preferred replica of a new group (as Kafka's
            // controller makes the first replica the leader of a new partition), instead of waiting out an election
            // timeout: a new topic takes writes, and a new coordinator partition answers, without that second.
            let fresh = state.hardState.term == 0 && state.entries.isEmpty && state.logStart == .empty
            if voters == [self.nodeId] || (fresh && preferredLeader == self.nodeId) { replica.node.startElection() }
            self.process(replica)
            self.publish(replica)
            self.flush()
        }
    }

    /// Stops the replica of `group` (its log stays; the caller closes or deletes it).
    public func removeGroup(_ group: GroupId) -> EventLoopFuture<Void> {
        loop.submit {
            guard let r = self.replicas.removeValue(forKey: group) else { return }
            try? r.store.saveCommit()
            self.failWaiters(r, .leadershipLost)
            _ = self.statuses.withLockedValue { $0.removeValue(forKey: group) }
        }
    }

    public func status(of group: GroupId) -> ReplicaStatus? { statuses.withLockedValue { $0[group] } }
    public var allStatuses: [GroupId: ReplicaStatus] { statuses.withLockedValue { $0 } }

    /// Asks the leader of `group` here to hand over to `target` (or to the most caught-up voter when nil).
    public func transferLeadership(_ group: GroupId, to target: BrokerId? = nil) -> EventLoopFuture<Bool> {
        loop.submit {
            guard let r = self.replicas[group], r.node.role == .leader else { return false }
            let peers = r.node.voters.filter { $0 != self.nodeId }
            guard
                let to = target
                    ?? peers.max(by: { (r.node.matchIndex(of: $0) ?? -2) < (r.node.matchIndex(of: $1) ?? -2) })
            else { return false }
            guard case .success = r.node.transferLeadership(to: to) else { return false }
            self.process(r)
            self.flush()
            return true
        }
    }

    // MARK: - Appends

    /// Appends record batches (already validated) at the leader of `group`: each gets its offsets and the leader
    /// epoch written in place and becomes one entry. The future completes once the batches are stored here
    /// (`waitForCommit` false, acks=1) or committed (acks=all), with where they landed.
    /// `origin` decides the producer-state check (a client's batch, a coordinator's, a transaction marker);
    /// `verificationGuard` is that of a KIP-890 verification behind `.client(verified: true)`.
    public func append(
        _ group: GroupId, batches: [ByteBuffer], waitForCommit: Bool, origin: BatchOrigin = .client(verified: false),
        verificationGuard: UInt64? = nil
    ) -> EventLoopFuture<AppendPosition> {
        loop.flatSubmit {
            guard let r = self.replicas[group] else {
                return self.loop.makeFailedFuture(ReplicationError.unknownGroup(group))
            }
            guard r.node.role == .leader, !r.catchingUp else {
                return self.loop.makeFailedFuture(ReplicationError.notLeader(leader: r.node.leader))
            }
            var first: Int64 = -1
            var lastKafka: Int64 = -1
            var last = LogPosition.empty
            for batch in batches {
                guard var view = try? RecordBatchView(bytes: batch) else {
                    return self.loop.makeFailedFuture(ReplicationError.storage("not a record batch"))
                }
                // Idempotent producers: the log holds every stored batch's producer state (this leader's appends
                // were persisted before this call), so the check sees the batches of earlier requests.
                if view.header.producerId.rawValue >= 0 {
                    let verdict: ProducerVerdict
                    do {
                        verdict = try r.store.log.checkProducer(
                            view, origin: origin, verificationGuard: verificationGuard)
                    } catch {
                        return self.loop.makeFailedFuture(ReplicationError.storage("\(error)"))
                    }
                    switch verdict {
                    case .append:
                        break
                    case .rejected(let code, let message):
                        return self.loop.makeFailedFuture(ReplicationError.rejected(code, message))
                    case .duplicate(let original):
                        guard batches.count == 1 else {
                            return self.loop.makeFailedFuture(
                                ReplicationError.rejected(.invalidRecord, "A duplicate batch among several."))
                        }
                        return self.duplicate(r, original, waitForCommit: waitForCommit)
                    }
                }
                // Every entry in memory is on disk (each change is processed at once) but this call's own
                // batches, which are data: the next Kafka offset follows from the translator.
                let base = r.store.kafkaOffset(atRaft: r.node.log.lastIndex + 1)
                view.setBaseOffset(base)
                view.setPartitionLeaderEpoch(Int32(truncatingIfNeeded: r.node.term))
                switch r.node.propose(Array(view.bytes.readableBytesView), count: Int64(view.lastOffsetDelta) + 1) {
                case .success(let position):
                    if first < 0 { first = base }
                    lastKafka = base + Int64(view.lastOffsetDelta)
                    last = position
                case .failure(.notLeader(let leader)):
                    return self.loop.makeFailedFuture(ReplicationError.notLeader(leader: leader))
                case .failure:
                    return self.loop.makeFailedFuture(ReplicationError.notLeader(leader: .none))
                }
            }
            let landed = AppendPosition(baseOffset: first, lastOffset: lastKafka, term: last.term)
            let promise = self.loop.makePromise(of: AppendPosition.self)
            if waitForCommit {
                r.commitWaiters.append((last, promise))
            }
            self.process(r)
            self.flush()
            if !waitForCommit {
                // process() persisted the entries synchronously, unless that failed.
                if r.node.log.lastIndex >= last.index && r.store.log.logEndOffset > lastKafka {
                    promise.succeed(landed)
                } else {
                    promise.fail(ReplicationError.storage("append did not reach the log"))
                }
            }
            return promise.futureResult.map { _ in landed }
        }
    }

    /// A producer's retry of a batch already in the log: answered with the original's offsets, once the original
    /// is committed when the producer asked for acks=all (it may still be uncommitted, from an earlier leader).
    private func duplicate(_ r: Replica, _ original: ProducerBatch, waitForCommit: Bool)
        -> EventLoopFuture<AppendPosition>
    {
        let raftLast = r.store.raftIndex(ofKafka: original.lastOffset)
        let term = r.node.log.term(at: raftLast)
        let landed = AppendPosition(baseOffset: original.baseOffset, lastOffset: original.lastOffset, term: term ?? -1)
        // An entry no longer in memory is applied, so committed.
        guard waitForCommit, let term, r.node.commitIndex < raftLast else {
            return loop.makeSucceededFuture(landed)
        }
        let promise = loop.makePromise(of: AppendPosition.self)
        r.commitWaiters.append((LogPosition(index: raftLast, term: term), promise))
        return promise.futureResult.map { _ in landed }
    }

    // MARK: - DeleteRecords

    /// DeleteRecords at the leader of `group`: a control batch carrying the new log start offset goes through the
    /// log like any entry, and every replica raises its log start when the batch commits there (a follower that
    /// catches up from the leader's disk past it takes the leader's log start instead). Completes with the log
    /// start offset here once committed and applied. `offset` -1 means the high watermark; above it is
    /// OFFSET_OUT_OF_RANGE, as in Kafka.
    public func deleteRecords(_ group: GroupId, before offset: Int64) -> EventLoopFuture<Int64> {
        loop.flatSubmit {
            guard let r = self.replicas[group] else {
                return self.loop.makeFailedFuture(ReplicationError.unknownGroup(group))
            }
            guard r.node.role == .leader, !r.catchingUp else {
                return self.loop.makeFailedFuture(ReplicationError.notLeader(leader: r.node.leader))
            }
            let log = r.store.log
            let highWatermark = r.store.kafkaOffset(atRaft: r.node.commitIndex + 1)
            let target = offset == -1 ? highWatermark : offset
            guard target >= 0, target <= highWatermark else {
                return self.loop.makeFailedFuture(
                    ReplicationError.rejected(
                        .offsetOutOfRange,
                        "Offset \(offset) is outside [0, \(highWatermark)], the high watermark."))
            }
            if target <= log.logStartOffset { return self.loop.makeSucceededFuture(log.logStartOffset) }
            let base = r.node.log.lastIndex + 1
            let batch = Self.logStartBatch(target, at: LogPosition(index: base, term: r.node.term), timestamp: self.clock.nowMillis)
            guard case .success(let position) = r.node.propose(batch, count: 1) else {
                return self.loop.makeFailedFuture(ReplicationError.notLeader(leader: r.node.leader))
            }
            let promise = self.loop.makePromise(of: AppendPosition.self)
            r.commitWaiters.append((position, promise))
            self.process(r)
            self.flush()
            return promise.futureResult.map { _ in log.logStartOffset }
        }
    }

    static func logStartBatch(_ offset: Int64, at position: LogPosition, timestamp: Int64) -> [UInt8] {
        var value = ByteBuffer()
        value.writeInteger(Int16(0))  // version
        value.writeInteger(offset)
        // A one-record uncompressed control batch cannot fail to build.
        let batch = try! RecordBatchBuilder.controlBatch(
            type: .unknown(ReplicaStore.logStartControlType), value: value, baseOffset: position.index,
            partitionLeaderEpoch: Int32(truncatingIfNeeded: position.term), timestamp: timestamp)
        return Array(batch.readableBytesView)
    }

    /// The new log start a committed entry carries, if it is a log-start move.
    static func logStartMove(in payload: [UInt8]) -> Int64? {
        // Control batches only (attributes bit 5): a cheap test before any parsing.
        guard payload.count > 61, payload[22] & 0x20 != 0,
            let view = try? RecordBatchView(bytes: ByteBuffer(bytes: payload)),
            (try? view.controlRecordType()) == .unknown(ReplicaStore.logStartControlType),
            var value = try? view.decodeRecords().first?.value,
            value.readInteger(as: Int16.self) == 0, let offset = value.readInteger(as: Int64.self)
        else { return nil }
        return offset
    }

    /// A committed configuration entry (or a snapshot's voters after a catch-up) becomes the voter set a restart
    /// starts from.
    private func saveCommittedVoters(_ r: Replica, _ ready: Ready) {
        var voters = ready.snapshot?.voters
        if let last = ready.committedEntries.last(where: { $0.kind == .configuration }) {
            voters = ReplicaStore.voters(inBatch: last.payload)
        }
        guard let voters, !voters.isEmpty else { return }
        do {
            try r.store.saveVoters(voters)
        } catch {
            logger.error("cannot save the voters", metadata: ["group": "\(r.group)", "error": "\(error)"])
        }
    }

    /// The cluster metadata's replica set for `group`: its leader changes the Raft voters to match, one server at
    /// a time, removals first (a dead replica out before a new one in keeps every step committable by the live
    /// ones).
    public func setTargetVoters(_ group: GroupId, _ voters: [BrokerId]) {
        loop.execute {
            guard let r = self.replicas[group] else { return }
            r.targetVoters = voters.sorted()
            r.preferredLeader = voters.first
            self.moveTowardTargetVoters(r)
            self.flush()
        }
    }

    private func moveTowardTargetVoters(_ r: Replica) {
        guard let target = r.targetVoters, r.node.role == .leader, !r.catchingUp else { return }
        let current = Set(r.node.voters)
        guard current != Set(target), !target.isEmpty else { return }
        let change: ConfigChange
        if let gone = current.subtracting(target).sorted().first(where: { $0 != nodeId })
            ?? current.subtracting(target).sorted().first
        {
            // Keep a majority of the target able to commit: never shrink below one replica.
            guard current.count > 1 else { return }
            change = .removeVoter(gone)
        } else if let new = Set(target).subtracting(current).sorted().first {
            change = .addVoter(new)
        } else {
            return
        }
        switch r.node.proposeConfigChange(change) {
        case .success(let position):
            logger.info(
                "changing voters", metadata: ["group": "\(r.group)", "change": "\(change)", "at": "\(position)"])
            process(r)
        case .failure:
            break  // one change at a time: the next try comes with the next sweep
        }
    }

    private func applyLogStartMoves(_ r: Replica, _ entries: [LogEntry]) {
        for e in entries where e.kind == .data {
            guard let offset = Self.logStartMove(in: e.payload) else { continue }
            do {
                try r.store.log.deleteRecords(before: min(offset, r.store.log.logEndOffset))
            } catch {
                logger.error(
                    "cannot move the log start", metadata: ["group": "\(r.group)", "error": "\(error)"])
            }
        }
    }

    // MARK: - Inputs

    /// A frame of Raft messages from `from` (its identity comes from its certificate).
    public func receive(from: BrokerId, payload: ByteBuffer) {
        loop.execute {
            var buffer = payload
            let messages: [RaftWire.Message]
            do {
                messages = try RaftWire.decode(&buffer)
            } catch {
                self.logger.warning(
                    "dropping a malformed replication frame", metadata: ["from": "\(from)", "error": "\(error)"])
                return
            }
            self.lastHeard[from] = self.ticks
            var touched: [GroupId: Replica] = [:]
            for (group, incarnation, m) in messages {
                // A peer may only speak for itself, and only to the same incarnation of the group (not to a topic
                // created again under the name of one it still has a replica of).
                guard m.from == from, m.to == self.nodeId, let r = self.replicas[group], !r.catchingUp,
                    r.incarnation == incarnation
                else { continue }
                r.node.step(m)
                touched[group] = r
            }
            for r in touched.values { self.process(r) }
            self.flush()
        }
    }

    private var ticks = 0
    /// The tick at which each peer was last heard from (any frame): a silent peer is not in sync.
    private var lastHeard: [BrokerId: Int] = [:]
    private let hints = NIOLockedValueBox([GroupId: LeaderHint]())

    private let reachable = NIOLockedValueBox<Set<BrokerId>?>(nil)

    /// Whether `node` was heard from within two election timeouts (this node always is; every node until the
    /// first check, half a second after start). What Metadata reports as offline replicas.
    public func isReachable(_ node: BrokerId) -> Bool {
        reachable.withLockedValue { $0?.contains(node) ?? true }
    }

    /// A group's leader and in-sync replicas as its leader announced them.
    public struct LeaderHint: Hashable, Sendable {
        public var leader: BrokerId
        public var term: Int64
        public var inSync: [BrokerId]
        public var incarnation: UInt64 = 0
    }
    private let peerList = NIOLockedValueBox([BrokerId]())

    /// The nodes to tell about this node's leaderships (every other node of the cluster).
    public func setPeers(_ peers: [BrokerId]) { peerList.withLockedValue { $0 = peers.filter { $0 != nodeId } } }

    /// The leader of a group this node has no replica of, as its leader last announced.
    public func leaderHint(_ group: GroupId) -> LeaderHint? { hints.withLockedValue { $0[group] } }

    /// Leadership announcements from `from`: the latest term wins.
    public func receiveAnnouncement(from: BrokerId, payload: ByteBuffer) {
        // Every node announces twice a second, even one that shares no group with this one: proof of life.
        loop.execute { self.lastHeard[from] = self.ticks }
        var b = payload
        guard let n = b.readInteger(as: UInt32.self), Int(n) <= b.readableBytes / 24 else { return }
        var led: [(GroupId, LeaderHint)] = []
        for _ in 0..<n {
            guard let group = try? RaftWire.readGroup(&b), let incarnation = b.readInteger(as: UInt64.self),
                let term = b.readInteger(as: Int64.self),
                let count = b.readInteger(as: UInt16.self), Int(count) <= b.readableBytes / 4
            else { return }
            var inSync: [BrokerId] = []
            for _ in 0..<count { inSync.append(BrokerId(b.readInteger(as: Int32.self)!)) }
            led.append((group, LeaderHint(leader: from, term: term, inSync: inSync, incarnation: incarnation)))
        }
        hints.withLockedValue { h in
            // The latest term wins; a new incarnation (a topic created again) starts its terms afresh.
            for (group, hint) in led
            where (h[group]?.term ?? -1) <= hint.term || h[group]?.incarnation != hint.incarnation {
                h[group] = hint
            }
        }
    }

    /// Preferred leaders: a group led here whose preferred replica is another voter, caught up and heard from
    /// recently, is handed to it (after a node comes back, or when elections piled leaderships on one node).
    private func balanceLeaderships() {
        let recent = ticks - settings.electionTicks
        for r in replicas.values where r.node.role == .leader && r.node.transferTarget == nil {
            guard let preferred = r.preferredLeader, preferred != nodeId, r.node.voters.contains(preferred),
                (lastHeard[preferred] ?? Int.min) >= recent, r.node.matchIndex(of: preferred) == r.node.log.lastIndex
            else { continue }
            if case .success = r.node.transferLeadership(to: preferred) { process(r) }
        }
        flush()
    }

    private func announceLeaderships() {
        let peers = peerList.withLockedValue { $0 }
        guard !peers.isEmpty else { return }
        let led = replicas.values.filter { $0.node.role == .leader }
        var b = ByteBufferAllocator().buffer(capacity: 8 + led.count * 32)
        b.writeInteger(UInt32(led.count))
        for r in led {
            RaftWire.writeGroup(r.group, into: &b)
            b.writeInteger(r.incarnation)
            b.writeInteger(r.node.term)
            let inSync = statuses.withLockedValue { $0[r.group]?.inSync } ?? [nodeId]
            b.writeInteger(UInt16(inSync.count))
            for id in inSync { b.writeInteger(id.rawValue) }
        }
        for peer in peers { transport.send(to: peer, kind: Self.leadershipKind, payload: b) }
    }

    private func tickAll() {
        ticks += 1
        for r in replicas.values where !r.catchingUp {
            r.node.tick()
            process(r)
        }
        flush()
        if ticks % 10 == 0 {
            announceLeaderships()
            let recent = ticks - 2 * settings.electionTicks
            let live = Set(lastHeard.filter { $0.value >= recent }.keys).union([nodeId])
            reachable.withLockedValue { $0 = live }
        }
        if ticks % settings.balanceTicks == 0 { balanceLeaderships() }
        if ticks % 10 == 5 {
            for r in replicas.values where r.targetVoters != nil && r.node.role == .leader { moveTowardTargetVoters(r) }
            flush()
        }
        // The commit index on disk is a hint for restarts (what to replay); refresh it now and then.
        if ticks % 100 == 0 {
            for r in replicas.values { try? r.store.saveCommit() }
        }
    }

    // MARK: - Ready

    private func process(_ r: Replica) {
        while r.node.hasReady && !r.catchingUp {
            let ready = r.node.ready()
            if let snap = ready.snapshot {
                startCatchUp(r, ready: ready, to: snap.position, from: ready.leader)
                return
            }
            do {
                try r.store.persist(ready)
            } catch {
                logger.error(
                    "replica storage failed; restarting it from disk",
                    metadata: ["group": "\(r.group)", "error": "\(error)"])
                restart(r)
                return
            }
            complete(r, ready)
        }
    }

    /// Sends, applies and advances a Ready whose state is durable.
    private func complete(_ r: Replica, _ ready: Ready) {
        for m in ready.messages { outbound[m.to, default: []].append((r.group, r.incarnation, m)) }
        if !ready.committedEntries.isEmpty, let handler = commitHandlers.withLockedValue({ $0[r.group] }) {
            handler(ready.committedEntries)
        }
        applyLogStartMoves(r, ready.committedEntries)
        saveCommittedVoters(r, ready)
        r.node.advance(ready)
        r.durableCommit = r.node.commitIndex
        // The controller replays its log up to the saved commit on restart: keep that current (its commits are
        // rare), so that a restarted node serves the metadata it had.
        if r.group == .controller && !ready.committedEntries.isEmpty { try? r.store.saveCommit() }
        resolveWaiters(r)
        compactMemory(r)
        publish(r)
    }

    private func resolveWaiters(_ r: Replica) {
        guard !r.commitWaiters.isEmpty else { return }
        if r.node.role != .leader {
            failWaiters(r, .leadershipLost)
            return
        }
        var pending: [(position: LogPosition, promise: EventLoopPromise<AppendPosition>)] = []
        for w in r.commitWaiters {
            if r.node.log.term(at: w.position.index).map({ $0 != w.position.term }) ?? false {
                w.promise.fail(ReplicationError.leadershipLost)
            } else if r.node.commitIndex >= w.position.index {
                w.promise.succeed(AppendPosition(baseOffset: -1, lastOffset: w.position.index, term: w.position.term))
            } else {
                pending.append(w)
            }
        }
        r.commitWaiters = pending
    }

    private func failWaiters(_ r: Replica, _ error: ReplicationError) {
        let waiters = r.commitWaiters
        r.commitWaiters = []
        for w in waiters { w.promise.fail(error) }
    }

    /// Drops applied entries from memory: everything every voter holds, and beyond that whatever exceeds the
    /// in-memory budget (a follower that needs it then catches up from disk).
    private func compactMemory(_ r: Replica) {
        let applied = r.node.appliedIndex
        var through = applied
        if r.node.role == .leader {
            for peer in r.node.voters where peer != nodeId {
                through = min(through, r.node.matchIndex(of: peer) ?? through)
            }
            if r.node.log.payloadBytes > settings.maxInMemoryBytes { through = applied }
        }
        if through > r.node.log.start.index { r.node.compact(through: through) }
    }

    private func publish(_ r: Replica) {
        let node = r.node
        var inSync: [BrokerId] = []
        if node.role == .leader {
            // In sync: heard from within an election timeout and at most maxLagEntries behind.
            let recent = ticks - settings.electionTicks
            inSync = node.voters.filter { v in
                v == nodeId
                    || ((lastHeard[v] ?? Int.min) >= recent
                        && (node.matchIndex(of: v).map { $0 >= node.log.lastIndex - settings.maxLagEntries } ?? false))
            }
        }
        let status = ReplicaStatus(
            role: node.role, leader: node.leader, term: node.term,
            highWatermark: r.store.kafkaOffset(atRaft: node.commitIndex + 1),
            logEndOffset: r.store.kafkaOffset(atRaft: node.log.lastIndex + 1), voters: node.voters, inSync: inSync)
        var hwMoved = false
        statuses.withLockedValue {
            hwMoved = $0[r.group]?.highWatermark != status.highWatermark
            $0[r.group] = status
        }
        if r.lastRole != node.role {
            logger.info(
                "replica role changed",
                metadata: [
                    "group": "\(r.group)", "role": "\(node.role)", "term": "\(node.term)", "leader": "\(node.leader)",
                ])
            r.lastRole = node.role
        }
        if hwMoved { onHighWatermark?(r.group, status.highWatermark) }
    }

    private func flush() {
        guard !outbound.isEmpty else { return }
        let batches = outbound
        outbound = [:]
        for (peer, messages) in batches {
            var buffer = ByteBufferAllocator().buffer(capacity: 64 + messages.count * 48)
            RaftWire.encode(messages, into: &buffer)
            transport.send(to: peer, kind: Self.raftKind, payload: buffer)
        }
    }

    /// Rebuilds a replica from its disk state, as after a crash (Raft tolerates that at any time).
    private func restart(_ r: Replica) {
        counters.withLockedValue { $0.restarts += 1 }
        failWaiters(r, .leadershipLost)
        do {
            let state = try r.store.load()
            r.node = RaftNode(
                config: r.node.config, state: state, random: SeededRandom(seed: UInt64(bitPattern: clock.nowMillis)),
                appliedIndex: state.logStart.index)
            r.durableCommit = r.node.commitIndex
            r.catchingUp = false
        } catch {
            logger.critical(
                "replica cannot reload its log; it stays down", metadata: ["group": "\(r.group)", "error": "\(error)"])
            replicas[r.group] = nil
        }
    }

    // MARK: - Catch-up from the leader's disk

    /// The leader's in-memory log starts after what this follower has: fetch the entries up to `position` from
    /// the leader's disk, after cutting this log back to what it knows committed (that prefix is the leader's).
    private func startCatchUp(_ r: Replica, ready: Ready, to position: LogPosition, from leader: BrokerId) {
        r.catchingUp = true
        let store = r.store
        let log = store.log
        do {
            try store.truncate(fromRaft: min(r.durableCommit + 1, store.raftEnd + 1))
        } catch {
            restart(r)
            return
        }
        logger.info(
            "catching up from the leader's log",
            metadata: [
                "group": "\(r.group)", "from": "\(store.raftEnd + 1)", "through": "\(position.index)",
                "leader": "\(leader)",
            ])
        let transport = self.transport
        let group = r.group
        let chunk = settings.catchUpChunkBytes
        let promise = loop.makePromise(of: Void.self)
        promise.completeWithTask {
            while store.raftEnd < position.index {
                var request = ByteBufferAllocator().buffer(capacity: 64)
                CatchUp.encodeRequest(
                    group: group, incarnation: r.incarnation, from: store.raftEnd + 1, through: position.index,
                    maxBytes: chunk, into: &request)
                var response = try await transport.request(
                    to: leader, kind: Self.catchUpKind, payload: request, timeout: .seconds(10))
                let (leaderStart, internals, batches) = try CatchUp.decodeResponse(&response)
                let before = store.raftEnd
                if leaderStart > log.logEndOffset {
                    // The log start may lie inside a batch (DeleteRecords): start where that batch does.
                    let firstBase = batches.getInteger(at: batches.readerIndex, as: Int64.self) ?? leaderStart
                    try log.truncateFully(startingAt: min(firstBase, leaderStart))
                }
                // Data and internal entries in Raft order: the data before each internal entry first; an internal
                // entry whose data this chunk does not bring waits for the next one.
                var pending = Array(RecordBatchSequence(batches))
                var bytes = 0
                func appendData(below limit: Int64) throws {
                    var buffer = ByteBuffer()
                    while let b = pending.first, b.baseOffset < limit {
                        var bb = b.bytes
                        buffer.writeBuffer(&bb)
                        pending.removeFirst()
                    }
                    if buffer.readableBytes > 0, let info = try log.appendAsFollower(buffer) { bytes += info.sizeInBytes }
                }
                var blocked = false
                if internals.isEmpty {
                    // Batches only (the usual case): appended as they came, without a copy.
                    if let info = try log.appendAsFollower(batches) { bytes += info.sizeInBytes }
                    pending = []
                }
                for e in internals {
                    let at = store.kafkaOffset(atRaft: e.index)
                    try appendData(below: at)
                    guard log.logEndOffset >= at else {
                        blocked = true
                        break
                    }
                    try store.appendInternal([e])
                }
                if !blocked { try appendData(below: .max) }
                // Log-start moves in the fetched range are not applied as commits here: take the leader's.
                if leaderStart > log.logStartOffset {
                    try log.deleteRecords(before: min(leaderStart, log.logEndOffset))
                }
                guard store.raftEnd > before else {
                    throw ReplicationError.storage("the leader sent nothing from \(before + 1)")
                }
                self.counters.withLockedValue { $0.catchUpBytes += bytes }
            }
        }
        promise.futureResult.hop(to: loop).whenComplete { result in
            guard self.replicas[group] === r else { return }
            switch result {
            case .success:
                self.counters.withLockedValue { $0.catchUps += 1 }
                r.catchingUp = false
                do {
                    var rest = ready
                    rest.snapshot = nil
                    try r.store.persist(rest)
                    self.complete(r, ready)
                } catch {
                    self.restart(r)
                }
            case .failure(let error):
                self.logger.warning(
                    "catch-up failed; the replica restarts from disk",
                    metadata: ["group": "\(group)", "error": "\(error)"])
                self.restart(r)
            }
            self.process(r)
            self.flush()
        }
    }

    /// Serves a follower's catch-up fetch from this node's disk: the committed internal entries from Raft index
    /// `from` on, and the record batches as stored.
    public func serveCatchUp(_ payload: ByteBuffer) -> EventLoopFuture<ByteBuffer> {
        loop.submit {
            var buffer = payload
            let (group, incarnation, from, through, maxBytes) = try CatchUp.decodeRequest(&buffer)
            guard let r = self.replicas[group], r.incarnation == incarnation else {
                throw ReplicationError.unknownGroup(group)
            }
            let store = r.store
            let log = store.log
            let start = log.logStartOffset
            let upper = min(through, r.node.commitIndex)
            let internals = from <= upper ? store.internalEntries(in: from...upper) : []
            let kafkaFrom = max(store.kafkaOffset(atRaft: from), start)
            let kafkaEnd = store.kafkaOffset(atRaft: upper + 1)
            var out = ByteBufferAllocator().buffer(capacity: 64)
            out.writeInteger(start)
            CatchUp.encodeInternal(internals, into: &out)
            if kafkaFrom < kafkaEnd {
                let read = try log.read(fromOffset: kafkaFrom, maxBytes: min(maxBytes, 64 << 20), maxOffset: kafkaEnd)
                out.reserveCapacity(out.readableBytes + read.sizeInBytes)
                for chunk in read.chunks { try chunk.read(into: &out) }
            }
            return out
        }
    }
}

/// The catch-up fetch: a follower asks for the batches from `from` through `through` of a group.
enum CatchUp {
    static func encodeRequest(
        group: GroupId, incarnation: UInt64, from: Int64, through: Int64, maxBytes: Int, into b: inout ByteBuffer
    ) {
        RaftWire.writeGroup(group, into: &b)
        b.writeInteger(incarnation)
        b.writeInteger(from)
        b.writeInteger(through)
        b.writeInteger(Int32(clamping: maxBytes))
    }

    static func decodeRequest(_ b: inout ByteBuffer) throws -> (GroupId, UInt64, Int64, Int64, Int) {
        guard let group = try? RaftWire.readGroup(&b), let incarnation = b.readInteger(as: UInt64.self),
            let from = b.readInteger(as: Int64.self),
            let through = b.readInteger(as: Int64.self), let maxBytes = b.readInteger(as: Int32.self)
        else { throw RaftWireError("malformed catch-up request") }
        return (group, incarnation, from, through, Int(max(maxBytes, 0)))
    }

    /// Internal entries: count (u32), then per entry Raft index and term (i64), kind (u8), payload length (u32)
    /// and payload.
    static func encodeInternal(_ entries: [LogEntry], into b: inout ByteBuffer) {
        b.writeInteger(UInt32(entries.count))
        for e in entries {
            b.writeInteger(e.index)
            b.writeInteger(e.term)
            b.writeInteger(e.kind.rawValue)
            b.writeInteger(UInt32(e.payload.count))
            b.writeBytes(e.payload)
        }
    }

    static func decodeResponse(_ b: inout ByteBuffer) throws -> (
        logStart: Int64, internals: [LogEntry], batches: ByteBuffer
    ) {
        guard let start = b.readInteger(as: Int64.self), let n = b.readInteger(as: UInt32.self),
            Int(n) <= b.readableBytes / 21
        else { throw RaftWireError("malformed catch-up response") }
        var internals: [LogEntry] = []
        for _ in 0..<n {
            guard let index = b.readInteger(as: Int64.self), let term = b.readInteger(as: Int64.self),
                let kindByte = b.readInteger(as: UInt8.self), let kind = EntryKind(rawValue: kindByte),
                let length = b.readInteger(as: UInt32.self), let payload = b.readBytes(length: Int(length))
            else { throw RaftWireError("malformed catch-up response") }
            internals.append(LogEntry(index: index, term: term, kind: kind, payload: payload))
        }
        return (start, internals, b.slice())
    }
}
