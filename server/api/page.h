/* edgecoap server API: list answers in pages, and the members that say where the next one starts. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_PAGE_H
#define EDGECOAP_PAGE_H

#include <stddef.h>
#include <stdint.h>

#include "edgecoap/codec.h"

/* Stored bytes one list answer reads at most (API.md section 1, "Pages"):
 * past it the page ends and says where the next one starts. */
#ifndef EC_PAGE_BYTES
#define EC_PAGE_BYTES (16 * 1024)
#endif

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

#endif /* EDGECOAP_PAGE_H */
