/// Partitions per topic: a KIP-848 member's (or target) assignment.
public typealias PartitionAssignment = [String: Set<Int32>]

/// What a server-side assignor sees: the members (sorted by id) and the partition counts of existing topics.
struct AssignmentSpec {
    struct Member {
        var memberId: String
        var subscribedTopics: Set<String>
        /// The member's current target assignment, which sticky assignors try to keep.
        var currentTarget: PartitionAssignment
    }
    var members: [Member]
    var topicPartitions: [String: Int32]
}

/// A KIP-848 server-side assignor.
protocol ServerAssignor {
    var name: String { get }
    func assign(_ spec: AssignmentSpec) -> [String: PartitionAssignment]
}

func makeAssignor(_ name: String) -> (any ServerAssignor)? {
    switch name {
    case "uniform": return UniformAssignor()
    case "range": return RangeAssignor()
    default: return nil
    }
}

/// The `range` assignor: per topic, the subscribed members in member-id order get contiguous ranges; the first
/// `partitions % members` of them get one more. Not sticky (Kafka's server-side range assignor also tries to
/// keep previous ranges; this one recomputes them).
struct RangeAssignor: ServerAssignor {
    let name = "range"

    func assign(_ spec: AssignmentSpec) -> [String: PartitionAssignment] {
        var result: [String: PartitionAssignment] = [:]
        for member in spec.members { result[member.memberId] = [:] }
        for topic in spec.topicPartitions.keys.sorted() {
            guard let count = spec.topicPartitions[topic], count > 0 else { continue }
            let subscribers = spec.members.filter { $0.subscribedTopics.contains(topic) }.map(\.memberId)
            guard !subscribers.isEmpty else { continue }
            let quota = Int(count) / subscribers.count
            let extra = Int(count) % subscribers.count
            var next: Int32 = 0
            for (index, memberId) in subscribers.enumerated() {
                let share = quota + (index < extra ? 1 : 0)
                guard share > 0 else { continue }
                result[memberId, default: [:]][topic] = Set(next..<(next + Int32(share)))
                next += Int32(share)
            }
        }
        return result
    }
}

/// The `uniform` assignor: every partition of the subscribed topics goes to a subscribed member, member
/// partition counts differ by at most one wherever subscriptions allow it, and members keep as much of their
/// previous target as balance permits (sticky). Kafka's UniformAssignor has the same goals with a different
/// algorithm, so exact assignments may differ.
struct UniformAssignor: ServerAssignor {
    let name = "uniform"

    func assign(_ spec: AssignmentSpec) -> [String: PartitionAssignment] {
        var owner: [TopicPartition: String] = [:]
        var owned: [String: [TopicPartition]] = [:]
        var subscribers: [String: [String]] = [:]
        for member in spec.members {
            owned[member.memberId] = []
            for topic in member.subscribedTopics where spec.topicPartitions[topic] != nil {
                subscribers[topic, default: []].append(member.memberId)
            }
        }
        let totalPartitions = subscribers.keys.reduce(0) { $0 + Int(spec.topicPartitions[$1] ?? 0) }
        // Without a cap a sticky member could keep everything; the cap is the balanced share for homogeneous
        // subscriptions and is refined by the balancing moves below for the general case.
        let cap = spec.members.isEmpty ? 0 : (totalPartitions + spec.members.count - 1) / spec.members.count
        for member in spec.members {
            for topic in member.currentTarget.keys.sorted() where member.subscribedTopics.contains(topic) {
                guard let count = spec.topicPartitions[topic] else { continue }
                for partition in (member.currentTarget[topic] ?? []).sorted() where partition < count {
                    let tp = TopicPartition(topic, partition)
                    guard owner[tp] == nil, (owned[member.memberId]?.count ?? 0) < cap else { continue }
                    owner[tp] = member.memberId
                    owned[member.memberId, default: []].append(tp)
                }
            }
        }
        func leastLoaded(_ candidates: [String]) -> String? {
            var best: String?
            for candidate in candidates {
                guard let current = best else {
                    best = candidate
                    continue
                }
                let lhs = owned[candidate]?.count ?? 0
                let rhs = owned[current]?.count ?? 0
                if lhs < rhs || (lhs == rhs && candidate < current) { best = candidate }
            }
            return best
        }
        for topic in subscribers.keys.sorted() {
            guard let count = spec.topicPartitions[topic], let candidates = subscribers[topic] else { continue }
            for partition in 0..<count {
                let tp = TopicPartition(topic, partition)
                guard owner[tp] == nil, let target = leastLoaded(candidates) else { continue }
                owner[tp] = target
                owned[target, default: []].append(tp)
            }
        }
        // Balance: move a partition from a member to an eligible member with at least two fewer partitions.
        // Every move lowers the sum of squared counts, so this terminates.
        var moved = true
        while moved {
            moved = false
            let byLoad = spec.members.map(\.memberId).sorted {
                let lhs = owned[$0]?.count ?? 0
                let rhs = owned[$1]?.count ?? 0
                return lhs != rhs ? lhs > rhs : $0 < $1
            }
            search: for donor in byLoad {
                let donorCount = owned[donor]?.count ?? 0
                for tp in (owned[donor] ?? []).sorted().reversed() {
                    guard let target = leastLoaded(subscribers[tp.topic] ?? []),
                        (owned[target]?.count ?? 0) + 1 < donorCount
                    else { continue }
                    owned[donor]?.removeAll { $0 == tp }
                    owned[target, default: []].append(tp)
                    owner[tp] = target
                    moved = true
                    break search
                }
            }
        }
        var result: [String: PartitionAssignment] = [:]
        for member in spec.members {
            var assignment: PartitionAssignment = [:]
            for tp in owned[member.memberId] ?? [] { assignment[tp.topic, default: []].insert(tp.partition) }
            result[member.memberId] = assignment
        }
        return result
    }
}
