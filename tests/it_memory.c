/* edgecoap: memory under the worst reads: bounded pages and peak RSS. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <jansson.h>

#include "itest.h"
#include "suite.h"

/*
 * One server is filled with large status messages (about 4.3 KB each, as
 * the reproducer) and a deployment with a long history of large
 * reports. Then:
 * 1. a list with limit=10000 is one bounded page, and following
 *    nextFromStatusMessageID page by page reaches every message once;
 * 2. many sessions (distinct UDP sockets) each send the worst reads found:
 *    GET and FETCH of the whole message list, the history with limit=1000,
 *    /.well-known/core, an Observe of a large status; each reads block 0
 *    only and goes away. The server's peak RSS (VmHWM) must stay under a
 *    bound.
 * EC_MEM_MESSAGES, EC_MEM_SESSIONS and EC_MEM_REPORTS change the sizes, and
 * EC_TEST_SERVER_BIN another server binary: bench/rss runs this program
 * with the figures (10,000 messages, 100 sessions).
 */

#define MSGS "api/2.3/statusmessages"
#define DEV "memdev"
#define DEP "6e6d0000-0000-4000-8000-0000000000aa"
#define STATUS_PATH "device/" DEV "/deployment/" DEP "/status"
#define PER_BATCH 14         /* large messages per POST: within 64 KiB */
#define PARAMS 60            /* messageParameters per message */
#define PAGE_BYTES_MAX 65536 /* a page's answer, generously */
#define TIMEOUT_MS 30000

/* Peak RSS allowed after the worst reads (the budget). ASan keeps
 * freed memory in its quarantine (hundreds of MiB) and shadows all of it,
 * so under ASan the figure is printed and not checked. */
#define HWM_MAX_KIB (64L * 1024)

static it_server_t srv;
static it_udp_t udp;
static bool started;
static int n_messages = 1000, n_sessions = 30, n_reports = 40;

static int env_int(const char *name, int dflt) {
  const char *v = getenv(name);
  return v != NULL && atoi(v) > 0 ? atoi(v) : dflt;
}

static int suite_init(void) {
  it_init();
  n_messages = env_int("EC_MEM_MESSAGES", n_messages);
  n_sessions = env_int("EC_MEM_SESSIONS", n_sessions);
  n_reports = env_int("EC_MEM_REPORTS", n_reports);
  if (it_server_start(&srv, NULL) < 0 || it_udp_open(&udp, srv.port) < 0)
    return -1;
  started = true;
  return 0;
}

static int suite_cleanup(void) {
  it_udp_close(&udp);
  return it_server_cleanup(&srv, false); /* stops it if it runs */
}

static long hwm_kib(void) { return it_server_hwm_kib(&srv); }

/*
 * One request on @p u. A 4.01 with an Echo option (RFC 9175) is answered
 * as a client must: the same request again with the Echo value.
 */
static int request(it_udp_t *u, int code, const char *path, int cf,
                   const void *body, size_t len, bool observe,
                   it_coap_msg_t *resp) {
  uint8_t echo[40];
  size_t echo_len = 0;
  for (int round = 0; round < 2; round++) {
    it_coap_msg_t m;
    uint8_t tok[4];
    it_udp_token(u, tok);
    it_coap_init(&m, 0, code, it_udp_mid(u), tok, sizeof(tok));
    it_coap_add_path(&m, path);
    if (cf >= 0)
      it_coap_add_uint(&m, 12, (uint32_t)cf);
    if (observe)
      it_coap_add_uint(&m, 6, 0);
    if (echo_len > 0)
      it_coap_add_opt(&m, 252, echo, echo_len);
    if (body != NULL)
      it_coap_set_payload(&m, body, len);
    if (it_coap_exchange(u, &m, resp, TIMEOUT_MS) < 0)
      return -1;
    size_t n;
    const uint8_t *e = it_coap_opt(resp, 252, 0, &n);
    if (resp->code != IT_CODE(4, 1) || e == NULL || n > sizeof(echo))
      return 0;
    memcpy(echo, e, n);
    echo_len = n;
  }
  return 0;
}

/* {"StatusMessages": [PER_BATCH messages of about 4.3 KB]} */
static char *big_batch(int batch, size_t *len) {
  json_t *a = json_array();
  for (int i = 0; i < PER_BATCH; i++) {
    json_t *params = json_array();
    for (int p = 0; p < PARAMS; p++) {
      char k[16], v[72];
      snprintf(k, sizeof(k), "p%02d", p);
      snprintf(v, sizeof(v), "%06d-%02d-%-52s", batch * PER_BATCH + i, p,
               "padding-padding-padding-padding-padding-padding");
      json_array_append_new(params, json_pack("{s:s}", k, v));
    }
    json_array_append_new(a, json_pack("{s:i, s:s, s:o}", "messageCode", 101,
                                       "orderId", "BIG", "messageParameters",
                                       params));
  }
  json_t *doc = json_pack("{s:o}", "StatusMessages", a);
  char *s = json_dumps(doc, JSON_COMPACT);
  json_decref(doc);
  *len = strlen(s);
  return s;
}

