import NIOCore

/// Zigzag varints as records use them (protobuf sint32/sint64), with Java's length limits: at most 5 bytes
/// for a varint and 10 for a varlong.
extension ByteBuffer {
    /// Reads a zigzag varint of at most 5 bytes, as Java's ByteUtils.readVarint does: like Java's int
    /// arithmetic, bits of the fifth byte beyond 32 are dropped rather than rejected.
    @inlinable
    public mutating func readZigZagVarint() throws -> Int32 {
        let raw = try readRawVarint(maxBytes: 5)
        let v = UInt32(truncatingIfNeeded: raw)
        return Int32(bitPattern: (v >> 1) ^ (0 &- (v & 1)))
    }

    /// Reads a zigzag varlong (at most 10 bytes), as Java's ByteUtils.readVarlong.
    @inlinable
    public mutating func readZigZagVarlong() throws -> Int64 {
        let v = try readRawVarint(maxBytes: 10)
        return Int64(bitPattern: (v >> 1) ^ (0 &- (v & 1)))
    }

    @inlinable
    mutating func readRawVarint(maxBytes: Int) throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        for _ in 0..<maxBytes {
            guard let byte: UInt8 = self.readInteger() else { throw RecordBatchError.truncated }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
        throw RecordBatchError.invalidVarint
    }

    /// Writes a zigzag varint (1-5 bytes).
    @inlinable
    public mutating func writeZigZagVarint(_ value: Int32) {
        writeRawVarint(UInt64(UInt32(bitPattern: (value << 1) ^ (value >> 31))))
    }

    /// Writes a zigzag varlong (1-10 bytes).
    @inlinable
    public mutating func writeZigZagVarlong(_ value: Int64) {
        writeRawVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    @inlinable
    mutating func writeRawVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            self.writeInteger(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        self.writeInteger(UInt8(v))
    }
}

/// Encoded sizes, so that a record's length prefix is known before it is written.
@usableFromInline
enum ZigZag {
    @inlinable
    static func size(_ value: Int32) -> Int { rawSize(UInt64(UInt32(bitPattern: (value << 1) ^ (value >> 31)))) }
    @inlinable
    static func size(_ value: Int64) -> Int { rawSize(UInt64(bitPattern: (value << 1) ^ (value >> 63))) }
    @inlinable
    static func rawSize(_ v: UInt64) -> Int {
        var n = 1
        var x = v >> 7
        while x != 0 {
            n += 1
            x >>= 7
        }
        return n
    }
}
