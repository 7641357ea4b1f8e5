import Testing

@testable import SkeinGroups

@Suite struct ClassicJoinSyncTests {
    @Test func newMemberMustRejoinWithGeneratedId() {
        let d = Driver()
        let first = d.send(d.joinRequest(client: "app"))
        let response = d.join(first)
        #expect(response?.errorCode == .memberIdRequired)
        let memberId = response?.memberId ?? ""
        #expect(memberId.hasPrefix("app-"))
        #expect(memberId.count == "app-".count + 36)
        // Deterministic: same seed, same id.
        let again = Driver()
        #expect(again.join(again.send(again.joinRequest(client: "app")))?.memberId == memberId)

        let second = d.send(d.joinRequest(member: memberId, client: "app"))
        #expect(d.join(second) == nil, "delayed until the initial rebalance delay passes")
        d.advance(2999)
        #expect(d.join(second) == nil)
        d.advance(1)
        let joined = d.join(second)
        #expect(joined?.errorCode == GroupErrorCode.none)
        #expect(joined?.generationId == 1)
        #expect(joined?.leader == memberId)
        #expect(joined?.protocolName == "range")
        #expect(joined?.protocolType == "consumer")
        #expect(joined?.members.map(\.memberId) == [memberId])
    }

    @Test func oldVersionsJoinWithoutMemberIdRequired() {
        let d = Driver()
        let id = d.send(d.joinRequest(version: 3))
        #expect(d.join(id) == nil)
        d.advance(3000)
        #expect(d.join(id)?.errorCode == GroupErrorCode.none)
        #expect(d.join(id)?.generationId == 1)
    }

    @Test func initialDelayIsExtendedByNewMembersUpToRebalanceTimeout() {
        var config = GroupCoordinatorConfig()
        config.groupInitialRebalanceDelayMs = 3000
        let d = Driver(config: config)
        let a = d.joinDynamic(client: "a", rebalance: 10000)
        d.advance(2000)
        let b = d.joinDynamic(client: "b", rebalance: 10000)
        d.advance(1000)  // first delay fires at 3000: a new member arrived, wait again
        #expect(d.join(a.joinId) == nil)
        d.advance(2000)  // 5000
        let c = d.joinDynamic(client: "c", rebalance: 10000)
        d.advance(1000)  // 6000: second delay fires, c arrived, wait again
        #expect(d.join(a.joinId) == nil)
        d.advance(3000)  // 9000: third delay fires, nobody new: complete
        #expect(d.join(a.joinId)?.generationId == 1)
        #expect(d.join(b.joinId)?.generationId == 1)
        #expect(d.join(c.joinId)?.generationId == 1)
        #expect(d.join(a.joinId)?.members.count == 3)
        #expect(d.join(b.joinId)?.members.isEmpty == true)
    }

    @Test func sessionTimeoutBounds() {
        let d = Driver()
        #expect(d.join(d.send(d.joinRequest(session: 5999)))?.errorCode == .invalidSessionTimeout)
        #expect(d.join(d.send(d.joinRequest(session: 1_800_001)))?.errorCode == .invalidSessionTimeout)
        #expect(d.join(d.send(d.joinRequest(session: 6000)))?.errorCode == .memberIdRequired)
    }

    @Test func inconsistentProtocolAndUnknownMember() {
        let d = Driver()
        let (members, _) = d.stableGroup(1)
        #expect(members.count == 1)
        let otherType = d.send(d.joinRequest(protocolType: "connect"))
        #expect(d.join(otherType)?.errorCode == .inconsistentGroupProtocol)
        let otherProtocol = d.send(d.joinRequest(protocols: [JoinGroupProtocol(name: "sticky", metadata: [])]))
        #expect(d.join(otherProtocol)?.errorCode == .inconsistentGroupProtocol)
        #expect(d.join(d.send(d.joinRequest(member: "nobody")))?.errorCode == .unknownMemberId)
        #expect(d.join(d.send(d.joinRequest(group: "other", member: "nobody")))?.errorCode == .unknownMemberId)
        let emptyType = d.send(d.joinRequest(group: "fresh", protocolType: ""))
        #expect(d.join(emptyType)?.errorCode == .inconsistentGroupProtocol)
        #expect(d.join(d.send(d.joinRequest(group: "")))?.errorCode == .invalidGroupId)
    }

