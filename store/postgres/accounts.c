/* edgecoap: the PostgreSQL store of provisioning accounts, their session tokens and the DTLS PSK identities. */
/* SPDX-License-Identifier: Apache-2.0 */

/*
 * Schema (migration 3 in store.c): prov_users, prov_tokens and devices as
 * SQLite's (store/sqlite/store_provisioning.c, store_users.c,
 * store_devices.c), with the same rules: an account's password is an
 * Argon2id string (a CHECK refuses anything else), a token is kept only as
 * its SHA-256 digest and expires by its last use, a removed account whose
 * name components still carry stays with the role "removed" and a password
 * nobody knows, and a device's key is stored as it is (DTLS PSK needs the
 * key itself), protected by the database's own access rules. Every write
 * is one transaction on the reads' connection (s->conn), after the queued
 * writes (pg_settle), so writes commit in the order they were made. Every
 * node reads the same rows: a token made on one node is used on another,
 * and a logout holds on all of them at once. The servers keep the
 * identities in memory (server/coap/identities.c), so that a handshake
 * never waits on PostgreSQL: a trigger on devices (migration 5) sends the
 * hint "D<length>:<identity>" with each change, which conn.c hands to the
 * listener as EC_STORE_CHANGE_DEVICE.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgecoap/error.h"
#include "log.h"
#include "pg_internal.h"

int pg_query(pg_store_t *s, const char *sql, int n, const char *const *vals,
             const int *lens, const int *fmts, PGresult **out,
             const char *what) {
  pg_conn_check(s);
  PGresult *res = PQexecParams(s->conn, sql, n, NULL, vals, lens, fmts, 1);
  ExecStatusType st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
    if (out != NULL)
      *out = res;
    else
      PQclear(res);
    return 0;
  }
  const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE)
                                  : NULL;
  /* Class 23, integrity constraint violations, is the caller's data (a
   * taken name, an unknown reference); anything else is the store's. */
  int rc = state != NULL && strncmp(state, "23", 2) == 0 ? EC_EINVAL
                                                         : EC_ESTORE;
  if (rc == EC_EINVAL) {
    const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    ec_log(EC_LOG_INFO, "store: %s: refused: %s", what, m != NULL ? m : "");
  } else {
    pg_log(s, res, what);
  }
  PQclear(res);
  if (out != NULL)
    *out = NULL;
  return rc;
}

int pg_begin(pg_store_t *s) {
  pg_settle(s);
  /* One write's transaction, as SQLite's (pg_commit counts it). */
  s->txn_writes = 1;
  return pg_exec(s, "BEGIN", "BEGIN");
}

int pg_end(pg_store_t *s, int rc) {
  if (rc == 0 && (rc = pg_commit(s)) == 0)
    return 0;
  pg_rollback(s);
  return rc;
}

void pg_text(const PGresult *res, int row, int col, char *out, size_t cap) {
  snprintf(out, cap, "%.*s", PQgetlength(res, row, col),
           PQgetvalue(res, row, col));
}

/* ------------------------------------------------------------------------ */
/* Accounts                                                                 */
/* ------------------------------------------------------------------------ */

int pg_user_put_row(pg_store_t *s, const ec_store_prov_user_t *u) {
  if (!ec__store_user_ok(u)) {
    ec_log(EC_LOG_ERROR, "store: user %lld: bad id, username, role or hash",
           (long long)u->id);
    return EC_EINVAL;
  }
  char id[24];
  snprintf(id, sizeof(id), "%lld", (long long)u->id);
  const char *v[] = {id, u->username, u->password_hash, u->role};
  return pg_query(s,
                  "INSERT INTO prov_users (id, username, password_hash, role)"
                  " VALUES ($1::int8, $2, $3, $4) ON CONFLICT (id) DO UPDATE"
                  " SET username = excluded.username,"
                  " password_hash = excluded.password_hash,"
                  " role = excluded.role",
                  4, v, NULL, NULL, NULL, "store user");
}

