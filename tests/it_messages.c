/* edgecoap: integration tests of the ON-API status-message resources against
 * the real server. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <inttypes.h>
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
#include "itest.h"

/* The server's EC_PAGE_BYTES (server/api/page.h): stored bytes per page. */
#define EC_TEST_PAGE_BYTES (16 * 1024)
#include "suite.h"

/*
 * One server (with a 1 MiB body cap, so that 1,000 messages fit one batch)
 * serves the suite. Each test uses its own orderIds, subscriptionIds, ... so
 * that its expectations do not depend on what the others stored; where a
 * filter cannot be made unique (a date or ID range alone), the test bounds
 * it with dates or IDs only it uses.
 */

#define COLL "api/2.3/statusmessages"
#define BULK_N 3000
#define BULK_BATCH 1000

#define RAW_TIMEOUT_MS 5000
#define CLI_TIMEOUT_MS 20000
#define NOTIFY_WAIT_MS 5000

static it_server_t srv;
static it_udp_t udp;
static bool server_down;

/* ---- helpers ------------------------------------------------------------ */

static bool server_ok(void) {
  if (!server_down && !it_server_running(&srv))
    server_down = true;
  return !server_down;
}

static it_coap_msg_t *msg_new(void) {
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

/* A raw CON request; the answer in *resp. */
static int raw(int method, const char *path, int cf, int accept,
               const void *body, size_t len, it_coap_msg_t *resp) {
  it_req_t rq = IT_REQ(method, path);
  rq.content_format = cf;
  rq.accept = accept;
  rq.payload = body;
  rq.payload_len = len;
  if (!server_ok())
    return -1;
  return it_coap_request(&udp, &rq, resp, RAW_TIMEOUT_MS);
}

static json_t *parse_json(const void *body, size_t len) {
  json_error_t e;
  json_t *j = json_loadb(body, len, 0, &e);
  if (j == NULL)
    fprintf(stderr, "\nnot JSON (%s at %d): %.*s\n", e.text, e.position,
            (int)(len > 300 ? 300 : len), (const char *)body);
  return j;
}

/* POST a JSON body; the code, and the answer as JSON in *out (may be NULL). */
static int post_json(const char *json, json_t **out) {
  it_coap_msg_t *resp = msg_new();
  int code = -1;
  if (out != NULL)
    *out = NULL;
  if (raw(IT_POST, COLL, EC_FORMAT_JSON, EC_FORMAT_JSON, json, strlen(json),
          resp) == 0) {
    code = IT_CODE_INT(resp->code);
    if (out != NULL && code == 201)
      *out = parse_json(resp->payload, resp->payload_len);
  }
  free(resp);
  return code;
}

/* GET (block-wise, so answers of any size come whole) as JSON. */
static json_t *get_list(const char *path_and_query) {
  it_body_t b;
  if (!server_ok() ||
      it_coap_get_blockwise(&udp, path_and_query, EC_FORMAT_JSON, 1024, 2000,
                            &b, 20000) < 0)
    return NULL;
  json_t *j = NULL;
  if (b.code == IT_CODE(2, 5))
    j = parse_json(b.body, b.len);
  else
    fprintf(stderr, "\nGET /%s: %d\n", path_and_query, IT_CODE_INT(b.code));
  free(b.body);
  return j;
}

/* The statusMessageIDs of {"StatusMessages": [...]}, in order; -1 for a
 * missing list. */
static int ids_of(const json_t *doc, int64_t *ids, int cap) {
  const json_t *a = json_object_get(doc, "StatusMessages");
  if (!json_is_array(a))
    return -1;
  int n = 0;
  size_t i;
  const json_t *m;
  json_array_foreach(a, i, m) {
    const json_t *id = json_object_get(m, "statusMessageID");
    if (!json_is_integer(id) || n == cap)
      return -1;
    ids[n++] = (int64_t)json_integer_value(id);
  }
  return n;
}

static int64_t id_of(const json_t *msg) {
  const json_t *id = json_object_get(msg, "statusMessageID");
  return json_is_integer(id) ? (int64_t)json_integer_value(id) : -1;
}

/* Check a problem-details answer: code, format and the field it names. */
static void check_problem(const it_coap_msg_t *resp, int code, int cf,
                          const char *field) {
  it_problem_t p;
  CU_ASSERT_EQUAL(IT_CODE_INT(resp->code), code);
  CU_ASSERT_EQUAL(cf_of(resp), cf);
  if (it_problem_parse(resp->payload, resp->payload_len, cf, &p) != 0) {
    CU_FAIL("not a problem-details document");
    return;
  }
  CU_ASSERT_PTR_NOT_NULL(p.title);
  CU_ASSERT_PTR_NOT_NULL(p.detail);
  if (field != NULL) {
    if (p.field == NULL || strcmp(p.field, field) != 0)
      fprintf(stderr, "\nwanted field %s, got %s (%s)\n", field,
              p.field ? p.field : "(none)", p.detail ? p.detail : "");
    CU_ASSERT_STRING_EQUAL(p.field ? p.field : "(none)", field);
  }
  it_problem_free(&p);
}

/* Run edgecoap-client with these arguments (NULL-terminated). */
static int cli(it_result_t *r, bool expect_ok, ...) {
  const char *argv[32];
  int n = 0;
  argv[n++] = EC_CLIENT_BIN;
  argv[n++] = "--url";
  argv[n++] = srv.url;
  va_list ap;
  va_start(ap, expect_ok);
  const char *a;
  while ((a = va_arg(ap, const char *)) != NULL && n < 31)
    argv[n++] = a;
  va_end(ap);
  argv[n] = NULL;
  memset(r, 0, sizeof(*r));
  if (!server_ok())
    return -1;
  int rc = it_run(argv, NULL, 0, CLI_TIMEOUT_MS, r);
  if ((rc == 0) != expect_ok)
    it_result_dump("edgecoap-client", r);
  return rc;
}

static int coap_client(it_cc_t *cc, ...) {
  const char *args[24];
  int n = 0;
  va_list ap;
  va_start(ap, cc);
  const char *a;
  while ((a = va_arg(ap, const char *)) != NULL && n < 23)
    args[n++] = a;
  va_end(ap);
  args[n] = NULL;
  memset(cc, 0, sizeof(*cc));
  if (!server_ok())
    return -1;
  return it_coap_client(args, CLI_TIMEOUT_MS, cc);
}

static char *url_of(char *out, size_t cap, const char *path) {
  snprintf(out, cap, "%s/%s", srv.url, path);
  return out;
}

/* ---- 1. POST one message and a batch ----------------------------------- */

static void test_post_single_and_batch(void) {
  CU_ASSERT_TRUE_FATAL(server_ok());
  const char *one =
      "{\"messageCode\":\"101\",\"orderId\":\"P-ONE\",\"macAddress\":"
      "[\"AA-BB-CC-00-00-01\",\"aabb.cc00.0002\"],\"messageParameters\":"
      "[{\"Delivery date\":\"2018-06-17\"}]}";
  it_coap_msg_t *resp = msg_new();
  CU_ASSERT_EQUAL_FATAL(
      raw(IT_POST, COLL, EC_FORMAT_JSON, -1, one, strlen(one), resp), 0);
  CU_ASSERT_EQUAL(IT_CODE_INT(resp->code), 201);
  CU_ASSERT_EQUAL(cf_of(resp), EC_FORMAT_JSON);
  json_t *m = parse_json(resp->payload, resp->payload_len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  int64_t id = id_of(m);
  CU_ASSERT_TRUE(id >= 1);
  char loc[128], want[128];
  CU_ASSERT_TRUE(it_coap_location_path(resp, loc, sizeof(loc)) > 0);
  snprintf(want, sizeof(want), COLL "/%" PRId64, id);
  CU_ASSERT_STRING_EQUAL(loc, want);
  /* Stored as normalised: numbers typed, MACs lowercase with colons, the
   * date of receipt in UTC with milliseconds. */
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(m, "messageCode")), 101);
  json_t *macs = json_object_get(m, "macAddress");
  CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(macs, 0)),
                         "aa:bb:cc:00:00:01");
  CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(macs, 1)),
                         "aa:bb:cc:00:00:02");
  const char *date = json_string_value(json_object_get(m, "messageDate"));
  CU_ASSERT_TRUE(date != NULL && strlen(date) == 24 && date[19] == '.' &&
                 date[23] == 'Z');

  /* The Location is a resource that answers the same message. */
  CU_ASSERT_EQUAL_FATAL(raw(IT_GET, loc, -1, EC_FORMAT_JSON, NULL, 0, resp), 0);
  CU_ASSERT_EQUAL(IT_CODE_INT(resp->code), 205);
  json_t *again = parse_json(resp->payload, resp->payload_len);
  CU_ASSERT_TRUE(again != NULL && json_equal(m, again));
  json_decref(again);
  /* In CBOR too: the same document. */
  CU_ASSERT_EQUAL_FATAL(raw(IT_GET, loc, -1, EC_FORMAT_CBOR, NULL, 0, resp), 0);
  CU_ASSERT_EQUAL(cf_of(resp), EC_FORMAT_CBOR);
  char json[2048];
  ssize_t n =
      ec_cbor_to_json(resp->payload, resp->payload_len, json, sizeof(json));
  CU_ASSERT_FATAL(n > 0 && (size_t)n < sizeof(json));
  again = parse_json(json, (size_t)n);
  CU_ASSERT_TRUE(again != NULL && json_equal(m, again));
  json_decref(again);
  json_decref(m);

  /* A batch: 2.01, no Location, consecutive IDs after the first. */
  const char *batch =
      "{\"StatusMessages\":[{\"messageCode\":102,\"orderId\":\"P-TWO\"},"
      "{\"messageCode\":103,\"subscriptionId\":\"P-TWO\",\"messageDate\":"
      "\"2018-06-17T16:50:10.033+02:00\"},{\"messageCode\":104,\"accessId\":"
      "\"PTWO\"}]}";
  CU_ASSERT_EQUAL_FATAL(raw(IT_POST, COLL, EC_FORMAT_JSON, EC_FORMAT_JSON,
                            batch, strlen(batch), resp),
                        0);
  CU_ASSERT_EQUAL(IT_CODE_INT(resp->code), 201);
  CU_ASSERT_EQUAL(it_coap_opt_count(resp, IT_OPT_LOCATION_PATH), 0);
  json_t *b = parse_json(resp->payload, resp->payload_len);
  int64_t ids[3];
  CU_ASSERT_EQUAL_FATAL(ids_of(b, ids, 3), 3);
  CU_ASSERT_TRUE(ids[0] > id);
  CU_ASSERT_EQUAL(ids[1], ids[0] + 1);
  CU_ASSERT_EQUAL(ids[2], ids[0] + 2);
  json_t *second = json_array_get(json_object_get(b, "StatusMessages"), 1);
  CU_ASSERT_STRING_EQUAL(
      json_string_value(json_object_get(second, "messageDate")),
      "2018-06-17T14:50:10.033Z");
  json_decref(b);

  /* Unknown and malformed IDs. */
  CU_ASSERT_EQUAL(raw(IT_GET, COLL "/9223372036854775807", -1, EC_FORMAT_JSON,
                      NULL, 0, resp),
                  0);
  check_problem(resp, 404, EC_FORMAT_JSON, NULL);
  CU_ASSERT_EQUAL(raw(IT_GET, COLL "/12ab", -1, EC_FORMAT_JSON, NULL, 0, resp),
                  0);
  check_problem(resp, 400, EC_FORMAT_JSON, "statusMessageID");
  CU_ASSERT_EQUAL(raw(IT_GET, COLL "/1/x", -1, -1, NULL, 0, resp), 0);
  CU_ASSERT_EQUAL(IT_CODE_INT(resp->code), 404);
  CU_ASSERT_EQUAL(
      raw(IT_POST, COLL "/latest", EC_FORMAT_JSON, -1, "{}", 2, resp), 0);
  CU_ASSERT_EQUAL(IT_CODE_INT(resp->code), 405);
  free(resp);
}

