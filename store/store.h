/* edgecoap: the store contract: every read and write the server and admin make, naming no backend. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_STORE_H
#define EDGECOAP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgecoap/deployment.h"
#include "metrics.h"
#include "edgecoap/fleet.h"

/*
 * The store knows nothing of CoAP or of the wire formats: a report reaches it
 * as an opaque document (the codec's CBOR) plus the few columns it indexes.
 * Every write is one transaction. A write call (ec_store_status_put() ...)
 * returns only after that transaction has committed, so the caller may
 * acknowledge it; a queued write (ec_store_status_queue()) says so in its
 * callback instead.
 *
 * Not thread-safe: one ec_store_t belongs to one thread (the server's I/O
 * thread).
 */
typedef struct ec_store ec_store_t;

/* Device and deployment IDs arrive as single Uri-Path segments, which CoAP
 * caps at 255 bytes; longer (or empty) IDs are EC_EINVAL. */
#ifndef EC_STORE_MAX_ID_LEN
#define EC_STORE_MAX_ID_LEN 255
#endif
/* ec_store_history(): a limit <= 0 means the default; larger ones are cut to
 * the maximum. */
#ifndef EC_STORE_HISTORY_DEFAULT
#define EC_STORE_HISTORY_DEFAULT 100
#endif
#ifndef EC_STORE_HISTORY_MAX
#define EC_STORE_HISTORY_MAX 1000
#endif

/**
 * Open the store named by @p uri, creating or migrating its schema as
 * needed. A store written by a newer edgecoap (a schema version above this
 * code's) is refused and left untouched. The names:
 *   - a path, `sqlite:PATH` or a `file:` URI: an SQLite database file
 *     (created if missing, in a folder that must exist);
 *   - `postgres://...` / `postgresql://...`: reserved for PostgreSQL, which
 *     this build does not have (EC_ENOTSUP, logged).
 * Every acknowledged write survives a crash of the process, of the OS and
 * power loss: a write completes only once it is committed and on disk.
 * @param[in] flags  EC_STORE_SERVE or 0
 * @param[out] out  the store (NULL on failure); release with ec_store_close()
 * @return 0, EC_EINVAL, EC_ENOMEM, EC_ENOTSUP (a store this build lacks),
 *         EC_EBUSY (EC_STORE_SERVE: another server holds it), or EC_ESTORE
 *         with the reason logged
 */
int ec_store_open_uri(const char *uri, unsigned flags, ec_store_t **out);

/**
 * Open for the serving process. The store is held for it alone where the
 * backend has no other way to share it (one server per SQLite database:
 * a second gets EC_EBUSY; the offline admin commands open without the flag
 * and work beside it), and one write is committed before anything is
 * served, so that a store that cannot take writes (a read-only file,
 * folder or mount, a full disk) is found at start (EC_ESTORE, logged)
 * rather than at every request.
 */
#define EC_STORE_SERVE 1u

/** ec_store_open_uri(@p uri, 0, @p out). */
int ec_store_open(const char *uri, ec_store_t **out);

/**
 * Readiness: one read and one committed write (the schema version,
 * rewritten as it is), for a health check while serving.
 * @return 0, EC_EBUSY (called from a flush's callback), or EC_ESTORE
 *         (logged)
 */
int ec_store_ping(ec_store_t *s);

/**
 * Count every commit of a write into @p m (borrowed; NULL: none): its
 * latency (EC_H_COMMIT_SECONDS), the writes it made durable
 * (EC_H_COMMIT_WRITES) and failures.
 */
void ec_store_set_metrics(ec_store_t *s, ec_metrics_t *m);

/** The bytes the store's data takes (SQLite: pages times page size). */
int ec_store_size(ec_store_t *s, int64_t *bytes);

/** Close the store, releasing all it holds; NULL is a no-op. Queued writes
 * are waited for first (ec_store_wait(): their callbacks run). */
void ec_store_close(ec_store_t *s);

/** Where the store is, for logs and messages: an SQLite database's
 * absolute path. Lives as long as @p s. */
const char *ec_store_where(const ec_store_t *s);

/** True when this open created the store, empty. */
bool ec_store_created(const ec_store_t *s);

/** One accepted deployment-status report. */
typedef struct {
  const char *device_id;
  const char *deployment_id; /**< as the route spells it; stored lowercased */
  ec_state_t state;          /**< the overall state */
  const uint8_t *doc;        /**< the report document, opaque to the store */
  size_t doc_len;
  int64_t received_at_ms;
  const uint8_t *request_id; /**< the client's Request-Id, or NULL */
  size_t request_id_len;     /**< 0, or EC_REQUEST_ID_MIN..MAX bytes */
  /* For the fleet's roll-ups (ec_store_fleet_*): may be left zero. */
  const char *error_code;    /**< status.error.code, or NULL */
  const ec_fleet_failure_t *failed; /**< the components whose state is
                              *   Failed, with their error codes (devices
                              *   ignored); names unique */
  size_t n_failed;
} ec_status_write_t;

