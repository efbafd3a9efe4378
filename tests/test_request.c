/* edgecoap: CUnit tests of one request's context, the per-session peers and the observations (server/coap/request.c, peer.c, echo.c, watch.c). */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <coap3/coap.h>

#include "edgecoap/error.h"
#include "peer.h"
#include "request.h"
#include "srvfx.h"
#include "suite.h"
#include "udpsess.h"
#include "watch.h"

/*
 * Requests are built as libcoap PDUs and run through the request layer
 * with a server state of its own (no endpoint, no store): what a handler
 * sees of formats, path, query and Request-Id, and which code a refusal
 * sets. Two client sessions stand for two peers (nothing is sent).
 */

static coap_context_t *ctx;
static coap_session_t *sess_a, *sess_b;
static ec_server_t *srv;

static int suite_init(void) {
  if ((srv = ec_test_server_new(&ctx, 64 * 1024)) == NULL)
    return 1;
  srv->cfg.max_body = 4096;
  srv->cfg.max_observers = 3;
  srv->cfg.max_peer_observations = 2;
  sess_a = ec_test_session_to(ctx, 5683);
  sess_b = ec_test_session_to(ctx, 5684);
  return sess_a == NULL || sess_b == NULL;
}

static int suite_cleanup(void) {
  ec_test_server_free(srv, ctx);
  return 0;
}

/* A request: Uri-Path segments of @p path ('/' between them), a Uri-Query
 * per '&' of @p query, and the options and payload below. */
typedef struct {
  coap_pdu_code_t code;
  const char *path;
  const char *query;
  int accept;         /* -1: none */
  int content_format; /* -1: none */
  int observe;        /* -1: none */
  const char *payload;
  const char *token;  /* NULL: "tk" */
} req_t;

static const req_t plain = {COAP_REQUEST_CODE_GET, "a/b", NULL, -1, -1, -1,
                            NULL};

static void add_uint(coap_pdu_t *pdu, uint16_t num, unsigned v) {
  uint8_t buf[4];
  coap_add_option(pdu, num, coap_encode_var_safe(buf, sizeof(buf), v), buf);
}

static void add_split(coap_pdu_t *pdu, uint16_t num, const char *s, char sep) {
  while (s != NULL) {
    const char *end = strchr(s, sep);
    size_t len = end != NULL ? (size_t)(end - s) : strlen(s);
    coap_add_option(pdu, num, len, (const uint8_t *)s);
    s = end != NULL ? end + 1 : NULL;
  }
}

static coap_pdu_t *make(const req_t *r) {
  coap_pdu_t *pdu = coap_pdu_init(COAP_MESSAGE_CON, r->code, 0x4242, 8192);
  CU_ASSERT_PTR_NOT_NULL_FATAL(pdu);
  const char *tok = r->token != NULL ? r->token : "tk";
  CU_ASSERT_FATAL(coap_add_token(pdu, strlen(tok), (const uint8_t *)tok));
  if (r->observe >= 0)
    add_uint(pdu, COAP_OPTION_OBSERVE, (unsigned)r->observe);
  add_split(pdu, COAP_OPTION_URI_PATH, r->path, '/');
  if (r->content_format >= 0)
    add_uint(pdu, COAP_OPTION_CONTENT_FORMAT, (unsigned)r->content_format);
  add_split(pdu, COAP_OPTION_URI_QUERY, r->query, '&');
  if (r->accept >= 0)
    add_uint(pdu, COAP_OPTION_ACCEPT, (unsigned)r->accept);
  if (r->payload != NULL)
    CU_ASSERT_FATAL(coap_add_data(pdu, strlen(r->payload),
                                  (const uint8_t *)r->payload));
  return pdu;
}

/* One request through ec_req_setup() from @p s with @p formats: its
 * result; *code is the response's code (class*100+detail), 0 if none. */
typedef struct {
  ec_req_t rq;
  coap_pdu_t *req, *resp;
} run_t;

