// The classic group protocol: JoinGroup, SyncGroup, Heartbeat, LeaveGroup (Kafka's GroupCoordinator.scala).
extension GroupCoordinator {
    // MARK: JoinGroup

    func joinGroup(_ request: JoinGroupRequest, id: RequestID) {
        let reply = { (response: JoinGroupResponse) in self.respond(id, .joinGroup(response)) }
        guard !request.groupId.isEmpty else { return reply(.error(.invalidGroupId, memberId: request.memberId)) }
        if request.sessionTimeoutMs < config.groupMinSessionTimeoutMs
            || request.sessionTimeoutMs > config.groupMaxSessionTimeoutMs
        {
            return reply(.error(.invalidSessionTimeout, memberId: request.memberId))
        }
        if consumerGroups[request.groupId] != nil {
            return reply(.error(.inconsistentGroupProtocol, memberId: request.memberId))
        }
        let isUnknownMember = request.memberId.isEmpty
        let group: ClassicGroup
        if let existing = classicGroups[request.groupId] {
            group = existing
        } else if isUnknownMember {
            group = ClassicGroup(groupId: request.groupId, state: .empty, now: now)
            classicGroups[request.groupId] = group
        } else {
            return reply(.error(.unknownMemberId, memberId: request.memberId))
        }

        if !acceptJoiningMember(group, memberId: request.memberId) {
            if let removed = group.remove(request.memberId) {
                removed.heartbeatDeadline = nil
                if let pending = removed.awaitingJoin { abandon(pending) }
                if let pending = removed.awaitingSync { abandon(pending) }
            }
            reply(.error(.groupMaxSizeReached))
        } else if isUnknownMember {
            doNewMemberJoinGroup(group, request, id: id)
        } else {
            doCurrentMemberJoinGroup(group, request, id: id)
        }
        if group.is(.preparingRebalance) { checkJoinCompletion(group) }
    }

    private func acceptJoiningMember(_ group: ClassicGroup, memberId: String) -> Bool {
        switch group.state {
        case .empty, .dead:
            return true
        case .preparingRebalance:
            return (group.get(memberId)?.isAwaitingJoin ?? false) || group.numAwaiting < config.groupMaxSize
        case .completingRebalance, .stable:
            return group.has(memberId) || group.size < config.groupMaxSize
        }
    }

    private func rebalanceTimeout(_ request: JoinGroupRequest) -> Int32 {
        request.rebalanceTimeoutMs < 0 ? request.sessionTimeoutMs : request.rebalanceTimeoutMs
    }

    private func doNewMemberJoinGroup(_ group: ClassicGroup, _ request: JoinGroupRequest, id: RequestID) {
        if group.is(.dead) {
            return respond(id, .joinGroup(.error(.coordinatorNotAvailable)))
        }
        guard group.supportsProtocols(protocolType: request.protocolType, protocols: request.protocols) else {
            return respond(id, .joinGroup(.error(.inconsistentGroupProtocol)))
        }
        // Kafka's generateMemberId: the instance id for static members, else the client id, then a UUID.
        let newMemberId = (request.groupInstanceId ?? request.clientId) + "-" + random.uuidString()
        if let instanceId = request.groupInstanceId {
            if let oldMemberId = group.staticMemberId(instanceId) {
                updateStaticMemberAndRebalance(
                    group, instanceId: instanceId, oldMemberId: oldMemberId, newMemberId: newMemberId, request, id: id)
            } else {
                addMemberAndRebalance(group, memberId: newMemberId, request, id: id)
            }
        } else if request.apiVersion >= 4 {
            // KIP-394: the member must come back with this id, so that a retried JoinGroup is not a new member.
            group.pendingMembers[newMemberId] = now + Int64(request.sessionTimeoutMs)
            respond(id, .joinGroup(.error(.memberIdRequired, memberId: newMemberId)))
        } else {
            addMemberAndRebalance(group, memberId: newMemberId, request, id: id)
        }
    }

