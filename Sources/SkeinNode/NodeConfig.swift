import Foundation
import SkeinBroker
import SkeinGossipTransport
import SkeinGroups
import SkeinModel
import SkeinTLS
import SkeinTransactions
import TOMLKit

/// A config error that names the offending key, so that an operator can fix the file at once.
public struct NodeConfigError: Error, CustomStringConvertible, Equatable {
    public let key: String
    public let message: String
    public var description: String { key.isEmpty ? "config error: \(message)" : "config error at '\(key)': \(message)" }
}

/// A Kafka listener as configured.
public struct ListenerConfig: Sendable, Equatable {
    public var name: String
    public var host: String
    public var port: Int
    public var advertisedHost: String
    public var advertisedPort: Int
    public var securityProtocol: ListenerSecurityProtocol = .plaintext
    /// For SSL listeners: whether clients must present a certificate issued by the cluster CA.
    public var sslClientAuthentication: KafkaClientAuthentication = .none
}

/// A listener's security protocol, in Kafka's names (SASL comes later).
public enum ListenerSecurityProtocol: String, Sendable, Equatable, CaseIterable {
    case plaintext = "PLAINTEXT"
    /// TLS with the node's certificate from the `[tls]` table.
    case ssl = "SSL"
}

/// Everything `skein node --config FILE.toml` reads. Example:
///
/// ```toml
/// node_id = 1
/// cluster_id = "skein-local"
/// data_dir = "/var/lib/skein/1"
///
/// [[listeners]]
/// name = "PLAINTEXT"
/// host = "0.0.0.0"
/// port = 9092
/// advertised_host = "127.0.0.1"
///
/// [[listeners]]
/// name = "SSL"
/// port = 9093
/// security_protocol = "SSL"       # PLAINTEXT (default) or SSL
/// ssl_client_auth = "required"    # none (default) or required: a client certificate from the cluster CA
///
/// [tls]                           # paths relative to this file's directory; written by `skein certs create`
/// ca = "tls/ca.pem"
/// cert = "tls/node-1.pem"
/// key = "tls/node-1.key"
///
/// [http]
/// host = "127.0.0.1"
/// port = 9644
///
/// [topics]
/// auto_create = false
/// default_partitions = 1
/// default_replication_factor = 3    # default.replication.factor; unset: the live nodes, up to 3
///
/// [groups]                            # the group coordinator (Kafka's names and defaults)
/// initial_rebalance_delay_ms = 3000   # group.initial.rebalance.delay.ms
/// min_session_timeout_ms = 6000       # group.min.session.timeout.ms
/// max_session_timeout_ms = 1800000    # group.max.session.timeout.ms
/// offsets_topic_partitions = 16       # offsets.topic.num.partitions (fixed once __consumer_offsets exists)
/// offsets_topic_replication_factor = 3
/// offsets_retention_minutes = 10080
/// consumer_session_timeout_ms = 45000 # KIP-848 group.consumer.session.timeout.ms
/// consumer_heartbeat_interval_ms = 5000
/// ```
public struct NodeConfig: Sendable, Equatable {
    public var nodeId: Int32
    public var clusterId: String
    public var dataDirectory: String
    public var rack: String?
    public var listeners: [ListenerConfig]
    /// The node's TLS material (`[tls]`), used by SSL listeners; paths already resolved.
    public var tls: TLSMaterial?
    public var httpHost: String
    /// 0 disables the HTTP port (metrics).
    public var httpPort: Int
    public var autoCreateTopics: Bool
    public var defaultPartitions: Int32
    public var defaultReplicationFactor: Int16?
    public var messageMaxBytes: Int32
    public var maxRequestBytes: Int
    public var idleTimeoutMs: Int64
    /// `[groups]`: the group coordinator's settings.
    public var groups = GroupCoordinatorConfig()
    public var offsetsTopicPartitions: Int32 = 16
    public var offsetsTopicReplicationFactor: Int16 = 3
    /// `[transactions]`: the transaction coordinator's settings and its `__transaction_state` topic.
    public var transactions = TransactionCoordinatorConfig()
    public var transactionStateTopicPartitions: Int32 = 16
    public var transactionStateTopicReplicationFactor: Int16 = 3
    /// Cluster mode (`[cluster]`): replication with the listed peers over mutual TLS; nil for a single node.
    public var cluster: ClusterConfig?
    /// Gossip membership (`[gossip]`, cluster mode only): peers found from seeds instead of (or besides) a list.
    public var gossip: GossipConfig?

