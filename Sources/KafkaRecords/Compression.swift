import CLZ4
import CSnappy
import CZlib
import CZstd
import NIOCore

/// The compression codec of a record batch (attribute bits 0-2), with Kafka's ids.
public enum CompressionCodec: Int16, CaseIterable, Sendable, CustomStringConvertible {
    case none = 0, gzip = 1, snappy = 2, lz4 = 3, zstd = 4

    /// Kafka's name for the codec, as in the `compression.type` config.
    public var description: String {
        switch self {
        case .none: return "none"
        case .gzip: return "gzip"
        case .snappy: return "snappy"
        case .lz4: return "lz4"
        case .zstd: return "zstd"
        }
    }
}

/// Why compressed bytes could not be read or written.
public enum CompressionError: Error, Equatable, Sendable {
    /// Decompressing would exceed the caller's limit: a small batch must not exhaust memory.
    case decompressedTooLarge(limit: Int)
    /// The codec's library (or our framing checks) refused the data.
    case corrupt(codec: CompressionCodec, reason: String)
    /// An LZ4 frame with linked blocks, which Kafka rejects.
    case lz4DependentBlocks
    /// The library failed to compress (out of memory, or an input too large for the codec).
    case compressionFailed(codec: CompressionCodec)
}

/// The four codecs as Kafka writes and reads them (see shared/kafka-protocol/RECORDS.md): gzip streams, snappy in
/// snappy-java's xerial framing (raw accepted on read), LZ4 frames with independent blocks, zstd frames.
///
/// Decompression is bounded: output grows in chunks of at most 64 KiB, each checked against `maxOutputBytes`
/// before it is reserved, so a buffer never grows past the next power of two above the limit (NIO rounds
/// capacities up to powers of two).
public enum Compression {
    /// Compresses `input`'s readable bytes.
    public static func compress(_ codec: CompressionCodec, _ input: ByteBuffer) throws -> ByteBuffer {
        try input.withUnsafeReadableBytes { try compress(codec, $0) }
    }

    /// Compresses `input` into a new buffer, as the Java producer would.
    public static func compress(_ codec: CompressionCodec, _ input: UnsafeRawBufferPointer) throws -> ByteBuffer {
        switch codec {
        case .none:
            var b = ByteBuffer()
            b.writeBytes(input)
            return b
        case .gzip: return try gzipCompress(input)
        case .snappy: return try snappyCompress(input)
        case .lz4: return try lz4Compress(input, LZ4FrameOptions())
        case .zstd: return try zstdCompress(input)
        }
    }

    /// Decompresses `input`'s readable bytes, refusing to produce more than `maxOutputBytes`.
    public static func decompress(
        _ codec: CompressionCodec, _ input: ByteBuffer, maxOutputBytes: Int
    ) throws -> ByteBuffer {
        try input.withUnsafeReadableBytes { try decompress(codec, $0, maxOutputBytes: maxOutputBytes) }
    }

    /// Decompresses `input`, refusing to produce more than `maxOutputBytes`. Bad input gives a typed error.
    public static func decompress(
        _ codec: CompressionCodec, _ input: UnsafeRawBufferPointer, maxOutputBytes: Int
    ) throws -> ByteBuffer {
        let limit = max(0, maxOutputBytes)
        switch codec {
        case .none:
            guard input.count <= limit else { throw CompressionError.decompressedTooLarge(limit: limit) }
            var b = ByteBuffer()
            b.writeBytes(input)
            return b
        case .gzip: return try gzipDecompress(input, limit: limit)
        case .snappy: return try snappyDecompress(input, limit: limit)
        case .lz4: return try lz4Decompress(input, limit: limit)
        case .zstd: return try zstdDecompress(input, limit: limit)
        }
    }

    // Output grows in chunks; each chunk is checked against the limit before it is reserved.
    private static let chunk = 64 * 1024