/** Bounds of a request identifier (API.md, "Request-Id"). */
#define EC_REQUEST_ID_MIN 8
#define EC_REQUEST_ID_MAX 16

/**
 * The write a device made under request identifier @p rid: its
 * deployment (lowercased, into @p dep), history seq and stored report (a
 * new buffer the caller frees).
 * @return 0, EC_ENOTFOUND, EC_EBUSY (a write under @p rid is queued and not
 *         complete yet: ask again once its callback ran),
 *         EC_EINVAL, EC_ENOMEM or EC_ESTORE
 */
int ec_store_status_by_request(ec_store_t *s, const char *device_id,
                               const uint8_t *rid, size_t rid_len,
                               char dep[EC_STORE_MAX_ID_LEN + 1],
                               int64_t *seq, uint8_t **doc, size_t *doc_len);

/**
 * Store a report as the current status of (device, deployment) and append it
 * to the history, in one committed transaction.
 * @param[out] created  1 if this was the first report of that pair, else 0
 * @param[out] seq      the history sequence number given to it (1, 2, ...)
 * @p created and @p seq may be NULL. @p w's buffers are only read during the
 * call. Writes still queued are waited for first, so writes commit in the order
 * they were made (every synchronous write does so).
 * @return 0, EC_EINVAL (bad IDs or state, or called from an
 *         ec_store_each_status() callback), EC_EBUSY (called from a
 *         queued write's callback by a store whose commits complete later,
 *         which cannot wait there), EC_ETIMEOUT (a store over the network
 *         did not commit it within EC_STORE_WAIT_MS: nothing stored, try
 *         again) or EC_ESTORE (nothing stored)
 */
int ec_store_status_put(ec_store_t *s, const ec_status_write_t *w, int *created,
                        int64_t *seq);

/*
 * Queued writes: the group commit. A durable commit waits for the disk (or,
 * for a network database, a round trip), which is most of a write's cost,
 * so writes may be queued and flushed together: ec_store_flush() commits
 * what is queued as one transaction, in which each write is applied or
 * refused on its own (a failed write takes only itself away, the others
 * still commit). A queued write's callback runs exactly once, after the
 * transaction that holds it has committed (rc 0: durable, it may be
 * acknowledged now) or failed (rc < 0: nothing of it is stored). Callbacks
 * run in the order the writes were queued, never inside the queueing call:
 * from ec_store_flush() or ec_store_wait(), from a synchronous write (which
 * waits for the queue first), or from ec_store_close(). A callback may call the
 * store, queueing included.
 *
 * Flushing comes in two steps, so that a store whose commit arrives later
 * (a network database) fits: ec_store_flush() never waits for a commit. It
 * starts committing what is queued and runs the callbacks of the writes
 * whose commit is known by then; the server's I/O loop calls it once per
 * round while ec_store_queued() is not 0, and answers from the callbacks.
 * ec_store_wait() blocks until every write queued before it has run its
 * callback: for the admin commands, tests and shutdown, never the I/O loop.
 * A store whose commits complete at once (SQLite) runs every callback of a
 * flush before ec_store_flush() returns, so there the two are the same; a
 * caller that needs the callbacks to have run must still say so with
 * ec_store_wait(). Reads see committed writes; whether they see one still
 * queued is not said: wait for its callback first.
 */

/** What a queued status write did. */
typedef struct {
  int rc;      /**< 0: committed and durable; < 0: nothing of it stored */
  int created; /**< 1 if it was the first report of its pair, else 0 */
  int64_t seq; /**< the history sequence number given to it */
} ec_status_done_t;

/** A queued status write's completion; @p d lives only during the call. */
typedef void (*ec_status_done_fn)(void *ud, const ec_status_done_t *d);

/**
 * Queue a report as ec_store_status_put() would store it; @p fn(@p ud, ...)
 * says when it is committed. @p w and its buffers are copied.
 * @return 0 (@p fn will run), EC_EINVAL (bad IDs, state or request id, or
 *         called from an ec_store_each_status() callback) or EC_ENOMEM;
 *         on failure @p fn never runs
 */
int ec_store_status_queue(ec_store_t *s, const ec_status_write_t *w,
                          ec_status_done_fn fn, void *ud);

/**
 * Start committing the queued writes as one transaction, without waiting
 * for the commit, and run the callbacks of every write whose commit is
 * known by now (with SQLite: all of them).
 * @return 0 (also when nothing was queued), or the transaction's error
 *         (EC_ESTORE; each callback has its own rc)
 */
int ec_store_flush(ec_store_t *s);

/**
 * Flush, and wait until every write queued before this call has run its
 * callback (writes the callbacks queue wait for the next flush). Blocks:
 * never on the I/O loop.
 * @return as ec_store_flush()
 */
int ec_store_wait(ec_store_t *s);

/** How many queued writes have not run their callback yet. */
size_t ec_store_queued(const ec_store_t *s);

