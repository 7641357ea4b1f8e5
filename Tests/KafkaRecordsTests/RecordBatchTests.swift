import KafkaRecords
import NIOCore
import SkeinModel
import Testing

/// Helpers shared by the batch tests.
enum Batches {
    static func bytes(_ s: String) -> ByteBuffer { ByteBuffer(string: s) }

    static func sampleRecords(_ n: Int) -> [Record] {
        (0..<n).map { i in
            let headers =
                i % 3 == 0
                ? [
                    RecordHeader(key: "trace-id", value: bytes("t\(i)")), RecordHeader(key: "k", value: nil),
                    RecordHeader(key: "k", value: ByteBuffer()),
                ]
                : []
            return Record(
                offsetDelta: Int32(i), timestampDelta: Int64(i * 3),
                key: i % 4 == 0 ? nil : bytes("key-\(i)"),
                value: i % 5 == 0 ? nil : bytes(String(repeating: "v\(i)", count: i % 50 + 1)),
                headers: headers)
        }
    }

    /// Recomputes the CRC after a deliberate edit, so that a test reaches the check after the CRC.
    static func fixCRC(_ b: inout ByteBuffer) {
        let crc = b.withUnsafeReadableBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[21...])) }
        b.setInteger(crc, at: b.readerIndex + 17)
    }

    static func address(_ b: ByteBuffer) -> UInt { b.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) } }
}

@Suite struct RecordBatchTests {
    @Test(arguments: CompressionCodec.allCases)
    func buildDecodeRoundTripWithEveryAttribute(codec: CompressionCodec) throws {
        let records = Batches.sampleRecords(40)
        for (transactional, deleteHorizon) in [(true, true), (false, false)] {
            let header = RecordBatchHeader(
                baseOffset: 1000, partitionLeaderEpoch: 7,
                attributes: RecordBatchAttributes(
                    compression: codec, isTransactional: transactional, hasDeleteHorizonMs: deleteHorizon),
                baseTimestamp: 1_700_000_000_000, producerId: ProducerId(42), producerEpoch: 3, baseSequence: 17)
            let batch = try RecordBatchBuilder.build(header: header, records: records)
            let view = try RecordBatchView(bytes: batch)
            try view.validate()
            try view.validateForAppend()
            let h = view.header
            #expect(h.baseOffset == 1000 && h.partitionLeaderEpoch == 7 && h.magic == 2)
            #expect(h.batchLength == Int32(batch.readableBytes - 12) && h.crc == view.computeChecksum())
            #expect(h.attributes.compression == codec && h.attributes.isTransactional == transactional)
            #expect(h.attributes.hasDeleteHorizonMs == deleteHorizon)
            #expect(!h.attributes.isControl && h.attributes.timestampType == .createTime)
            #expect(h.recordsCount == 40 && h.lastOffsetDelta == 39 && h.lastOffset == 1039)
            #expect(h.baseTimestamp == 1_700_000_000_000 && h.maxTimestamp == 1_700_000_000_000 + 39 * 3)
            #expect(h.producerId == ProducerId(42) && h.producerEpoch == 3 && h.baseSequence == 17)
            #expect(h.lastSequence == 56)
            #expect(try view.decodeRecords() == records)
            let decoded = try RecordBatch(decoding: batch)
            #expect(decoded.header == h && decoded.records == records)
            #expect(try decoded.encoded() == batch)
            #expect(h.offset(of: records[5]) == 1005 && h.timestamp(of: records[5]) == 1_700_000_000_015)
            #expect(h.sequence(atOffsetDelta: 5) == 22)
        }
    }

