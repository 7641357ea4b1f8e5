import Foundation
import KafkaRecords
import Logging
import NIOCore
import NIOPosix
import SkeinModel
import SkeinReplication
import SkeinStorage
import SkeinTransactions

/// The answer to a transaction request (see `CoordinatorOutcome`).
typealias TxnOutcome = CoordinatorOutcome<TxnResponse>

/// Writes one transaction marker to one partition, wherever its leader is, and completes with Kafka's error code
/// (`.none` once the marker is committed, or when the partition no longer exists).
typealias TxnMarkerWriter = @Sendable (TxnTopicPartition, TxnMarkers) -> EventLoopFuture<KafkaErrorCode>

/// Runs one `TransactionCoordinator` per `__transaction_state` partition this node leads (`CoordinatorHost`:
/// loaded once the leader's log is committed to its end, records durable with acks=all before answering or
/// writing markers, dropped and reloaded from the log if an append fails). On top of that it writes the markers of
/// every ended transaction to its partitions (retrying until each is written) and reports them written so that the
/// transaction completes, fires the timers (timed-out transactions are aborted), and hands the coordinators blocks
/// of producer ids from the controller. After a load, transactions found in PrepareCommit/PrepareAbort get their
/// markers again.
///
/// The coordinator epoch stamped on markers is the partition's Raft term, which only grows across leaders.
final class TxnService: @unchecked Sendable {
    private typealias Host = CoordinatorHost<TransactionCoordinator, TxnResponse>
    private typealias Slot = Host.Slot
    private let host: Host
    private let clock: any SkeinModel.Clock
    private let logger: Logger
    private let reserveBlock: @Sendable () async throws -> Range<Int64>
    private let writeMarker: TxnMarkerWriter

    var loop: any EventLoop { host.loop }

    init(
        backend: any CoordinatorLogBackend, config: TransactionCoordinatorConfig, clock: any SkeinModel.Clock,
        logger: Logger, reserveBlock: @escaping @Sendable () async throws -> Range<Int64>,
        writeMarker: @escaping TxnMarkerWriter, loop: any EventLoop = MultiThreadedEventLoopGroup.singleton.next()
    ) {
        self.clock = clock
        self.logger = logger
        self.reserveBlock = reserveBlock
        self.writeMarker = writeMarker
        host = Host(backend: backend, name: "transaction", logger: logger, loop: loop) { _, leadership in
            let records = try Self.readRecords(leadership.log, upTo: leadership.highWatermark, logger: logger)
            return TransactionCoordinator.replay(
                records, config: config, coordinatorEpoch: Int32(truncatingIfNeeded: leadership.epoch),
                now: clock.nowMillis)
        }
        host.afterLoad = { [unowned self] slot in
            // Producer ids before the first InitProducerId needs one; then the transactions left in
            // PrepareCommit/PrepareAbort get their markers again.
            fetchProducerIdBlock(for: slot)
            carryOut(slot.core.resumeAfterLoad(now: clock.nowMillis), slot: slot)
        }
    }

    /// Starts the timer that follows leaderships and fires coordinator deadlines (every 100 ms).
    func start() { host.start(every: .milliseconds(100)) { self.tick() } }

    func stop() { host.stop() }

    var partitionCount: Int32? { host.partitionCount }

    /// Sends `request` to the coordinator of partition `p`.
    func submit(_ request: TxnRequest, partition p: Int32) -> EventLoopFuture<TxnOutcome> {
        host.submit(partition: p) { slot, id in
            self.carryOut(slot.core.handle(request, id: id, now: self.clock.nowMillis), slot: slot)
        }
    }

    /// Every partition this node leads answers `request` (ListTransactions); loading ones answer an error.
    func submitToAll(_ request: TxnRequest) -> EventLoopFuture<[TxnOutcome]> {
        host.submitToAll { slot, id in
            self.carryOut(slot.core.handle(request, id: id, now: self.clock.nowMillis), slot: slot)
        }
    }

    private func tick() {
        let now = clock.nowMillis
        host.forEachLoaded { slot in
            if let deadline = slot.core.nextDeadline, deadline <= now {
                carryOut(slot.core.tick(now: now), slot: slot)
            }
        }
    }

    // MARK: directives

    private func carryOut(_ directives: [TxnDirective], slot: Slot) {
        for directive in directives {
            switch directive {
            case .persist(let records):
                do {
                    host.persist(try Self.batch(of: records, now: clock.nowMillis), in: slot)
                } catch {
                    logger.error("cannot encode transaction records", metadata: ["error": "\(error)"])
                    host.drop(slot, answering: .unknownServerError)
                    return
                }
            case .respond(let id, let response):
                host.respond(id, response, in: slot)
            case .writeMarkers(let markers):
                slot.appended.whenSuccess { self.sendMarkers(markers, slot: slot) }
            case .requestProducerIdBlock:
                fetchProducerIdBlock(for: slot)
            }
        }
    }

