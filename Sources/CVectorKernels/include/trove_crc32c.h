#ifndef TROVE_CRC32C_H
#define TROVE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/// Extends a CRC-32C (Castagnoli) over `count` bytes; start with 0. Uses the SSE 4.2 crc32
/// instruction when the CPU has it.
uint32_t trove_crc32c(uint32_t crc, const void *bytes, size_t count);

#endif
