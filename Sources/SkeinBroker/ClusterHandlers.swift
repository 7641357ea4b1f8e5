import Foundation
import KafkaRecords
import KafkaWire
import NIOCore
import SkeinModel
import SkeinReplication
import SkeinStorage
import SkeinTransactions

/// What a node in cluster mode gives its broker: the replicated metadata, the replication engine and the local
/// replicas. Without it the broker serves a single node from its own topic registry.
public struct ClusterContext: Sendable {
    public let controller: ClusterController
    public let engine: ReplicationEngine
    public let replicas: LocalReplicas
    /// A request to a peer over the cluster's mutual-TLS RPC (kind, payload, timeout); nil when there are none.
    public let peerRequest: (@Sendable (BrokerId, UInt16, ByteBuffer, TimeAmount) async throws -> ByteBuffer)?
    public init(
        controller: ClusterController, engine: ReplicationEngine, replicas: LocalReplicas,
        peerRequest: (@Sendable (BrokerId, UInt16, ByteBuffer, TimeAmount) async throws -> ByteBuffer)? = nil
    ) {
        self.controller = controller
        self.engine = engine
        self.replicas = replicas
        self.peerRequest = peerRequest
    }
}

/// How a partition can be served here: from a local log (the leader's, in cluster mode) up to the high
/// watermark, or not, with Kafka's error.
enum PartitionServe {
    case local(log: PartitionLog, highWatermark: Int64, leaderEpoch: Int32)
    case error(KafkaErrorCode)
}

extension Broker {
    /// Resolves a partition by topic name (or id, when `name` is nil) for Fetch and ListOffsets.
    func servePartition(name: String?, id: KafkaUUID?, partition: Int32) -> PartitionServe {
        let unknown: KafkaErrorCode = name == nil ? .unknownTopicId : .unknownTopicOrPartition
        guard let cluster else {
            let topic = name.map { topics.topic(named: $0) } ?? id.flatMap { topics.topic(id: $0) }
            guard let log = topic?.partition(partition) else { return .error(unknown) }
            return .local(log: log, highWatermark: log.logEndOffset, leaderEpoch: Self.leaderEpoch)
        }
        let metadata = cluster.controller.metadata
        let topic =
            name.flatMap { metadata.topics[$0] } ?? id.flatMap { id in metadata.topics.values.first { $0.id == id } }
        guard let topic, partition >= 0, partition < topic.partitionCount else { return .error(unknown) }
        let group = GroupId(topic: topic.name, partition: partition)
        guard let log = cluster.replicas.log(for: group), let status = cluster.engine.status(of: group),
            status.role == .leader
        else { return .error(.notLeaderOrFollower) }
        return .local(
            log: log, highWatermark: status.highWatermark, leaderEpoch: Int32(truncatingIfNeeded: status.term))
    }

    /// The leader of a partition as this node knows it: its own replica's view, else what leaders announce.
    /// With the in-sync replicas when known (the leader's own view, or its announcement).
    func leaderOf(_ group: GroupId) -> (leader: BrokerId, epoch: Int32, inSync: [BrokerId]?)? {
        cluster.flatMap { Self.leader(of: group, in: $0) }
    }

    static func leader(of group: GroupId, in cluster: ClusterContext)
        -> (leader: BrokerId, epoch: Int32, inSync: [BrokerId]?)?
    {
        let hint = cluster.engine.leaderHint(group)
        if let s = cluster.engine.status(of: group) {
            if s.leader != .none {
                if s.role == .leader { return (s.leader, Int32(truncatingIfNeeded: s.term), s.inSync) }
                let isr = hint.flatMap { $0.leader == s.leader && $0.term == s.term ? $0.inSync : nil }
                return (s.leader, Int32(truncatingIfNeeded: s.term), isr)
            }
            // A replica here that knows no leader: only an announcement of a later term says more (an older one
            // names a leader that stepped down or died).
            guard let hint, hint.term > s.term else { return nil }
        }
        return hint.map { ($0.leader, Int32(truncatingIfNeeded: $0.term), $0.inSync) }
    }

