/* edgecoap server: what the server remembers about each client session. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_PEER_H
#define EDGECOAP_PEER_H

#include <stdbool.h>

#include "context.h"

/*
 * What the server remembers per client session (the session's app data):
 * its observations, kept by watch.c (libcoap 4.3.1 keeps no count of
 * observers and no cap per client, and merges a session's observations of
 * one resource into one), and a Block1 upload in progress, because the
 * server reassembles request bodies itself so that it can refuse one past
 * the cap before buffering it (libcoap 4.3.1 would buffer any size).
 */
struct ec_peer {
  ec_peer_t *next;
  ec_peer_t *prev;
  ec_peer_t *hnext;         /* srv->peer_hash: the same bucket's peers */
  coap_session_t *session;
  struct ec_watch *watches; /* this session's observations (watch.h) */
  unsigned n_watches;
  bool verified;      /* sent a valid Echo value (echo.h) */
  uint64_t seen_us;   /* ec_mono_us() of its last request libcoap read on
                       * coap:// (0: none): its session lasts another
                       * session timeout from then (screen.c) */
  /* Block1 upload in progress: the path it targets and the bytes so far. */
  char *up_path;
  uint8_t *up_buf;
  size_t up_len;
};

/** The peer of @p session, created on first use; NULL when out of memory. */
ec_peer_t *ec_peer_get(ec_server_t *srv, coap_session_t *session);

/** The peer of the session whose remote address is @p remote (any of the
 * server's endpoints), or NULL: one hash lookup (srv->peer_hash). */
ec_peer_t *ec_peer_find(ec_server_t *srv, const coap_address_t *remote);

/** Forget @p session's peer and any upload (its watches are gone first:
 * each holds a reference on the session). */
void ec_peer_drop(ec_server_t *srv, coap_session_t *session);

/** Free every peer (at shutdown, after ec_watch_free_all()). */
void ec_peer_free_all(ec_server_t *srv);

/** Drop the peer's upload buffer. */
void ec_peer_upload_clear(ec_peer_t *peer);

#endif /* EDGECOAP_PEER_H */
