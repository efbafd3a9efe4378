/* edgecoap: CUnit tests of the store contract (store.h): queued writes, their flush and completion callbacks, and Request-Id lookups. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>

#include "edgecoap/error.h"
#include "log.h"
#include "metrics.h"
#include "store.h"
#include "store_fx.h"
#include "suite.h"

#define DEV "dev-q"
#define DEP "0b7c8f2e-3a41-4d5e-9f60-71a2b3c4d5e6"
#define DEP2 "1a2b3c4d-0000-4000-8000-000000000002"

/* What the callbacks of one test saw, in the order they ran. */
typedef struct {
  ec_store_t *s;
  int n;
  int tag[16];
  ec_status_done_t d[16];
  /* Set by requeue(): queue one more write from inside a callback. */
  const ec_status_write_t *again;
} seen_t;

typedef struct {
  seen_t *seen;
  int tag;
} ticket_t;

static void on_done(void *ud, const ec_status_done_t *d) {
  ticket_t *t = ud;
  seen_t *v = t->seen;
  CU_ASSERT_FATAL(v->n < 16);
  v->tag[v->n] = t->tag;
  v->d[v->n] = *d;
  v->n++;
}

static ec_status_write_t wr(const char *dep, const char *doc, const char *rid) {
  ec_status_write_t w = {DEV,
                         dep,
                         EC_STATE_INSTALLING,
                         (const uint8_t *)doc,
                         strlen(doc),
                         1000,
                         (const uint8_t *)rid,
                         rid ? strlen(rid) : 0};
  return w;
}

static int64_t current_seq(ec_store_t *s, const char *dep, char *doc,
                           size_t cap) {
  uint8_t *d = NULL;
  size_t len = 0;
  int64_t seq = -1;
  if (ec_store_status_get(s, DEV, dep, &d, &len, NULL, &seq) != 0)
    return -1;
  snprintf(doc, cap, "%.*s", (int)len, (const char *)d);
  free(d);
  return seq;
}

static void test_queued_writes_complete_at_the_flush_in_order(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  seen_t v = {.s = f.s};
  ticket_t t[3] = {{&v, 0}, {&v, 1}, {&v, 2}};
  ec_status_write_t w0 = wr(DEP, "first", NULL), w1 = wr(DEP2, "other", NULL),
                    w2 = wr(DEP, "second", NULL);
  CU_ASSERT_EQUAL(ec_store_flush(f.s), 0); /* nothing queued */
  CU_ASSERT_EQUAL(ec_store_status_queue(f.s, &w0, on_done, &t[0]), 0);
  CU_ASSERT_EQUAL(ec_store_status_queue(f.s, &w1, on_done, &t[1]), 0);
  CU_ASSERT_EQUAL(ec_store_status_queue(f.s, &w2, on_done, &t[2]), 0);
  /* Queueing calls back never; the writes wait for the flush. */
  CU_ASSERT_EQUAL(v.n, 0);
  CU_ASSERT_EQUAL(ec_store_queued(f.s), 3);
  /* A flush waits for no commit: the callbacks of writes whose commit is
   * not known yet run later (SQLite knows them all at once). */
  CU_ASSERT_EQUAL(ec_store_flush(f.s), 0);
  CU_ASSERT_EQUAL(ec_store_queued(f.s), (size_t)(3 - v.n));
  /* The wait does: every write's callback, in queue order, once. */
  CU_ASSERT_EQUAL(ec_store_wait(f.s), 0);
  CU_ASSERT_EQUAL(ec_store_queued(f.s), 0);
  CU_ASSERT_EQUAL_FATAL(v.n, 3);
  for (int i = 0; i < 3; i++) {
    CU_ASSERT_EQUAL(v.tag[i], i);
    CU_ASSERT_EQUAL(v.d[i].rc, 0);
  }
  CU_ASSERT(v.d[0].created == 1 && v.d[0].seq == 1);
  CU_ASSERT(v.d[1].created == 1 && v.d[1].seq == 1);
  CU_ASSERT(v.d[2].created == 0 && v.d[2].seq == 2);
  char doc[32];
  CU_ASSERT_EQUAL(current_seq(f.s, DEP, doc, sizeof(doc)), 2);
  CU_ASSERT_STRING_EQUAL(doc, "second");
  /* The buffers were copied: the queue did not keep the caller's. */
  ec_history_entry_t *h = NULL;
  size_t n = 0;
  CU_ASSERT_EQUAL(ec_store_history(f.s, DEV, DEP, 0, 0, &h, &n), 0);
  CU_ASSERT_EQUAL_FATAL(n, 2);
  CU_ASSERT(h[0].report_len == 5 && memcmp(h[0].report, "first", 5) == 0);
  free(h);
  /* And they are durable: a restart finds them. */
  ec_store_fx_reopen(&f);
  CU_ASSERT_EQUAL(current_seq(f.s, DEP2, doc, sizeof(doc)), 1);
  CU_ASSERT_STRING_EQUAL(doc, "other");
  ec_store_fx_teardown(&f);
}

