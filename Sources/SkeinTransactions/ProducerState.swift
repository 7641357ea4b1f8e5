import SkeinModel

/// The idempotence-relevant facts of one record batch, as its header carries them (and where it landed).
public struct ProducerBatch: Hashable, Sendable, Codable {
    public var producerId: Int64
    public var producerEpoch: Int16
    /// The sequence of the first record and of the last (wrapping past Int32.max to 0, as Kafka's do).
    public var firstSequence: Int32
    public var lastSequence: Int32
    /// Offsets as stored (for a batch not yet appended, the leader fills them in when it appends).
    public var baseOffset: Int64
    public var lastOffset: Int64
    /// The batch's maxTimestamp: producer-state expiry counts from the newest one of a producer.
    public var maxTimestamp: Int64

    public init(
        producerId: Int64, producerEpoch: Int16, firstSequence: Int32, lastOffsetDelta: Int32, baseOffset: Int64,
        maxTimestamp: Int64
    ) {
        self.producerId = producerId
        self.producerEpoch = producerEpoch
        self.firstSequence = firstSequence
        self.lastSequence = ProducerStateTable.sequence(firstSequence, plus: lastOffsetDelta)
        self.baseOffset = baseOffset
        self.lastOffset = baseOffset + Int64(lastOffsetDelta)
        self.maxTimestamp = maxTimestamp
    }
}

/// What the leader does with a batch an idempotent producer sent.
public enum ProducerVerdict: Hashable, Sendable {
    /// In sequence (or from a producer this partition does not know): append it.
    case append
    /// The same batch (same epoch and sequence range) is already in the log, at these offsets: answer with
    /// them and append nothing (a retry after a lost response).
    case duplicate(ProducerBatch)
    /// Refused with Kafka's error and message.
    case rejected(KafkaErrorCode, String)
}

/// One producer's entry: its epoch and the metadata of its last (up to) five batches, newest last; with
/// transactions (`PartitionTransactionState`) also the coordinator epoch of its last marker and the first offset of
/// its ongoing transaction (Kafka's ProducerStateEntry).
public struct ProducerEntry: Hashable, Sendable, Codable {
    public var producerEpoch: Int16
    public var batches: [ProducerBatch]
    /// The newest batch's (or marker's) maxTimestamp.
    public var lastTimestamp: Int64
    /// The coordinator epoch of the producer's last COMMIT/ABORT marker (-1: none yet).
    public var coordinatorEpoch: Int32 = -1
    /// The offset of the first batch of the producer's ongoing transaction, nil when none is open.
    public var currentTxnFirstOffset: Int64? = nil
    public var lastSequence: Int32 { batches.last?.lastSequence ?? -1 }
    public var lastOffset: Int64 { batches.last?.lastOffset ?? -1 }
}

/// The producer state of one partition (Kafka's ProducerStateManager, without transactions; those are added by
/// `PartitionTransactionState`, which wraps this table): for every
/// producer id that wrote to it, the epoch and the last five batches. The leader checks each idempotent batch
/// against it before appending; every replica applies every stored batch to it, so a new leader holds the same
/// state for the same log. Pure: it is rebuilt from the log's batch headers after a restart or truncation.
///
/// Kafka's rules (ProducerStateManager / ProducerAppendInfo):
/// - a batch equal in epoch and sequence range to one of the producer's last five is a duplicate;
/// - an epoch older than the producer's is INVALID_PRODUCER_EPOCH;
/// - a newer epoch must start at sequence 0;
/// - the same epoch must continue at the last sequence + 1 (wrapping to 0 after Int32.max), else
///   OUT_OF_ORDER_SEQUENCE_NUMBER;
/// - a producer the partition has no entry for (new, or expired, or its batches deleted by retention) is accepted
///   at any sequence (KIP-360).
public struct ProducerStateTable: Hashable, Sendable {
    /// Batches remembered per producer for duplicate detection (Kafka's, and what clients keep in flight).
    public static let batchesRetained = 5

    public internal(set) var producers: [Int64: ProducerEntry] = [:]

    public init() {}

    init(producers: [Int64: ProducerEntry]) { self.producers = producers }

    public var count: Int { producers.count }
    public subscript(producerId: Int64) -> ProducerEntry? { producers[producerId] }

