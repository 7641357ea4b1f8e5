import Testing

@testable import SkeinGroups

@Suite struct OffsetTests {
    let tp0 = TopicPartition("t", 0)
    let tp1 = TopicPartition("t", 1)

    func commit(
        _ d: Driver, group: String = "g", generation: Int32 = -1, member: String = "", instance: String? = nil,
        _ offsets: [(TopicPartition, Int64)], metadata: String? = nil
    ) -> [GroupErrorCode] {
        let id = d.send(
            .offsetCommit(
                OffsetCommitRequest(
                    groupId: group, generationIdOrMemberEpoch: generation, memberId: member, groupInstanceId: instance,
                    partitions: offsets.map { OffsetCommitPartition($0.0, offset: $0.1, metadata: metadata) })))
        return d.commit(id)?.partitions.map(\.errorCode) ?? []
    }

    func fetch(_ d: Driver, group: String = "g", _ partitions: [TopicPartition]? = nil, requireStable: Bool = false)
        -> OffsetFetchResponse?
    {
        d.fetch(
            d.send(
                .offsetFetch(OffsetFetchRequest(groupId: group, partitions: partitions, requireStable: requireStable))))
    }

    @Test func simpleCommitAndFetch() {
        let d = Driver()
        d.now = 1000
        #expect(commit(d, [(tp0, 5), (tp1, 7)], metadata: "m") == [.none, .none])
        let all = fetch(d)
        #expect(all?.partitions.map(\.committedOffset) == [5, 7])
        #expect(all?.partitions.first?.metadata == "m")
        let listed = fetch(d, [tp1, TopicPartition("u", 0)])
        #expect(listed?.partitions.map(\.committedOffset) == [7, -1])
        #expect(fetch(d, group: "nobody", [tp0])?.partitions.map(\.committedOffset) == [-1])
        #expect(fetch(d, group: "nobody")?.partitions.isEmpty == true)
        guard case .offsetCommit("g", tp0, let value?, nil)? = d.records.first else {
            Issue.record("expected an offset record")
            return
        }
        #expect(value.offset == 5 && value.commitTimestamp == 1000 && value.metadata == "m")
        // A generation >= 0 for an unknown group is from an old generation.
        #expect(commit(d, group: "other", generation: 3, member: "m", [(tp0, 1)]) == [.illegalGeneration])
        #expect(d.snapshotMatchesReplay())
    }

    @Test func metadataTooLarge() {
        let d = Driver()
        let big = String(repeating: "x", count: 4097)
        let id = d.send(
            .offsetCommit(
                OffsetCommitRequest(
                    groupId: "g",
                    partitions: [
                        OffsetCommitPartition(tp0, offset: 1, metadata: big),
                        OffsetCommitPartition(tp1, offset: 2, metadata: String(repeating: "y", count: 4096)),
                    ])))
        #expect(d.commit(id)?.partitions.map(\.errorCode) == [.offsetMetadataTooLarge, .none])
        #expect(fetch(d)?.partitions.map(\.topicPartition) == [tp1])
    }

    @Test func memberCommitChecks() {
        let d = Driver()
        let (members, generation) = d.stableGroup(2)
        #expect(commit(d, generation: generation, member: members[1], [(tp0, 3)]) == [.none])
        #expect(commit(d, [(tp0, 4)]) == [.unknownMemberId], "non-member commit on a non-empty group")
        #expect(commit(d, generation: generation, member: "ghost", [(tp0, 4)]) == [.unknownMemberId])
        #expect(commit(d, generation: generation + 1, member: members[1], [(tp0, 4)]) == [.illegalGeneration])
        // Preparing: still allowed.
        d.send(d.joinRequest(member: members[0], client: "c0"))
        #expect(commit(d, generation: generation, member: members[1], [(tp0, 5)]) == [.none])
        // Completing: REBALANCE_IN_PROGRESS.
        let rejoin = d.send(d.joinRequest(member: members[1], client: "c1"))
        #expect(d.join(rejoin)?.generationId == generation + 1)
        #expect(commit(d, generation: generation + 1, member: members[1], [(tp0, 6)]) == [.rebalanceInProgress])
        #expect(fetch(d, [tp0])?.partitions.first?.committedOffset == 5)
    }

    @Test func transactionalOffsetsArePendingUntilMarker() {
        let d = Driver()
        #expect(commit(d, [(tp0, 1)]) == [.none])
        let txn = d.send(
            .txnOffsetCommit(
                TxnOffsetCommitRequest(
                    transactionalId: "tx", groupId: "g", producerId: 42, producerEpoch: 0,
                    partitions: [OffsetCommitPartition(tp0, offset: 10), OffsetCommitPartition(tp1, offset: 11)])))
        #expect(d.commit(txn)?.partitions.map(\.errorCode) == [.none, .none])
        #expect(fetch(d, [tp0])?.partitions.first?.committedOffset == 1)
        #expect(
            fetch(d, [tp0, tp1], requireStable: true)?.partitions.map(\.errorCode) == [
                .unstableOffsetCommit, .unstableOffsetCommit,
            ])
        #expect(d.snapshotMatchesReplay())
        d.completeTransaction(producerId: 42, committed: true)
        #expect(fetch(d, [tp0, tp1], requireStable: true)?.partitions.map(\.committedOffset) == [10, 11])
        #expect(d.snapshotMatchesReplay())

