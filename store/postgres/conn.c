/* edgecoap: the PostgreSQL store's connections: queued writes pipelined, one transaction per round, reads beside them, reconnecting. */
/* SPDX-License-Identifier: Apache-2.0 */

/*
 * Two connections. s->conn is used synchronously, for reads and the
 * synchronous writes. s->pipe is in libpq's pipeline mode and
 * non-blocking: a flush sends every queued write's statements and one
 * Sync, so that the round is one implicit transaction, committed when the
 * Sync is reached and rolled back when any statement failed, and returns
 * without waiting. Later flushes (the server's I/O loop polls the socket:
 * ec_store_fd()) read the results; when the Sync's result comes, every
 * write of the round learns its fate, in queue order. While a round is in
 * flight, the writes queued meanwhile go as the next round, sent at once
 * behind it (PG_ROUNDS_MAX in flight at most), so that PostgreSQL starts
 * on it as soon as the first one committed and the server answers the
 * first one's writes meanwhile. PostgreSQL runs one connection's
 * transactions one after the other, in the order sent.
 *
 * A statement that fails aborts its round: the round's writes are sent
 * again, each followed by its own Sync (one transaction each, still in one
 * flight), so that only the guilty one fails. The rounds behind it must
 * not commit first (a later write to the same pair, or a later post to the
 * feed, would overtake it): each round of one transaction begins with
 * ec_round_follows(previous, own number) (schema 7), which fails unless
 * the round sent before it committed, and records its own number in a
 * session setting that a rollback takes back. So a round behind a failed
 * one fails at its first statement and is sent again, as a round, after
 * the failed one's writes were re-run; and a round that commits proves
 * that every round before it on the connection did. Nothing is sent
 * behind a re-run, nor behind a round known to have failed.
 *
 * A lost connection leaves the writes in flight in doubt (the rounds'
 * chain holds there too: a later round committed only if the earlier
 * ones did): their commit may have happened without its answer. After reconnecting (each flush tries,
 * at most every EC_STORE_PG_RETRY_MS), each is asked about (its kind's
 * resolve(), by its request identifier): committed, it completes as such;
 * not, it is sent again; who cannot tell fails, unacknowledged. Writes
 * waiting longer than EC_STORE_WAIT_MS while PostgreSQL is out of reach
 * fail with EC_ETIMEOUT, so that the server answers 5.03 with Max-Age.
 * Nothing is reported committed that did not reach its Sync without error.
 */
#include <errno.h>
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

static int64_t now_ms(void) {
  return (int64_t)ec_mono_ms();
}

/* The server's notices and warnings go to the log, not to stderr. */
static void notice(void *ud, const char *msg) {
  (void)ud;
  size_t len = strlen(msg);
  while (len > 0 && msg[len - 1] == '\n')
    len--;
  ec_log(EC_LOG_WARN, "store: PostgreSQL says: %.*s", (int)len, msg);
}

/* Settings as connection parameters, not SET, so that a reset keeps them.
 * Times in the schema are integers; only the client encoding matters for
 * the ids' text. */
static const char *const conn_keys[] = {"dbname", "client_encoding",
                                        "connect_timeout", "options", NULL};

static PGconn *connect_with(const char *uri, const char *options) {
  const char *const v[] = {uri, "UTF8", "5", options, NULL};
  PGconn *c = PQconnectdbParams(conn_keys, v, 1);
  if (c != NULL)
    PQsetNoticeProcessor(c, notice, NULL);
  return c;
}

PGconn *pg_connect(const char *uri) {
  return connect_with(uri, NULL);
}

char *pg_bounded_options(const char *uri) {
  const char *theirs = "";
  PQconninfoOption *info = PQconninfoParse(uri, NULL);
  for (PQconninfoOption *o = info; o != NULL && o->keyword != NULL; o++)
    if (strcmp(o->keyword, "options") == 0 && o->val != NULL)
      theirs = o->val;
  size_t cap = strlen(theirs) + 48;
  char *opts = malloc(cap);
  if (opts != NULL)
    snprintf(opts, cap, "%s -c statement_timeout=%d", theirs,
             EC_STORE_WAIT_MS);
  PQconninfoFree(info);
  return opts;
}

PGconn *pg_connect_start(const char *uri, const char *options) {
  const char *const v[] = {uri, "UTF8", "5", options, NULL};
  PGconn *c = PQconnectStartParams(conn_keys, v, 1);
  if (c != NULL)
    PQsetNoticeProcessor(c, notice, NULL);
  return c;
}

/* How long a reconnect may take before it is given up and tried again
 * (libpq bounds only its blocking connects by connect_timeout). */
#ifndef EC_STORE_PG_CONNECT_MS
#define EC_STORE_PG_CONNECT_MS 2000
#endif

void pg_dial_drop(pg_dial_t *d) {
  PQfinish(d->c);
  d->c = NULL;
}

bool pg_dial_step(pg_dial_t *d, const char *uri, const char *options) {
  int64_t now = now_ms();
  if (d->c == NULL) {
    if (now < d->next_try_ms)
      return false;
    d->next_try_ms = now + EC_STORE_PG_RETRY_MS;
    d->c = pg_connect_start(uri, options);
    if (d->c == NULL || PQstatus(d->c) == CONNECTION_BAD) {
      pg_dial_drop(d);
      return false;
    }
    d->st = PGRES_POLLING_WRITING;
    d->until_ms = now + EC_STORE_PG_CONNECT_MS;
  }
  if (d->st != PGRES_POLLING_OK)
    d->st = PQconnectPoll(d->c);
  if (d->st == PGRES_POLLING_OK)
    return true;
  if (d->st == PGRES_POLLING_FAILED || now >= d->until_ms)
    pg_dial_drop(d); /* tried again after EC_STORE_PG_RETRY_MS */
  return false;
}

