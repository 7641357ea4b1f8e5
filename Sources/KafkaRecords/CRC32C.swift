import CSkeinCRC32C
import NIOCore

/// CRC-32C (Castagnoli), the checksum of RecordBatch v2 (Java's `Crc32C`). SSE4.2 where the CPU has it,
/// chosen once at load time; a slice-by-8 table otherwise. Both give the same values.
public enum CRC32C {
    /// Whether `checksum` uses the SSE4.2 instruction on this machine.
    public static var isHardwareAccelerated: Bool { skein_crc32c_hardware_available() != 0 }

    /// The CRC of `bytes`, continuing from `initial` (0 to start a new checksum), so calls chain.
    @inlinable
    public static func checksum(_ bytes: UnsafeRawBufferPointer, initial: UInt32 = 0) -> UInt32 {
        skein_crc32c(initial, bytes.baseAddress, bytes.count)
    }

    /// The CRC of a buffer's readable bytes.
    @inlinable
    public static func checksum(_ buffer: ByteBuffer, initial: UInt32 = 0) -> UInt32 {
        buffer.withUnsafeReadableBytes { skein_crc32c(initial, $0.baseAddress, $0.count) }
    }

    /// The portable table implementation, whatever the CPU: for tests and benchmarks.
    public static func tableChecksum(_ bytes: UnsafeRawBufferPointer, initial: UInt32 = 0) -> UInt32 {
        skein_crc32c_table(initial, bytes.baseAddress, bytes.count)
    }

    /// The table implementation over a buffer's readable bytes.
    public static func tableChecksum(_ buffer: ByteBuffer, initial: UInt32 = 0) -> UInt32 {
        buffer.withUnsafeReadableBytes { skein_crc32c_table(initial, $0.baseAddress, $0.count) }
    }
}
