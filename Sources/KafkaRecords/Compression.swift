import CLZ4
import CSnappy
import CZlib
import CZstd
import NIOCore

/// The compression codec of a record batch (attribute bits 0-2).
public enum CompressionCodec: Int16, CaseIterable, Sendable, CustomStringConvertible {
    case none = 0, gzip = 1, snappy = 2, lz4 = 3, zstd = 4

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
    /// The codec's library refused the data.
    case corrupt(codec: CompressionCodec, reason: String)
    /// An LZ4 frame with linked blocks, which Kafka rejects.
    case lz4DependentBlocks
    case compressionFailed(codec: CompressionCodec)
}

/// The four codecs as Kafka writes and reads them (see shared/kafka-protocol/RECORDS.md): gzip streams, snappy in
/// snappy-java's xerial framing (raw accepted on read), LZ4 frames with independent blocks, zstd frames.
public enum Compression {
    /// Compresses `input`'s readable bytes.
    public static func compress(_ codec: CompressionCodec, _ input: ByteBuffer) throws -> ByteBuffer {
        try input.withUnsafeReadableBytes { try compress(codec, $0) }
    }

    public static func compress(_ codec: CompressionCodec, _ input: UnsafeRawBufferPointer) throws -> ByteBuffer {
        switch codec {
        case .none:
            var b = ByteBuffer()
            b.writeBytes(input)
            return b
        case .gzip: return try gzipCompress(input)
        case .snappy: return try snappyCompress(input)
        case .lz4: return try lz4Compress(input)
        case .zstd: return try zstdCompress(input)
        }
    }

    /// Decompresses `input`'s readable bytes, refusing to produce more than `maxOutputBytes`.
    public static func decompress(_ codec: CompressionCodec, _ input: ByteBuffer, maxOutputBytes: Int) throws -> ByteBuffer {
        try input.withUnsafeReadableBytes { try decompress(codec, $0, maxOutputBytes: maxOutputBytes) }
    }

    public static func decompress(_ codec: CompressionCodec, _ input: UnsafeRawBufferPointer, maxOutputBytes: Int) throws -> ByteBuffer {
        switch codec {
        case .none:
            guard input.count <= maxOutputBytes else { throw CompressionError.decompressedTooLarge(limit: maxOutputBytes) }
            var b = ByteBuffer()
            b.writeBytes(input)
            return b
        case .gzip: return try gzipDecompress(input, limit: maxOutputBytes)
        case .snappy: return try snappyDecompress(input, limit: maxOutputBytes)
        case .lz4: return try lz4Decompress(input, limit: maxOutputBytes)
        case .zstd: return try zstdDecompress(input, limit: maxOutputBytes)
        }
    }

    // Output grows in chunks; each chunk is checked against the limit before it is allocated.
    private static let chunk = 64 * 1024

    // MARK: gzip

