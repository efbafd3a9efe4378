/* edgecoap: CUnit tests of the group commit (server/coap/batch.c). */
/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <coap3/coap.h>

#include "batch.h"
#include "edgecoap/error.h"
#include "request.h"
#include "srvfx.h"
#include "store_fx.h"
#include "suite.h"
#include "udpsess.h"

/*
 * Writes queued in one round are committed together, and each is told what
 * became of it, in the order queued: a committed write is published (its
 * done) before its answer is triggered; a refused one is not published; a
 * write whose request was answered meanwhile (an orphan) is freed on its
 * completion. A request libcoap runs again finds its pending answer by
 * session and token. A real store (tests/support/store_fx.h) and a libcoap
 * context with one coap:// endpoint on 127.0.0.1 stand for the server.
 */

#define DEV "dev-batch"
#define DEP "6a1f0c3e-0000-4000-8000-00000000ba7c"
#define DEP2 "6a1f0c3e-0000-4000-8000-00000000ba7d"

static coap_context_t *ctx;
static coap_session_t *sess;
static ec_server_t *srv;
static ec_store_fx_t fx;
static uint16_t port;

/* What the callbacks saw, in the order they ran. */
static int order[16], n_order;
static int freed[16], n_freed;
static int answered;

typedef struct {
  ec_pending_t p; /* first: the batch hands back &p */
  int tag;
} item_t;

static void on_done(ec_server_t *s, ec_pending_t *p) {
  CU_ASSERT_PTR_EQUAL(s, srv);
  CU_ASSERT_TRUE(p->complete && p->committed);
  if (n_order < 16)
    order[n_order++] = ((item_t *)p)->tag;
}

static void on_answer(ec_req_t *rq, ec_pending_t *p) {
  (void)rq;
  (void)p;
  answered++;
}

static void on_free(ec_pending_t *p) {
  if (n_freed < 16)
    freed[n_freed++] = ((item_t *)p)->tag;
}

static void reset(void) {
  n_order = n_freed = answered = 0;
}

static void item_init(item_t *it, int tag) {
  memset(it, 0, sizeof(*it));
  it->tag = tag;
  it->p.done = on_done;
  it->p.answer = on_answer;
  it->p.free = on_free;
}

static ec_status_write_t write_of(const char *dep, const char *doc,
                                  const char *rid) {
  ec_status_write_t w = {0};
  w.device_id = DEV;
  w.deployment_id = dep;
  w.state = EC_STATE_INSTALLING;
  w.doc = (const uint8_t *)doc;
  w.doc_len = strlen(doc);
  w.received_at_ms = 1000;
  w.request_id = (const uint8_t *)rid;
  w.request_id_len = rid != NULL ? strlen(rid) : 0;
  return w;
}

static int suite_init(void) {
  if ((srv = ec_test_server_new(&ctx, 16 * 1024)) == NULL ||
      (port = ec_test_free_port()) == 0)
    return -1;
  coap_address_t addr = ec_test_addr("127.0.0.1", port);
  if (coap_new_endpoint(ctx, &addr, COAP_PROTO_UDP) == NULL)
    return -1;
  srv->cfg.max_body = 4096;
  sess = ec_test_session_to(ctx, 41501);
  return sess != NULL ? 0 : -1;
}

static int suite_cleanup(void) {
  ec_test_server_free(srv, ctx);
  return 0;
}

static void store_up(void) {
  ec_store_fx_setup(&fx);
  srv->store = fx.s;
}

static void store_down(void) {
  ec_store_fx_teardown(&fx);
  srv->store = NULL;
}

/* ec_batch_commit(), then the store's word on every write: a store whose
 * commits arrive later (PostgreSQL) gives it in a later round, which the
 * server's loop polls for (ec_store_fd()); here the wait stands for it. */
static int commit_now(void) {
  int rc = ec_batch_commit(srv);
  int wrc = ec_store_wait(srv->store);
  return rc != 0 ? rc : wrc;
}

static void test_nothing_queued_commits_nothing(void) {
  store_up();
  reset();
  CU_ASSERT_EQUAL(commit_now(), 0);
  CU_ASSERT_EQUAL(srv->n_pending, 0u);
  CU_ASSERT_FALSE(ec_batch_others_waiting(srv));
  CU_ASSERT_EQUAL(n_order + n_freed + answered, 0);
  store_down();
}