/**
 * What the I/O loop waits on for this store beside its own sockets, so
 * that a commit arriving later is read at once: poll the descriptor for
 * @p events, and call ec_store_flush() when it is ready, or when
 * @p due_ms milliseconds have passed (a reconnect to try, a write to
 * time out, writes queued and not sent yet: 0).
 * @param[out] events  POLLIN and/or POLLOUT (0 when no descriptor)
 * @param[out] due_ms  -1: no time of its own
 * @return the descriptor, or -1 (none: no commit in flight and nothing
 *         listened to, or a store whose commits complete inside
 *         ec_store_flush(), SQLite)
 */
int ec_store_fd(ec_store_t *s, short *events, int *due_ms);

/**
 * True while the store's database server is out of reach (a network store
 * whose connection was lost and not found again yet: calls fail, and
 * writes queued wait a bounded time): a failure now is one to try again
 * later, not a broken store. Never for SQLite.
 */
bool ec_store_unreachable(const ec_store_t *s);

/* How long a write waits for a store out of reach before it fails: a
 * queued one (then EC_ETIMEOUT), and a request the server holds for it
 * (server/coap/park.h). A database restart shorter than this is a slower
 * answer, not an error. */
#ifndef EC_STORE_WAIT_MS
#define EC_STORE_WAIT_MS 5000
#endif

/*
 * Changes other servers made. A store several servers share (PostgreSQL)
 * tells each of them of the writes the others commit, as hints: a hint
 * says where to read again, never what was written (read the tables), and
 * hints may be merged or lost, which EC_STORE_CHANGE_ANY then says.
 */
typedef enum {
  EC_STORE_CHANGE_STATUS,   /**< (device_id, deployment_id) has a newer report */
  EC_STORE_CHANGE_MESSAGES, /**< status messages were added: read on from
                             *   the last ID seen */
  EC_STORE_CHANGE_DEVICE,   /**< the DTLS identity device_id was added,
                             *   removed or given another key: find it
                             *   again (also heard for this store's own
                             *   ec_store_device_add/remove) */
  EC_STORE_CHANGE_PROVISIONING, /**< components of provisioning_id were
                                 *   inserted or updated */
  EC_STORE_CHANGE_ANY       /**< anything may have changed (after a lost
                             *   connection, or hints too many for one
                             *   notification): read again what is watched */
} ec_store_change_kind_t;

/** One hint; the strings live only during the callback. */
typedef struct {
  ec_store_change_kind_t kind;
  const char *device_id;     /**< EC_STORE_CHANGE_STATUS: as stored;
                              *   EC_STORE_CHANGE_DEVICE: the identity */
  const char *deployment_id; /**< EC_STORE_CHANGE_STATUS: lowercase */
  int64_t provisioning_id;   /**< EC_STORE_CHANGE_PROVISIONING */
} ec_store_change_t;

typedef void (*ec_store_change_fn)(void *ud, const ec_store_change_t *c);

/**
 * Hear of the writes other servers commit to this store: @p fn(@p ud, ...)
 * runs from ec_store_flush() (call it when ec_store_fd() is ready, also
 * with nothing queued) for each hint, never for this store's own status
 * reports and messages (identities' hints are for every writer's). It
 * may read the store, not write to it. @p fn NULL stops.
 * @return 0, or EC_ENOTSUP (a store only one server writes: SQLite, whose
 *         writes are all the caller's own)
 */
int ec_store_listen(ec_store_t *s, ec_store_change_fn fn, void *ud);

/**
 * Read the current report of (device, deployment). Deployment IDs match
 * ASCII case-insensitively, here and in every read below.
 * @param[out] doc      a malloc'd copy of the document (non-NULL even when
 *                      empty); the caller frees it
 * @param[out] updated_at_ms  may be NULL
 * @param[out] seq      the report's history seq (its write order), may be NULL
 * @return 0, EC_ENOTFOUND, EC_EINVAL, EC_ENOMEM or EC_ESTORE
 */
int ec_store_status_get(ec_store_t *s, const char *device_id,
                        const char *deployment_id, uint8_t **doc,
                        size_t *doc_len, int64_t *updated_at_ms, int64_t *seq);

/**
 * Read up to @p limit history entries with seq > @p since, oldest first
 * (@p limit <= 0: EC_STORE_HISTORY_DEFAULT; at most EC_STORE_HISTORY_MAX).
 * @param[out] entries  one malloc'd block holding the array and the documents;
 *                      release it with free(); NULL when @p *n is 0
 * @return 0 (also when there are none), EC_EINVAL, EC_ENOMEM or EC_ESTORE
 */
int ec_store_history(ec_store_t *s, const char *device_id,
                     const char *deployment_id, int64_t since, int limit,
                     ec_history_entry_t **entries, size_t *n);

/**
 * ec_store_history(), stopping after the entry that brings the documents
 * read to @p max_bytes or more (0: no byte cap); at least one entry is read
 * when there is one.
 * @param[out] more  set when the byte cap stopped the read and more entries
 *                   follow (the next page starts after the last seq); may be
 *                   NULL
 */
int ec_store_history_page(ec_store_t *s, const char *device_id,
                          const char *deployment_id, int64_t since, int limit,
                          size_t max_bytes, ec_history_entry_t **entries,
                          size_t *n, bool *more);

