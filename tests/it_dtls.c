/* edgecoap: DTLS PSK and who may do what, against the real server. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <jansson.h>

#include "edgecoap/client.h"
#include "itest.h"

/*
 * One server serves the suite. It starts with an empty identity table, so
 * it binds no DTLS endpoint; the admin command adds identities and a
 * restart brings coaps:// up. The real DTLS peers are libcoap's
 * coap-client-openssl (-u IDENTITY -k KEY) and edgecoap-client; a test near
 * the end starts a second server with --no-plain. Every wait is bounded and
 * all traffic stays on 127.0.0.1.
 */

#ifndef COAP_CLIENT_OPENSSL_BIN
#error "COAP_CLIENT_OPENSSL_BIN must name libcoap's coap-client-openssl"
#endif

#define DEP "d7e5c0de-1111-4222-8333-444455556666"
#define DEP_CLI "d7e5c0de-aaaa-4bbb-8ccc-ddddeeeeffff"
#define RUN_TIMEOUT_MS 20000
/* How long coap-client waits (-B) when an answer is expected, and when
 * none should come (a failed handshake or a closed port). */
#define CC_WAIT_OK "10"
#define CC_WAIT_NONE "3"
#define KEY_LEN 64

static it_server_t srv;
static uint16_t psk_port;
static char psk_port_s[8];
static char key_a[KEY_LEN + 1], key_b[KEY_LEN + 1], key_op[KEY_LEN + 1];

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

static const char *coaps_url(char *out, size_t cap, uint16_t port,
                             const char *path) {
  snprintf(out, cap, "coaps://127.0.0.1:%u%s%s", port, *path ? "/" : "", path);
  return out;
}

/* `edgecoap-server admin ARGS... --db DB`; the result in *r. */
static int admin(it_result_t *r, const char *db, ...) {
  const char *argv[16];
  int n = 0;
  va_list ap;
  argv[n++] = EC_SERVER_BIN;
  argv[n++] = "admin";
  va_start(ap, db);
  const char *a;
  while ((a = va_arg(ap, const char *)) != NULL && n < 12)
    argv[n++] = a;
  va_end(ap);
  argv[n++] = "--db";
  argv[n++] = db;
  argv[n] = NULL;
  return it_run(argv, NULL, 0, RUN_TIMEOUT_MS, r);
}

static bool is_key(const char *s) {
  size_t n = 0;
  while (n < KEY_LEN && isxdigit((unsigned char)s[n]))
    n++;
  return n == KEY_LEN && strcmp(s + n, "\n") == 0;
}

/* Add an identity; its printed key (64 hex digits) in @p key. */
static int add_identity(const char *db, const char *identity, const char *role,
                        char key[KEY_LEN + 1]) {
  it_result_t r;
  int rc =
      admin(&r, db, "device-add", "--identity", identity, "--role", role, NULL);
  if (rc == 0 && r.out != NULL && is_key(r.out)) {
    memcpy(key, r.out, KEY_LEN);
    key[KEY_LEN] = '\0';
  } else {
    it_result_dump("admin device-add", &r);
    rc = -1;
  }
  it_result_free(&r);
  return rc;
}

/* The response codes in coap-client's "-v 6" PDU lines, e.g.
 * "v:1 t:ACK c:2.01 i:1234 {01} [ ]" (requests and empty messages show
 * no code of class 2 to 5). */
static void scan_codes(it_cc_t *cc) {
  const char *line = cc->run.out ? cc->run.out : "";
  while (*line &&
         cc->n_codes < (int)(sizeof(cc->codes) / sizeof(cc->codes[0]))) {
    const char *end = strchr(line, '\n');
    size_t n = end ? (size_t)(end - line) : strlen(line);
    const char *c = strstr(line, " c:");
    unsigned cls, det;
    char dot;
    if (n > 6 && strncmp(line, "v:1 t:", 6) == 0 && c != NULL && c < line + n &&
        sscanf(c + 3, "%1u%c%2u", &cls, &dot, &det) == 3 && dot == '.' &&
        cls >= 2 && cls <= 5)
      cc->codes[cc->n_codes++] = (int)(cls * 100 + det);
    line += n + (end != NULL);
  }
}

/*
 * coap-client-openssl -v 6 -B WAIT -o TMP -u IDENTITY -k KEY ARGS... URL.
 * Unlike it_coap_client(), a run without any answer is a result here, not
 * a failure: a refused handshake is what some tests want to see.
 */
