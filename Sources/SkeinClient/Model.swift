import Foundation
import KafkaRecords
import NIOCore
import SkeinModel

/// A broker address from a bootstrap list: `host:port`, `[v6addr]:port`, or a bare host (port 9092).
public struct BrokerAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses one address; nil when the port is not a number in 1...65535.
    public init?(parsing text: String) {
        let s = text.trimmingCharacters(in: .whitespaces)
        guard !s.isEmpty else { return nil }
        var host = s
        var port = 9092
        if s.hasPrefix("["), let close = s.firstIndex(of: "]") {
            host = String(s[s.index(after: s.startIndex)..<close])
            let rest = s[s.index(after: close)...]
            if rest.hasPrefix(":") {
                guard let p = Int(rest.dropFirst()) else { return nil }
                port = p
            }
        } else if let colon = s.lastIndex(of: ":") {
            host = String(s[..<colon])
            guard let p = Int(s[s.index(after: colon)...]) else { return nil }
            port = p
        }
        guard !host.isEmpty, (1...65535).contains(port) else { return nil }
        self.init(host: host, port: port)
    }

    /// Parses a comma-separated bootstrap list such as `127.0.0.1:9092,127.0.0.1:9192`.
    public static func parseList(_ list: String) throws -> [BrokerAddress] {
        let parts = list.split(separator: ",").map(String.init).filter {
            !$0.trimmingCharacters(in: .whitespaces).isEmpty
        }
        let addresses = try parts.map { part in
            guard let a = BrokerAddress(parsing: part) else {
                throw KafkaClientError.invalidArgument("invalid broker address '\(part)' (expected host:port)")
            }
            return a
        }
        guard !addresses.isEmpty else { throw KafkaClientError.invalidArgument("empty broker list") }
        return addresses
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// A broker as the metadata names it.
public struct BrokerInfo: Sendable, Equatable {
    public var id: BrokerId
    public var address: BrokerAddress
    public var rack: String?
}

/// A partition's placement: leader, replicas and in-sync replicas.
public struct PartitionInfo: Sendable, Equatable {
    public var partition: Int32
    /// `BrokerId.none` when the partition has no leader right now.
    public var leader: BrokerId
    public var leaderEpoch: Int32
    public var replicas: [BrokerId]
    public var isr: [BrokerId]
    public var offlineReplicas: [BrokerId]
    /// The partition's error in the metadata (e.g. LEADER_NOT_AVAILABLE), NONE when healthy.
    public var error: KafkaErrorCode
}

/// A topic as the metadata describes it.
public struct TopicInfo: Sendable, Equatable {
    public var name: String
    public var id: KafkaUUID
    public var isInternal: Bool
    /// Sorted by partition index.
    public var partitions: [PartitionInfo]
}

/// The answer to a Metadata request.
public struct ClusterMetadata: Sendable, Equatable {
    public var clusterId: String?
    public var controllerId: BrokerId
    public var brokers: [BrokerInfo]
    public var topics: [TopicInfo]
    /// Requested topics the broker answered with an error (usually UNKNOWN_TOPIC_OR_PARTITION).
    public var topicErrors: [String: KafkaError]
}

/// One config of a topic, as DescribeConfigs reports it.
public struct ConfigEntry: Sendable, Equatable {
    public var name: String
    public var value: String?
    /// True when the value is the default, not set on the topic.
    public var isDefault: Bool
    public var isReadOnly: Bool
    public var isSensitive: Bool
}

/// A topic with its partitions and, where the broker serves DescribeConfigs, its configs.
public struct TopicDescription: Sendable, Equatable {
    public var topic: TopicInfo
    /// Nil when the broker does not serve DescribeConfigs; `configNote` then says so.
    public var configs: [ConfigEntry]?
    public var configNote: String?
}

/// A record to produce. Key, value and header values are bytes; nil is null (a tombstone for a value).
public struct ProducerRecord: Sendable, Equatable {
    public var key: ByteBuffer?
    public var value: ByteBuffer?
    public var headers: [RecordHeader]

    public init(key: ByteBuffer?, value: ByteBuffer?, headers: [RecordHeader] = []) {
        self.key = key
        self.value = value
        self.headers = headers
    }

    /// A record of UTF-8 strings.
    public init(key: String?, value: String?, headers: [(String, String)] = []) {
        self.init(
            key: key.map { ByteBuffer(string: $0) }, value: value.map { ByteBuffer(string: $0) },
            headers: headers.map { RecordHeader(key: $0.0, value: ByteBuffer(string: $0.1)) })
    }
}

/// How many acknowledgements a produce waits for (Kafka's `acks`).
public enum Acks: Int16, Sendable {
    /// No response at all: the offset is unknown (-1).
    case none = 0
    /// The leader appended.
    case leader = 1
    /// Every in-sync replica has the batch (on Skein: the Raft commit).
    case all = -1
}

/// Where a produced batch landed.
public struct ProduceResult: Sendable, Equatable {
    public var partition: Int32
    /// The offset of the batch's first record; -1 with `acks=0`.
    public var baseOffset: Int64
    public var recordCount: Int
}

/// A consumed record.
public struct ConsumerRecord: Sendable, Equatable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    /// Milliseconds since the epoch (CreateTime or LogAppendTime, as the batch says).
    public var timestamp: Int64
    public var key: ByteBuffer?
    public var value: ByteBuffer?
    public var headers: [RecordHeader]
}

/// The result of fetching one partition.
public struct FetchedPartition: Sendable, Equatable {
    public var partition: Int32
    /// Records at or after the fetch offset, control records left out.
    public var records: [ConsumerRecord]
    /// The offset to fetch next: past every batch returned, control batches included.
    public var nextOffset: Int64
    public var highWatermark: Int64
    public var logStartOffset: Int64
}

/// Where to start consuming a partition.
public enum StartPosition: Sendable, Equatable {
    /// The log start offset (ListOffsets with timestamp -2).
    case earliest
    /// The end: only records produced from now on (ListOffsets with timestamp -1).
    case latest
    case offset(Int64)
}

extension Duration {
    /// NIO's `TimeAmount` for this duration, rounded down to nanoseconds.
    var timeAmount: TimeAmount {
        let (seconds, attoseconds) = components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
