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

/* Apply @p w inside the open transaction: the status row (its seq from
 * the upsert), the history entry, and the pair's failed components, which
 * the triggers count into the roll-ups. 0 or EC_ESTORE (logged), the
 * transaction left for the caller to undo. */
static int status_apply(pg_store_t *s, const ec_status_write_t *w,
                        int *created, int64_t *seq) {
  char dep[EC_STORE_MAX_ID_LEN + 1], state[16], at[32], seqtxt[32];
  ec__store_lower_id(w->deployment_id, dep);
  snprintf(state, sizeof(state), "%d", (int)w->state);
  snprintf(at, sizeof(at), "%lld", (long long)w->received_at_ms);
  const char *doc = w->doc_len > 0 ? (const char *)w->doc : empty;

  const char *up_v[] = {w->device_id, dep, state, doc, at, w->error_code};
  const int up_l[] = {0, 0, 0, (int)w->doc_len, 0, 0};
  const int up_f[] = {0, 0, 0, 1, 0, 0};
  PGresult *res = pg_run(
      s,
      "INSERT INTO deployment_status (device_id, deployment_id, state, doc,"
      " updated_at, last_seq, error_code)"
      " VALUES ($1, $2, $3::int, $4, $5::int8, 1, $6)"
      " ON CONFLICT (device_id, deployment_id) DO UPDATE SET"
      "  state = excluded.state, doc = excluded.doc,"
      "  updated_at = excluded.updated_at,"
      "  last_seq = deployment_status.last_seq + 1,"
      "  error_code = excluded.error_code"
      " RETURNING last_seq::int8",
      6, up_v, up_l, up_f, PGRES_TUPLES_OK, "store status");
  if (res == NULL)
    return EC_ESTORE;
  int64_t new_seq = PQntuples(res) == 1 ? pg_i64(res, 0, 0) : 0;
  PQclear(res);
  if (new_seq < 1) {
    ec_log(EC_LOG_ERROR, "store: store status: no sequence came back");
    return EC_ESTORE;
  }
  snprintf(seqtxt, sizeof(seqtxt), "%lld", (long long)new_seq);

  const char *hi_v[] = {w->device_id, dep, seqtxt, at, doc,
                        w->request_id_len > 0 ? (const char *)w->request_id
                                              : NULL};
  const int hi_l[] = {0, 0, 0, 0, (int)w->doc_len, (int)w->request_id_len};
  const int hi_f[] = {0, 0, 0, 0, 1, 1};
  res = pg_run(s,
               "INSERT INTO status_history (device_id, deployment_id, seq,"
               " received_at, doc, request_id)"
               " VALUES ($1, $2, $3::int8, $4::int8, $5, $6)",
               6, hi_v, hi_l, hi_f, PGRES_COMMAND_OK, "append history");
  if (res == NULL)
    return EC_ESTORE;
  PQclear(res);

  /* A write replaces its pair's failed components (usually none). */
  const char *del_v[] = {w->device_id, dep};
  res = pg_run(s,
               "DELETE FROM status_failures"
               " WHERE deployment_id = $2 AND device_id = $1",
               2, del_v, NULL, NULL, PGRES_COMMAND_OK,
               "replace failed components");
  if (res == NULL)
    return EC_ESTORE;
  PQclear(res);
  for (size_t i = 0; i < w->n_failed; i++) {
    const ec_fleet_failure_t *f = &w->failed[i];
    const char *ins_v[] = {w->device_id, dep, f->component,
                           f->code != NULL ? f->code : ""};
    res = pg_run(s,
                 "INSERT INTO status_failures (deployment_id, device_id,"
                 " component, code) VALUES ($2, $1, $3, $4)",
                 4, ins_v, NULL, NULL, PGRES_COMMAND_OK,
                 "store a failed component");
    if (res == NULL)
      return EC_ESTORE;
    PQclear(res);
  }
  if (created)
    *created = new_seq == 1;
  if (seq)
    *seq = new_seq;
  return 0;
}

