import NIOCore
import SkeinModel

/// One record batch inside a larger buffer, without copying it: `bytes` is a slice of exactly the batch.
/// This is what the broker stores as received and serves as stored.
public struct RecordBatchView: Sendable {
    /// The batch's bytes: baseOffset through the last record.
    public private(set) var bytes: ByteBuffer

    /// Wraps the bytes of exactly one batch; checks only that the header fits and the length agrees.
    public init(bytes: ByteBuffer) throws {
        guard bytes.readableBytes >= RecordBatchHeader.size else { throw RecordBatchError.truncated }
        let batchLength: Int32 = bytes.getInteger(at: bytes.readerIndex + 8)!
        guard Int(batchLength) + RecordBatchHeader.logOverhead == bytes.readableBytes else {
            throw RecordBatchError.invalidBatchLength(batchLength)
        }
        self.bytes = bytes
    }

    /// The header, read from the bytes each time (cheap: fixed offsets).
    public var header: RecordBatchHeader { try! RecordBatchHeader(from: bytes, at: bytes.readerIndex) }

    public var baseOffset: Int64 { bytes.getInteger(at: bytes.readerIndex)! }
    public var partitionLeaderEpoch: Int32 { bytes.getInteger(at: bytes.readerIndex + 12)! }
    public var lastOffsetDelta: Int32 { bytes.getInteger(at: bytes.readerIndex + 23)! }
    public var lastOffset: Int64 { baseOffset + Int64(lastOffsetDelta) }
    public var recordsCount: Int32 { bytes.getInteger(at: bytes.readerIndex + 57)! }
    public var attributes: RecordBatchAttributes { RecordBatchAttributes(rawValue: bytes.getInteger(at: bytes.readerIndex + 21)!) }
    public var sizeInBytes: Int { bytes.readableBytes }

    /// The CRC-32C over attributes..end, as it should be stored.
    public func computeChecksum() -> UInt32 {
        bytes.withUnsafeReadableBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[RecordBatchHeader.crcStart...])) }
    }

    /// Kafka's checks of a batch as a whole: magic 2, sizes, CRC-32C, a known codec, a non-negative count.
    public func validate() throws {
        let magic: Int8 = bytes.getInteger(at: bytes.readerIndex + 16)!
        guard magic == 2 else { throw RecordBatchError.unsupportedMagic(magic) }
        let stored: UInt32 = bytes.getInteger(at: bytes.readerIndex + 17)!
        let computed = computeChecksum()
        guard stored == computed else { throw RecordBatchError.crcMismatch(stored: stored, computed: computed) }
        guard attributes.compression != nil else { throw RecordBatchError.invalidCompression(attributes.rawValue & 0x07) }
        guard recordsCount >= 0 else { throw RecordBatchError.invalidRecordCount(recordsCount) }
    }

    /// What a broker checks before appending a produced batch (Kafka's LogValidator for v2): everything in
    /// `validate()`, at least one record, and recordsCount == lastOffsetDelta + 1.
    public func validateForAppend() throws {
        try validate()
        let count = recordsCount
        guard count > 0 else { throw RecordBatchError.invalidRecordCount(count) }
        guard lastOffsetDelta >= 0, Int64(count) == Int64(lastOffsetDelta) + 1 else {
            throw RecordBatchError.inconsistentOffsetRange(count: count, lastOffsetDelta: lastOffsetDelta)
        }
    }

    /// Sets baseOffset in place. The CRC does not cover it, so the batch stays valid. No copy is made when the
    /// storage is not shared (ByteBuffer is copy-on-write).
    public mutating func setBaseOffset(_ offset: Int64) {
        bytes.setInteger(offset, at: bytes.readerIndex)
    }

    /// Sets partitionLeaderEpoch in place; like baseOffset, outside the CRC.
    public mutating func setPartitionLeaderEpoch(_ epoch: Int32) {
        bytes.setInteger(epoch, at: bytes.readerIndex + 12)
    }

    /// The records area after the header, decompressed if needed (bounded by `maxUncompressedBytes`).
    public func recordsArea(maxUncompressedBytes: Int) throws -> ByteBuffer {
        let raw = bytes.getSlice(at: bytes.readerIndex + RecordBatchHeader.size, length: bytes.readableBytes - RecordBatchHeader.size)!
        guard let codec = attributes.compression else { throw RecordBatchError.invalidCompression(attributes.rawValue & 0x07) }
        if codec == .none { return raw }
        do {
            return try Compression.decompress(codec, raw, maxOutputBytes: maxUncompressedBytes)
        } catch let e as CompressionError {
            throw RecordBatchError.decompression(e)
        }
    }

    /// Decodes every record. Exactly recordsCount records must end exactly at the end of the records area.
    public func decodeRecords(maxUncompressedBytes: Int = 64 << 20) throws -> [Record] {
        let count = Int(recordsCount)
        guard count >= 0 else { throw RecordBatchError.invalidRecordCount(recordsCount) }
        var area = try recordsArea(maxUncompressedBytes: maxUncompressedBytes)
        // A record takes at least 7 bytes; a count the area cannot hold is corrupt, not a reason to allocate.
        guard count <= area.readableBytes / 7 + 1 else { throw RecordBatchError.invalidRecordCount(recordsCount) }
        var records: [Record] = []
        records.reserveCapacity(count)
        for _ in 0..<count { records.append(try Record(from: &area)) }
        guard area.readableBytes == 0 else { throw RecordBatchError.invalidRecordLength }
        return records
    }
}

/// The batches of a byte range (a fetch response's records, a segment's contents), as views without copies.
/// Iteration stops at the first entry that is not a whole v2 batch; `stop` says why.
public struct RecordBatchSequence: Sequence, Sendable {
    public let buffer: ByteBuffer
    public init(_ buffer: ByteBuffer) { self.buffer = buffer }

    /// Why iteration ended before the end of the buffer.
    public enum Stop: Equatable, Sendable {
        /// A trailing batch that is not complete (normal at the end of a fetch response or a torn write).
        case partialBatch(availableBytes: Int)
        /// An entry in the legacy message format (magic 0 or 1), or an unknown magic.
        case unsupportedMagic(Int8)
        /// A batchLength too small to hold a v2 header.
        case invalidBatchLength(Int32)
    }

    public struct Iterator: IteratorProtocol, Sendable {
        var remaining: ByteBuffer
        public private(set) var stop: Stop?

        public mutating func next() -> RecordBatchView? {
            guard stop == nil, remaining.readableBytes > 0 else { return nil }
            let available = remaining.readableBytes
            // The magic byte sits at offset 16 in every format (v0/v1 message sets and v2 batches).
            guard available >= 17 else {
                stop = .partialBatch(availableBytes: available)
                return nil
            }
            let batchLength: Int32 = remaining.getInteger(at: remaining.readerIndex + 8)!
            let magic: Int8 = remaining.getInteger(at: remaining.readerIndex + 16)!
            guard magic == 2 else {
                stop = .unsupportedMagic(magic)
                return nil
            }
            guard Int(batchLength) >= RecordBatchHeader.size - RecordBatchHeader.logOverhead else {
                stop = .invalidBatchLength(batchLength)
                return nil
            }
            let total = Int(batchLength) + RecordBatchHeader.logOverhead
            guard total <= available else {
                stop = .partialBatch(availableBytes: available)
                return nil
            }
            let slice = remaining.readSlice(length: total)!
            return try? RecordBatchView(bytes: slice)
        }

        /// Bytes not yet returned as batches.
        public var remainingBytes: Int { remaining.readableBytes }
    }

    public func makeIterator() -> Iterator { Iterator(remaining: buffer) }
}
