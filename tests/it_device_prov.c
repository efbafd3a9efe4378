/* edgecoap: the device core reads and observes its provisioning from the real server, with the token of a login. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <jansson.h>

#include "edgecoap/device_posix.h"
#include "it_prov_util.h"
#include "suite.h"

/*
 * The core over its POSIX port asks for provisioning 11 (the catalog's
 * device account owns it) with the token a login gave; what it decodes is
 * compared with the same list read through the client library. The plain
 * CoAP server verifies the device's address with an Echo challenge before
 * it answers large bodies or observes, so the reads go through that too.
 */

#define WAIT_MS 20000

static it_server_t srv;
static it_udp_t udp;
static ec_client_t *lib;
static char admin_tok[EC_PROV_TOKEN_HEX + 1];
static char device_tok[EC_PROV_TOKEN_HEX + 1];
static uint8_t device_raw[EC_PROV_TOKEN_BYTES];

/* One device: the port, the core, its buffers and what came back. */
typedef struct {
  ec_dev_udp_t port;
  ec_dev_t dev;
  uint8_t rx[1280];
  uint8_t req[256];
  uint8_t body[16384];
  int answers;
  uint8_t code;
  int result;
  bool observing;
  int rc;                  /* of ec_dev_prov_decode() on the last answer */
  size_t n;                /* its rows */
  ec_dev_prov_row_t rows[16];
  char names[16][64];
  char dates[16][20];
} device_t;

static int keep_row(void *ctx, size_t idx, const ec_dev_prov_row_t *row) {
  device_t *t = ctx;
  if (idx >= 16 || row->name.len >= 64 || row->last_modified.len != 19) {
    return -1;
  }
  t->rows[idx] = *row;
  memcpy(t->names[idx], row->name.ptr, row->name.len);
  t->names[idx][row->name.len] = '\0';
  memcpy(t->dates[idx], row->last_modified.ptr, 19);
  t->dates[idx][19] = '\0';
  return 0;
}

static void on_answer(ec_dev_t *dev, void *user, const ec_dev_answer_t *a) {
  (void)dev;
  device_t *t = user;
  t->answers++;
  t->code = a->code;
  t->result = a->result;
  t->observing = a->observing;
  memset(t->names, 0, sizeof t->names);
  t->rc = a->result == 0 && (a->code >> 5) == 2
              ? ec_dev_prov_decode(a->payload, a->payload_len, keep_row, t,
                                   &t->n)
              : -1;
  if (a->result == 0 && (a->code >> 5) != 2) {
    printf("  answer %d.%02d: %.*s\n", a->code >> 5, a->code & 31,
           (int)a->payload_len, (const char *)a->payload);
  }
}

/* Start a read of provisioning @p id with @p tok (@p len bytes). */
static int start(device_t *t, uint32_t id, const void *tok, size_t len,
                 bool observe) {
  memset(t, 0, sizeof *t);
  if (ec_dev_udp_open(&t->port, "127.0.0.1", srv.port) < 0) {
    return -1;
  }
  ec_dev_init(&t->dev, &t->port.transport);
  int xid = ec_dev_prov_get(&t->dev, id, tok, len, observe, t->req,
                            sizeof t->req, on_answer, t);
  return xid < 0 ? xid : ec_dev_set_body(&t->dev, xid, t->body, sizeof t->body);
}

/* Step the core until @p want answers came or WAIT_MS passed. */
static void run_until(device_t *t, int want) {
  uint64_t end = it_now_ms() + WAIT_MS;
  while (t->answers < want && it_now_ms() < end && itp_server_ok()) {
    (void)ec_dev_udp_poll(&t->port, &t->dev, 100, t->rx, sizeof t->rx);
  }
}

static int insert(int type, const char *ids) {
  char body[256];
  json_t *j = NULL;
  snprintf(body, sizeof body,
           "{\"action\":\"insert\",\"provisioning_id\":11,"
           "\"component_type\":%d,\"component_id\":%s}",
           type, ids);
  int code = itp_lib_req(lib, "POST", "/" ITP_COMPONENTS, admin_tok,
                         EC_FORMAT_JSON, body, strlen(body), &j);
  json_decref(j);
  return code;
}

