import Foundation
import KafkaWire
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SkeinModel
import SkeinReplication
import SkeinStorage
import SkeinTransport

/// The wall clock, for the I/O and composition layers only (pure cores get a `Clock` injected).
public struct SystemClock: SkeinModel.Clock {
    public init() {}
    public var nowMillis: Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
    public var monotonicNanos: UInt64 { DispatchTime.now().uptimeNanoseconds }
}

/// One node serving the Kafka API from its local logs. Request handling is `KafkaRequestHandling`; the
/// handlers live in extensions, one file per group of APIs.
public final class Broker: KafkaRequestHandling, Sendable {
    public var config: BrokerConfig { configBox.withLockedValue { $0 } }
    private let configBox: NIOLockedValueBox<BrokerConfig>
    let topics: TopicRegistry
    let logger: Logger
    let clock: any SkeinModel.Clock
    public let metrics = BrokerMetrics()
    let fetchWaiters = FetchWaiters()
    /// Topics this node asked the controller to auto-create, while the request is in flight.
    let autoCreating = NIOLockedValueBox(Set<String>())
    /// Per transactional producer, the end of its latest produce request that waits behind a verification here.
    let txnProduceOrder = NIOLockedValueBox([Int64: EventLoopFuture<Void>]())
    /// Cluster mode: metadata from the controller, partitions served by their Raft leaders.
    let cluster: ClusterContext?
    let producerIds: ProducerIdPool
    /// The group coordinators of the `__consumer_offsets` partitions this node leads.
    let groups: GroupService
    /// The Schema Registry (REST on the node's HTTP port), replicated in `_schemas`.
    public let registry: SchemaRegistryService
    /// The transaction coordinators of the `__transaction_state` partitions this node leads.
    let txns: TxnService

    public init(
        config: BrokerConfig, logger: Logger, clock: any SkeinModel.Clock = SystemClock(),
        cluster: ClusterContext? = nil
    ) throws {
        self.cluster = cluster
        self.producerIds = ProducerIdPool(
            reserveBlock: Self.producerIdSource(dataDirectory: config.dataDirectory, cluster: cluster))
        self.configBox = NIOLockedValueBox(config)
        self.logger = logger
        self.clock = clock
        let topics = try TopicRegistry(dataDirectory: config.dataDirectory, clock: clock, logger: logger)
        self.topics = topics
        let backend: any CoordinatorLogBackend =
            cluster.map { ReplicatedCoordinatorLog(cluster: $0) } ?? LocalCoordinatorLog(topics: topics)
        self.groups = GroupService(
            backend: backend, config: config.groupCoordinator, clock: clock,
            logger: logger)
        groups.start()
        let registryBackend: any CoordinatorLogBackend =
            cluster.map { ReplicatedCoordinatorLog(cluster: $0, topic: schemasTopic) }
            ?? LocalCoordinatorLog(topics: topics, topic: schemasTopic)
        let nodeId = config.nodeId
        let schemasPartition = GroupId(topic: schemasTopic, partition: 0)
        let replicationFactor = config.offsetsTopicReplicationFactor
        let topicLogger = logger
        let leaderOf: @Sendable () -> BrokerId? = {
            guard let cluster else { return nodeId }
            return Self.leader(of: schemasPartition, in: cluster)?.leader
        }
        let createTopic: @Sendable () async -> Void = {
            await Self.createInternalTopic(
                schemasTopic, partitions: 1, replicationFactor: replicationFactor, topics: topics,
                cluster: cluster, logger: topicLogger)
        }
        var forward: (@Sendable (BrokerId, ByteBuffer) async throws -> ByteBuffer)?
        if let request = cluster?.peerRequest {
            forward = { leader, payload in
                try await request(leader, SchemaRegistryService.forwardKind, payload, .seconds(15))
            }
        }
        self.registry = SchemaRegistryService(
            backend: registryBackend, logger: logger, leaderOf: leaderOf, createTopic: createTopic, forward: forward)
        let txnBackend: any CoordinatorLogBackend =
            cluster.map { ReplicatedCoordinatorLog(cluster: $0, topic: transactionStateTopic) }
            ?? LocalCoordinatorLog(topics: topics, topic: transactionStateTopic)
        // The marker writer needs the broker; the service exists before the broker is complete.
        let brokerBox = NIOLockedValueBox<Broker?>(nil)
        var txnConfig = config.transactionCoordinator
        txnConfig.offsetsTopicPartitionCount = config.offsetsTopicPartitions
        self.txns = TxnService(
            backend: txnBackend, config: txnConfig, clock: clock, logger: logger,
            reserveBlock: Self.producerIdSource(dataDirectory: config.dataDirectory, cluster: cluster),
            writeMarker: { tp, markers in
                guard let broker = brokerBox.withLockedValue({ $0 }) else {
                    return MultiThreadedEventLoopGroup.singleton.next().makeSucceededFuture(.notLeaderOrFollower)
                }
                return broker.writeTxnMarker(tp, markers)
            })
        brokerBox.withLockedValue { $0 = self }
        txns.start()
    }

