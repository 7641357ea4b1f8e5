import Foundation
import KafkaRecords
import NIOCore
import SkeinModel
import SkeinStorage
import SkeinTransactions
import Testing

/// A transactional producer's batch of `count` records starting at sequence `seq`.
private func transactional(pid: Int64, epoch: Int16 = 0, seq: Int32, count: Int = 2) -> ByteBuffer {
    let records = (0..<count).map { i in
        Record(offsetDelta: Int32(i), timestampDelta: 0, key: nil, value: ByteBuffer(string: "t\(pid)-\(Int(seq) + i)"))
    }
    return try! RecordBatchBuilder.build(
        records: records, baseTimestamp: testClock.nowMillis, producerId: ProducerId(pid), producerEpoch: epoch,
        baseSequence: seq, isTransactional: true)
}

private func marker(commit: Bool, pid: Int64, epoch: Int16 = 0, coordinatorEpoch: Int32 = 0) -> ByteBuffer {
    try! RecordBatchBuilder.transactionMarker(
        commit: commit, producerId: ProducerId(pid), producerEpoch: epoch, coordinatorEpoch: coordinatorEpoch,
        timestamp: testClock.nowMillis)
}

/// The transaction state a partition log keeps: the last stable offset, the aborted-transaction index, the KIP-890
/// and marker checks of the leader, and the same state rebuilt from the segments after a reopen or a truncation.
@Suite struct TransactionLogTests {
    let verified = BatchOrigin.client(verified: true)
    let markerOrigin = BatchOrigin.marker(transactionVersion: 1)

    @Test func lastStableOffsetAbortedIndexAndRebuild() throws {
        try withTemporaryDirectory { dir in
            do {
                let log = try PartitionLog(directory: dir, config: LogConfig(segmentBytes: 400), clock: testClock)
                _ = try log.appendMany([makeBatch(count: 2)], leaderEpoch: 0)  // 0-1 plain
                _ = try log.appendMany([transactional(pid: 7, seq: 0)], leaderEpoch: 0, origin: verified)  // 2-3
                _ = try log.appendMany([makeBatch(count: 2)], leaderEpoch: 0)  // 4-5 plain, after the open txn
                #expect(try log.lastStableOffset(highWatermark: log.logEndOffset) == 2)
                _ = try log.appendMany([transactional(pid: 8, seq: 0)], leaderEpoch: 0, origin: verified)  // 6-7
                _ = try log.appendMany([marker(commit: false, pid: 7)], leaderEpoch: 0, origin: markerOrigin)  // 8
                // A marker above the high watermark is not yet decided for readers.
                #expect(try log.lastStableOffset(highWatermark: 8) == 2)
                // Producer 8's transaction still holds the LSO; the abort of 7 is indexed.
                #expect(try log.lastStableOffset(highWatermark: log.logEndOffset) == 6)
                _ = try log.appendMany([marker(commit: true, pid: 8)], leaderEpoch: 0, origin: markerOrigin)  // 9
                #expect(try log.lastStableOffset(highWatermark: 10) == 10)
                #expect(
                    try log.abortedTransactions(from: 0, upTo: 10)
                        == [FetchAbortedTransaction(producerId: 7, firstOffset: 2)])
                #expect(try log.abortedTransactions(from: 9, upTo: 10).isEmpty)
                try log.close()
            }
            // Reopened: the state comes back from the segments, markers included.
            let log = try PartitionLog(directory: dir, config: LogConfig(segmentBytes: 400), clock: testClock)
            #expect(try log.lastStableOffset(highWatermark: 10) == 10)
            #expect(
                try log.abortedTransactions(from: 0, upTo: 10) == [FetchAbortedTransaction(producerId: 7, firstOffset: 2)])
            #expect(try log.producerEntry(8)?.currentTxnFirstOffset == nil)
            // A follower cutting its log back before producer 8's commit marker: its transaction is open again.
            try log.truncate(to: 9)
            #expect(try log.lastStableOffset(highWatermark: 9) == 6)
            #expect(try log.producerEntry(8)?.currentTxnFirstOffset == 6)
        }
    }

    @Test func leaderChecksOfTransactionalBatchesAndMarkers() throws {
        try withTemporaryDirectory { dir in
            let log = try PartitionLog(directory: dir, clock: testClock)
            // KIP-890: a transactional batch that would start a transaction needs the coordinator's confirmation.
            #expect(
                producerError { _ = try log.appendMany([transactional(pid: 5, seq: 0)], leaderEpoch: 0) }
                    == .invalidTxnState)
            let (needed, token) = try log.needsVerification(producerId: 5, producerEpoch: 0)
            #expect(needed)
            _ = try log.appendMany(
                [transactional(pid: 5, seq: 0)], leaderEpoch: 0, origin: verified, verificationGuard: token)
            // The transaction is ongoing: the next batch needs no confirmation.
            #expect(try !log.needsVerification(producerId: 5, producerEpoch: 0).needed)
            _ = try log.appendMany([transactional(pid: 5, seq: 2)], leaderEpoch: 0)
            // A non-transactional batch of the same producer during its transaction is refused.
            let plain = try! RecordBatchBuilder.build(
                records: [Record(offsetDelta: 0, timestampDelta: 0, key: nil, value: ByteBuffer(string: "p"))],
                baseTimestamp: testClock.nowMillis, producerId: 5, producerEpoch: 0, baseSequence: 4)
            #expect(producerError { _ = try log.appendMany([plain], leaderEpoch: 0) } == .invalidTxnState)
            // Clients may not write markers.
            #expect(producerError { _ = try log.appendMany([marker(commit: true, pid: 5)], leaderEpoch: 0) } != nil)
            // A verification taken before a marker no longer holds after it (Kafka's VerificationGuard).
            let stale = try log.needsVerification(producerId: 5, producerEpoch: 0).guard
            _ = try log.appendMany(
                [marker(commit: true, pid: 5, coordinatorEpoch: 3)], leaderEpoch: 0, origin: markerOrigin)
            #expect(
                producerError {
                    _ = try log.appendMany(
                        [transactional(pid: 5, seq: 4)], leaderEpoch: 0, origin: verified, verificationGuard: stale)
                } == .invalidTxnState)
            // A marker from an older coordinator epoch is fenced; one with an older producer epoch is refused.
            #expect(
                producerError {
                    _ = try log.appendMany(
                        [marker(commit: false, pid: 5, coordinatorEpoch: 2)], leaderEpoch: 0, origin: markerOrigin)
                } == .transactionCoordinatorFenced)
            _ = try log.appendMany(
                [marker(commit: false, pid: 5, epoch: 1, coordinatorEpoch: 3)], leaderEpoch: 0, origin: markerOrigin)
            #expect(
                producerError {
                    _ = try log.appendMany(
                        [marker(commit: true, pid: 5, epoch: 0, coordinatorEpoch: 3)], leaderEpoch: 0,
                        origin: markerOrigin)
                } == .invalidProducerEpoch)
            #expect(try log.lastStableOffset(highWatermark: log.logEndOffset) == log.logEndOffset)
        }
    }
}

