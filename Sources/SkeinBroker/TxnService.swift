import Foundation
import KafkaRecords
import Logging
import NIOCore
import NIOPosix
import SkeinModel
import SkeinReplication
import SkeinStorage
import SkeinTransactions

/// The answer to a transaction request: the coordinator's response, or an error that stands for the whole request
/// (the coordinator is elsewhere, loading, or lost its leadership before the records were durable).
enum TxnOutcome: Sendable {
    case response(TxnResponse)
    case error(KafkaErrorCode)
}

/// Writes one transaction marker to one partition, wherever its leader is, and completes with Kafka's error code
/// (`.none` once the marker is committed, or when the partition no longer exists).
typealias TxnMarkerWriter = @Sendable (TxnTopicPartition, TxnMarkers) -> EventLoopFuture<KafkaErrorCode>

/// Runs one `TransactionCoordinator` per `__transaction_state` partition this node leads, as `GroupService` does
/// for groups: loads it from the log once the leader's log is committed to its end (COORDINATOR_LOAD_IN_PROGRESS
/// meanwhile, NOT_COORDINATOR elsewhere), makes its records durable (acks=all) before answering or writing markers,
/// writes the markers of every ended transaction to its partitions (retrying until each is written), reports them
/// written so that the transaction completes, fires the timers (timed-out transactions are aborted), and hands it
/// blocks of producer ids from the controller. A failed append drops the coordinator, which reloads from the log.
///
/// The coordinator epoch stamped on markers is the partition's Raft term, which only grows across leaders.
final class TxnService: @unchecked Sendable {
    let loop: any EventLoop
    private let backend: any CoordinatorLogBackend
    private let config: TransactionCoordinatorConfig
    private let clock: any SkeinModel.Clock
    private let logger: Logger
    private let reserveBlock: @Sendable () async throws -> Range<Int64>
    private let writeMarker: TxnMarkerWriter
    private var slots: [Int32: Slot] = [:]
    private var nextRequestId: TxnRequestID = 1
    private var ticker: RepeatedTask?
    private var stopped = false

    /// A loaded coordinator with what waits on it. Only touched on `loop`.
    private final class Slot: @unchecked Sendable {
        let partition: Int32
        let epoch: Int64
        let coordinator: TransactionCoordinator
        var pending: [TxnRequestID: EventLoopPromise<TxnOutcome>] = [:]
        /// Completes when every append issued so far is durable; fails when one failed.
        var appended: EventLoopFuture<Void>
        init(partition: Int32, epoch: Int64, coordinator: TransactionCoordinator, loop: any EventLoop) {
            self.partition = partition
            self.epoch = epoch
            self.coordinator = coordinator
            appended = loop.makeSucceededVoidFuture()
        }
    }

    init(
        backend: any CoordinatorLogBackend, config: TransactionCoordinatorConfig, clock: any SkeinModel.Clock,
        logger: Logger, reserveBlock: @escaping @Sendable () async throws -> Range<Int64>,
        writeMarker: @escaping TxnMarkerWriter, loop: any EventLoop = MultiThreadedEventLoopGroup.singleton.next()
    ) {
        self.backend = backend
        self.config = config
        self.clock = clock
        self.logger = logger
        self.reserveBlock = reserveBlock
        self.writeMarker = writeMarker
        self.loop = loop
    }

    /// Starts the timer that follows leaderships and fires coordinator deadlines (every 100 ms).
    func start() {
        loop.execute {
            guard self.ticker == nil, !self.stopped else { return }
            self.ticker = self.loop.scheduleRepeatedTask(initialDelay: .milliseconds(100), delay: .milliseconds(100)) {
                _ in self.tick()
            }
        }
    }

    func stop() {
        loop.execute {
            self.stopped = true
            self.ticker?.cancel()
            self.ticker = nil
            for p in Array(self.slots.keys) { self.unload(p, answering: .notCoordinator) }
        }
    }

    var partitionCount: Int32? { backend.partitionCount }

    /// Sends `request` to the coordinator of partition `p`.
    func submit(_ request: TxnRequest, partition p: Int32) -> EventLoopFuture<TxnOutcome> {
        loop.flatSubmit {
            switch self.slot(p) {
            case .failure(let code):
                return self.loop.makeSucceededFuture(.error(code))
            case .success(let slot):
                let id = self.nextRequestId
                self.nextRequestId += 1
                let promise = self.loop.makePromise(of: TxnOutcome.self)
                slot.pending[id] = promise
                self.carryOut(slot.coordinator.handle(request, id: id, now: self.clock.nowMillis), slot: slot)
                return promise.futureResult
            }
        }
    }

    /// Every partition this node leads answers `request` (ListTransactions); loading ones answer an error.
    func submitToAll(_ request: TxnRequest) -> EventLoopFuture<[TxnOutcome]> {
        loop.flatSubmit {
            guard let count = self.backend.partitionCount else { return self.loop.makeSucceededFuture([]) }
            var futures: [EventLoopFuture<TxnOutcome>] = []
            for p in 0..<count where self.backend.leadership(p) != nil {
                futures.append(self.submit(request, partition: p))
            }
            return EventLoopFuture.whenAllSucceed(futures, on: self.loop)
        }
    }

