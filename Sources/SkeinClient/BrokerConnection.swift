import KafkaWire
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SkeinModel
import SkeinTransport

/// A request on its way to the handler: the encoded frame and the promise its response frame completes.
struct PendingRequest: Sendable {
    var correlationId: Int32
    var frame: ByteBuffer
    /// False for Produce with acks=0, which the broker never answers: the promise completes once written.
    var expectsResponse: Bool
    var timeout: TimeAmount
    var apiName: String
    var promise: EventLoopPromise<ByteBuffer?>
}

/// Matches response frames to requests by correlation id, so that many requests can be in flight on one
/// connection (Kafka answers them in order, but matching by id also catches a confused peer). Runs on the
/// channel's event loop only, which is why plain dictionaries suffice.
final class KafkaClientHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = PendingRequest
    typealias OutboundOut = ByteBuffer

    private struct InFlight {
        var promise: EventLoopPromise<ByteBuffer?>
        var timeout: Scheduled<Void>
    }

    private let brokerName: String
    private var inFlight: [Int32: InFlight] = [:]
    private var closed = false

    init(brokerName: String) { self.brokerName = brokerName }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        if closed {
            request.promise.fail(KafkaClientError.connectionClosed(broker: brokerName))
            promise?.fail(KafkaClientError.connectionClosed(broker: brokerName))
            return
        }
        let written = context.eventLoop.makePromise(of: Void.self)
        if request.expectsResponse {
            let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
            let id = request.correlationId
            let api = request.apiName
            let timeout = context.eventLoop.scheduleTask(in: request.timeout) {
                bound.value.fail(id, KafkaClientError.timedOut(api: api, broker: bound.value.brokerName))
            }
            inFlight[id] = InFlight(promise: request.promise, timeout: timeout)
            written.futureResult.whenFailure { error in bound.value.fail(id, error) }
        } else {
            written.futureResult.whenComplete { result in
                switch result {
                case .success: request.promise.succeed(nil)
                case .failure(let error): request.promise.fail(error)
                }
            }
        }
        written.futureResult.cascade(to: promise)
        context.write(wrapOutboundOut(request.frame), promise: written)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        // Every response header starts with the correlation id; a late answer to a timed-out request is dropped.
        guard let id: Int32 = frame.getInteger(at: frame.readerIndex), let entry = inFlight.removeValue(forKey: id)
        else { return }
        entry.timeout.cancel()
        entry.promise.succeed(frame)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(KafkaClientError.connectionClosed(broker: brokerName))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        failAll(error)
        context.close(promise: nil)
    }

    private func fail(_ id: Int32, _ error: Error) {
        guard let entry = inFlight.removeValue(forKey: id) else { return }
        entry.timeout.cancel()
        entry.promise.fail(error)
    }

    private func failAll(_ error: Error) {
        closed = true
        let all = inFlight
        inFlight.removeAll()
        for entry in all.values {
            entry.timeout.cancel()
            entry.promise.fail(error)
        }
    }
}

/// One TCP connection to one broker, with the API versions it advertised. Requests are pipelined: callers
/// may send concurrently and each awaits its own response.
final class BrokerConnection: Sendable {
    let channel: any Channel
    let name: String
    let versions: ApiVersionTable
    private let clientId: String
    private let nextCorrelationId: NIOLockedValueBox<Int32>

    private init(channel: any Channel, name: String, versions: ApiVersionTable, clientId: String, nextId: Int32) {
        self.channel = channel
        self.name = name
        self.versions = versions
        self.clientId = clientId
        self.nextCorrelationId = NIOLockedValueBox(nextId)
    }

