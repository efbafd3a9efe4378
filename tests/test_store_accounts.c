/* edgecoap: CUnit tests of the store contract (store.h): DTLS identities, accounts, session tokens and provisioning owners. */
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
#include "store.h"
#include "store_fx.h"
#include "suite.h"

/* The store keeps password hashes as given; it checks only their kind. */
#define HASH "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"

static ec_store_device_t device(const char *identity, ec_device_role_t role,
                                uint8_t key_byte) {
  ec_store_device_t d = {0};
  snprintf(d.identity, sizeof(d.identity), "%s", identity);
  d.role = role;
  d.key_len = 16 + key_byte % 4;
  memset(d.key, key_byte, d.key_len);
  d.created_at_ms = 1000 + key_byte;
  return d;
}

typedef struct {
  char names[4][EC_STORE_DEVICE_ID_MAX + 1];
  size_t n;
  bool keys_left_out;
} walk_t;

static int walk_device(void *ud, const ec_store_device_t *d) {
  walk_t *w = ud;
  if (w->n < 4)
    snprintf(w->names[w->n], sizeof(w->names[0]), "%s", d->identity);
  w->n++;
  w->keys_left_out = w->keys_left_out && d->key_len == 0;
  return 0;
}

/* The walk with keys: each key as added (device()'s pattern). */
static int walk_keys(void *ud, const ec_store_device_t *d) {
  int *n = ud;
  uint8_t want = d->key[0];
  bool same = d->key_len == 16u + want % 4u;
  for (size_t i = 0; i < d->key_len; i++)
    same = same && d->key[i] == want;
  *n += same ? 1 : 100;
  return 0;
}

static int stop_at_first(void *ud, const ec_store_device_t *d) {
  (void)ud;
  (void)d;
  return 7;
}

