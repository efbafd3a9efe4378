/* edgecoap tests: the access log as an operator reads it, against the real server. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <jansson.h>

#include "it_prov_util.h"
#include "itest.h"
#include "suite.h"

/*
 * One line per answer, with the fields an operator needs, for each kind
 * of answer: a piggybacked write, a read, refusals by the dispatcher and
 * by the screen, a write answered after its group commit, a DTLS
 * identity's request; every line of a server started with --log-format
 * json parses; and a flood of errors from one peer leaves a bounded
 * number of lines and says how many it left out, while every request is
 * still answered. The peers are raw datagrams from tests/support and
 * libcoap's coap-client-openssl; all traffic stays on 127.0.0.1.
 */

#ifndef COAP_CLIENT_OPENSSL_BIN
#error "COAP_CLIENT_OPENSSL_BIN must name libcoap's coap-client-openssl"
#endif

#define DEP "a3e2f5dc-912e-494f-8395-52cf3769bc06"
#define TIMEOUT_MS 5000
#define N_FLOOD 2000
/* The server's limits (server/coap/accesslog.h). */
#define BURST 20
#define REFILL_MS 1000

static it_server_t srv;
static uint16_t http_port, psk_port;

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

/* Field @p key of text line @p line (up to its end) into @p out: a bare
 * value, or a quoted one unescaped. @return true when it is there. */
static bool field(const char *line, const char *key, char *out, size_t cap) {
  char pat[32];
  const char *end = strchr(line, '\n');
  snprintf(pat, sizeof(pat), " %s=", key);
  const char *p = strstr(line, pat);
  if (p == NULL || (end != NULL && p > end))
    return false;
  p += strlen(pat);
  size_t n = 0;
  if (*p == '"') {
    for (p++; *p != '\0' && *p != '"' && *p != '\n' && n + 1 < cap; p++) {
      if (*p == '\\' && p[1] != '\0')
        p++;
      out[n++] = *p;
    }
  } else {
    while (*p != '\0' && *p != ' ' && *p != '\n' && n + 1 < cap)
      out[n++] = *p++;
  }
  out[n] = '\0';
  return true;
}

/* The server's log (malloc'd, NUL-terminated), or NULL. */
static char *read_log(const it_server_t *s) {
  uint8_t *data = NULL;
  size_t len = 0;
  if (it_read_file(s->log, &data, &len) < 0)
    return NULL;
  return (char *)data;
}

/* The access lines whose @p key is @p value: their count, and a copy of
 * the last one (up to its newline) in @p last. */
static int access_lines(const char *key, const char *value, char *last,
                        size_t cap) {
  char *log = read_log(&srv);
  int count = 0;
  for (char *line = log; line != NULL && *line != '\0';) {
    char *end = strchr(line, '\n');
    char v[512];
    if (strstr(line, "] access ") != NULL &&
        (end == NULL || strstr(line, "] access ") < end) &&
        field(line, key, v, sizeof(v)) && strcmp(v, value) == 0) {
      count++;
      if (last != NULL) {
        size_t n = end ? (size_t)(end - line) : strlen(line);
        snprintf(last, cap, "%.*s", (int)n, line);
      }
    }
    line = end ? end + 1 : NULL;
  }
  free(log);
  return count;
}

/* "127.0.0.1:PORT" of socket @p u, and its address alone in @p addr. */
static void local_peer(const it_udp_t *u, char *peer, size_t cap, char *addr,
                       size_t acap) {
  struct sockaddr_in sin;
  socklen_t len = sizeof(sin);
  char host[INET_ADDRSTRLEN] = "?";
  if (getsockname(u->fd, (struct sockaddr *)&sin, &len) == 0)
    inet_ntop(AF_INET, &sin.sin_addr, host, sizeof(host));
  snprintf(peer, cap, "%s:%u", host, ntohs(sin.sin_port));
  if (addr != NULL)
    snprintf(addr, acap, "%s", host);
}

