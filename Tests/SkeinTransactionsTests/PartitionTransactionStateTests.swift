import SkeinModel
import SkeinTransactions
import Testing

private func rejection(_ verdict: ProducerVerdict) -> KafkaErrorCode? {
    if case .rejected(let code, _) = verdict { return code }
    return nil
}

/// A log that applies every batch it stores to a `PartitionTransactionState` (no checks: the unit tests call them
/// explicitly).
private struct TestLog {
    var state = PartitionTransactionState()
    var batches: [StoredBatch] = []
    var next: Int64 = 0

    static func data(
        _ pid: Int64, epoch: Int16 = 0, seq: Int32, count: Int32 = 1, txn: Bool = true, at offset: Int64 = -1,
        time: Int64 = 1_000
    ) -> StoredBatch {
        .data(
            producerId: pid, producerEpoch: epoch, firstSequence: seq, lastOffsetDelta: count - 1, baseOffset: offset,
            maxTimestamp: time, isTransactional: txn)
    }

    static func marker(
        _ type: TxnMarkerType, _ pid: Int64, epoch: Int16 = 0, coordinator: Int32 = 0, time: Int64 = 1_000
    ) -> StoredBatch {
        .marker(type, producerId: pid, producerEpoch: epoch, coordinatorEpoch: coordinator, offset: -1, timestamp: time)
    }

    /// Stores the batch at the log end; returns its base offset.
    @discardableResult
    mutating func append(_ batch: StoredBatch) -> Int64 {
        var stored = batch
        stored.lastOffset = next + (batch.lastOffset - batch.baseOffset)
        stored.baseOffset = next
        next = stored.lastOffset + 1
        batches.append(stored)
        state.apply(stored)
        return stored.baseOffset
    }

    @discardableResult
    mutating func data(_ pid: Int64, epoch: Int16 = 0, seq: Int32, count: Int32 = 1, txn: Bool = true) -> Int64 {
        append(Self.data(pid, epoch: epoch, seq: seq, count: count, txn: txn))
    }

    @discardableResult
    mutating func marker(_ type: TxnMarkerType, _ pid: Int64, epoch: Int16 = 0, coordinator: Int32 = 0) -> Int64 {
        append(Self.marker(type, pid, epoch: epoch, coordinator: coordinator))
    }

    /// Stores a marker; returns the transaction it ended.
    mutating func end(_ type: TxnMarkerType, _ pid: Int64, epoch: Int16 = 0, coordinator: Int32 = 0)
        -> CompletedTransaction?
    {
        var stored = Self.marker(type, pid, epoch: epoch, coordinator: coordinator)
        stored.baseOffset = next
        stored.lastOffset = next
        next += 1
        batches.append(stored)
        return state.apply(stored)
    }

    @discardableResult
    mutating func plain(count: Int32 = 1) -> Int64 {
        append(Self.data(-1, epoch: -1, seq: -1, count: count, txn: false))
    }
}

@Suite("Partition transaction state: Kafka's read_committed bookkeeping")
struct PartitionTransactionStateTests {
    @Test("the LSO is the first offset of the oldest transaction ongoing or decided above the high watermark")
    func lastStableOffsetInterleaved() {
        var log = TestLog()
        #expect(log.state.lastStableOffset(highWatermark: 0) == 0)
        log.data(1, seq: 0, count: 2)  // 0-1: producer 1's transaction starts at 0
        log.plain()  // 2
        log.data(2, seq: 0)  // 3: producer 2's transaction starts at 3
        log.data(3, seq: 0, txn: false)  // 4: idempotent, not transactional
        log.data(1, seq: 2)  // 5: producer 1 continues
        #expect(log.state.firstUndecidedOffset == 0)
        #expect(log.state.ongoingTransactions.map(\.producerId) == [1, 2])
        #expect(log.state.lastStableOffset(highWatermark: 6) == 0)
        #expect(log.state.lastStableOffset(highWatermark: 0) == 0)
        log.marker(.commit, 2)  // 6
        #expect(log.state.lastStableOffset(highWatermark: 7) == 0)
        log.marker(.abort, 1)  // 7
        #expect(log.state.firstUndecidedOffset == nil)
        // Both decided; a marker at or above the high watermark still holds its transaction's first offset.
        #expect(log.state.lastStableOffset(highWatermark: 8) == 8)
        #expect(log.state.lastStableOffset(highWatermark: 7) == 0)
        #expect(log.state.lastStableOffset(highWatermark: 5) == 0)
        #expect(log.state.firstUnstableOffset == 0)
        log.state.highWatermarkUpdated(7)
        #expect(log.state.unreplicatedTransactions.map(\.producerId) == [1])
        #expect(log.state.firstUnstableOffset == 0)
        log.state.highWatermarkUpdated(8)
        #expect(log.state.firstUnstableOffset == nil)
        #expect(log.state.lastStableOffset(highWatermark: 8) == 8)
        log.data(3, seq: 1)  // 8: producer 3 starts a transaction
        #expect(log.state.lastStableOffset(highWatermark: 9) == 8)
        #expect(log.state.lastStableOffset(highWatermark: 3) == 3)
    }