/* Log @p c's last error as "store: WHAT: ...". */
static void log_conn(PGconn *c, const char *what) {
  const char *msg = c != NULL ? PQerrorMessage(c) : "out of memory";
  size_t len = strlen(msg);
  while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
    len--;
  ec_log(EC_LOG_ERROR, "store: %s: %.*s", what, (int)len, msg);
}

/* LISTEN on @p c (not in pipeline mode yet) to the store's channel; 0 or
 * EC_ESTORE (logged). */
static int listen_on(pg_store_t *s, PGconn *c) {
  char *id = PQescapeIdentifier(c, s->channel, strlen(s->channel));
  if (id == NULL) {
    log_conn(c, "name the channel");
    return EC_ESTORE;
  }
  char sql[160];
  snprintf(sql, sizeof(sql), "LISTEN %s", id);
  PQfreemem(id);
  PGresult *res = PQexec(c, sql);
  int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : EC_ESTORE;
  if (rc != 0)
    log_conn(c, "LISTEN");
  PQclear(res);
  return rc;
}

/* Make connected @p c the pipeline's: listening when the store does,
 * in pipeline mode; @p c, or NULL (logged, @p c finished). */
static PGconn *setup_pipe(pg_store_t *s, PGconn *c) {
  PQsetNoticeProcessor(c, notice, NULL);
  if (s->listen_fn != NULL && listen_on(s, c) != 0) {
    PQfinish(c);
    return NULL;
  }
  if (PQenterPipelineMode(c) != 1 || PQsetnonblocking(c, 1) != 0) {
    log_conn(c, "enter pipeline mode");
    PQfinish(c);
    return NULL;
  }
  return c;
}

/* The pipeline connection, made at once (at open), or NULL (logged). */
static PGconn *open_pipe(pg_store_t *s) {
  PGconn *c = connect_with(s->uri, s->pipe_opts);
  if (c == NULL || PQstatus(c) != CONNECTION_OK) {
    log_conn(c, "connect to PostgreSQL for writes");
    PQfinish(c);
    return NULL;
  }
  return setup_pipe(s, c);
}

int pg_conn_open(pg_store_t *s, const char *uri) {
  s->queue_tail = &s->queue;
  s->uri = strdup(uri);
  s->pipe_opts = pg_bounded_options(uri);
  if (s->uri == NULL || s->pipe_opts == NULL)
    return EC_ENOMEM;
  s->conn = pg_connect(uri);
  if (s->conn == NULL)
    return EC_ENOMEM;
  if (PQstatus(s->conn) != CONNECTION_OK) {
    log_conn(s->conn, "connect to PostgreSQL");
    return EC_ESTORE;
  }
  /* Notifications are database-wide: each schema (a store) has its own
   * channel, named as the schema. */
  PGresult *res = PQexec(s->conn, "SELECT current_schema()");
  if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
      PQgetisnull(res, 0, 0)) {
    log_conn(s->conn, "name the schema");
    PQclear(res);
    return EC_ESTORE;
  }
  snprintf(s->channel, sizeof(s->channel), "%s", PQgetvalue(res, 0, 0));
  PQclear(res);
  s->pipe = open_pipe(s);
  return s->pipe != NULL ? 0 : EC_ESTORE;
}

/* A closing server sends its reason, then the end of the stream, and
 * libpq notices only when it reads them. */
bool pg_idle_closed(PGconn *c) {
  for (int i = 0; i < 2 && PQstatus(c) == CONNECTION_OK; i++) {
    struct pollfd p = {PQsocket(c), POLLIN, 0};
    if (poll(&p, 1, 0) <= 0)
      break;
    if (PQconsumeInput(c) != 1)
      return true;
  }
  return PQstatus(c) != CONNECTION_OK;
}

void pg_conn_check(pg_store_t *s) {
  int64_t now = now_ms();
  if (!s->resetting) {
    if (!pg_idle_closed(s->conn) || now < s->conn_try_ms)
      return;
    s->conn_try_ms = now + EC_STORE_PG_RETRY_MS;
    if (PQresetStart(s->conn) != 1)
      return;
    s->resetting = true;
    s->reset_until_ms = now + EC_STORE_PG_CONNECT_MS;
  }
  /* One step of the reset; a statement meanwhile fails at once ("no
   * connection"), as it would while PostgreSQL is away. */
  PostgresPollingStatusType st = PQresetPoll(s->conn);
  if (st == PGRES_POLLING_OK) {
    s->resetting = false;
    ec_log(EC_LOG_INFO, "store: reconnected to PostgreSQL for reads");
  } else if (st == PGRES_POLLING_FAILED || now >= s->reset_until_ms) {
    s->resetting = false; /* tried again after EC_STORE_PG_RETRY_MS */
  }
}

