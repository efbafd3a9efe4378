/* edgecoap tests: the codec layer (tree, transcoders, problem details, time, DeploymentStatus). */
/* SPDX-License-Identifier: Apache-2.0 */
#include <CUnit/Basic.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgecoap/codec.h"
#include "edgecoap/deployment.h"
#include "suite.h"
#include "tree.h"

#ifndef EC_TEST_DATA_DIR
#define EC_TEST_DATA_DIR "tests/data"
#endif

#define UUID "a3e2f5dc-912e-494f-8395-52cf3769bc06"
#define LEN(lit) (sizeof(lit) - 1)

static const char *data_dir = EC_TEST_DATA_DIR;
static _Alignas(max_align_t) uint8_t arena_mem[1 << 17];
static ec_arena_t arena;

/* A valid report that every validation case below starts from. */
static const char base_doc[] =
    "{\"apiVersion\":\"deployment.margo/v1\",\"kind\":\"DeploymentStatus\","
    "\"deploymentId\":\"" UUID "\",\"status\":{\"state\":\"Installing\"},"
    "\"components\":[{\"name\":\"a\",\"state\":\"Installed\"},"
    "{\"name\":\"b\",\"state\":\"installing\"}]}";

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

/* Decode @p json as JSON and, transcoded, as CBOR: both formats must give the
 * same verdict with the same title and field. */
static int decode_both(const char *json, size_t len, ec_deployment_status_t *st,
                       ec_codec_error_t *err) {
  static uint8_t cbor[1 << 16];
  ec_codec_error_t e1 = {0}, e2 = {0};
  ec_deployment_status_t st2;
  ec_arena_init(&arena, arena_mem, sizeof arena_mem);
  int r1 = ec_deployment_status_decode(EC_FORMAT_JSON, (const uint8_t *)json,
                                       len, st, &arena, &e1);
  ssize_t n = ec_json_to_cbor(json, len, cbor, sizeof cbor);
  if (n >= 0) {
    CU_ASSERT_FATAL((size_t)n <= sizeof cbor);
    int r2 = ec_deployment_status_decode(EC_FORMAT_CBOR, cbor, (size_t)n, &st2,
                                         &arena, &e2);
    CU_ASSERT_EQUAL(r1, r2);
    CU_ASSERT_STRING_EQUAL(e1.title, e2.title);
    CU_ASSERT_STRING_EQUAL(e1.field, e2.field);
  }
  *err = e1;
  return r1;
}

/* Set (or, with @p value NULL, delete) the member at a dotted path such as
 * "components[1].error" in a copy of base_doc. */
static char *mutate(const char *path, const char *value) {
  json_t *root = json_loads(base_doc, 0, NULL);
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

static void test_strerror_names_every_code(void) {
  for (int e = EC_OK; e >= EC_ERESPONSE; e--) {
    CU_ASSERT_PTR_NOT_NULL(ec_strerror(e));
    CU_ASSERT_STRING_NOT_EQUAL(ec_strerror(e), "unknown error");
  }
  CU_ASSERT_STRING_EQUAL(ec_strerror(1), "unknown error");
}

static void test_arena_aligns_and_reports_full(void) {
  _Alignas(max_align_t) uint8_t mem[64];
  ec_arena_t a;
  ec_arena_init(&a, mem + 1, sizeof mem - 1);
  char *c = ec_arena_alloc(&a, 1);
  void *p = ec_arena_alloc(&a, 8);
  CU_ASSERT_PTR_NOT_NULL(c);
  CU_ASSERT_EQUAL((uintptr_t)p % _Alignof(max_align_t), 0);
  CU_ASSERT_PTR_NULL(ec_arena_alloc(&a, 64));
  char *s1 = ec_arena_strndup(&a, "abcdef", 3);
  char *s2 = ec_arena_strndup(&a, "", 0);
  CU_ASSERT_STRING_EQUAL(s1, "abc");
  CU_ASSERT_PTR_EQUAL(s2, s1 + 4); /* strings are packed, not aligned */
  CU_ASSERT_PTR_NULL(ec_arena_strndup(&a, NULL, 1));
  ec_arena_reset(&a);
  CU_ASSERT_EQUAL(a.used, 0);
  ec_arena_init(&a, NULL, 100);
  CU_ASSERT_PTR_NULL(ec_arena_alloc(&a, 1));
}

static void test_arena_full_leaves_arena_unchanged(void) {
  uint8_t small[40];
  ec_arena_t a;
  ec_deployment_status_t st;
  ec_codec_error_t err = {0};
  ec_arena_init(&a, small, sizeof small);
  a.used = 3;
  CU_ASSERT_EQUAL(ec_deployment_status_decode(EC_FORMAT_JSON,
                                              (const uint8_t *)base_doc,
                                              LEN(base_doc), &st, &a, &err),
                  EC_ENOMEM);
  CU_ASSERT_EQUAL(a.used, 3);
}

static void test_format_sniff(void) {
  CU_ASSERT_EQUAL(ec_format_sniff((const uint8_t *)" \r\n\t{", 5), EC_FORMAT_JSON);
  CU_ASSERT_EQUAL(ec_format_sniff((const uint8_t *)"[1]", 3), EC_FORMAT_JSON);
  CU_ASSERT_EQUAL(ec_format_sniff((const uint8_t *)"\xA1\x61", 2), EC_FORMAT_CBOR);
  CU_ASSERT_EQUAL(ec_format_sniff((const uint8_t *)"x", 1), EC_FORMAT_CBOR);
  CU_ASSERT_EQUAL(ec_format_sniff(NULL, 0), EC_FORMAT_CBOR);
}

static void check_seed(const ec_deployment_status_t *st) {
  CU_ASSERT_STRING_EQUAL(st->api_version, "deployment.margo/v1");
  CU_ASSERT_STRING_EQUAL(st->kind, "DeploymentStatus");
  CU_ASSERT_STRING_EQUAL(st->deployment_id, UUID);
  CU_ASSERT_EQUAL(st->state, EC_STATE_PENDING);
  CU_ASSERT_FALSE(st->has_error);
  CU_ASSERT_PTR_NULL(st->device_id);
  CU_ASSERT_EQUAL(st->adopted_manifest_version, 0);
  CU_ASSERT_EQUAL_FATAL(st->n_components, 2);
  CU_ASSERT_STRING_EQUAL(st->components[0].name, "digitron-orchestrator");
  CU_ASSERT_STRING_EQUAL(st->components[1].name, "database-services");
  for (size_t i = 0; i < 2; i++) {
    CU_ASSERT_EQUAL(st->components[i].state, EC_STATE_PENDING);
    CU_ASSERT_FALSE(st->components[i].has_error);
  }
}

static void test_seed_example_with_misspelt_message_key_is_accepted(void) {
  size_t len;
  char *seed = read_data("seed-deployment-status.json", &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(strstr(seed, "\"message \": \"\""));
  ec_deployment_status_t st;
  ec_codec_error_t err = {0};
  CU_ASSERT_EQUAL_FATAL(decode_both(seed, len, &st, &err), 0);
  check_seed(&st);
  /* The CBOR twin, decoded on its own, says the same. */
  uint8_t cbor[1024];
  ssize_t n = ec_json_to_cbor(seed, len, cbor, sizeof cbor);
  CU_ASSERT_FATAL(n > 0 && (size_t)n <= sizeof cbor);
  CU_ASSERT_EQUAL_FATAL(ec_deployment_status_decode(EC_FORMAT_CBOR, cbor,
                                                    (size_t)n, &st, &arena, &err),
                        0);
  check_seed(&st);
  /* Empty errors are stored as absent, so none is written back. */
  char out[1024];
  n = ec_deployment_status_encode(EC_FORMAT_JSON, &st, (uint8_t *)out, sizeof out);
  CU_ASSERT_FATAL(n > 0 && (size_t)n < sizeof out);
  out[n] = '\0';
  CU_ASSERT_PTR_NULL(strstr(out, "error"));
  CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"state\":\"Pending\""));
  free(seed);
}

