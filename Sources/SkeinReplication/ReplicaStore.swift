import Foundation
import KafkaRecords
import NIOCore
import SkeinModel
import SkeinRaft
import SkeinStorage

/// The durable side of one replica: the partition's Kafka log is the Raft log (a record batch is an entry, its
/// offsets the indices, its partitionLeaderEpoch the term), and a small `raft-state` file beside the segments
/// holds the term, the vote and the last commit index seen.
///
/// Writes of the term and vote go to disk before the messages of the same Ready leave (a vote must not be
/// forgotten); the commit index is only a hint (a restarted replica that remembers an older one re-learns it),
/// so it is written with them and when `saveCommit()` is called. Not thread-safe: one owner.
public final class ReplicaStore {
    public let log: PartitionLog
    public let directory: String
    private var saved = HardState(term: 0, votedFor: .none, commit: -1)
    private var latest = HardState(term: 0, votedFor: .none, commit: -1)

    public init(log: PartitionLog) {
        self.log = log
        self.directory = log.directory
    }

    private var statePath: String { directory + "/raft-state" }
    private var votersPath: String { directory + "/raft-voters" }

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

    /// What a restarting replica starts from: the hard state, a log start at the last committed batch, and the
    /// batches after it (uncommitted as far as this replica knows, so few) as entries.
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
        let logEnd = log.logEndOffset
        var commit = min(hs.commit, logEnd - 1)
        var start = LogPosition(index: logStart - 1, term: 0)
        if commit >= logStart {
            if let batch = try batches(from: commit, through: commit).first, batch.lastOffset == commit {
                start = LogPosition(index: commit, term: Int64(batch.partitionLeaderEpoch))
            } else {
                // Not a batch end (cannot happen with a consistent log): treat everything on disk as unknown.
                commit = logStart - 1
            }
        }
        if start.index == logStart - 1 && logStart > 0 {
            // The term before the log start is unknown; a leader that disagrees sends its log start (InstallSnapshot).
            start.term = 0
            // A log start inside a batch (DeleteRecords): that batch is committed (offsets below a log start are),
            // so the Raft log starts after it.
            if let first = try batches(from: logStart, through: logStart).first, first.baseOffset < logStart {
                start = LogPosition(index: first.lastOffset, term: Int64(first.partitionLeaderEpoch))
            }
        }
        let entries = try batches(from: start.index + 1, through: logEnd - 1).map(Self.entry)
        hs.commit = max(commit, start.index)
        return RaftPersistentState(hardState: hs, logStart: start, voters: try loadVoters(), entries: entries)
    }

    /// The batches covering `from` through `through` (the first one containing `from`, the last one containing
    /// `through`, which may end after it), read from disk.
    public func batches(from: Int64, through: Int64) throws -> [RecordBatchView] {
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

    /// A record batch as a Raft entry.
    public static func entry(_ batch: RecordBatchView) -> LogEntry {
        var kind = EntryKind.data
        if batch.attributes.isControl {
            switch try? batch.controlRecordType() {
            case .leaderChange?: kind = .leaderNoop
            case .unknown(Self.votersControlType)?: kind = .configuration
            default: break
            }
        }
        return LogEntry(
            index: batch.baseOffset, term: Int64(batch.partitionLeaderEpoch), kind: kind,
            payload: Array(batch.bytes.readableBytesView), count: Int64(batch.lastOffsetDelta) + 1)
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
    public func persist(_ ready: Ready) throws {
        if let first = ready.entries.first {
            if first.index < log.logEndOffset { try log.truncate(to: first.index) }
            var buffer = ByteBufferAllocator().buffer(capacity: ready.entries.reduce(0) { $0 + $1.payload.count })
            for e in ready.entries { buffer.writeBytes(e.payload) }
            // Every entry was validated (CRC included) where it entered the cluster: the leader's Produce handler,
            // or the leader's own control batch; replication carries it over TLS. Catch-up fetches, which read
            // batches back from a disk, still validate them.
            guard let info = try log.appendAsFollower(buffer, checksumVerified: true),
                info.lastOffset == ready.entries.last!.lastIndex
            else {
                throw StorageError.corruptFile(
                    path: directory, reason: "replicated entries did not land at their offsets")
            }
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
