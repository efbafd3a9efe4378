/* edgecoap tests: reads answered from memory before libcoap reads them, against the real server. */
/* SPDX-License-Identifier: Apache-2.0 */
#define _GNU_SOURCE /* memmem */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "itest.h"
#include "ithttp.h"
#include "suite.h"

/*
 * A confirmable GET of a deployment status whose report the server has
 * cached is answered by the screen (server/coap/screen.h), not by libcoap
 * and the dispatcher. Here: that answer is the dispatcher's, byte for
 * byte after the Message ID and token, in each format, and is counted and
 * logged the same; what the screen must leave to the dispatcher still
 * gets the dispatcher's answer (and is not counted as screened); a write
 * is read at once; and a peer that only ever reads keeps its session (its
 * verified address) although libcoap does not see most of its reads. The
 * server runs with --session-timeout 2 so that the last takes seconds.
 */

#define DEP "6e0c55a1-94d2-4b9b-9f07-5a4c1bfe0c11"
#define TIMEOUT_MS 5000
#define SCREENED "edgecoap_screened_reads_total"
#define SESSION_TIMEOUT_S 2

static it_server_t srv;
static uint16_t http_port;
static size_t last_in; /* the bytes of the last request get() sent */

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

static double screened(void) {
  double v = it_http_metric(http_port, SCREENED);
  return v < 0 ? 0 : v; /* left out of a scrape until it counts */
}

static it_coap_msg_t *msg_new(void) {
  it_coap_msg_t *m = calloc(1, sizeof(*m));
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  return m;
}

static char *path_of(char *out, size_t cap, const char *dev) {
  snprintf(out, cap, "device/%s/deployment/%s/status", dev, DEP);
  return out;
}

/* PUT report @p body to @p path through @p u: the code (201, 204). */
static int put_report(it_udp_t *u, const char *path, const char *body) {
  it_req_t rq = IT_REQ(IT_PUT, path);
  rq.content_format = 50;
  rq.payload = body;
  rq.payload_len = strlen(body);
  it_coap_msg_t *m = msg_new();
  int code = it_coap_request(u, &rq, m, TIMEOUT_MS) == 0
                 ? IT_CODE_INT(m->code)
                 : -1;
  free(m);
  return code;
}

/* Report @p state for @p dev through @p u: its code (201, 204). */
static int report(it_udp_t *u, const char *dev, const char *state) {
  char body[512], path[160];
  it_report(body, sizeof(body), DEP, state, "app", state);
  return put_report(u, path_of(path, sizeof(path), dev), body);
}

/* One GET of @p path (with Accept @p accept unless < 0, and one more
 * option @p opt = @p v unless opt is 0) of type @p type, and no Echo
 * answered for it: the answer's code, the answer in @p resp. */
static int get(it_udp_t *u, int type, const char *path, int accept,
               uint16_t opt, uint32_t v, it_coap_msg_t *resp) {
  it_coap_msg_t *req = msg_new();
  uint8_t tok[4], dgram[IT_COAP_MAX_DGRAM];
  it_udp_token(u, tok);
  it_coap_init(req, type, IT_GET, it_udp_mid(u), tok, sizeof(tok));
  it_coap_add_path(req, path);
  if (accept >= 0)
    it_coap_add_uint(req, IT_OPT_ACCEPT, (uint32_t)accept);
  if (opt != 0)
    it_coap_add_uint(req, opt, v);
  ssize_t n = it_coap_encode(req, dgram, sizeof(dgram));
  free(req);
  CU_ASSERT_TRUE_FATAL(n > 0);
  last_in = (size_t)n;
  int rc;
  if (type == IT_CON) {
    rc = it_coap_exchange_raw(u, dgram, (size_t)n, resp, TIMEOUT_MS);
  } else {
    rc = it_udp_send(u, dgram, (size_t)n);
    if (rc == 0)
      rc = it_udp_recv_msg(u, resp, TIMEOUT_MS);
  }
  return rc == 0 ? IT_CODE_INT(resp->code) : -1;
}

