/* edgecoap: the device-side client library. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_CLIENT_H
#define EDGECOAP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "edgecoap/codec.h"
#include "edgecoap/deployment.h"
#include "edgecoap/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A connection to one edgecoap server; owns a libcoap context. */
typedef struct ec_client ec_client_t;

typedef struct {
  const char *url;      /**< "coap://host:port"; the default is coap://127.0.0.1:5683 */
  ec_format_t format;   /**< request and preferred response format; CBOR by default (0) */
  unsigned timeout_ms;  /**< per request, retransmissions included; 0 means 10000 */
} ec_client_config_t;

/**
 * Create a client. Nothing is sent until the first call.
 * @param[in] cfg  may be NULL for every default; strings are copied
 * @param[out] out release with ec_client_free()
 * @return 0, EC_EINVAL for a bad URL, EC_EIO if no socket could be made
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

/** The overall state of a report's components (Margo's precedence). */
ec_state_t ec_client_rollup(const ec_deployment_status_t *st);

#ifdef __cplusplus
}
#endif
#endif /* EDGECOAP_CLIENT_H */
