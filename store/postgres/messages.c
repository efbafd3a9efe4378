/* edgecoap: the PostgreSQL store of ON-API status messages: gapless, commit-ordered IDs, atomic batches, filtered reads. */
/* SPDX-License-Identifier: Apache-2.0 */

/*
 * Schema (migration 2 in store.c): status_messages, status_message_macs and
 * status_message_requests as SQLite's (store/sqlite/store_messages.c), all
 * append-only by triggers, and status_message_counter, one row holding the
 * last ID handed out.
 *
 * IDs are gapless and commit-ordered across every node on the database: a
 * post is one statement that adds its count to the counter row and inserts
 * its messages (and addresses, and its Request-Id) with the IDs that
 * update gave. The counter row's lock is held from that statement to the
 * COMMIT, so a later post's IDs are handed out only after the earlier one
 * committed (or rolled back, undoing its update): a reader that saw ID k
 * committed has seen every ID below k, and one syncing by
 * fromStatusMessageID never skips a late commit, as it would with a
 * sequence (whose values commit out of order). The price is that feed
 * transactions are serialized fleet-wide, so each node group-commits its
 * posts: a post is a queued write of conn.c's rounds (a synchronous one is
 * a queued one waited for), and the lock is held from the round's first
 * post to its Sync, during which the server waits for nothing from us.
 *
 * The arrays of a post go as binary array parameters (one per column) to
 * unnest(), so a batch of any size is one statement of fixed text.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <endian.h>

#include "edgecoap/error.h"
#include "log.h"
#include "pg_internal.h"

/* ------------------------------------------------------------------------ */
/* Checks                                                                   */
/* ------------------------------------------------------------------------ */

static int pg_msg_request_read(pg_store_t *s, ec_store_msg_request_t *req,
                               int64_t *first_id);

static int msg_check(const pg_store_t *s, const ec_store_msg_write_t *w,
                     size_t n, const ec_store_msg_request_t *req) {
  return s->walking ? EC_EINVAL : ec__store_msg_check(w, n, req);
}

/* ------------------------------------------------------------------------ */
/* Writes                                                                   */
/* ------------------------------------------------------------------------ */

/* The post's one statement: the counter's update gives base, the last ID
 * before the post's; every other part reads it. Data-modifying WITH parts
 * all run, and the foreign keys are checked when the statement ends. */
static const char insert_sql[] =
    "WITH c AS (UPDATE status_message_counter"
    "  SET last_id = last_id + $1::int8 RETURNING last_id - $1::int8 AS base),"
    " m AS (INSERT INTO status_messages (id, message_date, received_at,"
    "  message_code, order_id, subscription_id, access_id, doc)"
    "  SELECT c.base + u.ord, u.d, $2::int8, u.code, u.o, u.su, u.a, u.doc"
    "  FROM c, unnest($3::int8[], $4::int4[], $5::text[], $6::text[],"
    "   $7::text[], $8::bytea[]) WITH ORDINALITY AS u(d, code, o, su, a, doc,"
    "   ord)),"
    " x AS (INSERT INTO status_message_macs (mac, message_id)"
    "  SELECT DISTINCT v.mac, c.base + v.ord"
    "  FROM c, unnest($9::int8[], $10::int8[]) AS v(ord, mac)),"
    " r AS (INSERT INTO status_message_requests"
    "  (scope, request_id, digest, first_id, count)"
    "  SELECT $11::text, $12::bytea, $13::bytea, c.base + 1, $14::int8 FROM c"
    "  WHERE $12::bytea IS NOT NULL)"
    " SELECT (base + 1)::int8 FROM c";

/* A post in the queue: the caller's write, nothing copied. */
typedef struct {
  pg_write_t base; /* first */
  const ec_store_msg_write_t *w;
  size_t n;
  int64_t received_at_ms;
  const ec_store_msg_request_t *req;
  ec_msg_done_fn fn;
  void *ud;
  ec_msg_done_t done;
} msg_q_t;

