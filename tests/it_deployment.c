/* edgecoap: deployment-status integration tests against the real server. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <jansson.h>

#include "edgecoap/codec.h"
#include "edgecoap/deployment.h"
#include "it_deployment.h"
#include "itest.h"
#include "suite.h"

/*
 * One server serves the whole suite; tests use their own devices and
 * deployments so that each one's expectations (2.01 versus 2.04, history
 * lengths) do not depend on what the others did. Test 8 restarts it.
 */


it_server_t srv;
it_udp_t udp; /* the raw client's socket, reopened after a restart */
/* Set once the server has ended or stopped answering, so that the remaining
 * checks fail at once instead of each waiting out its timeout. */
static bool server_down;

bool server_ok(void) {
  if (!server_down && !it_server_running(&srv))
    server_down = true;
  return !server_down;
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

static bool open_udp(void) {
  it_udp_close(&udp);
  return it_udp_open(&udp, srv.port) == 0;
}

char *status_path(char *out, size_t cap, const char *dev,
                  const char *dep, const char *tail) {
  snprintf(out, cap, "device/%s/deployment/%s/status%s", dev, dep, tail);
  return out;
}

char *url_of(char *out, size_t cap, const char *path) {
  snprintf(out, cap, "%s/%s", srv.url, path);
  return out;
}

/* A raw CON request on the suite's socket; the answer in *resp. */
int raw(int method, const char *path, int cf, int accept,
        const void *body, size_t len, it_coap_msg_t *resp) {
  it_req_t rq = IT_REQ(method, path);
  rq.content_format = cf;
  rq.accept = accept;
  rq.payload = body;
  rq.payload_len = len;
  if (!server_ok())
    return -1;
  int rc = it_coap_request(&udp, &rq, resp, RAW_TIMEOUT_MS);
  if (rc < 0 && !it_server_alive(&srv, 1000))
    server_down = true;
  return rc;
}

/* Block-wise uploads and reads on the suite's socket, failing at once when
 * the server is gone. */
int put_blocks(const char *path, const uint8_t *data, size_t len,
               bool size1, it_coap_msg_t *resp, int *sent) {
  *sent = 0;
  if (!server_ok())
    return -1;
  int rc = it_coap_put_blockwise(&udp, IT_POST, path, EC_FORMAT_JSON, data, len,
                                 1024, size1, resp, sent, 10000);
  if (rc < 0 && !it_server_alive(&srv, 1000))
    server_down = true;
  return rc;
}

static int get_blocks(const char *path, int accept, unsigned size,
                      it_body_t *b) {
  memset(b, 0, sizeof(*b));
  if (!server_ok())
    return -1;
  int rc = it_coap_get_blockwise(&udp, path, accept, size, 1000, b, 10000);
  if (rc < 0 && !it_server_alive(&srv, 1000))
    server_down = true;
  return rc;
}

/* Allocated on the heap: a message carries its 6 KiB of buffers. */
it_coap_msg_t *msg_new(void) {
  it_coap_msg_t *m = calloc(1, sizeof(*m));
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  return m;
}

static int cf_of(const it_coap_msg_t *m) {
  size_t len;
  if (it_coap_opt(m, IT_OPT_CONTENT_FORMAT, 0, &len) == NULL)
    return -1;
  return (int)it_coap_opt_uint(m, IT_OPT_CONTENT_FORMAT, 0);
}

/* A report as compact JSON; the caller frees it. Components are named
 * "c0", "c1"... unless @p name_pad makes their names long. */
char *report_json(const char *dep, const char *state, int n_comp,
                  const char *comp_state, int name_pad, int msg_len) {
  json_t *doc = json_pack("{s:s, s:s, s:s, s:{s:s}}", "apiVersion",
                          "deployment.margo/v1", "kind", "DeploymentStatus",
                          "deploymentId", dep, "status", "state", state);
  json_t *comps = json_array();
  char name[1100], msg[1100];
  for (int i = 0; i < n_comp; i++) {
    snprintf(name, sizeof(name), "c%d", i);
    if (name_pad > 0) {
      size_t n = strlen(name);
      name[n++] = '-';
      for (int k = 0; k < name_pad && n < sizeof(name) - 1; k++)
        name[n++] = (char)('a' + (i + k) % 26);
      name[n] = '\0';
    }
    json_t *c = json_pack("{s:s, s:s}", "name", name, "state", comp_state);
    if (msg_len > 0) {
      int k;
      for (k = 0; k < msg_len && k < (int)sizeof(msg) - 1; k++)
        msg[k] = (char)('A' + (i * 7 + k) % 26);
      msg[k] = '\0';
      char code[16];
      snprintf(code, sizeof(code), "E%04d", i);
      json_object_set_new(
          c, "error", json_pack("{s:s, s:s}", "code", code, "message", msg));
    }
    json_array_append_new(comps, c);
  }
  json_object_set_new(doc, "components", comps);
  char *s = json_dumps(doc, JSON_COMPACT);
  json_decref(doc);
  CU_ASSERT_PTR_NOT_NULL_FATAL(s);
  return s;
}

/* POST a JSON report with the raw client and return the answer's code. */
static int post_json(const char *dev, const char *dep, const char *json) {
  char path[256];
  it_coap_msg_t *resp = msg_new();
  int code = -1;
  status_path(path, sizeof(path), dev, dep, "");
  if (raw(IT_POST, path, EC_FORMAT_JSON, -1, json, strlen(json), resp) == 0)
    code = IT_CODE_INT(resp->code);
  free(resp);
  return code;
}

static int post_state(const char *dev, const char *dep, const char *state) {
  char *json = report_json(dep, state, 2, state, 0, 0);
  int code = post_json(dev, dep, json);
  free(json);
  return code;
}

/* Parse a body as a JSON object; NULL (and a printed reason) if it is not. */
static json_t *parse_json(const void *body, size_t len) {
  json_error_t e;
  json_t *j = json_loadb(body, len, 0, &e);
  if (j == NULL)
    fprintf(stderr, "\nnot JSON (%s at %d): %.*s\n", e.text, e.position,
            (int)(len > 400 ? 400 : len), (const char *)body);
  else if (!json_is_object(j)) {
    json_decref(j);
    j = NULL;
  }
  return j;
}

static const char *jstr(const json_t *obj, const char *key) {
  const json_t *v = json_object_get(obj, key);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The latest report as JSON via a raw GET; NULL unless 2.05. */
json_t *get_json(const char *dev, const char *dep) {
  char path[256];
  it_coap_msg_t *resp = msg_new();
  json_t *j = NULL;
  status_path(path, sizeof(path), dev, dep, "");
  if (raw(IT_GET, path, -1, EC_FORMAT_JSON, NULL, 0, resp) == 0 &&
      resp->code == IT_CODE(2, 5))
    j = parse_json(resp->payload, resp->payload_len);
  free(resp);
  return j;
}

int history_len(const char *dev, const char *dep) {
  char path[256];
  it_coap_msg_t *resp = msg_new();
  int n = -1;
  status_path(path, sizeof(path), dev, dep, "/history");
  if (raw(IT_GET, path, -1, EC_FORMAT_JSON, NULL, 0, resp) == 0 &&
      resp->code == IT_CODE(2, 5)) {
    json_t *j = parse_json(resp->payload, resp->payload_len);
    json_t *reports = json_object_get(j, "reports");
    if (json_is_array(reports))
      n = (int)json_array_size(reports);
    json_decref(j);
  }
  free(resp);
  return n;
}

/* Run edgecoap-client against the server with these arguments. */
static int vcli(it_result_t *r, bool expect_ok, va_list ap) {
  const char *argv[24];
  int n = 0;
  argv[n++] = EC_CLIENT_BIN;
  argv[n++] = "--url";
  argv[n++] = srv.url;
  argv[n++] = "--timeout";
  argv[n++] = "5000";
  const char *a;
  while ((a = va_arg(ap, const char *)) != NULL && n < 23)
    argv[n++] = a;
  argv[n] = NULL;
  if (!server_ok()) {
    memset(r, 0, sizeof(*r));
    r->exit_code = -1;
    return -1;
  }
  int rc = it_run(argv, NULL, 0, CLI_TIMEOUT_MS, r);
  if ((rc == 0) != expect_ok)
    it_result_dump("edgecoap-client", r);
  return rc;
}

/* A command that should succeed; its output is shown if it does not. */
static int cli(it_result_t *r, ...) {
  va_list ap;
  va_start(ap, r);
  int rc = vcli(r, true, ap);
  va_end(ap);
  return rc;
}

/* A command that should fail; its output is shown if it does not. */
static int cli_refused(it_result_t *r, ...) {
  va_list ap;
  va_start(ap, r);
  int rc = vcli(r, false, ap);
  va_end(ap);
  return rc;
}

/* coap-client with "-v 6 -B 10 -o FILE" and these arguments. */
int coap_client(it_cc_t *cc, ...) {
  const char *args[24];
  int n = 0;
  va_list ap;
  va_start(ap, cc);
  const char *a;
  while ((a = va_arg(ap, const char *)) != NULL && n < 23)
    args[n++] = a;
  va_end(ap);
  args[n] = NULL;
  if (!server_ok()) {
    memset(cc, 0, sizeof(*cc));
    return -1;
  }
  return it_coap_client(args, CLI_TIMEOUT_MS, cc);
}

/* Check a problem-details answer: its code, its format @p cf (50 or 257),
 * its shape, its field when @p field is given, and that it names @p needle
 * (a field or key) in its field or detail when that is given. */
void check_problem(const it_coap_msg_t *resp, int code, int cf,
                   const char *field, const char *needle) {
  it_problem_t p;
  CU_ASSERT_EQUAL(IT_CODE_INT(resp->code), code);
  CU_ASSERT_EQUAL(cf_of(resp), cf);
  bool ok = it_problem_parse(resp->payload, resp->payload_len, cf, &p) == 0;
  CU_ASSERT_TRUE(ok);
  if (!ok) {
    fprintf(stderr, "\nnot a problem document in format %d (%zu bytes)\n", cf,
            resp->payload_len);
    return;
  }
  CU_ASSERT_PTR_NOT_NULL(p.title);
  CU_ASSERT_PTR_NOT_NULL(p.detail);
  if (cf == EC_FORMAT_JSON) {
    char want[16];
    snprintf(want, sizeof(want), "%d.%02d", code / 100, code % 100);
    CU_ASSERT_STRING_EQUAL(p.code_text ? p.code_text : "(none)", want);
  } else {
    CU_ASSERT_EQUAL(p.code_int, (code / 100) << 5 | (code % 100));
  }
  if (field != NULL)
    CU_ASSERT_STRING_EQUAL(p.field ? p.field : "(none)", field);
  if (needle != NULL) {
    bool named = (p.detail && strstr(p.detail, needle)) ||
                 (p.field && strstr(p.field, needle));
    if (!named)
      fprintf(stderr, "\nthe problem does not name '%s': %s / %s\n", needle,
              p.field ? p.field : "-", p.detail ? p.detail : "-");
    CU_ASSERT_TRUE(named);
  }
  it_problem_free(&p);
}

/* The seed's report exists (test 1 makes it; later tests must not depend on
 * test 1 having passed). */
void ensure_seed(void) {
  uint8_t *seed;
  size_t len;
  CU_ASSERT_EQUAL_FATAL(it_read_file(SEED_FILE, &seed, &len), 0);
  it_coap_msg_t *resp = msg_new();
  if (raw(IT_GET, SEED_PATH, -1, -1, NULL, 0, resp) == 0 &&
      resp->code != IT_CODE(2, 5)) {
    CU_ASSERT_EQUAL(
        raw(IT_POST, SEED_PATH, EC_FORMAT_JSON, -1, seed, len, resp), 0);
    CU_ASSERT_EQUAL(IT_CODE_INT(resp->code), 201);
  }
  free(resp);
  free(seed);
}

/* The seed's report, as the server must give it back: states capitalised,
 * all-empty errors (one with the seed's misspelt "message " key) gone. */
void check_seed_doc(const json_t *d) {
  CU_ASSERT_STRING_EQUAL(jstr(d, "apiVersion") ? jstr(d, "apiVersion") : "",
                         "deployment.margo/v1");
  CU_ASSERT_STRING_EQUAL(jstr(d, "kind") ? jstr(d, "kind") : "",
                         "DeploymentStatus");
  CU_ASSERT_STRING_EQUAL(jstr(d, "deploymentId") ? jstr(d, "deploymentId") : "",
                         SEED_DEP);
  const json_t *status = json_object_get(d, "status");
  CU_ASSERT_TRUE_FATAL(json_is_object(status));
  CU_ASSERT_STRING_EQUAL(jstr(status, "state") ? jstr(status, "state") : "",
                         "Pending");
  CU_ASSERT_PTR_NULL(json_object_get(status, "error"));
  const json_t *comps = json_object_get(d, "components");
  CU_ASSERT_TRUE_FATAL(json_is_array(comps));
  CU_ASSERT_EQUAL_FATAL(json_array_size(comps), 2);
  static const char *const names[] = {"digitron-orchestrator",
                                      "database-services"};
  for (size_t i = 0; i < 2; i++) {
    const json_t *c = json_array_get(comps, i);
    CU_ASSERT_STRING_EQUAL(jstr(c, "name") ? jstr(c, "name") : "", names[i]);
    CU_ASSERT_STRING_EQUAL(jstr(c, "state") ? jstr(c, "state") : "", "Pending");
    CU_ASSERT_PTR_NULL(json_object_get(c, "error"));
    CU_ASSERT_EQUAL(json_object_size(c), 2);
  }
}

/* Decode a CBOR report with the codec; the arena buffer is malloc'd. */
static int decode_cbor(const uint8_t *buf, size_t len,
                       ec_deployment_status_t *st, void **mem) {
  ec_arena_t arena;
  ec_codec_error_t err;
  size_t cap = 8 * len + 64 * 1024;
  *mem = malloc(cap);
  if (*mem == NULL)
    return EC_ENOMEM;
  ec_arena_init(&arena, *mem, cap);
  int rc =
      ec_deployment_status_decode(EC_FORMAT_CBOR, buf, len, st, &arena, &err);
  if (rc < 0)
    fprintf(stderr, "\nCBOR report refused: %s (%s)\n", err.detail, err.field);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* 1. The seed's example, POSTed with libcoap's coap-client                  */

static void test_seed_post_created_then_changed(void) {
  CU_ASSERT_TRUE_FATAL(server_ok());
  char url[384];
  it_cc_t cc;
  url_of(url, sizeof(url), SEED_PATH);

  /* Nothing may exist yet: the first report of the pair is a creation. */
  it_coap_msg_t *resp = msg_new();
  CU_ASSERT_EQUAL(raw(IT_GET, SEED_PATH, -1, -1, NULL, 0, resp), 0);
  CU_ASSERT_EQUAL(IT_CODE_INT(resp->code), 404);
  free(resp);

  CU_ASSERT_EQUAL(
      coap_client(&cc, "-m", "post", "-t", "50", "-f", SEED_FILE, url, NULL),
      0);
  CU_ASSERT_EQUAL(it_cc_last_code(&cc), 201);
  /* The answer carries the stored document, normalised. */
  json_t *d = parse_json(cc.body, cc.body_len);
  CU_ASSERT_PTR_NOT_NULL(d);
  if (d != NULL)
    check_seed_doc(d);
  json_decref(d);
  it_cc_free(&cc);

  CU_ASSERT_EQUAL(
      coap_client(&cc, "-m", "post", "-t", "50", "-f", SEED_FILE, url, NULL),
      0);
  CU_ASSERT_EQUAL(it_cc_last_code(&cc), 204);
  d = parse_json(cc.body, cc.body_len);
  CU_ASSERT_PTR_NOT_NULL(d);
  if (d != NULL)
    check_seed_doc(d);
  json_decref(d);
  it_cc_free(&cc);
  CU_ASSERT_EQUAL(history_len(SEED_DEV, SEED_DEP), 2);
}

/* ------------------------------------------------------------------------ */
/* 2. GET in JSON and in CBOR                                                */

static void test_get_json_and_cbor(void) {
  CU_ASSERT_TRUE_FATAL(server_ok());
  char url[384];
  it_cc_t cc;
  ensure_seed();
  url_of(url, sizeof(url), SEED_PATH);

  CU_ASSERT_EQUAL(coap_client(&cc, "-m", "get", "-A", "50", url, NULL), 0);
  CU_ASSERT_EQUAL(it_cc_last_code(&cc), 205);
  json_t *from_json = parse_json(cc.body, cc.body_len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(from_json);
  check_seed_doc(from_json);
  it_cc_free(&cc);

  CU_ASSERT_EQUAL(coap_client(&cc, "-m", "get", "-A", "60", url, NULL), 0);
  CU_ASSERT_EQUAL(it_cc_last_code(&cc), 205);
  ec_deployment_status_t st;
  void *mem = NULL;
  CU_ASSERT_EQUAL(decode_cbor(cc.body, cc.body_len, &st, &mem), 0);
  if (mem != NULL && st.n_components == 2) {
    CU_ASSERT_STRING_EQUAL(st.api_version, "deployment.margo/v1");
    CU_ASSERT_STRING_EQUAL(st.kind, "DeploymentStatus");
    CU_ASSERT_STRING_EQUAL(st.deployment_id, SEED_DEP);
    CU_ASSERT_EQUAL(st.state, EC_STATE_PENDING);
    CU_ASSERT_FALSE(st.has_error);
    CU_ASSERT_STRING_EQUAL(st.components[0].name, "digitron-orchestrator");
    CU_ASSERT_STRING_EQUAL(st.components[1].name, "database-services");
    for (int i = 0; i < 2; i++) {
      CU_ASSERT_EQUAL(st.components[i].state, EC_STATE_PENDING);
      CU_ASSERT_FALSE(st.components[i].has_error);
    }
  } else {
    CU_FAIL("the CBOR body is not the seed's report with two components");
  }
  free(mem);

  /* Both bodies are the same document (RFC 8949 section 6 shapes). */
  ssize_t n = ec_cbor_to_json(cc.body, cc.body_len, NULL, 0);
  CU_ASSERT_TRUE_FATAL(n > 0);
  char *text = malloc((size_t)n + 1);
  CU_ASSERT_EQUAL(ec_cbor_to_json(cc.body, cc.body_len, text, (size_t)n + 1),
                  n);
  json_t *from_cbor = parse_json(text, (size_t)n);
  CU_ASSERT_TRUE(json_equal(from_json, from_cbor));
  json_decref(from_cbor);
  free(text);
  json_decref(from_json);
  it_cc_free(&cc);

  /* The Content-Format option is exactly the one asked for. */
  it_coap_msg_t *resp = msg_new();
  CU_ASSERT_EQUAL(raw(IT_GET, SEED_PATH, -1, EC_FORMAT_JSON, NULL, 0, resp), 0);
  CU_ASSERT_EQUAL(IT_CODE_INT(resp->code), 205);
  CU_ASSERT_EQUAL(cf_of(resp), EC_FORMAT_JSON);
  CU_ASSERT_EQUAL(it_coap_opt_count(resp, IT_OPT_OBSERVE), 0);
  CU_ASSERT_EQUAL(raw(IT_GET, SEED_PATH, -1, EC_FORMAT_CBOR, NULL, 0, resp), 0);
  CU_ASSERT_EQUAL(IT_CODE_INT(resp->code), 205);
  CU_ASSERT_EQUAL(cf_of(resp), EC_FORMAT_CBOR);
  /* Without Accept or a body the answer is JSON (API.md section 1). */
  CU_ASSERT_EQUAL(raw(IT_GET, SEED_PATH, -1, -1, NULL, 0, resp), 0);
  CU_ASSERT_EQUAL(IT_CODE_INT(resp->code), 205);
  CU_ASSERT_EQUAL(cf_of(resp), EC_FORMAT_JSON);
  free(resp);
}

/* ------------------------------------------------------------------------ */
/* 3. edgecoap-client                                                        */

/* Run the client against a stand-in server on our own socket and return the
 * request it sent; the stand-in answers 2.01 echoing the body in the format
 * it came in, so the client has something to print. */
static void check_client_wire_format(const char *format_switch, int want_cf,
                                     const char *file) {
  it_udp_t fake;
  CU_ASSERT_EQUAL_FATAL(it_udp_listen(&fake), 0);
  char url[64];
  snprintf(url, sizeof(url), "coap://127.0.0.1:%u", fake.port);
  const char *argv[16];
  int n = 0;
  argv[n++] = EC_CLIENT_BIN;
  argv[n++] = "--url";
  argv[n++] = url;
  argv[n++] = "--timeout";
  argv[n++] = "5000";
  if (format_switch != NULL)
    argv[n++] = format_switch;
  argv[n++] = "status";
  argv[n++] = "report";
  argv[n++] = "dev2";
  argv[n++] = DEP_CLI;
  argv[n++] = file;
  argv[n] = NULL;
  it_proc_t *p;
  CU_ASSERT_EQUAL_FATAL(it_proc_spawn(argv, NULL, 0, &p), 0);

  it_coap_msg_t *req = msg_new(), *ans = msg_new();
  int got = it_udp_recv_msg(&fake, req, RAW_TIMEOUT_MS);
  CU_ASSERT_EQUAL(got, 0);
  if (got == 0) {
    CU_ASSERT_EQUAL(req->type, IT_CON);
    CU_ASSERT_EQUAL(req->code, IT_POST);
    static const char *const segs[] = {"device", "dev2", "deployment", DEP_CLI,
                                       "status"};
    CU_ASSERT_EQUAL(it_coap_opt_count(req, IT_OPT_URI_PATH), 5);
    for (int i = 0; i < 5; i++) {
      size_t len;
      const uint8_t *v = it_coap_opt(req, IT_OPT_URI_PATH, i, &len);
      CU_ASSERT_TRUE(v != NULL && len == strlen(segs[i]) &&
                     memcmp(v, segs[i], len) == 0);
    }
    CU_ASSERT_EQUAL(cf_of(req), want_cf);
    CU_ASSERT_EQUAL(it_coap_opt_uint(req, IT_OPT_ACCEPT, 0), (uint32_t)want_cf);
    ec_deployment_status_t st;
    ec_codec_error_t err;
    ec_arena_t arena;
    static uint8_t mem[64 * 1024];
    ec_arena_init(&arena, mem, sizeof(mem));
    CU_ASSERT_EQUAL(ec_deployment_status_decode((ec_format_t)want_cf,
                                                req->payload, req->payload_len,
                                                &st, &arena, &err),
                    0);
    it_coap_init(ans, IT_ACK, IT_CODE(2, 1), req->mid, req->token,
                 req->token_len);
    it_coap_add_uint(ans, IT_OPT_CONTENT_FORMAT, (uint32_t)want_cf);
    it_coap_set_payload(ans, req->payload, req->payload_len);
    uint8_t dgram[IT_COAP_MAX_DGRAM];
    ssize_t len = it_coap_encode(ans, dgram, sizeof(dgram));
    CU_ASSERT_TRUE(len > 0 && it_udp_send(&fake, dgram, (size_t)len) == 0);
  }
  it_result_t r;
  CU_ASSERT_EQUAL(it_proc_finish(p, CLI_TIMEOUT_MS, &r), 0);
  json_t *printed = parse_json(r.out, r.out_len);
  CU_ASSERT_PTR_NOT_NULL(printed);
  CU_ASSERT_STRING_EQUAL(
      jstr(printed, "deploymentId") ? jstr(printed, "deploymentId") : "",
      DEP_CLI);
  json_decref(printed);
  if (!it_result_ok(&r))
    it_result_dump("edgecoap-client against a stand-in server", &r);
  it_result_free(&r);
  free(req);
  free(ans);
  it_udp_close(&fake);
}

static void test_client_cli(void) {
  CU_ASSERT_TRUE_FATAL(server_ok());
  char file1[320], file2[320];
  snprintf(file1, sizeof(file1), "%s/cli-installing.json", srv.dir);
  snprintf(file2, sizeof(file2), "%s/cli-installed.json", srv.dir);
  char *j1 = report_json(DEP_CLI, "installing", 2, "Installing", 0, 0);
  char *j2 = report_json(DEP_CLI, "INSTALLED", 2, "installed", 0, 0);
  CU_ASSERT_EQUAL_FATAL(it_write_file(file1, j1, strlen(j1)), 0);
  CU_ASSERT_EQUAL_FATAL(it_write_file(file2, j2, strlen(j2)), 0);
  free(j1);
  free(j2);

  /* What goes on the wire: CBOR by default, JSON with --json. */
  check_client_wire_format(NULL, EC_FORMAT_CBOR, file1);
  check_client_wire_format("--cbor", EC_FORMAT_CBOR, file1);
  check_client_wire_format("--json", EC_FORMAT_JSON, file1);

  it_result_t r;
  CU_ASSERT_EQUAL(cli(&r, "status", "report", "dev2", DEP_CLI, file1, NULL), 0);
  json_t *d = parse_json(r.out, r.out_len);
  CU_ASSERT_PTR_NOT_NULL(d);
  CU_ASSERT_STRING_EQUAL(jstr(json_object_get(d, "status"), "state")
                             ? jstr(json_object_get(d, "status"), "state")
                             : "",
                         "Installing");
  json_decref(d);
  it_result_free(&r);

  CU_ASSERT_EQUAL(
      cli(&r, "--json", "status", "report", "dev2", DEP_CLI, file2, NULL), 0);
  d = parse_json(r.out, r.out_len);
  CU_ASSERT_STRING_EQUAL(jstr(json_object_get(d, "status"), "state")
                             ? jstr(json_object_get(d, "status"), "state")
                             : "",
                         "Installed");
  json_decref(d);
  it_result_free(&r);

  /* status get prints the same document whichever format carried it. */
  json_t *got[2] = {NULL, NULL};
  static const char *const sw[] = {"--json", "--cbor"};
  for (int i = 0; i < 2; i++) {
    CU_ASSERT_EQUAL(cli(&r, sw[i], "status", "get", "dev2", DEP_CLI, NULL), 0);
    got[i] = parse_json(r.out, r.out_len);
    CU_ASSERT_PTR_NOT_NULL(got[i]);
    it_result_free(&r);
  }
  CU_ASSERT_TRUE(got[0] != NULL && json_equal(got[0], got[1]));
  const json_t *comps = json_object_get(got[0], "components");
  CU_ASSERT_EQUAL(json_array_size(comps), 2);
  CU_ASSERT_STRING_EQUAL(jstr(json_array_get(comps, 1), "state")
                             ? jstr(json_array_get(comps, 1), "state")
                             : "",
                         "Installed");
  json_decref(got[0]);
  json_decref(got[1]);

  /* deployments lists it with its latest state. */
  for (int i = 0; i < 2; i++) {
    CU_ASSERT_EQUAL(cli(&r, sw[i], "deployments", "dev2", NULL), 0);
    d = parse_json(r.out, r.out_len);
    const json_t *list = json_object_get(d, "deployments");
    CU_ASSERT_TRUE(json_is_array(list) && json_array_size(list) == 1);
    const json_t *e = json_array_get(list, 0);
    CU_ASSERT_STRING_EQUAL(
        jstr(e, "deploymentId") ? jstr(e, "deploymentId") : "", DEP_CLI);
    CU_ASSERT_STRING_EQUAL(jstr(e, "state") ? jstr(e, "state") : "",
                           "Installed");
    CU_ASSERT_PTR_NOT_NULL(jstr(e, "updatedAt"));
    json_decref(d);
    it_result_free(&r);
  }

  /* history: seq 1, 2 in order, each with the report it stored. */
  static const char *const states[] = {"Installing", "Installed"};
  for (int i = 0; i < 2; i++) {
    CU_ASSERT_EQUAL(cli(&r, sw[i], "status", "history", "dev2", DEP_CLI, NULL),
                    0);
    d = parse_json(r.out, r.out_len);
    const json_t *reports = json_object_get(d, "reports");
    CU_ASSERT_TRUE_FATAL(json_is_array(reports));
    CU_ASSERT_EQUAL(json_array_size(reports), 2);
    const char *prev_at = "";
    for (size_t k = 0; k < json_array_size(reports) && k < 2; k++) {
      const json_t *e = json_array_get(reports, k);
      CU_ASSERT_EQUAL(json_integer_value(json_object_get(e, "seq")),
                      (json_int_t)k + 1);
      const char *at = jstr(e, "receivedAt");
      CU_ASSERT_TRUE(at != NULL && strcmp(at, prev_at) >= 0);
      prev_at = at ? at : "";
      const json_t *rep = json_object_get(e, "report");
      CU_ASSERT_STRING_EQUAL(jstr(json_object_get(rep, "status"), "state")
                                 ? jstr(json_object_get(rep, "status"), "state")
                                 : "",
                             states[k]);
    }
    json_decref(d);
    it_result_free(&r);
  }
  CU_ASSERT_EQUAL(
      cli(&r, "status", "history", "dev2", DEP_CLI, "--since", "1", NULL), 0);
  d = parse_json(r.out, r.out_len);
  CU_ASSERT_EQUAL(json_array_size(json_object_get(d, "reports")), 1);
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(
                      json_array_get(json_object_get(d, "reports"), 0), "seq")),
                  2);
  json_decref(d);
  it_result_free(&r);

  /* The history's query: limit=1 gives the oldest report only. */
  it_coap_msg_t *resp = msg_new();
  char hq[256];
  snprintf(hq, sizeof(hq), "device/dev2/deployment/%s/status/history?limit=1",
           DEP_CLI);
  CU_ASSERT_EQUAL(raw(IT_GET, hq, -1, EC_FORMAT_JSON, NULL, 0, resp), 0);
  CU_ASSERT_EQUAL(IT_CODE_INT(resp->code), 205);
  d = parse_json(resp->payload, resp->payload_len);
  CU_ASSERT_EQUAL(json_array_size(json_object_get(d, "reports")), 1);
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(
                      json_array_get(json_object_get(d, "reports"), 0), "seq")),
                  1);
  json_decref(d);
  free(resp);

  /* A device with no reports has an empty list, not an error. */
  CU_ASSERT_EQUAL(cli(&r, "deployments", "dev-without-reports", NULL), 0);
  d = parse_json(r.out, r.out_len);
  CU_ASSERT_TRUE(json_is_array(json_object_get(d, "deployments")) &&
                 json_array_size(json_object_get(d, "deployments")) == 0);
  json_decref(d);
  it_result_free(&r);

  /* An error answer: exit 1, the code on stderr, nothing on stdout. */
  CU_ASSERT_NOT_EQUAL(cli_refused(&r, "status", "get", "dev2", DEP_OTHER, NULL),
                      0);
  CU_ASSERT_EQUAL(r.exit_code, 1);
  CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "4.04"));
  CU_ASSERT_EQUAL(r.out_len, 0);
  it_result_free(&r);
}