    static let topLevelKeys: Set<String> = [
        "node_id", "cluster_id", "data_dir", "rack", "listeners", "tls", "http", "topics", "limits", "cluster",
        "gossip", "groups", "transactions",
    ]

    /// `baseDirectory` (the config file's directory) anchors relative paths in `[tls]`.
    public init(parsing text: String, baseDirectory: String? = nil) throws {
        let root: TOMLTable
        do {
            root = try TOMLTable(string: text)
        } catch {
            throw NodeConfigError(key: "", message: "not valid TOML: \(error)")
        }
        try Self.checkKeys(root, allowed: Self.topLevelKeys, prefix: "")
        nodeId = Int32(try Self.int(root, "node_id", range: 0...Int(Int32.max), required: true) ?? 0)
        clusterId = try Self.string(root, "cluster_id") ?? "skein-local"
        guard let dir = try Self.string(root, "data_dir") else {
            throw NodeConfigError(key: "data_dir", message: "required: the directory holding this node's logs")
        }
        dataDirectory = dir
        rack = try Self.string(root, "rack")

        listeners = []
        if let value = root["listeners"] {
            guard let array = value.array else {
                throw NodeConfigError(key: "listeners", message: "expected an array of tables ([[listeners]])")
            }
            for (i, item) in array.enumerated() {
                let key = "listeners[\(i)]"
                guard let t = item.table else { throw NodeConfigError(key: key, message: "expected a table") }
                try Self.checkKeys(
                    t,
                    allowed: [
                        "name", "host", "port", "advertised_host", "advertised_port", "security_protocol",
                        "ssl_client_auth",
                    ], prefix: key + ".")
                let host = try Self.string(t, "host", prefix: key + ".") ?? "127.0.0.1"
                let port = try Self.int(t, "port", range: 0...65535, prefix: key + ".", required: true) ?? 9092
                let advertisedHost =
                    try Self.string(t, "advertised_host", prefix: key + ".") ?? (host == "0.0.0.0" ? "127.0.0.1" : host)
                let securityProtocol = try Self.securityProtocol(t, prefix: key + ".")
                var listener = ListenerConfig(
                    name: try Self.string(t, "name", prefix: key + ".") ?? securityProtocol.rawValue, host: host,
                    port: port, advertisedHost: advertisedHost,
                    advertisedPort: try Self.int(t, "advertised_port", range: 1...65535, prefix: key + ".") ?? port,
                    securityProtocol: securityProtocol)
                if let clientAuth = try Self.string(t, "ssl_client_auth", prefix: key + ".") {
                    guard securityProtocol == .ssl else {
                        throw NodeConfigError(
                            key: key + ".ssl_client_auth", message: "only SSL listeners authenticate clients")
                    }
                    guard let value = KafkaClientAuthentication(rawValue: clientAuth.lowercased()) else {
                        throw NodeConfigError(
                            key: key + ".ssl_client_auth",
                            message: "expected \"none\" or \"required\", got '\(clientAuth)'")
                    }
                    listener.sslClientAuthentication = value
                }
                listeners.append(listener)
            }
        }
        if listeners.isEmpty {
            listeners = [
                ListenerConfig(
                    name: "PLAINTEXT", host: "127.0.0.1", port: 9092, advertisedHost: "127.0.0.1", advertisedPort: 9092)
            ]
        }
        let names = listeners.map(\.name)
        if Set(names).count != names.count {
            throw NodeConfigError(key: "listeners", message: "listener names must be unique, got \(names)")
        }
        tls = try Self.tlsMaterial(root, baseDirectory: baseDirectory)
        if tls == nil, let i = listeners.firstIndex(where: { $0.securityProtocol == .ssl }) {
            throw NodeConfigError(
                key: "listeners[\(i)].security_protocol", message: "SSL needs the [tls] table (ca, cert, key)")
        }

        gossip = try Self.gossipConfig(root)
        cluster = try Self.clusterConfig(root, nodeId: nodeId, gossip: gossip != nil)
        if cluster != nil && tls == nil {
            throw NodeConfigError(
                key: "cluster", message: "nodes talk over mutual TLS: [cluster] needs the [tls] table")
        }
        if gossip != nil && cluster == nil {
            throw NodeConfigError(key: "gossip", message: "gossip is for clusters: it needs the [cluster] table")
        }

        let http = try Self.table(root, "http")
        if let http { try Self.checkKeys(http, allowed: ["host", "port"], prefix: "http.") }
        httpHost = try http.flatMap { try Self.string($0, "host", prefix: "http.") } ?? "127.0.0.1"
        httpPort = try http.flatMap { try Self.int($0, "port", range: 0...65535, prefix: "http.") } ?? 9644

        let topics = try Self.table(root, "topics")
        if let topics {
            try Self.checkKeys(
                topics, allowed: ["auto_create", "default_partitions", "default_replication_factor"], prefix: "topics.")
        }
        autoCreateTopics = try topics.flatMap { try Self.bool($0, "auto_create", prefix: "topics.") } ?? false
        defaultPartitions = Int32(
            try topics.flatMap { try Self.int($0, "default_partitions", range: 1...100_000, prefix: "topics.") } ?? 1)
        defaultReplicationFactor = try topics.flatMap {
            try Self.int($0, "default_replication_factor", range: 1...16, prefix: "topics.")
        }.map { Int16($0) }

        let limits = try Self.table(root, "limits")
        if let limits {
            try Self.checkKeys(
                limits, allowed: ["message_max_bytes", "max_request_bytes", "idle_timeout_ms"], prefix: "limits.")
        }
        messageMaxBytes = Int32(
            try limits.flatMap { try Self.int($0, "message_max_bytes", range: 0...Int(Int32.max), prefix: "limits.") }
                ?? 1_048_588)
        maxRequestBytes =
            try limits.flatMap {
                try Self.int($0, "max_request_bytes", range: 1024...Int(Int32.max), prefix: "limits.")
            } ?? 104_857_600
        idleTimeoutMs = Int64(
            try limits.flatMap { try Self.int($0, "idle_timeout_ms", range: 1000...Int(Int32.max), prefix: "limits.") }
                ?? 600_000)

        if let g = try Self.table(root, "groups") {
            try Self.checkKeys(
                g,
                allowed: [
                    "initial_rebalance_delay_ms", "min_session_timeout_ms", "max_session_timeout_ms",
                    "offsets_topic_partitions", "offsets_topic_replication_factor", "offsets_retention_minutes",
                    "consumer_session_timeout_ms", "consumer_heartbeat_interval_ms",
                ], prefix: "groups.")
            func int(_ key: String, _ range: ClosedRange<Int>) throws -> Int? {
                try Self.int(g, key, range: range, prefix: "groups.")
            }
            if let v = try int("initial_rebalance_delay_ms", 0...300_000) { groups.groupInitialRebalanceDelayMs = Int32(v) }
            if let v = try int("min_session_timeout_ms", 1...Int(Int32.max)) { groups.groupMinSessionTimeoutMs = Int32(v) }
            if let v = try int("max_session_timeout_ms", 1...Int(Int32.max)) { groups.groupMaxSessionTimeoutMs = Int32(v) }
            if groups.groupMinSessionTimeoutMs > groups.groupMaxSessionTimeoutMs {
                throw NodeConfigError(
                    key: "groups.min_session_timeout_ms", message: "must not exceed groups.max_session_timeout_ms")
            }
            if let v = try int("offsets_topic_partitions", 1...1000) { offsetsTopicPartitions = Int32(v) }
            if let v = try int("offsets_topic_replication_factor", 1...7) { offsetsTopicReplicationFactor = Int16(v) }
            if let v = try int("offsets_retention_minutes", 1...52_560_000) {
                groups.offsetsRetentionMs = Int64(v) * 60_000
            }
            if let v = try int("consumer_session_timeout_ms", 1000...Int(Int32.max)) {
                groups.consumerGroupSessionTimeoutMs = Int32(v)
            }
            if let v = try int("consumer_heartbeat_interval_ms", 100...Int(Int32.max)) {
                groups.consumerGroupHeartbeatIntervalMs = Int32(v)
            }
        }
        // Transaction version 1 (KIP-890 part 1): EndTxn v5 and its per-transaction epoch bump are not advertised.
        transactions.transactionVersionLevel = 1
        if let t = try Self.table(root, "transactions") {
            try Self.checkKeys(
                t,
                allowed: [
                    "state_topic_partitions", "state_topic_replication_factor", "max_timeout_ms",
                    "abort_check_interval_ms", "id_expiration_ms",
                ], prefix: "transactions.")
            func int(_ key: String, _ range: ClosedRange<Int>) throws -> Int? {
                try Self.int(t, key, range: range, prefix: "transactions.")
            }
            if let v = try int("state_topic_partitions", 1...1000) { transactionStateTopicPartitions = Int32(v) }
            if let v = try int("state_topic_replication_factor", 1...7) {
                transactionStateTopicReplicationFactor = Int16(v)
            }
            if let v = try int("max_timeout_ms", 1...Int(Int32.max)) { transactions.transactionMaxTimeoutMs = Int32(v) }
            if let v = try int("abort_check_interval_ms", 10...3_600_000) {
                transactions.abortTimedOutTransactionCleanupIntervalMs = Int64(v)
            }
            if let v = try int("id_expiration_ms", 1000...Int(Int32.max)) {
                transactions.transactionalIdExpirationMs = Int64(v)
            }
        }
        transactions.offsetsTopicPartitionCount = offsetsTopicPartitions
    }

