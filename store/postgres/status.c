/* edgecoap: the PostgreSQL store's deployment status: writes, the queue (group commit) and reads. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgecoap/error.h"
#include "log.h"
#include "pg_internal.h"

/* ------------------------------------------------------------------------ */
/* Checks and parameters                                                    */
/* ------------------------------------------------------------------------ */

static int status_check(const pg_store_t *s, const ec_status_write_t *w) {
  if (ec__store_status_check(w) < 0)
    return EC_EINVAL;
  return s->walking ? EC_EINVAL : 0;
}

/* A bytea parameter is sent in binary; libpq reads a NULL value as SQL
 * NULL, so an empty document needs a pointer all the same. */
static const char empty[1];

/* ------------------------------------------------------------------------ */
/* Writes                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * A status write is sent as statements that read no result of another, so
 * that a round pipelines them all (conn.c): the status row's upsert, whose
 * RETURNING gives the seq; the history entry, taking that seq from the row
 * the upsert left; and the pair's failed components, which the triggers
 * count into the roll-ups.
 */
typedef struct {
  pg_write_t base; /* first */
  ec_status_write_t w;
  char dep[EC_STORE_MAX_ID_LEN + 1]; /* lowercased */
  ec_status_done_fn fn;
  void *ud;
  ec_status_done_t done;
} status_q_t;

static const pg_stmt_t upsert_stmt = {
    "ec_status_upsert",
    "INSERT INTO deployment_status (device_id, deployment_id, state,"
    " doc, updated_at, last_seq, error_code)"
    " VALUES ($1, $2, $3::int, $4, $5::int8, 1, $6)"
    " ON CONFLICT (device_id, deployment_id) DO UPDATE SET"
    "  state = excluded.state, doc = excluded.doc,"
    "  updated_at = excluded.updated_at,"
    "  last_seq = deployment_status.last_seq + 1,"
    "  error_code = excluded.error_code"
    " RETURNING last_seq::int8"};
static const pg_stmt_t history_stmt = {
    "ec_status_history",
    "INSERT INTO status_history (device_id, deployment_id, seq,"
    " received_at, doc, request_id)"
    " SELECT $1, $2, last_seq, $3::int8, $4::bytea, $5::bytea"
    " FROM deployment_status"
    " WHERE device_id = $1 AND deployment_id = $2"};
static const pg_stmt_t failures_clear_stmt = {
    "ec_status_failures_clear",
    "DELETE FROM status_failures WHERE deployment_id = $2 AND device_id = $1"};
static const pg_stmt_t failure_add_stmt = {
    "ec_status_failure_add",
    "INSERT INTO status_failures (deployment_id, device_id, component, code)"
    " VALUES ($2, $1, $3, $4)"};

static int status_send(pg_store_t *s, pg_write_t *base) {
  status_q_t *q = (status_q_t *)base;
  const ec_status_write_t *w = &q->w;
  q->done.seq = 0;
  q->done.created = 0;
  /* In a round, status_round() sends every status write's rows at once;
   * re-run one by one, each write sends its own statements. */
  if (!s->single)
    return 0;
  char state[16], at[32];
  snprintf(state, sizeof(state), "%d", (int)w->state);
  snprintf(at, sizeof(at), "%lld", (long long)w->received_at_ms);
  const char *doc = w->doc_len > 0 ? (const char *)w->doc : empty;

  const char *up_v[] = {w->device_id, q->dep, state, doc, at, w->error_code};
  const int up_l[] = {0, 0, 0, (int)w->doc_len, 0, 0};
  const int up_f[] = {0, 0, 0, 1, 0, 0};
  if (pg_send(s, &upsert_stmt, 6, up_v, up_l, up_f) != 0)
    return EC_ESTORE;

  const char *hi_v[] = {w->device_id, q->dep, at, doc,
                        w->request_id_len > 0 ? (const char *)w->request_id
                                              : NULL};
  const int hi_l[] = {0, 0, 0, (int)w->doc_len, (int)w->request_id_len};
  const int hi_f[] = {0, 0, 0, 1, 1};
  if (pg_send(s, &history_stmt, 5, hi_v, hi_l, hi_f) != 0)
    return EC_ESTORE;

  /* A write replaces its pair's failed components (usually none). */
  const char *del_v[] = {w->device_id, q->dep};
  if (pg_send(s, &failures_clear_stmt, 2, del_v, NULL, NULL) != 0)
    return EC_ESTORE;
  for (size_t i = 0; i < w->n_failed; i++) {
    const ec_fleet_failure_t *f = &w->failed[i];
    const char *ins_v[] = {w->device_id, q->dep, f->component,
                           f->code != NULL ? f->code : ""};
    if (pg_send(s, &failure_add_stmt, 4, ins_v, NULL, NULL) != 0)
      return EC_ESTORE;
  }
  return 3 + (int)w->n_failed;
}

