/// Why the bytes of a `__transaction_state` record could not be decoded.
public enum TxnDecodingError: Error, Equatable, Sendable {
    /// The input ended before a field was complete.
    case truncated
    /// A length or count was negative where that is not allowed, or larger than the bytes left.
    case invalidLength(Int)
    /// A string was not valid UTF-8.
    case invalidUTF8
    /// A variable-length integer was longer than 5 bytes.
    case invalidVarint
    /// The key's schema version is not TransactionLogKey's (Kafka skips such records while loading).
    case unknownKeyVersion(Int16)
    /// The value's schema version is not one this module reads.
    case unsupportedValueVersion(Int16)
    /// The value names a transaction state id Kafka does not define.
    case invalidState(Int8)
    /// Bytes were left after the last field.
    case trailingBytes(Int)
}

/// Big-endian writer for Kafka's schema types, classic and flexible (compact) ones.
struct TxnWriter {
    private(set) var bytes: [UInt8] = []

    mutating func int8(_ value: Int8) { bytes.append(UInt8(bitPattern: value)) }
    mutating func int16(_ value: Int16) { withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) } }
    mutating func int32(_ value: Int32) { withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) } }
    mutating func int64(_ value: Int64) { withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) } }

    mutating func unsignedVarint(_ value: UInt32) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(rest & 0x7F) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    /// A classic string: int16 length, then UTF-8.
    mutating func string(_ value: String) {
        let utf8 = Array(value.utf8)
        int16(Int16(truncatingIfNeeded: utf8.count))
        bytes.append(contentsOf: utf8)
    }

    /// A compact string: unsigned varint length + 1, then UTF-8.
    mutating func compactString(_ value: String) {
        let utf8 = Array(value.utf8)
        unsignedVarint(UInt32(truncatingIfNeeded: utf8.count + 1))
        bytes.append(contentsOf: utf8)
    }

    mutating func append(_ raw: [UInt8]) { bytes.append(contentsOf: raw) }
}

/// Big-endian reader for Kafka's schema types. Every read is bounds-checked; nothing traps on bad input.
struct TxnReader {
    private let bytes: [UInt8]
    private(set) var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - position }

    mutating func int8() throws(TxnDecodingError) -> Int8 { Int8(bitPattern: UInt8(try read(1))) }
    mutating func int16() throws(TxnDecodingError) -> Int16 { Int16(bitPattern: UInt16(try read(2))) }
    mutating func int32() throws(TxnDecodingError) -> Int32 { Int32(bitPattern: UInt32(try read(4))) }
    mutating func int64() throws(TxnDecodingError) -> Int64 { Int64(bitPattern: try read(8)) }

    mutating func unsignedVarint() throws(TxnDecodingError) -> UInt32 {
        var value: UInt32 = 0
        var shift: UInt32 = 0
        while true {
            guard remaining >= 1 else { throw .truncated }
            let byte = bytes[position]
            position += 1
            if shift == 28 && byte > 0x0F { throw .invalidVarint }
            value |= UInt32(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
            if shift > 28 { throw .invalidVarint }
        }
    }

    mutating func string() throws(TxnDecodingError) -> String {
        let length = Int(try int16())
        return try utf8(length)
    }

    mutating func compactString() throws(TxnDecodingError) -> String {
        let length = Int(try unsignedVarint()) - 1
        return try utf8(length)
    }

    /// A classic array count: -1 (null) when `nullable`, else non-negative and at most the bytes left.
    mutating func arrayCount(nullable: Bool) throws(TxnDecodingError) -> Int? {
        let count = Int(try int32())
        if count == -1 && nullable { return nil }
        guard count >= 0, count <= remaining else { throw .invalidLength(count) }
        return count
    }

    /// A compact array count (varint count + 1, 0 = null).
    mutating func compactArrayCount(nullable: Bool) throws(TxnDecodingError) -> Int? {
        let raw = Int(try unsignedVarint())
        if raw == 0 {
            if nullable { return nil }
            throw .invalidLength(-1)
        }
        let count = raw - 1
        guard count <= remaining else { throw .invalidLength(count) }
        return count
    }

    mutating func take(_ length: Int) throws(TxnDecodingError) -> [UInt8] {
        guard length >= 0 else { throw .invalidLength(length) }
        guard length <= remaining else { throw .truncated }
        defer { position += length }
        return Array(bytes[position..<(position + length)])
    }

    private mutating func utf8(_ length: Int) throws(TxnDecodingError) -> String {
        let raw = try take(length)
        guard let text = String(validating: raw, as: UTF8.self) else { throw .invalidUTF8 }
        return text
    }

    private mutating func read(_ count: Int) throws(TxnDecodingError) -> UInt64 {
        guard count <= remaining else { throw .truncated }
        var value: UInt64 = 0
        for index in position..<(position + count) { value = (value << 8) | UInt64(bytes[index]) }
        position += count
        return value
    }
}
