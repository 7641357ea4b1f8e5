import SkeinModel

/// The outcome a transaction marker records: the type of its control record (the int16 of the control record key,
/// Kafka's ControlRecordType ABORT = 0, COMMIT = 1).
public enum TxnMarkerType: Int16, Hashable, Sendable, Codable {
    case abort = 0
    case commit = 1
}

/// One record batch as the partition's producer and transaction state sees it: the header's producer fields,
/// offsets and attributes, and for a control batch the type of its control record and (for a COMMIT/ABORT marker)
/// the coordinator epoch in its value. Plain values, so that this module needs no record codec: the storage layer
/// fills it from the batch header and, for a control batch, from its one control record.
public struct StoredBatch: Hashable, Sendable, Codable {
    /// -1 (no producer id) for a batch of a plain producer: it touches no producer state.
    public var producerId: Int64
    public var producerEpoch: Int16
    public var baseSequence: Int32
    /// Offsets as stored (for a batch not yet appended, -1 and its last offset delta - 1).
    public var baseOffset: Int64
    public var lastOffset: Int64
    public var maxTimestamp: Int64
    public var isTransactional: Bool
    public var isControl: Bool
    /// The control record's type (the int16 of its key) for a control batch; nil for a data batch or a control batch
    /// without records (compaction can empty one). Only 0 (ABORT) and 1 (COMMIT) concern transactions.
    public var controlType: Int16?
    /// The coordinator epoch in a COMMIT/ABORT marker's value (-1 otherwise).
    public var coordinatorEpoch: Int32

    public init(
        producerId: Int64, producerEpoch: Int16, baseSequence: Int32, baseOffset: Int64, lastOffset: Int64,
        maxTimestamp: Int64, isTransactional: Bool, isControl: Bool, controlType: Int16? = nil,
        coordinatorEpoch: Int32 = -1
    ) {
        self.producerId = producerId
        self.producerEpoch = producerEpoch
        self.baseSequence = baseSequence
        self.baseOffset = baseOffset
        self.lastOffset = lastOffset
        self.maxTimestamp = maxTimestamp
        self.isTransactional = isTransactional
        self.isControl = isControl
        self.controlType = controlType
        self.coordinatorEpoch = coordinatorEpoch
    }

    /// A data batch (`producerId` -1 for a plain producer).
    public static func data(
        producerId: Int64, producerEpoch: Int16, firstSequence: Int32, lastOffsetDelta: Int32, baseOffset: Int64,
        maxTimestamp: Int64, isTransactional: Bool
    ) -> StoredBatch {
        StoredBatch(
            producerId: producerId, producerEpoch: producerEpoch, baseSequence: firstSequence, baseOffset: baseOffset,
            lastOffset: baseOffset + Int64(lastOffsetDelta), maxTimestamp: maxTimestamp,
            isTransactional: isTransactional, isControl: false)
    }

    /// A COMMIT or ABORT marker as WriteTxnMarkers writes it: a transactional control batch of one record, with the
    /// producer's id and epoch and no sequence.
    public static func marker(
        _ type: TxnMarkerType, producerId: Int64, producerEpoch: Int16, coordinatorEpoch: Int32, offset: Int64,
        timestamp: Int64
    ) -> StoredBatch {
        StoredBatch(
            producerId: producerId, producerEpoch: producerEpoch, baseSequence: -1, baseOffset: offset,
            lastOffset: offset, maxTimestamp: timestamp, isTransactional: true, isControl: true,
            controlType: type.rawValue, coordinatorEpoch: coordinatorEpoch)
    }

    /// The marker type when this is a transaction marker (a transactional control batch with a producer id whose
    /// record is ABORT or COMMIT), else nil.
    public var markerType: TxnMarkerType? {
        guard isControl, isTransactional, producerId >= 0, let type = controlType else { return nil }
        return TxnMarkerType(rawValue: type)
    }

    /// The idempotence facts of a data batch, as `ProducerStateTable` takes them.
    public var producerBatch: ProducerBatch {
        ProducerBatch(
            producerId: producerId, producerEpoch: producerEpoch, firstSequence: baseSequence,
            lastOffsetDelta: Int32(truncatingIfNeeded: lastOffset - baseOffset), baseOffset: baseOffset,
            maxTimestamp: maxTimestamp)
    }
}