/**
 * List the deployments of one device with their current state, ordered by
 * deploymentId.
 * @param[out] list  one malloc'd block holding the array and its strings
 *                   (deployment IDs lowercased); release it with free();
 *                   NULL when @p *n is 0
 * @return 0 (also when there are none), EC_EINVAL, EC_ENOMEM or EC_ESTORE
 */
int ec_store_deployments(ec_store_t *s, const char *device_id,
                         ec_deployment_summary_t **list, size_t *n);

/**
 * ec_store_deployments() from the first deploymentId after @p after (NULL:
 * from the first), stopping once the page's answer would pass about
 * @p max_bytes (0: no cap); at least one when there is one.
 * @param[out] more  set when the cap ended the page and more follow (the next
 *                   starts after the last id); may be NULL
 */
int ec_store_deployments_page(ec_store_t *s, const char *device_id,
                              const char *after, size_t max_bytes,
                              ec_deployment_summary_t **list, size_t *n,
                              bool *more);

/**
 * Call @p fn once for every (device, deployment) that has a status (the
 * server itself makes resources on demand and walks none). A non-zero return
 * from @p fn stops the walk and is returned. The strings live only during
 * the call. @p fn may read the store but not write to it or start another
 * walk (those calls return EC_EINVAL).
 * @return 0, @p fn's non-zero value, EC_EINVAL or EC_ESTORE
 */
int ec_store_each_status(ec_store_t *s,
                         int (*fn)(void *ud, const char *device_id,
                                   const char *deployment_id),
                         void *ud);

/* ------------------------------------------------------------------------ */
/* The fleet (store/sqlite/store_fleet.c)                                   */
/* ------------------------------------------------------------------------ */

/*
 * Every status write keeps, in its own transaction, a roll-up per
 * deployment (how many devices are in each state, and how many have a
 * component that failed with each error code), so that reading a roll-up
 * costs one indexed lookup whatever the fleet's size. Every read below is
 * index-backed (tests/test_store_sqlite.c holds SQLite's query plans).
 */

/* Failure entries one roll-up read returns at most. */
#ifndef EC_STORE_FLEET_MAX_FAILURES
#define EC_STORE_FLEET_MAX_FAILURES 64
#endif
/* ec_store_fleet_devices() and ec_store_fleet_rollups(): limits. */
#ifndef EC_STORE_FLEET_DEFAULT
#define EC_STORE_FLEET_DEFAULT 100
#endif
#ifndef EC_STORE_FLEET_MAX
#define EC_STORE_FLEET_MAX 1000
#endif

/** Which (device, deployment) rows ec_store_fleet_devices() reads. */
typedef struct {
  const char *device_id;     /**< only this device's rows, or NULL */
  const char *deployment_id; /**< only this deployment's, or NULL */
  int state;                 /**< only this state (ec_state_t), or -1 */
  /** Start after this row: ordered by deviceId then deploymentId, or by
   * deviceId alone when deployment_id is set (after_deployment ignored).
   * NULL: from the first. */
  const char *after_device;
  const char *after_deployment;
  int limit;                 /**< <= 0: EC_STORE_FLEET_DEFAULT; at most
                              *   EC_STORE_FLEET_MAX */
} ec_store_fleet_query_t;

/**
 * Read the rows @p q selects, with their latest state, stopping once the
 * answer would pass about @p max_bytes (0: no cap; at least one row).
 * @param[out] list  one malloc'd block with the array and its strings;
 *                   free() it; NULL when @p *n is 0
 * @param[out] more  set when more rows follow (the limit or the cap ended
 *                   the page); may be NULL
 * @return 0 (also when there are none), EC_EINVAL, EC_ENOMEM or EC_ESTORE
 */
int ec_store_fleet_devices(ec_store_t *s, const ec_store_fleet_query_t *q,
                           size_t max_bytes, ec_fleet_device_t **list,
                           size_t *n, bool *more);

/**
 * Read one deployment's roll-up, with at most EC_STORE_FLEET_MAX_FAILURES
 * failure entries (ordered by component, then code).
 * @param[out] out    its strings and failures live in *block
 * @param[out] block  malloc'd; free() it (also on failure: NULL then)
 * @return 0, EC_ENOTFOUND (no device reported on it), EC_EINVAL,
 *         EC_ENOMEM or EC_ESTORE
 */
int ec_store_fleet_rollup(ec_store_t *s, const char *deployment_id,
                          ec_fleet_rollup_t *out, void **block);

/**
 * Read the roll-ups (without failures) of the deployments after @p after
 * (NULL: from the first), ordered by deploymentId, at most @p limit
 * (as ec_store_fleet_query_t's).
 * @param[out] list  one malloc'd block; free() it; NULL when @p *n is 0
 * @param[out] more  set when more follow; may be NULL
 * @return 0, EC_EINVAL, EC_ENOMEM or EC_ESTORE
 */
int ec_store_fleet_rollups(ec_store_t *s, const char *after, int limit,
                           ec_fleet_rollup_t **list, size_t *n, bool *more);