/* A retransmitted CON POST (same Message ID) is answered again, stored once. */
static void test_retransmitted_post_stored_once(void) {
  CU_ASSERT_TRUE_FATAL(server_ok());
  const char *body = "{\"messageCode\":105,\"orderId\":\"RETX\"}";
  it_coap_msg_t *req = msg_new(), *r1 = msg_new(), *r2 = msg_new();
  uint8_t tok[4], dgram[512];
  it_udp_token(&udp, tok);
  it_coap_init(req, IT_CON, IT_POST, it_udp_mid(&udp), tok, sizeof(tok));
  it_coap_add_path(req, COLL);
  it_coap_add_uint(req, IT_OPT_CONTENT_FORMAT, EC_FORMAT_JSON);
  it_coap_set_payload(req, body, strlen(body));
  ssize_t n = it_coap_encode(req, dgram, sizeof(dgram));
  CU_ASSERT_FATAL(n > 0);
  CU_ASSERT_EQUAL_FATAL(
      it_coap_exchange_raw(&udp, dgram, (size_t)n, r1, RAW_TIMEOUT_MS), 0);
  CU_ASSERT_EQUAL_FATAL(
      it_coap_exchange_raw(&udp, dgram, (size_t)n, r2, RAW_TIMEOUT_MS), 0);
  CU_ASSERT_EQUAL(IT_CODE_INT(r1->code), 201);
  CU_ASSERT_EQUAL(IT_CODE_INT(r2->code), 201);
  CU_ASSERT_TRUE(r1->payload_len == r2->payload_len &&
                 memcmp(r1->payload, r2->payload, r1->payload_len) == 0);
  char l1[96], l2[96];
  CU_ASSERT_TRUE(it_coap_location_path(r1, l1, sizeof(l1)) > 0);
  CU_ASSERT_TRUE(it_coap_location_path(r2, l2, sizeof(l2)) > 0);
  CU_ASSERT_STRING_EQUAL(l1, l2);
  json_t *list = get_list(COLL "?orderId=RETX");
  int64_t ids[4];
  CU_ASSERT_EQUAL(ids_of(list, ids, 4), 1);
  json_decref(list);
  free(req);
  free(r1);
  free(r2);
}

/* ---- 2. Refusals -------------------------------------------------------- */

static void test_bad_messages_are_400_naming_the_field(void) {
  CU_ASSERT_TRUE_FATAL(server_ok());
  static const struct {
    const char *body, *field;
  } bad[] = {
      {"{\"statusMessageID\":1,\"messageCode\":101,\"orderId\":\"BAD\"}",
       "statusMessageID"},
      {"{\"messageCode\":101,\"orderId\":\"BAD\",\"macAddress\":[\"fe:00:ae:35:"
       "44:ac\",\"oc:be:65:40:20:de\"]}",
       "macAddress[1]"},
      {"{\"messageCode\":1000,\"orderId\":\"BAD\"}", "messageCode"},
      {"{\"messageCode\":\"x1\",\"orderId\":\"BAD\"}", "messageCode"},
      {"{\"orderId\":\"BAD\"}", "messageCode"},
      {"{\"messageCode\":101,\"orderId\":\"BAD_1\"}", "orderId"},
      {"{\"messageCode\":101,\"orderId\":"
       "\"0123456789012345678901234567890123456\"}",
       "orderId"},
      {"{\"messageCode\":101,\"accessId\":\"A-1\"}", "accessId"},
      {"{\"messageCode\":101}", "orderId"},
      {"{\"messageCode\":101,\"orderId\":\"BAD\",\"messageDate\":\"2018-06-17 "
       "14:50\"}",
       "messageDate"},
      {"{\"messageCode\":101,\"orderId\":\"BAD\",\"messageParameters\":[{\"a\":"
       "\"1\",\"b\":\"2\"}]}",
       "messageParameters[0]"},
      {"{\"messageCode\":101,\"orderId\":\"BAD\",\"dhcpOption\":{\"IPv4\":{"
       "\"option82\":{\"remoteId\":1}}}}",
       "dhcpOption.IPv4.option82.remoteId"},
      {"{\"messageCode\":101,\"orderId\":\"BAD\",\"status\":1}", "status"},
      {"{\"StatusMessages\":[]}", "StatusMessages"},
      {"{\"StatusMessages\":[{\"messageCode\":101,\"orderId\":\"BAD\"},{"
       "\"messageCode\":101,\"orderId\":\"BAD\",\"macAddress\":[\"xx\"]}]}",
       "StatusMessages[1].macAddress[0]"},
  };
  it_coap_msg_t *resp = msg_new();
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    /* Alternate the answer's format: JSON problems, and concise CBOR (257). */
    int accept = i % 2 ? EC_FORMAT_CBOR : EC_FORMAT_JSON;
    CU_ASSERT_EQUAL_FATAL(raw(IT_POST, COLL, EC_FORMAT_JSON, accept,
                              bad[i].body, strlen(bad[i].body), resp),
                          0);
    check_problem(resp, 400, i % 2 ? 257 : EC_FORMAT_JSON, bad[i].field);
  }
  CU_ASSERT_EQUAL(raw(IT_POST, COLL, EC_FORMAT_JSON, -1, NULL, 0, resp), 0);
  check_problem(resp, 400, EC_FORMAT_JSON, NULL);
  CU_ASSERT_EQUAL(
      raw(IT_POST, COLL, EC_FORMAT_JSON, -1, "{\"messageCode\"", 14, resp), 0);
  check_problem(resp, 400, EC_FORMAT_JSON, NULL);
  CU_ASSERT_EQUAL(raw(IT_POST, COLL, 0, -1, "x", 1, resp), 0);
  CU_ASSERT_EQUAL(IT_CODE_INT(resp->code), 415);
  /* Nothing of the refused ones was stored. */
  json_t *list = get_list(COLL "?orderId=BAD");
  int64_t ids[4];
  CU_ASSERT_EQUAL(ids_of(list, ids, 4), 0);
  json_decref(list);
  free(resp);
}

