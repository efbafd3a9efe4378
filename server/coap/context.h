/* edgecoap server: the state every layer of the server shares: its configuration, libcoap context, store and caches. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_CONTEXT_H
#define EDGECOAP_CONTEXT_H

#include <coap3/coap.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

#include "edgecoap/codec.h"
#include "edgecoap/deployment.h"
#include "metrics.h"
#include "store.h"

/** The largest request datagram served: RFC 7252's 1152 bytes (screen.h). */
#define EC_SCREEN_MAX_DGRAM 1152

/** What main() sets; ec_server_config_default() fills the defaults. */
typedef struct {
  const char *bind_addr;         /**< "::" (every address, IPv4 too) by default */
  uint16_t port;                 /**< 5683 */
  const char *store;             /**< a path or URI (store.h): "edgecoap.db" */
  size_t max_body;               /**< request body cap in bytes: 65536 */
  unsigned max_idle_sessions;    /**< 100; older idle sessions are dropped */
  unsigned max_idle_resources;   /**< status resources kept without observers: 1000 */
  unsigned session_timeout_s;    /**< 30 s without traffic ends a session */
  unsigned max_observers;        /**< per resource: 20000 */
  unsigned max_peer_observations;/**< per client session: 64 */
  unsigned dedup_slots;          /**< remembered write answers: 16384 */
  /* Device provisioning components (API.md section 4, server/auth/auth.h). */
  int64_t token_ttl_ms;          /**< a token unused this long expires: 3600 min */
  unsigned login_user_failures;  /**< failed logins per (username, address) per window: 5 */
  unsigned login_peer_failures;  /**< failed logins per peer address per window: 20 */
  unsigned login_slow_after;     /**< per username, all addresses: then delayed: 5 */
  int64_t login_max_delay_ms;    /**< the longest such delay: 4 s */
  int64_t login_window_ms;       /**< the failed-login window: 15 min */
  unsigned login_threads;        /**< password-check threads: 1 */
  unsigned login_queue;          /**< password checks in flight at most: 32 */
  /* DTLS with PSK identities (server/coap/access.h, docs/SECURITY.md). */
  uint16_t psk_port;             /**< coaps:// port: 5684 */
  bool dtls;                     /**< bind DTLS even with no identity stored */
  bool no_plain;                 /**< no coap:// endpoint (implies dtls) */
  /* Operators' HTTP endpoint (server/http.h, docs/OPERATIONS.md). */
  const char *http_addr;         /**< "127.0.0.1:5680"; NULL: off */
  bool http_explicit;            /**< given by --http: failing to bind is fatal */
  unsigned http_streams;         /**< the dashboard's event streams at once: 32 */
  unsigned observe_check_s;      /**< a CON to each observer at least this
                                      often: 240 s (0: only every fifth) */
  unsigned ack_timeout_ms;       /**< RFC 7252 ACK_TIMEOUT of the server's
                                      confirmable messages: 2000 */
  bool access_log;               /**< a line per answer at info: true */
} ec_server_config_t;

typedef struct ec_server ec_server_t;
typedef struct ec_dedup ec_dedup_t;

/** A status report, once committed (ec_fleet_reported()): what the
 * operators' live view hears of it. Strings live only during the call. */
typedef struct {
  const char *device_id;
  const char *deployment_id; /**< lowercase */
  ec_state_t state;          /**< the report's overall state */
  const char *error_code;    /**< status.error.code, or NULL */
  int64_t at_ms;             /**< when it was received (UTC ms) */
  int64_t seq;               /**< its history seq */
} ec_report_t;

/** Called on the I/O thread for each committed report; must not block. */
typedef void (*ec_report_fn)(void *ud, const ec_report_t *r);
typedef struct ec_peer ec_peer_t;
typedef struct ec_route ec_route_t; /* a status resource (res_deployment.c) */

struct ec_server {
  ec_server_config_t cfg;
  coap_context_t *ctx;
  ec_store_t *store;
  struct ec_ids *ids;         /* the DTLS identities in memory (identities.h) */
  bool listening;             /* the store tells of other servers' writes */
  ec_dedup_t *dedup;
  ec_route_t *routes;         /* most recently used first */
  ec_route_t *routes_tail;
  unsigned n_routes;
  uint64_t n_evicted;         /* routes evicted since start (logged) */
  size_t route_bytes;         /* their cached reports */
  ec_peer_t *peers;
#define EC_PEER_BUCKETS 1024
  ec_peer_t *peer_hash[EC_PEER_BUCKETS]; /* peers by remote address (peer.c) */
  struct ec_watch_list *watch_lists; /* lists of server-kept observations */
  struct ec_router *router;   /* the route table, compiled (router.h) */
  struct ec_prov *prov;       /* res_provisioning.c's state */
  struct ec_msgs *msgs;       /* res_messages.c's state */
  struct ec_pagecache *pages; /* list pages kept for their later blocks
                                 (pagecache.h), or NULL */
  struct ec_fleet *fleet;     /* res_fleet.c's state */
  int screen_fd;              /* the coap:// socket, or -1 (screen.h) */
  /* The head of that socket as the access log last looked at it, kept for
   * the next screen while nothing can have read the socket (screen.h). */
  struct {
    bool kept;
    ssize_t n; /* the datagram's length (MSG_TRUNC) */
    size_t cap; /* the bytes looked at: 4 + 8, or EC_SCREEN_MAX_DGRAM */
    uint8_t h[EC_SCREEN_MAX_DGRAM]; /* its header and token, or all of it */
    socklen_t flen;
    struct sockaddr_storage from;
  } screen_look;
  /* Inside coap_io_process() before libcoap read the coap:// socket (it
   * reads it once a call): nothing looked at now may be kept. */
  bool coap_may_read;
  struct ec_watch *con_watches; /* watches with a CON outstanding (watch.c) */
  uint64_t con_due_min;       /* no earlier than their next retransmission */
  unsigned n_deferred;        /* watches with a deferred notification */
  uint64_t check_next_ms;     /* the next look for silent observers */
  /* One scratch arena reused by every request: handlers never nest. */
  uint8_t *arena_buf;
  size_t arena_cap;
  size_t held_bytes;  /* answers libcoap keeps for block-wise sending */
  /* Group commit (batch.h). */
  struct ec_pending *triggered; /* committed, waiting to be answered */
  unsigned n_pending;           /* queued, waiting for their commit */
  struct ec_pending *acks;      /* of them, held for their late ACK */
  /* Writes waiting for a store out of reach (park.h). */
  struct ec_parked *parked;
  unsigned n_parked;
  size_t parked_bytes;
  /* The key handed to libcoap during a handshake (access.c), which copies
   * it at once. */
  uint8_t psk_key[EC_STORE_DEVICE_KEY_MAX];
  uint8_t echo_key[32]; /* Echo values' MAC key, random per start (echo.h) */
  coap_bin_const_t psk;
  ec_metrics_t *metrics;      /* counted on the I/O thread (metrics.h) */
  struct ec_http *http;       /* the operators' endpoint, or NULL (http.h) */
  uint64_t http_ran_ms;       /* its last run by the loop (server.c) */
  struct ec_accesslog *accesslog; /* the access log (accesslog.h) */
  ec_report_fn on_report;     /* committed reports' listener, or NULL */
  void *on_report_ud;         /* (the HTTP endpoint's events, server/http) */
};

#endif /* EDGECOAP_CONTEXT_H */
