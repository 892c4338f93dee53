#ifndef PODIUM_CCRC32C_H
#define PODIUM_CCRC32C_H

#include <stddef.h>
#include <stdint.h>

/// Whether this processor has a CRC-32C instruction (x86-64 SSE 4.2, or ARMv8 CRC).
int podium_crc32c_available(void);

/// Continues a CRC-32C over `count` bytes with that instruction; `crc` is the running value, not inverted.
/// Only to be called when `podium_crc32c_available()` says so.
uint32_t podium_crc32c_update(uint32_t crc, const void *bytes, size_t count);

#endif