/// A transaction that has started in this partition and has no marker yet (Kafka's TxnMetadata).
public struct OngoingTransaction: Hashable, Sendable, Codable {
    public var producerId: Int64
    /// The base offset of the transaction's first batch in this partition.
    public var firstOffset: Int64

    public init(producerId: Int64, firstOffset: Int64) {
        self.producerId = producerId
        self.firstOffset = firstOffset
    }
}

/// A transaction ended by a marker (Kafka's CompletedTxn): its first offset and the marker's offset.
public struct CompletedTransaction: Hashable, Sendable, Codable {
    public var producerId: Int64
    public var firstOffset: Int64
    /// The offset of the COMMIT/ABORT marker.
    public var lastOffset: Int64
    public var isAborted: Bool

    public init(producerId: Int64, firstOffset: Int64, lastOffset: Int64, isAborted: Bool) {
        self.producerId = producerId
        self.firstOffset = firstOffset
        self.lastOffset = lastOffset
        self.isAborted = isAborted
    }
}

/// An entry of the aborted-transaction index (Kafka's AbortedTxn, the `.txnindex` record): the aborted
/// transaction's producer, its first offset, the ABORT marker's offset, and the last stable offset at the time of
/// the abort (the first offset of the oldest transaction of another producer still ongoing then, else the marker's
/// offset + 1), which lets a search stop early.
public struct AbortedTransaction: Hashable, Sendable, Codable {
    public var producerId: Int64
    public var firstOffset: Int64
    public var lastOffset: Int64
    public var lastStableOffset: Int64

    public init(producerId: Int64, firstOffset: Int64, lastOffset: Int64, lastStableOffset: Int64) {
        self.producerId = producerId
        self.firstOffset = firstOffset
        self.lastOffset = lastOffset
        self.lastStableOffset = lastStableOffset
    }
}

/// What a Fetch response lists in a partition's `aborted_transactions` for a read_committed fetch: a read_committed
/// consumer skips the transactional batches of `producerId` from `firstOffset` up to that producer's ABORT marker.
public struct FetchAbortedTransaction: Hashable, Sendable {
    public var producerId: Int64
    public var firstOffset: Int64

    public init(producerId: Int64, firstOffset: Int64) {
        self.producerId = producerId
        self.firstOffset = firstOffset
    }
}

