/* edgecoap: the SQLite store of DTLS PSK identities, their roles and keys. */
/* SPDX-License-Identifier: Apache-2.0 */

/*
 * Schema (the devices migration in store.c; STRICT):
 *
 *   devices
 *     id          INTEGER PRIMARY KEY AUTOINCREMENT   never reused, so a
 *                                     removed and re-added identity is a
 *                                     new row and its old sessions can be
 *                                     told apart by their key
 *     identity    TEXT NOT NULL UNIQUE  the PSK identity, 1..128 bytes; for
 *                                     a device, its deviceId
 *     role        TEXT NOT NULL       'device' or 'operator'
 *     psk         BLOB NOT NULL       the pre-shared key itself, 16..64 bytes
 *     created_at  INTEGER NOT NULL    ms since the epoch (UTC)
 *
 * The key is stored as it is, not hashed: DTLS PSK needs the key itself at
 * every handshake. It is protected by the database file's permissions only
 * (docs/SECURITY.md says so, and `admin device-add` makes the file
 * owner-only).
 *
 *   devices_version
 *     v           INTEGER NOT NULL    one row, bumped by a trigger on every
 *                                     insert, update and delete of devices
 *
 * The server keeps the identities in memory (server/coap/identities.c) and
 * reads the version before it uses them, so `admin device-add` and
 * `device-remove`, made by another process, take effect in a running
 * server at its next handshake or request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_internal.h"

/* Slots in STORE_SLOTS_DEVICES + 0..31. */
enum {
  SD_ADD,
  SD_FIND,
  SD_REMOVE,
  SD_EACH,
  SD_EACH_KEYS,
  SD_COUNT_ROWS,
  SD_VERSION,
  SD_COUNT
};

static const char *const sd_sql[SD_COUNT] = {
    [SD_ADD] = "INSERT INTO devices (identity, role, psk, created_at)"
               " VALUES (?1, ?2, ?3, ?4)",
    [SD_FIND] = "SELECT id, identity, role, psk, created_at FROM devices"
                " WHERE identity = ?1",
    [SD_REMOVE] = "DELETE FROM devices WHERE identity = ?1",
    [SD_EACH] = "SELECT id, identity, role, created_at FROM devices"
                " ORDER BY identity",
    [SD_EACH_KEYS] = "SELECT id, identity, role, psk, created_at FROM devices"
                     " ORDER BY identity",
    [SD_COUNT_ROWS] = "SELECT count(*) FROM devices",
    [SD_VERSION] = "SELECT v FROM devices_version",
};

static sqlite3_stmt *stmt(store_db_t *s, int which) {
  return store_stmt(s, STORE_SLOTS_DEVICES + which, sd_sql[which]);
}

static int role_parse(const unsigned char *name, ec_device_role_t *out) {
  if (name != NULL && strcmp((const char *)name, "operator") == 0) {
    *out = EC_DEVICE_ROLE_OPERATOR;
    return 0;
  }
  if (name != NULL && strcmp((const char *)name, "device") == 0) {
    *out = EC_DEVICE_ROLE_DEVICE;
    return 0;
  }
  return -1;
}

/* Columns id, identity, role, [psk,] created_at of the current row. */
static int read_row(sqlite3_stmt *st, bool with_key, ec_store_device_t *out) {
  int col = 0;
  memset(out, 0, sizeof(*out));
  out->id = sqlite3_column_int64(st, col++);
  const unsigned char *identity = sqlite3_column_text(st, col);
  int identity_len = sqlite3_column_bytes(st, col++);
  const unsigned char *role = sqlite3_column_text(st, col++);
  if (identity == NULL || identity_len <= 0 ||
      identity_len > EC_STORE_DEVICE_ID_MAX || role_parse(role, &out->role) < 0)
    return EC_ESTORE; /* the CHECK constraints make this unreachable */
  memcpy(out->identity, identity, (size_t)identity_len);
  if (with_key) {
    const void *key = sqlite3_column_blob(st, col);
    int key_len = sqlite3_column_bytes(st, col++);
    if (key == NULL || key_len < EC_STORE_DEVICE_KEY_MIN ||
        key_len > EC_STORE_DEVICE_KEY_MAX)
      return EC_ESTORE;
    memcpy(out->key, key, (size_t)key_len);
    out->key_len = (size_t)key_len;
  }
  out->created_at_ms = sqlite3_column_int64(st, col);
  return 0;
}

