/* edgecoap: the PostgreSQL store's fleet reads: devices' latest states and each deployment's roll-up. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgecoap/error.h"
#include "log.h"
#include "pg_internal.h"

/*
 * The roll-ups are rows kept by triggers in every status write's
 * transaction (store.c's schema); these reads only look them up, each
 * from an index as SQLite's do.
 */

#define COLS \
  "device_id, deployment_id, state::int8, error_code, updated_at::int8"
#define ROLLUP_COLS                                                        \
  "deployment_id, pending::int8, installing::int8, installed::int8, "      \
  "failed::int8, removing::int8, removed::int8, updated_at::int8"

/* Parameters of every devices read, typed so that a read may leave some
 * unused: $1 after_device, $2 after_deployment, $3 state, $4 limit + 1,
 * $5 device_id, $6 deployment_id. */
static const Oid devices_types[6] = {25, 25, 23, 20, 25, 25};

static const char *devices_sql(const ec_store_fleet_query_t *q) {
  if (q->device_id != NULL)
    return "SELECT " COLS " FROM deployment_status"
           " WHERE device_id = $5 AND deployment_id > $2"
           " AND ($3 < 0 OR state = $3) AND ($6 IS NULL OR deployment_id = $6)"
           " ORDER BY deployment_id LIMIT $4";
  if (q->deployment_id != NULL && q->state >= 0)
    return "SELECT " COLS " FROM deployment_status"
           " WHERE deployment_id = $6 AND state = $3 AND device_id > $1"
           " ORDER BY device_id LIMIT $4";
  if (q->deployment_id != NULL)
    return "SELECT " COLS " FROM deployment_status"
           " WHERE deployment_id = $6 AND device_id > $1"
           " ORDER BY device_id LIMIT $4";
  if (q->state >= 0)
    return "SELECT " COLS " FROM deployment_status"
           " WHERE state = $3 AND (device_id, deployment_id) > ($1, $2)"
           " ORDER BY device_id, deployment_id LIMIT $4";
  return "SELECT " COLS " FROM deployment_status"
         " WHERE (device_id, deployment_id) > ($1, $2)"
         " ORDER BY device_id, deployment_id LIMIT $4";
}

static int clamp_limit(int limit) {
  if (limit <= 0)
    return EC_STORE_FLEET_DEFAULT;
  return limit > EC_STORE_FLEET_MAX ? EC_STORE_FLEET_MAX : limit;
}

static bool id_or_null(const char *id) {
  return id == NULL || ec__store_id_ok(id);
}

/* The length of text column @p col of @p row plus its NUL. */
static size_t str_len(const PGresult *res, int row, int col) {
  return (size_t)PQgetlength(res, row, col) + 1;
}

/* Copy text column @p col of @p row to *p and move past it. */
static const char *put_str(char **p, const PGresult *res, int row, int col) {
  size_t len = (size_t)PQgetlength(res, row, col);
  char *d = memcpy(*p, PQgetvalue(res, row, col), len);
  d[len] = '\0';
  *p += len + 1;
  return d;
}

int store_pg_fleet_devices(ec_store_t *base, const ec_store_fleet_query_t *q,
                           size_t max_bytes, ec_fleet_device_t **list,
                           size_t *n, bool *more) {
  pg_store_t *s = (pg_store_t *)base;
  if (more != NULL)
    *more = false;
  if (q == NULL || list == NULL || n == NULL || !id_or_null(q->device_id) ||
      !id_or_null(q->deployment_id) || !id_or_null(q->after_deployment) ||
      (q->after_device != NULL &&
       strlen(q->after_device) > EC_STORE_MAX_ID_LEN) ||
      q->state < -1 || q->state >= EC_STATE_COUNT)
    return EC_EINVAL;
  *list = NULL;
  *n = 0;
  int limit = clamp_limit(q->limit);
  char dep[EC_STORE_MAX_ID_LEN + 1] = "", after_dep[EC_STORE_MAX_ID_LEN + 1] = "";
  if (q->deployment_id != NULL)
    ec__store_lower_id(q->deployment_id, dep);
  if (q->after_deployment != NULL && q->deployment_id == NULL)
    ec__store_lower_id(q->after_deployment, after_dep);
  char state[16], lim[16];
  snprintf(state, sizeof(state), "%d", q->state);
  snprintf(lim, sizeof(lim), "%d", limit + 1);
  /* Every stored id is longer than "", so "" starts at the first. */
  const char *v[6] = {q->after_device != NULL ? q->after_device : "",
                      after_dep, state, lim, q->device_id,
                      q->deployment_id != NULL ? dep : NULL};
  pg_conn_check(s);
  PGresult *res = PQexecParams(s->conn, devices_sql(q), 6, devices_types, v,
                               NULL, NULL, 1);
  if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
    pg_log(s, res, "read fleet devices");
    PQclear(res);
    return EC_ESTORE;
  }
  size_t rows = (size_t)PQntuples(res), count = 0, strs = 0;
  while (count < rows && count < (size_t)limit) {
    int r = (int)count;
    int64_t st = pg_i64(res, r, 2);
    if (st < 0 || st >= EC_STATE_COUNT) {
      ec_log(EC_LOG_ERROR, "store: a corrupt deployment_status row");
      PQclear(res);
      return EC_ESTORE;
    }
    strs += str_len(res, r, 0) + str_len(res, r, 1) +
            (PQgetisnull(res, r, 3) ? 0 : str_len(res, r, 3));
    count++;
    /* An entry's answer is its strings and about 90 bytes more. */
    if (max_bytes > 0 && strs + 90 * count >= max_bytes)
      break;
  }
  if (more != NULL && count < rows)
    *more = true;
  if (count == 0) {
    PQclear(res);
    return 0;
  }
  ec_fleet_device_t *block = malloc(count * sizeof(*block) + strs);
  if (block == NULL) {
    PQclear(res);
    return EC_ENOMEM;
  }
  char *p = (char *)(block + count);
  for (size_t i = 0; i < count; i++) {
    int r = (int)i;
    block[i].device_id = put_str(&p, res, r, 0);
    block[i].deployment_id = put_str(&p, res, r, 1);
    block[i].state = (ec_state_t)pg_i64(res, r, 2);
    block[i].error_code =
        PQgetisnull(res, r, 3) ? NULL : put_str(&p, res, r, 3);
    block[i].updated_at_ms = pg_i64(res, r, 4);
  }
  PQclear(res);
  *list = block;
  *n = count;
  return 0;
}