static void test_one_commit_completes_every_write_in_order(void) {
  item_t it[3];
  store_up();
  reset();
  ec_status_write_t w[3] = {write_of(DEP, "one", NULL),
                            write_of(DEP2, "two", NULL),
                            write_of(DEP, "three", NULL)};
  for (int i = 0; i < 3; i++) {
    item_init(&it[i], i);
    CU_ASSERT_EQUAL_FATAL(ec_batch_status_put(srv, &it[i].p, &w[i]), 0);
    CU_ASSERT_FALSE(it[i].p.complete);
  }
  CU_ASSERT_EQUAL(srv->n_pending, 3u);
  /* Others wait: the next write would not commit alone. */
  CU_ASSERT_TRUE(ec_batch_others_waiting(srv));
  CU_ASSERT_EQUAL(n_order, 0); /* nothing is published before its commit */
  CU_ASSERT_EQUAL(commit_now(), 0);
  CU_ASSERT_EQUAL(srv->n_pending, 0u);
  CU_ASSERT_EQUAL_FATAL(n_order, 3);
  CU_ASSERT(order[0] == 0 && order[1] == 1 && order[2] == 2);
  CU_ASSERT(it[0].p.status.seq == 1 && it[0].p.status.created == 1);
  CU_ASSERT(it[1].p.status.seq == 1 && it[1].p.status.created == 1);
  CU_ASSERT(it[2].p.status.seq == 2 && it[2].p.status.created == 0);
  /* Not deferred, not orphaned: they stay the caller's. */
  CU_ASSERT_EQUAL(n_freed, 0);
  CU_ASSERT_PTR_NULL(srv->triggered);
  CU_ASSERT_FALSE(ec_batch_others_waiting(srv));
  store_down();
}

static void test_a_refused_write_is_not_published(void) {
  item_t it[2];
  store_up();
  reset();
  /* A Request-Id is the device's once: the second write under it fails
   * in the flush, the first commits. */
  ec_status_write_t w0 = write_of(DEP, "one", "rid-batch-1"),
                    w1 = write_of(DEP2, "two", "rid-batch-1");
  item_init(&it[0], 0);
  item_init(&it[1], 1);
  CU_ASSERT_EQUAL_FATAL(ec_batch_status_put(srv, &it[0].p, &w0), 0);
  CU_ASSERT_EQUAL_FATAL(ec_batch_status_put(srv, &it[1].p, &w1), 0);
  CU_ASSERT_EQUAL(commit_now(), 0);
  CU_ASSERT_EQUAL(srv->n_pending, 0u);
  CU_ASSERT_TRUE(it[0].p.complete && it[0].p.committed);
  CU_ASSERT_TRUE(it[1].p.complete && !it[1].p.committed);
  CU_ASSERT(it[1].p.status.rc < 0);
  CU_ASSERT_EQUAL_FATAL(n_order, 1);
  CU_ASSERT_EQUAL(order[0], 0);
  store_down();
}

static void test_a_bad_write_is_not_queued(void) {
  item_t it;
  store_up();
  reset();
  ec_status_write_t w = write_of(DEP, "doc", NULL);
  w.device_id = "";
  item_init(&it, 7);
  CU_ASSERT_EQUAL(ec_batch_status_put(srv, &it.p, &w), EC_EINVAL);
  CU_ASSERT_EQUAL(srv->n_pending, 0u);
  CU_ASSERT_EQUAL(commit_now(), 0);
  CU_ASSERT_EQUAL(n_order + n_freed, 0);
  store_down();
}

static void test_an_orphan_is_freed_on_completion(void) {
  item_t it;
  store_up();
  reset();
  ec_status_write_t w = write_of(DEP, "orphan", NULL);
  item_init(&it, 5);
  CU_ASSERT_EQUAL_FATAL(ec_batch_status_put(srv, &it.p, &w), 0);
  it.p.orphan = 1; /* its request was answered meanwhile */
  CU_ASSERT_EQUAL(commit_now(), 0);
  CU_ASSERT_EQUAL(n_order, 1); /* still published: it is stored */
  CU_ASSERT_EQUAL_FATAL(n_freed, 1);
  CU_ASSERT_EQUAL(freed[0], 5);
  CU_ASSERT_EQUAL(answered, 0);
  store_down();
}

/* A CON (or NON) POST from sess with token @p tok, set up as a request. */
typedef struct {
  ec_req_t rq;
  coap_pdu_t *req, *resp;
} run_t;

static void start(run_t *x, coap_pdu_type_t type, const char *tok) {
  x->req = coap_pdu_init(type, COAP_REQUEST_CODE_POST, 0x5151, 256);
  x->resp = coap_pdu_init(COAP_MESSAGE_ACK, 0, 0x5151, 256);
  CU_ASSERT_FATAL(x->req != NULL && x->resp != NULL);
  CU_ASSERT_FATAL(coap_add_token(x->req, strlen(tok), (const uint8_t *)tok));
  coap_add_option(x->req, COAP_OPTION_URI_PATH, 1, (const uint8_t *)"s");
  CU_ASSERT_EQUAL_FATAL(
      ec_req_setup(&x->rq, srv, NULL, sess, x->req, NULL, x->resp, ~0u), 0);
}

static void finish(run_t *x) {
  ec_req_done(&x->rq);
  coap_delete_pdu(x->req);
  coap_delete_pdu(x->resp);
}

