/* edgecoap: the SQLite store of accounts, tokens, catalogs, components. */
/* SPDX-License-Identifier: Apache-2.0 */

/*
 * Schema (one migration in store.c; every table STRICT):
 *
 *   prov_users          id INTEGER PRIMARY KEY (>= 0), username TEXT UNIQUE,
 *                       password_hash TEXT (an Argon2id string; a CHECK refuses
 *                       anything that is not one), role TEXT
 *   prov_tokens         digest BLOB PRIMARY KEY (SHA-256 of the token: the
 *                       token itself is never stored), user_id, created_at,
 *                       last_used_at (ms since the epoch; the sliding expiry
 *                       is judged against it)
 *   prov_provisionings  id INTEGER PRIMARY KEY, name, active_status (0/1),
 *                       owner_id REFERENCES prov_users (NULL: no owner; a
 *                       later migration)
 *   prov_catalog        (component_type 0..2, component_id) PRIMARY KEY, name:
 *                       the sensors, parameters and group parameters in one
 *                       table (views prov_sensors, prov_parameters and
 *                       prov_group_parameters show them apart)
 *   prov_components     id INTEGER PRIMARY KEY (provisioning_component_id),
 *                       provisioning_id REFERENCES prov_provisionings,
 *                       (component_type, component_id) REFERENCES prov_catalog,
 *                       active_status (0/1), last_modified_by REFERENCES
 *                       prov_users, last_modified_at (UTC seconds);
 *                       UNIQUE (provisioning_id, component_type, component_id)
 *
 * Every write is one transaction: a refused insert or update leaves nothing
 * behind, and the caller may acknowledge a write as soon as it returns 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_internal.h"

enum {
  SP_USER_UPSERT,
  SP_USER_FIND,
  SP_USER_GET,
  SP_PROV_OWNER,
  SP_USER_UPDATE_BY_NAME,
  SP_USER_NEXT_ID,
  SP_PROV_UPSERT,
  SP_CATALOG_UPSERT,
  SP_TOKEN_ADD,
  SP_TOKEN_PURGE,
  SP_TOKEN_GET,
  SP_TOKEN_TOUCH,
  SP_TOKEN_DELETE,
  SP_SELECT,
  SP_PROV_EXISTS,
  SP_CATALOG_EXISTS,
  SP_COMP_UPSERT,
  SP_COMP_BY_ID,
  SP_COMP_BY_TRIPLE,
  SP_COMP_SET_STATUS,
  SP_COUNT
};

static const char *const sp_sql[SP_COUNT] = {
    [SP_USER_UPSERT] =
        "INSERT INTO prov_users (id, username, password_hash, role)"
        " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (id) DO UPDATE SET"
        " username = excluded.username, password_hash = excluded.password_hash,"
        " role = excluded.role",
    [SP_USER_FIND] = "SELECT id, username, role, password_hash FROM prov_users"
                     " WHERE username = ?1",
    [SP_USER_GET] = "SELECT id, username, role, password_hash FROM prov_users"
                    " WHERE id = ?1",
    [SP_PROV_OWNER] = "SELECT coalesce(owner_id, -1) FROM prov_provisionings"
                      " WHERE id = ?1",
    [SP_USER_UPDATE_BY_NAME] =
        "UPDATE prov_users SET password_hash = ?2, role = ?3"
        " WHERE username = ?1 RETURNING id",
    [SP_USER_NEXT_ID] = "SELECT coalesce(max(id), 0) + 1 FROM prov_users",
    [SP_PROV_UPSERT] =
        "INSERT INTO prov_provisionings (id, name, active_status, owner_id)"
        " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (id) DO UPDATE SET"
        " name = excluded.name, active_status = excluded.active_status,"
        " owner_id = excluded.owner_id",
    [SP_CATALOG_UPSERT] =
        "INSERT INTO prov_catalog (component_type, component_id, name)"
        " VALUES (?1, ?2, ?3) ON CONFLICT (component_type, component_id)"
        " DO UPDATE SET name = excluded.name",
    [SP_TOKEN_ADD] = "INSERT INTO prov_tokens"
                     " (digest, user_id, created_at, last_used_at)"
                     " VALUES (?1, ?2, ?3, ?3)",
    [SP_TOKEN_PURGE] = "DELETE FROM prov_tokens WHERE last_used_at <= ?1",
    [SP_TOKEN_GET] = "SELECT user_id, last_used_at FROM prov_tokens"
                     " WHERE digest = ?1",
    [SP_TOKEN_TOUCH] = "UPDATE prov_tokens SET last_used_at = ?2"
                       " WHERE digest = ?1",
    [SP_TOKEN_DELETE] = "DELETE FROM prov_tokens WHERE digest = ?1"
                        " RETURNING last_used_at",
    /* One statement for every combination of filters: an absent scalar
     * filter is the whole range (so the UNIQUE index still serves a
     * provisioning_id filter), an absent list is NULL, and a present list
     * is bound as a JSON array read back by json_each(). */
    [SP_SELECT] =
        "SELECT pc.id, pc.provisioning_id, pc.component_type,"
        " pc.component_id, c.name, pc.active_status, pc.last_modified_by,"
        " pc.last_modified_at"
        " FROM prov_components pc JOIN prov_catalog c"
        " ON c.component_type = pc.component_type"
        " AND c.component_id = pc.component_id"
        " WHERE pc.provisioning_id BETWEEN ?1 AND ?2"
        " AND pc.component_type BETWEEN ?3 AND ?4"
        " AND (?5 IS NULL OR pc.id IN (SELECT value FROM json_each(?5)))"
        " AND (?6 IS NULL OR pc.component_id IN"
        "  (SELECT value FROM json_each(?6)))"
        " AND pc.active_status BETWEEN ?7 AND ?8"
        " AND (?10 IS NULL OR pc.provisioning_id IN"
        "  (SELECT id FROM prov_provisionings WHERE owner_id = ?10))"
        " ORDER BY pc.id LIMIT ?9",
    [SP_PROV_EXISTS] = "SELECT 1 FROM prov_provisionings WHERE id = ?1",
    [SP_CATALOG_EXISTS] = "SELECT 1 FROM prov_catalog"
                          " WHERE component_type = ?1 AND component_id = ?2",
    [SP_COMP_UPSERT] =
        "INSERT INTO prov_components (provisioning_id, component_type,"
        " component_id, active_status, last_modified_by, last_modified_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
        " ON CONFLICT (provisioning_id, component_type, component_id)"
        " DO UPDATE SET active_status = excluded.active_status,"
        " last_modified_by = excluded.last_modified_by,"
        " last_modified_at = excluded.last_modified_at",
    [SP_COMP_BY_ID] = "SELECT provisioning_id FROM prov_components"
                      " WHERE id = ?1",
    [SP_COMP_BY_TRIPLE] =
        "SELECT id FROM prov_components WHERE provisioning_id = ?1"
        " AND component_type = ?2 AND component_id = ?3",
    [SP_COMP_SET_STATUS] =
        "UPDATE prov_components SET active_status = ?2,"
        " last_modified_by = ?3, last_modified_at = ?4 WHERE id = ?1",
};

