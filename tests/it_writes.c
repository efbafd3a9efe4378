/* edgecoap: status writes and message posts: group commits, ETags, conditional
 * requests, answers. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <CUnit/CUnit.h>
#include <jansson.h>

#include "itest.h"
#include "suite.h"

/*
 * What a status write promises besides durability (API.md section 2): the
 * current state, its ETag and the notifications follow the newest committed
 * report, also when many writes share one group commit; ETags grow in write
 * order and never name two representations, across restarts and formats;
 * If-Match and If-None-Match are obeyed; and a lone confirmable write is
 * answered in one datagram. Raw UDP peers throughout, so that what is on the
 * wire is what is checked. The suite's server is its own.
 */

#define DEP "a11ce5e5-0000-4000-8000-00000000beef"
#define N_CONCURRENT 10
#define ROUNDS 3
#define TIMEOUT_MS 5000
#define QUIET_MS 300 /* no further datagram within this: none is coming */

static it_server_t srv;
static bool server_up;

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

static it_coap_msg_t *msg_new(void) {
  it_coap_msg_t *m = calloc(1, sizeof(*m));
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  return m;
}

static const char *status_path(char *out, size_t cap, const char *dev,
                               const char *tail) {
  snprintf(out, cap, "device/%s/deployment/%s/status%s", dev, DEP, tail);
  return out;
}

/* A report whose one component is named @p name. */
static const char *report(const char *state, const char *name) {
  static char buf[512];
  return it_report(buf, sizeof(buf), DEP, state, name, state);
}

/* An ETag option as a number (they are at most 8 bytes); 0 when absent. */
static uint64_t etag_of(const it_coap_msg_t *m) {
  size_t len = 0;
  const uint8_t *v = it_coap_opt(m, IT_OPT_ETAG, 0, &len);
  uint64_t e = 0;
  for (size_t i = 0; v != NULL && i < len && i < 8; i++)
    e = e << 8 | v[i];
  return v != NULL && len == 0 ? 1 : e; /* an empty ETag still is one */
}

/* The one component's name of a report document (JSON), or "". */
static const char *name_of(const json_t *doc, char *out, size_t cap) {
  const json_t *c = json_array_get(json_object_get(doc, "components"), 0);
  const char *n = json_string_value(json_object_get(c, "name"));
  snprintf(out, cap, "%s", n ? n : "");
  return out;
}

static json_t *body_json(const it_coap_msg_t *m) {
  return json_loadb((const char *)m->payload, m->payload_len, 0, NULL);
}

/* Build a CON request; @p if_match_len < 0: no If-Match, @p if_none_match:
 * add If-None-Match. */
static ssize_t build(it_udp_t *u, int method, const char *path,
                     const char *body, const uint8_t *if_match,
                     int if_match_len, bool if_none_match, uint8_t *dgram,
                     size_t cap) {
  it_coap_msg_t *m = msg_new();
  uint8_t tok[4];
  it_udp_token(u, tok);
  it_coap_init(m, IT_CON, method, it_udp_mid(u), tok, sizeof(tok));
  it_coap_add_path(m, path);
  if (if_match_len >= 0)
    it_coap_add_opt(m, IT_OPT_IF_MATCH, if_match, (size_t)if_match_len);
  if (if_none_match)
    it_coap_add_opt(m, 5 /* If-None-Match */, NULL, 0);
  if (body != NULL) {
    it_coap_add_uint(m, IT_OPT_CONTENT_FORMAT, 50);
    it_coap_set_payload(m, body, strlen(body));
  }
  it_coap_add_uint(m, IT_OPT_ACCEPT, 50);
  ssize_t n = it_coap_encode(m, dgram, cap);
  free(m);
  return n;
}

static int request(int method, const char *path, const char *body,
                   it_coap_msg_t *resp) {
  it_udp_t u;
  uint8_t dgram[IT_COAP_MAX_DGRAM];
  if (it_udp_open(&u, srv.port) < 0 || it_udp_verify(&u) < 0)
    return -1;
  ssize_t n = build(&u, method, path, body, NULL, -1, false, dgram,
                    sizeof(dgram));
  int rc = n > 0 ? it_coap_exchange_raw(&u, dgram, (size_t)n, resp, TIMEOUT_MS)
                 : -1;
  it_udp_close(&u);
  return rc;
}

/* GET the status (JSON): its component's name and its ETag. */
static int get_current(const char *dev, char *name, size_t cap,
                       uint64_t *etag) {
  char path[256];
  it_coap_msg_t *r = msg_new();
  int code = -1;
  name[0] = '\0';
  if (request(IT_GET, status_path(path, sizeof(path), dev, ""), NULL, r) ==
      0) {
    code = IT_CODE_INT(r->code);
    json_t *j = body_json(r);
    name_of(j, name, cap);
    json_decref(j);
    *etag = etag_of(r);
  }
  free(r);
  return code;
}

