import SkeinGossip
import SkeinModel

/// The network and members of one simulated run. Every random choice comes from the run's seed.
public struct GossipSimulationOptions: Sendable, CustomStringConvertible {
    /// Members started by `start()`, ids 1...members. The first `seeds` of them are the seed addresses.
    public var members = 5
    public var seeds = 1
    public var settings = SWIMSettings()
    /// Per packet.
    public var lossRate = 0.0
    /// One-way delay, uniform in [min, max] milliseconds.
    public var minDelayMillis: Int64 = 1
    public var maxDelayMillis: Int64 = 10
    /// Members start at uniformly random times in [0, joinSpreadMillis] (the first seed at 0).
    public var joinSpreadMillis: Int64 = 0
    /// A slow member (`setSlow`) handles each incoming message this much later, uniform in [min, max]: a member
    /// starved of CPU or stuck in pauses, whose timers still fire but whose inbox lags.
    public var slowMinDelayMillis: Int64 = 500
    public var slowMaxDelayMillis: Int64 = 5000
    /// Metadata each member announces (its id is added as `broker`).
    public var metadata: [String: String] = ["rack": "r1", "version": "1"]

    public init(members: Int = 5, settings: SWIMSettings = SWIMSettings()) {
        self.members = members
        self.settings = settings
    }

    public var description: String {
        "GossipSimulationOptions(members: \(members), seeds: \(seeds), lossRate: \(lossRate), "
            + "delay: \(minDelayMillis)...\(maxDelayMillis) ms, joinSpreadMillis: \(joinSpreadMillis), "
            + "slowDelay: \(slowMinDelayMillis)...\(slowMaxDelayMillis) ms, settings: \(settings))"
    }
}

/// One change of one member's view, as its `membershipChanged` directive reported it.
public struct MembershipEvent: Hashable, Sendable, CustomStringConvertible {
    public var time: Int64
    public var observer: BrokerId
    public var subject: BrokerId
    public var incarnation: UInt64
    public var from: SWIMMemberStatus?
    public var to: SWIMMemberStatus
    /// The subject was running, not leaving, and this is about its current process: a false positive if `to`
    /// is suspect or dead.
    public var subjectWasLive: Bool
    public var subjectWasSlow: Bool

    public var description: String {
        "t=\(time) \(observer): \(subject)#\(incarnation) \(from.map(\.description) ?? "new") -> \(to)"
            + (subjectWasLive && (to == .suspect || to == .dead) ? " (FALSE POSITIVE)" : "")
    }
}

/// Message counts of a run.
public struct NetworkStats: Sendable, CustomStringConvertible {
    public var sent = 0
    public var delivered = 0
    public var lost = 0
    public var cut = 0
    public var bytes = 0
    public var largestMessage = 0
    public init() {}
    public var description: String {
        "sent \(sent), delivered \(delivered), lost \(lost), cut by partition \(cut), bytes \(bytes), "
            + "largest \(largestMessage)"
    }
}

/// N `SWIMInstance`s over a simulated network on a simulated clock, driven by one seed: per-packet loss, delay,
/// crashes, restarts with a higher incarnation, partitions, graceful leaves and slow members. Every message is
/// encoded and decoded with `SWIMCodec` on the way. Deterministic for a seed and a sequence of calls.
public final class GossipSimulation {
    public let seed: UInt64
    public let options: GossipSimulationOptions
    public private(set) var now: Int64 = 0
    /// Every membership change any member reported, in order.
    public private(set) var events: [MembershipEvent] = []
    public private(set) var stats = NetworkStats()
    /// Things that must never happen whatever the faults (a message that does not decode, a runaway timer).
    public private(set) var violations: [String] = []
    /// Packet loss, changeable during a run.
    public var lossRate: Double

    private var nodes: [Node] = []
    private var byAddress: [String: Int] = [:]
    private var queue = EventQueue()
    private var random: SeededRandom
    private var partitionOf: [BrokerId: Int] = [:]
    private let epoch: UInt64 = 1_000_000

