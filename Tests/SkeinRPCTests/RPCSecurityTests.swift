import NIOCore
import NIOPosix
import NIOSSL
import SkeinModel
import SkeinRPC
import SkeinTLS
import Testing

/// Only nodes holding a certificate from the cluster CA take part, and each is who its certificate says.
@Suite struct RPCSecurityTests {
    /// Acceptance criterion: a node whose certificate comes from another CA (even one claiming a member's node
    /// id) is refused at the handshake in both directions, and nothing it sends is delivered.
    @Test func aNodeWithACertificateFromAnotherCAIsRefused() async throws {
        try await TestCluster.with([1, 3]) { cluster in
            let rogueDirectory = makeTemporaryDirectory("rogue-ca")
            defer { removeDirectory(rogueDirectory) }
            _ = try ClusterCertificates.create(directory: rogueDirectory, nodeIds: [2])
            let rogue = try await cluster.start(2, tls: TLSMaterial.node(2, directory: rogueDirectory))
            let member = cluster.nodes[1]!

            // The rogue dials the member.
            rogue.setPeerAddress(1, host: "127.0.0.1", port: cluster.port(1))
            let refused = await eventually {
                rogue.send(to: 1, kind: 1, payload: ByteBuffer(string: "from the rogue"))
                return member.counters.handshakeFailures >= 1
            }
            #expect(refused, "the member did not count a refused handshake")
            do {
                _ = try await rogue.request(to: 1, kind: 1, payload: ByteBuffer(), timeout: .seconds(5))
                Issue.record("a request from the rogue was answered")
            } catch {}

            // The member dials the rogue: the rogue's server certificate is not from the cluster CA.
            let before = member.counters.handshakeFailures
            member.setPeerAddress(2, host: "127.0.0.1", port: cluster.port(2))
            do {
                _ = try await member.request(to: 2, kind: 1, payload: ByteBuffer(), timeout: .seconds(5))
                Issue.record("the rogue answered a request")
            } catch {}
            #expect(member.counters.handshakeFailures > before)

            // A legitimate member still gets through, after everything the rogue sent.
            cluster.nodes[3]!.setPeerAddress(1, host: "127.0.0.1", port: cluster.port(1))
            cluster.nodes[3]!.send(to: 1, kind: 1, payload: ByteBuffer(string: "from 3"))
            let memberHandler = cluster.handlers[1]!
            #expect(await eventually { !memberHandler.messages.isEmpty })
            #expect(memberHandler.messages == [.init(from: 3, kind: 1, payload: "from 3")])
            #expect(cluster.handlers[2]!.messages.isEmpty)
            #expect(member.counters.messagesReceived == 1)
        }
    }

    @Test func aClientWithoutACertificateIsRefused() async throws {
        try await TestCluster.with([1]) { cluster in
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.trustRoots = .certificates(
                try NIOSSLCertificate.fromPEMFile(ClusterCertificates.caCertificatePath(in: cluster.directory)))
            configuration.certificateVerification = .noHostnameVerification
            let client = try await RawTLSClient.connect(
                port: cluster.port(1), configuration: configuration, group: cluster.group)
            try? await client.write(oneWayFrame(kind: 1, "anonymous"))
            #expect(await eventually { client.isClosed }, "the node kept a connection without a certificate")
            #expect(await eventually { cluster.nodes[1]!.counters.handshakeFailures == 1 })
            #expect(cluster.handlers[1]!.messages.isEmpty)
            #expect(cluster.nodes[1]!.counters.messagesReceived == 0)
        }
    }