static void cc_dtls(it_cc_t *cc, const char *wait_s, const char *identity,
                    const char *key, ...) {
  char tmpl[] = "/tmp/it-dtls-cc-XXXXXX";
  const char *argv[32];
  int n = 0;
  va_list ap;

  memset(cc, 0, sizeof(*cc));
  int fd = mkstemp(tmpl);
  CU_ASSERT_TRUE_FATAL(fd >= 0);
  close(fd);
  argv[n++] = COAP_CLIENT_OPENSSL_BIN;
  argv[n++] = "-v";
  argv[n++] = "6";
  argv[n++] = "-B";
  argv[n++] = wait_s;
  argv[n++] = "-o";
  argv[n++] = tmpl;
  argv[n++] = "-u";
  argv[n++] = identity;
  argv[n++] = "-k";
  argv[n++] = key;
  va_start(ap, key);
  const char *a;
  while ((a = va_arg(ap, const char *)) != NULL && n < 31)
    argv[n++] = a;
  va_end(ap);
  argv[n] = NULL;
  (void)it_run(argv, NULL, 0, RUN_TIMEOUT_MS, &cc->run);
  scan_codes(cc);
  if (it_read_file(tmpl, &cc->body, &cc->body_len) < 0) {
    cc->body = NULL;
    cc->body_len = 0;
  }
  unlink(tmpl);
}

/* One request as @p identity; the last response code, or -1 for none. */
static int dtls_code(const char *identity, const char *key, const char *method,
                     const char *path, const char *json) {
  char url[256];
  it_cc_t cc;
  coaps_url(url, sizeof(url), psk_port, path);
  if (json != NULL)
    cc_dtls(&cc, CC_WAIT_OK, identity, key, "-m", method, "-t", "50", "-e",
            json, url, NULL);
  else
    cc_dtls(&cc, CC_WAIT_OK, identity, key, "-m", method, "-A", "50", url,
            NULL);
  int code = it_cc_last_code(&cc);
  if (code < 0)
    it_result_dump("coap-client-openssl", &cc.run);
  it_cc_free(&cc);
  return code;
}

/* The same for a request that must get no answer at all (-B 3). */
static int dtls_answers(const char *identity, const char *key,
                        const char *path) {
  char url[256];
  it_cc_t cc;
  coaps_url(url, sizeof(url), psk_port, path);
  cc_dtls(&cc, CC_WAIT_NONE, identity, key, "-m", "get", url, NULL);
  int n = cc.n_codes;
  if (n != 0)
    it_result_dump("coap-client-openssl (expected no answer)", &cc.run);
  it_cc_free(&cc);
  return n;
}

static const char *report(const char *dep, const char *state) {
  static char buf[512];
  return it_report(buf, sizeof(buf), dep, state, "app", state);
}

static const char *status_path(char *out, size_t cap, const char *dev) {
  snprintf(out, cap, "device/%s/deployment/%s/status", dev, DEP);
  return out;
}

/* edgecoap-client over coaps:// with $EDGECOAP_PSK_KEY set to @p env_key
 * (NULL: unset); the arguments follow the URL. */
static int cli_dtls(it_result_t *r, const char *env_key, ...) {
  char url[64];
  const char *argv[24];
  int n = 0;
  va_list ap;
  argv[n++] = EC_CLIENT_BIN;
  argv[n++] = "--timeout";
  argv[n++] = "4000";
  argv[n++] = "--url";
  argv[n++] = coaps_url(url, sizeof(url), psk_port, "");
  va_start(ap, env_key);
  const char *a;
  while ((a = va_arg(ap, const char *)) != NULL && n < 23)
    argv[n++] = a;
  va_end(ap);
  argv[n] = NULL;
  if (env_key != NULL)
    setenv("EDGECOAP_PSK_KEY", env_key, 1);
  else
    unsetenv("EDGECOAP_PSK_KEY");
  int rc = it_run(argv, NULL, 0, RUN_TIMEOUT_MS, r);
  unsetenv("EDGECOAP_PSK_KEY");
  return rc;
}

static bool contains(const it_result_t *r, const char *needle) {
  return (r->out != NULL && strstr(r->out, needle) != NULL) ||
         (r->err != NULL && strstr(r->err, needle) != NULL);
}

/* ------------------------------------------------------------------------ */
/* Identities and the DTLS endpoint                                          */

