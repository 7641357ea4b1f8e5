import NIOCore
import SkeinModel
import Testing

@testable import KafkaRecords

enum Inputs {
    static func text(_ n: Int) -> ByteBuffer {
        var b = ByteBuffer()
        var i = 0
        while b.readableBytes < n {
            b.writeString("{\"id\":\(i),\"name\":\"customer-\(i % 97)\",\"status\":\"shipped\"}\n")
            i += 1
        }
        return b.getSlice(at: 0, length: n)!
    }

    static func random(_ n: Int, seed: UInt64) -> ByteBuffer {
        var rng = SeededRandom(seed: seed)
        var b = ByteBuffer()
        b.reserveCapacity(n)
        var left = n
        while left >= 8 {
            b.writeInteger(rng.next() as UInt64)
            left -= 8
        }
        for _ in 0..<left { b.writeInteger(UInt8.random(in: 0...255, using: &rng)) }
        return b
    }

    static func bytes(_ array: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: array) }
}

@Suite struct CompressionTests {
    static let codecs: [CompressionCodec] = [.gzip, .snappy, .lz4, .zstd]

    @Test(arguments: CompressionTests.codecs)
    func roundTripsRandomAndCompressibleData(codec: CompressionCodec) throws {
        var inputs = [0, 1, 7, 32 * 1024, 32 * 1024 + 1, 65_536, 100_000, 300_000].map(Inputs.text)
        inputs += [0, 1, 13, 70_000, 200_001].map { Inputs.random($0, seed: UInt64($0)) }
        for input in inputs {
            let compressed = try Compression.compress(codec, input)
            let back = try Compression.decompress(codec, compressed, maxOutputBytes: 1 << 24)
            #expect(back == input, "\(codec) \(input.readableBytes) bytes")
        }
        // The raw-pointer overloads agree with the buffer ones.
        let input = Inputs.text(5000)
        let viaPointer = try input.withUnsafeReadableBytes { try Compression.compress(codec, $0) }
        let back = try viaPointer.withUnsafeReadableBytes {
            try Compression.decompress(codec, $0, maxOutputBytes: 5000)
        }
        #expect(back == input)
    }

