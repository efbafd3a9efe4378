/* edgecoap SQLite store: its database file's path and the lock one server keeps on it. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "store_internal.h"

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

int ec_db_lock(const char *abs, ec_db_lock_t *l) {
  l->fd = -1;
  l->created = false;
  /* Read-only is enough for flock, and works on a read-only file, so that
   * the store's own check can say what is wrong with it. */
  l->fd = open(abs, O_RDONLY | O_CLOEXEC);
  if (l->fd < 0 && errno == ENOENT) {
    l->fd = open(abs, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (l->fd >= 0)
      l->created = true;
    else if (errno == EEXIST) /* created by someone else meanwhile */
      l->fd = open(abs, O_RDONLY | O_CLOEXEC);
  }
  if (l->fd < 0) {
    ec_log(EC_LOG_ERROR, "cannot open the database %s: %s", abs,
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
           abs, strerror(errno));
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

static int hex_val(char c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

int ec_db_uri_path(const char *uri, char *out, size_t cap, bool *memory) {
  const char *p = uri + strlen("file:");
  *memory = false;
  /* file://HOST/path: SQLite takes an empty host or "localhost" only. */
  if (strncmp(p, "//", 2) == 0) {
    p += 2;
    const char *slash = strchr(p, '/');
    size_t host = slash ? (size_t)(slash - p) : strlen(p);
    if (slash == NULL ||
        (host != 0 && !(host == 9 && strncmp(p, "localhost", 9) == 0))) {
      ec_log(EC_LOG_ERROR, "store: %s: a file: URI names no other host",
             uri);
      return EC_ESTORE;
    }
    p = slash;
  }
  size_t n = 0;
  for (; *p != '\0' && *p != '?' && *p != '#'; p++) {
    char c = *p;
    if (c == '%' && hex_val(p[1]) >= 0 && hex_val(p[2]) >= 0) {
      c = (char)(hex_val(p[1]) << 4 | hex_val(p[2]));
      p += 2;
    }
    if (c == '\0' || n + 1 >= cap) {
      ec_log(EC_LOG_ERROR, "store: %s: not a file name", uri);
      return EC_ESTORE;
    }
    out[n++] = c;
  }
  out[n] = '\0';
  /* The query's mode=memory, or SQLite's own name, is no file. */
  const char *q = *p == '?' ? p + 1 : NULL;
  while (q != NULL && !*memory) {
    *memory = strncmp(q, "mode=memory", 11) == 0 &&
              (q[11] == '\0' || q[11] == '&' || q[11] == '#');
    q = strchr(q, '&');
    if (q != NULL)
      q++;
  }
  if (strcmp(out, ":memory:") == 0)
    *memory = true;
  return 0;
}