/* ------------------------------------------------------------------------ */
/* 4. A deploymentId that is not the route's                                 */

static void test_route_mismatch_is_422(void) {
  CU_ASSERT_TRUE_FATAL(server_ok());
  uint8_t *seed;
  size_t len;
  char path[256];
  CU_ASSERT_EQUAL_FATAL(it_read_file(SEED_FILE, &seed, &len), 0);
  status_path(path, sizeof(path), SEED_DEV, DEP_OTHER, "");
  it_coap_msg_t *resp = msg_new();

  CU_ASSERT_EQUAL(raw(IT_POST, path, EC_FORMAT_JSON, -1, seed, len, resp), 0);
  check_problem(resp, 422, EC_FORMAT_JSON, "deploymentId", NULL);

  /* With Accept: application/cbor the concise form (RFC 9290 section 6). */
  CU_ASSERT_EQUAL(
      raw(IT_POST, path, EC_FORMAT_JSON, EC_FORMAT_CBOR, seed, len, resp), 0);
  check_problem(resp, 422, EC_FORMAT_PROBLEM_CBOR, "deploymentId", NULL);

  /* A CBOR request without Accept is answered in CBOR too. */
  ssize_t n = ec_json_to_cbor((const char *)seed, len, NULL, 0);
  CU_ASSERT_TRUE_FATAL(n > 0);
  uint8_t *cbor = malloc((size_t)n);
  CU_ASSERT_EQUAL_FATAL(
      ec_json_to_cbor((const char *)seed, len, cbor, (size_t)n), n);
  CU_ASSERT_EQUAL(raw(IT_POST, path, EC_FORMAT_CBOR, -1, cbor, (size_t)n, resp),
                  0);
  check_problem(resp, 422, EC_FORMAT_PROBLEM_CBOR, "deploymentId", NULL);
  free(cbor);

  /* Nothing was stored under either deployment id. */
  CU_ASSERT_EQUAL(raw(IT_GET, path, -1, -1, NULL, 0, resp), 0);
  CU_ASSERT_EQUAL(IT_CODE_INT(resp->code), 404);

  /* Spelling is no mismatch: UUIDs compare case-insensitively, and the
   * upper-case route names the same deployment. */
  ensure_seed();
  int hist = history_len(SEED_DEV, SEED_DEP);
  const char *upper = "device/" SEED_DEV
                      "/deployment/A3E2F5DC-912E-494F-8395-52CF3769BC06/status";
  CU_ASSERT_EQUAL(raw(IT_POST, upper, EC_FORMAT_JSON, -1, seed, len, resp), 0);
  CU_ASSERT_EQUAL(IT_CODE_INT(resp->code), 204);
  CU_ASSERT_EQUAL(history_len(SEED_DEV, SEED_DEP), hist + 1);
  CU_ASSERT_EQUAL(raw(IT_GET, upper, -1, EC_FORMAT_JSON, NULL, 0, resp), 0);
  CU_ASSERT_EQUAL(IT_CODE_INT(resp->code), 205);
  json_t *d = parse_json(resp->payload, resp->payload_len);
  CU_ASSERT_PTR_NOT_NULL(d);
  if (d != NULL)
    check_seed_doc(d);
  json_decref(d);
  free(resp);
  free(seed);
}

