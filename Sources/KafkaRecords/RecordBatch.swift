import NIOCore
import SkeinModel

/// Why a record batch or record could not be read or built.
public enum RecordBatchError: Error, Equatable, Sendable {
    /// Fewer bytes than the structure needs.
    case truncated
    /// A batch whose magic byte is not 2. Only RecordBatch v2 is stored.
    case unsupportedMagic(Int8)
    /// batchLength disagrees with the bytes present, or is smaller than the 61-byte header.
    case invalidBatchLength(Int32)
    /// The stored CRC-32C does not match the bytes from attributes to the end.
    case crcMismatch(stored: UInt32, computed: UInt32)
    /// Compression ids 5-7 (Java: "unknown compression type id").
    case invalidCompression(Int16)
    /// A negative recordsCount, one the bytes cannot hold, or (for append) zero.
    case invalidRecordCount(Int32)
    /// recordsCount and lastOffsetDelta disagree (Kafka's LogValidator checks count == lastOffsetDelta + 1).
    case inconsistentOffsetRange(count: Int32, lastOffsetDelta: Int32)
    /// A record's length prefix disagrees with what it holds, or records do not end exactly at the batch end.
    case invalidRecordLength
    /// A varint longer than Java allows (5 bytes; 10 for a varlong), or one that overflows 32 bits.
    case invalidVarint
    /// A negative header key length, or a negative header count.
    case invalidHeaderKey
    /// The records area would not decompress (corrupt, or over the caller's limit).
    case decompression(CompressionError)
    /// A control record whose key or value is malformed (short, or a negative version).
    case invalidControlRecord
    /// A client sent a control batch; only the broker writes those (LogValidator).
    case controlBatchFromClient
    /// A batch with a producerId but a negative baseSequence, sent by a client (LogValidator).
    case invalidSequence(producerId: Int64, baseSequence: Int32)
}

/// How a batch's timestamps are to be read (attribute bit 3).
public enum TimestampType: Sendable, Equatable {
    /// The producer's timestamps (Kafka's CreateTime).
    case createTime
    /// The broker's append time, stored in maxTimestamp for every record (Kafka's LogAppendTime).
    case logAppendTime
}

/// The attributes int16 of a batch, bit by bit. Bits 7-15 are unused; they are kept as read.
public struct RecordBatchAttributes: RawRepresentable, Hashable, Sendable {
    public var rawValue: Int16
    /// Keeps every bit as given, including unused bits 7-15.
    public init(rawValue: Int16) { self.rawValue = rawValue }

    /// Attributes from their parts; unused bits are 0, as Kafka writes them.
    public init(
        compression: CompressionCodec = .none, timestampType: TimestampType = .createTime,
        isTransactional: Bool = false, isControl: Bool = false, hasDeleteHorizonMs: Bool = false
    ) {
        var v = compression.rawValue
        if timestampType == .logAppendTime { v |= 0x08 }
        if isTransactional { v |= 0x10 }
        if isControl { v |= 0x20 }
        if hasDeleteHorizonMs { v |= 0x40 }
        rawValue = v
    }

    /// The codec id in bits 0-2; ids 5-7 are invalid and give nil.
    public var compression: CompressionCodec? { CompressionCodec(rawValue: compressionId) }
    /// The raw codec id in bits 0-2 (0-7).
    public var compressionId: Int16 { rawValue & 0x07 }
    /// Bit 3.
    public var timestampType: TimestampType { rawValue & 0x08 != 0 ? .logAppendTime : .createTime }
    /// Bit 4: part of a transaction.
    public var isTransactional: Bool { rawValue & 0x10 != 0 }
    /// Bit 5: a control batch (one control record, never handed to applications).
    public var isControl: Bool { rawValue & 0x20 != 0 }
    /// Bit 6: baseTimestamp holds the delete horizon (set by the log cleaner).
    public var hasDeleteHorizonMs: Bool { rawValue & 0x40 != 0 }
}

