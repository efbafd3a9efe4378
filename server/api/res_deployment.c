/* edgecoap server: the Margo deployment-status resources (API.md section 2). */
/* SPDX-License-Identifier: Apache-2.0 */
#include "res_deployment.h"
#include "res_fleet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "batch.h"
#include "dedup.h"
#include "log.h"
#include "page.h"
#include "routes.h"
#include "util.h"
#include "watch.h"

/*
 * libcoap 4.3.1 matches resources by exact path. So the status of each
 * (device, deployment) gets a libcoap resource of its own, made from the
 * route table (ec_router_resource) when it is first written or read, and
 * holding the current report's cache; history and deployments have none.
 * Requests to paths with no resource reach the same handlers through the
 * dispatcher's unknown resource (router.h). A deployment id is a UUID and
 * matched case-insensitively, so resources use its lowercase spelling and
 * other spellings are served by the same route.
 */

/* The status resource of one (device, deployment), made on demand (its
 * coap userdata). */
struct ec_route {
  ec_router_res_t res;      /* first: the resource's userdata (router.h) */
  struct ec_route *next;    /* srv->routes, the most recently used first */
  struct ec_route *prev;
  char *device_id;
  char *deployment_id;      /* lowercase */
  coap_resource_t *resource;
  struct ec_watch_list *watches; /* status: its observers (watch.h), made
                                  * at the first observation */
  /* The current report, cached so that a notification to thousands of
   * observers costs no store read and no re-encoding: its stored CBOR, and
   * its JSON made from that at the first JSON read or observer (most
   * readers, and every device, use CBOR). */
  uint8_t *cbor;
  size_t cbor_len;
  uint8_t *json;            /* NULL until needed */
  size_t json_len;
  int64_t seq;              /* the cached report's history seq (its ETag) */
  /* Another server stored a report the cache has not read (reload()):
   * only a read of the store fills the cache again, not this server's
   * own completions, which may be older. */
  bool stale;
};


/* What this module's dedup entries name as their route: the table's entry,
 * not the ec_route_t, which may be evicted and made again inside the dedup
 * window while a retransmission must still find its answer. The key covers
 * the Uri-Path, so a matching entry is a write to this very status. */
#define STATUS_ROUTE (&ec_api_routes.routes[EC_API_STATUS])

#define HISTORY_DEFAULT_LIMIT 100
#define HISTORY_MAX_LIMIT 1000

/*
 * Max-Age of the answers to reads (API.md section 2). A report can come at
 * any moment, so a copy read once is trusted for a short while only. An
 * observer hears of every change at once, so its copy stays fresh until the
 * next notification; its longer Max-Age only bounds how often an idle
 * observer that re-registers when Max-Age passes (RFC 7641 section 3.3.1)
 * asks again.
 */
#define READ_MAX_AGE_S 10
#define OBSERVE_MAX_AGE_S 120

static void route_path(char *out, size_t cap, const char *dev,
                       const char *dep) {
  snprintf(out, cap, "device/%s/deployment/%s/status", dev, dep);
}

static ec_route_t *route_find(ec_server_t *srv, const char *dev,
                              const char *dep) {
  char path[320];
  route_path(path, sizeof(path), dev, dep);
  coap_resource_t *r = coap_get_resource_from_uri_path(
      srv->ctx, coap_make_str_const(path));
  return r ? coap_resource_get_userdata(r) : NULL;
}

/*
 * srv->routes is a list in order of use, the most recent first. Idle routes
 * (no observers) past --max-idle-resources, or past EC_ROUTE_CACHE_BYTES of
 * cached reports, are evicted from its tail: their libcoap resource and
 * cache go, and the next request for them reaches the dispatcher,
 * which makes them again. So the memory of resources does not grow with
 * the number of devices that ever reported.
 */
#ifndef EC_ROUTE_CACHE_BYTES
#define EC_ROUTE_CACHE_BYTES (8 * 1024 * 1024)
#endif

static void lru_unlink(ec_server_t *srv, ec_route_t *rt) {
  if (rt->prev != NULL)
    rt->prev->next = rt->next;
  else
    srv->routes = rt->next;
  if (rt->next != NULL)
    rt->next->prev = rt->prev;
  else
    srv->routes_tail = rt->prev;
  rt->prev = rt->next = NULL;
}

static void lru_push(ec_server_t *srv, ec_route_t *rt) {
  rt->prev = NULL;
  rt->next = srv->routes;
  if (srv->routes != NULL)
    srv->routes->prev = rt;
  else
    srv->routes_tail = rt;
  srv->routes = rt;
}

static void route_touch(ec_server_t *srv, ec_route_t *rt) {
  if (srv->routes != rt) {
    lru_unlink(srv, rt);
    lru_push(srv, rt);
  }
}

static int cache_json(ec_server_t *srv, ec_route_t *rt);

static void cache_drop(ec_server_t *srv, ec_route_t *rt) {
  srv->route_bytes -= rt->cbor_len + rt->json_len;
  free(rt->cbor);
  free(rt->json);
  rt->cbor = rt->json = NULL;
  rt->cbor_len = rt->json_len = 0;
}

static void route_free(ec_server_t *srv, ec_route_t *rt) {
  cache_drop(srv, rt);
  free(rt->watches); /* empty: emptied by ec_watch_free_all(), or evicted */
  free(rt->device_id);
  free(rt->deployment_id);
  free(rt);
}

/*
 * Evict idle routes past the caps, never @p keep. Only while no write waits
 * for its commit: a pending write holds its route (batch.h).
 */
