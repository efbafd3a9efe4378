/* edgecoap tests: the StatusMessage codec (messages, batches, stored rows,
 * MACs, filters). */
/* SPDX-License-Identifier: Apache-2.0 */
#include <CUnit/Basic.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgecoap/codec.h"
#include "edgecoap/status_message.h"
#include "suite.h"

#ifndef EC_TEST_DATA_DIR
#define EC_TEST_DATA_DIR "tests/data"
#endif

#define LEN(lit) (sizeof(lit) - 1)

static const char *data_dir = EC_TEST_DATA_DIR;
static _Alignas(max_align_t) uint8_t arena_mem[1 << 20];
static ec_arena_t arena;

/* A valid new message that every validation case below starts from: the
 * seed's second example without its ID. */
static const char base_msg[] =
    "{\"messageDate\":\"2018-06-17T14:58:12.043\",\"messageCode\":\"110\","
    "\"messageParameters\":[{\"Delivery date\":\"2018-06-18\"}],"
    "\"orderId\":\"O10000004234345\",\"subscriptionId\":\"S100943053344\","
    "\"accessId\":\"A100003453455\",\"macAddress\":[\"fe:00:ae:35:44:ac\"],"
    "\"dhcpOption\":{\"IPv4\":{\"option82\":{\"remoteId\":\"KS_A001:Gi0/014\","
    "\"circuitId\":\"A100003453455\"}}}}";

/* 2018-06-17T14:58:12.043Z */
#define BASE_DATE_MS INT64_C(1529247492043)

static char *read_data(const char *name, size_t *len) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", data_dir, name);
  FILE *f = fopen(path, "rb");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  char *buf = malloc(1 << 16);
  CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
  *len = fread(buf, 1, (1 << 16) - 1, f);
  buf[*len] = '\0';
  fclose(f);
  return buf;
}

static void reset_arena(void) {
  ec_arena_init(&arena, arena_mem, sizeof arena_mem);
}

/* Decode @p json as one message (or a batch, with @p list) in both formats:
 * the two must give the same verdict, title and field. */
static int decode_both(const char *json, ec_msg_kind_t kind, bool list,
                       ec_status_message_t *m, ec_codec_error_t *err) {
  static uint8_t cbor[1 << 20];
  ec_codec_error_t e1 = {0}, e2 = {0};
  ec_status_message_t m2, *ms = NULL;
  size_t n = 0, len = strlen(json);
  reset_arena();
  int r1 =
      list ? ec_status_messages_decode(EC_FORMAT_JSON, (const uint8_t *)json,
                                       len, kind, &ms, &n, NULL, &arena, &e1)
           : ec_status_message_decode(EC_FORMAT_JSON, (const uint8_t *)json,
                                      len, kind, m, &arena, &e1);
  if (list && r1 == 0 && n > 0) {
    *m = ms[0];
  }
  ssize_t cn = ec_json_to_cbor(json, len, cbor, sizeof cbor);
  CU_ASSERT_FATAL(cn >= 0 && (size_t)cn <= sizeof cbor);
  int r2 = list ? ec_status_messages_decode(EC_FORMAT_CBOR, cbor, (size_t)cn,
                                            kind, &ms, &n, NULL, &arena, &e2)
                : ec_status_message_decode(EC_FORMAT_CBOR, cbor, (size_t)cn,
                                           kind, &m2, &arena, &e2);
  CU_ASSERT_EQUAL(r1, r2);
  CU_ASSERT_STRING_EQUAL(e1.title, e2.title);
  CU_ASSERT_STRING_EQUAL(e1.field, e2.field);
  *err = e1;
  return r1;
}

/* Set (or, with @p value NULL, delete) the member at a dotted path such as
 * "macAddress[1]" or "dhcpOption.IPv4" in a copy of @p doc. */
static char *mutate(const char *doc, const char *path, const char *value) {
  json_t *root = json_loads(doc, 0, NULL);
  json_t *cur = root;
  char buf[128];
  snprintf(buf, sizeof buf, "%s", path);
  char *seg = strtok(buf, ".");
  while (seg != NULL) {
    char *next = strtok(NULL, ".");
    char *br = strchr(seg, '[');
    size_t idx = br != NULL ? strtoul(br + 1, NULL, 10) : 0;
    if (br != NULL) {
      *br = '\0';
      cur = json_object_get(cur, seg);
    }
    json_t *v = value != NULL ? json_loads(value, JSON_DECODE_ANY, NULL) : NULL;
    if (value != NULL) {
      CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    }
    if (next == NULL && br != NULL && v != NULL) {
      json_array_set_new(cur, idx, v);
    } else if (next == NULL && br != NULL) {
      json_array_remove(cur, idx);
    } else if (next == NULL && v != NULL) {
      json_object_set_new(cur, seg, v);
    } else if (next == NULL) {
      json_object_del(cur, seg);
    } else {
      json_decref(v);
      cur = br != NULL ? json_array_get(cur, idx) : json_object_get(cur, seg);
    }
    seg = next;
  }
  char *s = json_dumps(root, JSON_COMPACT);
  json_decref(root);
  return s;
}

static char *repeat(char c, size_t n) {
  char *s = malloc(n + 3);
  s[0] = '"';
  memset(s + 1, c, n);
  s[n + 1] = '"';
  s[n + 2] = '\0';
  return s;
}

/* ---- the seed's own examples ------------------------------------------- */

