/* edgecoap client internals shared by the library's files (client.c, status.c, messages.c, provisioning.c). */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_CLIENT_INTERNAL_H
#define EDGECOAP_CLIENT_INTERNAL_H

#include <stdbool.h>
#include <stdio.h>

#include "edgecoap/client.h"

/** A typed call's body format: 0 means CBOR; EC_EINVAL for anything else. */
int ec_client_body_format(ec_format_t fmt);

/** Map an answer's code onto the library's errors (2.xx 0, 4.04 EC_ENOTFOUND). */
int ec_client_code_error(int code);

/** The format to decode @p r in; a server may omit Content-Format. */
int ec_client_answer_format(const ec_response_t *r);

/** The format the client sends and asks for. */
ec_format_t ec_client_format(const ec_client_t *c);

/**
 * Send @p len bytes of @p body (NULL: none) in the client's format and wait
 * for the answer, copied to @p resp (may be NULL).
 * @return ec_client_code_error() of the answer's code, or < 0 when none came
 */
int ec_client_call(ec_client_t *c, uint8_t method, const char *path,
                   const uint8_t *body, size_t len, ec_response_t *resp);

/**
 * Give the next request of @p c a Request-Id of 12 random bytes (API.md,
 * "Request-Id"), unless it carries a session token: status writes and
 * message posts, so a repeat the server applied is not stored twice.
 */
void ec_client_next_has_request_id(ec_client_t *c);

/** A body the codec refuses is the server's fault, unless the arena is short. */
int ec_client_decode_error(int rc);

/*
 * The server's CBOR answers read by the device core's decoders
 * (client/docs.c) into the codec's structs, strings and arrays in
 * @p arena (left as it was on failure): a deployment status, a login
 * answer, a provisioning select answer's rows; and those below.
 * @return 0, or the core's EC_ESYNTAX / EC_EBADDOC / EC_ETOOBIG,
 *         EC_ESEMANTIC (a component twice), EC_ENOMEM (the arena)
 */
int ec__client_status_cbor(const uint8_t *buf, size_t len,
                           ec_deployment_status_t *st, ec_arena_t *arena);
int ec__client_login_cbor(const uint8_t *buf, size_t len,
                          ec_login_response_t *out, ec_arena_t *arena);
int ec__client_prov_rows_cbor(const uint8_t *buf, size_t len,
                              ec_prov_component_t **rows, size_t *n,
                              ec_arena_t *arena);
/* A page of status messages or one message (the answer to a post of
 * one), one message, a status history, a device's deployments, a
 * provisioning insert or update answer, the seed's error document: as
 * the codec's decoders read
 * them, each in the same way (EC_ETOOBIG past the codec's caps). */
int ec__client_msgs_cbor(const uint8_t *buf, size_t len,
                         ec_status_message_t **msgs, size_t *n,
                         ec_arena_t *arena);
int ec__client_msg_cbor(const uint8_t *buf, size_t len,
                        ec_status_message_t *msg, ec_arena_t *arena);
int ec__client_history_cbor(const uint8_t *buf, size_t len,
                            ec_history_item_t **items, size_t *n,
                            ec_arena_t *arena);
int ec__client_deployments_cbor(const uint8_t *buf, size_t len,
                                ec_deployment_summary_t **list, size_t *n,
                                ec_arena_t *arena);
int ec__client_prov_result_cbor(const uint8_t *buf, size_t len,
                                ec_prov_result_t *out, ec_arena_t *arena);
int ec__client_prov_error_cbor(const uint8_t *buf, size_t len,
                               ec_prov_error_doc_t *out, ec_arena_t *arena);

/**
 * Write one line to @p f describing datagram @p d (client/trace.c): the
 * direction (@p sent '>' or '<'), type, code, Message ID, token, the
 * options by name and the payload's length. A session token's value is
 * not written, only its length.
 */
void ec_client_trace(FILE *f, bool sent, const uint8_t *d, size_t len);

#endif /* EDGECOAP_CLIENT_INTERNAL_H */