/* A request datagram: CON, a fresh MID and token, @p path, and a JSON
 * payload when @p json is not NULL. @return its length, or -1 */
static ssize_t build(it_udp_t *u, int method, const char *path,
                     const char *json, uint8_t *buf, size_t cap) {
  uint8_t tok[4];
  it_coap_msg_t *m = itp_msg_new();
  it_udp_token(u, tok);
  it_coap_init(m, IT_CON, method, it_udp_mid(u), tok, sizeof(tok));
  it_coap_add_path(m, path);
  if (json != NULL) {
    it_coap_add_uint(m, IT_OPT_CONTENT_FORMAT, 50);
    it_coap_set_payload(m, json, strlen(json));
  }
  ssize_t n = it_coap_encode(m, buf, cap);
  free(m);
  return n;
}

/* Send one request and take its answer: its code, and the datagram's
 * length in @p sent. */
static int exchange(it_udp_t *u, int method, const char *path,
                    const char *json, size_t *sent) {
  uint8_t d[IT_COAP_MAX_DGRAM];
  ssize_t n = build(u, method, path, json, d, sizeof(d));
  if (n < 0)
    return -1;
  *sent = (size_t)n;
  it_coap_msg_t *r = itp_msg_new();
  int code = it_coap_exchange_raw(u, d, (size_t)n, r, TIMEOUT_MS) == 0
                 ? IT_CODE_INT(r->code)
                 : -1;
  free(r);
  return code;
}

static const char *report(const char *state, char *buf, size_t cap) {
  return it_report(buf, cap, DEP, state, "app", state);
}

/* Check the last line of @p path: exactly @p n lines, its peer, method,
 * code and bytes in; out and us are numbers. */
static void check_line(const char *path, int n, const char *peer,
                       const char *method, const char *code, size_t in) {
  char line[1024] = "", v[512];
  int found = access_lines("path", path, line, sizeof(line));
  CU_ASSERT_EQUAL(found, n);
  if (n == 0)
    return;
  bool ok = field(line, "peer", v, sizeof(v)) && strcmp(v, peer) == 0 &&
            field(line, "method", v, sizeof(v)) && strcmp(v, method) == 0 &&
            field(line, "code", v, sizeof(v)) && strcmp(v, code) == 0 &&
            field(line, "in", v, sizeof(v)) && strtoul(v, NULL, 10) == in &&
            field(line, "out", v, sizeof(v)) && atol(v) > 0 &&
            field(line, "us", v, sizeof(v)) && v[0] >= '0' && v[0] <= '9' &&
            !field(line, "identity", v, sizeof(v));
  CU_ASSERT_TRUE(ok);
  if (!ok || found != n)
    fprintf(stderr, "\n  want %s %s %s in=%zu; last line: %s\n", peer,
            method, code, in, line);
}

/* GET @p path from the HTTP endpoint with a plain socket: the body
 * (malloc'd) or NULL. */
