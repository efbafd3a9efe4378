/* edgecoap: protocol corner cases (RFC 7252, 7959, 7641, 9290) against the real server. */
/* SPDX-License-Identifier: Apache-2.0 */
#define _GNU_SOURCE /* memmem */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <jansson.h>

#include "edgecoap/provisioning.h"
#include "it_prov_util.h"
#include "itest.h"
#include "suite.h"

/*
 * Raw datagrams, so that every option and Message ID on the wire is the
 * test's to choose and to check. One server serves the suite; each test
 * uses its own deployments.
 */

#define DEV "proto1"
#define DEP_BLOCKS "b10cb10c-0000-4000-8000-000000000001"
#define DEP_BIG "b10cb10c-0000-4000-8000-000000000002"
#define DEP_UP "b10cb10c-0000-4000-8000-000000000003"
#define DEP_DEL "b10cb10c-0000-4000-8000-000000000004"
#define DEP_BIG_DGRAM "b10cb10c-0000-4000-8000-000000000005"
#define DEP_RST "b10cb10c-0000-4000-8000-000000000006"
#define DEP_OBS "b10cb10c-0000-4000-8000-000000000007"
#define DEP_CON "b10cb10c-0000-4000-8000-000000000008"

#define RAW_TIMEOUT_MS 5000

static it_server_t srv;
static it_udp_t udp;

static it_coap_msg_t *msg_new(void) {
  it_coap_msg_t *m = calloc(1, sizeof(*m));
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  return m;
}

static char *status_path(char *out, size_t cap, const char *dep) {
  snprintf(out, cap, "device/" DEV "/deployment/%s/status", dep);
  return out;
}

/* A report of @p n_comp components, each with a message of @p msg_len. */
static char *report(const char *dep, const char *state, int n_comp,
                    int msg_len) {
  json_t *comps = json_array();
  char *msg = calloc(1, (size_t)msg_len + 1);
  CU_ASSERT_PTR_NOT_NULL_FATAL(msg);
  for (int i = 0; i < n_comp; i++) {
    for (int k = 0; k < msg_len; k++)
      msg[k] = (char)('a' + (i + k) % 26);
    char name[16];
    snprintf(name, sizeof(name), "c%d", i);
    json_array_append_new(
        comps, json_pack("{s:s, s:s, s:{s:s, s:s}}", "name", name, "state",
                         state, "error", "code", "E1", "message", msg));
  }
  free(msg);
  json_t *doc = json_pack("{s:s, s:s, s:s, s:{s:s}, s:o}", "apiVersion",
                          "deployment.margo/v1", "kind", "DeploymentStatus",
                          "deploymentId", dep, "status", "state", state,
                          "components", comps);
  char *s = json_dumps(doc, JSON_COMPACT);
  json_decref(doc);
  CU_ASSERT_PTR_NOT_NULL_FATAL(s);
  return s;
}

/* Store @p json with a Block1 upload; the final answer's code. */
static int upload(const char *dep, const char *json, it_coap_msg_t *resp) {
  char path[160];
  int sent = 0;
  if (it_coap_put_blockwise(&udp, IT_POST, status_path(path, sizeof(path), dep),
                            50, (const uint8_t *)json, strlen(json), 1024,
                            false, resp, &sent, 10000) < 0)
    return -1;
  return IT_CODE_INT(resp->code);
}

/* One raw CON request with @p code (any code, even an unassigned one). */
static int raw_code(uint8_t code, const char *path, it_coap_msg_t *resp) {
  it_coap_msg_t *req = msg_new();
  uint8_t tok[4];
  it_udp_token(&udp, tok);
  it_coap_init(req, IT_CON, code, it_udp_mid(&udp), tok, sizeof(tok));
  it_coap_add_path(req, path);
  int rc = it_coap_exchange(&udp, req, resp, RAW_TIMEOUT_MS);
  free(req);
  return rc < 0 ? -1 : IT_CODE_INT(resp->code);
}

/* ------------------------------------------------------------------------ */
/* Methods (RFC 7252 section 5.8)                                            */

