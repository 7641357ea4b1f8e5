/// A topic partition, as transactions name them. (Same shape as SkeinGroups' `TopicPartition`; kept separate so
/// that this module depends on SkeinModel only.)
public struct TxnTopicPartition: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The topic name.
    public var topic: String
    /// The partition index.
    public var partition: Int32

    public init(_ topic: String, _ partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    /// Orders by topic, then partition.
    public static func < (lhs: TxnTopicPartition, rhs: TxnTopicPartition) -> Bool {
        lhs.topic == rhs.topic ? lhs.partition < rhs.partition : lhs.topic < rhs.topic
    }

    public var description: String { "\(topic)-\(partition)" }
}

/// Kafka's transaction states (`TransactionState`), with the ids stored in TransactionLogValue's
/// `TransactionStatus` and the names DescribeTransactions and ListTransactions use.
public enum TransactionState: Int8, CaseIterable, Hashable, Sendable, CustomStringConvertible {
    /// No transaction is open (after InitProducerId).
    case empty = 0
    /// Partitions were added; the transaction is open.
    case ongoing = 1
    /// EndTxn(commit) was persisted; COMMIT markers are being written.
    case prepareCommit = 2
    /// EndTxn(abort), a fence or a timeout was persisted; ABORT markers are being written.
    case prepareAbort = 3
    /// Every COMMIT marker was written.
    case completeCommit = 4
    /// Every ABORT marker was written.
    case completeAbort = 5
    /// The transactional id is being expired. Kafka never persists it; neither does this coordinator.
    case dead = 6
    /// Kafka's transient state while fencing an epoch; never persisted (the fence goes straight to PrepareAbort).
    case prepareEpochFence = 7

    /// Kafka's name, e.g. "PrepareCommit".
    public var name: String {
        switch self {
        case .empty: return "Empty"
        case .ongoing: return "Ongoing"
        case .prepareCommit: return "PrepareCommit"
        case .prepareAbort: return "PrepareAbort"
        case .completeCommit: return "CompleteCommit"
        case .completeAbort: return "CompleteAbort"
        case .dead: return "Dead"
        case .prepareEpochFence: return "PrepareEpochFence"
        }
    }

    /// The state with Kafka's name `name`, if any.
    public init?(name: String) {
        guard let state = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = state
    }

    public var description: String { name }

    /// True while markers are being written (PrepareCommit, PrepareAbort).
    public var isPreparing: Bool { self == .prepareCommit || self == .prepareAbort }
    /// True for the states Kafka lets a transactional id expire from (Empty, CompleteCommit, CompleteAbort).
    public var isExpirationAllowed: Bool { self == .empty || self == .completeCommit || self == .completeAbort }
}

/// Kafka's `TransactionLogValue`: what a `__transaction_state` record says about one transactional id.
///
/// Version 0 is classic; version 1 is flexible and adds the tagged fields `PreviousProducerId` (tag 0),
/// `NextProducerId` (tag 1) and `ClientTransactionVersion` (tag 2), each written only when it differs from its
/// default. A version 0 value cannot carry them: decoding one yields their defaults.
public struct TransactionLogValue: Hashable, Sendable {
    /// The schema version written: 0, or 1 (flexible; Kafka writes it once `transaction.version` >= 1).
    public var version: Int16
    /// The producer id in use by the transactional id.
    public var producerId: Int64
    /// The producer id before the last rotation (tagged, v1+; -1 when none).
    public var previousProducerId: Int64
    /// The producer id the transactional id moves to when the pending transaction completes (KIP-890 epoch
    /// overflow; tagged, v1+; -1 when none).
    public var nextProducerId: Int64
    /// The producer epoch.
    public var producerEpoch: Int16
    /// The transaction timeout (ms).
    public var transactionTimeoutMs: Int32
    /// The state.
    public var state: TransactionState
    /// The partitions in the transaction, sorted. Kafka writes null for Empty; decoding ignores them there.
    public var partitions: [TxnTopicPartition]
    /// When the metadata last changed (ms); transactional-id expiry counts from it.
    public var lastUpdateTimestampMs: Int64
    /// When the transaction started (first partition added), -1 when none.
    public var startTimestampMs: Int64
    /// The transaction version the client used (0 or 2; tagged, v1+).
    public var clientTransactionVersion: Int16