static void test_a_refused_write_takes_only_itself_away(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  seen_t v = {.s = f.s};
  ticket_t t[3] = {{&v, 0}, {&v, 1}, {&v, 2}};
  /* A request identifier is the device's, once: the second write under
   * "rid-00001" is refused when the flush applies it, the others commit. */
  ec_status_write_t w0 = wr(DEP, "one", "rid-00001"),
                    w1 = wr(DEP2, "two", "rid-00001"),
                    w2 = wr(DEP, "three", "rid-00002");
  CU_ASSERT_EQUAL(ec_store_status_queue(f.s, &w0, on_done, &t[0]), 0);
  CU_ASSERT_EQUAL(ec_store_status_queue(f.s, &w1, on_done, &t[1]), 0);
  CU_ASSERT_EQUAL(ec_store_status_queue(f.s, &w2, on_done, &t[2]), 0);
  /* The refusal is logged, as a failed write should be. */
  ec_store_wait(f.s);
  CU_ASSERT_EQUAL_FATAL(v.n, 3);
  CU_ASSERT_EQUAL(v.d[0].rc, 0);
  CU_ASSERT(v.d[1].rc < 0);
  CU_ASSERT(v.d[2].rc == 0 && v.d[2].seq == 2);
  char doc[32];
  CU_ASSERT_EQUAL(current_seq(f.s, DEP, doc, sizeof(doc)), 2);
  CU_ASSERT_EQUAL(current_seq(f.s, DEP2, doc, sizeof(doc)), -1);
  ec_store_fx_teardown(&f);
}

/* The roll-up's time is the latest report committed: a flush's reports
 * that keep their state move it once, and a refused one not at all. */
static void test_a_flush_moves_the_rollup_time_of_its_reports(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  seen_t v = {.s = f.s};
  ticket_t t[4] = {{&v, 0}, {&v, 1}, {&v, 2}, {&v, 3}};
  ec_status_write_t w[4] = {wr(DEP, "a", NULL), wr(DEP, "b", "rid-00001"),
                            wr(DEP, "c", "rid-00001"), wr(DEP2, "d", NULL)};
  w[1].received_at_ms = 2000;
  w[2].received_at_ms = 3000; /* refused: its Request-Id is w[1]'s */
  w[3].received_at_ms = 500;
  for (int i = 0; i < 4; i++)
    CU_ASSERT_EQUAL(ec_store_status_queue(f.s, &w[i], on_done, &t[i]), 0);
  ec_store_wait(f.s);
  CU_ASSERT_EQUAL_FATAL(v.n, 4);
  CU_ASSERT(v.d[0].rc == 0 && v.d[1].rc == 0 && v.d[2].rc < 0 &&
            v.d[3].rc == 0);
  ec_fleet_rollup_t r;
  void *block = NULL;
  CU_ASSERT_EQUAL_FATAL(ec_store_fleet_rollup(f.s, DEP, &r, &block), 0);
  CU_ASSERT_EQUAL(r.counts[EC_STATE_INSTALLING], 1);
  CU_ASSERT_EQUAL(r.updated_at_ms, 2000);
  free(block);
  CU_ASSERT_EQUAL_FATAL(ec_store_fleet_rollup(f.s, DEP2, &r, &block), 0);
  CU_ASSERT_EQUAL(r.updated_at_ms, 500);
  free(block);
  /* A lone write moves it too, and never back. */
  ec_status_write_t later = wr(DEP, "e", NULL), earlier = wr(DEP, "f", NULL);
  later.received_at_ms = 4000;
  earlier.received_at_ms = 3500;
  CU_ASSERT_EQUAL(ec_store_status_put(f.s, &later, NULL, NULL), 0);
  CU_ASSERT_EQUAL(ec_store_status_put(f.s, &earlier, NULL, NULL), 0);
  CU_ASSERT_EQUAL_FATAL(ec_store_fleet_rollup(f.s, DEP, &r, &block), 0);
  CU_ASSERT_EQUAL(r.updated_at_ms, 4000);
  free(block);
  ec_store_fx_teardown(&f);
}

