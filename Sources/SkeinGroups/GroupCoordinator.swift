import SkeinModel
/// An offset with the logical position of the record that set it, to order transactional commits against
/// plain ones as Kafka does with log offsets.
struct CommittedOffset: Hashable {
    var value: OffsetAndMetadata
    var sequence: Int64
}

/// Offsets of one group: committed ones, and transactional ones pending per producer id.
struct GroupOffsets {
    var committed: [TopicPartition: CommittedOffset] = [:]
    var pendingTransactional: [Int64: [TopicPartition: CommittedOffset]] = [:]

    var isEmpty: Bool { committed.isEmpty && pendingTransactional.isEmpty }

    func hasPending(_ tp: TopicPartition) -> Bool { pendingTransactional.values.contains { $0[tp] != nil } }

    /// Every partition with a committed or pending offset.
    var allPartitions: Set<TopicPartition> {
        var result = Set(committed.keys)
        for pending in pendingTransactional.values { result.formUnion(pending.keys) }
        return result
    }

    /// Removes committed and pending offsets of `tp`; true when something was there.
    mutating func remove(_ tp: TopicPartition) -> Bool {
        var removed = committed.removeValue(forKey: tp) != nil
        for producerId in Array(pendingTransactional.keys) {
            if pendingTransactional[producerId]?.removeValue(forKey: tp) != nil { removed = true }
            if pendingTransactional[producerId]?.isEmpty == true { pendingTransactional[producerId] = nil }
        }
        return removed
    }

    /// Materializes (commit) or drops (abort) the producer's pending offsets; a pending offset only wins over a
    /// committed one that was written before it.
    mutating func completeTransaction(producerId: Int64, committed isCommit: Bool) {
        guard let pending = pendingTransactional.removeValue(forKey: producerId), isCommit else { return }
        for (tp, offset) in pending where (committed[tp]?.sequence ?? Int64.min) < offset.sequence {
            committed[tp] = offset
        }
    }
}

/// Kafka's group coordinator for one `__consumer_offsets` partition, as a deterministic state machine.
///
/// Inputs: requests (`handle`), the passage of time (`tick`), transaction markers (`completeTransaction`) and
/// topic metadata (`setTopicPartitions`), each with the current time in ms. Outputs: `GroupDirective`s — records
/// to persist, then responses (JoinGroup and SyncGroup responses may answer requests of earlier calls). The
/// coordinator has no clock, no I/O and no entropy of its own: member ids come from a seeded generator.
/// `replay` rebuilds the state a new leader must have from the partition's records.
public final class GroupCoordinator {
    /// The broker settings in force.
    public let config: GroupCoordinatorConfig
    var random: SeededRandom
    var classicGroups: [String: ClassicGroup] = [:]
    var consumerGroups: [String: ConsumerGroup] = [:]
    var offsets: [String: GroupOffsets] = [:]
    var topicPartitionCounts: [String: Int32] = [:]
    /// Resolutions of members' regular-expression subscriptions against `topicPartitionCounts`' names.
    var topicRegexes = TopicRegexResolver()
    var offsetSequence: Int64 = 0
    var nextRetentionCheck: Int64?
    var now: Int64 = 0
    private var output: [GroupDirective] = []

    /// A coordinator with no groups. `seed` determines every member id it generates.
    public init(config: GroupCoordinatorConfig = GroupCoordinatorConfig(), seed: UInt64) {
        self.config = config
        random = SeededRandom(seed: seed)
    }

    // MARK: entry points

    /// Handles one request that arrived at `now` (ms). The response may come in this output or a later one.
    public func handle(_ request: GroupRequest, id: RequestID, now: Int64) -> [GroupDirective] {
        advance(to: now)
        switch request {
        case .joinGroup(let request): joinGroup(request, id: id)
        case .syncGroup(let request): syncGroup(request, id: id)
        case .heartbeat(let request): heartbeat(request, id: id)
        case .leaveGroup(let request): leaveGroup(request, id: id)
        case .offsetCommit(let request): offsetCommit(request, id: id)
        case .txnOffsetCommit(let request): txnOffsetCommit(request, id: id)
        case .offsetFetch(let request): respond(id, .offsetFetch(offsetFetch(request)))
        case .offsetDelete(let request): offsetDelete(request, id: id)
        case .describeGroups(let request): respond(id, .describeGroups(describeGroups(request)))
        case .consumerGroupDescribe(let request):
            respond(id, .consumerGroupDescribe(consumerGroupDescribe(request)))
        case .listGroups(let request): respond(id, .listGroups(listGroups(request)))
        case .deleteGroups(let request): deleteGroups(request, id: id)
        case .consumerGroupHeartbeat(let request): consumerGroupHeartbeat(request, id: id)
        }
        return finish()
    }