static void test_no_coaps_without_identities(void) {
  CU_ASSERT_TRUE_FATAL(it_server_running(&srv));
  CU_ASSERT_EQUAL(it_server_log_count(&srv, "no coaps://"), 1);
  CU_ASSERT_EQUAL(it_server_log_count(&srv, "listening on coaps://"), 0);
  /* Nothing listens on the PSK port: no answer. */
  CU_ASSERT_EQUAL(dtls_answers("dev-a", "0123456789abcdef", ".well-known/core"),
                  0);
}

static void test_admin_device_commands(void) {
  it_result_t r;
  struct stat st;

  CU_ASSERT_EQUAL_FATAL(add_identity(srv.db, "dev-a", "device", key_a), 0);
  CU_ASSERT_EQUAL_FATAL(add_identity(srv.db, "dev-b", "device", key_b), 0);
  CU_ASSERT_EQUAL_FATAL(add_identity(srv.db, "op1", "operator", key_op), 0);
  /* Random keys: no two alike. */
  CU_ASSERT_NOT_EQUAL(strcmp(key_a, key_b), 0);
  CU_ASSERT_NOT_EQUAL(strcmp(key_a, key_op), 0);

  /* An identity is added once; a new key needs remove and add. */
  CU_ASSERT_NOT_EQUAL(
      admin(&r, srv.db, "device-add", "--identity", "dev-a", NULL), 0);
  CU_ASSERT_EQUAL(r.exit_code, 1);
  CU_ASSERT_TRUE(r.out == NULL || r.out[0] == '\0');
  it_result_free(&r);
  /* Identities are route ids; roles are device or operator. */
  CU_ASSERT_EQUAL(admin(&r, srv.db, "device-add", "--identity", "a/b", NULL),
                  -1);
  CU_ASSERT_EQUAL(r.exit_code, 2);
  it_result_free(&r);
  /* ".." is no route's deviceId (a dot segment): the same check refuses it. */
  CU_ASSERT_EQUAL(admin(&r, srv.db, "device-add", "--identity", "..", NULL),
                  -1);
  CU_ASSERT_EQUAL(r.exit_code, 2);
  it_result_free(&r);
  CU_ASSERT_EQUAL(admin(&r, srv.db, "device-add", "--identity", "dev-c",
                        "--role", "root", NULL),
                  -1);
  CU_ASSERT_EQUAL(r.exit_code, 2);
  it_result_free(&r);

  /* The list names identities and roles, never keys. */
  CU_ASSERT_EQUAL(admin(&r, srv.db, "device-list", NULL), 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r.out);
  CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "dev-a\tdevice\t"));
  CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "dev-b\tdevice\t"));
  CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "op1\toperator\t"));
  CU_ASSERT_PTR_NULL(strstr(r.out, key_a));
  CU_ASSERT_PTR_NULL(strstr(r.out, key_op));
  CU_ASSERT_PTR_NULL(strstr(r.out, "dev-c"));
  it_result_free(&r);

  /* The database holds the keys: only its owner may read it. */
  CU_ASSERT_EQUAL(stat(srv.db, &st), 0);
  CU_ASSERT_EQUAL(st.st_mode & 077, 0);

  /* With identities stored, the next start serves coaps://. */
  CU_ASSERT_EQUAL_FATAL(it_server_restart(&srv), 0);
  CU_ASSERT_EQUAL(it_server_log_count(&srv, "listening on coaps://"), 1);
}

/* ------------------------------------------------------------------------ */
/* Handshakes                                                                */

static void test_device_reports_over_dtls(void) {
  char path[160], url[256];
  it_cc_t cc;

  status_path(path, sizeof(path), "dev-a");
  CU_ASSERT_EQUAL(
      dtls_code("dev-a", key_a, "post", path, report(DEP, "Installing")), 201);
  CU_ASSERT_EQUAL(
      dtls_code("dev-a", key_a, "put", path, report(DEP, "Installed")), 204);
  cc_dtls(&cc, CC_WAIT_OK, "dev-a", key_a, "-m", "get", "-A", "50",
          coaps_url(url, sizeof(url), psk_port, path), NULL);
  CU_ASSERT_EQUAL(it_cc_last_code(&cc), 205);
  CU_ASSERT_TRUE(cc.body != NULL &&
                 strstr((const char *)cc.body, "\"Installed\"") != NULL);
  it_cc_free(&cc);
  CU_ASSERT_EQUAL(
      dtls_code("dev-a", key_a, "get", "device/dev-a/deployments", NULL), 205);
}