    @Test("an ABORT adds an index entry with the LSO of the moment, a COMMIT or an empty transaction none")
    func commitVersusAbort() {
        var log = TestLog()
        log.data(1, seq: 0)  // 0
        log.data(2, seq: 0)  // 1
        log.data(1, seq: 1)  // 2
        let aborted = log.end(.abort, 1)  // 3
        #expect(aborted == CompletedTransaction(producerId: 1, firstOffset: 0, lastOffset: 3, isAborted: true))
        #expect(
            log.state.abortedIndex == [
                AbortedTransaction(producerId: 1, firstOffset: 0, lastOffset: 3, lastStableOffset: 1)
            ])
        log.marker(.commit, 2)  // 4
        #expect(log.state.abortedIndex.count == 1)
        log.data(3, seq: 0)  // 5
        log.marker(.abort, 3)  // 6: nothing else ongoing: LSO after the marker
        #expect(
            log.state.abortedIndex.last
                == AbortedTransaction(producerId: 3, firstOffset: 5, lastOffset: 6, lastStableOffset: 7))
        // A marker for a producer without a transaction (an empty one) ends nothing and indexes nothing.
        let none = log.end(.abort, 4, epoch: 3, coordinator: 2)  // 7
        #expect(none == nil)
        #expect(log.state.abortedIndex.count == 2)
        #expect(log.state[4]?.producerEpoch == 3 && log.state[4]?.coordinatorEpoch == 2)
        #expect(log.state[4]?.batches.isEmpty == true)
    }

    @Test("aborted-transaction queries equal a brute-force filter at every fetch offset and upper bound")
    func abortedQueries() {
        var log = TestLog()
        log.data(1, seq: 0, count: 2)  // 0-1
        log.data(2, seq: 0)  // 2
        log.plain(count: 2)  // 3-4
        log.marker(.abort, 1)  // 5
        log.data(3, seq: 0)  // 6
        log.data(1, seq: 2)  // 7
        log.marker(.commit, 3)  // 8
        log.data(2, seq: 1)  // 9
        log.marker(.abort, 2)  // 10
        log.marker(.abort, 1)  // 11
        log.data(4, seq: 0, count: 3)  // 12-14
        log.marker(.abort, 4)  // 15
        #expect(log.state.abortedIndex.map(\.producerId) == [1, 2, 1, 4])
        for fetch in 0...(log.next + 1) {
            for upper in fetch...(log.next + 1) {
                let expected = log.state.abortedIndex.filter { $0.lastOffset >= fetch && $0.firstOffset < upper }
                    .map { FetchAbortedTransaction(producerId: $0.producerId, firstOffset: $0.firstOffset) }
                #expect(
                    log.state.abortedTransactions(from: fetch, upTo: upper) == expected, "fetch \(fetch) upper \(upper)"
                )
            }
        }
        #expect(
            log.state.abortedTransactions(from: 6, upTo: 10) == [
                FetchAbortedTransaction(producerId: 2, firstOffset: 2),
                FetchAbortedTransaction(producerId: 1, firstOffset: 7),
            ])
    }

    @Test("markers: an older epoch is INVALID_PRODUCER_EPOCH, TV2 also the same epoch, an older coordinator is fenced")
    func markerFencing() {
        var log = TestLog()
        log.data(1, epoch: 2, seq: 0)  // 0
        #expect(
            rejection(log.state.checkMarker(TestLog.marker(.abort, 1, epoch: 1), transactionVersion: 0))
                == .invalidProducerEpoch)
        #expect(log.state.checkMarker(TestLog.marker(.commit, 1, epoch: 2), transactionVersion: 0) == .append)
        #expect(log.state.checkMarker(TestLog.marker(.abort, 1, epoch: 3), transactionVersion: 1) == .append)
        // TV2: the coordinator bumps the epoch for every marker; the same epoch is late while the transaction is open.
        #expect(
            rejection(log.state.checkMarker(TestLog.marker(.commit, 1, epoch: 2), transactionVersion: 2))
                == .invalidProducerEpoch)
        #expect(log.state.checkMarker(TestLog.marker(.commit, 1, epoch: 3), transactionVersion: 2) == .append)
        log.marker(.commit, 1, epoch: 3, coordinator: 5)  // 1
        #expect(log.state[1]?.producerEpoch == 3 && log.state[1]?.batches.isEmpty == true)
        #expect(log.state[1]?.coordinatorEpoch == 5)
        // ... and a retry of a marker already written once the transaction has ended.
        #expect(
            log.state.checkMarker(TestLog.marker(.commit, 1, epoch: 3, coordinator: 5), transactionVersion: 2)
                == .append)
        #expect(
            rejection(
                log.state.checkMarker(TestLog.marker(.commit, 1, epoch: 2, coordinator: 5), transactionVersion: 2))
                == .invalidProducerEpoch)
        #expect(
            rejection(
                log.state.checkMarker(TestLog.marker(.commit, 1, epoch: 4, coordinator: 4), transactionVersion: 2))
                == .transactionCoordinatorFenced)
        #expect(
            rejection(log.state.checkMarker(TestLog.marker(.abort, 1, epoch: 3, coordinator: 4), transactionVersion: 0))
                == .transactionCoordinatorFenced)
        // A producer the partition does not know: any marker.
        #expect(
            log.state.checkMarker(TestLog.marker(.abort, 9, epoch: 0, coordinator: 0), transactionVersion: 2) == .append
        )
        // Not a marker.
        #expect(
            rejection(log.state.checkMarker(TestLog.data(1, epoch: 3, seq: 0), transactionVersion: 0)) == .invalidRecord
        )
        // Data from the fenced epoch: INVALID_PRODUCER_EPOCH even when verified.
        #expect(rejection(log.state.check(TestLog.data(1, epoch: 2, seq: 1), verified: true)) == .invalidProducerEpoch)
        #expect(
            rejection(log.state.check(TestLog.data(1, epoch: 2, seq: 1, txn: false), verified: true))
                == .invalidProducerEpoch)
        // The new epoch after a TV2 marker starts at sequence 0.
        #expect(log.state.check(TestLog.data(1, epoch: 3, seq: 0), verified: true) == .append)
        #expect(
            rejection(log.state.check(TestLog.data(1, epoch: 3, seq: 1), verified: true)) == .outOfOrderSequenceNumber)
    }

    @Test(
        "KIP-890: only a batch that starts a transaction needs verification; non-transactional writes wait for the end")
    func verification() {
        var log = TestLog()
        let first = TestLog.data(1, seq: 0)
        #expect(log.state.needsVerification(producerId: 1, producerEpoch: 0))
        #expect(rejection(log.state.check(first, verified: false)) == .invalidTxnState)
        #expect(log.state.check(first, verified: true) == .append)
        log.append(first)  // 0
        #expect(log.state.hasOngoingTransaction(producerId: 1, producerEpoch: 0))
        #expect(log.state.check(TestLog.data(1, seq: 1), verified: false) == .append)
        // A retry of the stored batch is a duplicate before any transaction check.
        #expect(log.state.check(TestLog.data(1, seq: 0), verified: false) == .duplicate(log.batches[0].producerBatch))
        #expect(rejection(log.state.check(TestLog.data(1, seq: 1, txn: false), verified: true)) == .invalidTxnState)
        #expect(rejection(log.state.check(TestLog.data(1, seq: 5), verified: false)) == .outOfOrderSequenceNumber)
        log.marker(.commit, 1)  // 1 (TV0/1: same epoch, sequences continue)
        #expect(rejection(log.state.check(TestLog.data(1, seq: 1), verified: false)) == .invalidTxnState)
        #expect(log.state.check(TestLog.data(1, seq: 1), verified: true) == .append)
        #expect(log.state.check(TestLog.data(1, seq: 1, txn: false), verified: false) == .append)
        // Clients may not write control batches.
        #expect(rejection(log.state.check(TestLog.marker(.commit, 1), verified: true)) == .invalidRecord)
        // A newer epoch while a transaction of the old one is open: it needs verification, and (as Kafka's
        // ProducerAppendInfo) the open transaction continues from its first offset.
        log.data(1, seq: 1)  // 2
        #expect(log.state.needsVerification(producerId: 1, producerEpoch: 1))
        #expect(rejection(log.state.check(TestLog.data(1, epoch: 1, seq: 0), verified: false)) == .invalidTxnState)
        #expect(log.state.check(TestLog.data(1, epoch: 1, seq: 0), verified: true) == .append)
        log.data(1, epoch: 1, seq: 0)  // 3
        #expect(log.state.ongoingTransactions == [OngoingTransaction(producerId: 1, firstOffset: 2)])
        #expect(log.state[1]?.producerEpoch == 1 && log.state[1]?.currentTxnFirstOffset == 2)
        log.data(1, epoch: 1, seq: 1)  // 4
        #expect(log.state.ongoingTransactions == [OngoingTransaction(producerId: 1, firstOffset: 2)])
        // Plain producers are not checked.
        #expect(log.state.check(TestLog.data(-1, epoch: -1, seq: -1, txn: false), verified: false) == .append)
    }

    @Test("expiry never drops a producer with an ongoing transaction")
    func expiry() {
        var log = TestLog()
        log.append(TestLog.data(1, seq: 0, time: 1_000))  // transactional, stays open
        log.append(TestLog.data(2, seq: 0, txn: false, time: 1_000))
        log.append(TestLog.data(3, seq: 0, time: 1_000))
        log.append(TestLog.marker(.commit, 3, time: 1_500))
        #expect(log.state.expire(now: 100_000, expirationMs: 10_000) == 2)
        #expect(log.state[1] != nil && log.state[2] == nil && log.state[3] == nil)
        #expect(log.state.lastStableOffset(highWatermark: 4) == 0)
        log.append(TestLog.marker(.abort, 1, time: 2_000))
        #expect(log.state.expire(now: 100_000, expirationMs: 10_000) == 1)
        #expect(log.state.producers.count == 0)
        // The same rule in the plain table (a producer with an ongoing transaction in its entry).
        var table = PartitionTransactionState(replaying: log.batches.prefix(1)).producers
        #expect(table.expire(now: 100_000, expirationMs: 10_000) == 0)
        table.removeBelow(logStartOffset: 10)
        #expect(table[1]?.currentTxnFirstOffset == 0 && table[1]?.batches.isEmpty == true)
    }

    @Test("head truncation drops index entries below the log start and clamps the first unstable offset")
    func headTruncation() {
        var log = TestLog()
        log.data(1, seq: 0)  // 0
        log.marker(.abort, 1)  // 1
        log.data(2, seq: 0)  // 2
        log.data(3, seq: 0, count: 3)  // 3-5
        log.marker(.abort, 2)  // 6
        log.state.truncateHead(logStartOffset: 4)
        #expect(log.state.abortedIndex.map(\.producerId) == [2])
        #expect(
            log.state.abortedTransactions(from: 4, upTo: 7) == [FetchAbortedTransaction(producerId: 2, firstOffset: 2)])
        #expect(log.state.firstUnstableOffset == 4)
        #expect(log.state.lastStableOffset(highWatermark: 7) == 4)
        #expect(log.state.lastStableOffset(highWatermark: 3) == 3)
        log.state.truncateHead(logStartOffset: 2)  // never moves back
        #expect(log.state.logStartOffset == 4)
    }

    @Test("tail truncation reopens a transaction whose marker is cut off, from a snapshot or from the log start")
    func tailTruncation() {
        var log = TestLog()
        log.data(1, seq: 0)  // 0
        log.marker(.commit, 1)  // 1
        log.data(2, seq: 0, count: 2)  // 2-3
        let snapshot = log.state.snapshot()
        log.data(1, seq: 1)  // 4
        log.marker(.abort, 2, epoch: 1)  // 5: fences producer 2
        log.data(3, seq: 0)  // 6
        log.marker(.abort, 1)  // 7
        #expect(log.state.abortedIndex.map(\.producerId) == [2, 1])
        var cut = log.state
        cut.truncateTail(from: 5, restoring: snapshot, replaying: log.batches)
        #expect(cut == PartitionTransactionState(replaying: log.batches.prefix(4)))
        #expect(
            cut.ongoingTransactions == [
                OngoingTransaction(producerId: 2, firstOffset: 2), OngoingTransaction(producerId: 1, firstOffset: 4),
            ])
        #expect(cut.abortedIndex.isEmpty && cut.endOffset == 5)
        #expect(cut[2]?.producerEpoch == 0)
        #expect(cut.lastStableOffset(highWatermark: 5) == 2)
        var fromStart = log.state
        fromStart.truncateTail(from: 2, restoring: nil, replaying: log.batches)
        #expect(fromStart == PartitionTransactionState(replaying: log.batches.prefix(2)))
        #expect(fromStart.ongoingTransactions.isEmpty && fromStart[2] == nil)
    }

    @Test("a snapshot restores the same state, and equal states give equal snapshots")
    func snapshots() {
        var log = TestLog()
        log.data(5, seq: 0)
        log.data(2, seq: 0, txn: false)
        log.data(9, seq: 0)
        log.marker(.abort, 5, coordinator: 3)
        log.data(7, seq: 0)
        log.state.truncateHead(logStartOffset: 1)
        let snapshot = log.state.snapshot()
        #expect(snapshot.producers.map(\.producerId) == [2, 5, 7, 9])
        #expect(PartitionTransactionState(restoring: snapshot) == log.state)
        #expect(PartitionTransactionState(restoring: snapshot).snapshot() == snapshot)
    }
}