/// One partition's producer state with transactions: Kafka's ProducerStateManager and the partition's transaction
/// index (`.txnindex`), for read_committed. It wraps a `ProducerStateTable` (idempotence: epochs, sequences,
/// duplicates) and adds per producer the ongoing transaction and the coordinator epoch of its last marker, the
/// ongoing transactions by first offset, the completed transactions whose marker the high watermark has not passed
/// yet, and the aborted-transaction index.
///
/// - Every stored batch, as leader or follower or while rebuilding, goes through `apply` in offset order; the state is
///   a function of the log, so every replica holds the same state for the same log.
/// - The leader asks `check` (a produced batch) or `checkMarker` (a WriteTxnMarkers marker) before appending; neither
///   changes anything.
/// - Last stable offset: `lastStableOffset(highWatermark:)` = min(first unstable offset, high watermark), where an
///   offset is unstable while its transaction is undecided or decided by a marker at or above the high watermark.
/// - Aborted index: `abortedTransactions(from:upTo:)` answers a read_committed fetch.
/// - Log truncation cannot be undone in place (producer epochs and sequences of the removed batches are gone):
///   `truncateTail(from:restoring:replaying:)` restores a snapshot and replays the log up to the truncation point, as
///   Kafka's truncateAndReload. `truncateHead(logStartOffset:)` drops index entries below the log start.
/// - `snapshot()` / `init(restoring:)` persist and reload the whole state (entries sorted, so equal states give equal
///   snapshots).
///
/// Kafka's rules (UnifiedLog.analyzeAndValidateProducerState, ProducerAppendInfo, ProducerStateManager):
/// - a transactional data batch starts a transaction at its base offset when its producer has none; a COMMIT/ABORT
///   marker ends the producer's transaction (a marker without one, an empty transaction, changes no index);
/// - a produced batch that repeats one of the producer's last five (same epoch and sequences) is a duplicate, before
///   any other check;
/// - KIP-890: a transactional batch that does not continue an ongoing transaction of the same producer epoch is
///   INVALID_PRODUCER_EPOCH when its epoch is older than the producer's, else INVALID_TXN_STATE ("Record was not part
///   of an ongoing transaction") unless the coordinator verified the partition is in the transaction;
/// - then the idempotence rules of `ProducerStateTable` (epoch, sequence);
/// - a non-transactional batch from a producer with an ongoing transaction is INVALID_TXN_STATE;
/// - a marker with an older epoch than the producer's is INVALID_PRODUCER_EPOCH (transaction version 2: also the same
///   epoch, unless the producer has no ongoing transaction: a retried marker of a transaction already ended); a
///   marker from an older coordinator epoch than the producer's last marker is TRANSACTION_COORDINATOR_FENCED;
/// - a marker sets the producer's epoch (a new epoch clears its batches) and coordinator epoch;
/// - a producer with an ongoing transaction never expires.
public struct PartitionTransactionState: Hashable, Sendable {
    /// Per producer: epoch, last five batches, coordinator epoch, ongoing transaction.
    public private(set) var producers: ProducerStateTable
    /// Transactions without a marker, by first offset.
    public private(set) var ongoingTransactions: [OngoingTransaction]
    /// Transactions ended by a marker that `highWatermarkUpdated` has not seen replicated yet, by marker offset:
    /// they keep the last stable offset at their first offset until the high watermark passes their marker.
    public private(set) var unreplicatedTransactions: [CompletedTransaction]
    /// The aborted-transaction index, by marker offset.
    public private(set) var abortedIndex: [AbortedTransaction]
    /// The log start offset as last set by `truncateHead` (or at creation): the first unstable offset is never
    /// below it.
    public private(set) var logStartOffset: Int64
    /// The offset after the last batch applied (Kafka's mapEndOffset): where replay from this state resumes.
    public private(set) var endOffset: Int64

    /// An empty state for a log that starts at `logStartOffset`.
    public init(logStartOffset: Int64 = 0) {
        producers = ProducerStateTable()
        ongoingTransactions = []
        unreplicatedTransactions = []
        abortedIndex = []
        self.logStartOffset = logStartOffset
        endOffset = logStartOffset
    }

    public subscript(producerId: Int64) -> ProducerEntry? { producers[producerId] }

    // MARK: queries

    /// True when the producer has an ongoing transaction begun at this epoch (Kafka's
    /// UnifiedLog.hasOngoingTransaction): then its transactional batches need no verification by the coordinator.
    public func hasOngoingTransaction(producerId: Int64, producerEpoch: Int16) -> Bool {
        guard let entry = producers[producerId] else { return false }
        return entry.currentTxnFirstOffset != nil && entry.producerEpoch == producerEpoch
    }

    /// True when a transactional batch of this producer and epoch would start a transaction here, so that KIP-890
    /// wants the coordinator to verify first (AddPartitionsToTxn with verifyOnly) that the partition is in it.
    public func needsVerification(producerId: Int64, producerEpoch: Int16) -> Bool {
        !hasOngoingTransaction(producerId: producerId, producerEpoch: producerEpoch)
    }

    /// The first offset of the oldest ongoing transaction (Kafka's firstUndecidedOffset), if any.
    public var firstUndecidedOffset: Int64? { ongoingTransactions.first?.firstOffset }

    /// The first offset that is not stable: that of the oldest transaction that is ongoing, or ended by a marker the
    /// high watermark (as last given to `highWatermarkUpdated`) has not passed; never below the log start offset;
    /// nil when there is none.
    public var firstUnstableOffset: Int64? {
        let first = ([firstUndecidedOffset].compactMap { $0 } + unreplicatedTransactions.map(\.firstOffset)).min()
        return first.map { max($0, logStartOffset) }
    }

