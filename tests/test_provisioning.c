/* edgecoap tests: provisioning codec, passwords and tokens, and store. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "edgecoap/provisioning.h"
#include "log.h"
#include "store.h"
#include "suite.h"

#define LEN(lit) (sizeof(lit) - 1)

static _Alignas(max_align_t) uint8_t arena_mem[1 << 18];
static ec_arena_t arena;

/* 2021-10-12 06:35:44 UTC, the seed's example time. */
#define SEED_TIME INT64_C(1634020544)

static void reset_arena(void) {
  ec_arena_init(&arena, arena_mem, sizeof arena_mem);
}

/* Decode @p json as JSON and, transcoded, as CBOR: both must give the same
 * verdict, code and detail. @return the JSON verdict. */
static int decode_both(const char *json, ec_prov_request_t *rq,
                       ec_prov_error_t *err) {
  static uint8_t cbor[1 << 16];
  static ec_prov_error_t e2;
  ec_prov_request_t rq2;
  reset_arena();
  memset(err, 0, sizeof(*err));
  int r1 = ec_prov_request_decode(EC_FORMAT_JSON, (const uint8_t *)json,
                                  strlen(json), rq, &arena, err);
  ssize_t n = ec_json_to_cbor(json, strlen(json), cbor, sizeof cbor);
  if (n >= 0) {
    memset(&e2, 0, sizeof(e2));
    int r2 = ec_prov_request_decode(EC_FORMAT_CBOR, cbor, (size_t)n, &rq2,
                                    &arena, &e2);
    CU_ASSERT_EQUAL(r1, r2);
    if (r1 < 0 && r2 < 0) {
      CU_ASSERT_STRING_EQUAL(err->error, e2.error);
      CU_ASSERT_STRING_EQUAL(err->detail, e2.detail);
    }
  }
  return r1;
}

/* ---- codec: requests ----------------------------------------------------- */

static void test_component_type_names_any_case_or_number(void) {
  CU_ASSERT_EQUAL(ec_comp_type_parse("Sensor", 6), EC_COMP_SENSOR);
  CU_ASSERT_EQUAL(ec_comp_type_parse("PARAMETER", 9), EC_COMP_PARAMETER);
  CU_ASSERT_EQUAL(ec_comp_type_parse("group parameter", 15),
                  EC_COMP_GROUP_PARAMETER);
  CU_ASSERT_EQUAL(ec_comp_type_parse("2", 1), EC_COMP_GROUP_PARAMETER);
  CU_ASSERT_EQUAL(ec_comp_type_parse("3", 1), EC_EBADDOC);
  CU_ASSERT_EQUAL(ec_comp_type_parse("Sensors", 7), EC_EBADDOC);
  CU_ASSERT_EQUAL(ec_comp_type_parse("GroupParameter", 14), EC_EBADDOC);
  CU_ASSERT_STRING_EQUAL(ec_comp_type_name(EC_COMP_GROUP_PARAMETER),
                         "Group Parameter");
  CU_ASSERT_PTR_NULL(ec_comp_type_name(EC_COMP_TYPE_COUNT));
}

