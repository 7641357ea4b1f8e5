import KafkaRecords
import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// What the log needs to know of one stored batch, read from its header.
struct BatchInfo {
    var position: Int
    var size: Int
    var baseOffset: Int64
    var lastOffset: Int64
    var maxTimestamp: Int64
    /// From the header, for the producer state: -1 when the batch has no producer.
    var producerId: Int64 = -1
    var producerEpoch: Int16 = -1
    var baseSequence: Int32 = -1
    var attributes: Int16 = 0
}

/// An `.index` entry: a batch's baseOffset relative to the segment's base offset, and the batch's position.
struct OffsetIndexEntry: Equatable {
    var relativeOffset: Int32
    var position: Int32
    static let size = 8
}

/// A `.timeindex` entry: the largest timestamp in the segment up to and including the batch whose
/// lastOffset (relative) is `relativeOffset`, recorded when that timestamp was first reached.
struct TimeIndexEntry: Equatable {
    var timestamp: Int64
    var relativeOffset: Int32
    static let size = 12
}

/// One segment of a partition's log: a `.log` file of batches starting at `baseOffset`, with its sparse
/// offset and time indexes held in memory and mirrored to `.index` and `.timeindex` files.
///
/// Not thread-safe: `PartitionLog` calls it under its lock. Index files are open only while the segment is
/// the active one (the only one appended to), so an old segment costs one descriptor, its `.log`.
final class LogSegment {
    let baseOffset: Int64
    let logPath: String
    let indexPath: String
    let timeIndexPath: String
    /// The `.log` file, shared with reads in flight.
    let file: SegmentFile
    /// Bytes of whole batches in the `.log` file.
    private(set) var size: Int = 0
    /// One past the last offset in the segment (its baseOffset while empty).
    private(set) var nextOffset: Int64
    private(set) var offsetIndex: [OffsetIndexEntry] = []
    private(set) var timeIndex: [TimeIndexEntry] = []
    private var bytesSinceLastIndexEntry = 0
    /// The largest batch maxTimestamp in the segment (-1 when none) and the lastOffset of the first batch
    /// that reached it (Kafka's offsetOfMaxTimestampSoFar).
    private(set) var maxTimestamp: Int64 = -1
    private(set) var offsetOfMaxTimestamp: Int64 = -1
    /// The first batch's maxTimestamp when it has one (Kafka's rollingBasedTimestamp): segment.ms is then
    /// measured in record time, from it to the timestamp of the batch being appended.
    private(set) var firstBatchTimestamp: Int64?
    /// When this process created or opened the segment: segment.ms counts from here when the first batch
    /// has no timestamp.
    var createdMs: Int64 = 0
    /// Whether data was written since the last fsync.
    var needsFsync = false
    private var indexFd: Int32 = -1
    private var timeIndexFd: Int32 = -1

    static func fileName(_ baseOffset: Int64, _ ext: String) -> String {
        let digits = String(baseOffset)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + "." + ext
    }

    /// The base offset a segment file name stands for, or nil when the name is not `<20 digits>.<ext>`.
    static func parseBaseOffset(_ name: String, ext: String) -> Int64? {
        let suffix = "." + ext
        guard name.hasSuffix(suffix) else { return nil }
        let digits = name.dropLast(suffix.count)
        guard digits.count == 20, digits.allSatisfy({ $0 >= "0" && $0 <= "9" }) else { return nil }
        return Int64(digits)
    }

    private init(directory: String, baseOffset: Int64, fd: Int32, logPath: String) {
        self.baseOffset = baseOffset
        self.logPath = logPath
        self.indexPath = directory + "/" + Self.fileName(baseOffset, "index")
        self.timeIndexPath = directory + "/" + Self.fileName(baseOffset, "timeindex")
        self.file = SegmentFile(descriptor: fd, path: logPath)
        self.nextOffset = baseOffset
    }

    /// A new, empty segment (any stale files of that name are emptied), ready to be appended to.
    static func create(directory: String, baseOffset: Int64, now: Int64) throws -> LogSegment {
        let path = directory + "/" + fileName(baseOffset, "log")
        let fd = try FileIO.openFile(path, flags: O_RDWR | O_CREAT | O_TRUNC)
        let segment = LogSegment(directory: directory, baseOffset: baseOffset, fd: fd, logPath: path)
        segment.createdMs = now
        try segment.writeIndexFiles()
        try segment.openIndexFilesForAppend()
        return segment
    }

