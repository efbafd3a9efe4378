/* edgecoap server: address verification with the Echo option (RFC 9175). */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_ECHO_H
#define EDGECOAP_ECHO_H

#include <stdbool.h>
#include <stdint.h>

#include "context.h"

/*
 * Over plain CoAP a request's source address may be forged, so a large
 * answer to it could flood a victim (amplification, RFC 9175 section 2.4).
 * Until a peer's address is verified the server answers it at most three
 * times the request's size, or challenges it with 4.01 and an Echo option;
 * a client that repeats the request with that Echo value shows that it
 * receives what is sent to its address, and its session is verified from
 * then on; a request from another port of the same IP address that
 * carries a valid value is verified too. The value is stateless: a coarse
 * timestamp and a keyed BLAKE2b of it and the peer's IP address, under a key
 * made at start, so a challenge costs no memory and a value cannot be used
 * from another address. DTLS sessions are verified by their handshake.
 */

/** Bytes of an Echo value: 4 of time, 8 of MAC. */
#define EC_ECHO_LEN 12

/** How long an Echo value is accepted after it was made, in seconds. */
#define EC_ECHO_LIFETIME_S 120

/** A fresh Echo value for @p session's address into @p out. */
void ec_echo_make(const ec_server_t *srv, coap_session_t *session,
                  uint8_t out[EC_ECHO_LEN]);

/**
 * True when @p session's address is verified: a DTLS session, or a plain
 * one whose peer once sent a valid Echo value. If @p echo, the request's
 * Echo option (NULL when it has none), is valid, the session becomes
 * verified.
 */
bool ec_echo_verified(ec_server_t *srv, coap_session_t *session,
                      const coap_opt_t *echo);

#endif /* EDGECOAP_ECHO_H */
