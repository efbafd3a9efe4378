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
 * The connection is made with statement_timeout at EC_STORE_WAIT_MS, so
 * that a read stuck on a lock fails (EC_ETIMEOUT) in bounded time rather
 * than holding its request, and those queued behind it, for ever. A read
 * is only a read: when the connection fails or cannot be made, every read
 * on it fails with EC_ETIMEOUT (the server answers 5.03 with Max-Age) and
 * the next read connects again, at most every EC_STORE_PG_RETRY_MS.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgecoap/error.h"
#include "log.h"
#include "pg_internal.h"
#include "util.h"

#ifndef EC_STORE_PG_RETRY_MS
#define EC_STORE_PG_RETRY_MS 250
#endif
#ifndef EC_STORE_PG_CONNECT_MS
#define EC_STORE_PG_CONNECT_MS 2000
#endif

/* The PostgreSQL error of a statement cancelled by statement_timeout. */
#define SQLSTATE_CANCELED "57014"

typedef struct pg_read pg_read_t;

struct pg_read {
  pg_read_t *next;
  char *v[PG_PROV_SELECT_NPARAMS]; /* the parameters, malloc'd */
  ec_prov_select_fn fn;
  void *ud;
};

struct pg_reads {
  PGconn *c;            /* NULL: none yet, or lost */
  bool connected;       /* c is made (else connecting) */
  PostgresPollingStatusType st; /* connecting: what libpq waits for */
  bool sent;            /* the head's statement is in flight */
  PGresult *res;        /* the head's result, until libpq's NULL */
  int64_t connect_until_ms, next_try_ms;
  pg_read_t *head, **tail;
  size_t n;
};

static int64_t now_ms(void) {
  return (int64_t)ec_mono_ms();
}

static void read_free(pg_read_t *r) {
  for (int i = 0; i < PG_PROV_SELECT_NPARAMS; i++)
    free(r->v[i]);
  free(r);
}

/* Take the head off and run its callback with @p rc and, when 0, the rows
 * of @p res. */
static void complete_head(struct pg_reads *q, int rc, const PGresult *res) {
  pg_read_t *r = q->head;
  q->head = r->next;
  if (q->head == NULL)
    q->tail = &q->head;
  q->n--;
  ec_prov_component_t *rows = NULL;
  size_t n = 0;
  if (rc == 0)
    rc = pg_prov_rows(res, &rows, &n);
  r->fn(r->ud, rc, rows, n);
  read_free(r);
}

/* The connection is gone (or never came): every read on it fails. */
static void lose(struct pg_reads *q, int rc, const char *why) {
  if (q->c != NULL && q->n > 0)
    ec_log(EC_LOG_ERROR, "store: PostgreSQL out of reach for reads (%s): "
           "%zu fail: %.200s", why, q->n, PQerrorMessage(q->c));
  PQclear(q->res);
  q->res = NULL;
  PQfinish(q->c);
  q->c = NULL;
  q->connected = q->sent = false;
  while (q->head != NULL)
    complete_head(q, rc, NULL);
}

/* Start the connection; false (the reads failed) when it cannot be. */
static bool connect_start(pg_store_t *s, struct pg_reads *q) {
  int64_t now = now_ms();
  if (now < q->next_try_ms)
    return false;
  q->next_try_ms = now + EC_STORE_PG_RETRY_MS;
  /* The timeout joins the URI's own options (a search_path ...), which
   * the parameter given here replaces. */
  const char *theirs = "";
  PQconninfoOption *info = PQconninfoParse(s->uri, NULL);
  for (PQconninfoOption *o = info; o != NULL && o->keyword != NULL; o++)
    if (strcmp(o->keyword, "options") == 0 && o->val != NULL)
      theirs = o->val;
  size_t cap = strlen(theirs) + 48;
  char *opts = malloc(cap);
  if (opts != NULL)
    snprintf(opts, cap, "%s -c statement_timeout=%d", theirs,
             EC_STORE_WAIT_MS);
  q->c = opts != NULL ? pg_connect_start(s->uri, opts) : NULL;
  free(opts);
  PQconninfoFree(info);
  if (q->c == NULL || PQstatus(q->c) == CONNECTION_BAD) {
    PQfinish(q->c);
    q->c = NULL;
    return false;
  }
  q->connected = false;
  q->st = PGRES_POLLING_WRITING;
  q->connect_until_ms = now + EC_STORE_PG_CONNECT_MS;
  return true;
}

