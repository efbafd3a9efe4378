/* edgecoap tests: a long-running device over coaps://, the device core's outbox on its POSIX port and DTLS hook, driven line by line. */
/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Usage: it_dtls_device HOST PORT IDENTITY DEVICE DEPLOYMENT OUTBOX_DIR,
 * the key in $EDGECOAP_PSK_KEY (as admin device-add printed it). One
 * handshake at start, then one session for as long as the program runs:
 * each line "report STATE" (Pending, Installing, Installed...) on
 * standard input puts a report into the outbox, and each report delivered
 * is printed as "delivered SEQ CODE MS", MS the milliseconds since its
 * line came. The program handshakes again only when ec_dev_dtls_up()
 * turned false, as docs/DEVICE.md asks of a device; what the port does by
 * itself (device/posix/dtls.c) is what tests/it_cluster_dtls.sh checks.
 * It ends at the end of its input. tests/CMakeLists.txt builds the core
 * and the ports again for it with CoAP's timers shortened, so that an
 * exchange's retransmissions are spent in seconds.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "edgecoap/device_dtls.h"

#define SLOTS 2
#define SLOT_SIZE 512

static ec_dev_udp_t udp;
static ec_dev_t dev;
static ec_dev_file_slots_t files;
static ec_dev_outbox_t outbox;
static ec_dev_outbox_slot_t slots[SLOTS];
static uint8_t outbox_buf[SLOT_SIZE + 192];
static uint8_t record[SLOT_SIZE];
static uint8_t rx[4096];
static uint64_t put_at;

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void on_outbox(void *user, uint32_t seq, const char *deployment_id,
                      const ec_dev_answer_t *a) {
  (void)user;
  (void)deployment_id;
  printf("delivered %u %d.%02d %llu\n", (unsigned)seq, a->code >> 5,
         a->code & 31, (unsigned long long)(now_ms() - put_at));
}

/* One line of input: a report of the state it names. */
static int command(const char *line, const char *deployment) {
  static const ec_dev_component_t comp = {"app", EC_DEV_INSTALLED,
                                          {NULL, NULL, NULL}};
  if (strncmp(line, "report ", 7) != 0) {
    fprintf(stderr, "it_dtls_device: unknown command: %s\n", line);
    return -1;
  }
  int state = ec_dev_state_parse(line + 7, strlen(line + 7));
  if (state < 0) {
    fprintf(stderr, "it_dtls_device: unknown state: %s\n", line + 7);
    return -1;
  }
  ec_dev_status_t st = {"deployment.margo/v1", NULL, deployment, NULL, 0,
                        (ec_dev_state_t)state, {NULL, NULL, NULL}, &comp, 1};
  put_at = now_ms();
  int rc = ec_dev_outbox_put(&outbox, &st, record, sizeof record);
  if (rc < 0) {
    fprintf(stderr, "it_dtls_device: put: error %d\n", rc);
  }
  return rc;
}

int main(int argc, char **argv) {
  const char *key = getenv("EDGECOAP_PSK_KEY");
  if (argc != 7 || key == NULL) {
    fprintf(stderr, "usage: %s HOST PORT IDENTITY DEVICE DEPLOYMENT OUTBOX_DIR"
                    " (the key in $EDGECOAP_PSK_KEY)\n", argv[0]);
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  ec_dev_dtls_t *d = NULL;
  size_t key_len = strcspn(key, " \t\r\n");
  if (ec_dev_udp_open(&udp, argv[1], (uint16_t)atoi(argv[2])) < 0 ||
      ec_dev_dtls_new(&udp, argv[3], (const uint8_t *)key, key_len, &d) < 0 ||
      ec_dev_file_slots_open(&files, argv[6], SLOTS, SLOT_SIZE) < 0) {
    fprintf(stderr, "it_dtls_device: cannot set up\n");
    return 1;
  }
  ec_dev_init(&dev, &udp.transport);
  if (ec_dev_outbox_init(&outbox, &dev, &files.storage, slots, argv[4],
                         outbox_buf, sizeof outbox_buf, on_outbox, NULL) < 0) {
    fprintf(stderr, "it_dtls_device: cannot use the outbox\n");
    return 1;
  }
  char line[256];
  size_t have = 0;
  uint32_t wait = 0;
  int status = 0;
  for (;;) {
    if (!ec_dev_dtls_up(d)) {
      int rc = ec_dev_dtls_handshake(d, 3000);
      printf("handshake %d\n", rc);
    }
    struct pollfd p = {0, POLLIN, 0};
    if (poll(&p, 1, 0) > 0) {
      ssize_t n = read(0, line + have, sizeof line - 1 - have);
      if (n <= 0) {
        break;
      }
      have += (size_t)n;
      char *nl;
      while ((nl = memchr(line, '\n', have)) != NULL) {
        *nl = '\0';
        if (command(line, argv[5]) < 0) {
          status = 1;
        }
        have -= (size_t)(nl + 1 - line);
        memmove(line, nl + 1, have);
      }
      if (have == sizeof line - 1) {
        have = 0; /* a line too long for a command */
      }
    }
    wait = ec_dev_udp_poll(&udp, &dev, wait < 50 ? wait : 50, rx, sizeof rx);
  }
  ec_dev_dtls_free(d);
  ec_dev_file_slots_close(&files);
  ec_dev_udp_close(&udp);
  return status;
}
