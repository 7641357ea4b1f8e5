import KafkaRecords
import NIOCore
import SkeinModel
import Testing

@Suite struct CRC32CTests {
    @Test func knownVectors() {
        // The standard check value, and RFC 3720 (iSCSI) appendix B.4.
        #expect(checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(checksum(Array(0...31)) == 0x46DD_794E)
        #expect(checksum(Array((0...31).reversed())) == 0x113F_DB5C)
        #expect(checksum([]) == 0)
        #expect(CRC32C.checksum(UnsafeRawBufferPointer(start: nil, count: 0)) == 0)
        #expect(CRC32C.checksum(ByteBuffer(string: "123456789")) == 0xE306_9283)
        #expect(CRC32C.tableChecksum(ByteBuffer(string: "123456789")) == 0xE306_9283)
    }

    @Test func hardwareAndTableAgreeOnRandomInputs() {
        // On x86-64 machines with SSE4.2 this compares the two code paths; elsewhere it is table vs table.
        var rng = SeededRandom(seed: 7)
        let pool = (0..<70_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        pool.withUnsafeBytes { raw in
            for i in 0..<2000 {
                // Mostly short lengths, some past the 3 x 2048-byte interleaved blocks of the SSE4.2 path.
                let count = Int.random(in: 0...(i % 10 == 0 ? 60_000 : 300), using: &rng)
                let offset = Int.random(in: 0...(raw.count - count), using: &rng)
                let slice = UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + count)])
                let initial = i % 3 == 0 ? UInt32.random(in: 0...UInt32.max, using: &rng) : 0
                #expect(CRC32C.checksum(slice, initial: initial) == CRC32C.tableChecksum(slice, initial: initial))
            }
        }
    }

    @Test func chaining() {
        let a = Array("hello, ".utf8), b = Array("world".utf8)
        let whole = checksum(a + b)
        let chained = b.withUnsafeBytes { bp in
            a.withUnsafeBytes { ap in CRC32C.checksum(bp, initial: CRC32C.checksum(ap)) }
        }
        #expect(whole == chained)
    }

    @Test func reportsTheCodePath() {
        #if arch(x86_64)
            // Every x86-64 CI machine of the last decade has SSE4.2; this documents which path the numbers used.
            print("CRC-32C hardware accelerated: \(CRC32C.isHardwareAccelerated)")
        #else
            #expect(!CRC32C.isHardwareAccelerated)
        #endif
    }

    private func checksum(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBytes { CRC32C.checksum($0) } }
}

@Suite struct PartitionerTests {
    @Test func murmur2MatchesKafkasOwnVectors() {
        // From apache/kafka clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2
        // (the Java test hashes "…".getBytes(), i.e. the ASCII bytes).
        let cases: [(String, Int32)] = [
            ("21", -973_932_308), ("foobar", -790_332_482), ("a-little-bit-long-string", -985_981_536),
            ("a-little-bit-longer-string", -1_486_304_829),
            ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971), ("abc", 479_470_107),
        ]
        for (key, expected) in cases {
            #expect(KafkaPartitioner.murmur2(Array(key.utf8)) == expected, "\(key)")
            #expect(KafkaPartitioner.murmur2(ByteBuffer(string: key)) == expected, "\(key)")
        }
    }

    @Test func partitionIsPositiveModulo() {
        #expect(KafkaPartitioner.toPositive(Int32.min) == 0)
        #expect(KafkaPartitioner.toPositive(-1) == Int32.max)
        // toPositive(-973932308) = 1173551340 (clear the sign bit; not abs).
        #expect(KafkaPartitioner.partition(forKey: Array("21".utf8), partitionCount: 6) == 1_173_551_340 % 6)
        #expect(KafkaPartitioner.partition(forKey: ByteBuffer(string: "21"), partitionCount: 6) == 1_173_551_340 % 6)
        var rng = SeededRandom(seed: 1)
        for _ in 0..<1000 {
            let key = (0..<Int.random(in: 0...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let p = KafkaPartitioner.partition(forKey: key, partitionCount: 7)
            #expect(p >= 0 && p < 7)
        }
    }
}
