import Foundation
import KafkaWire
import Logging
import NIOEmbedded
import SkeinBroker
import SkeinTransport
import Testing

/// A client is told the address of the listener it came through: a client on the SSL listener must never be
/// sent to the plaintext port (Kafka's advertised.listeners).
@Suite struct ListenerAdvertisementTests {
    func response<R: KafkaRequest>(_ broker: Broker, _ request: R, version: Int16, listener: String) throws
        -> R.Response
    {
        let loop = EmbeddedEventLoop()
        var frame = try request.encodeFrame(version: version, correlationId: 1, clientId: "test")
        frame.moveReaderIndex(forwardBy: 4)
        let future = broker.handle(
            request: frame, connection: KafkaConnectionInfo(remoteAddress: nil, listenerName: listener),
            eventLoop: loop)
        loop.run()
        guard case .response(var bytes) = try future.wait() else { throw WireError.truncated }
        bytes.moveReaderIndex(forwardBy: 4)
        return try R.Response.decodeFrame(bytes, version: version).response
    }

    @Test func metadataAndDescribeClusterAdvertiseTheListenerOfTheRequest() throws {
        let directory = NSTemporaryDirectory() + "skein-listeners-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let broker = try Broker(
            config: BrokerConfig(
                nodeId: 1, dataDirectory: directory, advertisedHost: "127.0.0.1", advertisedPort: 9092,
                advertisedListeners: [
                    "PLAINTEXT": AdvertisedAddress(host: "127.0.0.1", port: 9092),
                    "SSL": AdvertisedAddress(host: "broker1.example", port: 9093),
                ]),
            logger: Logger(label: "test"))
        defer { broker.shutdown() }
        broker.setAdvertisedListener(name: "INTERNAL", host: "10.0.0.1", port: 19092)

        let cases: [(String, String, Int32)] = [
            ("PLAINTEXT", "127.0.0.1", 9092), ("SSL", "broker1.example", 9093), ("INTERNAL", "10.0.0.1", 19092),
            ("UNKNOWN", "127.0.0.1", 9092),
        ]
        for (listener, host, port) in cases {
            let metadata = try response(broker, MetadataRequest(topics: []), version: 12, listener: listener)
            #expect(metadata.brokers.map(\.host) == [host], "\(listener)")
            #expect(metadata.brokers.map(\.port) == [port], "\(listener)")
            let cluster = try response(broker, DescribeClusterRequest(), version: 0, listener: listener)
            #expect(cluster.brokers.map(\.host) == [host], "\(listener)")
            #expect(cluster.brokers.map(\.port) == [port], "\(listener)")
        }
    }
}
