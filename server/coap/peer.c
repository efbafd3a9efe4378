/* edgecoap server: per-session state: observations and Block1 uploads. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "peer.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

/* The bucket of a remote address (its bytes and port, not the padding). */
static unsigned bucket(const coap_address_t *a) {
  uint64_t h = EC_FNV1A_INIT;
  if (a->addr.sa.sa_family == AF_INET) {
    h = ec_fnv1a(h, &a->addr.sin.sin_addr, sizeof(a->addr.sin.sin_addr));
    h = ec_fnv1a(h, &a->addr.sin.sin_port, sizeof(a->addr.sin.sin_port));
  } else if (a->addr.sa.sa_family == AF_INET6) {
    h = ec_fnv1a(h, &a->addr.sin6.sin6_addr, sizeof(a->addr.sin6.sin6_addr));
    h = ec_fnv1a(h, &a->addr.sin6.sin6_port, sizeof(a->addr.sin6.sin6_port));
  }
  return (unsigned)(h % EC_PEER_BUCKETS);
}

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
  unsigned b = bucket(coap_session_get_addr_remote(session));
  p->hnext = srv->peer_hash[b];
  srv->peer_hash[b] = p;
  coap_session_set_app_data(session, p);
  return p;
}

ec_peer_t *ec_peer_find(ec_server_t *srv, const coap_address_t *remote) {
  for (ec_peer_t *p = srv->peer_hash[bucket(remote)]; p != NULL; p = p->hnext)
    if (coap_address_equals(coap_session_get_addr_remote(p->session), remote))
      return p;
  return NULL;
}

static void peer_free(ec_server_t *srv, ec_peer_t *p) {
  ec_peer_upload_clear(p);
  ec_peer_t **h = &srv->peer_hash[bucket(coap_session_get_addr_remote(
      p->session))];
  while (*h != NULL && *h != p)
    h = &(*h)->hnext;
  if (*h == p)
    *h = p->hnext;
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

void ec_peer_upload_clear(ec_peer_t *peer) {
  free(peer->up_path);
  free(peer->up_buf);
  peer->up_path = NULL;
  peer->up_buf = NULL;
  peer->up_len = 0;
}
