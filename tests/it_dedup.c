/* edgecoap: remembered answers go back only to true retransmissions. */
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
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <jansson.h>

#include "it_prov_util.h"
#include "suite.h"

/*
 * The server remembers the answers to confirmable writes and logins so that
 * a retransmission is answered again and not applied twice (API.md section
 * 1). A remembered answer must go back only for a true retransmission: the
 * same security context (plain, or the same DTLS identity), the same token
 * and the same content. These tests are the attacks and accidents that an
 * answer keyed by address, port and Message ID alone let through:
 *
 * - an operator logs in over DTLS from a fixed port; a plain-CoAP peer on
 *   the same address and port sends requests with that Message ID (and
 *   probes the IDs around it): it must never get the operator's token;
 * - a device writes over DTLS; the same Message ID from its address and
 *   port over plain CoAP is another peer's request, applied on its own;
 * - a peer reuses a Message ID with another body (a device that restarted):
 *   that is a new request, applied and stored, for each of the three APIs;
 * - an identical retransmission is still answered from memory, stored once.
 *
 * The suite's server serves coap:// and coaps:// (--dtls) with the catalog
 * of tests/data/provisioning-catalog.json; the DTLS peer is libcoap's
 * coap-client-openssl bound to a fixed local port (-p), and the plain peer
 * a raw UDP socket bound to that same port afterwards.
 */

#ifndef COAP_CLIENT_OPENSSL_BIN
#error "COAP_CLIENT_OPENSSL_BIN must name libcoap's coap-client-openssl"
#endif

#define DEP "dedc0de0-1111-4222-8333-444455556666"
#define RUN_TIMEOUT_MS 20000
#define KEY_LEN 64
/* Message IDs either side of the operator's that the plain peer probes. */
#define PROBE_SPAN 64

static it_server_t srv;
static uint16_t psk_port;
static char key_op[KEY_LEN + 1], key_dev[KEY_LEN + 1];
static char admin_tok[EC_PROV_TOKEN_HEX + 1];

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

