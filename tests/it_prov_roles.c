/* edgecoap: integration tests of who may use which provisioning. */
/* SPDX-License-Identifier: Apache-2.0 */
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
 * The catalog (tests/data/provisioning-catalog.json) makes the "device"
 * account the owner of provisioning 11 and of nothing else. Admins and
 * operators use every provisioning; any other account only those it owns
 * (API.md section 4). Each refusal is a 4.03 problem details document and
 * changes nothing.
 */

#define NOTIFY_WAIT_MS 5000

static it_server_t srv;
static it_udp_t udp;
static ec_client_t *lib;
static char admin_tok[EC_PROV_TOKEN_HEX + 1];
static char device_tok[EC_PROV_TOKEN_HEX + 1];
static char ops_tok[EC_PROV_TOKEN_HEX + 1];
static char user_tok[EC_PROV_TOKEN_HEX + 1];

static int post_json(const char *tok, const char *body, json_t **out) {
  return itp_lib_req(lib, "POST", "/" ITP_COMPONENTS, tok, EC_FORMAT_JSON,
                     body, strlen(body), out);
}

static int user_add(const char *name, const char *role, const char *pw) {
  it_result_t r;
  char in[64];
  snprintf(in, sizeof(in), "%s\n", pw);
  const char *argv[] = {EC_SERVER_BIN, "admin", "user-add", "--db", srv.db,
                        "--username",  name,    "--role",   role,   NULL};
  int rc = itp_run(&r, true, in, strlen(in), argv);
  it_result_free(&r);
  return rc;
}

static int suite_init(void) {
  it_init();
  itp_use_server(&srv);
  if (itp_start_server(&srv, NULL) < 0 || it_udp_open(&udp, srv.port) < 0 ||
      user_add("ops", "operator", "ops-pass-1") < 0 ||
      user_add("plain", "user", "plain-pass-1") < 0)
    return -1;
  ec_client_config_t cfg = {
      .url = srv.url, .format = EC_FORMAT_JSON, .timeout_ms = 5000};
  if (ec_client_new(&cfg, &lib) < 0)
    return -1;
  if (itp_login_raw(&udp, "admin", ITP_ADMIN_PW, admin_tok, NULL) != 201 ||
      itp_login_raw(&udp, "device", ITP_DEVICE_PW, device_tok, NULL) != 201 ||
      itp_login_raw(&udp, "ops", "ops-pass-1", ops_tok, NULL) != 201 ||
      itp_login_raw(&udp, "plain", "plain-pass-1", user_tok, NULL) != 201)
    return -1;
  /* One sensor in each provisioning, by the admin: rows 1 (11), 2 (12) and
   * 3 (13). */
  static const char *const ins[] = {
      "{\"action\":\"insert\",\"provisioning_id\":11,\"component_type\":0,"
      "\"component_id\":1}",
      "{\"action\":\"insert\",\"provisioning_id\":12,\"component_type\":0,"
      "\"component_id\":1}",
      "{\"action\":\"insert\",\"provisioning_id\":13,\"component_type\":0,"
      "\"component_id\":1}"};
  for (size_t i = 0; i < 3; i++) {
    json_t *j;
    int code = post_json(admin_tok, ins[i], &j);
    json_decref(j);
    if (code != 201)
      return -1;
  }
  return 0;
}

static int suite_cleanup(void) {
  it_udp_close(&udp);
  ec_client_free(lib);
  return 0;
}

/* Check a 4.03 problem details answer naming provisioning @p prov. */
static void check_forbidden(int code, json_t *j, long long prov) {
  char want[32];
  CU_ASSERT_EQUAL(code, 403);
  CU_ASSERT_STRING_EQUAL(itp_jstr(j, "title"), "forbidden");
  CU_ASSERT_STRING_EQUAL(itp_jstr(j, "field"), "provisioning_id");
  snprintf(want, sizeof(want), "provisioning %lld ", prov);
  CU_ASSERT_PTR_NOT_NULL(strstr(itp_jstr(j, "detail"), want));
  json_decref(j);
}

