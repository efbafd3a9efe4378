/* edgecoap: no amplification on plain CoAP (RFC 9175 section 2.4). */
/* SPDX-License-Identifier: Apache-2.0 */
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "itest.h"
#include "suite.h"

/*
 * Every route is asked, from a fresh socket whose address the server has
 * not verified, with the request a spoofer would send: raw datagrams, no
 * Echo. Everything the server sends back within a short window is counted,
 * and bytes out / bytes in must stay within 3 (RFC 9175 section 2.4). The
 * table of factors is printed (the figures were 49x for discovery,
 * 37x for a list, 13-18x for error bodies). Then 200 unverified sockets try
 * to observe one status: none is registered, so a report sends them
 * nothing. Last, a verified socket does get the large answers.
 */

#define DEV "amp-dev"
#define DEP "a3e2f5dc-0000-4000-8000-0000000000a7"
#define STATUS "device/" DEV "/deployment/" DEP "/status"
#define MSGS "api/2.3/statusmessages"
#define WINDOW_MS 300
#define TIMEOUT_MS 10000
#define SPOOFED 200

static it_server_t srv;
static it_udp_t udp;
static bool started;

/* A report without components, written by suite_init() for the probes. */
static char small_report[256];

static int suite_init(void) {
  it_init();
  it_report(small_report, sizeof(small_report), DEP, "Installing", NULL, NULL);
  if (it_server_start(&srv, NULL) < 0 || it_udp_open(&udp, srv.port) < 0)
    return -1;
  started = true;
  return 0;
}

static int suite_cleanup(void) {
  it_udp_close(&udp);
  return it_server_cleanup(&srv, false); /* stops it if it runs */
}

/* A report of about 5 KB (60 components). */
static size_t big_report(const char *state, char *out, size_t cap) {
  char comps[4096];
  size_t n = 0;
  for (int i = 0; i < 60 && n < sizeof(comps); i++)
    n += (size_t)snprintf(comps + n, sizeof(comps) - n,
                          "%s{\"name\":\"component-%02d-with-a-long-name\","
                          "\"state\":\"Installed\"}",
                          i ? "," : "", i);
  return strlen(it_report_with(out, cap, DEP, state, comps));
}

static void seed(void) {
  static char body[8192];
  size_t n = big_report("Installing", body, sizeof(body));
  it_coap_msg_t resp;
  int sent;
  CU_ASSERT_EQUAL_FATAL(it_coap_put_blockwise(&udp, IT_PUT, STATUS, 50,
                                              (const uint8_t *)body, n, 1024,
                                              true, &resp, &sent, TIMEOUT_MS),
                        0);
  CU_ASSERT_EQUAL_FATAL(IT_CODE_INT(resp.code), 201);
  /* Large status messages, so that lists are large. */
  for (int b = 0; b < 4; b++) {
    size_t k = (size_t)snprintf(body, sizeof(body), "{\"StatusMessages\":[");
    for (int m = 0; m < 8; m++)
      k += (size_t)snprintf(
          body + k, sizeof(body) - k,
          "%s{\"messageCode\":101,\"orderId\":\"AMP\",\"messageParameters\":"
          "[{\"a\":\"%0200d\"},{\"b\":\"%0200d\"},{\"c\":\"%0200d\"}]}",
          m ? "," : "", m, m, m);
    k += (size_t)snprintf(body + k, sizeof(body) - k, "]}");
    CU_ASSERT_EQUAL_FATAL(it_coap_put_blockwise(&udp, IT_POST, MSGS, 50,
                                                (const uint8_t *)body, k, 1024,
                                                true, &resp, &sent,
                                                TIMEOUT_MS),
                          0);
    CU_ASSERT_EQUAL_FATAL(IT_CODE_INT(resp.code), 201);
  }
}

/* What a spoofer sends: one datagram. */
typedef struct {
  const char *name;
  int type, code;
  const char *path; /* NULL: no Uri-Path (and no token, a 4-byte request) */
  int observe;      /* -1 none */
  int accept;       /* -1 none */
  int block2;       /* -1 none, else the block number of 1024 bytes */
  const char *body;
} probe_t;

