import Logging
import NIOCore
import NIOPosix
import SkeinBroker
import SkeinTransport

/// A running node: the broker over its data directory and one Kafka listener per configured listener.
public final class Node: Sendable {
    public let config: NodeConfig
    public let broker: Broker
    public let listeners: [KafkaListener]
    private let group: MultiThreadedEventLoopGroup
    private let logger: Logger

    private init(config: NodeConfig, broker: Broker, listeners: [KafkaListener], group: MultiThreadedEventLoopGroup, logger: Logger) {
        self.config = config
        self.broker = broker
        self.listeners = listeners
        self.group = group
        self.logger = logger
    }

    /// Opens the data directory (recovering every partition) and binds the listeners.
    public static func start(config: NodeConfig, logger: Logger) async throws -> Node {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        do {
            let broker = try Broker(config: config.brokerConfig, logger: logger)
            var bound: [KafkaListener] = []
            for l in config.listeners {
                let listener = try await KafkaListener.bind(
                    configuration: .init(
                        name: l.name, host: l.host, port: l.port, maxRequestSize: config.maxRequestBytes,
                        idleTimeout: .milliseconds(config.idleTimeoutMs)),
                    group: group, handler: broker, logger: logger)
                logger.info("Kafka listener up", metadata: ["name": "\(l.name)", "address": "\(listener.localAddress.map { "\($0)" } ?? "?")"])
                bound.append(listener)
            }
            return Node(config: config, broker: broker, listeners: bound, group: group, logger: logger)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    /// Stops accepting, closes the listeners, flushes and closes the logs.
    public func stop() async {
        for l in listeners { try? await l.close() }
        broker.shutdown()
        try? await group.shutdownGracefully()
        logger.info("node stopped")
    }
}
