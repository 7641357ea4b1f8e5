import Foundation
import KafkaRecords
import KafkaWire
import NIOCore
import NIOPosix
import SkeinModel

/// A native Kafka client: admin calls, a producer and a consumer over one connection per broker.
///
/// It bootstraps from a list of addresses, learns brokers and partition leaders from Metadata (cached, and
/// refreshed when a broker says the cache is stale), and negotiates each request's version from the broker's
/// ApiVersions. Every request has a timeout. Kafka errors are thrown as `KafkaError`, client-side failures as
/// `KafkaClientError`.
public actor KafkaClient {
    public let bootstrap: [BrokerAddress]
    public let clientId: String
    /// The limit for one request's round trip (a fetch adds its maxWait).
    public let requestTimeout: Duration
    private let group: any EventLoopGroup

    /// Connections by broker id, as tasks so that concurrent callers share one connection attempt.
    private var connections: [BrokerId: Task<BrokerConnection, any Error>] = [:]
    /// A connection to any broker, for requests that any broker answers (Metadata).
    private var anyConnection: BrokerConnection?
    private var brokers: [BrokerId: BrokerInfo] = [:]
    private var controllerId: BrokerId = .none
    private var topicCache: [String: TopicInfo] = [:]
    var partitioner = Partitioner()

    /// `bootstrap` is a list such as `"127.0.0.1:9092,127.0.0.1:9192"`. Nothing connects until the first call.
    public init(
        bootstrap: String, clientId: String = "skein", requestTimeout: Duration = .seconds(30),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) throws {
        self.bootstrap = try BrokerAddress.parseList(bootstrap)
        self.clientId = clientId
        self.requestTimeout = requestTimeout
        self.group = eventLoopGroup
    }

    /// Closes every connection. A later call would connect again.
    public func close() async {
        let tasks = connections.values
        connections.removeAll()
        for t in tasks { await (try? t.value)?.close() }
        await anyConnection?.close()
        anyConnection = nil
    }

    // MARK: connections

    private func connect(_ address: BrokerAddress) async throws -> BrokerConnection {
        try await BrokerConnection.connect(
            host: address.host, port: address.port, clientId: clientId, timeout: requestTimeout.timeAmount,
            group: group)
    }

    /// A live connection to some broker: the last one used, else the first bootstrap or known broker that answers.
    func someConnection() async throws -> BrokerConnection {
        if let c = anyConnection, c.isActive { return c }
        anyConnection = nil
        var lastError: any Error = KafkaClientError.invalidArgument("no brokers")
        let known = brokers.values.sorted { $0.id < $1.id }.map(\.address)
        for address in bootstrap + known {
            do {
                let c = try await connect(address)
                if let existing = anyConnection, existing.isActive {
                    await c.close()  // another caller won the race while we connected
                    return existing
                }
                anyConnection = c
                return c
            } catch {
                lastError = error
            }
        }
        throw lastError
    }

    /// The connection to broker `id`, opened on first use and reopened after it closed.
    func connection(to id: BrokerId) async throws -> BrokerConnection {
        if let task = connections[id], let c = try? await task.value, c.isActive { return c }
        if brokers[id] == nil { _ = try await refreshMetadata(topics: nil) }
        guard let info = brokers[id] else {
            throw KafkaError(.brokerNotAvailable, message: "broker \(id) is not in the metadata")
        }
        let task = Task { try await self.connect(info.address) }
        connections[id] = task
        do {
            return try await task.value
        } catch {
            if connections[id] == task { connections[id] = nil }
            throw error
        }
    }

    /// The controller for admin requests; Kafka brokers forward them, so any broker will do when unknown.
    private func adminConnection() async throws -> BrokerConnection {
        if controllerId != .none, brokers[controllerId] != nil, let c = try? await connection(to: controllerId) {
            return c
        }
        return try await someConnection()
    }

    // MARK: metadata

    /// Metadata for `topics` (nil: every topic). Updates the cache of brokers and leaders.
    public func metadata(topics: [String]? = nil) async throws -> ClusterMetadata {
        try await refreshMetadata(topics: topics)
    }

    @discardableResult
    func refreshMetadata(topics names: [String]?) async throws -> ClusterMetadata {
        let conn = try await someConnection()
        let version = try conn.version(for: MetadataRequest.self)
        var request = MetadataRequest(topics: names.map { $0.map { MetadataRequest.MetadataRequestTopic(name: $0) } })
        // Looking at a topic must never create it; v0-3 cannot say so (their brokers decide).
        if version >= 4 { request.allowAutoTopicCreation = false }
        if names == nil && version == 0 { request.topics = [] }  // v0: an empty list means all topics
        let response = try await conn.send(request, version: version, timeout: requestTimeout.timeAmount).response

        var result = ClusterMetadata(
            clusterId: response.clusterId, controllerId: response.controllerId, brokers: [], topics: [],
            topicErrors: [:])
        for b in response.brokers {
            let info = BrokerInfo(id: b.nodeId, address: BrokerAddress(host: b.host, port: Int(b.port)), rack: b.rack)
            result.brokers.append(info)
            brokers[b.nodeId] = info
        }
        result.brokers.sort { $0.id < $1.id }
        controllerId = response.controllerId
        for t in response.topics {
            let name = t.name ?? "\(t.topicId)"
            if t.errorCode != 0 {
                result.topicErrors[name] = KafkaError(rawCode: t.errorCode, resource: name)
                topicCache[name] = nil
                continue
            }
            let partitions = t.partitions.map { p in
                PartitionInfo(
                    partition: p.partitionIndex, leader: p.leaderId, leaderEpoch: p.leaderEpoch,
                    replicas: p.replicaNodes, isr: p.isrNodes, offlineReplicas: p.offlineReplicas,
                    error: KafkaErrorCode(rawValue: p.errorCode) ?? .unknownServerError)
            }.sorted { $0.partition < $1.partition }
            let info = TopicInfo(name: name, id: t.topicId, isInternal: t.isInternal, partitions: partitions)
            result.topics.append(info)
            topicCache[name] = info
        }
        result.topics.sort { $0.name < $1.name }
        return result
    }

    /// The cached topic, fetching its metadata when not cached (or when `refresh`).
    func topicInfo(_ name: String, refresh: Bool = false) async throws -> TopicInfo {
        if !refresh, let t = topicCache[name] { return t }
        let m = try await refreshMetadata(topics: [name])
        if let t = m.topics.first(where: { $0.name == name }) { return t }
        throw m.topicErrors[name] ?? KafkaError(.unknownTopicOrPartition, resource: name)
    }

    /// The leader's connection for a partition.
    func leaderConnection(topic: String, partition: Int32) async throws -> BrokerConnection {
        let info = try await topicInfo(topic)
        guard let p = info.partitions.first(where: { $0.partition == partition }) else {
            throw KafkaError(.unknownTopicOrPartition, resource: "\(topic)-\(partition)")
        }
        guard p.leader != .none else { throw KafkaError(.leaderNotAvailable, resource: "\(topic)-\(partition)") }
        return try await connection(to: p.leader)
    }

    /// Forgets the cached placement of `topic`, so that the next call asks the brokers again.
    func invalidate(topic: String) { topicCache[topic] = nil }

    /// Runs `body` up to `attempts` times while it fails with a retriable Kafka error or a lost connection,
    /// refreshing the topic's metadata in between (a leader moved, a topic is still being created).
    func withRetries<T: Sendable>(
        topic: String, attempts: Int = 5, _ body: () async throws -> T
    ) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await body()
            } catch let error as KafkaError where error.isRetriable && attempt < attempts {
                invalidate(topic: topic)
            } catch KafkaClientError.connectionClosed where attempt < attempts {
                invalidate(topic: topic)
            }
            try await Task.sleep(for: .milliseconds(50 << min(attempt, 5)))
            attempt += 1
        }
    }

    // MARK: admin

    /// Every topic's name, sorted.
    public func listTopics() async throws -> [String] {
        try await refreshMetadata(topics: nil).topics.map(\.name)
    }

    /// Creates a topic; nil partitions or replication factor leave the choice to the broker's defaults.
    public func createTopic(
        name: String, partitions: Int32? = nil, replicationFactor: Int16? = nil, configs: [String: String] = [:]
    ) async throws {
        let conn = try await adminConnection()
        let request = CreateTopicsRequest(
            topics: [
                .init(
                    name: name, numPartitions: partitions ?? -1, replicationFactor: replicationFactor ?? -1,
                    configs: configs.sorted { $0.key < $1.key }.map { .init(name: $0.key, value: $0.value) })
            ],
            timeoutMs: Int32(clamping: requestTimeout.milliseconds))
        let response = try await conn.send(request, timeout: requestTimeout.timeAmount).response
        guard let r = response.topics.first(where: { $0.name == name }) else {
            throw KafkaClientError.protocolViolation("CreateTopics response does not mention \(name)")
        }
        try KafkaError.check(r.errorCode, message: r.errorMessage, resource: name)
        invalidate(topic: name)
    }

    /// Deletes a topic by name.
    public func deleteTopic(_ name: String) async throws {
        let conn = try await adminConnection()
        let version = try conn.version(for: DeleteTopicsRequest.self)
        var request = DeleteTopicsRequest(timeoutMs: Int32(clamping: requestTimeout.milliseconds))
        // v6 names topics in Topics (name or id); earlier versions in TopicNames.
        if version >= 6 { request.topics = [.init(name: name)] } else { request.topicNames = [name] }
        let response = try await conn.send(request, version: version, timeout: requestTimeout.timeAmount).response
        guard let r = response.responses.first(where: { $0.name == name }) ?? response.responses.first else {
            throw KafkaClientError.protocolViolation("DeleteTopics response is empty")
        }
        try KafkaError.check(r.errorCode, message: r.errorMessage, resource: name)
        invalidate(topic: name)
    }

    /// Kafka's resource type for topics in DescribeConfigs and IncrementalAlterConfigs.
    static let topicResourceType: Int8 = 2

    /// Partitions with leader, replicas and ISR; configs too when the broker serves DescribeConfigs.
    public func describeTopic(_ name: String) async throws -> TopicDescription {
        let topic = try await topicInfo(name, refresh: true)
        let conn = try await adminConnection()
        guard conn.versions.serves(.describeConfigs) else {
            return TopicDescription(
                topic: topic, configs: nil, configNote: "configs omitted: \(conn.name) does not serve DescribeConfigs")
        }
        let request = DescribeConfigsRequest(
            resources: [.init(resourceType: Self.topicResourceType, resourceName: name, configurationKeys: nil)])
        let response = try await conn.send(request, timeout: requestTimeout.timeAmount).response
        guard let r = response.results.first else {
            throw KafkaClientError.protocolViolation("DescribeConfigs response is empty")
        }
        try KafkaError.check(r.errorCode, message: r.errorMessage, resource: name)
        let configs = r.configs.map { c in
            // configSource 5 is DEFAULT_CONFIG (v1+); v0 has isDefault instead.
            ConfigEntry(
                name: c.name, value: c.value, isDefault: c.isDefault || c.configSource == 5, isReadOnly: c.readOnly,
                isSensitive: c.isSensitive)
        }.sorted { $0.name < $1.name }
        return TopicDescription(topic: topic, configs: configs, configNote: nil)
    }

    /// Sets and deletes (resets to default) topic configs with IncrementalAlterConfigs; throws
    /// `KafkaClientError.unsupportedApi` when the broker does not serve it.
    public func alterTopicConfig(_ name: String, set: [String: String] = [:], delete: [String] = []) async throws {
        let conn = try await adminConnection()
        // Operations: 0 SET, 1 DELETE.
        let ops =
            set.sorted { $0.key < $1.key }.map {
                IncrementalAlterConfigsRequest.AlterableConfig(
                    name: $0.key, configOperation: 0, value: $0.value)
            }
            + delete.map { IncrementalAlterConfigsRequest.AlterableConfig(name: $0, configOperation: 1, value: nil) }
        let request = IncrementalAlterConfigsRequest(
            resources: [.init(resourceType: Self.topicResourceType, resourceName: name, configs: ops)])
        let response = try await conn.send(request, timeout: requestTimeout.timeAmount).response
        guard let r = response.responses.first else {
            throw KafkaClientError.protocolViolation("IncrementalAlterConfigs response is empty")
        }
        try KafkaError.check(r.errorCode, message: r.errorMessage, resource: name)
    }
}
