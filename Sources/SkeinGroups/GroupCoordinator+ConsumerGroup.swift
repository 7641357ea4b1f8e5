// KIP-848 ConsumerGroupHeartbeat (Kafka's GroupMetadataManager.consumerGroupHeartbeat).
extension GroupCoordinator {
    func consumerGroupHeartbeat(_ request: ConsumerGroupHeartbeatRequest, id: RequestID) {
        func fail(_ code: GroupErrorCode, _ message: String? = nil) {
            respond(
                id,
                .consumerGroupHeartbeat(
                    ConsumerGroupHeartbeatResponse(
                        errorCode: code, errorMessage: message, memberId: nil, memberEpoch: 0,
                        heartbeatIntervalMs: 0, assignment: nil)))
        }
        if let error = validateHeartbeat(request) { return fail(.invalidRequest, error) }
        if let regex = request.subscribedTopicRegex, let error = TopicRegexResolver.validationError(regex) {
            return fail(.invalidRegularExpression, error)
        }
        if let assignor = request.serverAssignor, !config.consumerGroupAssignors.contains(assignor) {
            return fail(.unsupportedAssignor, "Assignor \(assignor) is not supported.")
        }
        if let classic = classicGroups[request.groupId] {
            // An empty classic group converts (offsets are kept); a live one cannot be joined this way.
            guard classic.is(.empty), classic.isEmpty, request.memberEpoch == 0 else {
                return fail(.groupIdNotFound, "Group \(request.groupId) is not a consumer group.")
            }
            classic.transition(to: .dead)
            classicGroups[request.groupId] = nil
            if classic.generationId > 0 { persist([.groupMetadata(groupId: request.groupId, value: nil)]) }
        }
        if request.memberEpoch == -1 || request.memberEpoch == -2 {
            return consumerGroupLeave(request, id: id, fail: fail)
        }
        let group: ConsumerGroup
        if let existing = consumerGroups[request.groupId] {
            group = existing
        } else if request.memberEpoch == 0 {
            group = ConsumerGroup(groupId: request.groupId, now: now)
            consumerGroups[request.groupId] = group
        } else {
            return fail(.unknownMemberId, "Group \(request.groupId) has no member \(request.memberId).")
        }

        var bumpEpoch = false
        let epochsBefore = (group.groupEpoch, group.assignmentEpoch)
        var membershipChanged = false
        let member: ConsumerMember
        if request.memberEpoch == 0 {
            if let instanceId = request.instanceId, let existing = group.member(instanceId: instanceId),
                existing.memberId != request.memberId || request.memberId.isEmpty
            {
                guard existing.value.memberEpoch == -2 else {
                    return fail(.unreleasedInstanceId, "Static member \(instanceId) is still in the group.")
                }
                // The static member comes back: the new member id takes over its assignment and target.
                let memberId = request.memberId.isEmpty ? random.kafkaUuidString() : request.memberId
                var value = existing.value
                value.memberId = memberId
                value.memberEpoch = 0
                value.previousMemberEpoch = 0
                group.remove(existing.memberId, now: now)
                member = ConsumerMember(value: value)
                group.add(member)
                membershipChanged = true
            } else if let existing = group.members[request.memberId] {
                // A rejoin (epoch 0) of a known member: it dropped its partitions and gets its assignment again.
                member = existing
            } else {
                if group.members.count >= config.consumerGroupMaxSize {
                    return fail(.groupMaxSizeReached, "The consumer group has reached its maximum size.")
                }
                let memberId = request.memberId.isEmpty ? random.kafkaUuidString() : request.memberId
                member = ConsumerMember(
                    value: ConsumerMemberValue(
                        memberId: memberId, instanceId: request.instanceId, rackId: request.rackId,
                        clientId: request.clientId, clientHost: request.clientHost,
                        rebalanceTimeoutMs: request.rebalanceTimeoutMs, subscribedTopicNames: [], serverAssignor: nil,
                        memberEpoch: 0, previousMemberEpoch: 0, state: .stable, assignedPartitions: [:],
                        partitionsPendingRevocation: [:], targetAssignment: [:]))
                group.add(member)
                bumpEpoch = true
                membershipChanged = true
            }
        } else {
            guard let existing = group.members[request.memberId] else {
                return fail(.unknownMemberId, "Member \(request.memberId) is not in group \(request.groupId).")
            }
            if let instanceId = request.instanceId, existing.value.instanceId != instanceId {
                return fail(.fencedInstanceId, "Instance \(instanceId) is not member \(request.memberId).")
            }
            if let error = memberEpochError(existing.value, request.memberEpoch, request.ownedPartitions) {
                return fail(.fencedMemberEpoch, error)
            }
            member = existing
        }

        // Update what the member declares; a changed subscription (names or regex) or topic metadata bumps the
        // group epoch. A regex is resolved against the topics known now (Kafka resolves it asynchronously and
        // bumps the epoch once resolved; here resolution is synchronous and cached per set of topic names).
        let original = member.value
        var value = member.value
        if let rackId = request.rackId { value.rackId = rackId }
        if request.rebalanceTimeoutMs != -1 { value.rebalanceTimeoutMs = request.rebalanceTimeoutMs }
        if let topics = request.subscribedTopicNames {
            let sorted = Array(Set(topics)).sorted()
            if sorted != value.subscribedTopicNames {
                value.subscribedTopicNames = sorted
                bumpEpoch = true
            }
        }
        if let regex = request.subscribedTopicRegex {
            // "" drops the expression (Kafka keeps an empty regex as none).
            let pattern = regex.isEmpty ? nil : regex
            if pattern != value.subscribedTopicRegex {
                value.subscribedTopicRegex = pattern
                bumpEpoch = true
            }
        }
        if let assignor = request.serverAssignor, assignor != value.serverAssignor {
            value.serverAssignor = assignor
            bumpEpoch = true
        }
        if !request.clientId.isEmpty { value.clientId = request.clientId }
        group.update(member, to: value)
        // Topic metadata changes arrive through setTopicPartitions; here only subscription changes matter.
        if bumpEpoch || membershipChanged {
            let metadata = subscriptionMetadata(for: subscribedTopics(group))
            if metadata != group.subscriptionMetadata {
                group.subscriptionMetadata = metadata
                bumpEpoch = true
            }
        }
        if bumpEpoch { group.groupEpoch += 1 }
        if group.groupEpoch > group.assignmentEpoch { computeTargetAssignment(group) }

        let before = member.value
        let next = reconcile(
            before, targetEpoch: group.assignmentEpoch, target: before.targetAssignment,
            ownedPartitions: request.ownedPartitions, ownerOf: { group.owner($0) })
        group.update(member, to: next)
        if next.state == .unrevokedPartitions {
            if before.state != .unrevokedPartitions || member.rebalanceDeadline == nil {
                member.rebalanceDeadline = now + Int64(next.rebalanceTimeoutMs)
            }
        } else {
            member.rebalanceDeadline = nil
        }
        member.sessionDeadline = now + Int64(config.consumerGroupSessionTimeoutMs)
        // Most heartbeats change nothing durable; only changes are written.
        if next != original || (group.groupEpoch, group.assignmentEpoch) != epochsBefore
            || membershipChanged || group.lastPersisted == nil
        {
            persistConsumerGroup(group)
        }

        let isFullRequest =
            request.memberEpoch == 0
            || (request.rebalanceTimeoutMs != -1
                && (request.subscribedTopicNames != nil || request.subscribedTopicRegex != nil)
                && request.ownedPartitions != nil)
        let changed = before.assignedPartitions != next.assignedPartitions || request.memberEpoch == 0
        respond(
            id,
            .consumerGroupHeartbeat(
                ConsumerGroupHeartbeatResponse(
                    errorCode: .none, errorMessage: nil, memberId: next.memberId, memberEpoch: next.memberEpoch,
                    heartbeatIntervalMs: config.consumerGroupHeartbeatIntervalMs,
                    assignment: isFullRequest || changed ? topicPartitionsList(next.assignedPartitions) : nil)))
    }

