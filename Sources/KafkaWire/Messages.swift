import NIOCore

/// A struct of the Kafka protocol that encodes and decodes itself for a given message version.
public protocol KafkaStruct: Sendable, Equatable {
    /// Decodes from the buffer's readable bytes, consuming exactly what the struct occupies.
    init(from buffer: inout ByteBuffer, version: Int16) throws
    /// Appends the encoding for `version`; throws when a set field does not exist in that version.
    func encode(into buffer: inout ByteBuffer, version: Int16) throws
}

/// A whole message: a request, a response, a header or a data payload.
public protocol KafkaMessage: KafkaStruct {
    static var messageName: String { get }
    static var validVersions: ClosedRange<Int16> { get }
    /// The first version using the compact (flexible, KIP-482) encoding, or nil if none does.
    static var lowestFlexibleVersion: Int16? { get }
}

extension KafkaMessage {
    public static func isFlexible(version: Int16) -> Bool {
        lowestFlexibleVersion.map { version >= $0 } ?? false
    }

    /// Decodes a whole message that must fill `buffer` exactly.
    public static func decodeWhole(_ buffer: ByteBuffer, version: Int16) throws -> Self {
        var b = buffer
        let message = try Self(from: &b, version: version)
        if b.readableBytes != 0 { throw WireError.trailingBytes(b.readableBytes) }
        return message
    }

    /// Encodes into a new buffer.
    public func encoded(version: Int16) throws -> ByteBuffer {
        var b = ByteBuffer()
        try encode(into: &b, version: version)
        return b
    }
}

/// A message that belongs to an API key.
public protocol KafkaApiMessage: KafkaMessage {
    static var apiKey: ApiKey { get }
    static var deprecatedVersions: ClosedRange<Int16>? { get }
}

/// A request; its `Response` is the message a server answers with.
public protocol KafkaRequest: KafkaApiMessage {
    associatedtype Response: KafkaResponse
    /// Kafka serves the highest version only with `unstable.api.versions.enable`.
    static var latestVersionUnstable: Bool { get }
}

/// A response to a request.
public protocol KafkaResponse: KafkaApiMessage {}