int store_pg_prov_user_put(ec_store_t *base, const ec_store_prov_user_t *u,
                           int64_t *id, int *created) {
  pg_store_t *s = (pg_store_t *)base;
  if (u == NULL || !ec__store_text_ok(u->username))
    return EC_EINVAL;
  if (pg_begin(s) != 0)
    return EC_ESTORE;
  PGresult *res = NULL;
  const char *v[] = {u->username, u->password_hash, u->role};
  int rc = pg_query(s,
                    "UPDATE prov_users SET password_hash = $2, role = $3"
                    " WHERE username = $1 RETURNING id::int8",
                    3, v, NULL, NULL, &res, "update user");
  int64_t got = 0;
  int added = 0;
  if (rc == 0 && PQntuples(res) == 1)
    got = pg_i64(res, 0, 0);
  PQclear(res);
  if (rc == 0 && got == 0) {
    ec_store_prov_user_t nu = *u;
    if (nu.id <= 0) {
      /* The table's lock makes two nodes adding at once pick apart. */
      rc = pg_query(s, "LOCK TABLE prov_users IN SHARE ROW EXCLUSIVE MODE", 0,
                    NULL, NULL, NULL, NULL, "lock users");
      if (rc == 0)
        rc = pg_query(s,
                      "SELECT (coalesce(max(id), 0) + 1)::int8 FROM prov_users",
                      0, NULL, NULL, NULL, &res, "next user id");
      if (rc == 0)
        nu.id = pg_i64(res, 0, 0);
      PQclear(res);
    }
    if (rc == 0)
      rc = pg_user_put_row(s, &nu);
    got = nu.id;
    added = 1;
  }
  if ((rc = pg_end(s, rc)) != 0)
    return rc;
  if (id)
    *id = got;
  if (created)
    *created = added;
  return 0;
}

/* The one row of a user query (id, username, role, password_hash). */
static int read_user(PGresult *res, ec_store_prov_user_t *out) {
  if (PQntuples(res) != 1)
    return EC_ENOTFOUND;
  memset(out, 0, sizeof(*out));
  out->id = pg_i64(res, 0, 0);
  pg_text(res, 0, 1, out->username, sizeof(out->username));
  pg_text(res, 0, 2, out->role, sizeof(out->role));
  pg_text(res, 0, 3, out->password_hash, sizeof(out->password_hash));
  return 0;
}

/* The account the one-parameter query @p sql names, into @p out. */
static int user_by(pg_store_t *s, const char *sql, const char *arg,
                   ec_store_prov_user_t *out) {
  PGresult *res = NULL;
  const char *v[] = {arg};
  int rc = pg_query(s, sql, 1, v, NULL, NULL, &res, "find user");
  if (rc == 0)
    rc = read_user(res, out);
  PQclear(res);
  return rc < 0 && rc != EC_ENOTFOUND ? EC_ESTORE : rc;
}

int store_pg_prov_user_find(ec_store_t *base, const char *username,
                            ec_store_prov_user_t *out) {
  if (username == NULL || out == NULL)
    return EC_EINVAL;
  return user_by((pg_store_t *)base,
                 "SELECT id::int8, username, role, password_hash"
                 " FROM prov_users WHERE username = $1",
                 username, out);
}

int store_pg_prov_user_get(ec_store_t *base, int64_t id,
                           ec_store_prov_user_t *out) {
  if (out == NULL)
    return EC_EINVAL;
  char idt[24];
  snprintf(idt, sizeof(idt), "%lld", (long long)id);
  return user_by((pg_store_t *)base,
                 "SELECT id::int8, username, role, password_hash"
                 " FROM prov_users WHERE id = $1::int8",
                 idt, out);
}