    /// The last stable offset for this high watermark: a read_committed fetch reads below it. It is the first offset
    /// of the oldest transaction that is ongoing or whose marker is at or above `highWatermark` (but not below the log
    /// start offset), or the high watermark when that is lower or there is none.
    public func lastStableOffset(highWatermark: Int64) -> Int64 {
        var first = firstUndecidedOffset ?? Int64.max
        let unreplicated = Self.firstIndex(in: unreplicatedTransactions, lastOffsetAtLeast: highWatermark)
        for txn in unreplicatedTransactions[unreplicated...] { first = min(first, txn.firstOffset) }
        return min(max(first, logStartOffset), highWatermark)
    }

    /// The aborted transactions a read_committed fetch of `fetchOffset` ..< `upperBoundOffset` must list (Kafka's
    /// TransactionIndex.collectAbortedTxns): those whose ABORT marker is at or after `fetchOffset` and whose first
    /// offset is before `upperBoundOffset`, oldest marker first. `upperBoundOffset` is the offset after the last batch
    /// the fetch returns (at most the last stable offset).
    public func abortedTransactions(from fetchOffset: Int64, upTo upperBoundOffset: Int64) -> [FetchAbortedTransaction]
    {
        var result: [FetchAbortedTransaction] = []
        for txn in abortedIndex[Self.firstIndex(in: abortedIndex, lastOffsetAtLeast: fetchOffset)...] {
            if txn.firstOffset < upperBoundOffset {
                result.append(FetchAbortedTransaction(producerId: txn.producerId, firstOffset: txn.firstOffset))
            }
            // Every later entry's transaction starts at or after this entry's last stable offset.
            if txn.lastStableOffset >= upperBoundOffset { break }
        }
        return result
    }

    // MARK: leader checks

    /// The leader's check of a data batch a client produced (nothing changes). `verified`: the transaction
    /// coordinator has confirmed (KIP-890, AddPartitionsToTxn verifyOnly, guarded against a marker written since)
    /// that this partition is in the producer's ongoing transaction at this epoch; it matters only for a batch that
    /// starts a transaction here (`needsVerification`). Pass true when transaction.partition.verification.enable is
    /// false. Clients may not produce control batches (INVALID_RECORD).
    public func check(_ batch: StoredBatch, verified: Bool) -> ProducerVerdict {
        if batch.isControl {
            return .rejected(.invalidRecord, "Clients are not allowed to write control records.")
        }
        guard batch.producerId >= 0 else { return .append }
        let produced = batch.producerBatch
        let entry = producers[batch.producerId]
        if let entry, entry.producerEpoch == produced.producerEpoch,
            let original = entry.batches.first(where: {
                $0.firstSequence == produced.firstSequence && $0.lastSequence == produced.lastSequence
            })
        {
            return .duplicate(original)
        }
        if batch.isTransactional && needsVerification(producerId: batch.producerId, producerEpoch: batch.producerEpoch)
        {
            if let entry, batch.producerEpoch < entry.producerEpoch {
                return .rejected(
                    .invalidProducerEpoch,
                    "Epoch of producer \(batch.producerId) is \(batch.producerEpoch), which is smaller than the last seen epoch \(entry.producerEpoch)."
                )
            }
            if !verified {
                return .rejected(.invalidTxnState, "Record was not part of an ongoing transaction.")
            }
        }
        let verdict = producers.check(produced)
        guard verdict == .append else { return verdict }
        if !batch.isTransactional, entry?.currentTxnFirstOffset != nil {
            return .rejected(
                .invalidTxnState,
                "Expected transactional write from producer \(batch.producerId), which has an ongoing transaction.")
        }
        return .append
    }

