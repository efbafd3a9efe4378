/* edgecoap: integration tests of /v1/DeviceProvisioningComponents. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <jansson.h>

#include "it_prov_util.h"
#include "suite.h"

/*
 * One server serves the suite, its catalog imported from
 * tests/data/provisioning-catalog.json; the tests build on each other's
 * data in order (inserts, then selects and updates of what they stored).
 * Every error code of the seed's three failure tables is provoked through
 * the server in test_every_seed_error_code. Login, tokens and their limits
 * are it_login.c's.
 */

#define NOTIFY_WAIT_MS 5000
#define SILENCE_MS 1500

static it_server_t srv;
static it_udp_t udp;
static ec_client_t *lib;      /* JSON both ways */
static ec_client_t *lib_cbor; /* CBOR both ways */
static char admin_tok[EC_PROV_TOKEN_HEX + 1];
static char device_tok[EC_PROV_TOKEN_HEX + 1];

/* ------------------------------------------------------------------------ */
/* Helpers and set-up                                                        */

static int post_json(const char *path, const char *tok, const char *body,
                     json_t **out) {
  return itp_lib_req(lib, "POST", path, tok, EC_FORMAT_JSON, body, strlen(body),
                     out);
}

/* edgecoap-client against the suite's server; env vars via "env". */
static int cli(it_result_t *r, bool expect_ok, const char *in, const char *env,
               ...) {
  const char *argv[40];
  int n = 0;
  char envbuf[160];
  if (env != NULL) {
    argv[n++] = "/usr/bin/env";
    snprintf(envbuf, sizeof(envbuf), "%s", env);
    argv[n++] = envbuf;
  }
  argv[n++] = EC_CLIENT_BIN;
  argv[n++] = "--url";
  argv[n++] = srv.url;
  argv[n++] = "--timeout";
  argv[n++] = "5000";
  va_list ap;
  va_start(ap, env);
  const char *a;
  while ((a = va_arg(ap, const char *)) != NULL && n < 39)
    argv[n++] = a;
  va_end(ap);
  argv[n] = NULL;
  return itp_run(r, expect_ok, in, in ? strlen(in) : 0, argv);
}

static int suite_init(void) {
  it_init();
  itp_use_server(&srv);
  if (itp_start_server(&srv, NULL) < 0 || it_udp_open(&udp, srv.port) < 0)
    return -1;
  ec_client_config_t cfg = {
      .url = srv.url, .format = EC_FORMAT_JSON, .timeout_ms = 5000};
  if (ec_client_new(&cfg, &lib) < 0)
    return -1;
  cfg.format = EC_FORMAT_CBOR;
  if (ec_client_new(&cfg, &lib_cbor) < 0)
    return -1;
  /* admin over raw CoAP; device through the library, in CBOR, which keeps
   * the token on lib_cbor. */
  ec_response_t resp;
  ec_login_response_t lr;
  uint8_t mem[4096];
  ec_arena_t arena;
  ec_arena_init(&arena, mem, sizeof(mem));
  if (itp_login_raw(&udp, "admin", ITP_ADMIN_PW, admin_tok, NULL) != 201 ||
      ec_client_login(lib_cbor, EC_FORMAT_CBOR, "device", ITP_DEVICE_PW, &lr,
                      &arena, &resp) < 0)
    return -1;
  snprintf(device_tok, sizeof(device_tok), "%s", lr.token);
  return 0;
}

static int suite_cleanup(void) {
  it_udp_close(&udp);
  ec_client_free(lib);
  ec_client_free(lib_cbor);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Catalogs and success documents                                            */

static void test_import_twice_updates_rather_than_duplicates(void) {
  it_result_t r;
  CU_ASSERT_EQUAL(itp_import(srv.db, ITP_CATALOG, &r, true), 0);
  it_result_free(&r);
  CU_ASSERT_EQUAL(itp_count_rows(srv.db, "SELECT count(*) FROM prov_users"), 2);
  CU_ASSERT_EQUAL(
      itp_count_rows(srv.db, "SELECT count(*) FROM prov_provisionings"), 3);
  CU_ASSERT_EQUAL(itp_count_rows(srv.db, "SELECT count(*) FROM prov_sensors"),
                  6);
  CU_ASSERT_EQUAL(
      itp_count_rows(srv.db, "SELECT count(*) FROM prov_parameters"), 5);
  CU_ASSERT_EQUAL(
      itp_count_rows(srv.db, "SELECT count(*) FROM prov_group_parameters"), 3);

  /* A changed entry is updated and a new one added. */
  char path[400];
  snprintf(path, sizeof(path), "%s/more.json", srv.dir);
  static const char more[] =
      "{\"sensors\":[{\"id\":6,\"name\":\"Soil Moisture\"},"
      "{\"id\":7,\"name\":\"Wind\"}],\"provisionings\":[{\"id\":13,"
      "\"name\":\"Cold store B\",\"active_status\":0}]}";
  CU_ASSERT_EQUAL_FATAL(it_write_file(path, more, strlen(more)), 0);
  CU_ASSERT_EQUAL(itp_import(srv.db, path, &r, true), 0);
  it_result_free(&r);
  CU_ASSERT_EQUAL(itp_count_rows(srv.db, "SELECT count(*) FROM prov_sensors"),
                  7);
  CU_ASSERT_EQUAL(itp_count_rows(srv.db, "SELECT active_status FROM "
                                         "prov_provisionings WHERE id = 13"),
                  0);

  /* All or nothing: a username held by another id refuses the whole file. */
  static const char clash[] =
      "{\"sensors\":[{\"id\":8,\"name\":\"Rain\"}],\"users\":[{\"id\":9,"
      "\"username\":\"admin\",\"password\":\"x\"}]}";
  CU_ASSERT_EQUAL_FATAL(it_write_file(path, clash, strlen(clash)), 0);
  CU_ASSERT_NOT_EQUAL(itp_import(srv.db, path, &r, false), 0);
  it_result_free(&r);
  CU_ASSERT_EQUAL(itp_count_rows(srv.db, "SELECT count(*) FROM prov_sensors"),
                  7);

  /* user-add reads the password from standard input. */
  const char *argv[] = {EC_SERVER_BIN, "admin", "user-add", "--db",     srv.db,
                        "--username",  "ops",   "--role",   "operator", NULL};
  CU_ASSERT_EQUAL(itp_run(&r, true, "ops-pass-71\n", 12, argv), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "added user ops (id 3"));
  it_result_free(&r);
  const char *help[] = {EC_SERVER_BIN, "admin", "import", "--help", NULL};
  CU_ASSERT_EQUAL(itp_run(&r, true, NULL, 0, help), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "FILE.json"));
  it_result_free(&r);
}

