/// Reconciliation state of a KIP-848 member (Kafka's `MemberState`).
public enum ConsumerMemberState: Int16, Hashable, Sendable {
    /// The member owns its target assignment at the target epoch.
    case stable = 0
    /// The member must revoke partitions before it may move on.
    case unrevokedPartitions = 1
    /// The member waits for partitions that other members still own.
    case unreleasedPartitions = 2
}

/// The persisted form of a KIP-848 member.
public struct ConsumerMemberValue: Hashable, Sendable {
    public var memberId: String
    public var instanceId: String?
    public var rackId: String?
    public var clientId: String
    public var clientHost: String
    public var rebalanceTimeoutMs: Int32
    public var subscribedTopicNames: [String]
    /// The subscription's regular expression (ConsumerGroupHeartbeat v1), nil when the member has none; its
    /// matches are resolved against the cluster's topics and added to `subscribedTopicNames`.
    public var subscribedTopicRegex: String? = nil
    public var serverAssignor: String?
    public var memberEpoch: Int32
    public var previousMemberEpoch: Int32
    public var state: ConsumerMemberState
    public var assignedPartitions: PartitionAssignment
    public var partitionsPendingRevocation: PartitionAssignment
    public var targetAssignment: PartitionAssignment
}

/// The persisted form of a KIP-848 consumer group (Skein's snapshot record, versioned):
/// int16 version, int32 groupEpoch, int32 assignmentEpoch, int64 stateTimestamp, [string topic, int32
/// partitions] subscription metadata, then the members, each with its fields in declaration order; strings and
/// arrays as in Kafka's classic schemas, assignments as [string topic, [int32]] sorted by topic and partition.
/// Version 1 adds each member's nullable `subscribedTopicRegex` after its topic names; it is written only when a
/// member has a regex, so groups without one keep the version 0 bytes (readable by older nodes).
public struct ConsumerGroupValue: Hashable, Sendable {
    public var groupEpoch: Int32
    public var assignmentEpoch: Int32
    /// When the group last became empty or was created (for offset expiry), ms.
    public var stateTimestamp: Int64
    /// Partition counts of the subscribed topics when the group epoch was last bumped.
    public var subscriptionMetadata: [String: Int32]
    public var members: [ConsumerMemberValue]

    func encode(into writer: inout BinaryWriter) {
        let version: Int16 = members.contains { $0.subscribedTopicRegex != nil } ? 1 : 0
        writer.int16(version)
        writer.int32(groupEpoch)
        writer.int32(assignmentEpoch)
        writer.int64(stateTimestamp)
        let topics = subscriptionMetadata.keys.sorted()
        writer.int32(Int32(topics.count))
        for topic in topics {
            writer.string(topic)
            writer.int32(subscriptionMetadata[topic] ?? 0)
        }
        writer.int32(Int32(members.count))
        for member in members {
            writer.string(member.memberId)
            writer.nullableString(member.instanceId)
            writer.nullableString(member.rackId)
            writer.string(member.clientId)
            writer.string(member.clientHost)
            writer.int32(member.rebalanceTimeoutMs)
            writer.int32(Int32(member.subscribedTopicNames.count))
            for topic in member.subscribedTopicNames { writer.string(topic) }
            if version >= 1 { writer.nullableString(member.subscribedTopicRegex) }
            writer.nullableString(member.serverAssignor)
            writer.int32(member.memberEpoch)
            writer.int32(member.previousMemberEpoch)
            writer.int16(member.state.rawValue)
            for assignment in [member.assignedPartitions, member.partitionsPendingRevocation, member.targetAssignment] {
                let assignedTopics = assignment.keys.sorted()
                writer.int32(Int32(assignedTopics.count))
                for topic in assignedTopics {
                    writer.string(topic)
                    let partitions = (assignment[topic] ?? []).sorted()
                    writer.int32(Int32(partitions.count))
                    for partition in partitions { writer.int32(partition) }
                }
            }
        }
    }

