import Foundation
import KafkaRecords
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SkeinGroups
import SkeinModel
import SkeinReplication
import SkeinStorage
import SkeinTransactions


/// What a coordinator partition is on this node: led, with its log (whole when every entry is committed), or not.
struct CoordinatorLeadership {
    var epoch: Int64
    var log: PartitionLog
    var highWatermark: Int64
}

/// Where the coordinator partitions live: the local topic registry (one node) or Raft groups (cluster mode).
protocol CoordinatorLogBackend: Sendable {
    /// The partition count of `__consumer_offsets`, nil while the topic does not exist.
    var partitionCount: Int32? { get }
    /// This node's leadership of partition `p`, nil when another node leads it (or nobody does).
    func leadership(_ p: Int32) -> CoordinatorLeadership?
    /// Appends one batch; succeeds once the batch is durable as acks=all would have it, with the offset after it.
    /// A transactional batch (a TxnOffsetCommit's) goes through the partition's producer-epoch check.
    func append(_ p: Int32, batch: ByteBuffer, on loop: any EventLoop) -> EventLoopFuture<Int64>
    /// Partition counts of the other topics (KIP-848 assignment input).
    func topicPartitionCounts() -> [String: Int32]
    /// This node's replica of partition `p` (leader or follower) with its high watermark: what has committed.
    func replica(_ p: Int32) -> (log: PartitionLog, highWatermark: Int64)?
}

/// Topics that hold the cluster's own state, not users' data.
let internalTopics: Set<String> = [consumerOffsetsTopic, "_schemas", transactionStateTopic]

/// Where transactional ids' coordinators keep their state (Kafka's `transaction.state.log`).
let transactionStateTopic = "__transaction_state"

/// The answer to a group request (see `CoordinatorOutcome`).
typealias GroupOutcome = CoordinatorOutcome<GroupResponse>

/// Runs one `GroupCoordinator` per `__consumer_offsets` partition this node leads (`CoordinatorHost`: loaded when
/// the leadership arrives, records persisted before answering, dropped when the leadership goes), and ticks their
/// timers every 50 ms.
final class GroupService: @unchecked Sendable {
    private typealias Host = CoordinatorHost<GroupCoordinator, GroupResponse>
    private let host: Host
    private let clock: any SkeinModel.Clock
    private let logger: Logger
    private var topicCounts: [String: Int32] = [:]

    var loop: any EventLoop { host.loop }

    init(
        backend: any CoordinatorLogBackend, config: GroupCoordinatorConfig, clock: any SkeinModel.Clock,
        logger: Logger, loop: any EventLoop = MultiThreadedEventLoopGroup.singleton.next()
    ) {
        self.clock = clock
        self.logger = logger
        host = Host(backend: backend, name: "group", logger: logger, loop: loop) { _, leadership in
            let records = try Self.readRecords(leadership.log, upTo: leadership.highWatermark, logger: logger)
            var generator = SystemRandomNumberGenerator()
            return GroupCoordinator.replay(records, config: config, seed: generator.next(), now: clock.nowMillis)
        }
        host.afterLoad = { [unowned self] slot in
            topicCounts = host.backend.topicPartitionCounts()
            carryOut(slot.core.setTopicPartitions(topicCounts, now: clock.nowMillis), slot: slot)
        }
    }

    /// Starts the timer that follows leaderships and fires coordinator deadlines (every 50 ms).
    func start() { host.start(every: .milliseconds(50)) { self.tick() } }

    func stop() { host.stop() }

    var partitionCount: Int32? { host.partitionCount }

    /// Sends `request` to the coordinator of partition `p`. `transactional`: the producer id and epoch of a
    /// TxnOffsetCommit, whose records go in a transactional batch of that producer (pending until its marker).
    func submit(_ request: GroupRequest, partition p: Int32, transactional: (id: Int64, epoch: Int16)? = nil)
        -> EventLoopFuture<GroupOutcome>
    {
        host.submit(partition: p) { slot, id in
            self.carryOut(
                slot.core.handle(request, id: id, now: self.clock.nowMillis), slot: slot, transactional: transactional)
        }
    }