/* ------------------------------------------------------------------------ */
/* 6. Observe                                                                */

/* edgecoap-client status watch; @p format is "--json" or "--cbor", which
 * the server must keep using for that observer's notifications. */
static it_proc_t *start_watch(const char *format, const char *dev,
                              const char *dep, const char *count) {
  const char *argv[] = {EC_CLIENT_BIN, "--url", srv.url, format,    "status",
                        "watch",       dev,     dep,     "--count", count,
                        "--max-time",  "20",    NULL};
  it_proc_t *p = NULL;
  if (server_ok())
    CU_ASSERT_EQUAL(it_proc_spawn(argv, NULL, 0, &p), 0);
  return p;
}

static void finish_watch(it_proc_t *p, const char *what, bool want_ok) {
  it_result_t r;
  int rc = it_proc_finish(p, NOTIFY_WAIT_MS, &r);
  if ((rc == 0) != want_ok)
    it_result_dump(what, &r);
  CU_ASSERT_EQUAL(rc == 0, want_ok);
  it_result_free(&r);
}

static void test_observe_notifies_only_its_deployment(void) {
  CU_ASSERT_TRUE_FATAL(server_ok());
  CU_ASSERT_EQUAL_FATAL(post_state("dev3", DEP_OBS_A, "Pending"), 201);
  CU_ASSERT_EQUAL_FATAL(post_state("dev3", DEP_OBS_B, "Pending"), 201);

  it_proc_t *wa = start_watch("--json", "dev3", DEP_OBS_A, "2");
  it_proc_t *wb = start_watch("--cbor", "dev3", DEP_OBS_B, "2");
  CU_ASSERT_PTR_NOT_NULL_FATAL(wa);
  CU_ASSERT_PTR_NOT_NULL_FATAL(wb);
  /* libcoap's client as a second observer of A. */
  char url[384], path[256];
  url_of(url, sizeof(url),
         status_path(path, sizeof(path), "dev3", DEP_OBS_A, ""));
  const char *cc_argv[] = {COAP_CLIENT_BIN,
                           "-m",
                           "get",
                           "-s",
                           "20",
                           "-B",
                           "25",
                           "-A",
                           "50",
                           "-w",
                           url,
                           NULL};
  it_proc_t *wc = NULL;
  CU_ASSERT_EQUAL_FATAL(it_proc_spawn(cc_argv, NULL, 0, &wc), 0);

  /* Each observer prints the current report first. */
  CU_ASSERT_EQUAL(it_proc_wait_lines(wa, "\"Pending\"", 1, NOTIFY_WAIT_MS), 1);
  CU_ASSERT_EQUAL(it_proc_wait_lines(wb, "\"Pending\"", 1, NOTIFY_WAIT_MS), 1);
  CU_ASSERT_EQUAL(it_proc_wait_lines(wc, "\"Pending\"", 1, NOTIFY_WAIT_MS), 1);

  CU_ASSERT_EQUAL(post_state("dev3", DEP_OBS_A, "Installing"), 204);
  CU_ASSERT_EQUAL(it_proc_wait_lines(wa, "\"Installing\"", 1, NOTIFY_WAIT_MS),
                  1);
  CU_ASSERT_EQUAL(it_proc_wait_lines(wc, "\"Installing\"", 1, NOTIFY_WAIT_MS),
                  1);
  /* B's notification would have gone out with A's: give it a moment. */
  it_sleep_ms(300);
  CU_ASSERT_EQUAL(it_proc_wait_lines(wb, "{", 2, 200), 1);

  /* B's watcher works: its own change reaches it. */
  CU_ASSERT_EQUAL(post_state("dev3", DEP_OBS_B, "Failed"), 204);
  CU_ASSERT_EQUAL(it_proc_wait_lines(wb, "\"Failed\"", 1, NOTIFY_WAIT_MS), 1);
  CU_ASSERT_EQUAL(it_proc_wait_lines(wb, "Installing", 1, 0), 0);

  finish_watch(wa, "watcher of A", true);
  finish_watch(wb, "watcher of B", true);
  it_result_t r;
  /* coap-client would observe for its -s 20 seconds: end it now. */
  CU_ASSERT_EQUAL(it_proc_stop(wc, NOTIFY_WAIT_MS, &r), 0);
  CU_ASSERT_PTR_NULL(strstr(r.out, "Failed"));
  it_result_free(&r);
}

