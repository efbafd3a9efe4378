/* edgecoap: the PostgreSQL store of provisionings, their catalogs and
 * components. */
/* SPDX-License-Identifier: Apache-2.0 */

/*
 * Schema (migration 3 in store.c): prov_provisionings, prov_catalog (with
 * the views prov_sensors, prov_parameters and prov_group_parameters) and
 * prov_components as SQLite's (store/sqlite/store_provisioning.c), with
 * the same rules: every write is one transaction, and a refused insert or
 * update (no such provisioning, an id not in the catalog or naming no row)
 * leaves nothing behind. The rows a write names are locked (FOR UPDATE)
 * as they are looked up, so two nodes changing one provisioning at once
 * serialise on its rows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgecoap/error.h"
#include "log.h"
#include "pg_internal.h"

/* ---- import -------------------------------------------------------------- */

static char *id_list(const ec_prov_ids_t *ids, bool *oom);

static int put_provisioning(pg_store_t *s, const ec_store_prov_item_t *it) {
  if (it->id < 0 || !ec__store_text_ok(it->name) || it->active_status < 0 ||
      it->active_status > 1) {
    ec_log(EC_LOG_ERROR, "store: provisioning %lld: bad id, name or status",
           (long long)it->id);
    return EC_EINVAL;
  }
  char id[24], st[8], owner[24];
  snprintf(id, sizeof(id), "%lld", (long long)it->id);
  snprintf(st, sizeof(st), "%d", it->active_status);
  snprintf(owner, sizeof(owner), "%lld", (long long)it->owner_id);
  const char *v[] = {id, it->name, st, it->has_owner ? owner : NULL};
  return pg_query(s,
                  "INSERT INTO prov_provisionings (id, name, active_status,"
                  " owner_id) VALUES ($1::int8, $2, $3::int, $4::int8)"
                  " ON CONFLICT (id) DO UPDATE SET name = excluded.name,"
                  " active_status = excluded.active_status,"
                  " owner_id = excluded.owner_id",
                  4, v, NULL, NULL, NULL, "store provisioning");
}

static int put_catalog(pg_store_t *s, int type,
                       const ec_store_prov_item_t *it) {
  if (it->id < 0 || !ec__store_text_ok(it->name)) {
    ec_log(EC_LOG_ERROR, "store: catalog entry %lld: bad id or name",
           (long long)it->id);
    return EC_EINVAL;
  }
  char id[24], t[8];
  snprintf(id, sizeof(id), "%lld", (long long)it->id);
  snprintf(t, sizeof(t), "%d", type);
  const char *v[] = {t, id, it->name};
  return pg_query(s,
                  "INSERT INTO prov_catalog (component_type, component_id,"
                  " name) VALUES ($1::int, $2::int8, $3)"
                  " ON CONFLICT (component_type, component_id)"
                  " DO UPDATE SET name = excluded.name",
                  3, v, NULL, NULL, NULL, "store catalog entry");
}

/* The provisionings whose select answers the rows @p im wrote may change
 * (their own, and those with components of the catalog entries written,
 * whose names a select reads) become one NOTIFY in the import's
 * transaction, so that the observers on the running servers hear of an
 * import as of a write of components; accounts are in no answer. */