    public static func load(path: String) throws -> NodeConfig {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
        else {
            throw NodeConfigError(key: "", message: "cannot read \(path)")
        }
        let directory = (path as NSString).deletingLastPathComponent
        return try NodeConfig(parsing: text, baseDirectory: directory.isEmpty ? nil : directory)
    }

    /// The broker's view of this config.
    public var brokerConfig: BrokerConfig {
        let first = listeners[0]
        var config = BrokerConfig(
            nodeId: BrokerId(nodeId), clusterId: clusterId, dataDirectory: dataDirectory,
            advertisedHost: first.advertisedHost,
            advertisedPort: Int32(first.advertisedPort), rack: rack, autoCreateTopics: autoCreateTopics,
            defaultPartitions: defaultPartitions, messageMaxBytes: messageMaxBytes,
            advertisedListeners: Dictionary(
                listeners.map { ($0.name, AdvertisedAddress(host: $0.advertisedHost, port: Int32($0.advertisedPort))) },
                uniquingKeysWith: { first, _ in first }))
        config.groupCoordinator = groups
        config.defaultReplicationFactor = defaultReplicationFactor
        config.offsetsTopicPartitions = offsetsTopicPartitions
        config.offsetsTopicReplicationFactor = offsetsTopicReplicationFactor
        config.transactionCoordinator = transactions
        config.transactionStateTopicPartitions = transactionStateTopicPartitions
        config.transactionStateTopicReplicationFactor = transactionStateTopicReplicationFactor
        return config
    }

