import NIOCore
import SkeinModel

/// A tagged field (KIP-482) kept as raw bytes: unknown tags are preserved through decode and encode.
public struct TaggedField: Equatable, Hashable, Sendable {
    public var tag: UInt32
    /// The field's value bytes (a slice of the input when decoded; no copy).
    public var data: ByteBuffer
    public init(tag: UInt32, data: ByteBuffer) {
        self.tag = tag
        self.data = data
    }
}

// The readers and writers the generated code calls. ByteBuffer is the choice because the network layer
// already holds frames in one, and `readSlice` shares storage: bytes and records fields are views of the
// request frame, not copies. Every reader checks the remaining length before it allocates.
extension ByteBuffer {
    // MARK: fixed width

    @inlinable
    public mutating func readKafkaInteger<T: FixedWidthInteger>(as: T.Type = T.self) throws -> T {
        guard let v = self.readInteger(endianness: .big, as: T.self) else { throw WireError.truncated }
        return v
    }

    @inlinable
    public mutating func readKafkaBool() throws -> Bool {
        // Kafka reads any non-zero byte as true.
        try readKafkaInteger(as: UInt8.self) != 0
    }

    @inlinable
    public mutating func readKafkaFloat64() throws -> Double {
        Double(bitPattern: try readKafkaInteger(as: UInt64.self))
    }

    @inlinable
    public mutating func readKafkaUUID() throws -> KafkaUUID {
        guard self.readableBytes >= 16 else { throw WireError.truncated }
        let hi: UInt64 = self.readInteger(endianness: .big)!
        let lo: UInt64 = self.readInteger(endianness: .big)!
        return KafkaUUID(mostSignificantBits: hi, leastSignificantBits: lo)
    }

    @inlinable
    public mutating func writeKafkaUUID(_ u: KafkaUUID) {
        self.writeInteger(u.mostSignificantBits)
        self.writeInteger(u.leastSignificantBits)
    }

    // MARK: unsigned varints (protobuf base 128, no zigzag)