static int notify_import(pg_store_t *s, const ec_store_prov_import_t *im) {
  size_t np = im->n_provisionings, nc = 0;
  for (int t = 0; t < EC_COMP_TYPE_COUNT; t++)
    nc += im->n_catalog[t];
  if (np == 0 && nc == 0)
    return 0;
  int64_t *v = malloc((np + 2 * nc) * sizeof(*v));
  if (v == NULL)
    return EC_ENOMEM;
  for (size_t i = 0; i < np; i++)
    v[i] = im->provisionings[i].id;
  size_t k = 0;
  for (int t = 0; t < EC_COMP_TYPE_COUNT; t++)
    for (size_t i = 0; i < im->n_catalog[t]; i++, k++) {
      v[np + k] = t;
      v[np + nc + k] = im->catalog[t][i].id;
    }
  bool oom = false;
  char *a[3] = {id_list(&(ec_prov_ids_t){v, np, true, true}, &oom),
                id_list(&(ec_prov_ids_t){v + np, nc, true, true}, &oom),
                id_list(&(ec_prov_ids_t){v + np + nc, nc, true, true}, &oom)};
  free(v);
  PGresult *res = NULL;
  int rc = oom ? EC_ENOMEM
               : pg_query(s,
                          "SELECT id::int8 FROM unnest($1::int8[]) AS id"
                          " UNION SELECT pc.provisioning_id::int8"
                          " FROM prov_components pc"
                          " JOIN unnest($2::int[], $3::int8[]) AS k (t, id)"
                          " ON pc.component_type = k.t"
                          " AND pc.component_id = k.id",
                          3, (const char *const *)a, NULL, NULL, &res,
                          "read the provisionings imported");
  for (int i = 0; i < 3; i++)
    free(a[i]);
  if (rc != 0)
    return rc;
  int n = PQntuples(res);
  int64_t *ids = malloc((size_t)(n > 0 ? n : 1) * sizeof(*ids));
  if (ids == NULL) {
    PQclear(res);
    return EC_ENOMEM;
  }
  for (int i = 0; i < n; i++)
    ids[i] = pg_i64(res, i, 0);
  PQclear(res);
  rc = pg_notify_provisionings(s, ids, (size_t)n);
  free(ids);
  return rc;
}

int store_pg_prov_import(ec_store_t *base, const ec_store_prov_import_t *im) {
  pg_store_t *s = (pg_store_t *)base;
  if (im == NULL || (im->users == NULL && im->n_users > 0) ||
      (im->provisionings == NULL && im->n_provisionings > 0))
    return EC_EINVAL;
  for (int t = 0; t < EC_COMP_TYPE_COUNT; t++)
    if (im->catalog[t] == NULL && im->n_catalog[t] > 0)
      return EC_EINVAL;
  if (pg_begin(s) != 0)
    return EC_ESTORE;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < im->n_users; i++)
    rc = pg_user_put_row(s, &im->users[i]);
  for (size_t i = 0; rc == 0 && i < im->n_provisionings; i++)
    rc = put_provisioning(s, &im->provisionings[i]);
  for (int t = 0; t < EC_COMP_TYPE_COUNT; t++)
    for (size_t i = 0; rc == 0 && i < im->n_catalog[t]; i++)
      rc = put_catalog(s, t, &im->catalog[t][i]);
  if (rc == 0)
    rc = notify_import(s, im);
  return pg_end(s, rc);
}

/* ---- one-value lookups -----------------------------------------------------
 */

/* The first column of the one row @p sql gives for up to three integers:
 * 1 (in *out, may be NULL), 0 when no row, or < 0. */
/* The first column of the one row @p sql gives for @p nargs (up to six)
 * integers: 1 (in *out, may be NULL), 0 when no row, or < 0. */
static int query_row(pg_store_t *s, const char *sql, int nargs,
                     const int64_t *args, int64_t *out) {
  char t[6][24];
  const char *v[6] = {t[0], t[1], t[2], t[3], t[4], t[5]};
  for (int i = 0; i < nargs && i < 6; i++)
    snprintf(t[i], sizeof(t[i]), "%lld", (long long)args[i]);
  PGresult *res = NULL;
  int rc = pg_query(s, sql, nargs, v, NULL, NULL, &res, "read provisioning");
  if (rc != 0)
    return EC_ESTORE;
  int r = PQntuples(res) > 0 ? 1 : 0;
  if (r == 1 && out != NULL)
    *out = pg_i64(res, 0, 0);
  PQclear(res);
  return r;
}

int store_pg_prov_owner(ec_store_t *base, int64_t id, int64_t *owner_id) {
  pg_store_t *s = (pg_store_t *)base;
  if (owner_id == NULL)
    return EC_EINVAL;
  int r = query_row(s,
                    "SELECT coalesce(owner_id, -1)::int8 FROM"
                    " prov_provisionings WHERE id = $1::int8",
                    1, (const int64_t[]){id, 0, 0}, owner_id);
  return r < 0 ? r : r == 0 ? EC_ENOTFOUND : 0;
}

int store_pg_prov_component_of(ec_store_t *base, int64_t pc_id,
                               int64_t *provisioning_id) {
  pg_store_t *s = (pg_store_t *)base;
  if (provisioning_id == NULL)
    return EC_EINVAL;
  int r = query_row(s,
                    "SELECT provisioning_id::int8 FROM prov_components"
                    " WHERE id = $1::int8",
                    1, (const int64_t[]){pc_id, 0, 0}, provisioning_id);
  return r < 0 ? r : r == 0 ? EC_ENOTFOUND : 0;
}