/* One step of the connect in progress. */
static void connect_step(struct pg_reads *q) {
  PostgresPollingStatusType st = q->st = PQconnectPoll(q->c);
  if (st == PGRES_POLLING_OK) {
    if (PQsetnonblocking(q->c, 1) != 0) {
      lose(q, EC_ETIMEOUT, "non-blocking");
      return;
    }
    q->connected = true;
  } else if (st == PGRES_POLLING_FAILED || now_ms() >= q->connect_until_ms) {
    lose(q, EC_ETIMEOUT, "connect");
  }
}

/* The head's statement is done: its result, or the error. */
static void head_done(struct pg_reads *q) {
  PGresult *res = q->res;
  q->res = NULL;
  q->sent = false;
  int rc = 0;
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    bool timeout = state != NULL && strcmp(state, SQLSTATE_CANCELED) == 0;
    ec_log(timeout ? EC_LOG_WARN : EC_LOG_ERROR, "store: a read %s: %.200s",
           timeout ? "took too long" : "failed",
           res != NULL ? PQresultErrorMessage(res) : "no result");
    rc = timeout ? EC_ETIMEOUT : EC_ESTORE;
  }
  complete_head(q, rc, res);
  PQclear(res);
}

void pg_reads_pump(pg_store_t *s) {
  struct pg_reads *q = s->reads;
  if (q == NULL || q->head == NULL)
    return;
  /* One the server closed while idle (a restart) is made again, rather
   * than failing the read sent on it. */
  if (q->c != NULL && q->connected && !q->sent && pg_idle_closed(q->c)) {
    PQfinish(q->c);
    q->c = NULL;
    q->next_try_ms = 0;
  }
  if (q->c == NULL && !connect_start(s, q)) {
    lose(q, EC_ETIMEOUT, "connect");
    return;
  }
  if (!q->connected) {
    connect_step(q);
    if (!q->connected)
      return;
  }
  while (q->head != NULL) {
    if (!q->sent) {
      pg_read_t *r = q->head;
      if (PQsendQueryParams(q->c, pg_prov_select_sql, PG_PROV_SELECT_NPARAMS,
                            NULL, (const char *const *)r->v, NULL, NULL,
                            1) != 1) {
        lose(q, EC_ETIMEOUT, "send");
        return;
      }
      q->sent = true;
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
    head_done(q);
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
    if (s->reads == NULL)
      return EC_ENOMEM;
    s->reads->tail = &s->reads->head;
  }
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
  struct pg_reads *q = s->reads;
  *q->tail = r;
  q->tail = &r->next;
  q->n++;
  return 0;
}

int store_pg_read_fd(ec_store_t *base, short *events, int *due_ms) {
  struct pg_reads *q = ((pg_store_t *)base)->reads;
  if (q == NULL || q->head == NULL)
    return -1;
  if (q->c == NULL || !q->sent) {
    *due_ms = 0; /* a connect to start or a statement to send: flush now */
    if (q->c == NULL)
      return -1;
  }
  /* A connect polls for what libpq asked; a statement for its answer. */
  if (!q->connected)
    *events = q->st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
  else
    *events = PQflush(q->c) == 1 ? POLLIN | POLLOUT : POLLIN;
  if (!q->connected && *due_ms < 0)
    *due_ms = 5; /* stepped every few milliseconds until made */
  return PQsocket(q->c);
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
  free(q);
  s->reads = NULL;
}
