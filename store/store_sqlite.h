/* edgecoap SQLite store: what only SQLite has beside the contract (store.h): knobs for tests and benchmarks. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_STORE_SQLITE_H
#define EDGECOAP_STORE_SQLITE_H

#include <stdbool.h>
#include <stddef.h>

#include "store.h"
#include "edgecoap/status_message.h"

/* Only tests, benchmarks and fuzzers include this header: the server and
 * the admin commands use the contract alone. */

/* Each call below answers EC_EINVAL for a store of another backend. */

/** The schema version this build creates and migrates to (its migration
 * count). */
int ec_store_schema_version(void);

/**
 * Choose how hard commits wait for the disk (PRAGMA synchronous, per
 * connection). The default, "full", syncs the WAL at every commit, so an
 * acknowledged report survives power loss and OS crashes. "normal" survives
 * a crash of the server process but may lose the latest commits on power
 * loss; "off" may also corrupt the database then. For benchmarks and tests.
 * @param[in] mode  "full", "normal" or "off" (any case)
 * @return 0, EC_EINVAL for another mode, or EC_ESTORE
 */
int ec_store_set_synchronous(ec_store_t *s, const char *mode);

/**
 * SQLite's EXPLAIN QUERY PLAN of the read ec_store_msg_list() would run for
 * @p f, its steps joined with "; ", e.g. "SEARCH m USING COVERING INDEX
 * status_messages_order_doc (order_id=? AND id>? AND id<?)". For tests
 * and documentation.
 * @return the length written (NUL-terminated), or EC_EINVAL / EC_ENOSPC /
 *         EC_ESTORE
 */
int ec_store_msg_explain(ec_store_t *s, const ec_msg_filter_t *f,
                         bool newest_first, char *out, size_t cap);

/**
 * The query plan SQLite chooses for the read ec_store_fleet_devices()
 * makes for @p q (or, with @p q NULL, for ec_store_fleet_rollup()), as
 * EXPLAIN QUERY PLAN's details joined by "; ", into @p out. For tests.
 * @return 0, EC_EINVAL or EC_ESTORE
 */
int ec_store_fleet_plan(ec_store_t *s, const ec_store_fleet_query_t *q,
                        char *out, size_t cap);

#endif /* EDGECOAP_STORE_SQLITE_H */
