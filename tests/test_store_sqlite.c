/* edgecoap: CUnit tests of what only the SQLite store has (store_sqlite.h): its file, schema, PRAGMAs and query plans. */
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
#include "store_fx.h"
#include "store_sqlite.h"
#include "suite.h"

/*
 * The contract's suites (test_store*.c) run on any backend; these look
 * into the SQLite database itself, through a connection of the test's own.
 */

#define DEV "dev-1"
#define DEP "0b7c8f2e-3a41-4d5e-9f60-71a2b3c4d5e6"
#define DEP2 "1a2b3c4d-0000-4000-8000-000000000002"
#define FLEET_DEP "f1ee7000-0000-4000-8000-0000000000aa"

static int put(ec_store_t *s, const char *dev, const char *dep, ec_state_t st,
               const void *doc, size_t len, int64_t at, int *created,
               int64_t *seq) {
  ec_status_write_t w = {dev, dep, st, doc, len, at, NULL, 0};
  return ec_store_status_put(s, &w, created, seq);
}

/* Read a PRAGMA from a connection of the test's own, not the store's. */
static void external_pragma(const char *path, const char *sql, char *out,
                            size_t cap) {
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  out[0] = '\0';
  CU_ASSERT_EQUAL_FATAL(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL),
                        SQLITE_OK);
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
}

/* Run @p sql on a connection of the test's own: its result code. */
static int external_run(const char *path, const char *sql) {
  sqlite3 *db = NULL;
  CU_ASSERT_EQUAL_FATAL(
      sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      NULL),
      SQLITE_OK);
  int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
  sqlite3_close(db);
  return rc;
}

static void external_exec(const char *path, const char *sql) {
  CU_ASSERT_EQUAL(external_run(path, sql), SQLITE_OK);
}

static void external_exec_fails(const char *path, const char *sql) {
  CU_ASSERT_NOT_EQUAL(external_run(path, sql), SQLITE_OK);
}

/* Three messages that between them use every filtered column. */
static void store_some(ec_store_t *s) {
  static const uint8_t doc[] = {0xa0};
  uint64_t macs[] = {UINT64_C(0xaabbccddee00)};
  ec_status_message_t m[3];
  ec_store_msg_write_t w[3];
  memset(m, 0, sizeof(m));
  for (int i = 0; i < 3; i++) {
    m[i].code = 101 + i;
    m[i].has_date = true;
    m[i].date_ms = 1000000 + i;
    w[i] = (ec_store_msg_write_t){&m[i], doc, sizeof(doc)};
  }
  m[0].order_id = "O1";
  m[0].macs = macs;
  m[0].n_macs = 1;
  m[1].subscription_id = "S1";
  m[2].access_id = "A1";
  int64_t first = 0;
  CU_ASSERT_EQUAL_FATAL(ec_store_msg_insert(s, w, 3, 5000, &first), 0);
}

static void test_future_user_version_refused(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  CU_ASSERT_EQUAL(put(f.s, DEV, DEP, EC_STATE_PENDING, "a", 1, 1, NULL, NULL),
                  0);
  ec_store_close(f.s);
  f.s = NULL;
  /* As if a newer edgecoap had migrated this database. */
  external_exec(f.path, "PRAGMA user_version = 1000");

  ec_store_t *s = (ec_store_t *)&f;
  CU_ASSERT_EQUAL(ec_store_open(f.path, &s), EC_ESTORE);
  CU_ASSERT_PTR_NULL(s);
  char v[32];
  external_pragma(f.path, "PRAGMA user_version", v, sizeof(v));
  CU_ASSERT_STRING_EQUAL(v, "1000"); /* left as it was */
  ec_store_fx_teardown(&f);
}

static void test_fresh_database_is_current_version_in_wal(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  char v[32], want[16];
  snprintf(want, sizeof(want), "%d", ec_store_schema_version());
  CU_ASSERT(ec_store_schema_version() >= 1);
  external_pragma(f.path, "PRAGMA journal_mode", v, sizeof(v));
  CU_ASSERT_STRING_EQUAL(v, "wal");
  external_pragma(f.path, "PRAGMA user_version", v, sizeof(v));
  CU_ASSERT_STRING_EQUAL(v, want);
  /* Reopening an up-to-date database migrates nothing and keeps WAL. */
  ec_store_fx_reopen(&f);
  external_pragma(f.path, "PRAGMA journal_mode", v, sizeof(v));
  CU_ASSERT_STRING_EQUAL(v, "wal");
  external_pragma(f.path, "PRAGMA user_version", v, sizeof(v));
  CU_ASSERT_STRING_EQUAL(v, want);
  ec_store_fx_teardown(&f);
}