    /// The input's bytes from `offset` as a C pointer (never nil, so empty inputs cannot trap).
    private static func pointer(_ input: UnsafeRawBufferPointer, _ offset: Int = 0) -> UnsafeRawPointer {
        guard let base = input.baseAddress else { return UnsafeRawPointer(bitPattern: 1)! }
        return base.advanced(by: offset)
    }

    // MARK: gzip

    private static func gzipCompress(_ input: UnsafeRawBufferPointer) throws -> ByteBuffer {
        var stream = z_stream()
        // windowBits 15 + 16: a gzip wrapper, as java.util.zip.GZIPOutputStream writes. Level 6 is Java's default.
        let size = Int32(MemoryLayout<z_stream>.size)
        guard deflateInit2_(&stream, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, size) == Z_OK else {
            throw CompressionError.compressionFailed(codec: .gzip)
        }
        defer { deflateEnd(&stream) }
        guard input.count <= Int(UInt32.max) else { throw CompressionError.compressionFailed(codec: .gzip) }
        let bound = Int(deflateBound(&stream, uLong(input.count)))
        var out = ByteBuffer()
        var ok = false
        out.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { dst in
            stream.next_in = UnsafeMutablePointer(mutating: pointer(input).assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(input.count)
            stream.next_out = dst.baseAddress?.assumingMemoryBound(to: Bytef.self)
            stream.avail_out = uInt(dst.count)
            ok = deflate(&stream, Z_FINISH) == Z_STREAM_END
            return ok ? Int(stream.total_out) : 0
        }
        guard ok else { throw CompressionError.compressionFailed(codec: .gzip) }
        return out
    }

    private static func gzipDecompress(_ input: UnsafeRawBufferPointer, limit: Int) throws -> ByteBuffer {
        guard input.count > 0 else { throw CompressionError.corrupt(codec: .gzip, reason: "empty stream") }
        guard input.count <= Int(UInt32.max) else { throw CompressionError.corrupt(codec: .gzip, reason: "too long") }
        var out = ByteBuffer()
        var offset = 0
        // GZIPInputStream reads concatenated members; anything after the last member that is not a gzip
        // header is ignored, as Java does.
        repeat {
            var stream = z_stream()
            // windowBits 31 accepts only the gzip wrapper: raw deflate and zlib streams are refused, as in Java.
            guard inflateInit2_(&stream, 31, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                throw CompressionError.corrupt(codec: .gzip, reason: "inflateInit failed")
            }
            defer { inflateEnd(&stream) }
            let src = pointer(input, offset).assumingMemoryBound(to: Bytef.self)
            stream.next_in = UnsafeMutablePointer(mutating: src)
            stream.avail_in = uInt(input.count - offset)
            var result: Int32 = Z_OK
            while result != Z_STREAM_END {
                let room = min(chunk, limit - out.readableBytes)
                if room <= 0 {
                    // Full: only acceptable if the stream ends without producing more.
                    var probe = UInt8(0)
                    withUnsafeMutablePointer(to: &probe) { p in
                        stream.next_out = p
                        stream.avail_out = 1
                        result = inflate(&stream, Z_NO_FLUSH)
                    }
                    if stream.avail_out == 0 { throw CompressionError.decompressedTooLarge(limit: limit) }
                    if result != Z_STREAM_END { throw CompressionError.corrupt(codec: .gzip, reason: "truncated") }
                    break
                }
                let before = stream.avail_in
                var produced = 0
                out.writeWithUnsafeMutableBytes(minimumWritableBytes: room) { dst in
                    stream.next_out = dst.baseAddress?.assumingMemoryBound(to: Bytef.self)
                    stream.avail_out = uInt(room)
                    result = inflate(&stream, Z_NO_FLUSH)
                    produced = room - Int(stream.avail_out)
                    return produced
                }
                if result == Z_STREAM_END { break }
                guard result == Z_OK || result == Z_BUF_ERROR else {
                    throw CompressionError.corrupt(codec: .gzip, reason: String(cString: zError(result)))
                }
                if produced == 0 && stream.avail_in == before {
                    throw CompressionError.corrupt(codec: .gzip, reason: "truncated stream")
                }
            }
            offset = input.count - Int(stream.avail_in)
        } while input.count - offset >= 2 && input[offset] == 0x1F && input[offset + 1] == 0x8B
        return out
    }

    // MARK: snappy (xerial framing)

    /// snappy-java's stream magic: 0x82 "SNAPPY" 0x00.
    static let xerialMagic: [UInt8] = [0x82, 0x53, 0x4E, 0x41, 0x50, 0x50, 0x59, 0x00]
    static let xerialHeaderSize = 16
    // SnappyOutputStream's default block size: each chunk covers at most this much input.
    private static let xerialBlock = 32 * 1024
    // snappy-java's default maximum chunk size when reading.
    private static let xerialMaxChunk = 512 << 20

    private static func snappyCompress(_ input: UnsafeRawBufferPointer) throws -> ByteBuffer {
        var out = ByteBuffer()
        out.reserveCapacity(xerialHeaderSize + input.count + input.count / 6 + 64)
        out.writeBytes(xerialMagic)
        out.writeInteger(Int32(1))  // version
        out.writeInteger(Int32(1))  // minimum compatible version
        var offset = 0
        while offset < input.count {
            let n = min(xerialBlock, input.count - offset)
            let lengthAt = out.writerIndex
            out.writeInteger(Int32(0))
            try snappyBlockCompress(UnsafeRawBufferPointer(rebasing: input[offset..<(offset + n)]), into: &out)
            out.setInteger(Int32(out.writerIndex - lengthAt - 4), at: lengthAt)
            offset += n
        }
        return out
    }

    /// Appends one raw snappy block (no framing). Also how non-Java producers send snappy.
    static func snappyBlockCompress(_ input: UnsafeRawBufferPointer, into out: inout ByteBuffer) throws {
        let bound = snappy_max_compressed_length(input.count)
        var ok = true
        out.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { dst in
            var outLength = dst.count
            let status = snappy_compress(
                pointer(input).assumingMemoryBound(to: CChar.self), input.count,
                dst.baseAddress!.assumingMemoryBound(to: CChar.self), &outLength)
            ok = status == SNAPPY_OK
            return ok ? outLength : 0
        }
        guard ok else { throw CompressionError.compressionFailed(codec: .snappy) }
    }

    private static func snappyDecompress(_ input: UnsafeRawBufferPointer, limit: Int) throws -> ByteBuffer {
        var out = ByteBuffer()
        func matches(_ at: Int, _ count: Int) -> Bool {
            at + count <= input.count && zip(input[at..<(at + count)], xerialMagic[0..<count]).allSatisfy { $0 == $1 }
        }
        guard matches(0, xerialMagic.count) else {
            // Raw snappy: one block, no header (librdkafka and snappy-java both fall back to this).
            try snappyBlock(input, into: &out, limit: limit)
            return out
        }
        func checkHeader(at i: Int) throws {
            guard i + xerialHeaderSize <= input.count else {
                throw CompressionError.corrupt(codec: .snappy, reason: "short xerial header")
            }
            // snappy-java refuses streams whose minimum compatible version is newer than its own (1).
            let compat = readInt32BE(input, at: i + 12)
            guard compat <= 1 else {
                throw CompressionError.corrupt(codec: .snappy, reason: "xerial version \(compat)")
            }
        }
        try checkHeader(at: 0)
        var i = xerialHeaderSize
        while i < input.count {
            if matches(i, 4) {
                // snappy-java compares a chunk length with the magic's first 4 bytes: a second stream follows.
                // When the rest of that header is not the magic, it ends the stream there.
                guard i + xerialHeaderSize <= input.count else {
                    throw CompressionError.corrupt(codec: .snappy, reason: "short concatenated header")
                }
                guard matches(i, xerialMagic.count) else { break }
                try checkHeader(at: i)
                i += xerialHeaderSize
                continue
            }
            guard i + 4 <= input.count else {
                throw CompressionError.corrupt(codec: .snappy, reason: "truncated chunk length")
            }
            let n = Int(readInt32BE(input, at: i))
            i += 4
            guard n >= 0, n <= xerialMaxChunk, n <= input.count - i else {
                throw CompressionError.corrupt(codec: .snappy, reason: "bad chunk length \(n)")
            }
            try snappyBlock(UnsafeRawBufferPointer(rebasing: input[i..<(i + n)]), into: &out, limit: limit)
            i += n
        }
        return out
    }

    private static func readInt32BE(_ input: UnsafeRawBufferPointer, at i: Int) -> Int32 {
        Int32(
            bitPattern: UInt32(input[i]) << 24 | UInt32(input[i + 1]) << 16 | UInt32(input[i + 2]) << 8
                | UInt32(input[i + 3]))
    }

    private static func snappyBlock(_ block: UnsafeRawBufferPointer, into out: inout ByteBuffer, limit: Int) throws {
        guard block.count > 0 else { return }
        let src = pointer(block).assumingMemoryBound(to: CChar.self)
        var length = 0
        guard snappy_uncompressed_length(src, block.count, &length) == SNAPPY_OK else {
            throw CompressionError.corrupt(codec: .snappy, reason: "bad block header")
        }
        // The block states its size up front, so the limit is checked before anything is allocated.
        guard length <= limit - out.readableBytes else { throw CompressionError.decompressedTooLarge(limit: limit) }
        var ok = true
        out.writeWithUnsafeMutableBytes(minimumWritableBytes: max(length, 1)) { dst in
            var outLength = length
            let status = snappy_uncompress(
                src, block.count, dst.baseAddress!.assumingMemoryBound(to: CChar.self), &outLength)
            ok = status == SNAPPY_OK && outLength == length
            return ok ? outLength : 0
        }
        guard ok else { throw CompressionError.corrupt(codec: .snappy, reason: "bad block") }
    }

    // MARK: lz4 (frame format, independent blocks)

    /// Frame settings; the defaults are what Kafka writes (FLG 0x60, BD 0x40). Other values exist for tests.
    struct LZ4FrameOptions {
        /// LZ4F block size id: 4 = 64 KiB, 5 = 256 KiB, 6 = 1 MiB, 7 = 4 MiB.
        var blockSizeID: UInt32 = 4
        var linkedBlocks = false
        var contentSize = false
        var blockChecksum = false
        var contentChecksum = false
    }

    static func lz4Compress(_ input: UnsafeRawBufferPointer, _ options: LZ4FrameOptions) throws -> ByteBuffer {
        var prefs = LZ4F_preferences_t()
        prefs.frameInfo.blockSizeID = LZ4F_blockSizeID_t(rawValue: options.blockSizeID)
        prefs.frameInfo.blockMode = options.linkedBlocks ? LZ4F_blockLinked : LZ4F_blockIndependent
        prefs.frameInfo.contentChecksumFlag =
            options.contentChecksum ? LZ4F_contentChecksumEnabled : LZ4F_noContentChecksum
        prefs.frameInfo.blockChecksumFlag = options.blockChecksum ? LZ4F_blockChecksumEnabled : LZ4F_noBlockChecksum
        prefs.frameInfo.contentSize = options.contentSize ? UInt64(input.count) : 0
        prefs.frameInfo.frameType = LZ4F_frame
        prefs.compressionLevel = 0
        let bound = LZ4F_compressFrameBound(input.count, &prefs)
        var out = ByteBuffer()
        var failed = false
        out.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { dst in
            let n = LZ4F_compressFrame(dst.baseAddress, dst.count, pointer(input), input.count, &prefs)
            failed = LZ4F_isError(n) != 0
            return failed ? 0 : n
        }
        guard !failed else { throw CompressionError.compressionFailed(codec: .lz4) }
        return out
    }

    private static func lz4Decompress(_ input: UnsafeRawBufferPointer, limit: Int) throws -> ByteBuffer {
        func corrupt(_ reason: String) -> CompressionError { .corrupt(codec: .lz4, reason: reason) }
        // Check the frame descriptor ourselves, as Kafka's Lz4BlockInputStream does: LZ4F alone would also
        // accept linked blocks and a dictionary id.
        guard input.count >= 7, input[0] == 0x04, input[1] == 0x22, input[2] == 0x4D, input[3] == 0x18 else {
            throw corrupt("not an LZ4 frame")
        }
        let flg = input[4], bd = input[5]
        guard flg >> 6 == 1 else { throw corrupt("frame version \(flg >> 6)") }
        guard flg & 0x03 == 0 else { throw corrupt("reserved FLG bits set") }
        guard flg & 0x20 != 0 else { throw CompressionError.lz4DependentBlocks }
        // BD: bits 0-3 and 7 reserved; block size id 4-7 (64 KiB, 256 KiB, 1 MiB, 4 MiB).
        guard bd & 0x8F == 0, (4...7).contains(bd >> 4) else { throw corrupt("bad BD byte") }
        if flg & 0x08 != 0 {
            // A stated content size larger than the limit fails now, before any block is decoded.
            guard input.count >= 15 else { throw corrupt("truncated frame descriptor") }
            var size: UInt64 = 0
            for k in 0..<8 { size |= UInt64(input[6 + k]) << (8 * UInt64(k)) }
            guard size <= UInt64(limit) else { throw CompressionError.decompressedTooLarge(limit: limit) }
        }
        var context: OpaquePointer? = nil
        guard LZ4F_isError(LZ4F_createDecompressionContext(&context, UInt32(LZ4F_VERSION))) == 0, let context else {
            throw corrupt("cannot create context")
        }
        defer { LZ4F_freeDecompressionContext(context) }
        var out = ByteBuffer()
        var offset = 0
        var hint = 1
        // Kafka reads one frame per batch; bytes after the end mark are ignored.
        while hint != 0 {
            let room = min(chunk, limit - out.readableBytes)
            var srcSize = input.count - offset
            var produced = 0
            if room <= 0 {
                // Full: the frame must end here with nothing more to produce.
                var probe = UInt8(0)
                var probeSize = 1
                hint = LZ4F_decompress(context, &probe, &probeSize, pointer(input, offset), &srcSize, nil)
                if LZ4F_isError(hint) != 0 { throw corrupt(String(cString: LZ4F_getErrorName(hint))) }
                if probeSize > 0 { throw CompressionError.decompressedTooLarge(limit: limit) }
            } else {
                out.writeWithUnsafeMutableBytes(minimumWritableBytes: room) { dst in
                    var dstSize = room
                    hint = LZ4F_decompress(context, dst.baseAddress, &dstSize, pointer(input, offset), &srcSize, nil)
                    produced = LZ4F_isError(hint) != 0 ? 0 : dstSize
                    return produced
                }
                if LZ4F_isError(hint) != 0 { throw corrupt(String(cString: LZ4F_getErrorName(hint))) }
            }
            offset += srcSize
            if hint != 0 && srcSize == 0 && produced == 0 { throw corrupt("truncated frame") }
        }
        return out
    }

    // MARK: zstd

    /// One zstd frame at level 3 (zstd's and Kafka's default). `statingSize: false` leaves the content size
    /// out of the frame header, as zstd-jni's streaming encoder does; tests use it.
    static func zstdCompress(_ input: UnsafeRawBufferPointer, statingSize: Bool = true) throws -> ByteBuffer {
        guard let context = ZSTD_createCCtx() else { throw CompressionError.compressionFailed(codec: .zstd) }
        defer { ZSTD_freeCCtx(context) }
        _ = ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, 3)
        _ = ZSTD_CCtx_setParameter(context, ZSTD_c_contentSizeFlag, statingSize ? 1 : 0)
        let bound = ZSTD_compressBound(input.count)
        var out = ByteBuffer()
        var failed = false
        out.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { dst in
            let n = ZSTD_compress2(context, dst.baseAddress, dst.count, pointer(input), input.count)
            failed = ZSTD_isError(n) != 0
            return failed ? 0 : n
        }
        guard !failed else { throw CompressionError.compressionFailed(codec: .zstd) }
        return out
    }

