import Foundation
import KafkaRecords
import NIOCore
import SkeinModel
import SkeinStorage
import Testing

@Suite struct AppendAndReadTests {
    @Test func roundTripAcrossSegmentRollsWithContiguousOffsets() throws {
        try withTemporaryDirectory { dir in
            let config = LogConfig(segmentBytes: 2048, indexIntervalBytes: 300)
            var rng = SeededRandom(seed: 42)
            var expected: [(base: Int64, count: Int, tag: String)] = []
            do {
                let log = try PartitionLog(directory: dir, config: config, clock: testClock)
                #expect(log.logEndOffset == 0 && log.logStartOffset == 0)
                for i in 0..<80 {
                    let count = Int.random(in: 1...6, using: &rng)
                    let info = try log.append(makeBatch(count: count, tag: "b\(i)"), leaderEpoch: 7)
                    #expect(info.baseOffset == (expected.last.map { $0.base + Int64($0.count) } ?? 0))
                    #expect(info.lastOffset == info.baseOffset + Int64(count) - 1)
                    #expect(info.logAppendTime == -1)
                    expected.append((info.baseOffset, count, "b\(i)"))
                }
                #expect(log.segmentCount > 5)
                #expect(log.logEndOffset == expected.last!.base + Int64(expected.last!.count))
                try check(log)
                try log.close()
            }
            // The same after reopening, with nothing to repair.
            let reopened = try PartitionLog(directory: dir, config: config, clock: testClock)
            #expect(reopened.recoveryReport.truncatedBytes == 0)
            #expect(reopened.recoveryReport.rebuiltIndexFiles.isEmpty)
            try check(reopened)

            func check(_ log: PartitionLog) throws {
                let stored = try allBatches(log)
                #expect(stored.count == expected.count)
                for (view, e) in zip(stored, expected) {
                    try view.validateForAppend()
                    #expect(view.baseOffset == e.base)
                    #expect(view.partitionLeaderEpoch == 7)
                    let records = try view.decodeRecords()
                    #expect(records.count == e.count)
                    #expect(records.first?.value.map { String(buffer: $0) }?.hasPrefix("\(e.tag)-0-") == true)
                }
                // From every offset: the batch containing it comes first.
                for e in expected {
                    for offset in e.base..<(e.base + Int64(e.count)) {
                        let result = try log.read(fromOffset: offset, maxBytes: 1)
                        #expect(result.firstOffset == e.base)
                        #expect(result.nextOffset == e.base + Int64(e.count))
                        #expect(try batches(result).count == 1)
                    }
                }
            }
        }
    }

    @Test func readFromTheMiddleOfABatchReturnsTheWholeBatch() throws {
        try withTemporaryDirectory { dir in
            let log = try PartitionLog(directory: dir, clock: testClock)
            let first = makeBatch(count: 10)
            _ = try log.append(first, leaderEpoch: 1)
            _ = try log.append(makeBatch(count: 3), leaderEpoch: 1)
            let result = try log.read(fromOffset: 5, maxBytes: 1 << 20)
            let got = try batches(result)
            #expect(got.count == 2)
            #expect(got[0].baseOffset == 0 && got[0].lastOffset == 9)
            #expect(got[0].sizeInBytes == first.readableBytes)
            #expect(result.firstOffset == 0 && result.nextOffset == 13)
        }
    }

    @Test func maxBytesAndMinOneBatch() throws {
        try withTemporaryDirectory { dir in
            let log = try PartitionLog(directory: dir, clock: testClock)
            let size = makeBatch(count: 2).readableBytes
            for _ in 0..<5 { _ = try log.append(makeBatch(count: 2), leaderEpoch: 0) }
            #expect(try batches(log.read(fromOffset: 0, maxBytes: size * 2 + size / 2)).count == 2)
            #expect(try log.read(fromOffset: 0, maxBytes: size * 3).sizeInBytes == size * 3)
            // The first batch comes even when larger than maxBytes, unless minOneBatch is false.
            let one = try log.read(fromOffset: 2, maxBytes: 10, minOneBatch: true)
            #expect(try batches(one).map(\.baseOffset) == [2])
            let none = try log.read(fromOffset: 2, maxBytes: 10, minOneBatch: false)
            #expect(none.isEmpty && none.nextOffset == 2)
        }
    }

