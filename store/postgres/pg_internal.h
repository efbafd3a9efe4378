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
 * The PostgreSQL store (a first step: see docs/ARCHITECTURE.md): one libpq
 * connection, used synchronously. store.c opens it, migrates the schema
 * under an advisory lock and fills the backend table; status.c holds the
 * deployment-status entries and the queue. The entries not written yet
 * answer EC_ENOTSUP (logged), and open.c does not offer this backend to
 * the server or admin.
 */

/* A status write waiting in the queue: the write, copied into the same
 * block, and its callback. */
typedef struct pg_queued {
  struct pg_queued *next;
  ec_status_write_t w;
  ec_status_done_fn fn;
  void *ud;
  ec_status_done_t done;
} pg_queued_t;

typedef struct {
  struct ec_store base; /* first: an ec_store_t * of ours is a pg_store_t * */
  PGconn *conn;
  bool walking;  /* store_pg_each_status() runs: no writes, no second walk */
  bool flushing; /* store_pg_flush() applies the queue */
  pg_queued_t *queue, **queue_tail;
  size_t n_queued;
  bool created;       /* this open created the schema */
  char where[512];    /* postgres://host:port/dbname, no user or password */
  unsigned txn_writes;
  ec_metrics_t *metrics;
} pg_store_t;

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

/** Before a write: flush the queue, so that writes commit in the order
 * they were made. */
void pg_settle(pg_store_t *s);

/** Undo the open transaction, if any. */
void pg_rollback(pg_store_t *s);

/** COMMIT, counting it into the metrics; 0 or EC_ESTORE (logged). */
int pg_commit(pg_store_t *s);

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

int store_pg_fleet_devices(ec_store_t *s, const ec_store_fleet_query_t *q,
                           size_t max_bytes, ec_fleet_device_t **list,
                           size_t *n, bool *more);
int store_pg_fleet_rollup(ec_store_t *s, const char *deployment_id,
                          ec_fleet_rollup_t *out, void **block);
int store_pg_fleet_rollups(ec_store_t *s, const char *after, int limit,
                           ec_fleet_rollup_t **list, size_t *n, bool *more);

#endif /* EDGECOAP_STORE_PG_INTERNAL_H */
