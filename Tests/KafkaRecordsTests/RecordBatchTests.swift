import KafkaRecords
import NIOCore
import SkeinModel
import Testing

@Suite struct RecordBatchTests {
    static func bytes(_ s: String) -> ByteBuffer { ByteBuffer(string: s) }

    static func sampleRecords(_ n: Int) -> [Record] {
        (0..<n).map { i in
            Record(
                offsetDelta: Int32(i), timestampDelta: Int64(i * 3),
                key: i % 4 == 0 ? nil : bytes("key-\(i)"),
                value: i % 5 == 0 ? nil : bytes(String(repeating: "v\(i)", count: i % 50 + 1)),
                headers: i % 3 == 0 ? [RecordHeader(key: "trace-id", value: bytes("t\(i)")), RecordHeader(key: "k", value: nil)] : [])
        }
    }

    @Test(arguments: CompressionCodec.allCases)
    func buildDecodeRoundTripWithEveryAttribute(codec: CompressionCodec) throws {
        let records = Self.sampleRecords(40)
        let header = RecordBatchHeader(
            baseOffset: 1000, partitionLeaderEpoch: 7,
            attributes: RecordBatchAttributes(compression: codec, isTransactional: true, hasDeleteHorizonMs: true),
            baseTimestamp: 1_700_000_000_000, producerId: ProducerId(42), producerEpoch: 3, baseSequence: 17)
        let batch = try RecordBatchBuilder.build(header: header, records: records)
        let view = try RecordBatchView(bytes: batch)
        try view.validate()
        try view.validateForAppend()
        let h = view.header
        #expect(h.baseOffset == 1000 && h.partitionLeaderEpoch == 7 && h.magic == 2)
        #expect(h.attributes.compression == codec && h.attributes.isTransactional && h.attributes.hasDeleteHorizonMs)
        #expect(!h.attributes.isControl && h.attributes.timestampType == .createTime)
        #expect(h.recordsCount == 40 && h.lastOffsetDelta == 39 && h.lastOffset == 1039)
        #expect(h.maxTimestamp == 1_700_000_000_000 + 39 * 3)
        #expect(h.producerId == ProducerId(42) && h.producerEpoch == 3 && h.baseSequence == 17 && h.lastSequence == 56)
        #expect(try view.decodeRecords() == records)
    }

    @Test func logAppendTimeKeepsMaxTimestamp() throws {
        let header = RecordBatchHeader(
            attributes: RecordBatchAttributes(timestampType: .logAppendTime), baseTimestamp: 5, maxTimestamp: 99)
        let view = try RecordBatchView(bytes: RecordBatchBuilder.build(header: header, records: Self.sampleRecords(3)))
        #expect(view.header.maxTimestamp == 99)
        #expect(view.header.attributes.timestampType == .logAppendTime)
    }

    @Test func sequenceWrapsLikeKafka() {
        let h = RecordBatchHeader(lastOffsetDelta: 5, baseSequence: Int32.max - 2)
        #expect(h.lastSequence == 2)
    }