    @Test func maxOffsetIsNeverPassed() throws {
        try withTemporaryDirectory { dir in
            let log = try PartitionLog(directory: dir, config: LogConfig(segmentBytes: 400), clock: testClock)
            for _ in 0..<6 { _ = try log.append(makeBatch(count: 3), leaderEpoch: 0) }  // 0-2, 3-5, ..., 15-17
            #expect(log.segmentCount > 1)
            #expect(try batches(log.read(fromOffset: 0, maxBytes: .max, maxOffset: 9)).map(\.lastOffset) == [2, 5, 8])
            // A maxOffset inside a batch excludes that batch: a consumer never sees offsets at or above it.
            #expect(try batches(log.read(fromOffset: 0, maxBytes: .max, maxOffset: 10)).map(\.lastOffset) == [2, 5, 8])
            #expect(try log.read(fromOffset: 9, maxBytes: .max, maxOffset: 9).isEmpty)
            #expect(try batches(log.read(fromOffset: 4, maxBytes: .max, maxOffset: 18)).count == 6 - 1)
        }
    }

    @Test func offsetsOutOfRange() throws {
        try withTemporaryDirectory { dir in
            let log = try PartitionLog(directory: dir, config: LogConfig(segmentBytes: 400), clock: testClock)
            for _ in 0..<6 { _ = try log.append(makeBatch(count: 3), leaderEpoch: 0) }
            #expect(try log.read(fromOffset: 18, maxBytes: 100).isEmpty)
            #expect(throws: StorageError.offsetOutOfRange(offset: 19, logStartOffset: 0, logEndOffset: 18)) {
                try log.read(fromOffset: 19, maxBytes: 100)
            }
            try log.deleteRecords(before: 7)
            let error = #expect(throws: StorageError.self) { try log.read(fromOffset: 6, maxBytes: 100) }
            #expect(error?.kafkaErrorCode == .offsetOutOfRange)
            #expect(try log.read(fromOffset: 7, maxBytes: 1).firstOffset == 6)
        }
    }

    @Test func logAppendTimeSetsMaxTimestampAndTheBatchStillValidates() throws {
        try withTemporaryDirectory { dir in
            let log = try PartitionLog(directory: dir, clock: testClock)
            let info = try log.append(
                makeBatch(count: 4, timestamp: 1000), leaderEpoch: 3, timestampType: .logAppendTime, now: 99_999)
            #expect(info.logAppendTime == 99_999 && info.maxTimestamp == 99_999)
            let created = try log.append(makeBatch(count: 2, timestamp: 5000), leaderEpoch: 3, now: 99_999)
            #expect(created.logAppendTime == -1 && created.maxTimestamp == 5001)
            let stored = try allBatches(log)
            try stored[0].validateForAppend()
            #expect(stored[0].header.maxTimestamp == 99_999)
            #expect(stored[0].header.attributes.timestampType == .logAppendTime)
            #expect(stored[0].header.baseTimestamp == 1000)
            #expect(stored[0].partitionLeaderEpoch == 3)
            try stored[1].validateForAppend()
            #expect(stored[1].header.attributes.timestampType == .createTime)
            #expect(try log.offsetForTimestamp(99_999)! == (offset: 0, timestamp: 99_999))
        }
    }

    @Test func invalidBatchesAreRefused() throws {
        try withTemporaryDirectory { dir in
            let log = try PartitionLog(directory: dir, config: LogConfig(maxMessageBytes: 500), clock: testClock)
            var corrupt = makeBatch(count: 2)
            corrupt.setInteger(UInt8(0x55), at: corrupt.writerIndex - 3)
            let e1 = #expect(throws: StorageError.self) { try log.append(corrupt, leaderEpoch: 0) }
            #expect(e1?.kafkaErrorCode == .corruptMessage)
            let big = makeBatch(count: 10, valueSize: 100)
            #expect(throws: StorageError.batchTooLarge(size: big.readableBytes, maxMessageBytes: 500)) {
                try log.append(big, leaderEpoch: 0)
            }
            #expect(log.logEndOffset == 0 && log.size == 0)
        }
    }

    @Test func appendManyAndFollowerAppendKeepBatchesAsStored() throws {
        try withTemporaryDirectory { leaderDir in
            try withTemporaryDirectory { followerDir in
                let leader = try PartitionLog(
                    directory: leaderDir, config: LogConfig(segmentBytes: 1000), clock: testClock)
                let infos = try leader.appendMany((0..<8).map { makeBatch(count: $0 + 1) }, leaderEpoch: 5)
                #expect(infos.map(\.baseOffset) == [0, 1, 3, 6, 10, 15, 21, 28])
                let follower = try PartitionLog(
                    directory: followerDir, config: LogConfig(segmentBytes: 700), clock: testClock)
                var offset: Int64 = 0
                while offset < leader.logEndOffset {
                    let fetched = try leader.read(fromOffset: offset, maxBytes: 600)
                    let appended = try #require(try follower.appendAsFollower(fetched.readBytes()))
                    #expect(appended.baseOffset == offset)
                    offset = appended.lastOffset + 1
                }
                #expect(follower.logEndOffset == leader.logEndOffset)
                #expect(
                    try leader.read(fromOffset: 0, maxBytes: .max).readBytes()
                        == follower.read(fromOffset: 0, maxBytes: .max).readBytes())
                // Batches that do not continue the log are refused.
                let again = try leader.read(fromOffset: 0, maxBytes: 1).readBytes()
                #expect(throws: StorageError.nonMonotonicOffset(baseOffset: 0, logEndOffset: 36)) {
                    try follower.appendAsFollower(again)
                }
            }
        }
    }
}