    // MARK: Metadata

    func handleClusterMetadata(
        _ request: MetadataRequest, version: Int16, listenerName: String, cluster: ClusterContext
    )
        -> MetadataResponse
    {
        var response = MetadataResponse()
        let metadata = cluster.controller.metadata
        response.brokers = metadata.liveNodes.compactMap { n in
            guard let endpoint = n.endpoint(for: listenerName) else { return nil }
            return .init(nodeId: BrokerId(n.id), host: endpoint.host, port: endpoint.port, rack: n.rack)
        }
        response.clusterId = config.clusterId
        response.controllerId = cluster.controller.controllerIdForClients
        var chosen: [TopicMetadata] = []
        if let wanted = request.topics {
            for t in wanted {
                if let name = t.name, let topic = metadata.topics[name] {
                    chosen.append(topic)
                } else if t.name == nil, let topic = metadata.topics.values.first(where: { $0.id == t.topicId }) {
                    chosen.append(topic)
                } else {
                    let invalid = t.name.map { (try? topics.validateName($0)) == nil } ?? false
                    if let name = t.name, !invalid, request.allowAutoTopicCreation, config.autoCreateTopics,
                        !name.hasPrefix("__")
                    {
                        // Kafka's auto.create.topics.enable: created through the controller (placed there, with
                        // num.partitions and default.replication.factor); meanwhile LEADER_NOT_AVAILABLE, which
                        // clients retry.
                        autoCreate(name, cluster: cluster)
                        response.topics.append(
                            .init(
                                errorCode: KafkaErrorCode.leaderNotAvailable.rawValue, name: name,
                                topicId: t.topicId))
                        continue
                    }
                    response.topics.append(
                        .init(
                            errorCode: (invalid ? KafkaErrorCode.invalidTopicException : .unknownTopicOrPartition)
                                .rawValue, name: t.name, topicId: t.topicId))
                }
            }
        } else {
            chosen = metadata.topics.values.sorted { $0.name < $1.name }
        }
        for topic in chosen {
            var partitions: [MetadataResponse.MetadataResponsePartition] = []
            for (p, replicas) in topic.replicas.enumerated() {
                let group = GroupId(topic: topic.name, partition: Int32(p))
                let replicaIds = replicas.map { BrokerId($0) }
                var entry = MetadataResponse.MetadataResponsePartition(
                    errorCode: 0, partitionIndex: Int32(p), leaderId: .none, leaderEpoch: -1,
                    replicaNodes: replicaIds, isrNodes: replicaIds,
                    offlineReplicas: replicaIds.filter {
                        !cluster.engine.isReachable($0) || metadata.deadNodes.contains($0.rawValue)
                    })
                if let (leader, epoch, inSync) = leaderOf(group) {
                    entry.leaderId = leader
                    entry.leaderEpoch = epoch
                    if let inSync { entry.isrNodes = inSync }
                } else {
                    entry.errorCode = KafkaErrorCode.leaderNotAvailable.rawValue
                }
                partitions.append(entry)
            }
            response.topics.append(
                .init(
                    errorCode: 0, name: topic.name, topicId: topic.id, isInternal: topic.name == consumerOffsetsTopic, partitions: partitions,
                    topicAuthorizedOperations: request.includeTopicAuthorizedOperations
                        ? Self.allTopicOperations : Int32.min))
        }
        if version >= 8 && version <= 10 && request.includeClusterAuthorizedOperations {
            response.clusterAuthorizedOperations = Self.allClusterOperations
        }
        return response
    }