    /// Writes the markers to every partition (each retried until written), then completes the transaction.
    private func sendMarkers(_ markers: TxnMarkers, slot: Slot) {
        let written = markers.partitions.map { writeUntilDone($0, markers, slot: slot, attempt: 0) }
        EventLoopFuture.whenAllSucceed(written, on: loop).whenSuccess { results in
            guard self.host.isCurrent(slot) else { return }
            guard results.allSatisfy({ $0 }) else {
                // A newer coordinator (or producer epoch) owns the transaction now: it completes it.
                self.logger.warning(
                    "transaction markers refused as stale; left to the current coordinator",
                    metadata: ["transactionalId": "\(markers.transactionalId)"])
                return
            }
            self.carryOut(slot.core.markersWritten(markers, now: self.clock.nowMillis), slot: slot)
        }
    }

    /// True once written; false when the partition refuses the marker as stale (a newer coordinator epoch or
    /// producer epoch, as Kafka's marker handler gives up on). Other errors are retried with backoff while this
    /// coordinator stays loaded.
    private func writeUntilDone(_ tp: TxnTopicPartition, _ markers: TxnMarkers, slot: Slot, attempt: Int)
        -> EventLoopFuture<Bool>
    {
        writeMarker(tp, markers).hop(to: loop).flatMap { code in
            switch code {
            case .none:
                return self.loop.makeSucceededFuture(true)
            case .transactionCoordinatorFenced, .invalidProducerEpoch:
                self.logger.warning(
                    "transaction marker refused",
                    metadata: ["partition": "\(tp)", "transactionalId": "\(markers.transactionalId)", "error": "\(code)"])
                return self.loop.makeSucceededFuture(false)
            default:
                guard self.host.isCurrent(slot), !self.host.stopped else {
                    return self.loop.makeSucceededFuture(false)
                }
                if attempt == 20 {
                    self.logger.warning(
                        "transaction marker still not written",
                        metadata: ["partition": "\(tp)", "transactionalId": "\(markers.transactionalId)", "error": "\(code)"])
                }
                let delay = TimeAmount.milliseconds(min(50 << min(attempt, 5), 1000))
                return self.loop.scheduleTask(in: delay) {}.futureResult.flatMap {
                    self.writeUntilDone(tp, markers, slot: slot, attempt: attempt + 1)
                }
            }
        }
    }

    /// Asks the controller (or, on one node, the producer-id file) for a block of producer ids for this coordinator.
    private func fetchProducerIdBlock(for slot: Slot) {
        let reserve = reserveBlock
        let promise = loop.makePromise(of: Range<Int64>.self)
        promise.completeWithTask { try await reserve() }
        promise.futureResult.whenComplete { result in
            guard self.host.isCurrent(slot) else { return }
            switch result {
            case .success(let block):
                self.carryOut(
                    slot.core.addProducerIdBlock(
                        firstProducerId: block.lowerBound, count: Int64(block.count), now: self.clock.nowMillis),
                    slot: slot)
            case .failure(let error):
                self.logger.warning("cannot reserve producer ids", metadata: ["error": "\(error)"])
                // The coordinator asks again on its next InitProducerId; an empty block clears its request.
                self.carryOut(
                    slot.core.addProducerIdBlock(firstProducerId: 0, count: 0, now: self.clock.nowMillis),
                    slot: slot)
            }
        }
    }

    /// Transaction records as one uncompressed batch.
    static func batch(of records: [TxnRecord], now: Int64) throws -> ByteBuffer {
        let built = records.enumerated().map { i, record in
            Record(
                offsetDelta: Int32(i), key: ByteBuffer(bytes: record.keyBytes()),
                value: record.valueBytes().map { ByteBuffer(bytes: $0) })
        }
        return try RecordBatchBuilder.build(records: built, baseTimestamp: now)
    }

    /// The transaction records of a log up to `end` (exclusive), in order; control batches and records of unknown
    /// formats are skipped.
    static func readRecords(_ log: PartitionLog, upTo end: Int64, logger: Logger) throws -> [TxnRecord] {
        var records: [TxnRecord] = []
        var offset = log.logStartOffset
        try forEachBatch(in: log, from: &offset, upTo: end) { view in
            guard !view.header.attributes.isControl else { return }
            for record in try view.decodeRecords() {
                guard let key = record.key else { continue }
                do {
                    records.append(
                        try TxnRecord.decode(key: Array(buffer: key), value: record.value.map { Array(buffer: $0) }))
                } catch {
                    logger.debug("skipping an unreadable transaction record", metadata: ["error": "\(error)"])
                }
            }
        }
        return records
    }
}
