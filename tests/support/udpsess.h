/* edgecoap tests: libcoap client sessions that stand for peers in unit tests. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_TESTS_UDPSESS_H
#define EDGECOAP_TESTS_UDPSESS_H

#include <coap3/coap.h>
#include <stdint.h>

/** The IPv4 address @p ip (dotted, e.g. "127.0.0.2") and @p port. */
coap_address_t ec_test_addr(const char *ip, uint16_t port);

/**
 * A UDP client session of @p ctx whose remote address is 127.0.0.1:@p port;
 * nothing is sent on it. libcoap frees it with @p ctx.
 * @return the session, or NULL
 */
coap_session_t *ec_test_session_to(coap_context_t *ctx, uint16_t port);

/** The same for the remote address @p ip:@p port. */
coap_session_t *ec_test_session_at(coap_context_t *ctx, const char *ip,
                                   uint16_t port);

/** A UDP port free on 127.0.0.1 just now (bound, read, closed), or 0. */
uint16_t ec_test_free_port(void);

#endif /* EDGECOAP_TESTS_UDPSESS_H */
