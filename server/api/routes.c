/* edgecoap server API: the route table: every route, who may call it, in which formats, and its handler. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "routes.h"

#include <ctype.h>
#include <string.h>

#include "discovery.h"
#include "edgecoap/deployment.h"
#include "res_deployment.h"
#include "res_fleet.h"
#include "res_messages.h"
#include "res_provisioning.h"

int ec_api_message_id(const char *s, int64_t *id) {
  uint64_t v = 0;
  size_t len = strlen(s);
  if (len == 0 || len > 19)
    return -1;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  if (v == 0 || v > (uint64_t)INT64_MAX)
    return -1;
  *id = (int64_t)v;
  return 0;
}

static bool device_id(char *s) {
  return ec_id_valid(s);
}

/* A deploymentId is a UUID, matched case-insensitively: its lowercase
 * spelling names the resources (API.md section 2). */
static bool deployment_id(char *s) {
  if (!ec_id_valid(s))
    return false;
  for (; *s; s++)
    *s = (char)tolower((unsigned char)*s);
  return true;
}

static bool message_id(char *s) {
  int64_t id;
  return ec_api_message_id(s, &id) == 0;
}

static const ec_route_param_t params[] = {
    {"deviceId", device_id,
     "a deviceId is 1 to 128 of A-Z a-z 0-9 - . _ ~ : @"},
    {"deploymentId", deployment_id,
     "a deploymentId is 1 to 128 of A-Z a-z 0-9 - . _ ~ : @"},
    {"statusMessageID", message_id,
     "a statusMessageID is an integer from 1 to 9223372036854775807"},
};

#define DEVICE_ROUTE "device/{deviceId}/deployment/{deploymentId}/status"

/* Who may: EC_ACCESS_DEVICE is the device the path names (operators read),
 * OPERATOR operators only, TOKEN every identity with the API's own token
 * check (API.md sections 4 and 6). */
static const ec_route_spec_t routes[EC_API_N_ROUTES] = {
    [EC_API_STATUS] = {DEVICE_ROUTE, EC_GET | EC_POST | EC_PUT,
                       EC_ACCESS_DEVICE, EC_FMT_DOC,
                       EC_ROUTE_OBSERVE | EC_ROUTE_BATCH | EC_ROUTE_DEFER |
                           EC_ROUTE_REQUEST_ID | EC_ROUTE_BODY,
                       "margo.deployment-status", ec_deployment_status,
                       ec_deployment_status_replay,
                       ec_deployment_status_cached},
    [EC_API_HISTORY] = {DEVICE_ROUTE "/history", EC_GET, EC_ACCESS_DEVICE,
                        EC_FMT_DOC, 0, "margo.deployment-status.history",
                        ec_deployment_history, NULL},
    [EC_API_DEPLOYMENTS] = {"device/{deviceId}/deployments", EC_GET,
                            EC_ACCESS_DEVICE, EC_FMT_DOC, 0,
                            "margo.deployments", ec_deployment_list, NULL},
    [EC_API_MESSAGES] = {"api/2.3/statusmessages",
                         EC_GET | EC_POST | EC_FETCH, EC_ACCESS_OPERATOR,
                         EC_FMT_DOC,
                         EC_ROUTE_BATCH | EC_ROUTE_DEFER |
                             EC_ROUTE_REQUEST_ID | EC_ROUTE_BODY,
                         "on-api.status-messages", ec_messages_collection,
                         ec_messages_replay},
    [EC_API_LATEST] = {"api/2.3/statusmessages/latest", EC_GET,
                       EC_ACCESS_OPERATOR, EC_FMT_DOC, EC_ROUTE_OBSERVE,
                       "on-api.status-messages.latest", ec_messages_latest,
                       NULL},
    [EC_API_MESSAGE] = {"api/2.3/statusmessages/{statusMessageID}", EC_GET,
                        EC_ACCESS_OPERATOR, EC_FMT_DOC, 0,
                        "on-api.status-message", ec_messages_get, NULL},
    [EC_API_LOGIN] = {"v1/Login", EC_POST, EC_ACCESS_TOKEN, EC_FMT_DOC,
                      EC_ROUTE_VERIFY | EC_ROUTE_DEFER | EC_ROUTE_BODY,
                      "provisioning.login", ec_provisioning_login,
                      ec_provisioning_replay},
    /* Its POST checks the token before it takes the body: no BODY. */
    [EC_API_COMPONENTS] = {"v1/DeviceProvisioningComponents",
                           EC_GET | EC_POST, EC_ACCESS_TOKEN, EC_FMT_DOC,
                           EC_ROUTE_OBSERVE | EC_ROUTE_VERIFY |
                               EC_ROUTE_DEFER,
                           "provisioning.components",
                           ec_provisioning_components,
                           ec_provisioning_replay},
    [EC_API_DISCOVERY] = {".well-known/core", EC_GET, EC_ACCESS_READ,
                          EC_FMT_DOC | EC_FMT_LINK, 0, NULL,
                          ec_discovery_get, NULL},
    /* The fleet (res_fleet.c), after the routes whose first segments they
     * share: a path no route matches takes the first one's rule. A device
     * reads /device too and sees its own rows only; the deployments'
     * roll-ups are for operators. */
    [EC_API_FLEET_DEVICES] = {"device", EC_GET, EC_ACCESS_READ, EC_FMT_DOC, 0,
                              "edgecoap.fleet.devices", ec_fleet_devices,
                              NULL},
    [EC_API_FLEET_DEPLOYMENTS] = {"deployment", EC_GET, EC_ACCESS_OPERATOR,
                                  EC_FMT_DOC, 0, "edgecoap.fleet.deployments",
                                  ec_fleet_deployments, NULL},
    [EC_API_FLEET_ROLLUP] = {"deployment/{deploymentId}/rollup", EC_GET,
                             EC_ACCESS_OPERATOR, EC_FMT_DOC, EC_ROUTE_OBSERVE,
                             "edgecoap.fleet.rollup", ec_fleet_rollup, NULL},
    [EC_API_FLEET_MEMBERS] = {"deployment/{deploymentId}/devices", EC_GET,
                              EC_ACCESS_OPERATOR, EC_FMT_DOC, 0,
                              "edgecoap.fleet.members", ec_fleet_members,
                              NULL},
};

const ec_route_table_t ec_api_routes = {
    routes, sizeof(routes) / sizeof(routes[0]), params,
    sizeof(params) / sizeof(params[0])};
