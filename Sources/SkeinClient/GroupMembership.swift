import KafkaWire
import NIOCore
import SkeinModel

/// The classic group protocol from a member's side, one call per request: what a consumer's coordinator
/// code (or a benchmark of rebalances) builds on. Subscriptions and assignments use the consumer embedded
/// protocol (`ConsumerProtocolSubscription` / `ConsumerProtocolAssignment`, version 0).
public struct JoinedGroup: Sendable, Equatable {
    public var errorCode: KafkaErrorCode
    public var memberId: String
    public var generationId: Int32
    public var leaderId: String
    public var protocolName: String?
    /// Non-empty for the leader: every member with its subscribed topics.
    public var members: [(memberId: String, topics: [String])]

    public var isLeader: Bool { !memberId.isEmpty && memberId == leaderId }

    public static func == (a: JoinedGroup, b: JoinedGroup) -> Bool {
        a.errorCode == b.errorCode && a.memberId == b.memberId && a.generationId == b.generationId
            && a.leaderId == b.leaderId && a.protocolName == b.protocolName
            && a.members.map(\.memberId) == b.members.map(\.memberId)
            && a.members.map(\.topics) == b.members.map(\.topics)
    }
}

extension KafkaClient {
    /// JoinGroup with the consumer protocol and one assignor; a MEMBER_ID_REQUIRED answer is followed by a
    /// second join with the id the coordinator chose, as clients do. Errors come back in `errorCode`.
    public func joinGroup(
        _ groupId: String, memberId: String = "", topics: [String], assignor: String = "range",
        sessionTimeoutMs: Int32 = 30_000, rebalanceTimeoutMs: Int32 = 60_000, groupInstanceId: String? = nil
    ) async throws -> JoinedGroup {
        var subscription = ByteBuffer()
        subscription.writeInteger(Int16(0))
        try ConsumerProtocolSubscription(topics: topics).encode(into: &subscription, version: 0)
        var id = memberId
        while true {
            let response = try await withCoordinator(of: groupId) { _, conn in
                let request = JoinGroupRequest(
                    groupId: groupId, sessionTimeoutMs: sessionTimeoutMs, rebalanceTimeoutMs: rebalanceTimeoutMs,
                    memberId: id, groupInstanceId: groupInstanceId, protocolType: "consumer",
                    protocols: [.init(name: assignor, metadata: subscription)])
                // A join waits for the whole rebalance: allow the rebalance timeout on top of the request's.
                let timeout = TimeAmount.milliseconds(Int64(rebalanceTimeoutMs)) + requestTimeout.timeAmount
                let response = try await conn.send(request, timeout: timeout).response
                let code = KafkaErrorCode(rawValue: response.errorCode) ?? .unknownServerError
                if Self.isCoordinatorRetriable(code) { throw KafkaError(code, resource: groupId) }
                return response
            }
            let code = KafkaErrorCode(rawValue: response.errorCode) ?? .unknownServerError
            if code == .memberIdRequired && id.isEmpty {
                id = response.memberId
                continue
            }
            var members: [(String, [String])] = []
            for m in response.members {
                var bytes = m.metadata
                let version: Int16 = bytes.readInteger() ?? 0
                let decoded = try ConsumerProtocolSubscription(from: &bytes, version: min(max(version, 0), 3))
                members.append((m.memberId, decoded.topics))
            }
            return JoinedGroup(
                errorCode: code, memberId: response.memberId, generationId: response.generationId,
                leaderId: response.leader, protocolName: response.protocolName, members: members)
        }
    }

