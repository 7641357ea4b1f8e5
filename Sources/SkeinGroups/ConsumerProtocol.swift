/// A topic and partitions, as in ConsumerProtocol's `TopicPartition` struct.
public struct TopicPartitions: Hashable, Sendable {
    /// The topic name.
    public var topic: String
    /// Partition indexes of that topic.
    public var partitions: [Int32]

    public init(topic: String, partitions: [Int32]) {
        self.topic = topic
        self.partitions = partitions
    }
}

/// The `ConsumerProtocolSubscription` that consumers put in JoinGroup metadata (protocol type `consumer`),
/// versions 0 to 3: topics and user data (v0+), owned partitions (v1+), generation id (v2+), rack id (v3+).
/// Newer versions are read with the newest known layout and trailing fields ignored, as Kafka does.
public struct ConsumerProtocolSubscription: Hashable, Sendable {
    /// The schema version written or read.
    public var version: Int16
    /// The subscribed topics.
    public var topics: [String]
    /// The assignor's user data.
    public var userData: [UInt8]?
    /// Partitions the member owns (cooperative protocol), version 1+.
    public var ownedPartitions: [TopicPartitions]
    /// The generation of the owned partitions, version 2+ (-1 when unknown).
    public var generationId: Int32
    /// The member's rack, version 3+.
    public var rackId: String?

    public init(
        version: Int16 = 3, topics: [String], userData: [UInt8]? = nil, ownedPartitions: [TopicPartitions] = [],
        generationId: Int32 = -1, rackId: String? = nil
    ) {
        self.version = version
        self.topics = topics
        self.userData = userData
        self.ownedPartitions = ownedPartitions
        self.generationId = generationId
        self.rackId = rackId
    }

    /// Parses the binary form.
    public init(decoding bytes: [UInt8]) throws(GroupDecodingError) {
        var reader = BinaryReader(bytes)
        version = try reader.int16()
        guard version >= 0 else { throw .unsupportedVersion(version) }
        topics = []
        for _ in 0..<(try reader.arrayCount() ?? 0) { topics.append(try reader.string()) }
        userData = try reader.nullableBytes()
        ownedPartitions = []
        generationId = -1
        rackId = nil
        if version >= 1 { ownedPartitions = try readTopicPartitions(&reader) }
        if version >= 2 { generationId = try reader.int32() }
        if version >= 3 { rackId = try reader.nullableString() }
    }

    /// The binary form at `version` (clamped to 0...3).
    public func encoded() -> [UInt8] {
        let version = min(max(self.version, 0), 3)
        var writer = BinaryWriter()
        writer.int16(version)
        writer.int32(Int32(topics.count))
        for topic in topics { writer.string(topic) }
        writer.nullableBytes(userData)
        if version >= 1 { writeTopicPartitions(&writer, ownedPartitions) }
        if version >= 2 { writer.int32(generationId) }
        if version >= 3 { writer.nullableString(rackId) }
        return writer.bytes
    }
}

/// The `ConsumerProtocolAssignment` that a consumer leader sends in SyncGroup (versions 0 to 3 share one layout).
public struct ConsumerProtocolAssignment: Hashable, Sendable {
    /// The schema version written or read.
    public var version: Int16
    /// The assigned partitions.
    public var assignedPartitions: [TopicPartitions]
    /// The assignor's user data.
    public var userData: [UInt8]?

    public init(version: Int16 = 3, assignedPartitions: [TopicPartitions], userData: [UInt8]? = nil) {
        self.version = version
        self.assignedPartitions = assignedPartitions
        self.userData = userData
    }

    /// Parses the binary form.
    public init(decoding bytes: [UInt8]) throws(GroupDecodingError) {
        var reader = BinaryReader(bytes)
        version = try reader.int16()
        guard version >= 0 else { throw .unsupportedVersion(version) }
        assignedPartitions = try readTopicPartitions(&reader)
        userData = try reader.nullableBytes()
    }

    /// The binary form.
    public func encoded() -> [UInt8] {
        var writer = BinaryWriter()
        writer.int16(min(max(version, 0), 3))
        writeTopicPartitions(&writer, assignedPartitions)
        writer.nullableBytes(userData)
        return writer.bytes
    }
}

private func readTopicPartitions(_ reader: inout BinaryReader) throws(GroupDecodingError) -> [TopicPartitions] {
    var result: [TopicPartitions] = []
    for _ in 0..<(try reader.arrayCount() ?? 0) {
        let topic = try reader.string()
        var partitions: [Int32] = []
        for _ in 0..<(try reader.arrayCount() ?? 0) { partitions.append(try reader.int32()) }
        result.append(TopicPartitions(topic: topic, partitions: partitions))
    }
    return result
}

private func writeTopicPartitions(_ writer: inout BinaryWriter, _ value: [TopicPartitions]) {
    writer.int32(Int32(value.count))
    for entry in value {
        writer.string(entry.topic)
        writer.int32(Int32(entry.partitions.count))
        for partition in entry.partitions { writer.int32(partition) }
    }
}
