import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// An open segment `.log` file, shared by the log and every read in flight that refers to it.
///
/// The descriptor is closed when the last reference goes away (Swift's reference count is the reader
/// count): retention may unlink a segment while a fetch is still sending it, and the fetch still reads the
/// bytes it was promised, because an unlinked file lives on until its last descriptor closes.
public final class SegmentFile: Sendable {
    /// The open descriptor (read and write). Valid for as long as this object is alive; do not close it.
    /// To hand the file to something that takes ownership of a descriptor (NIO's `NIOFileHandle`, for a
    /// `FileRegion` sent with sendfile), pass it `duplicateDescriptor()` instead.
    public let descriptor: Int32
    /// The path the file was opened at (it may have been unlinked since).
    public let path: String

    init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    deinit { FileIO.closeFile(descriptor) }

    /// A new descriptor for the same open file (dup), owned by the caller.
    public func duplicateDescriptor() throws -> Int32 {
        let fd = dup(descriptor)
        guard fd >= 0 else { throw StorageError.io(operation: "dup", path: path, errno: errno) }
        return fd
    }
}

/// A byte range of a segment file: whole batches, ready to be sent with sendfile or read with pread.
public struct FileChunk: Sendable {
    /// Keeps the file open while this chunk exists.
    public let file: SegmentFile
    /// Where the range starts in the file.
    public let position: Int64
    public let length: Int

    /// Appends the bytes of the range to `buffer` (one pread). Only a truncation (replication rewinding the
    /// log) can shorten a file under a reader; fewer bytes then arrive, ending in a batch prefix, which Kafka
    /// clients treat as the end of the data.
    public func read(into buffer: inout ByteBuffer) throws {
        let length = self.length
        try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { raw in
            try FileIO.preadFully(
                file.descriptor, into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<length]),
                at: position, path: file.path)
        }
    }
}

/// What a read of the log returns: whole batches as file ranges, plus the offsets a fetch response needs.
public struct LogReadResult: Sendable {
    /// The batches, in offset order, as ranges of segment files (several when the read crosses a roll).
    public var chunks: [FileChunk]
    /// The sum of the chunks' lengths.
    public var sizeInBytes: Int
    /// The base offset of the first batch returned (it may be below the requested offset), nil when empty.
    public var firstOffset: Int64?
    /// One past the last offset returned: where the next fetch continues. The requested offset when empty.
    public var nextOffset: Int64
    /// The log's logStartOffset and logEndOffset when the read was made.
    public var logStartOffset: Int64
    public var logEndOffset: Int64

    public var isEmpty: Bool { chunks.isEmpty }

    /// The bytes of all chunks copied into one buffer with pread: for TLS listeners, which cannot sendfile.
    public func readBytes(allocator: ByteBufferAllocator = ByteBufferAllocator()) throws -> ByteBuffer {
        var buffer = allocator.buffer(capacity: sizeInBytes)
        for chunk in chunks { try chunk.read(into: &buffer) }
        return buffer
    }
}
