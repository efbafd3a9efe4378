/* edgecoap: CUnit tests of DTLS and plain access (server/coap/access.c). */
/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <coap3/coap.h>

#include "access.h"
#include "edgecoap/error.h"
#include "identities.h"
#include "request.h"
#include "srvfx.h"
#include "store_fx.h"
#include "suite.h"
#include "udpsess.h"

/*
 * Real DTLS sessions, made in this process: a server context with the
 * access layer's PSK lookup (ec_access_dtls_init) and a coaps:// endpoint
 * on 127.0.0.1, and a client context that handshakes with it, both driven
 * by coap_io_process() in a bounded loop. The server's side of each
 * session is the one requests arrive on; the tests run ec_access_check()
 * and its siblings on it, against identities in a real store
 * (tests/support/store_fx.h), kept in memory as the server keeps them
 * (identities.h). The route rules themselves (ec_access_decide) are
 * test_router.c's.
 */

/* A loopback handshake takes milliseconds; one with a wrong key never ends
 * (DTLS drops the records it cannot authenticate), so it is cut here. */
#define HANDSHAKE_MS 2000

static coap_context_t *sctx, *cctx; /* the server's, the clients' */
static ec_server_t *srv;
static ec_store_fx_t fx;
static uint16_t port;
static coap_session_t *connected; /* the server side of the last handshake */
static coap_session_t *plain;     /* a plain UDP session */

static const uint8_t key_dev[] = "0123456789abcdef-device-one";
static const uint8_t key_op[] = "0123456789abcdef-operator-op";

static bool refused; /* the last handshake failed */
static bool listening; /* the store tells of identities' changes by hints */

static int on_event(coap_session_t *s, const coap_event_t ev) {
  if (ev == COAP_EVENT_DTLS_CONNECTED && coap_session_get_context(s) == sctx)
    connected = s;
  /* Either side may be the first to see a handshake fail. */
  if (ev == COAP_EVENT_DTLS_ERROR ||
      (ev == COAP_EVENT_DTLS_CLOSED && coap_session_get_context(s) == cctx))
    refused = true;
  return 0;
}

/* The server's listener, as far as identities go (server.c). */
static void on_change(void *ud, const ec_store_change_t *c) {
  (void)ud;
  if (c->kind == EC_STORE_CHANGE_DEVICE)
    ec_ids_changed(srv->ids, c->device_id);
  else if (c->kind == EC_STORE_CHANGE_ANY)
    ec_ids_changed(srv->ids, NULL);
}

static int add_identity(const char *id, ec_device_role_t role,
                        const uint8_t *key, size_t key_len) {
  ec_store_device_t d = {0};
  snprintf(d.identity, sizeof(d.identity), "%s", id);
  d.role = role;
  memcpy(d.key, key, key_len);
  d.key_len = key_len;
  return ec_store_device_add(srv->store, &d, NULL);
}

static int suite_init(void) {
  if ((srv = ec_test_server_new(&sctx, 16 * 1024)) == NULL)
    return -1;
  coap_dtls_set_log_level(LOG_EMERG);
  cctx = coap_new_context(NULL);
  if (!coap_dtls_is_supported() || cctx == NULL ||
      (port = ec_test_free_port()) == 0)
    return -1;
  srv->cfg.max_body = 4096;
  if (ec_access_dtls_init(srv) != 0)
    return -1;
  coap_address_t a = ec_test_addr("127.0.0.1", port);
  if (coap_new_endpoint(sctx, &a, COAP_PROTO_DTLS) == NULL)
    return -1;
  coap_register_event_handler(sctx, on_event);
  coap_register_event_handler(cctx, on_event);
  plain = ec_test_session_to(cctx, 41601);
  return plain != NULL ? 0 : -1;
}

/* The store and its first identities, made by the first test (the
 * fixture asserts, which CUnit allows only inside a test). */
static void ready(void) {
  if (srv->store != NULL)
    return;
  ec_store_fx_setup(&fx);
  srv->store = fx.s;
  CU_ASSERT_EQUAL_FATAL(add_identity("dev-1", EC_DEVICE_ROLE_DEVICE, key_dev,
                                     sizeof(key_dev) - 1),
                        0);
  CU_ASSERT_EQUAL_FATAL(
      add_identity("op-1", EC_DEVICE_ROLE_OPERATOR, key_op, sizeof(key_op) - 1),
      0);
  CU_ASSERT_EQUAL_FATAL(ec_ids_new(srv->store, &srv->ids), 0);
  int rc = ec_store_listen(srv->store, on_change, NULL);
  CU_ASSERT_FATAL(rc == 0 || rc == EC_ENOTSUP);
  listening = rc == 0;
}

