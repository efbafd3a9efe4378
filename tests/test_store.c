/* edgecoap: CUnit tests of the store contract (store.h): deployment status and its history, on the backend EC_TEST_STORE names. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>

#include "edgecoap/error.h"
#include "log.h"
#include "store.h"
#include "store_fx.h"
#include "suite.h"

#define DEV "dev-1"
#define DEP "0b7c8f2e-3a41-4d5e-9f60-71a2b3c4d5e6"
#define DEP_UPPER "0B7C8F2E-3A41-4D5E-9F60-71A2B3C4D5E6"
#define DEP2 "1a2b3c4d-0000-4000-8000-000000000002"
#define DEP3 "ffffffff-0000-4000-8000-000000000003"

static int put(ec_store_t *s, const char *dev, const char *dep, ec_state_t st,
               const void *doc, size_t len, int64_t at, int *created,
               int64_t *seq) {
  ec_status_write_t w = {
      .device_id = dev,
      .deployment_id = dep,
      .state = st,
      .doc = doc,
      .doc_len = len,
      .received_at_ms = at,
  };
  return ec_store_status_put(s, &w, created, seq);
}

/* A document that differs per seq, with NULs in it, so byte-for-byte
 * comparisons catch both truncation at a NUL and mixed-up rows. */
static size_t make_doc(uint8_t *buf, int64_t n) {
  size_t len = 8 + (size_t)(n % 23);
  for (size_t i = 0; i < len; i++)
    buf[i] = (uint8_t)((n * 31 + (int64_t)i) & 0xff);
  buf[3] = 0;
  return len;
}

/* ------------------------------------------------------------------------ */

static void test_put_creates_first_report(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  int created = -1;
  int64_t seq = -1;
  CU_ASSERT_EQUAL(put(f.s, DEV, DEP, EC_STATE_PENDING, "a", 1, 1000, &created,
                      &seq),
                  0);
  CU_ASSERT_EQUAL(created, 1);
  CU_ASSERT_EQUAL(seq, 1);
  ec_store_fx_teardown(&f);
}

static void test_put_updates_existing(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  int created = -1;
  int64_t seq = -1;
  CU_ASSERT_EQUAL(put(f.s, DEV, DEP, EC_STATE_PENDING, "a", 1, 1000, NULL, NULL),
                  0);
  CU_ASSERT_EQUAL(put(f.s, DEV, DEP, EC_STATE_INSTALLING, "b", 1, 2000,
                      &created, &seq),
                  0);
  CU_ASSERT_EQUAL(created, 0);
  CU_ASSERT_EQUAL(seq, 2);
  /* Sequence numbers are per pair: another deployment starts at 1. */
  CU_ASSERT_EQUAL(put(f.s, DEV, DEP2, EC_STATE_PENDING, "c", 1, 3000, &created,
                      &seq),
                  0);
  CU_ASSERT_EQUAL(created, 1);
  CU_ASSERT_EQUAL(seq, 1);
  ec_store_fx_teardown(&f);
}

static void test_get_returns_latest_doc(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  static const uint8_t first[] = {0xa1, 0x00, 0x01};
  static const uint8_t latest[] = {0xbf, 0x00, 0xff, 0x00, 0x7f, 0x80, 0x00};
  CU_ASSERT_EQUAL(put(f.s, DEV, DEP, EC_STATE_PENDING, first, sizeof(first),
                      1000, NULL, NULL),
                  0);
  CU_ASSERT_EQUAL(put(f.s, DEV, DEP, EC_STATE_INSTALLED, latest,
                      sizeof(latest), 1700000000123, NULL, NULL),
                  0);
  uint8_t *doc = NULL;
  size_t len = 0;
  int64_t at = 0, seq = 0;
  CU_ASSERT_EQUAL_FATAL(
      ec_store_status_get(f.s, DEV, DEP, &doc, &len, &at, &seq), 0);
  CU_ASSERT_EQUAL(len, sizeof(latest));
  CU_ASSERT_EQUAL(memcmp(doc, latest, sizeof(latest)), 0);
  CU_ASSERT_EQUAL(at, 1700000000123);
  CU_ASSERT_EQUAL(seq, 2); /* the latest report's history seq */
  free(doc);
  /* updated_at_ms and seq are optional. */
  CU_ASSERT_EQUAL(ec_store_status_get(f.s, DEV, DEP, &doc, &len, NULL, NULL), 0);
  free(doc);
  ec_store_fx_teardown(&f);
}