    /// Asks the controller to create `name` with the defaults (once at a time per name on this node).
    func autoCreate(_ name: String, cluster: ClusterContext) {
        guard autoCreating.withLockedValue({ $0.insert(name).inserted }) else { return }
        let config = self.config
        let logger = self.logger
        Task {
            defer { _ = self.autoCreating.withLockedValue { $0.remove(name) } }
            var generator = SystemRandomNumberGenerator()
            let placement = TopicPlacement(
                name: name, id: KafkaUUID.random(using: &generator), partitions: config.defaultPartitions,
                replicationFactor: -1, defaultReplicationFactor: config.defaultReplicationFactor, configs: [:],
                validateOnly: false)
            do throws(MetadataError) {
                try await cluster.controller.submit(.placeTopic(placement))
                logger.info("auto-created a topic", metadata: ["topic": "\(name)"])
            } catch {
                // TOPIC_ALREADY_EXISTS: another node created it first.
                if error.code != .topicAlreadyExists {
                    logger.warning("cannot auto-create a topic", metadata: ["topic": "\(name)", "error": "\(error)"])
                }
            }
        }
    }

    // MARK: Produce

    /// Produce in cluster mode: each partition's batches go to its Raft group at this node, which must lead it;
    /// acks=1 answers once they are in the local log, acks=all once they are committed (on a majority).
    func handleClusterProduce(
        _ request: ProduceRequest, version: Int16, cluster: ClusterContext, eventLoop: any EventLoop,
        verification: [TxnTopicPartition: ProduceVerification] = [:]
    )
        -> EventLoopFuture<HandlerResult>
    {
        let acksValid = request.acks == 0 || request.acks == 1 || request.acks == -1
        let metadata = cluster.controller.metadata
        var pending: [EventLoopFuture<(Int, Int, ProduceResponse.PartitionProduceResponse)>] = []
        var response = ProduceResponse()
        for (ti, topicData) in request.topicData.enumerated() {
            response.responses.append(ProduceResponse.TopicProduceResponse(name: topicData.name))
            for (pi, partitionData) in topicData.partitionData.enumerated() {
                var result = ProduceResponse.PartitionProduceResponse(index: partitionData.index)
                result.baseOffset = -1
                result.logAppendTimeMs = -1
                result.logStartOffset = -1
                response.responses[ti].partitionResponses.append(result)
                let group = GroupId(topic: topicData.name, partition: partitionData.index)
                func fail(_ code: KafkaErrorCode, _ message: String) {
                    var r = result
                    r.errorCode = code.rawValue
                    if version >= 8 { r.errorMessage = message }
                    pending.append(eventLoop.makeSucceededFuture((ti, pi, r)))
                }
                guard acksValid else {
                    fail(.invalidRequiredAcks, "acks must be 0, 1 or -1, got \(request.acks)")
                    continue
                }
                guard let topic = metadata.topics[topicData.name], partitionData.index >= 0,
                    partitionData.index < topic.partitionCount
                else {
                    fail(.unknownTopicOrPartition, "This server does not host this topic-partition.")
                    continue
                }
                guard let log = cluster.replicas.log(for: group) else {
                    fail(.notLeaderOrFollower, "This server is not the leader for that topic-partition.")
                    continue
                }
                let verdict = verification[TxnTopicPartition(topicData.name, partitionData.index)]
                if let error = verdict?.error {
                    fail(error, "The transaction coordinator did not confirm this partition: \(error).")
                    continue
                }
                var batches: [ByteBuffer]
                do {
                    batches = try splitBatches(partitionData.records, version: version)
                    let maxMessageBytes = log.config.maxMessageBytes
                    for b in batches {
                        let view = try RecordBatchView(bytes: b)
                        try view.validateForAppend()
                        guard view.sizeInBytes <= maxMessageBytes else {
                            throw StorageError.batchTooLarge(size: view.sizeInBytes, maxMessageBytes: maxMessageBytes)
                        }
                    }
                } catch let e as RecordBatchError {
                    fail(.corruptMessage, "\(e)")
                    continue
                } catch {
                    let (code, message) = Self.kafkaError(error)
                    fail(code, message)
                    continue
                }
                // A LogAppendTime topic: the leader stamps its time, as Kafka's LogValidator does.
                let appendTime: Int64 =
                    TopicConfigs.value("message.timestamp.type", in: topic.configs) == "LogAppendTime"
                    ? clock.nowMillis : -1
                if appendTime >= 0 { batches = batches.map { Self.stampLogAppendTime($0, now: appendTime) } }
                let bytes = batches.reduce(0) { $0 + $1.readableBytes }
                let template = {
                    var t = result
                    t.logAppendTimeMs = appendTime
                    return t
                }()
                let appended = cluster.engine.append(
                    group, batches: batches, waitForCommit: request.acks == -1,
                    origin: verdict?.origin ?? .client(verified: false), verificationGuard: verdict?.verificationGuard)
                let timeout = eventLoop.scheduleTask(in: .milliseconds(Int64(max(request.timeoutMs, 0)))) {}
                let answer = appended.hop(to: eventLoop).map {
                    position -> (Int, Int, ProduceResponse.PartitionProduceResponse) in
                    var r = template
                    r.baseOffset = position.baseOffset
                    r.logStartOffset = log.logStartOffset
                    self.recordBytesIn(bytes)
                    return (ti, pi, r)
                }.flatMapError { error -> EventLoopFuture<(Int, Int, ProduceResponse.PartitionProduceResponse)> in
                    var r = template
                    switch error {
                    case ReplicationError.storage(let why):
                        r.errorCode = KafkaErrorCode.kafkaStorageError.rawValue
                        if version >= 8 { r.errorMessage = why }
                    case ReplicationError.rejected(let code, let why):
                        r.errorCode = code.rawValue
                        if version >= 8 { r.errorMessage = why }
                    default:
                        r.errorCode = KafkaErrorCode.notLeaderOrFollower.rawValue
                        if version >= 8 { r.errorMessage = "\(error)" }
                    }
                    return eventLoop.makeSucceededFuture((ti, pi, r))
                }
                // acks=all waits for the commit at most the request's timeout.
                let timed = eventLoop.makePromise(of: (Int, Int, ProduceResponse.PartitionProduceResponse).self)
                answer.cascade(to: timed)
                timeout.futureResult.whenSuccess {
                    var r = template
                    r.errorCode = KafkaErrorCode.requestTimedOut.rawValue
                    if version >= 8 { r.errorMessage = "The batch was not committed within \(request.timeoutMs) ms." }
                    timed.succeed((ti, pi, r))
                }
                answer.whenComplete { _ in timeout.cancel() }
                pending.append(timed.futureResult)
            }
        }
        let skeleton = response
        return EventLoopFuture.whenAllComplete(pending, on: eventLoop).map { results in
            var response = skeleton
            for case .success(let (ti, pi, r)) in results { response.responses[ti].partitionResponses[pi] = r }
            return request.acks == 0 ? .noResponse : .response(response)
        }
    }

