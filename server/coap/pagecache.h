/* edgecoap server: the pages of an unchanging list kept for their later blocks. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_PAGECACHE_H
#define EDGECOAP_PAGECACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "request.h"

/*
 * A list answer larger than one datagram is asked for block by block, and
 * request.c keeps nothing between blocks: each block's GET runs its handler
 * again. For a list whose rows never change once stored (the status-message
 * feed), the page built for block 0 is kept a few seconds for the later
 * blocks of the same requester, so the store is read and the page encoded
 * once per answer instead of once per block. A requester is its remote
 * address, its DTLS identity and the request's options byte for byte,
 * Block2, Size2 and Echo aside (so its path, query and Accept). A fixed
 * number of pages of a bounded size and total are kept; the oldest gives
 * way.
 *
 * On coap:// a later block is answered before libcoap reads it (screen.c,
 * ec_pagecache_find()): the page is the answer, so neither the route table
 * nor libcoap's request handling has anything to add, and the block goes
 * out as the dispatcher would have sent it, counted and logged the same.
 */
typedef struct ec_pagecache ec_pagecache_t;

/** A kept page, as ec_pagecache_find() shows it; owned by the cache. */
typedef struct {
  const uint8_t *data;
  size_t len;
  uint64_t etag;
  int code;          /* 205 */
  ec_format_t fmt;
  const char *shown; /* the path and query as the access log writes them */
  int metric;        /* the route's in the metrics registry */
} ec_page_t;

/** A cache of @p n pages of at most @p max_len bytes each and of
 * @p budget bytes together, or NULL. */
ec_pagecache_t *ec_pagecache_new(unsigned n, size_t max_len, size_t budget);

void ec_pagecache_free(ec_pagecache_t *c);

/**
 * When @p rq is a GET for a block past the first, and its requester's page
 * is kept, answer the block from it (ec_req_send()). @return 1 when answered
 */
int ec_pagecache_answer(ec_pagecache_t *c, ec_req_t *rq);

/**
 * Answer @p rq with @p len bytes of @p data (ec_req_send()) and, when that
 * takes more than one block, keep a copy for the later blocks.
 */
void ec_pagecache_send(ec_pagecache_t *c, ec_req_t *rq, int code,
                       const uint8_t *data, size_t len, uint64_t etag);

/**
 * The page kept for the coap:// requester at @p from (@p flen bytes) whose
 * request had the options of @p opts (@p opts_len bytes on the wire, from
 * the first option to the datagram's end, no payload), NULL when none is;
 * valid until the cache changes.
 */
const ec_page_t *ec_pagecache_find(ec_pagecache_t *c,
                                   const struct sockaddr *from,
                                   socklen_t flen, const uint8_t *opts,
                                   size_t opts_len);

#endif /* EDGECOAP_PAGECACHE_H */
