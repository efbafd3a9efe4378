/* edgecoap server: /.well-known/core (RFC 6690), the route templates. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "discovery.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "request.h"

/*
 * Discovery lists the routes, not the resources libcoap holds: the routes
 * with ids are given as templates ({deviceId}, RFC 6570 style), so the
 * document is the same few hundred bytes whether one device or a million
 * have reported, and no device learns another's id from it (API.md
 * section 1). libcoap 4.3.1's own /.well-known/core would list every
 * on-demand resource, and match ?ct=50 against the whole quoted value
 * "50 60" only.
 */

typedef struct {
  const char *href;
  const char *rt;
  bool obs;
} link_t;

static const link_t links[] = {
    {"/device/{deviceId}/deployment/{deploymentId}/status",
     "margo.deployment-status", true},
    {"/device/{deviceId}/deployment/{deploymentId}/status/history",
     "margo.deployment-status.history", false},
    {"/device/{deviceId}/deployments", "margo.deployments", false},
    {"/api/2.3/statusmessages", "on-api.status-messages", false},
    {"/api/2.3/statusmessages/latest", "on-api.status-messages.latest", true},
    {"/api/2.3/statusmessages/{statusMessageID}", "on-api.status-message",
     false},
    {"/v1/Login", "provisioning.login", false},
    {"/v1/DeviceProvisioningComponents", "provisioning.components", true},
};

#define LINK_CT "50 60"
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

/* @p q is one Uri-Query option, "name" or "name=value". */
static bool link_matches(const link_t *l, const uint8_t *q, size_t len) {
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
    return match_one(l->href, strlen(l->href), want, wlen);
  if (strcmp(name, "rt") == 0)
    return match_tokens(l->rt, want, wlen);
  if (strcmp(name, "ct") == 0)
    return match_tokens(LINK_CT, want, wlen);
  if (strcmp(name, "obs") == 0)
    return l->obs;
  return false;
}

static void hnd_core(coap_resource_t *r, coap_session_t *s,
                     const coap_pdu_t *req, const coap_string_t *q,
                     coap_pdu_t *resp) {
  ec_server_t *srv = coap_get_app_data(coap_session_get_context(s));
  ec_req_t rq;
  if (ec_req_init(&rq, srv, r, s, req, q, resp) < 0)
    return;

  /* RFC 6690 filters by one attribute; with several, every one must hold. */
  coap_opt_iterator_t it;
  coap_opt_filter_t f;
  coap_option_filter_clear(&f);
  coap_option_filter_set(&f, COAP_OPTION_URI_QUERY);
  char doc[1024];
  size_t n = 0;
  for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
    const link_t *l = &links[i];
    bool ok = true;
    const coap_opt_t *opt;
    coap_option_iterator_init(req, &it, &f);
    while (ok && (opt = coap_option_next(&it)) != NULL)
      ok = link_matches(l, coap_opt_value(opt), coap_opt_length(opt));
    if (!ok)
      continue;
    int w = snprintf(doc + n, sizeof(doc) - n, "%s<%s>;rt=\"%s\";ct=\"%s\"%s",
                     n > 0 ? "," : "", l->href, l->rt, LINK_CT,
                     l->obs ? ";obs" : "");
    if (w < 0 || (size_t)w >= sizeof(doc) - n)
      break; /* cannot happen with this table; a shorter list beats none */
    n += (size_t)w;
  }
  ec_req_send(&rq, 205, (ec_format_t)FORMAT_LINK, (const uint8_t *)doc, n, 0);
}

int ec_discovery_init(ec_server_t *srv) {
  coap_resource_t *r = coap_resource_init(
      coap_make_str_const(".well-known/core"), 0);
  if (r == NULL)
    return EC_ENOMEM;
  coap_register_request_handler(r, COAP_REQUEST_GET, hnd_core);
  coap_add_resource(srv->ctx, r);
  return 0;
}
