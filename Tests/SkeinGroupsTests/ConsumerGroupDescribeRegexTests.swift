import Testing

@testable import SkeinGroups

/// ConsumerGroupDescribe and regular-expression subscriptions (KIP-848 as Kafka 4.0 serves them).
@Suite struct ConsumerGroupDescribeRegexTests {
    func hb(
        _ d: Driver, group: String = "cg", member: String = "", epoch: Int32, instance: String? = nil,
        rack: String? = nil, topics: [String]? = nil, regex: String? = nil, owned: [TopicPartitions]? = nil,
        client: String = "c"
    ) -> ConsumerGroupHeartbeatResponse? {
        d.cgh(
            d.send(
                .consumerGroupHeartbeat(
                    ConsumerGroupHeartbeatRequest(
                        groupId: group, memberId: member, memberEpoch: epoch, instanceId: instance, rackId: rack,
                        rebalanceTimeoutMs: epoch == 0 ? 30000 : -1, subscribedTopicNames: topics,
                        subscribedTopicRegex: regex, ownedPartitions: epoch == 0 ? [] : owned, clientId: client,
                        clientHost: "/10.0.0.7"))))
    }

    func describe(_ d: Driver, _ ids: [String]) -> [ConsumerGroupDescribeResponse.Group] {
        let id = d.send(.consumerGroupDescribe(ConsumerGroupDescribeRequest(groupIds: ids)))
        guard case .consumerGroupDescribe(let r)? = d.responses[id] else {
            Issue.record("no ConsumerGroupDescribe response")
            return []
        }
        return r.groups
    }

    /// Topic -> partitions of an assignment, for comparisons.
    func map(_ assignment: [TopicPartitions]?) -> [String: Set<Int32>] {
        var result: [String: Set<Int32>] = [:]
        for tp in assignment ?? [] { result[tp.topic, default: []].formUnion(tp.partitions) }
        return result
    }

    // MARK: describe

    @Test func describeShowsGroupMembersAndBothAssignments() {
        let d = Driver()
        d.setTopics(["t": 4])
        guard let a = hb(d, epoch: 0, instance: "inst-a", rack: "rack-a", topics: ["t"], client: "client-a"),
            let aId = a.memberId
        else {
            Issue.record("no response")
            return
        }
        #expect(map(a.assignment) == ["t": [0, 1, 2, 3]])
        var groups = describe(d, ["cg"])
        #expect(groups.count == 1)
        if let g = groups.first {
            #expect(g.errorCode == GroupErrorCode.none)
            #expect(g.errorMessage == nil)
            #expect(g.groupId == "cg")
            #expect(g.groupState == "Stable")
            #expect(g.groupEpoch == 1)
            #expect(g.assignmentEpoch == 1)
            #expect(g.assignorName == "uniform", "no member asked for one: the default (first) assignor")
            #expect(g.members.count == 1)
            if let m = g.members.first {
                #expect(m.memberId == aId)
                #expect(m.instanceId == "inst-a")
                #expect(m.rackId == "rack-a")
                #expect(m.memberEpoch == 1)
                #expect(m.clientId == "client-a")
                #expect(m.clientHost == "/10.0.0.7")
                #expect(m.subscribedTopicNames == ["t"])
                #expect(m.subscribedTopicRegex == nil)
                #expect(map(m.assignment) == ["t": [0, 1, 2, 3]])
                #expect(map(m.targetAssignment) == ["t": [0, 1, 2, 3]])
            }
        }

        // A second member: the target splits the partitions, but a still owns all four until it revokes two,
        // and b owns nothing yet. The group is reconciling at epoch 2.
        guard let b = hb(d, epoch: 0, topics: ["t"], client: "client-b"), let bId = b.memberId else {
            Issue.record("no response")
            return
        }
        #expect(map(b.assignment) == [:])
        groups = describe(d, ["cg"])
        if let g = groups.first {
            #expect(g.groupState == "Reconciling")
            #expect(g.groupEpoch == 2)
            #expect(g.assignmentEpoch == 2)
            #expect(g.members.map(\.memberId) == [aId, bId].sorted())
            let byId = Dictionary(uniqueKeysWithValues: g.members.map { ($0.memberId, $0) })
            #expect(byId[aId]?.memberEpoch == 1)
            #expect(map(byId[aId]?.assignment) == ["t": [0, 1, 2, 3]])
            let aTarget = map(byId[aId]?.targetAssignment)["t"] ?? []
            let bTarget = map(byId[bId]?.targetAssignment)["t"] ?? []
            #expect(aTarget.count == 2 && bTarget.count == 2)
            #expect(aTarget.union(bTarget) == [0, 1, 2, 3])
            #expect(map(byId[bId]?.assignment) == [:])
            #expect(byId[bId]?.instanceId == nil)
            #expect(byId[bId]?.rackId == nil)
        }

        // a revokes; b then gets its share; everyone owns its target: Stable.
        let revoking = hb(d, member: aId, epoch: 1, owned: a.assignment)
        groups = describe(d, ["cg"])
        #expect(groups.first.map { map($0.members.first { $0.memberId == aId }?.assignment) } == map(revoking?.assignment))
        _ = hb(d, member: aId, epoch: 1, owned: revoking?.assignment)
        _ = hb(d, member: bId, epoch: 2, owned: [])
        groups = describe(d, ["cg"])
        if let g = groups.first {
            #expect(g.groupState == "Stable")
            for m in g.members {
                #expect(m.memberEpoch == 2)
                #expect(map(m.assignment) == map(m.targetAssignment))
            }
        }
    }

