/* edgecoap server: remembers applied writes so a retransmission is not applied twice. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_DEDUP_H
#define EDGECOAP_DEDUP_H

#include <coap3/coap.h>
#include <stdint.h>

/*
 * libcoap 4.3.1 runs the handler again for a retransmitted confirmable
 * request. For writes that would store twice. Only successful writes are
 * remembered (a refused request changed nothing, so running it again is
 * harmless), and only what is needed to rebuild the first answer from the
 * store: the code and what was written (e.g. a history sequence number). An
 * entry lives for EXCHANGE_LIFETIME (247 s, RFC 7252 section 4.8.2); the table
 * has a fixed number of slots, and when every candidate slot is young the
 * oldest is reused, which is logged.
 */
typedef struct ec_dedup ec_dedup_t;

typedef struct {
  void *route;      /* what the write went to (an ec_route_t, or a module's key) */
  int code;         /* the CoAP code answered, e.g. 201 */
  int64_t ref;      /* what was written: a sequence number or first id */
  int64_t count;    /* how many records (batches) */
} ec_dedup_answer_t;

/** A table of @p slots entries (rounded up to a power of two). */
ec_dedup_t *ec_dedup_new(unsigned slots);
void ec_dedup_free(ec_dedup_t *d);

/** The answer remembered for (peer, mid), or NULL. */
const ec_dedup_answer_t *ec_dedup_find(ec_dedup_t *d, const coap_address_t *peer,
                                       coap_mid_t mid);

/** Remember the answer to (peer, mid). */
void ec_dedup_put(ec_dedup_t *d, const coap_address_t *peer, coap_mid_t mid,
                  const ec_dedup_answer_t *answer);

/** Bodies longer than this are not kept by ec_dedup_put_body(). */
#define EC_DEDUP_MAX_BODY 4096

/**
 * Remember the answer to (peer, mid) with a copy of its @p len byte body in
 * Content-Format @p format, for answers that cannot be rebuilt from the store
 * (a login's token, which is stored only as a digest). A body over
 * EC_DEDUP_MAX_BODY, or one that cannot be copied, is not kept: then
 * ec_dedup_body() finds none and the caller answers the code alone.
 */
void ec_dedup_put_body(ec_dedup_t *d, const coap_address_t *peer,
                       coap_mid_t mid, const ec_dedup_answer_t *answer,
                       const uint8_t *body, size_t len, int format);

/**
 * The body kept with the answer to (peer, mid) by ec_dedup_put_body(), or
 * NULL. It stays valid until the next ec_dedup_put*() call.
 */
const uint8_t *ec_dedup_body(ec_dedup_t *d, const coap_address_t *peer,
                             coap_mid_t mid, size_t *len, int *format);

#endif /* EDGECOAP_DEDUP_H */
