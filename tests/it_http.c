/* edgecoap tests: the operators' HTTP endpoint through curl and promtool, against the real server. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "it_prov_util.h"
#include "itest.h"
#include "ithttp.h"
#include "suite.h"

/*
 * /healthz, /readyz and /metrics as an operator's tools see them: curl for
 * every request, promtool on a scrape taken after real CoAP traffic, the
 * counters' movements checked against the requests sent. Then an observer
 * that goes silent, dropped and counted; and the rule beyond loopback: no
 * start without an operator account, and no answer without its token.
 */

/* The seed report's deployment. */
#define DEP "a3e2f5dc-912e-494f-8395-52cf3769bc06"
#define N_WRITES 25
#define N_UNKNOWN 5
#define TIMEOUT_MS 5000

#ifndef PROMTOOL_BIN
#error "PROMTOOL_BIN must name promtool"
#endif

static it_server_t srv;
static uint16_t http_port;

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

/* One request with curl (tests/support/ithttp.c). */
static int http(uint16_t port, const char *method, const char *path,
                const char *token, char **out) {
  return it_http(port, method, path, token, NULL, out);
}

/* The body of a scrape (headers cut off), malloc'd, or NULL. */
static char *scrape(void) {
  char *all = NULL;
  if (http(http_port, "GET", "/metrics", NULL, &all) != 200) {
    free(all);
    return NULL;
  }
  char *body = strstr(all, "\r\n\r\n");
  char *copy = body ? strdup(body + 4) : NULL;
  char *end = copy ? strrchr(copy, '\n') : NULL; /* curl's status line */
  if (end != NULL)
    end[1] = '\0';
  free(all);
  return copy;
}

/* The value of the series written exactly @p series ("name{labels}"), or
 * 0 when it is not there (series that counted nothing are left out). */
static double value_of(const char *text, const char *series) {
  size_t n = strlen(series);
  for (const char *p = text; p != NULL && *p != '\0';) {
    if (strncmp(p, series, n) == 0 && p[n] == ' ')
      return strtod(p + n + 1, NULL);
    p = strchr(p, '\n');
    if (p != NULL)
      p++;
  }
  return 0;
}

/* A PUT of the seed report (tests/data) to @p dev's status: its code. */
static int put_status(it_udp_t *u, const char *dev) {
  static uint8_t *body;
  static size_t len;
  char path[160];
  if (body == NULL &&
      it_read_file(EC_TEST_DATA_DIR "/seed-deployment-status.json", &body,
                   &len) < 0)
    return -1;
  snprintf(path, sizeof(path), "device/%s/deployment/%s/status", dev, DEP);
  it_coap_msg_t *m = itp_msg_new();
  it_req_t rq = IT_REQ(IT_PUT, path);
  rq.content_format = 50;
  rq.payload = body;
  rq.payload_len = len;
  int code = it_coap_request(u, &rq, m, TIMEOUT_MS) == 0
                 ? IT_CODE_INT(m->code)
                 : -1;
  free(m);
  return code;
}

#define STATUS_SERIES(method, code)                                          \
  "edgecoap_requests_total{route=\"/device/{deviceId}/deployment/"           \
  "{deploymentId}/status\",method=\"" method "\",code=\"" code "\"}"

/* ------------------------------------------------------------------------ */
/* Tests                                                                     */

static void test_health_and_ready_answer(void) {
  char *out = NULL;
  CU_ASSERT_EQUAL(http(http_port, "GET", "/healthz", NULL, &out), 200);
  CU_ASSERT_PTR_NOT_NULL(out ? strstr(out, "\r\n\r\nok\n") : NULL);
  free(out);
  CU_ASSERT_EQUAL(http(http_port, "GET", "/readyz", NULL, &out), 200);
  CU_ASSERT_PTR_NOT_NULL(out ? strstr(out, "\r\n\r\nready\n") : NULL);
  free(out);
  CU_ASSERT_EQUAL(http(http_port, "GET", "/no-such-page", NULL, NULL), 404);
  CU_ASSERT_EQUAL(http(http_port, "POST", "/metrics", NULL, &out), 405);
  CU_ASSERT_PTR_NOT_NULL(out ? strstr(out, "Allow: GET, HEAD") : NULL);
  free(out);
}