/* Row @p r of a ROLLUP_COLS result into @p x, its id left NULL. */
static void read_rollup(const PGresult *res, int r, ec_fleet_rollup_t *x) {
  memset(x, 0, sizeof(*x));
  for (int i = 0; i < EC_STATE_COUNT; i++)
    x->counts[i] = pg_i64(res, r, 1 + i);
  x->updated_at_ms = pg_i64(res, r, 1 + EC_STATE_COUNT);
}

int store_pg_fleet_rollup(ec_store_t *base, const char *deployment_id,
                          ec_fleet_rollup_t *out, void **block) {
  pg_store_t *s = (pg_store_t *)base;
  if (block != NULL)
    *block = NULL;
  if (!ec__store_id_ok(deployment_id) || out == NULL || block == NULL)
    return EC_EINVAL;
  char dep[EC_STORE_MAX_ID_LEN + 1], cap[16];
  ec__store_lower_id(deployment_id, dep);
  snprintf(cap, sizeof(cap), "%d", EC_STORE_FLEET_MAX_FAILURES);
  const char *v[] = {dep, cap};
  PGresult *ru = pg_run(s,
                        "SELECT " ROLLUP_COLS " FROM fleet_rollup"
                        " WHERE deployment_id = $1",
                        1, v, NULL, NULL, PGRES_TUPLES_OK, "read roll-up");
  if (ru == NULL)
    return EC_ESTORE;
  if (PQntuples(ru) != 1) {
    PQclear(ru);
    return EC_ENOTFOUND;
  }
  read_rollup(ru, 0, out);
  PQclear(ru);
  PGresult *fa = pg_run(s,
                        "SELECT component, code, devices::int8"
                        " FROM fleet_failures WHERE deployment_id = $1"
                        " ORDER BY component, code LIMIT $2::int8",
                        2, v, NULL, NULL, PGRES_TUPLES_OK, "read failures");
  if (fa == NULL)
    return EC_ESTORE;
  size_t count = (size_t)PQntuples(fa), strs = strlen(dep) + 1;
  for (size_t i = 0; i < count; i++)
    strs += str_len(fa, (int)i, 0) + str_len(fa, (int)i, 1);
  ec_fleet_failure_t *fails = malloc(count * sizeof(*fails) + strs);
  if (fails == NULL) {
    PQclear(fa);
    return EC_ENOMEM;
  }
  char *p = (char *)(fails + count);
  out->deployment_id = memcpy(p, dep, strlen(dep) + 1);
  p += strlen(dep) + 1;
  for (size_t i = 0; i < count; i++) {
    fails[i].component = put_str(&p, fa, (int)i, 0);
    fails[i].code = put_str(&p, fa, (int)i, 1);
    fails[i].devices = pg_i64(fa, (int)i, 2);
  }
  PQclear(fa);
  out->failures = count > 0 ? fails : NULL;
  out->n_failures = count;
  *block = fails;
  return 0;
}

int store_pg_fleet_rollups(ec_store_t *base, const char *after, int limit,
                           ec_fleet_rollup_t **list, size_t *n, bool *more) {
  pg_store_t *s = (pg_store_t *)base;
  if (more != NULL)
    *more = false;
  if (list == NULL || n == NULL || !id_or_null(after))
    return EC_EINVAL;
  *list = NULL;
  *n = 0;
  limit = clamp_limit(limit);
  char low[EC_STORE_MAX_ID_LEN + 1] = "", lim[16];
  if (after != NULL)
    ec__store_lower_id(after, low);
  snprintf(lim, sizeof(lim), "%d", limit + 1);
  const char *v[] = {low, lim};
  PGresult *res = pg_run(s,
                         "SELECT " ROLLUP_COLS " FROM fleet_rollup"
                         " WHERE deployment_id > $1 ORDER BY deployment_id"
                         " LIMIT $2::int8",
                         2, v, NULL, NULL, PGRES_TUPLES_OK, "read roll-ups");
  if (res == NULL)
    return EC_ESTORE;
  size_t rows = (size_t)PQntuples(res);
  size_t count = rows < (size_t)limit ? rows : (size_t)limit, strs = 0;
  if (more != NULL && count < rows)
    *more = true;
  for (size_t i = 0; i < count; i++)
    strs += str_len(res, (int)i, 0);
  if (count == 0) {
    PQclear(res);
    return 0;
  }
  ec_fleet_rollup_t *block = malloc(count * sizeof(*block) + strs);
  if (block == NULL) {
    PQclear(res);
    return EC_ENOMEM;
  }
  char *p = (char *)(block + count);
  for (size_t i = 0; i < count; i++) {
    read_rollup(res, (int)i, &block[i]);
    block[i].deployment_id = put_str(&p, res, (int)i, 0);
  }
  PQclear(res);
  *list = block;
  *n = count;
  return 0;
}