    init(
        groupEpoch: Int32, assignmentEpoch: Int32, stateTimestamp: Int64, subscriptionMetadata: [String: Int32],
        members: [ConsumerMemberValue]
    ) {
        self.groupEpoch = groupEpoch
        self.assignmentEpoch = assignmentEpoch
        self.stateTimestamp = stateTimestamp
        self.subscriptionMetadata = subscriptionMetadata
        self.members = members
    }

    init(from reader: inout BinaryReader) throws(GroupDecodingError) {
        let version = try reader.int16()
        guard version == 0 || version == 1 else { throw .unsupportedVersion(version) }
        groupEpoch = try reader.int32()
        assignmentEpoch = try reader.int32()
        stateTimestamp = try reader.int64()
        subscriptionMetadata = [:]
        for _ in 0..<(try reader.arrayCount() ?? 0) { subscriptionMetadata[try reader.string()] = try reader.int32() }
        members = []
        for _ in 0..<(try reader.arrayCount() ?? 0) {
            let memberId = try reader.string()
            let instanceId = try reader.nullableString()
            let rackId = try reader.nullableString()
            let clientId = try reader.string()
            let clientHost = try reader.string()
            let rebalanceTimeoutMs = try reader.int32()
            var topics: [String] = []
            for _ in 0..<(try reader.arrayCount() ?? 0) { topics.append(try reader.string()) }
            let regex: String? = if version >= 1 { try reader.nullableString() } else { nil }
            let assignor = try reader.nullableString()
            let memberEpoch = try reader.int32()
            let previousMemberEpoch = try reader.int32()
            let rawState = try reader.int16()
            guard let state = ConsumerMemberState(rawValue: rawState) else { throw .unsupportedVersion(rawState) }
            var assignments: [PartitionAssignment] = []
            for _ in 0..<3 {
                var assignment: PartitionAssignment = [:]
                for _ in 0..<(try reader.arrayCount() ?? 0) {
                    let topic = try reader.string()
                    var partitions: Set<Int32> = []
                    for _ in 0..<(try reader.arrayCount() ?? 0) { partitions.insert(try reader.int32()) }
                    assignment[topic] = partitions
                }
                assignments.append(assignment)
            }
            members.append(
                ConsumerMemberValue(
                    memberId: memberId, instanceId: instanceId, rackId: rackId, clientId: clientId,
                    clientHost: clientHost, rebalanceTimeoutMs: rebalanceTimeoutMs, subscribedTopicNames: topics,
                    subscribedTopicRegex: regex, serverAssignor: assignor, memberEpoch: memberEpoch, previousMemberEpoch: previousMemberEpoch,
                    state: state, assignedPartitions: assignments[0], partitionsPendingRevocation: assignments[1],
                    targetAssignment: assignments[2]))
        }
    }
}

/// A KIP-848 member (Kafka's `ConsumerGroupMember`) with its timers.
final class ConsumerMember {
    var value: ConsumerMemberValue
    var sessionDeadline: Int64?
    /// Set while the member is asked to revoke partitions: it is fenced if it has not done so by then.
    var rebalanceDeadline: Int64?

    init(value: ConsumerMemberValue) { self.value = value }

    var memberId: String { value.memberId }
    /// Partitions the coordinator counts as owned by the member: assigned plus pending revocation.
    var ownedByCoordinatorView: [TopicPartition] {
        var result: [TopicPartition] = []
        for assignment in [value.assignedPartitions, value.partitionsPendingRevocation] {
            for (topic, partitions) in assignment {
                for partition in partitions { result.append(TopicPartition(topic, partition)) }
            }
        }
        return result
    }
}

