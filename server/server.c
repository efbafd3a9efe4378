/* edgecoap server: the libcoap context, its endpoint and the request dispatch. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "server.h"

#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "dedup.h"
#include "log.h"
#include "peer.h"
#include "request.h"
#include "res_deployment.h"
#include "res_provisioning.h"
#include "res_messages.h"
#include "watch.h"

#define MAX_SEGMENTS 8

void ec_server_config_default(ec_server_config_t *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->bind_addr = "::";
  cfg->port = 5683;
  cfg->db_path = "edgecoap.db";
  cfg->max_body = 64 * 1024;
  cfg->max_idle_sessions = 1000;
  cfg->session_timeout_s = 60;
  cfg->max_observers = 20000;
  cfg->max_peer_observations = 64;
  cfg->dedup_slots = 16384;
  cfg->token_ttl_ms = 3600LL * 60 * 1000;
  cfg->login_user_failures = 5;
  cfg->login_peer_failures = 20;
  cfg->login_window_ms = 15LL * 60 * 1000;
}

/* Paths with no resource: each module claims its own prefixes. */
static void hnd_unknown(coap_resource_t *r, coap_session_t *s,
                        const coap_pdu_t *req, const coap_string_t *q,
                        coap_pdu_t *resp) {
  ec_server_t *srv = coap_get_app_data(coap_session_get_context(s));
  ec_req_t rq;
  char segs[MAX_SEGMENTS][129];

  if (ec_req_init(&rq, srv, r, s, req, q, resp) < 0)
    return;
  int n = ec_req_path(req, segs, MAX_SEGMENTS);
  if (n < 0) {
    ec_req_problem(&rq, 404, "not-found", NULL, "no such resource");
    return;
  }
  if (ec_deployment_unknown(&rq, segs, n))
    return;
  if (ec_messages_unknown(&rq, segs, n))
    return;
  ec_req_problem(&rq, 404, "not-found", NULL, "no such resource");
}

static int on_event(coap_session_t *session, const coap_event_t event) {
  if (event == COAP_EVENT_SERVER_SESSION_DEL) {
    ec_server_t *srv =
        coap_get_app_data(coap_session_get_context(session));
    ec_peer_drop(srv, session);
  }
  return 0;
}

static void on_nack(coap_session_t *session, const coap_pdu_t *sent,
                    const coap_nack_reason_t reason, const coap_mid_t mid) {
  ec_server_t *srv = coap_get_app_data(coap_session_get_context(session));
  if (reason == COAP_NACK_RST || reason == COAP_NACK_TOO_MANY_RETRIES ||
      reason == COAP_NACK_NOT_DELIVERABLE)
    ec_watch_on_nack(srv, session, sent);
}

static int resolve(const char *host, uint16_t port, coap_address_t *out) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
  if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL)
    return EC_EINVAL;
  coap_address_init(out);
  out->size = res->ai_addrlen;
  memcpy(&out->addr.sa, res->ai_addr, res->ai_addrlen);
  if (out->addr.sa.sa_family == AF_INET)
    out->addr.sin.sin_port = htons(port);
  else
    out->addr.sin6.sin6_port = htons(port);
  freeaddrinfo(res);
  return 0;
}

static void libcoap_log_level(void) {
  /* libcoap's own messages are only worth seeing when debugging. */
  coap_set_log_level(ec_log_get_level() >= EC_LOG_DEBUG ? LOG_INFO
                                                        : LOG_ERR);
}