    @Test func attributesKeepUnusedBitsAndControlRoundTrips() throws {
        let attributes = RecordBatchAttributes(rawValue: Int16(bitPattern: 0xFF80) | 0x3A)
        #expect(attributes.compression == .snappy && attributes.timestampType == .logAppendTime)
        #expect(attributes.isTransactional && attributes.isControl && !attributes.hasDeleteHorizonMs)
        let batch = try RecordBatchBuilder.build(
            header: RecordBatchHeader(attributes: attributes, baseTimestamp: 5, maxTimestamp: 99),
            records: Batches.sampleRecords(3))
        let view = try RecordBatchView(bytes: batch)
        try view.validate()
        #expect(view.attributes == attributes)
        #expect(
            RecordBatchAttributes(
                compression: .zstd, timestampType: .logAppendTime, isTransactional: true,
                isControl: true, hasDeleteHorizonMs: true
            ).rawValue == 0x7C)
        #expect(RecordBatchAttributes(rawValue: 6).compression == nil)
    }

    @Test func logAppendTimeKeepsMaxTimestampForEveryRecord() throws {
        let header = RecordBatchHeader(
            attributes: RecordBatchAttributes(timestampType: .logAppendTime), baseTimestamp: 5, maxTimestamp: 99)
        let records = Batches.sampleRecords(3)
        let view = try RecordBatchView(bytes: RecordBatchBuilder.build(header: header, records: records))
        #expect(view.header.maxTimestamp == 99)
        #expect(view.header.attributes.timestampType == .logAppendTime)
        #expect(records.map { view.header.timestamp(of: $0) } == [99, 99, 99])
    }

    @Test func nullAndEmptyKeysValuesAndHeadersAreDistinct() throws {
        let records = [
            Record(offsetDelta: 0, key: nil, value: nil),
            Record(offsetDelta: 1, key: ByteBuffer(), value: ByteBuffer()),
            Record(
                offsetDelta: 2, key: Batches.bytes("k"), value: nil,
                headers: [RecordHeader(key: "", value: nil), RecordHeader(key: "ü", value: ByteBuffer())]),
            Record(attributes: 0, offsetDelta: 3, timestampDelta: -5, key: nil, value: Batches.bytes("v")),
        ]
        let batch = try RecordBatchBuilder.build(records: records, baseTimestamp: 100)
        #expect(try RecordBatch(decoding: batch).records == records)
        // Hand-encoded record: Java's layout, byte for byte (length 7, zigzag 0x0E, covers the body).
        var manual = ByteBuffer()
        manual.writeBytes([0x0E, 0x00, 0x00, 0x02, 0x01, 0x02, 0x61, 0x00])
        let record = try Record(from: &manual)
        #expect(record.offsetDelta == 1 && record.timestampDelta == 0 && record.key == nil)
        #expect(record.value == Batches.bytes("a") && record.headers.isEmpty && manual.readableBytes == 0)
    }

    @Test func recordDecodingFollowsJava() throws {
        // Any negative key or value length is null in Java's DefaultRecord (not only -1).
        var negative = ByteBuffer()
        negative.writeBytes([0x0C, 0x00, 0x00, 0x00, 0x05, 0x07, 0x00])
        let record = try Record(from: &negative)
        #expect(record.key == nil && record.value == nil)
        // A header key of invalid UTF-8 is decoded with replacement characters, as new String(bytes, UTF_8).
        var badUTF8 = ByteBuffer()
        badUTF8.writeBytes([0x12, 0x00, 0x00, 0x00, 0x01, 0x01, 0x02, 0x02, 0xFF, 0x01])
        #expect(try Record(from: &badUTF8).headers.first?.key == "\u{FFFD}")
        // A negative header key length, a negative header count, and a length that leaves bytes over.
        let bad: [[UInt8]] = [
            [0x10, 0x00, 0x00, 0x00, 0x01, 0x01, 0x02, 0x01, 0x01],
            [0x0C, 0x00, 0x00, 0x00, 0x01, 0x01, 0x01],
            [0x0E, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00, 0x00],
            [0x0E, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00],
        ]
        for bytes in bad {
            var b = ByteBuffer(bytes: bytes)
            #expect(throws: RecordBatchError.self) { try Record(from: &b) }
        }
    }

    @Test func sequenceWrapsLikeKafka() {
        let h = RecordBatchHeader(lastOffsetDelta: 5, baseSequence: Int32.max - 2)
        #expect(h.lastSequence == 2)
        #expect(RecordBatchHeader(lastOffsetDelta: 5, baseSequence: -1).lastSequence == -1)
    }

    @Test func validationFailures() throws {
        let batch = try RecordBatchBuilder.build(records: Batches.sampleRecords(5), baseTimestamp: 1)
        try RecordBatchView(bytes: batch).validate()
        // CRC: flip a bit in a record, and in each covered header field.
        for at in [70, 21, 23, 27, 35, 43, 51, 53, 57, batch.readableBytes - 1] {
            var corrupt = batch
            corrupt.setInteger(corrupt.getInteger(at: at, as: UInt8.self)! ^ 0x04, at: at)
            #expect(throws: RecordBatchError.self) { try RecordBatchView(bytes: corrupt).validate() }
        }
        var crcFlipped = batch
        crcFlipped.setInteger(crcFlipped.getInteger(at: 17, as: UInt32.self)! ^ 1, at: 17)
        #expect(throws: RecordBatchError.self) { try RecordBatchView(bytes: crcFlipped).validate() }
        // batchLength that disagrees with the bytes, in both directions.
        for length in [Int32(10), Int32(batch.readableBytes - 12 + 1), Int32(batch.readableBytes - 12 - 1), -1] {
            var badLength = batch
            badLength.setInteger(length, at: 8)
            #expect(throws: RecordBatchError.invalidBatchLength(length)) { try RecordBatchView(bytes: badLength) }
        }
        // Truncated anywhere.
        for n in [0, 11, 40, 60, 61, batch.readableBytes - 1] {
            #expect(throws: RecordBatchError.self) { try RecordBatchView(bytes: batch.getSlice(at: 0, length: n)!) }
        }
        // Unknown compression ids 5-7, re-CRCed.
        for id in Int16(5)...7 {
            var codec = batch
            codec.setInteger(id, at: 21)
            Batches.fixCRC(&codec)
            #expect(throws: RecordBatchError.invalidCompression(id)) { try RecordBatchView(bytes: codec).validate() }
        }
        // Wrong magic.
        var magic1 = batch
        magic1.setInteger(Int8(1), at: 16)
        #expect(throws: RecordBatchError.unsupportedMagic(1)) { try RecordBatchView(bytes: magic1).validate() }
        // Negative recordsCount.
        var negative = batch
        negative.setInteger(Int32(-1), at: 57)
        Batches.fixCRC(&negative)
        #expect(throws: RecordBatchError.invalidRecordCount(-1)) { try RecordBatchView(bytes: negative).validate() }
    }

    @Test func appendValidationFollowsLogValidator() throws {
        // Count that disagrees with lastOffsetDelta, with a valid CRC: fine for storage, refused for append.
        let skewed = try RecordBatchBuilder.build(
            header: RecordBatchHeader(baseTimestamp: 1),
            records: [
                Record(offsetDelta: 0, key: nil, value: Batches.bytes("a")),
                Record(offsetDelta: 5, key: nil, value: Batches.bytes("b")),
            ])
        let skewedView = try RecordBatchView(bytes: skewed)
        try skewedView.validate()
        #expect(try skewedView.decodeRecords().count == 2)
        #expect(throws: RecordBatchError.inconsistentOffsetRange(count: 2, lastOffsetDelta: 5)) {
            try skewedView.validateForAppend()
        }
        // An empty batch (as compaction leaves) is valid but not appendable from a client.
        let empty = try RecordBatchView(bytes: RecordBatchBuilder.build(records: [], baseTimestamp: -1))
        try empty.validate()
        #expect(try empty.decodeRecords().isEmpty)
        #expect(throws: RecordBatchError.self) { try empty.validateForAppend() }
        // Clients may not write control batches.
        let marker = try RecordBatchBuilder.transactionMarker(
            commit: false, producerId: ProducerId(1), producerEpoch: 0, coordinatorEpoch: 0, timestamp: 1)
        #expect(throws: RecordBatchError.controlBatchFromClient) {
            try RecordBatchView(bytes: marker).validateForAppend()
        }
        // A producerId needs a sequence.
        let noSequence = try RecordBatchBuilder.build(
            records: Batches.sampleRecords(2), baseTimestamp: 1, producerId: ProducerId(9), baseSequence: -1)
        #expect(throws: RecordBatchError.invalidSequence(producerId: 9, baseSequence: -1)) {
            try RecordBatchView(bytes: noSequence).validateForAppend()
        }
    }

    @Test func recordsCountMustMatchTheRecords() throws {
        for codec in CompressionCodec.allCases {
            let batch = try RecordBatchBuilder.build(
                records: Batches.sampleRecords(5), baseTimestamp: 1, compression: codec)
            for claimed in [Int32(0), 4, 6, 1000, Int32.max] {
                var b = batch
                b.setInteger(claimed, at: 57)
                Batches.fixCRC(&b)
                let view = try RecordBatchView(bytes: b)
                try view.validate()
                #expect(throws: RecordBatchError.self) { try view.decodeRecords() }
            }
        }
    }

    @Test func decodingIsBoundedForCompressedBatches() throws {
        let big = (0..<200).map { i in
            Record(offsetDelta: Int32(i), key: nil, value: ByteBuffer(repeating: 0, count: 10_000))
        }
        for codec in CompressionCodec.allCases where codec != .none {
            let view = try RecordBatchView(
                bytes: RecordBatchBuilder.build(
                    records: big, baseTimestamp: 1, compression: codec))
            #expect(view.sizeInBytes < 200_000)
            #expect(throws: RecordBatchError.decompression(.decompressedTooLarge(limit: 100_000))) {
                try view.decodeRecords(maxUncompressedBytes: 100_000)
            }
            #expect(try view.decodeRecords(maxUncompressedBytes: 4 << 20).count == 200)
        }
    }

    @Test func inPlaceRewriteKeepsCRCAndDoesNotCopy() throws {
        for codec in [CompressionCodec.none, .zstd] {
            var view = try RecordBatchView(
                bytes: RecordBatchBuilder.build(
                    records: Batches.sampleRecords(10), baseTimestamp: 1, compression: codec))
            let crc = view.crc
            let before = Batches.address(view.bytes)
            view.setBaseOffset(123_456_789)
            view.setPartitionLeaderEpoch(42)
            #expect(Batches.address(view.bytes) == before, "the rewrite copied the batch")
            #expect(view.baseOffset == 123_456_789 && view.partitionLeaderEpoch == 42)
            #expect(view.lastOffset == 123_456_798 && view.crc == crc)
            try view.validate()
        }
        // A view inside a larger buffer, uniquely referenced once the parent is gone: still no copy.
        var all = ByteBuffer()
        all.writeImmutableBuffer(try RecordBatchBuilder.build(records: Batches.sampleRecords(2), baseTimestamp: 1))
        all.writeImmutableBuffer(try RecordBatchBuilder.build(records: Batches.sampleRecords(3), baseTimestamp: 1))
        var views = RecordBatchSequence(all).scan().batches
        all = ByteBuffer()
        var second = views.removeLast()
        views.removeAll()
        let before = Batches.address(second.bytes)
        second.setBaseOffset(7)
        #expect(Batches.address(second.bytes) == before)
        try second.validate()
    }

    @Test func iterationOverConcatenatedBatchesWithoutCopies() throws {
        var all = ByteBuffer()
        var offsets: [Int64] = []
        for i in 0..<5 {
            let batch = try RecordBatchBuilder.build(
                records: Batches.sampleRecords(i + 1), baseOffset: Int64(i * 100), baseTimestamp: 1,
                compression: CompressionCodec.allCases[i % 5])
            all.writeImmutableBuffer(batch)
            offsets.append(Int64(i * 100))
        }
        let complete = all.readableBytes
        let tail = try RecordBatchBuilder.build(records: Batches.sampleRecords(3), baseTimestamp: 1)
        for partial in [1, 11, 12, 16, 17, 30, 61, tail.readableBytes - 1] {
            var buffer = all
            buffer.writeImmutableBuffer(tail.getSlice(at: 0, length: partial)!)
            let base = Batches.address(buffer)
            var iterator = RecordBatchSequence(buffer).makeIterator()
            var seen: [Int64] = []
            var position = 0
            while let view = iterator.next() {
                try view.validate()
                #expect(Batches.address(view.bytes) == base + UInt(position), "a view copied its bytes")
                position += view.sizeInBytes
                seen.append(view.baseOffset)
            }
            #expect(seen == offsets)
            #expect(position == complete)
            #expect(iterator.stop == .partialBatch(availableBytes: partial))
            #expect(iterator.remainingBytes == partial)
        }
        let (batches, stop) = RecordBatchSequence(all).scan()
        #expect(batches.count == 5 && stop == nil)
        #expect(RecordBatchSequence(ByteBuffer()).scan().batches.isEmpty)
    }

    @Test func legacyMagicIsRecognizedNotDecoded() throws {
        for magic in [Int8(0), 1] {
            var legacy = ByteBuffer()
            legacy.writeInteger(Int64(0))
            legacy.writeInteger(Int32(30))
            legacy.writeInteger(UInt32(0))  // plain CRC-32 in the old format; not checked
            legacy.writeInteger(magic)
            legacy.writeRepeatingByte(0, count: 25)
            var all = try RecordBatchBuilder.build(records: Batches.sampleRecords(1), baseTimestamp: 1)
            all.writeImmutableBuffer(legacy)
            var iterator = RecordBatchSequence(all).makeIterator()
            #expect(iterator.next() != nil)
            #expect(iterator.next() == nil)
            #expect(iterator.stop == .legacyMessageSet(magic: magic, size: 42))
        }
        var future = try RecordBatchBuilder.build(records: Batches.sampleRecords(1), baseTimestamp: 1)
        future.setInteger(Int8(3), at: 16)
        #expect(RecordBatchSequence(future).scan().stop == .unsupportedMagic(3))
        var tiny = ByteBuffer()
        tiny.writeInteger(Int64(0))
        tiny.writeInteger(Int32(13))
        tiny.writeRepeatingByte(2, count: 13)
        #expect(RecordBatchSequence(tiny).scan().stop == .invalidBatchLength(13))
        var shortV2 = tiny
        shortV2.setInteger(Int32(14), at: 8)
        shortV2.writeInteger(UInt8(2))
        #expect(RecordBatchSequence(shortV2).scan().stop == .invalidBatchLength(14))
    }

    @Test func varintLimits() throws {
        var long = ByteBuffer(bytes: [0x80, 0x80, 0x80, 0x80, 0x80, 0x01])  // 6 bytes: over Java's 5-byte limit
        #expect(throws: RecordBatchError.invalidVarint) { try long.readZigZagVarint() }
        var longer = ByteBuffer(bytes: [UInt8](repeating: 0x80, count: 10) + [0x01])
        #expect(throws: RecordBatchError.invalidVarint) { try longer.readZigZagVarlong() }
        var short = ByteBuffer(bytes: [0x80])
        #expect(throws: RecordBatchError.truncated) { try short.readZigZagVarint() }
        var b = ByteBuffer()
        for v in [Int64.min, -1, 0, 1, Int64.max] { b.writeZigZagVarlong(v) }
        #expect(b.readableBytes == 10 + 1 + 1 + 1 + 10)
        for v in [Int64.min, -1, 0, 1, Int64.max] { #expect(try b.readZigZagVarlong() == v) }
        for (v, size) in [(Int32.min, 5), (-64, 1), (63, 1), (64, 2), (-65, 2), (Int32.max, 5)] {
            var c = ByteBuffer()
            c.writeZigZagVarint(v)
            #expect(c.readableBytes == size)
            #expect(try c.readZigZagVarint() == v)
        }
        // Protobuf sint32 examples: 0 -> 00, -1 -> 01, 1 -> 02, -2 -> 03, 300 -> D8 04.
        var known = ByteBuffer()
        for v: Int32 in [0, -1, 1, -2, 300] { known.writeZigZagVarint(v) }
        #expect(Array(known.readableBytesView) == [0x00, 0x01, 0x02, 0x03, 0xD8, 0x04])
    }
}

