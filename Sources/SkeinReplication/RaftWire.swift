import NIOCore
import SkeinModel
import SkeinRaft

/// A Raft group: a partition's replicas, or the controller (the `__cluster_metadata` partition, as in KRaft).
public struct GroupId: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32
    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }
    public static let controller = GroupId(topic: "__cluster_metadata", partition: 0)
    public static func < (a: GroupId, b: GroupId) -> Bool { (a.topic, a.partition) < (b.topic, b.partition) }
    public var description: String { "\(topic)-\(partition)" }
}

/// A malformed replication message: the connection that carried it is suspect.
public struct RaftWireError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "malformed replication message: \(message)" }
}

/// The binary form of the Raft messages one node sends another in one tick, all groups together (so the
/// heartbeats of thousands of groups cost one frame): a count, then per message the group, its incarnation, the
/// message header and its fields. Big-endian; lengths are checked against the bytes present before anything is
/// allocated.
///
/// The incarnation tells apart the Raft groups of a topic deleted and created again under its name (derived from
/// the topic id; 0 for the controller): a replica takes messages of its own incarnation only, so a leader of the
/// old topic never appends to the new one's replicas.
public enum RaftWire {
    public typealias Message = (group: GroupId, incarnation: UInt64, message: RaftMessage)

    public static func encode(_ messages: [Message], into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt32(messages.count))
        for (group, incarnation, m) in messages {
            writeGroup(group, into: &buffer)
            buffer.writeInteger(incarnation)
            buffer.writeInteger(m.from.rawValue)
            buffer.writeInteger(m.to.rawValue)
            buffer.writeInteger(m.term)
            switch m.kind {
            case .preVote(let last):
                buffer.writeInteger(UInt8(0))
                writePosition(last, into: &buffer)
            case .preVoteResponse(let granted):
                buffer.writeInteger(UInt8(1))
                buffer.writeInteger(UInt8(granted ? 1 : 0))
            case .vote(let last, let transfer):
                buffer.writeInteger(UInt8(2))
                writePosition(last, into: &buffer)
                buffer.writeInteger(UInt8(transfer ? 1 : 0))
            case .voteResponse(let granted):
                buffer.writeInteger(UInt8(3))
                buffer.writeInteger(UInt8(granted ? 1 : 0))
            case .append(let prev, let entries, let commit):
                buffer.writeInteger(UInt8(4))
                writePosition(prev, into: &buffer)
                buffer.writeInteger(commit)
                buffer.writeInteger(UInt32(entries.count))
                for e in entries {
                    buffer.writeInteger(e.index)
                    buffer.writeInteger(e.count)
                    buffer.writeInteger(e.term)
                    buffer.writeInteger(e.kind.rawValue)
                    buffer.writeInteger(UInt32(e.payload.count))
                    buffer.writeBytes(e.payload)
                }
            case .appendResponse(.accepted(let match)):
                buffer.writeInteger(UInt8(5))
                buffer.writeInteger(match)
            case .appendResponse(.rejected(let prevIndex, let hint)):
                buffer.writeInteger(UInt8(6))
                buffer.writeInteger(prevIndex)
                writePosition(hint, into: &buffer)
            case .heartbeat(let commit):
                buffer.writeInteger(UInt8(7))
                buffer.writeInteger(commit)
            case .heartbeatResponse:
                buffer.writeInteger(UInt8(8))
            case .snapshot(let snap):
                buffer.writeInteger(UInt8(9))
                writePosition(snap.position, into: &buffer)
                buffer.writeInteger(UInt32(snap.voters.count))
                for v in snap.voters { buffer.writeInteger(v.rawValue) }
            case .timeoutNow:
                buffer.writeInteger(UInt8(10))
            }
        }
    }

    public static func decode(_ buffer: inout ByteBuffer) throws(RaftWireError) -> [Message] {
        let count = try readInt(UInt32.self, &buffer)
        // Every message takes at least 31 bytes.
        guard Int(count) <= buffer.readableBytes / 31 else { throw RaftWireError("count \(count) exceeds the frame") }
        var out: [Message] = []
        out.reserveCapacity(Int(count))
        for _ in 0..<count {
            let group = try readGroup(&buffer)
            let incarnation = try readInt(UInt64.self, &buffer)
            let from = BrokerId(try readInt(Int32.self, &buffer))
            let to = BrokerId(try readInt(Int32.self, &buffer))
            let term = try readInt(Int64.self, &buffer)
            let tag = try readInt(UInt8.self, &buffer)
            let kind: RaftMessage.Kind
            switch tag {
            case 0: kind = .preVote(last: try readPosition(&buffer))
            case 1: kind = .preVoteResponse(granted: try readInt(UInt8.self, &buffer) != 0)
            case 2: kind = .vote(last: try readPosition(&buffer), transfer: try readInt(UInt8.self, &buffer) != 0)
            case 3: kind = .voteResponse(granted: try readInt(UInt8.self, &buffer) != 0)
            case 4:
                let prev = try readPosition(&buffer)
                let commit = try readInt(Int64.self, &buffer)
                let n = try readInt(UInt32.self, &buffer)
                guard Int(n) <= buffer.readableBytes / 29 else { throw RaftWireError("\(n) entries exceed the frame") }
                var entries: [LogEntry] = []
                entries.reserveCapacity(Int(n))
                var next = prev.index + 1
                for _ in 0..<n {
                    let index = try readInt(Int64.self, &buffer)
                    let span = try readInt(Int64.self, &buffer)
                    let entryTerm = try readInt(Int64.self, &buffer)
                    guard let entryKind = EntryKind(rawValue: try readInt(UInt8.self, &buffer)) else {
                        throw RaftWireError("unknown entry kind")
                    }
                    let length = try readInt(UInt32.self, &buffer)
                    guard index == next, span >= 1, span < Int64(Int32.max),
                        let payload = buffer.readBytes(length: Int(length))
                    else { throw RaftWireError("entry \(index) (+\(span)) out of place or truncated") }
                    entries.append(
                        LogEntry(index: index, term: entryTerm, kind: entryKind, payload: payload, count: span))
                    next = index + span
                }
                kind = .append(prev: prev, entries: entries, commit: commit)
            case 5: kind = .appendResponse(.accepted(match: try readInt(Int64.self, &buffer)))
            case 6:
                kind = .appendResponse(
                    .rejected(prevIndex: try readInt(Int64.self, &buffer), hint: try readPosition(&buffer)))
            case 7: kind = .heartbeat(commit: try readInt(Int64.self, &buffer))
            case 8: kind = .heartbeatResponse
            case 9:
                let position = try readPosition(&buffer)
                let n = try readInt(UInt32.self, &buffer)
                guard Int(n) <= buffer.readableBytes / 4 else { throw RaftWireError("\(n) voters exceed the frame") }
                var voters: [BrokerId] = []
                for _ in 0..<n { voters.append(BrokerId(try readInt(Int32.self, &buffer))) }
                kind = .snapshot(RaftSnapshot(position: position, voters: voters))
            case 10: kind = .timeoutNow
            default: throw RaftWireError("unknown message type \(tag)")
            }
            out.append((group, incarnation, RaftMessage(from: from, to: to, term: term, kind: kind)))
        }
        guard buffer.readableBytes == 0 else { throw RaftWireError("\(buffer.readableBytes) trailing bytes") }
        return out
    }

    /// A group as every replication message names it: the topic (u16 length, UTF-8), then the partition (i32).
    static func writeGroup(_ group: GroupId, into buffer: inout ByteBuffer) {
        let bytes = Array(group.topic.utf8.prefix(Int(UInt16.max)))
        buffer.writeInteger(UInt16(bytes.count))
        buffer.writeBytes(bytes)
        buffer.writeInteger(group.partition)
    }

    static func readGroup(_ buffer: inout ByteBuffer) throws(RaftWireError) -> GroupId {
        let n = try readInt(UInt16.self, &buffer)
        guard let bytes = buffer.readBytes(length: Int(n)) else { throw RaftWireError("truncated string") }
        guard let topic = String(validating: bytes, as: UTF8.self) else { throw RaftWireError("invalid UTF-8") }
        return GroupId(topic: topic, partition: try readInt(Int32.self, &buffer))
    }

    private static func writePosition(_ p: LogPosition, into buffer: inout ByteBuffer) {
        buffer.writeInteger(p.index)
        buffer.writeInteger(p.term)
    }

    private static func readPosition(_ buffer: inout ByteBuffer) throws(RaftWireError) -> LogPosition {
        LogPosition(index: try readInt(Int64.self, &buffer), term: try readInt(Int64.self, &buffer))
    }

    static func readInt<T: FixedWidthInteger>(_: T.Type, _ buffer: inout ByteBuffer) throws(RaftWireError) -> T {
        guard let v = buffer.readInteger(as: T.self) else { throw RaftWireError("truncated") }
        return v
    }
}
