/* edgecoap: on-demand resources stay bounded; discovery lists templates. */
/* SPDX-License-Identifier: Apache-2.0 */
#define _GNU_SOURCE /* memmem */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "itest.h"
#include "suite.h"

/*
 * One server with --max-idle-resources 50:
 * 1. /.well-known/core is the same document before and after hundreds of
 *    devices report, names none of them, and answers RFC 6690 filters
 *    (?ct=50 matches every link, ?rt=, ?href= with a trailing '*', ?obs);
 * 2. thousands of first reports (distinct devices) keep the server's RSS
 *    bounded once the idle resources are at their cap;
 * 3. a status whose resource was evicted still answers, and can be
 *    observed again (notifications follow), by raw datagrams and by
 *    libcoap's coap-client;
 * 4. the deployments of a device with hundreds of them come page by page,
 *    each page bounded, nextAfter reaching every one.
 * EC_RES_REPORTS changes how many first reports test 2 sends (bench/rss).
 * Test 3 needs the small cap (not with EC_RES_DEFAULTS).
 */

#define DEP "5e5e0000-0000-4000-8000-00000000cafe"
#define MAX_IDLE "50"
#define TIMEOUT_MS 10000
#define RSS_GROWTH_MAX_KIB (6 * 1024)

static it_server_t srv;
static it_udp_t udp;
static bool started;
static int n_reports = 6000;

static int suite_init(void) {
  it_init();
  const char *v = getenv("EC_RES_REPORTS");
  if (v != NULL && atoi(v) > 0)
    n_reports = atoi(v);
  /* EC_RES_DEFAULTS=1 starts the server with its defaults, so that an
   * older binary (EC_TEST_SERVER_BIN) can be measured too. */
  static const char *const extra[] = {"--max-idle-resources", MAX_IDLE, NULL};
  const char *dflt = getenv("EC_RES_DEFAULTS");
  bool defaults = dflt != NULL && strcmp(dflt, "1") == 0;
  if (it_server_start(&srv, defaults ? NULL : extra) < 0 ||
      it_udp_open(&udp, srv.port) < 0)
    return -1;
  started = true;
  return 0;
}

static int suite_cleanup(void) {
  it_udp_close(&udp);
  return it_server_cleanup(&srv, false); /* stops it if it runs */
}

static void status_path(char *out, size_t cap, int dev) {
  snprintf(out, cap, "device/res-dev%05d/deployment/" DEP "/status", dev);
}

/* One small report of @p dev_name's deployment @p dep; the code, or -1. */
static int put_report(it_udp_t *u, const char *dev_name, const char *dep,
                      const char *state) {
  char path[192], body[256];
  snprintf(path, sizeof(path), "device/%s/deployment/%s/status", dev_name,
           dep);
  it_report(body, sizeof(body), dep, state, NULL, NULL);
  it_req_t rq = IT_REQ(IT_PUT, path);
  rq.content_format = 50;
  rq.payload = body;
  rq.payload_len = strlen(body);
  it_coap_msg_t resp;
  if (it_coap_request(u, &rq, &resp, TIMEOUT_MS) < 0)
    return -1;
  return IT_CODE_INT(resp.code);
}

/* One small report of device number @p dev. */
static int report(it_udp_t *u, int dev, const char *state) {
  char name[32];
  snprintf(name, sizeof(name), "res-dev%05d", dev);
  return put_report(u, name, DEP, state);
}

/* GET /.well-known/core[?query] whole; its length, or -1. */
static long discovery(const char *query, char *out, size_t cap) {
  char path[128];
  snprintf(path, sizeof(path), ".well-known/core%s%s", query ? "?" : "",
           query ? query : "");
  it_body_t b;
  if (it_coap_get_blockwise(&udp, path, -1, 1024, 64, &b, TIMEOUT_MS) < 0)
    return -1;
  long n = b.code == IT_CODE(2, 5) ? (long)b.len : -1;
  if (out != NULL && n >= 0)
    snprintf(out, cap, "%s", (const char *)b.body);
  free(b.body);
  return n;
}

static int count_links(const char *doc) {
  int n = 0;
  for (const char *p = doc; (p = strchr(p, '<')) != NULL; p++)
    n++;
  return n;
}

