import KafkaWire
import SkeinModel
import SkeinStorage

/// Kafka's config resource types and sources, as the config APIs carry them.
enum ConfigResourceType: Int8 {
    case topic = 2, broker = 4, brokerLogger = 8
}

enum ConfigSource: Int8 {
    case dynamicTopic = 1, staticBroker = 4, defaultConfig = 5
}

extension TopicConfigs.Definition {
    /// Kafka's ConfigType codes for DescribeConfigs v3+.
    var configType: Int8 {
        switch kind {
        case .bool: return 1
        case .string, .choice: return 2
        case .int: return 3
        case .long: return 5
        case .double: return 6
        case .list: return 7
        }
    }
}

extension Broker {
    /// The replication factor a topic created without one gets now: the configured one, else the live nodes up
    /// to 3 (1 on a node without `[cluster]`).
    var defaultReplicationFactorNow: Int16 {
        if let rf = config.defaultReplicationFactor { return rf }
        guard let cluster else { return 1 }
        return Int16(min(3, max(cluster.controller.metadata.liveNodes.count, 1)))
    }

    /// The broker configs a client may ask about; fixed at startup (static), from the node's config file.
    var brokerConfigs: [(name: String, value: String, type: Int8)] {
        [
            ("broker.id", "\(config.nodeId.rawValue)", 3),
            ("node.id", "\(config.nodeId.rawValue)", 3),
            ("auto.create.topics.enable", "\(config.autoCreateTopics)", 1),
            ("num.partitions", "\(config.defaultPartitions)", 3),
            ("default.replication.factor", "\(defaultReplicationFactorNow)", 4),
            ("message.max.bytes", "\(config.messageMaxBytes)", 3),
            ("fetch.max.bytes", "\(config.fetchMaxBytes)", 3),
            ("log.dirs", config.dataDirectory, 2),
        ]
    }

    func handleDescribeConfigs(_ request: DescribeConfigsRequest, version: Int16) -> DescribeConfigsResponse {
        var response = DescribeConfigsResponse()
        for resource in request.resources {
            var result = DescribeConfigsResponse.DescribeConfigsResult(
                resourceType: resource.resourceType, resourceName: resource.resourceName)
            let wanted = resource.configurationKeys.map(Set.init)
            switch ConfigResourceType(rawValue: resource.resourceType) {
            case .topic?:
                let topicConfigs =
                    cluster.map { $0.controller.metadata.topics[resource.resourceName]?.configs }
                    ?? topics.topic(named: resource.resourceName)?.configs
                guard let topicConfigs else {
                    result.errorCode = KafkaErrorCode.unknownTopicOrPartition.rawValue
                    result.errorMessage = "The topic '\(resource.resourceName)' does not exist."
                    break
                }
                for d in TopicConfigs.definitions where wanted?.contains(d.name) ?? true {
                    let own = topicConfigs[d.name]
                    var entry = DescribeConfigsResponse.DescribeConfigsResourceResult(
                        name: d.name, value: own ?? d.defaultValue, readOnly: false, isSensitive: false)
                    if version == 0 { entry.isDefault = own == nil }
                    if version >= 1 {
                        entry.configSource = (own == nil ? ConfigSource.defaultConfig : .dynamicTopic).rawValue
                        if request.includeSynonyms, let own {
                            entry.synonyms = [
                                .init(name: d.name, value: own, source: ConfigSource.dynamicTopic.rawValue)
                            ]
                        }
                    }
                    if version >= 3 { entry.configType = d.configType }
                    result.configs.append(entry)
                }
            case .broker?:
                guard resource.resourceName.isEmpty || resource.resourceName == "\(config.nodeId.rawValue)" else {
                    result.errorCode = KafkaErrorCode.invalidRequest.rawValue
                    result.errorMessage =
                        "Unexpected broker id, expected \(config.nodeId.rawValue) or empty string, but received \(resource.resourceName)"
                    break
                }
                for c in brokerConfigs where wanted?.contains(c.name) ?? true {
                    var entry = DescribeConfigsResponse.DescribeConfigsResourceResult(
                        name: c.name, value: c.value, readOnly: true, isSensitive: false)
                    if version >= 1 { entry.configSource = ConfigSource.staticBroker.rawValue }
                    if version >= 3 { entry.configType = c.type }
                    result.configs.append(entry)
                }
            default:
                result.errorCode = KafkaErrorCode.invalidRequest.rawValue
                result.errorMessage = "Unsupported resource type \(resource.resourceType)"
            }
            response.results.append(result)
        }
        return response
    }

    func handleAlterConfigs(_ request: AlterConfigsRequest) async -> AlterConfigsResponse {
        var response = AlterConfigsResponse()
        for resource in request.resources {
            var result = AlterConfigsResponse.AlterConfigsResourceResponse(
                resourceType: resource.resourceType, resourceName: resource.resourceName)
            do {
                try checkTopicResource(resource.resourceType)
                // AlterConfigs replaces the whole set: configs not named go back to their defaults.
                var configs: [String: String] = [:]
                for c in resource.configs {
                    guard let value = c.value else { continue }
                    configs[c.name] = value
                }
                try await updateTopicConfigs(name: resource.resourceName, validateOnly: request.validateOnly) { _ in
                    configs
                }
            } catch {
                let (code, message) = Self.kafkaError(error)
                result.errorCode = code.rawValue
                result.errorMessage = message
            }
            response.responses.append(result)
        }
        return response
    }

