/* edgecoap: hostile input: payloads, random datagrams, floods and caps. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <jansson.h>

#include "edgecoap/codec.h"
#include "it_hostile.h"
#include "it_prov_util.h"
#include "suite.h"

/*
 * One server (with --max-observers 40, so that the per-resource cap can be
 * reached from one client) faces, in order:
 * 1. hostile payloads on every API that takes a body: deployment status
 *    POST, status messages POST and FETCH, provisioning POST (with a valid
 *    token). Each must get the 4.xx API.md names (4.00, 4.13 or 4.15, and
 *    the title or seed error code), and a normal GET must work after each;
 * 2. 3,000 random, framed-at-random and truncated or mutated datagrams;
 * 3. the observation caps: 64 per client session, --max-observers per
 *    resource, refusals 5.03 with no observation made; and a session that
 *    re-registers one resource with new tokens holds one observation;
 * 4. 10,000 peers (distinct UDP sockets) sending one CON GET each, while a
 *    separate client's GETs must keep being answered, the server's memory
 *    must stay bounded and nothing alarming may be logged.
 * The log must hold no [ERROR] line at the end. EC_HOSTILE_SEED repeats a
 * run's random datagrams; EC_HOSTILE_ONLY=<test name> runs one test.
 * This file runs 1 (the payloads are it_hostile_cases.c's table); 2, 3 and
 * 4 are it_hostile_random.c, it_hostile_observe.c and it_hostile_flood.c.
 */

#define UPLOAD_TIMEOUT_MS 20000

it_server_t srv;
it_udp_t udp;
char token[EC_PROV_TOKEN_HEX + 1];
unsigned seed;
static uint32_t rng;

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

uint32_t rnd(void) {
  /* xorshift32: reproducible from the printed seed. */
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return rng;
}

void bb_put(bb_t *b, const void *data, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1)
      cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (p == NULL)
      abort();
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, data, n);
  b->len += n;
  b->p[b->len] = 0;
}

void bb_str(bb_t *b, const char *s) {
  bb_put(b, s, strlen(s));
}

void bb_byte(bb_t *b, uint8_t c) {
  bb_put(b, &c, 1);
}

bool server_ok(void) {
  return itp_server_ok();
}

int cf_of(const it_coap_msg_t *m) {
  size_t len;
  if (it_coap_opt(m, IT_OPT_CONTENT_FORMAT, 0, &len) == NULL)
    return -1;
  return (int)it_coap_opt_uint(m, IT_OPT_CONTENT_FORMAT, 0);
}

bool normal_get(void) {
  it_coap_msg_t *r = itp_msg_new();
  it_req_t rq = IT_REQ(IT_GET, STATUS_PATH);
  rq.accept = EC_FORMAT_JSON;
  bool ok = server_ok() && it_coap_request(&udp, &rq, r, RAW_TIMEOUT_MS) == 0 &&
            r->code == IT_CODE(2, 5);
  free(r);
  if (!ok)
    it_server_alive(&srv, 1000);
  return ok;
}

/* ------------------------------------------------------------------------ */
/* The APIs that take a body                                                 */

const api_t apis[N_APIS] = {
    {"deployment status POST", IT_POST, STATUS_PATH, false},
    {"status messages POST", IT_POST, MSGS, false},
    {"status messages FETCH", IT_FETCH, MSGS, false},
    {"provisioning POST", IT_POST, ITP_COMPONENTS, true},
};

/* Send @p len bytes to @p api on @p u: one datagram when it fits, else
 * Block1 of BLOCK bytes (with Size1 when @p size1), stopping at the first
 * answer that is not 2.31 Continue. @return 0 with the last answer in
 * @p resp */