static void test_insert_answers_the_seed_document(void) {
  json_t *j;
  /* The seed's insert example, as written. */
  CU_ASSERT_EQUAL_FATAL(
      post_json("/" ITP_COMPONENTS, admin_tok,
                "{\n    \"action\": \"insert\"\n    , \"provisioning_id\": 11\n"
                "    , \"component_type\": \"Parameter\"\n    , "
                "\"component_id\" : \n        [\n            2\n            , "
                "3\n            , 4\n        ]\n}",
                &j),
      201);
  char keys[256];
  itp_keys_of(j, keys, sizeof(keys));
  CU_ASSERT_STRING_EQUAL(keys, "provisioning_id,component_type,component_id,"
                               "active_status,last_modified_by,"
                               "last_modified_datetime,error");
  CU_ASSERT_EQUAL(itp_jint(j, "provisioning_id"), 11);
  CU_ASSERT_STRING_EQUAL(itp_jstr(j, "component_type"), "Parameter");
  json_t *want = json_pack("[iii]", 2, 3, 4);
  CU_ASSERT_TRUE(json_equal(json_object_get(j, "component_id"), want));
  json_decref(want);
  CU_ASSERT_EQUAL(itp_jint(j, "active_status"), 0);
  CU_ASSERT_EQUAL(itp_jint(j, "last_modified_by"), 1);
  itp_check_recent_datetime(itp_jstr(j, "last_modified_datetime"));
  CU_ASSERT_STRING_EQUAL(itp_jstr(j, "error"), "NO_ERROR");
  json_decref(j);

  /* The device user, in CBOR both ways: last_modified_by is its id. */
  ec_prov_request_t rq = {0};
  int64_t ids[] = {1, 2, 4, 5};
  rq.has_provisioning_id = true;
  rq.provisioning_id = 11;
  rq.has_component_type = true;
  rq.component_type = EC_COMP_SENSOR;
  rq.component_id = (ec_prov_ids_t){ids, 4, true, true};
  uint8_t mem[8192];
  ec_arena_t arena;
  ec_arena_init(&arena, mem, sizeof(mem));
  ec_prov_result_t res;
  ec_response_t resp;
  ec_client_use_token(lib_cbor, device_tok);
  CU_ASSERT_EQUAL_FATAL(
      ec_client_prov_insert(lib_cbor, EC_FORMAT_CBOR, &rq, &res, &arena, &resp),
      0);
  CU_ASSERT_EQUAL(resp.code, 201);
  CU_ASSERT_EQUAL(resp.format, EC_FORMAT_CBOR);
  CU_ASSERT_EQUAL(res.last_modified_by, 2);
  CU_ASSERT_EQUAL(res.component_id.n, 4);
  CU_ASSERT_EQUAL(res.component_type, EC_COMP_SENSOR);
}

/* Check one select row against what was stored. */
static void check_row(const json_t *row, long long pc, long long prov,
                      const char *type, long long cid, const char *name,
                      long long active, long long by) {
  char keys[256];
  itp_keys_of(row, keys, sizeof(keys));
  CU_ASSERT_STRING_EQUAL(keys, "provisioning_component_id,provisioning_id,"
                               "component_type,component_id,name,"
                               "active_status,last_modified_by,"
                               "last_modified_datetime");
  if (pc >= 0)
    CU_ASSERT_EQUAL(itp_jint(row, "provisioning_component_id"), pc);
  CU_ASSERT_EQUAL(itp_jint(row, "provisioning_id"), prov);
  CU_ASSERT_STRING_EQUAL(itp_jstr(row, "component_type"), type);
  CU_ASSERT_EQUAL(itp_jint(row, "component_id"), cid);
  CU_ASSERT_STRING_EQUAL(itp_jstr(row, "name"), name);
  CU_ASSERT_EQUAL(itp_jint(row, "active_status"), active);
  CU_ASSERT_EQUAL(itp_jint(row, "last_modified_by"), by);
  itp_check_recent_datetime(itp_jstr(row, "last_modified_datetime"));
}

