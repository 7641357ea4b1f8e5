import Logging
import NIOCore
import NIOPosix
import SkeinBroker
import SkeinReplication
import SkeinTLS
import SkeinTransport

/// A running node: the broker over its data directory and one Kafka listener per configured listener (SSL
/// listeners use the node's `[tls]` material).
public final class Node: Sendable {
    public let config: NodeConfig
    public let broker: Broker
    public let listeners: [KafkaListener]
    /// The HTTP port actually bound (metrics), nil when disabled.
    public var httpAddress: SocketAddress? { http?.channel.localAddress }
    private let http: MetricsServer?
    private let retention: RepeatedTask
    private let group: MultiThreadedEventLoopGroup
    private let logger: Logger
    private let cluster: ClusterServices?

    private init(
        config: NodeConfig, broker: Broker, listeners: [KafkaListener], http: MetricsServer?, retention: RepeatedTask,
        group: MultiThreadedEventLoopGroup, logger: Logger, cluster: ClusterServices?
    ) {
        self.cluster = cluster
        self.config = config
        self.broker = broker
        self.listeners = listeners
        self.http = http
        self.retention = retention
        self.group = group
        self.logger = logger
    }

    /// Opens the data directory (recovering every partition) and binds the listeners.
    public static func start(config: NodeConfig, logger: Logger) async throws -> Node {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        do {
            var cluster: ClusterServices?
            if let c = config.cluster {
                cluster = try ClusterServices(config: config, cluster: c, loop: group.next(), logger: logger)
            }
            let broker = try Broker(config: config.brokerConfig, logger: logger, cluster: cluster?.context)
            if let cluster, let c = config.cluster {
                try await cluster.start(config: config, cluster: c, group: group, broker: broker)
            }
            // Loaded (and checked) once, before anything binds: a bad file stops the node with a clear error.
            let tls = try config.listeners.contains { $0.securityProtocol == .ssl } ? config.tls?.load() : nil
            var bound: [KafkaListener] = []
            for l in config.listeners {
                var configuration = KafkaListener.Configuration(
                    name: l.name, host: l.host, port: l.port, maxRequestSize: config.maxRequestBytes,
                    idleTimeout: .milliseconds(config.idleTimeoutMs))
                if l.securityProtocol == .ssl {
                    guard let tls else {
                        throw NodeConfigError(key: "tls", message: "listener \(l.name) is SSL but [tls] is missing")
                    }
                    configuration.tls = try tls.makeContext(
                        tls.kafkaServerConfiguration(clientAuthentication: l.sslClientAuthentication))
                }
                let listener = try await KafkaListener.bind(
                    configuration: configuration, group: group, handler: broker, logger: logger)
                logger.info(
                    "Kafka listener up",
                    metadata: [
                        "name": "\(l.name)", "security_protocol": "\(l.securityProtocol.rawValue)",
                        "address": "\(listener.localAddress.map { "\($0)" } ?? "?")",
                    ])
                if l.advertisedPort == 0, let port = listener.localAddress?.port {
                    broker.setAdvertisedListener(name: l.name, host: l.advertisedHost, port: Int32(port))
                    if bound.isEmpty { broker.setAdvertisedListener(host: l.advertisedHost, port: Int32(port)) }
                }
                bound.append(listener)
            }
            if let cluster, let c = config.cluster {
                let endpoints = zip(config.listeners, bound).map { l, listener in
                    NodeEndpoint(
                        name: l.name, host: l.advertisedHost,
                        port: Int32(l.advertisedPort == 0 ? (listener.localAddress?.port ?? 0) : l.advertisedPort))
                }
                let rpcPort = cluster.rpc?.localAddress?.port ?? c.rpcPort
                let registration = NodeRegistration(
                    id: config.nodeId, rack: config.rack, listeners: endpoints, rpcHost: c.rpcAdvertisedHost,
                    rpcPort: Int32(rpcPort))
                cluster.register(registration)
                try await cluster.startGossip(config: config, registration: registration, group: group)
            }
            var http: MetricsServer?
            if config.httpPort > 0 {
                http = try await MetricsServer.bind(
                    host: config.httpHost, port: config.httpPort, group: group, broker: broker,
                    clusterStatus: { [weak cluster] in cluster?.statusJSON() })
                logger.info("HTTP up", metadata: ["address": "\(http?.channel.localAddress.map { "\($0)" } ?? "?")"])
                if let port = http?.channel.localAddress?.port {
                    let host =
                        config.httpHost == "0.0.0.0"
                        ? (config.cluster?.rpcAdvertisedHost ?? "127.0.0.1") : config.httpHost
                    cluster?.advertiseHTTP(host: host, port: port)
                }
            }
            // Kafka checks retention every 5 minutes (log.retention.check.interval.ms).
            let retention = group.next().scheduleRepeatedTask(initialDelay: .seconds(30), delay: .minutes(5)) { _ in
                broker.applyRetention()
            }
            return Node(
                config: config, broker: broker, listeners: bound, http: http, retention: retention, group: group,
                logger: logger, cluster: cluster)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    /// Stops accepting, closes the listeners, flushes and closes the logs.
    public func stop() async {
        retention.cancel()
        // Graceful: leaderships move to caught-up replicas before this node goes.
        await cluster?.transferLeaderships(timeout: .seconds(2))
        // Then the others learn it left (not died): it drops out of Metadata at once.
        await cluster?.leaveGossip()
        for l in listeners { try? await l.close() }
        await http?.close()
        await cluster?.stop()
        broker.shutdown()
        try? await group.shutdownGracefully()
        logger.info("node stopped")
    }
}
