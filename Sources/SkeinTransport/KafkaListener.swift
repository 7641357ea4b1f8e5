import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// A bound Kafka listener: accepts connections and runs each through the frame decoder and a
/// `KafkaConnectionHandler`, behind TLS when the listener has a TLS context (Kafka's SSL security protocol).
public final class KafkaListener: Sendable {
    public struct Configuration: Sendable {
        public var name: String
        public var host: String
        /// 0 picks a free port (tests).
        public var port: Int
        /// Kafka's `socket.request.max.bytes`.
        public var maxRequestSize: Int
        /// Kafka's `connections.max.idle.ms` (10 minutes).
        public var idleTimeout: TimeAmount
        public var maxInFlightRequestsPerConnection: Int
        /// The server side of TLS for every connection; nil for plaintext. Fetch responses on a TLS listener
        /// pass through user space (no sendfile).
        public var tls: NIOSSLContext?

        public init(
            name: String = "PLAINTEXT", host: String = "127.0.0.1", port: Int = 9092,
            maxRequestSize: Int = 100 * 1024 * 1024, idleTimeout: TimeAmount = .minutes(10),
            maxInFlightRequestsPerConnection: Int = 32, tls: NIOSSLContext? = nil
        ) {
            self.tls = tls
            self.name = name
            self.host = host
            self.port = port
            self.maxRequestSize = maxRequestSize
            self.idleTimeout = idleTimeout
            self.maxInFlightRequestsPerConnection = maxInFlightRequestsPerConnection
        }
    }

    public let channel: any Channel
    public let configuration: Configuration

    private init(channel: any Channel, configuration: Configuration) {
        self.channel = channel
        self.configuration = configuration
    }

    /// The address actually bound (the port when 0 was asked for).
    public var localAddress: SocketAddress? { channel.localAddress }

    public static func bind(
        configuration: Configuration, group: any EventLoopGroup, handler: any KafkaRequestHandling, logger: Logger
    ) async throws -> KafkaListener {
        let connectionConfiguration = KafkaConnectionStateMachine.Configuration(
            maxInFlightRequests: configuration.maxInFlightRequestsPerConnection)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls = configuration.tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
                    }
                    try channel.pipeline.syncOperations.addHandlers([
                        IdleStateHandler(allTimeout: configuration.idleTimeout),
                        ByteToMessageHandler(KafkaFrameDecoder(maxFrameSize: configuration.maxRequestSize)),
                        KafkaConnectionHandler(
                            requestHandler: handler, listenerName: configuration.name, logger: logger,
                            configuration: connectionConfiguration, supportsFileRegions: configuration.tls == nil),
                    ])
                }
            }
            .bind(host: configuration.host, port: configuration.port)
            .get()
        return KafkaListener(channel: channel, configuration: configuration)
    }

    public func close() async throws {
        try await channel.close()
    }
}
