#ifndef PODIUM_CSHA256_H
#define PODIUM_CSHA256_H

#include <stddef.h>
#include <stdint.h>

/// Runs the SHA-256 compression function (FIPS 180-4, 6.2.2) over `count` consecutive 64-byte blocks,
/// updating the eight-word hash `state`. Padding and the final length block are the caller's.
void podium_sha256_blocks(uint32_t state[8], const uint8_t *blocks, size_t count);

#endif
