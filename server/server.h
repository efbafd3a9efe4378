/* edgecoap server: start, serve and stop the whole server (what main() calls). */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_SERVER_H
#define EDGECOAP_SERVER_H

#include <signal.h>

#include "context.h"

void ec_server_config_default(ec_server_config_t *cfg);

/**
 * Open the store and bind the endpoints: coap:// on cfg->port unless
 * cfg->no_plain, and coaps:// on cfg->psk_port when cfg->dtls or
 * cfg->no_plain is set or the store holds at least one PSK identity.
 * @param[in] cfg  strings must outlive the server
 * @return 0, or EC_ESTORE / EC_EIO with the reason logged
 */
int ec_server_new(const ec_server_config_t *cfg, ec_server_t **out);

/** Serve until *stop becomes non-zero (set it from a signal handler). */
int ec_server_run(ec_server_t *srv, volatile sig_atomic_t *stop);

/** Release everything; NULL is a no-op. */
void ec_server_free(ec_server_t *srv);

#endif /* EDGECOAP_SERVER_H */