    /// Connects and exchanges ApiVersions, so that every later request can pick its version.
    static func connect(
        host: String, port: Int, clientId: String, timeout: TimeAmount, group: any EventLoopGroup
    ) async throws -> BrokerConnection {
        let name = "\(host):\(port)"
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(timeout)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(KafkaFrameDecoder()))
                        try channel.pipeline.syncOperations.addHandler(KafkaClientHandler(brokerName: name))
                    }
                }
                .connect(host: host, port: port).get()
        } catch let error as NIOConnectionError {
            // NIO lists one failure per resolved address; the first one says it (e.g. connection refused).
            let reason = error.connectionErrors.first.map { "\($0.error)" } ?? "\(error)"
            throw KafkaClientError.connectionFailed(broker: name, reason: reason)
        } catch {
            throw KafkaClientError.connectionFailed(broker: name, reason: "\(error)")
        }
        do {
            let versions = try await handshake(channel: channel, name: name, clientId: clientId, timeout: timeout)
            return BrokerConnection(channel: channel, name: name, versions: versions, clientId: clientId, nextId: 2)
        } catch {
            try? await channel.close()
            throw error
        }
    }

    /// ApiVersions at our highest version; a broker that does not know it answers UNSUPPORTED_VERSION in the
    /// v0 layout with its own range (KIP-511), and we ask again at the highest version it named.
    private static func handshake(
        channel: any Channel, name: String, clientId: String, timeout: TimeAmount
    ) async throws -> ApiVersionTable {
        let request = ApiVersionsRequest(clientSoftwareName: "skein-client", clientSoftwareVersion: "0.1")
        var version = ApiVersionsRequest.validVersions.upperBound
        for attempt in 0..<2 {
            let frame = try await roundTrip(
                channel: channel, request: request, version: version, correlationId: Int32(attempt),
                clientId: clientId, timeout: timeout)
            guard let frame else { throw KafkaClientError.protocolViolation("no ApiVersions response") }
            if let (_, response) = try? ApiVersionsResponse.decodeFrame(frame, version: version),
                response.errorCode == 0
            {
                return ApiVersionTable(response)
            }
            // Read the v0 layout: error code and the broker's own ApiVersions range.
            let (_, v0) = try ApiVersionsResponse.decodeFrame(frame, version: 0)
            guard v0.errorCode == KafkaErrorCode.unsupportedVersion.rawValue,
                let own = v0.apiKeys.first(where: { $0.apiKey == ApiKey.apiVersions.rawValue }),
                own.maxVersion < version
            else { throw KafkaError(rawCode: v0.errorCode, message: "ApiVersions v\(version) failed", resource: name) }
            version = own.maxVersion
        }
        throw KafkaClientError.unsupportedApi(.apiVersions, broker: name)
    }

    private static func roundTrip<R: KafkaRequest>(
        channel: any Channel, request: R, version: Int16, correlationId: Int32, clientId: String,
        timeout: TimeAmount, expectsResponse: Bool = true
    ) async throws -> ByteBuffer? {
        let frame = try request.encodeFrame(version: version, correlationId: correlationId, clientId: clientId)
        let promise = channel.eventLoop.makePromise(of: ByteBuffer?.self)
        let pending = PendingRequest(
            correlationId: correlationId, frame: frame, expectsResponse: expectsResponse, timeout: timeout,
            apiName: R.apiKey.name, promise: promise)
        channel.writeAndFlush(pending, promise: nil)
        return try await promise.futureResult.get()
    }

    /// The version to use for `R`, or `unsupportedApi` when this broker and this client have none in common.
    func version<R: KafkaRequest>(for type: R.Type, atMost cap: Int16 = .max) throws -> Int16 {
        guard let v = versions.version(for: type, atMost: cap) else {
            throw KafkaClientError.unsupportedApi(R.apiKey, broker: name)
        }
        return v
    }

    /// Sends `request` at `version` (by default the negotiated one) and decodes the response.
    func send<R: KafkaRequest>(
        _ request: R, version: Int16? = nil, timeout: TimeAmount
    ) async throws -> (response: R.Response, version: Int16) {
        let v = try version ?? self.version(for: R.self)
        let id = nextCorrelationId.withLockedValue { id -> Int32 in
            defer { id = id == .max ? 1 : id + 1 }
            return id
        }
        let frame = try await Self.roundTrip(
            channel: channel, request: request, version: v, correlationId: id, clientId: clientId, timeout: timeout)
        guard let frame else { throw KafkaClientError.protocolViolation("no \(R.apiKey.name) response") }
        let decoded: (correlationId: Int32, response: R.Response)
        do {
            decoded = try R.Response.decodeFrame(frame, version: v)
        } catch {
            throw KafkaClientError.protocolViolation("cannot decode \(R.apiKey.name) v\(v) response: \(error)")
        }
        guard decoded.correlationId == id else {
            throw KafkaClientError.protocolViolation("correlation id \(decoded.correlationId), expected \(id)")
        }
        return (decoded.response, v)
    }

    /// Sends a request the broker does not answer (Produce with acks=0); returns once it is written.
    func sendWithoutResponse<R: KafkaRequest>(_ request: R, version: Int16, timeout: TimeAmount) async throws {
        let id = nextCorrelationId.withLockedValue { id -> Int32 in
            defer { id = id == .max ? 1 : id + 1 }
            return id
        }
        _ = try await Self.roundTrip(
            channel: channel, request: request, version: version, correlationId: id, clientId: clientId,
            timeout: timeout, expectsResponse: false)
    }

    var isActive: Bool { channel.isActive }

    func close() async {
        try? await channel.close()
    }
}
