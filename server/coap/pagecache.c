/* edgecoap server: the pages of an unchanging list kept for their later blocks. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "pagecache.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "accesslog.h"
#include "router.h"
#include "util.h"

/* How long a page waits for its next block (a client asks at once; this
 * leaves room for its retransmissions). */
#define KEEP_MS 10000u

typedef struct {
  uint8_t *key; /* ec_pagecache.h's requester (key_*()), then the page's
                 * data and path in the same block; NULL: free slot */
  size_t key_len;
  uint64_t hash; /* of the key, compared first */
  int next;      /* the next page in its hash bucket, -1 for none */
  bool plain;   /* a coap:// requester's */
  uint64_t until_ms;
  ec_page_t page;
} page_t;

struct ec_pagecache {
  unsigned n, next;
  unsigned n_plain; /* pages of coap:// requesters */
  size_t max_len;
  size_t budget, bytes; /* for all pages' data, and what they hold now */
  int *bucket;          /* n hash buckets: each its first page, or -1 */
  page_t pages[];
};

static int *bucket_of(ec_pagecache_t *c, uint64_t hash) {
  return &c->bucket[hash % c->n];
}

ec_pagecache_t *ec_pagecache_new(unsigned n, size_t max_len, size_t budget) {
  if (n == 0 || max_len > budget)
    return NULL;
  ec_pagecache_t *c = calloc(1, sizeof(*c) + n * sizeof(page_t));
  int *bucket = malloc(n * sizeof(*bucket));
  if (c == NULL || bucket == NULL) {
    free(c);
    free(bucket);
    return NULL;
  }
  c->n = n;
  c->max_len = max_len;
  c->budget = budget;
  c->bucket = bucket;
  for (unsigned i = 0; i < n; i++)
    bucket[i] = -1;
  return c;
}

static void page_clear(ec_pagecache_t *c, page_t *p) {
  if (p->key != NULL) {
    int i = (int)(p - c->pages);
    int *at = bucket_of(c, p->hash);
    while (*at != i)
      at = &c->pages[*at].next;
    *at = p->next;
  }
  if (p->key != NULL && p->plain)
    c->n_plain--;
  c->bytes -= p->page.len;
  free(p->key); /* the page's data and path with it */
  memset(p, 0, sizeof(*p));
}

void ec_pagecache_free(ec_pagecache_t *c) {
  if (c == NULL)
    return;
  for (unsigned i = 0; i < c->n; i++)
    page_clear(c, &c->pages[i]);
  free(c->bucket);
  free(c);
}

/* ---- the requester's key -------------------------------------------------- */

/*
 * [transport][address][identity][options], where the address is its
 * family, port and bytes (so that libcoap's copy and recvfrom()'s compare
 * equal), the identity is a DTLS session's (length first), and each option
 * but Block2, Size2 and Echo is its number, length and value. Measured
 * with @p out NULL, then written; capped at @p cap (0 when past it).
 */
typedef struct {
  uint8_t *out;
  size_t at, cap;
} keybuf_t;

static void put(keybuf_t *k, const void *p, size_t n) {
  if (k->out != NULL && k->at + n <= k->cap && n > 0)
    memcpy(k->out + k->at, p, n);
  k->at += n;
}

static void put_u16(keybuf_t *k, size_t v) {
  uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
  put(k, b, 2);
}

static void put_addr(keybuf_t *k, const struct sockaddr *sa) {
  uint8_t fam = (uint8_t)sa->sa_family;
  put(k, &fam, 1);
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    put(k, &in->sin_port, sizeof(in->sin_port));
    put(k, &in->sin_addr, sizeof(in->sin_addr));
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    put(k, &in6->sin6_port, sizeof(in6->sin6_port));
    put(k, &in6->sin6_addr, sizeof(in6->sin6_addr));
    put(k, &in6->sin6_scope_id, sizeof(in6->sin6_scope_id));
  }
}

static void put_options(keybuf_t *k, ec_req_optw_t *w) {
  const coap_opt_t *opt;
  const uint8_t *value;
  size_t len;
  while (ec_req_optw_next(w, &opt, &value, &len)) {
    if (w->number == COAP_OPTION_BLOCK2 || w->number == COAP_OPTION_SIZE2 ||
        w->number == COAP_OPTION_ECHO)
      continue;
    put_u16(k, w->number);
    put_u16(k, len);
    put(k, value, len);
  }
}

/* The key of @p rq's requester; its length (bytes of @p cap written). */
static size_t key_req(const ec_req_t *rq, uint8_t *out, size_t cap) {
  keybuf_t k = {out, 0, cap};
  const coap_address_t *a = coap_session_get_addr_remote(rq->session);
  bool dtls = coap_session_get_proto(rq->session) == COAP_PROTO_DTLS;
  uint8_t proto = dtls;
  put(&k, &proto, 1);
  put_addr(&k, &a->addr.sa);
  if (dtls) {
    const coap_bin_const_t *id = coap_session_get_psk_identity(rq->session);
    size_t n = id != NULL && id->s != NULL ? id->length : 0;
    put_u16(&k, n);
    put(&k, n > 0 ? id->s : NULL, n);
  }
  ec_req_optw_t w;
  ec_req_optw_init(&w, rq->request);
  put_options(&k, &w);
  return k.at;
}

/* The key of a coap:// requester from its datagram's parts; 0 when its
 * options do not parse to the datagram's end (a payload, or malformed). */