int pg_send(pg_store_t *s, const pg_stmt_t *st, int n,
            const char *const *vals, const int *lens, const int *fmts) {
  size_t i = 0;
  while (i < s->n_stmts && s->stmts[i] != st)
    i++;
  if (i == s->n_stmts && i < PG_STMTS_MAX)
    s->stmts[s->n_stmts++] = st; /* prepared at the next idle moment */
  int ok = i < s->n_prepared
               ? PQsendQueryPrepared(s->pipe, st->name, n, vals, lens, fmts, 1)
               : PQsendQueryParams(s->pipe, st->sql, n, NULL, vals, lens,
                                   fmts, 1);
  if (ok != 1) {
    log_conn(s->pipe, "send a write");
    return EC_ESTORE;
  }
  return 0;
}

/* With no round in flight: prepare the statements used but not prepared
 * on this connection yet, out of pipeline mode (which allows only
 * asynchronous calls; this happens once per statement and connection,
 * as LISTEN does). 0, or EC_ESTORE (logged: the connection is lost). */
static int prepare_new(pg_store_t *s) {
  if (PQexitPipelineMode(s->pipe) != 1) {
    log_conn(s->pipe, "leave pipeline mode to prepare");
    return EC_ESTORE;
  }
  int rc = 0;
  for (; s->n_prepared < s->n_stmts && rc == 0; s->n_prepared++) {
    const pg_stmt_t *st = s->stmts[s->n_prepared];
    PGresult *res = PQprepare(s->pipe, st->name, st->sql, 0, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
      pg_log(s, res, "prepare a write's statement");
      rc = EC_ESTORE;
    }
    PQclear(res);
  }
  if (PQenterPipelineMode(s->pipe) != 1) {
    log_conn(s->pipe, "enter pipeline mode");
    rc = EC_ESTORE;
  }
  return rc;
}

void pg_queue_add(pg_store_t *s, pg_write_t *w) {
  w->next = NULL;
  w->serial = ++s->serial;
  w->queued_ms = now_ms();
  w->n_sent = w->n_seen = 0;
  w->rc = 0;
  w->in_doubt = false;
  *s->queue_tail = w;
  s->queue_tail = &w->next;
  s->n_queued++;
}

/* Take @p w (after @p prev, NULL: the head) off the queue and tell its
 * caller @p rc. The store's state is whole before the callback runs, as
 * it may call the store. */
static void complete(pg_store_t *s, pg_write_t *prev, pg_write_t *w, int rc) {
  pg_write_t **at = prev != NULL ? &prev->next : &s->queue;
  *at = w->next;
  if (s->queue_tail == &w->next)
    s->queue_tail = at;
  s->n_queued--;
  w->ops->done(s, w, rc);
}

/* The queued write before @p w (NULL: @p w is the queue's first). */
static pg_write_t *queued_before(const pg_store_t *s, const pg_write_t *w) {
  pg_write_t *prev = NULL;
  for (pg_write_t *q = s->queue; q != NULL && q != w; q = q->next)
    prev = q;
  return prev;
}

/* Complete the @p n queued writes from @p first on, with @p rc. */
static void complete_run(pg_store_t *s, pg_write_t *first, size_t n, int rc) {
  pg_write_t *prev = queued_before(s, first);
  for (size_t i = 0; i < n; i++)
    complete(s, prev, prev != NULL ? prev->next : s->queue, rc);
}

/* ------------------------------------------------------------------------ */
/* Rounds                                                                   */
/* ------------------------------------------------------------------------ */

static void lose(pg_store_t *s, const char *why);

/* PostgreSQL refuses a NOTIFY payload of 8000 bytes or more: hints that
 * would pass this become "*", "anything may have changed". */
#define HINT_MAX 7900

int pg_hint_status(char *buf, size_t cap, const char *dev, const char *dep) {
  /* Lengths first, so that an id may hold any character. */
  return snprintf(buf, cap, "S%zu:%s%zu:%s", strlen(dev), dev, strlen(dep),
                  dep);
}

int pg_hint_messages(char *buf, size_t cap) {
  return snprintf(buf, cap, "M");
}

/* Count the @p k bytes (snprintf's) just written at @p buf + *len into
 * one NOTIFY's hints (HINT_MAX + 1 bytes); false when they did not fit:
 * the hints are then "*". */
static bool hint_took(char *buf, size_t *len, int k) {
  if (k < 0)
    return true;
  if ((size_t)k >= HINT_MAX + 1 - *len) {
    *len = (size_t)snprintf(buf, HINT_MAX + 1, "*");
    return false;
  }
  *len += (size_t)k;
  return true;
}

int pg_notify_provisionings(pg_store_t *s, const int64_t *ids, size_t n) {
  char buf[HINT_MAX + 1];
  size_t len = 0;
  for (size_t i = 0; i < n; i++) {
    char id[24];
    int k = snprintf(id, sizeof(id), "%lld", (long long)ids[i]);
    if (!hint_took(buf, &len, snprintf(buf + len, sizeof(buf) - len,
                                       "P%d:%s", k, id)))
      break;
  }
  if (len == 0)
    return 0;
  const char *v[] = {s->channel, buf};
  return pg_query(s, "SELECT pg_notify($1, $2)", 2, v, NULL, NULL, NULL,
                  "NOTIFY");
}

/* One NOTIFY for the @p n writes from @p w: their hints, none when no
 * write has one; 1 (sent), 0 (none) or EC_ESTORE. Other servers hear it once it commits
 * (it is part of the transaction), this one never (store_pg_flush()). */
