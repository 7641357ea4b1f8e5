import ArgumentParser
import Foundation
import SkeinClient
import SkeinGossipTransport
import SkeinModel
import SkeinTLS

#if canImport(Glibc)
    import Glibc
#endif

/// `skein cluster up|status|kill|stop|start|restart|down`: a local multi-node cluster on this machine, one process
/// per node, to run, break and watch.
struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Run a local multi-node cluster: start it, kill and restart nodes, watch failover.",
        discussion: """
            Every node is a separate `skein node` process with its own config, certificate and data directory under \
            --dir (default .skein/cluster). Nodes find each other by gossip and talk over mutual TLS. Ports: Kafka \
            BASE+N, replication BASE+100+N, gossip BASE+200+N, HTTP BASE+300+N (and SSL Kafka BASE+400+N with \
            --tls), BASE being --base-port (default 19090).
            """,
        subcommands: [Up.self, Status.self, Kill.self, Stop.self, Start.self, Restart.self, Down.self]
    )

    struct Location: ParsableArguments {
        @Option(help: "The cluster's directory: configs, certificates, data, logs.")
        var dir: String = ".skein/cluster"

        func load() throws -> LocalCluster {
            do {
                return try LocalCluster.load(directory: dir)
            } catch {
                throw ValidationError("no local cluster in \(dir) (start one with `skein cluster up`): \(error)")
            }
        }
    }

    struct Up: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create (on first use) and start a local cluster; waits until it serves.")
        @OptionGroup var location: Location
        @Option(help: "Number of nodes (first use; later runs reuse the directory's cluster).") var nodes: Int?
        @Option(help: "Ports are counted from here (first use).") var basePort: Int = 19090
        @Flag(help: "Also give every node an SSL Kafka listener (first use).") var tls = false
        @Flag(help: "Create unknown topics on first use, as Kafka's auto.create.topics.enable (first use).")
        var autoCreateTopics = false
        @Option(help: "Seconds to wait for the cluster to serve.") var timeout: Double = 90

        func run() async throws {
            var cluster: LocalCluster
            if let existing = try? LocalCluster.load(directory: location.dir) {
                if let nodes, nodes != existing.nodes {
                    throw ValidationError(
                        "\(location.dir) holds a \(existing.nodes)-node cluster; run `skein cluster down --purge` "
                            + "first, or use another --dir")
                }
                cluster = existing
            } else {
                let count = nodes ?? 3
                guard (1...9).contains(count) else { throw ValidationError("--nodes must be 1 to 9") }
                guard (1024...65000 - 500).contains(basePort) else {
                    throw ValidationError("--base-port must leave room for 500 ports above it")
                }
                cluster = LocalCluster(
                    directory: location.dir, nodes: count, basePort: basePort, tls: tls,
                    gossipKey: GossipKeyring.generateKey(), autoCreateTopics: autoCreateTopics)
                try cluster.create()
                print("created a \(count)-node cluster in \(location.dir)")
            }
            for id in cluster.ids where cluster.pid(of: id) == nil {
                try cluster.start(id)
            }
            try await cluster.waitUntilServing(timeout: timeout)
            print("bootstrap: \(cluster.bootstrap)")
            if cluster.tls { print("bootstrap (SSL): \(cluster.sslBootstrap), CA: \(cluster.directory)/tls/ca.pem") }
            print("status: skein cluster status   kill a node: skein cluster kill 2   stop all: skein cluster down")
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Members with their process and gossip state, the controller, partition leaders and "
                + "under-replicated partitions.")
        @OptionGroup var location: Location
        @Flag(help: "List every partition, not only the under-replicated ones.") var partitions = false

        func run() async throws {
            let cluster = try location.load()
            try await cluster.printStatus(allPartitions: partitions)
        }
    }

    struct NodeId: ParsableArguments {
        @OptionGroup var location: Location
        @Argument(help: "The node id.") var id: Int32
        func load() throws -> LocalCluster {
            let cluster = try location.load()
            guard cluster.ids.contains(id) else {
                throw ValidationError("the cluster in \(location.dir) has nodes \(cluster.ids.map(String.init))")
            }
            return cluster
        }
    }

    struct Kill: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "SIGKILL a node: a crash, nothing said.")
        @OptionGroup var node: NodeId
        func run() async throws {
            let cluster = try node.load()
            guard let pid = cluster.pid(of: node.id) else { return print("node \(node.id) is not running") }
            kill(pid, SIGKILL)
            cluster.waitForExit(node.id, pid: pid, timeout: 5)
            print("node \(node.id) killed (pid \(pid))")
        }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "SIGTERM a node: it hands its leaderships over, leaves gossip, and exits.")
        @OptionGroup var node: NodeId
        func run() async throws {
            let cluster = try node.load()
            guard cluster.stop(node.id) else { return print("node \(node.id) is not running") }
            print("node \(node.id) stopped")
        }
    }

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start a stopped or killed node again.")
        @OptionGroup var node: NodeId
        func run() async throws {
            let cluster = try node.load()
            if cluster.pid(of: node.id) != nil { return print("node \(node.id) is running") }
            try cluster.start(node.id)
            try await cluster.waitUntilServing(timeout: 60, only: node.id)
        }
    }

    struct Restart: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop (gracefully) and start a node.")
        @OptionGroup var node: NodeId
        func run() async throws {
            let cluster = try node.load()
            _ = cluster.stop(node.id)
            try cluster.start(node.id)
            try await cluster.waitUntilServing(timeout: 60, only: node.id)
        }
    }

    struct Down: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop every node (gracefully).")
        @OptionGroup var location: Location
        @Flag(help: "Then delete the directory: configs, certificates and data.") var purge = false
        func run() async throws {
            let cluster = try location.load()
            for id in cluster.ids where cluster.pid(of: id) != nil {
                if let pid = cluster.pid(of: id) { kill(pid, SIGTERM) }
            }
            for id in cluster.ids {
                if let pid = cluster.pid(of: id) { cluster.waitForExit(id, pid: pid, timeout: 20) }
            }
            print("cluster in \(location.dir) is down")
            if purge {
                try FileManager.default.removeItem(atPath: location.dir)
                print("removed \(location.dir)")
            }
        }
    }
}