static void test_set_synchronous(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  CU_ASSERT_EQUAL(ec_store_set_synchronous(f.s, "normal"), 0);
  CU_ASSERT_EQUAL(ec_store_set_synchronous(f.s, "OFF"), 0);
  CU_ASSERT_EQUAL(ec_store_set_synchronous(f.s, "full"), 0);
  CU_ASSERT_EQUAL(ec_store_set_synchronous(f.s, "extra"), EC_EINVAL);
  CU_ASSERT_EQUAL(ec_store_set_synchronous(f.s, "2"), EC_EINVAL);
  CU_ASSERT_EQUAL(ec_store_set_synchronous(f.s, NULL), EC_EINVAL);
  /* The store still writes after a change of mode. */
  CU_ASSERT_EQUAL(put(f.s, DEV, DEP, EC_STATE_PENDING, "a", 1, 1, NULL, NULL),
                  0);
  ec_store_fx_teardown(&f);
}

/* Guards the transaction: when the history append fails after the status
 * row was already updated, neither change may survive. */
static void test_failed_put_stores_nothing(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  CU_ASSERT_EQUAL(put(f.s, DEV, DEP, EC_STATE_PENDING, "one", 3, 1, NULL, NULL),
                  0);
  external_exec(f.path,
                "CREATE TRIGGER inject BEFORE INSERT ON status_history"
                " BEGIN SELECT RAISE(ABORT, 'injected failure'); END;");

  int created = -1;
  int64_t seq = -1;
  ec_log_level_t level = ec_log_get_level();
  ec_log_set_level(EC_LOG_ERROR); /* the expected failure is logged */
  CU_ASSERT_EQUAL(put(f.s, DEV, DEP, EC_STATE_FAILED, "two", 3, 2, &created,
                      &seq),
                  EC_ESTORE);
  CU_ASSERT_EQUAL(put(f.s, DEV, DEP2, EC_STATE_FAILED, "new", 3, 2, NULL, NULL),
                  EC_ESTORE);
  ec_log_set_level(level);
  CU_ASSERT_EQUAL(created, -1);
  CU_ASSERT_EQUAL(seq, -1);

  uint8_t *doc = NULL;
  size_t len = 0;
  int64_t at = 0;
  CU_ASSERT_EQUAL_FATAL(ec_store_status_get(f.s, DEV, DEP, &doc, &len, &at, NULL), 0);
  CU_ASSERT_EQUAL(len, 3);
  CU_ASSERT_EQUAL(memcmp(doc, "one", 3), 0);
  CU_ASSERT_EQUAL(at, 1);
  free(doc);
  CU_ASSERT_EQUAL(ec_store_status_get(f.s, DEV, DEP2, &doc, &len, NULL, NULL),
                  EC_ENOTFOUND);

  external_exec(f.path, "DROP TRIGGER inject");
  /* The store recovers, and the failed put used no sequence number. */
  CU_ASSERT_EQUAL(put(f.s, DEV, DEP, EC_STATE_INSTALLED, "two", 3, 3, &created,
                      &seq),
                  0);
  CU_ASSERT_EQUAL(created, 0);
  CU_ASSERT_EQUAL(seq, 2);
  ec_history_entry_t *h = NULL;
  size_t n = 0;
  CU_ASSERT_EQUAL(ec_store_history(f.s, DEV, DEP, 0, 0, &h, &n), 0);
  CU_ASSERT_EQUAL(n, 2);
  free(h);
  ec_store_fx_teardown(&f);
}

static void test_history_is_append_only(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  CU_ASSERT_EQUAL(put(f.s, DEV, DEP, EC_STATE_PENDING, "a", 1, 1, NULL, NULL),
                  0);
  external_exec_fails(f.path, "UPDATE status_history SET doc = x'00'");
  external_exec_fails(f.path, "DELETE FROM status_history");
  ec_store_fx_teardown(&f);
}