static void status_result(pg_store_t *s, pg_write_t *base, int i,
                          const PGresult *res) {
  (void)s;
  status_q_t *q = (status_q_t *)base;
  if (i != 0 || PQntuples(res) != 1)
    return;
  q->done.seq = pg_i64(res, 0, 0);
  q->done.created = q->done.seq == 1;
}

/* A write in flight when the connection was lost committed when its
 * request identifier is in the history (the unique index keeps it once). */
static int status_resolve(pg_store_t *s, pg_write_t *base) {
  status_q_t *q = (status_q_t *)base;
  if (q->w.request_id_len == 0)
    return -1;
  const char *v[] = {q->w.device_id, (const char *)q->w.request_id};
  const int l[] = {0, (int)q->w.request_id_len};
  const int f[] = {0, 1};
  PGresult *res = pg_run(s,
                         "SELECT seq::int8 FROM status_history"
                         " WHERE device_id = $1 AND request_id = $2",
                         2, v, l, f, PGRES_TUPLES_OK, "resolve a write");
  if (res == NULL)
    return -1;
  int r = 0;
  if (PQntuples(res) == 1) {
    q->done.seq = pg_i64(res, 0, 0);
    q->done.created = q->done.seq == 1;
    r = 1;
  }
  PQclear(res);
  return r;
}

static void status_done(pg_store_t *s, pg_write_t *base, int rc) {
  (void)s;
  status_q_t *q = (status_q_t *)base;
  /* A round that committed without the write's history row is no
   * success. */
  if (rc == 0 && q->done.seq < 1) {
    ec_log(EC_LOG_ERROR, "store: a committed status write has no seq");
    rc = EC_ESTORE;
  }
  q->done.rc = rc;
  if (rc != 0)
    q->done.created = 0, q->done.seq = 0;
  q->fn(q->ud, &q->done);
  free(q);
}

static int status_hint(const pg_write_t *base, char *buf, size_t cap) {
  const status_q_t *q = (const status_q_t *)base;
  return pg_hint_status(buf, cap, q->w.device_id, q->dep);
}

static int status_round(pg_store_t *s, pg_write_t *w, size_t n);
static void status_round_result(pg_store_t *s, pg_write_t *w, size_t n, int i,
                                const PGresult *res);

static const pg_write_ops_t status_ops = {
    status_send, status_result, status_resolve,     status_done,
    status_hint, status_round,  status_round_result};

/*
 * A round's status writes as a few statements whatever their number: the
 * upserts and history rows of every write whose pair comes first in the
 * round as one statement (a CTE: the upserts' RETURNING gives each history
 * row its seq), the replaced failed components as one DELETE and one
 * INSERT; then the writes whose pair comes a second time, and so on
 * (an upsert may not touch one row twice). Each statement costs
 * PostgreSQL its executor set-up, CHECK constraints and triggers' start
 * once, not once per write. A statement that fails (a Request-Id already
 * stored) aborts the round, which conn.c sends again one write at a time.
 */
static const pg_stmt_t batch_stmt = {
    "ec_status_batch",
    "WITH v AS (SELECT * FROM unnest($1::text[], $2::text[], $3::int4[],"
    "  $4::bytea[], $5::int8[], $6::text[], $7::bytea[])"
    "  AS v(dev, dep, state, doc, at, err, rid)),"
    " up AS (INSERT INTO deployment_status AS d (device_id, deployment_id,"
    "  state, doc, updated_at, last_seq, error_code)"
    "  SELECT dev, dep, state, doc, at, 1, err FROM v"
    "  ON CONFLICT (device_id, deployment_id) DO UPDATE SET"
    "   state = excluded.state, doc = excluded.doc,"
    "   updated_at = excluded.updated_at, last_seq = d.last_seq + 1,"
    "   error_code = excluded.error_code"
    "  RETURNING device_id, deployment_id, last_seq)"
    " INSERT INTO status_history (device_id, deployment_id, seq,"
    "  received_at, doc, request_id)"
    " SELECT up.device_id, up.deployment_id, up.last_seq, v.at, v.doc, v.rid"
    " FROM up JOIN v ON v.dev = up.device_id AND v.dep = up.deployment_id"
    " RETURNING device_id, deployment_id, seq::int8"};