static int start(run_t *x, const req_t *r, coap_session_t *s,
                 unsigned formats) {
  x->req = make(r);
  x->resp = coap_pdu_init(COAP_MESSAGE_ACK, 0, 0x4242, 1400);
  CU_ASSERT_PTR_NOT_NULL_FATAL(x->resp);
  return ec_req_setup(&x->rq, srv, NULL, s, x->req, NULL, x->resp, formats);
}

/* Set @p x's request up again, with the options added since (the
 * dispatcher reads them once, in ec_req_setup()). */
static int again(run_t *x, coap_session_t *s, unsigned formats) {
  return ec_req_setup(&x->rq, srv, NULL, s, x->req, NULL, x->resp, formats);
}

static int code_of(const run_t *x) {
  coap_pdu_code_t c = coap_pdu_get_code(x->resp);
  return c == 0 ? 0 : (c >> 5) * 100 + (c & 0x1f);
}

static void finish(run_t *x) {
  ec_req_done(&x->rq);
  coap_delete_pdu(x->req);
  coap_delete_pdu(x->resp);
}

/* A peer whose address is verified (echo.h): its answers are not bounded
 * to 3x the request, so a refusal shows its own code. */
static coap_session_t *verified(void) {
  ec_peer_t *p = ec_peer_get(srv, sess_b);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  p->verified = true;
  return sess_b;
}

static void test_formats_are_negotiated(void) {
  run_t x;
  req_t r = plain;
  /* Nothing said: JSON both ways. */
  CU_ASSERT_EQUAL(start(&x, &r, sess_a, EC_FMT_DOC), 0);
  CU_ASSERT_EQUAL(x.rq.resp_fmt, EC_FORMAT_JSON);
  CU_ASSERT_EQUAL(code_of(&x), 0);
  finish(&x);
  /* Accept decides the answer. */
  r.accept = 60;
  CU_ASSERT_EQUAL(start(&x, &r, sess_a, EC_FMT_DOC), 0);
  CU_ASSERT_EQUAL(x.rq.resp_fmt, EC_FORMAT_CBOR);
  finish(&x);
  /* Without Accept the answer follows the body, sniffed when unlabelled. */
  r = plain;
  r.code = COAP_REQUEST_CODE_POST;
  r.payload = "\xa1\x61x\x01";
  CU_ASSERT_EQUAL(start(&x, &r, sess_a, EC_FMT_DOC), 0);
  CU_ASSERT_EQUAL(x.rq.req_fmt, EC_FORMAT_CBOR);
  CU_ASSERT_EQUAL(x.rq.resp_fmt, EC_FORMAT_CBOR);
  finish(&x);
  r.payload = " {\"x\":1}";
  CU_ASSERT_EQUAL(start(&x, &r, sess_a, EC_FMT_DOC), 0);
  CU_ASSERT_EQUAL(x.rq.req_fmt, EC_FORMAT_JSON);
  finish(&x);
  r.content_format = 60;
  r.accept = 50;
  CU_ASSERT_EQUAL(start(&x, &r, sess_a, EC_FMT_DOC), 0);
  CU_ASSERT_EQUAL(x.rq.req_fmt, EC_FORMAT_CBOR);
  CU_ASSERT_EQUAL(x.rq.resp_fmt, EC_FORMAT_JSON);
  finish(&x);
}

static void test_formats_outside_the_route_are_refused(void) {
  run_t x;
  req_t r = plain;
  r.accept = 41;
  CU_ASSERT_TRUE(start(&x, &r, verified(), EC_FMT_DOC) < 0);
  CU_ASSERT_EQUAL(code_of(&x), 406);
  finish(&x);
  /* Link-format only where the route answers in it (discovery). */
  r.accept = 40;
  CU_ASSERT_TRUE(start(&x, &r, verified(), EC_FMT_DOC) < 0);
  CU_ASSERT_EQUAL(code_of(&x), 406);
  finish(&x);
  CU_ASSERT_EQUAL(start(&x, &r, verified(), EC_FMT_DOC | EC_FMT_LINK), 0);
  CU_ASSERT_EQUAL(x.rq.resp_fmt, EC_FORMAT_JSON); /* its refusals' format */
  finish(&x);
  r.accept = 50;
  CU_ASSERT_TRUE(start(&x, &r, verified(), EC_FMT_CBOR) < 0);
  CU_ASSERT_EQUAL(code_of(&x), 406);
  finish(&x);
  r = plain;
  r.code = COAP_REQUEST_CODE_POST;
  r.content_format = 0; /* text/plain */
  r.payload = "hello";
  CU_ASSERT_TRUE(start(&x, &r, verified(), EC_FMT_DOC) < 0);
  CU_ASSERT_EQUAL(code_of(&x), 415);
  finish(&x);
  /* A Content-Format without a payload describes nothing: not checked. */
  r.payload = NULL;
  CU_ASSERT_EQUAL(start(&x, &r, verified(), EC_FMT_DOC), 0);
  finish(&x);
}