    /// The check of a COMMIT/ABORT marker that WriteTxnMarkers asks to write (nothing changes): `.append` or
    /// `.rejected` with INVALID_PRODUCER_EPOCH (the marker's epoch is older than the producer's; with
    /// `transactionVersion` 2 also the same epoch while a transaction is ongoing) or TRANSACTION_COORDINATOR_FENCED
    /// (an older coordinator epoch than the producer's last marker). `transactionVersion` is the one in the request.
    public func checkMarker(_ marker: StoredBatch, transactionVersion: Int16) -> ProducerVerdict {
        guard marker.markerType != nil else {
            return .rejected(.invalidRecord, "Not a transaction marker: a transactional COMMIT or ABORT control batch.")
        }
        guard let entry = producers[marker.producerId] else { return .append }
        let current = entry.producerEpoch
        if transactionVersion >= 2 {
            // Transaction version 2 bumps the epoch at every marker; the same epoch is a retry of a marker already
            // written when no transaction is ongoing (KAFKA-19999), else a late marker.
            let retry = marker.producerEpoch == current && entry.currentTxnFirstOffset == nil
            if marker.producerEpoch <= current && !retry {
                return .rejected(
                    .invalidProducerEpoch,
                    "Epoch of producer \(marker.producerId) is \(marker.producerEpoch), which is <= the last seen epoch \(current) (TV\(transactionVersion))."
                )
            }
        } else if marker.producerEpoch < current {
            return .rejected(
                .invalidProducerEpoch,
                "Epoch of producer \(marker.producerId) is \(marker.producerEpoch), which is < the last seen epoch \(current) (TV\(transactionVersion))."
            )
        }
        if entry.coordinatorEpoch > marker.coordinatorEpoch {
            return .rejected(
                .transactionCoordinatorFenced,
                "Invalid coordinator epoch for producer \(marker.producerId): \(marker.coordinatorEpoch) (zombie), \(entry.coordinatorEpoch) (current)."
            )
        }
        return .append
    }

    // MARK: updates

    /// Records a batch stored in the log (as leader or follower, or while rebuilding), in offset order. A data
    /// batch with a producer id updates the producer's entry and, when transactional, starts the producer's
    /// transaction if it has none; a COMMIT/ABORT marker ends it (an ABORT adds an aborted-index entry) and sets the
    /// producer's epoch and coordinator epoch. Other batches only advance `endOffset`. Total, as Kafka's replication
    /// path: checks belong to the leader. Returns the transaction the batch ended, if any.
    @discardableResult
    public mutating func apply(_ batch: StoredBatch) -> CompletedTransaction? {
        endOffset = max(endOffset, batch.lastOffset + 1)
        guard batch.producerId >= 0 else { return nil }
        if let type = batch.markerType { return applyMarker(batch, type: type) }
        guard !batch.isControl else { return nil }
        producers.apply(batch.producerBatch)
        if batch.isTransactional, producers.producers[batch.producerId]?.currentTxnFirstOffset == nil {
            producers.producers[batch.producerId]?.currentTxnFirstOffset = batch.baseOffset
            let txn = OngoingTransaction(producerId: batch.producerId, firstOffset: batch.baseOffset)
            let at = ongoingTransactions.firstIndex { $0.firstOffset > batch.baseOffset } ?? ongoingTransactions.count
            ongoingTransactions.insert(txn, at: at)
        }
        return nil
    }

    private mutating func applyMarker(_ marker: StoredBatch, type: TxnMarkerType) -> CompletedTransaction? {
        let producerId = marker.producerId
        var entry =
            producers[producerId]
            ?? ProducerEntry(producerEpoch: marker.producerEpoch, batches: [], lastTimestamp: marker.maxTimestamp)
        var completed: CompletedTransaction?
        if let first = entry.currentTxnFirstOffset {
            let txn = CompletedTransaction(
                producerId: producerId, firstOffset: first, lastOffset: marker.baseOffset, isAborted: type == .abort)
            if txn.isAborted {
                // Kafka's ProducerStateManager.lastStableOffset(completedTxn): the oldest other ongoing transaction.
                let lso =
                    ongoingTransactions.first { $0.producerId != producerId }?.firstOffset ?? txn.lastOffset + 1
                abortedIndex.append(
                    AbortedTransaction(
                        producerId: producerId, firstOffset: first, lastOffset: txn.lastOffset, lastStableOffset: lso))
            }
            ongoingTransactions.removeAll { $0.producerId == producerId }
            unreplicatedTransactions.append(txn)
            completed = txn
        }
        if entry.producerEpoch != marker.producerEpoch {
            entry.producerEpoch = marker.producerEpoch
            entry.batches = []
        }
        entry.coordinatorEpoch = marker.coordinatorEpoch
        entry.currentTxnFirstOffset = nil
        entry.lastTimestamp = max(entry.lastTimestamp, marker.maxTimestamp)
        producers.producers[producerId] = entry
        return completed
    }

