/* edgecoap server: /.well-known/core (RFC 6690), the route templates. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "discovery.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "routes.h"

/*
 * Discovery lists the routes, not the resources libcoap holds: the routes
 * with ids are given as templates ({deviceId}, RFC 6570 style), so the
 * document is the same few hundred bytes whether one device or a million
 * have reported, and no device learns another's id from it (API.md
 * section 1). libcoap 4.3.1's own /.well-known/core would list every
 * on-demand resource, and match ?ct=50 against the whole quoted value
 * "50 60" only.
 */

#define FORMAT_LINK 40 /* application/link-format */

/* Does @p value match the filter @p want (RFC 6690 section 4.1: equal, or
 * a prefix when the filter ends with '*')? */
static bool match_one(const char *value, size_t len, const char *want,
                      size_t wlen) {
  if (wlen > 0 && want[wlen - 1] == '*')
    return len >= wlen - 1 && memcmp(value, want, wlen - 1) == 0;
  return len == wlen && memcmp(value, want, wlen) == 0;
}

/* A space-separated attribute value matches when one of its tokens does. */
static bool match_tokens(const char *value, const char *want, size_t wlen) {
  const char *p = value;
  while (*p != '\0') {
    const char *end = strchr(p, ' ');
    size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
    if (match_one(p, len, want, wlen))
      return true;
    p += len;
    while (*p == ' ')
      p++;
  }
  return false;
}

/* The ct attribute of a route: the document formats it takes. */
static const char *link_ct(const ec_route_spec_t *r) {
  unsigned doc = r->formats & EC_FMT_DOC;
  return doc == EC_FMT_DOC ? "50 60" : doc == EC_FMT_CBOR ? "60" : "50";
}

/* @p q is one Uri-Query option, "name" or "name=value"; @p href the
 * route's template with its leading '/'. */
static bool link_matches(const ec_route_spec_t *r, const char *href,
                         const uint8_t *q, size_t len) {
  const uint8_t *eq = memchr(q, '=', len);
  size_t nlen = eq != NULL ? (size_t)(eq - q) : len;
  const char *want = eq != NULL ? (const char *)eq + 1 : "";
  size_t wlen = eq != NULL ? len - nlen - 1 : 0;
  char name[16];
  if (nlen >= sizeof(name))
    return false;
  memcpy(name, q, nlen);
  name[nlen] = '\0';
  if (strcmp(name, "href") == 0)
    return match_one(href, strlen(href), want, wlen);
  if (strcmp(name, "rt") == 0)
    return match_tokens(r->rt, want, wlen);
  if (strcmp(name, "ct") == 0)
    return match_tokens(link_ct(r), want, wlen);
  if (strcmp(name, "obs") == 0)
    return (r->flags & EC_ROUTE_OBSERVE) != 0;
  return false;
}

void ec_discovery_get(ec_req_t *rq) {
  /* RFC 6690 filters by one attribute; with several, every one must hold. */
  coap_opt_iterator_t it;
  coap_opt_filter_t f;
  coap_option_filter_clear(&f);
  coap_option_filter_set(&f, COAP_OPTION_URI_QUERY);
  char doc[1024];
  size_t n = 0;
  for (size_t i = 0; i < ec_api_routes.n_routes; i++) {
    const ec_route_spec_t *r = &ec_api_routes.routes[i];
    char href[EC_ROUTE_MAX_SEGMENTS * (EC_ROUTE_SEGMENT_MAX + 1) + 1];
    if (r->rt == NULL)
      continue; /* discovery itself */
    snprintf(href, sizeof(href), "/%s", r->path);
    bool ok = true;
    const coap_opt_t *opt;
    coap_option_iterator_init(rq->request, &it, &f);
    while (ok && (opt = coap_option_next(&it)) != NULL)
      ok = link_matches(r, href, coap_opt_value(opt), coap_opt_length(opt));
    if (!ok)
      continue;
    int w = snprintf(doc + n, sizeof(doc) - n, "%s<%s>;rt=\"%s\";ct=\"%s\"%s",
                     n > 0 ? "," : "", href, r->rt, link_ct(r),
                     (r->flags & EC_ROUTE_OBSERVE) ? ";obs" : "");
    if (w < 0 || (size_t)w >= sizeof(doc) - n)
      break; /* cannot happen with this table; a shorter list beats none */
    n += (size_t)w;
  }
  ec_req_send(rq, 205, (ec_format_t)FORMAT_LINK, (const uint8_t *)doc, n, 0);
}