static const pg_stmt_t batch_clear_stmt = {
    "ec_status_batch_clear",
    "DELETE FROM status_failures f"
    " USING unnest($1::text[], $2::text[]) AS v(dev, dep)"
    " WHERE f.deployment_id = v.dep AND f.device_id = v.dev"};
static const pg_stmt_t batch_failures_stmt = {
    "ec_status_batch_failures",
    "INSERT INTO status_failures (deployment_id, device_id, component, code)"
    " SELECT dep, dev, component, code"
    " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])"
    " AS v(dev, dep, component, code)"};

/* Send the statements of the @p n status writes in @p q whose layer is
 * @p layer; how many (0 when none is), or EC_ENOMEM/EC_ESTORE. */
static int send_layer(pg_store_t *s, status_q_t *const *q,
                      const unsigned *layer, size_t n, unsigned at_layer) {
  enum {
    DEV,
    DEP,
    STATE,
    DOC,
    AT,
    ERR,
    RID,
    F_DEV,
    F_DEP,
    F_COMP,
    F_CODE,
    N_A
  };
  static const int oids[N_A] = {PG_OID_TEXT,  PG_OID_TEXT, PG_OID_INT4,
                                PG_OID_BYTEA, PG_OID_INT8, PG_OID_TEXT,
                                PG_OID_BYTEA, PG_OID_TEXT, PG_OID_TEXT,
                                PG_OID_TEXT,  PG_OID_TEXT};
  size_t rows = 0, fails = 0;
  for (size_t i = 0; i < n; i++)
    if (layer[i] == at_layer) {
      rows++;
      fails += q[i]->w.n_failed;
    }
  if (rows == 0)
    return 0;
  pg_array_t a[N_A] = {{0}};
  for (int k = 0; k < N_A; k++)
    pg_array_head(&a[k], oids[k], k >= F_DEV ? fails : rows);
  for (size_t i = 0; i < n; i++) {
    if (layer[i] != at_layer)
      continue;
    const ec_status_write_t *w = &q[i]->w;
    pg_array_text(&a[DEV], w->device_id);
    pg_array_text(&a[DEP], q[i]->dep);
    pg_array_i32(&a[STATE], (int32_t)w->state);
    pg_array_elem(&a[DOC], w->doc_len > 0 ? (const void *)w->doc : empty,
                  w->doc_len);
    pg_array_i64(&a[AT], w->received_at_ms);
    pg_array_text(&a[ERR], w->error_code);
    pg_array_elem(&a[RID], w->request_id_len > 0 ? w->request_id : NULL,
                  w->request_id_len);
    for (size_t j = 0; j < w->n_failed; j++) {
      const ec_fleet_failure_t *f = &w->failed[j];
      pg_array_text(&a[F_DEV], w->device_id);
      pg_array_text(&a[F_DEP], q[i]->dep);
      pg_array_text(&a[F_COMP], f->component);
      pg_array_text(&a[F_CODE], f->code != NULL ? f->code : "");
    }
  }
  int rc = 0;
  for (int k = 0; k < N_A; k++)
    if (a[k].oom)
      rc = EC_ENOMEM;
  const char *v[N_A];
  int l[N_A], f[N_A];
  for (int k = 0; k < N_A; k++) {
    v[k] = (const char *)a[k].p;
    l[k] = (int)a[k].len;
    f[k] = 1;
  }
  if (rc == 0 && (pg_send(s, &batch_stmt, 7, v, l, f) != 0 ||
                  pg_send(s, &batch_clear_stmt, 2, v, l, f) != 0))
    rc = EC_ESTORE;
  if (rc == 0 && fails > 0 &&
      pg_send(s, &batch_failures_stmt, 4, v + F_DEV, l + F_DEV, f + F_DEV) != 0)
    rc = EC_ESTORE;
  for (int k = 0; k < N_A; k++)
    free(a[k].p);
  return rc < 0 ? rc : 2 + (fails > 0);
}