static const struct {
  const char *path;
  const char *value; /* NULL deletes */
  int code;
  const char *title;
  const char *field;
} rules[] = {
    {"apiVersion", NULL, EC_EBADDOC, "missing-field", "apiVersion"},
    {"apiVersion", "1", EC_EBADDOC, "invalid-type", "apiVersion"},
    {"apiVersion", "\"\"", EC_ESEMANTIC, "invalid-length", "apiVersion"},
    {"kind", NULL, EC_EBADDOC, "missing-field", "kind"},
    {"kind", "\"Deployment\"", EC_ESEMANTIC, "invalid-kind", "kind"},
    {"kind", "\"deploymentstatus\"", EC_ESEMANTIC, "invalid-kind", "kind"},
    {"kind", "\"DeploymentStatusManifest\"", 0, "", ""},
    {"deploymentId", NULL, EC_EBADDOC, "missing-field", "deploymentId"},
    {"deploymentId", "42", EC_EBADDOC, "invalid-type", "deploymentId"},
    {"deploymentId", "\"not-a-uuid\"", EC_ESEMANTIC, "invalid-deployment-id", "deploymentId"},
    {"deploymentId", "\"a3e2f5dc-912e-494f-8395-52cf3769bc0\"", EC_ESEMANTIC, "invalid-deployment-id", "deploymentId"},
    {"deploymentId", "\"A3E2F5DC-912E-494F-8395-52CF3769BC06\"", 0, "", ""},
    {"bogus", "1", EC_EBADDOC, "unknown-key", "bogus"},
    {"deviceId", "\"dev-1\"", 0, "", ""},
    {"deviceId", "7", EC_EBADDOC, "invalid-type", "deviceId"},
    {"deviceId", "\"\"", EC_ESEMANTIC, "invalid-length", "deviceId"},
    {"adoptedManifestVersion", "3", 0, "", ""},
    {"adoptedManifestVersion", "0", EC_ESEMANTIC, "out-of-range", "adoptedManifestVersion"},
    {"adoptedManifestVersion", "-1", EC_ESEMANTIC, "out-of-range", "adoptedManifestVersion"},
    {"adoptedManifestVersion", "1.0", EC_EBADDOC, "invalid-type", "adoptedManifestVersion"},
    {"adoptedManifestVersion", "\"2\"", EC_EBADDOC, "invalid-type", "adoptedManifestVersion"},
    {"status", NULL, EC_EBADDOC, "missing-field", "status"},
    {"status", "[{\"state\":\"Pending\"}]", EC_EBADDOC, "invalid-type", "status"},
    {"status.state", NULL, EC_EBADDOC, "missing-field", "status.state"},
    {"status.state", "3", EC_EBADDOC, "invalid-type", "status.state"},
    {"status.state", "\"bogus\"", EC_ESEMANTIC, "invalid-state", "status.state"},
    {"status.state", "\"REMOVING\"", 0, "", ""},
    {"status.extra", "1", 0, "", ""},
    {"status.error", "\"oops\"", EC_EBADDOC, "invalid-type", "status.error"},
    {"status.error", "null", EC_EBADDOC, "invalid-type", "status.error"},
    {"status.error", "{}", 0, "", ""},
    {"status.error", "{\"code\":\"E1\"}", EC_EBADDOC, "missing-field", "status.error.message"},
    {"status.error", "{\"message\":\"m\"}", EC_EBADDOC, "missing-field", "status.error.code"},
    {"status.error", "{\"code\":1,\"message\":\"m\"}", EC_EBADDOC, "invalid-type", "status.error.code"},
    {"status.error", "{\"code\":\"\",\"message\":5}", EC_EBADDOC, "invalid-type", "status.error.message"},
    {"status.error", "{\"code\":\"E\",\"message\":\"m\",\"source\":7}", EC_EBADDOC, "invalid-type", "status.error.source"},
    {"status.error", "{\"code\":\"E\",\"message\":\"m\",\"retry\":true}", 0, "", ""},
    {"components", NULL, EC_EBADDOC, "missing-field", "components"},
    {"components", "{}", EC_EBADDOC, "invalid-type", "components"},
    {"components", "[]", 0, "", ""},
    {"components[1]", "\"x\"", EC_EBADDOC, "invalid-type", "components[1]"},
    {"components[1].name", NULL, EC_EBADDOC, "missing-field", "components[1].name"},
    {"components[1].name", "\"\"", EC_ESEMANTIC, "invalid-length", "components[1].name"},
    {"components[1].name", "\"a\"", EC_ESEMANTIC, "duplicate-component", "components[1].name"},
    {"components[1].name", "\"A\"", 0, "", ""},
    {"components[1].state", NULL, EC_EBADDOC, "missing-field", "components[1].state"},
    {"components[1].state", "\"done\"", EC_ESEMANTIC, "invalid-state", "components[1].state"},
    {"components[0].extra", "true", 0, "", ""},
    {"components[1].error", "{\"code\":\"E\"}", EC_EBADDOC, "missing-field", "components[1].error.message"},
    {"components[1].error", "[]", EC_EBADDOC, "invalid-type", "components[1].error"},
};

static void test_every_validation_rule_in_both_formats(void) {
  for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
    char *doc = mutate(rules[i].path, rules[i].value);
    ec_deployment_status_t st;
    ec_codec_error_t err = {0};
    int rc = decode_both(doc, strlen(doc), &st, &err);
    if (rc != rules[i].code || strcmp(err.field, rules[i].field) != 0) {
      fprintf(stderr, "\nrule %zu (%s): rc %d field '%s' title '%s'\n", i,
              rules[i].path, rc, err.field, err.title);
    }
    CU_ASSERT_EQUAL(rc, rules[i].code);
    if (rules[i].code != 0) {
      CU_ASSERT_STRING_EQUAL(err.title, rules[i].title);
      CU_ASSERT_STRING_EQUAL(err.field, rules[i].field);
      CU_ASSERT_EQUAL(err.code, rules[i].code);
    }
    free(doc);
  }
}

