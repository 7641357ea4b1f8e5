import Foundation
import KafkaRecords
import KafkaWire
import Logging
import NIOCore
import NIOEmbedded
import SkeinBroker
import SkeinModel
import SkeinTransport
import Testing

/// The broker's answers to requests no real client sends (corrupt batches, bad acks, unknown APIs), through
/// `Broker.handle` without a network.
@Suite struct BrokerTests {
    final class Fixture {
        let directory: String
        let broker: Broker
        let loop = EmbeddedEventLoop()
        var correlationId: Int32 = 0

        init(autoCreateTopics: Bool = false) throws {
            directory = NSTemporaryDirectory() + "skein-broker-test-\(UUID().uuidString)"
            broker = try Broker(
                config: BrokerConfig(nodeId: 1, dataDirectory: directory, autoCreateTopics: autoCreateTopics),
                logger: Logger(label: "test"))
        }

        deinit {
            broker.shutdown()
            try? FileManager.default.removeItem(atPath: directory)
        }

        func send<R: KafkaRequest>(_ request: R, version: Int16) throws -> KafkaRequestOutcome {
            correlationId += 1
            var frame = try request.encodeFrame(version: version, correlationId: correlationId, clientId: "test")
            frame.moveReaderIndex(forwardBy: 4)
            let future = broker.handle(
                request: frame, connection: KafkaConnectionInfo(remoteAddress: nil, listenerName: "test"),
                eventLoop: loop)
            loop.run()
            return try future.wait()
        }

        func response<R: KafkaRequest>(_ request: R, version: Int16) throws -> R.Response {
            guard case .response(var bytes) = try send(request, version: version) else {
                throw WireError.truncated
            }
            bytes.moveReaderIndex(forwardBy: 4)
            return try R.Response.decodeFrame(bytes, version: version).response
        }

        func createTopic(_ name: String, configs: [String: String] = [:]) throws {
            var topic = CreateTopicsRequest.CreatableTopic(name: name, numPartitions: 1, replicationFactor: 1)
            topic.configs = configs.map { .init(name: $0.key, value: $0.value) }
            let r = try response(CreateTopicsRequest(topics: [topic], timeoutMs: 1000), version: 7)
            #expect(r.topics.first?.errorCode == 0)
        }

        func produce(_ topic: String, _ batch: ByteBuffer, acks: Int16 = -1) throws -> KafkaRequestOutcome {
            try send(
                ProduceRequest(
                    acks: acks, timeoutMs: 1000,
                    topicData: [
                        .init(name: topic, partitionData: [.init(index: 0, records: batch)])
                    ]), version: 9)
        }

        func produceError(_ topic: String, _ batch: ByteBuffer, acks: Int16 = -1) throws -> KafkaErrorCode? {
            let r = try response(
                ProduceRequest(
                    acks: acks, timeoutMs: 1000,
                    topicData: [
                        .init(name: topic, partitionData: [.init(index: 0, records: batch)])
                    ]), version: 9)
            return r.responses.first?.partitionResponses.first.flatMap { KafkaErrorCode(rawValue: $0.errorCode) }
        }
    }

    static func batch(_ values: [String], producerId: Int64 = -1, sequence: Int32 = 0) throws -> ByteBuffer {
        try RecordBatchBuilder.build(
            records: values.enumerated().map {
                Record(offsetDelta: Int32($0.offset), key: nil, value: ByteBuffer(string: $0.element))
            },
            baseTimestamp: 1_700_000_000_000, producerId: ProducerId(producerId),
            producerEpoch: producerId >= 0 ? 0 : -1,
            baseSequence: producerId >= 0 ? sequence : -1)
    }

