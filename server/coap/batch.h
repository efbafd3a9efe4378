/* edgecoap server: group commit: writes of one I/O round share one transaction. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_BATCH_H
#define EDGECOAP_BATCH_H

#include "request.h"

/*
 * A durable commit costs an fsync (or, for a network database, a round
 * trip), which is most of a write's time. So confirmable writes that arrive
 * in the same I/O round (status reports and message posts) are queued in
 * the store (ec_store_status_queue, ec_store_msg_queue) and
 * flushed together once the round is drained (ec_batch_commit, which the
 * server loop runs every round): nothing is acknowledged before the store
 * says it is committed, but many writes share one commit.
 *
 * A handler that batches queues its write with ec_batch_status_put() and
 * registers its answer with ec_batch_defer(): libcoap (coap_register_async)
 * acknowledges the request with an empty ACK at once, so the client does
 * not retransmit, and a retransmission meanwhile is acknowledged again
 * without reaching the handler. When the store reports the write's commit
 * (its completion callback, in write order), the batch publishes it
 * (p->done) and triggers the deferred answer; libcoap runs the handler
 * again with the request, which finds its ec_pending_t with ec_batch_take()
 * and answers with a separate (confirmable) response. A store that commits
 * at once (SQLite) completes every write inside ec_batch_commit(); one
 * whose commits arrive later completes them in a later round's, the same
 * way.
 *
 * On coap:// a write whose answer fits one datagram is answered in the
 * request's own ACK instead (the late ACK, ec_batch_hold()): the handler
 * leaves its response empty and of type NON, which libcoap 4.3.1 drops
 * (no_response()), and after the COMMIT the server builds the answer and
 * sends it as the ACK with the request's Message ID on the socket it
 * screens (screen.h). One datagram each way, as for a write committed
 * alone, instead of an empty ACK, a separate CON answer and the client's
 * ACK of it. A retransmission of the request that arrives before its ACK
 * went out is dropped (ec_batch_acking()): the ACK answers it too.
 *
 * Any other request commits the queue first (the dispatcher does), so no
 * read sees data that is not yet durable and writes commit in the order made.
 */
typedef struct ec_pending ec_pending_t;

/* What the late ACK of a held write needs of its request (batch.c). */
typedef struct {
  coap_session_t *session;  /* referenced until the ACK is sent */
  coap_pdu_t *request;      /* a copy of its options (the access log) */
  coap_mid_t mid;
  ec_format_t fmt;          /* rq->resp_fmt */
  bool verified;            /* rq->verified */
  size_t req_size;          /* rq->req_size */
  const struct ec_route_spec *route;
} ec_late_ack_t;

struct ec_pending {
  ec_pending_t *next;
  ec_server_t *srv;
  coap_async_t *async;   /* the deferred answer; NULL when not deferred */
  int complete;          /* the store said what became of the write */
  int committed;         /* then: 1 stored for good, 0 lost */
  int orphan;            /* its request was answered: free it on completion */
  ec_status_done_t status; /* a status write's outcome (ec_batch_status_put) */
  ec_msg_done_t msgs;      /* a message post's (ec_batch_msg_put) */
  /* After the commit, before the answer: publish what was written (caches,
   * dedup, observers) when committed. */
  void (*done)(ec_server_t *srv, ec_pending_t *p);
  /* When libcoap runs the handler again: write the answer into rq. */
  void (*answer)(ec_req_t *rq, ec_pending_t *p);
  void (*free)(ec_pending_t *p);
  uint64_t since_us; /* when the request came (ec_mono_us), for metrics */
  /* Set by the handler before ec_batch_hold() when it knows its answer's
   * payload: @c ack_len bytes (0 for none), which the late ACK may carry. */
  bool ack_ok;
  size_t ack_len;
  ec_late_ack_t *ack;  /* held for the late ACK; NULL otherwise */
  ec_pending_t *ack_next; /* srv->acks */
};

