/* edgecoap store internals shared by the store's files (store*.c) only. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_STORE_INTERNAL_H
#define EDGECOAP_STORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <sqlite3.h>

#include "backend.h"
#include "store.h"
#include "store_sqlite.h"

/*
 * The SQLite store is one store_db_t split over several files, one per API
 * family (store.c: open, migrations and deployment status, whose writes
 * store_write.c applies), each of them filling its entries of the backend
 * table (store_sqlite_backend, backend.h) with store_sqlite_* functions
 * that take the ec_store_t the table is called with. Each file prepares its statements on first use through
 * store_stmt() into its own range of slots, and they stay prepared until
 * store_sqlite_close().
 */

/* The statements of store.c, prepared once at open. */
enum {
  ST_BEGIN,
  ST_COMMIT,
  ST_ROLLBACK,
  ST_STATUS_PRIOR,
  ST_STATUS_INSERT,
  ST_STATUS_UPDATE,
  ST_STATUS_TOUCH,
  ST_HISTORY_INSERT,
  ST_STATUS_GET,
  ST_HISTORY_GET,
  ST_DEPLOYMENTS,
  ST_EACH,
  ST_BY_REQUEST,
  ST_COUNT
};

/* Slot ranges of the other store files for store_stmt(). */
enum {
  STORE_SLOTS_MESSAGES = 0,      /* store_messages.c: 0..31 */
  STORE_SLOTS_PROVISIONING = 32, /* store_provisioning.c: 32..63 */
  STORE_SLOTS_DEVICES = 64,      /* store_devices.c: 64..95 */
  STORE_SLOTS_FLEET = 96,        /* store_fleet.c: 96..111 */
  STORE_LAZY_SLOTS = 112
};

/** The exclusive hold one server keeps on its database file (dbfile.c). */
typedef struct {
  int fd;            /**< open on the database file; -1 when not held */
  bool created;      /**< the file did not exist: it was created, empty */
} ec_db_lock_t;

/**
 * The absolute path of database file @p path, whose folder must exist.
 * @param[out] abs  @p cap bytes
 * @return 0, or EC_ESTORE with the reason (a missing folder) logged
 */
int ec_db_resolve(const char *path, char *abs, size_t cap);

/**
 * Create the file at absolute path @p abs if missing, and take an exclusive
 * flock(2) on it, so that a second server on the same database refuses to
 * start. SQLite's own locks are POSIX record locks, which flock locks do not
 * interfere with on Linux; the offline admin commands take no flock and
 * keep working beside a server. Keep the lock until the database is closed
 * (closing any descriptor of the file would drop SQLite's POSIX locks with
 * it).
 * @param[out] l  release with ec_db_unlock()
 * @return 0; EC_EBUSY when another process holds the lock; EC_ESTORE when
 *         the file cannot be opened (logged)
 */
int ec_db_lock(const char *abs, ec_db_lock_t *l);

/** Release the lock (close the descriptor); safe on a lock not held. */
void ec_db_unlock(ec_db_lock_t *l);

/**
 * The file an SQLite URI filename ("file:...") names, %XX decoded, in
 * @p out (@p cap bytes); *memory when it names an in-memory database.
 * @return 0, or EC_ESTORE (another host, an over-long or NUL name; logged)
 */
int ec_db_uri_path(const char *uri, char *out, size_t cap, bool *memory);

typedef struct store_db store_db_t;

/* The reader's list statements: one per driving index and direction
 * (store_messages.c). */
#define STORE_READER_LISTS 14

/* Pairs whose last write a serving store remembers (store_prior.c). */
#define STORE_PRIOR_SLOTS 16384

/* Deployments whose roll-up time one transaction gathers; past that, a
 * write moves its own at once. */
#define STORE_TOUCHED_MAX 8

/* A write waiting in the queue (store_queue.c): a status write (copied into
 * the same block) or a message post (the caller's, not copied), and its
 * callback. */
typedef enum { STORE_Q_STATUS, STORE_Q_MSGS } store_qkind_t;

typedef struct store_queued {
  struct store_queued *next;
  bool refused; /* it failed in this flush: left out of its next round */
  store_qkind_t kind;
  void *ud;
  union {
    struct {
      ec_status_write_t w;
      ec_status_done_fn fn;
      ec_status_done_t done;
    } st;
    struct {
      const ec_store_msg_write_t *w;
      size_t n;
      int64_t received_at_ms;
      const ec_store_msg_request_t *req;
      ec_msg_done_fn fn;
      ec_msg_done_t done;
    } msg;
  } u;
} store_queued_t;