static int send_hints(pg_store_t *s, const pg_write_t *w, size_t n) {
  char buf[HINT_MAX + 1];
  size_t len = 0;
  for (size_t i = 0; i < n && w != NULL; i++, w = w->next) {
    int k = w->ops->hint != NULL ? w->ops->hint(w, buf + len,
                                                sizeof(buf) - len)
                                 : 0;
    if (!hint_took(buf, &len, k))
      break;
  }
  if (len == 0)
    return 0;
  static const pg_stmt_t notify = {"ec_notify", "SELECT pg_notify($1, $2)"};
  const char *v[] = {s->channel, buf};
  return pg_send(s, &notify, 2, v, NULL, NULL) == 0 ? 1 : EC_ESTORE;
}

/* What stands for the @p n writes from @p w once: each kind's round
 * statements, then the NOTIFY; 0 or EC_ESTORE. @p r: the round whose
 * results they are (NULL: none read, a write re-run on its own). */
static int send_round_tail(pg_store_t *s, pg_round_t *r, pg_write_t *w,
                           size_t n) {
  const size_t cap = sizeof(r->tails) / sizeof(r->tails[0]);
  size_t n_kinds = 0, i = 0;
  const pg_write_ops_t *kinds[sizeof(r->tails) / sizeof(r->tails[0])];
  for (const pg_write_t *x = w; x != NULL && i < n; x = x->next, i++) {
    size_t k = 0;
    while (k < n_kinds && kinds[k] != x->ops)
      k++;
    if (k < n_kinds || x->ops->round == NULL || n_kinds == cap)
      continue;
    kinds[n_kinds++] = x->ops;
    int sent = x->ops->round(s, w, n);
    if (sent < 0)
      return EC_ESTORE;
    if (r != NULL && r->n_tails < cap) {
      r->tails[r->n_tails].ops = x->ops;
      r->tails[r->n_tails++].n = sent;
    }
  }
  int sent = send_hints(s, w, n);
  if (sent < 0)
    return EC_ESTORE;
  if (r != NULL)
    r->notified = sent > 0;
  return 0;
}

/* A result of round @p r after every write's own: one of a kind's round
 * statements (given to it), or the NOTIFY's. */
static void tail_result(pg_store_t *s, pg_round_t *r, const PGresult *res) {
  int k = r->tail_seen++;
  for (size_t t = 0; t < r->n_tails; k -= r->tails[t++].n) {
    if (k >= r->tails[t].n)
      continue;
    if (r->tails[t].ops->round_result != NULL)
      r->tails[t].ops->round_result(s, r->first, r->n, k, res);
    return;
  }
}

/* What failed when an error is a result of round @p r (not single) that
 * no write owns: one of the kinds' round statements (the status batch,
 * whose history rows refuse a Request-Id already stored), the NOTIFY or,
 * every one of those answered, the commit at the Sync. */
static const char *tail_failed(const pg_round_t *r) {
  int k = r->tail_seen;
  for (size_t t = 0; t < r->n_tails; t++)
    k -= r->tails[t].n;
  return k < 0                    ? "a round's batch statement"
         : k == 0 && r->notified ? "a round's NOTIFY"
                                  : "a round's commit";
}

/* The first queued write no round in flight holds, or NULL. */
static pg_write_t *first_unsent(const pg_store_t *s) {
  if (s->n_rounds == 0)
    return s->queue;
  const pg_round_t *last = &s->rounds[s->n_rounds - 1];
  pg_write_t *w = last->first;
  for (size_t i = 0; w != NULL && i < last->n; i++)
    w = w->next;
  return w;
}

/* Whether a round may go now, and how: a failed round's writes one by
 * one (*single) once nothing is in flight; otherwise a round of up to
 * EC_STORE_PG_ROUND_MAX writes, behind at most PG_ROUNDS_MAX - 1 others
 * that are all still well, when every statement used is prepared (a
 * pipeline never idle would never prepare them). */
static bool may_send(const pg_store_t *s, bool *single) {
  *single = s->rerun > 0;
  if (s->pipe == NULL || s->queue == NULL)
    return false;
  if (s->n_rounds == 0)
    return true;
  const pg_round_t *last = &s->rounds[s->n_rounds - 1];
  return !*single && s->n_rounds < PG_ROUNDS_MAX && !last->single &&
         !last->failed && s->n_prepared == s->n_stmts &&
         first_unsent(s) != NULL;
}

/* Send up to @p max writes from the first one unsent as a new round in
 * flight: one Sync after all of them, or (single) after each. A round
 * of one transaction begins with ec_round_follows() (schema 7), which
 * fails unless the round before it, if one is in flight, committed, and
 * bounds the round's statements by what is left of its oldest write's
 * EC_STORE_WAIT_MS (for that transaction only), so that writes sent again
 * behind a round that timed out on a lock still end within their bound.
 * A single write's transaction has the connection's statement_timeout. */
