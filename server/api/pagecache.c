/* edgecoap server API: the pages of an unchanging list kept for their later blocks. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "pagecache.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

/* How long a page waits for its next block (a client asks at once; this
 * leaves room for its retransmissions). */
#define KEEP_MS 10000u
/* The largest block an answer goes in (request.c: szx 6). */
#define BLOCK_BYTES 1024u

typedef struct {
  uint8_t *key;  /* address, identity, format and query; NULL: free slot */
  size_t key_len;
  uint8_t *data;
  size_t len;
  uint64_t etag;
  uint64_t until_ms;
  int code;
} page_t;

struct ec_pagecache {
  unsigned n, next;
  size_t max_len;
  page_t pages[];
};

ec_pagecache_t *ec_pagecache_new(unsigned n, size_t max_len) {
  ec_pagecache_t *c = calloc(1, sizeof(*c) + n * sizeof(page_t));
  if (c != NULL) {
    c->n = n;
    c->max_len = max_len;
  }
  return c;
}

static void page_clear(page_t *p) {
  free(p->key);
  free(p->data);
  memset(p, 0, sizeof(*p));
}

void ec_pagecache_free(ec_pagecache_t *c) {
  if (c == NULL)
    return;
  for (unsigned i = 0; i < c->n; i++)
    page_clear(&c->pages[i]);
  free(c);
}

/* Append @p n bytes of @p p, then its length (so that fields cannot run
 * into each other), to @p out when it is not NULL; the bytes needed. */
static size_t put_field(uint8_t *out, size_t at, const void *p, size_t n) {
  if (out != NULL) {
    if (n > 0)
      memcpy(out + at, p, n);
    memcpy(out + at + n, &n, sizeof(n));
  }
  return n + sizeof(n);
}

/* The requester's key: measured with @p out NULL, then written. */
static size_t key_of(const ec_req_t *rq, uint8_t *out) {
  const coap_address_t *a = coap_session_get_addr_remote(rq->session);
  const coap_bin_const_t *id = coap_session_get_psk_identity(rq->session);
  uint8_t fmt = (uint8_t)rq->resp_fmt;
  size_t at = 0;
  at += put_field(out, at, &a->addr, a->size);
  at += put_field(out, at, id != NULL ? id->s : NULL,
                  id != NULL && id->s != NULL ? id->length : 0);
  at += put_field(out, at, &fmt, 1);
  at += put_field(out, at, rq->query != NULL ? rq->query->s : NULL,
                  rq->query != NULL ? rq->query->length : 0);
  return at;
}

/* The number of the block @p rq asks for (0 without Block2), and the size
 * of its blocks (request.c answers at most 1024 bytes a block). */
static unsigned block_num(const ec_req_t *rq, size_t *size) {
  coap_block_b_t want;
  *size = BLOCK_BYTES;
  if (!ec_req_block2(rq, &want))
    return 0;
  if (want.szx < 6)
    *size = (size_t)1 << (want.szx + 4);
  return want.num;
}

int ec_pagecache_answer(ec_pagecache_t *c, ec_req_t *rq) {
  size_t size;
  if (c == NULL || rq->method != COAP_REQUEST_CODE_GET ||
      block_num(rq, &size) == 0)
    return 0;
  uint8_t stack[512];
  size_t n = key_of(rq, NULL);
  uint8_t *key = n <= sizeof(stack) ? stack : malloc(n);
  if (key == NULL)
    return 0;
  key_of(rq, key);
  uint64_t now = ec_mono_ms();
  int answered = 0;
  for (unsigned i = 0; i < c->n && !answered; i++) {
    page_t *p = &c->pages[i];
    if (p->key == NULL || p->key_len != n || memcmp(p->key, key, n) != 0)
      continue;
    if (now >= p->until_ms) {
      page_clear(p);
      break;
    }
    ec_req_send(rq, p->code, rq->resp_fmt, p->data, p->len, p->etag);
    answered = 1;
  }
  if (key != stack)
    free(key);
  return answered;
}

void ec_pagecache_send(ec_pagecache_t *c, ec_req_t *rq, int code,
                       const uint8_t *data, size_t len, uint64_t etag) {
  ec_req_send(rq, code, rq->resp_fmt, data, len, etag);
  size_t size;
  if (c == NULL || rq->method != COAP_REQUEST_CODE_GET ||
      block_num(rq, &size) != 0 || len <= size || len > c->max_len)
    return;
  size_t n = key_of(rq, NULL);
  uint8_t *key = malloc(n), *copy = malloc(len);
  if (key == NULL || copy == NULL) {
    free(key);
    free(copy);
    return; /* not kept: the later blocks run the handler again */
  }
  key_of(rq, key);
  memcpy(copy, data, len);
  /* The requester's earlier page gives way, else the oldest. */
  page_t *slot = NULL;
  for (unsigned i = 0; i < c->n && slot == NULL; i++)
    if (c->pages[i].key != NULL && c->pages[i].key_len == n &&
        memcmp(c->pages[i].key, key, n) == 0)
      slot = &c->pages[i];
  if (slot == NULL) {
    slot = &c->pages[c->next];
    c->next = (c->next + 1) % c->n;
  }
  page_clear(slot);
  *slot = (page_t){key, n, copy, len, etag, ec_mono_ms() + KEEP_MS, code};
}
