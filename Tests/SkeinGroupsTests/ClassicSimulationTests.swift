import SkeinModel
import Foundation
import Testing

@testable import SkeinGroups

/// Parameters of one classic-protocol simulation run.
struct ClassicSimParams: CustomStringConvertible {
    var seed: UInt64
    var members = 20
    var staticEvery = 3  // every third member is static
    var faultyMs: Int64 = 18_000
    var calmMs: Int64 = 22_000
    var dropRate = 0.02
    var topics: [String: Int32] = ["t1": 12, "t2": 8]
    var description: String { "seed=\(seed) members=\(members) faulty=\(faultyMs)ms calm=\(calmMs)ms drop=\(dropRate)" }
}

/// Statistics of a run, for the report.
struct SimStats {
    var events = 0
    var requests = 0
    var generations: Int32 = 0
    var crashes = 0
    var leaves = 0
    var pauses = 0
    var dropped = 0
    var commits = 0
    var records = 0
    var replayChecks = 0
    var rejectedCommits: [GroupErrorCode: Int] = [:]
}

/// An eager consumer (Kafka's classic consumer with the range assignor) in the simulation.
final class SimConsumer {
    enum State { case stopped, joining, syncing, stable }
    let index: Int
    let clientId: String
    let instanceId: String?
    var incarnation = 0
    var state = State.stopped
    var memberId = ""
    var generation: Int32 = -1
    var owned: [TopicPartition] = []
    var positions: [TopicPartition: Int64] = [:]
    var pendingJoin: RequestID?
    var pendingSync: RequestID?
    var pendingFetch: RequestID?
    var heartbeatInFlight: RequestID?
    var pausedUntil: Int64 = 0
    let sessionMs: Int32
    let rebalanceMs: Int32

    init(index: Int, instanceId: String?, sessionMs: Int32, rebalanceMs: Int32) {
        self.index = index
        clientId = "client\(index)"
        self.instanceId = instanceId
        self.sessionMs = sessionMs
        self.rebalanceMs = rebalanceMs
    }
}

final class ClassicSimulation {
    enum Event {
        case request(client: Int, incarnation: Int, id: RequestID, GroupRequest)
        case response(client: Int, incarnation: Int, id: RequestID, GroupResponse)
        case timeout(client: Int, incarnation: Int, id: RequestID)
        case heartbeatTimer(client: Int, incarnation: Int)
        case commitTimer(client: Int, incarnation: Int)
        /// A paused member resumes and commits what it processed before anything else (a zombie, if the group
        /// moved on meanwhile: its commit must be refused).
        case resumeCommit(client: Int, incarnation: Int)
        case restart(client: Int)
        case fault
        case tick
    }

    let params: ClassicSimParams
    var random: SeededRandom
    let config: GroupCoordinatorConfig
    let coordinator: GroupCoordinator
    var loader = GroupStateLoader()
    var queue = EventQueue<Event>()
    var clients: [SimConsumer] = []
    var now: Int64 = 0
    var nextRequestId: RequestID = 1
    var owners: [RequestID: (client: Int, incarnation: Int)] = [:]
    var toCoordinatorClock: [Int: Int64] = [:]
    var toClientClock: [Int: Int64] = [:]
    var calm = false
    var scheduledTick: Int64?
    var stats = SimStats()
    var trace: [String] = []
    var failure: String?
    /// (generation -> partition -> member) from successful SyncGroup responses.
    var generationAssignments: [Int32: [TopicPartition: String]] = [:]
    var lastCommitted: [TopicPartition: Int64] = [:]
    let group = "sim-group"
    let allPartitions: [TopicPartition]

