import SkeinModel

/// Why bytes are not a message. Decoding never traps and never allocates more than the input justifies: a
/// datagram is untrusted until the shell's AES-GCM seal says otherwise, and a bug there must not crash a node.
public enum SWIMDecodingError: Error, Hashable, Sendable {
    case truncated
    case unsupportedVersion(UInt8)
    case unknownMessageKind(UInt8)
    case unknownGossipKind(UInt8)
    /// A varint longer than ten bytes, or one that does not fit 64 bits.
    case varintOverflow
    /// A string or count larger than what is left of the input (or than the format allows).
    case lengthOutOfRange(UInt64)
    case invalidUTF8
    case duplicateMetadataKey(String)
    case trailingBytes(Int)
}

/// The compact binary form of `SWIMMessage`, one message per datagram:
///
///     version u8 (1) | kind u8 (1 ping, 2 pingReq, 3 ack, 4 nack) | from i32 | sequence uvarint
///     | target i32 (-1: none) [pingReq: | target address string] | gossip count uvarint | gossip...
///     gossip: tag u8 (1 alive, 2 suspect, 3 dead, 4 left) | id i32 | incarnation uvarint
///             alive: | address string | metadata count uvarint | (key string | value string)...
///             suspect, dead: | from i32
///     i32 big-endian; string = uvarint byte length + UTF-8; metadata sorted by key so encoding is canonical.
public enum SWIMCodec {
    public static let version: UInt8 = 1
    /// Longest string accepted (addresses, metadata keys and values).
    public static let maxStringBytes = 65_535

    public static func encode(_ message: SWIMMessage) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 + message.gossip.reduce(0) { $0 + encodedSize($1) })
        out.append(version)
        switch message {
        case .ping(let from, let target, let seq, _):
            out.append(1)
            header(&out, from: from, sequence: seq, target: target ?? .none)
        case .pingReq(let from, let target, let seq, _):
            out.append(2)
            header(&out, from: from, sequence: seq, target: target.id)
            putString(&out, target.address)
        case .ack(let from, let target, let seq, _):
            out.append(3)
            header(&out, from: from, sequence: seq, target: target ?? .none)
        case .nack(let from, let target, let seq, _):
            out.append(4)
            header(&out, from: from, sequence: seq, target: target)
        }
        let gossip = message.gossip
        putVarint(&out, UInt64(gossip.count))
        for g in gossip { encode(g, into: &out) }
        return out
    }

    public static func decode(_ bytes: [UInt8]) throws(SWIMDecodingError) -> SWIMMessage {
        var r = ByteReader(bytes)
        let version = try r.u8()
        guard version == Self.version else { throw .unsupportedVersion(version) }
        let kind = try r.u8()
        guard (1...4).contains(kind) else { throw .unknownMessageKind(kind) }
        let from = BrokerId(try r.i32())
        let seq = try r.varint()
        let target = BrokerId(try r.i32())
        let optionalTarget = target == .none ? nil : target
        let targetAddress = kind == 2 ? try r.string() : ""
        // Every gossip entry takes at least 6 bytes (a leave: tag, id, a one-byte incarnation): bounds the count
        // before anything is allocated.
        let count = try r.count(minimumBytesEach: 6)
        var gossip: [SWIMGossip] = []
        gossip.reserveCapacity(count)
        for _ in 0..<count { gossip.append(try decodeGossip(&r)) }
        guard r.remaining == 0 else { throw .trailingBytes(r.remaining) }
        switch kind {
        case 1: return .ping(from: from, target: optionalTarget, sequence: seq, gossip: gossip)
        case 2:
            return .pingReq(
                from: from, target: SWIMPeer(id: target, address: targetAddress), sequence: seq, gossip: gossip)
        case 3: return .ack(from: from, target: optionalTarget, sequence: seq, gossip: gossip)
        default: return .nack(from: from, target: target, sequence: seq, gossip: gossip)
        }
    }

    /// The bytes `gossip` takes in a message, to fill a datagram without encoding twice.
    public static func encodedSize(_ gossip: SWIMGossip) -> Int {
        switch gossip {
        case .alive(let peer, let inc, let metadata):
            var size = 5 + varintSize(inc) + stringSize(peer.address) + varintSize(UInt64(metadata.count))
            for (k, v) in metadata { size += stringSize(k) + stringSize(v) }
            return size
        case .suspect(_, let inc, _), .dead(_, let inc, _): return 9 + varintSize(inc)
        case .left(_, let inc): return 5 + varintSize(inc)
        }
    }

    // MARK: - Encoding

    private static func header(_ out: inout [UInt8], from: BrokerId, sequence: UInt64, target: BrokerId) {
        putI32(&out, from.rawValue)
        putVarint(&out, sequence)
        putI32(&out, target.rawValue)
    }

    private static func encode(_ g: SWIMGossip, into out: inout [UInt8]) {
        switch g {
        case .alive(let peer, let inc, let metadata):
            out.append(1)
            putI32(&out, peer.id.rawValue)
            putVarint(&out, inc)
            putString(&out, peer.address)
            putVarint(&out, UInt64(metadata.count))
            for key in metadata.keys.sorted() {
                putString(&out, key)
                putString(&out, metadata[key]!)
            }
        case .suspect(let id, let inc, let from), .dead(let id, let inc, let from):
            if case .suspect = g { out.append(2) } else { out.append(3) }
            putI32(&out, id.rawValue)
            putVarint(&out, inc)
            putI32(&out, from.rawValue)
        case .left(let id, let inc):
            out.append(4)
            putI32(&out, id.rawValue)
            putVarint(&out, inc)
        }
    }

    private static func putI32(_ out: inout [UInt8], _ v: Int32) {
        let u = UInt32(bitPattern: v)
        out += [
            UInt8(u >> 24), UInt8(truncatingIfNeeded: u >> 16), UInt8(truncatingIfNeeded: u >> 8),
            UInt8(truncatingIfNeeded: u),
        ]
    }

    private static func putVarint(_ out: inout [UInt8], _ v: UInt64) {
        var v = v
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    private static func putString(_ out: inout [UInt8], _ s: String) {
        precondition(s.utf8.count <= maxStringBytes, "gossip string longer than \(maxStringBytes) bytes")
        putVarint(&out, UInt64(s.utf8.count))
        out += s.utf8
    }

    private static func varintSize(_ v: UInt64) -> Int { v == 0 ? 1 : (64 - v.leadingZeroBitCount + 6) / 7 }
    private static func stringSize(_ s: String) -> Int {
        let n = s.utf8.count
        return varintSize(UInt64(n)) + n
    }

    // MARK: - Decoding

    private static func decodeGossip(_ r: inout ByteReader) throws(SWIMDecodingError) -> SWIMGossip {
        let tag = try r.u8()
        let id = BrokerId(try r.i32())
        let inc = try r.varint()
        switch tag {
        case 1:
            let address = try r.string()
            let count = try r.count(minimumBytesEach: 2)
            var metadata: [String: String] = [:]
            for _ in 0..<count {
                let key = try r.string()
                let value = try r.string()
                guard metadata.updateValue(value, forKey: key) == nil else { throw .duplicateMetadataKey(key) }
            }
            return .alive(SWIMPeer(id: id, address: address), incarnation: inc, metadata: metadata)
        case 2: return .suspect(id, incarnation: inc, from: BrokerId(try r.i32()))
        case 3: return .dead(id, incarnation: inc, from: BrokerId(try r.i32()))
        case 4: return .left(id, incarnation: inc)
        default: throw .unknownGossipKind(tag)
        }
    }
}