/* The history after @p since: names by seq into @p names[seq - since - 1].
 * @return the newest seq seen (since when none) */
static long long history_after(const char *dev, long long since,
                               char (*names)[32], int max) {
  char path[256], tail[64];
  it_udp_t u;
  it_body_t b;
  long long last = since;
  snprintf(tail, sizeof(tail), "/history?since=%lld", since);
  CU_ASSERT_EQUAL_FATAL(it_udp_open(&u, srv.port), 0);
  /* Plain CoAP answers large ones only to a verified address. */
  CU_ASSERT_EQUAL_FATAL(it_udp_verify(&u), 0);
  if (it_coap_get_blockwise(&u, status_path(path, sizeof(path), dev, tail),
                            50, 1024, 100, &b, TIMEOUT_MS) == 0) {
    json_t *j = json_loadb((const char *)b.body, b.len, 0, NULL);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(j, "reports"), i, e) {
      long long seq = json_integer_value(json_object_get(e, "seq"));
      if (seq - since - 1 >= 0 && seq - since - 1 < max)
        name_of(json_object_get(e, "report"), names[seq - since - 1], 32);
      if (seq > last)
        last = seq;
    }
    json_decref(j);
    free(b.body);
  }
  it_udp_close(&u);
  return last;
}

/* Acknowledge a confirmable separate response or notification. */
static void ack(it_udp_t *u, const it_coap_msg_t *m) {
  if (m->type != IT_CON)
    return;
  uint8_t a[4] = {(uint8_t)(1u << 6 | IT_ACK << 4), 0, (uint8_t)(m->mid >> 8),
                  (uint8_t)m->mid};
  it_udp_send(u, a, sizeof(a));
}

/* ------------------------------------------------------------------------ */
/* Concurrent writes in one group commit                                     */

/* N_CONCURRENT writers, each on a socket of its own with one CON request
 * built and not yet sent. */
typedef struct {
  it_udp_t u[N_CONCURRENT];
  uint8_t d[N_CONCURRENT][IT_COAP_MAX_DGRAM];
  size_t dl[N_CONCURRENT];
  uint8_t tok[N_CONCURRENT][4];
} writers_t;

/* Writer @p w's request: @p method on @p path with @p body. */
static void writer_build(writers_t *ws, int w, int method, const char *path,
                         const char *body) {
  CU_ASSERT_EQUAL_FATAL(it_udp_open(&ws->u[w], srv.port), 0);
  ssize_t k = build(&ws->u[w], method, path, body, NULL, -1, false, ws->d[w],
                    sizeof(ws->d[w]));
  CU_ASSERT_FATAL(k > 0);
  ws->dl[w] = (size_t)k;
  it_coap_msg_t tmp;
  CU_ASSERT_EQUAL_FATAL(it_coap_parse(ws->d[w], ws->dl[w], &tmp), 0);
  memcpy(ws->tok[w], tmp.token, 4);
}

/* Every writer's request, all waiting in the server's socket while it is
 * stopped, so that its next I/O round takes them into one group commit;
 * each answered @p code, its ETag into @p etag[w] (NULL: not kept). The
 * sockets are closed after. */
static void writers_run(writers_t *ws, int code, uint64_t *etag,
                        it_coap_msg_t *r) {
  bool done[N_CONCURRENT] = {false};
  CU_ASSERT_EQUAL_FATAL(kill(srv.pid, SIGSTOP), 0);
  for (int w = 0; w < N_CONCURRENT; w++)
    CU_ASSERT_EQUAL(it_udp_send(&ws->u[w], ws->d[w], ws->dl[w]), 0);
  CU_ASSERT_EQUAL_FATAL(kill(srv.pid, SIGCONT), 0);

  int left = N_CONCURRENT;
  uint64_t end = it_now_ms() + 3 * TIMEOUT_MS;
  while (left > 0 && it_now_ms() < end) {
    for (int w = 0; w < N_CONCURRENT; w++) {
      while (!done[w] && it_udp_recv_msg(&ws->u[w], r, 5) == 0) {
        ack(&ws->u[w], r);
        if (r->code == 0 || memcmp(r->token, ws->tok[w], 4) != 0)
          continue; /* the empty ACK of a deferred answer */
        CU_ASSERT_EQUAL(IT_CODE_INT(r->code), code);
        if (etag != NULL)
          etag[w] = etag_of(r);
        done[w] = true;
        left--;
      }
    }
  }
  CU_ASSERT_EQUAL_FATAL(left, 0);
  for (int w = 0; w < N_CONCURRENT; w++)
    it_udp_close(&ws->u[w]);
}