static void test_metrics_follow_requests_and_pass_promtool(void) {
  it_udp_t u;
  CU_ASSERT_EQUAL_FATAL(it_udp_open(&u, srv.port), 0);
  CU_ASSERT_EQUAL(put_status(&u, "dev-http-1"), 201);
  char *before = scrape();
  CU_ASSERT_PTR_NOT_NULL_FATAL(before);
  for (int i = 0; i < N_WRITES; i++)
    CU_ASSERT_EQUAL(put_status(&u, "dev-http-1"), 204);
  for (int i = 0; i < N_UNKNOWN; i++) {
    char path[64];
    snprintf(path, sizeof(path), "no/such/path-%d", i);
    it_coap_msg_t *m = itp_msg_new();
    it_req_t rq = IT_REQ(IT_GET, path);
    CU_ASSERT_EQUAL(it_coap_request(&u, &rq, m, TIMEOUT_MS), 0);
    CU_ASSERT_EQUAL(IT_CODE_INT(m->code), 404);
    free(m);
  }
  char *after = scrape();
  CU_ASSERT_PTR_NOT_NULL_FATAL(after);

  /* Counted by the route's template, once per answered request. */
  const char *put204 = STATUS_SERIES("PUT", "2.04");
  CU_ASSERT_EQUAL(value_of(after, put204) - value_of(before, put204),
                  N_WRITES);
  CU_ASSERT_EQUAL(value_of(after, STATUS_SERIES("PUT", "2.01")), 1);
  const char *unknown =
      "edgecoap_requests_total{route=\"unmatched\",method=\"GET\","
      "code=\"4.04\"}";
  CU_ASSERT_EQUAL(value_of(after, unknown) - value_of(before, unknown),
                  N_UNKNOWN);
  /* No path a client sent becomes a label. */
  CU_ASSERT_PTR_NULL(strstr(after, "dev-http-1"));
  CU_ASSERT_PTR_NULL(strstr(after, "path-3"));
  /* Each lone write is one commit of one write. */
  const char *writes = "edgecoap_store_commit_writes_sum";
  CU_ASSERT_EQUAL(value_of(after, writes) - value_of(before, writes),
                  N_WRITES);
  const char *commits = "edgecoap_store_commit_seconds_count";
  CU_ASSERT_EQUAL(value_of(after, commits) - value_of(before, commits),
                  N_WRITES);
  const char *lat = "edgecoap_request_duration_seconds_count{route=\"/device/"
                    "{deviceId}/deployment/{deploymentId}/status\"}";
  CU_ASSERT(value_of(after, lat) - value_of(before, lat) >= N_WRITES);
  CU_ASSERT(value_of(after, "edgecoap_database_bytes") > 0);
  CU_ASSERT(value_of(after, "edgecoap_sessions") >= 1);
  CU_ASSERT_PTR_NOT_NULL(strstr(after, "edgecoap_build_info{version=\""));

  /* Prometheus' own linter on the real text. */
  const char *argv[] = {PROMTOOL_BIN, "check", "metrics", NULL};
  it_result_t r;
  int rc = it_run(argv, after, strlen(after), 20000, &r);
  CU_ASSERT_EQUAL(rc, 0);
  if (rc != 0)
    it_result_dump("promtool check metrics", &r);
  it_result_free(&r);
  free(before);
  free(after);
  it_udp_close(&u);
}

/* A watch that hears nothing for --observe-check gets a confirmable
 * notification of the state it already has; an observer that answers it
 * stays, one that goes silent is dropped and counted. */