    @Test func idempotentProduceAnswersRetriesWithTheOriginalOffsets() throws {
        let f = try Fixture()
        try f.createTopic("t")
        func produce(_ batch: ByteBuffer) throws -> ProduceResponse.PartitionProduceResponse? {
            try f.response(
                ProduceRequest(
                    acks: -1, timeoutMs: 1000,
                    topicData: [.init(name: "t", partitionData: [.init(index: 0, records: batch)])]),
                version: 9
            ).responses.first?.partitionResponses.first
        }
        #expect(try produce(Self.batch(["x"]))?.baseOffset == 0)
        #expect(try produce(Self.batch(["a", "b"], producerId: 5, sequence: 0))?.baseOffset == 1)
        #expect(try produce(Self.batch(["c"], producerId: 5, sequence: 2))?.baseOffset == 3)
        // The retry of the first batch: its offsets again, nothing appended.
        let retry = try produce(Self.batch(["a", "b"], producerId: 5, sequence: 0))
        #expect(retry?.errorCode == 0 && retry?.baseOffset == 1)
        let gap = try produce(Self.batch(["e"], producerId: 5, sequence: 7))
        #expect(gap?.errorCode == KafkaErrorCode.outOfOrderSequenceNumber.rawValue)
        #expect(gap?.errorMessage?.contains("expected 3") == true)
        #expect(try produce(Self.batch(["d"], producerId: 5, sequence: 3))?.baseOffset == 4)
        // Two batches of an idempotent producer in one partition's records: INVALID_RECORD.
        var two = try Self.batch(["f"], producerId: 5, sequence: 4)
        var second = try Self.batch(["g"], producerId: 5, sequence: 5)
        two.writeBuffer(&second)
        #expect(try produce(two)?.errorCode == KafkaErrorCode.invalidRecord.rawValue)
    }

    @Test func produceErrorCodes() throws {
        let f = try Fixture()
        try f.createTopic("t", configs: ["max.message.bytes": "500"])
        #expect(try f.produceError("t", Self.batch(["a", "b"])) == KafkaErrorCode.none)
        // A flipped byte under the CRC: CORRUPT_MESSAGE, and nothing is appended.
        var corrupt = try Self.batch(["c"])
        let at = corrupt.writerIndex - 2
        corrupt.setInteger(corrupt.getInteger(at: at, as: UInt8.self)! ^ 0x01, at: at)
        #expect(try f.produceError("t", corrupt) == .corruptMessage)
        #expect(try f.produceError("t", Self.batch([String(repeating: "x", count: 600)])) == .messageTooLarge)
        #expect(try f.produceError("nope", Self.batch(["a"])) == .unknownTopicOrPartition)
        #expect(try f.produceError("t", Self.batch(["a"]), acks: 2) == .invalidRequiredAcks)
        // acks=0: no response at all, but the batch is appended.
        guard case .noResponse = try f.produce("t", Self.batch(["d"]), acks: 0) else {
            Issue.record("acks=0 got a response")
            return
        }
        let offsets = try f.response(
            ListOffsetsRequest(
                replicaId: -1,
                topics: [
                    .init(name: "t", partitions: [.init(partitionIndex: 0, timestamp: -1)])
                ]), version: 7)
        #expect(offsets.topics.first?.partitions.first?.offset == 3)  // a, b, d
    }

    @Test func apiVersionsAdvertisesServedRangesAndAnswersUnknownVersionsInV0() throws {
        let f = try Fixture()
        let r = try f.response(ApiVersionsRequest(), version: 3)
        let keys = Dictionary(uniqueKeysWithValues: r.apiKeys.map { ($0.apiKey, $0.minVersion...$0.maxVersion) })
        #expect(keys[ApiKey.produce.rawValue] == 0...11)
        #expect(keys[ApiKey.fetch.rawValue] == 4...17)
        #expect(keys[ApiKey.joinGroup.rawValue] == 2...9)  // KIP-896's floor
        #expect(keys[ApiKey.endTxn.rawValue] == 0...4)  // transaction version 1: EndTxn v5 is not advertised
        #expect(keys[ApiKey.writeTxnMarkers.rawValue] == nil)  // between nodes only
        // An unknown version: error 35 in the v0 layout.
        var raw = ByteBuffer()
        raw.writeInteger(Int16(18))
        raw.writeInteger(Int16(42))
        raw.writeInteger(Int32(7))
        raw.writeInteger(Int16(-1))
        raw.writeInteger(UInt8(0))
        let future = f.broker.handle(
            request: raw, connection: .init(remoteAddress: nil, listenerName: "t"), eventLoop: f.loop)
        f.loop.run()
        guard case .response(var bytes) = try future.wait() else {
            Issue.record("no response")
            return
        }
        bytes.moveReaderIndex(forwardBy: 4)
        let (correlationId, v0) = try ApiVersionsResponse.decodeFrame(bytes, version: 0)
        #expect(correlationId == 7 && v0.errorCode == 35 && !v0.apiKeys.isEmpty)
    }