    // MARK: listeners' security and [tls]

    private static func securityProtocol(_ t: TOMLTable, prefix: String) throws -> ListenerSecurityProtocol {
        guard let name = try string(t, "security_protocol", prefix: prefix) else { return .plaintext }
        guard let value = ListenerSecurityProtocol(rawValue: name.uppercased()) else {
            let known = ListenerSecurityProtocol.allCases.map(\.rawValue).joined(separator: ", ")
            throw NodeConfigError(
                key: prefix + "security_protocol", message: "unsupported '\(name)' (known: \(known))")
        }
        return value
    }

    /// `[tls]`: ca, cert and key, each a path; relative paths resolve against `baseDirectory`.
    private static func tlsMaterial(_ root: TOMLTable, baseDirectory: String?) throws -> TLSMaterial? {
        guard let t = try table(root, "tls") else { return nil }
        try checkKeys(t, allowed: ["ca", "cert", "key"], prefix: "tls.")
        func path(_ key: String, _ what: String) throws -> String {
            guard let path = try string(t, key, prefix: "tls.") else {
                throw NodeConfigError(key: "tls." + key, message: "required: the path of \(what) (PEM)")
            }
            guard !path.hasPrefix("/"), let baseDirectory else { return path }
            return (baseDirectory as NSString).appendingPathComponent(path)
        }
        return TLSMaterial(
            caPath: try path("ca", "the cluster CA certificate"),
            certificatePath: try path("cert", "this node's certificate"),
            keyPath: try path("key", "this node's private key"))
    }

    // MARK: [cluster]

