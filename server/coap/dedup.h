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
 *
 * A remembered answer goes back only for a true retransmission, which RFC
 * 7252 defines as the same message sent again. So the key is a keyed digest
 * (SipHash-2-4, 128 bits, a random key per server) of everything a
 * retransmission repeats:
 * the security context (the peer's address and port, plain or DTLS, and for
 * DTLS the session's PSK identity and key), the Message ID, and the whole
 * message: code, token, every option and the payload. A request that reuses
 * a Message ID with any other content (a device that restarted) is a new
 * request and is applied; a peer in another security context (a plain-CoAP
 * sender on a DTLS client's address and port) can never draw its answers.
 */
typedef struct ec_dedup ec_dedup_t;

/** What a request is remembered by: see above. */
typedef struct {
  uint8_t b[16];
} ec_dedup_key_t;

typedef struct {
  const void *route; /* which route remembered it: its table entry */
  int code;         /* the CoAP code answered, e.g. 201 */
  int64_t ref;      /* what was written: a sequence number or first id */
  int64_t count;    /* how many records (batches) */
} ec_dedup_answer_t;

/** A table of @p slots entries (rounded up to a power of two). */
ec_dedup_t *ec_dedup_new(unsigned slots);
void ec_dedup_free(ec_dedup_t *d);

/** The key of @p request as received on @p session. */
void ec_dedup_key(const ec_dedup_t *d, coap_session_t *session,
                  const coap_pdu_t *request, ec_dedup_key_t *key);

/** The answer remembered for @p key, or NULL. */
const ec_dedup_answer_t *ec_dedup_find(ec_dedup_t *d,
                                       const ec_dedup_key_t *key);

/** Remember the answer to the request of @p key. */
void ec_dedup_put(ec_dedup_t *d, const ec_dedup_key_t *key,
                  const ec_dedup_answer_t *answer);

/** Bodies longer than this are not kept by ec_dedup_put_body(). */
#define EC_DEDUP_MAX_BODY 4096

/**
 * Remember the answer with a copy of its @p len byte body in Content-Format
 * @p format, for answers that cannot be rebuilt from the store (a login's
 * token, which is stored only as a digest). A body over EC_DEDUP_MAX_BODY,
 * or one that cannot be copied, is not kept: then ec_dedup_body() finds
 * none and the caller answers the code alone.
 */
void ec_dedup_put_body(ec_dedup_t *d, const ec_dedup_key_t *key,
                       const ec_dedup_answer_t *answer, const uint8_t *body,
                       size_t len, int format);

/**
 * The body kept with the answer to @p key by ec_dedup_put_body(), or NULL.
 * It stays valid until the next ec_dedup_put*() call.
 */
const uint8_t *ec_dedup_body(ec_dedup_t *d, const ec_dedup_key_t *key,
                             size_t *len, int *format);

#endif /* EDGECOAP_DEDUP_H */