/* Every refusal the codec can make, with the seed's code and detail. */
static void test_every_request_refusal_in_both_formats(void) {
  static const struct {
    const char *body, *error, *detail;
  } cases[] = {
      {"", "INVALID_REQUEST_PRAM", ""},
      {"{\"action\":\"select\"", "INVALID_REQUEST_PRAM", ""},
      {"[\"select\"]", "INVALID_REQUEST_PRAM", ""},
      {"{}", "INVALID_REQUEST_PRAM", ""},
      {"{\"provisioning_id\":11}", "INVALID_REQUEST_PRAM", ""},
      {"{\"action\":\"delete\"}", "INVALID_ACTION_PRAM", ""},
      {"{\"action\":5}", "INVALID_ACTION_PRAM", ""},
      {"{\"action\":null}", "INVALID_ACTION_PRAM", ""},
      {"{\"action\":\"select\",\"Foo_bar\":1,\"zz\":2}", "INVALID_INPUT_PRAM",
       "INVALID_PRAM_FOO_BAR"},
      /* Unknown keys are found before bad values. */
      {"{\"action\":\"select\",\"provisioning_id\":\"x\",\"limt\":1}",
       "INVALID_INPUT_PRAM", "INVALID_PRAM_LIMT"},
      {"{\"action\":\"insert\",\"limit\":1}", "INVALID_INPUT_PRAM",
       "INVALID_PRAM_LIMIT"},
      {"{\"action\":\"insert\",\"provisioning_component_id\":1}",
       "INVALID_INPUT_PRAM", "INVALID_PRAM_PROVISIONING_COMPONENT_ID"},
      {"{\"action\":\"update\",\"limit\":1}", "INVALID_INPUT_PRAM",
       "INVALID_PRAM_LIMIT"},
      {"{\"action\":\"select\",\"provisioning_component_id\":-1}",
       "INVALID_PROVISIONING_COMPONENT_ID_PRAM", ""},
      {"{\"action\":\"select\",\"provisioning_component_id\":[]}",
       "INVALID_PROVISIONING_COMPONENT_ID_PRAM", ""},
      {"{\"action\":\"select\",\"provisioning_component_id\":[1,\"x\"]}",
       "INVALID_PROVISIONING_COMPONENT_ID_PRAM", ""},
      {"{\"action\":\"select\",\"provisioning_component_id\":1.5}",
       "INVALID_PROVISIONING_COMPONENT_ID_PRAM", ""},
      {"{\"action\":\"update\",\"provisioning_component_id\":true,"
       "\"active_status\":1}",
       "PROVISIONING_COMPONENT_ID", ""},
      {"{\"action\":\"select\",\"provisioning_id\":-1}",
       "INVALID_PROVISIONING_ID_PRAM", ""},
      {"{\"action\":\"select\",\"provisioning_id\":[11]}",
       "INVALID_PROVISIONING_ID_PRAM", ""},
      {"{\"action\":\"insert\",\"provisioning_id\":\"1x\"}",
       "INVALID_PROVISIONING_ID_PRAM", ""},
      {"{\"action\":\"select\",\"provisioning_id\":\"99999999999999999999\"}",
       "INVALID_PROVISIONING_ID_PRAM", ""},
      {"{\"action\":\"select\",\"component_type\":3}",
       "INVALID_COMPONENT_TYPE_PRAM", ""},
      {"{\"action\":\"select\",\"component_type\":\"Sensors\"}",
       "INVALID_COMPONENT_TYPE_PRAM", ""},
      {"{\"action\":\"insert\",\"component_type\":null}",
       "INVALID_COMPONENT_TYPE_PRAM", ""},
      {"{\"action\":\"select\",\"component_id\":[1,-2]}",
       "INVALID_COMPONENT_ID_PRAM", ""},
      {"{\"action\":\"update\",\"component_id\":{}}",
       "INVALID_COMPONENT_ID_PRAM", ""},
      {"{\"action\":\"select\",\"active_status\":2}",
       "INVALID_ACTIVE_STATUS_PRAM", ""},
      {"{\"action\":\"insert\",\"active_status\":\"on\"}",
       "INVALID_ACTIVE_STATUS_PRAM", ""},
      {"{\"action\":\"select\",\"limit\":-1}", "INVALID_LIMIT_PRAM", ""},
      {"{\"action\":\"select\",\"limit\":\"all\"}", "INVALID_LIMIT_PRAM", ""},
      {"{\"action\":\"insert\",\"component_type\":0,\"component_id\":1}",
       "MISSING_PROVISIONING_ID_PRAM", ""},
      {"{\"action\":\"insert\",\"provisioning_id\":11,\"component_id\":1}",
       "MISSING_COMPONENT_TYPE_PRAM", ""},
      {"{\"action\":\"insert\",\"provisioning_id\":11,\"component_type\":1}",
       "MISSING_COMPONENT_ID_PRAM", ""},
      {"{\"action\":\"update\"}", "NO_UPDATED_PRAMS", ""},
      {"{\"action\":\"update\",\"provisioning_component_id\":[1],"
       "\"component_id\":2,\"active_status\":1}",
       "INVALID_INCOMPATABLE_IDENTIFICATION_PARAMS_PRAM", ""},
      {"{\"action\":\"update\",\"provisioning_component_id\":1,"
       "\"provisioning_id\":11}",
       "INVALID_INCOMPATABLE_IDENTIFICATION_PARAMS_PRAM", ""},
      {"{\"action\":\"update\",\"provisioning_component_id\":1}",
       "MISSING_ACTIVE_STATUS_PRAM", ""},
      {"{\"action\":\"update\",\"provisioning_id\":11,\"component_type\":0,"
       "\"component_id\":1}",
       "MISSING_ACTIVE_STATUS_PRAM", ""},
      {"{\"action\":\"update\",\"provisioning_id\":11,\"active_status\":1}",
       "MISSING_COMPONENT_TYPE_PRAM", ""},
      {"{\"action\":\"update\",\"active_status\":1}",
       "MISSING_PROVISIONING_ID_PRAM", ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ec_prov_request_t rq;
    ec_prov_error_t err;
    int rc = decode_both(cases[i].body, &rq, &err);
    CU_ASSERT(rc < 0);
    if (rc >= 0 || strcmp(err.error, cases[i].error) != 0 ||
        strcmp(err.detail, cases[i].detail) != 0)
      fprintf(stderr, "\ncase %zu %s: got %s %s\n", i, cases[i].body,
              rc < 0 ? err.error : "success", rc < 0 ? err.detail : "");
    else
      CU_PASS("refused as the seed says");
  }
}

/* The three request examples of the seed, exactly as it writes them. */
static void test_seed_request_examples_are_accepted(void) {
  ec_prov_request_t rq;
  ec_prov_error_t err;
  CU_ASSERT_EQUAL_FATAL(
      decode_both("{\n    \"action\": \"select\"\n    , \"provisioning_id\" : "
                  "11\n    , \"component_type\" : \"Sensor\"\n    , "
                  "\"component_id\" : \n        [\n            1\n            "
                  ", 2\n            , 4\n            , 6\n        ]\n}",
                  &rq, &err),
      0);
  CU_ASSERT_EQUAL(rq.action, EC_PROV_SELECT);
  CU_ASSERT(rq.has_provisioning_id && rq.provisioning_id == 11);
  CU_ASSERT(rq.has_component_type && rq.component_type == EC_COMP_SENSOR);
  CU_ASSERT(rq.component_id.present && rq.component_id.is_array);
  CU_ASSERT_EQUAL_FATAL(rq.component_id.n, 4);
  CU_ASSERT_EQUAL(rq.component_id.v[3], 6);
  CU_ASSERT_FALSE(rq.has_limit);

  CU_ASSERT_EQUAL_FATAL(
      decode_both("{\"action\": \"insert\", \"provisioning_id\": 11, "
                  "\"component_type\": \"Parameter\", \"component_id\" : "
                  "[2, 3, 4]}",
                  &rq, &err),
      0);
  CU_ASSERT_EQUAL(rq.action, EC_PROV_INSERT);
  CU_ASSERT_EQUAL(rq.component_type, EC_COMP_PARAMETER);
  CU_ASSERT_FALSE(rq.has_active_status);

  CU_ASSERT_EQUAL_FATAL(
      decode_both("{\"action\": \"update\", \"provisioning_id\" : 11, "
                  "\"component_type\" : 0, \"component_id\" : [1, 2, 4, 5], "
                  "\"active_status\" : 1}",
                  &rq, &err),
      0);
  CU_ASSERT_EQUAL(rq.action, EC_PROV_UPDATE);
  CU_ASSERT(rq.has_active_status && rq.active_status == 1);
  CU_ASSERT_EQUAL(rq.component_id.n, 4);
}

static void test_digit_strings_and_single_ids_are_taken(void) {
  ec_prov_request_t rq;
  ec_prov_error_t err;
  CU_ASSERT_EQUAL_FATAL(
      decode_both("{\"action\":\"SELECT\",\"provisioning_component_id\":\"12\","
                  "\"provisioning_id\":\"11\",\"component_type\":\"1\","
                  "\"component_id\":7,\"active_status\":\"0\",\"limit\":0}",
                  &rq, &err),
      0);
  CU_ASSERT_EQUAL(rq.action, EC_PROV_SELECT);
  CU_ASSERT(rq.provisioning_component_id.present &&
            !rq.provisioning_component_id.is_array);
  CU_ASSERT_EQUAL(rq.provisioning_component_id.v[0], 12);
  CU_ASSERT_EQUAL(rq.provisioning_id, 11);
  CU_ASSERT_EQUAL(rq.component_type, EC_COMP_PARAMETER);
  CU_ASSERT(!rq.component_id.is_array && rq.component_id.v[0] == 7);
  CU_ASSERT(rq.has_active_status && rq.active_status == 0);
  CU_ASSERT(rq.has_limit && rq.limit == 0);
}

static void test_hostile_bodies_are_invalid_request_pram(void) {
  char deep[256];
  size_t n = 0;
  n += (size_t)snprintf(deep, sizeof deep, "{\"action\":\"select\",\"x\":");
  for (int i = 0; i < 40; i++)
    deep[n++] = '[';
  deep[n] = '\0';
  ec_prov_request_t rq;
  ec_prov_error_t err;
  reset_arena();
  CU_ASSERT(ec_prov_request_decode(EC_FORMAT_JSON, (const uint8_t *)deep, n,
                                   &rq, &arena, &err) < 0);
  CU_ASSERT_STRING_EQUAL(err.error, "INVALID_REQUEST_PRAM");
  /* A CBOR map claiming 2^32 pairs with three bytes left. */
  static const uint8_t lie[] = {0xBA, 0xFF, 0xFF, 0xFF, 0xFF, 0x61, 0x61};
  CU_ASSERT(ec_prov_request_decode(EC_FORMAT_CBOR, lie, sizeof lie, &rq, &arena,
                                   &err) < 0);
  CU_ASSERT_STRING_EQUAL(err.error, "INVALID_REQUEST_PRAM");
  /* A refused body leaves nothing in the arena. */
  CU_ASSERT_EQUAL(arena.used, 0);
}

static void test_request_encode_round_trips(void) {
  int64_t ids[] = {1, 2, 4};
  ec_prov_request_t rq = {0}, back;
  ec_prov_error_t err;
  rq.action = EC_PROV_UPDATE;
  rq.has_provisioning_id = true;
  rq.provisioning_id = 11;
  rq.has_component_type = true;
  rq.component_type = EC_COMP_GROUP_PARAMETER;
  rq.component_id = (ec_prov_ids_t){ids, 3, true, true};
  rq.has_active_status = true;
  rq.active_status = 1;
  uint8_t buf[512];
  ssize_t n = ec_prov_request_encode(EC_FORMAT_JSON, &rq, NULL, 0);
  CU_ASSERT_EQUAL_FATAL(
      ec_prov_request_encode(EC_FORMAT_JSON, &rq, buf, sizeof buf), n);
  CU_ASSERT_NSTRING_EQUAL(buf,
                          "{\"action\":\"update\",\"provisioning_id\":11,"
                          "\"component_type\":\"Group Parameter\","
                          "\"component_id\":[1,2,4],\"active_status\":1}",
                          (size_t)n);
  for (int f = 0; f < 2; f++) {
    ec_format_t fmt = f ? EC_FORMAT_CBOR : EC_FORMAT_JSON;
    n = ec_prov_request_encode(fmt, &rq, buf, sizeof buf);
    CU_ASSERT_FATAL(n > 0);
    reset_arena();
    CU_ASSERT_EQUAL_FATAL(
        ec_prov_request_decode(fmt, buf, (size_t)n, &back, &arena, &err), 0);
    CU_ASSERT_EQUAL(back.component_type, EC_COMP_GROUP_PARAMETER);
    CU_ASSERT_EQUAL(back.component_id.n, 3);
    CU_ASSERT_EQUAL(back.active_status, 1);
  }
}

/* ---- codec: answers ------------------------------------------------------ */

static void test_select_answer_is_the_seed_example(void) {
  ec_prov_component_t row = {12, 11, EC_COMP_SENSOR, 2, "Carbon Monoxide",
                             1,  1,  SEED_TIME};
  static const char want[] =
      "{\"responses\":{\"response_0\":{\"provisioning_component_id\":12,"
      "\"provisioning_id\":11,\"component_type\":\"Sensor\","
      "\"component_id\":2,\"name\":\"Carbon Monoxide\",\"active_status\":1,"
      "\"last_modified_by\":1,\"last_modified_datetime\":"
      "\"2021-10-12 06:35:44\"}}}";
  uint8_t buf[1024];
  ssize_t n = ec_prov_select_encode(EC_FORMAT_JSON, &row, 1, NULL, 0);
  CU_ASSERT_EQUAL(n, (ssize_t)LEN(want));
  /* The measure pass and a short buffer both report the full length. */
  CU_ASSERT_EQUAL(ec_prov_select_encode(EC_FORMAT_JSON, &row, 1, buf, 10), n);
  CU_ASSERT_EQUAL_FATAL(
      ec_prov_select_encode(EC_FORMAT_JSON, &row, 1, buf, sizeof buf), n);
  CU_ASSERT_NSTRING_EQUAL(buf, want, LEN(want));

  /* No rows is an empty map (what an observer of an empty provisioning
   * gets); CBOR has the same shape. */
  n = ec_prov_select_encode(EC_FORMAT_JSON, NULL, 0, buf, sizeof buf);
  CU_ASSERT_NSTRING_EQUAL(buf, "{\"responses\":{}}", (size_t)n);
  n = ec_prov_select_encode(EC_FORMAT_CBOR, &row, 1, buf, sizeof buf);
  char json[1024];
  CU_ASSERT_EQUAL(ec_cbor_to_json(buf, (size_t)n, json, sizeof json),
                  (ssize_t)LEN(want));
  CU_ASSERT_STRING_EQUAL(json, want);
}

static void test_select_answer_decodes_by_response_index(void) {
  /* response_1 before response_0, integers as strings (the seed's style). */
  static const char doc[] =
      "{\"responses\":{\"response_1\":{\"provisioning_component_id\":\"13\","
      "\"provisioning_id\":\"11\",\"component_type\":\"Parameter\","
      "\"component_id\":\"3\",\"name\":\"B\",\"active_status\":\"0\","
      "\"last_modified_by\":\"2\",\"last_modified_datetime\":"
      "\"2021-10-12 06:35:44\"},\"response_0\":{\"provisioning_component_id\":"
      "12,\"provisioning_id\":11,\"component_type\":\"Sensor\","
      "\"component_id\":2,\"name\":\"A\",\"active_status\":1,"
      "\"last_modified_by\":1,\"last_modified_datetime\":"
      "\"2021-10-12 06:35:45\",\"extra\":true}}}";
  ec_prov_component_t *rows;
  size_t n;
  reset_arena();
  CU_ASSERT_EQUAL_FATAL(ec_prov_select_decode(EC_FORMAT_JSON,
                                              (const uint8_t *)doc, LEN(doc),
                                              &rows, &n, &arena, NULL),
                        0);
  CU_ASSERT_EQUAL_FATAL(n, 2);
  CU_ASSERT_STRING_EQUAL(rows[0].name, "A");
  CU_ASSERT_EQUAL(rows[0].last_modified_s, SEED_TIME + 1);
  CU_ASSERT_EQUAL(rows[1].provisioning_component_id, 13);
  CU_ASSERT_EQUAL(rows[1].component_type, EC_COMP_PARAMETER);
  static const char gap[] = "{\"responses\":{\"response_1\":{}}}";
  CU_ASSERT(ec_prov_select_decode(EC_FORMAT_JSON, (const uint8_t *)gap,
                                  LEN(gap), &rows, &n, &arena, NULL) < 0);
}

static void test_write_answers_follow_the_seed_field_order(void) {
  int64_t ids[] = {2, 3, 4};
  ec_prov_result_t r = {0};
  r.action = EC_PROV_INSERT;
  r.provisioning_id = 11;
  r.component_type = EC_COMP_PARAMETER;
  r.component_id = (ec_prov_ids_t){ids, 3, true, true};
  r.last_modified_by = 1;
  r.last_modified_s = SEED_TIME;
  uint8_t buf[512];
  ssize_t n = ec_prov_result_encode(EC_FORMAT_JSON, &r, buf, sizeof buf);
  static const char ins[] =
      "{\"provisioning_id\":11,\"component_type\":\"Parameter\","
      "\"component_id\":[2,3,4],\"active_status\":0,\"last_modified_by\":1,"
      "\"last_modified_datetime\":\"2021-10-12 06:35:44\","
      "\"error\":\"NO_ERROR\"}";
  CU_ASSERT_EQUAL(n, (ssize_t)LEN(ins));
  CU_ASSERT_NSTRING_EQUAL(buf, ins, LEN(ins));

  /* An update names no modifier or time; one id is still an array. */
  r.action = EC_PROV_UPDATE;
  r.component_type = EC_COMP_SENSOR;
  r.component_id = (ec_prov_ids_t){ids, 1, true, false};
  r.active_status = 1;
  n = ec_prov_result_encode(EC_FORMAT_JSON, &r, buf, sizeof buf);
  static const char upd[] =
      "{\"provisioning_id\":11,\"component_type\":\"Sensor\","
      "\"component_id\":[2],\"active_status\":1,\"error\":\"NO_ERROR\"}";
  CU_ASSERT_NSTRING_EQUAL(buf, upd, LEN(upd));
  CU_ASSERT_EQUAL(n, (ssize_t)LEN(upd));

  r.by_pc_id = true;
  r.provisioning_component_id = (ec_prov_ids_t){ids, 2, true, true};
  n = ec_prov_result_encode(EC_FORMAT_JSON, &r, buf, sizeof buf);
  static const char pc[] = "{\"provisioning_component_id\":[2,3],"
                           "\"active_status\":1,\"error\":\"NO_ERROR\"}";
  CU_ASSERT_NSTRING_EQUAL(buf, pc, LEN(pc));

  ec_prov_result_t back;
  reset_arena();
  CU_ASSERT_EQUAL_FATAL(ec_prov_result_decode(EC_FORMAT_JSON, buf, (size_t)n,
                                              &back, &arena, NULL),
                        0);
  CU_ASSERT(back.by_pc_id && back.provisioning_component_id.n == 2);
  n = ec_prov_result_encode(
      EC_FORMAT_CBOR,
      &(ec_prov_result_t){.action = EC_PROV_INSERT,
                          .provisioning_id = 11,
                          .component_type = EC_COMP_PARAMETER,
                          .component_id = {ids, 3, true, true},
                          .last_modified_by = 1,
                          .last_modified_s = SEED_TIME},
      buf, sizeof buf);
  CU_ASSERT_EQUAL_FATAL(ec_prov_result_decode(EC_FORMAT_CBOR, buf, (size_t)n,
                                              &back, &arena, NULL),
                        0);
  CU_ASSERT_EQUAL(back.action, EC_PROV_INSERT);
  CU_ASSERT_EQUAL(back.last_modified_s, SEED_TIME);
  CU_ASSERT_EQUAL(back.component_id.v[2], 4);
}

/* Regression (fuzz finding): an insert answer names its rows by the triple,
 * so one keyed by provisioning_component_id is refused rather than decoded
 * into a result no encoder can write. */
static void test_insert_answer_by_pc_id_is_refused(void) {
  static const char doc[] =
      "{\"provisioning_component_id\":[1],\"active_status\":0,"
      "\"last_modified_by\":1,\"last_modified_datetime\":"
      "\"2021-10-12 06:35:44\",\"error\":\"NO_ERROR\"}";
  ec_prov_result_t back;
  reset_arena();
  CU_ASSERT(ec_prov_result_decode(EC_FORMAT_JSON, (const uint8_t *)doc,
                                  LEN(doc), &back, &arena, NULL) < 0);
}

static void test_error_documents(void) {
  uint8_t buf[256];
  ssize_t n = ec_prov_error_encode(EC_FORMAT_JSON, NULL, "NO_DATA", NULL, NULL,
                                   0, buf, sizeof buf);
  CU_ASSERT_NSTRING_EQUAL(buf, "{\"error\":\"NO_DATA\"}", (size_t)n);
  n = ec_prov_error_encode(EC_FORMAT_JSON, NULL, "INVALID_INPUT_PRAM",
                           "INVALID_PRAM_X", NULL, 0, buf, sizeof buf);
  CU_ASSERT_NSTRING_EQUAL(
      buf,
      "{\"error\":\"INVALID_INPUT_PRAM\",\"error_detail\":\"INVALID_PRAM_X\"}",
      (size_t)n);
  int64_t ids[] = {7, 99};
  n = ec_prov_error_encode(EC_FORMAT_CBOR, NULL,
                           "INVALID_COMPONENT_SENSOR_ID_PRAM", NULL, ids, 2,
                           buf, sizeof buf);
  ec_prov_error_doc_t d;
  reset_arena();
  CU_ASSERT_EQUAL_FATAL(
      ec_prov_error_decode(EC_FORMAT_CBOR, buf, (size_t)n, &d, &arena), 0);
  CU_ASSERT_STRING_EQUAL(d.error, "INVALID_COMPONENT_SENSOR_ID_PRAM");
  CU_ASSERT_EQUAL_FATAL(d.n_ids, 2);
  CU_ASSERT_EQUAL(d.ids[1], 99);
  CU_ASSERT_PTR_NULL(d.detail);
  n = ec_prov_error_encode(EC_FORMAT_JSON, "FAILURE",
                           "ACCOUNT_PASSWORD_INCORRECT", NULL, NULL, 0, buf,
                           sizeof buf);
  CU_ASSERT_NSTRING_EQUAL(
      buf, "{\"status\":\"FAILURE\",\"error\":\"ACCOUNT_PASSWORD_INCORRECT\"}",
      (size_t)n);
}

static void test_login_documents(void) {
  static const struct {
    const char *body, *error, *detail;
  } bad[] = {
      {"{}", "INVALID_REQUEST_PRAM", ""},
      {"{\"username\":\"a\"}", "INVALID_REQUEST_PRAM", ""},
      {"{\"username\":\"a\",\"password\":\"\"}", "INVALID_REQUEST_PRAM", ""},
      {"{\"username\":\"a\",\"password\":7}", "INVALID_REQUEST_PRAM", ""},
      {"{\"username\":\"a\",\"password\":\"b\",\"token\":\"c\"}",
       "INVALID_REQUEST_PRAM", ""},
      {"{\"token\":\"c\",\"password\":\"b\"}", "INVALID_REQUEST_PRAM", ""},
      {"{\"username\":\"a\",\"password\":\"b\",\"remember\":true}",
       "INVALID_INPUT_PRAM", "INVALID_PRAM_REMEMBER"},
      {"not json", "INVALID_REQUEST_PRAM", ""},
  };
  ec_login_request_t lr;
  ec_prov_error_t err;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    reset_arena();
    CU_ASSERT(
        ec_login_request_decode(EC_FORMAT_JSON, (const uint8_t *)bad[i].body,
                                strlen(bad[i].body), &lr, &arena, &err) < 0);
    CU_ASSERT_STRING_EQUAL(err.error, bad[i].error);
    CU_ASSERT_STRING_EQUAL(err.detail, bad[i].detail);
  }
  uint8_t buf[512];
  ec_login_request_t in = {"admin", "pw", NULL};
  ssize_t n = ec_login_request_encode(EC_FORMAT_CBOR, &in, buf, sizeof buf);
  reset_arena();
  CU_ASSERT_EQUAL_FATAL(ec_login_request_decode(EC_FORMAT_CBOR, buf, (size_t)n,
                                                &lr, &arena, &err),
                        0);
  CU_ASSERT_STRING_EQUAL(lr.username, "admin");
  CU_ASSERT_PTR_NULL(lr.token);

  ec_login_response_t ok = {"ab", 1, "admin", "admin", "SUCCESS", "NO_ERROR"};
  n = ec_login_response_encode(EC_FORMAT_JSON, &ok, buf, sizeof buf);
  static const char want[] =
      "{\"token\":\"ab\",\"userid\":1,\"userrole\":\"admin\",\"username\":"
      "\"admin\",\"status\":\"SUCCESS\",\"error\":\"NO_ERROR\"}";
  CU_ASSERT_NSTRING_EQUAL(buf, want, LEN(want));
  ec_login_response_t out = {.status = "LOGGED_OUT", .error = "NO_ERROR"};
  n = ec_login_response_encode(EC_FORMAT_JSON, &out, buf, sizeof buf);
  CU_ASSERT_NSTRING_EQUAL(
      buf, "{\"status\":\"LOGGED_OUT\",\"error\":\"NO_ERROR\"}", (size_t)n);
  ec_login_response_t back;
  n = ec_login_response_encode(EC_FORMAT_CBOR, &ok, buf, sizeof buf);
  CU_ASSERT_EQUAL_FATAL(ec_login_response_decode(EC_FORMAT_CBOR, buf, (size_t)n,
                                                 &back, &arena, &err),
                        0);
  CU_ASSERT_STRING_EQUAL(back.token, "ab");
  CU_ASSERT_EQUAL(back.userid, 1);
}