/* A DeploymentStatus of about 16 KB (200 components). */
static char *big_report(int k, size_t *len) {
  json_t *comps = json_array();
  for (int i = 0; i < 200; i++) {
    char name[80];
    snprintf(name, sizeof(name), "component-%03d-%04d-%s", i, k,
             "abcdefghijklmnopqrstuvwxyz-abcdefghij");
    json_array_append_new(comps, json_pack("{s:s, s:s}", "name", name, "state",
                                           "Installed"));
  }
  json_t *doc = json_pack("{s:s, s:s, s:s, s:{s:s}, s:o}", "apiVersion",
                          "deployment.margo/v1", "kind", "DeploymentStatus",
                          "deploymentId", DEP, "status", "state",
                          k % 2 ? "Installing" : "Installed", "components",
                          comps);
  char *s = json_dumps(doc, JSON_COMPACT);
  json_decref(doc);
  *len = strlen(s);
  return s;
}

static int upload(int method, const char *path, const char *body, size_t len,
                  uint8_t want_class) {
  it_coap_msg_t resp;
  int sent = 0;
  if (it_coap_put_blockwise(&udp, method, path, 50, (const uint8_t *)body, len,
                            1024, true, &resp, &sent, TIMEOUT_MS) < 0)
    return -1;
  if ((resp.code >> 5) != want_class) {
    char c[8];
    fprintf(stderr, "\nupload to %s: %s\n", path,
            it_coap_code_str(resp.code, c));
    return -1;
  }
  return 0;
}

static void test_fill(void) {
  CU_ASSERT_TRUE_FATAL(started);
  uint64_t t0 = it_now_ms();
  for (int b = 0; b < (n_messages + PER_BATCH - 1) / PER_BATCH; b++) {
    size_t len;
    char *body = big_batch(b, &len);
    CU_ASSERT_TRUE_FATAL(len < 65536);
    CU_ASSERT_EQUAL_FATAL(upload(IT_POST, MSGS, body, len, 2), 0);
    free(body);
  }
  for (int k = 0; k < n_reports; k++) {
    size_t len;
    char *body = big_report(k, &len);
    CU_ASSERT_EQUAL_FATAL(upload(IT_PUT, STATUS_PATH, body, len, 2), 0);
    free(body);
  }
  fprintf(stderr, "\n  filled: %d messages of ~4.3 KB, %d reports of ~16 KB "
          "in %.1f s; VmHWM %ld KiB\n",
          (n_messages + PER_BATCH - 1) / PER_BATCH * PER_BATCH, n_reports,
          (double)(it_now_ms() - t0) / 1000.0, hwm_kib());
}

static void test_list_pages_are_bounded_and_reach_every_message(void) {
  CU_ASSERT_TRUE_FATAL(started);
  int total = (n_messages + PER_BATCH - 1) / PER_BATCH * PER_BATCH;
  int64_t from = 0, last = 0;
  int got = 0, pages = 0;
  size_t biggest = 0;
  for (;;) {
    char path[128];
    snprintf(path, sizeof(path),
             MSGS "?orderId=BIG&limit=10000&fromStatusMessageID=%" PRId64,
             from);
    it_body_t b;
    CU_ASSERT_EQUAL_FATAL(
        it_coap_get_blockwise(&udp, path, 50, 1024, 4000, &b, TIMEOUT_MS), 0);
    CU_ASSERT_EQUAL_FATAL(b.code, IT_CODE(2, 5));
    if (b.len > biggest)
      biggest = b.len;
    json_error_t err;
    json_t *doc = json_loadb((const char *)b.body, b.len, 0, &err);
    free(b.body);
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    json_t *list = json_object_get(doc, "StatusMessages");
    size_t i;
    json_t *m;
    json_array_foreach(list, i, m) {
      int64_t id = json_integer_value(json_object_get(m, "statusMessageID"));
      CU_ASSERT_TRUE(id > last);
      last = id;
      got++;
    }
    json_t *next = json_object_get(doc, "nextFromStatusMessageID");
    pages++;
    if (next == NULL || pages > total) {
      json_decref(doc);
      break;
    }
    CU_ASSERT_EQUAL(json_integer_value(next), last);
    from = last;
    json_decref(doc);
  }
  fprintf(stderr, "\n  %d messages in %d pages, the largest %zu bytes\n", got,
          pages, biggest);
  CU_ASSERT_EQUAL(got, total);
  CU_ASSERT_TRUE(pages > 1);
  CU_ASSERT_TRUE(biggest <= PAGE_BYTES_MAX);

  /* The history pages the same way, with nextSince. */
  int64_t since = 0;
  int entries = 0;
  for (int p = 0; p <= n_reports; p++) {
    char path[200];
    snprintf(path, sizeof(path), STATUS_PATH "/history?limit=1000&since=%" PRId64,
             since);
    it_body_t b;
    CU_ASSERT_EQUAL_FATAL(
        it_coap_get_blockwise(&udp, path, 50, 1024, 4000, &b, TIMEOUT_MS), 0);
    CU_ASSERT_TRUE(b.len <= PAGE_BYTES_MAX + 32 * 1024);
    json_t *doc = json_loadb((const char *)b.body, b.len, 0, NULL);
    free(b.body);
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    entries += (int)json_array_size(json_object_get(doc, "reports"));
    json_t *next = json_object_get(doc, "nextSince");
    if (next == NULL) {
      json_decref(doc);
      break;
    }
    since = json_integer_value(next);
    json_decref(doc);
  }
  CU_ASSERT_EQUAL(entries, n_reports);
}