/* ------------------------------------------------------------------------ */
/* 7. A retransmitted CON POST is answered again, not applied again          */

static void retransmit_once(int method, int cf, int accept, const void *body,
                            size_t len, int want) {
  char path[256];
  status_path(path, sizeof(path), "dev4", DEP_RETX, "");
  it_coap_msg_t *m = msg_new(), *a1 = msg_new(), *a2 = msg_new();
  uint8_t tok[4], dgram[IT_COAP_MAX_DGRAM];
  it_udp_token(&udp, tok);
  it_coap_init(m, IT_CON, method, it_udp_mid(&udp), tok, sizeof(tok));
  it_coap_add_path(m, path);
  it_coap_add_uint(m, IT_OPT_CONTENT_FORMAT, (uint32_t)cf);
  if (accept >= 0)
    it_coap_add_uint(m, IT_OPT_ACCEPT, (uint32_t)accept);
  it_coap_set_payload(m, body, len);
  ssize_t n = it_coap_encode(m, dgram, sizeof(dgram));
  CU_ASSERT_TRUE_FATAL(n > 0);

  int before = history_len("dev4", DEP_RETX);
  CU_ASSERT_EQUAL(
      it_coap_exchange_raw(&udp, dgram, (size_t)n, a1, RAW_TIMEOUT_MS), 0);
  CU_ASSERT_EQUAL(
      it_coap_exchange_raw(&udp, dgram, (size_t)n, a2, RAW_TIMEOUT_MS), 0);
  CU_ASSERT_EQUAL(IT_CODE_INT(a1->code), want);
  CU_ASSERT_EQUAL(IT_CODE_INT(a2->code), want);
  /* No Message ID check: the first answer may come as a separate response
   * after the group commit (its own Message ID), the second piggybacked on
   * the ACK of the retransmission. Code, format and body must be the same. */
  CU_ASSERT_EQUAL(cf_of(a1), accept >= 0 ? accept : cf);
  CU_ASSERT_EQUAL(cf_of(a2), cf_of(a1));
  CU_ASSERT_TRUE(a1->payload_len > 0);
  CU_ASSERT_TRUE(a1->payload_len == a2->payload_len &&
                 memcmp(a1->payload, a2->payload, a1->payload_len) == 0);
  int after = history_len("dev4", DEP_RETX);
  CU_ASSERT_EQUAL(after, (before < 0 ? 0 : before) + 1);
  free(m);
  free(a1);
  free(a2);
}

