/* edgecoap: CUnit tests of the PostgreSQL store's connections: pipelined rounds, PostgreSQL stopped, crashed and restarted under queued writes. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
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
#include "store_postgres.h"
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

/* Write @p i to deployment @p dep under request identifier @p rid (NULL:
 * none). */
static void queue_to(ec_store_t *s, seen_t *v, ticket_t *t, int i,
                     const char *dep, const char *rid) {
  ec_status_write_t w = {
      .device_id = DEV,
      .deployment_id = dep,
      .state = EC_STATE_INSTALLING,
      .doc = (const uint8_t *)"doc",
      .doc_len = 3,
      .received_at_ms = 1000 + i,
      .request_id = (const uint8_t *)rid,
      .request_id_len = rid != NULL ? strlen(rid) : 0,
  };
  t[i] = (ticket_t){v, i};
  CU_ASSERT_EQUAL_FATAL(ec_store_status_queue(s, &w, on_done, &t[i]), 0);
}

/* Queue write @p i (request identifier "rid-%05d" when @p with_rid). */
static void queue(ec_store_t *s, seen_t *v, ticket_t *t, int i, bool with_rid) {
  static char rids[MAX_W][16];
  snprintf(rids[i], sizeof(rids[i]), "rid-%05d", i);
  queue_to(s, v, t, i, DEP, with_rid ? rids[i] : NULL);
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

/* A post of one message under a fixed code, for the feed's order. */
typedef struct {
  bool ran;
  ec_msg_done_t d;
} post_seen_t;

static void on_post(void *ud, const ec_msg_done_t *d) {
  post_seen_t *p = ud;
  CU_ASSERT_FALSE(p->ran);
  p->ran = true;
  p->d = *d;
}

static const ec_status_message_t chain_msg = {
    .has_date = true, .date_ms = 1000, .code = 101, .order_id = "O-chain"};
static const uint8_t chain_doc[] = {0xa0};
static const ec_store_msg_write_t chain_post = {&chain_msg, chain_doc,
                                                sizeof(chain_doc)};

/*
 * A round that fails is re-run one write at a time; a round sent behind
 * it while it was in flight must not commit first, or a later write to
 * one pair (or a later post to the feed) would overtake an earlier one.
 * Round A is held on a row lock while round B goes out behind it; A then
 * fails (a Request-Id already stored), and every write but the guilty one
 * is stored in the order queued: the pair's seqs and the feed's IDs.
 */
static void test_a_round_behind_a_failed_one_commits_after_it(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  static const char q_dep[] = "1c9d0e3f-4b52-4e6f-8a71-82b3c4d5e6f7";
  seen_t v = {0};
  ticket_t t[4];
  /* One round of each kind first, so that every statement is prepared
   * (a round goes behind another only then). */
  post_seen_t p[3] = {{0}};
  queue_to(f.s, &v, t, 0, DEP, "rid-chain");
  CU_ASSERT_EQUAL(
      ec_store_msg_queue(f.s, &chain_post, 1, 7, NULL, on_post, &p[2]), 0);
  CU_ASSERT_EQUAL(ec_store_wait(f.s), 0);
  CU_ASSERT_EQUAL_FATAL(v.d[0].rc, 0);
  CU_ASSERT_EQUAL_FATAL(p[2].d.rc, 0);
  CU_ASSERT_EQUAL(ec_store_flush(f.s), 0); /* prepares them */
  PGconn *c = PQconnectdb(f.uri);
  CU_ASSERT_EQUAL_FATAL(PQstatus(c), CONNECTION_OK);
  PGresult *r = PQexec(c, "BEGIN; SELECT 1 FROM deployment_status"
                          " WHERE deployment_id = '" DEP "' FOR UPDATE");
  CU_ASSERT_EQUAL(PQresultStatus(r), PGRES_TUPLES_OK);
  PQclear(r);
  /* Round A: waits for the lock, then fails at write 1's history row. */
  queue_to(f.s, &v, t, 1, DEP, "rid-chain");
  queue_to(f.s, &v, t, 2, q_dep, NULL);
  CU_ASSERT_EQUAL(
      ec_store_msg_queue(f.s, &chain_post, 1, 7, NULL, on_post, &p[0]), 0);
  CU_ASSERT_EQUAL(ec_store_flush(f.s), 0);
  /* Round B, behind it: the same pair as write 2, and the feed. */
  queue_to(f.s, &v, t, 3, q_dep, NULL);
  CU_ASSERT_EQUAL(
      ec_store_msg_queue(f.s, &chain_post, 1, 7, NULL, on_post, &p[1]), 0);
  CU_ASSERT_EQUAL(ec_store_flush(f.s), 0);
  usleep(100 * 1000);
  CU_ASSERT_EQUAL(ec_store_flush(f.s), 0);
  CU_ASSERT_EQUAL(v.n, 1); /* nothing more is known while A waits */
  r = PQexec(c, "COMMIT");
  PQclear(r);
  PQfinish(c);
  CU_ASSERT_EQUAL(ec_store_wait(f.s), 0);
  CU_ASSERT_EQUAL_FATAL(v.n, 4);
  CU_ASSERT_FATAL(p[0].ran && p[1].ran);
  CU_ASSERT_NOT_EQUAL(v.d[1].rc, 0); /* the guilty one alone */
  CU_ASSERT(v.d[2].rc == 0 && v.d[2].seq == 1);
  CU_ASSERT(v.d[3].rc == 0 && v.d[3].seq == 2);
  CU_ASSERT(p[0].d.rc == 0 && p[0].d.first_id == 2);
  CU_ASSERT(p[1].d.rc == 0 && p[1].d.first_id == 3);
  CU_ASSERT_EQUAL(ask(&f, "SELECT received_at FROM status_history"
                          " WHERE deployment_id = '1c9d0e3f-4b52-4e6f-8a71-"
                          "82b3c4d5e6f7' AND seq = 1"),
                  1002);
  CU_ASSERT_EQUAL(ask(&f, "SELECT count(*) FROM status_history"), 3);
  ec_store_fx_teardown(&f);
}

/*
 * A round whose batch statement fails (a report under a Request-Id already
 * stored) is logged as that, not as a failed commit, which would say that
 * PostgreSQL could not make the round durable.
 */
static void test_a_failed_batch_statement_is_logged_as_one(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  seen_t v = {0};
  ticket_t t[3];
  queue_to(f.s, &v, t, 0, DEP, "rid-logged");
  CU_ASSERT_EQUAL(ec_store_wait(f.s), 0);
  CU_ASSERT_EQUAL_FATAL(v.d[0].rc, 0);
  char path[] = "/tmp/ec_pg_log_XXXXXX";
  int fd = mkstemp(path);
  CU_ASSERT_FATAL(fd >= 0);
  fflush(stderr);
  int saved = dup(2);
  CU_ASSERT_FATAL(saved >= 0 && dup2(fd, 2) == 2);
  queue_to(f.s, &v, t, 1, DEP, "rid-logged");
  queue_to(f.s, &v, t, 2, DEP, NULL);
  CU_ASSERT_EQUAL(ec_store_wait(f.s), 0);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  static char logged[8192];
  ssize_t n = pread(fd, logged, sizeof(logged) - 1, 0);
  close(fd);
  unlink(path);
  CU_ASSERT_FATAL(n > 0);
  logged[n] = '\0';
  fputs(logged, stderr); /* as it would have been */
  CU_ASSERT_PTR_NOT_NULL(strstr(logged, "store: a round's batch statement: "));
  CU_ASSERT_PTR_NULL(strstr(logged, "a round's commit"));
  CU_ASSERT_EQUAL(v.n, 3);
  CU_ASSERT_NOT_EQUAL(v.d[1].rc, 0);
  CU_ASSERT_EQUAL(v.d[2].rc, 0);
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

/* The hints one store heard (ec_store_listen). */
typedef struct {
  int n, status, any, messages, devices, provs;
  char dev[8][EC_STORE_MAX_ID_LEN + 1], dep[8][EC_STORE_MAX_ID_LEN + 1];
  char identity[4][EC_STORE_MAX_ID_LEN + 1];
  int64_t prov[8];
} heard_t;

static void on_change(void *ud, const ec_store_change_t *c) {
  heard_t *h = ud;
  if (c->kind == EC_STORE_CHANGE_STATUS && h->status < 8) {
    snprintf(h->dev[h->status], sizeof(h->dev[0]), "%s", c->device_id);
    snprintf(h->dep[h->status], sizeof(h->dep[0]), "%s", c->deployment_id);
  }
  h->status += c->kind == EC_STORE_CHANGE_STATUS;
  h->any += c->kind == EC_STORE_CHANGE_ANY;
  h->messages += c->kind == EC_STORE_CHANGE_MESSAGES;
  if (c->kind == EC_STORE_CHANGE_DEVICE && h->devices < 4)
    snprintf(h->identity[h->devices], sizeof(h->identity[0]), "%s",
             c->device_id);
  h->devices += c->kind == EC_STORE_CHANGE_DEVICE;
  if (c->kind == EC_STORE_CHANGE_PROVISIONING && h->provs < 8)
    h->prov[h->provs] = c->provisioning_id;
  h->provs += c->kind == EC_STORE_CHANGE_PROVISIONING;
  h->n++;
}

/* Let @p s read what came, as the server's loop does, until @p done or
 * @p ms pass; the milliseconds it took. */
static int64_t listen_until(ec_store_t *s, const int *counter, int want,
                            int ms) {
  uint64_t t0 = ec_mono_ms();
  while (*counter < want && ec_mono_ms() - t0 < (uint64_t)ms) {
    short ev;
    int due;
    int fd = ec_store_fd(s, &ev, &due);
    struct pollfd p = {fd, ev, 0};
    poll(fd >= 0 ? &p : NULL, fd >= 0 ? 1 : 0, due >= 0 && due < 50 ? due : 50);
    ec_store_flush(s);
  }
  return (int64_t)(ec_mono_ms() - t0);
}

static ec_status_write_t write_of(const char *dev, const char *dep) {
  ec_status_write_t w = {.device_id = dev, .deployment_id = dep,
                         .state = EC_STATE_INSTALLED,
                         .doc = (const uint8_t *)"d", .doc_len = 1,
                         .received_at_ms = 7};
  return w;
}

static void test_other_stores_hear_of_committed_writes(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  ec_store_t *b = NULL;
  CU_ASSERT_EQUAL_FATAL(ec_store_open(f.uri, &b), 0);
  heard_t ha = {0}, hb = {0};
  CU_ASSERT_EQUAL(ec_store_listen(f.s, on_change, &ha), 0);
  CU_ASSERT_EQUAL(ec_store_listen(b, on_change, &hb), 0);
  /* Listening, an idle store has a descriptor to poll. */
  short ev;
  int due;
  CU_ASSERT(ec_store_fd(b, &ev, &due) >= 0 && (ev & POLLIN));
  /* One round of three writes to two pairs, a tab in a device id. */
  seen_t v = {0};
  ticket_t t[3];
  ec_status_write_t w[3] = {write_of("dev\t1", DEP), write_of("dev2", DEP),
                            write_of("dev\t1", "Other-Dep")};
  for (int i = 0; i < 3; i++) {
    t[i] = (ticket_t){&v, i};
    CU_ASSERT_EQUAL_FATAL(ec_store_status_queue(f.s, &w[i], on_done, &t[i]),
                          0);
  }
  CU_ASSERT_EQUAL(ec_store_wait(f.s), 0);
  int64_t took = listen_until(b, &hb.status, 3, 2000);
  CU_ASSERT_EQUAL_FATAL(hb.status, 3);
  CU_ASSERT(took < 1000);
  CU_ASSERT_EQUAL(hb.any, 0);
  CU_ASSERT_STRING_EQUAL(hb.dev[0], "dev\t1");
  CU_ASSERT_STRING_EQUAL(hb.dep[0], DEP);
  CU_ASSERT_STRING_EQUAL(hb.dev[1], "dev2");
  CU_ASSERT_STRING_EQUAL(hb.dep[2], "other-dep"); /* as stored */
  /* One notification for the round: the other store's count of them. */
  /* The writer hears nothing of its own writes. */
  listen_until(f.s, &ha.n, 1, 200);
  CU_ASSERT_EQUAL(ha.n, 0);
  /* A round whose hints pass a notification's size says "anything". */
  static char devs[40][200];
  static ec_status_write_t big[40];
  static ticket_t bt[40];
  static seen_t bv;
  for (int i = 0; i < 40; i++) {
    memset(devs[i], 'a' + i % 26, 199);
    devs[i][0] = (char)('A' + i);
    big[i] = write_of(devs[i], DEP);
    bt[i] = (ticket_t){&bv, i};
    CU_ASSERT_EQUAL_FATAL(ec_store_status_queue(f.s, &big[i], on_done, &bt[i]),
                          0);
  }
  CU_ASSERT_EQUAL(ec_store_wait(f.s), 0);
  listen_until(b, &hb.any, 1, 2000);
  CU_ASSERT_EQUAL(hb.any, 1);
  CU_ASSERT_EQUAL(hb.status, 3);
  ec_store_close(b);
  ec_store_fx_teardown(&f);
}

/* Set up the test's store and open a second one on its database, which
 * listens into @p h: the second, for ec_store_close(). */
static ec_store_t *second_listening(ec_store_fx_t *f, heard_t *h) {
  ec_store_fx_setup(f);
  ec_store_t *b = NULL;
  CU_ASSERT_EQUAL_FATAL(ec_store_open(f->uri, &b), 0);
  CU_ASSERT_EQUAL(ec_store_listen(b, on_change, h), 0);
  return b;
}

/*
 * An import (`admin import`) writes provisionings and catalog names, which
 * select answers show: its transaction hints, once each, the provisionings
 * it wrote and those with components of the catalog entries it wrote, so
 * that the observers on running servers hear of it; accounts alone, which
 * no answer shows, are no hint.
 */
static void test_an_import_hints_the_provisionings_it_changes(void) {
  ec_store_fx_t f;
  heard_t hb = {0};
  ec_store_t *b = second_listening(&f, &hb);
  ec_store_prov_user_t u = {1, "importer", "admin", "$argon2id$x"};
  ec_store_prov_item_t provs[2] = {{21, "north", 0, false, 0},
                                   {22, "south", 1, false, 0}};
  ec_store_prov_item_t light = {5, "Light", 0, false, 0};
  ec_store_prov_import_t im = {&u, 1, provs, 2, {&light, NULL, NULL}, {1, 0, 0}};
  CU_ASSERT_EQUAL_FATAL(ec_store_prov_import(f.s, &im), 0);
  int64_t took = listen_until(b, &hb.provs, 2, 2000);
  CU_ASSERT_EQUAL_FATAL(hb.provs, 2);
  CU_ASSERT(took < 1000);
  CU_ASSERT(hb.prov[0] + hb.prov[1] == 43 && hb.prov[0] * hb.prov[1] == 462);
  CU_ASSERT_EQUAL(hb.any, 0);
  /* Provisioning 22 holds sensor 5: renaming the sensor hints 22 alone. */
  CU_ASSERT_EQUAL(ask(&f, "WITH c AS (INSERT INTO prov_components"
                          " (provisioning_id, component_type, component_id,"
                          " active_status, last_modified_by, last_modified_at)"
                          " VALUES (22, 0, 5, 0, 1, 0) RETURNING 1)"
                          " SELECT count(*) FROM c"),
                  1);
  ec_store_prov_item_t renamed = {5, "Daylight", 0, false, 0};
  ec_store_prov_import_t im2 = {NULL, 0, NULL, 0, {&renamed, NULL, NULL},
                                {1, 0, 0}};
  CU_ASSERT_EQUAL_FATAL(ec_store_prov_import(f.s, &im2), 0);
  listen_until(b, &hb.provs, 3, 2000);
  CU_ASSERT_EQUAL_FATAL(hb.provs, 3);
  CU_ASSERT_EQUAL(hb.prov[2], 22);
  /* Accounts alone: nothing to hear. */
  int n = hb.n;
  ec_store_prov_import_t im3 = {&u, 1, NULL, 0, {NULL, NULL, NULL}, {0, 0, 0}};
  CU_ASSERT_EQUAL(ec_store_prov_import(f.s, &im3), 0);
  listen_until(b, &hb.n, n + 1, 300);
  CU_ASSERT_EQUAL(hb.n, n);
  ec_store_close(b);
  ec_store_fx_teardown(&f);
}

/* Every change to an identity, whoever makes it, is a hint naming it (the
 * devices table's trigger), heard by every listener within a second. */
static void test_identities_changes_are_hinted_by_identity(void) {
  ec_store_fx_t f;
  heard_t hb = {0};
  ec_store_t *b = second_listening(&f, &hb);
  ec_store_device_t d = {0};
  snprintf(d.identity, sizeof(d.identity), "dev:1");
  d.key_len = 16;
  memset(d.key, 'k', d.key_len);
  CU_ASSERT_EQUAL_FATAL(ec_store_device_add(f.s, &d, NULL), 0);
  CU_ASSERT(listen_until(b, &hb.devices, 1, 2000) < 1000);
  CU_ASSERT_EQUAL_FATAL(hb.devices, 1);
  CU_ASSERT_STRING_EQUAL(hb.identity[0], "dev:1");
  CU_ASSERT_EQUAL_FATAL(ec_store_device_remove(f.s, "dev:1"), 0);
  CU_ASSERT(listen_until(b, &hb.devices, 2, 2000) < 1000);
  CU_ASSERT_EQUAL_FATAL(hb.devices, 2);
  CU_ASSERT_STRING_EQUAL(hb.identity[1], "dev:1");
  CU_ASSERT_EQUAL(hb.any, 0);
  ec_store_close(b);
  ec_store_fx_teardown(&f);
}

/* Hints sent while a listener was away are lost: its reconnect says
 * "anything may have changed". */
static void test_a_listener_resynchronises_after_a_restart(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  heard_t h = {0};
  CU_ASSERT_EQUAL(ec_store_listen(f.s, on_change, &h), 0);
  ctl("stop");
  listen_until(f.s, &h.n, 1, 300); /* finds PostgreSQL gone */
  CU_ASSERT_EQUAL(h.n, 0);
  ctl("start");
  listen_until(f.s, &h.any, 1, 3000);
  CU_ASSERT_EQUAL(h.any, 1);
  ec_store_fx_teardown(&f);
}

/* PostgreSQL's host takes connections and never answers (a listener in
 * its place that accepts nothing): reconnecting waits for the network in
 * no call, so the server's loop never stalls on it. */
static void test_an_unanswering_server_stalls_no_call(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  seen_t v = {0};
  ticket_t t[3];
  queue(f.s, &v, t, 0, true);
  CU_ASSERT_EQUAL(ec_store_wait(f.s), 0);
  ctl("stop");
  int l = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)atoi(getenv("PGPORT"))),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  CU_ASSERT_FATAL(l >= 0 && bind(l, (struct sockaddr *)&a, sizeof(a)) == 0 &&
                  listen(l, 16) == 0);
  queue(f.s, &v, t, 1, true);
  uint64_t worst = 0, t0 = ec_mono_ms();
  while (ec_mono_ms() - t0 < 3000) {
    uint64_t s0 = ec_mono_us();
    ec_store_flush(f.s);
    uint8_t *doc = NULL;
    size_t len = 0;
    CU_ASSERT(ec_store_status_get(f.s, DEV, DEP, &doc, &len, NULL, NULL) < 0);
    free(doc);
    uint64_t took = ec_mono_us() - s0;
    worst = took > worst ? took : worst;
    poll(NULL, 0, 20);
  }
  fprintf(stderr, "\n  (the longest flush and read while reconnecting: %llu us) ",
          (unsigned long long)worst);
  CU_ASSERT(worst < 100000);
  CU_ASSERT(ec_store_unreachable(f.s));
  ec_store_wait(f.s);
  CU_ASSERT_EQUAL(v.d[1].rc, EC_ETIMEOUT);
  close(l);
  ctl("start");
  queue(f.s, &v, t, 2, true);
  CU_ASSERT_EQUAL(ec_store_wait(f.s), 0);
  CU_ASSERT_EQUAL(v.d[2].rc, 0);
  CU_ASSERT_FALSE(ec_store_unreachable(f.s));
  assert_gapless(&f, 2);
  ec_store_fx_teardown(&f);
}