static int send_body(it_udp_t *u, const api_t *api, int cf, const uint8_t *data,
                     size_t len, bool size1, it_coap_msg_t *resp, int *blocks) {
  it_coap_msg_t *m = itp_msg_new();
  uint64_t deadline = it_now_ms() + UPLOAD_TIMEOUT_MS;
  uint8_t tok[4];
  bool whole = len <= BLOCK;
  int rc = 0;
  *blocks = 0;
  it_udp_token(u, tok);
  for (uint32_t num = 0; rc == 0; num++) {
    size_t off = (size_t)num * BLOCK;
    size_t n = whole ? len : len - off < BLOCK ? len - off : BLOCK;
    bool more = !whole && off + n < len;
    it_coap_init(m, IT_CON, api->method, it_udp_mid(u), tok, sizeof(tok));
    it_coap_add_path(m, api->path);
    if (cf >= 0)
      it_coap_add_uint(m, IT_OPT_CONTENT_FORMAT, (uint32_t)cf);
    it_coap_add_uint(m, IT_OPT_ACCEPT, EC_FORMAT_JSON);
    if (api->prov)
      it_coap_add_opt(m, EC_PROV_AUTH_OPTION, token, strlen(token));
    if (!whole) {
      it_coap_add_block(m, IT_OPT_BLOCK1, num, more, BLOCK);
      if (size1)
        it_coap_add_uint(m, IT_OPT_SIZE1, (uint32_t)len);
    }
    it_coap_set_payload(m, data + off, n);
    uint64_t now = it_now_ms();
    if (!server_ok() || now >= deadline ||
        it_coap_exchange(u, m, resp, (unsigned)(deadline - now)) < 0) {
      fprintf(stderr, "\nit_hostile: %s: no answer to block %u\n", api->name,
              num);
      it_server_alive(&srv, 1000);
      rc = -1;
      break;
    }
    (*blocks)++;
    if (whole || !more || resp->code != IT_CODE(2, 31))
      break;
  }
  free(m);
  return rc;
}

/* The title of a problem answer, or the "error" of a seed-shaped one. */
static char *answer_title(const api_t *api, const it_coap_msg_t *r) {
  int cf = cf_of(r);
  int code = IT_CODE_INT(r->code);
  if (api->prov && code != 413 && code != 415) {
    json_t *j = json_loadb((const char *)r->payload, r->payload_len, 0, NULL);
    const char *e = json_string_value(json_object_get(j, "error"));
    char *s = e ? strdup(e) : NULL;
    json_decref(j);
    return s;
  }
  it_problem_t p;
  if (it_problem_parse(r->payload, r->payload_len, cf, &p) < 0)
    return NULL;
  char *s = p.title ? strdup(p.title) : NULL;
  it_problem_free(&p);
  return s;
}

static int failures, requests;

static void run_case(const hcase_t *c) {
  it_coap_msg_t *r = itp_msg_new();
  bb_t body = {0};
  char cs[8];
  hostile_body(c, &body);
  for (int a = 0; a < N_APIS; a++) {
    if (!(c->apis & (1u << a)))
      continue;
    const api_t *api = &apis[a];
    int want = api->prov ? c->want_prov : c->want_doc;
    const char *title = api->prov ? c->title_prov : c->title_doc;
    int blocks;
    /* libcoap 4.3.1 keeps a Block1 transfer's state per (session, resource)
     * for EXCHANGE_LIFETIME, refused or not, and answers a later transfer
     * in another Content-Format 4.08 "Content-Format mismatch" before the
     * server sees it. A real client would send a Request-Tag; each upload
     * here gets a session of its own instead, from a source address of its
     * own (a new socket alone may get a just-closed one's port back, and
     * with it that session). */
    it_udp_t fresh;
    it_udp_t *u = &udp;
    if (body.len > BLOCK) {
      CU_ASSERT_EQUAL_FATAL(it_udp_open_fresh(&fresh, srv.port), 0);
      /* Its refusals are problem details larger than 3x a block: only
       * for a verified address (RFC 9175; docs/SECURITY.md). */
      CU_ASSERT_EQUAL_FATAL(it_udp_verify(&fresh), 0);
      u = &fresh;
    }
    int sent = send_body(u, api, c->cf, body.p, body.len, c->size1, r, &blocks);
    requests++;
    if (u == &fresh)
      it_udp_close(&fresh);
    if (sent < 0) {
      fprintf(stderr, "\nit_hostile: %s on %s: no answer\n", c->name,
              api->name);
      CU_FAIL("no answer to a hostile payload");
      failures++;
      break;
    }
    int got = IT_CODE_INT(r->code);
    char *t = answer_title(api, r);
    bool ok = got == want && (title == NULL || (t && strcmp(t, title) == 0)) &&
              (c->want_blocks == 0 || blocks == c->want_blocks);
    if (!ok) {
      failures++;
      fprintf(stderr,
              "\nit_hostile: %s (%zu bytes) on %s: want %d %s after %d "
              "blocks, got %s %s after %d: %.*s\n",
              c->name, body.len, api->name, want, title ? title : "",
              c->want_blocks, it_coap_code_str(r->code, cs), t ? t : "-",
              blocks, (int)(r->payload_len > 300 ? 300 : r->payload_len),
              (const char *)r->payload);
      CU_FAIL("a hostile payload got the wrong answer");
    }
    free(t);
    if (!normal_get()) {
      fprintf(stderr,
              "\nit_hostile: after %s on %s the server stopped "
              "serving\n",
              c->name, api->name);
      CU_FAIL_FATAL("the server stopped serving after a hostile payload");
    }
  }
  free(body.p);
  free(r);
}