    /// A batch of a LogAppendTime topic as Kafka stores it: the timestamp-type bit set, maxTimestamp the broker's
    /// time, and the CRC (which covers both) computed again. Copies the batch (only such topics pay).
    static func stampLogAppendTime(_ batch: ByteBuffer, now: Int64) -> ByteBuffer {
        var b = ByteBuffer()
        b.reserveCapacity(batch.readableBytes)
        var source = batch
        b.writeBuffer(&source)
        let base = b.readerIndex
        guard b.readableBytes >= RecordBatchHeader.size, let attributes = b.getInteger(at: base + 22, as: UInt8.self)
        else { return batch }
        b.setInteger(attributes | 0x08, at: base + 22)
        b.setInteger(now, at: base + 35)
        let crc = b.withUnsafeReadableBytes {
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[RecordBatchHeader.crcStart...]))
        }
        b.setInteger(crc, at: base + 17)
        return b
    }

    // MARK: DeleteRecords

    private struct TimedOut: Error {}

    /// DeleteRecords in cluster mode: each partition's leader replicates the log-start move (see
    /// `ReplicationEngine.deleteRecords`) and answers with the new low watermark once it is committed.
    func handleClusterDeleteRecords(_ request: DeleteRecordsRequest, cluster: ClusterContext) async
        -> DeleteRecordsResponse
    {
        let metadata = cluster.controller.metadata
        var response = DeleteRecordsResponse()
        for t in request.topics {
            var topicResult = DeleteRecordsResponse.DeleteRecordsTopicResult(name: t.name)
            for p in t.partitions {
                var r = DeleteRecordsResponse.DeleteRecordsPartitionResult(
                    partitionIndex: p.partitionIndex, lowWatermark: -1)
                let group = GroupId(topic: t.name, partition: p.partitionIndex)
                guard let topic = metadata.topics[t.name], p.partitionIndex >= 0,
                    p.partitionIndex < topic.partitionCount
                else {
                    r.errorCode = KafkaErrorCode.unknownTopicOrPartition.rawValue
                    topicResult.partitions.append(r)
                    continue
                }
                let moved = cluster.engine.deleteRecords(group, before: p.offset)
                let timeout = moved.eventLoop.scheduleTask(in: .milliseconds(Int64(max(request.timeoutMs, 0)))) {}
                let timed = moved.eventLoop.makePromise(of: Int64.self)
                moved.cascade(to: timed)
                timeout.futureResult.whenSuccess { timed.fail(TimedOut()) }
                moved.whenComplete { _ in timeout.cancel() }
                do {
                    r.lowWatermark = try await timed.futureResult.get()
                } catch ReplicationError.rejected(let code, _) {
                    r.errorCode = code.rawValue
                } catch ReplicationError.storage {
                    r.errorCode = KafkaErrorCode.kafkaStorageError.rawValue
                } catch is TimedOut {
                    r.errorCode = KafkaErrorCode.requestTimedOut.rawValue
                } catch {
                    r.errorCode = KafkaErrorCode.notLeaderOrFollower.rawValue
                }
                topicResult.partitions.append(r)
            }
            response.topics.append(topicResult)
        }
        return response
    }

    // MARK: Topics

    func handleClusterCreateTopics(_ request: CreateTopicsRequest, version: Int16, cluster: ClusterContext) async
        -> CreateTopicsResponse
    {
        var response = CreateTopicsResponse()
        for t in request.topics {
            var result = CreateTopicsResponse.CreatableTopicResult(name: t.name)
            do {
                try topics.validateName(t.name)
                var configs: [String: String] = [:]
                for c in t.configs {
                    guard let value = c.value else {
                        throw TopicError(
                            code: .invalidConfig, message: "Null value not supported for topic configs: \(c.name)")
                    }
                    configs[c.name] = value
                }
                _ = try TopicConfigs.validate(configs)
                let metadata = cluster.controller.metadata
                var generator = SystemRandomNumberGenerator()
                let id = KafkaUUID.random(using: &generator)
                if t.assignments.isEmpty {
                    // Placed by the controller leader with its view of the live nodes (this node's may lag).
                    let placement = TopicPlacement(
                        name: t.name, id: id,
                        partitions: t.numPartitions == -1 ? config.defaultPartitions : t.numPartitions,
                        replicationFactor: t.replicationFactor,
                        defaultReplicationFactor: config.defaultReplicationFactor, configs: configs,
                        validateOnly: request.validateOnly)
                    let placed: String
                    do {
                        placed = try await cluster.controller.submit(.placeTopic(placement))
                    } catch {
                        throw TopicError(code: error.code, message: error.message)
                    }
                    let counts = placed.split(separator: ",").compactMap { Int32($0) }
                    result.topicId = request.validateOnly ? .zero : id
                    result.numPartitions = counts.first ?? placement.partitions
                    result.replicationFactor = Int16(counts.last ?? -1)
                    if version >= 5 { result.configs = Self.createdTopicConfigs(configs) }
                    response.topics.append(result)
                    continue
                }
                let replicas: [[Int32]]
                do {
                    guard t.numPartitions == -1 && t.replicationFactor == -1 else {
                        throw TopicError(
                            code: .invalidRequest,
                            message: "Both numPartitions or replicationFactor and replicasAssignments were set.")
                    }
                    let sorted = t.assignments.sorted { $0.partitionIndex < $1.partitionIndex }
                    guard sorted.map(\.partitionIndex) == Array(0..<Int32(sorted.count)) else {
                        throw TopicError(
                            code: .invalidReplicaAssignment, message: "Partitions must be numbered 0 to n-1.")
                    }
                    replicas = sorted.map { $0.brokerIds.map(\.rawValue) }
                }
                let topic = TopicMetadata(name: t.name, id: id, replicas: replicas, configs: configs)
                if let refusal = metadata.check(.createTopic(topic)) {
                    throw TopicError(code: refusal.code, message: refusal.message)
                }
                if !request.validateOnly {
                    do {
                        try await cluster.controller.submit(.createTopic(topic))
                    } catch {
                        throw TopicError(code: error.code, message: error.message)
                    }
                }
                result.topicId = request.validateOnly ? .zero : topic.id
                result.numPartitions = Int32(replicas.count)
                result.replicationFactor = Int16(replicas.first?.count ?? 0)
                if version >= 5 { result.configs = Self.createdTopicConfigs(configs) }
            } catch {
                Self.fail(&result, error)
            }
            response.topics.append(result)
        }
        return response
    }

    func handleClusterDeleteTopics(_ request: DeleteTopicsRequest, version: Int16, cluster: ClusterContext) async
        -> DeleteTopicsResponse
    {
        var response = DeleteTopicsResponse()
        var targets: [(name: String?, id: KafkaUUID)] = request.topicNames.map { ($0, .zero) }
        targets += request.topics.map { ($0.name, $0.topicId) }
        for target in targets {
            var result = DeleteTopicsResponse.DeletableTopicResult(name: target.name, topicId: target.id)
            let metadata = cluster.controller.metadata
            let topic =
                target.name.flatMap { metadata.topics[$0] } ?? metadata.topics.values.first { $0.id == target.id }
            if let topic {
                result.name = topic.name
                result.topicId = topic.id
                do {
                    try await cluster.controller.submit(.deleteTopic(name: topic.name))
                } catch {
                    result.errorCode = error.code.rawValue
                    result.errorMessage = error.message
                }
            } else if target.name == nil {
                result.errorCode = KafkaErrorCode.unknownTopicId.rawValue
                result.errorMessage = "This server does not host this topic ID."
            } else {
                result.errorCode = KafkaErrorCode.unknownTopicOrPartition.rawValue
                result.errorMessage = "This server does not host this topic-partition."
            }
            response.responses.append(result)
        }
        return response
    }
}