static void routes_evict(ec_server_t *srv, const ec_route_t *keep) {
  if (srv->n_pending > 0)
    return;
  ec_route_t *rt = srv->routes_tail;
  while (rt != NULL && (srv->n_routes > srv->cfg.max_idle_resources ||
                        srv->route_bytes > EC_ROUTE_CACHE_BYTES)) {
    ec_route_t *prev = rt->prev;
    if (rt != keep && (rt->watches == NULL || rt->watches->count == 0)) {
      lru_unlink(srv, rt);
      srv->n_routes--;
      srv->n_evicted++;
      ec_log(EC_LOG_DEBUG, "status %s/%s: idle resource evicted (%llu so far)",
             rt->device_id, rt->deployment_id,
             (unsigned long long)srv->n_evicted);
      coap_delete_resource(srv->ctx, rt->resource);
      route_free(srv, rt);
    }
    rt = prev;
  }
}

/* Make (or find) the status resource of one (device, deployment). */
static ec_route_t *route_add(ec_server_t *srv, const char *dev,
                             const char *dep) {
  ec_route_t *rt = route_find(srv, dev, dep);
  if (rt != NULL) {
    route_touch(srv, rt);
    return rt;
  }

  char path[320];
  route_path(path, sizeof(path), dev, dep);
  rt = calloc(1, sizeof(*rt));
  if (rt == NULL)
    return NULL;
  rt->device_id = strdup(dev);
  rt->deployment_id = strdup(dep);
  if (rt->device_id == NULL || rt->deployment_id == NULL)
    goto fail_route;
  /* Observed through watch.c, not libcoap (see track_observe). */
  rt->resource = ec_router_resource(srv, STATUS_ROUTE, path, &rt->res);
  if (rt->resource == NULL)
    goto fail_route;
  lru_push(srv, rt);
  srv->n_routes++;
  routes_evict(srv, rt);
  return rt;

fail_route:
  free(rt->device_id);
  free(rt->deployment_id);
  free(rt);
  ec_log(EC_LOG_ERROR, "out of memory creating the resource of %s/%s", dev,
         dep);
  return NULL;
}

void ec_deployment_free_routes(ec_server_t *srv) {
  /* libcoap freed the resources with its context. */
  while (srv->routes != NULL) {
    ec_route_t *rt = srv->routes;
    lru_unlink(srv, rt);
    route_free(srv, rt);
  }
  srv->n_routes = 0;
}

/*
 * The ETag of report @p seq of a status in @p fmt. It is made of what is
 * stored: the resource names the device and deployment, seq the report
 * (the history's, given by the store in the write's own transaction), the
 * low bit the format. So it never names two representations: not after a
 * restart (a counter in memory would start again), not on another server
 * sharing the store (each derives the same one), not across formats; and
 * it grows in write order. seq >= 1, so it is never 0 (no ETag).
 */
static uint64_t status_etag(int64_t seq, ec_format_t fmt) {
  return (uint64_t)seq << 1 | (fmt == EC_FORMAT_CBOR);
}

static unsigned n_observers(const ec_route_t *rt) {
  return rt->watches != NULL ? rt->watches->count : 0;
}

/*
 * The server keeps a status's observations itself (watch.c) rather than
 * leave them to libcoap 4.3.1, which lost every notification after the
 * first block-wise one, merged a session's observations of one resource
 * into the last, and answered a request for block 1 that kept the Observe
 * option (node-coap's way, RFC 7959 section 3.4) with a bare 4.00. Each
 * notification is the current report, its first block when it is larger
 * than a datagram; the observer GETs the rest.
 */
static void refresh_one(ec_server_t *srv, ec_watch_t *w);

static int track_observe(ec_req_t *rq, ec_route_t *rt) {
  if (rq->opt.observe == NULL)
    return 0;
  if (rt->watches == NULL) {
    rt->watches = malloc(sizeof(*rt->watches));
    if (rt->watches == NULL) {
      ec_req_problem(rq, 503, "out-of-memory", NULL, "cannot observe now");
      return -1;
    }
    ec_watch_list_init(NULL, rt->watches, "deployment status");
    rt->watches->owner = rt;
    rt->watches->refresh = refresh_one;
  }
  return ec_watch_request(rq, rt->watches, NULL, NULL) < 0 ? -1 : 0;
}

/* Send the route's current report to one observer. */
static void notify_one(ec_server_t *srv, ec_route_t *rt, ec_watch_t *w) {
  if (rt->cbor == NULL || cache_json(srv, rt) < 0)
    return; /* no cached report to send (out of memory) */
  ec_watch_deliver(srv, w, rt->cbor, rt->cbor_len,
                   status_etag(rt->seq, EC_FORMAT_CBOR), rt->json, rt->json_len,
                   status_etag(rt->seq, EC_FORMAT_JSON), OBSERVE_MAX_AGE_S);
}

/* A deferred notification is due (watch.h). */
static void refresh_one(ec_server_t *srv, ec_watch_t *w) {
  notify_one(srv, w->list->owner, w);
}

/* Send the route's current report to each of its observers. */
static void notify_observers(ec_server_t *srv, ec_route_t *rt) {
  if (rt->watches == NULL)
    return;
  ec_watch_t *next;
  for (ec_watch_t *w = rt->watches->head; w != NULL; w = next) {
    next = w->next;
    notify_one(srv, rt, w);
  }
}