static void test_datetimes_and_tokens(void) {
  char dt[20];
  int64_t t;
  CU_ASSERT_EQUAL(ec_prov_datetime_format(SEED_TIME, dt), 19);
  CU_ASSERT_STRING_EQUAL(dt, "2021-10-12 06:35:44");
  CU_ASSERT_EQUAL(ec_prov_datetime_parse(dt, 19, &t), 0);
  CU_ASSERT_EQUAL(t, SEED_TIME);
  CU_ASSERT_EQUAL(ec_prov_datetime_parse("2021-02-31 00:00:00", 19, &t),
                  EC_EBADDOC);
  CU_ASSERT_EQUAL(ec_prov_datetime_parse("2021-10-12T06:35:44", 19, &t),
                  EC_EBADDOC);
  CU_ASSERT_EQUAL(ec_prov_datetime_format(INT64_C(253402300800), dt),
                  EC_EINVAL);

  uint8_t raw[EC_PROV_TOKEN_BYTES], back[EC_PROV_TOKEN_BYTES];
  char hex[EC_PROV_TOKEN_HEX + 1];
  for (int i = 0; i < EC_PROV_TOKEN_BYTES; i++)
    raw[i] = (uint8_t)(i * 37 + 5);
  ec_prov_token_hex(raw, hex);
  CU_ASSERT_EQUAL(strlen(hex), EC_PROV_TOKEN_HEX);
  CU_ASSERT_EQUAL(
      ec_prov_token_read((const uint8_t *)hex, EC_PROV_TOKEN_HEX, back), 0);
  CU_ASSERT_EQUAL(memcmp(raw, back, sizeof raw), 0);
  for (char *p = hex; *p; p++)
    if (*p >= 'a' && *p <= 'f')
      *p = (char)(*p - 32);
  CU_ASSERT_EQUAL(
      ec_prov_token_read((const uint8_t *)hex, EC_PROV_TOKEN_HEX, back), 0);
  CU_ASSERT_EQUAL(memcmp(raw, back, sizeof raw), 0);
  CU_ASSERT_EQUAL(ec_prov_token_read(raw, sizeof raw, back), 0);
  hex[5] = 'g';
  CU_ASSERT_EQUAL(
      ec_prov_token_read((const uint8_t *)hex, EC_PROV_TOKEN_HEX, back),
      EC_EBADDOC);
  CU_ASSERT_EQUAL(ec_prov_token_read(raw, 31, back), EC_EBADDOC);
  CU_ASSERT_EQUAL(ec_prov_token_read(raw, 0, back), EC_EBADDOC);
}

