/* edgecoap server: /v1/Login and /v1/DeviceProvisioningComponents. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_RES_PROVISIONING_H
#define EDGECOAP_RES_PROVISIONING_H

#include "dedup.h"
#include "request.h"

/**
 * Set up the module's state (srv->prov): the password hashing, token and
 * login-limit state of server/auth/auth.h (one slow hash, for the dummy),
 * the password-check threads and the watch list of the observable GET.
 * @return 0, or EC_ENOMEM / EC_EINVAL
 */
int ec_provisioning_init(ec_server_t *srv);

/* The handlers of the route table (routes.c), API.md section 4. */

/** POST /v1/Login: a login (answered once its password check is done) or
 * a logout. */
void ec_provisioning_login(ec_req_t *rq);

/** GET (observable) or POST /v1/DeviceProvisioningComponents. */
void ec_provisioning_components(ec_req_t *rq);

/** Answer a retransmitted POST again with the body remembered with it. */
void ec_provisioning_replay(ec_req_t *rq, const ec_dedup_answer_t *a);

/** Another server changed the components of provisioning @p id (< 0: any
 * may have changed): its observers here are sent the current list, as
 * after a write of this server's. */
void ec_provisioning_changed(ec_server_t *srv, int64_t id);

/**
 * On the I/O thread, once per I/O round: hand the logins whose password
 * check finished back to libcoap, which answers them in its next round.
 * @return the checks still in flight (the loop then waits briefly, so their
 *         answers go out soon after they finish)
 */
unsigned ec_provisioning_poll(ec_server_t *srv);

/**
 * True when the store holds an account whose role is operator or admin:
 * someone who may use the HTTP endpoint when it listens beyond loopback.
 */
bool ec_provisioning_has_operator(ec_server_t *srv);

/**
 * Check a session token (@p len hex digits, as login gave it) of an
 * operator or admin account, counting it as a use (its expiry slides).
 * @return 0, EC_ENOTFOUND (malformed, unknown, expired, or another role's)
 *         or EC_ESTORE
 */
int ec_provisioning_check_operator(ec_server_t *srv, const char *token,
                                   size_t len);

/**
 * Free the module's state. Call after ec_watch_free_all() (the watch list
 * lives in that state) and after the libcoap context is gone (the password
 * checks still in flight are dropped); NULL state is
 * a no-op.
 */
void ec_provisioning_free(ec_server_t *srv);

#endif /* EDGECOAP_RES_PROVISIONING_H */
