import KafkaRecords
import NIOCore
import SkeinModel
import SkeinStorage
import Testing

/// An idempotent producer's batch of `count` records starting at sequence `seq`.
private func idempotent(pid: Int64 = 4000, epoch: Int16 = 0, seq: Int32, count: Int = 2) -> ByteBuffer {
    let records = (0..<count).map { i in
        Record(offsetDelta: Int32(i), timestampDelta: 0, key: nil, value: ByteBuffer(string: "s\(Int(seq) + i)"))
    }
    return try! RecordBatchBuilder.build(
        records: records, baseTimestamp: testClock.nowMillis, producerId: ProducerId(pid), producerEpoch: epoch,
        baseSequence: seq)
}

/// The Kafka error a refused append throws, nil when it succeeds.
func producerError(_ body: () throws -> Void) -> KafkaErrorCode? {
    do {
        try body()
        return nil
    } catch let e as StorageError {
        return e.kafkaErrorCode
    } catch {
        return .unknownServerError
    }
}

@Suite struct ProducerStateLogTests {
    @Test func duplicatesAreAnsweredWithTheOriginalOffsetsAndNotStoredAgain() throws {
        try withTemporaryDirectory { dir in
            let log = try PartitionLog(directory: dir, clock: testClock)
            _ = try log.appendMany([makeBatch(count: 3)], leaderEpoch: 0)  // a plain producer's batch first
            let first = try log.appendMany([idempotent(seq: 0)], leaderEpoch: 0)[0]
            let second = try log.appendMany([idempotent(seq: 2)], leaderEpoch: 0)[0]
            #expect(first.baseOffset == 3 && second.baseOffset == 5 && !first.isDuplicate)
            let retry = try log.appendMany([idempotent(seq: 0)], leaderEpoch: 0)[0]
            #expect(retry.isDuplicate && retry.baseOffset == 3 && retry.lastOffset == 4)
            #expect(log.logEndOffset == 7)
            #expect(producerError { _ = try log.appendMany([idempotent(seq: 9)], leaderEpoch: 0) } == .outOfOrderSequenceNumber)
            #expect(producerError { _ = try log.appendMany([idempotent(epoch: 1, seq: 4)], leaderEpoch: 0) } == .outOfOrderSequenceNumber)
            _ = try log.appendMany([idempotent(epoch: 1, seq: 0)], leaderEpoch: 0)
            #expect(producerError { _ = try log.appendMany([idempotent(seq: 4)], leaderEpoch: 0) } == .invalidProducerEpoch)
            #expect(log.logEndOffset == 9)
        }
    }

    @Test func theStateIsRebuiltFromTheLogAfterAReopenAndATruncation() throws {
        try withTemporaryDirectory { dir in
            do {
                let log = try PartitionLog(directory: dir, config: LogConfig(segmentBytes: 300), clock: testClock)
                for i in 0..<8 { _ = try log.appendMany([idempotent(seq: Int32(i * 2))], leaderEpoch: 0) }
                try log.close()
            }
            let log = try PartitionLog(directory: dir, config: LogConfig(segmentBytes: 300), clock: testClock)
            // Retries of the last five batches are still recognised after the restart.
            let retry = try log.appendMany([idempotent(seq: 12)], leaderEpoch: 0)[0]
            #expect(retry.isDuplicate && retry.baseOffset == 12)
            #expect(try log.producerEntry(4000)?.lastSequence == 15)
            // A follower cutting its log back forgets the cut batches: the producer continues from what remains.
            try log.truncate(to: 10)
            #expect(try log.producerEntry(4000)?.lastSequence == 9)
            #expect(try log.appendMany([idempotent(seq: 10)], leaderEpoch: 1)[0].baseOffset == 10)
            // Batches appended as a follower count too.
            var replicated = idempotent(seq: 12)
            replicated.setInteger(Int64(12), at: replicated.readerIndex)
            _ = try log.appendAsFollower(replicated)
            #expect(try log.producerEntry(4000)?.lastSequence == 13)
            #expect(try log.appendMany([idempotent(seq: 12)], leaderEpoch: 1)[0].isDuplicate)
        }
    }

    @Test func expiredProducersAndProducersBelowTheLogStartAreForgotten() throws {
        try withTemporaryDirectory { dir in
            var clock = testClock
            let log = try PartitionLog(
                directory: dir, config: LogConfig(producerIdExpirationMs: 60_000), clock: clock)
            _ = try log.appendMany([idempotent(pid: 1, seq: 0)], leaderEpoch: 0)
            _ = try log.appendMany([idempotent(pid: 2, seq: 0)], leaderEpoch: 0)
            try log.deleteRecords(before: 2)
            #expect(try log.producerEntry(1) == nil && log.producerEntry(2) != nil)
            clock.advance(millis: 120_000)
            try log.applyRetention(now: clock.nowMillis)
            #expect(try log.producerCount() == 0)
            // A forgotten producer is accepted at any sequence.
            #expect(try !log.appendMany([idempotent(pid: 2, seq: 7)], leaderEpoch: 0)[0].isDuplicate)
        }
    }
}