static size_t key_raw(const struct sockaddr *from, const uint8_t *opts,
                      size_t opts_len, uint8_t *out, size_t cap) {
  keybuf_t k = {out, 0, cap};
  uint8_t proto = 0;
  put(&k, &proto, 1);
  put_addr(&k, from);
  ec_req_optw_t w;
  ec_req_optw_init_raw(&w, opts, opts_len);
  put_options(&k, &w);
  return w.p == w.end ? k.at : 0;
}

/* ---- the pages ------------------------------------------------------------ */

/* The live page of @p key (@p hash its ec_fnv1a()), or NULL (an expired
 * one is cleared). */
static page_t *lookup(ec_pagecache_t *c, const uint8_t *key, size_t n,
                      uint64_t hash) {
  for (int i = *bucket_of(c, hash); i >= 0; i = c->pages[i].next) {
    page_t *p = &c->pages[i];
    if (p->hash != hash || p->key_len != n || memcmp(p->key, key, n) != 0)
      continue;
    if (ec_mono_ms() >= p->until_ms) {
      page_clear(c, p);
      return NULL;
    }
    return p;
  }
  return NULL;
}

/* The number of the block @p rq asks for (0 without Block2), and the size
 * of its blocks (request.c answers at most 1024 bytes a block). */
static unsigned block_num(const ec_req_t *rq, size_t *size) {
  coap_block_b_t want;
  *size = EC_BLOCK_MAX;
  if (!ec_req_block2(rq, &want))
    return 0;
  if (want.szx < EC_BLOCK_MAX_SZX)
    *size = (size_t)1 << (want.szx + 4);
  return want.num;
}

/* Keys are short (an address, a path, a query): on the stack. */
#define KEY_STACK 512

/* @p rq's key in @p stack, or in a malloc'd copy when longer (NULL: no
 * memory); *n its length. */
static uint8_t *req_key(const ec_req_t *rq, uint8_t stack[KEY_STACK],
                        size_t *n) {
  *n = key_req(rq, stack, KEY_STACK);
  if (*n <= KEY_STACK)
    return stack;
  uint8_t *key = malloc(*n);
  if (key != NULL)
    key_req(rq, key, *n);
  return key;
}

int ec_pagecache_answer(ec_pagecache_t *c, ec_req_t *rq) {
  size_t size, n;
  if (c == NULL || rq->method != COAP_REQUEST_CODE_GET ||
      block_num(rq, &size) == 0)
    return 0;
  uint8_t stack[KEY_STACK];
  uint8_t *key = req_key(rq, stack, &n);
  if (key == NULL)
    return 0;
  const page_t *p = lookup(c, key, n, ec_fnv1a(EC_FNV1A_INIT, key, n));
  if (p != NULL)
    ec_req_send(rq, p->page.code, rq->resp_fmt, p->page.data, p->page.len,
                p->page.etag);
  if (key != stack)
    free(key);
  return p != NULL;
}

const ec_page_t *ec_pagecache_find(ec_pagecache_t *c,
                                   const struct sockaddr *from,
                                   socklen_t flen, const uint8_t *opts,
                                   size_t opts_len) {
  uint8_t key[KEY_STACK];
  (void)flen;
  if (c == NULL || c->n_plain == 0)
    return NULL;
  size_t n = key_raw(from, opts, opts_len, key, sizeof(key));
  if (n == 0 || n > sizeof(key))
    return NULL;
  const page_t *p = lookup(c, key, n, ec_fnv1a(EC_FNV1A_INIT, key, n));
  return p != NULL && p->plain ? &p->page : NULL;
}

void ec_pagecache_send(ec_pagecache_t *c, ec_req_t *rq, int code,
                       const uint8_t *data, size_t len, uint64_t etag) {
  ec_req_send(rq, code, rq->resp_fmt, data, len, etag);
  size_t size;
  if (c == NULL || rq->method != COAP_REQUEST_CODE_GET ||
      block_num(rq, &size) != 0 || len <= size || len > c->max_len)
    return;
  /* One block: the key, the page, and its path as the log shows it. */
  uint8_t stack[KEY_STACK];
  size_t n;
  uint8_t *key = req_key(rq, stack, &n);
  char shown[EC_ACCESSLOG_PATH_MAX];
  ec_accesslog_path(rq->request, shown, sizeof(shown));
  size_t shown_len = strlen(shown) + 1;
  uint8_t *block = key != NULL ? malloc(n + len + shown_len) : NULL;
  if (block == NULL) {
    if (key != stack)
      free(key);
    return; /* not kept: the later blocks run the handler again */
  }
  memcpy(block, key, n);
  if (key != stack)
    free(key);
  key = block;
  uint8_t *copy = block + n;
  memcpy(copy, data, len);
  char *shown_copy = (char *)copy + len;
  memcpy(shown_copy, shown, shown_len);
  uint64_t hash = ec_fnv1a(EC_FNV1A_INIT, key, n);
  /* The requester's earlier page gives way, else the oldest, and more of
   * the oldest while the pages would pass the budget. */
  page_t *slot = lookup(c, key, n, hash);
  if (slot != NULL)
    page_clear(c, slot);
  while (slot == NULL || c->bytes + len > c->budget) {
    page_t *old = &c->pages[c->next];
    c->next = (c->next + 1) % c->n;
    page_clear(c, old);
    if (slot == NULL)
      slot = old;
  }
  bool plain = coap_session_get_proto(rq->session) == COAP_PROTO_UDP;
  c->bytes += len;
  int *head = bucket_of(c, hash);
  *slot = (page_t){key, n, hash, *head, plain, ec_mono_ms() + KEEP_MS,
                   {copy, len, etag, code, rq->resp_fmt, shown_copy,
                    ec_router_metric(rq->srv, rq->route)}};
  *head = (int)(slot - c->pages);
  c->n_plain += plain;
}