    private func doCurrentMemberJoinGroup(_ group: ClassicGroup, _ request: JoinGroupRequest, id: RequestID) {
        let memberId = request.memberId
        if group.is(.dead) {
            return respond(id, .joinGroup(.error(.coordinatorNotAvailable, memberId: memberId)))
        }
        guard group.supportsProtocols(protocolType: request.protocolType, protocols: request.protocols) else {
            return respond(id, .joinGroup(.error(.inconsistentGroupProtocol, memberId: memberId)))
        }
        if group.isPendingMember(memberId) {
            // Pending members are always dynamic (Kafka throws here); treat an instance id as a protocol misuse.
            guard request.groupInstanceId == nil else {
                return respond(id, .joinGroup(.error(.unknownMemberId, memberId: memberId)))
            }
            return addMemberAndRebalance(group, memberId: memberId, request, id: id)
        }
        let instanceNotFound = request.groupInstanceId != nil && !group.hasStaticMember(request.groupInstanceId)
        if group.isStaticMemberFenced(instanceId: request.groupInstanceId, memberId: memberId) {
            return respond(id, .joinGroup(.error(.fencedInstanceId, memberId: memberId)))
        }
        guard let member = group.get(memberId), !instanceNotFound else {
            return respond(id, .joinGroup(.error(.unknownMemberId, memberId: memberId)))
        }
        switch group.state {
        case .preparingRebalance:
            updateMemberAndRebalance(group, member, request, id: id)
        case .completingRebalance:
            if member.matches(request.protocols) {
                // The member lost its JoinGroup response: hand out the current generation again.
                respond(id, .joinGroup(currentGenerationResponse(group, memberId: memberId, includeMembers: true)))
            } else {
                updateMemberAndRebalance(group, member, request, id: id)
            }
        case .stable:
            if group.isLeader(memberId) || !member.matches(request.protocols) {
                // A leader's JoinGroup forces a rebalance: it may have seen metadata changes the members did not.
                updateMemberAndRebalance(group, member, request, id: id)
            } else {
                respond(id, .joinGroup(currentGenerationResponse(group, memberId: memberId, includeMembers: false)))
            }
        case .empty, .dead:
            respond(id, .joinGroup(.error(.unknownMemberId, memberId: memberId)))
        }
    }

    private func currentGenerationResponse(_ group: ClassicGroup, memberId: String, includeMembers: Bool)
        -> JoinGroupResponse
    {
        JoinGroupResponse(
            errorCode: .none, generationId: group.generationId, protocolType: group.protocolType,
            protocolName: group.protocolName, leader: group.leaderId ?? "", skipAssignment: false,
            memberId: memberId,
            members: includeMembers && group.isLeader(memberId) ? group.currentMemberMetadata() : [])
    }

    private func addMemberAndRebalance(
        _ group: ClassicGroup, memberId: String, _ request: JoinGroupRequest, id: RequestID
    ) {
        let member = ClassicMember(
            memberId: memberId, groupInstanceId: request.groupInstanceId, clientId: request.clientId,
            clientHost: request.clientHost, rebalanceTimeoutMs: rebalanceTimeout(request),
            sessionTimeoutMs: request.sessionTimeoutMs, protocolType: request.protocolType,
            supportedProtocols: request.protocols)
        member.isNew = true
        // Only the very first rebalance of a group is delayed further as members keep arriving.
        if group.is(.preparingRebalance) && group.generationId == 0 { group.newMemberAdded = true }
        group.add(member, joinRequest: id)
        member.awaitingJoinSupportsSkip = request.apiVersion >= 9
        // A new member cannot heartbeat yet; its JoinGroup times out instead so defunct members do not pile up.
        member.heartbeatDeadline = now + Int64(config.newMemberJoinTimeoutMs)
        maybePrepareRebalance(group)
    }