    private func validateHeartbeat(_ request: ConsumerGroupHeartbeatRequest) -> String? {
        if request.groupId.isEmpty { return "GroupId can't be empty." }
        if request.instanceId?.isEmpty == true { return "InstanceId can't be empty." }
        if request.rackId?.isEmpty == true { return "RackId can't be empty." }
        switch request.memberEpoch {
        case 0:
            if request.rebalanceTimeoutMs == -1 { return "RebalanceTimeoutMs must be provided in first request." }
            if let owned = request.ownedPartitions, !owned.allSatisfy({ $0.partitions.isEmpty }) {
                return "TopicPartitions must be empty when (re-)joining."
            }
            // As Kafka 4.0: an empty list of names (or an empty regex) joins without topics; one of them must be
            // there, though.
            if request.subscribedTopicNames == nil && request.subscribedTopicRegex == nil {
                return "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining."
            }
        case -2:
            if request.instanceId == nil { return "InstanceId can't be null." }
            if request.memberId.isEmpty { return "MemberId can't be empty." }
        case let epoch where epoch > 0 || epoch == -1:
            if request.memberId.isEmpty { return "MemberId can't be empty." }
        default:
            return "MemberEpoch is invalid."
        }
        return nil
    }

    /// Kafka's `throwIfMemberEpochIsInvalid`: a greater epoch, or a smaller one other than the previous epoch
    /// with owned partitions within the assignment (a lost response), fences the member.
    private func memberEpochError(_ member: ConsumerMemberValue, _ received: Int32, _ owned: [TopicPartitions]?)
        -> String?
    {
        if received > member.memberEpoch {
            return "The member has a greater member epoch (\(received)) than the coordinator (\(member.memberEpoch))."
        }
        if received < member.memberEpoch {
            var isSubset = true
            for entry in owned ?? [] {
                let assigned = member.assignedPartitions[entry.topic] ?? []
                if !entry.partitions.allSatisfy({ assigned.contains($0) }) { isSubset = false }
            }
            if received != member.previousMemberEpoch || owned == nil || !isSubset {
                return
                    "The member has a smaller member epoch (\(received)) than the coordinator (\(member.memberEpoch))."
            }
        }
        return nil
    }

