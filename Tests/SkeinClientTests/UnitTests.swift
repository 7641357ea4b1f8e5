import KafkaRecords
import KafkaWire
import NIOCore
import SkeinModel
import Testing

@testable import SkeinClient

@Suite struct VersionNegotiationTests {
    @Test func picksTheHighestVersionBothSidesKnow() {
        let table = ApiVersionTable(ranges: [
            ApiKey.metadata.rawValue: 0...12,  // the generated codec also knows 0...12
            ApiKey.fetch.rawValue: 4...20,  // a newer broker: capped at what the codec knows (17)
            ApiKey.produce.rawValue: 3...7,  // an older broker: its maximum
        ])
        #expect(table.version(for: MetadataRequest.self) == 12)
        #expect(table.version(for: FetchRequest.self) == FetchRequest.validVersions.upperBound)
        #expect(table.version(for: ProduceRequest.self) == 7)
        #expect(table.version(for: FetchRequest.self, atMost: 12) == 12)
    }

    @Test func noVersionWhenNotServedOrDisjoint() {
        let table = ApiVersionTable(ranges: [ApiKey.apiVersions.rawValue: 5...9])
        #expect(table.version(for: DescribeConfigsRequest.self) == nil)
        #expect(table.serves(.describeConfigs) == false)
        #expect(table.version(for: ApiVersionsRequest.self) == nil)  // the codec knows 0...4
        #expect(table.version(for: ApiVersionsRequest.self, atMost: 4) == nil)
    }

    @Test func unstableLatestVersionIsNotUsed() {
        // EndTxn's newest version is unstable: brokers serve it only with unstable.api.versions.enable.
        let newest = EndTxnRequest.validVersions.upperBound
        let table = ApiVersionTable(ranges: [ApiKey.endTxn.rawValue: 0...newest])
        #expect(EndTxnRequest.latestVersionUnstable)
        #expect(table.version(for: EndTxnRequest.self) == newest - 1)
    }

    @Test func tableFromApiVersionsResponse() {
        let response = ApiVersionsResponse(apiKeys: [
            .init(apiKey: ApiKey.metadata.rawValue, minVersion: 0, maxVersion: 9),
            .init(apiKey: ApiKey.produce.rawValue, minVersion: 5, maxVersion: 2),  // nonsense: ignored
        ])
        let table = ApiVersionTable(response)
        #expect(table.ranges == [ApiKey.metadata.rawValue: 0...9])
        #expect(table.version(for: MetadataRequest.self) == 9)
    }
}

@Suite struct PartitionerTests {
    /// Keys with the murmur2 values of Kafka's UtilsTest.testMurmur2, and the partitions the Java client's
    /// `toPositive(murmur2(key)) % n` gives them for 3, 6 and 12 partitions.
    static let javaPlacements: [(key: String, murmur2: Int32, partitions: [Int32: Int32])] = [
        ("21", -973_932_308, [3: 0, 6: 0, 12: 0]),
        ("foobar", -790_332_482, [3: 0, 6: 0, 12: 6]),
        ("a-little-bit-long-string", -985_981_536, [3: 2, 6: 2, 12: 8]),
        ("a-little-bit-longer-string", -1_486_304_829, [3: 2, 6: 5, 12: 11]),
        ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971, [3: 2, 6: 5, 12: 5]),
        ("abc", 479_470_107, [3: 0, 6: 3, 12: 3]),
    ]

    @Test func keyedRecordsLandWhereTheJavaClientPutsThem() {
        var partitioner = Partitioner()
        for c in Self.javaPlacements {
            #expect(KafkaPartitioner.murmur2(ByteBuffer(string: c.key)) == c.murmur2)
            for (count, expected) in c.partitions {
                #expect(Partitioner.partition(forKey: ByteBuffer(string: c.key), partitionCount: count) == expected)
                let p = partitioner.partition(topic: "t", key: ByteBuffer(string: c.key), partitionCount: count)
                #expect(p == expected, "\(c.key) with \(count) partitions")
            }
        }
    }

    @Test func nullKeysGoRoundRobinPerTopic() {
        var partitioner = Partitioner()
        let a = (0..<7).map { _ in partitioner.partition(topic: "a", key: nil, partitionCount: 3) }
        let b = (0..<2).map { _ in partitioner.partition(topic: "b", key: nil, partitionCount: 3) }
        #expect(a == [0, 1, 2, 0, 1, 2, 0])
        #expect(b == [0, 1])
    }
}

@Suite struct BrokerAddressTests {
    @Test func parsesBootstrapLists() throws {
        let list = try BrokerAddress.parseList("127.0.0.1:9092, localhost:9192,[::1]:9292,kafka")
        #expect(
            list == [
                BrokerAddress(host: "127.0.0.1", port: 9092), BrokerAddress(host: "localhost", port: 9192),
                BrokerAddress(host: "::1", port: 9292), BrokerAddress(host: "kafka", port: 9092),
            ])
        #expect(throws: KafkaClientError.self) { try BrokerAddress.parseList("host:notaport") }
        #expect(throws: KafkaClientError.self) { try BrokerAddress.parseList(" , ") }
    }
}

@Suite struct FetchDecodingTests {
    @Test func skipsControlBatchesAndRecordsBeforeTheFetchOffset() throws {
        var bytes = try RecordBatchBuilder.build(
            records: (0..<3).map { Record(offsetDelta: Int32($0), key: nil, value: ByteBuffer(string: "v\($0)")) },
            baseOffset: 10, baseTimestamp: 1_000)
        var marker = try RecordBatchBuilder.transactionMarker(
            commit: true, producerId: 7, producerEpoch: 0, coordinatorEpoch: 0, timestamp: 1_001, baseOffset: 13)
        bytes.writeBuffer(&marker)
        let fetched = try KafkaClient.decode(topic: "t", partition: 0, records: bytes, from: 11)
        #expect(fetched.records.map(\.offset) == [11, 12])
        #expect(fetched.records.map { String(buffer: $0.value!) } == ["v1", "v2"])
        #expect(fetched.nextOffset == 14)  // past the control batch
        #expect(fetched.records[0].timestamp == 1_000)
    }
}