@Suite struct RecoveryTests {
    /// Appends `n` batches and returns the log's directory contents: batch end positions in the active segment.
    private func fill(_ dir: String, batches n: Int) throws -> [Int] {
        let log = try PartitionLog(directory: dir, clock: testClock)
        var ends: [Int] = []
        for i in 0..<n {
            _ = try log.append(makeBatch(count: 3, tag: "r\(i)"), leaderEpoch: 1)
            ends.append(log.size)
        }
        try log.close()
        return ends
    }

    @Test func tornWriteIsTruncatedToTheLastWholeBatch() throws {
        try withTemporaryDirectory { dir in
            let ends = try fill(dir, batches: 5)
            let path = segmentPath(dir, 0)
            // A torn last batch, then garbage, as a crash in the middle of writes could leave.
            let fh = try #require(FileHandle(forUpdatingAtPath: path))
            try fh.truncate(atOffset: UInt64(ends[4] - 7))
            try fh.seekToEnd()
            fh.write(Data((0..<300).map { UInt8(truncatingIfNeeded: $0 &* 31) }))
            try fh.close()
            let fileBefore = try fileSize(path)

            let log = try PartitionLog(directory: dir, clock: testClock)
            #expect(log.recoveryReport.truncatedBytes == fileBefore - ends[3])
            #expect(log.recoveryReport.truncationReason?.contains("00000000000000000000.log") == true)
            #expect(log.logEndOffset == 12)
            #expect(try fileSize(path) == ends[3])
            #expect(try allBatches(log).map(\.baseOffset) == [0, 3, 6, 9])
            // The log carries on from there.
            #expect(try log.append(makeBatch(count: 2), leaderEpoch: 2).baseOffset == 12)
            #expect(try allBatches(log).count == 5)
        }
    }

    @Test func corruptedByteInTheActiveSegmentTruncatesAtThatBatch() throws {
        try withTemporaryDirectory { dir in
            let ends = try fill(dir, batches: 6)
            let path = segmentPath(dir, 0)
            let fh = try #require(FileHandle(forUpdatingAtPath: path))
            try fh.seek(toOffset: UInt64(ends[2] + 80))  // inside the records of the fourth batch
            fh.write(Data([0xEE]))
            try fh.close()

            let log = try PartitionLog(directory: dir, clock: testClock)
            #expect(log.recoveryReport.truncatedBytes == ends[5] - ends[2])
            #expect(log.recoveryReport.truncationReason?.contains("crcMismatch") == true)
            #expect(log.logEndOffset == 9)
            #expect(try allBatches(log).map(\.baseOffset) == [0, 3, 6])
        }
    }

