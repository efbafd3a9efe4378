/* edgecoap: the PostgreSQL store's binary array parameters, for statements that
 * take a batch's columns through unnest(). */
/* SPDX-License-Identifier: Apache-2.0 */
#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "pg_internal.h"

static void put(pg_array_t *b, const void *data, size_t len) {
  if (b->oom)
    return;
  if (b->len + len > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 256;
    while (cap < b->len + len)
      cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (p == NULL) {
      b->oom = true;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  if (len > 0)
    memcpy(b->p + b->len, data, len);
  b->len += len;
}

static void put32(pg_array_t *b, int32_t v) {
  uint32_t n = htobe32((uint32_t)v);
  put(b, &n, sizeof(n));
}

void pg_array_head(pg_array_t *b, int oid, size_t n) {
  put32(b, n > 0 ? 1 : 0); /* dimensions */
  put32(b, 1);             /* may hold NULLs */
  put32(b, oid);
  if (n > 0) {
    put32(b, (int32_t)n);
    put32(b, 1); /* lower bound */
  }
}

void pg_array_elem(pg_array_t *b, const void *data, size_t len) {
  if (data == NULL) {
    put32(b, -1);
    return;
  }
  put32(b, (int32_t)len);
  put(b, data, len);
}

void pg_array_i64(pg_array_t *b, int64_t v) {
  uint64_t n = htobe64((uint64_t)v);
  pg_array_elem(b, &n, sizeof(n));
}

void pg_array_i32(pg_array_t *b, int32_t v) {
  uint32_t n = htobe32((uint32_t)v);
  pg_array_elem(b, &n, sizeof(n));
}

void pg_array_text(pg_array_t *b, const char *s) {
  pg_array_elem(b, s, s != NULL ? strlen(s) : 0);
}