int store_pg_prov_user_each(ec_store_t *base,
                            int (*fn)(void *ud, const ec_store_prov_user_t *u),
                            void *ud) {
  pg_store_t *s = (pg_store_t *)base;
  if (fn == NULL)
    return EC_EINVAL;
  PGresult *res = NULL;
  if (pg_query(s, "SELECT id::int8, username, role FROM prov_users ORDER BY id",
               0, NULL, NULL, NULL, &res, "list users") != 0)
    return EC_ESTORE;
  int rc = 0;
  ec_store_prov_user_t u;
  for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
    memset(&u, 0, sizeof(u));
    u.id = pg_i64(res, i, 0);
    pg_text(res, i, 1, u.username, sizeof(u.username));
    pg_text(res, i, 2, u.role, sizeof(u.role));
    rc = fn(ud, &u);
  }
  PQclear(res);
  return rc;
}

int store_pg_prov_user_remove(ec_store_t *base, const char *username,
                              const char *unknown_hash, bool *kept) {
  pg_store_t *s = (pg_store_t *)base;
  if (username == NULL || unknown_hash == NULL || kept == NULL)
    return EC_EINVAL;
  *kept = false;
  if (pg_begin(s) != 0)
    return EC_ESTORE;
  ec_store_prov_user_t u;
  int rc = store_pg_prov_user_find(base, username, &u);
  char id[24];
  snprintf(id, sizeof(id), "%lld", (long long)u.id);
  const char *v[] = {id, unknown_hash};
  /* Its sessions end at their next request (tokens are looked up each
   * time), it owns no provisioning, and its row goes unless components
   * name it as their last modifier. */
  if (rc == 0)
    rc = pg_query(s, "DELETE FROM prov_tokens WHERE user_id = $1::int8", 1, v,
                  NULL, NULL, NULL, "remove user");
  if (rc == 0)
    rc = pg_query(s,
                  "UPDATE prov_provisionings SET owner_id = NULL"
                  " WHERE owner_id = $1::int8",
                  1, v, NULL, NULL, NULL, "remove user");
  PGresult *res = NULL;
  if (rc == 0)
    rc = pg_query(s,
                  "SELECT EXISTS (SELECT 1 FROM prov_components"
                  " WHERE last_modified_by = $1::int8)::int::int8",
                  1, v, NULL, NULL, &res, "remove user");
  if (rc == 0)
    *kept = pg_i64(res, 0, 0) != 0;
  PQclear(res);
  if (rc == 0)
    rc = *kept ? pg_query(s,
                          "UPDATE prov_users SET password_hash = $2,"
                          " role = 'removed' WHERE id = $1::int8",
                          2, v, NULL, NULL, NULL, "remove user")
               : pg_query(s, "DELETE FROM prov_users WHERE id = $1::int8", 1,
                          v, NULL, NULL, NULL, "remove user");
  rc = pg_end(s, rc);
  return rc == EC_ENOTFOUND || rc == 0 ? rc : EC_ESTORE;
}

/* ------------------------------------------------------------------------ */
/* Tokens                                                                   */
/* ------------------------------------------------------------------------ */

int store_pg_prov_token_add(ec_store_t *base, const uint8_t *digest,
                            int64_t user_id, int64_t now_ms, int64_t ttl_ms) {
  pg_store_t *s = (pg_store_t *)base;
  if (digest == NULL)
    return EC_EINVAL;
  char uid[24], now[24], old[24];
  snprintf(uid, sizeof(uid), "%lld", (long long)user_id);
  snprintf(now, sizeof(now), "%lld", (long long)now_ms);
  snprintf(old, sizeof(old), "%lld", (long long)(now_ms - ttl_ms));
  if (pg_begin(s) != 0)
    return EC_ESTORE;
  /* Logging in is rare enough to sweep expired tokens here, so the table
   * holds only live ones without a timer. */
  const char *pv[] = {old};
  int rc = pg_query(s, "DELETE FROM prov_tokens WHERE last_used_at <= $1::int8",
                    1, pv, NULL, NULL, NULL, "purge tokens");
  const char *v[] = {(const char *)digest, uid, now};
  const int l[] = {EC_STORE_PROV_DIGEST_LEN, 0, 0};
  const int f[] = {1, 0, 0};
  if (rc == 0)
    rc = pg_query(s,
                  "INSERT INTO prov_tokens (digest, user_id, created_at,"
                  " last_used_at) VALUES ($1, $2::int8, $3::int8, $3::int8)",
                  3, v, l, f, NULL, "add token");
  return pg_end(s, rc) == 0 ? 0 : EC_ESTORE;
}