/* One flush's reports of several devices, one of them twice, each with
 * its own failed components: each pair's latest report replaces its
 * failures, in the roll-up too, and each report gets its own seq. */
static void test_a_flush_keeps_each_reports_failures(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  seen_t v = {.s = f.s};
  ticket_t t[3] = {{&v, 0}, {&v, 1}, {&v, 2}};
  ec_fleet_failure_t db = {"db", "E1", 1};
  ec_status_write_t w[3] = {wr(DEP, "a1", NULL), wr(DEP, "b1", NULL),
                            wr(DEP, "a2", NULL)};
  w[0].device_id = w[2].device_id = "dev-a";
  w[1].device_id = "dev-b";
  for (int i = 0; i < 2; i++) {
    w[i].state = EC_STATE_FAILED;
    w[i].error_code = "E1";
    w[i].failed = &db;
    w[i].n_failed = 1;
  }
  w[2].state = EC_STATE_INSTALLED; /* dev-a recovers in the same flush */
  for (int i = 0; i < 3; i++)
    CU_ASSERT_EQUAL(ec_store_status_queue(f.s, &w[i], on_done, &t[i]), 0);
  CU_ASSERT_EQUAL(ec_store_wait(f.s), 0);
  CU_ASSERT_EQUAL_FATAL(v.n, 3);
  for (int i = 0; i < 3; i++)
    CU_ASSERT_EQUAL(v.d[i].rc, 0);
  CU_ASSERT(v.d[0].created == 1 && v.d[0].seq == 1);
  CU_ASSERT(v.d[1].created == 1 && v.d[1].seq == 1);
  CU_ASSERT(v.d[2].created == 0 && v.d[2].seq == 2);
  ec_fleet_rollup_t r;
  void *block = NULL;
  CU_ASSERT_EQUAL_FATAL(ec_store_fleet_rollup(f.s, DEP, &r, &block), 0);
  CU_ASSERT_EQUAL(r.counts[EC_STATE_FAILED], 1);
  CU_ASSERT_EQUAL(r.counts[EC_STATE_INSTALLED], 1);
  CU_ASSERT_EQUAL_FATAL(r.n_failures, 1);
  CU_ASSERT_STRING_EQUAL(r.failures[0].code, "E1");
  CU_ASSERT_EQUAL(r.failures[0].devices, 1);
  free(block);
  ec_store_fx_teardown(&f);
}

static void test_a_queued_request_id_is_busy_until_its_commit(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  seen_t v = {.s = f.s};
  ticket_t t = {&v, 0};
  const uint8_t *rid = (const uint8_t *)"req-id-0042";
  size_t rid_len = strlen("req-id-0042");
  char dep[EC_STORE_MAX_ID_LEN + 1];
  int64_t seq = 0;
  uint8_t *doc = NULL;
  size_t len = 0;
  CU_ASSERT_EQUAL(ec_store_status_by_request(f.s, DEV, rid, rid_len, dep,
                                             &seq, &doc, &len),
                  EC_ENOTFOUND);
  ec_status_write_t w = wr(DEP, "report", "req-id-0042");
  CU_ASSERT_EQUAL(ec_store_status_queue(f.s, &w, on_done, &t), 0);
  /* Neither "new" nor "stored": its commit is not known yet. */
  CU_ASSERT_EQUAL(ec_store_status_by_request(f.s, DEV, rid, rid_len, dep,
                                             &seq, &doc, &len),
                  EC_EBUSY);
  /* Another device's identifiers are its own. */
  CU_ASSERT_EQUAL(ec_store_status_by_request(f.s, "dev-other", rid, rid_len,
                                             dep, &seq, &doc, &len),
                  EC_ENOTFOUND);
  CU_ASSERT_EQUAL(ec_store_wait(f.s), 0);
  CU_ASSERT_EQUAL_FATAL(ec_store_status_by_request(f.s, DEV, rid, rid_len,
                                                   dep, &seq, &doc, &len),
                        0);
  CU_ASSERT_STRING_EQUAL(dep, DEP);
  CU_ASSERT_EQUAL(seq, 1);
  CU_ASSERT(len == 6 && memcmp(doc, "report", 6) == 0);
  free(doc);
  /* A synchronous write records its identifier too, and a restart keeps
   * them. */
  ec_status_write_t w2 = wr(DEP2, "sync", "req-id-0043");
  CU_ASSERT_EQUAL(ec_store_status_put(f.s, &w2, NULL, NULL), 0);
  ec_store_fx_reopen(&f);
  CU_ASSERT_EQUAL_FATAL(
      ec_store_status_by_request(f.s, DEV, (const uint8_t *)"req-id-0043",
                                 11, dep, &seq, &doc, &len),
      0);
  CU_ASSERT_STRING_EQUAL(dep, DEP2);
  free(doc);
  /* Identifiers of the wrong length are refused. */
  CU_ASSERT_EQUAL(ec_store_status_by_request(f.s, DEV, rid, 7, dep, &seq,
                                             &doc, &len),
                  EC_EINVAL);
  ec_status_write_t bad = wr(DEP, "x", "seventeen-bytes!!");
  CU_ASSERT_EQUAL(ec_store_status_queue(f.s, &bad, on_done, &t), EC_EINVAL);
  ec_store_fx_teardown(&f);
}

