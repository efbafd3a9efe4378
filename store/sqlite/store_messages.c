/* edgecoap: the SQLite store of ON-API status messages: atomic batches and
 * indexed filtered reads. */
/* SPDX-License-Identifier: Apache-2.0 */

/*
 * Schema (the status-message migration in store.c):
 *
 *   status_messages                one row per accepted message, append-only
 *     id              INTEGER PRIMARY KEY AUTOINCREMENT   statusMessageID
 *     message_date    INTEGER NOT NULL   messageDate, ms since the epoch (UTC)
 *     received_at     INTEGER NOT NULL   the server's clock at receipt
 *     message_code    INTEGER NOT NULL   100..999
 *     order_id, subscription_id, access_id   TEXT, NULL when absent
 *     doc             BLOB    NOT NULL   the message without its ID, opaque
 *
 *   status_message_macs            one row per (address, message)
 *     mac             INTEGER NOT NULL   the 48-bit address
 *     message_id      INTEGER NOT NULL   REFERENCES status_messages
 *     PRIMARY KEY (mac, message_id), WITHOUT ROWID
 *
 *   Indexes: status_messages_order_doc (order_id, id, doc),
 *   status_messages_subscription (subscription_id) and _access
 *   (access_id), each partial (IS NOT NULL), and status_messages_date
 *   (message_date). SQLite appends the rowid to every index entry, so an
 *   equality on the indexed column also yields the rows in ID order and
 *   takes an ID range on the same index: a page of an order's messages is
 *   one index range, whatever the table's size. The orderId index holds
 *   the document too: a read by orderId alone (with an ID range or not)
 *   never visits the table, so its pages sit side by side in the index
 *   and a read costs the same at a million messages as at ten thousand
 *   (the index takes about as much room again as the documents).
 *
 * AUTOINCREMENT, not a plain rowid, so that an ID is never handed out twice
 * even if the newest row were ever deleted: clients sync by "after ID".
 * A batch is inserted under BEGIN IMMEDIATE, which holds the write lock, so
 * its IDs are consecutive; the insert checks that they are.
 *
 * Reads pick one driving index per request, by a fixed precedence (orderId,
 * subscriptionId, accessId, macAddress, date range, ID range), and test the
 * other filters on the rows that index yields. The choice is written into
 * the SQL with INDEXED BY / CROSS JOIN rather than left to the planner,
 * which has no statistics and must never fall back to a scan.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_internal.h"

/* Slots in STORE_SLOTS_MESSAGES + 0..31. */
enum {
  SM_INSERT,
  SM_INSERT_MAC,
  SM_GET,
  SM_REQ_INSERT,
  SM_REQ_FIND,
  SM_LIST_FIRST, /* + driver * 2 + newest_first: 14 slots */
  SM_LIST_END = SM_LIST_FIRST + STORE_READER_LISTS
};

typedef enum {
  DRIVE_ORDER_ONLY, /* orderId and at most an ID range: the index alone */
  DRIVE_ORDER,
  DRIVE_SUBSCRIPTION,
  DRIVE_ACCESS,
  DRIVE_MAC,
  DRIVE_DATE,
  DRIVE_ID,
  DRIVE_COUNT
} driver_t;

/* The first filter present, in the precedence of the header comment. */
static driver_t choose(const ec_msg_filter_t *f) {
  if (f->order_id != NULL && f->subscription_id == NULL &&
      f->access_id == NULL && !f->has_mac && !f->has_from_date &&
      !f->has_to_date)
    return DRIVE_ORDER_ONLY;
  if (f->order_id != NULL)
    return DRIVE_ORDER;
  if (f->subscription_id != NULL)
    return DRIVE_SUBSCRIPTION;
  if (f->access_id != NULL)
    return DRIVE_ACCESS;
  if (f->has_mac)
    return DRIVE_MAC;
  if (f->has_from_date || f->has_to_date)
    return DRIVE_DATE;
  return DRIVE_ID;
}

