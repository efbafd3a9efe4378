/* edgecoap: CUnit tests of the status-message store (store/sqlite/store_messages.c).
 */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <sqlite3.h>

#include "edgecoap/error.h"
#include "edgecoap/status_message.h"
#include "log.h"
#include "store.h"
#include "store_sqlite.h"
#include "suite.h"

#define N_MSGS 600
#define BATCH 200

/* Every test gets its own database directory. */
typedef struct {
  char dir[64];
  char path[128];
  ec_store_t *s;
} fixture_t;

static void fx_setup(fixture_t *f) {
  memset(f, 0, sizeof(*f));
  snprintf(f->dir, sizeof(f->dir), "/tmp/ec_store_msg_test_XXXXXX");
  CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(f->dir));
  snprintf(f->path, sizeof(f->path), "%s/store.db", f->dir);
  CU_ASSERT_EQUAL_FATAL(ec_store_open(f->path, &f->s), 0);
}

static void fx_reopen(fixture_t *f) {
  ec_store_close(f->s);
  CU_ASSERT_EQUAL_FATAL(ec_store_open(f->path, &f->s), 0);
}

static void fx_teardown(fixture_t *f) {
  static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
  char p[160];
  ec_store_close(f->s);
  for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
    snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
    unlink(p);
  }
  CU_ASSERT_EQUAL(rmdir(f->dir), 0);
}

/* ---- a deterministic feed ---------------------------------------------- */

/*
 * Message i of the feed: ten orders, seven subscriptions (on two thirds),
 * five accesses (on half), one or two of six addresses (on half), and dates
 * that are a permutation of the IDs' order, so that a date range is not an
 * ID range.
 */
typedef struct {
  ec_status_message_t m;
  char order[8], sub[8], access[8];
  uint64_t macs[2];
} feed_msg_t;

static feed_msg_t feed[N_MSGS];

static void make_feed(void) {
  for (int i = 0; i < N_MSGS; i++) {
    feed_msg_t *x = &feed[i];
    ec_status_message_t *m = &x->m;
    memset(x, 0, sizeof(*x));
    snprintf(x->order, sizeof(x->order), "O%d", i % 10);
    snprintf(x->sub, sizeof(x->sub), "S%d", i % 7);
    snprintf(x->access, sizeof(x->access), "A%d", i % 5);
    m->code = 101 + i % 10;
    m->has_date = true;
    m->date_ms = 1000000 + (int64_t)((i * 37) % N_MSGS) * 10;
    m->order_id = i % 11 == 0 ? NULL : x->order;
    m->subscription_id = i % 3 == 0 ? NULL : x->sub;
    m->access_id =
        i % 2 == 0 || (m->order_id == NULL && m->subscription_id == NULL)
            ? x->access
            : NULL;
    x->macs[0] = UINT64_C(0xaabbccddee00) + (uint64_t)(i % 6);
    x->macs[1] = UINT64_C(0x001122334455);
    m->macs = x->macs;
    m->n_macs = i % 4 == 0 ? 2 : i % 4 == 1 ? 1 : 0;
  }
}

/* Store the feed in batches; the IDs must come out 1..N_MSGS in order. */
static void store_feed(ec_store_t *s) {
  static uint8_t docs[N_MSGS][512];
  ec_store_msg_write_t w[BATCH];
  for (int b = 0; b < N_MSGS / BATCH; b++) {
    for (int i = 0; i < BATCH; i++) {
      feed_msg_t *x = &feed[b * BATCH + i];
      ssize_t n = ec_status_message_encode(
          EC_FORMAT_CBOR, &x->m, docs[b * BATCH + i], sizeof(docs[0]));
      CU_ASSERT_FATAL(n > 0 && (size_t)n <= sizeof(docs[0]));
      w[i] = (ec_store_msg_write_t){&x->m, docs[b * BATCH + i], (size_t)n};
    }
    int64_t first = -1;
    CU_ASSERT_EQUAL_FATAL(ec_store_msg_insert(s, w, BATCH, 5000, &first), 0);
    CU_ASSERT_EQUAL(first, b * BATCH + 1);
  }
  for (int i = 0; i < N_MSGS; i++)
    feed[i].m.id = i + 1;
}

static int64_t count_all(ec_store_t *s) {
  ec_msg_filter_t f = {0};
  ec_msg_row_t *rows;
  size_t n;
  CU_ASSERT_EQUAL(ec_store_msg_list(s, &f, EC_MSG_LIMIT_MAX, false, &rows, &n),
                  0);
  free(rows);
  return (int64_t)n;
}