    @Test func describeErrors() {
        let d = Driver()
        d.setTopics(["t": 1])
        _ = hb(d, epoch: 0, topics: ["t"])
        // A classic group: one made by a simple offset commit, and one with members.
        d.send(
            .offsetCommit(
                OffsetCommitRequest(
                    groupId: "simple", partitions: [OffsetCommitPartition(TopicPartition("t", 0), offset: 1)])))
        _ = d.stableGroup(1, group: "classic")
        let groups = describe(d, ["nope", "simple", "classic", "cg", ""])
        #expect(groups.map(\.groupId) == ["nope", "simple", "classic", "cg", ""])
        #expect(groups.map(\.errorCode) == [.groupIdNotFound, .groupIdNotFound, .groupIdNotFound, .none, .invalidGroupId])
        #expect(groups[0].errorMessage == "Group nope not found.")
        #expect(groups[1].errorMessage == "Group simple is not a consumer group.")
        #expect(groups[2].errorMessage == "Group classic is not a consumer group.")
        #expect(groups[0].members.isEmpty && groups[1].members.isEmpty && groups[2].members.isEmpty)
        #expect(groups[3].members.count == 1)
        // Describing changes nothing durable.
        let before = d.records.count
        _ = describe(d, ["cg"])
        #expect(d.records.count == before)
    }

    @Test func describeAfterAllMembersLeftIsEmpty() {
        let d = Driver()
        d.setTopics(["t": 2])
        guard let id = hb(d, epoch: 0, topics: ["t"])?.memberId else {
            Issue.record("no response")
            return
        }
        _ = hb(d, member: id, epoch: -1)
        let g = describe(d, ["cg"]).first
        #expect(g?.errorCode == GroupErrorCode.none)
        #expect(g?.groupState == "Empty")
        #expect(g?.members.isEmpty == true)
        #expect(g?.groupEpoch == 2)
    }

    // MARK: regular expressions

