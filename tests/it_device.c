/* edgecoap: the device core over its POSIX port against the real server: reports, observation, loss, restarts, allocations. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <jansson.h>

#include "edgecoap/device_posix.h"
#include "itest.h"
#include "itlossy.h"
#include "suite.h"

/*
 * The device side as a device runs it: the core (device/core/) driven by
 * its POSIX port in this process, and the example program
 * (examples/report.c) as a child. What the server stored is read back with
 * raw CoAP (tests/support/itest.h), not with the code under test.
 */

#define DEP "d0d0cafe-0000-4000-8000-00000000d0d0"
#define WAIT_MS 30000

static it_server_t srv;

/* ------------------------------------------------------------------------ */
/* Counting heap allocations: every malloc, calloc and realloc of this
 * process, by the sanitizer's hooks under ASan, else by interposing
 * glibc's allocator entry points. */

static volatile long allocs;
static volatile bool counting;

#if defined(__SANITIZE_ADDRESS__)
/* From <sanitizer/allocator_interface.h>, which Debian's gcc does not ship. */
int __sanitizer_install_malloc_and_free_hooks(
    void (*malloc_hook)(const volatile void *, size_t),
    void (*free_hook)(const volatile void *));
static void on_malloc(const volatile void *p, size_t n) {
  (void)p;
  (void)n;
  if (counting) {
    allocs++;
  }
}
static void on_free(const volatile void *p) { (void)p; }
static void count_init(void) {
  __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
}
#else
void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t n);
void *malloc(size_t n) {
  if (counting) {
    allocs++;
  }
  return __libc_malloc(n);
}
void *calloc(size_t n, size_t size) {
  if (counting) {
    allocs++;
  }
  return __libc_calloc(n, size);
}
void *realloc(void *p, size_t n) {
  if (counting) {
    allocs++;
  }
  return __libc_realloc(p, n);
}
static void count_init(void) {}
#endif

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

/* How many reports the server keeps for (@p device, DEP), read with raw
 * CoAP: GET status/history as JSON, page by page (nextSince). -1 when it
 * cannot be read. */
static int history_count(const char *device) {
  it_udp_t u;
  if (it_udp_open(&u, srv.port) < 0) {
    return -1;
  }
  int n = 0;
  long long since = 0;
  for (int page = 0; page < 100 && since >= 0; page++) {
    char path[200];
    snprintf(path, sizeof path,
             "device/%s/deployment/%s/status/history?since=%lld&limit=1000",
             device, DEP, since);
    it_body_t body = {0};
    since = -1;
    if (it_coap_get_blockwise(&u, path, 50, 1024, 200, &body, 5000) < 0 ||
        IT_CODE_INT(body.code) != 205) {
      n = IT_CODE_INT(body.code) == 404 && page == 0 ? 0 : -1;
      free(body.body);
      break;
    }
    json_t *t = json_loadb((const char *)body.body, body.len, 0, NULL);
    n += (int)json_array_size(json_object_get(t, "reports"));
    json_t *next = json_object_get(t, "nextSince");
    if (json_is_integer(next)) {
      since = json_integer_value(next);
    }
    json_decref(t);
    free(body.body);
  }
  it_udp_close(&u);
  return n;
}

static const ec_dev_component_t comps[] = {
    {"app", EC_DEV_INSTALLING, {NULL, NULL, NULL}}};

static ec_dev_status_t status_of(ec_dev_state_t s) {
  return (ec_dev_status_t){"deployment.margo/v1", NULL, DEP, NULL, 0, s,
                           {NULL, NULL, NULL}, comps, 1};
}

/* One device: the port, the core and its buffers, and what came back. */
typedef struct {
  it_lossy_t net;           /* the port, losing its first sends */
  ec_dev_t dev;
  uint8_t rx[1280];
  uint8_t report_buf[512];
  uint8_t observe_buf[128];
  ec_dev_status_t st;
  const char *device;
  int answers;     /* report answers */
  uint8_t last_code;
  int last_result;
  int notifications;
  int shown;       /* the state the last notification showed */
  int reports;     /* reports started */
  int want;        /* reports to send while observing */
  bool failed;
} device_t;

