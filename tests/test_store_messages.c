/* edgecoap: CUnit tests of the store contract (store.h): status messages, on the backend EC_TEST_STORE names. */
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
#include "edgecoap/status_message.h"
#include "log.h"
#include "store.h"
#include "store_fx.h"
#include "suite.h"

#define N_MSGS 600
#define BATCH 200

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

/* ---- tests -------------------------------------------------------------- */

static void test_ids_strictly_increase_and_survive_restart(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  make_feed();
  store_feed(f.s);
  CU_ASSERT_EQUAL(ec_store_fx_messages(f.s), N_MSGS);
  ec_store_fx_reopen(&f);
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
  ec_store_fx_teardown(&f);
}

static void test_failed_batch_stores_nothing(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
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
  CU_ASSERT_EQUAL(ec_store_fx_messages(f.s), 0);
  /* The next good batch starts at ID 1: the failed one took none. */
  CU_ASSERT_EQUAL(ec_store_msg_insert(f.s, w, 2, 1, &first), 0);
  CU_ASSERT_EQUAL(first, 1);
  CU_ASSERT_EQUAL(ec_store_fx_messages(f.s), 2);
  /* Arguments that break the API are refused before anything starts. */
  ec_status_message_t no_date = feed[0].m;
  no_date.has_date = false;
  ec_store_msg_write_t nd = {&no_date, doc, sizeof(doc)};
  CU_ASSERT_EQUAL(ec_store_msg_insert(f.s, &nd, 1, 1, &first), EC_EINVAL);
  CU_ASSERT_EQUAL(ec_store_msg_insert(f.s, w, 0, 1, &first), EC_EINVAL);
  CU_ASSERT_EQUAL(ec_store_fx_messages(f.s), 2);
  ec_store_fx_teardown(&f);
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
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
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
  ec_store_fx_teardown(&f);
}

static void test_limit_default_max_and_paging(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
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
  ec_store_fx_teardown(&f);
}

static void test_invalid_arguments(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  ec_msg_filter_t flt = {0};
  ec_msg_row_t *rows;
  size_t n;
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
  CU_ASSERT_EQUAL(ec_store_msg_insert(f.s, NULL, 1, 0, NULL), EC_EINVAL);
  ec_store_fx_teardown(&f);
}

/* A post's Request-Id is recorded with its messages, in their transaction,
 * so that a repeat finds what it stored; per poster. */
static void test_request_ids_of_posts(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  make_feed();
  static const uint8_t doc[] = {0xa0};
  ec_store_msg_write_t w[2] = {{&feed[0].m, doc, sizeof(doc)},
                               {&feed[1].m, doc, sizeof(doc)}};
  ec_store_msg_request_t req = {.scope = "dev-7",
                                .id = (const uint8_t *)"post-0001",
                                .id_len = 9,
                                .count = 2};
  memset(req.digest, 0xd1, sizeof(req.digest));
  int64_t first = 0;
  CU_ASSERT_EQUAL(ec_store_msg_request_find(f.s, &req, &first), EC_ENOTFOUND);
  CU_ASSERT_EQUAL_FATAL(ec_store_msg_insert_req(f.s, w, 2, 1, &req, &first), 0);
  CU_ASSERT_EQUAL(first, 1);
  ec_store_fx_reopen(&f);
  ec_store_msg_request_t ask = {.scope = "dev-7",
                                .id = (const uint8_t *)"post-0001",
                                .id_len = 9};
  int64_t found = 0;
  CU_ASSERT_EQUAL_FATAL(ec_store_msg_request_find(f.s, &ask, &found), 0);
  CU_ASSERT_EQUAL(found, 1);
  CU_ASSERT_EQUAL(ask.count, 2);
  CU_ASSERT_EQUAL(memcmp(ask.digest, req.digest, sizeof(req.digest)), 0);
  /* Another poster's identifiers are its own. */
  ask.scope = "";
  CU_ASSERT_EQUAL(ec_store_msg_request_find(f.s, &ask, &found), EC_ENOTFOUND);
  /* The same (poster, id) again is refused, and stores nothing. */
  CU_ASSERT(ec_store_msg_insert_req(f.s, w, 1, 1, &req, &first) < 0);
  CU_ASSERT_EQUAL(ec_store_fx_messages(f.s), 2);
  /* Without a request the post records none. */
  CU_ASSERT_EQUAL(ec_store_msg_insert_req(f.s, w, 1, 1, NULL, &first), 0);
  CU_ASSERT_EQUAL(first, 3);
  ec_store_fx_teardown(&f);
}

/* What the callbacks of queued posts said, in the order they ran. */
typedef struct {
  int n;
  int tag[8];
  ec_msg_done_t d[8];
} posts_seen_t;

typedef struct {
  posts_seen_t *seen;
  int tag;
} post_ticket_t;

static void on_post_done(void *ud, const ec_msg_done_t *d) {
  post_ticket_t *t = ud;
  CU_ASSERT_FATAL(t->seen->n < 8);
  t->seen->tag[t->seen->n] = t->tag;
  t->seen->d[t->seen->n++] = *d;
}

/* Posts queue beside status writes and complete in queue order; a post
 * under a Request-Id already used is refused alone; while queued, its id
 * is neither found nor new. */
