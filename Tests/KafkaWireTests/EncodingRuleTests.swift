import KafkaWire
import NIOCore
import SkeinModel
import Testing

/// The rules of Kafka's encoding that round trips alone would not pin down.
@Suite struct EncodingRuleTests {
    @Test func aFieldTheVersionLacksIsAnError() throws {
        var request = ProduceRequest(acks: -1, timeoutMs: 1000)
        request.transactionalId = "tx"
        // TransactionalId exists from v3.
        #expect(throws: WireError.unsupportedField(message: "ProduceRequest", field: "TransactionalId", version: 2)) {
            try request.encoded(version: 2)
        }
        _ = try request.encoded(version: 3)
        // At its default (null) the field is simply not written in v2.
        request.transactionalId = nil
        _ = try request.encoded(version: 2)
    }

    @Test func ignorableFieldsAreDroppedSilently() throws {
        // MetadataResponse.ThrottleTimeMs (v3+) is ignorable: an older version just leaves it out.
        var response = MetadataResponse()
        response.throttleTimeMs = 100
        _ = try response.encoded(version: 0)  // ThrottleTimeMs is v3+, ignorable
    }

    @Test func nullWhereTheVersionForbidsItIsAnError() throws {
        var topic = MetadataRequest.MetadataRequestTopic()
        topic.name = nil  // Name is nullable only from v10
        let request = MetadataRequest(topics: [topic])
        #expect(throws: WireError.nullNotAllowed(field: "Name", version: 9)) { try request.encoded(version: 9) }
        _ = try request.encoded(version: 10)
    }

    @Test func nullArraysAndStrings() throws {
        // MetadataRequest.Topics is nullable from v1: null means "all topics".
        let all = MetadataRequest(topics: nil)
        let bytes = try all.encoded(version: 1)
        #expect(Array(bytes.readableBytesView) == [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(try MetadataRequest.decodeWhole(bytes, version: 1).topics == nil)
        let flexible = try all.encoded(version: 9)
        // compact null array, allow auto creation (true), include cluster and topic authorized operations,
        // empty tagged-field section
        #expect(Array(flexible.readableBytesView) == [0x00, 0x01, 0x00, 0x00, 0x00])
        #expect(throws: WireError.nullNotAllowed(field: "Topics", version: 0)) { try all.encoded(version: 0) }
    }

    @Test func requestHeaderKeepsTheClassicClientIdInV2() throws {
        let header = RequestHeader(requestApiKey: 18, requestApiVersion: 3, correlationId: 7, clientId: "ab")
        let v2 = try header.encoded(version: 2)
        #expect(Array(v2.readableBytesView) == [0, 18, 0, 3, 0, 0, 0, 7, 0, 2, 0x61, 0x62, 0])
        let v1 = try header.encoded(version: 1)
        #expect(Array(v1.readableBytesView) == [0, 18, 0, 3, 0, 0, 0, 7, 0, 2, 0x61, 0x62])
        #expect(try RequestHeader.decodeWhole(v2, version: 2) == header)
    }

    @Test func headerVersions() {
        #expect(ApiKey.apiVersions.responseHeaderVersion(for: 3) == 0)
        #expect(ApiKey.apiVersions.requestHeaderVersion(for: 3) == 2)
        #expect(ApiKey.apiVersions.requestHeaderVersion(for: 2) == 1)
        #expect(ApiKey.controlledShutdown.requestHeaderVersion(for: 0) == 0)
        #expect(ApiKey.controlledShutdown.requestHeaderVersion(for: 1) == 1)
        #expect(ApiKey.produce.requestHeaderVersion(for: 9) == 2)
        #expect(ApiKey.produce.responseHeaderVersion(for: 9) == 1)
        #expect(ApiKey.produce.responseHeaderVersion(for: 8) == 0)
        #expect(ApiKey.saslHandshake.requestHeaderVersion(for: 1) == 1)
    }

    @Test func apiVersionsResponseUsesHeaderV0EvenWhenFlexible() throws {
        let response = ApiVersionsResponse(errorCode: 35, apiKeys: [.init(apiKey: 18, minVersion: 0, maxVersion: 4)])
        var frame = try response.encodeFrame(version: 3, correlationId: 9)
        let size: Int32 = frame.readInteger()!
        #expect(Int(size) == frame.readableBytes)
        let correlationId: Int32 = frame.readInteger()!
        #expect(correlationId == 9)
        // No tagged-field byte after the correlation id: the body starts with the error code.
        let errorCode: Int16 = frame.readInteger()!
        #expect(errorCode == 35)
    }

    @Test func unknownTaggedFieldsSurviveAndKnownOnesDecode() throws {
        // FetchRequest v12+: ClusterId is tag 0; tag 9 is unknown to us.
        var request = FetchRequest(clusterId: "cluster-a", replicaId: -1, maxWaitMs: 500)
        var unknown = ByteBuffer()
        unknown.writeBytes([1, 2, 3])
        request.unknownTaggedFields = [TaggedField(tag: 9, data: unknown)]
        let bytes = try request.encoded(version: 12)
        let decoded = try FetchRequest.decodeWhole(bytes, version: 12)
        #expect(decoded.clusterId == "cluster-a")
        #expect(decoded.unknownTaggedFields == request.unknownTaggedFields)
        #expect(try decoded.encoded(version: 12) == bytes)
        // The same tag twice is refused.
        var twice = request
        twice.unknownTaggedFields.append(TaggedField(tag: 0, data: unknown))
        #expect(throws: WireError.duplicateTag(0)) { try twice.encoded(version: 12) }
    }

    @Test func typedIdsAndDefaults() {
        let r = MetadataResponse.MetadataResponsePartition()
        #expect(r.leaderEpoch == -1)
        let broker = FetchRequest().replicaId
        #expect(broker == BrokerId(-1))
        #expect(InitProducerIdRequest().producerId == ProducerId(-1))
        #expect(FetchRequest().maxBytes == 0x7fff_ffff)
    }

    @Test func malformedInputGivesTypedErrors() {
        var b = ByteBuffer()
        b.writeInteger(Int16(5))
        b.writeBytes([0xC3, 0x28, 0x61, 0x62, 0x63])  // invalid UTF-8
        #expect(throws: WireError.invalidUTF8) { try b.readKafkaString(flexible: false, field: "x") }
        var huge = ByteBuffer()
        huge.writeInteger(Int32.max)
        #expect(throws: WireError.invalidLength(Int64(Int32.max))) {
            try huge.readKafkaArrayCount(flexible: false, field: "x")
        }
        var negative = ByteBuffer()
        negative.writeInteger(Int32(-5))
        #expect(throws: WireError.invalidLength(-5)) { try negative.readKafkaNullableBytes(flexible: false) }
        var varint = ByteBuffer()
        varint.writeBytes([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
        #expect(throws: WireError.varintTooLong) { try varint.readKafkaUnsignedVarint() }
        #expect(throws: WireError.unsupportedVersion(message: "ProduceRequest", version: 12)) {
            try ProduceRequest.decodeWhole(ByteBuffer(), version: 12)
        }
    }

    @Test func unknownApiKeyFrameStillYieldsTheCorrelationId() throws {
        var b = ByteBuffer()
        b.writeInteger(Int16(999))
        b.writeInteger(Int16(0))
        b.writeInteger(Int32(77))
        b.writeInteger(Int16(-1))
        let frame = try KafkaRequestFrame(parsing: b)
        #expect(frame.apiKey == nil)
        #expect(frame.header.correlationId == 77)
        #expect(throws: WireError.unknownApiKey(999)) { try frame.decodeBody() }
    }

    @Test func requestFrameRoundTrip() throws {
        let request = ApiVersionsRequest(clientSoftwareName: "skein", clientSoftwareVersion: "0.1")
        var frame = try request.encodeFrame(version: 3, correlationId: 5, clientId: "c")
        let size: Int32 = frame.readInteger()!
        #expect(Int(size) == frame.readableBytes)
        let parsed = try KafkaRequestFrame(parsing: frame)
        #expect(parsed.apiKey == .apiVersions)
        #expect(parsed.headerVersion == 2)
        #expect(parsed.header.clientId == "c")
        let body = try #require(parsed.decodeBody() as? ApiVersionsRequest)
        #expect(body == request)
    }
}
