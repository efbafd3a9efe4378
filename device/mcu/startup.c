/* edgecoap device core: the vector table and reset handler of the Cortex-M size-check image. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdint.h>

/* A bare-metal start: the link script puts this table at address 0 and
 * .data already in place (one RAM region), so reset only zeroes .bss and
 * calls main. */
extern uint32_t __bss_start__[], __bss_end__[], __stack_top[];
int main(void);
void ec_mcu_reset(void);

void ec_mcu_reset(void) {
  /* A loop, not memset(): the core brings no memset, and the image
   * measures the core, not a C library's. */
  for (volatile uint32_t *p = __bss_start__; p < __bss_end__; p++) {
    *p = 0;
  }
  (void)main();
  for (;;) {
  }
}

/* The first two words of the vector table, typed so that no pointer is
 * converted. */
static const struct {
  uint32_t *sp;
  void (*reset)(void);
} vectors __attribute__((section(".vectors"), used)) = {__stack_top, ec_mcu_reset};