    public init(
        version: Int16 = 1, producerId: Int64, previousProducerId: Int64 = -1, nextProducerId: Int64 = -1,
        producerEpoch: Int16, transactionTimeoutMs: Int32, state: TransactionState,
        partitions: [TxnTopicPartition] = [],
        lastUpdateTimestampMs: Int64, startTimestampMs: Int64 = -1, clientTransactionVersion: Int16 = 0
    ) {
        self.version = version
        self.producerId = producerId
        self.previousProducerId = previousProducerId
        self.nextProducerId = nextProducerId
        self.producerEpoch = producerEpoch
        self.transactionTimeoutMs = transactionTimeoutMs
        self.state = state
        self.partitions = partitions
        self.lastUpdateTimestampMs = lastUpdateTimestampMs
        self.startTimestampMs = startTimestampMs
        self.clientTransactionVersion = clientTransactionVersion
    }

    /// This value as decoding its bytes yields it: partitions sorted and unique (none for Empty), and the
    /// version 1 fields at their defaults in a version 0 value.
    public var normalized: TransactionLogValue {
        var value = self
        value.partitions = state == .empty ? [] : Array(Set(partitions)).sorted()
        if version == 0 {
            value.previousProducerId = -1
            value.nextProducerId = -1
            value.clientTransactionVersion = 0
        }
        return value
    }

    /// Partitions grouped by topic, topics and partitions in ascending order.
    var partitionsByTopic: [(topic: String, partitions: [Int32])] {
        var result: [(topic: String, partitions: [Int32])] = []
        for tp in Array(Set(partitions)).sorted() {
            if result.last?.topic == tp.topic {
                result[result.count - 1].partitions.append(tp.partition)
            } else {
                result.append((tp.topic, [tp.partition]))
            }
        }
        return result
    }
}

/// One record of a `__transaction_state` partition: a transactional id and its metadata, or a tombstone (nil
/// value) when the id expired. Byte formats are Kafka's: key TransactionLogKey v0, value TransactionLogValue v0/v1.
public struct TxnRecord: Hashable, Sendable {
    /// Key version of TransactionLogKey.
    public static let keyVersion: Int16 = 0

    /// The transactional id (the record key).
    public var transactionalId: String
    /// The metadata, nil for a tombstone.
    public var value: TransactionLogValue?

    public init(transactionalId: String, value: TransactionLogValue?) {
        self.transactionalId = transactionalId
        self.value = value
    }

    /// The key bytes: int16 version 0, then the transactional id as a classic string.
    public func keyBytes() -> [UInt8] {
        var writer = TxnWriter()
        writer.int16(Self.keyVersion)
        writer.string(transactionalId)
        return writer.bytes
    }

    /// The value bytes, nil for a tombstone.
    public func valueBytes() -> [UInt8]? {
        guard let value else { return nil }
        var writer = TxnWriter()
        writer.int16(value.version)
        writer.int64(value.producerId)
        writer.int16(value.producerEpoch)
        writer.int32(value.transactionTimeoutMs)
        writer.int8(value.state.rawValue)
        let groups = value.partitionsByTopic
        if value.version == 0 {
            if value.state == .empty {
                writer.int32(-1)
            } else {
                writer.int32(Int32(groups.count))
                for group in groups {
                    writer.string(group.topic)
                    writer.int32(Int32(group.partitions.count))
                    for partition in group.partitions { writer.int32(partition) }
                }
            }
        } else {
            if value.state == .empty {
                writer.unsignedVarint(0)
            } else {
                writer.unsignedVarint(UInt32(groups.count + 1))
                for group in groups {
                    writer.compactString(group.topic)
                    writer.unsignedVarint(UInt32(group.partitions.count + 1))
                    for partition in group.partitions { writer.int32(partition) }
                    writer.unsignedVarint(0)  // no tagged fields in PartitionsSchema
                }
            }
        }
        writer.int64(value.lastUpdateTimestampMs)
        writer.int64(value.startTimestampMs)
        if value.version >= 1 {
            var tagged: [(tag: UInt32, bytes: [UInt8])] = []
            if value.previousProducerId != -1 {
                var field = TxnWriter()
                field.int64(value.previousProducerId)
                tagged.append((0, field.bytes))
            }
            if value.nextProducerId != -1 {
                var field = TxnWriter()
                field.int64(value.nextProducerId)
                tagged.append((1, field.bytes))
            }
            if value.clientTransactionVersion != 0 {
                var field = TxnWriter()
                field.int16(value.clientTransactionVersion)
                tagged.append((2, field.bytes))
            }
            writer.unsignedVarint(UInt32(tagged.count))
            for field in tagged {
                writer.unsignedVarint(field.tag)
                writer.unsignedVarint(UInt32(field.bytes.count))
                writer.append(field.bytes)
            }
        }
        return writer.bytes
    }