/// Reads the primitives of `SWIMCodec`, checking every length against what is left.
private struct ByteReader {
    let bytes: [UInt8]
    var index = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - index }

    mutating func u8() throws(SWIMDecodingError) -> UInt8 {
        guard remaining >= 1 else { throw .truncated }
        defer { index += 1 }
        return bytes[index]
    }

    mutating func i32() throws(SWIMDecodingError) -> Int32 {
        guard remaining >= 4 else { throw .truncated }
        defer { index += 4 }
        let u =
            UInt32(bytes[index]) << 24 | UInt32(bytes[index + 1]) << 16 | UInt32(bytes[index + 2]) << 8
            | UInt32(bytes[index + 3])
        return Int32(bitPattern: u)
    }

    mutating func varint() throws(SWIMDecodingError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try u8()
            // The tenth byte may only hold the 64th bit.
            guard shift < 63 || (shift == 63 && byte <= 1) else { throw .varintOverflow }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// A count of items that take at least `minimumBytesEach` bytes each.
    mutating func count(minimumBytesEach: Int) throws(SWIMDecodingError) -> Int {
        let n = try varint()
        guard n <= UInt64(remaining / minimumBytesEach) else { throw .lengthOutOfRange(n) }
        return Int(n)
    }

    mutating func string() throws(SWIMDecodingError) -> String {
        let n = try varint()
        guard n <= UInt64(min(remaining, SWIMCodec.maxStringBytes)) else { throw .lengthOutOfRange(n) }
        let slice = bytes[index..<index + Int(n)]
        index += Int(n)
        // String(decoding:) repairs bad UTF-8 with U+FFFD; a repaired string no longer matches its bytes.
        let s = String(decoding: slice, as: UTF8.self)
        guard s.utf8.elementsEqual(slice) else { throw .invalidUTF8 }
        return s
    }
}
