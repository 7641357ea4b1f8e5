/// A topic partition.
public struct TopicPartition: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The topic name.
    public var topic: String
    /// The partition index.
    public var partition: Int32

    public init(_ topic: String, _ partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    /// Orders by topic, then partition.
    public static func < (lhs: TopicPartition, rhs: TopicPartition) -> Bool {
        lhs.topic == rhs.topic ? lhs.partition < rhs.partition : lhs.topic < rhs.topic
    }

    public var description: String { "\(topic)-\(partition)" }
}

/// A committed offset (Kafka's `OffsetAndMetadata` with its commit and expire timestamps).
public struct OffsetAndMetadata: Hashable, Sendable {
    /// The committed offset.
    public var offset: Int64
    /// The leader epoch of the last consumed record, -1 when unknown.
    public var leaderEpoch: Int32
    /// Client metadata ("" when the client sent null).
    public var metadata: String
    /// When the commit was accepted (coordinator time, ms).
    public var commitTimestamp: Int64
    /// Explicit expiry from OffsetCommit v2-v4 `RetentionTimeMs`; nil means group-based retention (KIP-211).
    public var expireTimestamp: Int64?

    public init(
        offset: Int64, leaderEpoch: Int32 = -1, metadata: String = "", commitTimestamp: Int64,
        expireTimestamp: Int64? = nil
    ) {
        self.offset = offset
        self.leaderEpoch = leaderEpoch
        self.metadata = metadata
        self.commitTimestamp = commitTimestamp
        self.expireTimestamp = expireTimestamp
    }
}

/// Kafka's `GroupMetadataValue` (written at version 3): a classic group's generation, protocol, leader and members
/// with their subscription (metadata of the selected protocol) and assignment.
public struct GroupMetadataValue: Hashable, Sendable {
    /// One member as stored.
    public struct Member: Hashable, Sendable {
        public var memberId: String
        public var groupInstanceId: String?
        public var clientId: String
        public var clientHost: String
        public var rebalanceTimeoutMs: Int32
        public var sessionTimeoutMs: Int32
        public var subscription: [UInt8]
        public var assignment: [UInt8]

        public init(
            memberId: String, groupInstanceId: String?, clientId: String, clientHost: String,
            rebalanceTimeoutMs: Int32, sessionTimeoutMs: Int32, subscription: [UInt8], assignment: [UInt8]
        ) {
            self.memberId = memberId
            self.groupInstanceId = groupInstanceId
            self.clientId = clientId
            self.clientHost = clientHost
            self.rebalanceTimeoutMs = rebalanceTimeoutMs
            self.sessionTimeoutMs = sessionTimeoutMs
            self.subscription = subscription
            self.assignment = assignment
        }
    }

    /// The protocol type ("" when none).
    public var protocolType: String
    /// The generation id.
    public var generation: Int32
    /// The selected protocol, nil for an empty group.
    public var protocolName: String?
    /// The leader's member id, nil for an empty group.
    public var leader: String?
    /// When the group entered its current state (ms), -1 when unknown.
    public var currentStateTimestamp: Int64
    /// The members, in the coordinator's member order.
    public var members: [Member]

    public init(
        protocolType: String, generation: Int32, protocolName: String?, leader: String?,
        currentStateTimestamp: Int64, members: [Member]
    ) {
        self.protocolType = protocolType
        self.generation = generation
        self.protocolName = protocolName
        self.leader = leader
        self.currentStateTimestamp = currentStateTimestamp
        self.members = members
    }
}

/// One record of a coordinator's `__consumer_offsets` partition.
///
/// Classic group metadata and offset commits use Kafka's key/value schemas byte for byte (see `keyBytes()` and
/// `valueBytes()`): OffsetCommitKey v1, OffsetCommitValue v3 (v1 when an explicit expire timestamp is set),
/// GroupMetadataKey v2, GroupMetadataValue v3; a nil value is a tombstone. KIP-848 groups are stored as one
/// Skein-specific snapshot record (key version 1000), not Kafka's fine-grained consumer group records.
public enum GroupRecord: Hashable, Sendable {
    /// Classic group metadata, or its tombstone (nil).
    case groupMetadata(groupId: String, value: GroupMetadataValue?)
    /// An offset commit or its tombstone (nil). `producerId` is set when the record belongs to a transactional
    /// batch (TxnOffsetCommit): the offset stays pending until a marker for that producer commits it.
    case offsetCommit(groupId: String, topicPartition: TopicPartition, value: OffsetAndMetadata?, producerId: Int64?)
    /// A transaction marker (control record) for `producerId` in this partition. The log writes it (on
    /// WriteTxnMarkers); the coordinator never emits it but reads it during replay.
    case transactionMarker(producerId: Int64, committed: Bool)
    /// A KIP-848 consumer group's full state, or its tombstone (nil). Skein-specific.
    case consumerGroup(groupId: String, value: ConsumerGroupValue?)

    /// Key version of OffsetCommitKey as written.
    public static let offsetCommitKeyVersion: Int16 = 1
    /// Key version of GroupMetadataKey.
    public static let groupMetadataKeyVersion: Int16 = 2
    /// Key version of Skein's consumer group snapshot key.
    public static let consumerGroupKeyVersion: Int16 = 1000

    /// The group this record belongs to; nil for transaction markers.
    public var groupId: String? {
        switch self {
        case .groupMetadata(let groupId, _), .offsetCommit(let groupId, _, _, _), .consumerGroup(let groupId, _):
            return groupId
        case .transactionMarker: return nil
        }
    }

