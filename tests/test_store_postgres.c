/* edgecoap: CUnit tests of what only the PostgreSQL store has: its migration under an advisory lock, its triggers, its refusals. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
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
      int rc = ec_store_open(uri, &s);
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
  CU_ASSERT_EQUAL(ec_store_open(f.uri, &s), EC_ESTORE);
  CU_ASSERT_PTR_NULL(s);
  /* Left as it was. */
  PGresult *res = PQexec(c, "SELECT version FROM schema_version");
  CU_ASSERT(PQntuples(res) == 1 && atoi(PQgetvalue(res, 0, 0)) == 99);
  PQclear(res);
  char set[80];
  snprintf(set, sizeof(set), "UPDATE schema_version SET version = %d",
           ec_store_postgres_schema_version());
  CU_ASSERT_EQUAL(run(c, set, NULL, 0), PGRES_COMMAND_OK);
  PQfinish(c);
  ec_store_fx_teardown(&f);
}

static void test_refusals(void) {
  ec_store_t *s = (ec_store_t *)&s;
  /* A password on the command line is refused before any connection. */
  CU_ASSERT_EQUAL(ec_store_open_uri(
                      "postgres://edgecoap:secret@127.0.0.1:1/postgres",
                      EC_STORE_SERVE, &s),
                  EC_EINVAL);
  CU_ASSERT_PTR_NULL(s);
  CU_ASSERT_EQUAL(ec_store_open(
                      "postgresql://127.0.0.1:1/postgres?password=x", &s),
                  EC_EINVAL);
  /* No server there: EC_ESTORE, logged. */
  CU_ASSERT_EQUAL(ec_store_open("postgres://edgecoap@127.0.0.1:1/postgres", &s),
                  EC_ESTORE);
  /* The server's and admin's open takes a reachable database, in either
   * spelling of the scheme. */
  CU_ASSERT_EQUAL(ec_store_open_uri(server_uri(), EC_STORE_SERVE, &s), 0);
  CU_ASSERT_PTR_NOT_NULL(s);
  ec_store_close(s);
  char alt[512];
  snprintf(alt, sizeof(alt), "postgresql%s", server_uri() + strlen("postgres"));
  CU_ASSERT_EQUAL(ec_store_open(alt, &s), 0);
  ec_store_close(s);
  s = NULL;
  CU_ASSERT_PTR_NULL(s);
}

/* One message of order @p order with @p doc as its body. */
static int post(ec_store_t *s, const char *order, const char *doc, size_t n,
                const char *rid) {
  ec_status_message_t m[4];
  ec_store_msg_write_t w[4];
  static const uint64_t mac = UINT64_C(0x0a0b0c0d0e0f);
  for (size_t i = 0; i < n && i < 4; i++) {
    m[i] = (ec_status_message_t){.code = 101, .has_date = true,
                                 .date_ms = (int64_t)i, .order_id = order,
                                 .macs = &mac, .n_macs = 1};
    w[i] = (ec_store_msg_write_t){&m[i], (const uint8_t *)doc, strlen(doc)};
  }
  ec_store_msg_request_t req = {.scope = "dev", .id = (const uint8_t *)rid,
                                .id_len = rid != NULL ? strlen(rid) : 0};
  int64_t first = 0;
  int rc = ec_store_msg_insert_req(s, w, n, 7, rid != NULL ? &req : NULL,
                                   &first);
  return rc < 0 ? rc : (int)first;
}

/* The feed, its addresses and Request-Ids are append-only, and the
 * counter that hands out the IDs only grows. */