@Suite struct ControlRecordTests {
    @Test func transactionMarkers() throws {
        for commit in [true, false] {
            let marker = try RecordBatchBuilder.transactionMarker(
                commit: commit, producerId: ProducerId(9), producerEpoch: 2, coordinatorEpoch: 5, timestamp: 100,
                baseOffset: 77, partitionLeaderEpoch: 3)
            let view = try RecordBatchView(bytes: marker)
            try view.validate()
            let h = view.header
            #expect(h.attributes.rawValue == 0x30 && h.baseSequence == -1 && h.recordsCount == 1)
            #expect(h.producerId == ProducerId(9) && h.producerEpoch == 2 && h.baseOffset == 77)
            #expect(h.partitionLeaderEpoch == 3 && h.lastOffsetDelta == 0 && h.baseTimestamp == 100)
            #expect(try view.controlRecordType() == (commit ? .commit : .abort))
            let record = try #require(try view.decodeRecords().first)
            #expect(Array(record.key!.readableBytesView) == [0, 0, 0, commit ? 1 : 0])
            #expect(Array(record.value!.readableBytesView) == [0, 0, 0, 0, 0, 5])
            #expect(record.headers.isEmpty)
            let decoded = try #require(try view.endTransactionMarker())
            #expect(decoded.commit == commit && decoded.marker == EndTransactionMarker(coordinatorEpoch: 5))
        }
    }

