/* edgecoap SQLite store: a status write in the open transaction: the pair's row, its history entry and its failed components. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include "edgecoap/error.h"
#include "log.h"
#include "store_internal.h"

/* The statements are store.c's (ST_STATUS_*, ST_HISTORY_INSERT), prepared
 * at open; what a write must know of its pair before it comes from
 * store_prior.c when the pair was written lately. */

/* What the pair's row holds (store_prior_t; seq 0: no row yet).
 * @return 0 or EC_ESTORE (logged) */
static int status_prior(store_db_t *s, const char *dev, const char *dep,
                        store_prior_t *p) {
  sqlite3_stmt *st = s->st[ST_STATUS_PRIOR];
  if (store_bind_pair(s, st, dev, dep) != 0) {
    store_stmt_done(st);
    return EC_ESTORE;
  }
  int rc = sqlite3_step(st);
  *p = (store_prior_t){0, -1, false, 0};
  if (rc == SQLITE_ROW) {
    p->seq = sqlite3_column_int64(st, 0);
    p->state = sqlite3_column_int(st, 1);
    p->had_failed = sqlite3_column_int(st, 2) != 0;
    p->rowid = sqlite3_column_int64(st, 3);
    rc = sqlite3_step(st);
  }
  if (rc != SQLITE_DONE)
    store_log(s->db, "read status");
  store_stmt_done(st);
  return rc == SQLITE_DONE ? 0 : EC_ESTORE;
}

/* Write the pair's status row as @p p says it is: a new one, or the row
 * at p->rowid (*@p missed when that row does not hold the pair). Its
 * parameters are bound by every write, so it is reset and not cleared. */
static int status_row(store_db_t *s, const ec_status_write_t *w,
                      const char *dep, const uint8_t *doc,
                      store_prior_t *p, bool *missed) {
  int which = p->seq == 0                    ? ST_STATUS_INSERT
              : p->state != (int)w->state ? ST_STATUS_UPDATE
                                            : ST_STATUS_TOUCH;
  sqlite3_stmt *up = s->st[which];
  *missed = false;
  if (store_bind_pair(s, up, w->device_id, dep) != 0)
    goto fail_up;
  if (sqlite3_bind_int(up, 3, (int)w->state) != SQLITE_OK ||
      sqlite3_bind_blob64(up, 4, doc, (sqlite3_uint64)w->doc_len,
                          SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_int64(up, 5, w->received_at_ms) != SQLITE_OK ||
      sqlite3_bind_int64(up, 6, p->seq + 1) != SQLITE_OK ||
      (w->error_code != NULL
           ? sqlite3_bind_text(up, 7, w->error_code, -1, SQLITE_STATIC)
           : sqlite3_bind_null(up, 7)) != SQLITE_OK ||
      (which != ST_STATUS_INSERT &&
       sqlite3_bind_int64(up, 8, p->rowid) != SQLITE_OK)) {
    store_log(s->db, "bind status");
    goto fail_up;
  }
  if (sqlite3_step(up) != SQLITE_DONE) {
    store_log(s->db, "store status");
    goto fail_up;
  }
  sqlite3_reset(up);
  if (which == ST_STATUS_INSERT)
    p->rowid = sqlite3_last_insert_rowid(s->db);
  else
    *missed = sqlite3_changes(s->db) == 0;
  /* The roll-up's triggers see a new row or a new state; the time alone
   * waits for the transaction's end. */
  if (which == ST_STATUS_TOUCH && !*missed &&
      store_fleet_touch(s, dep, w->received_at_ms) != 0)
    return EC_ESTORE;
  return 0;

fail_up:
  store_stmt_done(up);
  return EC_ESTORE;
}

int store_status_apply(store_db_t *s, const ec_status_write_t *w, int *created,
                       int64_t *seq) {
  char dep[EC_STORE_MAX_ID_LEN + 1];
  store_lower_id(w->deployment_id, dep);
  /* A NULL pointer would bind SQL NULL; an empty document is a zero-length
   * blob. */
  static const uint8_t empty[1];
  const uint8_t *doc = w->doc_len > 0 ? w->doc : empty;

  store_prior_t prior;
  store_prior_key_t pk;
  bool kept = store_prior_find(s, w->device_id, dep, &pk, &prior);
  bool missed = false;
  if (!kept && status_prior(s, w->device_id, dep, &prior) != 0)
    return EC_ESTORE;
  if (status_row(s, w, dep, doc, &prior, &missed) != 0)
    return EC_ESTORE;
  if (missed && kept) {
    /* The kept rowid holds another row now: the pair is read again. */
    if (status_prior(s, w->device_id, dep, &prior) != 0 ||
        status_row(s, w, dep, doc, &prior, &missed) != 0)
      return EC_ESTORE;
  }
  if (missed) {
    ec_log(EC_LOG_ERROR, "store: the status row of %s/%s was not found",
           w->device_id, dep);
    return EC_ESTORE;
  }
  int64_t new_seq = prior.seq + 1;

  sqlite3_stmt *hi = s->st[ST_HISTORY_INSERT];
  if (store_bind_pair(s, hi, w->device_id, dep) != 0)
    goto fail_hi;
  if (sqlite3_bind_int64(hi, 3, new_seq) != SQLITE_OK ||
      sqlite3_bind_int64(hi, 4, w->received_at_ms) != SQLITE_OK ||
      sqlite3_bind_blob64(hi, 5, doc, (sqlite3_uint64)w->doc_len,
                          SQLITE_STATIC) != SQLITE_OK ||
      (w->request_id_len > 0
           ? sqlite3_bind_blob(hi, 6, w->request_id, (int)w->request_id_len,
                               SQLITE_STATIC)
           : sqlite3_bind_null(hi, 6)) != SQLITE_OK) {
    store_log(s->db, "bind history");
    goto fail_hi;
  }
  if (sqlite3_step(hi) != SQLITE_DONE) {
    store_log(s->db, "append history");
    goto fail_hi;
  }
  sqlite3_reset(hi); /* every parameter is bound by each write, as above */
  if (store_fleet_put(s, w, dep, prior.had_failed) != 0)
    return EC_ESTORE;
  store_prior_set(s, &pk,
                  &(store_prior_t){new_seq, (int)w->state, w->n_failed > 0,
                                   prior.rowid});
  if (created)
    *created = new_seq == 1;
  if (seq)
    *seq = new_seq;
  return 0;

fail_hi:
  store_stmt_done(hi);
  return EC_ESTORE;
}
