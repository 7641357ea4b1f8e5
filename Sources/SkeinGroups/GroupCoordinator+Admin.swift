// DescribeGroups, ListGroups, DeleteGroups.
extension GroupCoordinator {
    func describeGroups(_ request: DescribeGroupsRequest) -> DescribeGroupsResponse {
        DescribeGroupsResponse(groups: request.groupIds.map(describe))
    }

    private func describe(_ groupId: String) -> DescribeGroupsResponse.Group {
        if let group = classicGroups[groupId] {
            let isStable = group.is(.stable)
            let protocolName = isStable ? (group.protocolName ?? "") : ""
            return .init(
                errorCode: .none, groupId: groupId, groupState: group.state.rawValue,
                protocolType: group.protocolType ?? "", protocolData: protocolName,
                members: group.allMembers.map { member in
                    .init(
                        memberId: member.memberId, groupInstanceId: member.groupInstanceId, clientId: member.clientId,
                        clientHost: member.clientHost, memberMetadata: isStable ? member.metadata(protocolName) : [],
                        memberAssignment: isStable ? member.assignment : [])
                })
        }
        if let group = consumerGroups[groupId] {
            return .init(
                errorCode: .none, groupId: groupId, groupState: group.stateName, protocolType: "consumer",
                protocolData: selectAssignorName(group),
                members: group.sortedMembers.map { member in
                    let value = member.value
                    let subscription = ConsumerProtocolSubscription(
                        topics: value.subscribedTopicNames, rackId: value.rackId)
                    let assignment = ConsumerProtocolAssignment(
                        assignedPartitions: topicPartitionsList(value.assignedPartitions))
                    return .init(
                        memberId: value.memberId, groupInstanceId: value.instanceId, clientId: value.clientId,
                        clientHost: value.clientHost, memberMetadata: subscription.encoded(),
                        memberAssignment: assignment.encoded())
                })
        }
        return .init(
            errorCode: .none, groupId: groupId, groupState: "Dead", protocolType: "", protocolData: "", members: [])
    }

    /// Kafka's `GroupMetadataManager.consumerGroupDescribe`: each id described on its own; an unknown group or
    /// a classic one is GROUP_ID_NOT_FOUND, an empty id INVALID_GROUP_ID (as Kafka's coordinator service answers).
    func consumerGroupDescribe(_ request: ConsumerGroupDescribeRequest) -> ConsumerGroupDescribeResponse {
        ConsumerGroupDescribeResponse(groups: request.groupIds.map(describeConsumerGroup))
    }

    private func describeConsumerGroup(_ groupId: String) -> ConsumerGroupDescribeResponse.Group {
        if groupId.isEmpty { return .error(groupId, .invalidGroupId, nil) }
        guard let group = consumerGroups[groupId] else {
            if classicGroups[groupId] != nil {
                return .error(groupId, .groupIdNotFound, "Group \(groupId) is not a consumer group.")
            }
            return .error(groupId, .groupIdNotFound, "Group \(groupId) not found.")
        }
        return .init(
            errorCode: .none, errorMessage: nil, groupId: groupId, groupState: group.stateName,
            groupEpoch: group.groupEpoch, assignmentEpoch: group.assignmentEpoch,
            assignorName: selectAssignorName(group),
            members: group.sortedMembers.map { member in
                let value = member.value
                return .init(
                    memberId: value.memberId, instanceId: value.instanceId, rackId: value.rackId,
                    memberEpoch: value.memberEpoch, clientId: value.clientId, clientHost: value.clientHost,
                    subscribedTopicNames: value.subscribedTopicNames, subscribedTopicRegex: value.subscribedTopicRegex,
                    assignment: topicPartitionsList(value.assignedPartitions),
                    targetAssignment: topicPartitionsList(value.targetAssignment))
            })
    }

    func listGroups(_ request: ListGroupsRequest) -> ListGroupsResponse {
        var groups: [ListGroupsResponse.Group] = []
        for (groupId, group) in classicGroups {
            groups.append(
                .init(
                    groupId: groupId, protocolType: group.protocolType ?? "", groupState: group.state.rawValue,
                    groupType: "classic"))
        }
        for (groupId, group) in consumerGroups {
            groups.append(
                .init(groupId: groupId, protocolType: "consumer", groupState: group.stateName, groupType: "consumer"))
        }
        let types = Set(request.typesFilter.map { $0.lowercased() })
        let states = Set(request.statesFilter)
        groups = groups.filter { group in
            (states.isEmpty || states.contains(group.groupState))
                && (types.isEmpty || types.contains(group.groupType))
        }
        return ListGroupsResponse(errorCode: .none, groups: groups.sorted { $0.groupId < $1.groupId })
    }

    func deleteGroups(_ request: DeleteGroupsRequest, id: RequestID) {
        var results: [DeleteGroupsResponse.Result] = []
        for groupId in request.groupIds {
            var code = GroupErrorCode.none
            if let group = classicGroups[groupId] {
                switch group.state {
                case .dead: code = .groupIdNotFound
                case .empty:
                    persist(removeOffsets(groupId: groupId, Array(offsets[groupId]?.allPartitions ?? []).sorted()))
                    cleanupIfDead(groupId)
                case .preparingRebalance, .completingRebalance, .stable: code = .nonEmptyGroup
                }
            } else if let group = consumerGroups[groupId] {
                if group.isEmpty {
                    persist(removeOffsets(groupId: groupId, Array(offsets[groupId]?.allPartitions ?? []).sorted()))
                    cleanupIfDead(groupId)
                } else {
                    code = .nonEmptyGroup
                }
            } else {
                code = .groupIdNotFound
            }
            results.append(.init(groupId: groupId, errorCode: code))
        }
        respond(id, .deleteGroups(DeleteGroupsResponse(results: results)))
    }
}

func topicPartitionsList(_ assignment: PartitionAssignment) -> [TopicPartitions] {
    assignment.keys.sorted().compactMap { topic in
        guard let partitions = assignment[topic], !partitions.isEmpty else { return nil }
        return TopicPartitions(topic: topic, partitions: partitions.sorted())
    }
}