/*
 * One SELECT per driving index and direction. Parameters: ?1 orderId,
 * ?2 subscriptionId, ?3 accessId, ?4 mac (NULL when not filtered), ?5/?6
 * the inclusive date range, ?7/?8 the exclusive ID range (always bound, so
 * even "no filter" is a rowid range), ?9 the limit.
 */
static const char *const drive_from[DRIVE_COUNT] = {
    [DRIVE_ORDER_ONLY] =
        "status_messages AS m INDEXED BY status_messages_order_doc",
    [DRIVE_ORDER] = "status_messages AS m INDEXED BY status_messages_order_doc",
    [DRIVE_SUBSCRIPTION] =
        "status_messages AS m INDEXED BY status_messages_subscription",
    [DRIVE_ACCESS] = "status_messages AS m INDEXED BY status_messages_access",
    /* CROSS JOIN fixes the address table as the outer loop. */
    [DRIVE_MAC] = ("status_message_macs AS x CROSS JOIN status_messages AS m"
                   " ON m.id = x.message_id"),
    [DRIVE_DATE] = "status_messages AS m INDEXED BY status_messages_date",
    [DRIVE_ID] = "status_messages AS m NOT INDEXED",
};

static const char *const drive_where[DRIVE_COUNT] = {
    [DRIVE_ORDER_ONLY] = "m.order_id = ?1 AND ",
    [DRIVE_ORDER] = "m.order_id = ?1 AND ",
    [DRIVE_SUBSCRIPTION] = "m.subscription_id = ?2 AND ",
    [DRIVE_ACCESS] = "m.access_id = ?3 AND ",
    [DRIVE_MAC] = "x.mac = ?4 AND x.message_id > ?7 AND x.message_id < ?8 AND ",
    [DRIVE_DATE] = "",
    [DRIVE_ID] = "",
};

static int list_sql(driver_t d, bool newest_first, char *out, size_t cap) {
  if (d == DRIVE_ORDER_ONLY) {
    /* Only columns the index holds, so that the table is never read. The
     * other parameters are bound all the same, and unused. */
    int n = snprintf(out, cap,
                     "SELECT m.id, m.doc FROM %s WHERE %sm.id > ?7 AND"
                     " m.id < ?8 ORDER BY m.id%s LIMIT ?9",
                     drive_from[d], drive_where[d],
                     newest_first ? " DESC" : "");
    return n > 0 && (size_t)n < cap ? 0 : EC_EINVAL;
  }
  /* The mac test is skipped when the address table already drives. */
  const char *mac = d == DRIVE_MAC
                        ? ""
                        : " AND (?4 IS NULL OR EXISTS (SELECT 1 FROM"
                          " status_message_macs AS y WHERE y.mac = ?4 AND"
                          " y.message_id = m.id))";
  int n = snprintf(out, cap,
                   "SELECT m.id, m.doc FROM %s WHERE %s"
                   "(?1 IS NULL OR m.order_id = ?1) AND"
                   " (?2 IS NULL OR m.subscription_id = ?2) AND"
                   " (?3 IS NULL OR m.access_id = ?3) AND"
                   " m.message_date >= ?5 AND m.message_date <= ?6 AND"
                   " m.id > ?7 AND m.id < ?8%s ORDER BY %s%s LIMIT ?9",
                   drive_from[d], drive_where[d], mac,
                   d == DRIVE_MAC ? "x.message_id" : "m.id",
                   newest_first ? " DESC" : "");
  return n > 0 && (size_t)n < cap ? 0 : EC_EINVAL;
}

static int bind_text_or_null(sqlite3_stmt *st, int i, const char *s) {
  return s != NULL ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC)
                   : sqlite3_bind_null(st, i);
}