static void test_seed_examples_decode_except_the_bad_mac(void) {
  size_t len;
  char *seed = read_data("seed-status-messages.json", &len);
  ec_status_message_t m;
  ec_codec_error_t err = {0};

  /* As a whole the list is refused, naming the bad address. */
  CU_ASSERT_EQUAL(decode_both(seed, EC_MSG_STORED, true, &m, &err), EC_EBADDOC);
  CU_ASSERT_STRING_EQUAL(err.title, "invalid-mac-address");
  CU_ASSERT_STRING_EQUAL(err.field, "StatusMessages[2].macAddress[1]");

  /* One by one, the other three decode and the third is refused. */
  json_t *root = json_loads(seed, 0, NULL);
  json_t *list = json_object_get(root, "StatusMessages");
  CU_ASSERT_EQUAL_FATAL(json_array_size(list), 4);
  static const int64_t ids[] = {
      INT64_C(1000023424553123), INT64_C(100002342455554),
      INT64_C(100002342455554), INT64_C(100002342455554)};
  static const int codes[] = {101, 110, 106, 109};
  for (size_t i = 0; i < 4; i++) {
    char *one = json_dumps(json_array_get(list, i), JSON_COMPACT);
    int rc = decode_both(one, EC_MSG_STORED, false, &m, &err);
    if (i == 2) {
      CU_ASSERT_EQUAL(rc, EC_EBADDOC);
      CU_ASSERT_STRING_EQUAL(err.field, "macAddress[1]");
      CU_ASSERT_STRING_EQUAL(err.title, "invalid-mac-address");
    } else {
      CU_ASSERT_EQUAL_FATAL(rc, 0);
      CU_ASSERT_EQUAL(m.id, ids[i]);
      CU_ASSERT_EQUAL(m.code, codes[i]);
      CU_ASSERT_TRUE(m.has_date);
      CU_ASSERT_STRING_EQUAL(m.subscription_id, "S100943053344");
      CU_ASSERT_STRING_EQUAL(m.access_id, "A100003453455");
    }
    /* Posted, the ID is the server's to assign. */
    rc = decode_both(one, EC_MSG_NEW, false, &m, &err);
    CU_ASSERT_EQUAL(rc, EC_EBADDOC);
    CU_ASSERT_STRING_EQUAL(err.title, "server-assigned");
    CU_ASSERT_STRING_EQUAL(err.field, "statusMessageID");
    free(one);
  }

  /* The first in detail: no offset means UTC, strings become numbers. */
  char *first = json_dumps(json_array_get(list, 0), JSON_COMPACT);
  CU_ASSERT_EQUAL_FATAL(decode_both(first, EC_MSG_STORED, false, &m, &err), 0);
  CU_ASSERT_EQUAL(m.date_ms, INT64_C(1529247010033));
  CU_ASSERT_STRING_EQUAL(m.order_id, "O10000004234345");
  CU_ASSERT_EQUAL_FATAL(m.n_params, 1);
  CU_ASSERT_STRING_EQUAL(m.params[0].key, "Delivery date");
  CU_ASSERT_STRING_EQUAL(m.params[0].value, "2018-06-17");
  CU_ASSERT_TRUE(m.dhcp.present && m.dhcp.has_ipv4 && m.dhcp.has_option82);
  CU_ASSERT_FALSE(m.dhcp.has_ipv6);
  CU_ASSERT_PTR_NULL(m.dhcp.option82_remote_id);
  CU_ASSERT_STRING_EQUAL(m.dhcp.option82_circuit_id, "A100003453455");
  char out[1024];
  ssize_t n =
      ec_status_message_encode(EC_FORMAT_JSON, &m, (uint8_t *)out, sizeof out);
  CU_ASSERT_FATAL(n > 0 && (size_t)n < sizeof out);
  out[n] = '\0';
  CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"statusMessageID\":1000023424553123,"));
  CU_ASSERT_PTR_NOT_NULL(
      strstr(out, "\"messageDate\":\"2018-06-17T14:50:10.033Z\""));
  CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"messageCode\":101,"));
  free(first);

  /* The fourth has neither orderId nor parameters, and that is fine. */
  char *fourth = json_dumps(json_array_get(list, 3), JSON_COMPACT);
  CU_ASSERT_EQUAL_FATAL(decode_both(fourth, EC_MSG_STORED, false, &m, &err), 0);
  CU_ASSERT_PTR_NULL(m.order_id);
  CU_ASSERT_EQUAL(m.n_params, 0);
  CU_ASSERT_FALSE(m.dhcp.present);
  free(fourth);

  /* With the bad address fixed the whole list decodes. */
  json_array_set_new(json_object_get(json_array_get(list, 2), "macAddress"), 1,
                     json_string("0c:be:65:40:20:de"));
  char *fixed = json_dumps(root, JSON_COMPACT);
  ec_status_message_t *ms;
  size_t count;
  bool batch = false;
  reset_arena();
  CU_ASSERT_EQUAL_FATAL(
      ec_status_messages_decode(EC_FORMAT_JSON, (const uint8_t *)fixed,
                                strlen(fixed), EC_MSG_STORED, &ms, &count,
                                &batch, &arena, &err),
      0);
  CU_ASSERT_TRUE(batch);
  CU_ASSERT_EQUAL_FATAL(count, 4);
  CU_ASSERT_EQUAL_FATAL(ms[2].n_macs, 2);
  CU_ASSERT_EQUAL(ms[2].macs[0], UINT64_C(0xfe00ae3544ac));
  CU_ASSERT_EQUAL(ms[2].macs[1], UINT64_C(0x0cbe654020de));
  free(fixed);
  json_decref(root);
  free(seed);
}

/* ---- field rules -------------------------------------------------------- */

static const struct {
  const char *path;
  const char *value; /* NULL deletes */
  int code;
  const char *title;
  const char *field;
} rules[] = {
    /* statusMessageID is the server's */
    {"statusMessageID", "1", EC_EBADDOC, "server-assigned", "statusMessageID"},
    /* messageDate: optional, RFC 3339 */
    {"messageDate", NULL, 0, NULL, NULL},
    {"messageDate", "\"2018-06-17T16:58:12.043+02:00\"", 0, NULL, NULL},
    {"messageDate", "\"2018-06-17t14:58:12Z\"", 0, NULL, NULL},
    {"messageDate", "\"2018-02-30T00:00:00Z\"", EC_EBADDOC, "invalid-date-time",
     "messageDate"},
    {"messageDate", "\"17.06.2018\"", EC_EBADDOC, "invalid-date-time",
     "messageDate"},
    {"messageDate", "\"2018-06-17\"", EC_EBADDOC, "invalid-date-time",
     "messageDate"},
    {"messageDate", "1529247492043", EC_EBADDOC, "invalid-type", "messageDate"},
    /* messageCode: 100..999, an integer or its digits */
    {"messageCode", NULL, EC_EBADDOC, "missing-field", "messageCode"},
    {"messageCode", "101", 0, NULL, NULL},
    {"messageCode", "\"999\"", 0, NULL, NULL},
    {"messageCode", "100", 0, NULL, NULL},
    {"messageCode", "99", EC_EBADDOC, "out-of-range", "messageCode"},
    {"messageCode", "1000", EC_EBADDOC, "out-of-range", "messageCode"},
    {"messageCode", "\"1000\"", EC_EBADDOC, "out-of-range", "messageCode"},
    {"messageCode", "\"10a\"", EC_EBADDOC, "invalid-type", "messageCode"},
    {"messageCode", "\" 101\"", EC_EBADDOC, "invalid-type", "messageCode"},
    {"messageCode", "101.0", EC_EBADDOC, "invalid-type", "messageCode"},
    {"messageCode", "null", EC_EBADDOC, "invalid-type", "messageCode"},
    /* messageParameters: one-key objects with string values */
    {"messageParameters", "[]", 0, NULL, NULL},
    {"messageParameters", NULL, 0, NULL, NULL},
    {"messageParameters", "[{\"a\":\"\"},{\"a\":\"again\"}]", 0, NULL, NULL},
    {"messageParameters", "{\"a\":\"b\"}", EC_EBADDOC, "invalid-type",
     "messageParameters"},
    {"messageParameters", "[{\"a\":\"b\",\"c\":\"d\"}]", EC_EBADDOC,
     "invalid-parameter", "messageParameters[0]"},
    {"messageParameters", "[{\"a\":\"b\"},{}]", EC_EBADDOC, "invalid-parameter",
     "messageParameters[1]"},
    {"messageParameters", "[\"a\"]", EC_EBADDOC, "invalid-type",
     "messageParameters[0]"},
    {"messageParameters", "[{\"n\":5}]", EC_EBADDOC, "invalid-type",
     "messageParameters[0].n"},
    {"messageParameters", "[{\"\":\"x\"}]", EC_EBADDOC, "invalid-length",
     "messageParameters[0]"},
    /* orderId / subscriptionId: 1..36 of [-.0-9A-Za-z] */
    {"orderId", "\"O-1.2\"", 0, NULL, NULL},
    {"orderId", "\"\"", EC_EBADDOC, "invalid-length", "orderId"},
    {"orderId", "\"O_1\"", EC_EBADDOC, "invalid-characters", "orderId"},
    {"orderId", "\"O 1\"", EC_EBADDOC, "invalid-characters", "orderId"},
    {"orderId", "\"\\u00e9\"", EC_EBADDOC, "invalid-characters", "orderId"},
    {"orderId", "17", EC_EBADDOC, "invalid-type", "orderId"},
    {"subscriptionId", "\"S/1\"", EC_EBADDOC, "invalid-characters",
     "subscriptionId"},
    {"subscriptionId", "null", EC_EBADDOC, "invalid-type", "subscriptionId"},
    /* accessId: 1..32 of [0-9A-Za-z] */
    {"accessId", "\"A-1\"", EC_EBADDOC, "invalid-characters", "accessId"},
    {"accessId", "\"A.1\"", EC_EBADDOC, "invalid-characters", "accessId"},
    {"accessId", "\"\"", EC_EBADDOC, "invalid-length", "accessId"},
    /* macAddress: a list of addresses in any common spelling */
    {"macAddress", "[]", 0, NULL, NULL},
    {"macAddress",
     "[\"FE00AE3544AC\",\"fe-00-ae-35-44-ac\",\"fe00.ae35.44ac\"]", 0, NULL,
     NULL},
    {"macAddress",
     "[\"FE:00:AE:35:44:AC\",\"fe.00.ae.35.44.ac\",\"fe00:ae35:44ac\"]", 0,
     NULL, NULL},
    {"macAddress", "[\"fe:00:ae:35:44:ac\",\"oc:be:65:40:20:de\"]", EC_EBADDOC,
     "invalid-mac-address", "macAddress[1]"},
    {"macAddress", "[\"fe00ae3544ag\"]", EC_EBADDOC, "invalid-mac-address",
     "macAddress[0]"},
    {"macAddress", "[\"fe:00-ae:35:44:ac\"]", EC_EBADDOC, "invalid-mac-address",
     "macAddress[0]"},
    {"macAddress", "[\"fe0.0ae3.544ac\"]", EC_EBADDOC, "invalid-mac-address",
     "macAddress[0]"},
    {"macAddress", "[\"fe:00:ae:35:44:a\"]", EC_EBADDOC, "invalid-mac-address",
     "macAddress[0]"},
    {"macAddress", "[\"fe00ae3544a\"]", EC_EBADDOC, "invalid-length",
     "macAddress[0]"},
    {"macAddress", "[\"fe:00:ae:35:44:ac:0\"]", EC_EBADDOC, "invalid-length",
     "macAddress[0]"},
    {"macAddress", "\"fe:00:ae:35:44:ac\"", EC_EBADDOC, "invalid-type",
     "macAddress"},
    {"macAddress", "[42]", EC_EBADDOC, "invalid-type", "macAddress[0]"},
    /* dhcpOption: every member optional, values strings, nothing else */
    {"dhcpOption", "{}", 0, NULL, NULL},
    {"dhcpOption",
     "{\"IPv6\":{\"option18\":{\"interfaceId\":\"eth0\"},\"option37\":{"
     "\"remoteId\":\"r\"}}}",
     0, NULL, NULL},
    {"dhcpOption", "{\"IPv4\":{}}", 0, NULL, NULL},
    {"dhcpOption", "[]", EC_EBADDOC, "invalid-type", "dhcpOption"},
    {"dhcpOption.IPv5", "{}", EC_EBADDOC, "unknown-key", "dhcpOption.IPv5"},
    {"dhcpOption.IPv4", "\"x\"", EC_EBADDOC, "invalid-type", "dhcpOption.IPv4"},
    {"dhcpOption.IPv4.option83", "{}", EC_EBADDOC, "unknown-key",
     "dhcpOption.IPv4.option83"},
    {"dhcpOption.IPv4.option82.remoteId", "7", EC_EBADDOC, "invalid-type",
     "dhcpOption.IPv4.option82.remoteId"},
    {"dhcpOption.IPv4.option82.agentId", "\"x\"", EC_EBADDOC, "unknown-key",
     "dhcpOption.IPv4.option82.agentId"},
    {"dhcpOption.IPv6", "{\"option37\":{\"interfaceId\":\"x\"}}", EC_EBADDOC,
     "unknown-key", "dhcpOption.IPv6.option37.interfaceId"},
    /* unknown keys */
    {"messageType", "\"x\"", EC_EBADDOC, "unknown-key", "messageType"},
    {"StatusMessageID", "1", EC_EBADDOC, "unknown-key", "StatusMessageID"},
};

