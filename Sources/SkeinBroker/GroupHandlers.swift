import KafkaWire
import Logging
import NIOCore
import SkeinGroups
import SkeinModel
import SkeinReplication
import SkeinStorage
import SkeinTransport

/// The group APIs: FindCoordinator, the classic protocol, offsets, group administration and KIP-848's
/// ConsumerGroupHeartbeat. Each request is translated to `SkeinGroups` terms, sent to the coordinator of the
/// `__consumer_offsets` partition its group hashes to (`GroupService`), and the answer translated back.
/// The wire types and the coordinator's share names, so both are always written with their module.
extension Broker {
    /// DescribeGroups' authorized operations of a group when asked for: READ, DELETE, DESCRIBE.
    static let allGroupOperations: Int32 = (1 << 3) | (1 << 6) | (1 << 8)

    func dispatchGroupRequest(
        _ body: any KafkaRequest, version: Int16, header: RequestHeader, connection: KafkaConnectionInfo,
        eventLoop: any EventLoop
    ) -> EventLoopFuture<HandlerResult>? {
        let clientId = header.clientId ?? ""
        let clientHost = "/" + (connection.remoteAddress?.ipAddress ?? "127.0.0.1")
        let future: EventLoopFuture<any KafkaResponse>
        switch body {
        case let r as KafkaWire.FindCoordinatorRequest:
            future = eventLoop.makeFutureWithTask {
                await self.handleFindCoordinator(r, version: version, listenerName: connection.listenerName)
            }
        case let r as KafkaWire.JoinGroupRequest:
            future = joinGroup(r, version: version, clientId: clientId, clientHost: clientHost).map { $0 }
        case let r as KafkaWire.SyncGroupRequest:
            future = syncGroup(r).map { $0 }
        case let r as KafkaWire.HeartbeatRequest:
            future = heartbeat(r).map { $0 }
        case let r as KafkaWire.LeaveGroupRequest:
            future = leaveGroup(r, version: version).map { $0 }
        case let r as KafkaWire.OffsetCommitRequest:
            future = offsetCommit(r, version: version).map { $0 }
        case let r as KafkaWire.OffsetFetchRequest:
            future = offsetFetch(r, version: version).map { $0 }
        case let r as KafkaWire.OffsetDeleteRequest:
            future = offsetDelete(r).map { $0 }
        case let r as KafkaWire.DescribeGroupsRequest:
            future = describeGroups(r).map { $0 }
        case let r as KafkaWire.ListGroupsRequest:
            future = listGroups(r).map { $0 }
        case let r as KafkaWire.DeleteGroupsRequest:
            future = deleteGroups(r).map { $0 }
        case let r as KafkaWire.ConsumerGroupHeartbeatRequest:
            future = consumerGroupHeartbeat(r, clientId: clientId, clientHost: clientHost).map { $0 }
        case let r as KafkaWire.ConsumerGroupDescribeRequest:
            future = consumerGroupDescribe(r).map { $0 }
        default:
            return nil
        }
        return future.hop(to: eventLoop).map { .response($0) }
    }

    // MARK: coordinator lookup

    /// The number of `__consumer_offsets` partitions, creating the topic on first use as Kafka does (nil
    /// while it is being created: the caller answers COORDINATOR_NOT_AVAILABLE and the client retries).
    func offsetsTopicPartitions() async -> Int32? {
        if let count = groups.partitionCount { return count }
        await Self.createInternalTopic(
            consumerOffsetsTopic, partitions: config.offsetsTopicPartitions,
            replicationFactor: config.offsetsTopicReplicationFactor, topics: topics, cluster: cluster, logger: logger)
        return cluster == nil ? groups.partitionCount : nil
    }