/*
 * Wait until a change made through the store reached the identities in
 * memory: a versioned store (SQLite) needs no wait (access.c looks at its
 * version itself); a store that tells by hints (PostgreSQL) is flushed,
 * as the server's loop does, until its hint is heard (a bounded loop).
 * @p key NULL: removed.
 */
static bool settle(const char *identity, const uint8_t *key, size_t key_len) {
  if (!listening)
    return true;
  for (int i = 0; i < 2000; i++) {
    ec_store_device_t d;
    if (ec_ids_current(srv->ids) != 0)
      return false;
    int rc = ec_ids_find(srv->ids, (const uint8_t *)identity, strlen(identity),
                         &d);
    bool now = key == NULL ? rc == EC_ENOTFOUND
                           : rc == 0 && d.key_len == key_len &&
                                 memcmp(d.key, key, key_len) == 0;
    if (now)
      return true;
    ec_store_flush(srv->store);
    usleep(1000);
  }
  return false;
}

/* ec_store_fx_teardown() asserts, which CUnit allows only inside a test:
 * the same, outside one. */
static void drop_store(void) {
  static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
  char p[160];
  ec_store_close(fx.s);
  for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
    snprintf(p, sizeof(p), "%s%s", fx.path, suffixes[i]);
    unlink(p);
  }
  rmdir(fx.dir);
}

static int suite_cleanup(void) {
  if (cctx != NULL)
    coap_free_context(cctx);
  if (srv != NULL)
    ec_ids_free(srv->ids);
  if (srv != NULL && srv->store != NULL)
    drop_store();
  ec_test_server_free(srv, sctx);
  return 0;
}

/*
 * Handshake as @p identity with @p key; the server's side of the session,
 * or NULL when the handshake failed or did not end within HANDSHAKE_MS.
 * *client is the client's side (released by the caller).
 */
static coap_session_t *handshake(const char *identity, const uint8_t *key,
                                 size_t key_len, coap_session_t **client) {
  coap_dtls_cpsk_t setup;
  memset(&setup, 0, sizeof(setup));
  setup.version = COAP_DTLS_CPSK_SETUP_VERSION;
  setup.psk_info.identity.s = (const uint8_t *)identity;
  setup.psk_info.identity.length = strlen(identity);
  setup.psk_info.key.s = key;
  setup.psk_info.key.length = key_len;
  coap_address_t a = ec_test_addr("127.0.0.1", port);
  connected = NULL;
  refused = false;
  *client =
      coap_new_client_session_psk2(cctx, NULL, &a, COAP_PROTO_DTLS, &setup);
  CU_ASSERT_PTR_NOT_NULL_FATAL(*client);
  for (int i = 0; i < HANDSHAKE_MS && connected == NULL; i++) {
    coap_io_process(cctx, COAP_IO_NO_WAIT);
    coap_io_process(sctx, COAP_IO_NO_WAIT);
    if (refused || coap_session_get_state(*client) == COAP_SESSION_STATE_NONE)
      break;
    usleep(1000);
  }
  return connected;
}

/* A request of @p method to /x from the session @p s, set up for the
 * access checks. */
typedef struct {
  ec_req_t rq;
  coap_pdu_t *req, *resp;
} run_t;

static void start(run_t *x, coap_session_t *s, coap_pdu_code_t method) {
  x->req = coap_pdu_init(COAP_MESSAGE_CON, method, 0x6161, 256);
  x->resp = coap_pdu_init(COAP_MESSAGE_ACK, 0, 0x6161, 512);
  CU_ASSERT_FATAL(x->req != NULL && x->resp != NULL);
  CU_ASSERT_FATAL(coap_add_token(x->req, 2, (const uint8_t *)"ac"));
  coap_add_option(x->req, COAP_OPTION_URI_PATH, 1, (const uint8_t *)"x");
  CU_ASSERT_EQUAL_FATAL(
      ec_req_setup(&x->rq, srv, NULL, s, x->req, NULL, x->resp, ~0u), 0);
}

static void finish(run_t *x) {
  ec_req_done(&x->rq);
  coap_delete_pdu(x->req);
  coap_delete_pdu(x->resp);
}

static int code_of(const run_t *x) {
  coap_pdu_code_t c = coap_pdu_get_code(x->resp);
  return c == 0 ? 0 : (c >> 5) * 100 + (c & 0x1f);
}