static int bind_filter(sqlite3_stmt *st, const ec_msg_filter_t *f, int limit) {
  int rc = bind_text_or_null(st, 1, f->order_id);
  if (rc == SQLITE_OK)
    rc = bind_text_or_null(st, 2, f->subscription_id);
  if (rc == SQLITE_OK)
    rc = bind_text_or_null(st, 3, f->access_id);
  if (rc == SQLITE_OK)
    rc = f->has_mac ? sqlite3_bind_int64(st, 4, (sqlite3_int64)f->mac)
                    : sqlite3_bind_null(st, 4);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_int64(st, 5,
                            f->has_from_date ? f->from_date_ms : INT64_MIN);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_int64(st, 6, f->has_to_date ? f->to_date_ms : INT64_MAX);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_int64(st, 7, f->has_from_id ? f->from_id : 0);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_int64(st, 8, f->has_to_id ? f->to_id : INT64_MAX);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_int(st, 9, limit);
  if (rc != SQLITE_OK) {
    store_log(sqlite3_db_handle(st), "bind status-message filter");
    return EC_ESTORE;
  }
  return 0;
}

/*
 * Lists are read on a connection of their own in a serving store: a
 * read-only one whose page cache (READER_CACHE) is big enough for the inner
 * pages of the orderId index at a million messages (about 18 MiB: the
 * index holds the documents, so its inner pages hold whole entries and it
 * is six levels deep; docs/PERFORMANCE.md), so that a read by orderId
 * takes from the file only the leaves it lists. Only reads fill that
 * cache (its pages are allocated as they are read), so writes keep the
 * main connection's default cache and their memory flat. In WAL mode a new
 * read sees every committed write; the queue's writes are not committed
 * before their flush, on either connection. An in-memory database, or a
 * reader that cannot be opened, leaves the lists to the main connection.
 */
#define READER_CACHE "PRAGMA cache_size = -24576" /* KiB */