/* True when @p request names exactly the path of @p r. */
static int same_path(const coap_pdu_t *request, coap_resource_t *r) {
  coap_string_t *path = coap_get_uri_path(request);
  coap_str_const_t *rp = coap_resource_get_uri_path(r);
  int same = path != NULL && rp != NULL && path->length == rp->length &&
             memcmp(path->s, rp->s, rp->length) == 0;
  coap_delete_string(path);
  return same;
}


/*
 * Replace the route's cached report with report @p seq's CBOR (taken
 * over), unless the cached one is as new or newer: the cache only moves
 * forward, whatever order commits are published in (a later round's
 * completion, or a write another server made to the same store). Returns
 * true when report @p seq is the one cached now.
 */
static bool cache_put(ec_server_t *srv, ec_route_t *rt, int64_t seq,
                      uint8_t *cbor, size_t cbor_len) {
  if (rt->stale || (rt->cbor != NULL && rt->seq >= seq)) {
    free(cbor);
    return rt->seq == seq;
  }
  cache_drop(srv, rt);
  rt->cbor = cbor;
  rt->cbor_len = cbor_len;
  srv->route_bytes += cbor_len;
  rt->seq = seq;
  return true;
}

static ssize_t enc_status(ec_format_t fmt, const void *doc, uint8_t *buf,
                          size_t cap) {
  return ec_deployment_status_encode(fmt, doc, buf, cap);
}

static ssize_t enc_cbor_json(ec_format_t fmt, const void *doc, uint8_t *buf,
                             size_t cap) {
  const ec_route_t *rt = doc;
  (void)fmt;
  return ec_cbor_to_json(rt->cbor, rt->cbor_len, (char *)buf, cap);
}

/* The cached report's JSON, made from its CBOR when first needed: 0, or
 * EC_ENOMEM. */
static int cache_json(ec_server_t *srv, ec_route_t *rt) {
  if (rt->json != NULL)
    return 0;
  uint8_t *json;
  ssize_t n = ec_encode_new(enc_cbor_json, EC_FORMAT_JSON, rt, &json);
  if (n < 0)
    return EC_ENOMEM;
  rt->json = json;
  rt->json_len = (size_t)n;
  srv->route_bytes += (size_t)n;
  return 0;
}

/* Fill the cache from the store when a route has none yet. */
static int cache_load(ec_req_t *rq, ec_route_t *rt) {
  if (rt->cbor != NULL)
    return 0;
  uint8_t *doc;
  size_t len;
  int64_t seq = 0;
  int rc = ec_store_status_get(rq->srv->store, rt->device_id,
                               rt->deployment_id, &doc, &len, NULL, &seq);
  if (rc < 0)
    return rc;
  ec_deployment_status_t st;
  ec_codec_error_t err;
  if (ec_deployment_status_decode(EC_FORMAT_CBOR, doc, len, &st, &rq->arena,
                                  &err) < 0) {
    ec_log(EC_LOG_ERROR, "stored status of %s/%s does not decode: %s",
           rt->device_id, rt->deployment_id, err.detail);
    free(doc);
    return EC_ESTORE;
  }
  rt->stale = false; /* the store's latest */
  cache_put(rq->srv, rt, seq, doc, len);
  return 0;
}

static void send_cached(ec_req_t *rq, ec_route_t *rt, int code) {
  if (rq->resp_fmt == EC_FORMAT_CBOR)
    ec_req_send(rq, code, EC_FORMAT_CBOR, rt->cbor, rt->cbor_len,
                status_etag(rt->seq, EC_FORMAT_CBOR));
  else if (cache_json(rq->srv, rt) == 0)
    ec_req_send(rq, code, EC_FORMAT_JSON, rt->json, rt->json_len,
                status_etag(rt->seq, EC_FORMAT_JSON));
  else
    ec_req_problem(rq, 500, "out-of-memory", NULL, "cannot encode");
}

static void status_get(ec_req_t *rq, ec_route_t *rt) {
  int rc = cache_load(rq, rt);
  if (rc == EC_ENOTFOUND) {
    ec_req_problem(rq, 404, "no-status", NULL,
                   "no status was reported for device %s deployment %s",
                   rt->device_id, rt->deployment_id);
    return;
  }
  if (rc < 0) {
    ec_req_problem(rq, 500, "storage-failure", NULL, "cannot read: %s",
                   ec_strerror(rc));
    return;
  }
  /* Other spellings of the path are served but not observed (API.md). */
  if ((rq->resource == rt->resource || same_path(rq->request, rt->resource)) &&
      track_observe(rq, rt) < 0)
    return;
  if (rt->watches != NULL &&
      (rq->resp_fmt == EC_FORMAT_CBOR || cache_json(rq->srv, rt) == 0))
    ec_watch_note_fetch(rq, rt->watches, rq->resp_fmt == EC_FORMAT_CBOR
                                             ? rt->cbor_len
                                             : rt->json_len);
  ec_req_max_age(rq, rq->opt.observe != NULL ? OBSERVE_MAX_AGE_S
                                              : READ_MAX_AGE_S);
  send_cached(rq, rt, 205);
}


/* status_get() without the request, for the screen (router.h cached()):
 * the cached report, in a format made already. */
bool ec_deployment_status_cached(ec_server_t *srv, ec_router_res_t *res,
                                 ec_format_t fmt, ec_router_cached_t *out) {
  ec_route_t *rt = (ec_route_t *)res;
  const uint8_t *data = fmt == EC_FORMAT_CBOR ? rt->cbor : rt->json;
  if (data == NULL)
    return false;
  route_touch(srv, rt);
  out->data = data;
  out->len = fmt == EC_FORMAT_CBOR ? rt->cbor_len : rt->json_len;
  out->fmt = fmt;
  out->etag = status_etag(rt->seq, fmt);
  out->max_age = READ_MAX_AGE_S;
  return true;
}