    private struct Node {
        var id: BrokerId
        var address: String
        var instance: SWIMInstance?
        var running = false
        var leaving = false
        var slow = false
        /// The incarnation the current process started with: gossip about lower ones is about a dead process.
        var lifetimeIncarnation: UInt64 = 0
        var wakeAt: Int64?
        var generation: UInt64 = 0
        var restarts: UInt64 = 0
    }

    public init(seed: UInt64, options: GossipSimulationOptions) {
        self.seed = seed
        self.options = options
        self.lossRate = options.lossRate
        random = SeededRandom(seed: seed)
        for _ in 0..<options.members { addNode() }
    }

    // MARK: - Observation

    public var ids: [BrokerId] { nodes.map(\.id) }
    public var seedAddresses: [String] { nodes.prefix(options.seeds).map(\.address) }
    public func address(of id: BrokerId) -> String { nodes[index(id)].address }
    public func instance(_ id: BrokerId) -> SWIMInstance? { nodes[index(id)].instance }
    public func isRunning(_ id: BrokerId) -> Bool { nodes[index(id)].running }
    public func isSlow(_ id: BrokerId) -> Bool { nodes[index(id)].slow }
    /// Running members that have not left.
    public var liveMembers: [BrokerId] { nodes.filter { $0.running && !$0.leaving }.map(\.id) }

    /// What `observer` thinks of `subject` (nil: does not know it).
    public func status(of subject: BrokerId, seenBy observer: BrokerId) -> SWIMMemberStatus? {
        nodes[index(observer)].instance?.member(subject)?.status
    }

    /// Every member has started, and every live member sees every other live member alive (at its current
    /// process's incarnation or later).
    public var isConverged: Bool {
        guard nodes.allSatisfy({ $0.restarts > 0 }) else { return false }
        let live = nodes.filter { $0.running && !$0.leaving }
        for a in live {
            guard let instance = a.instance else { return false }
            for b in live where b.id != a.id {
                guard let m = instance.member(b.id), m.status == .alive, m.incarnation >= b.lifetimeIncarnation
                else { return false }
            }
        }
        return true
    }

    /// Every live member other than `subject` sees it dead (or has forgotten it).
    public func allSeeDead(_ subject: BrokerId) -> Bool {
        liveMembers.allSatisfy { observer in
            observer == subject || !(status(of: subject, seenBy: observer)?.isLive ?? false)
        }
    }

    /// Suspect or dead declarations about live members (see `MembershipEvent.subjectWasLive`).
    public var falsePositives: [MembershipEvent] {
        events.filter { $0.subjectWasLive && ($0.to == .suspect || $0.to == .dead) }
    }

    // MARK: - Running

    /// Starts every member not started yet: the first seed at once, the others at random times within the
    /// join spread, each joining through the seed addresses.
    public func start() {
        for i in nodes.indices where !nodes[i].running && nodes[i].instance == nil {
            let at = i == 0 ? now : now + Int64.random(in: 0...max(0, options.joinSpreadMillis), using: &random)
            queue.push(at, .start(i))
        }
    }

    /// Adds a member and starts it now (it joins through the seeds); returns its id.
    @discardableResult
    public func addMember() -> BrokerId {
        let i = addNode()
        boot(i)
        return nodes[i].id
    }

    /// Processes every event up to and including `time`.
    public func run(until time: Int64) {
        var sameInstant = 0
        var lastTime = now
        while let event = queue.popIfDue(time) {
            now = event.time
            if now == lastTime {
                sameInstant += 1
                if sameInstant > 1_000_000 {
                    violations.append("t=\(now): more than a million events at one instant (runaway timer)")
                    return
                }
            } else {
                sameInstant = 0
                lastTime = now
            }
            handle(event.kind)
        }
        now = max(now, time)
    }

    public func run(for duration: Int64) { run(until: now + duration) }

