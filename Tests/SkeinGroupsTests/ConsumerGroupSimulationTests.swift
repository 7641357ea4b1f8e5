import SkeinModel
import Foundation
import Testing

@testable import SkeinGroups

struct ConsumerSimParams: CustomStringConvertible {
    var seed: UInt64
    var members = 20
    var staticEvery = 3
    var faultyMs: Int64 = 18_000
    var calmMs: Int64 = 20_000
    var dropRate = 0.02
    var assignor: String? = nil
    var description: String {
        "seed=\(seed) members=\(members) faulty=\(faultyMs)ms calm=\(calmMs)ms drop=\(dropRate) assignor=\(assignor ?? "default")"
    }
}

/// A KIP-848 consumer: heartbeats with its epoch and owned partitions, revokes (sometimes slowly) what the
/// coordinator takes away, and adds what it is given.
final class SimKIP848Consumer {
    let index: Int
    let instanceId: String?
    var incarnation = 0
    var running = false
    var memberId = ""
    var memberEpoch: Int32 = 0
    var owned: Set<TopicPartition> = []
    /// Partitions the coordinator took away that the consumer has not released yet.
    var releasing: Set<TopicPartition> = []
    var releaseAt: Int64 = 0
    var inFlight: RequestID?
    /// After a lost heartbeat the next one is a full request (as Kafka's consumer does), so that the
    /// coordinator sends the whole assignment again.
    var needsFullRequest = false
    var pausedUntil: Int64 = 0
    let topics: [String]

    init(index: Int, instanceId: String?, topics: [String]) {
        self.index = index
        self.instanceId = instanceId
        self.topics = topics
    }

    var ownedList: [TopicPartitions] {
        var byTopic: [String: [Int32]] = [:]
        for tp in owned.union(releasing) { byTopic[tp.topic, default: []].append(tp.partition) }
        return byTopic.keys.sorted().map { TopicPartitions(topic: $0, partitions: (byTopic[$0] ?? []).sorted()) }
    }
}

final class ConsumerGroupSimulation {
    enum Event {
        case request(id: RequestID, GroupRequest)
        case response(client: Int, incarnation: Int, id: RequestID, GroupResponse)
        case timeout(client: Int, incarnation: Int, id: RequestID)
        case heartbeatTimer(client: Int, incarnation: Int)
        case restart(client: Int)
        case fault
        case tick
    }

    let params: ConsumerSimParams
    var random: SeededRandom
    let config: GroupCoordinatorConfig
    let coordinator: GroupCoordinator
    var loader = GroupStateLoader()
    var queue = EventQueue<Event>()
    var clients: [SimKIP848Consumer] = []
    var now: Int64 = 0
    var nextId: RequestID = 1
    var owners: [RequestID: (client: Int, incarnation: Int)] = [:]
    var toCoordinatorClock: [Int: Int64] = [:]
    var toClientClock: [Int: Int64] = [:]
    var calm = false
    var scheduledTick: Int64?
    var topicCounts: [String: Int32] = ["a": 10, "b": 6, "c": 4]
    var stats = SimStats()
    var maxEpoch: Int32 = 0
    var tracing = false
    var trace: [String] = []
    var failure: String?
    var recordsWritten = false
    let group = "cg"

    init(_ params: ConsumerSimParams) {
        self.params = params
        random = SeededRandom(seed: params.seed &* 0x5851_F42D &+ 11)
        var config = GroupCoordinatorConfig()
        config.consumerGroupSessionTimeoutMs = 6000
        config.consumerGroupHeartbeatIntervalMs = 1000
        self.config = config
        coordinator = GroupCoordinator(config: config, seed: params.seed)
        for index in 0..<params.members {
            let isStatic = params.staticEvery > 0 && index % params.staticEvery == 0
            // Mixed subscriptions: most take a and b, some also c, some only c.
            let topics: [String] = index % 5 == 4 ? ["c"] : (index % 2 == 0 ? ["a", "b", "c"] : ["a", "b"])
            clients.append(SimKIP848Consumer(index: index, instanceId: isStatic ? "inst\(index)" : nil, topics: topics))
        }
    }

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

