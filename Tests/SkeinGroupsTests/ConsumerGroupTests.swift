import Testing

@testable import SkeinGroups

@Suite struct ConsumerGroupTests {
    func hb(
        _ d: Driver, member: String = "", epoch: Int32, instance: String? = nil, topics: [String]? = nil,
        owned: [TopicPartitions]? = nil, assignor: String? = nil, rebalance: Int32 = -1
    ) -> ConsumerGroupHeartbeatResponse? {
        d.cgh(
            d.send(
                .consumerGroupHeartbeat(
                    ConsumerGroupHeartbeatRequest(
                        groupId: "cg", memberId: member, memberEpoch: epoch, instanceId: instance,
                        rebalanceTimeoutMs: epoch == 0 ? 30000 : rebalance, subscribedTopicNames: topics,
                        serverAssignor: assignor,
                        ownedPartitions: epoch == 0 ? [] : owned, clientId: "c"))))
    }

    func count(_ assignment: [TopicPartitions]?) -> Int { assignment?.reduce(0) { $0 + $1.partitions.count } ?? 0 }

    @Test func joinGetsEverythingThenRevokesBeforeSharing() {
        let d = Driver()
        d.setTopics(["t": 6])
        guard let a = hb(d, epoch: 0, topics: ["t"]), let aId = a.memberId else {
            Issue.record("no response")
            return
        }
        #expect(a.errorCode == GroupErrorCode.none)
        #expect(a.memberEpoch == 1)
        #expect(a.heartbeatIntervalMs == 5000)
        #expect(count(a.assignment) == 6)
        let all = a.assignment ?? []

        guard let b = hb(d, epoch: 0, topics: ["t"]), let bId = b.memberId else {
            Issue.record("no response")
            return
        }
        #expect(b.memberEpoch == 2)
        #expect(count(b.assignment) == 0, "partitions still owned by a")
        // a must revoke three partitions; it stays at epoch 1 until it acknowledges.
        let revoke = hb(d, member: aId, epoch: 1, owned: all)
        #expect(revoke?.memberEpoch == 1)
        #expect(count(revoke?.assignment) == 3)
        // b still gets nothing.
        #expect(count(hb(d, member: bId, epoch: 2, owned: [])?.assignment) == 0)
        // a acknowledges: new epoch.
        let acked = hb(d, member: aId, epoch: 1, owned: revoke?.assignment)
        #expect(acked?.memberEpoch == 2)
        let bNow = hb(d, member: bId, epoch: 2, owned: [])
        #expect(count(bNow?.assignment) == 3)
        let aSet = Set((revoke?.assignment ?? []).flatMap { $0.partitions })
        let bSet = Set((bNow?.assignment ?? []).flatMap { $0.partitions })
        #expect(aSet.isDisjoint(with: bSet))
        #expect(d.coordinator.snapshot().consumerGroups["cg"].map { _ in true } == true)
        let list = d.send(.listGroups(ListGroupsRequest(typesFilter: ["consumer"])))
        if case .listGroups(let r)? = d.responses[list] { #expect(r.groups.map(\.groupState) == ["Stable"]) }
        #expect(d.snapshotMatchesReplay())
    }

    @Test func epochErrors() {
        let d = Driver()
        d.setTopics(["t": 2])
        let a = hb(d, epoch: 0, topics: ["t"])
        let id = a?.memberId ?? ""
        #expect(hb(d, member: id, epoch: 5, owned: [])?.errorCode == .fencedMemberEpoch)
        #expect(hb(d, member: "nobody", epoch: 1, owned: [])?.errorCode == .unknownMemberId)
        #expect(hb(d, member: id, epoch: -7)?.errorCode == .invalidRequest)
        #expect(hb(d, epoch: 0, topics: nil)?.errorCode == .invalidRequest)
        #expect(hb(d, epoch: 0, topics: ["t"], assignor: "magic")?.errorCode == .unsupportedAssignor)
        // A second member bumps the epoch; a's lost response case: previous epoch with owned subset is accepted.
        _ = hb(d, epoch: 0, topics: ["t"])
        let bumped = hb(d, member: id, epoch: 1, owned: a?.assignment)
        #expect(bumped?.errorCode == GroupErrorCode.none)
        let ack = hb(d, member: id, epoch: 1, owned: bumped?.assignment)
        #expect(ack?.memberEpoch == 2)
        #expect(
            hb(d, member: id, epoch: 1, owned: bumped?.assignment)?.errorCode == GroupErrorCode.none,
            "previous epoch, subset")
        #expect(
            hb(d, member: id, epoch: 1, owned: nil)?.errorCode == .fencedMemberEpoch, "previous epoch, nothing reported"
        )
        #expect(
            hb(d, member: id, epoch: 0 + 1, owned: [TopicPartitions(topic: "t", partitions: [0, 1])])?.errorCode
                == .fencedMemberEpoch)
    }

    @Test func leaveAndStaticLeave() {
        let d = Driver()
        d.setTopics(["t": 4])
        let a = hb(d, epoch: 0, instance: "ia", topics: ["t"])
        let aId = a?.memberId ?? ""
        #expect(hb(d, epoch: 0, instance: "ia", topics: ["t"])?.errorCode == .unreleasedInstanceId)
        // Static temporary leave keeps the assignment.
        let left = hb(d, member: aId, epoch: -2, instance: "ia")
        #expect(left?.memberEpoch == -2)
        let back = hb(d, epoch: 0, instance: "ia", topics: ["t"])
        #expect(back?.errorCode == GroupErrorCode.none)
        #expect(back?.memberId != aId)
        #expect(count(back?.assignment) == 4)
        let backId = back?.memberId ?? ""
        #expect(hb(d, member: aId, epoch: -1, instance: "ia")?.errorCode == .fencedInstanceId)
        let gone = hb(d, member: backId, epoch: -1, instance: "ia")
        #expect(gone?.memberEpoch == -1)
        let list = d.send(.listGroups(ListGroupsRequest()))
        if case .listGroups(let r)? = d.responses[list] { #expect(r.groups.first?.groupState == "Empty") }
        #expect(d.snapshotMatchesReplay())
    }

    @Test func sessionAndRevocationTimeouts() {
        let d = Driver()
        d.setTopics(["t": 4])
        let a = hb(d, epoch: 0, topics: ["t"])
        let b = hb(d, epoch: 0, topics: ["t"])
        let bId = b?.memberId ?? ""
        // a learns it must revoke but never acknowledges: fenced after its rebalance timeout (30 s).
        let revoke = hb(d, member: a?.memberId ?? "", epoch: 1, owned: a?.assignment)
        #expect(count(revoke?.assignment) == 2)
        d.advance(20_000)
        _ = hb(d, member: bId, epoch: b?.memberEpoch ?? 0, owned: [])
        d.advance(11_000)
        #expect(d.coordinator.snapshot().consumerGroups["cg"]?.members.map(\.memberId) == [bId])
        let all = hb(d, member: bId, epoch: b?.memberEpoch ?? 0, owned: [])
        #expect(count(all?.assignment) == 4)
        #expect(hb(d, member: a?.memberId ?? "", epoch: 1, owned: [])?.errorCode == .unknownMemberId)
        // b goes silent: removed after the session timeout (45 s).
        d.advance(46_000)
        #expect(d.coordinator.snapshot().consumerGroups["cg"]?.members.isEmpty == true)
    }

    @Test func metadataChangeBumpsEpochAndRangeAssignor() {
        let d = Driver()
        d.setTopics(["t": 2])
        let a = hb(d, epoch: 0, topics: ["t"], assignor: "range")
        let aId = a?.memberId ?? ""
        #expect(count(a?.assignment) == 2)
        d.setTopics(["t": 4])
        let more = hb(d, member: aId, epoch: a?.memberEpoch ?? 0, owned: a?.assignment)
        #expect(more?.memberEpoch == (a?.memberEpoch ?? 0) + 1)
        #expect(count(more?.assignment) == 4)
        let b = hb(d, epoch: 0, topics: ["t"], assignor: "range")
        let bId = b?.memberId ?? ""
        _ = hb(d, member: aId, epoch: more?.memberEpoch ?? 0, owned: more?.assignment)
        // Range: sorted member ids get contiguous ranges.
        let targets = d.coordinator.snapshot().consumerGroups["cg"]?.members.map(\.targetAssignment)
        #expect(targets == [["t": [0, 1]], ["t": [2, 3]]])
        #expect(d.coordinator.snapshot().consumerGroups["cg"]?.members.map(\.memberId) == [aId, bId].sorted())
    }

    @Test func offsetCommitUsesMemberEpoch() {
        let d = Driver()
        d.setTopics(["t": 1])
        let a = hb(d, epoch: 0, topics: ["t"])
        let tp = TopicPartition("t", 0)
        let ok = d.send(
            .offsetCommit(
                OffsetCommitRequest(
                    groupId: "cg", generationIdOrMemberEpoch: a?.memberEpoch ?? 0, memberId: a?.memberId ?? "",
                    partitions: [OffsetCommitPartition(tp, offset: 3)])))
        #expect(d.commit(ok)?.partitions.first?.errorCode == GroupErrorCode.none)
        let stale = d.send(
            .offsetCommit(
                OffsetCommitRequest(
                    groupId: "cg", generationIdOrMemberEpoch: 99, memberId: a?.memberId ?? "",
                    partitions: [OffsetCommitPartition(tp, offset: 4)])))
        #expect(d.commit(stale)?.partitions.first?.errorCode == .staleMemberEpoch)
        let simple = d.send(
            .offsetCommit(OffsetCommitRequest(groupId: "cg", partitions: [OffsetCommitPartition(tp, offset: 4)])))
        #expect(d.commit(simple)?.partitions.first?.errorCode == .unknownMemberId)
        let del = d.send(.offsetDelete(OffsetDeleteRequest(groupId: "cg", partitions: [tp])))
        if case .offsetDelete(let r)? = d.responses[del] {
            #expect(r.partitions.first?.errorCode == .groupSubscribedToTopic)
        }
        // Classic JoinGroup on a consumer group, KIP-848 heartbeat on a live classic group.
        #expect(d.join(d.send(d.joinRequest(group: "cg")))?.errorCode == .inconsistentGroupProtocol)
        _ = d.stableGroup(1, group: "classic")
        let wrong = d.cgh(
            d.send(
                .consumerGroupHeartbeat(
                    ConsumerGroupHeartbeatRequest(
                        groupId: "classic", memberId: "", memberEpoch: 0, rebalanceTimeoutMs: 1000,
                        subscribedTopicNames: ["t"], ownedPartitions: []))))
        #expect(wrong?.errorCode == .groupIdNotFound)
    }

    /// A static member that left (epoch -2) with partitions the target has since moved rejoins with epoch 0 and
    /// reports nothing: it owns none of them, so it must move to the target epoch at once. It used to stay at
    /// epoch 0 holding partitions (state unrevoked); a client at epoch 0 must report no partitions, so a later
    /// revocation was "acknowledged" by its next epoch-0 heartbeat while it still held them, and they went to
    /// other members (KIP-848 simulation seeds 110 and 172 with the xoshiro generator).
    @Test func staticMemberRejoiningNeverHoldsPartitionsAtEpochZero() {
        let d = Driver()
        d.setTopics(["t": 4])
        let s = hb(d, epoch: 0, instance: "is", topics: ["t"], assignor: "range")
        #expect(count(s?.assignment) == 4)
        #expect(hb(d, member: s?.memberId ?? "", epoch: -2, instance: "is")?.memberEpoch == -2)
        // While the static member is away, another member joins: the target halves s's share.
        let other = hb(d, epoch: 0, topics: ["t"], assignor: "range")
        #expect(count(other?.assignment) == 0, "s still owns everything")
        // A new instance of s comes back: epoch 0, no partitions.
        guard let back = hb(d, epoch: 0, instance: "is", topics: ["t"], assignor: "range"), let backId = back.memberId
        else {
            Issue.record("no response")
            return
        }
        #expect(back.errorCode == GroupErrorCode.none)
        #expect(back.memberEpoch == 2, "at the target epoch, not at epoch 0 with partitions")
        #expect(count(back.assignment) == 2)
        // Two more members: s's share shrinks again and it must revoke. It reports what it holds (the revoked
        // partitions too, until it has released them), and none of them may go elsewhere before it has.
        var held = Set(
            (back.assignment ?? []).flatMap { entry in entry.partitions.map { TopicPartition(entry.topic, $0) } })
        var epoch = back.memberEpoch
        let others = [other, hb(d, epoch: 0, topics: ["t"]), hb(d, epoch: 0, topics: ["t"])]
        func ownedList(_ set: Set<TopicPartition>) -> [TopicPartitions] {
            [TopicPartitions(topic: "t", partitions: set.map(\.partition).sorted())]
        }
        for _ in 0..<3 {
            let r = hb(
                d, member: backId, epoch: epoch, instance: "is", topics: ["t"], owned: ownedList(held),
                rebalance: 30000)
            #expect(r?.errorCode == GroupErrorCode.none)
            #expect(r?.memberEpoch != 0 || count(r?.assignment) == 0, "partitions at epoch 0")
            epoch = r?.memberEpoch ?? epoch
            for entry in r?.assignment ?? [] {
                for p in entry.partitions { held.insert(TopicPartition(entry.topic, p)) }
            }
            for o in others {
                _ = hb(d, member: o?.memberId ?? "", epoch: o?.memberEpoch ?? 0, owned: [])
            }
            let group = d.coordinator.snapshot().consumerGroups["cg"]
            let mine = group?.members.first { $0.memberId == backId }
            let view = Set(
                [mine?.assignedPartitions ?? [:], mine?.partitionsPendingRevocation ?? [:]].flatMap { assignment in
                    assignment.flatMap { topic, partitions in partitions.map { TopicPartition(topic, $0) } }
                })
            #expect(held.isSubset(of: view), "s holds \(held.subtracting(view)) the coordinator gave away")
        }
        #expect(d.snapshotMatchesReplay())
    }

    /// The reconciliation step on its own: a member that reported it owns none of the partitions to revoke is
    /// not asked to revoke them; one that did not report, or still reports one, is.
    @Test func reconcileAsksForRevocationOnlyOfPartitionsTheMemberMayOwn() {
        let member = ConsumerMemberValue(
            memberId: "m", instanceId: "i", rackId: nil, clientId: "c", clientHost: "h", rebalanceTimeoutMs: 1000,
            subscribedTopicNames: ["t"], serverAssignor: nil, memberEpoch: 0, previousMemberEpoch: 0,
            state: .stable, assignedPartitions: ["t": [0, 1]], partitionsPendingRevocation: [:],
            targetAssignment: ["t": [1, 2]])
        let joined = reconcile(
            member, targetEpoch: 5, target: ["t": [1, 2]], ownedPartitions: [], ownerOf: { _ in nil })
        #expect(joined.state == .stable)
        #expect(joined.memberEpoch == 5)
        #expect(joined.assignedPartitions == ["t": [1, 2]])
        #expect(joined.partitionsPendingRevocation.isEmpty)
        var stable = member
        stable.memberEpoch = 4
        for owned in [nil, [TopicPartitions(topic: "t", partitions: [0, 1])]] as [[TopicPartitions]?] {
            let revoking = reconcile(
                stable, targetEpoch: 5, target: ["t": [1, 2]], ownedPartitions: owned, ownerOf: { _ in nil })
            #expect(revoking.state == .unrevokedPartitions)
            #expect(revoking.memberEpoch == 4)
            #expect(revoking.assignedPartitions == ["t": [1]])
            #expect(revoking.partitionsPendingRevocation == ["t": [0]])
        }
    }

    @Test func uniformAssignorIsBalancedAndSticky() {
        let assignor = UniformAssignor()
        var spec = AssignmentSpec(
            members: (0..<5).map {
                AssignmentSpec.Member(memberId: "m\($0)", subscribedTopics: ["a", "b"], currentTarget: [:])
            },
            topicPartitions: ["a": 7, "b": 6])
        let first = assignor.assign(spec)
        let counts = first.values.map { $0.values.reduce(0) { $0 + $1.count } }
        #expect(counts.reduce(0, +) == 13)
        #expect((counts.max() ?? 0) - (counts.min() ?? 0) <= 1)
        // Add a member: everyone else keeps what it can.
        spec.members = spec.members.map { m in
            var m = m; m.currentTarget = first[m.memberId] ?? [:]; return m
        }
        spec.members.append(.init(memberId: "m5", subscribedTopics: ["a", "b"], currentTarget: [:]))
        let second = assignor.assign(spec)
        var moved = 0
        for m in 0..<5 {
            let before = first["m\(m)"] ?? [:]
            let after = second["m\(m)"] ?? [:]
            for (topic, partitions) in before { moved += partitions.subtracting(after[topic] ?? []).count }
        }
        #expect(moved == 2, "only the new member's share moves")
        // Heterogeneous subscriptions: a-only and b-only members.
        let hetero = assignor.assign(
            AssignmentSpec(
                members: [
                    .init(memberId: "x", subscribedTopics: ["a"], currentTarget: [:]),
                    .init(memberId: "y", subscribedTopics: ["a", "b"], currentTarget: [:]),
                    .init(memberId: "z", subscribedTopics: ["b"], currentTarget: [:]),
                ],
                topicPartitions: ["a": 4, "b": 2]))
        let heteroCounts = ["x", "y", "z"].map { hetero[$0]?.values.reduce(0) { $0 + $1.count } ?? 0 }
        #expect(heteroCounts.reduce(0, +) == 6)
        #expect((heteroCounts.max() ?? 0) - (heteroCounts.min() ?? 0) <= 1)
    }
}
