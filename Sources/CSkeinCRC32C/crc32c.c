// CRC-32C: SSE4.2 where the CPU has it (three interleaved streams, recombined with a shift table), and a
// slice-by-8 table otherwise. The target attribute keeps -msse4.2 out of the build flags, so the library still
// loads on CPUs without SSE4.2; __builtin_cpu_supports picks the path once, at load time.
#include "CSkeinCRC32C.h"

#include <string.h>

#define POLY 0x82F63B78u

static uint32_t table[8][256];
static int hardware;

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

// shift_table[k][b]: the effect of appending `block` zero bytes on a CRC whose low byte at position k is b.
#define BLOCK 2048
static uint32_t shift_table[4][256];

static uint32_t crc_register_after_zeros(uint32_t crc, size_t zeros) {
    while (zeros--) crc = table[0][crc & 0xFF] ^ (crc >> 8);
    return crc;
}

__attribute__((constructor)) static void crc32c_init(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
        table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = table[0][n];
        for (int k = 1; k < 8; k++) {
            c = table[0][c & 0xFF] ^ (c >> 8);
            table[k][n] = c;
        }
    }
    // Appending zeros is linear over GF(2): shift the 32 single-bit registers (32 x BLOCK steps, not
    // 1024 x BLOCK), then build every table entry as the XOR of the shifted bits it contains.
    uint32_t bit_shifted[32];
    for (int i = 0; i < 32; i++) bit_shifted[i] = crc_register_after_zeros(1u << i, BLOCK);
    for (int k = 0; k < 4; k++)
        for (uint32_t b = 0; b < 256; b++) {
            uint32_t v = 0;
            for (int i = 0; i < 8; i++)
                if (b & (1u << i)) v ^= bit_shifted[8 * k + i];
            shift_table[k][b] = v;
        }
#if defined(__x86_64__)
    // Constructors may run before the runtime has filled in the CPU model, so initialise it first.
    __builtin_cpu_init();
    hardware = __builtin_cpu_supports("sse4.2") ? 1 : 0;
#endif
}

uint32_t skein_crc32c_table(uint32_t crc, const void *data, size_t length) {
    const uint8_t *p = (const uint8_t *)data;
    uint32_t c = ~crc;
    while (length && ((uintptr_t)p & 7)) {
        c = table[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
        length--;
    }
    while (length >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        v ^= c;
        c = table[7][v & 0xFF] ^ table[6][(v >> 8) & 0xFF] ^ table[5][(v >> 16) & 0xFF] ^
            table[4][(v >> 24) & 0xFF] ^ table[3][(v >> 32) & 0xFF] ^ table[2][(v >> 40) & 0xFF] ^
            table[1][(v >> 48) & 0xFF] ^ table[0][v >> 56];
        p += 8;
        length -= 8;
    }
    while (length--) c = table[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
    return ~c;
}

#if defined(__x86_64__)
static inline uint32_t shift_block(uint32_t crc) {
    return shift_table[0][crc & 0xFF] ^ shift_table[1][(crc >> 8) & 0xFF] ^
           shift_table[2][(crc >> 16) & 0xFF] ^ shift_table[3][crc >> 24];
}

__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t crc, const uint8_t *p, size_t length) {
    uint64_t c0 = (uint32_t)~crc;
    while (length && ((uintptr_t)p & 7)) {
        c0 = _mm_crc32_u8((uint32_t)c0, *p++);
        length--;
    }
    // Three independent streams hide the instruction's 3-cycle latency; each covers BLOCK bytes.
    while (length >= 3 * BLOCK) {
        uint64_t c1 = 0, c2 = 0;
        const uint8_t *p1 = p + BLOCK, *p2 = p + 2 * BLOCK;
        for (size_t i = 0; i < BLOCK; i += 8) {
            uint64_t v0, v1, v2;
            memcpy(&v0, p + i, 8);
            memcpy(&v1, p1 + i, 8);
            memcpy(&v2, p2 + i, 8);
            c0 = _mm_crc32_u64(c0, v0);
            c1 = _mm_crc32_u64(c1, v1);
            c2 = _mm_crc32_u64(c2, v2);
        }
        // crc(A B C) = shift(shift(crcA) ^ crcB) ^ crcC, with raw (non-inverted) register values.
        c0 = shift_block(shift_block((uint32_t)c0) ^ (uint32_t)c1) ^ (uint32_t)c2;
        p += 3 * BLOCK;
        length -= 3 * BLOCK;
    }
    while (length >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c0 = _mm_crc32_u64(c0, v);
        p += 8;
        length -= 8;
    }
    while (length--) c0 = _mm_crc32_u8((uint32_t)c0, *p++);
    return ~(uint32_t)c0;
}
#endif

uint32_t skein_crc32c(uint32_t crc, const void *data, size_t length) {
#if defined(__x86_64__)
    if (hardware) return crc32c_sse42(crc, (const uint8_t *)data, length);
#endif
    return skein_crc32c_table(crc, data, length);
}

int skein_crc32c_hardware_available(void) { return hardware; }