    /// SyncGroup: the leader sends every member's assignment (topic -> partitions), the others none. Returns this
    /// member's assignment, or throws the Kafka error.
    public func syncGroup(
        _ groupId: String, generationId: Int32, memberId: String, assignor: String = "range",
        assignments: [String: [String: [Int32]]] = [:], rebalanceTimeoutMs: Int32 = 60_000
    ) async throws -> [String: [Int32]] {
        var encoded: [SyncGroupRequest.SyncGroupRequestAssignment] = []
        for (member, byTopic) in assignments.sorted(by: { $0.key < $1.key }) {
            var bytes = ByteBuffer()
            bytes.writeInteger(Int16(0))
            try ConsumerProtocolAssignment(
                assignedPartitions: byTopic.sorted { $0.key < $1.key }.map { .init(topic: $0.key, partitions: $0.value) }
            ).encode(into: &bytes, version: 0)
            encoded.append(.init(memberId: member, assignment: bytes))
        }
        let response = try await withCoordinator(of: groupId) { _, conn in
            let request = SyncGroupRequest(
                groupId: groupId, generationId: generationId, memberId: memberId, protocolType: "consumer",
                protocolName: assignor, assignments: encoded)
            let timeout = TimeAmount.milliseconds(Int64(rebalanceTimeoutMs)) + requestTimeout.timeAmount
            let response = try await conn.send(request, timeout: timeout).response
            let code = KafkaErrorCode(rawValue: response.errorCode) ?? .unknownServerError
            if Self.isCoordinatorRetriable(code) { throw KafkaError(code, resource: groupId) }
            return response
        }
        try KafkaError.check(response.errorCode, resource: groupId)
        var bytes = response.assignment
        guard bytes.readableBytes >= 2, let version: Int16 = bytes.readInteger() else { return [:] }
        let decoded = try ConsumerProtocolAssignment(from: &bytes, version: min(max(version, 0), 3))
        var result: [String: [Int32]] = [:]
        for tp in decoded.assignedPartitions { result[tp.topic, default: []] += tp.partitions }
        return result
    }

    /// Heartbeat; returns Kafka's answer (REBALANCE_IN_PROGRESS means: join again).
    public func heartbeat(_ groupId: String, generationId: Int32, memberId: String) async throws -> KafkaErrorCode {
        try await withCoordinator(of: groupId) { _, conn in
            let response = try await conn.send(
                HeartbeatRequest(groupId: groupId, generationId: generationId, memberId: memberId),
                timeout: requestTimeout.timeAmount
            ).response
            let code = KafkaErrorCode(rawValue: response.errorCode) ?? .unknownServerError
            if Self.isCoordinatorRetriable(code) { throw KafkaError(code, resource: groupId) }
            return code
        }
    }

    /// LeaveGroup for one member.
    public func leaveGroup(_ groupId: String, memberId: String) async throws {
        try await withCoordinator(of: groupId) { _, conn in
            let version = try conn.version(for: LeaveGroupRequest.self)
            var request = LeaveGroupRequest(groupId: groupId)
            if version >= 3 { request.members = [.init(memberId: memberId)] } else { request.memberId = memberId }
            let response = try await conn.send(request, version: version, timeout: requestTimeout.timeAmount).response
            try KafkaError.check(response.errorCode, resource: groupId)
        }
    }

    /// Kafka's range assignor: each topic's partitions split in order over the members subscribed to it
    /// (sorted by id), the first `count % members` getting one more.
    public static func rangeAssignment(members: [(memberId: String, topics: [String])], partitions: [String: Int32])
        -> [String: [String: [Int32]]]
    {
        var result: [String: [String: [Int32]]] = [:]
        for m in members { result[m.memberId] = [:] }
        for (topic, count) in partitions {
            let subscribed = members.filter { $0.topics.contains(topic) }.map(\.memberId).sorted()
            guard !subscribed.isEmpty else { continue }
            let per = Int(count) / subscribed.count
            let extra = Int(count) % subscribed.count
            var next: Int32 = 0
            for (i, member) in subscribed.enumerated() {
                let n = per + (i < extra ? 1 : 0)
                if n > 0 { result[member, default: [:]][topic] = Array(next..<next + Int32(n)) }
                next += Int32(n)
            }
        }
        return result
    }

    /// The partition count of a topic (from the metadata).
    public func partitionCount(_ topic: String) async throws -> Int32 {
        Int32(try await topicInfo(topic, refresh: true).partitions.count)
    }
}