    @Test func aClientCertificateWithoutNodeIdentityIsRefused() async throws {
        try await TestCluster.with([1]) { cluster in
            _ = try ClusterCertificates.create(directory: cluster.directory, nodeIds: [], clientNames: ["app"])
            let material = try TLSMaterial(
                caPath: ClusterCertificates.caCertificatePath(in: cluster.directory),
                certificatePath: ClusterCertificates.clientCertificatePath("app", in: cluster.directory),
                keyPath: ClusterCertificates.clientKeyPath("app", in: cluster.directory)
            ).load()
            #expect(material.nodeId == nil)
            let client = try await RawTLSClient.connect(
                port: cluster.port(1), configuration: material.rpcClientConfiguration(), group: cluster.group)
            try? await client.write(oneWayFrame(kind: 1, "from an application"))
            #expect(await eventually { client.isClosed })
            #expect(await eventually { cluster.nodes[1]!.counters.handshakeFailures == 1 })
            #expect(cluster.handlers[1]!.messages.isEmpty)
        }
    }

    /// Node 1 is told node 2 lives at node 3's address: node 3's certificate says 3, so nothing goes there.
    @Test func aDialedNodeMustPresentTheCertificateOfTheNodeDialed() async throws {
        try await TestCluster.with([1, 2, 3]) { cluster in
            let node = cluster.nodes[1]!
            node.setPeerAddress(2, host: "127.0.0.1", port: cluster.port(3))
            node.send(to: 2, kind: 1, payload: ByteBuffer(string: "meant for 2"))
            do {
                _ = try await node.request(to: 2, kind: 1, payload: ByteBuffer(), timeout: .seconds(5))
                Issue.record("node 3 answered as node 2")
            } catch {}
            #expect(await eventually { node.counters.handshakeFailures >= 1 })
            #expect(node.counters.connectionsEstablished == 0)
            #expect(cluster.handlers[3]!.messages.isEmpty)
            #expect(cluster.handlers[2]!.messages.isEmpty)
        }
    }

    @Test func aNodeRefusesToStartWithAnotherNodesCertificate() async throws {
        let cluster = try TestCluster(certificates: [1, 2])
        await #expect(throws: RPCError.self) {
            try await cluster.start(1, tls: TLSMaterial.node(2, directory: cluster.directory))
        }
        await cluster.shutdown()
    }

    @Test(arguments: [
        ("too short", [0, 0, 0, 5, 1, 0, 0, 0, 0] as [UInt8]),
        ("unknown type", [0, 0, 0, 11, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
        ("too large", [0xff, 0xff, 0xff, 0xf0, 1]),
    ])
    func aMalformedFrameClosesTheConnectionButNotTheNode(label: String, bytes: [UInt8]) async throws {
        try await TestCluster.with([1, 2], certificates: [3]) { cluster in
            let material = try TLSMaterial.node(3, directory: cluster.directory).load()
            let client = try await RawTLSClient.connect(
                port: cluster.port(1), configuration: material.rpcClientConfiguration(), group: cluster.group)
            var frames = oneWayFrame(kind: 1, "well formed")
            frames.writeBytes(bytes)
            try await client.write(frames)
            #expect(await eventually { client.isClosed }, "\(label): the connection stayed open")
            #expect(await eventually { cluster.nodes[1]!.counters.malformedFrames == 1 })
            #expect(cluster.handlers[1]!.messages == [.init(from: 3, kind: 1, payload: "well formed")])
            cluster.connectAll()
            let response = try await cluster.nodes[2]!.request(
                to: 1, kind: 1, payload: ByteBuffer(string: "still up?"), timeout: .seconds(60))
            #expect(String(buffer: response) == "1 got still up? from 2")
        }
    }

    @Test func aSilentConnectionIsClosedAfterTheHandshakeTimeout() async throws {
        let cluster = try TestCluster(certificates: [1])
        do {
            try await cluster.start(1, handshakeTimeout: .milliseconds(200))
            // Plain TCP, no ClientHello: the node must not keep it forever.
            let channel = try await ClientBootstrap(group: cluster.group).connect(
                host: "127.0.0.1", port: cluster.port(1)
            ).get()
            #expect(await eventually { !channel.isActive })
            #expect(cluster.nodes[1]!.counters.handshakeFailures == 1)
        } catch {
            await cluster.shutdown()
            throw error
        }
        await cluster.shutdown()
    }
}
