/* edgecoap: the PostgreSQL store's reads that do not wait: a connection of their own, polled by the I/O loop. */
/* SPDX-License-Identifier: Apache-2.0 */

/*
 * A read on s->conn holds the server's I/O loop until PostgreSQL answers:
 * every other request waits behind a read stuck on a lock. The reads the
 * server may take up and answer later (ec_store_prov_select_start) go to a
 * third connection instead, non-blocking and made at the first such read:
 * one statement in flight at a time, the others queued behind it in the
 * order they came, each sent with its parameters copied. The I/O loop
 * polls its socket (ec_store_read_fd) and the store's flush reads what has
 * come and runs the callbacks.
 *
 * Each read is answered within EC_STORE_WAIT_MS of its start, whatever is
 * ahead of it: past that bound its callback runs with EC_ETIMEOUT, whether
 * it is still queued (it is then never sent) or on the wire (its result,
 * when it comes, is thrown away). The connection is made with
 * statement_timeout at EC_STORE_WAIT_MS too, so that a statement stuck on
 * a lock does not hold the reads behind it for longer than that. At most
 * EC_STORE_READS_MAX reads wait at a time; one more is refused at once
 * (EC_EBUSY), so a flood of reads while PostgreSQL is slow costs bounded
 * memory. A read is only a read: when the connection fails or cannot be
 * made, every read on it fails with EC_ETIMEOUT (the server answers 5.03
 * with Max-Age) and the next read connects again, at most every
 * EC_STORE_PG_RETRY_MS.
 */
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgecoap/error.h"
#include "log.h"
#include "pg_internal.h"
#include "util.h"


typedef struct pg_read pg_read_t;

struct pg_read {
  pg_read_t *next;
  char *v[PG_PROV_SELECT_NPARAMS]; /* the parameters, malloc'd */
  int64_t due_ms; /* ec_mono_ms() past which it fails (EC_ETIMEOUT) */
  ec_prov_select_fn fn;
  void *ud;
};

struct pg_reads {
  PGconn *c;            /* made; NULL: none yet, or lost */
  pg_dial_t dial;       /* the next c, while c is NULL */
  char *opts;           /* its server options (pg_bounded_options) */
  bool sent;            /* a statement is in flight on c */
  pg_read_t *flying;    /* its read; NULL once that failed on its bound */
  PGresult *res;        /* the statement's result, until libpq's NULL */
  pg_read_t *head, **tail; /* the reads not sent yet, in start order */
  size_t n;             /* reads whose callback has not run */
};

static void read_free(pg_read_t *r) {
  for (int i = 0; i < PG_PROV_SELECT_NPARAMS; i++)
    free(r->v[i]);
  free(r);
}

/* Run @p r's callback with @p rc and, when 0, the rows of @p res; free it. */
static void complete(struct pg_reads *q, pg_read_t *r, int rc,
                     const PGresult *res) {
  q->n--;
  ec_prov_component_t *rows = NULL;
  size_t n = 0;
  if (rc == 0)
    rc = pg_prov_rows(res, &rows, &n);
  r->fn(r->ud, rc, rows, n);
  read_free(r);
}

/* Take the head of the reads not sent yet off. */
static pg_read_t *take_head(struct pg_reads *q) {
  pg_read_t *r = q->head;
  q->head = r->next;
  if (q->head == NULL)
    q->tail = &q->head;
  r->next = NULL;
  return r;
}

/* Fail the read on the wire with @p rc (its result, if one comes, is
 * thrown away: statement_done()). */
static void fail_flying(struct pg_reads *q, int rc) {
  pg_read_t *r = q->flying;
  q->flying = NULL;
  complete(q, r, rc, NULL);
}

/* Fail every read whose bound has passed: the one on the wire (its result
 * will be thrown away) and the queued ones, which are in start order, so
 * the overdue ones are the first. */