/// The 61-byte header of RecordBatch v2, every field, in Kafka's names. Big-endian on the wire.
public struct RecordBatchHeader: Hashable, Sendable {
    /// Bytes in the header: records start here.
    public static let size = 61
    /// Bytes before batchLength's count starts: baseOffset (8) and batchLength (4).
    public static let logOverhead = 12
    /// The CRC covers everything from the attributes (offset 21) to the end.
    public static let crcStart = 21
    /// Where the crc field sits.
    public static let crcOffset = 17
    /// Where the magic byte sits, in every message format.
    public static let magicOffset = 16
    /// Where partitionLeaderEpoch sits (rewritten in place by the broker).
    public static let partitionLeaderEpochOffset = 12
    /// Where recordsCount sits.
    public static let recordsCountOffset = 57
    /// Where lastOffsetDelta sits.
    public static let lastOffsetDeltaOffset = 23
    /// Where attributes sit.
    public static let attributesOffset = 21

    /// Offset of the first record; producers write 0 and the broker assigns it.
    public var baseOffset: Int64
    /// Bytes after the batchLength field: the batch's total size minus 12.
    public var batchLength: Int32
    /// The leader epoch (in Skein, the Raft term) at which the batch was appended.
    public var partitionLeaderEpoch: Int32
    /// 2 for this format.
    public var magic: Int8
    /// CRC-32C of the bytes from attributes to the end of the batch.
    public var crc: UInt32
    public var attributes: RecordBatchAttributes
    /// Offset of the last record minus baseOffset (kept by compaction even if that record is gone).
    public var lastOffsetDelta: Int32
    /// Timestamp of the first record (-1 in an empty batch), or the delete horizon when that bit is set.
    public var baseTimestamp: Int64
    /// Largest record timestamp (CreateTime) or the broker's append time (LogAppendTime).
    public var maxTimestamp: Int64
    /// -1 when the producer is neither idempotent nor transactional.
    public var producerId: ProducerId
    public var producerEpoch: Int16
    /// Sequence of the first record, -1 for none.
    public var baseSequence: Int32
    /// The real number of records, even when the records are compressed.
    public var recordsCount: Int32

    public init(
        baseOffset: Int64 = 0, batchLength: Int32 = 0, partitionLeaderEpoch: Int32 = -1, magic: Int8 = 2,
        crc: UInt32 = 0, attributes: RecordBatchAttributes = RecordBatchAttributes(), lastOffsetDelta: Int32 = 0,
        baseTimestamp: Int64 = -1, maxTimestamp: Int64 = -1, producerId: ProducerId = .none,
        producerEpoch: Int16 = -1, baseSequence: Int32 = -1, recordsCount: Int32 = 0
    ) {
        // Defaults are Kafka's "none" values, so a header for a plain producer batch needs few arguments.
        self.baseOffset = baseOffset
        self.batchLength = batchLength
        self.partitionLeaderEpoch = partitionLeaderEpoch
        self.magic = magic
        self.crc = crc
        self.attributes = attributes
        self.lastOffsetDelta = lastOffsetDelta
        self.baseTimestamp = baseTimestamp
        self.maxTimestamp = maxTimestamp
        self.producerId = producerId
        self.producerEpoch = producerEpoch
        self.baseSequence = baseSequence
        self.recordsCount = recordsCount
    }

