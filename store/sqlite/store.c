/* edgecoap: the SQLite store of deployment-status reports and their history. */
/* SPDX-License-Identifier: Apache-2.0 */

/*
 * Schema, version 1 (PRAGMA user_version = 1):
 *
 *   deployment_status            the current report of each pair
 *     device_id     TEXT    NOT NULL   as the route spells it (case-sensitive)
 *     deployment_id TEXT    NOT NULL   ASCII-lowercased, so that routes match
 *                                      UUIDs case-insensitively
 *     state         INTEGER NOT NULL   ec_state_t of the latest report
 *     doc           BLOB    NOT NULL   the latest report, opaque
 *     updated_at    INTEGER NOT NULL   its receipt, ms since the epoch (UTC)
 *     last_seq      INTEGER NOT NULL   seq of the latest report (1, 2, ...)
 *     PRIMARY KEY (device_id, deployment_id)
 *
 *   status_history               every accepted report, append-only
 *     id            INTEGER PRIMARY KEY
 *     device_id, deployment_id     as above; the pair's deployment_status
 *                                  row exists (written first; triggers
 *                                  keep it: migration 13)
 *     seq           INTEGER NOT NULL   per pair, 1, 2, ... without gaps
 *     received_at   INTEGER NOT NULL   ms since the epoch (UTC)
 *     doc           BLOB    NOT NULL
 *     request_id    BLOB               the client's Request-Id (8-16 bytes)
 *                                      or NULL; migration 6
 *     UNIQUE (device_id, deployment_id, seq)   also the index history reads use
 *     UNIQUE (device_id, request_id) WHERE request_id IS NOT NULL
 *
 * Both tables are STRICT. Triggers refuse UPDATE and DELETE on
 * status_history; a retention policy would arrive as a migration that
 * replaces them.
 *
 * Durability: the connection runs in WAL mode with synchronous=FULL unless
 * ec_store_set_synchronous() says otherwise. The API promises that nothing is
 * acknowledged before it is durable, and in WAL mode only FULL syncs the WAL
 * at every commit: NORMAL survives a crash of the process but may lose the
 * last transactions on power loss or an OS crash, and OFF may even corrupt
 * the database then.
 */
#include "store.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "edgecoap/error.h"
#include "log.h"
#include "store_internal.h"
#include "util.h"

/* The body of the roll-up's trigger on a change of a pair's state: the
 * counts move from the old state to the new (migrations 8 and 9). */
#define ROLLUP_STATE_CHANGE                                               \
  " UPDATE fleet_rollup SET pending = pending + (new.state = 0) - "       \
  "(old.state = 0), installing = installing + (new.state = 1) - "         \
  "(old.state = 1), installed = installed + (new.state = 2) - "           \
  "(old.state = 2), failed = failed + (new.state = 3) - (old.state = "    \
  "3), removing = removing + (new.state = 4) - (old.state = 4), "         \
  "removed = removed + (new.state = 5) - (old.state = 5), updated_at "    \
  "= max(updated_at, new.updated_at) WHERE deployment_id = "              \
  "new.deployment_id; END;"

/* status_history's first six columns and its append-only triggers, as
 * migration 1 made them and migration 13 makes them again. */
#define HISTORY_COLUMNS                                                   \
  "  id            INTEGER PRIMARY KEY,"                                  \
  "  device_id     TEXT    NOT NULL,"                                     \
  "  deployment_id TEXT    NOT NULL,"                                     \
  "  seq           INTEGER NOT NULL CHECK (seq >= 1),"                    \
  "  received_at   INTEGER NOT NULL,"                                     \
  "  doc           BLOB    NOT NULL,"
#define HISTORY_APPEND_ONLY                                               \
  "CREATE TRIGGER status_history_no_update BEFORE UPDATE ON status_history" \
  " BEGIN SELECT RAISE(ABORT, 'status_history is append-only'); END;"     \
  "CREATE TRIGGER status_history_no_delete BEFORE DELETE ON status_history" \
  " BEGIN SELECT RAISE(ABORT, 'status_history is append-only'); END;"

/*
 * Migrations, applied in order, each in its own transaction that also sets
 * user_version to its 1-based index. Never edit a released entry: append.
 */
