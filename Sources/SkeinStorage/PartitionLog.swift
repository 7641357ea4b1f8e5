import Foundation
import KafkaRecords
import NIOConcurrencyHelpers
import NIOCore
import SkeinModel
import SkeinTransactions

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// What `append` did with a batch: the offsets it got and the values a Produce response carries.
public struct AppendInfo: Hashable, Sendable {
    /// The offset assigned to the first record (the log end offset before the append).
    public var baseOffset: Int64
    public var lastOffset: Int64
    /// The broker time stamped on the batch for LogAppendTime topics; -1 for CreateTime, as Kafka answers.
    public var logAppendTime: Int64
    /// The batch's maxTimestamp as stored.
    public var maxTimestamp: Int64
    /// The log's logStartOffset after the append (Produce v5+ returns it).
    public var logStartOffset: Int64
    public var sizeInBytes: Int
    public var recordCount: Int
    /// The batch was an idempotent producer's retry of one already in the log: nothing was appended, and the
    /// offsets are the original's.
    public var isDuplicate = false
}

/// What opening a log found and repaired.
public struct RecoveryReport: Hashable, Sendable {
    /// Segments in the log after opening.
    public var segmentCount: Int
    /// Bytes cut from the end of the active segment because they were not whole valid batches.
    public var truncatedBytes: Int
    /// Why the cut was made (torn batch, CRC mismatch, ...), with the file and position; nil when none was.
    public var truncationReason: String?
    /// Index files written again because they were missing or disagreed with their `.log` file.
    public var rebuiltIndexFiles: [String]
    /// Leftover files removed: temp files of an interrupted checkpoint, index files without a `.log`.
    public var removedFiles: [String]
    public var logStartOffset: Int64
    public var logEndOffset: Int64
}

/// The on-disk log of one partition: segments of record batches stored exactly as produced (only baseOffset,
/// partitionLeaderEpoch and, for LogAppendTime topics, the timestamp are set by the broker), sparse indexes,
/// recovery, retention, truncation, and zero-copy reads.
///
/// Layout of `directory`:
/// - `<baseOffset, 20 digits>.log`: the batches, back to back.
/// - `<baseOffset>.index`: 8-byte entries, big-endian: int32 baseOffset of a batch relative to the segment's
///   base offset, int32 position of the batch in the `.log` file; one entry each time more than
///   `indexIntervalBytes` were appended since the last.
/// - `<baseOffset>.timeindex`: 12-byte entries: int64 largest timestamp so far, int32 relative lastOffset of
///   the batch that first reached it; appended with the offset entries when the largest timestamp grew, and
///   once more when the segment is rolled. Timestamps strictly increase.
/// - `log-start-offset`: the checkpoint of logStartOffset, text `1\n<offset>\n` (format version, value),
///   replaced atomically.
///
/// Thread-safe: one lock guards the state; appends, reads and maintenance may come from any thread. Reads
/// return file ranges that stay readable after the lock is released, even if retention deletes the segment.
public final class PartitionLog: @unchecked Sendable {
    /// The partition's directory.
    public let directory: String
    /// What opening the log found and repaired.
    public let recoveryReport: RecoveryReport

    private let clock: any Clock
    private let lock = NIOLock()
    // Everything below is guarded by `lock`.
    private var _config: LogConfig
    /// Sorted by base offset; the last one is the active segment, the only one appended to.
    private var segments: [LogSegment]
    private var _logStartOffset: Int64
    private var lastFlushMs: Int64
    private var isClosed = false
    /// The producers' state with transactions (idempotence, ongoing transactions, the last stable offset and the
    /// aborted-transaction index), built from the batch headers on first use (so that opening thousands of
    /// partitions reads nothing more) and kept current by every append; a truncation drops it for a rebuild.
    private var producers = PartitionTransactionState()
    private var producersLoaded = false
    /// Per producer id, how many COMMIT/ABORT markers were appended since the log was opened: a KIP-890
    /// verification is valid only while no marker for its producer landed in between (Kafka's VerificationGuard).
    private var markerCounts: [Int64: UInt64] = [:]

    static let checkpointName = "log-start-offset"