/* ---- auth and store ------------------------------------------------------ */

static ec_auth_t *auth;
static ec_store_t *store;

#define TTL_MS 10000
#define WINDOW_MS 5000

/* The limits the cases count on (small, so that they are reached soon). */
static ec_auth_config_t test_config(void) {
  ec_auth_config_t cfg;
  ec_auth_config_default(&cfg);
  cfg.token_ttl_ms = TTL_MS;
  cfg.pair_max_failures = 3;
  cfg.peer_max_failures = 5;
  cfg.user_slow_after = 3;
  cfg.slow_base_ms = 100;
  cfg.slow_max_ms = 350;
  cfg.window_ms = WINDOW_MS;
  return cfg;
}

/* A fresh store with two users, provisionings 11 and 12, and a small
 * catalog. */
static int setup_store(void) {
  ec_auth_config_t cfg = test_config();
  /* EC_TEST_STORE=postgres://... (CTest's provisioning_postgres, in a
   * throw-away cluster) runs the store's cases on PostgreSQL. */
  const char *b = getenv("EC_TEST_STORE");
  const char *name =
      b != NULL && strncmp(b, "postgres", 8) == 0 ? b : ":memory:";
  if (ec_auth_new(&cfg, &auth) < 0 || ec_store_open(name, &store) < 0)
    return -1;
  static ec_store_prov_user_t users[2] = {{1, "admin", "admin", ""},
                                          {2, "device", "device", ""}};
  if (ec_auth_password_hash("admin-pw", users[0].password_hash) < 0 ||
      ec_auth_password_hash("device-pw", users[1].password_hash) < 0)
    return -1;
  static const ec_store_prov_item_t provs[] = {{11, "north", 0},
                                               {12, "south", 0}};
  static const ec_store_prov_item_t sensors[] = {
      {1, "Temperature", 0}, {2, "Carbon Monoxide", 0}, {4, "CO2", 0}};
  static const ec_store_prov_item_t params[] = {{2, "Interval", 0}};
  ec_store_prov_import_t im = {users,    2, provs, 2, {sensors, params, NULL},
                               {3, 1, 0}};
  return ec_store_prov_import(store, &im) < 0 ? -1 : 0;
}