static void test_every_field_rule_in_both_formats(void) {
  for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
    char *doc = mutate(base_msg, rules[i].path, rules[i].value);
    ec_status_message_t m;
    ec_codec_error_t err = {0};
    int rc = decode_both(doc, EC_MSG_NEW, false, &m, &err);
    if (rc != rules[i].code ||
        (rules[i].title != NULL && (strcmp(err.title, rules[i].title) != 0 ||
                                    strcmp(err.field, rules[i].field) != 0))) {
      fprintf(stderr, "\nrule %zu (%s = %s): got %d %s %s\n", i, rules[i].path,
              rules[i].value ? rules[i].value : "(deleted)", rc, err.title,
              err.field);
    }
    CU_ASSERT_EQUAL(rc, rules[i].code);
    if (rules[i].title != NULL) {
      CU_ASSERT_STRING_EQUAL(err.title, rules[i].title);
      CU_ASSERT_STRING_EQUAL(err.field, rules[i].field);
      CU_ASSERT_NOT_EQUAL(err.detail[0], '\0');
    }
    free(doc);
  }
}

static void test_id_lengths_at_their_limits(void) {
  static const struct {
    const char *field;
    size_t max;
  } ids[] = {{"orderId", 36}, {"subscriptionId", 36}, {"accessId", 32}};
  for (size_t i = 0; i < 3; i++) {
    for (size_t len = ids[i].max; len <= ids[i].max + 1; len++) {
      char *v = repeat('Z', len);
      char *doc = mutate(base_msg, ids[i].field, v);
      ec_status_message_t m;
      ec_codec_error_t err = {0};
      int rc = decode_both(doc, EC_MSG_NEW, false, &m, &err);
      if (len == ids[i].max) {
        CU_ASSERT_EQUAL(rc, 0);
      } else {
        CU_ASSERT_EQUAL(rc, EC_EBADDOC);
        CU_ASSERT_STRING_EQUAL(err.title, "invalid-length");
        CU_ASSERT_STRING_EQUAL(err.field, ids[i].field);
      }
      free(doc);
      free(v);
    }
  }
}

static void test_one_identifier_is_required(void) {
  char *a = mutate(base_msg, "orderId", NULL);
  char *b = mutate(a, "subscriptionId", NULL);
  char *c = mutate(b, "accessId", NULL);
  ec_status_message_t m;
  ec_codec_error_t err = {0};
  /* Any one of the three is enough. */
  CU_ASSERT_EQUAL(decode_both(b, EC_MSG_NEW, false, &m, &err), 0);
  CU_ASSERT_PTR_NULL(m.order_id);
  CU_ASSERT_STRING_EQUAL(m.access_id, "A100003453455");
  CU_ASSERT_EQUAL(decode_both(c, EC_MSG_NEW, false, &m, &err), EC_EBADDOC);
  CU_ASSERT_STRING_EQUAL(err.title, "missing-field");
  CU_ASSERT_STRING_EQUAL(err.field, "orderId");
  free(a);
  free(b);
  free(c);
}

static void test_list_caps(void) {
  json_t *doc = json_loads(base_msg, 0, NULL);
  json_t *macs = json_array();
  for (int i = 0; i <= EC_MSG_MAX_MACS; i++) {
    char mac[18];
    ec_mac_format((uint64_t)i, mac);
    json_array_append_new(macs, json_string(mac));
  }
  json_object_set_new(doc, "macAddress", macs);
  char *s = json_dumps(doc, JSON_COMPACT);
  ec_status_message_t m;
  ec_codec_error_t err = {0};
  CU_ASSERT_EQUAL(decode_both(s, EC_MSG_NEW, false, &m, &err), EC_ETOOBIG);
  CU_ASSERT_STRING_EQUAL(err.field, "macAddress");
  free(s);
  json_array_remove(macs, 0);
  s = json_dumps(doc, JSON_COMPACT);
  CU_ASSERT_EQUAL(decode_both(s, EC_MSG_NEW, false, &m, &err), 0);
  CU_ASSERT_EQUAL(m.n_macs, EC_MSG_MAX_MACS);
  free(s);
  json_t *params = json_array();
  for (int i = 0; i <= EC_MSG_MAX_PARAMS; i++) {
    json_array_append_new(params, json_pack("{s:s}", "k", "v"));
  }
  json_object_set_new(doc, "messageParameters", params);
  s = json_dumps(doc, JSON_COMPACT);
  CU_ASSERT_EQUAL(decode_both(s, EC_MSG_NEW, false, &m, &err), EC_ETOOBIG);
  CU_ASSERT_STRING_EQUAL(err.field, "messageParameters");
  free(s);
  json_decref(doc);
}