    /// Requests from peers over the cluster RPC that the broker answers (registry writes forwarded to the
    /// `_schemas` leader, transaction markers, transaction verifications); nil for other kinds.
    public func handlePeerRequest(kind: UInt16, payload: ByteBuffer) async throws -> ByteBuffer? {
        switch kind {
        case SchemaRegistryService.forwardKind: return try await registry.handleForwarded(payload).get()
        case Self.writeTxnMarkersKind: return try await handleWriteTxnMarkers(payload)
        case Self.verifyTxnKind: return try await handleVerifyTxn(payload)
        default: return nil
        }
    }

    var zeroCopyFetch: Bool { config.zeroCopyFetch }
    func recordBytesIn(_ n: Int) { metrics.add(bytesIn: n) }
    func recordBytesOut(_ n: Int) { metrics.add(bytesOut: n) }

    /// The address clients are told to use, once the listener is bound (a configured port 0 is only known then).
    public func setAdvertisedListener(host: String, port: Int32) {
        configBox.withLockedValue {
            $0.advertisedHost = host
            $0.advertisedPort = port
        }
    }

    /// The address given to clients of listener `name`, once it is bound.
    public func setAdvertisedListener(name: String, host: String, port: Int32) {
        configBox.withLockedValue { $0.advertisedListeners[name] = AdvertisedAddress(host: host, port: port) }
    }

    /// Wakes long-polling fetches (a high watermark moved).
    public func notifyDataAvailable() { fetchWaiters.notifyAppended() }

    public func shutdown() {
        groups.stop()
        txns.stop()
        topics.closeAll()
    }
}

/// Request counts and latencies per API, bytes in and out: what `/metrics` reports.
public final class BrokerMetrics: Sendable {
    struct PerApi {
        var requests: UInt64 = 0
        var inFlight: Int64 = 0
        var totalNanos: UInt64 = 0
    }
    private let state = NIOLockedValueBox([ApiKey: PerApi]())
    private let bytes = NIOLockedValueBox((in: UInt64(0), out: UInt64(0)))

    func add(bytesIn n: Int) { bytes.withLockedValue { $0.in += UInt64(n) } }
    func add(bytesOut n: Int) { bytes.withLockedValue { $0.out += UInt64(n) } }
    /// Record bytes appended by Produce and returned by Fetch.
    public var recordBytes: (in: UInt64, out: UInt64) { bytes.withLockedValue { $0 } }

    func requestStarted(_ key: ApiKey) {
        state.withLockedValue { $0[key, default: PerApi()].inFlight += 1 }
    }

    func requestFinished(_ key: ApiKey, duration: Duration) {
        let nanos =
            UInt64(max(0, duration.components.seconds)) * 1_000_000_000
            + UInt64(max(0, duration.components.attoseconds / 1_000_000_000))
        state.withLockedValue {
            $0[key, default: PerApi()].inFlight -= 1
            $0[key, default: PerApi()].requests += 1
            $0[key, default: PerApi()].totalNanos += nanos
        }
    }

    /// (api name, requests, total seconds) for every API seen.
    public func snapshot() -> [(api: String, requests: UInt64, seconds: Double)] {
        state.withLockedValue { s in
            s.sorted { $0.key.rawValue < $1.key.rawValue }.map {
                ($0.key.name, $0.value.requests, Double($0.value.totalNanos) / 1e9)
            }
        }
    }
}

/// What `/metrics` reports for one partition.
public struct PartitionStatistics: Sendable {
    public var topic: String
    public var partition: Int32
    public var sizeBytes: Int
    public var logStartOffset: Int64
    public var logEndOffset: Int64
}

extension Broker {
    public func partitionStatistics() -> [PartitionStatistics] {
        topics.all.flatMap { topic in
            topic.partitions.enumerated().map { p, log in
                PartitionStatistics(
                    topic: topic.name, partition: Int32(p), sizeBytes: log.size, logStartOffset: log.logStartOffset,
                    logEndOffset: log.logEndOffset)
            }
        }
    }

    /// Deletes segments past retention.ms / retention.bytes in every partition. Called periodically by the node.
    public func applyRetention() {
        for topic in topics.all {
            for (p, log) in topic.partitions.enumerated() {
                do {
                    let deleted = try log.applyRetention()
                    if deleted > 0 {
                        logger.info(
                            "retention deleted segments",
                            metadata: ["topic": "\(topic.name)", "partition": "\(p)", "segments": "\(deleted)"])
                    }
                } catch {
                    logger.error(
                        "retention failed",
                        metadata: ["topic": "\(topic.name)", "partition": "\(p)", "error": "\(error)"])
                }
            }
        }
    }
}

extension Broker {
    /// Kafka's error code and message for anything a handler throws: refusals carry their own code, storage
    /// errors map to theirs, anything else is UNKNOWN_SERVER_ERROR.
    static func kafkaError(_ error: any Error) -> (code: KafkaErrorCode, message: String) {
        switch error {
        case let e as TopicError: return (e.code, e.message)
        case let e as ProduceError: return (e.code, e.message)
        case let e as StorageError: return (e.kafkaErrorCode, e.description)
        default: return (.unknownServerError, "\(error)")
        }
    }
}

extension Broker {
    /// The storage settings a topic's configs stand for (cluster mode opens replicas with them).
    public static func logConfig(forTopicConfigs configs: [String: String]) -> LogConfig {
        TopicConfigs.logConfig(configs)
    }
}