    @Test func crashRightAfterARollChecksThePreviousSegmentToo() throws {
        try withTemporaryDirectory { dir in
            var ends: [Int] = []
            do {
                let log = try PartitionLog(directory: dir, clock: testClock)
                for _ in 0..<4 {
                    _ = try log.append(makeBatch(count: 2), leaderEpoch: 0)
                    ends.append(log.size)
                }
                try log.roll()
                #expect(log.segmentBaseOffsets == [0, 8])
                try log.close()
            }
            let fh = try #require(FileHandle(forUpdatingAtPath: segmentPath(dir, 0)))
            try fh.truncate(atOffset: UInt64(ends[3] - 20))
            try fh.close()
            let log = try PartitionLog(directory: dir, clock: testClock)
            #expect(log.recoveryReport.truncatedBytes == ends[3] - 20 - ends[2])
            // The empty segment at 8 would leave a gap after the cut: it is gone, and appends continue at 6.
            #expect(log.segmentBaseOffsets == [0])
            #expect(try log.append(makeBatch(count: 1), leaderEpoch: 0).baseOffset == 6)
            #expect(try allBatches(log).map(\.baseOffset) == [0, 2, 4, 6])
        }
    }

    @Test func missingOrDamagedIndexFilesAreRebuiltIdentically() throws {
        try withTemporaryDirectory { dir in
            let config = LogConfig(segmentBytes: 3000, indexIntervalBytes: 200)
            var expectations: [(offset: Int64, first: Int64?)] = []
            var originals: [String: Data] = [:]
            do {
                let log = try PartitionLog(directory: dir, config: config, clock: testClock)
                for i in 0..<60 {
                    _ = try log.append(makeBatch(count: 1 + i % 4, timestamp: 1000 + Int64(i) * 100), leaderEpoch: 0)
                }
                #expect(log.segmentCount >= 4)
                for offset in 0..<log.logEndOffset {
                    expectations.append((offset, try log.read(fromOffset: offset, maxBytes: 1).firstOffset))
                }
                try log.close()
            }
            for name in try fileNames(dir) where name.hasSuffix("index") {
                originals[name] = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))
            }
            #expect(originals.values.contains { !$0.isEmpty })
            let names = originals.keys.sorted()
            // Delete some, truncate one mid-entry, scramble another.
            try FileManager.default.removeItem(atPath: dir + "/" + names[0])
            try FileManager.default.removeItem(atPath: dir + "/" + names[1])
            try Data(originals[names[2]]!.prefix(5)).write(to: URL(fileURLWithPath: dir + "/" + names[2]))
            try Data(originals[names[3]]!.reversed()).write(to: URL(fileURLWithPath: dir + "/" + names[3]))

            let log = try PartitionLog(directory: dir, config: config, clock: testClock)
            #expect(Set(log.recoveryReport.rebuiltIndexFiles).isSuperset(of: names[0..<4]))
            for name in names {
                #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name)) == originals[name], "\(name)")
            }
            for e in expectations { #expect(try log.read(fromOffset: e.offset, maxBytes: 1).firstOffset == e.first) }
            #expect(try log.offsetForTimestamp(1000 + 30 * 100)?.timestamp == 1000 + 30 * 100)
        }
    }

    @Test func strayFilesAreRemovedAndAnEmptyDirectoryOpens() throws {
        try withTemporaryDirectory { base in
            let dir = base + "/topic-0"
            do {
                let log = try PartitionLog(directory: dir, clock: testClock)
                _ = try log.append(makeBatch(count: 1), leaderEpoch: 0)
                try log.close()
            }
            _ = FileManager.default.createFile(atPath: dir + "/log-start-offset.tmp", contents: Data("1\n5".utf8))
            _ = FileManager.default.createFile(atPath: segmentPath(dir, 77, "index"), contents: Data())
            let log = try PartitionLog(directory: dir, clock: testClock)
            #expect(Set(log.recoveryReport.removedFiles) == ["log-start-offset.tmp", "00000000000000000077.index"])
            #expect(log.logEndOffset == 1)
        }
    }
}