int ec_server_new(const ec_server_config_t *cfg, ec_server_t **out) {
  coap_address_t addr;
  int rc;

  if (cfg == NULL || out == NULL || cfg->max_body == 0)
    return EC_EINVAL;
  ec_server_t *srv = calloc(1, sizeof(*srv));
  if (srv == NULL)
    return EC_ENOMEM;
  srv->cfg = *cfg;
  /* A decoded document never needs more arena than a few times its size. */
  srv->arena_cap = 4 * cfg->max_body + 64 * 1024;
  srv->arena_buf = malloc(srv->arena_cap);
  srv->dedup = ec_dedup_new(cfg->dedup_slots);
  if (srv->arena_buf == NULL || srv->dedup == NULL) {
    rc = EC_ENOMEM;
    goto fail_srv;
  }

  rc = ec_store_open(cfg->db_path, &srv->store);
  if (rc < 0)
    goto fail_srv;

  coap_startup();
  libcoap_log_level();
  if (resolve(cfg->bind_addr, cfg->port, &addr) < 0) {
    ec_log(EC_LOG_ERROR, "--bind %s is not a numeric IPv4 or IPv6 address",
           cfg->bind_addr);
    rc = EC_EINVAL;
    goto fail_store;
  }
  srv->ctx = coap_new_context(NULL);
  if (srv->ctx == NULL) {
    rc = EC_ENOMEM;
    goto fail_store;
  }
  coap_set_app_data(srv->ctx, srv);
  coap_context_set_block_mode(srv->ctx, COAP_BLOCK_USE_LIBCOAP);
  coap_context_set_max_idle_sessions(srv->ctx, cfg->max_idle_sessions);
  coap_context_set_session_timeout(srv->ctx, cfg->session_timeout_s);
  coap_register_event_handler(srv->ctx, on_event);
  coap_register_nack_handler(srv->ctx, on_nack);
  if (coap_new_endpoint(srv->ctx, &addr, COAP_PROTO_UDP) == NULL) {
    ec_log(EC_LOG_ERROR, "cannot listen on UDP [%s]:%u (in use, or not an "
           "address of this host?)", cfg->bind_addr, cfg->port);
    rc = EC_EIO;
    goto fail_ctx;
  }

  coap_resource_t *unknown = coap_resource_unknown_init2(hnd_unknown, 0);
  if (unknown == NULL) {
    rc = EC_ENOMEM;
    goto fail_ctx;
  }
  coap_register_request_handler(unknown, COAP_REQUEST_GET, hnd_unknown);
  coap_register_request_handler(unknown, COAP_REQUEST_POST, hnd_unknown);
  coap_register_request_handler(unknown, COAP_REQUEST_FETCH, hnd_unknown);
  coap_add_resource(srv->ctx, unknown);

  rc = ec_deployment_init(srv);
  if (rc < 0)
    goto fail_ctx;
  rc = ec_messages_init(srv);
  if (rc < 0)
    goto fail_ctx;
  rc = ec_provisioning_init(srv);
  if (rc < 0)
    goto fail_ctx;

  ec_log(EC_LOG_INFO, "listening on coap://[%s]:%u, database %s, body cap %zu "
         "bytes", cfg->bind_addr, cfg->port, cfg->db_path, cfg->max_body);
  *out = srv;
  return 0;

fail_ctx:
  ec_watch_free_all(srv);
  ec_peer_free_all(srv);
  coap_free_context(srv->ctx);
  ec_deployment_free_routes(srv);
  ec_messages_free(srv);
  ec_provisioning_free(srv);
fail_store:
  ec_store_close(srv->store);
  coap_cleanup();
fail_srv:
  ec_dedup_free(srv->dedup);
  free(srv->arena_buf);
  free(srv);
  return rc;
}

int ec_server_run(ec_server_t *srv, volatile sig_atomic_t *stop) {
  while (!*stop) {
    /* A bounded wait lets a signal's flag be seen within a second. */
    if (coap_io_process(srv->ctx, 1000) < 0) {
      ec_log(EC_LOG_ERROR, "the CoAP I/O loop failed");
      return EC_EIO;
    }
  }
  return 0;
}

void ec_server_free(ec_server_t *srv) {
  if (srv == NULL)
    return;
  ec_watch_free_all(srv);
  ec_peer_free_all(srv);
  coap_free_context(srv->ctx);
  ec_deployment_free_routes(srv);
  ec_messages_free(srv);
  ec_provisioning_free(srv);
  ec_store_close(srv->store);
  ec_dedup_free(srv->dedup);
  free(srv->arena_buf);
  free(srv);
  coap_cleanup();
}
