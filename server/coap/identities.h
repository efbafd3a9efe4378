/* edgecoap server: the DTLS PSK identities, kept in memory and refreshed from the store. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_IDENTITIES_H
#define EDGECOAP_IDENTITIES_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/*
 * Every identity of the store with its key and role, in a hash table, so
 * that a DTLS handshake (OpenSSL's PSK callback) and each request over
 * DTLS look their identity up without a query: on PostgreSQL a query is a
 * network round trip, which must never hold up a handshake or the I/O
 * loop. The table is loaded whole at start and kept current by the store's
 * own means (store.h):
 *
 *   - a store with a version (SQLite, which `admin`, another process,
 *     changes): ec_ids_current() reads it before each use, a read of one
 *     row of the local database, and loads the table again when it moved,
 *     so `admin device-add` and `device-remove` take effect at the next
 *     handshake or request;
 *   - a store that tells by hints (PostgreSQL): ec_ids_changed() with the
 *     identity of an EC_STORE_CHANGE_DEVICE hint finds that one again
 *     (the entry is dropped first, so an identity that cannot be read is
 *     refused until it can), and with NULL (EC_STORE_CHANGE_ANY, after a
 *     lost connection) loads the whole table again; ec_ids_current() costs
 *     nothing there.
 *
 * A load that fails keeps the table as it was, marked to be loaded again:
 * ec_ids_current() tries at its next call (versioned stores),
 * ec_ids_retry() from the I/O loop at most once a second (the others).
 * The module knows nothing of CoAP; everything runs on the I/O thread.
 */
typedef struct ec_ids ec_ids_t;

/**
 * Load every identity of @p s (which must outlive the table).
 * @return 0 with *out set, EC_EINVAL, EC_ENOMEM or EC_ESTORE
 */
int ec_ids_new(ec_store_t *s, ec_ids_t **out);

/** Wipe the keys and free @p t; NULL is a no-op. */
void ec_ids_free(ec_ids_t *t);

/**
 * Bring @p t up to date where that waits on no network: read a versioned
 * store's version and load again when it moved (or a load failed before).
 * Call before ec_ids_find() on the I/O thread or in OpenSSL's callback.
 * @return 0, or EC_ESTORE (the version or the load failed: the table is
 *         as it was)
 */
int ec_ids_current(ec_ids_t *t);

/**
 * A hint from the store: @p identity (NUL-terminated) was added, removed or
 * given another key; NULL: anything may have changed. Reads the store (on
 * PostgreSQL, a round trip): call it from the store's listener, never in a
 * handshake.
 */
void ec_ids_changed(ec_ids_t *t, const char *identity);

/** From the I/O loop: load again a table whose last load failed, at most
 * once a second (@p now_ms, a monotonic clock). */
void ec_ids_retry(ec_ids_t *t, uint64_t now_ms);

/**
 * Look up an identity by its exact bytes, in memory only.
 * @param[out] out  filled, key included; wipe it after use
 * @return 0 or EC_ENOTFOUND (also for an empty or over-long identity)
 */
int ec_ids_find(const ec_ids_t *t, const uint8_t *identity, size_t len,
                ec_store_device_t *out);

/** How many identities the table holds. */
size_t ec_ids_count(const ec_ids_t *t);

#endif /* EDGECOAP_IDENTITIES_H */