struct store_db {
  struct ec_store base; /* first: an ec_store_t * of ours is a store_db_t * */
  sqlite3 *db;
  sqlite3_stmt *st[ST_COUNT];
  sqlite3_stmt *lazy[STORE_LAZY_SLOTS];
  /* Set while store_sqlite_each_status() runs: its callback must not restart
   * the walk's statement or write under it. */
  bool walking;
  /* Set while store_sqlite_flush() applies the queue: its writes run
   * inside that one transaction (group commit). */
  bool flushing;
  /* Queued writes, oldest first, and how many have not completed. */
  store_queued_t *queue, **queue_tail;
  size_t n_queued;
  ec_db_lock_t lock;  /* EC_STORE_SERVE: held until after sqlite3_close */
  bool created;       /* the open created the database file */
  char where[4096];   /* the database's absolute path, or ":memory:" */
  /* Writes of the open transaction (1 for a plain one, those applied in a
   * flush), and where its commit is counted (metrics.h). */
  unsigned txn_writes;
  ec_metrics_t *metrics;
  /* The deployments whose roll-up's time the open transaction moves at its
   * end (store_fleet_touch()). */
  struct {
    char dep[EC_STORE_MAX_ID_LEN + 1];
    int64_t at_ms;
  } touched[STORE_TOUCHED_MAX];
  unsigned n_touched;
  /* What the pairs written lately were left at (store_prior.c); NULL when
   * not kept (a store that is not its database's server). */
  struct store_prior *prior;
  size_t n_prior;
  /* A serving store's second, read-only connection for lists of status
   * messages, with a page cache of its own (store_messages.c), opened at
   * the first such read; NULL before, or when the main one serves them. */
  bool serving;
  bool reader_tried;
  sqlite3 *reader;
  sqlite3_stmt *reader_list[STORE_READER_LISTS];
};

/** Close the status-message reader (store_messages.c), if open. */
void store_msg_reader_close(store_db_t *s);

/** Log the connection's last error as "store: WHAT: message (code)". */
void store_log(sqlite3 *db, const char *what);

/** Reset @p st and drop its bindings (bound SQLITE_STATIC). */
void store_stmt_done(sqlite3_stmt *st);

/**
 * The statement of @p slot, prepared from @p sql on first use.
 * @return the statement, or NULL (logged) when it cannot be prepared
 */
sqlite3_stmt *store_stmt(store_db_t *s, int slot, const char *sql);

/** BEGIN IMMEDIATE (after flushing the queue, so that writes commit in
 * the order they were made) / COMMIT; 0 or EC_ESTORE (logged). */
int store_begin(store_db_t *s);
int store_commit(store_db_t *s);
/** Undo the open transaction, if any. */
void store_rollback(store_db_t *s);

/** Before a write outside store_begin(): flush the queue, so that writes
 * commit in the order they were made. */
void store_settle(store_db_t *s);


/** SQLite's allocator (store_mem.c), before SQLite initializes:
 * sqlite3_config()'s result. */
int store_mem_install(void);

/** Bind a pair (?1 its device, ?2 its lowercased deployment, both
 * SQLITE_STATIC): 0 or EC_ESTORE (logged). */
int store_bind_pair(store_db_t *s, sqlite3_stmt *st, const char *device_id,
                    const char *deployment_lc);

/**
 * Apply one status write inside the open transaction (no BEGIN or COMMIT;
 * store_write.c).
 * @return 0 or EC_ESTORE (logged); the transaction is left as it was
 *         after the failed statement, for the caller to undo
 */
int store_status_apply(store_db_t *s, const ec_status_write_t *w, int *created,
                       int64_t *seq);

/* The pairs written lately (store_prior.c): their last seq, state, and
 * whether they have failed components, as the open transaction left them,
 * and their status row's rowid. */
typedef struct {
  int64_t seq; /* 0: the pair has no row yet */
  int state;
  bool had_failed;
  int64_t rowid; /* of its deployment_status row; 0 when it has none */
} store_prior_t;
/** Keep them from now on (a serving store); without memory, not at all. */
void store_prior_open(store_db_t *s);
/** Forget them all: every rollback does. */
void store_prior_clear(store_db_t *s);
void store_prior_close(store_db_t *s);
/** A pair's key and where it is kept: made by store_prior_find(), for
 * the store_prior_set() of the same pair's write. */
