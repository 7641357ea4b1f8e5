import SkeinModel
import SkeinTransactions
import Testing

@Suite("__transaction_state records: Kafka's byte formats")
struct TxnRecordTests {
    static let ongoing = TransactionLogValue(
        version: 0, producerId: 5, producerEpoch: 1, transactionTimeoutMs: 60_000, state: .ongoing, partitions: [tp0],
        lastUpdateTimestampMs: 1000, startTimestampMs: 900)

    @Test("key is TransactionLogKey v0; value v0 is classic, byte for byte")
    func version0Bytes() throws {
        let record = TxnRecord(transactionalId: "tx", value: Self.ongoing)
        #expect(record.keyBytes() == [0, 0, 0, 2, 0x74, 0x78])
        let expected: [UInt8] =
            [0, 0] + [0, 0, 0, 0, 0, 0, 0, 5] + [0, 1] + [0, 0, 0xEA, 0x60] + [1]
            + [0, 0, 0, 1] + [0, 1, 0x74] + [0, 0, 0, 1] + [0, 0, 0, 0]
            + [0, 0, 0, 0, 0, 0, 3, 0xE8] + [0, 0, 0, 0, 0, 0, 3, 0x84]
        #expect(record.valueBytes() == expected)
        #expect(try TxnRecord.decode(key: record.keyBytes(), value: record.valueBytes()) == record)
        // Empty writes null partitions.
        var empty = Self.ongoing
        empty.state = .empty
        empty.partitions = []
        empty.startTimestampMs = -1
        let emptyBytes = TxnRecord(transactionalId: "tx", value: empty).valueBytes() ?? []
        #expect(Array(emptyBytes[17..<21]) == [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(try TxnRecord.decode(key: record.keyBytes(), value: emptyBytes).value == empty)
    }

    @Test("value v1 is flexible with tagged previous/next producer id and client transaction version")
    func version1Bytes() throws {
        var value = Self.ongoing
        value.version = 1
        value.previousProducerId = 4
        value.clientTransactionVersion = 2
        let record = TxnRecord(transactionalId: "tx", value: value)
        let expected: [UInt8] =
            [0, 1] + [0, 0, 0, 0, 0, 0, 0, 5] + [0, 1] + [0, 0, 0xEA, 0x60] + [1]
            + [2] + [2, 0x74] + [2] + [0, 0, 0, 0] + [0]
            + [0, 0, 0, 0, 0, 0, 3, 0xE8] + [0, 0, 0, 0, 0, 0, 3, 0x84]
            + [2] + [0, 8, 0, 0, 0, 0, 0, 0, 0, 4] + [2, 2, 0, 2]
        #expect(record.valueBytes() == expected)
        #expect(try TxnRecord.decode(key: record.keyBytes(), value: record.valueBytes()) == record)
        // Unknown tagged fields are skipped; defaults are not written.
        var withUnknown = Array(expected.dropLast(15))
        withUnknown += [3] + [0, 8, 0, 0, 0, 0, 0, 0, 0, 4] + [2, 2, 0, 2] + [9, 1, 0xAB]
        #expect(try TxnRecord.decode(key: record.keyBytes(), value: withUnknown) == record)
        var plain = value
        plain.previousProducerId = -1
        plain.nextProducerId = 77
        plain.clientTransactionVersion = 0
        let plainBytes = TxnRecord(transactionalId: "tx", value: plain).valueBytes() ?? []
        #expect(plainBytes.suffix(11) == [1, 1, 8, 0, 0, 0, 0, 0, 0, 0, 77])
        #expect(try TxnRecord.decode(key: record.keyBytes(), value: plainBytes).value == plain)
    }

    @Test("round trips for every state, version, tombstone; partitions sorted and grouped")
    func roundTrips() throws {
        for version: Int16 in 0...1 {
            for state in TransactionState.allCases {
                let value = TransactionLogValue(
                    version: version, producerId: Int64.max, previousProducerId: 3, nextProducerId: 9,
                    producerEpoch: Int16.max, transactionTimeoutMs: 1, state: state,
                    partitions: [TxnTopicPartition("b", 2), TxnTopicPartition("a", 7), TxnTopicPartition("b", 1)],
                    lastUpdateTimestampMs: -5, startTimestampMs: 1 << 40, clientTransactionVersion: 2)
                let record = TxnRecord(transactionalId: "id-\u{e9}", value: value)
                let decoded = try TxnRecord.decode(key: record.keyBytes(), value: record.valueBytes())
                #expect(decoded.value == value.normalized)
                #expect(decoded.value?.partitions == (state == .empty ? [] : value.partitions.sorted()))
            }
        }
        let tombstone = TxnRecord(transactionalId: "gone", value: nil)
        #expect(tombstone.valueBytes() == nil)
        #expect(try TxnRecord.decode(key: tombstone.keyBytes(), value: nil) == tombstone)
    }