/* Send @p q's one statement; 1, or < 0 (EC_ENOMEM, EC_ESTORE). */
static int msg_send(pg_store_t *s, pg_write_t *base) {
  msg_q_t *q = (msg_q_t *)base;
  const ec_store_msg_write_t *w = q->w;
  const ec_store_msg_request_t *req = q->req;
  size_t n = q->n;
  static const char empty[1];
  enum { A_DATE, A_CODE, A_ORDER, A_SUB, A_ACCESS, A_DOC, A_ORD, A_MAC, N_A };
  static const int oids[N_A] = {PG_OID_INT8, PG_OID_INT4, PG_OID_TEXT,
                                PG_OID_TEXT, PG_OID_TEXT, PG_OID_BYTEA,
                                PG_OID_INT8, PG_OID_INT8};
  pg_array_t a[N_A] = {{0}};
  size_t n_macs = 0;
  for (size_t i = 0; i < n; i++)
    n_macs += w[i].msg->n_macs;
  for (int k = 0; k < N_A; k++)
    pg_array_head(&a[k], oids[k], k >= A_ORD ? n_macs : n);
  for (size_t i = 0; i < n; i++) {
    const ec_status_message_t *m = w[i].msg;
    uint32_t code = htobe32((uint32_t)m->code);
    pg_array_i64(&a[A_DATE], m->date_ms);
    pg_array_elem(&a[A_CODE], &code, sizeof(code));
    pg_array_text(&a[A_ORDER], m->order_id);
    pg_array_text(&a[A_SUB], m->subscription_id);
    pg_array_text(&a[A_ACCESS], m->access_id);
    pg_array_elem(&a[A_DOC], w[i].doc_len > 0 ? (const void *)w[i].doc : empty,
                  w[i].doc_len);
    for (size_t j = 0; j < m->n_macs; j++) {
      pg_array_i64(&a[A_ORD], (int64_t)i + 1);
      pg_array_i64(&a[A_MAC], (int64_t)m->macs[j]);
    }
  }
  int rc = 1;
  for (int k = 0; k < N_A; k++)
    if (a[k].oom)
      rc = EC_ENOMEM;
  if (rc == 1) {
    char count[24], at[24], reqcount[24];
    snprintf(count, sizeof(count), "%zu", n);
    snprintf(at, sizeof(at), "%lld", (long long)q->received_at_ms);
    snprintf(reqcount, sizeof(reqcount), "%lld",
             (long long)(req != NULL ? req->count : 0));
    const char *v[14] = {count, at};
    int l[14] = {0}, f[14] = {0};
    for (int k = 0; k < N_A; k++) {
      v[2 + k] = (const char *)a[k].p;
      l[2 + k] = (int)a[k].len;
      f[2 + k] = 1;
    }
    if (req != NULL) {
      v[10] = req->scope;
      v[11] = (const char *)req->id;
      l[11] = (int)req->id_len;
      f[11] = 1;
      v[12] = (const char *)req->digest;
      l[12] = (int)sizeof(req->digest);
      f[12] = 1;
      v[13] = reqcount;
    }
    static const pg_stmt_t insert_stmt = {"ec_messages_insert", insert_sql};
    if (pg_send(s, &insert_stmt, 14, v, l, f) != 0)
      rc = EC_ESTORE;
  }
  for (int k = 0; k < N_A; k++)
    free(a[k].p);
  return rc;
}

static void msg_result(pg_store_t *s, pg_write_t *base, int i,
                       const PGresult *res) {
  (void)s;
  msg_q_t *q = (msg_q_t *)base;
  if (i == 0 && PQntuples(res) == 1)
    q->done.first_id = pg_i64(res, 0, 0);
}

/* A post in flight when the connection was lost committed when its
 * Request-Id is recorded (the same transaction); without one, nobody can
 * tell. */
static int msg_resolve(pg_store_t *s, pg_write_t *base) {
  msg_q_t *q = (msg_q_t *)base;
  if (q->req == NULL)
    return -1;
  ec_store_msg_request_t r = *q->req;
  int64_t first = 0;
  int rc = pg_msg_request_read(s, &r, &first);
  if (rc == 0) {
    q->done.first_id = first;
    return 1;
  }
  return rc == EC_ENOTFOUND ? 0 : -1;
}

static void msg_done(pg_store_t *s, pg_write_t *base, int rc) {
  (void)s;
  msg_q_t *q = (msg_q_t *)base;
  /* A round that committed without the statement's row is no success. */
  if (rc == 0 && q->done.first_id < 1) {
    ec_log(EC_LOG_ERROR, "store: the status-message counter is missing");
    rc = EC_ESTORE;
  }
  q->done.rc = rc;
  if (rc != 0)
    q->done.first_id = 0;
  q->fn(q->ud, &q->done);
  free(q);
}

/* Other servers read on from the last ID they saw. */
static int msg_hint(const pg_write_t *base, char *buf, size_t cap) {
  (void)base;
  return pg_hint_messages(buf, cap);
}

static const pg_write_ops_t msg_ops = {
    msg_send, msg_result, msg_resolve, msg_done, msg_hint, NULL, NULL};