static void send_round(pg_store_t *s, size_t max, bool single) {
  pg_write_t *first = first_unsent(s);
  pg_round_t *r = &s->rounds[s->n_rounds];
  *r = (pg_round_t){.first = first, .cur = first, .single = single};
  s->single = single;
  if (!single) {
    static const pg_stmt_t follows = {
        "ec_round_follows",
        "SELECT ec_round_follows($1::int8, $2::int8),"
        " set_config('statement_timeout', $3, true)"};
    char prev[24], no[24], left[24];
    r->no = ++s->round_no;
    snprintf(prev, sizeof(prev), "%llu",
             s->n_rounds > 0 ? (unsigned long long)s->rounds[s->n_rounds - 1].no
                             : 0ULL);
    snprintf(no, sizeof(no), "%llu", (unsigned long long)r->no);
    /* 0 would be no bound at all. */
    int64_t ms = first->queued_ms + EC_STORE_WAIT_MS - now_ms();
    snprintf(left, sizeof(left), "%lld", (long long)(ms > 1 ? ms : 1));
    const char *v[] = {s->n_rounds > 0 ? prev : NULL, no, left};
    r->chained = true;
    if (pg_send(s, &follows, 3, v, NULL, NULL) != 0) {
      s->n_rounds++;
      lose(s, "a round could not be sent");
      return;
    }
  }
  size_t n = 0;
  for (pg_write_t *w = first; w != NULL && n < max; w = w->next, n++) {
    w->n_seen = 0;
    w->rc = 0;
    w->n_sent = w->ops->send(s, w);
    if (w->n_sent < 0 ||
        (single && (send_round_tail(s, NULL, w, 1) != 0 ||
                    PQpipelineSync(s->pipe) != 1))) {
      r->n = n + 1;
      s->n_rounds++;
      lose(s, "a write could not be sent");
      return;
    }
  }
  r->n = n;
  s->n_rounds++;
  r->t0 = ec_mono_us();
  if (!single && (send_round_tail(s, r, first, n) != 0 ||
                  PQpipelineSync(s->pipe) != 1)) {
    lose(s, "a round could not be sent");
    return;
  }
  if (PQflush(s->pipe) < 0)
    lose(s, "a round could not be sent");
}

/* The oldest round in flight is over: the next one is the oldest. */
static void pop_round(pg_store_t *s) {
  s->n_rounds--;
  memmove(&s->rounds[0], &s->rounds[1], s->n_rounds * sizeof(s->rounds[0]));
}

/* A Sync's result: the oldest round's transaction (or, single, its first
 * write's) ended. */
static void segment_end(pg_store_t *s) {
  pg_round_t *r = &s->rounds[0];
  bool failed = r->failed, timed_out = r->timed_out;
  r->failed = r->timed_out = false;
  if (r->single) {
    /* The head's own transaction. */
    pg_write_t *w = r->first;
    r->first = r->cur = w->next;
    if (--r->n == 0)
      pop_round(s);
    complete(s, NULL, w,
             timed_out ? EC_ETIMEOUT
             : failed || w->rc != 0 ? EC_ESTORE
                                    : 0);
    return;
  }
  size_t n = r->n;
  if (failed) {
    bool chain = r->chain_failed;
    pg_write_t *first = r->first;
    pop_round(s);
    if (chain)
      return; /* its writes go again, behind the failed round's */
    if (timed_out) {
      /* A statement waited EC_STORE_WAIT_MS (a lock): so did its writes,
       * none of them stored. Sent again, each would wait as long. */
      ec_metrics_add(s->metrics, EC_M_COMMITS_FAILED, 1);
      ec_log(EC_LOG_WARN, "store: a round of %zu writes waited for "
             "PostgreSQL until its oldest had waited %d ms: answered as "
             "timed out, nothing of it stored", n, EC_STORE_WAIT_MS);
      complete_run(s, first, n, EC_ETIMEOUT);
      return;
    }
    ec_metrics_add(s->metrics, EC_M_COMMITS_FAILED, 1);
    ec_log(EC_LOG_WARN, "store: a statement of a round of %zu writes failed:"
           " each is sent again on its own", n);
    /* Before anything behind them: the rounds still in flight fail at
     * their first statement and go again after these. */
    s->rerun = n;
    return;
  }
  ec_metrics_observe(s->metrics, EC_H_COMMIT_SECONDS,
                     ec_mono_us() - r->t0);
  ec_metrics_observe(s->metrics, EC_H_COMMIT_WRITES, n);
  /* Committed: each write's callback, in queue order. The round is taken
   * off first, so that a callback's flush sees it over. It commits only
   * behind writes all completed (the chain: one behind a failed round's
   * writes fails at ec_round_follows()), so its first write is the
   * queue's; were it not, it is committed all the same. */
  pg_write_t *first = r->first;
  if (first != s->queue)
    ec_log(EC_LOG_ERROR, "store: a round committed ahead of writes queued "
           "before it");
  pop_round(s);
  complete_run(s, first, n, 0);
}