static void test_concurrent_writes_end_on_the_newest(void) {
  static const char *const states[] = {"Pending",  "Installing", "Installed",
                                       "Removing", "Failed"};
  char path[256], name[64];
  it_coap_msg_t *r = msg_new();
  CU_ASSERT_TRUE_FATAL(server_up);
  status_path(path, sizeof(path), "cw", "");
  CU_ASSERT_EQUAL_FATAL(request(IT_POST, path, report("Pending", "first"), r),
                        0);
  CU_ASSERT_EQUAL_FATAL(IT_CODE_INT(r->code), 201);

  /* An observer of the status. */
  it_udp_t obs;
  uint8_t otok[4];
  CU_ASSERT_EQUAL_FATAL(it_udp_open(&obs, srv.port), 0);
  /* Plain CoAP answers large ones only to a verified address. */
  CU_ASSERT_EQUAL_FATAL(it_udp_verify(&obs), 0);
  it_udp_token(&obs, otok);
  /* it_coap_exchange() answers the server's Echo challenge: plain CoAP
   * observes only a verified address. */
  static it_coap_msg_t reg;
  it_coap_init(&reg, IT_CON, IT_GET, it_udp_mid(&obs), otok, sizeof(otok));
  it_coap_add_uint(&reg, IT_OPT_OBSERVE, 0);
  it_coap_add_path(&reg, path);
  it_coap_add_uint(&reg, IT_OPT_ACCEPT, 50);
  CU_ASSERT_EQUAL_FATAL(it_coap_exchange(&obs, &reg, r, TIMEOUT_MS), 0);
  CU_ASSERT_EQUAL_FATAL(it_coap_opt_count(r, IT_OPT_OBSERVE), 1);

  long long since = 1;
  for (int round = 0; round < ROUNDS; round++) {
    writers_t ws;
    uint64_t etag[N_CONCURRENT] = {0};
    for (int w = 0; w < N_CONCURRENT; w++) {
      char nm[32];
      snprintf(nm, sizeof(nm), "r%d-w%d", round, w);
      writer_build(&ws, w, w % 2 ? IT_PUT : IT_POST, path,
                   report(states[w % 5], nm));
    }
    writers_run(&ws, 204, etag, r);

    /* Write order is the order of seq in the history. */
    char names[N_CONCURRENT][32];
    memset(names, 0, sizeof(names));
    long long last = history_after("cw", since, names, N_CONCURRENT);
    CU_ASSERT_EQUAL_FATAL(last, since + N_CONCURRENT);
    since = last;
    uint64_t prev = 0;
    for (int s = 0; s < N_CONCURRENT; s++) {
      int w = -1;
      sscanf(names[s], "r%*d-w%d", &w);
      CU_ASSERT_FATAL(w >= 0 && w < N_CONCURRENT);
      CU_ASSERT(etag[w] > prev); /* ETags grow in write order */
      prev = etag[w];
    }
    int newest = -1;
    sscanf(names[N_CONCURRENT - 1], "r%*d-w%d", &newest);

    /* GET, its ETag, and the observer's last notification agree with the
     * newest entry of the history. */
    uint64_t cur_etag = 0;
    CU_ASSERT_EQUAL(get_current("cw", name, sizeof(name), &cur_etag), 205);
    CU_ASSERT_STRING_EQUAL(name, names[N_CONCURRENT - 1]);
    CU_ASSERT_EQUAL(cur_etag, etag[newest]);
    char heard[64] = "";
    uint64_t heard_etag = 0;
    for (;;) {
      if (it_udp_recv_msg(&obs, r, strcmp(heard, name) == 0 ? QUIET_MS
                                                             : TIMEOUT_MS) < 0)
        break;
      ack(&obs, r);
      if (IT_CODE_INT(r->code) != 205)
        continue;
      json_t *j = body_json(r);
      name_of(j, heard, sizeof(heard));
      json_decref(j);
      heard_etag = etag_of(r);
    }
    CU_ASSERT_STRING_EQUAL(heard, names[N_CONCURRENT - 1]);
    CU_ASSERT_EQUAL(heard_etag, cur_etag);
  }
  /* The ten did share commits (the server logs each group commit). */
  CU_ASSERT(it_server_log_count(&srv, "group commit of") > 0);
  it_udp_close(&obs);
  free(r);
}

/*
 * First reports of pairs the server has no resource for (a restart makes
 * every device's next report one) share a group commit too: each is
 * answered 2.01 after it, and each pair reads back its own report.
 */