@Suite struct TimestampTests {
    @Test func offsetForTimestampMatchesAScanOfEveryRecord() throws {
        try withTemporaryDirectory { dir in
            let log = try PartitionLog(
                directory: dir, config: LogConfig(segmentBytes: 1500, indexIntervalBytes: 150), clock: testClock)
            var rng = SeededRandom(seed: 9)
            var records: [(offset: Int64, timestamp: Int64)] = []
            var ts: Int64 = 10_000
            for _ in 0..<70 {
                // Mostly increasing, sometimes a batch from the past (CreateTime comes from producers).
                let count = Int.random(in: 1...4, using: &rng)
                let start = Bool.random(using: &rng) && ts > 10_500 ? ts - 400 : ts
                let info = try log.append(makeBatch(count: count, timestamp: start, step: 7), leaderEpoch: 0)
                for i in 0..<count { records.append((info.baseOffset + Int64(i), start + Int64(i) * 7)) }
                ts += Int64.random(in: 5...60, using: &rng)
            }
            #expect(log.segmentCount > 3)
            for target in stride(from: Int64(9_000), through: ts + 100, by: 13) {
                let expected = records.first { $0.timestamp >= target }
                let got = try log.offsetForTimestamp(target)
                #expect(got?.offset == expected?.offset && got?.timestamp == expected?.timestamp, "target \(target)")
            }
            let max = records.max { $0.timestamp < $1.timestamp }!
            let firstMax = records.first { $0.timestamp == max.timestamp }!
            #expect(try log.maxTimestampOffset()! == firstMax)
            // Records below logStartOffset are not found.
            try log.deleteRecords(before: 40)
            let afterDelete = records.first { $0.offset >= 40 && $0.timestamp >= 9_000 }!
            #expect(try log.offsetForTimestamp(9_000)! == afterDelete)
        }
    }
}

@Suite struct RetentionAndTruncationTests {
    @Test func retentionByTime() throws {
        try withTemporaryDirectory { dir in
            var clock = ManualClock(nowMillis: 1_000_000)
            let config = LogConfig(segmentBytes: 600, retentionMs: 10_000)
            let log = try PartitionLog(directory: dir, config: config, clock: clock)
            for _ in 0..<20 {
                _ = try log.append(
                    makeBatch(count: 2), leaderEpoch: 0, timestampType: .logAppendTime, now: clock.nowMillis)
                clock.advance(millis: 1000)
            }
            let bases = log.segmentBaseOffsets
            #expect(bases.count >= 5)
            #expect(try log.applyRetention(now: clock.nowMillis) > 0)
            // Every remaining segment but the active one holds a batch newer than now - retention.ms.
            let remaining = log.segmentBaseOffsets
            #expect(remaining.first! > 0 && remaining.last == bases.last)
            #expect(log.logStartOffset == remaining.first!)
            let oldest = try allBatches(log)
            #expect(oldest.contains { clock.nowMillis - $0.header.maxTimestamp <= 10_000 })
            #expect(throws: StorageError.self) { try log.read(fromOffset: 0, maxBytes: 100) }
            // Much later everything but the active segment goes; the active one never does.
            clock.advance(millis: 1_000_000)
            _ = try log.applyRetention(now: clock.nowMillis)
            #expect(log.segmentBaseOffsets == [bases.last!])
            #expect(log.logEndOffset == 40)
            // logStartOffset survives a restart.
            try log.close()
            #expect(try PartitionLog(directory: dir, config: config, clock: clock).logStartOffset == bases.last!)
        }
    }

    @Test func retentionBySize() throws {
        try withTemporaryDirectory { dir in
            let config = LogConfig(segmentBytes: 600, retentionBytes: 1500)
            let log = try PartitionLog(directory: dir, config: config, clock: testClock)
            for _ in 0..<30 { _ = try log.append(makeBatch(count: 2), leaderEpoch: 0) }
            #expect(log.size > 1500)
            let deleted = try log.applyRetention(now: testClock.nowMillis)
            #expect(deleted > 0)
            // Kafka deletes a segment only if the log stays at or above retention.bytes without it.
            let firstSize = try fileSize(segmentPath(dir, log.segmentBaseOffsets[0]))
            #expect(log.size >= 1500 && log.size - firstSize < 1500)
            #expect(log.logStartOffset == log.segmentBaseOffsets.first!)
            #expect(try log.applyRetention(now: testClock.nowMillis) == 0)
        }
    }

