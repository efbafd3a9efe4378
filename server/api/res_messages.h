/* edgecoap server: the ON-API status-message resources (API.md section 3). */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_RES_MESSAGES_H
#define EDGECOAP_RES_MESSAGES_H

#include "request.h"

/**
 * Set up the module's state (srv->msgs) and the list of latest's observers.
 * @return 0 or EC_ENOMEM
 */
int ec_messages_init(ec_server_t *srv);

/* The handlers of the route table (routes.c). */

/** GET, FETCH or POST /api/2.3/statusmessages. */
void ec_messages_collection(ec_req_t *rq);

/** Answer a retransmitted POST again, from the store. */
void ec_messages_replay(ec_req_t *rq, const ec_dedup_answer_t *a);

/** GET /api/2.3/statusmessages/latest, observable. */
void ec_messages_latest(ec_req_t *rq);

/** GET /api/2.3/statusmessages/{statusMessageID}. */
void ec_messages_get(ec_req_t *rq);

/**
 * Free the module's memory. Call after ec_watch_free_all() (its observer
 * list must be empty); safe when ec_messages_init() never ran or failed,
 * and before or after the libcoap context is freed.
 */
void ec_messages_free(ec_server_t *srv);

/** Another server stored status messages (store.h's hints): tell latest's
 * observers of each one this server has not notified yet, in ID order. */
void ec_messages_changed(ec_server_t *srv);

#endif /* EDGECOAP_RES_MESSAGES_H */