static int device_open(device_t *t, const char *device, int drop) {
  memset(t, 0, sizeof *t);
  if (it_lossy_open(&t->net, srv.port, drop) < 0)
    return -1;
  t->device = device;
  t->shown = -1;
  ec_dev_init(&t->dev, &t->net.transport);
  return 0;
}

static int report(device_t *t, ec_dev_state_t s);

/* While observing: the next report, once the last one is both answered and
 * shown by a notification, in either order (the server may notify before
 * its answer arrives). The states alternate, so each report shows. */
static void advance(device_t *t) {
  ec_dev_state_t last = t->reports % 2 == 1 ? EC_DEV_INSTALLING : EC_DEV_INSTALLED;
  if (t->reports < t->want && t->answers == t->reports && t->shown == (int)last) {
    t->shown = -1;
    if (report(t, last == EC_DEV_INSTALLING ? EC_DEV_INSTALLED
                                            : EC_DEV_INSTALLING) < 0) {
      t->failed = true;
    }
  }
}

static void on_report(ec_dev_t *dev, void *user, const ec_dev_answer_t *a) {
  (void)dev;
  device_t *t = user;
  t->answers++;
  t->last_code = a->code;
  t->last_result = a->result;
  if (a->result < 0 || (a->code >> 5) != 2) {
    t->failed = t->want > 0;
    return;
  }
  advance(t);
}

static int report(device_t *t, ec_dev_state_t s) {
  t->st = status_of(s);
  t->reports++;
  return ec_dev_report(&t->dev, t->device, &t->st, t->report_buf,
                       sizeof t->report_buf, on_report, t);
}

/* Run the device until @p *flag reaches @p want or @p ms pass. */
static bool pump_for(device_t *t, const int *flag, int want, unsigned ms) {
  uint64_t end = it_now_ms() + ms;
  uint32_t wait = 0;
  while (*flag < want && !t->failed && it_now_ms() < end) {
    wait = ec_dev_udp_poll(&t->net.udp, &t->dev, wait > 100 ? 100 : wait, t->rx,
                           sizeof t->rx);
  }
  return *flag >= want;
}