static void test_silent_observer_is_dropped_and_counted(void) {
  it_udp_t u;
  CU_ASSERT_EQUAL_FATAL(it_udp_open(&u, srv.port), 0);
  CU_ASSERT_EQUAL(it_udp_verify(&u), 0);
  CU_ASSERT_EQUAL(put_status(&u, "dev-http-obs"), 201);
  char path[160];
  snprintf(path, sizeof(path), "device/dev-http-obs/deployment/%s/status",
           DEP);
  it_coap_msg_t *m = itp_msg_new();
  it_req_t rq = IT_REQ(IT_GET, path);
  rq.observe = 0;
  CU_ASSERT_EQUAL_FATAL(it_coap_request(&u, &rq, m, TIMEOUT_MS), 0);
  CU_ASSERT_EQUAL(IT_CODE_INT(m->code), 205);
  CU_ASSERT_EQUAL(it_coap_opt_count(m, IT_OPT_OBSERVE), 1);
  uint8_t token[8];
  size_t token_len = m->token_len;
  memcpy(token, m->token, token_len);

  /* Nothing changes; still a CON of the same state comes (within twice
   * the check interval), and is acknowledged. */
  bool checked = false;
  for (int i = 0; i < 10 && !checked; i++) {
    if (it_udp_recv_msg(&u, m, 1000) < 0)
      continue;
    if (m->type == IT_CON && m->token_len == token_len &&
        memcmp(m->token, token, token_len) == 0 &&
        IT_CODE_INT(m->code) == 205 &&
        it_coap_opt_count(m, IT_OPT_OBSERVE) == 1) {
      checked = true;
      itp_ack_con(&u, m);
    }
  }
  CU_ASSERT_TRUE(checked);
  char *text = scrape();
  CU_ASSERT_PTR_NOT_NULL_FATAL(text);
  CU_ASSERT(value_of(text, "edgecoap_observation_checks_total") >= 1);
  CU_ASSERT_EQUAL(value_of(text, "edgecoap_observers"), 1);
  CU_ASSERT_EQUAL(value_of(text, "edgecoap_observations_dropped_total{"
                                 "reason=\"silent\"}"),
                  0);
  free(text);

  /* Now the observer hears but never answers: the next check's CON is
   * retransmitted four times (--ack-timeout 100: under 5 s) and the
   * observation ends. Polled, at most 30 s. */
  double dropped = 0;
  for (int i = 0; i < 60 && dropped < 1; i++) {
    (void)it_udp_recv_msg(&u, m, 500); /* drained, never acknowledged */
    text = scrape();
    if (text != NULL)
      dropped = value_of(text, "edgecoap_observations_dropped_total{"
                               "reason=\"silent\"}");
    if (dropped >= 1)
      CU_ASSERT_EQUAL(value_of(text, "edgecoap_observers"), 0);
    free(text);
  }
  CU_ASSERT_EQUAL(dropped, 1);
  CU_ASSERT(it_server_log_count(&srv, "observer gone (confirmable "
                                      "notification unanswered)") >= 1);
  free(m);
  it_udp_close(&u);
}

/* A server started beyond loopback by hand, on @p db, serving HTTP on
 * @p hport; NULL when it did not come up. */
static it_proc_t *start_beyond(const char *db, uint16_t cport,
                               uint16_t hport) {
  char port_s[8], psk_s[8], http_s[32];
  snprintf(port_s, sizeof(port_s), "%u", cport);
  snprintf(psk_s, sizeof(psk_s), "%u", it_free_port());
  snprintf(http_s, sizeof(http_s), "0.0.0.0:%u", hport);
  const char *argv[] = {EC_SERVER_BIN, "--bind", "127.0.0.1", "--port",
                        port_s, "--psk-port", psk_s, "--db", db, "--http",
                        http_s, NULL};
  it_proc_t *p = NULL;
  if (it_proc_spawn(argv, NULL, 0, &p) < 0)
    return NULL;
  for (int i = 0; i < 50; i++) {
    if (http(hport, "GET", "/healthz", "probe", NULL) > 0)
      return p;
    it_sleep_ms(100);
  }
  it_result_t r;
  (void)it_proc_stop(p, 5000, &r);
  it_result_dump("server beyond loopback", &r);
  it_result_free(&r);
  return NULL;
}

