// OffsetCommit, TxnOffsetCommit, OffsetFetch, OffsetDelete and offset expiry (Kafka's GroupCoordinator and
// GroupMetadataManager; KIP-848 groups validate member epochs as Kafka's ConsumerGroup does).
extension GroupCoordinator {
    private func allPartitions(_ partitions: [OffsetCommitPartition], _ code: GroupErrorCode) -> OffsetCommitResponse {
        OffsetCommitResponse(
            partitions: partitions.map { PartitionResult(topicPartition: $0.topicPartition, errorCode: code) })
    }

    // MARK: OffsetCommit

    func offsetCommit(_ request: OffsetCommitRequest, id: RequestID) {
        if let group = consumerGroups[request.groupId] {
            if let error = validateConsumerGroupCommit(
                group, memberId: request.memberId, memberEpoch: request.generationIdOrMemberEpoch,
                isTransactional: false, apiVersion: request.apiVersion)
            {
                return respond(id, .offsetCommit(allPartitions(request.partitions, error)))
            }
            return storeOffsets(
                groupId: request.groupId, request.partitions, retentionTimeMs: request.retentionTimeMs, producerId: nil,
                reply: { self.respond(id, .offsetCommit($0)) })
        }
        let group: ClassicGroup
        if let existing = classicGroups[request.groupId] {
            group = existing
        } else if request.generationIdOrMemberEpoch < 0 {
            // Not using group management: the group exists only to hold offsets.
            group = ClassicGroup(groupId: request.groupId, state: .empty, now: now)
            classicGroups[request.groupId] = group
        } else {
            return respond(id, .offsetCommit(allPartitions(request.partitions, .illegalGeneration)))
        }
        if let error = validateClassicCommit(
            group, generationId: request.generationIdOrMemberEpoch, memberId: request.memberId,
            instanceId: request.groupInstanceId, isTransactional: false)
        {
            return respond(id, .offsetCommit(allPartitions(request.partitions, error)))
        }
        switch group.state {
        case .empty:
            break
        case .stable, .preparingRebalance:
            // Commits stay allowed while preparing: the heartbeat tells the member about the rebalance.
            if let member = group.get(request.memberId) {
                member.heartbeatDeadline = now + Int64(member.sessionTimeoutMs)
            }
        case .completingRebalance:
            return respond(id, .offsetCommit(allPartitions(request.partitions, .rebalanceInProgress)))
        case .dead:
            return respond(id, .offsetCommit(allPartitions(request.partitions, .coordinatorNotAvailable)))
        }
        storeOffsets(
            groupId: request.groupId, request.partitions, retentionTimeMs: request.retentionTimeMs, producerId: nil,
            reply: { self.respond(id, .offsetCommit($0)) })
    }

    /// Kafka's `validateOffsetCommit` for classic groups.
    private func validateClassicCommit(
        _ group: ClassicGroup, generationId: Int32, memberId: String, instanceId: String?, isTransactional: Bool
    ) -> GroupErrorCode? {
        if group.is(.dead) { return .coordinatorNotAvailable }
        if generationId >= 0 || !memberId.isEmpty || instanceId != nil {
            if group.isStaticMemberFenced(instanceId: instanceId, memberId: memberId) { return .fencedInstanceId }
            if !group.has(memberId) { return .unknownMemberId }
            if generationId != group.generationId { return .illegalGeneration }
            return nil
        }
        // A non-member commit is only allowed for an empty group (or any group when transactional, since
        // older TxnOffsetCommit versions carry no member information).
        if !isTransactional && !group.is(.empty) { return .unknownMemberId }
        return nil
    }

    /// Kafka's `ConsumerGroup.validateOffsetCommit`: member epoch must match; non-members only for an empty group.
    func validateConsumerGroupCommit(
        _ group: ConsumerGroup, memberId: String, memberEpoch: Int32, isTransactional: Bool, apiVersion: Int16
    ) -> GroupErrorCode? {
        if memberEpoch < 0 && group.isEmpty { return nil }
        guard let member = group.members[memberId] else { return .unknownMemberId }
        if !isTransactional && apiVersion < 9 { return .unsupportedVersion }
        if memberEpoch != member.value.memberEpoch { return isTransactional ? .illegalGeneration : .staleMemberEpoch }
        return nil
    }

