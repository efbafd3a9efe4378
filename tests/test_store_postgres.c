/* edgecoap: CUnit tests of what only the PostgreSQL store has: its migration under an advisory lock, its triggers, its refusals. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <libpq-fe.h>

#include "edgecoap/error.h"
#include "log.h"
#include "store.h"
#include "store_fx.h"
#include "store_postgres.h"
#include "suite.h"

/* Run under tests/support/pgtmp, which names its cluster in EC_TEST_PG_URI. */
static const char *server_uri(void) {
  const char *u = getenv("EC_TEST_PG_URI");
  return u != NULL ? u : "";
}

/* A connection of the test's own to @p f's schema. */
static PGconn *connect_to(const ec_store_fx_t *f) {
  PGconn *c = PQconnectdb(f->uri);
  CU_ASSERT_EQUAL_FATAL(PQstatus(c), CONNECTION_OK);
  return c;
}

/* Run @p sql; its result status. */
static ExecStatusType run(PGconn *c, const char *sql, char *err, size_t cap) {
  PGresult *r = PQexec(c, sql);
  ExecStatusType st = PQresultStatus(r);
  if (err != NULL)
    snprintf(err, cap, "%s", PQresultErrorMessage(r));
  PQclear(r);
  return st;
}

static int put(ec_store_t *s, const char *dev, const char *rid) {
  ec_status_write_t w = {
      .device_id = dev,
      .deployment_id = "0b7c8f2e-3a41-4d5e-9f60-71a2b3c4d5e6",
      .state = EC_STATE_INSTALLED,
      .doc = (const uint8_t *)"doc",
      .doc_len = 3,
      .received_at_ms = 5,
      .request_id = (const uint8_t *)rid,
      .request_id_len = rid != NULL ? strlen(rid) : 0,
  };
  return ec_store_status_put(s, &w, NULL, NULL);
}

static void test_history_is_append_only(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  CU_ASSERT_EQUAL(put(f.s, "d1", NULL), 0);
  PGconn *c = connect_to(&f);
  char err[512];
  static const char *const edits[] = {
      "UPDATE status_history SET doc = 'x'",
      "DELETE FROM status_history",
      "TRUNCATE status_history CASCADE",
  };
  for (size_t i = 0; i < 3; i++) {
    CU_ASSERT_EQUAL(run(c, edits[i], err, sizeof(err)), PGRES_FATAL_ERROR);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "status_history is append-only"));
  }
  PQfinish(c);
  ec_history_entry_t *h = NULL;
  size_t n = 0;
  CU_ASSERT_EQUAL(ec_store_history(f.s, "d1",
                                   "0b7c8f2e-3a41-4d5e-9f60-71a2b3c4d5e6", 0,
                                   0, &h, &n),
                  0);
  CU_ASSERT(n == 1 && h[0].report_len == 3 && memcmp(h[0].report, "doc", 3) == 0);
  free(h);
  ec_store_fx_teardown(&f);
}

/* N processes open one new schema at once: one creates it, under the
 * advisory lock, and every other finds it made (none fails on a table
 * that exists). */
enum { OPENERS = 6 };

