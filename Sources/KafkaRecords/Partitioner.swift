import NIOCore

/// The Java client's default partitioner for keyed records, so that a key lands on the same partition from
/// every client: murmur2 of the key bytes (Kafka's `Utils.murmur2`, seed 0x9747b28c), made positive,
/// modulo the partition count.
public enum KafkaPartitioner {
    /// Kafka's `Utils.murmur2`: MurmurHash2, 32-bit, seed 0x9747b28c, little-endian 4-byte words.
    public static func murmur2<C: Collection>(_ data: C) -> Int32 where C.Element == UInt8 {
        let bytes = Array(data)
        let length = bytes.count
        let m: UInt32 = 0x5bd1_e995
        let r: UInt32 = 24
        var h: UInt32 = 0x9747_b28c ^ UInt32(truncatingIfNeeded: length)
        let length4 = length / 4
        for i in 0..<length4 {
            let i4 = i * 4
            var k =
                UInt32(bytes[i4]) | UInt32(bytes[i4 + 1]) << 8 | UInt32(bytes[i4 + 2]) << 16
                | UInt32(bytes[i4 + 3]) << 24
            k = k &* m
            k ^= k >> r
            k = k &* m
            h = h &* m
            h ^= k
        }
        let tail = length & ~3
        switch length % 4 {
        case 3:
            h ^= UInt32(bytes[tail + 2]) << 16
            h ^= UInt32(bytes[tail + 1]) << 8
            h ^= UInt32(bytes[tail])
            h = h &* m
        case 2:
            h ^= UInt32(bytes[tail + 1]) << 8
            h ^= UInt32(bytes[tail])
            h = h &* m
        case 1:
            h ^= UInt32(bytes[tail])
            h = h &* m
        default:
            break
        }
        h ^= h >> 13
        h = h &* m
        h ^= h >> 15
        return Int32(bitPattern: h)
    }

    /// Kafka's `Utils.toPositive`: clears the sign bit (not abs, which would overflow for Int32.min).
    public static func toPositive(_ n: Int32) -> Int32 { n & 0x7fff_ffff }

    /// The partition of a keyed record: toPositive(murmur2(key)) % partitionCount.
    public static func partition<C: Collection>(
        forKey key: C, partitionCount: Int32
    ) -> Int32 where C.Element == UInt8 {
        precondition(partitionCount > 0, "partition count must be positive")
        return toPositive(murmur2(key)) % partitionCount
    }

    /// murmur2 of a buffer's readable bytes.
    public static func murmur2(_ buffer: ByteBuffer) -> Int32 { murmur2(buffer.readableBytesView) }

    /// The partition of a record whose key is a buffer's readable bytes.
    public static func partition(forKey key: ByteBuffer, partitionCount: Int32) -> Int32 {
        partition(forKey: key.readableBytesView, partitionCount: partitionCount)
    }
}
