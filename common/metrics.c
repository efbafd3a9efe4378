/* edgecoap: the metrics registry: fixed-size counters, gauges and histograms in the Prometheus text format. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "metrics.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgecoap/error.h"

/* CoAP methods 1..7 by code; slot 0 counts any other. */
#define N_METHODS 8
static const char *const method_names[N_METHODS] = {
    "other", "GET", "POST", "PUT", "DELETE", "FETCH", "PATCH", "iPATCH"};

/* The response codes of RFC 7252, 7959, 8132, 8516 and 9175; the last
 * slot counts any other. */
static const uint8_t codes[] = {
    2 << 5 | 1,  2 << 5 | 2,  2 << 5 | 3,  2 << 5 | 4,  2 << 5 | 5,
    2 << 5 | 31, 4 << 5 | 0,  4 << 5 | 1,  4 << 5 | 2,  4 << 5 | 3,
    4 << 5 | 4,  4 << 5 | 5,  4 << 5 | 6,  4 << 5 | 8,  4 << 5 | 9,
    4 << 5 | 12, 4 << 5 | 13, 4 << 5 | 15, 4 << 5 | 22, 4 << 5 | 29,
    5 << 5 | 0,  5 << 5 | 1,  5 << 5 | 2,  5 << 5 | 3,  5 << 5 | 4,
    5 << 5 | 5};
#define N_CODES (sizeof(codes) + 1)

/* Request latency buckets, microseconds (rendered in seconds). */
static const uint64_t latency_us[] = {100,    250,    500,     1000,   2500,
                                      5000,   10000,  25000,   50000,  100000,
                                      250000, 500000, 1000000, 2500000};
#define N_LATENCY (sizeof(latency_us) / sizeof(latency_us[0]))

static const uint64_t writes_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};

typedef struct {
  const char *name;   /* the family's name */
  const char *labels; /* this series' labels, "" for none */
  const char *type;   /* "counter" or "gauge" */
  const char *help;
} scalar_t;

static const scalar_t scalars[EC_M_COUNT] = {
    [EC_M_DTLS_HANDSHAKES] = {"edgecoap_dtls_handshakes_total", "", "counter",
                              "DTLS handshakes completed"},
    [EC_M_DTLS_FAILURES] = {"edgecoap_dtls_handshake_failures_total", "",
                            "counter", "DTLS handshakes that failed"},
    [EC_M_LOGIN_FAILED_COAP] = {"edgecoap_login_failures_total",
                                "via=\"coap\"", "counter",
                                "Failed logins: provisioning logins over CoAP, "
                                "refused credentials on HTTP"},
    [EC_M_LOGIN_FAILED_HTTP] = {"edgecoap_login_failures_total",
                                "via=\"http\"", "counter", NULL},
    [EC_M_OBS_DROPPED_SILENT] = {"edgecoap_observations_dropped_total",
                                 "reason=\"silent\"", "counter",
                                 "Observations ended because the observer "
                                 "left a confirmable notification unanswered "
                                 "(silent) or answered one with a reset"},
    [EC_M_OBS_DROPPED_RESET] = {"edgecoap_observations_dropped_total",
                                "reason=\"reset\"", "counter", NULL},
    [EC_M_OBS_CHECKS] = {"edgecoap_observation_checks_total", "", "counter",
                         "Confirmable notifications sent only to check that "
                         "an observer is still there (--observe-check)"},
    [EC_M_COMMITS_FAILED] = {"edgecoap_store_commit_failures_total", "",
                             "counter", "Group commits that failed"},
    [EC_M_LOG_SUPPRESSED] = {"edgecoap_log_lines_suppressed_total", "",
                             "counter",
                             "Access-log lines of error answers left out by "
                             "the per-peer rate limit"},
    [EC_M_HTTP_EVENTS] = {"edgecoap_http_events_total", "", "counter",
                          "Committed reports put in the dashboard's event "
                          "ring"},
    [EC_M_HTTP_EVENTS_SENT] = {"edgecoap_http_events_sent_total", "",
                               "counter",
                               "Events written to the dashboard's event "
                               "streams (one per stream)"},
    [EC_M_HTTP_STREAMS_REFUSED] = {"edgecoap_http_event_streams_refused_total",
                                   "", "counter",
                                   "Event streams refused with 503: as many "
                                   "as --http-streams were open"},
    [EC_M_SCREEN_READS] = {"edgecoap_screened_reads_total", "", "counter",
                           "Reads answered from memory before libcoap read "
                           "them: a cached deployment status, a later block "
                           "of a kept page (also counted in "
                           "edgecoap_requests_total)"},
    [EC_M_SESSIONS] = {"edgecoap_sessions", "", "gauge",
                       "Client sessions (coap:// and coaps://) open"},
    [EC_M_OBSERVERS] = {"edgecoap_observers", "", "gauge",
                        "Observations the server keeps"},
    [EC_M_HTTP_STREAMS] = {"edgecoap_http_event_streams", "", "gauge",
                           "The dashboard's event streams open "
                           "(/api/events)"},
    [EC_M_DB_BYTES] = {"edgecoap_database_bytes", "", "gauge",
                       "Size of the database"},
};