static void test_delete_is_not_allowed(void) {
  it_coap_msg_t *resp = msg_new();
  char path[160], *j = report(DEP_DEL, "Installed", 1, 8);
  CU_ASSERT_EQUAL(upload(DEP_DEL, j, resp), 201);
  status_path(path, sizeof(path), DEP_DEL);
  /* libcoap 4.3.1 answered 2.02 Deleted on every path and deleted nothing. */
  CU_ASSERT_EQUAL(raw_code(IT_DELETE, path, resp), 405);
  char hist[200];
  snprintf(hist, sizeof(hist), "%s/history", path);
  CU_ASSERT_EQUAL(raw_code(IT_DELETE, hist, resp), 405);
  CU_ASSERT_EQUAL(raw_code(IT_DELETE, "device/" DEV "/deployments", resp), 405);
  CU_ASSERT_EQUAL(raw_code(IT_DELETE, "api/2.3/statusmessages/1", resp), 405);
  CU_ASSERT_EQUAL(raw_code(IT_DELETE, "api/2.3/statusmessages", resp), 405);
  CU_ASSERT_EQUAL(raw_code(IT_DELETE, "v1/Login", resp), 405);
  /* A device or message route with no resource yet: still no DELETE. */
  CU_ASSERT_EQUAL(
      raw_code(IT_DELETE, "device/nobody/deployment/" DEP_DEL "/status", resp),
      405);
  /* PATCH and iPATCH (RFC 8132) are offered nowhere either. */
  CU_ASSERT_EQUAL(raw_code(IT_CODE(0, 6), path, resp), 405);
  CU_ASSERT_EQUAL(raw_code(IT_CODE(0, 7), "device/x/deployments", resp), 405);
  /* A path nobody serves is not found, whatever the method. */
  CU_ASSERT_EQUAL(raw_code(IT_DELETE, "no/such/thing", resp), 404);
  /* And the status is still there. */
  CU_ASSERT_EQUAL(raw_code(IT_GET, path, resp), 205);
  free(j);
  free(resp);
}

/* ------------------------------------------------------------------------ */
/* Block-wise (RFC 7959)                                                     */

/* GET block @p num of @p size of @p path; the answer's code. */
static int get_block(const char *path, uint32_t num, unsigned size,
                     it_coap_msg_t *resp) {
  it_coap_msg_t *req = msg_new();
  uint8_t tok[4];
  it_udp_token(&udp, tok);
  it_coap_init(req, IT_CON, IT_GET, it_udp_mid(&udp), tok, sizeof(tok));
  it_coap_add_path(req, path);
  it_coap_add_uint(req, IT_OPT_ACCEPT, 50);
  it_coap_add_block(req, IT_OPT_BLOCK2, num, false, size);
  int rc = it_coap_exchange(&udp, req, resp, RAW_TIMEOUT_MS);
  free(req);
  return rc < 0 ? -1 : IT_CODE_INT(resp->code);
}

static void check_past_end(const char *dep, size_t want_len) {
  it_coap_msg_t *resp = msg_new();
  char path[160];
  status_path(path, sizeof(path), dep);
  char *j = report(dep, "Installing", (int)(want_len / 120), 100);
  CU_ASSERT_EQUAL_FATAL(upload(dep, j, resp), 201);
  size_t len = strlen(j);
  uint32_t last = (uint32_t)((len - 1) / 1024);
  /* The last block is there, the one after it is not. */
  CU_ASSERT_EQUAL(get_block(path, last, 1024, resp), 205);
  it_block_t b;
  CU_ASSERT_TRUE(it_coap_block(resp, IT_OPT_BLOCK2, &b) == 0 && !b.more &&
                 b.num == last);
  for (uint32_t num = last + 1; num < last + 40; num += 19) {
    CU_ASSERT_EQUAL(get_block(path, num, 1024, resp), 402);
    size_t n;
    int cf = it_coap_opt(resp, IT_OPT_CONTENT_FORMAT, 0, &n)
                 ? (int)it_coap_opt_uint(resp, IT_OPT_CONTENT_FORMAT, 0)
                 : -1;
    it_problem_t p;
    CU_ASSERT_EQUAL_FATAL(
        it_problem_parse(resp->payload, resp->payload_len, cf, &p), 0);
    CU_ASSERT_STRING_EQUAL(p.title, "invalid-block");
    CU_ASSERT_PTR_NOT_NULL(p.detail && strstr(p.detail, "past the end"));
    it_problem_free(&p);
  }
  /* Small blocks too: block 4 of 16 bytes of a 5 KB body is there. */
  CU_ASSERT_EQUAL(get_block(path, 4, 16, resp), 205);
  CU_ASSERT_EQUAL(get_block(path, (uint32_t)(len / 16) + 1, 16, resp), 402);
  CU_ASSERT_TRUE(it_server_alive(&srv, 2000));
  free(j);
  free(resp);
}

