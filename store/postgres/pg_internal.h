/* edgecoap store: the PostgreSQL backend's internals, shared by the files of store/postgres/ only. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_STORE_PG_INTERNAL_H
#define EDGECOAP_STORE_PG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "backend.h"
#include "store.h"

/*
 * The PostgreSQL store (a first step: see docs/ARCHITECTURE.md): two libpq
 * connections, both conn.c's. The pipeline (s->pipe) carries the queued
 * writes, one implicit transaction per round, without waiting for it;
 * s->conn carries the reads and the synchronous writes. store.c opens the
 * store, migrates the schema under an advisory lock and fills the backend
 * table; status.c holds the deployment-status entries, messages.c the
 * status messages, accounts.c the accounts, tokens and DTLS identities,
 * provisioning.c the provisionings and their components. open.c does not
 * offer this backend to the server or admin yet.
 */

typedef struct pg_store pg_store_t;
typedef struct pg_write pg_write_t;

/**
 * A statement the pipeline sends (a write's, a round's NOTIFY): each
 * pipeline connection prepares it as @c name at the first idle moment
 * after its first use (before that it goes unnamed), so that PostgreSQL
 * parses, analyses and plans it once per connection, not at every
 * execution. Static: the store keeps pointers to it.
 */
typedef struct {
  const char *name; /* unique among the pipeline's statements */
  const char *sql;
} pg_stmt_t;

/* Writes one round sends at most; the rest wait for the next. */
#ifndef EC_STORE_PG_ROUND_MAX
#define EC_STORE_PG_ROUND_MAX 256
#endif

/** The most pipeline statements one store prepares. */
#define PG_STMTS_MAX 16

/*
 * What a kind of queued write does on the pipeline (conn.c calls these;
 * status.c's status writes are one kind). A write is sent as statements
 * none of which reads another's result (all are sent before any answer
 * comes); conn.c decides which transaction holds them.
 */
typedef struct {
  /** Send the write's statements with pg_send(): how many (0 when its
   * kind's round() sends them for it), or < 0 when one could not be sent
   * (the connection is then reset). */
  int (*send)(pg_store_t *s, pg_write_t *w);
  /** Statement @p i's successful result, to read what it returned. */
  void (*result)(pg_store_t *s, pg_write_t *w, int i, const PGresult *res);
  /** After a lost connection, whether the write committed, asked on
   * s->conn: 1 (committed: its outcome filled in as result() would),
   * 0 (not: it is sent again), < 0 (cannot tell: it fails). NULL: < 0. */
  int (*resolve)(pg_store_t *s, pg_write_t *w);
  /** Its outcome, once: @p rc 0 (committed) or < 0 (nothing of it
   * stored, or not known to be: EC_ESTORE; EC_ETIMEOUT: PostgreSQL was
   * out of reach for EC_STORE_WAIT_MS). Calls the caller back and
   * frees @p w. */
  void (*done)(pg_store_t *s, pg_write_t *w, int rc);
  /** The hint other servers hear of it (pg_hint_status()...): its length
   * (snprintf's: over @p cap when it did not fit), 0 for none. NULL: none. */
  int (*hint)(const pg_write_t *w, char *buf, size_t cap);
  /** The statements that stand once for every write of its kind among the
   * @p n writes from @p w (a round, queue order), sent after all of
   * theirs; called once per round and kind (with @p n 1 for each write
   * when a round is re-run one by one, s->single). How many it sent, or
   * < 0 when one could not be sent. NULL: none. */
  int (*round)(pg_store_t *s, pg_write_t *w, size_t n);
  /** Statement @p i of those round() sent for the @p n writes from @p w:
   * its successful result (not for a round re-run one by one). NULL: the
   * results are not read. */
  void (*round_result)(pg_store_t *s, pg_write_t *w, size_t n, int i,
                       const PGresult *res);
} pg_write_ops_t;

/* Rounds in flight on the pipeline at once, at most: while one commits,
 * the next is sent, so that neither PostgreSQL nor the server waits for
 * the other (conn.c chains them: a round commits only after the one
 * before it did). */
#ifndef PG_ROUNDS_MAX
#define PG_ROUNDS_MAX 2
#endif

