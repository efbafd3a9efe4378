/* edgecoap: small helpers every layer shares (clocks, hashing). */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_UTIL_H
#define EDGECOAP_UTIL_H

#include <stddef.h>
#include <stdint.h>

/** FNV-1a's 64-bit offset basis: the hash of nothing. */
#define EC_FNV1A_INIT 0xcbf29ce484222325ull

/** Continue a 64-bit FNV-1a hash @p h over @p n bytes at @p p. */
uint64_t ec_fnv1a(uint64_t h, const void *p, size_t n);

/** Wall-clock time, UTC milliseconds since the epoch (for stored dates). */
int64_t ec_now_ms(void);

/** Monotonic milliseconds (for timeouts and ages; never jumps). */
uint64_t ec_mono_ms(void);

/** Monotonic microseconds (for latencies). */
uint64_t ec_mono_us(void);

#endif /* EDGECOAP_UTIL_H */