static void test_wrong_key_fails(void) {
  const char *tried = "identity 'dev-a' (device) is handshaking";
  int before = it_server_log_count(&srv, tried);
  /* DTLS drops records it cannot authenticate: no answer ever comes. */
  CU_ASSERT_EQUAL(dtls_answers("dev-a", key_b, "device/dev-a/deployments"), 0);
  /* The handshake did reach the server (the debug log says so). */
  CU_ASSERT_TRUE(it_server_log_count(&srv, tried) > before);
  /* A key that is right but for another identity is just as wrong. */
  CU_ASSERT_EQUAL(dtls_answers("dev-b", key_a, "device/dev-b/deployments"), 0);
}

static void test_unknown_identity_fails(void) {
  CU_ASSERT_EQUAL(dtls_answers("ghost", key_a, "device/ghost/deployments"), 0);
  CU_ASSERT_TRUE(it_server_log_count(&srv, "unknown PSK identity 'ghost'") >=
                 1);
}

/* ------------------------------------------------------------------------ */
/* Who may do what                                                           */

static void test_device_cannot_touch_another_device(void) {
  char path[160], url[256];
  it_cc_t cc;

  status_path(path, sizeof(path), "dev-b");
  CU_ASSERT_EQUAL(
      dtls_code("dev-b", key_b, "post", path, report(DEP, "Pending")), 201);
  /* dev-a may neither write nor read dev-b's status. */
  cc_dtls(&cc, CC_WAIT_OK, "dev-a", key_a, "-m", "post", "-t", "50", "-e",
          report(DEP, "Failed"), coaps_url(url, sizeof(url), psk_port, path),
          NULL);
  CU_ASSERT_EQUAL(it_cc_last_code(&cc), 403);
  CU_ASSERT_TRUE(contains(&cc.run, "forbidden"));
  it_cc_free(&cc);
  CU_ASSERT_EQUAL(dtls_code("dev-a", key_a, "get", path, NULL), 403);
  CU_ASSERT_EQUAL(
      dtls_code("dev-a", key_a, "get", "device/dev-b/deployments", NULL), 403);
  /* A first report for a device with no resources yet is refused too. */
  CU_ASSERT_EQUAL(dtls_code("dev-a", key_a, "post",
                            "device/dev-z/deployment/" DEP "/status",
                            report(DEP, "Pending")),
                  403);
  /* dev-b's report is unchanged. */
  cc_dtls(&cc, CC_WAIT_OK, "dev-b", key_b, "-m", "get", "-A", "50",
          coaps_url(url, sizeof(url), psk_port, path), NULL);
  CU_ASSERT_EQUAL(it_cc_last_code(&cc), 205);
  CU_ASSERT_TRUE(cc.body != NULL &&
                 strstr((const char *)cc.body, "\"Pending\"") != NULL);
  it_cc_free(&cc);
  /* Status messages are for operators. */
  CU_ASSERT_EQUAL(
      dtls_code("dev-a", key_a, "get", "api/2.3/statusmessages", NULL), 403);
  CU_ASSERT_EQUAL(dtls_code("dev-a", key_a, "post", "api/2.3/statusmessages",
                            "{\"messageCode\":101,\"orderId\":\"O-dtls\"}"),
                  403);
  /* Discovery stays open to every identity. */
  CU_ASSERT_EQUAL(dtls_code("dev-a", key_a, "get", ".well-known/core", NULL),
                  205);
}

static void test_operator_reads_but_does_not_write(void) {
  char path[160];

  status_path(path, sizeof(path), "dev-a");
  CU_ASSERT_EQUAL(dtls_code("op1", key_op, "get", path, NULL), 205);
  CU_ASSERT_EQUAL(
      dtls_code("op1", key_op, "get", "device/dev-b/deployments", NULL), 205);
  CU_ASSERT_EQUAL(dtls_code("op1", key_op, "post", path, report(DEP, "Failed")),
                  403);
  CU_ASSERT_EQUAL(dtls_code("op1", key_op, "post", "api/2.3/statusmessages",
                            "{\"messageCode\":101,\"orderId\":\"O-dtls\"}"),
                  201);
  CU_ASSERT_EQUAL(dtls_code("op1", key_op, "get",
                            "api/2.3/statusmessages?orderId=O-dtls", NULL),
                  205);
}

static void test_plain_coap_stays_open(void) {
  it_udp_t u;
  it_coap_msg_t *resp = calloc(1, sizeof(*resp));
  char path[160];
  CU_ASSERT_PTR_NOT_NULL_FATAL(resp);
  CU_ASSERT_EQUAL_FATAL(it_udp_open(&u, srv.port), 0);
  it_req_t rq = IT_REQ(IT_GET, status_path(path, sizeof(path), "dev-a"));
  rq.accept = 50;
  CU_ASSERT_EQUAL(it_coap_request(&u, &rq, resp, 5000), 0);
  CU_ASSERT_EQUAL(resp->code, IT_CODE(2, 5));
  it_udp_close(&u);
  free(resp);
}