static void test_get_unknown_pair_not_found(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  CU_ASSERT_EQUAL(put(f.s, DEV, DEP, EC_STATE_PENDING, "a", 1, 1, NULL, NULL),
                  0);
  uint8_t *doc = (uint8_t *)&f; /* must be reset to NULL */
  size_t len = 99;
  CU_ASSERT_EQUAL(ec_store_status_get(f.s, DEV, DEP2, &doc, &len, NULL, NULL),
                  EC_ENOTFOUND);
  CU_ASSERT_PTR_NULL(doc);
  CU_ASSERT_EQUAL(len, 0);
  CU_ASSERT_EQUAL(ec_store_status_get(f.s, "dev-2", DEP, &doc, &len, NULL, NULL),
                  EC_ENOTFOUND);
  /* Device IDs are case-sensitive; only deployment IDs are normalised. */
  CU_ASSERT_EQUAL(ec_store_status_get(f.s, "DEV-1", DEP, &doc, &len, NULL, NULL),
                  EC_ENOTFOUND);
  ec_store_fx_teardown(&f);
}

static void test_empty_doc_round_trips(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  CU_ASSERT_EQUAL(put(f.s, DEV, DEP, EC_STATE_PENDING, NULL, 0, 5, NULL, NULL),
                  0);
  uint8_t *doc = NULL;
  size_t len = 99;
  CU_ASSERT_EQUAL(ec_store_status_get(f.s, DEV, DEP, &doc, &len, NULL, NULL), 0);
  CU_ASSERT_PTR_NOT_NULL(doc);
  CU_ASSERT_EQUAL(len, 0);
  free(doc);
  ec_history_entry_t *h = NULL;
  size_t n = 0;
  CU_ASSERT_EQUAL_FATAL(ec_store_history(f.s, DEV, DEP, 0, 0, &h, &n), 0);
  CU_ASSERT_EQUAL_FATAL(n, 1);
  CU_ASSERT_EQUAL(h[0].report_len, 0);
  free(h);
  ec_store_fx_teardown(&f);
}

static void test_history_since_limit_order(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  uint8_t buf[64];
  for (int64_t i = 1; i <= 5; i++) {
    size_t len = make_doc(buf, i);
    CU_ASSERT_EQUAL(put(f.s, DEV, DEP, EC_STATE_INSTALLING, buf, len,
                        1000 * i, NULL, NULL),
                    0);
  }
  /* Another pair's history must not leak in. */
  CU_ASSERT_EQUAL(put(f.s, DEV, DEP2, EC_STATE_PENDING, "x", 1, 1, NULL, NULL),
                  0);

  ec_history_entry_t *h = NULL;
  size_t n = 0;
  /* limit 0: the default (100), so everything, oldest first. */
  CU_ASSERT_EQUAL_FATAL(ec_store_history(f.s, DEV, DEP, 0, 0, &h, &n), 0);
  CU_ASSERT_EQUAL_FATAL(n, 5);
  for (size_t i = 0; i < n; i++) {
    size_t len = make_doc(buf, (int64_t)i + 1);
    CU_ASSERT_EQUAL(h[i].seq, (int64_t)i + 1);
    CU_ASSERT_EQUAL(h[i].received_at_ms, 1000 * ((int64_t)i + 1));
    CU_ASSERT_EQUAL_FATAL(h[i].report_len, len);
    CU_ASSERT_EQUAL(memcmp(h[i].report, buf, len), 0);
  }
  free(h);

  /* since is exclusive, limit caps the count. */
  CU_ASSERT_EQUAL_FATAL(ec_store_history(f.s, DEV, DEP, 2, 2, &h, &n), 0);
  CU_ASSERT_EQUAL_FATAL(n, 2);
  CU_ASSERT_EQUAL(h[0].seq, 3);
  CU_ASSERT_EQUAL(h[1].seq, 4);
  free(h);

  /* A negative limit is the default too. */
  CU_ASSERT_EQUAL_FATAL(ec_store_history(f.s, DEV, DEP, 3, -7, &h, &n), 0);
  CU_ASSERT_EQUAL_FATAL(n, 2);
  CU_ASSERT_EQUAL(h[0].seq, 4);
  free(h);

  /* Nothing newer: success, NULL, 0. */
  h = (ec_history_entry_t *)&f;
  CU_ASSERT_EQUAL(ec_store_history(f.s, DEV, DEP, 5, 10, &h, &n), 0);
  CU_ASSERT_EQUAL(n, 0);
  CU_ASSERT_PTR_NULL(h);
  CU_ASSERT_EQUAL(ec_store_history(f.s, DEV, DEP3, 0, 10, &h, &n), 0);
  CU_ASSERT_EQUAL(n, 0);
  CU_ASSERT_PTR_NULL(h);
  ec_store_fx_teardown(&f);
}

