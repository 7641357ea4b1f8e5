import KafkaRecords
import NIOCore
import SkeinModel
import Testing

@Suite struct CRC32CTests {
    @Test func knownVectors() {
        // RFC 3720 (iSCSI) B.4 and the common check value.
        #expect(checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(checksum(Array(0...31)) == 0x46DD_794E)
        #expect(checksum([]) == 0)
    }

    @Test func hardwareAndTableAgreeOnRandomInputs() {
        var rng = SeededRandom(seed: 7)
        for _ in 0..<300 {
            let count = Int.random(in: 0...20_000, using: &rng)
            let offset = Int.random(in: 0...7, using: &rng)
            let bytes = (0..<(count + offset)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            bytes.withUnsafeBytes { raw in
                let slice = UnsafeRawBufferPointer(rebasing: raw[offset...])
                #expect(CRC32C.checksum(slice) == CRC32C.tableChecksum(slice))
            }
        }
    }

    @Test func chaining() {
        let a = Array("hello, ".utf8), b = Array("world".utf8)
        let whole = checksum(a + b)
        let chained = b.withUnsafeBytes { bp in a.withUnsafeBytes { ap in CRC32C.checksum(bp, initial: CRC32C.checksum(ap)) } }
        #expect(whole == chained)
    }

    private func checksum(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBytes { CRC32C.checksum($0) } }
}

@Suite struct PartitionerTests {
    @Test func murmur2MatchesKafkasOwnVectors() {
        // From apache/kafka clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2.
        let cases: [(String, Int32)] = [
            ("21", -973_932_308), ("foobar", -790_332_482), ("a-little-bit-long-string", -985_981_536),
            ("a-little-bit-longer-string", -1_486_304_829),
            ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971), ("abc", 479_470_107),
        ]
        for (key, expected) in cases { #expect(KafkaPartitioner.murmur2(Array(key.utf8)) == expected, "\(key)") }
    }

    @Test func partitionIsPositiveModulo() {
        #expect(KafkaPartitioner.toPositive(Int32.min) == 0)
        #expect(KafkaPartitioner.toPositive(-1) == Int32.max)
        // toPositive(-973932308) = 1173551340; % 6 = 0
        #expect(KafkaPartitioner.partition(forKey: Array("21".utf8), partitionCount: 6) == 1_173_551_340 % 6)
        var rng = SeededRandom(seed: 1)
        for _ in 0..<1000 {
            let key = (0..<Int.random(in: 0...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let p = KafkaPartitioner.partition(forKey: key, partitionCount: 7)
            #expect(p >= 0 && p < 7)
        }
    }
}