    /// The high watermark moved to `highWatermark`: completed transactions whose marker is below it are replicated
    /// and stop holding the first unstable offset (Kafka's onHighWatermarkUpdated). Only frees memory for
    /// `lastStableOffset(highWatermark:)` with a high watermark at least this one.
    public mutating func highWatermarkUpdated(_ highWatermark: Int64) {
        unreplicatedTransactions.removeFirst(
            Self.firstIndex(in: unreplicatedTransactions, lastOffsetAtLeast: highWatermark))
    }

    /// Drops producers idle for `expirationMs` (producer.id.expiration.ms), except those with an ongoing
    /// transaction; returns how many.
    @discardableResult
    public mutating func expire(now: Int64, expirationMs: Int64) -> Int {
        producers.expire(now: now, expirationMs: expirationMs)
    }

    /// The log start offset moved up (retention, DeleteRecords): aborted-index entries and completed transactions
    /// whose marker is below it are dropped, and the first unstable offset is not reported below it. Producer
    /// entries stay until they expire, as in Kafka (a rebuild from the remaining log would not know producers whose
    /// batches all lie below it).
    public mutating func truncateHead(logStartOffset newStart: Int64) {
        guard newStart > logStartOffset else { return }
        logStartOffset = newStart
        endOffset = max(endOffset, newStart)
        abortedIndex.removeFirst(Self.firstIndex(in: abortedIndex, lastOffsetAtLeast: newStart))
        unreplicatedTransactions.removeFirst(Self.firstIndex(in: unreplicatedTransactions, lastOffsetAtLeast: newStart))
    }

    /// Forgets producers whose batches all lie below the log start offset (except those with an ongoing
    /// transaction), as a rebuild from the remaining log would: so that every replica's state is a function of its
    /// log, whether or not it rebuilt it.
    public mutating func removeProducersBelowLogStart() {
        producers.removeBelow(logStartOffset: logStartOffset)
    }

    /// Log truncation: the log now ends before `offset`. What batches at or above it did to producers (epochs,
    /// sequences, transactions begun or ended) cannot be undone in place, so the state is rebuilt as Kafka's
    /// truncateAndReload does: from `snapshot` (taken with `endOffset` at or below `offset`; nil = empty, from the
    /// log start offset) by applying, in order, the log's batches from the snapshot's `endOffset` up to `offset`
    /// (`replaying` may hold more: batches outside that range are skipped). The log start offset is kept.
    public mutating func truncateTail(
        from offset: Int64, restoring snapshot: PartitionTransactionSnapshot?,
        replaying batches: some Sequence<StoredBatch>
    ) {
        precondition(snapshot.map { $0.endOffset <= offset } ?? true, "snapshot taken after the truncation point")
        let start = logStartOffset
        var state =
            snapshot.map(PartitionTransactionState.init(restoring:)) ?? PartitionTransactionState(logStartOffset: start)
        for batch in batches where batch.lastOffset >= state.endOffset && batch.baseOffset < offset {
            state.apply(batch)
        }
        state.truncateHead(logStartOffset: start)
        self = state
    }

    // MARK: snapshots

    /// The whole state as plain sorted values, for persistence.
    public func snapshot() -> PartitionTransactionSnapshot {
        PartitionTransactionSnapshot(
            logStartOffset: logStartOffset, endOffset: endOffset,
            producers: producers.producers.keys.sorted().map {
                PartitionTransactionSnapshot.Producer(producerId: $0, entry: producers.producers[$0]!)
            },
            unreplicatedTransactions: unreplicatedTransactions, abortedTransactions: abortedIndex)
    }

    /// The state a snapshot was taken of; ongoing transactions come from the producers' entries.
    public init(restoring snapshot: PartitionTransactionSnapshot) {
        var table: [Int64: ProducerEntry] = [:]
        var ongoing: [OngoingTransaction] = []
        for producer in snapshot.producers {
            table[producer.producerId] = producer.entry
            if let first = producer.entry.currentTxnFirstOffset {
                ongoing.append(OngoingTransaction(producerId: producer.producerId, firstOffset: first))
            }
        }
        producers = ProducerStateTable(producers: table)
        ongoingTransactions = ongoing.sorted { ($0.firstOffset, $0.producerId) < ($1.firstOffset, $1.producerId) }
        unreplicatedTransactions = snapshot.unreplicatedTransactions
        abortedIndex = snapshot.abortedTransactions
        logStartOffset = snapshot.logStartOffset
        endOffset = snapshot.endOffset
    }

