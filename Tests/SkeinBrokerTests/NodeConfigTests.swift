import Foundation
import SkeinNode
import Testing

@testable import SkeinBroker

@Suite struct NodeConfigTests {
    @Test func fullConfigParses() throws {
        let c = try NodeConfig(
            parsing: """
                node_id = 3
                cluster_id = "c1"
                data_dir = "/tmp/x"
                rack = "r1"
                [[listeners]]
                name = "PLAINTEXT"
                host = "0.0.0.0"
                port = 9093
                [[listeners]]
                name = "INTERNAL"
                port = 9094
                advertised_host = "node3.local"
                advertised_port = 19094
                [http]
                port = 9645
                [topics]
                auto_create = true
                default_partitions = 6
                [limits]
                message_max_bytes = 2000000
                """)
        #expect(c.nodeId == 3 && c.clusterId == "c1" && c.dataDirectory == "/tmp/x" && c.rack == "r1")
        #expect(c.listeners.count == 2)
        #expect(c.listeners[0].advertisedHost == "127.0.0.1")  // 0.0.0.0 is not an address to advertise
        #expect(c.listeners[1].advertisedHost == "node3.local" && c.listeners[1].advertisedPort == 19094)
        #expect(c.httpPort == 9645 && c.autoCreateTopics && c.defaultPartitions == 6 && c.messageMaxBytes == 2_000_000)
        #expect(c.brokerConfig.advertisedPort == 9093)
    }

    @Test func minimalConfigGetsDefaults() throws {
        let c = try NodeConfig(parsing: "node_id = 1\ndata_dir = \"d\"\n")
        #expect(c.listeners.map(\.port) == [9092])
        #expect(!c.autoCreateTopics && c.defaultPartitions == 1 && c.maxRequestBytes == 104_857_600)
    }

    @Test(arguments: [
        ("data_dir = \"d\"", "node_id"),
        ("node_id = 1", "data_dir"),
        ("node_id = \"one\"\ndata_dir = \"d\"", "node_id"),
        ("node_id = 1\ndata_dir = \"d\"\nnode_idd = 2", "node_idd"),
        ("node_id = 1\ndata_dir = \"d\"\n[[listeners]]\nport = 70000", "listeners[0].port"),
        ("node_id = 1\ndata_dir = \"d\"\n[[listeners]]\nport = 1\nhots = \"x\"", "listeners[0].hots"),
        ("node_id = 1\ndata_dir = \"d\"\n[topics]\ndefault_partitions = 0", "topics.default_partitions"),
        ("node_id = 1\ndata_dir = \"d\"\n[http]\nport = true", "http.port"),
        ("node_id = 1\ndata_dir = \"d\"\n[[listeners]]\nport = 1\n[[listeners]]\nport = 2", "listeners"),
        ("node_id = 1\ndata_dir = \"d\"\nhttp = 5", "http"),
    ])
    func everyErrorNamesItsKey(text: String, key: String) {
        #expect {
            try NodeConfig(parsing: text)
        } throws: { error in
            (error as? NodeConfigError)?.key == key
        }
    }

    @Test func invalidTomlIsReported() {
        #expect(throws: NodeConfigError.self) { try NodeConfig(parsing: "node_id = = 1") }
    }
}

@Suite struct TopicConfigTests {
    @Test func compressionTypeOtherThanProducerIsRefusedNotIgnored() {
        #expect(throws: TopicError.self) { try TopicConfigs.validate(["compression.type": "lz4"]) }
        #expect((try? TopicConfigs.validate(["compression.type": "producer"])) != nil)
    }
}

/// `[gossip]` and what it changes in `[cluster]`.
@Suite struct GossipConfigTests {
    static let key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  // base64 of 32 bytes
    static let base = """
        node_id = 2
        data_dir = "d"
        [tls]
        ca = "ca.pem"
        cert = "n.pem"
        key = "n.key"

        """

    @Test func gossipWithoutPeersNeedsTheControllerVoters() throws {
        let c = try NodeConfig(
            parsing: Self.base + """
                [cluster]
                rpc_host = "0.0.0.0"
                rpc_port = 19102
                controller_voters = [1, 2, 3]
                [gossip]
                host = "0.0.0.0"
                port = 19202
                seeds = ["10.0.0.1:19201", "[::1]:19203"]
                keys = ["\(Self.key)", "\(Self.key)"]
                probe_interval_ms = 400
                """)
        let g = try #require(c.gossip)
        #expect(g.port == 19202 && g.advertisedHost == "127.0.0.1" && g.seeds.count == 2 && g.keys.count == 2)
        #expect(g.probeIntervalMs == 400 && g.pingTimeoutMs == 200 && g.lifeguard)
        // Voters found by gossip need not be listed as peers.
        #expect(c.cluster?.controllerVoters == [1, 2, 3] && c.cluster?.peers.isEmpty == true)
        #expect(c.cluster?.rpcAdvertisedHost == "127.0.0.1")
    }

    @Test(arguments: [
        // Without peers or voters the node would be a controller of its own.
        ("[cluster]\nrpc_port = 1\n[gossip]\nport = 2\nkeys = [\"\(key)\"]", "cluster.controller_voters"),
        ("[cluster]\nrpc_port = 1\ncontroller_voters = [1]\n[gossip]\nport = 2", "gossip.keys"),
        ("[cluster]\nrpc_port = 1\ncontroller_voters = [1]\n[gossip]\nport = 2\nkeys = [\"c2hvcnQ=\"]", "gossip.keys"),
        ("[cluster]\nrpc_port = 1\ncontroller_voters = [1]\n[gossip]\nport = 2\nkeys = [\"!!\"]", "gossip.keys"),
        (
            "[cluster]\nrpc_port = 1\ncontroller_voters = [1]\n[gossip]\nport = 2\nkeys = [\"\(key)\"]\nseeds = [\"x\"]",
            "gossip.seeds[0]"
        ),
        ("[cluster]\nrpc_port = 1\ncontroller_voters = [1]\n[gossip]\nkeys = [\"\(key)\"]", "gossip.port"),
        (
            "[cluster]\nrpc_port = 1\ncontroller_voters = [1]\n[gossip]\nport = 2\nkeys = [\"\(key)\"]\nprobe_interval_ms = 100\nping_timeout_ms = 100",
            "gossip.ping_timeout_ms"
        ),
        ("[cluster]\nrpc_port = 1\ncontroller_voters = [1]\n[gossip]\nport = 2\nkeys = [\"\(key)\"]\nfoo = 1", "gossip.foo"),
        ("[gossip]\nport = 2\nkeys = [\"\(key)\"]", "gossip"),
    ])
    func everyGossipErrorNamesItsKey(text: String, key: String) {
        #expect {
            try NodeConfig(parsing: Self.base + text)
        } throws: { error in
            (error as? NodeConfigError)?.key == key
        }
    }
}

/// Every config this repository ships parses (cluster-configs/ and docker/).
@Suite struct ShippedConfigTests {
    @Test func everyShippedConfigParses() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        var checked = 0
        for folder in ["cluster-configs", "docker"] {
            let base = root.appendingPathComponent(folder)
            guard let walker = FileManager.default.enumerator(atPath: base.path) else { continue }
            for case let path as String in walker where path.hasSuffix(".toml") {
                let file = base.appendingPathComponent(path).path
                do {
                    let config = try NodeConfig.load(path: file)
                    if config.cluster != nil { #expect(config.tls != nil, "\(path)") }
                    checked += 1
                } catch {
                    Issue.record("\(folder)/\(path): \(error)")
                }
            }
        }
        #expect(checked >= 12)
    }
}