    /// Reads the header at `index` without moving any reader index.
    public init(from buffer: ByteBuffer, at index: Int) throws {
        guard index >= buffer.readerIndex, buffer.writerIndex - index >= Self.size else {
            throw RecordBatchError.truncated
        }
        func get<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
            buffer.getInteger(at: index + offset, as: T.self)!
        }
        self.init(
            baseOffset: get(0, Int64.self), batchLength: get(8, Int32.self),
            partitionLeaderEpoch: get(12, Int32.self), magic: get(16, Int8.self), crc: get(17, UInt32.self),
            attributes: RecordBatchAttributes(rawValue: get(21, Int16.self)), lastOffsetDelta: get(23, Int32.self),
            baseTimestamp: get(27, Int64.self), maxTimestamp: get(35, Int64.self),
            producerId: ProducerId(get(43, Int64.self)), producerEpoch: get(51, Int16.self),
            baseSequence: get(53, Int32.self), recordsCount: get(57, Int32.self)
        )
    }

    /// Writes all 61 bytes as they are (lengths and CRC included).
    public func write(into buffer: inout ByteBuffer) {
        buffer.writeInteger(baseOffset)
        buffer.writeInteger(batchLength)
        buffer.writeInteger(partitionLeaderEpoch)
        buffer.writeInteger(magic)
        buffer.writeInteger(crc)
        buffer.writeInteger(attributes.rawValue)
        buffer.writeInteger(lastOffsetDelta)
        buffer.writeInteger(baseTimestamp)
        buffer.writeInteger(maxTimestamp)
        buffer.writeInteger(producerId.rawValue)
        buffer.writeInteger(producerEpoch)
        buffer.writeInteger(baseSequence)
        buffer.writeInteger(recordsCount)
    }

    /// The offset of the batch's last record.
    public var lastOffset: Int64 { baseOffset + Int64(lastOffsetDelta) }
    /// The batch's size on the wire and on disk.
    public var totalSize: Int { Int(batchLength) + Self.logOverhead }
    /// The sequence number of the last record, wrapping at Int32.max as Kafka does; -1 when there is none.
    public var lastSequence: Int32 { sequence(atOffsetDelta: lastOffsetDelta) }

    /// baseSequence + offsetDelta, wrapping from Int32.max to 0 (Kafka's DefaultRecordBatch.incrementSequence).
    public func sequence(atOffsetDelta delta: Int32) -> Int32 {
        guard baseSequence >= 0 else { return -1 }
        let next = Int64(baseSequence) + Int64(delta)
        return Int32(truncatingIfNeeded: next > Int64(Int32.max) ? next - Int64(Int32.max) - 1 : next)
    }

    /// A record's absolute offset.
    public func offset(of record: Record) -> Int64 { baseOffset &+ Int64(record.offsetDelta) }

    /// A record's timestamp: maxTimestamp for every record under LogAppendTime, else baseTimestamp + delta.
    public func timestamp(of record: Record) -> Int64 {
        attributes.timestampType == .logAppendTime ? maxTimestamp : baseTimestamp &+ record.timestampDelta
    }
}

/// A header of a record: a non-null UTF-8 key and a nullable value. Keys need not be unique; order is kept.
public struct RecordHeader: Hashable, Sendable {
    public var key: String
    /// Nil is a null value (length -1 on the wire), distinct from an empty one.
    public var value: ByteBuffer?
    /// A header; keys never are null.
    public init(key: String, value: ByteBuffer?) {
        self.key = key
        self.value = value
    }
}

/// One record of a batch. Key and value are slices of the batch (or of its decompressed records).
public struct Record: Hashable, Sendable {
    /// No attribute bits are defined for records; kept as read.
    public var attributes: Int8
    /// The record's timestamp minus the batch's baseTimestamp.
    public var timestampDelta: Int64
    /// The record's offset minus the batch's baseOffset.
    public var offsetDelta: Int32
    /// Nil is a null key (length -1); keyed records pick their partition with `KafkaPartitioner`.
    public var key: ByteBuffer?
    /// Nil is a tombstone in a compacted topic.
    public var value: ByteBuffer?
    public var headers: [RecordHeader]

    /// A record; the label order predates this module's users, so offsetDelta comes before timestampDelta.
    public init(
        attributes: Int8 = 0, offsetDelta: Int32, timestampDelta: Int64 = 0, key: ByteBuffer?, value: ByteBuffer?,
        headers: [RecordHeader] = []
    ) {
        self.attributes = attributes
        self.timestampDelta = timestampDelta
        self.offsetDelta = offsetDelta
        self.key = key
        self.value = value
        self.headers = headers
    }

    /// The record's size after its length prefix.
    @usableFromInline
    var bodySize: Int {
        var n = 1 + ZigZag.size(timestampDelta) + ZigZag.size(offsetDelta)
        n += key.map { ZigZag.size(Int32($0.readableBytes)) + $0.readableBytes } ?? 1
        n += value.map { ZigZag.size(Int32($0.readableBytes)) + $0.readableBytes } ?? 1
        n += ZigZag.size(Int32(headers.count))
        for h in headers {
            let k = h.key.utf8.count
            n += ZigZag.size(Int32(k)) + k
            n += h.value.map { ZigZag.size(Int32($0.readableBytes)) + $0.readableBytes } ?? 1
        }
        return n
    }

