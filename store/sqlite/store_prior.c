/* edgecoap SQLite store: what a status write must know of its pair before it, kept for the pairs written lately. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"
#include "util.h"

/*
 * A status write reads its pair's last seq, state and whether it has failed
 * components before it writes, and where its row is (store.c). A store that is its database's
 * one server (EC_STORE_SERVE: the flock of dbfile.c keeps out a second,
 * and nothing else writes deployment_status) knows what it wrote last:
 * this table keeps it for the pairs written lately, so that their next
 * write skips the read. Direct-mapped, STORE_PRIOR_SLOTS entries (about
 * 50 bytes and the key each), each replaced by any pair that maps to it;
 * an entry is set only after the pair's write succeeded in the open
 * transaction, and every rollback empties the table (store_rollback()),
 * so it never holds what the database does not.
 */

struct store_prior {
  uint64_t hash;
  char *key; /* device_id '\0' deployment_id, malloc'd; NULL: empty */
  size_t key_len;
  store_prior_t p;
};

/* The key of (@p dev, @p dep) into @p k. */
static void key_of(const char *dev, const char *dep, store_prior_key_t *k) {
  size_t a = strlen(dev), b = strlen(dep);
  memcpy(k->b, dev, a + 1);
  memcpy(k->b + a + 1, dep, b);
  k->len = a + 1 + b;
  k->hash = ec_fnv1a(EC_FNV1A_INIT, k->b, k->len);
}

/* The slot of key @p k; *held says whether it holds that pair now. */
static struct store_prior *slot_of(const store_db_t *s,
                                   const store_prior_key_t *k, bool *held) {
  struct store_prior *e = &s->prior[k->hash % STORE_PRIOR_SLOTS];
  *held = e->key != NULL && e->hash == k->hash && e->key_len == k->len &&
          memcmp(e->key, k->b, k->len) == 0;
  return e;
}

void store_prior_open(store_db_t *s) {
  s->prior = calloc(STORE_PRIOR_SLOTS, sizeof(*s->prior));
}

void store_prior_clear(store_db_t *s) {
  if (s->prior == NULL || s->n_prior == 0)
    return;
  for (size_t i = 0; i < STORE_PRIOR_SLOTS; i++) {
    free(s->prior[i].key);
    s->prior[i].key = NULL;
  }
  s->n_prior = 0;
}

void store_prior_close(store_db_t *s) {
  store_prior_clear(s);
  free(s->prior);
  s->prior = NULL;
}

bool store_prior_find(const store_db_t *s, const char *dev, const char *dep,
                      store_prior_key_t *k, store_prior_t *p) {
  bool held = false;
  key_of(dev, dep, k);
  if (s->prior == NULL)
    return false;
  const struct store_prior *e = slot_of(s, k, &held);
  if (!held)
    return false;
  *p = e->p;
  return true;
}

void store_prior_set(store_db_t *s, const store_prior_key_t *k,
                     const store_prior_t *p) {
  if (s->prior == NULL)
    return;
  bool held;
  struct store_prior *e = slot_of(s, k, &held);
  char *key = e->key;
  if (!held) {
    /* Another pair's slot, or an empty one: this pair's from now on. Out
     * of memory, it is left empty: the pair is read next time. */
    if (key != NULL)
      s->n_prior--;
    free(key);
    key = malloc(k->len);
    if (key == NULL) {
      e->key = NULL;
      return;
    }
    memcpy(key, k->b, k->len);
    s->n_prior++;
  }
  *e = (struct store_prior){k->hash, key, k->len, *p};
}
