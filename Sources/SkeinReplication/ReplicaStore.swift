import Foundation
import KafkaRecords
import NIOCore
import SkeinModel
import SkeinRaft
import SkeinStorage

/// The durable side of one replica. The Raft log is two files' worth of entries:
/// - the partition's Kafka log holds the record batches (clients' and transaction markers), stored as received
///   with their Kafka offsets, so Fetch serves them as stored;
/// - `raft-internal` holds the entries Raft writes for itself (a leader's no-op, voter changes, log-start moves),
///   which take a Raft index and no Kafka offset (`OffsetTranslator`).
///
/// A batch's partitionLeaderEpoch is its entry's term. A small `raft-state` file beside the segments holds the
/// term, the vote and the last commit index seen (a Raft index).
///
/// Writes of the term and vote go to disk before the messages of the same Ready leave (a vote must not be
/// forgotten); the commit index is only a hint (a restarted replica that remembers an older one re-learns it),
/// so it is written with them and when `saveCommit()` is called. Not thread-safe: one owner.
public final class ReplicaStore {
    public let log: PartitionLog
    public let directory: String
    private var saved = HardState(term: 0, votedFor: .none, commit: -1)
    private var latest = HardState(term: 0, votedFor: .none, commit: -1)
    /// Raft indices against Kafka offsets, from `raft-internal`.
    public private(set) var translator = OffsetTranslator()
    /// The internal entries (terms and payloads), parallel to `translator.marks`.
    private var internalEntries: [LogEntry] = []
    /// The byte length of `raft-internal` after each entry of `internalEntries`.
    private var internalFileEnds: [Int] = []
    private var internalFile: Int32 = -1

    public init(log: PartitionLog) throws {
        self.log = log
        self.directory = log.directory
        try openInternal()
    }

    deinit {
        if internalFile >= 0 { close(internalFile) }
    }

    private var statePath: String { directory + "/raft-state" }
    private var votersPath: String { directory + "/raft-voters" }
    private var internalPath: String { directory + "/raft-internal" }

    // MARK: - Raft indices and Kafka offsets

    /// The Kafka offset of the first data record at or after Raft index `raft`.
    public func kafkaOffset(atRaft raft: Int64) -> Int64 { translator.kafkaOffset(atRaft: raft) }

    /// The Raft index of the data record at Kafka offset `kafka`.
    public func raftIndex(ofKafka kafka: Int64) -> Int64 { translator.raftIndex(ofKafka: kafka) }

    /// The last Raft index on disk (-1 for an empty log).
    public var raftEnd: Int64 { translator.raftEnd(kafkaEnd: log.logEndOffset) }

    /// Whether an entry is one Raft writes for itself (no Kafka offset): a leader's no-op, a voter change, a
    /// log-start move.
    public static func isInternal(_ entry: LogEntry) -> Bool {
        entry.kind != .data || isInternalBatch(entry.payload)
    }

    /// Whether a batch's bytes are a control batch of one of Raft's own types.
    public static func isInternalBatch(_ payload: [UInt8]) -> Bool {
        // Control batches only (attributes bit 5): a cheap test before any parsing.
        guard payload.count > 61, payload[22] & 0x20 != 0,
            let view = try? RecordBatchView(bytes: ByteBuffer(bytes: payload))
        else { return false }
        switch try? view.controlRecordType() {
        case .leaderChange?, .unknown(votersControlType)?, .unknown(logStartControlType)?: return true
        default: return false
        }
    }

    /// The control record type of a log-start move (DeleteRecords): outside Kafka's types (0-6).
    public static let logStartControlType: Int16 = 0x5301

    // MARK: - raft-internal