static void test_block2_past_the_end_is_402(void) {
  check_past_end(DEP_BLOCKS, 5000);  /* served block by block by the server */
  check_past_end(DEP_BIG, 20000);    /* over 8 KiB: libcoap's own Block2 */
}

static void test_final_block1_answer_carries_block1(void) {
  it_coap_msg_t *resp = msg_new();
  char *j = report(DEP_UP, "Pending", 30, 80);
  size_t len = strlen(j);
  CU_ASSERT_TRUE_FATAL(len > 2048);
  uint32_t last = (uint32_t)((len - 1) / 1024);
  for (int round = 0; round < 2; round++) { /* 2.01, then 2.04 */
    CU_ASSERT_EQUAL(upload(DEP_UP, j, resp), round == 0 ? 201 : 204);
    it_block_t b;
    CU_ASSERT_EQUAL(it_coap_block(resp, IT_OPT_BLOCK1, &b), 0);
    CU_ASSERT_EQUAL(b.num, last);
    CU_ASSERT_FALSE(b.more);
    CU_ASSERT_EQUAL(b.size, 1024);
  }
  free(j);
  free(resp);
}

/* ------------------------------------------------------------------------ */
/* Problem details (RFC 9290)                                                */

static void test_concise_problem_field_key(void) {
  it_coap_msg_t *resp = msg_new();
  it_coap_msg_t *req = msg_new();
  uint8_t tok[4];
  static const char bad[] =
      "{\"apiVersion\":\"v1\",\"kind\":\"DeploymentStatus\",\"deploymentId\":"
      "\"" DEP_DEL "\",\"status\":{\"state\":\"Sleeping\"},\"components\":[]}";
  char path[160];
  it_udp_token(&udp, tok);
  it_coap_init(req, IT_CON, IT_POST, it_udp_mid(&udp), tok, sizeof(tok));
  it_coap_add_path(req, status_path(path, sizeof(path), DEP_DEL));
  it_coap_add_uint(req, IT_OPT_CONTENT_FORMAT, 50);
  it_coap_add_uint(req, IT_OPT_ACCEPT, 60);
  it_coap_set_payload(req, bad, strlen(bad));
  CU_ASSERT_EQUAL_FATAL(it_coap_exchange(&udp, req, resp, RAW_TIMEOUT_MS), 0);
  CU_ASSERT_EQUAL(IT_CODE_INT(resp->code), 422);
  CU_ASSERT_EQUAL(it_coap_opt_uint(resp, IT_OPT_CONTENT_FORMAT, 0), 257);
  /* RFC 9290's CDDL: every key an integer (none of them text). */
  static const uint8_t field_key[] = {0x38, 0xFF}; /* -256 */
  static const uint8_t text_key[] = {0x65, 'f', 'i', 'e', 'l', 'd'};
  CU_ASSERT_PTR_NOT_NULL(memmem(resp->payload, resp->payload_len, field_key,
                                sizeof(field_key)));
  CU_ASSERT_PTR_NULL(memmem(resp->payload, resp->payload_len, text_key,
                            sizeof(text_key)));
  it_problem_t p;
  CU_ASSERT_EQUAL_FATAL(
      it_problem_parse(resp->payload, resp->payload_len, 257, &p), 0);
  CU_ASSERT_STRING_EQUAL(p.field ? p.field : "", "status.state");
  it_problem_free(&p);
  free(req);
  free(resp);
}

/* ------------------------------------------------------------------------ */
/* Observe of a representation larger than one block (RFC 7641, 7959 3.4)   */