int store_pg_msg_queue(ec_store_t *base, const ec_store_msg_write_t *w,
                       size_t n, int64_t received_at_ms,
                       const ec_store_msg_request_t *req, ec_msg_done_fn fn,
                       void *ud) {
  pg_store_t *s = (pg_store_t *)base;
  if (fn == NULL || msg_check(s, w, n, req) < 0)
    return EC_EINVAL;
  /* Nothing is copied (the contract): the entry points at the caller's. */
  msg_q_t *q = calloc(1, sizeof(*q));
  if (q == NULL)
    return EC_ENOMEM;
  q->base.ops = &msg_ops;
  q->w = w;
  q->n = n;
  q->received_at_ms = received_at_ms;
  q->req = req;
  q->fn = fn;
  q->ud = ud;
  q->done = (ec_msg_done_t){EC_ESTORE, 0};
  pg_queue_add(s, &q->base);
  return 0;
}

/* What a synchronous post learned from its callback. */
typedef struct {
  bool ran;
  ec_msg_done_t d;
} sync_done_t;

static void on_sync_done(void *ud, const ec_msg_done_t *d) {
  sync_done_t *r = ud;
  r->ran = true;
  r->d = *d;
}

/* A synchronous post is a queued one waited for, as status_put is. */
int store_pg_msg_insert_req(ec_store_t *base, const ec_store_msg_write_t *w,
                            size_t n, int64_t received_at_ms,
                            const ec_store_msg_request_t *req,
                            int64_t *first_id) {
  pg_store_t *s = (pg_store_t *)base;
  if (first_id == NULL || msg_check(s, w, n, req) < 0)
    return EC_EINVAL;
  if (s->pumping)
    return EC_EBUSY;
  sync_done_t r = {false, {EC_ESTORE, 0}};
  int rc = store_pg_msg_queue(base, w, n, received_at_ms, req, on_sync_done,
                              &r);
  if (rc != 0)
    return rc;
  (void)store_pg_wait(base);
  /* Only a commit makes the batch durable; until then the caller must not
   * acknowledge it. */
  if (!r.ran || r.d.rc != 0)
    return r.ran && r.d.rc == EC_ETIMEOUT ? EC_ETIMEOUT : EC_ESTORE;
  *first_id = r.d.first_id;
  return 0;
}

static int pg_msg_request_read(pg_store_t *s, ec_store_msg_request_t *req,
                               int64_t *first_id) {
  const char *v[] = {req->scope, (const char *)req->id};
  const int l[] = {0, (int)req->id_len};
  const int f[] = {0, 1};
  PGresult *res = pg_run(s,
                         "SELECT digest, first_id::int8, count::int8"
                         " FROM status_message_requests"
                         " WHERE scope = $1 AND request_id = $2",
                         2, v, l, f, PGRES_TUPLES_OK, "read request id");
  if (res == NULL)
    return EC_ESTORE;
  int rc = EC_ENOTFOUND;
  if (PQntuples(res) == 1) {
    if (PQgetlength(res, 0, 0) != (int)sizeof(req->digest)) {
      ec_log(EC_LOG_ERROR, "store: read request id: a corrupt digest");
      rc = EC_ESTORE;
    } else {
      memcpy(req->digest, PQgetvalue(res, 0, 0), sizeof(req->digest));
      *first_id = pg_i64(res, 0, 1);
      req->count = pg_i64(res, 0, 2);
      rc = 0;
    }
  }
  PQclear(res);
  return rc;
}

int store_pg_msg_request_find(ec_store_t *base, ec_store_msg_request_t *req,
                              int64_t *first_id) {
  pg_store_t *s = (pg_store_t *)base;
  if (req == NULL || first_id == NULL || !ec__store_msg_request_ok(req))
    return EC_EINVAL;
  /* A post queued under this id is not in the database yet: it cannot be
   * called stored or new before its commit is known. */
  for (const pg_write_t *b = s->queue; b != NULL; b = b->next) {
    const ec_store_msg_request_t *o =
        b->ops == &msg_ops ? ((const msg_q_t *)b)->req : NULL;
    if (o != NULL && o->id_len == req->id_len &&
        memcmp(o->id, req->id, req->id_len) == 0 &&
        strcmp(o->scope, req->scope) == 0)
      return EC_EBUSY;
  }
  return pg_msg_request_read(s, req, first_id);
}

/* ------------------------------------------------------------------------ */
/* Reads                                                                    */
/* ------------------------------------------------------------------------ */

/*
 * The block returned by ec_store_msg_list():
 *
 *   [ ec_msg_row_t[0] ... ec_msg_row_t[n-1] ][ doc 0 ][ doc 1 ]...
 *
 * up to the row that brings the documents to @p max_bytes (at least one);
 * *more when the result holds another row.
 */
