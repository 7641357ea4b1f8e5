import KafkaRecords
import NIOCore
import SkeinModel
import Testing

/// Seeded fuzzing of the view, the sequence and the full decoder: random bytes and mutations of valid batches
/// (bit flips, truncations, corrupted length fields) must give typed errors, never a trap or a hang.
@Suite struct FuzzTests {
    static let seeds: [UInt64] = [2024, 7, 99, 123_456]

    static func validBatches() throws -> [ByteBuffer] {
        var out: [ByteBuffer] = []
        for codec in CompressionCodec.allCases {
            out.append(
                try RecordBatchBuilder.build(
                    records: Batches.sampleRecords(12), baseTimestamp: 9, compression: codec))
        }
        out.append(try RecordBatchBuilder.build(records: [], baseTimestamp: -1))
        out.append(
            try RecordBatchBuilder.transactionMarker(
                commit: true, producerId: ProducerId(1), producerEpoch: 1, coordinatorEpoch: 1, timestamp: 1))
        return out
    }

    /// Offsets of length-like fields: batchLength, lastOffsetDelta, recordsCount, and the first record's
    /// length, key length and value length varints.
    static let lengthFields = [8, 9, 10, 11, 23, 26, 57, 58, 59, 60, 61, 62, 65, 66, 67]

    @Test(arguments: FuzzTests.seeds)
    func mutatedAndRandomInputsNeverTrap(seed: UInt64) throws {
        var rng = SeededRandom(seed: seed)
        let valid = try Self.validBatches()
        var decoded = 0, rejected = 0
        for i in 0..<6_000 {
            let source = valid[i % valid.count]
            var bytes = Array(source.readableBytesView)
            let fixCRC: Bool
            switch i % 6 {
            case 0:
                for _ in 0..<Int.random(in: 1...3, using: &rng) {
                    bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= 1 << UInt8.random(in: 0...7, using: &rng)
                }
                fixCRC = false
            case 1:
                bytes.removeLast(Int.random(in: 1..<bytes.count, using: &rng))
                fixCRC = false
            case 2, 3:
                // Corrupt a length field, then fix the CRC so that decoding goes past validation.
                let at = Self.lengthFields[Int.random(in: 0..<Self.lengthFields.count, using: &rng)]
                if at < bytes.count { bytes[at] = UInt8.random(in: 0...255, using: &rng) }
                fixCRC = true
            case 4:
                // Flip bits in the records area (compressed streams included), CRC fixed.
                for _ in 0..<Int.random(in: 1...4, using: &rng) where bytes.count > 61 {
                    bytes[Int.random(in: 61..<bytes.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
                }
                fixCRC = true
            default:
                bytes = (0..<Int.random(in: 0...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                if bytes.count > 17, Bool.random(using: &rng) { bytes[16] = 2 }
                fixCRC = Bool.random(using: &rng)
            }
            var b = ByteBuffer(bytes: bytes)
            if fixCRC && b.readableBytes > 21 { Batches.fixCRC(&b) }
            // A mutated batch followed by a valid one: the sequence must stop or carry on, never trap.
            var stream = b
            stream.writeImmutableBuffer(valid[0])
            for view in RecordBatchSequence(stream) {
                do {
                    _ = try view.decode(maxUncompressedBytes: 1 << 20)
                    _ = try? view.controlRecord()
                    decoded += 1
                } catch is RecordBatchError {
                    rejected += 1
                }
            }
            if let view = try? RecordBatchView(bytes: b) {
                _ = try? view.validateForAppend()
                _ = try? view.decodeRecords(maxUncompressedBytes: 1 << 20)
            }
            _ = try? RecordBatch(decoding: b, maxUncompressedBytes: 1 << 20)
        }
        #expect(decoded > 1_000 && rejected > 1_000)
    }

    @Test func recordDecoderOnRandomBytes() {
        var rng = SeededRandom(seed: 31)
        for _ in 0..<20_000 {
            var b = ByteBuffer(
                bytes: (0..<Int.random(in: 0...40, using: &rng)).map { _ in
                    UInt8.random(in: 0...255, using: &rng)
                })
            while b.readableBytes > 0, (try? Record(from: &b)) != nil {}
        }
    }
}