    func run() -> SimStats {
        apply(coordinator.setTopicPartitions(topicCounts, now: 0))
        for client in clients { queue.push(random.between(0, 2000), .restart(client: client.index)) }
        queue.push(1000, .fault)
        let end = params.faultyMs + params.calmMs
        while failure == nil, let (time, event) = queue.pop(), time <= end {
            now = time
            stats.events += 1
            if !calm && now >= params.faultyMs {
                calm = true
                note("calm phase")
                for client in clients {
                    client.pausedUntil = 0
                    if !client.running { queue.push(now + random.between(0, 500), .restart(client: client.index)) }
                }
            }
            handle(event)
            scheduleTick()
            checkInvariants()
        }
        if failure == nil { checkConvergence() }
        return stats
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
                // Every 25th record also goes through its binary form (encoding snapshots is slow in debug).
                for record in records {
                    stats.records += 1
                    loader.apply(stats.records % 25 == 0 ? roundTrip(record) : record)
                }
                recordsWritten = true
            case .respond(let id, let response):
                guard let owner = owners.removeValue(forKey: id) else { return fail("unexpected response \(id)") }
                if !calm && random.chance(params.dropRate) {
                    stats.dropped += 1
                    queue.push(now + 3000, .timeout(client: owner.client, incarnation: owner.incarnation, id: id))
                    continue
                }
                let at = max(now + random.between(1, 30), toClientClock[owner.client] ?? 0)
                toClientClock[owner.client] = at
                queue.push(at, .response(client: owner.client, incarnation: owner.incarnation, id: id, response))
            case .abandon(let id):
                owners[id] = nil
            }
        }
    }

    func handle(_ event: Event) {
        switch event {
        case .tick:
            if let at = scheduledTick, at <= now { scheduledTick = nil }
            apply(coordinator.tick(now: now))
        case .request(let id, let request):
            stats.requests += 1
            apply(coordinator.handle(request, id: id, now: now))
        case .response(let index, let incarnation, let id, let response):
            let client = clients[index]
            guard client.incarnation == incarnation, client.running, client.inFlight == id else { return }
            if client.pausedUntil > now {
                queue.push(client.pausedUntil, event)
                return
            }
            client.inFlight = nil
            guard case .consumerGroupHeartbeat(let r) = response else { return }
            onHeartbeatResponse(client, r)
        case .timeout(let index, let incarnation, let id):
            let client = clients[index]
            if client.incarnation == incarnation, client.inFlight == id {
                client.inFlight = nil
                client.needsFullRequest = true
            }
        case .heartbeatTimer(let index, let incarnation):
            let client = clients[index]
            guard client.incarnation == incarnation, client.running else { return }
            queue.push(now + 1000, .heartbeatTimer(client: index, incarnation: incarnation))
            if client.pausedUntil > now { return }
            if !client.releasing.isEmpty && now >= client.releaseAt {
                note("c\(index) releases \(client.releasing.count)")
                client.releasing = []
            }
            if client.inFlight == nil { sendHeartbeat(client) }
        case .restart(let index):
            let client = clients[index]
            guard !client.running else { return }
            client.incarnation += 1
            client.running = true
            client.memberId = ""
            client.memberEpoch = 0
            client.owned = []
            client.releasing = []
            client.inFlight = nil
            client.pausedUntil = 0
            note("c\(index) starts")
            sendHeartbeat(client)
            queue.push(now + 1000, .heartbeatTimer(client: index, incarnation: client.incarnation))
        case .fault:
            guard !calm else { return }
            queue.push(now + random.between(200, 1500), .fault)
            injectFault()
        }
    }

    func injectFault() {
        switch random.next() % 12 {
        case 0, 1, 2:
            let client = clients[Int(random.next() % UInt64(clients.count))]
            guard client.running else { return }
            stats.crashes += 1
            note("c\(client.index) crashes")
            client.running = false
            queue.push(now + random.between(300, 12_000), .restart(client: client.index))
        case 3, 4:
            let client = clients[Int(random.next() % UInt64(clients.count))]
            guard client.running, !client.memberId.isEmpty, client.memberEpoch > 0 else { return }
            stats.leaves += 1
            note("c\(client.index) leaves")
            let epoch: Int32 = client.instanceId == nil ? -1 : -2
            send(
                client,
                .consumerGroupHeartbeat(
                    ConsumerGroupHeartbeatRequest(
                        groupId: group, memberId: client.memberId, memberEpoch: epoch, instanceId: client.instanceId)))
            client.running = false
            queue.push(now + random.between(300, 8_000), .restart(client: client.index))
        case 5:
            let client = clients[Int(random.next() % UInt64(clients.count))]
            stats.pauses += 1
            client.pausedUntil = now + random.between(2_000, 9_000)
            note("c\(client.index) paused until \(client.pausedUntil)")
        case 6:
            // Topics grow now and then.
            let topic = ["a", "b", "c"][Int(random.next() % 3)]
            topicCounts[topic] = min((topicCounts[topic] ?? 0) + 2, 24)
            note("topic \(topic) now has \(topicCounts[topic] ?? 0) partitions")
            apply(coordinator.setTopicPartitions(topicCounts, now: now))
        default:
            break
        }
    }

    @discardableResult
    func send(_ client: SimKIP848Consumer, _ request: GroupRequest) -> RequestID {
        let id = nextId
        nextId += 1
        owners[id] = (client.index, client.incarnation)
        if !calm && random.chance(params.dropRate) {
            // The client notices a lost request only by its timeout.
            stats.dropped += 1
            owners[id] = nil
            queue.push(now + 3000, .timeout(client: client.index, incarnation: client.incarnation, id: id))
            return id
        }
        let at = max(now + random.between(1, 30), toCoordinatorClock[client.index] ?? 0)
        toCoordinatorClock[client.index] = at
        queue.push(at, .request(id: id, request))
        return id
    }

    func sendHeartbeat(_ client: SimKIP848Consumer) {
        let joining = client.memberEpoch == 0
        // Full requests on joins and now and then; otherwise only the owned partitions.
        let full = joining || client.needsFullRequest || random.chance(0.1)
        client.needsFullRequest = false
        client.inFlight = send(
            client,
            .consumerGroupHeartbeat(
                ConsumerGroupHeartbeatRequest(
                    groupId: group, memberId: client.memberId, memberEpoch: client.memberEpoch,
                    instanceId: client.instanceId,
                    rebalanceTimeoutMs: full ? 5000 : -1, subscribedTopicNames: full ? client.topics : nil,
                    serverAssignor: full ? params.assignor : nil, ownedPartitions: joining ? [] : client.ownedList,
                    clientId: "c\(client.index)")))
    }

    func onHeartbeatResponse(_ client: SimKIP848Consumer, _ r: ConsumerGroupHeartbeatResponse) {
        switch r.errorCode {
        case .none:
            client.memberId = r.memberId ?? client.memberId
            client.memberEpoch = r.memberEpoch
            maxEpoch = max(maxEpoch, r.memberEpoch)
            if let assignment = r.assignment {
                var target: Set<TopicPartition> = []
                for entry in assignment { for p in entry.partitions { target.insert(TopicPartition(entry.topic, p)) } }
                if !target.isSubset(of: client.owned) { consumerGained = true }
                let revoked = client.owned.subtracting(target)
                if !revoked.isEmpty {
                    client.releasing.formUnion(revoked)
                    // Some consumers take a while to commit and release; while faults are on, some exceed the
                    // rebalance timeout (5 s) and get fenced.
                    client.releaseAt = now + (random.chance(0.3) ? random.between(500, calm ? 3000 : 7000) : 0)
                }
                client.owned = target
                note("c\(client.index) epoch \(r.memberEpoch) owns \(target.count) releasing \(client.releasing.count)")
                if client.releaseAt <= now { client.releasing = [] }
            }
        case .fencedMemberEpoch, .unknownMemberId:
            note("c\(client.index) \(r.errorCode)")
            client.owned = []
            client.releasing = []
            client.memberEpoch = 0
            if r.errorCode == .unknownMemberId { client.memberId = "" }
        default:
            note("c\(client.index) \(r.errorCode)")
        }
    }

    /// The coordinator's ownership view as of the last write: between writes it cannot change, because
    /// every change of a member's assignment or membership is persisted.
    var serverOwned: [String: Set<TopicPartition>] = [:]
    /// Set when a consumer took new partitions from a heartbeat response.
    var consumerGained = false

    func checkInvariants() {
        guard failure == nil else { return }
        // Consumers that are current members own nothing the coordinator has not left with them, and so no
        // partition is owned by two of them. Checked whenever a consumer gained partitions (other steps only
        // shrink what consumers own) and after every write below.
        var clientOwner: [TopicPartition: Int] = [:]
        for client in clients where client.running && consumerGained {
            guard let allowed = serverOwned[client.memberId] else { continue }
            for set in [client.owned, client.releasing] {
                for tp in set {
                    if !allowed.contains(tp) {
                        return fail("c\(client.index) owns \(tp) beyond the coordinator's view")
                    }
                    if let other = clientOwner[tp], other != client.index {
                        return fail("\(tp) owned by consumers c\(other) and c\(client.index)")
                    }
                    clientOwner[tp] = client.index
                }
            }
        }
        consumerGained = false
        guard recordsWritten else { return }
        recordsWritten = false
        let live = coordinator.snapshot()
        guard let value = live.consumerGroups[group] else { return }
        // The coordinator never lets two members own a partition (assigned or pending revocation).
        var owner: [TopicPartition: String] = [:]
        var view: [String: Set<TopicPartition>] = [:]
        for member in value.members {
            view[member.memberId] = []
            for assignment in [member.assignedPartitions, member.partitionsPendingRevocation] {
                for (topic, partitions) in assignment {
                    for p in partitions {
                        let tp = TopicPartition(topic, p)
                        if let other = owner[tp], other != member.memberId {
                            return fail("\(tp) owned by \(other) and \(member.memberId) in the coordinator")
                        }
                        owner[tp] = member.memberId
                        view[member.memberId, default: []].insert(tp)
                    }
                }
            }
        }
        serverOwned = view
        for client in clients where client.running {
            guard let allowed = serverOwned[client.memberId] else { continue }
            let owns = client.owned.union(client.releasing)
            if !owns.isSubset(of: allowed) {
                return fail("c\(client.index) owns \(owns.subtracting(allowed)) beyond the coordinator's view")
            }
        }
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

    func checkConvergence() {
        guard let value = coordinator.snapshot().consumerGroups[group] else { return fail("no group") }
        let running = clients.filter(\.running)
        let members = Set(value.members.map(\.memberId))
        if members.count != running.count || running.contains(where: { !members.contains($0.memberId) }) {
            return fail("membership did not converge: \(members.count) members, \(running.count) running")
        }
        if value.groupEpoch != value.assignmentEpoch { return fail("target assignment not computed") }
        for member in value.members where member.state != .stable || member.memberEpoch != value.assignmentEpoch {
            return fail("member \(member.memberId) not reconciled: \(member.state) epoch \(member.memberEpoch)")
        }
        var owned: [TopicPartition: Int] = [:]
        for client in running {
            for tp in client.owned.union(client.releasing) {
                if owned[tp] != nil { return fail("\(tp) owned twice") }
                owned[tp] = client.index
            }
        }
        var subscribed: Set<String> = []
        for client in running { subscribed.formUnion(client.topics) }
        let expected = subscribed.reduce(0) { $0 + Int(topicCounts[$1] ?? 0) }
        if owned.count != expected { fail("\(owned.count) of \(expected) partitions owned after the calm phase") }
    }
}

