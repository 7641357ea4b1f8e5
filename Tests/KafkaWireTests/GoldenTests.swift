import Foundation
import KafkaRecords
import KafkaWire
import NIOCore
import Testing

/// Request bytes captured from real clients (kcat, confluent-kafka, kafka-python, aiokafka; see
/// `Fixtures/golden/README.md`) must decode and re-encode to exactly the bytes the client sent.
@Suite struct GoldenTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    struct Fixture: CustomStringConvertible, Sendable {
        let name: String
        let bytes: [UInt8]
        var description: String { name }
    }

    static func load(_ folder: String) -> [Fixture] {
        let dir = fixtures.appendingPathComponent(folder)
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter {
            $0.hasSuffix(".bin")
        }
        return names.sorted().compactMap { name in
            guard let data = try? Data(contentsOf: dir.appendingPathComponent(name)) else { return nil }
            return Fixture(name: name, bytes: Array(data))
        }
    }

    static let requests = load("golden")
    static let responses = load("golden-responses")
    static let quirks = load("golden-quirks")

    /// `<client>-<ApiName>-v<version>[-<label>].bin` -> (ApiName, version)
    static func parseName(_ name: String) -> (api: String, version: Int16)? {
        let parts = name.replacingOccurrences(of: ".bin", with: "").split(separator: "-")
        guard let vIndex = parts.lastIndex(where: { $0.hasPrefix("v") && Int16($0.dropFirst()) != nil }), vIndex >= 1
        else {
            return nil
        }
        return (String(parts[vIndex - 1]), Int16(parts[vIndex].dropFirst())!)
    }

    @Test func fixturesCoverTheRequiredApis() {
        let apis = Set(Self.requests.compactMap { Self.parseName($0.name)?.api })
        for required in ["ApiVersions", "Metadata", "Produce", "Fetch", "CreateTopics", "JoinGroup", "InitProducerId"] {
            #expect(apis.contains(required), "no golden fixture for \(required)")
        }
        let produceLabels = Set(Self.requests.filter { $0.name.contains("-Produce-") }.map { $0.name })
        for codec in ["gzip", "snappy", "lz4", "zstd"] {
            #expect(produceLabels.contains { $0.contains("-\(codec)") }, "no golden Produce fixture with \(codec)")
        }
        let clients = Set(Self.requests.map { String($0.name.split(separator: "-")[0]) })
        #expect(clients.isSuperset(of: ["kcat", "confluent", "kafka"]), "clients: \(clients)")
    }

    @Test(arguments: GoldenTests.requests)
    func requestDecodesAndReencodesIdentically(_ fixture: Fixture) throws {
        let frame = try KafkaRequestFrame(parsing: ByteBuffer(bytes: fixture.bytes))
        let apiKey = try #require(frame.apiKey)
        let expected = try #require(Self.parseName(fixture.name))
        #expect(apiKey.name == expected.api)
        #expect(frame.header.requestApiVersion == expected.version)

        let body = try frame.decodeBody()
        var out = ByteBuffer()
        try frame.header.encode(into: &out, version: frame.headerVersion)
        try body.encode(into: &out, version: frame.header.requestApiVersion)
        #expect(Array(out.readableBytesView) == fixture.bytes, "\(fixture.name) re-encodes differently")
    }

    /// The record batches inside captured Produce requests: real clients' CRCs and compressed streams must
    /// validate and decode with KafkaRecords, with the codec the file name says.
    @Test(arguments: GoldenTests.requests.filter { $0.name.contains("-Produce-") })
    func producedBatchesValidateAndDecode(_ fixture: Fixture) throws {
        let frame = try KafkaRequestFrame(parsing: ByteBuffer(bytes: fixture.bytes))
        let request = try ProduceRequest.decodeWhole(frame.body, version: frame.header.requestApiVersion)
        let expectedCodec = CompressionCodec.allCases.first { $0 != .none && fixture.name.contains("-\($0)") } ?? .none
        var batches = 0
        for topic in request.topicData {
            for partition in topic.partitionData {
                var iterator = RecordBatchSequence(partition.records ?? ByteBuffer()).makeIterator()
                while let view = iterator.next() {
                    try view.validateForAppend()
                    #expect(view.attributes.compression == expectedCodec, "\(fixture.name)")
                    let records = try view.decodeRecords()
                    #expect(records.count == Int(view.recordsCount))
                    #expect(records.last?.offsetDelta == view.lastOffsetDelta)
                    batches += 1
                }
                #expect(iterator.stop == nil, "\(fixture.name): \(String(describing: iterator.stop))")
            }
        }
        #expect(batches > 0, "\(fixture.name) holds no batch")
    }

    /// Frames that cannot round-trip byte for byte, kept to pin down how we read them: librdkafka's Metadata
    /// v12 with 3 stray bytes after the body (Kafka ignores them, so do we), and Tansu responses that write
    /// tagged fields holding their defaults (which Kafka's encoder leaves out). Each must decode, and its
    /// re-encoding must decode to the same value.
    @Test(arguments: GoldenTests.quirks)
    func quirkyFramesDecode(_ fixture: Fixture) throws {
        let expected = try #require(Self.parseName(fixture.name))
        let apiKey = try #require(ApiKey.allCases.first { $0.name == expected.api })
        if fixture.name.hasPrefix("tansu-") {
            var b = ByteBuffer(bytes: fixture.bytes)
            _ = try ResponseHeader(from: &b, version: apiKey.responseHeaderVersion(for: expected.version))
            try checkSemanticRoundTrip(apiKey.responseType, &b, version: expected.version)
            #expect(b.readableBytes == 0)
        } else {
            let frame = try KafkaRequestFrame(parsing: ByteBuffer(bytes: fixture.bytes))
            let (request, trailing) = try frame.decodeBodyReportingTrailingBytes()
            #expect(trailing > 0)
            var out = ByteBuffer()
            try frame.header.encode(into: &out, version: frame.headerVersion)
            try request.encode(into: &out, version: expected.version)
            #expect(Array(out.readableBytesView) == Array(fixture.bytes.dropLast(trailing)))
        }
    }

    private func checkSemanticRoundTrip<T: KafkaMessage>(_ type: T.Type, _ b: inout ByteBuffer, version: Int16) throws {
        let decoded = try T(from: &b, version: version)
        let again = try T.decodeWhole(decoded.encoded(version: version), version: version)
        #expect(again == decoded)
    }

    @Test(arguments: GoldenTests.responses)
    func responseDecodesAndReencodesIdentically(_ fixture: Fixture) throws {
        let expected = try #require(Self.parseName(fixture.name))
        let apiKey = try #require(ApiKey.allCases.first { $0.name == expected.api })
        var b = ByteBuffer(bytes: fixture.bytes)
        let headerVersion = apiKey.responseHeaderVersion(for: expected.version)
        let header = try ResponseHeader(from: &b, version: headerVersion)
        let response = try apiKey.responseType.init(from: &b, version: expected.version)
        #expect(b.readableBytes == 0)
        var out = ByteBuffer()
        try header.encode(into: &out, version: headerVersion)
        try response.encode(into: &out, version: expected.version)
        #expect(Array(out.readableBytesView) == fixture.bytes, "\(fixture.name) re-encodes differently")
    }
}