    /// Opens the log in `directory`, creating the directory and an empty first segment if needed.
    ///
    /// Recovery: the active segment is read batch by batch and checked (sizes, magic, CRC-32C, offsets
    /// increasing); the file is cut at the first batch that fails, which removes a write torn by a crash or a
    /// corrupted tail. When the active segment is empty (a crash right after a roll), the one before it is
    /// checked the same way. Older segments are trusted, but their index files are checked against the
    /// `.log` and rebuilt when missing or inconsistent. logStartOffset comes from the checkpoint.
    public init(directory: String, config: LogConfig = LogConfig(), clock: any Clock) throws {
        self.directory = directory
        self._config = config
        self.clock = clock
        let now = clock.nowMillis
        self.lastFlushMs = now
        try FileIO.makeDirectory(directory)

        var removed: [String] = []
        var rebuilt: [String] = []
        var logBases: Set<Int64> = []
        let names = try FileIO.listDirectory(directory)
        for name in names { if let base = LogSegment.parseBaseOffset(name, ext: "log") { logBases.insert(base) } }
        for name in names {
            let orphanIndex =
                (LogSegment.parseBaseOffset(name, ext: "index") ?? LogSegment.parseBaseOffset(name, ext: "timeindex"))
                .map { !logBases.contains($0) } ?? false
            if name.hasSuffix(".tmp") || orphanIndex {
                try FileIO.unlinkFile(directory + "/" + name)
                removed.append(name)
            }
        }

        let checkpoint = try Self.readCheckpoint(directory: directory)
        var segments: [LogSegment] = []
        for base in logBases.sorted() { segments.append(try LogSegment.open(directory: directory, baseOffset: base)) }
        if segments.isEmpty {
            segments.append(try LogSegment.create(directory: directory, baseOffset: checkpoint ?? 0, now: now))
        }

        // The active segment (and the one before when it is empty, as after a crash right after a roll) is
        // validated batch by batch; older segments are trusted, and only their indexes are checked.
        let interval = config.indexIntervalBytes
        for segment in segments { segment.createdMs = now }
        var toRecover = [segments.count - 1]
        if segments.count > 1 && segments[segments.count - 1].isEmpty { toRecover.insert(segments.count - 2, at: 0) }
        for segment in segments[..<toRecover[0]] where try !segment.loadIndexes() {
            try segment.rebuildIndexesFromHeaders(indexIntervalBytes: interval)
            segment.finishTimeIndex()
            if try segment.writeIndexFiles() {
                rebuilt += [segment.indexPath, segment.timeIndexPath].map(Self.baseName)
            }
        }
        var truncatedBytes = 0
        var reasons: [String] = []
        for i in toRecover {
            let segment = segments[i]
            let result = try segment.recover(indexIntervalBytes: interval)
            if i < segments.count - 1 { segment.finishTimeIndex() }
            if result.validBytes < result.fileBytes {
                let dropped = result.fileBytes - result.validBytes
                truncatedBytes += dropped
                reasons.append(
                    "\(Self.baseName(segment.logPath)): \(result.problem ?? "invalid data") (\(dropped) bytes dropped)")
            }
            if try segment.writeIndexFiles() {
                rebuilt += [segment.indexPath, segment.timeIndexPath].map(Self.baseName)
            }
        }
        // A segment after a cut one would leave a gap in the offsets: drop it (it can only be the empty one).
        if toRecover.count == 2, segments[segments.count - 2].nextOffset < segments[segments.count - 1].baseOffset {
            try segments.removeLast().delete()
        }
        for segment in segments.dropLast() { segment.closeIndexFiles() }
        let active = segments[segments.count - 1]
        try active.openIndexFilesForAppend()

        let firstBase = segments[0].baseOffset
        let logStartOffset = max(checkpoint ?? firstBase, firstBase)
        if logStartOffset > active.nextOffset {
            // Records below the checkpointed logStartOffset were deleted; their offsets must not be reused.
            segments = try Self.startFresh(at: logStartOffset, deleting: segments, directory: directory, now: now)
        }
        self.segments = segments
        self._logStartOffset = logStartOffset
        self.recoveryReport = RecoveryReport(
            segmentCount: self.segments.count, truncatedBytes: truncatedBytes,
            truncationReason: reasons.isEmpty ? nil : reasons.joined(separator: "; "),
            rebuiltIndexFiles: rebuilt, removedFiles: removed,
            logStartOffset: _logStartOffset, logEndOffset: self.segments[self.segments.count - 1].nextOffset)
    }

    deinit {
        for segment in segments { segment.closeIndexFiles() }
    }

    // MARK: state

    /// The first offset a consumer may read (raised by retention and DeleteRecords).
    public var logStartOffset: Int64 { lock.withLock { _logStartOffset } }

    /// The offset the next appended record gets (one past the last record).
    public var logEndOffset: Int64 { lock.withLock { segments[segments.count - 1].nextOffset } }

    /// Bytes of batches stored in all segments.
    public var size: Int { lock.withLock { segments.reduce(0) { $0 + $1.size } } }

    /// The number of segments (for tests, metrics and the admin API).
    public var segmentCount: Int { lock.withLock { segments.count } }

    /// The base offsets of the segments, oldest first.
    public var segmentBaseOffsets: [Int64] { lock.withLock { segments.map(\.baseOffset) } }

    /// The log's settings; changing them affects later appends and retention runs (topic config updates).
    public var config: LogConfig {
        get { lock.withLock { _config } }
        set { lock.withLock { _config = newValue } }
    }

    // MARK: append

    /// Appends one produced batch as the leader.
    ///
    /// Validates it (Kafka's checks for a v2 batch: sizes, CRC-32C, codec, recordsCount == lastOffsetDelta + 1,
    /// max.message.bytes), assigns baseOffset = logEndOffset and partitionLeaderEpoch = `leaderEpoch`, and for
    /// a LogAppendTime topic sets the timestamp type and maxTimestamp = `now` (covered by the CRC, which is
    /// then computed again). Rolls the segment first when the batch would overflow it or it is older than
    /// segment.ms, writes the batch with one pwritev, updates the indexes and applies the fsync policy.
    ///
    /// The batch is not copied, nor modified: the rewritten 61-byte header goes out from a small buffer and the
    /// records straight from `batch`'s storage. (Setting the fields in `batch` itself would copy the whole
    /// batch whenever its storage is shared, which it is when it is a slice of a request buffer.)
    ///
    /// - Parameter now: the broker time in ms; defaults to the clock's.
    public func append(
        _ batch: ByteBuffer, leaderEpoch: Int32, timestampType: TimestampType = .createTime, now: Int64? = nil
    ) throws -> AppendInfo {
        try lock.withLock {
            guard !isClosed else { throw StorageError.closed }
            return try appendLocked(
                try validated(batch), leaderEpoch: leaderEpoch, timestampType: timestampType,
                now: now ?? clock.nowMillis)
        }
    }