static sqlite3_stmt *stmt(store_db_t *s, int which) {
  return store_stmt(s, STORE_SLOTS_PROVISIONING + which, sp_sql[which]);
}

/* Constraint failures are the caller's data (a username taken by another
 * id); anything else is the store's. */
static int step_error(store_db_t *s, const char *what) {
  store_log(s->db, what);
  return (sqlite3_extended_errcode(s->db) & 0xff) == SQLITE_CONSTRAINT
             ? EC_EINVAL
             : EC_ESTORE;
}

/* Run @p st, bound already, to its end; reset it either way. */
static int run_done(store_db_t *s, sqlite3_stmt *st, const char *what) {
  int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : step_error(s, what);
  store_stmt_done(st);
  return rc;
}

/* ---- catalogs and accounts ----------------------------------------------- */

static int put_user(store_db_t *s, const ec_store_prov_user_t *u) {
  sqlite3_stmt *st = stmt(s, SP_USER_UPSERT);
  if (st == NULL) {
    return EC_ESTORE;
  }
  if (!ec__store_user_ok(u)) {
    ec_log(EC_LOG_ERROR, "store: user %lld: bad id, username, role or hash",
           (long long)u->id);
    return EC_EINVAL;
  }
  sqlite3_bind_int64(st, 1, u->id);
  sqlite3_bind_text(st, 2, u->username, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, u->password_hash, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, u->role, -1, SQLITE_STATIC);
  return run_done(s, st, "store user");
}