    private func updateMemberAndRebalance(
        _ group: ClassicGroup, _ member: ClassicMember, _ request: JoinGroupRequest, id: RequestID
    ) {
        if let earlier = member.awaitingJoin, earlier != id { abandon(earlier) }
        group.updateMember(
            member, protocols: request.protocols, rebalanceTimeoutMs: rebalanceTimeout(request),
            sessionTimeoutMs: request.sessionTimeoutMs, joinRequest: id)
        member.awaitingJoinSupportsSkip = request.apiVersion >= 9
        maybePrepareRebalance(group)
    }

    /// Kafka's `updateStaticMemberAndRebalance`: a known instance rejoins with a new member id. The old id is
    /// fenced; a Stable group whose selected protocol would not change keeps its generation (no rebalance).
    private func updateStaticMemberAndRebalance(
        _ group: ClassicGroup, instanceId: String, oldMemberId: String, newMemberId: String,
        _ request: JoinGroupRequest, id: RequestID
    ) {
        let currentLeader = group.leaderId ?? ""
        guard let oldMember = group.get(oldMemberId) else { return }
        if let pending = group.takeJoin(oldMember) {
            respond(pending, .joinGroup(.error(.fencedInstanceId, memberId: oldMemberId)))
        }
        if let pending = group.takeSync(oldMember) {
            respond(pending, .syncGroup(SyncGroupResponse(errorCode: .fencedInstanceId)))
        }
        guard
            let member = group.replaceStaticMember(
                instanceId: instanceId, oldMemberId: oldMemberId, newMemberId: newMemberId)
        else { return }
        member.heartbeatDeadline = now + Int64(member.sessionTimeoutMs)
        group.updateMember(
            member, protocols: request.protocols, rebalanceTimeoutMs: rebalanceTimeout(request),
            sessionTimeoutMs: request.sessionTimeoutMs, joinRequest: id)
        let supportsSkip = request.apiVersion >= 9
        member.awaitingJoinSupportsSkip = supportsSkip
        switch group.state {
        case .stable:
            if let selected = group.protocolName, selected == group.selectProtocol() {
                var assignment: [String: [UInt8]] = [:]
                for member in group.allMembers { assignment[member.memberId] = member.assignment }
                persist([.groupMetadata(groupId: group.groupId, value: group.metadataValue(assignment: assignment))])
                guard let pending = group.takeJoin(member) else { return }
                var response = JoinGroupResponse(
                    errorCode: .none, generationId: group.generationId, protocolType: group.protocolType,
                    protocolName: group.protocolName, leader: group.leaderId ?? "", skipAssignment: false,
                    memberId: newMemberId, members: [])
                if supportsSkip {
                    // KIP-814: a rejoining static leader gets the members but must not reassign.
                    let isLeader = group.isLeader(newMemberId)
                    response.skipAssignment = isLeader
                    response.members = isLeader ? group.currentMemberMetadata() : []
                } else {
                    // Older clients: the old leader id keeps the member from running a pointless assignment.
                    response.leader = currentLeader
                }
                respond(pending, .joinGroup(response))
            } else {
                maybePrepareRebalance(group)
            }
        case .completingRebalance:
            // The leader may not know about the new member id: rebalance again.
            maybePrepareRebalance(group)
        case .preparingRebalance, .empty, .dead:
            // Preparing: the new JoinGroup is answered when the rebalance completes.
            break
        }
    }

    // MARK: rebalance

    func maybePrepareRebalance(_ group: ClassicGroup) {
        if group.canRebalance { prepareRebalance(group) }
    }

    func prepareRebalance(_ group: ClassicGroup) {
        if group.is(.completingRebalance) { resetAndPropagateAssignmentError(group, .rebalanceInProgress) }
        group.syncDeadline = nil
        if group.is(.empty) {
            // group.initial.rebalance.delay.ms: wait for more members before the first generation.
            let delay = config.groupInitialRebalanceDelayMs
            group.initialJoin = (delay, max(group.rebalanceTimeoutMs - delay, 0))
            group.joinDeadline = now + Int64(delay)
        } else {
            group.initialJoin = nil
            group.joinDeadline = now + Int64(group.rebalanceTimeoutMs)
        }
        group.transition(to: .preparingRebalance)
        checkJoinCompletion(group)
    }

