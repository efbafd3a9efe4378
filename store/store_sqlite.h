/* edgecoap SQLite store: what only SQLite has beside the contract (store.h): the database file and its lock. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_STORE_SQLITE_H
#define EDGECOAP_STORE_SQLITE_H

#include <stdbool.h>
#include <stddef.h>

/** The exclusive hold one server keeps on its database file. */
typedef struct {
  int fd;            /**< open on the database file; -1 when not held */
  char path[4096];   /**< the database's absolute path */
  bool created;      /**< the file did not exist: it was created, empty */
} ec_db_lock_t;

/**
 * The absolute path of database file @p path, whose folder must exist.
 * @param[out] abs  @p cap bytes
 * @return 0, or EC_ESTORE with the reason (a missing folder) logged
 */
int ec_db_resolve(const char *path, char *abs, size_t cap);

/**
 * Resolve @p path to an absolute one (its folder must exist), create the
 * file if missing, and take an exclusive flock(2) on it, so that a second
 * server on the same database refuses to start. SQLite's own locks are
 * POSIX record locks, which flock locks do not interfere with on Linux; the
 * offline admin commands take no flock and keep working beside a server.
 * Keep the lock until the store is closed (closing any descriptor of the
 * file would drop SQLite's POSIX locks with it).
 * @param[out] l  release with ec_db_unlock()
 * @return 0; EC_EBUSY when another process holds the lock; EC_ESTORE when
 *         the folder is missing or the file cannot be opened (logged)
 */
int ec_db_lock(const char *path, ec_db_lock_t *l);

/** Release the lock (close the descriptor); safe on a lock not held. */
void ec_db_unlock(ec_db_lock_t *l);

#endif /* EDGECOAP_STORE_SQLITE_H */
