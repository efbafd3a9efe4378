/* edgecoap store: the operations table every backend fills (store-private: only
 * store/ includes it). */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_STORE_BACKEND_H
#define EDGECOAP_STORE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/*
 * store.h names no backend: each public call that takes a store is
 * dispatched by store/store.c through the table its store was opened with,
 * and a backend (store/sqlite/, later store/postgres/) is one such table
 * and an open function that open.c calls for the names it owns. Each entry
 * has the contract of the store.h call of the same name, with two
 * differences: @p s is never NULL (store.c answers EC_EINVAL, "" or 0
 * itself), and a backend's own struct starts with a struct ec_store, so it
 * may cast @p s to its own type. Calls whose contract is written once for
 * every backend on top of the others (ec_store_history() on
 * ec_store_history_page(), ec_store_msg_insert() on
 * ec_store_msg_insert_req() ...) live in store.c and are no entries.
 */
typedef struct ec_store_backend ec_store_backend_t;

/** The part of every store that store.c reads: a backend's own struct
 * starts with it. */
struct ec_store {
  const ec_store_backend_t *be;
};

struct ec_store_backend {
  const char *name; /**< for logs: "sqlite" */
  int (*ping)(ec_store_t *s);
  void (*set_metrics)(ec_store_t *s, ec_metrics_t *m);
  int (*size)(ec_store_t *s, int64_t *bytes);
  void (*close)(ec_store_t *s);
  const char *(*where)(const ec_store_t *s);
  bool (*created)(const ec_store_t *s);
  int (*status_by_request)(ec_store_t *s, const char *device_id,
                           const uint8_t *rid, size_t rid_len,
                           char dep[EC_STORE_MAX_ID_LEN + 1], int64_t *seq,
                           uint8_t **doc, size_t *doc_len);
  int (*status_put)(ec_store_t *s, const ec_status_write_t *w, int *created,
                    int64_t *seq);
  int (*status_queue)(ec_store_t *s, const ec_status_write_t *w,
                      ec_status_done_fn fn, void *ud);
  int (*flush)(ec_store_t *s);
  int (*wait)(ec_store_t *s);
  size_t (*queued)(const ec_store_t *s);
  /** NULL: no descriptor (store.c answers -1). */
  int (*fd)(ec_store_t *s, short *events, int *due_ms);
  /** NULL: EC_ENOTSUP (store.c answers). */
  int (*listen)(ec_store_t *s, ec_store_change_fn fn, void *ud);
  /** NULL: never (store.c answers false). */
  bool (*unreachable)(const ec_store_t *s);
  int (*msg_queue)(ec_store_t *s, const ec_store_msg_write_t *w, size_t n,
                   int64_t received_at_ms, const ec_store_msg_request_t *req,
                   ec_msg_done_fn fn, void *ud);
  int (*status_get)(ec_store_t *s, const char *device_id,
                    const char *deployment_id, uint8_t **doc, size_t *doc_len,
                    int64_t *updated_at_ms, int64_t *seq);
  int (*history_page)(ec_store_t *s, const char *device_id,
                      const char *deployment_id, int64_t since, int limit,
                      size_t max_bytes, ec_history_entry_t **entries, size_t *n,
                      bool *more);
  int (*deployments_page)(ec_store_t *s, const char *device_id,
                          const char *after, size_t max_bytes,
                          ec_deployment_summary_t **list, size_t *n,
                          bool *more);
  int (*each_status)(ec_store_t *s,
                     int (*fn)(void *ud, const char *device_id,
                               const char *deployment_id),
                     void *ud);
  int (*fleet_devices)(ec_store_t *s, const ec_store_fleet_query_t *q,
                       size_t max_bytes, ec_fleet_device_t **list, size_t *n,
                       bool *more);
  int (*fleet_rollup)(ec_store_t *s, const char *deployment_id,
                      ec_fleet_rollup_t *out, void **block);
  int (*fleet_rollups)(ec_store_t *s, const char *after, int limit,
                       ec_fleet_rollup_t **list, size_t *n, bool *more);
  int (*msg_insert_req)(ec_store_t *s, const ec_store_msg_write_t *w, size_t n,
                        int64_t received_at_ms,
                        const ec_store_msg_request_t *req, int64_t *first_id);
  int (*msg_request_find)(ec_store_t *s, ec_store_msg_request_t *req,
                          int64_t *first_id);
  int (*msg_page)(ec_store_t *s, const ec_msg_filter_t *f, int limit,
                  bool newest_first, size_t max_bytes, ec_msg_row_t **rows,
                  size_t *n, bool *more);
  int (*msg_get)(ec_store_t *s, int64_t id, ec_msg_row_t **row);
  int (*prov_import)(ec_store_t *s, const ec_store_prov_import_t *im);
  int (*prov_user_put)(ec_store_t *s, const ec_store_prov_user_t *u,
                       int64_t *id, int *created);
  int (*prov_user_find)(ec_store_t *s, const char *username,
                        ec_store_prov_user_t *out);
  int (*prov_user_get)(ec_store_t *s, int64_t id, ec_store_prov_user_t *out);
  int (*prov_user_each)(ec_store_t *s,
                        int (*fn)(void *ud, const ec_store_prov_user_t *u),
                        void *ud);
  int (*prov_user_remove)(ec_store_t *s, const char *username,
                          const char *unknown_hash, bool *kept);
  int (*prov_owner)(ec_store_t *s, int64_t id, int64_t *owner_id);
  int (*prov_component_of)(ec_store_t *s, int64_t pc_id,
                           int64_t *provisioning_id);
  int (*prov_token_add)(ec_store_t *s, const uint8_t *digest, int64_t user_id,
                        int64_t now_ms, int64_t ttl_ms);
  int (*prov_token_use)(ec_store_t *s, const uint8_t *digest, int64_t now_ms,
                        int64_t ttl_ms, int64_t touch_ms, int64_t *user_id);
  int (*prov_token_delete)(ec_store_t *s, const uint8_t *digest, int64_t now_ms,
                           int64_t ttl_ms);
  int (*login_failed)(ec_store_t *s, const char *username, int64_t now_ms,
                      int64_t window_ms, int64_t *count);
  int (*login_failures)(ec_store_t *s, const char *username, int64_t now_ms,
                        int64_t window_ms, int64_t *count);
  int (*prov_select_owned)(ec_store_t *s, const ec_prov_request_t *f,
                           int64_t owner_id, ec_prov_component_t **rows,
                           size_t *n);
  /** The three below NULL: EC_ENOTSUP, -1 and 0 (store.c answers). */
  int (*prov_select_start)(ec_store_t *s, const ec_prov_request_t *f,
                           int64_t owner_id, ec_prov_select_fn fn, void *ud);
  int (*read_fd)(ec_store_t *s, short *events, int *due_ms);
  size_t (*reading)(const ec_store_t *s);
  /* prov_insert, prov_update: called with the outcome cleared and the
   * request checked (store.c). */
  int (*prov_insert)(ec_store_t *s, const ec_prov_request_t *rq,
                     int64_t user_id, int64_t now_s,
                     ec_store_prov_outcome_t *o);
  int (*prov_update)(ec_store_t *s, const ec_prov_request_t *rq,
                     int64_t user_id, int64_t now_s,
                     ec_store_prov_outcome_t *o);
  int (*device_add)(ec_store_t *s, const ec_store_device_t *d, int64_t *id);
  int (*device_find)(ec_store_t *s, const uint8_t *identity, size_t len,
                     ec_store_device_t *out);
  int (*device_remove)(ec_store_t *s, const char *identity);
  int (*device_each)(ec_store_t *s, bool with_keys,
                     int (*fn)(void *ud, const ec_store_device_t *d), void *ud);
  int (*device_count)(ec_store_t *s, int64_t *n);
  /* device_version: NULL for a store that tells by hints (store.h). */
  int (*device_version)(ec_store_t *s, int64_t *version);
};