static void test_first_reports_share_commits(void) {
  char path[N_CONCURRENT][256], name[64];
  writers_t ws;
  it_coap_msg_t *r = msg_new();
  CU_ASSERT_TRUE_FATAL(server_up);
  int commits = it_server_log_count(&srv, "group commit of");
  for (int w = 0; w < N_CONCURRENT; w++) {
    char dev[32], nm[32];
    snprintf(dev, sizeof(dev), "first-%d", w);
    snprintf(nm, sizeof(nm), "first-w%d", w);
    status_path(path[w], sizeof(path[w]), dev, "");
    writer_build(&ws, w, IT_POST, path[w], report("Pending", nm));
  }
  writers_run(&ws, 201, NULL, r);
  for (int w = 0; w < N_CONCURRENT; w++) {
    char dev[32], want[32];
    uint64_t etag = 0;
    snprintf(dev, sizeof(dev), "first-%d", w);
    snprintf(want, sizeof(want), "first-w%d", w);
    CU_ASSERT_EQUAL(get_current(dev, name, sizeof(name), &etag), 205);
    CU_ASSERT_STRING_EQUAL(name, want);
    CU_ASSERT_EQUAL(etag, 1u << 1); /* seq 1, JSON */
  }
  CU_ASSERT(it_server_log_count(&srv, "group commit of") > commits);
  free(r);
}

/* ------------------------------------------------------------------------ */
/* Concurrent message posts in one group commit                              */

#define COLL "api/2.3/statusmessages"

/* A CON POST of one message whose orderId is @p order, under Request-Id
 * @p rid (NULL: none); its token into @p tok. */
static ssize_t build_post(it_udp_t *u, const char *order, const char *rid,
                          uint8_t tok[4], uint8_t *dgram, size_t cap) {
  char body[128];
  snprintf(body, sizeof(body), "{\"messageCode\":\"101\",\"orderId\":\"%s\"}",
           order);
  it_coap_msg_t *m = msg_new();
  it_udp_token(u, tok);
  it_coap_init(m, IT_CON, IT_POST, it_udp_mid(u), tok, 4);
  it_coap_add_path(m, COLL);
  it_coap_add_uint(m, IT_OPT_CONTENT_FORMAT, 50);
  it_coap_add_uint(m, IT_OPT_ACCEPT, 50);
  if (rid != NULL)
    it_coap_add_opt(m, 65004 /* Request-Id */, rid, strlen(rid));
  it_coap_set_payload(m, body, strlen(body));
  ssize_t n = it_coap_encode(m, dgram, cap);
  free(m);
  return n;
}

/* The statusMessageID of an answer's message (JSON), or -1. */
static long long message_id(const it_coap_msg_t *m) {
  json_t *j = body_json(m);
  json_t *id = json_object_get(j, "statusMessageID");
  long long v = json_is_integer(id) ? (long long)json_integer_value(id) : -1;
  json_decref(j);
  return v;
}

/*
 * Posts that arrive in one I/O round share its commit, as status writes
 * do: each answered 2.01 after it, with an ID of its own, the IDs one run
 * without gaps; a post repeated under its Request-Id in the same round is
 * answered 2.04 with the first one's message, stored once (by a store
 * whose commits complete later, after a 5.03 request-pending and a repeat).
 */