/* A raw socket bound to 127.0.0.1:@p local, sending to the plain port. */
static int udp_from(it_udp_t *u, uint16_t local) {
  if (it_udp_open(u, srv.port) < 0)
    return -1;
  /* it_udp_open connected an ephemeral socket: make one on @p local. */
  close(u->fd);
  u->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int one = 1;
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(local);
  if (u->fd < 0 ||
      setsockopt(u->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
      bind(u->fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
    perror("it_dedup: bind");
    it_udp_close(u);
    return -1;
  }
  a.sin_port = htons(srv.port);
  if (connect(u->fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
    perror("it_dedup: connect");
    it_udp_close(u);
    return -1;
  }
  return 0;
}

/* `edgecoap-server admin device-add` on the suite's database. */
static int add_identity(const char *identity, const char *role,
                        char key[KEY_LEN + 1]) {
  const char *argv[] = {EC_SERVER_BIN, "admin",  "device-add", "--identity",
                        identity,      "--role", role,         "--db",
                        srv.db,        NULL};
  it_result_t r;
  int rc = itp_run(&r, true, NULL, 0, argv);
  if (rc == 0 && r.out != NULL && strlen(r.out) == KEY_LEN + 1) {
    memcpy(key, r.out, KEY_LEN);
    key[KEY_LEN] = '\0';
  } else {
    rc = -1;
  }
  it_result_free(&r);
  return rc;
}

/* What one coap-client-openssl run sent and got. */
typedef struct {
  int code;           /* the last answer's code, or -1 */
  uint16_t mid;       /* of the request it sent */
  uint8_t token[8];   /* of that request */
  size_t token_len;
  char *body;         /* the answer's body (-o), malloc'd */
} dtls_run_t;

/* Read "v:1 t:CON c:POST i:1f7d {61626365} ..." (libcoap's -v 6 lines). */
static void scan_run(const char *out, dtls_run_t *d) {
  for (const char *line = out; line && *line;) {
    const char *end = strchr(line, '\n');
    unsigned mid;
    char tok[40];
    if (strncmp(line, "v:1 t:CON c:P", 13) == 0 &&
        sscanf(strstr(line, " i:") ? strstr(line, " i:") : "", " i:%x {%39[0-9a-fA-F]}",
               &mid, tok) == 2) {
      d->mid = (uint16_t)mid;
      d->token_len = strlen(tok) / 2;
      for (size_t i = 0; i < d->token_len && i < sizeof(d->token); i++) {
        unsigned b;
        sscanf(tok + 2 * i, "%2x", &b);
        d->token[i] = (uint8_t)b;
      }
    }
    const char *c = strstr(line, " c:");
    unsigned cls, det;
    if (strncmp(line, "v:1 t:", 6) == 0 && c && (!end || c < end) &&
        sscanf(c + 3, "%1u.%2u", &cls, &det) == 2 && cls >= 2 && cls <= 5)
      d->code = (int)(cls * 100 + det);
    line = end ? end + 1 : NULL;
  }
}

/* coap-client-openssl from 127.0.0.1:@p local as @p identity: one
 * @p method of @p json to coaps://.../@p path. */
static void dtls_request(dtls_run_t *d, uint16_t local, const char *identity,
                         const char *key, const char *method,
                         const char *path, const char *json) {
  char tmpl[] = "/tmp/it-dedup-XXXXXX", url[256], lp[8];
  memset(d, 0, sizeof(*d));
  d->code = -1;
  int fd = mkstemp(tmpl);
  CU_ASSERT_TRUE_FATAL(fd >= 0);
  close(fd);
  snprintf(url, sizeof(url), "coaps://127.0.0.1:%u/%s", psk_port, path);
  snprintf(lp, sizeof(lp), "%u", local);
  const char *argv[] = {COAP_CLIENT_OPENSSL_BIN,
                        "-v", "6", "-B", "10", "-o", tmpl, "-p", lp, "-u",
                        identity, "-k", key, "-m", method, "-t", "50", "-e",
                        json, url, NULL};
  it_result_t r;
  (void)it_run(argv, NULL, 0, RUN_TIMEOUT_MS, &r);
  scan_run(r.out, d);
  if (d->code < 0 || d->token_len == 0)
    it_result_dump("coap-client-openssl", &r);
  it_result_free(&r);
  uint8_t *body = NULL;
  size_t len = 0;
  if (it_read_file(tmpl, &body, &len) == 0)
    d->body = (char *)body;
  unlink(tmpl);
}

/* A CON request with a chosen Message ID and token on @p u. */
static int raw(it_udp_t *u, int method, uint16_t mid, const uint8_t *tok,
               size_t tok_len, const char *path, const char *auth,
               const char *body, it_coap_msg_t *resp) {
  it_coap_msg_t *m = itp_msg_new();
  uint8_t dgram[IT_COAP_MAX_DGRAM];
  it_coap_init(m, IT_CON, method, mid, tok, tok_len);
  it_coap_add_path(m, path);
  it_coap_add_uint(m, IT_OPT_CONTENT_FORMAT, EC_FORMAT_JSON);
  if (auth != NULL)
    it_coap_add_opt(m, EC_PROV_AUTH_OPTION, auth, strlen(auth));
  if (body != NULL)
    it_coap_set_payload(m, body, strlen(body));
  ssize_t n = it_coap_encode(m, dgram, sizeof(dgram));
  free(m);
  if (n < 0)
    return -1;
  return it_coap_exchange_raw(u, dgram, (size_t)n, resp, ITP_RAW_TIMEOUT_MS);
}

static bool payload_has(const it_coap_msg_t *m, const char *needle) {
  size_t n = strlen(needle);
  for (size_t i = 0; i + n <= m->payload_len; i++)
    if (memcmp(m->payload + i, needle, n) == 0)
      return true;
  return false;
}

static const char *report(const char *dev, const char *state) {
  static char buf[512];
  return it_report(buf, sizeof(buf), DEP, state, dev, state);
}

static const char *status_path(char *out, size_t cap, const char *dev,
                               const char *tail) {
  snprintf(out, cap, "device/%s/deployment/%s/status%s", dev, DEP, tail);
  return out;
}

/* GET @p path in JSON (block-wise); NULL unless 2.05. */
static json_t *get_json(const char *path) {
  it_udp_t u;
  it_body_t b;
  json_t *j = NULL;
  if (it_udp_open(&u, srv.port) < 0 || it_udp_verify(&u) < 0)
    return NULL;
  if (it_coap_get_blockwise(&u, path, EC_FORMAT_JSON, 1024, 200, &b,
                            ITP_RAW_TIMEOUT_MS) == 0) {
    if (b.code == IT_CODE(2, 5))
      j = itp_parse_json(b.body, b.len);
    free(b.body);
  }
  it_udp_close(&u);
  return j;
}

/* The states of a status's history, oldest first, joined with ','. */
static void history_states(const char *dev, char *out, size_t cap) {
  char path[256];
  out[0] = '\0';
  json_t *j = get_json(status_path(path, sizeof(path), dev, "/history"));
  size_t i, at = 0;
  json_t *e;
  json_array_foreach(json_object_get(j, "reports"), i, e) {
    const char *s = itp_jstr(
        json_object_get(json_object_get(e, "report"), "status"), "state");
    at += (size_t)snprintf(out + at, cap > at ? cap - at : 0, "%s%s",
                           i ? "," : "", s);
  }
  json_decref(j);
}

static const char *current_state(const char *dev) {
  static char state[64];
  char path[256];
  json_t *j = get_json(status_path(path, sizeof(path), dev, ""));
  snprintf(state, sizeof(state), "%s",
           itp_jstr(json_object_get(j, "status"), "state"));
  json_decref(j);
  return state;
}

/* ------------------------------------------------------------------------ */
/* Another security context never gets a remembered answer                   */

static void test_dtls_login_is_not_replayed_to_plain(void) {
  static const char login[] =
      "{\"username\":\"admin\",\"password\":\"" ITP_ADMIN_PW "\"}";
  uint16_t local = it_free_port();
  dtls_run_t d;
  CU_ASSERT_TRUE_FATAL(local != 0);
  dtls_request(&d, local, "op1", key_op, "post", ITP_LOGIN, login);
  CU_ASSERT_EQUAL_FATAL(d.code, 201);
  CU_ASSERT_TRUE_FATAL(d.token_len > 0);
  json_t *doc = itp_parse_json(d.body, d.body ? strlen(d.body) : 0);
  char token[EC_PROV_TOKEN_HEX + 1];
  snprintf(token, sizeof(token), "%s", itp_jstr(doc, "token"));
  json_decref(doc);
  free(d.body);
  CU_ASSERT_EQUAL_FATAL(strlen(token), EC_PROV_TOKEN_HEX);

  /* The plain peer, on the operator's address and port. */
  it_udp_t u;
  it_coap_msg_t *r = itp_msg_new();
  CU_ASSERT_EQUAL_FATAL(udp_from(&u, local), 0);
  /* The plain peer can answer an Echo challenge (it is on the address):
   * verified, it is refused for what it sends, not for being unverified. */
  CU_ASSERT_EQUAL_FATAL(it_udp_verify(&u), 0);
  /* Its Message ID and token, without credentials: a new request, refused. */
  CU_ASSERT_EQUAL(
      raw(&u, IT_POST, d.mid, d.token, d.token_len, ITP_LOGIN, NULL, "{}", r),
      0);
  CU_ASSERT_NOT_EQUAL(IT_CODE_INT(r->code), 201);
  CU_ASSERT_FALSE(payload_has(r, token));
  /* The Message IDs around it, with and without its token. */
  int leaks = 0, successes = 0;
  for (int k = -PROBE_SPAN; k <= PROBE_SPAN; k++) {
    uint8_t tok[4];
    it_udp_token(&u, tok);
    bool same_tok = k % 2 == 0;
    if (raw(&u, IT_POST, (uint16_t)(d.mid + k), same_tok ? d.token : tok,
            same_tok ? d.token_len : sizeof(tok), ITP_LOGIN, NULL, NULL,
            r) < 0)
      continue;
    leaks += payload_has(r, token);
    successes += IT_CODE_INT(r->code) == 201;
  }
  CU_ASSERT_EQUAL(leaks, 0);
  CU_ASSERT_EQUAL(successes, 0);
  /* Even the operator's very request, credentials and all, over plain CoAP
   * is not answered with the DTLS answer: it is a login of its own. */
  CU_ASSERT_EQUAL(raw(&u, IT_POST, d.mid, d.token, d.token_len, ITP_LOGIN,
                      NULL, login, r),
                  0);
  CU_ASSERT_EQUAL(IT_CODE_INT(r->code), 201);
  CU_ASSERT_FALSE(payload_has(r, token));
  it_udp_close(&u);
  free(r);
}

static void test_dtls_write_is_not_replayed_to_plain(void) {
  char path[256], states[256];
  uint16_t local = it_free_port();
  dtls_run_t d;
  CU_ASSERT_TRUE_FATAL(local != 0);
  status_path(path, sizeof(path), "dev-r", "");
  dtls_request(&d, local, "dev-r", key_dev, "post", path,
               report("dev-r", "Pending"));
  CU_ASSERT_EQUAL(d.code, 201);
  free(d.body);
  dtls_request(&d, local, "dev-r", key_dev, "put", path,
               report("dev-r", "Installing"));
  CU_ASSERT_EQUAL_FATAL(d.code, 204);
  free(d.body);

  /* The same Message ID and token from that address and port over plain
   * CoAP, with another report: another peer's request, applied. */
  it_udp_t u;
  it_coap_msg_t *r = itp_msg_new();
  CU_ASSERT_EQUAL_FATAL(udp_from(&u, local), 0);
  CU_ASSERT_EQUAL(raw(&u, IT_PUT, d.mid, d.token, d.token_len, path, NULL,
                      report("dev-r", "Failed"), r),
                  0);
  CU_ASSERT_EQUAL(IT_CODE_INT(r->code), 204);
  CU_ASSERT_TRUE(payload_has(r, "Failed"));
  history_states("dev-r", states, sizeof(states));
  CU_ASSERT_STRING_EQUAL(states, "Pending,Installing,Failed");
  CU_ASSERT_STRING_EQUAL(current_state("dev-r"), "Failed");
  it_udp_close(&u);
  free(r);
}

/* ------------------------------------------------------------------------ */
/* A Message ID reused with other content is a new request                   */

static void test_reused_mid_new_report_is_stored(void) {
  char path[256], states[256];
  it_udp_t u;
  it_coap_msg_t *r = itp_msg_new();
  uint8_t tok[4], tok2[4];
  CU_ASSERT_EQUAL_FATAL(it_udp_open(&u, srv.port), 0);
  /* Plain CoAP answers large ones only to a verified address. */
  CU_ASSERT_EQUAL_FATAL(it_udp_verify(&u), 0);
  it_udp_token(&u, tok);
  it_udp_token(&u, tok2);
  uint16_t mid = it_udp_mid(&u);
  status_path(path, sizeof(path), "dev-m", "");

  CU_ASSERT_EQUAL(raw(&u, IT_POST, mid, tok, 4, path, NULL,
                      report("dev-m", "Pending"), r),
                  0);
  CU_ASSERT_EQUAL(IT_CODE_INT(r->code), 201);
  /* Same Message ID and token, another body (a device that restarted). */
  CU_ASSERT_EQUAL(raw(&u, IT_POST, mid, tok, 4, path, NULL,
                      report("dev-m", "Installing"), r),
                  0);
  CU_ASSERT_EQUAL(IT_CODE_INT(r->code), 204);
  CU_ASSERT_TRUE(payload_has(r, "Installing"));
  /* Same Message ID and body, another token: a new request too. */
  CU_ASSERT_EQUAL(raw(&u, IT_POST, mid, tok2, 4, path, NULL,
                      report("dev-m", "Installing"), r),
                  0);
  CU_ASSERT_EQUAL(IT_CODE_INT(r->code), 204);
  /* Same Message ID, another method (PUT): new as well. */
  CU_ASSERT_EQUAL(raw(&u, IT_PUT, mid, tok, 4, path, NULL,
                      report("dev-m", "Installing"), r),
                  0);
  CU_ASSERT_EQUAL(IT_CODE_INT(r->code), 204);
  history_states("dev-m", states, sizeof(states));
  CU_ASSERT_STRING_EQUAL(states, "Pending,Installing,Installing,Installing");

  /* The identical datagram again is a retransmission: answered, not
   * stored again. */
  CU_ASSERT_EQUAL(raw(&u, IT_PUT, mid, tok, 4, path, NULL,
                      report("dev-m", "Installing"), r),
                  0);
  CU_ASSERT_EQUAL(IT_CODE_INT(r->code), 204);
  history_states("dev-m", states, sizeof(states));
  CU_ASSERT_STRING_EQUAL(states, "Pending,Installing,Installing,Installing");
  CU_ASSERT_STRING_EQUAL(current_state("dev-m"), "Installing");
  it_udp_close(&u);
  free(r);
}

/* The server keeps at most --max-idle-resources status resources (4 here)
 * and makes an evicted one again on demand; a retransmission that arrives
 * after its status was evicted is still the same request, answered from
 * memory and not stored twice. */
static void test_retransmission_after_eviction_is_not_reapplied(void) {
  char path[256], states[256];
  it_udp_t u;
  it_coap_msg_t *r = itp_msg_new();
  uint8_t tok[4];
  CU_ASSERT_EQUAL_FATAL(it_udp_open(&u, srv.port), 0);
  CU_ASSERT_EQUAL_FATAL(it_udp_verify(&u), 0);
  it_udp_token(&u, tok);
  uint16_t mid = it_udp_mid(&u);
  status_path(path, sizeof(path), "dev-ev", "");
  CU_ASSERT_EQUAL(raw(&u, IT_POST, mid, tok, 4, path, NULL,
                      report("dev-ev", "Installing"), r),
                  0);
  CU_ASSERT_EQUAL(IT_CODE_INT(r->code), 201);

  /* Reports of ten other devices evict dev-ev's resource. */
  int evicted = it_server_log_count(&srv, "resource evicted");
  for (int i = 0; i < 10; i++) {
    char dev[32], other[256];
    uint8_t t2[4];
    snprintf(dev, sizeof(dev), "dev-ev-%d", i);
    it_udp_token(&u, t2);
    CU_ASSERT_EQUAL(raw(&u, IT_POST, it_udp_mid(&u), t2, 4,
                        status_path(other, sizeof(other), dev, ""), NULL,
                        report(dev, "Pending"), r),
                    0);
    CU_ASSERT_EQUAL(IT_CODE_INT(r->code), 201);
  }
  CU_ASSERT_TRUE(it_server_log_count(&srv, "resource evicted") > evicted);

  /* The first request again, byte for byte. */
  CU_ASSERT_EQUAL(raw(&u, IT_POST, mid, tok, 4, path, NULL,
                      report("dev-ev", "Installing"), r),
                  0);
  CU_ASSERT_EQUAL(IT_CODE_INT(r->code), 201);
  CU_ASSERT_TRUE(payload_has(r, "Installing"));
  history_states("dev-ev", states, sizeof(states));
  CU_ASSERT_STRING_EQUAL(states, "Installing");
  it_udp_close(&u);
  free(r);
}

static void test_reused_mid_new_message_is_stored(void) {
  it_udp_t u;
  it_coap_msg_t *r = itp_msg_new();
  uint8_t tok[4];
  CU_ASSERT_EQUAL_FATAL(it_udp_open(&u, srv.port), 0);
  /* Plain CoAP answers large ones only to a verified address. */
  CU_ASSERT_EQUAL_FATAL(it_udp_verify(&u), 0);
  it_udp_token(&u, tok);
  uint16_t mid = it_udp_mid(&u);
  CU_ASSERT_EQUAL(raw(&u, IT_POST, mid, tok, 4, "api/2.3/statusmessages",
                      NULL, "{\"messageCode\":101,\"orderId\":\"dedup-1\"}", r),
                  0);
  CU_ASSERT_EQUAL(IT_CODE_INT(r->code), 201);
  CU_ASSERT_EQUAL(raw(&u, IT_POST, mid, tok, 4, "api/2.3/statusmessages",
                      NULL, "{\"messageCode\":102,\"orderId\":\"dedup-2\"}", r),
                  0);
  CU_ASSERT_EQUAL(IT_CODE_INT(r->code), 201);
  CU_ASSERT_TRUE(payload_has(r, "dedup-2"));
  const char *const orders[] = {"dedup-1", "dedup-2"};
  for (int i = 0; i < 2; i++) {
    char path[128];
    snprintf(path, sizeof(path), "api/2.3/statusmessages?orderId=%s",
             orders[i]);
    json_t *j = get_json(path);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "StatusMessages")), 1);
    json_decref(j);
  }
  it_udp_close(&u);
  free(r);
}