static void test_coap_client_observes_large_status(void) {
  static const char *const states[] = {"Pending", "Installing", "Installed",
                                       "Failed", "Removing", "Removed"};
  it_coap_msg_t *resp = msg_new();
  char *j = report(DEP_OBS, states[0], 40, 100);
  CU_ASSERT_TRUE_FATAL(strlen(j) > 4096);
  CU_ASSERT_EQUAL_FATAL(upload(DEP_OBS, j, resp), 201);
  free(j);
  char path[160], url[256];
  snprintf(url, sizeof(url), "%s/%s", srv.url,
           status_path(path, sizeof(path), DEP_OBS));
  const char *argv[] = {COAP_CLIENT_BIN, "-s", "30", "-A", "50", url, NULL};
  it_proc_t *p;
  CU_ASSERT_EQUAL_FATAL(it_proc_spawn(argv, NULL, 0, &p), 0);
  char needle[64];
  for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
    if (i > 0) {
      j = report(DEP_OBS, states[i], 40, 100);
      CU_ASSERT_EQUAL(upload(DEP_OBS, j, resp), 204);
      free(j);
    }
    /* The last component is in the last block: the whole notification
     * came before the next change is made. */
    snprintf(needle, sizeof(needle), "\"status\":{\"state\":\"%s\"}",
             states[i]);
    int seen = it_proc_wait_for(p, needle, 10000);
    if (!seen)
      fprintf(stderr, "\ncoap-client did not see %s; it printed %zu bytes, "
              "ending %s\n", states[i], strlen(it_proc_stdout(p)),
              strlen(it_proc_stdout(p)) > 300
                  ? it_proc_stdout(p) + strlen(it_proc_stdout(p)) - 300
                  : it_proc_stdout(p));
    CU_ASSERT_TRUE(seen);
  }
  /* Changes faster than the observer fetches blocks: it may skip some
   * (RFC 7641 promises the newest state, eventually), and must end on the
   * last one. */
  static const char *const burst[] = {"Installing", "Failed", "Installed"};
  for (size_t i = 0; i < 3; i++) {
    j = report(DEP_OBS, burst[i], 40, 100);
    CU_ASSERT_EQUAL(upload(DEP_OBS, j, resp), 204);
    free(j);
  }
  static const char key[] = "\"status\":{\"state\":\"";
  const size_t kl = sizeof(key) - 1;
  uint64_t end = it_now_ms() + 10000;
  const char *tail = NULL;
  while (it_now_ms() < end) {
    it_proc_wait_for(p, "\x01", 200); /* collects output for 200 ms */
    const char *out = it_proc_stdout(p);
    const char *last = NULL;
    for (const char *q = out; (q = strstr(q, key)) != NULL; q++)
      last = q;
    tail = last;
    if (last != NULL && strncmp(last + kl, "Installed\"", 10) == 0 &&
        strlen(last) > 4000 && strstr(last, "\"name\":\"c39\"") != NULL)
      break;
  }
  CU_ASSERT_TRUE(tail != NULL && strncmp(tail + kl, "Installed\"", 10) == 0 &&
                 strstr(tail, "\"name\":\"c39\"") != NULL);
  it_result_t r;
  it_proc_stop(p, 5000, &r);
  it_result_free(&r);
  free(resp);
}

/* ------------------------------------------------------------------------ */
/* Datagrams libcoap cannot parse (RFC 7252 sections 3 and 4)                */

/* A CON (or NON) POST of a report whose datagram is exactly @p size bytes. */
static ssize_t report_dgram(int type, size_t size, uint16_t mid, uint8_t *out,
                            size_t cap) {
  it_coap_msg_t *m = msg_new();
  char path[160];
  char *body = calloc(1, size + 1);
  CU_ASSERT_PTR_NOT_NULL_FATAL(body);
  char *j = report(DEP_BIG_DGRAM, "Installed", 1, 8);
  static const uint8_t tok[4] = {0xb1, 0x9d, 0x67, 0x01};
  ssize_t n = -1;
  for (size_t pad = 0; pad < size; pad++) {
    /* Trailing blanks keep the JSON valid and fill the datagram. */
    snprintf(body, size + 1, "%s%*s", j, (int)pad, "");
    it_coap_init(m, type, IT_POST, mid, tok, sizeof(tok));
    it_coap_add_path(m, status_path(path, sizeof(path), DEP_BIG_DGRAM));
    it_coap_add_uint(m, IT_OPT_CONTENT_FORMAT, 50);
    it_coap_set_payload(m, body, strlen(body));
    n = it_coap_encode(m, out, cap);
    if (n < 0 || (size_t)n >= size)
      break;
  }
  free(j);
  free(body);
  free(m);
  return n;
}

