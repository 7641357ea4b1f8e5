/// A classic group as the coordinator holds it: its state and its metadata in record form (each member's
/// metadata for the selected protocol and its current assignment).
public struct ClassicGroupSnapshot: Hashable, Sendable {
    public var state: ClassicGroupState
    public var value: GroupMetadataValue
}

/// The coordinator's durable-relevant state, for comparing a live coordinator with one rebuilt by `replay`
/// and for diagnostics. Timers and pending requests are not part of it.
public struct CoordinatorSnapshot: Hashable, Sendable {
    public var classicGroups: [String: ClassicGroupSnapshot]
    public var consumerGroups: [String: ConsumerGroupValue]
    public var offsets: [String: [TopicPartition: OffsetAndMetadata]]
    public var pendingTransactionalOffsets: [String: [Int64: [TopicPartition: OffsetAndMetadata]]]
}

extension GroupCoordinator {
    /// The current state of groups and offsets.
    public func snapshot() -> CoordinatorSnapshot {
        var classic: [String: ClassicGroupSnapshot] = [:]
        for (groupId, group) in classicGroups {
            var assignment: [String: [UInt8]] = [:]
            for member in group.allMembers { assignment[member.memberId] = member.assignment }
            classic[groupId] = ClassicGroupSnapshot(
                state: group.state, value: group.metadataValue(assignment: assignment))
        }
        var consumer: [String: ConsumerGroupValue] = [:]
        for (groupId, group) in consumerGroups { consumer[groupId] = group.value }
        var committed: [String: [TopicPartition: OffsetAndMetadata]] = [:]
        var pending: [String: [Int64: [TopicPartition: OffsetAndMetadata]]] = [:]
        for (groupId, stored) in offsets {
            if !stored.committed.isEmpty { committed[groupId] = stored.committed.mapValues(\.value) }
            if !stored.pendingTransactional.isEmpty {
                pending[groupId] = stored.pendingTransactional.mapValues { $0.mapValues(\.value) }
            }
        }
        return CoordinatorSnapshot(
            classicGroups: classic, consumerGroups: consumer, offsets: committed, pendingTransactionalOffsets: pending)
    }

    /// Ids of all groups (classic and consumer), sorted.
    public var groupIds: [String] { (Array(classicGroups.keys) + Array(consumerGroups.keys)).sorted() }
}

/// A cheap summary of one classic group, for diagnostics and invariant checks.
public struct ClassicGroupSummary: Hashable, Sendable {
    public var state: ClassicGroupState
    public var generation: Int32
    public var leader: String?
    public var memberIds: [String]
}

extension GroupCoordinator {
    /// State, generation, leader and member ids of a classic group, nil if there is none.
    public func classicGroupSummary(_ groupId: String) -> ClassicGroupSummary? {
        guard let group = classicGroups[groupId] else { return nil }
        return ClassicGroupSummary(
            state: group.state, generation: group.generationId, leader: group.leaderId, memberIds: group.memberOrder)
    }
}
