import ArgumentParser
import Foundation
import SkeinClient
import SkeinModel

/// `skein bench rebalance`: how long the coordinator takes to form a group of many members over many partitions
/// and to rebalance it when one member joins or leaves. Each member has its own connection and speaks the
/// classic protocol (JoinGroup, SyncGroup with the range assignor computed by the leader, Heartbeat).
/// A rebalance is timed from the join (or leave) that starts it until every member has its new assignment;
/// members poll Heartbeat every 5 ms to notice it, so the figure is the coordinator's work, not a client's
/// heartbeat interval. The group's first formation also waits `group.initial.rebalance.delay.ms`.
struct RebalanceBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebalance", abstract: "Time to form and rebalance a group of many members (ms).")

    @OptionGroup var client: ClientOptions
    @Option(help: "Topic (created when missing, with --partitions).") var topic: String = "skein-rebalance-bench"
    @Option(help: "Partitions of the topic if it has to be created.") var partitions: Int32 = 1000
    @Option(help: "Members of the group.") var members: Int = 100
    @Option(help: "Rebalances to time (a member joins, then leaves, alternately).") var rounds: Int = 4
    @Option(help: "Group id (default: a fresh one).") var group: String?

    struct Member {
        let client: KafkaClient
        var memberId = ""
        var generation: Int32 = -1
        var assignment: [String: [Int32]] = [:]
    }

    func run() async throws {
        let groupId = group ?? "skein-rebalance-\(UInt32.random(in: 0...UInt32.max))"
        let admin = try KafkaClient(bootstrap: client.brokers, clientId: "skein-bench")
        if (try? await admin.partitionCount(topic)) == nil {
            try await admin.createTopic(name: topic, partitions: partitions)
        }
        let count = try await admin.partitionCount(topic)
        print("group \(groupId): \(members) members, topic \(topic) with \(count) partitions")
        var group: [Member] = []
        for i in 0..<members {
            group.append(Member(client: try KafkaClient(bootstrap: client.brokers, clientId: "bench-member-\(i)")))
        }
        let clock = ContinuousClock()
        var start = clock.now
        group = try await rebalance(group, groupId: groupId, partitionCount: count, fresh: true)
        try check(group, partitionCount: count)
        print(String(format: "formation (join of %d new members, with the initial rebalance delay): %.1f ms",
                     members, seconds(clock.now - start) * 1000))
        var timings: [Double] = []
        for round in 0..<rounds {
            start = clock.now
            if round % 2 == 0 {
                // A member joins: everyone rejoins.
                group.append(Member(client: try KafkaClient(bootstrap: client.brokers, clientId: "bench-extra")))
                group = try await rebalance(group, groupId: groupId, partitionCount: count, fresh: false)
            } else {
                let leaving = group.removeLast()
                try await leaving.client.leaveGroup(groupId, memberId: leaving.memberId)
                await leaving.client.close()
                group = try await rebalance(group, groupId: groupId, partitionCount: count, fresh: false)
            }
            let ms = seconds(clock.now - start) * 1000
            try check(group, partitionCount: count)
            timings.append(ms)
            print(String(format: "rebalance %d (%@, %d members): %.1f ms", round + 1,
                         round % 2 == 0 ? "a member joined" : "a member left", group.count, ms))
        }
        if !timings.isEmpty {
            let p = Percentiles(timings)
            print(String(format: "rebalance of %d members over %d partitions: median %.1f ms, max %.1f ms",
                         members, count, p.p50, p.max))
        }
        for m in group {
            try? await m.client.leaveGroup(groupId, memberId: m.memberId)
            await m.client.close()
        }
        await admin.close()
    }

    /// Every member (re)joins and syncs; existing members first wait for Heartbeat to say a rebalance started
    /// (a new member's join or a leave starts it).
    func rebalance(_ group: [Member], groupId: String, partitionCount: Int32, fresh: Bool) async throws -> [Member] {
        let topic = self.topic
        let joined = try await withThrowingTaskGroup(of: (Int, JoinedGroup).self) { tasks in
            for (i, m) in group.enumerated() {
                tasks.addTask {
                    if !fresh && m.generation >= 0 {
                        while try await m.client.heartbeat(groupId, generationId: m.generation, memberId: m.memberId)
                            == .none
                        {
                            try await Task.sleep(for: .milliseconds(5))
                        }
                    }
                    var memberId = m.memberId
                    while true {
                        let joined = try await m.client.joinGroup(groupId, memberId: memberId, topics: [topic])
                        // A coordinator that moved (a new leader of its partition) forgets pending and new members:
                        // join again as a new member, as clients do.
                        guard joined.errorCode == .unknownMemberId && !memberId.isEmpty else { return (i, joined) }
                        memberId = ""
                    }
                }
            }
            var result: [(Int, JoinedGroup)] = []
            for try await r in tasks { result.append(r) }
            return result
        }
        var updated = group
        for (i, j) in joined {
            guard j.errorCode == .none else { throw KafkaError(j.errorCode, resource: "JoinGroup of member \(i)") }
            updated[i].memberId = j.memberId
            updated[i].generation = j.generationId
        }
        let leader = joined.first { $0.1.isLeader }?.1
        let plan = leader.map {
            KafkaClient.rangeAssignment(members: $0.members, partitions: [topic: partitionCount])
        } ?? [:]
        let synced = try await withThrowingTaskGroup(of: (Int, [String: [Int32]]).self) { tasks in
            for (i, m) in updated.enumerated() {
                tasks.addTask {
                    let isLeader = m.memberId == leader?.memberId
                    do {
                        return (i, try await m.client.syncGroup(
                            groupId, generationId: m.generation, memberId: m.memberId,
                            assignments: isLeader ? plan : [:]))
                    } catch let error as KafkaError where error.code == .rebalanceInProgress {
                        return (i, [:])  // another rebalance started: the round is repeated
                    }
                }
            }
            var result: [(Int, [String: [Int32]])] = []
            for try await r in tasks { result.append(r) }
            return result
        }
        for (i, a) in synced { updated[i].assignment = a }
        if updated.contains(where: { $0.assignment.isEmpty && !(plan[$0.memberId]?.isEmpty ?? true) }) {
            return try await rebalance(updated, groupId: groupId, partitionCount: partitionCount, fresh: false)
        }
        return updated
    }

    /// Every partition assigned exactly once, to members of one generation.
    func check(_ group: [Member], partitionCount: Int32) throws {
        var owned: [Int32] = []
        for m in group { owned += m.assignment[topic] ?? [] }
        guard owned.sorted() == Array(0..<partitionCount), Set(group.map(\.generation)).count == 1 else {
            throw ValidationError("the assignment does not cover every partition exactly once")
        }
    }
}
