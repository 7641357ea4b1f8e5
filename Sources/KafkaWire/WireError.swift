/// Why bytes could not be decoded, or a value could not be encoded, in the Kafka protocol.
/// Decoders throw these for every malformed input; they never trap.
public enum WireError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The input ended before the value did.
    case truncated
    /// A length or count that is negative (other than null) or larger than the bytes that remain.
    case invalidLength(Int64)
    /// A string whose bytes are not valid UTF-8.
    case invalidUTF8
    /// An unsigned varint longer than 5 bytes (or a value that does not fit 32 bits).
    case varintTooLong
    /// A null where the version does not allow one.
    case unexpectedNull(field: String)
    /// A message version outside the message's valid versions.
    case unsupportedVersion(message: String, version: Int16)
    /// An API key Kafka does not define.
    case unknownApiKey(Int16)
    /// Encoding: a field holds a non-default value, but the chosen version does not have it.
    case unsupportedField(message: String, field: String, version: Int16)
    /// Encoding: a null value in a version where the field is not nullable.
    case nullNotAllowed(field: String, version: Int16)
    /// Encoding: a string longer than the classic int16 length allows.
    case valueTooLong(count: Int)
    /// Two tagged fields with the same tag in one struct.
    case duplicateTag(UInt32)
    /// A known tagged field whose declared size does not match its content.
    case taggedFieldSizeMismatch(tag: UInt32)
    /// Bytes left over after a complete message.
    case trailingBytes(Int)

    public var description: String {
        switch self {
        case .truncated: return "truncated input"
        case .invalidLength(let n): return "invalid length \(n)"
        case .invalidUTF8: return "string is not valid UTF-8"
        case .varintTooLong: return "unsigned varint too long"
        case .unexpectedNull(let f): return "null \(f) where the version does not allow null"
        case .unsupportedVersion(let m, let v): return "\(m) has no version \(v)"
        case .unknownApiKey(let k): return "unknown API key \(k)"
        case .unsupportedField(let m, let f, let v): return "\(m).\(f) is set but version \(v) does not have it"
        case .nullNotAllowed(let f, let v): return "\(f) may not be null in version \(v)"
        case .valueTooLong(let n): return "string of \(n) bytes is too long for an int16 length"
        case .duplicateTag(let t): return "tag \(t) appears twice"
        case .taggedFieldSizeMismatch(let t): return "tagged field \(t) does not fill its declared size"
        case .trailingBytes(let n): return "\(n) bytes left after the message"
        }
    }
}