static const char *const migrations[] = {
    /* 1: deployment status and its history. */
    "CREATE TABLE deployment_status ("
    "  device_id     TEXT    NOT NULL,"
    "  deployment_id TEXT    NOT NULL,"
    "  state         INTEGER NOT NULL CHECK (state >= 0),"
    "  doc           BLOB    NOT NULL,"
    "  updated_at    INTEGER NOT NULL,"
    "  last_seq      INTEGER NOT NULL CHECK (last_seq >= 1),"
    "  PRIMARY KEY (device_id, deployment_id)"
    ") STRICT;"
    "CREATE TABLE status_history ("
    HISTORY_COLUMNS
    "  UNIQUE (device_id, deployment_id, seq),"
    "  FOREIGN KEY (device_id, deployment_id)"
    "    REFERENCES deployment_status (device_id, deployment_id)"
    ") STRICT;"
    HISTORY_APPEND_ONLY,
    /* Status messages (store/sqlite/store_messages.c describes the schema). */
    "CREATE TABLE status_messages ("
    "  id              INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  message_date    INTEGER NOT NULL,"
    "  received_at     INTEGER NOT NULL,"
    "  message_code    INTEGER NOT NULL"
    "                  CHECK (message_code BETWEEN 100 AND 999),"
    "  order_id        TEXT CHECK (length(order_id) BETWEEN 1 AND 36),"
    "  subscription_id TEXT CHECK (length(subscription_id) BETWEEN 1 AND 36),"
    "  access_id       TEXT CHECK (length(access_id) BETWEEN 1 AND 32),"
    "  doc             BLOB NOT NULL,"
    "  CHECK (order_id IS NOT NULL OR subscription_id IS NOT NULL"
    "         OR access_id IS NOT NULL)"
    ") STRICT;"
    "CREATE INDEX status_messages_order ON status_messages (order_id)"
    " WHERE order_id IS NOT NULL;"
    "CREATE INDEX status_messages_subscription"
    " ON status_messages (subscription_id) WHERE subscription_id IS NOT NULL;"
    "CREATE INDEX status_messages_access ON status_messages (access_id)"
    " WHERE access_id IS NOT NULL;"
    "CREATE INDEX status_messages_date ON status_messages (message_date);"
    "CREATE TABLE status_message_macs ("
    "  mac        INTEGER NOT NULL CHECK (mac BETWEEN 0 AND 281474976710655),"
    "  message_id INTEGER NOT NULL REFERENCES status_messages (id),"
    "  PRIMARY KEY (mac, message_id)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE TRIGGER status_messages_no_update BEFORE UPDATE ON status_messages"
    " BEGIN SELECT RAISE(ABORT, 'status_messages is append-only'); END;"
    "CREATE TRIGGER status_messages_no_delete BEFORE DELETE ON status_messages"
    " BEGIN SELECT RAISE(ABORT, 'status_messages is append-only'); END;",
    /* Device provisioning components: accounts, tokens (digests only),
     * catalogs and components (store/sqlite/store_provisioning.c describes it). */
    "CREATE TABLE prov_users ("
    "  id            INTEGER PRIMARY KEY CHECK (id >= 0),"
    "  username      TEXT    NOT NULL UNIQUE"
    "                CHECK (length(username) BETWEEN 1 AND 255),"
    "  password_hash TEXT    NOT NULL CHECK (password_hash LIKE '$argon2%'),"
    "  role          TEXT    NOT NULL CHECK (length(role) <= 255)"
    ") STRICT;"
    "CREATE TABLE prov_tokens ("
    "  digest        BLOB    PRIMARY KEY CHECK (length(digest) = 32),"
    "  user_id       INTEGER NOT NULL REFERENCES prov_users (id),"
    "  created_at    INTEGER NOT NULL,"
    "  last_used_at  INTEGER NOT NULL"
    ") STRICT, WITHOUT ROWID;"
    "CREATE INDEX prov_tokens_last_used ON prov_tokens (last_used_at);"
    "CREATE TABLE prov_provisionings ("
    "  id            INTEGER PRIMARY KEY CHECK (id >= 0),"
    "  name          TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 255),"
    "  active_status INTEGER NOT NULL CHECK (active_status IN (0, 1))"
    ") STRICT;"
    "CREATE TABLE prov_catalog ("
    "  component_type INTEGER NOT NULL CHECK (component_type BETWEEN 0 AND 2),"
    "  component_id   INTEGER NOT NULL CHECK (component_id >= 0),"
    "  name           TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 255),"
    "  PRIMARY KEY (component_type, component_id)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE VIEW prov_sensors AS SELECT component_id AS id, name"
    " FROM prov_catalog WHERE component_type = 0;"
    "CREATE VIEW prov_parameters AS SELECT component_id AS id, name"
    " FROM prov_catalog WHERE component_type = 1;"
    "CREATE VIEW prov_group_parameters AS SELECT component_id AS id, name"
    " FROM prov_catalog WHERE component_type = 2;"
    "CREATE TABLE prov_components ("
    "  id               INTEGER PRIMARY KEY,"
    "  provisioning_id  INTEGER NOT NULL REFERENCES prov_provisionings (id),"
    "  component_type   INTEGER NOT NULL,"
    "  component_id     INTEGER NOT NULL,"
    "  active_status    INTEGER NOT NULL CHECK (active_status IN (0, 1)),"
    "  last_modified_by INTEGER NOT NULL REFERENCES prov_users (id),"
    "  last_modified_at INTEGER NOT NULL,"
    "  UNIQUE (provisioning_id, component_type, component_id),"
    "  FOREIGN KEY (component_type, component_id)"
    "    REFERENCES prov_catalog (component_type, component_id)"
    ") STRICT;",
    /* DTLS PSK identities and their keys (store/sqlite/store_devices.c). */
    "CREATE TABLE devices ("
    "  id         INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  identity   TEXT    NOT NULL UNIQUE"
    "             CHECK (length(identity) BETWEEN 1 AND 128),"
    "  role       TEXT    NOT NULL CHECK (role IN ('device', 'operator')),"
    "  psk        BLOB    NOT NULL CHECK (length(psk) BETWEEN 16 AND 64),"
    "  created_at INTEGER NOT NULL"
    ") STRICT;",
    /* Provisioning owners: the account (usually a device's) that may read
     * and change a provisioning's components besides admins and operators
     * (server/api/res_provisioning.c). NULL: none. */
    "ALTER TABLE prov_provisionings ADD COLUMN"
    "  owner_id INTEGER REFERENCES prov_users (id);",
    /* Request identifiers (API.md, "Request-Id"): the client's name of a
     * write, kept with the history entry it made, so a repeat of it, however
     * much later, is recognised. One per device across its deployments. */
    "ALTER TABLE status_history ADD COLUMN request_id BLOB"
    "  CHECK (request_id IS NULL OR length(request_id) BETWEEN 8 AND 16);"
    "CREATE UNIQUE INDEX status_history_request"
    " ON status_history (device_id, request_id) WHERE request_id IS NOT NULL;",
    /* Request identifiers of status-message posts (store_messages.c): the
     * poster (a DTLS identity, or '' over plain CoAP), the id, a digest of
     * the request body, and the messages the post stored. */
    "CREATE TABLE status_message_requests ("
    "  scope      TEXT    NOT NULL CHECK (length(scope) <= 255),"
    "  request_id BLOB    NOT NULL CHECK (length(request_id) BETWEEN 8 AND 16),"
    "  digest     BLOB    NOT NULL CHECK (length(digest) = 32),"
    "  first_id   INTEGER NOT NULL REFERENCES status_messages (id),"
    "  count      INTEGER NOT NULL CHECK (count >= 0),"
    "  PRIMARY KEY (scope, request_id)"
    ") STRICT, WITHOUT ROWID;",
    /* The fleet (store/sqlite/store_fleet.c): each report's error code,
     * indexes for the fleet's lists, and per deployment a roll-up of its
     * devices' states and of their failed components, kept by triggers in
     * every write's own transaction. Rows stored before this migration are
     * counted by state at once; their error codes and failed components
     * come with their next report (the documents are opaque here). */
    "ALTER TABLE deployment_status ADD COLUMN error_code TEXT;"
    "CREATE INDEX deployment_status_by_deployment"
    " ON deployment_status (deployment_id, device_id);"
    "CREATE INDEX deployment_status_by_deployment_state"
    " ON deployment_status (deployment_id, state, device_id);"
    "CREATE INDEX deployment_status_by_state"
    " ON deployment_status (state, device_id, deployment_id);"
    "CREATE TABLE fleet_rollup ("
    "  deployment_id TEXT PRIMARY KEY,"
    "  pending    INTEGER NOT NULL DEFAULT 0 CHECK (pending >= 0),"
    "  installing INTEGER NOT NULL DEFAULT 0 CHECK (installing >= 0),"
    "  installed  INTEGER NOT NULL DEFAULT 0 CHECK (installed >= 0),"
    "  failed     INTEGER NOT NULL DEFAULT 0 CHECK (failed >= 0),"
    "  removing   INTEGER NOT NULL DEFAULT 0 CHECK (removing >= 0),"
    "  removed    INTEGER NOT NULL DEFAULT 0 CHECK (removed >= 0),"
    "  updated_at INTEGER NOT NULL DEFAULT 0"
    ") STRICT, WITHOUT ROWID;"
    "INSERT INTO fleet_rollup (deployment_id, pending, installing, "
    "installed, failed, removing, removed, updated_at) SELECT "
    "deployment_id, sum(state = 0), sum(state = 1), sum(state = 2), "
    "sum(state = 3), sum(state = 4), sum(state = 5), max(updated_at) "
    "FROM deployment_status GROUP BY deployment_id;"
    "CREATE TRIGGER fleet_rollup_insert AFTER INSERT ON deployment_status"
    " BEGIN INSERT OR IGNORE INTO fleet_rollup (deployment_id)"
    " VALUES (new.deployment_id);"
    " UPDATE fleet_rollup SET pending = pending + (new.state = 0), "
    "installing = installing + (new.state = 1), installed = installed + "
    "(new.state = 2), failed = failed + (new.state = 3), removing = "
    "removing + (new.state = 4), removed = removed + (new.state = 5), "
    "updated_at = max(updated_at, new.updated_at) WHERE deployment_id = "
    "new.deployment_id; END;"
    "CREATE TRIGGER fleet_rollup_update"
    " AFTER UPDATE OF state, updated_at ON deployment_status BEGIN"
    ROLLUP_STATE_CHANGE
    "CREATE TABLE status_failures ("
    "  deployment_id TEXT NOT NULL,"
    "  device_id     TEXT NOT NULL,"
    "  component     TEXT NOT NULL,"
    "  code          TEXT NOT NULL,"
    "  PRIMARY KEY (deployment_id, device_id, component)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE TABLE fleet_failures ("
    "  deployment_id TEXT    NOT NULL,"
    "  component     TEXT    NOT NULL,"
    "  code          TEXT    NOT NULL,"
    "  devices       INTEGER NOT NULL CHECK (devices >= 0),"
    "  PRIMARY KEY (deployment_id, component, code)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE TRIGGER fleet_failure_insert AFTER INSERT ON status_failures"
    " BEGIN INSERT OR IGNORE INTO fleet_failures"
    " VALUES (new.deployment_id, new.component, new.code, 0);"
    " UPDATE fleet_failures SET devices = devices + 1"
    " WHERE deployment_id = new.deployment_id"
    " AND component = new.component AND code = new.code; END;"
    "CREATE TRIGGER fleet_failure_delete AFTER DELETE ON status_failures"
    " BEGIN UPDATE fleet_failures SET devices = devices - 1"
    " WHERE deployment_id = old.deployment_id"
    " AND component = old.component AND code = old.code;"
    " DELETE FROM fleet_failures WHERE deployment_id = old.deployment_id"
    " AND component = old.component AND code = old.code"
    " AND devices = 0; END;",
    /* 9: a report that keeps its pair's state changes no count, so the
     * roll-up's trigger fires on a change of state alone; the time of the
     * latest report (updated_at) is moved by the store once per
     * transaction for each deployment its writes touched
     * (store_fleet_flush()), not once per report. */
    "DROP TRIGGER fleet_rollup_update;"
    "CREATE TRIGGER fleet_rollup_state AFTER UPDATE OF state"
    " ON deployment_status BEGIN"
    ROLLUP_STATE_CHANGE,
    /* 10: an order's messages read from its index alone: the index holds
     * each message's ID and document after its orderId, so a page of an
     * order is one run of adjacent index entries, however large the table
     * (store_messages.c). It replaces the index of orderIds alone. */
    "DROP INDEX IF EXISTS status_messages_order;"
    "CREATE INDEX IF NOT EXISTS status_messages_order_doc"
    " ON status_messages (order_id, id, doc) WHERE order_id IS NOT NULL;",
    /* 11: failed logins per username (store_users.c): its window's start and
     * count, shared by every server on the store. */
    "CREATE TABLE login_failures ("
    "  username     TEXT    PRIMARY KEY CHECK (length(username) <= 255),"
    "  window_start INTEGER NOT NULL,"
    "  count        INTEGER NOT NULL CHECK (count >= 1)"
    ") STRICT, WITHOUT ROWID;",
    /* 12: the identities' version (store_devices.c): one row, bumped by
     * every change to devices, whoever makes it, so a server that keeps
     * the identities in memory sees an admin's change at its next look. */
    "CREATE TABLE devices_version (v INTEGER NOT NULL) STRICT;"
    "INSERT INTO devices_version VALUES (0);"
    "CREATE TRIGGER devices_version_insert AFTER INSERT ON devices"
    " BEGIN UPDATE devices_version SET v = v + 1; END;"
    "CREATE TRIGGER devices_version_update AFTER UPDATE ON devices"
    " BEGIN UPDATE devices_version SET v = v + 1; END;"
    "CREATE TRIGGER devices_version_delete AFTER DELETE ON devices"
    " BEGIN UPDATE devices_version SET v = v + 1; END;",
    /* 13: status_history rebuilt without its foreign key, whose check (a
     * look-up of the pair's status row for every report) was a sixth of a
     * report's SQL. Its rule stays the database's: each history row's pair
     * has its status row, which the store writes first in the same
     * transaction, and triggers refuse to delete or re-key a status row
     * that has history. The columns, their CHECKs, the uniqueness of
     * (pair, seq) and of (device, Request-Id) and the append-only triggers
     * are as before; the rows are copied with their ids. It can run again
     * on its own result (the tests' older versions are made so). */
    "DROP TRIGGER IF EXISTS deployment_status_keeps_history;"
    "DROP TRIGGER IF EXISTS deployment_status_keeps_its_key;"
    "CREATE TABLE status_history_new ("
    HISTORY_COLUMNS
    "  request_id    BLOB"
    "    CHECK (request_id IS NULL OR length(request_id) BETWEEN 8 AND 16),"
    "  UNIQUE (device_id, deployment_id, seq)"
    ") STRICT;"
    "INSERT INTO status_history_new (id, device_id, deployment_id, seq,"
    " received_at, doc, request_id) SELECT id, device_id, deployment_id,"
    " seq, received_at, doc, request_id FROM status_history ORDER BY id;"
    "DROP TABLE status_history;"
    "ALTER TABLE status_history_new RENAME TO status_history;"
    "CREATE UNIQUE INDEX status_history_request"
    " ON status_history (device_id, request_id) WHERE request_id IS NOT NULL;"
    HISTORY_APPEND_ONLY
    "CREATE TRIGGER deployment_status_keeps_history"
    " BEFORE DELETE ON deployment_status"
    " WHEN EXISTS (SELECT 1 FROM status_history WHERE device_id ="
    " old.device_id AND deployment_id = old.deployment_id)"
    " BEGIN SELECT RAISE(ABORT, 'a status with history stays'); END;"
    "CREATE TRIGGER deployment_status_keeps_its_key"
    " BEFORE UPDATE OF device_id, deployment_id ON deployment_status"
    " WHEN new.device_id IS NOT old.device_id"
    " OR new.deployment_id IS NOT old.deployment_id"
    " BEGIN SELECT RAISE(ABORT, 'a status keeps its pair'); END;",
};

