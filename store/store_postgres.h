/* edgecoap PostgreSQL store: the incomplete backend's test-only entry point, beside the contract (store.h). */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_STORE_POSTGRES_H
#define EDGECOAP_STORE_POSTGRES_H

#include "store.h"

/*
 * Only tests include this header (scripts/check-layers refuses it
 * elsewhere). The PostgreSQL backend (store/postgres/) does not implement
 * every call of store.h yet, so ec_store_open_uri() still refuses
 * postgres:// names for the server and the admin commands; this opens one
 * all the same, for the store suites that cover what it has.
 *
 * Every call of store.h is implemented (accounts, tokens, provisioning and
 * DTLS identities included); what is left before open.c offers it is the
 * server's and admin's side (docs/ARCHITECTURE.md).
 */

/**
 * Open the PostgreSQL database @p uri names ("postgres://" or
 * "postgresql://", libpq's URI syntax), creating or migrating its schema
 * under an advisory lock, so that openers starting together migrate once.
 * A URI carrying a password is refused (EC_EINVAL): libpq takes it from
 * PGPASSFILE or ~/.pgpass instead.
 * @param[in] flags  EC_STORE_SERVE or 0 (PostgreSQL is shared by design:
 *                   the flag only makes the open commit a first write)
 * @param[out] out   the store (NULL on failure); ec_store_close() it
 * @return 0, EC_EINVAL, EC_ENOMEM or EC_ESTORE (logged)
 */
int ec_store_postgres_open_incomplete(const char *uri, unsigned flags,
                                      ec_store_t **out);

/** The schema version this build creates and migrates to. */
int ec_store_postgres_schema_version(void);

#endif /* EDGECOAP_STORE_POSTGRES_H */
