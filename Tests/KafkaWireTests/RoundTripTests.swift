import KafkaWire
import KafkaWireGenerator
import NIOCore
import SkeinModel
import Testing

/// Seeded round trips for every message file and every valid version: random wire bytes written from the
/// JSON definition decode, consume exactly their length, and re-encode to the identical bytes.
@Suite struct RoundTripTests {
    static let seedsPerVersion = 12

    @Test func everyMessageHasAGeneratedType() {
        #expect(ProtocolFiles.specs.count == 186)
        for spec in ProtocolFiles.specs {
            #expect(ProtocolFiles.typesByName[spec.name] != nil, "no generated type for \(spec.name)")
        }
        #expect(ApiKey.allCases.count == 88)
        #expect(ApiKey.allCases.map(\.rawValue) == Array(0...87))
    }

    @Test(arguments: ProtocolFiles.specs.map(\.name))
    func roundTrip(messageName: String) throws {
        let spec = ProtocolFiles.spec(named: messageName)
        let type = try #require(ProtocolFiles.typesByName[messageName])
        let lo = spec.validVersions.lowest!, hi = spec.validVersions.highest!
        #expect(type.validVersions == Int16(lo)...Int16(hi))
        for version in lo...hi {
            for seed in 0..<UInt64(Self.seedsPerVersion) {
                var writer = RandomWireWriter(spec: spec, seed: seed &* 7919 &+ UInt64(version))
                let bytes = writer.message(version: version)
                try checkRoundTrip(
                    type, bytes: bytes, version: Int16(version), context: "\(messageName) v\(version) seed \(seed)")
            }
        }
    }

    private func checkRoundTrip<T: KafkaMessage>(_ type: T.Type, bytes: ByteBuffer, version: Int16, context: String)
        throws
    {
        var input = bytes
        let decoded: T
        do {
            decoded = try T(from: &input, version: version)
        } catch {
            Issue.record("\(context): decode failed: \(error); bytes \(bytes.readableBytesView.map { $0 })")
            return
        }
        #expect(input.readableBytes == 0, "\(context): \(input.readableBytes) bytes not consumed")
        var output = ByteBuffer()
        try decoded.encode(into: &output, version: version)
        #expect(output == bytes, "\(context): re-encode differs")
        let again = try T.decodeWhole(output, version: version)
        #expect(again == decoded, "\(context): second decode differs")
    }
}