static int user_add(const char *db, const char *name, const char *role,
                    const char *pw) {
  const char *argv[] = {EC_SERVER_BIN, "admin", "user-add", "--db", db,
                        "--username", name, "--role", role, NULL};
  it_result_t r;
  char line[64];
  snprintf(line, sizeof(line), "%s\n", pw);
  int rc = itp_run(&r, true, line, strlen(line), argv);
  it_result_free(&r);
  return rc;
}

static void test_beyond_loopback_needs_an_operator(void) {
  char db[320], db2[320], http_s[32], port_s[8], psk_s[8];
  snprintf(db, sizeof(db), "%s/beyond.db", srv.dir);
  snprintf(db2, sizeof(db2), "%s/beyond-ops.db", srv.dir);

  /* No account that may read it: refused at start, saying why. */
  CU_ASSERT_EQUAL(user_add(db, "plain", "user", "plain-pass-1"), 0);
  snprintf(port_s, sizeof(port_s), "%u", it_free_port());
  snprintf(psk_s, sizeof(psk_s), "%u", it_free_port());
  snprintf(http_s, sizeof(http_s), "0.0.0.0:%u", it_free_port());
  const char *argv[] = {EC_SERVER_BIN, "--bind", "127.0.0.1", "--port",
                        port_s, "--psk-port", psk_s, "--db", db, "--http",
                        http_s, NULL};
  it_result_t r;
  CU_ASSERT_NOT_EQUAL(it_run(argv, NULL, 0, 20000, &r), 0);
  CU_ASSERT_EQUAL(r.exit_code, 1);
  CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "listens beyond loopback"));
  it_result_free(&r);

  /* With one: each request needs its token (connecting over 127.0.0.1 to
   * the 0.0.0.0 socket, traffic stays on loopback). */
  CU_ASSERT_EQUAL(user_add(db2, "ops", "operator", "ops-pass-13"), 0);
  CU_ASSERT_EQUAL(user_add(db2, "plain", "user", "plain-pass-1"), 0);
  uint16_t cport = it_free_port(), hport = it_free_port();
  it_proc_t *p = start_beyond(db2, cport, hport);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  char *out = NULL;
  CU_ASSERT_EQUAL(http(hport, "GET", "/metrics", NULL, &out), 401);
  CU_ASSERT_PTR_NOT_NULL(out ? strstr(out, "WWW-Authenticate: Bearer") : NULL);
  free(out);
  CU_ASSERT_EQUAL(http(hport, "GET", "/healthz", NULL, NULL), 401);

  it_udp_t u;
  CU_ASSERT_EQUAL_FATAL(it_udp_open(&u, cport), 0);
  CU_ASSERT_EQUAL(it_udp_verify(&u), 0);
  char ops[EC_PROV_TOKEN_HEX + 1] = "", plain[EC_PROV_TOKEN_HEX + 1] = "";
  CU_ASSERT_EQUAL(itp_login_raw(&u, "ops", "ops-pass-13", ops, NULL), 201);
  CU_ASSERT_EQUAL(itp_login_raw(&u, "plain", "plain-pass-1", plain, NULL),
                  201);
  CU_ASSERT_EQUAL(http(hport, "GET", "/metrics", ops, &out), 200);
  CU_ASSERT_PTR_NOT_NULL(out ? strstr(out, "edgecoap_build_info") : NULL);
  free(out);
  CU_ASSERT_EQUAL(http(hport, "GET", "/readyz", ops, NULL), 200);
  /* Another role's token, or a made-up one, is refused and counted. */
  CU_ASSERT_EQUAL(http(hport, "GET", "/metrics", plain, NULL), 401);
  char wrong[EC_PROV_TOKEN_HEX + 1];
  memset(wrong, 'a', EC_PROV_TOKEN_HEX);
  wrong[EC_PROV_TOKEN_HEX] = '\0';
  CU_ASSERT_EQUAL(http(hport, "GET", "/metrics", wrong, NULL), 401);
  /* A wrong password over CoAP is counted apart. */
  CU_ASSERT_EQUAL(itp_login_raw(&u, "ops", "not-the-password", NULL, NULL),
                  401);
  CU_ASSERT_EQUAL(http(hport, "GET", "/metrics", ops, &out), 200);
  /* The probe's made-up token, these two, and no more. */
  CU_ASSERT_PTR_NOT_NULL(out ? strstr(out, "edgecoap_login_failures_total{"
                                           "via=\"http\"} 3\n")
                             : NULL);
  CU_ASSERT_PTR_NOT_NULL(out ? strstr(out, "edgecoap_login_failures_total{"
                                           "via=\"coap\"} 1\n")
                             : NULL);
  free(out);

  /* The dashboard: a browser without the token is given the sign-in form
   * (and its script and style, nothing of the fleet); with the token in
   * its cookie (EventSource sends no header), the page and its reads. */
  CU_ASSERT_EQUAL(it_http(hport, "GET", "/", NULL, NULL, &out), 401);
  CU_ASSERT_PTR_NOT_NULL(out ? strstr(out, "id=\"signin\"") : NULL);
  free(out);
  CU_ASSERT_EQUAL(it_http(hport, "GET", "/signin.js", NULL, NULL, NULL), 200);
  CU_ASSERT_EQUAL(it_http(hport, "GET", "/dashboard.js", NULL, NULL, NULL),
                  401);
  CU_ASSERT_EQUAL(it_http(hport, "GET", "/api/deployments", NULL, NULL, NULL),
                  401);
  CU_ASSERT_EQUAL(it_http(hport, "GET", "/api/events", NULL, NULL, NULL), 401);
  char cookie[EC_PROV_TOKEN_HEX + 40];
  snprintf(cookie, sizeof(cookie), "Cookie: edgecoap_token=%s", ops);
  CU_ASSERT_EQUAL(it_http(hport, "GET", "/", NULL, cookie, &out), 200);
  CU_ASSERT_PTR_NOT_NULL(out ? strstr(out, "/dashboard.js") : NULL);
  free(out);
  CU_ASSERT_EQUAL(
      it_http(hport, "GET", "/api/deployments", NULL, cookie, &out), 200);
  CU_ASSERT_PTR_NOT_NULL(out ? strstr(out, "{\"deployments\":[") : NULL);
  free(out);
  snprintf(cookie, sizeof(cookie), "Cookie: edgecoap_token=%s", plain);
  CU_ASSERT_EQUAL(
      it_http(hport, "GET", "/api/deployments", NULL, cookie, NULL), 401);
  it_udp_close(&u);
  CU_ASSERT_EQUAL(it_proc_stop(p, 5000, &r), 0);
  it_result_free(&r);
}

/* ------------------------------------------------------------------------ */
/* Set-up                                                                    */

static int suite_init(void) {
  static char http_s[32];
  it_init();
  http_port = it_free_port();
  snprintf(http_s, sizeof(http_s), "127.0.0.1:%u", http_port);
  const char *extra[] = {"--http", http_s, "--observe-check", "1",
                         "--ack-timeout", "100", NULL};
  return it_server_start(&srv, extra);
}

static const ec_test_t tests[] = {
    {test_health_and_ready_answer, "health_and_ready_answer"},
    {test_metrics_follow_requests_and_pass_promtool,
     "metrics_follow_requests_and_pass_promtool"},
    {test_silent_observer_is_dropped_and_counted,
     "silent_observer_is_dropped_and_counted"},
    {test_beyond_loopback_needs_an_operator,
     "beyond_loopback_needs_an_operator"},
};

int main(void) {
  static const ec_test_after_t after = {it_after_run, &srv, "it_http"};
  return ec_test_main("http", tests, EC_TEST_COUNT(tests), suite_init, NULL,
                      &after);
}