static void test_concurrent_posts_share_commits(void) {
  enum { N = N_CONCURRENT };
  CU_ASSERT_TRUE_FATAL(server_up);
  it_coap_msg_t *r = msg_new();
  int commits = it_server_log_count(&srv, "group commit of");
  it_udp_t u[N + 1];
  uint8_t d[N + 1][IT_COAP_MAX_DGRAM];
  size_t dl[N + 1];
  uint8_t tok[N + 1][4];
  long long id[N + 1];
  int code[N + 1];
  bool done[N + 1];
  for (int w = 0; w <= N; w++) {
    char order[32];
    /* The last repeats the first: same body, same Request-Id. */
    snprintf(order, sizeof(order), "cp-%d", w < N ? w : 0);
    CU_ASSERT_EQUAL_FATAL(it_udp_open(&u[w], srv.port), 0);
    ssize_t k =
        build_post(&u[w], order, w == 0 || w == N ? "post-rid-01" : NULL,
                   tok[w], d[w], sizeof(d[w]));
    CU_ASSERT_FATAL(k > 0);
    dl[w] = (size_t)k;
    id[w] = -1;
    code[w] = 0;
    done[w] = false;
  }
  CU_ASSERT_EQUAL_FATAL(kill(srv.pid, SIGSTOP), 0);
  for (int w = 0; w <= N; w++)
    CU_ASSERT_EQUAL(it_udp_send(&u[w], d[w], dl[w]), 0);
  CU_ASSERT_EQUAL_FATAL(kill(srv.pid, SIGCONT), 0);
  int left = N + 1;
  uint64_t end = it_now_ms() + 3 * TIMEOUT_MS;
  while (left > 0 && it_now_ms() < end) {
    for (int w = 0; w <= N; w++) {
      while (!done[w] && it_udp_recv_msg(&u[w], r, 5) == 0) {
        ack(&u[w], r);
        if (r->code == 0 || memcmp(r->token, tok[w], 4) != 0)
          continue; /* the empty ACK of a deferred answer */
        code[w] = IT_CODE_INT(r->code);
        if (code[w] == 503 && w == N) {
          /* A store whose commits complete later (PostgreSQL) answers a
           * repeat whose first post is in flight request-pending: sent
           * again, as a client does, it gets the first post's outcome. */
          ssize_t k = build_post(&u[w], "cp-0", "post-rid-01", tok[w], d[w],
                                 sizeof(d[w]));
          if (k > 0)
            (void)it_udp_send(&u[w], d[w], (size_t)k);
          continue;
        }
        id[w] = message_id(r);
        done[w] = true;
        left--;
      }
    }
  }
  CU_ASSERT_EQUAL_FATAL(left, 0);
  for (int w = 0; w <= N; w++)
    it_udp_close(&u[w]);
  long long lo = id[0], hi = id[0];
  for (int w = 0; w < N; w++) {
    CU_ASSERT_EQUAL(code[w], 201);
    CU_ASSERT(id[w] >= 1);
    for (int o = 0; o < w; o++)
      CU_ASSERT_NOT_EQUAL(id[w], id[o]);
    lo = id[w] < lo ? id[w] : lo;
    hi = id[w] > hi ? id[w] : hi;
  }
  CU_ASSERT_EQUAL(hi - lo, N - 1); /* one run, no gaps */
  CU_ASSERT_EQUAL(code[N], 204);
  CU_ASSERT_EQUAL(id[N], id[0]);
  /* Nothing stored twice: no message follows the run's last. */
  char path[64];
  snprintf(path, sizeof(path), COLL "/%lld", hi);
  CU_ASSERT_EQUAL(request(IT_GET, path, NULL, r), 0);
  CU_ASSERT_EQUAL(IT_CODE_INT(r->code), 205);
  CU_ASSERT_EQUAL(message_id(r), hi);
  snprintf(path, sizeof(path), COLL "/%lld", hi + 1);
  CU_ASSERT_EQUAL(request(IT_GET, path, NULL, r), 0);
  CU_ASSERT_EQUAL(IT_CODE_INT(r->code), 404);
  CU_ASSERT(it_server_log_count(&srv, "group commit of") > commits);
  free(r);
}

/* ------------------------------------------------------------------------ */
/* Conditional requests (RFC 7252 section 5.10.8)                            */

/* A write with If-Match @p etag (@p len < 0: none) or If-None-Match; the
 * answer's code. */
static int write_if(int method, const char *dev, const char *state,
                    const uint8_t *etag, int len, bool none_match) {
  char path[256];
  it_udp_t u;
  uint8_t dgram[IT_COAP_MAX_DGRAM];
  it_coap_msg_t *r = msg_new();
  int code = -1;
  CU_ASSERT_EQUAL_FATAL(it_udp_open(&u, srv.port), 0);
  /* Plain CoAP answers large ones only to a verified address. */
  CU_ASSERT_EQUAL_FATAL(it_udp_verify(&u), 0);
  ssize_t n = build(&u, method, status_path(path, sizeof(path), dev, ""),
                    report(state, state), etag, len, none_match, dgram,
                    sizeof(dgram));
  if (n > 0 && it_coap_exchange_raw(&u, dgram, (size_t)n, r, TIMEOUT_MS) == 0)
    code = IT_CODE_INT(r->code);
  it_udp_close(&u);
  free(r);
  return code;
}

/* An ETag number as its option bytes (big-endian, shortest). */
static int etag_bytes(uint64_t e, uint8_t out[8]) {
  int n = 0;
  uint8_t tmp[8];
  while (e != 0 && n < 8) {
    tmp[n++] = (uint8_t)e;
    e >>= 8;
  }
  for (int i = 0; i < n; i++)
    out[i] = tmp[n - 1 - i];
  return n;
}

static int history_count(const char *dev) {
  char names[64][32];
  return (int)history_after(dev, 0, names, 64);
}