static void test_password_hashes_are_argon2id_and_salted(void) {
  char h1[EC_STORE_PROV_HASH_MAX], h2[EC_STORE_PROV_HASH_MAX];
  CU_ASSERT_EQUAL_FATAL(ec_auth_password_hash("secret", h1), 0);
  CU_ASSERT_EQUAL_FATAL(ec_auth_password_hash("secret", h2), 0);
  CU_ASSERT_EQUAL(strncmp(h1, "$argon2id$", 10), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(h1, "m=19456,t=2"));
  CU_ASSERT_STRING_NOT_EQUAL(h1, h2);
  CU_ASSERT_PTR_NULL(strstr(h1, "secret"));
  CU_ASSERT_TRUE(ec_auth_password_verify(h1, "secret"));
  CU_ASSERT_FALSE(ec_auth_password_verify(h1, "Secret"));
  CU_ASSERT_FALSE(ec_auth_password_verify("$argon2id$garbage", "secret"));
  CU_ASSERT_EQUAL(ec_auth_password_hash("", h1), EC_EINVAL);
}

static void test_login_gives_a_token_that_checks_and_logs_out(void) {
  ec_auth_session_t s;
  static const uint8_t peer[4] = {10, 0, 0, 1};
  int64_t now = 1000000, uid = 0;
  CU_ASSERT_EQUAL_FATAL(
      ec_auth_login(auth, store, "admin", "admin-pw", peer, 4, now, &s), 0);
  CU_ASSERT_EQUAL(strlen(s.token), EC_PROV_TOKEN_HEX);
  CU_ASSERT_EQUAL(s.user.id, 1);
  CU_ASSERT_STRING_EQUAL(s.user.role, "admin");
  CU_ASSERT_EQUAL(s.user.password_hash[0], '\0');
  /* Hex and raw forms of the option both work. */
  uint8_t raw[EC_PROV_TOKEN_BYTES], digest[EC_STORE_PROV_DIGEST_LEN];
  CU_ASSERT_EQUAL(ec_auth_check(auth, store, (const uint8_t *)s.token,
                                EC_PROV_TOKEN_HEX, now, digest, &uid),
                  0);
  CU_ASSERT_EQUAL(uid, 1);
  ec_prov_token_read((const uint8_t *)s.token, EC_PROV_TOKEN_HEX, raw);
  CU_ASSERT_EQUAL(ec_auth_check(auth, store, raw, sizeof raw, now, NULL, &uid),
                  0);
  CU_ASSERT_EQUAL(ec_auth_check_digest(auth, store, digest, now), 0);
  raw[0] ^= 1;
  CU_ASSERT_EQUAL(ec_auth_check(auth, store, raw, sizeof raw, now, NULL, &uid),
                  EC_ENOTFOUND);
  CU_ASSERT_EQUAL(ec_auth_check(auth, store, NULL, 0, now, NULL, &uid),
                  EC_ENOTFOUND);
  CU_ASSERT_EQUAL(ec_auth_logout(auth, store, s.token, now), 0);
  CU_ASSERT_EQUAL(ec_auth_check(auth, store, (const uint8_t *)s.token,
                                EC_PROV_TOKEN_HEX, now, NULL, &uid),
                  EC_ENOTFOUND);
  CU_ASSERT_EQUAL(ec_auth_logout(auth, store, s.token, now), EC_ENOTFOUND);
  CU_ASSERT_EQUAL(ec_auth_logout(auth, store, "abc", now), EC_ENOTFOUND);
}