    /// Kafka's DelayedJoin.tryComplete: complete as soon as every member (and pending member) has joined.
    /// The initial delayed join never completes early.
    func checkJoinCompletion(_ group: ClassicGroup) {
        guard group.is(.preparingRebalance), group.initialJoin == nil, group.hasAllMembersJoined else { return }
        onCompleteJoin(group)
    }

    /// The delayed join's deadline passed.
    func expireJoin(_ group: ClassicGroup) {
        guard group.is(.preparingRebalance) else {
            group.joinDeadline = nil
            group.initialJoin = nil
            return
        }
        if let initial = group.initialJoin, group.newMemberAdded, initial.remainingMs != 0 {
            // Kafka's InitialDelayedJoin: members keep arriving, so wait once more (bounded by the
            // rebalance timeout).
            group.newMemberAdded = false
            let delay = min(config.groupInitialRebalanceDelayMs, initial.remainingMs)
            let remaining = max(initial.remainingMs - initial.delayMs, 0)
            group.initialJoin = (delay, remaining)
            group.joinDeadline = now + Int64(delay)
        } else {
            onCompleteJoin(group)
        }
    }

    func onCompleteJoin(_ group: ClassicGroup) {
        group.joinDeadline = nil
        group.initialJoin = nil
        // Dynamic members that did not rejoin in time are gone; static ones stay until their session expires.
        for member in group.allMembers where !member.isAwaitingJoin && !member.isStaticMember {
            group.remove(member.memberId)
            member.heartbeatDeadline = nil
            if let pending = member.awaitingSync { abandon(pending) }
        }
        if group.is(.dead) { return }
        if !group.maybeElectNewJoinedLeader() && !group.isEmpty {
            // No member rejoined: wait another rebalance timeout for sessions to expire.
            group.joinDeadline = now + Int64(group.rebalanceTimeoutMs)
            return
        }
        group.initNextGeneration(now: now)
        if group.is(.empty) {
            persist([.groupMetadata(groupId: group.groupId, value: group.metadataValue(assignment: [:]))])
            return
        }
        for member in group.allMembers {
            let isLeader = group.isLeader(member.memberId)
            let response = JoinGroupResponse(
                errorCode: .none, generationId: group.generationId, protocolType: group.protocolType,
                protocolName: group.protocolName, leader: group.leaderId ?? "", skipAssignment: false,
                memberId: member.memberId, members: isLeader ? group.currentMemberMetadata() : [])
            if let pending = group.takeJoin(member) { respond(pending, .joinGroup(response)) }
            member.heartbeatDeadline = now + Int64(member.sessionTimeoutMs)
            member.isNew = false
        }
        group.addPendingSyncMembers()
        group.syncDeadline = (now + Int64(group.rebalanceTimeoutMs), group.generationId)
    }

    func resetAndPropagateAssignmentError(_ group: ClassicGroup, _ error: GroupErrorCode) {
        for member in group.allMembers { member.assignment = [] }
        propagateAssignment(group, error)
    }

    func propagateAssignment(_ group: ClassicGroup, _ error: GroupErrorCode) {
        for member in group.allMembers {
            guard let pending = group.takeSync(member) else { continue }
            respond(
                pending,
                .syncGroup(
                    SyncGroupResponse(
                        errorCode: error, protocolType: error == .none ? group.protocolType : nil,
                        protocolName: error == .none ? group.protocolName : nil, assignment: member.assignment)))
            // Expirations that fired while the member waited were ignored; schedule the next one.
            member.heartbeatDeadline = now + Int64(member.sessionTimeoutMs)
        }
    }