    @Test func unservedApisAndMalformedBodiesCloseTheConnection() throws {
        let f = try Fixture()
        guard case .close = try f.send(WriteTxnMarkersRequest(markers: []), version: 1) else {
            Issue.record("an API not served must close the connection")
            return
        }
        guard case .close = try f.send(JoinGroupRequest(groupId: "g"), version: 1) else {
            Issue.record("a version below the served range must close the connection")
            return
        }
        var truncated = try MetadataRequest(topics: nil).encodeFrame(version: 1, correlationId: 1, clientId: nil)
        truncated.moveReaderIndex(forwardBy: 4)
        truncated = truncated.getSlice(at: truncated.readerIndex, length: truncated.readableBytes - 2)!
        let future = f.broker.handle(
            request: truncated, connection: .init(remoteAddress: nil, listenerName: "t"), eventLoop: f.loop)
        f.loop.run()
        guard case .close = try future.wait() else {
            Issue.record("a malformed body must close the connection")
            return
        }
    }

    @Test func fetchReturnsWhatWasProducedAndWaitsForMinBytes() throws {
        let f = try Fixture()
        try f.createTopic("t")
        _ = try f.produce("t", Self.batch(["a", "b", "c"]))
        let fetch = FetchRequest(
            replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 1 << 20,
            topics: [
                .init(topic: "t", partitions: [.init(partition: 0, fetchOffset: 1, partitionMaxBytes: 1 << 20)])
            ])
        let r = try f.response(fetch, version: 11)
        let data = try #require(r.responses.first?.partitions.first)
        #expect(data.errorCode == 0 && data.highWatermark == 3)
        let views = Array(RecordBatchSequence(data.records ?? ByteBuffer()))
        #expect(views.count == 1 && views[0].baseOffset == 0)  // the whole batch holding offset 1
        // Out of range: an error with an empty (not null) record set.
        var far = fetch
        far.topics[0].partitions[0].fetchOffset = 99
        let e = try f.response(far, version: 11)
        #expect(e.responses.first?.partitions.first?.errorCode == KafkaErrorCode.offsetOutOfRange.rawValue)
        #expect(e.responses.first?.partitions.first?.records == ByteBuffer())
    }

    @Test func autoCreateIsOffByDefaultAndConfigurable() throws {
        let off = try Fixture()
        let r = try off.response(
            MetadataRequest(topics: [.init(name: "auto")], allowAutoTopicCreation: true), version: 9)
        #expect(r.topics.first?.errorCode == KafkaErrorCode.unknownTopicOrPartition.rawValue)
        let on = try Fixture(autoCreateTopics: true)
        let created = try on.response(
            MetadataRequest(topics: [.init(name: "auto")], allowAutoTopicCreation: true), version: 9)
        #expect(created.topics.first?.errorCode == 0 && created.topics.first?.partitions.count == 1)
        // The client may still refuse auto-creation for its request.
        let refused = try on.response(
            MetadataRequest(topics: [.init(name: "other")], allowAutoTopicCreation: false), version: 9)
        #expect(refused.topics.first?.errorCode == KafkaErrorCode.unknownTopicOrPartition.rawValue)
    }

    @Test func createTopicsValidateOnlyCreatesNothing() throws {
        let f = try Fixture()
        let request = CreateTopicsRequest(
            topics: [.init(name: "v", numPartitions: 2, replicationFactor: 1)], timeoutMs: 1000, validateOnly: true)
        let r = try f.response(request, version: 7)
        #expect(r.topics.first?.errorCode == 0 && r.topics.first?.numPartitions == 2)
        let meta = try f.response(MetadataRequest(topics: nil), version: 9)
        #expect(meta.topics.isEmpty)
        let bad = CreateTopicsRequest(
            topics: [.init(name: "v", numPartitions: 0, replicationFactor: 1)], timeoutMs: 1000, validateOnly: true)
        #expect(try f.response(bad, version: 7).topics.first?.errorCode == KafkaErrorCode.invalidPartitions.rawValue)
    }

