/* edgecoap tests: the dashboard in a real headless Chromium, live, through the DevTools protocol. */
/* SPDX-License-Identifier: Apache-2.0 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "edgecoap/client.h"
#include "itest.h"
#include "suite.h"

/*
 * The page as an operator sees it: Chromium (headless, its own profile in a
 * temporary folder, loopback only) opens the dashboard of a running server
 * with a few hundred devices; the test posts reports over CoAP and reads
 * the page's DOM through the DevTools protocol (--remote-debugging-pipe:
 * JSON messages ended by NUL on descriptors 3 and 4, no WebSocket) until
 * the device's row, its deployment's bar and the live feed show the new
 * state, within 2 s of the report. Then a screenshot of the page, kept in
 * the build folder (EC_ARTIFACT_DIR/dashboard.png).
 */

#ifndef CHROMIUM_BIN
#error "CHROMIUM_BIN must name chromium"
#endif
#ifndef EC_ARTIFACT_DIR
#error "EC_ARTIFACT_DIR must name where the screenshot is kept"
#endif

#define N_DEVICES 300
#define LIVE_MS 2000 /* the bound */
#define CDP_MS 15000 /* one DevTools answer at most */

static const char *const deps[3] = {
    "c0ffee00-1111-4aaa-8bbb-000000000001",
    "c0ffee00-2222-4aaa-8bbb-000000000002",
    "c0ffee00-3333-4aaa-8bbb-000000000003",
};

static it_server_t srv;
static uint16_t http_port;
static char http_s[32];

/* ------------------------------------------------------------------------ */
/* Reports                                                                   */

static ec_client_t *client(void) {
  ec_client_config_t cfg = {
      .url = srv.url, .format = EC_FORMAT_JSON, .timeout_ms = 10000};
  ec_client_t *c = NULL;
  CU_ASSERT_EQUAL_FATAL(ec_client_new(&cfg, &c), 0);
  return c;
}

static int report(ec_client_t *c, const char *dev, const char *dep,
                  const char *state, const char *code) {
  char body[640], path[200], err[200] = "";
  if (code != NULL)
    snprintf(err, sizeof(err),
             ",\"error\":{\"code\":\"%s\",\"message\":\"the download was "
             "cut off\"}",
             code);
  snprintf(body, sizeof(body),
           "{\"apiVersion\":\"deployment.margo/v1\",\"kind\":"
           "\"DeploymentStatus\",\"deploymentId\":\"%s\",\"status\":"
           "{\"state\":\"%s\"%s},\"components\":[{\"name\":\"edge-agent\","
           "\"state\":\"%s\"%s},{\"name\":\"telemetry\",\"state\":"
           "\"Installed\"}]}",
           dep, state, err, state, err);
  snprintf(path, sizeof(path), "/device/%s/deployment/%s/status", dev, dep);
  ec_response_t r;
  if (ec_client_request(c, "POST", path, 50, (const uint8_t *)body,
                        strlen(body), &r) < 0)
    return -1;
  return r.code;
}

/* A fleet in the middle of three roll-outs: device @p i's state. */
static const char *seed_state(int i) {
  static const char *const st[] = {"Pending", "Installing", "Installed",
                                   "Installed", "Failed"};
  return i == 7 ? "Installing" /* the device the test changes */
                : st[(i * 7 + i / 3) % 5];
}

static void seed(void) {
  ec_client_t *c = client();
  char dev[32];
  for (int i = 0; i < N_DEVICES; i++) {
    snprintf(dev, sizeof(dev), "gw-%04d", i);
    const char *s = seed_state(i);
    CU_ASSERT_EQUAL(report(c, dev, deps[i % 3], s,
                           strcmp(s, "Failed") == 0 ? "E_DOWNLOAD" : NULL),
                    201);
  }
  ec_client_free(c);
}

/* ------------------------------------------------------------------------ */
/* Chromium and the DevTools protocol                                        */

