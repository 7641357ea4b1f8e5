import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOPosix
import NIOSSL
import SkeinTLS
import SkeinTransport
import Testing

/// A temp file with `count` deterministic bytes; the path and the bytes.
func makeDataFile(count: Int) throws -> (String, [UInt8]) {
    let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
    let path = NSTemporaryDirectory() + "skein-region-\(UUID().uuidString)"
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return (path, bytes)
}

func openRegion(_ path: String, from start: Int, to end: Int) throws -> FileRegion {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw IOError(errnoCode: errno, reason: "open") }
    let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: fd)
    return FileRegion(fileHandle: handle, readerIndex: start, endIndex: end)
}

/// Responses whose parts hold file regions, on connections that cannot send them (TLS): the handler reads them
/// into buffers with pread, and never sends a frame shorter than its size prefix.
@Suite struct FileRegionFallbackTests {
    final class Counter: @unchecked Sendable {
        var value = 0
    }

    func makeChannel(_ handler: ControlledHandler, supportsFileRegions: Bool) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers([
            ByteToMessageHandler(KafkaFrameDecoder()),
            KafkaConnectionHandler(
                requestHandler: handler, listenerName: "t", logger: Logger(label: "t"),
                supportsFileRegions: supportsFileRegions),
        ])
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9092)).wait()
        return channel
    }

    @Test func fileRegionsAreReadIntoBuffersWhenTheConnectionCannotSendThem() throws {
        let (path, bytes) = try makeDataFile(count: 300_000)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let handler = ControlledHandler()
        let channel = try makeChannel(handler, supportsFileRegions: false)
        try channel.writeInbound(ConnectionHandlerTests.frame("fetch"))
        let released = Counter()
        let first = try openRegion(path, from: 3, to: 200_003)
        let second = try openRegion(path, from: 250_000, to: 300_000)
        handler.promises[0].succeed(
            .responseParts(
                KafkaResponseParts(
                    parts: [
                        .byteBuffer(ByteBuffer(string: "head")), .fileRegion(first), .fileRegion(second),
                        .byteBuffer(ByteBuffer(string: "tail")),
                    ],
                    release: {
                        released.value += 1
                        try? first.fileHandle.close()
                        try? second.fileHandle.close()
                    })))
        var written = ByteBuffer()
        while let part = try channel.readOutbound(as: IOData.self) {
            guard case .byteBuffer(let buffer) = part else {
                Issue.record("a file region reached a connection that cannot send it")
                return
            }
            written.writeImmutableBuffer(buffer)
        }
        var expected: [UInt8] = Array("head".utf8)
        expected += bytes[3..<200_003]
        expected += bytes[250_000..<300_000]
        expected += Array("tail".utf8)
        #expect(Array(written.readableBytesView) == expected)
        #expect(released.value == 1)
        #expect(try channel.finish().isClean)
    }

    @Test func plaintextConnectionsStillSendFileRegions() throws {
        let (path, _) = try makeDataFile(count: 1000)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let handler = ControlledHandler()
        let channel = try makeChannel(handler, supportsFileRegions: true)
        try channel.writeInbound(ConnectionHandlerTests.frame("fetch"))
        let region = try openRegion(path, from: 0, to: 1000)
        handler.promises[0].succeed(
            .responseParts(
                KafkaResponseParts(parts: [.fileRegion(region)], release: { try? region.fileHandle.close() })))
        guard case .fileRegion(let sent) = try channel.readOutbound(as: IOData.self) else {
            Issue.record("expected the file region itself")
            return
        }
        #expect(sent.endIndex - sent.readerIndex == 1000)
        #expect(try channel.finish().isClean)
    }

    @Test func aRegionPastTheEndOfItsFileClosesTheConnection() throws {
        let (path, _) = try makeDataFile(count: 100)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let handler = ControlledHandler()
        let channel = try makeChannel(handler, supportsFileRegions: false)
        try channel.writeInbound(ConnectionHandlerTests.frame("fetch"))
        let released = Counter()
        let region = try openRegion(path, from: 50, to: 150)
        handler.promises[0].succeed(
            .responseParts(
                KafkaResponseParts(
                    parts: [.byteBuffer(ByteBuffer(string: "head")), .fileRegion(region)],
                    release: {
                        released.value += 1
                        try? region.fileHandle.close()
                    })))
        #expect(try channel.readOutbound(as: IOData.self) == nil)  // no partial frame
        #expect(!channel.isActive)
        #expect(released.value == 1)
    }
}

/// A real TLS listener on 127.0.0.1: responses with file regions arrive intact through TLS, and client
/// authentication is enforced when required.
@Suite struct TLSListenerTests {
    /// Answers every request with a frame whose body is the whole data file, as a file region, and records
    /// what the connection said about itself.
    final class FileResponder: KafkaRequestHandling {
        let path: String
        let length: Int
        let sawFileRegionSupport = NIOLockedValueBox<[Bool]>([])

        init(path: String, length: Int) {
            self.path = path
            self.length = length
        }

