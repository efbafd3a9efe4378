/* edgecoap-bench: request bodies: none, one file, a template, or message batches. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_BENCH_BODY_H
#define EDGECOAP_BENCH_BODY_H

#include <stddef.h>
#include <stdint.h>

typedef enum { BB_NONE, BB_FIXED, BB_TEMPLATE, BB_MESSAGES } bb_kind_t;

/*
 * Where the body of exchange number n comes from:
 *  - BB_FIXED: the bytes of one file, shared by every request;
 *  - BB_TEMPLATE: a file in which every "%d" becomes n, so that bodies differ;
 *  - BB_MESSAGES: {"StatusMessages":[...]} holding @c batch ON-API status
 *    messages numbered start + n * batch + j, message i having orderId
 *    "<prefix>-<i mod orders>", so each orderId gets (messages / orders)
 *    hits spread evenly over the feed.
 * The struct owns its file contents; bb_free() releases them.
 */
typedef struct {
  bb_kind_t kind;
  uint8_t *data; /* FIXED, TEMPLATE: the file */
  size_t len;
  unsigned batch, orders;
  uint64_t start;
  char prefix[16];
} bb_body_t;

/* Read @p path for BB_FIXED or BB_TEMPLATE. @return 0, or -1 (message printed) */
int bb_load(bb_body_t *b, bb_kind_t kind, const char *path);
/* Parse "BATCH:ORDERS:PREFIX[:START]" for BB_MESSAGES. @return 0 or -1 */
int bb_messages(bb_body_t *b, const char *spec);
void bb_free(bb_body_t *b);

/* An upper bound of any body's length (0 for BB_NONE). */
size_t bb_max_len(const bb_body_t *b);

/*
 * The body of exchange @p n: for BB_FIXED the shared bytes, otherwise written
 * into @p buf (@p cap >= bb_max_len()). Sets @p len.
 */
const uint8_t *bb_make(const bb_body_t *b, uint64_t n, uint8_t *buf,
                       size_t cap, size_t *len);

#endif