static void test_select_answers_the_seed_document(void) {
  json_t *j;
  /* The seed's filtered select example: sensor 6 was never inserted. */
  CU_ASSERT_EQUAL_FATAL(
      post_json("/" ITP_COMPONENTS, admin_tok,
                "{\"action\": \"select\", \"provisioning_id\" : 11, "
                "\"component_type\" : \"Sensor\", \"component_id\" : "
                "[1, 2, 4, 6]}",
                &j),
      205);
  json_t *rs = json_object_get(j, "responses");
  CU_ASSERT_EQUAL_FATAL(json_object_size(rs), 3);
  char keys[256];
  itp_keys_of(rs, keys, sizeof(keys));
  CU_ASSERT_STRING_EQUAL(keys, "response_0,response_1,response_2");
  /* Parameters 2,3,4 got ids 1..3, sensors 1,2,4,5 ids 4..7. */
  check_row(json_object_get(rs, "response_0"), 4, 11, "Sensor", 1,
            "Temperature", 0, 2);
  check_row(json_object_get(rs, "response_1"), 5, 11, "Sensor", 2,
            "Carbon Monoxide", 0, 2);
  check_row(json_object_get(rs, "response_2"), 6, 11, "Sensor", 4,
            "Carbon Dioxide", 0, 2);
  json_decref(j);

  /* GET selects everything, in provisioning_component_id order. */
  CU_ASSERT_EQUAL_FATAL(
      itp_lib_req(lib, "GET", "/" ITP_COMPONENTS, admin_tok, -1, NULL, 0, &j),
      205);
  rs = json_object_get(j, "responses");
  CU_ASSERT_EQUAL(json_object_size(rs), 7);
  check_row(json_object_get(rs, "response_0"), 1, 11, "Parameter", 2,
            "Report Interval", 0, 1);
  check_row(json_object_get(rs, "response_6"), 7, 11, "Sensor", 5, "Light", 0,
            2);
  char *all_json = json_dumps(j, JSON_COMPACT);
  json_decref(j);

  /* CBOR says the same, with the same shape. */
  CU_ASSERT_EQUAL(itp_lib_req(lib_cbor, "GET", "/" ITP_COMPONENTS, admin_tok,
                              -1, NULL, 0, &j),
                  205);
  char *cbor_json = json_dumps(j, JSON_COMPACT);
  CU_ASSERT_STRING_EQUAL(cbor_json, all_json);
  free(cbor_json);
  free(all_json);
  json_decref(j);

  /* limit, a list of ids, a type by number and by name in another case. */
  CU_ASSERT_EQUAL(post_json("/" ITP_COMPONENTS, admin_tok,
                            "{\"action\":\"select\",\"limit\":2,"
                            "\"component_type\":1}",
                            &j),
                  205);
  CU_ASSERT_EQUAL(json_object_size(json_object_get(j, "responses")), 2);
  json_decref(j);
  CU_ASSERT_EQUAL(post_json("/" ITP_COMPONENTS, admin_tok,
                            "{\"action\":\"select\","
                            "\"provisioning_component_id\":[7,1],"
                            "\"component_type\":\"SENSOR\"}",
                            &j),
                  205);
  rs = json_object_get(j, "responses");
  CU_ASSERT_EQUAL(json_object_size(rs), 1);
  CU_ASSERT_EQUAL(itp_jint(json_object_get(rs, "response_0"), "component_id"),
                  5);
  json_decref(j);
}

static void test_update_answers_the_seed_documents(void) {
  json_t *j;
  /* The seed's update example, by provisioning, type and ids. */
  CU_ASSERT_EQUAL_FATAL(
      post_json("/" ITP_COMPONENTS, admin_tok,
                "{\"action\": \"update\", \"provisioning_id\" : 11, "
                "\"component_type\" : 0, \"component_id\" : [1, 2, 4, 5], "
                "\"active_status\" : 1}",
                &j),
      204);
  char keys[256];
  itp_keys_of(j, keys, sizeof(keys));
  CU_ASSERT_STRING_EQUAL(keys, "provisioning_id,component_type,component_id,"
                               "active_status,error");
  CU_ASSERT_EQUAL(itp_jint(j, "provisioning_id"), 11);
  CU_ASSERT_STRING_EQUAL(itp_jstr(j, "component_type"), "Sensor");
  json_t *want = json_pack("[iiii]", 1, 2, 4, 5);
  CU_ASSERT_TRUE(json_equal(json_object_get(j, "component_id"), want));
  json_decref(want);
  CU_ASSERT_EQUAL(itp_jint(j, "active_status"), 1);
  CU_ASSERT_STRING_EQUAL(itp_jstr(j, "error"), "NO_ERROR");
  json_decref(j);

  /* By provisioning_component_id: only active_status and the modifier
   * change. */
  CU_ASSERT_EQUAL_FATAL(post_json("/" ITP_COMPONENTS, admin_tok,
                                  "{\"action\":\"update\","
                                  "\"provisioning_component_id\":[1,2],"
                                  "\"active_status\":1}",
                                  &j),
                        204);
  itp_keys_of(j, keys, sizeof(keys));
  CU_ASSERT_STRING_EQUAL(keys, "provisioning_component_id,active_status,error");
  json_decref(j);
  CU_ASSERT_EQUAL_FATAL(post_json("/" ITP_COMPONENTS, device_tok,
                                  "{\"action\":\"select\","
                                  "\"provisioning_id\":11,"
                                  "\"active_status\":1}",
                                  &j),
                        205);
  json_t *rs = json_object_get(j, "responses");
  CU_ASSERT_EQUAL(json_object_size(rs), 6);
  check_row(json_object_get(rs, "response_0"), 1, 11, "Parameter", 2,
            "Report Interval", 1, 1);
  check_row(json_object_get(rs, "response_2"), 4, 11, "Sensor", 1,
            "Temperature", 1, 1);
  json_decref(j);
}

static void test_insert_of_an_existing_triple_updates_it(void) {
  json_t *j;
  CU_ASSERT_EQUAL_FATAL(post_json("/" ITP_COMPONENTS, device_tok,
                                  "{\"action\":\"insert\","
                                  "\"provisioning_id\":11,"
                                  "\"component_type\":\"parameter\","
                                  "\"component_id\":4,\"active_status\":1}",
                                  &j),
                        201);
  CU_ASSERT_EQUAL(itp_jint(j, "active_status"), 1);
  json_decref(j);
  CU_ASSERT_EQUAL(post_json("/" ITP_COMPONENTS, admin_tok,
                            "{\"action\":\"select\",\"provisioning_id\":11,"
                            "\"component_type\":1,\"component_id\":4}",
                            &j),
                  205);
  json_t *rs = json_object_get(j, "responses");
  CU_ASSERT_EQUAL(json_object_size(rs), 1);
  check_row(json_object_get(rs, "response_0"), 3, 11, "Parameter", 4,
            "Alarm Threshold", 1, 2);
  json_decref(j);
  CU_ASSERT_EQUAL(
      itp_count_rows(srv.db, "SELECT count(*) FROM prov_components"), 7);
}

