import KafkaWire
import NIOCore
import SkeinStorage
import SkeinTransport

/// The records of one fetched partition, to be sent from the segment files rather than from memory.
struct RecordsSplice: Sendable {
    /// 16 random bytes standing in for the records in the encoded response.
    let marker: ByteBuffer
    let chunks: [FileChunk]
    let length: Int

    init(chunks: [FileChunk], length: Int) {
        var rng = SystemRandomNumberGenerator()
        var m = ByteBuffer()
        m.writeInteger(rng.next() as UInt64)
        m.writeInteger(rng.next() as UInt64)
        self.marker = m
        self.chunks = chunks
        self.length = length
    }
}

/// Zero-copy Fetch responses. The response is encoded by the generated codec with each partition's records
/// replaced by a unique 16-byte marker; the frame is then cut at each marker, whose length prefix is replaced
/// by the real one and whose bytes by `FileRegion`s over the segment files. Batches go from the page cache to
/// the socket with sendfile, as stored.
enum FetchSplicer {
    static func splice(frame: ByteBuffer, splices: [RecordsSplice], flexible: Bool) throws -> KafkaResponseParts {
        var parts: [IOData] = []
        var handles: [NIOFileHandle] = []
        let release: @Sendable ([NIOFileHandle]) -> Void = { hs in for h in hs { try? h.close() } }
        do {
            var cursor = frame.readerIndex
            var sizeDelta = 0
            // A marker's length prefix: 16 as a compact length (17, one byte) or as an int32.
            let oldPrefixLength = flexible ? 1 : 4
            for s in splices {
                guard let at = find(s.marker, in: frame, from: cursor), at - oldPrefixLength >= cursor else {
                    throw WireError.invalidLength(Int64(s.length))
                }
                parts.append(.byteBuffer(frame.getSlice(at: cursor, length: at - oldPrefixLength - cursor)!))
                var prefix = ByteBuffer()
                if flexible {
                    prefix.writeKafkaUnsignedVarint(UInt32(s.length + 1))
                } else {
                    prefix.writeInteger(Int32(s.length))
                }
                sizeDelta += prefix.readableBytes + s.length - oldPrefixLength - 16
                parts.append(.byteBuffer(prefix))
                for chunk in s.chunks {
                    let handle = NIOFileHandle(
                        _deprecatedTakingOwnershipOfDescriptor: try chunk.file.duplicateDescriptor())
                    handles.append(handle)
                    let start = Int(chunk.position)
                    parts.append(
                        .fileRegion(FileRegion(fileHandle: handle, readerIndex: start, endIndex: start + chunk.length)))
                }
                cursor = at + 16
            }
            parts.append(.byteBuffer(frame.getSlice(at: cursor, length: frame.writerIndex - cursor)!))
            // The frame's size prefix counts the real records.
            guard case .byteBuffer(var first) = parts[0], let size: Int32 = first.getInteger(at: first.readerIndex)
            else {
                throw WireError.truncated
            }
            first.setInteger(Int32(Int(size) + sizeDelta), at: first.readerIndex)
            parts[0] = .byteBuffer(first)
            let owned = handles
            return KafkaResponseParts(parts: parts, release: { release(owned) })
        } catch {
            release(handles)
            throw error
        }
    }

    /// The absolute index of `needle` in `haystack` at or after `from`.
    private static func find(_ needle: ByteBuffer, in haystack: ByteBuffer, from: Int) -> Int? {
        let n = Array(needle.readableBytesView)
        return haystack.withUnsafeReadableBytes { raw -> Int? in
            let base = haystack.readerIndex
            var i = from - base
            let last = raw.count - n.count
            while i <= last {
                if raw[i] == n[0] && raw[i..<(i + n.count)].elementsEqual(n) { return base + i }
                i += 1
            }
            return nil
        }
    }
}