static void test_reused_mid_new_component_is_stored(void) {
  it_udp_t u;
  it_coap_msg_t *r = itp_msg_new();
  uint8_t tok[4];
  CU_ASSERT_EQUAL_FATAL(it_udp_open(&u, srv.port), 0);
  /* Plain CoAP answers large ones only to a verified address. */
  CU_ASSERT_EQUAL_FATAL(it_udp_verify(&u), 0);
  it_udp_token(&u, tok);
  uint16_t mid = it_udp_mid(&u);
  for (int id = 1; id <= 2; id++) {
    char body[160];
    snprintf(body, sizeof(body),
             "{\"action\":\"insert\",\"provisioning_id\":11,"
             "\"component_type\":0,\"component_id\":[%d]}",
             id);
    CU_ASSERT_EQUAL(
        raw(&u, IT_POST, mid, tok, 4, ITP_COMPONENTS, admin_tok, body, r), 0);
    CU_ASSERT_EQUAL(IT_CODE_INT(r->code), 201);
  }
  CU_ASSERT_EQUAL(itp_count_rows(srv.db,
                                 "SELECT count(*) FROM prov_components WHERE "
                                 "provisioning_id = 11"),
                  2);
  it_udp_close(&u);
  free(r);
}

/* ------------------------------------------------------------------------ */
/* Set-up                                                                    */