/* ------------------------------------------------------------------------ */
/* Status messages (API.md section 3)                                       */
/* ------------------------------------------------------------------------ */

#include "edgecoap/status_message.h"

/** One message to store: its columns come from @p msg, its body is @p doc. */
typedef struct {
  const ec_status_message_t *msg; /**< has_date set; id ignored */
  const uint8_t *doc;             /**< the message as the codec wrote it, opaque */
  size_t doc_len;
} ec_store_msg_write_t;

/**
 * Store @p n messages in one committed transaction: all of them or, on any
 * failure, none. They get strictly increasing, consecutive IDs, never
 * handed out before: *first_id .. *first_id + n - 1 in the order given.
 * The buffers are only read during the call.
 * @return 0, EC_EINVAL (n == 0, a message without a date, code or
 *         identifier), EC_ETIMEOUT (as ec_store_status_put()'s), or
 *         EC_ESTORE (nothing stored)
 */
int ec_store_msg_insert(ec_store_t *s, const ec_store_msg_write_t *w, size_t n,
                        int64_t received_at_ms, int64_t *first_id);

/** A status-message post's Request-Id (API.md section 3). */
typedef struct {
  const char *scope;        /**< the poster: DTLS identity, or "" */
  const uint8_t *id;        /**< EC_REQUEST_ID_MIN..MAX bytes */
  size_t id_len;
  uint8_t digest[32];       /**< of the request's format and body */
  int64_t count;            /**< messages of a batch, 0 for a single one */
} ec_store_msg_request_t;

/**
 * ec_store_msg_insert(), recording @p req (NULL: none) in the same
 * transaction, so that a repeat finds what the post stored.
 */
int ec_store_msg_insert_req(ec_store_t *s, const ec_store_msg_write_t *w,
                            size_t n, int64_t received_at_ms,
                            const ec_store_msg_request_t *req,
                            int64_t *first_id);

/** What a queued message post did. */
typedef struct {
  int rc;           /**< 0: committed and durable; < 0: none of it stored */
  int64_t first_id; /**< then its messages' IDs: first_id, first_id + 1 ... */
} ec_msg_done_t;

/** A queued post's completion; @p d lives only during the call. */
typedef void (*ec_msg_done_fn)(void *ud, const ec_msg_done_t *d);

/**
 * Queue ec_store_msg_insert_req(@p w, @p n, @p received_at_ms, @p req) as
 * one write of the next flush (the queue's rules: see
 * ec_store_status_queue()); @p fn(@p ud, ...) says when it committed.
 * Nothing is copied: @p w, the messages and documents it points at and
 * @p req (NULL: none) must stay as they are until @p fn has run.
 * @return 0 (@p fn will run), or EC_EINVAL as ec_store_msg_insert_req()
 *         (also with @p fn NULL), EC_ENOMEM; on failure @p fn never runs
 */
int ec_store_msg_queue(ec_store_t *s, const ec_store_msg_write_t *w, size_t n,
                       int64_t received_at_ms,
                       const ec_store_msg_request_t *req, ec_msg_done_fn fn,
                       void *ud);

/**
 * The post recorded under (req->scope, req->id): fills req->digest and
 * req->count and *first_id.
 * @return 0, EC_ENOTFOUND, EC_EBUSY (a post under that id is queued and not
 *         complete yet: ask again once its callback ran), EC_EINVAL or
 *         EC_ESTORE
 */
int ec_store_msg_request_find(ec_store_t *s, ec_store_msg_request_t *req,
                              int64_t *first_id);

/**
 * The messages that pass every filter of @p f, in ascending ID order (or
 * descending with @p newest_first), at most @p limit (<= 0: the default
 * EC_MSG_LIMIT_DEFAULT; cut to EC_MSG_LIMIT_MAX). f->limit is not read.
 * Every filter is answered from an index, so a read costs what it returns,
 * not the size of the table.
 * @param[out] rows  one malloc'd block holding the array and the documents;
 *                   release it with free(); NULL when *n is 0
 * @return 0 (also when none match), EC_EINVAL, EC_ENOMEM or EC_ESTORE
 */
int ec_store_msg_list(ec_store_t *s, const ec_msg_filter_t *f, int limit,
                      bool newest_first, ec_msg_row_t **rows, size_t *n);

/**
 * ec_store_msg_list(), stopping after the message that brings the stored
 * documents read to @p max_bytes or more (0: no byte cap), so that a page
 * costs a bounded amount of memory whatever the limit. At least one message
 * is read when any matches.
 * @param[out] more  set when the byte cap stopped the read and more messages
 *                   match (the next page starts after the last ID); may be NULL
 */
int ec_store_msg_page(ec_store_t *s, const ec_msg_filter_t *f, int limit,
                      bool newest_first, size_t max_bytes, ec_msg_row_t **rows,
                      size_t *n, bool *more);

/**
 * One message by ID.
 * @param[out] row  one malloc'd block (the row and its document); free() it
 * @return 0, EC_ENOTFOUND, EC_EINVAL, EC_ENOMEM or EC_ESTORE
 */
