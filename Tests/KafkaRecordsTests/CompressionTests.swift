import KafkaRecords
import NIOCore
import SkeinModel
import Testing

@Suite struct CompressionTests {
    static let codecs: [CompressionCodec] = [.gzip, .snappy, .lz4, .zstd]

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
        b.writeBytes((0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) })
        return b
    }

    @Test(arguments: CompressionTests.codecs)
    func roundTrips(codec: CompressionCodec) throws {
        for input in [Self.text(0), Self.text(1), Self.text(100_000), Self.random(70_000, seed: 3), Self.text(300_000)] {
            let compressed = try Compression.compress(codec, input)
            let back = try Compression.decompress(codec, compressed, maxOutputBytes: 1 << 24)
            #expect(back == input, "\(codec) \(input.readableBytes) bytes")
        }
    }

    @Test(arguments: CompressionTests.codecs)
    func decompressionIsBounded(codec: CompressionCodec) throws {
        // 32 MiB of zeros compresses to almost nothing; a 1 MiB limit must stop it without allocating it all.
        var zeros = ByteBuffer()
        zeros.writeRepeatingByte(0, count: 32 << 20)
        let bomb = try Compression.compress(codec, zeros)
        #expect(bomb.readableBytes < 2 << 20)
        #expect(throws: CompressionError.decompressedTooLarge(limit: 1 << 20)) {
            try Compression.decompress(codec, bomb, maxOutputBytes: 1 << 20)
        }
        // Exactly at the limit is fine.
        let exact = try Compression.compress(codec, Self.text(4096))
        #expect(try Compression.decompress(codec, exact, maxOutputBytes: 4096).readableBytes == 4096)
    }

    @Test func snappyWritesXerialAndReadsRaw() throws {
        let input = Self.text(100_000)
        let xerial = try Compression.compress(.snappy, input)
        #expect(Array(xerial.readableBytesView.prefix(16)) == [0x82, 0x53, 0x4E, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1])
        // Four chunks of at most 32 KiB of input each: read the first chunk's length and raw-decode it.
        var b = xerial
        b.moveReaderIndex(forwardBy: 16)
        let n: Int32 = b.readInteger()!
        let rawChunk = b.readSlice(length: Int(n))!
        let decoded = try Compression.decompress(.snappy, rawChunk, maxOutputBytes: 1 << 20)
        #expect(decoded == input.getSlice(at: 0, length: 32 * 1024))
        // Two xerial streams back to back (Java accepts a second header where a chunk length is expected).
        var twice = xerial
        twice.writeImmutableBuffer(xerial)
        var expected = input
        expected.writeImmutableBuffer(input)
        #expect(try Compression.decompress(.snappy, twice, maxOutputBytes: 1 << 20) == expected)
    }

    @Test func lz4WritesKafkasFrameAndRejectsLinkedBlocks() throws {
        let frame = try Compression.compress(.lz4, Self.text(10_000))
        let head = Array(frame.readableBytesView.prefix(6))
        #expect(head[0..<4] == [0x04, 0x22, 0x4D, 0x18])
        #expect(head[4] == 0x60)  // version 01, independent blocks, no checksums
        #expect(head[5] == 0x40)  // 64 KiB blocks
        // Clear the block-independence bit: Kafka rejects such frames.
        var linked = frame
        linked.setInteger(UInt8(0x40), at: linked.readerIndex + 4)
        #expect(throws: CompressionError.lz4DependentBlocks) { try Compression.decompress(.lz4, linked, maxOutputBytes: 1 << 20) }
    }

    @Test func gzipIsARealGzipStreamAndMembersConcatenate() throws {
        let input = Self.text(5000)
        let gz = try Compression.compress(.gzip, input)
        #expect(Array(gz.readableBytesView.prefix(3)) == [0x1F, 0x8B, 0x08])
        var two = gz
        two.writeImmutableBuffer(gz)
        var expected = input
        expected.writeImmutableBuffer(input)
        #expect(try Compression.decompress(.gzip, two, maxOutputBytes: 1 << 20) == expected)
    }

    @Test(arguments: CompressionTests.codecs)
    func corruptInputGivesErrorsNotCrashes(codec: CompressionCodec) throws {
        let valid = try Compression.compress(codec, Self.text(20_000))
        var rng = SeededRandom(seed: UInt64(codec.rawValue))
        for i in 0..<400 {
            var bytes = Array(valid.readableBytesView)
            if i % 2 == 0 {
                bytes.removeLast(Int.random(in: 1..<bytes.count, using: &rng))
            } else {
                for _ in 0..<4 { bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng) }
            }
            var b = ByteBuffer()
            b.writeBytes(bytes)
            _ = try? Compression.decompress(codec, b, maxOutputBytes: 1 << 20)
        }
        for n in [0, 1, 3, 17, 200] {
            _ = try? Compression.decompress(codec, Self.random(n, seed: UInt64(n)), maxOutputBytes: 1 << 20)
        }
    }
}