/* ec_access_check() of one request: its result, *code the answer's. */
static int check(coap_session_t *s, coap_pdu_code_t method,
                 ec_access_rule_t rule, const char *owner, int *code) {
  run_t x;
  start(&x, s, method);
  int rc = ec_access_check(&x.rq, rule, owner);
  *code = code_of(&x);
  finish(&x);
  return rc;
}

static int own_device(coap_session_t *s, char *dev, size_t cap) {
  run_t x;
  start(&x, s, COAP_REQUEST_CODE_GET);
  int rc = ec_access_own_device(&x.rq, dev, cap);
  finish(&x);
  return rc;
}

static void test_plain_coap_is_unrestricted(void) {
  ready();
  int code;
  char dev[160] = "";
  CU_ASSERT_EQUAL(
      check(plain, COAP_REQUEST_CODE_POST, EC_ACCESS_OPERATOR, NULL, &code), 0);
  CU_ASSERT_EQUAL(code, 0);
  CU_ASSERT_EQUAL(check(plain, COAP_REQUEST_CODE_DELETE, EC_ACCESS_DEVICE,
                        "someone", &code),
                  0);
  CU_ASSERT_TRUE(ec_access_session_valid(srv, plain));
  CU_ASSERT_EQUAL(own_device(plain, dev, sizeof(dev)), 0);
}

static void test_a_device_identity_is_held_to_its_own_rows(void) {
  ready();
  coap_session_t *client, *s;
  int code;
  char dev[160] = "";
  s = handshake("dev-1", key_dev, sizeof(key_dev) - 1, &client);
  CU_ASSERT_PTR_NOT_NULL_FATAL(s);
  CU_ASSERT_TRUE(ec_access_session_valid(srv, s));
  CU_ASSERT_EQUAL(
      check(s, COAP_REQUEST_CODE_POST, EC_ACCESS_DEVICE, "dev-1", &code), 0);
  CU_ASSERT_EQUAL(code, 0);
  CU_ASSERT(check(s, COAP_REQUEST_CODE_GET, EC_ACCESS_DEVICE, "dev-2", &code) <
            0);
  CU_ASSERT_EQUAL(code, 403);
  CU_ASSERT(check(s, COAP_REQUEST_CODE_GET, EC_ACCESS_OPERATOR, NULL, &code) <
            0);
  CU_ASSERT_EQUAL(code, 403);
  CU_ASSERT_EQUAL(
      check(s, COAP_REQUEST_CODE_POST, EC_ACCESS_TOKEN, NULL, &code), 0);
  /* A fleet read shows it its own rows only. */
  CU_ASSERT_EQUAL(own_device(s, dev, sizeof(dev)), 1);
  CU_ASSERT_STRING_EQUAL(dev, "dev-1");
  coap_session_release(client);
}

static void test_an_operator_reads_everything_and_writes_no_status(void) {
  ready();
  coap_session_t *client, *s;
  int code;
  char dev[160] = "";
  s = handshake("op-1", key_op, sizeof(key_op) - 1, &client);
  CU_ASSERT_PTR_NOT_NULL_FATAL(s);
  CU_ASSERT_EQUAL(
      check(s, COAP_REQUEST_CODE_GET, EC_ACCESS_DEVICE, "dev-1", &code), 0);
  CU_ASSERT(check(s, COAP_REQUEST_CODE_POST, EC_ACCESS_DEVICE, "dev-1", &code) <
            0);
  CU_ASSERT_EQUAL(code, 403);
  CU_ASSERT_EQUAL(
      check(s, COAP_REQUEST_CODE_POST, EC_ACCESS_OPERATOR, NULL, &code), 0);
  CU_ASSERT_EQUAL(own_device(s, dev, sizeof(dev)), 0);
  coap_session_release(client);
}

static void test_unknown_identities_and_wrong_keys_fail_the_handshake(void) {
  ready();
  coap_session_t *client;
  CU_ASSERT_PTR_NULL(
      handshake("nobody", key_dev, sizeof(key_dev) - 1, &client));
  coap_session_release(client);
  static const uint8_t wrong[] = "0123456789abcdef-not-the-key";
  CU_ASSERT_PTR_NULL(handshake("dev-1", wrong, sizeof(wrong) - 1, &client));
  coap_session_release(client);
}

