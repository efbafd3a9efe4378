/* edgecoap: a write repeated under its Request-Id is applied once. */
/* SPDX-License-Identifier: Apache-2.0 */
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
 * A device names each status write with a Request-Id (option 65004, 8 to 16
 * bytes, API.md section 2) and keeps it across retries and reboots. Its
 * repeat, from another port with another Message ID and after a server
 * restart, is answered 2.04 with the stored report and adds no history
 * entry; a new id is a new write; the same id with another report is 4.09;
 * an id of a wrong length is 4.02 and nothing is stored. Raw UDP peers, so
 * every repeat is a fresh socket and Message ID, as after a device reboot.
 */

#define DEP "c0ffee00-1d1d-4e4e-8f8f-000000000065"
#define OPT_REQUEST_ID 65004
#define TIMEOUT_MS 5000
#define N_BURST 6

static it_server_t srv;
static bool server_up;

static const uint8_t RID_A[8] = {'r', 'e', 'p', 'o', 'r', 't', '-', 'a'};
static const uint8_t RID_B[16] = {'r', 'e', 'p', 'o', 'r', 't', '-', 'b',
                                  0,   1,   2,   3,   4,   5,   6,   7};

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

static const char *report(const char *state) {
  static char buf[512];
  return it_report(buf, sizeof(buf), DEP, state, "app", state);
}

/* Encode a CON POST of @p body to @p path under @p rid (none when
 * @p rid_len is 0). */
static ssize_t build_to(it_udp_t *u, const char *path, const char *body,
                        const uint8_t *rid, size_t rid_len, uint8_t *dgram,
                        size_t cap) {
  it_coap_msg_t *m = msg_new();
  uint8_t tok[4];
  it_udp_token(u, tok);
  it_coap_init(m, IT_CON, IT_POST, it_udp_mid(u), tok, sizeof(tok));
  it_coap_add_path(m, path);
  it_coap_add_uint(m, IT_OPT_CONTENT_FORMAT, 50);
  it_coap_add_uint(m, IT_OPT_ACCEPT, 50);
  if (rid_len > 0)
    it_coap_add_opt(m, OPT_REQUEST_ID, rid, rid_len);
  it_coap_set_payload(m, body, strlen(body));
  ssize_t n = it_coap_encode(m, dgram, cap);
  free(m);
  return n;
}

/* The same, of a status report of device @p dev. */
static ssize_t build(it_udp_t *u, const char *dev, const char *body,
                     const uint8_t *rid, size_t rid_len, uint8_t *dgram,
                     size_t cap) {
  char path[256];
  return build_to(u, status_path(path, sizeof(path), dev, ""), body, rid,
                  rid_len, dgram, cap);
}

/* POST to @p path from a fresh socket (a new port and Message ID); the
 * answer's code, or -1. */
static int post_to(const char *path, const char *body, const uint8_t *rid,
                   size_t rid_len, it_coap_msg_t *resp) {
  it_udp_t u;
  uint8_t dgram[IT_COAP_MAX_DGRAM];
  if (it_udp_open(&u, srv.port) < 0)
    return -1;
  if (it_udp_verify(&u) < 0) {
    it_udp_close(&u);
    return -1;
  }
  ssize_t n = build_to(&u, path, body, rid, rid_len, dgram, sizeof(dgram));
  int rc = n > 0 ? it_coap_exchange_raw(&u, dgram, (size_t)n, resp, TIMEOUT_MS)
                 : -1;
  it_udp_close(&u);
  return rc == 0 ? IT_CODE_INT(resp->code) : -1;
}

static int post(const char *dev, const char *body, const uint8_t *rid,
                size_t rid_len, it_coap_msg_t *resp) {
  char path[256];
  return post_to(status_path(path, sizeof(path), dev, ""), body, rid, rid_len,
                 resp);
}

#define MSGS "api/2.3/statusmessages"

/* The first message's id of a post's answer (single or batch), or -1. */
static long long first_id_of(const it_coap_msg_t *m) {
  json_t *j = json_loadb((const char *)m->payload, m->payload_len, 0, NULL);
  json_t *list = json_object_get(j, "StatusMessages");
  json_t *one = json_is_array(list) ? json_array_get(list, 0) : j;
  json_t *id = json_object_get(one, "statusMessageID");
  long long v = json_is_integer(id) ? json_integer_value(id) : -1;
  json_decref(j);
  return v;
}