static void test_unverified_observe_is_challenged(void) {
  run_t x;
  req_t r = plain;
  r.observe = 0;
  CU_ASSERT_TRUE(start(&x, &r, sess_a, EC_FMT_DOC) < 0);
  CU_ASSERT_EQUAL(code_of(&x), 401);
  coap_opt_iterator_t it;
  CU_ASSERT_PTR_NOT_NULL(coap_check_option(x.resp, COAP_OPTION_ECHO, &it));
  finish(&x);
  /* Deregistering is no observation; a verified peer observes. */
  r.observe = 1;
  CU_ASSERT_EQUAL(start(&x, &r, sess_a, EC_FMT_DOC), 0);
  finish(&x);
  r.observe = 0;
  CU_ASSERT_EQUAL(start(&x, &r, verified(), EC_FMT_DOC), 0);
  CU_ASSERT_TRUE(x.rq.verified);
  finish(&x);
}

static void test_path_segments(void) {
  char segs[4][129];
  req_t r = plain;
  r.path = "device/d1/deployments";
  coap_pdu_t *pdu = make(&r);
  CU_ASSERT_EQUAL(ec_req_path(pdu, segs, 4), 3);
  CU_ASSERT_STRING_EQUAL(segs[1], "d1");
  coap_delete_pdu(pdu);
  /* More segments than asked for: -1, as is an over-long one. */
  r.path = "a/b/c/d/e";
  pdu = make(&r);
  CU_ASSERT_EQUAL(ec_req_path(pdu, segs, 4), -1);
  coap_delete_pdu(pdu);
  char long_seg[200];
  memset(long_seg, 'x', sizeof(long_seg) - 1);
  long_seg[sizeof(long_seg) - 1] = '\0';
  r.path = long_seg;
  pdu = make(&r);
  CU_ASSERT_EQUAL(ec_req_path(pdu, segs, 4), -1);
  coap_delete_pdu(pdu);
}

static void test_query_parameters(void) {
  run_t x;
  req_t r = plain;
  r.query = "limit=5&since=12&flag";
  CU_ASSERT_EQUAL_FATAL(start(&x, &r, verified(), EC_FMT_DOC), 0);
  const uint8_t *v;
  CU_ASSERT_EQUAL(ec_req_query(&x.rq, "since", &v), 2);
  CU_ASSERT_EQUAL(memcmp(v, "12", 2), 0);
  CU_ASSERT_EQUAL(ec_req_query(&x.rq, "nope", &v), -1);
  int64_t n = 0;
  CU_ASSERT_EQUAL(ec_req_query_int(&x.rq, "limit", 1, 10, 3, &n), 0);
  CU_ASSERT_EQUAL(n, 5);
  CU_ASSERT_EQUAL(ec_req_query_int(&x.rq, "absent", 1, 10, 3, &n), 0);
  CU_ASSERT_EQUAL(n, 3);
  static const char *const all[] = {"limit", "since", "flag", NULL};
  CU_ASSERT_EQUAL(ec_req_query_check(&x.rq, all), 0);
  CU_ASSERT_EQUAL(code_of(&x), 0);
  finish(&x);
  /* Out of range, and a name no route takes: 4.00. */
  CU_ASSERT_EQUAL_FATAL(start(&x, &r, verified(), EC_FMT_DOC), 0);
  CU_ASSERT_TRUE(ec_req_query_int(&x.rq, "limit", 6, 10, 6, &n) < 0);
  CU_ASSERT_EQUAL(code_of(&x), 400);
  finish(&x);
  static const char *const some[] = {"limit", NULL};
  CU_ASSERT_EQUAL_FATAL(start(&x, &r, verified(), EC_FMT_DOC), 0);
  CU_ASSERT_TRUE(ec_req_query_check(&x.rq, some) < 0);
  CU_ASSERT_EQUAL(code_of(&x), 400);
  finish(&x);
}