extension Broker {
    /// Changes a topic's configs: through the registry on a single node, through the controller in a cluster.
    /// `change` maps the current configs to the new ones (throwing Kafka's refusal); the result is validated.
    func updateTopicConfigs(
        name: String, validateOnly: Bool, _ change: ([String: String]) throws -> [String: String]
    ) async throws {
        guard let cluster else {
            try topics.updateConfigs(name: name, validateOnly: validateOnly, change)
            return
        }
        guard let topic = cluster.controller.metadata.topics[name] else {
            throw TopicError(code: .unknownTopicOrPartition, message: "The topic '\(name)' does not exist.")
        }
        let configs = try change(topic.configs)
        _ = try TopicConfigs.validate(configs)
        if validateOnly { return }
        do {
            try await cluster.controller.submit(.setTopicConfigs(topic: name, configs: configs))
        } catch {
            throw TopicError(code: error.code, message: error.message)
        }
    }

    /// CreatePartitions in a cluster: new partitions get replica sets of the topic's replication factor, placed
    /// like new topics, or as the request assigns them.
    func addClusterPartitions(
        _ t: CreatePartitionsRequest.CreatePartitionsTopic, validateOnly: Bool, cluster: ClusterContext
    ) async throws {
        let metadata = cluster.controller.metadata
        if t.assignments == nil {
            // Placed by the controller leader with its view of the live nodes.
            do {
                try await cluster.controller.submit(
                    .placePartitions(topic: t.name, count: t.count, validateOnly: validateOnly))
            } catch {
                throw TopicError(code: error.code, message: error.message)
            }
            return
        }
        guard let topic = metadata.topics[t.name] else {
            throw TopicError(code: .unknownTopicOrPartition, message: "The topic '\(t.name)' does not exist.")
        }
        let current = topic.partitionCount
        guard t.count > current else {
            throw TopicError(
                code: .invalidPartitions,
                message: t.count == current
                    ? "Topic already has \(current) partitions."
                    : "Topic currently has \(current) partitions, which is higher than the requested \(t.count).")
        }
        guard t.count <= 100_000 else {
            throw TopicError(code: .invalidPartitions, message: "Number of partitions \(t.count) is too large.")
        }
        let added: [[Int32]]
        if let assignments = t.assignments {
            guard assignments.count == Int(t.count - current) else {
                throw TopicError(
                    code: .invalidReplicaAssignment,
                    message:
                        "Increasing the number of partitions by \(t.count - current) but \(assignments.count) assignments provided."
                )
            }
            added = assignments.map { $0.brokerIds.map(\.rawValue) }
        } else {
            do {
                added = try ReplicaPlacement.assign(
                    partitions: Int(t.count - current), replicationFactor: topic.replicas.first?.count ?? 1,
                    nodes: metadata.liveNodes, load: metadata.replicaLoad)
            } catch {
                throw TopicError(code: error.code, message: error.message)
            }
        }
        if let refusal = metadata.check(.createPartitions(topic: t.name, replicas: added)) {
            throw TopicError(code: refusal.code, message: refusal.message)
        }
        if validateOnly { return }
        do {
            try await cluster.controller.submit(.createPartitions(topic: t.name, replicas: added))
        } catch {
            throw TopicError(code: error.code, message: error.message)
        }
    }