static const probe_t probes[] = {
    {"GET /.well-known/core", IT_CON, IT_GET, ".well-known/core", -1, -1, -1,
     NULL},
    {"GET /.well-known/core?ct=50", IT_CON, IT_GET, ".well-known/core?ct=50",
     -1, -1, -1, NULL},
    {"GET /.well-known/core block 0", IT_CON, IT_GET, ".well-known/core", -1,
     -1, 0, NULL},
    {"GET list limit=10000", IT_CON, IT_GET, MSGS "?limit=10000", -1, -1, -1,
     NULL},
    {"GET list block 1", IT_CON, IT_GET, MSGS "?limit=10000", -1, -1, 1, NULL},
    {"NON GET list", IT_NON, IT_GET, MSGS "?limit=10000", -1, -1, -1, NULL},
    {"FETCH list", IT_CON, IT_FETCH, MSGS, -1, 50, -1, "{}"},
    {"GET message 1", IT_CON, IT_GET, MSGS "/1", -1, -1, -1, NULL},
    {"GET latest", IT_CON, IT_GET, MSGS "/latest", -1, -1, -1, NULL},
    {"observe latest", IT_CON, IT_GET, MSGS "/latest", 0, -1, -1, NULL},
    {"POST message", IT_CON, IT_POST, MSGS, -1, 50, -1,
     "{\"messageCode\":100,\"accessId\":\"a\"}"},
    {"POST batch of tiny messages", IT_CON, IT_POST, MSGS, -1, 50, -1,
     "{\"StatusMessages\":[{\"messageCode\":100,\"accessId\":\"a\"},"
     "{\"messageCode\":100,\"accessId\":\"a\"},{\"messageCode\":100,"
     "\"accessId\":\"a\"},{\"messageCode\":100,\"accessId\":\"a\"}]}"},
    {"POST bad message", IT_CON, IT_POST, MSGS, -1, -1, -1, "x"},
    {"GET status (5 KB)", IT_CON, IT_GET, STATUS, -1, 50, -1, NULL},
    {"GET status block 3", IT_CON, IT_GET, STATUS, -1, 50, 3, NULL},
    {"NON GET status", IT_NON, IT_GET, STATUS, -1, 50, -1, NULL},
    {"observe status", IT_CON, IT_GET, STATUS, 0, 50, -1, NULL},
    {"GET history limit=1000", IT_CON, IT_GET, STATUS "/history?limit=1000",
     -1, -1, -1, NULL},
    {"GET deployments", IT_CON, IT_GET, "device/" DEV "/deployments", -1, -1,
     -1, NULL},
    {"PUT small report", IT_CON, IT_PUT, STATUS, -1, 50, -1, small_report},
    {"PUT bad report", IT_CON, IT_PUT, STATUS, -1, -1, -1, "{\"kind\":1}"},
    {"GET unknown path", IT_CON, IT_GET, "x", -1, -1, -1, NULL},
    {"GET bad route id", IT_CON, IT_GET, "device/%21/deployments", -1, -1, -1,
     NULL},
    {"GET Accept 99", IT_CON, IT_GET, STATUS, -1, 99, -1, NULL},
    {"DELETE status", IT_CON, IT_DELETE, STATUS, -1, -1, -1, NULL},
    {"POST login", IT_CON, IT_POST, "v1/Login", -1, -1, -1,
     "{\"username\":\"admin\",\"password\":\"wrong\"}"},
    {"GET components no token", IT_CON, IT_GET,
     "v1/DeviceProvisioningComponents?provisioning_id=1", -1, -1, -1, NULL},
    {"POST components", IT_CON, IT_POST, "v1/DeviceProvisioningComponents", -1,
     -1, -1, "{\"action\":\"select\",\"provisioning_id\":1}"},
    {"observe components", IT_CON, IT_GET,
     "v1/DeviceProvisioningComponents?provisioning_id=1", 0, -1, -1, NULL},
    {"GET / (4 bytes)", IT_CON, IT_GET, NULL, -1, -1, -1, NULL},
};

/* Send @p p from a fresh socket; the bytes sent and received in the window. */
static int probe(const probe_t *p, size_t *in, size_t *out, int *codes) {
  it_udp_t u;
  if (it_udp_open_fresh(&u, srv.port) < 0)
    return -1;
  it_coap_msg_t m;
  uint8_t tok[4], dgram[IT_COAP_MAX_DGRAM];
  it_udp_token(&u, tok);
  it_coap_init(&m, p->type, p->code, it_udp_mid(&u), tok,
               p->path != NULL ? sizeof(tok) : 0);
  if (p->path != NULL)
    it_coap_add_path(&m, p->path);
  if (p->observe >= 0)
    it_coap_add_uint(&m, IT_OPT_OBSERVE, (uint32_t)p->observe);
  if (p->accept >= 0)
    it_coap_add_uint(&m, IT_OPT_ACCEPT, (uint32_t)p->accept);
  if (p->block2 >= 0)
    it_coap_add_block(&m, IT_OPT_BLOCK2, (uint32_t)p->block2, false, 1024);
  if (p->body != NULL) {
    it_coap_add_uint(&m, IT_OPT_CONTENT_FORMAT, 50);
    it_coap_set_payload(&m, p->body, strlen(p->body));
  }
  ssize_t n = it_coap_encode(&m, dgram, sizeof(dgram));
  if (n < 0 || it_udp_send(&u, dgram, (size_t)n) < 0) {
    it_udp_close(&u);
    return -1;
  }
  *in = (size_t)n;
  *out = 0;
  *codes = 0;
  uint8_t buf[IT_COAP_MAX_DGRAM];
  ssize_t got;
  while ((got = it_udp_recv(&u, buf, sizeof(buf), WINDOW_MS)) >= 0) {
    *out += (size_t)got;
    if (got >= 2)
      *codes = *codes * 1000 + IT_CODE_INT(buf[1]);
  }
  it_udp_close(&u);
  return 0;
}