static void test_request_id(void) {
  run_t x;
  req_t r = plain;
  r.code = COAP_REQUEST_CODE_POST;
  const uint8_t *id = NULL;
  size_t len = 0;
  CU_ASSERT_EQUAL_FATAL(start(&x, &r, verified(), EC_FMT_DOC), 0);
  CU_ASSERT_EQUAL(ec_req_request_id(&x.rq, &id, &len), 0);
  finish(&x);
  static const uint8_t good[EC_REQUEST_ID_MIN + 4] = {1, 2, 3};
  CU_ASSERT_EQUAL_FATAL(start(&x, &r, verified(), EC_FMT_DOC), 0);
  coap_add_option(x.req, EC_OPTION_REQUEST_ID, sizeof(good), good);
  CU_ASSERT_EQUAL_FATAL(again(&x, verified(), EC_FMT_DOC), 0);
  CU_ASSERT_EQUAL(ec_req_request_id(&x.rq, &id, &len), 1);
  CU_ASSERT_EQUAL(len, sizeof(good));
  finish(&x);
  /* Too long, and twice: 4.02. */
  static const uint8_t too_long[EC_REQUEST_ID_MAX + 1] = {0};
  CU_ASSERT_EQUAL_FATAL(start(&x, &r, verified(), EC_FMT_DOC), 0);
  coap_add_option(x.req, EC_OPTION_REQUEST_ID, sizeof(too_long), too_long);
  CU_ASSERT_EQUAL_FATAL(again(&x, verified(), EC_FMT_DOC), 0);
  CU_ASSERT_EQUAL(ec_req_request_id(&x.rq, &id, &len), -1);
  CU_ASSERT_EQUAL(code_of(&x), 402);
  finish(&x);
  CU_ASSERT_EQUAL_FATAL(start(&x, &r, verified(), EC_FMT_DOC), 0);
  coap_add_option(x.req, EC_OPTION_REQUEST_ID, sizeof(good), good);
  coap_add_option(x.req, EC_OPTION_REQUEST_ID, sizeof(good), good);
  CU_ASSERT_EQUAL_FATAL(again(&x, verified(), EC_FMT_DOC), 0);
  CU_ASSERT_EQUAL(ec_req_request_id(&x.rq, &id, &len), -1);
  CU_ASSERT_EQUAL(code_of(&x), 402);
  finish(&x);
}

/* Block2 as the options walk found it: the values coap_get_block_b()
 * reads, and nothing for a missing, BERT or over-long option. */
static void test_block2_from_the_walk(void) {
  static const struct {
    int len;        /* -1: no option */
    unsigned value; /* as sent */
    int ok;
  } cases[] = {{-1, 0, 0}, {1, 5u << 4 | 1u << 3 | 2, 1}, {2, 300u << 4 | 6, 1},
               {0, 0, 1}, {1, 7, 0}, {4, 1u << 4 | 2, 0}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    run_t x;
    x.req = make(&plain);
    if (cases[i].len >= 0) {
      uint8_t v[4] = {0};
      for (int k = 0; k < cases[i].len; k++)
        v[k] = (uint8_t)(cases[i].value >> (8 * (cases[i].len - 1 - k)));
      coap_add_option(x.req, COAP_OPTION_BLOCK2, (size_t)cases[i].len, v);
    }
    x.resp = coap_pdu_init(COAP_MESSAGE_ACK, 0, 0x4242, 1400);
    CU_ASSERT_EQUAL_FATAL(ec_req_setup(&x.rq, srv, NULL, verified(), x.req,
                                       NULL, x.resp, EC_FMT_DOC),
                          0);
    coap_block_b_t b, lib;
    int ok = ec_req_block2(&x.rq, &b);
    CU_ASSERT_EQUAL(ok, cases[i].ok);
    if (ok) {
      CU_ASSERT_EQUAL(b.num, cases[i].value >> 4);
      CU_ASSERT_EQUAL(b.m, (cases[i].value >> 3) & 1);
      CU_ASSERT_EQUAL(b.szx, cases[i].value & 7);
      CU_ASSERT_TRUE_FATAL(coap_get_block_b(sess_b, x.req, COAP_OPTION_BLOCK2,
                                            &lib));
      CU_ASSERT_TRUE(lib.num == b.num && lib.m == b.m && lib.szx == b.szx);
    }
    finish(&x);
  }
}