/* ------------------------------------------------------------------------ */
/* edgecoap-client                                                           */

static void test_client_key_from_environment(void) {
  it_result_t r;
  char file[320];

  CU_ASSERT_EQUAL(cli_dtls(&r, key_a, "--psk-identity", "dev-a", "status",
                           "get", "dev-a", DEP, NULL),
                  0);
  CU_ASSERT_TRUE(r.out != NULL && strstr(r.out, DEP) != NULL);
  it_result_free(&r);

  snprintf(file, sizeof(file), "%s/report.json", srv.dir);
  const char *doc = report(DEP_CLI, "Installing");
  CU_ASSERT_EQUAL_FATAL(it_write_file(file, doc, strlen(doc)), 0);
  CU_ASSERT_EQUAL(cli_dtls(&r, key_a, "--psk-identity", "dev-a", "status",
                           "report", "dev-a", DEP_CLI, file, NULL),
                  0);
  it_result_free(&r);

  /* A wrong key: the handshake never completes, and the client says so. */
  CU_ASSERT_EQUAL(cli_dtls(&r, key_b, "--psk-identity", "dev-a", "status",
                           "get", "dev-a", DEP, NULL),
                  -1);
  CU_ASSERT_EQUAL(r.exit_code, 3);
  CU_ASSERT_TRUE(contains(&r, "handshake"));
  it_result_free(&r);
  /* coaps:// without a key, or a key on the command line: usage errors. */
  CU_ASSERT_EQUAL(cli_dtls(&r, NULL, "--psk-identity", "dev-a", "deployments",
                           "dev-a", NULL),
                  -1);
  CU_ASSERT_EQUAL(r.exit_code, 2);
  it_result_free(&r);
  CU_ASSERT_EQUAL(cli_dtls(&r, NULL, "--psk-identity", "dev-a", "--psk-key",
                           key_a, "deployments", "dev-a", NULL),
                  -1);
  CU_ASSERT_EQUAL(r.exit_code, 2);
  it_result_free(&r);
}

static void test_client_key_from_file(void) {
  it_result_t r;
  char file[320], text[KEY_LEN + 2];

  snprintf(file, sizeof(file), "%s/dev-a.key", srv.dir);
  snprintf(text, sizeof(text), "%s\n", key_a);
  CU_ASSERT_EQUAL_FATAL(it_write_file(file, text, strlen(text)), 0);
  CU_ASSERT_EQUAL(cli_dtls(&r, NULL, "--json", "--psk-identity", "dev-a",
                           "--psk-key-file", file, "deployments", "dev-a",
                           NULL),
                  0);
  CU_ASSERT_TRUE(r.out != NULL && strstr(r.out, DEP_CLI) != NULL);
  it_result_free(&r);
  /* The server's rules hold for the project's client too. */
  CU_ASSERT_EQUAL(cli_dtls(&r, NULL, "--psk-identity", "dev-a",
                           "--psk-key-file", file, "deployments", "dev-b",
                           NULL),
                  -1);
  CU_ASSERT_EQUAL(r.exit_code, 1);
  CU_ASSERT_TRUE(contains(&r, "4.03"));
  it_result_free(&r);
}

/* ------------------------------------------------------------------------ */
/* Revocation                                                                */