static void test_a_synchronous_write_commits_after_the_queue(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  seen_t v = {.s = f.s};
  ticket_t t = {&v, 0};
  ec_status_write_t q = wr(DEP, "queued", NULL), s = wr(DEP, "sync", NULL);
  CU_ASSERT_EQUAL(ec_store_status_queue(f.s, &q, on_done, &t), 0);
  int created = -1;
  int64_t seq = 0;
  /* Writes commit in the order they were made. */
  CU_ASSERT_EQUAL(ec_store_status_put(f.s, &s, &created, &seq), 0);
  CU_ASSERT_EQUAL(created, 0);
  CU_ASSERT_EQUAL(seq, 2);
  CU_ASSERT_EQUAL_FATAL(v.n, 1);
  CU_ASSERT(v.d[0].rc == 0 && v.d[0].seq == 1 && v.d[0].created == 1);
  char doc[32];
  CU_ASSERT_EQUAL(current_seq(f.s, DEP, doc, sizeof(doc)), 2);
  CU_ASSERT_STRING_EQUAL(doc, "sync");
  ec_store_fx_teardown(&f);
}

/* One number of the metrics' text: the value of the line naming @p name. */
static long long metric(const ec_metrics_t *m, const char *name) {
  static char text[64 * 1024];
  size_t n = ec_metrics_render(m, text, sizeof(text));
  CU_ASSERT_FATAL(n > 0 && n < sizeof(text));
  size_t len = strlen(name);
  for (const char *p = text; (p = strstr(p, name)) != NULL; p += len)
    if ((p == text || p[-1] == '\n') && p[len] == ' ')
      return atoll(p + len + 1);
  return -1;
}

/* edgecoap_store_commit_writes: each transaction once, with its own
 * writes: a synchronous write, a flushed queue of three, and an
 * account's (a transaction of its own, OPERATIONS.md's "provisioning changes"). */
static void test_each_commit_counts_its_own_writes_once(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  ec_metrics_t *m = NULL;
  CU_ASSERT_EQUAL_FATAL(ec_metrics_new(&m), 0);
  ec_store_set_metrics(f.s, m);
  ec_status_write_t s = wr(DEP, "sync", NULL);
  int created = -1;
  int64_t seq = 0;
  CU_ASSERT_EQUAL(ec_store_status_put(f.s, &s, &created, &seq), 0);
  seen_t v = {.s = f.s};
  ticket_t t[3];
  const char *deps[3] = {DEP, DEP2, "2b3c4d5e-0000-4000-8000-000000000003"};
  for (int i = 0; i < 3; i++) {
    ec_status_write_t w = wr(deps[i], "queued", NULL);
    t[i] = (ticket_t){&v, i};
    CU_ASSERT_EQUAL(ec_store_status_queue(f.s, &w, on_done, &t[i]), 0);
  }
  CU_ASSERT_EQUAL(ec_store_wait(f.s), 0);
  CU_ASSERT_EQUAL(v.n, 3);
  ec_store_prov_user_t u = {.id = 0};
  snprintf(u.username, sizeof(u.username), "ann");
  snprintf(u.role, sizeof(u.role), "admin");
  snprintf(u.password_hash, sizeof(u.password_hash), "%s",
           "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaA");
  int64_t id = 0;
  CU_ASSERT_EQUAL(ec_store_prov_user_put(f.s, &u, &id, &created), 0);
  /* 1 + 3 + 1 writes in three commits. */
  CU_ASSERT_EQUAL(metric(m, "edgecoap_store_commit_writes_count"), 3);
  CU_ASSERT_EQUAL(metric(m, "edgecoap_store_commit_writes_sum"), 5);
  CU_ASSERT_EQUAL(metric(m, "edgecoap_store_commit_seconds_count"), 3);
  ec_store_set_metrics(f.s, NULL);
  ec_metrics_free(m);
  ec_store_fx_teardown(&f);
}

