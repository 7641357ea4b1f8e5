import SkeinModel
import SkeinRaft
import SkeinSimulation
import Testing

// Tests tied to claims of the Raft paper (Ongaro & Ousterhout, "In Search of an Understandable Consensus
// Algorithm", extended version), in the spirit of etcd's raft_paper_test.go, plus etcd's extensions
// (pre-vote, check-quorum, leader transfer). Indices start at 0 (Kafka offsets): the empty log ends at -1@0.

private let n1: BrokerId = 1
private let n2: BrokerId = 2
private let n3: BrokerId = 3

/// A persisted log whose entries have the given terms, starting at index 0.
private func logState(terms: [Int64], term: Int64? = nil) -> RaftPersistentState {
    let entries = terms.enumerated().map {
        LogEntry(index: Int64($0.offset), term: $0.element, payload: [UInt8($0.offset)])
    }
    return RaftPersistentState(
        hardState: HardState(term: term ?? terms.last ?? 0, votedFor: .none, commit: -1), entries: entries)
}

private func electedNetwork(seed: UInt64 = 7, configure: (inout RaftConfig) -> Void = { _ in }) -> RaftTestNetwork {
    var net = RaftTestNetwork(ids: [n1, n2, n3], seed: seed, configure: configure)
    net.campaign(n1)
    return net
}

@Suite("Raft paper claims")
struct RaftPaperTests {
    @Test("§5.2: replicas that hear no leader elect exactly one, and all followers learn it")
    func electionOfOneLeader() {
        for seed in UInt64(1)...20 {
            var net = RaftTestNetwork(ids: [n1, n2, n3, 4, 5], seed: seed)
            var rounds = 0
            while net.leaders.isEmpty && rounds < 100 {
                net.tickAll()
                rounds += 1
            }
            #expect(net.leaders.count == 1, "seed \(seed)")
            guard let leader = net.leaders.first else { continue }
            for id in net.ids {
                #expect(net.nodes[id]!.leader == leader.id)
                #expect(net.nodes[id]!.term == leader.term)
            }
        }
    }

    @Test("§5.2: election timeouts are randomized within [electionTicks, 2 * electionTicks)")
    func randomizedElectionTimeout() {
        var observed = Set<Int>()
        for seed in UInt64(1)...50 {
            let config = RaftConfig(id: n1, voters: [n1, n2, n3], preVote: false)
            var node = RaftNode(config: config, random: SeededRandom(seed: seed))
            var ticks = 0
            while node.role == .follower {
                node.tick()
                ticks += 1
            }
            #expect(ticks >= 10 && ticks < 20)
            observed.insert(ticks)
        }
        #expect(observed.count > 3, "timeouts should vary")
    }

    @Test("§5.1: a replica rejects a message of a stale term and tells the sender its term")
    func rejectsStaleTerm() {
        var net = RaftTestNetwork(ids: [n1, n2, n3])
        net.reset(n2, state: logState(terms: [1, 2], term: 3))
        var node = net.nodes[n2]!
        node.step(
            RaftMessage(
                from: n1, to: n2, term: 2,
                kind: .append(
                    prev: LogPosition(index: 1, term: 2), entries: [LogEntry(index: 2, term: 2, payload: [9])],
                    commit: 2)))
        #expect(node.log.lastIndex == 1)
        #expect(node.term == 3)
        #expect(node.commitIndex == -1)
        let out = node.ready().messages
        #expect(out.count == 1 && out[0].term == 3 && out[0].to == n1)
    }

    @Test("§5.1: a leader or candidate that sees a higher term becomes a follower of it")
    func higherTermDeposes() {
        var net = electedNetwork()
        #expect(net.nodes[n1]!.role == .leader)
        net.nodes[n1]!.step(RaftMessage(from: n2, to: n1, term: 5, kind: .heartbeatResponse))
        #expect(net.nodes[n1]!.role == .follower)
        #expect(net.nodes[n1]!.term == 5)
    }

    @Test("§5.2: a replica votes for at most one candidate per term, and the vote survives a restart")
    func votesOncePerTerm() {
        var net = RaftTestNetwork(ids: [n1, n2, n3]) { $0.preVote = false }
        let last = LogPosition.empty
        net.nodes[n3]!.step(RaftMessage(from: n1, to: n3, term: 1, kind: .vote(last: last, transfer: false)))
        let first = net.drainReady(n3)
        #expect(first.map(\.kind) == [.voteResponse(granted: true)])
        #expect(net.storage[n3]!.hardState.votedFor == n1)
        net.crash(n3)
        net.restart(n3)
        net.nodes[n3]!.step(RaftMessage(from: n2, to: n3, term: 1, kind: .vote(last: last, transfer: false)))
        #expect(net.drainReady(n3).map(\.kind) == [.voteResponse(granted: false)])
        // The same candidate asking again (a duplicate) gets the same answer.
        net.nodes[n3]!.step(RaftMessage(from: n1, to: n3, term: 1, kind: .vote(last: last, transfer: false)))
        #expect(net.drainReady(n3).map(\.kind) == [.voteResponse(granted: true)])
    }