#define N_MIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))


static const char *const statement_sql[ST_COUNT] = {
    /* IMMEDIATE takes the write lock up front, so a put never fails half-way
     * with SQLITE_BUSY on lock upgrade; busy_timeout covers the wait. */
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    /* What a write must know of the pair before it: its last seq (a new
     * row starts at 1, each later report adds one), its state, whether it
     * has failed components to replace (store_fleet.c), and its row's
     * rowid. Then one of three writes: a plain INSERT or UPDATE costs
     * SQLite far less than an upsert with RETURNING (which builds a
     * temporary table per run), and an UPDATE that leaves state alone
     * touches neither of the indexes that hold it. An UPDATE finds the row
     * by its rowid, a seek of the table alone where the pair's key would
     * seek the primary key's index first; it compares the pair's columns
     * too, so that a rowid which no longer holds the pair (a VACUUM
     * renumbers them) changes nothing, and the write reads the pair again
     * (store_status_apply). */
    [ST_STATUS_PRIOR] =
        "SELECT last_seq, state, EXISTS (SELECT 1 FROM status_failures"
        " WHERE deployment_id = ?2 AND device_id = ?1), rowid"
        " FROM deployment_status WHERE device_id = ?1 AND deployment_id = ?2",
    [ST_STATUS_INSERT] =
        "INSERT INTO deployment_status (device_id, deployment_id, state, doc,"
        " updated_at, last_seq, error_code) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_STATUS_UPDATE] =
        "UPDATE deployment_status SET state = ?3, doc = ?4, updated_at = ?5,"
        " last_seq = ?6, error_code = ?7"
        " WHERE rowid = ?8 AND device_id = ?1 AND deployment_id = ?2",
    [ST_STATUS_TOUCH] =
        "UPDATE deployment_status SET doc = ?4, updated_at = ?5,"
        " last_seq = ?6, error_code = ?7"
        " WHERE rowid = ?8 AND device_id = ?1 AND deployment_id = ?2",
    [ST_HISTORY_INSERT] =
        "INSERT INTO status_history"
        " (device_id, deployment_id, seq, received_at, doc, request_id)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_STATUS_GET] = "SELECT doc, updated_at, last_seq FROM deployment_status"
                      " WHERE device_id = ?1 AND deployment_id = ?2",
    [ST_HISTORY_GET] = "SELECT seq, received_at, doc FROM status_history"
                       " WHERE device_id = ?1 AND deployment_id = ?2"
                       " AND seq > ?3 ORDER BY seq LIMIT ?4",
    [ST_DEPLOYMENTS] = "SELECT deployment_id, state, updated_at"
                       " FROM deployment_status WHERE device_id = ?1"
                       " AND deployment_id > ?2 ORDER BY deployment_id",
    [ST_EACH] = "SELECT device_id, deployment_id FROM deployment_status"
                " ORDER BY device_id, deployment_id",
    [ST_BY_REQUEST] = "SELECT deployment_id, seq, doc FROM status_history"
                      " WHERE device_id = ?1 AND request_id = ?2",
};


