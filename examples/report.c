/* edgecoap example: a device that reports its deployment status and observes it, on the device core over plain UDP. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgecoap/device_posix.h"

#ifndef EDGECOAP_VERSION
#define EDGECOAP_VERSION "unknown"
#endif

static const char usage[] =
    "usage: %s [--host H] [--port P] [--count N] [--outbox DIR] DEVICE DEPLOYMENT\n"
    "\n"
    "Reports Installing, observes the status, and from each notification that\n"
    "shows the last report sends the next one (Installing, Installed, ...),\n"
    "N reports in all, then ends once the server shows the last.\n"
    "\n"
    "  --host H      the server's address or name (127.0.0.1)\n"
    "  --port P      its UDP port (5683)\n"
    "  --count N     reports to send (2; 0 with --outbox: only replay)\n"
    "  --outbox DIR  report through a durable outbox kept in DIR (made if\n"
    "                missing): what an earlier run left unanswered is sent\n"
    "                again first, with its Request-Id, so the server stores\n"
    "                it once\n"
    "  --help, --version\n";

/*
 * Every buffer is static: the core allocates nothing, and neither does
 * this program after start-up.
 */

static const ec_dev_component_t comps[2][2] = {
    {{"app", EC_DEV_INSTALLING, {NULL, NULL, NULL}},
     {"db", EC_DEV_INSTALLED, {NULL, NULL, NULL}}},
    {{"app", EC_DEV_INSTALLED, {NULL, NULL, NULL}},
     {"db", EC_DEV_INSTALLED, {NULL, NULL, NULL}}}};

/* The outbox: the deployment this program reports and one slot spare. */
#define SLOTS 2
#define SLOT_SIZE 512

static struct {
  const char *device;
  ec_dev_t dev;
  ec_dev_status_t st;
  int count;      /* reports to send */
  int sent;       /* reports sent */
  int answered;   /* 2.01/2.04 answers */
  int shown;      /* the state the last notification showed, or -1 */
  bool observing;
  bool done;
  bool replaying; /* the outbox's records of an earlier run go first */
  int failed;     /* exit status when not 0 */
  bool use_outbox;
  ec_dev_file_slots_t files;
  ec_dev_outbox_t outbox;
  ec_dev_outbox_slot_t slots[SLOTS];
  uint8_t outbox_buf[SLOT_SIZE + 192];
  uint8_t record[SLOT_SIZE];
  uint8_t report_buf[512];
  uint8_t observe_buf[128];
} app;

static ec_dev_state_t state_of(int n) {
  return n % 2 == 0 ? EC_DEV_INSTALLING : EC_DEV_INSTALLED;
}

static void on_report(ec_dev_t *dev, void *user, const ec_dev_answer_t *a);
static void on_notify(ec_dev_t *dev, void *user, const ec_dev_answer_t *a);
static void send_report(void);

static void fail(void) {
  app.failed = 1;
  app.done = true;
}

/* Once the last report is both answered and shown by a notification (in
 * either order: the server may notify before its answer arrives), send the
 * next one, or end. */
static void advance(void) {
  if (app.answered == app.sent && app.shown == (int)state_of(app.sent - 1)) {
    app.shown = -1;
    if (app.sent < app.count) {
      send_report();
    } else {
      app.done = true;
    }
  }
}

static void send_report(void) {
  app.st.state = state_of(app.sent);
  app.st.components = comps[app.sent % 2];
  int rc = app.use_outbox
               ? ec_dev_outbox_put(&app.outbox, &app.st, app.record,
                                   sizeof app.record)
               : ec_dev_report(&app.dev, app.device, &app.st, app.report_buf,
                               sizeof app.report_buf, on_report, NULL);
  if (rc < 0) {
    fprintf(stderr, "report: error %d (edgecoap/error.h)\n", rc);
    fail();
    return;
  }
  app.sent++;
  if (app.use_outbox) {
    printf("queued %d\n", app.sent);
  }
}

/* Reports are done: observe the status, or end when there were none. */
static void start(void) {
  if (app.count == 0) {
    app.done = true;
  } else {
    send_report();
  }
}

static void on_report(ec_dev_t *dev, void *user, const ec_dev_answer_t *a) {
  (void)user;
  if (a->result < 0 || (a->code >> 5) != 2) {
    ec_dev_problem_t p;
    if (a->result == 0 && ec_dev_problem_decode(a->payload, a->payload_len, &p) == 0) {
      fprintf(stderr, "report refused %d.%02d: %.*s\n", a->code >> 5,
              a->code & 31, (int)p.detail.len, p.detail.ptr);
    } else {
      fprintf(stderr, "report failed: error %d, code %d.%02d\n", a->result,
              a->code >> 5, a->code & 31);
    }
    fail();
    return;
  }
  app.answered++;
  printf("report %d.%02d\n", a->code >> 5, a->code & 31);
  advance();
  if (!app.observing && !app.done) {
    app.observing = true;
    if (ec_dev_observe(dev, app.device, app.st.deployment_id, app.observe_buf,
                       sizeof app.observe_buf, on_notify, NULL) < 0) {
      fail();
    }
  }
}

