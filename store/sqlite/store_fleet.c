/* edgecoap store: the fleet: devices' latest states and each deployment's roll-up, kept in every status write's transaction. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgecoap/error.h"
#include "log.h"
#include "store_internal.h"

/*
 * Schema (migration 8, store.c): deployment_status gains error_code and
 * three indexes, one per way the fleet's lists are read; fleet_rollup holds
 * one row per deployment with a count per state, kept by triggers on
 * deployment_status (a new row, a change of state: migration 9), and the
 * time of its latest report, which a report that keeps its state moves
 * through store_fleet_touch() once per transaction; status_failures holds each (deployment, device)'s
 * failed components, and fleet_failures the devices per (deployment,
 * component, code), kept by triggers on status_failures. The error code
 * is written with the row (store.c); a write replaces its pair's failed
 * components, and when it has none and the pair had none (the usual case,
 * which store.c reads with the pair's row) it does nothing here.
 */

enum {
  SL_FAILED_DELETE = STORE_SLOTS_FLEET,
  SL_FAILED_INSERT,
  SL_ALL,          /* every row, by (device, deployment) */
  SL_DEVICE,       /* one device's rows */
  SL_STATE,        /* one state's rows, by (device, deployment) */
  SL_DEPLOYMENT,   /* one deployment's rows, by device */
  SL_DEP_STATE,    /* one deployment's rows in one state, by device */
  SL_ROLLUP,
  SL_FAILURES,
  SL_ROLLUPS,
  SL_TOUCH,
  SL_END
};
_Static_assert(SL_END <= STORE_SLOTS_FLEET + 16, "store_fleet.c has 16 slots");

#define COLS "device_id, deployment_id, state, error_code, updated_at"
#define ROLLUP_COLS \
  "deployment_id, pending, installing, installed, failed, removing, removed, " \
  "updated_at"

static const char *const sql[SL_END - STORE_SLOTS_FLEET] = {
    [SL_FAILED_DELETE - STORE_SLOTS_FLEET] =
        "DELETE FROM status_failures"
        " WHERE deployment_id = ?2 AND device_id = ?1",
    [SL_FAILED_INSERT - STORE_SLOTS_FLEET] =
        "INSERT INTO status_failures (deployment_id, device_id, component,"
        " code) VALUES (?2, ?1, ?3, ?4)",
    /* Row values (a, b) > (?, ?) walk the index from the cursor on. */
    [SL_ALL - STORE_SLOTS_FLEET] =
        "SELECT " COLS " FROM deployment_status"
        " WHERE (device_id, deployment_id) > (?1, ?2)"
        " ORDER BY device_id, deployment_id LIMIT ?4",
    [SL_DEVICE - STORE_SLOTS_FLEET] =
        "SELECT " COLS " FROM deployment_status"
        " WHERE device_id = ?5 AND deployment_id > ?2"
        " AND (?3 < 0 OR state = ?3) AND (?6 IS NULL OR deployment_id = ?6)"
        " ORDER BY deployment_id LIMIT ?4",
    [SL_STATE - STORE_SLOTS_FLEET] =
        "SELECT " COLS " FROM deployment_status"
        " INDEXED BY deployment_status_by_state"
        " WHERE state = ?3 AND (device_id, deployment_id) > (?1, ?2)"
        " ORDER BY device_id, deployment_id LIMIT ?4",
    [SL_DEPLOYMENT - STORE_SLOTS_FLEET] =
        "SELECT " COLS " FROM deployment_status"
        " INDEXED BY deployment_status_by_deployment"
        " WHERE deployment_id = ?6 AND device_id > ?1"
        " ORDER BY device_id LIMIT ?4",
    [SL_DEP_STATE - STORE_SLOTS_FLEET] =
        "SELECT " COLS " FROM deployment_status"
        " INDEXED BY deployment_status_by_deployment_state"
        " WHERE deployment_id = ?6 AND state = ?3 AND device_id > ?1"
        " ORDER BY device_id LIMIT ?4",
    [SL_ROLLUP - STORE_SLOTS_FLEET] =
        "SELECT " ROLLUP_COLS " FROM fleet_rollup WHERE deployment_id = ?1",
    [SL_FAILURES - STORE_SLOTS_FLEET] =
        "SELECT component, code, devices FROM fleet_failures"
        " WHERE deployment_id = ?1 ORDER BY component, code LIMIT ?2",
    [SL_ROLLUPS - STORE_SLOTS_FLEET] =
        "SELECT " ROLLUP_COLS " FROM fleet_rollup WHERE deployment_id > ?1"
        " ORDER BY deployment_id LIMIT ?2",
    [SL_TOUCH - STORE_SLOTS_FLEET] =
        "UPDATE fleet_rollup SET updated_at = ?2"
        " WHERE deployment_id = ?1 AND updated_at < ?2",
};

