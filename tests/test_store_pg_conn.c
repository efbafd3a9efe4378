/* edgecoap: CUnit tests of the PostgreSQL store's connections: pipelined rounds, PostgreSQL stopped, crashed and restarted under queued writes. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <libpq-fe.h>

#include "edgecoap/error.h"
#include "log.h"
#include "store.h"
#include "store_fx.h"
#include "suite.h"
#include "util.h"

#define DEV "dev-c"
#define DEP "0b7c8f2e-3a41-4d5e-9f60-71a2b3c4d5e6"

/* Writes one test queues at most. */
enum { MAX_W = 300 };

typedef struct {
  int n;
  ec_status_done_t d[MAX_W];
  bool ran[MAX_W];
} seen_t;

typedef struct {
  seen_t *seen;
  int i;
} ticket_t;

static void on_done(void *ud, const ec_status_done_t *d) {
  ticket_t *t = ud;
  CU_ASSERT_FALSE(t->seen->ran[t->i]); /* once */
  t->seen->ran[t->i] = true;
  t->seen->d[t->i] = *d;
  t->seen->n++;
}

/* Queue write @p i (request identifier "rid-%05d" when @p with_rid). */
static void queue(ec_store_t *s, seen_t *v, ticket_t *t, int i, bool with_rid) {
  static char rids[MAX_W][16];
  snprintf(rids[i], sizeof(rids[i]), "rid-%05d", i);
  ec_status_write_t w = {
      .device_id = DEV,
      .deployment_id = DEP,
      .state = EC_STATE_INSTALLING,
      .doc = (const uint8_t *)"doc",
      .doc_len = 3,
      .received_at_ms = 1000 + i,
      .request_id = with_rid ? (const uint8_t *)rids[i] : NULL,
      .request_id_len = with_rid ? strlen(rids[i]) : 0,
  };
  t[i] = (ticket_t){v, i};
  CU_ASSERT_EQUAL_FATAL(ec_store_status_queue(s, &w, on_done, &t[i]), 0);
}

/* The cluster pgtmp runs: stop, kill (an immediate stop) or start. */
static void ctl(const char *what) {
  const char *c = getenv("EC_TEST_PG_CTL");
  CU_ASSERT_PTR_NOT_NULL_FATAL(c);
  char cmd[512];
  snprintf(cmd, sizeof(cmd), "%s %s >/dev/null", c, what);
  CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
}

/* One number from @p sql on a connection of the test's own. */
static long long ask(const ec_store_fx_t *f, const char *sql) {
  PGconn *c = PQconnectdb(f->uri);
  CU_ASSERT_EQUAL_FATAL(PQstatus(c), CONNECTION_OK);
  PGresult *r = PQexec(c, sql);
  long long v = -1;
  if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
    v = atoll(PQgetvalue(r, 0, 0));
  else
    fprintf(stderr, "\n%s: %s", sql, PQresultErrorMessage(r));
  PQclear(r);
  PQfinish(c);
  return v;
}

/* Every history seq of the pair once, 1..n: gapless. */
static void assert_gapless(const ec_store_fx_t *f, long long n) {
  CU_ASSERT_EQUAL(ask(f, "SELECT count(*) FROM status_history"), n);
  CU_ASSERT_EQUAL(ask(f, "SELECT count(DISTINCT seq) FROM status_history"), n);
  CU_ASSERT_EQUAL(ask(f, "SELECT coalesce(max(seq), 0) FROM status_history"),
                  n);
}

static void test_a_round_is_one_transaction_answered_later(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  seen_t v = {0};
  ticket_t t[3];
  for (int i = 0; i < 3; i++)
    queue(f.s, &v, t, i, i == 1);
  /* The flush sends the round and returns before its commit is known. */
  CU_ASSERT_EQUAL(ec_store_flush(f.s), 0);
  CU_ASSERT_EQUAL(v.n, 0);
  CU_ASSERT_EQUAL(ec_store_queued(f.s), 3);
  short ev = 0;
  int due = 0;
  int fd = ec_store_fd(f.s, &ev, &due);
  CU_ASSERT(fd >= 0 && (ev & POLLIN) && due == -1);
  /* The answer comes on the descriptor; a flush then calls back. */
  for (int i = 0; i < 100 && v.n < 3; i++) {
    struct pollfd p = {fd, POLLIN, 0};
    CU_ASSERT(poll(&p, 1, 1000) >= 0);
    CU_ASSERT_EQUAL(ec_store_flush(f.s), 0);
  }
  CU_ASSERT_EQUAL_FATAL(v.n, 3);
  for (int i = 0; i < 3; i++)
    CU_ASSERT(v.d[i].rc == 0 && v.d[i].seq == i + 1);
  CU_ASSERT_EQUAL(ec_store_fd(f.s, &ev, &due), -1);
  /* One transaction held the three. */
  CU_ASSERT_EQUAL(ask(&f, "SELECT count(DISTINCT xmin::text) FROM"
                          " status_history"),
                  1);
  assert_gapless(&f, 3);
  ec_store_fx_teardown(&f);
}