/* How many reports the history of @p dev holds, or -1 (4.04 is 0). */
static int history_count(const char *dev) {
  char path[256];
  it_udp_t u;
  it_body_t b;
  int count = -1;
  if (it_udp_open(&u, srv.port) < 0)
    return -1;
  if (it_udp_verify(&u) == 0 &&
      it_coap_get_blockwise(&u, status_path(path, sizeof(path), dev,
                                            "/history"),
                            50, 1024, 100, &b, TIMEOUT_MS) == 0) {
    if (b.code == IT_CODE(4, 4)) {
      count = 0;
    } else {
      json_t *j = json_loadb((const char *)b.body, b.len, 0, NULL);
      json_t *reports = json_object_get(j, "reports");
      count = json_is_array(reports) ? (int)json_array_size(reports) : -1;
      json_decref(j);
    }
    free(b.body);
  }
  it_udp_close(&u);
  return count;
}

static uint64_t etag_of(const it_coap_msg_t *m) {
  size_t len = 0;
  const uint8_t *v = it_coap_opt(m, IT_OPT_ETAG, 0, &len);
  uint64_t e = 0;
  for (size_t i = 0; v != NULL && i < len && i < 8; i++)
    e = e << 8 | v[i];
  return e;
}

static const char *state_of(const it_coap_msg_t *m, char *out, size_t cap) {
  json_t *j = json_loadb((const char *)m->payload, m->payload_len, 0, NULL);
  const char *s =
      json_string_value(json_object_get(json_object_get(j, "status"), "state"));
  snprintf(out, cap, "%s", s ? s : "");
  json_decref(j);
  return out;
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                     */

static void test_repeat_after_restart_is_applied_once(void) {
  CU_ASSERT_TRUE_FATAL(server_up);
  it_coap_msg_t *r = msg_new();
  char st[32];
  CU_ASSERT_EQUAL(post("rid1", report("Installing"), RID_A, sizeof(RID_A), r),
                  201);
  uint64_t etag = etag_of(r);
  CU_ASSERT_NOT_EQUAL(etag, 0);
  CU_ASSERT_EQUAL(history_count("rid1"), 1);

  /* The device reboots, and so does the server: the same report under the
   * same id, from another port and Message ID. */
  CU_ASSERT_EQUAL_FATAL(it_server_restart(&srv), 0);
  CU_ASSERT_EQUAL(post("rid1", report("Installing"), RID_A, sizeof(RID_A), r),
                  204);
  CU_ASSERT_EQUAL(etag_of(r), etag); /* the stored report's, seq 1 */
  CU_ASSERT_STRING_EQUAL(state_of(r, st, sizeof(st)), "Installing");
  CU_ASSERT_EQUAL(history_count("rid1"), 1);

  /* A new id is a new write, stored. */
  CU_ASSERT_EQUAL(post("rid1", report("Installing"), RID_B, sizeof(RID_B), r),
                  204);
  CU_ASSERT_NOT_EQUAL(etag_of(r), etag);
  CU_ASSERT_EQUAL(history_count("rid1"), 2);
  /* And so is a write with none. */
  CU_ASSERT_EQUAL(post("rid1", report("Installed"), NULL, 0, r), 204);
  CU_ASSERT_EQUAL(history_count("rid1"), 3);

  /* The first id again, long after: still that first report, and the
   * current state stays the newest. */
  CU_ASSERT_EQUAL(post("rid1", report("Installing"), RID_A, sizeof(RID_A), r),
                  204);
  CU_ASSERT_EQUAL(etag_of(r), etag);
  CU_ASSERT_EQUAL(history_count("rid1"), 3);

  /* Ids are per device: another device may use the same one. */
  CU_ASSERT_EQUAL(post("rid2", report("Installing"), RID_A, sizeof(RID_A), r),
                  201);
  CU_ASSERT_EQUAL(history_count("rid2"), 1);
  free(r);
}

static void test_same_id_other_report_conflicts(void) {
  CU_ASSERT_TRUE_FATAL(server_up);
  it_coap_msg_t *r = msg_new();
  CU_ASSERT_EQUAL(post("rid3", report("Pending"), RID_A, sizeof(RID_A), r),
                  201);
  CU_ASSERT_EQUAL(post("rid3", report("Failed"), RID_A, sizeof(RID_A), r),
                  409);
  it_problem_t p;
  CU_ASSERT_EQUAL(it_problem_parse(r->payload, r->payload_len,
                                   (int)it_coap_opt_uint(
                                       r, IT_OPT_CONTENT_FORMAT, 0),
                                   &p),
                  0);
  it_problem_free(&p);
  CU_ASSERT_EQUAL(history_count("rid3"), 1);
  free(r);
}

static void test_bad_length_is_refused(void) {
  CU_ASSERT_TRUE_FATAL(server_up);
  static const uint8_t rid[17] = {1, 2, 3, 4, 5, 6, 7, 8, 9,
                                  10, 11, 12, 13, 14, 15, 16, 17};
  it_coap_msg_t *r = msg_new();
  CU_ASSERT_EQUAL(post("rid4", report("Pending"), rid, 7, r), 402);
  CU_ASSERT_TRUE(r->payload_len > 0); /* problem details */
  CU_ASSERT_EQUAL(post("rid4", report("Pending"), rid, 17, r), 402);
  CU_ASSERT_EQUAL(history_count("rid4"), 0);
  CU_ASSERT_EQUAL(post("rid4", report("Pending"), rid, 16, r), 201);
  CU_ASSERT_EQUAL(history_count("rid4"), 1);
  free(r);
}

/*
 * Repeats that arrive together with their first write, so that they meet
 * it in an open group commit: each answered with success, one entry stored.
 * A store whose commits complete later (PostgreSQL) answers a repeat whose
 * first write is in flight 5.03 request-pending: it is sent again, as a
 * client does, until the first write's outcome answers it.
 */
static void test_repeats_in_one_round_are_applied_once(void) {
  CU_ASSERT_TRUE_FATAL(server_up);
  it_coap_msg_t *r = msg_new();
  /* A known pair, so that its writes may join a group commit. */
  CU_ASSERT_EQUAL(post("rid5", report("Pending"), NULL, 0, r), 201);
  static const uint8_t rid[12] = "burst-report";
  it_udp_t u[N_BURST];
  uint8_t dgram[N_BURST][512];
  ssize_t len[N_BURST];
  for (int i = 0; i < N_BURST; i++) {
    CU_ASSERT_EQUAL_FATAL(it_udp_open(&u[i], srv.port), 0);
    CU_ASSERT_EQUAL_FATAL(it_udp_verify(&u[i]), 0);
    len[i] = build(&u[i], "rid5", report("Installed"), rid, sizeof(rid),
                   dgram[i], sizeof(dgram[i]));
    CU_ASSERT_FATAL(len[i] > 0);
  }
  for (int i = 0; i < N_BURST; i++)
    CU_ASSERT_EQUAL(it_udp_send(&u[i], dgram[i], (size_t)len[i]), 0);
  int ok = 0;
  for (int i = 0; i < N_BURST; i++) {
    /* The answer may be piggybacked or separate (after an empty ACK). */
    for (int tries = 0; tries < 24; tries++) {
      if (it_udp_recv_msg(&u[i], r, TIMEOUT_MS) < 0)
        break;
      if (r->type == IT_ACK && r->code == 0)
        continue; /* the empty ACK of a deferred answer */
      if (IT_CODE_INT(r->code) == 503) {
        it_sleep_ms(20);
        len[i] = build(&u[i], "rid5", report("Installed"), rid, sizeof(rid),
                       dgram[i], sizeof(dgram[i]));
        if (len[i] <= 0 || it_udp_send(&u[i], dgram[i], (size_t)len[i]) < 0)
          break;
        continue;
      }
      if (r->type == IT_CON) {
        it_coap_msg_t *a = msg_new();
        uint8_t buf[64];
        it_coap_init(a, IT_ACK, 0, r->mid, NULL, 0);
        ssize_t n = it_coap_encode(a, buf, sizeof(buf));
        if (n > 0)
          it_udp_send(&u[i], buf, (size_t)n);
        free(a);
      }
      ok += IT_CODE_INT(r->code) == 204;
      break;
    }
    it_udp_close(&u[i]);
  }
  CU_ASSERT_EQUAL(ok, N_BURST);
  CU_ASSERT_EQUAL(history_count("rid5"), 2);
  free(r);
}

static void test_message_post_repeat_is_applied_once(void) {
  CU_ASSERT_TRUE_FATAL(server_up);
  it_coap_msg_t *r = msg_new();
  static const char one[] = "{\"messageCode\":101,\"orderId\":\"RID-ONE\"}";
  static const char two[] = "{\"StatusMessages\":[{\"messageCode\":102,"
                            "\"orderId\":\"RID-TWO\"},{\"messageCode\":103,"
                            "\"orderId\":\"RID-TWO\"}]}";
  CU_ASSERT_EQUAL(post_to(MSGS, one, RID_A, sizeof(RID_A), r), 201);
  long long id1 = first_id_of(r);
  CU_ASSERT(id1 > 0);
  CU_ASSERT_EQUAL(post_to(MSGS, two, RID_B, sizeof(RID_B), r), 201);
  long long id2 = first_id_of(r);
  CU_ASSERT(id2 > id1);

  CU_ASSERT_EQUAL_FATAL(it_server_restart(&srv), 0);
  CU_ASSERT_EQUAL(post_to(MSGS, one, RID_A, sizeof(RID_A), r), 204);
  CU_ASSERT_EQUAL(first_id_of(r), id1);
  CU_ASSERT_EQUAL(it_coap_opt_count(r, IT_OPT_LOCATION_PATH), 4);
  CU_ASSERT_EQUAL(post_to(MSGS, two, RID_B, sizeof(RID_B), r), 204);
  CU_ASSERT_EQUAL(first_id_of(r), id2);
  CU_ASSERT_EQUAL(it_messages_count(srv.port, "RID-ONE", TIMEOUT_MS), 1);
  CU_ASSERT_EQUAL(it_messages_count(srv.port, "RID-TWO", TIMEOUT_MS), 2);

  /* Another body under a used id: refused, nothing stored. */
  CU_ASSERT_EQUAL(post_to(MSGS, two, RID_A, sizeof(RID_A), r), 409);
  CU_ASSERT_EQUAL(it_messages_count(srv.port, "RID-TWO", TIMEOUT_MS), 2);
  /* A wrong length: 4.02. */
  CU_ASSERT_EQUAL(post_to(MSGS, one, RID_A, 5, r), 402);
  /* No id, or a new one: stored. */
  CU_ASSERT_EQUAL(post_to(MSGS, one, NULL, 0, r), 201);
  CU_ASSERT_EQUAL(it_messages_count(srv.port, "RID-ONE", TIMEOUT_MS), 2);
  free(r);
}

/* edgecoap-client (on the device core) names its status writes and message
 * posts with a Request-Id of 12 random bytes: run against a stand-in
 * socket, which receives the request and answers 2.01.
 * @return true when the request carried one Request-Id of 12 bytes. */
static bool client_request_id(const char *what, const char *file) {
  it_udp_t fake;
  bool ok = false;
  if (it_udp_listen(&fake) < 0)
    return false;
  char url[64];
  snprintf(url, sizeof(url), "coap://127.0.0.1:%u", fake.port);
  const char *status[] = {EC_CLIENT_BIN, "--url", url, "--timeout", "5000",
                          "status", "report", "rid-cli", DEP, file, NULL};
  const char *post[] = {EC_CLIENT_BIN, "--url", url, "--timeout", "5000",
                        "messages", "post", file, NULL};
  it_proc_t *p;
  if (it_proc_spawn(strcmp(what, "status") == 0 ? status : post, NULL, 0,
                    &p) < 0) {
    it_udp_close(&fake);
    return false;
  }
  it_coap_msg_t *req = msg_new(), *ans = msg_new();
  if (it_udp_recv_msg(&fake, req, TIMEOUT_MS) == 0) {
    size_t len = 0;
    const uint8_t *v = it_coap_opt(req, OPT_REQUEST_ID, 0, &len);
    ok = req->code == IT_POST && v != NULL && len == 12 &&
         it_coap_opt_count(req, OPT_REQUEST_ID) == 1;
    it_coap_init(ans, IT_ACK, IT_CODE(2, 1), req->mid, req->token,
                 req->token_len);
    uint8_t dgram[IT_COAP_MAX_DGRAM];
    ssize_t n = it_coap_encode(ans, dgram, sizeof(dgram));
    if (n > 0)
      (void)it_udp_send(&fake, dgram, (size_t)n);
  }
  it_result_t r;
  (void)it_proc_finish(p, TIMEOUT_MS, &r);
  it_result_free(&r);
  free(req);
  free(ans);
  it_udp_close(&fake);
  return ok;
}

static void test_client_sends_request_id(void) {
  char file[320];
  snprintf(file, sizeof(file), "%s/rid-report.json", srv.dir);
  const char *doc = report("Installing");
  CU_ASSERT_EQUAL_FATAL(it_write_file(file, doc, strlen(doc)), 0);
  CU_ASSERT_TRUE(client_request_id("status", file));
  static const char msg[] = "{\"messageCode\":101,\"orderId\":\"RID-CLI\"}";
  snprintf(file, sizeof(file), "%s/rid-message.json", srv.dir);
  CU_ASSERT_EQUAL_FATAL(it_write_file(file, msg, strlen(msg)), 0);
  CU_ASSERT_TRUE(client_request_id("post", file));
}

/* ------------------------------------------------------------------------ */
/* Set-up                                                                    */

static int suite_init(void) {
  it_init();
  server_up = it_server_start(&srv, NULL) == 0;
  return server_up ? 0 : -1;
}

static const ec_test_t tests[] = {
    {test_repeat_after_restart_is_applied_once,
     "repeat_after_restart_is_applied_once"},
    {test_same_id_other_report_conflicts, "same_id_other_report_conflicts"},
    {test_bad_length_is_refused, "bad_length_is_refused"},
    {test_repeats_in_one_round_are_applied_once,
     "repeats_in_one_round_are_applied_once"},
    {test_message_post_repeat_is_applied_once,
     "message_post_repeat_is_applied_once"},
    {test_client_sends_request_id, "client_sends_request_id"},
};

int main(void) {
  static const ec_test_after_t after = {it_after_run, &srv, "it_reqid"};
  return ec_test_main("reqid", tests, EC_TEST_COUNT(tests), suite_init, NULL,
                      &after);
}