/* ------------------------------------------------------------------------ */
/* 1. Hostile payloads                                                       */

static void test_hostile_payloads(void) {
  CU_ASSERT_TRUE_FATAL(server_ok());
  failures = requests = 0;
  uint64_t t0 = it_now_ms();
  for (size_t i = 0; i < n_hostile_cases; i++)
    run_case(&hostile_cases[i]);
  fprintf(stderr,
          "\n  %zu payloads, %d requests (each followed by a GET), %d wrong "
          "answers, %.1f s\n",
          n_hostile_cases, requests, failures,
          (double)(it_now_ms() - t0) / 1000.0);
  CU_ASSERT_TRUE(it_server_alive(&srv, 2000));
}

/* ------------------------------------------------------------------------ */
/* Last: everything above left a server that stops cleanly                   */

static void test_server_stops_cleanly(void) {
  CU_ASSERT_TRUE_FATAL(server_ok());
  CU_ASSERT_EQUAL(it_server_stop(&srv), 0);
  int errors = it_server_log_count(&srv, "[ERROR]");
  if (errors != 0)
    it_server_log_tail(&srv, 60);
  CU_ASSERT_EQUAL(errors, 0);
}

/* ------------------------------------------------------------------------ */

static int suite_init(void) {
  it_init();
  udp.fd = -1;
  const char *s = getenv("EC_HOSTILE_SEED");
  seed = s ? (unsigned)strtoul(s, NULL, 10)
           : (unsigned)time(NULL) ^ (unsigned)getpid() << 8;
  rng = seed ? seed : 1;
  static const char *const extra[] = {"--max-observers", "40", NULL};
  itp_use_server(&srv);
  if (itp_start_server(&srv, extra) < 0 || it_udp_open(&udp, srv.port) < 0 ||
      it_udp_verify(&udp) < 0)
    return -1;
  if (itp_login_raw(&udp, "admin", ITP_ADMIN_PW, token, NULL) != 201)
    return -1;
  /* The status every normal GET reads (DEP_DOC_HEAD). */
  static const char doc[] = DEP_DOC_HEAD DEP_DOC_COMPONENTS "}";
  it_coap_msg_t *r = itp_msg_new();
  it_req_t rq = IT_REQ(IT_POST, STATUS_PATH);
  rq.content_format = EC_FORMAT_JSON;
  rq.payload = doc;
  rq.payload_len = strlen(doc);
  int rc = it_coap_request(&udp, &rq, r, RAW_TIMEOUT_MS) == 0 &&
                   r->code == IT_CODE(2, 1)
               ? 0
               : -1;
  free(r);
  return rc;
}

static int suite_cleanup(void) {
  it_udp_close(&udp);
  return 0;
}

static const ec_test_t tests[] = {
    {test_hostile_payloads, "hostile_payloads"},
    {test_random_datagrams, "random_datagrams"},
    {test_observation_caps, "observation_caps"},
    {test_observe_tokens_are_distinct_observations,
     "observe_tokens_are_distinct_observations"},
    {test_flood_of_peers, "flood_of_peers"},
    {test_server_stops_cleanly, "server_stops_cleanly"},
};

/* Say how to repeat a failed run; it_after_run() keeps the server's
 * directory then. */
static unsigned after_run(unsigned failed, void *ctx) {
  if (failed != 0)
    fprintf(stderr, "it_hostile: seed %u (EC_HOSTILE_SEED repeats it)\n", seed);
  return it_after_run(failed, ctx);
}

int main(void) {
  static const ec_test_after_t after = {after_run, &srv, "it_hostile"};
  /* EC_HOSTILE_ONLY=name runs that test alone (and the final clean stop). */
  ec_test_t run[EC_TEST_COUNT(tests)];
  size_t n = 0;
  const char *only = getenv("EC_HOSTILE_ONLY");
  for (size_t i = 0; i < EC_TEST_COUNT(tests); i++)
    if (only == NULL || i + 1 == EC_TEST_COUNT(tests) ||
        strcmp(only, tests[i].name) == 0)
      run[n++] = tests[i];
  return ec_test_main("hostile", run, n, suite_init, suite_cleanup, &after);
}
