/* edgecoap: the device-side client library. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_CLIENT_H
#define EDGECOAP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "edgecoap/codec.h"
#include "edgecoap/deployment.h"
#include "edgecoap/error.h"
#include "edgecoap/status_message.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * A connection to one edgecoap server: the device core (edgecoap/device.h)
 * over its POSIX port, one UDP socket, with DTLS PSK through OpenSSL for
 * coaps://. Calls block until their answer; one runs at a time. A call
 * that gets no answer returns EC_ETIMEOUT after the config's timeout, or
 * EC_ECONNREFUSED at once when the kernel says that nothing listens at
 * the server's port (an ICMP port unreachable before any answer).
 */
typedef struct ec_client ec_client_t;

typedef struct {
  const char *url;      /**< "coap://host:port" or "coaps://host:port" (DTLS
                             PSK; coap+tcp:// is not served, so EC_EINVAL);
                             the default is coap://127.0.0.1:5683 */
  ec_format_t format;   /**< request and preferred response format; CBOR by default (0) */
  unsigned timeout_ms;  /**< per request, retransmissions included; 0 means 10000 */
  /* DTLS PSK, for coaps:// URLs only (both required there). */
  const char *psk_identity; /**< 1..128 bytes, e.g. the deviceId */
  const uint8_t *psk_key;   /**< the pre-shared key's bytes; for a key printed
                                 by `edgecoap-server admin device-add`, its 64
                                 characters as they are (not hex-decoded) */
  size_t psk_key_len;       /**< 1..64 */
  /** Non-zero: write one line per datagram sent and received to stderr
   * (type, code, Message ID, token, options, payload length);
   * edgecoap-client sets it from $EDGECOAP_DEBUG. */
  int debug;
} ec_client_config_t;

/**
 * Create a client. Nothing is sent until the first call (the DTLS
 * handshake of a coaps:// client happens with it).
 * @param[in] cfg  may be NULL for every default; strings and the key are
 *                 copied (the client wipes its copy of the key when freed)
 * @param[out] out release with ec_client_free()
 * @return 0, EC_EINVAL for a bad URL (or coaps:// without both PSK fields,
 *         or PSK fields without coaps://), EC_EIO if the host did not
 *         resolve or no socket could be made. A failed handshake shows
 *         later, as EC_EHANDSHAKE from the first call.
 */
int ec_client_new(const ec_client_config_t *cfg, ec_client_t **out);

/** Release a client and everything it holds; NULL is a no-op. */
void ec_client_free(ec_client_t *c);

/**
 * What the server answered. The body is owned by the client and stays valid
 * until the next call on the same client.
 */
typedef struct {
  int code;                 /**< CoAP code as class*100+detail, e.g. 201, 404, 422 */
  int format;               /**< Content-Format of the body, -1 if none */
  const uint8_t *body;
  size_t body_len;
} ec_response_t;

/**
 * Send one request and wait for its (block-wise reassembled) answer.
 * @param[in] method  "GET", "POST", "PUT", "FETCH" or "DELETE"
 * @param[in] path    absolute path with an optional "?query"
 * @param[in] format  Content-Format of @p body (ignored without one); the
 *                    client's format is asked for with Accept
 * @return 0 when an answer came (whatever its code), or < 0
 */
int ec_client_request(ec_client_t *c, const char *method, const char *path,
                      int format, const uint8_t *body, size_t body_len,
                      ec_response_t *resp);

/**
 * Report a deployment status: POST /device/{deviceId}/deployment/{id}/status.
 * @param[out] resp  may be NULL; its code is 201 for a first report, 204 after
 * @return 0 on a 2.xx answer, EC_ERESPONSE on another code, or < 0
 */
int ec_client_status_report(ec_client_t *c, const char *device_id,
                            const ec_deployment_status_t *st,
                            ec_response_t *resp);

/**
 * Read the latest report of a deployment.
 * @param[out] st  decoded into @p arena
 * @return 0, EC_ENOTFOUND on 4.04, EC_ERESPONSE on another error code, or < 0
 */
int ec_client_status_get(ec_client_t *c, const char *device_id,
                         const char *deployment_id, ec_deployment_status_t *st,
                         ec_arena_t *arena, ec_response_t *resp);

/**
 * Read a deployment's history (seq > @p since, at most @p limit; 0 for the
 * server's default).
 */
int ec_client_status_history(ec_client_t *c, const char *device_id,
                             const char *deployment_id, int64_t since,
                             int limit, ec_history_item_t **items, size_t *n,
                             ec_arena_t *arena, ec_response_t *resp);

