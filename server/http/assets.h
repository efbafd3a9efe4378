/* edgecoap server: the dashboard's files, embedded at build time (cmake/embed.cmake). */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_HTTP_ASSETS_H
#define EDGECOAP_HTTP_ASSETS_H

#include <stddef.h>

/** One embedded file: its path ("/index.html"), Content-Type and bytes
 * (NUL-terminated, @p len without the NUL). Static, never freed. */
typedef struct {
  const char *path;
  const char *type;
  const unsigned char *data;
  size_t len;
} ec_http_asset_t;

/** Every file of server/http/assets/, ended by an entry with path NULL. */
extern const ec_http_asset_t ec_http_assets[];

#endif /* EDGECOAP_HTTP_ASSETS_H */