    /// Appends the batches of one produce request in order, under one lock acquisition. Every batch is
    /// validated before any is written; a failed write (disk full) leaves the earlier batches appended.
    public func appendMany(
        _ batches: [ByteBuffer], leaderEpoch: Int32, timestampType: TimestampType = .createTime, now: Int64? = nil,
        origin: BatchOrigin = .client(verified: false), verificationGuard: UInt64? = nil
    ) throws -> [AppendInfo] {
        try lock.withLock {
            guard !isClosed else { throw StorageError.closed }
            // Validate every batch (CRC included) once, before any is written.
            let views = try batches.map { try validated($0, origin: origin) }
            let now = now ?? clock.nowMillis
            return try views.map { view in
                if view.header.producerId.rawValue >= 0 {
                    switch try checkProducerLocked(view, origin: origin, verificationGuard: verificationGuard) {
                    case .append: break
                    case .duplicate(let original):
                        return AppendInfo(
                            baseOffset: original.baseOffset, lastOffset: original.lastOffset, logAppendTime: -1,
                            maxTimestamp: original.maxTimestamp, logStartOffset: _logStartOffset, sizeInBytes: 0,
                            recordCount: 0, isDuplicate: true)
                    case .rejected(let code, let message):
                        throw StorageError.producerRejected(code: code, message: message)
                    }
                }
                return try appendLocked(view, leaderEpoch: leaderEpoch, timestampType: timestampType, now: now)
            }
        }
    }

    /// Appends batches fetched from the leader as they are: offsets, epochs and timestamps already assigned.
    /// Each must pass `validate()` and start at or after logEndOffset (compaction may leave gaps). Returns nil
    /// when `records` holds no whole batch. A trailing partial batch (normal at the end of a fetch) is ignored.
    /// `checksumVerified`: the caller has already run `validate()` on these exact bytes (a replica persisting entries
    /// that were validated where they entered the cluster), so the CRC is not computed a second time.
    public func appendAsFollower(_ records: ByteBuffer, now: Int64? = nil, checksumVerified: Bool = false) throws
        -> AppendInfo?
    {
        try lock.withLock {
            guard !isClosed else { throw StorageError.closed }
            let now = now ?? clock.nowMillis
            var views: [RecordBatchView] = []
            var expected = segments[segments.count - 1].nextOffset
            for view in RecordBatchSequence(records) {
                if !checksumVerified {
                    do { try view.validate() } catch let e as RecordBatchError { throw StorageError.invalidBatch(e) }
                }
                guard view.baseOffset >= expected, view.lastOffsetDelta >= 0 else {
                    throw StorageError.nonMonotonicOffset(baseOffset: view.baseOffset, logEndOffset: expected)
                }
                expected = view.lastOffset + 1
                views.append(view)
            }
            guard let first = views.first, let last = views.last else { return nil }
            var size = 0, count = 0
            var maxTimestamp: Int64 = -1
            for view in views {
                let header = view.header
                let info = BatchInfo(
                    position: 0, size: view.sizeInBytes, baseOffset: view.baseOffset, lastOffset: view.lastOffset,
                    maxTimestamp: header.maxTimestamp, producerId: header.producerId.rawValue,
                    producerEpoch: header.producerEpoch, baseSequence: header.baseSequence,
                    attributes: header.attributes.rawValue)
                try write(info, now: now) { segment, position in
                    try view.bytes.withUnsafeReadableBytes { body in
                        try FileIO.pwriteAll(segment.file.descriptor, body, at: Int64(position), path: segment.logPath)
                    }
                }
                recordProducer(view, baseOffset: info.baseOffset, maxTimestamp: info.maxTimestamp)
                size += info.size
                count += Int(view.recordsCount)
                maxTimestamp = max(maxTimestamp, info.maxTimestamp)
            }
            try applyFsyncPolicy(now: now)
            return AppendInfo(
                baseOffset: first.baseOffset, lastOffset: last.lastOffset, logAppendTime: -1,
                maxTimestamp: maxTimestamp,
                logStartOffset: _logStartOffset, sizeInBytes: size, recordCount: count)
        }
    }

    // MARK: producer state

    /// The leader's check of a batch before it is appended, by who wrote it (Kafka's rules; see
    /// `PartitionTransactionState`). Nothing changes: the append that follows records the batch.
    /// `verificationGuard`: the guard of the coordinator's verification behind `origin` `.client(verified: true)`;
    /// if a marker of the producer landed since, the batch counts as unverified.
    public func checkProducer(
        _ view: RecordBatchView, origin: BatchOrigin = .client(verified: false), verificationGuard: UInt64? = nil
    ) throws -> ProducerVerdict {
        try lock.withLock {
            guard !isClosed else { throw StorageError.closed }
            return try checkProducerLocked(view, origin: origin, verificationGuard: verificationGuard)
        }
    }

    private func checkProducerLocked(_ view: RecordBatchView, origin: BatchOrigin, verificationGuard: UInt64?) throws
        -> ProducerVerdict
    {
        var origin = origin
        if case .client(true) = origin, let token = verificationGuard,
            (markerCounts[view.header.producerId.rawValue] ?? 0) != token
        {
            origin = .client(verified: false)
        }
        guard view.header.producerId.rawValue >= 0 else { return .append }
        try loadProducersLocked()
        return producers.check(Self.storedBatch(view, baseOffset: -1, maxTimestamp: view.header.maxTimestamp), origin: origin)
    }

    /// True when a transactional batch of this producer and epoch would start a transaction in this partition,
    /// so that the coordinator must confirm the partition is in the transaction first (KIP-890); with the
    /// guard to pass to `isVerified(producerId:guard:)` at append time.
    public func needsVerification(producerId: Int64, producerEpoch: Int16) throws -> (needed: Bool, guard: UInt64) {
        try lock.withLock {
            guard !isClosed else { throw StorageError.closed }
            try loadProducersLocked()
            return (
                producers.needsVerification(producerId: producerId, producerEpoch: producerEpoch),
                markerCounts[producerId] ?? 0
            )
        }
    }

