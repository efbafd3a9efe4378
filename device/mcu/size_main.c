/* edgecoap device core: the smallest whole device program, for the Cortex-M size check (scripts/build-mcu). */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdint.h>
#include <string.h>

#include "edgecoap/device.h"

/*
 * What a device that reports its deployment status and observes it links:
 * the core, a transport and a main loop. The transport here writes to a
 * memory-mapped "radio" and reads a tick counter, which is all a real port
 * adds in size terms. Datagram buffers are on main's stack: they are the
 * caller's, left out of the static RAM budget; the core's state (ec_dev_t)
 * is static and counted.
 *
 * Built with EC_MCU_PROV, it also reads its provisioning (a GET with the
 * session token, the select answer decoded row by row), the program the
 * budget holds (scripts/build-mcu).
 *
 * Built with EC_MCU_MSG, it also posts an ON-API status message and reads
 * the statusMessageID it was given (printed, not held to the budget).
 *
 * Built with EC_MCU_OUTBOX, it reports through the durable outbox instead,
 * over two pages of memory-mapped flash programmed through a flash
 * controller's registers (its record buffers on the stack too, its state
 * and slots static).
 */

static volatile uint32_t radio_tx;    /* stands in for a radio's FIFO */
static volatile uint32_t ticks;       /* incremented by a SysTick handler */
static uint32_t seed = 1;

static int radio_send(void *ctx, const uint8_t *d, size_t len) {
  (void)ctx;
  for (size_t i = 0; i < len; i++) {
    radio_tx = d[i];
  }
  return 0;
}
static uint32_t tick_ms(void *ctx) {
  (void)ctx;
  return ticks;
}
static void lcg(void *ctx, void *buf, size_t len) {
  (void)ctx;
  uint8_t *p = buf;
  while (len-- > 0) {
    seed = seed * 1664525u + 1013904223u;
    *p++ = (uint8_t)(seed >> 24);
  }
}

static const ec_dev_transport_t radio = {radio_send, tick_ms, lcg, NULL, NULL};
static ec_dev_t dev;
static volatile int shown_state;

#ifdef EC_MCU_OUTBOX
/* Two flash pages of 256 bytes: one deployment, one spare. */
#define PAGE 256
#define FLASH_PAGES ((const volatile uint8_t *)0x0003F000u)
static volatile uint32_t flash_erase; /* stands in for the controller */
static volatile uint32_t flash_data;

static int page_read(void *ctx, unsigned slot, void *buf, size_t len) {
  (void)ctx;
  uint8_t *p = buf;
  for (size_t i = 0; i < len; i++) {
    p[i] = FLASH_PAGES[slot * PAGE + i];
  }
  return 0;
}
static int page_write(void *ctx, unsigned slot, const void *rec, size_t len) {
  (void)ctx;
  const uint8_t *p = rec;
  flash_erase = slot;
  for (size_t i = 0; i < len; i++) {
    flash_data = p[i];
  }
  return 0;
}

static const ec_dev_storage_t pages = {page_read, page_write, NULL, 2, PAGE};
static ec_dev_outbox_t outbox;
static ec_dev_outbox_slot_t slots[2];
#endif

static void on_status(ec_dev_t *d, void *user, const ec_dev_answer_t *a) {
  (void)d;
  (void)user;
  ec_dev_status_view_t v;
  if (a->result == 0 &&
      ec_dev_status_decode(a->payload, a->payload_len, &v, NULL, NULL) == 0) {
    shown_state = (int)v.state;
  } else {
    ec_dev_problem_t p;
    shown_state = ec_dev_problem_decode(a->payload, a->payload_len, &p) == 0
                      ? -p.code
                      : -1;
  }
}

static const ec_dev_component_t comps[] = {
    {"app", EC_DEV_INSTALLED, {NULL, NULL, NULL}}};
static const ec_dev_status_t status = {
    "deployment.margo/v1", NULL, "a3e2f5dc-912e-494f-8395-52cf3769bc06", NULL,
    0, EC_DEV_INSTALLED, {NULL, NULL, NULL}, comps, 1};

#ifdef EC_MCU_PROV
static volatile int64_t shown_component;
static const uint8_t session_token[32] = {0x5e, 0x55, 0x10, 0x4};

static int on_row(void *ctx, size_t idx, const ec_dev_prov_row_t *row) {
  (void)ctx;
  (void)idx;
  shown_component = row->active_status == 0 ? row->component_id : -1;
  return 0;
}

static void on_prov(ec_dev_t *d, void *user, const ec_dev_answer_t *a) {
  (void)d;
  (void)user;
  if (a->result != 0 ||
      ec_dev_prov_decode(a->payload, a->payload_len, on_row, NULL, NULL) < 0) {
    shown_component = -1;
  }
}
#endif

#ifdef EC_MCU_MSG
static volatile int64_t posted_id;
static void on_posted(ec_dev_t *d, void *user, const ec_dev_answer_t *a) {
  (void)d;
  (void)user;
  ec_dev_msg_t m;
  posted_id = a->result == 0 &&
                      ec_dev_msg_decode(a->payload, a->payload_len, &m) == 0
                  ? m.id
                  : -1;
}
#endif

#ifdef EC_MCU_OUTBOX
static void on_sent(void *user, uint32_t seq, const char *deployment_id,
                    const ec_dev_answer_t *a) {
  (void)seq;
  (void)deployment_id;
  on_status(&dev, user, a);
}
#endif

int main(void) {
  uint8_t observe_buf[96];
  uint8_t rx[256];
  ec_dev_init(&dev, &radio);
#ifdef EC_MCU_OUTBOX
  uint8_t outbox_buf[PAGE + 128];
  uint8_t record[PAGE];
  ec_dev_outbox_init(&outbox, &dev, &pages, slots, "dev1", outbox_buf,
                     sizeof outbox_buf, on_sent, NULL);
  ec_dev_outbox_put(&outbox, &status, record, sizeof record);
#else
  uint8_t report_buf[256];
  ec_dev_report(&dev, "dev1", &status, report_buf, sizeof report_buf,
                on_status, NULL);
#endif
  ec_dev_observe(&dev, "dev1", status.deployment_id, observe_buf,
                 sizeof observe_buf, on_status, NULL);
#ifdef EC_MCU_PROV
  uint8_t prov_buf[160];
  uint8_t prov_body[1024];
  int px = ec_dev_prov_get(&dev, 1, session_token, sizeof session_token,
                           false, prov_buf, sizeof prov_buf, on_prov, NULL);
  ec_dev_set_body(&dev, px, prov_body, sizeof prov_body);
#endif
#ifdef EC_MCU_MSG
  static ec_dev_msg_new_t msg;
  uint8_t msg_buf[160];
  msg.code = 101;
  msg.has_date = true;
  msg.date_ms = (int64_t)ticks * 1000; /* a clock set by SNTP, say */
  msg.order_id = "O1";
  ec_dev_msg_post(&dev, &msg, 1, false, NULL, 0, msg_buf, sizeof msg_buf,
                  on_posted, NULL);
#endif
  for (;;) {
    size_t n = (size_t)radio_tx; /* a received datagram's length, if any */
    ec_dev_step(&dev, ticks, n > 0 ? rx : NULL, n > sizeof rx ? sizeof rx : n);
  }
}
