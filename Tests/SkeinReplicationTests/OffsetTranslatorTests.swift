import Foundation
import KafkaRecords
import NIOCore
import SkeinModel
import SkeinRaft
import SkeinStorage
import Testing

@testable import SkeinReplication

@Suite("Raft indices and Kafka offsets")
struct OffsetTranslatorTests {
    /// A model log: per Raft index, nil for an internal entry or the Kafka offset of a data record.
    static func model(_ kinds: [Bool]) -> [Int64?] {
        var next: Int64 = 0
        return kinds.map { isData in
            guard isData else { return nil }
            defer { next += 1 }
            return next
        }
    }

    @Test("against a model: every data record's Kafka offset, both ways, for random logs")
    func randomLogsMatchAModel() {
        var random = SeededRandom(seed: 7)
        for _ in 0..<2000 {
            let length = Int(random.next() % 40)
            let kinds = (0..<length).map { _ in random.next() % 4 != 0 }
            let model = Self.model(kinds)
            var t = OffsetTranslator()
            for (r, k) in model.enumerated() where k == nil {
                let appended = t.append(raft: Int64(r))
                #expect(appended)
            }
            var kafkaEnd: Int64 = 0
            for (r, k) in model.enumerated() {
                #expect(t.isInternal(Int64(r)) == (k == nil))
                if let k {
                    #expect(t.kafkaOffset(atRaft: Int64(r)) == k)
                    #expect(t.raftIndex(ofKafka: k) == Int64(r))
                    kafkaEnd = k + 1
                } else {
                    // An internal entry: the offset the next record gets.
                    #expect(t.kafkaOffset(atRaft: Int64(r)) == kafkaEnd)
                }
            }
            #expect(t.kafkaOffset(atRaft: Int64(length)) == kafkaEnd)
            #expect(t.raftEnd(kafkaEnd: kafkaEnd) == Int64(length) - 1)
            // A cut anywhere, then the model's prefix.
            let cut = Int64(random.next() % UInt64(length + 1))
            t.truncate(fromRaft: cut)
            let prefix = Array(model.prefix(Int(cut)))
            let prefixEnd = (prefix.compactMap { $0 }.last ?? -1) + 1
            #expect(t.raftEnd(kafkaEnd: prefixEnd) == cut - 1)
            #expect(t.kafkaOffset(atRaft: cut) == prefixEnd)
        }
    }

    @Test("an inconsistent mark is refused")
    func inconsistentMarks() {
        var t = OffsetTranslator()
        let appended = t.append(raft: 0)
        #expect(appended)
        #expect(!OffsetTranslator(marks: t.marks).canAppend(.init(raft: 0, kafka: 0)))
        #expect(!t.canAppend(.init(raft: 5, kafka: 3)))
        #expect(t.canAppend(.init(raft: 5, kafka: 4)))
    }
}

@Suite("Replica store: Raft entries over the Kafka log and raft-internal", .serialized)
struct ReplicaStoreTests {
    let dir = NSTemporaryDirectory() + "skein-store-\(UUID().uuidString)"

    func dataEntry(raft: Int64, kafka: Int64, term: Int64, count: Int) throws -> LogEntry {
        let records = (0..<count).map {
            Record(offsetDelta: Int32($0), timestampDelta: 0, key: nil, value: ByteBuffer(bytes: [UInt8($0)]))
        }
        let b = try RecordBatchBuilder.build(
            header: RecordBatchHeader(
                baseOffset: kafka, partitionLeaderEpoch: Int32(term), baseTimestamp: 1_700_000_000_000),
            records: records)
        return LogEntry(index: raft, term: term, payload: Array(b.readableBytesView), count: Int64(count))
    }

    func noop(raft: Int64, term: Int64) -> LogEntry {
        LogEntry(
            index: raft, term: term, kind: .leaderNoop,
            payload: ReplicaStore.leaderChangeBatch(at: LogPosition(index: raft, term: term), timestamp: 0))
    }