/* Every row of a select answer belongs to provisioning @p prov; their
 * number. */
static size_t rows_of(const json_t *j, long long prov) {
  const json_t *rs = json_object_get(j, "responses");
  const char *k;
  const json_t *row;
  size_t n = 0;
  json_object_foreach((json_t *)rs, k, row) {
    CU_ASSERT_EQUAL(itp_jint(row, "provisioning_id"), prov);
    n++;
  }
  return n;
}

static void test_device_reads_only_its_provisionings(void) {
  json_t *j;
  /* Without a filter it sees its own rows and no others. */
  CU_ASSERT_EQUAL(
      itp_lib_req(lib, "GET", "/" ITP_COMPONENTS, device_tok, -1, NULL, 0, &j),
      205);
  CU_ASSERT_EQUAL(rows_of(j, 11), 1);
  json_decref(j);
  CU_ASSERT_EQUAL(post_json(device_tok, "{\"action\":\"select\"}", &j), 205);
  CU_ASSERT_EQUAL(rows_of(j, 11), 1);
  json_decref(j);
  CU_ASSERT_EQUAL(post_json(device_tok,
                            "{\"action\":\"select\","
                            "\"provisioning_component_id\":[1,2,3]}",
                            &j),
                  205);
  CU_ASSERT_EQUAL(rows_of(j, 11), 1);
  json_decref(j);
  /* Naming another provisioning is refused, by GET and by POST select. */
  int code = itp_lib_req(lib, "GET", "/" ITP_COMPONENTS "?provisioning_id=12",
                         device_tok, -1, NULL, 0, &j);
  check_forbidden(code, j, 12);
  code = post_json(device_tok,
                   "{\"action\":\"select\",\"provisioning_id\":13}", &j);
  check_forbidden(code, j, 13);
  /* A provisioning that does not exist looks the same. */
  code = itp_lib_req(lib, "GET", "/" ITP_COMPONENTS "?provisioning_id=99",
                     device_tok, -1, NULL, 0, &j);
  check_forbidden(code, j, 99);
  /* Its own, by name. */
  CU_ASSERT_EQUAL(itp_lib_req(lib, "GET",
                              "/" ITP_COMPONENTS "?provisioning_id=11",
                              device_tok, -1, NULL, 0, &j),
                  205);
  CU_ASSERT_EQUAL(rows_of(j, 11), 1);
  json_decref(j);
}

static void test_device_writes_only_its_provisionings(void) {
  char *before = itp_snapshot(lib, admin_tok);
  json_t *j;
  int code = post_json(device_tok,
                       "{\"action\":\"insert\",\"provisioning_id\":12,"
                       "\"component_type\":0,\"component_id\":2}",
                       &j);
  check_forbidden(code, j, 12);
  code = post_json(device_tok,
                   "{\"action\":\"insert\",\"provisioning_id\":99,"
                   "\"component_type\":0,\"component_id\":2}",
                   &j);
  check_forbidden(code, j, 99);
  code = post_json(device_tok,
                   "{\"action\":\"update\",\"provisioning_id\":13,"
                   "\"component_type\":0,\"component_id\":1,"
                   "\"active_status\":1}",
                   &j);
  check_forbidden(code, j, 13);
  code = post_json(device_tok,
                   "{\"action\":\"update\",\"provisioning_component_id\":2,"
                   "\"active_status\":1}",
                   &j);
  check_forbidden(code, j, 12);
  /* One row of another's among its own: nothing changes, its own row
   * included. */
  code = post_json(device_tok,
                   "{\"action\":\"update\","
                   "\"provisioning_component_id\":[1,3],\"active_status\":1}",
                   &j);
  check_forbidden(code, j, 13);
  char *after = itp_snapshot(lib, admin_tok);
  CU_ASSERT_STRING_EQUAL(before, after);
  free(before);
  free(after);

  /* Its own provisioning it may change. */
  CU_ASSERT_EQUAL(post_json(device_tok,
                            "{\"action\":\"insert\",\"provisioning_id\":11,"
                            "\"component_type\":0,\"component_id\":2}",
                            &j),
                  201);
  CU_ASSERT_EQUAL(itp_jint(j, "last_modified_by"), 2);
  json_decref(j);
  CU_ASSERT_EQUAL(post_json(device_tok,
                            "{\"action\":\"update\","
                            "\"provisioning_component_id\":1,"
                            "\"active_status\":1}",
                            &j),
                  204);
  json_decref(j);
}