    /// Fires every timer due at `now`: delayed joins, pending-member, heartbeat, pending-sync and revocation
    /// expirations, and the periodic offset retention check. Timers fire at `now`, not at their deadline, so the
    /// shell should tick at `nextDeadline` (time-driven shells simply tick often).
    public func tick(now: Int64) -> [GroupDirective] {
        advance(to: now)
        // A timer may schedule another one that is already due (e.g. a zero initial rebalance delay).
        var rounds = 0
        repeat {
            fireTimers()
            rounds += 1
        } while rounds < 100 && (nextDeadline.map { $0 <= self.now } ?? false)
        return finish()
    }

    /// A transaction marker for `producerId` was written to this partition: its pending transactional
    /// offsets are materialized (`committed`) or dropped.
    public func completeTransaction(producerId: Int64, committed: Bool, now: Int64) -> [GroupDirective] {
        advance(to: now)
        for groupId in offsets.keys.sorted() {
            offsets[groupId]?.completeTransaction(producerId: producerId, committed: committed)
        }
        return finish()
    }

    /// The partition counts of the cluster's topics (KIP-848 assignment input). Consumer groups subscribed to
    /// a topic whose count changed get a new group epoch, so the next heartbeat computes a new target. Regular
    /// expression subscriptions are resolved again against the new names (a topic created or deleted that
    /// matches changes the group's subscribed topics, and so its epoch), as Kafka refreshes them on metadata
    /// changes. The shell calls this whenever the counts change (and after loading).
    public func setTopicPartitions(_ counts: [String: Int32], now: Int64) -> [GroupDirective] {
        advance(to: now)
        topicPartitionCounts = counts
        topicRegexes.setTopicNames(counts.keys)
        var patterns: Set<String> = []
        for group in consumerGroups.values { patterns.formUnion(group.subscribedRegexes) }
        topicRegexes.retain(patterns)
        for groupId in consumerGroups.keys.sorted() {
            guard let group = consumerGroups[groupId] else { continue }
            let metadata = subscriptionMetadata(for: subscribedTopics(group))
            if metadata != group.subscriptionMetadata {
                group.subscriptionMetadata = metadata
                group.groupEpoch += 1
                persistConsumerGroup(group)
            }
        }
        return finish()
    }

    /// The earliest time at which `tick` has something to do, if any.
    public var nextDeadline: Int64? {
        var earliest = nextRetentionCheck
        func consider(_ deadline: Int64?) {
            guard let deadline else { return }
            if earliest == nil || deadline < (earliest ?? deadline) { earliest = deadline }
        }
        for group in classicGroups.values {
            consider(group.joinDeadline)
            consider(group.syncDeadline?.deadline)
            for deadline in group.pendingMembers.values { consider(deadline) }
            for member in group.members.values { consider(member.heartbeatDeadline) }
        }
        for group in consumerGroups.values {
            for member in group.members.values {
                consider(member.sessionDeadline)
                consider(member.rebalanceDeadline)
            }
        }
        return earliest
    }

    // MARK: output

    func advance(to time: Int64) {
        now = max(now, time)
        if nextRetentionCheck == nil { nextRetentionCheck = now + config.offsetsRetentionCheckIntervalMs }
    }

    func respond(_ id: RequestID, _ response: GroupResponse) { output.append(.respond(id, response)) }
    func abandon(_ id: RequestID) { output.append(.abandon(id)) }

    func persist(_ records: [GroupRecord]) {
        guard !records.isEmpty else { return }
        if case .persist(let earlier)? = output.last {
            output[output.count - 1] = .persist(earlier + records)
        } else {
            output.append(.persist(records))
        }
    }

    private func finish() -> [GroupDirective] {
        defer { output = [] }
        return output
    }

    // MARK: offsets records

    /// Records an offset commit (or a pending transactional one) and applies it, keeping the logical record
    /// sequence in step with what `replay` will count.
    func appendOffset(groupId: String, _ tp: TopicPartition, _ value: OffsetAndMetadata, producerId: Int64?)
        -> GroupRecord
    {
        offsetSequence += 1
        let entry = CommittedOffset(value: value, sequence: offsetSequence)
        if let producerId {
            offsets[groupId, default: GroupOffsets()].pendingTransactional[producerId, default: [:]][tp] = entry
        } else {
            offsets[groupId, default: GroupOffsets()].committed[tp] = entry
        }
        return .offsetCommit(groupId: groupId, topicPartition: tp, value: value, producerId: producerId)
    }

    /// Removes offsets of `partitions` and returns their tombstones.
    func removeOffsets(groupId: String, _ partitions: [TopicPartition]) -> [GroupRecord] {
        var records: [GroupRecord] = []
        for tp in partitions where offsets[groupId]?.remove(tp) == true {
            records.append(.offsetCommit(groupId: groupId, topicPartition: tp, value: nil, producerId: nil))
        }
        if offsets[groupId]?.isEmpty == true { offsets[groupId] = nil }
        return records
    }

    func hasOffsets(_ groupId: String) -> Bool { !(offsets[groupId]?.isEmpty ?? true) }

    func subscriptionMetadata(for topics: Set<String>) -> [String: Int32] {
        var result: [String: Int32] = [:]
        for topic in topics { if let count = topicPartitionCounts[topic] { result[topic] = count } }
        return result
    }
}