static void test_insert_is_all_or_nothing(void) {
  json_t *j;
  CU_ASSERT_EQUAL_FATAL(post_json("/" ITP_COMPONENTS, admin_tok,
                                  "{\"action\":\"insert\","
                                  "\"provisioning_id\":12,"
                                  "\"component_type\":0,"
                                  "\"component_id\":[1,99,3]}",
                                  &j),
                        400);
  CU_ASSERT_STRING_EQUAL(itp_jstr(j, "error"),
                         "INVALID_COMPONENT_SENSOR_ID_PRAM");
  json_decref(j);
  CU_ASSERT_EQUAL(post_json("/" ITP_COMPONENTS, admin_tok,
                            "{\"action\":\"select\",\"provisioning_id\":12}",
                            &j),
                  404);
  json_decref(j);
  /* Provisioning 12 gets one parameter, for the observe test. */
  CU_ASSERT_EQUAL(post_json("/" ITP_COMPONENTS, admin_tok,
                            "{\"action\":\"insert\",\"provisioning_id\":12,"
                            "\"component_type\":1,\"component_id\":[1]}",
                            &j),
                  201);
  json_decref(j);
}

/* ------------------------------------------------------------------------ */
/* Every error code of the seed's three failure tables, and the transport    */

/* The cases live in tests/data/provisioning-errors.json: one object per
 * request, {"table", "method", "path", "token", "body"?, "code", "error",
 * "error_detail"?}, where table names the seed's failure table that lists
 * the code (select, insert or update) and token says whether the admin's
 * token is sent. */
#define ERROR_CASES EC_TEST_DATA_DIR "/provisioning-errors.json"

/* Every code of the seed's three failure tables, by table. */
static const char *const seed_table_codes[] = {
    "select:INVALID_TOKEN",
    "select:INVALID_REQUEST_PRAM",
    "select:INVALID_ACTION_PRAM",
    "select:INVALID_INPUT_PRAM",
    "select:NO_DATA",
    "select:INVALID_PROVISIONING_COMPONENT_ID_PRAM",
    "select:INVALID_PROVISIONING_ID_PRAM",
    "select:INVALID_COMPONENT_TYPE_PRAM",
    "select:INVALID_COMPONENT_ID_PRAM",
    "select:INVALID_ACTIVE_STATUS_PRAM",
    "select:INVALID_LIMIT_PRAM",
    "insert:INVALID_TOKEN",
    "insert:INVALID_REQUEST_PRAM",
    "insert:INVALID_ACTION_PRAM",
    "insert:INVALID_INPUT_PRAM",
    "insert:MISSING_PROVISIONING_ID_PRAM",
    "insert:MISSING_COMPONENT_TYPE_PRAM",
    "insert:MISSING_COMPONENT_ID_PRAM",
    "insert:INVALID_PROVISIONING_ID_PRAM",
    "insert:INVALID_COMPONENT_TYPE_PRAM",
    "insert:INVALID_ACTIVE_STATUS_PRAM",
    "insert:INVALID_COMPONENT_ID_PRAM",
    "insert:INVALID_COMPONENT_SENSOR_ID_PRAM",
    "insert:INVALID_COMPONENT_PARAMETER_ID_PRAM",
    "insert:INVALID_COMPONENT_GROUP_PARAMETER_ID_PRAM",
    "update:INVALID_TOKEN",
    "update:INVALID_REQUEST_PRAM",
    "update:INVALID_ACTION_PRAM",
    "update:INVALID_INPUT_PRAM",
    "update:NO_UPDATED_PRAMS",
    "update:MISSING_ACTIVE_STATUS_PRAM",
    "update:PROVISIONING_COMPONENT_ID",
    "update:INVALID_PROVISIONING_ID_PRAM",
    "update:INVALID_COMPONENT_TYPE_PRAM",
    "update:INVALID_COMPONENT_ID_PRAM",
    /* The reference implementation's rule that API.md adds. */
    "update:INVALID_INCOMPATABLE_IDENTIFICATION_PARAMS_PRAM",
};

/* The answer is exactly {"error": CODE} plus the expected error_detail. */
static bool check_error_doc(const json_t *j, const json_t *c) {
  const json_t *want = json_object_get(c, "error_detail");
  return json_is_object(j) &&
         strcmp(itp_jstr(j, "error"), itp_jstr(c, "error")) == 0 &&
         (want == NULL ||
          json_equal(json_object_get(j, "error_detail"), (json_t *)want)) &&
         json_object_size(j) == (want ? 2u : 1u);
}

/* Run one case in JSON and, when its body is JSON, in CBOR both ways. */
static bool run_error_case(const json_t *c, char *got, size_t cap) {
  const char *method = itp_jstr(c, "method"), *path = itp_jstr(c, "path");
  const char *body = json_string_value(json_object_get(c, "body"));
  const char *tok =
      json_is_true(json_object_get(c, "token")) ? admin_tok : NULL;
  int want = (int)itp_jint(c, "code");
  json_t *j = NULL;
  int code = itp_lib_req(lib, method, path, tok, body ? EC_FORMAT_JSON : -1,
                         body, body ? strlen(body) : 0, &j);
  bool ok = code == want && check_error_doc(j, c);
  char *dump = j ? json_dumps(j, JSON_COMPACT) : NULL;
  snprintf(got, cap, "%d %s", code, dump ? dump : "(no body)");
  free(dump);
  json_decref(j);
  uint8_t cbor[1024];
  ssize_t n =
      body ? ec_json_to_cbor(body, strlen(body), cbor, sizeof(cbor)) : -1;
  if (ok && n > 0) {
    code = itp_lib_req(lib_cbor, method, path, tok, EC_FORMAT_CBOR, cbor,
                       (size_t)n, &j);
    ok = code == want && check_error_doc(j, c);
    snprintf(got, cap, "%d in CBOR", code);
    json_decref(j);
  }
  return ok;
}

