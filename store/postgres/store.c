/* edgecoap: the PostgreSQL store: open, schema and migrations, and the backend table. */
/* SPDX-License-Identifier: Apache-2.0 */

/*
 * Schema, version 1 (the table schema_version holds it, one row): the same
 * tables and rules as SQLite's (store/sqlite/store.c), written for
 * PostgreSQL 15. Identifiers are text with the "C" collation, so that
 * every order is bytewise, as SQLite's is; documents are bytea; times and
 * sequences bigint. History is append-only: a trigger refuses UPDATE,
 * DELETE and TRUNCATE on status_history. The fleet's roll-ups are kept by
 * triggers in each write's own transaction, as in SQLite.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <endian.h>

#include "edgecoap/error.h"
#include "log.h"
#include "pg_internal.h"
#include "store_postgres.h"
#include "util.h"

/*
 * Migrations, applied in order, each (its statements, NULL-terminated) in
 * its own transaction that also sets schema_version to its 1-based index.
 * Never edit a released entry: append.
 */
/* 1: deployment status, its history and the fleet's roll-ups. */
static const char *const migration_1[] = {
    "CREATE TABLE deployment_status ("
    "  device_id     text COLLATE \"C\" NOT NULL,"
    "  deployment_id text COLLATE \"C\" NOT NULL,"
    "  state         integer NOT NULL CHECK (state >= 0),"
    "  doc           bytea   NOT NULL,"
    "  updated_at    bigint  NOT NULL,"
    "  last_seq      bigint  NOT NULL CHECK (last_seq >= 1),"
    "  error_code    text COLLATE \"C\","
    "  PRIMARY KEY (device_id, deployment_id));",
    "CREATE TABLE status_history ("
    "  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  device_id     text COLLATE \"C\" NOT NULL,"
    "  deployment_id text COLLATE \"C\" NOT NULL,"
    "  seq           bigint NOT NULL CHECK (seq >= 1),"
    "  received_at   bigint NOT NULL,"
    "  doc           bytea  NOT NULL,"
    "  request_id    bytea CHECK (request_id IS NULL OR"
    "                 octet_length(request_id) BETWEEN 8 AND 16),"
    "  UNIQUE (device_id, deployment_id, seq),"
    "  FOREIGN KEY (device_id, deployment_id)"
    "    REFERENCES deployment_status (device_id, deployment_id));",
    "CREATE UNIQUE INDEX status_history_request"
    " ON status_history (device_id, request_id) WHERE request_id IS NOT NULL;",
    "CREATE FUNCTION ec_append_only() RETURNS trigger LANGUAGE plpgsql AS"
    " $$BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END$$;",
    "CREATE TRIGGER status_history_append_only"
    " BEFORE UPDATE OR DELETE ON status_history"
    " FOR EACH ROW EXECUTE FUNCTION ec_append_only();",
    "CREATE TRIGGER status_history_no_truncate"
    " BEFORE TRUNCATE ON status_history"
    " FOR EACH STATEMENT EXECUTE FUNCTION ec_append_only();",
    "CREATE INDEX deployment_status_by_deployment"
    " ON deployment_status (deployment_id, device_id);",
    "CREATE INDEX deployment_status_by_deployment_state"
    " ON deployment_status (deployment_id, state, device_id);",
    "CREATE INDEX deployment_status_by_state"
    " ON deployment_status (state, device_id, deployment_id);",
    "CREATE TABLE fleet_rollup ("
    "  deployment_id text COLLATE \"C\" PRIMARY KEY,"
    "  pending    bigint NOT NULL DEFAULT 0 CHECK (pending >= 0),"
    "  installing bigint NOT NULL DEFAULT 0 CHECK (installing >= 0),"
    "  installed  bigint NOT NULL DEFAULT 0 CHECK (installed >= 0),"
    "  failed     bigint NOT NULL DEFAULT 0 CHECK (failed >= 0),"
    "  removing   bigint NOT NULL DEFAULT 0 CHECK (removing >= 0),"
    "  removed    bigint NOT NULL DEFAULT 0 CHECK (removed >= 0),"
    "  updated_at bigint NOT NULL DEFAULT 0);"
    /* One function for both triggers: an insert counts the new state, an
     * update moves one device from its old state to the new one. The
     * row's upsert takes the roll-up row's lock, so concurrent writers of
     * one deployment serialise here and the counts stay exact. */
    "CREATE FUNCTION ec_fleet_rollup() RETURNS trigger LANGUAGE plpgsql AS $$"
    "DECLARE o integer := -1; BEGIN"
    " IF TG_OP = 'UPDATE' THEN o := OLD.state; END IF;"
    " INSERT INTO fleet_rollup AS r (deployment_id, pending, installing,"
    "  installed, failed, removing, removed, updated_at)"
    " VALUES (NEW.deployment_id, (NEW.state = 0)::int, (NEW.state = 1)::int,"
    "  (NEW.state = 2)::int, (NEW.state = 3)::int, (NEW.state = 4)::int,"
    "  (NEW.state = 5)::int, NEW.updated_at)"
    " ON CONFLICT (deployment_id) DO UPDATE SET"
    "  pending = r.pending + (NEW.state = 0)::int - (o = 0)::int,"
    "  installing = r.installing + (NEW.state = 1)::int - (o = 1)::int,"
    "  installed = r.installed + (NEW.state = 2)::int - (o = 2)::int,"
    "  failed = r.failed + (NEW.state = 3)::int - (o = 3)::int,"
    "  removing = r.removing + (NEW.state = 4)::int - (o = 4)::int,"
    "  removed = r.removed + (NEW.state = 5)::int - (o = 5)::int,"
    "  updated_at = greatest(r.updated_at, NEW.updated_at);"
    " RETURN NULL; END$$;",
    "CREATE TRIGGER fleet_rollup_insert AFTER INSERT ON deployment_status"
    " FOR EACH ROW EXECUTE FUNCTION ec_fleet_rollup();",
    "CREATE TRIGGER fleet_rollup_update"
    " AFTER UPDATE OF state, updated_at ON deployment_status"
    " FOR EACH ROW EXECUTE FUNCTION ec_fleet_rollup();",
    "CREATE TABLE status_failures ("
    "  deployment_id text COLLATE \"C\" NOT NULL,"
    "  device_id     text COLLATE \"C\" NOT NULL,"
    "  component     text COLLATE \"C\" NOT NULL,"
    "  code          text COLLATE \"C\" NOT NULL,"
    "  PRIMARY KEY (deployment_id, device_id, component));",
    "CREATE TABLE fleet_failures ("
    "  deployment_id text COLLATE \"C\" NOT NULL,"
    "  component     text COLLATE \"C\" NOT NULL,"
    "  code          text COLLATE \"C\" NOT NULL,"
    "  devices       bigint NOT NULL CHECK (devices >= 0),"
    "  PRIMARY KEY (deployment_id, component, code));",
    "CREATE FUNCTION ec_fleet_failure() RETURNS trigger LANGUAGE plpgsql AS $$"
    "BEGIN IF TG_OP = 'INSERT' THEN"
    "  INSERT INTO fleet_failures AS f VALUES"
    "   (NEW.deployment_id, NEW.component, NEW.code, 1)"
    "  ON CONFLICT (deployment_id, component, code)"
    "   DO UPDATE SET devices = f.devices + 1;"
    " ELSE"
    "  UPDATE fleet_failures SET devices = devices - 1"
    "   WHERE deployment_id = OLD.deployment_id"
    "   AND component = OLD.component AND code = OLD.code;"
    "  DELETE FROM fleet_failures WHERE deployment_id = OLD.deployment_id"
    "   AND component = OLD.component AND code = OLD.code AND devices = 0;"
    " END IF; RETURN NULL; END$$;",
    "CREATE TRIGGER fleet_failure_change"
    " AFTER INSERT OR DELETE ON status_failures"
    " FOR EACH ROW EXECUTE FUNCTION ec_fleet_failure();",
    NULL,
};