typedef struct {
  char b[2 * (EC_STORE_MAX_ID_LEN + 1)]; /* device_id '\0' deployment_id */
  size_t len;
  uint64_t hash;
} store_prior_key_t;
/** @return true with the pair's values in @p p when it is kept; @p k its
 * key either way */
bool store_prior_find(const store_db_t *s, const char *dev, const char *dep,
                      store_prior_key_t *k, store_prior_t *p);
/** After the write of @p k's pair succeeded in the open transaction. */
void store_prior_set(store_db_t *s, const store_prior_key_t *k,
                     const store_prior_t *p);

/** Check a message post's fields: 0 or EC_EINVAL. */
int store_msg_check(const store_db_t *s, const ec_store_msg_write_t *w,
                    size_t n, const ec_store_msg_request_t *req);

/**
 * Apply one message post inside the open transaction, as
 * store_status_apply() does a status write. @return 0 or EC_ESTORE
 */
int store_msg_apply(store_db_t *s, const ec_store_msg_write_t *w, size_t n,
                    int64_t received_at_ms, const ec_store_msg_request_t *req,
                    int64_t *first_id);

/** True when a post queued and not yet complete has @p r's scope and id. */
bool store_queue_has_request(const store_db_t *s,
                             const ec_store_msg_request_t *r);

/** Check a status write's fields: 0 or EC_EINVAL. */
int store_status_check(const store_db_t *s, const ec_status_write_t *w);

/** Run one statement of store.c's that returns no rows; 0 or EC_ESTORE. */
int store_step_done(store_db_t *s, int which, const char *what);

/** ec__store_id_ok() and ec__store_lower_id() (backend.h). */
static inline bool store_id_ok(const char *id) {
  return ec__store_id_ok(id);
}
static inline void store_lower_id(const char *id, char *out) {
  ec__store_lower_id(id, out);
}

/**
 * A byte cap ended a page read: step once more to learn whether more rows
 * follow (*more, may be NULL).
 * @return SQLITE_DONE to finish the read normally, or SQLite's error code
 */
int store_page_cut(sqlite3_stmt *st, bool *more);

/* A byte buffer that grows by doubling, for results of unknown size. */
typedef struct {
  unsigned char *p;
  size_t len, cap;
} growbuf_t;

/** Append @p n bytes; 0 or EC_ENOMEM. */
int store_growbuf_append(growbuf_t *b, const void *data, size_t n);

/**
 * Join an array and its variable-length data into one malloc'd block, array
 * first; *data_out points at the data part. NULL when out of memory.
 */
void *store_join_block(const growbuf_t *array, const growbuf_t *data,
                       unsigned char **data_out);

/* A read's rows and their strings, gathered, then joined into one block. */
typedef struct {
  growbuf_t array, strs;
  size_t count;
} store_rows_t;

/** Append the NUL-terminated @p str to @p b; 0 or EC_ENOMEM. */
int store_add_str(growbuf_t *b, const unsigned char *str);

/** The next string of a joined block's data, and past it. */
const char *store_next_str(unsigned char **data);

/** Join @p r into one block (its strings' part in *data) and release the
 * buffers; NULL when out of memory. */
void *store_rows_join(store_rows_t *r, unsigned char **data);

/**
 * End a list read of @p r from @p st: its last step said @p rc (SQLITE_ROW
 * when a full page stopped it) and the rows @p err (0, or < 0 to give up).
 * @p st is reset; on success with rows, *block is the joined block (its
 * strings' part in *data), else NULL and @p r's buffers are released.
 * @return 0, @p err, EC_ESTORE (logged as @p what) or EC_ENOMEM
 */
int store_rows_finish(store_db_t *s, sqlite3_stmt *st, int rc, int err,
                      store_rows_t *r, const char *what, void **block,
                      unsigned char **data);

/** Finish a statement's read: SQLITE_DONE is 0, another code EC_ESTORE
 * (logged as @p what). @p st is reset either way. */
int store_read_end(store_db_t *s, sqlite3_stmt *st, int rc, const char *what);