    init(_ params: ClassicSimParams) {
        self.params = params
        random = SeededRandom(seed: params.seed &* 0x9E37_79B9 &+ 7)
        var config = GroupCoordinatorConfig()
        config.groupInitialRebalanceDelayMs = 500
        config.offsetsRetentionCheckIntervalMs = 60_000
        self.config = config
        coordinator = GroupCoordinator(config: config, seed: params.seed)
        var partitions: [TopicPartition] = []
        for (topic, count) in params.topics { for p in 0..<count { partitions.append(TopicPartition(topic, p)) } }
        allPartitions = partitions.sorted()
        for index in 0..<params.members {
            let isStatic = params.staticEvery > 0 && index % params.staticEvery == 0
            clients.append(
                SimConsumer(
                    index: index, instanceId: isStatic ? "instance\(index)" : nil,
                    // Static members usually run with long sessions (restarts without rebalances).
                    sessionMs: Int32(isStatic ? random.between(12000, 18000) : random.between(6000, 9000)),
                    rebalanceMs: Int32(random.between(6000, 12000))))
        }
    }

    /// Tracing is off for speed; a failing run is repeated with tracing on (runs are deterministic).
    var tracing = false

    func note(_ text: @autoclosure () -> String) {
        guard tracing else { return }
        if trace.count >= 80 { trace.removeFirst(trace.count - 79) }
        trace.append("t=\(now) \(text())")
    }

    func fail(_ text: String) {
        guard failure == nil else { return }
        failure =
            "\(params) at t=\(now) after \(stats.events) events: \(text)\nlast events:\n"
            + trace.joined(separator: "\n")
    }

    // MARK: run

    func run() -> SimStats {
        for client in clients { queue.push(random.between(0, 2000), .restart(client: client.index)) }
        queue.push(1000, .fault)
        let end = params.faultyMs + params.calmMs
        while failure == nil, let (time, event) = queue.pop(), time <= end {
            now = time
            stats.events += 1
            if !calm && now >= params.faultyMs { enterCalm() }
            handle(event)
            scheduleTick()
            checkInvariants()
        }
        if failure == nil { checkConvergence() }
        stats.records = loaderRecordCount
        return stats
    }

    private var loaderRecordCount = 0

    func enterCalm() {
        calm = true
        note("calm phase")
        for client in clients where client.state == .stopped {
            queue.push(now + random.between(0, 500), .restart(client: client.index))
        }
        for client in clients { client.pausedUntil = 0 }
    }

    func scheduleTick() {
        guard let deadline = coordinator.nextDeadline else { return }
        let at = max(deadline, now)
        if scheduledTick == nil || at < (scheduledTick ?? .max) {
            scheduledTick = at
            queue.push(at, .tick)
        }
    }

    func apply(_ directives: [GroupDirective]) {
        for directive in directives {
            switch directive {
            case .persist(let records):
                loader.apply(records.map(roundTrip))
                loaderRecordCount += records.count
                pendingReplayCheck = true
            case .respond(let id, let response):
                guard let owner = owners.removeValue(forKey: id) else {
                    fail("response to unknown or already answered request \(id)")
                    return
                }
                let timeout = timeouts.removeValue(forKey: id) ?? 5000
                if !calm && random.chance(params.dropRate) {
                    stats.dropped += 1
                    queue.push(now + timeout, .timeout(client: owner.client, incarnation: owner.incarnation, id: id))
                    continue
                }
                let at = max(now + random.between(1, 30), toClientClock[owner.client] ?? 0)
                toClientClock[owner.client] = at
                queue.push(at, .response(client: owner.client, incarnation: owner.incarnation, id: id, response))
            case .abandon(let id):
                // The client's request times out.
                if let owner = owners.removeValue(forKey: id) {
                    queue.push(
                        now + (timeouts.removeValue(forKey: id) ?? 5000),
                        .timeout(client: owner.client, incarnation: owner.incarnation, id: id))
                }
            }
        }
    }

    var pendingReplayCheck = false
    /// Request timeouts, scheduled only when a message is lost (the only case in which they fire).
    var timeouts: [RequestID: Int64] = [:]

