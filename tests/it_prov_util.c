/* edgecoap tests: helpers shared by it_provisioning and it_login. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "it_prov_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <CUnit/CUnit.h>
#include <sqlite3.h>

static it_server_t *suite_srv;
static bool server_down;

void itp_use_server(it_server_t *s) {
  suite_srv = s;
  server_down = false;
}

bool itp_server_ok(void) {
  if (!server_down && suite_srv != NULL && !it_server_running(suite_srv))
    server_down = true;
  return !server_down;
}

it_coap_msg_t *itp_msg_new(void) {
  /* No CUnit assertion here: suite set-up runs outside any test. */
  it_coap_msg_t *m = calloc(1, sizeof(*m));
  if (m == NULL) {
    fprintf(stderr, "itp: out of memory\n");
    abort();
  }
  return m;
}

json_t *itp_parse_json(const void *body, size_t len) {
  json_error_t e;
  json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
  if (j == NULL)
    fprintf(stderr, "\nnot JSON (%s): %.*s\n", e.text,
            (int)(len > 300 ? 300 : len), (const char *)body);
  return j;
}

json_t *itp_body_json(const uint8_t *body, size_t len, int cf) {
  if (cf != EC_FORMAT_CBOR)
    return itp_parse_json(body, len);
  ssize_t n = ec_cbor_to_json(body, len, NULL, 0);
  char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (s == NULL)
    return NULL;
  ec_cbor_to_json(body, len, s, (size_t)n + 1);
  json_t *j = itp_parse_json(s, (size_t)n);
  free(s);
  return j;
}

const char *itp_jstr(const json_t *o, const char *k) {
  const json_t *v = json_object_get(o, k);
  return json_is_string(v) ? json_string_value(v) : "(absent)";
}

long long itp_jint(const json_t *o, const char *k) {
  const json_t *v = json_object_get(o, k);
  return json_is_integer(v) ? (long long)json_integer_value(v) : -999;
}

void itp_keys_of(const json_t *o, char *out, size_t cap) {
  const char *k;
  json_t *v;
  size_t n = 0;
  out[0] = '\0';
  json_object_foreach((json_t *)o, k, v) {
    int w = snprintf(out + n, cap - n, "%s%s", n ? "," : "", k);
    if (w < 0 || (size_t)w >= cap - n)
      return;
    n += (size_t)w;
  }
}

bool itp_payload_is(const it_coap_msg_t *m, const char *want) {
  return m->payload_len == strlen(want) &&
         memcmp(m->payload, want, m->payload_len) == 0;
}

int itp_raw_req(it_udp_t *u, int method, const char *path, int cf,
                const char *tok, bool raw_tok, const char *body, int observe,
                it_coap_msg_t *resp) {
  it_coap_msg_t *m = itp_msg_new();
  uint8_t tk[4], bin[EC_PROV_TOKEN_BYTES];
  it_udp_token(u, tk);
  it_coap_init(m, IT_CON, method, it_udp_mid(u), tk, sizeof(tk));
  if (observe >= 0)
    it_coap_add_uint(m, IT_OPT_OBSERVE, (uint32_t)observe);
  it_coap_add_path(m, path);
  if (cf >= 0)
    it_coap_add_uint(m, IT_OPT_CONTENT_FORMAT, (uint32_t)cf);
  if (tok != NULL && raw_tok) {
    ec_prov_token_read((const uint8_t *)tok, strlen(tok), bin);
    it_coap_add_opt(m, EC_PROV_AUTH_OPTION, bin, sizeof(bin));
  } else if (tok != NULL) {
    it_coap_add_opt(m, EC_PROV_AUTH_OPTION, tok, strlen(tok));
  }
  if (body != NULL)
    it_coap_set_payload(m, body, strlen(body));
  int rc =
      itp_server_ok() ? it_coap_exchange(u, m, resp, ITP_RAW_TIMEOUT_MS) : -1;
  if (rc < 0 && suite_srv != NULL && !it_server_alive(suite_srv, 1000))
    server_down = true;
  free(m);
  return rc;
}