    func handleIncrementalAlterConfigs(_ request: IncrementalAlterConfigsRequest) async
        -> IncrementalAlterConfigsResponse
    {
        var response = IncrementalAlterConfigsResponse()
        for resource in request.resources {
            var result = IncrementalAlterConfigsResponse.AlterConfigsResourceResponse(
                resourceType: resource.resourceType, resourceName: resource.resourceName)
            do {
                try checkTopicResource(resource.resourceType)
                try await updateTopicConfigs(name: resource.resourceName, validateOnly: request.validateOnly) {
                    current in
                    var configs = current
                    for c in resource.configs {
                        guard let d = TopicConfigs.byName[c.name] else {
                            throw TopicError(code: .invalidConfig, message: "Unknown topic config name: \(c.name)")
                        }
                        switch c.configOperation {
                        case 0:  // SET
                            guard let value = c.value else {
                                throw TopicError(
                                    code: .invalidRequest, message: "Null value not supported for: \(c.name)")
                            }
                            configs[c.name] = value
                        case 1:  // DELETE
                            configs[c.name] = nil
                        case 2, 3:  // APPEND, SUBTRACT: list configs only
                            guard case .list = d.kind else {
                                throw TopicError(
                                    code: .invalidConfig,
                                    message: "Config value append is not allowed for config key: \(c.name)")
                            }
                            var items = (configs[c.name] ?? d.defaultValue).split(separator: ",").map(String.init)
                            let values = (c.value ?? "").split(separator: ",").map(String.init)
                            if c.configOperation == 2 {
                                for v in values where !items.contains(v) { items.append(v) }
                            } else {
                                items.removeAll { values.contains($0) }
                            }
                            configs[c.name] = items.joined(separator: ",")
                        default:
                            throw TopicError(
                                code: .invalidRequest, message: "Unknown config operation \(c.configOperation)")
                        }
                    }
                    return configs
                }
            } catch {
                let (code, message) = Self.kafkaError(error)
                result.errorCode = code.rawValue
                result.errorMessage = message
            }
            response.responses.append(result)
        }
        return response
    }

    private func checkTopicResource(_ type: Int8) throws {
        switch ConfigResourceType(rawValue: type) {
        case .topic?: return
        case .broker?, .brokerLogger?:
            throw TopicError(
                code: .invalidRequest,
                message: "Broker configs are static in this version; set them in the node's config file.")
        default:
            throw TopicError(code: .invalidRequest, message: "Unsupported resource type \(type)")
        }
    }

    func handleCreatePartitions(_ request: CreatePartitionsRequest) async -> CreatePartitionsResponse {
        var response = CreatePartitionsResponse()
        for t in request.topics {
            var result = CreatePartitionsResponse.CreatePartitionsTopicResult(name: t.name)
            do {
                if let cluster {
                    try await addClusterPartitions(t, validateOnly: request.validateOnly, cluster: cluster)
                } else if let assignments = t.assignments {
                    for a in assignments where a.brokerIds != [config.nodeId] {
                        throw TopicError(
                            code: .invalidReplicaAssignment,
                            message: "Replica assignment \(a.brokerIds) names brokers other than \(config.nodeId)")
                    }
                }
                if cluster == nil {
                    try topics.addPartitions(name: t.name, count: t.count, validateOnly: request.validateOnly)
                }
            } catch {
                let (code, message) = Self.kafkaError(error)
                result.errorCode = code.rawValue
                result.errorMessage = message
            }
            response.results.append(result)
        }
        return response
    }

    func handleDeleteRecords(_ request: DeleteRecordsRequest) -> DeleteRecordsResponse {
        var response = DeleteRecordsResponse()
        for t in request.topics {
            var topicResult = DeleteRecordsResponse.DeleteRecordsTopicResult(name: t.name)
            let topic = topics.topic(named: t.name)
            for p in t.partitions {
                var r = DeleteRecordsResponse.DeleteRecordsPartitionResult(
                    partitionIndex: p.partitionIndex, lowWatermark: -1)
                guard let log = topic?.partition(p.partitionIndex) else {
                    r.errorCode = KafkaErrorCode.unknownTopicOrPartition.rawValue
                    topicResult.partitions.append(r)
                    continue
                }
                let highWatermark = log.logEndOffset
                let target = p.offset == -1 ? highWatermark : p.offset
                if target < 0 || target > highWatermark {
                    r.errorCode = KafkaErrorCode.offsetOutOfRange.rawValue
                } else {
                    do {
                        r.lowWatermark = try log.deleteRecords(before: target)
                    } catch {
                        r.errorCode = Self.kafkaError(error).code.rawValue
                    }
                }
                topicResult.partitions.append(r)
            }
            response.topics.append(topicResult)
        }
        return response
    }
}