static void test_body_over_the_cap_is_refused(void) {
  run_t x;
  req_t r = plain;
  r.code = COAP_REQUEST_CODE_POST;
  static char big[5000];
  memset(big, 'x', sizeof(big) - 1);
  r.payload = big;
  r.content_format = 50;
  CU_ASSERT_EQUAL_FATAL(start(&x, &r, verified(), EC_FMT_DOC), 0);
  CU_ASSERT_TRUE(ec_req_body(&x.rq) < 0);
  CU_ASSERT_EQUAL(code_of(&x), 413);
  coap_opt_iterator_t it;
  CU_ASSERT_PTR_NOT_NULL(coap_check_option(x.resp, COAP_OPTION_SIZE1, &it));
  finish(&x);
  r.payload = "{\"x\":1}";
  CU_ASSERT_EQUAL_FATAL(start(&x, &r, verified(), EC_FMT_DOC), 0);
  CU_ASSERT_EQUAL(ec_req_body(&x.rq), 1);
  CU_ASSERT_EQUAL(x.rq.body_len, strlen(r.payload));
  finish(&x);
}

static void test_peers_are_per_session(void) {
  ec_peer_t *a = ec_peer_get(srv, sess_a);
  CU_ASSERT_PTR_NOT_NULL_FATAL(a);
  CU_ASSERT_PTR_EQUAL(ec_peer_get(srv, sess_a), a);
  ec_peer_t *b = ec_peer_get(srv, sess_b);
  CU_ASSERT_PTR_NOT_NULL_FATAL(b);
  CU_ASSERT_PTR_NOT_EQUAL(a, b);
  CU_ASSERT_PTR_EQUAL(ec_peer_find(srv, coap_session_get_addr_remote(sess_a)),
                      a);
  CU_ASSERT_PTR_EQUAL(ec_peer_find(srv, coap_session_get_addr_remote(sess_b)),
                      b);
  /* Dropped, it is found no more and comes back new (not verified). */
  b->verified = true;
  ec_peer_drop(srv, sess_b);
  CU_ASSERT_PTR_NULL(ec_peer_find(srv, coap_session_get_addr_remote(sess_b)));
  b = ec_peer_get(srv, sess_b);
  CU_ASSERT_PTR_NOT_NULL_FATAL(b);
  CU_ASSERT_FALSE(b->verified);
}

/* ---- observations (watch.c) --------------------------------------------- */

static int filters_freed;

static void filter_free(void *f) {
  filters_freed++;
  free(f);
}

/* Ask @p list to observe (@p observe 0), cancel (1) or just read (-1) with
 * token @p tok from @p s; ec_watch_request()'s result, *code the answer's. */
static int observe(ec_watch_list_t *list, coap_session_t *s, const char *tok,
                   int observe_value, int *code) {
  run_t x;
  req_t r = plain;
  r.observe = observe_value;
  r.token = tok;
  x.req = make(&r);
  x.resp = coap_pdu_init(COAP_MESSAGE_ACK, 0, 0x4242, 1400);
  CU_ASSERT_PTR_NOT_NULL_FATAL(x.resp);
  CU_ASSERT_EQUAL_FATAL(ec_req_setup(&x.rq, srv, NULL, s, x.req, NULL,
                                     x.resp, EC_FMT_DOC),
                        0);
  int rc = ec_watch_request(&x.rq, list, malloc(8), filter_free);
  *code = code_of(&x);
  coap_opt_iterator_t it;
  if (rc == 1)
    CU_ASSERT_PTR_NOT_NULL(coap_check_option(x.resp, COAP_OPTION_OBSERVE, &it));
  finish(&x);
  return rc;
}