    /// OffsetForLeaderEpoch at a partition's leader (KIP-101/320): for a requested epoch, the largest epoch at or
    /// below it and the offset where the next epoch starts (the log end for the current epoch). Epochs only grow
    /// along the log, so the start of the next epoch is found by a binary search over the batches.
    static func clusterEpochEndOffset(
        log: PartitionLog, currentEpoch: Int32, requested: Int32
    ) throws -> (epoch: Int32, endOffset: Int64) {
        let logEnd = log.logEndOffset
        if requested == currentEpoch { return (currentEpoch, logEnd) }
        if requested > currentEpoch || requested < 0 { return (-1, -1) }
        var lo = log.logStartOffset
        var hi = logEnd
        var below: Int32 = -1
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            guard let batch = try ReplicaStore.batches(of: log, from: mid, through: mid).first else { break }
            if batch.partitionLeaderEpoch > requested {
                hi = batch.baseOffset
            } else {
                below = max(below, batch.partitionLeaderEpoch)
                lo = batch.lastOffset + 1
            }
        }
        if below < 0 {
            // Nothing at or below the requested epoch is in the log: Kafka answers the requested epoch with the
            // start of the first later one.
            return (requested, lo)
        }
        if lo > log.logStartOffset, let last = try ReplicaStore.batches(of: log, from: lo - 1, through: lo - 1).first {
            below = last.partitionLeaderEpoch
        }
        return (below, lo)
    }
}