static void test_token_expiry_slides_with_use(void) {
  ec_auth_session_t s;
  static const uint8_t peer[4] = {10, 0, 0, 2};
  int64_t t0 = 2000000, uid;
  CU_ASSERT_EQUAL_FATAL(
      ec_auth_login(auth, store, "device", "device-pw", peer, 4, t0, &s), 0);
  const uint8_t *tok = (const uint8_t *)s.token;
  uint8_t digest[EC_STORE_PROV_DIGEST_LEN];
  /* Used at 0.6 TTL: the use moves the expiry, so 1.2 TTL is still live. */
  CU_ASSERT_EQUAL(ec_auth_check(auth, store, tok, 64, t0 + 6000, digest, &uid),
                  0);
  CU_ASSERT_EQUAL(ec_auth_check(auth, store, tok, 64, t0 + 12000, NULL, &uid),
                  0);
  /* A notification's check does not count as a use. */
  CU_ASSERT_EQUAL(ec_auth_check_digest(auth, store, digest, t0 + 21000), 0);
  CU_ASSERT_EQUAL(ec_auth_check_digest(auth, store, digest, t0 + 22000),
                  EC_ENOTFOUND);
  CU_ASSERT_EQUAL(ec_auth_check(auth, store, tok, 64, t0 + 22000, NULL, &uid),
                  EC_ENOTFOUND);
}

static void test_wrong_password_and_unknown_user_are_one_answer(void) {
  ec_auth_session_t s;
  static const uint8_t peer[4] = {10, 0, 0, 3};
  int64_t now = 3000000;
  CU_ASSERT_EQUAL(ec_auth_login(auth, store, "admin", "nope", peer, 4, now, &s),
                  EC_ENOTFOUND);
  CU_ASSERT_EQUAL(
      ec_auth_login(auth, store, "nobody", "nope", peer, 4, now, &s),
      EC_ENOTFOUND);
  /* Case matters in usernames. */
  CU_ASSERT_EQUAL(
      ec_auth_login(auth, store, "Admin", "admin-pw", peer, 4, now, &s),
      EC_ENOTFOUND);
}

static void test_failed_logins_are_limited_per_user_and_per_peer(void) {
  ec_auth_session_t s;
  static const uint8_t p1[4] = {10, 0, 1, 1}, p2[4] = {10, 0, 1, 2};
  int64_t now = 10000000;
  /* 3 failures for admin from p1 lock admin out of p1 only, even with its
   * password: from p2 the owner still gets in. */
  for (int i = 0; i < 3; i++)
    CU_ASSERT_EQUAL(ec_auth_login(auth, store, "admin", "x", p1, 4, now, &s),
                    EC_ENOTFOUND);
  CU_ASSERT_EQUAL(
      ec_auth_login(auth, store, "admin", "admin-pw", p1, 4, now, &s),
      EC_ENOTFOUND);
  CU_ASSERT_EQUAL(
      ec_auth_login(auth, store, "admin", "admin-pw", p2, 4, now, &s), 0);
  /* p1 has 3 of its 5: device may still log in from it. */
  CU_ASSERT_EQUAL(
      ec_auth_login(auth, store, "device", "device-pw", p1, 4, now, &s), 0);
  /* Two more (unknown users count too) lock p1 for everyone. */
  CU_ASSERT_EQUAL(ec_auth_login(auth, store, "ghost1", "x", p1, 4, now, &s),
                  EC_ENOTFOUND);
  CU_ASSERT_EQUAL(ec_auth_login(auth, store, "ghost2", "x", p1, 4, now, &s),
                  EC_ENOTFOUND);
  CU_ASSERT_EQUAL(
      ec_auth_login(auth, store, "device", "device-pw", p1, 4, now, &s),
      EC_ENOTFOUND);
  CU_ASSERT_EQUAL(
      ec_auth_login(auth, store, "device", "device-pw", p2, 4, now, &s), 0);
  /* The window ends: both locks are gone. */
  now += WINDOW_MS;
  CU_ASSERT_EQUAL(
      ec_auth_login(auth, store, "admin", "admin-pw", p1, 4, now, &s), 0);
  CU_ASSERT_FALSE(ec_auth_limited(auth, "peer", p1, 4, 5, now));
  /* Kinds do not share counters. */
  ec_auth_count_failure(auth, "user", "zed", 3, now);
  CU_ASSERT_TRUE(ec_auth_limited(auth, "user", "zed", 3, 1, now));
  CU_ASSERT_FALSE(ec_auth_limited(auth, "peer", "zed", 3, 1, now));
}