int store_pg_prov_token_use(ec_store_t *base, const uint8_t *digest,
                            int64_t now_ms, int64_t ttl_ms, int64_t touch_ms,
                            int64_t *user_id) {
  pg_store_t *s = (pg_store_t *)base;
  if (digest == NULL || user_id == NULL)
    return EC_EINVAL;
  const char *v[] = {(const char *)digest, NULL};
  const int l[] = {EC_STORE_PROV_DIGEST_LEN, 0};
  const int f[] = {1, 0};
  PGresult *res = NULL;
  if (pg_query(s,
               "SELECT user_id::int8, last_used_at::int8 FROM prov_tokens"
               " WHERE digest = $1",
               1, v, l, f, &res, "read token") != 0)
    return EC_ESTORE;
  bool found = PQntuples(res) == 1;
  int64_t uid = found ? pg_i64(res, 0, 0) : 0;
  int64_t last = found ? pg_i64(res, 0, 1) : 0;
  PQclear(res);
  if (!found || now_ms - last >= ttl_ms)
    return EC_ENOTFOUND;
  if (touch_ms >= 0 && now_ms - last >= touch_ms) {
    char now[24];
    snprintf(now, sizeof(now), "%lld", (long long)now_ms);
    v[1] = now;
    pg_settle(s);
    /* greatest(): another node may have touched it later meanwhile. */
    if (pg_query(s,
                 "UPDATE prov_tokens SET last_used_at ="
                 " greatest(last_used_at, $2::int8) WHERE digest = $1",
                 2, v, l, f, NULL, "touch token") != 0)
      return EC_ESTORE;
  }
  *user_id = uid;
  return 0;
}

int store_pg_prov_token_delete(ec_store_t *base, const uint8_t *digest,
                               int64_t now_ms, int64_t ttl_ms) {
  pg_store_t *s = (pg_store_t *)base;
  if (digest == NULL)
    return EC_EINVAL;
  const char *v[] = {(const char *)digest};
  const int l[] = {EC_STORE_PROV_DIGEST_LEN};
  const int f[] = {1};
  PGresult *res = NULL;
  pg_settle(s);
  if (pg_query(s,
               "DELETE FROM prov_tokens WHERE digest = $1"
               " RETURNING last_used_at::int8",
               1, v, l, f, &res, "delete token") != 0)
    return EC_ESTORE;
  bool found = PQntuples(res) == 1;
  int64_t last = found ? pg_i64(res, 0, 0) : 0;
  PQclear(res);
  /* An expired token is gone either way, but it was not logged out. */
  return found && now_ms - last < ttl_ms ? 0 : EC_ENOTFOUND;
}

/* ------------------------------------------------------------------------ */
/* Failed logins                                                            */
/* ------------------------------------------------------------------------ */

/* As SQLite's (store/sqlite/store_users.c): one row per username with a
 * live window, the ended ones swept by each failure. The upsert takes the
 * row's lock, so failures counted by two nodes at once both count. */