static void test_retransmitted_post_applied_once(void) {
  CU_ASSERT_TRUE_FATAL(server_ok());
  /* A first report: a second application would answer 2.04, not 2.01. */
  char *j = report_json(DEP_RETX, "Pending", 3, "Pending", 0, 0);
  retransmit_once(IT_POST, EC_FORMAT_JSON, -1, j, strlen(j), 201);
  free(j);

  /* A later one in CBOR with a CBOR answer. */
  j = report_json(DEP_RETX, "Installing", 3, "Installing", 0, 0);
  ssize_t n = ec_json_to_cbor(j, strlen(j), NULL, 0);
  CU_ASSERT_TRUE_FATAL(n > 0);
  uint8_t *cbor = malloc((size_t)n);
  CU_ASSERT_EQUAL_FATAL(ec_json_to_cbor(j, strlen(j), cbor, (size_t)n), n);
  retransmit_once(IT_POST, EC_FORMAT_CBOR, EC_FORMAT_CBOR, cbor, (size_t)n,
                  204);
  free(cbor);
  free(j);

  /* PUT writes like POST (API.md section 2), and is deduplicated too. */
  j = report_json(DEP_RETX, "Installed", 3, "Installed", 0, 0);
  retransmit_once(IT_PUT, EC_FORMAT_JSON, EC_FORMAT_JSON, j, strlen(j), 204);
  free(j);

  json_t *d = get_json("dev4", DEP_RETX);
  CU_ASSERT_STRING_EQUAL(jstr(json_object_get(d, "status"), "state")
                             ? jstr(json_object_get(d, "status"), "state")
                             : "",
                         "Installed");
  json_decref(d);
  CU_ASSERT_EQUAL(history_len("dev4", DEP_RETX), 3);
}