/* Send @p len bytes raw; the next datagram within @p ms, parsed, or -1. */
static int send_raw(const uint8_t *d, size_t len, it_coap_msg_t *resp,
                    unsigned ms) {
  if (it_udp_send(&udp, d, len) < 0)
    return -1;
  return it_udp_recv_msg(&udp, resp, ms);
}

static void test_datagram_sizes(void) {
  it_coap_msg_t *resp = msg_new();
  uint8_t d[1400];
  /* 1152 bytes (RFC 7252's limit) are served. */
  ssize_t n = report_dgram(IT_CON, 1152, 0x4152, d, sizeof(d));
  CU_ASSERT_EQUAL_FATAL(n, 1152);
  CU_ASSERT_EQUAL_FATAL(send_raw(d, (size_t)n, resp, RAW_TIMEOUT_MS), 0);
  CU_ASSERT_EQUAL(resp->mid, 0x4152);
  CU_ASSERT_EQUAL(IT_CODE_INT(resp->code), 201);
  /* One byte more (libcoap parsed up to 1156) and well past (libcoap's
   * RST with Message ID 0): 4.13 on the request's own Message ID, telling
   * the client to send the body block-wise. */
  static const size_t over[] = {1153, 1156, 1157, 1163, 1300};
  for (size_t i = 0; i < sizeof(over) / sizeof(over[0]); i++) {
    uint16_t mid = (uint16_t)(0x4153 + i);
    n = report_dgram(IT_CON, over[i], mid, d, sizeof(d));
    CU_ASSERT_EQUAL_FATAL(n, (ssize_t)over[i]);
    CU_ASSERT_EQUAL_FATAL(send_raw(d, (size_t)n, resp, RAW_TIMEOUT_MS), 0);
    CU_ASSERT_EQUAL(resp->type, IT_ACK);
    CU_ASSERT_EQUAL(resp->mid, mid);
    CU_ASSERT_EQUAL(IT_CODE_INT(resp->code), 413);
    CU_ASSERT_TRUE(resp->token_len == 4 && memcmp(resp->token, d + 4, 4) == 0);
    CU_ASSERT_EQUAL(it_coap_opt_uint(resp, IT_OPT_SIZE1, 0), 65536);
    it_block_t b;
    CU_ASSERT_TRUE(it_coap_block(resp, IT_OPT_BLOCK1, &b) == 0 && b.num == 0 &&
                   b.size == 1024);
  }
  /* A NON one gets an RST with its own Message ID. */
  n = report_dgram(IT_NON, 1200, 0x4160, d, sizeof(d));
  CU_ASSERT_EQUAL_FATAL(send_raw(d, (size_t)n, resp, RAW_TIMEOUT_MS), 0);
  CU_ASSERT_EQUAL(resp->type, IT_RST);
  CU_ASSERT_EQUAL(resp->mid, 0x4160);
  /* Nothing of the oversized reports was stored: still the 1152-byte one's
   * state, and the server serves on. */
  char path[160];
  CU_ASSERT_EQUAL(raw_code(IT_GET, status_path(path, sizeof(path),
                                               DEP_BIG_DGRAM), resp), 205);
  free(resp);
}

static void test_unknown_version_is_ignored(void) {
  it_coap_msg_t *resp = msg_new();
  uint8_t d[64];
  it_coap_msg_t *m = msg_new();
  static const uint8_t tok[2] = {1, 2};
  for (unsigned v = 0; v < 4; v += v == 0 ? 2 : 1) { /* versions 0, 2, 3 */
    it_coap_init(m, IT_CON, IT_GET, (uint16_t)(0x5100 + v), tok, sizeof(tok));
    it_coap_add_path(m, ".well-known/core");
    ssize_t n = it_coap_encode(m, d, sizeof(d));
    CU_ASSERT_FATAL(n > 4);
    d[0] = (uint8_t)((d[0] & 0x3f) | v << 6);
    /* RFC 7252 section 3: silently ignored; libcoap sent an RST, MID 0. */
    CU_ASSERT_EQUAL(send_raw(d, (size_t)n, resp, 700), -1);
  }
  CU_ASSERT_EQUAL(raw_code(IT_GET, ".well-known/core", resp), 205);
  free(m);
  free(resp);
}

