/* edgecoap tests: the client library linked alone reads its CBOR answers with the device core, and no CBOR reader of the codec (libcbor) comes with it. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <CUnit/Basic.h>
#include <string.h>

#include "client_internal.h"
#include "edgecoap/client.h"
#include "suite.h"

/* This program links edgecoap::client and the test runner only
 * (cmake/device-tests.cmake); CTest also checks that it needs no libcbor. */

static _Alignas(max_align_t) uint8_t mem[1 << 14];

/* The codec it links writes CBOR and reads JSON; CBOR it does not read. */
static void test_codec_reads_no_cbor(void) {
  static const ec_deployment_summary_t list[] = {
      {"a3e2f5dc-912e-494f-8395-52cf3769bc06", EC_STATE_INSTALLED,
       1529247010033}};
  uint8_t buf[256];
  char json[256];
  ec_arena_t a;
  ec_deployment_summary_t *out = NULL;
  size_t n = 0;
  ssize_t len = ec_deployments_encode(EC_FORMAT_CBOR, list, 1, buf, sizeof buf);
  CU_ASSERT_TRUE_FATAL(len > 0 && (size_t)len <= sizeof buf);
  ec_arena_init(&a, mem, sizeof mem);
  CU_ASSERT_EQUAL(ec_deployments_decode(EC_FORMAT_CBOR, buf, (size_t)len, &out,
                                        &n, &a, NULL),
                  EC_EFORMAT);
  ssize_t jl = ec_deployments_encode(EC_FORMAT_JSON, list, 1, (uint8_t *)json,
                                     sizeof json);
  CU_ASSERT_TRUE_FATAL(jl > 0 && (size_t)jl <= sizeof json);
  CU_ASSERT_EQUAL(ec_deployments_decode(EC_FORMAT_JSON, (uint8_t *)json,
                                        (size_t)jl, &out, &n, &a, NULL),
                  0);
  CU_ASSERT_EQUAL(n, 1);
  /* The client's reading of the same CBOR: the device core's. */
  ec_arena_init(&a, mem, sizeof mem);
  CU_ASSERT_EQUAL_FATAL(
      ec__client_deployments_cbor(buf, (size_t)len, &out, &n, &a), 0);
  CU_ASSERT_EQUAL_FATAL(n, 1);
  CU_ASSERT_STRING_EQUAL(out[0].deployment_id, list[0].deployment_id);
  CU_ASSERT_EQUAL(out[0].state, EC_STATE_INSTALLED);
  CU_ASSERT_EQUAL(out[0].updated_at_ms, 1529247010033);
}

/* A page of messages and a provisioning answer, written by the codec's
 * CBOR writer, read by the client without the codec's reader. */
static void test_client_reads_cbor(void) {
  static const ec_msg_param_t params[] = {{"k", "v"}};
  static const uint64_t macs[] = {0xfe00ae3544acULL};
  ec_status_message_t m = {.id = 9, .has_date = true, .date_ms = 1, .code = 101,
                           .params = params, .n_params = 1, .order_id = "O",
                           .macs = macs, .n_macs = 1};
  uint8_t buf[512];
  ec_arena_t a;
  ec_status_message_t *out = NULL;
  size_t n = 0;
  ssize_t len = ec_status_messages_encode(EC_FORMAT_CBOR, &m, 1, buf, sizeof buf);
  CU_ASSERT_TRUE_FATAL(len > 0 && (size_t)len <= sizeof buf);
  ec_arena_init(&a, mem, sizeof mem);
  CU_ASSERT_EQUAL_FATAL(ec__client_msgs_cbor(buf, (size_t)len, &out, &n, &a), 0);
  CU_ASSERT_EQUAL_FATAL(n, 1);
  CU_ASSERT_EQUAL(out[0].id, 9);
  CU_ASSERT_EQUAL(out[0].date_ms, 1);
  CU_ASSERT_STRING_EQUAL(out[0].params[0].value, "v");
  CU_ASSERT_EQUAL(out[0].macs[0], macs[0]);
  static const int64_t ids[] = {4, 5};
  ec_prov_result_t r = {.action = EC_PROV_UPDATE, .by_pc_id = true,
                        .provisioning_component_id = {ids, 2, true, true},
                        .active_status = 1};
  ec_prov_result_t got;
  len = ec_prov_result_encode(EC_FORMAT_CBOR, &r, buf, sizeof buf);
  CU_ASSERT_TRUE_FATAL(len > 0 && (size_t)len <= sizeof buf);
  ec_arena_init(&a, mem, sizeof mem);
  CU_ASSERT_EQUAL_FATAL(ec__client_prov_result_cbor(buf, (size_t)len, &got, &a),
                        0);
  CU_ASSERT_TRUE(got.by_pc_id && got.provisioning_component_id.n == 2 &&
                 got.provisioning_component_id.v[1] == 5 &&
                 got.active_status == 1);
}

int main(void) {
  static const ec_test_t tests[] = {
      {test_codec_reads_no_cbor, "codec_reads_no_cbor"},
      {test_client_reads_cbor, "client_reads_cbor"},
  };
  return ec_test_main("client_link", tests, EC_TEST_COUNT(tests), NULL, NULL,
                      NULL);
}
