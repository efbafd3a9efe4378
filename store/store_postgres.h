/* edgecoap PostgreSQL store: what only it has, for its tests, beside the contract (store.h). */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_STORE_POSTGRES_H
#define EDGECOAP_STORE_POSTGRES_H

#include "store.h"

/*
 * What only the PostgreSQL backend (store/postgres/) has, for its tests
 * (scripts/check-layers refuses this header outside store/ and tests/):
 * a postgres:// or postgresql:// name opens it through ec_store_open_uri()
 * like any store.
 */

/** The schema version this build creates and migrates to. */
int ec_store_postgres_schema_version(void);

#endif /* EDGECOAP_STORE_POSTGRES_H */