/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

void store_log(sqlite3 *db, const char *what) {
  ec_log(EC_LOG_ERROR, "store: %s: %s (%d)", what, sqlite3_errmsg(db),
         sqlite3_extended_errcode(db));
}

/* Make a statement ready for its next use and drop references to the
 * caller's buffers, which were bound with SQLITE_STATIC. */
void store_stmt_done(sqlite3_stmt *st) {
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
}

/* Run a statement that returns no rows and must finish in one step. */
int store_step_done(store_db_t *s, int which, const char *what) {
  sqlite3_stmt *st = s->st[which];
  uint64_t t0 = which == ST_COMMIT ? ec_mono_us() : 0;
  int rc = sqlite3_step(st);
  if (rc != SQLITE_DONE)
    store_log(s->db, what);
  store_stmt_done(st);
  if (which == ST_BEGIN) {
    s->txn_writes = 1;
    s->n_touched = 0;
  } else if (which == ST_COMMIT) {
    /* Every durable write ends in this COMMIT: its time (the sync, mostly)
     * and how many writes shared it. An empty batch is no write. */
    if (rc != SQLITE_DONE) {
      ec_metrics_add(s->metrics, EC_M_COMMITS_FAILED, 1);
    } else if (s->txn_writes > 0) {
      ec_metrics_observe(s->metrics, EC_H_COMMIT_SECONDS, ec_mono_us() - t0);
      ec_metrics_observe(s->metrics, EC_H_COMMIT_WRITES, s->txn_writes);
    }
    s->txn_writes = 0;
  }
  return rc == SQLITE_DONE ? 0 : EC_ESTORE;
}

/* Undo the open transaction, if SQLite has not already done so (some errors
 * roll back by themselves, and ROLLBACK without a transaction is an error). */
void store_rollback(store_db_t *s) {
  /* What the transaction's writes left is gone with it. */
  store_prior_clear(s);
  if (!sqlite3_get_autocommit(s->db))
    (void)store_step_done(s, ST_ROLLBACK, "ROLLBACK");
}

int store_begin(store_db_t *s) {
  if (s->flushing) {
    /* A flush's callback runs after its COMMIT, so this cannot happen. */
    ec_log(EC_LOG_ERROR, "store: a write began inside a flush");
    return EC_EINVAL;
  }
  store_settle(s);
  return store_step_done(s, ST_BEGIN, "BEGIN");
}

void store_settle(store_db_t *s) {
  /* Writes commit in the order they were made: the queue's first. */
  if (s->queue != NULL && !s->flushing)
    (void)store_sqlite_wait(&s->base);
}

int store_commit(store_db_t *s) {
  return store_step_done(s, ST_COMMIT, "COMMIT");
}

sqlite3_stmt *store_stmt(store_db_t *s, int slot, const char *sql) {
  if (slot < 0 || slot >= STORE_LAZY_SLOTS)
    return NULL;
  if (s->lazy[slot] == NULL &&
      sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                         &s->lazy[slot], NULL) != SQLITE_OK) {
    store_log(s->db, sql);
    s->lazy[slot] = NULL;
  }
  return s->lazy[slot];
}


int store_bind_pair(store_db_t *s, sqlite3_stmt *st, const char *device_id,
                    const char *deployment_lc) {
  if (sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_text(st, 2, deployment_lc, -1, SQLITE_STATIC) != SQLITE_OK) {
    store_log(s->db, "bind");
    return EC_ESTORE;
  }
  return 0;
}

int store_page_cut(sqlite3_stmt *st, bool *more) {
  int rc = sqlite3_step(st);
  if (more != NULL)
    *more = rc == SQLITE_ROW;
  return rc == SQLITE_ROW ? SQLITE_DONE : rc;
}

int store_growbuf_append(growbuf_t *b, const void *data, size_t n) {
  if (n == 0)
    return 0;
  if (n > SIZE_MAX - b->len)
    return EC_ENOMEM;
  if (b->p == NULL || b->len + n > b->cap) {
    /* A read's rows and documents (a page of status messages, a few KiB)
     * fit the first allocation: growing by doubling from a few hundred
     * bytes cost more than the read's SQL. */
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n) {
      if (cap > SIZE_MAX / 2)
        return EC_ENOMEM;
      cap *= 2;
    }
    unsigned char *p = realloc(b->p, cap);
    if (p == NULL)
      return EC_ENOMEM;
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, data, n);
  b->len += n;
  return 0;
}

/* Join an array and its variable-length data into one malloc'd block,
 * array first (malloc's alignment suits it) and data right after it. */
void *store_join_block(const growbuf_t *array, const growbuf_t *data,
                        unsigned char **data_out) {
  if (data->len > SIZE_MAX - array->len)
    return NULL;
  unsigned char *block = malloc(array->len + data->len ? array->len + data->len : 1);
  if (block == NULL)
    return NULL;
  /* An empty array may have no buffer at all (a roll-up without failures):
   * memcpy from NULL is undefined even for 0 bytes. */
  if (array->len > 0)
    memcpy(block, array->p, array->len);
  if (data->len > 0)
    memcpy(block + array->len, data->p, data->len);
  *data_out = block + array->len;
  return block;
}

int store_add_str(growbuf_t *b, const unsigned char *str) {
  return store_growbuf_append(b, str, strlen((const char *)str) + 1);
}

const char *store_next_str(unsigned char **data) {
  const char *str = (const char *)*data;
  *data += strlen(str) + 1;
  return str;
}

void *store_rows_join(store_rows_t *r, unsigned char **data) {
  void *block = store_join_block(&r->array, &r->strs, data);
  free(r->array.p);
  free(r->strs.p);
  return block;
}

int store_read_end(store_db_t *s, sqlite3_stmt *st, int rc, const char *what) {
  if (rc != SQLITE_DONE)
    store_log(s->db, what);
  store_stmt_done(st);
  return rc == SQLITE_DONE ? 0 : EC_ESTORE;
}

int store_rows_finish(store_db_t *s, sqlite3_stmt *st, int rc, int err,
                      store_rows_t *r, const char *what, void **block,
                      unsigned char **data) {
  *block = NULL;
  if (err == 0)
    err = store_read_end(s, st, rc == SQLITE_ROW ? SQLITE_DONE : rc, what);
  else
    store_stmt_done(st);
  if (err < 0 || r->count == 0) {
    free(r->array.p);
    free(r->strs.p);
    return err;
  }
  *block = store_rows_join(r, data);
  return *block != NULL ? 0 : EC_ENOMEM;
}

