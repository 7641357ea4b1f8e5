import Foundation
import Logging
import NIOCore
import NIOPosix
import SkeinGossip
import SkeinGossipTransport
import SkeinModel
import Testing

/// The UDP shell with real sockets on loopback: sealed datagrams, joins, crash detection, graceful leave, and a
/// node holding another key that never gets in.
@Suite(.serialized) struct GossipNodeTests {
    static let key = GossipKeyring.generateKey()

    static var fast: SWIMSettings {
        var s = SWIMSettings()
        s.probeIntervalMillis = 200
        s.pingTimeoutMillis = 100
        s.suspicionBeta = 2
        return s
    }

    /// Binds on an ephemeral port and advertises it (the advertised address must be known before the instance
    /// exists, so the port is found first by binding a probe socket).
    func launch(
        _ id: Int32, keys: [String] = [key], group: MultiThreadedEventLoopGroup, seeds: [String] = []
    ) async throws -> (GossipNode, String) {
        let port = try await freeUDPPort(group: group)
        let address = "127.0.0.1:\(port)"
        let node = GossipNode(
            id: BrokerId(id), advertisedAddress: address, incarnation: UInt64(id), metadata: ["node": "\(id)"],
            settings: Self.fast, keyring: try GossipKeyring(base64Keys: keys), loop: group.next(), seed: UInt64(id),
            logger: Logger(label: "gossip-\(id)"))
        try await node.bind(host: "127.0.0.1", port: port, tickInterval: .milliseconds(20))
        if !seeds.isEmpty { node.join(seeds: seeds) }
        return (node, address)
    }

    func freeUDPPort(group: MultiThreadedEventLoopGroup) async throws -> Int {
        let probe = try await DatagramBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
        let port = probe.localAddress!.port!
        try await probe.close()
        return port
    }

    /// Polls `condition` every 50 ms for up to `seconds`; true once it holds.
    func eventually(_ seconds: Double, _ condition: () -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        return condition()
    }

    func status(of id: Int32, at node: GossipNode) -> SWIMMemberStatus? {
        node.members.first { $0.id == BrokerId(id) }?.status
    }

    @Test func keyringSealsOpensAndRotates() throws {
        let old = GossipKeyring.generateKey()
        let new = GossipKeyring.generateKey()
        let before = try GossipKeyring(base64Keys: [old])
        let during = try GossipKeyring(base64Keys: [new, old])
        let stranger = try GossipKeyring(base64Keys: [GossipKeyring.generateKey()])
        let message: [UInt8] = Array("ping".utf8)
        // During rotation a node sealing with the new key is understood by one that knows both, and old-key
        // datagrams are still opened.
        #expect(during.open(before.seal(message)) == message)
        #expect(during.open(during.seal(message)) == message)
        #expect(before.open(during.seal(message)) == nil)
        #expect(stranger.open(before.seal(message)) == nil)
        // Two seals of one message differ (fresh nonce); a flipped bit or a truncated datagram is refused.
        let sealed = before.seal(message)
        #expect(sealed != before.seal(message))
        var flipped = sealed
        flipped[flipped.count - 3] ^= 1
        #expect(before.open(flipped) == nil)
        #expect(before.open(Array(sealed.prefix(20))) == nil)
        var otherVersion = sealed
        otherVersion[0] = 2
        #expect(before.open(otherVersion) == nil)
        #expect(throws: GossipKeyring.KeyError.self) { try GossipKeyring(base64Keys: []) }
        #expect(throws: GossipKeyring.KeyError.self) { try GossipKeyring(base64Keys: ["not base64!"]) }
        #expect(throws: GossipKeyring.KeyError.self) { try GossipKeyring(base64Keys: ["c2hvcnQ="]) }
    }