/// A KIP-848 consumer group (Kafka's `ConsumerGroup`): group epoch, target assignment and its epoch,
/// members, and which member owns each partition.
final class ConsumerGroup {
    let groupId: String
    var groupEpoch: Int32 = 0
    var assignmentEpoch: Int32 = 0
    var stateTimestamp: Int64
    var subscriptionMetadata: [String: Int32] = [:]
    private(set) var members: [String: ConsumerMember] = [:]
    /// Member ids in sorted order (kept, not recomputed: it is read on every persisted change).
    private(set) var sortedMemberIds: [String] = []
    /// Partition -> owning member id (assigned or pending revocation). Built on first use (a replica that only
    /// loads the group never needs it) and then kept in step with every member change.
    private var partitionOwners: [TopicPartition: String]?
    var lastPersisted: ConsumerGroupValue?

    init(groupId: String, now: Int64) {
        self.groupId = groupId
        stateTimestamp = now
        partitionOwners = [:]
    }

    var sortedMembers: [ConsumerMember] { sortedMemberIds.compactMap { members[$0] } }
    var isEmpty: Bool { members.isEmpty }

    func member(instanceId: String) -> ConsumerMember? {
        members.values.first { $0.value.instanceId == instanceId }
    }

    func add(_ member: ConsumerMember) {
        if members[member.memberId] == nil {
            let index = sortedMemberIds.firstIndex { $0 > member.memberId } ?? sortedMemberIds.count
            sortedMemberIds.insert(member.memberId, at: index)
        }
        members[member.memberId] = member
        if partitionOwners != nil {
            for tp in member.ownedByCoordinatorView { partitionOwners?[tp] = member.memberId }
        }
    }

    func remove(_ memberId: String, now: Int64) {
        guard let member = members.removeValue(forKey: memberId) else { return }
        sortedMemberIds.removeAll { $0 == memberId }
        if partitionOwners != nil {
            for tp in member.ownedByCoordinatorView where partitionOwners?[tp] == memberId {
                partitionOwners?[tp] = nil
            }
        }
        if members.isEmpty { stateTimestamp = now }
    }

    /// Replaces a member's value, keeping the partition owner map in step.
    func update(_ member: ConsumerMember, to value: ConsumerMemberValue) {
        guard partitionOwners != nil,
            value.assignedPartitions != member.value.assignedPartitions
                || value.partitionsPendingRevocation != member.value.partitionsPendingRevocation
        else {
            member.value = value
            return
        }
        for tp in member.ownedByCoordinatorView where partitionOwners?[tp] == member.memberId {
            partitionOwners?[tp] = nil
        }
        member.value = value
        for tp in member.ownedByCoordinatorView { partitionOwners?[tp] = member.memberId }
    }

    func owner(_ tp: TopicPartition) -> String? {
        if partitionOwners == nil {
            var owners: [TopicPartition: String] = [:]
            for member in members.values { for tp in member.ownedByCoordinatorView { owners[tp] = member.memberId } }
            partitionOwners = owners
        }
        return partitionOwners?[tp]
    }

    /// Regular expressions any member subscribes with.
    var subscribedRegexes: Set<String> { Set(members.values.compactMap(\.value.subscribedTopicRegex)) }

    /// Kafka's ConsumerGroupState names: Empty, Assigning, Reconciling, Stable.
    var stateName: String {
        if members.isEmpty { return "Empty" }
        if groupEpoch != assignmentEpoch { return "Assigning" }
        for member in members.values
        where member.value.memberEpoch != assignmentEpoch || member.value.state != .stable {
            return "Reconciling"
        }
        return "Stable"
    }

    var value: ConsumerGroupValue {
        ConsumerGroupValue(
            groupEpoch: groupEpoch, assignmentEpoch: assignmentEpoch, stateTimestamp: stateTimestamp,
            subscriptionMetadata: subscriptionMetadata, members: sortedMembers.map(\.value))
    }

