#ifndef CSKEIN_CRC32C_H
#define CSKEIN_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/// CRC-32C (Castagnoli), as Kafka's record batches use it. `crc` is the running value (0 to start), so that
/// calls chain: skein_crc32c(skein_crc32c(0, a, n), b, m) == CRC of a followed by b. `data` may be NULL when
/// `length` is 0. Uses SSE4.2 when the CPU has it (checked once at load time), else the table.
uint32_t skein_crc32c(uint32_t crc, const void *data, size_t length);

/// The portable slice-by-8 table implementation, whatever the CPU (for tests and benchmarks).
uint32_t skein_crc32c_table(uint32_t crc, const void *data, size_t length);

/// 1 when `skein_crc32c` uses the SSE4.2 instruction, else 0.
int skein_crc32c_hardware_available(void);

#endif