int itp_lib_req(ec_client_t *c, const char *method, const char *path,
                const char *tok, int cf, const void *body, size_t len,
                json_t **out) {
  ec_response_t r;
  *out = NULL;
  if (tok != NULL)
    ec_client_use_token(c, tok);
  else
    ec_client_set_auth_token(c, NULL, 0);
  if (!itp_server_ok() ||
      ec_client_request(c, method, path, cf, body, len, &r) < 0) {
    CU_FAIL("no answer from the server");
    return -1;
  }
  if (r.body_len > 0)
    *out = itp_body_json(r.body, r.body_len, r.format);
  return r.code;
}

int itp_run(it_result_t *r, bool expect_ok, const void *in, size_t in_len,
            const char *const *argv) {
  int rc = it_run(argv, in, in_len, ITP_CLI_TIMEOUT_MS, r);
  if ((rc == 0) != expect_ok)
    it_result_dump(argv[0], r);
  return rc;
}

int itp_import(const char *db, const char *file, it_result_t *r,
               bool expect_ok) {
  const char *argv[] = {EC_SERVER_BIN, "admin", "import", "--db", db,
                        file,          NULL};
  return itp_run(r, expect_ok, NULL, 0, argv);
}

int itp_start_server(it_server_t *s, const char *const *extra) {
  it_result_t r;
  if (it_server_start(s, extra) < 0)
    return -1;
  int rc = itp_import(s->db, ITP_CATALOG, &r, true);
  it_result_free(&r);
  return rc;
}

long long itp_count_rows(const char *db, const char *sql) {
  sqlite3 *h = NULL;
  sqlite3_stmt *st = NULL;
  long long n = -1;
  if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
      sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(h);
  return n;
}

int itp_login_raw(it_udp_t *u, const char *user, const char *pw,
                  char tok[EC_PROV_TOKEN_HEX + 1], json_t **doc) {
  char body[256];
  snprintf(body, sizeof(body), "{\"username\":\"%s\",\"password\":\"%s\"}",
           user, pw);
  it_coap_msg_t *resp = itp_msg_new();
  int code = -1;
  if (doc != NULL)
    *doc = NULL;
  if (itp_raw_req(u, IT_POST, ITP_LOGIN, EC_FORMAT_JSON, NULL, false, body, -1,
                  resp) == 0) {
    code = IT_CODE_INT(resp->code);
    json_t *j = itp_parse_json(resp->payload, resp->payload_len);
    if (tok != NULL && json_is_string(json_object_get(j, "token")))
      snprintf(tok, EC_PROV_TOKEN_HEX + 1, "%s", itp_jstr(j, "token"));
    if (doc != NULL)
      *doc = j;
    else
      json_decref(j);
  }
  free(resp);
  return code;
}

void itp_check_recent_datetime(const char *dt) {
  int64_t t;
  long long now = (long long)time(NULL);
  CU_ASSERT_EQUAL_FATAL(ec_prov_datetime_parse(dt, strlen(dt), &t), 0);
  CU_ASSERT(t >= now - 10 && t <= now + 2);
}

void itp_ack_con(it_udp_t *u, const it_coap_msg_t *m) {
  if (m->type != IT_CON)
    return;
  it_coap_msg_t ack;
  uint8_t d[16];
  it_coap_init(&ack, IT_ACK, 0, m->mid, NULL, 0);
  ssize_t n = it_coap_encode(&ack, d, sizeof(d));
  if (n > 0)
    it_udp_send(u, d, (size_t)n);
}

json_t *itp_next_notification(it_udp_t *u, unsigned ms) {
  it_coap_msg_t *m = itp_msg_new();
  json_t *j = NULL;
  uint64_t end = it_now_ms() + ms;
  while (j == NULL && it_now_ms() < end) {
    if (it_udp_recv_msg(u, m, (unsigned)(end - it_now_ms())) < 0)
      break;
    itp_ack_con(u, m);
    if (IT_CODE_INT(m->code) == 205 && it_coap_opt_count(m, IT_OPT_OBSERVE))
      j = itp_body_json(m->payload, m->payload_len,
                        (int)it_coap_opt_uint(m, IT_OPT_CONTENT_FORMAT, 50));
  }
  free(m);
  return j;
}

char *itp_snapshot(ec_client_t *c, const char *tok) {
  json_t *j;
  int code = itp_lib_req(c, "GET", "/" ITP_COMPONENTS, tok, -1, NULL, 0, &j);
  char *s = code == 205 ? json_dumps(j, JSON_COMPACT) : strdup("none");
  json_decref(j);
  return s;
}