/* 2: status messages (messages.c describes them and their IDs). */
static const char *const migration_2[] = {
    "CREATE TABLE status_messages ("
    "  id              bigint PRIMARY KEY CHECK (id >= 1),"
    "  message_date    bigint  NOT NULL,"
    "  received_at     bigint  NOT NULL,"
    "  message_code    integer NOT NULL"
    "                  CHECK (message_code BETWEEN 100 AND 999),"
    "  order_id        text COLLATE \"C\""
    "                  CHECK (length(order_id) BETWEEN 1 AND 36),"
    "  subscription_id text COLLATE \"C\""
    "                  CHECK (length(subscription_id) BETWEEN 1 AND 36),"
    "  access_id       text COLLATE \"C\""
    "                  CHECK (length(access_id) BETWEEN 1 AND 32),"
    "  doc             bytea NOT NULL,"
    "  CHECK (order_id IS NOT NULL OR subscription_id IS NOT NULL"
    "         OR access_id IS NOT NULL));",
    /* An equality on each id yields its rows in ID order, from one index
     * range, as SQLite's rowid-suffixed indexes do. */
    "CREATE INDEX status_messages_order ON status_messages (order_id, id)"
    " WHERE order_id IS NOT NULL;",
    "CREATE INDEX status_messages_subscription"
    " ON status_messages (subscription_id, id)"
    " WHERE subscription_id IS NOT NULL;",
    "CREATE INDEX status_messages_access ON status_messages (access_id, id)"
    " WHERE access_id IS NOT NULL;",
    "CREATE INDEX status_messages_date ON status_messages (message_date);",
    "CREATE TABLE status_message_macs ("
    "  mac        bigint NOT NULL CHECK (mac BETWEEN 0 AND 281474976710655),"
    "  message_id bigint NOT NULL REFERENCES status_messages (id),"
    "  PRIMARY KEY (mac, message_id));",
    "CREATE TABLE status_message_requests ("
    "  scope      text COLLATE \"C\" NOT NULL CHECK (length(scope) <= 255),"
    "  request_id bytea NOT NULL"
    "             CHECK (octet_length(request_id) BETWEEN 8 AND 16),"
    "  digest     bytea NOT NULL CHECK (octet_length(digest) = 32),"
    "  first_id   bigint NOT NULL REFERENCES status_messages (id),"
    "  count      bigint NOT NULL CHECK (count >= 0),"
    "  PRIMARY KEY (scope, request_id));",
    /* The last ID handed out: one row, which only grows. */
    "CREATE TABLE status_message_counter ("
    "  one     boolean PRIMARY KEY DEFAULT true CHECK (one),"
    "  last_id bigint NOT NULL CHECK (last_id >= 0));",
    "INSERT INTO status_message_counter (last_id) VALUES (0);",
    "CREATE FUNCTION ec_counter_grows() RETURNS trigger LANGUAGE plpgsql AS"
    " $$BEGIN IF TG_OP <> 'UPDATE' OR NEW.last_id < OLD.last_id"
    " OR NEW.one <> OLD.one THEN"
    " RAISE EXCEPTION 'status_message_counter only grows'; END IF;"
    " RETURN NEW; END$$;",
    "CREATE TRIGGER status_message_counter_grows"
    " BEFORE UPDATE OR DELETE ON status_message_counter"
    " FOR EACH ROW EXECUTE FUNCTION ec_counter_grows();",
    "CREATE TRIGGER status_message_counter_no_truncate"
    " BEFORE TRUNCATE ON status_message_counter"
    " FOR EACH STATEMENT EXECUTE FUNCTION ec_counter_grows();",
    "CREATE TRIGGER status_messages_append_only"
    " BEFORE UPDATE OR DELETE ON status_messages"
    " FOR EACH ROW EXECUTE FUNCTION ec_append_only();",
    "CREATE TRIGGER status_messages_no_truncate"
    " BEFORE TRUNCATE ON status_messages"
    " FOR EACH STATEMENT EXECUTE FUNCTION ec_append_only();",
    "CREATE TRIGGER status_message_macs_append_only"
    " BEFORE UPDATE OR DELETE ON status_message_macs"
    " FOR EACH ROW EXECUTE FUNCTION ec_append_only();",
    "CREATE TRIGGER status_message_macs_no_truncate"
    " BEFORE TRUNCATE ON status_message_macs"
    " FOR EACH STATEMENT EXECUTE FUNCTION ec_append_only();",
    "CREATE TRIGGER status_message_requests_append_only"
    " BEFORE UPDATE OR DELETE ON status_message_requests"
    " FOR EACH ROW EXECUTE FUNCTION ec_append_only();",
    "CREATE TRIGGER status_message_requests_no_truncate"
    " BEFORE TRUNCATE ON status_message_requests"
    " FOR EACH STATEMENT EXECUTE FUNCTION ec_append_only();",
    NULL,
};