static char *http_get(const char *path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sin = {.sin_family = AF_INET,
                            .sin_port = htons(http_port)};
  struct timeval tv = {5, 0};
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
    if (fd >= 0)
      close(fd);
    return NULL;
  }
  char req[128];
  int n = snprintf(req, sizeof(req),
                   "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
  size_t len = 0, cap = 1 << 16;
  char *buf = malloc(cap);
  if (buf != NULL && write(fd, req, (size_t)n) == n) {
    ssize_t k;
    while (len + 1 < cap && (k = read(fd, buf + len, cap - 1 - len)) > 0)
      len += (size_t)k;
    buf[len] = '\0';
  }
  close(fd);
  char *body = buf ? strstr(buf, "\r\n\r\n") : NULL;
  char *out = body ? strdup(body + 4) : NULL;
  free(buf);
  return out;
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                     */

static void test_each_answer_is_one_line_with_its_fields(void) {
  char peer[64], body[512], path[200];
  size_t sent;
  it_udp_t u;
  CU_ASSERT_EQUAL_FATAL(it_udp_open(&u, srv.port), 0);
  CU_ASSERT_EQUAL_FATAL(it_udp_verify(&u), 0);
  local_peer(&u, peer, sizeof(peer), NULL, 0);

  /* 2.01, then a 2.04 update of the same status, answered piggybacked. */
  snprintf(path, sizeof(path), "device/dev-al-1/deployment/%s/status", DEP);
  CU_ASSERT_EQUAL(exchange(&u, IT_PUT, path, report("Pending", body,
                                                    sizeof(body)),
                           &sent),
                  201);
  CU_ASSERT_EQUAL(exchange(&u, IT_PUT, path, report("Installed", body,
                                                    sizeof(body)),
                           &sent),
                  204);
  char slash[210];
  snprintf(slash, sizeof(slash), "/%s", path);
  check_line(slash, 2, peer, "PUT", "2.04", sent);

  /* 2.05: a read, its query in the path. */
  CU_ASSERT_EQUAL(exchange(&u, IT_GET, "device?device=dev-al-1", NULL, &sent),
                  205);
  check_line("/device?device=dev-al-1", 1, peer, "GET", "2.05", sent);

  /* 4.00: a report the codec refuses. */
  snprintf(path, sizeof(path), "device/dev-al-2/deployment/%s/status", DEP);
  snprintf(slash, sizeof(slash), "/%s", path);
  CU_ASSERT_EQUAL(exchange(&u, IT_PUT, path, "{}", &sent), 400);
  check_line(slash, 1, peer, "PUT", "4.00", sent);

  /* 4.04: no such resource. */
  CU_ASSERT_EQUAL(exchange(&u, IT_GET, "no/such/thing", NULL, &sent), 404);
  check_line("/no/such/thing", 1, peer, "GET", "4.04", sent);

  /* A path and query as a URI shows them: what a URI would not show as it
   * is percent-encoded, '/' and '?' as they are in a query only. */
  CU_ASSERT_EQUAL(exchange(&u, IT_GET, "no/such thing\"%?q=a/b? c&x", NULL,
                           &sent),
                  404);
  check_line("/no/such%20thing%22%25?q=a/b?%20c&x", 1, peer, "GET", "4.04",
             sent);

  /* 4.05: a method no route has, refused by the dispatcher. */
  CU_ASSERT_EQUAL(exchange(&u, IT_DELETE, "v1/Login", NULL, &sent), 405);
  check_line("/v1/Login", 1, peer, "DELETE", "4.05", sent);

  /* 4.13: a datagram the screen refuses before libcoap reads it. */
  static char big[1400];
  memset(big, 'x', sizeof(big) - 1);
  snprintf(path, sizeof(path), "device/dev-al-3/deployment/%s/status", DEP);
  CU_ASSERT_EQUAL(exchange(&u, IT_PUT, path, big, &sent), 413);
  char line[1024], v[64];
  CU_ASSERT_EQUAL(access_lines("code", "4.13", line, sizeof(line)), 1);
  CU_ASSERT_TRUE(field(line, "peer", v, sizeof(v)) && strcmp(v, peer) == 0);
  CU_ASSERT_TRUE(field(line, "in", v, sizeof(v)) &&
                 strtoul(v, NULL, 10) == sent);
  it_udp_close(&u);
}

/* A line shows its own request's path when the one before it began with
 * the same options: the server keeps the last path's text, and a request
 * that has more Uri-Path or Uri-Query options after those is shown whole. */
static void test_paths_sharing_a_start_are_shown_apart(void) {
  char path[200], longer[220], slash[230];
  size_t sent;
  int code;
  it_udp_t u;
  /* An address of its own: its error lines (4.04) take nothing from the
   * other tests' buckets. */
  CU_ASSERT_EQUAL_FATAL(it_udp_open_fresh(&u, srv.port), 0);
  CU_ASSERT_EQUAL_FATAL(it_udp_verify(&u), 0);
  snprintf(path, sizeof(path), "device/dev-al-9/deployment/%s/status", DEP);
  snprintf(longer, sizeof(longer), "%s/more", path);
  const char *order[] = {path, longer, path, "device?device=dev-al-9",
                         "device?device=dev-al-9&x=1",
                         "device?device=dev-al-9"};
  for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
    code = exchange(&u, IT_GET, order[i], NULL, &sent);
    CU_ASSERT_TRUE(code > 0);
  }
  snprintf(slash, sizeof(slash), "/%s", path);
  CU_ASSERT_EQUAL(access_lines("path", slash, NULL, 0), 2);
  snprintf(slash, sizeof(slash), "/%s", longer);
  CU_ASSERT_EQUAL(access_lines("path", slash, NULL, 0), 1);
  CU_ASSERT_EQUAL(access_lines("path", "/device?device=dev-al-9", NULL, 0),
                  2);
  CU_ASSERT_EQUAL(
      access_lines("path", "/device?device=dev-al-9&x=1", NULL, 0), 1);
  it_udp_close(&u);
}

