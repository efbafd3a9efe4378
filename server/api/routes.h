/* edgecoap server API: the route table: every route, who may call it, in which formats, and its handler. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_ROUTES_H
#define EDGECOAP_ROUTES_H

#include <stdbool.h>
#include <stdint.h>

#include "router.h"

/** Every route of the three APIs and discovery (routes.c), in the order
 * /.well-known/core lists them. */
extern const ec_route_table_t ec_api_routes;

/** Indexes of ec_api_routes.routes that the APIs name (their own
 * resources, and their dedup entries). */
enum {
  EC_API_STATUS = 0,
  EC_API_HISTORY,
  EC_API_DEPLOYMENTS,
  EC_API_MESSAGES,
  EC_API_LATEST,
  EC_API_MESSAGE,
  EC_API_LOGIN,
  EC_API_COMPONENTS,
  EC_API_DISCOVERY,
  EC_API_FLEET_DEVICES,
  EC_API_FLEET_DEPLOYMENTS,
  EC_API_FLEET_ROLLUP,
  EC_API_FLEET_MEMBERS,
  EC_API_N_ROUTES
};

/** A {statusMessageID}: 1 to 19 digits, 1..INT64_MAX. @return 0 or -1 */
int ec_api_message_id(const char *s, int64_t *id);

#endif /* EDGECOAP_ROUTES_H */
