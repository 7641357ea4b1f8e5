import KafkaWire
import NIOCore
import SkeinModel

/// A group as ListGroups reports it.
public struct GroupListing: Sendable, Equatable {
    public var groupId: String
    public var state: String
    public var protocolType: String
    /// "classic" or "consumer" (KIP-848), empty when the broker does not say.
    public var type: String
}

/// One member of a described group, with the partitions its assignment names (consumer groups).
public struct GroupMember: Sendable, Equatable {
    public var memberId: String
    public var instanceId: String?
    public var clientId: String
    public var host: String
    public var assignment: [String: [Int32]]
}

/// One partition of a group's committed offsets, with the partition's end and the lag.
public struct GroupPartitionOffset: Sendable, Equatable {
    public var topic: String
    public var partition: Int32
    /// -1 when the group has no offset for it.
    public var committed: Int64
    /// The high watermark; nil when it could not be read.
    public var end: Int64?
    /// end - committed, when both are known.
    public var lag: Int64? {
        guard let end, committed >= 0 else { return nil }
        return max(0, end - committed)
    }
    /// The member that owns it, if any.
    public var owner: String?
}

/// DescribeGroups plus OffsetFetch plus ListOffsets: what `skein group describe` shows.
public struct GroupDescription: Sendable, Equatable {
    public var groupId: String
    public var coordinator: BrokerId
    public var state: String
    public var protocolType: String
    public var assignor: String
    public var members: [GroupMember]
    public var offsets: [GroupPartitionOffset]
}

/// Where a group's offsets are reset to.
public enum OffsetResetTarget: Sendable, Equatable {
    case earliest
    case latest
    case offset(Int64)
    /// The first offset at or after this time (ms since the epoch), else the end.
    case timestamp(Int64)
}

extension KafkaClient {
    /// Error codes that mean: the coordinator is moving or loading; ask again.
    static func isCoordinatorRetriable(_ code: KafkaErrorCode) -> Bool {
        code == .coordinatorNotAvailable || code == .coordinatorLoadInProgress || code == .notCoordinator
    }