    /// Every partition this node leads: loaded ones answer `request` (ListGroups), loading ones an error.
    func submitToAll(_ request: GroupRequest) -> EventLoopFuture<[GroupOutcome]> {
        host.submitToAll { slot, id in
            self.carryOut(slot.core.handle(request, id: id, now: self.clock.nowMillis), slot: slot)
        }
    }

    /// A transaction marker for `producerId` was written to partition `p` (and committed): the coordinator
    /// materializes or drops the producer's pending offsets. A coordinator not loaded yet reads the marker
    /// from the log when it loads.
    func completeTransaction(partition p: Int32, producerId: Int64, committed: Bool) {
        loop.execute {
            guard let slot = self.host.loaded(p) else { return }
            self.carryOut(
                slot.core.completeTransaction(producerId: producerId, committed: committed, now: self.clock.nowMillis),
                slot: slot)
        }
    }

    private func tick() {
        let now = clock.nowMillis
        let counts = host.backend.topicPartitionCounts()
        let countsChanged = counts != topicCounts
        topicCounts = counts
        host.forEachLoaded { slot in
            if countsChanged { carryOut(slot.core.setTopicPartitions(counts, now: now), slot: slot) }
            if let deadline = slot.core.nextDeadline, deadline <= now {
                carryOut(slot.core.tick(now: now), slot: slot)
            }
        }
    }

    // MARK: directives

    private func carryOut(
        _ directives: [GroupDirective], slot: Host.Slot, transactional: (id: Int64, epoch: Int16)? = nil
    ) {
        for directive in directives {
            switch directive {
            case .persist(let records):
                do {
                    host.persist(
                        try Self.batch(of: records, now: clock.nowMillis, transactional: transactional), in: slot)
                } catch {
                    logger.error("cannot encode group records", metadata: ["error": "\(error)"])
                    host.drop(slot, answering: .unknownServerError)
                    return
                }
            case .respond(let id, let response):
                host.respond(id, response, in: slot)
            case .abandon(let id):
                // Superseded by the same member's newer request: Kafka never answers it; the client has moved on.
                host.fail(id, .rebalanceInProgress, in: slot)
            }
        }
    }

    /// Group records as one uncompressed batch; for a TxnOffsetCommit a transactional batch of its producer
    /// (no sequence, as Kafka's coordinator writes it).
    static func batch(of records: [GroupRecord], now: Int64, transactional: (id: Int64, epoch: Int16)? = nil) throws
        -> ByteBuffer
    {
        var built: [Record] = []
        for record in records {
            guard let key = record.keyBytes() else { continue }
            built.append(
                Record(
                    offsetDelta: Int32(built.count), key: ByteBuffer(bytes: key),
                    value: record.valueBytes().map { ByteBuffer(bytes: $0) }))
        }
        let isTransactional = transactional != nil && records.contains {
            if case .offsetCommit(_, _, _, let producerId?) = $0 { return producerId >= 0 }
            return false
        }
        guard isTransactional, let transactional else {
            return try RecordBatchBuilder.build(records: built, baseTimestamp: now)
        }
        return try RecordBatchBuilder.build(
            header: RecordBatchHeader(
                baseOffset: 0, partitionLeaderEpoch: -1, attributes: RecordBatchAttributes(isTransactional: true),
                baseTimestamp: now, producerId: ProducerId(transactional.id), producerEpoch: transactional.epoch,
                baseSequence: -1),
            records: built)
    }

    /// The group records of a log up to `end` (exclusive), in order. Transaction markers become
    /// `.transactionMarker`; other control batches (leader changes) and records of unknown formats are skipped.
    static func readRecords(_ log: PartitionLog, upTo end: Int64, logger: Logger) throws -> [GroupRecord] {
        var records: [GroupRecord] = []
        var offset = log.logStartOffset
        try forEachBatch(in: log, from: &offset, upTo: end) { view in
            let header = view.header
            if header.attributes.isControl {
                if let (commit, _) = try? view.endTransactionMarker() {
                    records.append(.transactionMarker(producerId: header.producerId.rawValue, committed: commit))
                }
                return
            }
            let producerId = header.attributes.isTransactional ? header.producerId.rawValue : nil
            for record in try view.decodeRecords() {
                guard let key = record.key else { continue }
                do {
                    records.append(
                        try GroupRecord.decode(
                            key: Array(buffer: key), value: record.value.map { Array(buffer: $0) },
                            producerId: producerId))
                } catch {
                    logger.debug("skipping an unreadable group record", metadata: ["error": "\(error)"])
                }
            }
        }
        return records
    }
}