    /// `first + delta`, wrapping past Int32.max to 0 as producers number their records.
    public static func sequence(_ first: Int32, plus delta: Int32) -> Int32 {
        let sum = Int64(first) + Int64(delta)
        return sum > Int64(Int32.max) ? Int32(sum - Int64(Int32.max) - 1) : Int32(sum)
    }

    static func inSequence(last: Int32, next: Int32) -> Bool {
        next == last &+ 1 || (next == 0 && last == Int32.max)
    }

    /// The leader's check of a batch from a client (nothing changes).
    public func check(_ batch: ProducerBatch) -> ProducerVerdict {
        guard let entry = producers[batch.producerId] else { return .append }
        if batch.producerEpoch == entry.producerEpoch,
            let original = entry.batches.first(where: {
                $0.firstSequence == batch.firstSequence && $0.lastSequence == batch.lastSequence
            })
        {
            return .duplicate(original)
        }
        if batch.producerEpoch < entry.producerEpoch {
            return .rejected(
                .invalidProducerEpoch,
                "Epoch \(batch.producerEpoch) of producer \(batch.producerId) is older than its current epoch \(entry.producerEpoch)."
            )
        }
        if batch.producerEpoch > entry.producerEpoch {
            guard batch.firstSequence == 0 else {
                return .rejected(
                    .outOfOrderSequenceNumber,
                    "Invalid sequence \(batch.firstSequence) for new epoch \(batch.producerEpoch) of producer \(batch.producerId): a new epoch starts at 0."
                )
            }
            return .append
        }
        guard Self.inSequence(last: entry.lastSequence, next: batch.firstSequence) else {
            return .rejected(
                .outOfOrderSequenceNumber,
                "Out of order sequence for producer \(batch.producerId) epoch \(batch.producerEpoch): got \(batch.firstSequence), expected \(ProducerStateTable.sequence(entry.lastSequence, plus: 1))."
            )
        }
        return .append
    }

    /// Records a batch stored in the log (as leader or follower, or while rebuilding from the log): a new epoch
    /// replaces the producer's batches, the same epoch adds to them. The transaction fields (coordinator epoch,
    /// ongoing transaction) survive an epoch change, as Kafka's ProducerStateEntry.maybeUpdateProducerEpoch.
    public mutating func apply(_ batch: ProducerBatch) {
        var entry =
            producers[batch.producerId]
            ?? ProducerEntry(producerEpoch: batch.producerEpoch, batches: [], lastTimestamp: batch.maxTimestamp)
        if entry.producerEpoch != batch.producerEpoch {
            entry.producerEpoch = batch.producerEpoch
            entry.batches = []
            entry.lastTimestamp = batch.maxTimestamp
        }
        entry.batches.append(batch)
        if entry.batches.count > Self.batchesRetained { entry.batches.removeFirst() }
        entry.lastTimestamp = max(entry.lastTimestamp, batch.maxTimestamp)
        producers[batch.producerId] = entry
    }

    /// Drops producers whose newest batch is more than `expirationMs` older than `now`
    /// (producer.id.expiration.ms); returns how many. A producer with an ongoing transaction is never dropped
    /// (Kafka's ProducerStateManager.isProducerExpired): its transaction still holds the last stable offset.
    @discardableResult
    public mutating func expire(now: Int64, expirationMs: Int64) -> Int {
        let before = producers.count
        producers = producers.filter {
            $0.value.currentTxnFirstOffset != nil || now - $0.value.lastTimestamp < expirationMs
        }
        return before - producers.count
    }

    /// Forgets batches that lie wholly below the log start offset (deleted by retention or DeleteRecords), and
    /// producers left with none, as a rebuild from the remaining log would (except a producer with an ongoing
    /// transaction, which keeps its entry so that the transaction is not lost).
    public mutating func removeBelow(logStartOffset: Int64) {
        for (id, entry) in producers where entry.batches.first.map({ $0.lastOffset < logStartOffset }) ?? true {
            var kept = entry
            kept.batches.removeAll { $0.lastOffset < logStartOffset }
            producers[id] = kept.batches.isEmpty && kept.currentTxnFirstOffset == nil ? nil : kept
        }
    }

    public mutating func removeAll() { producers.removeAll() }
}