    /// Appends the record: length, attributes, deltas, key, value, headers.
    public func write(into buffer: inout ByteBuffer) {
        buffer.writeZigZagVarint(Int32(bodySize))
        buffer.writeInteger(attributes)
        buffer.writeZigZagVarlong(timestampDelta)
        buffer.writeZigZagVarint(offsetDelta)
        Self.writeNullable(key, into: &buffer)
        Self.writeNullable(value, into: &buffer)
        buffer.writeZigZagVarint(Int32(headers.count))
        for h in headers {
            buffer.writeZigZagVarint(Int32(h.key.utf8.count))
            buffer.writeString(h.key)
            Self.writeNullable(h.value, into: &buffer)
        }
    }

    private static func writeNullable(_ bytes: ByteBuffer?, into buffer: inout ByteBuffer) {
        if let bytes {
            buffer.writeZigZagVarint(Int32(bytes.readableBytes))
            buffer.writeImmutableBuffer(bytes)
        } else {
            buffer.writeZigZagVarint(-1)
        }
    }

    /// Reads one record, checking that it consumes exactly its length prefix (as Java's DefaultRecord does).
    public init(from buffer: inout ByteBuffer) throws {
        let length = Int(try buffer.readZigZagVarint())
        guard length >= 0, var body = buffer.readSlice(length: length) else {
            throw RecordBatchError.invalidRecordLength
        }
        guard let attributes: Int8 = body.readInteger() else { throw RecordBatchError.invalidRecordLength }
        self.attributes = attributes
        self.timestampDelta = try body.readZigZagVarlong()
        self.offsetDelta = try body.readZigZagVarint()
        self.key = try Self.readNullable(&body)
        self.value = try Self.readNullable(&body)
        let headerCount = Int(try body.readZigZagVarint())
        // Each header takes at least two bytes: refuse counts the record cannot hold before allocating.
        guard headerCount >= 0 else { throw RecordBatchError.invalidHeaderKey }
        guard headerCount <= body.readableBytes / 2 else { throw RecordBatchError.invalidRecordLength }
        var headers: [RecordHeader] = []
        headers.reserveCapacity(headerCount)
        for _ in 0..<headerCount {
            let keyLength = Int(try body.readZigZagVarint())
            guard keyLength >= 0 else { throw RecordBatchError.invalidHeaderKey }
            guard let keyBytes = body.readSlice(length: keyLength) else { throw RecordBatchError.invalidRecordLength }
            // Java decodes header keys with new String(bytes, UTF_8), replacing malformed sequences rather than
            // rejecting the record; do the same so that we accept what Kafka accepts.
            let key = keyBytes.withUnsafeReadableBytes { String(decoding: $0, as: UTF8.self) }
            headers.append(RecordHeader(key: key, value: try Self.readNullable(&body)))
        }
        self.headers = headers
        guard body.readableBytes == 0 else { throw RecordBatchError.invalidRecordLength }
    }

    private static func readNullable(_ body: inout ByteBuffer) throws -> ByteBuffer? {
        let n = Int(try body.readZigZagVarint())
        // Java's DefaultRecord reads every negative length as null, not only -1.
        if n < 0 { return nil }
        guard let slice = body.readSlice(length: n) else { throw RecordBatchError.invalidRecordLength }
        return slice
    }
}

/// A decoded batch: its header and every record (key and value slices point into the batch, or into its
/// decompressed records).
public struct RecordBatch: Hashable, Sendable {
    public var header: RecordBatchHeader
    public var records: [Record]

    /// A header and records, as decoded.
    public init(header: RecordBatchHeader, records: [Record]) {
        self.header = header
        self.records = records
    }

    /// Validates and decodes the one batch that `bytes` holds, decompressing at most `maxUncompressedBytes`.
    public init(decoding bytes: ByteBuffer, maxUncompressedBytes: Int = 64 << 20) throws {
        self = try RecordBatchView(bytes: bytes).decode(maxUncompressedBytes: maxUncompressedBytes)
    }

    /// Builds the wire form, computing lengths, counts and the CRC (see `RecordBatchBuilder.build`).
    public func encoded() throws -> ByteBuffer { try RecordBatchBuilder.build(header: header, records: records) }
}