    /// Creates an internal, compacted topic: in the local registry, or through the controller with the replication
    /// factor capped by the live node count (its creation is then applied asynchronously).
    static func createInternalTopic(
        _ name: String, partitions: Int32, replicationFactor: Int16, topics: TopicRegistry, cluster: ClusterContext?,
        logger: Logger
    ) async {
        let configs = ["cleanup.policy": "compact", "segment.bytes": "104857600"]
        guard let cluster else {
            _ = try? topics.create(name: name, partitions: partitions, configs: configs, validateOnly: false)
            return
        }
        // Placed by the controller leader, with the replication factor capped by the live nodes it knows.
        var generator = SystemRandomNumberGenerator()
        let placement = TopicPlacement(
            name: name, id: KafkaUUID.random(using: &generator), partitions: partitions,
            replicationFactor: replicationFactor, defaultReplicationFactor: nil, configs: configs, validateOnly: false,
            capToLiveNodes: true)
        do {
            try await cluster.controller.submit(.placeTopic(placement))
        } catch {
            logger.info("creating \(name) failed", metadata: ["error": "\(error)"])
        }
    }

    func handleFindCoordinator(_ request: KafkaWire.FindCoordinatorRequest, version: Int16, listenerName: String)
        async -> KafkaWire.FindCoordinatorResponse
    {
        let keys = version >= 4 ? request.coordinatorKeys : [request.key]
        var found: [KafkaWire.FindCoordinatorResponse.Coordinator] = []
        for key in keys {
            var c = KafkaWire.FindCoordinatorResponse.Coordinator(key: key, nodeId: .none, host: "", port: -1)
            func fail(_ code: KafkaErrorCode, _ message: String) {
                c.errorCode = code.rawValue
                c.errorMessage = message
            }
            // Groups live on `__consumer_offsets`, transactional ids on `__transaction_state`, each on the partition
            // its id hashes to; the topic is created on first use.
            let what: (topic: String, name: String, count: () async -> Int32?)?
            switch request.keyType {
            case 0: what = (consumerOffsetsTopic, "group id", offsetsTopicPartitions)
            case 1: what = (transactionStateTopic, "transactional id", transactionStateTopicPartitions)
            default: what = nil
            }
            switch what {
            case let (topic, name, count)?:
                if key.isEmpty {
                    fail(.invalidRequest, "The \(name) must not be empty.")
                } else if let (node, address) = await coordinator(
                    for: key, topic: topic, count: count, listenerName: listenerName)
                {
                    c.nodeId = node
                    c.host = address.host
                    c.port = address.port
                } else {
                    fail(.coordinatorNotAvailable, "The coordinator is not available.")
                }
            case nil:
                fail(.invalidRequest, "Unknown coordinator key type \(request.keyType).")
            }
            found.append(c)
        }
        var response = KafkaWire.FindCoordinatorResponse()
        if version >= 4 {
            response.coordinators = found
        } else if let c = found.first {
            response.errorCode = c.errorCode
            response.errorMessage = c.errorMessage
            response.nodeId = c.nodeId
            response.host = c.host
            response.port = c.port
        }
        return response
    }