    @Test("§5.4.1: a replica denies its vote to a candidate whose log is less up to date")
    func votesOnlyForUpToDateLogs() {
        var net = RaftTestNetwork(ids: [n1, n2, n3]) { $0.preVote = false }
        net.reset(n3, state: logState(terms: [1, 2, 2], term: 2))
        let cases: [(LogPosition, Bool)] = [
            (LogPosition(index: 2, term: 1), false), (LogPosition(index: 1, term: 2), false),
            (LogPosition(index: 2, term: 2), true), (LogPosition(index: 0, term: 3), true),
        ]
        for (k, (last, granted)) in cases.enumerated() {
            net.reset(n3, state: logState(terms: [1, 2, 2], term: 2))
            net.nodes[n3]!.step(
                RaftMessage(from: n1, to: n3, term: 3 + Int64(k), kind: .vote(last: last, transfer: false)))
            #expect(net.drainReady(n3).map(\.kind) == [.voteResponse(granted: granted)], "case \(k)")
        }
    }

    @Test("§5.3: a follower rejects an append whose previous entry does not match, with a hint")
    func rejectsMismatchedAppend() {
        var net = RaftTestNetwork(ids: [n1, n2, n3])
        net.reset(n2, state: logState(terms: [1, 1, 2, 2, 2], term: 2))
        net.nodes[n2]!.step(
            RaftMessage(
                from: n1, to: n2, term: 4,
                kind: .append(prev: LogPosition(index: 4, term: 3), entries: [], commit: -1)))
        let out = net.drainReady(n2)
        // The follower's last entry at or below 4 with term <= 3 is 4@2: the leader can skip term 3 at once.
        #expect(out.map(\.kind) == [.appendResponse(.rejected(prevIndex: 4, hint: LogPosition(index: 4, term: 2)))])
    }

    @Test("§5.3: a follower truncates a divergent suffix and appends the leader's entries")
    func truncatesDivergentSuffix() {
        var net = RaftTestNetwork(ids: [n1, n2, n3])
        net.reset(n2, state: logState(terms: [1, 1, 2, 2], term: 2))
        let entries = [LogEntry(index: 2, term: 3, payload: [42]), LogEntry(index: 3, term: 3, payload: [43])]
        net.nodes[n2]!.step(
            RaftMessage(
                from: n1, to: n2, term: 3,
                kind: .append(prev: LogPosition(index: 1, term: 1), entries: entries, commit: 2)))
        let out = net.drainReady(n2)
        #expect(out.map(\.kind) == [.appendResponse(.accepted(match: 3))])
        #expect(net.storage[n2]!.entries.map(\.term) == [1, 1, 3, 3])
        #expect(net.storage[n2]!.hardState.commit == 2)
        #expect(net.applied[n2]!.map(\.index) == [0, 1, 2])
        // Re-delivering the same append (a duplicate) changes nothing.
        net.nodes[n2]!.step(
            RaftMessage(
                from: n1, to: n2, term: 3,
                kind: .append(prev: LogPosition(index: 1, term: 1), entries: entries, commit: 2)))
        _ = net.drainReady(n2)
        #expect(net.storage[n2]!.entries.map(\.term) == [1, 1, 3, 3])
    }