/* 3: accounts, session tokens, provisionings, their catalogs and
 * components (provisioning.c), DTLS PSK identities (accounts.c). */
static const char *const migration_3[] = {
    "CREATE TABLE prov_users ("
    "  id            bigint PRIMARY KEY CHECK (id >= 0),"
    "  username      text COLLATE \"C\" NOT NULL UNIQUE"
    "                CHECK (length(username) BETWEEN 1 AND 255),"
    "  password_hash text NOT NULL CHECK (password_hash LIKE '$argon2%'),"
    "  role          text COLLATE \"C\" NOT NULL"
    "                CHECK (length(role) <= 255));",
    "CREATE TABLE prov_tokens ("
    "  digest        bytea PRIMARY KEY CHECK (octet_length(digest) = 32),"
    "  user_id       bigint NOT NULL REFERENCES prov_users (id),"
    "  created_at    bigint NOT NULL,"
    "  last_used_at  bigint NOT NULL);",
    "CREATE INDEX prov_tokens_last_used ON prov_tokens (last_used_at);",
    "CREATE INDEX prov_tokens_user ON prov_tokens (user_id);",
    "CREATE TABLE prov_provisionings ("
    "  id            bigint PRIMARY KEY CHECK (id >= 0),"
    "  name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),"
    "  active_status integer NOT NULL CHECK (active_status IN (0, 1)),"
    "  owner_id      bigint REFERENCES prov_users (id));",
    "CREATE INDEX prov_provisionings_owner ON prov_provisionings (owner_id)"
    " WHERE owner_id IS NOT NULL;",
    "CREATE TABLE prov_catalog ("
    "  component_type integer NOT NULL CHECK (component_type BETWEEN 0 AND 2),"
    "  component_id   bigint  NOT NULL CHECK (component_id >= 0),"
    "  name           text    NOT NULL CHECK (length(name) BETWEEN 1 AND 255),"
    "  PRIMARY KEY (component_type, component_id));",
    "CREATE VIEW prov_sensors AS SELECT component_id AS id, name"
    " FROM prov_catalog WHERE component_type = 0;",
    "CREATE VIEW prov_parameters AS SELECT component_id AS id, name"
    " FROM prov_catalog WHERE component_type = 1;",
    "CREATE VIEW prov_group_parameters AS SELECT component_id AS id, name"
    " FROM prov_catalog WHERE component_type = 2;",
    "CREATE TABLE prov_components ("
    "  id               bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    "  provisioning_id  bigint  NOT NULL REFERENCES prov_provisionings (id),"
    "  component_type   integer NOT NULL,"
    "  component_id     bigint  NOT NULL,"
    "  active_status    integer NOT NULL CHECK (active_status IN (0, 1)),"
    "  last_modified_by bigint  NOT NULL REFERENCES prov_users (id),"
    "  last_modified_at bigint  NOT NULL,"
    "  UNIQUE (provisioning_id, component_type, component_id),"
    "  FOREIGN KEY (component_type, component_id)"
    "    REFERENCES prov_catalog (component_type, component_id));",
    "CREATE INDEX prov_components_modifier"
    " ON prov_components (last_modified_by);",
    /* The key is stored as it is: DTLS PSK needs it at every handshake. */
    "CREATE TABLE devices ("
    "  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  identity   text COLLATE \"C\" NOT NULL UNIQUE"
    "             CHECK (length(identity) BETWEEN 1 AND 128),"
    "  role       text NOT NULL CHECK (role IN ('device', 'operator')),"
    "  psk        bytea NOT NULL CHECK (octet_length(psk) BETWEEN 16 AND 64),"
    "  created_at bigint NOT NULL);",
    NULL,
};