    @Test func genericControlBatches() throws {
        let types: [ControlRecordType] = [
            .leaderChange, .snapshotHeader, .snapshotFooter, .kraftVersion, .kraftVoters, .unknown(77),
        ]
        for (raw, type) in zip([Int16(2), 3, 4, 5, 6, 77], types) {
            #expect(type.rawValue == raw && ControlRecordType(rawValue: raw) == type)
            let value = Batches.bytes("raw-\(raw)")
            let batch = try RecordBatchBuilder.controlBatch(type: type, value: value, timestamp: 1)
            let view = try RecordBatchView(bytes: batch)
            try view.validate()
            #expect(view.attributes.rawValue == 0x20)
            let control = try #require(try view.controlRecord())
            #expect(control.key == ControlRecordKey(type: type) && control.value == Batches.bytes("raw-\(raw)"))
            #expect(try view.endTransactionMarker() == nil)
        }
        #expect(ControlRecordType(rawValue: 0) == .abort && ControlRecordType(rawValue: 1) == .commit)
        let data = try RecordBatchView(
            bytes: RecordBatchBuilder.build(records: Batches.sampleRecords(1), baseTimestamp: 1))
        #expect(try data.controlRecord() == nil)
    }

    @Test func keysAndMarkerValuesFollowKafkasVersionRules() throws {
        // A higher version reads as version 0, extra bytes ignored; a negative one is corrupt.
        let newer = try ControlRecordKey(from: ByteBuffer(bytes: [0, 3, 0, 1, 0xAA]))
        #expect(newer.version == 3 && newer.type == .commit)
        #expect(throws: RecordBatchError.invalidControlRecord) {
            try ControlRecordKey(from: ByteBuffer(bytes: [0xFF, 0xFF, 0, 0]))
        }
        #expect(throws: RecordBatchError.invalidControlRecord) {
            try ControlRecordKey(from: ByteBuffer(bytes: [0, 0, 0]))
        }
        let marker = EndTransactionMarker(coordinatorEpoch: -7)
        #expect(try EndTransactionMarker(from: marker.encoded) == marker)
        #expect(try EndTransactionMarker(from: ByteBuffer(bytes: [0, 1, 0, 0, 0, 9, 1, 2])).coordinatorEpoch == 9)
        #expect(throws: RecordBatchError.invalidControlRecord) {
            try EndTransactionMarker(from: ByteBuffer(bytes: [0x80, 0, 0, 0, 0, 9]))
        }
        #expect(throws: RecordBatchError.invalidControlRecord) {
            try EndTransactionMarker(from: ByteBuffer(bytes: [0, 0, 0, 0, 9]))
        }
    }
}