/*
 * A read whose rows each hold one stored document (history entries,
 * status messages): each row is an entry of @p size bytes (at most
 * STORE_DOC_ENTRY_MAX) whose document pointer and length are at @p doc_at
 * and @p len_at; fill() sets the rest from the statement's columns, and
 * the document is column @p col.
 */
#define STORE_DOC_ENTRY_MAX 64
typedef struct {
  size_t size, doc_at, len_at;
  int col;
  void (*fill)(sqlite3_stmt *st, void *entry);
  const char *what; /**< for the log: "read history" */
} store_docs_t;

/**
 * Step @p st (bound) to its end, or until the documents read reach
 * @p max_bytes (0: no cap; store_page_cut() then says *more, which may be
 * NULL), and hand back the rows as one malloc'd block: the entries, then
 * the documents, each entry pointing at its own. @p st is reset.
 * @return 0 (*out NULL when *n is 0), EC_ENOMEM or EC_ESTORE (logged)
 */
int store_read_docs(store_db_t *s, sqlite3_stmt *st, const store_docs_t *shape,
                    size_t max_bytes, void **out, size_t *n, bool *more);

/**
 * The fleet's share of a status write (store_fleet.c), inside its
 * transaction: its failed components replace the pair's
 * (the error code is in the row store.c wrote). @p dep is lowercase;
 * @p had_failed says whether the pair had failed components before.
 * @return 0 or EC_ESTORE (logged)
 */
int store_fleet_put(store_db_t *s, const ec_status_write_t *w, const char *dep,
                    bool had_failed);

/**
 * A report of deployment @p dep (lowercase) received at @p at_ms that
 * changed no state: the roll-up's time moves to it at the transaction's
 * end (store_fleet_flush()), once per deployment, as the roll-up's trigger
 * moves it for a new row or state. @return 0 or EC_ESTORE (logged)
 */
int store_fleet_touch(store_db_t *s, const char *dep, int64_t at_ms);

/** Write the gathered roll-up times, before COMMIT. @return 0 or EC_ESTORE */
int store_fleet_flush(store_db_t *s);


/* The backend table's entries (backend.h), each the store.h call of its name
 * on a store_db_t. */
extern const ec_store_backend_t store_sqlite_backend;

/** @p s as the SQLite store it is, or NULL when it is NULL or another
 * backend's (store_sqlite.h's calls answer EC_EINVAL then). */
store_db_t *store_db_of(ec_store_t *s);

int store_sqlite_ping(ec_store_t *s);
void store_sqlite_set_metrics(ec_store_t *s, ec_metrics_t *m);
int store_sqlite_size(ec_store_t *s, int64_t *bytes);
void store_sqlite_close(ec_store_t *s);
const char *store_sqlite_where(const ec_store_t *s);
bool store_sqlite_created(const ec_store_t *s);
int store_sqlite_status_by_request(ec_store_t *s, const char *device_id,
                                   const uint8_t *rid, size_t rid_len,
                                   char dep[EC_STORE_MAX_ID_LEN + 1],
                                   int64_t *seq, uint8_t **doc,
                                   size_t *doc_len);
int store_sqlite_status_put(ec_store_t *s, const ec_status_write_t *w,
                            int *created, int64_t *seq);
int store_sqlite_status_queue(ec_store_t *s, const ec_status_write_t *w,
                              ec_status_done_fn fn, void *ud);
int store_sqlite_flush(ec_store_t *s);
int store_sqlite_wait(ec_store_t *s);
size_t store_sqlite_queued(const ec_store_t *s);
int store_sqlite_msg_queue(ec_store_t *s, const ec_store_msg_write_t *w,
                           size_t n, int64_t received_at_ms,
                           const ec_store_msg_request_t *req, ec_msg_done_fn fn,
                           void *ud);
int store_sqlite_status_get(ec_store_t *s, const char *device_id,
                            const char *deployment_id, uint8_t **doc,
                            size_t *doc_len, int64_t *updated_at_ms,
                            int64_t *seq);
int store_sqlite_history_page(ec_store_t *s, const char *device_id,
                              const char *deployment_id, int64_t since,
                              int limit, size_t max_bytes,
                              ec_history_entry_t **entries, size_t *n,
                              bool *more);
int store_sqlite_deployments_page(ec_store_t *s, const char *device_id,
                                  const char *after, size_t max_bytes,
                                  ec_deployment_summary_t **list, size_t *n,
                                  bool *more);