/* 4: failed logins per username (accounts.c), shared by every node. */
static const char *const migration_4[] = {
    "CREATE TABLE login_failures ("
    "  username     text COLLATE \"C\" PRIMARY KEY"
    "               CHECK (length(username) <= 255),"
    "  window_start bigint NOT NULL,"
    "  count        bigint NOT NULL CHECK (count >= 1));",
    NULL,
};

/* 5: every change to an identity tells every node (accounts.c): a hint
 * "D<length>:<identity>" on the store's channel, named as its schema,
 * sent when the change commits, whoever makes it (admin, psql). */
static const char *const migration_5[] = {
    "CREATE FUNCTION ec_devices_hint() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN"
    "  IF TG_OP <> 'INSERT' THEN"
    "   PERFORM pg_notify(TG_TABLE_SCHEMA, 'D' || octet_length(OLD.identity)"
    "                     || ':' || OLD.identity);"
    "  END IF;"
    "  IF TG_OP <> 'DELETE' THEN"
    "   PERFORM pg_notify(TG_TABLE_SCHEMA, 'D' || octet_length(NEW.identity)"
    "                     || ':' || NEW.identity);"
    "  END IF;"
    "  RETURN NULL;"
    " END $$;",
    "CREATE TRIGGER devices_hint AFTER INSERT OR UPDATE OR DELETE ON devices"
    " FOR EACH ROW EXECUTE FUNCTION ec_devices_hint();",
    NULL,
};