static void test_a_deferred_answer_is_found_again_and_answered(void) {
  item_t it;
  run_t x, again, other;
  store_up();
  reset();
  ec_status_write_t w = write_of(DEP, "deferred", NULL);
  item_init(&it, 9);
  start(&x, COAP_MESSAGE_CON, "dfr1");
  CU_ASSERT_EQUAL_FATAL(ec_batch_status_put(srv, &it.p, &w), 0);
  CU_ASSERT_EQUAL_FATAL(ec_batch_defer(&x.rq, &it.p), 0);
  CU_ASSERT_PTR_NOT_NULL(it.p.async);
  /* Committed: published, then its answer triggered (kept by the server
   * until libcoap runs the handler again). */
  CU_ASSERT_EQUAL(commit_now(), 0);
  CU_ASSERT_EQUAL(n_order, 1);
  CU_ASSERT_PTR_EQUAL(srv->triggered, &it.p);
  CU_ASSERT_EQUAL(answered, 0);
  /* The handler's second run finds it by session and token... */
  start(&again, COAP_MESSAGE_CON, "dfr1");
  CU_ASSERT_PTR_EQUAL(ec_batch_take(&again.rq), &it.p);
  /* ...and another token finds nothing. */
  start(&other, COAP_MESSAGE_CON, "dfr2");
  CU_ASSERT_PTR_NULL(ec_batch_take(&other.rq));
  ec_batch_answer(&again.rq, &it.p);
  CU_ASSERT_EQUAL(answered, 1);
  CU_ASSERT_EQUAL_FATAL(n_freed, 1);
  CU_ASSERT_EQUAL(freed[0], 9);
  CU_ASSERT_PTR_NULL(srv->triggered);
  /* Answered, it is the server's no more: a later run finds nothing. */
  CU_ASSERT_PTR_NULL(ec_batch_take(&again.rq));
  finish(&other);
  finish(&again);
  finish(&x);
  store_down();
}

static void test_a_non_request_cannot_be_deferred(void) {
  item_t it;
  run_t x;
  store_up();
  reset();
  item_init(&it, 3);
  start(&x, COAP_MESSAGE_NON, "non1");
  CU_ASSERT_EQUAL(ec_batch_defer(&x.rq, &it.p), EC_EINVAL);
  CU_ASSERT_PTR_NULL(it.p.async);
  finish(&x);
  store_down();
}

static void test_a_waiting_datagram_counts_as_another_write(void) {
  store_up();
  CU_ASSERT_FALSE(ec_batch_others_waiting(srv));
  /* A datagram at the endpoint that this round will read. */
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  static const uint8_t ping[] = {0x40, 0x00, 0x12, 0x34};
  CU_ASSERT_FATAL(fd >= 0);
  CU_ASSERT_EQUAL(
      sendto(fd, ping, sizeof(ping), 0, (struct sockaddr *)&a, sizeof(a)),
      (ssize_t)sizeof(ping));
  bool waiting = false;
  for (int i = 0; i < 100 && !waiting; i++) {
    waiting = ec_batch_others_waiting(srv);
    if (!waiting)
      usleep(1000);
  }
  CU_ASSERT_TRUE(waiting);
  /* Read by libcoap (an empty CON gets its RST), nothing waits again. */
  coap_io_process(ctx, COAP_IO_NO_WAIT);
  CU_ASSERT_FALSE(ec_batch_others_waiting(srv));
  close(fd);
  store_down();
}

static void test_free_all_commits_what_is_queued(void) {
  item_t it;
  store_up();
  reset();
  ec_status_write_t w = write_of(DEP, "last", NULL);
  item_init(&it, 4);
  CU_ASSERT_EQUAL_FATAL(ec_batch_status_put(srv, &it.p, &w), 0);
  ec_batch_free_all(srv);
  CU_ASSERT_TRUE(it.p.complete && it.p.committed);
  CU_ASSERT_EQUAL(srv->n_pending, 0u);
  CU_ASSERT_EQUAL(n_order, 1);
  store_down();
}

static const ec_test_t tests[] = {
    {test_nothing_queued_commits_nothing, "nothing_queued_commits_nothing"},
    {test_one_commit_completes_every_write_in_order,
     "one_commit_completes_every_write_in_order"},
    {test_a_refused_write_is_not_published, "a_refused_write_is_not_published"},
    {test_a_bad_write_is_not_queued, "a_bad_write_is_not_queued"},
    {test_an_orphan_is_freed_on_completion, "an_orphan_is_freed_on_completion"},
    {test_a_deferred_answer_is_found_again_and_answered,
     "a_deferred_answer_is_found_again_and_answered"},
    {test_a_non_request_cannot_be_deferred, "a_non_request_cannot_be_deferred"},
    {test_a_waiting_datagram_counts_as_another_write,
     "a_waiting_datagram_counts_as_another_write"},
    {test_free_all_commits_what_is_queued, "free_all_commits_what_is_queued"},
};

int main(void) {
  return ec_test_main("batch", tests, EC_TEST_COUNT(tests), suite_init,
                      suite_cleanup, NULL);
}