int store_sqlite_device_add(ec_store_t *base, const ec_store_device_t *d,
                            int64_t *id) {
  store_db_t *s = (store_db_t *)base;
  if (s == NULL || !ec__store_device_ok(d))
    return EC_EINVAL;
  store_settle(s);
  sqlite3_stmt *st = stmt(s, SD_ADD);
  if (st == NULL)
    return EC_ESTORE;
  sqlite3_bind_text(st, 1, d->identity, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, ec_store_device_role_name(d->role), -1,
                    SQLITE_STATIC);
  sqlite3_bind_blob(st, 3, d->key, (int)d->key_len, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, d->created_at_ms);
  int rc = 0;
  if (sqlite3_step(st) != SQLITE_DONE) {
    /* A taken identity is the caller's mistake, anything else ours. */
    rc = (sqlite3_extended_errcode(s->db) & 0xff) == SQLITE_CONSTRAINT
             ? EC_EINVAL
             : EC_ESTORE;
    if (rc == EC_ESTORE)
      store_log(s->db, "add device");
  } else if (id != NULL) {
    *id = sqlite3_last_insert_rowid(s->db);
  }
  store_stmt_done(st);
  return rc;
}

int store_sqlite_device_find(ec_store_t *base, const uint8_t *identity,
                             size_t len, ec_store_device_t *out) {
  store_db_t *s = (store_db_t *)base;
  if (s == NULL || identity == NULL || out == NULL)
    return EC_EINVAL;
  /* Identities come from the network here: refuse what no row can match
   * before it reaches SQLite. */
  if (len == 0 || len > EC_STORE_DEVICE_ID_MAX)
    return EC_ENOTFOUND;
  sqlite3_stmt *st = stmt(s, SD_FIND);
  if (st == NULL)
    return EC_ESTORE;
  sqlite3_bind_text(st, 1, (const char *)identity, (int)len, SQLITE_STATIC);
  int r = sqlite3_step(st);
  int rc;
  if (r == SQLITE_ROW) {
    rc = read_row(st, true, out);
    if (rc < 0)
      ec_log(EC_LOG_ERROR, "store: a devices row does not read back");
  } else if (r == SQLITE_DONE) {
    rc = EC_ENOTFOUND;
  } else {
    store_log(s->db, "find device");
    rc = EC_ESTORE;
  }
  store_stmt_done(st);
  return rc;
}

int store_sqlite_device_remove(ec_store_t *base, const char *identity) {
  store_db_t *s = (store_db_t *)base;
  if (s == NULL || !ec__store_identity_ok(identity))
    return EC_EINVAL;
  store_settle(s);
  sqlite3_stmt *st = stmt(s, SD_REMOVE);
  if (st == NULL)
    return EC_ESTORE;
  sqlite3_bind_text(st, 1, identity, -1, SQLITE_STATIC);
  int rc = 0;
  if (sqlite3_step(st) != SQLITE_DONE) {
    store_log(s->db, "remove device");
    rc = EC_ESTORE;
  } else if (sqlite3_changes(s->db) == 0) {
    rc = EC_ENOTFOUND;
  }
  store_stmt_done(st);
  return rc;
}

int store_sqlite_device_each(ec_store_t *base, bool with_keys,
                             int (*fn)(void *ud, const ec_store_device_t *d),
                             void *ud) {
  store_db_t *s = (store_db_t *)base;
  if (s == NULL || fn == NULL)
    return EC_EINVAL;
  sqlite3_stmt *st = stmt(s, with_keys ? SD_EACH_KEYS : SD_EACH);
  if (st == NULL)
    return EC_ESTORE;
  ec_store_device_t d;
  int r = SQLITE_DONE, rc = 0;
  while (rc == 0 && (r = sqlite3_step(st)) == SQLITE_ROW) {
    rc = read_row(st, with_keys, &d);
    if (rc == 0)
      rc = fn(ud, &d);
  }
  explicit_bzero(&d, sizeof(d));
  if (rc == 0 && r != SQLITE_DONE) {
    store_log(s->db, "list devices");
    rc = EC_ESTORE;
  }
  store_stmt_done(st);
  return rc;
}

/* The one integer of a one-row query in slot @p which. */
static int one_int(store_db_t *s, int which, const char *what, int64_t *out) {
  sqlite3_stmt *st = stmt(s, which);
  if (st == NULL)
    return EC_ESTORE;
  int rc = 0;
  if (sqlite3_step(st) == SQLITE_ROW) {
    *out = sqlite3_column_int64(st, 0);
  } else {
    store_log(s->db, what);
    rc = EC_ESTORE;
  }
  store_stmt_done(st);
  return rc;
}

int store_sqlite_device_count(ec_store_t *base, int64_t *n) {
  store_db_t *s = (store_db_t *)base;
  if (s == NULL || n == NULL)
    return EC_EINVAL;
  return one_int(s, SD_COUNT_ROWS, "count devices", n);
}

int store_sqlite_device_version(ec_store_t *base, int64_t *version) {
  return one_int((store_db_t *)base, SD_VERSION,
                 "read the identities' version", version);
}