static void test_feed_is_append_only(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  CU_ASSERT_EQUAL(post(f.s, "O1", "m", 1, "request-1"), 1);
  PGconn *c = connect_to(&f);
  char err[512];
  static const char *const edits[][2] = {
      {"UPDATE status_messages SET doc = 'x'", "status_messages is append-only"},
      {"DELETE FROM status_messages", "status_messages is append-only"},
      {"TRUNCATE status_messages CASCADE", "is append-only"},
      {"UPDATE status_message_macs SET mac = 1", "status_message_macs is append-only"},
      {"DELETE FROM status_message_macs", "status_message_macs is append-only"},
      {"DELETE FROM status_message_requests", "status_message_requests is append-only"},
      {"TRUNCATE status_message_requests", "status_message_requests is append-only"},
      {"UPDATE status_message_counter SET last_id = 0", "only grows"},
      {"DELETE FROM status_message_counter", "only grows"},
      {"TRUNCATE status_message_counter", "only grows"},
      {"INSERT INTO status_message_counter VALUES (true, 5)", "duplicate key"},
  };
  for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
    CU_ASSERT_EQUAL(run(c, edits[i][0], err, sizeof(err)), PGRES_FATAL_ERROR);
    if (strstr(err, edits[i][1]) == NULL)
      fprintf(stderr, "\n%s: %s", edits[i][0], err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, edits[i][1]));
  }
  PQfinish(c);
  CU_ASSERT_EQUAL(ec_store_fx_messages(f.s), 1);
  /* A post that fails (its Request-Id is taken) hands out no ID: the next
   * one follows without a gap, as a sequence would not. */
  CU_ASSERT_EQUAL(post(f.s, "O1", "m", 2, "request-1"), EC_ESTORE);
  CU_ASSERT_EQUAL(post(f.s, "O1", "m", 2, NULL), 2);
  CU_ASSERT_EQUAL(post(f.s, "O1", "m", 1, NULL), 4);
  ec_store_fx_teardown(&f);
}

/*
 * WRITERS processes post batches of one to three messages, each on its own
 * store (its own connection), a few of them refused (a Request-Id used
 * twice), while the test syncs as a client does, by "after the last ID
 * seen": it must never see an ID before every smaller one committed (a
 * gap it would skip for good), each batch's IDs are consecutive, and in
 * the end it has every committed message once.
 */
enum { WRITERS = 4, POSTS = 40 };

static void writer(const char *uri, int k, int out) {
  ec_store_t *s = NULL;
  int stored = 0;
  if (ec_store_open(uri, &s) == 0) {
    for (int b = 0; b < POSTS; b++) {
      char doc[32], rid[32];
      int n = 1 + (k + b) % 3;
      snprintf(doc, sizeof(doc), "%d:%d:%d", k, b, n);
      snprintf(rid, sizeof(rid), "rid-%d-%d", k, b % 10 == 9 ? 0 : b);
      if (post(s, "O", doc, (size_t)n, rid) > 0)
        stored += n;
    }
    ec_store_close(s);
  }
  (void)write(out, &stored, sizeof(stored));
  _exit(0);
}

static void test_feed_ids_gapless_across_writers(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  int done[2];
  CU_ASSERT_FATAL(pipe(done) == 0);
  pid_t kids[WRITERS];
  for (int k = 0; k < WRITERS; k++) {
    kids[k] = fork();
    CU_ASSERT_FATAL(kids[k] >= 0);
    if (kids[k] == 0) {
      close(done[0]);
      writer(f.uri, k, done[1]);
    }
  }
  close(done[1]);
  int expect = 0, finished = 0;
  int64_t last = 0;
  bool gap = false, split = false;
  char prev[32] = "";
  int prev_left = 0;
  /* Bounded: 20 s at most of reads every 2 ms. */
  for (int round = 0; round < 10000 && !gap; round++) {
    ec_msg_filter_t flt = {.has_from_id = true, .from_id = last};
    ec_msg_row_t *rows = NULL;
    size_t n = 0;
    bool idle = finished == WRITERS;
    CU_ASSERT_EQUAL_FATAL(
        ec_store_msg_list(f.s, &flt, EC_MSG_LIMIT_MAX, false, &rows, &n), 0);
    for (size_t i = 0; i < n; i++) {
      if (rows[i].id != last + 1)
        gap = true;
      last = rows[i].id;
      char doc[32];
      snprintf(doc, sizeof(doc), "%.*s", (int)rows[i].doc_len,
               (const char *)rows[i].doc);
      /* A batch's messages are consecutive: the same body n times. */
      if (prev_left > 0) {
        if (strcmp(doc, prev) != 0)
          split = true;
        prev_left--;
      } else {
        int k, b, c;
        if (sscanf(doc, "%d:%d:%d", &k, &b, &c) != 3)
          split = true;
        snprintf(prev, sizeof(prev), "%s", doc);
        prev_left = c - 1;
      }
    }
    free(rows);
    if (idle && n == 0)
      break;
    struct timeval tv = {0, 2000};
    fd_set rd;
    FD_ZERO(&rd);
    if (finished < WRITERS)
      FD_SET(done[0], &rd);
    if (select(finished < WRITERS ? done[0] + 1 : 0, &rd, NULL, NULL, &tv) > 0) {
      int stored = 0;
      if (read(done[0], &stored, sizeof(stored)) == (ssize_t)sizeof(stored)) {
        expect += stored;
        finished++;
      }
    }
  }
  close(done[0]);
  for (int k = 0; k < WRITERS; k++) {
    int st = 0;
    CU_ASSERT_EQUAL(waitpid(kids[k], &st, 0), kids[k]);
  }
  CU_ASSERT_FALSE(gap);
  CU_ASSERT_FALSE(split);
  CU_ASSERT_EQUAL(finished, WRITERS);
  /* Every tenth post of a writer reuses its first Request-Id: refused. */
  CU_ASSERT(expect > 0 && last == expect);
  CU_ASSERT_EQUAL(ec_store_fx_messages(f.s), expect);
  ec_store_fx_teardown(&f);
}