/* store_stmt() takes the absolute slot; this wraps it with the SQL. */
static sqlite3_stmt *prepared(store_db_t *s, int slot) {
  return store_stmt(s, slot, sql[slot - STORE_SLOTS_FLEET]);
}

static int bind_text(sqlite3_stmt *st, int i, const char *v) {
  return v != NULL ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC)
                   : sqlite3_bind_null(st, i);
}

static int run(store_db_t *s, sqlite3_stmt *st, const char *what) {
  int rc = sqlite3_step(st);
  if (rc != SQLITE_DONE)
    store_log(s->db, what);
  store_stmt_done(st);
  return rc == SQLITE_DONE ? 0 : EC_ESTORE;
}

int store_fleet_put(store_db_t *s, const ec_status_write_t *w, const char *dep,
                    bool had_failed) {
  if (!had_failed && w->n_failed == 0)
    return 0; /* none before, none now: nothing to replace */
  sqlite3_stmt *del = prepared(s, SL_FAILED_DELETE);
  sqlite3_stmt *ins = prepared(s, SL_FAILED_INSERT);
  if (del == NULL || ins == NULL)
    return EC_ESTORE;
  if (had_failed) {
    if (bind_text(del, 1, w->device_id) != SQLITE_OK ||
        bind_text(del, 2, dep) != SQLITE_OK) {
      store_stmt_done(del);
      store_log(s->db, "bind failed components");
      return EC_ESTORE;
    }
    if (run(s, del, "replace failed components") != 0)
      return EC_ESTORE;
  }
  for (size_t i = 0; i < w->n_failed; i++) {
    const ec_fleet_failure_t *f = &w->failed[i];
    if (f->component == NULL ||
        bind_text(ins, 1, w->device_id) != SQLITE_OK ||
        bind_text(ins, 2, dep) != SQLITE_OK ||
        bind_text(ins, 3, f->component) != SQLITE_OK ||
        bind_text(ins, 4, f->code != NULL ? f->code : "") != SQLITE_OK) {
      store_stmt_done(ins);
      store_log(s->db, "bind a failed component");
      return EC_ESTORE;
    }
    if (run(s, ins, "store a failed component") != 0)
      return EC_ESTORE;
  }
  return 0;
}