static int put_item(store_db_t *s, int which, int type,
                    const ec_store_prov_item_t *it) {
  sqlite3_stmt *st = stmt(s, which);
  if (st == NULL) {
    return EC_ESTORE;
  }
  if (it->id < 0 || !ec__store_text_ok(it->name) ||
      (which == SP_PROV_UPSERT &&
       (it->active_status < 0 || it->active_status > 1))) {
    ec_log(EC_LOG_ERROR, "store: catalog entry %lld: bad id, name or status",
           (long long)it->id);
    return EC_EINVAL;
  }
  if (which == SP_PROV_UPSERT) {
    sqlite3_bind_int64(st, 1, it->id);
    sqlite3_bind_text(st, 2, it->name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, it->active_status);
    if (it->has_owner)
      sqlite3_bind_int64(st, 4, it->owner_id);
    else
      sqlite3_bind_null(st, 4);
  } else {
    sqlite3_bind_int(st, 1, type);
    sqlite3_bind_int64(st, 2, it->id);
    sqlite3_bind_text(st, 3, it->name, -1, SQLITE_STATIC);
  }
  return run_done(s, st, "store catalog entry");
}

int store_sqlite_prov_import(ec_store_t *base,
                             const ec_store_prov_import_t *im) {
  store_db_t *s = (store_db_t *)base;
  if (s == NULL || im == NULL || (im->users == NULL && im->n_users > 0) ||
      (im->provisionings == NULL && im->n_provisionings > 0))
    return EC_EINVAL;
  for (int t = 0; t < EC_COMP_TYPE_COUNT; t++)
    if (im->catalog[t] == NULL && im->n_catalog[t] > 0)
      return EC_EINVAL;
  if (store_begin(s) < 0)
    return EC_ESTORE;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < im->n_users; i++)
    rc = put_user(s, &im->users[i]);
  for (size_t i = 0; rc == 0 && i < im->n_provisionings; i++)
    rc = put_item(s, SP_PROV_UPSERT, 0, &im->provisionings[i]);
  for (int t = 0; t < EC_COMP_TYPE_COUNT; t++)
    for (size_t i = 0; rc == 0 && i < im->n_catalog[t]; i++)
      rc = put_item(s, SP_CATALOG_UPSERT, t, &im->catalog[t][i]);
  if (rc == 0 && (rc = store_commit(s)) == 0)
    return 0;
  store_rollback(s);
  return rc;
}