    private func storeOffsets(
        groupId: String, _ partitions: [OffsetCommitPartition], retentionTimeMs: Int64, producerId: Int64?,
        reply: (OffsetCommitResponse) -> Void
    ) {
        var results: [PartitionResult] = []
        var records: [GroupRecord] = []
        for partition in partitions {
            if let metadata = partition.committedMetadata, metadata.utf16.count > config.offsetMetadataMaxBytes {
                results.append(
                    PartitionResult(topicPartition: partition.topicPartition, errorCode: .offsetMetadataTooLarge))
                continue
            }
            let commitTimestamp = partition.commitTimestamp == -1 ? now : partition.commitTimestamp
            let value = OffsetAndMetadata(
                offset: partition.committedOffset, leaderEpoch: partition.committedLeaderEpoch,
                metadata: partition.committedMetadata ?? "", commitTimestamp: commitTimestamp,
                expireTimestamp: retentionTimeMs == -1 ? nil : now + retentionTimeMs)
            records.append(appendOffset(groupId: groupId, partition.topicPartition, value, producerId: producerId))
            results.append(PartitionResult(topicPartition: partition.topicPartition, errorCode: .none))
        }
        persist(records)
        reply(OffsetCommitResponse(partitions: results))
    }

    // MARK: TxnOffsetCommit

    func txnOffsetCommit(_ request: TxnOffsetCommitRequest, id: RequestID) {
        let reply = { (response: OffsetCommitResponse) in self.respond(id, .txnOffsetCommit(response)) }
        guard !request.groupId.isEmpty else { return reply(allPartitions(request.partitions, .invalidGroupId)) }
        if let group = consumerGroups[request.groupId] {
            if let error = validateConsumerGroupCommit(
                group, memberId: request.memberId, memberEpoch: request.generationId, isTransactional: true,
                apiVersion: 9)
            {
                return reply(allPartitions(request.partitions, error))
            }
        } else {
            let group: ClassicGroup
            if let existing = classicGroups[request.groupId] {
                group = existing
            } else {
                group = ClassicGroup(groupId: request.groupId, state: .empty, now: now)
                classicGroups[request.groupId] = group
            }
            if let error = validateClassicCommit(
                group, generationId: request.generationId, memberId: request.memberId,
                instanceId: request.groupInstanceId, isTransactional: true)
            {
                return reply(allPartitions(request.partitions, error))
            }
        }
        storeOffsets(
            groupId: request.groupId, request.partitions, retentionTimeMs: -1, producerId: request.producerId,
            reply: reply)
    }

    // MARK: OffsetFetch

    func offsetFetch(_ request: OffsetFetchRequest) -> OffsetFetchResponse {
        if let group = consumerGroups[request.groupId], let memberId = request.memberId {
            guard let member = group.members[memberId] else {
                return OffsetFetchResponse(errorCode: .unknownMemberId, partitions: [])
            }
            if request.memberEpoch != member.value.memberEpoch {
                return OffsetFetchResponse(errorCode: .staleMemberEpoch, partitions: [])
            }
        }
        let stored = offsets[request.groupId] ?? GroupOffsets()
        let partitions = request.partitions ?? stored.committed.keys.sorted()
        return OffsetFetchResponse(
            errorCode: .none,
            partitions: partitions.map { tp in
                if request.requireStable && stored.hasPending(tp) {
                    return .init(
                        topicPartition: tp, committedOffset: -1, committedLeaderEpoch: -1, metadata: "",
                        errorCode: .unstableOffsetCommit)
                }
                guard let entry = stored.committed[tp] else {
                    return .init(
                        topicPartition: tp, committedOffset: -1, committedLeaderEpoch: -1, metadata: "",
                        errorCode: .none)
                }
                return .init(
                    topicPartition: tp, committedOffset: entry.value.offset,
                    committedLeaderEpoch: entry.value.leaderEpoch, metadata: entry.value.metadata, errorCode: .none)
            })
    }

    // MARK: OffsetDelete

