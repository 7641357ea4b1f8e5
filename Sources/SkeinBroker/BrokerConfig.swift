import SkeinGroups
import SkeinModel
import SkeinTransactions

/// What a node needs to serve Kafka clients. Built from the node's TOML file by the `skein` command.
public struct BrokerConfig: Sendable {
    public var nodeId: BrokerId
    public var clusterId: String
    /// Where partitions live: one directory per partition.
    public var dataDirectory: String
    /// The address clients are told to connect to (Metadata, FindCoordinator) when the listener a request
    /// arrived on has no entry in `advertisedListeners`.
    public var advertisedHost: String
    public var advertisedPort: Int32
    /// Per listener name, the address advertised to clients connected through that listener (a client on the
    /// SSL listener is told the SSL port), as Kafka's `advertised.listeners`.
    public var advertisedListeners: [String: AdvertisedAddress]
    public var rack: String?
    /// Kafka's `auto.create.topics.enable`; off by default here (a typo should not create a topic).
    public var autoCreateTopics: Bool
    /// Kafka's `num.partitions` for auto-created topics.
    public var defaultPartitions: Int32
    /// Kafka's `default.replication.factor` for topics created without one (auto-created ones too); nil: the
    /// live nodes, up to 3.
    public var defaultReplicationFactor: Int16? = nil
    /// Kafka's `message.max.bytes`, the default of the topic config `max.message.bytes`.
    public var messageMaxBytes: Int32
    /// Kafka's `fetch.max.bytes` (broker side): caps a fetch response.
    public var fetchMaxBytes: Int32
    /// Send fetched batches from the segment files with sendfile where the connection allows it.
    public var zeroCopyFetch: Bool
    /// Kafka's `offsets.topic.num.partitions`: partitions of `__consumer_offsets`, fixed when it is created.
    public var offsetsTopicPartitions: Int32 = 16
    /// Kafka's `offsets.topic.replication.factor` (capped by the live node count when the topic is created).
    public var offsetsTopicReplicationFactor: Int16 = 3
    /// The group coordinator's settings (session timeout bounds, initial rebalance delay, retention...).
    public var groupCoordinator = GroupCoordinatorConfig()
    /// The transaction coordinator's settings (timeouts, transaction version) and Kafka's
    /// `transaction.state.log.num.partitions` / `transaction.state.log.replication.factor`.
    public var transactionCoordinator: TransactionCoordinatorConfig = {
        var config = TransactionCoordinatorConfig()
        config.transactionVersionLevel = 1
        config.offsetsTopicPartitionCount = 16
        return config
    }()
    public var transactionStateTopicPartitions: Int32 = 16
    public var transactionStateTopicReplicationFactor: Int16 = 3

    public init(
        nodeId: BrokerId = 0, clusterId: String = "skein-local", dataDirectory: String,
        advertisedHost: String = "127.0.0.1",
        advertisedPort: Int32 = 9092, rack: String? = nil, autoCreateTopics: Bool = false, defaultPartitions: Int32 = 1,
        messageMaxBytes: Int32 = 1_048_588, fetchMaxBytes: Int32 = 57_671_680, zeroCopyFetch: Bool = true,
        advertisedListeners: [String: AdvertisedAddress] = [:]
    ) {
        self.advertisedListeners = advertisedListeners
        self.zeroCopyFetch = zeroCopyFetch
        self.nodeId = nodeId
        self.clusterId = clusterId
        self.dataDirectory = dataDirectory
        self.advertisedHost = advertisedHost
        self.advertisedPort = advertisedPort
        self.rack = rack
        self.autoCreateTopics = autoCreateTopics
        self.defaultPartitions = defaultPartitions
        self.messageMaxBytes = messageMaxBytes
        self.fetchMaxBytes = fetchMaxBytes
    }
}

/// A host and port given to clients.
public struct AdvertisedAddress: Sendable, Equatable {
    public var host: String
    public var port: Int32
    public init(host: String, port: Int32) {
        self.host = host
        self.port = port
    }
}

extension BrokerConfig {
    /// The address to give a client that connected through `listenerName`.
    public func advertisedAddress(listenerName: String) -> AdvertisedAddress {
        advertisedListeners[listenerName] ?? AdvertisedAddress(host: advertisedHost, port: advertisedPort)
    }
}
