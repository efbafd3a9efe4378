/* edgecoap tests: the one CUnit main() every test program runs with. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "suite.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <time.h>

int ec_test_main(const char *suite_name, const ec_test_t *tests, size_t n,
                 CU_InitializeFunc init, CU_CleanupFunc cleanup,
                 const ec_test_after_t *after) {
  struct timespec t0;
  struct timespec t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  if (CU_initialize_registry() != CUE_SUCCESS) {
    fprintf(stderr, "%s: %s\n", suite_name, CU_get_error_msg());
    return 2;
  }
  CU_pSuite suite = CU_add_suite(suite_name, init, cleanup);
  for (size_t i = 0; suite != NULL && i < n; i++) {
    if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL) {
      suite = NULL;
    }
  }
  if (suite == NULL) {
    fprintf(stderr, "%s: %s\n", suite_name, CU_get_error_msg());
    CU_cleanup_registry();
    return 2;
  }
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  /* Failed assertions alone would miss a suite whose set-up failed, as no
   * test of it ran; counting all three misses nothing. */
  unsigned failed = CU_get_number_of_failures() +
                    CU_get_number_of_tests_failed() +
                    CU_get_number_of_suites_failed();
  CU_cleanup_registry();
  if (after != NULL && after->fn != NULL) {
    failed = after->fn(failed, after->ctx);
  }
  if (after != NULL && after->report_as != NULL) {
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "%s: %s in %.1f s\n", after->report_as,
            failed ? "FAILED" : "ok",
            (double)(t1.tv_sec - t0.tv_sec) +
                (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
  }
  return failed ? 1 : 0;
}