/* Writes that wait in the socket while the server is stopped share one
 * group commit: each is answered in its own ACK after the COMMIT (the late
 * ACK, batch.h), never with an empty ACK first; its one line carries that
 * answer's code and time. */
static void test_group_committed_write_logs_its_real_code(void) {
#define N_GROUP 4
  it_udp_t u[N_GROUP];
  uint8_t d[N_GROUP][IT_COAP_MAX_DGRAM];
  size_t dl[N_GROUP];
  char path[N_GROUP][200], body[512];
  bool done[N_GROUP] = {false}, empty_ack = false;
  uint16_t mid[N_GROUP];
  for (int i = 0; i < N_GROUP; i++) {
    CU_ASSERT_EQUAL_FATAL(it_udp_open(&u[i], srv.port), 0);
    snprintf(path[i], sizeof(path[i]),
             "device/dev-al-group-%d/deployment/%s/status", i, DEP);
    /* Made first: a write through the status's own resource may join a
     * group commit (router.h). */
    size_t first;
    CU_ASSERT_EQUAL(exchange(&u[i], IT_PUT, path[i],
                             report("Pending", body, sizeof(body)), &first),
                    201);
    ssize_t n = build(&u[i], i % 2 ? IT_PUT : IT_POST, path[i],
                      report("Installing", body, sizeof(body)), d[i],
                      sizeof(d[i]));
    CU_ASSERT_FATAL(n > 0);
    dl[i] = (size_t)n;
    mid[i] = (uint16_t)(d[i][2] << 8 | d[i][3]);
  }
  CU_ASSERT_EQUAL_FATAL(kill(srv.pid, SIGSTOP), 0);
  for (int i = 0; i < N_GROUP; i++)
    CU_ASSERT_EQUAL(it_udp_send(&u[i], d[i], dl[i]), 0);
  CU_ASSERT_EQUAL_FATAL(kill(srv.pid, SIGCONT), 0);

  it_coap_msg_t *r = itp_msg_new();
  int left = N_GROUP;
  uint64_t end = it_now_ms() + 3 * TIMEOUT_MS;
  while (left > 0 && it_now_ms() < end)
    for (int i = 0; i < N_GROUP; i++)
      while (!done[i] && it_udp_recv_msg(&u[i], r, 5) == 0) {
        itp_ack_con(&u[i], r);
        if (r->code == 0) {
          empty_ack = true;
          continue;
        }
        CU_ASSERT_EQUAL(IT_CODE_INT(r->code), 204);
        CU_ASSERT(r->type == IT_ACK && r->mid == mid[i]);
        done[i] = true;
        left--;
      }
  CU_ASSERT_EQUAL(left, 0);
  CU_ASSERT_FALSE(empty_ack);
  free(r);
  for (int i = 0; i < N_GROUP; i++) {
    char peer[64], slash[210];
    local_peer(&u[i], peer, sizeof(peer), NULL, 0);
    snprintf(slash, sizeof(slash), "/%.199s", path[i]);
    check_line(slash, 2, peer, i % 2 ? "PUT" : "POST", "2.04", dl[i]);
    it_udp_close(&u[i]);
  }
  CU_ASSERT_EQUAL(access_lines("code", "0.00", NULL, 0), 0);
}