    private static func clusterConfig(_ root: TOMLTable, nodeId: Int32, gossip: Bool) throws -> ClusterConfig? {
        guard let t = try table(root, "cluster") else { return nil }
        try checkKeys(
            t,
            allowed: ["rpc_host", "rpc_port", "rpc_advertised_host", "peers", "controller_voters", "dead_node_grace_ms"],
            prefix: "cluster.")
        var peers: [ClusterConfig.Peer] = []
        if let value = t["peers"] {
            guard let array = value.array else {
                throw NodeConfigError(key: "cluster.peers", message: "expected an array of tables ({ id, host, port })")
            }
            for (i, item) in array.enumerated() {
                let key = "cluster.peers[\(i)]."
                guard let p = item.table else { throw NodeConfigError(key: key, message: "expected a table") }
                try checkKeys(p, allowed: ["id", "host", "port"], prefix: key)
                let id = Int32(try int(p, "id", range: 0...Int(Int32.max), prefix: key, required: true) ?? 0)
                guard id != nodeId else {
                    throw NodeConfigError(key: key + "id", message: "a node is not its own peer")
                }
                peers.append(
                    ClusterConfig.Peer(
                        id: id, host: try string(p, "host", prefix: key) ?? "127.0.0.1",
                        port: try int(p, "port", range: 1...65535, prefix: key, required: true) ?? 0))
            }
        }
        guard Set(peers.map(\.id)).count == peers.count else {
            throw NodeConfigError(key: "cluster.peers", message: "peer ids must be unique")
        }
        let all = ([nodeId] + peers.map(\.id)).sorted()
        var voters = Array(all.prefix(3))
        if let value = t["controller_voters"] {
            guard let array = value.array, let ids = Optional(array.compactMap { $0.int }), ids.count == array.count,
                !ids.isEmpty, ids.allSatisfy({ $0 >= 0 && $0 <= Int(Int32.max) })
            else { throw NodeConfigError(key: "cluster.controller_voters", message: "expected a list of node ids") }
            voters = ids.map { Int32($0) }.sorted()
            // With gossip, the other voters may be found rather than listed.
            if !gossip, let unknown = voters.first(where: { !all.contains($0) }) {
                throw NodeConfigError(
                    key: "cluster.controller_voters", message: "node \(unknown) is neither this node nor a peer")
            }
        } else if gossip && peers.count < 2 {
            // Without the list, the voters would be whoever is listed: with peers found by gossip, that could be
            // this node alone, a controller of its own.
            throw NodeConfigError(
                key: "cluster.controller_voters",
                message: "required with [gossip] unless [cluster] lists at least two peers: the ids of the controller voters")
        }
        let rpcHost = try string(t, "rpc_host", prefix: "cluster.") ?? "127.0.0.1"
        return ClusterConfig(
            rpcHost: rpcHost,
            rpcPort: try int(t, "rpc_port", range: 0...65535, prefix: "cluster.", required: true) ?? 0,
            rpcAdvertisedHost: try string(t, "rpc_advertised_host", prefix: "cluster.")
                ?? (rpcHost == "0.0.0.0" ? "127.0.0.1" : rpcHost),
            peers: peers, controllerVoters: voters,
            deadNodeGraceMs: Int64(
                try int(t, "dead_node_grace_ms", range: 0...Int(Int32.max), prefix: "cluster.") ?? 120_000))
    }

    // MARK: [gossip]

    private static func gossipConfig(_ root: TOMLTable) throws -> GossipConfig? {
        guard let t = try table(root, "gossip") else { return nil }
        try checkKeys(
            t,
            allowed: [
                "host", "port", "advertised_host", "seeds", "keys", "probe_interval_ms", "ping_timeout_ms",
                "lifeguard",
            ], prefix: "gossip.")
        func strings(_ key: String) throws -> [String] {
            guard let v = t[key] else { return [] }
            guard let array = v.array, let values = Optional(array.compactMap { $0.string }),
                values.count == array.count
            else { throw NodeConfigError(key: "gossip." + key, message: "expected a list of strings") }
            return values
        }
        let host = try string(t, "host", prefix: "gossip.") ?? "127.0.0.1"
        let seeds = try strings("seeds")
        for (i, seed) in seeds.enumerated() {
            guard let colon = seed.lastIndex(of: ":"), let port = Int(seed[seed.index(after: colon)...]),
                (1...65535).contains(port), colon != seed.startIndex
            else {
                throw NodeConfigError(key: "gossip.seeds[\(i)]", message: "expected host:port, got '\(seed)'")
            }
        }
        let keys = try strings("keys")
        guard !keys.isEmpty else {
            throw NodeConfigError(
                key: "gossip.keys",
                message: "required: the cluster's gossip keys, base64 of 32 bytes each (openssl rand -base64 32)")
        }
        do {
            _ = try GossipKeyring(base64Keys: keys)
        } catch {
            throw NodeConfigError(key: "gossip.keys", message: error.description)
        }
        let probe = try int(t, "probe_interval_ms", range: 50...60_000, prefix: "gossip.") ?? 1000
        let ping = try int(t, "ping_timeout_ms", range: 10...60_000, prefix: "gossip.") ?? min(500, probe / 2)
        guard ping < probe else {
            throw NodeConfigError(
                key: "gossip.ping_timeout_ms", message: "must be shorter than probe_interval_ms (\(probe))")
        }
        return GossipConfig(
            host: host, port: try int(t, "port", range: 0...65535, prefix: "gossip.", required: true) ?? 0,
            advertisedHost: try string(t, "advertised_host", prefix: "gossip.")
                ?? (host == "0.0.0.0" ? "127.0.0.1" : host),
            seeds: seeds, keys: keys, probeIntervalMs: Int64(probe), pingTimeoutMs: Int64(ping),
            lifeguard: try bool(t, "lifeguard", prefix: "gossip.") ?? true)
    }

