/* edgecoap server: /v1/Login and /v1/DeviceProvisioningComponents. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_RES_PROVISIONING_H
#define EDGECOAP_RES_PROVISIONING_H

#include "context.h"

/**
 * Register /v1/Login and /v1/DeviceProvisioningComponents and set up the
 * module's state (srv->prov): the password hashing, token and login-limit
 * state of server/auth/auth.h (one slow hash, for the dummy) and the watch list
 * of the observable GET.
 * @return 0, or EC_ENOMEM / EC_EINVAL
 */
int ec_provisioning_init(ec_server_t *srv);

/**
 * On the I/O thread, once per I/O round: hand the logins whose password
 * check finished back to libcoap, which answers them in its next round.
 * @return the checks still in flight (the loop then waits briefly, so their
 *         answers go out soon after they finish)
 */
unsigned ec_provisioning_poll(ec_server_t *srv);

/**
 * Free the module's state. Call after ec_watch_free_all() (the watch list
 * lives in that state) and after the libcoap context is gone (the password
 * checks still in flight are dropped); NULL state is
 * a no-op.
 */
void ec_provisioning_free(ec_server_t *srv);

#endif /* EDGECOAP_RES_PROVISIONING_H */
