import Foundation
import KafkaRecords
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SkeinModel
import SkeinRaft
import SkeinStorage
import Testing

@testable import SkeinReplication

/// Nodes of one process talking through memory (each registers what receives its one-way messages and requests);
/// a node can be cut off.
final class MemoryNetwork: Sendable {
    struct Endpoint: Sendable {
        var oneWay: @Sendable (BrokerId, UInt16, ByteBuffer) -> Void
        var request: @Sendable (BrokerId, UInt16, ByteBuffer) async throws -> ByteBuffer
    }
    private let state = NIOLockedValueBox((endpoints: [BrokerId: Endpoint](), down: Set<BrokerId>()))

    func register(_ id: BrokerId, _ endpoint: Endpoint) {
        state.withLockedValue {
            $0.endpoints[id] = endpoint
            $0.down.remove(id)
        }
    }
    /// A bare replication engine: Raft frames and catch-up fetches.
    func register(_ engine: ReplicationEngine) {
        register(
            engine.nodeId,
            Endpoint(
                oneWay: { from, _, payload in engine.receive(from: from, payload: payload) },
                request: { _, _, payload in try await engine.serveCatchUp(payload).get() }))
    }
    /// A whole node: whatever its dispatcher serves.
    func register(_ id: BrokerId, _ dispatcher: PeerDispatcher) {
        register(
            id,
            Endpoint(
                oneWay: { dispatcher.oneWay(from: $0, kind: $1, payload: $2) },
                request: { try await dispatcher.request(from: $0, kind: $1, payload: $2) }))
    }
    func setDown(_ id: BrokerId, _ down: Bool = true) {
        state.withLockedValue { if down { $0.down.insert(id) } else { $0.down.remove(id) } }
    }
    func target(_ from: BrokerId, _ to: BrokerId) -> Endpoint? {
        state.withLockedValue { s in
            s.down.contains(from) || s.down.contains(to) ? nil : s.endpoints[to]
        }
    }
    func transport(for id: BrokerId) -> MemoryTransport { MemoryTransport(id: id, network: self) }
}

struct MemoryTransport: PeerTransport {
    let id: BrokerId
    let network: MemoryNetwork
    func send(to: BrokerId, kind: UInt16, payload: ByteBuffer) {
        network.target(id, to)?.oneWay(id, kind, payload)
    }
    func request(to: BrokerId, kind: UInt16, payload: ByteBuffer, timeout: TimeAmount) async throws -> ByteBuffer {
        guard let endpoint = network.target(id, to) else { throw ReplicationError.notLeader(leader: .none) }
        return try await endpoint.request(id, kind, payload)
    }
}

/// A record batch of `count` records with the given value bytes.
func batch(_ count: Int, value: UInt8) throws -> ByteBuffer {
    let records = (0..<count).map {
        Record(offsetDelta: Int32($0), timestampDelta: 0, key: nil, value: ByteBuffer(bytes: [value, UInt8($0)]))
    }
    return try RecordBatchBuilder.build(
        header: RecordBatchHeader(baseOffset: 0, baseTimestamp: 1_700_000_000_000), records: records)
}

struct WallClock: SkeinModel.Clock {
    var nowMillis: Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
    var monotonicNanos: UInt64 { DispatchTime.now().uptimeNanoseconds }
}

/// A 3-node in-process cluster over real partition logs in a temporary directory.
final class EngineCluster: @unchecked Sendable {
    let root: String
    let group = GroupId(topic: "t", partition: 0)
    let ids: [BrokerId] = [1, 2, 3]
    let network = MemoryNetwork()
    let loops = MultiThreadedEventLoopGroup(numberOfThreads: 3)
    var engines: [BrokerId: ReplicationEngine] = [:]
    var logs: [BrokerId: PartitionLog] = [:]
    var settings = ReplicationEngine.Settings()

    init(settings: (inout ReplicationEngine.Settings) -> Void = { _ in }) {
        root = NSTemporaryDirectory() + "skein-engine-\(UUID().uuidString)"
        settings(&self.settings)
        self.settings.tickInterval = .milliseconds(10)
    }

    func start(_ id: BrokerId, voters: [BrokerId]? = nil) async throws {
        let log = try PartitionLog(directory: "\(root)/n\(id)/t-0", clock: WallClock())
        var logger = Logger(label: "engine-\(id)")
        logger.logLevel = .warning
        let engine = ReplicationEngine(
            nodeId: id, loop: loops.next(), transport: network.transport(for: id), settings: settings,
            clock: WallClock(), seed: UInt64(id.rawValue), logger: logger)
        network.register(engine)
        try await engine.addGroup(group, voters: voters ?? ids, log: log).get()
        engine.start()
        engines[id] = engine
        logs[id] = log
    }