/** A round in flight: one transaction, or (single) one per write. */
typedef struct {
  pg_write_t *first;  /* its first write not completed; the rest follow */
  size_t n;           /* its writes not completed */
  pg_write_t *cur;    /* the first of them with results to come ... */
  size_t cur_i;       /* ... and its place in the round */
  uint64_t no;        /* its number, when chained */
  bool single;        /* one transaction per write */
  bool chained;       /* it began with ec_round_follows() */
  bool marker_seen;   /* that statement's result was read */
  bool failed;        /* a statement of its open transaction failed */
  bool chain_failed;  /* ... ec_round_follows(): the round before did */
  bool timed_out;     /* ... cancelled by statement_timeout */
  uint64_t t0;        /* ec_mono_us() when it was sent */
  /* The statements each kind's round() sent after the writes', in order
   * (not when single), and how many of their results were read. */
  struct {
    const pg_write_ops_t *ops;
    int n;
  } tails[8];
  size_t n_tails;
  int tail_seen;
  bool notified;      /* a NOTIFY followed them, before the commit */
} pg_round_t;

/** The head of every queued write (first in the kind's own struct). */
struct pg_write {
  pg_write_t *next;
  const pg_write_ops_t *ops;
  uint64_t serial;    /* queue order, for ec_store_wait() */
  int64_t queued_ms;  /* ec_mono_ms() when queued, for the bound */
  int n_sent, n_seen; /* statements sent in its round, results read */
  int rc;             /* in its round so far: 0, or EC_ESTORE */
  bool in_doubt;      /* in flight when the connection was lost */
};

/*
 * A connection made without waiting for the network (a host that does not
 * answer would stall the I/O loop): started by PQconnectStartParams(),
 * stepped by PQconnectPoll() once a flush (pg_dial_step).
 */
typedef struct {
  PGconn *c;                    /* NULL: none in progress */
  PostgresPollingStatusType st; /* what libpq waits for; OK once made */
  int64_t until_ms;             /* given up unmade then */
  int64_t next_try_ms;          /* no new try before */
} pg_dial_t;

struct pg_store {
  struct ec_store base; /* first: an ec_store_t * of ours is a pg_store_t * */
  PGconn *conn;  /* reads and synchronous writes */
  PGconn *pipe;  /* queued writes, pipeline mode; NULL while out of reach */
  char *uri;     /* for reconnecting (it holds no password) */
  char *pipe_opts; /* the pipeline's server options (pg_bounded_options) */
  bool walking;  /* store_pg_each_status() runs: no writes, no second walk */
  bool pumping;  /* conn.c reads results and calls back */
  /* Every queued write not completed, in order; those of the rounds in
   * flight (the oldest first) are sent. */
  pg_write_t *queue, **queue_tail;
  size_t n_queued;
  pg_round_t rounds[PG_ROUNDS_MAX];
  size_t n_rounds;       /* rounds in flight */
  size_t rerun;          /* the first rerun writes go again one by one */
  uint64_t round_no;     /* the last round's number (ec_round_follows) */
  bool single;           /* the round being sent re-runs writes one by one */
  bool want_null;        /* a result came: libpq's NULL follows */
  uint64_t serial;       /* the last queued write's */
  int64_t down_since_ms; /* 0, or when the pipeline was lost */
  int64_t conn_try_ms;   /* s->conn lost: when to reconnect it next */
  /* Reconnecting never waits for the network (a host that does not
   * answer would stall the I/O loop): the pipeline's next connection is
   * polled by each flush, s->conn's reset by each check. */
  pg_dial_t dial; /* the pipeline's next connection */
  bool resetting;
  int64_t reset_until_ms;
  /* Hints of other servers' writes (ec_store_listen): LISTEN on the
   * pipeline's connection, on the channel named as the schema. */
  ec_store_change_fn listen_fn;
  void *listen_ud;
  char channel[64];
  bool created;          /* this open created the schema */
  char where[512];       /* postgres://host:port/dbname, no user or password */
  unsigned txn_writes;
  ec_metrics_t *metrics;
  /* The pipeline statements sent so far, in their first use's order; the
   * first n_prepared are prepared on the current pipeline connection. */
  const pg_stmt_t *stmts[PG_STMTS_MAX];
  size_t n_stmts, n_prepared;
  /* Reads that do not wait (reads.c): NULL until the first. */
  struct pg_reads *reads;
};

extern const ec_store_backend_t store_pg_backend;

/** Log the connection's last error (or @p res's) as "store: WHAT: ...". */
void pg_log(pg_store_t *s, const PGresult *res, const char *what);

/**
 * Run @p sql with @p n parameters (@p vals, @p lens, @p fmts as
 * PQexecParams's; NULL @p lens/@p fmts: all text), results in binary.
 * @return the result when its status is @p want, else NULL (logged as
 *         @p what, the result cleared)
 */
