import Testing

@testable import SkeinGroups

@Suite struct HeartbeatLeaveStaticTests {
    @Test func heartbeatErrors() {
        let d = Driver()
        let (members, generation) = d.stableGroup(2)
        #expect(d.heartbeat(generation: generation, member: members[1]) == GroupErrorCode.none)
        #expect(d.heartbeat(generation: generation - 1, member: members[1]) == .illegalGeneration)
        #expect(d.heartbeat(generation: generation, member: "ghost") == .unknownMemberId)
        #expect(d.heartbeat(group: "nope", generation: generation, member: members[1]) == .unknownMemberId)
        #expect(d.heartbeat(group: "", generation: generation, member: members[1]) == .invalidGroupId)
    }

    @Test func sessionExpiryRemovesMemberAndRebalances() {
        let d = Driver()
        let (members, generation) = d.stableGroup(2)
        for _ in 0..<2 {
            d.advance(4000)
            #expect(d.heartbeat(generation: generation, member: members[0]) == GroupErrorCode.none)
        }
        d.advance(2000)
        // members[1] stopped heartbeating 10 s ago (session 10 s): gone, rebalance.
        let snapshot = d.coordinator.snapshot().classicGroups["g"]
        #expect(snapshot?.state == .preparingRebalance)
        #expect(snapshot?.value.members.map(\.memberId) == [members[0]])
        #expect(d.heartbeat(generation: generation, member: members[0]) == .rebalanceInProgress)
        let rejoin = d.send(d.joinRequest(member: members[0], client: "c0"))
        #expect(d.join(rejoin)?.generationId == generation + 1)
    }

    @Test func allMembersLeavingEmptiesTheGroupAndPersistsIt() {
        let d = Driver()
        let (members, generation) = d.stableGroup(2)
        let id = d.send(
            .leaveGroup(
                LeaveGroupRequest(
                    groupId: "g",
                    members: members.map { LeaveGroupMember(memberId: $0) } + [LeaveGroupMember(memberId: "ghost")])))
        #expect(d.leave(id)?.members.map(\.errorCode) == [GroupErrorCode.none, .none, .unknownMemberId])
        let snapshot = d.coordinator.snapshot().classicGroups["g"]
        #expect(snapshot?.state == .empty)
        #expect(snapshot?.value.generation == generation + 1)
        guard case .groupMetadata("g", let value?)? = d.records.last else {
            Issue.record("expected an empty group record")
            return
        }
        #expect(value.members.isEmpty && value.protocolName == nil)
        #expect(d.snapshotMatchesReplay())
        let unknownGroup = d.send(
            .leaveGroup(LeaveGroupRequest(groupId: "zzz", members: [LeaveGroupMember(memberId: "m")])))
        #expect(d.leave(unknownGroup)?.members.first?.errorCode == .unknownMemberId)
    }

    @Test func leaveOfPendingMemberCompletesRebalance() {
        let d = Driver(
            config: {
                var c = GroupCoordinatorConfig(); c.groupInitialRebalanceDelayMs = 0; return c
            }())
        let (members, generation) = d.stableGroup(1)
        let pending = d.join(d.send(d.joinRequest(client: "late")))?.memberId ?? ""
        let rejoin = d.send(d.joinRequest(member: members[0], client: "c0"))
        #expect(d.join(rejoin) == nil, "waits for the pending member")
        d.send(.leaveGroup(LeaveGroupRequest(groupId: "g", members: [LeaveGroupMember(memberId: pending)])))
        #expect(d.join(rejoin)?.generationId == generation + 1)
    }

    private func staticGroup(_ d: Driver, version: Int16 = 9) -> (ids: [String], generation: Int32) {
        let a = d.send(d.joinRequest(client: "ca", instance: "ia", version: version))
        let b = d.send(d.joinRequest(client: "cb", instance: "ib", version: version))
        d.advanceUntil { d.join(a) != nil }
        guard let ja = d.join(a), let jb = d.join(b) else { return ([], -1) }
        #expect(ja.memberId.hasPrefix("ia-"))
        d.send(d.syncRequest(generation: ja.generationId, member: jb.memberId, instance: "ib"))
        d.send(
            d.syncRequest(
                generation: ja.generationId, member: ja.memberId, instance: "ia",
                assignments: [
                    SyncGroupAssignment(memberId: ja.memberId, assignment: [1]),
                    SyncGroupAssignment(memberId: jb.memberId, assignment: [2]),
                ]))
        return ([ja.memberId, jb.memberId], ja.generationId)
    }

