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

    private func field<T: FixedWidthInteger>(_ offset: Int, as: T.Type = T.self) -> T {
        // Safe to unwrap: init guarantees at least the 61 header bytes.
        bytes.getInteger(at: bytes.readerIndex + offset)!
    }

    /// The header, read from the bytes each time (cheap: fixed offsets).
    public var header: RecordBatchHeader { try! RecordBatchHeader(from: bytes, at: bytes.readerIndex) }

    public var baseOffset: Int64 { field(0) }
    public var batchLength: Int32 { field(8) }
    public var partitionLeaderEpoch: Int32 { field(RecordBatchHeader.partitionLeaderEpochOffset) }
    public var magic: Int8 { field(RecordBatchHeader.magicOffset) }
    /// The CRC as stored (see `computeChecksum()` for what it should be).
    public var crc: UInt32 { field(RecordBatchHeader.crcOffset) }
    public var attributes: RecordBatchAttributes {
        RecordBatchAttributes(rawValue: field(RecordBatchHeader.attributesOffset))
    }
    public var lastOffsetDelta: Int32 { field(RecordBatchHeader.lastOffsetDeltaOffset) }
    public var lastOffset: Int64 { baseOffset &+ Int64(lastOffsetDelta) }
    public var recordsCount: Int32 { field(RecordBatchHeader.recordsCountOffset) }
    /// The batch's size on the wire and on disk (batchLength + 12).
    public var sizeInBytes: Int { bytes.readableBytes }

    /// The CRC-32C over attributes..end, as it should be stored.
    public func computeChecksum() -> UInt32 {
        bytes.withUnsafeReadableBytes {
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[RecordBatchHeader.crcStart...]))
        }
    }

    /// Kafka's checks of a batch as a whole (DefaultRecordBatch.ensureValid and its iterator): magic 2, a
    /// batchLength that matches the bytes and covers the header, the CRC-32C, a known codec, and a non-negative
    /// recordsCount. Cheap: no record is decoded, nothing is decompressed.
    public func validate() throws {
        guard magic == 2 else { throw RecordBatchError.unsupportedMagic(magic) }
        let length = batchLength
        guard Int(length) + RecordBatchHeader.logOverhead == bytes.readableBytes,
            Int(length) >= RecordBatchHeader.size - RecordBatchHeader.logOverhead
        else { throw RecordBatchError.invalidBatchLength(length) }
        let stored = crc
        let computed = computeChecksum()
        guard stored == computed else { throw RecordBatchError.crcMismatch(stored: stored, computed: computed) }
        let attributes = attributes
        guard attributes.compression != nil else {
            throw RecordBatchError.invalidCompression(attributes.compressionId)
        }
        guard recordsCount >= 0 else { throw RecordBatchError.invalidRecordCount(recordsCount) }
    }

    /// What a broker checks before appending a batch a client produced (Kafka's LogValidator.validateBatch for
    /// v2): everything in `validate()`, a positive offset range and recordsCount with
    /// recordsCount == lastOffsetDelta + 1, no control batch, and baseSequence >= 0 when there is a producerId.
    /// (Compaction can leave gaps and empty batches, so only client input is held to this.)
    public func validateForAppend() throws {
        try validate()
        let count = recordsCount
        let delta = lastOffsetDelta
        guard delta >= 0 else { throw RecordBatchError.inconsistentOffsetRange(count: count, lastOffsetDelta: delta) }
        guard count > 0 else { throw RecordBatchError.invalidRecordCount(count) }
        guard Int64(count) == Int64(delta) + 1 else {
            throw RecordBatchError.inconsistentOffsetRange(count: count, lastOffsetDelta: delta)
        }
        guard !attributes.isControl else { throw RecordBatchError.controlBatchFromClient }
        let header = header
        if header.producerId.rawValue >= 0 && header.baseSequence < 0 {
            throw RecordBatchError.invalidSequence(
                producerId: header.producerId.rawValue, baseSequence: header.baseSequence)
        }
    }

    /// Sets baseOffset in place. The CRC does not cover it, so the batch stays valid. No copy is made when the
    /// storage is not shared (ByteBuffer is copy-on-write).
    public mutating func setBaseOffset(_ offset: Int64) {
        bytes.setInteger(offset, at: bytes.readerIndex)
    }

    /// Sets partitionLeaderEpoch in place; like baseOffset, outside the CRC.
    public mutating func setPartitionLeaderEpoch(_ epoch: Int32) {
        bytes.setInteger(epoch, at: bytes.readerIndex + RecordBatchHeader.partitionLeaderEpochOffset)
    }

    /// The records area after the header, decompressed if needed (bounded by `maxUncompressedBytes`).
    /// Uncompressed records are a slice, not a copy.
    public func recordsArea(maxUncompressedBytes: Int) throws -> ByteBuffer {
        let start = bytes.readerIndex + RecordBatchHeader.size
        let raw = bytes.getSlice(at: start, length: bytes.readableBytes - RecordBatchHeader.size)!
        let attributes = attributes
        guard let codec = attributes.compression else {
            throw RecordBatchError.invalidCompression(attributes.compressionId)
        }
        if codec == .none { return raw }
        do {
            return try Compression.decompress(codec, raw, maxOutputBytes: maxUncompressedBytes)
        } catch let e as CompressionError {
            throw RecordBatchError.decompression(e)
        }
    }

    /// Decodes every record without checking the CRC (call `validate()` first, or use `decode`).
    /// Exactly recordsCount records must end exactly at the end of the records area, and each record must
    /// consume exactly its length prefix, as Java's DefaultRecordBatch iterators require.
    public func decodeRecords(maxUncompressedBytes: Int = 64 << 20) throws -> [Record] {
        let count = Int(recordsCount)
        guard count >= 0 else { throw RecordBatchError.invalidRecordCount(recordsCount) }
        var area = try recordsArea(maxUncompressedBytes: maxUncompressedBytes)
        // A record takes at least 7 bytes (length, attributes, two deltas, key and value lengths, header
        // count): a count the area cannot hold is corrupt, not a reason to allocate.
        guard count <= area.readableBytes / 7 else {
            throw RecordBatchError.invalidRecordCount(recordsCount)
        }
        var records: [Record] = []
        records.reserveCapacity(count)
        for _ in 0..<count { records.append(try Record(from: &area)) }
        guard area.readableBytes == 0 else { throw RecordBatchError.invalidRecordLength }
        return records
    }

    /// `validate()`, then the header and every record.
    public func decode(maxUncompressedBytes: Int = 64 << 20) throws -> RecordBatch {
        try validate()
        return RecordBatch(header: header, records: try decodeRecords(maxUncompressedBytes: maxUncompressedBytes))
    }
}