    @Test func threeNodesConvergeDetectACrashAndSeeALeave() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        var nodes: [GossipNode] = []
        do {
            let (n1, a1) = try await launch(1, group: group)
            let (n2, _) = try await launch(2, group: group, seeds: [a1])
            let (n3, _) = try await launch(3, group: group, seeds: [a1])
            nodes = [n1, n2, n3]
            let converged = try await eventually(10) {
                nodes.allSatisfy { n in [1, 2, 3].allSatisfy { status(of: $0, at: n) == .alive } }
            }
            #expect(converged, "members: \(nodes.map(\.members))")
            // Metadata travels with the alive gossip.
            #expect(n1.members.first { $0.id == BrokerId(3) }?.metadata["node"] == "3")

            // A crash: node 3 stops without a word; the others declare it dead.
            try await n3.stop()
            let started = Date()
            let detected = try await eventually(15) {
                status(of: 3, at: n1) == .dead && status(of: 3, at: n2) == .dead
            }
            #expect(detected, "node 3 as seen: \(String(describing: status(of: 3, at: n1)))")
            print("gossip over UDP: crash of node 3 declared dead by both others after \(Date().timeIntervalSince(started)) s")

            // A graceful leave is seen as left, not dead.
            try await n2.leave()
            let left = try await eventually(5) { status(of: 2, at: n1) == .left }
            #expect(left, "node 2 as seen by 1: \(String(describing: status(of: 2, at: n1)))")
            // (Unsealed drops are not checked: a datagram of an earlier test may reach a reused port.)
            #expect(nodes.allSatisfy { $0.statistics.droppedMalformed == 0 })
            #expect(n1.statistics.sent > 0 && n1.statistics.received > 0)
        } catch {
            Issue.record(error)
        }
        for n in nodes { try? await n.stop() }
        try await group.shutdownGracefully()
    }

    @Test func aJoinReplyLargerThanNIOsDefaultReadBufferArrivesWhole() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        var nodes: [GossipNode] = []
        do {
            let port = try await freeUDPPort(group: group)
            let big = String(repeating: "x", count: 5000)
            let n1 = GossipNode(
                id: BrokerId(1), advertisedAddress: "127.0.0.1:\(port)", incarnation: 1, metadata: ["pad": big],
                settings: Self.fast, keyring: try GossipKeyring(base64Keys: [Self.key]), loop: group.next(), seed: 1,
                logger: Logger(label: "gossip-1"))
            try await n1.bind(host: "127.0.0.1", port: port, tickInterval: .milliseconds(20))
            nodes.append(n1)
            let (n2, _) = try await launch(2, group: group, seeds: ["127.0.0.1:\(port)"])
            nodes.append(n2)
            let learned = try await eventually(10) { n2.members.first { $0.id == BrokerId(1) }?.metadata["pad"] == big }
            #expect(learned, "node 2 knows: \(n2.members.map(\.id)); statistics \(n2.statistics)")
        } catch {
            Issue.record(error)
        }
        for n in nodes { try? await n.stop() }
        try await group.shutdownGracefully()
    }

    @Test func aNodeWithAnotherKeyNeverJoins() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        var nodes: [GossipNode] = []
        do {
            let (n1, a1) = try await launch(1, group: group)
            let (n2, _) = try await launch(2, group: group, seeds: [a1])
            nodes = [n1, n2]
            let (intruder, _) = try await launch(9, keys: [GossipKeyring.generateKey()], group: group, seeds: [a1])
            nodes.append(intruder)
            let together = try await eventually(10) { status(of: 2, at: n1) == .alive && status(of: 1, at: n2) == .alive }
            #expect(together)
            // Give the intruder time to retry its join several times.
            let dropped = try await eventually(10) { n1.statistics.droppedUnsealed >= 3 }
            #expect(dropped, "statistics of node 1: \(n1.statistics)")
            #expect(status(of: 9, at: n1) == nil && status(of: 9, at: n2) == nil)
            #expect(intruder.members.map(\.id) == [BrokerId(9)], "the intruder learned: \(intruder.members)")
            // Node 1's answers cannot reach it either: every datagram node 1 sends it is sealed with the
            // cluster key, and node 1 never learns its address anyway.
            #expect(intruder.statistics.received == intruder.statistics.droppedUnsealed)
        } catch {
            Issue.record(error)
        }
        for n in nodes { try? await n.stop() }
        try await group.shutdownGracefully()
    }

    @Test func aRestartedNodeComesBackWithANewIncarnation() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        var nodes: [GossipNode] = []
        do {
            let (n1, a1) = try await launch(1, group: group)
            let port2 = try await freeUDPPort(group: group)
            func node2(incarnation: UInt64) async throws -> GossipNode {
                let n = GossipNode(
                    id: BrokerId(2), advertisedAddress: "127.0.0.1:\(port2)", incarnation: incarnation,
                    metadata: ["node": "2"], settings: Self.fast, keyring: try GossipKeyring(base64Keys: [Self.key]),
                    loop: group.next(), seed: incarnation, logger: Logger(label: "gossip-2"))
                try await n.bind(host: "127.0.0.1", port: port2, tickInterval: .milliseconds(20))
                n.join(seeds: [a1])
                return n
            }
            let first = try await node2(incarnation: 10)
            nodes = [n1, first]
            #expect(try await eventually(10) { status(of: 2, at: n1) == .alive })
            try await first.stop()
            #expect(try await eventually(15) { status(of: 2, at: n1) == .dead })
            let second = try await node2(incarnation: 1000)
            nodes.append(second)
            let back = try await eventually(10) {
                n1.members.first { $0.id == BrokerId(2) }.map { $0.status == .alive && $0.incarnation >= 1000 } ?? false
            }
            #expect(back, "node 2 as seen by 1: \(n1.members)")
        } catch {
            Issue.record(error)
        }
        for n in nodes { try? await n.stop() }
        try await group.shutdownGracefully()
    }
}