    func handle(_ event: Event) {
        switch event {
        case .tick:
            if let at = scheduledTick, at <= now { scheduledTick = nil }
            apply(coordinator.tick(now: now))
        case .request(_, _, let id, let request):
            stats.requests += 1
            let directives = coordinator.handle(request, id: id, now: now)
            if case .offsetCommit(let commit) = request { checkAcceptedCommit(commit, id: id, directives) }
            apply(directives)
        case .response(let index, let incarnation, let id, let response):
            let client = clients[index]
            guard client.incarnation == incarnation, client.state != .stopped else { return }
            if client.pausedUntil > now {
                // A paused process handles the response when it resumes.
                queue.push(client.pausedUntil, event)
                return
            }
            onResponse(client, id, response)
        case .timeout(let index, let incarnation, let id):
            let client = clients[index]
            guard client.incarnation == incarnation, client.state != .stopped else { return }
            if client.pendingJoin == id || client.pendingSync == id {
                note("\(client.clientId) join/sync \(id) timed out")
                client.pendingJoin = nil
                client.pendingSync = nil
                startJoin(client)
            } else if client.heartbeatInFlight == id {
                client.heartbeatInFlight = nil
            } else if client.pendingFetch == id {
                client.pendingFetch = nil
                fetchOffsets(client)
            }
        case .heartbeatTimer(let index, let incarnation):
            let client = clients[index]
            guard client.incarnation == incarnation, client.state != .stopped else { return }
            queue.push(now + 1500, .heartbeatTimer(client: index, incarnation: incarnation))
            guard client.pausedUntil <= now, client.state == .syncing || client.state == .stable,
                client.heartbeatInFlight == nil
            else { return }
            client.heartbeatInFlight = send(
                client,
                .heartbeat(
                    HeartbeatRequest(
                        groupId: group, generationId: client.generation, memberId: client.memberId,
                        groupInstanceId: client.instanceId)), timeout: 5000)
        case .commitTimer(let index, let incarnation), .resumeCommit(let index, let incarnation):
            let client = clients[index]
            guard client.incarnation == incarnation, client.state != .stopped else { return }
            if case .commitTimer = event {
                queue.push(now + random.between(2000, 6000), .commitTimer(client: index, incarnation: incarnation))
            }
            guard client.pausedUntil <= now, client.state == .stable, client.pendingFetch == nil,
                !client.positions.isEmpty
            else { return }
            var partitions: [OffsetCommitPartition] = []
            for tp in client.positions.keys.sorted() {
                let next = (client.positions[tp] ?? 0) + random.between(0, 5)
                client.positions[tp] = next
                partitions.append(OffsetCommitPartition(tp, offset: next))
            }
            stats.commits += 1
            _ = send(
                client,
                .offsetCommit(
                    OffsetCommitRequest(
                        groupId: group, generationIdOrMemberEpoch: client.generation, memberId: client.memberId,
                        groupInstanceId: client.instanceId, partitions: partitions)), timeout: 5000)
        case .restart(let index):
            let client = clients[index]
            guard client.state == .stopped else { return }
            client.incarnation += 1
            client.memberId = ""
            client.generation = -1
            client.owned = []
            client.positions = [:]
            client.pendingJoin = nil
            client.pendingSync = nil
            client.pendingFetch = nil
            client.heartbeatInFlight = nil
            client.pausedUntil = 0
            note("\(client.clientId) starts (incarnation \(client.incarnation))")
            startJoin(client)
            queue.push(now + 1000, .heartbeatTimer(client: index, incarnation: client.incarnation))
            queue.push(now + random.between(500, 3000), .commitTimer(client: index, incarnation: client.incarnation))
        case .fault:
            guard !calm else { return }
            queue.push(now + random.between(200, 1500), .fault)
            injectFault()
        }
    }

