/// Name of Kafka's consumer offsets topic.
public let consumerOffsetsTopic = "__consumer_offsets"

/// Java's `String.hashCode`: `s[0]*31^(n-1) + ... + s[n-1]` over UTF-16 code units, with Int32 wrapping.
public func javaStringHashCode(_ text: String) -> Int32 {
    var hash: Int32 = 0
    for unit in text.utf16 { hash = hash &* 31 &+ Int32(unit) }
    return hash
}

/// The coordinator partition of a key (a group id in `__consumer_offsets`, a transactional id in
/// `__transaction_state`) as Kafka computes it: `Utils.abs(key.hashCode()) % count`, where `Utils.abs` maps Int32.min
/// to 0, so every Kafka tool agrees on where a group or transaction lives.
public func offsetsTopicPartition(for key: String, partitionCount: Int32) -> Int32 {
    let hash = javaStringHashCode(key)
    let positive = hash == Int32.min ? 0 : abs(hash)
    return partitionCount > 0 ? positive % partitionCount : 0
}