    @Test("§5.3 (figure 7): a new leader brings every kind of divergent follower to its log")
    func leaderSyncsFollowerLogs() {
        let leaderTerms: [Int64] = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]
        let followers: [[Int64]] = [
            [1, 1, 1, 4, 4, 5, 5, 6, 6],
            [1, 1, 1, 4],
            [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
            [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
            [1, 1, 1, 4, 4, 4, 4],
            [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
        ]
        for (k, terms) in followers.enumerated() {
            var net = RaftTestNetwork(ids: [n1, n2, n3]) { $0.preVote = false }
            net.reset(n1, state: logState(terms: leaderTerms, term: 7))
            net.reset(n2, state: logState(terms: terms, term: 7))
            net.campaign(n1)
            #expect(net.nodes[n1]!.role == .leader, "case \(k)")
            #expect(net.nodes[n2]!.log == net.nodes[n1]!.log, "case \(k)")
            #expect(net.nodes[n2]!.commitIndex == 10, "case \(k)")
            let appends = net.trace.filter { $0.hasPrefix("1->2") && $0.contains("append ") }.count
            #expect(appends <= 6, "fast backtracking should need few round trips (case \(k): \(appends))")
        }
    }

    @Test("§5.4.2: a leader commits an entry of an earlier term only through one of its own term")
    func commitsOnlyCurrentTermByCounting() {
        var net = RaftTestNetwork(ids: [n1, n2, n3]) { $0.preVote = false }
        // 1 holds 0@1 1@2 (1@2 was never committed); it becomes leader of term 3 with 2 and 3 cut off from acks.
        net.reset(n1, state: logState(terms: [1, 2], term: 2))
        net.ignore("append")
        net.campaign(n1)
        #expect(net.nodes[n1]!.role == .leader && net.nodes[n1]!.term == 3)
        #expect(net.nodes[n1]!.log.last == LogPosition(index: 2, term: 3))
        // A follower acknowledges through 1 (the term-2 entry): a majority holds it, but it must not commit.
        net.nodes[n1]!.step(RaftMessage(from: n2, to: n1, term: 3, kind: .appendResponse(.accepted(match: 1))))
        _ = net.drainReady(n1)
        #expect(net.nodes[n1]!.commitIndex == -1)
        // Once the term-3 entry is on a majority, it commits, and everything before it with it.
        net.nodes[n1]!.step(RaftMessage(from: n2, to: n1, term: 3, kind: .appendResponse(.accepted(match: 2))))
        _ = net.drainReady(n1)
        #expect(net.nodes[n1]!.commitIndex == 2)
        #expect(net.applied[n1]!.map(\.index) == [0, 1, 2])
    }

    @Test("§5.3: a leader replicates a proposal, commits it on a majority, and heartbeats spread the commit")
    func replicatesAndCommits() {
        var net = electedNetwork()
        net.ignore("heartbeat")
        net.cut(n1, n3)
        guard case .success(let pos) = net.propose(n1, [7]) else { Issue.record("proposal refused"); return }
        #expect(net.nodes[n1]!.commitIndex == pos.index)
        #expect(net.nodes[n2]!.log.entry(at: pos.index)?.payload == [7])
        #expect(net.nodes[n3]!.log.lastIndex < pos.index)
        net.recover()
        net.tick(n1, times: 3)
        #expect(net.nodes[n3]!.commitIndex == pos.index)
        #expect(net.applied[n3]!.last?.payload == [7])
        // A follower refuses proposals and names the leader.
        #expect(net.propose(n2, [8]) == .failure(.notLeader(leader: n1)))
    }

    @Test("pre-vote: a partitioned replica does not inflate its term and does not disrupt the leader on return")
    func preVotePreventsTermInflation() {
        var net = electedNetwork()
        let term = net.nodes[n1]!.term
        net.isolate(n3)
        net.tick(n3, times: 100)
        #expect(net.nodes[n3]!.term == term)
        #expect(net.nodes[n3]!.role == .preCandidate)
        net.recover()
        net.tickAll(times: 30)
        #expect(net.nodes[n1]!.role == .leader && net.nodes[n1]!.term == term)
        #expect(net.nodes[n3]!.leader == n1)

        // Without pre-vote the same partition inflates the term and the return deposes the leader.
        var plain = electedNetwork { $0.preVote = false }
        plain.isolate(n3)
        plain.tick(n3, times: 100)
        #expect(plain.nodes[n3]!.term > term + 3)
        plain.recover()
        plain.tickAll(times: 30)
        #expect(plain.nodes[n1]!.term > term)
    }

    @Test("check-quorum: a leader that does not hear from a majority for an election timeout steps down")
    func checkQuorumStepDown() {
        var net = electedNetwork()
        net.isolate(n1)
        net.tick(n1, times: 9)
        #expect(net.nodes[n1]!.role == .leader)
        net.tick(n1, times: 12)
        #expect(net.nodes[n1]!.role == .follower)
        #expect(net.propose(n1, [1]) == .failure(.notLeader(leader: .none)))
    }

    @Test("leader stickiness: followers that hear from a live leader ignore a would-be candidate")
    func leaderStickiness() {
        var net = electedNetwork()
        let term = net.nodes[n1]!.term
        net.campaign(n3)
        #expect(net.nodes[n1]!.role == .leader && net.nodes[n1]!.term == term)
        #expect(net.nodes[n3]!.term == term)
        net.tickAll(times: 5)
        #expect(net.nodes[n3]!.role == .follower && net.nodes[n3]!.leader == n1)
    }

    @Test("leader transfer: TimeoutNow makes an up-to-date target win the next term at once")
    func leaderTransfer() {
        var net = electedNetwork()
        _ = net.propose(n1, [1])
        guard case .success = net.nodes[n1]!.transferLeadership(to: n2) else {
            Issue.record("transfer refused")
            return
        }
        net.stabilize()
        #expect(net.nodes[n2]!.role == .leader)
        #expect(net.nodes[n1]!.role == .follower && net.nodes[n1]!.leader == n2)

        // A lagging target is caught up first; proposals are refused meanwhile.
        net.cut(n2, n3)
        _ = net.propose(n2, [2])
        _ = net.propose(n2, [3])
        net.recover()
        net.ignore("heartbeat")
        net.ignore("append")
        _ = net.nodes[n2]!.transferLeadership(to: n3)
        #expect(net.nodes[n2]!.propose([4]) == .failure(.transferInProgress))
        net.recover()
        net.stabilize()
        net.tick(n2)
        #expect(net.nodes[n3]!.role == .leader)
        #expect(net.nodes[n3]!.log.entries.contains { $0.payload == [3] })
    }

    @Test("membership: one voter added, then the leader removed; each change commits under the new majority")
    func singleServerMembershipChanges() {
        var net = RaftTestNetwork(ids: [n1, n2, n3, 4]) { $0.voters = $0.id == 4 ? [] : [n1, n2, n3] }
        net.campaign(n1)
        #expect(net.nodes[n1]!.role == .leader)
        #expect(!net.nodes[4]!.isVoter)
        guard case .success(let add) = net.nodes[n1]!.proposeConfigChange(.addVoter(4)) else {
            Issue.record("add refused")
            return
        }
        // The new set counts at once at the leader, and only one change may be in flight.
        #expect(net.nodes[n1]!.voters == [n1, n2, n3, 4])
        #expect(net.nodes[n1]!.proposeConfigChange(.removeVoter(n2)) == .failure(.configChangeInProgress))
        net.stabilize()
        #expect(net.nodes[n1]!.commitIndex >= add.index)
        for id in net.ids { #expect(net.nodes[id]!.voters == [n1, n2, n3, 4]) }
        #expect(net.nodes[4]!.log.last == net.nodes[n1]!.log.last)

        guard case .success(let remove) = net.nodes[n1]!.proposeConfigChange(.removeVoter(n1)) else {
            Issue.record("remove refused")
            return
        }
        net.stabilize()
        #expect(net.nodes[n2]!.commitIndex >= remove.index)
        #expect(net.nodes[n1]!.role == .follower && !net.nodes[n1]!.isVoter)
        net.tickAll(times: 40)
        let leaders = net.leaders
        #expect(leaders.count == 1 && leaders.first?.id != n1)
        #expect(net.storage[4]!.entries.contains { $0.kind == .configuration })
    }

    @Test("a crash loses what was not persisted through Ready/advance, and only that")
    func crashLosesUnpersistedState() {
        var net = RaftTestNetwork(ids: [n1, n2, n3]) { $0.preVote = false }
        net.nodes[n3]!.step(RaftMessage(from: n1, to: n3, term: 1, kind: .vote(last: .empty, transfer: false)))
        net.crash(n3)
        net.restart(n3)
        #expect(net.nodes[n3]!.term == 0 && net.nodes[n3]!.votedFor == .none)
        net.nodes[n3]!.step(RaftMessage(from: n1, to: n3, term: 1, kind: .vote(last: .empty, transfer: false)))
        _ = net.drainReady(n3)
        net.crash(n3)
        net.restart(n3)
        #expect(net.nodes[n3]!.term == 1 && net.nodes[n3]!.votedFor == n1)
    }

    @Test("log start: a follower behind the leader's compacted log gets a snapshot position, then entries")
    func snapshotForLaggingFollower() {
        var net = electedNetwork()
        net.isolate(n3)
        for k in 0..<10 { _ = net.propose(n1, [UInt8(k)]) }
        let commit = net.nodes[n1]!.commitIndex
        net.nodes[n1]!.compact(through: commit - 2)
        net.storage[n1]!.compact(through: commit - 2)
        #expect(net.nodes[n1]!.log.start.index == commit - 2)
        net.recover()
        net.tick(n1, times: 4)
        #expect(net.trace.contains { $0.contains("1->3") && $0.contains("snapshot") })
        #expect(net.nodes[n3]!.log.start.index == commit - 2)
        #expect(net.storage[n3]!.logStart.index == commit - 2)
        #expect(net.nodes[n3]!.commitIndex == commit)
        #expect(net.nodes[n3]!.log.last == net.nodes[n1]!.log.last)
    }
}