/// Producer-state snapshots: written at every roll, used by the next load, removed when a truncation cuts past them.
@Suite struct ProducerSnapshotTests {
    @Test func snapshotsAtRollsGiveTheSameStateAsAFullScan() throws {
        try withTemporaryDirectory { dir in
            let config = LogConfig(segmentBytes: 300)
            var expected: (lso: Int64, aborted: [FetchAbortedTransaction], entry: ProducerEntry?)
            do {
                let log = try PartitionLog(directory: dir, config: config, clock: testClock)
                var sequences: [Int64: Int32] = [:]
                for round in 0..<12 {
                    let pid = Int64(100 + round % 3)
                    let seq = sequences[pid, default: 0]
                    let (_, token) = try log.needsVerification(producerId: pid, producerEpoch: 0)
                    _ = try log.appendMany(
                        [transactional(pid: pid, seq: seq)], leaderEpoch: 0, origin: .client(verified: true),
                        verificationGuard: token)
                    sequences[pid] = seq + 2
                    _ = try log.appendMany([makeBatch(count: 3)], leaderEpoch: 0)
                    if round % 3 == 2 || round == 11 {
                        // End the three producers' transactions, one of them aborted; leave 102's last one open.
                        for p in [Int64(100), 101] where round != 11 || p == 100 {
                            _ = try log.appendMany(
                                [marker(commit: p != 101, pid: p)], leaderEpoch: 0,
                                origin: .marker(transactionVersion: 1))
                        }
                    }
                }
                #expect(log.segmentCount > 3)
                let end = log.logEndOffset
                expected = (
                    try log.lastStableOffset(highWatermark: end), try log.abortedTransactions(from: 0, upTo: end),
                    try log.producerEntry(102)
                )
                try log.close()
            }
            let snapshots = try fileNames(dir).filter { $0.hasSuffix(".snapshot") }
            #expect(!snapshots.isEmpty && snapshots.count <= 3)
            func state() throws -> (Int64, [FetchAbortedTransaction], ProducerEntry?) {
                let log = try PartitionLog(directory: dir, config: config, clock: testClock)
                defer { try? log.close() }
                let end = log.logEndOffset
                return (
                    try log.lastStableOffset(highWatermark: end), try log.abortedTransactions(from: 0, upTo: end),
                    try log.producerEntry(102)
                )
            }
            let fromSnapshot = try state()
            #expect(fromSnapshot.0 == expected.lso && fromSnapshot.1 == expected.aborted)
            #expect(fromSnapshot.2?.currentTxnFirstOffset == expected.entry?.currentTxnFirstOffset)
            #expect(fromSnapshot.2?.lastSequence == expected.entry?.lastSequence)
            // Without the snapshots, a full scan finds the same.
            for name in snapshots { try FileManager.default.removeItem(atPath: dir + "/" + name) }
            let scanned = try state()
            #expect(scanned.0 == expected.lso && scanned.1 == expected.aborted)
            #expect(scanned.2?.lastSequence == expected.entry?.lastSequence)
        }
    }

    @Test func aTruncationRemovesTheSnapshotsPastIt() throws {
        try withTemporaryDirectory { dir in
            let log = try PartitionLog(directory: dir, config: LogConfig(segmentBytes: 300), clock: testClock)
            let (_, token) = try log.needsVerification(producerId: 9, producerEpoch: 0)
            _ = try log.appendMany(
                [transactional(pid: 9, seq: 0)], leaderEpoch: 0, origin: .client(verified: true),
                verificationGuard: token)
            for _ in 0..<8 { _ = try log.appendMany([makeBatch(count: 3)], leaderEpoch: 0) }
            let offsets = try fileNames(dir).compactMap { name -> Int64? in
                guard name.hasSuffix(".snapshot") else { return nil }
                return Int64(name.prefix(20))
            }
            #expect(offsets.count >= 2)
            let cut = offsets.sorted()[offsets.count - 2]
            try log.truncate(to: cut)
            let left = try fileNames(dir).filter { $0.hasSuffix(".snapshot") }.compactMap { Int64($0.prefix(20)) }
            #expect(left.allSatisfy { $0 <= log.logEndOffset })
            // The open transaction from offset 0 still holds the last stable offset after the reload.
            #expect(try log.lastStableOffset(highWatermark: log.logEndOffset) == 0)
        }
    }
}