    @Test func listOffsetsByTimestampAndMaxTimestamp() throws {
        let f = try Fixture()
        try f.createTopic("t")
        for (i, ts) in [Int64(1_000), 5_000, 3_000].enumerated() {
            let batch = try RecordBatchBuilder.build(
                records: [Record(offsetDelta: 0, key: nil, value: ByteBuffer(string: "r\(i)"))], baseTimestamp: ts)
            _ = try f.produce("t", batch)
        }
        func lookup(_ timestamp: Int64) throws -> (Int64, Int64) {
            let r = try f.response(
                ListOffsetsRequest(
                    replicaId: -1,
                    topics: [
                        .init(name: "t", partitions: [.init(partitionIndex: 0, timestamp: timestamp)])
                    ]), version: 8)
            let p = try #require(r.topics.first?.partitions.first)
            return (p.offset, p.timestamp)
        }
        #expect(try lookup(-2).0 == 0)  // earliest
        #expect(try lookup(-1).0 == 3)  // latest
        #expect(try lookup(-3) == (1, 5_000))  // max timestamp
        #expect(try lookup(2_000) == (1, 5_000))  // first record at or after 2000
        #expect(try lookup(9_000) == (-1, -1))  // none
    }

    @Test func offsetForLeaderEpochAndDescribeCluster() throws {
        let f = try Fixture()
        try f.createTopic("t")
        _ = try f.produce("t", Self.batch(["a", "b"]))
        let r = try f.response(
            OffsetForLeaderEpochRequest(topics: [
                .init(topic: "t", partitions: [.init(partition: 0, currentLeaderEpoch: 0, leaderEpoch: 0)])
            ]), version: 4)
        let p = try #require(r.topics.first?.partitions.first)
        #expect(p.errorCode == 0 && p.leaderEpoch == 0 && p.endOffset == 2)
        let fenced = try f.response(
            OffsetForLeaderEpochRequest(topics: [
                .init(topic: "t", partitions: [.init(partition: 0, currentLeaderEpoch: 5, leaderEpoch: 0)])
            ]), version: 4)
        #expect(fenced.topics.first?.partitions.first?.errorCode == KafkaErrorCode.unknownLeaderEpoch.rawValue)
        let cluster = try f.response(DescribeClusterRequest(), version: 1)
        #expect(cluster.clusterId == "skein-local" && cluster.controllerId == BrokerId(1) && cluster.brokers.count == 1)
    }

    @Test func aRecreatedTopicStartsEmptyAndNothingIsLeftBehind() throws {
        let f = try Fixture()
        try f.createTopic("t")
        _ = try f.produce("t", Self.batch(["a", "b"]))
        let deleted = try f.response(DeleteTopicsRequest(topicNames: ["t"], timeoutMs: 1000), version: 5)
        #expect(deleted.responses.first?.errorCode == 0)
        try f.createTopic("t")
        let offsets = try f.response(
            ListOffsetsRequest(
                replicaId: -1, topics: [.init(name: "t", partitions: [.init(partitionIndex: 0, timestamp: -1)])]),
            version: 7)
        #expect(offsets.topics.first?.partitions.first?.offset == 0)
        let entries = try FileManager.default.contentsOfDirectory(atPath: f.directory)
        #expect(!entries.contains { $0.hasSuffix("-delete") })
    }
}


/// Which `__consumer_offsets` partition holds a group: Kafka's `Utils.abs(groupId.hashCode()) % partitions`.
@Suite struct CoordinatorPartitionTests {
    @Test func javaStringHashCodePlacement() {
        // Java: "hello".hashCode() == 99162322, "Hello World".hashCode() == -862545276,
        // "polygenelubricants".hashCode() == Integer.MIN_VALUE (Utils.abs maps it to 0).
        #expect(offsetsTopicPartition(for: "hello", partitionCount: 50) == 99_162_322 % 50)
        #expect(offsetsTopicPartition(for: "Hello World", partitionCount: 50) == 862_545_276 % 50)
        #expect(offsetsTopicPartition(for: "polygenelubricants", partitionCount: 50) == 0)
        #expect(offsetsTopicPartition(for: "", partitionCount: 16) == 0)
        // UTF-16 code units, as Java counts them: one supplementary character is two units.
        #expect(offsetsTopicPartition(for: "😀", partitionCount: 1000) == (55357 * 31 + 56832) % 1000)
    }
}