static void expire(struct pg_reads *q, int64_t now) {
  size_t late = 0;
  if (q->flying != NULL && q->flying->due_ms <= now) {
    fail_flying(q, EC_ETIMEOUT);
    late++;
  }
  while (q->head != NULL && q->head->due_ms <= now) {
    complete(q, take_head(q), EC_ETIMEOUT, NULL);
    late++;
  }
  if (late > 0)
    ec_log(EC_LOG_WARN, "store: %zu read%s waited %d ms for PostgreSQL: "
           "answered as timed out", late, late == 1 ? "" : "s",
           EC_STORE_WAIT_MS);
}

/* The connection is gone (or never came): every read on it fails. */
static void lose(struct pg_reads *q, int rc, const char *why) {
  if (q->n > 0)
    ec_log(EC_LOG_ERROR, "store: PostgreSQL out of reach for reads (%s): "
           "%zu fail: %.200s", why, q->n,
           q->c != NULL ? PQerrorMessage(q->c) : "no connection");
  PQclear(q->res);
  q->res = NULL;
  PQfinish(q->c);
  q->c = NULL;
  pg_dial_drop(&q->dial);
  q->sent = false;
  if (q->flying != NULL)
    fail_flying(q, rc);
  while (q->head != NULL)
    complete(q, take_head(q), rc, NULL);
}

/* One step of making q->c; true once it is made and ready for reads. When
 * it cannot be (failed, given up, or not yet time to try again), every
 * read fails. */
static bool connect_step(pg_store_t *s, struct pg_reads *q) {
  if (!pg_dial_step(&q->dial, s->uri, q->opts)) {
    if (q->dial.c == NULL)
      lose(q, EC_ETIMEOUT, "connect");
    return false;
  }
  q->c = q->dial.c;
  q->dial.c = NULL;
  if (PQsetnonblocking(q->c, 1) != 0) {
    lose(q, EC_ETIMEOUT, "non-blocking");
    return false;
  }
  return true;
}

/* The statement in flight is done: its read's result, or the error; thrown
 * away when its read failed on its bound already. */
static void statement_done(struct pg_reads *q) {
  PGresult *res = q->res;
  pg_read_t *r = q->flying;
  q->res = NULL;
  q->sent = false;
  q->flying = NULL;
  if (r == NULL) {
    PQclear(res);
    return;
  }
  int rc = 0;
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    bool timeout = state != NULL && strcmp(state, PG_SQLSTATE_CANCELED) == 0;
    ec_log(timeout ? EC_LOG_WARN : EC_LOG_ERROR, "store: a read %s: %.200s",
           timeout ? "took too long" : "failed",
           res != NULL ? PQresultErrorMessage(res) : "no result");
    rc = timeout ? EC_ETIMEOUT : EC_ESTORE;
  }
  complete(q, r, rc, res);
  PQclear(res);
}

void pg_reads_pump(pg_store_t *s) {
  struct pg_reads *q = s->reads;
  if (q == NULL || (q->head == NULL && !q->sent))
    return;
  expire(q, (int64_t)ec_mono_ms());
  /* One the server closed while idle (a restart) is made again, rather
   * than failing the read sent on it. */
  if (q->c != NULL && !q->sent && pg_idle_closed(q->c)) {
    PQfinish(q->c);
    q->c = NULL;
    q->dial.next_try_ms = 0;
  }
  if (q->c == NULL && !connect_step(s, q))
    return;
  while (q->head != NULL || q->sent) {
    if (!q->sent) {
      pg_read_t *r = take_head(q);
      q->flying = r;
      q->sent = true;
      if (PQsendQueryParams(q->c, pg_prov_select_sql, PG_PROV_SELECT_NPARAMS,
                            NULL, (const char *const *)r->v, NULL, NULL,
                            1) != 1) {
        lose(q, EC_ETIMEOUT, "send");
        return;
      }
    }
    if (PQflush(q->c) < 0 || PQconsumeInput(q->c) != 1) {
      lose(q, EC_ETIMEOUT, "the connection failed");
      return;
    }
    /* The statement's result, then libpq's NULL: it is done. */
    while (!PQisBusy(q->c)) {
      PGresult *res = PQgetResult(q->c);
      if (res == NULL)
        break;
      if (q->res == NULL)
        q->res = res;
      else
        PQclear(res);
    }
    if (PQisBusy(q->c))
      return; /* more to come: the loop polls the socket */
    statement_done(q);
  }
}

