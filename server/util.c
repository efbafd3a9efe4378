/* edgecoap server: small helpers every server module shares (clocks, hashing). */
/* SPDX-License-Identifier: Apache-2.0 */
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "edgecoap/error.h"

uint64_t ec_fnv1a(uint64_t h, const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

int64_t ec_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t ec_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int ec_envelope_add_int(ec_format_t fmt, uint8_t **buf, size_t *len,
                        const char *key, int64_t value) {
  size_t klen = strlen(key);
  if (buf == NULL || *buf == NULL || len == NULL || *len < 2 || klen == 0 ||
      klen > 23 || value < 0)
    return EC_EINVAL;
  uint8_t *p = *buf;
  size_t n = *len;
  char tail[64];
  size_t add;
  if (fmt == EC_FORMAT_JSON) {
    if (p[0] != '{' || p[n - 1] != '}')
      return EC_EINVAL;
    int w = snprintf(tail, sizeof(tail), ",\"%s\":%lld}", key,
                     (long long)value);
    add = (size_t)w;
  } else {
    /* A definite map of one member: its head is 0xa1. */
    if (p[0] != 0xa1)
      return EC_EINVAL;
    uint8_t *t = (uint8_t *)tail;
    t[0] = (uint8_t)(0x60 | klen); /* a text string shorter than 24 */
    memcpy(t + 1, key, klen);
    add = 1 + klen;
    uint64_t v = (uint64_t)value;
    if (v < 24) {
      t[add++] = (uint8_t)v;
    } else {
      int bytes = v <= 0xff ? 1 : v <= 0xffff ? 2 : v <= 0xffffffffu ? 4 : 8;
      t[add++] = (uint8_t)(bytes == 1 ? 0x18 : bytes == 2 ? 0x19
                                       : bytes == 4 ? 0x1a : 0x1b);
      for (int i = bytes - 1; i >= 0; i--)
        t[add++] = (uint8_t)(v >> (8 * i));
    }
  }
  uint8_t *q = realloc(p, n + add + 1);
  if (q == NULL)
    return EC_ENOMEM;
  if (fmt == EC_FORMAT_JSON) {
    memcpy(q + n - 1, tail, add); /* replaces the closing brace */
    *len = n - 1 + add;
  } else {
    q[0] = 0xa2;
    memcpy(q + n, tail, add);
    *len = n + add;
  }
  *buf = q;
  return 0;
}