/* ---- tests -------------------------------------------------------------- */

static void test_ids_strictly_increase_and_survive_restart(void) {
  fixture_t f;
  fx_setup(&f);
  make_feed();
  store_feed(f.s);
  CU_ASSERT_EQUAL(count_all(f.s), N_MSGS);
  fx_reopen(&f);
  uint8_t doc[512];
  ssize_t n =
      ec_status_message_encode(EC_FORMAT_CBOR, &feed[1].m, doc, sizeof(doc));
  ec_store_msg_write_t w = {&feed[1].m, doc, (size_t)n};
  int64_t id = 0;
  CU_ASSERT_EQUAL(ec_store_msg_insert(f.s, &w, 1, 7000, &id), 0);
  CU_ASSERT_EQUAL(id, N_MSGS + 1);
  /* The stored document comes back byte for byte, under its ID. */
  ec_msg_row_t *row = NULL;
  CU_ASSERT_EQUAL_FATAL(ec_store_msg_get(f.s, id, &row), 0);
  CU_ASSERT_EQUAL(row->id, id);
  CU_ASSERT_EQUAL_FATAL(row->doc_len, (size_t)n);
  CU_ASSERT_EQUAL(memcmp(row->doc, doc, (size_t)n), 0);
  free(row);
  CU_ASSERT_EQUAL(ec_store_msg_get(f.s, id + 1, &row), EC_ENOTFOUND);
  CU_ASSERT_PTR_NULL(row);
  CU_ASSERT_EQUAL(ec_store_msg_get(f.s, 0, &row), EC_EINVAL);
  fx_teardown(&f);
}

static void test_failed_batch_stores_nothing(void) {
  fixture_t f;
  fx_setup(&f);
  make_feed();
  static const uint8_t doc[] = {0xa0};
  ec_store_msg_write_t w[3];
  feed_msg_t bad = feed[2];
  /* Past the codec's rules but caught by the table's CHECK: the third
   * insert fails inside the transaction. */
  bad.m.order_id = "O123456789012345678901234567890123456";
  for (int i = 0; i < 3; i++)
    w[i] =
        (ec_store_msg_write_t){i == 2 ? &bad.m : &feed[i].m, doc, sizeof(doc)};
  int64_t first = -7;
  /* The store logs the CHECK failure as an error, as it should. */
  CU_ASSERT_EQUAL(ec_store_msg_insert(f.s, w, 3, 1, &first), EC_ESTORE);
  CU_ASSERT_EQUAL(first, -7);
  CU_ASSERT_EQUAL(count_all(f.s), 0);
  /* The next good batch starts at ID 1: the failed one took none. */
  CU_ASSERT_EQUAL(ec_store_msg_insert(f.s, w, 2, 1, &first), 0);
  CU_ASSERT_EQUAL(first, 1);
  CU_ASSERT_EQUAL(count_all(f.s), 2);
  /* Arguments that break the API are refused before anything starts. */
  ec_status_message_t no_date = feed[0].m;
  no_date.has_date = false;
  ec_store_msg_write_t nd = {&no_date, doc, sizeof(doc)};
  CU_ASSERT_EQUAL(ec_store_msg_insert(f.s, &nd, 1, 1, &first), EC_EINVAL);
  CU_ASSERT_EQUAL(ec_store_msg_insert(f.s, w, 0, 1, &first), EC_EINVAL);
  CU_ASSERT_EQUAL(count_all(f.s), 2);
  fx_teardown(&f);
}

/* Compare one read of the store with the codec's matcher over the feed. */
static void check_read(ec_store_t *s, const ec_msg_filter_t *flt, int limit,
                       bool newest_first, const char *what) {
  int64_t want[N_MSGS];
  size_t n_want = 0;
  size_t cap = limit <= 0 ? EC_MSG_LIMIT_DEFAULT : (size_t)limit;
  for (int k = 0; k < N_MSGS && n_want < cap; k++) {
    int i = newest_first ? N_MSGS - 1 - k : k;
    if (ec_msg_filter_match(flt, &feed[i].m))
      want[n_want++] = feed[i].m.id;
  }
  ec_msg_row_t *rows = NULL;
  size_t n = 0;
  CU_ASSERT_EQUAL_FATAL(
      ec_store_msg_list(s, flt, limit, newest_first, &rows, &n), 0);
  bool same = n == n_want;
  for (size_t i = 0; same && i < n; i++)
    same = rows[i].id == want[i] && rows[i].doc_len > 0;
  if (!same)
    fprintf(stderr, "\n%s: store gave %zu rows, the matcher %zu\n", what, n,
            n_want);
  CU_ASSERT_TRUE(same);
  free(rows);
}