static void test_observations_register_and_cancel(void) {
  static ec_watch_list_t list;
  int code;
  ec_watch_list_init(srv, &list, "test");
  filters_freed = 0;
  coap_session_t *s = verified();
  CU_ASSERT_EQUAL(observe(&list, s, "w1", 0, &code), 1);
  CU_ASSERT_EQUAL(list.count, 1u);
  /* The same session and token again: the same watch, a new filter. */
  CU_ASSERT_EQUAL(observe(&list, s, "w1", 0, &code), 1);
  CU_ASSERT_EQUAL(list.count, 1u);
  CU_ASSERT_EQUAL(filters_freed, 1);
  /* A plain read keeps it and owns no filter. */
  CU_ASSERT_EQUAL(observe(&list, s, "w1", -1, &code), 0);
  CU_ASSERT_EQUAL(list.count, 1u);
  CU_ASSERT_EQUAL(filters_freed, 2);
  /* Another token is another observation; Observe 1 ends the one it names. */
  CU_ASSERT_EQUAL(observe(&list, s, "w2", 0, &code), 1);
  CU_ASSERT_EQUAL(list.count, 2u);
  CU_ASSERT_EQUAL(observe(&list, s, "w1", 1, &code), 0);
  CU_ASSERT_EQUAL(list.count, 1u);
  CU_ASSERT_PTR_NOT_NULL_FATAL(list.head);
  CU_ASSERT_EQUAL(memcmp(list.head->token, "w2", 2), 0);
  ec_watch_remove(list.head);
  CU_ASSERT_EQUAL(list.count, 0u);
}

static void test_observations_are_capped(void) {
  static ec_watch_list_t list;
  int code;
  ec_watch_list_init(srv, &list, "capped");
  filters_freed = 0;
  coap_session_t *s = verified();
  /* Two per session (max_peer_observations): the third is 5.03 and its
   * filter is freed. */
  CU_ASSERT_EQUAL(observe(&list, s, "c1", 0, &code), 1);
  CU_ASSERT_EQUAL(observe(&list, s, "c2", 0, &code), 1);
  CU_ASSERT_TRUE(observe(&list, s, "c3", 0, &code) < 0);
  CU_ASSERT_EQUAL(code, 503);
  CU_ASSERT_EQUAL(filters_freed, 1);
  CU_ASSERT_EQUAL(list.count, 2u);
  /* Ending them frees the session's share again. */
  while (list.head != NULL)
    ec_watch_remove(list.head);
  CU_ASSERT_EQUAL(filters_freed, 3); /* a watch owns its filter */
  CU_ASSERT_EQUAL(observe(&list, s, "c3", 0, &code), 1);
  CU_ASSERT_EQUAL(list.count, 1u);
  ec_watch_free_all(srv);
  CU_ASSERT_EQUAL(list.count, 0u);
  CU_ASSERT_EQUAL(filters_freed, 4);
}

/* A PDU's size on the wire (RFC 7252 section 3), with a payload and
 * without: header 4, token, each option's head and value, the marker. */
static void test_wire_size(void) {
  req_t r = plain;
  r.code = COAP_REQUEST_CODE_POST;
  r.path = "a/bcd";         /* 1+1, 1+3 */
  r.content_format = 60;    /* 1+1 */
  r.query = "x=1";          /* 1+3 */
  r.payload = "hello";      /* 1+5 */
  r.token = "tk";           /* 2 */
  coap_pdu_t *pdu = make(&r);
  CU_ASSERT_EQUAL(ec_req_wire_size(pdu), 4 + 2 + 2 + 4 + 2 + 4 + 1 + 5);
  coap_delete_pdu(pdu);
  r.payload = NULL;
  pdu = make(&r);
  CU_ASSERT_EQUAL(ec_req_wire_size(pdu), 4 + 2 + 2 + 4 + 2 + 4);
  coap_delete_pdu(pdu);
  /* An option of 13 bytes and more takes an extended length byte. */
  r.path = "abcdefghijklmnop";
  r.payload = "z";
  pdu = make(&r);
  CU_ASSERT_EQUAL(ec_req_wire_size(pdu), 4 + 2 + (2 + 16) + 2 + 4 + 1 + 1);
  coap_delete_pdu(pdu);
}