static void test_document_shape_errors(void) {
  static const struct {
    const char *doc;
    int code;
    const char *title;
  } cases[] = {
      {"[]", EC_EBADDOC, "invalid-type"},
      {"\"DeploymentStatus\"", EC_EBADDOC, "invalid-type"},
      {"{", EC_ESYNTAX, "malformed-body"},
      {"{\"kind\":}", EC_ESYNTAX, "malformed-body"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ec_deployment_status_t st;
    ec_codec_error_t err = {0};
    CU_ASSERT_EQUAL(decode_both(cases[i].doc, strlen(cases[i].doc), &st, &err),
                    cases[i].code);
    CU_ASSERT_STRING_EQUAL(err.title, cases[i].title);
  }
  ec_deployment_status_t st;
  CU_ASSERT_EQUAL(ec_deployment_status_decode(EC_FORMAT_PROBLEM_CBOR,
                                              (const uint8_t *)"\xA0", 1, &st,
                                              &arena, NULL),
                  EC_EFORMAT);
}

static void test_real_error_is_stored_with_source(void) {
  char *doc = mutate("components[1].error",
                     "{\"code\":\"E42\",\"message\":\"\",\"source\":\"runtime\"}");
  ec_deployment_status_t st;
  ec_codec_error_t err = {0};
  CU_ASSERT_EQUAL_FATAL(decode_both(doc, strlen(doc), &st, &err), 0);
  CU_ASSERT_FALSE(st.components[0].has_error);
  CU_ASSERT_TRUE_FATAL(st.components[1].has_error);
  CU_ASSERT_STRING_EQUAL(st.components[1].error.code, "E42");
  CU_ASSERT_STRING_EQUAL(st.components[1].error.message, "");
  CU_ASSERT_STRING_EQUAL(st.components[1].error.source, "runtime");
  free(doc);
}

static void test_component_count_is_capped(void) {
  for (int extra = 0; extra <= 1; extra++) {
    json_t *root = json_loads(base_doc, 0, NULL);
    json_t *a = json_array();
    for (int i = 0; i < EC_MAX_COMPONENTS + extra; i++) {
      char name[16];
      snprintf(name, sizeof name, "c%d", i);
      json_array_append_new(a, json_pack("{s:s,s:s}", "name", name, "state", "Pending"));
    }
    json_object_set_new(root, "components", a);
    char *doc = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    ec_deployment_status_t st;
    ec_codec_error_t err = {0};
    int rc = decode_both(doc, strlen(doc), &st, &err);
    CU_ASSERT_EQUAL(rc, extra ? EC_ETOOBIG : 0);
    if (extra) {
      CU_ASSERT_STRING_EQUAL(err.title, "too-large");
      CU_ASSERT_STRING_EQUAL(err.field, "components");
    }
    free(doc);
  }
}

static void test_route_must_match_case_insensitively(void) {
  ec_deployment_status_t st;
  ec_codec_error_t err = {0};
  CU_ASSERT_EQUAL_FATAL(decode_both(base_doc, LEN(base_doc), &st, &err), 0);
  CU_ASSERT_EQUAL(ec_deployment_status_check_route(&st, UUID, &err), 0);
  CU_ASSERT_EQUAL(ec_deployment_status_check_route(
                      &st, "A3E2F5DC-912E-494F-8395-52CF3769BC06", &err),
                  0);
  CU_ASSERT_EQUAL(ec_deployment_status_check_route(
                      &st, "a3e2f5dc-912e-494f-8395-52cf3769bc07", &err),
                  EC_ESEMANTIC);
  CU_ASSERT_STRING_EQUAL(err.title, "deployment-mismatch");
  CU_ASSERT_STRING_EQUAL(err.field, "deploymentId");
  CU_ASSERT_EQUAL(ec_deployment_status_check_route(&st, UUID "0", NULL),
                  EC_ESEMANTIC);
  CU_ASSERT_EQUAL(ec_deployment_status_check_route(&st, NULL, NULL), EC_EINVAL);
}

static const char full_doc[] =
    "{\"apiVersion\":\"deployment.margo/v1\",\"kind\":\"DeploymentStatusManifest\","
    "\"deploymentId\":\"" UUID "\",\"deviceId\":\"dev-\xC3\xA9\","
    "\"adoptedManifestVersion\":7,\"status\":{\"state\":\"Failed\","
    "\"error\":{\"code\":\"E1\",\"message\":\"boom\",\"source\":\"agent\"}},"
    "\"components\":[{\"name\":\"a\",\"state\":\"Removed\"},{\"name\":\"b\","
    "\"state\":\"Failed\",\"error\":{\"code\":\"E2\",\"message\":\"pull\"}}]}";

static void test_roundtrip_json_struct_cbor_struct_json(void) {
  /* Keys out of order, states in odd case: the encoder normalises both. */
  static const char in[] =
      "{\"components\":[{\"state\":\"REMOVED\",\"name\":\"a\"},{\"name\":\"b\","
      "\"state\":\"failed\",\"error\":{\"message\":\"pull\",\"code\":\"E2\"}}],"
      "\"status\":{\"error\":{\"source\":\"agent\",\"code\":\"E1\",\"message\":"
      "\"boom\"},\"state\":\"fAiLeD\"},\"adoptedManifestVersion\":7,"
      "\"deviceId\":\"dev-\xC3\xA9\",\"deploymentId\":\"" UUID "\",\"kind\":"
      "\"DeploymentStatusManifest\",\"apiVersion\":\"deployment.margo/v1\"}";
  ec_deployment_status_t a, b;
  ec_codec_error_t err = {0};
  CU_ASSERT_EQUAL_FATAL(decode_both(in, LEN(in), &a, &err), 0);
  uint8_t cbor[1024];
  ssize_t n = ec_deployment_status_encode(EC_FORMAT_CBOR, &a, cbor, sizeof cbor);
  CU_ASSERT_FATAL(n > 0 && (size_t)n <= sizeof cbor);
  CU_ASSERT_EQUAL_FATAL(ec_deployment_status_decode(EC_FORMAT_CBOR, cbor,
                                                    (size_t)n, &b, &arena, &err),
                        0);
  char j1[1024], j2[1024];
  ssize_t n1 = ec_deployment_status_encode(EC_FORMAT_JSON, &a, (uint8_t *)j1, sizeof j1);
  ssize_t n2 = ec_deployment_status_encode(EC_FORMAT_JSON, &b, (uint8_t *)j2, sizeof j2);
  CU_ASSERT_FATAL(n1 > 0 && n1 == n2 && (size_t)n1 < sizeof j1);
  j1[n1] = j2[n2] = '\0';
  CU_ASSERT_STRING_EQUAL(j1, j2);
  CU_ASSERT_STRING_EQUAL(j1, full_doc);
  CU_ASSERT_EQUAL(b.adopted_manifest_version, 7);
  CU_ASSERT_STRING_EQUAL(b.device_id, "dev-\xC3\xA9");
  /* And the CBOR is exactly the transcoded canonical JSON. */
  uint8_t c2[1024];
  CU_ASSERT_EQUAL(ec_json_to_cbor(full_doc, LEN(full_doc), c2, sizeof c2), n);
  CU_ASSERT_EQUAL(memcmp(cbor, c2, (size_t)n), 0);
}

static void test_encode_measures_and_reports_needed_length(void) {
  ec_deployment_status_t st;
  ec_codec_error_t err = {0};
  CU_ASSERT_EQUAL_FATAL(decode_both(full_doc, LEN(full_doc), &st, &err), 0);
  for (int f = 0; f < 2; f++) {
    ec_format_t fmt = f ? EC_FORMAT_CBOR : EC_FORMAT_JSON;
    uint8_t big[1024], small[16];
    ssize_t need = ec_deployment_status_encode(fmt, &st, NULL, 0);
    CU_ASSERT_FATAL(need > (ssize_t)sizeof small);
    CU_ASSERT_EQUAL(ec_deployment_status_encode(fmt, &st, small, sizeof small), need);
    CU_ASSERT_EQUAL(ec_deployment_status_encode(fmt, &st, big, (size_t)need), need);
    uint8_t *exact = malloc((size_t)need);
    CU_ASSERT_EQUAL(ec_deployment_status_encode(fmt, &st, exact, (size_t)need), need);
    CU_ASSERT_EQUAL(memcmp(big, exact, (size_t)need), 0);
    free(exact);
  }
  CU_ASSERT_EQUAL(ec_deployment_status_encode(EC_FORMAT_JSON, &st, NULL, 5), EC_EINVAL);
  CU_ASSERT_EQUAL(ec_deployment_status_encode(EC_FORMAT_PROBLEM_CBOR, &st, NULL, 0), EC_EFORMAT);
  ec_deployment_status_t bad = st;
  bad.state = EC_STATE_COUNT;
  CU_ASSERT_EQUAL(ec_deployment_status_encode(EC_FORMAT_JSON, &bad, NULL, 0), EC_EINVAL);
  bad = st;
  bad.api_version = NULL;
  CU_ASSERT_EQUAL(ec_deployment_status_encode(EC_FORMAT_CBOR, &bad, NULL, 0), EC_EINVAL);
  bad = st;
  bad.device_id = "\xC0\x80";
  CU_ASSERT_EQUAL(ec_deployment_status_encode(EC_FORMAT_CBOR, &bad, NULL, 0), EC_EINVAL);
}

static void test_every_truncation_fails_cleanly(void) {
  static uint8_t cbor[2048];
  ssize_t n = ec_json_to_cbor(full_doc, LEN(full_doc), cbor, sizeof cbor);
  CU_ASSERT_FATAL(n > 0);
  for (size_t len = 0; len < LEN(full_doc); len++) {
    ec_deployment_status_t st;
    ec_codec_error_t err = {0};
    CU_ASSERT_EQUAL(ec_deployment_status_decode(EC_FORMAT_JSON,
                                                (const uint8_t *)full_doc, len,
                                                &st, &arena, &err),
                    EC_ESYNTAX);
  }
  for (size_t len = 0; len < (size_t)n; len++) {
    /* A copy of exactly len bytes lets ASan catch any read past the end. */
    uint8_t *p = malloc(len + 1);
    memcpy(p, cbor, len);
    ec_deployment_status_t st;
    ec_codec_error_t err = {0};
    CU_ASSERT_EQUAL(ec_deployment_status_decode(EC_FORMAT_CBOR, p, len, &st,
                                                &arena, &err),
                    EC_ESYNTAX);
    CU_ASSERT_STRING_EQUAL(err.title, "malformed-body");
    CU_ASSERT(ec_cbor_to_json(p, len, NULL, 0) < 0);
    free(p);
  }
}

#define V(bytes, code) {bytes, LEN(bytes), code, #bytes}
static const struct {
  const char *bytes;
  size_t len;
  int code;
  const char *name;
} hostile[] = {
    V("\x7B\x80\x00\x00\x00\x00\x00\x00\x00" "a", EC_ESYNTAX),  /* text claims 2^63 bytes */
    V("\x9B\x80\x00\x00\x00\x00\x00\x00\x00\x01", EC_ESYNTAX),  /* array claims 2^63 items */
    V("\x9B\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\x01", EC_ESYNTAX),  /* array claims 2^64-1 */
    V("\xBB\x80\x00\x00\x00\x00\x00\x00\x00\x01\x01", EC_ESYNTAX), /* map claims 2^63 pairs */
    V("\x5B\x80\x00\x00\x00\x00\x00\x00\x00", EC_ESYNTAX),      /* bytes claim 2^63 */
    V("\x9F\x01\x02", EC_ESYNTAX),                              /* open indefinite array */
    V("\xBF\x61" "a" "\x01", EC_ESYNTAX),                       /* open indefinite map */
    V("\x7F\x61" "a", EC_ESYNTAX),                              /* open indefinite text */
    V("\x7F\x01\xFF", EC_ESYNTAX),                              /* integer chunk in text */
    V("\x7F\x41" "a" "\xFF", EC_ESYNTAX),                       /* byte chunk in text */
    V("\x7F\x7F\xFF\xFF", EC_ESYNTAX),                          /* nested indefinite text */
    V("\xBF\x61" "a" "\xFF", EC_ESYNTAX),                       /* map ends after a key */
    V("\xC1\x01", EC_ESYNTAX),                                  /* tag 1 */
    V("\xD8\x20\x61" "a", EC_ESYNTAX),                          /* tag 32 */
    V("\x1B\x80\x00\x00\x00\x00\x00\x00\x00", EC_ESYNTAX),      /* uint64 2^63 */
    V("\x1B\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF", EC_ESYNTAX),      /* uint64 max */
    V("\x3B\x80\x00\x00\x00\x00\x00\x00\x00", EC_ESYNTAX),      /* -1-2^63 */
    V("\x62\xC3\x28", EC_ESYNTAX),                              /* bad continuation */
    V("\x62\xC0\x80", EC_ESYNTAX),                              /* overlong NUL */
    V("\x63\xED\xA0\x80", EC_ESYNTAX),                          /* surrogate */
    V("\x64\xF4\x90\x80\x80", EC_ESYNTAX),                      /* past U+10FFFF */
    V("\x61\x00", EC_ESYNTAX),                                  /* NUL in text */
    V("\xF7", EC_ESYNTAX),                                      /* undefined */
    V("\xF0", EC_ESYNTAX),                                      /* simple value 16 */
    V("\xF8\x20", EC_ESYNTAX),                                  /* simple value 32 */
    V("\x41\x00", EC_ESYNTAX),                                  /* byte string */
    V("\xFF", EC_ESYNTAX),                                      /* lone break */
    V("\x81\xFF", EC_ESYNTAX),                                  /* break in definite array */
    V("\x1C", EC_ESYNTAX),                                      /* reserved additional info */
    V("\xF9\x7E\x00", EC_ESYNTAX),                              /* NaN */
    V("\xFA\x7F\x80\x00\x00", EC_ESYNTAX),                      /* infinity */
    V("\xA0\x00", EC_ESYNTAX),                                  /* trailing byte */
    V("", EC_ESYNTAX),                                          /* empty body */
    V("\xA2\x61" "a" "\x01\x61" "a" "\x02", EC_ESYNTAX),        /* duplicate key */
    V("\xA2\x01\x01\x61" "1" "\x02", EC_ESYNTAX),               /* 1 and "1" collide */
    V("\xA1\x80\x01", EC_ESYNTAX),                              /* array as key */
    V("\xA1\xF5\x01", EC_ESYNTAX),                              /* bool as key */
    V("\xA1\xF9\x3C\x00\x01", EC_ESYNTAX),                      /* float as key */
    V("\x99\x4E\x21", EC_ESYNTAX),                              /* 20001 claimed, none sent */
    V("\x3B\x7F\xFF\xFF\xFF\xFF\xFF\xFF\xFF", 0),               /* INT64_MIN is fine */
    V("\xBF\x7F\x61" "a" "\x61" "b" "\xFF\x9F\x01\xFF\xFF", 0), /* indefinite forms */
};

static void test_hostile_cbor_fails_cleanly(void) {
  for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
    uint8_t *p = malloc(hostile[i].len + 1);
    memcpy(p, hostile[i].bytes, hostile[i].len);
    json_t *t = NULL;
    ec_codec_error_t err = {0};
    int rc = ec__tree_parse(EC_FORMAT_CBOR, p, hostile[i].len, &t, &err);
    if (rc != hostile[i].code) {
      fprintf(stderr, "\nvector %zu %s: %d (%s)\n", i, hostile[i].name, rc, err.detail);
    }
    CU_ASSERT_EQUAL(rc, hostile[i].code);
    if (rc == 0) {
      json_decref(t);
    } else {
      CU_ASSERT_STRING_EQUAL(err.title, "malformed-body");
    }
    free(p);
  }
}

