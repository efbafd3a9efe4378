/* edgecoap server: group commit: writes of one I/O round share one transaction. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "batch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "log.h"
#include "router.h"
#include "screen.h"

static void send_late_ack(ec_server_t *srv, ec_pending_t *p);

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
  if (p->ack != NULL) {
    send_late_ack(srv, p);
    return;
  }
  if (p->async != NULL)
    ec_batch_trigger(srv, p);
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
  p->ack_ok = false;
  p->ack = NULL;
  p->ack_next = NULL;
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

void ec_batch_trigger(ec_server_t *srv, ec_pending_t *p) {
  coap_async_trigger(p->async);
  p->next = srv->triggered;
  srv->triggered = p;
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

/* Hold @p p for its late ACK (batch.h): 0, or < 0 when it cannot be. */
static int hold_ack(ec_req_t *rq, ec_pending_t *p) {
  ec_server_t *srv = rq->srv;
  if (!p->ack_ok || srv->screen_fd < 0 ||
      coap_session_get_proto(rq->session) != COAP_PROTO_UDP ||
      coap_pdu_get_type(rq->request) != COAP_MESSAGE_CON ||
      !ec_req_fits_datagram(rq->session, p->ack_len))
    return EC_EINVAL;
  ec_late_ack_t *a = malloc(sizeof(*a));
  if (a == NULL)
    return EC_ENOMEM;
  /* The options without the body: what the access log reads of it. */
  coap_bin_const_t tok = coap_pdu_get_token(rq->request);
  a->request = coap_pdu_duplicate(rq->request, rq->session, tok.length,
                                  tok.s, NULL);
  if (a->request == NULL) {
    free(a);
    return EC_ENOMEM;
  }
  a->session = coap_session_reference(rq->session);
  a->mid = coap_pdu_get_mid(rq->request);
  a->fmt = rq->resp_fmt;
  a->verified = rq->verified;
  a->req_size = rq->req_size;
  a->route = rq->route;
  p->ack = a;
  p->since_us = rq->since_us;
  p->ack_next = srv->acks;
  srv->acks = p;
  /* An empty NON answer is one libcoap 4.3.1 sends not at all, so no empty
   * ACK goes out now: the late ACK is the answer. */
  coap_pdu_set_type(rq->response, COAP_MESSAGE_NON);
  return 0;
}

void ec_batch_hold(ec_req_t *rq, ec_pending_t *p) {
  if (hold_ack(rq, p) == 0)
    return; /* answered in the request's ACK after the COMMIT */
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

bool ec_batch_acking(ec_server_t *srv, coap_session_t *session,
                     const coap_pdu_t *request) {
  coap_mid_t mid = coap_pdu_get_mid(request);
  coap_bin_const_t tok = coap_pdu_get_token(request);
  for (const ec_pending_t *p = srv->acks; p != NULL; p = p->ack_next) {
    const ec_late_ack_t *a = p->ack;
    coap_bin_const_t t = coap_pdu_get_token(a->request);
    if (a->session == session && a->mid == mid && t.length == tok.length &&
        memcmp(t.s, tok.s, tok.length) == 0)
      return true;
  }
  return false;
}

/* The datagram of @p pdu (RFC 7252 section 3) into @p out: 0 when over
 * @p cap. libcoap keeps a PDU's options in their wire form, one after the
 * other behind the token, then the payload marker and the payload: what
 * its iterator says follows the token is copied as it is. */
static size_t pdu_datagram(const coap_pdu_t *pdu, uint8_t *out, size_t cap) {
  coap_bin_const_t tok = coap_pdu_get_token(pdu);
  coap_mid_t mid = coap_pdu_get_mid(pdu);
  coap_opt_iterator_t it;
  const uint8_t *rest = NULL;
  size_t rlen = 0;
  if (coap_option_iterator_init(pdu, &it, COAP_OPT_ALL) != NULL &&
      it.next_option != NULL) {
    rest = it.next_option;
    rlen = it.length;
  }
  size_t n = 4 + tok.length + rlen;
  if (n > cap || tok.length > 8)
    return 0;
  uint8_t *q = out + ec_screen_head(out, coap_pdu_get_type(pdu),
                                    (uint8_t)coap_pdu_get_code(pdu),
                                    (uint16_t)mid, tok.s, tok.length);
  if (rlen > 0)
    memcpy(q, rest, rlen);
  return n;
}

/* Take @p p off srv->acks. */
static void unlink_ack(ec_server_t *srv, ec_pending_t *p) {
  ec_pending_t **pp = &srv->acks;
  while (*pp != NULL && *pp != p)
    pp = &(*pp)->ack_next;
  if (*pp == p)
    *pp = p->ack_next;
}

static void free_ack(ec_pending_t *p) {
  coap_delete_pdu(p->ack->request);
  coap_session_release(p->ack->session);
  free(p->ack);
  p->ack = NULL;
}

/* The committed (or lost) write's answer, in the request's own ACK. */
static void send_late_ack(ec_server_t *srv, ec_pending_t *p) {
  ec_late_ack_t *a = p->ack;
  unlink_ack(srv, p);
  coap_bin_const_t tok = coap_pdu_get_token(a->request);
  coap_pdu_t *resp = coap_pdu_init(COAP_MESSAGE_ACK, 0, a->mid,
                                   coap_session_max_pdu_size(a->session));
  if (resp != NULL && coap_add_token(resp, tok.length, tok.s)) {
    ec_req_t rq;
    memset(&rq, 0, sizeof(rq));
    rq.srv = srv;
    rq.session = a->session;
    rq.request = a->request;
    rq.response = resp;
    rq.method = coap_pdu_get_code(a->request);
    rq.resp_fmt = a->fmt;
    rq.verified = a->verified;
    rq.req_size = a->req_size;
    rq.route = a->route;
    rq.since_us = p->since_us;
    ec_arena_init(&rq.arena, srv->arena_buf, srv->arena_cap);
    p->answer(&rq, p);
    /* Logged first: whoever reads the log after the answer finds it. */
    ec_router_answered(srv, a->route, a->session, a->request, a->req_size,
                       resp, p->since_us);
    uint8_t dgram[COAP_DEFAULT_MTU + 64];
    size_t n = pdu_datagram(resp, dgram, sizeof(dgram));
    const coap_address_t *to = coap_session_get_addr_remote(a->session);
    /* Lost, the client retransmits, and the dedup table answers it. */
    if (n == 0)
      ec_log(EC_LOG_ERROR, "a late ACK did not fit its datagram");
    else if (sendto(srv->screen_fd, dgram, n, 0, &to->addr.sa, to->size) < 0)
      ec_log(EC_LOG_DEBUG, "cannot send a late ACK: %s", strerror(errno));
  }
  coap_delete_pdu(resp);
  free_ack(p);
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
  if (rc == EC_ETIMEOUT || ec_store_unreachable(rq->srv->store)) {
    ec_req_store_error(rq, EC_ETIMEOUT);
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
    /* The flush also reads what other servers wrote (store.h's hints)
     * and the answers of reads in flight (ec_store_read_fd). */
    if (srv->listening || ec_store_reading(srv->store) > 0)
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
  while (srv->acks != NULL) {
    ec_pending_t *p = srv->acks;
    srv->acks = p->ack_next;
    free_ack(p);
    p->free(p);
  }
  while (srv->triggered != NULL) {
    ec_pending_t *p = srv->triggered;
    srv->triggered = p->next;
    coap_async_set_app_data(p->async, NULL);
    p->free(p);
  }
}