/* ---- batches ------------------------------------------------------------ */

static char *batch_of(const char *first, const char *second) {
  size_t n = strlen(first) + strlen(second) + 32;
  char *s = malloc(n);
  snprintf(s, n, "{\"StatusMessages\":[%s,%s]}", first, second);
  return s;
}

static void test_batches(void) {
  ec_status_message_t m, *ms;
  size_t n;
  bool batch;
  ec_codec_error_t err = {0};
  char *bad = mutate(base_msg, "accessId", "\"A_1\"");
  char *two = batch_of(base_msg, base_msg);
  char *second_bad = batch_of(base_msg, bad);

  CU_ASSERT_EQUAL(decode_both(two, EC_MSG_NEW, true, &m, &err), 0);
  reset_arena();
  CU_ASSERT_EQUAL(ec_status_messages_decode(
                      EC_FORMAT_JSON, (const uint8_t *)two, strlen(two),
                      EC_MSG_NEW, &ms, &n, &batch, &arena, &err),
                  0);
  CU_ASSERT_EQUAL(n, 2);
  CU_ASSERT_TRUE(batch);
  /* A plain message is a "batch" of one that says it is not one. */
  reset_arena();
  CU_ASSERT_EQUAL(ec_status_messages_decode(
                      EC_FORMAT_JSON, (const uint8_t *)base_msg, LEN(base_msg),
                      EC_MSG_NEW, &ms, &n, &batch, &arena, &err),
                  0);
  CU_ASSERT_EQUAL(n, 1);
  CU_ASSERT_FALSE(batch);

  CU_ASSERT_EQUAL(decode_both(second_bad, EC_MSG_NEW, true, &m, &err),
                  EC_EBADDOC);
  CU_ASSERT_STRING_EQUAL(err.field, "StatusMessages[1].accessId");
  CU_ASSERT_STRING_EQUAL(err.title, "invalid-characters");

  CU_ASSERT_EQUAL(
      decode_both("{\"StatusMessages\":[]}", EC_MSG_NEW, true, &m, &err),
      EC_EBADDOC);
  CU_ASSERT_STRING_EQUAL(err.title, "invalid-length");
  CU_ASSERT_STRING_EQUAL(err.field, "StatusMessages");
  /* An empty list is a fine answer, though. */
  CU_ASSERT_EQUAL(
      decode_both("{\"StatusMessages\":[]}", EC_MSG_STORED, true, &m, &err), 0);
  CU_ASSERT_EQUAL(
      decode_both("{\"StatusMessages\":{}}", EC_MSG_NEW, true, &m, &err),
      EC_EBADDOC);
  CU_ASSERT_STRING_EQUAL(err.title, "invalid-type");
  CU_ASSERT_EQUAL(
      decode_both("{\"StatusMessages\":[1]}", EC_MSG_NEW, true, &m, &err),
      EC_EBADDOC);
  CU_ASSERT_STRING_EQUAL(err.field, "StatusMessages[0]");
  CU_ASSERT_EQUAL(decode_both("{\"StatusMessages\":[],\"x\":1}", EC_MSG_NEW,
                              true, &m, &err),
                  EC_EBADDOC);
  CU_ASSERT_STRING_EQUAL(err.title, "unknown-key");
  CU_ASSERT_STRING_EQUAL(err.field, "x");
  CU_ASSERT_EQUAL(decode_both("[1]", EC_MSG_NEW, true, &m, &err), EC_EBADDOC);
  CU_ASSERT_STRING_EQUAL(err.title, "invalid-type");
  free(bad);
  free(two);
  free(second_bad);
}

static void test_batch_size_cap(void) {
  const char *one = "{\"messageCode\":101,\"accessId\":\"A1\"}";
  size_t per = strlen(one) + 1;
  size_t cap = (EC_MSG_MAX_BATCH + 1) * per + 64;
  char *s = malloc(cap);
  size_t n = (size_t)snprintf(s, cap, "{\"StatusMessages\":[");
  for (int i = 0; i <= EC_MSG_MAX_BATCH; i++) {
    n += (size_t)snprintf(s + n, cap - n, "%s%s", i ? "," : "", one);
  }
  snprintf(s + n, cap - n, "]}");
  ec_status_message_t *ms;
  size_t count;
  ec_codec_error_t err = {0};
  reset_arena();
  CU_ASSERT_EQUAL(ec_status_messages_decode(EC_FORMAT_JSON, (uint8_t *)s,
                                            strlen(s), EC_MSG_NEW, &ms, &count,
                                            NULL, &arena, &err),
                  EC_ETOOBIG);
  CU_ASSERT_STRING_EQUAL(err.field, "StatusMessages");
  free(s);
}

/* ---- stored messages and exact int64 ----------------------------------- */

static void test_stored_kind_needs_id_and_date_and_skips_unknown_keys(void) {
  ec_status_message_t m;
  ec_codec_error_t err = {0};
  char *with_id = mutate(base_msg, "statusMessageID", "42");
  CU_ASSERT_EQUAL(decode_both(base_msg, EC_MSG_STORED, false, &m, &err),
                  EC_EBADDOC);
  CU_ASSERT_STRING_EQUAL(err.field, "statusMessageID");
  CU_ASSERT_STRING_EQUAL(err.title, "missing-field");
  CU_ASSERT_EQUAL(decode_both(with_id, EC_MSG_STORED, false, &m, &err), 0);
  CU_ASSERT_EQUAL(m.id, 42);
  char *no_date = mutate(with_id, "messageDate", NULL);
  CU_ASSERT_EQUAL(decode_both(no_date, EC_MSG_STORED, false, &m, &err),
                  EC_EBADDOC);
  CU_ASSERT_STRING_EQUAL(err.field, "messageDate");
  char *zero = mutate(with_id, "statusMessageID", "0");
  CU_ASSERT_EQUAL(decode_both(zero, EC_MSG_STORED, false, &m, &err),
                  EC_EBADDOC);
  CU_ASSERT_STRING_EQUAL(err.title, "out-of-range");
  char *extra = mutate(with_id, "addedLater", "{\"x\":[1]}");
  CU_ASSERT_EQUAL(decode_both(extra, EC_MSG_STORED, false, &m, &err), 0);
  char *bad_extra = mutate(extra, "macAddress[0]", "\"zz\"");
  CU_ASSERT_EQUAL(decode_both(bad_extra, EC_MSG_STORED, false, &m, &err),
                  EC_EBADDOC);
  free(with_id);
  free(no_date);
  free(zero);
  free(extra);
  free(bad_extra);
}