/* ------------------------------------------------------------------------ */
/* 8. A restart keeps everything                                             */

static void test_restart_keeps_reports(void) {
  CU_ASSERT_TRUE_FATAL(server_ok());
  char hpath[256];
  CU_ASSERT_EQUAL_FATAL(post_state("dev5", DEP_OBS_A, "Pending"), 201);
  CU_ASSERT_EQUAL_FATAL(post_state("dev5", DEP_OBS_A, "Installing"), 204);
  json_t *before = get_json("dev5", DEP_OBS_A);
  CU_ASSERT_PTR_NOT_NULL_FATAL(before);
  it_body_t hist_before, hist_after;
  status_path(hpath, sizeof(hpath), "dev5", DEP_OBS_A, "/history");
  CU_ASSERT_EQUAL_FATAL(get_blocks(hpath, EC_FORMAT_JSON, 1024, &hist_before),
                        0);

  CU_ASSERT_EQUAL(it_server_restart(&srv), 0);
  CU_ASSERT_TRUE_FATAL(server_ok());
  CU_ASSERT_TRUE_FATAL(open_udp());

  json_t *after = get_json("dev5", DEP_OBS_A);
  CU_ASSERT_TRUE(after != NULL && json_equal(before, after));
  json_decref(after);
  json_decref(before);
  CU_ASSERT_EQUAL(get_blocks(hpath, EC_FORMAT_JSON, 1024, &hist_after), 0);
  CU_ASSERT_EQUAL(hist_after.code, IT_CODE(2, 5));
  CU_ASSERT_TRUE(hist_before.len > 0 && hist_before.len == hist_after.len &&
                 memcmp(hist_before.body, hist_after.body, hist_after.len) ==
                     0);
  free(hist_before.body);
  free(hist_after.body);
  /* The seed's report from test 1 is there too. */
  json_t *seed = get_json(SEED_DEV, SEED_DEP);
  CU_ASSERT_PTR_NOT_NULL(seed);
  if (seed != NULL)
    check_seed_doc(seed);
  json_decref(seed);

  /* The next report continues the history and is a change, not a creation. */
  it_proc_t *w = start_watch("--cbor", "dev5", DEP_OBS_A, "2");
  CU_ASSERT_PTR_NOT_NULL_FATAL(w);
  CU_ASSERT_EQUAL(it_proc_wait_lines(w, "\"Installing\"", 1, NOTIFY_WAIT_MS),
                  1);
  CU_ASSERT_EQUAL(post_state("dev5", DEP_OBS_A, "Installed"), 204);
  CU_ASSERT_EQUAL(it_proc_wait_lines(w, "\"Installed\"", 1, NOTIFY_WAIT_MS), 1);
  finish_watch(w, "watcher after the restart", true);
  CU_ASSERT_EQUAL(history_len("dev5", DEP_OBS_A), 3);
}