    /// Decodes a record from its key and value bytes (nil value = tombstone). Throws `TxnDecodingError` on
    /// malformed input, `.unknownKeyVersion` for keys that are not TransactionLogKey (which a loader skips, as
    /// Kafka does).
    public static func decode(key: [UInt8], value: [UInt8]?) throws(TxnDecodingError) -> TxnRecord {
        var reader = TxnReader(key)
        let keyVersion = try reader.int16()
        guard keyVersion == Self.keyVersion else { throw .unknownKeyVersion(keyVersion) }
        let transactionalId = try reader.string()
        guard reader.remaining == 0 else { throw .trailingBytes(reader.remaining) }
        guard let value else { return TxnRecord(transactionalId: transactionalId, value: nil) }
        return TxnRecord(transactionalId: transactionalId, value: try decodeValue(value))
    }

    private static func decodeValue(_ bytes: [UInt8]) throws(TxnDecodingError) -> TransactionLogValue {
        var reader = TxnReader(bytes)
        let version = try reader.int16()
        guard version == 0 || version == 1 else { throw .unsupportedValueVersion(version) }
        let flexible = version == 1
        let producerId = try reader.int64()
        let epoch = try reader.int16()
        let timeout = try reader.int32()
        let stateId = try reader.int8()
        guard let state = TransactionState(rawValue: stateId) else { throw .invalidState(stateId) }
        var partitions: [TxnTopicPartition] = []
        let topicCount =
            flexible ? try reader.compactArrayCount(nullable: true) : try reader.arrayCount(nullable: true)
        for _ in 0..<(topicCount ?? 0) {
            let topic = flexible ? try reader.compactString() : try reader.string()
            let count =
                flexible ? try reader.compactArrayCount(nullable: false) : try reader.arrayCount(nullable: false)
            for _ in 0..<(count ?? 0) { partitions.append(TxnTopicPartition(topic, try reader.int32())) }
            if flexible { try skipTaggedFields(&reader) }
        }
        let lastUpdate = try reader.int64()
        let start = try reader.int64()
        var previous: Int64 = -1
        var next: Int64 = -1
        var clientVersion: Int16 = 0
        if flexible {
            let count = try reader.unsignedVarint()
            guard Int(count) <= reader.remaining else { throw .invalidLength(Int(count)) }
            for _ in 0..<count {
                let tag = try reader.unsignedVarint()
                let size = Int(try reader.unsignedVarint())
                var field = TxnReader(try reader.take(size))
                switch tag {
                case 0: previous = try field.int64()
                case 1: next = try field.int64()
                case 2: clientVersion = try field.int16()
                default: break  // unknown tagged fields are skipped
                }
            }
        }
        guard reader.remaining == 0 else { throw .trailingBytes(reader.remaining) }
        return TransactionLogValue(
            version: version, producerId: producerId, previousProducerId: previous, nextProducerId: next,
            producerEpoch: epoch, transactionTimeoutMs: timeout, state: state, partitions: partitions,
            lastUpdateTimestampMs: lastUpdate, startTimestampMs: start, clientTransactionVersion: clientVersion
        ).normalized
    }

    private static func skipTaggedFields(_ reader: inout TxnReader) throws(TxnDecodingError) {
        let count = try reader.unsignedVarint()
        guard Int(count) <= reader.remaining else { throw .invalidLength(Int(count)) }
        for _ in 0..<count {
            _ = try reader.unsignedVarint()
            _ = try reader.take(Int(try reader.unsignedVarint()))
        }
    }
}