static void test_deployments_listing(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  /* Written out of order, each deployment's latest state wins. */
  CU_ASSERT_EQUAL(put(f.s, DEV, DEP3, EC_STATE_FAILED, "a", 1, 30, NULL, NULL),
                  0);
  CU_ASSERT_EQUAL(put(f.s, DEV, DEP, EC_STATE_PENDING, "b", 1, 10, NULL, NULL),
                  0);
  CU_ASSERT_EQUAL(put(f.s, DEV, DEP2, EC_STATE_INSTALLING, "c", 1, 20, NULL,
                      NULL),
                  0);
  CU_ASSERT_EQUAL(put(f.s, DEV, DEP, EC_STATE_INSTALLED, "d", 1, 40, NULL, NULL),
                  0);
  CU_ASSERT_EQUAL(put(f.s, "dev-2", DEP2, EC_STATE_REMOVED, "e", 1, 50, NULL,
                      NULL),
                  0);

  ec_deployment_summary_t *l = NULL;
  size_t n = 0;
  CU_ASSERT_EQUAL_FATAL(ec_store_deployments(f.s, DEV, &l, &n), 0);
  CU_ASSERT_EQUAL_FATAL(n, 3);
  CU_ASSERT_STRING_EQUAL(l[0].deployment_id, DEP);
  CU_ASSERT_EQUAL(l[0].state, EC_STATE_INSTALLED);
  CU_ASSERT_EQUAL(l[0].updated_at_ms, 40);
  CU_ASSERT_STRING_EQUAL(l[1].deployment_id, DEP2);
  CU_ASSERT_EQUAL(l[1].state, EC_STATE_INSTALLING);
  CU_ASSERT_EQUAL(l[1].updated_at_ms, 20);
  CU_ASSERT_STRING_EQUAL(l[2].deployment_id, DEP3);
  CU_ASSERT_EQUAL(l[2].state, EC_STATE_FAILED);
  CU_ASSERT_EQUAL(l[2].updated_at_ms, 30);
  free(l);

  CU_ASSERT_EQUAL_FATAL(ec_store_deployments(f.s, "dev-2", &l, &n), 0);
  CU_ASSERT_EQUAL_FATAL(n, 1);
  CU_ASSERT_EQUAL(l[0].state, EC_STATE_REMOVED);
  free(l);

  l = (ec_deployment_summary_t *)&f;
  CU_ASSERT_EQUAL(ec_store_deployments(f.s, "nobody", &l, &n), 0);
  CU_ASSERT_EQUAL(n, 0);
  CU_ASSERT_PTR_NULL(l);
  ec_store_fx_teardown(&f);
}

static void test_deployment_id_case_insensitive(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  int created = -1;
  int64_t seq = -1;
  CU_ASSERT_EQUAL(put(f.s, DEV, DEP_UPPER, EC_STATE_PENDING, "A", 1, 1,
                      &created, &seq),
                  0);
  CU_ASSERT_EQUAL(created, 1);
  /* The lowercase spelling names the same pair. */
  CU_ASSERT_EQUAL(put(f.s, DEV, DEP, EC_STATE_INSTALLING, "B", 1, 2, &created,
                      &seq),
                  0);
  CU_ASSERT_EQUAL(created, 0);
  CU_ASSERT_EQUAL(seq, 2);

  uint8_t *doc = NULL;
  size_t len = 0;
  CU_ASSERT_EQUAL_FATAL(
      ec_store_status_get(f.s, DEV, "0b7C8F2e-3a41-4D5E-9f60-71A2b3c4d5E6", &doc,
                          &len, NULL, NULL),
      0);
  CU_ASSERT_EQUAL(len, 1);
  CU_ASSERT_EQUAL(doc[0], 'B');
  free(doc);

  ec_history_entry_t *h = NULL;
  size_t n = 0;
  CU_ASSERT_EQUAL(ec_store_history(f.s, DEV, DEP_UPPER, 0, 10, &h, &n), 0);
  CU_ASSERT_EQUAL(n, 2);
  free(h);

  ec_deployment_summary_t *l = NULL;
  CU_ASSERT_EQUAL_FATAL(ec_store_deployments(f.s, DEV, &l, &n), 0);
  CU_ASSERT_EQUAL_FATAL(n, 1);
  CU_ASSERT_STRING_EQUAL(l[0].deployment_id, DEP); /* stored lowercased */
  free(l);
  ec_store_fx_teardown(&f);
}

