/* edgecoap server: the Margo deployment-status resources (API.md section 2). */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_RES_DEPLOYMENT_H
#define EDGECOAP_RES_DEPLOYMENT_H

#include "request.h"

/** Create the resources of every (device, deployment) already stored. */
int ec_deployment_init(ec_server_t *srv);

/**
 * Handle a request to a path no resource is registered for yet, if it is
 * one of this module's routes (/device/...).
 * @return 1 when answered, 0 when the path is not this module's
 */
int ec_deployment_unknown(ec_req_t *rq, char (*segs)[129], int n);

/** Free every route's memory (after the libcoap context is gone). */
void ec_deployment_free_routes(ec_server_t *srv);

#endif /* EDGECOAP_RES_DEPLOYMENT_H */