static void test_open_refuses_non_database(void) {
  char dir[] = "/tmp/ec_store_test_XXXXXX";
  char path[64];
  CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
  snprintf(path, sizeof(path), "%s/junk.db", dir);
  FILE *fp = fopen(path, "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
  for (int i = 0; i < 256; i++)
    fputs("this is not an SQLite database\n", fp);
  fclose(fp);

  ec_store_t *s = NULL;
  ec_log_level_t level = ec_log_get_level();
  ec_log_set_level(EC_LOG_ERROR);
  CU_ASSERT_EQUAL(ec_store_open(path, &s), EC_ESTORE);
  CU_ASSERT_PTR_NULL(s);
  snprintf(path, sizeof(path), "%s/missing-dir/x.db", dir);
  CU_ASSERT_EQUAL(ec_store_open(path, &s), EC_ESTORE);
  ec_log_set_level(level);

  snprintf(path, sizeof(path), "%s/junk.db", dir);
  unlink(path);
  CU_ASSERT_EQUAL(rmdir(dir), 0);
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
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  store_some(f.s);
  ec_msg_filter_t flt = {0};
  check_plan(f.s, &flt,
             "SEARCH m USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)",
             "no filter");
  flt.order_id = "O1";
  check_plan(f.s, &flt,
             "SEARCH m USING COVERING INDEX status_messages_order_doc "
             "(order_id=? AND id>? AND id<?)",
             "orderId");
  flt.has_from_id = flt.has_to_id = true;
  flt.to_id = 10;
  check_plan(f.s, &flt,
             "SEARCH m USING COVERING INDEX status_messages_order_doc "
             "(order_id=? AND id>? AND id<?)",
             "orderId and an ID range");
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
             "SEARCH m USING INDEX status_messages_order_doc (order_id=? AND "
             "id>? AND id<?)",
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
  ec_store_fx_teardown(&f);
}

/* A database made before the orderId index held the documents: opening
 * it builds that index, drops the old one, keeps every message, and its
 * reads by orderId use the new index alone. */
/* Migration 12 undone: the identities' version and its triggers. */
#define DROP_DEVICES_VERSION                                                   \
  "DROP TRIGGER devices_version_insert; DROP TRIGGER devices_version_update;" \
  " DROP TRIGGER devices_version_delete; DROP TABLE devices_version;"

static void test_order_index_migrated_to_hold_documents(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  store_some(f.s);
  ec_store_close(f.s);
  f.s = NULL;
  char sql[512], v[32], want[16];
  /* Version 9: before the index's migration (10), the failed logins'
   * table (11) and the identities' version (12). */
  snprintf(sql, sizeof(sql),
           "DROP INDEX status_messages_order_doc;"
           "CREATE INDEX status_messages_order ON status_messages (order_id)"
           " WHERE order_id IS NOT NULL; DROP TABLE login_failures; %s"
           " PRAGMA user_version = %d",
           DROP_DEVICES_VERSION, 9);
  external_exec(f.path, sql);
  ec_store_fx_reopen(&f);
  snprintf(want, sizeof(want), "%d", ec_store_schema_version());
  external_pragma(f.path, "PRAGMA user_version", v, sizeof(v));
  CU_ASSERT_STRING_EQUAL(v, want);
  external_pragma(f.path,
                  "SELECT group_concat(name) FROM sqlite_master WHERE"
                  " name LIKE 'status_messages_order%'",
                  v, sizeof(v));
  CU_ASSERT_STRING_EQUAL(v, "status_messages_order_doc");
  ec_msg_filter_t flt = {.order_id = "O1"};
  ec_msg_row_t *rows = NULL;
  size_t n = 0;
  CU_ASSERT_EQUAL(ec_store_msg_list(f.s, &flt, 10, false, &rows, &n), 0);
  CU_ASSERT_EQUAL(n, 1);
  if (n == 1) {
    CU_ASSERT_EQUAL(rows[0].id, 1);
    CU_ASSERT_EQUAL(rows[0].doc_len, 1);
  }
  free(rows);
  check_plan(f.s, &flt,
             "SEARCH m USING COVERING INDEX status_messages_order_doc "
             "(order_id=? AND id>? AND id<?)",
             "orderId after the migration");
  ec_store_fx_teardown(&f);
}

static void test_messages_are_append_only(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  store_some(f.s);
  external_exec_fails(f.path, "UPDATE status_messages SET message_code = 999");
  external_exec_fails(f.path, "DELETE FROM status_messages WHERE id = 1");
  /* And the table itself refuses a message without any identifier. */
  external_exec_fails(f.path, "INSERT INTO status_messages (message_date,"
                              " received_at, message_code, doc) VALUES"
                              " (1, 1, 101, x'a0')");
  CU_ASSERT_EQUAL(ec_store_fx_messages(f.s), 3);
  ec_store_fx_teardown(&f);
}

/* Each fleet read is driven by an index: no plan scans a table. */
static void test_fleet_reads_are_index_backed(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  static const struct {
    ec_store_fleet_query_t q;
    const char *index;
  } cases[] = {
      {{NULL, NULL, -1, "a", "b", 10}, "sqlite_autoindex_deployment_status_1"},
      {{"d1", NULL, -1, NULL, "b", 10}, "sqlite_autoindex_deployment_status_1"},
      {{NULL, NULL, EC_STATE_FAILED, "a", "b", 10},
       "deployment_status_by_state"},
      {{NULL, FLEET_DEP, -1, "a", NULL, 10},
       "deployment_status_by_deployment "},
      {{NULL, FLEET_DEP, EC_STATE_FAILED, "a", NULL, 10},
       "deployment_status_by_deployment_state"},
  };
  char plan[512];
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    CU_ASSERT_EQUAL_FATAL(ec_store_fleet_plan(f.s, &cases[i].q, plan,
                                              sizeof(plan)), 0);
    bool ok = strstr(plan, cases[i].index) != NULL &&
              strstr(plan, "SCAN") == NULL &&
              strstr(plan, "TEMP B-TREE") == NULL;
    if (!ok)
      fprintf(stderr, "\ncase %zu: plan \"%s\" (wanted %s)\n", i, plan,
              cases[i].index);
    CU_ASSERT_TRUE(ok);
  }
  CU_ASSERT_EQUAL(ec_store_fleet_plan(f.s, NULL, plan, sizeof(plan)), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(plan, "SEARCH"));
  CU_ASSERT_PTR_NULL(strstr(plan, "SCAN"));
  ec_store_fx_teardown(&f);
}