/* Decode, encode in @p fmt, decode again: the ID must survive exactly. */
static void check_id_round_trip(const char *id_json, int64_t want) {
  char *doc = mutate(base_msg, "statusMessageID", id_json);
  ec_status_message_t m, back;
  ec_codec_error_t err = {0};
  CU_ASSERT_EQUAL_FATAL(decode_both(doc, EC_MSG_STORED, false, &m, &err), 0);
  CU_ASSERT_EQUAL(m.id, want);
  for (int f = 0; f < 2; f++) {
    ec_format_t fmt = f ? EC_FORMAT_CBOR : EC_FORMAT_JSON;
    uint8_t buf[2048];
    ssize_t n = ec_status_message_encode(fmt, &m, buf, sizeof buf);
    CU_ASSERT_FATAL(n > 0 && (size_t)n < sizeof buf);
    buf[n] = '\0';
    CU_ASSERT_EQUAL(ec_status_message_decode(fmt, buf, (size_t)n, EC_MSG_STORED,
                                             &back, &arena, &err),
                    0);
    CU_ASSERT_EQUAL(back.id, want);
    if (fmt == EC_FORMAT_JSON) {
      char text[48];
      snprintf(text, sizeof text, "\"statusMessageID\":%" PRId64 ",", want);
      CU_ASSERT_PTR_NOT_NULL(strstr((const char *)buf, text));
    }
  }
  free(doc);
}

static void test_int64_ids_round_trip_exactly(void) {
  check_id_round_trip("9223372036854775807", INT64_MAX);
  check_id_round_trip("\"9223372036854775807\"", INT64_MAX);
  check_id_round_trip("9007199254740993", INT64_C(9007199254740993));
  check_id_round_trip("\"1000023424553123\"", INT64_C(1000023424553123));
  check_id_round_trip("1", 1);
  ec_status_message_t m;
  ec_codec_error_t err = {0};
  char *over = mutate(base_msg, "statusMessageID", "\"9223372036854775808\"");
  CU_ASSERT_EQUAL(decode_both(over, EC_MSG_STORED, false, &m, &err),
                  EC_EBADDOC);
  CU_ASSERT_STRING_EQUAL(err.field, "statusMessageID");
  free(over);
}

static void test_round_trip_json_struct_cbor_struct_json(void) {
  const char *full =
      "{\"statusMessageID\":7,\"messageDate\":\"2018-06-17T16:58:12.043+02:"
      "00\","
      "\"messageCode\":\"106\",\"messageParameters\":[{\"Delivery date\":"
      "\"2018-06-18\"},{\"b\":\"\"}],\"orderId\":\"O1\",\"subscriptionId\":"
      "\"S.1\",\"accessId\":\"A1\",\"macAddress\":[\"FE00.AE35.44AC\","
      "\"0c-be-65-40-20-de\"],\"dhcpOption\":{\"IPv4\":{\"option82\":{}},"
      "\"IPv6\":{\"option18\":{\"interfaceId\":\"i\"},\"option37\":"
      "{\"remoteId\":\"r\"}}}}";
  const char *canonical =
      "{\"statusMessageID\":7,\"messageDate\":\"2018-06-17T14:58:12.043Z\","
      "\"messageCode\":106,\"messageParameters\":[{\"Delivery date\":"
      "\"2018-06-18\"},{\"b\":\"\"}],\"orderId\":\"O1\",\"subscriptionId\":"
      "\"S.1\",\"accessId\":\"A1\",\"macAddress\":[\"fe:00:ae:35:44:ac\","
      "\"0c:be:65:40:20:de\"],\"dhcpOption\":{\"IPv4\":{\"option82\":{}},"
      "\"IPv6\":{\"option18\":{\"interfaceId\":\"i\"},\"option37\":"
      "{\"remoteId\":\"r\"}}}}";
  ec_status_message_t m, m2;
  ec_codec_error_t err = {0};
  CU_ASSERT_EQUAL_FATAL(decode_both(full, EC_MSG_STORED, false, &m, &err), 0);
  uint8_t cbor[2048], json[2048];
  ssize_t cn = ec_status_message_encode(EC_FORMAT_CBOR, &m, cbor, sizeof cbor);
  CU_ASSERT_FATAL(cn > 0);
  CU_ASSERT_EQUAL_FATAL(ec_status_message_decode(EC_FORMAT_CBOR, cbor,
                                                 (size_t)cn, EC_MSG_STORED, &m2,
                                                 &arena, &err),
                        0);
  ssize_t jn = ec_status_message_encode(EC_FORMAT_JSON, &m2, json, sizeof json);
  CU_ASSERT_FATAL(jn > 0 && (size_t)jn < sizeof json);
  json[jn] = '\0';
  CU_ASSERT_STRING_EQUAL((char *)json, canonical);
  /* The CBOR is the JSON's twin: integers as integers, same keys. */
  char back[2048];
  CU_ASSERT_EQUAL(ec_cbor_to_json(cbor, (size_t)cn, back, sizeof back), jn);
  CU_ASSERT_STRING_EQUAL(back, canonical);
}

static void test_encode_measures_and_refuses_bad_messages(void) {
  ec_status_message_t m;
  ec_codec_error_t err = {0};
  CU_ASSERT_EQUAL_FATAL(decode_both(base_msg, EC_MSG_NEW, false, &m, &err), 0);
  ssize_t need = ec_status_message_encode(EC_FORMAT_JSON, &m, NULL, 0);
  CU_ASSERT_FATAL(need > 0);
  uint8_t small[8];
  CU_ASSERT_EQUAL(
      ec_status_message_encode(EC_FORMAT_JSON, &m, small, sizeof small), need);
  CU_ASSERT_EQUAL(ec_status_message_encode(EC_FORMAT_JSON, &m, NULL, 4),
                  EC_EINVAL);
  CU_ASSERT_EQUAL(ec_status_message_encode(40, &m, NULL, 0), EC_EFORMAT);
  /* No ID and no date are simply left out. */
  char out[1024];
  m.has_date = false;
  ssize_t n =
      ec_status_message_encode(EC_FORMAT_JSON, &m, (uint8_t *)out, sizeof out);
  CU_ASSERT_FATAL(n > 0 && (size_t)n < sizeof out);
  out[n] = '\0';
  CU_ASSERT_PTR_NULL(strstr(out, "messageDate"));
  CU_ASSERT_PTR_NULL(strstr(out, "statusMessageID"));

  ec_status_message_t bad = m;
  bad.code = 1000;
  CU_ASSERT_EQUAL(ec_status_message_encode(EC_FORMAT_CBOR, &bad, NULL, 0),
                  EC_EINVAL);
  bad = m;
  bad.access_id = "A-1";
  CU_ASSERT_EQUAL(ec_status_message_encode(EC_FORMAT_CBOR, &bad, NULL, 0),
                  EC_EINVAL);
  bad = m;
  bad.order_id = bad.subscription_id = bad.access_id = NULL;
  CU_ASSERT_EQUAL(ec_status_message_encode(EC_FORMAT_CBOR, &bad, NULL, 0),
                  EC_EINVAL);
  uint64_t wide = UINT64_C(1) << 48;
  bad = m;
  bad.macs = &wide;
  bad.n_macs = 1;
  CU_ASSERT_EQUAL(ec_status_message_encode(EC_FORMAT_CBOR, &bad, NULL, 0),
                  EC_EINVAL);
  bad = m;
  bad.id = -1;
  CU_ASSERT_EQUAL(ec_status_message_encode(EC_FORMAT_CBOR, &bad, NULL, 0),
                  EC_EINVAL);
  CU_ASSERT_EQUAL(ec_status_messages_encode(EC_FORMAT_JSON, NULL, 1, NULL, 0),
                  EC_EINVAL);
  n = ec_status_messages_encode(EC_FORMAT_JSON, NULL, 0, (uint8_t *)out,
                                sizeof out);
  CU_ASSERT_EQUAL(n, (ssize_t)LEN("{\"StatusMessages\":[]}"));
}