/* The history rows a batch statement returned: each gives its seq to the
 * first write of the round with that pair that has none yet (the layers
 * come in order, so the k-th of a pair gets the k-th seq). */
static void status_round_result(pg_store_t *s, pg_write_t *w, size_t n, int i,
                                const PGresult *res) {
  (void)s;
  (void)i;
  if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 3)
    return;
  for (int r = 0; r < PQntuples(res); r++) {
    const char *dev = PQgetvalue(res, r, 0), *dep = PQgetvalue(res, r, 1);
    size_t k = 0;
    for (pg_write_t *x = w; x != NULL && k < n; x = x->next, k++) {
      status_q_t *q = (status_q_t *)x;
      if (x->ops == &status_ops && q->done.seq == 0 &&
          strcmp(q->w.device_id, dev) == 0 && strcmp(q->dep, dep) == 0) {
        q->done.seq = pg_i64(res, r, 2);
        q->done.created = q->done.seq == 1;
        break;
      }
    }
  }
}

/* A deployment's roll-up time moves once per round, to its latest write's
 * time: the row's trigger counts a change of state only (schema 6), as
 * SQLite's does once per transaction, since moving it at every write cost
 * a PL/pgSQL upsert (and its six CHECKs) per report. */
static const pg_stmt_t rollup_time_stmt = {
    "ec_status_rollup_time",
    "UPDATE fleet_rollup SET updated_at = $2::int8"
    " WHERE deployment_id = $1 AND updated_at < $2::int8"};

static int status_round(pg_store_t *s, pg_write_t *w, size_t n) {
  int sent = 0;
  if (!s->single) {
    /* Each status write's layer: how many before it in the round have
     * its pair. */
    status_q_t *q[EC_STORE_PG_ROUND_MAX];
    unsigned layer[EC_STORE_PG_ROUND_MAX], layers = 0;
    size_t m = 0, i = 0;
    for (pg_write_t *x = w; x != NULL && i < n; x = x->next, i++) {
      if (x->ops != &status_ops || m == EC_STORE_PG_ROUND_MAX)
        continue;
      q[m] = (status_q_t *)x;
      layer[m] = 0;
      for (size_t j = 0; j < m; j++)
        if (strcmp(q[j]->w.device_id, q[m]->w.device_id) == 0 &&
            strcmp(q[j]->dep, q[m]->dep) == 0)
          layer[m]++;
      if (layer[m] + 1 > layers)
        layers = layer[m] + 1;
      m++;
    }
    for (unsigned l = 0; l < layers; l++) {
      int k = send_layer(s, q, layer, m, l);
      if (k < 0)
        return k;
      sent += k;
    }
  }
  /* The round's deployments, each with its latest write's time. */
  const status_q_t *deps[EC_STORE_PG_ROUND_MAX];
  int64_t at[EC_STORE_PG_ROUND_MAX];
  size_t n_deps = 0;
  for (size_t i = 0; w != NULL && i < n; w = w->next, i++) {
    if (w->ops != &status_ops)
      continue;
    const status_q_t *q = (const status_q_t *)w;
    size_t k = 0;
    while (k < n_deps && strcmp(deps[k]->dep, q->dep) != 0)
      k++;
    if (k == n_deps) {
      if (n_deps == EC_STORE_PG_ROUND_MAX)
        return EC_ESTORE;
      deps[n_deps] = q;
      at[n_deps++] = q->w.received_at_ms;
    } else if (q->w.received_at_ms > at[k]) {
      at[k] = q->w.received_at_ms;
    }
  }
  for (size_t k = 0; k < n_deps; k++) {
    char t[32];
    snprintf(t, sizeof(t), "%lld", (long long)at[k]);
    const char *v[] = {deps[k]->dep, t};
    if (pg_send(s, &rollup_time_stmt, 2, v, NULL, NULL) != 0)
      return EC_ESTORE;
  }
  return sent + (int)n_deps;
}