int store_pg_login_failed(ec_store_t *base, const char *username,
                          int64_t now_ms, int64_t window_ms, int64_t *count) {
  pg_store_t *s = (pg_store_t *)base;
  char now[24], win[24];
  snprintf(now, sizeof(now), "%lld", (long long)now_ms);
  snprintf(win, sizeof(win), "%lld", (long long)window_ms);
  const char *v[] = {now, win, username};
  if (pg_begin(s) != 0)
    return EC_ESTORE;
  PGresult *res = NULL;
  int rc = pg_query(s,
                    "DELETE FROM login_failures"
                    " WHERE window_start <= $1::int8 - $2::int8",
                    2, v, NULL, NULL, NULL, "count a failed login");
  const char *iv[] = {username, now};
  if (rc == 0)
    rc = pg_query(s,
                  "INSERT INTO login_failures AS f (username, window_start,"
                  " count) VALUES ($1, $2::int8, 1) ON CONFLICT (username)"
                  " DO UPDATE SET count = f.count + 1 RETURNING count::int8",
                  2, iv, NULL, NULL, &res, "count a failed login");
  int64_t n = rc == 0 && PQntuples(res) == 1 ? pg_i64(res, 0, 0) : 0;
  PQclear(res);
  if (pg_end(s, rc) != 0)
    return EC_ESTORE;
  if (count != NULL)
    *count = n;
  return 0;
}

