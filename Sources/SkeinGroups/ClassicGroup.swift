/// States of a classic group (Kafka's `GroupState`), named as DescribeGroups and ListGroups show them.
public enum ClassicGroupState: String, Hashable, Sendable, CaseIterable {
    case empty = "Empty"
    case preparingRebalance = "PreparingRebalance"
    case completingRebalance = "CompletingRebalance"
    case stable = "Stable"
    case dead = "Dead"

    /// The states a group may move to this one from (Kafka's `validPreviousStates`).
    var validPreviousStates: Set<ClassicGroupState> {
        switch self {
        case .empty: return [.preparingRebalance]
        case .preparingRebalance: return [.stable, .completingRebalance, .empty]
        case .completingRebalance: return [.preparingRebalance]
        case .stable: return [.completingRebalance]
        case .dead: return [.stable, .preparingRebalance, .completingRebalance, .empty, .dead]
        }
    }
}

/// A classic group member (Kafka's `MemberMetadata`).
final class ClassicMember {
    var memberId: String
    let groupInstanceId: String?
    let clientId: String
    let clientHost: String
    var rebalanceTimeoutMs: Int32
    var sessionTimeoutMs: Int32
    let protocolType: String
    var supportedProtocols: [JoinGroupProtocol]
    var assignment: [UInt8] = []
    /// The pending JoinGroup request (Kafka's awaitingJoinCallback).
    var awaitingJoin: RequestID?
    /// Whether the pending JoinGroup may receive `skipAssignment` (v9+).
    var awaitingJoinSupportsSkip = false
    /// The pending SyncGroup request (Kafka's awaitingSyncCallback).
    var awaitingSync: RequestID?
    var isNew = false
    /// When the heartbeat expiration fires; nil when none is scheduled.
    var heartbeatDeadline: Int64?

    init(
        memberId: String, groupInstanceId: String?, clientId: String, clientHost: String, rebalanceTimeoutMs: Int32,
        sessionTimeoutMs: Int32, protocolType: String, supportedProtocols: [JoinGroupProtocol]
    ) {
        self.memberId = memberId
        self.groupInstanceId = groupInstanceId
        self.clientId = clientId
        self.clientHost = clientHost
        self.rebalanceTimeoutMs = rebalanceTimeoutMs
        self.sessionTimeoutMs = sessionTimeoutMs
        self.protocolType = protocolType
        self.supportedProtocols = supportedProtocols
    }

    var isAwaitingJoin: Bool { awaitingJoin != nil }
    var isAwaitingSync: Bool { awaitingSync != nil }
    var isStaticMember: Bool { groupInstanceId != nil }

    /// The metadata for `protocol`, empty when the member does not support it.
    func metadata(_ protocol: String) -> [UInt8] {
        supportedProtocols.first { $0.name == `protocol` }?.metadata ?? []
    }

    /// Whether `protocols` equals the member's supported protocols (names, order and metadata).
    func matches(_ protocols: [JoinGroupProtocol]) -> Bool { protocols == supportedProtocols }

    /// The member's choice among `candidates`: its most preferred one.
    func vote(_ candidates: Set<String>) -> String? {
        supportedProtocols.first { candidates.contains($0.name) }?.name
    }
}

/// A classic group (Kafka's `GroupMetadata`). Members are kept in join order, which makes every choice that
/// Kafka leaves to hash order (new leader, protocol vote ties, leader's member list) deterministic.
final class ClassicGroup {
    let groupId: String
    private(set) var state: ClassicGroupState
    var generationId: Int32 = 0
    var protocolType: String?
    var protocolName: String?
    var leaderId: String?
    var currentStateTimestamp: Int64?
    private(set) var members: [String: ClassicMember] = [:]
    private(set) var memberOrder: [String] = []
    private(set) var staticMembers: [String: String] = [:]
    /// Members told MEMBER_ID_REQUIRED, with the deadline by which they must rejoin.
    var pendingMembers: [String: Int64] = [:]
    private(set) var pendingSyncMembers: Set<String> = []
    private(set) var numMembersAwaitingJoin = 0
    private var supportedProtocols: [String: Int] = [:]
    var newMemberAdded = false
    var subscribedTopics: Set<String>?
    /// The delayed join operation while PreparingRebalance.
    var joinDeadline: Int64?
    /// Set while the delayed join is Kafka's InitialDelayedJoin: (configured delay, remaining).
    var initialJoin: (delayMs: Int32, remainingMs: Int32)?
    /// The pending-sync expiration while CompletingRebalance or Stable, with the generation it was set for.
    var syncDeadline: (deadline: Int64, generation: Int32)?

    init(groupId: String, state: ClassicGroupState, now: Int64) {
        self.groupId = groupId
        self.state = state
        currentStateTimestamp = now
    }

