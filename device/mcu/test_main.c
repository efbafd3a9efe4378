/* edgecoap device core: its unit cases on a Cortex-M under QEMU, printing over semihosting. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdint.h>
#include <stdio.h>

#include "test_device_cases.h"

/* newlib's crt0 (_start, from rdimon.specs) sets up the stack, zeroes .bss
 * and calls main; the table puts it at reset. */
extern uint32_t __stack_top[];
void _start(void);
/* The first two words of the vector table, typed so that no pointer is
 * converted. */
static const struct {
  uint32_t *sp;
  void (*reset)(void);
} vectors __attribute__((section(".vectors"), used)) = {__stack_top, _start};

static unsigned checks, failures;

void ec_dev_test_check(bool ok, const char *expr, const char *file, int line) {
  checks++;
  if (!ok) {
    failures++;
    printf("FAILED %s:%d: %s\n", file, line, expr);
  }
}

static void run(const ec_dev_case_t *cases, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned before = failures;
    cases[i].fn();
    printf("  %s ...%s\n", cases[i].name,
           failures == before ? "passed" : "FAILED");
  }
}

int main(void) {
  run(ec_dev_cases, ec_dev_n_cases);
  run(ec_dev_xchg_cases, ec_dev_n_xchg_cases);
  run(ec_dev_outbox_cases, ec_dev_n_outbox_cases);
  printf("device core on Cortex-M: %u cases, %u checks, %u failed\n",
         (unsigned)(ec_dev_n_cases + ec_dev_n_xchg_cases +
                    ec_dev_n_outbox_cases), checks, failures);
  return failures == 0 ? 0 : 1;
}
