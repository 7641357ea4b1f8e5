import KafkaWire
import KafkaWireGenerator
import NIOCore
import SkeinModel
import Testing

/// Random and mutated bytes into every decoder: no input may trap. Whatever decodes must encode, and
/// encoding is then a fixed point (decode(encode(x)) encodes to the same bytes).
@Suite struct FuzzTests {
    static let randomInputsPerVersion = 12
    static let mutationsPerVersion = 24

    @Test(arguments: ProtocolFiles.specs.map(\.name))
    func decodersNeverTrap(messageName: String) throws {
        let spec = ProtocolFiles.spec(named: messageName)
        let type = try #require(ProtocolFiles.typesByName[messageName])
        var rng = SeededRandom(
            seed: UInt64(truncatingIfNeeded: messageName.hashValue & 0) &+ UInt64(messageName.utf8.count))
        for version in type.validVersions {
            for _ in 0..<Self.randomInputsPerVersion {
                let n = Int.random(in: 0...64, using: &rng)
                var b = ByteBuffer()
                b.writeBytes((0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) })
                fuzzOne(type, b, version: version)
            }
            for i in 0..<Self.mutationsPerVersion {
                var writer = RandomWireWriter(spec: spec, seed: UInt64(i) &* 31 &+ UInt64(version))
                let valid = writer.message(version: Int(version))
                fuzzOne(type, mutate(valid, using: &rng), version: version)
            }
        }
    }

    @Test func requestFramesNeverTrap() {
        var rng = SeededRandom(seed: 42)
        for _ in 0..<3000 {
            var b = ByteBuffer()
            let key = Int16.random(in: -2...90, using: &rng)
            b.writeInteger(key)
            b.writeInteger(Int16.random(in: -1...20, using: &rng))
            let n = Int.random(in: 0...80, using: &rng)
            b.writeBytes((0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) })
            if let frame = try? KafkaRequestFrame(parsing: b) {
                _ = try? frame.decodeBody()
            }
        }
    }

    private func fuzzOne<T: KafkaMessage>(_ type: T.Type, _ input: ByteBuffer, version: Int16) {
        var b = input
        guard let decoded = try? T(from: &b, version: version) else { return }
        guard let encoded = try? decoded.encoded(version: version) else { return }
        guard let again = try? T.decodeWhole(encoded, version: version) else {
            Issue.record("\(T.messageName) v\(version): own encoding does not decode")
            return
        }
        let reencoded = try? again.encoded(version: version)
        #expect(reencoded == encoded, "\(T.messageName) v\(version): encoding is not a fixed point")
    }

    private func mutate(_ valid: ByteBuffer, using rng: inout SeededRandom) -> ByteBuffer {
        var bytes = Array(valid.readableBytesView)
        switch Int.random(in: 0..<5, using: &rng) {
        case 0 where !bytes.isEmpty:  // flip bits
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= UInt8(1) << UInt8.random(in: 0...7, using: &rng)
            }
        case 1 where !bytes.isEmpty:  // truncate
            bytes.removeLast(Int.random(in: 1...bytes.count, using: &rng))
        case 2 where bytes.count >= 4:  // a huge or negative length
            let at = Int.random(in: 0...(bytes.count - 4), using: &rng)
            let values: [[UInt8]] = [
                [0x7F, 0xFF, 0xFF, 0xFF], [0xFF, 0xFF, 0xFF, 0xFE], [0x80, 0, 0, 0], [0xFF, 0xFF, 0xFF, 0xFF],
            ]
            bytes.replaceSubrange(at..<(at + 4), with: values[Int.random(in: 0..<values.count, using: &rng)])
        case 3:  // insert random bytes
            let at = Int.random(in: 0...bytes.count, using: &rng)
            bytes.insert(
                contentsOf: (0..<Int.random(in: 1...6, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng)
                }, at: at)
        default:  // overlong varint
            let at = Int.random(in: 0...bytes.count, using: &rng)
            bytes.insert(contentsOf: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F], at: at)
        }
        var b = ByteBuffer()
        b.writeBytes(bytes)
        return b
    }
}