/* ------------------------------------------------------------------------ */
/* 9. Block-wise both ways                                                   */

static void test_blockwise_large_report(void) {
  CU_ASSERT_TRUE_FATAL(server_ok());
  /* 250 components (the codec's cap is EC_MAX_COMPONENTS, 256), each with an
   * error, make a report just under the 64 KiB body cap. */
  char *j = report_json(DEP_BIG, "Installing", 250, "Installing", 60, 110);
  size_t jlen = strlen(j);
  CU_ASSERT_TRUE_FATAL(jlen > 56 * 1024 && jlen < 64 * 1024);
  char file[320], url[384], path[256];
  snprintf(file, sizeof(file), "%s/big-report.json", srv.dir);
  CU_ASSERT_EQUAL_FATAL(it_write_file(file, j, jlen), 0);
  status_path(path, sizeof(path), "dev6", DEP_BIG, "");
  url_of(url, sizeof(url), path);

  /* The first report of a pair, sent with Block1, is answered with the
   * stored document: 61 blocks of Block2 that coap-client fetches with the
   * same POST (RFC 7959 section 2.5) and must all be 2.01. */
  it_cc_t cc;
  CU_ASSERT_EQUAL(
      coap_client(&cc, "-m", "post", "-t", "50", "-f", file, url, NULL), 0);
  CU_ASSERT_EQUAL(it_cc_last_code(&cc), 201);
  if (it_cc_last_code(&cc) != 201) {
    fprintf(stderr,
            "\nBUG (server): the Block2 continuation of the answer "
            "to a pair's first report got %d, not 201; codes seen:",
            it_cc_last_code(&cc));
    for (int i = 0; i < cc.n_codes; i++)
      fprintf(stderr, " %d", cc.codes[i]);
    fprintf(stderr, "\n");
  }
  CU_ASSERT_TRUE(cc.body_len == jlen);
  it_cc_free(&cc);

  /* A second report with the project's client (JSON, Block1 and Block2). */
  it_result_t r;
  CU_ASSERT_EQUAL(
      cli(&r, "--json", "status", "report", "dev6", DEP_BIG, file, NULL), 0);
  json_t *echoed = parse_json(r.out, r.out_len);
  it_result_free(&r);

  /* What was sent is what is stored: compare as documents. */
  json_t *sent = parse_json(j, jlen);
  CU_ASSERT_TRUE(echoed != NULL && json_equal(sent, echoed));
  json_decref(echoed);
  CU_ASSERT_EQUAL(coap_client(&cc, "-m", "get", "-A", "50", url, NULL), 0);
  CU_ASSERT_EQUAL(it_cc_last_code(&cc), 205);
  json_t *direct = parse_json(cc.body, cc.body_len);
  CU_ASSERT_TRUE(direct != NULL && json_equal(sent, direct));
  json_decref(direct);

  /* Our own Block2 walk in small blocks gives the same bytes. */
  it_body_t b;
  CU_ASSERT_EQUAL(get_blocks(path, EC_FORMAT_JSON, 256, &b), 0);
  CU_ASSERT_EQUAL(b.code, IT_CODE(2, 5));
  CU_ASSERT_EQUAL(b.content_format, EC_FORMAT_JSON);
  CU_ASSERT_TRUE(b.blocks > 1);
  CU_ASSERT_TRUE(b.etag_len > 0); /* DESIGN.md: Block2 answers carry an ETag */
  CU_ASSERT_TRUE(b.len == cc.body_len && memcmp(b.body, cc.body, b.len) == 0);
  free(b.body);
  it_cc_free(&cc);

  /* And the project's client reads the same document. */
  CU_ASSERT_EQUAL(cli(&r, "--cbor", "status", "get", "dev6", DEP_BIG, NULL), 0);
  json_t *via_cli = parse_json(r.out, r.out_len);
  CU_ASSERT_TRUE(via_cli != NULL && json_equal(sent, via_cli));
  json_decref(via_cli);
  it_result_free(&r);

  /* The CBOR form, block by block, decodes to the same 250 components. */
  CU_ASSERT_EQUAL(get_blocks(path, EC_FORMAT_CBOR, 512, &b), 0);
  CU_ASSERT_EQUAL(b.content_format, EC_FORMAT_CBOR);
  ec_deployment_status_t st;
  void *mem = NULL;
  CU_ASSERT_EQUAL(decode_cbor(b.body, b.len, &st, &mem), 0);
  if (mem != NULL && st.n_components == 250) {
    const json_t *comps = json_object_get(sent, "components");
    for (size_t i = 0; i < 250; i++) {
      const json_t *c = json_array_get(comps, i);
      CU_ASSERT_STRING_EQUAL(st.components[i].name, jstr(c, "name"));
      CU_ASSERT_TRUE(st.components[i].has_error);
      CU_ASSERT_STRING_EQUAL(st.components[i].error.message,
                             jstr(json_object_get(c, "error"), "message"));
    }
  } else {
    CU_FAIL("the CBOR body does not hold the 250 components sent");
  }
  free(mem);
  free(b.body);
  json_decref(sent);
  free(j);
}