/* 6: the roll-up's counts move on a change of state alone; its time is
 * moved by the writer once per round and deployment (status.c), not by a
 * PL/pgSQL upsert at every report. */
static const char *const migration_6[] = {
    "DROP TRIGGER fleet_rollup_update ON deployment_status;",
    "CREATE TRIGGER fleet_rollup_update"
    " AFTER UPDATE OF state ON deployment_status FOR EACH ROW"
    " WHEN (OLD.state IS DISTINCT FROM NEW.state)"
    " EXECUTE FUNCTION ec_fleet_rollup();",
    NULL,
};

/* 7: the chain of a pipeline's rounds (conn.c): a round's first
 * statement, ec_round_follows(prev, this), fails unless the round sent
 * before it on the connection (prev; NULL: none in flight) committed,
 * and records this one. The record is a session setting, which a
 * transaction that rolls back takes back with it: a round after one that
 * failed fails too, so that nothing commits ahead of the failed round's
 * writes. */
static const char *const migration_7[] = {
    "CREATE FUNCTION ec_round_follows(prev bigint, this bigint) RETURNS void"
    " LANGUAGE plpgsql AS $$"
    " BEGIN"
    "  IF prev IS NOT NULL AND current_setting('edgecoap.round', true)"
    "     IS DISTINCT FROM prev::text THEN"
    "   RAISE EXCEPTION 'edgecoap: round % did not commit', prev;"
    "  END IF;"
    "  PERFORM set_config('edgecoap.round', this::text, false);"
    " END $$;",
    NULL,
};

const char *const *const pg_migrations[] = {
    migration_1, migration_2, migration_3, migration_4,
    migration_5, migration_6, migration_7};
const int pg_n_migrations =
    (int)(sizeof(pg_migrations) / sizeof(pg_migrations[0]));

/* Every opener of any edgecoap schema in the database takes this
 * session-level advisory lock ("edgecoap" in ASCII) around its migration,
 * so N nodes starting together migrate once and the others find it done. */
#define PG_SCHEMA_LOCK "7306078180659388784"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

void pg_log(pg_store_t *s, const PGresult *res, const char *what) {
  const char *msg = res != NULL ? PQresultErrorMessage(res) : "";
  if (msg == NULL || *msg == '\0')
    msg = PQerrorMessage(s->conn);
  /* libpq's messages end in a newline. */
  size_t len = strlen(msg);
  while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
    len--;
  ec_log(EC_LOG_ERROR, "store: %s: %.*s", what, (int)len, msg);
}