int store_sqlite_prov_user_put(ec_store_t *base, const ec_store_prov_user_t *u,
                               int64_t *id, int *created) {
  store_db_t *s = (store_db_t *)base;
  if (s == NULL || u == NULL || !ec__store_text_ok(u->username))
    return EC_EINVAL;
  if (store_begin(s) < 0)
    return EC_ESTORE;
  int rc = EC_ESTORE;
  int64_t got = 0;
  int added = 0;
  sqlite3_stmt *st = stmt(s, SP_USER_UPDATE_BY_NAME);
  if (st == NULL)
    goto fail_txn;
  sqlite3_bind_text(st, 1, u->username, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, u->password_hash, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, u->role, -1, SQLITE_STATIC);
  int r = sqlite3_step(st);
  if (r == SQLITE_ROW) {
    got = sqlite3_column_int64(st, 0);
    r = sqlite3_step(st);
  }
  if (r != SQLITE_DONE) {
    rc = step_error(s, "update user");
    store_stmt_done(st);
    goto fail_txn;
  }
  store_stmt_done(st);

  if (got == 0) {
    ec_store_prov_user_t nu = *u;
    if (nu.id <= 0) {
      sqlite3_stmt *next = stmt(s, SP_USER_NEXT_ID);
      if (next == NULL)
        goto fail_txn;
      if (sqlite3_step(next) != SQLITE_ROW) {
        store_log(s->db, "next user id");
        store_stmt_done(next);
        goto fail_txn;
      }
      nu.id = sqlite3_column_int64(next, 0);
      store_stmt_done(next);
    }
    if ((rc = put_user(s, &nu)) < 0)
      goto fail_txn;
    got = nu.id;
    added = 1;
  }
  if ((rc = store_commit(s)) < 0)
    goto fail_txn;
  if (id)
    *id = got;
  if (created)
    *created = added;
  return 0;

fail_txn:
  store_rollback(s);
  return rc;
}

static void copy_col(sqlite3_stmt *st, int col, char *out, size_t cap) {
  const unsigned char *v = sqlite3_column_text(st, col);
  snprintf(out, cap, "%s", v ? (const char *)v : "");
}

/* The one row of a bound SP_USER_FIND or SP_USER_GET. */
static int read_user(store_db_t *s, sqlite3_stmt *st,
                     ec_store_prov_user_t *out) {
  int r = sqlite3_step(st);
  int rc = 0;
  if (r == SQLITE_ROW) {
    memset(out, 0, sizeof(*out));
    out->id = sqlite3_column_int64(st, 0);
    copy_col(st, 1, out->username, sizeof(out->username));
    copy_col(st, 2, out->role, sizeof(out->role));
    copy_col(st, 3, out->password_hash, sizeof(out->password_hash));
  } else if (r == SQLITE_DONE) {
    rc = EC_ENOTFOUND;
  } else {
    store_log(s->db, "find user");
    rc = EC_ESTORE;
  }
  store_stmt_done(st);
  return rc;
}

int store_sqlite_prov_user_find(ec_store_t *base, const char *username,
                                ec_store_prov_user_t *out) {
  store_db_t *s = (store_db_t *)base;
  if (s == NULL || username == NULL || out == NULL)
    return EC_EINVAL;
  sqlite3_stmt *st = stmt(s, SP_USER_FIND);
  if (st == NULL)
    return EC_ESTORE;
  sqlite3_bind_text(st, 1, username, -1, SQLITE_STATIC);
  return read_user(s, st, out);
}

int store_sqlite_prov_user_get(ec_store_t *base, int64_t id,
                               ec_store_prov_user_t *out) {
  store_db_t *s = (store_db_t *)base;
  if (s == NULL || out == NULL)
    return EC_EINVAL;
  sqlite3_stmt *st = stmt(s, SP_USER_GET);
  if (st == NULL)
    return EC_ESTORE;
  sqlite3_bind_int64(st, 1, id);
  return read_user(s, st, out);
}

/* ---- tokens -------------------------------------------------------------- */