static void test_rows_put_the_id_first(void) {
  ec_status_message_t m;
  ec_codec_error_t err = {0};
  CU_ASSERT_EQUAL_FATAL(decode_both(base_msg, EC_MSG_NEW, false, &m, &err), 0);
  uint8_t doc[1024];
  ssize_t dn = ec_status_message_encode(EC_FORMAT_CBOR, &m, doc, sizeof doc);
  CU_ASSERT_FATAL(dn > 0);
  ec_msg_row_t rows[2] = {{INT64_MAX, doc, (size_t)dn}, {5, doc, (size_t)dn}};
  char out[4096];
  ssize_t n = ec_msg_rows_encode(EC_FORMAT_JSON, rows, 1, false, (uint8_t *)out,
                                 sizeof out);
  CU_ASSERT_FATAL(n > 0 && (size_t)n < sizeof out);
  out[n] = '\0';
  CU_ASSERT_EQUAL(strncmp(out,
                          "{\"statusMessageID\":9223372036854775807,"
                          "\"messageDate\":\"2018-06-17T14:58:12.043Z\"",
                          61),
                  0);
  n = ec_msg_rows_encode(EC_FORMAT_CBOR, rows, 2, true, (uint8_t *)out,
                         sizeof out);
  CU_ASSERT_FATAL(n > 0);
  ec_status_message_t *ms;
  size_t count;
  bool batch;
  reset_arena();
  CU_ASSERT_EQUAL_FATAL(ec_status_messages_decode(
                            EC_FORMAT_CBOR, (uint8_t *)out, (size_t)n,
                            EC_MSG_STORED, &ms, &count, &batch, &arena, &err),
                        0);
  CU_ASSERT_EQUAL(count, 2);
  CU_ASSERT_EQUAL(ms[0].id, INT64_MAX);
  CU_ASSERT_EQUAL(ms[1].id, 5);
  CU_ASSERT_EQUAL(ms[1].date_ms, BASE_DATE_MS);
  /* Rows encode the empty list and refuse corrupt or misused input. */
  n = ec_msg_rows_encode(EC_FORMAT_JSON, NULL, 0, true, (uint8_t *)out,
                         sizeof out);
  CU_ASSERT_EQUAL(n, (ssize_t)LEN("{\"StatusMessages\":[]}"));
  ec_msg_row_t corrupt = {1, doc, (size_t)dn - 1};
  CU_ASSERT_EQUAL(
      ec_msg_rows_encode(EC_FORMAT_JSON, &corrupt, 1, true, NULL, 0),
      EC_ESYNTAX);
  static const uint8_t not_map[] = {0x83, 1, 2, 3};
  ec_msg_row_t arr = {1, not_map, sizeof not_map};
  CU_ASSERT_EQUAL(ec_msg_rows_encode(EC_FORMAT_JSON, &arr, 1, false, NULL, 0),
                  EC_ESYNTAX);
  CU_ASSERT_EQUAL(ec_msg_rows_encode(EC_FORMAT_JSON, rows, 2, false, NULL, 0),
                  EC_EINVAL);
  ec_msg_row_t no_id = {0, doc, (size_t)dn};
  CU_ASSERT_EQUAL(ec_msg_rows_encode(EC_FORMAT_JSON, &no_id, 1, true, NULL, 0),
                  EC_EINVAL);
}

/* The CBOR answer is spliced from stored bytes; it must be exactly what the
 * tree path writes (the JSON answer, transcoded). */
static void test_rows_cbor_splice_matches_tree(void) {
  ec_status_message_t m;
  ec_codec_error_t err = {0};
  CU_ASSERT_EQUAL_FATAL(decode_both(base_msg, EC_MSG_NEW, false, &m, &err), 0);
  uint8_t doc[1024];
  ssize_t dn = ec_status_message_encode(EC_FORMAT_CBOR, &m, doc, sizeof doc);
  CU_ASSERT_FATAL(dn > 0);
  ec_msg_row_t rows[3] = {{1, doc, (size_t)dn},
                          {300, doc, (size_t)dn},
                          {INT64_MAX, doc, (size_t)dn}};
  for (int envelope = 0; envelope <= 1; envelope++) {
    size_t n = envelope ? 3 : 1;
    char json[8192];
    uint8_t want[8192], got[8192];
    ssize_t jn = ec_msg_rows_encode(EC_FORMAT_JSON, rows, n, envelope,
                                    (uint8_t *)json, sizeof json);
    CU_ASSERT_FATAL(jn > 0 && (size_t)jn < sizeof json);
    ssize_t wn = ec_json_to_cbor(json, (size_t)jn, want, sizeof want);
    ssize_t gn = ec_msg_rows_encode(EC_FORMAT_CBOR, rows, n, envelope, got,
                                    sizeof got);
    CU_ASSERT_FATAL(wn > 0 && gn == wn);
    CU_ASSERT_EQUAL(memcmp(got, want, (size_t)wn), 0);
    /* The measure-only pass agrees, and a short buffer is not overrun. */
    CU_ASSERT_EQUAL(ec_msg_rows_encode(EC_FORMAT_CBOR, rows, n, envelope, NULL,
                                       0),
                    gn);
  }
  static const uint8_t not_map[] = {0x83, 1, 2, 3};
  ec_msg_row_t arr = {1, not_map, sizeof not_map};
  CU_ASSERT_EQUAL(ec_msg_rows_encode(EC_FORMAT_CBOR, &arr, 1, true, NULL, 0),
                  EC_ESYNTAX);
}

/* ---- MAC addresses ------------------------------------------------------ */

static void test_mac_spellings(void) {
  static const char *const good[] = {"aabbccddeeff",      "AABBCCDDEEFF",
                                     "aa:bb:cc:dd:ee:ff", "AA-BB-CC-DD-EE-FF",
                                     "aa.bb.cc.dd.ee.ff", "aabb.ccdd.eeff",
                                     "AaBb:CcDd:EeFf",    "aabb-ccdd-eeff"};
  static const char *const bad[] = {"aabbccddeef",         "aabbccddeeffa",
                                    "aa:bb:cc:dd:ee-ff",   "aa:bb:cc:dd:eeff",
                                    "aabbc:cddee:ff",      "aa_bb_cc_dd_ee_ff",
                                    "gg:bb:cc:dd:ee:ff",   "oc:be:65:40:20:de",
                                    "aa:bb:cc:dd:ee:f ",   "",
                                    "aa:bb:cc:dd:ee:ff:00"};
  uint64_t mac;
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    mac = 0;
    CU_ASSERT_EQUAL(ec_mac_parse(good[i], strlen(good[i]), &mac), 0);
    CU_ASSERT_EQUAL(mac, UINT64_C(0xaabbccddeeff));
  }
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CU_ASSERT_EQUAL(ec_mac_parse(bad[i], strlen(bad[i]), &mac), EC_EBADDOC);
  }
  char out[18];
  ec_mac_format(UINT64_C(0x0a0b0c0d0e0f), out);
  CU_ASSERT_STRING_EQUAL(out, "0a:0b:0c:0d:0e:0f");
  ec_mac_format(UINT64_C(0xffffffffffff), out);
  CU_ASSERT_STRING_EQUAL(out, "ff:ff:ff:ff:ff:ff");
  CU_ASSERT_EQUAL(ec_mac_parse(NULL, 0, &mac), EC_EINVAL);
}

/* ---- filters ------------------------------------------------------------ */

static int set(ec_msg_filter_t *f, const char *name, const char *value,
               ec_codec_error_t *err) {
  return ec_msg_filter_set(f, name, value, strlen(value), &arena, err);
}