int ec_store_msg_get(ec_store_t *s, int64_t id, ec_msg_row_t **row);

/* ------------------------------------------------------------------------ */
/* Device provisioning components (API.md section 4)                        */
/* ------------------------------------------------------------------------ */

#include "edgecoap/provisioning.h"

/* Catalog names, usernames and roles are at most this many bytes. */
#ifndef EC_STORE_PROV_TEXT_MAX
#define EC_STORE_PROV_TEXT_MAX 255
#endif
/* A password hash string (libsodium's crypto_pwhash_STRBYTES, NUL included). */
#define EC_STORE_PROV_HASH_MAX 128
/* A token digest (SHA-256 of the token's raw bytes). */
#define EC_STORE_PROV_DIGEST_LEN 32

/** An account. */
typedef struct {
  int64_t id;
  char username[EC_STORE_PROV_TEXT_MAX + 1];
  char role[EC_STORE_PROV_TEXT_MAX + 1];
  char password_hash[EC_STORE_PROV_HASH_MAX];
} ec_store_prov_user_t;

/** One entry of the provisionings or a component catalog. */
typedef struct {
  int64_t id;
  const char *name;
  int active_status; /**< provisionings only: 0 or 1 */
  bool has_owner;    /**< provisionings only: owner_id is set */
  int64_t owner_id;  /**< provisionings only: the owning account */
} ec_store_prov_item_t;

/** Everything one `admin import` file holds; any array may be empty. */
typedef struct {
  const ec_store_prov_user_t *users; /**< password_hash already hashed */
  size_t n_users;
  const ec_store_prov_item_t *provisionings;
  size_t n_provisionings;
  const ec_store_prov_item_t *catalog[EC_COMP_TYPE_COUNT]; /**< by ec_comp_type_t */
  size_t n_catalog[EC_COMP_TYPE_COUNT];
} ec_store_prov_import_t;

/**
 * Insert or update (by id) every entry of @p im in one transaction: all of
 * it is stored or none. A username already held by another id is EC_EINVAL
 * (logged), as are empty or over-long names.
 * @return 0, EC_EINVAL or EC_ESTORE
 */
int ec_store_prov_import(ec_store_t *s, const ec_store_prov_import_t *im);

/**
 * Add an account, or replace the password hash and role of the account
 * with that username (then @p u->id is ignored). An id of 0 or less picks
 * the next free one.
 * @param[out] id       the account's id (may be NULL)
 * @param[out] created  1 when it was added, 0 when it was updated (may be NULL)
 * @return 0, EC_EINVAL or EC_ESTORE
 */
int ec_store_prov_user_put(ec_store_t *s, const ec_store_prov_user_t *u,
                           int64_t *id, int *created);

/** Find an account by its exact username. @return 0, EC_ENOTFOUND, EC_ESTORE */
int ec_store_prov_user_find(ec_store_t *s, const char *username,
                            ec_store_prov_user_t *out);

/** Find an account by id (password_hash included). @return 0,
 * EC_ENOTFOUND or EC_ESTORE */
int ec_store_prov_user_get(ec_store_t *s, int64_t id, ec_store_prov_user_t *out);

/**
 * Call @p fn for each account in id order (id, username and role set; no
 * password hash), until it returns non-zero, which is returned.
 * @return 0, @p fn's value, EC_EINVAL or EC_ESTORE
 */
int ec_store_prov_user_each(ec_store_t *s,
                            int (*fn)(void *ud, const ec_store_prov_user_t *u),
                            void *ud);

/**
 * Remove account @p username in one transaction: its session tokens end,
 * the provisionings it owned have no owner, and its row is deleted, unless
 * components name it as their last modifier; then *kept is set and the row
 * stays with role "removed" and @p unknown_hash (an Argon2id hash of a
 * secret nobody holds) as its password.
 * @return 0, EC_ENOTFOUND (no such account), EC_EINVAL or EC_ESTORE
 */
int ec_store_prov_user_remove(ec_store_t *s, const char *username,
                              const char *unknown_hash, bool *kept);

/**
 * The owner of provisioning @p id.
 * @param[out] owner_id  the owning account, or -1 when it has none
 * @return 0, EC_ENOTFOUND (no such provisioning) or EC_ESTORE
 */
int ec_store_prov_owner(ec_store_t *s, int64_t id, int64_t *owner_id);

/**
 * The provisioning a component row (provisioning_component_id) belongs to.
 * @return 0, EC_ENOTFOUND or EC_ESTORE
 */
int ec_store_prov_component_of(ec_store_t *s, int64_t pc_id,
                               int64_t *provisioning_id);

/** Store a new session token's digest for @p user_id, used at @p now_ms, and
 * forget tokens unused for @p ttl_ms. @return 0 or EC_ESTORE */
int ec_store_prov_token_add(ec_store_t *s, const uint8_t *digest,
                            int64_t user_id, int64_t now_ms, int64_t ttl_ms);