    func injectFault() {
        let client = clients[Int(random.next() % UInt64(clients.count))]
        guard client.state != .stopped else { return }
        switch random.next() % 10 {
        case 0, 1, 2:
            stats.crashes += 1
            note("\(client.clientId) crashes")
            client.state = .stopped
            queue.push(now + random.between(300, 15_000), .restart(client: client.index))
        case 3, 4:
            guard client.instanceId == nil, !client.memberId.isEmpty else { return }
            stats.leaves += 1
            note("\(client.clientId) leaves")
            _ = send(
                client,
                .leaveGroup(LeaveGroupRequest(groupId: group, members: [LeaveGroupMember(memberId: client.memberId)])),
                timeout: 5000)
            client.state = .stopped
            queue.push(now + random.between(300, 8_000), .restart(client: client.index))
        case 5:
            stats.pauses += 1
            client.pausedUntil = now + random.between(2_000, 14_000)
            queue.push(client.pausedUntil, .resumeCommit(client: client.index, incarnation: client.incarnation))
            note("\(client.clientId) paused until \(client.pausedUntil)")
        default:
            break
        }
    }

    // MARK: client behaviour

    func send(_ client: SimConsumer, _ request: GroupRequest, timeout: Int64) -> RequestID {
        let id = nextRequestId
        nextRequestId += 1
        owners[id] = (client.index, client.incarnation)
        timeouts[id] = timeout
        if !calm && random.chance(params.dropRate) {
            // The client notices a lost request only by its timeout.
            stats.dropped += 1
            owners[id] = nil
            queue.push(now + timeout, .timeout(client: client.index, incarnation: client.incarnation, id: id))
            return id
        }
        let at = max(now + random.between(1, 30), toCoordinatorClock[client.index] ?? 0)
        toCoordinatorClock[client.index] = at
        queue.push(at, .request(client: client.index, incarnation: client.incarnation, id: id, request))
        return id
    }

    func subscription() -> [UInt8] {
        ConsumerProtocolSubscription(version: 1, topics: params.topics.keys.sorted()).encoded()
    }

    func startJoin(_ client: SimConsumer) {
        client.state = .joining
        client.pendingSync = nil
        client.pendingJoin = send(
            client,
            .joinGroup(
                JoinGroupRequest(
                    groupId: group, sessionTimeoutMs: client.sessionMs, rebalanceTimeoutMs: client.rebalanceMs,
                    memberId: client.memberId, groupInstanceId: client.instanceId, protocolType: "consumer",
                    protocols: [JoinGroupProtocol(name: "range", metadata: subscription())], clientId: client.clientId)),
            timeout: Int64(client.rebalanceMs) + 5000)
    }

    func revoke(_ client: SimConsumer) {
        client.owned = []
        client.positions = [:]
        client.pendingFetch = nil
    }

    func rejoinLater(_ client: SimConsumer, resetMember: Bool) {
        revoke(client)
        if resetMember {
            client.memberId = ""
            client.generation = -1
        }
        startJoin(client)
    }

    func fenced(_ client: SimConsumer) {
        // Kafka's consumer treats FENCED_INSTANCE_ID as fatal; the application restarts it.
        note("\(client.clientId) fenced")
        client.state = .stopped
        queue.push(now + random.between(500, 3000), .restart(client: client.index))
    }

    /// The leader's range assignor over the members' parsed subscriptions.
    func rangeAssign(_ members: [JoinGroupResponseMember]) -> [SyncGroupAssignment] {
        var subscriptions: [String: Set<String>] = [:]
        for member in members {
            subscriptions[member.memberId] = Set(
                (try? ConsumerProtocolSubscription(decoding: member.metadata))?.topics ?? [])
        }
        var assigned: [String: [TopicPartitions]] = [:]
        for topic in params.topics.keys.sorted() {
            let count = Int(params.topics[topic] ?? 0)
            let consumers = subscriptions.keys.filter { subscriptions[$0]?.contains(topic) == true }.sorted()
            guard !consumers.isEmpty else { continue }
            let quota = count / consumers.count
            let extra = count % consumers.count
            var next = 0
            for (i, memberId) in consumers.enumerated() {
                let share = quota + (i < extra ? 1 : 0)
                if share > 0 {
                    assigned[memberId, default: []].append(
                        TopicPartitions(topic: topic, partitions: (next..<(next + share)).map { Int32($0) }))
                }
                next += share
            }
        }
        return members.map {
            SyncGroupAssignment(
                memberId: $0.memberId,
                assignment: ConsumerProtocolAssignment(assignedPartitions: assigned[$0.memberId] ?? []).encoded())
        }
    }