static void test_restart_keeps_everything(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  CU_ASSERT_EQUAL(put(f.s, DEV, DEP, EC_STATE_PENDING, "one", 3, 1, NULL, NULL),
                  0);
  CU_ASSERT_EQUAL(put(f.s, DEV, DEP, EC_STATE_INSTALLING, "two", 3, 2, NULL,
                      NULL),
                  0);
  CU_ASSERT_EQUAL(put(f.s, DEV, DEP2, EC_STATE_FAILED, "x", 1, 3, NULL, NULL),
                  0);
  ec_store_fx_reopen(&f);

  uint8_t *doc = NULL;
  size_t len = 0;
  int64_t at = 0;
  CU_ASSERT_EQUAL_FATAL(ec_store_status_get(f.s, DEV, DEP, &doc, &len, &at, NULL), 0);
  CU_ASSERT_EQUAL(len, 3);
  CU_ASSERT_EQUAL(memcmp(doc, "two", 3), 0);
  CU_ASSERT_EQUAL(at, 2);
  free(doc);

  ec_deployment_summary_t *l = NULL;
  size_t n = 0;
  CU_ASSERT_EQUAL(ec_store_deployments(f.s, DEV, &l, &n), 0);
  CU_ASSERT_EQUAL(n, 2);
  free(l);

  int created = -1;
  int64_t seq = -1;
  CU_ASSERT_EQUAL(put(f.s, DEV, DEP, EC_STATE_INSTALLED, "three", 5, 4,
                      &created, &seq),
                  0);
  CU_ASSERT_EQUAL(created, 0);
  CU_ASSERT_EQUAL(seq, 3);

  ec_history_entry_t *h = NULL;
  CU_ASSERT_EQUAL_FATAL(ec_store_history(f.s, DEV, DEP, 0, 0, &h, &n), 0);
  CU_ASSERT_EQUAL_FATAL(n, 3);
  CU_ASSERT_EQUAL(memcmp(h[0].report, "one", 3), 0);
  CU_ASSERT_EQUAL(memcmp(h[1].report, "two", 3), 0);
  CU_ASSERT_EQUAL(memcmp(h[2].report, "three", 5), 0);
  free(h);
  ec_store_fx_teardown(&f);
}




typedef struct {
  int count;
  int seen[3][2];
  ec_store_t *s;
  int reads_ok;
} walk_t;

static int walk_cb(void *ud, const char *dev, const char *dep) {
  walk_t *w = ud;
  static const char *const devs[] = {"dev-a", "dev-b", "dev-c"};
  static const char *const deps[] = {DEP, DEP2};
  w->count++;
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 2; j++)
      if (strcmp(dev, devs[i]) == 0 && strcmp(dep, deps[j]) == 0)
        w->seen[i][j]++;
  /* The server reads each pair's document while it walks. */
  uint8_t *doc = NULL;
  size_t len = 0;
  if (ec_store_status_get(w->s, dev, dep, &doc, &len, NULL, NULL) == 0)
    w->reads_ok++;
  free(doc);
  return 0;
}

static int stop_cb(void *ud, const char *dev, const char *dep) {
  int *calls = ud;
  return ++*calls == 2 ? 42 : 0;
}

static int write_cb(void *ud, const char *dev, const char *dep) {
  return put(ud, dev, dep, EC_STATE_FAILED, "w", 1, 9, NULL, NULL);
}

static void test_each_status_visits_every_pair(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  static const char *const devs[] = {"dev-c", "dev-a", "dev-b"};
  for (int i = 0; i < 3; i++) {
    CU_ASSERT_EQUAL(put(f.s, devs[i], DEP2, EC_STATE_PENDING, "a", 1, 1, NULL,
                        NULL),
                    0);
    CU_ASSERT_EQUAL(put(f.s, devs[i], DEP_UPPER, EC_STATE_PENDING, "b", 1, 2,
                        NULL, NULL),
                    0);
    CU_ASSERT_EQUAL(put(f.s, devs[i], DEP2, EC_STATE_INSTALLED, "c", 1, 3, NULL,
                        NULL),
                    0);
  }
  walk_t w = {.s = f.s};
  CU_ASSERT_EQUAL(ec_store_each_status(f.s, walk_cb, &w), 0);
  CU_ASSERT_EQUAL(w.count, 6);
  CU_ASSERT_EQUAL(w.reads_ok, 6);
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 2; j++)
      CU_ASSERT_EQUAL(w.seen[i][j], 1);

  /* A non-zero return stops the walk and comes back. */
  int calls = 0;
  CU_ASSERT_EQUAL(ec_store_each_status(f.s, stop_cb, &calls), 42);
  CU_ASSERT_EQUAL(calls, 2);
  /* Writing under the walk is refused, and the walk can run again. */
  CU_ASSERT_EQUAL(ec_store_each_status(f.s, write_cb, f.s), EC_EINVAL);
  memset(&w, 0, sizeof(w));
  w.s = f.s;
  CU_ASSERT_EQUAL(ec_store_each_status(f.s, walk_cb, &w), 0);
  CU_ASSERT_EQUAL(w.count, 6);
  ec_store_fx_teardown(&f);
}

