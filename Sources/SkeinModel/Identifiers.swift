/// The id of a node (Kafka calls it a broker id). `-1` means "none" in Kafka's messages.
public struct BrokerId: RawRepresentable, Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral,
    CustomStringConvertible
{
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    public init(_ rawValue: Int32) { self.rawValue = rawValue }
    public init(integerLiteral value: Int32) { self.rawValue = value }
    /// Kafka's "no broker" value.
    public static let none = BrokerId(-1)
    public static func < (a: BrokerId, b: BrokerId) -> Bool { a.rawValue < b.rawValue }
    public var description: String { String(rawValue) }
}

/// A producer id handed out by InitProducerId. `-1` means "no producer id" (a non-idempotent producer).
public struct ProducerId: RawRepresentable, Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral,
    CustomStringConvertible
{
    public var rawValue: Int64
    public init(rawValue: Int64) { self.rawValue = rawValue }
    public init(_ rawValue: Int64) { self.rawValue = rawValue }
    public init(integerLiteral value: Int64) { self.rawValue = value }
    public static let none = ProducerId(-1)
    public static func < (a: ProducerId, b: ProducerId) -> Bool { a.rawValue < b.rawValue }
    public var description: String { String(rawValue) }
}

/// A 128-bit UUID as Kafka puts it on the wire (most significant half first), e.g. a topic id.
public struct KafkaUUID: Hashable, Sendable, CustomStringConvertible {
    public var mostSignificantBits: UInt64
    public var leastSignificantBits: UInt64
    public init(mostSignificantBits: UInt64, leastSignificantBits: UInt64) {
        self.mostSignificantBits = mostSignificantBits
        self.leastSignificantBits = leastSignificantBits
    }
    /// The all-zero UUID, Kafka's "no id".
    public static let zero = KafkaUUID(mostSignificantBits: 0, leastSignificantBits: 0)

    /// A random version-4 UUID drawn from the given generator.
    public static func random<G: RandomNumberGenerator>(using rng: inout G) -> KafkaUUID {
        var hi = rng.next() as UInt64
        var lo = rng.next() as UInt64
        hi = (hi & ~0xF000) | 0x4000
        lo = (lo & ~(UInt64(0xC) << 60)) | (UInt64(0x8) << 60)
        return KafkaUUID(mostSignificantBits: hi, leastSignificantBits: lo)
    }

    /// Kafka prints topic ids as URL-safe base64 without padding (22 characters).
    public var description: String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(16)
        for shift in stride(from: 56, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: mostSignificantBits >> UInt64(shift)))
        }
        for shift in stride(from: 56, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: leastSignificantBits >> UInt64(shift)))
        }
        return Base64URL.encodeNoPadding(bytes)
    }
}

enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    static func encodeNoPadding(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out += [
                alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)],
                alphabet[Int(n & 63)],
            ]
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = UInt32(bytes[i]) << 16
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)]]
        } else if rest == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)]]
        }
        return String(decoding: out, as: UTF8.self)
    }
}
