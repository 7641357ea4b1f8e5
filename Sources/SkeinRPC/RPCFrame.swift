import NIOCore

/// What a frame carries.
public enum RPCFrameType: UInt8, Sendable {
    /// A message that gets no answer (Raft traffic).
    case oneWay = 1
    case request = 2
    /// The answer to the request with the same correlation id, on the connection that carried it.
    case response = 3
    /// The request's handler threw; the payload is the error's description in UTF-8.
    case error = 4
}

/// One frame of the internal RPC. On the wire: a u32 length (of everything after it), then the type (u8), a u64
/// correlation id (0 for one-way messages), a u16 message kind and the payload, all big-endian.
public struct RPCFrame: Sendable, Equatable {
    public var type: RPCFrameType
    public var correlationId: UInt64
    public var kind: UInt16
    public var payload: ByteBuffer

    /// Type, correlation id and kind: the bytes counted by the length after the length itself.
    public static let headerSize = 1 + 8 + 2
    /// The length prefix.
    public static let lengthSize = 4

    public init(type: RPCFrameType, correlationId: UInt64, kind: UInt16, payload: ByteBuffer) {
        self.type = type
        self.correlationId = correlationId
        self.kind = kind
        self.payload = payload
    }

    /// Writes the length prefix and the header of a frame whose payload is `payloadLength` bytes.
    static func writeHeader(
        type: RPCFrameType, correlationId: UInt64, kind: UInt16, payloadLength: Int, into buffer: inout ByteBuffer
    ) {
        buffer.writeInteger(UInt32(headerSize + payloadLength))
        buffer.writeInteger(type.rawValue)
        buffer.writeInteger(correlationId)
        buffer.writeInteger(kind)
    }

    /// The whole frame in one buffer.
    public func encode(into buffer: inout ByteBuffer) {
        Self.writeHeader(
            type: type, correlationId: correlationId, kind: kind, payloadLength: payload.readableBytes, into: &buffer)
        buffer.writeImmutableBuffer(payload)
    }
}

/// Why a byte stream is not a sequence of RPC frames. The connection is closed.
public enum RPCFrameError: Error, Equatable, Sendable, CustomStringConvertible {
    case frameTooLarge(length: UInt32, limit: Int)
    case frameTooShort(length: UInt32)
    case unknownType(UInt8)

    public var description: String {
        switch self {
        case .frameTooLarge(let length, let limit): return "frame of \(length) bytes exceeds the limit of \(limit)"
        case .frameTooShort(let length):
            return "frame of \(length) bytes is shorter than its \(RPCFrame.headerSize)-byte header"
        case .unknownType(let type): return "unknown frame type \(type)"
        }
    }
}

/// Splits the stream into `RPCFrame`s; the payload is a slice of the receive buffer (no copy).
public struct RPCFrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = RPCFrame
    /// The largest length accepted (header and payload).
    public let maxFrameSize: Int

    public init(maxFrameSize: Int) {
        self.maxFrameSize = maxFrameSize
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> RPCFrame? {
        guard let length: UInt32 = buffer.getInteger(at: buffer.readerIndex) else { return nil }
        guard Int(length) <= maxFrameSize else {
            throw RPCFrameError.frameTooLarge(length: length, limit: maxFrameSize)
        }
        guard Int(length) >= RPCFrame.headerSize else { throw RPCFrameError.frameTooShort(length: length) }
        // The type is checked as soon as it arrives, so that garbage is refused without waiting for `length` bytes.
        if let rawType: UInt8 = buffer.getInteger(at: buffer.readerIndex + RPCFrame.lengthSize),
            RPCFrameType(rawValue: rawType) == nil
        {
            throw RPCFrameError.unknownType(rawType)
        }
        guard buffer.readableBytes >= RPCFrame.lengthSize + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: RPCFrame.lengthSize)
        let rawType: UInt8 = buffer.readInteger()!
        let correlationId: UInt64 = buffer.readInteger()!
        let kind: UInt16 = buffer.readInteger()!
        let payload = buffer.readSlice(length: Int(length) - RPCFrame.headerSize)!
        return RPCFrame(
            type: RPCFrameType(rawValue: rawType)!, correlationId: correlationId, kind: kind, payload: payload)
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> RPCFrame? {
        try decode(buffer: &buffer)
    }
}