static void test_hostile_json_fails_cleanly(void) {
  static const struct {
    const char *doc;
    int code;
  } cases[] = {
      {"{\"a\":1,\"a\":2}", EC_ESYNTAX},  {"{} x", EC_ESYNTAX},
      {"{}{}", EC_ESYNTAX},              {"", EC_ESYNTAX},
      {"\"\xC3\x28\"", EC_ESYNTAX},      {"\"\\u0000\"", EC_ESYNTAX},
      {"9223372036854775808", EC_ESYNTAX}, {"-9223372036854775808", 0},
      {"[1e400]", EC_ESYNTAX},           {" {} \n", 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    json_t *t = NULL;
    ec_codec_error_t err = {0};
    int rc = ec__tree_parse(EC_FORMAT_JSON, (const uint8_t *)cases[i].doc,
                            strlen(cases[i].doc), &t, &err);
    CU_ASSERT_EQUAL(rc, cases[i].code);
    json_decref(rc == 0 ? t : NULL);
  }
}

/* Build @p n copies of @p open, then @p mid, then @p n copies of @p close. */
static uint8_t *nest(size_t n, const char *open, const char *mid,
                     const char *close, size_t *len) {
  size_t lo = strlen(open), lm = strlen(mid), lc = strlen(close);
  uint8_t *p = malloc(n * (lo + lc) + lm + 1);
  size_t k = 0;
  for (size_t i = 0; i < n; i++, k += lo) {
    memcpy(p + k, open, lo);
  }
  memcpy(p + k, mid, lm);
  k += lm;
  for (size_t i = 0; i < n; i++, k += lc) {
    memcpy(p + k, close, lc);
  }
  *len = k;
  return p;
}

static void expect_parse(ec_format_t fmt, uint8_t *p, size_t len, int code) {
  json_t *t = NULL;
  ec_codec_error_t err = {0};
  int rc = ec__tree_parse(fmt, p, len, &t, &err);
  CU_ASSERT_EQUAL(rc, code);
  if (rc == 0) {
    json_decref(t);
  } else if (code == EC_ETOOBIG) {
    CU_ASSERT_STRING_EQUAL(err.title, "too-large");
  }
  free(p);
}

/* Arguments are evaluated in no fixed order, so nest() and its length go
 * through one more call instead of a single expression. */
static void expect_nest(ec_format_t fmt, size_t n, const char *open,
                        const char *mid, const char *close, int code) {
  size_t len;
  uint8_t *p = nest(n, open, mid, close, &len);
  expect_parse(fmt, p, len, code);
}

static void test_depth_cap_in_both_formats(void) {
  const size_t deep = 100000;
  expect_nest(EC_FORMAT_JSON, deep, "[", "", "]", EC_ETOOBIG);
  expect_nest(EC_FORMAT_JSON, deep, "{\"a\":", "1", "}", EC_ETOOBIG);
  expect_nest(EC_FORMAT_CBOR, deep, "\x81", "\x01", "", EC_ETOOBIG);
  expect_nest(EC_FORMAT_CBOR, deep, "\x9F", "", "\xFF", EC_ETOOBIG);
  expect_nest(EC_FORMAT_CBOR, deep, "\xA1\x61" "a", "\x01", "", EC_ETOOBIG);
  expect_nest(EC_FORMAT_JSON, EC_MAX_DEPTH, "[", "\"[[\"", "]", 0);
  expect_nest(EC_FORMAT_JSON, EC_MAX_DEPTH + 1, "[", "", "]", EC_ETOOBIG);
  expect_nest(EC_FORMAT_CBOR, EC_MAX_DEPTH, "\x81", "\x80", "", EC_ETOOBIG);
  expect_nest(EC_FORMAT_CBOR, EC_MAX_DEPTH - 1, "\x81", "\x80", "", 0);
}

static void test_text_and_item_caps_in_both_formats(void) {
  for (int over = 0; over <= 1; over++) {
    size_t n = EC_MAX_TEXT + (size_t)over, len;
    int want = over ? EC_ETOOBIG : 0;
    uint8_t *p = malloc(n + 8);
    p[0] = 0x79, p[1] = (uint8_t)(n >> 8), p[2] = (uint8_t)n;
    memset(p + 3, 'a', n);
    expect_parse(EC_FORMAT_CBOR, p, n + 3, want);
    /* The same length split into indefinite-length chunks. */
    p = malloc(n + 8);
    p[0] = 0x7F, p[1] = 0x79, p[2] = (uint8_t)((n - 1) >> 8), p[3] = (uint8_t)(n - 1);
    memset(p + 4, 'b', n - 1);
    p[n + 3] = 0x61, p[n + 4] = 'c', p[n + 5] = 0xFF;
    expect_parse(EC_FORMAT_CBOR, p, n + 6, want);
    p = malloc(n + 8);
    p[0] = '"';
    memset(p + 1, 'a', n);
    p[n + 1] = '"';
    expect_parse(EC_FORMAT_JSON, p, n + 2, want);
    p = malloc(n + 8);
    memcpy(p, "{\"", 2);
    memset(p + 2, 'k', n);
    memcpy(p + n + 2, "\":1}", 4);
    expect_parse(EC_FORMAT_JSON, p, n + 6, want);
    /* [0,0,...,0] */
    size_t items = EC_MAX_ITEMS + (size_t)over;
    p = nest(items, "0,", "", "", &len);
    memmove(p + 1, p, len);
    p[0] = '[', p[len] = ']';
    expect_parse(EC_FORMAT_JSON, p, len + 1, want);
    /* A definite array head followed by that many integers. */
    p = nest(items, "\x01", "", "", &len);
    uint8_t *c = malloc(len + 3);
    c[0] = 0x99, c[1] = (uint8_t)(items >> 8), c[2] = (uint8_t)items;
    memcpy(c + 3, p, len);
    free(p);
    expect_parse(EC_FORMAT_CBOR, c, len + 3, want);
    /* The indefinite form, counted as it arrives. */
    p = nest(items, "", "\x9F", "\x01", &len);
    p = realloc(p, len + 1);
    p[len] = 0xFF;
    expect_parse(EC_FORMAT_CBOR, p, len + 1, want);
  }
  /* Over-long strings are refused by the document decoder too. */
  char *big = malloc(EC_MAX_TEXT + 64);
  memset(big, 'v', EC_MAX_TEXT + 1);
  big[EC_MAX_TEXT + 1] = '\0';
  char *value = malloc(EC_MAX_TEXT + 64);
  snprintf(value, EC_MAX_TEXT + 64, "\"%s\"", big);
  char *doc = mutate("apiVersion", value);
  ec_deployment_status_t st;
  ec_codec_error_t err = {0};
  CU_ASSERT_EQUAL(decode_both(doc, strlen(doc), &st, &err), EC_ETOOBIG);
  CU_ASSERT_STRING_EQUAL(err.title, "too-large");
  free(doc), free(value), free(big);
}

static void test_transcoder_writes_shortest_heads(void) {
  static const char json[] =
      "[0,23,24,255,256,65535,65536,4294967295,4294967296,-1,-24,-25,"
      "-9223372036854775808,9223372036854775807,1.5,0.1,\"\",true,false,null,{}]";
  static const uint8_t want[] =
      "\x95\x00\x17\x18\x18\x18\xFF\x19\x01\x00\x19\xFF\xFF\x1A\x00\x01\x00\x00"
      "\x1A\xFF\xFF\xFF\xFF\x1B\x00\x00\x00\x01\x00\x00\x00\x00\x20\x37\x38\x18"
      "\x3B\x7F\xFF\xFF\xFF\xFF\xFF\xFF\xFF\x1B\x7F\xFF\xFF\xFF\xFF\xFF\xFF\xFF"
      "\xFA\x3F\xC0\x00\x00\xFB\x3F\xB9\x99\x99\x99\x99\x99\x9A\x60\xF5\xF4\xF6"
      "\xA0";
  uint8_t out[128];
  ssize_t n = ec_json_to_cbor(json, LEN(json), out, sizeof out);
  CU_ASSERT_EQUAL_FATAL(n, (ssize_t)LEN(want));
  CU_ASSERT_EQUAL(memcmp(out, want, LEN(want)), 0);
  CU_ASSERT_EQUAL(ec_json_to_cbor(json, LEN(json), NULL, 0), n);
  CU_ASSERT_EQUAL(ec_json_to_cbor(json, LEN(json), out, 3), n);
  char back[256];
  CU_ASSERT(ec_cbor_to_json(want, LEN(want), back, sizeof back) > 0);
  CU_ASSERT_STRING_EQUAL(back, "[0,23,24,255,256,65535,65536,4294967295,"
                               "4294967296,-1,-24,-25,-9223372036854775808,"
                               "9223372036854775807,1.5,0.10000000000000001,\"\","
                               "true,false,null,{}]");
}

static void test_cbor_to_json_int_keys_and_nul(void) {
  static const uint8_t in[] = "\xA3\x20\x61x\x0A\xF5\x61k\xF9\x3C\x00";
  static const char want[] = "{\"-1\":\"x\",\"10\":true,\"k\":1.0}";
  char out[64];
  memset(out, '#', sizeof out);
  CU_ASSERT_EQUAL(ec_cbor_to_json(in, LEN(in), NULL, 0), (ssize_t)LEN(want));
  CU_ASSERT_EQUAL(ec_cbor_to_json(in, LEN(in), out, LEN(want)), (ssize_t)LEN(want));
  CU_ASSERT_EQUAL(out[LEN(want)], '#'); /* no room, so no NUL */
  CU_ASSERT_EQUAL(ec_cbor_to_json(in, LEN(in), out, sizeof out), (ssize_t)LEN(want));
  CU_ASSERT_STRING_EQUAL(out, want);
  CU_ASSERT_EQUAL(ec_cbor_to_json(in, LEN(in), NULL, 4), EC_EINVAL);
}

static void test_tree_write_int_keys_only_when_canonical(void) {
  json_t *t = json_pack("{s:s,s:i,s:i,s:i,s:i}", "-1", "t", "01", 1, "-0", 2, "5",
                        3, "9223372036854775808", 4);
  static const uint8_t want[] = "\xA5\x20\x61t\x62" "01" "\x01\x62-0\x02\x05\x03"
                                "\x73" "9223372036854775808" "\x04";
  uint8_t out[64];
  CU_ASSERT_EQUAL_FATAL(
      ec__tree_write(EC_FORMAT_CBOR, t, true, out, sizeof out),
      (ssize_t)LEN(want));
  CU_ASSERT_EQUAL(memcmp(out, want, LEN(want)), 0);
  /* Without int_keys "-1" and "5" stay text: two and one bytes longer. */
  CU_ASSERT_EQUAL(ec__tree_write(EC_FORMAT_CBOR, t, false, out, sizeof out),
                  (ssize_t)LEN(want) + 3);
  static const char json[] =
      "{\"-1\":\"t\",\"01\":1,\"-0\":2,\"5\":3,\"9223372036854775808\":4}";
  CU_ASSERT_EQUAL(ec__tree_write(EC_FORMAT_JSON, t, true, NULL, 0),
                  (ssize_t)LEN(json));
  CU_ASSERT_EQUAL(ec__tree_write(42, t, true, NULL, 0), EC_EFORMAT);
  json_decref(t);
  /* Trees as deep as the reader allows are written; one level more is not,
   * in either format. */
  t = json_array();
  for (int d = 2; d <= EC_MAX_DEPTH + 1; d++) {
    json_t *outer = json_array();
    json_array_append_new(outer, t);
    t = outer;
    bool ok = d <= EC_MAX_DEPTH;
    CU_ASSERT_EQUAL(ec__tree_write(EC_FORMAT_JSON, t, false, NULL, 0) > 0, ok);
    CU_ASSERT_EQUAL(ec__tree_write(EC_FORMAT_CBOR, t, false, NULL, 0) > 0, ok);
  }
  CU_ASSERT_EQUAL(ec__tree_write(EC_FORMAT_JSON, t, false, NULL, 0),
                  EC_ETOOBIG);
  CU_ASSERT_EQUAL(ec__tree_write(EC_FORMAT_CBOR, t, false, NULL, 0),
                  EC_ETOOBIG);
  json_decref(t);
}

static void test_typed_readers(void) {
  json_t *o = json_loads("{\"s\":\"abc\",\"i\":5,\"r\":5.0,\"n\":\"101\",\"neg\":"
                         "\"-7\",\"bad\":\"1x\",\"sp\":\" 1\",\"big\":"
                         "\"99999999999999999999\"}", 0, NULL);
  ec_codec_error_t err = {0};
  const char *s = "untouched";
  int64_t v = -99;
  bool present = true;
  ec_arena_init(&arena, arena_mem, sizeof arena_mem);
  CU_ASSERT_EQUAL(ec__get_string(o, "s", "p", true, 1, 3, &arena, &s, &err), 0);
  CU_ASSERT_STRING_EQUAL(s, "abc");
  CU_ASSERT((const uint8_t *)s >= arena_mem && (const uint8_t *)s < arena_mem + sizeof arena_mem);
  CU_ASSERT_EQUAL(ec__get_string(o, "x", "p", false, 0, 9, &arena, &s, &err),
                  0);
  CU_ASSERT_STRING_EQUAL(s, "abc");
  CU_ASSERT_EQUAL(ec__get_string(o, "x", "p", true, 0, 9, &arena, &s, &err),
                  EC_EBADDOC);
  CU_ASSERT_STRING_EQUAL(err.title, "missing-field");
  CU_ASSERT_STRING_EQUAL(err.field, "p.x");
  CU_ASSERT_EQUAL(ec__get_string(o, "i", "", true, 0, 9, &arena, &s, &err),
                  EC_EBADDOC);
  CU_ASSERT_STRING_EQUAL(err.title, "invalid-type");
  CU_ASSERT_STRING_EQUAL(err.field, "i");
  CU_ASSERT_EQUAL(ec__get_string(o, "s", "", true, 4, 9, &arena, &s, &err),
                  EC_ESEMANTIC);
  CU_ASSERT_STRING_EQUAL(err.title, "invalid-length");
  CU_ASSERT_EQUAL(ec__get_int(o, "i", "", true, 0, 9, &v, &present, &err), 0);
  CU_ASSERT_EQUAL(v, 5);
  CU_ASSERT_TRUE(present);
  CU_ASSERT_EQUAL(ec__get_int(o, "x", "", false, 0, 9, &v, &present, &err), 0);
  CU_ASSERT_FALSE(present);
  CU_ASSERT_EQUAL(v, 5);
  CU_ASSERT_EQUAL(ec__get_int(o, "i", "", true, 6, 9, &v, NULL, &err),
                  EC_ESEMANTIC);
  CU_ASSERT_STRING_EQUAL(err.title, "out-of-range");
  CU_ASSERT_EQUAL(ec__get_int(o, "r", "", true, 0, 9, &v, NULL, &err),
                  EC_EBADDOC);
  CU_ASSERT_STRING_EQUAL(err.title, "invalid-type");
  CU_ASSERT_EQUAL(ec__get_int(o, "n", "", true, 0, 999, &v, NULL, &err),
                  EC_EBADDOC);
  CU_ASSERT_EQUAL(ec__get_int_lenient(o, "n", "", true, 0, 999, &v, NULL, &err),
                  0);
  CU_ASSERT_EQUAL(v, 101);
  CU_ASSERT_EQUAL(
      ec__get_int_lenient(o, "neg", "", true, -9, 9, &v, NULL, &err), 0);
  CU_ASSERT_EQUAL(v, -7);
  CU_ASSERT_EQUAL(ec__get_int_lenient(o, "i", "", true, 0, 9, &v, NULL, &err),
                  0);
  CU_ASSERT_EQUAL(ec__get_int_lenient(o, "bad", "", true, 0, 9, &v, NULL, &err),
                  EC_EBADDOC);
  CU_ASSERT_EQUAL(ec__get_int_lenient(o, "sp", "", true, 0, 9, &v, NULL, &err),
                  EC_EBADDOC);
  CU_ASSERT_EQUAL(ec__get_int_lenient(o, "r", "", true, 0, 9, &v, NULL, &err),
                  EC_EBADDOC);
  CU_ASSERT_EQUAL(ec__get_int_lenient(o, "big", "", true, 0, 9, &v, NULL, &err),
                  EC_ESEMANTIC);
  static const char *const allowed[] = {"s", "i", "r", "n", "neg", NULL};
  CU_ASSERT_EQUAL(ec__check_keys(o, "top", allowed, &err), EC_EBADDOC);
  CU_ASSERT_STRING_EQUAL(err.title, "unknown-key");
  CU_ASSERT_STRING_EQUAL(err.field, "top.bad"); /* first in document order */
  json_decref(o);
  char path[8];
  ec__path_key(path, sizeof path, "", "k");
  CU_ASSERT_STRING_EQUAL(path, "k");
  ec__path_key(path, sizeof path, "a", "k");
  CU_ASSERT_STRING_EQUAL(path, "a.k");
  ec__path_index(path, sizeof path, "comp", 12);
  CU_ASSERT_STRING_EQUAL(path, "comp[12");
  CU_ASSERT_EQUAL(ec__fail(NULL, EC_ESYNTAX, "t", NULL, "x"), EC_ESYNTAX);
}

static void test_problem_details_both_forms(void) {
  char json[256];
  ssize_t n = ec_problem_encode(EC_FORMAT_JSON, "invalid-state", "bad state",
                                150, "status.state", (uint8_t *)json, sizeof json);
  static const char want_json[] = "{\"title\":\"invalid-state\",\"detail\":"
      "\"bad state\",\"response-code\":\"4.22\",\"field\":\"status.state\"}";
  CU_ASSERT_EQUAL_FATAL(n, (ssize_t)LEN(want_json));
  CU_ASSERT_EQUAL(memcmp(json, want_json, (size_t)n), 0);
  uint8_t cbor[64];
  static const uint8_t want_cbor[] =
      "\xA4\x20\x61t\x21\x61" "d" "\x23\x18\x96\x38\xFF\x61" "f";
  n = ec_problem_encode(EC_FORMAT_PROBLEM_CBOR, "t", "d", 150, "f", cbor, sizeof cbor);
  CU_ASSERT_EQUAL_FATAL(n, (ssize_t)LEN(want_cbor));
  CU_ASSERT_EQUAL(memcmp(cbor, want_cbor, LEN(want_cbor)), 0);
  CU_ASSERT_EQUAL(ec_problem_encode(EC_FORMAT_CBOR, "t", "d", 150, "f", NULL, 0), n);
  ec_problem_t p;
  CU_ASSERT_EQUAL_FATAL(ec_problem_decode(EC_FORMAT_PROBLEM_CBOR, cbor, (size_t)n, &p, &arena), 0);
  CU_ASSERT_STRING_EQUAL(p.title, "t");
  CU_ASSERT_STRING_EQUAL(p.detail, "d");
  CU_ASSERT_STRING_EQUAL(p.field, "f");
  CU_ASSERT_EQUAL(p.coap_code, 150);
  n = ec_problem_encode(EC_FORMAT_JSON, "malformed-body", NULL, 128, "", (uint8_t *)json, sizeof json);
  CU_ASSERT_EQUAL_FATAL(ec_problem_decode(EC_FORMAT_JSON, (uint8_t *)json, (size_t)n, &p, &arena), 0);
  CU_ASSERT_STRING_EQUAL(p.title, "malformed-body");
  CU_ASSERT_PTR_NULL(p.detail);
  CU_ASSERT_PTR_NULL(p.field);
  CU_ASSERT_EQUAL(p.coap_code, 128);
  CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"4.00\""));
  static const char odd[] = "{\"response-code\":\"5.03\",\"type\":\"x\"}";
  CU_ASSERT_EQUAL(ec_problem_decode(EC_FORMAT_JSON, (const uint8_t *)odd, LEN(odd), &p, &arena), 0);
  CU_ASSERT_EQUAL(p.coap_code, 163);
  CU_ASSERT_PTR_NULL(p.title);
  static const char *const bad[] = {"{\"response-code\":\"4.2\"}", "{\"response-code\":\"4.32\"}",
                                    "{\"response-code\":300}", "{\"title\":1}", "[]"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CU_ASSERT_EQUAL(ec_problem_decode(EC_FORMAT_JSON, (const uint8_t *)bad[i],
                                      strlen(bad[i]), &p, &arena), EC_EBADDOC);
  }
  CU_ASSERT_EQUAL(ec_problem_encode(EC_FORMAT_JSON, "t", "d", 256, NULL, NULL, 0), EC_EINVAL);
  CU_ASSERT_EQUAL(ec_problem_encode(EC_FORMAT_JSON, "\xFF", "d", 150, NULL, NULL, 0), EC_EINVAL);
}

