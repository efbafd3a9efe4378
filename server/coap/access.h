/* edgecoap server: who may do what: DTLS PSK identities and their rights. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_ACCESS_H
#define EDGECOAP_ACCESS_H

#include "request.h"

/*
 * Plain CoAP (coap://) is unauthenticated and unrestricted: it is for
 * development and trusted networks. Over DTLS (coaps://) the client proves
 * a PSK identity stored in the devices table (store_devices.c), and that
 * identity's role decides every request by its route's rule (router.h,
 * docs/API.md section 6):
 *
 *   path                          device D            operator
 *   /device/D/...                 everything          read (GET, FETCH)
 *   /device/{other}/...           4.03                read
 *   /api/2.3/statusmessages...    4.03                everything
 *   /v1/... (provisioning)        token auth          token auth
 *   /.well-known/core             read                read
 *   anything else                 4.03                as plain CoAP (4.04)
 *
 * Keys are looked up per identity at each handshake in the identities
 * kept in memory (identities.h: loaded at start, kept current from the
 * store's version or hints), so identities added while the server runs
 * can connect at once and no handshake waits on the network; an unknown
 * identity fails the handshake. Each request over DTLS checks again that
 * the session's identity still exists with the key the session was made
 * with, so a removed (or re-keyed) identity is refused (4.01) from its
 * next request.
 */

/**
 * Register the PSK lookup on srv->ctx; call before binding a DTLS endpoint.
 * @return 0, or EC_EIO (logged) when libcoap has no DTLS
 */
int ec_access_dtls_init(ec_server_t *srv);

/** What a route lets DTLS identities do (its entry in the route table). */
typedef enum {
  EC_ACCESS_NONE = 0, /* no route: operators as plain CoAP (4.04), devices 4.03 */
  EC_ACCESS_TOKEN,    /* every identity: the API authenticates (/v1 tokens) */
  EC_ACCESS_READ,     /* every identity may read (GET, FETCH) */
  EC_ACCESS_DEVICE,   /* the device its path names: everything; operators read */
  EC_ACCESS_OPERATOR  /* operators only */
} ec_access_rule_t;

/**
 * Decide one request by its route's rule (the dispatcher, router.h, calls
 * it for every request). Plain CoAP always goes on.
 * @param[in] owner  for EC_ACCESS_DEVICE: the deviceId the path names, or
 *                   NULL when it names none
 * @return 0 to go on, or < 0 when 4.01, 4.03 or 5.00 was answered
 */
int ec_access_check(ec_req_t *rq, ec_access_rule_t rule, const char *owner);

/**
 * For what a session receives without asking (notifications): true on
 * plain CoAP, and over DTLS while the session's identity still exists with
 * the session's key (a store failure counts as not valid).
 */
bool ec_access_session_valid(ec_server_t *srv, coap_session_t *session);

/**
 * The rule of the table above, without CoAP or the store.
 * @param[in] owner  as for ec_access_check()
 * @return NULL when allowed, else why not (a static English sentence)
 */
const char *ec_access_decide(ec_device_role_t role, const char *identity,
                             coap_pdu_code_t method, ec_access_rule_t rule,
                             const char *owner);

/**
 * Whose rows a fleet read may show (API.md section 7): a device's DTLS
 * session sees only its own. Call after ec_access_check() let it through.
 * @param[out] device  the identity, when 1 is returned (@p cap >= 129)
 * @return 0 for everyone's (plain CoAP, an operator), 1 for @p device's
 *         only, or < 0 when 5.00 was answered
 */
int ec_access_own_device(ec_req_t *rq, char *device, size_t cap);

/** Log DTLS session events (handshake failures, new sessions). */
void ec_access_on_event(ec_server_t *srv, coap_session_t *session,
                        coap_event_t event);

#endif /* EDGECOAP_ACCESS_H */