    /// Runs `body` against the coordinator of a group (`keyType` 0) or a transactional id (1), finding it again
    /// (with backoff) while it moves or loads.
    func withCoordinator<T: Sendable>(
        of groupId: String, keyType: Int8 = 0, _ body: (BrokerId, BrokerConnection) async throws -> T
    ) async throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            do {
                let (id, conn) = try await findCoordinator(groupId, keyType: keyType)
                return try await body(id, conn)
            } catch let error as KafkaError where Self.isCoordinatorRetriable(error.code) && attempt < 20 {
            } catch KafkaClientError.connectionClosed where attempt < 20 {
            }
            try await Task.sleep(for: .milliseconds(min(1000, 50 << min(attempt, 5))))
        }
    }

    /// The coordinator of `groupId` (FindCoordinator; `keyType` 1: of a transactional id) and a connection to it.
    func findCoordinator(_ groupId: String, keyType: Int8 = 0) async throws -> (BrokerId, BrokerConnection) {
        let conn = try await someConnection()
        let version = try conn.version(for: FindCoordinatorRequest.self)
        var request = FindCoordinatorRequest(keyType: keyType)
        if version >= 4 { request.coordinatorKeys = [groupId] } else { request.key = groupId }
        let response = try await conn.send(request, version: version, timeout: requestTimeout.timeAmount).response
        let (code, message, node): (Int16, String?, BrokerId)
        if version >= 4 {
            guard let c = response.coordinators.first(where: { $0.key == groupId }) ?? response.coordinators.first else {
                throw KafkaClientError.protocolViolation("FindCoordinator response is empty")
            }
            (code, message, node) = (c.errorCode, c.errorMessage, c.nodeId)
        } else {
            (code, message, node) = (response.errorCode, response.errorMessage, response.nodeId)
        }
        try KafkaError.check(code, message: message, resource: groupId)
        return (node, try await connection(to: node))
    }

    /// Every group of every broker (ListGroups is answered per broker), sorted by id.
    public func listGroups() async throws -> [GroupListing] {
        let brokers = try await refreshMetadata(topics: nil).brokers
        var result: [String: GroupListing] = [:]
        for broker in brokers {
            let conn = try await connection(to: broker.id)
            let response = try await conn.send(ListGroupsRequest(), timeout: requestTimeout.timeAmount).response
            try KafkaError.check(response.errorCode, resource: "broker \(broker.id)")
            for g in response.groups {
                result[g.groupId] = GroupListing(
                    groupId: g.groupId, state: g.groupState, protocolType: g.protocolType, type: g.groupType)
            }
        }
        return result.values.sorted { $0.groupId < $1.groupId }
    }

    /// The group's committed offsets (OffsetFetch for all partitions), by topic and partition.
    public func committedOffsets(group groupId: String) async throws -> [String: [Int32: Int64]] {
        try await withCoordinator(of: groupId) { _, conn in
            let version = try conn.version(for: OffsetFetchRequest.self)
            // All partitions: null topics, from v2.
            guard version >= 2 else { throw KafkaClientError.unsupportedApi(.offsetFetch, broker: conn.name) }
            var request = OffsetFetchRequest()
            if version >= 8 {
                request.groups = [.init(groupId: groupId, topics: nil)]
            } else {
                request.groupId = groupId
                request.topics = nil
            }
            let response = try await conn.send(request, version: version, timeout: requestTimeout.timeAmount).response
            var offsets: [String: [Int32: Int64]] = [:]
            if version >= 8 {
                guard let g = response.groups.first else {
                    throw KafkaClientError.protocolViolation("OffsetFetch response is empty")
                }
                try KafkaError.check(g.errorCode, resource: groupId)
                for t in g.topics {
                    for p in t.partitions where p.errorCode == 0 { offsets[t.name, default: [:]][p.partitionIndex] = p.committedOffset }
                }
            } else {
                try KafkaError.check(response.errorCode, resource: groupId)
                for t in response.topics {
                    for p in t.partitions where p.errorCode == 0 { offsets[t.name, default: [:]][p.partitionIndex] = p.committedOffset }
                }
            }
            return offsets
        }
    }

    /// DescribeGroups, the committed offsets and each partition's end.
    public func describeGroup(_ groupId: String) async throws -> GroupDescription {
        let (coordinator, described) = try await withCoordinator(of: groupId) { id, conn in
            let response = try await conn.send(
                DescribeGroupsRequest(groups: [groupId]), timeout: requestTimeout.timeAmount
            ).response
            guard let g = response.groups.first else {
                throw KafkaClientError.protocolViolation("DescribeGroups response is empty")
            }
            try KafkaError.check(g.errorCode, resource: groupId)
            return (id, g)
        }
        var members: [GroupMember] = []
        var owners: [String: [Int32: String]] = [:]
        for m in described.members {
            var assignment: [String: [Int32]] = [:]
            var bytes = m.memberAssignment
            if described.protocolType == "consumer", bytes.readableBytes >= 2,
                let version: Int16 = bytes.readInteger(),
                let decoded = try? ConsumerProtocolAssignment(from: &bytes, version: min(max(version, 0), 3))
            {
                for tp in decoded.assignedPartitions {
                    assignment[tp.topic, default: []] += tp.partitions
                    for p in tp.partitions { owners[tp.topic, default: [:]][p] = m.memberId }
                }
            }
            members.append(
                GroupMember(
                    memberId: m.memberId, instanceId: m.groupInstanceId, clientId: m.clientId, host: m.clientHost,
                    assignment: assignment))
        }
        let committed = try await committedOffsets(group: groupId)
        var offsets: [GroupPartitionOffset] = []
        var partitions = Set<String>()
        for (topic, byPartition) in committed {
            for (p, offset) in byPartition {
                partitions.insert("\(topic)\u{0}\(p)")
                offsets.append(
                    GroupPartitionOffset(topic: topic, partition: p, committed: offset, end: nil, owner: owners[topic]?[p]))
            }
        }
        for (topic, byPartition) in owners {
            for (p, owner) in byPartition where !partitions.contains("\(topic)\u{0}\(p)") {
                offsets.append(GroupPartitionOffset(topic: topic, partition: p, committed: -1, end: nil, owner: owner))
            }
        }
        for i in offsets.indices {
            offsets[i].end = try? await offset(topic: offsets[i].topic, partition: offsets[i].partition, .latest)
        }
        offsets.sort { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
        return GroupDescription(
            groupId: groupId, coordinator: coordinator, state: described.groupState,
            protocolType: described.protocolType, assignor: described.protocolData, members: members, offsets: offsets)
    }

    /// Deletes a group and its offsets (DeleteGroups); NON_EMPTY_GROUP while it has members.
    public func deleteGroup(_ groupId: String) async throws {
        try await withCoordinator(of: groupId) { _, conn in
            let response = try await conn.send(
                DeleteGroupsRequest(groupsNames: [groupId]), timeout: requestTimeout.timeAmount
            ).response
            guard let r = response.results.first(where: { $0.groupId == groupId }) else {
                throw KafkaClientError.protocolViolation("DeleteGroups response does not mention \(groupId)")
            }
            try KafkaError.check(r.errorCode, resource: groupId)
        }
    }

    /// Commits new offsets for `topic`'s partitions (all when `partitions` is nil) as a non-member, as
    /// kafka-consumer-groups --reset-offsets does; the group must have no active members (the coordinator
    /// answers UNKNOWN_MEMBER_ID otherwise). Returns the offsets committed, by partition.
    public func resetOffsets(
        group groupId: String, topic: String, partitions: [Int32]? = nil, to target: OffsetResetTarget
    ) async throws -> [Int32: Int64] {
        let state = try await withCoordinator(of: groupId) { _, conn in
            try await conn.send(DescribeGroupsRequest(groups: [groupId]), timeout: requestTimeout.timeAmount)
                .response.groups.first?.groupState ?? ""
        }
        guard state == "Empty" || state == "Dead" else {
            throw KafkaClientError.invalidArgument(
                "group \(groupId) is \(state): offsets can only be reset while it has no active members")
        }
        let info = try await topicInfo(topic, refresh: true)
        let chosen = partitions ?? info.partitions.map(\.partition)
        var offsets: [Int32: Int64] = [:]
        for p in chosen {
            guard info.partitions.contains(where: { $0.partition == p }) else {
                throw KafkaClientError.invalidArgument("\(topic) has no partition \(p)")
            }
            switch target {
            case .earliest: offsets[p] = try await offset(topic: topic, partition: p, .earliest)
            case .latest: offsets[p] = try await offset(topic: topic, partition: p, .latest)
            case .offset(let o):
                let low = try await offset(topic: topic, partition: p, .earliest)
                let high = try await offset(topic: topic, partition: p, .latest)
                offsets[p] = min(max(o, low), high)
            case .timestamp(let t):
                let found = try await offset(topic: topic, partition: p, .timestamp(t))
                offsets[p] = found >= 0 ? found : try await offset(topic: topic, partition: p, .latest)
            }
        }
        let final = offsets
        try await withCoordinator(of: groupId) { _, conn in
            let request = OffsetCommitRequest(
                groupId: groupId, generationIdOrMemberEpoch: -1, memberId: "",
                topics: [
                    .init(
                        name: topic,
                        partitions: final.keys.sorted().map {
                            .init(partitionIndex: $0, committedOffset: final[$0] ?? 0, committedMetadata: "")
                        })
                ])
            let response = try await conn.send(request, timeout: requestTimeout.timeAmount).response
            for t in response.topics {
                for p in t.partitions { try KafkaError.check(p.errorCode, resource: "\(t.name)-\(p.partitionIndex)") }
            }
        }
        return final
    }
}
