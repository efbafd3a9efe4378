/* edgecoap tests: a fresh store for each test, of the backend the run names (EC_TEST_STORE). */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_TESTS_STORE_FX_H
#define EDGECOAP_TESTS_STORE_FX_H

#include "store.h"

/*
 * The store suites include store.h and this header only, so every backend
 * runs the same suites: the run names its backend in the environment
 * variable EC_TEST_STORE (CTest sets it from EDGECOAP_TEST_STORE):
 *   sqlite (or unset)  a new database file in a new folder, sqlite:PATH
 *   file               the same, named by an SQLite file: URI
 *   postgres://...     a new schema in that PostgreSQL database (dropped
 *                      at teardown)
 * A backend without a fixture here fails the suite at its first test.
 */
typedef struct {
  char dir[64];   /**< the test's own folder (file backends) or schema
                   *   (PostgreSQL) */
  char path[128]; /**< the database file in it (file backends) */
  char uri[384];  /**< the name the store was opened by */
  ec_store_t *s;  /**< the open store */
} ec_store_fx_t;

/** Make a fresh, empty store and open it into f->s (CUnit fatal on failure). */
void ec_store_fx_setup(ec_store_fx_t *f);

/** Close and open the same store again, as a restart does. */
void ec_store_fx_reopen(ec_store_fx_t *f);

/** Close the store and remove everything it left. */
void ec_store_fx_teardown(ec_store_fx_t *f);

/** Let commits wait less for the disk (SQLite: synchronous=OFF;
 * PostgreSQL: the store reopened with synchronous_commit=off), for tests
 * that write thousands of times and test no durability. */
void ec_store_fx_fast(ec_store_fx_t *f);

/** How many status messages the store holds (up to EC_MSG_LIMIT_MAX). */
int64_t ec_store_fx_messages(ec_store_t *s);

#endif /* EDGECOAP_TESTS_STORE_FX_H */