    @Test func groupMaxSize() {
        var config = GroupCoordinatorConfig()
        config.groupMaxSize = 2
        let d = Driver(config: config)
        _ = d.joinDynamic(client: "a")
        _ = d.joinDynamic(client: "b")
        let third = d.joinDynamic(client: "c")
        #expect(d.join(third.joinId)?.errorCode == .groupMaxSizeReached)
    }

    @Test func protocolSelectionByVotes() {
        let d = Driver()
        let p = { (names: [String]) in names.map { JoinGroupProtocol(name: $0, metadata: Driver.subscription(["t"])) } }
        let a = d.joinDynamic(client: "a", protocols: p(["roundrobin", "range", "sticky"]))
        let b = d.joinDynamic(client: "b", protocols: p(["range", "roundrobin"]))
        let c = d.joinDynamic(client: "c", protocols: p(["range", "roundrobin", "cooperative"]))
        d.advance(10000)
        // Candidates (all support): roundrobin, range. Votes: a roundrobin, b range, c range.
        #expect(d.join(a.joinId)?.protocolName == "range")
        #expect(d.join(c.joinId)?.protocolName == "range")
        #expect(d.join(b.joinId)?.generationId == 1)
    }

    @Test func syncPropagatesLeaderAssignmentAfterPersisting() {
        let d = Driver()
        let a = d.joinDynamic(client: "a")
        let b = d.joinDynamic(client: "b")
        d.advanceUntil { d.join(a.joinId) != nil }
        guard let ja = d.join(a.joinId), let jb = d.join(b.joinId) else {
            Issue.record("no join responses")
            return
        }
        #expect(ja.leader == a.memberId && jb.leader == a.memberId)
        let follower = d.send(d.syncRequest(generation: 1, member: b.memberId))
        #expect(d.sync(follower) == nil, "followers wait for the leader")
        let leader = d.send(
            d.syncRequest(
                generation: 1, member: a.memberId,
                assignments: [
                    SyncGroupAssignment(memberId: a.memberId, assignment: [1]),
                    SyncGroupAssignment(memberId: b.memberId, assignment: [2]),
                ]))
        // persist comes first, then both responses.
        guard case .persist(let records)? = d.lastDirectives.first else {
            Issue.record("expected persist first: \(d.lastDirectives)")
            return
        }
        guard case .groupMetadata("g", let value?)? = records.first else {
            Issue.record("expected group metadata")
            return
        }
        #expect(value.generation == 1)
        #expect(value.members.map(\.assignment) == [[1], [2]])
        #expect(d.sync(leader)?.assignment == [1])
        #expect(d.sync(follower)?.assignment == [2])
        #expect(d.sync(follower)?.protocolName == "range")
        #expect(d.coordinator.snapshot().classicGroups["g"]?.state == .stable)
        // A late SyncGroup in Stable returns the stored assignment.
        #expect(d.sync(d.send(d.syncRequest(generation: 1, member: b.memberId)))?.assignment == [2])
        #expect(d.snapshotMatchesReplay())
    }