typedef struct {
  pid_t pid;
  int to;    /* its descriptor 3: our messages */
  int from;  /* its descriptor 4: its answers and events */
  char *buf; /* what was read and not yet taken */
  size_t len, cap;
  int next_id;
  char session[128];
  char profile[128];
  char paused[128]; /* the last Fetch.requestPaused's requestId */
} cdp_t;

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *f) {
  (void)st;
  (void)flag;
  (void)f;
  return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static int cdp_start(cdp_t *b) {
  int in[2], out[2];
  memset(b, 0, sizeof(*b));
  snprintf(b->profile, sizeof(b->profile), "/tmp/edgecoap-chromium.XXXXXX");
  if (mkdtemp(b->profile) == NULL || pipe(in) < 0 || pipe(out) < 0)
    return -1;
  char dir[200];
  snprintf(dir, sizeof(dir), "--user-data-dir=%s", b->profile);
  b->pid = fork();
  if (b->pid < 0)
    return -1;
  if (b->pid == 0) {
    /* Descriptors 3 and 4 are the protocol's; its logs go nowhere. */
    int r = dup(in[0]), w = dup(out[1]);
    dup2(r, 3);
    dup2(w, 4);
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    for (int fd = 5; fd < 1024; fd++)
      close(fd);
    /* No sandbox: it needs privileges a test (often root) lacks. */
    const char *argv[] = {CHROMIUM_BIN,
                          "--headless",
                          "--no-sandbox",
                          "--disable-gpu",
                          "--disable-dev-shm-usage",
                          "--no-first-run",
                          "--no-default-browser-check",
                          "--disable-extensions",
                          "--disable-sync",
                          "--disable-background-networking",
                          "--hide-scrollbars",
                          "--window-size=1440,1000",
                          "--remote-debugging-pipe",
                          dir,
                          "about:blank",
                          NULL};
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  b->to = in[1];
  b->from = out[0];
  b->next_id = 1;
  return 0;
}

static void cdp_stop(cdp_t *b) {
  if (b->pid > 0) {
    kill(b->pid, SIGKILL);
    (void)waitpid(b->pid, NULL, 0);
  }
  if (b->to > 0)
    close(b->to);
  if (b->from > 0)
    close(b->from);
  free(b->buf);
  if (b->profile[0] != '\0')
    (void)nftw(b->profile, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The next whole message (NUL-ended), parsed; NULL after @p ms. */
static json_t *cdp_read(cdp_t *b, unsigned ms) {
  uint64_t end = it_now_ms() + ms;
  for (;;) {
    char *nul = b->len > 0 ? memchr(b->buf, '\0', b->len) : NULL;
    if (nul != NULL) {
      json_t *m = json_loads(b->buf, 0, NULL);
      size_t used = (size_t)(nul - b->buf) + 1;
      memmove(b->buf, nul + 1, b->len - used);
      b->len -= used;
      return m != NULL ? m : json_object(); /* skipped by the caller */
    }
    uint64_t now = it_now_ms();
    if (now >= end)
      return NULL;
    struct pollfd p = {b->from, POLLIN, 0};
    if (poll(&p, 1, (int)(end - now)) <= 0)
      continue;
    if (b->cap - b->len < 65536) {
      b->cap = b->cap * 2 + 65536;
      b->buf = realloc(b->buf, b->cap);
      if (b->buf == NULL)
        return NULL;
    }
    ssize_t n = read(b->from, b->buf + b->len, b->cap - b->len);
    if (n <= 0)
      return NULL; /* Chromium went away */
    b->len += (size_t)n;
  }
}

/* Send @p method with @p params (taken), to the page's session when
 * @p page; its "result" (a new reference), or NULL on an error or after
 * CDP_MS. */
static json_t *cdp_call(cdp_t *b, bool page, const char *method,
                        json_t *params) {
  int id = b->next_id++;
  json_t *m = json_pack("{s:i, s:s, s:o}", "id", id, "method", method, "params",
                        params ? params : json_object());
  if (page)
    json_object_set_new(m, "sessionId", json_string(b->session));
  char *text = json_dumps(m, JSON_COMPACT);
  json_decref(m);
  size_t len = strlen(text) + 1; /* the NUL ends the message */
  bool sent = write(b->to, text, len) == (ssize_t)len;
  free(text);
  if (!sent)
    return NULL;
  uint64_t end = it_now_ms() + CDP_MS;
  while (it_now_ms() < end) {
    json_t *r = cdp_read(b, CDP_MS);
    if (r == NULL)
      return NULL;
    if (json_integer_value(json_object_get(r, "id")) == id) {
      json_t *res = json_object_get(r, "result");
      if (res == NULL)
        fprintf(stderr, "DevTools %s: %s\n", method,
                json_dumps(json_object_get(r, "error"), 0));
      json_incref(res);
      json_decref(r);
      return res;
    }
    /* An event, or another call's answer; a paused request is noted. */
    const char *ev = json_string_value(json_object_get(r, "method"));
    const char *rid = json_string_value(
        json_object_get(json_object_get(r, "params"), "requestId"));
    if (ev != NULL && strcmp(ev, "Fetch.requestPaused") == 0 && rid != NULL)
      snprintf(b->paused, sizeof(b->paused), "%s", rid);
    json_decref(r);
  }
  return NULL;
}

/* How long a browser just started may take to answer its first call, on
 * a machine busy with other builds and suites. */
#define CDP_START_MS 60000

/* Open @p url in a new tab and attach to it. The first call is asked again
 * (another CDP_MS) while the browser is starting and runs. */
static int cdp_open(cdp_t *b, const char *url) {
  json_t *r = NULL;
  for (uint64_t t0 = it_now_ms(); r == NULL && it_now_ms() - t0 < CDP_START_MS &&
                                  waitpid(b->pid, NULL, WNOHANG) == 0;)
    r = cdp_call(b, false, "Target.createTarget",
                 json_pack("{s:s}", "url", url));
  const char *target = json_string_value(json_object_get(r, "targetId"));
  if (target == NULL) {
    json_decref(r);
    return -1;
  }
  json_t *a =
      cdp_call(b, false, "Target.attachToTarget",
               json_pack("{s:s, s:b}", "targetId", target, "flatten", 1));
  json_decref(r);
  const char *s = json_string_value(json_object_get(a, "sessionId"));
  if (s != NULL)
    snprintf(b->session, sizeof(b->session), "%s", s);
  json_decref(a);
  return s != NULL ? 0 : -1;
}

/* The page's value of JavaScript expression @p js as a string (malloc'd;
 * "" for null or undefined), or NULL when it could not be asked. */
static char *cdp_eval(cdp_t *b, const char *js) {
  json_t *r =
      cdp_call(b, true, "Runtime.evaluate",
               json_pack("{s:s, s:b}", "expression", js, "returnByValue", 1));
  json_t *v = json_object_get(json_object_get(r, "result"), "value");
  char *out = NULL;
  if (r != NULL)
    out = strdup(json_is_string(v) ? json_string_value(v) : "");
  json_decref(r);
  return out;
}

/* Ask @p js every 50 ms until it is @p want or @p ms pass; the time it
 * took in ms, or -1. */
static long wait_for(cdp_t *b, const char *js, const char *want, unsigned ms) {
  uint64_t t0 = it_now_ms();
  char *last = NULL;
  do {
    free(last);
    last = cdp_eval(b, js);
    if (last != NULL && strcmp(last, want) == 0) {
      free(last);
      return (long)(it_now_ms() - t0);
    }
    it_sleep_ms(50);
  } while (it_now_ms() - t0 < ms);
  fprintf(stderr, "\n    %s: '%s', not '%s' after %u ms\n", js,
          last ? last : "(no answer)", want, ms);
  free(last);
  return -1;
}

/* 4 base64 letters -> 3 bytes, in place: the screenshot's bytes. */
static size_t unbase64(const char *in, unsigned char *out) {
  static const char abc[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t n = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (; *in != '\0' && *in != '='; in++) {
    const char *p = strchr(abc, *in);
    if (p == NULL)
      continue;
    acc = acc << 6 | (uint32_t)(p - abc);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (unsigned char)(acc >> bits);
    }
  }
  return n;
}

static int screenshot(cdp_t *b, const char *path) {
  json_t *r = cdp_call(b, true, "Page.captureScreenshot",
                       json_pack("{s:s}", "format", "png"));
  const char *data = json_string_value(json_object_get(r, "data"));
  int rc = -1;
  if (data != NULL) {
    unsigned char *png = malloc(strlen(data));
    size_t n = png != NULL ? unbase64(data, png) : 0;
    rc = n > 8 && memcmp(png, "\x89PNG", 4) == 0 ? it_write_file(path, png, n)
                                                 : -1;
    free(png);
  }
  json_decref(r);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* The test                                                                  */

#define ROW_STATE(dev)                                                         \
  "(document.querySelector('#devices tr[data-device=\"" dev "\"] "             \
  ".state') || {}).textContent"

static void test_page_shows_a_report_within_2s(void) {
  seed();
  cdp_t b;
  CU_ASSERT_EQUAL_FATAL(cdp_start(&b), 0);
  char url[128];
  snprintf(url, sizeof(url), "http://127.0.0.1:%u/?deployment=%s", http_port,
           deps[1]);
  if (cdp_open(&b, url) != 0) {
    CU_FAIL("Chromium opened no page to test (see its answers above)");
    cdp_stop(&b);
    return;
  }
  /* In front, as a tab one looks at (a background tab runs no
   * transitions, and its timers late). */
  json_decref(cdp_call(&b, true, "Page.bringToFront", NULL));
  /* Loaded, following the events, the device's row shown. */
  CU_ASSERT(wait_for(&b, "document.getElementById('live').dataset.state",
                     "live", 10000) >= 0);
  CU_ASSERT(wait_for(&b, ROW_STATE("gw-0007"), "Installing", 10000) >= 0);
  char js[400];
  snprintf(js, sizeof(js),
           "(document.querySelector('.dep[data-deployment=\"%s\"] "
           "button[data-state=\"Failed\"] b') || {}).textContent",
           deps[1]);
  /* The bar's count of failed devices, as seeded. */
  int before = 0;
  for (int i = 1; i < N_DEVICES; i += 3)
    before += strcmp(seed_state(i), "Failed") == 0;
  char want[16];
  snprintf(want, sizeof(want), "%d", before);
  CU_ASSERT(wait_for(&b, js, want, 10000) >= 0);
  char *rows = cdp_eval(&b, "String(document.querySelectorAll("
                            "'#devices tbody tr').length)");
  CU_ASSERT_STRING_EQUAL(rows ? rows : "", "100"); /* one page of 100 */
  free(rows);

  /* A report: the row, the bar's count and the feed, each within 2 s. */
  ec_client_t *c = client();
  uint64_t t0 = it_now_ms();
  CU_ASSERT_EQUAL(report(c, "gw-0007", deps[1], "Failed", "E_TIMEOUT"), 204);
  long row_ms = wait_for(&b, ROW_STATE("gw-0007"), "Failed", LIVE_MS);
  CU_ASSERT(row_ms >= 0);
  snprintf(want, sizeof(want), "%d", before + 1);
  long bar_ms = wait_for(&b, js, want, LIVE_MS);
  CU_ASSERT(bar_ms >= 0);
  long feed_ms = wait_for(&b,
                          "(document.querySelector('#feed li') || {})"
                          ".dataset.device",
                          "gw-0007", LIVE_MS);
  CU_ASSERT(feed_ms >= 0);
  long total = (long)(it_now_ms() - t0);
  CU_ASSERT(total < 3 * LIVE_MS);
  char *err = cdp_eval(&b, "(document.querySelector('#devices "
                           "tr[data-device=\"gw-0007\"] .err') || {})"
                           ".textContent");
  CU_ASSERT_STRING_EQUAL(err ? err : "", "E_TIMEOUT");
  free(err);
  printf("\n    report to row %ld ms, to bar %ld ms, to feed %ld ms ", row_ms,
         bar_ms, feed_ms);

  /* Its history, opened from its row, newest first. */
  free(cdp_eval(&b, "document.querySelector('#devices "
                    "tr[data-device=\"gw-0007\"]').click(), ''"));
  CU_ASSERT(wait_for(&b,
                     "(document.querySelector('#history li .state') || {})"
                     ".textContent",
                     "Failed", 5000) >= 0);
  CU_ASSERT(wait_for(&b,
                     "String(document.querySelectorAll('#history li')"
                     ".length)",
                     "2", 5000) >= 0);

  /* A device new to the fleet, within the page shown: it appears. */
  CU_ASSERT_EQUAL(report(c, "gw-0007b", deps[1], "Pending", NULL), 201);
  long new_ms = wait_for(&b, ROW_STATE("gw-0007b"), "Pending", LIVE_MS);
  CU_ASSERT(new_ms >= 0);

  /* The server restarts: the page connects again by itself (its ids are
   * of the old run, so it is told to read everything again) and is live
   * with the new one. */
  ec_client_free(c);
  CU_ASSERT_EQUAL_FATAL(it_server_restart(&srv), 0);
  c = client();
  CU_ASSERT(wait_for(&b, "document.getElementById('live').dataset.state",
                     "live", 10000) >= 0);
  CU_ASSERT_EQUAL(report(c, "gw-0007b", deps[1], "Installing", NULL), 204);
  CU_ASSERT(wait_for(&b, ROW_STATE("gw-0007b"), "Installing", LIVE_MS) >= 0);
  printf("new device's row %ld ms, after a restart live again ", new_ms);

  /* A report heard while the devices' page is being read, the page read
   * before it was stored: the report stays on top of the page. The page's
   * answer is held in the browser (DevTools Fetch, at the response)
   * while the report is made and heard. */
  json_decref(cdp_call(
      &b, true, "Fetch.enable",
      json_pack("{s:[{s:s, s:s}]}", "patterns", "urlPattern", "*/api/*devices*",
                "requestStage", "Response")));
  b.paused[0] = '\0';
  free(cdp_eval(&b, "loadDevices(), ''"));
  for (uint64_t t1 = it_now_ms(); b.paused[0] == '\0' && it_now_ms() - t1 < 5000;)
    free(cdp_eval(&b, "''"));
  CU_ASSERT(b.paused[0] != '\0');
  CU_ASSERT_EQUAL(report(c, "gw-0007b", deps[1], "Installed", NULL), 204);
  CU_ASSERT(wait_for(&b, ROW_STATE("gw-0007b"), "Installed", LIVE_MS) >= 0);
  json_decref(cdp_call(&b, true, "Fetch.continueRequest",
                       json_pack("{s:s}", "requestId", b.paused)));
  json_decref(cdp_call(&b, true, "Fetch.disable", NULL));
  /* The held page (Installing) has been shown by then, and the report
   * over it. */
  CU_ASSERT(wait_for(&b, ROW_STATE("gw-0007b"), "Installing", 1000) < 0);
  char *held = cdp_eval(&b, ROW_STATE("gw-0007b"));
  CU_ASSERT_STRING_EQUAL(held ? held : "", "Installed");
  free(held);

  /* Every deployment: 301 rows, walked a page at a time (100, 100, 100
   * and the last one). */
  free(cdp_eval(&b, "choose('', ''), ''"));
  CU_ASSERT(wait_for(&b,
                     "document.querySelector('#devices tbody tr')"
                     ".dataset.device",
                     "gw-0000", 5000) >= 0);
  CU_ASSERT(wait_for(&b, "document.getElementById('pg-info').textContent",
                     "devices 1\u2013100", 5000) >= 0);
  free(cdp_eval(&b, "document.getElementById('pg-next').click(), ''"));
  CU_ASSERT(wait_for(&b, "document.getElementById('pg-info').textContent",
                     "devices 101\u2013200", 5000) >= 0);
  /* gw-0007b came in after gw-0007: the page starts at gw-0099. */
  CU_ASSERT(wait_for(&b,
                     "document.querySelector('#devices tbody tr')"
                     ".dataset.device",
                     "gw-0099", 5000) >= 0);
  for (int page = 3; page <= 4; page++) {
    free(cdp_eval(&b, "document.getElementById('pg-next').click(), ''"));
    CU_ASSERT(wait_for(&b, "document.getElementById('pg-info').textContent",
                       page == 3 ? "devices 201\u2013300"
                                 : "devices 301\u2013301 (last page)",
                       5000) >= 0);
  }
  CU_ASSERT(wait_for(&b, "String(document.getElementById('pg-next').disabled)",
                     "true", 1000) >= 0);
  snprintf(js, sizeof(js), "choose('%s', ''), ''", deps[1]);
  free(cdp_eval(&b, js));
  CU_ASSERT(wait_for(&b, ROW_STATE("gw-0007"), "Failed", 5000) >= 0);

  /* A few more reports, so the picture shows the page live. */
  static const char *const more[][2] = {{"gw-0010", "Installed"},
                                        {"gw-0013", "Installing"},
                                        {"gw-0016", "Failed"},
                                        {"gw-0019", "Installed"}};
  for (size_t i = 0; i < sizeof(more) / sizeof(more[0]); i++)
    CU_ASSERT(report(c, more[i][0], deps[1], more[i][1],
                     strcmp(more[i][1], "Failed") == 0 ? "E_DISK_FULL" : NULL) >
              0);
  CU_ASSERT(wait_for(&b,
                     "(document.querySelector('#feed li') || {})"
                     ".dataset.device",
                     "gw-0019", LIVE_MS) >= 0);
  /* The bars catch up within 500 ms (they are read at most twice a
   * second); the last reports' rows are still marked as new. */
  it_sleep_ms(800);
  ec_client_free(c);

  char png[512];
  mkdir(EC_ARTIFACT_DIR, 0755);
  snprintf(png, sizeof(png), "%s/dashboard.png", EC_ARTIFACT_DIR);
  CU_ASSERT_EQUAL(screenshot(&b, png), 0);
  printf("(screenshot: %s) ", png);
  cdp_stop(&b);
}

/* ------------------------------------------------------------------------ */
/* Set-up                                                                    */

static int suite_init(void) {
  it_init();
  http_port = it_free_port();
  snprintf(http_s, sizeof(http_s), "127.0.0.1:%u", http_port);
  const char *extra[] = {"--http", http_s, NULL};
  return it_server_start(&srv, extra);
}

static const ec_test_t tests[] = {
    {test_page_shows_a_report_within_2s, "page_shows_a_report_within_2s"},
};

int main(void) {
  static const ec_test_after_t after = {it_after_run, &srv, "it_browser"};
  return ec_test_main("browser", tests, EC_TEST_COUNT(tests), suite_init, NULL,
                      &after);
}
