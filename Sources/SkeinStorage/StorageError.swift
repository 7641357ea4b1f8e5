import KafkaRecords
import SkeinModel

/// Why a storage operation failed. Every case carries enough to act on it from a log line: the path and
/// errno for I/O, the offsets for range errors.
public enum StorageError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A system call failed. `operation` is the call (`pwrite`, `fsync`, ...), `errno` its error number.
    case io(operation: String, path: String, errno: Int32)
    /// The disk (or quota) is full. Whatever part of the write reached the file was cut off again, so the log
    /// holds only whole batches; appends work again once space returns.
    case diskFull(path: String)
    /// Kafka's OFFSET_OUT_OF_RANGE: the offset is below logStartOffset or above logEndOffset.
    case offsetOutOfRange(offset: Int64, logStartOffset: Int64, logEndOffset: Int64)
    /// The produced bytes are not one valid RecordBatch v2 (Kafka's CORRUPT_MESSAGE / INVALID_RECORD).
    case invalidBatch(RecordBatchError)
    /// A batch larger than the topic's max.message.bytes (Kafka's MESSAGE_TOO_LARGE).
    case batchTooLarge(size: Int, maxMessageBytes: Int)
    /// A follower append whose batches do not continue the log (base offset below logEndOffset).
    case nonMonotonicOffset(baseOffset: Int64, logEndOffset: Int64)
    /// A directory entry or checkpoint that cannot be read as what its name says.
    case corruptFile(path: String, reason: String)
    /// The log was closed.
    case closed
    /// An idempotent producer's batch refused by the producer state (OUT_OF_ORDER_SEQUENCE_NUMBER,
    /// INVALID_PRODUCER_EPOCH, ...).
    case producerRejected(code: KafkaErrorCode, message: String)

    public var description: String {
        switch self {
        case let .io(op, path, e): "\(op) failed on \(path): \(String(cString: strerror(e))) (errno \(e))"
        case let .diskFull(path): "disk full while writing \(path); the partial write was truncated away"
        case let .offsetOutOfRange(o, s, e): "offset \(o) is out of range [\(s), \(e)]"
        case let .invalidBatch(e): "invalid record batch: \(e)"
        case let .batchTooLarge(size, max): "record batch of \(size) bytes exceeds max.message.bytes \(max)"
        case let .nonMonotonicOffset(b, leo): "batch base offset \(b) is below the log end offset \(leo)"
        case let .corruptFile(path, reason): "corrupt file \(path): \(reason)"
        case .closed: "the partition log is closed"
        case let .producerRejected(_, message): message
        }
    }

    /// The Kafka error code a request handler should answer with.
    public var kafkaErrorCode: KafkaErrorCode {
        switch self {
        case .offsetOutOfRange: .offsetOutOfRange
        case .invalidBatch: .corruptMessage
        case .batchTooLarge: .messageTooLarge
        case .diskFull, .io, .corruptFile, .closed: .kafkaStorageError
        case .nonMonotonicOffset: .unknownServerError
        case let .producerRejected(code, _): code
        }
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif
