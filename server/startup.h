/* edgecoap server: start-up checks: the database's folder and lock, free ports. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_STARTUP_H
#define EDGECOAP_STARTUP_H

#include <coap3/coap.h>
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

/**
 * Check that nothing is bound to UDP @p addr: bind a socket there without
 * SO_REUSEADDR (libcoap 4.3.1 sets it on its endpoints, and Linux then lets
 * a second libcoap server bind the same port and take its traffic).
 * @param[in] what  "coap://" or "coaps://", for the message
 * @return 0; EC_EADDRINUSE when something is bound there (logged); EC_EIO
 *         when the address cannot be bound for another reason (logged)
 */
int ec_port_check(const coap_address_t *addr, const char *what,
                  const char *host, unsigned port);

/**
 * Clear SO_REUSEADDR on this process's UDP sockets bound to @p port (the
 * endpoint libcoap just bound), so that no later program can bind the port
 * beside the server, with the option or without.
 */
void ec_port_seal(unsigned port);

#endif /* EDGECOAP_STARTUP_H */