int store_sqlite_each_status(ec_store_t *s,
                             int (*fn)(void *ud, const char *device_id,
                                       const char *deployment_id),
                             void *ud);
int store_sqlite_fleet_devices(ec_store_t *s, const ec_store_fleet_query_t *q,
                               size_t max_bytes, ec_fleet_device_t **list,
                               size_t *n, bool *more);
int store_sqlite_fleet_rollup(ec_store_t *s, const char *deployment_id,
                              ec_fleet_rollup_t *out, void **block);
int store_sqlite_fleet_rollups(ec_store_t *s, const char *after, int limit,
                               ec_fleet_rollup_t **list, size_t *n, bool *more);
int store_sqlite_msg_insert_req(ec_store_t *s, const ec_store_msg_write_t *w,
                                size_t n, int64_t received_at_ms,
                                const ec_store_msg_request_t *req,
                                int64_t *first_id);
int store_sqlite_msg_request_find(ec_store_t *s, ec_store_msg_request_t *req,
                                  int64_t *first_id);
int store_sqlite_msg_page(ec_store_t *s, const ec_msg_filter_t *f, int limit,
                          bool newest_first, size_t max_bytes,
                          ec_msg_row_t **rows, size_t *n, bool *more);
int store_sqlite_msg_get(ec_store_t *s, int64_t id, ec_msg_row_t **row);
int store_sqlite_prov_import(ec_store_t *s, const ec_store_prov_import_t *im);
int store_sqlite_prov_user_put(ec_store_t *s, const ec_store_prov_user_t *u,
                               int64_t *id, int *created);
int store_sqlite_prov_user_find(ec_store_t *s, const char *username,
                                ec_store_prov_user_t *out);
int store_sqlite_prov_user_get(ec_store_t *s, int64_t id,
                               ec_store_prov_user_t *out);
int store_sqlite_prov_user_each(ec_store_t *s,
                                int (*fn)(void *ud,
                                          const ec_store_prov_user_t *u),
                                void *ud);
int store_sqlite_prov_user_remove(ec_store_t *s, const char *username,
                                  const char *unknown_hash, bool *kept);
int store_sqlite_prov_owner(ec_store_t *s, int64_t id, int64_t *owner_id);
int store_sqlite_prov_component_of(ec_store_t *s, int64_t pc_id,
                                   int64_t *provisioning_id);
int store_sqlite_prov_token_add(ec_store_t *s, const uint8_t *digest,
                                int64_t user_id, int64_t now_ms,
                                int64_t ttl_ms);
int store_sqlite_prov_token_use(ec_store_t *s, const uint8_t *digest,
                                int64_t now_ms, int64_t ttl_ms,
                                int64_t touch_ms, int64_t *user_id);
int store_sqlite_login_failed(ec_store_t *s, const char *username,
                              int64_t now_ms, int64_t window_ms,
                              int64_t *count);
int store_sqlite_login_failures(ec_store_t *s, const char *username,
                                int64_t now_ms, int64_t window_ms,
                                int64_t *count);
int store_sqlite_prov_token_delete(ec_store_t *s, const uint8_t *digest,
                                   int64_t now_ms, int64_t ttl_ms);
int store_sqlite_prov_select_owned(ec_store_t *s, const ec_prov_request_t *f,
                                   int64_t owner_id, ec_prov_component_t **rows,
                                   size_t *n);
int store_sqlite_prov_insert(ec_store_t *s, const ec_prov_request_t *rq,
                             int64_t user_id, int64_t now_s,
                             ec_store_prov_outcome_t *o);
int store_sqlite_prov_update(ec_store_t *s, const ec_prov_request_t *rq,
                             int64_t user_id, int64_t now_s,
                             ec_store_prov_outcome_t *o);
int store_sqlite_device_add(ec_store_t *s, const ec_store_device_t *d,
                            int64_t *id);
int store_sqlite_device_find(ec_store_t *s, const uint8_t *identity, size_t len,
                             ec_store_device_t *out);
int store_sqlite_device_remove(ec_store_t *s, const char *identity);
int store_sqlite_device_each(ec_store_t *s, bool with_keys,
                             int (*fn)(void *ud, const ec_store_device_t *d),
                             void *ud);
int store_sqlite_device_count(ec_store_t *s, int64_t *n);
int store_sqlite_device_version(ec_store_t *s, int64_t *version);

#endif /* EDGECOAP_STORE_INTERNAL_H */