static void test_queued_posts_complete_in_order(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  make_feed();
  static const uint8_t doc[] = {0xa0};
  ec_store_msg_write_t w[3] = {{&feed[0].m, doc, sizeof(doc)},
                               {&feed[1].m, doc, sizeof(doc)},
                               {&feed[2].m, doc, sizeof(doc)}};
  ec_store_msg_request_t req = {.scope = "dev-7",
                                .id = (const uint8_t *)"post-0001",
                                .id_len = 9,
                                .count = 2};
  posts_seen_t v = {0};
  post_ticket_t t[3] = {{&v, 0}, {&v, 1}, {&v, 2}};
  CU_ASSERT_EQUAL(ec_store_msg_queue(f.s, w, 2, 7, &req, on_post_done, &t[0]),
                  0);
  CU_ASSERT_EQUAL(
      ec_store_msg_queue(f.s, w + 2, 1, 7, &req, on_post_done, &t[1]), 0);
  CU_ASSERT_EQUAL(
      ec_store_msg_queue(f.s, w + 2, 1, 7, NULL, on_post_done, &t[2]), 0);
  CU_ASSERT_EQUAL(v.n, 0);
  CU_ASSERT_EQUAL(ec_store_queued(f.s), 3);
  int64_t first = 0;
  ec_store_msg_request_t ask = req;
  CU_ASSERT_EQUAL(ec_store_msg_request_find(f.s, &ask, &first), EC_EBUSY);
  ask.scope = "dev-8";
  CU_ASSERT_EQUAL(ec_store_msg_request_find(f.s, &ask, &first), EC_ENOTFOUND);
  CU_ASSERT_EQUAL(ec_store_flush(f.s), 0);
  CU_ASSERT_EQUAL(ec_store_wait(f.s), 0);
  CU_ASSERT_EQUAL(ec_store_queued(f.s), 0);
  CU_ASSERT_EQUAL_FATAL(v.n, 3);
  for (int i = 0; i < 3; i++)
    CU_ASSERT_EQUAL(v.tag[i], i);
  CU_ASSERT(v.d[0].rc == 0 && v.d[0].first_id == 1);
  CU_ASSERT(v.d[1].rc < 0); /* the same (poster, id) again */
  CU_ASSERT(v.d[2].rc == 0 && v.d[2].first_id == 3);
  ec_store_fx_reopen(&f);
  CU_ASSERT_EQUAL(ec_store_fx_messages(f.s), 3);
  ask = req;
  CU_ASSERT_EQUAL_FATAL(ec_store_msg_request_find(f.s, &ask, &first), 0);
  CU_ASSERT(first == 1 && ask.count == 2);
  /* Refused at once, without a callback. */
  CU_ASSERT_EQUAL(ec_store_msg_queue(f.s, w, 0, 7, NULL, on_post_done, &t[0]),
                  EC_EINVAL);
  CU_ASSERT_EQUAL(ec_store_msg_queue(f.s, w, 1, 7, NULL, NULL, NULL),
                  EC_EINVAL);
  CU_ASSERT_EQUAL(ec_store_msg_queue(NULL, w, 1, 7, NULL, on_post_done, &t[0]),
                  EC_EINVAL);
  CU_ASSERT_EQUAL(ec_store_queued(f.s), 0);
  CU_ASSERT_EQUAL(v.n, 3);
  ec_store_fx_teardown(&f);
}

/* A page ends at the message that brings the documents read to the cap. */
static void test_pages_stop_at_the_byte_cap(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  make_feed();
  store_feed(f.s);
  ec_msg_filter_t flt = {.order_id = "O3"};
  ec_msg_row_t *all = NULL, *rows = NULL;
  size_t n_all = 0, n = 0;
  bool more = false;
  CU_ASSERT_EQUAL_FATAL(
      ec_store_msg_list(f.s, &flt, EC_MSG_LIMIT_MAX, false, &all, &n_all), 0);
  CU_ASSERT_FATAL(n_all > 3);
  size_t cap = all[0].doc_len + all[1].doc_len + 1;
  CU_ASSERT_EQUAL(ec_store_msg_page(f.s, &flt, EC_MSG_LIMIT_MAX, false, cap,
                                    &rows, &n, &more),
                  0);
  CU_ASSERT_EQUAL(n, 3);
  CU_ASSERT_TRUE(more);
  for (size_t i = 0; i < n && i < 3; i++)
    CU_ASSERT_EQUAL(rows[i].id, all[i].id);
  free(rows);
  /* No cap: as the list; newest first too. */
  CU_ASSERT_EQUAL(ec_store_msg_page(f.s, &flt, EC_MSG_LIMIT_MAX, true, 0,
                                    &rows, &n, &more),
                  0);
  CU_ASSERT_EQUAL(n, n_all);
  CU_ASSERT_FALSE(more);
  if (n == n_all && n > 0)
    CU_ASSERT_EQUAL(rows[0].id, all[n_all - 1].id);
  free(rows);
  free(all);
  ec_store_fx_teardown(&f);
}

static const ec_test_t tests[] = {
    {test_ids_strictly_increase_and_survive_restart,
     "IDs strictly increase and survive a restart"},
    {test_failed_batch_stores_nothing, "a failed batch stores nothing"},
    {test_every_filter_alone_and_combined_agrees_with_matcher,
     "every filter alone and combined agrees with the matcher"},
    {test_limit_default_max_and_paging, "limit default, maximum and paging"},
    {test_request_ids_of_posts, "Request-Ids of posts"},
    {test_queued_posts_complete_in_order, "queued posts complete in order"},
    {test_pages_stop_at_the_byte_cap, "pages stop at the byte cap"},
    {test_invalid_arguments, "invalid arguments"},
};

int main(void) {
  ec_log_set_level(EC_LOG_WARN);
  return ec_test_main("store_messages", tests, EC_TEST_COUNT(tests), NULL, NULL,
                      NULL);
}