        // Abort drops; a plain commit written after a transactional one wins over it.
        d.send(
            .txnOffsetCommit(
                TxnOffsetCommitRequest(
                    transactionalId: "tx", groupId: "g", producerId: 7, producerEpoch: 0,
                    partitions: [OffsetCommitPartition(tp0, offset: 100)])))
        d.completeTransaction(producerId: 7, committed: false)
        #expect(fetch(d, [tp0])?.partitions.first?.committedOffset == 10)
        d.send(
            .txnOffsetCommit(
                TxnOffsetCommitRequest(
                    transactionalId: "tx", groupId: "g", producerId: 8, producerEpoch: 0,
                    partitions: [OffsetCommitPartition(tp0, offset: 200)])))
        #expect(commit(d, [(tp0, 150)]) == [.none])
        d.completeTransaction(producerId: 8, committed: true)
        #expect(fetch(d, [tp0])?.partitions.first?.committedOffset == 150)
        #expect(d.snapshotMatchesReplay())
    }

    @Test func offsetDeleteRules() {
        let d = Driver()
        let (members, generation) = d.stableGroup(1)
        #expect(
            commit(d, generation: generation, member: members[0], [(tp0, 1), (TopicPartition("other", 0), 2)]) == [
                .none, .none,
            ])
        let id = d.send(
            .offsetDelete(OffsetDeleteRequest(groupId: "g", partitions: [tp0, TopicPartition("other", 0)])))
        guard case .offsetDelete(let response)? = d.responses[id] else {
            Issue.record("no response")
            return
        }
        // The member's subscription (parsed from its metadata) contains "t".
        #expect(response.partitions.map(\.errorCode) == [.groupSubscribedToTopic, .none])
        #expect(fetch(d)?.partitions.map(\.topicPartition) == [tp0])
        guard case .offsetCommit("g", TopicPartition("other", 0), nil, nil)? = d.records.last else {
            Issue.record("expected a tombstone")
            return
        }
        let missing = d.send(.offsetDelete(OffsetDeleteRequest(groupId: "missing", partitions: [tp0])))
        if case .offsetDelete(let r)? = d.responses[missing] { #expect(r.errorCode == .groupIdNotFound) }

        // Non-consumer protocol type: NON_EMPTY_GROUP.
        let c = d.joinDynamic(group: "connect", client: "w", protocols: [JoinGroupProtocol(name: "v1", metadata: [])])
        _ = c
        let connectJoin = d.send(
            d.joinRequest(
                group: "connect2", protocols: [JoinGroupProtocol(name: "v1", metadata: [])], protocolType: "connect",
                version: 3))
        _ = connectJoin
        let nonEmpty = d.send(.offsetDelete(OffsetDeleteRequest(groupId: "connect2", partitions: [tp0])))
        if case .offsetDelete(let r)? = d.responses[nonEmpty] { #expect(r.errorCode == .nonEmptyGroup) }
        #expect(d.snapshotMatchesReplay())
    }

    @Test func emptyGroupOffsetsExpireAfterRetentionFromBecomingEmpty() {
        var config = GroupCoordinatorConfig()
        config.offsetsRetentionMs = 60_000
        config.offsetsRetentionCheckIntervalMs = 1_000
        let d = Driver(config: config)
        let (members, generation) = d.stableGroup(1)
        #expect(commit(d, generation: generation, member: members[0], [(tp0, 1)]) == [.none])
        d.advance(30_000)  // still Stable (heartbeats below keep it alive)? No: it expires and the group empties.
        // The member's session (10 s) expired around 10 s after sync: the group became Empty then.
        #expect(d.coordinator.snapshot().classicGroups["g"]?.state == .empty)
        #expect(fetch(d, [tp0])?.partitions.first?.committedOffset == 1)
        d.advance(45_000)
        #expect(fetch(d, [tp0])?.partitions.first?.committedOffset == -1)
        #expect(d.coordinator.snapshot().classicGroups["g"] == nil, "empty group without offsets is gone")
        guard case .groupMetadata("g", nil)? = d.records.last else {
            Issue.record("expected a group tombstone, got \(String(describing: d.records.last))")
            return
        }
        #expect(d.snapshotMatchesReplay())
    }

    @Test func simpleGroupOffsetsExpireByCommitTime() {
        var config = GroupCoordinatorConfig()
        config.offsetsRetentionMs = 10_000
        config.offsetsRetentionCheckIntervalMs = 1_000
        let d = Driver(config: config)
        #expect(commit(d, [(tp0, 1)]) == [.none])
        d.advance(5_000)
        #expect(commit(d, [(tp1, 2)]) == [.none])
        d.advance(6_000)
        #expect(fetch(d)?.partitions.map(\.topicPartition) == [tp1])
        d.advance(5_000)
        #expect(fetch(d)?.partitions.isEmpty == true)
        #expect(d.coordinator.groupIds.isEmpty)
        #expect(d.snapshotMatchesReplay())
    }
}
