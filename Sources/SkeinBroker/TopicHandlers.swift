import KafkaWire
import SkeinModel

extension Broker {
    /// Brokers are advertised at the address of the listener the request came through (Kafka's rule: a client
    /// on the SSL listener must be sent to SSL ports).
    func handleMetadata(_ request: MetadataRequest, version: Int16, listenerName: String) -> MetadataResponse {
        var response = MetadataResponse()
        let config = self.config
        let address = config.advertisedAddress(listenerName: listenerName)
        response.brokers = [.init(nodeId: config.nodeId, host: address.host, port: address.port, rack: config.rack)]
        response.clusterId = config.clusterId
        response.controllerId = config.nodeId
        let requested: [Topic]
        var missing: [MetadataResponse.MetadataResponseTopic] = []
        if let wanted = request.topics {
            var found: [Topic] = []
            for t in wanted {
                if let name = t.name, let topic = topics.topic(named: name) {
                    found.append(topic)
                } else if let name = t.name, request.allowAutoTopicCreation, config.autoCreateTopics,
                    (try? topics.validateName(name)) != nil,
                    let topic = try? topics.create(
                        name: name, partitions: config.defaultPartitions, configs: [:], validateOnly: false)
                {
                    found.append(topic)
                } else if t.name == nil, let topic = topics.topic(id: t.topicId) {
                    found.append(topic)
                } else {
                    let invalid = t.name.map { (try? topics.validateName($0)) == nil } ?? false
                    missing.append(
                        .init(
                            errorCode: (invalid ? KafkaErrorCode.invalidTopicException : .unknownTopicOrPartition)
                                .rawValue,
                            name: t.name, topicId: t.topicId))
                }
            }
            requested = found
        } else {
            requested = topics.all
        }
        response.topics =
            requested.map { topic in
                MetadataResponse.MetadataResponseTopic(
                    errorCode: 0, name: topic.name, topicId: topic.id, isInternal: topic.name == consumerOffsetsTopic,
                    partitions: topic.partitions.indices.map { p in
                        .init(
                            errorCode: 0, partitionIndex: Int32(p), leaderId: config.nodeId, leaderEpoch: 0,
                            replicaNodes: [config.nodeId], isrNodes: [config.nodeId], offlineReplicas: [])
                    },
                    topicAuthorizedOperations: request.includeTopicAuthorizedOperations
                        ? Self.allTopicOperations : Int32.min)
            } + missing
        if version >= 8 && version <= 10 && request.includeClusterAuthorizedOperations {
            response.clusterAuthorizedOperations = Self.allClusterOperations
        }
        return response
    }

    /// Without ACLs every operation is allowed: READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS,
    /// ALTER_CONFIGS (bits 3-10 of Kafka's AclOperation codes).
    static let allTopicOperations: Int32 = 0b111_1111_1000
    /// Cluster: CREATE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE, ALTER, DESCRIBE.
    static let allClusterOperations: Int32 =
        (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12)

    func handleCreateTopics(_ request: CreateTopicsRequest, version: Int16) -> CreateTopicsResponse {
        var response = CreateTopicsResponse()
        var seen = Set<String>()
        for t in request.topics {
            var result = CreateTopicsResponse.CreatableTopicResult(name: t.name)
            do {
                guard seen.insert(t.name).inserted else {
                    throw TopicError(
                        code: .invalidRequest,
                        message: "Create topics request from client contains a duplicate topic: \(t.name)")
                }
                let partitions: Int32
                if !t.assignments.isEmpty {
                    guard t.numPartitions == -1 && t.replicationFactor == -1 else {
                        throw TopicError(
                            code: .invalidRequest,
                            message:
                                "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time."
                        )
                    }
                    let indices = t.assignments.map(\.partitionIndex).sorted()
                    guard indices == Array(0..<Int32(indices.count)) else {
                        throw TopicError(
                            code: .invalidReplicaAssignment,
                            message: "Partitions should be a consecutive 0-based integer sequence")
                    }
                    for a in t.assignments where a.brokerIds != [config.nodeId] {
                        throw TopicError(
                            code: .invalidReplicaAssignment,
                            message:
                                "Replica assignment \(a.brokerIds) for partition \(a.partitionIndex) names brokers other than \(config.nodeId)"
                        )
                    }
                    partitions = Int32(indices.count)
                } else {
                    partitions = t.numPartitions == -1 ? config.defaultPartitions : t.numPartitions
                    let rf = t.replicationFactor == -1 ? 1 : t.replicationFactor
                    guard rf > 0 else {
                        throw TopicError(
                            code: .invalidReplicationFactor, message: "Replication factor must be larger than 0.")
                    }
                    guard rf <= 1 else {
                        throw TopicError(
                            code: .invalidReplicationFactor,
                            message: "Replication factor: \(rf) larger than available brokers: 1.")
                    }
                }
                let configs = try Self.requestedConfigs(t)
                try topics.create(
                    name: t.name, partitions: partitions, configs: configs, validateOnly: request.validateOnly)
                let created = topics.topic(named: t.name)
                result.topicId = created?.id ?? .zero
                result.numPartitions = partitions
                result.replicationFactor = 1
                if version >= 5 { result.configs = Self.createdTopicConfigs(configs) }
            } catch {
                Self.fail(&result, error)
            }
            response.topics.append(result)
        }
        return response
    }