static void test_discovery_does_not_grow_with_devices(void) {
  CU_ASSERT_TRUE_FATAL(started);
  static char before[4096], after[4096], doc[4096];
  long n0 = discovery(NULL, before, sizeof(before));
  CU_ASSERT_TRUE_FATAL(n0 > 0);
  for (int d = 0; d < 300; d++)
    CU_ASSERT_EQUAL_FATAL(report(&udp, d, "Installing"), 201);
  long n1 = discovery(NULL, after, sizeof(after));
  fprintf(stderr, "\n  /.well-known/core: %ld bytes before, %ld after 300 "
          "devices reported\n", n0, n1);
  CU_ASSERT_EQUAL(n1, n0);
  CU_ASSERT_STRING_EQUAL(after, before);
  CU_ASSERT_PTR_NULL(strstr(after, "res-dev"));
  CU_ASSERT_PTR_NOT_NULL(strstr(
      after, "</device/{deviceId}/deployment/{deploymentId}/status>;"
             "rt=\"margo.deployment-status\";ct=\"50 60\";obs"));

  /* RFC 6690 filters: ct matches one of the space-separated values. */
  int all = count_links(after);
  CU_ASSERT_TRUE(all >= 8);
  CU_ASSERT_TRUE(discovery("ct=50", doc, sizeof(doc)) > 0);
  CU_ASSERT_EQUAL(count_links(doc), all);
  CU_ASSERT_TRUE(discovery("ct=60", doc, sizeof(doc)) > 0);
  CU_ASSERT_EQUAL(count_links(doc), all);
  CU_ASSERT_EQUAL(discovery("ct=41", doc, sizeof(doc)), 0);
  CU_ASSERT_TRUE(discovery("rt=margo.deployment-status", doc, sizeof(doc)) > 0);
  CU_ASSERT_EQUAL(count_links(doc), 1);
  CU_ASSERT_TRUE(discovery("rt=margo*", doc, sizeof(doc)) > 0);
  CU_ASSERT_EQUAL(count_links(doc), 3);
  CU_ASSERT_TRUE(discovery("href=/v1/*", doc, sizeof(doc)) > 0);
  CU_ASSERT_EQUAL(count_links(doc), 2);
  /* status, latest, provisioning components and a deployment's roll-up */
  CU_ASSERT_TRUE(discovery("obs", doc, sizeof(doc)) > 0);
  CU_ASSERT_EQUAL(count_links(doc), 4);
  CU_ASSERT_TRUE(discovery("rt=edgecoap.fleet*", doc, sizeof(doc)) > 0);
  CU_ASSERT_EQUAL(count_links(doc), 4);
}

static void test_first_reports_keep_memory_flat(void) {
  CU_ASSERT_TRUE_FATAL(started);
  int base = 1000, half = n_reports / 4;
  long rss[2] = {0, 0};
  uint64_t ms[2] = {0, 0};
  int failed = 0;
  uint64_t t0 = it_now_ms();
  for (int i = 0; i < n_reports; i++) {
    if (report(&udp, base + i, "Installed") != 201)
      failed++;
    if (i + 1 == half) {
      rss[0] = it_server_rss_kib(&srv);
      ms[0] = it_now_ms() - t0;
      t0 = it_now_ms();
    }
  }
  rss[1] = it_server_rss_kib(&srv);
  ms[1] = it_now_ms() - t0;
  int later = n_reports - half;
  fprintf(stderr,
          "\n  %d first reports: VmRSS %ld KiB after %d, %ld KiB after all "
          "(+%ld KiB for the last %d); %.3f ms each for the first %d, %.3f "
          "ms for the rest\n",
          n_reports, rss[0], half, rss[1], rss[1] - rss[0], later,
          (double)ms[0] / half, half, (double)ms[1] / later);
  CU_ASSERT_EQUAL(failed, 0);
#if !defined(__SANITIZE_ADDRESS__)
  /* ASan's quarantine keeps freed memory, so only a plain build measures. */
  CU_ASSERT_TRUE(rss[0] > 0 && rss[1] - rss[0] < RSS_GROWTH_MAX_KIB);
#endif
}

