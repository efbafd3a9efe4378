/* edgecoap store: which backend a store's name means (store.h, ec_store_open_uri). */
/* SPDX-License-Identifier: Apache-2.0 */
#include "store.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "backend.h"
#include "edgecoap/error.h"
#include "log.h"

/* True when @p name starts with @p prefix, ASCII case-insensitively
 * (URI schemes are case-insensitive, RFC 3986 section 3.1). */
static bool has_prefix(const char *name, const char *prefix) {
  return strncasecmp(name, prefix, strlen(prefix)) == 0;
}

/* True when @p name starts "scheme://" (letters, digits, '+', '-', '.'
 * after a first letter), which no file name of ours does. */
static bool has_scheme(const char *name) {
  const char *p = name;
  if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
    return false;
  while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
         (*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == '.')
    p++;
  return strncmp(p, "://", 3) == 0;
}

int ec_store_open_uri(const char *uri, unsigned flags, ec_store_t **out) {
  if (out != NULL)
    *out = NULL;
  if (uri == NULL || *uri == '\0' || out == NULL || (flags & ~EC_STORE_SERVE))
    return EC_EINVAL;
  if (has_prefix(uri, "postgres://") || has_prefix(uri, "postgresql://"))
    return store_pg_open(uri, flags, out);
  if (has_prefix(uri, "sqlite:")) {
    const char *path = uri + strlen("sqlite:");
    /* sqlite:///var/lib/x.db spells the absolute path as URLs do. */
    if (strncmp(path, "//", 2) == 0)
      path += 2;
    return store_sqlite_open(path, false, flags, out);
  }
  if (has_prefix(uri, "file:"))
    return store_sqlite_open(uri, true, flags, out);
  if (has_scheme(uri)) {
    ec_log(EC_LOG_ERROR, "store: %.*s: no such kind of store in this "
           "edgecoap (a path, sqlite:PATH or file:URI names a database file)",
           (int)(strstr(uri, "://") - uri + 3), uri);
    return EC_ENOTSUP;
  }
  return store_sqlite_open(uri, false, flags, out);
}

int ec_store_open(const char *uri, ec_store_t **out) {
  return ec_store_open_uri(uri, 0, out);
}