static void test_every_seed_error_code(void) {
  json_error_t je;
  json_t *cases = json_load_file(ERROR_CASES, JSON_REJECT_DUPLICATES, &je);
  CU_ASSERT_FATAL(json_is_array(cases));
  char *before = itp_snapshot(lib, admin_tok);
  size_t i;
  json_t *c;
  json_array_foreach(cases, i, c) {
    char got[512];
    bool ok = run_error_case(c, got, sizeof(got));
    if (!ok)
      fprintf(stderr, "\n%s case %zu (%s): got %s\n", itp_jstr(c, "table"), i,
              itp_jstr(c, "error"), got);
    CU_ASSERT_TRUE(ok);
  }
  /* Not one refusal changed anything. */
  char *after = itp_snapshot(lib, admin_tok);
  CU_ASSERT_STRING_EQUAL(before, after);
  free(before);
  free(after);

  /* Every code of the three tables was provoked, under its own table. */
  for (size_t k = 0; k < sizeof(seed_table_codes) / sizeof(*seed_table_codes);
       k++) {
    bool seen = false;
    json_array_foreach(cases, i, c) {
      char tc[96];
      snprintf(tc, sizeof(tc), "%s:%s", itp_jstr(c, "table"),
               itp_jstr(c, "error"));
      seen = seen || strcmp(tc, seed_table_codes[k]) == 0;
    }
    if (!seen)
      fprintf(stderr, "\nno case provokes %s\n", seed_table_codes[k]);
    CU_ASSERT_TRUE(seen);
  }
  json_decref(cases);
}

/* Bodies larger than one datagram both ways (Block1 up, Block2 down). */
static void test_large_bodies_go_blockwise(void) {
  char *body = malloc(16384);
  CU_ASSERT_PTR_NOT_NULL_FATAL(body);
  size_t n = (size_t)snprintf(body, 16384,
                              "{\"action\":\"insert\",\"provisioning_id\":12,"
                              "\"component_type\":0,\"component_id\":[1");
  for (int id = 1000; id < 2500; id++)
    n += (size_t)snprintf(body + n, 16384 - n, ",%d", id);
  snprintf(body + n, 16384 - n, "]}");
  json_t *j;
  CU_ASSERT_EQUAL(post_json("/" ITP_COMPONENTS, admin_tok, body, &j), 400);
  CU_ASSERT_STRING_EQUAL(itp_jstr(j, "error"),
                         "INVALID_COMPONENT_SENSOR_ID_PRAM");
  /* An error answer is cut to one block (libcoap clients fetch no more of a
   * 4.xx): the first unknown ids, in order. */
  const json_t *d = json_object_get(j, "error_detail");
  size_t n_ids = json_array_size(d);
  CU_ASSERT(n_ids > 100 && n_ids < 1500);
  for (size_t i = 0; i < n_ids; i++)
    CU_ASSERT_EQUAL(json_integer_value(json_array_get(d, i)), 1000 + (int)i);
  char *doc = json_dumps(j, JSON_COMPACT);
  CU_ASSERT(strlen(doc) <= 1024);
  free(doc);
  json_decref(j);

  /* A select whose request and answer both span blocks. */
  n = (size_t)snprintf(body, 16384,
                       "{\"action\":\"select\","
                       "\"provisioning_component_id\":[1");
  for (int id = 1000; id < 2500; id++)
    n += (size_t)snprintf(body + n, 16384 - n, ",%d", id);
  snprintf(body + n, 16384 - n, ",2,3,4,5,6,7]}");
  CU_ASSERT_EQUAL(post_json("/" ITP_COMPONENTS, admin_tok, body, &j), 205);
  CU_ASSERT_EQUAL(json_object_size(json_object_get(j, "responses")), 7);
  json_decref(j);
  free(body);
}

/* A retransmitted CON write (same MID) gets the first answer and is not
 * applied again. A login answer holds a token, so over plain CoAP it is never
 * replayed (docs/SECURITY.md): a retransmitted login is a second login with
 * a token of its own (over DTLS it is replayed: it_dedup). */
static void test_retransmissions_are_answered_once(void) {
  it_coap_msg_t *m = itp_msg_new(), *r1 = itp_msg_new(), *r2 = itp_msg_new();
  uint8_t tk[4], dgram[IT_COAP_MAX_DGRAM];
  static const char ins[] = "{\"action\":\"insert\",\"provisioning_id\":13,"
                            "\"component_type\":2,\"component_id\":[1]}";
  it_udp_token(&udp, tk);
  it_coap_init(m, IT_CON, IT_POST, it_udp_mid(&udp), tk, sizeof(tk));
  it_coap_add_path(m, ITP_COMPONENTS);
  it_coap_add_uint(m, IT_OPT_CONTENT_FORMAT, EC_FORMAT_JSON);
  it_coap_add_opt(m, EC_PROV_AUTH_OPTION, admin_tok, strlen(admin_tok));
  it_coap_set_payload(m, ins, strlen(ins));
  ssize_t len = it_coap_encode(m, dgram, sizeof(dgram));
  CU_ASSERT_FATAL(len > 0);
  CU_ASSERT_EQUAL_FATAL(
      it_coap_exchange_raw(&udp, dgram, (size_t)len, r1, ITP_RAW_TIMEOUT_MS),
      0);
  CU_ASSERT_EQUAL(IT_CODE_INT(r1->code), 201);
  it_sleep_ms(1100); /* a second application would change the datetime */
  CU_ASSERT_EQUAL_FATAL(
      it_coap_exchange_raw(&udp, dgram, (size_t)len, r2, ITP_RAW_TIMEOUT_MS),
      0);
  CU_ASSERT_EQUAL(r1->code, r2->code);
  CU_ASSERT(r1->payload_len == r2->payload_len &&
            memcmp(r1->payload, r2->payload, r1->payload_len) == 0);
  json_t *first = itp_parse_json(r1->payload, r1->payload_len), *j;
  CU_ASSERT_EQUAL(post_json("/" ITP_COMPONENTS, admin_tok,
                            "{\"action\":\"select\",\"provisioning_id\":13}",
                            &j),
                  205);
  json_t *row = json_object_get(json_object_get(j, "responses"), "response_0");
  CU_ASSERT_STRING_EQUAL(itp_jstr(row, "last_modified_datetime"),
                         itp_jstr(first, "last_modified_datetime"));
  json_decref(first);
  json_decref(j);
  CU_ASSERT_EQUAL(itp_server_ok() ? it_server_log_count(&srv, "retransmission "
                                                              "answered again")
                                  : -1,
                  1);

  long long tokens = itp_count_rows(srv.db, "SELECT count(*) FROM prov_tokens");
  static const char login[] =
      "{\"username\":\"admin\",\"password\":\"" ITP_ADMIN_PW "\"}";
  it_coap_init(m, IT_CON, IT_POST, it_udp_mid(&udp), tk, sizeof(tk));
  it_coap_add_path(m, ITP_LOGIN);
  it_coap_set_payload(m, login, strlen(login));
  len = it_coap_encode(m, dgram, sizeof(dgram));
  CU_ASSERT_EQUAL(
      it_coap_exchange_raw(&udp, dgram, (size_t)len, r1, ITP_RAW_TIMEOUT_MS),
      0);
  CU_ASSERT_EQUAL(
      it_coap_exchange_raw(&udp, dgram, (size_t)len, r2, ITP_RAW_TIMEOUT_MS),
      0);
  CU_ASSERT_EQUAL(IT_CODE_INT(r1->code), 201);
  CU_ASSERT_EQUAL(IT_CODE_INT(r2->code), 201);
  json_t *l1 = itp_parse_json(r1->payload, r1->payload_len);
  json_t *l2 = itp_parse_json(r2->payload, r2->payload_len);
  CU_ASSERT_EQUAL(strlen(itp_jstr(l1, "token")), EC_PROV_TOKEN_HEX);
  CU_ASSERT_EQUAL(strlen(itp_jstr(l2, "token")), EC_PROV_TOKEN_HEX);
  CU_ASSERT_STRING_NOT_EQUAL(itp_jstr(l1, "token"), itp_jstr(l2, "token"));
  json_decref(l1);
  json_decref(l2);
  CU_ASSERT_EQUAL(itp_count_rows(srv.db, "SELECT count(*) FROM prov_tokens"),
                  tokens + 2);
  free(m);
  free(r1);
  free(r2);
}