/// A local cluster as `cluster.json` in its directory describes it, and the processes of its nodes.
struct LocalCluster: Codable {
    var directory: String
    var nodes: Int
    var basePort: Int
    var tls: Bool
    var gossipKey: String
    /// `[topics] auto_create = true` in every node's config (absent in older cluster.json files: false).
    var autoCreateTopics: Bool? = nil

    var ids: [Int32] { (1...Int32(nodes)).map { $0 } }
    func kafkaPort(_ id: Int32) -> Int { basePort + Int(id) }
    func rpcPort(_ id: Int32) -> Int { basePort + 100 + Int(id) }
    func gossipPort(_ id: Int32) -> Int { basePort + 200 + Int(id) }
    func httpPort(_ id: Int32) -> Int { basePort + 300 + Int(id) }
    func sslPort(_ id: Int32) -> Int { basePort + 400 + Int(id) }
    var bootstrap: String { ids.map { "127.0.0.1:\(kafkaPort($0))" }.joined(separator: ",") }
    var sslBootstrap: String { ids.map { "127.0.0.1:\(sslPort($0))" }.joined(separator: ",") }
    var controllerVoters: [Int32] { Array(ids.prefix(3)) }

    func path(_ name: String) -> String { "\(directory)/\(name)" }
    func configPath(_ id: Int32) -> String { path("node-\(id).toml") }
    func logPath(_ id: Int32) -> String { path("node-\(id).log") }
    func pidPath(_ id: Int32) -> String { path("node-\(id).pid") }

    static func load(directory: String) throws -> LocalCluster {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/cluster.json"))
        var cluster = try JSONDecoder().decode(LocalCluster.self, from: data)
        cluster.directory = directory
        return cluster
    }