    /// The record key bytes; nil for a transaction marker (a control record with its own key).
    public func keyBytes() -> [UInt8]? {
        var writer = BinaryWriter()
        switch self {
        case .offsetCommit(let groupId, let tp, _, _):
            writer.int16(Self.offsetCommitKeyVersion)
            writer.string(groupId)
            writer.string(tp.topic)
            writer.int32(tp.partition)
        case .groupMetadata(let groupId, _):
            writer.int16(Self.groupMetadataKeyVersion)
            writer.string(groupId)
        case .consumerGroup(let groupId, _):
            writer.int16(Self.consumerGroupKeyVersion)
            writer.string(groupId)
        case .transactionMarker:
            return nil
        }
        return writer.bytes
    }

    /// The record value bytes; nil for a tombstone or a transaction marker.
    public func valueBytes() -> [UInt8]? {
        var writer = BinaryWriter()
        switch self {
        case .offsetCommit(_, _, let value, _):
            guard let value else { return nil }
            if let expire = value.expireTimestamp {
                writer.int16(1)
                writer.int64(value.offset)
                writer.string(value.metadata)
                writer.int64(value.commitTimestamp)
                writer.int64(expire)
            } else {
                writer.int16(3)
                writer.int64(value.offset)
                writer.int32(value.leaderEpoch)
                writer.string(value.metadata)
                writer.int64(value.commitTimestamp)
            }
        case .groupMetadata(_, let value):
            guard let value else { return nil }
            writer.int16(3)
            writer.string(value.protocolType)
            writer.int32(value.generation)
            writer.nullableString(value.protocolName)
            writer.nullableString(value.leader)
            writer.int64(value.currentStateTimestamp)
            writer.int32(Int32(value.members.count))
            for member in value.members {
                writer.string(member.memberId)
                writer.nullableString(member.groupInstanceId)
                writer.string(member.clientId)
                writer.string(member.clientHost)
                writer.int32(member.rebalanceTimeoutMs)
                writer.int32(member.sessionTimeoutMs)
                writer.bytesField(member.subscription)
                writer.bytesField(member.assignment)
            }
        case .consumerGroup(_, let value):
            guard let value else { return nil }
            value.encode(into: &writer)
        case .transactionMarker:
            return nil
        }
        return writer.bytes
    }

    /// Decodes a data record from its key and value (nil value = tombstone). `producerId` is the batch's
    /// producer id when the batch is transactional.
    public static func decode(key: [UInt8], value: [UInt8]?, producerId: Int64? = nil) throws(GroupDecodingError)
        -> GroupRecord
    {
        var reader = BinaryReader(key)
        let keyVersion = try reader.int16()
        switch keyVersion {
        case 0, 1:
            let groupId = try reader.string()
            let tp = TopicPartition(try reader.string(), try reader.int32())
            guard let value else {
                return .offsetCommit(groupId: groupId, topicPartition: tp, value: nil, producerId: producerId)
            }
            return .offsetCommit(
                groupId: groupId, topicPartition: tp, value: try decodeOffsetValue(value), producerId: producerId)
        case 2:
            let groupId = try reader.string()
            guard let value else { return .groupMetadata(groupId: groupId, value: nil) }
            return .groupMetadata(groupId: groupId, value: try decodeGroupValue(value))
        case consumerGroupKeyVersion:
            let groupId = try reader.string()
            guard let value else { return .consumerGroup(groupId: groupId, value: nil) }
            var valueReader = BinaryReader(value)
            return .consumerGroup(groupId: groupId, value: try ConsumerGroupValue(from: &valueReader))
        default:
            throw .unsupportedVersion(keyVersion)
        }
    }

    private static func decodeOffsetValue(_ bytes: [UInt8]) throws(GroupDecodingError) -> OffsetAndMetadata {
        var reader = BinaryReader(bytes)
        let version = try reader.int16()
        guard (0...3).contains(version) else { throw .unsupportedVersion(version) }
        let offset = try reader.int64()
        let leaderEpoch = version >= 3 ? try reader.int32() : -1
        let metadata = try reader.string()
        let commitTimestamp = try reader.int64()
        let expire: Int64? = version == 1 ? try reader.int64() : nil
        return OffsetAndMetadata(
            offset: offset, leaderEpoch: leaderEpoch, metadata: metadata, commitTimestamp: commitTimestamp,
            expireTimestamp: expire == -1 ? nil : expire)
    }

    private static func decodeGroupValue(_ bytes: [UInt8]) throws(GroupDecodingError) -> GroupMetadataValue {
        var reader = BinaryReader(bytes)
        let version = try reader.int16()
        guard (0...3).contains(version) else { throw .unsupportedVersion(version) }
        let protocolType = try reader.string()
        let generation = try reader.int32()
        let protocolName = try reader.nullableString()
        let leader = try reader.nullableString()
        let timestamp = version >= 2 ? try reader.int64() : -1
        var members: [GroupMetadataValue.Member] = []
        for _ in 0..<(try reader.arrayCount() ?? 0) {
            let memberId = try reader.string()
            let instanceId = version >= 3 ? try reader.nullableString() : nil
            let clientId = try reader.string()
            let clientHost = try reader.string()
            let rebalanceTimeout = version >= 1 ? try reader.int32() : nil
            let sessionTimeout = try reader.int32()
            let subscription = try reader.bytesField()
            let assignment = try reader.bytesField()
            members.append(
                .init(
                    memberId: memberId, groupInstanceId: instanceId, clientId: clientId, clientHost: clientHost,
                    rebalanceTimeoutMs: rebalanceTimeout ?? sessionTimeout, sessionTimeoutMs: sessionTimeout,
                    subscription: subscription, assignment: assignment))
        }
        return GroupMetadataValue(
            protocolType: protocolType, generation: generation, protocolName: protocolName, leader: leader,
            currentStateTimestamp: timestamp, members: members)
    }
}
