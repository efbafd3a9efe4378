/* edgecoap SQLite store: queued status writes, flushed as one transaction (the group commit). */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "edgecoap/error.h"
#include "log.h"
#include "store_internal.h"

/*
 * SQLite commits at once, so a flush is: BEGIN IMMEDIATE, each queued write
 * in its own savepoint (a write that fails undoes only itself and the
 * others go on), COMMIT with synchronous=FULL, then the callbacks in queue
 * order. Nothing is written before the flush, so the write lock is held
 * only while the flush runs, and no read between a queueing and its flush
 * sees a write whose commit is not known.
 */

int store_sqlite_status_queue(ec_store_t *base, const ec_status_write_t *w,
                              ec_status_done_fn fn, void *ud) {
  store_db_t *s = (store_db_t *)base;
  if (fn == NULL || store_status_check(s, w) < 0)
    return EC_EINVAL;
  size_t dev_len = strlen(w->device_id) + 1;
  size_t dep_len = strlen(w->deployment_id) + 1;
  size_t fleet_len = store_fleet_size(w);
  /* One block: the entry, the fleet's share (its array first), then the
   * strings, request id and document. */
  store_queued_t *q = malloc(sizeof(*q) + fleet_len + dev_len + dep_len +
                             w->request_id_len + w->doc_len);
  if (q == NULL)
    return EC_ENOMEM;
  char *p = (char *)(q + 1);
  q->next = NULL;
  q->w = *w;
  p = store_fleet_copy(&q->w, w, p);
  q->w.device_id = memcpy(p, w->device_id, dev_len);
  p += dev_len;
  q->w.deployment_id = memcpy(p, w->deployment_id, dep_len);
  p += dep_len;
  q->w.request_id = w->request_id_len > 0
                        ? memcpy(p, w->request_id, w->request_id_len)
                        : NULL;
  p += w->request_id_len;
  q->w.doc = w->doc_len > 0 ? memcpy(p, w->doc, w->doc_len) : NULL;
  q->fn = fn;
  q->ud = ud;
  q->done = (ec_status_done_t){EC_ESTORE, 0, 0};
  *s->queue_tail = q;
  s->queue_tail = &q->next;
  s->n_queued++;
  return 0;
}

size_t store_sqlite_queued(const ec_store_t *base) {
  const store_db_t *s = (const store_db_t *)base;
  return s != NULL ? s->n_queued : 0;
}

/* Apply @p q in its own savepoint; its outcome goes to q->done. */
static void apply_one(store_db_t *s, store_queued_t *q) {
  if (store_step_done(s, ST_SAVEPOINT, "SAVEPOINT") != 0)
    return;
  if (store_status_apply(s, &q->w, &q->done.created, &q->done.seq) == 0 &&
      store_step_done(s, ST_RELEASE, "RELEASE") == 0) {
    q->done.rc = 0;
    s->txn_writes++;
    return;
  }
  /* Undo this write only; the flush's transaction stays open. */
  if (store_step_done(s, ST_ROLLBACK_TO, "ROLLBACK TO") != 0 ||
      store_step_done(s, ST_RELEASE, "RELEASE") != 0)
    store_log(s->db, "undo a write in a flush");
}

int store_sqlite_flush(ec_store_t *base) {
  store_db_t *s = (store_db_t *)base;
  if (s == NULL)
    return EC_EINVAL;
  if (s->queue == NULL || s->flushing)
    return 0;
  /* Take the queue: what the callbacks queue waits for the next flush. */
  store_queued_t *list = s->queue;
  s->queue = NULL;
  s->queue_tail = &s->queue;
  size_t n = s->n_queued;

  int rc = store_step_done(s, ST_BEGIN, "BEGIN IMMEDIATE");
  if (rc == 0) {
    s->txn_writes = 0; /* counted as each write's savepoint is released */
    s->flushing = true;
    for (store_queued_t *q = list; q != NULL; q = q->next)
      apply_one(s, q);
    s->flushing = false;
    rc = store_step_done(s, ST_COMMIT, "COMMIT");
    if (rc != 0)
      store_rollback(s);
  }
  if (rc != 0)
    ec_log(EC_LOG_ERROR, "store: a flush of %zu writes failed: none stored",
           n);
  /* Committed (or not): now, and only now, each write learns its fate. */
  while (list != NULL) {
    store_queued_t *q = list;
    list = q->next;
    if (rc != 0)
      q->done = (ec_status_done_t){EC_ESTORE, 0, 0};
    s->n_queued--;
    q->fn(q->ud, &q->done);
    free(q);
  }
  return rc;
}