static void test_batch_with_one_bad_message_stores_nothing(void) {
  CU_ASSERT_TRUE_FATAL(server_ok());
  /* 200 messages, the last one bad: the batch is refused whole. */
  json_t *batch = json_object(), *a = json_array();
  json_object_set_new(batch, "StatusMessages", a);
  for (int i = 0; i < 200; i++)
    json_array_append_new(
        a, json_pack("{s:i, s:s, s:[s]}", "messageCode", 101, "orderId",
                     "ATOMIC", "macAddress",
                     i == 199 ? "oc:be:65:40:20:de" : "aa:bb:cc:dd:ee:01"));
  char *body = json_dumps(batch, JSON_COMPACT);
  json_decref(batch);
  char file[320], url[384];
  snprintf(file, sizeof(file), "%s/atomic.json", srv.dir);
  CU_ASSERT_EQUAL_FATAL(it_write_file(file, body, strlen(body)), 0);
  it_cc_t cc;
  /* coap-client sends it block-wise (Block1); the refusal names the field. */
  coap_client(&cc, "-m", "post", "-t", "50", "-f", file,
              url_of(url, sizeof(url), COLL), NULL);
  CU_ASSERT_EQUAL(it_cc_last_code(&cc), 400);
  /* coap-client prints an error answer's body on standard error. */
  CU_ASSERT_TRUE(cc.run.err != NULL &&
                 strstr(cc.run.err, "StatusMessages[199].macAddress[0]") !=
                     NULL);
  it_cc_free(&cc);
  /* And the project's client says so too, without a round trip. */
  it_result_t r;
  CU_ASSERT_NOT_EQUAL(cli(&r, false, "messages", "post", file, NULL), 0);
  CU_ASSERT_EQUAL(r.exit_code, 1);
  CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "StatusMessages[199].macAddress[0]"));
  it_result_free(&r);
  json_t *list = get_list(COLL "?orderId=ATOMIC");
  int64_t ids[4];
  CU_ASSERT_EQUAL(ids_of(list, ids, 4), 0);
  json_decref(list);
  free(body);
}

/* A CBOR file to post is read by edgecoap-client with the device core
 * (cli/cbor_json.c, no libcbor) and refused, with no round trip, where
 * the server's codec would refuse it; one the codec reads is posted. */
static void test_client_checks_cbor_files_as_the_server(void) {
  static const char one[] = "{\"messageCode\":101,\"orderId\":\"CBORFILE\"}";
  uint8_t cbor[128], doc[160];
  ssize_t n = ec_json_to_cbor(one, strlen(one), cbor, sizeof(cbor));
  CU_ASSERT_TRUE_FATAL(n > 0 && cbor[0] == 0xa2);
  const uint8_t *key = NULL;
  for (ssize_t i = 0; i + 8 <= n && key == NULL; i++)
    key = memcmp(cbor + i, "\x67orderId", 8) == 0 ? cbor + i : NULL;
  CU_ASSERT_PTR_NOT_NULL_FATAL(key);
  size_t at = (size_t)(key - cbor), rest = (size_t)n - at;
  char file[320];
  snprintf(file, sizeof(file), "%s/message.cbor", srv.dir);
  it_result_t r;
  /* orderId's key with a head longer than it needs (0x78 0x07), which
   * the codec reads and does not write: posted, and printed back. */
  size_t k = at;
  memcpy(doc, cbor, at);
  doc[k++] = 0x78;
  doc[k++] = 0x07;
  memcpy(doc + k, key + 1, rest - 1);
  k += rest - 1;
  CU_ASSERT_EQUAL_FATAL(it_write_file(file, doc, k), 0);
  CU_ASSERT_EQUAL(cli(&r, true, "messages", "post", file, NULL), 0);
  json_t *out = parse_json(r.out, r.out_len);
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(out, "orderId"))
                             ? json_string_value(json_object_get(out, "orderId"))
                             : "",
                         "CBORFILE");
  json_decref(out);
  it_result_free(&r);
  /* Refused locally, exit status 1: orderId twice, the document cut
   * short, bytes after it. */
  memcpy(doc, cbor, (size_t)n);
  memcpy(doc + n, key, rest);
  const struct {
    size_t len;
    uint8_t first;
  } bad[] = {{(size_t)n + rest, 0xa3}, {(size_t)n - 1, 0xa2},
             {(size_t)n + 1, 0xa2}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    doc[0] = bad[i].first;
    CU_ASSERT_EQUAL_FATAL(it_write_file(file, doc, bad[i].len), 0);
    CU_ASSERT_NOT_EQUAL(cli(&r, false, "messages", "post", file, NULL), 0);
    CU_ASSERT_EQUAL(r.exit_code, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "malformed-body"));
    CU_ASSERT_EQUAL(r.out_len, 0);
    it_result_free(&r);
  }
  json_t *list = get_list(COLL "?orderId=CBORFILE");
  int64_t ids[4];
  CU_ASSERT_EQUAL(ids_of(list, ids, 4), 1); /* the first post alone */
  json_decref(list);
}

static void test_bad_filters_are_400_naming_the_filter(void) {
  CU_ASSERT_TRUE_FATAL(server_ok());
  static const struct {
    const char *query, *field;
  } bad[] = {
      {"orderid=X", "orderid"},
      {"statusMessageID=1", "statusMessageID"},
      {"orderId=A_B", "orderId"},
      {"orderId", "orderId"},
      {"orderId=A&orderId=B", "orderId"},
      {"subscriptionId=", "subscriptionId"},
      {"accessId=A.1", "accessId"},
      {"macAddress=oc:be:65:40:20:de", "macAddress"},
      {"macAddress=aabbcc", "macAddress"},
      {"fromDateTime=2018-06-17", "fromDateTime"},
      {"toDateTime=tomorrow", "toDateTime"},
      {"fromStatusMessageID=-1", "fromStatusMessageID"},
      {"toStatusMessageID=9223372036854775808", "toStatusMessageID"},
      {"limit=0", "limit"},
      {"limit=10001", "limit"},
      {"limit=ten", "limit"},
  };
  it_coap_msg_t *resp = msg_new();
  char path[256];
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    snprintf(path, sizeof(path), "%s%s?%s", COLL, i % 3 == 2 ? "/latest" : "",
             bad[i].query);
    CU_ASSERT_EQUAL_FATAL(raw(IT_GET, path, -1, -1, NULL, 0, resp), 0);
    check_problem(resp, 400, EC_FORMAT_JSON, bad[i].field);
  }
  CU_ASSERT_EQUAL(raw(IT_GET, COLL "/latest?limit=1", -1, -1, NULL, 0, resp),
                  0);
  check_problem(resp, 400, EC_FORMAT_JSON, "limit");
  /* FETCH: the same rules on the body's keys, and no query beside it. */
  static const struct {
    const char *body, *field;
  } fbad[] = {
      {"{\"orderID\":\"X\"}", "orderID"},
      {"{\"orderId\":5}", "orderId"},
      {"{\"macAddress\":\"oc:be:65:40:20:de\"}", "macAddress"},
      {"{\"limit\":20000}", "limit"},
      {"[]", NULL},
  };
  for (size_t i = 0; i < sizeof(fbad) / sizeof(fbad[0]); i++) {
    CU_ASSERT_EQUAL_FATAL(raw(IT_FETCH, COLL, EC_FORMAT_JSON, -1, fbad[i].body,
                              strlen(fbad[i].body), resp),
                          0);
    check_problem(resp, 400, EC_FORMAT_JSON, fbad[i].field);
  }
  CU_ASSERT_EQUAL(
      raw(IT_FETCH, COLL "?orderId=X", EC_FORMAT_JSON, -1, "{}", 2, resp), 0);
  check_problem(resp, 400, EC_FORMAT_JSON, "orderId");
  free(resp);
}

/* ---- 3. Filters, alone and combined; FETCH agrees with GET ------------- */