    private func consumerGroupLeave(
        _ request: ConsumerGroupHeartbeatRequest, id: RequestID, fail: (GroupErrorCode, String?) -> Void
    ) {
        guard let group = consumerGroups[request.groupId] else {
            return fail(.unknownMemberId, "Group \(request.groupId) does not exist.")
        }
        if let instanceId = request.instanceId {
            guard let member = group.member(instanceId: instanceId) else {
                return fail(.unknownMemberId, "Instance \(instanceId) is unknown.")
            }
            if member.memberId != request.memberId {
                return fail(.fencedInstanceId, "Instance \(instanceId) belongs to member \(member.memberId).")
            }
        }
        guard let member = group.members[request.memberId] else {
            return fail(.unknownMemberId, "Member \(request.memberId) is not in group \(request.groupId).")
        }
        if request.memberEpoch == -2 {
            // A static member leaves for a while: it keeps its partitions until its session expires.
            var value = member.value
            value.memberEpoch = -2
            group.update(member, to: value)
            member.rebalanceDeadline = nil
            persistConsumerGroup(group)
        } else {
            removeConsumerMember(group, member.memberId)
        }
        respond(
            id,
            .consumerGroupHeartbeat(
                ConsumerGroupHeartbeatResponse(
                    errorCode: .none, errorMessage: nil, memberId: request.memberId, memberEpoch: request.memberEpoch,
                    heartbeatIntervalMs: 0, assignment: nil)))
    }

    /// Removes a member (left, session expired or fenced); its partitions are free at once.
    func removeConsumerMember(_ group: ConsumerGroup, _ memberId: String) {
        group.remove(memberId, now: now)
        group.groupEpoch += 1
        group.subscriptionMetadata = subscriptionMetadata(for: subscribedTopics(group))
        persistConsumerGroup(group)
    }

    /// The assignor the group uses: the one most members ask for, else the configured default.
    func selectAssignorName(_ group: ConsumerGroup) -> String {
        var votes: [String: Int] = [:]
        for member in group.members.values {
            if let name = member.value.serverAssignor { votes[name, default: 0] += 1 }
        }
        var best = config.consumerGroupAssignors.first ?? "uniform"
        var bestVotes = 0
        for name in config.consumerGroupAssignors where (votes[name] ?? 0) > bestVotes {
            best = name
            bestVotes = votes[name] ?? 0
        }
        return best
    }

    private func computeTargetAssignment(_ group: ConsumerGroup) {
        let assignor: any ServerAssignor = makeAssignor(selectAssignorName(group)) ?? UniformAssignor()
        let spec = AssignmentSpec(
            members: group.sortedMembers.map {
                AssignmentSpec.Member(
                    memberId: $0.memberId, subscribedTopics: subscribedTopics(of: $0.value),
                    currentTarget: $0.value.targetAssignment)
            },
            topicPartitions: group.subscriptionMetadata)
        let targets = assignor.assign(spec)
        for member in group.sortedMembers {
            var value = member.value
            value.targetAssignment = (targets[member.memberId] ?? [:]).filter { !$0.value.isEmpty }
            group.update(member, to: value)
        }
        group.assignmentEpoch = group.groupEpoch
    }

    func persistConsumerGroup(_ group: ConsumerGroup) {
        let value = group.value
        guard value != group.lastPersisted else { return }
        group.lastPersisted = value
        persist([.consumerGroup(groupId: group.groupId, value: value)])
    }

    /// Session and revocation timeouts of KIP-848 members.
    func expireConsumerMembers() {
        for groupId in consumerGroups.keys.sorted() {
            guard let group = consumerGroups[groupId] else { continue }
            for member in group.sortedMembers {
                if let deadline = member.sessionDeadline, deadline <= now {
                    removeConsumerMember(group, member.memberId)
                } else if let deadline = member.rebalanceDeadline, deadline <= now {
                    member.rebalanceDeadline = nil
                    // It did not revoke in time: fence it so its partitions can move.
                    if member.value.state == .unrevokedPartitions { removeConsumerMember(group, member.memberId) }
                }
            }
        }
    }
}
