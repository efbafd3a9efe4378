/* edgecoap store: listing and removing provisioning accounts (admin user-list, user-remove), and their failed logins. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "store_internal.h"

/*
 * Used by the offline admin commands only, so the statements are prepared
 * per call rather than kept in the store's slots. A removal is one
 * transaction: the account's tokens go (its sessions end at their next
 * request, as tokens are looked up in the table each time), it owns no
 * provisioning any more, and its row goes, unless components name it as
 * their last modifier: then the row stays for that history, with a password
 * nobody knows and the role "removed", which no rule grants anything.
 */

int store_sqlite_prov_user_each(ec_store_t *base,
                                int (*fn)(void *ud,
                                          const ec_store_prov_user_t *u),
                                void *ud) {
  store_db_t *s = (store_db_t *)base;
  sqlite3_stmt *st = NULL;
  if (s == NULL || fn == NULL)
    return EC_EINVAL;
  if (sqlite3_prepare_v2(s->db,
                         "SELECT id, username, role FROM prov_users ORDER BY id",
                         -1, &st, NULL) != SQLITE_OK) {
    store_log(s->db, "list users");
    return EC_ESTORE;
  }
  int r, rc = 0;
  ec_store_prov_user_t u;
  while (rc == 0 && (r = sqlite3_step(st)) == SQLITE_ROW) {
    memset(&u, 0, sizeof(u));
    u.id = sqlite3_column_int64(st, 0);
    const unsigned char *name = sqlite3_column_text(st, 1);
    const unsigned char *role = sqlite3_column_text(st, 2);
    snprintf(u.username, sizeof(u.username), "%s",
             name ? (const char *)name : "");
    snprintf(u.role, sizeof(u.role), "%s", role ? (const char *)role : "");
    rc = fn(ud, &u);
  }
  if (rc == 0 && r != SQLITE_DONE) {
    store_log(s->db, "list users");
    rc = EC_ESTORE;
  }
  sqlite3_finalize(st);
  return rc;
}

/* Run @p sql with @p id bound to ?1. */
static int exec_id(store_db_t *s, const char *sql, int64_t id, void *unused) {
  (void)unused;
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_int64(st, 1, id);
  if (rc == SQLITE_OK)
    rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
    store_log(s->db, "remove user");
    return EC_ESTORE;
  }
  return 0;
}

int store_sqlite_prov_user_remove(ec_store_t *base, const char *username,
                                  const char *unknown_hash, bool *kept) {
  store_db_t *s = (store_db_t *)base;
  ec_store_prov_user_t u;
  int rc;

  if (s == NULL || username == NULL || unknown_hash == NULL || kept == NULL)
    return EC_EINVAL;
  *kept = false;
  store_settle(s);
  if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
    store_log(s->db, "remove user");
    return EC_ESTORE;
  }
  rc = store_sqlite_prov_user_find(&s->base, username, &u);
  if (rc < 0)
    goto fail;
  rc = exec_id(s, "DELETE FROM prov_tokens WHERE user_id = ?1", u.id, NULL);
  if (rc == 0)
    rc = exec_id(s, "UPDATE prov_provisionings SET owner_id = NULL"
                    " WHERE owner_id = ?1", u.id, NULL);
  if (rc < 0)
    goto fail;
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db,
                         "SELECT EXISTS (SELECT 1 FROM prov_components"
                         " WHERE last_modified_by = ?1)",
                         -1, &st, NULL) != SQLITE_OK ||
      sqlite3_bind_int64(st, 1, u.id) != SQLITE_OK ||
      sqlite3_step(st) != SQLITE_ROW) {
    sqlite3_finalize(st);
    store_log(s->db, "remove user");
    rc = EC_ESTORE;
    goto fail;
  }
  *kept = sqlite3_column_int(st, 0) != 0;
  sqlite3_finalize(st);
  if (*kept) {
    if (sqlite3_prepare_v2(s->db,
                           "UPDATE prov_users SET password_hash = ?2,"
                           " role = 'removed' WHERE id = ?1",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_int64(st, 1, u.id) != SQLITE_OK ||
        sqlite3_bind_text(st, 2, unknown_hash, -1, SQLITE_STATIC) !=
            SQLITE_OK ||
        sqlite3_step(st) != SQLITE_DONE) {
      sqlite3_finalize(st);
      store_log(s->db, "remove user");
      rc = EC_ESTORE;
      goto fail;
    }
    sqlite3_finalize(st);
  } else {
    rc = exec_id(s, "DELETE FROM prov_users WHERE id = ?1", u.id, NULL);
    if (rc < 0)
      goto fail;
  }
  if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
    store_log(s->db, "remove user");
    rc = EC_ESTORE;
    goto fail;
  }
  return 0;