/* A small feed of known shape, all in 2001 (no other test uses that year). */
#define F_N 40
static int64_t f_ids[F_N];
static int64_t f_dates[F_N]; /* seconds of 2001-01-01, UTC */

static const char *f_order(int i) {
  return i % 4 == 0 ? "F-A" : i % 4 == 1 ? "F-B" : NULL;
}
static const char *f_sub(int i) {
  return i % 3 == 0 ? "FS1" : "FS2";
}
static const char *f_access(int i) {
  return i % 5 == 0 ? "FAC" : NULL;
}
static bool f_has_mac(int i) {
  return i % 6 < 2;
}

static void store_filter_feed(void) {
  static bool done;
  if (done)
    return;
  json_t *batch = json_object(), *a = json_array();
  json_object_set_new(batch, "StatusMessages", a);
  for (int i = 0; i < F_N; i++) {
    char date[40];
    /* Dates out of ID order: a date range is not an ID range. */
    f_dates[i] = (i * 17) % F_N * 60;
    snprintf(date, sizeof(date), "2001-01-01T%02d:%02d:00%s",
             (int)(f_dates[i] / 3600), (int)(f_dates[i] / 60 % 60),
             i % 2 ? "Z" : "");
    json_t *m = json_pack("{s:i, s:s, s:s}", "messageCode", 100 + i,
                          "subscriptionId", f_sub(i), "messageDate", date);
    if (f_order(i))
      json_object_set_new(m, "orderId", json_string(f_order(i)));
    if (f_access(i))
      json_object_set_new(m, "accessId", json_string(f_access(i)));
    if (f_has_mac(i))
      json_object_set_new(
          m, "macAddress",
          json_pack("[s,s]", "00:00:5e:00:53:01",
                    i % 2 ? "00-00-5E-00-53-AF" : "0000.5e00.53ff"));
    json_array_append_new(a, m);
  }
  /* Several kilobytes both ways: edgecoap-client does Block1 and Block2. */
  char file[320];
  snprintf(file, sizeof(file), "%s/filter-feed.json", srv.dir);
  CU_ASSERT_EQUAL_FATAL(json_dump_file(batch, file, JSON_COMPACT), 0);
  json_decref(batch);
  it_result_t r;
  CU_ASSERT_EQUAL_FATAL(cli(&r, true, "--json", "messages", "post", file, NULL),
                        0);
  json_t *out = parse_json(r.out, r.out_len);
  CU_ASSERT_EQUAL_FATAL(ids_of(out, f_ids, F_N), F_N);
  json_decref(out);
  it_result_free(&r);
  done = true;
}

typedef struct {
  const char *query; /* the Uri-Query */
  const char *body;  /* the same filter as a FETCH body */
  bool (*want)(int i);
} fcase_t;

static bool w_order_a(int i) {
  return f_order(i) && strcmp(f_order(i), "F-A") == 0;
}
static bool w_sub1(int i) {
  return strcmp(f_sub(i), "FS1") == 0;
}
static bool w_access(int i) {
  return f_access(i) != NULL;
}
static bool w_mac(int i) {
  return f_has_mac(i);
}
static bool w_mac_af(int i) {
  return f_has_mac(i) && i % 2;
}
static bool w_early(int i) {
  return f_dates[i] <= 600;
}
static bool w_late(int i) {
  return f_dates[i] >= 1800;
}
static bool w_window(int i) {
  return f_dates[i] >= 600 && f_dates[i] <= 1200;
}
static bool w_sub1_mac(int i) {
  return w_sub1(i) && w_mac(i);
}
static bool w_b_late(int i) {
  return f_order(i) && !strcmp(f_order(i), "F-B") && w_late(i);
}
static bool w_none(int i) {
  (void)i;
  return false;
}

static const fcase_t fcases[] = {
    {"orderId=F-A", "{\"orderId\":\"F-A\"}", w_order_a},
    {"subscriptionId=FS1", "{\"subscriptionId\":\"FS1\"}", w_sub1},
    {"accessId=FAC", "{\"accessId\":\"FAC\"}", w_access},
    {"macAddress=00:00:5e:00:53:01", "{\"macAddress\":\"00005E005301\"}",
     w_mac},
    {"macAddress=0000.5e00.53af", "{\"macAddress\":\"00-00-5e-00-53-af\"}",
     w_mac_af},
    {"fromDateTime=2001-01-01T00:00:00Z&toDateTime=2001-01-01T00:10:00Z",
     "{\"fromDateTime\":\"2001-01-01T01:00:00+01:00\",\"toDateTime\":\"2001-01-"
     "01T00:10:00\"}",
     w_early},
    {"fromDateTime=2001-01-01T00:30:00Z&toDateTime=2001-12-31T00:00:00Z",
     "{\"fromDateTime\":\"2001-01-01T00:30:00.000Z\",\"toDateTime\":\"2001-12-"
     "31T00:00:00Z\"}",
     w_late},
    {"toDateTime=2001-01-01T00:20:00Z&fromDateTime=2001-01-01T00:10:00Z",
     "{\"toDateTime\":\"2001-01-01T00:20:00Z\",\"fromDateTime\":\"2001-01-"
     "01T00:10:00Z\"}",
     w_window},
    {"subscriptionId=FS1&macAddress=000000000000",
     "{\"subscriptionId\":\"FS1\",\"macAddress\":\"000000000000\"}", w_none},
    {"macAddress=00:00:5e:00:53:01&subscriptionId=FS1",
     "{\"macAddress\":\"00:00:5e:00:53:01\",\"subscriptionId\":\"FS1\"}",
     w_sub1_mac},
    {"orderId=F-B&fromDateTime=2001-01-01T00:30:00Z",
     "{\"orderId\":\"F-B\",\"fromDateTime\":\"2001-01-01T00:30:00Z\"}",
     w_b_late},
    {"orderId=F-A&accessId=nobody",
     "{\"orderId\":\"F-A\",\"accessId\":\"nobody\"}", w_none},
};

/* The feed's expected IDs for @p want, optionally within (after, before). */
static int expected(bool (*want)(int), int64_t after, int64_t before,
                    int64_t *out) {
  int n = 0;
  for (int i = 0; i < F_N; i++)
    if (want(i) && f_ids[i] > after && f_ids[i] < before)
      out[n++] = f_ids[i];
  return n;
}

static bool same_ids(const json_t *doc, const int64_t *want, int n_want,
                     const char *what) {
  int64_t got[F_N + 1];
  int n = ids_of(doc, got, F_N + 1);
  bool ok = n == n_want;
  for (int i = 0; ok && i < n; i++)
    ok = got[i] == want[i];
  if (!ok)
    fprintf(stderr, "\n%s: %d messages, wanted %d\n", what, n, n_want);
  return ok;
}

static void test_each_filter_alone_and_combined(void) {
  CU_ASSERT_TRUE_FATAL(server_ok());
  store_filter_feed();
  char path[512];
  int64_t want[F_N];
  for (size_t c = 0; c < sizeof(fcases) / sizeof(fcases[0]); c++) {
    snprintf(path, sizeof(path), COLL "?%s", fcases[c].query);
    json_t *doc = get_list(path);
    int n = expected(fcases[c].want, 0, INT64_MAX, want);
    CU_ASSERT_TRUE(same_ids(doc, want, n, fcases[c].query));
    json_decref(doc);
    /* With an ID range on top, and with a limit. */
    int64_t after = f_ids[5], before = f_ids[30];
    snprintf(path, sizeof(path),
             COLL "?%s&fromStatusMessageID=%" PRId64
                  "&toStatusMessageID=%" PRId64,
             fcases[c].query, after, before);
    doc = get_list(path);
    n = expected(fcases[c].want, after, before, want);
    CU_ASSERT_TRUE(same_ids(doc, want, n, path));
    json_decref(doc);
    snprintf(path, sizeof(path), COLL "?limit=2&%s", fcases[c].query);
    doc = get_list(path);
    n = expected(fcases[c].want, 0, INT64_MAX, want);
    CU_ASSERT_TRUE(same_ids(doc, want, n < 2 ? n : 2, path));
    json_decref(doc);
  }
  /* The ID range alone: exclusive at both ends. */
  snprintf(path, sizeof(path),
           COLL "?fromStatusMessageID=%" PRId64 "&toStatusMessageID=%" PRId64,
           f_ids[0], f_ids[3]);
  json_t *doc = get_list(path);
  CU_ASSERT_TRUE(same_ids(doc, &f_ids[1], 2, "ID range"));
  json_decref(doc);
  /* No filter: ascending IDs, the default limit of 1000 at most. */
  doc = get_list(COLL);
  int64_t *all = malloc(10001 * sizeof(*all));
  int n = ids_of(doc, all, 10001);
  CU_ASSERT_TRUE(n > 0 && n <= 1000);
  for (int i = 1; i < n; i++)
    CU_ASSERT_TRUE(all[i] > all[i - 1]);
  free(all);
  json_decref(doc);
}