/* The wire-form walk finds what libcoap's iterator finds: numbers,
 * values and starts, through 1- and 2-byte extended deltas and lengths,
 * with and without a payload. */
static void test_option_walk_is_libcoaps(void) {
  static uint8_t big[300];
  memset(big, 'b', sizeof(big));
  for (int with_payload = 0; with_payload < 2; with_payload++) {
    coap_pdu_t *pdu = coap_pdu_init(COAP_MESSAGE_CON, COAP_REQUEST_CODE_POST,
                                    7, 2048);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pdu);
    CU_ASSERT_FATAL(coap_add_token(pdu, 3, (const uint8_t *)"tok"));
    coap_add_option(pdu, COAP_OPTION_IF_MATCH, 0, NULL);
    coap_add_option(pdu, COAP_OPTION_URI_PATH, 14,
                    (const uint8_t *)"fourteen-bytes");
    coap_add_option(pdu, COAP_OPTION_SIZE1, 1, (const uint8_t *)"\x05");
    coap_add_option(pdu, EC_OPTION_REQUEST_ID, sizeof(big), big);
    if (with_payload)
      CU_ASSERT_FATAL(coap_add_data(pdu, 3, (const uint8_t *)"xyz"));
    coap_opt_iterator_t it;
    ec_req_optw_t w;
    const coap_opt_t *opt, *mine;
    const uint8_t *v;
    size_t len;
    int n = 0;
    coap_option_iterator_init(pdu, &it, COAP_OPT_ALL);
    ec_req_optw_init(&w, pdu);
    while ((opt = coap_option_next(&it)) != NULL) {
      CU_ASSERT_TRUE_FATAL(ec_req_optw_next(&w, &mine, &v, &len));
      CU_ASSERT_EQUAL(w.number, it.number);
      CU_ASSERT_PTR_EQUAL(mine, opt);
      CU_ASSERT_PTR_EQUAL(v, coap_opt_value(opt));
      CU_ASSERT_EQUAL(len, coap_opt_length(opt));
      n++;
    }
    CU_ASSERT_FALSE(ec_req_optw_next(&w, &mine, &v, &len));
    CU_ASSERT_EQUAL(n, 4);
    /* Header 4 and token 3; If-Match one byte; Uri-Path a byte and an
     * extended length; Size1 an extended delta; Request-Id 2-byte
     * extended delta and length. */
    size_t options = 1 + (2 + 14) + (2 + 1) + (5 + 300);
    CU_ASSERT_EQUAL(ec_req_wire_size(pdu),
                    4 + 3 + options + (with_payload ? 1 + 3 : 0));
    coap_delete_pdu(pdu);
  }
}

static const ec_test_t tests[] = {
    {test_wire_size, "wire_size"},
    {test_option_walk_is_libcoaps, "option_walk_is_libcoaps"},
    {test_formats_are_negotiated, "formats_are_negotiated"},
    {test_formats_outside_the_route_are_refused,
     "formats_outside_the_route_are_refused"},
    {test_unverified_observe_is_challenged, "unverified_observe_is_challenged"},
    {test_path_segments, "path_segments"},
    {test_query_parameters, "query_parameters"},
    {test_request_id, "request_id"},
    {test_block2_from_the_walk, "block2_from_the_walk"},
    {test_body_over_the_cap_is_refused, "body_over_the_cap_is_refused"},
    {test_observations_register_and_cancel,
     "observations_register_and_cancel"},
    {test_observations_are_capped, "observations_are_capped"},
    {test_peers_are_per_session, "peers_are_per_session"},
};

int main(void) {
  return ec_test_main("request", tests, EC_TEST_COUNT(tests), suite_init,
                      suite_cleanup, NULL);
}