PGresult *pg_run(pg_store_t *s, const char *sql, int n,
                 const char *const *vals, const int *lens, const int *fmts,
                 ExecStatusType want, const char *what);

/** Run SQL text with no results; 0 or EC_ESTORE (logged). */
int pg_exec(pg_store_t *s, const char *sql, const char *what);

/** A binary int8 column of @p res (network order). */
int64_t pg_i64(const PGresult *res, int row, int col);

/** Before a synchronous write: wait for the queue, so that writes commit
 * in the order they were made (from a callback it cannot: it goes on). */
void pg_settle(pg_store_t *s);

/* The connections (conn.c). */

/** Open both connections to @p uri (copied) and put the pipeline in
 * pipeline mode; 0, EC_ENOMEM or EC_ESTORE (logged). */
int pg_conn_open(pg_store_t *s, const char *uri);

/** Wait for the queue, then close both connections. */
void pg_conn_close(pg_store_t *s);

/** libpq's connection to @p uri, with the settings every one of ours has
 * (UTF-8, a connect timeout); check PQstatus(). */
PGconn *pg_connect(const char *uri);

/** The PostgreSQL error of a statement cancelled by statement_timeout. */
#define PG_SQLSTATE_CANCELED "57014"

/** The server options of a connection whose statements are bounded by
 * EC_STORE_WAIT_MS (statement_timeout), beside the URI's own (a
 * search_path ...), which a parameter given beside it replaces; malloc'd,
 * or NULL. */
char *pg_bounded_options(const char *uri);

/** Send one statement of a write on the pipeline (PQsendQueryParams's
 * arguments, results in binary); 0 or EC_ESTORE. */
int pg_send(pg_store_t *s, const pg_stmt_t *st, int n,
            const char *const *vals, const int *lens, const int *fmts);

/** Queue @p w (its kind's part and ops set) at the end. */
void pg_queue_add(pg_store_t *s, pg_write_t *w);

/** A status write's hint for @p dev, @p dep (as pg_write_ops_t's hint). */
int pg_hint_status(char *buf, size_t cap, const char *dev, const char *dep);

/** "Status messages were added" (as pg_write_ops_t's hint). */
int pg_hint_messages(char *buf, size_t cap);

/** In the open transaction on s->conn: tell other servers that the
 * components of provisionings @p ids changed (one NOTIFY; "*" when they
 * do not fit one); 0 or EC_ESTORE. */
int pg_notify_provisionings(pg_store_t *s, const int64_t *ids, size_t n);

/** True when idle @p c was closed by the server (a restart, a crash). */
bool pg_idle_closed(PGconn *c);

/** Before a statement on s->conn: reconnect it when it was lost (at most
 * every few hundred milliseconds). */
void pg_conn_check(pg_store_t *s);

/** Undo the open transaction, if any. */
void pg_rollback(pg_store_t *s);

/** COMMIT, counting it into the metrics; 0 or EC_ESTORE (logged). */
int pg_commit(pg_store_t *s);

/* Binary array parameters (arrays.c): a batch's columns as arrays that a
 * statement of fixed text unnests, in array_recv's format. */

/** Type OIDs of array elements (pg_type.h, fixed since PostgreSQL 7). */
enum {
  PG_OID_BYTEA = 17,
  PG_OID_INT8 = 20,
  PG_OID_INT4 = 23,
  PG_OID_TEXT = 25
};

/** A growing buffer (zeroed to start; free(p) after); oom is set when an
 * append failed, and later appends do nothing. */
typedef struct {
  uint8_t *p;
  size_t len, cap;
  bool oom;
} pg_array_t;

/** The header of a one-dimensional array of @p n elements of @p oid,
 * NULL elements allowed; then exactly @p n elements. */
void pg_array_head(pg_array_t *b, int oid, size_t n);
/** One element of @p len bytes, or SQL NULL when @p data is NULL. */
void pg_array_elem(pg_array_t *b, const void *data, size_t len);
void pg_array_i64(pg_array_t *b, int64_t v);
void pg_array_i32(pg_array_t *b, int32_t v);
/** A text element; SQL NULL when @p s is NULL. */
void pg_array_text(pg_array_t *b, const char *s);

/* Reads that do not wait (reads.c): a third connection, non-blocking,
 * made at the first such read, one statement in flight at a time. */

/** Step the reads: connect, send the next, take the results in and run
 * the callbacks of those done (from store_pg_flush()). */
void pg_reads_pump(pg_store_t *s);

/** Fail every read left (EC_ESTORE) and close their connection. */
void pg_reads_close(pg_store_t *s);