static void test_fetch_agrees_with_get(void) {
  CU_ASSERT_TRUE_FATAL(server_ok());
  store_filter_feed();
  it_coap_msg_t *resp = msg_new();
  char path[512];
  uint8_t cbor[512];
  for (size_t c = 0; c < sizeof(fcases) / sizeof(fcases[0]); c++) {
    snprintf(path, sizeof(path), COLL "?%s", fcases[c].query);
    it_body_t g;
    CU_ASSERT_EQUAL_FATAL(
        it_coap_get_blockwise(&udp, path, EC_FORMAT_JSON, 1024, 100, &g, 10000),
        0);
    const char *b = fcases[c].body;
    if (g.blocks == 1) {
      CU_ASSERT_EQUAL_FATAL(raw(IT_FETCH, COLL, EC_FORMAT_JSON, EC_FORMAT_JSON,
                                b, strlen(b), resp),
                            0);
      CU_ASSERT_EQUAL(IT_CODE_INT(resp->code), 205);
      CU_ASSERT_TRUE(resp->payload_len == g.len &&
                     memcmp(resp->payload, g.body, g.len) == 0);
    } else {
      /* A block-wise answer: libcoap's client repeats the FETCH for each
       * block (RFC 8132 section 2.3.2) and reassembles it. */
      char url[384];
      it_cc_t cc;
      CU_ASSERT_EQUAL(coap_client(&cc, "-m", "fetch", "-t", "50", "-A", "50",
                                  "-e", b, url_of(url, sizeof(url), COLL),
                                  NULL),
                      0);
      CU_ASSERT_EQUAL(it_cc_last_code(&cc), 205);
      CU_ASSERT_TRUE(cc.body_len == g.len &&
                     memcmp(cc.body, g.body, g.len) == 0);
      it_cc_free(&cc);
    }
    /* The same filter as CBOR, answered in CBOR: the same document. */
    ssize_t cn = ec_json_to_cbor(b, strlen(b), cbor, sizeof(cbor));
    CU_ASSERT_FATAL(cn > 0);
    CU_ASSERT_EQUAL_FATAL(
        raw(IT_FETCH, COLL, EC_FORMAT_CBOR, -1, cbor, (size_t)cn, resp), 0);
    CU_ASSERT_EQUAL(cf_of(resp), EC_FORMAT_CBOR);
    if (g.blocks == 1) {
      char *json = malloc(g.len + 1);
      ssize_t jn =
          ec_cbor_to_json(resp->payload, resp->payload_len, json, g.len + 1);
      CU_ASSERT_TRUE(jn == (ssize_t)g.len && memcmp(json, g.body, g.len) == 0);
      free(json);
    }
    free(g.body);
  }
  /* libcoap's coap-client as the FETCH client, as docs/API.md shows it. */
  char url[384];
  it_cc_t cc;
  CU_ASSERT_EQUAL(coap_client(&cc, "-m", "fetch", "-t", "50", "-A", "50", "-e",
                              fcases[0].body, url_of(url, sizeof(url), COLL),
                              NULL),
                  0);
  CU_ASSERT_EQUAL(it_cc_last_code(&cc), 205);
  json_t *doc = parse_json(cc.body, cc.body_len);
  int64_t want[F_N];
  int n = expected(fcases[0].want, 0, INT64_MAX, want);
  CU_ASSERT_TRUE(same_ids(doc, want, n, "coap-client FETCH"));
  json_decref(doc);
  it_cc_free(&cc);
  /* And the project's client, GET and FETCH. */
  it_result_t r1, r2;
  CU_ASSERT_EQUAL(
      cli(&r1, true, "--json", "messages", "list", "orderId=F-A", NULL), 0);
  CU_ASSERT_EQUAL(
      cli(&r2, true, "messages", "list", "orderId=F-A", "--fetch", NULL), 0);
  json_t *j1 = parse_json(r1.out, r1.out_len),
         *j2 = parse_json(r2.out, r2.out_len);
  CU_ASSERT_TRUE(j1 != NULL && j2 != NULL && json_equal(j1, j2));
  CU_ASSERT_TRUE(same_ids(j1, want, n, "edgecoap-client list"));
  json_decref(j1);
  json_decref(j2);
  it_result_free(&r1);
  it_result_free(&r2);
  free(resp);
}

/* ---- 4. Bulk: 3,000 messages, block-wise, incremental sync -------------- */

static int64_t bulk_first, bulk_last;

static void test_3000_messages_come_back_whole_blockwise(void) {
  CU_ASSERT_TRUE_FATAL(server_ok());
  /* Posted by edgecoap-client in CBOR, 1,000 to a batch (Block1). */
  for (int b = 0; b < BULK_N / BULK_BATCH; b++) {
    json_t *batch = json_object(), *a = json_array();
    json_object_set_new(batch, "StatusMessages", a);
    for (int i = 0; i < BULK_BATCH; i++) {
      int k = b * BULK_BATCH + i;
      char mac[18], sub[16], n[16];
      snprintf(mac, sizeof(mac), "02:00:00:00:%02x:%02x", k >> 8, k & 255);
      snprintf(sub, sizeof(sub), "BULK-S%d", k % 30);
      snprintf(n, sizeof(n), "%d", k);
      json_array_append_new(
          a, json_pack("{s:i, s:s, s:s, s:[s], s:[{s:s}]}", "messageCode",
                       101 + k % 10, "orderId", "BULK", "subscriptionId", sub,
                       "macAddress", mac, "messageParameters", "n", n));
    }
    char file[320];
    snprintf(file, sizeof(file), "%s/bulk-%d.json", srv.dir, b);
    CU_ASSERT_EQUAL_FATAL(json_dump_file(batch, file, JSON_COMPACT), 0);
    json_decref(batch);
    it_result_t r;
    CU_ASSERT_EQUAL_FATAL(cli(&r, true, "messages", "post", file, NULL), 0);
    json_t *out = parse_json(r.out, r.out_len);
    int64_t *ids = malloc(BULK_BATCH * sizeof(*ids));
    CU_ASSERT_EQUAL(ids_of(out, ids, BULK_BATCH), BULK_BATCH);
    if (b == 0)
      bulk_first = ids[0];
    bulk_last = ids[BULK_BATCH - 1];
    free(ids);
    json_decref(out);
    it_result_free(&r);
  }
  CU_ASSERT_EQUAL(bulk_last - bulk_first + 1, BULK_N);

  /* Block-wise GETs with limit=10000 bring all 3,000 back whole and in
   * order, page by page: each page is cut by the server's byte cap and says
   * where the next starts (nextFromStatusMessageID). */
  int64_t *ids = malloc((BULK_N + 1) * sizeof(*ids));
  int got = 0, pages = 0;
  int64_t from = bulk_first - 1;
  for (;;) {
    char path[160];
    snprintf(path, sizeof(path),
             COLL "?orderId=BULK&limit=10000&fromStatusMessageID=%" PRId64,
             from);
    it_body_t body;
    CU_ASSERT_EQUAL_FATAL(it_coap_get_blockwise(&udp, path, EC_FORMAT_JSON,
                                                1024, 2000, &body, 30000),
                          0);
    CU_ASSERT_EQUAL(body.code, IT_CODE(2, 5));
    CU_ASSERT_TRUE(body.etag_len > 0);
    /* A page is bounded whatever the limit. */
    CU_ASSERT_TRUE(body.len <= 3 * EC_TEST_PAGE_BYTES);
    json_t *doc = parse_json(body.body, body.len);
    free(body.body);
    int n = ids_of(doc, ids + got, BULK_N + 1 - got);
    CU_ASSERT_FATAL(n > 0);
    const json_t *next = json_object_get(doc, "nextFromStatusMessageID");
    if (got + n == BULK_N) {
      json_t *last = json_array_get(json_object_get(doc, "StatusMessages"),
                                    (size_t)n - 1);
      CU_ASSERT_STRING_EQUAL(
          json_string_value(
              json_array_get(json_object_get(last, "macAddress"), 0)),
          "02:00:00:00:0b:b7");
    }
    got += n;
    pages++;
    CU_ASSERT_FATAL(pages < 1000);
    if (next == NULL) {
      json_decref(doc);
      break;
    }
    CU_ASSERT_EQUAL(json_integer_value(next), ids[got - 1]);
    from = ids[got - 1];
    json_decref(doc);
  }
  CU_ASSERT_EQUAL(got, BULK_N);
  CU_ASSERT_TRUE(pages > 3);
  for (int i = 0; i < got; i++)
    CU_ASSERT_EQUAL(ids[i], bulk_first + i);

  /* libcoap's client reassembles a CBOR page: the same first messages. */
  char url[384];
  it_cc_t cc;
  CU_ASSERT_EQUAL(
      coap_client(&cc, "-m", "get", "-A", "60",
                  url_of(url, sizeof(url), COLL "?orderId=BULK&limit=10000"),
                  NULL),
      0);
  CU_ASSERT_EQUAL(it_cc_last_code(&cc), 205);
  ssize_t jn = ec_cbor_to_json(cc.body, cc.body_len, NULL, 0);
  char *json = jn > 0 ? malloc((size_t)jn + 1) : NULL;
  CU_ASSERT_PTR_NOT_NULL_FATAL(json);
  ec_cbor_to_json(cc.body, cc.body_len, json, (size_t)jn + 1);
  json_t *doc = parse_json(json, (size_t)jn);
  int64_t *cids = malloc((BULK_N + 1) * sizeof(*cids));
  int cn = ids_of(doc, cids, BULK_N + 1);
  CU_ASSERT_TRUE(cn > 0 && cn < BULK_N);
  for (int i = 0; i < cn; i++)
    CU_ASSERT_EQUAL(cids[i], bulk_first + i);
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(
                      doc, "nextFromStatusMessageID")),
                  cn > 0 ? cids[cn - 1] : -1);
  free(cids);
  json_decref(doc);
  free(json);
  it_cc_free(&cc);
  free(ids);
}

