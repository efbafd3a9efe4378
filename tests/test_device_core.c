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
  for (; n < ec_dev_n_cases && n < 64; n++) {
    tests[n] = (ec_test_t){ec_dev_cases[n].fn, ec_dev_cases[n].name};
  }
  return ec_test_main("device_core", tests, n, NULL, NULL, NULL);
}