/* ---- select -------------------------------------------------------------- */

/* A list filter as an int8[] literal ("{1,2}"), or NULL when absent;
 * malloc'd (free() it). *oom set when it could not be made. */
static char *id_list(const ec_prov_ids_t *ids, bool *oom) {
  if (!ids->present)
    return NULL;
  char *p = malloc(ids->n * 21 + 3);
  if (p == NULL) {
    *oom = true;
    return NULL;
  }
  size_t len = 0;
  p[len++] = '{';
  for (size_t i = 0; i < ids->n; i++)
    len +=
        (size_t)sprintf(p + len, "%s%lld", i ? "," : "", (long long)ids->v[i]);
  p[len++] = '}';
  p[len] = '\0';
  return p;
}

/* The select's statement: its parameters are pg_prov_select_params()'. */
const char pg_prov_select_sql[] =
    "SELECT pc.id::int8, pc.provisioning_id::int8,"
    " pc.component_type::int8, pc.component_id::int8, c.name,"
    " pc.active_status::int8, pc.last_modified_by::int8,"
    " pc.last_modified_at::int8"
    " FROM prov_components pc JOIN prov_catalog c"
    " ON c.component_type = pc.component_type"
    " AND c.component_id = pc.component_id"
    " WHERE ($1::int8 IS NULL OR pc.provisioning_id = $1::int8)"
    " AND ($2::int IS NULL OR pc.component_type = $2::int)"
    " AND ($3::int8[] IS NULL OR pc.id = ANY ($3::int8[]))"
    " AND ($4::int8[] IS NULL OR pc.component_id = ANY ($4::int8[]))"
    " AND ($5::int IS NULL OR pc.active_status = $5::int)"
    " AND ($7::int8 IS NULL OR pc.provisioning_id IN"
    "  (SELECT id FROM prov_provisionings WHERE owner_id = $7::int8))"
    " ORDER BY pc.id LIMIT $6::int8";

int pg_prov_select_params(const ec_prov_request_t *f, int64_t owner_id,
                          char *v[PG_PROV_SELECT_NPARAMS]) {
  char num[5][24];
  snprintf(num[0], sizeof(num[0]), "%lld", (long long)f->provisioning_id);
  snprintf(num[1], sizeof(num[1]), "%d", (int)f->component_type);
  snprintf(num[2], sizeof(num[2]), "%d", f->active_status);
  snprintf(num[3], sizeof(num[3]), "%lld",
           (long long)(f->has_limit ? f->limit : EC_PROV_DEFAULT_LIMIT));
  snprintf(num[4], sizeof(num[4]), "%lld", (long long)owner_id);
  bool oom = false;
  v[0] = f->has_provisioning_id ? strdup(num[0]) : NULL;
  v[1] = f->has_component_type ? strdup(num[1]) : NULL;
  v[2] = id_list(&f->provisioning_component_id, &oom);
  v[3] = id_list(&f->component_id, &oom);
  v[4] = f->has_active_status ? strdup(num[2]) : NULL;
  v[5] = strdup(num[3]);
  v[6] = owner_id >= 0 ? strdup(num[4]) : NULL;
  oom = oom || (f->has_provisioning_id && v[0] == NULL) ||
        (f->has_component_type && v[1] == NULL) ||
        (f->has_active_status && v[4] == NULL) || v[5] == NULL ||
        (owner_id >= 0 && v[6] == NULL);
  if (!oom)
    return 0;
  for (int i = 0; i < PG_PROV_SELECT_NPARAMS; i++) {
    free(v[i]);
    v[i] = NULL;
  }
  return EC_ENOMEM;
}

/*
 * The block returned by ec_store_prov_select():
 *
 *   [ ec_prov_component_t[0 .. n-1] ][ "name0\0" "name1\0" ... ]
 */