/* A connection of the test's own holding @p table in ACCESS EXCLUSIVE
 * mode (as a migration or a VACUUM FULL would), until unlock_table(). */
static PGconn *lock_table(const ec_store_fx_t *f, const char *table) {
  PGconn *c = PQconnectdb(f->uri);
  CU_ASSERT_EQUAL_FATAL(PQstatus(c), CONNECTION_OK);
  char sql[128];
  snprintf(sql, sizeof(sql), "BEGIN; LOCK TABLE %s IN ACCESS EXCLUSIVE MODE",
           table);
  PGresult *res = PQexec(c, sql);
  CU_ASSERT_EQUAL_FATAL(PQresultStatus(res), PGRES_COMMAND_OK);
  PQclear(res);
  return c;
}

static void unlock_table(PGconn *c) {
  PQclear(PQexec(c, "COMMIT"));
  PQfinish(c);
}

/* A read's outcome, and when it came. */
typedef struct {
  int rc;
  bool ran;
  uint64_t at_ms;
} read_seen_t;

static void on_read(void *ud, int rc, ec_prov_component_t *rows, size_t n) {
  read_seen_t *r = ud;
  (void)n;
  free(rows);
  CU_ASSERT_FALSE(r->ran); /* once */
  r->ran = true;
  r->rc = rc;
  r->at_ms = ec_mono_ms();
}

