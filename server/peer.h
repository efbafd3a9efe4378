/* edgecoap server: what the server remembers about each client session. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_PEER_H
#define EDGECOAP_PEER_H

#include "server.h"

/*
 * libcoap 4.3.1 keeps no count of observers per resource and no cap per
 * client, so the server keeps its own: each session's observations live in
 * its ec_peer_t (the session's app data), and each route counts its
 * observers. An observation is forgotten when the client cancels it (GET with
 * Observe 1) or when libcoap deletes the session (COAP_EVENT_SERVER_SESSION_DEL);
 * one ended by an RST stays counted until its session goes, which bounds the
 * error to one session's cap.
 *
 * The peer also holds a Block1 upload in progress, because the server
 * reassembles request bodies itself so that it can refuse one past the cap
 * before buffering it (libcoap 4.3.1 would buffer any size).
 */
typedef struct {
  ec_route_t *route;
  uint64_t key;      /* the request's cache key, as libcoap matches it */
  uint8_t token[8];
  uint8_t token_len;
} ec_peer_obs_t;

struct ec_peer {
  ec_peer_t *next;
  ec_peer_t *prev;
  coap_session_t *session;
  ec_peer_obs_t *obs;
  unsigned n_obs;
  unsigned cap_obs;
  unsigned n_watches; /* server-kept observations (watch.h) */
  /* Block1 upload in progress: the path it targets and the bytes so far. */
  char *up_path;
  uint8_t *up_buf;
  size_t up_len;
};

/** The peer of @p session, created on first use; NULL when out of memory. */
ec_peer_t *ec_peer_get(ec_server_t *srv, coap_session_t *session);

/** Forget @p session's peer: its observations and any upload. */
void ec_peer_drop(ec_server_t *srv, coap_session_t *session);

/** Free every peer (at shutdown, before the context goes). */
void ec_peer_free_all(ec_server_t *srv);

/**
 * Count an observation of @p route by @p peer, made by @p request. The same
 * token again is not counted twice (libcoap replays the original request for
 * every notification), and neither is the same request with a new token:
 * libcoap 4.3.1 then replaces the session's subscription (coap_add_observer
 * matches the request's cache key, ETag ignored), so the old entry takes the
 * new token.
 * @return 0, or EC_ETOOBIG when the route or the peer is at its cap
 */
int ec_peer_observe(ec_server_t *srv, ec_peer_t *peer, ec_route_t *route,
                    const coap_pdu_t *request);

/** Forget one observation, if counted. */
void ec_peer_unobserve(ec_peer_t *peer, ec_route_t *route,
                       const coap_bin_const_t *token);

/** Drop the peer's upload buffer. */
void ec_peer_upload_clear(ec_peer_t *peer);

#endif /* EDGECOAP_PEER_H */
