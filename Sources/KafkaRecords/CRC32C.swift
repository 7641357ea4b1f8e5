import CSkeinCRC32C
import NIOCore

/// CRC-32C (Castagnoli), the checksum of RecordBatch v2. Hardware (SSE4.2) where available.
public enum CRC32C {
    /// Whether `checksum` uses the SSE4.2 instruction on this machine.
    public static var isHardwareAccelerated: Bool { skein_crc32c_hardware_available() != 0 }

    /// The CRC of `bytes`, continuing from `initial` (0 to start a new checksum).
    @inlinable
    public static func checksum(_ bytes: UnsafeRawBufferPointer, initial: UInt32 = 0) -> UInt32 {
        skein_crc32c(initial, bytes.baseAddress, bytes.count)
    }

    /// The CRC of a buffer's readable bytes.
    @inlinable
    public static func checksum(_ buffer: ByteBuffer, initial: UInt32 = 0) -> UInt32 {
        buffer.withUnsafeReadableBytes { skein_crc32c(initial, $0.baseAddress, $0.count) }
    }

    /// The portable table implementation, for tests and benchmarks.
    public static func tableChecksum(_ bytes: UnsafeRawBufferPointer, initial: UInt32 = 0) -> UInt32 {
        skein_crc32c_table(initial, bytes.baseAddress, bytes.count)
    }
}