static int suite_init(void) {
  it_init();
  psk_port = it_free_port();
  char pport[8];
  snprintf(pport, sizeof(pport), "%u", psk_port);
  const char *extra[] = {"--dtls", "--psk-port", pport,
                         "--max-idle-resources", "4", NULL};
  itp_use_server(&srv);
  if (psk_port == 0 || itp_start_server(&srv, extra) < 0 ||
      add_identity("op1", "operator", key_op) < 0 ||
      add_identity("dev-r", "device", key_dev) < 0)
    return -1;
  it_udp_t u;
  if (it_udp_open(&u, srv.port) < 0 || it_udp_verify(&u) < 0)
    return -1;
  int code = itp_login_raw(&u, "admin", ITP_ADMIN_PW, admin_tok, NULL);
  it_udp_close(&u);
  return code == 201 ? 0 : -1;
}

static const ec_test_t tests[] = {
    {test_dtls_login_is_not_replayed_to_plain,
     "dtls_login_is_not_replayed_to_plain"},
    {test_dtls_write_is_not_replayed_to_plain,
     "dtls_write_is_not_replayed_to_plain"},
    {test_reused_mid_new_report_is_stored, "reused_mid_new_report_is_stored"},
    {test_retransmission_after_eviction_is_not_reapplied,
     "retransmission_after_eviction_is_not_reapplied"},
    {test_reused_mid_new_message_is_stored,
     "reused_mid_new_message_is_stored"},
    {test_reused_mid_new_component_is_stored,
     "reused_mid_new_component_is_stored"},
};

int main(void) {
  static const ec_test_after_t after = {it_after_run, &srv, "it_dedup"};
  return ec_test_main("dedup", tests, EC_TEST_COUNT(tests), suite_init, NULL,
                      &after);
}
