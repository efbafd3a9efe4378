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
  if (it_server_start(&srv, NULL) < 0)
    return -1;
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
    {test_server_stops_cleanly, "server_stops_cleanly"},
};

int main(void) {
  static const ec_test_after_t after = {it_after_run, &srv, "it_protocol"};
  return ec_test_main("protocol", tests, EC_TEST_COUNT(tests), suite_init,
                      suite_cleanup, &after);
}