PGresult *pg_run(pg_store_t *s, const char *sql, int n,
                 const char *const *vals, const int *lens, const int *fmts,
                 ExecStatusType want, const char *what) {
  pg_conn_check(s);
  PGresult *res = PQexecParams(s->conn, sql, n, NULL, vals, lens, fmts, 1);
  if (res == NULL || PQresultStatus(res) != want) {
    pg_log(s, res, what);
    PQclear(res);
    return NULL;
  }
  return res;
}

int pg_exec(pg_store_t *s, const char *sql, const char *what) {
  pg_conn_check(s);
  PGresult *res = PQexec(s->conn, sql);
  ExecStatusType st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    pg_log(s, res, what);
    PQclear(res);
    return EC_ESTORE;
  }
  PQclear(res);
  return 0;
}

int64_t pg_i64(const PGresult *res, int row, int col) {
  uint64_t v;
  if (PQgetlength(res, row, col) != (int)sizeof(v))
    return 0;
  memcpy(&v, PQgetvalue(res, row, col), sizeof(v));
  return (int64_t)be64toh(v);
}

void pg_rollback(pg_store_t *s) {
  /* A lost connection took its transaction with it. */
  if (PQstatus(s->conn) == CONNECTION_OK &&
      PQtransactionStatus(s->conn) != PQTRANS_IDLE)
    (void)pg_exec(s, "ROLLBACK", "ROLLBACK");
}