/* A callback that queues another write, as a server answering one write
 * may make another. */
static void on_done_requeue(void *ud, const ec_status_done_t *d) {
  ticket_t *t = ud;
  on_done(ud, d);
  if (t->seen->again != NULL) {
    static ticket_t next;
    next = (ticket_t){t->seen, 99};
    CU_ASSERT_EQUAL(
        ec_store_status_queue(t->seen->s, t->seen->again, on_done, &next), 0);
    t->seen->again = NULL;
  }
}

static void test_callbacks_may_queue_and_close_completes_the_queue(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  seen_t v = {.s = f.s};
  ticket_t t = {&v, 0};
  ec_status_write_t w = wr(DEP, "a", NULL), again = wr(DEP, "b", NULL);
  v.again = &again;
  CU_ASSERT_EQUAL(ec_store_status_queue(f.s, &w, on_done_requeue, &t), 0);
  CU_ASSERT_EQUAL(ec_store_wait(f.s), 0);
  CU_ASSERT_EQUAL_FATAL(v.n, 1);
  /* The write queued from the callback waits for a flush of its own (the
   * wait was for the writes queued before it)... */
  CU_ASSERT_EQUAL(ec_store_queued(f.s), 1);
  /* ...or for the close, which completes what is queued. */
  ec_store_close(f.s);
  f.s = NULL;
  CU_ASSERT_EQUAL_FATAL(v.n, 2);
  CU_ASSERT_EQUAL(v.tag[1], 99);
  CU_ASSERT(v.d[1].rc == 0 && v.d[1].seq == 2);
  ec_store_fx_reopen(&f);
  char doc[32];
  CU_ASSERT_EQUAL(current_seq(f.s, DEP, doc, sizeof(doc)), 2);
  CU_ASSERT_STRING_EQUAL(doc, "b");
  ec_store_fx_teardown(&f);
}

static void test_queue_refuses_bad_writes_without_calling_back(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  seen_t v = {.s = f.s};
  ticket_t t = {&v, 0};
  ec_status_write_t w = wr(DEP, "a", NULL);
  CU_ASSERT_EQUAL(ec_store_status_queue(NULL, &w, on_done, &t), EC_EINVAL);
  CU_ASSERT_EQUAL(ec_store_status_queue(f.s, NULL, on_done, &t), EC_EINVAL);
  CU_ASSERT_EQUAL(ec_store_status_queue(f.s, &w, NULL, &t), EC_EINVAL);
  w.device_id = "";
  CU_ASSERT_EQUAL(ec_store_status_queue(f.s, &w, on_done, &t), EC_EINVAL);
  w = wr(DEP, "a", NULL);
  w.state = EC_STATE_COUNT;
  CU_ASSERT_EQUAL(ec_store_status_queue(f.s, &w, on_done, &t), EC_EINVAL);
  CU_ASSERT_EQUAL(ec_store_queued(f.s), 0);
  CU_ASSERT_EQUAL(ec_store_flush(f.s), 0);
  CU_ASSERT_EQUAL(ec_store_flush(NULL), EC_EINVAL);
  CU_ASSERT_EQUAL(ec_store_wait(f.s), 0);
  CU_ASSERT_EQUAL(ec_store_wait(NULL), EC_EINVAL);
  CU_ASSERT_EQUAL(v.n, 0);
  ec_store_fx_teardown(&f);
}

static const ec_test_t tests[] = {
    {test_queued_writes_complete_at_the_flush_in_order,
     "queued writes complete at the flush, in order"},
    {test_a_flush_moves_the_rollup_time_of_its_reports,
     "a_flush_moves_the_rollup_time_of_its_reports"},
    {test_a_flush_keeps_each_reports_failures,
     "a_flush_keeps_each_reports_failures"},
    {test_a_refused_write_takes_only_itself_away,
     "a refused write takes only itself away"},
    {test_a_queued_request_id_is_busy_until_its_commit,
     "a queued Request-Id is busy until its commit"},
    {test_a_synchronous_write_commits_after_the_queue,
     "a synchronous write commits after the queue"},
    {test_each_commit_counts_its_own_writes_once,
     "each commit counts its own writes once"},
    {test_callbacks_may_queue_and_close_completes_the_queue,
     "callbacks may queue, and close completes the queue"},
    {test_queue_refuses_bad_writes_without_calling_back,
     "the queue refuses bad writes without calling back"},
};

int main(void) {
  ec_log_set_level(EC_LOG_WARN);
  return ec_test_main("store_queue", tests, EC_TEST_COUNT(tests), NULL, NULL,
                      NULL);
}
