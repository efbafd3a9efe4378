/* edgecoap server: the fleet resources: devices' latest states and deployments' roll-ups (API.md section 7). */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_RES_FLEET_H
#define EDGECOAP_RES_FLEET_H

#include "request.h"

/* Notifications of one roll-up observation are at least this far apart
 * (milliseconds): a burst of reports sends at most 1000 / this per second,
 * each with the counts as they are when it goes. */
#ifndef EC_FLEET_NOTIFY_MS
#define EC_FLEET_NOTIFY_MS 200
#endif

/* The handlers of the route table (routes.c). */

/** GET /device: every (device, deployment) with its latest state. */
void ec_fleet_devices(ec_req_t *rq);

/** GET /deployment: every deployment's roll-up (counts only). */
void ec_fleet_deployments(ec_req_t *rq);

/** GET /deployment/{deploymentId}/rollup (observable). */
void ec_fleet_rollup(ec_req_t *rq);

/** GET /deployment/{deploymentId}/devices: its devices, by state. */
void ec_fleet_members(ec_req_t *rq);

/**
 * Fill @p w's fleet members (error code, failed components) from the
 * decoded report @p st; the failures array lives in @p arena.
 * @return 0, or EC_ENOMEM (w has none then)
 */
int ec_fleet_write_facts(const ec_deployment_status_t *st, ec_arena_t *arena,
                         ec_status_write_t *w);

/** Report @p r (its deployment lowercase) was committed: its roll-up's
 * observers are notified from ec_fleet_poll(), coalesced, and the
 * server's report listener (srv->on_report) hears of it at once. */
void ec_fleet_reported(ec_server_t *srv, const ec_report_t *r);

/** Whether a report of deployment @p dep (lowercase) is heard now by
 * anyone through ec_fleet_reported(): the server's report listener, or
 * the observers of its roll-up. */
bool ec_fleet_listens(const ec_server_t *srv, const char *dep);

/** Send the notifications that are due; call once per I/O round, with no
 * batch open. */
void ec_fleet_poll(ec_server_t *srv);

/** Milliseconds until ec_fleet_poll() has something to send, or -1. */
int ec_fleet_next_ms(const ec_server_t *srv);

/** Make and free the module's state (its watch list is the server's). */
int ec_fleet_init(ec_server_t *srv);
void ec_fleet_free(ec_server_t *srv);

#endif /* EDGECOAP_RES_FLEET_H */
