import Logging
import NIOCore
import NIOEmbedded
import NIOTestUtils
import SkeinTransport
import Testing

/// Answers each request frame with its own bytes (size-prefixed) once `release` is called for it, so that
/// tests control completion order.
final class ControlledHandler: KafkaRequestHandling, @unchecked Sendable {
    var promises: [EventLoopPromise<KafkaRequestOutcome>] = []
    var frames: [ByteBuffer] = []

    func handle(request: ByteBuffer, connection: KafkaConnectionInfo, eventLoop: any EventLoop) -> EventLoopFuture<
        KafkaRequestOutcome
    > {
        let p = eventLoop.makePromise(of: KafkaRequestOutcome.self)
        promises.append(p)
        frames.append(request)
        return p.futureResult
    }

    func release(_ i: Int, _ outcome: KafkaRequestOutcome? = nil) {
        var b = ByteBuffer()
        b.writeInteger(Int32(frames[i].readableBytes))
        b.writeImmutableBuffer(frames[i])
        promises[i].succeed(outcome ?? .response(b))
    }
}

/// Counts the read() calls that get past the connection handler towards the socket.
final class ReadCounter: ChannelOutboundHandler, @unchecked Sendable {
    typealias OutboundIn = IOData
    var reads = 0
    func read(context: ChannelHandlerContext) {
        reads += 1
        context.read()
    }
}

/// The next response written, as bytes (responses of these tests are single buffers).
func readBytes(_ channel: EmbeddedChannel) throws -> ByteBuffer? {
    guard let data = try channel.readOutbound(as: IOData.self) else { return nil }
    guard case .byteBuffer(let b) = data else { return nil }
    return b
}

@Suite struct ConnectionHandlerTests {
    static func frame(_ payload: String) -> ByteBuffer {
        var b = ByteBuffer()
        b.writeInteger(Int32(payload.utf8.count))
        b.writeString(payload)
        return b
    }

    func makeChannel(_ handler: ControlledHandler, maxInFlight: Int = 32, maxFrame: Int = 1 << 20) throws
        -> EmbeddedChannel
    {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers([
            ByteToMessageHandler(KafkaFrameDecoder(maxFrameSize: maxFrame)),
            KafkaConnectionHandler(
                requestHandler: handler, listenerName: "test", logger: Logger(label: "test"),
                configuration: .init(maxInFlightRequests: maxInFlight)),
        ])
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9092)).wait()
        return channel
    }

    @Test func decoderSplitsFramesByteByByteAndInBulk() throws {
        let inputs: [(ByteBuffer, [ByteBuffer])] = [
            (Self.frame("hello"), [ByteBuffer(string: "hello")]),
            (Self.frame(""), [ByteBuffer()]),
        ]
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: inputs) { KafkaFrameDecoder() }
    }

    @Test func pipelinedResponsesComeOutInOrder() throws {
        let handler = ControlledHandler()
        let channel = try makeChannel(handler)
        var input = Self.frame("one")
        input.writeImmutableBuffer(Self.frame("two"))
        input.writeImmutableBuffer(Self.frame("three"))
        try channel.writeInbound(input)
        #expect(handler.frames.count == 3)
        handler.release(2)
        handler.release(1)
        #expect(try readBytes(channel) == nil)
        handler.release(0)
        #expect(try readBytes(channel) == Self.frame("one"))
        #expect(try readBytes(channel) == Self.frame("two"))
        #expect(try readBytes(channel) == Self.frame("three"))
        #expect(try channel.finish().isClean)
    }

    @Test func oversizedFrameClosesTheConnection() throws {
        let handler = ControlledHandler()
        let channel = try makeChannel(handler, maxFrame: 1000)
        var huge = ByteBuffer()
        huge.writeInteger(Int32.max)  // a 2 GiB size prefix
        huge.writeString("garbage")
        #expect(channel.isActive)
        _ = try? channel.writeInbound(huge)
        #expect(handler.frames.isEmpty)
        #expect(!channel.isActive)
    }

    @Test func closeOutcomeFlushesEarlierResponsesFirst() throws {
        let handler = ControlledHandler()
        let channel = try makeChannel(handler)
        var input = Self.frame("ok")
        input.writeImmutableBuffer(Self.frame("bad"))
        try channel.writeInbound(input)
        handler.release(1, .close(reason: "unsupported version"))
        #expect(channel.isActive)
        handler.release(0)
        #expect(try readBytes(channel) == Self.frame("ok"))
        #expect(!channel.isActive)
    }

    @Test func readsPauseWhileTooManyRequestsAreInFlight() throws {
        let handler = ControlledHandler()
        let counter = ReadCounter()
        let channel = try makeChannel(handler, maxInFlight: 2)
        try channel.pipeline.syncOperations.addHandler(counter, position: .first)
        try channel.writeInbound(Self.frame("a"))
        channel.read()
        #expect(counter.reads == 1)  // one in flight: reads pass
        try channel.writeInbound(Self.frame("b"))
        channel.read()
        #expect(counter.reads == 1)  // two in flight: the read is held back
        handler.release(0)
        #expect(counter.reads == 2)  // back under the limit: the held read goes through
        handler.release(1)
        #expect(try readBytes(channel) == Self.frame("a"))
        #expect(try readBytes(channel) == Self.frame("b"))
        #expect(try channel.finish().isClean)
    }
}

@Suite struct ResponsePartsTests {
    final class Counter: @unchecked Sendable {
        var value = 0
    }

    @Test func partsAreWrittenInOrderAndReleasedOnce() throws {
        let handler = ControlledHandler()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers([
            ByteToMessageHandler(KafkaFrameDecoder()),
            KafkaConnectionHandler(requestHandler: handler, listenerName: "t", logger: Logger(label: "t")),
        ])
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9092)).wait()
        try channel.writeInbound(ConnectionHandlerTests.frame("a"))
        try channel.writeInbound(ConnectionHandlerTests.frame("b"))
        let released = Counter()
        handler.promises[1].succeed(
            .responseParts(
                KafkaResponseParts(
                    parts: [.byteBuffer(ByteBuffer(string: "b1")), .byteBuffer(ByteBuffer(string: "b2"))],
                    release: { released.value += 1 })))
        #expect(released.value == 0)  // waits behind "a"
        handler.release(0)
        #expect(try readBytes(channel) == ConnectionHandlerTests.frame("a"))
        #expect(try readBytes(channel) == ByteBuffer(string: "b1"))
        #expect(try readBytes(channel) == ByteBuffer(string: "b2"))
        #expect(released.value == 1)
        #expect(try channel.finish().isClean)
    }

    @Test func partsDroppedByACloseAreReleased() throws {
        let handler = ControlledHandler()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers([
            ByteToMessageHandler(KafkaFrameDecoder()),
            KafkaConnectionHandler(requestHandler: handler, listenerName: "t", logger: Logger(label: "t")),
        ])
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9092)).wait()
        try channel.writeInbound(ConnectionHandlerTests.frame("a"))
        try channel.writeInbound(ConnectionHandlerTests.frame("b"))
        let released = Counter()
        handler.promises[1].succeed(
            .responseParts(
                KafkaResponseParts(parts: [.byteBuffer(ByteBuffer(string: "b"))], release: { released.value += 1 })))
        handler.release(0, .close(reason: "bad request"))
        #expect(!channel.isActive)
        #expect(released.value == 1)
    }
}