static sqlite3 *reader(store_db_t *s) {
  if (!s->serving || strcmp(s->where, ":memory:") == 0)
    return NULL;
  if (s->reader != NULL || s->reader_tried)
    return s->reader;
  s->reader_tried = true;
  sqlite3 *db = NULL;
  if (sqlite3_open_v2(s->where, &db,
                      SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                      NULL) != SQLITE_OK ||
      sqlite3_busy_timeout(db, 5000) != SQLITE_OK ||
      sqlite3_exec(db, READER_CACHE, NULL, NULL, NULL) != SQLITE_OK) {
    ec_log(EC_LOG_WARN, "store: %s: no reader connection (%s): lists are"
           " read on the main one", s->where,
           db != NULL ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return NULL;
  }
  s->reader = db;
  return db;
}

void store_msg_reader_close(store_db_t *s) {
  for (int i = 0; i < STORE_READER_LISTS; i++) {
    sqlite3_finalize(s->reader_list[i]);
    s->reader_list[i] = NULL;
  }
  sqlite3_close(s->reader); /* harmless on NULL */
  s->reader = NULL;
}

static sqlite3_stmt *list_stmt(store_db_t *s, const ec_msg_filter_t *f,
                               bool newest_first) {
  char sql[1024];
  driver_t d = choose(f);
  int i = 2 * (int)d + (newest_first ? 1 : 0);
  int slot = STORE_SLOTS_MESSAGES + SM_LIST_FIRST + i;
  sqlite3 *r = reader(s);
  sqlite3_stmt **at = r != NULL ? &s->reader_list[i] : &s->lazy[slot];
  /* Prepared once: the text is only written for that. */
  if (*at != NULL)
    return *at;
  if (list_sql(d, newest_first, sql, sizeof(sql)) < 0)
    return NULL;
  if (r == NULL)
    return store_stmt(s, slot, sql);
  if (sqlite3_prepare_v3(r, sql, -1, SQLITE_PREPARE_PERSISTENT, at, NULL) !=
      SQLITE_OK) {
    store_log(r, sql);
    *at = NULL;
  }
  return *at;
}

/* ------------------------------------------------------------------------ */
/* Writes                                                                   */
/* ------------------------------------------------------------------------ */

/* Insert one message and its addresses; its ID in *id. */
static int insert_one(store_db_t *s, sqlite3_stmt *ins, sqlite3_stmt *mac,
                      const ec_store_msg_write_t *w, int64_t received_at_ms,
                      int64_t *id) {
  static const uint8_t empty[1];
  const ec_status_message_t *m = w->msg;
  int rc = sqlite3_bind_int64(ins, 1, m->date_ms);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_int64(ins, 2, received_at_ms);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_int(ins, 3, m->code);
  if (rc == SQLITE_OK)
    rc = bind_text_or_null(ins, 4, m->order_id);
  if (rc == SQLITE_OK)
    rc = bind_text_or_null(ins, 5, m->subscription_id);
  if (rc == SQLITE_OK)
    rc = bind_text_or_null(ins, 6, m->access_id);
  /* A NULL pointer would bind SQL NULL; an empty document is a zero-length
   * blob. */
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_blob64(ins, 7, w->doc_len ? w->doc : empty,
                             (sqlite3_uint64)w->doc_len, SQLITE_STATIC);
  if (rc != SQLITE_OK || sqlite3_step(ins) != SQLITE_DONE) {
    store_log(s->db, "insert status message");
    store_stmt_done(ins);
    return EC_ESTORE;
  }
  store_stmt_done(ins);
  *id = sqlite3_last_insert_rowid(s->db);

  for (size_t i = 0; i < m->n_macs; i++) {
    /* OR IGNORE: an address listed twice in one message is one row. */
    if (sqlite3_bind_int64(mac, 1, (sqlite3_int64)m->macs[i]) != SQLITE_OK ||
        sqlite3_bind_int64(mac, 2, *id) != SQLITE_OK ||
        sqlite3_step(mac) != SQLITE_DONE) {
      store_log(s->db, "insert status message address");
      store_stmt_done(mac);
      return EC_ESTORE;
    }
    store_stmt_done(mac);
  }
  return 0;
}

static int bind_request(store_db_t *s, sqlite3_stmt *st,
                        const ec_store_msg_request_t *r) {
  if (sqlite3_bind_text(st, 1, r->scope, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_blob(st, 2, r->id, (int)r->id_len, SQLITE_STATIC) !=
          SQLITE_OK) {
    store_log(s->db, "bind request id");
    return EC_ESTORE;
  }
  return 0;
}

/* Record @p r for the post whose messages start at @p first. */
static int request_insert(store_db_t *s, const ec_store_msg_request_t *r,
                          int64_t first) {
  sqlite3_stmt *st = store_stmt(
      s, STORE_SLOTS_MESSAGES + SM_REQ_INSERT,
      "INSERT INTO status_message_requests"
      " (scope, request_id, digest, first_id, count)"
      " VALUES (?1, ?2, ?3, ?4, ?5)");
  if (st == NULL)
    return EC_ESTORE;
  int rc = bind_request(s, st, r);
  if (rc == 0 &&
      (sqlite3_bind_blob(st, 3, r->digest, (int)sizeof(r->digest),
                         SQLITE_STATIC) != SQLITE_OK ||
       sqlite3_bind_int64(st, 4, first) != SQLITE_OK ||
       sqlite3_bind_int64(st, 5, r->count) != SQLITE_OK ||
       sqlite3_step(st) != SQLITE_DONE)) {
    store_log(s->db, "record request id");
    rc = EC_ESTORE;
  }
  store_stmt_done(st);
  return rc;
}

int store_sqlite_msg_request_find(ec_store_t *base, ec_store_msg_request_t *req,
                                  int64_t *first_id) {
  store_db_t *s = (store_db_t *)base;
  if (s == NULL || req == NULL || first_id == NULL || !ec__store_msg_request_ok(req))
    return EC_EINVAL;
  /* A post queued under this id is not in the database yet: it cannot be
   * called stored or new before its commit is known. */
  if (store_queue_has_request(s, req))
    return EC_EBUSY;
  sqlite3_stmt *st = store_stmt(
      s, STORE_SLOTS_MESSAGES + SM_REQ_FIND,
      "SELECT digest, first_id, count FROM status_message_requests"
      " WHERE scope = ?1 AND request_id = ?2");
  if (st == NULL)
    return EC_ESTORE;
  int rc = bind_request(s, st, req);
  if (rc == 0) {
    int step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
      rc = EC_ENOTFOUND;
    } else if (step == SQLITE_ROW &&
               sqlite3_column_bytes(st, 0) == (int)sizeof(req->digest)) {
      memcpy(req->digest, sqlite3_column_blob(st, 0), sizeof(req->digest));
      *first_id = sqlite3_column_int64(st, 1);
      req->count = sqlite3_column_int64(st, 2);
    } else {
      store_log(s->db, "read request id");
      rc = EC_ESTORE;
    }
  }
  store_stmt_done(st);
  return rc;
}

int store_msg_check(const store_db_t *s, const ec_store_msg_write_t *w,
                    size_t n, const ec_store_msg_request_t *req) {
  if (s == NULL || s->walking)
    return EC_EINVAL;
  return ec__store_msg_check(w, n, req);
}

int store_msg_apply(store_db_t *s, const ec_store_msg_write_t *w, size_t n,
                    int64_t received_at_ms, const ec_store_msg_request_t *req,
                    int64_t *first_id) {
  sqlite3_stmt *ins = store_stmt(
      s, STORE_SLOTS_MESSAGES + SM_INSERT,
      "INSERT INTO status_messages (message_date, received_at, message_code,"
      " order_id, subscription_id, access_id, doc)"
      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  sqlite3_stmt *mac =
      store_stmt(s, STORE_SLOTS_MESSAGES + SM_INSERT_MAC,
                 "INSERT OR IGNORE INTO status_message_macs (mac, message_id)"
                 " VALUES (?1, ?2)");
  if (ins == NULL || mac == NULL)
    return EC_ESTORE;
  int64_t first = 0;
  for (size_t i = 0; i < n; i++) {
    int64_t id;
    if (insert_one(s, ins, mac, &w[i], received_at_ms, &id) != 0)
      return EC_ESTORE;
    if (i == 0) {
      first = id;
    } else if (id != first + (int64_t)i) {
      /* Only another writer without the lock could cause this; the API
       * promises consecutive IDs, so refuse rather than break it. */
      ec_log(EC_LOG_ERROR,
             "store: status message IDs of one batch are not "
             "consecutive (%lld after %lld)",
             (long long)id, (long long)(first + (int64_t)i - 1));
      return EC_ESTORE;
    }
  }
  if (req != NULL && request_insert(s, req, first) != 0)
    return EC_ESTORE;
  *first_id = first;
  return 0;
}

int store_sqlite_msg_insert_req(ec_store_t *base, const ec_store_msg_write_t *w,
                                size_t n, int64_t received_at_ms,
                                const ec_store_msg_request_t *req,
                                int64_t *first_id) {
  store_db_t *s = (store_db_t *)base;
  if (first_id == NULL || store_msg_check(s, w, n, req) < 0)
    return EC_EINVAL;
  int64_t first = 0;
  if (store_begin(s) != 0)
    return EC_ESTORE;
  /* Only a successful COMMIT makes the batch durable; until then the caller
   * must not acknowledge it. */
  if (store_msg_apply(s, w, n, received_at_ms, req, &first) != 0 ||
      store_commit(s) != 0) {
    store_rollback(s);
    return EC_ESTORE;
  }
  *first_id = first;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Reads                                                                    */
/* ------------------------------------------------------------------------ */

/*
 * The block returned by ec_store_msg_list():
 *
 *   [ ec_msg_row_t[0] ... ec_msg_row_t[n-1] ][ doc 0 ][ doc 1 ]...
 *
 * so one free() releases everything.
 */
/* A message row's ID (column 0; its document is column 1). */
static void fill_msg(sqlite3_stmt *st, void *entry) {
  ((ec_msg_row_t *)entry)->id = sqlite3_column_int64(st, 0);
}

static int collect(store_db_t *s, sqlite3_stmt *st, size_t max_bytes,
                   ec_msg_row_t **rows, size_t *n, bool *more) {
  static const store_docs_t shape = {sizeof(ec_msg_row_t),
                                     offsetof(ec_msg_row_t, doc),
                                     offsetof(ec_msg_row_t, doc_len),
                                     1,
                                     fill_msg,
                                     "read status messages"};
  void *block;
  int rc = store_read_docs(s, st, &shape, max_bytes, &block, n, more);
  *rows = block;
  return rc;
}

int store_sqlite_msg_page(ec_store_t *base, const ec_msg_filter_t *f, int limit,
                          bool newest_first, size_t max_bytes,
                          ec_msg_row_t **rows, size_t *n, bool *more) {
  store_db_t *s = (store_db_t *)base;
  if (more != NULL)
    *more = false;
  if (s == NULL || !ec__store_msg_filter_ok(f) || rows == NULL || n == NULL)
    return EC_EINVAL;
  *rows = NULL;
  *n = 0;
  sqlite3_stmt *st = list_stmt(s, f, newest_first);
  if (st == NULL)
    return EC_ESTORE;
  if (bind_filter(st, f, ec__store_msg_limit(limit)) != 0) {
    store_stmt_done(st);
    return EC_ESTORE;
  }
  return collect(s, st, max_bytes, rows, n, more);
}

int store_sqlite_msg_get(ec_store_t *base, int64_t id, ec_msg_row_t **row) {
  store_db_t *s = (store_db_t *)base;
  if (s == NULL || row == NULL || id < 1)
    return EC_EINVAL;
  *row = NULL;
  sqlite3_stmt *st = store_stmt(s, STORE_SLOTS_MESSAGES + SM_GET,
                                "SELECT id, doc FROM status_messages"
                                " WHERE id = ?1");
  if (st == NULL)
    return EC_ESTORE;
  if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK) {
    store_log(s->db, "bind status message id");
    store_stmt_done(st);
    return EC_ESTORE;
  }
  size_t n;
  int rc = collect(s, st, 0, row, &n, NULL);
  if (rc == 0 && n == 0)
    return EC_ENOTFOUND;
  return rc;
}

int ec_store_msg_explain(ec_store_t *base, const ec_msg_filter_t *f,
                         bool newest_first, char *out, size_t cap) {
  store_db_t *s = store_db_of(base);
  if (s == NULL || !ec__store_msg_filter_ok(f) || out == NULL || cap == 0)
    return EC_EINVAL;
  char sql[1100];
  int n = snprintf(sql, sizeof(sql), "EXPLAIN QUERY PLAN ");
  if (list_sql(choose(f), newest_first, sql + n, sizeof(sql) - (size_t)n) < 0)
    return EC_EINVAL;
  /* A one-off statement: plans are for tests and documentation. */
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
    store_log(s->db, sql);
    return EC_ESTORE;
  }
  int err = bind_filter(st, f, EC_MSG_LIMIT_DEFAULT);
  size_t len = 0;
  out[0] = '\0';
  int rc = SQLITE_DONE;
  while (err == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *detail = (const char *)sqlite3_column_text(st, 3);
    int w = snprintf(out + len, cap - len, "%s%s", len ? "; " : "",
                     detail ? detail : "");
    if (w < 0 || (size_t)w >= cap - len) {
      err = EC_ENOSPC;
      break;
    }
    len += (size_t)w;
  }
  if (err == 0 && rc != SQLITE_DONE) {
    store_log(s->db, "explain");
    err = EC_ESTORE;
  }
  sqlite3_finalize(st);
  return err < 0 ? err : (int)len;
}
