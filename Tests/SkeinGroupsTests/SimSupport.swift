import SkeinModel
import Foundation
import SkeinGroups

/// A min-heap of timed events; ties keep insertion order, so runs are deterministic. Events are stored
/// apart from the heap so that sifting moves only small keys.
struct EventQueue<Event> {
    private var heap: [(time: Int64, seq: UInt64)] = []
    private var events: [UInt64: Event] = [:]
    private var seq: UInt64 = 0

    var isEmpty: Bool { heap.isEmpty }
    var count: Int { heap.count }

    mutating func push(_ time: Int64, _ event: Event) {
        seq += 1
        events[seq] = event
        heap.append((time, seq))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if less(heap[child], heap[parent]) { heap.swapAt(child, parent); child = parent } else { break }
        }
    }

    mutating func pop() -> (time: Int64, event: Event)? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count && less(heap[left], heap[smallest]) { smallest = left }
            if right < heap.count && less(heap[right], heap[smallest]) { smallest = right }
            if smallest == parent { break }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
        guard let event = events.removeValue(forKey: top.seq) else { return nil }
        return (top.time, event)
    }

    private func less(_ a: (time: Int64, seq: UInt64), _ b: (time: Int64, seq: UInt64)) -> Bool {
        a.time != b.time ? a.time < b.time : a.seq < b.seq
    }
}

/// Seeds for simulation tests: `SKEIN_SIM_SEED=<n>` runs just that seed (to replay a failure).
func simulationSeeds(_ range: ClosedRange<UInt64>) -> [UInt64] {
    if let text = ProcessInfo.processInfo.environment["SKEIN_SIM_SEED"], let seed = UInt64(text) { return [seed] }
    return Array(range)
}

extension SeededRandom {
    mutating func chance(_ p: Double) -> Bool { Double(next() % 1_000_000) / 1_000_000 < p }
    mutating func between(_ low: Int64, _ high: Int64) -> Int64 { low + Int64(next() % UInt64(high - low + 1)) }
}

/// Snapshot comparison used by simulations: what a replica rebuilds from the records must equal the live
/// state wherever the live state has been persisted (stable or empty classic groups, KIP-848 groups, offsets).
func replayMismatch(live: CoordinatorSnapshot, replayed: CoordinatorSnapshot) -> String? {
    if live.offsets != replayed.offsets { return "offsets differ: live \(live.offsets) replayed \(replayed.offsets)" }
    if live.pendingTransactionalOffsets != replayed.pendingTransactionalOffsets { return "pending offsets differ" }
    if live.consumerGroups != replayed.consumerGroups {
        return "consumer groups differ: live \(live.consumerGroups) replayed \(replayed.consumerGroups)"
    }
    for (groupId, group) in live.classicGroups {
        let persisted = group.state == .stable || (group.state == .empty && group.value.generation > 0)
        if persisted {
            if replayed.classicGroups[groupId] != group {
                return
                    "classic group \(groupId) differs: live \(group) replayed \(String(describing: replayed.classicGroups[groupId]))"
            }
        } else if let stored = replayed.classicGroups[groupId], stored.value.generation > group.value.generation {
            return "replayed generation of \(groupId) ahead of live"
        }
    }
    for groupId in replayed.classicGroups.keys where live.classicGroups[groupId] == nil {
        return "replayed has group \(groupId) the live coordinator does not"
    }
    return nil
}

/// A record through its binary form and back, as it would travel through the log.
func roundTrip(_ record: GroupRecord) -> GroupRecord {
    guard let key = record.keyBytes() else { return record }
    var producerId: Int64?
    if case .offsetCommit(_, _, _, let id) = record { producerId = id }
    guard let decoded = try? GroupRecord.decode(key: key, value: record.valueBytes(), producerId: producerId) else {
        preconditionFailure("record does not decode: \(record)")
    }
    return decoded
}