static void test_removed_identity_refused(void) {
  char url[64];
  it_result_t r;
  ec_client_t *c = NULL;
  ec_response_t resp;
  ec_client_config_t cfg = {
      .url = coaps_url(url, sizeof(url), psk_port, ""),
      .format = EC_FORMAT_JSON,
      .timeout_ms = 5000,
      .psk_identity = "dev-b",
      .psk_key = (const uint8_t *)key_b,
      .psk_key_len = KEY_LEN,
  };

  CU_ASSERT_EQUAL_FATAL(ec_client_new(&cfg, &c), 0);
  CU_ASSERT_EQUAL(ec_client_request(c, "GET", "/device/dev-b/deployments", -1,
                                    NULL, 0, &resp),
                  0);
  CU_ASSERT_EQUAL(resp.code, 205);

  /* Removed while its session lives: refused from the next request. */
  CU_ASSERT_EQUAL(
      admin(&r, srv.db, "device-remove", "--identity", "dev-b", NULL), 0);
  it_result_free(&r);
  CU_ASSERT_EQUAL(ec_client_request(c, "GET", "/device/dev-b/deployments", -1,
                                    NULL, 0, &resp),
                  0);
  CU_ASSERT_EQUAL(resp.code, 401);
  /* New handshakes fail. */
  CU_ASSERT_EQUAL(dtls_answers("dev-b", key_b, "device/dev-b/deployments"), 0);

  /* Added again, with a new key: the old session stays refused, a session
   * with the new key is served. */
  char new_key[KEY_LEN + 1];
  CU_ASSERT_EQUAL_FATAL(add_identity(srv.db, "dev-b", "device", new_key), 0);
  CU_ASSERT_EQUAL(ec_client_request(c, "GET", "/device/dev-b/deployments", -1,
                                    NULL, 0, &resp),
                  0);
  CU_ASSERT_EQUAL(resp.code, 401);
  ec_client_free(c);
  CU_ASSERT_EQUAL(
      dtls_code("dev-b", new_key, "get", "device/dev-b/deployments", NULL),
      205);

  /* Removing what is not there is an error. */
  CU_ASSERT_EQUAL(
      admin(&r, srv.db, "device-remove", "--identity", "nobody", NULL), -1);
  CU_ASSERT_EQUAL(r.exit_code, 1);
  it_result_free(&r);
}

/* A plain-CoAP report (plain CoAP is open): the answer's code. */
static int plain_report(const char *dev, const char *state) {
  it_udp_t u;
  it_coap_msg_t *resp = calloc(1, sizeof(*resp));
  char path[160];
  int code = -1;
  CU_ASSERT_PTR_NOT_NULL_FATAL(resp);
  CU_ASSERT_EQUAL_FATAL(it_udp_open(&u, srv.port), 0);
  it_req_t rq = IT_REQ(IT_POST, status_path(path, sizeof(path), dev));
  rq.content_format = 50;
  rq.payload = report(DEP, state);
  rq.payload_len = strlen(rq.payload);
  if (it_coap_request(&u, &rq, resp, 5000) == 0)
    code = IT_CODE_INT(resp->code);
  it_udp_close(&u);
  free(resp);
  return code;
}

/* Observations over DTLS are notified through libcoap's DTLS session, and
 * one whose identity is removed ends at the next change with 4.01. */
static void test_observer_notified_then_revoked(void) {
  char key[KEY_LEN + 1], url[256], path[160];
  CU_ASSERT_EQUAL_FATAL(add_identity(srv.db, "dev-obs", "device", key), 0);
  CU_ASSERT_EQUAL(plain_report("dev-obs", "Pending") / 100, 2);
  coaps_url(url, sizeof(url), psk_port, status_path(path, sizeof(path),
                                                    "dev-obs"));
  const char *argv[] = {COAP_CLIENT_OPENSSL_BIN, "-u", "dev-obs", "-k", key,
                        "-s", "30", "-A", "50", url, NULL};
  it_proc_t *p;
  CU_ASSERT_EQUAL_FATAL(it_proc_spawn(argv, NULL, 0, &p), 0);
  CU_ASSERT_TRUE(it_proc_wait_for(p, "\"state\":\"Pending\"", 10000));
  CU_ASSERT_EQUAL(plain_report("dev-obs", "Installing"), 204);
  CU_ASSERT_TRUE(it_proc_wait_for(p, "\"state\":\"Installing\"", 10000));
  it_result_t r;
  CU_ASSERT_EQUAL(
      admin(&r, srv.db, "device-remove", "--identity", "dev-obs", NULL), 0);
  it_result_free(&r);
  CU_ASSERT_EQUAL(plain_report("dev-obs", "Failed"), 204);
  /* The final 4.01 ends the observation (coap-client prints it on
   * standard error); the change itself is not shown. */
  CU_ASSERT_FALSE(it_proc_wait_for(p, "\"state\":\"Failed\"", 3000));
  it_proc_stop(p, 5000, &r);
  bool ended = r.err != NULL && strstr(r.err, "4.01") != NULL &&
               strstr(r.err, "credentials-revoked") != NULL;
  CU_ASSERT_TRUE(ended);
  CU_ASSERT_TRUE(r.out != NULL &&
                 strstr(r.out, "\"state\":\"Failed\"") == NULL);
  if (!ended)
    it_result_dump("coap-client-openssl observing", &r);
  it_result_free(&r);
}

/* ------------------------------------------------------------------------ */
/* --no-plain                                                                */

