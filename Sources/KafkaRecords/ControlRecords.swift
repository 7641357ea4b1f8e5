import NIOCore
import SkeinModel

/// The type of a control record (its 4-byte key). Unknown types are kept, and consumers ignore them.
public enum ControlRecordType: Hashable, Sendable {
    case abort, commit, leaderChange, snapshotHeader, snapshotFooter, kraftVersion, kraftVoters
    case unknown(Int16)

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
    public var version: Int16
    public var type: ControlRecordType

    public init(version: Int16 = 0, type: ControlRecordType) {
        self.version = version
        self.type = type
    }

    /// Reads a key; a negative version is corrupt, a higher one is read as version 0 (extra bytes ignored).
    public init(from key: ByteBuffer) throws {
        var b = key
        guard let version: Int16 = b.readInteger(), let type: Int16 = b.readInteger() else { throw RecordBatchError.truncated }
        guard version >= 0 else { throw RecordBatchError.invalidRecordLength }
        self.init(version: version, type: ControlRecordType(rawValue: type))
    }

    public var encoded: ByteBuffer {
        var b = ByteBuffer()
        b.writeInteger(version)
        b.writeInteger(type.rawValue)
        return b
    }
}

/// The value of a COMMIT or ABORT marker: version (int16) and the coordinator epoch (int32).
public struct EndTransactionMarker: Hashable, Sendable {
    public var version: Int16
    public var coordinatorEpoch: Int32

    public init(version: Int16 = 0, coordinatorEpoch: Int32) {
        self.version = version
        self.coordinatorEpoch = coordinatorEpoch
    }

    public init(from value: ByteBuffer) throws {
        var b = value
        guard let version: Int16 = b.readInteger(), let epoch: Int32 = b.readInteger() else { throw RecordBatchError.truncated }
        guard version >= 0 else { throw RecordBatchError.invalidRecordLength }
        self.init(version: version, coordinatorEpoch: epoch)
    }

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
        let record = Record(offsetDelta: 0, timestampDelta: 0, key: ControlRecordKey(type: type).encoded, value: value)
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
    /// For a control batch, the type of its control record.
    public func controlRecordType() throws -> ControlRecordType? {
        guard attributes.isControl else { return nil }
        guard let record = try decodeRecords(maxUncompressedBytes: 1 << 20).first, let key = record.key else {
            throw RecordBatchError.invalidRecordCount(recordsCount)
        }
        return try ControlRecordKey(from: key).type
    }
}