/* Reads behind a statement stuck on a lock are answered within
 * EC_STORE_WAIT_MS of their start, not one bound after the other; past
 * EC_STORE_READS_MAX waiting, one more is refused at once. */
static void test_reads_are_bounded_from_their_start(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  PGconn *lock = lock_table(&f, "prov_components");
  static read_seen_t r[EC_STORE_READS_MAX];
  memset(r, 0, sizeof(r));
  ec_prov_request_t q = {.has_provisioning_id = true, .provisioning_id = 7};
  uint64_t t0 = ec_mono_ms();
  for (int i = 0; i < EC_STORE_READS_MAX; i++)
    CU_ASSERT_EQUAL_FATAL(
        ec_store_prov_select_start(f.s, &q, -1, on_read, &r[i]), 0);
  read_seen_t extra = {0};
  CU_ASSERT_EQUAL(ec_store_prov_select_start(f.s, &q, -1, on_read, &extra),
                  EC_EBUSY);
  CU_ASSERT_EQUAL(ec_store_reading(f.s), EC_STORE_READS_MAX);
  /* The server's loop: poll what the store asks, flush. */
  while (ec_store_reading(f.s) > 0 &&
         ec_mono_ms() - t0 < 3 * EC_STORE_WAIT_MS) {
    short events = 0;
    int due = -1;
    int fd = ec_store_read_fd(f.s, &events, &due);
    struct pollfd p = {.fd = fd, .events = events};
    CU_ASSERT(due >= 0 && due <= EC_STORE_WAIT_MS);
    (void)poll(&p, fd >= 0 ? 1 : 0, due < 0 || due > 100 ? 100 : due);
    ec_store_flush(f.s);
  }
  uint64_t worst = 0;
  int timed_out = 0;
  for (int i = 0; i < EC_STORE_READS_MAX; i++) {
    CU_ASSERT(r[i].ran);
    timed_out += r[i].rc == EC_ETIMEOUT;
    worst = r[i].at_ms - t0 > worst ? r[i].at_ms - t0 : worst;
  }
  fprintf(stderr, "\n  (%d reads behind a lock: %d timed out, the last "
          "after %llu ms) ", EC_STORE_READS_MAX, timed_out,
          (unsigned long long)worst);
  CU_ASSERT_EQUAL(timed_out, EC_STORE_READS_MAX);
  CU_ASSERT(worst >= EC_STORE_WAIT_MS - 100);
  CU_ASSERT(worst < EC_STORE_WAIT_MS + 1000);
  CU_ASSERT_FALSE(extra.ran);
  /* The lock gone, a read is answered again (its statement waited for
   * the first one's to end). */
  unlock_table(lock);
  read_seen_t after = {0};
  CU_ASSERT_EQUAL(ec_store_prov_select_start(f.s, &q, -1, on_read, &after), 0);
  for (uint64_t t1 = ec_mono_ms(); !after.ran && ec_mono_ms() - t1 < 3000;) {
    poll(NULL, 0, 5);
    ec_store_flush(f.s);
  }
  CU_ASSERT(after.ran);
  CU_ASSERT_EQUAL(after.rc, 0);
  ec_store_fx_teardown(&f);
}