static void test_dtls_identities(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  int64_t n = -1, id1 = 0, id2 = 0;
  CU_ASSERT_EQUAL(ec_store_device_count(f.s, &n), 0);
  CU_ASSERT_EQUAL(n, 0);
  ec_store_device_t a = device("zeta", EC_DEVICE_ROLE_DEVICE, 1);
  ec_store_device_t b = device("alpha", EC_DEVICE_ROLE_OPERATOR, 2);
  CU_ASSERT_EQUAL(ec_store_device_add(f.s, &a, &id1), 0);
  CU_ASSERT_EQUAL(ec_store_device_add(f.s, &b, &id2), 0);
  CU_ASSERT(id2 > id1);
  /* An identity is added once. */
  CU_ASSERT_EQUAL(ec_store_device_add(f.s, &a, NULL), EC_EINVAL);
  CU_ASSERT_EQUAL(ec_store_device_count(f.s, &n), 0);
  CU_ASSERT_EQUAL(n, 2);

  ec_store_device_t got;
  CU_ASSERT_EQUAL_FATAL(
      ec_store_device_find(f.s, (const uint8_t *)"alpha", 5, &got), 0);
  CU_ASSERT_STRING_EQUAL(got.identity, "alpha");
  CU_ASSERT_EQUAL(got.role, EC_DEVICE_ROLE_OPERATOR);
  CU_ASSERT(got.key_len == b.key_len &&
            memcmp(got.key, b.key, b.key_len) == 0);
  CU_ASSERT_EQUAL(got.created_at_ms, b.created_at_ms);
  CU_ASSERT_EQUAL(got.id, id2);
  /* Exact bytes: no prefix, no other case, nothing over-long. */
  CU_ASSERT_EQUAL(ec_store_device_find(f.s, (const uint8_t *)"alph", 4, &got),
                  EC_ENOTFOUND);
  CU_ASSERT_EQUAL(ec_store_device_find(f.s, (const uint8_t *)"ALPHA", 5, &got),
                  EC_ENOTFOUND);
  CU_ASSERT_EQUAL(ec_store_device_find(f.s, (const uint8_t *)"alpha",
                                       EC_STORE_DEVICE_ID_MAX + 1, &got),
                  EC_ENOTFOUND);

  walk_t w = {.keys_left_out = true};
  CU_ASSERT_EQUAL(ec_store_device_each(f.s, false, walk_device, &w), 0);
  CU_ASSERT_EQUAL_FATAL(w.n, 2);
  CU_ASSERT_STRING_EQUAL(w.names[0], "alpha"); /* ordered by identity */
  CU_ASSERT_STRING_EQUAL(w.names[1], "zeta");
  CU_ASSERT_TRUE(w.keys_left_out);
  int with_keys = 0;
  CU_ASSERT_EQUAL(ec_store_device_each(f.s, true, walk_keys, &with_keys), 0);
  CU_ASSERT_EQUAL(with_keys, 2);
  CU_ASSERT_EQUAL(ec_store_device_each(f.s, false, stop_at_first, NULL), 7);

  /* The identities' version moves with each change (a store that tells
   * by hints has none). */
  int64_t v1 = 0, v2 = 0;
  int vrc = ec_store_device_version(f.s, &v1);
  CU_ASSERT(vrc == 0 || vrc == EC_ENOTSUP);
  CU_ASSERT_EQUAL(ec_store_device_remove(f.s, "zeta"), 0);
  if (vrc == 0) {
    CU_ASSERT_EQUAL(ec_store_device_version(f.s, &v2), 0);
    CU_ASSERT_NOT_EQUAL(v1, v2);
    CU_ASSERT_EQUAL(ec_store_device_version(f.s, &v1), 0);
    CU_ASSERT_EQUAL(v1, v2);
  }
  CU_ASSERT_EQUAL(ec_store_device_remove(f.s, "zeta"), EC_ENOTFOUND);
  if (vrc == 0) {
    CU_ASSERT_EQUAL(ec_store_device_version(f.s, &v1), 0);
    CU_ASSERT_EQUAL(v1, v2); /* nothing removed: nothing changed */
  }
  /* Re-added, it is a new row: never the old id again. */
  int64_t id3 = 0;
  CU_ASSERT_EQUAL(ec_store_device_add(f.s, &a, &id3), 0);
  CU_ASSERT(id3 > id2);
  ec_store_fx_reopen(&f);
  CU_ASSERT_EQUAL(ec_store_device_count(f.s, &n), 0);
  CU_ASSERT_EQUAL(n, 2);

  CU_ASSERT_STRING_EQUAL(ec_store_device_role_name(EC_DEVICE_ROLE_DEVICE),
                         "device");
  CU_ASSERT_STRING_EQUAL(ec_store_device_role_name(EC_DEVICE_ROLE_OPERATOR),
                         "operator");
  ec_store_device_t bad = device("k", EC_DEVICE_ROLE_DEVICE, 3);
  bad.key_len = EC_STORE_DEVICE_KEY_MIN - 1;
  CU_ASSERT_EQUAL(ec_store_device_add(f.s, &bad, NULL), EC_EINVAL);
  bad = device("", EC_DEVICE_ROLE_DEVICE, 3);
  CU_ASSERT_EQUAL(ec_store_device_add(f.s, &bad, NULL), EC_EINVAL);
  CU_ASSERT_EQUAL(ec_store_device_remove(f.s, ""), EC_EINVAL);
  ec_store_fx_teardown(&f);
}

typedef struct {
  int64_t ids[4];
  char roles[4][EC_STORE_PROV_TEXT_MAX + 1];
  size_t n;
  bool hashes_left_out;
} users_t;

static int walk_user(void *ud, const ec_store_prov_user_t *u) {
  users_t *w = ud;
  if (w->n < 4) {
    w->ids[w->n] = u->id;
    snprintf(w->roles[w->n], sizeof(w->roles[0]), "%s", u->role);
  }
  w->n++;
  w->hashes_left_out = w->hashes_left_out && u->password_hash[0] == '\0';
  return 0;
}

static ec_store_prov_user_t user(int64_t id, const char *name,
                                 const char *role) {
  ec_store_prov_user_t u = {0};
  u.id = id;
  snprintf(u.username, sizeof(u.username), "%s", name);
  snprintf(u.role, sizeof(u.role), "%s", role);
  snprintf(u.password_hash, sizeof(u.password_hash), "%s", HASH);
  return u;
}