static void test_conditional_writes(void) {
  char name[64];
  uint8_t e[8];
  uint64_t etag = 0;
  CU_ASSERT_TRUE_FATAL(server_up);
  /* No report yet: If-Match fails and creates nothing; If-None-Match
   * creates. */
  CU_ASSERT_EQUAL(write_if(IT_PUT, "cond", "Pending", NULL, 0, false), 412);
  CU_ASSERT_EQUAL(get_current("cond", name, sizeof(name), &etag), 404);
  CU_ASSERT_EQUAL(write_if(IT_PUT, "cond", "Pending", NULL, -1, true), 201);
  CU_ASSERT_EQUAL(get_current("cond", name, sizeof(name), &etag), 205);
  CU_ASSERT_STRING_EQUAL(name, "Pending");
  CU_ASSERT_EQUAL(history_count("cond"), 1);

  /* If-None-Match on an existing status, and a wrong If-Match, by PUT and
   * POST: 4.12, nothing written. */
  int n = etag_bytes(etag + 2, e);
  CU_ASSERT_EQUAL(write_if(IT_PUT, "cond", "Failed", NULL, -1, true), 412);
  CU_ASSERT_EQUAL(write_if(IT_POST, "cond", "Failed", NULL, -1, true), 412);
  CU_ASSERT_EQUAL(write_if(IT_PUT, "cond", "Failed", e, n, false), 412);
  CU_ASSERT_EQUAL(write_if(IT_POST, "cond", "Failed", e, n, false), 412);
  static const uint8_t junk[] = {0xde, 0xad, 0xbe, 0xef};
  CU_ASSERT_EQUAL(write_if(IT_PUT, "cond", "Failed", junk, 4, false), 412);
  CU_ASSERT_EQUAL(history_count("cond"), 1);
  CU_ASSERT_EQUAL(get_current("cond", name, sizeof(name), &etag), 205);
  CU_ASSERT_STRING_EQUAL(name, "Pending");

  /* The right ETag applies, once: it names the old report afterwards. */
  n = etag_bytes(etag, e);
  CU_ASSERT_EQUAL(write_if(IT_PUT, "cond", "Installing", e, n, false), 204);
  CU_ASSERT_EQUAL(write_if(IT_POST, "cond", "Installed", e, n, false), 412);
  CU_ASSERT_EQUAL(get_current("cond", name, sizeof(name), &etag), 205);
  CU_ASSERT_STRING_EQUAL(name, "Installing");
  /* An empty If-Match matches any existing report. */
  CU_ASSERT_EQUAL(write_if(IT_POST, "cond", "Installed", NULL, 0, false), 204);
  CU_ASSERT_EQUAL(history_count("cond"), 3);
  CU_ASSERT_EQUAL(get_current("cond", name, sizeof(name), &etag), 205);
  CU_ASSERT_STRING_EQUAL(name, "Installed");
}

/* ------------------------------------------------------------------------ */
/* ETags name one representation: per format, and across restarts           */

/* GET the status in @p accept; its ETag (0: none). */
static uint64_t etag_in(const char *dev, int accept) {
  char path[256];
  it_udp_t u;
  uint8_t tok[4], dgram[IT_COAP_MAX_DGRAM];
  it_coap_msg_t *r = msg_new();
  uint64_t e = 0;
  CU_ASSERT_EQUAL_FATAL(it_udp_open(&u, srv.port), 0);
  /* Plain CoAP answers large ones only to a verified address. */
  CU_ASSERT_EQUAL_FATAL(it_udp_verify(&u), 0);
  it_udp_token(&u, tok);
  it_coap_init(r, IT_CON, IT_GET, it_udp_mid(&u), tok, sizeof(tok));
  it_coap_add_path(r, status_path(path, sizeof(path), dev, ""));
  it_coap_add_uint(r, IT_OPT_ACCEPT, (uint32_t)accept);
  ssize_t n = it_coap_encode(r, dgram, sizeof(dgram));
  if (n > 0 && it_coap_exchange_raw(&u, dgram, (size_t)n, r, TIMEOUT_MS) == 0 &&
      IT_CODE_INT(r->code) == 205)
    e = etag_of(r);
  it_udp_close(&u);
  free(r);
  return e;
}

#define N_SEEN 16

typedef struct {
  uint64_t etag;
  char what[48]; /* report and format */
} seen_t;

/* Record that @p etag named @p what; false when it named another before. */
static bool note(seen_t *seen, int *n, uint64_t etag, const char *what) {
  for (int i = 0; i < *n; i++)
    if (seen[i].etag == etag)
      return strcmp(seen[i].what, what) == 0;
  if (*n < N_SEEN) {
    seen[*n].etag = etag;
    snprintf(seen[*n].what, sizeof(seen[*n].what), "%s", what);
    (*n)++;
  }
  return true;
}

