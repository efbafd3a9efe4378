/* edgecoap server: small helpers every server module shares (clocks, hashing). */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_UTIL_H
#define EDGECOAP_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "edgecoap/codec.h"

/** FNV-1a's 64-bit offset basis: the hash of nothing. */
#define EC_FNV1A_INIT 0xcbf29ce484222325ull

/** Continue a 64-bit FNV-1a hash @p h over @p n bytes at @p p. */
uint64_t ec_fnv1a(uint64_t h, const void *p, size_t n);

/** Wall-clock time, UTC milliseconds since the epoch (for stored dates). */
int64_t ec_now_ms(void);

/** Monotonic milliseconds (for timeouts and ages; never jumps). */
uint64_t ec_mono_ms(void);

/**
 * Add the member @p key (1..23 ASCII bytes) with the value @p value >= 0 to
 * an encoded document whose top level is a map of one member (a list
 * answer's envelope, e.g. {"StatusMessages": [...]}), so that a page can say
 * where the next one starts without re-encoding the list.
 * @param[in,out] buf  malloc'd; replaced by a larger block on success
 * @return 0, EC_EINVAL when the document is not such a map, or EC_ENOMEM
 */
int ec_envelope_add_int(ec_format_t fmt, uint8_t **buf, size_t *len,
                        const char *key, int64_t value);

/** ec_envelope_add_int() with a text value of at most 255 bytes that JSON
 * need not escape (a route id). */
int ec_envelope_add_text(ec_format_t fmt, uint8_t **buf, size_t *len,
                         const char *key, const char *value);

#endif /* EDGECOAP_UTIL_H */