    /// Runs until `condition` holds (checked every `step` ms) or `deadline`; returns when it first held.
    @discardableResult
    public func run(until deadline: Int64, step: Int64 = 50, _ condition: (GossipSimulation) -> Bool) -> Int64? {
        while true {
            if condition(self) { return now }
            if now >= deadline { return nil }
            run(until: min(deadline, now + step))
        }
    }

    // MARK: - Faults

    /// The member stops at once: no more messages in or out, its state is gone.
    public func crash(_ id: BrokerId) {
        let i = index(id)
        nodes[i].running = false
        nodes[i].instance = nil
        nodes[i].generation += 1
        nodes[i].wakeAt = nil
    }

    /// A crashed member starts again with a higher incarnation and joins through the seeds.
    public func restart(_ id: BrokerId) {
        let i = index(id)
        precondition(!nodes[i].running, "restart of a running member")
        nodes[i].leaving = false
        boot(i)
    }

    /// The member leaves gracefully; it keeps running (to answer and spread the news) until `crash`ed.
    public func leave(_ id: BrokerId) {
        let i = index(id)
        guard nodes[i].running, let directives = nodes[i].instance?.leave(now: now) else { return }
        nodes[i].leaving = true
        carryOut(directives, of: i)
    }

    /// Messages between different groups are dropped (members in no group reach everyone).
    public func partition(_ groups: [[BrokerId]]) {
        partitionOf = [:]
        for (g, members) in groups.enumerated() { for m in members { partitionOf[m] = g } }
    }

    public func heal() { partitionOf = [:] }

    /// A slow member handles incoming messages late (see `GossipSimulationOptions.slowMinDelayMillis`).
    public func setSlow(_ id: BrokerId, _ slow: Bool = true) { nodes[index(id)].slow = slow }

    // MARK: - Internals

    private func index(_ id: BrokerId) -> Int { Int(id.rawValue) - 1 }

    @discardableResult
    private func addNode() -> Int {
        let i = nodes.count
        let id = BrokerId(Int32(i + 1))
        let address = "10.0.\((i + 1) / 256).\((i + 1) % 256):7946"
        nodes.append(Node(id: id, address: address))
        byAddress[address] = i
        return i
    }

    private func boot(_ i: Int) {
        var metadata = options.metadata
        metadata["broker"] = "\(nodes[i].id)"
        // A restart's incarnation is a clock reading, as a real node's would be: later than anything the old
        // process reached by refuting.
        let incarnation = epoch + UInt64(now) + nodes[i].restarts
        nodes[i].restarts += 1
        // Each process gets its own generator, derived from the run's seed, the member and the restart.
        let memberSeed = seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(i + 1) << 20 &+ nodes[i].restarts
        var instance = SWIMInstance(
            myself: SWIMPeer(id: nodes[i].id, address: nodes[i].address), incarnation: incarnation,
            metadata: metadata, settings: options.settings, random: SeededRandom(seed: memberSeed), now: now)
        let seeds = seedAddresses.filter { $0 != nodes[i].address }
        let directives = instance.join(seeds: seeds, now: now)
        nodes[i].instance = instance
        nodes[i].running = true
        nodes[i].lifetimeIncarnation = incarnation
        nodes[i].generation += 1
        nodes[i].wakeAt = nil
        carryOut(directives, of: i)
    }

