/* edgecoap server: group commit: writes of one I/O round share one transaction. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "batch.h"

#include <sys/epoll.h>

#include "log.h"

/* The store's word on a queued write (store.h): publish it and trigger its
 * answer, in write order, as the store calls back in queue order. */
static void settle(ec_pending_t *p, int rc) {
  ec_server_t *srv = p->srv;
  p->complete = 1;
  p->committed = rc == 0;
  srv->n_pending--;
  if (p->committed && p->done != NULL)
    p->done(srv, p);
  if (p->orphan) {
    p->free(p);
    return;
  }
  if (p->async != NULL) {
    coap_async_trigger(p->async);
    /* Until libcoap runs the handler again, the answer is the server's. */
    p->next = srv->triggered;
    srv->triggered = p;
  }
}

static void on_status_done(void *ud, const ec_status_done_t *d) {
  ec_pending_t *p = ud;
  p->status = *d;
  settle(p, d->rc);
}

static void on_msg_done(void *ud, const ec_msg_done_t *d) {
  ec_pending_t *p = ud;
  p->msgs = *d;
  settle(p, d->rc);
}

/* Make @p p ready to be queued. */
static void pending_init(ec_server_t *srv, ec_pending_t *p) {
  p->srv = srv;
  p->async = NULL;
  p->complete = p->committed = p->orphan = 0;
}

int ec_batch_status_put(ec_server_t *srv, ec_pending_t *p,
                        const ec_status_write_t *w) {
  pending_init(srv, p);
  int rc = ec_store_status_queue(srv->store, w, on_status_done, p);
  if (rc == 0)
    srv->n_pending++;
  return rc;
}

int ec_batch_msg_put(ec_server_t *srv, ec_pending_t *p,
                     const ec_store_msg_write_t *w, size_t n,
                     int64_t received_at_ms,
                     const ec_store_msg_request_t *req) {
  pending_init(srv, p);
  int rc =
      ec_store_msg_queue(srv->store, w, n, received_at_ms, req, on_msg_done, p);
  if (rc == 0)
    srv->n_pending++;
  return rc;
}

bool ec_batch_others_waiting(ec_server_t *srv) {
  if (srv->n_pending > 0)
    return true;
  /* Ask libcoap's epoll set what is ready without taking anything (it is
   * level-triggered). Its own timer is in the set too, registered with a
   * NULL pointer (libcoap 4.3.1 coap_new_context): a timer that fires is
   * no datagram, so it is left out, lest a lone write be deferred by it.
   * Were that ever not so, a write would only be deferred needlessly. */
  int fd = coap_context_get_coap_fd(srv->ctx);
  struct epoll_event ev[16];
  int n = fd >= 0 ? epoll_wait(fd, ev, 16, 0) : 0;
  for (int i = 0; i < n; i++)
    if (ev[i].data.ptr != NULL && (ev[i].events & EPOLLIN))
      return true;
  return false;
}

int ec_batch_defer(ec_req_t *rq, ec_pending_t *p) {
  if (coap_pdu_get_type(rq->request) != COAP_MESSAGE_CON)
    return EC_EINVAL; /* a NON request gets no empty ACK to hold it */
  /* Delay 0: wait until the write's completion triggers it. */
  coap_async_t *a = coap_register_async(rq->session, rq->request, 0);
  if (a == NULL)
    return EC_ENOMEM;
  coap_async_set_app_data(a, p);
  p->async = a;
  p->since_us = rq->since_us;
  return 0;
}

void ec_batch_hold(ec_req_t *rq, ec_pending_t *p) {
  if (ec_batch_defer(rq, p) == 0)
    return; /* libcoap sends an empty ACK; the answer follows the COMMIT */
  /* libcoap could not hold the answer: commit now and answer it here. */
  ec_batch_commit(rq->srv);
  if (!p->complete) {
    /* A store whose commit arrives later: the batch frees it then. */
    p->orphan = 1;
    ec_req_problem(rq, 503, "out-of-memory", NULL,
                   "cannot wait for the commit now: repeat the request");
    return;
  }
  p->answer(rq, p);
  p->free(p);
}

void ec_batch_busy(ec_req_t *rq) {
  /* The first write's answer is on its way; the repeat finds what it
   * stored once its commit is known. */
  ec_req_problem(rq, 503, "request-pending", NULL,
                 "a write under this Request-Id is being stored: repeat "
                 "the request");
}

void ec_batch_not_stored(ec_req_t *rq, int rc, const char *what) {
  if (rc == EC_ETIMEOUT) {
    ec_req_max_age(rq, EC_BATCH_RETRY_S);
    ec_req_problem(rq, 503, "storage-unavailable", NULL,
                   "the store is out of reach: nothing was stored; send the "
                   "request again after Max-Age, with the same Request-Id");
    return;
  }
  ec_req_problem(rq, 500, "storage-failure", NULL, what);
}

ec_pending_t *ec_batch_take(ec_req_t *rq) {
  coap_async_t *a = coap_find_async(rq->session, coap_pdu_get_token(rq->request));
  return a ? coap_async_get_app_data(a) : NULL;
}

/* Take @p p off the list of triggered answers. */
static void untrigger(ec_server_t *srv, ec_pending_t *p) {
  ec_pending_t **pp = &srv->triggered;
  while (*pp != NULL && *pp != p)
    pp = &(*pp)->next;
  if (*pp == p)
    *pp = p->next;
  coap_async_set_app_data(p->async, NULL);
}

void ec_batch_answer(ec_req_t *rq, ec_pending_t *p) {
  untrigger(rq->srv, p);
  p->answer(rq, p);
  p->free(p);
  /* libcoap frees the async itself once this handler returns. */
}

void ec_batch_release(ec_req_t *rq, ec_pending_t *p) {
  untrigger(rq->srv, p);
  p->free(p);
}

int ec_batch_commit(ec_server_t *srv) {
  if (ec_store_queued(srv->store) == 0) {
    /* The flush also reads what other servers wrote (store.h's hints). */
    if (srv->listening)
      (void)ec_store_flush(srv->store);
    return 0;
  }
  unsigned n = srv->n_pending;
  int rc = ec_store_flush(srv->store);
  if (rc < 0)
    ec_log(EC_LOG_ERROR, "group commit of %u writes failed: %s; answering "
           "5.00", n, ec_strerror(rc));
  else if (n > 1)
    ec_log(EC_LOG_DEBUG, "group commit of %u writes", n);
  return rc;
}

void ec_batch_free_all(ec_server_t *srv) {
  /* At shutdown the loop may block: every queued write learns its fate,
   * even from a store whose commits arrive later. */
  if (ec_store_queued(srv->store) > 0 && ec_store_wait(srv->store) < 0)
    ec_log(EC_LOG_ERROR, "the last group commit failed: answering 5.00");
  while (srv->triggered != NULL) {
    ec_pending_t *p = srv->triggered;
    srv->triggered = p->next;
    coap_async_set_app_data(p->async, NULL);
    p->free(p);
  }
}
