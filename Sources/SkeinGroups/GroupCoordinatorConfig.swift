/// Broker settings of the group coordinator, with Kafka's names and defaults.
public struct GroupCoordinatorConfig: Hashable, Sendable {
    /// group.min.session.timeout.ms
    public var groupMinSessionTimeoutMs: Int32 = 6000
    /// group.max.session.timeout.ms
    public var groupMaxSessionTimeoutMs: Int32 = 1_800_000
    /// group.initial.rebalance.delay.ms
    public var groupInitialRebalanceDelayMs: Int32 = 3000
    /// group.max.size
    public var groupMaxSize: Int = Int(Int32.max)
    /// offset.metadata.max.bytes
    public var offsetMetadataMaxBytes: Int = 4096
    /// offsets.retention.minutes, in ms (default 7 days).
    public var offsetsRetentionMs: Int64 = 10080 * 60 * 1000
    /// offsets.retention.check.interval.ms
    public var offsetsRetentionCheckIntervalMs: Int64 = 600_000
    /// How long a new member's JoinGroup may wait in a rebalance (Kafka's NewMemberJoinTimeoutMs, 5 minutes).
    public var newMemberJoinTimeoutMs: Int32 = 300_000
    /// group.consumer.session.timeout.ms (KIP-848)
    public var consumerGroupSessionTimeoutMs: Int32 = 45000
    /// group.consumer.heartbeat.interval.ms (KIP-848)
    public var consumerGroupHeartbeatIntervalMs: Int32 = 5000
    /// group.consumer.max.size (KIP-848)
    public var consumerGroupMaxSize: Int = Int(Int32.max)
    /// group.consumer.assignors (KIP-848); the first is the default. Known: "uniform", "range".
    public var consumerGroupAssignors: [String] = ["uniform", "range"]

    public init() {}
}
