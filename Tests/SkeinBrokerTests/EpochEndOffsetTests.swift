import Foundation
import KafkaRecords
import NIOCore
import SkeinModel
import SkeinStorage
import Testing

@testable import SkeinBroker

private struct FixedClock: SkeinModel.Clock {
    var nowMillis: Int64 { 1_700_000_000_000 }
    var monotonicNanos: UInt64 { 0 }
}

@Suite("OffsetForLeaderEpoch over a replicated log")
struct EpochEndOffsetTests {
    /// Batches of 2 records: epoch 1 at offsets 0-5, epoch 3 at 6-9, epoch 4 at 10-13.
    static func log() throws -> (PartitionLog, String) {
        let dir = NSTemporaryDirectory() + "skein-epochs-\(UUID().uuidString)"
        let log = try PartitionLog(directory: dir, clock: FixedClock())
        var offset: Int64 = 0
        for epoch: Int32 in [1, 1, 1, 3, 3, 4, 4] {
            let records = (0..<2).map {
                Record(offsetDelta: Int32($0), timestampDelta: 0, key: nil, value: ByteBuffer(bytes: [1]))
            }
            let batch = try RecordBatchBuilder.build(
                header: RecordBatchHeader(baseOffset: offset, partitionLeaderEpoch: epoch, baseTimestamp: 0),
                records: records)
            _ = try log.appendAsFollower(batch)
            offset += 2
        }
        return (log, dir)
    }

    @Test("each requested epoch gets the largest epoch at or below it and where the next one starts")
    func endOffsets() throws {
        let (log, dir) = try Self.log()
        defer {
            try? log.close()
            try? FileManager.default.removeItem(atPath: dir)
        }
        func end(_ requested: Int32) throws -> (Int32, Int64) {
            let r = try Broker.clusterEpochEndOffset(log: log, currentEpoch: 4, requested: requested)
            return (r.epoch, r.endOffset)
        }
        #expect(try end(4) == (4, 14))
        #expect(try end(3) == (3, 10))
        #expect(try end(2) == (1, 6))
        #expect(try end(1) == (1, 6))
        #expect(try end(0) == (0, 0))
        #expect(try end(5) == (-1, -1))
    }

    /// Batches of 1 to 4 records with epochs that grow by 0 to 2: every answer equals a scan of the batches. (A
    /// binary search that read the batch at an offset inside a multi-record batch used to come back empty and stop
    /// early, telling consumers an epoch ended before records they had read in it.)
    @Test func randomLayoutsMatchAScan() throws {
        var rng = SeededRandom(seed: 7)
        for _ in 0..<40 {
            let dir = NSTemporaryDirectory() + "skein-epochs-\(UUID().uuidString)"
            let log = try PartitionLog(directory: dir, clock: FixedClock())
            defer {
                try? log.close()
                try? FileManager.default.removeItem(atPath: dir)
            }
            var offset: Int64 = 0
            var epoch: Int32 = Int32(rng.next() % 2)
            var layout: [(base: Int64, epoch: Int32)] = []
            for _ in 0..<(5 + Int(rng.next() % 30)) {
                epoch += Int32(rng.next() % 3 == 0 ? rng.next() % 3 : 0)
                let count = 1 + Int(rng.next() % 4)
                let records = (0..<count).map {
                    Record(offsetDelta: Int32($0), timestampDelta: 0, key: nil, value: ByteBuffer(bytes: [1]))
                }
                let batch = try RecordBatchBuilder.build(
                    header: RecordBatchHeader(baseOffset: offset, partitionLeaderEpoch: epoch, baseTimestamp: 0),
                    records: records)
                _ = try log.appendAsFollower(batch)
                layout.append((offset, epoch))
                offset += Int64(count)
            }
            let current = epoch
            for requested in Int32(0)...current {
                let got = try Broker.clusterEpochEndOffset(log: log, currentEpoch: current, requested: requested)
                let below = layout.filter { $0.epoch <= requested }.map(\.epoch).max()
                let next = layout.first { $0.epoch > requested }?.base ?? offset
                let want: (Int32, Int64) =
                    requested == current ? (current, offset) : below.map { ($0, next) } ?? (requested, 0)
                #expect(got.epoch == want.0 && got.endOffset == want.1, "requested \(requested) in \(layout)")
            }
        }
    }
}