/* Wait for a notification on @p u; its code, or -1. */
static int notification(it_udp_t *u, it_coap_msg_t *m, unsigned timeout_ms) {
  uint64_t end = it_now_ms() + timeout_ms;
  while (it_now_ms() < end) {
    if (it_udp_recv_msg(u, m, (unsigned)(end - it_now_ms())) < 0)
      return -1;
    if (it_coap_opt_count(m, IT_OPT_OBSERVE) > 0) {
      if (m->type == IT_CON) {
        uint8_t ack[4] = {0x60, 0, (uint8_t)(m->mid >> 8), (uint8_t)m->mid};
        it_udp_send(u, ack, sizeof(ack));
      }
      return IT_CODE_INT(m->code);
    }
  }
  return -1;
}

static void test_evicted_resource_answers_and_is_observed_again(void) {
  CU_ASSERT_TRUE_FATAL(started);
  /* Device 0 reported in test 1; thousands since have evicted it. */
  int evicted = it_server_log_count(&srv, "resource evicted");
  fprintf(stderr, "\n  %d resources evicted so far\n", evicted);
  CU_ASSERT_TRUE(evicted > 0);
  char path[128];
  status_path(path, sizeof(path), 0);
  it_coap_msg_t resp;
  it_req_t get = IT_REQ(IT_GET, path);
  get.accept = 50;
  CU_ASSERT_EQUAL_FATAL(it_coap_request(&udp, &get, &resp, TIMEOUT_MS), 0);
  CU_ASSERT_EQUAL(IT_CODE_INT(resp.code), 205);
  CU_ASSERT_PTR_NOT_NULL(memmem(resp.payload, resp.payload_len, "Installing",
                                10));

  /* Evict it again, then observe it from a fresh socket. */
  for (int i = 0; i < 100; i++)
    CU_ASSERT_EQUAL(report(&udp, 90000 + i, "Pending"), 201);
  it_udp_t obs;
  CU_ASSERT_EQUAL_FATAL(it_udp_open(&obs, srv.port), 0);
  it_req_t reg = IT_REQ(IT_GET, path);
  reg.accept = 50;
  reg.observe = 0;
  CU_ASSERT_EQUAL_FATAL(it_coap_request(&obs, &reg, &resp, TIMEOUT_MS), 0);
  CU_ASSERT_EQUAL(IT_CODE_INT(resp.code), 205);
  CU_ASSERT_EQUAL(it_coap_opt_count(&resp, IT_OPT_OBSERVE), 1);
  /* A new report reaches the observer, and another after more churn,
   * which cannot evict an observed resource. */
  CU_ASSERT_EQUAL(report(&udp, 0, "Failed"), 204);
  it_coap_msg_t m;
  CU_ASSERT_EQUAL_FATAL(notification(&obs, &m, TIMEOUT_MS), 205);
  CU_ASSERT_PTR_NOT_NULL(memmem(m.payload, m.payload_len, "Failed", 6));
  for (int i = 0; i < 100; i++)
    CU_ASSERT_EQUAL(report(&udp, 91000 + i, "Pending"), 201);
  CU_ASSERT_EQUAL(report(&udp, 0, "Removed"), 204);
  CU_ASSERT_EQUAL_FATAL(notification(&obs, &m, TIMEOUT_MS), 205);
  CU_ASSERT_PTR_NOT_NULL(memmem(m.payload, m.payload_len, "Removed", 7));
  it_udp_close(&obs);

  /* libcoap's coap-client observes an evicted status too: it repeats its
   * Observe with the Echo value by itself. */
  for (int i = 0; i < 100; i++)
    CU_ASSERT_EQUAL(report(&udp, 92000 + i, "Pending"), 201);
  char url[256];
  snprintf(url, sizeof(url), "%s/%s", srv.url, path);
  const char *args[] = {"-m", "get", "-s", "2", "-A", "50", url, NULL};
  it_cc_t cc;
  CU_ASSERT_EQUAL(it_coap_client(args, 10000, &cc), 0);
  CU_ASSERT_EQUAL(it_cc_last_code(&cc), 205);
  CU_ASSERT_PTR_NOT_NULL(strstr((const char *)cc.body, "Removed"));
  it_cc_free(&cc);
  CU_ASSERT_TRUE(it_server_alive(&srv, 2000));
}