    /// Kafka's `removeMemberAndUpdateGroup`, used for leaves and session expiry.
    func removeMemberAndUpdateGroup(_ group: ClassicGroup, _ member: ClassicMember) {
        if let pending = group.takeJoin(member) { respond(pending, .joinGroup(.error(.unknownMemberId))) }
        if let pending = member.awaitingSync { abandon(pending) }
        member.awaitingSync = nil
        group.remove(member.memberId)
        member.heartbeatDeadline = nil
        switch group.state {
        case .dead, .empty: break
        case .stable, .completingRebalance: maybePrepareRebalance(group)
        case .preparingRebalance: checkJoinCompletion(group)
        }
    }

    // MARK: SyncGroup

    func syncGroup(_ request: SyncGroupRequest, id: RequestID) {
        let reply = { (code: GroupErrorCode) in self.respond(id, .syncGroup(SyncGroupResponse(errorCode: code))) }
        guard !request.groupId.isEmpty else { return reply(.invalidGroupId) }
        guard let group = classicGroups[request.groupId] else { return reply(.unknownMemberId) }
        if group.is(.dead) { return reply(.coordinatorNotAvailable) }
        if group.isStaticMemberFenced(instanceId: request.groupInstanceId, memberId: request.memberId) {
            return reply(.fencedInstanceId)
        }
        guard let member = group.get(request.memberId) else { return reply(.unknownMemberId) }
        if request.generationId != group.generationId { return reply(.illegalGeneration) }
        if let protocolType = request.protocolType, group.protocolType != protocolType {
            return reply(.inconsistentGroupProtocol)
        }
        if let protocolName = request.protocolName, group.protocolName != protocolName {
            return reply(.inconsistentGroupProtocol)
        }
        switch group.state {
        case .empty:
            reply(.unknownMemberId)
        case .preparingRebalance:
            reply(.rebalanceInProgress)
        case .completingRebalance:
            if let earlier = member.awaitingSync, earlier != id { abandon(earlier) }
            member.awaitingSync = id
            removePendingSyncMember(group, request.memberId)
            guard group.isLeader(request.memberId) else { return }
            var assignment: [String: [UInt8]] = [:]
            for entry in request.assignments { assignment[entry.memberId] = entry.assignment }
            for member in group.allMembers where assignment[member.memberId] == nil { assignment[member.memberId] = [] }
            persist([.groupMetadata(groupId: group.groupId, value: group.metadataValue(assignment: assignment))])
            for member in group.allMembers { member.assignment = assignment[member.memberId] ?? [] }
            propagateAssignment(group, .none)
            group.transition(to: .stable)
        case .stable:
            removePendingSyncMember(group, request.memberId)
            respond(
                id,
                .syncGroup(
                    SyncGroupResponse(
                        errorCode: .none, protocolType: group.protocolType, protocolName: group.protocolName,
                        assignment: member.assignment)))
            member.heartbeatDeadline = now + Int64(member.sessionTimeoutMs)
        case .dead:
            reply(.coordinatorNotAvailable)
        }
    }

    private func removePendingSyncMember(_ group: ClassicGroup, _ memberId: String) {
        group.removePendingSyncMember(memberId)
        if group.hasReceivedSyncFromAllMembers { group.syncDeadline = nil }
    }

    /// Members that did not send SyncGroup within the rebalance timeout are removed and the group rebalances.
    func expirePendingSync(_ group: ClassicGroup) {
        guard let sync = group.syncDeadline else { return }
        group.syncDeadline = nil
        guard sync.generation == group.generationId, group.is(.completingRebalance) || group.is(.stable),
            !group.hasReceivedSyncFromAllMembers
        else { return }
        for memberId in group.pendingSyncMembers.sorted() {
            guard let member = group.remove(memberId) else { continue }
            member.heartbeatDeadline = nil
            if let pending = member.awaitingJoin { abandon(pending) }
            if let pending = member.awaitingSync { abandon(pending) }
        }
        prepareRebalance(group)
    }