int store_pg_prov_select_start(ec_store_t *base, const ec_prov_request_t *f,
                               int64_t owner_id, ec_prov_select_fn fn,
                               void *ud) {
  pg_store_t *s = (pg_store_t *)base;
  if (store_pg_unreachable(base))
    return EC_ETIMEOUT;
  if (s->reads == NULL) {
    s->reads = calloc(1, sizeof(*s->reads));
    char *opts = s->reads != NULL ? pg_bounded_options(s->uri) : NULL;
    if (opts == NULL) {
      free(s->reads);
      s->reads = NULL;
      return EC_ENOMEM;
    }
    s->reads->opts = opts;
    s->reads->tail = &s->reads->head;
  }
  if (s->reads->n >= EC_STORE_READS_MAX)
    return EC_EBUSY;
  pg_read_t *r = calloc(1, sizeof(*r));
  if (r == NULL)
    return EC_ENOMEM;
  int rc = pg_prov_select_params(f, owner_id, r->v);
  if (rc != 0) {
    free(r);
    return rc;
  }
  r->fn = fn;
  r->ud = ud;
  r->due_ms = (int64_t)ec_mono_ms() + EC_STORE_WAIT_MS;
  struct pg_reads *q = s->reads;
  *q->tail = r;
  q->tail = &r->next;
  q->n++;
  return 0;
}

/* Milliseconds until the first bound of a read still waiting passes. */
static int first_bound_ms(const struct pg_reads *q) {
  const pg_read_t *r = q->flying != NULL ? q->flying : q->head;
  if (r == NULL)
    return -1;
  int64_t left = r->due_ms - (int64_t)ec_mono_ms();
  return left < 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

/* What the reads poll for (store_pg_read_fd, without their bound). */
static int read_poll(struct pg_reads *q, short *events, int *due_ms) {
  if (q->c == NULL) {
    if (q->dial.c == NULL) {
      *due_ms = 0; /* a connect to start: flush now */
      return -1;
    }
    /* A connect polls for what libpq asked, and is stepped every few
     * milliseconds until made. */
    *events = q->dial.st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    *due_ms = 5;
    return PQsocket(q->dial.c);
  }
  if (!q->sent)
    *due_ms = 0; /* a statement to send: flush now */
  /* A statement polls for its answer. */
  *events = PQflush(q->c) == 1 ? POLLIN | POLLOUT : POLLIN;
  return PQsocket(q->c);
}

int store_pg_read_fd(ec_store_t *base, short *events, int *due_ms) {
  struct pg_reads *q = ((pg_store_t *)base)->reads;
  if (q == NULL || (q->head == NULL && !q->sent))
    return -1;
  int fd = read_poll(q, events, due_ms);
  /* The flush fails a read whose bound has passed (expire). */
  int bound = first_bound_ms(q);
  if (bound >= 0 && (*due_ms < 0 || bound < *due_ms))
    *due_ms = bound;
  return fd;
}

size_t store_pg_reading(const ec_store_t *base) {
  const struct pg_reads *q = ((const pg_store_t *)base)->reads;
  return q != NULL ? q->n : 0;
}

void pg_reads_close(pg_store_t *s) {
  struct pg_reads *q = s->reads;
  if (q == NULL)
    return;
  lose(q, EC_ESTORE, "closing");
  free(q->opts);
  free(q);
  s->reads = NULL;
}
