/* edgecoap server API: the pages of an unchanging list kept for their later blocks. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_PAGECACHE_H
#define EDGECOAP_PAGECACHE_H

#include <stddef.h>
#include <stdint.h>

#include "request.h"

/*
 * A list answer larger than one datagram is asked for block by block, and
 * request.c keeps nothing between blocks: each block's GET runs its handler
 * again. For a list whose rows never change once stored (the status-message
 * feed), the page built for block 0 is kept a few seconds for the later
 * blocks of the same requester (remote address, DTLS identity, format and
 * query, compared byte for byte), so the store is read and the page encoded
 * once per answer instead of once per block. A fixed number of pages of a
 * bounded size are kept; the oldest gives way.
 */
typedef struct ec_pagecache ec_pagecache_t;

/** A cache of @p n pages of at most @p max_len bytes each, or NULL. */
ec_pagecache_t *ec_pagecache_new(unsigned n, size_t max_len);

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

#endif /* EDGECOAP_PAGECACHE_H */