    /// Whether a verification taken with `guard` still holds: no COMMIT/ABORT marker of the producer landed since.
    public func isVerified(producerId: Int64, guard token: UInt64) -> Bool {
        lock.withLock { (markerCounts[producerId] ?? 0) == token }
    }

    /// The last stable offset for `highWatermark`: read_committed consumers read below it.
    public func lastStableOffset(highWatermark: Int64) throws -> Int64 {
        try lock.withLock {
            guard !isClosed else { throw StorageError.closed }
            try loadProducersLocked()
            producers.highWatermarkUpdated(highWatermark)
            return producers.lastStableOffset(highWatermark: highWatermark)
        }
    }

    /// The aborted transactions a read_committed fetch from `fetchOffset` returning batches below
    /// `upperBoundOffset` must list.
    public func abortedTransactions(from fetchOffset: Int64, upTo upperBoundOffset: Int64) throws
        -> [FetchAbortedTransaction]
    {
        try lock.withLock {
            guard !isClosed else { throw StorageError.closed }
            try loadProducersLocked()
            return producers.abortedTransactions(from: fetchOffset, upTo: upperBoundOffset)
        }
    }

    /// The producers of this partition with their entries (DescribeProducers), and the ongoing transactions.
    public func producerStates() throws -> [(producerId: Int64, entry: ProducerEntry)] {
        try lock.withLock {
            guard !isClosed else { throw StorageError.closed }
            try loadProducersLocked()
            return producers.producers.producers.keys.sorted().map { ($0, producers.producers.producers[$0]!) }
        }
    }

    /// A producer's entry (the log's state as of its last append), for tools and tests.
    public func producerEntry(_ producerId: Int64) throws -> ProducerEntry? {
        try lock.withLock {
            guard !isClosed else { throw StorageError.closed }
            try loadProducersLocked()
            return producers[producerId]
        }
    }

    /// Producers known to this partition.
    public func producerCount() throws -> Int {
        try lock.withLock {
            guard !isClosed else { throw StorageError.closed }
            try loadProducersLocked()
            return producers.producers.count
        }
    }

    /// Rebuilds the producer state from the batches at or after logStartOffset (their headers, and the one
    /// record of a control batch with a producer id: a transaction marker), then expires the producers idle for
    /// longer than producer.id.expiration.ms (never one with an ongoing transaction).
    private func loadProducersLocked() throws {
        guard !producersLoaded else { return }
        var state = PartitionTransactionState(logStartOffset: _logStartOffset)
        var from = _logStartOffset
        if let snapshot = latestSnapshotLocked() {
            // The state as of the snapshot's end offset: only the batches after it are read.
            state = PartitionTransactionState(restoring: snapshot)
            state.truncateHead(logStartOffset: _logStartOffset)
            state.removeProducersBelowLogStart()
            from = max(from, snapshot.endOffset)
        }
        for segment in segments where segment.nextOffset > from {
            try segment.scanHeaders(from: segment.scanStart(for: from)) { info in
                guard info.producerId >= 0, info.lastOffset >= from else { return true }
                if info.attributes & 0x20 != 0 {
                    let view = try segment.readBatch(info)
                    state.apply(Self.storedBatch(view, baseOffset: info.baseOffset, maxTimestamp: info.maxTimestamp))
                } else {
                    state.apply(
                        StoredBatch.data(
                            producerId: info.producerId, producerEpoch: info.producerEpoch,
                            firstSequence: info.baseSequence, lastOffsetDelta: Int32(info.lastOffset - info.baseOffset),
                            baseOffset: info.baseOffset, maxTimestamp: info.maxTimestamp,
                            isTransactional: info.attributes & 0x10 != 0))
                }
                return true
            }
        }
        // A producer the rebuild knows only from a marker (its data batches lie below the log start, deleted) is
        // forgotten, as Kafka evicts producers whose last data offset is below the log start: its next batch may
        // then carry any sequence (KIP-360), instead of being refused as out of order against no batch at all.
        state.removeProducersBelowLogStart()
        state.expire(now: clock.nowMillis, expirationMs: _config.producerIdExpirationMs)
        producers = state
        producersLoaded = true
    }

    /// A batch as the transaction state sees it, at `baseOffset`; a control batch's record is read for its type
    /// and (for a marker) the coordinator epoch.
    static func storedBatch(_ view: RecordBatchView, baseOffset: Int64, maxTimestamp: Int64) -> StoredBatch {
        let header = view.header
        var controlType: Int16?
        var coordinatorEpoch: Int32 = -1
        if header.attributes.isControl, header.producerId.rawValue >= 0, let (key, value) = try? view.controlRecord() {
            controlType = key.type.rawValue
            if key.type == .commit || key.type == .abort, let value,
                let marker = try? EndTransactionMarker(from: value)
            {
                coordinatorEpoch = marker.coordinatorEpoch
            }
        }
        return StoredBatch(
            producerId: header.producerId.rawValue, producerEpoch: header.producerEpoch,
            baseSequence: header.baseSequence, baseOffset: baseOffset,
            lastOffset: baseOffset + Int64(header.lastOffsetDelta), maxTimestamp: maxTimestamp,
            isTransactional: header.attributes.isTransactional, isControl: header.attributes.isControl,
            controlType: controlType, coordinatorEpoch: coordinatorEpoch)
    }

    /// Records a stored batch in the producer state (when the state is loaded; otherwise the rebuild reads it).
    private func recordProducer(_ view: RecordBatchView, baseOffset: Int64, maxTimestamp: Int64) {
        guard producersLoaded, view.header.producerId.rawValue >= 0 else { return }
        let batch = Self.storedBatch(view, baseOffset: baseOffset, maxTimestamp: maxTimestamp)
        if batch.markerType != nil { markerCounts[batch.producerId, default: 0] += 1 }
        producers.apply(batch)
    }

