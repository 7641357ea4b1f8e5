// Timers and replay.
extension GroupCoordinator {
    func fireTimers() {
        for groupId in classicGroups.keys.sorted() {
            guard let group = classicGroups[groupId] else { continue }
            for (memberId, deadline) in group.pendingMembers.sorted(by: { $0.key < $1.key }) where deadline <= now {
                expirePendingMember(group, memberId)
            }
            for member in group.allMembers {
                if let deadline = member.heartbeatDeadline, deadline <= now, group.has(member.memberId) {
                    expireHeartbeat(group, member)
                }
            }
            if let sync = group.syncDeadline, sync.deadline <= now { expirePendingSync(group) }
            if let deadline = group.joinDeadline, deadline <= now { expireJoin(group) }
        }
        expireConsumerMembers()
        if let check = nextRetentionCheck, check <= now {
            nextRetentionCheck = now + config.offsetsRetentionCheckIntervalMs
            expireOffsets()
        }
    }

    /// Rebuilds a coordinator from the records of its `__consumer_offsets` partition, in log order (what a new
    /// leader does). Loaded classic groups are Stable (Empty without members); every member gets a fresh
    /// session deadline from `now`. Offsets of groups without metadata recreate simple (Empty) groups.
    public static func replay(
        _ records: [GroupRecord], config: GroupCoordinatorConfig = GroupCoordinatorConfig(), seed: UInt64, now: Int64
    ) -> GroupCoordinator {
        var loader = GroupStateLoader()
        loader.apply(records)
        return loader.build(config: config, seed: seed, now: now)
    }

    static func loadClassicGroup(groupId: String, value: GroupMetadataValue, now: Int64) -> ClassicGroup {
        let group = ClassicGroup(groupId: groupId, state: value.members.isEmpty ? .empty : .stable, now: now)
        group.generationId = value.generation
        group.protocolType = value.protocolType.isEmpty ? nil : value.protocolType
        group.protocolName = value.protocolName
        group.currentStateTimestamp = value.currentStateTimestamp == -1 ? nil : value.currentStateTimestamp
        for stored in value.members {
            let member = ClassicMember(
                memberId: stored.memberId, groupInstanceId: stored.groupInstanceId, clientId: stored.clientId,
                clientHost: stored.clientHost, rebalanceTimeoutMs: stored.rebalanceTimeoutMs,
                sessionTimeoutMs: stored.sessionTimeoutMs, protocolType: value.protocolType,
                supportedProtocols: value.protocolName.map {
                    [JoinGroupProtocol(name: $0, metadata: stored.subscription)]
                } ?? [])
            member.assignment = stored.assignment
            member.heartbeatDeadline = now + Int64(stored.sessionTimeoutMs)
            group.add(member, joinRequest: nil)
        }
        group.leaderId = value.leader
        group.protocolType = value.protocolType.isEmpty ? nil : value.protocolType
        group.subscribedTopics = group.computeSubscribedTopics()
        return group
    }
}

/// Reads a `__consumer_offsets` partition record by record (as a loading coordinator or a follower replica
/// does) and builds a coordinator from what it has read so far.
public struct GroupStateLoader: Sendable {
    private var classicValues: [String: GroupMetadataValue] = [:]
    private var consumerValues: [String: ConsumerGroupValue] = [:]
    private var offsets: [String: GroupOffsets] = [:]
    private var offsetSequence: Int64 = 0

    public init() {}

    /// Applies records in log order.
    public mutating func apply(_ records: [GroupRecord]) {
        for record in records { apply(record) }
    }

    /// Applies one record.
    public mutating func apply(_ record: GroupRecord) {
        switch record {
        case .groupMetadata(let groupId, let value):
            classicValues[groupId] = value
        case .consumerGroup(let groupId, let value):
            consumerValues[groupId] = value
        case .offsetCommit(let groupId, let tp, let value, let producerId):
            if let value {
                offsetSequence += 1
                let entry = CommittedOffset(value: value, sequence: offsetSequence)
                if let producerId {
                    offsets[groupId, default: GroupOffsets()].pendingTransactional[producerId, default: [:]][tp] = entry
                } else {
                    offsets[groupId, default: GroupOffsets()].committed[tp] = entry
                }
            } else {
                _ = offsets[groupId]?.remove(tp)
                if offsets[groupId]?.isEmpty == true { offsets[groupId] = nil }
            }
        case .transactionMarker(let producerId, let committed):
            for groupId in offsets.keys.sorted() {
                offsets[groupId]?.completeTransaction(producerId: producerId, committed: committed)
            }
        }
    }

    /// What `build(config:seed:now:).snapshot()` returns, without building the groups (cheap enough to call
    /// after every record).
    public func snapshot(now: Int64) -> CoordinatorSnapshot {
        var classic: [String: ClassicGroupSnapshot] = [:]
        for (groupId, value) in classicValues {
            classic[groupId] = ClassicGroupSnapshot(state: value.members.isEmpty ? .empty : .stable, value: value)
        }
        var committed: [String: [TopicPartition: OffsetAndMetadata]] = [:]
        var pending: [String: [Int64: [TopicPartition: OffsetAndMetadata]]] = [:]
        for (groupId, stored) in offsets {
            if !stored.committed.isEmpty { committed[groupId] = stored.committed.mapValues(\.value) }
            if !stored.pendingTransactional.isEmpty {
                pending[groupId] = stored.pendingTransactional.mapValues { $0.mapValues(\.value) }
            }
            if classic[groupId] == nil && consumerValues[groupId] == nil {
                classic[groupId] = ClassicGroupSnapshot(
                    state: .empty,
                    value: GroupMetadataValue(
                        protocolType: "", generation: 0, protocolName: nil, leader: nil, currentStateTimestamp: now,
                        members: []))
            }
        }
        return CoordinatorSnapshot(
            classicGroups: classic, consumerGroups: consumerValues, offsets: committed,
            pendingTransactionalOffsets: pending)
    }

    /// A coordinator holding the groups and offsets read so far; members get session deadlines from `now`.
    public func build(config: GroupCoordinatorConfig = GroupCoordinatorConfig(), seed: UInt64, now: Int64)
        -> GroupCoordinator
    {
        let coordinator = GroupCoordinator(config: config, seed: seed)
        coordinator.advance(to: now)
        coordinator.offsets = offsets
        coordinator.offsetSequence = offsetSequence
        for (groupId, value) in classicValues {
            coordinator.classicGroups[groupId] = GroupCoordinator.loadClassicGroup(
                groupId: groupId, value: value, now: now)
        }
        for (groupId, value) in consumerValues {
            coordinator.consumerGroups[groupId] = ConsumerGroup.load(
                groupId: groupId, value: value, now: now, sessionTimeoutMs: config.consumerGroupSessionTimeoutMs)
        }
        for groupId in offsets.keys
        where coordinator.classicGroups[groupId] == nil && coordinator.consumerGroups[groupId] == nil {
            coordinator.classicGroups[groupId] = ClassicGroup(groupId: groupId, state: .empty, now: now)
        }
        return coordinator
    }
}