static int pragma_int(sqlite3 *db, const char *sql, int *out) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
  if (rc != SQLITE_OK)
    goto fail;
  rc = sqlite3_step(st);
  if (rc != SQLITE_ROW)
    goto fail;
  *out = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  return 0;

fail:
  store_log(db, sql);
  sqlite3_finalize(st);
  return EC_ESTORE;
}

/* Run a PRAGMA that answers one text row, and copy that answer. */
static int pragma_text(sqlite3 *db, const char *sql, char *out, size_t cap) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
  if (rc != SQLITE_OK)
    goto fail;
  rc = sqlite3_step(st);
  if (rc != SQLITE_ROW)
    goto fail;
  const unsigned char *v = sqlite3_column_text(st, 0);
  snprintf(out, cap, "%s", v ? (const char *)v : "");
  sqlite3_finalize(st);
  return 0;

fail:
  store_log(db, sql);
  sqlite3_finalize(st);
  return EC_ESTORE;
}

/* Run SQL text with no results; 0 or EC_ESTORE (logged). */
static int store_exec(sqlite3 *db, const char *sql, const char *what) {
  char *err = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
    ec_log(EC_LOG_ERROR, "store: %s: %s", what, err ? err : sqlite3_errmsg(db));
    sqlite3_free(err);
    return EC_ESTORE;
  }
  return 0;
}

static int refuse_newer(const char *path, int version) {
  ec_log(EC_LOG_ERROR,
         "store: %s has schema version %d but this edgecoap knows only up to"
         " %d; refusing to open it (upgrade edgecoap or use another database)",
         path, version, N_MIGRATIONS);
  return EC_ESTORE;
}

/* Bring the schema up to N_MIGRATIONS, one transaction per step. The version
 * is read again under the write lock, so two processes opening the same new
 * file do not both apply a step. */
static int migrate(sqlite3 *db, const char *path) {
  for (;;) {
    int version;
    if (store_exec(db, "BEGIN IMMEDIATE", "begin migration") != 0)
      return EC_ESTORE;
    if (pragma_int(db, "PRAGMA user_version", &version) != 0)
      goto fail_txn;
    if (version > N_MIGRATIONS) {
      refuse_newer(path, version);
      goto fail_txn;
    }
    if (version == N_MIGRATIONS)
      return store_exec(db, "COMMIT", "end migration check");

    char set_version[48];
    snprintf(set_version, sizeof(set_version), "PRAGMA user_version = %d",
             version + 1);
    if (store_exec(db, migrations[version], "migration") != 0 ||
        store_exec(db, set_version, "set user_version") != 0 ||
        store_exec(db, "COMMIT", "commit migration") != 0)
      goto fail_txn;
    ec_log(EC_LOG_INFO, "store: %s migrated to schema version %d", path,
           version + 1);
  }

fail_txn:
  if (!sqlite3_get_autocommit(db))
    (void)store_exec(db, "ROLLBACK", "store_rollback migration");
  return EC_ESTORE;
}

/* ------------------------------------------------------------------------ */
/* Open and close                                                           */
/* ------------------------------------------------------------------------ */

/* Where the database file is (s->where) and whether it exists; for
 * EC_STORE_SERVE, its lock. */
static int locate(store_db_t *s, const char *name, bool is_uri,
                  unsigned flags) {
  char path[sizeof(s->where)];
  bool memory = false;
  if (is_uri) {
    if (ec_db_uri_path(name, path, sizeof(path), &memory) < 0)
      return EC_ESTORE;
  } else if ((size_t)snprintf(path, sizeof(path), "%s", name) >=
             sizeof(path)) {
    ec_log(EC_LOG_ERROR, "--db %s: the path is too long", name);
    return EC_ESTORE;
  }
  if (memory || strcmp(path, ":memory:") == 0) {
    /* SQLite's in-memory database is no file: nobody else can share it. */
    snprintf(s->where, sizeof(s->where), ":memory:");
    return 0;
  }
  if (ec_db_resolve(path, s->where, sizeof(s->where)) < 0)
    return EC_ESTORE;
  if (flags & EC_STORE_SERVE) {
    int rc = ec_db_lock(s->where, &s->lock);
    s->created = s->lock.created;
    return rc;
  }
  struct stat st;
  s->created = stat(s->where, &st) != 0 && errno == ENOENT;
  return 0;
}

static int check_writable(store_db_t *s);