/**
 * Look a token up: it is live when it was last used less than @p ttl_ms
 * ago. A live token used @p touch_ms or longer ago is marked used now (the
 * sliding expiry); @p touch_ms < 0 never marks it.
 * @return 0 with *user_id, EC_ENOTFOUND (unknown or expired) or EC_ESTORE
 */
int ec_store_prov_token_use(ec_store_t *s, const uint8_t *digest,
                            int64_t now_ms, int64_t ttl_ms, int64_t touch_ms,
                            int64_t *user_id);

/** Forget a token. @return 0 when it was live, EC_ENOTFOUND, or EC_ESTORE */
int ec_store_prov_token_delete(ec_store_t *s, const uint8_t *digest,
                               int64_t now_ms, int64_t ttl_ms);

/**
 * Count a failed login of @p username at @p now_ms in the username's
 * window: @p window_ms from the first failure after its last window ended
 * (server/auth/auth.c's per-username slow-down). Every server on the store
 * counts into the same window; windows that ended are forgotten here.
 * @param[out] count  the window's failures, this one included (may be NULL)
 * @return 0, EC_EINVAL or EC_ESTORE
 */
int ec_store_login_failed(ec_store_t *s, const char *username, int64_t now_ms,
                          int64_t window_ms, int64_t *count);

/** The failed logins of @p username in its window at @p now_ms (0: none,
 * or the window ended). @return 0, EC_EINVAL or EC_ESTORE */
int ec_store_login_failures(ec_store_t *s, const char *username,
                            int64_t now_ms, int64_t window_ms,
                            int64_t *count);

/**
 * Select components matching every present filter of @p f (the fields of a
 * select request; limit defaults to EC_PROV_DEFAULT_LIMIT), in ascending
 * provisioning_component_id, with each name from its catalog.
 * @param[out] rows  one malloc'd block (array and names); free() it; NULL
 *                   when @p *n is 0
 * @return 0 (also when none match), EC_EINVAL, EC_ENOMEM or EC_ESTORE
 */
int ec_store_prov_select(ec_store_t *s, const ec_prov_request_t *f,
                         ec_prov_component_t **rows, size_t *n);

/** ec_store_prov_select() of only the rows of provisionings whose owner is
 * account @p owner_id (every row when @p owner_id < 0). */
int ec_store_prov_select_owned(ec_store_t *s, const ec_prov_request_t *f,
                               int64_t owner_id, ec_prov_component_t **rows,
                               size_t *n);

/*
 * Reads that do not wait. A store over the network (PostgreSQL) can take
 * a read up and answer it later, so that a slow read (a table locked, a
 * large scan) holds only its own request, not the I/O loop: the read goes
 * out at once on a connection of its own and its callback runs from a
 * later ec_store_flush(), called when ec_store_read_fd() is ready. Such
 * reads see what is committed, as every read does; they are bounded in
 * time, counted from their start, whatever is ahead of them
 * (EC_STORE_WAIT_MS: past it the read fails with EC_ETIMEOUT), and in
 * number (EC_STORE_READS_MAX waiting at a time: one more is refused).
 */

#ifndef EC_STORE_READS_MAX
#define EC_STORE_READS_MAX 1024
#endif

/** A read's outcome: @p rc 0 with @p rows (as ec_store_prov_select()'s,
 * the callee's to free(); NULL when @p n is 0), EC_ETIMEOUT (the store out
 * of reach, or the read took longer than EC_STORE_WAIT_MS: try again
 * later), or another < 0. */
typedef void (*ec_prov_select_fn)(void *ud, int rc, ec_prov_component_t *rows,
                                  size_t n);

/**
 * Start ec_store_prov_select_owned(@p f, @p owner_id) without waiting;
 * @p fn(@p ud, ...) runs exactly once, from ec_store_flush() (or, with an
 * error, from ec_store_close()), never inside this call. @p f is copied.
 * @return 0 (@p fn will run), EC_ENOTSUP (a store whose reads never wait
 *         on a network, SQLite: read with ec_store_prov_select_owned()),
 *         EC_ETIMEOUT (out of reach now), EC_EBUSY (EC_STORE_READS_MAX
 *         reads wait already: try again shortly), EC_EINVAL or EC_ENOMEM;
 *         on failure @p fn never runs
 */
int ec_store_prov_select_start(ec_store_t *s, const ec_prov_request_t *f,
                               int64_t owner_id, ec_prov_select_fn fn,
                               void *ud);

/**
 * What the I/O loop polls for the reads started (ec_store_prov_select_start)
 * beside ec_store_fd(): call ec_store_flush() when it is ready, or when
 * @p due_ms have passed (a connect to step).
 * @return the descriptor, or -1 (no read in flight)
 */
int ec_store_read_fd(ec_store_t *s, short *events, int *due_ms);

/** How many reads started have not run their callback yet. */
size_t ec_store_reading(const ec_store_t *s);