int pg_prov_rows(const PGresult *res, ec_prov_component_t **rows, size_t *n) {
  *rows = NULL;
  *n = 0;
  size_t count = (size_t)PQntuples(res), names = 0;
  for (size_t i = 0; i < count; i++) {
    int64_t t = pg_i64(res, (int)i, 2);
    if (t < 0 || t >= EC_COMP_TYPE_COUNT) {
      ec_log(EC_LOG_ERROR, "store: a corrupt provisioning component row");
      return EC_ESTORE;
    }
    names += (size_t)PQgetlength(res, (int)i, 4) + 1;
  }
  if (count == 0)
    return 0;
  ec_prov_component_t *block = malloc(count * sizeof(*block) + names);
  if (block == NULL)
    return EC_ENOMEM;
  char *data = (char *)(block + count);
  for (size_t i = 0; i < count; i++) {
    int r = (int)i;
    size_t len = (size_t)PQgetlength(res, r, 4);
    memcpy(data, PQgetvalue(res, r, 4), len);
    data[len] = '\0';
    block[i] = (ec_prov_component_t){
        .provisioning_component_id = pg_i64(res, r, 0),
        .provisioning_id = pg_i64(res, r, 1),
        .component_type = (ec_comp_type_t)pg_i64(res, r, 2),
        .component_id = pg_i64(res, r, 3),
        .name = data,
        .active_status = (int)pg_i64(res, r, 5),
        .last_modified_by = pg_i64(res, r, 6),
        .last_modified_s = pg_i64(res, r, 7),
    };
    data += len + 1;
  }
  *rows = block;
  *n = count;
  return 0;
}

int store_pg_prov_select_owned(ec_store_t *base, const ec_prov_request_t *f,
                               int64_t owner_id, ec_prov_component_t **rows,
                               size_t *n) {
  pg_store_t *s = (pg_store_t *)base;
  if (f == NULL || rows == NULL || n == NULL || (f->has_limit && f->limit < 0))
    return EC_EINVAL;
  *rows = NULL;
  *n = 0;
  char *v[PG_PROV_SELECT_NPARAMS];
  int rc = pg_prov_select_params(f, owner_id, v);
  if (rc != 0)
    return rc;
  PGresult *res = NULL;
  rc = pg_query(s, pg_prov_select_sql, PG_PROV_SELECT_NPARAMS,
                (const char *const *)v, NULL, NULL, &res,
                "select components");
  for (int i = 0; i < PG_PROV_SELECT_NPARAMS; i++)
    free(v[i]);
  if (rc != 0)
    return EC_ESTORE;
  rc = pg_prov_rows(res, rows, n);
  PQclear(res);
  return rc;
}

/* ---- insert and update --------------------------------------------------- */

/* Check that the request's provisioning exists (and lock it); 0 when it
 * does. */
static int need_provisioning(pg_store_t *s, const ec_prov_request_t *rq,
                             ec_store_prov_outcome_t *o) {
  int r = query_row(s,
                    "SELECT 1::int8 FROM prov_provisionings WHERE id = $1::int8"
                    " FOR UPDATE",
                    1, (const int64_t[]){rq->provisioning_id, 0, 0}, NULL);
  if (r < 0)
    return r;
  if (r == 0) {
    o->no_provisioning = true;
    return EC_ESEMANTIC;
  }
  return ec__store_id_list_add(&o->provisionings, &o->n_provisionings,
                               rq->provisioning_id);
}

/* Run a write of components with four integers. */
static int write_row(pg_store_t *s, const char *sql, int64_t a, int64_t b,
                     int64_t c, int64_t d, int64_t e, int64_t f, int nargs) {
  char t[6][24];
  const char *v[6] = {t[0], t[1], t[2], t[3], t[4], t[5]};
  int64_t args[6] = {a, b, c, d, e, f};
  for (int i = 0; i < 6; i++)
    snprintf(t[i], sizeof(t[i]), "%lld", (long long)args[i]);
  return pg_query(s, sql, nargs, v, NULL, NULL, NULL, "write component") == 0
             ? 0
             : EC_ESTORE;
}

/* End the write's transaction: committed, other servers hear which
 * provisionings changed (their observers are due a notification); not,
 * nothing changed, so no observer is. */
static int end_write(pg_store_t *s, int rc, ec_store_prov_outcome_t *o) {
  if (rc == 0)
    rc = pg_notify_provisionings(s, o->provisionings, o->n_provisionings);
  rc = pg_end(s, rc);
  if (rc != 0) {
    free(o->provisionings);
    o->provisionings = NULL;
    o->n_provisionings = 0;
  }
  return rc;
}