    /// Record layout: length (u32, of what follows), CRC-32C (u32, of what follows it), Raft index, Kafka offset,
    /// term (i64 each), kind (u8), the payload. A torn or corrupt record ends the file (it is cut there).
    private func openInternal() throws {
        let fd = open(internalPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StorageError.io(operation: "open", path: internalPath, errno: errno) }
        internalFile = fd
        let data = FileManager.default.contents(atPath: internalPath) ?? Data()
        let bytes = [UInt8](data)
        var at = 0
        var marks: [OffsetTranslator.Mark] = []
        func int(_ p: Int, _ n: Int) -> Int64 { bytes[p..<(p + n)].reduce(Int64(0)) { $0 << 8 | Int64($1) } }
        let logEnd = log.logEndOffset
        while at + 8 <= bytes.count {
            let length = Int(int(at, 4))
            guard length >= 25, at + 8 + length <= bytes.count else { break }
            let crc = UInt32(int(at + 4, 4))
            let body = bytes[(at + 8)..<(at + 8 + length)]
            guard body.withUnsafeBytes({ CRC32C.checksum($0) }) == crc else { break }
            let raft = int(at + 8, 8)
            let kafka = int(at + 16, 8)
            let term = int(at + 24, 8)
            guard let kind = EntryKind(rawValue: bytes[at + 32]) else { break }
            let mark = OffsetTranslator.Mark(raft: raft, kafka: kafka)
            // An entry whose data before it is not on disk (lost with unsynced writes) ends the log.
            let probe = OffsetTranslator(marks: marks)
            guard probe.canAppend(mark), kafka <= logEnd else { break }
            marks.append(mark)
            internalEntries.append(
                LogEntry(index: raft, term: term, kind: kind, payload: Array(bytes[(at + 33)..<(at + 8 + length)])))
            at += 8 + length
            internalFileEnds.append(at)
        }
        translator = OffsetTranslator(marks: marks)
        if at < bytes.count { try cutInternal(toLength: at) }
    }

    private func cutInternal(toLength length: Int) throws {
        guard ftruncate(internalFile, off_t(length)) == 0 else {
            throw StorageError.io(operation: "ftruncate", path: internalPath, errno: errno)
        }
    }

    private func appendInternal(_ e: LogEntry) throws {
        let kafka = translator.kafkaOffset(atRaft: e.index)
        guard translator.append(raft: e.index) else {
            throw StorageError.corruptFile(path: internalPath, reason: "internal entry \(e.index) out of order")
        }
        var body = [UInt8]()
        body.reserveCapacity(25 + e.payload.count)
        for v in [e.index, kafka, e.term] {
            for shift in stride(from: 56, through: 0, by: -8) { body.append(UInt8(truncatingIfNeeded: v >> Int64(shift))) }
        }
        body.append(e.kind.rawValue)
        body.append(contentsOf: e.payload)
        let crc = body.withUnsafeBytes { CRC32C.checksum($0) }
        var record = [UInt8]()
        for v in [UInt32(body.count), crc] {
            for shift in stride(from: 24, through: 0, by: -8) { record.append(UInt8(truncatingIfNeeded: v >> UInt32(shift))) }
        }
        record.append(contentsOf: body)
        let offset = internalFileEnds.last ?? 0
        let written = record.withUnsafeBytes { pwrite(internalFile, $0.baseAddress, $0.count, off_t(offset)) }
        guard written == record.count else {
            translator.truncate(fromRaft: e.index)
            throw StorageError.io(operation: "write", path: internalPath, errno: errno)
        }
        // Rare (elections, voter changes, DeleteRecords) and the Kafka offsets of everything after depend on it.
        guard fsync(internalFile) == 0 else { throw StorageError.io(operation: "fsync", path: internalPath, errno: errno) }
        internalEntries.append(LogEntry(index: e.index, term: e.term, kind: e.kind, payload: e.payload))
        internalFileEnds.append(offset + record.count)
    }

    /// Cuts the Raft log at `raft`: internal entries from there on go, and the Kafka log is cut where the first
    /// data record at or after it would be.
    public func truncate(fromRaft raft: Int64) throws {
        let kafka = translator.kafkaOffset(atRaft: raft)
        if let k = internalEntries.firstIndex(where: { $0.index >= raft }) {
            try cutInternal(toLength: k == 0 ? 0 : internalFileEnds[k - 1])
            internalEntries.removeLast(internalEntries.count - k)
            internalFileEnds.removeLast(internalFileEnds.count - k)
            translator.truncate(fromRaft: raft)
        }
        if kafka < log.logEndOffset { try log.truncate(to: kafka) }
    }

