/* edgecoap server: the Margo deployment-status resources (API.md section 2). */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_RES_DEPLOYMENT_H
#define EDGECOAP_RES_DEPLOYMENT_H

#include "router.h"

/* The handlers of the route table (routes.c), API.md section 2. */

/** GET, POST or PUT .../deployment/{deploymentId}/status. */
void ec_deployment_status(ec_req_t *rq);

/** Answer a retransmitted status write again, rebuilt from the history. */
void ec_deployment_status_replay(ec_req_t *rq, const ec_dedup_answer_t *a);
/** A status GET the screen may answer from the route's cache (router.h). */
bool ec_deployment_status_cached(ec_server_t *srv, ec_router_res_t *res,
                                 ec_format_t fmt, ec_router_cached_t *out);

/** GET .../status/history. */
void ec_deployment_history(ec_req_t *rq);

/** GET /device/{deviceId}/deployments. */
void ec_deployment_list(ec_req_t *rq);

/** Free every route's memory (after the libcoap context is gone). */
void ec_deployment_free_routes(ec_server_t *srv);

/** Another server stored a report of (@p dev, @p dep) (store.h's hints):
 * make the route if this server has none, and publish the report to its
 * observers, the roll-ups and the live view when it is newer than the
 * one cached. */
void ec_deployment_changed(ec_server_t *srv, const char *dev,
                           const char *dep);

/** Anything may have changed (store.h's EC_STORE_CHANGE_ANY): read every
 * observed route again, publishing what is newer. */
void ec_deployment_resync(ec_server_t *srv);

#endif /* EDGECOAP_RES_DEPLOYMENT_H */