static void test_explain_needs_room(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  ec_msg_filter_t flt = {0};
  char plan[16];
  CU_ASSERT_EQUAL(ec_store_msg_explain(f.s, &flt, false, plan, sizeof(plan)),
                  EC_ENOSPC);
  ec_store_fx_teardown(&f);
}

/* A roll-up trigger as schema version 8 had it: on every report, since
 * updated_at changes each time (what it did matters not: version 9 drops
 * it). */
static const char v8_rollup_trigger[] =
    "CREATE TRIGGER fleet_rollup_update"
    " AFTER UPDATE OF state, updated_at ON deployment_status"
    " BEGIN SELECT 1; END;";

/* FLEET_DEP's roll-up counts, in ec_state_t order, and its time. */
static void rollup_is(ec_store_t *s, const int64_t want[EC_STATE_COUNT],
                      int64_t at_ms) {
  ec_fleet_rollup_t r;
  void *block = NULL;
  CU_ASSERT_EQUAL_FATAL(ec_store_fleet_rollup(s, FLEET_DEP, &r, &block), 0);
  for (int i = 0; i < EC_STATE_COUNT; i++)
    CU_ASSERT_EQUAL(r.counts[i], want[i]);
  CU_ASSERT_EQUAL(r.updated_at_ms, at_ms);
  free(block);
}

/* A database of schema version 8 is migrated at open: its roll-up trigger
 * replaced by one that fires on a change of state alone, its counts and
 * time kept, and both followed by later reports. */
static void test_version_8_database_is_migrated(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  CU_ASSERT_EQUAL(put(f.s, "d1", FLEET_DEP, EC_STATE_PENDING, "a", 1, 1000,
                      NULL, NULL),
                  0);
  CU_ASSERT_EQUAL(put(f.s, "d2", FLEET_DEP, EC_STATE_PENDING, "a", 1, 1500,
                      NULL, NULL),
                  0);
  ec_store_close(f.s);
  f.s = NULL;
  external_exec(f.path, "DROP TRIGGER fleet_rollup_state");
  external_exec(f.path, v8_rollup_trigger);
  /* Nor had version 8 the failed logins' table (version 11) or the
   * identities' version (12). */
  external_exec(f.path, "DROP TABLE login_failures");
  external_exec(f.path, DROP_DEVICES_VERSION);
  external_exec(f.path, "PRAGMA user_version = 8");

  ec_store_fx_reopen(&f);
  char v[64], want[16];
  snprintf(want, sizeof(want), "%d", ec_store_schema_version());
  external_pragma(f.path, "PRAGMA user_version", v, sizeof(v));
  CU_ASSERT_STRING_EQUAL(v, want);
  external_pragma(f.path,
                  "SELECT group_concat(name, ' ') FROM (SELECT name FROM"
                  " sqlite_master WHERE type = 'trigger' AND name LIKE"
                  " 'fleet_rollup%' ORDER BY name)",
                  v, sizeof(v));
  CU_ASSERT_STRING_EQUAL(v, "fleet_rollup_insert fleet_rollup_state");
  int64_t counts[EC_STATE_COUNT] = {0};
  counts[EC_STATE_PENDING] = 2;
  rollup_is(f.s, counts, 1500);
  /* The same state later: the time moves, the counts stay. */
  CU_ASSERT_EQUAL(put(f.s, "d1", FLEET_DEP, EC_STATE_PENDING, "b", 1, 2000,
                      NULL, NULL),
                  0);
  rollup_is(f.s, counts, 2000);
  /* Another state: counted. */
  CU_ASSERT_EQUAL(put(f.s, "d2", FLEET_DEP, EC_STATE_INSTALLING, "b", 1,
                      2500, NULL, NULL),
                  0);
  counts[EC_STATE_PENDING] = 1;
  counts[EC_STATE_INSTALLING] = 1;
  rollup_is(f.s, counts, 2500);
  ec_store_fx_teardown(&f);
}