/* One result of the pipeline, the oldest round's. */
static void take_result(pg_store_t *s, PGresult *res) {
  ExecStatusType st = PQresultStatus(res);
  if (st == PGRES_PIPELINE_SYNC) {
    PQclear(res);
    segment_end(s);
    return;
  }
  s->want_null = true;
  pg_round_t *r = &s->rounds[0];
  if (r->chained && !r->marker_seen) {
    /* ec_round_follows(): an error is the round before it failing. */
    r->marker_seen = true;
    if (st == PGRES_FATAL_ERROR) {
      r->failed = r->chain_failed = true;
      ec_log(EC_LOG_DEBUG, "store: a round is sent again behind the one "
             "before it, which failed");
    }
    PQclear(res);
    return;
  }
  /* The write this result answers: the first sent one still owed (one at
   * a time, the head, when each has its own transaction); none for the
   * round's NOTIFY or an error at its commit. */
  pg_write_t *w = r->cur;
  if (r->single) {
    w = r->first->n_seen < r->first->n_sent ? r->first : NULL;
  } else {
    while (w != NULL && r->cur_i < r->n && w->n_seen >= w->n_sent) {
      w = w->next;
      r->cur_i++;
    }
    if (r->cur_i >= r->n)
      w = NULL;
    r->cur = w;
  }
  if (st == PGRES_FATAL_ERROR) {
    /* A write's statement, one of the round's own (tail_failed()), or
     * the commit at the Sync; one that waited past statement_timeout (a
     * lock held long) fails its round as timed out. */
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    pg_log(s, res,
           w != NULL  ? "a queued write"
           : r->single ? "a re-run write's transaction"
                       : tail_failed(r));
    r->failed = true;
    r->timed_out |= state != NULL && strcmp(state, PG_SQLSTATE_CANCELED) == 0;
    if (w != NULL)
      w->rc = EC_ESTORE;
  } else if (st == PGRES_PIPELINE_ABORTED) {
    if (w != NULL)
      w->rc = EC_ESTORE;
  } else if (w != NULL && w->rc == 0 && w->ops->result != NULL) {
    w->ops->result(s, w, w->n_seen, res);
  } else if (w == NULL && !r->single) {
    tail_result(s, r, res);
  }
  if (w != NULL)
    w->n_seen++;
  PQclear(res);
}

/* Read whatever results have come, without waiting. */
static void pump(pg_store_t *s) {
  if (PQconsumeInput(s->pipe) != 1 || PQflush(s->pipe) < 0) {
    lose(s, "the connection failed");
    return;
  }
  while (s->pipe != NULL && s->n_rounds > 0 && !PQisBusy(s->pipe)) {
    PGresult *res = PQgetResult(s->pipe);
    if (res == NULL) {
      /* The end of one statement's results; another NULL means nothing
       * more has come yet. */
      if (!s->want_null)
        break;
      s->want_null = false;
      continue;
    }
    take_result(s, res);
  }
  if (s->pipe != NULL && PQstatus(s->pipe) == CONNECTION_BAD)
    lose(s, "the connection failed");
}

/* ------------------------------------------------------------------------ */
/* Losing PostgreSQL and finding it again                                   */
/* ------------------------------------------------------------------------ */

static void lose(pg_store_t *s, const char *why) {
  size_t n = 0;
  for (size_t k = 0; k < s->n_rounds; k++) {
    pg_write_t *w = s->rounds[k].first;
    for (size_t i = 0; w != NULL && i < s->rounds[k].n; w = w->next, i++)
      w->in_doubt = true;
    n += s->rounds[k].n;
  }
  ec_log(EC_LOG_ERROR, "store: PostgreSQL out of reach for writes (%s): "
         "%zu in flight are asked about after reconnecting, %zu queued wait "
         "at most %d ms", why, n, s->n_queued - n, EC_STORE_WAIT_MS);
  ec_metrics_add(s->metrics, EC_M_COMMITS_FAILED, 1);
  PQfinish(s->pipe);
  s->pipe = NULL;
  s->n_prepared = 0; /* a new connection prepares them again */
  s->n_rounds = 0;
  s->rerun = 0; /* rolled back: they go again in a round */
  s->single = false;
  if (s->down_since_ms == 0)
    s->down_since_ms = now_ms();
  s->dial.next_try_ms = 0; /* at once: a restarted server takes it */
}

/* Settle each write in doubt, on a live s->conn. */
static void resolve_in_doubt(pg_store_t *s) {
  pg_write_t *prev = NULL, *w = s->queue;
  while (w != NULL) {
    pg_write_t *next = w->next;
    if (!w->in_doubt) {
      prev = w;
      w = next;
      continue;
    }
    int r = w->ops->resolve != NULL ? w->ops->resolve(s, w) : -1;
    if (r == 0) {
      w->in_doubt = false; /* never committed: it goes again */
      prev = w;
    } else {
      if (r < 0)
        ec_log(EC_LOG_WARN, "store: a write in flight when PostgreSQL was "
               "lost cannot be told committed: it is not acknowledged");
      complete(s, prev, w, r > 0 ? 0 : EC_ESTORE);
    }
    w = next;
  }
}

static void reconnect(pg_store_t *s) {
  int64_t now = now_ms();
  bool dialed = pg_dial_step(&s->dial, s->uri, s->pipe_opts);
  /* The reads' connection answers the questions about writes in doubt:
   * it must be live too (one the server closed while idle is reset). */
  if (dialed)
    pg_conn_check(s);
  if (!dialed || s->resetting || PQstatus(s->conn) != CONNECTION_OK) {
    if (dialed && now >= s->dial.until_ms)
      pg_dial_drop(&s->dial); /* tried again after EC_STORE_PG_RETRY_MS */
    return;
  }
  PGconn *made = s->dial.c;
  s->dial.c = NULL;
  s->pipe = setup_pipe(s, made);
  if (s->pipe == NULL)
    return;
  ec_log(EC_LOG_INFO, "store: reconnected to PostgreSQL after %lld ms",
         (long long)(now - s->down_since_ms));
  s->down_since_ms = 0;
  resolve_in_doubt(s);
  /* Hints sent while no one listened here are lost: read everything
   * watched again. */
  if (s->listen_fn != NULL) {
    ec_store_change_t c = {EC_STORE_CHANGE_ANY, NULL, NULL, 0};
    s->listen_fn(s->listen_ud, &c);
  }
}

