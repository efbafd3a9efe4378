/* edgecoap tests: a fresh store for each test, of the backend the run names (EC_TEST_STORE). */
/* SPDX-License-Identifier: Apache-2.0 */
#include "store_fx.h"

#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <libpq-fe.h>

#include "store_sqlite.h"

static const char *backend(void) {
  const char *b = getenv("EC_TEST_STORE");
  return b != NULL && *b != '\0' ? b : "sqlite";
}

static bool is_postgres(const char *b) {
  return strncmp(b, "postgres://", 11) == 0 ||
         strncmp(b, "postgresql://", 13) == 0;
}

/* Run @p sql on the server EC_TEST_STORE names, on a connection of the
 * fixture's own (CUnit fatal on failure). */
static void pg_admin(const char *sql) {
  PGconn *c = PQconnectdb(backend());
  if (PQstatus(c) != CONNECTION_OK) {
    fprintf(stderr, "\nstore_fx: %s", PQerrorMessage(c));
    PQfinish(c);
    CU_FAIL_FATAL("cannot connect to EC_TEST_STORE's PostgreSQL");
  }
  PGresult *r = PQexec(c, sql);
  bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  if (!ok)
    fprintf(stderr, "\nstore_fx: %s: %s", sql, PQresultErrorMessage(r));
  PQclear(r);
  PQfinish(c);
  CU_ASSERT_FATAL(ok);
}

/* PostgreSQL: each test's store is a new schema of its own, named in the
 * URI's search_path (and, for ec_store_fx_fast(), without waiting for
 * the WAL's flush at each commit). */
static void pg_uri(ec_store_fx_t *f, bool fast) {
  const char *b = backend();
  snprintf(f->uri, sizeof(f->uri), "%s%coptions=-csearch_path%%3D%s%s", b,
           strchr(b, '?') != NULL ? '&' : '?', f->dir,
           fast ? "%20-csynchronous_commit%3Doff" : "");
}

static void pg_setup(ec_store_fx_t *f) {
  static unsigned n;
  snprintf(f->dir, sizeof(f->dir), "ec_test_%ld_%u", (long)getpid(), ++n);
  char sql[128];
  snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", f->dir);
  pg_admin(sql);
  pg_uri(f, false);
  CU_ASSERT_EQUAL_FATAL(ec_store_open(f->uri, &f->s), 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(f->s);
}

/* Open f->uri with the backend it names. */
static int fx_open(ec_store_fx_t *f) {
  return ec_store_open(f->uri, &f->s);
}

void ec_store_fx_setup(ec_store_fx_t *f) {
  memset(f, 0, sizeof(*f));
  const char *b = backend();
  if (is_postgres(b)) {
    pg_setup(f);
    return;
  }
  bool sqlite = strcmp(b, "sqlite") == 0, file = strcmp(b, "file") == 0;
  if (!sqlite && !file) {
    fprintf(stderr, "\nEC_TEST_STORE=%s: no fixture for this backend\n", b);
    CU_FAIL_FATAL("EC_TEST_STORE names a backend without a fixture");
  }
  snprintf(f->dir, sizeof(f->dir), "/tmp/ec_store_test_XXXXXX");
  CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(f->dir));
  snprintf(f->path, sizeof(f->path), "%s/store.db", f->dir);
  /* mkdtemp's names need no %-escapes in a file: URI. */
  snprintf(f->uri, sizeof(f->uri), "%s%s", sqlite ? "sqlite:" : "file:",
           f->path);
  CU_ASSERT_EQUAL_FATAL(ec_store_open(f->uri, &f->s), 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(f->s);
}

void ec_store_fx_reopen(ec_store_fx_t *f) {
  ec_store_close(f->s);
  f->s = NULL;
  CU_ASSERT_EQUAL_FATAL(fx_open(f), 0);
}

void ec_store_fx_teardown(ec_store_fx_t *f) {
  static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
  char p[160];
  ec_store_close(f->s);
  f->s = NULL;
  if (is_postgres(f->uri)) {
    char sql[128];
    /* Without the NOTICE that lists every object dropped. */
    snprintf(sql, sizeof(sql), "SET client_min_messages TO warning; "
             "DROP SCHEMA %s CASCADE", f->dir);
    pg_admin(sql);
    return;
  }
  for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
    snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
    unlink(p);
  }
  CU_ASSERT_EQUAL(rmdir(f->dir), 0);
}

int64_t ec_store_fx_messages(ec_store_t *s) {
  ec_msg_filter_t all = {0};
  ec_msg_row_t *rows = NULL;
  size_t n = 0;
  CU_ASSERT_EQUAL(
      ec_store_msg_list(s, &all, EC_MSG_LIMIT_MAX, false, &rows, &n), 0);
  free(rows);
  return (int64_t)n;
}

void ec_store_fx_fast(ec_store_fx_t *f) {
  if (is_postgres(f->uri)) {
    ec_store_close(f->s);
    f->s = NULL;
    pg_uri(f, true);
    CU_ASSERT_EQUAL_FATAL(fx_open(f), 0);
    return;
  }
  CU_ASSERT_EQUAL(ec_store_set_synchronous(f->s, "off"), 0);
}