/* A queued write's completion: counts the refused ones in *ud. */
static void on_queued(void *ud, const ec_status_done_t *d) {
  int *refused = ud;
  if (d->rc < 0)
    (*refused)++;
}

/* The fixture's store closed and its file opened again as a server opens
 * it (EC_STORE_SERVE). */
static ec_store_t *reopen_serving(ec_store_fx_t *f) {
  ec_store_close(f->s);
  f->s = NULL;
  ec_store_t *s = NULL;
  CU_ASSERT_EQUAL_FATAL(ec_store_open_uri(f->path, EC_STORE_SERVE, &s), 0);
  return s;
}

/* A serving store reads its lists of messages on a connection of its own
 * (store_messages.c): each read sees every batch committed before it,
 * also those committed after that connection's first read, and closing the
 * store with it open leaves the database whole. */
static void test_serving_store_lists_see_later_commits(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  ec_store_t *s = reopen_serving(&f);
  ec_msg_filter_t by_order = {.order_id = "O1"}, all = {0};
  ec_msg_row_t *rows = NULL;
  size_t n = 9;
  CU_ASSERT_EQUAL(ec_store_msg_list(s, &by_order, 10, false, &rows, &n), 0);
  CU_ASSERT_EQUAL(n, 0);
  free(rows);
  for (int round = 1; round <= 3; round++) {
    store_some(s);
    rows = NULL;
    CU_ASSERT_EQUAL(ec_store_msg_list(s, &by_order, 10, false, &rows, &n), 0);
    CU_ASSERT_EQUAL(n, (size_t)round);
    if (n == (size_t)round)
      CU_ASSERT_EQUAL(rows[n - 1].id, 3 * round - 2);
    free(rows);
    rows = NULL;
    CU_ASSERT_EQUAL(ec_store_msg_list(s, &all, 100, true, &rows, &n), 0);
    CU_ASSERT_EQUAL(n, (size_t)(3 * round));
    if (n > 0)
      CU_ASSERT_EQUAL(rows[0].id, 3 * round);
    free(rows);
  }
  ec_store_close(s);
  /* Opened again (not serving): every message is there. */
  CU_ASSERT_EQUAL_FATAL(ec_store_open_uri(f.path, 0, &s), 0);
  rows = NULL;
  CU_ASSERT_EQUAL(ec_store_msg_list(s, &all, 100, false, &rows, &n), 0);
  CU_ASSERT_EQUAL(n, 9);
  free(rows);
  ec_store_close(s);
  ec_store_fx_teardown(&f);
}

/* A serving store remembers what it wrote to each pair (store_prior.c):
 * the seqs stay gapless across lone writes, a flush with a refused write
 * (its transaction is rolled back and made again), and a reopen. */