/* ------------------------------------------------------------------------ */
/* Hints of other servers' writes                                           */
/* ------------------------------------------------------------------------ */

/* Read one "<len>:<bytes>" field of @p p (up to @p end) into @p out
 * (EC_STORE_MAX_ID_LEN + 1 bytes); the rest, or NULL when malformed. */
static const char *field(const char *p, const char *end, char *out) {
  size_t len = 0;
  const char *q = p;
  while (q < end && *q >= '0' && *q <= '9' && len <= EC_STORE_MAX_ID_LEN)
    len = len * 10 + (size_t)(*q++ - '0');
  if (q == p || q >= end || *q != ':' || len > EC_STORE_MAX_ID_LEN ||
      (size_t)(end - q - 1) < len)
    return NULL;
  memcpy(out, q + 1, len);
  out[len] = '\0';
  return q + 1 + len;
}

/* Tell the listener one notification's hints; a malformed one is "any".
 * @p own: sent by this store's s->conn, whose provisioning writes' own
 * observers heard of them already (its identities' are heard, store.h). */
static void deliver(pg_store_t *s, const char *payload, bool own) {
  const char *p = payload, *end = payload + strlen(payload);
  char dev[EC_STORE_MAX_ID_LEN + 1], dep[EC_STORE_MAX_ID_LEN + 1];
  while (p != NULL && p < end && s->listen_fn != NULL) {
    ec_store_change_t c = {EC_STORE_CHANGE_ANY, NULL, NULL, 0};
    const char *next = NULL;
    char *num_end;
    if (*p == 'S' && (next = field(p + 1, end, dev)) != NULL &&
        (next = field(next, end, dep)) != NULL) {
      c = (ec_store_change_t){EC_STORE_CHANGE_STATUS, dev, dep, 0};
    } else if (*p == 'P' && (next = field(p + 1, end, dev)) != NULL &&
               dev[0] >= '0' && dev[0] <= '9' &&
               (c.provisioning_id = strtoll(dev, &num_end, 10)) >= 0 &&
               *num_end == '\0') {
      c.kind = EC_STORE_CHANGE_PROVISIONING;
    } else if (*p == 'M') {
      c.kind = EC_STORE_CHANGE_MESSAGES;
      next = p + 1;
    } else if (*p == 'D' && (next = field(p + 1, end, dev)) != NULL) {
      c = (ec_store_change_t){EC_STORE_CHANGE_DEVICE, dev, NULL, 0};
    }
    if (!own || c.kind != EC_STORE_CHANGE_PROVISIONING)
      s->listen_fn(s->listen_ud, &c);
    if (c.kind == EC_STORE_CHANGE_ANY)
      return; /* "*", or what this build cannot read: the rest too */
    p = next;
  }
}

/* The notifications that came on the pipeline's connection (read by
 * PQconsumeInput()), but this connection's own. */
static void take_notifications(pg_store_t *s) {
  PGnotify *n;
  while (s->pipe != NULL && (n = PQnotifies(s->pipe)) != NULL) {
    if (n->be_pid != PQbackendPID(s->pipe) && s->listen_fn != NULL)
      deliver(s, n->extra, n->be_pid == PQbackendPID(s->conn));
    PQfreemem(n);
  }
}

int store_pg_listen(ec_store_t *base, ec_store_change_fn fn, void *ud) {
  pg_store_t *s = (pg_store_t *)base;
  if (s->pumping)
    return EC_EBUSY;
  bool was = s->listen_fn != NULL;
  s->listen_fn = fn;
  s->listen_ud = ud;
  if (fn == NULL || was || s->pipe == NULL)
    return 0; /* a reconnect listens (and says EC_STORE_CHANGE_ANY) */
  /* LISTEN outside pipeline mode, which needs the pipeline idle. */
  (void)store_pg_wait(base);
  if (s->pipe == NULL)
    return 0;
  if (PQexitPipelineMode(s->pipe) != 1 || listen_on(s, s->pipe) != 0 ||
      PQenterPipelineMode(s->pipe) != 1) {
    log_conn(s->pipe, "listen");
    s->listen_fn = NULL;
    return EC_ESTORE;
  }
  return 0;
}

/* Fail the writes not on the wire that waited past the bound: every
 * queued one while out of reach, those behind the rounds in flight (stuck
 * on a lock) otherwise. The queue is in the order writes came, so the
 * first one within its bound ends the walk. */
static void expire(pg_store_t *s) {
  int64_t now = now_ms();
  pg_write_t *w = first_unsent(s), *prev = queued_before(s, w);
  size_t late = 0;
  while (w != NULL && now - w->queued_ms >= EC_STORE_WAIT_MS) {
    pg_write_t *next = w->next;
    complete(s, prev, w, EC_ETIMEOUT);
    w = next;
    late++;
  }
  if (late > 0 && s->pipe != NULL)
    ec_log(EC_LOG_WARN, "store: %zu writes waited %d ms behind rounds "
           "PostgreSQL has not finished: answered as timed out", late,
           EC_STORE_WAIT_MS);
}