/// The batches of a byte range (a fetch response's records, a segment's contents), as views without copies.
/// Iteration stops at the first entry that is not a whole v2 batch; the iterator's `stop` says why. The checks
/// and their order follow Java's ByteBufferLogInputStream.
public struct RecordBatchSequence: Sequence, Sendable {
    /// The concatenated batches.
    public let buffer: ByteBuffer
    /// Iterates the batches of `buffer`'s readable bytes.
    public init(_ buffer: ByteBuffer) { self.buffer = buffer }

    /// Why iteration ended before the end of the buffer.
    public enum Stop: Equatable, Sendable {
        /// A trailing batch that is not complete: normal at the end of a fetch response, or a torn write.
        case partialBatch(availableBytes: Int)
        /// An entry in the legacy message-set format (magic 0 or 1); `size` is its whole size with the
        /// 12-byte offset and size prefix. Recognised, not decoded.
        case legacyMessageSet(magic: Int8, size: Int)
        /// A magic byte that is neither legacy nor 2.
        case unsupportedMagic(Int8)
        /// A size too small for any entry (below 14, Java's smallest legacy record), or a v2 batchLength
        /// too small for the 61-byte header.
        case invalidBatchLength(Int32)
    }

    /// Yields one view per whole batch; `stop` is set when it ends early.
    public struct Iterator: IteratorProtocol, Sendable {
        var remaining: ByteBuffer
        /// Nil while batches keep coming, and after a clean end.
        public private(set) var stop: Stop?

        public mutating func next() -> RecordBatchView? {
            guard stop == nil, remaining.readableBytes > 0 else { return nil }
            let available = remaining.readableBytes
            guard available >= RecordBatchHeader.logOverhead else {
                stop = .partialBatch(availableBytes: available)
                return nil
            }
            let batchLength: Int32 = remaining.getInteger(at: remaining.readerIndex + 8)!
            // Java: a size below LegacyRecord.RECORD_OVERHEAD_V0 (14) is corrupt whatever the format.
            guard batchLength >= 14 else {
                stop = .invalidBatchLength(batchLength)
                return nil
            }
            let total = Int(batchLength) + RecordBatchHeader.logOverhead
            // The magic byte at offset 16 is needed before anything else can be read (17 bytes).
            guard available > RecordBatchHeader.magicOffset, total <= available else {
                stop = .partialBatch(availableBytes: available)
                return nil
            }
            let magic: Int8 = remaining.getInteger(at: remaining.readerIndex + RecordBatchHeader.magicOffset)!
            switch magic {
            case 2: break
            case 0, 1:
                stop = .legacyMessageSet(magic: magic, size: total)
                return nil
            default:
                stop = .unsupportedMagic(magic)
                return nil
            }
            guard total >= RecordBatchHeader.size else {
                stop = .invalidBatchLength(batchLength)
                return nil
            }
            return try? RecordBatchView(bytes: remaining.readSlice(length: total)!)
        }

        /// Bytes not yet returned as batches.
        public var remainingBytes: Int { remaining.readableBytes }
    }

    public func makeIterator() -> Iterator { Iterator(remaining: buffer) }

    /// Every whole batch and why iteration stopped (nil: the buffer ended exactly after the last batch).
    /// Reads only headers, so it is cheap; the views share the buffer's storage.
    public func scan() -> (batches: [RecordBatchView], stop: Stop?) {
        var iterator = makeIterator()
        var batches: [RecordBatchView] = []
        while let view = iterator.next() { batches.append(view) }
        return (batches, iterator.stop)
    }
}