static bool pump(device_t *t, const int *flag, int want) {
  return pump_for(t, flag, want, WAIT_MS);
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                     */

static void test_example_reports_and_observes(void) {
  char port[8];
  snprintf(port, sizeof port, "%u", srv.port);
  const char *argv[] = {EC_DEVICE_REPORT_BIN, "--port", port, "--count", "3",
                        "ex1", DEP, NULL};
  it_result_t r = {0};
  CU_ASSERT_EQUAL(it_run(argv, NULL, 0, WAIT_MS, &r), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(r.out ? r.out : "", "report 2.01"));
  CU_ASSERT_PTR_NOT_NULL(strstr(r.out ? r.out : "", "Installed"));
  CU_ASSERT_PTR_NOT_NULL(strstr(r.out ? r.out : "", "done 3 reports"));
  if (!it_result_ok(&r)) {
    it_result_dump("report example", &r);
  }
  it_result_free(&r);
  CU_ASSERT_EQUAL(history_count("ex1"), 3);
}

static void test_lossy_report_arrives_once(void) {
  static device_t t;
  CU_ASSERT_EQUAL_FATAL(device_open(&t, "lossy1", 2), 0);
  CU_ASSERT_TRUE(report(&t, EC_DEV_INSTALLING) >= 0);
  CU_ASSERT_TRUE(pump(&t, &t.answers, 1));
  CU_ASSERT_EQUAL(t.last_result, 0);
  CU_ASSERT_EQUAL(t.last_code, EC_COAP_CODE(2, 1));
  CU_ASSERT_TRUE(t.net.sends >= 3); /* two lost, the third through */
  CU_ASSERT_EQUAL(history_count("lossy1"), 1);
  ec_dev_udp_close(&t.net.udp);
}

static void on_notify(ec_dev_t *dev, void *user, const ec_dev_answer_t *a) {
  (void)dev;
  device_t *t = user;
  ec_dev_status_view_t v;
  if (a->result < 0 || !a->observing ||
      ec_dev_status_decode(a->payload, a->payload_len, &v, NULL, NULL) < 0) {
    t->failed = true;
    return;
  }
  t->notifications++;
  t->shown = (int)v.state;
  advance(t); /* from inside the observation */
}

/* Reports sent from the observe callback, 100 of them, while the
 * observation goes on: every one answered and shown, none lost, and no
 * heap allocation in the core or the port once started. */
static void test_reports_while_observing_allocate_nothing(void) {
  static device_t t;
  CU_ASSERT_EQUAL_FATAL(device_open(&t, "obs1", 0), 0);
  CU_ASSERT_TRUE_FATAL(report(&t, EC_DEV_INSTALLING) >= 0);
  CU_ASSERT_TRUE_FATAL(pump(&t, &t.answers, 1));
  t.want = 101;
  CU_ASSERT_TRUE_FATAL(ec_dev_observe(&t.dev, t.device, DEP, t.observe_buf,
                                      sizeof t.observe_buf, on_notify, &t) >= 0);
  /* Start-up ends with the first notification; from there on, count. */
  CU_ASSERT_TRUE_FATAL(pump(&t, &t.notifications, 1));
  /* The counter sees an allocation where there is one. */
  allocs = 0;
  counting = true;
  void *volatile probe = malloc(16);
  counting = false;
  free(probe);
  CU_ASSERT_EQUAL_FATAL(allocs, 1);
  allocs = 0;
  counting = true;
  /* A hundred round trips, each with a commit to disk: bounded by far more
   * than a loaded machine needs (a few seconds here). */
  bool ok = pump_for(&t, &t.answers, t.want, 120000);
  counting = false;
  long n = allocs;
  CU_ASSERT_TRUE(ok);
  CU_ASSERT_FALSE(t.failed);
  CU_ASSERT_EQUAL(t.answers, 101);
  CU_ASSERT_TRUE(t.notifications >= 2);
  fprintf(stderr, "it_device: %d reports and %d notifications after start-up, "
                  "%ld heap allocations\n",
          t.answers - 1, t.notifications - 1, n);
  CU_ASSERT_EQUAL(n, 0);
  CU_ASSERT_EQUAL(history_count("obs1"), 101);
  ec_dev_udp_close(&t.net.udp);
}

/* The server dies before the report is sent and comes back while the core
 * retransmits it: it arrives, once. */
static void test_report_across_server_restart(void) {
  static device_t t;
  CU_ASSERT_EQUAL_FATAL(device_open(&t, "restart1", 0), 0);
  CU_ASSERT_TRUE_FATAL(report(&t, EC_DEV_INSTALLING) >= 0);
  CU_ASSERT_TRUE_FATAL(pump(&t, &t.answers, 1));
  CU_ASSERT_EQUAL_FATAL(it_server_kill(&srv), 0);
  CU_ASSERT_TRUE(report(&t, EC_DEV_INSTALLED) >= 0);
  /* Let the first transmission and a retransmission meet no server. */
  uint64_t until = it_now_ms() + 2500;
  while (it_now_ms() < until) {
    (void)ec_dev_udp_poll(&t.net.udp, &t.dev, 100, t.rx, sizeof t.rx);
  }
  CU_ASSERT_EQUAL(t.answers, 1);
  uint16_t port = srv.port;
  CU_ASSERT_EQUAL_FATAL(it_server_start_again(&srv), 0);
  if (srv.port != port) {
    /* Another process took the port meanwhile and the server came back on
     * another: the device follows it, as one that looks its server's name
     * up again would. The exchange in the core is the same. */
    ec_dev_udp_close(&t.net.udp);
    CU_ASSERT_EQUAL_FATAL(ec_dev_udp_open(&t.net.udp, "127.0.0.1", srv.port), 0);
  }
  CU_ASSERT_TRUE(pump(&t, &t.answers, 2));
  CU_ASSERT_EQUAL(t.last_result, 0);
  CU_ASSERT_EQUAL(t.last_code, EC_COAP_CODE(2, 4));
  CU_ASSERT_EQUAL(history_count("restart1"), 2);
  ec_dev_udp_close(&t.net.udp);
}

/* A report of @p n components (about 55 bytes each in CBOR), sent by the
 * core block-wise (Block1) when it passes one datagram. */
static char big_names[64][24];
static ec_dev_component_t big_comps[64];
static uint8_t big_buf[8192];

static int big_report(device_t *t, int n, ec_dev_state_t state) {
  for (int i = 0; i < n && i < 64; i++) {
    snprintf(big_names[i], sizeof big_names[i], "component-number-%03d", i);
    big_comps[i] = (ec_dev_component_t){big_names[i], state, {NULL, NULL, NULL}};
  }
  t->st = status_of(state);
  t->st.components = big_comps;
  t->st.n_components = (size_t)n;
  t->reports++;
  return ec_dev_report(&t->dev, t->device, &t->st, big_buf, sizeof big_buf,
                       on_report, t);
}

static int components_seen;
static int count_components(void *ctx, size_t idx,
                            const ec_dev_component_view_t *c) {
  (void)ctx;
  (void)idx;
  components_seen += c->name.len == 20;
  return 0;
}

static void on_big(ec_dev_t *dev, void *user, const ec_dev_answer_t *a) {
  (void)dev;
  device_t *t = user;
  ec_dev_status_view_t v;
  components_seen = 0;
  if (a->result == 0 && !a->more &&
      ec_dev_status_decode(a->payload, a->payload_len, &v, count_components,
                           NULL) == 0 &&
      (int)v.n_components == components_seen) {
    t->shown = (int)v.state;
    t->notifications++;
  } else {
    t->failed = true;
  }
}

/* Reports and answers larger than a datagram: reports sent block-wise
 * (Block1), a GET and an observation reassembled from the server's Block2
 * blocks into the caller's buffer and decoded whole. */
static void test_blockwise_reports_and_answers(void) {
  static device_t t;
  static uint8_t body[8192];
  CU_ASSERT_EQUAL_FATAL(device_open(&t, "big1", 0), 0);
  CU_ASSERT_TRUE_FATAL(big_report(&t, 60, EC_DEV_INSTALLING) >= 0);
  CU_ASSERT_TRUE_FATAL(pump(&t, &t.answers, 1));
  CU_ASSERT_EQUAL(t.last_result, 0);
  CU_ASSERT_EQUAL(t.last_code, EC_COAP_CODE(2, 1));
  CU_ASSERT_TRUE(t.st.n_components == 60 &&
                 ec_dev_status_encode(&t.st, NULL, 0) > 2048);
  char path[160];
  snprintf(path, sizeof path, "device/big1/deployment/%s/status", DEP);
  int xid = ec_dev_get(&t.dev, path, false, t.observe_buf, sizeof t.observe_buf,
                       on_big, &t);
  CU_ASSERT_TRUE_FATAL(xid >= 0);
  CU_ASSERT_EQUAL(ec_dev_set_body(&t.dev, xid, body, sizeof body), 0);
  CU_ASSERT_TRUE(pump(&t, &t.notifications, 1));
  CU_ASSERT_FALSE(t.failed);
  CU_ASSERT_EQUAL(components_seen, 60);
  /* Observed: the registration's answer, then a new report's notification,
   * each block-wise. */
  xid = ec_dev_observe(&t.dev, "big1", DEP, t.observe_buf, sizeof t.observe_buf,
                       on_big, &t);
  CU_ASSERT_TRUE_FATAL(xid >= 0);
  CU_ASSERT_EQUAL(ec_dev_set_body(&t.dev, xid, body, sizeof body), 0);
  CU_ASSERT_TRUE(pump(&t, &t.notifications, 2));
  CU_ASSERT_EQUAL(t.shown, EC_DEV_INSTALLING);
  CU_ASSERT_TRUE_FATAL(big_report(&t, 50, EC_DEV_INSTALLED) >= 0);
  CU_ASSERT_TRUE(pump(&t, &t.notifications, 3));
  CU_ASSERT_TRUE(pump(&t, &t.answers, 2));
  CU_ASSERT_EQUAL(t.last_code, EC_COAP_CODE(2, 4));
  CU_ASSERT_FALSE(t.failed);
  CU_ASSERT_EQUAL(t.shown, EC_DEV_INSTALLED);
  CU_ASSERT_EQUAL(components_seen, 50);
  CU_ASSERT_EQUAL(history_count("big1"), 2);
  ec_dev_udp_close(&t.net.udp);
}

/* ------------------------------------------------------------------------ */
/* The outbox (docs/DEVICE.md, "The outbox"): over files in the server's
 * folder, in this process and in the example program.                      */

#define OB_SLOTS 4
#define OB_SLOT_SIZE 512

typedef struct {
  ec_dev_file_slots_t files;
  ec_dev_outbox_t ob;
  ec_dev_outbox_slot_t slots[OB_SLOTS];
  uint8_t buf[OB_SLOT_SIZE + 192];
  uint8_t rec[OB_SLOT_SIZE];
  int ended;        /* records delivered or given up */
  uint8_t last_code;
  int last_result;
} outbox_t;

static void on_outbox(void *user, uint32_t seq, const char *dep,
                      const ec_dev_answer_t *a) {
  (void)seq;
  (void)dep;
  outbox_t *o = user;
  o->ended++;
  o->last_code = a->code;
  o->last_result = a->result;
}

/* Start (or restart) a device @p t with the outbox in @p dir: its records
 * are read and the oldest sent. @return what ec_dev_outbox_init() gave. */
static int outbox_boot(device_t *t, outbox_t *o, const char *device,
                       const char *dir, int drop) {
  memset(o, 0, sizeof *o);
  if (device_open(t, device, drop) < 0 ||
      ec_dev_file_slots_open(&o->files, dir, OB_SLOTS, OB_SLOT_SIZE) < 0) {
    return -1;
  }
  return ec_dev_outbox_init(&o->ob, &t->dev, &o->files.storage, o->slots,
                            device, o->buf, sizeof o->buf, on_outbox, o);
}

static void outbox_down(device_t *t, outbox_t *o) {
  ec_dev_udp_close(&t->net.udp);
  ec_dev_file_slots_close(&o->files);
}

static int outbox_put(outbox_t *o, device_t *t, ec_dev_state_t s) {
  t->st = status_of(s);
  return ec_dev_outbox_put(&o->ob, &t->st, o->rec, sizeof o->rec);
}

/* Wait (at most 10 s) until the server keeps @p want reports of @p device. */
static int history_reaches(const char *device, int want) {
  int n = -1;
  for (int i = 0; i < 100 && (n = history_count(device)) != want; i++) {
    it_sleep_ms(100);
  }
  return n;
}

/* Through the outbox: a report whose first datagrams are lost arrives
 * once; a report the server stored while the device went down before
 * reading the answer is sent again after the restart, with its Request-Id,
 * and answered 2.04 without a second history entry; then 50 reports, with
 * their writes to the files, allocate nothing. */
static void test_outbox_survives_restart_allocates_nothing(void) {
  static device_t t;
  static outbox_t o;
  char dir[320];
  snprintf(dir, sizeof dir, "%s/outbox-obx1", srv.dir);
  CU_ASSERT_EQUAL_FATAL(outbox_boot(&t, &o, "obx1", dir, 2), 0);
  CU_ASSERT_EQUAL(outbox_put(&o, &t, EC_DEV_INSTALLING), 0);
  CU_ASSERT_TRUE(pump(&t, &o.ended, 1));
  CU_ASSERT_EQUAL(o.last_code, EC_COAP_CODE(2, 1));
  CU_ASSERT_TRUE(t.net.sends >= 3); /* two lost, the third through */
  CU_ASSERT_EQUAL(history_count("obx1"), 1);
  /* Sent, stored, and the answer never read: the device goes down. */
  CU_ASSERT_EQUAL(outbox_put(&o, &t, EC_DEV_INSTALLED), 0);
  CU_ASSERT_EQUAL(history_reaches("obx1", 2), 2);
  CU_ASSERT_EQUAL(o.ended, 1);
  outbox_down(&t, &o);
  CU_ASSERT_EQUAL_FATAL(outbox_boot(&t, &o, "obx1", dir, 0), 1);
  CU_ASSERT_TRUE(pump(&t, &o.ended, 1));
  CU_ASSERT_EQUAL(o.last_result, 0);
  CU_ASSERT_EQUAL(o.last_code, EC_COAP_CODE(2, 4));
  CU_ASSERT_EQUAL(history_count("obx1"), 2);
  CU_ASSERT_EQUAL(ec_dev_outbox_pending(&o.ob), 0);
  /* Allocations: every report written, sent, answered and buried. */
  allocs = 0;
  counting = true;
  bool ok = true;
  for (int i = 0; i < 50 && ok; i++) {
    ok = outbox_put(&o, &t, i % 2 == 0 ? EC_DEV_INSTALLING : EC_DEV_INSTALLED) == 0 &&
         pump(&t, &o.ended, 2 + i) && o.last_code >> 5 == 2;
  }
  counting = false;
  long n = allocs;
  CU_ASSERT_TRUE(ok);
  fprintf(stderr, "it_device: 50 reports through the outbox and its files, "
                  "%ld heap allocations\n", n);
  CU_ASSERT_EQUAL(n, 0);
  CU_ASSERT_EQUAL(history_count("obx1"), 52);
  outbox_down(&t, &o);
  CU_ASSERT_EQUAL(outbox_boot(&t, &o, "obx1", dir, 0), 0);
  outbox_down(&t, &o);
}

/* The example with --outbox: @p count reports, or 0 to replay only. */
static int example_spawn(const char *device, const char *dir, int count,
                         it_proc_t **p) {
  char port[8];
  char n[8];
  snprintf(port, sizeof port, "%u", srv.port);
  snprintf(n, sizeof n, "%d", count);
  const char *argv[] = {EC_DEVICE_REPORT_BIN, "--port", port, "--count", n,
                        "--outbox", dir, device, DEP, NULL};
  return it_proc_spawn(argv, NULL, 0, p);
}

/* Run the example until it ends: its output (free it) or NULL. */
static char *example_run(const char *device, const char *dir, int count) {
  it_proc_t *p;
  it_result_t r = {0};
  if (example_spawn(device, dir, count, &p) < 0) {
    return NULL;
  }
  int rc = it_proc_finish(p, WAIT_MS, &r);
  if (rc < 0 || !it_result_ok(&r)) {
    it_result_dump("report example", &r);
  }
  char *out = rc == 0 && r.out != NULL ? strdup(r.out) : NULL;
  it_result_free(&r);
  return out;
}

/* The example sends a report into a frozen server (SIGSTOP: the datagram
 * waits in its socket) and is killed -9 before any answer can come. When
 * @p server_dies the server is killed as well (the datagram is lost with
 * it) and started again, else resumed (it stores the report and answers a
 * device that is gone). Either way the example, run again on the same
 * outbox, sends the record again with its Request-Id: the server holds
 * the report once. */
static void kill9_between_send_and_answer(const char *device, bool server_dies) {
  char dir[320];
  snprintf(dir, sizeof dir, "%s/outbox-%s", srv.dir, device);
  CU_ASSERT_EQUAL_FATAL(kill(srv.pid, SIGSTOP), 0);
  it_proc_t *p;
  it_result_t r = {0};
  CU_ASSERT_EQUAL_FATAL(example_spawn(device, dir, 1, &p), 0);
  CU_ASSERT_EQUAL(it_proc_wait_for(p, "queued 1", WAIT_MS), 1);
  it_sleep_ms(300); /* its retransmissions wait in the frozen server's socket too */
  CU_ASSERT_EQUAL(it_proc_kill(p, &r), 0);
  CU_ASSERT_EQUAL(r.term_signal, SIGKILL);
  it_result_free(&r);
  if (server_dies) {
    CU_ASSERT_EQUAL_FATAL(it_server_kill(&srv), 0);
    CU_ASSERT_EQUAL_FATAL(it_server_start_again(&srv), 0);
    CU_ASSERT_EQUAL(history_count(device), 0);
  } else {
    CU_ASSERT_EQUAL_FATAL(kill(srv.pid, SIGCONT), 0);
    CU_ASSERT_EQUAL(history_reaches(device, 1), 1);
  }
  char *out = example_run(device, dir, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(out);
  CU_ASSERT_PTR_NOT_NULL(strstr(out, "outbox"));
  CU_ASSERT_PTR_NOT_NULL(strstr(out, ": 1 to replay"));
  CU_ASSERT_PTR_NOT_NULL(strstr(out, server_dies ? " 2.01" : " 2.04"));
  CU_ASSERT_PTR_NOT_NULL(strstr(out, "done 0 reports"));
  free(out);
  CU_ASSERT_EQUAL(history_count(device), 1);
  /* Nothing is left to send, and the next run reports on from there. */
  out = example_run(device, dir, 2);
  CU_ASSERT_PTR_NOT_NULL_FATAL(out);
  CU_ASSERT_PTR_NOT_NULL(strstr(out, ": 0 to replay"));
  CU_ASSERT_PTR_NOT_NULL(strstr(out, "done 2 reports"));
  free(out);
  CU_ASSERT_EQUAL(history_count(device), 3);
}

static void test_example_help_and_version(void) {
  const char *help[] = {EC_DEVICE_REPORT_BIN, "--help", NULL};
  const char *version[] = {EC_DEVICE_REPORT_BIN, "--version", NULL};
  const char *bad[] = {EC_DEVICE_REPORT_BIN, "--count", "0", "dev", DEP, NULL};
  it_result_t r = {0};
  CU_ASSERT_EQUAL(it_run(help, NULL, 0, WAIT_MS, &r), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(r.out ? r.out : "", "--outbox DIR"));
  it_result_free(&r);
  CU_ASSERT_EQUAL(it_run(version, NULL, 0, WAIT_MS, &r), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(r.out ? r.out : "", "edgecoap-device-report 0."));
  it_result_free(&r);
  /* Nothing to do: no reports and no outbox to replay. */
  CU_ASSERT_NOT_EQUAL(it_run(bad, NULL, 0, WAIT_MS, &r), 0);
  CU_ASSERT_EQUAL(r.exit_code, 2);
  it_result_free(&r);
}

static void test_outbox_kill9_server_answers_later(void) {
  kill9_between_send_and_answer("kill1", false);
}

static void test_outbox_kill9_server_restarts(void) {
  kill9_between_send_and_answer("kill2", true);
}

static int suite_init(void) {
  it_init();
  count_init();
  return it_server_start(&srv, NULL);
}

static const ec_test_t tests[] = {
    {test_example_reports_and_observes, "example_reports_and_observes"},
    {test_lossy_report_arrives_once, "lossy_report_arrives_once"},
    {test_reports_while_observing_allocate_nothing,
     "reports_while_observing_allocate_nothing"},
    {test_report_across_server_restart, "report_across_server_restart"},
    {test_blockwise_reports_and_answers, "blockwise_reports_and_answers"},
    {test_outbox_survives_restart_allocates_nothing,
     "outbox_survives_restart_allocates_nothing"},
    {test_example_help_and_version, "example_help_and_version"},
    {test_outbox_kill9_server_answers_later, "outbox_kill9_server_answers_later"},
    {test_outbox_kill9_server_restarts, "outbox_kill9_server_restarts"},
};

int main(void) {
  static const ec_test_after_t after = {it_after_run, &srv, "it_device"};
  return ec_test_main("device", tests, EC_TEST_COUNT(tests), suite_init, NULL,
                      &after);
}