int store_pg_status_put(ec_store_t *base, const ec_status_write_t *w,
                        int *created, int64_t *seq) {
  pg_store_t *s = (pg_store_t *)base;
  if (status_check(s, w) < 0)
    return EC_EINVAL;
  if (s->flushing) {
    /* A flush's callbacks run after its COMMIT, so this cannot happen. */
    ec_log(EC_LOG_ERROR, "store: a write began inside a flush");
    return EC_EINVAL;
  }
  pg_settle(s);
  int c = 0;
  int64_t n = 0;
  if (pg_exec(s, "BEGIN", "BEGIN") != 0)
    return EC_ESTORE;
  s->txn_writes = 1;
  /* Only a successful COMMIT makes the report durable; until then the
   * caller must not acknowledge it. */
  if (status_apply(s, w, &c, &n) != 0 || pg_commit(s) != 0) {
    pg_rollback(s);
    return EC_ESTORE;
  }
  if (created)
    *created = c;
  if (seq)
    *seq = n;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* The queue                                                                */
/* ------------------------------------------------------------------------ */

/*
 * This first step commits as SQLite does, at once: a flush is BEGIN, each
 * queued write in its own savepoint (a write that fails undoes only
 * itself), COMMIT, then the callbacks in queue order, all before
 * store_pg_flush() returns. Pipelined commits that complete in a later
 * flush are the next step (docs/ARCHITECTURE.md).
 */

int store_pg_status_queue(ec_store_t *base, const ec_status_write_t *w,
                          ec_status_done_fn fn, void *ud) {
  pg_store_t *s = (pg_store_t *)base;
  if (fn == NULL || status_check(s, w) < 0)
    return EC_EINVAL;
  /* One block: the entry, then the copies of what the write points at. */
  pg_queued_t *q =
      ec__store_status_dup(w, sizeof(*q), offsetof(pg_queued_t, w));
  if (q == NULL)
    return EC_ENOMEM;
  q->next = NULL;
  q->fn = fn;
  q->ud = ud;
  q->done = (ec_status_done_t){EC_ESTORE, 0, 0};
  *s->queue_tail = q;
  s->queue_tail = &q->next;
  s->n_queued++;
  return 0;
}

size_t store_pg_queued(const ec_store_t *base) {
  return ((const pg_store_t *)base)->n_queued;
}

/* Apply @p q in its own savepoint; its outcome goes to q->done. */
static void apply_one(pg_store_t *s, pg_queued_t *q) {
  if (pg_exec(s, "SAVEPOINT ec_write", "SAVEPOINT") != 0)
    return;
  if (status_apply(s, &q->w, &q->done.created, &q->done.seq) == 0 &&
      pg_exec(s, "RELEASE ec_write", "RELEASE") == 0) {
    q->done.rc = 0;
    s->txn_writes++;
    return;
  }
  /* Undo this write only; the flush's transaction goes on. */
  if (pg_exec(s, "ROLLBACK TO ec_write", "ROLLBACK TO") != 0 ||
      pg_exec(s, "RELEASE ec_write", "RELEASE") != 0)
    ec_log(EC_LOG_ERROR, "store: cannot undo a write in a flush");
}

int store_pg_flush(ec_store_t *base) {
  pg_store_t *s = (pg_store_t *)base;
  if (s->queue == NULL || s->flushing)
    return 0;
  /* Take the queue: what the callbacks queue waits for the next flush. */
  pg_queued_t *list = s->queue;
  s->queue = NULL;
  s->queue_tail = &s->queue;
  size_t n = s->n_queued;

  int rc = pg_exec(s, "BEGIN", "BEGIN");
  if (rc == 0) {
    s->txn_writes = 0; /* counted as each write's savepoint is released */
    s->flushing = true;
    for (pg_queued_t *q = list; q != NULL; q = q->next)
      apply_one(s, q);
    s->flushing = false;
    rc = pg_commit(s);
    if (rc != 0)
      pg_rollback(s);
  }
  if (rc != 0)
    ec_log(EC_LOG_ERROR, "store: a flush of %zu writes failed: none stored",
           n);
  /* Committed (or not): now, and only now, each write learns its fate. */
  while (list != NULL) {
    pg_queued_t *q = list;
    list = q->next;
    if (rc != 0)
      q->done = (ec_status_done_t){EC_ESTORE, 0, 0};
    s->n_queued--;
    q->fn(q->ud, &q->done);
    free(q);
  }
  return rc;
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
  for (const pg_queued_t *q = s->queue; q != NULL; q = q->next)
    if (q->w.request_id_len == rid_len &&
        memcmp(q->w.request_id, rid, rid_len) == 0 &&
        strcmp(q->w.device_id, device_id) == 0)
      return EC_EBUSY;
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