/* Answer @p code with stored report @p seq, @p cbor, in the response format. */
static void send_stored(ec_req_t *rq, int code, int64_t seq,
                        const uint8_t *cbor, size_t cbor_len) {
  if (rq->resp_fmt == EC_FORMAT_CBOR) {
    ec_req_send(rq, code, EC_FORMAT_CBOR, cbor, cbor_len,
                status_etag(seq, EC_FORMAT_CBOR));
    return;
  }
  ec_route_t stored = {.cbor = (uint8_t *)cbor, .cbor_len = cbor_len};
  uint8_t *json = NULL;
  ssize_t len = ec_encode_new(enc_cbor_json, EC_FORMAT_JSON, &stored, &json);
  if (len >= 0)
    ec_req_send(rq, code, EC_FORMAT_JSON, json, (size_t)len,
                status_etag(seq, EC_FORMAT_JSON));
  else
    ec_req_problem(rq, 500, "out-of-memory", NULL, "cannot encode");
  free(json);
}

/* The device and deployment of a status request: its resource's, or the
 * path's ids when it came through the unknown resource. */
static void status_ids(ec_req_t *rq, const char **dev, const char **dep) {
  const ec_route_t *rt = rq->res;
  *dev = rt != NULL ? rt->device_id : rq->params[0];
  *dep = rt != NULL ? rt->deployment_id : rq->params[1];
}

void ec_deployment_status_replay(ec_req_t *rq, const ec_dedup_answer_t *a) {
  const char *dev, *dep;
  status_ids(rq, &dev, &dep);
  ec_history_entry_t *h = NULL;
  size_t n = 0;
  int rc = ec_store_history(rq->srv->store, dev, dep, a->ref - 1, 1, &h, &n);
  if (rc < 0 || n != 1 || h[0].seq != a->ref) {
    free(h);
    ec_req_problem(rq, 500, "storage-failure", NULL,
                   "cannot rebuild the answer to a retransmitted request");
    return;
  }
  ec_log(EC_LOG_INFO, "status %s/%s: retransmission of seq %lld answered again",
         dev, dep, (long long)a->ref);
  send_stored(rq, a->code, a->ref, h[0].report, h[0].report_len);
  free(h);
}

/*
 * A write whose Request-Id the device used before (API.md, "Request-Id"):
 * the same report is answered 2.04 with what was stored then, and nothing
 * is written again; another report under that id is 4.09. @p doc is the
 * request's report in the stored (CBOR) form. Returns 1 when answered, 0
 * when the id is new.
 */
static int repeat(ec_req_t *rq, const char *dev, const char *dep,
                  const uint8_t *rid, size_t rid_len, const uint8_t *doc,
                  size_t doc_len) {
  ec_store_t *store = rq->srv->store;
  char was[EC_STORE_MAX_ID_LEN + 1];
  int64_t seq = 0;
  uint8_t *old = NULL;
  size_t old_len = 0;
  int rc = ec_store_status_by_request(store, dev, rid, rid_len, was, &seq,
                                      &old, &old_len);
  if (rc == EC_EBUSY) {
    /* Queued in this round, so not durable yet: commit before saying it is
     * stored (a failed commit took it away: then it is new). */
    ec_batch_commit(rq->srv);
    rc = ec_store_status_by_request(store, dev, rid, rid_len, was, &seq,
                                    &old, &old_len);
  }
  if (rc == EC_EBUSY) {
    ec_batch_busy(rq);
    return 1;
  }
  if (rc == EC_ENOTFOUND)
    return 0;
  if (rc < 0) {
    ec_req_store_error(rq, rc);
    return 1;
  }
  if (strcmp(was, dep) != 0 || old_len != doc_len ||
      memcmp(old, doc, doc_len) != 0) {
    ec_req_problem(rq, 409, "request-id-conflict", NULL,
                   "this Request-Id names another write of device %s "
                   "(deployment %s, history seq %lld)",
                   dev, was, (long long)seq);
  } else {
    ec_log(EC_LOG_INFO, "status %s/%s: repeat of seq %lld (Request-Id) "
           "answered again", dev, dep, (long long)seq);
    send_stored(rq, 204, seq, old, old_len);
  }
  free(old);
  return 1;
}

/* A report stored in the open batch, waiting for its COMMIT (batch.h). */
typedef struct {
  ec_pending_t base;
  ec_route_t *rt;
  int code;
  int64_t seq;
  ec_state_t state;
  int64_t at_ms;       /* when it was received */
  char *error_code;    /* status.error.code, or NULL */
  ec_dedup_key_t key;  /* the request's, for the dedup entry */
  uint8_t *cbor;       /* the stored report: the answer */
  size_t cbor_len;
} status_pending_t;

static uint8_t *memdup(const uint8_t *p, size_t n) {
  uint8_t *q = malloc(n ? n : 1);
  if (q != NULL)
    memcpy(q, p, n);
  return q;
}