    // MARK: Heartbeat

    func heartbeat(_ request: HeartbeatRequest, id: RequestID) {
        let reply = { (code: GroupErrorCode) in self.respond(id, .heartbeat(HeartbeatResponse(errorCode: code))) }
        guard !request.groupId.isEmpty else { return reply(.invalidGroupId) }
        guard let group = classicGroups[request.groupId] else { return reply(.unknownMemberId) }
        if group.is(.dead) { return reply(.coordinatorNotAvailable) }
        if group.isStaticMemberFenced(instanceId: request.groupInstanceId, memberId: request.memberId) {
            return reply(.fencedInstanceId)
        }
        guard let member = group.get(request.memberId) else { return reply(.unknownMemberId) }
        if request.generationId != group.generationId { return reply(.illegalGeneration) }
        switch group.state {
        case .empty, .dead:
            reply(.unknownMemberId)
        case .completingRebalance, .stable:
            member.heartbeatDeadline = now + Int64(member.sessionTimeoutMs)
            reply(.none)
        case .preparingRebalance:
            member.heartbeatDeadline = now + Int64(member.sessionTimeoutMs)
            reply(.rebalanceInProgress)
        }
    }

    /// A member's heartbeat expiration fired (Kafka's onExpireHeartbeat).
    func expireHeartbeat(_ group: ClassicGroup, _ member: ClassicMember) {
        member.heartbeatDeadline = nil
        // Members waiting for a JoinGroup or SyncGroup response count as alive, except new members.
        let satisfied = !member.isNew && (member.isAwaitingJoin || member.isAwaitingSync)
        if !satisfied { removeMemberAndUpdateGroup(group, member) }
    }

    func expirePendingMember(_ group: ClassicGroup, _ memberId: String) {
        group.remove(memberId)
        if group.is(.preparingRebalance) { checkJoinCompletion(group) }
    }

    // MARK: LeaveGroup

    func leaveGroup(_ request: LeaveGroupRequest, id: RequestID) {
        guard !request.groupId.isEmpty else {
            return respond(id, .leaveGroup(LeaveGroupResponse(errorCode: .invalidGroupId, members: [])))
        }
        func result(_ member: LeaveGroupMember, _ code: GroupErrorCode) -> LeaveGroupResponse.Member {
            .init(memberId: member.memberId, groupInstanceId: member.groupInstanceId, errorCode: code)
        }
        guard let group = classicGroups[request.groupId] else {
            return respond(
                id,
                .leaveGroup(
                    LeaveGroupResponse(errorCode: .none, members: request.members.map { result($0, .unknownMemberId) }))
            )
        }
        if group.is(.dead) {
            return respond(id, .leaveGroup(LeaveGroupResponse(errorCode: .coordinatorNotAvailable, members: [])))
        }
        var results: [LeaveGroupResponse.Member] = []
        for leaving in request.members {
            if leaving.memberId.isEmpty {
                // Admin removal of a static member by instance id.
                if let memberId = group.staticMemberId(leaving.groupInstanceId), let member = group.get(memberId) {
                    removeMemberAndUpdateGroup(group, member)
                    results.append(result(leaving, .none))
                } else {
                    results.append(result(leaving, .unknownMemberId))
                }
            } else if group.isPendingMember(leaving.memberId) {
                expirePendingMember(group, leaving.memberId)
                results.append(result(leaving, .none))
            } else if group.isStaticMemberFenced(instanceId: leaving.groupInstanceId, memberId: leaving.memberId) {
                results.append(result(leaving, .fencedInstanceId))
            } else if let member = group.get(leaving.memberId) {
                removeMemberAndUpdateGroup(group, member)
                results.append(result(leaving, .none))
            } else {
                results.append(result(leaving, .unknownMemberId))
            }
        }
        respond(id, .leaveGroup(LeaveGroupResponse(errorCode: .none, members: results)))
    }
}