int store_pg_prov_select_start(ec_store_t *s, const ec_prov_request_t *f,
                               int64_t owner_id, ec_prov_select_fn fn,
                               void *ud);
int store_pg_read_fd(ec_store_t *s, short *events, int *due_ms);
size_t store_pg_reading(const ec_store_t *s);

/** The components select (provisioning.c): its text, and its parameters
 * for @p f and @p owner_id as malloc'd strings (NULL: SQL NULL; free()
 * each); 0 or EC_ENOMEM (none left). */
#define PG_PROV_SELECT_NPARAMS 7
extern const char pg_prov_select_sql[];
int pg_prov_select_params(const ec_prov_request_t *f, int64_t owner_id,
                          char *v[PG_PROV_SELECT_NPARAMS]);
/** Its result as ec_store_prov_select()'s block; 0, EC_ENOMEM or
 * EC_ESTORE (a corrupt row). */
int pg_prov_rows(const PGresult *res, ec_prov_component_t **rows, size_t *n);

/** Start a connection to @p uri with our settings and, when not NULL,
 * server @p options ("-c name=value"), without waiting: step it with
 * PQconnectPoll(); NULL, or one CONNECTION_BAD, when it cannot start. */
PGconn *pg_connect_start(const char *uri, const char *options);

/** One step of @p d's connect to @p uri with @p options (or NULL), started
 * when none is in progress and EC_STORE_PG_RETRY_MS passed since the last
 * try; given up when it fails or EC_STORE_PG_CONNECT_MS pass unmade. True
 * once made: d->c is the caller's to take (set it to NULL) or to keep
 * waiting with; false while in progress, or with d->c NULL when none is. */
bool pg_dial_step(pg_dial_t *d, const char *uri, const char *options);
/** Give up @p d's connection (made or in progress), if any. */
void pg_dial_drop(pg_dial_t *d);

/** The SQL of the schema's migrations (store.c), and how many there are. */
extern const char *const *const pg_migrations[];
extern const int pg_n_migrations;

int store_pg_status_by_request(ec_store_t *s, const char *device_id,
                               const uint8_t *rid, size_t rid_len,
                               char dep[EC_STORE_MAX_ID_LEN + 1], int64_t *seq,
                               uint8_t **doc, size_t *doc_len);
int store_pg_status_put(ec_store_t *s, const ec_status_write_t *w,
                        int *created, int64_t *seq);
int store_pg_status_queue(ec_store_t *s, const ec_status_write_t *w,
                          ec_status_done_fn fn, void *ud);
int store_pg_flush(ec_store_t *s);
int store_pg_wait(ec_store_t *s);
int store_pg_fd(ec_store_t *s, short *events, int *due_ms);
int store_pg_listen(ec_store_t *s, ec_store_change_fn fn, void *ud);
bool store_pg_unreachable(const ec_store_t *s);
size_t store_pg_queued(const ec_store_t *s);
int store_pg_status_get(ec_store_t *s, const char *device_id,
                        const char *deployment_id, uint8_t **doc,
                        size_t *doc_len, int64_t *updated_at_ms,
                        int64_t *seq);
int store_pg_history_page(ec_store_t *s, const char *device_id,
                          const char *deployment_id, int64_t since, int limit,
                          size_t max_bytes, ec_history_entry_t **entries,
                          size_t *n, bool *more);
int store_pg_deployments_page(ec_store_t *s, const char *device_id,
                              const char *after, size_t max_bytes,
                              ec_deployment_summary_t **list, size_t *n,
                              bool *more);
int store_pg_each_status(ec_store_t *s,
                         int (*fn)(void *ud, const char *device_id,
                                   const char *deployment_id),
                         void *ud);

int store_pg_msg_insert_req(ec_store_t *s, const ec_store_msg_write_t *w,
                            size_t n, int64_t received_at_ms,
                            const ec_store_msg_request_t *req,
                            int64_t *first_id);
int store_pg_msg_queue(ec_store_t *s, const ec_store_msg_write_t *w, size_t n,
                       int64_t received_at_ms,
                       const ec_store_msg_request_t *req, ec_msg_done_fn fn,
                       void *ud);
int store_pg_msg_request_find(ec_store_t *s, ec_store_msg_request_t *req,
                              int64_t *first_id);
int store_pg_msg_page(ec_store_t *s, const ec_msg_filter_t *f, int limit,
                      bool newest_first, size_t max_bytes, ec_msg_row_t **rows,
                      size_t *n, bool *more);
int store_pg_msg_get(ec_store_t *s, int64_t id, ec_msg_row_t **row);