/* The answers are the same after their header and 4-byte token. */
static bool same_answer(const it_coap_msg_t *a, const it_coap_msg_t *b) {
  size_t head = 4 + 4;
  return a->raw_len > head && a->raw_len == b->raw_len &&
         memcmp(a->raw + head, b->raw + head, a->raw_len - head) == 0;
}

/* A socket whose address the server verified (echo.h), not yet seen
 * reading a status: its first read goes through the dispatcher. */
static void open_verified(it_udp_t *u) {
  CU_ASSERT_EQUAL_FATAL(it_udp_open_fresh(u, srv.port), 0);
  CU_ASSERT_EQUAL_FATAL(it_udp_verify(u), 0);
}

/* The same, having read @p path once through the dispatcher (which the
 * screen waits for). */
static void open_reader(it_udp_t *u, const char *path) {
  it_coap_msg_t *m = msg_new();
  open_verified(u);
  CU_ASSERT_EQUAL(get(u, IT_CON, path, 60, 0, 0, m), 205);
  free(m);
}

/* A report of @p n components with long names: some 40 bytes each. */
static const char *big_report(char *buf, size_t cap, int n) {
  char comps[2048] = "";
  size_t k = 0;
  for (int i = 0; i < n && k + 100 < sizeof(comps); i++)
    k += (size_t)snprintf(comps + k, sizeof(comps) - k,
                          "%s{\"name\":\"component-with-a-long-name-%02d\","
                          "\"state\":\"Installed\"}",
                          i ? "," : "", i);
  return it_report_with(buf, cap, DEP, "Installed", comps);
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                     */

static void test_screened_read_is_the_dispatchers_answer(void) {
  char path[160], needle[320];
  it_udp_t w;
  it_coap_msg_t *first = msg_new(), *again = msg_new();
  open_verified(&w);
  path_of(path, sizeof(path), "dev-scr-1");
  CU_ASSERT_EQUAL_FATAL(report(&w, "dev-scr-1", "Installing"), 201);

  /* CBOR, JSON, and no Accept (JSON), each by a reader of its own: its
   * first read goes through the dispatcher, its second is screened. */
  static const int accepts[] = {60, 50, -1};
  for (size_t i = 0; i < sizeof(accepts) / sizeof(accepts[0]); i++) {
    it_udp_t u;
    open_verified(&u);
    double before = screened();
    CU_ASSERT_EQUAL(get(&u, IT_CON, path, accepts[i], 0, 0, first), 205);
    double mid = screened();
    CU_ASSERT_EQUAL(get(&u, IT_CON, path, accepts[i], 0, 0, again), 205);
    double after = screened();
    it_udp_close(&u);
    CU_ASSERT_EQUAL(mid, before); /* the dispatcher's */
    CU_ASSERT_EQUAL(after, mid + 1); /* the screen's */
    CU_ASSERT_EQUAL(again->type, IT_ACK);
    CU_ASSERT_TRUE(same_answer(first, again));
    if (!same_answer(first, again))
      fprintf(stderr, "\n  accept %d: %zu bytes from the dispatcher, %zu from "
              "the screen\n", accepts[i], first->raw_len, again->raw_len);
    /* ETag, Content-Format and Max-Age as API.md section 2 says. */
    CU_ASSERT_EQUAL(it_coap_opt_count(again, IT_OPT_ETAG), 1);
    CU_ASSERT_EQUAL(it_coap_opt_uint(again, IT_OPT_CONTENT_FORMAT, 0),
                    accepts[i] == 60 ? 60u : 50u);
    CU_ASSERT_EQUAL(it_coap_opt_uint(again, IT_OPT_MAX_AGE, 0), 10u);
    /* Both logged alike: method, path, code, bytes in and out. */
    snprintf(needle, sizeof(needle),
             "method=GET path=/%s code=2.05 in=%zu out=%zu ", path, last_in,
             again->raw_len);
    CU_ASSERT_EQUAL(it_server_log_count(&srv, needle), 2);
  }
  it_udp_close(&w);
  free(first);
  free(again);
}

static void test_what_the_dispatcher_still_answers(void) {
  char path[160], upper[160], query[200], body[4096];
  it_udp_t u, w, z;
  it_coap_msg_t *m = msg_new();
  open_verified(&w);
  path_of(path, sizeof(path), "dev-scr-2");
  CU_ASSERT_EQUAL_FATAL(report(&w, "dev-scr-2", "Installing"), 201);
  open_reader(&u, path);
  double base = screened();

  /* A query, a NON request, a Block2 option, an Accept not offered, a
   * path another spelling of the route's. */
  snprintf(query, sizeof(query), "%s?x=1", path);
  CU_ASSERT_EQUAL(get(&u, IT_CON, query, 60, 0, 0, m), 205);
  CU_ASSERT_EQUAL(get(&u, IT_NON, path, 60, 0, 0, m), 205);
  CU_ASSERT_EQUAL(m->type, IT_NON);
  CU_ASSERT_EQUAL(get(&u, IT_CON, path, 60, IT_OPT_BLOCK2, 6, m), 205);
  CU_ASSERT_EQUAL(it_coap_opt_count(m, IT_OPT_BLOCK2), 1);
  CU_ASSERT_EQUAL(get(&u, IT_CON, path, 0, 0, 0, m), 406);
  snprintf(upper, sizeof(upper), "device/dev-scr-2/deployment/"
           "6E0C55A1-94D2-4B9B-9F07-5A4C1BFE0C11/status");
  CU_ASSERT_EQUAL(get(&u, IT_CON, upper, 60, 0, 0, m), 205);
  CU_ASSERT_EQUAL(screened(), base);

  /* An observer's reads are noted for its notifications (watch.h); the
   * status's other readers are screened all the same. */
  CU_ASSERT_EQUAL(get(&w, IT_CON, path, 60, IT_OPT_OBSERVE, 0, m), 205);
  CU_ASSERT_EQUAL(it_coap_opt_count(m, IT_OPT_OBSERVE), 1);
  CU_ASSERT_EQUAL(get(&w, IT_CON, path, 60, 0, 0, m), 205);
  CU_ASSERT_EQUAL(screened(), base);
  CU_ASSERT_EQUAL(get(&u, IT_CON, path, 60, 0, 0, m), 205);
  CU_ASSERT_EQUAL(screened(), base + 1);
  CU_ASSERT_EQUAL(get(&w, IT_CON, path, 60, IT_OPT_OBSERVE, 1, m), 205);

  /* An address never verified, seen reading a small report, is challenged
   * (RFC 9175) once the report grew past three times its request. */
  CU_ASSERT_EQUAL_FATAL(it_udp_open_fresh(&z, srv.port), 0);
  CU_ASSERT_EQUAL(get(&z, IT_CON, path, 60, 0, 0, m), 205);
  CU_ASSERT_EQUAL(put_report(&w, path, big_report(body, sizeof(body), 12)),
                  204);
  base = screened();
  CU_ASSERT_EQUAL(get(&z, IT_CON, path, 60, 0, 0, m), 401);
  CU_ASSERT_EQUAL(it_coap_opt_count(m, IT_OPT_ECHO), 1);
  CU_ASSERT_EQUAL(screened(), base);
  it_udp_close(&z);
  it_udp_close(&u);
  it_udp_close(&w);
  free(m);
}

static void test_a_write_is_read_at_once(void) {
  char path[160];
  it_udp_t u, w;
  it_coap_msg_t *before = msg_new(), *after = msg_new();
  open_verified(&w);
  path_of(path, sizeof(path), "dev-scr-3");
  CU_ASSERT_EQUAL_FATAL(report(&w, "dev-scr-3", "Pending"), 201);
  open_reader(&u, path);
  CU_ASSERT_EQUAL(get(&u, IT_CON, path, 50, 0, 0, before), 205);
  static const char *const states[] = {"Installing", "Installed", "Failed"};
  for (size_t i = 0; i < 3; i++) {
    /* By another peer, and by the reader itself. */
    CU_ASSERT_EQUAL(report(i == 1 ? &u : &w, "dev-scr-3", states[i]), 204);
    double n = screened();
    CU_ASSERT_EQUAL(get(&u, IT_CON, path, 50, 0, 0, after), 205);
    CU_ASSERT_EQUAL(screened(), n + 1);
    char want[64];
    snprintf(want, sizeof(want), "\"state\":\"%s\"", states[i]);
    CU_ASSERT_PTR_NOT_NULL(memmem(after->payload, after->payload_len, want,
                                  strlen(want)));
    size_t la, lb;
    const uint8_t *ea = it_coap_opt(after, IT_OPT_ETAG, 0, &la);
    const uint8_t *eb = it_coap_opt(before, IT_OPT_ETAG, 0, &lb);
    CU_ASSERT_TRUE(ea != NULL && eb != NULL &&
                   (la != lb || memcmp(ea, eb, la) != 0));
    memcpy(before, after, sizeof(*before));
    before->payload = NULL;
  }
  it_udp_close(&u);
  it_udp_close(&w);
  free(before);
  free(after);
}

/* Reads every quarter of the session timeout for two timeouts: libcoap
 * must see one of them each half timeout, or it ends the session, whose
 * verified address goes with it, and a read is challenged (4.01) again. */
static void test_a_reader_keeps_its_session(void) {
  char path[160], body[4096];
  it_udp_t u, w;
  it_coap_msg_t *m = msg_new();
  open_verified(&w);
  path_of(path, sizeof(path), "dev-scr-4");
  /* Larger than three times a read: only a verified address gets it. */
  CU_ASSERT_EQUAL_FATAL(
      put_report(&w, path, big_report(body, sizeof(body), 12)), 201);
  it_udp_close(&w);
  open_reader(&u, path);
  double base = screened();
  int reads = 0, ok = 0;
  uint64_t end = it_now_ms() + 2 * SESSION_TIMEOUT_S * 1000 + 500;
  while (it_now_ms() < end && reads < 40) {
    it_sleep_ms(SESSION_TIMEOUT_S * 1000 / 4);
    reads++;
    ok += get(&u, IT_CON, path, 60, 0, 0, m) == 205;
  }
  CU_ASSERT_TRUE(reads >= 8);
  CU_ASSERT_EQUAL(ok, reads);
  double n = screened() - base;
  /* Most are screened; one a half timeout goes to libcoap. */
  CU_ASSERT_TRUE(n >= reads / 2 && n < reads);
  if (ok != reads || n < reads / 2 || n >= reads)
    fprintf(stderr, "\n  %d reads, %d answered 2.05, %.0f screened\n", reads,
            ok, n);
  it_udp_close(&u);
  free(m);
}

/* ------------------------------------------------------------------------ */
/* Set-up                                                                    */

static int suite_init(void) {
  static char http_s[32], timeout_s[8];
  it_init();
  http_port = it_free_port();
  snprintf(http_s, sizeof(http_s), "127.0.0.1:%u", http_port);
  snprintf(timeout_s, sizeof(timeout_s), "%d", SESSION_TIMEOUT_S);
  const char *extra[] = {"--http", http_s, "--session-timeout", timeout_s,
                         "--log-level", "info", NULL};
  return it_server_start(&srv, extra);
}

static const ec_test_t tests[] = {
    {test_screened_read_is_the_dispatchers_answer,
     "screened_read_is_the_dispatchers_answer"},
    {test_what_the_dispatcher_still_answers,
     "what_the_dispatcher_still_answers"},
    {test_a_write_is_read_at_once, "a_write_is_read_at_once"},
    {test_a_reader_keeps_its_session, "a_reader_keeps_its_session"},
};

int main(void) {
  static const ec_test_after_t after = {it_after_run, &srv, "it_screened"};
  return ec_test_main("screened", tests, EC_TEST_COUNT(tests), suite_init,
                      NULL, &after);
}
