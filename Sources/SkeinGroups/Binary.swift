/// Big-endian writer for Kafka's classic (non-flexible) schema types.
struct BinaryWriter {
    private(set) var bytes: [UInt8] = []

    mutating func int16(_ value: Int16) { withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) } }
    mutating func int32(_ value: Int32) { withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) } }
    mutating func int64(_ value: Int64) { withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) } }

    mutating func string(_ value: String) {
        let utf8 = Array(value.utf8)
        int16(Int16(truncatingIfNeeded: utf8.count))
        bytes.append(contentsOf: utf8)
    }

    mutating func nullableString(_ value: String?) {
        guard let value else { return int16(-1) }
        string(value)
    }

    mutating func bytesField(_ value: [UInt8]) {
        int32(Int32(truncatingIfNeeded: value.count))
        bytes.append(contentsOf: value)
    }

    mutating func nullableBytes(_ value: [UInt8]?) {
        guard let value else { return int32(-1) }
        bytesField(value)
    }
}

/// Why a byte sequence could not be decoded.
public enum GroupDecodingError: Error, Equatable, Sendable {
    /// The input ended before a field was complete.
    case truncated
    /// A length or count was negative where that is not allowed, or too large.
    case invalidLength(Int)
    /// A string was not valid UTF-8.
    case invalidUTF8
    /// The schema version is not one this module reads.
    case unsupportedVersion(Int16)
}

/// Big-endian reader for Kafka's classic (non-flexible) schema types. Every read is bounds-checked.
struct BinaryReader {
    private let bytes: [UInt8]
    private(set) var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - position }

    mutating func int16() throws(GroupDecodingError) -> Int16 { Int16(bitPattern: UInt16(try read(2))) }
    mutating func int32() throws(GroupDecodingError) -> Int32 { Int32(bitPattern: UInt32(try read(4))) }
    mutating func int64() throws(GroupDecodingError) -> Int64 { Int64(bitPattern: try read(8)) }

    mutating func string() throws(GroupDecodingError) -> String {
        guard let value = try nullableString() else { throw .invalidLength(-1) }
        return value
    }

    mutating func nullableString() throws(GroupDecodingError) -> String? {
        let length = Int(try int16())
        if length == -1 { return nil }
        let raw = try take(length)
        guard let text = String(validating: raw, as: UTF8.self) else { throw .invalidUTF8 }
        return text
    }

    mutating func bytesField() throws(GroupDecodingError) -> [UInt8] {
        guard let value = try nullableBytes() else { throw .invalidLength(-1) }
        return value
    }

    mutating func nullableBytes() throws(GroupDecodingError) -> [UInt8]? {
        let length = Int(try int32())
        if length == -1 { return nil }
        return try take(length)
    }

    /// An array count: non-negative and not larger than the bytes left (every element takes at least one byte).
    mutating func arrayCount(nullable: Bool = false) throws(GroupDecodingError) -> Int? {
        let count = Int(try int32())
        if count == -1 && nullable { return nil }
        guard count >= 0, count <= remaining else { throw .invalidLength(count) }
        return count
    }

    private mutating func take(_ length: Int) throws(GroupDecodingError) -> [UInt8] {
        guard length >= 0 else { throw .invalidLength(length) }
        guard length <= remaining else { throw .truncated }
        defer { position += length }
        return Array(bytes[position..<(position + length)])
    }

    private mutating func read(_ count: Int) throws(GroupDecodingError) -> UInt64 {
        guard count <= remaining else { throw .truncated }
        var value: UInt64 = 0
        for index in position..<(position + count) { value = (value << 8) | UInt64(bytes[index]) }
        position += count
        return value
    }
}
