/* edgecoap server: start-up checks: UDP ports checked free and kept from being shared. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_STARTUP_H
#define EDGECOAP_STARTUP_H

#include <coap3/coap.h>

/**
 * Check that nothing is bound to UDP @p addr: bind a socket there without
 * SO_REUSEADDR (libcoap 4.3.1 sets it on its endpoints, and Linux then lets
 * a second libcoap server bind the same port and take its traffic).
 * @param[in] what  "coap://" or "coaps://", for the message
 * @return 0; EC_EADDRINUSE when something is bound there (logged); EC_EIO
 *         when the address cannot be bound for another reason (logged)
 */
int ec_port_check(const coap_address_t *addr, const char *what,
                  const char *host, unsigned port);

/**
 * Clear SO_REUSEADDR on this process's UDP sockets bound to @p port (the
 * endpoint libcoap just bound), so that no later program can bind the port
 * beside the server, with the option or without.
 */
void ec_port_seal(unsigned port);

#endif /* EDGECOAP_STARTUP_H */