    /// The coordinator of `key`: the leader of the partition it hashes to. While the topic is being created or the
    /// partition has no leader yet (an election takes up to a second), the answer waits for one, up to 3 s, rather
    /// than answering COORDINATOR_NOT_AVAILABLE at once: librdkafka's admin client retries FindCoordinator only
    /// twice, 100 ms apart, and then waits out its whole timeout.
    func coordinator(
        for key: String, topic: String, count: () async -> Int32?, listenerName: String
    ) async -> (BrokerId, AdvertisedAddress)? {
        let deadline = ContinuousClock.now + .seconds(3)
        while true {
            if let count = await count(),
                let found = coordinatorNode(
                    partition: offsetsTopicPartition(for: key, partitionCount: count), topic: topic,
                    listenerName: listenerName)
            {
                return found
            }
            guard cluster != nil, ContinuousClock.now < deadline else { return nil }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    /// The node leading partition `p` of a coordinator topic, with its address on `listenerName`.
    func coordinatorNode(partition p: Int32, topic: String = consumerOffsetsTopic, listenerName: String)
        -> (BrokerId, AdvertisedAddress)?
    {
        guard let cluster else { return (config.nodeId, config.advertisedAddress(listenerName: listenerName)) }
        guard let (leader, _, _) = leaderOf(GroupId(topic: topic, partition: p)),
            let endpoint = cluster.controller.metadata.nodes[leader.rawValue]?.endpoint(for: listenerName)
        else { return nil }
        return (leader, AdvertisedAddress(host: endpoint.host, port: endpoint.port))
    }

    /// Sends a request to its group's coordinator (`transactional`: a TxnOffsetCommit's producer id and epoch).
    func submitGroup(_ groupId: String, _ request: GroupRequest, transactional: (id: Int64, epoch: Int16)? = nil)
        -> EventLoopFuture<GroupOutcome>
    {
        guard let count = groups.partitionCount else {
            return groups.loop.makeSucceededFuture(.error(.coordinatorNotAvailable))
        }
        return groups.submit(
            request, partition: offsetsTopicPartition(for: groupId, partitionCount: count), transactional: transactional)
    }

    // MARK: classic protocol

    func joinGroup(_ r: KafkaWire.JoinGroupRequest, version: Int16, clientId: String, clientHost: String)
        -> EventLoopFuture<KafkaWire.JoinGroupResponse>
    {
        let request = SkeinGroups.JoinGroupRequest(
            groupId: r.groupId, sessionTimeoutMs: r.sessionTimeoutMs,
            rebalanceTimeoutMs: version >= 1 ? r.rebalanceTimeoutMs : -1, memberId: r.memberId,
            groupInstanceId: r.groupInstanceId, protocolType: r.protocolType,
            protocols: r.protocols.map { JoinGroupProtocol(name: $0.name, metadata: Array(buffer: $0.metadata)) },
            reason: r.reason, clientId: clientId, clientHost: clientHost, apiVersion: version)
        return submitGroup(r.groupId, .joinGroup(request)).map { outcome in
            var response = KafkaWire.JoinGroupResponse(generationId: -1, memberId: r.memberId)
            switch outcome {
            case .error(let code):
                response.errorCode = code.rawValue
            case .response(.joinGroup(let j)):
                response.errorCode = j.errorCode.rawValue
                response.generationId = j.generationId
                response.protocolType = j.protocolType
                response.protocolName = j.protocolName
                response.leader = j.leader
                response.skipAssignment = j.skipAssignment
                response.memberId = j.memberId
                response.members = j.members.map {
                    .init(memberId: $0.memberId, groupInstanceId: $0.groupInstanceId, metadata: ByteBuffer(bytes: $0.metadata))
                }
                // Before v7 the protocol name is not nullable.
                if version < 7 && response.protocolName == nil { response.protocolName = "" }
            case .response:
                response.errorCode = KafkaErrorCode.unknownServerError.rawValue
            }
            return response
        }
    }

    func syncGroup(_ r: KafkaWire.SyncGroupRequest) -> EventLoopFuture<KafkaWire.SyncGroupResponse> {
        let request = SkeinGroups.SyncGroupRequest(
            groupId: r.groupId, generationId: r.generationId, memberId: r.memberId, groupInstanceId: r.groupInstanceId,
            protocolType: r.protocolType, protocolName: r.protocolName,
            assignments: r.assignments.map { SyncGroupAssignment(memberId: $0.memberId, assignment: Array(buffer: $0.assignment)) })
        return submitGroup(r.groupId, .syncGroup(request)).map { outcome in
            var response = KafkaWire.SyncGroupResponse()
            switch outcome {
            case .error(let code): response.errorCode = code.rawValue
            case .response(.syncGroup(let s)):
                response.errorCode = s.errorCode.rawValue
                response.protocolType = s.protocolType
                response.protocolName = s.protocolName
                response.assignment = ByteBuffer(bytes: s.assignment)
            case .response: response.errorCode = KafkaErrorCode.unknownServerError.rawValue
            }
            return response
        }
    }

    func heartbeat(_ r: KafkaWire.HeartbeatRequest) -> EventLoopFuture<KafkaWire.HeartbeatResponse> {
        let request = SkeinGroups.HeartbeatRequest(
            groupId: r.groupId, generationId: r.generationId, memberId: r.memberId, groupInstanceId: r.groupInstanceId)
        return submitGroup(r.groupId, .heartbeat(request)).map { outcome in
            switch outcome {
            case .error(let code): return KafkaWire.HeartbeatResponse(errorCode: code.rawValue)
            case .response(.heartbeat(let h)): return KafkaWire.HeartbeatResponse(errorCode: h.errorCode.rawValue)
            case .response: return KafkaWire.HeartbeatResponse(errorCode: KafkaErrorCode.unknownServerError.rawValue)
            }
        }
    }

    func leaveGroup(_ r: KafkaWire.LeaveGroupRequest, version: Int16) -> EventLoopFuture<KafkaWire.LeaveGroupResponse> {
        let members =
            version >= 3
            ? r.members.map { LeaveGroupMember(memberId: $0.memberId, groupInstanceId: $0.groupInstanceId, reason: $0.reason) }
            : [LeaveGroupMember(memberId: r.memberId)]
        let request = SkeinGroups.LeaveGroupRequest(groupId: r.groupId, members: members)
        return submitGroup(r.groupId, .leaveGroup(request)).map { outcome in
            var response = KafkaWire.LeaveGroupResponse()
            switch outcome {
            case .error(let code): response.errorCode = code.rawValue
            case .response(.leaveGroup(let l)):
                response.errorCode = l.errorCode.rawValue
                if version >= 3 {
                    response.members = l.members.map {
                        .init(memberId: $0.memberId, groupInstanceId: $0.groupInstanceId, errorCode: $0.errorCode.rawValue)
                    }
                } else if l.errorCode == .none, let only = l.members.first {
                    // v0-2 carry one member: its error is the request's.
                    response.errorCode = only.errorCode.rawValue
                }
            case .response: response.errorCode = KafkaErrorCode.unknownServerError.rawValue
            }
            return response
        }
    }

    // MARK: offsets

    func offsetCommit(_ r: KafkaWire.OffsetCommitRequest, version: Int16)
        -> EventLoopFuture<KafkaWire.OffsetCommitResponse>
    {
        var partitions: [OffsetCommitPartition] = []
        // Kafka answers UNKNOWN_TOPIC_OR_PARTITION for a partition that does not exist, without asking the
        // coordinator; the others are committed.
        var unknown = Set<TopicPartition>()
        for topic in r.topics {
            for p in topic.partitions {
                guard partitionExists(topic.name, p.partitionIndex) else {
                    unknown.insert(TopicPartition(topic.name, p.partitionIndex))
                    continue
                }
                partitions.append(
                    OffsetCommitPartition(
                        TopicPartition(topic.name, p.partitionIndex), offset: p.committedOffset,
                        leaderEpoch: version >= 6 ? p.committedLeaderEpoch : -1, metadata: p.committedMetadata,
                        commitTimestamp: version == 1 ? p.commitTimestamp : -1))
            }
        }
        let request = SkeinGroups.OffsetCommitRequest(
            groupId: r.groupId, generationIdOrMemberEpoch: version >= 1 ? r.generationIdOrMemberEpoch : -1,
            memberId: version >= 1 ? r.memberId : "", groupInstanceId: r.groupInstanceId,
            retentionTimeMs: (2...4).contains(version) ? r.retentionTimeMs : -1, partitions: partitions,
            apiVersion: version)
        let committed = partitions
        let known = unknown
        @Sendable func respond(_ error: @escaping @Sendable (String, Int32) -> Int16) -> KafkaWire.OffsetCommitResponse {
            var response = KafkaWire.OffsetCommitResponse()
            response.topics = r.topics.map { topic in
                .init(
                    name: topic.name,
                    partitions: topic.partitions.map {
                        .init(
                            partitionIndex: $0.partitionIndex,
                            errorCode: known.contains(TopicPartition(topic.name, $0.partitionIndex))
                                ? KafkaErrorCode.unknownTopicOrPartition.rawValue
                                : error(topic.name, $0.partitionIndex))
                    })
            }
            return response
        }
        if committed.isEmpty && !unknown.isEmpty {
            return groups.loop.makeSucceededFuture(respond { _, _ in 0 })
        }
        return submitGroup(r.groupId, .offsetCommit(request)).map { outcome in
            respond(Self.commitErrors(outcome, committed))
        }
    }

    /// Whether a topic partition exists (in the cluster metadata, or this node's topics).
    func partitionExists(_ topic: String, _ partition: Int32) -> Bool {
        guard partition >= 0 else { return false }
        if let cluster {
            return cluster.controller.metadata.topics[topic].map { partition < $0.partitionCount } ?? false
        }
        return topics.topic(named: topic).map { partition < Int32($0.partitions.count) } ?? false
    }

    /// The error code of each partition of an OffsetCommit or TxnOffsetCommit: the coordinator's, or the error that
    /// stands for the whole request.
    static func commitErrors(_ outcome: GroupOutcome, _ partitions: [OffsetCommitPartition])
        -> @Sendable (String, Int32) -> Int16
    {
        var errors: [TopicPartition: Int16] = [:]
        switch outcome {
        case .error(let code):
            for p in partitions { errors[p.topicPartition] = code.rawValue }
        case .response(.offsetCommit(let c)), .response(.txnOffsetCommit(let c)):
            for p in c.partitions { errors[p.topicPartition] = p.errorCode.rawValue }
        case .response:
            for p in partitions { errors[p.topicPartition] = KafkaErrorCode.unknownServerError.rawValue }
        }
        let found = errors
        return { found[TopicPartition($0, $1)] ?? KafkaErrorCode.unknownServerError.rawValue }
    }

    func offsetFetch(_ r: KafkaWire.OffsetFetchRequest, version: Int16)
        -> EventLoopFuture<KafkaWire.OffsetFetchResponse>
    {
        func partitions(_ topics: [(String, [Int32])]?) -> [TopicPartition]? {
            topics.map { $0.flatMap { name, indexes in indexes.map { TopicPartition(name, $0) } } }
        }
        if version >= 8 {
            let futures = r.groups.map { g in
                let request = SkeinGroups.OffsetFetchRequest(
                    groupId: g.groupId, partitions: partitions(g.topics?.map { ($0.name, $0.partitionIndexes) }),
                    requireStable: r.requireStable, memberId: version >= 9 ? g.memberId : nil,
                    memberEpoch: version >= 9 ? g.memberEpoch : -1)
                return submitGroup(g.groupId, .offsetFetch(request)).map { outcome in
                    let (code, fetched) = Self.offsetFetchResult(outcome, requested: request.partitions)
                    return KafkaWire.OffsetFetchResponse.OffsetFetchResponseGroup(
                        groupId: g.groupId,
                        topics: Self.groupByTopic(fetched).map { name, ps in
                            .init(
                                name: name,
                                partitions: ps.map {
                                    .init(
                                        partitionIndex: $0.topicPartition.partition, committedOffset: $0.committedOffset,
                                        committedLeaderEpoch: $0.committedLeaderEpoch, metadata: $0.metadata,
                                        errorCode: $0.errorCode.rawValue)
                                })
                        }, errorCode: code.rawValue)
                }
            }
            return EventLoopFuture.whenAllSucceed(futures, on: groups.loop).map {
                KafkaWire.OffsetFetchResponse(groups: $0)
            }
        }
        let request = SkeinGroups.OffsetFetchRequest(
            groupId: r.groupId, partitions: partitions(r.topics?.map { ($0.name, $0.partitionIndexes) }),
            requireStable: version >= 7 && r.requireStable)
        return submitGroup(r.groupId, .offsetFetch(request)).map { outcome in
            var (code, fetched) = Self.offsetFetchResult(outcome, requested: request.partitions)
            if version < 2 && code != .none {
                // v0-1 have no top-level error: every partition carries it.
                fetched = fetched.map { var p = $0; p.errorCode = code; return p }
                code = .none
            }
            var response = KafkaWire.OffsetFetchResponse()
            response.errorCode = code.rawValue
            response.topics = Self.groupByTopic(fetched).map { name, ps in
                .init(
                    name: name,
                    partitions: ps.map {
                        .init(
                            partitionIndex: $0.topicPartition.partition, committedOffset: $0.committedOffset,
                            committedLeaderEpoch: $0.committedLeaderEpoch, metadata: $0.metadata,
                            errorCode: $0.errorCode.rawValue)
                    })
            }
            return response
        }
    }

    /// A group's error and partitions from an OffsetFetch outcome; an error for the whole group still lists
    /// the requested partitions (offset -1), as Kafka does.
    static func offsetFetchResult(_ outcome: GroupOutcome, requested: [TopicPartition]?)
        -> (GroupErrorCode, [SkeinGroups.OffsetFetchResponse.Partition])
    {
        func none(_ code: GroupErrorCode) -> [SkeinGroups.OffsetFetchResponse.Partition] {
            (requested ?? []).map {
                .init(topicPartition: $0, committedOffset: -1, committedLeaderEpoch: -1, metadata: "", errorCode: .none)
            }
        }
        switch outcome {
        case .error(let code): return (code, none(code))
        case .response(.offsetFetch(let f)): return (f.errorCode, f.partitions)
        case .response: return (.unknownServerError, none(.unknownServerError))
        }
    }

    /// Partitions grouped by topic, topics in first-seen order.
    static func groupByTopic<P>(_ partitions: [P]) -> [(String, [P])] where P: HasTopicPartition {
        var order: [String] = []
        var byTopic: [String: [P]] = [:]
        for p in partitions {
            if byTopic[p.topicPartition.topic] == nil { order.append(p.topicPartition.topic) }
            byTopic[p.topicPartition.topic, default: []].append(p)
        }
        return order.map { ($0, byTopic[$0] ?? []) }
    }

    func offsetDelete(_ r: KafkaWire.OffsetDeleteRequest) -> EventLoopFuture<KafkaWire.OffsetDeleteResponse> {
        let partitions = r.topics.flatMap { t in t.partitions.map { TopicPartition(t.name, $0.partitionIndex) } }
        let request = SkeinGroups.OffsetDeleteRequest(groupId: r.groupId, partitions: partitions)
        return submitGroup(r.groupId, .offsetDelete(request)).map { outcome in
            var response = KafkaWire.OffsetDeleteResponse()
            var errors: [TopicPartition: Int16] = [:]
            switch outcome {
            case .error(let code): response.errorCode = code.rawValue
            case .response(.offsetDelete(let d)):
                response.errorCode = d.errorCode.rawValue
                for p in d.partitions { errors[p.topicPartition] = p.errorCode.rawValue }
            case .response: response.errorCode = KafkaErrorCode.unknownServerError.rawValue
            }
            if response.errorCode == 0 {
                response.topics = r.topics.map { t in
                    .init(
                        name: t.name,
                        partitions: t.partitions.map {
                            .init(
                                partitionIndex: $0.partitionIndex,
                                errorCode: errors[TopicPartition(t.name, $0.partitionIndex)] ?? 0)
                        })
                }
            }
            return response
        }
    }

    // MARK: administration

    func describeGroups(_ r: KafkaWire.DescribeGroupsRequest) -> EventLoopFuture<KafkaWire.DescribeGroupsResponse> {
        let futures = r.groups.map { groupId in
            submitGroup(groupId, .describeGroups(SkeinGroups.DescribeGroupsRequest(groupIds: [groupId]))).map {
                outcome -> KafkaWire.DescribeGroupsResponse.DescribedGroup in
                var described = KafkaWire.DescribeGroupsResponse.DescribedGroup(groupId: groupId)
                switch outcome {
                case .error(let code): described.errorCode = code.rawValue
                case .response(.describeGroups(let d)):
                    guard let g = d.groups.first else { break }
                    described.errorCode = g.errorCode.rawValue
                    described.groupState = g.groupState
                    described.protocolType = g.protocolType
                    described.protocolData = g.protocolData
                    described.members = g.members.map {
                        .init(
                            memberId: $0.memberId, groupInstanceId: $0.groupInstanceId, clientId: $0.clientId,
                            clientHost: $0.clientHost, memberMetadata: ByteBuffer(bytes: $0.memberMetadata),
                            memberAssignment: ByteBuffer(bytes: $0.memberAssignment))
                    }
                case .response: described.errorCode = KafkaErrorCode.unknownServerError.rawValue
                }
                described.authorizedOperations = r.includeAuthorizedOperations ? Self.allGroupOperations : Int32.min
                return described
            }
        }
        return EventLoopFuture.whenAllSucceed(futures, on: groups.loop).map {
            KafkaWire.DescribeGroupsResponse(groups: $0)
        }
    }

    func listGroups(_ r: KafkaWire.ListGroupsRequest) -> EventLoopFuture<KafkaWire.ListGroupsResponse> {
        let request = SkeinGroups.ListGroupsRequest(statesFilter: r.statesFilter, typesFilter: r.typesFilter)
        return groups.submitToAll(.listGroups(request)).map { outcomes in
            var response = KafkaWire.ListGroupsResponse()
            for outcome in outcomes {
                switch outcome {
                case .error(let code): response.errorCode = code.rawValue
                case .response(.listGroups(let l)):
                    if l.errorCode != .none { response.errorCode = l.errorCode.rawValue }
                    response.groups += l.groups.map {
                        .init(groupId: $0.groupId, protocolType: $0.protocolType, groupState: $0.groupState, groupType: $0.groupType)
                    }
                case .response: response.errorCode = KafkaErrorCode.unknownServerError.rawValue
                }
            }
            response.groups.sort { $0.groupId < $1.groupId }
            return response
        }
    }

    func deleteGroups(_ r: KafkaWire.DeleteGroupsRequest) -> EventLoopFuture<KafkaWire.DeleteGroupsResponse> {
        let futures = r.groupsNames.map { groupId in
            submitGroup(groupId, .deleteGroups(SkeinGroups.DeleteGroupsRequest(groupIds: [groupId]))).map {
                outcome -> KafkaWire.DeleteGroupsResponse.DeletableGroupResult in
                switch outcome {
                case .error(let code): return .init(groupId: groupId, errorCode: code.rawValue)
                case .response(.deleteGroups(let d)):
                    return .init(groupId: groupId, errorCode: d.results.first?.errorCode.rawValue ?? 0)
                case .response: return .init(groupId: groupId, errorCode: KafkaErrorCode.unknownServerError.rawValue)
                }
            }
        }
        return EventLoopFuture.whenAllSucceed(futures, on: groups.loop).map {
            KafkaWire.DeleteGroupsResponse(results: $0)
        }
    }

    // MARK: KIP-848

    /// Topic ids and names as the metadata knows them.
    func topicIdsAndNames() -> (byId: [KafkaUUID: String], byName: [String: KafkaUUID]) {
        var byId: [KafkaUUID: String] = [:]
        var byName: [String: KafkaUUID] = [:]
        if let cluster {
            for (name, topic) in cluster.controller.metadata.topics {
                byId[topic.id] = name
                byName[name] = topic.id
            }
        } else {
            for topic in topics.all {
                byId[topic.id] = topic.name
                byName[topic.name] = topic.id
            }
        }
        return (byId, byName)
    }

    func consumerGroupHeartbeat(_ r: KafkaWire.ConsumerGroupHeartbeatRequest, clientId: String, clientHost: String)
        -> EventLoopFuture<KafkaWire.ConsumerGroupHeartbeatResponse>
    {
        let (byId, byName) = topicIdsAndNames()
        let owned = r.topicPartitions.map { tps in
            tps.compactMap { tp in byId[tp.topicId].map { SkeinGroups.TopicPartitions(topic: $0, partitions: tp.partitions) } }
        }
        let request = SkeinGroups.ConsumerGroupHeartbeatRequest(
            groupId: r.groupId, memberId: r.memberId, memberEpoch: r.memberEpoch, instanceId: r.instanceId,
            rackId: r.rackId, rebalanceTimeoutMs: r.rebalanceTimeoutMs, subscribedTopicNames: r.subscribedTopicNames,
            subscribedTopicRegex: r.subscribedTopicRegex, serverAssignor: r.serverAssignor, ownedPartitions: owned, clientId: clientId, clientHost: clientHost)
        return submitGroup(r.groupId, .consumerGroupHeartbeat(request)).map { outcome in
            var response = KafkaWire.ConsumerGroupHeartbeatResponse(memberEpoch: -1)
            switch outcome {
            case .error(let code): response.errorCode = code.rawValue
            case .response(.consumerGroupHeartbeat(let h)):
                response.errorCode = h.errorCode.rawValue
                response.errorMessage = h.errorMessage
                response.memberId = h.memberId
                response.memberEpoch = h.memberEpoch
                response.heartbeatIntervalMs = h.heartbeatIntervalMs
                response.assignment = h.assignment.map { tps in
                    .init(
                        topicPartitions: tps.compactMap { tp in
                            byName[tp.topic].map { .init(topicId: $0, partitions: tp.partitions) }
                        })
                }
            case .response: response.errorCode = KafkaErrorCode.unknownServerError.rawValue
            }
            return response
        }
    }
}

extension Broker {
    /// ConsumerGroupDescribe: each group id goes to its coordinator, as DescribeGroups does; topic names in the
    /// coordinator's answer are mapped to the ids the metadata knows (a topic it no longer knows is left out, as
    /// Kafka's `topicPartitionsFromMap` skips ids missing from its metadata image).
    func consumerGroupDescribe(_ r: KafkaWire.ConsumerGroupDescribeRequest)
        -> EventLoopFuture<KafkaWire.ConsumerGroupDescribeResponse>
    {
        let futures = r.groupIds.map { groupId in
            submitGroup(groupId, .consumerGroupDescribe(SkeinGroups.ConsumerGroupDescribeRequest(groupIds: [groupId])))
                .map { outcome -> KafkaWire.ConsumerGroupDescribeResponse.DescribedGroup in
                    var described = KafkaWire.ConsumerGroupDescribeResponse.DescribedGroup(groupId: groupId)
                    switch outcome {
                    case .error(let code): described.errorCode = code.rawValue
                    case .response(.consumerGroupDescribe(let d)):
                        guard let g = d.groups.first else { break }
                        let (_, byName) = self.topicIdsAndNames()
                        func assignment(_ tps: [SkeinGroups.TopicPartitions])
                            -> KafkaWire.ConsumerGroupDescribeResponse.Assignment
                        {
                            .init(
                                topicPartitions: tps.compactMap { tp in
                                    byName[tp.topic].map {
                                        .init(topicId: $0, topicName: tp.topic, partitions: tp.partitions)
                                    }
                                })
                        }
                        described.errorCode = g.errorCode.rawValue
                        described.errorMessage = g.errorMessage
                        described.groupState = g.groupState
                        described.groupEpoch = g.groupEpoch
                        described.assignmentEpoch = g.assignmentEpoch
                        described.assignorName = g.assignorName
                        described.members = g.members.map {
                            .init(
                                memberId: $0.memberId, instanceId: $0.instanceId, rackId: $0.rackId,
                                memberEpoch: $0.memberEpoch, clientId: $0.clientId, clientHost: $0.clientHost,
                                subscribedTopicNames: $0.subscribedTopicNames,
                                subscribedTopicRegex: $0.subscribedTopicRegex, assignment: assignment($0.assignment),
                                targetAssignment: assignment($0.targetAssignment))
                        }
                    case .response: described.errorCode = KafkaErrorCode.unknownServerError.rawValue
                    }
                    if r.includeAuthorizedOperations && described.errorCode == 0 {
                        described.authorizedOperations = Self.allGroupOperations
                    }
                    return described
                }
        }
        return EventLoopFuture.whenAllSucceed(futures, on: groups.loop).map {
            KafkaWire.ConsumerGroupDescribeResponse(groups: $0)
        }
    }
}

/// Something that belongs to a topic partition (for grouping response entries by topic).
protocol HasTopicPartition { var topicPartition: TopicPartition { get } }
extension SkeinGroups.OffsetFetchResponse.Partition: HasTopicPartition {}