/** List a device's deployments. */
int ec_client_deployments(ec_client_t *c, const char *device_id,
                          ec_deployment_summary_t **list, size_t *n,
                          ec_arena_t *arena, ec_response_t *resp);

/**
 * Called with each notification (the first answer included). Return non-zero
 * to stop observing.
 */
typedef int (*ec_observe_cb)(void *ud, const ec_response_t *resp);

/**
 * Observe @p path (RFC 7641) and call @p cb for each notification until it
 * returns non-zero, @p max_ms passes (0: forever) or an error answer comes.
 * The observation is cancelled on return.
 * @return 0 when @p cb stopped it or time ran out, or < 0
 */
int ec_client_observe(ec_client_t *c, const char *path, ec_observe_cb cb,
                      void *ud, unsigned max_ms);

/**
 * Make a running ec_client_observe() on @p c cancel its observation and
 * return 0. Async-signal-safe (it only sets a flag), so a SIGINT handler may
 * call it.
 */
void ec_client_interrupt(ec_client_t *c);

/** Observe a deployment's status; see ec_client_observe(). */
int ec_client_status_observe(ec_client_t *c, const char *device_id,
                             const char *deployment_id, ec_observe_cb cb,
                             void *ud, unsigned max_ms);

/* ------------------------------------------------------------------------ */
/* Status messages (ON-API, API.md section 3): client/messages.c            */
/* ------------------------------------------------------------------------ */

/*
 * Calls that send a body take its format (EC_FORMAT_CBOR or EC_FORMAT_JSON;
 * 0 is CBOR) because the client's configured format is not readable from
 * here; answers come in the client's format as usual. Decoded messages live
 * in the caller's @p arena; a call returns EC_ENOMEM when it is too small
 * (resp->body_len then tells how big the answer was).
 */

/**
 * POST messages to /api/2.3/statusmessages: one plain StatusMessage when
 * @p n is 1 and @p batch is false, else {"StatusMessages": [...]} (stored
 * all or none). IDs in @p msgs are ignored (the server assigns them).
 * @param[out] stored    the messages as stored, IDs and dates set (may be
 *                       NULL, then @p n_stored and @p arena may be too)
 * @return 0 on 2.01, EC_ERESPONSE on an error answer (@p resp says which),
 *         or < 0
 */
int ec_client_msg_post(ec_client_t *c, ec_format_t fmt,
                       const ec_status_message_t *msgs, size_t n, bool batch,
                       ec_status_message_t **stored, size_t *n_stored,
                       ec_arena_t *arena, ec_response_t *resp);

/**
 * GET /api/2.3/statusmessages?<filters>: the matching messages in ascending
 * ID order, at most f->limit (0: the server's default, 1000).
 * @param[in] f  may be NULL for no filter
 * @return 0, EC_ERESPONSE (a bad filter is 4.00), or < 0
 */
int ec_client_msg_list(ec_client_t *c, const ec_msg_filter_t *f,
                       ec_status_message_t **msgs, size_t *n,
                       ec_arena_t *arena, ec_response_t *resp);

/** The same read as ec_client_msg_list(), as FETCH with the filter in the body. */
int ec_client_msg_fetch(ec_client_t *c, ec_format_t fmt,
                        const ec_msg_filter_t *f, ec_status_message_t **msgs,
                        size_t *n, ec_arena_t *arena, ec_response_t *resp);

/** GET /api/2.3/statusmessages/{id}. @return 0, EC_ENOTFOUND, or < 0 */
int ec_client_msg_get(ec_client_t *c, int64_t id, ec_status_message_t *msg,
                      ec_arena_t *arena, ec_response_t *resp);

/** Called with each message of a sync; return non-zero to stop. */
typedef int (*ec_msg_cb)(void *ud, const ec_status_message_t *msg);

/**
 * Incremental sync: page through every message matching @p f with an ID
 * above @p after_id (which replaces f's fromStatusMessageID), oldest first,
 * calling @p cb once per message. Pages hold f->limit messages (0: 1000);
 * the walk ends at the first short page or when @p cb returns non-zero.
 * Memory is the library's; a message lives only during its callback.
 * @param[out] last_id  the ID of the last message handed to @p cb, or
 *                      @p after_id if none: pass it next time to resume
 *                      (may be NULL)
 * @return 0, or < 0 as ec_client_msg_list() (*last_id still says how far
 *         it got)
 */
int ec_client_msg_sync(ec_client_t *c, const ec_msg_filter_t *f,
                       int64_t after_id, ec_msg_cb cb, void *ud,
                       int64_t *last_id);