/* Requests that wait together in the socket: the server may hold their
 * lines while the next waits (accesslog.h), but by the time the last
 * answer arrives every one of them is in the log. */
static void test_burst_is_logged_by_its_last_answer(void) {
#define N_BURST 40
  it_udp_t u;
  uint8_t d[N_BURST][IT_COAP_MAX_DGRAM];
  size_t dl[N_BURST];
  char path[N_BURST][64];
  CU_ASSERT_EQUAL_FATAL(it_udp_open(&u, srv.port), 0);
  CU_ASSERT_EQUAL_FATAL(it_udp_verify(&u), 0);
  for (int i = 0; i < N_BURST; i++) {
    snprintf(path[i], sizeof(path[i]), "device?device=dev-al-burst-%d", i);
    ssize_t n = build(&u, IT_GET, path[i], NULL, d[i], sizeof(d[i]));
    CU_ASSERT_FATAL(n > 0);
    dl[i] = (size_t)n;
  }
  CU_ASSERT_EQUAL_FATAL(kill(srv.pid, SIGSTOP), 0);
  for (int i = 0; i < N_BURST; i++)
    CU_ASSERT_EQUAL(it_udp_send(&u, d[i], dl[i]), 0);
  CU_ASSERT_EQUAL_FATAL(kill(srv.pid, SIGCONT), 0);

  it_coap_msg_t *r = itp_msg_new();
  int answered = 0;
  uint64_t end = it_now_ms() + 3 * TIMEOUT_MS;
  while (answered < N_BURST && it_now_ms() < end)
    if (it_udp_recv_msg(&u, r, 100) == 0 && r->code != 0) {
      CU_ASSERT_EQUAL(IT_CODE_INT(r->code), 205);
      answered++;
    }
  free(r);
  CU_ASSERT_EQUAL(answered, N_BURST);
  /* Read at once: no waiting for the log to catch up. */
  int missing = 0;
  for (int i = 0; i < N_BURST; i++) {
    char slash[80];
    snprintf(slash, sizeof(slash), "/%.63s", path[i]);
    missing += access_lines("path", slash, NULL, 0) != 1;
  }
  CU_ASSERT_EQUAL(missing, 0);
  it_udp_close(&u);
}

static void test_dtls_request_shows_its_identity(void) {
  it_result_t r;
  const char *argv[] = {EC_SERVER_BIN, "admin", "device-add", "--identity",
                        "dev-al-psk", "--role", "device", "--db", srv.db,
                        NULL};
  CU_ASSERT_EQUAL_FATAL(it_run(argv, NULL, 0, 20000, &r), 0);
  char key[80];
  snprintf(key, sizeof(key), "%.64s", r.out ? r.out : "");
  it_result_free(&r);

  char url[128];
  snprintf(url, sizeof(url),
           "coaps://127.0.0.1:%u/device/dev-al-psk/deployments", psk_port);
  const char *cc[] = {COAP_CLIENT_OPENSSL_BIN, "-B", "10", "-u",
                      "dev-al-psk", "-k", key, "-m", "get", url, NULL};
  CU_ASSERT_EQUAL(it_run(cc, NULL, 0, 20000, &r), 0);
  it_result_free(&r);
  char line[1024] = "", v[128];
  CU_ASSERT_EQUAL(access_lines("path", "/device/dev-al-psk/deployments", line,
                               sizeof(line)),
                  1);
  CU_ASSERT_TRUE(field(line, "identity", v, sizeof(v)) &&
                 strcmp(v, "dev-al-psk") == 0);
  CU_ASSERT_TRUE(field(line, "code", v, sizeof(v)) && strcmp(v, "2.05") == 0);
  CU_ASSERT_TRUE(field(line, "method", v, sizeof(v)) && strcmp(v, "GET") == 0);
}

