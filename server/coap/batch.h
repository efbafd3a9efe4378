/* edgecoap server: group commit: writes of one I/O round share one transaction. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_BATCH_H
#define EDGECOAP_BATCH_H

#include "request.h"

/*
 * A durable commit costs an fsync, which is most of a write's time. So
 * confirmable writes that arrive in the same I/O round are stored in one
 * open transaction (ec_store_batch_begin), each in its own savepoint, and
 * answered only after that transaction's COMMIT: nothing is acknowledged
 * before it is durable, but many writes share one fsync.
 *
 * A handler that batches registers its answer with ec_batch_defer(): libcoap
 * (coap_register_async) acknowledges the request with an empty ACK at once,
 * so the client does not retransmit, and a retransmission meanwhile is
 * acknowledged again without reaching the handler. ec_batch_commit() commits
 * and then triggers every deferred answer; libcoap runs the handler again
 * with the request, which finds its ec_pending_t with ec_batch_take() and
 * answers with a separate (confirmable) response. The batch publishes its
 * writes (p->done) in the order they were written, so what a later write of
 * the same resource published is what stays.
 *
 * Any other request commits an open batch first (the dispatcher does), so no
 * read sees data that is not yet durable and no other write nests in it.
 */
typedef struct ec_pending ec_pending_t;

struct ec_pending {
  ec_pending_t *next;
  coap_async_t *async;
  int committed;  /* after the commit: 1 stored for good, 0 lost */
  /* After the commit, before the answer: publish what was written (caches,
   * dedup, observers) when committed. */
  void (*done)(ec_server_t *srv, ec_pending_t *p);
  /* When libcoap runs the handler again: write the answer into rq. */
  void (*answer)(ec_req_t *rq, ec_pending_t *p);
  void (*free)(ec_pending_t *p);
};

/** Open the batch's transaction if none is open; 0 or < 0. */
int ec_batch_open(ec_server_t *srv);

/**
 * Defer rq's answer to the end of the batch. On success the pending answer
 * is owned by the batch (freed through p->free after it is answered) and the
 * handler must return without setting a response code.
 * @return 0, or < 0 when libcoap cannot defer it (p still the caller's)
 */
int ec_batch_defer(ec_req_t *rq, ec_pending_t *p);

/**
 * True when the current write would not commit alone: other writes are
 * pending, or datagrams wait that the same round will take in (the server
 * loop drains them into the batch). A write for which this is false commits
 * at once and is answered piggybacked.
 */
bool ec_batch_others_waiting(ec_server_t *srv);

/** The pending answer of a request libcoap runs again, or NULL. */
ec_pending_t *ec_batch_take(ec_req_t *rq);

/** Answer a taken pending request and release it. */
void ec_batch_answer(ec_req_t *rq, ec_pending_t *p);

/** Release a taken pending request unanswered: its run was refused (the
 * refusal is the answer). */
void ec_batch_release(ec_req_t *rq, ec_pending_t *p);

/**
 * Commit the open batch (if any) and trigger its answers.
 * @return 0 (also when none was open), or EC_ESTORE when the commit failed
 */
int ec_batch_commit(ec_server_t *srv);

/** Commit, then release answers never sent (at shutdown, before libcoap). */
void ec_batch_free_all(ec_server_t *srv);

#endif /* EDGECOAP_BATCH_H */