static void test_time_format(void) {
  static const struct {
    int64_t ms;
    const char *want;
  } cases[] = {
      {0, "1970-01-01T00:00:00.000Z"},
      {INT64_C(1529247010033), "2018-06-17T14:50:10.033Z"},
      {-1, "1969-12-31T23:59:59.999Z"},
      {INT64_C(951782400000), "2000-02-29T00:00:00.000Z"},
      {INT64_C(-62167219200000), "0000-01-01T00:00:00.000Z"},
      {INT64_C(253402300799999), "9999-12-31T23:59:59.999Z"},
  };
  char out[32];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    CU_ASSERT_EQUAL(ec_time_format_ms(cases[i].ms, out), 24);
    CU_ASSERT_STRING_EQUAL(out, cases[i].want);
  }
  CU_ASSERT_EQUAL(ec_time_format_ms(INT64_C(-62167219200001), out), EC_EINVAL);
  CU_ASSERT_EQUAL(ec_time_format_ms(INT64_C(253402300800000), out), EC_EINVAL);
  CU_ASSERT_EQUAL(ec_time_format_ms(INT64_MIN, out), EC_EINVAL);
  /* Every formatted time parses back to itself. */
  for (int64_t ms = INT64_C(-62167219200000); ms < INT64_C(253402300799999);
       ms += INT64_C(8640000007)) {
    int64_t back = 0;
    CU_ASSERT_EQUAL_FATAL(ec_time_format_ms(ms, out), 24);
    CU_ASSERT_EQUAL(ec_time_parse_ms(out, 24, &back), 0);
    CU_ASSERT_EQUAL(back, ms);
  }
}