static void test_concurrent_openers_migrate_once(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  /* A second, empty schema, for the openers to race on. */
  ec_store_t *first = f.s;
  PGconn *c = connect_to(&f);
  char schema[80], sql[160], uri[512];
  snprintf(schema, sizeof(schema), "%s_race", f.dir);
  snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", schema);
  CU_ASSERT_EQUAL_FATAL(run(c, sql, NULL, 0), PGRES_COMMAND_OK);
  snprintf(uri, sizeof(uri), "%s?options=-csearch_path%%3D%s", server_uri(),
           schema);

  int go[2], done[2];
  CU_ASSERT_FATAL(pipe(go) == 0 && pipe(done) == 0);
  pid_t kids[OPENERS];
  for (int i = 0; i < OPENERS; i++) {
    kids[i] = fork();
    CU_ASSERT_FATAL(kids[i] >= 0);
    if (kids[i] == 0) {
      char b;
      close(go[1]);
      /* Start together: every child waits for the parent's close. */
      (void)read(go[0], &b, 1);
      ec_store_t *s = NULL;
      int rc = ec_store_postgres_open_incomplete(uri, 0, &s);
      char r = rc != 0 ? 'e' : ec_store_created(s) ? 'c' : 'o';
      if (rc == 0 && put(s, "racer", NULL) != 0)
        r = 'w';
      ec_store_close(s);
      (void)write(done[1], &r, 1);
      _exit(0);
    }
  }
  close(go[0]);
  close(go[1]);
  close(done[1]);
  int created = 0, opened = 0, other = 0;
  char r;
  while (read(done[0], &r, 1) == 1)
    r == 'c' ? created++ : r == 'o' ? opened++ : other++;
  close(done[0]);
  for (int i = 0; i < OPENERS; i++) {
    int st = 0;
    CU_ASSERT_EQUAL(waitpid(kids[i], &st, 0), kids[i]);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  }
  CU_ASSERT_EQUAL(created, 1);
  CU_ASSERT_EQUAL(opened, OPENERS - 1);
  CU_ASSERT_EQUAL(other, 0);
  snprintf(sql, sizeof(sql), "SELECT version FROM %s.schema_version", schema);
  PGresult *res = PQexec(c, sql);
  CU_ASSERT_EQUAL(PQntuples(res), 1);
  if (PQntuples(res) == 1)
    CU_ASSERT_EQUAL(atoi(PQgetvalue(res, 0, 0)),
                    ec_store_postgres_schema_version());
  PQclear(res);
  /* Every racer's report went to the same row: seq 1..N. */
  snprintf(sql, sizeof(sql), "SELECT last_seq FROM %s.deployment_status",
           schema);
  res = PQexec(c, sql);
  CU_ASSERT(PQntuples(res) == 1 && atoi(PQgetvalue(res, 0, 0)) == OPENERS);
  PQclear(res);
  snprintf(sql, sizeof(sql),
           "SET client_min_messages TO warning; DROP SCHEMA %s CASCADE",
           schema);
  CU_ASSERT_EQUAL(run(c, sql, NULL, 0), PGRES_COMMAND_OK);
  PQfinish(c);
  CU_ASSERT_PTR_EQUAL(f.s, first);
  ec_store_fx_teardown(&f);
}

static void test_newer_schema_refused(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  CU_ASSERT_TRUE(ec_store_created(f.s));
  ec_store_fx_reopen(&f);
  CU_ASSERT_FALSE(ec_store_created(f.s));
  PGconn *c = connect_to(&f);
  CU_ASSERT_EQUAL(run(c, "UPDATE schema_version SET version = 99", NULL, 0),
                  PGRES_COMMAND_OK);
  ec_store_t *s = (ec_store_t *)&f;
  CU_ASSERT_EQUAL(ec_store_postgres_open_incomplete(f.uri, 0, &s), EC_ESTORE);
  CU_ASSERT_PTR_NULL(s);
  /* Left as it was. */
  PGresult *res = PQexec(c, "SELECT version FROM schema_version");
  CU_ASSERT(PQntuples(res) == 1 && atoi(PQgetvalue(res, 0, 0)) == 99);
  PQclear(res);
  CU_ASSERT_EQUAL(run(c, "UPDATE schema_version SET version = 1", NULL, 0),
                  PGRES_COMMAND_OK);
  PQfinish(c);
  ec_store_fx_teardown(&f);
}