    func ready(_ entries: [LogEntry], commit: Int64) -> Ready {
        var r = Ready()
        r.entries = entries
        r.hardState = HardState(term: entries.last?.term ?? 1, votedFor: 1, commit: commit)
        return r
    }

    @Test("no-ops take a Raft index and no Kafka offset; a reload gives the same entries; a cut removes both kinds")
    func persistLoadTruncate() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var log = try PartitionLog(directory: dir, clock: WallClock())
        var store = try ReplicaStore(log: log)
        // Raft: 0 no-op(t1), 1-3 data [0,2] (t1), 4 no-op (t2), 5-6 data [3,4] (t2), 7 no-op (t3).
        let entries = [
            noop(raft: 0, term: 1), try dataEntry(raft: 1, kafka: 0, term: 1, count: 3), noop(raft: 4, term: 2),
            try dataEntry(raft: 5, kafka: 3, term: 2, count: 2), noop(raft: 7, term: 3),
        ]
        try store.persist(ready(entries, commit: 4))
        #expect(log.logEndOffset == 5)
        #expect(store.raftEnd == 7)
        #expect(store.kafkaOffset(atRaft: 8) == 5)
        #expect(store.raftIndex(ofKafka: 3) == 5)
        // Every batch in the Kafka log is a data batch at its Kafka offsets: nothing a consumer must skip.
        let batches = try store.batches(from: 0, through: 4)
        #expect(batches.map(\.baseOffset) == [0, 3])
        #expect(batches.allSatisfy { !$0.attributes.isControl })

        try log.close()
        log = try PartitionLog(directory: dir, clock: WallClock())
        store = try ReplicaStore(log: log)
        let state = try store.load()
        #expect(state.logStart == LogPosition(index: 4, term: 2))
        #expect(state.entries.map(\.index) == [5, 7])
        #expect(state.entries.map(\.kind) == [.data, .leaderNoop])
        #expect(try store.entries(from: 0, through: 7).map(\.index) == [0, 1, 4, 5, 7])
        #expect(try store.entries(from: 0, through: 7) == entries)

        // A new leader overwrites from Raft index 5: data and no-op after it go, then new entries land.
        try store.persist(ready([noop(raft: 5, term: 4), try dataEntry(raft: 6, kafka: 3, term: 4, count: 1)], commit: 4))
        #expect(log.logEndOffset == 4)
        #expect(store.raftEnd == 6)
        #expect(try store.entries(from: 4, through: 6).map(\.kind) == [.leaderNoop, .leaderNoop, .data])
        // A data entry whose header disagrees with its Raft index is refused.
        #expect(throws: StorageError.self) {
            try store.persist(ready([try dataEntry(raft: 7, kafka: 9, term: 4, count: 1)], commit: 4))
        }
        try log.close()
    }

    @Test("a torn raft-internal record is cut, and a record whose data is gone ends the log")
    func tornInternalFile() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var log = try PartitionLog(directory: dir, clock: WallClock())
        var store = try ReplicaStore(log: log)
        try store.persist(
            ready(
                [noop(raft: 0, term: 1), try dataEntry(raft: 1, kafka: 0, term: 1, count: 2), noop(raft: 3, term: 2)],
                commit: 0))
        try log.close()
        // Garbage after the last record (a torn append).
        let handle = FileHandle(forWritingAtPath: dir + "/raft-internal")!
        handle.seekToEndOfFile()
        handle.write(Data([0, 0, 0, 40, 1, 2, 3]))
        try handle.close()
        log = try PartitionLog(directory: dir, clock: WallClock())
        store = try ReplicaStore(log: log)
        #expect(store.raftEnd == 3)
        // The data before the second no-op lost (unsynced writes): that no-op goes too.
        try log.truncate(to: 1)
        try log.close()
        log = try PartitionLog(directory: dir, clock: WallClock())
        store = try ReplicaStore(log: log)
        #expect(store.translator.marks == [.init(raft: 0, kafka: 0)])
        #expect(store.raftEnd == 0)
        try log.close()
    }
}