static void test_each_status_empty_store(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  walk_t w = {.s = f.s};
  CU_ASSERT_EQUAL(ec_store_each_status(f.s, walk_cb, &w), 0);
  CU_ASSERT_EQUAL(w.count, 0);
  ec_store_fx_teardown(&f);
}

enum { MANY = 2000 };

static void test_many_puts_history_paging(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  /* A durable commit costs an fsync per put; this test is about paging. */
  ec_store_fx_fast(&f);
  uint8_t buf[64];
  for (int64_t i = 1; i <= MANY; i++) {
    size_t len = make_doc(buf, i);
    int64_t seq = 0;
    if (put(f.s, DEV, DEP, EC_STATE_INSTALLING, buf, len, i, NULL, &seq) != 0 ||
        seq != i) {
      CU_FAIL_FATAL("put failed or seq out of order");
    }
  }

  static int seen[MANY + 1];
  memset(seen, 0, sizeof(seen));
  int64_t since = 0;
  size_t total = 0, pages = 0;
  for (;;) {
    ec_history_entry_t *h = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL_FATAL(ec_store_history(f.s, DEV, DEP, since, 300, &h, &n),
                          0);
    if (n == 0)
      break;
    CU_ASSERT(n <= 300);
    for (size_t i = 0; i < n; i++) {
      CU_ASSERT_FATAL(h[i].seq > since && h[i].seq <= MANY);
      seen[h[i].seq]++;
      size_t len = make_doc(buf, h[i].seq);
      CU_ASSERT_EQUAL(h[i].report_len, len);
      CU_ASSERT_EQUAL(memcmp(h[i].report, buf, len), 0);
      CU_ASSERT_EQUAL(h[i].received_at_ms, h[i].seq);
      since = h[i].seq;
    }
    total += n;
    pages++;
    free(h);
  }
  CU_ASSERT_EQUAL(total, MANY);
  CU_ASSERT_EQUAL(pages, (MANY + 299) / 300);
  for (int i = 1; i <= MANY; i++)
    CU_ASSERT_EQUAL(seen[i], 1);

  /* A limit above the maximum is cut to it. */
  ec_history_entry_t *h = NULL;
  size_t n = 0;
  CU_ASSERT_EQUAL(ec_store_history(f.s, DEV, DEP, 0, 5000, &h, &n), 0);
  CU_ASSERT_EQUAL(n, EC_STORE_HISTORY_MAX);
  free(h);
  CU_ASSERT_EQUAL(ec_store_history(f.s, DEV, DEP, 0, 0, &h, &n), 0);
  CU_ASSERT_EQUAL(n, EC_STORE_HISTORY_DEFAULT);
  free(h);
  ec_store_fx_teardown(&f);
}



static void test_invalid_arguments(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  char long_id[EC_STORE_MAX_ID_LEN + 2];
  memset(long_id, 'a', sizeof(long_id) - 1);
  long_id[sizeof(long_id) - 1] = '\0';
  uint8_t *doc = NULL;
  size_t len = 0;
  ec_history_entry_t *h = NULL;
  size_t n = 0;

  CU_ASSERT_EQUAL(put(f.s, NULL, DEP, EC_STATE_PENDING, "a", 1, 1, NULL, NULL),
                  EC_EINVAL);
  CU_ASSERT_EQUAL(put(f.s, "", DEP, EC_STATE_PENDING, "a", 1, 1, NULL, NULL),
                  EC_EINVAL);
  CU_ASSERT_EQUAL(put(f.s, DEV, long_id, EC_STATE_PENDING, "a", 1, 1, NULL,
                      NULL),
                  EC_EINVAL);
  CU_ASSERT_EQUAL(put(f.s, DEV, DEP, EC_STATE_COUNT, "a", 1, 1, NULL, NULL),
                  EC_EINVAL);
  CU_ASSERT_EQUAL(put(f.s, DEV, DEP, EC_STATE_PENDING, NULL, 4, 1, NULL, NULL),
                  EC_EINVAL);
  CU_ASSERT_EQUAL(ec_store_status_put(f.s, NULL, NULL, NULL), EC_EINVAL);
  CU_ASSERT_EQUAL(ec_store_status_get(f.s, DEV, long_id, &doc, &len, NULL, NULL),
                  EC_EINVAL);
  CU_ASSERT_EQUAL(ec_store_history(f.s, DEV, NULL, 0, 0, &h, &n), EC_EINVAL);
  CU_ASSERT_EQUAL(ec_store_each_status(f.s, NULL, NULL), EC_EINVAL);
  CU_ASSERT_EQUAL(ec_store_open(NULL, NULL), EC_EINVAL);
  ec_store_close(NULL);

  /* An ID of exactly the maximum length is fine. */
  long_id[EC_STORE_MAX_ID_LEN] = '\0';
  CU_ASSERT_EQUAL(put(f.s, long_id, long_id, EC_STATE_PENDING, "a", 1, 1, NULL,
                      NULL),
                  0);
  /* None of the refused puts stored anything. */
  ec_deployment_summary_t *l = NULL;
  CU_ASSERT_EQUAL(ec_store_deployments(f.s, DEV, &l, &n), 0);
  CU_ASSERT_EQUAL(n, 0);
  ec_store_fx_teardown(&f);
}