    func offsetDelete(_ request: OffsetDeleteRequest, id: RequestID) {
        let reply = { (response: OffsetDeleteResponse) in self.respond(id, .offsetDelete(response)) }
        guard !request.groupId.isEmpty else {
            return reply(OffsetDeleteResponse(errorCode: .invalidGroupId, partitions: []))
        }
        var eligible: [TopicPartition] = []
        var results: [TopicPartition: GroupErrorCode] = [:]
        if let group = classicGroups[request.groupId] {
            switch group.state {
            case .dead:
                return reply(OffsetDeleteResponse(errorCode: .groupIdNotFound, partitions: []))
            case .empty:
                eligible = request.partitions
            case .preparingRebalance, .completingRebalance, .stable:
                guard group.isConsumerGroup else {
                    return reply(OffsetDeleteResponse(errorCode: .nonEmptyGroup, partitions: []))
                }
                for tp in request.partitions {
                    if group.isSubscribedToTopic(tp.topic) {
                        results[tp] = .groupSubscribedToTopic
                    } else {
                        eligible.append(tp)
                    }
                }
            }
        } else if let group = consumerGroups[request.groupId] {
            let subscribed = subscribedTopics(group)
            for tp in request.partitions {
                if !group.isEmpty && subscribed.contains(tp.topic) {
                    results[tp] = .groupSubscribedToTopic
                } else {
                    eligible.append(tp)
                }
            }
        } else {
            return reply(OffsetDeleteResponse(errorCode: .groupIdNotFound, partitions: []))
        }
        if !eligible.isEmpty {
            persist(removeOffsets(groupId: request.groupId, eligible))
            for tp in eligible { results[tp] = GroupErrorCode.none }
            cleanupIfDead(request.groupId)
        }
        reply(
            OffsetDeleteResponse(
                errorCode: .none,
                partitions: request.partitions.map {
                    PartitionResult(topicPartition: $0, errorCode: results[$0] ?? .none)
                }))
    }

    /// Kafka's end of `cleanupGroupMetadata`: an empty classic group without offsets is dead and forgotten
    /// (with a tombstone if it ever had a generation); likewise an empty consumer group without offsets.
    func cleanupIfDead(_ groupId: String) {
        guard !hasOffsets(groupId) else { return }
        if let group = classicGroups[groupId], group.is(.empty) {
            group.transition(to: .dead)
            classicGroups[groupId] = nil
            if group.generationId > 0 { persist([.groupMetadata(groupId: groupId, value: nil)]) }
        } else if let group = consumerGroups[groupId], group.isEmpty {
            consumerGroups[groupId] = nil
            persist([.consumerGroup(groupId: groupId, value: nil)])
        }
    }

    // MARK: expiry

    /// Offset retention (KIP-211): offsets of an empty group expire `offsetsRetentionMs` after the group became
    /// empty; of a stable consumer group, for topics it no longer subscribes to, after their commit; of a
    /// group without protocol (simple commits), after their commit; explicit expire timestamps win.
    func expireOffsets() {
        for groupId in Set(offsets.keys).union(classicGroups.keys).union(consumerGroups.keys).sorted() {
            let committed = offsets[groupId]?.committed ?? [:]
            var base: ((OffsetAndMetadata) -> Int64)?
            var keep: Set<String> = []
            if let group = classicGroups[groupId] {
                if group.protocolType != nil && group.is(.empty) {
                    let since = group.currentStateTimestamp
                    base = { since ?? $0.commitTimestamp }
                } else if group.protocolType == "consumer", let topics = group.subscribedTopics, group.is(.stable) {
                    base = { $0.commitTimestamp }
                    keep = topics
                } else if group.protocolType == nil {
                    base = { $0.commitTimestamp }
                }
            } else if let group = consumerGroups[groupId] {
                if group.isEmpty {
                    let since = group.stateTimestamp
                    base = { _ in since }
                } else {
                    base = { $0.commitTimestamp }
                    keep = subscribedTopics(group)
                }
            } else {
                base = { $0.commitTimestamp }
            }
            var expired: [TopicPartition] = []
            if let base {
                // Partitions with pending transactional offsets are kept: a tombstone would also drop those.
                let stored = offsets[groupId] ?? GroupOffsets()
                for (tp, entry) in committed where !keep.contains(tp.topic) && !stored.hasPending(tp) {
                    let isExpired: Bool
                    if let expireTimestamp = entry.value.expireTimestamp {
                        isExpired = now >= expireTimestamp
                    } else {
                        isExpired = now - base(entry.value) >= config.offsetsRetentionMs
                    }
                    if isExpired { expired.append(tp) }
                }
            }
            expired.sort()
            for tp in expired {
                offsets[groupId]?.committed[tp] = nil
                persist([.offsetCommit(groupId: groupId, topicPartition: tp, value: nil, producerId: nil)])
            }
            if offsets[groupId]?.isEmpty == true { offsets[groupId] = nil }
            cleanupIfDead(groupId)
        }
    }
}