    private static func gzipCompress(_ input: UnsafeRawBufferPointer) throws -> ByteBuffer {
        var stream = z_stream()
        // windowBits 15 + 16: a gzip wrapper, as java.util.zip.GZIPOutputStream writes. Level 6 is Java's default.
        guard deflateInit2_(&stream, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw CompressionError.compressionFailed(codec: .gzip)
        }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, uLong(input.count)))
        var out = ByteBuffer()
        var ok = false
        out.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { dst in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
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
        var out = ByteBuffer()
        var offset = 0
        // GZIPInputStream reads concatenated members; anything after the last member that is not a gzip
        // header is ignored, as Java does.
        repeat {
            var stream = z_stream()
            guard inflateInit2_(&stream, 31, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                throw CompressionError.corrupt(codec: .gzip, reason: "inflateInit failed")
            }
            defer { inflateEnd(&stream) }
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress!.advanced(by: offset).assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(input.count - offset)
            var result: Int32 = Z_OK
            while result != Z_STREAM_END {
                let room = min(chunk, limit - out.readableBytes)
                if room <= 0 {
                    // Full: only acceptable if the stream ends without producing more.
                    var probe = UInt8(0)
                    stream.next_out = withUnsafeMutablePointer(to: &probe) { $0 }
                    stream.avail_out = 1
                    result = inflate(&stream, Z_NO_FLUSH)
                    if stream.avail_out == 0 { throw CompressionError.decompressedTooLarge(limit: limit) }
                    if result != Z_STREAM_END { throw CompressionError.corrupt(codec: .gzip, reason: "truncated stream") }
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

    static let xerialMagic: [UInt8] = [0x82, 0x53, 0x4E, 0x41, 0x50, 0x50, 0x59, 0x00]
    private static let xerialBlock = 32 * 1024

    private static func snappyCompress(_ input: UnsafeRawBufferPointer) throws -> ByteBuffer {
        var out = ByteBuffer()
        out.writeBytes(xerialMagic)
        out.writeInteger(Int32(1))  // version
        out.writeInteger(Int32(1))  // minimum compatible version
        var offset = 0
        while offset < input.count {
            let n = min(xerialBlock, input.count - offset)
            let bound = snappy_max_compressed_length(n)
            let lengthAt = out.writerIndex
            out.writeInteger(Int32(0))
            var ok = true
            out.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { dst in
                var outLength = dst.count
                let status = snappy_compress(
                    input.baseAddress!.advanced(by: offset).assumingMemoryBound(to: CChar.self), n,
                    dst.baseAddress!.assumingMemoryBound(to: CChar.self), &outLength)
                ok = status == SNAPPY_OK
                return ok ? outLength : 0
            }
            guard ok else { throw CompressionError.compressionFailed(codec: .snappy) }
            out.setInteger(Int32(out.writerIndex - lengthAt - 4), at: lengthAt)
            offset += n
        }
        return out
    }

    private static func snappyDecompress(_ input: UnsafeRawBufferPointer, limit: Int) throws -> ByteBuffer {
        var out = ByteBuffer()
        func isMagic(at i: Int) -> Bool {
            i + 8 <= input.count && zip(input[i..<(i + 8)], xerialMagic).allSatisfy { $0 == $1 }
        }
        guard isMagic(at: 0) else {
            // Raw snappy: one block, no header (librdkafka and snappy-java both fall back to this).
            try snappyBlock(input, into: &out, limit: limit)
            return out
        }
        guard input.count >= 16 else { throw CompressionError.corrupt(codec: .snappy, reason: "short xerial header") }
        var i = 16
        while i < input.count {
            if isMagic(at: i) {
                // A second stream concatenated to the first.
                guard i + 16 <= input.count else { throw CompressionError.corrupt(codec: .snappy, reason: "short xerial header") }
                i += 16
                continue
            }
            guard i + 4 <= input.count else { throw CompressionError.corrupt(codec: .snappy, reason: "truncated chunk length") }
            let n = Int(Int32(bitPattern: UInt32(input[i]) << 24 | UInt32(input[i + 1]) << 16 | UInt32(input[i + 2]) << 8 | UInt32(input[i + 3])))
            i += 4
            guard n >= 0, n <= input.count - i else { throw CompressionError.corrupt(codec: .snappy, reason: "bad chunk length \(n)") }
            try snappyBlock(UnsafeRawBufferPointer(rebasing: input[i..<(i + n)]), into: &out, limit: limit)
            i += n
        }
        return out
    }

    private static func snappyBlock(_ block: UnsafeRawBufferPointer, into out: inout ByteBuffer, limit: Int) throws {
        guard block.count > 0 else { return }
        let src = block.baseAddress!.assumingMemoryBound(to: CChar.self)
        var length = 0
        guard snappy_uncompressed_length(src, block.count, &length) == SNAPPY_OK else {
            throw CompressionError.corrupt(codec: .snappy, reason: "bad block header")
        }
        guard length <= limit - out.readableBytes else { throw CompressionError.decompressedTooLarge(limit: limit) }
        var ok = true
        out.writeWithUnsafeMutableBytes(minimumWritableBytes: max(length, 1)) { dst in
            var outLength = length
            ok = snappy_uncompress(src, block.count, dst.baseAddress!.assumingMemoryBound(to: CChar.self), &outLength) == SNAPPY_OK
            return ok ? outLength : 0
        }
        guard ok else { throw CompressionError.corrupt(codec: .snappy, reason: "bad block") }
    }

    // MARK: lz4 (frame format, independent blocks)

    private static func lz4Compress(_ input: UnsafeRawBufferPointer) throws -> ByteBuffer {
        var prefs = LZ4F_preferences_t()
        prefs.frameInfo.blockSizeID = LZ4F_max64KB
        prefs.frameInfo.blockMode = LZ4F_blockIndependent
        prefs.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum
        prefs.frameInfo.blockChecksumFlag = LZ4F_noBlockChecksum
        prefs.frameInfo.frameType = LZ4F_frame
        prefs.compressionLevel = 0
        let bound = LZ4F_compressFrameBound(input.count, &prefs)
        var out = ByteBuffer()
        var failed = false
        out.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { dst in
            let n = LZ4F_compressFrame(dst.baseAddress, dst.count, input.baseAddress, input.count, &prefs)
            failed = LZ4F_isError(n) != 0
            return failed ? 0 : n
        }
        guard !failed else { throw CompressionError.compressionFailed(codec: .lz4) }
        return out
    }

    private static func lz4Decompress(_ input: UnsafeRawBufferPointer, limit: Int) throws -> ByteBuffer {
        // Check the frame descriptor ourselves: Kafka accepts only version 01 with independent blocks.
        guard input.count >= 7, input[0] == 0x04, input[1] == 0x22, input[2] == 0x4D, input[3] == 0x18 else {
            throw CompressionError.corrupt(codec: .lz4, reason: "not an LZ4 frame")
        }
        let flg = input[4]
        guard flg >> 6 == 1, flg & 0x02 == 0 else { throw CompressionError.corrupt(codec: .lz4, reason: "unsupported frame version") }
        guard flg & 0x20 != 0 else { throw CompressionError.lz4DependentBlocks }
        var context: OpaquePointer? = nil
        guard LZ4F_isError(LZ4F_createDecompressionContext(&context, UInt32(LZ4F_VERSION))) == 0, let context else {
            throw CompressionError.corrupt(codec: .lz4, reason: "cannot create context")
        }
        defer { LZ4F_freeDecompressionContext(context) }
        var out = ByteBuffer()
        var offset = 0
        var hint = 1
        while hint != 0 {
            let room = min(chunk, limit - out.readableBytes)
            if room <= 0 {
                // Full: the frame must end here with nothing more to produce.
                var probe = UInt8(0)
                var probeSize = 1
                var srcSize = input.count - offset
                hint = LZ4F_decompress(context, &probe, &probeSize, input.baseAddress!.advanced(by: offset), &srcSize, nil)
                if probeSize > 0 { throw CompressionError.decompressedTooLarge(limit: limit) }
                if LZ4F_isError(hint) != 0 { throw CompressionError.corrupt(codec: .lz4, reason: String(cString: LZ4F_getErrorName(hint))) }
                offset += srcSize
                if hint != 0 && srcSize == 0 { throw CompressionError.corrupt(codec: .lz4, reason: "truncated frame") }
                continue
            }
            var srcSize = input.count - offset
            var produced = 0
            out.writeWithUnsafeMutableBytes(minimumWritableBytes: room) { dst in
                var dstSize = room
                hint = LZ4F_decompress(context, dst.baseAddress, &dstSize, input.baseAddress!.advanced(by: offset), &srcSize, nil)
                produced = LZ4F_isError(hint) != 0 ? 0 : dstSize
                return produced
            }
            if LZ4F_isError(hint) != 0 { throw CompressionError.corrupt(codec: .lz4, reason: String(cString: LZ4F_getErrorName(hint))) }
            offset += srcSize
            if hint != 0 && srcSize == 0 && produced == 0 { throw CompressionError.corrupt(codec: .lz4, reason: "truncated frame") }
        }
        return out
    }

    // MARK: zstd

    private static func zstdCompress(_ input: UnsafeRawBufferPointer) throws -> ByteBuffer {
        let bound = ZSTD_compressBound(input.count)
        var out = ByteBuffer()
        var failed = false
        out.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { dst in
            let n = ZSTD_compress(dst.baseAddress, dst.count, input.baseAddress, input.count, 3)
            failed = ZSTD_isError(n) != 0
            return failed ? 0 : n
        }
        guard !failed else { throw CompressionError.compressionFailed(codec: .zstd) }
        return out
    }

    private static func zstdDecompress(_ input: UnsafeRawBufferPointer, limit: Int) throws -> ByteBuffer {
        guard let stream = ZSTD_createDStream() else { throw CompressionError.corrupt(codec: .zstd, reason: "cannot create stream") }
        defer { ZSTD_freeDStream(stream) }
        ZSTD_initDStream(stream)
        var inBuffer = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        var out = ByteBuffer()
        // The frame may not state its size: stream until the frame ends and the input is used up.
        while true {
            let room = min(chunk, limit - out.readableBytes)
            if room <= 0 {
                var probe = UInt8(0)
                var outBuffer = withUnsafeMutablePointer(to: &probe) { ZSTD_outBuffer(dst: $0, size: 1, pos: 0) }
                let r = ZSTD_decompressStream(stream, &outBuffer, &inBuffer)
                if outBuffer.pos > 0 { throw CompressionError.decompressedTooLarge(limit: limit) }
                if ZSTD_isError(r) != 0 { throw CompressionError.corrupt(codec: .zstd, reason: String(cString: ZSTD_getErrorName(r))) }
                if r == 0 && inBuffer.pos == inBuffer.size { break }
                if inBuffer.pos == inBuffer.size { throw CompressionError.corrupt(codec: .zstd, reason: "truncated frame") }
                continue
            }
            var result = 0
            let before = inBuffer.pos
            var produced = 0
            out.writeWithUnsafeMutableBytes(minimumWritableBytes: room) { dst in
                var outBuffer = ZSTD_outBuffer(dst: dst.baseAddress, size: room, pos: 0)
                result = ZSTD_decompressStream(stream, &outBuffer, &inBuffer)
                produced = ZSTD_isError(result) != 0 ? 0 : outBuffer.pos
                return produced
            }
            if ZSTD_isError(result) != 0 { throw CompressionError.corrupt(codec: .zstd, reason: String(cString: ZSTD_getErrorName(result))) }
            if result == 0 && inBuffer.pos == inBuffer.size { break }
            if produced == 0 && inBuffer.pos == before {
                throw CompressionError.corrupt(codec: .zstd, reason: "truncated frame")
            }
        }
        return out
    }
}