    func handleDeleteTopics(_ request: DeleteTopicsRequest, version: Int16) -> DeleteTopicsResponse {
        var response = DeleteTopicsResponse()
        // v0-5 name topics in TopicNames; v6 in Topics (by name or id).
        var targets: [(name: String?, id: KafkaUUID)] = request.topicNames.map { ($0, .zero) }
        targets += request.topics.map { ($0.name, $0.topicId) }
        for target in targets {
            var result = DeleteTopicsResponse.DeletableTopicResult(name: target.name, topicId: target.id)
            let name = target.name ?? topics.topic(id: target.id)?.name
            do {
                guard let name else {
                    throw TopicError(code: .unknownTopicId, message: "This server does not host this topic ID.")
                }
                let deleted = try topics.delete(name: name)
                result.name = deleted.name
                result.topicId = deleted.id
            } catch {
                let (code, message) = Self.kafkaError(error)
                result.errorCode = code.rawValue
                result.errorMessage = message
            }
            response.responses.append(result)
        }
        return response
    }

    func handleDescribeCluster(_ request: DescribeClusterRequest, listenerName: String) -> DescribeClusterResponse {
        let config = self.config
        let address = config.advertisedAddress(listenerName: listenerName)
        if let cluster {
            let nodes = cluster.controller.metadata.liveNodes
            return DescribeClusterResponse(
                clusterId: config.clusterId, controllerId: cluster.controller.controllerIdForClients,
                brokers: nodes.compactMap { n in
                    guard let e = n.endpoint(for: listenerName) else { return nil }
                    return .init(brokerId: BrokerId(n.id), host: e.host, port: e.port, rack: n.rack)
                },
                clusterAuthorizedOperations: request.includeClusterAuthorizedOperations
                    ? Self.allClusterOperations : Int32.min)
        }
        return DescribeClusterResponse(
            clusterId: config.clusterId, controllerId: config.nodeId,
            brokers: [.init(brokerId: config.nodeId, host: address.host, port: address.port, rack: config.rack)],
            clusterAuthorizedOperations: request.includeClusterAuthorizedOperations
                ? Self.allClusterOperations : Int32.min)
    }
}

extension Broker {
    /// A CreateTopics entry's configs; a null value is refused as Kafka does.
    static func requestedConfigs(_ t: CreateTopicsRequest.CreatableTopic) throws -> [String: String] {
        var configs: [String: String] = [:]
        for c in t.configs {
            guard let value = c.value else {
                throw TopicError(code: .invalidConfig, message: "Null value not supported for topic configs: \(c.name)")
            }
            configs[c.name] = value
        }
        return configs
    }

    /// What CreateTopics v5+ reports of a new topic's configs: every known name, set (1) or default (5).
    static func createdTopicConfigs(_ configs: [String: String]) -> [CreateTopicsResponse.CreatableTopicConfigs] {
        TopicConfigs.definitions.map { d in
            .init(
                name: d.name, value: configs[d.name] ?? d.defaultValue, readOnly: false,
                configSource: configs[d.name] == nil ? 5 : 1, isSensitive: false)
        }
    }

    /// A failed CreateTopics entry: Kafka's code and message, -1 for the counts.
    static func fail(_ result: inout CreateTopicsResponse.CreatableTopicResult, _ error: any Error) {
        let (code, message) = kafkaError(error)
        result.errorCode = code.rawValue
        result.errorMessage = message
        result.numPartitions = -1
        result.replicationFactor = -1
    }
}