int store_sqlite_open(const char *name, bool is_uri, unsigned flags,
                      ec_store_t **out) {
  store_db_t *s = calloc(1, sizeof(*s));
  if (s == NULL)
    return EC_ENOMEM;
  s->base.be = &store_sqlite_backend;
  s->lock.fd = -1;
  s->queue_tail = &s->queue;
  int rc = locate(s, name, is_uri, flags);
  if (rc < 0) {
    free(s);
    return rc;
  }
  const char *path = s->where; /* for the messages below */

  /* SQLite's memory statistics (sqlite3_memory_used(), which nothing
   * reads) take a global mutex around every allocation. They, and the
   * allocator (store_mem.c), can only be set before SQLite initializes: a
   * later call is refused, which is harmless. */
  static bool configured;
  if (!configured) {
    configured = true;
    (void)store_mem_install();
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  }

  /* NOMUTEX: a store belongs to one thread, so SQLite's per-call locking
   * would buy nothing. A plain path is opened by its absolute form, a URI
   * as given (its query may say more). */
  rc = sqlite3_open_v2(is_uri ? name : s->where, &s->db,
                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                           SQLITE_OPEN_NOMUTEX | (is_uri ? SQLITE_OPEN_URI : 0),
                       NULL);
  if (rc != SQLITE_OK) {
    ec_log(EC_LOG_ERROR, "store: cannot open %s: %s", path,
           s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
    goto fail_db;
  }
  sqlite3_extended_result_codes(s->db, 1);
  /* Defensive mode forbids the schema-corrupting tricks (writable_schema,
   * raw page writes) that nothing in the server needs. */
  sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
  if (sqlite3_busy_timeout(s->db, 5000) != SQLITE_OK) {
    store_log(s->db, "busy_timeout");
    goto fail_db;
  }

  /* Check the version before changing anything, so a newer edgecoap's
   * database is left exactly as it was (journal mode included). This read
   * also fails early on a file that is not a database. */
  int version;
  if (pragma_int(s->db, "PRAGMA user_version", &version) != 0)
    goto fail_db;
  if (version > N_MIGRATIONS) {
    refuse_newer(path, version);
    goto fail_db;
  }

  /* WAL lets readers (a backup, sqlite3 from an operator's shell) run while
   * the server writes, and costs one WAL append per commit instead of a
   * store_rollback journal's extra syncs. An in-memory database cannot use WAL and
   * reports "memory": accept it, for tests. */
  char mode[16];
  if (pragma_text(s->db, "PRAGMA journal_mode = WAL", mode, sizeof(mode)) != 0)
    goto fail_db;
  if (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0) {
    ec_log(EC_LOG_ERROR, "store: %s: cannot switch to WAL (journal_mode is %s)",
           path, mode);
    goto fail_db;
  }
  /* FULL: see the durability note at the top of this file. */
  if (store_exec(s->db, "PRAGMA synchronous = FULL", "synchronous") != 0 ||
      store_exec(s->db, "PRAGMA foreign_keys = ON", "foreign_keys") != 0)
    goto fail_db;

  if (migrate(s->db, path) != 0)
    goto fail_db;

  for (int i = 0; i < ST_COUNT; i++) {
    /* PERSISTENT: these live as long as the store, which SQLite uses to
     * keep them out of its short-lived lookaside memory. */
    if (sqlite3_prepare_v3(s->db, statement_sql[i], -1,
                           SQLITE_PREPARE_PERSISTENT, &s->st[i],
                           NULL) != SQLITE_OK) {
      store_log(s->db, statement_sql[i]);
      goto fail_stmts;
    }
  }

  if ((flags & EC_STORE_SERVE) && check_writable(s) < 0)
    goto fail_stmts;
  s->serving = (flags & EC_STORE_SERVE) != 0;
  /* The one server of the database writes every status: it may remember
   * what it wrote (store_prior.c). */
  if (flags & EC_STORE_SERVE)
    store_prior_open(s);
  *out = &s->base;
  return 0;

fail_stmts:
  for (int i = 0; i < ST_COUNT; i++)
    sqlite3_finalize(s->st[i]);
fail_db:
  /* sqlite3_open_v2 hands back a handle even when it fails; close it too. */
  sqlite3_close(s->db);
  ec_db_unlock(&s->lock);
  free(s);
  return EC_ESTORE;
}

/* One read and one committed write: the schema version, rewritten as it
 * is. On failure *err is SQLite's message (sqlite3_free() it), or NULL. */
static int rewrite_version(store_db_t *s, char **err) {
  char sql[64];
  int version;

  *err = NULL;
  if (pragma_int(s->db, "PRAGMA user_version", &version) != 0)
    return EC_ESTORE;
  snprintf(sql, sizeof(sql), "BEGIN IMMEDIATE; PRAGMA user_version = %d; "
           "COMMIT", version);
  if (sqlite3_exec(s->db, sql, NULL, NULL, err) != SQLITE_OK) {
    if (*err == NULL)
      *err = sqlite3_mprintf("%s", sqlite3_errmsg(s->db));
    (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return EC_ESTORE;
  }
  return 0;
}

/* Commit one write, so that a database that cannot take writes is found
 * before anything is served. */
static int check_writable(store_db_t *s) {
  const char *path = s->where;
  char *err = NULL;

  if (sqlite3_db_readonly(s->db, "main") == 1) {
    ec_log(EC_LOG_ERROR, "store: the database %s is read-only (the file or "
           "its folder is not writable by this user): every write would "
           "fail", path);
    return EC_ESTORE;
  }
  if (rewrite_version(s, &err) < 0) {
    ec_log(EC_LOG_ERROR, "store: cannot write to the database %s: %s (a "
           "read-only file, folder or mount, or a full disk?)", path,
           err ? err : "the schema version cannot be read");
    sqlite3_free(err);
    return EC_ESTORE;
  }
  return 0;
}

int store_sqlite_ping(ec_store_t *base) {
  store_db_t *s = (store_db_t *)base;
  char *err = NULL;
  if (s == NULL)
    return EC_EINVAL;
  if (s->flushing)
    return EC_EBUSY;
  store_settle(s);
  int rc = rewrite_version(s, &err);
  if (rc < 0)
    ec_log(EC_LOG_WARN, "store: readiness check failed: %s",
           err ? err : "the schema version cannot be read");
  sqlite3_free(err);
  return rc;
}

void store_sqlite_set_metrics(ec_store_t *base, ec_metrics_t *m) {
  store_db_t *s = (store_db_t *)base;
  if (s != NULL)
    s->metrics = m;
}

int store_sqlite_size(ec_store_t *base, int64_t *bytes) {
  store_db_t *s = (store_db_t *)base;
  int pages, page_size;
  if (s == NULL || bytes == NULL)
    return EC_EINVAL;
  if (pragma_int(s->db, "PRAGMA page_count", &pages) != 0 ||
      pragma_int(s->db, "PRAGMA page_size", &page_size) != 0)
    return EC_ESTORE;
  *bytes = (int64_t)pages * page_size;
  return 0;
}

void store_sqlite_close(ec_store_t *base) {
  store_db_t *s = (store_db_t *)base;
  if (s == NULL)
    return;
  (void)store_sqlite_wait(&s->base);
  /* The reader first, so that the main connection closes last (below). */
  store_msg_reader_close(s);
  for (int i = 0; i < ST_COUNT; i++)
    sqlite3_finalize(s->st[i]);
  for (int i = 0; i < STORE_LAZY_SLOTS; i++)
    sqlite3_finalize(s->lazy[i]);
  /* With every statement finalized, close cannot report SQLITE_BUSY; it
   * checkpoints the WAL and removes it when this is the last connection. */
  if (sqlite3_close(s->db) != SQLITE_OK)
    store_log(s->db, "close");
  store_prior_close(s);
  /* Only now: closing the lock's descriptor earlier would have dropped
   * SQLite's own POSIX locks on the file. */
  ec_db_unlock(&s->lock);
  free(s);
}

const char *store_sqlite_where(const ec_store_t *base) {
  const store_db_t *s = (const store_db_t *)base;
  return s != NULL ? s->where : "";
}

bool store_sqlite_created(const ec_store_t *base) {
  const store_db_t *s = (const store_db_t *)base;
  return s != NULL && s->created;
}

int ec_store_schema_version(void) {
  return N_MIGRATIONS;
}

int ec_store_set_synchronous(ec_store_t *base, const char *mode) {
  store_db_t *s = store_db_of(base);
  if (s == NULL || mode == NULL)
    return EC_EINVAL;
  static const struct {
    const char *name, *sql, *risk;
  } modes[] = {
      {"full", "PRAGMA synchronous = FULL", NULL},
      {"normal", "PRAGMA synchronous = NORMAL",
       "acknowledged reports may be lost on power loss or an OS crash"},
      {"off", "PRAGMA synchronous = OFF",
       "acknowledged reports may be lost, and the database corrupted, on"
       " power loss or an OS crash"},
  };
  for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
    if (strcasecmp(mode, modes[i].name) != 0)
      continue;
    if (store_exec(s->db, modes[i].sql, "synchronous") != 0)
      return EC_ESTORE;
    if (modes[i].risk)
      ec_log(EC_LOG_WARN, "store: synchronous=%s: %s", modes[i].name,
             modes[i].risk);
    return 0;
  }
  return EC_EINVAL;
}

/* ------------------------------------------------------------------------ */
/* Deployment status                                                        */
/* ------------------------------------------------------------------------ */

int store_status_check(const store_db_t *s, const ec_status_write_t *w) {
  if (s == NULL || ec__store_status_check(w) < 0)
    return EC_EINVAL;
  return s->walking ? EC_EINVAL : 0;
}

int store_sqlite_status_put(ec_store_t *base, const ec_status_write_t *w,
                            int *created, int64_t *seq) {
  store_db_t *s = (store_db_t *)base;
  if (store_status_check(s, w) < 0)
    return EC_EINVAL;
  int c = 0;
  int64_t n = 0;
  if (store_begin(s) != 0)
    return EC_ESTORE;
  /* Only a successful COMMIT makes the report durable; until then the
   * caller must not acknowledge it. */
  if (store_status_apply(s, w, &c, &n) != 0 || store_fleet_flush(s) != 0 ||
      store_commit(s) != 0) {
    store_rollback(s);
    return EC_ESTORE;
  }
  if (created)
    *created = c;
  if (seq)
    *seq = n;
  return 0;
}

int store_sqlite_status_by_request(ec_store_t *base, const char *device_id,
                                   const uint8_t *rid, size_t rid_len,
                                   char dep[EC_STORE_MAX_ID_LEN + 1],
                                   int64_t *seq, uint8_t **doc,
                                   size_t *doc_len) {
  store_db_t *s = (store_db_t *)base;
  if (s == NULL || !store_id_ok(device_id) || rid == NULL ||
      rid_len < EC_REQUEST_ID_MIN || rid_len > EC_REQUEST_ID_MAX ||
      dep == NULL || doc == NULL || doc_len == NULL)
    return EC_EINVAL;
  /* The queue is not in the database yet: a write waiting there under this
   * id cannot be answered before its commit is known. */
  for (const store_queued_t *q = s->queue; q != NULL; q = q->next)
    if (q->kind == STORE_Q_STATUS && q->u.st.w.request_id_len == rid_len &&
        memcmp(q->u.st.w.request_id, rid, rid_len) == 0 &&
        strcmp(q->u.st.w.device_id, device_id) == 0)
      return EC_EBUSY;
  sqlite3_stmt *st = s->st[ST_BY_REQUEST];
  int rc = EC_ESTORE;
  if (sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_blob(st, 2, rid, (int)rid_len, SQLITE_STATIC) !=
          SQLITE_OK) {
    store_log(s->db, "bind request id");
    goto out;
  }
  int step = sqlite3_step(st);
  if (step == SQLITE_DONE) {
    rc = EC_ENOTFOUND;
    goto out;
  }
  if (step != SQLITE_ROW) {
    store_log(s->db, "read request id");
    goto out;
  }
  const unsigned char *d = sqlite3_column_text(st, 0);
  size_t dlen = (size_t)sqlite3_column_bytes(st, 0);
  size_t n = (size_t)sqlite3_column_bytes(st, 2);
  const void *blob = sqlite3_column_blob(st, 2);
  if (d == NULL || dlen > EC_STORE_MAX_ID_LEN) {
    store_log(s->db, "read request id");
    goto out;
  }
  uint8_t *copy = malloc(n ? n : 1);
  if (copy == NULL) {
    rc = EC_ENOMEM;
    goto out;
  }
  if (n > 0)
    memcpy(copy, blob, n);
  memcpy(dep, d, dlen);
  dep[dlen] = '\0';
  if (seq)
    *seq = sqlite3_column_int64(st, 1);
  *doc = copy;
  *doc_len = n;
  rc = 0;
out:
  store_stmt_done(st);
  return rc;
}

int store_sqlite_status_get(ec_store_t *base, const char *device_id,
                            const char *deployment_id, uint8_t **doc,
                            size_t *doc_len, int64_t *updated_at_ms,
                            int64_t *seq) {
  store_db_t *s = (store_db_t *)base;
  if (s == NULL || !store_id_ok(device_id) || !store_id_ok(deployment_id) || doc == NULL ||
      doc_len == NULL)
    return EC_EINVAL;
  *doc = NULL;
  *doc_len = 0;

  char dep[EC_STORE_MAX_ID_LEN + 1];
  store_lower_id(deployment_id, dep);
  sqlite3_stmt *st = s->st[ST_STATUS_GET];
  int err = EC_ESTORE;
  if (store_bind_pair(s, st, device_id, dep) != 0)
    goto fail_stmt;

  int rc = sqlite3_step(st);
  if (rc == SQLITE_DONE) {
    err = EC_ENOTFOUND;
    goto fail_stmt;
  }
  if (rc != SQLITE_ROW) {
    store_log(s->db, "read status");
    goto fail_stmt;
  }
  /* column_blob before column_bytes, as SQLite's documentation orders them;
   * a zero-length blob comes back as NULL, and the caller still gets a
   * freeable pointer. */
  const void *blob = sqlite3_column_blob(st, 0);
  size_t len = (size_t)sqlite3_column_bytes(st, 0);
  uint8_t *copy = (blob == NULL && len > 0) ? NULL : malloc(len ? len : 1);
  if (copy == NULL) {
    err = EC_ENOMEM;
    goto fail_stmt;
  }
  if (len > 0)
    memcpy(copy, blob, len);
  if (updated_at_ms)
    *updated_at_ms = sqlite3_column_int64(st, 1);
  if (seq)
    *seq = sqlite3_column_int64(st, 2);
  store_stmt_done(st);
  *doc = copy;
  *doc_len = len;
  return 0;

fail_stmt:
  store_stmt_done(st);
  return err;
}

/* A history row's seq and time (ST_HISTORY_GET's columns 0 and 1). */
static void fill_history(sqlite3_stmt *st, void *entry) {
  ec_history_entry_t *e = entry;
  e->seq = sqlite3_column_int64(st, 0);
  e->received_at_ms = sqlite3_column_int64(st, 1);
}

/*
 * The block returned by ec_store_history():
 *
 *   [ ec_history_entry_t[0] ... ec_history_entry_t[n-1] ][ doc 0 ][ doc 1 ]...
 *
 * Each entry's report points at its document's copy in the same block, so
 * one free() releases everything.
 */
int store_sqlite_history_page(ec_store_t *base, const char *device_id,
                              const char *deployment_id, int64_t since,
                              int limit, size_t max_bytes,
                              ec_history_entry_t **entries, size_t *n,
                              bool *more) {
  store_db_t *s = (store_db_t *)base;
  if (more != NULL)
    *more = false;
  if (s == NULL || !store_id_ok(device_id) || !store_id_ok(deployment_id) ||
      entries == NULL || n == NULL)
    return EC_EINVAL;
  *entries = NULL;
  *n = 0;
  if (limit <= 0)
    limit = EC_STORE_HISTORY_DEFAULT;
  if (limit > EC_STORE_HISTORY_MAX)
    limit = EC_STORE_HISTORY_MAX;

  char dep[EC_STORE_MAX_ID_LEN + 1];
  store_lower_id(deployment_id, dep);
  sqlite3_stmt *st = s->st[ST_HISTORY_GET];
  if (store_bind_pair(s, st, device_id, dep) != 0)
    goto fail;
  if (sqlite3_bind_int64(st, 3, since) != SQLITE_OK ||
      sqlite3_bind_int(st, 4, limit) != SQLITE_OK) {
    store_log(s->db, "bind history read");
    goto fail;
  }
  static const store_docs_t shape = {sizeof(ec_history_entry_t),
                                     offsetof(ec_history_entry_t, report),
                                     offsetof(ec_history_entry_t, report_len),
                                     2,
                                     fill_history,
                                     "read history"};
  void *block;
  int rc = store_read_docs(s, st, &shape, max_bytes, &block, n, more);
  *entries = block;
  return rc;

fail:
  store_stmt_done(st);
  return EC_ESTORE;
}

int store_read_docs(store_db_t *s, sqlite3_stmt *st, const store_docs_t *shape,
                    size_t max_bytes, void **out, size_t *n, bool *more) {
  growbuf_t array = {0}, docs = {0};
  int err = EC_ESTORE, rc;
  size_t count = 0;
  *out = NULL;
  *n = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    _Alignas(max_align_t) unsigned char e[STORE_DOC_ENTRY_MAX] = {0};
    shape->fill(st, e);
    const void *blob = sqlite3_column_blob(st, shape->col);
    size_t len = (size_t)sqlite3_column_bytes(st, shape->col);
    memcpy(e + shape->len_at, &len, sizeof(len));
    /* A NULL blob with a length means SQLite ran out of memory. */
    if ((blob == NULL && len > 0) ||
        store_growbuf_append(&array, e, shape->size) != 0 ||
        store_growbuf_append(&docs, blob, len) != 0) {
      err = EC_ENOMEM;
      goto fail_stmt;
    }
    count++;
    /* A page holds at least one row, so paging always moves on. */
    if (max_bytes > 0 && docs.len >= max_bytes) {
      rc = store_page_cut(st, more);
      break;
    }
  }
  if (rc != SQLITE_DONE) {
    store_log(sqlite3_db_handle(st), shape->what);
    goto fail_stmt;
  }
  store_stmt_done(st);

  if (count > 0) {
    unsigned char *data;
    unsigned char *block = store_join_block(&array, &docs, &data);
    if (block == NULL) {
      err = EC_ENOMEM;
      goto fail_bufs;
    }
    /* Documents were appended in row order, so offsets are running sums. */
    for (size_t i = 0; i < count; i++) {
      unsigned char *e = block + i * shape->size;
      const uint8_t *doc = data;
      size_t len;
      memcpy(&len, e + shape->len_at, sizeof(len));
      memcpy(e + shape->doc_at, &doc, sizeof(doc));
      data += len;
    }
    *out = block;
    *n = count;
  }
  free(array.p);
  free(docs.p);
  return 0;

fail_stmt:
  store_stmt_done(st);
fail_bufs:
  free(array.p);
  free(docs.p);
  return err;
}

