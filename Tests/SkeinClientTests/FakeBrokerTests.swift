import KafkaWire
import NIOCore
import NIOPosix
import SkeinModel
import SkeinTransport
import Testing

@testable import SkeinClient

/// A broker that knows ApiVersions only up to v2 and answers newer versions as Kafka does (KIP-511):
/// UNSUPPORTED_VERSION in the v0 layout, naming its range. With `silent`, it never answers at all.
final class FakeBrokerHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let silent: Bool
    init(silent: Bool) { self.silent = silent }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !silent, let frame = try? KafkaRequestFrame(parsing: unwrapInboundIn(data)) else { return }
        let version = frame.header.requestApiVersion
        let served: [ApiVersionsResponse.ApiVersion] = [
            .init(apiKey: ApiKey.apiVersions.rawValue, minVersion: 0, maxVersion: 2),
            .init(apiKey: ApiKey.metadata.rawValue, minVersion: 0, maxVersion: 9),
        ]
        let error: KafkaErrorCode = version > 2 ? .unsupportedVersion : .none
        let response = ApiVersionsResponse(errorCode: error.rawValue, apiKeys: served)
        let bytes = try! response.encodeFrame(
            version: version > 2 ? 0 : version, correlationId: frame.header.correlationId)
        context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
    }
}

func withFakeBroker(silent: Bool, _ body: (Int) async throws -> Void) async throws {
    let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(KafkaFrameDecoder()))
                try channel.pipeline.syncOperations.addHandler(FakeBrokerHandler(silent: silent))
            }
        }
        .bind(host: "127.0.0.1", port: 0).get()
    do {
        try await body(server.localAddress!.port!)
    } catch {
        try? await server.close()
        throw error
    }
    try await server.close()
}

@Suite struct FakeBrokerTests {
    @Test func apiVersionsFallsBackToTheBrokersRange() async throws {
        try await withFakeBroker(silent: false) { port in
            let conn = try await BrokerConnection.connect(
                host: "127.0.0.1", port: port, clientId: "t", timeout: .seconds(5),
                group: MultiThreadedEventLoopGroup.singleton)
            #expect(conn.versions.ranges[ApiKey.apiVersions.rawValue] == 0...2)
            #expect(try conn.version(for: MetadataRequest.self) == 9)
            #expect(throws: KafkaClientError.unsupportedApi(.produce, broker: conn.name)) {
                try conn.version(for: ProduceRequest.self)
            }
            await conn.close()
        }
    }

    @Test func aSilentBrokerTimesOut() async throws {
        try await withFakeBroker(silent: true) { port in
            // The outcome is what is checked (a timeout error, not a hang); how long it took is not asserted.
            let client = try KafkaClient(bootstrap: "127.0.0.1:\(port)", requestTimeout: .milliseconds(200))
            await #expect(throws: KafkaClientError.timedOut(api: "ApiVersions", broker: "127.0.0.1:\(port)")) {
                try await client.listTopics()
            }
        }
    }
}