    @Test func staticMemberRejoinReplacesWithoutRebalance() {
        let d = Driver()
        let (ids, generation) = staticGroup(d)
        #expect(ids.count == 2)
        // The follower restarts: unknown member id, same instance id.
        let rejoin = d.send(d.joinRequest(client: "cb", instance: "ib"))
        let response = d.join(rejoin)
        #expect(response?.errorCode == GroupErrorCode.none)
        #expect(response?.generationId == generation)
        #expect(response?.memberId != ids[1])
        #expect(response?.skipAssignment == false)
        #expect(d.coordinator.snapshot().classicGroups["g"]?.state == .stable)
        // The old id is fenced; the new one syncs to its old assignment.
        #expect(d.heartbeat(generation: generation, member: ids[1], instance: "ib") == .fencedInstanceId)
        let newId = response?.memberId ?? ""
        #expect(d.sync(d.send(d.syncRequest(generation: generation, member: newId, instance: "ib")))?.assignment == [2])
        #expect(d.snapshotMatchesReplay())
        let leaveOld = d.send(
            .leaveGroup(
                LeaveGroupRequest(groupId: "g", members: [LeaveGroupMember(memberId: ids[1], groupInstanceId: "ib")])))
        #expect(d.leave(leaveOld)?.members.first?.errorCode == .fencedInstanceId)
        let commitOld = d.send(
            .offsetCommit(
                OffsetCommitRequest(
                    groupId: "g", generationIdOrMemberEpoch: generation, memberId: ids[1], groupInstanceId: "ib",
                    partitions: [OffsetCommitPartition(TopicPartition("t", 0), offset: 1)])))
        #expect(d.commit(commitOld)?.partitions.first?.errorCode == .fencedInstanceId)
    }

    @Test func staticLeaderRejoinSkipsAssignmentOnV9AndKeepsOldLeaderIdBefore() {
        let d = Driver()
        let (ids, generation) = staticGroup(d)
        let rejoin = d.send(d.joinRequest(client: "ca", instance: "ia"))
        let response = d.join(rejoin)
        #expect(response?.skipAssignment == true)
        #expect(response?.leader == response?.memberId)
        #expect(response?.members.count == 2)
        #expect(response?.generationId == generation)

        let old = Driver()
        let (oldIds, _) = staticGroup(old, version: 8)
        let oldRejoin = old.join(old.send(old.joinRequest(client: "ca", instance: "ia", version: 8)))
        #expect(oldRejoin?.skipAssignment == false)
        #expect(oldRejoin?.leader == oldIds[0], "old leader id so that the client does not reassign")
        #expect(oldRejoin?.members.isEmpty == true)
        _ = ids
    }

    @Test func staticRejoinWithChangedProtocolRebalances() {
        let d = Driver()
        let (ids, generation) = staticGroup(d)
        let rejoin = d.send(
            d.joinRequest(
                client: "cb", instance: "ib",
                protocols: [
                    JoinGroupProtocol(name: "range", metadata: Driver.subscription(["t"])),
                    JoinGroupProtocol(name: "other", metadata: []),
                ]))
        // The selected protocol stays "range" (both support it): no rebalance.
        #expect(d.join(rejoin)?.generationId == generation)
        // Now with only a different protocol the group cannot accept it.
        let incompatible = d.send(
            d.joinRequest(client: "cb", instance: "ib", protocols: [JoinGroupProtocol(name: "other", metadata: [])]))
        #expect(d.join(incompatible)?.errorCode == .inconsistentGroupProtocol)
        _ = ids
    }

    @Test func staticMemberRejoinDuringCompletingRebalanceTriggersRebalance() {
        let d = Driver()
        let a = d.send(d.joinRequest(client: "ca", instance: "ia"))
        let b = d.send(d.joinRequest(client: "cb", instance: "ib"))
        d.advanceUntil { d.join(a) != nil }
        let oldB = d.join(b)?.memberId ?? ""
        let syncB = d.send(d.syncRequest(generation: 1, member: oldB, instance: "ib"))
        let rejoin = d.send(d.joinRequest(client: "cb", instance: "ib"))
        #expect(d.sync(syncB)?.errorCode == .fencedInstanceId)
        #expect(d.coordinator.snapshot().classicGroups["g"]?.state == .preparingRebalance)
        let leaderId = d.join(a)?.memberId ?? ""
        let leaderRejoin = d.send(d.joinRequest(member: leaderId, client: "ca", instance: "ia"))
        #expect(d.join(leaderRejoin)?.generationId == 2)
        #expect(d.join(rejoin)?.generationId == 2)
    }

    @Test func adminRemovalOfStaticMemberByInstanceId() {
        let d = Driver()
        let (_, _) = staticGroup(d)
        let id = d.send(
            .leaveGroup(
                LeaveGroupRequest(
                    groupId: "g",
                    members: [
                        LeaveGroupMember(memberId: "", groupInstanceId: "ib"),
                        LeaveGroupMember(memberId: "", groupInstanceId: "nobody"),
                    ])))
        #expect(d.leave(id)?.members.map(\.errorCode) == [GroupErrorCode.none, .unknownMemberId])
        #expect(d.coordinator.snapshot().classicGroups["g"]?.value.members.count == 1)
    }

    @Test func staticMembersWhoDoNotRejoinStayUntilSessionExpiry() {
        let d = Driver()
        let (ids, generation) = staticGroup(d)
        let leader = d.send(
            d.joinRequest(member: ids[0], client: "ca", instance: "ia", session: 60000, rebalance: 20000))
        // The rebalance timeout is the largest of the members' (b's 30 s).
        for _ in 0..<6 {
            d.advance(5000)
            _ = d.heartbeat(generation: generation, member: ids[1], instance: "ib")
        }
        // Static b did not rejoin: it stays, the generation moves on.
        let response = d.join(leader)
        #expect(response?.generationId == generation + 1)
        #expect(response?.members.count == 2)
    }
}
