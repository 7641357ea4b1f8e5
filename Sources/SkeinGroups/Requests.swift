/// Opaque id of a request, chosen by the shell; a response (possibly delayed) names the request it answers.
public typealias RequestID = UInt64

/// One protocol a member supports, in its order of preference.
public struct JoinGroupProtocol: Hashable, Sendable {
    public var name: String
    public var metadata: [UInt8]
    public init(name: String, metadata: [UInt8]) {
        self.name = name
        self.metadata = metadata
    }
}

/// JoinGroup (api key 11). `apiVersion` decides version-dependent behaviour: v4+ requires a known member id
/// (MEMBER_ID_REQUIRED), v9+ lets a static leader skip assignment.
public struct JoinGroupRequest: Hashable, Sendable {
    public var groupId: String
    public var sessionTimeoutMs: Int32
    /// -1 (v0) means: the session timeout.
    public var rebalanceTimeoutMs: Int32
    /// "" for a new member.
    public var memberId: String
    public var groupInstanceId: String?
    public var protocolType: String
    public var protocols: [JoinGroupProtocol]
    public var reason: String?
    /// From the request header.
    public var clientId: String
    /// The client's address as the shell sees it.
    public var clientHost: String
    public var apiVersion: Int16

    public init(
        groupId: String, sessionTimeoutMs: Int32, rebalanceTimeoutMs: Int32, memberId: String = "",
        groupInstanceId: String? = nil, protocolType: String, protocols: [JoinGroupProtocol], reason: String? = nil,
        clientId: String, clientHost: String = "/127.0.0.1", apiVersion: Int16 = 9
    ) {
        self.groupId = groupId
        self.sessionTimeoutMs = sessionTimeoutMs
        self.rebalanceTimeoutMs = rebalanceTimeoutMs
        self.memberId = memberId
        self.groupInstanceId = groupInstanceId
        self.protocolType = protocolType
        self.protocols = protocols
        self.reason = reason
        self.clientId = clientId
        self.clientHost = clientHost
        self.apiVersion = apiVersion
    }
}

/// One member in the leader's JoinGroup response.
public struct JoinGroupResponseMember: Hashable, Sendable {
    public var memberId: String
    public var groupInstanceId: String?
    public var metadata: [UInt8]
}

/// JoinGroup response.
public struct JoinGroupResponse: Hashable, Sendable {
    public var errorCode: GroupErrorCode
    public var generationId: Int32 = -1
    public var protocolType: String?
    public var protocolName: String?
    public var leader: String = ""
    public var skipAssignment = false
    public var memberId: String = ""
    /// Non-empty only for the leader.
    public var members: [JoinGroupResponseMember] = []

    static func error(_ code: GroupErrorCode, memberId: String = "") -> JoinGroupResponse {
        JoinGroupResponse(errorCode: code, memberId: memberId)
    }
}

/// One member's assignment supplied by the leader in SyncGroup.
public struct SyncGroupAssignment: Hashable, Sendable {
    public var memberId: String
    public var assignment: [UInt8]
    public init(memberId: String, assignment: [UInt8]) {
        self.memberId = memberId
        self.assignment = assignment
    }
}

/// SyncGroup (api key 14). `protocolType`/`protocolName` are sent from v5 (nil before).
public struct SyncGroupRequest: Hashable, Sendable {
    public var groupId: String
    public var generationId: Int32
    public var memberId: String
    public var groupInstanceId: String?
    public var protocolType: String?
    public var protocolName: String?
    public var assignments: [SyncGroupAssignment]

    public init(
        groupId: String, generationId: Int32, memberId: String, groupInstanceId: String? = nil,
        protocolType: String? = nil, protocolName: String? = nil, assignments: [SyncGroupAssignment] = []
    ) {
        self.groupId = groupId
        self.generationId = generationId
        self.memberId = memberId
        self.groupInstanceId = groupInstanceId
        self.protocolType = protocolType
        self.protocolName = protocolName
        self.assignments = assignments
    }
}