fail:
  (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

/* ---- failed logins -------------------------------------------------------- */

/*
 * One row per username with failures in a live window: a window that ended
 * (window_start <= now - window) starts again with the next failure, and
 * each failure sweeps the ended ones, so the table holds only live windows
 * (a flood of unknown usernames is bounded by the per-address limits).
 */

int store_sqlite_login_failed(ec_store_t *base, const char *username,
                              int64_t now_ms, int64_t window_ms,
                              int64_t *count) {
  store_db_t *s = (store_db_t *)base;
  if (store_begin(s) != 0)
    return EC_ESTORE;
  sqlite3_stmt *purge = NULL, *st = NULL;
  int rc = EC_ESTORE;
  int64_t n = 0;
  if (sqlite3_prepare_v2(s->db,
                         "DELETE FROM login_failures"
                         " WHERE window_start <= ?1 - ?2",
                         -1, &purge, NULL) == SQLITE_OK &&
      sqlite3_bind_int64(purge, 1, now_ms) == SQLITE_OK &&
      sqlite3_bind_int64(purge, 2, window_ms) == SQLITE_OK &&
      sqlite3_step(purge) == SQLITE_DONE &&
      sqlite3_prepare_v2(
          s->db,
          "INSERT INTO login_failures (username, window_start, count)"
          " VALUES (?1, ?2, 1) ON CONFLICT (username) DO UPDATE SET"
          " count = count + 1 RETURNING count",
          -1, &st, NULL) == SQLITE_OK &&
      sqlite3_bind_text(st, 1, username, -1, SQLITE_STATIC) == SQLITE_OK &&
      sqlite3_bind_int64(st, 2, now_ms) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW) {
    n = sqlite3_column_int64(st, 0);
    rc = 0;
  } else {
    store_log(s->db, "count a failed login");
  }
  sqlite3_finalize(purge);
  sqlite3_finalize(st);
  if (rc == 0 && (rc = store_commit(s)) == 0) {
    if (count != NULL)
      *count = n;
    return 0;
  }
  store_rollback(s);
  return EC_ESTORE;
}

int store_sqlite_login_failures(ec_store_t *base, const char *username,
                                int64_t now_ms, int64_t window_ms,
                                int64_t *count) {
  store_db_t *s = (store_db_t *)base;
  sqlite3_stmt *st = NULL;
  int r = SQLITE_ERROR;
  if (sqlite3_prepare_v2(s->db,
                         "SELECT count FROM login_failures WHERE username = ?1"
                         " AND window_start > ?2 - ?3",
                         -1, &st, NULL) == SQLITE_OK &&
      sqlite3_bind_text(st, 1, username, -1, SQLITE_STATIC) == SQLITE_OK &&
      sqlite3_bind_int64(st, 2, now_ms) == SQLITE_OK &&
      sqlite3_bind_int64(st, 3, window_ms) == SQLITE_OK)
    r = sqlite3_step(st);
  *count = r == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
  sqlite3_finalize(st);
  if (r != SQLITE_ROW && r != SQLITE_DONE) {
    store_log(s->db, "read failed logins");
    return EC_ESTORE;
  }
  return 0;
}