static void test_writes_wait_for_a_restarted_postgres(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  seen_t v = {0};
  ticket_t t[4];
  queue(f.s, &v, t, 0, false);
  CU_ASSERT_EQUAL(ec_store_wait(f.s), 0);
  CU_ASSERT_EQUAL_FATAL(v.d[0].rc, 0);
  ctl("stop");
  /* Queued while PostgreSQL is away: they wait, with or without a
   * request identifier, none in doubt. */
  for (int i = 1; i < 4; i++)
    queue(f.s, &v, t, i, i == 2);
  ec_store_flush(f.s);
  CU_ASSERT_EQUAL(v.n, 1);
  short ev;
  int due;
  CU_ASSERT_EQUAL(ec_store_fd(f.s, &ev, &due), -1);
  CU_ASSERT(due >= 0); /* a reconnect to try */
  ctl("start");
  /* No manual step: the store finds PostgreSQL again. */
  CU_ASSERT_EQUAL(ec_store_wait(f.s), 0);
  CU_ASSERT_EQUAL_FATAL(v.n, 4);
  for (int i = 1; i < 4; i++)
    CU_ASSERT(v.d[i].rc == 0 && v.d[i].seq == i + 1);
  assert_gapless(&f, 4);
  /* Reads find it again too. */
  uint8_t *doc = NULL;
  size_t len = 0;
  CU_ASSERT_EQUAL(ec_store_status_get(f.s, DEV, DEP, &doc, &len, NULL, NULL),
                  0);
  free(doc);
  ec_store_fx_teardown(&f);
}

static void test_writes_fail_in_bounded_time_while_postgres_is_away(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  seen_t v = {0};
  ticket_t t[2];
  ctl("stop");
  queue(f.s, &v, t, 0, true);
  uint64_t t0 = ec_mono_ms();
  ec_store_wait(f.s);
  uint64_t took = ec_mono_ms() - t0;
  CU_ASSERT_EQUAL_FATAL(v.n, 1);
  /* Not stored, and said so as "out of reach" (the server's 5.03). */
  CU_ASSERT_EQUAL(v.d[0].rc, EC_ETIMEOUT);
  CU_ASSERT(took >= 4000 && took < 15000);
  ctl("start");
  queue(f.s, &v, t, 1, true);
  CU_ASSERT_EQUAL(ec_store_wait(f.s), 0);
  CU_ASSERT(v.d[1].rc == 0 && v.d[1].seq == 1);
  assert_gapless(&f, 1);
  ec_store_fx_teardown(&f);
}

/* PostgreSQL crashes (an immediate stop) with rounds in flight: after its
 * restart every write under a request identifier is found committed or
 * sent again, and none is stored twice. */
static void test_writes_in_flight_at_a_crash_are_stored_once(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  static seen_t v;
  static ticket_t t[MAX_W];
  memset(&v, 0, sizeof(v));
  for (int i = 0; i < MAX_W; i++)
    queue(f.s, &v, t, i, true);
  ec_store_flush(f.s); /* the first round is on its way */
  ctl("kill");
  ctl("start");
  CU_ASSERT_EQUAL(ec_store_wait(f.s), 0);
  CU_ASSERT_EQUAL_FATAL(v.n, MAX_W);
  int ok = 0;
  for (int i = 0; i < MAX_W; i++)
    ok += v.d[i].rc == 0;
  CU_ASSERT_EQUAL(ok, MAX_W);
  CU_ASSERT_EQUAL(ask(&f, "SELECT count(DISTINCT request_id) FROM"
                          " status_history"),
                  MAX_W);
  assert_gapless(&f, MAX_W);
  ec_store_fx_teardown(&f);
}

static const ec_test_t tests[] = {
    {test_a_round_is_one_transaction_answered_later,
     "a_round_is_one_transaction_answered_later"},
    {test_writes_wait_for_a_restarted_postgres,
     "writes_wait_for_a_restarted_postgres"},
    {test_writes_fail_in_bounded_time_while_postgres_is_away,
     "writes_fail_in_bounded_time_while_postgres_is_away"},
    {test_writes_in_flight_at_a_crash_are_stored_once,
     "writes_in_flight_at_a_crash_are_stored_once"},
};

int main(void) {
  ec_log_set_level(EC_LOG_WARN);
  const char *u = getenv("EC_TEST_PG_URI");
  if (u == NULL || getenv("EC_TEST_PG_CTL") == NULL) {
    fprintf(stderr, "test_store_pg_conn: run it under tests/support/pgtmp\n");
    return 1;
  }
  setenv("EC_TEST_STORE", u, 1);
  return ec_test_main("store_pg_conn", tests, EC_TEST_COUNT(tests), NULL, NULL,
                      NULL);
}
