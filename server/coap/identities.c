/* edgecoap server: the DTLS PSK identities, kept in memory and refreshed from the store. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "identities.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "edgecoap/error.h"
#include "log.h"
#include "util.h"

/* A table that failed to load is tried again no sooner than this. */
#define RETRY_MS 1000

typedef struct entry {
  struct entry *next;
  uint64_t hash;
  int64_t id;
  int64_t created_at_ms;
  ec_device_role_t role;
  uint8_t key_len;
  uint8_t id_len;
  uint8_t key[EC_STORE_DEVICE_KEY_MAX];
  char identity[]; /* id_len bytes and a NUL */
} entry_t;

/* Chained buckets, a power of two of them, never fewer than entries. */
typedef struct {
  entry_t **b;
  size_t mask;
  size_t n;
} map_t;

struct ec_ids {
  ec_store_t *store;
  map_t map;
  bool versioned; /* the store has a version (ec_store_device_version) */
  int64_t version; /* the version the table was loaded at */
  bool stale;      /* the last load, or a hint's find, failed */
  uint64_t retry_at_ms;
};

static uint64_t hash_of(const uint8_t *id, size_t len) {
  return ec_fnv1a(0, id, len);
}

static void entry_free(entry_t *e) {
  sodium_memzero(e->key, sizeof(e->key));
  free(e);
}

static int map_init(map_t *m, size_t buckets) {
  m->b = calloc(buckets, sizeof(*m->b));
  m->mask = buckets - 1;
  m->n = 0;
  return m->b != NULL ? 0 : EC_ENOMEM;
}

static void map_clear(map_t *m) {
  for (size_t i = 0; m->b != NULL && i <= m->mask; i++) {
    entry_t *e = m->b[i];
    while (e != NULL) {
      entry_t *next = e->next;
      entry_free(e);
      e = next;
    }
  }
  free(m->b);
  m->b = NULL;
  m->n = 0;
}

static entry_t **slot(const map_t *m, const uint8_t *id, size_t len,
                      uint64_t h) {
  entry_t **p = &m->b[h & m->mask];
  while (*p != NULL && !((*p)->hash == h && (*p)->id_len == len &&
                         memcmp((*p)->identity, id, len) == 0))
    p = &(*p)->next;
  return p;
}

/* Double the buckets; on failure the map stays as it is (only slower). */
static void map_grow(map_t *m) {
  size_t buckets = (m->mask + 1) * 2;
  entry_t **b = calloc(buckets, sizeof(*b));
  if (b == NULL)
    return;
  for (size_t i = 0; i <= m->mask; i++) {
    entry_t *e = m->b[i];
    while (e != NULL) {
      entry_t *next = e->next;
      e->next = b[e->hash & (buckets - 1)];
      b[e->hash & (buckets - 1)] = e;
      e = next;
    }
  }
  free(m->b);
  m->b = b;
  m->mask = buckets - 1;
}

/* Remove @p identity from @p m, if it is there. */
static void map_remove(map_t *m, const char *identity) {
  size_t len = strlen(identity);
  entry_t **p = slot(m, (const uint8_t *)identity, len,
                     hash_of((const uint8_t *)identity, len));
  if (*p == NULL)
    return;
  entry_t *e = *p;
  *p = e->next;
  entry_free(e);
  m->n--;
}

/* Put a copy of @p d into @p m, replacing any entry of its identity. */
static int map_put(map_t *m, const ec_store_device_t *d) {
  size_t len = strnlen(d->identity, sizeof(d->identity));
  if (len == 0 || len > EC_STORE_DEVICE_ID_MAX ||
      d->key_len > EC_STORE_DEVICE_KEY_MAX)
    return EC_EINVAL;
  map_remove(m, d->identity);
  entry_t *e = malloc(sizeof(*e) + len + 1);
  if (e == NULL)
    return EC_ENOMEM;
  e->hash = hash_of((const uint8_t *)d->identity, len);
  e->id = d->id;
  e->created_at_ms = d->created_at_ms;
  e->role = d->role;
  e->key_len = (uint8_t)d->key_len;
  e->id_len = (uint8_t)len;
  memcpy(e->key, d->key, d->key_len);
  memcpy(e->identity, d->identity, len + 1);
  entry_t **head = &m->b[e->hash & m->mask];
  e->next = *head;
  *head = e;
  if (++m->n > m->mask + 1)
    map_grow(m);
  return 0;
}