/* Committed: publish the report as a synchronous write does. */
static void pending_done(ec_server_t *srv, ec_pending_t *base) {
  status_pending_t *p = (status_pending_t *)base;
  ec_route_t *rt = p->rt;
  p->seq = base->status.seq;
  ec_report_t r = {rt->device_id, rt->deployment_id, p->state, p->error_code,
                   p->at_ms, p->seq};
  ec_fleet_reported(srv, &r);
  p->code = base->status.created ? 201 : 204;
  uint8_t *cbor = memdup(p->cbor, p->cbor_len);
  bool fresh; /* this report is the newest the route has seen */
  if (cbor == NULL) {
    fresh = rt->cbor == NULL || rt->seq < p->seq;
    if (fresh)
      cache_drop(srv, rt); /* stale now: the next read reloads it */
  } else {
    fresh = cache_put(srv, rt, p->seq, cbor, p->cbor_len);
  }
  ec_dedup_answer_t a = {STATUS_ROUTE, p->code, p->seq, 1};
  ec_dedup_put(srv->dedup, &p->key, &a);
  ec_log(base->status.created ? EC_LOG_INFO : EC_LOG_DEBUG,
         "status %s/%s: %s, %s (seq %lld, %u observers)", rt->device_id,
         rt->deployment_id, ec_state_name(p->state),
         base->status.created ? "created" : "changed", (long long)p->seq,
         n_observers(rt));
  if (fresh) /* else observers heard of a newer one already */
    notify_observers(srv, rt);
}

static void pending_answer(ec_req_t *rq, ec_pending_t *base) {
  status_pending_t *p = (status_pending_t *)base;
  if (!p->base.committed) {
    ec_batch_not_stored(rq, p->base.status.rc,
                        "the report was not stored: the commit failed");
    return;
  }
  /* A separate answer is confirmable, and libcoap sends it up to five times
   * (RFC 7252's MAX_RETRANSMIT) until it is acknowledged: to an address not
   * yet verified (echo.h) it carries its code and ETag alone, so that a
   * forged source draws less than the report it sent, all copies together. */
  if (!rq->verified) {
    ec_req_empty_etag(rq, p->code, status_etag(p->seq, rq->resp_fmt));
    return;
  }
  send_stored(rq, p->code, p->seq, p->cbor, p->cbor_len);
}

static void pending_free(ec_pending_t *base) {
  status_pending_t *p = (status_pending_t *)base;
  free(p->cbor);
  free(p->error_code);
  free(p);
}

/*
 * Store a validated report in the open batch and defer its answer to the
 * batch's COMMIT. Takes @p doc. Returns 1 when the request is dealt with
 * (deferred or answered), 0 when it must go the synchronous way.
 */
static int status_write_batched(ec_req_t *rq, ec_route_t **rtp,
                                const char *dev, const char *dep,
                                const ec_deployment_status_t *st, uint8_t *doc,
                                size_t doc_len, const uint8_t *rid,
                                size_t rid_len) {
  ec_server_t *srv = rq->srv;
  /* A write alone in its round would be a batch of one: commit it at once
   * and answer it in the ACK (2 datagrams, not an empty ACK and a separate
   * response: 4). Only when other writes are pending or datagrams wait is
   * there a batch to share. */
  if (!ec_batch_others_waiting(srv))
    return 0;
  /* A first report joins the batch too (after a restart every device's
   * report is one): its resource is made now, empty until the COMMIT
   * fills its cache, so that the pending write holds it and the deferred
   * answer, if any, comes through it. A GET before then finds no report
   * committed, as it would without the resource. */
  if (*rtp == NULL && (*rtp = route_add(srv, dev, dep)) == NULL)
    return 0;
  ec_route_t *rt = *rtp;
  status_pending_t *p = calloc(1, sizeof(*p));
  if (p == NULL)
    return 0;
  ec_status_write_t w = {rt->device_id, rt->deployment_id, st->state, doc,
                         doc_len, ec_now_ms(), rid, rid_len, NULL, NULL, 0};
  if (ec_fleet_write_facts(st, &rq->arena, &w) < 0) {
    free(p);
    return 0;
  }
  p->base.done = pending_done;
  p->base.answer = pending_answer;
  p->base.free = pending_free;
  if (ec_batch_status_put(srv, &p->base, &w) < 0) {
    free(p);
    return 0;
  }
  p->rt = rt;
  p->state = st->state;
  p->at_ms = w.received_at_ms;
  /* Lost only to the live view (srv->on_report) when memory is short. */
  p->error_code = w.error_code != NULL ? strdup(w.error_code) : NULL;
  p->key = *ec_req_dedup_key(rq);
  p->cbor = doc;
  p->cbor_len = doc_len;
  /* Its answer (pending_answer): the stored CBOR, or to an address not
   * verified its code and ETag alone; a JSON one is not known yet. */
  p->base.ack_ok = !rq->verified || rq->resp_fmt == EC_FORMAT_CBOR;
  p->base.ack_len = rq->verified ? doc_len : 0;
  ec_batch_hold(rq, &p->base);
  return 1;
}

/*
 * If-Match and If-None-Match (RFC 7252 section 5.10.8) against the current
 * report: If-Match holds when one of its ETags is the current report's (in
 * either format: both name the same report) or is empty and a report
 * exists; If-None-Match holds when none exists. Returns 0 to go on, -1 when
 * 4.12 (or a storage failure) was answered and nothing may be written.
 */