/*
 * The block returned by ec_store_deployments():
 *
 *   [ ec_deployment_summary_t[0 .. n-1] ][ "id0\0" "id1\0" ... ]
 */
int store_sqlite_deployments_page(ec_store_t *base, const char *device_id,
                                  const char *after, size_t max_bytes,
                                  ec_deployment_summary_t **list, size_t *n,
                                  bool *more) {
  store_db_t *s = (store_db_t *)base;
  if (more != NULL)
    *more = false;
  if (s == NULL || !store_id_ok(device_id) || list == NULL || n == NULL ||
      (after != NULL && strlen(after) > EC_STORE_MAX_ID_LEN))
    return EC_EINVAL;
  *list = NULL;
  *n = 0;

  sqlite3_stmt *st = s->st[ST_DEPLOYMENTS];
  /* Every stored id is longer than "", so no "after" starts at the first;
   * ids are lowercase, as the route spells "after". */
  char low[EC_STORE_MAX_ID_LEN + 1] = "";
  if (after != NULL)
    store_lower_id(after, low);
  if (sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_text(st, 2, low, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
    store_log(s->db, "bind deployments");
    store_stmt_done(st);
    return EC_ESTORE;
  }
  store_rows_t r = {0};
  int err = 0, rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const unsigned char *id = sqlite3_column_text(st, 0);
    int state = sqlite3_column_int(st, 1);
    if (id == NULL || state < 0 || state >= EC_STATE_COUNT) {
      /* Only a newer edgecoap or a hand edit could have written this. */
      ec_log(EC_LOG_ERROR, "store: device %s has a corrupt deployment row",
             device_id);
      err = EC_ESTORE;
      break;
    }
    ec_deployment_summary_t d = {
        .deployment_id = NULL, /* set once the block's address is known */
        .state = (ec_state_t)state,
        .updated_at_ms = sqlite3_column_int64(st, 2),
    };
    if (store_growbuf_append(&r.array, &d, sizeof(d)) != 0 ||
        store_add_str(&r.strs, id) != 0) {
      err = EC_ENOMEM;
      break;
    }
    r.count++;
    /* A summary's answer is its id and about 80 bytes more. */
    if (max_bytes > 0 && r.strs.len + 80 * r.count >= max_bytes) {
      rc = store_page_cut(st, more);
      break;
    }
  }
  unsigned char *data;
  void *out;
  err = store_rows_finish(s, st, rc, err, &r, "read deployments", &out, &data);
  if (out == NULL)
    return err;
  ec_deployment_summary_t *block = out;
  for (size_t i = 0; i < r.count; i++)
    block[i].deployment_id = store_next_str(&data);
  *list = block;
  *n = r.count;
  return 0;
}

