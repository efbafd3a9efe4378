/* edgecoap server: writes that wait for a store out of reach (a database restart), then run again. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_PARK_H
#define EDGECOAP_PARK_H

#include <stdbool.h>

#include "request.h"

/*
 * While the store is out of reach (ec_store_unreachable: a PostgreSQL
 * restart), a write on a route that batches (status reports, message
 * posts) is parked instead of being answered 5.03 at once: libcoap
 * acknowledges it with an empty ACK (coap_register_async), so the client
 * waits for the separate answer instead of retransmitting, and once the
 * store is back (ec_park_poll(), every loop round) or EC_STORE_WAIT_MS
 * after the write came, libcoap runs the handler again with the request.
 * The write is then applied, or, the store still away, answered 5.03 with
 * Max-Age. A restart shorter than the bound is a slower answer, not an
 * error.
 *
 * Only a write that cannot be applied twice is parked: one that found the
 * store away before its handler ran (nothing of it was sent), or one with a
 * Request-Id, whose run again finds a commit made before the connection
 * was lost (the handler's repeat check). A Block1 upload is not parked,
 * and neither is a write whose queue wait ended (ec_batch_not_stored): it
 * waited its bound already.
 */

/**
 * Park @p rq (see above) when rq->park_ok, the store is out of reach and
 * the caps allow (EC_PARK_MAX writes, EC_PARK_BYTES of bodies): the
 * handler must then return without answering.
 * @return true when parked
 */
bool ec_park(ec_req_t *rq);

/**
 * In the dispatcher, when libcoap runs a deferred write again: true when
 * it is a parked write's run, whose body, dedup key and size as received
 * are then rq's again (held until ec_req_done()) and @p since_us its first
 * dispatch's time; false for any other (a group commit's answer, batch.h).
 */
bool ec_park_take(ec_req_t *rq, uint64_t *since_us);

/** Once a loop round: run the parked writes again when the store is back
 * or their bound passed. */
void ec_park_poll(ec_server_t *srv);

/** Milliseconds until the next bound passes (for the loop's wait), or -1
 * when nothing is parked. */
int ec_park_next_ms(ec_server_t *srv);

/** Release rq's parked write, taken by ec_park_take() (ec_req_done()). */
void ec_park_release(ec_req_t *rq);

/** At shutdown, before libcoap: drop the writes still parked (unanswered:
 * their clients retransmit). */
void ec_park_free_all(ec_server_t *srv);

#endif /* EDGECOAP_PARK_H */