static int preconditions(ec_req_t *rq, ec_route_t *rt, const char *dev,
                         const char *dep) {
  coap_opt_iterator_t it;
  coap_opt_filter_t filter;
  const coap_opt_t *opt;
  int none_match = rq->opt.if_none_match != NULL;
  int has_match = rq->opt.if_match != NULL;
  if (!has_match && !none_match)
    return 0;
  /* Compare with what is committed, the writes of an open batch included:
   * they are published first, so two conditional writes of one batch cannot
   * both match the state before it. */
  ec_batch_commit(rq->srv);
  int64_t seq = 0;
  int rc;
  if (rt != NULL) {
    rc = cache_load(rq, rt);
    seq = rc == 0 ? rt->seq : 0;
  } else {
    /* No resource (yet, or no longer held in memory): ask the store. */
    uint8_t *doc = NULL;
    size_t len;
    rc = ec_store_status_get(rq->srv->store, dev, dep, &doc, &len, NULL, &seq);
    free(doc);
  }
  if (rc < 0 && rc != EC_ENOTFOUND) {
    ec_req_problem(rq, 500, "storage-failure", NULL, "cannot read: %s",
                   ec_strerror(rc));
    return -1;
  }
  if (rc < 0)
    seq = 0;
  int matched = 0;
  coap_option_filter_clear(&filter);
  coap_option_filter_set(&filter, COAP_OPTION_IF_MATCH);
  coap_option_iterator_init(rq->request, &it, &filter);
  while (!matched && (opt = coap_option_next(&it)) != NULL) {
    size_t len = coap_opt_length(opt);
    if (len == 0) {
      matched = seq > 0;
    } else if (seq > 0 && len <= 8) {
      uint64_t e = coap_decode_var_bytes8(coap_opt_value(opt), len);
      matched = e == status_etag(seq, EC_FORMAT_JSON) ||
                e == status_etag(seq, EC_FORMAT_CBOR);
    }
  }
  if (has_match && !matched) {
    ec_req_problem(rq, 412, "precondition-failed", NULL,
                   seq > 0 ? "If-Match names no ETag of the current report"
                           : "If-Match, and no report was stored yet");
    return -1;
  }
  if (none_match && seq > 0) {
    ec_req_problem(rq, 412, "precondition-failed", NULL,
                   "If-None-Match, and a report is stored already");
    return -1;
  }
  return 0;
}

/* POST or PUT a report (the dispatcher has read its Request-Id and body).
 * @p rt is NULL when the pair has no resources yet. */
static void status_write(ec_req_t *rq, ec_route_t *rt, const char *dev,
                         const char *dep) {
  const uint8_t *rid = rq->rid;
  size_t rid_len = rq->rid_len;
  if (rq->body_len == 0) {
    ec_req_problem(rq, 400, "missing-body", NULL,
                   "a DeploymentStatus document is required");
    return;
  }

  ec_deployment_status_t st;
  ec_codec_error_t err;
  bool canonical;
  if (ec_deployment_status_decode_canon(rq->req_fmt, rq->body, rq->body_len,
                                        &st, &rq->arena, &err,
                                        &canonical) < 0 ||
      ec_deployment_status_check_route(&st, dep, &err) < 0) {
    ec_req_codec_error(rq, &err);
    return;
  }

  /* The stored form: CBOR as the encoder writes it, which a device's CBOR
   * report usually is already (then it is kept as it came). */
  uint8_t *doc = NULL;
  ssize_t n;
  if (canonical) {
    n = (doc = malloc(rq->body_len + 1)) != NULL ? (ssize_t)rq->body_len
                                                 : EC_ENOMEM;
    if (doc != NULL) {
      memcpy(doc, rq->body, rq->body_len);
      doc[n] = 0;
    }
  } else {
    n = ec_encode_new(enc_status, EC_FORMAT_CBOR, &st, &doc);
  }
  if (n <= 0) {
    free(doc);
    ec_req_problem(rq, 500, "out-of-memory", NULL, "cannot encode the report");
    return;
  }
  /* A repeat is answered before the preconditions: what they guard was
   * already decided by the write it repeats. */
  if ((rid_len > 0 && repeat(rq, dev, dep, rid, rid_len, doc, (size_t)n)) ||
      preconditions(rq, rt, dev, dep) < 0) {
    free(doc);
    return;
  }

  /* A confirmable single-datagram write joins the group commit, a pair's
   * first report too; block-wise uploads go the synchronous way. */
  if (rq->batch_ok && !rq->upload_done &&
      coap_pdu_get_type(rq->request) == COAP_MESSAGE_CON &&
      status_write_batched(rq, &rt, dev, dep, &st, doc, (size_t)n, rid,
                           rid_len))
    return;

  ec_status_write_t w = {dev,         dep, st.state, doc, (size_t)n,
                         ec_now_ms(), rid, rid_len, NULL, NULL, 0};
  int created = 0;
  int64_t seq = 0;
  int rc = ec_fleet_write_facts(&st, &rq->arena, &w);
  if (rc == 0)
    rc = ec_store_status_put(rq->srv->store, &w, &created, &seq);
  if (rc < 0) {
    free(doc);
    ec_req_store_error(rq, rc);
    return;
  }
  ec_report_t r = {dev, dep, st.state, w.error_code, w.received_at_ms, seq};
  ec_fleet_reported(rq->srv, &r);

  /* Committed: from here on the answer is a success whatever else fails. */
  if (rt == NULL)
    rt = route_add(rq->srv, dev, dep);
  /* A first report came through the unknown-path resource. If its answer
   * goes out block-wise, the client asks for the next blocks at the same
   * path, which the new resource now owns: libcoap only continues a Block2
   * transfer for the resource that started it, so start it from there. */
  if (rt != NULL && rq->resource != rt->resource &&
      same_path(rq->request, rt->resource))
    rq->resource = rt->resource;
  int code = created ? 201 : 204;
  /* Remembered before anything else can fail: it is stored. */
  ec_dedup_answer_t a = {STATUS_ROUTE, code, seq, 1};
  if (coap_pdu_get_type(rq->request) == COAP_MESSAGE_CON)
    ec_dedup_put(rq->srv->dedup, ec_req_dedup_key(rq), &a);
  int cached = rt == NULL                                   ? EC_ENOMEM
               : cache_put(rq->srv, rt, seq, doc, (size_t)n) ? 0
                                                             : 1;
  if (cached != 0) {
    /* The report is stored, and no encoding of it is left to answer with
     * (out of memory), or a newer one is cached: name it by its ETag. */
    if (cached == 1)
      ec_req_empty_etag(rq, code, status_etag(seq, rq->resp_fmt));
    else
      ec_req_empty(rq, code);
    if (rt == NULL)
      free(doc);
    return;
  }
  routes_evict(rq->srv, rt); /* the cache grew */
  ec_log(created ? EC_LOG_INFO : EC_LOG_DEBUG,
         "status %s/%s: %s, %s (seq %lld, %u observers)", dev, dep,
         ec_state_name(st.state), created ? "created" : "changed",
         (long long)seq, n_observers(rt));
  send_cached(rq, rt, code);
  notify_observers(rq->srv, rt);
}