/* Register an observation of @p query on its own socket; the first answer
 * must be a 2.05 with Observe. */
static void observe_on(it_udp_t *u, const char *query, it_coap_msg_t *first) {
  char path[128];
  snprintf(path, sizeof(path), ITP_COMPONENTS "?%s", query);
  CU_ASSERT_EQUAL_FATAL(it_udp_open(u, srv.port), 0);
  CU_ASSERT_EQUAL_FATAL(
      itp_raw_req(u, IT_GET, path, -1, admin_tok, true, NULL, 0, first), 0);
  CU_ASSERT_EQUAL(IT_CODE_INT(first->code), 205);
  CU_ASSERT_EQUAL(it_coap_opt_count(first, IT_OPT_OBSERVE), 1);
}

static void test_observer_of_11_hears_11_and_not_12(void) {
  it_udp_t o11, o12;
  it_coap_msg_t *first = itp_msg_new(), *first12 = itp_msg_new();
  json_t *j;
  observe_on(&o11, "provisioning_id=11", first);
  observe_on(&o12, "provisioning_id=12", first12);
  /* The project's client as a third observer, of 11. */
  char url[64];
  snprintf(url, sizeof(url), "%s", srv.url);
  const char *argv[] = {EC_CLIENT_BIN,       "--url", url,       "--json",
                        "provisioning",      "watch", "--token", admin_tok,
                        "--provisioning-id", "11",    "--count", "2",
                        "--max-time",        "20",    NULL};
  it_proc_t *w;
  CU_ASSERT_EQUAL_FATAL(it_proc_spawn(argv, NULL, 0, &w), 0);
  CU_ASSERT_EQUAL(it_proc_wait_lines(w, "responses", 1, NOTIFY_WAIT_MS), 1);

  /* An update of 12: its observer hears the new list, 11's hear nothing. */
  CU_ASSERT_EQUAL(post_json("/" ITP_COMPONENTS, admin_tok,
                            "{\"action\":\"update\",\"provisioning_id\":12,"
                            "\"component_type\":1,\"component_id\":1,"
                            "\"active_status\":1}",
                            &j),
                  204);
  json_decref(j);
  j = itp_next_notification(&o12, NOTIFY_WAIT_MS);
  CU_ASSERT_PTR_NOT_NULL(j);
  const json_t *row =
      json_object_get(json_object_get(j, "responses"), "response_0");
  CU_ASSERT_EQUAL(itp_jint(row, "provisioning_id"), 12);
  CU_ASSERT_EQUAL(itp_jint(row, "active_status"), 1);
  json_decref(j);
  j = itp_next_notification(&o11, SILENCE_MS);
  CU_ASSERT_PTR_NULL(j);
  json_decref(j);

  /* An update of 11: its observers hear it, 12's does not. Provisioning 11's
   * list no longer fits one datagram, so the notification says CHANGED. */
  CU_ASSERT_EQUAL(post_json("/" ITP_COMPONENTS, admin_tok,
                            "{\"action\":\"update\","
                            "\"provisioning_component_id\":7,"
                            "\"active_status\":0}",
                            &j),
                  204);
  json_decref(j);
  j = itp_next_notification(&o11, NOTIFY_WAIT_MS);
  CU_ASSERT_PTR_NOT_NULL(j);
  if (json_object_get(j, "responses") == NULL) {
    CU_ASSERT_EQUAL(itp_jint(j, "provisioning_id"), 11);
    CU_ASSERT_STRING_EQUAL(itp_jstr(j, "status"), "CHANGED");
  }
  json_decref(j);
  CU_ASSERT_EQUAL(it_proc_wait_lines(w, "provisioning_id", 2, NOTIFY_WAIT_MS),
                  2);
  it_result_t r;
  CU_ASSERT_EQUAL(it_proc_finish(w, 10000, &r), 0);
  it_result_free(&r);
  j = itp_next_notification(&o12, SILENCE_MS);
  CU_ASSERT_PTR_NULL(j);
  json_decref(j);

  /* Observe 1 with the registration's token ends the observation: a later
   * change is not heard. */
  it_coap_msg_t *m = itp_msg_new();
  it_coap_init(m, IT_CON, IT_GET, it_udp_mid(&o12), first12->token,
               first12->token_len);
  it_coap_add_uint(m, IT_OPT_OBSERVE, 1);
  it_coap_add_path(m, ITP_COMPONENTS "?provisioning_id=12");
  it_coap_add_opt(m, EC_PROV_AUTH_OPTION, admin_tok, strlen(admin_tok));
  CU_ASSERT_EQUAL(it_coap_exchange(&o12, m, first, ITP_RAW_TIMEOUT_MS), 0);
  CU_ASSERT_EQUAL(IT_CODE_INT(first->code), 205);
  CU_ASSERT_EQUAL(it_coap_opt_count(first, IT_OPT_OBSERVE), 0);
  free(m);
  CU_ASSERT_EQUAL(post_json("/" ITP_COMPONENTS, admin_tok,
                            "{\"action\":\"insert\",\"provisioning_id\":12,"
                            "\"component_type\":1,\"component_id\":2}",
                            &j),
                  201);
  json_decref(j);
  j = itp_next_notification(&o12, SILENCE_MS);
  CU_ASSERT_PTR_NULL(j);
  json_decref(j);
  it_udp_close(&o11);
  it_udp_close(&o12);
  free(first);
  free(first12);
}