    func fetchOffsets(_ client: SimConsumer) {
        guard !client.owned.isEmpty else { return }
        client.pendingFetch = send(
            client, .offsetFetch(OffsetFetchRequest(groupId: group, partitions: client.owned)), timeout: 5000)
    }

    func onResponse(_ client: SimConsumer, _ id: RequestID, _ response: GroupResponse) {
        switch response {
        case .joinGroup(let r):
            guard client.pendingJoin == id else { return }
            client.pendingJoin = nil
            note(
                "\(client.clientId) join -> \(r.errorCode) gen \(r.generationId) member \(r.memberId.suffix(6)) leader \(r.leader.suffix(6))"
            )
            switch r.errorCode {
            case .memberIdRequired:
                client.memberId = r.memberId
                startJoin(client)
            case .none:
                client.memberId = r.memberId
                client.generation = r.generationId
                stats.generations = max(stats.generations, r.generationId)
                client.state = .syncing
                let assignments = (r.leader == r.memberId && !r.skipAssignment) ? rangeAssign(r.members) : []
                client.pendingSync = send(
                    client,
                    .syncGroup(
                        SyncGroupRequest(
                            groupId: group, generationId: r.generationId, memberId: r.memberId,
                            groupInstanceId: client.instanceId,
                            protocolType: "consumer", protocolName: r.protocolName, assignments: assignments)),
                    timeout: Int64(client.rebalanceMs) + 5000)
            case .unknownMemberId:
                rejoinLater(client, resetMember: true)
            case .fencedInstanceId:
                fenced(client)
            default:
                rejoinLater(client, resetMember: false)
            }
        case .syncGroup(let r):
            guard client.pendingSync == id else { return }
            client.pendingSync = nil
            note("\(client.clientId) sync -> \(r.errorCode) gen \(client.generation)")
            switch r.errorCode {
            case .none:
                let assignment = (try? ConsumerProtocolAssignment(decoding: r.assignment))?.assignedPartitions ?? []
                var owned: [TopicPartition] = []
                for entry in assignment { for p in entry.partitions { owned.append(TopicPartition(entry.topic, p)) } }
                // A static member replaced without a rebalance keeps its assignment under a new member id.
                let owner = client.instanceId ?? client.memberId
                for tp in owned {
                    if let other = generationAssignments[client.generation]?[tp], other != owner {
                        fail("\(tp) assigned to \(other) and \(owner) in generation \(client.generation)")
                    }
                    generationAssignments[client.generation, default: [:]][tp] = owner
                }
                client.owned = owned.sorted()
                client.positions = [:]
                client.state = .stable
                fetchOffsets(client)
            case .unknownMemberId:
                rejoinLater(client, resetMember: true)
            case .fencedInstanceId:
                fenced(client)
            default:
                rejoinLater(client, resetMember: false)
            }
        case .heartbeat(let r):
            guard client.heartbeatInFlight == id else { return }
            client.heartbeatInFlight = nil
            switch r.errorCode {
            case .none:
                break
            case .rebalanceInProgress:
                if client.state == .stable { rejoinLater(client, resetMember: false) }
            case .illegalGeneration:
                if client.state == .stable || client.state == .syncing { rejoinLater(client, resetMember: false) }
            case .unknownMemberId:
                if client.state != .joining { rejoinLater(client, resetMember: true) }
            case .fencedInstanceId:
                fenced(client)
            default:
                break
            }
        case .offsetCommit(let r):
            for result in r.partitions where result.errorCode != .none {
                stats.rejectedCommits[result.errorCode, default: 0] += 1
            }
        case .offsetFetch(let r):
            guard client.pendingFetch == id else { return }
            client.pendingFetch = nil
            guard client.state == .stable else { return }
            for partition in r.partitions where client.owned.contains(partition.topicPartition) {
                client.positions[partition.topicPartition] = max(partition.committedOffset, 0)
            }
        default:
            break
        }
    }