    @Test("malformed bytes throw typed errors, never trap")
    func malformed() {
        var value = Self.ongoing
        for version: Int16 in 0...1 {
            value.version = version
            value.previousProducerId = 12
            let record = TxnRecord(transactionalId: "tx", value: value)
            let bytes = record.valueBytes() ?? []
            for cut in 0..<bytes.count {
                #expect(throws: TxnDecodingError.self) {
                    try TxnRecord.decode(key: record.keyBytes(), value: Array(bytes.prefix(cut)))
                }
            }
            #expect(throws: TxnDecodingError.trailingBytes(1)) {
                try TxnRecord.decode(key: record.keyBytes(), value: bytes + [0])
            }
            var badState = bytes
            badState[16] = 9
            #expect(throws: TxnDecodingError.invalidState(9)) {
                try TxnRecord.decode(key: record.keyBytes(), value: badState)
            }
        }
        #expect(throws: TxnDecodingError.unknownKeyVersion(1)) { try TxnRecord.decode(key: [0, 1, 0, 0], value: nil) }
        #expect(throws: TxnDecodingError.truncated) { try TxnRecord.decode(key: [0], value: nil) }
        #expect(throws: TxnDecodingError.truncated) { try TxnRecord.decode(key: [0, 0, 0, 5, 0x61], value: nil) }
        #expect(throws: TxnDecodingError.invalidUTF8) { try TxnRecord.decode(key: [0, 0, 0, 1, 0xFF], value: nil) }
        #expect(throws: TxnDecodingError.unsupportedValueVersion(2)) {
            try TxnRecord.decode(key: [0, 0, 0, 0], value: [0, 2])
        }
        // A huge partition count and an over-long varint are rejected.
        var huge = TxnRecord(transactionalId: "tx", value: Self.ongoing).valueBytes() ?? []
        huge.replaceSubrange(17..<21, with: [0x7F, 0xFF, 0xFF, 0xFF])
        #expect(throws: TxnDecodingError.self) { try TxnRecord.decode(key: [0, 0, 0, 0], value: huge) }
        let prefix: [UInt8] = [0, 1, 0, 0, 0, 0, 0, 0, 0, 5, 0, 1, 0, 0, 0xEA, 0x60, 1]
        #expect(throws: TxnDecodingError.invalidVarint) {
            try TxnRecord.decode(key: [0, 0, 0, 0], value: prefix + [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
        }
        // Random garbage never traps.
        var rng = SeededRandom(seed: 42)
        for _ in 0..<2000 {
            let length = Int(rng.next() % 40)
            var garbage: [UInt8] = [0, UInt8(rng.next() % 2)]
            for _ in 0..<length { garbage.append(UInt8(truncatingIfNeeded: rng.next())) }
            _ = try? TxnRecord.decode(key: [0, 0, 0, 0], value: garbage)
        }
    }

    @Test("group partition is Kafka's abs(String.hashCode) % count over UTF-16, Int32.min mapping to 0")
    func offsetsPartition() {
        #expect(javaStringHashCode("") == 0)
        #expect(javaStringHashCode("a") == 97)
        #expect(javaStringHashCode("hello") == 99_162_322)
        #expect(javaStringHashCode("\u{1F600}") == 0xD83D * 31 + 0xDE00)
        #expect(javaStringHashCode("polygenelubricants") == Int32.min)
        #expect(offsetsTopicPartition(for: "polygenelubricants", partitionCount: 50) == 0)
        // "my-group".hashCode() is -1906497762 in Java; negative hashes are made positive first.
        #expect(javaStringHashCode("my-group") == -1_906_497_762)
        #expect(offsetsTopicPartition(for: "my-group", partitionCount: 50) == 1_906_497_762 % 50)
        let negative = javaStringHashCode("zzzzzzzz")
        #expect(negative < 0)
        #expect(offsetsTopicPartition(for: "zzzzzzzz", partitionCount: 7) == (-negative) % 7)
    }
}