    private func handle(_ kind: EventQueue.Kind) {
        switch kind {
        case .start(let i):
            if !nodes[i].running { boot(i) }
        case .wake(let i, let generation):
            guard nodes[i].running, nodes[i].generation == generation else { return }
            nodes[i].wakeAt = nil
            guard let directives = nodes[i].instance?.onTick(now: now) else { return }
            carryOut(directives, of: i)
        case .deliver(let i, let from, let bytes, let handled):
            guard nodes[i].running else { return }
            if nodes[i].slow && !handled {
                let lag = Int64.random(in: options.slowMinDelayMillis...options.slowMaxDelayMillis, using: &random)
                queue.push(now + lag, .deliver(i, from: from, bytes: bytes, handled: true))
                return
            }
            let message: SWIMMessage
            do {
                message = try SWIMCodec.decode(bytes)
            } catch {
                violations.append("t=\(now): a message to \(nodes[i].id) did not decode: \(error)")
                return
            }
            stats.delivered += 1
            guard let directives = nodes[i].instance?.onMessage(from: from, message: message, now: now) else {
                return
            }
            carryOut(directives, of: i)
        }
    }

    private func carryOut(_ directives: [SWIMDirective], of i: Int) {
        for directive in directives {
            switch directive {
            case .send(let to, let message): send(from: i, to: to, message)
            case .membershipChanged(let member, let from, let to): record(observer: i, member, from, to)
            }
        }
        scheduleWake(i)
    }

    private func scheduleWake(_ i: Int) {
        guard nodes[i].running, let instance = nodes[i].instance else { return }
        let at = max(now, instance.nextDeadline)
        if let pending = nodes[i].wakeAt, pending <= at { return }
        nodes[i].generation += 1
        nodes[i].wakeAt = at
        queue.push(at, .wake(i, generation: nodes[i].generation))
    }

    private func send(from i: Int, to address: String, _ message: SWIMMessage) {
        let bytes = SWIMCodec.encode(message)
        stats.sent += 1
        stats.bytes += bytes.count
        stats.largestMessage = max(stats.largestMessage, bytes.count)
        guard let j = byAddress[address] else { return }
        if let a = partitionOf[nodes[i].id], let b = partitionOf[nodes[j].id], a != b {
            stats.cut += 1
            return
        }
        if lossRate > 0 && Double.random(in: 0..<1, using: &random) < lossRate {
            stats.lost += 1
            return
        }
        let delay = Int64.random(in: options.minDelayMillis...options.maxDelayMillis, using: &random)
        queue.push(now + delay, .deliver(j, from: nodes[i].address, bytes: bytes, handled: false))
    }

    private func record(observer i: Int, _ member: SWIMMember, _ from: SWIMMemberStatus?, _ to: SWIMMemberStatus) {
        let subject = nodes[index(member.id)]
        events.append(
            MembershipEvent(
                time: now, observer: nodes[i].id, subject: member.id, incarnation: member.incarnation, from: from,
                to: to,
                subjectWasLive: subject.running && !subject.leaving
                    && member.incarnation >= subject.lifetimeIncarnation,
                subjectWasSlow: subject.slow))
    }
}

/// A binary min-heap of events by time, ties broken by insertion order so that runs are deterministic.
struct EventQueue {
    enum Kind {
        case start(Int)
        case wake(Int, generation: UInt64)
        /// A datagram reaching member `Int` from address `from`; `handled` once a slow member's lag was added.
        case deliver(Int, from: String, bytes: [UInt8], handled: Bool)
    }

    struct Event {
        var time: Int64
        var order: UInt64
        var kind: Kind
        func precedes(_ o: Event) -> Bool { time != o.time ? time < o.time : order < o.order }
    }

    private var heap: [Event] = []
    private var order: UInt64 = 0

    var isEmpty: Bool { heap.isEmpty }

    mutating func push(_ time: Int64, _ kind: Kind) {
        order += 1
        heap.append(Event(time: time, order: order, kind: kind))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].precedes(heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    /// The earliest event, if it is due by `time`.
    mutating func popIfDue(_ time: Int64) -> Event? {
        guard let first = heap.first, first.time <= time else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1
                let right = left + 1
                var best = parent
                if left < heap.count && heap[left].precedes(heap[best]) { best = left }
                if right < heap.count && heap[right].precedes(heap[best]) { best = right }
                if best == parent { break }
                heap.swapAt(parent, best)
                parent = best
            }
        }
        return first
    }
}