/** Why a write was refused, or what it changed. */
typedef struct {
  bool no_provisioning;   /**< provisioning_id names no provisioning */
  int64_t *unknown;       /**< malloc'd: ids not found, each once, in request order */
  size_t n_unknown;
  int64_t *provisionings; /**< malloc'd: the provisionings changed, each once */
  size_t n_provisionings;
} ec_store_prov_outcome_t;

/** Free the arrays of @p o (not @p o itself). */
void ec_store_prov_outcome_free(ec_store_prov_outcome_t *o);

/**
 * Insert (or, for an existing triple, update the active_status of) every
 * component of an insert request, as @p user_id at @p now_s, in one
 * transaction. Refused, with nothing stored, when the provisioning does not
 * exist (no_provisioning) or some component_id is not in the catalog of
 * component_type (unknown).
 * @return 0, EC_ESEMANTIC (refused, @p o says why), EC_EINVAL, EC_ENOMEM or
 *         EC_ESTORE; @p o is filled in every case and must be freed
 */
int ec_store_prov_insert(ec_store_t *s, const ec_prov_request_t *rq,
                         int64_t user_id, int64_t now_s,
                         ec_store_prov_outcome_t *o);

/**
 * Set active_status of the rows an update request names (by
 * provisioning_component_id, or by provisioning_id + component_type +
 * component_id), in one transaction. Refused, with nothing changed, when
 * the provisioning does not exist or some id names no row (unknown).
 * @return as ec_store_prov_insert()
 */
int ec_store_prov_update(ec_store_t *s, const ec_prov_request_t *rq,
                         int64_t user_id, int64_t now_s,
                         ec_store_prov_outcome_t *o);

/* ------------------------------------------------------------------------ */
/* DTLS PSK identities (docs/SECURITY.md)                                   */
/* ------------------------------------------------------------------------ */

/* An identity is a deviceId (API.md section 2's route ids): 1..128 bytes. */
#ifndef EC_STORE_DEVICE_ID_MAX
#define EC_STORE_DEVICE_ID_MAX 128
#endif
/* A pre-shared key is 16..64 bytes (coap-client's -k takes at most 64). */
#define EC_STORE_DEVICE_KEY_MIN 16
#define EC_STORE_DEVICE_KEY_MAX 64

/** What an identity may do (server/coap/access.c applies it). */
typedef enum {
  EC_DEVICE_ROLE_DEVICE = 0, /**< its own /device/{identity}/... only */
  EC_DEVICE_ROLE_OPERATOR    /**< reads everything, writes no device's status */
} ec_device_role_t;

/** One identity and its key. */
typedef struct {
  int64_t id; /**< never reused, so a re-added identity is a new row */
  char identity[EC_STORE_DEVICE_ID_MAX + 1];
  ec_device_role_t role;
  uint8_t key[EC_STORE_DEVICE_KEY_MAX];
  size_t key_len;
  int64_t created_at_ms;
} ec_store_device_t;

/** "device" or "operator". */
const char *ec_store_device_role_name(ec_device_role_t role);

/**
 * Add an identity with its key. The key is stored as given (it must be
 * handed to the DTLS library at each handshake), protected only by the
 * database file's permissions.
 * @param[out] id  the new row's id (may be NULL)
 * @return 0, EC_EINVAL (bad fields, or the identity exists already) or
 *         EC_ESTORE
 */
int ec_store_device_add(ec_store_t *s, const ec_store_device_t *d, int64_t *id);

/**
 * Find an identity by its exact bytes (@p len of them, no NUL needed).
 * @param[out] out  filled, key included; wipe it after use
 * @return 0, EC_ENOTFOUND (also for an over-long identity) or EC_ESTORE
 */
int ec_store_device_find(ec_store_t *s, const uint8_t *identity, size_t len,
                         ec_store_device_t *out);

/** Remove an identity. @return 0, EC_ENOTFOUND, EC_EINVAL or EC_ESTORE */
int ec_store_device_remove(ec_store_t *s, const char *identity);

/**
 * Call @p fn for every identity, ordered by identity, with its key when
 * @p with_keys (wipe what you copy of it), else with the key left out
 * (key_len 0). A non-zero return from @p fn stops the walk and is
 * returned. @p fn must not call the store.
 * @return 0, @p fn's value, EC_EINVAL or EC_ESTORE
 */
int ec_store_device_each(ec_store_t *s, bool with_keys,
                         int (*fn)(void *ud, const ec_store_device_t *d),
                         void *ud);

/**
 * A number that changes whenever an identity is added, removed or given
 * another key, by anyone (this store, another process on the same
 * database), read without waiting on any network: for a copy of the
 * identities kept in memory to see at once that it is out of date
 * (server/coap/identities.h).
 * @return 0, EC_ESTORE, or EC_ENOTSUP for a store shared over the network
 *         (PostgreSQL), which tells of identities' changes by
 *         EC_STORE_CHANGE_DEVICE hints (ec_store_listen()) instead
 */
int ec_store_device_version(ec_store_t *s, int64_t *version);

/** How many identities there are. @return 0 or EC_ESTORE */
int ec_store_device_count(ec_store_t *s, int64_t *n);

#endif /* EDGECOAP_STORE_H */