/* ---- the fleet (store_fleet.c) ------------------------------------------ */

#define FLEET_DEP "f1ee7000-0000-4000-8000-0000000000aa"

/* A report of @p dev to FLEET_DEP in @p st, whose component "db" failed
 * with @p code when @p code is not NULL. */
static int fleet_put(ec_store_t *s, const char *dev, ec_state_t st,
                     const char *code) {
  ec_fleet_failure_t failed = {"db", code, 1};
  ec_status_write_t w = {
      .device_id = dev,
      .deployment_id = FLEET_DEP,
      .state = st,
      .doc = (const uint8_t *)"x",
      .doc_len = 1,
      .received_at_ms = 1000,
      .error_code = code,
      .failed = code != NULL ? &failed : NULL,
      .n_failed = code != NULL ? 1 : 0,
  };
  return ec_store_status_put(s, &w, NULL, NULL);
}

/* FLEET_DEP's roll-up: its counts, and one failure entry "db" @p code. */
static void check_rollup(ec_store_t *s, int64_t pending, int64_t failed,
                         int64_t installed, const char *code,
                         int64_t devices) {
  ec_fleet_rollup_t r;
  void *block = NULL;
  CU_ASSERT_EQUAL_FATAL(ec_store_fleet_rollup(s, FLEET_DEP, &r, &block), 0);
  CU_ASSERT_EQUAL(r.counts[EC_STATE_PENDING], pending);
  CU_ASSERT_EQUAL(r.counts[EC_STATE_FAILED], failed);
  CU_ASSERT_EQUAL(r.counts[EC_STATE_INSTALLED], installed);
  CU_ASSERT_EQUAL_FATAL(r.n_failures, 1);
  CU_ASSERT_STRING_EQUAL(r.failures[0].component, "db");
  CU_ASSERT_STRING_EQUAL(r.failures[0].code, code);
  CU_ASSERT_EQUAL(r.failures[0].devices, devices);
  free(block);
}

static void test_fleet_rollup_follows_writes(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  ec_fleet_rollup_t r;
  void *block = NULL;
  CU_ASSERT_EQUAL(ec_store_fleet_rollup(f.s, FLEET_DEP, &r, &block),
                  EC_ENOTFOUND);
  CU_ASSERT_EQUAL(fleet_put(f.s, "d1", EC_STATE_PENDING, NULL), 0);
  CU_ASSERT_EQUAL(fleet_put(f.s, "d2", EC_STATE_PENDING, NULL), 0);
  /* No failures yet: an empty list (regression: the block was joined from
   * a NULL array, which UBSan refused). */
  CU_ASSERT_EQUAL_FATAL(ec_store_fleet_rollup(f.s, FLEET_DEP, &r, &block), 0);
  CU_ASSERT_EQUAL(r.counts[EC_STATE_PENDING], 2);
  CU_ASSERT_EQUAL(r.n_failures, 0);
  CU_ASSERT_PTR_NULL(r.failures);
  free(block);
  CU_ASSERT_EQUAL(fleet_put(f.s, "d1", EC_STATE_FAILED, "E1"), 0);
  CU_ASSERT_EQUAL(fleet_put(f.s, "d2", EC_STATE_FAILED, "E1"), 0);
  check_rollup(f.s, 0, 2, 0, "E1", 2);
  /* A later report replaces the device's failures: d2 recovers, d1 fails
   * with another code. */
  CU_ASSERT_EQUAL(fleet_put(f.s, "d2", EC_STATE_INSTALLED, NULL), 0);
  CU_ASSERT_EQUAL(fleet_put(f.s, "d1", EC_STATE_FAILED, "E2"), 0);
  check_rollup(f.s, 0, 1, 1, "E2", 1);

  /* The latest states and error codes, one deployment's in one state. */
  ec_store_fleet_query_t q = {.deployment_id = FLEET_DEP,
                              .state = EC_STATE_FAILED};
  ec_fleet_device_t *list = NULL;
  size_t n = 0;
  bool more = true;
  CU_ASSERT_EQUAL(ec_store_fleet_devices(f.s, &q, 0, &list, &n, &more), 0);
  CU_ASSERT_EQUAL_FATAL(n, 1);
  CU_ASSERT_FALSE(more);
  CU_ASSERT_STRING_EQUAL(list[0].device_id, "d1");
  CU_ASSERT_STRING_EQUAL(list[0].error_code, "E2");
  free(list);

  /* Counts survive a reopen (they are rows, not memory). */
  ec_store_fx_reopen(&f);
  ec_fleet_rollup_t *all = NULL;
  CU_ASSERT_EQUAL(ec_store_fleet_rollups(f.s, NULL, 10, &all, &n, &more), 0);
  CU_ASSERT_EQUAL_FATAL(n, 1);
  CU_ASSERT_EQUAL(all[0].counts[EC_STATE_FAILED], 1);
  CU_ASSERT_EQUAL(all[0].counts[EC_STATE_INSTALLED], 1);
  free(all);
  ec_store_fx_teardown(&f);
}

