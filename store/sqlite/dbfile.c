/* edgecoap SQLite store: its database file's path and the lock one server keeps on it. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "store_sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "edgecoap/error.h"
#include "log.h"

/* The folder part of @p path ("." when none) in @p dir, the name in *base. */
static int split_path(const char *path, char *dir, size_t cap,
                      const char **base) {
  const char *slash = strrchr(path, '/');
  size_t n = slash == NULL ? 1 : (slash == path ? 1 : (size_t)(slash - path));
  if (n >= cap)
    return -1;
  if (slash == NULL)
    memcpy(dir, ".", 2);
  else {
    memcpy(dir, slash == path ? "/" : path, n);
    dir[n] = '\0';
  }
  *base = slash == NULL ? path : slash + 1;
  return **base == '\0' ? -1 : 0;
}

int ec_db_resolve(const char *path, char *abs, size_t cap) {
  char dir[PATH_MAX], real[PATH_MAX];
  const char *base;

  if (path == NULL || split_path(path, dir, sizeof(dir), &base) < 0) {
    ec_log(EC_LOG_ERROR, "--db %s: not a file name", path ? path : "(none)");
    return EC_ESTORE;
  }
  if (realpath(dir, real) == NULL) {
    ec_log(EC_LOG_ERROR, "cannot open the database %s: its folder %s %s",
           path, dir,
           errno == ENOENT ? "does not exist (create it, or give --db a path "
                             "in an existing folder)"
                           : strerror(errno));
    return EC_ESTORE;
  }
  if ((size_t)snprintf(abs, cap, "%s%s%s", real,
                       strcmp(real, "/") == 0 ? "" : "/", base) >= cap) {
    ec_log(EC_LOG_ERROR, "--db %s: the path is too long", path);
    return EC_ESTORE;
  }
  return 0;
}

int ec_db_lock(const char *path, ec_db_lock_t *l) {
  l->fd = -1;
  l->created = false;
  l->path[0] = '\0';
  /* SQLite's in-memory database is no file: nobody else can share it. */
  if (path != NULL && strcmp(path, ":memory:") == 0) {
    snprintf(l->path, sizeof(l->path), "%s", path);
    return 0;
  }
  if (ec_db_resolve(path, l->path, sizeof(l->path)) < 0)
    return EC_ESTORE;
  /* Read-only is enough for flock, and works on a read-only file, so that
   * the store's own check can say what is wrong with it. */
  l->fd = open(l->path, O_RDONLY | O_CLOEXEC);
  if (l->fd < 0 && errno == ENOENT) {
    l->fd = open(l->path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (l->fd >= 0)
      l->created = true;
    else if (errno == EEXIST) /* created by someone else meanwhile */
      l->fd = open(l->path, O_RDONLY | O_CLOEXEC);
  }
  if (l->fd < 0) {
    ec_log(EC_LOG_ERROR, "cannot open the database %s: %s", l->path,
           strerror(errno));
    return EC_ESTORE;
  }
  if (flock(l->fd, LOCK_EX | LOCK_NB) < 0) {
    int busy = errno == EWOULDBLOCK;
    ec_log(EC_LOG_ERROR,
           busy ? "the database %s is in use by another edgecoap-server: "
                  "one server per database (stop the other one, or give "
                  "this one another --db)"
                : "cannot lock the database %s: %s",
           l->path, strerror(errno));
    ec_db_unlock(l);
    return busy ? EC_EBUSY : EC_ESTORE;
  }
  return 0;
}

void ec_db_unlock(ec_db_lock_t *l) {
  if (l->fd >= 0)
    close(l->fd);
  l->fd = -1;
}
