import NIOCore
import SkeinModel

/// Builds complete v2 batches: lengths, lastOffsetDelta and maxTimestamp from the records, compression, and
/// the CRC last.
public enum RecordBatchBuilder {
    /// A batch of `records`. `header` supplies baseOffset, epochs, producer fields, baseTimestamp and
    /// attributes (the codec included); magic, batchLength, recordsCount, lastOffsetDelta, the CRC and (unless
    /// LogAppendTime) maxTimestamp are computed here. Records are written as given: offsetDelta 0, 1, 2...
    /// is the caller's to choose.
    public static func build(header: RecordBatchHeader, records: [Record]) throws -> ByteBuffer {
        var h = header
        h.magic = 2
        h.recordsCount = Int32(records.count)
        h.lastOffsetDelta = records.last?.offsetDelta ?? 0
        if h.attributes.timestampType == .createTime {
            let maxDelta = records.map(\.timestampDelta).max()
            h.maxTimestamp = maxDelta.map { h.baseTimestamp &+ $0 } ?? h.baseTimestamp
        }
        var body = ByteBuffer()
        body.reserveCapacity(records.reduce(0) { $0 + $1.bodySize + 5 })
        for r in records { r.write(into: &body) }
        guard let codec = h.attributes.compression else {
            throw RecordBatchError.invalidCompression(h.attributes.compressionId)
        }
        if codec != .none { body = try Compression.compress(codec, body) }

        guard body.readableBytes <= Int(Int32.max) - RecordBatchHeader.size else {
            throw RecordBatchError.invalidBatchLength(-1)
        }
        var out = ByteBuffer()
        out.reserveCapacity(RecordBatchHeader.size + body.readableBytes)
        h.batchLength = Int32(RecordBatchHeader.size - RecordBatchHeader.logOverhead + body.readableBytes)
        h.crc = 0
        h.write(into: &out)
        out.writeImmutableBuffer(body)
        // Last, once every covered byte is final.
        let crc = out.withUnsafeReadableBytes {
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[RecordBatchHeader.crcStart...]))
        }
        out.setInteger(crc, at: out.readerIndex + RecordBatchHeader.crcOffset)
        return out
    }

    /// A producer's batch, with the usual defaults (no producer id, CreateTime).
    public static func build(
        records: [Record], baseOffset: Int64 = 0, baseTimestamp: Int64, compression: CompressionCodec = .none,
        producerId: ProducerId = .none, producerEpoch: Int16 = -1, baseSequence: Int32 = -1,
        isTransactional: Bool = false
    ) throws -> ByteBuffer {
        try build(
            header: RecordBatchHeader(
                baseOffset: baseOffset,
                attributes: RecordBatchAttributes(compression: compression, isTransactional: isTransactional),
                baseTimestamp: baseTimestamp, producerId: producerId, producerEpoch: producerEpoch,
                baseSequence: baseSequence),
            records: records)
    }
}
