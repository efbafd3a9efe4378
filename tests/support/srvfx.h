/* edgecoap tests: a bare server state on a libcoap context for unit tests. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_TESTS_SRVFX_H
#define EDGECOAP_TESTS_SRVFX_H

#include "context.h"

/**
 * Start libcoap (logs off), make a context and a zeroed server state on it
 * with a scratch arena of @p arena_cap bytes: no endpoint, no store, no
 * screen socket (srv->screen_fd -1). Call from a suite's init.
 * @param[out] ctx  the context, freed by ec_test_server_free()
 * @return the state, or NULL
 */
ec_server_t *ec_test_server_new(coap_context_t **ctx, size_t arena_cap);

/** End every watch and peer, free @p srv and @p ctx, stop libcoap; NULLs
 * are skipped. */
void ec_test_server_free(ec_server_t *srv, coap_context_t *ctx);

#endif /* EDGECOAP_TESTS_SRVFX_H */
