/* edgecoap server: per-session state: observations and Block1 uploads. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "peer.h"

#include <stdlib.h>
#include <string.h>

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

void ec_peer_upload_clear(ec_peer_t *peer) {
  free(peer->up_path);
  free(peer->up_buf);
  peer->up_path = NULL;
  peer->up_buf = NULL;
  peer->up_len = 0;
}