/* ------------------------------------------------------------------------ */
/* 10. /.well-known/core                                                     */

/* The attributes of the link to @p target in a link-format document, e.g.
 * ";rt=\"x\";ct=\"50 60\";obs"; NULL if absent. The caller frees it. */
static char *link_attrs(const char *doc, const char *target) {
  char want[300];
  snprintf(want, sizeof(want), "<%s>", target);
  const char *p = doc;
  while ((p = strstr(p, want)) != NULL) {
    /* It must start a link, not be part of a longer one. */
    if (p == doc || p[-1] == ',') {
      const char *a = p + strlen(want), *end = a;
      bool quoted = false;
      while (*end && (quoted || *end != ',')) {
        if (*end == '"')
          quoted = !quoted;
        end++;
      }
      char *out = malloc((size_t)(end - a) + 1);
      memcpy(out, a, (size_t)(end - a));
      out[end - a] = '\0';
      return out;
    }
    p++;
  }
  return NULL;
}

static bool has_attr(const char *attrs, const char *attr) {
  size_t n = strlen(attr);
  for (const char *p = attrs; (p = strstr(p, attr)) != NULL; p++)
    if (p > attrs && p[-1] == ';' && (p[n] == '\0' || p[n] == ';'))
      return true;
  return false;
}

static void test_well_known_core_lists_status(void) {
  CU_ASSERT_TRUE_FATAL(server_ok());
  ensure_seed();
  it_body_t b;
  CU_ASSERT_EQUAL_FATAL(get_blocks(".well-known/core", -1, 1024, &b), 0);
  CU_ASSERT_EQUAL(b.code, IT_CODE(2, 5));
  CU_ASSERT_EQUAL(b.content_format, 40);
  /* Discovery lists the route templates, not each device's paths. */
#define STATUS_TEMPLATE "/device/{deviceId}/deployment/{deploymentId}/status"
  CU_ASSERT_PTR_NULL(strstr((const char *)b.body, SEED_DEV));
  char *attrs = link_attrs((const char *)b.body, STATUS_TEMPLATE);
  CU_ASSERT_PTR_NOT_NULL(attrs);
  if (attrs != NULL) {
    CU_ASSERT_TRUE(has_attr(attrs, "obs"));
    CU_ASSERT_TRUE(has_attr(attrs, "rt=\"margo.deployment-status\""));
    const char *ct = strstr(attrs, ";ct=");
    CU_ASSERT_PTR_NOT_NULL(ct);
    if (ct != NULL) {
      char val[64];
      size_t k = 0;
      for (ct += 4; *ct && *ct != ';' && k < sizeof(val) - 1; ct++)
        if (*ct != '"')
          val[k++] = *ct;
      val[k] = '\0';
      CU_ASSERT_STRING_EQUAL(val, "50 60");
    }
    free(attrs);
  } else {
    fprintf(stderr, "\n/.well-known/core: %s\n", (const char *)b.body);
  }
  /* The history is listed but cannot be observed. */
  attrs = link_attrs((const char *)b.body, STATUS_TEMPLATE "/history");
  CU_ASSERT_PTR_NOT_NULL(attrs);
  if (attrs != NULL) {
    CU_ASSERT_FALSE(has_attr(attrs, "obs"));
    CU_ASSERT_PTR_NOT_NULL(strstr(attrs, "rt="));
    free(attrs);
  }
  free(b.body);
}

/* ------------------------------------------------------------------------ */
/* Last: everything above left a server that stops cleanly                   */

static void test_server_stops_cleanly(void) {
  CU_ASSERT_TRUE_FATAL(server_ok());
  CU_ASSERT_TRUE(it_server_alive(&srv, 3000));
  CU_ASSERT_EQUAL(it_server_stop(&srv), 0);
  /* Nothing the server logged as an error went unnoticed. */
  int errors = it_server_log_count(&srv, "[ERROR]");
  if (errors != 0)
    it_server_log_tail(&srv, 60);
  CU_ASSERT_EQUAL(errors, 0);
}

/* ------------------------------------------------------------------------ */

static int suite_init(void) {
  it_init();
  udp.fd = -1; /* a zeroed socket would be standard input */
  if (it_server_start(&srv, NULL) < 0)
    return -1;
  return open_udp() ? 0 : -1;
}

static int suite_cleanup(void) {
  it_udp_close(&udp);
  return 0;
}

static const ec_test_t tests[] = {
    {test_seed_post_created_then_changed, "seed_post_created_then_changed"},
    {test_get_json_and_cbor, "get_json_and_cbor"},
    {test_client_cli, "client_cli"},
    {test_route_mismatch_is_422, "route_mismatch_is_422"},
    {test_malformed_requests, "malformed_requests"},
    {test_observe_notifies_only_its_deployment,
     "observe_notifies_only_its_deployment"},
    {test_retransmitted_post_applied_once, "retransmitted_post_applied_once"},
    {test_restart_keeps_reports, "restart_keeps_reports"},
    {test_blockwise_large_report, "blockwise_large_report"},
    {test_well_known_core_lists_status, "well_known_core_lists_status"},
    {test_server_stops_cleanly, "server_stops_cleanly"},
};

int main(void) {
  /* Keeps the server's directory (database and log) when something failed. */
  static const ec_test_after_t after = {it_after_run, &srv, "it_deployment"};
  return ec_test_main("deployment", tests, EC_TEST_COUNT(tests), suite_init,
                      suite_cleanup, &after);
}