static void test_coap_client_sends_the_token_option(void) {
  char url[128], opt_text[80], opt_raw[80];
  snprintf(url, sizeof(url), "%s/" ITP_COMPONENTS "?provisioning_id=13",
           srv.url);
  snprintf(opt_text, sizeof(opt_text), "65000,%s", admin_tok);
  snprintf(opt_raw, sizeof(opt_raw), "65000,0x%s", admin_tok);
  const char *a1[] = {"-m", "get", "-A", "50", "-O", opt_text, url, NULL};
  const char *a2[] = {"-m", "get", "-A", "60", "-O", opt_raw, url, NULL};
  it_cc_t cc;
  CU_ASSERT_EQUAL(it_coap_client(a1, ITP_CLI_TIMEOUT_MS, &cc), 0);
  CU_ASSERT_EQUAL(it_cc_last_code(&cc), 205);
  json_t *j = itp_parse_json(cc.body, cc.body_len);
  CU_ASSERT_EQUAL(json_object_size(json_object_get(j, "responses")), 1);
  json_decref(j);
  it_cc_free(&cc);
  CU_ASSERT_EQUAL(it_coap_client(a2, ITP_CLI_TIMEOUT_MS, &cc), 0);
  CU_ASSERT_EQUAL(it_cc_last_code(&cc), 205);
  j = itp_body_json(cc.body, cc.body_len, EC_FORMAT_CBOR);
  CU_ASSERT_EQUAL(json_object_size(json_object_get(j, "responses")), 1);
  json_decref(j);
  it_cc_free(&cc);

  snprintf(url, sizeof(url), "%s/" ITP_COMPONENTS, srv.url);
  const char *a3[] = {"-m",
                      "post",
                      "-t",
                      "50",
                      "-O",
                      opt_text,
                      "-e",
                      "{\"action\":\"insert\",\"provisioning_id\":13,"
                      "\"component_type\":\"Sensor\",\"component_id\":[2]}",
                      url,
                      NULL};
  CU_ASSERT_EQUAL(it_coap_client(a3, ITP_CLI_TIMEOUT_MS, &cc), 0);
  CU_ASSERT_EQUAL(it_cc_last_code(&cc), 201);
  it_cc_free(&cc);
  const char *a4[] = {"-m", "get", url, NULL};
  it_coap_client(a4, ITP_CLI_TIMEOUT_MS, &cc); /* its exit status varies */
  CU_ASSERT_EQUAL(it_cc_last_code(&cc), 401);
  it_cc_free(&cc);
}

static void test_client_program_commands(void) {
  it_result_t r;
  /* Password on standard input; the token alone on standard output. */
  CU_ASSERT_EQUAL_FATAL(
      cli(&r, true, "ops-pass-71\n", NULL, "login", "ops", NULL), 0);
  char tok[EC_PROV_TOKEN_HEX + 2] = "";
  snprintf(tok, sizeof(tok), "%s", r.out);
  tok[strcspn(tok, "\n")] = '\0';
  CU_ASSERT_EQUAL(strlen(tok), EC_PROV_TOKEN_HEX);
  it_result_free(&r);
  /* Or in the environment. */
  CU_ASSERT_EQUAL(cli(&r, true, NULL, "EDGECOAP_PASSWORD=" ITP_DEVICE_PW,
                      "login", "device", NULL),
                  0);
  it_result_free(&r);
  CU_ASSERT_NOT_EQUAL(cli(&r, false, "wrong\n", NULL, "login", "ops", NULL), 0);
  CU_ASSERT_EQUAL(r.exit_code, 1);
  CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "ACCOUNT_PASSWORD_INCORRECT"));
  it_result_free(&r);

  CU_ASSERT_EQUAL(cli(&r, true, NULL, NULL, "--json", "provisioning", "insert",
                      "--token", tok, "--provisioning-id", "13",
                      "--component-type", "parameter", "--component-id", "5,",
                      "--active-status", "1", NULL),
                  0);
  json_t *j = itp_parse_json(r.out, r.out_len);
  CU_ASSERT_EQUAL(itp_jint(j, "last_modified_by"), 3);
  CU_ASSERT_TRUE(json_is_array(json_object_get(j, "component_id")));
  json_decref(j);
  it_result_free(&r);
  char envtok[100];
  snprintf(envtok, sizeof(envtok), "EDGECOAP_TOKEN=%s", tok);
  CU_ASSERT_EQUAL(cli(&r, true, NULL, envtok, "provisioning", "select",
                      "--provisioning-id", "13", "--component-type", "1", NULL),
                  0);
  j = itp_parse_json(r.out, r.out_len);
  CU_ASSERT_STRING_EQUAL(
      itp_jstr(json_object_get(json_object_get(j, "responses"), "response_0"),
               "name"),
      "Firmware Channel");
  json_decref(j);
  it_result_free(&r);
  CU_ASSERT_EQUAL(cli(&r, true, NULL, envtok, "provisioning", "update",
                      "--provisioning-id", "13", "--component-type", "1",
                      "--component-id", "5", "--active-status", "0", NULL),
                  0);
  it_result_free(&r);
  /* A refusal: exit status 1 and the seed's code on standard error. */
  CU_ASSERT_NOT_EQUAL(cli(&r, false, NULL, envtok, "provisioning", "update",
                          "--provisioning-component-id", "1",
                          "--provisioning-id", "13", "--active-status", "0",
                          NULL),
                      0);
  CU_ASSERT_EQUAL(r.exit_code, 1);
  CU_ASSERT_PTR_NOT_NULL(
      strstr(r.err, "INVALID_INCOMPATABLE_IDENTIFICATION_PARAMS_PRAM"));
  it_result_free(&r);
  CU_ASSERT_NOT_EQUAL(cli(&r, false, NULL, envtok, "provisioning", "insert",
                          "--provisioning-id", "13", "--component-type", "0",
                          "--component-id", "3,42", NULL),
                      0);
  CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "INVALID_COMPONENT_SENSOR_ID_PRAM: 42"));
  it_result_free(&r);
  CU_ASSERT_EQUAL(cli(&r, true, NULL, NULL, "logout", "--token", tok, NULL), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "LOGGED_OUT"));
  it_result_free(&r);
  CU_ASSERT_NOT_EQUAL(
      cli(&r, false, NULL, envtok, "provisioning", "select", NULL), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "INVALID_TOKEN"));
  it_result_free(&r);
}

