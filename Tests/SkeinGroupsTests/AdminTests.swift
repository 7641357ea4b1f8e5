import Testing

@testable import SkeinGroups

@Suite struct AdminTests {
    @Test func describeListDelete() {
        let d = Driver()
        let (members, _) = d.stableGroup(2)
        d.send(
            .offsetCommit(
                OffsetCommitRequest(
                    groupId: "simple", partitions: [OffsetCommitPartition(TopicPartition("t", 0), offset: 1)])))
        let describe = d.send(.describeGroups(DescribeGroupsRequest(groupIds: ["g", "nope"])))
        guard case .describeGroups(let described)? = d.responses[describe] else {
            Issue.record("no describe")
            return
        }
        #expect(described.groups[0].groupState == "Stable")
        #expect(described.groups[0].protocolData == "range")
        #expect(described.groups[0].members.map(\.memberId) == members)
        #expect(described.groups[0].members[0].memberAssignment == Array(members[0].utf8))
        #expect(described.groups[1].groupState == "Dead")

        let list = d.send(.listGroups(ListGroupsRequest()))
        if case .listGroups(let listed)? = d.responses[list] {
            #expect(listed.groups.map(\.groupId) == ["g", "simple"])
            #expect(listed.groups.map(\.groupState) == ["Stable", "Empty"])
            #expect(listed.groups.map(\.protocolType) == ["consumer", ""])
        }
        let filtered = d.send(.listGroups(ListGroupsRequest(statesFilter: ["Empty"])))
        if case .listGroups(let listed)? = d.responses[filtered] { #expect(listed.groups.map(\.groupId) == ["simple"]) }

        let delete = d.send(.deleteGroups(DeleteGroupsRequest(groupIds: ["g", "simple", "nope"])))
        if case .deleteGroups(let deleted)? = d.responses[delete] {
            #expect(deleted.results.map(\.errorCode) == [.nonEmptyGroup, .none, .groupIdNotFound])
        }
        #expect(d.coordinator.groupIds == ["g"])
        #expect(d.snapshotMatchesReplay())
    }

    @Test func deleteEmptyGroupWritesTombstones() {
        let d = Driver()
        let (members, generation) = d.stableGroup(1)
        d.send(
            .offsetCommit(
                OffsetCommitRequest(
                    groupId: "g", generationIdOrMemberEpoch: generation, memberId: members[0],
                    partitions: [OffsetCommitPartition(TopicPartition("t", 0), offset: 1)])))
        d.send(.leaveGroup(LeaveGroupRequest(groupId: "g", members: [LeaveGroupMember(memberId: members[0])])))
        d.send(.deleteGroups(DeleteGroupsRequest(groupIds: ["g"])))
        #expect(
            d.records.suffix(2) == [
                .offsetCommit(groupId: "g", topicPartition: TopicPartition("t", 0), value: nil, producerId: nil),
                .groupMetadata(groupId: "g", value: nil),
            ])
        let replayed = GroupCoordinator.replay(d.records, seed: 1, now: d.now)
        #expect(replayed.groupIds.isEmpty)
    }
}
