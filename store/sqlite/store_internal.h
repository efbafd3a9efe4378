/* edgecoap store internals shared by the store's files (store*.c) only. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_STORE_INTERNAL_H
#define EDGECOAP_STORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <sqlite3.h>

#include "store.h"

/*
 * The store is one ec_store_t split over several files, one per API family
 * (store.c: open, migrations and deployment status). Each file prepares its
 * statements on first use through store_stmt() into its own range of slots,
 * and they stay prepared until ec_store_close().
 */

/* The statements of store.c, prepared once at open. */
enum {
  ST_BEGIN,
  ST_COMMIT,
  ST_ROLLBACK,
  ST_STATUS_UPSERT,
  ST_HISTORY_INSERT,
  ST_STATUS_GET,
  ST_HISTORY_GET,
  ST_DEPLOYMENTS,
  ST_EACH,
  ST_SAVEPOINT,
  ST_RELEASE,
  ST_ROLLBACK_TO,
  ST_BY_REQUEST,
  ST_COUNT
};

/* Slot ranges of the other store files for store_stmt(). */
enum {
  STORE_SLOTS_MESSAGES = 0,      /* store_messages.c: 0..31 */
  STORE_SLOTS_PROVISIONING = 32, /* store_provisioning.c: 32..63 */
  STORE_SLOTS_DEVICES = 64,      /* store_devices.c: 64..95 */
  STORE_LAZY_SLOTS = 96
};

struct ec_store {
  sqlite3 *db;
  sqlite3_stmt *st[ST_COUNT];
  sqlite3_stmt *lazy[STORE_LAZY_SLOTS];
  /* Set while ec_store_each_status() runs: its callback must not restart the
   * walk's statement or write under it. */
  bool walking;
  /* Set between ec_store_batch_begin() and its commit: writes that support
   * it run in savepoints inside that one transaction (group commit). */
  bool batch;
};

/** Log the connection's last error as "store: WHAT: message (code)". */
void store_log(sqlite3 *db, const char *what);

/** Reset @p st and drop its bindings (bound SQLITE_STATIC). */
void store_stmt_done(sqlite3_stmt *st);

/**
 * The statement of @p slot, prepared from @p sql on first use.
 * @return the statement, or NULL (logged) when it cannot be prepared
 */
sqlite3_stmt *store_stmt(ec_store_t *s, int slot, const char *sql);

/** BEGIN IMMEDIATE / COMMIT; 0 or EC_ESTORE (logged). */
int store_begin(ec_store_t *s);
int store_commit(ec_store_t *s);
/** Undo the open transaction, if any. */
void store_rollback(ec_store_t *s);

/** Run SQL text with no results; 0 or EC_ESTORE (logged). */
int store_exec(sqlite3 *db, const char *sql, const char *what);

/** True for an id of 1..EC_STORE_MAX_ID_LEN bytes. */
bool store_id_ok(const char *id);
/** ASCII-lowercase @p id into @p out (EC_STORE_MAX_ID_LEN + 1 bytes). */
void store_lower_id(const char *id, char *out);

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

#endif /* EDGECOAP_STORE_INTERNAL_H */