/// SyncGroup response.
public struct SyncGroupResponse: Hashable, Sendable {
    public var errorCode: GroupErrorCode
    public var protocolType: String?
    public var protocolName: String?
    public var assignment: [UInt8] = []
}

/// Heartbeat (api key 12).
public struct HeartbeatRequest: Hashable, Sendable {
    public var groupId: String
    public var generationId: Int32
    public var memberId: String
    public var groupInstanceId: String?
    public init(groupId: String, generationId: Int32, memberId: String, groupInstanceId: String? = nil) {
        self.groupId = groupId
        self.generationId = generationId
        self.memberId = memberId
        self.groupInstanceId = groupInstanceId
    }
}

/// Heartbeat response.
public struct HeartbeatResponse: Hashable, Sendable {
    public var errorCode: GroupErrorCode
}

/// One member leaving (LeaveGroup v3+ batch; v0-2 send one with the request's member id).
public struct LeaveGroupMember: Hashable, Sendable {
    /// "" to remove a static member by its instance id (admin removal).
    public var memberId: String
    public var groupInstanceId: String?
    public var reason: String?
    public init(memberId: String, groupInstanceId: String? = nil, reason: String? = nil) {
        self.memberId = memberId
        self.groupInstanceId = groupInstanceId
        self.reason = reason
    }
}

/// LeaveGroup (api key 13).
public struct LeaveGroupRequest: Hashable, Sendable {
    public var groupId: String
    public var members: [LeaveGroupMember]
    public init(groupId: String, members: [LeaveGroupMember]) {
        self.groupId = groupId
        self.members = members
    }
}

/// LeaveGroup response. For v0-2 the shell puts the single member's error in the top-level error code.
public struct LeaveGroupResponse: Hashable, Sendable {
    /// One member's result.
    public struct Member: Hashable, Sendable {
        public var memberId: String
        public var groupInstanceId: String?
        public var errorCode: GroupErrorCode
    }
    public var errorCode: GroupErrorCode
    public var members: [Member]
}

/// One partition of an OffsetCommit or TxnOffsetCommit.
public struct OffsetCommitPartition: Hashable, Sendable {
    public var topicPartition: TopicPartition
    public var committedOffset: Int64
    public var committedLeaderEpoch: Int32
    public var committedMetadata: String?
    /// OffsetCommit v1 only; -1 means "now".
    public var commitTimestamp: Int64

    public init(
        _ topicPartition: TopicPartition, offset: Int64, leaderEpoch: Int32 = -1, metadata: String? = nil,
        commitTimestamp: Int64 = -1
    ) {
        self.topicPartition = topicPartition
        committedOffset = offset
        committedLeaderEpoch = leaderEpoch
        committedMetadata = metadata
        self.commitTimestamp = commitTimestamp
    }
}

/// OffsetCommit (api key 8). Generation -1 with an empty member id is a "simple" (non-member) commit.
/// `generationIdOrMemberEpoch` is the member epoch for a KIP-848 group.
public struct OffsetCommitRequest: Hashable, Sendable {
    public var groupId: String
    public var generationIdOrMemberEpoch: Int32
    public var memberId: String
    public var groupInstanceId: String?
    /// v2-v4 only; -1 means the broker's retention.
    public var retentionTimeMs: Int64
    public var partitions: [OffsetCommitPartition]
    public var apiVersion: Int16

    public init(
        groupId: String, generationIdOrMemberEpoch: Int32 = -1, memberId: String = "", groupInstanceId: String? = nil,
        retentionTimeMs: Int64 = -1, partitions: [OffsetCommitPartition], apiVersion: Int16 = 9
    ) {
        self.groupId = groupId
        self.generationIdOrMemberEpoch = generationIdOrMemberEpoch
        self.memberId = memberId
        self.groupInstanceId = groupInstanceId
        self.retentionTimeMs = retentionTimeMs
        self.partitions = partitions
        self.apiVersion = apiVersion
    }
}

/// One partition's result of OffsetCommit, TxnOffsetCommit or OffsetDelete.
public struct PartitionResult: Hashable, Sendable {
    public var topicPartition: TopicPartition
    public var errorCode: GroupErrorCode
}