    func `is`(_ state: ClassicGroupState) -> Bool { self.state == state }
    var isEmpty: Bool { members.isEmpty }
    var size: Int { members.count }
    var allMembers: [ClassicMember] { memberOrder.compactMap { members[$0] } }
    func has(_ memberId: String) -> Bool { members[memberId] != nil }
    func get(_ memberId: String) -> ClassicMember? { members[memberId] }
    func isLeader(_ memberId: String) -> Bool { leaderId == memberId }
    func isPendingMember(_ memberId: String) -> Bool { pendingMembers[memberId] != nil }
    var canRebalance: Bool { ClassicGroupState.preparingRebalance.validPreviousStates.contains(state) }
    var hasAllMembersJoined: Bool { members.count == numMembersAwaitingJoin && pendingMembers.isEmpty }
    var hasReceivedSyncFromAllMembers: Bool { pendingSyncMembers.isEmpty }
    var isConsumerGroup: Bool { protocolType == "consumer" }
    var numAwaiting: Int { numMembersAwaitingJoin }

    /// The largest rebalance timeout of the members (0 when empty).
    var rebalanceTimeoutMs: Int32 { members.values.reduce(0) { max($0, $1.rebalanceTimeoutMs) } }

    func transition(to target: ClassicGroupState) {
        precondition(target.validPreviousStates.contains(state), "invalid transition \(state) -> \(target)")
        state = target
    }

    func staticMemberId(_ instanceId: String?) -> String? { instanceId.flatMap { staticMembers[$0] } }
    func hasStaticMember(_ instanceId: String?) -> Bool { staticMemberId(instanceId) != nil }

    /// Kafka's `isStaticMemberFenced`: the instance is known under a different member id.
    func isStaticMemberFenced(instanceId: String?, memberId: String) -> Bool {
        guard let current = staticMemberId(instanceId) else { return false }
        return current != memberId
    }

    func add(_ member: ClassicMember, joinRequest: RequestID?) {
        if members.isEmpty { protocolType = member.protocolType }
        if leaderId == nil { leaderId = member.memberId }
        members[member.memberId] = member
        memberOrder.append(member.memberId)
        for proto in member.supportedProtocols { supportedProtocols[proto.name, default: 0] += 1 }
        member.awaitingJoin = joinRequest
        if member.isAwaitingJoin { numMembersAwaitingJoin += 1 }
        if let instanceId = member.groupInstanceId { staticMembers[instanceId] = member.memberId }
        pendingMembers[member.memberId] = nil
    }

    /// Removes a member (or a pending member). Returns the removed member.
    @discardableResult
    func remove(_ memberId: String) -> ClassicMember? {
        let removed = members.removeValue(forKey: memberId)
        if let member = removed {
            memberOrder.removeAll { $0 == memberId }
            for proto in member.supportedProtocols { decrementProtocol(proto.name) }
            if member.isAwaitingJoin { numMembersAwaitingJoin -= 1 }
            if let instanceId = member.groupInstanceId, staticMembers[instanceId] == memberId {
                staticMembers[instanceId] = nil
            }
        }
        if isLeader(memberId) { leaderId = memberOrder.first }
        pendingMembers[memberId] = nil
        pendingSyncMembers.remove(memberId)
        return removed
    }

    private func decrementProtocol(_ name: String) {
        let count = (supportedProtocols[name] ?? 0) - 1
        supportedProtocols[name] = count > 0 ? count : nil
    }

    /// Kafka's `updateMember`: new protocols and timeouts, and the pending JoinGroup (nil to clear it).
    func updateMember(
        _ member: ClassicMember, protocols: [JoinGroupProtocol], rebalanceTimeoutMs: Int32, sessionTimeoutMs: Int32,
        joinRequest: RequestID?
    ) {
        for proto in member.supportedProtocols { decrementProtocol(proto.name) }
        for proto in protocols { supportedProtocols[proto.name, default: 0] += 1 }
        member.supportedProtocols = protocols
        member.rebalanceTimeoutMs = rebalanceTimeoutMs
        member.sessionTimeoutMs = sessionTimeoutMs
        if joinRequest != nil && !member.isAwaitingJoin {
            numMembersAwaitingJoin += 1
        } else if joinRequest == nil && member.isAwaitingJoin {
            numMembersAwaitingJoin -= 1
        }
        member.awaitingJoin = joinRequest
    }

    /// Clears the member's pending JoinGroup, returning it (Kafka's `maybeInvokeJoinCallback`).
    func takeJoin(_ member: ClassicMember) -> RequestID? {
        guard let request = member.awaitingJoin else { return nil }
        member.awaitingJoin = nil
        numMembersAwaitingJoin -= 1
        return request
    }

    /// Clears the member's pending SyncGroup, returning it.
    func takeSync(_ member: ClassicMember) -> RequestID? {
        defer { member.awaitingSync = nil }
        return member.awaitingSync
    }