static void test_time_parse_offsets_leap_days_and_bad_dates(void) {
  static const struct {
    const char *s;
    int64_t ms; /* -1: must be refused */
  } cases[] = {
      {"2018-06-17T14:50:10.033Z", INT64_C(1529247010033)},
      {"2018-06-17t14:50:10.033z", INT64_C(1529247010033)},
      {"2018-06-17T14:50:10.033", INT64_C(1529247010033)},
      {"2018-06-17T16:50:10.033+02:00", INT64_C(1529247010033)},
      {"2018-06-17T09:20:10.033-05:30", INT64_C(1529247010033)},
      {"2018-06-17T14:50:10.0339999Z", INT64_C(1529247010033)},
      {"2018-06-17T14:50:10.03Z", INT64_C(1529247010030)},
      {"2018-06-17T14:50:10Z", INT64_C(1529247010000)},
      {"2020-02-29T00:00:00Z", INT64_C(1582934400000)},
      {"2000-02-29T00:00:00Z", INT64_C(951782400000)},
      {"2016-12-31T23:59:60Z", INT64_C(1483228800000)},
      {"9999-12-31T23:59:59.999Z", INT64_C(253402300799999)},
      {"2019-02-29T00:00:00Z", -1}, {"1900-02-29T00:00:00Z", -1},
      {"2018-13-01T00:00:00Z", -1}, {"2018-00-10T00:00:00Z", -1},
      {"2018-04-31T00:00:00Z", -1}, {"2018-01-32T00:00:00Z", -1},
      {"2018-01-00T00:00:00Z", -1}, {"2018-06-17T24:00:00Z", -1},
      {"2018-06-17T23:60:00Z", -1}, {"2018-06-17T23:59:61Z", -1},
      {"2018-06-17 14:50:10Z", -1}, {"2018-06-17T14:50:10.Z", -1},
      {"2018-06-17T14:50:10+0200", -1}, {"2018-06-17T14:50:10+24:00", -1},
      {"2018-06-17T14:50:10+02:60", -1}, {"2018-6-17T14:50:10Z", -1},
      {"2018-06-17T14:50:10Zjunk", -1}, {"2018-06-17", -1}, {"", -1},
      {"0000-01-01T00:30:00+01:00", -1}, {"9999-12-31T23:59:60Z", -1},
      {"+018-06-17T14:50:10Z", -1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int64_t ms = 42;
    int rc = ec_time_parse_ms(cases[i].s, strlen(cases[i].s), &ms);
    CU_ASSERT_EQUAL(rc, cases[i].ms < 0 ? EC_EBADDOC : 0);
    CU_ASSERT_EQUAL(ms, cases[i].ms < 0 ? 42 : cases[i].ms);
  }
  int64_t ms;
  CU_ASSERT_EQUAL(ec_time_parse_ms("2018-06-17T14:50:10.033Zxyz", 24, &ms), 0);
  CU_ASSERT_EQUAL(ms, INT64_C(1529247010033));
  CU_ASSERT_EQUAL(ec_time_parse_ms(NULL, 3, &ms), EC_EINVAL);
}

static void test_states_uuid_and_rollup_precedence(void) {
  CU_ASSERT_EQUAL(ec_state_parse("pending", 7), EC_STATE_PENDING);
  CU_ASSERT_EQUAL(ec_state_parse("REMOVED", 7), EC_STATE_REMOVED);
  CU_ASSERT_EQUAL(ec_state_parse("Installedx", 9), EC_STATE_INSTALLED);
  CU_ASSERT_EQUAL(ec_state_parse("Installedx", 10), EC_EBADDOC);
  CU_ASSERT_EQUAL(ec_state_parse("", 0), EC_EBADDOC);
  CU_ASSERT_STRING_EQUAL(ec_state_name(EC_STATE_INSTALLING), "Installing");
  CU_ASSERT_PTR_NULL(ec_state_name(EC_STATE_COUNT));
  CU_ASSERT_TRUE(ec_uuid_valid(UUID, 36));
  CU_ASSERT_TRUE(ec_uuid_valid("A3E2F5DC-912E-494F-8395-52CF3769BC06", 36));
  CU_ASSERT_FALSE(ec_uuid_valid(UUID, 35));
  CU_ASSERT_FALSE(ec_uuid_valid("a3e2f5dc9-12e-494f-8395-52cf3769bc06", 36));
  CU_ASSERT_FALSE(ec_uuid_valid("g3e2f5dc-912e-494f-8395-52cf3769bc06", 36));
#define P EC_STATE_PENDING
#define IG EC_STATE_INSTALLING
#define ID EC_STATE_INSTALLED
#define F EC_STATE_FAILED
#define RG EC_STATE_REMOVING
#define RD EC_STATE_REMOVED
  static const struct {
    ec_state_t in[4];
    size_t n;
    ec_state_t want;
  } cases[] = {
      {{P}, 0, P},           {{ID}, 1, ID},          {{ID, RD}, 2, RD},
      {{RD, P, ID}, 3, P},   {{P, IG, ID}, 3, IG},   {{IG, RG, RD}, 3, RG},
      {{RG, F, ID, P}, 4, F}, {{ID, ID}, 2, ID},     {{EC_STATE_COUNT, ID}, 2, ID},
  };
#undef P
#undef IG
#undef ID
#undef F
#undef RG
#undef RD
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    CU_ASSERT_EQUAL(ec_state_rollup(cases[i].in, cases[i].n), cases[i].want);
  }
  CU_ASSERT_EQUAL(ec_state_rollup(NULL, 0), EC_STATE_PENDING);
}

