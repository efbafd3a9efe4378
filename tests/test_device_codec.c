/* edgecoap tests: the device core's CBOR against the server's codec, document by document. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <CUnit/Basic.h>
#include <string.h>

#include "edgecoap/codec.h"
#include "edgecoap/deployment.h"
#include "edgecoap/device.h"
#include "suite.h"

#define UUID "a3e2f5dc-912e-494f-8395-52cf3769bc06"

static _Alignas(max_align_t) uint8_t arena_mem[1 << 16];

/* The same document in both structs: the device's is built from the
 * codec's, so every field the codec has is carried over. */
static void to_device(const ec_deployment_status_t *s, ec_dev_status_t *d,
                      ec_dev_component_t *comps) {
  memset(d, 0, sizeof *d);
  d->api_version = s->api_version;
  d->kind = s->kind;
  d->deployment_id = s->deployment_id;
  d->device_id = s->device_id;
  d->adopted_manifest_version = (uint32_t)s->adopted_manifest_version;
  d->state = (ec_dev_state_t)s->state;
  if (s->has_error) {
    d->error = (ec_dev_error_t){s->error.code, s->error.message, s->error.source};
  }
  for (size_t i = 0; i < s->n_components; i++) {
    const ec_component_status_t *c = &s->components[i];
    comps[i] = (ec_dev_component_t){c->name, (ec_dev_state_t)c->state, {0}};
    if (c->has_error) {
      comps[i].error =
          (ec_dev_error_t){c->error.code, c->error.message, c->error.source};
    }
  }
  d->components = comps;
  d->n_components = s->n_components;
}

/* Documents covering every optional part: extras, errors with and without
 * source, no components, a manifest kind, non-ASCII text, long strings
 * (two-byte heads), every state. */
static const char *const docs[] = {
    "{\"apiVersion\":\"deployment.margo/v1\",\"kind\":\"DeploymentStatus\","
    "\"deploymentId\":\"" UUID "\",\"status\":{\"state\":\"Installing\"},"
    "\"components\":[{\"name\":\"db\",\"state\":\"Installed\"},"
    "{\"name\":\"web\",\"state\":\"Installing\"}]}",
    "{\"apiVersion\":\"v\",\"kind\":\"DeploymentStatusManifest\","
    "\"deploymentId\":\"" UUID "\",\"deviceId\":\"dev-\xc3\xa9\","
    "\"adoptedManifestVersion\":70000,\"status\":{\"state\":\"Failed\","
    "\"error\":{\"code\":\"E1\",\"message\":\"disk full\"}},\"components\":[]}",
    "{\"apiVersion\":\"v\",\"kind\":\"DeploymentStatus\",\"deploymentId\":\"" UUID
    "\",\"adoptedManifestVersion\":23,\"status\":{\"state\":\"Removing\"},"
    "\"components\":[{\"name\":\"a\",\"state\":\"Failed\",\"error\":{\"code\":"
    "\"c\",\"message\":\"m\",\"source\":\"s\"}},{\"name\":\"b\",\"state\":"
    "\"Removed\"},{\"name\":\"c\",\"state\":\"Pending\",\"error\":{\"code\":"
    "\"x\",\"message\":\"" "0123456789012345678901234567890123456789"
    "0123456789012345678901234567890123456789012345678901234567890123456789"
    "0123456789012345678901234567890123456789012345678901234567890123456789"
    "0123456789012345678901234567890123456789012345678901234567890123456789"
    "\"}}]}",
};

static int count_component(void *ctx, size_t idx, ec_dev_str_t name,
                           ec_dev_state_t state) {
  (void)name;
  (void)state;
  *(size_t *)ctx = idx + 1;
  return 0;
}

static void test_report_bytes_equal_codec(void) {
  for (size_t d = 0; d < sizeof docs / sizeof docs[0]; d++) {
    ec_arena_t arena;
    ec_arena_init(&arena, arena_mem, sizeof arena_mem);
    ec_deployment_status_t st;
    CU_ASSERT_EQUAL_FATAL(ec_deployment_status_decode(
                              EC_FORMAT_JSON, (const uint8_t *)docs[d],
                              strlen(docs[d]), &st, &arena, NULL),
                          0);
    uint8_t a[2048], b[2048];
    ssize_t na = ec_deployment_status_encode(EC_FORMAT_CBOR, &st, a, sizeof a);
    ec_dev_component_t comps[8];
    ec_dev_status_t dst;
    to_device(&st, &dst, comps);
    int measured = ec_dev_status_encode(&dst, NULL, 0);
    int nb = ec_dev_status_encode(&dst, b, sizeof b);
    CU_ASSERT_TRUE_FATAL(na > 0);
    CU_ASSERT_EQUAL(measured, nb);
    CU_ASSERT_EQUAL_FATAL(na, nb);
    CU_ASSERT_EQUAL(memcmp(a, b, (size_t)na), 0);
    /* And the core reads what the codec wrote (the server's answer). */
    ec_dev_status_view_t v;
    size_t seen = 0;
    CU_ASSERT_EQUAL(ec_dev_status_decode(a, (size_t)na, &v, count_component,
                                         &seen),
                    0);
    CU_ASSERT_EQUAL(v.state, (ec_dev_state_t)st.state);
    CU_ASSERT_EQUAL(v.n_components, st.n_components);
    CU_ASSERT_EQUAL(seen, st.n_components);
    CU_ASSERT_EQUAL(v.adopted_manifest_version, st.adopted_manifest_version);
    CU_ASSERT_EQUAL(v.error_code.ptr != NULL, st.has_error);
    /* A buffer one byte short is reported by the length, as the codec does. */
    CU_ASSERT_EQUAL(ec_dev_status_encode(&dst, b, (size_t)nb - 1), nb);
  }
}

