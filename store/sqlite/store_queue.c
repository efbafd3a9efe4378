/* edgecoap SQLite store: queued writes (status reports, message posts), flushed
 * as one transaction (the group commit). */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "edgecoap/error.h"
#include "log.h"
#include "store_internal.h"

/*
 * SQLite commits at once, so a flush is: BEGIN IMMEDIATE, each queued write
 * (a write that fails undoes only itself and the others go on: see
 * store_sqlite_flush()), the roll-ups' times (store_fleet_flush()), COMMIT
 * with synchronous=FULL, then the callbacks in queue order. Nothing is written before the flush, so the write lock is held
 * only while the flush runs, and no read between a queueing and its flush
 * sees a write whose commit is not known.
 */

/* Put @p q at the queue's end. */
static void enqueue(store_db_t *s, store_queued_t *q, store_qkind_t kind,
                    void *ud) {
  q->next = NULL;
  q->refused = false;
  q->kind = kind;
  q->ud = ud;
  *s->queue_tail = q;
  s->queue_tail = &q->next;
  s->n_queued++;
}

int store_sqlite_status_queue(ec_store_t *base, const ec_status_write_t *w,
                              ec_status_done_fn fn, void *ud) {
  store_db_t *s = (store_db_t *)base;
  if (fn == NULL || store_status_check(s, w) < 0)
    return EC_EINVAL;
  /* One block: the entry, then the copies of what the write points at. */
  store_queued_t *q =
      ec__store_status_dup(w, sizeof(*q), offsetof(store_queued_t, u.st.w));
  if (q == NULL)
    return EC_ENOMEM;
  q->u.st.fn = fn;
  q->u.st.done = (ec_status_done_t){EC_ESTORE, 0, 0};
  enqueue(s, q, STORE_Q_STATUS, ud);
  return 0;
}

int store_sqlite_msg_queue(ec_store_t *base, const ec_store_msg_write_t *w,
                           size_t n, int64_t received_at_ms,
                           const ec_store_msg_request_t *req, ec_msg_done_fn fn,
                           void *ud) {
  store_db_t *s = (store_db_t *)base;
  if (fn == NULL || store_msg_check(s, w, n, req) < 0)
    return EC_EINVAL;
  store_queued_t *q = malloc(sizeof(*q));
  if (q == NULL)
    return EC_ENOMEM;
  q->u.msg.w = w;
  q->u.msg.n = n;
  q->u.msg.received_at_ms = received_at_ms;
  q->u.msg.req = req;
  q->u.msg.fn = fn;
  q->u.msg.done = (ec_msg_done_t){EC_ESTORE, 0};
  enqueue(s, q, STORE_Q_MSGS, ud);
  return 0;
}

bool store_queue_has_request(const store_db_t *s,
                             const ec_store_msg_request_t *r) {
  for (const store_queued_t *q = s->queue; q != NULL; q = q->next) {
    const ec_store_msg_request_t *o = q->u.msg.req;
    if (q->kind == STORE_Q_MSGS && o != NULL && o->id_len == r->id_len &&
        memcmp(o->id, r->id, r->id_len) == 0 && strcmp(o->scope, r->scope) == 0)
      return true;
  }
  return false;
}

size_t store_sqlite_queued(const ec_store_t *base) {
  const store_db_t *s = (const store_db_t *)base;
  return s != NULL ? s->n_queued : 0;
}

/* Apply @p q's write inside the open transaction; its outcome to q's done. */
static int apply_write(store_db_t *s, store_queued_t *q) {
  if (q->kind == STORE_Q_STATUS)
    return store_status_apply(s, &q->u.st.w, &q->u.st.done.created,
                              &q->u.st.done.seq);
  return store_msg_apply(s, q->u.msg.w, q->u.msg.n, q->u.msg.received_at_ms,
                         q->u.msg.req, &q->u.msg.done.first_id);
}

/* Set @p q's outcome to @p rc, keeping what apply_write() said of it. */
static void set_rc(store_queued_t *q, int rc) {
  if (q->kind == STORE_Q_STATUS)
    q->u.st.done.rc = rc;
  else
    q->u.msg.done.rc = rc;
}

/* Tell @p q's caller what became of it. */
static void complete(store_queued_t *q, int rc) {
  if (q->kind == STORE_Q_STATUS) {
    if (rc != 0)
      q->u.st.done = (ec_status_done_t){EC_ESTORE, 0, 0};
    q->u.st.fn(q->ud, &q->u.st.done);
  } else {
    if (rc != 0)
      q->u.msg.done = (ec_msg_done_t){EC_ESTORE, 0};
    q->u.msg.fn(q->ud, &q->u.msg.done);
  }
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

  /* Every write of the queue in one transaction. One that fails takes the
   * transaction with it: it is rolled back and made again without that
   * write, so a failed write undoes only itself, as a savepoint per write
   * would have it, but without a savepoint's cost for every write (writes
   * fail rarely: a Request-Id used twice, a full disk). At most one round
   * per write. */
  int rc;
  for (;;) {
    rc = store_step_done(s, ST_BEGIN, "BEGIN IMMEDIATE");
    if (rc != 0)
      break;
    s->txn_writes = 0; /* counted as each write is applied */
    s->flushing = true;
    store_queued_t *failed = NULL;
    for (store_queued_t *q = list; q != NULL && failed == NULL; q = q->next) {
      if (q->refused)
        continue;
      if (apply_write(s, q) != 0)
        failed = q;
      else
        s->txn_writes++;
    }
    s->flushing = false;
    if (failed == NULL) {
      rc = store_fleet_flush(s);
      if (rc == 0)
        rc = store_step_done(s, ST_COMMIT, "COMMIT");
      if (rc != 0)
        store_rollback(s);
      break;
    }
    store_rollback(s);
    failed->refused = true;
  }
  if (rc == 0)
    for (store_queued_t *q = list; q != NULL; q = q->next)
      if (!q->refused)
        set_rc(q, 0);
  if (rc != 0)
    ec_log(EC_LOG_ERROR, "store: a flush of %zu writes failed: none stored",
           n);
  /* Committed (or not): now, and only now, each write learns its fate. */
  while (list != NULL) {
    store_queued_t *q = list;
    list = q->next;
    s->n_queued--;
    complete(q, rc);
    free(q);
  }
  return rc;
}

/* SQLite's flush runs the whole commit and every callback before it
 * returns: there is nothing more to wait for. */
int store_sqlite_wait(ec_store_t *base) {
  return store_sqlite_flush(base);
}
