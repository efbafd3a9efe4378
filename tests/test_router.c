/* edgecoap: CUnit tests of the route table's matching and access rules (server/coap/router.c, access.c, server/api/routes.c). */
/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "access.h"
#include "edgecoap/error.h"
#include "router.h"
#include "routes.h"
#include "suite.h"

typedef char seg_t[EC_ROUTE_SEGMENT_MAX + 1];

static void nothing(ec_req_t *rq) {
  (void)rq;
}

/* An id of letters and digits, lowercased. */
static bool word(char *s) {
  if (*s == '\0')
    return false;
  for (; *s; s++) {
    if (!isalnum((unsigned char)*s))
      return false;
    *s = (char)tolower((unsigned char)*s);
  }
  return true;
}

static bool any(char *s) {
  (void)s;
  return true;
}

static const ec_route_param_t params[] = {
    {"x", word, "x is letters and digits"},
    {"y", any, "y is anything"},
};

static const ec_route_spec_t routes[] = {
    {"a/latest", EC_GET, EC_ACCESS_OPERATOR, EC_FMT_DOC, 0, "t.latest",
     nothing, NULL},
    {"a/{x}/b/{y}", EC_GET | EC_POST, EC_ACCESS_DEVICE, EC_FMT_DOC, 0, "t.ab",
     nothing, NULL},
    {"a/{x}", EC_GET, EC_ACCESS_DEVICE, EC_FMT_DOC, 0, "t.a", nothing, NULL},
    {"c", EC_GET, EC_ACCESS_READ, EC_FMT_DOC, 0, NULL, nothing, NULL},
};

static const ec_route_table_t table = {routes, 4, params, 2};

/* Split @p path at '/' into @p segs; the count. */
static int split(const char *path, seg_t *segs) {
  int n = 0;
  const char *p = path;
  for (;;) {
    const char *end = strchr(p, '/');
    size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
    memcpy(segs[n], p, len);
    segs[n++][len] = '\0';
    if (end == NULL)
      return n;
    p = end + 1;
  }
}

static ec_router_t *make(const ec_route_table_t *t) {
  ec_router_t *r = NULL;
  CU_ASSERT_EQUAL_FATAL(ec_router_new(t, &r), 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r);
  return r;
}

/* Match @p path with @p r; the matched route's index, or -1. */
static int match(const ec_router_t *r, const ec_route_table_t *t,
                 const char *path, seg_t *segs, ec_route_match_t *m) {
  int n = split(path, segs);
  if (!ec_router_match(r, segs, n, m))
    return -1;
  CU_ASSERT_TRUE(m->matched);
  return (int)(m->spec - t->routes);
}

static void test_literals_and_ids_match(void) {
  ec_router_t *r = make(&table);
  seg_t segs[EC_ROUTE_MAX_SEGMENTS];
  ec_route_match_t m;
  CU_ASSERT_EQUAL(match(r, &table, "a/Dev1/b/Any thing", segs, &m), 1);
  CU_ASSERT_EQUAL(m.n_params, 2);
  CU_ASSERT_STRING_EQUAL(m.params[0], "dev1"); /* rewritten by its check */
  CU_ASSERT_STRING_EQUAL(m.params[1], "Any thing");
  CU_ASSERT_EQUAL(m.bad_param, -1);
  CU_ASSERT_EQUAL(match(r, &table, "a/dev1", segs, &m), 2);
  CU_ASSERT_EQUAL(m.n_params, 1);
  CU_ASSERT_EQUAL(match(r, &table, "c", segs, &m), 3);
  CU_ASSERT_EQUAL(m.n_params, 0);
  CU_ASSERT_EQUAL(m.owner, -1);
  ec_router_delete(r);
}

static void test_first_route_in_table_order_wins(void) {
  ec_router_t *r = make(&table);
  seg_t segs[EC_ROUTE_MAX_SEGMENTS];
  ec_route_match_t m;
  /* "a/latest" is also an instance of "a/{x}": the earlier entry wins. */
  CU_ASSERT_EQUAL(match(r, &table, "a/latest", segs, &m), 0);
  CU_ASSERT_EQUAL(match(r, &table, "a/latest2", segs, &m), 2);
  ec_router_delete(r);
}

