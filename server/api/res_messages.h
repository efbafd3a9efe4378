/* edgecoap server: the ON-API status-message resources (API.md section 3). */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_RES_MESSAGES_H
#define EDGECOAP_RES_MESSAGES_H

#include "request.h"

/**
 * Register /api/2.3/statusmessages and .../latest and the list of latest's
 * observers. Call once, after the libcoap context exists.
 * @return 0 or EC_ENOMEM
 */
int ec_messages_init(ec_server_t *srv);

/**
 * Handle a request to a path with no resource if it is one of this
 * module's (/api/2.3/statusmessages/{id}).
 * @return 1 when answered, 0 when the path is not this module's
 */
int ec_messages_unknown(ec_req_t *rq, char (*segs)[129], int n);

/**
 * Free the module's memory. Call after ec_watch_free_all() (its observer
 * list must be empty); safe when ec_messages_init() never ran or failed,
 * and before or after the libcoap context is freed.
 */
void ec_messages_free(ec_server_t *srv);

#endif /* EDGECOAP_RES_MESSAGES_H */