int store_pg_status_queue(ec_store_t *base, const ec_status_write_t *w,
                          ec_status_done_fn fn, void *ud) {
  pg_store_t *s = (pg_store_t *)base;
  if (fn == NULL || status_check(s, w) < 0)
    return EC_EINVAL;
  /* One block: the entry, then the copies of what the write points at. */
  status_q_t *q =
      ec__store_status_dup(w, sizeof(*q), offsetof(status_q_t, w));
  if (q == NULL)
    return EC_ENOMEM;
  q->base.ops = &status_ops;
  ec__store_lower_id(w->deployment_id, q->dep);
  q->fn = fn;
  q->ud = ud;
  q->done = (ec_status_done_t){EC_ESTORE, 0, 0};
  pg_queue_add(s, &q->base);
  return 0;
}

/* What a synchronous write learned from its callback. */
typedef struct {
  bool ran;
  ec_status_done_t d;
} sync_done_t;

static void on_sync_done(void *ud, const ec_status_done_t *d) {
  sync_done_t *r = ud;
  r->ran = true;
  r->d = *d;
}

/* A synchronous write is a queued one waited for: the same statements,
 * after every write queued before it. */
int store_pg_status_put(ec_store_t *base, const ec_status_write_t *w,
                        int *created, int64_t *seq) {
  pg_store_t *s = (pg_store_t *)base;
  if (status_check(s, w) < 0)
    return EC_EINVAL;
  /* A store whose commits arrive later cannot wait inside a callback. */
  if (s->pumping)
    return EC_EBUSY;
  sync_done_t r = {false, {EC_ESTORE, 0, 0}};
  int rc = store_pg_status_queue(base, w, on_sync_done, &r);
  if (rc != 0)
    return rc;
  (void)store_pg_wait(base);
  if (!r.ran || r.d.rc != 0) /* (ran: wait returns only once it has) */
    return r.ran && r.d.rc == EC_ETIMEOUT ? EC_ETIMEOUT : EC_ESTORE;
  if (created)
    *created = r.d.created;
  if (seq)
    *seq = r.d.seq;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Reads                                                                    */
/* ------------------------------------------------------------------------ */

int store_pg_status_by_request(ec_store_t *base, const char *device_id,
                               const uint8_t *rid, size_t rid_len,
                               char dep[EC_STORE_MAX_ID_LEN + 1], int64_t *seq,
                               uint8_t **doc, size_t *doc_len) {
  pg_store_t *s = (pg_store_t *)base;
  if (!ec__store_id_ok(device_id) || rid == NULL || rid_len < EC_REQUEST_ID_MIN ||
      rid_len > EC_REQUEST_ID_MAX || dep == NULL || doc == NULL ||
      doc_len == NULL)
    return EC_EINVAL;
  /* A write waiting in the queue under this id cannot be answered before
   * its commit is known. */
  for (const pg_write_t *b = s->queue; b != NULL; b = b->next) {
    const status_q_t *q = (const status_q_t *)b;
    if (b->ops == &status_ops && q->w.request_id_len == rid_len &&
        memcmp(q->w.request_id, rid, rid_len) == 0 &&
        strcmp(q->w.device_id, device_id) == 0)
      return EC_EBUSY;
  }
  const char *v[] = {device_id, (const char *)rid};
  const int l[] = {0, (int)rid_len};
  const int f[] = {0, 1};
  PGresult *res = pg_run(s,
                         "SELECT deployment_id, seq::int8, doc"
                         " FROM status_history"
                         " WHERE device_id = $1 AND request_id = $2",
                         2, v, l, f, PGRES_TUPLES_OK, "read request id");
  if (res == NULL)
    return EC_ESTORE;
  int rc = EC_ENOTFOUND;
  if (PQntuples(res) == 1) {
    size_t dlen = (size_t)PQgetlength(res, 0, 0);
    size_t n = (size_t)PQgetlength(res, 0, 2);
    uint8_t *copy = dlen <= EC_STORE_MAX_ID_LEN ? malloc(n ? n : 1) : NULL;
    rc = dlen > EC_STORE_MAX_ID_LEN ? EC_ESTORE
         : copy == NULL             ? EC_ENOMEM
                                    : 0;
    if (rc == 0) {
      memcpy(copy, PQgetvalue(res, 0, 2), n);
      memcpy(dep, PQgetvalue(res, 0, 0), dlen);
      dep[dlen] = '\0';
      if (seq)
        *seq = pg_i64(res, 0, 1);
      *doc = copy;
      *doc_len = n;
    }
  }
  PQclear(res);
  return rc;
}

int store_pg_status_get(ec_store_t *base, const char *device_id,
                        const char *deployment_id, uint8_t **doc,
                        size_t *doc_len, int64_t *updated_at_ms,
                        int64_t *seq) {
  pg_store_t *s = (pg_store_t *)base;
  if (!ec__store_id_ok(device_id) || !ec__store_id_ok(deployment_id) || doc == NULL ||
      doc_len == NULL)
    return EC_EINVAL;
  *doc = NULL;
  *doc_len = 0;
  char dep[EC_STORE_MAX_ID_LEN + 1];
  ec__store_lower_id(deployment_id, dep);
  const char *v[] = {device_id, dep};
  PGresult *res = pg_run(s,
                         "SELECT doc, updated_at::int8, last_seq::int8"
                         " FROM deployment_status"
                         " WHERE device_id = $1 AND deployment_id = $2",
                         2, v, NULL, NULL, PGRES_TUPLES_OK, "read status");
  if (res == NULL)
    return EC_ESTORE;
  if (PQntuples(res) != 1) {
    PQclear(res);
    return EC_ENOTFOUND;
  }
  size_t len = (size_t)PQgetlength(res, 0, 0);
  uint8_t *copy = malloc(len ? len : 1);
  if (copy == NULL) {
    PQclear(res);
    return EC_ENOMEM;
  }
  memcpy(copy, PQgetvalue(res, 0, 0), len);
  if (updated_at_ms)
    *updated_at_ms = pg_i64(res, 0, 1);
  if (seq)
    *seq = pg_i64(res, 0, 2);
  PQclear(res);
  *doc = copy;
  *doc_len = len;
  return 0;
}

/*
 * The block returned by ec_store_history():
 *
 *   [ ec_history_entry_t[0] ... ec_history_entry_t[n-1] ][ doc 0 ][ doc 1 ]...
 *
 * Each entry's report points at its document's copy in the same block.
 */
int store_pg_history_page(ec_store_t *base, const char *device_id,
                          const char *deployment_id, int64_t since, int limit,
                          size_t max_bytes, ec_history_entry_t **entries,
                          size_t *n, bool *more) {
  pg_store_t *s = (pg_store_t *)base;
  if (more != NULL)
    *more = false;
  if (!ec__store_id_ok(device_id) || !ec__store_id_ok(deployment_id) || entries == NULL ||
      n == NULL)
    return EC_EINVAL;
  *entries = NULL;
  *n = 0;
  if (limit <= 0)
    limit = EC_STORE_HISTORY_DEFAULT;
  if (limit > EC_STORE_HISTORY_MAX)
    limit = EC_STORE_HISTORY_MAX;
  char dep[EC_STORE_MAX_ID_LEN + 1], since_t[32], limit_t[16];
  ec__store_lower_id(deployment_id, dep);
  snprintf(since_t, sizeof(since_t), "%lld", (long long)since);
  snprintf(limit_t, sizeof(limit_t), "%d", limit);
  const char *v[] = {device_id, dep, since_t, limit_t};
  PGresult *res = pg_run(s,
                         "SELECT seq::int8, received_at::int8, doc"
                         " FROM status_history"
                         " WHERE device_id = $1 AND deployment_id = $2"
                         " AND seq > $3::int8 ORDER BY seq LIMIT $4::int8",
                         4, v, NULL, NULL, PGRES_TUPLES_OK, "read history");
  if (res == NULL)
    return EC_ESTORE;
  /* The page: up to the row that brings the documents to the cap (at
   * least one), and more follow when the result has another row. */
  size_t rows = (size_t)PQntuples(res), count = 0, bytes = 0;
  while (count < rows) {
    bytes += (size_t)PQgetlength(res, (int)count, 2);
    count++;
    if (max_bytes > 0 && bytes >= max_bytes)
      break;
  }
  if (more != NULL && count < rows)
    *more = true;
  if (count == 0) {
    PQclear(res);
    return 0;
  }
  ec_history_entry_t *block = malloc(count * sizeof(*block) + bytes);
  if (block == NULL) {
    PQclear(res);
    return EC_ENOMEM;
  }
  uint8_t *data = (uint8_t *)(block + count);
  for (size_t i = 0; i < count; i++) {
    size_t len = (size_t)PQgetlength(res, (int)i, 2);
    memcpy(data, PQgetvalue(res, (int)i, 2), len);
    block[i] = (ec_history_entry_t){
        .seq = pg_i64(res, (int)i, 0),
        .received_at_ms = pg_i64(res, (int)i, 1),
        .report = data,
        .report_len = len,
    };
    data += len;
  }
  PQclear(res);
  *entries = block;
  *n = count;
  return 0;
}

/*
 * The block returned by ec_store_deployments():
 *
 *   [ ec_deployment_summary_t[0 .. n-1] ][ "id0\0" "id1\0" ... ]
 */
int store_pg_deployments_page(ec_store_t *base, const char *device_id,
                              const char *after, size_t max_bytes,
                              ec_deployment_summary_t **list, size_t *n,
                              bool *more) {
  pg_store_t *s = (pg_store_t *)base;
  if (more != NULL)
    *more = false;
  if (!ec__store_id_ok(device_id) || list == NULL || n == NULL ||
      (after != NULL && strlen(after) > EC_STORE_MAX_ID_LEN))
    return EC_EINVAL;
  *list = NULL;
  *n = 0;
  /* Every stored id is longer than "", so no "after" starts at the first. */
  char low[EC_STORE_MAX_ID_LEN + 1] = "";
  if (after != NULL)
    ec__store_lower_id(after, low);
  const char *v[] = {device_id, low};
  PGresult *res = pg_run(s,
                         "SELECT deployment_id, state::int8, updated_at::int8"
                         " FROM deployment_status WHERE device_id = $1"
                         " AND deployment_id > $2 ORDER BY deployment_id",
                         2, v, NULL, NULL, PGRES_TUPLES_OK,
                         "read deployments");
  if (res == NULL)
    return EC_ESTORE;
  size_t rows = (size_t)PQntuples(res), count = 0, strs = 0;
  while (count < rows) {
    int64_t state = pg_i64(res, (int)count, 1);
    if (state < 0 || state >= EC_STATE_COUNT) {
      ec_log(EC_LOG_ERROR, "store: device %s has a corrupt deployment row",
             device_id);
      PQclear(res);
      return EC_ESTORE;
    }
    strs += (size_t)PQgetlength(res, (int)count, 0) + 1;
    count++;
    /* A summary's answer is its id and about 80 bytes more. */
    if (max_bytes > 0 && strs + 80 * count >= max_bytes)
      break;
  }
  if (more != NULL && count < rows)
    *more = true;
  if (count == 0) {
    PQclear(res);
    return 0;
  }
  ec_deployment_summary_t *block = malloc(count * sizeof(*block) + strs);
  if (block == NULL) {
    PQclear(res);
    return EC_ENOMEM;
  }
  char *data = (char *)(block + count);
  for (size_t i = 0; i < count; i++) {
    size_t len = (size_t)PQgetlength(res, (int)i, 0);
    memcpy(data, PQgetvalue(res, (int)i, 0), len);
    data[len] = '\0';
    block[i] = (ec_deployment_summary_t){
        .deployment_id = data,
        .state = (ec_state_t)pg_i64(res, (int)i, 1),
        .updated_at_ms = pg_i64(res, (int)i, 2),
    };
    data += len + 1;
  }
  PQclear(res);
  *list = block;
  *n = count;
  return 0;
}

/* The walk reads every pair first (libpq returns a whole result), so its
 * callback may read the store freely; it costs memory in the number of
 * pairs, which only tests and tools walk. */
int store_pg_each_status(ec_store_t *base,
                         int (*fn)(void *ud, const char *device_id,
                                   const char *deployment_id),
                         void *ud) {
  pg_store_t *s = (pg_store_t *)base;
  if (fn == NULL || s->walking)
    return EC_EINVAL;
  PGresult *res = pg_run(s,
                         "SELECT device_id, deployment_id FROM"
                         " deployment_status ORDER BY device_id,"
                         " deployment_id",
                         0, NULL, NULL, NULL, PGRES_TUPLES_OK, "walk status");
  if (res == NULL)
    return EC_ESTORE;
  int ret = 0;
  s->walking = true;
  for (int i = 0; i < PQntuples(res) && ret == 0; i++)
    ret = fn(ud, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
  s->walking = false;
  PQclear(res);
  return ret;
}
