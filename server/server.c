/* edgecoap server: the libcoap context, its endpoints and the I/O loop. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "server.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "accesslog.h"
#include "batch.h"
#include "dedup.h"
#include "http.h"
#include "identities.h"
#include "log.h"
#include "park.h"
#include "peer.h"
#include "request.h"
#include "res_deployment.h"
#include "res_fleet.h"
#include "res_provisioning.h"
#include "res_messages.h"
#include "router.h"
#include "routes.h"
#include "screen.h"
#include "startup.h"
#include "util.h"
#include "watch.h"


void ec_server_config_default(ec_server_config_t *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->bind_addr = "::";
  cfg->port = 5683;
  cfg->store = "edgecoap.db";
  cfg->max_body = 64 * 1024;
  cfg->max_idle_sessions = 100;
  cfg->max_idle_resources = 1000;
  cfg->session_timeout_s = 30;
  cfg->max_observers = 20000;
  cfg->max_peer_observations = 64;
  cfg->dedup_slots = 16384;
  cfg->token_ttl_ms = 3600LL * 60 * 1000;
  cfg->login_user_failures = 5;
  cfg->login_peer_failures = 20;
  cfg->login_slow_after = 5;
  cfg->login_max_delay_ms = 4000;
  cfg->login_window_ms = 15LL * 60 * 1000;
  cfg->login_threads = 1;
  cfg->login_queue = 32;
  cfg->psk_port = 5684;
  cfg->http_addr = EC_HTTP_DEFAULT;
  cfg->http_streams = 32;
  cfg->observe_check_s = 240;
  cfg->ack_timeout_ms = 2000;
  cfg->access_log = true;
}

static int on_event(coap_session_t *session, const coap_event_t event) {
  ec_server_t *srv = coap_get_app_data(coap_session_get_context(session));
  if (event == COAP_EVENT_SERVER_SESSION_NEW) {
    ec_metrics_add(srv->metrics, EC_M_SESSIONS, 1);
    /* libcoap's own confirmable messages (over coaps://, and separate
     * answers) wait as long as the server's notifications (watch.c). */
    coap_fixed_point_t ack = {srv->cfg.ack_timeout_ms / 1000,
                              srv->cfg.ack_timeout_ms % 1000};
    coap_session_set_ack_timeout(session, ack);
  }
  else if (event == COAP_EVENT_DTLS_CONNECTED)
    ec_metrics_add(srv->metrics, EC_M_DTLS_HANDSHAKES, 1);
  else if (event == COAP_EVENT_DTLS_ERROR)
    ec_metrics_add(srv->metrics, EC_M_DTLS_FAILURES, 1);
  if (event == COAP_EVENT_SERVER_SESSION_DEL) {
    ec_metrics_add(srv->metrics, EC_M_SESSIONS, -1);
    ec_peer_drop(srv, session);
  } else {
    ec_access_on_event(srv, session, event);
  }
  return 0;
}