/* ------------------------------------------------------------------------ */
/* The store's calls                                                        */
/* ------------------------------------------------------------------------ */

int store_pg_flush(ec_store_t *base) {
  pg_store_t *s = (pg_store_t *)base;
  /* From a callback: the outer flush goes on. */
  if (s->pumping)
    return 0;
  s->pumping = true;
  pg_reads_pump(s);
  /* A connection the server closed while it was idle (a restart) is found
   * before a round goes out on it, so that it leaves no write in doubt. */
  bool listening = s->listen_fn != NULL;
  if (s->pipe != NULL && s->n_rounds == 0 && (s->queue != NULL || listening) &&
      pg_idle_closed(s->pipe))
    lose(s, "closed while idle");
  if (s->pipe == NULL && (s->queue != NULL || listening))
    reconnect(s);
  if (s->pipe != NULL && s->n_rounds > 0)
    pump(s);
  if (s->pipe != NULL && listening)
    take_notifications(s);
  if (s->pipe != NULL && s->n_rounds == 0 && s->n_prepared < s->n_stmts &&
      prepare_new(s) != 0)
    lose(s, "statements could not be prepared");
  /* Writes held behind rounds stuck on a lock end at their bound, before
   * a round could take them; while out of reach, every queued one (below,
   * also those a failed send left in doubt). */
  if (s->pipe != NULL)
    expire(s);
  bool single;
  if (may_send(s, &single)) {
    size_t n = single ? s->rerun : EC_STORE_PG_ROUND_MAX;
    s->rerun = 0;
    send_round(s, n, single);
  }
  if (s->pipe == NULL)
    expire(s);
  /* The reads' connection, known lost, is stepped back too: the store is
   * out of reach until both are back (store_pg_unreachable()). */
  else if (s->resetting || PQstatus(s->conn) != CONNECTION_OK)
    pg_conn_check(s);
  s->pumping = false;
  return s->pipe != NULL ? 0 : EC_ESTORE;
}

int store_pg_fd(ec_store_t *base, short *events, int *due_ms) {
  pg_store_t *s = (pg_store_t *)base;
  *events = 0;
  *due_ms = -1;
  bool listening = s->listen_fn != NULL;
  if (s->queue == NULL && !listening)
    return -1;
  if (s->pipe == NULL) {
    /* A connect in progress is stepped every few milliseconds. */
    int64_t left = s->dial.c != NULL ? 5 : s->dial.next_try_ms - now_ms();
    *due_ms = left > 0 ? (int)left : 0;
    return -1;
  }
  bool single;
  const pg_write_t *u;
  if (may_send(s, &single)) {
    *due_ms = 0; /* queued, not sent, and a round may go: flush now */
  } else if ((u = first_unsent(s)) != NULL) {
    /* Held behind the rounds in flight: the flush fails it at its bound. */
    int64_t left = u->queued_ms + EC_STORE_WAIT_MS - now_ms();
    *due_ms = left > 0 ? (int)left : 0;
  }
  /* The answers of a round in flight, or another server's notification. */
  *events = POLLIN;
  if (PQflush(s->pipe) == 1)
    *events |= POLLOUT;
  return PQsocket(s->pipe);
}

int store_pg_wait(ec_store_t *base) {
  pg_store_t *s = (pg_store_t *)base;
  if (s->pumping)
    return EC_EBUSY; /* a callback cannot wait for its own round */
  uint64_t last = s->serial;
  int rc = 0;
  /* Bounded: a round's answer comes or its connection fails, and writes
   * wait for a lost PostgreSQL at most EC_STORE_WAIT_MS. */
  while (s->queue != NULL && s->queue->serial <= last) {
    rc = store_pg_flush(base);
    if (s->queue == NULL || s->queue->serial > last)
      break;
    short ev;
    int due;
    int fd = store_pg_fd(base, &ev, &due);
    if (fd >= 0) {
      struct pollfd p = {fd, ev, 0};
      if (poll(&p, 1, 1000) < 0 && errno != EINTR)
        return EC_EIO;
    } else if (due > 0) {
      poll(NULL, 0, due);
    }
  }
  return s->pipe != NULL ? 0 : rc;
}

bool store_pg_unreachable(const ec_store_t *base) {
  const pg_store_t *s = (const pg_store_t *)base;
  return s->pipe == NULL || PQstatus(s->conn) != CONNECTION_OK;
}

size_t store_pg_queued(const ec_store_t *base) {
  return ((const pg_store_t *)base)->n_queued;
}

void pg_settle(pg_store_t *s) {
  if (s->queue != NULL && !s->pumping)
    (void)store_pg_wait(&s->base);
}

void pg_conn_close(pg_store_t *s) {
  if (s->conn != NULL && s->queue != NULL)
    (void)store_pg_wait(&s->base);
  /* What is left (PostgreSQL never came back in time) fails. */
  while (s->queue != NULL)
    complete(s, NULL, s->queue, s->pipe != NULL ? EC_ESTORE : EC_ETIMEOUT);
  pg_reads_close(s);
  pg_dial_drop(&s->dial);
  PQfinish(s->pipe);
  PQfinish(s->conn);
  free(s->uri);
  free(s->pipe_opts);
  s->pipe = s->conn = NULL;
  s->uri = NULL;
}