    /// Rebuilds a group from its snapshot; members get fresh session (and revocation) deadlines.
    static func load(groupId: String, value: ConsumerGroupValue, now: Int64, sessionTimeoutMs: Int32) -> ConsumerGroup {
        let group = ConsumerGroup(groupId: groupId, now: value.stateTimestamp)
        group.partitionOwners = nil
        group.groupEpoch = value.groupEpoch
        group.assignmentEpoch = value.assignmentEpoch
        group.subscriptionMetadata = value.subscriptionMetadata
        for memberValue in value.members {
            let member = ConsumerMember(value: memberValue)
            member.sessionDeadline = now + Int64(sessionTimeoutMs)
            if memberValue.state == .unrevokedPartitions {
                member.rebalanceDeadline = now + Int64(memberValue.rebalanceTimeoutMs)
            }
            group.add(member)
        }
        group.lastPersisted = value
        return group
    }
}

/// Kafka's `CurrentAssignmentBuilder`: moves a member one step towards its target assignment, never handing it
/// a partition that another member still owns, and holding back the new epoch until revoked partitions are
/// acknowledged. `ownedPartitions` is what the member reported (nil: not reported).
func reconcile(
    _ member: ConsumerMemberValue, targetEpoch: Int32, target: PartitionAssignment,
    ownedPartitions: [TopicPartitions]?, ownerOf: (TopicPartition) -> String?
) -> ConsumerMemberValue {
    switch member.state {
    case .stable:
        if member.memberEpoch == targetEpoch { return member }
    case .unrevokedPartitions:
        if mayOwn(ownedPartitions, member.partitionsPendingRevocation) { return member }
    case .unreleasedPartitions:
        break
    }
    var newAssigned: PartitionAssignment = [:]
    var pendingRevocation: PartitionAssignment = [:]
    var pendingAssignment: PartitionAssignment = [:]
    var hasUnreleased = false
    for topic in Set(target.keys).union(member.assignedPartitions.keys) {
        let targetPartitions = target[topic] ?? []
        let current = member.assignedPartitions[topic] ?? []
        let kept = current.intersection(targetPartitions)
        let revoke = current.subtracting(kept)
        var assign = targetPartitions.subtracting(kept)
        for partition in assign {
            if let owner = ownerOf(TopicPartition(topic, partition)), owner != member.memberId {
                assign.remove(partition)
                hasUnreleased = true
            }
        }
        if !kept.isEmpty { newAssigned[topic] = kept }
        if !revoke.isEmpty { pendingRevocation[topic] = revoke }
        if !assign.isEmpty { pendingAssignment[topic] = assign }
    }
    var next = member
    func setEpoch(_ epoch: Int32) {
        if epoch != next.memberEpoch {
            next.previousMemberEpoch = next.memberEpoch
            next.memberEpoch = epoch
        }
    }
    // Revocation is asked for only if the member may still own a revoked partition (it reported none, or
    // reported one of them). A member that reported it does not own them - above all one (re)joining with
    // epoch 0, which must report no partitions - moves on at once: otherwise it would stay at epoch 0 with
    // partitions, and its next epoch-0 heartbeat (again without partitions) would pass for a revocation it
    // never made (Kafka's computeNextAssignment checks ownsRevokedPartitions the same way).
    if !pendingRevocation.isEmpty && mayOwn(ownedPartitions, pendingRevocation) {
        next.state = .unrevokedPartitions
        next.assignedPartitions = newAssigned
        next.partitionsPendingRevocation = pendingRevocation
        return next
    }
    for (topic, partitions) in pendingAssignment { newAssigned[topic, default: []].formUnion(partitions) }
    next.state = hasUnreleased ? .unreleasedPartitions : .stable
    setEpoch(targetEpoch)
    next.assignedPartitions = newAssigned
    next.partitionsPendingRevocation = [:]
    return next
}

/// Whether a member that reported `owned` (nil: not reported) may still own one of `partitions`.
private func mayOwn(_ owned: [TopicPartitions]?, _ partitions: PartitionAssignment) -> Bool {
    guard let owned else { return true }
    return owned.contains { entry in
        let revoking = partitions[entry.topic] ?? []
        return entry.partitions.contains { revoking.contains($0) }
    }
}