    @Test func validationFailures() throws {
        let batch = try RecordBatchBuilder.build(records: Self.sampleRecords(5), baseTimestamp: 1)
        // CRC: flip a byte of a record.
        var corrupt = batch
        corrupt.setInteger(corrupt.getInteger(at: 70, as: UInt8.self)! ^ 0xFF, at: 70)
        #expect(throws: RecordBatchError.self) { try RecordBatchView(bytes: corrupt).validate() }
        // batchLength that disagrees with the bytes.
        var badLength = batch
        badLength.setInteger(Int32(10), at: 8)
        #expect(throws: RecordBatchError.invalidBatchLength(10)) { try RecordBatchView(bytes: badLength) }
        // Truncated.
        #expect(throws: RecordBatchError.self) { try RecordBatchView(bytes: batch.getSlice(at: 0, length: 40)!) }
        // Count that disagrees with lastOffsetDelta, with a valid CRC: refused for append.
        let skewed = try RecordBatchBuilder.build(
            header: RecordBatchHeader(baseTimestamp: 1),
            records: [Record(offsetDelta: 0, key: nil, value: Self.bytes("a")), Record(offsetDelta: 5, key: nil, value: Self.bytes("b"))])
        let skewedView = try RecordBatchView(bytes: skewed)
        try skewedView.validate()
        #expect(throws: RecordBatchError.inconsistentOffsetRange(count: 2, lastOffsetDelta: 5)) { try skewedView.validateForAppend() }
        // Unknown compression id 5, re-CRCed.
        var codec5 = batch
        codec5.setInteger(Int16(5), at: 21)
        let crc = codec5.withUnsafeReadableBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[21...])) }
        codec5.setInteger(crc, at: 17)
        #expect(throws: RecordBatchError.invalidCompression(5)) { try RecordBatchView(bytes: codec5).validate() }
        // Wrong magic.
        var magic1 = batch
        magic1.setInteger(Int8(1), at: 16)
        #expect(throws: RecordBatchError.unsupportedMagic(1)) { try RecordBatchView(bytes: magic1).validate() }
    }

    @Test func recordsCountMustMatchTheRecords() throws {
        let batch = try RecordBatchBuilder.build(records: Self.sampleRecords(5), baseTimestamp: 1)
        for claimed in [Int32(4), 6, 1000, Int32.max] {
            var b = batch
            b.setInteger(claimed, at: 57)
            let crc = b.withUnsafeReadableBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[21...])) }
            b.setInteger(crc, at: 17)
            let view = try RecordBatchView(bytes: b)
            try view.validate()
            #expect(throws: RecordBatchError.self) { try view.decodeRecords() }
        }
    }

    @Test func inPlaceRewriteKeepsCRCAndDoesNotCopy() throws {
        var view = try RecordBatchView(bytes: RecordBatchBuilder.build(records: Self.sampleRecords(10), baseTimestamp: 1))
        let before = view.bytes.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        view.setBaseOffset(123_456_789)
        view.setPartitionLeaderEpoch(42)
        let after = view.bytes.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        #expect(before == after, "the rewrite copied the batch")
        #expect(view.baseOffset == 123_456_789 && view.partitionLeaderEpoch == 42 && view.lastOffset == 123_456_798)
        try view.validate()
    }

    @Test func iterationOverConcatenatedBatchesWithoutCopies() throws {
        var all = ByteBuffer()
        var offsets: [Int64] = []
        for i in 0..<5 {
            let batch = try RecordBatchBuilder.build(
                records: Self.sampleRecords(i + 1), baseOffset: Int64(i * 100), baseTimestamp: 1,
                compression: CompressionCodec.allCases[i % 5])
            all.writeImmutableBuffer(batch)
            offsets.append(Int64(i * 100))
        }
        let complete = all.readableBytes
        all.writeImmutableBuffer(try RecordBatchBuilder.build(records: Self.sampleRecords(3), baseTimestamp: 1).getSlice(at: 0, length: 30)!)
        let base = all.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        var iterator = RecordBatchSequence(all).makeIterator()
        var seen: [Int64] = []
        var position = 0
        while let view = iterator.next() {
            try view.validate()
            let address = view.bytes.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
            #expect(address == base + UInt(position), "a view copied its bytes")
            position += view.sizeInBytes
            seen.append(view.baseOffset)
        }
        #expect(seen == offsets)
        #expect(position == complete)
        #expect(iterator.stop == .partialBatch(availableBytes: 30))
    }

    @Test func legacyMagicIsRecognized() {
        var legacy = ByteBuffer()
        legacy.writeInteger(Int64(0))
        legacy.writeInteger(Int32(30))
        legacy.writeInteger(UInt32(0))
        legacy.writeInteger(Int8(1))  // magic 1
        legacy.writeRepeatingByte(0, count: 40)
        var iterator = RecordBatchSequence(legacy).makeIterator()
        #expect(iterator.next() == nil)
        #expect(iterator.stop == .unsupportedMagic(1))
    }

    @Test func controlBatchesAndTransactionMarkers() throws {
        let marker = try RecordBatchBuilder.transactionMarker(
            commit: true, producerId: ProducerId(9), producerEpoch: 2, coordinatorEpoch: 5, timestamp: 100)
        let view = try RecordBatchView(bytes: marker)
        try view.validate()
        #expect(view.attributes.rawValue == 0x30)
        #expect(view.header.baseSequence == -1 && view.recordsCount == 1)
        #expect(try view.controlRecordType() == .commit)
        let record = try #require(try view.decodeRecords().first)
        #expect(Array(record.key!.readableBytesView) == [0, 0, 0, 1])
        #expect(try EndTransactionMarker(from: record.value!) == EndTransactionMarker(coordinatorEpoch: 5))
        let voters = try RecordBatchBuilder.controlBatch(type: .kraftVoters, value: Self.bytes("voters"), timestamp: 1)
        #expect(try RecordBatchView(bytes: voters).controlRecordType() == .kraftVoters)
        #expect(ControlRecordType(rawValue: 77) == .unknown(77))
        // A higher key version reads as version 0 semantics; a negative one is corrupt.
        var negative = ByteBuffer()
        negative.writeInteger(Int16(-1))
        negative.writeInteger(Int16(0))
        #expect(throws: RecordBatchError.self) { try ControlRecordKey(from: negative) }
    }

    @Test func varintLimits() throws {
        var long = ByteBuffer()
        long.writeBytes([0x80, 0x80, 0x80, 0x80, 0x80, 0x01])  // 6 bytes: over Java's 5-byte limit
        #expect(throws: RecordBatchError.invalidVarint) { try long.readZigZagVarint() }
        var b = ByteBuffer()
        for v in [Int64.min, -1, 0, 1, Int64.max] { b.writeZigZagVarlong(v) }
        for v in [Int64.min, -1, 0, 1, Int64.max] { #expect(try b.readZigZagVarlong() == v) }
        for v in [Int32.min, -64, 63, Int32.max] {
            var c = ByteBuffer()
            c.writeZigZagVarint(v)
            #expect(try c.readZigZagVarint() == v)
        }
    }

    @Test func fuzzBatchesNeverTrap() throws {
        var rng = SeededRandom(seed: 2024)
        var valid: [ByteBuffer] = []
        for codec in CompressionCodec.allCases {
            valid.append(try RecordBatchBuilder.build(records: Self.sampleRecords(12), baseTimestamp: 9, compression: codec))
        }
        var decoded = 0
        for i in 0..<20_000 {
            var bytes = Array(valid[i % valid.count].readableBytesView)
            switch i % 4 {
            case 0: bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= UInt8(1) << UInt8.random(in: 0...7, using: &rng)
            case 1: bytes.removeLast(Int.random(in: 1..<bytes.count, using: &rng))
            case 2:
                // Corrupt a length field (batchLength, recordsCount, or a record length), then fix the CRC so
                // that decoding goes past validation.
                let at = [8, 57, 61, 62][Int.random(in: 0..<4, using: &rng)]
                bytes[at] = UInt8.random(in: 0...255, using: &rng)
            default:
                bytes = (0..<Int.random(in: 0...200, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            }
            var b = ByteBuffer()
            b.writeBytes(bytes)
            if i % 4 == 2 && b.readableBytes > 21 {
                let crc = b.withUnsafeReadableBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[21...])) }
                b.setInteger(crc, at: 17)
            }
            for view in RecordBatchSequence(b) {
                if (try? view.validate()) != nil, (try? view.decodeRecords(maxUncompressedBytes: 1 << 20)) != nil { decoded += 1 }
            }
            if let view = try? RecordBatchView(bytes: b) { _ = try? view.decodeRecords(maxUncompressedBytes: 1 << 20) }
        }
        #expect(decoded > 0)
    }
}