    @Test func deleteRecordsRaisesLogStartOffsetAndDropsWholeSegments() throws {
        try withTemporaryDirectory { dir in
            let config = LogConfig(segmentBytes: 500)
            let log = try PartitionLog(directory: dir, config: config, clock: testClock)
            for _ in 0..<20 { _ = try log.append(makeBatch(count: 3), leaderEpoch: 0) }
            let bases = log.segmentBaseOffsets
            let target = bases[2] + 4
            #expect(try log.deleteRecords(before: target) == target)
            #expect(log.segmentBaseOffsets == Array(bases[2...]))
            #expect(log.logStartOffset == target)
            // The batch containing logStartOffset is still returned whole.
            #expect(try log.read(fromOffset: target, maxBytes: 1).firstOffset == target - target % 3)
            #expect(try log.deleteRecords(before: 1) == target)
            #expect(throws: StorageError.self) { try log.deleteRecords(before: 61) }
            try log.close()
            let reopened = try PartitionLog(directory: dir, config: config, clock: testClock)
            #expect(reopened.logStartOffset == target)
            #expect(reopened.logEndOffset == 60)
        }
    }

    @Test func truncateToRemovesEverythingFromAnOffset() throws {
        try withTemporaryDirectory { dir in
            let config = LogConfig(segmentBytes: 500, indexIntervalBytes: 100)
            let log = try PartitionLog(directory: dir, config: config, clock: testClock)
            for i in 0..<20 { _ = try log.append(makeBatch(count: 3, timestamp: 1000 + Int64(i) * 10), leaderEpoch: 1) }
            #expect(log.segmentCount > 3)
            // Inside the active segment, at a batch boundary.
            #expect(try log.truncate(to: 57) == 57)
            #expect(try allBatches(log).last?.lastOffset == 56)
            // Across segments, inside a batch: the batch containing the offset goes too.
            let bases = log.segmentBaseOffsets
            let cut = bases[1] + 4
            let expectedEnd = cut - cut % 3
            #expect(try log.truncate(to: cut) == expectedEnd)
            #expect(log.logEndOffset == expectedEnd)
            #expect(log.segmentBaseOffsets == bases.filter { $0 <= cut })
            #expect(try allBatches(log).last?.lastOffset == expectedEnd - 1)
            #expect(try log.maxTimestampOffset()?.offset == expectedEnd - 1)
            // Appends continue at the new end, in the truncated segment.
            #expect(try log.append(makeBatch(count: 2), leaderEpoch: 2).baseOffset == expectedEnd)
            try log.close()
            let reopened = try PartitionLog(directory: dir, config: config, clock: testClock)
            #expect(reopened.logEndOffset == expectedEnd + 2)
            #expect(reopened.recoveryReport.truncatedBytes == 0)
            #expect(try allBatches(reopened).map(\.partitionLeaderEpoch).last == 2)
            // Below the first segment: the log restarts empty there.
            try reopened.truncate(to: 0)
            #expect(reopened.logEndOffset == 0 && reopened.size == 0 && reopened.segmentCount == 1)
        }
    }

    @Test func aReadInFlightSurvivesRetentionDeletingItsSegment() throws {
        try withTemporaryDirectory { dir in
            let config = LogConfig(segmentBytes: 500, retentionBytes: 0)
            let log = try PartitionLog(directory: dir, config: config, clock: testClock)
            for _ in 0..<10 { _ = try log.append(makeBatch(count: 3), leaderEpoch: 0) }
            let inFlight = try log.read(fromOffset: 0, maxBytes: 400)
            #expect(inFlight.chunks.first?.position == 0)
            #expect(try log.applyRetention(now: testClock.nowMillis) >= 1)
            #expect(!FileManager.default.fileExists(atPath: segmentPath(dir, 0)))
            // The file is unlinked but still open for this read.
            let got = try batches(inFlight)
            #expect(got.first?.baseOffset == 0)
            for view in got { try view.validate() }
            #expect(try fileNames(dir).filter { $0.hasSuffix(".log") }.count == 1)
        }
    }
}