int store_pg_prov_insert(ec_store_t *base, const ec_prov_request_t *rq,
                         int64_t user_id, int64_t now_s,
                         ec_store_prov_outcome_t *o) {
  pg_store_t *s = (pg_store_t *)base;
  if (pg_begin(s) != 0)
    return EC_ESTORE;
  const ec_prov_ids_t *ids = &rq->component_id;
  int rc = need_provisioning(s, rq, o);
  for (size_t i = 0; rc == 0 && i < ids->n; i++) {
    int r = query_row(
        s,
        "SELECT 1::int8 FROM prov_catalog WHERE"
        " component_type = $1::int AND component_id = $2::int8",
        2, (const int64_t[]){(int64_t)rq->component_type, ids->v[i], 0}, NULL);
    if (r < 0)
      rc = r;
    else if (r == 0)
      rc = ec__store_id_list_add(&o->unknown, &o->n_unknown, ids->v[i]);
  }
  if (rc == 0 && o->n_unknown > 0)
    rc = EC_ESEMANTIC;
  /* An existing triple is updated, else a row added: the update first, so
   * that only a new row takes an id from the sequence (an INSERT ... ON
   * CONFLICT would take one either way), and ids follow as SQLite's do.
   * The provisioning's row lock (need_provisioning) orders two nodes. */
  int act = rq->has_active_status ? rq->active_status : 0;
  for (size_t i = 0; rc == 0 && i < ids->n; i++) {
    int r = query_row(s,
                      "UPDATE prov_components SET active_status = $4::int,"
                      " last_modified_by = $5::int8, last_modified_at ="
                      " $6::int8 WHERE provisioning_id = $1::int8 AND"
                      " component_type = $2::int AND component_id = $3::int8"
                      " RETURNING id::int8",
                      6,
                      (const int64_t[]){rq->provisioning_id,
                                        (int64_t)rq->component_type, ids->v[i],
                                        act, user_id, now_s},
                      NULL);
    if (r < 0)
      rc = r;
    else if (r == 0)
      rc = write_row(s,
                     "INSERT INTO prov_components (provisioning_id,"
                     " component_type, component_id, active_status,"
                     " last_modified_by, last_modified_at)"
                     " VALUES ($1::int8, $2::int, $3::int8, $4::int,"
                     " $5::int8, $6::int8)",
                     rq->provisioning_id, (int64_t)rq->component_type,
                     ids->v[i], act, user_id, now_s, 6);
  }
  return end_write(s, rc, o);
}

int store_pg_prov_update(ec_store_t *base, const ec_prov_request_t *rq,
                         int64_t user_id, int64_t now_s,
                         ec_store_prov_outcome_t *o) {
  pg_store_t *s = (pg_store_t *)base;
  bool by_pc = rq->provisioning_component_id.present;
  const ec_prov_ids_t *ids =
      by_pc ? &rq->provisioning_component_id : &rq->component_id;
  int64_t *rows = malloc(ids->n * sizeof(*rows));
  if (rows == NULL)
    return EC_ENOMEM;
  if (pg_begin(s) != 0) {
    free(rows);
    return EC_ESTORE;
  }
  /* First find every row, so that one unknown id changes nothing. */
  int rc = by_pc ? 0 : need_provisioning(s, rq, o);
  for (size_t i = 0; rc == 0 && i < ids->n; i++) {
    int64_t got = 0;
    int r = by_pc ? query_row(s,
                              "SELECT provisioning_id::int8 FROM"
                              " prov_components WHERE id = $1::int8"
                              " FOR UPDATE",
                              1, (const int64_t[]){ids->v[i], 0, 0}, &got)
                  : query_row(s,
                              "SELECT id::int8 FROM prov_components WHERE"
                              " provisioning_id = $1::int8 AND"
                              " component_type = $2::int AND"
                              " component_id = $3::int8 FOR UPDATE",
                              3,
                              (const int64_t[]){rq->provisioning_id,
                                                (int64_t)rq->component_type,
                                                ids->v[i]},
                              &got);
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
    rc = write_row(s,
                   "UPDATE prov_components SET active_status = $2::int,"
                   " last_modified_by = $3::int8, last_modified_at = $4::int8"
                   " WHERE id = $1::int8",
                   rows[i], rq->active_status, user_id, now_s, 0, 0, 4);
  free(rows);
  return end_write(s, rc, o);
}