static void test_serving_store_keeps_seqs_gapless(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  ec_store_t *s = reopen_serving(&f);
  int64_t seq = 0;
  for (int i = 1; i <= 3; i++) {
    CU_ASSERT_EQUAL(put(s, DEV, DEP, EC_STATE_PENDING, "a", 1, i, NULL, &seq),
                    0);
    CU_ASSERT_EQUAL(seq, i);
  }
  /* Two good writes, then one whose Request-Id the second used. */
  static const char *const rids[] = {NULL, "rid-00009", "rid-00009"};
  int refused = 0;
  for (int i = 0; i < 3; i++) {
    ec_status_write_t w = {DEV, DEP, EC_STATE_INSTALLING, (const uint8_t *)"b",
                           1, 10 + i, (const uint8_t *)rids[i],
                           rids[i] ? strlen(rids[i]) : 0};
    CU_ASSERT_EQUAL(ec_store_status_queue(s, &w, on_queued, &refused), 0);
  }
  CU_ASSERT_EQUAL(ec_store_wait(s), 0);
  CU_ASSERT_EQUAL(refused, 1);
  CU_ASSERT_EQUAL(put(s, DEV, DEP, EC_STATE_INSTALLING, "c", 1, 20, NULL,
                      &seq),
                  0);
  CU_ASSERT_EQUAL(seq, 6);
  ec_store_close(s);
  CU_ASSERT_EQUAL_FATAL(ec_store_open_uri(f.path, EC_STORE_SERVE, &s), 0);
  CU_ASSERT_EQUAL(put(s, DEV, DEP, EC_STATE_INSTALLING, "d", 1, 30, NULL,
                      &seq),
                  0);
  CU_ASSERT_EQUAL(seq, 7);
  ec_history_entry_t *h = NULL;
  size_t n = 0;
  CU_ASSERT_EQUAL(ec_store_history(s, DEV, DEP, 0, 0, &h, &n), 0);
  CU_ASSERT_EQUAL_FATAL(n, 7);
  for (size_t i = 0; i < n; i++)
    CU_ASSERT_EQUAL(h[i].seq, (int64_t)i + 1);
  free(h);
  ec_store_close(s);
  ec_store_fx_teardown(&f);
}

/* SQLite's allocations go through store_mem.c once a store is open: each
 * block holds what was asked for (its size as sqlite3_msize() says it), a
 * realloc keeps the bytes, small or past the kept sizes, and a small block
 * freed is the next one of its size that SQLite takes, even after the C
 * library's malloc() took one of that size (not under AddressSanitizer,
 * where nothing is kept). */
static void test_sqlite_blocks_are_kept_for_reuse(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  static const int sizes[] = {1, 8, 56, 57, 200, 1016, 1017, 5000};
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    unsigned char *p = sqlite3_malloc(sizes[i]);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT(sqlite3_msize(p) >= (sqlite3_uint64)sizes[i]);
    CU_ASSERT_EQUAL((uintptr_t)p % 8, 0);
    memset(p, 0x5a, (size_t)sizes[i]);
    unsigned char *q = sqlite3_realloc(p, 3 * sizes[i] + 2000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    CU_ASSERT(sqlite3_msize(q) >= (sqlite3_uint64)(3 * sizes[i] + 2000));
    bool same = true;
    for (int k = 0; k < sizes[i]; k++)
      same = same && q[k] == 0x5a;
    CU_ASSERT(same);
    q = sqlite3_realloc(q, sizes[i]);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    CU_ASSERT(q[sizes[i] - 1] == 0x5a);
    sqlite3_free(q);
  }
#if !defined(__SANITIZE_ADDRESS__)
  void *a = sqlite3_malloc(300);
  CU_ASSERT_PTR_NOT_NULL_FATAL(a);
  sqlite3_free(a);
  /* volatile: a malloc() and free() of a block nothing reads could be
   * left out by the compiler. */
  void *volatile c = malloc(300 + 8);
  void *b = sqlite3_malloc(300);
  CU_ASSERT_PTR_EQUAL(b, a);
  sqlite3_free(b);
  free(c);
#endif
  ec_store_fx_teardown(&f);
}

/* The pair's status row, as the test reads it: its document and seq. */
static void expect_status(ec_store_t *s, const char *dep, const char *doc,
                          int64_t seq) {
  uint8_t *d = NULL;
  size_t len = 0;
  int64_t at = 0, n = 0;
  CU_ASSERT_EQUAL_FATAL(ec_store_status_get(s, DEV, dep, &d, &len, &at, &n),
                        0);
  CU_ASSERT_EQUAL(n, seq);
  CU_ASSERT(len == strlen(doc) && memcmp(d, doc, len) == 0);
  free(d);
}

/* A serving store updates a pair's status row at the rowid it kept
 * (store.c): when that rowid holds another pair's row now (a VACUUM may
 * renumber them), the other row stays as it was and the write finds the
 * pair's row by its key. */
