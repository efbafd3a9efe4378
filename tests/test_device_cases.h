/* edgecoap tests: the device core's unit cases, shared by the host (CUnit) and Cortex-M (semihosting) runners. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_TEST_DEVICE_CASES_H
#define EDGECOAP_TEST_DEVICE_CASES_H

#include <stdbool.h>
#include <stddef.h>

/* Each runner defines this: CU_assertImplementation() on the host, a
 * printed failure and a count on the Cortex-M. */
void ec_dev_test_check(bool ok, const char *expr, const char *file, int line);
#define DCHECK(x) ec_dev_test_check((x) ? true : false, #x, __FILE__, __LINE__)

typedef struct {
  void (*fn)(void);
  const char *name;
} ec_dev_case_t;

extern const ec_dev_case_t ec_dev_cases[];
extern const size_t ec_dev_n_cases;
/* The outbox's (tests/test_device_outbox.c). */
extern const ec_dev_case_t ec_dev_outbox_cases[];
extern const size_t ec_dev_n_outbox_cases;

#endif /* EDGECOAP_TEST_DEVICE_CASES_H */