/* Move @p dep's roll-up time to @p at_ms, if later. */
static int touch_now(store_db_t *s, const char *dep, int64_t at_ms) {
  sqlite3_stmt *st = prepared(s, SL_TOUCH);
  if (st == NULL)
    return EC_ESTORE;
  if (sqlite3_bind_text(st, 1, dep, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_int64(st, 2, at_ms) != SQLITE_OK) {
    store_stmt_done(st);
    store_log(s->db, "bind roll-up time");
    return EC_ESTORE;
  }
  return run(s, st, "move a roll-up's time");
}

int store_fleet_touch(store_db_t *s, const char *dep, int64_t at_ms) {
  unsigned i = 0;
  while (i < s->n_touched && strcmp(s->touched[i].dep, dep) != 0)
    i++;
  if (i == s->n_touched) {
    if (i == STORE_TOUCHED_MAX)
      return touch_now(s, dep, at_ms);
    snprintf(s->touched[i].dep, sizeof(s->touched[i].dep), "%s", dep);
    s->touched[i].at_ms = 0;
    s->n_touched++;
  }
  if (at_ms > s->touched[i].at_ms)
    s->touched[i].at_ms = at_ms;
  return 0;
}

int store_fleet_flush(store_db_t *s) {
  unsigned n = s->n_touched;
  s->n_touched = 0;
  for (unsigned i = 0; i < n; i++)
    if (s->touched[i].at_ms > 0 &&
        touch_now(s, s->touched[i].dep, s->touched[i].at_ms) != 0)
      return EC_ESTORE;
  return 0;
}

/* ---- reads ---------------------------------------------------------------- */

static int clamp_limit(int limit) {
  if (limit <= 0)
    return EC_STORE_FLEET_DEFAULT;
  return limit > EC_STORE_FLEET_MAX ? EC_STORE_FLEET_MAX : limit;
}

static bool id_or_null(const char *id) {
  return id == NULL || store_id_ok(id);
}

/* The statement for @p q, bound; its deployment ids lowercased into the
 * caller's buffers. NULL when it cannot be prepared or bound (logged). */
static sqlite3_stmt *devices_stmt(store_db_t *s,
                                  const ec_store_fleet_query_t *q, int limit,
                                  char *dep, char *after_dep) {
  int slot = q->device_id != NULL ? SL_DEVICE
             : q->deployment_id != NULL
                 ? (q->state >= 0 ? SL_DEP_STATE : SL_DEPLOYMENT)
             : q->state >= 0 ? SL_STATE
                             : SL_ALL;
  sqlite3_stmt *st = prepared(s, slot);
  if (st == NULL)
    return NULL;
  dep[0] = after_dep[0] = '\0';
  if (q->deployment_id != NULL)
    store_lower_id(q->deployment_id, dep);
  if (q->after_deployment != NULL && q->deployment_id == NULL)
    store_lower_id(q->after_deployment, after_dep);
  /* Every stored id is longer than "", so "" starts at the first. Each
   * statement names only the parameters it uses. */
  int top = sqlite3_bind_parameter_count(st);
  if (sqlite3_bind_text(st, 1, q->after_device ? q->after_device : "", -1,
                        SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_text(st, 2, after_dep, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_int(st, 3, q->state) != SQLITE_OK ||
      sqlite3_bind_int(st, 4, limit + 1) != SQLITE_OK ||
      (top >= 5 && bind_text(st, 5, q->device_id) != SQLITE_OK) ||
      (top >= 6 &&
       bind_text(st, 6, q->deployment_id ? dep : NULL) != SQLITE_OK)) {
    store_log(s->db, "bind fleet devices");
    store_stmt_done(st);
    return NULL;
  }
  return st;
}

/* A sentinel in a row's error_code until the block's strings are placed. */
static const char has_error[] = "";

/* A row past @p limit came: it says more follow (*more, may be NULL). */
static bool page_full(const store_rows_t *r, int limit, bool *more) {
  if (r->count < (size_t)limit)
    return false;
  if (more != NULL)
    *more = true;
  return true;
}

/* One device row (COLS) into @p r: 0, EC_ENOMEM or EC_ESTORE. */
static int add_device(store_rows_t *r, sqlite3_stmt *st) {
  const unsigned char *dev = sqlite3_column_text(st, 0);
  const unsigned char *dp = sqlite3_column_text(st, 1);
  const unsigned char *ec = sqlite3_column_text(st, 3);
  int state = sqlite3_column_int(st, 2);
  if (dev == NULL || dp == NULL || state < 0 || state >= EC_STATE_COUNT) {
    ec_log(EC_LOG_ERROR, "store: a corrupt deployment_status row");
    return EC_ESTORE;
  }
  ec_fleet_device_t d = {NULL, NULL, (ec_state_t)state,
                         ec != NULL ? has_error : NULL,
                         sqlite3_column_int64(st, 4)};
  if (store_growbuf_append(&r->array, &d, sizeof(d)) != 0 ||
      store_add_str(&r->strs, dev) != 0 || store_add_str(&r->strs, dp) != 0 ||
      (ec != NULL && store_add_str(&r->strs, ec) != 0))
    return EC_ENOMEM;
  r->count++;
  return 0;
}

int store_sqlite_fleet_devices(ec_store_t *base,
                               const ec_store_fleet_query_t *q,
                               size_t max_bytes, ec_fleet_device_t **list,
                               size_t *n, bool *more) {
  store_db_t *s = (store_db_t *)base;
  if (more != NULL)
    *more = false;
  if (s == NULL || q == NULL || list == NULL || n == NULL ||
      !id_or_null(q->device_id) || !id_or_null(q->deployment_id) ||
      !id_or_null(q->after_deployment) ||
      (q->after_device != NULL && strlen(q->after_device) > EC_STORE_MAX_ID_LEN) ||
      q->state < -1 || q->state >= EC_STATE_COUNT)
    return EC_EINVAL;
  *list = NULL;
  *n = 0;
  int limit = clamp_limit(q->limit);
  char dep[EC_STORE_MAX_ID_LEN + 1], after_dep[EC_STORE_MAX_ID_LEN + 1];
  sqlite3_stmt *st = devices_stmt(s, q, limit, dep, after_dep);
  if (st == NULL)
    return EC_ESTORE;

  store_rows_t r = {0};
  int err = 0, rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW && !page_full(&r, limit, more)) {
    if ((err = add_device(&r, st)) < 0)
      break;
    /* An entry's answer is its strings and about 90 bytes more. */
    if (max_bytes > 0 && r.strs.len + 90 * r.count >= max_bytes) {
      rc = store_page_cut(st, more);
      break;
    }
  }
  unsigned char *data;
  void *out;
  err =
      store_rows_finish(s, st, rc, err, &r, "read fleet devices", &out, &data);
  if (out == NULL)
    return err;
  ec_fleet_device_t *block = out;
  for (size_t i = 0; i < r.count; i++) {
    block[i].device_id = store_next_str(&data);
    block[i].deployment_id = store_next_str(&data);
    if (block[i].error_code != NULL)
      block[i].error_code = store_next_str(&data);
  }
  *list = block;
  *n = r.count;
  return 0;
}

/* One fleet_rollup row (ROLLUP_COLS) into @p r, its id left NULL. */
static bool read_rollup(sqlite3_stmt *st, ec_fleet_rollup_t *r) {
  memset(r, 0, sizeof(*r));
  for (int i = 0; i < EC_STATE_COUNT; i++)
    r->counts[i] = sqlite3_column_int64(st, 1 + i);
  r->updated_at_ms = sqlite3_column_int64(st, 1 + EC_STATE_COUNT);
  return sqlite3_column_text(st, 0) != NULL;
}

/* Bind text @p a (and, unless @p b_int is < 0, integer @p b_int) to @p st;
 * false when it failed (logged, @p st reset). */
static bool bind2(store_db_t *s, sqlite3_stmt *st, const char *a, int b_int) {
  if (sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC) == SQLITE_OK &&
      (b_int < 0 || sqlite3_bind_int(st, 2, b_int) == SQLITE_OK))
    return true;
  store_log(s->db, "bind a fleet read");
  store_stmt_done(st);
  return false;
}

int store_sqlite_fleet_rollup(ec_store_t *base, const char *deployment_id,
                              ec_fleet_rollup_t *out, void **block) {
  store_db_t *s = (store_db_t *)base;
  if (block != NULL)
    *block = NULL;
  if (s == NULL || !store_id_ok(deployment_id) || out == NULL || block == NULL)
    return EC_EINVAL;
  char dep[EC_STORE_MAX_ID_LEN + 1];
  store_lower_id(deployment_id, dep);
  sqlite3_stmt *ru = prepared(s, SL_ROLLUP);
  sqlite3_stmt *fa = prepared(s, SL_FAILURES);
  if (ru == NULL || fa == NULL || !bind2(s, ru, dep, -1))
    return EC_ESTORE;
  int rc = sqlite3_step(ru);
  if (rc == SQLITE_DONE) {
    store_stmt_done(ru);
    return EC_ENOTFOUND;
  }
  bool ok = rc == SQLITE_ROW && read_rollup(ru, out);
  if (store_read_end(s, ru, ok ? SQLITE_DONE : rc, "read roll-up") < 0 || !ok)
    return EC_ESTORE;

  store_rows_t r = {0};
  int err = store_add_str(&r.strs, (const unsigned char *)dep);
  if (err == 0 && !bind2(s, fa, dep, EC_STORE_FLEET_MAX_FAILURES))
    err = EC_ESTORE;
  while (err == 0 && (rc = sqlite3_step(fa)) == SQLITE_ROW) {
    const unsigned char *c = sqlite3_column_text(fa, 0);
    const unsigned char *code = sqlite3_column_text(fa, 1);
    ec_fleet_failure_t f = {NULL, NULL, sqlite3_column_int64(fa, 2)};
    if (c == NULL || code == NULL)
      err = EC_ESTORE;
    else if (store_growbuf_append(&r.array, &f, sizeof(f)) != 0 ||
             store_add_str(&r.strs, c) != 0 ||
             store_add_str(&r.strs, code) != 0)
      err = EC_ENOMEM;
    else
      r.count++;
  }
  if (err == 0)
    err = store_read_end(s, fa, rc, "read failures");
  else
    store_stmt_done(fa);
  unsigned char *data;
  ec_fleet_failure_t *fails = err == 0 ? store_rows_join(&r, &data) : NULL;
  if (err < 0) {
    free(r.array.p);
    free(r.strs.p);
    return err;
  }
  if (fails == NULL)
    return EC_ENOMEM;
  out->deployment_id = store_next_str(&data);
  for (size_t i = 0; i < r.count; i++) {
    fails[i].component = store_next_str(&data);
    fails[i].code = store_next_str(&data);
  }
  out->failures = r.count > 0 ? fails : NULL;
  out->n_failures = r.count;
  *block = fails;
  return 0;
}

int store_sqlite_fleet_rollups(ec_store_t *base, const char *after, int limit,
                               ec_fleet_rollup_t **list, size_t *n,
                               bool *more) {
  store_db_t *s = (store_db_t *)base;
  if (more != NULL)
    *more = false;
  if (s == NULL || list == NULL || n == NULL || !id_or_null(after))
    return EC_EINVAL;
  *list = NULL;
  *n = 0;
  limit = clamp_limit(limit);
  char low[EC_STORE_MAX_ID_LEN + 1] = "";
  if (after != NULL)
    store_lower_id(after, low);
  sqlite3_stmt *st = prepared(s, SL_ROLLUPS);
  if (st == NULL || !bind2(s, st, low, limit + 1))
    return EC_ESTORE;
  store_rows_t r = {0};
  int err = 0, rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW && !page_full(&r, limit, more)) {
    ec_fleet_rollup_t x;
    if (!read_rollup(st, &x)) {
      err = EC_ESTORE;
      break;
    }
    if (store_growbuf_append(&r.array, &x, sizeof(x)) != 0 ||
        store_add_str(&r.strs, sqlite3_column_text(st, 0)) != 0) {
      err = EC_ENOMEM;
      break;
    }
    r.count++;
  }
  unsigned char *data;
  void *out;
  err = store_rows_finish(s, st, rc, err, &r, "read roll-ups", &out, &data);
  if (out == NULL)
    return err;
  ec_fleet_rollup_t *block = out;
  for (size_t i = 0; i < r.count; i++)
    block[i].deployment_id = store_next_str(&data);
  *list = block;
  *n = r.count;
  return 0;
}