/// OffsetCommit or TxnOffsetCommit response.
public struct OffsetCommitResponse: Hashable, Sendable {
    public var partitions: [PartitionResult]
}

/// TxnOffsetCommit (api key 28): offsets that stay pending until the transaction's marker.
public struct TxnOffsetCommitRequest: Hashable, Sendable {
    public var transactionalId: String
    public var groupId: String
    public var producerId: Int64
    public var producerEpoch: Int16
    public var generationId: Int32
    public var memberId: String
    public var groupInstanceId: String?
    public var partitions: [OffsetCommitPartition]

    public init(
        transactionalId: String, groupId: String, producerId: Int64, producerEpoch: Int16,
        generationId: Int32 = -1, memberId: String = "", groupInstanceId: String? = nil,
        partitions: [OffsetCommitPartition]
    ) {
        self.transactionalId = transactionalId
        self.groupId = groupId
        self.producerId = producerId
        self.producerEpoch = producerEpoch
        self.generationId = generationId
        self.memberId = memberId
        self.groupInstanceId = groupInstanceId
        self.partitions = partitions
    }
}

/// OffsetFetch (api key 9) for one group (v8+ batches are split per group by the shell).
public struct OffsetFetchRequest: Hashable, Sendable {
    public var groupId: String
    /// nil: all committed partitions of the group.
    public var partitions: [TopicPartition]?
    public var requireStable: Bool
    /// v9+ (KIP-848): the member fetching, nil otherwise.
    public var memberId: String?
    public var memberEpoch: Int32

    public init(
        groupId: String, partitions: [TopicPartition]? = nil, requireStable: Bool = false, memberId: String? = nil,
        memberEpoch: Int32 = -1
    ) {
        self.groupId = groupId
        self.partitions = partitions
        self.requireStable = requireStable
        self.memberId = memberId
        self.memberEpoch = memberEpoch
    }
}

/// OffsetFetch response for one group.
public struct OffsetFetchResponse: Hashable, Sendable {
    /// One partition's committed offset (or error).
    public struct Partition: Hashable, Sendable {
        public var topicPartition: TopicPartition
        /// -1 when nothing is committed.
        public var committedOffset: Int64
        public var committedLeaderEpoch: Int32
        public var metadata: String?
        public var errorCode: GroupErrorCode

        public init(
            topicPartition: TopicPartition, committedOffset: Int64, committedLeaderEpoch: Int32,
            metadata: String? = nil, errorCode: GroupErrorCode
        ) {
            self.topicPartition = topicPartition
            self.committedOffset = committedOffset
            self.committedLeaderEpoch = committedLeaderEpoch
            self.metadata = metadata
            self.errorCode = errorCode
        }
    }
    public var errorCode: GroupErrorCode
    public var partitions: [Partition]
}

/// OffsetDelete (api key 47).
public struct OffsetDeleteRequest: Hashable, Sendable {
    public var groupId: String
    public var partitions: [TopicPartition]
    public init(groupId: String, partitions: [TopicPartition]) {
        self.groupId = groupId
        self.partitions = partitions
    }
}

/// OffsetDelete response.
public struct OffsetDeleteResponse: Hashable, Sendable {
    public var errorCode: GroupErrorCode
    public var partitions: [PartitionResult]
}

/// DescribeGroups (api key 15).
public struct DescribeGroupsRequest: Hashable, Sendable {
    public var groupIds: [String]
    public init(groupIds: [String]) { self.groupIds = groupIds }
}

/// DescribeGroups response.
public struct DescribeGroupsResponse: Hashable, Sendable {
    /// One member as DescribeGroups shows it (metadata and assignment only when Stable).
    public struct Member: Hashable, Sendable {
        public var memberId: String
        public var groupInstanceId: String?
        public var clientId: String
        public var clientHost: String
        public var memberMetadata: [UInt8]
        public var memberAssignment: [UInt8]
    }
    /// One described group.
    public struct Group: Hashable, Sendable {
        public var errorCode: GroupErrorCode
        public var groupId: String
        public var groupState: String
        public var protocolType: String
        public var protocolData: String
        public var members: [Member]
    }
    public var groups: [Group]
}