int store_pg_login_failures(ec_store_t *base, const char *username,
                            int64_t now_ms, int64_t window_ms,
                            int64_t *count) {
  pg_store_t *s = (pg_store_t *)base;
  char now[24], win[24];
  snprintf(now, sizeof(now), "%lld", (long long)now_ms);
  snprintf(win, sizeof(win), "%lld", (long long)window_ms);
  const char *v[] = {now, win, username};
  PGresult *res = NULL;
  if (pg_query(s,
               "SELECT count::int8 FROM login_failures WHERE username = $3"
               " AND window_start > $1::int8 - $2::int8",
               3, v, NULL, NULL, &res, "read failed logins") != 0)
    return EC_ESTORE;
  *count = PQntuples(res) == 1 ? pg_i64(res, 0, 0) : 0;
  PQclear(res);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* DTLS PSK identities                                                      */
/* ------------------------------------------------------------------------ */

/* Row @p i of (id, identity, role, created_at[, psk]). */
static int read_device(const PGresult *res, int i, bool with_key,
                       ec_store_device_t *out) {
  memset(out, 0, sizeof(*out));
  int len = PQgetlength(res, i, 1);
  const char *role = PQgetvalue(res, i, 2);
  if (len <= 0 || len > EC_STORE_DEVICE_ID_MAX)
    return EC_ESTORE;
  if (strcmp(role, "operator") == 0)
    out->role = EC_DEVICE_ROLE_OPERATOR;
  else if (strcmp(role, "device") == 0)
    out->role = EC_DEVICE_ROLE_DEVICE;
  else
    return EC_ESTORE;
  out->id = pg_i64(res, i, 0);
  memcpy(out->identity, PQgetvalue(res, i, 1), (size_t)len);
  out->created_at_ms = pg_i64(res, i, 3);
  if (with_key) {
    int klen = PQgetlength(res, i, 4);
    if (klen < EC_STORE_DEVICE_KEY_MIN || klen > EC_STORE_DEVICE_KEY_MAX)
      return EC_ESTORE;
    memcpy(out->key, PQgetvalue(res, i, 4), (size_t)klen);
    out->key_len = (size_t)klen;
  }
  return 0;
}

int store_pg_device_add(ec_store_t *base, const ec_store_device_t *d,
                        int64_t *id) {
  pg_store_t *s = (pg_store_t *)base;
  if (!ec__store_device_ok(d))
    return EC_EINVAL;
  char at[24];
  snprintf(at, sizeof(at), "%lld", (long long)d->created_at_ms);
  const char *v[] = {d->identity, ec_store_device_role_name(d->role),
                     (const char *)d->key, at};
  const int l[] = {0, 0, (int)d->key_len, 0};
  const int f[] = {0, 0, 1, 0};
  PGresult *res = NULL;
  pg_settle(s);
  /* A taken identity is the caller's mistake (EC_EINVAL), anything else
   * ours. */
  int rc = pg_query(s,
                    "INSERT INTO devices (identity, role, psk, created_at)"
                    " VALUES ($1, $2, $3, $4::int8) RETURNING id::int8",
                    4, v, l, f, &res, "add device");
  if (rc == 0 && id != NULL)
    *id = pg_i64(res, 0, 0);
  PQclear(res);
  return rc;
}

int store_pg_device_find(ec_store_t *base, const uint8_t *identity,
                         size_t len, ec_store_device_t *out) {
  pg_store_t *s = (pg_store_t *)base;
  if (identity == NULL || out == NULL)
    return EC_EINVAL;
  /* Identities come from the network here: refuse what no row can match
   * before it reaches PostgreSQL. */
  if (len == 0 || len > EC_STORE_DEVICE_ID_MAX)
    return EC_ENOTFOUND;
  char name[EC_STORE_DEVICE_ID_MAX + 1];
  memcpy(name, identity, len);
  name[len] = '\0';
  /* A NUL inside cannot be in a text column: no such row. */
  if (strlen(name) != len)
    return EC_ENOTFOUND;
  const char *v[] = {name};
  PGresult *res = NULL;
  if (pg_query(s,
               "SELECT id::int8, identity, role, created_at::int8, psk"
               " FROM devices WHERE identity = $1",
               1, v, NULL, NULL, &res, "find device") != 0)
    return EC_ESTORE;
  int rc = PQntuples(res) != 1 ? EC_ENOTFOUND : read_device(res, 0, true, out);
  PQclear(res);
  if (rc == EC_ESTORE)
    ec_log(EC_LOG_ERROR, "store: a devices row does not read back");
  return rc;
}

int store_pg_device_remove(ec_store_t *base, const char *identity) {
  pg_store_t *s = (pg_store_t *)base;
  if (!ec__store_identity_ok(identity))
    return EC_EINVAL;
  const char *v[] = {identity};
  PGresult *res = NULL;
  pg_settle(s);
  if (pg_query(s, "DELETE FROM devices WHERE identity = $1", 1, v, NULL, NULL,
               &res, "remove device") != 0)
    return EC_ESTORE;
  int rc = strcmp(PQcmdTuples(res), "0") == 0 ? EC_ENOTFOUND : 0;
  PQclear(res);
  return rc;
}

int store_pg_device_each(ec_store_t *base, bool with_keys,
                         int (*fn)(void *ud, const ec_store_device_t *d),
                         void *ud) {
  pg_store_t *s = (pg_store_t *)base;
  if (fn == NULL)
    return EC_EINVAL;
  PGresult *res = NULL;
  if (pg_query(s,
               with_keys ? "SELECT id::int8, identity, role, created_at::int8,"
                           " psk FROM devices ORDER BY identity"
                         : "SELECT id::int8, identity, role, created_at::int8"
                           " FROM devices ORDER BY identity",
               0, NULL, NULL, NULL, &res, "list devices") != 0)
    return EC_ESTORE;
  int rc = 0;
  ec_store_device_t d;
  for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
    rc = read_device(res, i, with_keys, &d);
    if (rc == 0)
      rc = fn(ud, &d);
  }
  explicit_bzero(&d, sizeof(d));
  PQclear(res);
  return rc;
}

int store_pg_device_count(ec_store_t *base, int64_t *n) {
  pg_store_t *s = (pg_store_t *)base;
  if (n == NULL)
    return EC_EINVAL;
  PGresult *res = NULL;
  if (pg_query(s, "SELECT count(*)::int8 FROM devices", 0, NULL, NULL, NULL,
               &res, "count devices") != 0)
    return EC_ESTORE;
  *n = pg_i64(res, 0, 0);
  PQclear(res);
  return 0;
}