static void test_history_roundtrip_and_corrupt_report(void) {
  ec_deployment_status_t st;
  ec_codec_error_t err = {0};
  CU_ASSERT_EQUAL_FATAL(decode_both(full_doc, LEN(full_doc), &st, &err), 0);
  uint8_t r1[1024], r2[1024];
  ssize_t n1 = ec_deployment_status_encode(EC_FORMAT_CBOR, &st, r1, sizeof r1);
  st.state = EC_STATE_INSTALLED;
  st.has_error = false;
  ssize_t n2 = ec_deployment_status_encode(EC_FORMAT_CBOR, &st, r2, sizeof r2);
  CU_ASSERT_FATAL(n1 > 0 && n2 > 0);
  ec_history_entry_t e[2] = {{1, INT64_C(1529247010033), r1, (size_t)n1},
                             {2, INT64_C(1529247010034), r2, (size_t)n2}};
  for (int f = 0; f < 2; f++) {
    ec_format_t fmt = f ? EC_FORMAT_CBOR : EC_FORMAT_JSON;
    static uint8_t buf[4096];
    ssize_t n = ec_history_encode(fmt, e, 2, buf, sizeof buf);
    CU_ASSERT_FATAL(n > 0 && (size_t)n < sizeof buf);
    CU_ASSERT_EQUAL(ec_history_encode(fmt, e, 2, NULL, 0), n);
    if (fmt == EC_FORMAT_JSON) {
      buf[n] = '\0';
      static const char head[] = "{\"reports\":[{\"seq\":1,\"receivedAt\":"
          "\"2018-06-17T14:50:10.033Z\",\"report\":{\"apiVersion\"";
      CU_ASSERT_EQUAL(strncmp((char *)buf, head, LEN(head)), 0);
    }
    ec_history_item_t *items = NULL;
    size_t count = 0;
    CU_ASSERT_EQUAL_FATAL(ec_history_decode(fmt, buf, (size_t)n, &items, &count, &arena, &err), 0);
    CU_ASSERT_EQUAL_FATAL(count, 2);
    CU_ASSERT_EQUAL(items[1].seq, 2);
    CU_ASSERT_EQUAL(items[1].received_at_ms, INT64_C(1529247010034));
    CU_ASSERT_EQUAL(items[0].report.state, EC_STATE_FAILED);
    CU_ASSERT_TRUE(items[0].report.has_error);
    CU_ASSERT_STRING_EQUAL(items[0].report.error.source, "agent");
    CU_ASSERT_EQUAL(items[1].report.state, EC_STATE_INSTALLED);
    CU_ASSERT_EQUAL(items[1].report.n_components, 2);
  }
  ec_history_entry_t bad = {1, 0, (const uint8_t *)"\xA1", 1};
  CU_ASSERT_EQUAL(ec_history_encode(EC_FORMAT_JSON, &bad, 1, NULL, 0), EC_ESYNTAX);
  bad.report = (const uint8_t *)"\x80";
  CU_ASSERT_EQUAL(ec_history_encode(EC_FORMAT_JSON, &bad, 1, NULL, 0), EC_ESYNTAX);
  CU_ASSERT_EQUAL(ec_history_encode(EC_FORMAT_JSON, NULL, 0, NULL, 0), 14);
  static const char bad_state[] = "{\"reports\":[{\"seq\":1,\"receivedAt\":\"2018-06-17T14:50:10Z\","
      "\"report\":{\"apiVersion\":\"v\",\"kind\":\"DeploymentStatus\",\"deploymentId\":\"" UUID
      "\",\"status\":{\"state\":\"x\"},\"components\":[]}}]}";
  ec_history_item_t *items;
  size_t count;
  CU_ASSERT_EQUAL(ec_history_decode(EC_FORMAT_JSON, (const uint8_t *)bad_state,
                                    LEN(bad_state), &items, &count, &arena, &err),
                  EC_ESEMANTIC);
  CU_ASSERT_STRING_EQUAL(err.field, "reports[0].report.status.state");
}