    /// The internal entries with Raft indices in `range`.
    public func internalEntries(in range: ClosedRange<Int64>) -> [LogEntry] {
        internalEntries.filter { range.contains($0.index) }
    }

    /// Appends internal entries sent by a leader (a catch-up) after the data before each is on disk.
    public func appendInternal(_ entries: [LogEntry]) throws {
        for e in entries { try appendInternal(e) }
    }

    // MARK: - Voters and hard state

    /// The voter set as of the last committed configuration entry (or as the replica was created), nil when no
    /// file was written yet. A restart starts from it: the metadata's replica set may be a change not yet made.
    public func loadVoters() throws -> [BrokerId]? {
        guard let text = try? String(contentsOfFile: votersPath, encoding: .utf8) else { return nil }
        let ids = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",").map {
            Int32($0.trimmingCharacters(in: .whitespaces))
        }
        guard !ids.isEmpty, ids.allSatisfy({ $0 != nil }) else {
            throw StorageError.corruptFile(path: votersPath, reason: "expected comma-separated node ids: '\(text)'")
        }
        return ids.map { BrokerId($0!) }.sorted()
    }

    /// Writes the voter set durably (temporary file, fsync, rename).
    public func saveVoters(_ voters: [BrokerId]) throws {
        let bytes = Array(voters.sorted().map { String($0.rawValue) }.joined(separator: ",").utf8) + [10]
        try Self.replaceFile(votersPath, with: bytes, sync: true)
    }

    /// Writes `bytes` to a temporary file, fsyncs it when `sync`, then renames it over `path`: a crash leaves the
    /// old file or the new one, never a torn one.
    private static func replaceFile(_ path: String, with bytes: [UInt8], sync: Bool) throws {
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StorageError.io(operation: "open", path: tmp, errno: errno) }
        defer { close(fd) }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw StorageError.io(operation: "write", path: tmp, errno: errno) }
        guard !sync || fsync(fd) == 0 else { throw StorageError.io(operation: "fsync", path: tmp, errno: errno) }
        guard rename(tmp, path) == 0 else { throw StorageError.io(operation: "rename", path: path, errno: errno) }
    }

    // MARK: - Loading and reading

    /// The term of the entry ending at Raft index `raft`, nil when no entry on disk ends there.
    public func term(endingAt raft: Int64) throws -> Int64? {
        if translator.isInternal(raft) { return internalEntries.first(where: { $0.index == raft })?.term }
        let kafka = translator.kafkaOffset(atRaft: raft)
        guard kafka >= log.logStartOffset, kafka < log.logEndOffset,
            let batch = try batches(from: kafka, through: kafka).first, batch.lastOffset == kafka
        else { return nil }
        return Int64(batch.partitionLeaderEpoch)
    }

    /// What a restarting replica starts from: the hard state, a log start at the last committed entry, and the
    /// entries after it (uncommitted as far as this replica knows, so few).
    public func load() throws -> RaftPersistentState {
        var hs = HardState(term: 0, votedFor: .none, commit: -1)
        if let data = FileManager.default.contents(atPath: statePath) {
            guard data.count == 20 else {
                throw StorageError.corruptFile(path: statePath, reason: "expected 20 bytes, found \(data.count)")
            }
            let bytes = [UInt8](data)
            func int(_ at: Int, _ n: Int) -> Int64 { bytes[at..<(at + n)].reduce(Int64(0)) { $0 << 8 | Int64($1) } }
            hs = HardState(
                term: int(0, 8), votedFor: BrokerId(Int32(truncatingIfNeeded: int(8, 4))), commit: int(12, 8))
        }
        saved = hs
        latest = hs
        let logStart = log.logStartOffset
        let end = raftEnd
        // Below the first record on disk, Raft knows nothing but its index (the term is unknown: a leader that
        // disagrees sends its log start, as InstallSnapshot would). Internal entries after the last record below
        // the log start are still on disk (in raft-internal).
        var start = LogPosition.empty
        if logStart > 0 { start = LogPosition(index: translator.raftIndex(ofKafka: logStart - 1), term: 0) }
        if logStart > 0, let first = try batches(from: logStart, through: logStart).first, first.baseOffset < logStart
        {
            // A log start inside a batch (DeleteRecords): that batch is committed (offsets below a log start are),
            // so the Raft log starts after it.
            start = LogPosition(
                index: translator.raftIndex(ofKafka: first.lastOffset), term: Int64(first.partitionLeaderEpoch))
        }
        let commit = min(hs.commit, end)
        if commit > start.index, let term = try term(endingAt: commit) {
            start = LogPosition(index: commit, term: term)
        }
        let entries = try self.entries(from: start.index + 1, through: end)
        hs.commit = max(commit, start.index)
        return RaftPersistentState(hardState: hs, logStart: start, voters: try loadVoters(), entries: entries)
    }

    /// The Raft entries from Raft index `from` through `through`, read from disk: the record batches and the
    /// internal entries, in Raft order.
    public func entries(from: Int64, through: Int64) throws -> [LogEntry] {
        guard from <= through else { return [] }
        let internals = internalEntries(in: from...through)
        let kafkaFrom = translator.kafkaOffset(atRaft: from)
        let kafkaEnd = translator.kafkaOffset(atRaft: through + 1)
        var data: [LogEntry] = []
        if kafkaFrom < kafkaEnd {
            for batch in try batches(from: kafkaFrom, through: kafkaEnd - 1) where batch.baseOffset >= kafkaFrom {
                data.append(entry(batch))
            }
        }
        var out: [LogEntry] = []
        out.reserveCapacity(internals.count + data.count)
        var i = 0
        var d = 0
        while i < internals.count || d < data.count {
            if d == data.count || (i < internals.count && internals[i].index < data[d].index) {
                out.append(internals[i])
                i += 1
            } else {
                out.append(data[d])
                d += 1
            }
        }
        return out
    }

    /// The batches covering Kafka offsets `from` through `through` (the first one containing `from`, the last one
    /// containing `through`, which may end after it), read from disk.
    public func batches(from: Int64, through: Int64) throws -> [RecordBatchView] {
        try Self.batches(of: log, from: from, through: through)
    }

    /// `batches(from:through:)` of any partition log (Kafka offsets only, no Raft state needed).
    public static func batches(of log: PartitionLog, from: Int64, through: Int64) throws -> [RecordBatchView] {
        var found: [RecordBatchView] = []
        var next = max(from, log.logStartOffset)
        // A read's maxOffset would leave out a batch that ends after `through`: read on, a few MiB at a time.
        while next <= through, next < log.logEndOffset {
            let read = try log.read(fromOffset: next, maxBytes: from == through ? 1 : 4 << 20)
            guard read.sizeInBytes > 0 else { break }
            var buffer = ByteBufferAllocator().buffer(capacity: read.sizeInBytes)
            for chunk in read.chunks { try chunk.read(into: &buffer) }
            for batch in RecordBatchSequence(buffer) {
                guard batch.baseOffset <= through else { return found }
                found.append(batch)
            }
            next = read.nextOffset
        }
        return found
    }

    /// A record batch of the Kafka log as a Raft entry (a data entry at its Raft index).
    public func entry(_ batch: RecordBatchView) -> LogEntry {
        LogEntry(
            index: translator.raftIndex(ofKafka: batch.baseOffset), term: Int64(batch.partitionLeaderEpoch),
            kind: .data, payload: Array(batch.bytes.readableBytesView), count: Int64(batch.lastOffsetDelta) + 1)
    }

    /// The control record type of a voter-set change (a Raft configuration entry): outside Kafka's types (0-6),
    /// so consumers skip it as the control record it is.
    public static let votersControlType: Int16 = 0x5302

    /// A configuration entry as a control batch: value = version (int16 0), count (int32), the node ids (int32).
    public static func votersBatch(_ voters: [BrokerId], at position: LogPosition, timestamp: Int64) -> [UInt8] {
        var value = ByteBuffer()
        value.writeInteger(Int16(0))
        value.writeInteger(Int32(voters.count))
        for v in voters.sorted() { value.writeInteger(v.rawValue) }
        // A one-record uncompressed control batch cannot fail to build.
        let batch = try! RecordBatchBuilder.controlBatch(
            type: .unknown(votersControlType), value: value, baseOffset: position.index,
            partitionLeaderEpoch: Int32(truncatingIfNeeded: position.term), timestamp: timestamp)
        return Array(batch.readableBytesView)
    }

    /// The voters a configuration entry's batch carries (empty when it is not one: Raft then sees no voters,
    /// which cannot happen for entries this store wrote).
    public static func voters(inBatch payload: [UInt8]) -> [BrokerId] {
        guard let view = try? RecordBatchView(bytes: ByteBuffer(bytes: payload)),
            (try? view.controlRecordType()) == .unknown(votersControlType),
            var value = try? view.decodeRecords().first?.value,
            value.readInteger(as: Int16.self) == 0, let count = value.readInteger(as: Int32.self),
            count >= 0, Int(count) * 4 <= value.readableBytes
        else { return [] }
        return (0..<Int(count)).compactMap { _ in value.readInteger(as: Int32.self).map { BrokerId($0) } }.sorted()
    }

    /// The control batch a new leader writes at the start of its term (KRaft's LEADER_CHANGE type; consumers skip
    /// control batches).
    public static func leaderChangeBatch(at position: LogPosition, timestamp: Int64) -> [UInt8] {
        // A fixed-size control batch with no compression cannot fail to build.
        let batch = try! RecordBatchBuilder.controlBatch(
            type: .leaderChange, value: nil, baseOffset: position.index,
            partitionLeaderEpoch: Int32(truncatingIfNeeded: position.term), timestamp: timestamp)
        return Array(batch.readableBytesView)
    }

    /// Persists the entries and hard state of a Ready (the snapshot is the caller's: it needs the leader's data).
    /// Data entries carry their Kafka offsets (the leader wrote them into the batch header); each must land at
    /// the offset its Raft index translates to.
    public func persist(_ ready: Ready) throws {
        if let first = ready.entries.first {
            if first.index <= raftEnd { try truncate(fromRaft: first.index) }
            var buffer = ByteBuffer()
            var expected = translator.kafkaOffset(atRaft: first.index)
            var pendingLast: Int64 = -1
            func flush() throws {
                guard buffer.readableBytes > 0 else { return }
                // Every entry was validated (CRC included) where it entered the cluster: the leader's Produce
                // handler, or the leader's own control batch; replication carries it over TLS. Catch-up fetches,
                // which read batches back from a disk, still validate them.
                guard let info = try log.appendAsFollower(buffer, checksumVerified: true), info.lastOffset == pendingLast
                else {
                    throw StorageError.corruptFile(path: directory, reason: "replicated entries did not land at their offsets")
                }
                buffer.clear()
            }
            for e in ready.entries {
                if Self.isInternal(e) {
                    try flush()
                    try appendInternal(e)
                    continue
                }
                let base = e.payload.count >= 8 ? e.payload[0..<8].reduce(Int64(0)) { $0 << 8 | Int64($1) } : -1
                guard base == expected else {
                    throw StorageError.corruptFile(
                        path: directory, reason: "entry \(e.index) carries offset \(base), expected \(expected)")
                }
                if buffer.readableBytes == 0 { buffer.reserveCapacity(ready.entries.reduce(0) { $0 + $1.payload.count }) }
                buffer.writeBytes(e.payload)
                expected += e.count
                pendingLast = expected - 1
            }
            try flush()
        }
        if let hs = ready.hardState {
            latest = hs
            if hs.term != saved.term || hs.votedFor != saved.votedFor { try writeState(hs, sync: true) }
        }
    }

    /// Writes the latest commit index if it moved since the last write.
    public func saveCommit() throws {
        if latest != saved { try writeState(latest, sync: false) }
    }

    private func writeState(_ hs: HardState, sync: Bool) throws {
        var bytes = [UInt8]()
        for shift in stride(from: 56, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: hs.term >> Int64(shift)))
        }
        let vote = UInt32(bitPattern: hs.votedFor.rawValue)
        for shift in stride(from: 24, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: vote >> UInt32(shift)))
        }
        for shift in stride(from: 56, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: hs.commit >> Int64(shift)))
        }
        // A new term or vote is fsynced before the rename, so that it survives power loss too.
        try Self.replaceFile(statePath, with: bytes, sync: sync)
        saved = hs
    }
}