/// ListGroups (api key 16). Empty filters match everything.
public struct ListGroupsRequest: Hashable, Sendable {
    public var statesFilter: [String]
    public var typesFilter: [String]
    public init(statesFilter: [String] = [], typesFilter: [String] = []) {
        self.statesFilter = statesFilter
        self.typesFilter = typesFilter
    }
}

/// ListGroups response.
public struct ListGroupsResponse: Hashable, Sendable {
    /// One listed group.
    public struct Group: Hashable, Sendable {
        public var groupId: String
        public var protocolType: String
        public var groupState: String
        /// "classic" or "consumer".
        public var groupType: String
    }
    public var errorCode: GroupErrorCode
    public var groups: [Group]
}

/// DeleteGroups (api key 42).
public struct DeleteGroupsRequest: Hashable, Sendable {
    public var groupIds: [String]
    public init(groupIds: [String]) { self.groupIds = groupIds }
}

/// DeleteGroups response.
public struct DeleteGroupsResponse: Hashable, Sendable {
    /// One group's result.
    public struct Result: Hashable, Sendable {
        public var groupId: String
        public var errorCode: GroupErrorCode
    }
    public var results: [Result]
}

/// ConsumerGroupHeartbeat (api key 68, KIP-848). Topics are named; the shell maps topic ids to names.
public struct ConsumerGroupHeartbeatRequest: Hashable, Sendable {
    public var groupId: String
    /// "" when joining with epoch 0 and letting the coordinator pick the id (v0 behaviour).
    public var memberId: String
    /// 0 to join, -1 to leave, -2 for a static member's temporary leave.
    public var memberEpoch: Int32
    public var instanceId: String?
    public var rackId: String?
    /// -1 when unchanged.
    public var rebalanceTimeoutMs: Int32
    /// nil when unchanged.
    public var subscribedTopicNames: [String]?
    /// v1: the subscription's regular expression (Kafka: RE2/J syntax, matched against whole topic names); nil
    /// when unchanged, "" to drop it.
    public var subscribedTopicRegex: String?
    public var serverAssignor: String?
    /// The partitions the member owns; nil when unchanged.
    public var ownedPartitions: [TopicPartitions]?
    public var clientId: String
    public var clientHost: String

    public init(
        groupId: String, memberId: String, memberEpoch: Int32, instanceId: String? = nil, rackId: String? = nil,
        rebalanceTimeoutMs: Int32 = -1, subscribedTopicNames: [String]? = nil, subscribedTopicRegex: String? = nil,
        serverAssignor: String? = nil, ownedPartitions: [TopicPartitions]? = nil, clientId: String = "",
        clientHost: String = "/127.0.0.1"
    ) {
        self.groupId = groupId
        self.memberId = memberId
        self.memberEpoch = memberEpoch
        self.instanceId = instanceId
        self.rackId = rackId
        self.rebalanceTimeoutMs = rebalanceTimeoutMs
        self.subscribedTopicNames = subscribedTopicNames
        self.subscribedTopicRegex = subscribedTopicRegex
        self.serverAssignor = serverAssignor
        self.ownedPartitions = ownedPartitions
        self.clientId = clientId
        self.clientHost = clientHost
    }
}

/// ConsumerGroupHeartbeat response.
public struct ConsumerGroupHeartbeatResponse: Hashable, Sendable {
    public var errorCode: GroupErrorCode
    public var errorMessage: String?
    public var memberId: String?
    public var memberEpoch: Int32
    public var heartbeatIntervalMs: Int32
    /// The member's full assignment, present when it changed or the request was a full one.
    public var assignment: [TopicPartitions]?
}

/// ConsumerGroupDescribe (api key 69, KIP-848): KIP-848 groups with their members and assignments.
public struct ConsumerGroupDescribeRequest: Hashable, Sendable {
    public var groupIds: [String]
    public init(groupIds: [String]) { self.groupIds = groupIds }
}

