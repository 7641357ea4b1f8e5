import SkeinModel
import SkeinRaft
import SkeinSimulation
import Testing

// Entries that cover several indices: a Kafka record batch is one Raft entry whose indices are its offsets.

private let n1: BrokerId = 1
private let n2: BrokerId = 2
private let n3: BrokerId = 3

/// Entries 0-2@1, 3@1, 4-8@2, 9-10@3.
private let sample = RaftLog(
    start: .empty,
    entries: [
        LogEntry(index: 0, term: 1, payload: [0], count: 3),
        LogEntry(index: 3, term: 1, payload: [1]),
        LogEntry(index: 4, term: 2, payload: [2], count: 5),
        LogEntry(index: 9, term: 3, payload: [3], count: 2),
    ])

@Suite("Entries covering several indices")
struct BatchEntryTests {
    @Test("every index of an entry has its term; the entry's end is its position")
    func termsAndPositions() {
        #expect(sample.lastIndex == 10)
        #expect((0...2).allSatisfy { sample.term(at: $0) == 1 })
        #expect((4...8).allSatisfy { sample.term(at: $0) == 2 })
        #expect(sample.term(at: 11) == nil)
        #expect(sample.term(at: -1) == 0)
        #expect(sample.entry(at: 6)?.index == 4)
        #expect(sample.entries[2].position == LogPosition(index: 8, term: 2))
        #expect(sample.payloadBytes == 4)
        #expect(sample.isEntryEnd(8) && sample.isEntryEnd(3) && sample.isEntryEnd(-1))
        #expect(!sample.isEntryEnd(5) && !sample.isEntryEnd(0))
        #expect(sample.entryEnd(before: 6) == 3)
        #expect(sample.entryEnd(before: 1) == -1)
    }

    @Test("fast backtracking lands on entry ends only")
    func backtracking() {
        #expect(sample.lastPosition(atOrBelow: 7, termAtMost: 2) == LogPosition(index: 3, term: 1))
        #expect(sample.lastPosition(atOrBelow: 8, termAtMost: 2) == LogPosition(index: 8, term: 2))
        #expect(sample.lastPosition(atOrBelow: 20, termAtMost: 2) == LogPosition(index: 8, term: 2))
        #expect(sample.lastPosition(atOrBelow: 2, termAtMost: 0) == LogPosition(index: -1, term: 0))
    }

    @Test("entries(from:through:) returns whole entries; persisted state compacts at entry ends")
    func slicesAndCompaction() {
        #expect(sample.entries(from: 5, through: 9).map(\.index) == [4, 9])
        #expect(sample.entries(from: 0, through: 100, limit: 2).map(\.index) == [0, 3])
        var state = RaftPersistentState(entries: sample.entries)
        state.compact(through: 6)
        #expect(state.logStart == LogPosition(index: 3, term: 1))
        #expect(state.entries.map(\.index) == [4, 9])
        #expect(state.lastIndex == 10)
    }

    @Test("a leader replicates batches; followers commit whole batches; a deposed leader's batch is truncated")
    func replication() {
        var net = RaftTestNetwork(ids: [n1, n2, n3], seed: 11)
        net.campaign(n1)
        #expect(net.nodes[n1]!.role == .leader)
        // The leader's no-op sits at 0; a batch of 4 records takes offsets 1-4, the next one 5-6.
        let a = net.propose(n1, [7], count: 4)
        #expect(a == .success(LogPosition(index: 4, term: net.nodes[n1]!.term)))
        #expect(net.propose(n1, [8], count: 2) == .success(LogPosition(index: 6, term: net.nodes[n1]!.term)))
        net.tickAll(times: 2)
        for id in [n1, n2, n3] {
            #expect(net.nodes[id]!.log.lastIndex == 6)
            #expect(net.nodes[id]!.commitIndex == 6)
            #expect(net.nodes[id]!.log.entry(at: 3)?.count == 4)
        }
        // n1, cut off, takes a batch it can never commit; n2 wins the next term and writes its own batch there.
        net.isolate(n1)
        #expect(net.propose(n1, [9], count: 3) == .success(LogPosition(index: 9, term: net.nodes[n1]!.term)))
        net.tickAll(times: 40)
        #expect(net.nodes[n2]!.role == .leader || net.nodes[n3]!.role == .leader)
        let leader = net.nodes[n2]!.role == .leader ? n2 : n3
        #expect(net.propose(leader, [10], count: 5).map(\.index) == .success(12))
        net.recover()
        net.tickAll(times: 20)
        #expect(net.nodes[n1]!.log.entries == net.nodes[leader]!.log.entries)
        #expect(net.nodes[n1]!.log.entry(at: 8)?.payload == [10])
        #expect(net.nodes[n1]!.commitIndex == 12)
    }
}