/* Answer one encoded page of a list (NULL when encoding it failed: 5.00
 * naming @p what), and free it. */
static void send_page(ec_req_t *rq, uint8_t *buf, size_t len,
                      const char *what) {
  if (buf != NULL) {
    ec_req_max_age(rq, READ_MAX_AGE_S);
    ec_req_send(rq, 205, rq->resp_fmt, buf, len, 0);
  } else {
    ec_req_problem(rq, 500, "encoding-failure", NULL, "cannot encode %s",
                   what);
  }
  free(buf);
}

typedef struct {
  const ec_history_entry_t *h;
  size_t n;
} history_t;

static ssize_t enc_history(ec_format_t fmt, const void *doc, uint8_t *buf,
                           size_t cap) {
  const history_t *l = doc;
  return ec_history_encode(fmt, l->h, l->n, buf, cap);
}

/* The history has no resource of its own (nothing observes it): every
 * request comes through the unknown resource. */
static void history_get(ec_req_t *rq, const char *dev, const char *dep) {
  static const char *const allowed[] = {"since", "limit", NULL};
  int64_t since, limit;
  if (ec_req_query_check(rq, allowed) < 0 ||
      ec_req_query_int(rq, "since", 0, INT64_MAX, 0, &since) < 0 ||
      ec_req_query_int(rq, "limit", 1, HISTORY_MAX_LIMIT,
                       HISTORY_DEFAULT_LIMIT, &limit) < 0)
    return;

  /* One page of at most EC_PAGE_BYTES of stored reports, whatever the
   * limit; nextSince says where the next starts when the cap cut it. */
  ec_history_entry_t *h = NULL;
  size_t n = 0;
  bool more = false;
  int rc = ec_store_history_page(rq->srv->store, dev, dep, since, (int)limit,
                                 EC_PAGE_BYTES, &h, &n, &more);
  uint8_t *doc = NULL;
  size_t doc_len;
  if (rc == 0 && n == 0 &&
      (rc = ec_store_status_get(rq->srv->store, dev, dep, &doc, &doc_len,
                                NULL, NULL)) == EC_ENOTFOUND) {
    ec_req_problem(rq, 404, "no-status", NULL,
                   "no status was reported for device %s deployment %s", dev,
                   dep);
    return;
  }
  free(doc);
  if (rc < 0) {
    ec_req_problem(rq, 500, "storage-failure", NULL, "cannot read: %s",
                   ec_strerror(rc));
    return;
  }
  history_t list = {h, n};
  uint8_t *buf = NULL;
  ssize_t len = ec_encode_new(enc_history, rq->resp_fmt, &list, &buf);
  size_t out_len = (size_t)len;
  if (len >= 0 &&
      more && ec_envelope_add_int(rq->resp_fmt, &buf, &out_len, "nextSince",
                                  h[n - 1].seq) < 0) {
    free(buf);
    buf = NULL;
  }
  send_page(rq, buf, out_len, "the history");
  free(h);
}

typedef struct {
  const ec_deployment_summary_t *list;
  size_t n;
} summaries_t;

static ssize_t enc_summaries(ec_format_t fmt, const void *doc, uint8_t *buf,
                             size_t cap) {
  const summaries_t *l = doc;
  return ec_deployments_encode(fmt, l->list, l->n, buf, cap);
}

/* One page of at most EC_PAGE_BYTES of the device's deployments, after
 * the query's "after" id; nextAfter says where the next starts when the
 * cap ended it. */