/* Helpers every backend shares (store.c). */

/** True for an id of 1..EC_STORE_MAX_ID_LEN bytes. */
bool ec__store_id_ok(const char *id);

/** ASCII-lowercase @p id (ec__store_id_ok()) into @p out
 * (EC_STORE_MAX_ID_LEN + 1 bytes), as deployment ids are stored. */
void ec__store_lower_id(const char *id, char *out);

/** A status write's fields as status_put checks them: 0 or EC_EINVAL. */
int ec__store_status_check(const ec_status_write_t *w);

/** True for a catalog name, username: 1..EC_STORE_PROV_TEXT_MAX bytes. */
bool ec__store_text_ok(const char *t);

/** True for an account row as stored: id >= 0, a username, a role of at
 * most EC_STORE_PROV_TEXT_MAX bytes, an Argon2 hash string. */
bool ec__store_user_ok(const ec_store_prov_user_t *u);

/** True for a DTLS identity: 1..EC_STORE_DEVICE_ID_MAX bytes. */
bool ec__store_identity_ok(const char *identity);

/** True for an identity to add: its name, a role, a key of a valid size. */
bool ec__store_device_ok(const ec_store_device_t *d);

/**
 * Append @p v to the malloc'd list *@p list of *@p n unless it is there
 * already (the lists of ids one request names, which EC_MAX_ITEMS
 * bounds). @return 0 or EC_ENOMEM
 */