static void test_etags_name_one_representation(void) {
  static const char *const states[] = {"Pending", "Installing", "Installed"};
  seen_t seen[N_SEEN];
  int n_seen = 0, clashes = 0;
  char what[48];
  CU_ASSERT_TRUE_FATAL(server_up);
  for (int i = 0; i < 3; i++) {
    CU_ASSERT_EQUAL(write_if(IT_POST, "etag", states[i], NULL, -1, false),
                    i == 0 ? 201 : 204);
    uint64_t j = etag_in("etag", 50), c = etag_in("etag", 60);
    CU_ASSERT(j != 0 && c != 0 && j != c); /* JSON and CBOR differ */
    snprintf(what, sizeof(what), "%s json", states[i]);
    clashes += !note(seen, &n_seen, j, what);
    snprintf(what, sizeof(what), "%s cbor", states[i]);
    clashes += !note(seen, &n_seen, c, what);
  }
  /* After a restart: the current report keeps its ETags, and neither it
   * nor the next report takes an ETag that named another before. */
  CU_ASSERT_EQUAL_FATAL(it_server_restart(&srv), 0);
  for (int i = 0; i < 2; i++) {
    const char *state = i == 0 ? "Installed" : "Removing";
    if (i == 1)
      CU_ASSERT_EQUAL(write_if(IT_PUT, "etag", state, NULL, -1, false), 204);
    uint64_t j = etag_in("etag", 50), c = etag_in("etag", 60);
    CU_ASSERT(j != 0 && c != 0 && j != c);
    snprintf(what, sizeof(what), "%s json", state);
    clashes += !note(seen, &n_seen, j, what);
    snprintf(what, sizeof(what), "%s cbor", state);
    clashes += !note(seen, &n_seen, c, what);
  }
  CU_ASSERT_EQUAL(clashes, 0);
  CU_ASSERT_EQUAL(n_seen, 8);
}

/* ------------------------------------------------------------------------ */
/* A lone write is answered in its ACK; reads carry Max-Age                  */

/* The first report of @p dev (component @p name), so that its status has
 * a resource of its own, whose writes may join a group commit: its path in
 * @p path. */
static void first_report(const char *dev, const char *name, char *path,
                         size_t cap, it_coap_msg_t *r) {
  CU_ASSERT_TRUE_FATAL(server_up);
  status_path(path, cap, dev, "");
  CU_ASSERT_EQUAL_FATAL(request(IT_POST, path, report("Pending", name), r), 0);
  CU_ASSERT_EQUAL_FATAL(IT_CODE_INT(r->code), 201);
}

static void test_lone_write_is_piggybacked(void) {
  char path[256];
  it_coap_msg_t *r = msg_new();
  first_report("lone", "a", path, sizeof(path), r);
  static const char *const states[] = {"Installing", "Installed", "Removing"};
  for (int i = 0; i < 3; i++) {
    it_udp_t u;
    uint8_t dgram[IT_COAP_MAX_DGRAM];
    CU_ASSERT_EQUAL_FATAL(it_udp_open(&u, srv.port), 0);
  /* Plain CoAP answers large ones only to a verified address. */
  CU_ASSERT_EQUAL_FATAL(it_udp_verify(&u), 0);
    ssize_t n = build(&u, i == 1 ? IT_POST : IT_PUT, path,
                      report(states[i], "a"), NULL, -1, false, dgram,
                      sizeof(dgram));
    it_coap_msg_t sent;
    CU_ASSERT_FATAL(n > 0 && it_coap_parse(dgram, (size_t)n, &sent) == 0);
    CU_ASSERT_EQUAL(it_udp_send(&u, dgram, (size_t)n), 0);
    /* Everything that comes back, until the line stays quiet. */
    int got = 0, answers = 0;
    while (it_udp_recv_msg(&u, r, got ? QUIET_MS : TIMEOUT_MS) == 0) {
      got++;
      ack(&u, r);
      if (r->type == IT_ACK && r->mid == sent.mid &&
          IT_CODE_INT(r->code) == 204 && r->token_len == sent.token_len &&
          memcmp(r->token, sent.token, sent.token_len) == 0)
        answers++;
    }
    /* One datagram out, one back: the piggybacked 2.04. */
    CU_ASSERT_EQUAL(got, 1);
    CU_ASSERT_EQUAL(answers, 1);
    it_udp_close(&u);
  }
  free(r);
}

/* A write that shares a group commit is answered after the COMMIT in its
 * own ACK (the late ACK, batch.h), with the stored report; a
 * retransmission of it that comes before that ACK is the same write, and
 * the one ACK answers both: one datagram back, one history entry. */
