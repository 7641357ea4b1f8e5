import NIOCore

extension ApiKey {
    /// The versions Kafka defines for this API (not the versions Skein serves; handlers declare those).
    public var validVersions: ClosedRange<Int16> { requestType.validVersions }

    /// The first version that uses the flexible (compact) encoding, or nil.
    public var lowestFlexibleVersion: Int16? { requestType.lowestFlexibleVersion }

    public func isFlexible(version: Int16) -> Bool { lowestFlexibleVersion.map { version >= $0 } ?? false }

    /// The request header version for a request of this API at `apiVersion`.
    /// ControlledShutdown v0 is the one request with header v0 (hard-coded in Kafka's generator).
    public func requestHeaderVersion(for apiVersion: Int16) -> Int16 {
        if self == .controlledShutdown && apiVersion == 0 { return 0 }
        return isFlexible(version: apiVersion) ? 2 : 1
    }

    /// The response header version. ApiVersions responses always use v0 (KIP-511), so that a client
    /// can read the error of a version the broker does not know.
    public func responseHeaderVersion(for apiVersion: Int16) -> Int16 {
        if self == .apiVersions { return 0 }
        return isFlexible(version: apiVersion) ? 1 : 0
    }
}

/// A request frame split into its header and its body bytes (the body still encoded, a slice of the frame).
public struct KafkaRequestFrame: Sendable {
    /// The API key as sent; `apiKey` is nil when Kafka defines no such key.
    public var rawApiKey: Int16
    public var apiKey: ApiKey? { ApiKey(rawValue: rawApiKey) }
    public var headerVersion: Int16
    public var header: RequestHeader
    public var body: ByteBuffer

    /// Splits a frame (without its int32 size prefix). An unknown API key is read with header v1 so that
    /// the correlation id is still known for the error answer.
    public init(parsing frame: ByteBuffer) throws {
        var buffer = frame
        guard let key: Int16 = buffer.getInteger(at: buffer.readerIndex),
            let version: Int16 = buffer.getInteger(at: buffer.readerIndex + 2)
        else { throw WireError.truncated }
        self.rawApiKey = key
        self.headerVersion = ApiKey(rawValue: key)?.requestHeaderVersion(for: version) ?? 1
        self.header = try RequestHeader(from: &buffer, version: headerVersion)
        self.body = buffer
    }

    /// Decodes the body as the request type of its API key. Bytes after the body are ignored, as Kafka's
    /// broker ignores them: librdkafka sends Metadata v12 requests with a stray 3-byte tail (see
    /// `Tests/KafkaWireTests/Fixtures/golden-quirks`). `trailingBytes` tells how many there were.
    public func decodeBody() throws -> any KafkaRequest {
        try decodeBodyReportingTrailingBytes().request
    }

    public func decodeBodyReportingTrailingBytes() throws -> (request: any KafkaRequest, trailingBytes: Int) {
        guard let apiKey else { throw WireError.unknownApiKey(rawApiKey) }
        var b = body
        let request = try apiKey.requestType.init(from: &b, version: header.requestApiVersion)
        return (request, b.readableBytes)
    }
}

extension KafkaRequest {
    /// A complete request frame: int32 size, header, body.
    public func encodeFrame(version: Int16, correlationId: Int32, clientId: String?) throws -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int32(0))  // size, filled in below
        let header = RequestHeader(
            requestApiKey: Self.apiKey.rawValue, requestApiVersion: version,
            correlationId: correlationId, clientId: clientId
        )
        try header.encode(into: &buffer, version: Self.apiKey.requestHeaderVersion(for: version))
        try self.encode(into: &buffer, version: version)
        buffer.setInteger(Int32(buffer.readableBytes - 4), at: buffer.readerIndex)
        return buffer
    }
}

extension KafkaResponse {
    /// A complete response frame: int32 size, response header, body.
    public func encodeFrame(version: Int16, correlationId: Int32) throws -> ByteBuffer {
        var buffer = ByteBuffer()
        try encodeFrame(into: &buffer, version: version, correlationId: correlationId)
        return buffer
    }

    /// Appends a complete response frame to `buffer`.
    public func encodeFrame(into buffer: inout ByteBuffer, version: Int16, correlationId: Int32) throws {
        let start = buffer.writerIndex
        buffer.writeInteger(Int32(0))
        let header = ResponseHeader(correlationId: correlationId)
        try header.encode(into: &buffer, version: Self.apiKey.responseHeaderVersion(for: version))
        try self.encode(into: &buffer, version: version)
        buffer.setInteger(Int32(buffer.writerIndex - start - 4), at: start)
    }

    /// Decodes a response frame (without the size prefix) for a request of `version`.
    public static func decodeFrame(_ frame: ByteBuffer, version: Int16) throws -> (correlationId: Int32, response: Self)
    {
        var b = frame
        let header = try ResponseHeader(from: &b, version: Self.apiKey.responseHeaderVersion(for: version))
        let response = try Self(from: &b, version: version)
        if b.readableBytes != 0 { throw WireError.trailingBytes(b.readableBytes) }
        return (header.correlationId, response)
    }
}