    // MARK: invariants

    /// An accepted commit comes from the partition's owner in the group's current generation: zombies of
    /// earlier generations are refused.
    func checkAcceptedCommit(_ commit: OffsetCommitRequest, id: RequestID, _ directives: [GroupDirective]) {
        guard let generation = coordinator.classicGroupSummary(group)?.generation else { return }
        for case .respond(id, .offsetCommit(let response)) in directives {
            let committer = commit.groupInstanceId ?? commit.memberId
            for result in response.partitions where result.errorCode == .none {
                let owner = generationAssignments[generation]?[result.topicPartition]
                if owner != committer {
                    fail(
                        "commit of \(result.topicPartition) by \(committer) (generation \(commit.generationIdOrMemberEpoch)) accepted; owner in generation \(generation) is \(owner ?? "nobody")"
                    )
                }
            }
        }
    }

    func checkInvariants() {
        guard failure == nil else { return }
        // Every dynamic member that believes it is stable in a Stable group has the group's generation.
        if let summary = coordinator.classicGroupSummary(group), summary.state == .stable {
            let memberIds = summary.memberIds
            for client in clients
            where client.instanceId == nil && client.state == .stable && memberIds.contains(client.memberId) {
                if client.generation != summary.generation {
                    fail(
                        "\(client.clientId) is stable at generation \(client.generation) but the group is at \(summary.generation)"
                    )
                }
            }
            if let leader = summary.leader, !memberIds.contains(leader) { fail("leader \(leader) is not a member") }
        }
        // Offsets and the persisted state only change when records are written.
        guard pendingReplayCheck else { return }
        pendingReplayCheck = false
        let live = coordinator.snapshot()
        // Committed offsets never go backwards (this simulation never deletes or expires them).
        for (tp, value) in live.offsets[group] ?? [:] {
            if let previous = lastCommitted[tp], value.offset < previous {
                fail("committed offset of \(tp) went back from \(previous) to \(value.offset)")
            }
            lastCommitted[tp] = value.offset
        }
        for tp in lastCommitted.keys where live.offsets[group]?[tp] == nil { fail("offset of \(tp) disappeared") }
        // A replica rebuilt from the records matches the live coordinator.
        stats.replayChecks += 1
        // The loader's view after every write; a full rebuild into live groups every tenth write.
        if let mismatch = replayMismatch(live: live, replayed: loader.snapshot(now: now)) {
            return fail("replay mismatch: \(mismatch)")
        }
        if stats.replayChecks % 10 == 0 {
            let rebuilt = loader.build(config: config, seed: 1, now: now).snapshot()
            if let mismatch = replayMismatch(live: live, replayed: rebuilt) { fail("rebuild mismatch: \(mismatch)") }
        }
    }

