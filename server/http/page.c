/* edgecoap server: the dashboard's page: its HTML, CSS and JavaScript, served from the binary. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <string.h>

#include "assets.h"
#include "internal.h"
#include "util.h"

/*
 * The files of server/http/assets/ are compiled in (cmake/embed.cmake turns
 * each into a byte array at build time), so the page needs no file beside
 * the binary, no build step of its own and no outside network: it loads its
 * script and style from this server and reads /api/... and /api/events.
 *
 * Beyond loopback every path needs an operator's token (endpoint.c); a
 * browser without one is given the sign-in form at / (signin.html, 401),
 * whose script keeps the token in a cookie that the dashboard's requests,
 * its event stream included, then carry.
 */

/* The page loads nothing from elsewhere, and runs no inline script. */
#define CSP                                                                    \
  "default-src 'none'; script-src 'self'; style-src 'self'; "                  \
  "connect-src 'self'; img-src 'self' data:; base-uri 'none'; "                \
  "form-action 'none'; frame-ancestors 'none'"

static const ec_http_asset_t *find(const char *path) {
  if (strcmp(path, "/") == 0)
    path = "/index.html";
  for (const ec_http_asset_t *a = ec_http_assets; a->path != NULL; a++)
    if (strcmp(a->path, path) == 0)
      return a;
  return NULL;
}

static enum MHD_Result send_asset(struct MHD_Connection *c, unsigned status,
                                  const ec_http_asset_t *a) {
  struct MHD_Response *r = MHD_create_response_from_buffer(
      a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
  if (r == NULL)
    return MHD_NO;
  /* An ETag of the bytes: a browser asks again and is told 304 only after
   * a new build changed them. */
  char etag[24];
  snprintf(
      etag, sizeof(etag), "\"%016llx\"",
      (unsigned long long)ec_fnv1a(0xcbf29ce484222325ull, a->data, a->len));
  const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_IF_NONE_MATCH);
  if (status == MHD_HTTP_OK && inm != NULL && strcmp(inm, etag) == 0) {
    MHD_destroy_response(r);
    r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
      return MHD_NO;
    status = MHD_HTTP_NOT_MODIFIED;
  }
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, a->type);
  MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
  MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
  MHD_add_response_header(r, "Content-Security-Policy", CSP);
  MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
  MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
  if (status == MHD_HTTP_UNAUTHORIZED)
    MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                            "Bearer realm=\"edgecoap\"");
  enum MHD_Result rc = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return rc;
}

bool ec__http_page(ec_http_t *h, struct MHD_Connection *c, const char *url,
                   enum MHD_Result *rc) {
  (void)h;
  const ec_http_asset_t *a = find(url);
  if (a == NULL || strcmp(a->path, "/signin.html") == 0)
    return false;
  *rc = send_asset(c, MHD_HTTP_OK, a);
  return true;
}

bool ec__http_page_signin(struct MHD_Connection *c, const char *url,
                          enum MHD_Result *rc) {
  const char *name = strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0
                         ? "/signin.html"
                         : url;
  /* The form, its script and the style: nothing that reads the fleet. */
  if (strcmp(name, "/signin.html") != 0 && strcmp(name, "/signin.js") != 0 &&
      strcmp(name, "/dashboard.css") != 0)
    return false;
  const ec_http_asset_t *a = find(name);
  if (a == NULL)
    return false;
  *rc = send_asset(c,
                   strcmp(name, "/signin.html") == 0 ? MHD_HTTP_UNAUTHORIZED
                                                     : MHD_HTTP_OK,
                   a);
  return true;
}
