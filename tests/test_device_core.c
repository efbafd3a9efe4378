/* edgecoap tests: the device core's cases run under CUnit on the host. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <CUnit/Basic.h>

#include "suite.h"
#include "test_device_cases.h"

void ec_dev_test_check(bool ok, const char *expr, const char *file, int line) {
  CU_assertImplementation(ok ? CU_TRUE : CU_FALSE, (unsigned)line, expr, file,
                          "", CU_FALSE);
}

int main(void) {
  static ec_test_t tests[64];
  size_t n = 0;
  for (size_t i = 0; i < ec_dev_n_cases && n < 64; i++) {
    tests[n++] = (ec_test_t){ec_dev_cases[i].fn, ec_dev_cases[i].name};
  }
  for (size_t i = 0; i < ec_dev_n_xchg_cases && n < 64; i++) {
    tests[n++] = (ec_test_t){ec_dev_xchg_cases[i].fn, ec_dev_xchg_cases[i].name};
  }
  for (size_t i = 0; i < ec_dev_n_outbox_cases && n < 64; i++) {
    tests[n++] = (ec_test_t){ec_dev_outbox_cases[i].fn, ec_dev_outbox_cases[i].name};
  }
  return ec_test_main("device_core", tests, n, NULL, NULL, NULL);
}