    // MARK: typed lookups with the key in every error

    private static func checkKeys(_ t: TOMLTable, allowed: Set<String>, prefix: String) throws {
        for key in t.keys where !allowed.contains(key) {
            throw NodeConfigError(
                key: prefix + key, message: "unknown key (known: \(allowed.sorted().joined(separator: ", ")))")
        }
    }

    private static func table(_ t: TOMLTable, _ key: String) throws -> TOMLTable? {
        guard let v = t[key] else { return nil }
        guard let table = v.table else { throw NodeConfigError(key: key, message: "expected a table ([\(key)])") }
        return table
    }

    private static func string(_ t: TOMLTable, _ key: String, prefix: String = "") throws -> String? {
        guard let v = t[key] else { return nil }
        guard let s = v.string else {
            throw NodeConfigError(key: prefix + key, message: "expected a string, got \(v.type)")
        }
        guard !s.isEmpty else { throw NodeConfigError(key: prefix + key, message: "must not be empty") }
        return s
    }

    private static func bool(_ t: TOMLTable, _ key: String, prefix: String = "") throws -> Bool? {
        guard let v = t[key] else { return nil }
        guard let b = v.bool else {
            throw NodeConfigError(key: prefix + key, message: "expected true or false, got \(v.type)")
        }
        return b
    }

    private static func int(
        _ t: TOMLTable, _ key: String, range: ClosedRange<Int>, prefix: String = "", required: Bool = false
    ) throws -> Int? {
        guard let v = t[key] else {
            if required { throw NodeConfigError(key: prefix + key, message: "required") }
            return nil
        }
        guard let n = v.int else {
            throw NodeConfigError(key: prefix + key, message: "expected an integer, got \(v.type)")
        }
        guard range.contains(n) else {
            throw NodeConfigError(
                key: prefix + key, message: "\(n) is out of range \(range.lowerBound)...\(range.upperBound)")
        }
        return n
    }
}

/// `[cluster]`: where this node takes replication traffic, its peers (a static list until gossip), and which nodes
/// vote in the controller group.
public struct ClusterConfig: Sendable, Equatable {
    public struct Peer: Sendable, Equatable {
        public var id: Int32
        public var host: String
        public var port: Int
    }
    public var rpcHost: String
    public var rpcPort: Int
    /// The RPC address other nodes use (gossiped and registered); `rpc_host` unless that is 0.0.0.0.
    public var rpcAdvertisedHost: String
    public var peers: [Peer]
    public var controllerVoters: [Int32]
    /// How long a node stays dead (as gossip reports it) before the controller moves its replicas to live nodes;
    /// 0 never moves them.
    public var deadNodeGraceMs: Int64 = 120_000
}

/// `[gossip]`: SWIM membership over UDP, every datagram sealed with the cluster key.
///
/// ```toml
/// [gossip]
/// host = "0.0.0.0"
/// port = 19201
/// advertised_host = "10.0.0.1"     # default: host, or 127.0.0.1 when host is 0.0.0.0
/// seeds = ["10.0.0.2:19201", "10.0.0.3:19201"]
/// keys = ["<base64 of 32 bytes>"]  # the first seals; any opens (rotation)
/// probe_interval_ms = 1000
/// ping_timeout_ms = 500
/// ```
public struct GossipConfig: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var advertisedHost: String
    public var seeds: [String]
    public var keys: [String]
    public var probeIntervalMs: Int64
    public var pingTimeoutMs: Int64
    public var lifeguard: Bool
}