    /// The state of a log rebuilt from its batches (in offset order, from `logStartOffset`), as a replica does
    /// without a snapshot.
    public init(logStartOffset: Int64 = 0, replaying batches: some Sequence<StoredBatch>) {
        self.init(logStartOffset: logStartOffset)
        for batch in batches where batch.lastOffset >= logStartOffset { apply(batch) }
    }

    /// The index of the first element whose lastOffset is at least `offset` (elements sorted by lastOffset).
    private static func firstIndex<T: MarkerOrdered>(in items: [T], lastOffsetAtLeast offset: Int64) -> Int {
        var low = 0, high = items.count
        while low < high {
            let mid = (low + high) / 2
            if items[mid].lastOffset < offset { low = mid + 1 } else { high = mid }
        }
        return low
    }
}

private protocol MarkerOrdered { var lastOffset: Int64 { get } }
extension CompletedTransaction: MarkerOrdered {}
extension AbortedTransaction: MarkerOrdered {}

/// A persisted `PartitionTransactionState`: plain values, producers sorted by id, so that equal states have equal
/// snapshots. `endOffset` is where replay of the log resumes after `PartitionTransactionState(restoring:)`.
public struct PartitionTransactionSnapshot: Hashable, Sendable, Codable {
    public struct Producer: Hashable, Sendable, Codable {
        public var producerId: Int64
        public var entry: ProducerEntry

        public init(producerId: Int64, entry: ProducerEntry) {
            self.producerId = producerId
            self.entry = entry
        }
    }

    public var logStartOffset: Int64
    public var endOffset: Int64
    public var producers: [Producer]
    public var unreplicatedTransactions: [CompletedTransaction]
    public var abortedTransactions: [AbortedTransaction]

    public init(
        logStartOffset: Int64, endOffset: Int64, producers: [Producer],
        unreplicatedTransactions: [CompletedTransaction],
        abortedTransactions: [AbortedTransaction]
    ) {
        self.logStartOffset = logStartOffset
        self.endOffset = endOffset
        self.producers = producers
        self.unreplicatedTransactions = unreplicatedTransactions
        self.abortedTransactions = abortedTransactions
    }
}

/// Who wrote a batch the leader is about to append, which decides the check it gets (Kafka's AppendOrigin).
public enum BatchOrigin: Hashable, Sendable {
    /// A client's Produce. `verified`: for a transactional batch that would start a transaction here, the
    /// transaction coordinator has confirmed that the partition is in the producer's transaction (KIP-890).
    case client(verified: Bool)
    /// A coordinator's own records (a TxnOffsetCommit's transactional batch in `__consumer_offsets`): only the
    /// producer epoch is checked, as Kafka skips the sequence check for AppendOrigin.COORDINATOR.
    case coordinator
    /// A COMMIT/ABORT marker from WriteTxnMarkers, with the request's transaction version.
    case marker(transactionVersion: Int16)
}

extension PartitionTransactionState {
    /// The leader's check of a batch by its origin (nothing changes): `check(_:verified:)` for a client's batch,
    /// `checkMarker(_:transactionVersion:)` for a marker, the producer epoch alone for a coordinator's batch.
    public func check(_ batch: StoredBatch, origin: BatchOrigin) -> ProducerVerdict {
        switch origin {
        case .client(let verified):
            return check(batch, verified: verified)
        case .marker(let transactionVersion):
            return checkMarker(batch, transactionVersion: transactionVersion)
        case .coordinator:
            if let entry = producers[batch.producerId], batch.producerEpoch < entry.producerEpoch {
                return .rejected(
                    .invalidProducerEpoch,
                    "Epoch \(batch.producerEpoch) of producer \(batch.producerId) is older than its current epoch \(entry.producerEpoch)."
                )
            }
            return .append
        }
    }
}