/* Reports that keep the pair's state (the store then leaves the state
 * columns alone) still count: a new seq each, the roll-up's time moves on,
 * and the error code and failed components follow the latest report. */
static void test_fleet_same_state_reports(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  ec_fleet_failure_t failed = {"db", "E1", 1};
  ec_status_write_t w = {.device_id = "d1", .deployment_id = FLEET_DEP,
                         .state = EC_STATE_FAILED, .doc = (const uint8_t *)"a",
                         .doc_len = 1, .received_at_ms = 1000,
                         .error_code = "E1", .failed = &failed, .n_failed = 1};
  int created = 0;
  int64_t seq = 0;
  CU_ASSERT_EQUAL(ec_store_status_put(f.s, &w, &created, &seq), 0);
  CU_ASSERT(created == 1 && seq == 1);
  check_rollup(f.s, 0, 1, 0, "E1", 1);
  /* Failed again, same code, later. */
  w.doc = (const uint8_t *)"b";
  w.received_at_ms = 2000;
  CU_ASSERT_EQUAL(ec_store_status_put(f.s, &w, &created, &seq), 0);
  CU_ASSERT(created == 0 && seq == 2);
  check_rollup(f.s, 0, 1, 0, "E1", 1);
  /* Failed still, but without a code or failed components now. */
  w.doc = (const uint8_t *)"c";
  w.received_at_ms = 3000;
  w.error_code = NULL;
  w.failed = NULL;
  w.n_failed = 0;
  CU_ASSERT_EQUAL(ec_store_status_put(f.s, &w, &created, &seq), 0);
  CU_ASSERT(created == 0 && seq == 3);
  ec_fleet_rollup_t r;
  void *block = NULL;
  CU_ASSERT_EQUAL_FATAL(ec_store_fleet_rollup(f.s, FLEET_DEP, &r, &block), 0);
  CU_ASSERT_EQUAL(r.counts[EC_STATE_FAILED], 1);
  CU_ASSERT_EQUAL(r.n_failures, 0);
  CU_ASSERT_EQUAL(r.updated_at_ms, 3000);
  free(block);
  ec_store_fleet_query_t q = {.deployment_id = FLEET_DEP, .state = -1};
  ec_fleet_device_t *list = NULL;
  size_t n = 0;
  CU_ASSERT_EQUAL(ec_store_fleet_devices(f.s, &q, 0, &list, &n, NULL), 0);
  CU_ASSERT_EQUAL_FATAL(n, 1);
  CU_ASSERT_PTR_NULL(list[0].error_code);
  CU_ASSERT_EQUAL(list[0].updated_at_ms, 3000);
  free(list);
  uint8_t *doc = NULL;
  size_t len = 0;
  int64_t at = 0;
  CU_ASSERT_EQUAL(ec_store_status_get(f.s, "d1", FLEET_DEP, &doc, &len, &at,
                                      &seq),
                  0);
  CU_ASSERT(len == 1 && doc != NULL && doc[0] == 'c');
  CU_ASSERT(at == 3000 && seq == 3);
  free(doc);
  ec_store_fx_teardown(&f);
}

/* ------------------------------------------------------------------------ */

