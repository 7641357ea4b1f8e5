import SkeinModel

/// Member ids from the injected generator (`SkeinModel.SeededRandom`): the coordinator never reads the system's
/// entropy; the shell seeds it.
extension SeededRandom {
    /// A version-4 UUID in Java's `UUID.toString()` form (`8-4-4-4-12` lower-case hex digits).
    public mutating func uuidString() -> String {
        var high = next()
        var low = next()
        high = (high & ~0xF000) | 0x4000  // version 4
        low = (low & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000  // IETF variant
        func hex(_ value: UInt64, digits: Int) -> String {
            let text = String(value, radix: 16)
            return String(repeating: "0", count: max(0, digits - text.count)) + text
        }
        return hex(high >> 32, digits: 8) + "-" + hex((high >> 16) & 0xFFFF, digits: 4) + "-"
            + hex(high & 0xFFFF, digits: 4) + "-" + hex(low >> 48, digits: 4) + "-"
            + hex(low & 0xFFFF_FFFF_FFFF, digits: 12)
    }

    /// A Kafka `Uuid` in its base64url form without padding (22 characters), as KIP-848 member ids are.
    public mutating func kafkaUuidString() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        var bytes: [UInt8] = []
        for word in [next(), next()] {
            for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8((word >> UInt64(shift)) & 0xFF)) }
        }
        var out = ""
        var index = 0
        while index < bytes.count {
            let b0 = UInt32(bytes[index])
            let b1 = index + 1 < bytes.count ? UInt32(bytes[index + 1]) : 0
            let b2 = index + 2 < bytes.count ? UInt32(bytes[index + 2]) : 0
            let triple = (b0 << 16) | (b1 << 8) | b2
            let available = min(3, bytes.count - index) + 1
            for position in 0..<4 where position < available {
                out.append(alphabet[Int((triple >> UInt32(18 - 6 * position)) & 0x3F)])
            }
            index += 3
        }
        return out
    }
}

/// The Kafka error codes the coordinator answers with: Kafka's own (`SkeinModel.KafkaErrorCode`).
public typealias GroupErrorCode = KafkaErrorCode