static void test_no_plain(void) {
  char db[320], port_s[8], pport_s[8], key[KEY_LEN + 1], url[256];
  uint16_t port = it_free_port(), pport = it_free_port();
  it_proc_t *p = NULL;
  it_result_t r;

  CU_ASSERT_TRUE_FATAL(port != 0 && pport != 0 && port != pport);
  snprintf(db, sizeof(db), "%s/no-plain.db", srv.dir);
  CU_ASSERT_EQUAL_FATAL(add_identity(db, "dev-n", "device", key), 0);
  snprintf(port_s, sizeof(port_s), "%u", port);
  snprintf(pport_s, sizeof(pport_s), "%u", pport);
  const char *argv[] = {
      EC_SERVER_BIN, "--bind", "127.0.0.1", "--port",     port_s, "--psk-port",
      pport_s,       "--db",   db,          "--no-plain", NULL};
  CU_ASSERT_EQUAL_FATAL(it_proc_spawn(argv, NULL, 0, &p), 0);

  /* Up when coaps:// answers; bounded. */
  int code = -1;
  uint64_t deadline = it_now_ms() + 15000;
  snprintf(url, sizeof(url), "coaps://127.0.0.1:%u/device/dev-n/deployments",
           pport);
  while (code != 205 && it_now_ms() < deadline) {
    it_cc_t cc;
    cc_dtls(&cc, "1", "dev-n", key, "-m", "get", url, NULL);
    code = it_cc_last_code(&cc);
    it_cc_free(&cc);
  }
  CU_ASSERT_EQUAL(code, 205);

  /* The plain port gets no answer at all. */
  it_udp_t u;
  it_coap_msg_t *resp = calloc(1, sizeof(*resp));
  bool opened = resp != NULL && it_udp_open(&u, port) == 0;
  CU_ASSERT_TRUE(opened);
  if (opened) {
    it_req_t rq = IT_REQ(IT_GET, ".well-known/core");
    CU_ASSERT_EQUAL(it_coap_request(&u, &rq, resp, 2500), -1);
    it_udp_close(&u);
  }
  free(resp);

  CU_ASSERT_EQUAL(it_proc_stop(p, 5000, &r), 0);
  CU_ASSERT_EQUAL(r.exit_code, 0);
  CU_ASSERT_TRUE(r.err != NULL && strstr(r.err, "listening on coaps://") &&
                 strstr(r.err, "listening on coap://") == NULL);
  it_result_free(&r);
}

/* Occurrences of @p needle in @p hay. */
static int count_of(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; p != NULL && (p = strstr(p, needle)) != NULL;
       p += strlen(needle))
    n++;
  return n;
}

/* coaps:// alone and no HTTP endpoint: the I/O loop then has nothing but
 * libcoap's sockets to wait on, and must still send the liveness checks
 * of --observe-check (a confirmable notification of an unchanged state). */
static void test_no_plain_no_http_still_checks_observers(void) {
  char db[320], port_s[8], pport_s[8], key[KEY_LEN + 1], url[256], path[160];
  uint16_t port = it_free_port(), pport = it_free_port();
  it_proc_t *srvp = NULL, *obs = NULL;
  it_result_t r;

  CU_ASSERT_TRUE_FATAL(port != 0 && pport != 0 && port != pport);
  snprintf(db, sizeof(db), "%s/no-plain-checks.db", srv.dir);
  CU_ASSERT_EQUAL_FATAL(add_identity(db, "dev-c", "device", key), 0);
  snprintf(port_s, sizeof(port_s), "%u", port);
  snprintf(pport_s, sizeof(pport_s), "%u", pport);
  const char *argv[] = {EC_SERVER_BIN, "--bind", "127.0.0.1", "--port",
                        port_s, "--psk-port", pport_s, "--db", db,
                        "--no-plain", "--http", "off", "--observe-check", "1",
                        NULL};
  CU_ASSERT_EQUAL_FATAL(it_proc_spawn(argv, NULL, 0, &srvp), 0);

  /* The device's report, over DTLS once the server is up (bounded). */
  coaps_url(url, sizeof(url), pport, status_path(path, sizeof(path), "dev-c"));
  int code = -1;
  for (uint64_t deadline = it_now_ms() + 15000;
       code != 201 && it_now_ms() < deadline;) {
    it_cc_t cc;
    cc_dtls(&cc, "2", "dev-c", key, "-m", "post", "-t", "50", "-e",
            report(DEP, "Pending"), url, NULL);
    code = it_cc_last_code(&cc);
    it_cc_free(&cc);
  }
  CU_ASSERT_EQUAL_FATAL(code, 201);

  /* Observed for 8 s while nothing changes: the first answer, then a
   * check about every second (each acknowledged by coap-client). */
  const char *oargv[] = {COAP_CLIENT_OPENSSL_BIN, "-u", "dev-c", "-k", key,
                         "-s", "8", "-A", "50", url, NULL};
  CU_ASSERT_EQUAL_FATAL(it_proc_spawn(oargv, NULL, 0, &obs), 0);
  CU_ASSERT_TRUE(it_proc_wait_for(obs, "\"state\":\"Pending\"", 10000));
  (void)it_proc_wait_for(obs, "never printed", 4000);
  /* One document per notification (the state is named twice in each). */
  int seen = count_of(it_proc_stdout(obs), "\"kind\":\"DeploymentStatus\"");
  CU_ASSERT(seen >= 2);
  it_proc_stop(obs, 5000, &r);
  if (seen < 2)
    it_result_dump("coap-client-openssl observing", &r);
  it_result_free(&r);

  CU_ASSERT_EQUAL(it_proc_stop(srvp, 5000, &r), 0);
  CU_ASSERT_EQUAL(r.exit_code, 0);
  it_result_free(&r);
}