int store_sqlite_prov_token_add(ec_store_t *base, const uint8_t *digest,
                                int64_t user_id, int64_t now_ms,
                                int64_t ttl_ms) {
  store_db_t *s = (store_db_t *)base;
  if (s == NULL || digest == NULL)
    return EC_EINVAL;
  sqlite3_stmt *purge = stmt(s, SP_TOKEN_PURGE);
  sqlite3_stmt *add = stmt(s, SP_TOKEN_ADD);
  if (purge == NULL || add == NULL || store_begin(s) < 0)
    return EC_ESTORE;
  /* Logging in is rare enough to sweep expired tokens here, so the table
   * holds only live ones without a timer. */
  sqlite3_bind_int64(purge, 1, now_ms - ttl_ms);
  int rc = run_done(s, purge, "purge tokens");
  if (rc == 0) {
    sqlite3_bind_blob(add, 1, digest, EC_STORE_PROV_DIGEST_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(add, 2, user_id);
    sqlite3_bind_int64(add, 3, now_ms);
    rc = run_done(s, add, "add token");
  }
  if (rc == 0 && (rc = store_commit(s)) == 0)
    return 0;
  store_rollback(s);
  return rc < 0 ? EC_ESTORE : rc;
}

int store_sqlite_prov_token_use(ec_store_t *base, const uint8_t *digest,
                                int64_t now_ms, int64_t ttl_ms,
                                int64_t touch_ms, int64_t *user_id) {
  store_db_t *s = (store_db_t *)base;
  if (s == NULL || digest == NULL || user_id == NULL)
    return EC_EINVAL;
  sqlite3_stmt *st = stmt(s, SP_TOKEN_GET);
  if (st == NULL)
    return EC_ESTORE;
  sqlite3_bind_blob(st, 1, digest, EC_STORE_PROV_DIGEST_LEN, SQLITE_STATIC);
  int r = sqlite3_step(st);
  int64_t uid = 0, last = 0;
  if (r == SQLITE_ROW) {
    uid = sqlite3_column_int64(st, 0);
    last = sqlite3_column_int64(st, 1);
  }
  store_stmt_done(st);
  if (r == SQLITE_DONE)
    return EC_ENOTFOUND;
  if (r != SQLITE_ROW) {
    store_log(s->db, "read token");
    return EC_ESTORE;
  }
  if (now_ms - last >= ttl_ms)
    return EC_ENOTFOUND;
  if (touch_ms >= 0 && now_ms - last >= touch_ms) {
    store_settle(s);
    sqlite3_stmt *t = stmt(s, SP_TOKEN_TOUCH);
    if (t == NULL)
      return EC_ESTORE;
    sqlite3_bind_blob(t, 1, digest, EC_STORE_PROV_DIGEST_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(t, 2, now_ms);
    if (run_done(s, t, "touch token") < 0)
      return EC_ESTORE;
  }
  *user_id = uid;
  return 0;
}

int store_sqlite_prov_token_delete(ec_store_t *base, const uint8_t *digest,
                                   int64_t now_ms, int64_t ttl_ms) {
  store_db_t *s = (store_db_t *)base;
  if (s == NULL || digest == NULL)
    return EC_EINVAL;
  store_settle(s);
  sqlite3_stmt *st = stmt(s, SP_TOKEN_DELETE);
  if (st == NULL)
    return EC_ESTORE;
  sqlite3_bind_blob(st, 1, digest, EC_STORE_PROV_DIGEST_LEN, SQLITE_STATIC);
  int r = sqlite3_step(st);
  int64_t last = 0;
  bool found = r == SQLITE_ROW;
  if (found) {
    last = sqlite3_column_int64(st, 0);
    r = sqlite3_step(st);
  }
  store_stmt_done(st);
  if (r != SQLITE_DONE) {
    store_log(s->db, "delete token");
    return EC_ESTORE;
  }
  /* An expired token is gone either way, but it was not logged out. */
  return found && now_ms - last < ttl_ms ? 0 : EC_ENOTFOUND;
}

/* ---- components ---------------------------------------------------------- */

/* Bind a list filter as a JSON array, or NULL when absent. @p buf is the
 * caller's and must live until the statement is reset. */
static int bind_list(sqlite3_stmt *st, int col, const ec_prov_ids_t *ids,
                     growbuf_t *buf) {
  if (!ids->present)
    return sqlite3_bind_null(st, col) == SQLITE_OK ? 0 : EC_ESTORE;
  char num[24];
  int rc = store_growbuf_append(buf, "[", 1);
  for (size_t i = 0; rc == 0 && i < ids->n; i++) {
    int n = snprintf(num, sizeof(num), "%s%lld", i ? "," : "",
                     (long long)ids->v[i]);
    rc = store_growbuf_append(buf, num, (size_t)n);
  }
  if (rc == 0)
    rc = store_growbuf_append(buf, "]", 1);
  if (rc < 0)
    return rc;
  return sqlite3_bind_text(st, col, (const char *)buf->p, (int)buf->len,
                           SQLITE_STATIC) == SQLITE_OK
             ? 0
             : EC_ESTORE;
}

static int query_row(store_db_t *s, int which, int nargs, int64_t a, int64_t b,
                     int64_t c, int64_t *out);

int store_sqlite_prov_owner(ec_store_t *base, int64_t id, int64_t *owner_id) {
  store_db_t *s = (store_db_t *)base;
  if (s == NULL || owner_id == NULL)
    return EC_EINVAL;
  int r = query_row(s, SP_PROV_OWNER, 1, id, 0, 0, owner_id);
  return r < 0 ? r : r == 0 ? EC_ENOTFOUND : 0;
}

int store_sqlite_prov_component_of(ec_store_t *base, int64_t pc_id,
                                   int64_t *provisioning_id) {
  store_db_t *s = (store_db_t *)base;
  if (s == NULL || provisioning_id == NULL)
    return EC_EINVAL;
  int r = query_row(s, SP_COMP_BY_ID, 1, pc_id, 0, 0, provisioning_id);
  return r < 0 ? r : r == 0 ? EC_ENOTFOUND : 0;
}

/*
 * The block returned by ec_store_prov_select():
 *
 *   [ ec_prov_component_t[0 .. n-1] ][ "name0\0" "name1\0" ... ]
 */
int store_sqlite_prov_select_owned(ec_store_t *base, const ec_prov_request_t *f,
                                   int64_t owner_id, ec_prov_component_t **rows,
                                   size_t *n) {
  store_db_t *s = (store_db_t *)base;
  if (s == NULL || f == NULL || rows == NULL || n == NULL ||
      (f->has_limit && f->limit < 0))
    return EC_EINVAL;
  *rows = NULL;
  *n = 0;
  sqlite3_stmt *st = stmt(s, SP_SELECT);
  if (st == NULL)
    return EC_ESTORE;
  growbuf_t pcs = {0}, cids = {0}, array = {0}, names = {0};
  int err = EC_ESTORE;
  size_t count = 0;
  sqlite3_bind_int64(st, 1, f->has_provisioning_id ? f->provisioning_id : 0);
  sqlite3_bind_int64(st, 2,
                     f->has_provisioning_id ? f->provisioning_id : INT64_MAX);
  sqlite3_bind_int(st, 3, f->has_component_type ? (int)f->component_type : 0);
  sqlite3_bind_int(st, 4,
                   f->has_component_type ? (int)f->component_type
                                         : EC_COMP_TYPE_COUNT - 1);
  sqlite3_bind_int(st, 7, f->has_active_status ? f->active_status : 0);
  sqlite3_bind_int(st, 8, f->has_active_status ? f->active_status : 1);
  sqlite3_bind_int64(st, 9, f->has_limit ? f->limit : EC_PROV_DEFAULT_LIMIT);
  if (owner_id >= 0)
    sqlite3_bind_int64(st, 10, owner_id);
  else
    sqlite3_bind_null(st, 10);
  if ((err = bind_list(st, 5, &f->provisioning_component_id, &pcs)) < 0 ||
      (err = bind_list(st, 6, &f->component_id, &cids)) < 0)
    goto fail_stmt;

  err = EC_ESTORE;
  int r;
  while ((r = sqlite3_step(st)) == SQLITE_ROW) {
    const unsigned char *name = sqlite3_column_text(st, 4);
    size_t name_len = (size_t)sqlite3_column_bytes(st, 4);
    int type = sqlite3_column_int(st, 2);
    if (name == NULL || type < 0 || type >= EC_COMP_TYPE_COUNT) {
      ec_log(EC_LOG_ERROR, "store: a corrupt provisioning component row");
      goto fail_stmt;
    }
    ec_prov_component_t c = {
        .provisioning_component_id = sqlite3_column_int64(st, 0),
        .provisioning_id = sqlite3_column_int64(st, 1),
        .component_type = (ec_comp_type_t)type,
        .component_id = sqlite3_column_int64(st, 3),
        .name = NULL, /* set once the block's address is known */
        .active_status = sqlite3_column_int(st, 5),
        .last_modified_by = sqlite3_column_int64(st, 6),
        .last_modified_s = sqlite3_column_int64(st, 7),
    };
    if (store_growbuf_append(&array, &c, sizeof(c)) != 0 ||
        store_growbuf_append(&names, name, name_len + 1) != 0) {
      err = EC_ENOMEM;
      goto fail_stmt;
    }
    count++;
  }
  if (r != SQLITE_DONE) {
    store_log(s->db, "select components");
    goto fail_stmt;
  }
  store_stmt_done(st);
  if (count > 0) {
    unsigned char *data;
    ec_prov_component_t *block = store_join_block(&array, &names, &data);
    if (block == NULL) {
      err = EC_ENOMEM;
      goto fail_bufs;
    }
    for (size_t i = 0; i < count; i++) {
      block[i].name = (const char *)data;
      data += strlen((const char *)data) + 1;
    }
    *rows = block;
    *n = count;
  }
  err = 0;
  goto fail_bufs;

fail_stmt:
  store_stmt_done(st);
fail_bufs:
  free(pcs.p);
  free(cids.p);
  free(array.p);
  free(names.p);
  return err;
}

/* One row of a one-column query bound with up to three integers: 1 when a
 * row came (its first column in *out), 0 when none, or EC_ESTORE. */
static int query_row(store_db_t *s, int which, int nargs, int64_t a, int64_t b,
                     int64_t c, int64_t *out) {
  sqlite3_stmt *st = stmt(s, which);
  if (st == NULL)
    return EC_ESTORE;
  int64_t args[3] = {a, b, c};
  for (int i = 0; i < nargs; i++)
    sqlite3_bind_int64(st, i + 1, args[i]);
  int r = sqlite3_step(st);
  if (r == SQLITE_ROW && out != NULL)
    *out = sqlite3_column_int64(st, 0);
  store_stmt_done(st);
  if (r == SQLITE_ROW)
    return 1;
  if (r == SQLITE_DONE)
    return 0;
  store_log(s->db, sp_sql[which]);
  return EC_ESTORE;
}

static int set_status(store_db_t *s, int64_t pc_id, int active, int64_t user_id,
                      int64_t now_s) {
  sqlite3_stmt *st = stmt(s, SP_COMP_SET_STATUS);
  if (st == NULL)
    return EC_ESTORE;
  sqlite3_bind_int64(st, 1, pc_id);
  sqlite3_bind_int(st, 2, active);
  sqlite3_bind_int64(st, 3, user_id);
  sqlite3_bind_int64(st, 4, now_s);
  return run_done(s, st, "update component") < 0 ? EC_ESTORE : 0;
}

static int upsert(store_db_t *s, const ec_prov_request_t *rq, int64_t cid,
                  int64_t user_id, int64_t now_s) {
  sqlite3_stmt *st = stmt(s, SP_COMP_UPSERT);
  if (st == NULL)
    return EC_ESTORE;
  sqlite3_bind_int64(st, 1, rq->provisioning_id);
  sqlite3_bind_int(st, 2, (int)rq->component_type);
  sqlite3_bind_int64(st, 3, cid);
  sqlite3_bind_int(st, 4, rq->has_active_status ? rq->active_status : 0);
  sqlite3_bind_int64(st, 5, user_id);
  sqlite3_bind_int64(st, 6, now_s);
  return run_done(s, st, "insert component") < 0 ? EC_ESTORE : 0;
}

/* Check that the request's provisioning exists; 0 when it does. */
static int need_provisioning(store_db_t *s, const ec_prov_request_t *rq,
                             ec_store_prov_outcome_t *o) {
  int r = query_row(s, SP_PROV_EXISTS, 1, rq->provisioning_id, 0, 0, NULL);
  if (r < 0)
    return r;
  if (r == 0) {
    o->no_provisioning = true;
    return EC_ESEMANTIC;
  }
  return ec__store_id_list_add(&o->provisionings, &o->n_provisionings, rq->provisioning_id);
}

int store_sqlite_prov_insert(ec_store_t *base, const ec_prov_request_t *rq,
                             int64_t user_id, int64_t now_s,
                             ec_store_prov_outcome_t *o) {
  store_db_t *s = (store_db_t *)base;
  if (store_begin(s) < 0)
    return EC_ESTORE;
  const ec_prov_ids_t *ids = &rq->component_id;
  int rc = need_provisioning(s, rq, o);
  for (size_t i = 0; rc == 0 && i < ids->n; i++) {
    int r = query_row(s, SP_CATALOG_EXISTS, 2, (int64_t)rq->component_type,
                      ids->v[i], 0, NULL);
    if (r < 0)
      rc = r;
    else if (r == 0)
      rc = ec__store_id_list_add(&o->unknown, &o->n_unknown, ids->v[i]);
  }
  if (rc == 0 && o->n_unknown > 0)
    rc = EC_ESEMANTIC;
  for (size_t i = 0; rc == 0 && i < ids->n; i++)
    rc = upsert(s, rq, ids->v[i], user_id, now_s);
  if (rc == 0 && (rc = store_commit(s)) == 0)
    return 0;
  store_rollback(s);
  /* Nothing changed, so no provisioning's observers are due a notification. */
  free(o->provisionings);
  o->provisionings = NULL;
  o->n_provisionings = 0;
  return rc;
}

int store_sqlite_prov_update(ec_store_t *base, const ec_prov_request_t *rq,
                             int64_t user_id, int64_t now_s,
                             ec_store_prov_outcome_t *o) {
  store_db_t *s = (store_db_t *)base;
  bool by_pc = rq->provisioning_component_id.present;
  const ec_prov_ids_t *ids =
      by_pc ? &rq->provisioning_component_id : &rq->component_id;
  int64_t *rows = malloc(ids->n * sizeof(*rows));
  if (rows == NULL)
    return EC_ENOMEM;
  if (store_begin(s) < 0) {
    free(rows);
    return EC_ESTORE;
  }
  /* First find every row, so that one unknown id changes nothing. */
  int rc = by_pc ? 0 : need_provisioning(s, rq, o);
  for (size_t i = 0; rc == 0 && i < ids->n; i++) {
    int64_t got = 0;
    int r = by_pc ? query_row(s, SP_COMP_BY_ID, 1, ids->v[i], 0, 0, &got)
                  : query_row(s, SP_COMP_BY_TRIPLE, 3, rq->provisioning_id,
                              (int64_t)rq->component_type, ids->v[i], &got);
    if (r < 0)
      rc = r;
    else if (r == 0)
      rc = ec__store_id_list_add(&o->unknown, &o->n_unknown, ids->v[i]);
    else if (by_pc)
      rc = ec__store_id_list_add(&o->provisionings, &o->n_provisionings, got);
    rows[i] = by_pc ? ids->v[i] : got;
  }
  if (rc == 0 && o->n_unknown > 0)
    rc = EC_ESEMANTIC;
  for (size_t i = 0; rc == 0 && i < ids->n; i++)
    rc = set_status(s, rows[i], rq->active_status, user_id, now_s);
  free(rows);
  if (rc == 0 && (rc = store_commit(s)) == 0)
    return 0;
  store_rollback(s);
  free(o->provisionings);
  o->provisionings = NULL;
  o->n_provisionings = 0;
  return rc;
}
