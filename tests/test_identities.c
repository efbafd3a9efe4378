/* edgecoap: CUnit tests of the DTLS identities kept in memory (server/coap/identities.c). */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "edgecoap/error.h"
#include "identities.h"
#include "store_fx.h"
#include "suite.h"

/*
 * The table against a real store of the backend EC_TEST_STORE names
 * (tests/support/store_fx.h). Changes are made through a second store
 * opened on the same database, as `admin` (another process) or another
 * node makes them: SQLite's are seen at the next ec_ids_current(), by the
 * identities' version; PostgreSQL's by the hint its trigger sends, heard
 * by the first store's flushes, as the server's loop makes them.
 */

static ec_ids_t *ids; /* the table the listener below keeps current */

static void on_change(void *ud, const ec_store_change_t *c) {
  (void)ud;
  if (c->kind == EC_STORE_CHANGE_DEVICE)
    ec_ids_changed(ids, c->device_id);
  else if (c->kind == EC_STORE_CHANGE_ANY)
    ec_ids_changed(ids, NULL);
}

static ec_store_device_t device(const char *identity, ec_device_role_t role,
                                uint8_t key_byte) {
  ec_store_device_t d = {0};
  snprintf(d.identity, sizeof(d.identity), "%s", identity);
  d.role = role;
  d.key_len = 16 + key_byte % 32;
  memset(d.key, key_byte, d.key_len);
  d.created_at_ms = 1000 + key_byte;
  return d;
}

/* True when the table holds @p identity with @p key_byte's key (0: holds
 * it not). */
static bool holds(const char *identity, uint8_t key_byte) {
  ec_store_device_t d;
  int rc = ec_ids_find(ids, (const uint8_t *)identity, strlen(identity), &d);
  if (key_byte == 0 || rc != 0)
    return key_byte == 0 && rc == EC_ENOTFOUND;
  ec_store_device_t want = device(identity, d.role, key_byte);
  return strcmp(d.identity, identity) == 0 &&
         d.key_len == want.key_len && memcmp(d.key, want.key, d.key_len) == 0;
}

typedef struct {
  ec_store_fx_t f;
  ec_store_t *other; /* the same database, opened again */
  bool hints;        /* the store tells by hints (no version) */
} fx_t;

static void setup(fx_t *x) {
  ec_store_fx_setup(&x->f);
  CU_ASSERT_EQUAL_FATAL(ec_store_open_uri(x->f.uri, 0, &x->other), 0);
  int64_t v;
  x->hints = ec_store_device_version(x->f.s, &v) == EC_ENOTSUP;
  if (x->hints)
    CU_ASSERT_EQUAL_FATAL(ec_store_listen(x->f.s, on_change, NULL), 0);
}

static void teardown(fx_t *x) {
  ec_ids_free(ids);
  ids = NULL;
  ec_store_close(x->other);
  ec_store_fx_teardown(&x->f);
}

/*
 * Look until the table holds @p identity with @p key_byte (0: not at
 * all): once with a versioned store, whose change must show at the next
 * look; a store of hints is flushed meanwhile, for at most two seconds.
 * @return how many looks it took, or -1
 */
static int until(fx_t *x, const char *identity, uint8_t key_byte) {
  for (int i = 1; i <= (x->hints ? 2000 : 1); i++) {
    if (ec_ids_current(ids) != 0)
      return -1;
    if (holds(identity, key_byte))
      return i;
    ec_store_flush(x->f.s);
    usleep(1000);
  }
  return -1;
}

static void test_loaded_at_start_and_found_by_exact_bytes(void) {
  fx_t x;
  setup(&x);
  ec_store_device_t a = device("dev-a", EC_DEVICE_ROLE_DEVICE, 1);
  ec_store_device_t b = device("op-b", EC_DEVICE_ROLE_OPERATOR, 2);
  CU_ASSERT_EQUAL_FATAL(ec_store_device_add(x.f.s, &a, NULL), 0);
  CU_ASSERT_EQUAL_FATAL(ec_store_device_add(x.f.s, &b, NULL), 0);
  CU_ASSERT_EQUAL_FATAL(ec_ids_new(x.f.s, &ids), 0);
  CU_ASSERT_EQUAL(ec_ids_count(ids), 2);
  CU_ASSERT_TRUE(holds("dev-a", 1));
  CU_ASSERT_TRUE(holds("op-b", 2));
  ec_store_device_t d;
  CU_ASSERT_EQUAL(ec_ids_find(ids, (const uint8_t *)"op-b", 4, &d), 0);
  CU_ASSERT_EQUAL(d.role, EC_DEVICE_ROLE_OPERATOR);
  CU_ASSERT_EQUAL(d.created_at_ms, b.created_at_ms);
  /* Exact bytes: no prefix, no other case, nothing empty or over-long. */
  CU_ASSERT_EQUAL(ec_ids_find(ids, (const uint8_t *)"dev-", 4, &d),
                  EC_ENOTFOUND);
  CU_ASSERT_EQUAL(ec_ids_find(ids, (const uint8_t *)"DEV-A", 5, &d),
                  EC_ENOTFOUND);
  CU_ASSERT_EQUAL(ec_ids_find(ids, (const uint8_t *)"dev-a", 0, &d),
                  EC_ENOTFOUND);
  CU_ASSERT_EQUAL(ec_ids_find(ids, (const uint8_t *)"dev-a",
                              EC_STORE_DEVICE_ID_MAX + 1, &d),
                  EC_ENOTFOUND);
  CU_ASSERT_TRUE(holds("nobody", 0));
  teardown(&x);
}