int store_sqlite_each_status(ec_store_t *base,
                             int (*fn)(void *ud, const char *device_id,
                                       const char *deployment_id),
                             void *ud) {
  store_db_t *s = (store_db_t *)base;
  if (s == NULL || fn == NULL || s->walking)
    return EC_EINVAL;

  sqlite3_stmt *st = s->st[ST_EACH];
  int ret = 0, rc;
  s->walking = true;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *dev = (const char *)sqlite3_column_text(st, 0);
    const char *dep = (const char *)sqlite3_column_text(st, 1);
    if (dev == NULL || dep == NULL) {
      store_log(s->db, "walk status");
      ret = EC_ESTORE;
      break;
    }
    ret = fn(ud, dev, dep);
    if (ret != 0)
      break;
  }
  if (ret == 0 && rc != SQLITE_DONE) {
    store_log(s->db, "walk status");
    ret = EC_ESTORE;
  }
  s->walking = false;
  store_stmt_done(st);
  return ret;
}

store_db_t *store_db_of(ec_store_t *s) {
  return s != NULL && s->be == &store_sqlite_backend ? (store_db_t *)s : NULL;
}

const ec_store_backend_t store_sqlite_backend = {
    .name = "sqlite",
    .ping = store_sqlite_ping,
    .set_metrics = store_sqlite_set_metrics,
    .size = store_sqlite_size,
    .close = store_sqlite_close,
    .where = store_sqlite_where,
    .created = store_sqlite_created,
    .status_by_request = store_sqlite_status_by_request,
    .status_put = store_sqlite_status_put,
    .status_queue = store_sqlite_status_queue,
    .flush = store_sqlite_flush,
    .wait = store_sqlite_wait,
    .queued = store_sqlite_queued,
    .msg_queue = store_sqlite_msg_queue,
    .status_get = store_sqlite_status_get,
    .history_page = store_sqlite_history_page,
    .deployments_page = store_sqlite_deployments_page,
    .each_status = store_sqlite_each_status,
    .fleet_devices = store_sqlite_fleet_devices,
    .fleet_rollup = store_sqlite_fleet_rollup,
    .fleet_rollups = store_sqlite_fleet_rollups,
    .msg_insert_req = store_sqlite_msg_insert_req,
    .msg_request_find = store_sqlite_msg_request_find,
    .msg_page = store_sqlite_msg_page,
    .msg_get = store_sqlite_msg_get,
    .prov_import = store_sqlite_prov_import,
    .prov_user_put = store_sqlite_prov_user_put,
    .prov_user_find = store_sqlite_prov_user_find,
    .prov_user_get = store_sqlite_prov_user_get,
    .prov_user_each = store_sqlite_prov_user_each,
    .prov_user_remove = store_sqlite_prov_user_remove,
    .prov_owner = store_sqlite_prov_owner,
    .prov_component_of = store_sqlite_prov_component_of,
    .prov_token_add = store_sqlite_prov_token_add,
    .prov_token_use = store_sqlite_prov_token_use,
    .prov_token_delete = store_sqlite_prov_token_delete,
    .login_failed = store_sqlite_login_failed,
    .login_failures = store_sqlite_login_failures,
    .prov_select_owned = store_sqlite_prov_select_owned,
    .prov_insert = store_sqlite_prov_insert,
    .prov_update = store_sqlite_prov_update,
    .device_add = store_sqlite_device_add,
    .device_find = store_sqlite_device_find,
    .device_remove = store_sqlite_device_remove,
    .device_each = store_sqlite_device_each,
    .device_count = store_sqlite_device_count,
    .device_version = store_sqlite_device_version,
};