static void test_unknown_method_code_is_405(void) {
  it_coap_msg_t *resp = msg_new();
  /* 0.08 to 0.31 are no methods (RFC 7252 section 12.1.1): 4.05 on every
   * path, where libcoap said 4.04 for paths without a resource. */
  static const char *const paths[] = {"device/x/deployments", "no/such/thing",
                                      "api/2.3/statusmessages", "v1/Login"};
  for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
    CU_ASSERT_EQUAL(raw_code(IT_CODE(0, 8), paths[i], resp), 405);
    CU_ASSERT_EQUAL(raw_code(IT_CODE(0, 31), paths[i], resp), 405);
  }
  /* A NON gets a NON 4.05 with its token. */
  it_coap_msg_t *m = msg_new();
  static const uint8_t tok[3] = {7, 7, 7};
  uint8_t d[64];
  it_coap_init(m, IT_NON, IT_CODE(0, 9), 0x5200, tok, sizeof(tok));
  it_coap_add_path(m, "no/such/thing");
  ssize_t n = it_coap_encode(m, d, sizeof(d));
  CU_ASSERT_EQUAL_FATAL(send_raw(d, (size_t)n, resp, RAW_TIMEOUT_MS), 0);
  CU_ASSERT_EQUAL(resp->type, IT_NON);
  CU_ASSERT_EQUAL(IT_CODE_INT(resp->code), 405);
  CU_ASSERT_TRUE(resp->token_len == 3 && memcmp(resp->token, tok, 3) == 0);
  free(m);
  free(resp);
}

/* ------------------------------------------------------------------------ */
/* An RST to a NON notification ends the observation (RFC 7641 3.6)          */

/* The next notification on @p u within @p ms (CONs acknowledged). */
static bool next_notification(it_udp_t *u, it_coap_msg_t *n, unsigned ms) {
  uint64_t end = it_now_ms() + ms;
  while (it_now_ms() < end) {
    if (it_udp_recv_msg(u, n, (unsigned)(end - it_now_ms())) < 0)
      return false;
    if (n->type == IT_CON) {
      uint8_t ack[4] = {0x60, 0, (uint8_t)(n->mid >> 8), (uint8_t)n->mid};
      it_udp_send(u, ack, sizeof(ack));
    }
    if (n->code == IT_CODE(2, 5) &&
        it_coap_opt(n, IT_OPT_OBSERVE, 0, &(size_t){0}) != NULL)
      return true;
  }
  return false;
}

/*
 * Observe @p path on a socket of its own (option 65000 @p tok unless
 * NULL), make one change with @p change, refuse the NON notification with
 * an RST, make another change, and expect no further notification.
 */
static void check_rst_ends(const char *what, const char *path, const char *tok,
                           void (*change)(int round)) {
  it_udp_t obs = {.fd = -1};
  it_coap_msg_t *resp = msg_new();
  CU_ASSERT_EQUAL_FATAL(it_udp_open(&obs, srv.port), 0);
  CU_ASSERT_EQUAL_FATAL(itp_raw_req(&obs, IT_GET, path, -1, tok, false, NULL,
                                    0, resp),
                        0);
  CU_ASSERT_EQUAL(IT_CODE_INT(resp->code), 205);
  CU_ASSERT_PTR_NOT_NULL(it_coap_opt(resp, IT_OPT_OBSERVE, 0, &(size_t){0}));
  change(1);
  bool got = next_notification(&obs, resp, RAW_TIMEOUT_MS);
  CU_ASSERT_TRUE(got);
  if (got) {
    CU_ASSERT_EQUAL(resp->type, IT_NON);
    uint8_t rst[4] = {0x70, 0, (uint8_t)(resp->mid >> 8), (uint8_t)resp->mid};
    it_udp_send(&obs, rst, sizeof(rst));
    it_sleep_ms(200);
    for (int round = 2; round <= 4; round++)
      change(round);
    got = next_notification(&obs, resp, 1500);
    if (got)
      fprintf(stderr, "\n%s: a notification came after the RST\n", what);
    CU_ASSERT_FALSE(got);
  }
  it_udp_close(&obs);
  free(resp);
}

