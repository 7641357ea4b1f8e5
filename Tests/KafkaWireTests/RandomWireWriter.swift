import KafkaWireGenerator
import NIOCore
import SkeinModel

/// Writes random but valid bytes for a message version straight from Kafka's JSON definition: a second,
/// independent implementation of the encoding rules. Decoding these bytes with the generated code and
/// encoding again must give the same bytes. Values are canonical (minimal varints, 0/1 booleans, tags in
/// ascending order, known tagged fields only when not at their default) so that a re-encode can match.
struct RandomWireWriter {
    let spec: MessageSpec
    var rng: SeededRandom
    /// Inside a tagged struct, small values could make the whole struct equal its default (and so be left
    /// out by a correct encoder); draw from the full range there.
    private var wideScalars = false

    init(spec: MessageSpec, seed: UInt64) {
        self.spec = spec
        self.rng = SeededRandom(seed: seed)
    }

    mutating func message(version: Int) -> ByteBuffer {
        var b = ByteBuffer()
        writeStruct(spec.fields, version: version, into: &b)
        return b
    }

    private var flexibleMessage: VersionRange { spec.flexibleVersions }

    private mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &rng) < percent }

    mutating func writeStruct(_ fields: [FieldSpec], version: Int, into b: inout ByteBuffer) {
        let flexible = flexibleMessage.contains(version)
        for f in fields where f.versions.contains(version) && !f.taggedVersions.contains(version) {
            let fieldFlexible = f.flexibleVersions.map { $0.contains(version) } ?? flexible
            writeField(f, version: version, flexible: fieldFlexible, into: &b)
        }
        guard flexible else { return }
        var tagged: [(UInt32, ByteBuffer)] = []
        for f in fields where f.versions.contains(version) && f.taggedVersions.contains(version) {
            guard chance(50) else { continue }
            var value = ByteBuffer()
            guard writeNonDefaultTagged(f, version: version, into: &value) else { continue }
            tagged.append((UInt32(f.tag!), value))
        }
        if chance(20) {
            // Unknown tags, above any tag Kafka defines, must survive a decode and encode.
            let count = Int.random(in: 1...2, using: &rng)
            for i in 0..<count {
                var value = ByteBuffer()
                value.writeBytes(randomBytes(max: 6))
                tagged.append((UInt32(100 + i * 7 + Int.random(in: 0...5, using: &rng)), value))
            }
        }
        tagged.sort { $0.0 < $1.0 }
        b.writeKafkaUnsignedVarint(UInt32(tagged.count))
        for (tag, value) in tagged {
            b.writeKafkaUnsignedVarint(tag)
            b.writeKafkaUnsignedVarint(UInt32(value.readableBytes))
            b.writeImmutableBuffer(value)
        }
    }

    /// Writes a tagged field's value if a non-default one can be made; returns false to leave it out.
    private mutating func writeNonDefaultTagged(_ f: FieldSpec, version: Int, into b: inout ByteBuffer) -> Bool {
        switch f.type {
        case .array:
            // Non-empty, never null: both null and empty may be the default.
            writeArray(f, version: version, flexible: true, allowNull: false, minCount: 1, into: &b)
            return true
        case .structure(let name):
            let saved = wideScalars
            wideScalars = true
            writeStruct(structFields(name, f), version: version, into: &b)
            wideScalars = saved
            return true
        case .string, .bytes, .records:
            if f.defaultValue == "null" || f.defaultValue == nil || f.defaultValue == "" {
                // Non-null and non-empty differs from both possible defaults.
                writeLengthPrefixed(f.type, flexible: true, minLength: 1, into: &b)
                return true
            }
            return false
        default:
            for _ in 0..<8 {
                var candidate = ByteBuffer()
                let text = writeScalar(f.type, into: &candidate)
                if text != normalizedDefault(f) {
                    b.writeImmutableBuffer(candidate)
                    return true
                }
            }
            return false
        }
    }

    private func normalizedDefault(_ f: FieldSpec) -> String {
        guard let d = f.defaultValue else { return f.type == .bool ? "false" : "0" }
        if d.hasPrefix("0x"), let n = Int64(d.dropFirst(2), radix: 16) { return String(n) }
        return d
    }

    private func structFields(_ name: String, _ f: FieldSpec) -> [FieldSpec] {
        f.fields ?? spec.structNamed(name)!.fields
    }

    private mutating func writeField(_ f: FieldSpec, version: Int, flexible: Bool, into b: inout ByteBuffer) {
        let nullable = f.nullableVersions.contains(version)
        switch f.type {
        case .array:
            writeArray(f, version: version, flexible: flexible, allowNull: nullable, minCount: 0, into: &b)
        case .structure(let name):
            if nullable {
                if chance(25) {
                    b.writeInteger(Int8(-1))
                    return
                }
                b.writeInteger(Int8(1))
            }
            writeStruct(structFields(name, f), version: version, into: &b)
        case .string, .bytes, .records:
            if nullable && chance(20) {
                writeNull(f.type, flexible: flexible, into: &b)
            } else {
                writeLengthPrefixed(f.type, flexible: flexible, minLength: 0, into: &b)
            }
        default:
            _ = writeScalar(f.type, into: &b)
        }
    }

    private mutating func writeArray(
        _ f: FieldSpec, version: Int, flexible: Bool, allowNull: Bool, minCount: Int,
        into b: inout ByteBuffer
    ) {
        guard case .array(let element) = f.type else { return }
        if allowNull && chance(15) {
            if flexible { b.writeKafkaUnsignedVarint(0) } else { b.writeInteger(Int32(-1)) }
            return
        }
        let count = Int.random(in: minCount...max(minCount, 3), using: &rng)
        if flexible { b.writeKafkaUnsignedVarint(UInt32(count + 1)) } else { b.writeInteger(Int32(count)) }
        for _ in 0..<count {
            switch element {
            case .structure(let name): writeStruct(structFields(name, f), version: version, into: &b)
            case .string, .bytes, .records: writeLengthPrefixed(element, flexible: flexible, minLength: 0, into: &b)
            default: _ = writeScalar(element, into: &b)
            }
        }
    }

    private func writeNull(_ type: FieldType, flexible: Bool, into b: inout ByteBuffer) {
        if flexible {
            b.writeKafkaUnsignedVarint(0)
        } else if type == .string {
            b.writeInteger(Int16(-1))
        } else {
            b.writeInteger(Int32(-1))
        }
    }

    private mutating func writeLengthPrefixed(
        _ type: FieldType, flexible: Bool, minLength: Int, into b: inout ByteBuffer
    ) {
        let payload: [UInt8] =
            type == .string ? Array(randomString(minLength: minLength).utf8) : randomBytes(max: 12, min: minLength)
        if flexible {
            b.writeKafkaUnsignedVarint(UInt32(payload.count + 1))
        } else if type == .string {
            b.writeInteger(Int16(payload.count))
        } else {
            b.writeInteger(Int32(payload.count))
        }
        b.writeBytes(payload)
    }

    /// Writes a random scalar and returns its value as text, for comparison with a default.
    private mutating func writeScalar(_ type: FieldType, into b: inout ByteBuffer) -> String {
        switch type {
        case .bool:
            let v = chance(50)
            b.writeInteger(v ? UInt8(1) : UInt8(0))
            return v ? "true" : "false"
        case .int8:
            let v = Int8.random(in: .min ... .max, using: &rng); b.writeInteger(v); return String(v)
        case .int16:
            let v = Int16.random(in: .min ... .max, using: &rng); b.writeInteger(v); return String(v)
        case .uint16:
            let v = UInt16.random(in: .min ... .max, using: &rng); b.writeInteger(v); return String(v)
        case .int32:
            let v =
                !wideScalars && chance(30)
                ? Int32.random(in: -2...2, using: &rng) : Int32.random(in: .min ... .max, using: &rng)
            b.writeInteger(v); return String(v)
        case .uint32:
            let v = UInt32.random(in: .min ... .max, using: &rng); b.writeInteger(v); return String(v)
        case .int64:
            let v =
                !wideScalars && chance(30)
                ? Int64.random(in: -2...2, using: &rng) : Int64.random(in: .min ... .max, using: &rng)
            b.writeInteger(v); return String(v)
        case .float64:
            let v = Double.random(in: -1e12...1e12, using: &rng)
            b.writeInteger(v.bitPattern); return String(v)
        case .uuid:
            let u = KafkaUUID.random(using: &rng)
            b.writeKafkaUUID(u); return u.description
        default:
            return ""
        }
    }

    private mutating func randomBytes(max: Int, min: Int = 0) -> [UInt8] {
        let n = Int.random(in: min...Swift.max(min, max), using: &rng)
        return (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }

    private mutating func randomString(minLength: Int) -> String {
        let alphabet: [String] = ["a", "b", "z", "-", "_", ".", "0", "9", "é", "→", "𝄞", "K"]
        let n = Int.random(in: minLength...Swift.max(minLength, 10), using: &rng)
        return (0..<n).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] }.joined()
    }
}