static void test_incremental_sync_returns_every_message_once(void) {
  CU_ASSERT_TRUE_FATAL(server_ok() && bulk_first > 0);
  /* Raw pages of 700 after the last ID seen; a message stored mid-sync is
   * picked up by a later page, and none is seen twice. */
  int64_t *seen = calloc(BULK_N + 16, sizeof(*seen));
  int n_seen = 0, pages = 0;
  int64_t last = bulk_first - 1;
  int64_t extra = -1;
  for (;;) {
    char path[160];
    snprintf(path, sizeof(path),
             COLL "?orderId=BULK&limit=700&fromStatusMessageID=%" PRId64, last);
    json_t *doc = get_list(path);
    int64_t page[701];
    int n = ids_of(doc, page, 701);
    bool cut = json_object_get(doc, "nextFromStatusMessageID") != NULL;
    json_decref(doc);
    CU_ASSERT_FATAL(n >= 0);
    for (int i = 0; i < n; i++) {
      CU_ASSERT_TRUE(page[i] > last);
      last = page[i];
      if (n_seen < BULK_N + 16)
        seen[n_seen++] = page[i];
    }
    pages++;
    if (pages == 2) {
      json_t *out;
      CU_ASSERT_EQUAL(
          post_json("{\"messageCode\":110,\"orderId\":\"BULK\"}", &out), 201);
      extra = id_of(out);
      json_decref(out);
    }
    if (n < 700 && !cut)
      break;
    CU_ASSERT_FATAL(pages < 1000);
  }
  CU_ASSERT_TRUE(pages >= 5);
  CU_ASSERT_EQUAL(n_seen, BULK_N + 1);
  CU_ASSERT_EQUAL(seen[n_seen - 1], extra);
  for (int i = 1; i < n_seen; i++)
    CU_ASSERT_TRUE(seen[i] > seen[i - 1]);
  free(seen);

  /* The client's sync helper, through edgecoap-client list --all. */
  char from[48];
  snprintf(from, sizeof(from), "fromStatusMessageID=%" PRId64, bulk_first - 1);
  it_result_t r;
  CU_ASSERT_EQUAL(cli(&r, true, "messages", "list", "--all", "orderId=BULK",
                      "limit=400", from, NULL),
                  0);
  json_t *doc = parse_json(r.out, r.out_len);
  int64_t *ids = malloc((BULK_N + 2) * sizeof(*ids));
  CU_ASSERT_EQUAL(ids_of(doc, ids, BULK_N + 2), BULK_N + 1);
  for (int i = 0; i < BULK_N; i++)
    CU_ASSERT_EQUAL(ids[i], bulk_first + i);
  free(ids);
  json_decref(doc);
  it_result_free(&r);
}

/* ---- 5. latest and its observers ---------------------------------------- */

static it_proc_t *start_watch(const char *format, const char *filter,
                              const char *count) {
  const char *argv[] = {EC_CLIENT_BIN, "--url",      srv.url, format,
                        "messages",    "watch",      filter,  "--count",
                        count,         "--max-time", "20",    NULL};
  it_proc_t *p = NULL;
  if (server_ok())
    CU_ASSERT_EQUAL(it_proc_spawn(argv, NULL, 0, &p), 0);
  return p;
}