    /// Opens an existing segment's `.log` file; its indexes are loaded by `loadIndexes` or `recover`.
    static func open(directory: String, baseOffset: Int64) throws -> LogSegment {
        let path = directory + "/" + fileName(baseOffset, "log")
        let fd = try FileIO.openFile(path, flags: O_RDWR)
        let segment = LogSegment(directory: directory, baseOffset: baseOffset, fd: fd, logPath: path)
        segment.size = try FileIO.fileSize(fd, path: path)
        return segment
    }

    var isEmpty: Bool { size == 0 }

    /// The timestamp retention.ms compares against: the largest batch timestamp, or the file's modification
    /// time when no batch has one (as Kafka does).
    var largestTimestamp: Int64 { maxTimestamp >= 0 ? maxTimestamp : FileIO.modificationTimeMs(file.descriptor) }

    // MARK: appending

    /// Records a batch just written at `info.position`: size, offsets, timestamps and index entries.
    func didAppend(_ info: BatchInfo, indexIntervalBytes: Int) {
        if size == 0 { firstBatchTimestamp = info.maxTimestamp >= 0 ? info.maxTimestamp : nil }
        size = info.position + info.size
        nextOffset = info.lastOffset + 1
        needsFsync = true
        if info.maxTimestamp > maxTimestamp {
            maxTimestamp = info.maxTimestamp
            offsetOfMaxTimestamp = info.lastOffset
        }
        // Kafka's rule: an entry once more than index.interval.bytes were appended since the last one; the
        // first batch needs none (a lookup below every entry starts at position 0).
        if bytesSinceLastIndexEntry > indexIntervalBytes {
            appendOffsetEntry(
                OffsetIndexEntry(
                    relativeOffset: Int32(info.baseOffset - baseOffset), position: Int32(info.position)))
            maybeAppendTimeEntry()
            bytesSinceLastIndexEntry = 0
        }
        bytesSinceLastIndexEntry += info.size
    }

    /// Index entries go to memory and, for the active segment, to the file. A failed index write (disk full)
    /// only makes the index sparser, which stays correct, so it drops the entry instead of failing the append.
    private func appendOffsetEntry(_ entry: OffsetIndexEntry) {
        if indexFd >= 0 {
            var bytes = [UInt8](repeating: 0, count: OffsetIndexEntry.size)
            Self.encode(entry, into: &bytes, at: 0)
            let position = Int64(offsetIndex.count * OffsetIndexEntry.size)
            do { try bytes.withUnsafeBytes { try FileIO.pwriteAll(indexFd, $0, at: position, path: indexPath) } } catch
            { return }
        }
        offsetIndex.append(entry)
    }

    private func maybeAppendTimeEntry() {
        guard maxTimestamp > (timeIndex.last?.timestamp ?? -1) else { return }
        let entry = TimeIndexEntry(timestamp: maxTimestamp, relativeOffset: Int32(offsetOfMaxTimestamp - baseOffset))
        if timeIndexFd >= 0 {
            var bytes = [UInt8](repeating: 0, count: TimeIndexEntry.size)
            Self.encode(entry, into: &bytes, at: 0)
            let position = Int64(timeIndex.count * TimeIndexEntry.size)
            do {
                try bytes.withUnsafeBytes { try FileIO.pwriteAll(timeIndexFd, $0, at: position, path: timeIndexPath) }
            } catch { return }
        }
        timeIndex.append(entry)
    }

    /// Called when a newer segment takes over appends: the time index gets its final entry (so the segment's
    /// largest timestamp can be read back from it at the next start) and the index files are closed.
    func becomeInactive(fsync: Bool) throws {
        maybeAppendTimeEntry()
        if fsync { try self.fsync() }
        closeIndexFiles()
    }

    func openIndexFilesForAppend() throws {
        if indexFd < 0 { indexFd = try FileIO.openFile(indexPath, flags: O_RDWR | O_CREAT) }
        if timeIndexFd < 0 { timeIndexFd = try FileIO.openFile(timeIndexPath, flags: O_RDWR | O_CREAT) }
    }

    func closeIndexFiles() {
        if indexFd >= 0 { FileIO.closeFile(indexFd); indexFd = -1 }
        if timeIndexFd >= 0 { FileIO.closeFile(timeIndexFd); timeIndexFd = -1 }
    }

    /// fsync of the `.log` file, and of the index files when open (they are rebuilt if lost, but a synced
    /// index avoids the rebuild).
    func fsync() throws {
        try FileIO.fsyncFile(file.descriptor, path: logPath)
        if indexFd >= 0 { try FileIO.fsyncFile(indexFd, path: indexPath) }
        if timeIndexFd >= 0 { try FileIO.fsyncFile(timeIndexFd, path: timeIndexPath) }
        needsFsync = false
    }