/* Writes behind a lock held past their bound (a migration, a VACUUM FULL
 * on the status table): each fails with EC_ETIMEOUT within
 * EC_STORE_WAIT_MS of its queueing and a second of slack, nothing of it
 * stored, whether its round was on the wire or still queued; once the
 * lock goes, writes commit again. */
static void test_writes_behind_a_lock_fail_in_bounded_time(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  seen_t v = {0};
  ticket_t t[8];
  queue(f.s, &v, t, 0, true);
  CU_ASSERT_EQUAL(ec_store_wait(f.s), 0);
  PGconn *lock = lock_table(&f, "deployment_status");
  uint64_t queued[8] = {0}, t0 = ec_mono_ms();
  int next = 1;
  /* A write every 700 ms while the lock holds: rounds on the wire and
   * writes queued behind them. */
  while (v.n < next || next < 6) {
    uint64_t now = ec_mono_ms();
    if (next < 6 && now - t0 >= (uint64_t)(next - 1) * 700) {
      queued[next] = now;
      queue(f.s, &v, t, next, true);
      next++;
    }
    if (now - t0 > 4 * EC_STORE_WAIT_MS)
      break;
    short events = 0;
    int due = -1;
    int fd = ec_store_fd(f.s, &events, &due);
    struct pollfd p = {.fd = fd, .events = events};
    (void)poll(&p, fd >= 0 ? 1 : 0, due < 0 || due > 50 ? 50 : due);
    ec_store_flush(f.s);
    for (int i = 1; i < next; i++)
      if (v.ran[i] && v.d[i].seq == 0 && v.d[i].rc == EC_ETIMEOUT &&
          queued[i] != 0) {
        uint64_t took = ec_mono_ms() - queued[i];
        fprintf(stderr, "\n  (write %d failed after %llu ms) ", i,
                (unsigned long long)took);
        CU_ASSERT(took < EC_STORE_WAIT_MS + 1000);
        queued[i] = 0;
      }
  }
  for (int i = 1; i < 6; i++) {
    CU_ASSERT(v.ran[i]);
    CU_ASSERT_EQUAL(v.d[i].rc, EC_ETIMEOUT);
  }
  unlock_table(lock);
  queue(f.s, &v, t, 6, true);
  CU_ASSERT_EQUAL(ec_store_wait(f.s), 0);
  CU_ASSERT_EQUAL(v.d[6].rc, 0);
  assert_gapless(&f, 2);
  ec_store_fx_teardown(&f);
}