static void test_failures_from_many_addresses_slow_a_user_down(void) {
  ec_auth_session_t s;
  ec_auth_attempt_t at;
  int64_t now = 20000000;
  uint8_t peer[4] = {10, 0, 2, 0};
  /* Failures of admin from ever new addresses: no address reaches its
   * limits, but from the third on each attempt of admin waits longer:
   * 100, 200, then at most 350 ms. */
  static const int64_t want[] = {0, 0, 0, 100, 200, 350, 350};
  for (int i = 0; i < 7; i++) {
    peer[3] = (uint8_t)i;
    CU_ASSERT_EQUAL_FATAL(
        ec_auth_login_begin(auth, store, "admin", peer, 4, now, &at), 0);
    CU_ASSERT_EQUAL(at.delay_ms, want[i]);
    CU_ASSERT_TRUE(at.known);
    CU_ASSERT_EQUAL(ec_auth_login_finish(auth, store, &at, false, now, NULL),
                    EC_ENOTFOUND);
  }
  /* Slowed, never refused: the right password from another address. */
  peer[3] = 100;
  CU_ASSERT_EQUAL_FATAL(
      ec_auth_login_begin(auth, store, "admin", peer, 4, now, &at), 0);
  CU_ASSERT_EQUAL(at.delay_ms, 350);
  CU_ASSERT_TRUE(ec_auth_password_verify(at.user.password_hash, "admin-pw"));
  CU_ASSERT_EQUAL(ec_auth_login_finish(auth, store, &at, true, now, &s), 0);
  CU_ASSERT_EQUAL(s.user.id, 1);
  /* Another user is not slowed by admin's failures. */
  CU_ASSERT_EQUAL_FATAL(
      ec_auth_login_begin(auth, store, "device", peer, 4, now, &at), 0);
  CU_ASSERT_EQUAL(at.delay_ms, 0);
  /* The username's count is the store's: another server on it (or this
   * one restarted) slows admin down as much, until the window ends. */
  ec_auth_config_t cfg = test_config();
  ec_auth_t *other = NULL;
  CU_ASSERT_EQUAL_FATAL(ec_auth_new(&cfg, &other), 0);
  peer[3] = 101;
  CU_ASSERT_EQUAL_FATAL(
      ec_auth_login_begin(other, store, "admin", peer, 4, now + 1, &at), 0);
  CU_ASSERT_EQUAL(at.delay_ms, 350);
  CU_ASSERT_EQUAL_FATAL(ec_auth_login_begin(other, store, "admin", peer, 4,
                                            now + WINDOW_MS, &at),
                        0);
  CU_ASSERT_EQUAL(at.delay_ms, 0);
  ec_auth_free(other);
  /* An unknown user is checked against the dummy hash. */
  CU_ASSERT_EQUAL_FATAL(
      ec_auth_login_begin(auth, store, "ghost9", peer, 4, now, &at), 0);
  CU_ASSERT_FALSE(at.known);
  CU_ASSERT_EQUAL(strncmp(at.user.password_hash, "$argon2id$", 10), 0);
}

static ec_prov_request_t req(ec_prov_action_t a, int64_t prov, int type,
                             const int64_t *ids, size_t n, int active) {
  ec_prov_request_t r = {0};
  r.action = a;
  r.has_provisioning_id = prov >= 0;
  r.provisioning_id = prov;
  r.has_component_type = type >= 0;
  r.component_type = (ec_comp_type_t)(type < 0 ? 0 : type);
  r.component_id = (ec_prov_ids_t){ids, n, n > 0, true};
  r.has_active_status = active >= 0;
  r.active_status = active < 0 ? 0 : active;
  return r;
}

static void test_store_insert_is_all_or_nothing_and_upserts(void) {
  ec_store_prov_outcome_t o;
  ec_prov_component_t *rows;
  size_t n;
  int64_t bad[] = {1, 99, 2, 98, 99};
  ec_prov_request_t r = req(EC_PROV_INSERT, 11, 0, bad, 5, -1);
  CU_ASSERT_EQUAL(ec_store_prov_insert(store, &r, 1, SEED_TIME, &o),
                  EC_ESEMANTIC);
  CU_ASSERT_EQUAL_FATAL(o.n_unknown, 2);
  CU_ASSERT(o.unknown[0] == 99 && o.unknown[1] == 98);
  CU_ASSERT_EQUAL(o.n_provisionings, 0);
  ec_store_prov_outcome_free(&o);
  ec_prov_request_t all = {0};
  CU_ASSERT_EQUAL(ec_store_prov_select(store, &all, &rows, &n), 0);
  CU_ASSERT_EQUAL(n, 0);

  r = req(EC_PROV_INSERT, 77, 0, bad, 1, -1);
  CU_ASSERT_EQUAL(ec_store_prov_insert(store, &r, 1, SEED_TIME, &o),
                  EC_ESEMANTIC);
  CU_ASSERT_TRUE(o.no_provisioning);
  ec_store_prov_outcome_free(&o);

  int64_t good[] = {1, 2, 4};
  r = req(EC_PROV_INSERT, 11, 0, good, 3, -1);
  CU_ASSERT_EQUAL_FATAL(ec_store_prov_insert(store, &r, 1, SEED_TIME, &o), 0);
  CU_ASSERT(o.n_provisionings == 1 && o.provisionings[0] == 11);
  ec_store_prov_outcome_free(&o);
  /* Again, inactive, by another user: the same rows, changed. */
  r = req(EC_PROV_INSERT, 11, 0, good, 2, 1);
  CU_ASSERT_EQUAL_FATAL(ec_store_prov_insert(store, &r, 2, SEED_TIME + 5, &o),
                        0);
  ec_store_prov_outcome_free(&o);
  CU_ASSERT_EQUAL_FATAL(ec_store_prov_select(store, &all, &rows, &n), 0);
  CU_ASSERT_EQUAL_FATAL(n, 3);
  CU_ASSERT_EQUAL(rows[0].provisioning_component_id, 1);
  CU_ASSERT_STRING_EQUAL(rows[1].name, "Carbon Monoxide");
  CU_ASSERT(rows[1].active_status == 1 && rows[1].last_modified_by == 2 &&
            rows[1].last_modified_s == SEED_TIME + 5);
  CU_ASSERT(rows[2].active_status == 0 && rows[2].last_modified_by == 1);
  free(rows);
}