/* Pages end at the entry that brings the documents read to the byte cap,
 * say whether more follow, and always hold one entry when there is one. */
static void test_pages_stop_at_the_byte_cap(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  char doc[100];
  memset(doc, 'x', sizeof(doc));
  for (int i = 1; i <= 5; i++)
    CU_ASSERT_EQUAL(put(f.s, DEV, DEP, EC_STATE_PENDING, doc, 40, i, NULL,
                        NULL),
                    0);
  ec_history_entry_t *h = NULL;
  size_t n = 0;
  bool more = false;
  /* 40 + 40 + 40 >= 100: three entries, and two more follow. */
  CU_ASSERT_EQUAL(ec_store_history_page(f.s, DEV, DEP, 0, 0, 100, &h, &n,
                                        &more),
                  0);
  CU_ASSERT_EQUAL(n, 3);
  CU_ASSERT_TRUE(more);
  int64_t last = n == 3 ? h[2].seq : 0;
  free(h);
  CU_ASSERT_EQUAL(ec_store_history_page(f.s, DEV, DEP, last, 0, 100, &h, &n,
                                        &more),
                  0);
  CU_ASSERT(n == 2 && h[0].seq == 4);
  CU_ASSERT_FALSE(more);
  free(h);
  /* A cap below one document still reads one. */
  CU_ASSERT_EQUAL(ec_store_history_page(f.s, DEV, DEP, 0, 0, 1, &h, &n, NULL),
                  0);
  CU_ASSERT_EQUAL(n, 1);
  free(h);

  /* Deployments: pages by id, after the last one of the page before. */
  static const char *const deps[] = {DEP2, DEP3};
  for (size_t i = 0; i < 2; i++)
    CU_ASSERT_EQUAL(put(f.s, DEV, deps[i], EC_STATE_INSTALLED, "d", 1, 9,
                        NULL, NULL),
                    0);
  ec_deployment_summary_t *l = NULL;
  CU_ASSERT_EQUAL(ec_store_deployments_page(f.s, DEV, NULL, 1, &l, &n, &more),
                  0);
  CU_ASSERT_EQUAL_FATAL(n, 1);
  CU_ASSERT_STRING_EQUAL(l[0].deployment_id, DEP);
  CU_ASSERT_TRUE(more);
  free(l);
  CU_ASSERT_EQUAL(ec_store_deployments_page(f.s, DEV, DEP, 0, &l, &n, &more),
                  0);
  CU_ASSERT_EQUAL_FATAL(n, 2);
  CU_ASSERT_STRING_EQUAL(l[0].deployment_id, DEP2);
  CU_ASSERT_EQUAL(l[1].state, EC_STATE_INSTALLED);
  CU_ASSERT_FALSE(more);
  free(l);
  /* "after" matches as ids do, case aside. */
  CU_ASSERT_EQUAL(ec_store_deployments_page(f.s, DEV, "1A2B3C4D-0000-4000-"
                                            "8000-000000000002", 0, &l, &n,
                                            NULL),
                  0);
  CU_ASSERT(n == 1 && strcmp(l[0].deployment_id, DEP3) == 0);
  free(l);
  ec_store_fx_teardown(&f);
}

static const ec_test_t tests[] = {
    {test_fleet_rollup_follows_writes, "fleet_rollup_follows_writes"},
    {test_fleet_same_state_reports, "fleet_same_state_reports"},
    {test_put_creates_first_report, "put_creates_first_report"},
    {test_put_updates_existing, "put_updates_existing"},
    {test_get_returns_latest_doc, "get_returns_latest_doc"},
    {test_get_unknown_pair_not_found, "get_unknown_pair_not_found"},
    {test_empty_doc_round_trips, "empty_doc_round_trips"},
    {test_history_since_limit_order, "history_since_limit_order"},
    {test_deployments_listing, "deployments_listing"},
    {test_deployment_id_case_insensitive, "deployment_id_case_insensitive"},
    {test_restart_keeps_everything, "restart_keeps_everything"},
    {test_each_status_visits_every_pair, "each_status_visits_every_pair"},
    {test_each_status_empty_store, "each_status_empty_store"},
    {test_many_puts_history_paging, "many_puts_history_paging"},
    {test_pages_stop_at_the_byte_cap, "pages_stop_at_the_byte_cap"},
    {test_invalid_arguments, "invalid_arguments"},
};

int main(void) {
  /* Each test opens a fresh database; its "migrated" line is noise here. */
  ec_log_set_level(EC_LOG_WARN);
  return ec_test_main("store", tests, EC_TEST_COUNT(tests), NULL, NULL, NULL);
}
