import SkeinModel
import SkeinRaft

/// A synchronous network of replicas for unit tests (etcd's raft_test.go network): messages are delivered in
/// FIFO order until nothing moves, with `cut`, `isolate`, `ignore` and a drop filter. Every Ready is persisted to
/// an in-memory `RaftPersistentState` before its messages go out.
public struct RaftTestNetwork {
    public var nodes: [BrokerId: RaftNode] = [:]
    public var storage: [BrokerId: RaftPersistentState] = [:]
    /// Entries each replica was handed to apply, in order.
    public var applied: [BrokerId: [LogEntry]] = [:]
    /// Every message delivered (or dropped, marked so), for assertions and debugging.
    public var trace: [String] = []
    public let ids: [BrokerId]
    private var configs: [BrokerId: RaftConfig] = [:]
    private var cuts: Set<Link> = []
    private var ignored: Set<String> = []
    private var random: SeededRandom
    /// Messages for which this returns true are dropped.
    public var dropFilter: ((RaftMessage) -> Bool)?

    private struct Link: Hashable {
        var from: BrokerId
        var to: BrokerId
    }

    /// `configure` adjusts each replica's default config (voters are all `ids`).
    public init(ids: [BrokerId], seed: UInt64 = 1, configure: (inout RaftConfig) -> Void = { _ in }) {
        self.ids = ids
        random = SeededRandom(seed: seed)
        for id in ids {
            var config = RaftConfig(id: id, voters: ids)
            configure(&config)
            configs[id] = config
            storage[id] = RaftPersistentState()
            applied[id] = []
            nodes[id] = RaftNode(config: config, random: SeededRandom(seed: random.next()))
        }
    }

    /// Replaces a replica by one started from the given durable state (e.g. a log with older terms).
    public mutating func reset(_ id: BrokerId, state: RaftPersistentState) {
        storage[id] = state
        applied[id] = []
        nodes[id] = RaftNode(config: configs[id]!, state: state, random: SeededRandom(seed: random.next()))
    }

    /// Cuts both directions between two replicas.
    public mutating func cut(_ a: BrokerId, _ b: BrokerId) {
        cuts.insert(Link(from: a, to: b))
        cuts.insert(Link(from: b, to: a))
    }

    /// Cuts a replica off from all others.
    public mutating func isolate(_ id: BrokerId) {
        for other in ids where other != id { cut(id, other) }
    }

    /// Drops every message of this kind (`RaftMessage.kindName`).
    public mutating func ignore(_ kindName: String) { ignored.insert(kindName) }

    /// Heals all cuts and ignores.
    public mutating func recover() {
        cuts = []
        ignored = []
        dropFilter = nil
    }

    /// Loses what the replica did not persist, as a crash does.
    public mutating func crash(_ id: BrokerId) { nodes[id] = nil }

    /// Restarts a crashed replica from its persisted state.
    public mutating func restart(_ id: BrokerId) {
        nodes[id] = RaftNode(config: configs[id]!, state: storage[id]!, random: SeededRandom(seed: random.next()))
    }

    /// Persists, applies and advances one replica's Ready; returns its messages without delivering them.
    public mutating func drainReady(_ id: BrokerId) -> [RaftMessage] {
        guard var node = nodes[id], node.hasReady else { return [] }
        let rd = node.ready()
        storage[id]!.apply(rd)
        applied[id]!.append(contentsOf: rd.committedEntries)
        node.advance(rd)
        nodes[id] = node
        return rd.messages
    }

    /// Delivers messages (and all they cause) until the network is quiet.
    public mutating func deliver(_ messages: [RaftMessage]) {
        var queue = messages
        var head = 0
        while true {
            for id in ids { queue.append(contentsOf: drainReady(id)) }
            guard head < queue.count else { break }
            let m = queue[head]
            head += 1
            if cuts.contains(Link(from: m.from, to: m.to)) || ignored.contains(m.kindName)
                || dropFilter?(m) == true || nodes[m.to] == nil
            {
                trace.append("drop \(m)")
                continue
            }
            trace.append("\(m)")
            nodes[m.to]!.step(m)
        }
    }

    /// Delivers everything pending.
    public mutating func stabilize() { deliver([]) }

    /// Makes `id` campaign now and lets the election run to the end.
    public mutating func campaign(_ id: BrokerId) {
        nodes[id]?.startElection()
        stabilize()
    }

    /// Ticks one replica `times` times, delivering after each tick.
    public mutating func tick(_ id: BrokerId, times: Int = 1) {
        for _ in 0..<times {
            nodes[id]?.tick()
            stabilize()
        }
    }

    /// Ticks every live replica `times` times, delivering after each round.
    public mutating func tickAll(times: Int = 1) {
        for _ in 0..<times {
            for id in ids { nodes[id]?.tick() }
            stabilize()
        }
    }

    /// Proposes at `id` and delivers what follows.
    @discardableResult
    public mutating func propose(_ id: BrokerId, _ payload: [UInt8], count: Int64 = 1) -> Result<LogPosition, RaftError>
    {
        guard nodes[id] != nil else { return .failure(.notLeader(leader: .none)) }
        let result = nodes[id]!.propose(payload, count: count)
        stabilize()
        return result
    }

    /// The live replicas that believe they lead, with their terms.
    public var leaders: [(id: BrokerId, term: Int64)] {
        ids.compactMap { id in nodes[id].flatMap { $0.role == .leader ? (id, $0.term) : nil } }
    }
}
