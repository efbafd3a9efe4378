/* edgecoap server: /.well-known/core (RFC 6690), the route templates. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_DISCOVERY_H
#define EDGECOAP_DISCOVERY_H

#include "request.h"

/**
 * GET /.well-known/core: the routes of the table (routes.h) as link
 * templates with their rt, ct and obs attributes, and RFC 6690 filters
 * (href, rt, ct, obs; a trailing '*' matches a prefix). Its size does not
 * depend on how many devices have reported.
 */
void ec_discovery_get(ec_req_t *rq);

#endif /* EDGECOAP_DISCOVERY_H */