int pg_commit(pg_store_t *s) {
  uint64_t t0 = ec_mono_us();
  PGresult *res = PQexec(s->conn, "COMMIT");
  /* A COMMIT of a transaction that failed answers ROLLBACK with
   * PGRES_COMMAND_OK: only the command tag tells them apart. */
  int rc = res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK &&
                   strcmp(PQcmdStatus(res), "COMMIT") == 0
               ? 0
               : EC_ESTORE;
  if (rc != 0) {
    pg_log(s, res, "COMMIT");
    ec_metrics_add(s->metrics, EC_M_COMMITS_FAILED, 1);
  } else if (s->txn_writes > 0) {
    ec_metrics_observe(s->metrics, EC_H_COMMIT_SECONDS, ec_mono_us() - t0);
    ec_metrics_observe(s->metrics, EC_H_COMMIT_WRITES, s->txn_writes);
  }
  PQclear(res);
  s->txn_writes = 0;
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Open and migrate                                                         */
/* ------------------------------------------------------------------------ */

/* The version the schema_version table holds, 0 when there is none yet;
 * < 0 on failure. */
static int read_version(pg_store_t *s) {
  PGresult *res = pg_run(
      s, "SELECT CASE WHEN to_regclass('schema_version') IS NULL THEN -1"
         " ELSE 0 END::int8",
      0, NULL, NULL, NULL, PGRES_TUPLES_OK, "read the schema version");
  if (res == NULL)
    return EC_ESTORE;
  bool missing = PQntuples(res) == 1 && pg_i64(res, 0, 0) == -1;
  PQclear(res);
  if (missing)
    return 0;
  res = pg_run(s, "SELECT version::int8 FROM schema_version", 0, NULL, NULL,
               NULL, PGRES_TUPLES_OK, "read the schema version");
  if (res == NULL)
    return EC_ESTORE;
  int v = PQntuples(res) == 1 ? (int)pg_i64(res, 0, 0) : EC_ESTORE;
  PQclear(res);
  if (v < 0)
    ec_log(EC_LOG_ERROR, "store: schema_version must hold one row");
  return v;
}

/* Run each of @p sql's statements; 0 or EC_ESTORE (logged). */
static int run_all(pg_store_t *s, const char *const *sql) {
  for (; *sql != NULL; sql++)
    if (pg_exec(s, *sql, "migrate") != 0)
      return EC_ESTORE;
  return 0;
}

/* Bring the schema to this build's version; the caller holds the lock. */
static int migrate(pg_store_t *s) {
  int version = read_version(s);
  if (version < 0)
    return EC_ESTORE;
  if (version > pg_n_migrations) {
    ec_log(EC_LOG_ERROR, "store: %s has schema version %d, newer than this "
           "edgecoap's %d: upgrade edgecoap (the database is left as it is)",
           s->where, version, pg_n_migrations);
    return EC_ESTORE;
  }
  s->created = version == 0;
  if (version == 0 &&
      pg_exec(s, "BEGIN; CREATE TABLE schema_version (version integer NOT"
                 " NULL CHECK (version >= 0)); INSERT INTO schema_version"
                 " VALUES (0); COMMIT",
              "create schema_version") != 0) {
    pg_rollback(s);
    return EC_ESTORE;
  }
  for (int v = version; v < pg_n_migrations; v++) {
    char set[80];
    snprintf(set, sizeof(set), "UPDATE schema_version SET version = %d",
             v + 1);
    if (pg_exec(s, "BEGIN", "BEGIN") != 0 ||
        run_all(s, pg_migrations[v]) != 0 || pg_exec(s, set, "migrate") != 0 ||
        pg_commit(s) != 0) {
      pg_rollback(s);
      ec_log(EC_LOG_ERROR, "store: migration to version %d failed: %s is "
             "left at version %d", v + 1, s->where, v);
      return EC_ESTORE;
    }
    ec_log(EC_LOG_INFO, "store: %s migrated to schema version %d", s->where,
           v + 1);
  }
  return 0;
}

/* Refuse a password in the URI: command lines and logs are seen by others,
 * and libpq reads PGPASSFILE or ~/.pgpass itself. */
static int check_uri(const char *uri) {
  char *err = NULL;
  PQconninfoOption *opts = PQconninfoParse(uri, &err);
  if (opts == NULL) {
    /* Not err itself: libpq may quote the URI, password and all. */
    ec_log(EC_LOG_ERROR, "store: not a PostgreSQL URI libpq can read");
    PQfreemem(err);
    return EC_EINVAL;
  }
  int rc = 0;
  for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
    if (strcmp(o->keyword, "password") == 0 && o->val != NULL &&
        *o->val != '\0') {
      ec_log(EC_LOG_ERROR, "store: the PostgreSQL URI holds a password: "
             "put it in PGPASSFILE or ~/.pgpass instead");
      rc = EC_EINVAL;
    }
  PQconninfoFree(opts);
  return rc;
}

int store_pg_open(const char *uri, unsigned flags, ec_store_t **out) {
  if (out != NULL)
    *out = NULL;
  if (uri == NULL || out == NULL || (flags & ~EC_STORE_SERVE) ||
      !(strncasecmp(uri, "postgres://", 11) == 0 ||
        strncasecmp(uri, "postgresql://", 13) == 0))
    return EC_EINVAL;
  int rc = check_uri(uri);
  if (rc != 0)
    return rc;
  pg_store_t *s = calloc(1, sizeof(*s));
  if (s == NULL)
    return EC_ENOMEM;
  s->base.be = &store_pg_backend;
  rc = pg_conn_open(s, uri);
  if (rc != 0)
    goto fail_conn;
  rc = EC_ESTORE;
  snprintf(s->where, sizeof(s->where), "postgres://%s:%s/%s", PQhost(s->conn),
           PQport(s->conn), PQdb(s->conn));
  if (pg_exec(s, "SELECT pg_advisory_lock(" PG_SCHEMA_LOCK ")",
              "take the schema lock") != 0)
    goto fail_conn;
  rc = migrate(s);
  if (pg_exec(s, "SELECT pg_advisory_unlock(" PG_SCHEMA_LOCK ")",
              "release the schema lock") != 0 && rc == 0)
    rc = EC_ESTORE;
  if (rc != 0)
    goto fail_conn;
  /* A store that cannot take writes is found before anything is served. */
  if ((flags & EC_STORE_SERVE) && store_pg_backend.ping(&s->base) != 0) {
    rc = EC_ESTORE;
    goto fail_conn;
  }
  *out = &s->base;
  return 0;

fail_conn:
  pg_conn_close(s);
  free(s);
  return rc;
}

int ec_store_postgres_schema_version(void) {
  return pg_n_migrations;
}

/* ------------------------------------------------------------------------ */
/* The store's own calls                                                    */
/* ------------------------------------------------------------------------ */

static int store_pg_ping(ec_store_t *base) {
  pg_store_t *s = (pg_store_t *)base;
  if (s->pumping)
    return EC_EBUSY;
  pg_settle(s);
  /* One read and one committed write, as SQLite's: the version, rewritten
   * as it is. */
  if (pg_exec(s, "BEGIN", "BEGIN") != 0 ||
      pg_exec(s, "UPDATE schema_version SET version = version",
              "readiness check") != 0 ||
      pg_commit(s) != 0) {
    pg_rollback(s);
    ec_log(EC_LOG_WARN, "store: readiness check failed");
    return EC_ESTORE;
  }
  return 0;
}

static void store_pg_set_metrics(ec_store_t *base, ec_metrics_t *m) {
  ((pg_store_t *)base)->metrics = m;
}

/* The bytes of this store's tables, their indexes and TOAST, in the schema
 * it lives in (the database's catalogs are not counted). */
static int store_pg_size(ec_store_t *base, int64_t *bytes) {
  pg_store_t *s = (pg_store_t *)base;
  if (bytes == NULL)
    return EC_EINVAL;
  PGresult *res = pg_run(
      s, "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::int8"
         " FROM pg_class c WHERE c.relkind = 'r' AND c.relnamespace ="
         " (SELECT relnamespace FROM pg_class WHERE oid ="
         " 'schema_version'::regclass)",
      0, NULL, NULL, NULL, PGRES_TUPLES_OK, "size");
  if (res == NULL)
    return EC_ESTORE;
  *bytes = pg_i64(res, 0, 0);
  PQclear(res);
  return 0;
}

static void store_pg_close(ec_store_t *base) {
  pg_store_t *s = (pg_store_t *)base;
  pg_conn_close(s);
  free(s);
}

static const char *store_pg_where(const ec_store_t *base) {
  return ((const pg_store_t *)base)->where;
}

static bool store_pg_created(const ec_store_t *base) {
  return ((const pg_store_t *)base)->created;
}

const ec_store_backend_t store_pg_backend = {
    .name = "postgres",
    .ping = store_pg_ping,
    .set_metrics = store_pg_set_metrics,
    .size = store_pg_size,
    .close = store_pg_close,
    .where = store_pg_where,
    .created = store_pg_created,
    .status_by_request = store_pg_status_by_request,
    .status_put = store_pg_status_put,
    .status_queue = store_pg_status_queue,
    .flush = store_pg_flush,
    .wait = store_pg_wait,
    .msg_queue = store_pg_msg_queue,
    .queued = store_pg_queued,
    .fd = store_pg_fd,
    .listen = store_pg_listen,
    .unreachable = store_pg_unreachable,
    .status_get = store_pg_status_get,
    .history_page = store_pg_history_page,
    .deployments_page = store_pg_deployments_page,
    .each_status = store_pg_each_status,
    .fleet_devices = store_pg_fleet_devices,
    .fleet_rollup = store_pg_fleet_rollup,
    .fleet_rollups = store_pg_fleet_rollups,
    .msg_insert_req = store_pg_msg_insert_req,
    .msg_request_find = store_pg_msg_request_find,
    .msg_page = store_pg_msg_page,
    .msg_get = store_pg_msg_get,
    .prov_import = store_pg_prov_import,
    .prov_user_put = store_pg_prov_user_put,
    .prov_user_find = store_pg_prov_user_find,
    .prov_user_get = store_pg_prov_user_get,
    .prov_user_each = store_pg_prov_user_each,
    .prov_user_remove = store_pg_prov_user_remove,
    .prov_owner = store_pg_prov_owner,
    .prov_component_of = store_pg_prov_component_of,
    .prov_token_add = store_pg_prov_token_add,
    .prov_token_use = store_pg_prov_token_use,
    .prov_token_delete = store_pg_prov_token_delete,
    .login_failed = store_pg_login_failed,
    .login_failures = store_pg_login_failures,
    .prov_select_owned = store_pg_prov_select_owned,
    .prov_select_start = store_pg_prov_select_start,
    .read_fd = store_pg_read_fd,
    .reading = store_pg_reading,
    .prov_insert = store_pg_prov_insert,
    .prov_update = store_pg_prov_update,
    .device_add = store_pg_device_add,
    .device_find = store_pg_device_find,
    .device_remove = store_pg_device_remove,
    .device_each = store_pg_device_each,
    .device_count = store_pg_device_count,
};