static void test_accounts(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  ec_store_prov_user_t a = user(0, "ann", "admin"), b = user(7, "bob", "user");
  int64_t id = 0;
  int created = -1;
  CU_ASSERT_EQUAL(ec_store_prov_user_put(f.s, &b, &id, &created), 0);
  CU_ASSERT(id == 7 && created == 1);
  /* An id of 0 picks the next free one. */
  CU_ASSERT_EQUAL(ec_store_prov_user_put(f.s, &a, &id, &created), 0);
  CU_ASSERT(id == 8 && created == 1);
  /* The same username again replaces role and hash, whatever its id. */
  ec_store_prov_user_t b2 = user(99, "bob", "operator");
  CU_ASSERT_EQUAL(ec_store_prov_user_put(f.s, &b2, &id, &created), 0);
  CU_ASSERT(id == 7 && created == 0);

  ec_store_prov_user_t got;
  CU_ASSERT_EQUAL_FATAL(ec_store_prov_user_find(f.s, "bob", &got), 0);
  CU_ASSERT(got.id == 7 && strcmp(got.role, "operator") == 0);
  CU_ASSERT_STRING_EQUAL(got.password_hash, HASH);
  CU_ASSERT_EQUAL(ec_store_prov_user_find(f.s, "Bob", &got), EC_ENOTFOUND);
  CU_ASSERT_EQUAL_FATAL(ec_store_prov_user_get(f.s, 8, &got), 0);
  CU_ASSERT_STRING_EQUAL(got.username, "ann");
  CU_ASSERT_STRING_EQUAL(got.password_hash, HASH);
  CU_ASSERT_EQUAL(ec_store_prov_user_get(f.s, 9, &got), EC_ENOTFOUND);

  users_t w = {.hashes_left_out = true};
  CU_ASSERT_EQUAL(ec_store_prov_user_each(f.s, walk_user, &w), 0);
  CU_ASSERT_EQUAL_FATAL(w.n, 2);
  CU_ASSERT(w.ids[0] == 7 && w.ids[1] == 8); /* in id order */
  CU_ASSERT_STRING_EQUAL(w.roles[1], "admin");
  CU_ASSERT_TRUE(w.hashes_left_out);

  /* A session token of ann's, then ann removed: the token ends too. */
  uint8_t digest[EC_STORE_PROV_DIGEST_LEN];
  memset(digest, 0x5a, sizeof(digest));
  CU_ASSERT_EQUAL(ec_store_prov_token_add(f.s, digest, 8, 1000, 5000), 0);
  int64_t uid = 0;
  CU_ASSERT_EQUAL(ec_store_prov_token_use(f.s, digest, 1001, 5000, -1, &uid),
                  0);
  CU_ASSERT_EQUAL(uid, 8);
  bool kept = true;
  CU_ASSERT_EQUAL(ec_store_prov_user_remove(f.s, "ann", HASH, &kept), 0);
  CU_ASSERT_FALSE(kept); /* no component names her: the row is gone */
  CU_ASSERT_EQUAL(ec_store_prov_user_find(f.s, "ann", &got), EC_ENOTFOUND);
  CU_ASSERT_EQUAL(ec_store_prov_token_use(f.s, digest, 1002, 5000, -1, &uid),
                  EC_ENOTFOUND);
  CU_ASSERT_EQUAL(ec_store_prov_user_remove(f.s, "ann", HASH, &kept),
                  EC_ENOTFOUND);
  ec_store_fx_teardown(&f);
}