    /// The largest zstd window we accept for a given output limit. A frame's window is memory the decoder
    /// allocates before producing anything, so a 20-byte frame could otherwise claim 128 MiB (zstd's default
    /// cap, 2^27). Streaming encoders at levels up to 19 use windows up to 2^23, so 8 MiB is always allowed;
    /// larger windows (levels 20-22) only when the limit is at least half the window.
    static func zstdWindowLogMax(limit: Int) -> Int32 {
        var log: Int32 = 23
        while log < 27 && (1 << Int(log)) < 2 * limit { log += 1 }
        return log
    }

    private static func zstdDecompress(_ input: UnsafeRawBufferPointer, limit: Int) throws -> ByteBuffer {
        func corrupt(_ reason: String) -> CompressionError { .corrupt(codec: .zstd, reason: reason) }
        guard input.count > 0 else { throw corrupt("empty input") }
        // A frame that states its size (the C library writes it; zstd-jni's stream does not) fails early.
        let stated = ZSTD_getFrameContentSize(pointer(input), input.count)
        // UInt64.max and UInt64.max - 1 are ZSTD_CONTENTSIZE_UNKNOWN and _ERROR.
        if stated < UInt64.max - 1, stated > UInt64(limit) {
            throw CompressionError.decompressedTooLarge(limit: limit)
        }
        guard let stream = ZSTD_createDCtx() else { throw corrupt("cannot create context") }
        defer { ZSTD_freeDCtx(stream) }
        _ = ZSTD_DCtx_setParameter(stream, ZSTD_d_windowLogMax, zstdWindowLogMax(limit: limit))
        var inBuffer = ZSTD_inBuffer(src: pointer(input), size: input.count, pos: 0)
        var out = ByteBuffer()
        // The frame may not state its size: stream until the last frame ends and the input is used up.
        while true {
            let room = min(chunk, limit - out.readableBytes)
            let before = inBuffer.pos
            var produced = 0
            var result = 0
            if room <= 0 {
                var probe = UInt8(0)
                var probed = 0
                withUnsafeMutablePointer(to: &probe) { p in
                    var outBuffer = ZSTD_outBuffer(dst: p, size: 1, pos: 0)
                    result = ZSTD_decompressStream(stream, &outBuffer, &inBuffer)
                    probed = outBuffer.pos
                }
                if ZSTD_isError(result) != 0 { throw corrupt(String(cString: ZSTD_getErrorName(result))) }
                if probed > 0 { throw CompressionError.decompressedTooLarge(limit: limit) }
            } else {
                out.writeWithUnsafeMutableBytes(minimumWritableBytes: room) { dst in
                    var outBuffer = ZSTD_outBuffer(dst: dst.baseAddress, size: room, pos: 0)
                    result = ZSTD_decompressStream(stream, &outBuffer, &inBuffer)
                    produced = ZSTD_isError(result) != 0 ? 0 : outBuffer.pos
                    return produced
                }
                if ZSTD_isError(result) != 0 { throw corrupt(String(cString: ZSTD_getErrorName(result))) }
            }
            if result == 0 && inBuffer.pos == inBuffer.size { break }
            if produced == 0 && inBuffer.pos == before { throw corrupt("truncated frame") }
        }
        return out
    }
}