typedef struct {
  const char *name;
  const char *help;
  const uint64_t *bounds;
  size_t n_bounds;
  double scale; /* rendered value = recorded value * scale */
} hist_desc_t;

static const hist_desc_t hists[EC_H_COUNT] = {
    [EC_H_COMMIT_SECONDS] = {"edgecoap_store_commit_seconds",
                             "Time a group commit took (COMMIT and its sync)",
                             latency_us, N_LATENCY, 1e-6},
    [EC_H_COMMIT_WRITES] = {"edgecoap_store_commit_writes",
                            "Writes made durable by one group commit",
                            writes_bounds,
                            sizeof(writes_bounds) / sizeof(writes_bounds[0]),
                            1.0},
};

/* The largest bucket count of any histogram, +Inf included. */
#define MAX_BUCKETS (N_LATENCY + 1)

typedef struct {
  uint64_t buckets[MAX_BUCKETS]; /* not cumulative: rendered so */
  uint64_t count;
  uint64_t sum;
} hist_t;

struct ec_metrics {
  int64_t values[EC_M_COUNT];
  hist_t hist[EC_H_COUNT];
  const char *routes[EC_METRICS_MAX_ROUTES];
  int n_routes;
  /* Slot n_routes... of each array is "unmatched". */
  uint64_t requests[EC_METRICS_MAX_ROUTES + 1][N_METHODS][N_CODES];
  hist_t latency[EC_METRICS_MAX_ROUTES + 1];
  char version[64];
  char libcoap[64];
};

int ec_metrics_new(ec_metrics_t **out) {
  if (out == NULL)
    return EC_EINVAL;
  *out = calloc(1, sizeof(**out));
  return *out != NULL ? 0 : EC_ENOMEM;
}

void ec_metrics_free(ec_metrics_t *m) { free(m); }

void ec_metrics_set_build(ec_metrics_t *m, const char *version,
                          const char *libcoap) {
  if (m == NULL)
    return;
  snprintf(m->version, sizeof(m->version), "%s", version ? version : "");
  snprintf(m->libcoap, sizeof(m->libcoap), "%s", libcoap ? libcoap : "");
}

int ec_metrics_route(ec_metrics_t *m, const char *template_) {
  if (m == NULL || template_ == NULL)
    return EC_EINVAL;
  for (int i = 0; i < m->n_routes; i++)
    if (strcmp(m->routes[i], template_) == 0)
      return i;
  if (m->n_routes == EC_METRICS_MAX_ROUTES)
    return EC_ETOOBIG;
  m->routes[m->n_routes] = template_;
  return m->n_routes++;
}

static size_t code_slot(unsigned code) {
  for (size_t i = 0; i < sizeof(codes); i++)
    if (codes[i] == code)
      return i;
  return sizeof(codes);
}

static void hist_add(hist_t *h, const uint64_t *bounds, size_t n, uint64_t v) {
  size_t i = 0;
  while (i < n && v > bounds[i])
    i++;
  h->buckets[i]++;
  h->count++;
  h->sum += v;
}

/* Requests whose route index is not one of the registry's. */
static int route_slot(const ec_metrics_t *m, int route) {
  return route >= 0 && route < m->n_routes ? route : m->n_routes;
}

void ec_metrics_request(ec_metrics_t *m, int route, unsigned method,
                        unsigned code, uint64_t usec) {
  if (m == NULL)
    return;
  int r = route_slot(m, route);
  m->requests[r][method < N_METHODS ? method : 0][code_slot(code)]++;
  hist_add(&m->latency[r], latency_us, N_LATENCY, usec);
}

uint64_t ec_metrics_requests(const ec_metrics_t *m, int route,
                             unsigned method, unsigned code) {
  if (m == NULL)
    return 0;
  return m->requests[route_slot(m, route)][method < N_METHODS ? method : 0]
                    [code_slot(code)];
}

void ec_metrics_add(ec_metrics_t *m, ec_metric_t id, int64_t n) {
  if (m != NULL && (unsigned)id < EC_M_COUNT)
    m->values[id] += n;
}

void ec_metrics_set(ec_metrics_t *m, ec_metric_t id, int64_t v) {
  if (m != NULL && (unsigned)id < EC_M_COUNT)
    m->values[id] = v;
}

int64_t ec_metrics_get(const ec_metrics_t *m, ec_metric_t id) {
  return m != NULL && (unsigned)id < EC_M_COUNT ? m->values[id] : 0;
}

void ec_metrics_observe(ec_metrics_t *m, ec_hist_t id, uint64_t v) {
  if (m == NULL || (unsigned)id >= EC_H_COUNT)
    return;
  hist_add(&m->hist[id], hists[id].bounds, hists[id].n_bounds, v);
}

/* ---- rendering ----------------------------------------------------------- */

/* A writer that keeps counting past the end of its buffer (a measure). */
typedef struct {
  char *buf;
  size_t cap;
  size_t len;
} out_t;