    /// Writes certificates, the gossip key and every node's config.
    func create() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        _ = try ClusterCertificates.create(
            directory: path("tls"), nodeIds: ids.map { BrokerId($0) }, hosts: [], clientNames: [], force: false,
            nodeValidityDays: ClusterCertificates.defaultNodeValidityDays)
        let absolute = URL(fileURLWithPath: directory).standardizedFileURL.path
        let seeds = ids.map { "\"127.0.0.1:\(gossipPort($0))\"" }.joined(separator: ", ")
        for id in ids {
            var toml = """
                # Node \(id) of the local cluster made by `skein cluster up` (see cluster.json beside it).
                node_id = \(id)
                cluster_id = "skein-local"
                data_dir = "\(absolute)/node-\(id)"

                [[listeners]]
                name = "PLAINTEXT"
                host = "127.0.0.1"
                port = \(kafkaPort(id))

                """
            if tls {
                toml += """

                    [[listeners]]
                    name = "SSL"
                    host = "127.0.0.1"
                    port = \(sslPort(id))
                    security_protocol = "SSL"

                    """
            }
            toml += """

                [tls]
                ca = "tls/ca.pem"
                cert = "tls/node-\(id).pem"
                key = "tls/node-\(id).key"

                [http]
                host = "127.0.0.1"
                port = \(httpPort(id))

                [topics]
                auto_create = \(autoCreateTopics == true)

                [cluster]
                rpc_host = "127.0.0.1"
                rpc_port = \(rpcPort(id))
                controller_voters = [\(controllerVoters.map(String.init).joined(separator: ", "))]
                dead_node_grace_ms = 30000

                [gossip]
                host = "127.0.0.1"
                port = \(gossipPort(id))
                seeds = [\(seeds)]
                keys = ["\(gossipKey)"]
                probe_interval_ms = 500
                ping_timeout_ms = 200

                """
            try toml.write(toFile: configPath(id), atomically: true, encoding: .utf8)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: path("cluster.json")))
        // The gossip key is in there.
        chmod(path("cluster.json"), 0o600)
        for id in ids { chmod(configPath(id), 0o600) }
    }

    /// The node's process id when it runs.
    func pid(of id: Int32) -> pid_t? {
        guard let text = try? String(contentsOfFile: pidPath(id), encoding: .utf8),
            let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0
        else { return nil }
        // Alive and still a skein node (a pid can be reused after a reboot).
        guard kill(pid, 0) == 0,
            let cmdline = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8),
            cmdline.contains(configPath(id).split(separator: "/").last.map(String.init) ?? "")
        else { return nil }
        // A zombie (exited, not yet reaped by a parent that is this very process) does not run.
        if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")"), stat[stat.index(close, offsetBy: 2)] == "Z"
        {
            return nil
        }
        return pid
    }

    /// Starts the node's process in its own session (it outlives this command), logging to node-N.log.
    func start(_ id: Int32) throws {
        var executable = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &executable, executable.count - 1)
        guard n > 0 else { throw ValidationError("cannot find the skein executable") }
        let exe = String(decoding: executable.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let args = [exe, "node", "--config", configPath(id)]
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath(id), O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // POSIX_SPAWN_SETSID (glibc 2.26+): a session of its own, so no terminal signal reaches the node.
        posix_spawnattr_setflags(&attributes, Int16(0x80))
        var pid: pid_t = 0
        let argv = args.map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        let rc = posix_spawn(&pid, exe, &actions, &attributes, argv, environ)
        guard rc == 0 else { throw ValidationError("cannot start node \(id): \(String(cString: strerror(rc)))") }
        try "\(pid)\n".write(toFile: pidPath(id), atomically: true, encoding: .utf8)
        print("node \(id) started (pid \(pid), log \(logPath(id)))")
    }

    /// SIGTERM, then waits for the exit; false when it was not running.
    func stop(_ id: Int32) -> Bool {
        guard let pid = pid(of: id) else { return false }
        kill(pid, SIGTERM)
        waitForExit(id, pid: pid, timeout: 20)
        return true
    }

    func waitForExit(_ id: Int32, pid: pid_t, timeout: Double) {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            var status: Int32 = 0
            _ = waitpid(pid, &status, WNOHANG)  // reaps it when this command started it
            if self.pid(of: id) == nil { return }
            usleep(50_000)
        }
        kill(pid, SIGKILL)
    }

    /// Polls every running node's Metadata until each lists every running node as a broker and names a
    /// controller, showing progress on one line.
    func waitUntilServing(timeout: Double, only: Int32? = nil) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        let interactive = isatty(1) != 0
        var last = ""
        while true {
            let running = ids.filter { pid(of: $0) != nil }
            var serving: Set<Int32> = []
            for id in only.map({ [$0] }) ?? running {
                if let m = try? await metadata(from: id),
                    m.controllerId.rawValue >= 0,
                    Set(m.brokers.map(\.id.rawValue)).isSuperset(of: running)
                {
                    serving.insert(id)
                }
            }
            let line =
                "waiting for the cluster: "
                + (only.map { [$0] } ?? ids).map { id in
                    "node \(id) " + (serving.contains(id) ? "serving" : running.contains(id) ? "starting" : "down")
                }.joined(separator: ", ")
            if line != last {
                if interactive { print("\r\u{1B}[2K" + line, terminator: "") } else { print(line) }
                fflush(nil)
                last = line
            }
            let wanted = only.map { [$0] } ?? ids
            if wanted.allSatisfy(serving.contains) {
                if interactive { print("") }
                return
            }
            for id in wanted where !running.contains(id) {
                if interactive { print("") }
                throw ValidationError("node \(id) exited; the end of \(logPath(id)):\n\(tail(logPath(id)))")
            }
            if Date() > deadline {
                if interactive { print("") }
                throw ValidationError("the cluster did not serve within \(Int(timeout)) s; see \(directory)/node-*.log")
            }
            try await Task.sleep(nanoseconds: 250_000_000)
        }
    }

    func metadata(from id: Int32) async throws -> SkeinClient.ClusterMetadata {
        let client = try KafkaClient(
            bootstrap: "127.0.0.1:\(kafkaPort(id))", clientId: "skein-cluster", requestTimeout: .seconds(2))
        defer { Task { await client.close() } }
        return try await client.metadata()
    }

    func tail(_ path: String, lines: Int = 15) -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return "(no log)" }
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    // MARK: - Status

    struct GossipView: Decodable {
        struct Member: Decodable {
            var id: Int32
            var gossip: String
            var status: String
            var incarnation: UInt64
            var metadata: [String: String]
        }
        var node: Int32
        var controller: Int32?
        var deadNodes: [Int32]
        var members: [Member]
    }

    func printStatus(allPartitions: Bool) async throws {
        let running = ids.filter { pid(of: $0) != nil }
        var view: GossipView?
        for id in running {
            if let body = httpGet(port: httpPort(id), path: "/v1/cluster"),
                let v = try? JSONDecoder().decode(GossipView.self, from: Data(body.utf8))
            {
                view = v
                break
            }
        }
        var found: SkeinClient.ClusterMetadata?
        for id in running {
            if let m = try? await metadata(from: id) {
                found = m
                break
            }
        }
        let metadata = found
        print("cluster in \(directory): \(nodes) nodes, \(running.count) running")
        if let view { print("gossip as node \(view.node) sees it; controller leader: \(view.controller.map { "node \($0)" } ?? "none")") }
        let leaders = Dictionary(
            grouping: (metadata?.topics ?? []).flatMap(\.partitions).filter { $0.leader.rawValue >= 0 },
            by: { $0.leader.rawValue })
        let brokers = Set(metadata?.brokers.map(\.id.rawValue) ?? [])
        let header = ["node", "process", "gossip", "in metadata", "leaders", "kafka", "log"]
        var rows: [[String]] = []
        for id in ids {
            let member = view?.members.first { $0.id == id }
            rows.append([
                "\(id)", pid(of: id).map { "running (pid \($0))" } ?? "down",
                member.map { $0.status + ($0.id == view?.controller ? ", controller" : "") } ?? "-",
                metadata == nil ? "?" : (brokers.contains(id) ? "broker" : "absent"),
                "\(leaders[id]?.count ?? 0)", "127.0.0.1:\(kafkaPort(id))", logPath(id),
            ])
        }
        printTable(header: header, rows: rows)
        guard let metadata else {
            print("no node answered Metadata")
            return
        }
        let all = metadata.topics.flatMap { t in t.partitions.map { (t.name, $0) } }
        let under = all.filter { $0.1.isr.count < $0.1.replicas.count || $0.1.leader.rawValue < 0 }
        print("topics: \(metadata.topics.count), partitions: \(all.count), under-replicated or leaderless: \(under.count)")
        let shown = allPartitions ? all : under
        if !shown.isEmpty {
            printTable(
                header: ["partition", "leader", "epoch", "replicas", "isr", "offline"],
                rows: shown.map { name, p in
                    [
                        "\(name)-\(p.partition)", p.leader.rawValue < 0 ? "none" : "\(p.leader.rawValue)",
                        "\(p.leaderEpoch)", p.replicas.map { "\($0.rawValue)" }.joined(separator: ","),
                        p.isr.map { "\($0.rawValue)" }.joined(separator: ","),
                        p.offlineReplicas.map { "\($0.rawValue)" }.joined(separator: ","),
                    ]
                })
        }
    }

    func printTable(header: [String], rows: [[String]]) {
        var widths = header.map(\.count)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }
        print(line(header))
        for r in rows { print(line(r)) }
    }

    /// A plain HTTP/1.0 GET on loopback; nil on any failure.
    func httpGet(port: Int, path: String) -> String? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { return nil }
        let request = Array("GET \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        guard write(fd, request, request.count) == request.count else { return nil }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { break }
            response += chunk[0..<n]
        }
        guard let text = String(bytes: response, encoding: .utf8), let split = text.range(of: "\r\n\r\n"),
            text.hasPrefix("HTTP/1.1 200") || text.hasPrefix("HTTP/1.0 200")
        else { return nil }
        return String(text[split.upperBound...])
    }
}
