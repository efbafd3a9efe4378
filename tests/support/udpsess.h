/* edgecoap tests: libcoap client sessions that stand for peers in unit tests. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_TESTS_UDPSESS_H
#define EDGECOAP_TESTS_UDPSESS_H

#include <coap3/coap.h>
#include <stdint.h>

/**
 * A UDP client session of @p ctx whose remote address is 127.0.0.1:@p port;
 * nothing is sent on it. libcoap frees it with @p ctx.
 * @return the session, or NULL
 */
coap_session_t *ec_test_session_to(coap_context_t *ctx, uint16_t port);

#endif /* EDGECOAP_TESTS_UDPSESS_H */