int ec__store_id_list_add(int64_t **list, size_t *n, int64_t v);

/** A message post's fields as msg_insert_req checks them (n of 1 to
 * INT32_MAX messages, each with a date, a code and an id; @p req, NULL:
 * none, valid): 0 or EC_EINVAL. */
int ec__store_msg_check(const ec_store_msg_write_t *w, size_t n,
                        const ec_store_msg_request_t *req);

/** True for a Request-Id record's scope, id and count as stored. */
bool ec__store_msg_request_ok(const ec_store_msg_request_t *r);

/** True for a message filter a read takes (ids >= 0, 48-bit address). */
bool ec__store_msg_filter_ok(const ec_msg_filter_t *f);

/** A message read's limit: <= 0 the default, cut to EC_MSG_LIMIT_MAX. */
int ec__store_msg_limit(int limit);

/**
 * One malloc'd block for a queued write: @p head bytes (the backend's
 * entry, a struct with the ec_status_write_t at @p w_offset in it), then
 * copies of everything @p w points at, which that ec_status_write_t is set
 * to (the rest of the entry is left for the caller to fill).
 * @return the block (free() it), or NULL when out of memory
 */
void *ec__store_status_dup(const ec_status_write_t *w, size_t head,
                           size_t w_offset);

/*
 * The backends this build has. Each open function takes the name after
 * open.c took its scheme off, and fills *out with a store whose be is its
 * table (NULL on failure); flags as ec_store_open_uri()'s.
 */

/** SQLite (store/sqlite/): @p name a path, or (@p is_uri) an SQLite URI
 * filename ("file:..."). */
int store_sqlite_open(const char *name, bool is_uri, unsigned flags,
                      ec_store_t **out);

/** PostgreSQL (store/postgres/): @p uri the whole "postgres://" or
 * "postgresql://" URI, libpq's syntax; one holding a password is refused
 * (EC_EINVAL: libpq reads PGPASSFILE or ~/.pgpass). Creates or migrates
 * the schema under an advisory lock, so that N nodes starting together
 * migrate once. */
int store_pg_open(const char *uri, unsigned flags, ec_store_t **out);

#endif /* EDGECOAP_STORE_BACKEND_H */