/**
 * Observe /api/2.3/statusmessages/latest?<filters> (the limit is not sent):
 * @p cb gets the current {"StatusMessages": [newest]} first, then one
 * notification per stored batch that holds a matching message. Decode a
 * body with ec_status_messages_decode(..., EC_MSG_STORED, ...). Messages
 * between notifications are fetched with ec_client_msg_sync().
 * @return as ec_client_observe()
 */
int ec_client_msg_observe(ec_client_t *c, const ec_msg_filter_t *f,
                          ec_observe_cb cb, void *ud, unsigned max_ms);

/* ------------------------------------------------------------------------ */
/* Device provisioning components (API.md section 4): client/provisioning.c */
/* ------------------------------------------------------------------------ */

/*
 * These resources need a session token in CoAP option 65000: log in with
 * ec_client_login() (which sets the token on the client) or hand one to
 * ec_client_use_token(); every later request of the client then carries it.
 * Calls that send a body take its format (0 is CBOR), as above. Refusals
 * come back as EC_ERESPONSE (EC_ENOTFOUND for NO_DATA) with the seed's error
 * document in resp; ec_client_prov_error() reads it.
 */
#include "edgecoap/provisioning.h"

/**
 * Read the seed's error document of answer @p r, in JSON or CBOR (CBOR by
 * the device core, as every answer of the library), as
 * ec_prov_error_decode() reads it.
 * @param[out] out  its strings and IDs in @p arena
 * @return 0, EC_EPROTO for a body that is no such document, EC_ENOMEM
 */
int ec_client_prov_error(const ec_response_t *r, ec_prov_error_doc_t *out,
                         ec_arena_t *arena);

/**
 * Send @p len bytes as option 65000 (EC_PROV_AUTH_OPTION) with every later
 * request of @p c; NULL or 0 sends none. The bytes are copied.
 * @return 0, or EC_EINVAL for more than 255 bytes
 */
int ec_client_set_auth_token(ec_client_t *c, const uint8_t *token, size_t len);

/** Use a token as login printed it (EC_PROV_TOKEN_HEX hex digits). */
int ec_client_use_token(ec_client_t *c, const char *token_hex);

/**
 * POST /v1/Login. On SUCCESS the token is set on @p c.
 * @param[out] out  decoded into @p arena (may be NULL)
 * @return 0, EC_ERESPONSE on FAILURE (4.01) or another refusal, or < 0
 */
int ec_client_login(ec_client_t *c, ec_format_t fmt, const char *username,
                    const char *password, ec_login_response_t *out,
                    ec_arena_t *arena, ec_response_t *resp);

/**
 * Log @p token_hex out (the hex a login printed) and stop sending a token.
 * @return 0, EC_ERESPONSE (INVALID_TOKEN, 4.01), or < 0
 */
int ec_client_logout(ec_client_t *c, ec_format_t fmt, const char *token_hex,
                     ec_response_t *resp);

/**
 * Select components: GET /v1/DeviceProvisioningComponents when @p filter is
 * NULL, else POST with action select and @p filter's fields.
 * @param[out] rows  decoded into @p arena
 * @return 0, EC_ENOTFOUND (NO_DATA), EC_ERESPONSE, or < 0
 */
int ec_client_prov_select(ec_client_t *c, ec_format_t fmt,
                          const ec_prov_request_t *filter,
                          ec_prov_component_t **rows, size_t *n,
                          ec_arena_t *arena, ec_response_t *resp);

/**
 * Insert (rq->action is set to insert) or update (to update) components.
 * @param[out] out  the success document, decoded into @p arena (may be NULL)
 * @return 0, EC_ERESPONSE, or < 0
 */
int ec_client_prov_insert(ec_client_t *c, ec_format_t fmt,
                          const ec_prov_request_t *rq, ec_prov_result_t *out,
                          ec_arena_t *arena, ec_response_t *resp);
int ec_client_prov_update(ec_client_t *c, ec_format_t fmt,
                          const ec_prov_request_t *rq, ec_prov_result_t *out,
                          ec_arena_t *arena, ec_response_t *resp);

/**
 * Observe GET /v1/DeviceProvisioningComponents?provisioning_id=N (every
 * provisioning when @p provisioning_id < 0). @p cb gets the current select
 * document first ({"responses": {}} when there is none yet), then one per
 * insert or update of that provisioning: the select document, or, when it
 * would not fit one datagram, {"provisioning_id": N, "status": "CHANGED"},
 * after which the list is read with ec_client_prov_select().
 * @return as ec_client_observe()
 */
int ec_client_prov_observe(ec_client_t *c, int64_t provisioning_id,
                           ec_observe_cb cb, void *ud, unsigned max_ms);

#ifdef __cplusplus
}
#endif
#endif /* EDGECOAP_CLIENT_H */