@Suite struct ConcurrencyTests {
    @Test func concurrentAppendsGetUniqueContiguousOffsets() throws {
        try withTemporaryDirectory { dir in
            let log = try PartitionLog(
                directory: dir, config: LogConfig(segmentBytes: 8192, indexIntervalBytes: 512), clock: testClock)
            let threads = 4, perThread = 150
            let results = NSLock()
            nonisolated(unsafe) var infos: [AppendInfo] = []
            nonisolated(unsafe) var failures = 0
            DispatchQueue.concurrentPerform(iterations: threads + 1) { t in
                if t == threads {
                    // A reader running alongside: whatever it sees is whole, valid batches.
                    for _ in 0..<100 {
                        guard let r = try? log.read(fromOffset: log.logStartOffset, maxBytes: 1 << 20),
                            let views = try? batches(r)
                        else { results.withLock { failures += 1 }; continue }
                        for v in views where (try? v.validate()) == nil { results.withLock { failures += 1 } }
                    }
                    return
                }
                for i in 0..<perThread {
                    do {
                        let info = try log.append(makeBatch(count: 1 + (i + t) % 3, tag: "t\(t)"), leaderEpoch: 0)
                        results.withLock { infos.append(info) }
                    } catch {
                        results.withLock { failures += 1 }
                    }
                }
            }
            #expect(failures == 0)
            #expect(infos.count == threads * perThread)
            let sorted = infos.sorted { $0.baseOffset < $1.baseOffset }
            var next: Int64 = 0
            for info in sorted {
                #expect(info.baseOffset == next)
                next = info.lastOffset + 1
            }
            #expect(log.logEndOffset == next)
            #expect(log.segmentCount > 1)
            let stored = try allBatches(log)
            #expect(stored.count == infos.count)
            #expect(stored.map(\.baseOffset) == sorted.map(\.baseOffset))
        }
    }
}

@Suite struct RollAndDurabilityTests {
    @Test func segmentMsRollsByRecordTime() throws {
        try withTemporaryDirectory { dir in
            let log = try PartitionLog(directory: dir, config: LogConfig(segmentMs: 60_000), clock: testClock)
            _ = try log.append(makeBatch(count: 1, timestamp: 1_000_000), leaderEpoch: 0)
            _ = try log.append(makeBatch(count: 1, timestamp: 1_050_000), leaderEpoch: 0)
            #expect(log.segmentCount == 1)
            _ = try log.append(makeBatch(count: 1, timestamp: 1_060_001), leaderEpoch: 0)
            #expect(log.segmentBaseOffsets == [0, 2])
        }
    }

    @Test func everyFsyncPolicyKeepsTheDataReadable() throws {
        for policy in [FsyncPolicy.everyAppend, .interval(ms: 10), .never] {
            try withTemporaryDirectory { dir in
                let config = LogConfig(segmentBytes: 400, fsyncPolicy: policy)
                let log = try PartitionLog(directory: dir, config: config, clock: testClock)
                for i in 0..<10 { _ = try log.append(makeBatch(count: 2), leaderEpoch: 0, now: Int64(i) * 7) }
                try log.flush()
                try log.close()
                #expect(throws: StorageError.closed) { try log.append(makeBatch(count: 1), leaderEpoch: 0) }
                #expect(try allBatches(PartitionLog(directory: dir, config: config, clock: testClock)).count == 10)
            }
        }
    }

    @Test func diskFullLeavesNoPartialBatchAndTheLogStaysUsable() throws {
        guard FileManager.default.fileExists(atPath: "/dev/full") else { return }
        try withTemporaryDirectory { dir in
            // A segment file that is /dev/full: every write fails with ENOSPC.
            try FileManager.default.createSymbolicLink(atPath: segmentPath(dir, 0), withDestinationPath: "/dev/full")
            let log = try PartitionLog(directory: dir, clock: testClock)
            let error = #expect(throws: StorageError.self) { try log.append(makeBatch(count: 3), leaderEpoch: 0) }
            #expect(error == .diskFull(path: segmentPath(dir, 0)))
            #expect(error?.kafkaErrorCode == .kafkaStorageError)
            #expect(error?.description.contains("disk full") == true)
            #expect(log.logEndOffset == 0 && log.size == 0)
            #expect(throws: StorageError.self) { try log.append(makeBatch(count: 1), leaderEpoch: 0) }
            #expect(log.logEndOffset == 0)
        }
    }
}