static void test_session_tokens_slide_and_expire(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  ec_store_prov_user_t u = user(3, "dev", "device");
  CU_ASSERT_EQUAL_FATAL(ec_store_prov_user_put(f.s, &u, NULL, NULL), 0);
  uint8_t t1[EC_STORE_PROV_DIGEST_LEN], t2[EC_STORE_PROV_DIGEST_LEN];
  memset(t1, 1, sizeof(t1));
  memset(t2, 2, sizeof(t2));
  const int64_t ttl = 1000;
  CU_ASSERT_EQUAL(ec_store_prov_token_add(f.s, t1, 3, 10000, ttl), 0);
  int64_t uid = 0;
  /* Used 900 ms later with touch 500: marked used, so it lives on. */
  CU_ASSERT_EQUAL(ec_store_prov_token_use(f.s, t1, 10900, ttl, 500, &uid), 0);
  CU_ASSERT_EQUAL(ec_store_prov_token_use(f.s, t1, 11800, ttl, -1, &uid), 0);
  /* Not touched that time (touch < 0): 1000 ms after 10900 it is gone. */
  CU_ASSERT_EQUAL(ec_store_prov_token_use(f.s, t1, 11900, ttl, -1, &uid),
                  EC_ENOTFOUND);
  /* Another token, deleted while live, then not again; an expired one is
   * not live either. */
  CU_ASSERT_EQUAL(ec_store_prov_token_add(f.s, t2, 3, 20000, ttl), 0);
  CU_ASSERT_EQUAL(ec_store_prov_token_delete(f.s, t2, 20001, ttl), 0);
  CU_ASSERT_EQUAL(ec_store_prov_token_delete(f.s, t2, 20002, ttl),
                  EC_ENOTFOUND);
  CU_ASSERT_EQUAL(ec_store_prov_token_add(f.s, t2, 3, 30000, ttl), 0);
  CU_ASSERT_EQUAL(ec_store_prov_token_delete(f.s, t2, 31000, ttl),
                  EC_ENOTFOUND);
  ec_store_fx_teardown(&f);
}

static void test_provisioning_owners_and_components(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  static ec_store_prov_user_t users[2];
  users[0] = user(1, "admin", "admin");
  users[1] = user(2, "device", "device");
  static const ec_store_prov_item_t provs[] = {{11, "north", 0, true, 2},
                                               {12, "south", 0, false, 0}};
  static const ec_store_prov_item_t sensors[] = {{1, "Temperature", 0},
                                                 {2, "CO2", 0}};
  ec_store_prov_import_t im = {users, 2, provs, 2, {sensors, NULL, NULL},
                               {2, 0, 0}};
  CU_ASSERT_EQUAL_FATAL(ec_store_prov_import(f.s, &im), 0);
  int64_t owner = 0;
  CU_ASSERT_EQUAL(ec_store_prov_owner(f.s, 11, &owner), 0);
  CU_ASSERT_EQUAL(owner, 2);
  CU_ASSERT_EQUAL(ec_store_prov_owner(f.s, 12, &owner), 0);
  CU_ASSERT_EQUAL(owner, -1);
  CU_ASSERT_EQUAL(ec_store_prov_owner(f.s, 13, &owner), EC_ENOTFOUND);

  /* Sensor 1 on both provisionings, sensor 2 on the south one. */
  const int64_t one[] = {1}, both[] = {1, 2};
  ec_prov_request_t rq = {.action = EC_PROV_INSERT,
                          .has_provisioning_id = true,
                          .provisioning_id = 11,
                          .has_component_type = true,
                          .component_type = (ec_comp_type_t)0,
                          .component_id = {one, 1, true, false}};
  ec_store_prov_outcome_t o;
  CU_ASSERT_EQUAL_FATAL(ec_store_prov_insert(f.s, &rq, 1, 100, &o), 0);
  ec_store_prov_outcome_free(&o);
  rq.provisioning_id = 12;
  rq.component_id = (ec_prov_ids_t){both, 2, true, true};
  CU_ASSERT_EQUAL_FATAL(ec_store_prov_insert(f.s, &rq, 1, 100, &o), 0);
  ec_store_prov_outcome_free(&o);

  ec_prov_request_t all = {.action = EC_PROV_SELECT};
  ec_prov_component_t *rows = NULL;
  size_t n = 0;
  CU_ASSERT_EQUAL_FATAL(ec_store_prov_select_owned(f.s, &all, 2, &rows, &n),
                        0);
  CU_ASSERT_EQUAL_FATAL(n, 1); /* only what account 2 owns */
  CU_ASSERT_EQUAL(rows[0].provisioning_id, 11);
  int64_t pc = rows[0].provisioning_component_id;
  free(rows);
  CU_ASSERT_EQUAL(ec_store_prov_select_owned(f.s, &all, -1, &rows, &n), 0);
  CU_ASSERT_EQUAL(n, 3); /* -1: every row */
  int64_t last = n == 3 ? rows[2].provisioning_component_id : 0;
  free(rows);
  CU_ASSERT_EQUAL(ec_store_prov_select_owned(f.s, &all, 1, &rows, &n), 0);
  CU_ASSERT_EQUAL(n, 0);
  free(rows);

  int64_t prov = 0;
  CU_ASSERT_EQUAL(ec_store_prov_component_of(f.s, pc, &prov), 0);
  CU_ASSERT_EQUAL(prov, 11);
  CU_ASSERT_EQUAL(ec_store_prov_component_of(f.s, last, &prov), 0);
  CU_ASSERT_EQUAL(prov, 12);
  CU_ASSERT_EQUAL(ec_store_prov_component_of(f.s, last + 1, &prov),
                  EC_ENOTFOUND);

  /* Removing the owner leaves provisioning 11 without one; account 2
   * modified no component, so its row is deleted. */
  bool kept = true;
  CU_ASSERT_EQUAL(ec_store_prov_user_remove(f.s, "device", HASH, &kept), 0);
  CU_ASSERT_FALSE(kept);
  CU_ASSERT_EQUAL(ec_store_prov_owner(f.s, 11, &owner), 0);
  CU_ASSERT_EQUAL(owner, -1);
  /* Account 1 made every component: removed, it stays as "removed". */
  CU_ASSERT_EQUAL(ec_store_prov_user_remove(f.s, "admin", HASH, &kept), 0);
  CU_ASSERT_TRUE(kept);
  ec_store_prov_user_t got;
  CU_ASSERT_EQUAL_FATAL(ec_store_prov_user_get(f.s, 1, &got), 0);
  CU_ASSERT_STRING_EQUAL(got.role, "removed");
  ec_store_fx_teardown(&f);
}