static void put(out_t *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void put(out_t *o, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  size_t len = (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1;
  if (o->len < o->cap) {
    size_t room = o->cap - o->len;
    memcpy(o->buf + o->len, tmp, len < room ? len : room);
  }
  o->len += len;
}

/* A label value as the format wants it: backslash, quote and newline
 * escaped. Templates and versions hold none, but a registry should not
 * trust its callers' strings. */
static void put_escaped(out_t *o, const char *s) {
  char tmp[256];
  size_t n = 0;
  for (; *s != '\0' && n + 2 < sizeof(tmp); s++) {
    if (*s == '\\' || *s == '"' || *s == '\n') {
      tmp[n++] = '\\';
      tmp[n++] = *s == '\n' ? 'n' : *s;
    } else {
      tmp[n++] = *s;
    }
  }
  tmp[n] = '\0';
  put(o, "%s", tmp);
}

static void put_header(out_t *o, const char *name, const char *type,
                       const char *help) {
  put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void put_route_label(out_t *o, const ec_metrics_t *m, int r) {
  put(o, "route=\"");
  if (r < m->n_routes) {
    put(o, "/");
    put_escaped(o, m->routes[r]);
  } else {
    put(o, "unmatched");
  }
  put(o, "\"");
}

/* One histogram's series; @p labels is written before "le" (may be empty,
 * else ends with a comma). */
static void put_hist(out_t *o, const char *name, const hist_t *h,
                     const uint64_t *bounds, size_t n, double scale,
                     const ec_metrics_t *m, int route) {
  uint64_t cum = 0;
  for (size_t i = 0; i <= n; i++) {
    cum += h->buckets[i];
    put(o, "%s_bucket{", name);
    if (route >= 0) {
      put_route_label(o, m, route);
      put(o, ",");
    }
    if (i < n)
      put(o, "le=\"%g\"} %llu\n", (double)bounds[i] * scale,
          (unsigned long long)cum);
    else
      put(o, "le=\"+Inf\"} %llu\n", (unsigned long long)cum);
  }
  const char *open = route >= 0 ? "{" : "";
  for (int k = 0; k < 2; k++) {
    put(o, "%s_%s%s", name, k == 0 ? "sum" : "count", open);
    if (route >= 0) {
      put_route_label(o, m, route);
      put(o, "}");
    }
    if (k == 0)
      put(o, " %.9g\n", (double)h->sum * scale);
    else
      put(o, " %llu\n", (unsigned long long)h->count);
  }
}

static void put_code(out_t *o, size_t slot) {
  if (slot < sizeof(codes))
    put(o, "%u.%02u", codes[slot] >> 5, codes[slot] & 31);
  else
    put(o, "other");
}

size_t ec_metrics_render(const ec_metrics_t *m, char *buf, size_t cap) {
  out_t o = {buf, buf != NULL ? cap : 0, 0};
  if (m == NULL)
    return 0;

  put_header(&o, "edgecoap_build_info", "gauge",
             "The running build: its version and libcoap's");
  put(&o, "edgecoap_build_info{version=\"");
  put_escaped(&o, m->version);
  put(&o, "\",libcoap=\"");
  put_escaped(&o, m->libcoap);
  put(&o, "\"} 1\n");

  for (int i = 0; i < EC_M_COUNT; i++) {
    const scalar_t *s = &scalars[i];
    if (i == 0 || strcmp(scalars[i - 1].name, s->name) != 0)
      put_header(&o, s->name, s->type, s->help);
    if (s->labels[0] != '\0')
      put(&o, "%s{%s} %lld\n", s->name, s->labels, (long long)m->values[i]);
    else
      put(&o, "%s %lld\n", s->name, (long long)m->values[i]);
  }

  for (int i = 0; i < EC_H_COUNT; i++) {
    put_header(&o, hists[i].name, "histogram", hists[i].help);
    put_hist(&o, hists[i].name, &m->hist[i], hists[i].bounds,
             hists[i].n_bounds, hists[i].scale, m, -1);
  }

  /* Requests: only the series that counted something, so a scrape stays
   * small; a series, once there, stays. */
  put_header(&o, "edgecoap_requests_total", "counter",
             "CoAP requests answered, by route template, method and code");
  for (int r = 0; r <= m->n_routes; r++)
    for (int k = 0; k < N_METHODS; k++)
      for (size_t c = 0; c < N_CODES; c++) {
        uint64_t v = m->requests[r][k][c];
        if (v == 0)
          continue;
        put(&o, "edgecoap_requests_total{");
        put_route_label(&o, m, r);
        put(&o, ",method=\"%s\",code=\"", method_names[k]);
        put_code(&o, c);
        put(&o, "\"} %llu\n", (unsigned long long)v);
      }
  put_header(&o, "edgecoap_request_duration_seconds", "histogram",
             "Time from a request's dispatch to its answer, by route");
  for (int r = 0; r <= m->n_routes; r++)
    if (m->latency[r].count > 0)
      put_hist(&o, "edgecoap_request_duration_seconds", &m->latency[r],
               latency_us, N_LATENCY, 1e-6, m, r);
  return o.len;
}
