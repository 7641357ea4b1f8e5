/// When the log calls fsync on its segment files.
///
/// The default is `.never`: the data a `write` hands to the kernel survives a crash of the process (SIGKILL
/// included), because it sits in the page cache, which belongs to the kernel; only a crash of the machine or
/// power loss can lose it. Skein, like Kafka, relies on replication for that case: an acks=all write is on a
/// majority of nodes before it is acknowledged. Topics that want the single-node guarantee too choose
/// `.everyAppend` (Kafka's flush.messages=1) or bound the loss window with `.interval`.
public enum FsyncPolicy: Hashable, Sendable {
    /// fsync the segment after every append, before `append` returns.
    case everyAppend
    /// fsync on an append when at least this many milliseconds passed since the last fsync (Kafka's
    /// flush.ms). There is no background timer: an idle log flushes on `flush()`, roll and `close()`.
    case interval(ms: Int64)
    /// Leave write-back to the kernel; fsync only on `flush()` and `close()`.
    case never
}

/// The per-topic settings of a partition's log, with Kafka's defaults.
public struct LogConfig: Hashable, Sendable {
    /// segment.bytes: a segment is rolled before a batch would make it larger than this.
    public var segmentBytes: Int
    /// segment.ms: a non-empty segment older than this is rolled at the next append.
    public var segmentMs: Int64
    /// retention.ms: segments whose largest timestamp is older than this are deleted; -1 = keep forever.
    public var retentionMs: Int64
    /// retention.bytes: oldest segments are deleted while the log is larger than this; -1 = unlimited.
    public var retentionBytes: Int64
    /// index.interval.bytes: the offset index gets an entry every this many bytes of log.
    public var indexIntervalBytes: Int
    /// max.message.bytes: the largest batch (after compression, whole batch) an append accepts.
    public var maxMessageBytes: Int
    /// When segment files are fsynced; see `FsyncPolicy`.
    public var fsyncPolicy: FsyncPolicy
    /// producer.id.expiration.ms: a producer whose newest batch is older than this is forgotten (its next batch
    /// is accepted at any sequence), so that idle producers do not accumulate.
    public var producerIdExpirationMs: Int64

    public init(
        segmentBytes: Int = 1 << 30, segmentMs: Int64 = 7 * 24 * 3_600_000, retentionMs: Int64 = 7 * 24 * 3_600_000,
        retentionBytes: Int64 = -1, indexIntervalBytes: Int = 4096, maxMessageBytes: Int = 1_048_588,
        fsyncPolicy: FsyncPolicy = .never, producerIdExpirationMs: Int64 = 86_400_000
    ) {
        self.producerIdExpirationMs = producerIdExpirationMs
        self.segmentBytes = segmentBytes
        self.segmentMs = segmentMs
        self.retentionMs = retentionMs
        self.retentionBytes = retentionBytes
        self.indexIntervalBytes = indexIntervalBytes
        self.maxMessageBytes = maxMessageBytes
        self.fsyncPolicy = fsyncPolicy
    }
}
