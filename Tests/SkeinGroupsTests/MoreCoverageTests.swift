import Testing

@testable import SkeinGroups

@Suite struct MoreCoverageTests {
    @Test func stableConsumerGroupExpiresOffsetsOfTopicsItNoLongerConsumes() {
        var config = GroupCoordinatorConfig()
        config.offsetsRetentionMs = 20_000
        config.offsetsRetentionCheckIntervalMs = 1_000
        let d = Driver(config: config)
        let (members, generation) = d.stableGroup(1)
        let commit = d.send(
            .offsetCommit(
                OffsetCommitRequest(
                    groupId: "g", generationIdOrMemberEpoch: generation, memberId: members[0],
                    partitions: [
                        OffsetCommitPartition(TopicPartition("t", 0), offset: 1),
                        OffsetCommitPartition(TopicPartition("old", 0), offset: 1),
                    ])))
        #expect(d.commit(commit)?.partitions.map(\.errorCode) == [GroupErrorCode.none, .none])
        for _ in 0..<6 {
            d.advance(4_000)
            #expect(d.heartbeat(generation: generation, member: members[0]) == GroupErrorCode.none)
        }
        let fetched = d.fetch(d.send(.offsetFetch(OffsetFetchRequest(groupId: "g"))))
        #expect(fetched?.partitions.map(\.topicPartition) == [TopicPartition("t", 0)], "subscribed topic kept")
        #expect(d.snapshotMatchesReplay())
    }

    @Test func transactionalCommitValidation() {
        let d = Driver()
        let (members, generation) = d.stableGroup(1)
        func txn(generation: Int32, member: String) -> GroupErrorCode? {
            let id = d.send(
                .txnOffsetCommit(
                    TxnOffsetCommitRequest(
                        transactionalId: "tx", groupId: "g", producerId: 1, producerEpoch: 0, generationId: generation,
                        memberId: member, partitions: [OffsetCommitPartition(TopicPartition("t", 0), offset: 1)])))
            return d.commit(id)?.partitions.first?.errorCode
        }
        #expect(txn(generation: generation, member: members[0]) == GroupErrorCode.none)
        #expect(txn(generation: generation + 1, member: members[0]) == .illegalGeneration)
        #expect(txn(generation: generation, member: "ghost") == .unknownMemberId)
        // Old TxnOffsetCommit versions carry no member: allowed even for a non-empty group.
        #expect(txn(generation: -1, member: "") == GroupErrorCode.none)
    }

    @Test func consumerGroupFetchDescribeAndDelete() {
        let d = Driver()
        d.setTopics(["t": 2])
        let joined = d.cgh(
            d.send(
                .consumerGroupHeartbeat(
                    ConsumerGroupHeartbeatRequest(
                        groupId: "cg", memberId: "", memberEpoch: 0, rebalanceTimeoutMs: 10_000,
                        subscribedTopicNames: ["t"], ownedPartitions: [], clientId: "app"))))
        let memberId = joined?.memberId ?? ""
        #expect(memberId.count == 22)
        let stale = d.fetch(
            d.send(.offsetFetch(OffsetFetchRequest(groupId: "cg", memberId: memberId, memberEpoch: 7))))
        #expect(stale?.errorCode == .staleMemberEpoch)
        let ok = d.fetch(
            d.send(
                .offsetFetch(
                    OffsetFetchRequest(groupId: "cg", memberId: memberId, memberEpoch: joined?.memberEpoch ?? 0))))
        #expect(ok?.errorCode == GroupErrorCode.none)
        let describe = d.send(.describeGroups(DescribeGroupsRequest(groupIds: ["cg"])))
        if case .describeGroups(let r)? = d.responses[describe] {
            #expect(r.groups.first?.groupState == "Stable")
            #expect(r.groups.first?.protocolData == "uniform")
            let assignment = try? ConsumerProtocolAssignment(
                decoding: r.groups.first?.members.first?.memberAssignment ?? [])
            #expect(assignment?.assignedPartitions == [TopicPartitions(topic: "t", partitions: [0, 1])])
        }
        let notEmpty = d.send(.deleteGroups(DeleteGroupsRequest(groupIds: ["cg"])))
        if case .deleteGroups(let r)? = d.responses[notEmpty] { #expect(r.results.first?.errorCode == .nonEmptyGroup) }
        d.send(
            .consumerGroupHeartbeat(ConsumerGroupHeartbeatRequest(groupId: "cg", memberId: memberId, memberEpoch: -1)))
        let deleted = d.send(.deleteGroups(DeleteGroupsRequest(groupIds: ["cg"])))
        if case .deleteGroups(let r)? = d.responses[deleted] {
            #expect(r.results.first?.errorCode == GroupErrorCode.none)
        }
        #expect(d.records.last == .consumerGroup(groupId: "cg", value: nil))
        #expect(GroupCoordinator.replay(d.records, seed: 1, now: d.now).groupIds.isEmpty)
    }

    @Test func emptyClassicGroupConvertsToConsumerGroup() {
        let d = Driver()
        d.setTopics(["t": 1])
        let (members, _) = d.stableGroup(1)
        d.send(.leaveGroup(LeaveGroupRequest(groupId: "g", members: [LeaveGroupMember(memberId: members[0])])))
        let joined = d.cgh(
            d.send(
                .consumerGroupHeartbeat(
                    ConsumerGroupHeartbeatRequest(
                        groupId: "g", memberId: "", memberEpoch: 0, rebalanceTimeoutMs: 10_000,
                        subscribedTopicNames: ["t"], ownedPartitions: []))))
        #expect(joined?.errorCode == GroupErrorCode.none)
        #expect(d.snapshotMatchesReplay())
        #expect(GroupCoordinator.replay(d.records, seed: 1, now: d.now).snapshot().classicGroups["g"] == nil)
    }

    @Test func leaveDuringCompletingRebalanceRestartsTheRebalance() {
        let d = Driver()
        let a = d.joinDynamic(client: "a")
        let b = d.joinDynamic(client: "b")
        d.advanceUntil { d.join(a.joinId) != nil }
        let sync = d.send(d.syncRequest(generation: 1, member: b.memberId))
        d.send(.leaveGroup(LeaveGroupRequest(groupId: "g", members: [LeaveGroupMember(memberId: a.memberId)])))
        #expect(d.sync(sync)?.errorCode == .rebalanceInProgress)
        let rejoin = d.send(d.joinRequest(member: b.memberId, client: "b"))
        #expect(d.join(rejoin)?.generationId == 2)
        #expect(d.join(rejoin)?.leader == b.memberId)
    }
}