    /// Re-keys a static member under a new member id (Kafka's `replaceStaticMember`, minus the callbacks,
    /// which the caller answers with FENCED_INSTANCE_ID).
    func replaceStaticMember(instanceId: String, oldMemberId: String, newMemberId: String) -> ClassicMember? {
        guard let member = members.removeValue(forKey: oldMemberId) else { return nil }
        member.memberId = newMemberId
        members[newMemberId] = member
        if let index = memberOrder.firstIndex(of: oldMemberId) { memberOrder[index] = newMemberId }
        if isLeader(oldMemberId) { leaderId = newMemberId }
        staticMembers[instanceId] = newMemberId
        if pendingSyncMembers.remove(oldMemberId) != nil { pendingSyncMembers.insert(newMemberId) }
        return member
    }

    /// Whether the group may accept `protocolType` and `protocols` (Kafka's `supportsProtocols`).
    func supportsProtocols(protocolType: String, protocols: [JoinGroupProtocol]) -> Bool {
        if state == .empty { return !protocolType.isEmpty && !protocols.isEmpty }
        return self.protocolType == protocolType
            && protocols.contains { supportedProtocols[$0.name] == members.count }
    }

    /// The protocol all members support with the most votes, each member voting for its most preferred
    /// candidate. Ties go to the protocol first voted for in member order (Kafka leaves them to hash order).
    func selectProtocol() -> String? {
        let candidates = Set(supportedProtocols.filter { $0.value == members.count }.keys)
        var votes: [String: Int] = [:]
        var order: [String] = []
        for member in allMembers {
            guard let vote = member.vote(candidates) else { continue }
            if votes[vote] == nil { order.append(vote) }
            votes[vote, default: 0] += 1
        }
        var best: String?
        for name in order where best == nil || (votes[name] ?? 0) > (votes[best ?? ""] ?? 0) { best = name }
        return best
    }

    /// Kafka's `maybeElectNewJoinedLeader`: keep a leader that rejoined, else pick the first member that did.
    func maybeElectNewJoinedLeader() -> Bool {
        guard let leader = leaderId, let current = members[leader] else { return false }
        if current.isAwaitingJoin { return true }
        if let joined = allMembers.first(where: { $0.isAwaitingJoin }) {
            leaderId = joined.memberId
            return true
        }
        return false
    }

    func initNextGeneration(now: Int64) {
        generationId += 1
        if !members.isEmpty {
            protocolName = selectProtocol()
            subscribedTopics = computeSubscribedTopics()
            transition(to: .completingRebalance)
        } else {
            protocolName = nil
            subscribedTopics = computeSubscribedTopics()
            transition(to: .empty)
        }
        currentStateTimestamp = now
        pendingSyncMembers.removeAll()
    }

    func addPendingSyncMembers() { pendingSyncMembers = Set(members.keys) }
    func removePendingSyncMember(_ memberId: String) { pendingSyncMembers.remove(memberId) }

    /// The topics the members subscribe to, for protocol type `consumer` (nil when unknown or unparsable).
    func computeSubscribedTopics() -> Set<String>? {
        guard protocolType == "consumer" else { return nil }
        if members.isEmpty { return [] }
        guard let name = protocolName else { return nil }
        var topics: Set<String> = []
        for member in members.values {
            guard let subscription = try? ConsumerProtocolSubscription(decoding: member.metadata(name)) else {
                return nil
            }
            topics.formUnion(subscription.topics)
        }
        return topics
    }

    /// Whether the group consumes `topic` (true when that is unknown).
    func isSubscribedToTopic(_ topic: String) -> Bool { subscribedTopics?.contains(topic) ?? true }

    /// The leader's member list for a JoinGroup response.
    func currentMemberMetadata() -> [JoinGroupResponseMember] {
        guard let name = protocolName else { return [] }
        return allMembers.map {
            JoinGroupResponseMember(
                memberId: $0.memberId, groupInstanceId: $0.groupInstanceId, metadata: $0.metadata(name))
        }
    }

    /// The group as a GroupMetadataValue record, with `assignment` per member.
    func metadataValue(assignment: [String: [UInt8]]) -> GroupMetadataValue {
        GroupMetadataValue(
            protocolType: protocolType ?? "", generation: generationId, protocolName: protocolName, leader: leaderId,
            currentStateTimestamp: currentStateTimestamp ?? -1,
            members: allMembers.map { member in
                .init(
                    memberId: member.memberId, groupInstanceId: member.groupInstanceId, clientId: member.clientId,
                    clientHost: member.clientHost, rebalanceTimeoutMs: member.rebalanceTimeoutMs,
                    sessionTimeoutMs: member.sessionTimeoutMs,
                    subscription: protocolName.map { member.metadata($0) } ?? [],
                    assignment: assignment[member.memberId] ?? [])
            })
    }
}