static void test_held_write_and_its_retransmission(void) {
  char path[256];
  it_coap_msg_t *r = msg_new();
  first_report("held", "h0", path, sizeof(path), r);
  it_udp_t u;
  CU_ASSERT_EQUAL_FATAL(it_udp_open(&u, srv.port), 0);
  CU_ASSERT_EQUAL_FATAL(it_udp_verify(&u), 0);
  uint8_t tok[4], d[IT_COAP_MAX_DGRAM];
  it_udp_token(&u, tok);
  it_coap_init(r, IT_CON, IT_POST, it_udp_mid(&u), tok, sizeof(tok));
  it_coap_add_path(r, path);
  it_coap_add_uint(r, IT_OPT_CONTENT_FORMAT, 50);
  it_coap_add_uint(r, IT_OPT_ACCEPT, 60);
  const char *body = report("Installing", "h1");
  it_coap_set_payload(r, body, strlen(body));
  ssize_t n = it_coap_encode(r, d, sizeof(d));
  CU_ASSERT_FATAL(n > 0);
  uint16_t mid = (uint16_t)(d[2] << 8 | d[3]);
  /* Both wait in the stopped server's socket: the first finds the second
   * waiting and joins a group commit; the second comes before its ACK. */
  CU_ASSERT_EQUAL_FATAL(kill(srv.pid, SIGSTOP), 0);
  CU_ASSERT_EQUAL(it_udp_send(&u, d, (size_t)n), 0);
  CU_ASSERT_EQUAL(it_udp_send(&u, d, (size_t)n), 0);
  CU_ASSERT_EQUAL_FATAL(kill(srv.pid, SIGCONT), 0);
  int got = 0;
  while (it_udp_recv_msg(&u, r, got ? QUIET_MS : TIMEOUT_MS) == 0) {
    got++;
    CU_ASSERT_EQUAL(r->type, IT_ACK);
    CU_ASSERT_EQUAL(r->mid, mid);
    CU_ASSERT_EQUAL(IT_CODE_INT(r->code), 204);
    CU_ASSERT(r->token_len == 4 && memcmp(r->token, tok, 4) == 0);
    CU_ASSERT_EQUAL(it_coap_opt_uint(r, IT_OPT_CONTENT_FORMAT, 0), 60);
    CU_ASSERT(r->payload_len > 0);
  }
  CU_ASSERT_EQUAL(got, 1);
  it_udp_close(&u);
  char names[4][32];
  memset(names, 0, sizeof(names));
  CU_ASSERT_EQUAL(history_after("held", 1, names, 4), 2);
  CU_ASSERT_STRING_EQUAL(names[0], "h1");
  free(r);
}

/* The Max-Age of a GET of @p path (with Observe when @p observe); -1 when
 * absent. */
static long max_age_of(const char *path, bool observe) {
  it_udp_t u;
  uint8_t tok[4], dgram[IT_COAP_MAX_DGRAM];
  it_coap_msg_t *r = msg_new();
  long age = -2;
  CU_ASSERT_EQUAL_FATAL(it_udp_open(&u, srv.port), 0);
  /* Plain CoAP answers large ones only to a verified address. */
  CU_ASSERT_EQUAL_FATAL(it_udp_verify(&u), 0);
  it_udp_token(&u, tok);
  it_coap_init(r, IT_CON, IT_GET, it_udp_mid(&u), tok, sizeof(tok));
  if (observe)
    it_coap_add_uint(r, IT_OPT_OBSERVE, 0);
  it_coap_add_path(r, path);
  ssize_t n = it_coap_encode(r, dgram, sizeof(dgram));
  if (n > 0 && it_coap_exchange_raw(&u, dgram, (size_t)n, r, TIMEOUT_MS) == 0 &&
      IT_CODE_INT(r->code) == 205) {
    size_t len;
    age = it_coap_opt(r, IT_OPT_MAX_AGE, 0, &len) == NULL
              ? -1
              : (long)it_coap_opt_uint(r, IT_OPT_MAX_AGE, 0);
  }
  it_udp_close(&u);
  free(r);
  return age;
}

static void test_reads_carry_max_age(void) {
  char path[256];
  CU_ASSERT_TRUE_FATAL(server_up);
  CU_ASSERT_EQUAL(write_if(IT_POST, "age", "Pending", NULL, -1, false), 201);
  CU_ASSERT_EQUAL(max_age_of(status_path(path, sizeof(path), "age", ""),
                             false),
                  10);
  CU_ASSERT_EQUAL(max_age_of(path, true), 120);
  CU_ASSERT_EQUAL(max_age_of(status_path(path, sizeof(path), "age",
                                         "/history"),
                             false),
                  10);
  CU_ASSERT_EQUAL(max_age_of("device/age/deployments", false), 10);
}

/* ------------------------------------------------------------------------ */
/* Set-up                                                                    */

static int suite_init(void) {
  it_init();
  server_up = it_server_start(&srv, NULL) == 0;
  return server_up ? 0 : -1;
}

static const ec_test_t tests[] = {
    {test_first_reports_share_commits, "first_reports_share_commits"},
    {test_concurrent_writes_end_on_the_newest,
     "concurrent_writes_end_on_the_newest"},
    {test_concurrent_posts_share_commits, "concurrent_posts_share_commits"},
    {test_conditional_writes, "conditional_writes"},
    {test_etags_name_one_representation, "etags_name_one_representation"},
    {test_lone_write_is_piggybacked, "lone_write_is_piggybacked"},
    {test_held_write_and_its_retransmission,
     "held_write_and_its_retransmission"},
    {test_reads_carry_max_age, "reads_carry_max_age"},
};

int main(void) {
  static const ec_test_after_t after = {it_after_run, &srv, "it_writes"};
  return ec_test_main("writes", tests, EC_TEST_COUNT(tests), suite_init, NULL,
                      &after);
}
