/* edgecoap tests: the dashboard's JSON reads and live events through curl, against the real server. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "edgecoap/client.h"
#include "itest.h"
#include "ithttp.h"
#include "suite.h"

/*
 * What the dashboard's page reads, as an HTTP client sees it: reports go in
 * over CoAP (edgecoap-client's library), the roll-ups, the devices in each
 * state, the pages of devices (walked to the end, each once), the prefix
 * filter and a device's history come out of /api as JSON, checked against
 * a model of what was sent. Then /api/events: a report shows as an event
 * within 2 s, Last-Event-ID resumes after the event it names (and an id of
 * nothing gets a reset), a stream closed by its client is let go, and one
 * stream past --http-streams is refused with 503 and counted.
 */

#define N_DEVICES 40
#define TIMEOUT_MS 10000
#define LIVE_MS 2000 /* the bound: a report on the page within 2 s */
#define N_STREAMS 3  /* --http-streams */

static const char *const deps[2] = {
    "da5b0a2d-0000-4000-8000-00000000000a",
    "da5b0a2d-0000-4000-8000-00000000000b",
};
static const char *const states[] = {"Pending", "Installing", "Installed",
                                     "Failed"};
static const char *const codes[] = {"E_DISK", "E_NET"};

static it_server_t srv;
static uint16_t http_port;
static char http_s[32], streams_s[8];

/* The model: each device's last state and error code. */
static int dev_state[N_DEVICES];
static const char *dev_code[N_DEVICES];

static ec_client_t *client(void) {
  ec_client_config_t cfg = {
      .url = srv.url, .format = EC_FORMAT_JSON, .timeout_ms = TIMEOUT_MS};
  ec_client_t *c = NULL;
  CU_ASSERT_EQUAL_FATAL(ec_client_new(&cfg, &c), 0);
  return c;
}

/* POST a report of @p dev to @p dep: its CoAP code. */
static int report(ec_client_t *c, const char *dev, const char *dep,
                  const char *state, const char *code) {
  char body[640], path[200], err[160] = "";
  if (code != NULL)
    snprintf(err, sizeof(err),
             ",\"error\":{\"code\":\"%s\",\"message\":\"%s on the device\"}",
             code, code);
  snprintf(body, sizeof(body),
           "{\"apiVersion\":\"deployment.margo/v1\",\"kind\":"
           "\"DeploymentStatus\",\"deploymentId\":\"%s\",\"status\":"
           "{\"state\":\"%s\"%s},\"components\":[{\"name\":\"app\","
           "\"state\":\"%s\"%s}]}",
           dep, state, err, state, err);
  snprintf(path, sizeof(path), "/device/%s/deployment/%s/status", dev, dep);
  ec_response_t r;
  if (ec_client_request(c, "POST", path, 50, (const uint8_t *)body,
                        strlen(body), &r) < 0)
    return -1;
  return r.code;
}

/* GET @p path: its JSON body when the status is @p want, else NULL. */
static json_t *get_json(const char *path, int want) {
  char *all = NULL;
  int code = it_http(http_port, "GET", path, NULL, NULL, &all);
  CU_ASSERT_EQUAL(code, want);
  char *body = code == want ? it_http_body(all) : NULL;
  json_t *doc = body != NULL ? json_loads(body, 0, NULL) : NULL;
  if (code == want && doc == NULL)
    fprintf(stderr, "GET %s: not JSON: %s\n", path, all ? all : "(nothing)");
  free(all);
  return doc;
}

static int status_of(const char *path) {
  return it_http(http_port, "GET", path, NULL, NULL, NULL);
}

static int dev_index(const char *id) {
  int i;
  if (sscanf(id, "dash-%03d", &i) != 1 || i < 0 || i >= N_DEVICES)
    return -1;
  return i;
}

/* ------------------------------------------------------------------------ */
/* The JSON reads                                                            */