int ec_store_fleet_plan(ec_store_t *base, const ec_store_fleet_query_t *q,
                        char *out, size_t cap) {
  store_db_t *s = store_db_of(base);
  if (s == NULL || out == NULL || cap == 0)
    return EC_EINVAL;
  const char *text;
  char dep[EC_STORE_MAX_ID_LEN + 1], after_dep[EC_STORE_MAX_ID_LEN + 1];
  if (q == NULL) {
    text = sql[SL_FAILURES - STORE_SLOTS_FLEET];
  } else {
    sqlite3_stmt *st = devices_stmt(s, q, 1, dep, after_dep);
    if (st == NULL)
      return EC_ESTORE;
    text = sqlite3_sql(st);
    store_stmt_done(st);
  }
  char explain[1024];
  snprintf(explain, sizeof(explain), "EXPLAIN QUERY PLAN %s", text);
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db, explain, -1, &st, NULL) != SQLITE_OK) {
    store_log(s->db, "explain");
    return EC_ESTORE;
  }
  size_t len = 0;
  out[0] = '\0';
  while (sqlite3_step(st) == SQLITE_ROW) {
    const char *d = (const char *)sqlite3_column_text(st, 3);
    int k = snprintf(out + len, cap - len, "%s%s", len > 0 ? "; " : "",
                     d != NULL ? d : "");
    if (k < 0 || (size_t)k >= cap - len)
      break;
    len += (size_t)k;
  }
  sqlite3_finalize(st);
  return 0;
}