static void test_store_update_and_select_filters(void) {
  ec_store_prov_outcome_t o;
  ec_prov_component_t *rows;
  size_t n;
  int64_t p2[] = {2};
  ec_prov_request_t ins = req(EC_PROV_INSERT, 12, 1, p2, 1, 0);
  CU_ASSERT_EQUAL_FATAL(ec_store_prov_insert(store, &ins, 1, SEED_TIME, &o), 0);
  ec_store_prov_outcome_free(&o);

  /* By triple: one unknown id changes nothing. */
  int64_t ids[] = {1, 2, 6};
  ec_prov_request_t up = req(EC_PROV_UPDATE, 11, 0, ids, 3, 1);
  CU_ASSERT_EQUAL(ec_store_prov_update(store, &up, 1, SEED_TIME + 9, &o),
                  EC_ESEMANTIC);
  CU_ASSERT(o.n_unknown == 1 && o.unknown[0] == 6);
  ec_store_prov_outcome_free(&o);
  up.component_id.n = 2;
  CU_ASSERT_EQUAL(ec_store_prov_update(store, &up, 1, SEED_TIME + 9, &o), 0);
  CU_ASSERT(o.n_provisionings == 1 && o.provisionings[0] == 11);
  ec_store_prov_outcome_free(&o);

  /* By provisioning_component_id, across provisionings. */
  int64_t pcs[] = {1, 4};
  ec_prov_request_t byid = {0};
  byid.action = EC_PROV_UPDATE;
  byid.provisioning_component_id = (ec_prov_ids_t){pcs, 2, true, true};
  byid.has_active_status = true;
  byid.active_status = 1;
  CU_ASSERT_EQUAL(ec_store_prov_update(store, &byid, 2, SEED_TIME + 10, &o), 0);
  CU_ASSERT_EQUAL(o.n_provisionings, 2);
  ec_store_prov_outcome_free(&o);
  pcs[1] = 40;
  CU_ASSERT_EQUAL(ec_store_prov_update(store, &byid, 2, SEED_TIME + 10, &o),
                  EC_ESEMANTIC);
  CU_ASSERT(o.n_unknown == 1 && o.unknown[0] == 40);
  ec_store_prov_outcome_free(&o);

  ec_prov_request_t f = {0};
  f.has_provisioning_id = true;
  f.provisioning_id = 12;
  CU_ASSERT_EQUAL_FATAL(ec_store_prov_select(store, &f, &rows, &n), 0);
  CU_ASSERT(n == 1 && rows[0].component_type == EC_COMP_PARAMETER &&
            rows[0].active_status == 1);
  free(rows);
  memset(&f, 0, sizeof f);
  int64_t cid[] = {4, 2};
  f.component_id = (ec_prov_ids_t){cid, 2, true, true};
  f.has_component_type = true;
  f.component_type = EC_COMP_SENSOR;
  CU_ASSERT_EQUAL_FATAL(ec_store_prov_select(store, &f, &rows, &n), 0);
  CU_ASSERT_EQUAL(n, 2);
  free(rows);
  f.has_limit = true;
  f.limit = 1;
  CU_ASSERT_EQUAL_FATAL(ec_store_prov_select(store, &f, &rows, &n), 0);
  CU_ASSERT_EQUAL(n, 1);
  free(rows);
  f.has_active_status = true;
  f.active_status = 0;
  f.has_limit = false;
  CU_ASSERT_EQUAL_FATAL(ec_store_prov_select(store, &f, &rows, &n), 0);
  CU_ASSERT(n == 1 && rows[0].component_id == 4);
  free(rows);
}

static void test_import_twice_updates_and_refuses_a_taken_username(void) {
  ec_store_prov_user_t u = {5, "admin", "x", ""};
  CU_ASSERT_EQUAL_FATAL(ec_auth_password_hash("pw", u.password_hash), 0);
  ec_store_prov_import_t im = {0};
  im.users = &u;
  im.n_users = 1;
  /* "admin" belongs to id 1: the whole import is refused. */
  CU_ASSERT_EQUAL(ec_store_prov_import(store, &im), EC_EINVAL);
  ec_store_prov_user_t found;
  CU_ASSERT_EQUAL(ec_store_prov_user_find(store, "admin", &found), 0);
  CU_ASSERT_EQUAL(found.id, 1);
  /* user-add on an existing name replaces its password. */
  int64_t id;
  int created;
  u.id = 0;
  CU_ASSERT_EQUAL(ec_store_prov_user_put(store, &u, &id, &created), 0);
  CU_ASSERT(id == 1 && created == 0);
  snprintf(u.username, sizeof u.username, "ops");
  CU_ASSERT_EQUAL(ec_store_prov_user_put(store, &u, &id, &created), 0);
  CU_ASSERT(id == 3 && created == 1);
  /* A clear password cannot reach the table. */
  snprintf(u.password_hash, sizeof u.password_hash, "plain");
  u.id = 9;
  im.users = &u;
  CU_ASSERT_EQUAL(ec_store_prov_import(store, &im), EC_EINVAL);
}

static const ec_test_t tests[] = {
    {test_component_type_names_any_case_or_number,
     "component type names, any case, or numbers"},
    {test_every_request_refusal_in_both_formats,
     "every request refusal, in both formats"},
    {test_seed_request_examples_are_accepted,
     "the seed's request examples are accepted"},
    {test_digit_strings_and_single_ids_are_taken,
     "digit strings and single ids are taken"},
    {test_hostile_bodies_are_invalid_request_pram,
     "hostile bodies are INVALID_REQUEST_PRAM"},
    {test_request_encode_round_trips, "request encode round trips"},
    {test_select_answer_is_the_seed_example,
     "select answer is the seed's example"},
    {test_select_answer_decodes_by_response_index,
     "select answer decodes by response index"},
    {test_write_answers_follow_the_seed_field_order,
     "write answers follow the seed's field order"},
    {test_insert_answer_by_pc_id_is_refused,
     "insert answer by provisioning_component_id is refused"},
    {test_error_documents, "error documents"},
    {test_login_documents, "login documents"},
    {test_datetimes_and_tokens, "datetimes and tokens"},
    {test_password_hashes_are_argon2id_and_salted,
     "password hashes are Argon2id and salted"},
    {test_login_gives_a_token_that_checks_and_logs_out,
     "login gives a token that checks and logs out"},
    {test_token_expiry_slides_with_use, "token expiry slides with use"},
    {test_wrong_password_and_unknown_user_are_one_answer,
     "wrong password and unknown user are one answer"},
    {test_failed_logins_are_limited_per_user_and_per_peer,
     "failed logins are limited per user and per peer"},
    {test_failures_from_many_addresses_slow_a_user_down,
     "failures from many addresses slow a user down"},
    {test_store_insert_is_all_or_nothing_and_upserts,
     "store insert is all-or-nothing and upserts"},
    {test_store_update_and_select_filters, "store update and select filters"},
    {test_import_twice_updates_and_refuses_a_taken_username,
     "import refuses a taken username; user-add updates"},
};

int main(void) {
  /* The refusals below are logged as errors by design; the rest is noise. */
  ec_log_set_level(EC_LOG_ERROR);
  if (setup_store() < 0) {
    fprintf(stderr, "test_provisioning: cannot set up the store\n");
    return 2;
  }
  int rc = ec_test_main("provisioning", tests, EC_TEST_COUNT(tests), NULL, NULL,
                        NULL);
  ec_store_close(store);
  ec_auth_free(auth);
  return rc;
}
