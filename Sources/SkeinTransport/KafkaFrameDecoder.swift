import NIOCore

/// Why the byte stream of a connection cannot be read as Kafka frames. The connection is closed.
public enum KafkaFrameError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A size prefix above `socket.request.max.bytes` (Kafka closes the connection the same way).
    case frameTooLarge(size: Int32, limit: Int)
    case negativeSize(Int32)

    public var description: String {
        switch self {
        case .frameTooLarge(let size, let limit): return "request of \(size) bytes exceeds the limit of \(limit)"
        case .negativeSize(let size): return "negative request size \(size)"
        }
    }
}

/// Splits the stream into frames: an int32 size, then that many bytes. Emits the bytes after the size as a
/// slice of the receive buffer.
public struct KafkaFrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer
    public let maxFrameSize: Int

    /// `maxFrameSize` is Kafka's `socket.request.max.bytes` (100 MiB by default).
    public init(maxFrameSize: Int = 100 * 1024 * 1024) {
        self.maxFrameSize = maxFrameSize
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> ByteBuffer? {
        guard let size: Int32 = buffer.getInteger(at: buffer.readerIndex) else { return nil }
        guard size >= 0 else { throw KafkaFrameError.negativeSize(size) }
        guard Int(size) <= maxFrameSize else { throw KafkaFrameError.frameTooLarge(size: size, limit: maxFrameSize) }
        guard buffer.readableBytes >= 4 + Int(size) else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        return buffer.readSlice(length: Int(size))
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> ByteBuffer? {
        try decode(buffer: &buffer)
    }
}