static void change_status(int round) {
  static const char *const states[] = {"Pending", "Installing", "Installed",
                                       "Failed", "Removing"};
  it_coap_msg_t *resp = msg_new();
  char *j = report(DEP_RST, states[round % 5], 1, 8);
  CU_ASSERT_EQUAL(upload(DEP_RST, j, resp) / 100, 2);
  free(j);
  free(resp);
}

static void change_messages(int round) {
  char body[128];
  it_coap_msg_t *resp = msg_new();
  snprintf(body, sizeof(body),
           "{\"messageCode\":\"10%d\",\"orderId\":\"O-RST\"}", round);
  CU_ASSERT_EQUAL(itp_raw_req(&udp, IT_POST, "api/2.3/statusmessages", 50,
                              NULL, false, body, -1, resp),
                  0);
  CU_ASSERT_EQUAL(IT_CODE_INT(resp->code), 201);
  free(resp);
}

static char admin_tok[EC_PROV_TOKEN_HEX + 1];

static void change_provisioning(int round) {
  char body[200];
  it_coap_msg_t *resp = msg_new();
  snprintf(body, sizeof(body),
           "{\"action\":\"insert\",\"provisioning_id\":11,\"component_type\":"
           "\"Sensor\",\"component_id\":[1],\"active_status\":%d}",
           round % 2);
  CU_ASSERT_EQUAL(itp_raw_req(&udp, IT_POST, "v1/DeviceProvisioningComponents",
                              50, admin_tok, false, body, -1, resp),
                  0);
  CU_ASSERT_EQUAL(IT_CODE_INT(resp->code), 201);
  free(resp);
}

static void test_rst_to_non_notification_ends_observation(void) {
  char path[160];
  change_status(0);
  check_rst_ends("status", status_path(path, sizeof(path), DEP_RST), NULL,
                 change_status);
  check_rst_ends("statusmessages/latest",
                 "api/2.3/statusmessages/latest?orderId=O-RST", NULL,
                 change_messages);
  CU_ASSERT_EQUAL_FATAL(
      itp_login_raw(&udp, "admin", ITP_ADMIN_PW, admin_tok, NULL), 201);
  check_rst_ends("provisioning",
                 "v1/DeviceProvisioningComponents?provisioning_id=11",
                 admin_tok, change_provisioning);
}

/* ------------------------------------------------------------------------ */
/* A newer notification replaces a stale confirmable one (RFC 7641 4.5.2)    */

static char *state_of(const it_coap_msg_t *m, char *out, size_t cap) {
  json_t *j = json_loadb((const char *)m->payload, m->payload_len, 0, NULL);
  const char *st = json_string_value(
      json_object_get(json_object_get(j, "status"), "state"));
  snprintf(out, cap, "%s", st ? st : "?");
  json_decref(j);
  return out;
}