/* A select of 40 rows: its responses map has more members than the codec
 * transcodes as it reads (32), so edgecoap-client prints it from the tree
 * the device core's reader builds (cli/cbor_json.c). */
static void test_client_program_prints_a_large_select(void) {
  char path[400], ids[400] = "";
  size_t n = 0;
  snprintf(path, sizeof(path), "%s/forty.json", srv.dir);
  char cat[4096];
  size_t k = (size_t)snprintf(cat, sizeof(cat), "{\"provisionings\":[{\"id\":"
                              "14,\"name\":\"Forty\",\"active_status\":0}],"
                              "\"parameters\":[");
  for (int id = 100; id < 140; id++) {
    k += (size_t)snprintf(cat + k, sizeof(cat) - k,
                          "%s{\"id\":%d,\"name\":\"P%d\"}", id > 100 ? "," : "",
                          id, id);
    n += (size_t)snprintf(ids + n, sizeof(ids) - n, "%s%d", id > 100 ? "," : "",
                          id);
  }
  snprintf(cat + k, sizeof(cat) - k, "]}");
  it_result_t r;
  CU_ASSERT_EQUAL_FATAL(it_write_file(path, cat, strlen(cat)), 0);
  CU_ASSERT_EQUAL_FATAL(itp_import(srv.db, path, &r, true), 0);
  it_result_free(&r);
  CU_ASSERT_EQUAL_FATAL(
      cli(&r, true, "ops-pass-71\n", NULL, "login", "ops", NULL), 0);
  char envtok[100];
  snprintf(envtok, sizeof(envtok), "EDGECOAP_TOKEN=%.*s", EC_PROV_TOKEN_HEX,
           r.out);
  it_result_free(&r);
  CU_ASSERT_EQUAL(cli(&r, true, NULL, envtok, "provisioning", "insert",
                      "--provisioning-id", "14", "--component-type",
                      "parameter", "--component-id", ids, NULL),
                  0);
  it_result_free(&r);
  CU_ASSERT_EQUAL(cli(&r, true, NULL, envtok, "provisioning", "select",
                      "--provisioning-id", "14", NULL),
                  0);
  json_t *j = itp_parse_json(r.out, r.out_len);
  const json_t *rows = json_object_get(j, "responses");
  CU_ASSERT_EQUAL(json_object_size(rows), 40);
  CU_ASSERT_STRING_EQUAL(itp_jstr(json_object_get(rows, "response_39"), "name")
                             ? itp_jstr(json_object_get(rows, "response_39"),
                                        "name")
                             : "",
                         "P139");
  json_decref(j);
  it_result_free(&r);
}

static void test_well_known_core_lists_the_resources(void) {
  char url[128];
  snprintf(url, sizeof(url), "%s/.well-known/core", srv.url);
  const char *a[] = {"-m", "get", url, NULL};
  it_cc_t cc;
  CU_ASSERT_EQUAL(it_coap_client(a, ITP_CLI_TIMEOUT_MS, &cc), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr((const char *)cc.body, "</v1/Login>"));
  CU_ASSERT_PTR_NOT_NULL(
      strstr((const char *)cc.body,
             "</v1/DeviceProvisioningComponents>;rt=\"provisioning."
             "components\";ct=\"50 60\";obs"));
  it_cc_free(&cc);
}

static const ec_test_t tests[] = {
    {test_import_twice_updates_rather_than_duplicates,
     "import twice updates rather than duplicates"},
    {test_insert_answers_the_seed_document, "insert answers the seed document"},
    {test_select_answers_the_seed_document, "select answers the seed document"},
    {test_update_answers_the_seed_documents,
     "update answers the seed documents"},
    {test_insert_of_an_existing_triple_updates_it,
     "insert of an existing triple updates it"},
    {test_insert_is_all_or_nothing, "insert is all or nothing"},
    {test_every_seed_error_code, "every seed error code"},
    {test_large_bodies_go_blockwise, "large bodies go block-wise"},
    {test_retransmissions_are_answered_once,
     "retransmissions are answered once"},
    {test_observer_of_11_hears_11_and_not_12,
     "observer of 11 hears 11 and not 12"},
    {test_coap_client_sends_the_token_option,
     "coap-client sends the token option"},
    {test_client_program_commands, "client program commands"},
    {test_client_program_prints_a_large_select,
     "client program prints a large select"},
    {test_well_known_core_lists_the_resources,
     "well-known core lists the resources"},
};

int main(void) {
  /* Keeps the server's directory (database and log) when something failed. */
  static const ec_test_after_t after = {it_after_run, &srv, "it_provisioning"};
  return ec_test_main("provisioning", tests, EC_TEST_COUNT(tests), suite_init,
                      suite_cleanup, &after);
}