/* A flood of errors from one address: at most a burst and one line per
 * second of it are written, the rest counted in "suppressed N" lines and
 * the metric, and every request is answered all the same. */
static void test_error_flood_is_rate_limited(void) {
  char peer[64], addr[64];
  it_udp_t u;
  CU_ASSERT_EQUAL_FATAL(it_udp_open_fresh(&u, srv.port), 0);
  CU_ASSERT_EQUAL_FATAL(it_udp_verify(&u), 0);
  local_peer(&u, peer, sizeof(peer), addr, sizeof(addr));
  int answered = 0;
  uint64_t start = it_now_ms();
  for (int i = 0; i < N_FLOOD; i++) {
    size_t sent;
    if (exchange(&u, IT_GET, "flood/no-such", NULL, &sent) == 404)
      answered++;
  }
  uint64_t took = it_now_ms() - start;
  CU_ASSERT_EQUAL(answered, N_FLOOD);
  /* Once the peer may log again, the server says what it left out. */
  it_sleep_ms(REFILL_MS + 1200);
  size_t dummy;
  CU_ASSERT_EQUAL(exchange(&u, IT_GET, ".well-known/core", NULL, &dummy), 205);

  /* Error lines: the flood's and the Echo challenge's of it_udp_verify()
   * (its 2.05, and the one above, are not limited). */
  int logged = access_lines("peer", peer, NULL, 0) - 2;
  const int errors = N_FLOOD + 1;
  char *log = read_log(&srv);
  CU_ASSERT_PTR_NOT_NULL_FATAL(log);
  long long suppressed = 0;
  int summaries = 0;
  for (char *p = log; (p = strstr(p, "access: suppressed ")) != NULL; p++) {
    unsigned long long n;
    char from[64];
    if (sscanf(p, "access: suppressed %llu lines from %63s", &n, from) == 2 &&
        strcmp(from, addr) == 0) {
      suppressed += (long long)n;
      summaries++;
    }
  }
  free(log);
  printf("\n  flood: %d errors in %llu ms: %d lines, %d summaries, %lld "
         "suppressed\n",
         errors, (unsigned long long)took, logged, summaries, suppressed);
  CU_ASSERT(logged >= BURST);
  CU_ASSERT(logged <= BURST + (int)(took / REFILL_MS) + 2);
  CU_ASSERT(summaries >= 1);
  CU_ASSERT_EQUAL(logged + suppressed, errors);

  char *text = http_get("/metrics");
  CU_ASSERT_PTR_NOT_NULL_FATAL(text);
  char *m = strstr(text, "\nedgecoap_log_lines_suppressed_total ");
  CU_ASSERT_PTR_NOT_NULL(m);
  if (m != NULL)
    CU_ASSERT_EQUAL(atoll(m + strlen("\nedgecoap_log_lines_suppressed_total ")),
                    suppressed);
  free(text);
  it_udp_close(&u);
}

/* --log-format json: every line the server writes, the access lines'
 * fields among them, is one JSON object. */
