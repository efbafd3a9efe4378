/* edgecoap device core: the vector table and reset handler of the Cortex-M size-check image. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdint.h>
#include <string.h>

/* A bare-metal start: the link script puts this table at address 0 and
 * .data already in place (one RAM region), so reset only zeroes .bss and
 * calls main. */
extern uint32_t __bss_start__[], __bss_end__[], __stack_top[];
int main(void);
void ec_mcu_reset(void);

void ec_mcu_reset(void) {
  memset(__bss_start__, 0,
         (size_t)((uintptr_t)__bss_end__ - (uintptr_t)__bss_start__));
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
