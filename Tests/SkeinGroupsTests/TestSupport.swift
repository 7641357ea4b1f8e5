import SkeinGroups

/// Drives a coordinator in tests: numbers requests, keeps time, collects responses and persisted records.
final class Driver {
    let coordinator: GroupCoordinator
    let config: GroupCoordinatorConfig
    var now: Int64 = 0
    private var nextId: RequestID = 1
    var records: [GroupRecord] = []
    var responses: [RequestID: GroupResponse] = [:]
    var abandoned: Set<RequestID> = []
    /// Directives of the last call, in order.
    var lastDirectives: [GroupDirective] = []

    init(config: GroupCoordinatorConfig = GroupCoordinatorConfig(), seed: UInt64 = 1) {
        self.config = config
        coordinator = GroupCoordinator(config: config, seed: seed)
    }

    @discardableResult
    func send(_ request: GroupRequest) -> RequestID {
        let id = nextId
        nextId += 1
        process(coordinator.handle(request, id: id, now: now))
        return id
    }

    /// Moves time forward by `ms`, ticking at every deadline on the way (as a shell does).
    func advance(_ ms: Int64) {
        let target = now + ms
        while let next = coordinator.nextDeadline, next <= target {
            now = max(now, next)
            process(coordinator.tick(now: now))
        }
        now = target
        process(coordinator.tick(now: now))
    }

    func completeTransaction(producerId: Int64, committed: Bool) {
        records.append(.transactionMarker(producerId: producerId, committed: committed))
        process(coordinator.completeTransaction(producerId: producerId, committed: committed, now: now))
    }

    func setTopics(_ counts: [String: Int32]) {
        process(coordinator.setTopicPartitions(counts, now: now))
    }

    func process(_ directives: [GroupDirective]) {
        lastDirectives = directives
        for directive in directives {
            switch directive {
            case .persist(let batch): records.append(contentsOf: batch)
            case .respond(let id, let response):
                precondition(responses[id] == nil, "request \(id) answered twice")
                responses[id] = response
            case .abandon(let id): abandoned.insert(id)
            }
        }
    }

    /// Advances in 100 ms steps until `condition` holds (at most 10 minutes).
    func advanceUntil(_ condition: () -> Bool) {
        var steps = 0
        while !condition() && steps < 6000 {
            advance(100)
            steps += 1
        }
    }

    func join(_ id: RequestID) -> JoinGroupResponse? {
        if case .joinGroup(let r)? = responses[id] { return r }
        return nil
    }
    func sync(_ id: RequestID) -> SyncGroupResponse? {
        if case .syncGroup(let r)? = responses[id] { return r }
        return nil
    }
    func heartbeatCode(_ id: RequestID) -> GroupErrorCode? {
        if case .heartbeat(let r)? = responses[id] { return r.errorCode }
        return nil
    }
    func leave(_ id: RequestID) -> LeaveGroupResponse? {
        if case .leaveGroup(let r)? = responses[id] { return r }
        return nil
    }
    func commit(_ id: RequestID) -> OffsetCommitResponse? {
        switch responses[id] {
        case .offsetCommit(let r)?, .txnOffsetCommit(let r)?: return r
        default: return nil
        }
    }
    func fetch(_ id: RequestID) -> OffsetFetchResponse? {
        if case .offsetFetch(let r)? = responses[id] { return r }
        return nil
    }
    func cgh(_ id: RequestID) -> ConsumerGroupHeartbeatResponse? {
        if case .consumerGroupHeartbeat(let r)? = responses[id] { return r }
        return nil
    }

    // MARK: classic helpers

    static func subscription(_ topics: [String]) -> [UInt8] {
        ConsumerProtocolSubscription(version: 1, topics: topics).encoded()
    }

    func joinRequest(
        group: String = "g", member: String = "", client: String = "client", instance: String? = nil,
        session: Int32 = 10000, rebalance: Int32 = 30000, protocols: [JoinGroupProtocol]? = nil,
        protocolType: String = "consumer", version: Int16 = 9
    ) -> GroupRequest {
        .joinGroup(
            JoinGroupRequest(
                groupId: group, sessionTimeoutMs: session, rebalanceTimeoutMs: rebalance, memberId: member,
                groupInstanceId: instance, protocolType: protocolType,
                protocols: protocols ?? [JoinGroupProtocol(name: "range", metadata: Self.subscription(["t"]))],
                clientId: client, apiVersion: version))
    }

    /// A v4+ join: MEMBER_ID_REQUIRED, then the real join. Returns the member id and the pending join id.
    func joinDynamic(
        group: String = "g", client: String = "client", session: Int32 = 10000, rebalance: Int32 = 30000,
        protocols: [JoinGroupProtocol]? = nil
    ) -> (memberId: String, joinId: RequestID) {
        let first = send(
            joinRequest(group: group, client: client, session: session, rebalance: rebalance, protocols: protocols))
        let memberId = join(first)?.memberId ?? ""
        let second = send(
            joinRequest(
                group: group, member: memberId, client: client, session: session, rebalance: rebalance,
                protocols: protocols))
        return (memberId, second)
    }

    func syncRequest(
        group: String = "g", generation: Int32, member: String, instance: String? = nil,
        assignments: [SyncGroupAssignment] = []
    ) -> GroupRequest {
        .syncGroup(
            SyncGroupRequest(
                groupId: group, generationId: generation, memberId: member, groupInstanceId: instance,
                protocolType: "consumer", protocolName: "range", assignments: assignments))
    }

    func heartbeat(group: String = "g", generation: Int32, member: String, instance: String? = nil) -> GroupErrorCode? {
        heartbeatCode(
            send(
                .heartbeat(
                    HeartbeatRequest(
                        groupId: group, generationId: generation, memberId: member, groupInstanceId: instance))))
    }

    /// Forms a stable group of `count` dynamic members; returns member ids (leader first) and the generation.
    func stableGroup(_ count: Int, group: String = "g") -> (members: [String], generation: Int32) {
        var joins: [(String, RequestID)] = []
        for index in 0..<count { joins.append(joinDynamic(group: group, client: "c\(index)")) }
        advanceUntil { self.join(joins[0].1) != nil }
        guard let first = join(joins[0].1) else { return ([], -1) }
        let generation = first.generationId
        let leader = first.leader
        let ids = joins.map(\.0)
        for (memberId, _) in joins where memberId != leader {
            send(syncRequest(group: group, generation: generation, member: memberId))
        }
        let assignments = ids.map { SyncGroupAssignment(memberId: $0, assignment: Array($0.utf8)) }
        send(syncRequest(group: group, generation: generation, member: leader, assignments: assignments))
        return ([leader] + ids.filter { $0 != leader }, generation)
    }

    func snapshotMatchesReplay() -> Bool {
        let replayed = GroupCoordinator.replay(records, config: config, seed: 99, now: now).snapshot()
        let live = coordinator.snapshot()
        return replayed.offsets == live.offsets
            && replayed.pendingTransactionalOffsets == live.pendingTransactionalOffsets
            && replayed.consumerGroups == live.consumerGroups
            && live.classicGroups.filter {
                $0.value.state == .stable || ($0.value.state == .empty && $0.value.value.generation > 0)
            }
            .allSatisfy { replayed.classicGroups[$0.key] == $0.value }
    }
}