static void test_other_roles(void) {
  json_t *j;
  /* An operator and an admin use every provisioning. */
  CU_ASSERT_EQUAL(post_json(ops_tok,
                            "{\"action\":\"insert\",\"provisioning_id\":13,"
                            "\"component_type\":0,\"component_id\":3}",
                            &j),
                  201);
  json_decref(j);
  CU_ASSERT_EQUAL(itp_lib_req(lib, "GET",
                              "/" ITP_COMPONENTS "?provisioning_id=12", ops_tok,
                              -1, NULL, 0, &j),
                  205);
  json_decref(j);
  CU_ASSERT_EQUAL(post_json(admin_tok,
                            "{\"action\":\"update\","
                            "\"provisioning_component_id\":[1,2,3],"
                            "\"active_status\":0}",
                            &j),
                  204);
  json_decref(j);
  /* Any other role ("user" here) owns nothing, so it may use nothing. */
  int code = post_json(user_tok,
                       "{\"action\":\"insert\",\"provisioning_id\":11,"
                       "\"component_type\":0,\"component_id\":4}",
                       &j);
  check_forbidden(code, j, 11);
  CU_ASSERT_EQUAL(
      itp_lib_req(lib, "GET", "/" ITP_COMPONENTS, user_tok, -1, NULL, 0, &j),
      404);
  CU_ASSERT_STRING_EQUAL(itp_jstr(j, "error"), "NO_DATA");
  json_decref(j);
}

static void test_device_observer_hears_only_its_provisionings(void) {
  it_udp_t o;
  it_coap_msg_t *first = itp_msg_new();
  json_t *j;
  CU_ASSERT_EQUAL_FATAL(it_udp_open(&o, srv.port), 0);
  CU_ASSERT_EQUAL_FATAL(itp_raw_req(&o, IT_GET, ITP_COMPONENTS, -1, device_tok,
                                    true, NULL, 0, first),
                        0);
  CU_ASSERT_EQUAL(IT_CODE_INT(first->code), 205);
  CU_ASSERT_EQUAL(it_coap_opt_count(first, IT_OPT_OBSERVE), 1);
  /* A change of 12 and then of 11: the first notification is 11's and
   * lists only 11's rows. */
  CU_ASSERT_EQUAL(post_json(admin_tok,
                            "{\"action\":\"update\",\"provisioning_id\":12,"
                            "\"component_type\":0,\"component_id\":1,"
                            "\"active_status\":1}",
                            &j),
                  204);
  json_decref(j);
  CU_ASSERT_EQUAL(post_json(admin_tok,
                            "{\"action\":\"update\",\"provisioning_id\":11,"
                            "\"component_type\":0,\"component_id\":1,"
                            "\"active_status\":1}",
                            &j),
                  204);
  json_decref(j);
  j = itp_next_notification(&o, NOTIFY_WAIT_MS);
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  CU_ASSERT_EQUAL(rows_of(j, 11), 2);
  json_decref(j);
  it_udp_close(&o);
  free(first);
}

static const ec_test_t tests[] = {
    {test_device_reads_only_its_provisionings,
     "device reads only its provisionings"},
    {test_device_writes_only_its_provisionings,
     "device writes only its provisionings"},
    {test_other_roles, "operators and admins use all, other roles own none"},
    {test_device_observer_hears_only_its_provisionings,
     "device observer hears only its provisionings"},
};

int main(void) {
  static const ec_test_after_t after = {it_after_run, &srv, "it_prov_roles"};
  return ec_test_main("prov_roles", tests, EC_TEST_COUNT(tests), suite_init,
                      suite_cleanup, &after);
}