/* A record of the outbox has ended: delivered or given up. */
static void on_outbox(void *user, uint32_t seq, const char *deployment_id,
                      const ec_dev_answer_t *a) {
  (void)user;
  if (app.replaying) {
    printf("replayed %u %s %d.%02d\n", (unsigned)seq, deployment_id,
           a->code >> 5, a->code & 31);
    if (ec_dev_outbox_pending(&app.outbox) == 0) {
      app.replaying = false;
      start();
    }
    return;
  }
  on_report(&app.dev, NULL, a);
}

static void on_notify(ec_dev_t *dev, void *user, const ec_dev_answer_t *a) {
  (void)dev;
  (void)user;
  ec_dev_status_view_t v;
  if (a->result < 0 || !a->observing ||
      ec_dev_status_decode(a->payload, a->payload_len, &v, NULL, NULL) < 0) {
    fprintf(stderr, "observe ended: error %d, code %d.%02d\n", a->result,
            a->code >> 5, a->code & 31);
    fail();
    return;
  }
  static const char *const names[] = {"Pending",  "Installing", "Installed",
                                      "Failed",   "Removing",   "Removed"};
  printf("notify %u %s\n", (unsigned)a->observe, names[v.state]);
  app.shown = (int)v.state;
  advance();
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1";
  const char *outbox = NULL;
  unsigned port = 5683;
  int i = 1;
  app.count = 2;
  app.shown = -1;
  setvbuf(stdout, NULL, _IOLBF, 0);
  for (; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
    if (strcmp(argv[i], "--help") == 0) {
      printf(usage, argv[0]);
      return 0;
    }
    if (strcmp(argv[i], "--version") == 0) {
      printf("edgecoap-device-report %s\n", EDGECOAP_VERSION);
      return 0;
    }
    if (i + 1 >= argc) {
      break;
    }
    if (strcmp(argv[i], "--host") == 0) {
      host = argv[i + 1];
    } else if (strcmp(argv[i], "--port") == 0) {
      port = (unsigned)strtoul(argv[i + 1], NULL, 10);
    } else if (strcmp(argv[i], "--count") == 0) {
      app.count = atoi(argv[i + 1]);
    } else if (strcmp(argv[i], "--outbox") == 0) {
      outbox = argv[i + 1];
    } else {
      break;
    }
  }
  if (argc - i != 2 || port == 0 || port > 65535 || app.count < 0 ||
      (app.count == 0 && outbox == NULL)) {
    fprintf(stderr, usage, argv[0]);
    return 2;
  }
  app.device = argv[i];
  app.st = (ec_dev_status_t){"deployment.margo/v1", NULL, argv[i + 1], NULL,
                             0, EC_DEV_INSTALLING, {NULL, NULL, NULL},
                             comps[0], 2};
  static ec_dev_udp_t udp;
  static uint8_t rx[1280];
  if (ec_dev_udp_open(&udp, host, (uint16_t)port) < 0) {
    fprintf(stderr, "cannot reach %s:%u\n", host, port);
    return 1;
  }
  ec_dev_init(&app.dev, &udp.transport);
  if (outbox != NULL) {
    app.use_outbox = true;
    int n = ec_dev_file_slots_open(&app.files, outbox, SLOTS, SLOT_SIZE);
    if (n == 0) {
      n = ec_dev_outbox_init(&app.outbox, &app.dev, &app.files.storage,
                             app.slots, app.device, app.outbox_buf,
                             sizeof app.outbox_buf, on_outbox, NULL);
    }
    if (n < 0) {
      fprintf(stderr, "cannot use the outbox in %s: error %d\n", outbox, n);
      return 1;
    }
    printf("outbox %s: %d to replay\n", outbox, n);
    app.replaying = n > 0;
  }
  if (!app.replaying) {
    start();
  }
  uint32_t wait = 0;
  while (!app.done && wait != EC_DEV_IDLE) {
    wait = ec_dev_udp_poll(&udp, &app.dev, wait, rx, sizeof rx);
  }
  if (!app.done) {
    fprintf(stderr, "nothing left to wait for\n");
    app.failed = 1;
  }
  ec_dev_udp_close(&udp);
  if (app.use_outbox) {
    ec_dev_file_slots_close(&app.files);
  }
  if (app.failed == 0) {
    printf("done %d reports\n", app.sent);
  }
  return app.failed;
}