/* Accounts, tokens and identities (accounts.c), provisioning
 * (provisioning.c): synchronous, on s->conn. */

/**
 * Run @p sql on s->conn (as pg_run()); on success *out holds the result
 * (NULL @p out: cleared).
 * @return 0, EC_EINVAL (an integrity constraint refused it: the caller's
 *         data) or EC_ESTORE (logged either way)
 */
int pg_query(pg_store_t *s, const char *sql, int n, const char *const *vals,
             const int *lens, const int *fmts, PGresult **out,
             const char *what);

/** After the queued writes (pg_settle), BEGIN; 0 or EC_ESTORE. */
int pg_begin(pg_store_t *s);

/** COMMIT when @p rc is 0, else (or when the commit fails) ROLLBACK;
 * the outcome: @p rc, or EC_ESTORE when the commit failed. */
int pg_end(pg_store_t *s, int rc);

/** A text column into @p out (@p cap bytes, cut and NUL-terminated). */
void pg_text(const PGresult *res, int row, int col, char *out, size_t cap);

/** Insert or update (by id) one account row, checked as SQLite's. */
int pg_user_put_row(pg_store_t *s, const ec_store_prov_user_t *u);

int store_pg_prov_import(ec_store_t *s, const ec_store_prov_import_t *im);
int store_pg_prov_user_put(ec_store_t *s, const ec_store_prov_user_t *u,
                           int64_t *id, int *created);
int store_pg_prov_user_find(ec_store_t *s, const char *username,
                            ec_store_prov_user_t *out);
int store_pg_prov_user_get(ec_store_t *s, int64_t id,
                           ec_store_prov_user_t *out);
int store_pg_prov_user_each(ec_store_t *s,
                            int (*fn)(void *ud, const ec_store_prov_user_t *u),
                            void *ud);
int store_pg_prov_user_remove(ec_store_t *s, const char *username,
                              const char *unknown_hash, bool *kept);
int store_pg_prov_owner(ec_store_t *s, int64_t id, int64_t *owner_id);
int store_pg_prov_component_of(ec_store_t *s, int64_t pc_id,
                               int64_t *provisioning_id);
int store_pg_prov_token_add(ec_store_t *s, const uint8_t *digest,
                            int64_t user_id, int64_t now_ms, int64_t ttl_ms);
int store_pg_prov_token_use(ec_store_t *s, const uint8_t *digest,
                            int64_t now_ms, int64_t ttl_ms, int64_t touch_ms,
                            int64_t *user_id);
int store_pg_prov_token_delete(ec_store_t *s, const uint8_t *digest,
                               int64_t now_ms, int64_t ttl_ms);
int store_pg_login_failed(ec_store_t *s, const char *username,
                          int64_t now_ms, int64_t window_ms, int64_t *count);
int store_pg_login_failures(ec_store_t *s, const char *username,
                            int64_t now_ms, int64_t window_ms,
                            int64_t *count);
int store_pg_prov_select_owned(ec_store_t *s, const ec_prov_request_t *f,
                               int64_t owner_id, ec_prov_component_t **rows,
                               size_t *n);
int store_pg_prov_insert(ec_store_t *s, const ec_prov_request_t *rq,
                         int64_t user_id, int64_t now_s,
                         ec_store_prov_outcome_t *o);
int store_pg_prov_update(ec_store_t *s, const ec_prov_request_t *rq,
                         int64_t user_id, int64_t now_s,
                         ec_store_prov_outcome_t *o);
int store_pg_device_add(ec_store_t *s, const ec_store_device_t *d,
                        int64_t *id);
int store_pg_device_find(ec_store_t *s, const uint8_t *identity, size_t len,
                         ec_store_device_t *out);
int store_pg_device_remove(ec_store_t *s, const char *identity);
int store_pg_device_each(ec_store_t *s, bool with_keys,
                         int (*fn)(void *ud, const ec_store_device_t *d),
                         void *ud);
int store_pg_device_count(ec_store_t *s, int64_t *n);

int store_pg_fleet_devices(ec_store_t *s, const ec_store_fleet_query_t *q,
                           size_t max_bytes, ec_fleet_device_t **list,
                           size_t *n, bool *more);
int store_pg_fleet_rollup(ec_store_t *s, const char *deployment_id,
                          ec_fleet_rollup_t *out, void **block);
int store_pg_fleet_rollups(ec_store_t *s, const char *after, int limit,
                           ec_fleet_rollup_t **list, size_t *n, bool *more);

#endif /* EDGECOAP_STORE_PG_INTERNAL_H */