    /// After the calm phase every consumer is running, the group is Stable, all consumers are stable in its
    /// generation and every partition is owned by exactly one of them.
    func checkConvergence() {
        guard let stable = coordinator.snapshot().classicGroups[group], stable.state == .stable else {
            return fail(
                "group not stable after the calm phase: \(String(describing: coordinator.snapshot().classicGroups[group]?.state))"
            )
        }
        let members = Set(stable.value.members.map(\.memberId))
        let running = clients.filter { $0.state != .stopped }
        if members.count != running.count
            || running.contains(where: { !members.contains($0.memberId) || $0.state != .stable })
        {
            return fail(
                "not converged: members \(members.count) running \(running.count) states \(running.map { "\($0.clientId):\($0.state):\($0.generation)" })"
            )
        }
        var owners: [TopicPartition: String] = [:]
        for client in running {
            if client.generation != stable.value.generation {
                return fail("\(client.clientId) at generation \(client.generation)")
            }
            for tp in client.owned {
                if owners[tp] != nil { return fail("\(tp) owned twice") }
                owners[tp] = client.memberId
            }
        }
        if owners.count != allPartitions.count {
            fail("only \(owners.count) of \(allPartitions.count) partitions owned")
        }
    }
}

@Suite struct ClassicSimulationTests {
    /// 200 seeds in 20 chunks that swift-testing runs in parallel.
    @Test(arguments: 0..<20) func manySeeds(chunk: UInt64) {
        var total = SimStats()
        var maxGeneration: Int32 = 0
        let start = Date()
        let seeds = simulationSeeds((chunk * 10 + 1)...(chunk * 10 + 10))
        if seeds.count == 1 && chunk != 0 { return }
        for seed in seeds {
            let params = ClassicSimParams(seed: seed, members: 10 + Int(seed % 11))
            let sim = ClassicSimulation(params)
            let stats = sim.run()
            if sim.failure != nil {
                let traced = ClassicSimulation(params)
                traced.tracing = true
                _ = traced.run()
                let failure = traced.failure ?? sim.failure ?? ""
                #expect(sim.failure == nil, "classic simulation failed (rerun with SKEIN_SIM_SEED=\(seed)): \(failure)")
                break
            }
            total.events += stats.events
            total.requests += stats.requests
            total.crashes += stats.crashes
            total.leaves += stats.leaves
            total.pauses += stats.pauses
            total.dropped += stats.dropped
            total.commits += stats.commits
            total.records += stats.records
            total.replayChecks += stats.replayChecks
            total.rejectedCommits.merge(stats.rejectedCommits, uniquingKeysWith: +)
            maxGeneration = max(maxGeneration, stats.generations)
        }

        // Fault-count guard: the runs really had faults, and the invariants were really checked.
        #expect(total.crashes + total.pauses + total.leaves > 0, "no member crashed, paused or left: \(total)")
        #expect(total.dropped > 0, "no message was dropped: \(total)")
        #expect(total.replayChecks > 0 && total.records > 0, "nothing was written or replayed: \(total)")
        // (Zombies' refused commits are rarer: a few chunks of 10 seeds have none, so they are not required here.)
        #expect(total.commits > 0, "no commit: \(total)")
        print(
            "classic simulation seeds \(seeds.first ?? 0)...\(seeds.last ?? 0): \(total) max generation \(maxGeneration) in \(Date().timeIntervalSince(start)) s"
        )
    }

    @Test(arguments: [UInt64(1001)]) func hundredMembers(seed: UInt64) {
        for seed in simulationSeeds(seed...seed) {
            let params = ClassicSimParams(
                seed: seed, members: 100, staticEvery: 4, faultyMs: 20_000, calmMs: 30_000,
                topics: ["t1": 64, "t2": 64])
            let sim = ClassicSimulation(params)
            let stats = sim.run()
            if sim.failure != nil {
                let traced = ClassicSimulation(params)
                traced.tracing = true
                _ = traced.run()
                let failure = traced.failure ?? sim.failure ?? ""
                #expect(sim.failure == nil, "classic simulation failed (rerun with SKEIN_SIM_SEED=\(seed)): \(failure)")
                break
            }
            print("classic simulation 100 members seed \(seed): \(stats)")
            #expect(stats.crashes + stats.pauses + stats.leaves > 0 && stats.dropped > 0, "no faults: \(stats)")
            #expect(stats.replayChecks > 0, "nothing was replayed: \(stats)")
        }
    }
}