static void test_api_reads_the_fleet(void) {
  ec_client_t *c = client();
  char dev[32];
  for (int i = 0; i < N_DEVICES; i++) {
    snprintf(dev, sizeof(dev), "dash-%03d", i);
    /* Each device first installs, then ends in its own state. */
    CU_ASSERT_EQUAL(report(c, dev, deps[i % 2], "Installing", NULL), 201);
    dev_state[i] = i % 4;
    dev_code[i] = dev_state[i] == 3 ? codes[(i / 4) % 2] : NULL;
    CU_ASSERT_EQUAL(
        report(c, dev, deps[i % 2], states[dev_state[i]], dev_code[i]), 204);
  }
  ec_client_free(c);

  /* Every deployment's counts. */
  json_t *doc = get_json("/api/deployments", 200);
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  json_t *list = json_object_get(doc, "deployments");
  CU_ASSERT_EQUAL(json_array_size(list), 2);
  for (size_t k = 0; k < json_array_size(list); k++) {
    json_t *d = json_array_get(list, k);
    const char *id = json_string_value(json_object_get(d, "deploymentId"));
    int which = id != NULL && strcmp(id, deps[1]) == 0;
    CU_ASSERT_STRING_EQUAL(id ? id : "", deps[which]);
    json_t *st = json_object_get(d, "states");
    for (int s = 0; s < 4; s++) {
      int want = 0;
      for (int i = which; i < N_DEVICES; i += 2)
        want += dev_state[i] == s;
      CU_ASSERT_EQUAL(json_integer_value(json_object_get(st, states[s])), want);
    }
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(d, "devices")),
                    N_DEVICES / 2);
  }
  json_decref(doc);

  /* One roll-up, its failures by code. dash-003, -011, ... failed (every
   * fourth from 3); the odd ones are deployment b's. */
  char path[300];
  snprintf(path, sizeof(path), "/api/deployments/%s", deps[1]);
  doc = get_json(path, 200);
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  int64_t failed = 0;
  json_t *f = json_object_get(doc, "failures");
  for (size_t k = 0; k < json_array_size(f); k++)
    failed +=
        json_integer_value(json_object_get(json_array_get(f, k), "devices"));
  CU_ASSERT_EQUAL(failed, N_DEVICES / 4);
  json_decref(doc);

  /* Its failed devices, each with its error code. */
  snprintf(path, sizeof(path), "/api/deployments/%s/devices?state=failed",
           deps[1]);
  doc = get_json(path, 200);
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  list = json_object_get(doc, "devices");
  CU_ASSERT_EQUAL(json_array_size(list), N_DEVICES / 4);
  for (size_t k = 0; k < json_array_size(list); k++) {
    json_t *d = json_array_get(list, k);
    int i = dev_index(json_string_value(json_object_get(d, "deviceId")));
    CU_ASSERT_FATAL(i >= 0);
    CU_ASSERT_EQUAL(dev_state[i], 3);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(d, "error")),
                           dev_code[i]);
    CU_ASSERT_PTR_NOT_NULL(json_object_get(d, "updatedAt"));
  }
  json_decref(doc);
}

/* Walk @p base (ending in ? or &) in pages of @p limit to the end: each
 * device seen is counted in @p seen; @return the pages, or -1. */
static int walk(const char *base, int limit, int seen[N_DEVICES]) {
  char path[512], after[300] = "";
  int pages = 0;
  for (int guard = 0; guard < 2 * N_DEVICES + 2; guard++) {
    snprintf(path, sizeof(path), "%slimit=%d%s%s", base, limit,
             after[0] ? "&after=" : "", after);
    json_t *doc = get_json(path, 200);
    if (doc == NULL)
      return -1;
    pages++;
    json_t *list = json_object_get(doc, "devices");
    for (size_t k = 0; k < json_array_size(list); k++) {
      const char *id = json_string_value(
          json_object_get(json_array_get(list, k), "deviceId"));
      int i = id != NULL ? dev_index(id) : -1;
      if (i >= 0)
        seen[i]++;
    }
    CU_ASSERT(json_array_size(list) <= (size_t)limit);
    const char *next = json_string_value(json_object_get(doc, "nextAfter"));
    if (next == NULL) {
      json_decref(doc);
      return pages;
    }
    snprintf(after, sizeof(after), "%s", next);
    json_decref(doc);
  }
  return -1; /* never ended */
}

