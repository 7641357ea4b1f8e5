import KafkaRecords
import NIOCore

/// Chooses a partition for a record the way the Java client's default partitioner does for keyed records:
/// `toPositive(murmur2(key)) % partitionCount`, so that a key lands on the same partition from any client.
/// Records without a key go round-robin, one partition after the other.
public struct Partitioner: Sendable {
    private var counters: [String: UInt32] = [:]

    public init() {}

    /// The partition of a keyed record (Java's `BuiltInPartitioner.partitionForKey`).
    public static func partition(forKey key: ByteBuffer, partitionCount: Int32) -> Int32 {
        KafkaPartitioner.partition(forKey: key, partitionCount: partitionCount)
    }

    /// The partition for a record of `topic`: by key, or the next in turn when the key is null.
    public mutating func partition(topic: String, key: ByteBuffer?, partitionCount: Int32) -> Int32 {
        precondition(partitionCount > 0, "a topic has at least one partition")
        if let key { return Self.partition(forKey: key, partitionCount: partitionCount) }
        let n = counters[topic, default: 0]
        counters[topic] = n &+ 1
        return Int32(n % UInt32(partitionCount))
    }
}
