import Logging
import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A response frame in parts: buffers and file regions (record batches sent from the segment files with
/// sendfile, never copied into memory). `release` runs once the parts are written or dropped, to close the
/// file handles.
public struct KafkaResponseParts: Sendable {
    public var parts: [IOData]
    public var release: @Sendable () -> Void
    public init(parts: [IOData], release: @escaping @Sendable () -> Void) {
        self.parts = parts
        self.release = release
    }
}

/// Why a file region of a response could not be read into memory.
public enum FileRegionReadError: Error, Equatable, Sendable, CustomStringConvertible {
    case shortFile(expected: Int, read: Int)
    case io(errno: Int32)

    public var description: String {
        switch self {
        case .shortFile(let expected, let read): return "file region of \(expected) bytes ended after \(read)"
        case .io(let errno): return "pread failed: \(String(cString: strerror(errno)))"
        }
    }
}

/// What became of one request.
public enum KafkaRequestOutcome: Sendable {
    /// A complete response frame, size prefix included.
    case response(ByteBuffer)
    /// A complete response frame in parts (plaintext connections only: TLS cannot send file regions).
    case responseParts(KafkaResponseParts)
    /// No response: a Produce with acks=0.
    case noResponse
    /// The request cannot be answered (malformed, or an unsupported version of an API other than
    /// ApiVersions): the connection closes after the responses before it, as Kafka's does.
    case close(reason: String)
}

/// Facts about a connection that request handling may need (logging, quotas, listener-specific metadata).
public struct KafkaConnectionInfo: Sendable {
    public var remoteAddress: SocketAddress?
    public var listenerName: String
    /// Whether responses may carry file regions (plaintext sockets); false where bytes must pass through
    /// user space (TLS).
    public var supportsFileRegions: Bool
    public init(remoteAddress: SocketAddress?, listenerName: String, supportsFileRegions: Bool = false) {
        self.remoteAddress = remoteAddress
        self.listenerName = listenerName
        self.supportsFileRegions = supportsFileRegions
    }
}

/// Handles the requests of every connection of a listener. Handling may finish on any event loop; the
/// connection puts responses back in order.
public protocol KafkaRequestHandling: Sendable {
    func handle(request: ByteBuffer, connection: KafkaConnectionInfo, eventLoop: any EventLoop) -> EventLoopFuture<
        KafkaRequestOutcome
    >
}

/// The channel handler of a Kafka connection: carries out `KafkaConnectionStateMachine`'s actions.
public final class KafkaConnectionHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundIn = IOData
    public typealias OutboundOut = IOData

    private var machine: KafkaConnectionStateMachine
    private let requestHandler: any KafkaRequestHandling
    private let listenerName: String
    private let supportsFileRegions: Bool
    private let logger: Logger
    private var connection: KafkaConnectionInfo?
    /// Responses that are ready but wait for earlier ones.
    private var responses: [UInt64: KafkaResponseParts] = [:]
    /// A read the channel asked for while reading was paused.
    private var readPending = false

    public init(
        requestHandler: any KafkaRequestHandling, listenerName: String, logger: Logger,
        configuration: KafkaConnectionStateMachine.Configuration = .init(), supportsFileRegions: Bool = false
    ) {
        self.supportsFileRegions = supportsFileRegions
        self.machine = KafkaConnectionStateMachine(configuration: configuration)
        self.requestHandler = requestHandler
        self.listenerName = listenerName
        self.logger = logger
    }

    public func channelActive(context: ChannelHandlerContext) {
        connection = KafkaConnectionInfo(
            remoteAddress: context.channel.remoteAddress, listenerName: listenerName,
            supportsFileRegions: supportsFileRegions)
        context.fireChannelActive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard let (sequence, actions) = machine.requestReceived() else { return }
        perform(actions, context: context)
        let info =
            connection
            ?? KafkaConnectionInfo(
                remoteAddress: nil, listenerName: listenerName, supportsFileRegions: supportsFileRegions)
        let future = requestHandler.handle(request: frame, connection: info, eventLoop: context.eventLoop)
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        future.hop(to: context.eventLoop).whenComplete { result in
            let (handler, context) = bound.value
            handler.finished(sequence: sequence, result: result, context: context)
        }
    }

    private func finished(
        sequence: UInt64, result: Result<KafkaRequestOutcome, any Error>, context: ChannelHandlerContext
    ) {
        let actions: [KafkaConnectionStateMachine.Action]
        switch result {
        case .success(.response(let bytes)):
            responses[sequence] = KafkaResponseParts(parts: [.byteBuffer(bytes)], release: {})
            actions = machine.requestCompleted(sequence: sequence, writesResponse: true)
        case .success(.responseParts(let parts)):
            guard machine.state != .closed else {
                parts.release()
                return
            }
            responses[sequence] = parts
            actions = machine.requestCompleted(sequence: sequence, writesResponse: true)
        case .success(.noResponse):
            actions = machine.requestCompleted(sequence: sequence, writesResponse: false)
        case .success(.close(let reason)):
            actions = machine.requestFailed(sequence: sequence, reason: reason)
        case .failure(let error):
            actions = machine.requestFailed(sequence: sequence, reason: "request failed: \(error)")
        }
        perform(actions, context: context)
    }

    private func perform(_ actions: [KafkaConnectionStateMachine.Action], context: ChannelHandlerContext) {
        for action in actions {
            switch action {
            case .write(let sequence):
                if let response = responses.removeValue(forKey: sequence) {
                    var parts = response.parts
                    if !supportsFileRegions {
                        do {
                            parts = try Self.readFileRegions(parts, allocator: context.channel.allocator)
                        } catch {
                            // Sending the frame short would corrupt the stream: close after what came before.
                            logger.error("cannot read a response's file region", metadata: ["error": "\(error)"])
                            response.release()
                            releaseAll()
                            context.flush()
                            context.close(promise: nil)
                            return
                        }
                    }
                    for part in parts.dropLast() { context.write(wrapOutboundOut(part), promise: nil) }
                    let promise = context.eventLoop.makePromise(of: Void.self)
                    promise.futureResult.whenComplete { _ in response.release() }
                    if let last = parts.last {
                        context.write(wrapOutboundOut(last), promise: promise)
                    } else {
                        promise.succeed(())
                    }
                }
            case .flush:
                context.flush()
            case .pauseReading:
                break  // read() below holds reads back while paused
            case .resumeReading:
                if readPending {
                    readPending = false
                    context.read()
                }
            case .close(let reason):
                logger.debug(
                    "closing Kafka connection",
                    metadata: ["reason": "\(reason)", "peer": "\(context.remoteAddress.map { "\($0)" } ?? "?")"])
                releaseAll()
                context.close(promise: nil)
            }
        }
    }

    /// A file region's bytes, read with pread: for connections that cannot send file regions (TLS encrypts in
    /// user space). A file shorter than the region is an error, since the frame's size counts every byte.
    static func readFileRegions(_ parts: [IOData], allocator: ByteBufferAllocator) throws -> [IOData] {
        guard parts.contains(where: { if case .fileRegion = $0 { true } else { false } }) else { return parts }
        return try parts.map { part in
            guard case .fileRegion(let region) = part else { return part }
            let length = region.endIndex - region.readerIndex
            var buffer = allocator.buffer(capacity: length)
            _ = try region.fileHandle.withUnsafeFileDescriptor { fd in
                try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { raw in
                    var done = 0
                    while done < length {
                        let n = pread(fd, raw.baseAddress! + done, length - done, off_t(region.readerIndex + done))
                        if n > 0 {
                            done += n
                        } else if n == 0 {
                            throw FileRegionReadError.shortFile(expected: length, read: done)
                        } else if errno != EINTR {
                            throw FileRegionReadError.io(errno: errno)
                        }
                    }
                    return done
                }
            }
            return .byteBuffer(buffer)
        }
    }

    public func read(context: ChannelHandlerContext) {
        if machine.isReadingPaused {
            readPending = true
        } else {
            context.read()
        }
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            perform(machine.inputClosed(reason: "client closed its side"), context: context)
        } else if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .all, machine.inFlight == 0 {
            perform(machine.inputClosed(reason: "idle timeout"), context: context)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A broken frame stream (oversized or negative size): answer what is in flight, then close.
        logger.debug("Kafka connection error", metadata: ["error": "\(error)"])
        perform(machine.inputClosed(reason: "\(error)"), context: context)
        if machine.state != .closed { readPending = false }
    }

    private func releaseAll() {
        for response in responses.values { response.release() }
        responses.removeAll()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        machine.channelClosed()
        releaseAll()
        context.fireChannelInactive()
    }
}