/// ConsumerGroupDescribe response. Topics are named; the shell maps them to topic ids.
public struct ConsumerGroupDescribeResponse: Hashable, Sendable {
    /// One member (Kafka's `ConsumerGroupMember.asConsumerGroupDescribeMember`).
    public struct Member: Hashable, Sendable {
        public var memberId: String
        public var instanceId: String?
        public var rackId: String?
        public var memberEpoch: Int32
        public var clientId: String
        public var clientHost: String
        public var subscribedTopicNames: [String]
        /// nil when the member subscribes by names only.
        public var subscribedTopicRegex: String?
        /// The partitions the member owns now (those it still has to revoke excluded).
        public var assignment: [TopicPartitions]
        /// Where the member is heading: its share of the group's target assignment.
        public var targetAssignment: [TopicPartitions]
    }
    /// One described group; an error (GROUP_ID_NOT_FOUND, INVALID_GROUP_ID) comes with empty fields.
    public struct Group: Hashable, Sendable {
        public var errorCode: GroupErrorCode
        public var errorMessage: String?
        public var groupId: String
        /// Empty, Assigning, Reconciling or Stable ("" with an error).
        public var groupState: String
        public var groupEpoch: Int32
        public var assignmentEpoch: Int32
        public var assignorName: String
        public var members: [Member]

        static func error(_ groupId: String, _ code: GroupErrorCode, _ message: String?) -> Group {
            Group(
                errorCode: code, errorMessage: message, groupId: groupId, groupState: "", groupEpoch: 0,
                assignmentEpoch: 0, assignorName: "", members: [])
        }
    }
    public var groups: [Group]
}

/// Every request the coordinator handles.
public enum GroupRequest: Hashable, Sendable {
    case joinGroup(JoinGroupRequest)
    case syncGroup(SyncGroupRequest)
    case heartbeat(HeartbeatRequest)
    case leaveGroup(LeaveGroupRequest)
    case offsetCommit(OffsetCommitRequest)
    case txnOffsetCommit(TxnOffsetCommitRequest)
    case offsetFetch(OffsetFetchRequest)
    case offsetDelete(OffsetDeleteRequest)
    case describeGroups(DescribeGroupsRequest)
    case listGroups(ListGroupsRequest)
    case deleteGroups(DeleteGroupsRequest)
    case consumerGroupHeartbeat(ConsumerGroupHeartbeatRequest)
    case consumerGroupDescribe(ConsumerGroupDescribeRequest)
}

/// Every response the coordinator produces.
public enum GroupResponse: Hashable, Sendable {
    case joinGroup(JoinGroupResponse)
    case syncGroup(SyncGroupResponse)
    case heartbeat(HeartbeatResponse)
    case leaveGroup(LeaveGroupResponse)
    case offsetCommit(OffsetCommitResponse)
    case txnOffsetCommit(OffsetCommitResponse)
    case offsetFetch(OffsetFetchResponse)
    case offsetDelete(OffsetDeleteResponse)
    case describeGroups(DescribeGroupsResponse)
    case listGroups(ListGroupsResponse)
    case deleteGroups(DeleteGroupsResponse)
    case consumerGroupHeartbeat(ConsumerGroupHeartbeatResponse)
    case consumerGroupDescribe(ConsumerGroupDescribeResponse)
}

/// What the shell must do, in order.
public enum GroupDirective: Hashable, Sendable {
    /// Append these records to the coordinator's `__consumer_offsets` partition. They must be durable
    /// (committed) before any `respond` that follows in the same output is sent. If the append fails, the shell
    /// must unload the coordinator and rebuild it from the log (`GroupCoordinator.replay`), as Kafka resigns.
    case persist([GroupRecord])
    /// Send this response to the request `RequestID` (which may have arrived in an earlier call).
    case respond(RequestID, GroupResponse)
    /// The request will never be answered (a member re-sent JoinGroup or SyncGroup while the earlier one was
    /// pending: Kafka drops the earlier callback). The shell may forget it.
    case abandon(RequestID)
}