    /// Unlinks the segment's files. The `.log` descriptor stays open until the last read in flight is done.
    func delete() throws {
        closeIndexFiles()
        try FileIO.unlinkFile(logPath)
        try FileIO.unlinkFile(indexPath)
        try FileIO.unlinkFile(timeIndexPath)
    }

    // MARK: lookups

    /// The position to start scanning from for `offset`: that of the last indexed batch whose baseOffset is
    /// at or below it (0 when none is).
    func scanStart(for offset: Int64) -> Int {
        let relative = offset - baseOffset
        var lo = 0, hi = offsetIndex.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if Int64(offsetIndex[mid].relativeOffset) <= relative { lo = mid + 1 } else { hi = mid }
        }
        return lo == 0 ? 0 : Int(offsetIndex[lo - 1].position)
    }

    /// The last time index entry with a timestamp at or below `timestamp`, as an absolute offset.
    func timeIndexLookup(_ timestamp: Int64) -> Int64? {
        var lo = 0, hi = timeIndex.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if timeIndex[mid].timestamp <= timestamp { lo = mid + 1 } else { hi = mid }
        }
        return lo == 0 ? nil : baseOffset + Int64(timeIndex[lo - 1].relativeOffset)
    }

    /// Visits the headers of the batches from `start` to the end of the segment, reading a window at a time,
    /// until `visit` returns false or the bytes stop looking like whole v2 batches. Returns where it stopped.
    @discardableResult
    func scanHeaders(
        from start: Int, end: Int? = nil, windowSize: Int = 16 * 1024, _ visit: (BatchInfo) throws -> Bool
    ) throws -> Int {
        let end = end ?? size
        var window = [UInt8](repeating: 0, count: windowSize)
        var windowStart = 0, windowLength = 0
        var pos = start
        while pos + RecordBatchHeader.size <= end {
            if pos < windowStart || pos + RecordBatchHeader.size > windowStart + windowLength {
                let want = min(windowSize, end - pos)
                windowLength = try window.withUnsafeMutableBytes {
                    try FileIO.preadFully(
                        file.descriptor, into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<want]),
                        at: Int64(pos), path: logPath)
                }
                windowStart = pos
                if windowLength < RecordBatchHeader.size { break }
            }
            let at = pos - windowStart
            let batchLength = Int(Self.int32(window, at + 8))
            guard window[at + 16] == 2, batchLength >= RecordBatchHeader.size - RecordBatchHeader.logOverhead else {
                break
            }
            let total = batchLength + RecordBatchHeader.logOverhead
            guard pos + total <= end else { break }
            let base = Self.int64(window, at)
            let info = BatchInfo(
                position: pos, size: total, baseOffset: base, lastOffset: base + Int64(Self.int32(window, at + 23)),
                maxTimestamp: Self.int64(window, at + 35), producerId: Self.int64(window, at + 43),
                producerEpoch: Int16(truncatingIfNeeded: Self.int32(window, at + 49)),
                baseSequence: Self.int32(window, at + 53),
                attributes: Int16(truncatingIfNeeded: Self.int32(window, at + 19)))
            guard try visit(info) else { break }
            pos += total
        }
        return pos
    }

    /// The whole batch at `position`, read into a buffer.
    func readBatch(_ info: BatchInfo) throws -> RecordBatchView {
        var buffer = ByteBuffer()
        try FileChunk(file: file, position: Int64(info.position), length: info.size).read(into: &buffer)
        return try RecordBatchView(bytes: buffer)
    }

    // MARK: recovery and rebuilding

    /// Why a scan stopped before the end of the file.
    struct ScanResult {
        var fileBytes: Int
        var validBytes: Int
        var problem: String?
    }

    /// Validates every batch from the start (CRC, sizes, magic, offsets increasing), rebuilding the in-memory
    /// indexes as it goes, and cuts the file at the first batch that fails. Used for the active segment at
    /// startup, whose tail a crash may have torn.
    func recover(indexIntervalBytes: Int, chunkSize: Int = 8 << 20) throws -> ScanResult {
        resetIndexes()
        let fileSize = try FileIO.fileSize(file.descriptor, path: logPath)
        size = 0
        var pos = 0
        var problem: String?
        scanning: while pos < fileSize {
            let remaining = fileSize - pos
            if remaining < RecordBatchHeader.logOverhead + 5 {
                problem = "incomplete batch header (\(remaining) bytes) at position \(pos)"
                break
            }
            // Make sure the chunk holds at least the next whole batch.
            var need = min(chunkSize, remaining)
            var head = [UInt8](repeating: 0, count: 12)
            _ = try head.withUnsafeMutableBytes {
                try FileIO.preadFully(file.descriptor, into: $0, at: Int64(pos), path: logPath)
            }
            let first = Int(Self.int32(head, 8)) + RecordBatchHeader.logOverhead
            if first > need && first <= remaining { need = first }
            var chunk = ByteBuffer()
            try FileChunk(file: file, position: Int64(pos), length: need).read(into: &chunk)
            var iterator = RecordBatchSequence(chunk).makeIterator()
            var consumed = 0
            while let view = iterator.next() {
                do { try view.validate() } catch {
                    problem = "\(error) in the batch at position \(pos + consumed)"
                    break scanning
                }
                let info = BatchInfo(
                    position: pos + consumed, size: view.sizeInBytes, baseOffset: view.baseOffset,
                    lastOffset: view.lastOffset, maxTimestamp: view.header.maxTimestamp)
                guard view.lastOffsetDelta >= 0, info.baseOffset >= nextOffset,
                    info.lastOffset - baseOffset <= Int64(Int32.max)
                else {
                    problem =
                        "batch at position \(info.position) has offsets \(info.baseOffset)...\(info.lastOffset), not after \(nextOffset - 1)"
                    break scanning
                }
                didAppend(info, indexIntervalBytes: indexIntervalBytes)
                consumed += info.size
            }
            if let stop = iterator.stop {
                if case .partialBatch(let available) = stop {
                    if pos + consumed + available >= fileSize {
                        problem =
                            "incomplete batch (\(available) of the file's last bytes) at position \(pos + consumed)"
                        break scanning
                    }
                } else {
                    problem = "\(stop) at position \(pos + consumed)"
                    break scanning
                }
            }
            if consumed == 0 {
                problem = "unreadable batch at position \(pos)"
                break
            }
            pos += consumed
        }
        if size < fileSize { try FileIO.truncateFile(file.descriptor, to: size, path: logPath) }
        return ScanResult(fileBytes: fileSize, validBytes: size, problem: problem)
    }

    /// Rebuilds the indexes from the batch headers alone (no CRC check), for a segment whose index files are
    /// missing or inconsistent. Stops at anything that is not a whole batch.
    func rebuildIndexesFromHeaders(indexIntervalBytes: Int) throws {
        resetIndexes()
        let fileSize = size
        size = 0
        try scanHeaders(from: 0, end: fileSize, windowSize: 64 * 1024) { info in
            guard info.baseOffset >= nextOffset else { return false }
            didAppend(info, indexIntervalBytes: indexIntervalBytes)
            return true
        }
        // Whatever follows the last whole batch is not part of the segment; appends never reach an old segment.
    }

    /// Kafka's segment.ms test: how long the segment has been open, in record time when its first batch has
    /// a timestamp (the new batch's maxTimestamp minus that one), otherwise in broker time since creation.
    func age(appending batchMaxTimestamp: Int64, now: Int64) -> Int64 {
        if let first = firstBatchTimestamp { return batchMaxTimestamp - first }
        return now - createdMs
    }

    /// The final time index entry a segment gets when it stops being the active one.
    func finishTimeIndex() { maybeAppendTimeEntry() }

    private func resetIndexes() {
        offsetIndex = []
        timeIndex = []
        bytesSinceLastIndexEntry = 0
        maxTimestamp = -1
        offsetOfMaxTimestamp = -1
        nextOffset = baseOffset
        firstBatchTimestamp = nil
    }

    /// Loads the index files of an inactive segment and checks them against the log: sizes, monotonic entries,
    /// positions inside the file, the last offset entry pointing at a batch of that offset. Returns false when
    /// they are missing or inconsistent (the caller then rebuilds them).
    func loadIndexes() throws -> Bool {
        guard let rawOffsets = try FileIO.readWholeFile(indexPath),
            let rawTimes = try FileIO.readWholeFile(timeIndexPath),
            rawOffsets.count % OffsetIndexEntry.size == 0, rawTimes.count % TimeIndexEntry.size == 0
        else { return false }
        var offsets: [OffsetIndexEntry] = []
        for i in stride(from: 0, to: rawOffsets.count, by: OffsetIndexEntry.size) {
            let e = OffsetIndexEntry(relativeOffset: Self.int32(rawOffsets, i), position: Self.int32(rawOffsets, i + 4))
            guard e.relativeOffset >= 0, e.position >= 0, Int(e.position) < size else { return false }
            if let last = offsets.last, e.relativeOffset <= last.relativeOffset || e.position <= last.position {
                return false
            }
            offsets.append(e)
        }
        var times: [TimeIndexEntry] = []
        for i in stride(from: 0, to: rawTimes.count, by: TimeIndexEntry.size) {
            let e = TimeIndexEntry(timestamp: Self.int64(rawTimes, i), relativeOffset: Self.int32(rawTimes, i + 8))
            guard e.relativeOffset >= 0 else { return false }
            if let last = times.last, e.timestamp <= last.timestamp || e.relativeOffset < last.relativeOffset {
                return false
            }
            times.append(e)
        }
        // A non-empty segment always has a final time entry unless no batch carries a timestamp; rebuilding is
        // the cheap way to tell an emptied file from that rare case.
        if size > 0 && times.isEmpty { return false }
        // Find the segment's end offset from the last indexed batch, checking that entry on the way.
        let start = offsets.last.map { Int($0.position) } ?? 0
        var expectedFirst: Int64? = offsets.last.map { baseOffset + Int64($0.relativeOffset) }
        var end = baseOffset
        var consistent = true
        let stop = try scanHeaders(from: start) { info in
            if let expected = expectedFirst {
                expectedFirst = nil
                guard info.baseOffset == expected else { consistent = false; return false }
            }
            end = info.lastOffset + 1
            return true
        }
        guard consistent, stop == size else { return false }
        if let last = times.last, baseOffset + Int64(last.relativeOffset) >= end { return false }
        offsetIndex = offsets
        timeIndex = times
        nextOffset = end
        if let last = times.last {
            maxTimestamp = last.timestamp
            offsetOfMaxTimestamp = baseOffset + Int64(last.relativeOffset)
        }
        return true
    }

    /// Writes both index files from memory. Returns whether their previous contents differed.
    @discardableResult
    func writeIndexFiles() throws -> Bool {
        var offsets = [UInt8](repeating: 0, count: offsetIndex.count * OffsetIndexEntry.size)
        for (i, e) in offsetIndex.enumerated() { Self.encode(e, into: &offsets, at: i * OffsetIndexEntry.size) }
        var times = [UInt8](repeating: 0, count: timeIndex.count * TimeIndexEntry.size)
        for (i, e) in timeIndex.enumerated() { Self.encode(e, into: &times, at: i * TimeIndexEntry.size) }
        var changed = false
        for (path, bytes) in [(indexPath, offsets), (timeIndexPath, times)] {
            if try FileIO.readWholeFile(path) == bytes { continue }
            changed = true
            let fd = try FileIO.openFile(path, flags: O_RDWR | O_CREAT)
            defer { FileIO.closeFile(fd) }
            try FileIO.truncateFile(fd, to: 0, path: path)
            try bytes.withUnsafeBytes { try FileIO.pwriteAll(fd, $0, at: 0, path: path) }
        }
        return changed
    }

    /// Cuts the segment at `position` (a batch boundary) and rebuilds its indexes from what remains.
    func truncate(toPosition position: Int, indexIntervalBytes: Int) throws {
        try FileIO.truncateFile(file.descriptor, to: position, path: logPath)
        size = position
        try rebuildIndexesFromHeaders(indexIntervalBytes: indexIntervalBytes)
        closeIndexFiles()
        try writeIndexFiles()
        needsFsync = true
    }

    // MARK: big-endian helpers

    static func int32(_ b: [UInt8], _ i: Int) -> Int32 {
        Int32(bitPattern: UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3]))
    }

    static func int64(_ b: [UInt8], _ i: Int) -> Int64 {
        Int64(bitPattern: UInt64(UInt32(bitPattern: int32(b, i))) << 32 | UInt64(UInt32(bitPattern: int32(b, i + 4))))
    }

    static func put32(_ v: Int32, _ b: inout [UInt8], _ i: Int) {
        let u = UInt32(bitPattern: v)
        b[i] = UInt8(u >> 24); b[i + 1] = UInt8(truncatingIfNeeded: u >> 16)
        b[i + 2] = UInt8(truncatingIfNeeded: u >> 8); b[i + 3] = UInt8(truncatingIfNeeded: u)
    }

    static func put64(_ v: Int64, _ b: inout [UInt8], _ i: Int) {
        put32(Int32(truncatingIfNeeded: v >> 32), &b, i)
        put32(Int32(truncatingIfNeeded: v), &b, i + 4)
    }

    static func encode(_ e: OffsetIndexEntry, into b: inout [UInt8], at i: Int) {
        put32(e.relativeOffset, &b, i); put32(e.position, &b, i + 4)
    }

    static func encode(_ e: TimeIndexEntry, into b: inout [UInt8], at i: Int) {
        put64(e.timestamp, &b, i); put32(e.relativeOffset, &b, i + 8)
    }
}