static int collect(PGresult *res, size_t max_bytes, ec_msg_row_t **rows,
                   size_t *n, bool *more) {
  size_t total = (size_t)PQntuples(res), count = 0, bytes = 0;
  while (count < total) {
    bytes += (size_t)PQgetlength(res, (int)count, 1);
    count++;
    if (max_bytes > 0 && bytes >= max_bytes)
      break;
  }
  if (more != NULL && count < total)
    *more = true;
  if (count == 0)
    return 0;
  ec_msg_row_t *block = malloc(count * sizeof(*block) + bytes);
  if (block == NULL)
    return EC_ENOMEM;
  uint8_t *data = (uint8_t *)(block + count);
  for (size_t i = 0; i < count; i++) {
    size_t len = (size_t)PQgetlength(res, (int)i, 1);
    memcpy(data, PQgetvalue(res, (int)i, 1), len);
    block[i] = (ec_msg_row_t){pg_i64(res, (int)i, 0), data, len};
    data += len;
  }
  *rows = block;
  *n = count;
  return 0;
}

int store_pg_msg_page(ec_store_t *base, const ec_msg_filter_t *f, int limit,
                      bool newest_first, size_t max_bytes, ec_msg_row_t **rows,
                      size_t *n, bool *more) {
  pg_store_t *s = (pg_store_t *)base;
  if (more != NULL)
    *more = false;
  if (!ec__store_msg_filter_ok(f) || rows == NULL || n == NULL)
    return EC_EINVAL;
  *rows = NULL;
  *n = 0;
  /* Only the filters present are in the SQL, so the planner sees each
   * equality and range and picks its index (status_messages_order ... or
   * the address table's key); the ID range is always there. */
  char sql[1024], from_id[24], to_id[24], from_d[24], to_d[24], mac[24],
      lim[16];
  snprintf(from_id, sizeof(from_id), "%lld",
           (long long)(f->has_from_id ? f->from_id : 0));
  snprintf(to_id, sizeof(to_id), "%lld",
           (long long)(f->has_to_id ? f->to_id : INT64_MAX));
  snprintf(from_d, sizeof(from_d), "%lld", (long long)f->from_date_ms);
  snprintf(to_d, sizeof(to_d), "%lld", (long long)f->to_date_ms);
  snprintf(mac, sizeof(mac), "%llu", (unsigned long long)f->mac);
  snprintf(lim, sizeof(lim), "%d", ec__store_msg_limit(limit));
  const char *v[] = {from_id, to_id, lim, f->order_id, f->subscription_id,
                     f->access_id, mac, from_d, to_d};
  int len = snprintf(
      sql, sizeof(sql),
      "SELECT m.id::int8, m.doc FROM status_messages m WHERE m.id > $1::int8"
      " AND m.id < $2::int8%s%s%s%s%s%s ORDER BY m.id%s LIMIT $3::int8",
      f->order_id != NULL ? " AND m.order_id = $4::text" : " AND $4::text IS NULL",
      f->subscription_id != NULL ? " AND m.subscription_id = $5::text"
                                 : " AND $5::text IS NULL",
      f->access_id != NULL ? " AND m.access_id = $6::text"
                           : " AND $6::text IS NULL",
      f->has_mac ? " AND EXISTS (SELECT 1 FROM status_message_macs x"
                   " WHERE x.mac = $7::int8 AND x.message_id = m.id)"
                 : " AND $7::int8 >= 0",
      f->has_from_date ? " AND m.message_date >= $8::int8"
                       : " AND $8::int8 IS NOT NULL",
      f->has_to_date ? " AND m.message_date <= $9::int8"
                     : " AND $9::int8 IS NOT NULL",
      newest_first ? " DESC" : "");
  if (len < 0 || (size_t)len >= sizeof(sql))
    return EC_EINVAL;
  PGresult *res = pg_run(s, sql, 9, v, NULL, NULL, PGRES_TUPLES_OK,
                         "read status messages");
  if (res == NULL)
    return EC_ESTORE;
  int rc = collect(res, max_bytes, rows, n, more);
  PQclear(res);
  return rc;
}

int store_pg_msg_get(ec_store_t *base, int64_t id, ec_msg_row_t **row) {
  pg_store_t *s = (pg_store_t *)base;
  if (row == NULL || id < 1)
    return EC_EINVAL;
  *row = NULL;
  char idt[24];
  snprintf(idt, sizeof(idt), "%lld", (long long)id);
  const char *v[] = {idt};
  PGresult *res = pg_run(s,
                         "SELECT id::int8, doc FROM status_messages"
                         " WHERE id = $1::int8",
                         1, v, NULL, NULL, PGRES_TUPLES_OK,
                         "read status message");
  if (res == NULL)
    return EC_ESTORE;
  size_t n = 0;
  int rc = collect(res, 0, row, &n, NULL);
  PQclear(res);
  if (rc == 0 && n == 0)
    return EC_ENOTFOUND;
  return rc;
}