/* A device with many deployments lists them page by page (nextAfter). */
static void test_deployments_list_pages(void) {
  CU_ASSERT_TRUE_FATAL(started);
  enum { N = 600 };
  for (int i = 0; i < N; i++) {
    char dep[40];
    snprintf(dep, sizeof(dep), "%08d-0000-4000-8000-00000000d00d", i);
    CU_ASSERT_EQUAL_FATAL(put_report(&udp, "res-many", dep, "Pending"), 201);
  }
  char after[64] = "";
  int seen = 0, pages = 0;
  size_t biggest = 0;
  for (; pages < N; pages++) {
    char path[160];
    snprintf(path, sizeof(path), "device/res-many/deployments%s%s",
             after[0] ? "?after=" : "", after);
    it_body_t b;
    CU_ASSERT_EQUAL_FATAL(
        it_coap_get_blockwise(&udp, path, 50, 1024, 200, &b, TIMEOUT_MS), 0);
    CU_ASSERT_EQUAL_FATAL(b.code, IT_CODE(2, 5));
    if (b.len > biggest)
      biggest = b.len;
    /* Count the entries; the last id and nextAfter by hand (no jansson). */
    const char *doc = (const char *)b.body;
    for (const char *q = doc; (q = strstr(q, "\"deploymentId\":")) != NULL; q++)
      seen++;
    const char *next = strstr(doc, "\"nextAfter\":\"");
    if (next == NULL) {
      free(b.body);
      break;
    }
    next += strlen("\"nextAfter\":\"");
    size_t k = strcspn(next, "\"");
    CU_ASSERT_FATAL(k > 0 && k < sizeof(after));
    memcpy(after, next, k);
    after[k] = '\0';
    free(b.body);
  }
  fprintf(stderr, "\n  %d deployments of one device in %d pages, the largest "
          "%zu bytes\n", seen, pages + 1, biggest);
  CU_ASSERT_EQUAL(seen, N);
  CU_ASSERT_TRUE(pages > 0);
  CU_ASSERT_TRUE(biggest <= 2 * 16 * 1024);
}

/* Discovery is link-format: a client that asks for it with Accept 40 (RFC
 * 6690) gets the same document the route table makes without Accept, and
 * the document routes still refuse Accept 40 (4.06). */
static void test_discovery_takes_accept_link_format(void) {
  CU_ASSERT_TRUE_FATAL(started);
  static char plain[4096];
  CU_ASSERT_TRUE_FATAL(discovery(NULL, plain, sizeof(plain)) > 0);
  it_body_t b;
  CU_ASSERT_EQUAL_FATAL(it_coap_get_blockwise(&udp, ".well-known/core", 40,
                                              1024, 64, &b, TIMEOUT_MS),
                        0);
  CU_ASSERT_EQUAL(b.code, IT_CODE(2, 5));
  CU_ASSERT_EQUAL(b.content_format, 40);
  CU_ASSERT_STRING_EQUAL((const char *)b.body, plain);
  free(b.body);
  it_coap_msg_t *resp = calloc(1, sizeof(*resp));
  CU_ASSERT_PTR_NOT_NULL_FATAL(resp);
  it_req_t rq = IT_REQ(IT_GET, "device/res-dev-0/deployments");
  rq.accept = 40;
  CU_ASSERT_EQUAL(it_coap_request(&udp, &rq, resp, TIMEOUT_MS), 0);
  CU_ASSERT_EQUAL(resp->code, IT_CODE(4, 6));
  free(resp);
}

static const ec_test_t tests[] = {
    {test_discovery_does_not_grow_with_devices,
     "discovery_does_not_grow_with_devices"},
    {test_first_reports_keep_memory_flat, "first_reports_keep_memory_flat"},
    {test_evicted_resource_answers_and_is_observed_again,
     "evicted_resource_answers_and_is_observed_again"},
    {test_deployments_list_pages, "deployments_list_pages"},
    {test_discovery_takes_accept_link_format,
     "discovery_takes_accept_link_format"},
};

int main(void) {
  static const ec_test_after_t after = {it_after_run, &srv, "it_resources"};
  return ec_test_main("resources", tests, EC_TEST_COUNT(tests), suite_init,
                      suite_cleanup, &after);
}