static void test_stale_con_notification_is_replaced(void) {
  static const char *const states[] = {"Pending",  "Installing", "Installed",
                                       "Failed",   "Removing",   "Removed",
                                       "Installing"};
  it_udp_t obs = {.fd = -1};
  it_coap_msg_t *resp = msg_new(), *n = msg_new();
  char path[160], st[32];
  status_path(path, sizeof(path), DEP_CON);
  char *j = report(DEP_CON, states[0], 1, 8);
  CU_ASSERT_EQUAL_FATAL(upload(DEP_CON, j, resp), 201);
  free(j);
  CU_ASSERT_EQUAL_FATAL(it_udp_open(&obs, srv.port), 0);
  CU_ASSERT_EQUAL_FATAL(
      itp_raw_req(&obs, IT_GET, path, -1, NULL, false, NULL, 0, resp), 0);
  CU_ASSERT_EQUAL(IT_CODE_INT(resp->code), 205);
  /* Four NON notifications, then the fifth is a CON: left unacknowledged. */
  int i = 1;
  bool con = false;
  for (; i <= 5 && !con; i++) {
    j = report(DEP_CON, states[i], 1, 8);
    CU_ASSERT_EQUAL(upload(DEP_CON, j, resp), 204);
    free(j);
    CU_ASSERT_FATAL(it_udp_recv_msg(&obs, n, RAW_TIMEOUT_MS) == 0);
    con = n->type == IT_CON;
  }
  CU_ASSERT_TRUE_FATAL(con);
  uint16_t stale = n->mid;
  /* A newer state before the observer acknowledged: it goes out as a CON
   * of its own, and the stale one is never sent again. */
  j = report(DEP_CON, states[i], 1, 8);
  CU_ASSERT_EQUAL(upload(DEP_CON, j, resp), 204);
  free(j);
  CU_ASSERT_FATAL(it_udp_recv_msg(&obs, n, RAW_TIMEOUT_MS) == 0);
  CU_ASSERT_EQUAL(n->type, IT_CON);
  CU_ASSERT_NOT_EQUAL(n->mid, stale);
  CU_ASSERT_STRING_EQUAL(state_of(n, st, sizeof(st)), states[i]);
  uint16_t newest = n->mid;
  /* Retransmissions (2 to 3 s, then twice that) carry the newest only. */
  int stale_again = 0, newest_again = 0;
  uint64_t end = it_now_ms() + 7000;
  while (it_now_ms() < end && newest_again == 0) {
    if (it_udp_recv_msg(&obs, n, (unsigned)(end - it_now_ms())) < 0)
      break;
    if (n->mid == stale)
      stale_again++;
    else if (n->mid == newest && n->type == IT_CON &&
             strcmp(state_of(n, st, sizeof(st)), states[i]) == 0)
      newest_again++;
  }
  CU_ASSERT_EQUAL(stale_again, 0);
  CU_ASSERT_EQUAL(newest_again, 1);
  /* Acknowledged: nothing more comes, and the observation goes on. */
  uint8_t ack[4] = {0x60, 0, (uint8_t)(newest >> 8), (uint8_t)newest};
  it_udp_send(&obs, ack, sizeof(ack));
  CU_ASSERT_EQUAL(it_udp_recv_msg(&obs, n, 3000), -1);
  j = report(DEP_CON, "Removed", 1, 8);
  CU_ASSERT_EQUAL(upload(DEP_CON, j, resp), 204);
  free(j);
  CU_ASSERT_FATAL(it_udp_recv_msg(&obs, n, RAW_TIMEOUT_MS) == 0);
  CU_ASSERT_EQUAL(n->type, IT_NON);
  CU_ASSERT_STRING_EQUAL(state_of(n, st, sizeof(st)), "Removed");
  it_udp_close(&obs);
  free(n);
  free(resp);
}

static void test_server_stops_cleanly(void) {
  CU_ASSERT_TRUE(it_server_alive(&srv, 3000));
  CU_ASSERT_EQUAL(it_server_stop(&srv), 0);
  int errors = it_server_log_count(&srv, "[ERROR]");
  if (errors != 0)
    it_server_log_tail(&srv, 40);
  CU_ASSERT_EQUAL(errors, 0);
}

static int suite_init(void) {
  it_init();
  udp.fd = -1;
  if (itp_start_server(&srv, NULL) < 0)
    return -1;
  itp_use_server(&srv);
  return it_udp_open(&udp, srv.port);
}

static int suite_cleanup(void) {
  it_udp_close(&udp);
  return 0;
}

static const ec_test_t tests[] = {
    {test_delete_is_not_allowed, "delete_is_not_allowed"},
    {test_block2_past_the_end_is_402, "block2_past_the_end_is_402"},
    {test_final_block1_answer_carries_block1,
     "final_block1_answer_carries_block1"},
    {test_concise_problem_field_key, "concise_problem_field_key"},
    {test_coap_client_observes_large_status,
     "coap_client_observes_large_status"},
    {test_datagram_sizes, "datagram_sizes"},
    {test_unknown_version_is_ignored, "unknown_version_is_ignored"},
    {test_unknown_method_code_is_405, "unknown_method_code_is_405"},
    {test_rst_to_non_notification_ends_observation,
     "rst_to_non_notification_ends_observation"},
    {test_stale_con_notification_is_replaced,
     "stale_con_notification_is_replaced"},
    {test_server_stops_cleanly, "server_stops_cleanly"},
};

int main(void) {
  static const ec_test_after_t after = {it_after_run, &srv, "it_protocol"};
  return ec_test_main("protocol", tests, EC_TEST_COUNT(tests), suite_init,
                      suite_cleanup, &after);
}