/* ------------------------------------------------------------------------ */
/* Last: everything above left a server that stops cleanly                   */

static void test_server_stops_cleanly(void) {
  CU_ASSERT_TRUE_FATAL(it_server_running(&srv));
  CU_ASSERT_TRUE(it_server_alive(&srv, 3000));
  CU_ASSERT_EQUAL(it_server_stop(&srv), 0);
  int errors = it_server_log_count(&srv, "[ERROR]");
  if (errors != 0)
    it_server_log_tail(&srv, 60);
  CU_ASSERT_EQUAL(errors, 0);
}

/* ------------------------------------------------------------------------ */

static int suite_init(void) {
  it_init();
  psk_port = it_free_port();
  if (psk_port == 0)
    return -1;
  snprintf(psk_port_s, sizeof(psk_port_s), "%u", psk_port);
  const char *extra[] = {"--psk-port", psk_port_s, NULL};
  return it_server_start(&srv, extra) < 0 ? -1 : 0;
}

static int suite_cleanup(void) {
  return 0;
}

static const struct {
  void (*fn)(void);
  const char *name;
} tests[] = {
    {test_no_coaps_without_identities, "no_coaps_without_identities"},
    {test_admin_device_commands, "admin_device_commands"},
    {test_device_reports_over_dtls, "device_reports_over_dtls"},
    {test_wrong_key_fails, "wrong_key_fails"},
    {test_unknown_identity_fails, "unknown_identity_fails"},
    {test_device_cannot_touch_another_device,
     "device_cannot_touch_another_device"},
    {test_operator_reads_but_does_not_write,
     "operator_reads_but_does_not_write"},
    {test_plain_coap_stays_open, "plain_coap_stays_open"},
    {test_client_key_from_environment, "client_key_from_environment"},
    {test_client_key_from_file, "client_key_from_file"},
    {test_removed_identity_refused, "removed_identity_refused"},
    {test_observer_notified_then_revoked, "observer_notified_then_revoked"},
    {test_no_plain_no_http_still_checks_observers,
     "no_plain_no_http_still_checks_observers"},
    {test_no_plain, "no_plain"},
    {test_server_stops_cleanly, "server_stops_cleanly"},
};

int main(void) {
  uint64_t t0 = it_now_ms();
  if (CU_initialize_registry() != CUE_SUCCESS)
    return 2;
  CU_pSuite suite = CU_add_suite("dtls", suite_init, suite_cleanup);
  if (suite == NULL)
    goto fail;
  for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
    if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL)
      goto fail;

  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  unsigned failed = CU_get_number_of_failures() +
                    CU_get_number_of_tests_failed() +
                    CU_get_number_of_suites_failed();
  CU_cleanup_registry();
  /* Keep the server's directory (databases and log) when something failed. */
  if (it_server_cleanup(&srv, failed != 0) != 0)
    failed++;
  fprintf(stderr, "it_dtls: %s in %.1f s\n", failed ? "FAILED" : "ok",
          (double)(it_now_ms() - t0) / 1000.0);
  return failed ? 1 : 0;

fail:
  fprintf(stderr, "it_dtls: %s\n", CU_get_error_msg());
  CU_cleanup_registry();
  it_server_cleanup(&srv, true);
  return 2;
}