static const ec_test_t tests[] = {
    {test_a_round_is_one_transaction_answered_later,
     "a_round_is_one_transaction_answered_later"},
    {test_a_round_behind_a_failed_one_commits_after_it,
     "a_round_behind_a_failed_one_commits_after_it"},
    {test_a_failed_batch_statement_is_logged_as_one,
     "a_failed_batch_statement_is_logged_as_one"},
    {test_writes_wait_for_a_restarted_postgres,
     "writes_wait_for_a_restarted_postgres"},
    {test_writes_fail_in_bounded_time_while_postgres_is_away,
     "writes_fail_in_bounded_time_while_postgres_is_away"},
    {test_writes_in_flight_at_a_crash_are_stored_once,
     "writes_in_flight_at_a_crash_are_stored_once"},
    {test_other_stores_hear_of_committed_writes,
     "other_stores_hear_of_committed_writes"},
    {test_an_import_hints_the_provisionings_it_changes,
     "an_import_hints_the_provisionings_it_changes"},
    {test_identities_changes_are_hinted_by_identity,
     "identities_changes_are_hinted_by_identity"},
    {test_a_listener_resynchronises_after_a_restart,
     "a_listener_resynchronises_after_a_restart"},
    {test_an_unanswering_server_stalls_no_call,
     "an_unanswering_server_stalls_no_call"},
    {test_reads_are_bounded_from_their_start,
     "reads_are_bounded_from_their_start"},
    {test_writes_behind_a_lock_fail_in_bounded_time,
     "writes_behind_a_lock_fail_in_bounded_time"},
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
