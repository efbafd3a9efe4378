/* edgecoap server: per-session observation counts and Block1 uploads. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "peer.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

ec_peer_t *ec_peer_get(ec_server_t *srv, coap_session_t *session) {
  ec_peer_t *p = coap_session_get_app_data(session);
  if (p != NULL)
    return p;
  p = calloc(1, sizeof(*p));
  if (p == NULL)
    return NULL;
  p->session = session;
  p->next = srv->peers;
  if (srv->peers != NULL)
    srv->peers->prev = p;
  srv->peers = p;
  coap_session_set_app_data(session, p);
  return p;
}

static void peer_free(ec_server_t *srv, ec_peer_t *p) {
  for (unsigned i = 0; i < p->n_obs; i++)
    if (p->obs[i].route->n_observers > 0)
      p->obs[i].route->n_observers--;
  free(p->obs);
  ec_peer_upload_clear(p);
  if (p->prev != NULL)
    p->prev->next = p->next;
  else
    srv->peers = p->next;
  if (p->next != NULL)
    p->next->prev = p->prev;
  free(p);
}

void ec_peer_drop(ec_server_t *srv, coap_session_t *session) {
  ec_peer_t *p = coap_session_get_app_data(session);
  if (p == NULL)
    return;
  coap_session_set_app_data(session, NULL);
  peer_free(srv, p);
}

void ec_peer_free_all(ec_server_t *srv) {
  while (srv->peers != NULL) {
    ec_peer_t *p = srv->peers;
    coap_session_set_app_data(p->session, NULL);
    peer_free(srv, p);
  }
}

static int find_obs(const ec_peer_t *peer, const ec_route_t *route,
                    const coap_bin_const_t *token) {
  for (unsigned i = 0; i < peer->n_obs; i++) {
    const ec_peer_obs_t *o = &peer->obs[i];
    if (o->route == route && o->token_len == token->length &&
        memcmp(o->token, token->s, token->length) == 0)
      return (int)i;
  }
  return -1;
}

/*
 * What makes two requests "the same" to libcoap's observer list: every
 * option but ETag and the NoCacheKey ones (RFC 7252 section 5.4.6), and the
 * payload; the token is not part of it. A 64-bit FNV-1a of them stands in
 * for libcoap's opaque SHA-256 cache key.
 */
static uint64_t request_key(const coap_pdu_t *request) {
  uint64_t h = EC_FNV1A_INIT;
  coap_opt_iterator_t it;
  const coap_opt_t *opt;
  size_t len;
  const uint8_t *data;

  coap_option_iterator_init(request, &it, COAP_OPT_ALL);
  while ((opt = coap_option_next(&it)) != NULL) {
    if (it.number == COAP_OPTION_ETAG || (it.number & 0x1e) == 0x1c)
      continue;
    uint8_t head[2] = {(uint8_t)(it.number >> 8), (uint8_t)it.number};
    h = ec_fnv1a(h, head, sizeof(head));
    h = ec_fnv1a(h, coap_opt_value(opt), coap_opt_length(opt));
  }
  if (coap_get_data(request, &len, &data))
    h = ec_fnv1a(h, data, len);
  return h;
}

int ec_peer_observe(ec_server_t *srv, ec_peer_t *peer, ec_route_t *route,
                    const coap_pdu_t *request) {
  coap_bin_const_t token = coap_pdu_get_token(request);
  if (token.length > sizeof(peer->obs[0].token))
    return EC_EINVAL;
  if (find_obs(peer, route, &token) >= 0)
    return 0;
  uint64_t key = request_key(request);
  for (unsigned i = 0; i < peer->n_obs; i++) {
    ec_peer_obs_t *o = &peer->obs[i];
    if (o->route == route && o->key == key) {
      o->token_len = (uint8_t)token.length;
      memcpy(o->token, token.s, token.length);
      return 0;
    }
  }
  if (peer->n_obs + peer->n_watches >= srv->cfg.max_peer_observations ||
      route->n_observers >= srv->cfg.max_observers)
    return EC_ETOOBIG;
  if (peer->n_obs == peer->cap_obs) {
    unsigned cap = peer->cap_obs ? peer->cap_obs * 2 : 4;
    ec_peer_obs_t *obs = realloc(peer->obs, cap * sizeof(*obs));
    if (obs == NULL)
      return EC_ENOMEM;
    peer->obs = obs;
    peer->cap_obs = cap;
  }
  ec_peer_obs_t *o = &peer->obs[peer->n_obs++];
  o->route = route;
  o->key = key;
  o->token_len = (uint8_t)token.length;
  memcpy(o->token, token.s, token.length);
  route->n_observers++;
  return 0;
}

void ec_peer_unobserve(ec_peer_t *peer, ec_route_t *route,
                       const coap_bin_const_t *token) {
  int i = find_obs(peer, route, token);
  if (i < 0)
    return;
  if (route->n_observers > 0)
    route->n_observers--;
  peer->obs[i] = peer->obs[--peer->n_obs];
}

void ec_peer_upload_clear(ec_peer_t *peer) {
  free(peer->up_path);
  free(peer->up_buf);
  peer->up_path = NULL;
  peer->up_buf = NULL;
  peer->up_len = 0;
}