    /// A client's batch gets every check of `validateForAppend`; a coordinator's own batch or a marker may be a
    /// control batch or carry a producer id without a sequence, as Kafka's coordinators write them.
    private func validated(_ batch: ByteBuffer, origin: BatchOrigin = .client(verified: false)) throws
        -> RecordBatchView
    {
        let view: RecordBatchView
        do {
            view = try RecordBatchView(bytes: batch)
            if case .client = origin {
                try view.validateForAppend()
            } else {
                try view.validate()
            }
        } catch let e as RecordBatchError {
            throw StorageError.invalidBatch(e)
        }
        guard view.sizeInBytes <= _config.maxMessageBytes else {
            throw StorageError.batchTooLarge(size: view.sizeInBytes, maxMessageBytes: _config.maxMessageBytes)
        }
        return view
    }

    /// Appends a batch that `validated` has already checked.
    private func appendLocked(
        _ view: RecordBatchView, leaderEpoch: Int32, timestampType: TimestampType, now: Int64
    ) throws -> AppendInfo {
        let batch = view.bytes
        let baseOffset = segments[segments.count - 1].nextOffset
        let headerSize = RecordBatchHeader.size
        // The rewritten header, in a small buffer of its own.
        var header = [UInt8](repeating: 0, count: headerSize)
        batch.withUnsafeReadableBytes { src in
            header.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[0..<headerSize])) }
        }
        LogSegment.put64(baseOffset, &header, 0)
        LogSegment.put32(leaderEpoch, &header, 12)
        var maxTimestamp = view.header.maxTimestamp
        if timestampType == .logAppendTime {
            // Kafka's LogValidator for LogAppendTime topics: timestamp type bit set, maxTimestamp = broker time.
            // Both are covered by the CRC, computed again over the new header and the untouched records.
            header[22] |= 0x08
            LogSegment.put64(now, &header, 35)
            maxTimestamp = now
            var crc = header.withUnsafeBytes {
                CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[RecordBatchHeader.crcStart...]))
            }
            crc = batch.withUnsafeReadableBytes {
                CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[headerSize...]), initial: crc)
            }
            LogSegment.put32(Int32(bitPattern: crc), &header, 17)
        }
        let batchHeader = view.header
        let info = BatchInfo(
            position: 0, size: view.sizeInBytes, baseOffset: baseOffset,
            lastOffset: baseOffset + Int64(view.lastOffsetDelta),
            maxTimestamp: maxTimestamp, producerId: batchHeader.producerId.rawValue,
            producerEpoch: batchHeader.producerEpoch, baseSequence: batchHeader.baseSequence,
            attributes: batchHeader.attributes.rawValue)
        try write(info, now: now) { segment, position in
            try header.withUnsafeBytes { head in
                try batch.withUnsafeReadableBytes { whole in
                    let body = UnsafeRawBufferPointer(rebasing: whole[headerSize...])
                    let iov = [
                        iovec(iov_base: UnsafeMutableRawPointer(mutating: head.baseAddress), iov_len: head.count),
                        iovec(iov_base: UnsafeMutableRawPointer(mutating: body.baseAddress), iov_len: body.count),
                    ]
                    try FileIO.pwritevAll(segment.file.descriptor, iov, at: Int64(position), path: segment.logPath)
                }
            }
        }
        recordProducer(view, baseOffset: info.baseOffset, maxTimestamp: maxTimestamp)
        try applyFsyncPolicy(now: now)
        return AppendInfo(
            baseOffset: info.baseOffset, lastOffset: info.lastOffset,
            logAppendTime: timestampType == .logAppendTime ? now : -1, maxTimestamp: maxTimestamp,
            logStartOffset: _logStartOffset, sizeInBytes: info.size, recordCount: Int(view.recordsCount))
    }

    /// Rolls if needed, writes with `body(segment, position)`, then records the batch in the segment.
    private func write(_ batch: BatchInfo, now: Int64, _ body: (LogSegment, Int) throws -> Void) throws {
        var info = batch
        let segment = try maybeRoll(for: info, now: now)
        info.position = segment.size
        try body(segment, info.position)
        segment.didAppend(info, indexIntervalBytes: _config.indexIntervalBytes)
    }

    /// Kafka's roll conditions: the batch would make the segment exceed segment.bytes (or the 2 GiB that int32
    /// index positions can address), the segment is older than segment.ms, or the batch's offsets no longer
    /// fit the int32 relative offsets of the index. An empty segment is never rolled.
    private func maybeRoll(for batch: BatchInfo, now: Int64) throws -> LogSegment {
        let active = segments[segments.count - 1]
        guard !active.isEmpty else { return active }
        let tooBig = active.size + batch.size > min(_config.segmentBytes, Int(Int32.max))
        let tooOld = active.age(appending: batch.maxTimestamp, now: now) > _config.segmentMs
        let offsetsOverflow = batch.lastOffset - active.baseOffset > Int64(Int32.max)
        guard tooBig || tooOld || offsetsOverflow else { return active }
        return try roll(at: batch.baseOffset, now: now)
    }

    private func roll(at baseOffset: Int64, now: Int64) throws -> LogSegment {
        let active = segments[segments.count - 1]
        let durable = _config.fsyncPolicy != .never
        try active.becomeInactive(fsync: durable)
        let segment = try LogSegment.create(directory: directory, baseOffset: baseOffset, now: now)
        segments.append(segment)
        if durable { try FileIO.fsyncDirectory(directory) }
        writeProducerSnapshotLocked(at: baseOffset)
        return segment
    }

    // MARK: producer-state snapshots

    static let snapshotExtension = "snapshot"
    /// Snapshots kept: the newest few, so that a truncation behind the newest still finds one.
    static let snapshotsKept = 3

    /// At every roll, the producer state as of the new segment's base offset goes to `<offset>.snapshot` (JSON of
    /// `PartitionTransactionSnapshot`, written atomically), so that loading it (a restart, a new leader, a
    /// truncation) reads only the batches after the newest usable snapshot, as Kafka's producer snapshots. A
    /// replica that never needed the state loads it here, from the previous snapshot, so the cost stays one
    /// segment's headers. A snapshot that cannot be written only makes the next load longer.
    private func writeProducerSnapshotLocked(at offset: Int64) {
        guard (try? loadProducersLocked()) != nil else { return }
        var snapshot = producers.snapshot()
        // Every batch below `offset` is applied (batches without a producer change nothing but the end offset).
        snapshot.endOffset = max(snapshot.endOffset, offset)
        guard let bytes = try? JSONEncoder().encode(snapshot) else { return }
        let path = directory + "/" + LogSegment.fileName(snapshot.endOffset, Self.snapshotExtension)
        guard (try? FileIO.atomicWrite(Array(bytes), to: path, directory: directory)) != nil else { return }
        for offset in snapshotOffsetsLocked().dropLast(Self.snapshotsKept) {
            try? FileIO.unlinkFile(directory + "/" + LogSegment.fileName(offset, Self.snapshotExtension))
        }
    }

    /// The offsets of the snapshot files present, ascending.
    private func snapshotOffsetsLocked() -> [Int64] {
        ((try? FileIO.listDirectory(directory)) ?? []).compactMap {
            LogSegment.parseBaseOffset($0, ext: Self.snapshotExtension)
        }.sorted()
    }

    /// The newest snapshot that describes a prefix of this log (its end offset at or below the log end); an
    /// unreadable one is skipped.
    private func latestSnapshotLocked() -> PartitionTransactionSnapshot? {
        let logEnd = segments[segments.count - 1].nextOffset
        for offset in snapshotOffsetsLocked().reversed() where offset <= logEnd {
            let path = directory + "/" + LogSegment.fileName(offset, Self.snapshotExtension)
            if let bytes = try? FileIO.readWholeFile(path),
                let snapshot = try? JSONDecoder().decode(PartitionTransactionSnapshot.self, from: Data(bytes)),
                snapshot.endOffset == offset
            {
                return snapshot
            }
        }
        return nil
    }

    /// Removes the snapshots that describe batches at or after `offset` (cut from the log).
    private func deleteSnapshotsLocked(after offset: Int64) {
        for o in snapshotOffsetsLocked() where o > offset {
            try? FileIO.unlinkFile(directory + "/" + LogSegment.fileName(o, Self.snapshotExtension))
        }
    }

    private func applyFsyncPolicy(now: Int64) throws {
        switch _config.fsyncPolicy {
        case .never:
            return
        case .everyAppend:
            try segments[segments.count - 1].fsync()
        case .interval(let ms):
            if now - lastFlushMs >= ms {
                try flushLocked()
                lastFlushMs = now
            }
        }
    }

    /// Rolls a new segment now, even if the active one is not full (used by tests and by truncation tooling).
    /// Does nothing when the active segment is empty.
    public func roll() throws {
        try lock.withLock {
            guard !isClosed else { throw StorageError.closed }
            let active = segments[segments.count - 1]
            if !active.isEmpty { _ = try roll(at: active.nextOffset, now: clock.nowMillis) }
        }
    }

    // MARK: reads

    /// Reads whole batches starting with the one that contains `fromOffset`.
    ///
    /// - Parameters:
    ///   - maxBytes: a soft limit: batches are added while the total stays within it.
    ///   - maxOffset: an exclusive bound, usually the high watermark or the last stable offset: a batch is
    ///     returned only if its lastOffset is below it. Nil means logEndOffset.
    ///   - minOneBatch: return the first batch even when it alone exceeds `maxBytes` (Kafka does this for the
    ///     first partition of a fetch, so a consumer can always make progress).
    /// - Throws: `StorageError.offsetOutOfRange` when `fromOffset` is below logStartOffset or above
    ///   logEndOffset. Reading at logEndOffset returns an empty result.
    public func read(fromOffset: Int64, maxBytes: Int, maxOffset: Int64? = nil, minOneBatch: Bool = true) throws
        -> LogReadResult
    {
        try lock.withLock {
            guard !isClosed else { throw StorageError.closed }
            let logEndOffset = segments[segments.count - 1].nextOffset
            guard fromOffset >= _logStartOffset, fromOffset <= logEndOffset else {
                throw StorageError.offsetOutOfRange(
                    offset: fromOffset, logStartOffset: _logStartOffset, logEndOffset: logEndOffset)
            }
            var result = LogReadResult(
                chunks: [], sizeInBytes: 0, firstOffset: nil, nextOffset: fromOffset,
                logStartOffset: _logStartOffset, logEndOffset: logEndOffset)
            let limit = min(maxOffset ?? logEndOffset, logEndOffset)
            guard fromOffset < limit else { return result }
            var target = fromOffset
            var done = false
            for segment in segments[segmentIndex(containing: fromOffset)...] where !done {
                var chunkStart = -1, chunkLength = 0
                try segment.scanHeaders(from: segment.scanStart(for: target)) { info in
                    if info.lastOffset < target { return true }
                    if info.lastOffset >= limit { done = true; return false }
                    let first = result.sizeInBytes == 0
                    if result.sizeInBytes + info.size > maxBytes && !(first && minOneBatch) {
                        done = true; return false
                    }
                    if chunkStart < 0 { chunkStart = info.position }
                    if first { result.firstOffset = info.baseOffset }
                    chunkLength += info.size
                    result.sizeInBytes += info.size
                    result.nextOffset = info.lastOffset + 1
                    return true
                }
                if chunkLength > 0 {
                    result.chunks.append(
                        FileChunk(file: segment.file, position: Int64(chunkStart), length: chunkLength))
                }
                target = max(target, segment.nextOffset)
            }
            return result
        }
    }

    /// The index of the last segment whose base offset is at or below `offset` (0 when none is).
    private func segmentIndex(containing offset: Int64) -> Int {
        var lo = 0, hi = segments.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if segments[mid].baseOffset <= offset { lo = mid + 1 } else { hi = mid }
        }
        return max(0, lo - 1)
    }

    // MARK: offsets by timestamp

    /// Kafka's ListOffsets by timestamp: the first offset at or after logStartOffset whose record timestamp is
    /// at or after `timestamp`, with that record's timestamp; nil when no record is that recent.
    /// Finds the first segment whose largest timestamp reaches `timestamp`, starts from its time and offset
    /// indexes, scans batch headers to the first batch whose maxTimestamp reaches it, and decodes that batch.
    public func offsetForTimestamp(_ timestamp: Int64) throws -> (offset: Int64, timestamp: Int64)? {
        try lock.withLock {
            guard !isClosed else { throw StorageError.closed }
            for segment in segments where segment.maxTimestamp >= timestamp && segment.nextOffset > _logStartOffset {
                let from = max(segment.timeIndexLookup(timestamp) ?? segment.baseOffset, _logStartOffset)
                var found: BatchInfo?
                try segment.scanHeaders(from: segment.scanStart(for: from)) { info in
                    if info.lastOffset >= _logStartOffset && info.maxTimestamp >= timestamp {
                        found = info; return false
                    }
                    return true
                }
                guard let batch = found else { continue }
                if let hit = try firstRecord(in: segment, batch: batch, where: { $0.timestamp >= timestamp }) {
                    return hit
                }
            }
            return nil
        }
    }

    /// ListOffsets with timestamp -3 (KIP-734): the record with the largest timestamp (the first such record)
    /// and that timestamp; nil for an empty log.
    public func maxTimestampOffset() throws -> (offset: Int64, timestamp: Int64)? {
        try lock.withLock {
            guard !isClosed else { throw StorageError.closed }
            var best: LogSegment?
            for segment in segments where segment.maxTimestamp >= 0 && segment.maxTimestamp > (best?.maxTimestamp ?? -1)
            {
                best = segment
            }
            guard let segment = best else { return nil }
            let target = segment.offsetOfMaxTimestamp
            var found: BatchInfo?
            try segment.scanHeaders(from: segment.scanStart(for: target)) { info in
                if info.lastOffset >= target { found = info; return false }
                return true
            }
            guard let batch = found else { return nil }
            let max = segment.maxTimestamp
            return try firstRecord(in: segment, batch: batch, where: { $0.timestamp == max })
                ?? (offset: batch.lastOffset, timestamp: max)
        }
    }

    /// The first record of a stored batch (at or after logStartOffset) that satisfies `predicate`.
    private func firstRecord(
        in segment: LogSegment, batch: BatchInfo, where predicate: ((offset: Int64, timestamp: Int64)) -> Bool
    ) throws -> (offset: Int64, timestamp: Int64)? {
        let view = try segment.readBatch(batch)
        let header = view.header
        if header.attributes.timestampType == .logAppendTime {
            // Every record of a LogAppendTime batch has the batch's maxTimestamp.
            let hit = (offset: max(header.baseOffset, _logStartOffset), timestamp: header.maxTimestamp)
            return predicate(hit) ? hit : nil
        }
        do {
            for record in try view.decodeRecords() {
                let hit = (
                    offset: header.baseOffset + Int64(record.offsetDelta),
                    timestamp: header.baseTimestamp + record.timestampDelta
                )
                if hit.offset >= _logStartOffset && predicate(hit) { return hit }
            }
        } catch let e as RecordBatchError {
            throw StorageError.invalidBatch(e)
        }
        return nil
    }

    // MARK: deletion and truncation

    /// DeleteRecords: raises logStartOffset to `offset` (records below it become unreadable), persists the
    /// checkpoint, and deletes the segments that lie wholly below it (never the active one).
    /// Returns the new logStartOffset. An offset at or below the current logStartOffset changes nothing.
    @discardableResult
    public func deleteRecords(before offset: Int64) throws -> Int64 {
        try lock.withLock {
            guard !isClosed else { throw StorageError.closed }
            let logEndOffset = segments[segments.count - 1].nextOffset
            guard offset <= logEndOffset, offset >= 0 else {
                throw StorageError.offsetOutOfRange(
                    offset: offset, logStartOffset: _logStartOffset, logEndOffset: logEndOffset)
            }
            if offset > _logStartOffset {
                _logStartOffset = offset
                try writeCheckpoint()
                _ = try deleteSegmentsBelowLogStartOffset()
                producers.truncateHead(logStartOffset: offset)
                producers.removeProducersBelowLogStart()
            }
            return _logStartOffset
        }
    }

    /// Retention: deletes the oldest segments (never the active one) whose largest timestamp is more than
    /// retention.ms before `now`, then the oldest while the log exceeds retention.bytes, then those wholly
    /// below logStartOffset. logStartOffset moves up to the first remaining segment. Returns how many
    /// segments were deleted.
    @discardableResult
    public func applyRetention(now: Int64? = nil) throws -> Int {
        try lock.withLock {
            guard !isClosed else { throw StorageError.closed }
            let now = now ?? clock.nowMillis
            var deleted = 0
            if _config.retentionMs >= 0 {
                while segments.count > 1, now - segments[0].largestTimestamp > _config.retentionMs {
                    try deleteOldestSegment()
                    deleted += 1
                }
            }
            if _config.retentionBytes >= 0 {
                var excess = Int64(segments.reduce(0) { $0 + $1.size }) - _config.retentionBytes
                while segments.count > 1, excess - Int64(segments[0].size) >= 0 {
                    excess -= Int64(segments[0].size)
                    try deleteOldestSegment()
                    deleted += 1
                }
            }
            deleted += try deleteSegmentsBelowLogStartOffset()
            producers.truncateHead(logStartOffset: _logStartOffset)
            producers.removeProducersBelowLogStart()
            producers.expire(now: now, expirationMs: _config.producerIdExpirationMs)
            return deleted
        }
    }

    /// Deletes the oldest segment; logStartOffset moves to the next one's base, checkpointed before the files
    /// go so that a crash in between cannot bring deleted offsets back.
    private func deleteOldestSegment() throws {
        let next = segments[1].baseOffset
        if next > _logStartOffset {
            _logStartOffset = next
            try writeCheckpoint()
        }
        try segments.removeFirst().delete()
    }

    private func deleteSegmentsBelowLogStartOffset() throws -> Int {
        var deleted = 0
        while segments.count > 1, segments[1].baseOffset <= _logStartOffset {
            try segments.removeFirst().delete()
            deleted += 1
        }
        return deleted
    }

    /// Removes every record at and after `offset` (replication: a follower cutting its log back to where it
    /// agrees with the leader). The cut is at a batch boundary: a batch containing `offset` goes entirely.
    /// Returns the new logEndOffset. Offsets at or after logEndOffset change nothing; an offset below
    /// logStartOffset empties the log and restarts it there (Kafka's truncateFullyAndStartAt).
    @discardableResult
    public func truncate(to offset: Int64) throws -> Int64 {
        try lock.withLock {
            guard !isClosed else { throw StorageError.closed }
            let logEndOffset = segments[segments.count - 1].nextOffset
            if offset >= logEndOffset { return logEndOffset }
            if offset < _logStartOffset || offset <= segments[0].baseOffset {
                try truncateFullyLocked(startingAt: max(offset, 0))
                return offset
            }
            let index = segmentIndex(containing: offset)
            while segments.count > index + 1 { try segments.removeLast().delete() }
            let segment = segments[index]
            var cut = segment.size
            try segment.scanHeaders(from: segment.scanStart(for: offset)) { info in
                if info.lastOffset >= offset { cut = info.position; return false }
                return true
            }
            try segment.truncate(toPosition: cut, indexIntervalBytes: _config.indexIntervalBytes)
            try segment.openIndexFilesForAppend()
            // The truncated batches may have been some producers' newest: rebuild from the log when next needed.
            producers = PartitionTransactionState(logStartOffset: _logStartOffset)
            producersLoaded = false
            deleteSnapshotsLocked(after: segment.nextOffset)
            return segment.nextOffset
        }
    }

    /// Deletes every segment and starts an empty log at `offset`, which becomes logStartOffset (a follower
    /// whose log is entirely behind the leader's logStartOffset).
    public func truncateFully(startingAt offset: Int64) throws {
        try lock.withLock {
            guard !isClosed else { throw StorageError.closed }
            try truncateFullyLocked(startingAt: offset)
        }
    }

    private func truncateFullyLocked(startingAt offset: Int64) throws {
        deleteSnapshotsLocked(after: -1)
        segments = try Self.startFresh(at: offset, deleting: segments, directory: directory, now: clock.nowMillis)
        _logStartOffset = offset
        producers = PartitionTransactionState(logStartOffset: offset)
        producersLoaded = true
    }

    /// Deletes `segments`, checkpoints `offset` as logStartOffset and returns a new empty segment there.
    private static func startFresh(
        at offset: Int64, deleting segments: [LogSegment], directory: String, now: Int64
    ) throws -> [LogSegment] {
        try writeCheckpoint(offset, directory: directory)
        for segment in segments { try segment.delete() }
        return [try LogSegment.create(directory: directory, baseOffset: offset, now: now)]
    }

    // MARK: durability and lifecycle

    /// fsyncs every segment written since its last fsync, and the directory.
    public func flush() throws {
        try lock.withLock {
            guard !isClosed else { throw StorageError.closed }
            try flushLocked()
        }
    }

    private func flushLocked() throws {
        for segment in segments where segment.needsFsync { try segment.fsync() }
        try FileIO.fsyncDirectory(directory)
        lastFlushMs = clock.nowMillis
    }

    /// Flushes and closes the log. Reads already returned stay readable; their files close when they are
    /// released. Later calls throw `StorageError.closed`.
    public func close() throws {
        try lock.withLock {
            guard !isClosed else { return }
            defer {
                isClosed = true
                for segment in segments { segment.closeIndexFiles() }
                segments = [segments[segments.count - 1]]
            }
            try flushLocked()
        }
    }

    // MARK: checkpoint

    private func writeCheckpoint() throws {
        try Self.writeCheckpoint(_logStartOffset, directory: directory)
    }

    private static func writeCheckpoint(_ offset: Int64, directory: String) throws {
        let text = "1\n\(offset)\n"
        try FileIO.atomicWrite(Array(text.utf8), to: directory + "/" + checkpointName, directory: directory)
    }

    private static func readCheckpoint(directory: String) throws -> Int64? {
        let path = directory + "/" + checkpointName
        guard let bytes = try FileIO.readWholeFile(path) else { return nil }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n")
        guard lines.count == 2, lines[0] == "1", let value = Int64(lines[1]), value >= 0 else {
            throw StorageError.corruptFile(path: path, reason: "expected \"1\\n<offset>\\n\"")
        }
        return value
    }

    private static func baseName(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }
}