static void test_pages_and_filters_walk_each_device_once(void) {
  int seen[N_DEVICES] = {0};
  /* Every device, by its prefix, in pages of 7. */
  int pages = walk("/api/devices?q=dash-&", 7, seen);
  CU_ASSERT(pages >= N_DEVICES / 7);
  for (int i = 0; i < N_DEVICES; i++)
    CU_ASSERT_EQUAL(seen[i], 1);

  /* One deployment's rows, in pages of 5: its half of the devices. */
  char base[200];
  memset(seen, 0, sizeof(seen));
  snprintf(base, sizeof(base), "/api/devices?deployment=%s&", deps[0]);
  CU_ASSERT(walk(base, 5, seen) >= 4);
  for (int i = 0; i < N_DEVICES; i++)
    CU_ASSERT_EQUAL(seen[i], i % 2 == 0 ? 1 : 0);

  /* One deployment's installed devices. */
  memset(seen, 0, sizeof(seen));
  snprintf(base, sizeof(base), "/api/deployments/%s/devices?state=Installed&",
           deps[0]);
  CU_ASSERT(walk(base, 3, seen) >= 1);
  for (int i = 0; i < N_DEVICES; i++)
    CU_ASSERT_EQUAL(seen[i], i % 2 == 0 && dev_state[i] == 2 ? 1 : 0);

  /* A prefix: dash-010 ... dash-019, and nothing after them. */
  memset(seen, 0, sizeof(seen));
  CU_ASSERT_EQUAL(walk("/api/devices?q=dash-01&", 100, seen), 1);
  for (int i = 0; i < N_DEVICES; i++)
    CU_ASSERT_EQUAL(seen[i], i >= 10 && i < 20 ? 1 : 0);
  /* A prefix that is a whole id, and one that matches nothing. */
  memset(seen, 0, sizeof(seen));
  CU_ASSERT_EQUAL(walk("/api/devices?q=dash-007&", 100, seen), 1);
  CU_ASSERT_EQUAL(seen[7], 1);
  memset(seen, 0, sizeof(seen));
  CU_ASSERT_EQUAL(walk("/api/devices?q=zzz&", 100, seen), 1);
  for (int i = 0; i < N_DEVICES; i++)
    CU_ASSERT_EQUAL(seen[i], 0);
  /* One device exactly. */
  json_t *doc = get_json("/api/devices?device=dash-005", 200);
  CU_ASSERT_EQUAL(json_array_size(json_object_get(doc, "devices")), 1);
  json_decref(doc);
}

static void test_history_is_newest_first_with_errors(void) {
  /* dash-003 installed, then failed with its code. */
  json_t *doc = get_json("/api/devices/dash-003/history", 200);
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  json_t *list = json_object_get(doc, "reports");
  CU_ASSERT_EQUAL_FATAL(json_array_size(list), 2);
  json_t *last = json_array_get(list, 0), *first = json_array_get(list, 1);
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(last, "state")),
                         "Failed");
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(
                             json_object_get(last, "error"), "code")),
                         dev_code[3]);
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(last, "seq")), 2);
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(first, "state")),
                         "Installing");
  const char *at = json_string_value(json_object_get(last, "receivedAt"));
  CU_ASSERT(at != NULL && strlen(at) == 24 && at[10] == 'T' && at[23] == 'Z');
  CU_ASSERT_STRING_EQUAL(
      json_string_value(json_object_get(
          json_array_get(json_object_get(last, "components"), 0), "name")),
      "app");
  json_decref(doc);
  doc = get_json("/api/devices/dash-003/history?limit=1", 200);
  CU_ASSERT_EQUAL(json_array_size(json_object_get(doc, "reports")), 1);
  json_decref(doc);

  /* What the reads refuse. */
  CU_ASSERT_EQUAL(status_of("/api/devices/nobody-here/history"), 404);
  CU_ASSERT_EQUAL(status_of("/api/devices?state=Sleeping"), 400);
  CU_ASSERT_EQUAL(status_of("/api/devices?limit=0"), 400);
  CU_ASSERT_EQUAL(status_of("/api/devices?q=a%22b"), 400);
  CU_ASSERT_EQUAL(status_of("/api/deployments/no-such-deployment"), 404);
  CU_ASSERT_EQUAL(status_of("/api/no-such-thing"), 404);
  CU_ASSERT_EQUAL(status_of("/api/devices/a%20b/history"), 400);
}

/* ------------------------------------------------------------------------ */
/* The event stream                                                          */

/* curl following /api/events (with @p header, or NULL), once it has the
 * stream's greeting; NULL when it did not come. */