    /// Like SIGKILL: the engine stops taking part at once; its files stay as they are.
    func kill(_ id: BrokerId) async throws {
        network.setDown(id, true)
        try await engines[id]!.stop().get()
        try logs[id]!.close()
        engines[id] = nil
        logs[id] = nil
    }

    func leader(timeout: Duration = .seconds(10), excluding: Set<BrokerId> = []) async throws -> BrokerId {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            for (id, e) in engines where !excluding.contains(id) {
                if e.status(of: group)?.role == .leader { return id }
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw ReplicationError.notLeader(leader: .none)
    }

    /// Appends with acks=all at the current leader, retrying through leader changes.
    func appendCommitted(_ b: ByteBuffer) async throws -> AppendPosition {
        for _ in 0..<50 {
            let leader = try await leader()
            do {
                return try await engines[leader]!.append(group, batches: [b], waitForCommit: true).get()
            } catch {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        throw ReplicationError.leadershipLost
    }

    /// Waits until every running replica's log ends at `offset`.
    func converge(to offset: Int64, timeout: Duration = .seconds(15)) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if engines.values.allSatisfy({ $0.status(of: group)?.highWatermark == offset }),
                logs.values.allSatisfy({ $0.logEndOffset == offset })
            {
                return true
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    /// The data batches of a log from its start, as (baseOffset, value of the first record).
    func dataBatches(_ id: BrokerId) throws -> [(Int64, [UInt8])] {
        return try ReplicaStore.batches(of: logs[id]!, from: logs[id]!.logStartOffset, through: logs[id]!.logEndOffset - 1).compactMap { v in
            guard !v.attributes.isControl else { return nil }
            let value = try v.decodeRecords().first?.value.map { Array($0.readableBytesView) } ?? []
            return (v.baseOffset, value)
        }
    }

    func shutdown() async throws {
        for id in Array(engines.keys) { try await kill(id) }
        try await loops.shutdownGracefully()
        try? FileManager.default.removeItem(atPath: root)
    }
}

@Suite("Replication engine over real logs", .serialized)
struct EngineTests {
    @Test("3 replicas: a leader is elected, acks=all appends land at the same offsets in every log")
    func replicate() async throws {
        let c = EngineCluster()
        for id in c.ids { try await c.start(id) }
        var expected: [(Int64, UInt8)] = []
        for i in 0..<20 {
            let p = try await c.appendCommitted(try batch(1 + i % 4, value: UInt8(i)))
            #expect(p.lastOffset >= p.baseOffset)
            expected.append((p.baseOffset, UInt8(i)))
        }
        let end = c.logs[try await c.leader()]!.logEndOffset
        #expect(try await c.converge(to: end))
        for id in c.ids {
            let batches = try c.dataBatches(id)
            #expect(batches.map(\.0) == expected.map(\.0))
            #expect(batches.map { $0.1.first } == expected.map(\.1))
        }
        try await c.shutdown()
    }

    @Test("killing the leader: another takes over, nothing acknowledged is lost, the old one rejoins and converges")
    func failover() async throws {
        let c = EngineCluster()
        for id in c.ids { try await c.start(id) }
        var acked: [UInt8: Int64] = [:]
        for i in 0..<10 { acked[UInt8(i)] = try await c.appendCommitted(try batch(3, value: UInt8(i))).baseOffset }
        let first = try await c.leader()
        try await c.kill(first)
        let second = try await c.leader(excluding: [first])
        #expect(second != first)
        for i in 10..<20 { acked[UInt8(i)] = try await c.appendCommitted(try batch(2, value: UInt8(i))).baseOffset }
        try await c.start(first)
        let end = c.logs[second]!.logEndOffset
        #expect(try await c.converge(to: end))
        for id in c.ids {
            let found = Dictionary(try c.dataBatches(id).map { ($0.1[0], $0.0) }, uniquingKeysWith: { a, _ in a })
            for (value, offset) in acked { #expect(found[value] == offset, "node \(id) value \(value)") }
        }
        try await c.shutdown()
    }

    @Test("an idempotent producer's retry after a failover gets the original offsets from the new leader")
    func idempotentRetryAcrossFailover() async throws {
        func idempotent(_ seq: Int32, _ count: Int) throws -> ByteBuffer {
            let records = (0..<count).map {
                Record(offsetDelta: Int32($0), timestampDelta: 0, key: nil, value: ByteBuffer(bytes: [UInt8(seq)]))
            }
            return try RecordBatchBuilder.build(
                // Current timestamps: producer state expires by the batches' timestamps (as Kafka's does).
                records: records, baseTimestamp: WallClock().nowMillis, producerId: 77, producerEpoch: 0,
                baseSequence: seq)
        }
        let c = EngineCluster()
        for id in c.ids { try await c.start(id) }
        var positions: [AppendPosition] = []
        for i in 0..<6 { positions.append(try await c.appendCommitted(try idempotent(Int32(i * 3), 3))) }
        let first = try await c.leader()
        // At the same leader: a retry is answered with the original offsets, a gap is refused.
        let retry = try await c.engines[first]!.append(c.group, batches: [try idempotent(12, 3)], waitForCommit: true)
            .get()
        #expect(retry.baseOffset == positions[4].baseOffset && retry.lastOffset == positions[4].lastOffset)
        await #expect(throws: ReplicationError.self) {
            _ = try await c.engines[first]!.append(c.group, batches: [try idempotent(30, 1)], waitForCommit: true)
                .get()
        }
        try await c.kill(first)
        // The new leader rebuilt the producer state from its own log: the same answer.
        let again = try await c.appendCommitted(try idempotent(15, 3))
        #expect(again.baseOffset == positions[5].baseOffset)
        let next = try await c.appendCommitted(try idempotent(18, 2))
        #expect(next.baseOffset > positions[5].lastOffset)
        try await c.start(first)
        let end = c.logs[try await c.leader()]!.logEndOffset
        #expect(try await c.converge(to: end))
        for id in c.ids {
            // Every sequence once, in order, on every replica.
            let values = try c.dataBatches(id).map { $0.1[0] }
            #expect(values == [0, 3, 6, 9, 12, 15, 18], "node \(id)")
        }
        try await c.shutdown()
    }

    @Test("DeleteRecords: the log-start move commits through the log and every replica applies it, a restarted one too")
    func deleteRecordsReplicates() async throws {
        let c = EngineCluster { $0.maxInMemoryBytes = 1 }
        for id in c.ids { try await c.start(id) }
        for i in 0..<10 { _ = try await c.appendCommitted(try batch(2, value: UInt8(i))) }
        let leader = try await c.leader()
        let follower = c.ids.first { $0 != leader }!
        try await c.kill(follower)
        for i in 10..<20 { _ = try await c.appendCommitted(try batch(2, value: UInt8(i))) }
        // Past the high watermark (the log end is at or above it): OFFSET_OUT_OF_RANGE.
        let beyond = c.logs[leader]!.logEndOffset + 1
        do {
            _ = try await c.engines[leader]!.deleteRecords(c.group, before: beyond).get()
            Issue.record("deleting past the high watermark succeeded")
        } catch ReplicationError.rejected(let code, _) {
            #expect(code == .offsetOutOfRange)
        }
        // Offsets 0-30 go (15 batches of 2 and the first record of the 16th): a log start inside a batch, as Kafka
        // allows. Raft's own entries (the leader's no-op, the log-start move) take no offset.
        #expect(try await c.engines[leader]!.deleteRecords(c.group, before: 31).get() == 31)
        #expect(try await c.engines[leader]!.deleteRecords(c.group, before: 5).get() == 31)
        #expect(try await eventually { c.logs.values.allSatisfy { $0.logStartOffset == 31 } })
        // The follower that missed it catches up from the leader's disk and takes the leader's log start.
        try await c.start(follower)
        #expect(try await c.converge(to: c.logs[leader]!.logEndOffset))
        #expect(c.logs[follower]!.logStartOffset == 31)
        #expect(try c.dataBatches(follower).map { $0.1[0] } == Array(15..<20))
        // Every node restarts from a log that starts inside a batch, and the group goes on.
        for id in c.ids { try await c.kill(id) }
        for id in c.ids { try await c.start(id) }
        _ = try await c.appendCommitted(try batch(1, value: 20))
        #expect(try await c.converge(to: c.logs[try await c.leader()]!.logEndOffset))
        for id in c.ids {
            #expect(c.logs[id]!.logStartOffset == 31)
            #expect(try c.dataBatches(id).map { $0.1[0] } == Array(15...20))
        }
        try await c.shutdown()
    }

    @Test("reassignment: a dead replica is replaced one server at a time, the new one catches up, voters survive restarts")
    func replaceADeadReplica() async throws {
        let c = EngineCluster()
        for id in c.ids { try await c.start(id) }
        for i in 0..<30 { _ = try await c.appendCommitted(try batch(2, value: UInt8(i))) }
        let victim: BrokerId = try await c.leader() == 3 ? 2 : 3
        try await c.kill(victim)
        let target = ([1, 2, 3, 4] as [BrokerId]).filter { $0 != victim }
        // The new replica starts from the metadata's set; every replica is told the target.
        try await c.start(4, voters: target)
        for e in c.engines.values { e.setTargetVoters(c.group, target) }
        let changed = try await eventually(.seconds(30)) {
            c.engines.values.allSatisfy { Set($0.status(of: c.group)?.voters ?? []) == Set(target) }
        }
        #expect(changed, "voters: \(c.engines.mapValues { $0.status(of: c.group)?.voters ?? [] })")
        for i in 30..<40 { _ = try await c.appendCommitted(try batch(2, value: UInt8(i))) }
        let leader = try await c.leader()
        #expect(try await c.converge(to: c.logs[leader]!.logEndOffset, timeout: .seconds(30)))
        let expected = try c.dataBatches(leader)
        #expect(expected.count == 40)
        // Two voter changes and the elections took no Kafka offset: batches of 2 from 0.
        #expect(expected.map(\.0) == (0..<40).map { Int64($0 * 2) })
        #expect(try c.dataBatches(4).map(\.0) == expected.map(\.0))
        #expect(try c.dataBatches(4).map(\.1) == expected.map(\.1))
        // Control batches carry the change: consumers skip them, and every replica stores the same bytes.
        #expect(try ReplicaStore(log: c.logs[4]!).loadVoters() == target.sorted())

        // Restarted with a stale replica set (an old metadata view), a replica keeps the committed voters.
        try await c.kill(4)
        try await c.start(4, voters: [1, 2, 3])
        #expect(Set(c.engines[4]!.status(of: c.group)?.voters ?? []) == Set(target))
        // The dead replica comes back with its old voters and an old log: the group goes on without it.
        try await c.start(victim)
        for i in 40..<45 { _ = try await c.appendCommitted(try batch(1, value: UInt8(i))) }
        let now = try await c.leader()
        #expect(now != victim)
        #expect(Set(c.engines[now]!.status(of: c.group)?.voters ?? []) == Set(target))
        try await c.shutdown()
    }

    @Test("Kafka offsets are dense from 0: elections, leadership transfers and log-start moves take none")
    func kafkaOffsetsDense() async throws {
        let c = EngineCluster()
        for id in c.ids { try await c.start(id) }
        let first = try await c.leader()
        // An empty partition is (0, 0) on every replica once a leader's no-op committed.
        #expect(
            try await eventually {
                c.engines.values.allSatisfy {
                    $0.status(of: c.group).map { $0.highWatermark == 0 && $0.logEndOffset == 0 } ?? false
                }
            })
        var next: Int64 = 0
        var bases: [Int64] = []
        func produce(_ n: Int, _ v: UInt8) async throws {
            let p = try await c.appendCommitted(try batch(n, value: v))
            #expect(p.baseOffset == next, "batch \(v)")
            #expect(p.lastOffset == next + Int64(n) - 1, "batch \(v)")
            bases.append(p.baseOffset)
            next = p.lastOffset + 1
        }
        try await produce(3, 0)
        let target = c.ids.first { $0 != first }!
        #expect(try await c.engines[first]!.transferLeadership(c.group, to: target).get())
        #expect(try await eventually { c.engines[target]!.status(of: c.group)?.role == .leader })
        try await produce(2, 1)
        try await c.kill(target)
        try await produce(4, 2)
        try await c.start(target)
        let leader = try await c.leader()
        #expect(try await c.engines[leader]!.deleteRecords(c.group, before: 2).get() == 2)
        try await produce(1, 3)
        #expect(try await c.converge(to: next))
        #expect(next == 10)
        for id in c.ids {
            #expect(try c.dataBatches(id).map(\.0) == bases, "node \(id)")
            #expect(c.logs[id]!.logStartOffset == 2)
        }
        // A restart of every replica keeps the same offsets, and the next record follows on.
        for id in c.ids { try await c.kill(id) }
        for id in c.ids { try await c.start(id) }
        try await produce(2, 4)
        #expect(try await c.converge(to: 12))
        for id in c.ids { #expect(try c.dataBatches(id).map(\.0) == bases, "node \(id)") }
        try await c.shutdown()
    }

    @Test("a follower behind the leader's in-memory log catches up from the leader's disk")
    func catchUpFromDisk() async throws {
        let c = EngineCluster { $0.maxInMemoryBytes = 1 }
        for id in c.ids { try await c.start(id) }
        _ = try await c.appendCommitted(try batch(1, value: 0))
        let leader = try await c.leader()
        let lagging = c.ids.first { $0 != leader }!
        try await c.kill(lagging)
        for i in 1..<30 { _ = try await c.appendCommitted(try batch(5, value: UInt8(i))) }
        try await c.start(lagging)
        let end = c.logs[leader]!.logEndOffset
        #expect(try await c.converge(to: end))
        #expect(try c.dataBatches(lagging).map(\.0) == c.dataBatches(leader).map(\.0))
        #expect(c.engines[lagging]!.statistics.catchUps >= 1)
        #expect(c.engines[lagging]!.statistics.catchUpBytes > 29 * 5 * 2)
        try await c.shutdown()
    }
}