static int put_one(void *ud, const ec_store_device_t *d) {
  return map_put(ud, d);
}

/* Load every identity into a new map, which replaces the table's only
 * when the whole walk succeeded. */
static int load(ec_ids_t *t) {
  int64_t version = 0;
  int rc = 0;
  /* The version first: a change made during the walk moves it again, so
   * the next look loads once more rather than miss it. */
  if (t->versioned)
    rc = ec_store_device_version(t->store, &version);
  map_t m;
  if (rc == 0)
    rc = map_init(&m, 64);
  if (rc == 0) {
    rc = ec_store_device_each(t->store, true, put_one, &m);
    if (rc < 0)
      map_clear(&m);
  }
  if (rc < 0) {
    if (!t->stale)
      ec_log(EC_LOG_ERROR, "DTLS identities: cannot load them (%s): serving "
             "the %zu known so far until a load succeeds",
             ec_strerror(rc), t->map.n);
    t->stale = true;
    return rc;
  }
  if (t->stale)
    ec_log(EC_LOG_INFO, "DTLS identities: loaded again, %zu of them", m.n);
  map_clear(&t->map);
  t->map = m;
  t->version = version;
  t->stale = false;
  return 0;
}

int ec_ids_new(ec_store_t *s, ec_ids_t **out) {
  if (s == NULL || out == NULL)
    return EC_EINVAL;
  ec_ids_t *t = calloc(1, sizeof(*t));
  if (t == NULL)
    return EC_ENOMEM;
  t->store = s;
  int64_t v;
  int rc = ec_store_device_version(s, &v);
  if (rc < 0 && rc != EC_ENOTSUP) {
    free(t);
    return rc;
  }
  t->versioned = rc == 0;
  rc = map_init(&t->map, 64);
  if (rc == 0)
    rc = load(t);
  if (rc < 0) {
    ec_ids_free(t);
    return rc;
  }
  *out = t;
  return 0;
}

void ec_ids_free(ec_ids_t *t) {
  if (t == NULL)
    return;
  map_clear(&t->map);
  free(t);
}

int ec_ids_current(ec_ids_t *t) {
  if (!t->versioned)
    return 0;
  int64_t v;
  int rc = ec_store_device_version(t->store, &v);
  if (rc < 0)
    return rc;
  return v != t->version || t->stale ? load(t) : 0;
}

void ec_ids_changed(ec_ids_t *t, const char *identity) {
  if (identity == NULL) {
    (void)load(t);
    return;
  }
  /* Refused from now on unless it reads back: a removal holds even when
   * the read fails. */
  map_remove(&t->map, identity);
  ec_store_device_t d;
  int rc = ec_store_device_find(t->store, (const uint8_t *)identity,
                                strlen(identity), &d);
  if (rc == 0)
    rc = map_put(&t->map, &d);
  sodium_memzero(&d, sizeof(d));
  if (rc < 0 && rc != EC_ENOTFOUND) {
    ec_log(EC_LOG_ERROR, "DTLS identities: cannot read '%s' again (%s): "
           "refused until the table is loaded again", identity,
           ec_strerror(rc));
    t->stale = true;
  }
}

void ec_ids_retry(ec_ids_t *t, uint64_t now_ms) {
  if (!t->stale || now_ms < t->retry_at_ms)
    return;
  t->retry_at_ms = now_ms + RETRY_MS;
  (void)load(t);
}

int ec_ids_find(const ec_ids_t *t, const uint8_t *identity, size_t len,
                ec_store_device_t *out) {
  if (identity == NULL || len == 0 || len > EC_STORE_DEVICE_ID_MAX)
    return EC_ENOTFOUND;
  const entry_t *e = *slot(&t->map, identity, len, hash_of(identity, len));
  if (e == NULL)
    return EC_ENOTFOUND;
  memset(out, 0, sizeof(*out));
  out->id = e->id;
  out->role = e->role;
  out->created_at_ms = e->created_at_ms;
  memcpy(out->identity, e->identity, e->id_len + 1u);
  memcpy(out->key, e->key, e->key_len);
  out->key_len = e->key_len;
  return 0;
}

size_t ec_ids_count(const ec_ids_t *t) {
  return t->map.n;
}