/* Failed logins per username count in a window that starts with the first
 * failure and ends window_ms later; the next failure starts a new one. */
static void test_failed_logins_count_in_windows(void) {
  ec_store_fx_t f;
  ec_store_fx_setup(&f);
  int64_t n = -1;
  CU_ASSERT_EQUAL(ec_store_login_failures(f.s, "ann", 1000, 500, &n), 0);
  CU_ASSERT_EQUAL(n, 0);
  CU_ASSERT_EQUAL(ec_store_login_failed(f.s, "ann", 1000, 500, &n), 0);
  CU_ASSERT_EQUAL(n, 1);
  CU_ASSERT_EQUAL(ec_store_login_failed(f.s, "ann", 1400, 500, &n), 0);
  CU_ASSERT_EQUAL(n, 2);
  CU_ASSERT_EQUAL(ec_store_login_failed(f.s, "bob", 1400, 500, NULL), 0);
  CU_ASSERT_EQUAL(ec_store_login_failures(f.s, "ann", 1499, 500, &n), 0);
  CU_ASSERT_EQUAL(n, 2);
  /* A restart keeps them: they are the store's. */
  ec_store_fx_reopen(&f);
  CU_ASSERT_EQUAL(ec_store_login_failures(f.s, "bob", 1499, 500, &n), 0);
  CU_ASSERT_EQUAL(n, 1);
  /* ann's window ended at 1500: read as none, and counted afresh. */
  CU_ASSERT_EQUAL(ec_store_login_failures(f.s, "ann", 1500, 500, &n), 0);
  CU_ASSERT_EQUAL(n, 0);
  CU_ASSERT_EQUAL(ec_store_login_failed(f.s, "ann", 1500, 500, &n), 0);
  CU_ASSERT_EQUAL(n, 1);
  CU_ASSERT_EQUAL(ec_store_login_failures(f.s, "bob", 1600, 500, &n), 0);
  CU_ASSERT_EQUAL(n, 1);
  CU_ASSERT_EQUAL(ec_store_login_failed(f.s, NULL, 1, 500, &n), EC_EINVAL);
  CU_ASSERT_EQUAL(ec_store_login_failed(f.s, "ann", 1, 0, &n), EC_EINVAL);
  ec_store_fx_teardown(&f);
}

static const ec_test_t tests[] = {
    {test_dtls_identities, "DTLS identities"},
    {test_accounts, "accounts"},
    {test_session_tokens_slide_and_expire, "session tokens slide and expire"},
    {test_failed_logins_count_in_windows, "failed logins count in windows"},
    {test_provisioning_owners_and_components,
     "provisioning owners and components"},
};

int main(void) {
  ec_log_set_level(EC_LOG_WARN);
  return ec_test_main("store_accounts", tests, EC_TEST_COUNT(tests), NULL,
                      NULL, NULL);
}