    @Test func regexSubscriptionResolvesWholeNamesOfNonInternalTopics() {
        let d = Driver()
        d.setTopics(["rx-a": 2, "other": 2, "prefix-rx-a": 1, "__consumer_offsets": 50, "__transaction_state": 5])
        let a = hb(d, epoch: 0, regex: "rx-.*")
        #expect(a?.errorCode == GroupErrorCode.none)
        #expect(map(a?.assignment) == ["rx-a": [0, 1]], "the whole name must match: not prefix-rx-a")
        // Not a find: "rx" alone matches no topic name entirely; "x-.*" neither.
        #expect(map(hb(d, group: "g2", epoch: 0, regex: "rx")?.assignment) == [:])
        #expect(map(hb(d, group: "g3", epoch: 0, regex: "x-.*")?.assignment) == [:])
        // Internal topics are never matched.
        let everything = map(hb(d, group: "g4", epoch: 0, regex: ".*")?.assignment)
        #expect(everything.keys.sorted() == ["other", "prefix-rx-a", "rx-a"])
        #expect(map(hb(d, group: "g5", epoch: 0, regex: "__.*")?.assignment) == [:])
        // Names and a regex together: the union.
        #expect(
            map(hb(d, group: "g6", epoch: 0, topics: ["other"], regex: "^rx-.*$")?.assignment)
                == ["rx-a": [0, 1], "other": [0, 1]])
        let described = describe(d, ["cg", "g6"])
        #expect(described.first?.members.first?.subscribedTopicRegex == "rx-.*")
        #expect(described.first?.members.first?.subscribedTopicNames == [])
        #expect(described.last?.members.first?.subscribedTopicNames == ["other"])
        #expect(described.last?.members.first?.subscribedTopicRegex == "^rx-.*$")
        #expect(d.snapshotMatchesReplay())
    }

    @Test func invalidRegexIsInvalidRegularExpression() {
        let d = Driver()
        d.setTopics(["rx-a": 1])
        let bad = hb(d, epoch: 0, regex: "rx-(")
        #expect(bad?.errorCode == .invalidRegularExpression)
        #expect(bad?.errorCode.rawValue == 128)
        #expect(bad?.errorMessage?.hasPrefix("SubscribedTopicRegex `rx-(` is not a valid regular expression") == true)
        #expect(d.records.isEmpty, "nothing joined")
        // A member already in the group gets the same answer and keeps its subscription.
        guard let id = hb(d, epoch: 0, regex: "rx-.*")?.memberId else {
            Issue.record("no member id")
            return
        }
        #expect(hb(d, member: id, epoch: 1, regex: "[unclosed", owned: [])?.errorCode == .invalidRegularExpression)
        #expect(describe(d, ["cg"]).first?.members.first?.subscribedTopicRegex == "rx-.*")
    }

    @Test func joiningNeedsNamesOrRegexButMayHaveEmptyOnes() {
        let d = Driver()
        d.setTopics(["t": 1])
        #expect(hb(d, epoch: 0)?.errorCode == .invalidRequest)
        #expect(
            hb(d, epoch: 0)?.errorMessage
                == "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining.")
        let empty = hb(d, epoch: 0, topics: [])
        #expect(empty?.errorCode == GroupErrorCode.none)
        #expect(map(empty?.assignment) == [:])
        let emptyRegex = hb(d, group: "g2", epoch: 0, regex: "")
        #expect(emptyRegex?.errorCode == GroupErrorCode.none)
        #expect(describe(d, ["g2"]).first?.members.first?.subscribedTopicRegex == nil, "an empty regex is none")
    }

    @Test func topicCreatedOrDeletedLaterIsResolvedAgain() {
        let d = Driver()
        d.setTopics(["rx-a": 2, "other": 1])
        guard let first = hb(d, epoch: 0, regex: "^rx-.*"), let id = first.memberId else {
            Issue.record("no response")
            return
        }
        #expect(first.memberEpoch == 1)
        #expect(map(first.assignment) == ["rx-a": [0, 1]])
        // A matching topic appears: the group epoch moves and the next heartbeat assigns it.
        let recordsBefore = d.records.count
        d.setTopics(["rx-a": 2, "other": 1, "rx-b": 3])
        #expect(d.records.count > recordsBefore, "the new group epoch is persisted")
        #expect(describe(d, ["cg"]).first?.groupEpoch == 2)
        let grown = hb(d, member: id, epoch: 1, owned: first.assignment)
        #expect(grown?.memberEpoch == 2)
        #expect(map(grown?.assignment) == ["rx-a": [0, 1], "rx-b": [0, 1, 2]])
        // A non-matching topic changes nothing.
        let quiet = d.records.count
        d.setTopics(["rx-a": 2, "other": 1, "rx-b": 3, "zzz": 4])
        #expect(d.records.count == quiet)
        #expect(describe(d, ["cg"]).first?.groupEpoch == 2)
        // A matching topic is deleted: its partitions leave the assignment.
        d.setTopics(["rx-b": 3, "other": 1, "zzz": 4])
        #expect(describe(d, ["cg"]).first?.groupEpoch == 3)
        let shrunk = hb(d, member: id, epoch: 2, owned: grown?.assignment)
        #expect(map(shrunk?.assignment) == ["rx-b": [0, 1, 2]])
        let acked = hb(d, member: id, epoch: shrunk?.memberEpoch ?? 2, owned: shrunk?.assignment)
        #expect(acked?.memberEpoch == 3)
        #expect(describe(d, ["cg"]).first?.groupState == "Stable")
        #expect(d.snapshotMatchesReplay())
    }

    @Test func regexSharedBetweenMembersAndChangedOrDropped() {
        let d = Driver()
        d.setTopics(["rx-a": 2, "rx-b": 2, "n": 2])
        guard let a = hb(d, epoch: 0, regex: "rx-.*"), let aId = a.memberId,
            let b = hb(d, epoch: 0, regex: "rx-.*"), let bId = b.memberId
        else {
            Issue.record("no response")
            return
        }
        // The four partitions are split between the two members' targets.
        let targets = describe(d, ["cg"]).first?.members.map { map($0.targetAssignment) } ?? []
        #expect(targets.count == 2)
        #expect(targets.map { $0.values.reduce(0) { $0 + $1.count } } == [2, 2])
        // b switches to names; "" drops its regex.
        _ = hb(d, member: bId, epoch: b.memberEpoch, topics: ["n"], regex: "", owned: b.assignment)
        let members = describe(d, ["cg"]).first?.members ?? []
        let bNow = members.first { $0.memberId == bId }
        #expect(bNow?.subscribedTopicRegex == nil)
        #expect(bNow?.subscribedTopicNames == ["n"])
        #expect(map(bNow?.targetAssignment) == ["n": [0, 1]])
        #expect(map(members.first { $0.memberId == aId }?.targetAssignment) == ["rx-a": [0, 1], "rx-b": [0, 1]])
        #expect(d.snapshotMatchesReplay())
    }

    @Test func regexSurvivesReplayAndRecordsWithoutRegexKeepVersionZero() throws {
        let d = Driver()
        d.setTopics(["rx-a": 1, "t": 1])
        _ = hb(d, group: "plain", epoch: 0, topics: ["t"])
        _ = hb(d, epoch: 0, regex: "rx-.*")
        var plainVersion: Int16?
        var regexVersion: Int16?
        for record in d.records {
            guard case .consumerGroup(let groupId, let value?) = record else { continue }
            var writer = BinaryWriter()
            value.encode(into: &writer)
            let version = Int16(writer.bytes[0]) << 8 | Int16(writer.bytes[1])
            if groupId == "plain" { plainVersion = version } else { regexVersion = version }
            var reader = BinaryReader(writer.bytes)
            #expect(try ConsumerGroupValue(from: &reader) == value)
        }
        #expect(plainVersion == 0)
        #expect(regexVersion == 1)
        let replayed = GroupCoordinator.replay(d.records, seed: 5, now: d.now)
        _ = replayed.setTopicPartitions(["rx-a": 1, "t": 1, "rx-new": 1], now: d.now)
        let out = replayed.handle(
            .consumerGroupDescribe(ConsumerGroupDescribeRequest(groupIds: ["cg"])), id: 1, now: d.now)
        guard case .respond(_, .consumerGroupDescribe(let r))? = out.last else {
            Issue.record("no describe")
            return
        }
        #expect(r.groups.first?.members.first?.subscribedTopicRegex == "rx-.*")
        #expect(r.groups.first?.groupEpoch == 2, "the replayed group resolves its regex against the new topic")
    }
}