@Suite struct ConsumerGroupSimulationTests {
    @Test func sixtyMembers() {
        for seed in simulationSeeds(2001...2001) {
            let params = ConsumerSimParams(seed: seed, members: 60, faultyMs: 15_000, calmMs: 20_000)
            let sim = ConsumerGroupSimulation(params)
            sim.topicCounts = ["a": 40, "b": 30, "c": 20]
            let stats = sim.run()
            if let failure = sim.failure {
                #expect(sim.failure == nil, "KIP-848 simulation failed (rerun with SKEIN_SIM_SEED=\(seed)): \(failure)")
                return
            }
            print("KIP-848 simulation 60 members seed \(seed): \(stats) max epoch \(sim.maxEpoch)")
            #expect(stats.crashes + stats.pauses + stats.leaves > 0 && stats.dropped > 0, "no faults: \(stats)")
            #expect(stats.replayChecks > 0, "nothing was replayed: \(stats)")
        }
    }

    /// 200 seeds (alternating assignors) in 20 parallel chunks. `SKEIN_SIM_SEEDS_PER_CHUNK=<n>` runs n seeds per
    /// chunk instead of 10 (seeds 1...20n), for a wider search now and then.
    @Test(arguments: 0..<20) func manySeeds(chunk: UInt64) {
        var total = SimStats()
        var maxEpoch: Int32 = 0
        let start = Date()
        let perChunk = ProcessInfo.processInfo.environment["SKEIN_SIM_SEEDS_PER_CHUNK"].flatMap { UInt64($0) } ?? 10
        let seeds = simulationSeeds((chunk * perChunk + 1)...(chunk * perChunk + max(perChunk, 1)))
        if seeds.count == 1 && chunk != 0 { return }
        for seed in seeds {
            let params = ConsumerSimParams(
                seed: seed, members: 10 + Int(seed % 11), assignor: seed % 2 == 0 ? "range" : nil)
            let sim = ConsumerGroupSimulation(params)
            let stats = sim.run()
            if sim.failure != nil {
                let traced = ConsumerGroupSimulation(params)
                traced.tracing = true
                _ = traced.run()
                let failure = traced.failure ?? sim.failure ?? ""
                #expect(sim.failure == nil, "KIP-848 simulation failed (rerun with SKEIN_SIM_SEED=\(seed)): \(failure)")
                return
            }
            total.events += stats.events
            total.requests += stats.requests
            total.crashes += stats.crashes
            total.leaves += stats.leaves
            total.pauses += stats.pauses
            total.dropped += stats.dropped
            total.records += stats.records
            total.replayChecks += stats.replayChecks
            maxEpoch = max(maxEpoch, sim.maxEpoch)
        }

        // Fault-count guard: the runs really had faults, and the invariants were really checked.
        #expect(total.crashes + total.pauses + total.leaves > 0, "no member crashed, paused or left: \(total)")
        #expect(total.dropped > 0, "no message was dropped: \(total)")
        #expect(total.replayChecks > 0 && total.records > 0, "nothing was written or replayed: \(total)")
        print(
            "KIP-848 simulation seeds \(seeds.first ?? 0)...\(seeds.last ?? 0): \(total) max epoch \(maxEpoch) in \(Date().timeIntervalSince(start)) s"
        )
    }
}