/* Each row the core read is the row the client library reads, in order. */
static void check_rows(const device_t *t) {
  static const char *const types[] = {"Sensor", "Parameter", "Group Parameter"};
  json_t *j = NULL;
  CU_ASSERT_EQUAL_FATAL(itp_lib_req(lib, "GET",
                                    "/" ITP_COMPONENTS "?provisioning_id=11",
                                    device_tok, -1, NULL, 0, &j),
                        205);
  const json_t *all = json_object_get(j, "responses");
  CU_ASSERT_EQUAL(t->n, json_object_size(all));
  for (size_t i = 0; i < t->n && i < 16; i++) {
    char key[32];
    snprintf(key, sizeof key, "response_%zu", i);
    const json_t *o = json_object_get(all, key);
    const ec_dev_prov_row_t *r = &t->rows[i];
    CU_ASSERT_EQUAL(r->provisioning_component_id,
                    itp_jint(o, "provisioning_component_id"));
    CU_ASSERT_EQUAL(r->provisioning_id, 11);
    CU_ASSERT_EQUAL(r->provisioning_id, itp_jint(o, "provisioning_id"));
    CU_ASSERT_STRING_EQUAL(types[r->component_type],
                           itp_jstr(o, "component_type"));
    CU_ASSERT_EQUAL(r->component_id, itp_jint(o, "component_id"));
    CU_ASSERT_STRING_EQUAL(t->names[i], itp_jstr(o, "name"));
    CU_ASSERT_EQUAL(r->active_status, itp_jint(o, "active_status"));
    CU_ASSERT_EQUAL(r->last_modified_by, itp_jint(o, "last_modified_by"));
    CU_ASSERT_EQUAL(r->last_modified_by, 1); /* the admin inserted it */
    CU_ASSERT_STRING_EQUAL(t->dates[i], itp_jstr(o, "last_modified_datetime"));
  }
  json_decref(j);
}

/* Observed with two rows: the answer, then a notification per insert with
 * the whole list (it fits one datagram). */
static void test_observe_provisioning(void) {
  static device_t t;
  CU_ASSERT_EQUAL_FATAL(insert(0, "[2,4]"), 201);
  CU_ASSERT_EQUAL_FATAL(start(&t, 11, device_raw, sizeof device_raw, true), 0);
  run_until(&t, 1);
  CU_ASSERT_EQUAL_FATAL(t.answers, 1);
  CU_ASSERT_TRUE(t.result == 0 && t.code == EC_COAP_CODE(2, 5) && t.observing);
  CU_ASSERT_EQUAL(t.rc, 0);
  CU_ASSERT_EQUAL(t.n, 2);
  check_rows(&t);
  CU_ASSERT_EQUAL_FATAL(insert(1, "2"), 201);
  run_until(&t, 2);
  CU_ASSERT_EQUAL_FATAL(t.answers, 2);
  CU_ASSERT_TRUE(t.observing);
  CU_ASSERT_EQUAL(t.rc, 0);
  CU_ASSERT_EQUAL(t.n, 3);
  CU_ASSERT_EQUAL(t.rows[2].component_type, 1);
  check_rows(&t);
  ec_dev_udp_close(&t.port);
}

/* Eleven rows, about 2 KB of CBOR: Block2, reassembled and decoded whole;
 * the token as its 64 hex digits this time. */
static void test_read_large_provisioning(void) {
  static device_t t;
  CU_ASSERT_EQUAL_FATAL(insert(0, "[1,3,5,6]"), 201);
  CU_ASSERT_EQUAL_FATAL(insert(1, "[1,3,4,5]"), 201);
  CU_ASSERT_EQUAL_FATAL(start(&t, 11, device_tok, EC_PROV_TOKEN_HEX, false), 0);
  run_until(&t, 1);
  CU_ASSERT_EQUAL_FATAL(t.answers, 1);
  CU_ASSERT_TRUE(t.result == 0 && t.code == EC_COAP_CODE(2, 5) && !t.observing);
  CU_ASSERT_EQUAL(t.rc, 0);
  CU_ASSERT_EQUAL(t.n, 11);
  check_rows(&t);
  ec_dev_udp_close(&t.port);
}

/* A token nobody was given is 4.01; another account's provisioning 4.03. */
static void test_refusals(void) {
  static device_t t;
  uint8_t zero[EC_PROV_TOKEN_BYTES] = {0};
  CU_ASSERT_EQUAL_FATAL(start(&t, 11, zero, sizeof zero, false), 0);
  run_until(&t, 1);
  CU_ASSERT_TRUE(t.answers == 1 && t.result == 0 &&
                 t.code == EC_COAP_CODE(4, 1));
  ec_dev_udp_close(&t.port);
  CU_ASSERT_EQUAL_FATAL(start(&t, 12, device_raw, sizeof device_raw, false), 0);
  run_until(&t, 1);
  CU_ASSERT_TRUE(t.answers == 1 && t.result == 0 &&
                 t.code == EC_COAP_CODE(4, 3));
  ec_dev_udp_close(&t.port);
}

