/* edgecoap: the storage layer; every SQL statement lives behind ec_store_*. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_STORE_H
#define EDGECOAP_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "edgecoap/deployment.h"

/*
 * The store knows nothing of CoAP or of the wire formats: a report reaches it
 * as an opaque document (the codec's CBOR) plus the few columns it indexes.
 * Every write is one transaction, and a write call returns only after that
 * transaction has committed, so the caller may acknowledge it.
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
 * Open (creating or migrating as needed) the database at @p path, in WAL
 * mode with synchronous=FULL. A database written by a newer edgecoap (a
 * schema version above this code's) is refused and left untouched.
 * @param[out] out  the store (NULL on failure); release with ec_store_close()
 * @return 0, EC_EINVAL, EC_ENOMEM, or EC_ESTORE with the reason logged
 */
int ec_store_open(const char *path, ec_store_t **out);

/** Close the store and finalize every statement; NULL is a no-op. */
void ec_store_close(ec_store_t *s);

/**
 * Choose how hard commits wait for the disk (PRAGMA synchronous, per
 * connection). The default, "full", syncs the WAL at every commit, so an
 * acknowledged report survives power loss and OS crashes. "normal" survives
 * a crash of the server process but may lose the latest commits on power
 * loss; "off" may also corrupt the database then. For benchmarks.
 * @param[in] mode  "full", "normal" or "off" (any case)
 * @return 0, EC_EINVAL for another mode, or EC_ESTORE
 */
int ec_store_set_synchronous(ec_store_t *s, const char *mode);

/** The last SQLite error message of @p s, for logs. */
const char *ec_store_errmsg(const ec_store_t *s);

/** One accepted deployment-status report. */
typedef struct {
  const char *device_id;
  const char *deployment_id; /**< as the route spells it; stored lowercased */
  ec_state_t state;          /**< the overall state */
  const uint8_t *doc;        /**< the report document, opaque to the store */
  size_t doc_len;
  int64_t received_at_ms;
} ec_status_write_t;

/**
 * Store a report as the current status of (device, deployment) and append it
 * to the history, in one committed transaction.
 * @param[out] created  1 if this was the first report of that pair, else 0
 * @param[out] seq      the history sequence number given to it (1, 2, ...)
 * @p created and @p seq may be NULL. @p w's buffers are only read during the
 * call.
 * @return 0, EC_EINVAL (bad IDs or state, or called from an
 *         ec_store_each_status() callback), or EC_ESTORE (nothing stored)
 */
int ec_store_status_put(ec_store_t *s, const ec_status_write_t *w, int *created,
                        int64_t *seq);

/**
 * Read the current report of (device, deployment). Deployment IDs match
 * ASCII case-insensitively, here and in every read below.
 * @param[out] doc      a malloc'd copy of the document (non-NULL even when
 *                      empty); the caller frees it
 * @param[out] updated_at_ms  may be NULL
 * @return 0, EC_ENOTFOUND, EC_EINVAL, EC_ENOMEM or EC_ESTORE
 */
int ec_store_status_get(ec_store_t *s, const char *device_id,
                        const char *deployment_id, uint8_t **doc,
                        size_t *doc_len, int64_t *updated_at_ms);

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
 * Call @p fn once for every (device, deployment) that has a status, so the
 * server can set up observable resources at start-up. A non-zero return
 * from @p fn stops the walk and is returned. The strings live only during
 * the call. @p fn may read the store but not write to it or start another
 * walk (those calls return EC_EINVAL).
 * @return 0, @p fn's non-zero value, EC_EINVAL or EC_ESTORE
 */
int ec_store_each_status(ec_store_t *s,
                         int (*fn)(void *ud, const char *device_id,
                                   const char *deployment_id),
                         void *ud);

#endif /* EDGECOAP_STORE_H */