    @inlinable
    public mutating func readKafkaUnsignedVarint() throws -> UInt32 {
        var result: UInt32 = 0
        var shift: UInt32 = 0
        while true {
            guard let byte: UInt8 = self.readInteger() else { throw WireError.truncated }
            if shift == 28 && byte > 0x0F { throw WireError.varintTooLong }
            result |= UInt32(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    @inlinable
    public mutating func writeKafkaUnsignedVarint(_ value: UInt32) {
        var v = value
        while v >= 0x80 {
            self.writeInteger(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        self.writeInteger(UInt8(v))
    }

    /// Reads a compact length (N+1, 0 = null) as a signed length: -1 for null.
    @inlinable
    mutating func readKafkaCompactLength() throws -> Int {
        Int(try readKafkaUnsignedVarint()) - 1
    }

    // MARK: strings

    @inlinable
    mutating func readKafkaStringLength(flexible: Bool) throws -> Int {
        flexible ? try readKafkaCompactLength() : Int(try readKafkaInteger(as: Int16.self))
    }

    @inlinable
    mutating func readKafkaStringBody(length: Int) throws -> String {
        guard length >= 0 else { throw WireError.invalidLength(Int64(length)) }
        guard length <= self.readableBytes else { throw WireError.truncated }
        let s: String? = self.withUnsafeReadableBytes { raw in
            String(validating: UnsafeRawBufferPointer(rebasing: raw[0..<length]), as: UTF8.self)
        }
        guard let s else { throw WireError.invalidUTF8 }
        self.moveReaderIndex(forwardBy: length)
        return s
    }

    @inlinable
    public mutating func readKafkaString(flexible: Bool, field: String) throws -> String {
        let length = try readKafkaStringLength(flexible: flexible)
        if length == -1 { throw WireError.unexpectedNull(field: field) }
        return try readKafkaStringBody(length: length)
    }

    @inlinable
    public mutating func readKafkaNullableString(flexible: Bool) throws -> String? {
        let length = try readKafkaStringLength(flexible: flexible)
        if length == -1 { return nil }
        return try readKafkaStringBody(length: length)
    }

    @inlinable
    public mutating func writeKafkaString(_ s: String, flexible: Bool) throws {
        let count = s.utf8.count
        if flexible {
            writeKafkaUnsignedVarint(UInt32(count + 1))
        } else {
            guard count <= Int(Int16.max) else { throw WireError.valueTooLong(count: count) }
            self.writeInteger(Int16(count))
        }
        self.writeString(s)
    }

    @inlinable
    public mutating func writeKafkaNullString(flexible: Bool) {
        if flexible { writeKafkaUnsignedVarint(0) } else { self.writeInteger(Int16(-1)) }
    }

    // MARK: bytes and records

    @inlinable
    mutating func readKafkaBytesLength(flexible: Bool) throws -> Int {
        flexible ? try readKafkaCompactLength() : Int(try readKafkaInteger(as: Int32.self))
    }

    @inlinable
    mutating func readKafkaBytesBody(length: Int) throws -> ByteBuffer {
        guard length >= 0 else { throw WireError.invalidLength(Int64(length)) }
        guard let slice = self.readSlice(length: length) else { throw WireError.truncated }
        return slice
    }

    /// Reads a bytes or records field as a slice of this buffer (no copy).
    @inlinable
    public mutating func readKafkaBytes(flexible: Bool, field: String) throws -> ByteBuffer {
        let length = try readKafkaBytesLength(flexible: flexible)
        if length == -1 { throw WireError.unexpectedNull(field: field) }
        return try readKafkaBytesBody(length: length)
    }

    @inlinable
    public mutating func readKafkaNullableBytes(flexible: Bool) throws -> ByteBuffer? {
        let length = try readKafkaBytesLength(flexible: flexible)
        if length == -1 { return nil }
        return try readKafkaBytesBody(length: length)
    }

    @inlinable
    public mutating func writeKafkaBytes(_ bytes: ByteBuffer, flexible: Bool) throws {
        let count = bytes.readableBytes
        if flexible {
            guard count < Int(UInt32.max) else { throw WireError.invalidLength(Int64(count)) }
            writeKafkaUnsignedVarint(UInt32(count + 1))
        } else {
            guard count <= Int(Int32.max) else { throw WireError.invalidLength(Int64(count)) }
            self.writeInteger(Int32(count))
        }
        self.writeImmutableBuffer(bytes)
    }

    @inlinable
    public mutating func writeKafkaNullBytes(flexible: Bool) {
        if flexible { writeKafkaUnsignedVarint(0) } else { self.writeInteger(Int32(-1)) }
    }

    // MARK: arrays

    /// A non-null array count. Every element takes at least one byte, so a count above the remaining bytes
    /// is refused before anything is allocated.
    @inlinable
    public mutating func readKafkaArrayCount(flexible: Bool, field: String) throws -> Int {
        guard let count = try readKafkaNullableArrayCount(flexible: flexible) else {
            throw WireError.unexpectedNull(field: field)
        }
        return count
    }

    @inlinable
    public mutating func readKafkaNullableArrayCount(flexible: Bool) throws -> Int? {
        let count = flexible ? try readKafkaCompactLength() : Int(try readKafkaInteger(as: Int32.self))
        if count == -1 { return nil }
        guard count >= 0 else { throw WireError.invalidLength(Int64(count)) }
        guard count <= self.readableBytes else { throw WireError.invalidLength(Int64(count)) }
        return count
    }

    @inlinable
    public mutating func writeKafkaArrayCount(_ count: Int, flexible: Bool) throws {
        if flexible {
            guard count < Int(UInt32.max) else { throw WireError.invalidLength(Int64(count)) }
            writeKafkaUnsignedVarint(UInt32(count + 1))
        } else {
            guard count <= Int(Int32.max) else { throw WireError.invalidLength(Int64(count)) }
            self.writeInteger(Int32(count))
        }
    }

    @inlinable
    public mutating func writeKafkaNullArrayCount(flexible: Bool) {
        if flexible { writeKafkaUnsignedVarint(0) } else { self.writeInteger(Int32(-1)) }
    }

    // MARK: tagged fields

    @inlinable
    public mutating func readKafkaTaggedFieldCount() throws -> Int {
        let count = Int(try readKafkaUnsignedVarint())
        // Each tagged field takes at least two bytes (tag and size).
        guard count <= self.readableBytes / 2 else { throw WireError.invalidLength(Int64(count)) }
        return count
    }

    @inlinable
    public mutating func readKafkaTaggedFieldHeader() throws -> (UInt32, Int) {
        let tag = try readKafkaUnsignedVarint()
        let size = Int(try readKafkaUnsignedVarint())
        guard size <= self.readableBytes else { throw WireError.truncated }
        return (tag, size)
    }

    /// A known tagged field must fill exactly its declared size.
    @inlinable
    public func expectKafkaTaggedFieldConsumed(tag: UInt32) throws {
        if self.readableBytes != 0 { throw WireError.taggedFieldSizeMismatch(tag: tag) }
    }

    /// Writes a tagged-field section in ascending tag order, as KIP-482 requires.
    @inlinable
    public mutating func writeKafkaTaggedFields(_ fields: [TaggedField]) throws {
        writeKafkaUnsignedVarint(UInt32(fields.count))
        if fields.isEmpty { return }
        let sorted = fields.count == 1 ? fields : fields.sorted { $0.tag < $1.tag }
        var previous: UInt32? = nil
        for f in sorted {
            if f.tag == previous { throw WireError.duplicateTag(f.tag) }
            previous = f.tag
            writeKafkaUnsignedVarint(f.tag)
            writeKafkaUnsignedVarint(UInt32(f.data.readableBytes))
            self.writeImmutableBuffer(f.data)
        }
    }
}

extension ByteBuffer {
    /// Reads a tagged-field section of a struct that knows no tags: every field is kept as unknown.
    @inlinable
    public mutating func readKafkaUnknownTaggedFields(into fields: inout [TaggedField]) throws {
        let count = try readKafkaTaggedFieldCount()
        for _ in 0..<count {
            let (tag, size) = try readKafkaTaggedFieldHeader()
            guard let data = self.readSlice(length: size) else { throw WireError.truncated }
            fields.append(TaggedField(tag: tag, data: data))
        }
    }
}