static void test_latest_observer_hears_only_its_filter(void) {
  CU_ASSERT_TRUE_FATAL(server_ok());
  it_coap_msg_t *resp = msg_new();
  it_result_t r0;
  CU_ASSERT_EQUAL_FATAL(raw(IT_GET, COLL "/latest?orderId=OBS-A", -1,
                            EC_FORMAT_JSON, NULL, 0, resp),
                        0);
  CU_ASSERT_EQUAL(IT_CODE_INT(resp->code), 205);
  CU_ASSERT_TRUE(resp->payload_len == 21 &&
                 memcmp(resp->payload, "{\"StatusMessages\":[]}", 21) == 0);

  /* Observers: A in JSON and in CBOR (edgecoap-client), B with coap-client. */
  it_proc_t *wa = start_watch("--json", "orderId=OBS-A", "4");
  it_proc_t *wa2 = start_watch("--cbor", "orderId=OBS-A", "4");
  char url[384];
  url_of(url, sizeof(url), COLL "/latest?orderId=OBS-B");
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
  it_proc_t *wb = NULL;
  CU_ASSERT_EQUAL_FATAL(it_proc_spawn(cc_argv, NULL, 0, &wb), 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(wa);
  CU_ASSERT_PTR_NOT_NULL_FATAL(wa2);
  /* Each first prints the current state: nothing yet. */
  CU_ASSERT_EQUAL(
      it_proc_wait_lines(wa, "{\"StatusMessages\":[]}", 1, NOTIFY_WAIT_MS), 1);
  CU_ASSERT_EQUAL(
      it_proc_wait_lines(wa2, "{\"StatusMessages\":[]}", 1, NOTIFY_WAIT_MS), 1);
  CU_ASSERT_EQUAL(
      it_proc_wait_for(wb, "{\"StatusMessages\":[]}", NOTIFY_WAIT_MS), 1);

  /* A message for B: B hears of it, A does not. */
  json_t *out;
  CU_ASSERT_EQUAL(
      post_json("{\"messageCode\":101,\"orderId\":\"OBS-B\"}", &out), 201);
  json_decref(out);
  CU_ASSERT_EQUAL(it_proc_wait_for(wb, "OBS-B", NOTIFY_WAIT_MS), 1);
  it_sleep_ms(300); /* A's notification would have gone out with B's */
  CU_ASSERT_EQUAL(it_proc_wait_lines(wa, "{", 2, 100), 1);
  CU_ASSERT_EQUAL(it_proc_wait_lines(wa2, "{", 2, 100), 1);

  /* A message for A: both of A's observers hear of it. */
  CU_ASSERT_EQUAL(
      post_json("{\"messageCode\":102,\"orderId\":\"OBS-A\"}", &out), 201);
  char idtext[48];
  snprintf(idtext, sizeof(idtext), "\"statusMessageID\":%" PRId64, id_of(out));
  json_decref(out);
  CU_ASSERT_EQUAL(it_proc_wait_lines(wa, idtext, 1, NOTIFY_WAIT_MS), 1);
  CU_ASSERT_EQUAL(it_proc_wait_lines(wa2, idtext, 1, NOTIFY_WAIT_MS), 1);

  /* A batch with two for A and one for B: A hears of the newer A once. */
  CU_ASSERT_EQUAL(post_json("{\"StatusMessages\":[{\"messageCode\":103,"
                            "\"orderId\":\"OBS-A\"},{\"messageCode\":104,"
                            "\"orderId\":\"OBS-A\"},{\"messageCode\":105,"
                            "\"orderId\":\"OBS-B\"}]}",
                            &out),
                  201);
  int64_t ids[3];
  CU_ASSERT_EQUAL(ids_of(out, ids, 3), 3);
  json_decref(out);
  snprintf(idtext, sizeof(idtext), "\"statusMessageID\":%" PRId64, ids[1]);
  CU_ASSERT_EQUAL(it_proc_wait_lines(wa, idtext, 1, NOTIFY_WAIT_MS), 1);
  CU_ASSERT_EQUAL(it_proc_wait_lines(wa2, idtext, 1, NOTIFY_WAIT_MS), 1);
  snprintf(idtext, sizeof(idtext), "\"statusMessageID\":%" PRId64, ids[2]);
  CU_ASSERT_EQUAL(it_proc_wait_for(wb, idtext, NOTIFY_WAIT_MS), 1);

  /* A message too big for one datagram: the notification leaves out its
   * lists, and the whole of it is a GET away. */
  json_t *big = json_pack("{s:i, s:s, s:[]}", "messageCode", 106, "orderId",
                          "OBS-A", "messageParameters");
  for (int i = 0; i < 4; i++) {
    char k[8], v[600];
    snprintf(k, sizeof(k), "p%d", i);
    memset(v, 'a' + i, sizeof(v) - 1);
    v[sizeof(v) - 1] = '\0';
    json_array_append_new(json_object_get(big, "messageParameters"),
                          json_pack("{s:s}", k, v));
  }
  char file[320];
  snprintf(file, sizeof(file), "%s/big-message.json", srv.dir);
  CU_ASSERT_EQUAL_FATAL(json_dump_file(big, file, JSON_COMPACT), 0);
  json_decref(big);
  CU_ASSERT_EQUAL_FATAL(
      cli(&r0, true, "--json", "messages", "post", file, NULL), 0);
  out = parse_json(r0.out, r0.out_len);
  int64_t big_id = id_of(out);
  json_decref(out);
  it_result_free(&r0);
  snprintf(idtext, sizeof(idtext), "\"statusMessageID\":%" PRId64, big_id);
  CU_ASSERT_EQUAL(it_proc_wait_lines(wa, idtext, 1, NOTIFY_WAIT_MS), 1);
  CU_ASSERT_EQUAL(it_proc_wait_lines(wa2, idtext, 1, NOTIFY_WAIT_MS), 1);
  const char *line = strstr(it_proc_stdout(wa), idtext);
  CU_ASSERT_TRUE(line != NULL && strstr(line, "messageParameters") == NULL &&
                 strstr(line, "\"messageCode\":106") != NULL);

  /* The watchers stop after their four lines, with status 0. */
  it_result_t r;
  CU_ASSERT_EQUAL(it_proc_finish(wa, NOTIFY_WAIT_MS, &r), 0);
  CU_ASSERT_PTR_NULL(strstr(r.out, "OBS-B"));
  CU_ASSERT_PTR_NULL(strstr(r.out, "\"messageCode\":103"));
  it_result_free(&r);
  CU_ASSERT_EQUAL(it_proc_finish(wa2, NOTIFY_WAIT_MS, &r), 0);
  CU_ASSERT_PTR_NULL(strstr(r.out, "OBS-B"));
  it_result_free(&r);
  CU_ASSERT_EQUAL(it_proc_stop(wb, NOTIFY_WAIT_MS, &r), 0);
  CU_ASSERT_PTR_NULL(strstr(r.out, "OBS-A"));
  it_result_free(&r);

  /* latest now answers the newest A, whole (block-wise). */
  json_t *doc = get_list(COLL "/latest?orderId=OBS-A");
  int64_t got[2];
  CU_ASSERT_EQUAL(ids_of(doc, got, 2), 1);
  CU_ASSERT_EQUAL(got[0], big_id);
  json_t *m0 = json_array_get(json_object_get(doc, "StatusMessages"), 0);
  CU_ASSERT_EQUAL(json_array_size(json_object_get(m0, "messageParameters")), 4);
  json_decref(doc);
  free(resp);
}

static void test_well_known_core_lists_the_resources(void) {
  CU_ASSERT_TRUE_FATAL(server_ok());
  it_body_t b;
  CU_ASSERT_EQUAL_FATAL(
      it_coap_get_blockwise(&udp, ".well-known/core", -1, 1024, 50, &b, 10000),
      0);
  const char *doc = (const char *)b.body;
  const char *coll = strstr(doc, "</api/2.3/statusmessages>");
  const char *latest = strstr(doc, "</api/2.3/statusmessages/latest>");
  CU_ASSERT_PTR_NOT_NULL(coll);
  CU_ASSERT_PTR_NOT_NULL(latest);
  if (latest != NULL) {
    const char *end = strchr(latest, ',');
    size_t len = end ? (size_t)(end - latest) : strlen(latest);
    char attrs[256];
    snprintf(attrs, sizeof(attrs), "%.*s", (int)len, latest);
    CU_ASSERT_PTR_NOT_NULL(strstr(attrs, ";obs"));
    CU_ASSERT_PTR_NOT_NULL(
        strstr(attrs, "rt=\"on-api.status-messages.latest\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(attrs, "ct=\"50 60\""));
  }
  free(b.body);
}

static void test_server_stops_cleanly(void) {
  CU_ASSERT_TRUE(it_server_alive(&srv, 3000));
  CU_ASSERT_EQUAL(it_server_stop(&srv), 0);
  int errors = it_server_log_count(&srv, "[ERROR]");
  if (errors != 0)
    it_server_log_tail(&srv, 40);
  CU_ASSERT_EQUAL(errors, 0);
}

/* ------------------------------------------------------------------------ */

static int suite_init(void) {
  static const char *const extra[] = {"--max-body", "1048576", NULL};
  it_init();
  udp.fd = -1;
  if (it_server_start(&srv, extra) < 0)
    return -1;
  return it_udp_open(&udp, srv.port) == 0 ? 0 : -1;
}

/* ---- a block-wise page is one snapshot --------------------------------- */

/* Block @p num of @p size bytes of GET @p path in @p accept on @p u; its
 * ETag into @p etag (8 bytes, zero-padded). @return the code, or -1 */
static int get_block_of(it_udp_t *u, const char *path, uint32_t num,
                        unsigned size, int accept, uint8_t etag[8],
                        it_coap_msg_t *resp) {
  it_coap_msg_t *req = msg_new();
  uint8_t tok[4];
  size_t len = 0;
  it_udp_token(u, tok);
  it_coap_init(req, IT_CON, IT_GET, it_udp_mid(u), tok, sizeof(tok));
  it_coap_add_path(req, path);
  it_coap_add_uint(req, IT_OPT_ACCEPT, (uint32_t)accept);
  it_coap_add_block(req, IT_OPT_BLOCK2, num, false, size);
  int rc = it_coap_exchange(u, req, resp, RAW_TIMEOUT_MS);
  free(req);
  memset(etag, 0, 8);
  const uint8_t *v = rc == 0 ? it_coap_opt(resp, IT_OPT_ETAG, 0, &len) : NULL;
  if (v != NULL && len <= 8)
    memcpy(etag, v, len);
  return rc == 0 ? IT_CODE_INT(resp->code) : -1;
}

/* Block @p num of 256 bytes in JSON. */
static int get_block(it_udp_t *u, const char *path, uint32_t num,
                     uint8_t etag[8], it_coap_msg_t *resp) {
  return get_block_of(u, path, num, 256, EC_FORMAT_JSON, etag, resp);
}

/* Post @p n messages of orderId @p order (each with a parameter, so that a
 * few make more than a block). */
static void post_order(const char *order, int n) {
  char body[256];
  for (int i = 0; i < n; i++) {
    snprintf(body, sizeof(body),
                       "{\"messageCode\":%d,\"orderId\":\"%s\","
                       "\"messageParameters\":[{\"Delivery date\":"
                       "\"2018-07-%02d\"}]}",
                       201 + i, order, 1 + i % 28);
    CU_ASSERT_EQUAL(post_json(body, NULL), 201);
  }
}

/* A later block of a kept page is answered before libcoap reads the
 * request (server/coap/pagecache.h): it must be, byte for byte after the
 * Message ID and token, the answer the dispatcher gives a requester whose
 * page is not kept, in either format and block size, and logged the same. */
static void test_later_block_is_the_dispatchers_answer(void) {
  CU_ASSERT_TRUE_FATAL(server_ok());
  static const char path[] = COLL "?orderId=LATER-1";
  post_order("LATER-1", 12);
  it_coap_msg_t *kept = msg_new(), *built = msg_new();
  static const struct {
    unsigned size;
    int accept;
  } ways[] = {{1024, EC_FORMAT_CBOR}, {256, EC_FORMAT_JSON},
              {1024, EC_FORMAT_JSON}};
  for (size_t w = 0; w < sizeof(ways) / sizeof(ways[0]); w++) {
    uint8_t e0[8], e_kept[8], e_built[8];
    CU_ASSERT_EQUAL_FATAL(get_block_of(&udp, path, 0, ways[w].size,
                                       ways[w].accept, e0, kept),
                          205);
    it_block_t b;
    CU_ASSERT_EQUAL_FATAL(it_coap_block(kept, IT_OPT_BLOCK2, &b), 0);
    CU_ASSERT_TRUE_FATAL(b.more);
    for (uint32_t num = 1; b.more; num++) {
      CU_ASSERT_EQUAL_FATAL(get_block_of(&udp, path, num, ways[w].size,
                                         ways[w].accept, e_kept, kept),
                            205);
      /* A requester never seen: no page, so the handler builds it. */
      it_udp_t other;
      CU_ASSERT_EQUAL_FATAL(it_udp_open_fresh(&other, srv.port), 0);
      CU_ASSERT_EQUAL(get_block_of(&other, path, num, ways[w].size,
                                   ways[w].accept, e_built, built),
                      205);
      it_udp_close(&other);
      CU_ASSERT_EQUAL(memcmp(e0, e_kept, 8), 0);
      CU_ASSERT_EQUAL(kept->type, IT_ACK);
      CU_ASSERT_EQUAL(built->type, IT_ACK);
      size_t head = 4 + 4; /* header and a 4-byte token */
      CU_ASSERT_TRUE_FATAL(kept->raw_len > head && built->raw_len > head);
      CU_ASSERT_EQUAL(kept->raw_len, built->raw_len);
      CU_ASSERT_TRUE(kept->raw_len == built->raw_len &&
                     memcmp(kept->raw + head, built->raw + head,
                            kept->raw_len - head) == 0);
      CU_ASSERT_EQUAL_FATAL(it_coap_block(kept, IT_OPT_BLOCK2, &b), 0);
      CU_ASSERT_EQUAL(b.num, num);
    }
  }
  /* Every block of every way, kept or built, has its access line. */
  CU_ASSERT_TRUE(it_server_log_count(&srv, "method=GET path=\"/api/2.3/"
                                           "statusmessages?orderId=LATER-1\""
                                           " code=2.05") >= 3 * 2);
  free(kept);
  free(built);
}

/* Every requester reading a page at once keeps it between its blocks: 40
 * of them, each from an address of its own, read block 0, a message is
 * stored, and each one's block 1 still comes from its own page (its ETag);
 * a cache of 32 pages gave the first requesters' blocks 1 of a new page. */
static void test_pages_kept_for_many_requesters(void) {
  CU_ASSERT_TRUE_FATAL(server_ok());
  static const char path[] = COLL "?orderId=MANY-1";
  enum { READERS = 40 };
  post_order("MANY-1", 4);
  it_udp_t *u = calloc(READERS, sizeof(*u));
  uint8_t (*e0)[8] = calloc(READERS, 8);
  it_coap_msg_t *resp = msg_new();
  CU_ASSERT_PTR_NOT_NULL_FATAL(u);
  CU_ASSERT_PTR_NOT_NULL_FATAL(e0);
  for (int i = 0; i < READERS; i++) {
    CU_ASSERT_EQUAL_FATAL(it_udp_open_fresh(&u[i], srv.port), 0);
    CU_ASSERT_EQUAL(get_block(&u[i], path, 0, e0[i], resp), 205);
  }
  post_order("MANY-1", 1);
  int same = 0;
  for (int i = 0; i < READERS; i++) {
    uint8_t e1[8];
    CU_ASSERT_EQUAL(get_block(&u[i], path, 1, e1, resp), 205);
    same += memcmp(e0[i], e1, 8) == 0;
    it_udp_close(&u[i]);
  }
  CU_ASSERT_EQUAL(same, READERS);
  free(resp);
  free(e0);
  free(u);
}

/* A list answer's later blocks come from the page built for its first, so
 * a message stored in between cannot tear the transfer; the next first
 * block is built anew, with another ETag, the same for every requester. */
static void test_blockwise_page_is_one_snapshot(void) {
  CU_ASSERT_TRUE_FATAL(server_ok());
  static const char path[] = COLL "?orderId=SNAP-1";
  char body[256];
  it_coap_msg_t *resp = msg_new();
  for (int i = 0; i < 6; i++) {
    int n = snprintf(body, sizeof(body),
                     "{\"messageCode\":%d,\"orderId\":\"SNAP-1\","
                     "\"messageParameters\":[{\"Delivery date\":"
                     "\"2018-06-%02d\"}]}",
                     101 + i, 10 + i);
    CU_ASSERT_EQUAL(raw(IT_POST, COLL, EC_FORMAT_JSON, -1, body, (size_t)n,
                        resp),
                    0);
    CU_ASSERT_EQUAL(IT_CODE_INT(resp->code), 201);
  }
  uint8_t e0[8], e1[8], e_new[8], e_other[8];
  CU_ASSERT_EQUAL_FATAL(get_block(&udp, path, 0, e0, resp), 205);
  it_block_t b;
  CU_ASSERT_EQUAL_FATAL(it_coap_block(resp, IT_OPT_BLOCK2, &b), 0);
  CU_ASSERT_TRUE_FATAL(b.more);

  /* Stored between block 0 and block 1: not in this transfer. */
  int n = snprintf(body, sizeof(body),
                   "{\"messageCode\":120,\"orderId\":\"SNAP-1\"}");
  CU_ASSERT_EQUAL(raw(IT_POST, COLL, EC_FORMAT_JSON, -1, body, (size_t)n,
                      resp),
                  0);
  CU_ASSERT_EQUAL(get_block(&udp, path, 1, e1, resp), 205);
  CU_ASSERT_EQUAL(memcmp(e0, e1, 8), 0);

  /* Another requester's first block, and this one's next first block, hold
   * the new message: one new ETag for both. */
  it_udp_t other;
  CU_ASSERT_EQUAL_FATAL(it_udp_open_fresh(&other, srv.port), 0);
  CU_ASSERT_EQUAL(get_block(&other, path, 0, e_other, resp), 205);
  it_udp_close(&other);
  CU_ASSERT_EQUAL(get_block(&udp, path, 0, e_new, resp), 205);
  CU_ASSERT_NOT_EQUAL(memcmp(e0, e_new, 8), 0);
  CU_ASSERT_EQUAL(memcmp(e_other, e_new, 8), 0);

  /* The whole answer, block by block, now has all seven. */
  it_body_t whole;
  CU_ASSERT_EQUAL_FATAL(it_coap_get_blockwise(&udp, path, EC_FORMAT_JSON, 256,
                                              64, &whole, RAW_TIMEOUT_MS),
                        0);
  json_t *j = parse_json(whole.body, whole.len);
  CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "StatusMessages")), 7);
  json_decref(j);
  free(whole.body);
  free(resp);
}