static void test_serving_store_follows_a_moved_status_row(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  ec_store_t *s = reopen_serving(&f);
  CU_ASSERT_EQUAL(put(s, DEV, DEP, EC_STATE_PENDING, "a1", 2, 1, NULL, NULL),
                  0);
  CU_ASSERT_EQUAL(put(s, DEV, DEP2, EC_STATE_PENDING, "b1", 2, 2, NULL, NULL),
                  0);
  /* The two rows swap their rowids behind the store's back. */
  char sql[512];
  snprintf(sql, sizeof(sql),
           "UPDATE deployment_status SET rowid = -rowid;"
           "UPDATE deployment_status SET rowid = CASE deployment_id"
           " WHEN '%s' THEN (SELECT -rowid FROM deployment_status"
           " WHERE deployment_id = '%s') ELSE (SELECT -rowid FROM"
           " deployment_status WHERE deployment_id = '%s') END",
           DEP, DEP2, DEP);
  external_exec(f.path, sql);
  int64_t seq = 0;
  /* The same state (a touch) and a new one (an update). */
  CU_ASSERT_EQUAL(put(s, DEV, DEP, EC_STATE_PENDING, "a2", 2, 3, NULL, &seq),
                  0);
  CU_ASSERT_EQUAL(seq, 2);
  CU_ASSERT_EQUAL(put(s, DEV, DEP2, EC_STATE_FAILED, "b2", 2, 4, NULL, &seq),
                  0);
  CU_ASSERT_EQUAL(seq, 2);
  expect_status(s, DEP, "a2", 2);
  expect_status(s, DEP2, "b2", 2);
  CU_ASSERT_EQUAL(put(s, DEV, DEP, EC_STATE_INSTALLED, "a3", 2, 5, NULL,
                      &seq),
                  0);
  CU_ASSERT_EQUAL(seq, 3);
  expect_status(s, DEP, "a3", 3);
  expect_status(s, DEP2, "b2", 2);
  ec_store_close(s);
  ec_store_fx_teardown(&f);
}

/* Version 12's history, with its foreign key, as migration 1 and 6 made
 * it (a database of that version has it so). */
#define V12_HISTORY                                                            \
  "DROP TRIGGER deployment_status_keeps_history;"                             \
  "DROP TRIGGER deployment_status_keeps_its_key;"                             \
  "CREATE TABLE old_history (id INTEGER PRIMARY KEY,"                         \
  " device_id TEXT NOT NULL, deployment_id TEXT NOT NULL,"                    \
  " seq INTEGER NOT NULL CHECK (seq >= 1), received_at INTEGER NOT NULL,"     \
  " doc BLOB NOT NULL, request_id BLOB CHECK (request_id IS NULL OR"          \
  " length(request_id) BETWEEN 8 AND 16),"                                    \
  " UNIQUE (device_id, deployment_id, seq), FOREIGN KEY (device_id,"          \
  " deployment_id) REFERENCES deployment_status (device_id, deployment_id))"  \
  " STRICT;"                                                                  \
  "INSERT INTO old_history SELECT * FROM status_history;"                     \
  "DROP TABLE status_history;"                                                \
  "ALTER TABLE old_history RENAME TO status_history;"                         \
  "CREATE UNIQUE INDEX status_history_request ON status_history (device_id,"  \
  " request_id) WHERE request_id IS NOT NULL;"                                \
  "PRAGMA user_version = 12"

/* Migration 13 rebuilds the history without its foreign key: every row
 * kept with its id, seq, time, document and Request-Id, and the rules
 * still the database's: append-only, (pair, seq) and (device, Request-Id)
 * unique, a status with history neither deleted nor re-keyed. */