    @Test func syncErrors() {
        let d = Driver()
        let (members, generation) = d.stableGroup(2)
        let m = members[1]
        #expect(d.sync(d.send(d.syncRequest(generation: generation + 1, member: m)))?.errorCode == .illegalGeneration)
        #expect(d.sync(d.send(d.syncRequest(generation: generation, member: "x")))?.errorCode == .unknownMemberId)
        #expect(
            d.sync(d.send(d.syncRequest(group: "none", generation: generation, member: m)))?.errorCode
                == .unknownMemberId)
        let wrongName = d.send(
            .syncGroup(
                SyncGroupRequest(
                    groupId: "g", generationId: generation, memberId: m,
                    protocolType: "consumer", protocolName: "roundrobin")))
        #expect(d.sync(wrongName)?.errorCode == .inconsistentGroupProtocol)
        let wrongType = d.send(
            .syncGroup(
                SyncGroupRequest(
                    groupId: "g", generationId: generation, memberId: m,
                    protocolType: "connect")))
        #expect(d.sync(wrongType)?.errorCode == .inconsistentGroupProtocol)
        // Leader rejoins: rebalance in progress for a sync of the old generation's members.
        d.send(d.joinRequest(member: members[0], client: "c0"))
        #expect(d.sync(d.send(d.syncRequest(generation: generation, member: m)))?.errorCode == .rebalanceInProgress)
        #expect(d.heartbeat(generation: generation, member: m) == .rebalanceInProgress)
    }

    @Test func leaderRejoinRebalancesFollowerRejoinDoesNot() {
        let d = Driver()
        let (members, generation) = d.stableGroup(2)
        let follower = d.send(d.joinRequest(member: members[1], client: "c1"))
        #expect(d.join(follower)?.generationId == generation, "unchanged follower gets the current generation")
        #expect(d.coordinator.snapshot().classicGroups["g"]?.state == .stable)
        let leader = d.send(d.joinRequest(member: members[0], client: "c0"))
        #expect(d.coordinator.snapshot().classicGroups["g"]?.state == .preparingRebalance)
        #expect(d.join(leader) == nil)
        let followerAgain = d.send(d.joinRequest(member: members[1], client: "c1"))
        // Everyone rejoined: completes at once (no initial delay: group was not empty).
        #expect(d.join(leader)?.generationId == generation + 1)
        #expect(d.join(followerAgain)?.generationId == generation + 1)
        #expect(d.join(leader)?.leader == members[0], "existing leader kept")
    }

    @Test func completingRebalanceRejoinWithSameMetadataGetsCurrentGeneration() {
        let d = Driver()
        let a = d.joinDynamic(client: "a")
        d.advance(3000)
        let again = d.send(d.joinRequest(member: a.memberId, client: "a"))
        #expect(d.join(again)?.generationId == 1)
        #expect(d.join(again)?.members.count == 1, "the leader gets the members again")
    }

    @Test func membersNotRejoiningWithinRebalanceTimeoutAreRemoved() {
        let d = Driver()
        let (members, generation) = d.stableGroup(3)
        // Leader rejoins with rebalance timeout 30000; the others never rejoin but keep heartbeating.
        let leaderJoin = d.send(d.joinRequest(member: members[0], client: "c0", rebalance: 30000))
        for _ in 0..<5 {
            d.advance(5000)
            #expect(d.heartbeat(generation: generation, member: members[1]) == .rebalanceInProgress)
            #expect(d.heartbeat(generation: generation, member: members[2]) == .rebalanceInProgress)
        }
        d.advance(5000)
        let response = d.join(leaderJoin)
        #expect(response?.generationId == generation + 1)
        #expect(response?.members.map(\.memberId) == [members[0]])
        #expect(d.heartbeat(generation: generation + 1, member: members[1]) == .unknownMemberId)
    }

    @Test func pendingSyncMembersAreRemovedAfterRebalanceTimeout() {
        let d = Driver()
        let a = d.joinDynamic(client: "a", rebalance: 20000)
        let b = d.joinDynamic(client: "b", rebalance: 20000)
        d.advanceUntil { d.join(a.joinId) != nil }
        // Only the leader syncs; b keeps heartbeating but never syncs.
        d.send(
            d.syncRequest(
                generation: 1, member: a.memberId,
                assignments: [SyncGroupAssignment(memberId: a.memberId, assignment: [1])]))
        #expect(d.coordinator.snapshot().classicGroups["g"]?.state == .stable)
        for _ in 0..<4 {
            d.advance(5000)
            _ = d.heartbeat(generation: 1, member: a.memberId)
            _ = d.heartbeat(generation: 1, member: b.memberId)
        }
        d.advance(1)
        let snapshot = d.coordinator.snapshot().classicGroups["g"]
        #expect(snapshot?.state == .preparingRebalance)
        #expect(snapshot?.value.members.map(\.memberId) == [a.memberId])
    }

    @Test func resentJoinIsAbandonedNotAnsweredTwice() {
        let d = Driver()
        let a = d.joinDynamic(client: "a")
        let again = d.send(d.joinRequest(member: a.memberId, client: "a"))
        #expect(d.abandoned.contains(a.joinId))
        d.advance(3000)
        #expect(d.join(again)?.generationId == 1)
        #expect(d.join(a.joinId) == nil)
    }
}