static void test_every_filter_alone_and_combined_agrees_with_matcher(void) {
  fixture_t f;
  fx_setup(&f);
  make_feed();
  store_feed(f.s);
  ec_msg_filter_t base = {0};
  check_read(f.s, &base, 0, false, "no filter");
  check_read(f.s, &base, 7, true, "no filter, newest 7");

  ec_msg_filter_t one[12];
  memset(one, 0, sizeof(one));
  one[0].order_id = "O3";
  one[1].subscription_id = "S4";
  one[2].access_id = "A2";
  one[3].has_mac = true;
  one[3].mac = UINT64_C(0xaabbccddee02);
  one[4].has_mac = true;
  one[4].mac = UINT64_C(0x001122334455);
  one[5].has_from_date = true;
  one[5].from_date_ms = 1000000 + 5000;
  one[6].has_to_date = true;
  one[6].to_date_ms = 1000000 + 100;
  one[7].has_from_date = one[7].has_to_date = true;
  one[7].from_date_ms = 1000000 + 1230;
  one[7].to_date_ms = 1000000 + 1230; /* inclusive: exactly one message */
  one[8].has_from_id = true;
  one[8].from_id = 590;
  one[9].has_to_id = true;
  one[9].to_id = 4;
  one[10].has_from_id = one[10].has_to_id = true;
  one[10].from_id = 100;
  one[10].to_id = 101; /* exclusive both ends: nothing */
  one[11].order_id = "O404";
  for (size_t i = 0; i < sizeof(one) / sizeof(one[0]); i++) {
    char what[32];
    snprintf(what, sizeof(what), "filter %zu", i);
    check_read(f.s, &one[i], 0, false, what);
    check_read(f.s, &one[i], 3, true, what);
  }

  /* Every pair of the above, and a few with everything at once. */
  for (size_t i = 0; i < sizeof(one) / sizeof(one[0]); i++) {
    for (size_t j = i + 1; j < sizeof(one) / sizeof(one[0]); j++) {
      ec_msg_filter_t c = one[i];
      const ec_msg_filter_t *o = &one[j];
      if (o->order_id != NULL && c.order_id == NULL)
        c.order_id = o->order_id;
      if (o->subscription_id != NULL)
        c.subscription_id = o->subscription_id;
      if (o->access_id != NULL)
        c.access_id = o->access_id;
      if (o->has_mac) {
        c.has_mac = true;
        c.mac = o->mac;
      }
      if (o->has_from_date) {
        c.has_from_date = true;
        c.from_date_ms = o->from_date_ms;
      }
      if (o->has_to_date) {
        c.has_to_date = true;
        c.to_date_ms = o->to_date_ms;
      }
      if (o->has_from_id) {
        c.has_from_id = true;
        c.from_id = o->from_id;
      }
      if (o->has_to_id) {
        c.has_to_id = true;
        c.to_id = o->to_id;
      }
      char what[32];
      snprintf(what, sizeof(what), "filters %zu+%zu", i, j);
      check_read(f.s, &c, 0, false, what);
      check_read(f.s, &c, 1, true, what);
    }
  }
  ec_msg_filter_t all = {.order_id = "O2",
                         .subscription_id = "S2",
                         .has_mac = true,
                         .mac = UINT64_C(0x001122334455),
                         .has_from_date = true,
                         .from_date_ms = 1000000,
                         .has_to_date = true,
                         .to_date_ms = 1000000 + 4000,
                         .has_from_id = true,
                         .from_id = 10,
                         .has_to_id = true,
                         .to_id = 500};
  check_read(f.s, &all, 0, false, "everything");
  all.access_id = "A0";
  check_read(f.s, &all, 0, false, "everything and access");
  fx_teardown(&f);
}

