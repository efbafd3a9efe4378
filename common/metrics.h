/* edgecoap: the metrics registry: fixed-size counters, gauges and histograms in the Prometheus text format. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_METRICS_H
#define EDGECOAP_METRICS_H

#include <stddef.h>
#include <stdint.h>

/*
 * Every series is a slot of one block allocated at start: counting is an
 * addition (a histogram's a short scan of its bounds), with no allocation
 * and no lock. The registry belongs to the thread that counts into it (the
 * server's I/O thread, which also renders it for /metrics). Requests are
 * counted by route template, method and code, so the number of series is
 * bounded by the route table, never by the paths clients send.
 */
typedef struct ec_metrics ec_metrics_t;

/** Counters and gauges; series of one family are adjacent. */
typedef enum {
  EC_M_DTLS_HANDSHAKES,     /**< counter: DTLS sessions established */
  EC_M_DTLS_FAILURES,       /**< counter: DTLS handshakes that failed */
  EC_M_LOGIN_FAILED_COAP,   /**< counter: failed logins, provisioning API */
  EC_M_LOGIN_FAILED_HTTP,   /**< counter: refused credentials on HTTP */
  EC_M_OBS_DROPPED_SILENT,  /**< counter: observers that stopped answering */
  EC_M_OBS_DROPPED_RESET,   /**< counter: observers that answered RST */
  EC_M_OBS_CHECKS,          /**< counter: liveness checks sent (CON) */
  EC_M_COMMITS_FAILED,      /**< counter: group commits that failed */
  EC_M_LOG_SUPPRESSED,      /**< counter: access-log lines rate-limited */
  EC_M_HTTP_EVENTS,         /**< counter: reports put in the event ring */
  EC_M_HTTP_EVENTS_SENT,    /**< counter: events written to streams */
  EC_M_HTTP_STREAMS_REFUSED,/**< counter: event streams refused (503) */
  EC_M_SCREEN_READS,        /**< counter: reads answered from memory
                                 before libcoap read them (screen.h) */
  EC_M_SESSIONS,            /**< gauge: client sessions open */
  EC_M_OBSERVERS,           /**< gauge: observations kept */
  EC_M_HTTP_STREAMS,        /**< gauge: the dashboard's event streams open */
  EC_M_DB_BYTES,            /**< gauge: the database's size */
  EC_M_COUNT
} ec_metric_t;

/** Histograms of the server as a whole (requests have their own). */
typedef enum {
  EC_H_COMMIT_SECONDS,      /**< group commit latency (recorded in us) */
  EC_H_COMMIT_WRITES,       /**< writes per group commit */
  EC_H_COUNT
} ec_hist_t;

/* Routes a registry names at most; requests no route matched are counted
 * under the label "unmatched". */
#define EC_METRICS_MAX_ROUTES 32

/**
 * A new registry, every value zero.
 * @return 0 or EC_ENOMEM; release with ec_metrics_free()
 */
int ec_metrics_new(ec_metrics_t **out);

/** Release @p m; NULL is a no-op. */
void ec_metrics_free(ec_metrics_t *m);

/**
 * Name the build for edgecoap_build_info (copied, 63 bytes at most each).
 */
void ec_metrics_set_build(ec_metrics_t *m, const char *version,
                          const char *libcoap);

/**
 * Register a route template ("device/{deviceId}/deployments", as the route
 * table has it: the pointer is kept and must outlive @p m).
 * @return its index for ec_metrics_request(), or EC_ETOOBIG past
 *         EC_METRICS_MAX_ROUTES (requests then count as unmatched)
 */
int ec_metrics_route(ec_metrics_t *m, const char *template_);

/**
 * Count one answered request: route index (< 0: unmatched), CoAP method
 * code (1 GET .. 7 iPATCH; others count as "other"), response code
 * (class << 5 | detail, as libcoap's) and the microseconds it took.
 * NULL @p m is a no-op.
 */
void ec_metrics_request(ec_metrics_t *m, int route, unsigned method,
                        unsigned code, uint64_t usec);

/** Add @p n to a counter or gauge (@p n may be negative for a gauge). */
void ec_metrics_add(ec_metrics_t *m, ec_metric_t id, int64_t n);

/** Set a gauge. */
void ec_metrics_set(ec_metrics_t *m, ec_metric_t id, int64_t v);

/** A counter's or gauge's value. */
int64_t ec_metrics_get(const ec_metrics_t *m, ec_metric_t id);

/** Record one observation of histogram @p id. */
void ec_metrics_observe(ec_metrics_t *m, ec_hist_t id, uint64_t v);

/** Requests counted under (route, method, code) so far. */
uint64_t ec_metrics_requests(const ec_metrics_t *m, int route,
                             unsigned method, unsigned code);

/**
 * Write every series in the Prometheus text exposition format 0.0.4.
 * @param[out] buf  @p cap bytes; NULL with cap 0 measures
 * @return the length of the whole text (not NUL-terminated); when it is
 *         more than @p cap, only the first @p cap bytes were written
 */
size_t ec_metrics_render(const ec_metrics_t *m, char *buf, size_t cap);

#endif /* EDGECOAP_METRICS_H */