static void test_history_rebuilt_without_foreign_key(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  CU_ASSERT_EQUAL(put(f.s, DEV, DEP, EC_STATE_PENDING, "one", 3, 10, NULL,
                      NULL),
                  0);
  ec_status_write_t w = {DEV, DEP2, EC_STATE_FAILED, (const uint8_t *)"two",
                         3, 20, (const uint8_t *)"rid-00042", 9};
  CU_ASSERT_EQUAL(ec_store_status_put(f.s, &w, NULL, NULL), 0);
  CU_ASSERT_EQUAL(put(f.s, DEV, DEP, EC_STATE_INSTALLED, "three", 5, 30, NULL,
                      NULL),
                  0);
  ec_store_close(f.s);
  f.s = NULL;
  external_exec(f.path, V12_HISTORY);
  char before[512], after[512], v[64];
  static const char rows[] =
      "SELECT group_concat(id || ',' || device_id || ',' || deployment_id ||"
      " ',' || seq || ',' || received_at || ',' || hex(doc) || ',' ||"
      " ifnull(hex(request_id), '-'), ';') FROM (SELECT * FROM status_history"
      " ORDER BY id)";
  external_pragma(f.path, rows, before, sizeof(before));
  CU_ASSERT_PTR_NOT_NULL(strstr(before, "7269642D3030303432")); /* rid-00042 */
  external_pragma(f.path,
                  "SELECT count(*) FROM pragma_foreign_key_list("
                  "'status_history')",
                  v, sizeof(v));
  CU_ASSERT_STRING_EQUAL(v, "2"); /* one row per column of the key */

  ec_store_fx_reopen(&f);
  char want[16];
  snprintf(want, sizeof(want), "%d", ec_store_schema_version());
  external_pragma(f.path, "PRAGMA user_version", v, sizeof(v));
  CU_ASSERT_STRING_EQUAL(v, want);
  external_pragma(f.path, rows, after, sizeof(after));
  CU_ASSERT_STRING_EQUAL(after, before);
  external_pragma(f.path,
                  "SELECT count(*) FROM pragma_foreign_key_list("
                  "'status_history')",
                  v, sizeof(v));
  CU_ASSERT_STRING_EQUAL(v, "0");

  /* The rules, tried from a connection of the test's own. */
  external_exec_fails(f.path, "UPDATE status_history SET doc = x'00'");
  external_exec_fails(f.path, "DELETE FROM status_history");
  external_exec_fails(f.path,
                      "INSERT INTO status_history (device_id, deployment_id,"
                      " seq, received_at, doc) VALUES ('" DEV "', '" DEP "',"
                      " 2, 1, x'00')");
  external_exec_fails(f.path,
                      "INSERT INTO status_history (device_id, deployment_id,"
                      " seq, received_at, doc, request_id) VALUES ('" DEV
                      "', '" DEP "', 9, 1, x'00', CAST('rid-00042' AS BLOB))");
  external_exec_fails(f.path, "DELETE FROM deployment_status");
  external_exec_fails(f.path,
                      "UPDATE deployment_status SET device_id = 'other'");
  external_exec_fails(f.path,
                      "UPDATE deployment_status SET deployment_id = 'other'");
  external_pragma(f.path, "SELECT count(*) FROM deployment_status", v,
                  sizeof(v));
  CU_ASSERT_STRING_EQUAL(v, "2");

  /* The store goes on where it was: the next seq, the history read. */
  int64_t seq = 0;
  CU_ASSERT_EQUAL(put(f.s, DEV, DEP, EC_STATE_INSTALLED, "four", 4, 40, NULL,
                      &seq),
                  0);
  CU_ASSERT_EQUAL(seq, 3);
  ec_history_entry_t *h = NULL;
  size_t n = 0;
  CU_ASSERT_EQUAL(ec_store_history(f.s, DEV, DEP, 0, 0, &h, &n), 0);
  CU_ASSERT_EQUAL_FATAL(n, 3);
  CU_ASSERT_EQUAL(h[0].received_at_ms, 10);
  CU_ASSERT_EQUAL(h[2].report_len, 4);
  free(h);
  ec_store_fx_teardown(&f);
}

/* ------------------------------------------------------------------------ */

static const ec_test_t tests[] = {
    /* First: SQLite takes its allocator only before it initializes, which
     * the first store's open does, and not a test's own connection. */
    {test_sqlite_blocks_are_kept_for_reuse,
     "sqlite_blocks_are_kept_for_reuse"},
    {test_future_user_version_refused, "future_user_version_refused"},
    {test_order_index_migrated_to_hold_documents,
     "order_index_migrated_to_hold_documents"},
    {test_fresh_database_is_current_version_in_wal, "fresh_database_is_current_version_in_wal"},
    {test_set_synchronous, "set_synchronous"},
    {test_failed_put_stores_nothing, "failed_put_stores_nothing"},
    {test_history_is_append_only, "history_is_append_only"},
    {test_open_refuses_non_database, "open_refuses_non_database"},
    {test_every_filter_is_answered_from_an_index,
     "every filter is answered from an index (query plans)"},
    {test_messages_are_append_only, "messages are append-only"},
    {test_explain_needs_room, "explain needs room"},
    {test_fleet_reads_are_index_backed, "fleet_reads_are_index_backed"},
    {test_version_8_database_is_migrated, "version_8_database_is_migrated"},
    {test_history_rebuilt_without_foreign_key,
     "history_rebuilt_without_foreign_key"},
    {test_serving_store_keeps_seqs_gapless,
     "serving_store_keeps_seqs_gapless"},
    {test_serving_store_lists_see_later_commits,
     "serving_store_lists_see_later_commits"},
    {test_serving_store_follows_a_moved_status_row,
     "serving_store_follows_a_moved_status_row"},
};

int main(void) {
  /* Each test opens a fresh database; its "migrated" line is noise here. */
  ec_log_set_level(EC_LOG_WARN);
  return ec_test_main("store_sqlite", tests, EC_TEST_COUNT(tests), NULL, NULL,
                      NULL);
}
