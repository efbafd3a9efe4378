/* edgecoap codec: the bump allocator that decoded documents live in. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "edgecoap/codec.h"

void ec_arena_init(ec_arena_t *a, void *buf, size_t cap) {
  if (a == NULL) {
    return;
  }
  a->base = buf;
  /* A NULL buffer is an arena that is always full, never a wild pointer. */
  a->cap = buf != NULL ? cap : 0;
  a->used = 0;
}

void ec_arena_reset(ec_arena_t *a) {
  if (a != NULL) {
    a->used = 0;
  }
}

/* Hand out @p n bytes at the next multiple of @p align (a power of two). */
static void *bump(ec_arena_t *a, size_t n, size_t align) {
  if (a == NULL || a->base == NULL || a->used > a->cap) {
    return NULL;
  }
  /* Align the address itself, not the offset: the caller's buffer may start
   * anywhere. */
  uintptr_t at = (uintptr_t)(a->base + a->used);
  size_t pad = (size_t)((align - (at & (align - 1))) & (align - 1));
  size_t room = a->cap - a->used;
  if (pad > room || n > room - pad) {
    return NULL;
  }
  void *p = a->base + a->used + pad;
  a->used += pad + n;
  return p;
}

void *ec_arena_alloc(ec_arena_t *a, size_t n) {
  /* Zero-byte requests still get a distinct, usable pointer, so callers never
   * confuse "nothing asked for" with "arena full". */
  return bump(a, n > 0 ? n : 1, alignof(max_align_t));
}

char *ec_arena_strndup(ec_arena_t *a, const char *s, size_t len) {
  if ((s == NULL && len > 0) || len == SIZE_MAX) {
    return NULL;
  }
  /* Strings need no alignment; packing them keeps a document of many short
   * strings from costing a max_align_t per string. */
  char *p = bump(a, len + 1, 1);
  if (p == NULL) {
    return NULL;
  }
  if (len > 0) {
    memcpy(p, s, len);
  }
  p[len] = '\0';
  return p;
}