static void deployments_get(ec_req_t *rq, const char *dev) {
  const uint8_t *v;
  char after[129];
  int alen = ec_req_query(rq, "after", &v);
  if (alen >= 0) {
    if (alen == 0 || alen >= (int)sizeof(after)) {
      ec_req_problem(rq, 400, "invalid-query", "after",
                     "after is a deploymentId (1 to 128 characters)");
      return;
    }
    memcpy(after, v, (size_t)alen);
    after[alen] = '\0';
    if (!ec_id_valid(after)) {
      ec_req_problem(rq, 400, "invalid-query", "after",
                     "after is a deploymentId: A-Z a-z 0-9 - . _ ~ : @");
      return;
    }
  }
  ec_deployment_summary_t *list = NULL;
  size_t n = 0;
  bool more = false;
  int rc = ec_store_deployments_page(rq->srv->store, dev,
                                     alen >= 0 ? after : NULL, EC_PAGE_BYTES,
                                     &list, &n, &more);
  if (rc < 0) {
    ec_req_problem(rq, 500, "storage-failure", NULL, "cannot read: %s",
                   ec_strerror(rc));
    return;
  }
  summaries_t all = {list, n};
  uint8_t *buf = NULL;
  ssize_t len = ec_encode_new(enc_summaries, rq->resp_fmt, &all, &buf);
  size_t out_len = (size_t)len;
  if (len >= 0 && more &&
      ec_envelope_add_text(rq->resp_fmt, &buf, &out_len, "nextAfter",
                           list[n - 1].deployment_id) < 0) {
    free(buf);
    buf = NULL;
  }
  send_page(rq, buf, out_len, "the deployments");
  free(list);
}

/*
 * A GET of a status with no resource: never made since the start, or
 * evicted. A stored status gets its resource again, and an Observe of it is
 * registered as on the resource (watch.c keeps observations, not libcoap).
 */
static void status_get_unknown(ec_req_t *rq, ec_route_t *rt, const char *dev,
                               const char *dep) {
  if (rt == NULL) {
    uint8_t *doc = NULL;
    size_t len;
    int rc = ec_store_status_get(rq->srv->store, dev, dep, &doc, &len, NULL,
                                 NULL);
    free(doc);
    if (rc == EC_ENOTFOUND) {
      ec_req_problem(rq, 404, "no-status", NULL,
                     "no status was reported for device %s deployment %s",
                     dev, dep);
      return;
    }
    if (rc < 0) {
      ec_req_store_error(rq, rc);
      return;
    }
    if ((rt = route_add(rq->srv, dev, dep)) == NULL) {
      ec_req_problem(rq, 500, "out-of-memory", NULL,
                     "no memory for the resource");
      return;
    }
  }
  status_get(rq, rt);
  routes_evict(rq->srv, rt); /* the cache may have grown */
}

void ec_deployment_status(ec_req_t *rq) {
  ec_server_t *srv = rq->srv;
  ec_route_t *rt = rq->res;
  const char *dev, *dep;
  status_ids(rq, &dev, &dep);
  if (rt == NULL)
    rt = route_find(srv, dev, dep); /* another spelling, or none yet */
  if (rt != NULL)
    route_touch(srv, rt);
  if (rq->method != COAP_REQUEST_CODE_GET) {
    status_write(rq, rt, dev, dep);
  } else if (rq->res != NULL) {
    status_get(rq, rt);
    routes_evict(srv, rt); /* the cache may have grown */
  } else {
    status_get_unknown(rq, rt, dev, dep);
  }
}

void ec_deployment_history(ec_req_t *rq) {
  history_get(rq, rq->params[0], rq->params[1]);
}

void ec_deployment_list(ec_req_t *rq) {
  deployments_get(rq, rq->params[0]); /* an unknown device has none */
}

/*
 * A report another server wrote to the shared store (store.h's hints):
 * read it back, as a GET of a resource not made yet would, and publish it
 * as a committed write of this server's own is, to the route's observers,
 * the fleet's roll-ups and the live view. The route is made when this
 * server has not seen the pair yet; the cache only moves forward (seq), so
 * a hint that comes late, or twice, changes nothing.
 */
static void reload(ec_server_t *srv, ec_route_t *rt) {
  /* Nobody to tell now (no observer, no roll-up observer or live view of
   * its deployment): the cache is dropped, and the next read of the route
   * reads the store, rather than two reads here for every report another
   * server stores. */
  if (n_observers(rt) == 0 && !ec_fleet_listens(srv, rt->deployment_id)) {
    cache_drop(srv, rt);
    rt->stale = true;
    return;
  }
  uint8_t *doc = NULL;
  size_t len = 0;
  int64_t seq = 0, at = 0;
  if (ec_store_status_get(srv->store, rt->device_id, rt->deployment_id, &doc,
                          &len, &at, &seq) != 0)
    return;
  rt->stale = false; /* the store's latest */
  if (seq <= rt->seq) {
    free(doc); /* heard of already */
    return;
  }
  /* The state and error code the roll-ups and the live view count. */
  ec_store_fleet_query_t q = {rt->device_id, rt->deployment_id, -1, NULL,
                              NULL, 1};
  ec_fleet_device_t *row = NULL;
  size_t n = 0;
  if (ec_store_fleet_devices(srv->store, &q, 0, &row, &n, NULL) == 0 &&
      n == 1) {
    ec_report_t r = {rt->device_id, rt->deployment_id, row->state,
                     row->error_code, at, seq};
    ec_fleet_reported(srv, &r);
  }
  free(row);
  if (cache_put(srv, rt, seq, doc, len))
    notify_observers(srv, rt);
}

void ec_deployment_changed(ec_server_t *srv, const char *dev,
                           const char *dep) {
  ec_route_t *rt = route_add(srv, dev, dep);
  if (rt == NULL)
    return;
  reload(srv, rt);
  routes_evict(srv, rt); /* the cache may have grown */
}

void ec_deployment_resync(ec_server_t *srv) {
  /* Observed routes first in the list or not, each is read again. */
  ec_route_t *next;
  for (ec_route_t *rt = srv->routes; rt != NULL; rt = next) {
    next = rt->next;
    if (n_observers(rt) > 0)
      reload(srv, rt);
  }
  routes_evict(srv, NULL);
}
