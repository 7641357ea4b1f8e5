/// Broker settings of the transaction coordinator, with Kafka's names and defaults.
public struct TransactionCoordinatorConfig: Hashable, Sendable {
    /// transaction.max.timeout.ms: the largest transaction timeout a producer may ask for.
    public var transactionMaxTimeoutMs: Int32 = 900_000
    /// transactional.id.expiration.ms: how long an idle transactional id (Empty or Complete*) is kept.
    public var transactionalIdExpirationMs: Int64 = 604_800_000
    /// transaction.abort.timed.out.transaction.cleanup.interval.ms: how often timed-out transactions are aborted.
    public var abortTimedOutTransactionCleanupIntervalMs: Int64 = 10_000
    /// transaction.remove.expired.transaction.cleanup.interval.ms: how often expired transactional ids are removed.
    public var removeExpiredTransactionalIdCleanupIntervalMs: Int64 = 3_600_000
    /// offsets.topic.num.partitions: AddOffsetsToTxn adds partition `abs(hash(groupId)) % count` of
    /// `__consumer_offsets`.
    public var offsetsTopicPartitionCount: Int32 = 50
    /// The cluster's finalized `transaction.version` feature level (0-2). Level 1+ writes TransactionLogValue v1
    /// (flexible, with the tagged producer ids and client version); level 2 lets EndTxn v5+ bump the epoch at
    /// every transaction end (KIP-890 part 2) and makes coordinator-initiated aborts bump it as such an EndTxn does.
    public var transactionVersionLevel: Int16 = 2
    /// Kafka's prefetch threshold: a new producer id block is requested once 90% of the current one is used.
    public var producerIdPrefetchRatio: Double = 0.9

    public init() {}

    /// TransactionLogValue version written at this feature level.
    var valueVersion: Int16 { transactionVersionLevel >= 1 ? 1 : 0 }
}