/* Two stores on one database, as two nodes are: an account, a token and
 * an identity made through one hold on the other at once, and a logout or
 * a removal through the other holds on the first. */
static void test_accounts_shared_across_stores(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  ec_store_t *b = NULL;
  CU_ASSERT_EQUAL_FATAL(ec_store_open(f.uri, &b), 0);
  ec_store_prov_user_t u = {.id = 0, .username = "alice", .role = "admin",
                            .password_hash = "$argon2id$v=19$x"};
  int64_t id = 0, uid = 0;
  CU_ASSERT_EQUAL(ec_store_prov_user_put(f.s, &u, &id, NULL), 0);
  ec_store_prov_user_t got;
  CU_ASSERT_EQUAL(ec_store_prov_user_find(b, "alice", &got), 0);
  CU_ASSERT_EQUAL(got.id, id);
  uint8_t digest[EC_STORE_PROV_DIGEST_LEN];
  memset(digest, 0x5a, sizeof(digest));
  CU_ASSERT_EQUAL(ec_store_prov_token_add(f.s, digest, id, 1000, 60000), 0);
  CU_ASSERT_EQUAL(ec_store_prov_token_use(b, digest, 2000, 60000, -1, &uid),
                  0);
  CU_ASSERT_EQUAL(uid, id);
  CU_ASSERT_EQUAL(ec_store_prov_token_delete(b, digest, 3000, 60000), 0);
  CU_ASSERT_EQUAL(ec_store_prov_token_use(f.s, digest, 4000, 60000, -1, &uid),
                  EC_ENOTFOUND);
  ec_store_device_t d = {.identity = "dev-9", .role = EC_DEVICE_ROLE_DEVICE,
                         .key_len = 16, .created_at_ms = 5};
  memset(d.key, 7, d.key_len);
  CU_ASSERT_EQUAL(ec_store_device_add(f.s, &d, NULL), 0);
  /* The same identity through the other node is a taken one. */
  CU_ASSERT_EQUAL(ec_store_device_add(b, &d, NULL), EC_EINVAL);
  ec_store_device_t out;
  CU_ASSERT_EQUAL(ec_store_device_find(b, (const uint8_t *)"dev-9", 5, &out),
                  0);
  CU_ASSERT(out.key_len == 16 && out.key[0] == 7);
  CU_ASSERT_EQUAL(ec_store_device_remove(b, "dev-9"), 0);
  CU_ASSERT_EQUAL(ec_store_device_find(f.s, (const uint8_t *)"dev-9", 5, &out),
                  EC_ENOTFOUND);
  /* A username's failed logins counted through either count once each. */
  int64_t fails = 0;
  CU_ASSERT_EQUAL(ec_store_login_failed(f.s, "alice", 100, 1000, NULL), 0);
  CU_ASSERT_EQUAL(ec_store_login_failed(b, "alice", 200, 1000, &fails), 0);
  CU_ASSERT_EQUAL(fails, 2);
  CU_ASSERT_EQUAL(ec_store_login_failures(f.s, "alice", 300, 1000, &fails), 0);
  CU_ASSERT_EQUAL(fails, 2);
  /* Two nodes adding accounts without ids at once pick different ones. */
  ec_store_prov_user_t v = u;
  snprintf(v.username, sizeof(v.username), "bob");
  int64_t id_b = 0;
  CU_ASSERT_EQUAL(ec_store_prov_user_put(b, &v, &id_b, NULL), 0);
  CU_ASSERT(id_b > id);
  ec_store_close(b);
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
    {test_feed_is_append_only, "feed_is_append_only"},
    {test_feed_ids_gapless_across_writers, "feed_ids_gapless_across_writers"},
    {test_accounts_shared_across_stores, "accounts_shared_across_stores"},
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