static void test_a_removed_or_rekeyed_identity_is_refused_at_once(void) {
  ready();
  coap_session_t *client, *s;
  int code;
  static const uint8_t key2[] = "0123456789abcdef-device-two";
  CU_ASSERT_EQUAL_FATAL(
      add_identity("dev-2", EC_DEVICE_ROLE_DEVICE, key2, sizeof(key2) - 1), 0);
  CU_ASSERT_TRUE(settle("dev-2", key2, sizeof(key2) - 1));
  s = handshake("dev-2", key2, sizeof(key2) - 1, &client);
  CU_ASSERT_PTR_NOT_NULL_FATAL(s);
  CU_ASSERT_EQUAL(
      check(s, COAP_REQUEST_CODE_POST, EC_ACCESS_DEVICE, "dev-2", &code), 0);
  /* Removed while the session lasts: its next request is 4.01, its next
   * notification not sent. */
  CU_ASSERT_EQUAL_FATAL(ec_store_device_remove(srv->store, "dev-2"), 0);
  CU_ASSERT_TRUE(settle("dev-2", NULL, 0));
  CU_ASSERT(check(s, COAP_REQUEST_CODE_POST, EC_ACCESS_DEVICE, "dev-2", &code) <
            0);
  CU_ASSERT_EQUAL(code, 401);
  CU_ASSERT_FALSE(ec_access_session_valid(srv, s));
  /* Added again with another key: the old session is still refused. */
  static const uint8_t key3[] = "0123456789abcdef-device-three";
  CU_ASSERT_EQUAL_FATAL(
      add_identity("dev-2", EC_DEVICE_ROLE_DEVICE, key3, sizeof(key3) - 1), 0);
  CU_ASSERT_TRUE(settle("dev-2", key3, sizeof(key3) - 1));
  CU_ASSERT(check(s, COAP_REQUEST_CODE_GET, EC_ACCESS_DEVICE, "dev-2", &code) <
            0);
  CU_ASSERT_EQUAL(code, 401);
  CU_ASSERT_FALSE(ec_access_session_valid(srv, s));
  coap_session_release(client);
  /* A new handshake with the new key is served. */
  s = handshake("dev-2", key3, sizeof(key3) - 1, &client);
  CU_ASSERT_PTR_NOT_NULL_FATAL(s);
  CU_ASSERT_TRUE(ec_access_session_valid(srv, s));
  coap_session_release(client);
}

/* The handshake's PSK lookup and each request's identity check use the
 * identities in memory: with PostgreSQL stopped (pgtmp's ctl), a known
 * identity still handshakes and is let through, where a lookup in the
 * store would have failed both. SQLite has no server to stop. */
static void test_handshakes_wait_on_no_database(void) {
  ready();
  const char *ctl = getenv("EC_TEST_PG_CTL");
  if (!listening || ctl == NULL)
    return;
  char cmd[512];
  snprintf(cmd, sizeof(cmd), "%s stop >/dev/null", ctl);
  CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
  coap_session_t *client, *s;
  int code;
  s = handshake("dev-1", key_dev, sizeof(key_dev) - 1, &client);
  CU_ASSERT_PTR_NOT_NULL(s);
  if (s != NULL) {
    CU_ASSERT_EQUAL(
        check(s, COAP_REQUEST_CODE_POST, EC_ACCESS_DEVICE, "dev-1", &code), 0);
    CU_ASSERT_TRUE(ec_access_session_valid(srv, s));
  }
  coap_session_release(client);
  snprintf(cmd, sizeof(cmd), "%s start >/dev/null", ctl);
  CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
  /* The store finds PostgreSQL again by itself (and its listener hears
   * "any", which loads the identities again). */
  int64_t n = -1;
  for (int i = 0; i < 3000 && ec_store_device_count(srv->store, &n) != 0; i++) {
    ec_store_flush(srv->store);
    usleep(1000);
  }
  CU_ASSERT(n >= 2);
}

static const ec_test_t tests[] = {
    {test_plain_coap_is_unrestricted, "plain_coap_is_unrestricted"},
    {test_a_device_identity_is_held_to_its_own_rows,
     "a_device_identity_is_held_to_its_own_rows"},
    {test_an_operator_reads_everything_and_writes_no_status,
     "an_operator_reads_everything_and_writes_no_status"},
    {test_unknown_identities_and_wrong_keys_fail_the_handshake,
     "unknown_identities_and_wrong_keys_fail_the_handshake"},
    {test_a_removed_or_rekeyed_identity_is_refused_at_once,
     "a_removed_or_rekeyed_identity_is_refused_at_once"},
    {test_handshakes_wait_on_no_database, "handshakes_wait_on_no_database"},
};

int main(void) {
  return ec_test_main("access", tests, EC_TEST_COUNT(tests), suite_init,
                      suite_cleanup, NULL);
}