static void test_states_match_codec(void) {
  CU_ASSERT_EQUAL(EC_DEV_PENDING, EC_STATE_PENDING);
  CU_ASSERT_EQUAL(EC_DEV_INSTALLING, EC_STATE_INSTALLING);
  CU_ASSERT_EQUAL(EC_DEV_INSTALLED, EC_STATE_INSTALLED);
  CU_ASSERT_EQUAL(EC_DEV_FAILED, EC_STATE_FAILED);
  CU_ASSERT_EQUAL(EC_DEV_REMOVING, EC_STATE_REMOVING);
  CU_ASSERT_EQUAL(EC_DEV_REMOVED, EC_STATE_REMOVED);
  CU_ASSERT_EQUAL(EC_DEV_STATE_COUNT, EC_STATE_COUNT);
}

static void test_problem_from_codec(void) {
  uint8_t buf[512];
  ssize_t n = ec_problem_encode(EC_FORMAT_PROBLEM_CBOR, "invalid-state",
                                "status.state must be one of ...", 150,
                                "status.state", buf, sizeof buf);
  CU_ASSERT_TRUE_FATAL(n > 0);
  ec_dev_problem_t p;
  CU_ASSERT_EQUAL_FATAL(ec_dev_problem_decode(buf, (size_t)n, &p), 0);
  CU_ASSERT_EQUAL(p.code, 150);
  CU_ASSERT_TRUE(p.title.len == 13 && memcmp(p.title.ptr, "invalid-state", 13) == 0);
  CU_ASSERT_TRUE(p.field.len == 12 && memcmp(p.field.ptr, "status.state", 12) == 0);
  CU_ASSERT_PTR_NOT_NULL(p.detail.ptr);
  /* Without a field and code, the codec leaves them out. */
  n = ec_problem_encode(EC_FORMAT_PROBLEM_CBOR, "t", NULL, 0, NULL, buf,
                        sizeof buf);
  CU_ASSERT_EQUAL_FATAL(ec_dev_problem_decode(buf, (size_t)n, &p), 0);
  CU_ASSERT_EQUAL(p.code, 0);
  CU_ASSERT_PTR_NULL(p.field.ptr);
  CU_ASSERT_PTR_NULL(p.detail.ptr);
}

/* Whatever the codec refuses as a report, the core's reader refuses too,
 * for every truncation of a codec-written report. */
static void test_truncations_refused_by_both(void) {
  ec_arena_t arena;
  ec_arena_init(&arena, arena_mem, sizeof arena_mem);
  ec_deployment_status_t st;
  CU_ASSERT_EQUAL_FATAL(ec_deployment_status_decode(
                            EC_FORMAT_JSON, (const uint8_t *)docs[2],
                            strlen(docs[2]), &st, &arena, NULL),
                        0);
  uint8_t a[2048];
  ssize_t na = ec_deployment_status_encode(EC_FORMAT_CBOR, &st, a, sizeof a);
  CU_ASSERT_TRUE_FATAL(na > 0);
  for (ssize_t cut = 0; cut < na; cut++) {
    ec_dev_status_view_t v;
    ec_arena_reset(&arena);
    CU_ASSERT_TRUE(ec_deployment_status_decode(EC_FORMAT_CBOR, a, (size_t)cut,
                                               &st, &arena, NULL) < 0);
    CU_ASSERT_TRUE(ec_dev_status_decode(a, (size_t)cut, &v, NULL, NULL) < 0);
  }
}

int main(void) {
  static const ec_test_t tests[] = {
      {test_report_bytes_equal_codec, "report_bytes_equal_codec"},
      {test_states_match_codec, "states_match_codec"},
      {test_problem_from_codec, "problem_from_codec"},
      {test_truncations_refused_by_both, "truncations_refused_by_both"},
  };
  return ec_test_main("device_codec", tests, EC_TEST_COUNT(tests), NULL, NULL,
                      NULL);
}
