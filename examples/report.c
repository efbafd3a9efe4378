/* edgecoap example: a device that reports its deployment status and observes it, on the device core over plain UDP. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgecoap/device_posix.h"

/*
 * Usage: report [--host H] [--port P] [--count N] DEVICE DEPLOYMENT
 *
 * Reports Installing, observes the status, and from each notification that
 * shows the last report sends the next one (Installing, Installed, ...),
 * N reports in all (default 2), then ends once the server shows the last.
 * Every buffer is static: the core allocates nothing, and neither does
 * this program after start-up.
 */

static const ec_dev_component_t comps[2][2] = {
    {{"app", EC_DEV_INSTALLING, {NULL, NULL, NULL}},
     {"db", EC_DEV_INSTALLED, {NULL, NULL, NULL}}},
    {{"app", EC_DEV_INSTALLED, {NULL, NULL, NULL}},
     {"db", EC_DEV_INSTALLED, {NULL, NULL, NULL}}}};

static struct {
  const char *device;
  ec_dev_status_t st;
  int count;    /* reports to send */
  int sent;     /* reports sent */
  int answered; /* 2.01/2.04 answers */
  int shown;    /* the state the last notification showed, or -1 */
  bool observing;
  bool done;
  int failed;   /* exit status when not 0 */
  uint8_t report_buf[512];
  uint8_t observe_buf[128];
} app;

static ec_dev_state_t state_of(int n) {
  return n % 2 == 0 ? EC_DEV_INSTALLING : EC_DEV_INSTALLED;
}

static void on_report(ec_dev_t *dev, void *user, const ec_dev_answer_t *a);
static void on_notify(ec_dev_t *dev, void *user, const ec_dev_answer_t *a);
static void send_report(ec_dev_t *dev);

/* Once the last report is both answered and shown by a notification (in
 * either order: the server may notify before its answer arrives), send the
 * next one, or end. */
static void advance(ec_dev_t *dev) {
  if (app.answered == app.sent && app.shown == (int)state_of(app.sent - 1)) {
    app.shown = -1;
    if (app.sent < app.count) {
      send_report(dev);
    } else {
      app.done = true;
    }
  }
}

static void send_report(ec_dev_t *dev) {
  app.st.state = state_of(app.sent);
  app.st.components = comps[app.sent % 2];
  int rc = ec_dev_report(dev, app.device, &app.st, app.report_buf,
                         sizeof app.report_buf, on_report, NULL);
  if (rc < 0) {
    fprintf(stderr, "report: error %d (edgecoap/error.h)\n", rc);
    app.failed = 1;
    app.done = true;
    return;
  }
  app.sent++;
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
    app.failed = 1;
    app.done = true;
    return;
  }
  app.answered++;
  printf("report %d.%02d\n", a->code >> 5, a->code & 31);
  advance(dev);
  if (!app.observing) {
    app.observing = true;
    if (ec_dev_observe(dev, app.device, app.st.deployment_id, app.observe_buf,
                       sizeof app.observe_buf, on_notify, NULL) < 0) {
      app.failed = 1;
      app.done = true;
    }
  }
}

static void on_notify(ec_dev_t *dev, void *user, const ec_dev_answer_t *a) {
  (void)user;
  ec_dev_status_view_t v;
  if (a->result < 0 || !a->observing ||
      ec_dev_status_decode(a->payload, a->payload_len, &v, NULL, NULL) < 0) {
    fprintf(stderr, "observe ended: error %d, code %d.%02d\n", a->result,
            a->code >> 5, a->code & 31);
    app.failed = 1;
    app.done = true;
    return;
  }
  static const char *const names[] = {"Pending",  "Installing", "Installed",
                                      "Failed",   "Removing",   "Removed"};
  printf("notify %u %s\n", (unsigned)a->observe, names[v.state]);
  app.shown = (int)v.state;
  advance(dev);
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1";
  unsigned port = 5683;
  int i = 1;
  app.count = 2;
  app.shown = -1;
  setvbuf(stdout, NULL, _IOLBF, 0);
  for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
    if (strcmp(argv[i], "--host") == 0) {
      host = argv[i + 1];
    } else if (strcmp(argv[i], "--port") == 0) {
      port = (unsigned)strtoul(argv[i + 1], NULL, 10);
    } else if (strcmp(argv[i], "--count") == 0) {
      app.count = atoi(argv[i + 1]);
    } else {
      break;
    }
  }
  if (argc - i != 2 || port == 0 || port > 65535 || app.count < 1) {
    fprintf(stderr, "usage: %s [--host H] [--port P] [--count N] DEVICE DEPLOYMENT\n",
            argv[0]);
    return 2;
  }
  app.device = argv[i];
  app.st = (ec_dev_status_t){"deployment.margo/v1", NULL, argv[i + 1], NULL,
                             0, EC_DEV_INSTALLING, {NULL, NULL, NULL},
                             comps[0], 2};
  static ec_dev_udp_t udp;
  static ec_dev_t dev;
  static uint8_t rx[1280];
  if (ec_dev_udp_open(&udp, host, (uint16_t)port) < 0) {
    fprintf(stderr, "cannot reach %s:%u\n", host, port);
    return 1;
  }
  ec_dev_init(&dev, &udp.transport);
  send_report(&dev);
  uint32_t wait = 0;
  while (!app.done && wait != EC_DEV_IDLE) {
    wait = ec_dev_udp_poll(&udp, &dev, wait, rx, sizeof rx);
  }
  if (!app.done) {
    fprintf(stderr, "nothing left to wait for\n");
    app.failed = 1;
  }
  ec_dev_udp_close(&udp);
  if (app.failed == 0) {
    printf("done %d reports\n", app.sent);
  }
  return app.failed;
}