static void test_count_and_literals_must_agree(void) {
  ec_router_t *r = make(&table);
  seg_t segs[EC_ROUTE_MAX_SEGMENTS];
  ec_route_match_t m;
  CU_ASSERT_EQUAL(match(r, &table, "a/x/c/y", segs, &m), -1);
  CU_ASSERT_EQUAL(match(r, &table, "a/x/b", segs, &m), -1);
  CU_ASSERT_EQUAL(match(r, &table, "a/x/b/y/z", segs, &m), -1);
  CU_ASSERT_EQUAL(match(r, &table, "c/d", segs, &m), -1);
  CU_ASSERT_EQUAL(match(r, &table, "A/latest", segs, &m), -1);
  ec_router_delete(r);
}

static void test_no_match_names_the_nearest_route(void) {
  ec_router_t *r = make(&table);
  seg_t segs[EC_ROUTE_MAX_SEGMENTS];
  ec_route_match_t m;
  /* Under "a" the first route speaks for the path (its access rule). */
  CU_ASSERT_EQUAL(match(r, &table, "a/x/c", segs, &m), -1);
  CU_ASSERT_FALSE(m.matched);
  CU_ASSERT_PTR_EQUAL(m.spec, &routes[0]);
  CU_ASSERT_EQUAL(match(r, &table, "zz/top", segs, &m), -1);
  CU_ASSERT_PTR_NULL(m.spec);
  /* More segments than fit: nothing at all. */
  CU_ASSERT_FALSE(ec_router_match(r, segs, -1, &m));
  CU_ASSERT_PTR_NULL(m.spec);
  ec_router_delete(r);
}