/// Calls `body` for every whole batch of `log` from `offset` up to `end` (exclusive), reading 8 MiB at a time;
/// `offset` moves past each chunk read, so after a throw it says how far reading got.
func forEachBatch(
    in log: PartitionLog, from offset: inout Int64, upTo end: Int64, _ body: (RecordBatchView) throws -> Void
) throws {
    while offset < end {
        let read = try log.read(fromOffset: offset, maxBytes: 8 << 20, maxOffset: end)
        guard read.sizeInBytes > 0 else { return }
        for view in RecordBatchSequence(try read.readBytes()) { try body(view) }
        guard read.nextOffset > offset else { return }
        offset = read.nextOffset
    }
}

// MARK: backends

/// One node: the internal topic (`__consumer_offsets`, `_schemas`) is a topic of the local registry, always led here.
struct LocalCoordinatorLog: CoordinatorLogBackend {
    let topics: TopicRegistry
    var topic = consumerOffsetsTopic

    var partitionCount: Int32? { topics.topic(named: topic).map { Int32($0.partitions.count) } }

    func leadership(_ p: Int32) -> CoordinatorLeadership? {
        guard let log = topics.topic(named: topic)?.partition(p) else { return nil }
        return CoordinatorLeadership(epoch: 0, log: log, highWatermark: log.logEndOffset)
    }

    func replica(_ p: Int32) -> (log: PartitionLog, highWatermark: Int64)? {
        guard let log = topics.topic(named: topic)?.partition(p) else { return nil }
        return (log, log.logEndOffset)
    }

    func append(_ p: Int32, batch: ByteBuffer, on loop: any EventLoop) -> EventLoopFuture<Int64> {
        guard let log = topics.topic(named: topic)?.partition(p) else {
            return loop.makeFailedFuture(ReplicationError.notLeader(leader: .none))
        }
        do {
            guard let info = try log.appendMany([batch], leaderEpoch: 0, origin: .coordinator).first else {
                return loop.makeFailedFuture(ReplicationError.storage("nothing appended"))
            }
            return loop.makeSucceededFuture(info.lastOffset + 1)
        } catch {
            return loop.makeFailedFuture(error)
        }
    }

    func topicPartitionCounts() -> [String: Int32] {
        var counts: [String: Int32] = [:]
        for topic in topics.all where !internalTopics.contains(topic.name) {
            counts[topic.name] = Int32(topic.partitions.count)
        }
        return counts
    }
}

/// Cluster mode: each partition of the internal topic is a Raft group; its leader runs the coordinator.
struct ReplicatedCoordinatorLog: CoordinatorLogBackend {
    let cluster: ClusterContext
    var topic = consumerOffsetsTopic

    var partitionCount: Int32? { cluster.controller.metadata.topics[topic]?.partitionCount }

    func replica(_ p: Int32) -> (log: PartitionLog, highWatermark: Int64)? {
        let group = GroupId(topic: topic, partition: p)
        guard let status = cluster.engine.status(of: group), let log = cluster.replicas.log(for: group) else {
            return nil
        }
        return (log, status.highWatermark)
    }

    func leadership(_ p: Int32) -> CoordinatorLeadership? {
        let group = GroupId(topic: topic, partition: p)
        guard let status = cluster.engine.status(of: group), status.role == .leader,
            let log = cluster.replicas.log(for: group)
        else { return nil }
        return CoordinatorLeadership(epoch: status.term, log: log, highWatermark: status.highWatermark)
    }

    func append(_ p: Int32, batch: ByteBuffer, on loop: any EventLoop) -> EventLoopFuture<Int64> {
        cluster.engine.append(
            GroupId(topic: topic, partition: p), batches: [batch], waitForCommit: true, origin: .coordinator
        ).hop(to: loop).map { $0.lastOffset + 1 }
    }

    func topicPartitionCounts() -> [String: Int32] {
        var counts: [String: Int32] = [:]
        for (name, topic) in cluster.controller.metadata.topics where !internalTopics.contains(name) {
            counts[name] = topic.partitionCount
        }
        return counts
    }
}
