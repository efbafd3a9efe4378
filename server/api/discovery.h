/* edgecoap server: /.well-known/core (RFC 6690), the route templates. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_DISCOVERY_H
#define EDGECOAP_DISCOVERY_H

#include "context.h"

/**
 * Register /.well-known/core, which lists the route templates with their
 * rt, ct and obs attributes and answers RFC 6690 filters (href, rt, ct,
 * obs; a trailing '*' matches a prefix). Its size does not depend on how
 * many devices have reported.
 * @return 0 or EC_ENOMEM
 */
int ec_discovery_init(ec_server_t *srv);

#endif /* EDGECOAP_DISCOVERY_H */
