/* edgecoap tests: the device core's unit cases, shared by the host (CUnit) and Cortex-M (semihosting) runners. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_TEST_DEVICE_CASES_H
#define EDGECOAP_TEST_DEVICE_CASES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgecoap/device.h"

/* Each runner defines this: CU_assertImplementation() on the host, a
 * printed failure and a count on the Cortex-M. */
void ec_dev_test_check(bool ok, const char *expr, const char *file, int line);
#define DCHECK(x) ec_dev_test_check((x) ? true : false, #x, __FILE__, __LINE__)

typedef struct {
  void (*fn)(void);
  const char *name;
} ec_dev_case_t;

/* CoAP messages and CBOR documents (tests/test_device_cases.c). */
extern const ec_dev_case_t ec_dev_cases[];
extern const size_t ec_dev_n_cases;
/* Exchanges, requests of any kind, status messages posted
 * (tests/test_device_xchg.c). */
extern const ec_dev_case_t ec_dev_xchg_cases[];
extern const size_t ec_dev_n_xchg_cases;
/* The outbox's (tests/test_device_outbox.c). */
extern const ec_dev_case_t ec_dev_outbox_cases[];
extern const size_t ec_dev_n_outbox_cases;

/* What both case files use (tests/test_device_cases.c): a deployment's
 * ID, the sample report and its CBOR as the server's codec writes it,
 * and ec_test_at_edge(), which copies @p len bytes to the very end of a
 * buffer, so that a read past the input is a read past the array (which
 * ASan reports on the host). */
#define UUID "a3e2f5dc-912e-494f-8395-52cf3769bc06"
#define EC_TEST_REPORT_CBOR_LEN 197
extern const uint8_t ec_test_report_cbor[EC_TEST_REPORT_CBOR_LEN];
extern const ec_dev_status_t ec_test_sample;
const uint8_t *ec_test_at_edge(const uint8_t *p, size_t len);

#endif /* EDGECOAP_TEST_DEVICE_CASES_H */