static void test_another_writers_changes_are_seen(void) {
  fx_t x;
  setup(&x);
  CU_ASSERT_EQUAL_FATAL(ec_ids_new(x.f.s, &ids), 0);
  CU_ASSERT_EQUAL(ec_ids_count(ids), 0);
  ec_store_device_t a = device("dev-a", EC_DEVICE_ROLE_DEVICE, 3);
  CU_ASSERT_EQUAL_FATAL(ec_store_device_add(x.other, &a, NULL), 0);
  CU_ASSERT(until(&x, "dev-a", 3) > 0);
  CU_ASSERT_EQUAL(ec_ids_count(ids), 1);
  /* Removed, then added again with another key: the old key is gone. */
  CU_ASSERT_EQUAL_FATAL(ec_store_device_remove(x.other, "dev-a"), 0);
  CU_ASSERT(until(&x, "dev-a", 0) > 0);
  CU_ASSERT_EQUAL(ec_ids_count(ids), 0);
  a = device("dev-a", EC_DEVICE_ROLE_DEVICE, 4);
  CU_ASSERT_EQUAL_FATAL(ec_store_device_add(x.other, &a, NULL), 0);
  CU_ASSERT(until(&x, "dev-a", 4) > 0);
  CU_ASSERT_FALSE(holds("dev-a", 3));
  teardown(&x);
}

static void test_a_resync_reads_everything_again(void) {
  fx_t x;
  setup(&x);
  ec_store_device_t d = device("dev-a", EC_DEVICE_ROLE_DEVICE, 5);
  CU_ASSERT_EQUAL_FATAL(ec_store_device_add(x.f.s, &d, NULL), 0);
  CU_ASSERT_EQUAL_FATAL(ec_ids_new(x.f.s, &ids), 0);
  /* Hints missed (a lost connection): the table is behind until "any". */
  CU_ASSERT_EQUAL(ec_store_listen(x.f.s, NULL, NULL), x.hints ? 0 : EC_ENOTSUP);
  CU_ASSERT_EQUAL_FATAL(ec_store_device_remove(x.other, "dev-a"), 0);
  ec_store_device_t b = device("dev-b", EC_DEVICE_ROLE_DEVICE, 6);
  CU_ASSERT_EQUAL_FATAL(ec_store_device_add(x.other, &b, NULL), 0);
  ec_ids_changed(ids, NULL);
  CU_ASSERT_TRUE(holds("dev-a", 0));
  CU_ASSERT_TRUE(holds("dev-b", 6));
  CU_ASSERT_EQUAL(ec_ids_count(ids), 1);
  /* A hint of one identity reads that one again, whatever it said. */
  CU_ASSERT_EQUAL_FATAL(ec_store_device_remove(x.other, "dev-b"), 0);
  ec_ids_changed(ids, "dev-b");
  CU_ASSERT_TRUE(holds("dev-b", 0));
  ec_ids_changed(ids, "never-there");
  CU_ASSERT_EQUAL(ec_ids_count(ids), 0);
  teardown(&x);
}

static void test_many_identities_each_found(void) {
  fx_t x;
  setup(&x);
  ec_store_fx_fast(&x.f);
  char name[32];
  for (int i = 0; i < 600; i++) {
    snprintf(name, sizeof(name), "d%04d", i);
    ec_store_device_t d =
        device(name, EC_DEVICE_ROLE_DEVICE, (uint8_t)(i % 200 + 1));
    CU_ASSERT_EQUAL_FATAL(ec_store_device_add(x.f.s, &d, NULL), 0);
  }
  CU_ASSERT_EQUAL_FATAL(ec_ids_new(x.f.s, &ids), 0);
  CU_ASSERT_EQUAL(ec_ids_count(ids), 600);
  int found = 0;
  for (int i = 0; i < 600; i++) {
    snprintf(name, sizeof(name), "d%04d", i);
    found += holds(name, (uint8_t)(i % 200 + 1));
  }
  CU_ASSERT_EQUAL(found, 600);
  teardown(&x);
}

static const ec_test_t tests[] = {
    {test_loaded_at_start_and_found_by_exact_bytes,
     "loaded_at_start_and_found_by_exact_bytes"},
    {test_another_writers_changes_are_seen,
     "another_writers_changes_are_seen"},
    {test_a_resync_reads_everything_again,
     "a_resync_reads_everything_again"},
    {test_many_identities_each_found, "many_identities_each_found"},
};

int main(void) {
  return ec_test_main("identities", tests, EC_TEST_COUNT(tests), NULL, NULL,
                      NULL);
}