static int suite_cleanup(void) {
  it_udp_close(&udp);
  return 0;
}

static const ec_test_t tests[] = {
    {test_post_single_and_batch, "post_single_and_batch"},
    {test_retransmitted_post_stored_once, "retransmitted_post_stored_once"},
    {test_bad_messages_are_400_naming_the_field,
     "bad_messages_are_400_naming_the_field"},
    {test_batch_with_one_bad_message_stores_nothing,
     "batch_with_one_bad_message_stores_nothing"},
    {test_client_checks_cbor_files_as_the_server,
     "client_checks_cbor_files_as_the_server"},
    {test_bad_filters_are_400_naming_the_filter,
     "bad_filters_are_400_naming_the_filter"},
    {test_each_filter_alone_and_combined, "each_filter_alone_and_combined"},
    {test_fetch_agrees_with_get, "fetch_agrees_with_get"},
    {test_3000_messages_come_back_whole_blockwise,
     "3000_messages_come_back_whole_blockwise"},
    {test_incremental_sync_returns_every_message_once,
     "incremental_sync_returns_every_message_once"},
    {test_latest_observer_hears_only_its_filter,
     "latest_observer_hears_only_its_filter"},
    {test_blockwise_page_is_one_snapshot, "blockwise_page_is_one_snapshot"},
    {test_later_block_is_the_dispatchers_answer,
     "later_block_is_the_dispatchers_answer"},
    {test_pages_kept_for_many_requesters, "pages_kept_for_many_requesters"},
    {test_well_known_core_lists_the_resources,
     "well_known_core_lists_the_resources"},
    {test_server_stops_cleanly, "server_stops_cleanly"},
};

int main(void) {
  /* Keeps the server's directory (database and log) when something failed. */
  static const ec_test_after_t after = {it_after_run, &srv, "it_messages"};
  return ec_test_main("messages", tests, EC_TEST_COUNT(tests), suite_init,
                      suite_cleanup, &after);
}