/**
 * Queue status write @p w (copied) for this round's group commit, with
 * @p p (its done, answer and free set) as what completes it.
 * @return 0 (@p p now belongs to the batch until it is completed and
 *         answered), or < 0: nothing queued, @p p still the caller's
 */
int ec_batch_status_put(ec_server_t *srv, ec_pending_t *p,
                        const ec_status_write_t *w);

/**
 * Queue a post of @p n status messages for this round's group commit, as
 * ec_batch_status_put() does a status write. Nothing is copied: @p w, what
 * it points at and @p req (NULL: none) must live until @p p completes
 * (p->done or p->free; they belong with @p p).
 * @return 0 (@p p now belongs to the batch), or < 0: nothing queued
 */
int ec_batch_msg_put(ec_server_t *srv, ec_pending_t *p,
                     const ec_store_msg_write_t *w, size_t n,
                     int64_t received_at_ms, const ec_store_msg_request_t *req);

/**
 * Defer rq's answer, queued with ec_batch_status_put() or
 * ec_batch_msg_put(), to its commit. On success the handler must return
 * without setting a response code; the batch frees @p p through p->free
 * once it is answered.
 * @return 0, or < 0 when libcoap cannot defer it (then commit and answer it
 *         at once)
 */
int ec_batch_defer(ec_req_t *rq, ec_pending_t *p);

/**
 * @p p's answer is ready (its commit, a password check, a read came):
 * libcoap runs the deferred request again, whose handler answers from
 * @p p. Until then @p p is the server's (released at shutdown if it never
 * runs).
 */
void ec_batch_trigger(ec_server_t *srv, ec_pending_t *p);

/**
 * Hold rq's answer until its commit: for the late ACK when p->ack_ok and
 * the request came over coap:// and the answer fits one datagram, else
 * deferred as ec_batch_defer() does; when neither can be, commit now and
 * answer it here (or 5.03 when the commit is not known yet). Either way
 * @p p is the batch's from now on.
 */
void ec_batch_hold(ec_req_t *rq, ec_pending_t *p);

/**
 * True when @p request (confirmable) is a retransmission of a write held
 * for its late ACK: the dispatcher drops it, as the ACK answers it too.
 */
bool ec_batch_acking(ec_server_t *srv, coap_session_t *session,
                     const coap_pdu_t *request);

/**
 * True when the current write would not commit alone: other writes are
 * pending, or datagrams wait that the same round will take in (the server
 * loop drains them into the batch). A write for which this is false commits
 * at once and is answered piggybacked.
 */
bool ec_batch_others_waiting(ec_server_t *srv);

/** Answer a repeat (same Request-Id) of a write still queued after a
 * commit, as a store whose commits arrive later leaves it: 5.03
 * request-pending, to be sent again. */
void ec_batch_busy(ec_req_t *rq);

/**
 * Answer a queued write that was not stored (@p rc, the store's code):
 * as ec_req_store_error() when the store was out of reach (EC_ETIMEOUT,
 * or ec_store_unreachable()), else 5.00 storage-failure saying @p what.
 */
void ec_batch_not_stored(ec_req_t *rq, int rc, const char *what);

/** The pending answer of a request libcoap runs again, or NULL. */
ec_pending_t *ec_batch_take(ec_req_t *rq);

/** Answer a taken pending request and release it. */
void ec_batch_answer(ec_req_t *rq, ec_pending_t *p);

/** Release a taken pending request unanswered: its run was refused (the
 * refusal is the answer). */
void ec_batch_release(ec_req_t *rq, ec_pending_t *p);

/**
 * Commit what is queued (if anything): the completed writes are published
 * and their answers triggered.
 * @return 0 (also when nothing was queued), or EC_ESTORE when the commit
 *         failed
 */
int ec_batch_commit(ec_server_t *srv);

/** Wait for the queue (ec_store_wait: the loop may block now), then
 * release answers never sent (at shutdown, before libcoap). */
void ec_batch_free_all(ec_server_t *srv);

#endif /* EDGECOAP_BATCH_H */