    // MARK: leadership and loading

    private enum SlotResult {
        case success(Slot)
        case failure(KafkaErrorCode)
    }

    private func slot(_ p: Int32) -> SlotResult {
        guard !stopped else { return .failure(.notCoordinator) }
        guard let leadership = backend.leadership(p) else {
            unload(p, answering: .notCoordinator)
            return .failure(.notCoordinator)
        }
        if let slot = slots[p] {
            if slot.epoch == leadership.epoch { return .success(slot) }
            unload(p, answering: .notCoordinator)
        }
        // A new leader serves once its log is committed to the end: everything earlier leaders acknowledged.
        guard leadership.highWatermark >= leadership.log.logEndOffset else { return .failure(.coordinatorLoadInProgress) }
        do {
            let records = try Self.readRecords(leadership.log, upTo: leadership.highWatermark, logger: logger)
            let now = clock.nowMillis
            let coordinator = TransactionCoordinator.replay(
                records, config: config, coordinatorEpoch: Int32(truncatingIfNeeded: leadership.epoch), now: now)
            let slot = Slot(partition: p, epoch: leadership.epoch, coordinator: coordinator, loop: loop)
            slots[p] = slot
            logger.info(
                "transaction coordinator loaded",
                metadata: ["partition": "\(p)", "epoch": "\(leadership.epoch)", "records": "\(records.count)"])
            // Producer ids before the first InitProducerId needs one; then the transactions left in
            // PrepareCommit/PrepareAbort get their markers again.
            fetchProducerIdBlock(for: slot)
            carryOut(coordinator.resumeAfterLoad(now: now), slot: slot)
            return .success(slot)
        } catch {
            logger.error("cannot load transaction coordinator", metadata: ["partition": "\(p)", "error": "\(error)"])
            return .failure(.coordinatorLoadInProgress)
        }
    }

    private func unload(_ p: Int32, answering code: KafkaErrorCode) {
        guard let slot = slots.removeValue(forKey: p) else { return }
        for promise in slot.pending.values { promise.succeed(.error(code)) }
        slot.pending = [:]
        logger.info("transaction coordinator unloaded", metadata: ["partition": "\(p)", "epoch": "\(slot.epoch)"])
    }

    private func tick() {
        guard let count = backend.partitionCount else { return }
        let now = clock.nowMillis
        for p in 0..<count {
            guard case .success(let slot) = self.slot(p) else { continue }
            if let deadline = slot.coordinator.nextDeadline, deadline <= now {
                carryOut(slot.coordinator.tick(now: now), slot: slot)
            }
        }
    }

    // MARK: directives

    private func carryOut(_ directives: [TxnDirective], slot: Slot) {
        for directive in directives {
            switch directive {
            case .persist(let records):
                let batch: ByteBuffer
                do {
                    batch = try Self.batch(of: records, now: clock.nowMillis)
                } catch {
                    logger.error("cannot encode transaction records", metadata: ["error": "\(error)"])
                    unload(slot.partition, answering: .unknownServerError)
                    return
                }
                let appended = backend.append(slot.partition, batch: batch, on: loop).map { _ in }
                slot.appended = slot.appended.and(appended).map { _ in }
                appended.whenFailure { error in
                    // As Kafka resigns: the state may hold what the log does not; rebuild from the log.
                    self.logger.warning(
                        "transaction records not persisted; reloading",
                        metadata: ["partition": "\(slot.partition)", "error": "\(error)"])
                    if self.slots[slot.partition] === slot { self.unload(slot.partition, answering: .notCoordinator) }
                }
            case .respond(let id, let response):
                guard let promise = slot.pending.removeValue(forKey: id) else { continue }
                slot.appended.whenComplete { result in
                    switch result {
                    case .success: promise.succeed(.response(response))
                    case .failure: promise.succeed(.error(.notCoordinator))
                    }
                }
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
            guard self.slots[slot.partition] === slot else { return }
            guard results.allSatisfy({ $0 }) else {
                // A newer coordinator (or producer epoch) owns the transaction now: it completes it.
                self.logger.warning(
                    "transaction markers refused as stale; left to the current coordinator",
                    metadata: ["transactionalId": "\(markers.transactionalId)"])
                return
            }
            self.carryOut(slot.coordinator.markersWritten(markers, now: self.clock.nowMillis), slot: slot)
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
                guard self.slots[slot.partition] === slot, !self.stopped else {
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
            guard self.slots[slot.partition] === slot else { return }
            switch result {
            case .success(let block):
                self.carryOut(
                    slot.coordinator.addProducerIdBlock(
                        firstProducerId: block.lowerBound, count: Int64(block.count), now: self.clock.nowMillis),
                    slot: slot)
            case .failure(let error):
                self.logger.warning("cannot reserve producer ids", metadata: ["error": "\(error)"])
                // The coordinator asks again on its next InitProducerId; an empty block clears its request.
                self.carryOut(
                    slot.coordinator.addProducerIdBlock(firstProducerId: 0, count: 0, now: self.clock.nowMillis),
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