static void on_nack(coap_session_t *session, const coap_pdu_t *sent,
                    const coap_nack_reason_t reason, const coap_mid_t mid) {
  ec_server_t *srv = coap_get_app_data(coap_session_get_context(session));
  if (reason == COAP_NACK_RST || reason == COAP_NACK_TOO_MANY_RETRIES ||
      reason == COAP_NACK_NOT_DELIVERABLE)
    ec_watch_on_nack(srv, session, sent, reason != COAP_NACK_RST);
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

/*
 * coap:// unless --no-plain; coaps:// when asked for (--dtls, --no-plain) or
 * when there is someone to serve (a stored PSK identity). An identity added
 * later is served at once only when the DTLS endpoint is already bound, so
 * a deployment that will add devices later starts with --dtls.
 */
static int bind_endpoints(ec_server_t *srv) {
  const ec_server_config_t *cfg = &srv->cfg;
  coap_address_t addr;
  int64_t n_ids = (int64_t)ec_ids_count(srv->ids);

  if (resolve(cfg->bind_addr, cfg->port, &addr) < 0) {
    ec_log(EC_LOG_ERROR, "--bind %s is not a numeric IPv4 or IPv6 address",
           cfg->bind_addr);
    return EC_EINVAL;
  }
  bool dtls = cfg->dtls || cfg->no_plain || n_ids > 0;
  if (dtls && !cfg->no_plain && cfg->psk_port == cfg->port) {
    ec_log(EC_LOG_ERROR, "--psk-port and --port are both %u: coap:// and "
           "coaps:// need a port each", cfg->port);
    return EC_EINVAL;
  }
  int rc;
  if (!cfg->no_plain &&
      coap_new_endpoint(srv->ctx, &addr, COAP_PROTO_UDP) == NULL) {
    ec_log(EC_LOG_ERROR, "cannot listen on UDP [%s]:%u (in use, or not an "
           "address of this host?)", cfg->bind_addr, cfg->port);
    return EC_EIO;
  }
  if (!cfg->no_plain)
    ec_port_seal(cfg->port);
  if (!cfg->no_plain)
    ec_log(EC_LOG_INFO, "listening on coap://[%s]:%u (plain CoAP: "
           "unauthenticated, every resource open to every client)",
           cfg->bind_addr, cfg->port);
  if (!dtls) {
    ec_log(EC_LOG_INFO, "no coaps://: no PSK identity is stored (admin "
           "device-add) and --dtls is not given");
    return 0;
  }
  rc = ec_access_dtls_init(srv);
  if (rc < 0)
    return rc;
  (void)resolve(cfg->bind_addr, cfg->psk_port, &addr);
  rc = ec_port_check(&addr, "coaps://", cfg->bind_addr, cfg->psk_port);
  if (rc < 0)
    return rc;
  if (coap_new_endpoint(srv->ctx, &addr, COAP_PROTO_DTLS) == NULL) {
    ec_log(EC_LOG_ERROR, "cannot listen on DTLS [%s]:%u (in use, or not an "
           "address of this host?)", cfg->bind_addr, cfg->psk_port);
    return EC_EIO;
  }
  ec_port_seal(cfg->psk_port);
  ec_log(n_ids > 0 ? EC_LOG_INFO : EC_LOG_WARN,
         "listening on coaps://[%s]:%u (DTLS PSK, %lld identities stored)",
         cfg->bind_addr, cfg->psk_port, (long long)n_ids);
  return 0;
}

/*
 * libcoap's own messages go through our log, at debug level: 4.3.1 reports a
 * stray RST from any peer at LOG_ALERT, so passing its levels through would
 * let a hostile peer flood the log. What matters to an operator (a bind that
 * fails, a store error) the server logs itself.
 */
static void libcoap_log(coap_log_t level, const char *message) {
  size_t n = strlen(message);
  while (n > 0 && (message[n - 1] == '\n' || message[n - 1] == '\r'))
    n--;
  ec_log(level <= LOG_EMERG ? EC_LOG_ERROR : EC_LOG_DEBUG, "libcoap: %.*s",
         (int)n, message);
}

static void libcoap_log_level(void) {
  coap_set_log_handler(libcoap_log);
  coap_set_log_level(ec_log_get_level() >= EC_LOG_DEBUG ? LOG_INFO
                                                        : LOG_EMERG);
}

/* Another server's write, heard through the shared store: the
 * observers, roll-ups and live view hear of it as of one of ours; status
 * messages' observers, of each message after the last ID notified;
 * provisioning observers, of the provisionings changed (every one when
 * anything may have changed); the DTLS identities in memory, of an
 * identity's change (anyone's). */
static void on_change(void *ud, const ec_store_change_t *c) {
  ec_server_t *srv = ud;
  switch (c->kind) {
  case EC_STORE_CHANGE_STATUS:
    ec_deployment_changed(srv, c->device_id, c->deployment_id);
    break;
  case EC_STORE_CHANGE_ANY:
    ec_ids_changed(srv->ids, NULL);
    ec_deployment_resync(srv);
    ec_messages_changed(srv);
    ec_provisioning_changed(srv, -1);
    break;
  case EC_STORE_CHANGE_PROVISIONING:
    ec_provisioning_changed(srv, c->provisioning_id);
    break;
  case EC_STORE_CHANGE_MESSAGES:
    ec_messages_changed(srv);
    break;
  case EC_STORE_CHANGE_DEVICE:
    ec_ids_changed(srv->ids, c->device_id);
    break;
  }
}

int ec_server_new(const ec_server_config_t *cfg, ec_server_t **out) {
  int rc;

  if (cfg == NULL || out == NULL || cfg->max_body == 0 ||
      cfg->ack_timeout_ms == 0)
    return EC_EINVAL;
  if (sodium_init() < 0) /* the Echo key below, tokens and passwords */
    return EC_EIO;
  ec_server_t *srv = calloc(1, sizeof(*srv));
  if (srv == NULL)
    return EC_ENOMEM;
  srv->cfg = *cfg;
  srv->screen_fd = -1;
  randombytes_buf(srv->echo_key, sizeof(srv->echo_key));
  /* A decoded document never needs more arena than a few times its size. */
  srv->arena_cap = 4 * cfg->max_body + 64 * 1024;
  srv->arena_buf = malloc(srv->arena_cap);
  srv->dedup = ec_dedup_new(cfg->dedup_slots);
  if (srv->arena_buf == NULL || srv->dedup == NULL ||
      ec_metrics_new(&srv->metrics) < 0 ||
      ec_accesslog_new(srv, cfg->access_log) < 0) {
    rc = EC_ENOMEM;
    goto fail_srv;
  }

  /* Ports are checked before binding (coap:// first, before the database
   * is touched, coaps:// once the store says whether it is needed):
   * libcoap's SO_REUSEADDR would let this server share a port with another
   * one and silently take its traffic. */
  coap_address_t plain;
  if (!cfg->no_plain && resolve(cfg->bind_addr, cfg->port, &plain) == 0 &&
      (rc = ec_port_check(&plain, "coap://", cfg->bind_addr, cfg->port)) < 0)
    goto fail_srv;
  /* Held for this server alone, and checked to take a write (store.h). */
  rc = ec_store_open_uri(cfg->store, EC_STORE_SERVE, &srv->store);
  if (rc < 0)
    goto fail_srv;
  if (ec_store_created(srv->store))
    ec_log(EC_LOG_WARN, "the database %s did not exist: created it, empty",
           ec_store_where(srv->store));
  ec_store_set_metrics(srv->store, srv->metrics);
  /* A store other servers share tells of their writes (store.h); SQLite,
   * written by this server alone, has nothing to tell. Listening starts
   * before the identities are loaded, so that no change made in between
   * goes unheard (the hints are read by the loop's flushes). */
  rc = ec_store_listen(srv->store, on_change, srv);
  if (rc < 0 && rc != EC_ENOTSUP)
    goto fail_store;
  srv->listening = rc == 0;
  rc = ec_ids_new(srv->store, &srv->ids);
  if (rc < 0) {
    ec_log(EC_LOG_ERROR, "cannot load the DTLS identities from %s: %s",
           ec_store_where(srv->store), ec_strerror(rc));
    goto fail_store;
  }

  coap_startup();
  libcoap_log_level();
  srv->ctx = coap_new_context(NULL);
  if (srv->ctx == NULL) {
    rc = EC_ENOMEM;
    goto fail_coap;
  }
  coap_set_app_data(srv->ctx, srv);
  coap_context_set_block_mode(srv->ctx, COAP_BLOCK_USE_LIBCOAP);
  coap_context_set_max_idle_sessions(srv->ctx, cfg->max_idle_sessions);
  coap_context_set_session_timeout(srv->ctx, cfg->session_timeout_s);
  coap_register_event_handler(srv->ctx, on_event);
  coap_register_nack_handler(srv->ctx, on_nack);
  rc = bind_endpoints(srv);
  if (rc < 0)
    goto fail_ctx;
  ec_screen_init(srv);

  /* Every request goes through the one dispatcher and the API's route
   * table (router.h, routes.c). */
  ec_router_t *router = NULL;
  rc = ec_router_new(&ec_api_routes, &router);
  if (rc < 0)
    goto fail_ctx;
  rc = ec_router_install(srv, router);
  if (rc < 0)
    goto fail_ctx;
  rc = ec_messages_init(srv);
  if (rc < 0)
    goto fail_ctx;
  rc = ec_provisioning_init(srv);
  if (rc < 0)
    goto fail_ctx;
  rc = ec_fleet_init(srv);
  if (rc < 0)
    goto fail_ctx;
  const char *libcoap = coap_package_version(); /* "libcoap 4.3.1" */
  if (strncmp(libcoap, "libcoap ", 8) == 0)
    libcoap += 8;
  ec_metrics_set_build(srv->metrics, EDGECOAP_VERSION, libcoap);
  rc = ec_http_start(srv, &srv->http);
  if (rc < 0)
    goto fail_ctx;

  ec_log(EC_LOG_INFO, "serving, database %s, body cap %zu bytes",
         ec_store_where(srv->store), cfg->max_body);
  *out = srv;
  return 0;

fail_ctx:
  ec_watch_free_all(srv);
  ec_peer_free_all(srv);
  coap_free_context(srv->ctx);
  ec_deployment_free_routes(srv);
  ec_messages_free(srv);
  ec_fleet_free(srv);
  ec_provisioning_free(srv);
  ec_router_free(srv);
fail_coap:
  coap_cleanup();
  ec_ids_free(srv->ids);
fail_store:
  ec_store_close(srv->store);
fail_srv:
  ec_accesslog_free(srv);
  ec_metrics_free(srv->metrics);
  ec_dedup_free(srv->dedup);
  free(srv->arena_buf);
  free(srv);
  return rc;
}

/* Rounds of ready datagrams drained into one group commit, at most. */
#define BATCH_DRAIN_ROUNDS 64

/*
 * One I/O round: wait at most @p wait_ms for something to do, screen what
 * came (screen.h), and let libcoap read it and run its timers. libcoap's
 * epoll descriptor is readable exactly when a socket is ready or one of
 * its timers (retransmissions, session timeouts) is due, so waiting on it
 * here and then processing without waiting keeps every datagram from
 * reaching libcoap before it was screened.
 */
static int io_round(ec_server_t *srv, int wait_ms) {
  struct pollfd ready[4] = {{coap_context_get_coap_fd(srv->ctx), POLLIN, 0},
                            {ec_http_fd(srv->http), POLLIN, 0}};
  int http = ready[1].fd >= 0;
  int n_fds = 1 + http; /* dense: the store's slots follow what is used */
  /* A store whose commits and reads arrive later (store.h, ec_store_fd,
   * ec_store_read_fd): their answers end the wait too, and the loop's
   * flush reads them. */
  for (int k = 0; k < 2; k++) {
    struct pollfd *p = &ready[n_fds];
    int store_due;
    p->revents = 0;
    p->fd = k == 0 ? ec_store_fd(srv->store, &p->events, &store_due)
                   : ec_store_read_fd(srv->store, &p->events, &store_due);
    if (p->fd >= 0)
      n_fds++;
    if (store_due >= 0 && store_due < wait_ms)
      wait_ms = store_due;
  }
  /* The wait ends in time for the server's own retransmissions and
   * liveness checks (watch.c), whichever way the round waits. */
  int due = ec_watch_next_ms(srv);
  if (due >= 0 && due < wait_ms)
    wait_ms = due;
  int rc;
  if (ready[0].fd < 0 || (srv->screen_fd < 0 && n_fds == 1)) {
    /* Nothing of ours to poll beside libcoap's sockets (coaps:// alone,
     * no HTTP): libcoap waits itself, briefly while the store has an
     * answer to come. */
    if (ready[0].fd < 0 && n_fds > 1 && wait_ms > 1)
      wait_ms = 1;
    ec_log_sync(0);
    srv->coap_may_read = true; /* nothing is kept (screen.h) */
    rc = coap_io_process(srv->ctx, wait_ms > 0 ? (uint32_t)wait_ms
                                               : COAP_IO_NO_WAIT);
    srv->coap_may_read = false;
    srv->screen_look.kept = false;
  } else {
    /* While datagrams keep coming there is no need to wait (and no cost of
     * a poll per datagram): only an empty socket waits, for a datagram, a
     * libcoap timer, the server's own retransmissions, an HTTP request
     * (http.h) or the store's answer. libcoap 4.3.1 is built with epoll
     * here and its coap_io_process_with_fds() ignores other descriptors,
     * so the poll is ours and libcoap's processing never waits. */
    if (srv->screen_fd < 0 || !ec_screen_run(srv)) {
      /* Nothing waits: held log lines go out before the wait. */
      ec_log_sync(0);
      if (poll(ready, (nfds_t)n_fds, wait_ms) < 0 && errno != EINTR)
        return -1;
      if (srv->screen_fd >= 0)
        ec_screen_run(srv);
    }
    srv->coap_may_read = true; /* until the dispatcher sees what it read */
    rc = coap_io_process(srv->ctx, COAP_IO_NO_WAIT);
    srv->coap_may_read = false;
  }
  ec_watch_tick(srv);
  /* libmicrohttpd looks at its sockets with a system call of its own:
   * only when the wait said they are ready, its timers are due, or, under
   * a load that never lets the loop wait, once a millisecond, not in
   * every round (once per datagram). */
  if (http) {
    uint64_t now = ec_mono_ms();
    if ((ready[1].revents & POLLIN) || now != srv->http_ran_ms ||
        ec_http_next_ms(srv->http) == 0) {
      srv->http_ran_ms = now;
      ec_http_run(srv->http);
    }
  }
  return rc;
}

/* The loop itself; ec_server_run holds the log lines around it. */
static int run(ec_server_t *srv, volatile sig_atomic_t *stop) {
  unsigned logins_in_flight = 0;
  while (!*stop) {
    /* A bounded wait lets a signal's flag be seen within a second; while
     * password checks run on their threads (res_provisioning.c), rounds are
     * short, so that each answer goes out within a few milliseconds of its
     * check: libcoap cannot be woken from another thread. */
    int wait_ms = logins_in_flight > 0 ? 2 : 1000;
    int fleet_ms = ec_fleet_next_ms(srv);
    if (fleet_ms >= 0 && fleet_ms < wait_ms)
      wait_ms = fleet_ms;
    int http_ms = ec_http_next_ms(srv->http);
    if (http_ms >= 0 && http_ms < wait_ms)
      wait_ms = http_ms;
    int park_ms = ec_park_next_ms(srv);
    if (park_ms >= 0 && park_ms < wait_ms)
      wait_ms = park_ms;
    if (io_round(srv, wait_ms) < 0) {
      ec_log(EC_LOG_ERROR, "the CoAP I/O loop failed");
      return EC_EIO;
    }
    /* Writes of this round wait in an open batch: take in whatever else is
     * ready (requests, and the ACKs of earlier separate answers) without
     * waiting, then make them durable with one commit. libcoap's epoll
     * descriptor is readable exactly when something is ready. */
    struct pollfd ready = {coap_context_get_coap_fd(srv->ctx), POLLIN, 0};
    for (int i = 0; i < BATCH_DRAIN_ROUNDS && srv->n_pending > 0 &&
                    ready.fd >= 0 && poll(&ready, 1, 0) > 0;
         i++) {
      if (io_round(srv, 0) < 0)
        break;
    }
    ec_batch_commit(srv);
    /* Writes that waited for the store run again once it is back. */
    ec_park_poll(srv);
    /* Roll-up observers hear of this round's reports once committed. */
    ec_fleet_poll(srv);
    /* The dashboard's streams, likewise (their reports were heard at the
     * commit, through srv->on_report). */
    ec_http_poll(srv->http);
    logins_in_flight = ec_provisioning_poll(srv);
    /* The identities' last load failed: try again (identities.h). */
    ec_ids_retry(srv->ids, ec_mono_ms());
    ec_accesslog_tick(srv);
    /* Under a load that never lets the loop wait (accesslog.h). */
    ec_log_sync(EC_LOG_HOLD_MS);
  }
  ec_batch_commit(srv);
  return 0;
}

int ec_server_run(ec_server_t *srv, volatile sig_atomic_t *stop) {
  /* The access log's lines are written together (accesslog.h); whatever
   * is held is written when the loop ends, as it ends. */
  ec_log_hold(true);
  int rc = run(srv, stop);
  ec_log_hold(false);
  return rc;
}

void ec_server_free(ec_server_t *srv) {
  if (srv == NULL)
    return;
  ec_batch_free_all(srv);
  ec_park_free_all(srv);
  /* RFC 7641 3.2: an error notification ends an observation, so observers
   * hear that the server stopped instead of waiting for ever. */
  ec_watch_end_all(srv, 503, "shutting-down",
                   "the server is stopping: observe again once it is back");
  ec_watch_free_all(srv);
  ec_peer_free_all(srv);
  coap_free_context(srv->ctx);
  ec_deployment_free_routes(srv);
  ec_messages_free(srv);
  ec_fleet_free(srv);
  ec_provisioning_free(srv);
  ec_router_free(srv);
  ec_http_stop(srv->http);
  ec_ids_free(srv->ids);
  ec_store_close(srv->store);
  ec_dedup_free(srv->dedup);
  ec_accesslog_free(srv);
  ec_metrics_free(srv->metrics);
  free(srv->arena_buf);
  sodium_memzero(srv->psk_key, sizeof(srv->psk_key));
  free(srv);
  coap_cleanup();
  ec_log_flush();
}