static void test_limit_default_max_and_paging(void) {
  fixture_t f;
  fx_setup(&f);
  make_feed();
  store_feed(f.s);
  /* Page through the order O1 three at a time: every message exactly once,
   * in order, as a client syncing with fromStatusMessageID does. */
  ec_msg_filter_t flt = {.order_id = "O1", .has_from_id = true, .from_id = 0};
  int64_t seen = 0, last = 0;
  for (;;) {
    ec_msg_row_t *rows;
    size_t n;
    CU_ASSERT_EQUAL_FATAL(ec_store_msg_list(f.s, &flt, 3, false, &rows, &n), 0);
    for (size_t i = 0; i < n; i++) {
      CU_ASSERT_TRUE(rows[i].id > last);
      last = rows[i].id;
      seen++;
    }
    free(rows);
    if (n < 3)
      break;
    flt.from_id = last;
  }
  int64_t want = 0;
  for (int i = 0; i < N_MSGS; i++)
    want += feed[i].m.order_id != NULL && strcmp(feed[i].m.order_id, "O1") == 0;
  CU_ASSERT_EQUAL(seen, want);
  /* limit <= 0 is the default; above the maximum it is cut. */
  ec_msg_filter_t none = {0};
  ec_msg_row_t *rows;
  size_t n;
  CU_ASSERT_EQUAL(ec_store_msg_list(f.s, &none, 0, false, &rows, &n), 0);
  CU_ASSERT_EQUAL(n, N_MSGS < EC_MSG_LIMIT_DEFAULT ? N_MSGS
                                                   : EC_MSG_LIMIT_DEFAULT);
  free(rows);
  CU_ASSERT_EQUAL(ec_store_msg_list(f.s, &none, 1000000, false, &rows, &n), 0);
  CU_ASSERT_EQUAL(n, N_MSGS);
  free(rows);
  /* Nothing matches: an empty answer, no block. */
  none.order_id = "nobody";
  rows = (ec_msg_row_t *)&n;
  CU_ASSERT_EQUAL(ec_store_msg_list(f.s, &none, 10, false, &rows, &n), 0);
  CU_ASSERT_EQUAL(n, 0);
  CU_ASSERT_PTR_NULL(rows);
  fx_teardown(&f);
}

/* The plan of each filter names its index and never scans a table. */
static void check_plan(ec_store_t *s, const ec_msg_filter_t *flt,
                       const char *want, const char *what) {
  for (int d = 0; d < 2; d++) {
    char plan[1024];
    int n = ec_store_msg_explain(s, flt, d != 0, plan, sizeof(plan));
    CU_ASSERT_FATAL(n > 0);
    bool ok = strstr(plan, want) != NULL && strstr(plan, "SCAN") == NULL;
    if (!ok)
      fprintf(stderr, "\n%s: plan \"%s\" (wanted %s, no SCAN)\n", what, plan,
              want);
    CU_ASSERT_TRUE(ok);
  }
}

static void test_every_filter_is_answered_from_an_index(void) {
  fixture_t f;
  fx_setup(&f);
  make_feed();
  store_feed(f.s);
  ec_msg_filter_t flt = {0};
  check_plan(f.s, &flt,
             "SEARCH m USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)",
             "no filter");
  flt.order_id = "O1";
  check_plan(f.s, &flt,
             "SEARCH m USING INDEX status_messages_order (order_id=? AND "
             "rowid>? AND rowid<?)",
             "orderId");
  memset(&flt, 0, sizeof(flt));
  flt.subscription_id = "S1";
  check_plan(f.s, &flt,
             "SEARCH m USING INDEX status_messages_subscription "
             "(subscription_id=? AND rowid>? AND rowid<?)",
             "subscriptionId");
  memset(&flt, 0, sizeof(flt));
  flt.access_id = "A1";
  check_plan(f.s, &flt,
             "SEARCH m USING INDEX status_messages_access (access_id=? AND "
             "rowid>? AND rowid<?)",
             "accessId");
  memset(&flt, 0, sizeof(flt));
  flt.has_mac = true;
  check_plan(f.s, &flt,
             "SEARCH x USING PRIMARY KEY (mac=? AND message_id>? AND "
             "message_id<?); SEARCH m USING INTEGER PRIMARY KEY (rowid=?)",
             "macAddress");
  memset(&flt, 0, sizeof(flt));
  flt.has_from_date = true;
  check_plan(f.s, &flt, "SEARCH m USING INDEX status_messages_date",
             "fromDateTime");
  memset(&flt, 0, sizeof(flt));
  flt.has_to_date = true;
  check_plan(f.s, &flt, "SEARCH m USING INDEX status_messages_date",
             "toDateTime");
  memset(&flt, 0, sizeof(flt));
  flt.has_from_id = flt.has_to_id = true;
  flt.to_id = 10;
  check_plan(f.s, &flt,
             "SEARCH m USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)",
             "ID range");
  /* Combined, the first of the precedence drives; the mac test of the
   * others is an index lookup per row, not a scan. */
  ec_msg_filter_t all = {.order_id = "O1",
                         .subscription_id = "S1",
                         .access_id = "A1",
                         .has_mac = true,
                         .has_from_date = true,
                         .has_to_date = true,
                         .has_from_id = true,
                         .has_to_id = true,
                         .to_id = 100};
  check_plan(f.s, &all,
             "status_messages_order (order_id=? AND rowid>? AND rowid<?)",
             "everything");
  check_plan(f.s, &all, "SEARCH y USING PRIMARY KEY (mac=? AND message_id=?)",
             "everything");
  all.order_id = NULL;
  check_plan(f.s, &all, "status_messages_subscription", "all but order");
  all.subscription_id = NULL;
  check_plan(f.s, &all, "status_messages_access", "all but order, sub");
  all.access_id = NULL;
  check_plan(f.s, &all, "SEARCH x USING PRIMARY KEY", "mac, dates, IDs");
  all.has_mac = false;
  check_plan(f.s, &all, "status_messages_date", "dates and IDs");
  fx_teardown(&f);
}