static void test_refusals(void) {
  ec_store_t *s = (ec_store_t *)&s;
  /* A password on the command line is refused before any connection. */
  CU_ASSERT_EQUAL(ec_store_postgres_open_incomplete(
                      "postgres://edgecoap:secret@127.0.0.1:1/postgres", 0,
                      &s),
                  EC_EINVAL);
  CU_ASSERT_PTR_NULL(s);
  CU_ASSERT_EQUAL(ec_store_postgres_open_incomplete(
                      "postgresql://127.0.0.1:1/postgres?password=x", 0, &s),
                  EC_EINVAL);
  CU_ASSERT_EQUAL(ec_store_postgres_open_incomplete("sqlite:/tmp/x", 0, &s),
                  EC_EINVAL);
  /* No server there: EC_ESTORE, logged. */
  CU_ASSERT_EQUAL(ec_store_postgres_open_incomplete(
                      "postgres://edgecoap@127.0.0.1:1/postgres", 0, &s),
                  EC_ESTORE);
  /* The server and admin's open still refuses postgres://, even for a
   * reachable database. */
  CU_ASSERT_EQUAL(ec_store_open_uri(server_uri(), EC_STORE_SERVE, &s),
                  EC_ENOTSUP);
  CU_ASSERT_EQUAL(ec_store_open(server_uri(), &s), EC_ENOTSUP);
  CU_ASSERT_PTR_NULL(s);
}

/* What is not written yet says so, and changes nothing. */
static void test_unimplemented_entries_refuse(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  ec_msg_row_t *row = NULL;
  int64_t n = -1;
  ec_store_prov_user_t u;
  CU_ASSERT_EQUAL(ec_store_msg_get(f.s, 1, &row), EC_ENOTSUP);
  CU_ASSERT_EQUAL(ec_store_device_count(f.s, &n), EC_ENOTSUP);
  CU_ASSERT_EQUAL(n, -1);
  CU_ASSERT_EQUAL(ec_store_prov_user_find(f.s, "alice", &u), EC_ENOTSUP);
  CU_ASSERT_EQUAL(ec_store_device_remove(f.s, "x"), EC_ENOTSUP);
  ec_store_fx_teardown(&f);
}

static void test_ping_size_where(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  CU_ASSERT_EQUAL(ec_store_ping(f.s), 0);
  int64_t before = 0, after = 0;
  CU_ASSERT_EQUAL(ec_store_size(f.s, &before), 0);
  CU_ASSERT(before > 0);
  char id[32];
  for (int i = 0; i < 200; i++) {
    snprintf(id, sizeof(id), "dev-%d", i);
    CU_ASSERT_EQUAL(put(f.s, id, NULL), 0);
  }
  CU_ASSERT_EQUAL(ec_store_size(f.s, &after), 0);
  CU_ASSERT(after > before);
  /* Where: the server and database, never the user or a password. */
  const char *w = ec_store_where(f.s);
  CU_ASSERT_EQUAL(strncmp(w, "postgres://127.0.0.1:", 21), 0);
  CU_ASSERT_PTR_NULL(strchr(w, '@'));
  ec_store_fx_teardown(&f);
}

static const ec_test_t tests[] = {
    {test_history_is_append_only, "history_is_append_only"},
    {test_concurrent_openers_migrate_once, "concurrent_openers_migrate_once"},
    {test_newer_schema_refused, "newer_schema_refused"},
    {test_refusals, "refusals"},
    {test_unimplemented_entries_refuse, "unimplemented_entries_refuse"},
    {test_ping_size_where, "ping_size_where"},
};

int main(void) {
  ec_log_set_level(EC_LOG_WARN);
  if (strncmp(server_uri(), "postgres://", 11) != 0) {
    fprintf(stderr, "test_store_postgres: run it under tests/support/pgtmp "
            "(EC_TEST_PG_URI is not set)\n");
    return 1;
  }
  /* The fixture's backend is the cluster pgtmp started. */
  setenv("EC_TEST_STORE", server_uri(), 1);
  return ec_test_main("store_postgres_only", tests, EC_TEST_COUNT(tests), NULL,
                      NULL, NULL);
}