static void test_no_route_answers_more_than_three_times(void) {
  CU_ASSERT_TRUE_FATAL(started);
  seed();
  double worst = 0;
  const char *worst_name = "";
  fprintf(stderr, "\n  %-32s %5s %6s %7s  %s\n", "request (unverified)", "in",
          "out", "factor", "codes");
  for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
    size_t in, out;
    int codes;
    CU_ASSERT_EQUAL_FATAL(probe(&probes[i], &in, &out, &codes), 0);
    double f = (double)out / (double)in;
    fprintf(stderr, "  %-32s %5zu %6zu %6.2fx  %d\n", probes[i].name, in, out,
            f, codes);
    if (f > worst) {
      worst = f;
      worst_name = probes[i].name;
    }
    CU_ASSERT(out <= 3 * in);
  }
  fprintf(stderr, "  worst: %.2fx (%s)\n", worst, worst_name);
}

/* Writes that arrive together share a group commit, and each is answered
 * after it in its own ACK (the late ACK, batch.h): one datagram, never
 * repeated. To an unverified address it carries its code and ETag alone,
 * under the request's size. */
static void test_group_committed_answers_stay_small_unverified(void) {
  CU_ASSERT_TRUE_FATAL(started);
  enum { N = 3 };
  it_udp_t u[N];
  uint8_t d[N][IT_COAP_MAX_DGRAM], tok[N][4];
  size_t dl[N];
  for (int w = 0; w < N; w++) {
    it_coap_msg_t m;
    CU_ASSERT_EQUAL_FATAL(it_udp_open(&u[w], srv.port), 0);
    it_udp_token(&u[w], tok[w]);
    it_coap_init(&m, IT_CON, IT_PUT, it_udp_mid(&u[w]), tok[w], 4);
    it_coap_add_path(&m, STATUS);
    it_coap_add_uint(&m, IT_OPT_CONTENT_FORMAT, 50);
    it_coap_set_payload(&m, small_report, strlen(small_report));
    ssize_t n = it_coap_encode(&m, d[w], sizeof(d[w]));
    CU_ASSERT_FATAL(n > 0);
    dl[w] = (size_t)n;
  }
  /* All wait in the stopped server's socket: its next round batches them. */
  CU_ASSERT_EQUAL_FATAL(kill(srv.pid, SIGSTOP), 0);
  for (int w = 0; w < N; w++)
    CU_ASSERT_EQUAL(it_udp_send(&u[w], d[w], dl[w]), 0);
  CU_ASSERT_EQUAL_FATAL(kill(srv.pid, SIGCONT), 0);
  for (int w = 0; w < N; w++) {
    uint8_t buf[IT_COAP_MAX_DGRAM];
    ssize_t got;
    int answers = 0;
    /* Every datagram that comes within the wait. Not acknowledged, which is
     * what a forged source does. */
    while ((got = it_udp_recv(&u[w], buf, sizeof(buf), 500)) >= 0) {
      it_coap_msg_t r;
      CU_ASSERT_FATAL(it_coap_parse(buf, (size_t)got, &r) == 0);
      answers++;
      CU_ASSERT_EQUAL(IT_CODE_INT(r.code), 204);
      CU_ASSERT_EQUAL(r.type, IT_ACK);
      CU_ASSERT_EQUAL(memcmp(r.token, tok[w], 4), 0);
      CU_ASSERT_EQUAL(r.payload_len, 0);
      CU_ASSERT((size_t)got <= dl[w]);
    }
    CU_ASSERT_EQUAL(answers, 1);
    it_udp_close(&u[w]);
  }
}