static void test_json_lines_parse(void) {
  it_server_t js;
  memset(&js, 0, sizeof(js));
  const char *extra[] = {"--log-format", "json", NULL};
  CU_ASSERT_EQUAL_FATAL(it_server_start(&js, extra), 0);
  it_udp_t u;
  size_t sent, put_sent = 0;
  char body[512], path[200];
  CU_ASSERT_EQUAL_FATAL(it_udp_open(&u, js.port), 0);
  CU_ASSERT_EQUAL(it_udp_verify(&u), 0);
  snprintf(path, sizeof(path), "device/dev-al-json/deployment/%s/status", DEP);
  CU_ASSERT_EQUAL(exchange(&u, IT_PUT, path, report("Pending", body,
                                                    sizeof(body)),
                           &put_sent),
                  201);
  /* A path with a quote, a backslash and bytes that are no UTF-8. */
  CU_ASSERT_EQUAL(exchange(&u, IT_GET, "we\"ird\\p\xff\x01th", NULL, &sent),
                  404);
  it_udp_close(&u);
  CU_ASSERT_EQUAL(it_server_stop(&js), 0);

  uint8_t *log = NULL;
  size_t len = 0;
  CU_ASSERT_EQUAL_FATAL(it_read_file(js.log, &log, &len), 0);
  int lines = 0, bad = 0, access = 0;
  bool put_seen = false;
  for (char *line = (char *)log, *end; *line != '\0'; line = end + 1) {
    end = strchr(line, '\n');
    if (end == NULL)
      break;
    *end = '\0';
    if (strncmp(line, "==== itest:", 11) == 0)
      continue; /* the test harness's own marks */
    lines++;
    json_error_t err;
    json_t *j = json_loads(line, 0, &err);
    if (!json_is_object(j) || !json_is_string(json_object_get(j, "time")) ||
        !json_is_string(json_object_get(j, "level")) ||
        !json_is_string(json_object_get(j, "msg"))) {
      if (bad++ < 3)
        fprintf(stderr, "not a log object: %s\n", line);
    } else if (strcmp(json_string_value(json_object_get(j, "msg")),
                      "access") == 0) {
      access++;
      const char *p = json_string_value(json_object_get(j, "path"));
      if (p != NULL && strstr(p, "dev-al-json") != NULL) {
        put_seen = true;
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "code")),
                               "2.01");
        CU_ASSERT_STRING_EQUAL(
            json_string_value(json_object_get(j, "method")), "PUT");
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "in")),
                        (json_int_t)put_sent);
        CU_ASSERT(json_integer_value(json_object_get(j, "out")) > 0);
        CU_ASSERT(json_is_integer(json_object_get(j, "us")));
        CU_ASSERT(json_is_string(json_object_get(j, "peer")));
      }
    }
    json_decref(j);
  }
  free(log);
  CU_ASSERT(lines > 10);
  CU_ASSERT_EQUAL(bad, 0);
  CU_ASSERT(access >= 3);
  CU_ASSERT_TRUE(put_seen);
  it_server_cleanup(&js, bad != 0);
}

/* ------------------------------------------------------------------------ */
/* Set-up                                                                    */

static int suite_init(void) {
  static char http_s[32], psk_s[8];
  it_init();
  http_port = it_free_port();
  psk_port = it_free_port();
  snprintf(http_s, sizeof(http_s), "127.0.0.1:%u", http_port);
  snprintf(psk_s, sizeof(psk_s), "%u", psk_port);
  const char *extra[] = {"--http", http_s, "--dtls", "--psk-port", psk_s,
                         "--log-level", "info", NULL};
  return it_server_start(&srv, extra);
}

static const ec_test_t tests[] = {
    {test_each_answer_is_one_line_with_its_fields,
     "each_answer_is_one_line_with_its_fields"},
    {test_paths_sharing_a_start_are_shown_apart,
     "paths_sharing_a_start_are_shown_apart"},
    {test_group_committed_write_logs_its_real_code,
     "group_committed_write_logs_its_real_code"},
    {test_burst_is_logged_by_its_last_answer,
     "burst_is_logged_by_its_last_answer"},
    {test_dtls_request_shows_its_identity, "dtls_request_shows_its_identity"},
    {test_error_flood_is_rate_limited, "error_flood_is_rate_limited"},
    {test_json_lines_parse, "json_lines_parse"},
};

int main(void) {
  static const ec_test_after_t after = {it_after_run, &srv, "it_accesslog"};
  return ec_test_main("accesslog", tests, EC_TEST_COUNT(tests), suite_init,
                      NULL, &after);
}
