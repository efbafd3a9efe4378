/* edgecoap tests: helpers shared by the support files (itproc.c, itserver.c,
 * itcoap.c), not for suites. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_ITEST_INTERNAL_H
#define EDGECOAP_ITEST_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* A growing byte buffer, always NUL-terminated; output past a cap is
 * dropped, so a runaway child cannot exhaust memory. */
typedef struct {
  char *data;
  size_t len, cap;
} it__buf_t;

/** Append @p n bytes; 0, or -1 when out of memory. */
int it__buf_append(it__buf_t *b, const void *p, size_t n);

/** Milliseconds left until the it_now_ms() @p deadline (0 when past). */
unsigned it__remaining_ms(uint64_t deadline);

/** Complete lines of @p text that contain @p needle (an unfinished last
 * line is not counted yet). */
int it__count_lines(const char *text, const char *needle);

#endif /* EDGECOAP_ITEST_INTERNAL_H */
