/* edgecoap tests: the one CUnit main() every test program runs with. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_TESTS_SUITE_H
#define EDGECOAP_TESTS_SUITE_H

#include <CUnit/CUnit.h>
#include <stddef.h>

/** One test of a suite: an entry of a program's {fn, "name"} table. */
typedef struct {
  CU_TestFunc fn;
  const char *name; /**< what CUnit prints; must outlive the run */
} ec_test_t;

/** The number of entries of a test table (an array, not a pointer). */
#define EC_TEST_COUNT(table) (sizeof(table) / sizeof((table)[0]))

/** What a program does once its suite has run. */
typedef struct {
  /**
   * Called with the failure count after the run and after CUnit's registry
   * is released (never when registering the tests failed, as then nothing
   * ran); returns the count to report, e.g. one more when a tear-down of its
   * own failed. May be NULL.
   */
  unsigned (*fn)(unsigned failed, void *ctx);
  void *ctx; /**< passed to fn; owned by the caller */
  /**
   * When not NULL, a last line "<report_as>: ok|FAILED in 1.2 s" on stderr,
   * timed from the call to ec_test_main().
   */
  const char *report_as;
} ec_test_after_t;

/**
 * Register @p tests (@p n of them, run in table order) as one CUnit suite
 * named @p suite_name with the suite set-up @p init and tear-down @p cleanup
 * (either may be NULL), run it in CUnit's verbose basic mode, and release
 * the registry. A failure is any failed assertion, failed test, or suite
 * whose @p init or @p cleanup failed.
 * @param[in] after  what to do once the suite ran, or NULL for nothing
 * @return the process exit status: 0 when nothing failed, 1 when something
 *         did, 2 when CUnit could not set up (its message is on stderr)
 */
int ec_test_main(const char *suite_name, const ec_test_t *tests, size_t n,
                 CU_InitializeFunc init, CU_CleanupFunc cleanup,
                 const ec_test_after_t *after);

#endif /* EDGECOAP_TESTS_SUITE_H */
