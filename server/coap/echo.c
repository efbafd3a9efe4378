/* edgecoap server: address verification with the Echo option (RFC 9175). */
/* SPDX-License-Identifier: Apache-2.0 */
#include "echo.h"

#include <netinet/in.h>
#include <sodium.h>
#include <string.h>

#include "peer.h"
#include "util.h"

/*
 * The MAC of @p t for @p session's IP address. Not its port: a client that
 * opens a socket per request (node-coap does) keeps using one Echo value,
 * and the value proves what matters against amplification, that whoever
 * asks receives what is sent to that address.
 */
static void echo_mac(const ec_server_t *srv, coap_session_t *session,
                     const uint8_t t[4], uint8_t out[8]) {
  const coap_address_t *a = coap_session_get_addr_remote(session);
  crypto_generichash_state st;
  crypto_generichash_init(&st, srv->echo_key, sizeof(srv->echo_key), 8);
  crypto_generichash_update(&st, t, 4);
  if (a->addr.sa.sa_family == AF_INET)
    crypto_generichash_update(&st, (const uint8_t *)&a->addr.sin.sin_addr,
                              sizeof(a->addr.sin.sin_addr));
  else if (a->addr.sa.sa_family == AF_INET6)
    crypto_generichash_update(&st, (const uint8_t *)&a->addr.sin6.sin6_addr,
                              sizeof(a->addr.sin6.sin6_addr));
  crypto_generichash_final(&st, out, 8);
}

static uint32_t now_s(void) { return (uint32_t)(ec_mono_ms() / 1000u); }

void ec_echo_make(const ec_server_t *srv, coap_session_t *session,
                  uint8_t out[EC_ECHO_LEN]) {
  uint32_t t = now_s();
  out[0] = (uint8_t)(t >> 24);
  out[1] = (uint8_t)(t >> 16);
  out[2] = (uint8_t)(t >> 8);
  out[3] = (uint8_t)t;
  echo_mac(srv, session, out, out + 4);
}

static bool echo_valid(const ec_server_t *srv, coap_session_t *session,
                       const uint8_t *v, size_t len) {
  uint8_t mac[8];
  if (len != EC_ECHO_LEN)
    return false;
  uint32_t t = (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 |
               (uint32_t)v[2] << 8 | v[3];
  uint32_t now = now_s();
  if (t > now || now - t > EC_ECHO_LIFETIME_S)
    return false;
  echo_mac(srv, session, v, mac);
  return sodium_memcmp(mac, v + 4, sizeof(mac)) == 0;
}

bool ec_echo_verified(ec_server_t *srv, coap_session_t *session,
                      const coap_opt_t *opt) {
  if (!COAP_PROTO_NOT_RELIABLE(coap_session_get_proto(session)) ||
      coap_session_get_proto(session) == COAP_PROTO_DTLS)
    return true;
  ec_peer_t *peer = coap_session_get_app_data(session);
  if (peer != NULL && peer->verified)
    return true;
  if (opt == NULL ||
      !echo_valid(srv, session, coap_opt_value(opt), coap_opt_length(opt)))
    return false;
  peer = ec_peer_get(srv, session);
  if (peer == NULL)
    return false; /* no memory to remember it: stay careful */
  peer->verified = true;
  return true;
}