static void external_exec_fails(const char *path, const char *sql) {
  sqlite3 *db = NULL;
  CU_ASSERT_EQUAL_FATAL(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL),
                        SQLITE_OK);
  CU_ASSERT_NOT_EQUAL(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
}

static void test_messages_are_append_only(void) {
  fixture_t f;
  fx_setup(&f);
  make_feed();
  store_feed(f.s);
  external_exec_fails(f.path, "UPDATE status_messages SET message_code = 999");
  external_exec_fails(f.path, "DELETE FROM status_messages WHERE id = 1");
  /* And the table itself refuses a message without any identifier. */
  external_exec_fails(f.path, "INSERT INTO status_messages (message_date,"
                              " received_at, message_code, doc) VALUES"
                              " (1, 1, 101, x'a0')");
  CU_ASSERT_EQUAL(count_all(f.s), N_MSGS);
  fx_teardown(&f);
}

static void test_invalid_arguments(void) {
  fixture_t f;
  fx_setup(&f);
  ec_msg_filter_t flt = {0};
  ec_msg_row_t *rows;
  size_t n;
  char plan[16];
  CU_ASSERT_EQUAL(ec_store_msg_list(NULL, &flt, 1, false, &rows, &n),
                  EC_EINVAL);
  CU_ASSERT_EQUAL(ec_store_msg_list(f.s, NULL, 1, false, &rows, &n), EC_EINVAL);
  flt.has_from_id = true;
  flt.from_id = -1;
  CU_ASSERT_EQUAL(ec_store_msg_list(f.s, &flt, 1, false, &rows, &n), EC_EINVAL);
  flt.has_from_id = false;
  flt.has_mac = true;
  flt.mac = UINT64_C(1) << 48;
  CU_ASSERT_EQUAL(ec_store_msg_list(f.s, &flt, 1, false, &rows, &n), EC_EINVAL);
  flt.has_mac = false;
  CU_ASSERT_EQUAL(ec_store_msg_explain(f.s, &flt, false, plan, sizeof(plan)),
                  EC_ENOSPC);
  CU_ASSERT_EQUAL(ec_store_msg_insert(f.s, NULL, 1, 0, NULL), EC_EINVAL);
  fx_teardown(&f);
}

static const ec_test_t tests[] = {
    {test_ids_strictly_increase_and_survive_restart,
     "IDs strictly increase and survive a restart"},
    {test_failed_batch_stores_nothing, "a failed batch stores nothing"},
    {test_every_filter_alone_and_combined_agrees_with_matcher,
     "every filter alone and combined agrees with the matcher"},
    {test_limit_default_max_and_paging, "limit default, maximum and paging"},
    {test_every_filter_is_answered_from_an_index,
     "every filter is answered from an index (query plans)"},
    {test_messages_are_append_only, "messages are append-only"},
    {test_invalid_arguments, "invalid arguments"},
};

int main(void) {
  ec_log_set_level(EC_LOG_WARN);
  return ec_test_main("store_messages", tests, EC_TEST_COUNT(tests), NULL, NULL,
                      NULL);
}