static it_proc_t *follow(const char *header) {
  char url[96];
  snprintf(url, sizeof(url), "http://127.0.0.1:%u/api/events", http_port);
  const char *argv[12];
  int n = 0;
  argv[n++] = CURL_BIN;
  argv[n++] = "-sN";
  argv[n++] = "--max-time";
  argv[n++] = "60";
  if (header != NULL) {
    argv[n++] = "-H";
    argv[n++] = header;
  }
  argv[n++] = url;
  argv[n] = NULL;
  it_proc_t *p = NULL;
  if (it_proc_spawn(argv, NULL, 0, &p) < 0)
    return NULL;
  if (it_proc_wait_for(p, ": edgecoap events", 5000))
    return p;
  it_result_t r;
  (void)it_proc_kill(p, &r);
  it_result_dump("curl /api/events", &r);
  it_result_free(&r);
  return NULL;
}

static void unfollow(it_proc_t *p) {
  it_result_t r;
  (void)it_proc_kill(p, &r);
  it_result_free(&r);
}

/* The value of series @p name in a scrape, or -1. */
static double metric(const char *name) {
  return it_http_metric(http_port, name);
}

/* Wait (bounded) for the streams gauge to read @p want. */
static bool streams_become(double want) {
  for (int i = 0; i < 50; i++) {
    if (metric("edgecoap_http_event_streams") == want)
      return true;
    it_sleep_ms(100);
  }
  return false;
}

static void test_events_stream_each_report(void) {
  it_proc_t *a = follow(NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(a);
  ec_client_t *c = client();
  uint64_t t0 = it_now_ms();
  CU_ASSERT_EQUAL(report(c, "live-001", deps[0], "Installing", NULL), 201);
  CU_ASSERT_EQUAL(it_proc_wait_for(a,
                                   "\"deviceId\":\"live-001\","
                                   "\"state\":\"Installing\"",
                                   LIVE_MS),
                  1);
  uint64_t took = it_now_ms() - t0;
  CU_ASSERT(took < LIVE_MS);
  printf("\n    a report to its event: %llu ms ", (unsigned long long)took);

  /* A burst: every report is an event, in order, its error code in it. */
  char dev[32];
  for (int i = 0; i < 20; i++) {
    snprintf(dev, sizeof(dev), "live-%03d", 100 + i);
    CU_ASSERT_EQUAL(report(c, dev, deps[1], "Failed", "E_BURST"), 201);
  }
  CU_ASSERT_EQUAL(it_proc_wait_lines(a, "event: report", 21, 3000), 21);
  const char *out = it_proc_stdout(a);
  CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"deviceId\":\"live-119\",\"state\":"
                                     "\"Failed\",\"error\":\"E_BURST\""));
  CU_ASSERT(strstr(out, "live-100") < strstr(out, "live-119"));

  /* Resumed after the first event: the twenty that followed, not it. */
  char id[64] = "", header[96];
  const char *p = strstr(out, "\nid: ");
  CU_ASSERT_FATAL(p != NULL && sscanf(p + 5, "%63s", id) == 1);
  snprintf(header, sizeof(header), "Last-Event-ID: %s", id);
  it_proc_t *b = follow(header);
  CU_ASSERT_PTR_NOT_NULL_FATAL(b);
  CU_ASSERT_EQUAL(it_proc_wait_lines(b, "event: report", 20, 3000), 20);
  it_sleep_ms(300);
  CU_ASSERT_EQUAL(it_proc_wait_lines(b, "event: report", 21, 0), 20);
  CU_ASSERT_PTR_NULL(strstr(it_proc_stdout(b), "live-001"));
  unfollow(b);

  /* An id of no event of this run: a reset, then new reports only. */
  it_proc_t *r = follow("Last-Event-ID: abc-99999");
  CU_ASSERT_PTR_NOT_NULL_FATAL(r);
  CU_ASSERT_EQUAL(it_proc_wait_for(r, "event: reset", 2000), 1);
  CU_ASSERT_PTR_NULL(strstr(it_proc_stdout(r), "event: report"));
  unfollow(r);

  CU_ASSERT(metric("edgecoap_http_events_total") >= 21);
  CU_ASSERT(metric("edgecoap_http_events_sent_total") >= 41);
  ec_client_free(c);
  unfollow(a);
}