    @Test(arguments: CompressionTests.codecs)
    func outputExactlyAtTheLimitIsAcceptedAndOneOverIsNot(codec: CompressionCodec) throws {
        for n in [1, 4096, 65_536, 65_537, 200_000] {
            let compressed = try Compression.compress(codec, Inputs.text(n))
            let out = try Compression.decompress(codec, compressed, maxOutputBytes: n)
            #expect(out.readableBytes == n)
            // The output buffer never grows past the next power of two above the limit.
            #expect(out.capacity <= 1 << (Int.bitWidth - (n - 1).leadingZeroBitCount), "\(codec) \(out.capacity)")
            #expect(throws: CompressionError.decompressedTooLarge(limit: n - 1)) {
                try Compression.decompress(codec, compressed, maxOutputBytes: n - 1)
            }
        }
        #expect(throws: CompressionError.decompressedTooLarge(limit: 3)) {
            try Compression.decompress(.none, Inputs.text(4), maxOutputBytes: 3)
        }
    }

    @Test func noneIsACopy() throws {
        let input = Inputs.text(100)
        #expect(try Compression.compress(.none, input) == input)
        #expect(try Compression.decompress(.none, input, maxOutputBytes: 100) == input)
    }

    @Test func codecIdsAreKafkas() {
        #expect(CompressionCodec.allCases.map(\.rawValue) == [0, 1, 2, 3, 4])
        #expect(CompressionCodec.allCases.map(\.description) == ["none", "gzip", "snappy", "lz4", "zstd"])
        #expect(CompressionCodec(rawValue: 5) == nil)
    }

    // MARK: snappy

    @Test func snappyWritesXerialFramingInChunksOf32KiB() throws {
        let input = Inputs.text(100_000)
        let xerial = try Compression.compress(.snappy, input)
        let header: [UInt8] = [0x82, 0x53, 0x4E, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1]
        #expect(Array(xerial.readableBytesView.prefix(16)) == header)
        // Walk the chunks: each is an int32 BE length and a raw block of at most 32 KiB of input.
        var b = xerial
        b.moveReaderIndex(forwardBy: 16)
        var sizes: [Int] = []
        while b.readableBytes > 0 {
            let n: Int32 = b.readInteger()!
            let chunk = b.readSlice(length: Int(n))!
            sizes.append(try Compression.decompress(.snappy, chunk, maxOutputBytes: 1 << 20).readableBytes)
        }
        #expect(sizes == [32_768, 32_768, 32_768, 100_000 - 3 * 32_768])
    }

    @Test func snappyReadsRawBlocks() throws {
        for input in [Inputs.text(1), Inputs.text(100_000), Inputs.random(50_000, seed: 9)] {
            var raw = ByteBuffer()
            try input.withUnsafeReadableBytes { try Compression.snappyBlockCompress($0, into: &raw) }
            #expect(raw.readableBytesView.first != 0x82)
            #expect(try Compression.decompress(.snappy, raw, maxOutputBytes: 1 << 20) == input)
        }
    }

    @Test func snappyReadsConcatenatedXerialStreams() throws {
        let a = Inputs.text(40_000), b = Inputs.random(1000, seed: 1)
        var twice = try Compression.compress(.snappy, a)
        twice.writeImmutableBuffer(try Compression.compress(.snappy, b))
        var expected = a
        expected.writeImmutableBuffer(b)
        #expect(try Compression.decompress(.snappy, twice, maxOutputBytes: 1 << 20) == expected)
        // A header alone is an empty stream.
        let empty = try Compression.compress(.snappy, ByteBuffer())
        #expect(empty.readableBytes == 16)
        #expect(try Compression.decompress(.snappy, empty, maxOutputBytes: 0).readableBytes == 0)
    }

    @Test func snappyRejectsBadXerialFraming() throws {
        var valid = try Compression.compress(.snappy, Inputs.text(1000))
        var negative = valid
        negative.setInteger(Int32(-5), at: 16)
        #expect(throws: CompressionError.self) {
            try Compression.decompress(.snappy, negative, maxOutputBytes: 1 << 20)
        }
        var tooLong = valid
        tooLong.setInteger(Int32(1 << 20), at: 16)
        #expect(throws: CompressionError.self) {
            try Compression.decompress(.snappy, tooLong, maxOutputBytes: 1 << 20)
        }
        var newerCompat = valid
        newerCompat.setInteger(Int32(2), at: 12)
        #expect(throws: CompressionError.self) {
            try Compression.decompress(.snappy, newerCompat, maxOutputBytes: 1 << 20)
        }
        valid.moveWriterIndex(to: valid.writerIndex - 1)
        #expect(throws: CompressionError.self) { try Compression.decompress(.snappy, valid, maxOutputBytes: 1 << 20) }
    }

    // MARK: lz4

    @Test func lz4WritesKafkasFrameDescriptor() throws {
        let frame = try Compression.compress(.lz4, Inputs.text(200_000))
        let head = Array(frame.readableBytesView.prefix(7))
        #expect(head[0..<4] == [0x04, 0x22, 0x4D, 0x18])
        #expect(head[4] == 0x60)  // version 01, independent blocks, no checksums, no content size
        #expect(head[5] == 0x40)  // 64 KiB blocks
        #expect(Array(frame.readableBytesView.suffix(4)) == [0, 0, 0, 0])  // end mark
    }

    @Test func lz4RejectsLinkedBlocks() throws {
        let input = Inputs.text(300_000)
        // A real linked-block frame, as many LZ4 libraries write by default.
        let linked = try input.withUnsafeReadableBytes {
            try Compression.lz4Compress($0, .init(linkedBlocks: true))
        }
        #expect(linked.getInteger(at: 4, as: UInt8.self)! & 0x20 == 0)
        #expect(throws: CompressionError.lz4DependentBlocks) {
            try Compression.decompress(.lz4, linked, maxOutputBytes: 1 << 20)
        }
        // And Kafka's own frame with only the independence bit cleared.
        var flipped = try Compression.compress(.lz4, input)
        flipped.setInteger(UInt8(0x40), at: 4)
        #expect(throws: CompressionError.lz4DependentBlocks) {
            try Compression.decompress(.lz4, flipped, maxOutputBytes: 1 << 20)
        }
    }

    @Test(arguments: [UInt32(4), 5, 6, 7])
    func lz4AcceptsEveryKafkaBlockSizeAndOptionalFields(blockSizeID: UInt32) throws {
        let input = Inputs.text(5 << 20)
        for (contentSize, blockChecksum, contentChecksum) in [(false, false, false), (true, true, true)] {
            let options = Compression.LZ4FrameOptions(
                blockSizeID: blockSizeID, contentSize: contentSize, blockChecksum: blockChecksum,
                contentChecksum: contentChecksum)
            let frame = try input.withUnsafeReadableBytes { try Compression.lz4Compress($0, options) }
            #expect(frame.getInteger(at: 5, as: UInt8.self)! >> 4 == UInt8(blockSizeID))
            #expect(try Compression.decompress(.lz4, frame, maxOutputBytes: 8 << 20) == input)
        }
    }

    @Test func lz4RejectsReservedBitsAndAnOversizedContentSize() throws {
        let frame = try Compression.compress(.lz4, Inputs.text(1000))
        for (at, value) in [(4, UInt8(0x61)), (4, 0x62), (4, 0xA0), (5, 0x41), (5, 0xC0), (5, 0x30)] {
            var bad = frame
            bad.setInteger(value, at: at)
            #expect(throws: CompressionError.self) { try Compression.decompress(.lz4, bad, maxOutputBytes: 1 << 20) }
        }
        let sized = try Inputs.text(10_000).withUnsafeReadableBytes {
            try Compression.lz4Compress($0, .init(contentSize: true))
        }
        #expect(throws: CompressionError.decompressedTooLarge(limit: 9_999)) {
            try Compression.decompress(.lz4, sized, maxOutputBytes: 9_999)
        }
    }

    // MARK: gzip

    @Test func gzipIsARealGzipStreamAndMembersConcatenate() throws {
        let input = Inputs.text(5000)
        let gz = try Compression.compress(.gzip, input)
        #expect(Array(gz.readableBytesView.prefix(3)) == [0x1F, 0x8B, 0x08])
        var two = gz
        two.writeImmutableBuffer(gz)
        var expected = input
        expected.writeImmutableBuffer(input)
        #expect(try Compression.decompress(.gzip, two, maxOutputBytes: 1 << 20) == expected)
        // Trailing bytes that are not a gzip header are ignored, as GZIPInputStream does.
        var trailing = gz
        trailing.writeBytes([0, 1, 2])
        #expect(try Compression.decompress(.gzip, trailing, maxOutputBytes: 1 << 20) == input)
    }

    @Test func gzipRejectsRawDeflateAndTheZlibWrapper() throws {
        let input = Inputs.text(5000)
        let gz = Array(try Compression.compress(.gzip, input).readableBytesView)
        // zlib writes a 10-byte gzip header with no optional fields, and an 8-byte trailer.
        let deflate = Array(gz[10..<(gz.count - 8)])
        #expect(throws: CompressionError.self) {
            try Compression.decompress(.gzip, Inputs.bytes(deflate), maxOutputBytes: 1 << 20)
        }
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in input.readableBytesView {
            a = (a + UInt32(byte)) % 65_521
            b = (b + a) % 65_521
        }
        let adler = b << 16 | a
        let zlib = [0x78, 0x9C] + deflate + [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: adler >> $0) }
        #expect(throws: CompressionError.self) {
            try Compression.decompress(.gzip, Inputs.bytes(zlib), maxOutputBytes: 1 << 20)
        }
        #expect(throws: CompressionError.self) { try Compression.decompress(.gzip, ByteBuffer(), maxOutputBytes: 10) }
    }

    // MARK: zstd

    @Test func zstdStreamsFramesThatDoNotStateTheirSize() throws {
        let input = Inputs.text(1 << 20)
        let unsized = try input.withUnsafeReadableBytes { try Compression.zstdCompress($0, statingSize: false) }
        let sized = try Compression.compress(.zstd, input)
        // Frame header descriptor: the top two bits (FCS flag) are 0 without a single-segment content size.
        #expect(unsized.getInteger(at: 4, as: UInt8.self)! & 0xE0 == 0)
        #expect(sized.getInteger(at: 4, as: UInt8.self)! & 0xC0 != 0)
        #expect(try Compression.decompress(.zstd, unsized, maxOutputBytes: 1 << 20) == input)
        #expect(throws: CompressionError.decompressedTooLarge(limit: 1000)) {
            try Compression.decompress(.zstd, unsized, maxOutputBytes: 1000)
        }
        // Concatenated frames decode to the concatenated inputs.
        var two = unsized
        two.writeImmutableBuffer(sized)
        var expected = input
        expected.writeImmutableBuffer(input)
        #expect(try Compression.decompress(.zstd, two, maxOutputBytes: 2 << 20) == expected)
        #expect(Compression.zstdWindowLogMax(limit: 1 << 20) == 23)
        #expect(Compression.zstdWindowLogMax(limit: 8 << 20) == 24)
        #expect(Compression.zstdWindowLogMax(limit: 64 << 20) == 27)
        #expect(Compression.zstdWindowLogMax(limit: 1 << 30) == 27)
    }

    @Test func zstdRefusesWindowsFarLargerThanTheLimit() throws {
        // A hand-made 9-byte frame: no content size, window descriptor 0x78 (2^25 = 32 MiB), one empty last
        // raw block. Decoding it would make zstd allocate the whole window.
        let frame = Inputs.bytes([0x28, 0xB5, 0x2F, 0xFD, 0x00, 0x78, 0x01, 0x00, 0x00])
        #expect(throws: CompressionError.self) { try Compression.decompress(.zstd, frame, maxOutputBytes: 1 << 20) }
        #expect(try Compression.decompress(.zstd, frame, maxOutputBytes: 64 << 20).readableBytes == 0)
    }

    // MARK: robustness

    @Test(arguments: CompressionTests.codecs)
    func corruptInputGivesErrorsNotCrashes(codec: CompressionCodec) throws {
        let valid = try Compression.compress(codec, Inputs.text(100_000))
        var rng = SeededRandom(seed: UInt64(codec.rawValue))
        for i in 0..<600 {
            var bytes = Array(valid.readableBytesView)
            switch i % 3 {
            case 0: bytes.removeLast(Int.random(in: 1..<bytes.count, using: &rng))
            case 1:
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
                }
            default:
                // Corrupt the framing near the start, where lengths and descriptors live.
                let at = Int.random(in: 0..<min(40, bytes.count), using: &rng)
                bytes[at] = UInt8.random(in: 0...255, using: &rng)
            }
            _ = try? Compression.decompress(codec, Inputs.bytes(bytes), maxOutputBytes: 1 << 20)
        }
        for n in [0, 1, 3, 17, 200, 5000] {
            _ = try? Compression.decompress(codec, Inputs.random(n, seed: UInt64(n)), maxOutputBytes: 1 << 20)
        }
        // Empty input: snappy-java reads an empty stream as empty; the other readers call it truncated.
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        if codec == .snappy {
            #expect(try Compression.decompress(codec, empty, maxOutputBytes: 10).readableBytes == 0)
        } else {
            #expect(throws: CompressionError.self) { try Compression.decompress(codec, empty, maxOutputBytes: 10) }
        }
    }
}

/// One 100 MiB input per codec: run one at a time so that memory stays bounded.
@Suite(.serialized) struct DecompressionBombTests {
    static let zeros: ByteBuffer = {
        var b = ByteBuffer()
        b.writeRepeatingByte(0, count: 100 << 20)
        return b
    }()

    @Test(arguments: CompressionTests.codecs)
    func aHundredMiBBombStopsAtOneMiB(codec: CompressionCodec) throws {
        let bomb = try Compression.compress(codec, Self.zeros)
        #expect(bomb.readableBytes < 8 << 20, "\(codec): \(bomb.readableBytes)")
        // Stopping at the limit (no wall-clock bound is asserted; the output-size tests above check that
        // nothing beyond the limit is allocated).
        #expect(throws: CompressionError.decompressedTooLarge(limit: 1 << 20)) {
            try Compression.decompress(codec, bomb, maxOutputBytes: 1 << 20)
        }
    }
}