static void test_refused_id_is_named(void) {
  ec_router_t *r = make(&table);
  seg_t segs[EC_ROUTE_MAX_SEGMENTS];
  ec_route_match_t m;
  /* Still the route (a 4.00 names the id), not "no route" (4.04). */
  CU_ASSERT_EQUAL(match(r, &table, "a/not-a-word/b/y", segs, &m), 1);
  CU_ASSERT_EQUAL(m.bad_param, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(m.bad);
  CU_ASSERT_STRING_EQUAL(m.bad->name, "x");
  CU_ASSERT_EQUAL(match(r, &table, "a/", segs, &m), 2);
  CU_ASSERT_EQUAL(m.bad_param, 0);
  ec_router_delete(r);
}

static void test_owner_is_the_first_id(void) {
  ec_router_t *r = make(&table);
  seg_t segs[EC_ROUTE_MAX_SEGMENTS];
  ec_route_match_t m;
  CU_ASSERT_EQUAL(match(r, &table, "a/d/b/e", segs, &m), 1);
  CU_ASSERT_EQUAL(m.owner, 1);
  CU_ASSERT_EQUAL(match(r, &table, "a/latest", segs, &m), 0);
  CU_ASSERT_EQUAL(m.owner, -1);
  ec_router_delete(r);
}

static void test_bad_templates_are_refused(void) {
  static const char *const bad[] = {
      "",        "/a",         "a/",       "a//b",      "a/{z}",
      "a/{x",    "a/x}",       "a/{}",     "a/b{x}",    "{x}/{x}/{x}/{x}/{x}",
      "1/2/3/4/5/6/7/8/9"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    ec_route_spec_t one = {bad[i], EC_GET, EC_ACCESS_READ, EC_FMT_DOC, 0,
                           NULL, nothing, NULL};
    ec_route_table_t t = {&one, 1, params, 2};
    ec_router_t *r = NULL;
    CU_ASSERT_EQUAL(ec_router_new(&t, &r), EC_EINVAL);
    CU_ASSERT_PTR_NULL(r);
  }
  ec_route_spec_t no_handler = {"a", EC_GET, EC_ACCESS_READ, EC_FMT_DOC, 0,
                                NULL, NULL, NULL};
  ec_route_table_t t = {&no_handler, 1, params, 2};
  ec_router_t *r = NULL;
  CU_ASSERT_EQUAL(ec_router_new(&t, &r), EC_EINVAL);
  CU_ASSERT_EQUAL(ec_router_new(NULL, &r), EC_EINVAL);
}

/* The server's own table: every template compiles and each API path
 * lands on its entry. */
static void test_api_table_routes_each_path(void) {
  const ec_route_table_t *t = &ec_api_routes;
  ec_router_t *r = make(t);
  seg_t segs[EC_ROUTE_MAX_SEGMENTS];
  ec_route_match_t m;
  CU_ASSERT_EQUAL(t->n_routes, EC_API_N_ROUTES);
  CU_ASSERT_EQUAL(
      match(r, t, "device/d1/deployment/ABCDEF01-0000-4000-8000-000000000001/status",
            segs, &m),
      EC_API_STATUS);
  CU_ASSERT_STRING_EQUAL(m.params[0], "d1");
  CU_ASSERT_STRING_EQUAL(m.params[1], "abcdef01-0000-4000-8000-000000000001");
  CU_ASSERT_EQUAL(m.owner, 1);
  CU_ASSERT_EQUAL(match(r, t, "device/d1/deployment/x/status/history", segs, &m),
                  EC_API_HISTORY);
  CU_ASSERT_EQUAL(match(r, t, "device/d1/deployments", segs, &m),
                  EC_API_DEPLOYMENTS);
  CU_ASSERT_EQUAL(match(r, t, "api/2.3/statusmessages", segs, &m),
                  EC_API_MESSAGES);
  CU_ASSERT_EQUAL(match(r, t, "api/2.3/statusmessages/latest", segs, &m),
                  EC_API_LATEST);
  CU_ASSERT_EQUAL(match(r, t, "api/2.3/statusmessages/42", segs, &m),
                  EC_API_MESSAGE);
  CU_ASSERT_EQUAL(m.bad_param, -1);
  CU_ASSERT_EQUAL(match(r, t, "v1/Login", segs, &m), EC_API_LOGIN);
  CU_ASSERT_EQUAL(match(r, t, "v1/DeviceProvisioningComponents", segs, &m),
                  EC_API_COMPONENTS);
  CU_ASSERT_EQUAL(match(r, t, ".well-known/core", segs, &m), EC_API_DISCOVERY);
  ec_router_delete(r);
}

static void test_api_ids_are_checked(void) {
  const ec_route_table_t *t = &ec_api_routes;
  ec_router_t *r = make(t);
  seg_t segs[EC_ROUTE_MAX_SEGMENTS];
  ec_route_match_t m;
  static const char *const bad_msg[] = {"0", "-1", "abc", "12345678901234567890",
                                        "9223372036854775808"};
  for (size_t i = 0; i < sizeof(bad_msg) / sizeof(bad_msg[0]); i++) {
    char path[64];
    snprintf(path, sizeof(path), "api/2.3/statusmessages/%s", bad_msg[i]);
    CU_ASSERT_EQUAL(match(r, t, path, segs, &m), EC_API_MESSAGE);
    CU_ASSERT_EQUAL(m.bad_param, 0);
  }
  CU_ASSERT_EQUAL(match(r, t, "api/2.3/statusmessages/9223372036854775807",
                        segs, &m),
                  EC_API_MESSAGE);
  CU_ASSERT_EQUAL(m.bad_param, -1);
  /* Dot segments and characters outside the set are refused ids. */
  CU_ASSERT_EQUAL(match(r, t, "device/../deployments", segs, &m),
                  EC_API_DEPLOYMENTS);
  CU_ASSERT_EQUAL(m.bad_param, 0);
  CU_ASSERT_STRING_EQUAL(m.bad->name, "deviceId");
  CU_ASSERT_EQUAL(match(r, t, "device/ok/deployment/a b/status", segs, &m),
                  EC_API_STATUS);
  CU_ASSERT_EQUAL(m.bad_param, 1);
  CU_ASSERT_STRING_EQUAL(m.bad->name, "deploymentId");
  CU_ASSERT_TRUE(ec_id_valid("A-z.0_~:@"));
  CU_ASSERT_FALSE(ec_id_valid("."));
  CU_ASSERT_FALSE(ec_id_valid("a/b"));
  /* No route: the nearest one's rule covers the path. */
  CU_ASSERT_EQUAL(match(r, t, "device/d1", segs, &m), -1);
  CU_ASSERT_PTR_EQUAL(m.spec, &t->routes[EC_API_STATUS]);
  ec_router_delete(r);
}

static void test_access_rules(void) {
  const coap_pdu_code_t get = COAP_REQUEST_CODE_GET;
  const coap_pdu_code_t post = COAP_REQUEST_CODE_POST;
  const ec_device_role_t dev = EC_DEVICE_ROLE_DEVICE;
  const ec_device_role_t op = EC_DEVICE_ROLE_OPERATOR;
  /* Provisioning's own tokens decide, whoever connects. */
  CU_ASSERT_PTR_NULL(ec_access_decide(dev, "d1", post, EC_ACCESS_TOKEN, NULL));
  /* Discovery: everyone reads. */
  CU_ASSERT_PTR_NULL(ec_access_decide(dev, "d1", get, EC_ACCESS_READ, NULL));
  CU_ASSERT_PTR_NOT_NULL(ec_access_decide(dev, "d1", post, EC_ACCESS_READ, NULL));
  CU_ASSERT_PTR_NULL(ec_access_decide(op, "o", post, EC_ACCESS_READ, NULL));
  /* A device's own resources: it does everything, operators read. */
  CU_ASSERT_PTR_NULL(ec_access_decide(dev, "d1", post, EC_ACCESS_DEVICE, "d1"));
  CU_ASSERT_PTR_NOT_NULL(
      ec_access_decide(dev, "d1", get, EC_ACCESS_DEVICE, "d2"));
  CU_ASSERT_PTR_NOT_NULL(ec_access_decide(dev, "d1", get, EC_ACCESS_DEVICE, NULL));
  CU_ASSERT_PTR_NULL(ec_access_decide(op, "o", get, EC_ACCESS_DEVICE, "d1"));
  CU_ASSERT_PTR_NOT_NULL(ec_access_decide(op, "o", post, EC_ACCESS_DEVICE, "d1"));
  /* Status messages are for operators. */
  CU_ASSERT_PTR_NOT_NULL(
      ec_access_decide(dev, "d1", get, EC_ACCESS_OPERATOR, NULL));
  CU_ASSERT_PTR_NULL(ec_access_decide(op, "o", post, EC_ACCESS_OPERATOR, NULL));
  /* No route: operators get the 4.04 of plain CoAP, devices 4.03. */
  CU_ASSERT_PTR_NOT_NULL(ec_access_decide(dev, "d1", get, EC_ACCESS_NONE, NULL));
  CU_ASSERT_PTR_NULL(ec_access_decide(op, "o", get, EC_ACCESS_NONE, NULL));
}

static const ec_test_t tests[] = {
    {test_literals_and_ids_match, "literals_and_ids_match"},
    {test_first_route_in_table_order_wins, "first_route_in_table_order_wins"},
    {test_count_and_literals_must_agree, "count_and_literals_must_agree"},
    {test_no_match_names_the_nearest_route, "no_match_names_the_nearest_route"},
    {test_refused_id_is_named, "refused_id_is_named"},
    {test_owner_is_the_first_id, "owner_is_the_first_id"},
    {test_bad_templates_are_refused, "bad_templates_are_refused"},
    {test_api_table_routes_each_path, "api_table_routes_each_path"},
    {test_api_ids_are_checked, "api_ids_are_checked"},
    {test_access_rules, "access_rules"},
};

int main(void) {
  return ec_test_main("router", tests, EC_TEST_COUNT(tests), NULL, NULL, NULL);
}