/* Each session's worst reads, block 0 only. */
static int worst_reads(it_udp_t *u) {
  static const char fetch_body[] = "{\"orderId\":\"BIG\",\"limit\":10000}";
  it_coap_msg_t r;
  int ok = 0;
  ok |= request(u, IT_GET, MSGS "?limit=10000", -1, NULL, 0, false, &r);
  ok |= r.code == IT_CODE(2, 5) ? 0 : -1;
  ok |= request(u, IT_FETCH, MSGS, 50, fetch_body, sizeof(fetch_body) - 1,
                false, &r);
  ok |= r.code == IT_CODE(2, 5) || r.code == IT_CODE(5, 3) ? 0 : -1;
  ok |= request(u, IT_GET, STATUS_PATH "/history?limit=1000", -1, NULL, 0,
                false, &r);
  ok |= r.code == IT_CODE(2, 5) ? 0 : -1;
  ok |= request(u, IT_GET, ".well-known/core", -1, NULL, 0, false, &r);
  ok |= r.code == IT_CODE(2, 5) ? 0 : -1;
  ok |= request(u, IT_GET, STATUS_PATH, -1, NULL, 0, true, &r);
  ok |= r.code == IT_CODE(2, 5) || r.code == IT_CODE(5, 3) ? 0 : -1;
  return ok;
}

static void test_worst_reads_keep_peak_memory_bounded(void) {
  CU_ASSERT_TRUE_FATAL(started);
  long before = hwm_kib();
  it_udp_t *socks = calloc((size_t)n_sessions, sizeof(*socks));
  CU_ASSERT_PTR_NOT_NULL_FATAL(socks);
  int failed = 0;
  uint64_t t0 = it_now_ms();
  for (int i = 0; i < n_sessions; i++) {
    CU_ASSERT_EQUAL_FATAL(it_udp_open(&socks[i], srv.port), 0);
    if (worst_reads(&socks[i]) < 0)
      failed++;
  }
  uint64_t ms = it_now_ms() - t0;
  long after = hwm_kib();
  fprintf(stderr,
          "\n  %d sessions x 5 worst reads (block 0 only) in %.1f s, %d "
          "failed; VmHWM %ld -> %ld KiB (bound %ld KiB)\n",
          n_sessions, (double)ms / 1000.0, failed, before, after, HWM_MAX_KIB);
  for (int i = 0; i < n_sessions; i++)
    it_udp_close(&socks[i]);
  free(socks);
  CU_ASSERT_EQUAL(failed, 0);
#if !defined(__SANITIZE_ADDRESS__)
  CU_ASSERT_TRUE(after > 0 && after <= HWM_MAX_KIB);
#endif
  CU_ASSERT_TRUE(it_server_alive(&srv, 2000));
}

static const ec_test_t tests[] = {
    {test_fill, "fill"},
    {test_list_pages_are_bounded_and_reach_every_message,
     "list_pages_are_bounded_and_reach_every_message"},
    {test_worst_reads_keep_peak_memory_bounded,
     "worst_reads_keep_peak_memory_bounded"},
};

int main(void) {
  static const ec_test_after_t after = {it_after_run, &srv, "it_memory"};
  return ec_test_main("memory", tests, EC_TEST_COUNT(tests), suite_init,
                      suite_cleanup, &after);
}