static void test_filter_from_query_text(void) {
  ec_msg_filter_t f = {0};
  ec_codec_error_t err = {0};
  reset_arena();
  CU_ASSERT_EQUAL(set(&f, "orderId", "O-1", &err), 0);
  CU_ASSERT_EQUAL(set(&f, "subscriptionId", "S1", &err), 0);
  CU_ASSERT_EQUAL(set(&f, "accessId", "A1", &err), 0);
  CU_ASSERT_EQUAL(set(&f, "macAddress", "AABB.CCDD.EEFF", &err), 0);
  CU_ASSERT_EQUAL(set(&f, "fromDateTime", "2018-06-17T16:00:00+02:00", &err),
                  0);
  CU_ASSERT_EQUAL(set(&f, "toDateTime", "2018-06-18T00:00:00", &err), 0);
  CU_ASSERT_EQUAL(set(&f, "fromStatusMessageID", "9223372036854775806", &err),
                  0);
  CU_ASSERT_EQUAL(set(&f, "toStatusMessageID", "0", &err), 0);
  CU_ASSERT_EQUAL(set(&f, "limit", "10000", &err), 0);
  CU_ASSERT_STRING_EQUAL(f.order_id, "O-1");
  CU_ASSERT_TRUE(f.has_mac);
  CU_ASSERT_EQUAL(f.mac, UINT64_C(0xaabbccddeeff));
  CU_ASSERT_EQUAL(f.from_date_ms, INT64_C(1529244000000));
  CU_ASSERT_EQUAL(f.to_date_ms, INT64_C(1529280000000));
  CU_ASSERT_EQUAL(f.from_id, INT64_MAX - 1);
  CU_ASSERT_TRUE(f.has_to_id);
  CU_ASSERT_EQUAL(f.to_id, 0);
  CU_ASSERT_EQUAL(f.limit, 10000);

  static const struct {
    const char *name, *value, *title;
  } bad[] = {
      {"orderid", "O1", "unknown-query"},
      {"statusMessageID", "1", "unknown-query"},
      {"orderId", "", "invalid-length"},
      {"orderId", "O 1", "invalid-characters"},
      {"accessId", "A-1", "invalid-characters"},
      {"macAddress", "oc:be:65:40:20:de", "invalid-mac-address"},
      {"macAddress", "aabbcc", "invalid-length"},
      {"fromDateTime", "yesterday", "invalid-date-time"},
      {"toDateTime", "", "invalid-date-time"},
      {"fromStatusMessageID", "-1", "invalid-type"},
      {"fromStatusMessageID", "1e3", "invalid-type"},
      {"fromStatusMessageID", "", "invalid-type"},
      {"toStatusMessageID", "9223372036854775808", "out-of-range"},
      {"limit", "0", "out-of-range"},
      {"limit", "10001", "out-of-range"},
      {"limit", "ten", "invalid-type"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ec_msg_filter_t g = {0};
    memset(&err, 0, sizeof err);
    CU_ASSERT_EQUAL(set(&g, bad[i].name, bad[i].value, &err), EC_EBADDOC);
    CU_ASSERT_STRING_EQUAL(err.title, bad[i].title);
    CU_ASSERT_STRING_EQUAL(err.field, bad[i].name);
  }
  /* A filter given twice is refused rather than silently one of the two. */
  CU_ASSERT_EQUAL(set(&f, "orderId", "O2", &err), EC_EBADDOC);
  CU_ASSERT_STRING_EQUAL(err.title, "duplicate-query");
  /* A value with a NUL in it (Uri-Query bytes) is not an ID. */
  ec_msg_filter_t g = {0};
  CU_ASSERT_EQUAL(ec_msg_filter_set(&g, "orderId", "O\0", 2, &arena, &err),
                  EC_EBADDOC);
}

static void test_filter_body_both_formats_and_round_trip(void) {
  const char *body =
      "{\"orderId\":\"O1\",\"macAddress\":\"aa-bb-cc-dd-ee-ff\","
      "\"fromStatusMessageID\":\"41\",\"toStatusMessageID\":100,"
      "\"fromDateTime\":\"2018-06-17T14:50:10.033Z\",\"limit\":5}";
  ec_msg_filter_t f, g;
  ec_codec_error_t err = {0};
  uint8_t cbor[512], out[512];
  reset_arena();
  CU_ASSERT_EQUAL_FATAL(ec_msg_filter_decode(EC_FORMAT_JSON,
                                             (const uint8_t *)body,
                                             strlen(body), &f, &arena, &err),
                        0);
  CU_ASSERT_EQUAL(f.from_id, 41);
  CU_ASSERT_EQUAL(f.to_id, 100);
  CU_ASSERT_EQUAL(f.limit, 5);
  ssize_t n = ec_json_to_cbor(body, strlen(body), cbor, sizeof cbor);
  CU_ASSERT_FATAL(n > 0);
  CU_ASSERT_EQUAL_FATAL(
      ec_msg_filter_decode(EC_FORMAT_CBOR, cbor, (size_t)n, &g, &arena, &err),
      0);
  CU_ASSERT_STRING_EQUAL(g.order_id, "O1");
  CU_ASSERT_EQUAL(g.mac, f.mac);
  CU_ASSERT_EQUAL(g.from_date_ms, f.from_date_ms);

  /* Encode it back, in both formats, and as a query. */
  for (int k = 0; k < 2; k++) {
    ec_format_t fmt = k ? EC_FORMAT_CBOR : EC_FORMAT_JSON;
    n = ec_msg_filter_encode(fmt, &f, out, sizeof out);
    CU_ASSERT_FATAL(n > 0 && (size_t)n < sizeof out);
    memset(&g, 0, sizeof g);
    CU_ASSERT_EQUAL_FATAL(
        ec_msg_filter_decode(fmt, out, (size_t)n, &g, &arena, &err), 0);
    CU_ASSERT_STRING_EQUAL(g.order_id, "O1");
    CU_ASSERT_EQUAL(g.mac, f.mac);
    CU_ASSERT_EQUAL(g.from_id, 41);
    CU_ASSERT_EQUAL(g.to_id, 100);
    CU_ASSERT_FALSE(g.has_to_date);
    CU_ASSERT_EQUAL(g.limit, 5);
  }
  char q[256];
  CU_ASSERT_TRUE(ec_msg_filter_query(&f, q, sizeof q) > 0);
  CU_ASSERT_STRING_EQUAL(q, "orderId=O1&macAddress=aa:bb:cc:dd:ee:ff&"
                            "fromDateTime=2018-06-17T14:50:10.033Z&"
                            "fromStatusMessageID=41&toStatusMessageID=100&"
                            "limit=5");
  CU_ASSERT_EQUAL(ec_msg_filter_query(&f, q, 20), EC_ENOSPC);
  ec_msg_filter_t none = {0};
  CU_ASSERT_EQUAL(ec_msg_filter_query(&none, q, sizeof q), 0);
  CU_ASSERT_STRING_EQUAL(q, "");
  none.order_id = "bad id";
  CU_ASSERT_EQUAL(ec_msg_filter_query(&none, q, sizeof q), EC_EINVAL);

  /* An empty body is no filter; other shapes are refused by name. */
  f.limit = 9;
  CU_ASSERT_EQUAL(
      ec_msg_filter_decode(EC_FORMAT_JSON, NULL, 0, &f, &arena, &err), 0);
  CU_ASSERT_EQUAL(f.limit, 0);
  CU_ASSERT_PTR_NULL(f.order_id);
  static const struct {
    const char *body, *title, *field;
  } bad[] = {
      {"[]", "invalid-type", ""},
      {"{\"orderID\":\"O1\"}", "unknown-key", "orderID"},
      {"{\"orderId\":1}", "invalid-type", "orderId"},
      {"{\"macAddress\":[\"aabbccddeeff\"]}", "invalid-type", "macAddress"},
      {"{\"limit\":0}", "out-of-range", "limit"},
      {"{\"limit\":1.5}", "invalid-type", "limit"},
      {"{\"fromStatusMessageID\":-2}", "out-of-range", "fromStatusMessageID"},
      {"{\"toDateTime\":\"2018-06-31T00:00:00Z\"}", "invalid-date-time",
       "toDateTime"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    memset(&err, 0, sizeof err);
    CU_ASSERT_EQUAL(ec_msg_filter_decode(EC_FORMAT_JSON,
                                         (const uint8_t *)bad[i].body,
                                         strlen(bad[i].body), &f, &arena, &err),
                    EC_EBADDOC);
    CU_ASSERT_STRING_EQUAL(err.title, bad[i].title);
    CU_ASSERT_STRING_EQUAL(err.field, bad[i].field);
  }
  CU_ASSERT_EQUAL(ec_msg_filter_decode(EC_FORMAT_JSON, (const uint8_t *)"{", 1,
                                       &f, &arena, &err),
                  EC_ESYNTAX);
}

static void test_filter_matching(void) {
  uint64_t macs[2] = {1, 2};
  ec_status_message_t m = {.id = 10,
                           .has_date = true,
                           .date_ms = 1000,
                           .code = 101,
                           .order_id = "O1",
                           .access_id = "A1",
                           .macs = macs,
                           .n_macs = 2};
  ec_msg_filter_t f = {0};
  CU_ASSERT_TRUE(ec_msg_filter_match(&f, &m));
  f.order_id = "O1";
  CU_ASSERT_TRUE(ec_msg_filter_match(&f, &m));
  f.order_id = "o1"; /* IDs are case-sensitive */
  CU_ASSERT_FALSE(ec_msg_filter_match(&f, &m));
  f.order_id = NULL;
  f.subscription_id = "S1"; /* the message has none */
  CU_ASSERT_FALSE(ec_msg_filter_match(&f, &m));
  f.subscription_id = NULL;
  f.has_mac = true;
  f.mac = 2;
  CU_ASSERT_TRUE(ec_msg_filter_match(&f, &m));
  f.mac = 3;
  CU_ASSERT_FALSE(ec_msg_filter_match(&f, &m));
  f.has_mac = false;
  /* Dates are inclusive, IDs exclusive. */
  f.has_from_date = f.has_to_date = true;
  f.from_date_ms = f.to_date_ms = 1000;
  CU_ASSERT_TRUE(ec_msg_filter_match(&f, &m));
  f.from_date_ms = 1001;
  CU_ASSERT_FALSE(ec_msg_filter_match(&f, &m));
  f.has_from_date = f.has_to_date = false;
  f.has_from_id = true;
  f.from_id = 9;
  CU_ASSERT_TRUE(ec_msg_filter_match(&f, &m));
  f.from_id = 10;
  CU_ASSERT_FALSE(ec_msg_filter_match(&f, &m));
  f.has_from_id = false;
  f.has_to_id = true;
  f.to_id = 10;
  CU_ASSERT_FALSE(ec_msg_filter_match(&f, &m));
  f.to_id = 11;
  CU_ASSERT_TRUE(ec_msg_filter_match(&f, &m));
  f.limit = 1; /* not a filter */
  CU_ASSERT_TRUE(ec_msg_filter_match(&f, &m));
  CU_ASSERT_FALSE(ec_msg_filter_match(NULL, &m));
}

/* ---- hostile input ------------------------------------------------------ */

static void test_every_truncation_fails_cleanly(void) {
  ec_status_message_t m;
  ec_codec_error_t err;
  uint8_t cbor[1024];
  ssize_t n = ec_json_to_cbor(base_msg, LEN(base_msg), cbor, sizeof cbor);
  CU_ASSERT_FATAL(n > 0);
  for (size_t len = 0; len < (size_t)n; len++) {
    reset_arena();
    CU_ASSERT_EQUAL(ec_status_message_decode(EC_FORMAT_CBOR, cbor, len,
                                             EC_MSG_NEW, &m, &arena, &err),
                    EC_ESYNTAX);
    CU_ASSERT_EQUAL(arena.used, 0);
  }
  for (size_t len = 0; len < LEN(base_msg); len++) {
    CU_ASSERT_EQUAL(ec_status_message_decode(EC_FORMAT_JSON,
                                             (const uint8_t *)base_msg, len,
                                             EC_MSG_NEW, &m, &arena, &err),
                    EC_ESYNTAX);
  }
}

static void test_full_arena_leaves_it_unchanged(void) {
  uint8_t small[96];
  ec_arena_t a;
  ec_status_message_t m, *ms;
  size_t n;
  ec_codec_error_t err = {0};
  ec_arena_init(&a, small, sizeof small);
  a.used = 5;
  CU_ASSERT_EQUAL(
      ec_status_message_decode(EC_FORMAT_JSON, (const uint8_t *)base_msg,
                               LEN(base_msg), EC_MSG_NEW, &m, &a, &err),
      EC_ENOMEM);
  CU_ASSERT_EQUAL(a.used, 5);
  CU_ASSERT_EQUAL(ec_status_messages_decode(
                      EC_FORMAT_JSON, (const uint8_t *)base_msg, LEN(base_msg),
                      EC_MSG_NEW, &ms, &n, NULL, &a, &err),
                  EC_ENOMEM);
  CU_ASSERT_EQUAL(a.used, 5);
  CU_ASSERT_EQUAL(ec_status_message_decode(EC_FORMAT_JSON, NULL, 1, EC_MSG_NEW,
                                           &m, &a, &err),
                  EC_EINVAL);
  CU_ASSERT_EQUAL(ec_status_message_decode(41, (const uint8_t *)"{}", 2,
                                           EC_MSG_NEW, &m, &a, &err),
                  EC_EFORMAT);
}

static const ec_test_t tests[] = {
    {test_seed_examples_decode_except_the_bad_mac,
     "seed examples decode except the one with oc:be:65:40:20:de"},
    {test_every_field_rule_in_both_formats, "every field rule in both formats"},
    {test_id_lengths_at_their_limits, "ID lengths at their limits"},
    {test_one_identifier_is_required,
     "one of orderId, subscriptionId, accessId is required"},
    {test_list_caps, "list caps"},
    {test_batches, "batches"},
    {test_batch_size_cap, "batch size cap"},
    {test_stored_kind_needs_id_and_date_and_skips_unknown_keys,
     "stored kind needs ID and date, skips unknown keys"},
    {test_int64_ids_round_trip_exactly,
     "int64 IDs round-trip exactly in JSON and CBOR"},
    {test_round_trip_json_struct_cbor_struct_json,
     "round trip JSON -> struct -> CBOR -> struct -> JSON"},
    {test_encode_measures_and_refuses_bad_messages,
     "encode measures and refuses bad messages"},
    {test_rows_cbor_splice_matches_tree, "rows_cbor_splice_matches_tree"},
    {test_rows_put_the_id_first, "stored rows put the ID first"},
    {test_mac_spellings, "MAC address spellings"},
    {test_filter_from_query_text, "filters from query text"},
    {test_filter_body_both_formats_and_round_trip,
     "filter body in both formats and round trip"},
    {test_filter_matching, "filter matching"},
    {test_every_truncation_fails_cleanly, "every truncation fails cleanly"},
    {test_full_arena_leaves_it_unchanged, "a full arena is left unchanged"},
};

int main(int argc, char **argv) {
  if (argc > 1) {
    data_dir = argv[1];
  }
  reset_arena();
  return ec_test_main("status_message", tests, EC_TEST_COUNT(tests), NULL, NULL,
                      NULL);
}