/* The core logs in itself (ec_dev_login(): its CBOR body, the answer read
 * by ec_dev_login_decode()) and reads its provisioning with the token it
 * was given; a wrong password is 4.01 with no token. */
typedef struct {
  int answers;
  uint8_t code;
  int rc;
  char token[EC_PROV_TOKEN_HEX + 1];
} login_t;

static void on_login(ec_dev_t *dev, void *user, const ec_dev_answer_t *a) {
  (void)dev;
  login_t *l = user;
  ec_dev_login_t v;
  l->answers++;
  l->code = a->code;
  l->rc = a->result < 0 ? a->result
                        : ec_dev_login_decode(a->payload, a->payload_len, &v);
  if (l->rc == 0 && v.token.ptr != NULL && v.token.len == EC_PROV_TOKEN_HEX) {
    memcpy(l->token, v.token.ptr, v.token.len);
  }
}

static void test_login_then_read(void) {
  static device_t t;
  for (int wrong = 1; wrong >= 0; wrong--) {
    login_t l = {0};
    memset(&t, 0, sizeof t);
    CU_ASSERT_EQUAL_FATAL(ec_dev_udp_open(&t.port, "127.0.0.1", srv.port), 0);
    ec_dev_init(&t.dev, &t.port.transport);
    CU_ASSERT_TRUE_FATAL(ec_dev_login(&t.dev, "device",
                                      wrong ? "not-the-password" : ITP_DEVICE_PW,
                                      t.req, sizeof t.req, on_login, &l) >= 0);
    uint64_t end = it_now_ms() + WAIT_MS;
    while (l.answers < 1 && it_now_ms() < end) {
      (void)ec_dev_udp_poll(&t.port, &t.dev, 100, t.rx, sizeof t.rx);
    }
    CU_ASSERT_EQUAL_FATAL(l.answers, 1);
    CU_ASSERT_EQUAL(l.rc, 0);
    CU_ASSERT_EQUAL(l.code, wrong ? EC_COAP_CODE(4, 1) : EC_COAP_CODE(2, 1));
    CU_ASSERT_EQUAL(strlen(l.token), wrong ? 0 : EC_PROV_TOKEN_HEX);
    ec_dev_udp_close(&t.port);
    if (wrong) {
      continue;
    }
    CU_ASSERT_EQUAL_FATAL(start(&t, 11, l.token, EC_PROV_TOKEN_HEX, false), 0);
    run_until(&t, 1);
    CU_ASSERT_EQUAL_FATAL(t.answers, 1);
    CU_ASSERT_TRUE(t.result == 0 && t.code == EC_COAP_CODE(2, 5));
    CU_ASSERT_EQUAL(t.rc, 0);
    check_rows(&t);
    ec_dev_udp_close(&t.port);
  }
}

static int suite_init(void) {
  it_init();
  itp_use_server(&srv);
  if (itp_start_server(&srv, NULL) < 0 || it_udp_open(&udp, srv.port) < 0) {
    return -1;
  }
  ec_client_config_t cfg = {
      .url = srv.url, .format = EC_FORMAT_JSON, .timeout_ms = 5000};
  if (ec_client_new(&cfg, &lib) < 0 ||
      itp_login_raw(&udp, "admin", ITP_ADMIN_PW, admin_tok, NULL) != 201 ||
      itp_login_raw(&udp, "device", ITP_DEVICE_PW, device_tok, NULL) != 201 ||
      ec_prov_token_read((const uint8_t *)device_tok, EC_PROV_TOKEN_HEX,
                         device_raw) < 0) {
    return -1;
  }
  return 0;
}

static int suite_cleanup(void) {
  ec_client_free(lib);
  it_udp_close(&udp);
  it_server_stop(&srv);
  return 0;
}

int main(void) {
  static const ec_test_t tests[] = {
      {test_observe_provisioning, "observe_provisioning"},
      {test_read_large_provisioning, "read_large_provisioning"},
      {test_refusals, "refusals"},
      {test_login_then_read, "login_then_read"},
  };
  return ec_test_main("it_device_prov", tests, EC_TEST_COUNT(tests),
                      suite_init, suite_cleanup, NULL);
}