static void test_deployments_roundtrip(void) {
  ec_deployment_summary_t list[2] = {
      {UUID, EC_STATE_INSTALLED, INT64_C(1529247010033)},
      {"00000000-0000-0000-0000-000000000000", EC_STATE_REMOVING, 0}};
  static const char want[] =
      "{\"deployments\":[{\"deploymentId\":\"" UUID "\",\"state\":\"Installed\","
      "\"updatedAt\":\"2018-06-17T14:50:10.033Z\"},{\"deploymentId\":"
      "\"00000000-0000-0000-0000-000000000000\",\"state\":\"Removing\","
      "\"updatedAt\":\"1970-01-01T00:00:00.000Z\"}]}";
  uint8_t buf[512];
  ssize_t n = ec_deployments_encode(EC_FORMAT_JSON, list, 2, buf, sizeof buf);
  CU_ASSERT_EQUAL_FATAL(n, (ssize_t)LEN(want));
  CU_ASSERT_EQUAL(memcmp(buf, want, LEN(want)), 0);
  n = ec_deployments_encode(EC_FORMAT_CBOR, list, 2, buf, sizeof buf);
  ec_deployment_summary_t *out = NULL;
  size_t count = 0;
  ec_codec_error_t err = {0};
  CU_ASSERT_EQUAL_FATAL(ec_deployments_decode(EC_FORMAT_CBOR, buf, (size_t)n, &out, &count, &arena, &err), 0);
  CU_ASSERT_EQUAL_FATAL(count, 2);
  CU_ASSERT_STRING_EQUAL(out[0].deployment_id, UUID);
  CU_ASSERT_EQUAL(out[1].state, EC_STATE_REMOVING);
  CU_ASSERT_EQUAL(out[0].updated_at_ms, INT64_C(1529247010033));
  static const char *const bad[] = {
      "{\"deployments\":[{\"deploymentId\":\"x\",\"state\":\"Nope\",\"updatedAt\":\"2018-06-17T14:50:10Z\"}]}",
      "{\"deployments\":[{\"deploymentId\":\"x\",\"state\":\"Failed\",\"updatedAt\":\"yesterday\"}]}",
      "{\"deployments\":{}}"};
  static const char *const fields[] = {"deployments[0].state", "deployments[0].updatedAt", "deployments"};
  static const int codes[] = {EC_ESEMANTIC, EC_EBADDOC, EC_EBADDOC};
  for (size_t i = 0; i < 3; i++) {
    CU_ASSERT_EQUAL(ec_deployments_decode(EC_FORMAT_JSON, (const uint8_t *)bad[i], strlen(bad[i]),
                                          &out, &count, &arena, &err), codes[i]);
    CU_ASSERT_STRING_EQUAL(err.field, fields[i]);
  }
  list[0].state = (ec_state_t)99;
  CU_ASSERT_EQUAL(ec_deployments_encode(EC_FORMAT_JSON, list, 2, NULL, 0), EC_EINVAL);
}

/* Regression (fuzz finding F3): an unknown key of 60 two-byte characters is
 * cut to fit the error's field; the cut must not split a character, or the
 * problem details built from it are refused and the answer loses its body. */
static void test_error_field_cut_keeps_utf8_valid(void) {
  char json[512] = "{\"";
  for (int i = 0; i < 60; i++)
    strcat(json, "\xc3\xa9");
  strcat(json, "\":1}");
  ec_deployment_status_t st;
  ec_codec_error_t err;
  uint8_t mem[4096];
  ec_arena_t a;
  ec_arena_init(&a, mem, sizeof mem);
  CU_ASSERT_EQUAL(ec_deployment_status_decode(EC_FORMAT_JSON,
                                              (const uint8_t *)json,
                                              strlen(json), &st, &a, &err),
                  EC_EBADDOC);
  CU_ASSERT_STRING_EQUAL(err.title, "unknown-key");
  CU_ASSERT_TRUE(ec__utf8_valid(err.field, strlen(err.field)));
  CU_ASSERT_TRUE(ec__utf8_valid(err.detail, strlen(err.detail)));
  uint8_t out[1024];
  CU_ASSERT_TRUE(ec_problem_encode(EC_FORMAT_JSON, err.title, err.detail, 128,
                                   err.field, out, sizeof out) > 0);
}

static const ec_test_t tests[] = {
    {test_error_field_cut_keeps_utf8_valid, "error_field_cut_keeps_utf8_valid"},
    {test_strerror_names_every_code, "strerror names every code"},
    {test_arena_aligns_and_reports_full, "arena aligns and reports full"},
    {test_arena_full_leaves_arena_unchanged, "a full arena leaves the arena unchanged"},
    {test_format_sniff, "format sniff"},
    {test_seed_example_with_misspelt_message_key_is_accepted, "seed example with misspelt message key is accepted"},
    {test_every_validation_rule_in_both_formats, "every validation rule in both formats"},
    {test_document_shape_errors, "document shape errors"},
    {test_real_error_is_stored_with_source, "a real error is stored with its source"},
    {test_component_count_is_capped, "component count is capped"},
    {test_route_must_match_case_insensitively, "route must match case-insensitively"},
    {test_roundtrip_json_struct_cbor_struct_json, "round trip JSON -> struct -> CBOR -> struct -> JSON"},
    {test_encode_measures_and_reports_needed_length, "encode measures and reports the needed length"},
    {test_every_truncation_fails_cleanly, "every truncation fails cleanly"},
    {test_hostile_cbor_fails_cleanly, "hostile CBOR fails cleanly"},
    {test_hostile_json_fails_cleanly, "hostile JSON fails cleanly"},
    {test_depth_cap_in_both_formats, "depth cap in both formats"},
    {test_text_and_item_caps_in_both_formats, "text and item caps in both formats"},
    {test_transcoder_writes_shortest_heads, "transcoder writes shortest heads"},
    {test_cbor_to_json_int_keys_and_nul, "CBOR to JSON: integer keys and NUL"},
    {test_tree_write_int_keys_only_when_canonical, "tree write: integer keys only when canonical"},
    {test_typed_readers, "typed readers"},
    {test_problem_details_both_forms, "problem details in both forms"},
    {test_time_format, "time format"},
    {test_time_parse_offsets_leap_days_and_bad_dates, "time parse: offsets, leap days, bad dates"},
    {test_states_uuid_and_rollup_precedence, "states, UUIDs and rollup precedence"},
    {test_history_roundtrip_and_corrupt_report, "history round trip and corrupt report"},
    {test_deployments_roundtrip, "deployments round trip"},
};

int main(int argc, char **argv) {
  if (argc > 1) {
    data_dir = argv[1];
  }
  ec_arena_init(&arena, arena_mem, sizeof arena_mem);
  return ec_test_main("codec", tests, EC_TEST_COUNT(tests), NULL, NULL, NULL);
}
