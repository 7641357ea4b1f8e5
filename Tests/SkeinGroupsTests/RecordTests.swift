import Testing

@testable import SkeinGroups

@Suite struct RecordTests {
    @Test func offsetCommitKeyAndValueBytes() throws {
        let record = GroupRecord.offsetCommit(
            groupId: "g", topicPartition: TopicPartition("t", 0),
            value: OffsetAndMetadata(offset: 5, leaderEpoch: -1, metadata: "", commitTimestamp: 1000), producerId: nil)
        #expect(record.keyBytes() == [0, 1, 0, 1, 0x67, 0, 1, 0x74, 0, 0, 0, 0])
        #expect(
            record.valueBytes() == [
                0, 3, 0, 0, 0, 0, 0, 0, 0, 5, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0x03, 0xE8,
            ])
        let decoded = try GroupRecord.decode(key: record.keyBytes() ?? [], value: record.valueBytes())
        #expect(decoded == record)
        let withExpiry = GroupRecord.offsetCommit(
            groupId: "g", topicPartition: TopicPartition("t", 0),
            value: OffsetAndMetadata(offset: 5, metadata: "m", commitTimestamp: 1, expireTimestamp: 9), producerId: 3)
        #expect(withExpiry.valueBytes()?.prefix(2) == [0, 1])
        #expect(
            try GroupRecord.decode(key: withExpiry.keyBytes() ?? [], value: withExpiry.valueBytes(), producerId: 3)
                == withExpiry)
        let tombstone = GroupRecord.offsetCommit(
            groupId: "g", topicPartition: TopicPartition("t", 0), value: nil, producerId: nil)
        #expect(tombstone.valueBytes() == nil)
        #expect(try GroupRecord.decode(key: tombstone.keyBytes() ?? [], value: nil) == tombstone)
    }

    @Test func groupMetadataBytes() throws {
        let empty = GroupRecord.groupMetadata(
            groupId: "g",
            value: GroupMetadataValue(
                protocolType: "consumer", generation: 1, protocolName: nil, leader: nil, currentStateTimestamp: 5,
                members: []))
        #expect(empty.keyBytes() == [0, 2, 0, 1, 0x67])
        #expect(
            empty.valueBytes() == [0, 3, 0, 8] + Array("consumer".utf8) + [
                0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0,
            ])
        let full = GroupRecord.groupMetadata(
            groupId: "g",
            value: GroupMetadataValue(
                protocolType: "consumer", generation: 7, protocolName: "range", leader: "m1", currentStateTimestamp: 99,
                members: [
                    .init(
                        memberId: "m1", groupInstanceId: "i1", clientId: "c", clientHost: "/h", rebalanceTimeoutMs: 300,
                        sessionTimeoutMs: 100, subscription: [1, 2], assignment: [3])
                ]))
        #expect(try GroupRecord.decode(key: full.keyBytes() ?? [], value: full.valueBytes()) == full)
        // Truncated values are rejected, not trapped on.
        let bytes = full.valueBytes() ?? []
        for cut in 0..<bytes.count {
            #expect(throws: GroupDecodingError.self) {
                try GroupRecord.decode(key: full.keyBytes() ?? [], value: Array(bytes.prefix(cut)))
            }
        }
    }

    @Test func consumerProtocolRoundTrips() throws {
        for version: Int16 in 0...3 {
            let subscription = ConsumerProtocolSubscription(
                version: version, topics: ["a", "b"], userData: [9],
                ownedPartitions: version >= 1 ? [TopicPartitions(topic: "a", partitions: [0, 2])] : [],
                generationId: version >= 2 ? 4 : -1, rackId: version >= 3 ? "r1" : nil)
            #expect(try ConsumerProtocolSubscription(decoding: subscription.encoded()) == subscription)
        }
        // v0 by hand: version 0, ["t"], null user data.
        #expect(
            try ConsumerProtocolSubscription(decoding: [0, 0, 0, 0, 0, 1, 0, 1, 0x74, 0xFF, 0xFF, 0xFF, 0xFF]).topics
                == ["t"])
        let assignment = ConsumerProtocolAssignment(
            version: 1, assignedPartitions: [TopicPartitions(topic: "t", partitions: [1, 3])], userData: nil)
        #expect(try ConsumerProtocolAssignment(decoding: assignment.encoded()) == assignment)
        #expect(throws: GroupDecodingError.self) {
            try ConsumerProtocolSubscription(decoding: [0, 0, 0x7F, 0xFF, 0xFF, 0xFF])
        }
        #expect(throws: GroupDecodingError.self) { try ConsumerProtocolAssignment(decoding: [0]) }
    }

    @Test func replayRebuildsStableGroupWithFreshSessions() {
        let d = Driver()
        let (members, generation) = d.stableGroup(3)
        let replayed = GroupCoordinator.replay(d.records, seed: 5, now: d.now + 1000)
        #expect(replayed.snapshot().classicGroups["g"] == d.coordinator.snapshot().classicGroups["g"])
        // Loaded members heartbeat on; a silent one expires one session after the load.
        let replica = Driver()
        _ = replica
        let hb = replayed.handle(
            .heartbeat(HeartbeatRequest(groupId: "g", generationId: generation, memberId: members[1])), id: 1,
            now: d.now + 2000)
        #expect(hb == [.respond(1, .heartbeat(HeartbeatResponse(errorCode: .none)))])
        let later = replayed.tick(now: d.now + 1000 + 10_000)
        #expect(replayed.snapshot().classicGroups["g"]?.state == .preparingRebalance)
        _ = later
    }
}