static void test_streams_are_capped_and_let_go(void) {
  /* The streams of the last test were closed by their clients. */
  CU_ASSERT_TRUE(streams_become(0));
  it_proc_t *s[N_STREAMS];
  for (int i = 0; i < N_STREAMS; i++) {
    s[i] = follow(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s[i]);
  }
  CU_ASSERT_EQUAL(metric("edgecoap_http_event_streams"), N_STREAMS);
  double refused = metric("edgecoap_http_event_streams_refused_total");
  char *all = NULL;
  CU_ASSERT_EQUAL(it_http(http_port, "GET", "/api/events", NULL, NULL, &all),
                  503);
  CU_ASSERT_PTR_NOT_NULL(all ? strstr(all, "Retry-After: 5") : NULL);
  free(all);
  CU_ASSERT_EQUAL(metric("edgecoap_http_event_streams_refused_total"),
                  (refused < 0 ? 0 : refused) + 1);
  /* One leaves: its place is free again. */
  unfollow(s[0]);
  CU_ASSERT_TRUE(streams_become(N_STREAMS - 1));
  s[0] = follow(NULL);
  CU_ASSERT_PTR_NOT_NULL(s[0]);
  for (int i = 0; i < N_STREAMS; i++)
    if (s[i] != NULL)
      unfollow(s[i]);
  CU_ASSERT_TRUE(streams_become(0));
}

static void test_page_is_served_from_the_binary(void) {
  char *all = NULL;
  CU_ASSERT_EQUAL(it_http(http_port, "GET", "/", NULL, NULL, &all), 200);
  CU_ASSERT_PTR_NOT_NULL(all ? strstr(all, "Content-Type: text/html") : NULL);
  CU_ASSERT_PTR_NOT_NULL(all ? strstr(all, "Content-Security-Policy: "
                                           "default-src 'none'")
                             : NULL);
  CU_ASSERT_PTR_NOT_NULL(all ? strstr(all, "<script src=\"/dashboard.js\"")
                             : NULL);
  /* Its ETag: the same bytes are not sent again. */
  char etag[64] = "", header[96];
  const char *e = all ? strstr(all, "ETag: ") : NULL;
  CU_ASSERT_FATAL(e != NULL && sscanf(e + 6, "%63s", etag) == 1);
  free(all);
  snprintf(header, sizeof(header), "If-None-Match: %s", etag);
  CU_ASSERT_EQUAL(it_http(http_port, "GET", "/", NULL, header, NULL), 304);
  CU_ASSERT_EQUAL(it_http(http_port, "GET", "/dashboard.js", NULL, NULL, &all),
                  200);
  CU_ASSERT_PTR_NOT_NULL(all ? strstr(all, "text/javascript") : NULL);
  CU_ASSERT_PTR_NOT_NULL(all ? strstr(all, "EventSource") : NULL);
  free(all);
  CU_ASSERT_EQUAL(status_of("/dashboard.css"), 200);
  CU_ASSERT_EQUAL(status_of("/signin.html"), 404);
}

/* ------------------------------------------------------------------------ */
/* Set-up                                                                    */

static int suite_init(void) {
  it_init();
  http_port = it_free_port();
  snprintf(http_s, sizeof(http_s), "127.0.0.1:%u", http_port);
  snprintf(streams_s, sizeof(streams_s), "%d", N_STREAMS);
  const char *extra[] = {"--http", http_s, "--http-streams", streams_s, NULL};
  return it_server_start(&srv, extra);
}

static const ec_test_t tests[] = {
    {test_api_reads_the_fleet, "api_reads_the_fleet"},
    {test_pages_and_filters_walk_each_device_once,
     "pages_and_filters_walk_each_device_once"},
    {test_history_is_newest_first_with_errors,
     "history_is_newest_first_with_errors"},
    {test_events_stream_each_report, "events_stream_each_report"},
    {test_streams_are_capped_and_let_go, "streams_are_capped_and_let_go"},
    {test_page_is_served_from_the_binary, "page_is_served_from_the_binary"},
};

int main(void) {
  static const ec_test_after_t after = {it_after_run, &srv, "it_dashboard"};
  return ec_test_main("dashboard", tests, EC_TEST_COUNT(tests), suite_init,
                      NULL, &after);
}
