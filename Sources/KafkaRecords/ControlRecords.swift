import NIOCore
import SkeinModel

/// The type of a control record (its 4-byte key). Unknown types are kept, and consumers ignore them.
public enum ControlRecordType: Hashable, Sendable {
    /// 0: a transaction was aborted.
    case abort
    /// 1: a transaction was committed.
    case commit
    /// 2-6: KRaft metadata log and snapshot records; their values are encoded elsewhere.
    case leaderChange, snapshotHeader, snapshotFooter, kraftVersion, kraftVoters
    /// Any other type, kept so it can be ignored (or written back) unchanged.
    case unknown(Int16)

    /// The type for a key's int16; unknown values are kept.
    public init(rawValue: Int16) {
        switch rawValue {
        case 0: self = .abort
        case 1: self = .commit
        case 2: self = .leaderChange
        case 3: self = .snapshotHeader
        case 4: self = .snapshotFooter
        case 5: self = .kraftVersion
        case 6: self = .kraftVoters
        default: self = .unknown(rawValue)
        }
    }

    /// The int16 written in the control record key.
    public var rawValue: Int16 {
        switch self {
        case .abort: return 0
        case .commit: return 1
        case .leaderChange: return 2
        case .snapshotHeader: return 3
        case .snapshotFooter: return 4
        case .kraftVersion: return 5
        case .kraftVoters: return 6
        case .unknown(let v): return v
        }
    }
}

/// The key of a control record: version (int16) and type (int16), plain big-endian.
public struct ControlRecordKey: Hashable, Sendable {
    /// 0 today; higher versions are read as version 0.
    public var version: Int16
    public var type: ControlRecordType

    /// The key Kafka writes: version 0.
    public init(version: Int16 = 0, type: ControlRecordType) {
        self.version = version
        self.type = type
    }

    /// Reads a key; a negative version is corrupt, a higher one is read as version 0 (extra bytes ignored).
    public init(from key: ByteBuffer) throws {
        var b = key
        guard let version: Int16 = b.readInteger(), let type: Int16 = b.readInteger(), version >= 0 else {
            throw RecordBatchError.invalidControlRecord
        }
        self.init(version: version, type: ControlRecordType(rawValue: type))
    }

    /// The 4 bytes: version and type, big-endian.
    public var encoded: ByteBuffer {
        var b = ByteBuffer()
        b.writeInteger(version)
        b.writeInteger(type.rawValue)
        return b
    }
}

/// The value of a COMMIT or ABORT marker: version (int16) and the coordinator epoch (int32).
public struct EndTransactionMarker: Hashable, Sendable {
    /// 0 today; higher versions are read as version 0 (extra bytes ignored).
    public var version: Int16
    /// Epoch of the transaction coordinator that wrote the marker.
    public var coordinatorEpoch: Int32

    /// A version-0 marker value.
    public init(version: Int16 = 0, coordinatorEpoch: Int32) {
        self.version = version
        self.coordinatorEpoch = coordinatorEpoch
    }

    /// Reads a marker value; a negative version or fewer than 6 bytes is corrupt.
    public init(from value: ByteBuffer) throws {
        var b = value
        guard let version: Int16 = b.readInteger(), let epoch: Int32 = b.readInteger(), version >= 0 else {
            throw RecordBatchError.invalidControlRecord
        }
        self.init(version: version, coordinatorEpoch: epoch)
    }

    /// The 6 bytes: version (int16) and coordinatorEpoch (int32), big-endian.
    public var encoded: ByteBuffer {
        var b = ByteBuffer()
        b.writeInteger(version)
        b.writeInteger(coordinatorEpoch)
        return b
    }
}

extension RecordBatchBuilder {
    /// A control batch holding exactly one control record of `type` with `value` (e.g. a KRaft voter set,
    /// encoded elsewhere). Uncompressed, CreateTime.
    public static func controlBatch(
        type: ControlRecordType, value: ByteBuffer?, baseOffset: Int64 = 0, partitionLeaderEpoch: Int32 = -1,
        timestamp: Int64, producerId: ProducerId = .none, producerEpoch: Int16 = -1, isTransactional: Bool = false
    ) throws -> ByteBuffer {
        let key = ControlRecordKey(type: type).encoded
        let record = Record(offsetDelta: 0, timestampDelta: 0, key: key, value: value)
        return try build(
            header: RecordBatchHeader(
                baseOffset: baseOffset, partitionLeaderEpoch: partitionLeaderEpoch,
                attributes: RecordBatchAttributes(isTransactional: isTransactional, isControl: true),
                baseTimestamp: timestamp, producerId: producerId, producerEpoch: producerEpoch, baseSequence: -1),
            records: [record])
    }

    /// A transaction marker: attributes 0x30 (transactional and control), baseSequence -1, one record.
    public static func transactionMarker(
        commit: Bool, producerId: ProducerId, producerEpoch: Int16, coordinatorEpoch: Int32, timestamp: Int64,
        baseOffset: Int64 = 0, partitionLeaderEpoch: Int32 = -1
    ) throws -> ByteBuffer {
        try controlBatch(
            type: commit ? .commit : .abort, value: EndTransactionMarker(coordinatorEpoch: coordinatorEpoch).encoded,
            baseOffset: baseOffset, partitionLeaderEpoch: partitionLeaderEpoch, timestamp: timestamp,
            producerId: producerId, producerEpoch: producerEpoch, isTransactional: true)
    }
}

extension RecordBatchView {
    /// For a control batch, its control record's key and value (nil for a data batch). Reads the first
    /// record, as Kafka's consumer does; a control batch without a keyed record is corrupt.
    public func controlRecord(
        maxUncompressedBytes: Int = 1 << 20
    ) throws -> (key: ControlRecordKey, value: ByteBuffer?)? {
        guard attributes.isControl else { return nil }
        guard let record = try decodeRecords(maxUncompressedBytes: maxUncompressedBytes).first,
            let key = record.key
        else { throw RecordBatchError.invalidControlRecord }
        return (try ControlRecordKey(from: key), record.value)
    }

    /// For a control batch, the type of its control record (nil for a data batch).
    public func controlRecordType() throws -> ControlRecordType? {
        try controlRecord()?.key.type
    }

    /// For a COMMIT or ABORT marker batch, whether it commits and the marker value; nil for anything else.
    public func endTransactionMarker() throws -> (commit: Bool, marker: EndTransactionMarker)? {
        guard let (key, value) = try controlRecord() else { return nil }
        guard key.type == .commit || key.type == .abort else { return nil }
        guard let value else { throw RecordBatchError.invalidControlRecord }
        return (key.type == .commit, try EndTransactionMarker(from: value))
    }
}