        func handle(request: ByteBuffer, connection: KafkaConnectionInfo, eventLoop: any EventLoop)
            -> EventLoopFuture<KafkaRequestOutcome>
        {
            sawFileRegionSupport.withLockedValue { $0.append(connection.supportsFileRegions) }
            do {
                let region = try openRegion(path, from: 0, to: length)
                var size = ByteBuffer()
                size.writeInteger(Int32(length))
                return eventLoop.makeSucceededFuture(
                    .responseParts(
                        KafkaResponseParts(
                            parts: [.byteBuffer(size), .fileRegion(region)],
                            release: { try? region.fileHandle.close() })))
            } catch {
                return eventLoop.makeFailedFuture(error)
            }
        }
    }

    /// Collects bytes until `expected` arrived; fails if the connection closes first.
    final class Collector: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        let expected: Int
        let done: EventLoopPromise<ByteBuffer>
        var received = ByteBuffer()

        init(expected: Int, done: EventLoopPromise<ByteBuffer>) {
            self.expected = expected
            self.done = done
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var bytes = unwrapInboundIn(data)
            received.writeBuffer(&bytes)
            if received.readableBytes >= expected { done.succeed(received) }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            done.fail(error)
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            struct ClosedEarly: Error {}
            done.fail(ClosedEarly())
        }
    }

    struct Setup {
        let directory: String
        let group: MultiThreadedEventLoopGroup
        let listener: KafkaListener
        let responder: FileResponder
        let bytes: [UInt8]
        let dataPath: String
    }

    func withListener(
        clientAuthentication: KafkaClientAuthentication, _ body: (Setup) async throws -> Void
    ) async throws {
        let directory = NSTemporaryDirectory() + "skein-tls-listener-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try ClusterCertificates.create(directory: directory, nodeIds: [1], clientNames: ["app"])
        let material = try TLSMaterial.node(1, directory: directory).load()
        let context = try material.makeContext(
            material.kafkaServerConfiguration(clientAuthentication: clientAuthentication))
        let (dataPath, bytes) = try makeDataFile(count: 3 * 1024 * 1024 + 17)
        defer { try? FileManager.default.removeItem(atPath: dataPath) }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let responder = FileResponder(path: dataPath, length: bytes.count)
        let listener = try await KafkaListener.bind(
            configuration: .init(name: "SSL", port: 0, tls: context), group: group, handler: responder,
            logger: Logger(label: "tls-listener-test"))
        let setup = Setup(
            directory: directory, group: group, listener: listener, responder: responder, bytes: bytes,
            dataPath: dataPath)
        do {
            try await body(setup)
        } catch {
            try? await listener.close()
            try? await group.shutdownGracefully()
            throw error
        }
        try? await listener.close()
        try? await group.shutdownGracefully()
    }

    /// Connects with TLS (verifying the node's certificate for "localhost"), sends one frame, returns the
    /// response bytes.
    func roundTrip(_ setup: Setup, clientCertificate: String?) async throws -> ByteBuffer {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .certificates(
            try NIOSSLCertificate.fromPEMFile(ClusterCertificates.caCertificatePath(in: setup.directory)))
        if let name = clientCertificate {
            configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(
                ClusterCertificates.clientCertificatePath(name, in: setup.directory)
            ).map { .certificate($0) }
            configuration.privateKey = .privateKey(
                try NIOSSLPrivateKey(file: ClusterCertificates.clientKeyPath(name, in: setup.directory), format: .pem))
        }
        let context = try NIOSSLContext(configuration: configuration)
        let loop = setup.group.next()
        let done = loop.makePromise(of: ByteBuffer.self)
        let expected = 4 + setup.bytes.count
        let channel = try await ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        try NIOSSLClientHandler(context: context, serverHostname: "localhost"),
                        Collector(expected: expected, done: done),
                    ])
                }
            }
            .connect(host: "127.0.0.1", port: setup.listener.localAddress!.port!)
            .get()
        defer { channel.close(promise: nil) }
        try await channel.writeAndFlush(ConnectionHandlerTests.frame("fetch"))
        let timeout = loop.scheduleTask(in: .seconds(30)) {
            struct TimedOut: Error {}
            done.fail(TimedOut())
        }
        defer { timeout.cancel() }
        return try await done.futureResult.get()
    }

    @Test func fileRegionResponsesArriveIntactThroughTLS() async throws {
        try await withListener(clientAuthentication: .none) { setup in
            var response = try await roundTrip(setup, clientCertificate: nil)
            #expect(response.readInteger(as: Int32.self) == Int32(setup.bytes.count))
            #expect(Array(response.readableBytesView) == setup.bytes)
            #expect(setup.responder.sawFileRegionSupport.withLockedValue { $0 } == [false])
        }
    }

    @Test func requiredClientAuthenticationRefusesClientsWithoutACertificate() async throws {
        try await withListener(clientAuthentication: .required) { setup in
            await #expect(throws: (any Error).self) {
                _ = try await roundTrip(setup, clientCertificate: nil)
            }
            #expect(setup.responder.sawFileRegionSupport.withLockedValue { $0 }.isEmpty)
            var response = try await roundTrip(setup, clientCertificate: "app")
            #expect(response.readInteger(as: Int32.self) == Int32(setup.bytes.count))
            #expect(Array(response.readableBytesView) == setup.bytes)
        }
    }
}