static void test_unverified_observers_are_not_registered(void) {
  CU_ASSERT_TRUE_FATAL(started);
  static it_udp_t socks[SPOOFED];
  size_t in = 0, out = 0;
  for (int i = 0; i < SPOOFED; i++) {
    CU_ASSERT_EQUAL_FATAL(it_udp_open(&socks[i], srv.port), 0);
    it_coap_msg_t m;
    uint8_t tok[4], dgram[IT_COAP_MAX_DGRAM], buf[IT_COAP_MAX_DGRAM];
    it_udp_token(&socks[i], tok);
    it_coap_init(&m, IT_CON, IT_GET, it_udp_mid(&socks[i]), tok, sizeof(tok));
    it_coap_add_path(&m, STATUS);
    it_coap_add_uint(&m, IT_OPT_OBSERVE, 0);
    ssize_t n = it_coap_encode(&m, dgram, sizeof(dgram));
    CU_ASSERT_EQUAL_FATAL(it_udp_send(&socks[i], dgram, (size_t)n), 0);
    in += (size_t)n;
    ssize_t got = it_udp_recv(&socks[i], buf, sizeof(buf), TIMEOUT_MS);
    CU_ASSERT_FATAL(got >= 2);
    out += (size_t)got;
    CU_ASSERT_EQUAL(IT_CODE_INT(buf[1]), 401);
  }
  /* A 5 KB report: an observer would get a notification of 1 KB or more. */
  static char body[8192];
  size_t n = big_report("Installed", body, sizeof(body));
  it_coap_msg_t resp;
  int sent;
  CU_ASSERT_EQUAL(it_coap_put_blockwise(&udp, IT_PUT, STATUS, 50,
                                        (const uint8_t *)body, n, 1024, true,
                                        &resp, &sent, TIMEOUT_MS),
                  0);
  CU_ASSERT_EQUAL(IT_CODE_INT(resp.code), 204);
  size_t after = 0;
  uint8_t buf[IT_COAP_MAX_DGRAM];
  for (int i = 0; i < SPOOFED; i++) {
    ssize_t got;
    while ((got = it_udp_recv(&socks[i], buf, sizeof(buf),
                              i == 0 ? 1000 : 10)) >= 0)
      after += (size_t)got;
    it_udp_close(&socks[i]);
  }
  fprintf(stderr, "\n  %d unverified observe requests: %zu bytes in, %zu "
          "out; after a %zu-byte report: %zu bytes to them\n",
          SPOOFED, in, out, n, after);
  CU_ASSERT(out <= 3 * in);
  CU_ASSERT_EQUAL(after, 0);
}

static void test_verified_clients_get_everything(void) {
  CU_ASSERT_TRUE_FATAL(started);
  /* it_coap_get_blockwise() goes through it_coap_exchange(), which repeats
   * a challenged request with its Echo value, as libcoap's clients do. */
  it_body_t b;
  CU_ASSERT_EQUAL_FATAL(
      it_coap_get_blockwise(&udp, STATUS, 50, 1024, 64, &b, TIMEOUT_MS), 0);
  CU_ASSERT_EQUAL(b.code, IT_CODE(2, 5));
  CU_ASSERT_TRUE(b.len > 3000);
  free(b.body);
  char url[256];
  snprintf(url, sizeof(url), "%s/.well-known/core", srv.url);
  const char *a[] = {"-m", "get", url, NULL};
  it_cc_t cc;
  CU_ASSERT_EQUAL(it_coap_client(a, TIMEOUT_MS, &cc), 0);
  CU_ASSERT_EQUAL(it_cc_last_code(&cc), 205);
  CU_ASSERT_PTR_NOT_NULL(strstr((const char *)cc.body, "</v1/Login>"));
  it_cc_free(&cc);
  snprintf(url, sizeof(url), "%s/" MSGS "?limit=10000", srv.url);
  const char *l[] = {"-m", "get", "-A", "50", url, NULL};
  CU_ASSERT_EQUAL(it_coap_client(l, TIMEOUT_MS, &cc), 0);
  CU_ASSERT_EQUAL(it_cc_last_code(&cc), 205);
  CU_ASSERT_PTR_NOT_NULL(strstr((const char *)cc.body, "\"AMP\""));
  it_cc_free(&cc);
  CU_ASSERT_TRUE(it_server_alive(&srv, 2000));
}

static const ec_test_t tests[] = {
    {test_no_route_answers_more_than_three_times,
     "no_route_answers_more_than_three_times"},
    {test_unverified_observers_are_not_registered,
     "unverified_observers_are_not_registered"},
    {test_verified_clients_get_everything, "verified_clients_get_everything"},
    {test_group_committed_answers_stay_small_unverified,
     "group_committed_answers_stay_small_unverified"},
};

int main(void) {
  static const ec_test_after_t after = {it_after_run, &srv, "it_amplify"};
  return ec_test_main("amplify", tests, EC_TEST_COUNT(tests), suite_init,
                      suite_cleanup, &after);
}
