/* edgecoap server: the static route table and the one dispatcher every request goes through. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "router.h"

#include <stdlib.h>
#include <string.h>

#include "accesslog.h"
#include "batch.h"
#include "log.h"
#include "park.h"
#include "peer.h"
#include "util.h"

/* One template, split once at start: a literal segment, or the index of
 * its id's parameter. */
typedef struct {
  const char *lit; /* NULL for an id */
  size_t lit_len;
  int param;       /* index into table->params, for an id */
} seg_t;

typedef struct {
  seg_t segs[EC_ROUTE_MAX_SEGMENTS];
  int n;
  int first_id; /* the segment of the first id, or -1 */
  int metric;   /* its route in the metrics registry (metrics.h) */
} compiled_t;

struct ec_router {
  const ec_route_table_t *table;
  compiled_t *compiled;        /* one per route */
  ec_router_res_t *own;        /* the resources of routes without ids */
  coap_resource_t *unknown;
};

static int param_index(const ec_route_table_t *t, const char *name,
                       size_t len) {
  for (size_t i = 0; i < t->n_params; i++)
    if (strlen(t->params[i].name) == len &&
        memcmp(t->params[i].name, name, len) == 0)
      return (int)i;
  return -1;
}

static int compile(const ec_route_table_t *t, const char *path,
                   compiled_t *c) {
  const char *p = path;
  int ids = 0;
  c->n = 0;
  c->first_id = -1;
  while (*p != '\0') {
    const char *end = strchr(p, '/');
    size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
    if (len == 0 || len > EC_ROUTE_SEGMENT_MAX || c->n == EC_ROUTE_MAX_SEGMENTS)
      return EC_EINVAL;
    seg_t *s = &c->segs[c->n];
    if (p[0] == '{') {
      if (p[len - 1] != '}' || len < 3 || ids == EC_REQ_MAX_PARAMS ||
          (s->param = param_index(t, p + 1, len - 2)) < 0)
        return EC_EINVAL;
      s->lit = NULL;
      if (c->first_id < 0)
        c->first_id = c->n;
      ids++;
    } else {
      if (memchr(p, '{', len) != NULL || memchr(p, '}', len) != NULL)
        return EC_EINVAL;
      s->lit = p;
      s->lit_len = len;
    }
    c->n++;
    p += len;
    if (*p == '/' && *++p == '\0')
      return EC_EINVAL; /* a trailing '/' */
  }
  return c->n > 0 ? 0 : EC_EINVAL;
}

int ec_router_new(const ec_route_table_t *table, ec_router_t **out) {
  if (table == NULL || out == NULL || table->n_routes == 0)
    return EC_EINVAL;
  ec_router_t *r = calloc(1, sizeof(*r));
  if (r == NULL)
    return EC_ENOMEM;
  r->table = table;
  r->compiled = calloc(table->n_routes, sizeof(*r->compiled));
  r->own = calloc(table->n_routes, sizeof(*r->own));
  if (r->compiled == NULL || r->own == NULL) {
    ec_router_delete(r);
    return EC_ENOMEM;
  }
  for (size_t i = 0; i < table->n_routes; i++) {
    const ec_route_spec_t *s = &table->routes[i];
    if (s->path == NULL || s->handler == NULL ||
        compile(table, s->path, &r->compiled[i]) < 0) {
      ec_log(EC_LOG_ERROR, "route table: entry %zu (%s) is not a valid "
             "template", i, s->path ? s->path : "(none)");
      ec_router_delete(r);
      return EC_EINVAL;
    }
  }
  *out = r;
  return 0;
}

void ec_router_delete(ec_router_t *r) {
  if (r == NULL)
    return;
  free(r->compiled);
  free(r->own);
  free(r);
}

static bool literal_is(const seg_t *s, const char *seg) {
  return strlen(seg) == s->lit_len && memcmp(seg, s->lit, s->lit_len) == 0;
}

bool ec_router_match(const ec_router_t *r,
                     char (*segs)[EC_ROUTE_SEGMENT_MAX + 1], int n,
                     ec_route_match_t *m) {
  const ec_route_table_t *t = r->table;
  memset(m, 0, sizeof(*m));
  m->bad_param = -1;
  m->owner = -1;
  for (size_t i = 0; i < t->n_routes; i++) {
    const compiled_t *c = &r->compiled[i];
    /* The first route under the same first segment speaks for paths no
     * route matches there (their access rule). */
    if (m->spec == NULL && n > 0 && c->segs[0].lit != NULL &&
        literal_is(&c->segs[0], segs[0])) {
      m->spec = &t->routes[i];
      m->owner = c->first_id;
    }
    if (c->n != n)
      continue;
    int k = 0;
    while (k < n && (c->segs[k].lit == NULL || literal_is(&c->segs[k], segs[k])))
      k++;
    if (k < n)
      continue;
    m->spec = &t->routes[i];
    m->owner = c->first_id;
    m->matched = true;
    for (k = 0; k < n; k++) {
      if (c->segs[k].lit != NULL)
        continue;
      const ec_route_param_t *p = &t->params[c->segs[k].param];
      if (m->bad_param < 0 && !p->check(segs[k])) {
        m->bad_param = m->n_params;
        m->bad = p;
      }
      m->params[m->n_params++] = segs[k];
    }
    return true;
  }
  return false;
}

/* ---- the dispatcher ----------------------------------------------------- */

static bool is_write(coap_pdu_code_t method) {
  return method == COAP_REQUEST_CODE_POST || method == COAP_REQUEST_CODE_PUT;
}

/* Answer the request libcoap runs again for a deferred answer (batch.h):
 * when it was refused this time (a revoked identity), the answer is
 * dropped and the refusal stands. */
static bool deferred(ec_req_t *rq, int refused, uint64_t *since_us) {
  ec_pending_t *p = ec_batch_take(rq);
  if (p == NULL)
    return false;
  *since_us = p->since_us; /* its time runs from its first dispatch */
  if (refused)
    ec_batch_release(rq, p);
  else
    ec_batch_answer(rq, p);
  return true;
}

/* A request libcoap read on coap://: its session is alive for another
 * session timeout from now, which the screen needs to know before it
 * answers that peer without libcoap (screen.h). A peer that may be
 * answered so (a GET of a route with cached()) is remembered from its
 * first such read; any other's time is kept only if it has a peer. */
static void note_seen(ec_server_t *srv, coap_session_t *session,
                      const ec_router_res_t *res, coap_pdu_code_t method,
                      uint64_t now_us) {
  if (coap_session_get_proto(session) != COAP_PROTO_UDP)
    return;
  ec_peer_t *p = method == COAP_REQUEST_CODE_GET && res != NULL &&
                         res->spec->cached != NULL
                     ? ec_peer_get(srv, session)
                     : coap_session_get_app_data(session);
  if (p != NULL)
    p->seen_us = now_us;
}

const ec_route_spec_t *ec_router_cached(ec_server_t *srv, const char *path,
                                        size_t len, ec_format_t fmt,
                                        ec_router_cached_t *out) {
  coap_str_const_t uri = {len, (const uint8_t *)path};
  coap_resource_t *resource = coap_get_resource_from_uri_path(srv->ctx, &uri);
  if (resource == NULL || resource == srv->router->unknown)
    return NULL;
  ec_router_res_t *res = coap_resource_get_userdata(resource);
  const ec_route_spec_t *spec = res != NULL ? res->spec : NULL;
  unsigned want = fmt == EC_FORMAT_CBOR ? EC_FMT_CBOR : EC_FMT_JSON;
  if (spec == NULL || spec->cached == NULL || !(spec->methods & EC_GET) ||
      !(spec->formats & want) || !spec->cached(srv, res, fmt, out))
    return NULL;
  return spec;
}

static void dispatch(coap_resource_t *resource, coap_session_t *session,
                     const coap_pdu_t *request, const coap_string_t *query,
                     coap_pdu_t *response) {
  ec_server_t *srv = coap_get_app_data(coap_session_get_context(session));
  uint64_t since_us = ec_mono_us();
  ec_router_t *r = srv->router;
  ec_router_res_t *res =
      resource == r->unknown ? NULL : coap_resource_get_userdata(resource);
  coap_pdu_code_t method = coap_pdu_get_code(request);
  bool write = is_write(method);
  note_seen(srv, session, res, method, since_us);
  /* A request libcoap read from the coap:// socket (not one it runs again
   * to answer, coap_register_async): its one read of that socket in this
   * coap_io_process() is done, so a look at the socket now stays true
   * until the next screen (screen.h ec_screen_look). */
  if (srv->coap_may_read &&
      coap_session_get_proto(session) == COAP_PROTO_UDP &&
      coap_find_async(session, coap_pdu_get_token(request)) == NULL)
    srv->coap_may_read = false;
  /* A retransmission of a write held for its late ACK: the ACK, once its
   * commit is known, answers it too (batch.h). An empty NON answer is
   * dropped by libcoap. */
  if (write && srv->acks != NULL &&
      coap_pdu_get_type(request) == COAP_MESSAGE_CON &&
      ec_batch_acking(srv, session, request)) {
    coap_pdu_set_type(response, COAP_MESSAGE_NON);
    return;
  }
  char segs[EC_ROUTE_MAX_SEGMENTS][EC_ROUTE_SEGMENT_MAX + 1];
  ec_route_match_t m;
  const ec_route_spec_t *spec = res != NULL ? res->spec : NULL;
  int n = 0;

  /* A request through a route's own resource is matched already; its path
   * is read only for the access rule of a DTLS identity. */
  memset(&m, 0, sizeof(m));
  m.owner = -1;
  m.bad_param = -1;
  if (res == NULL ||
      coap_session_get_proto(session) == COAP_PROTO_DTLS) {
    n = ec_req_path(request, segs, EC_ROUTE_MAX_SEGMENTS);
    ec_router_match(r, segs, n, &m);
  }
  if (res != NULL) {
    m.spec = spec;
    m.matched = true;
    m.owner = r->compiled[spec - r->table->routes].first_id;
  }
  spec = m.matched ? m.spec : NULL;

  /* Every request but a write its route batches first makes the open
   * batch durable: no read may see, and no other write nest in, what is
   * not committed. A write to a path whose resource is not made yet (a
   * pair's first report) batches too when it names a route. */
  bool batched = write && spec != NULL && (spec->flags & EC_ROUTE_BATCH) &&
                 (res != NULL || m.bad_param < 0);
  if (!batched)
    ec_batch_commit(srv);
  ec_req_t rq;
  int rc = ec_req_setup(&rq, srv, resource, session, request, query,
                        response, spec != NULL ? spec->formats : EC_FMT_DOC);
  rq.batch_ok = batched;
  rq.route = spec;
  rq.res = res;
  rq.since_us = since_us;
  if (res == NULL)
    memcpy(rq.params, m.params, sizeof(rq.params));
  if (rc == 0) {
    /* Paths no route matches take the rule of the routes around them. */
    ec_access_rule_t rule =
        m.spec == NULL                                   ? EC_ACCESS_NONE
        : !m.matched && m.spec->access == EC_ACCESS_READ ? EC_ACCESS_NONE
                                                         : m.spec->access;
    const char *owner = m.owner >= 0 && m.owner < n ? segs[m.owner] : NULL;
    rc = ec_access_check(&rq, rule, owner);
  }
  /* libcoap runs a deferred request again: a parked write (park.h) goes
   * on from here, now or never to be parked again, with its body; a group
   * commit's, a login's or a read's (a GET too) is answered. */
  bool defers = spec != NULL && (spec->flags & EC_ROUTE_DEFER);
  bool rerun = defers && write && ec_park_take(&rq, &since_us);
  if (rerun)
    rq.batch_ok = 0;
  else if (defers && (write || method == COAP_REQUEST_CODE_GET) &&
           deferred(&rq, rc < 0, &since_us))
    goto done;
  if (rc < 0)
    goto done;
  if (spec == NULL) {
    ec_req_problem(&rq, 404, "not-found", NULL, "no such resource");
    goto done;
  }
  if (res == NULL && m.bad_param >= 0) {
    ec_req_problem(&rq, 400, "invalid-route", m.bad->name, "%s",
                   m.bad->detail);
    goto done;
  }
  if (!(spec->methods & EC_METHOD(method))) {
    ec_req_empty(&rq, 405);
    goto done;
  }
  /* Answers of whole documents to a POST: over plain CoAP only for a
   * verified address (echo.h). */
  if ((spec->flags & EC_ROUTE_VERIFY) && method == COAP_REQUEST_CODE_POST &&
      !rq.verified) {
    ec_req_echo_challenge(&rq);
    goto done;
  }
  if (spec->replay != NULL && write &&
      coap_pdu_get_type(request) == COAP_MESSAGE_CON) {
    const ec_dedup_answer_t *a =
        ec_dedup_find(srv->dedup, ec_req_dedup_key(&rq));
    if (a != NULL && a->route == spec) {
      spec->replay(&rq, a);
      goto done;
    }
  }
  if ((spec->flags & EC_ROUTE_REQUEST_ID) && write &&
      ec_req_request_id(&rq, &rq.rid, &rq.rid_len) < 0)
    goto done;
  if ((spec->flags & EC_ROUTE_BODY) && write && !rerun &&
      ec_req_body(&rq) <= 0)
    goto done;
  /* A write its route batches waits for a store out of reach (park.h):
   * before its handler when the store is away already, in it (at its
   * store error) only when its Request-Id makes running it again safe. */
  rq.park_ok = write && (spec->flags & EC_ROUTE_BATCH) && !rerun &&
               !rq.upload_done &&
               coap_pdu_get_type(request) == COAP_MESSAGE_CON;
  if (rq.park_ok && ec_park(&rq))
    goto done;
  rq.park_ok = rq.park_ok && rq.rid_len > 0;
  spec->handler(&rq);
done:
  ec_req_done(&rq);
  /* Every answered request is counted and logged here, by its route's
   * template; one whose answer waits for a group commit or a password
   * check (code 0: an empty ACK now) is counted and logged when libcoap
   * runs it again to answer, with its final code and whole time. */
  ec_router_answered(srv, spec, session, request, rq.req_size, response,
                     since_us);
}

int ec_router_metric(const ec_server_t *srv, const ec_route_spec_t *spec) {
  const ec_router_t *r = srv->router;
  return spec != NULL && r != NULL
             ? r->compiled[spec - r->table->routes].metric
             : -1;
}

void ec_router_answered(ec_server_t *srv, const ec_route_spec_t *spec,
                        coap_session_t *session, const coap_pdu_t *request,
                        size_t in, const coap_pdu_t *response,
                        uint64_t since_us) {
  coap_pdu_code_t code = coap_pdu_get_code(response);
  if (code == 0)
    return;
  uint64_t usec = ec_mono_us() - since_us;
  ec_metrics_request(srv->metrics, ec_router_metric(srv, spec),
                     coap_pdu_get_code(request), code, usec);
  ec_accesslog_request(srv, session, request, in, response, usec);
}

/* Every method goes to the dispatcher, which answers 4.05 to those a
 * route has not, so that the answer is counted and logged like any other
 * (libcoap's own 4.05 would be neither). */
static void register_methods(coap_resource_t *resource) {
  static const coap_request_t all[] = {
      COAP_REQUEST_GET,   COAP_REQUEST_POST,  COAP_REQUEST_PUT,
      COAP_REQUEST_DELETE, COAP_REQUEST_FETCH, COAP_REQUEST_PATCH,
      COAP_REQUEST_IPATCH};
  for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
    coap_register_request_handler(resource, all[i], dispatch);
}

int ec_router_install(ec_server_t *srv, ec_router_t *r) {
  srv->router = r;
  for (size_t i = 0; i < r->table->n_routes; i++)
    r->compiled[i].metric = ec_metrics_route(srv->metrics,
                                             r->table->routes[i].path);
  r->unknown = coap_resource_unknown_init2(dispatch, 0);
  if (r->unknown == NULL)
    return EC_ENOMEM;
  /* Without a handler libcoap 4.3.1 answers DELETE on a path it does not
   * know with 2.02 Deleted, deleting nothing: the dispatcher answers 4.05
   * on the routes (none offers DELETE, PATCH or iPATCH), 4.04 elsewhere. */
  register_methods(r->unknown);
  coap_add_resource(srv->ctx, r->unknown);

  /* A route without ids is one path: its resource is made now. */
  for (size_t i = 0; i < r->table->n_routes; i++) {
    const ec_route_spec_t *spec = &r->table->routes[i];
    if (r->compiled[i].first_id >= 0)
      continue;
    coap_resource_t *res = coap_resource_init(coap_make_str_const(spec->path),
                                              0);
    if (res == NULL)
      return EC_ENOMEM;
    r->own[i].spec = spec;
    r->own[i].resource = res;
    coap_resource_set_userdata(res, &r->own[i]);
    register_methods(res);
    coap_add_resource(srv->ctx, res);
  }
  return 0;
}

void ec_router_free(ec_server_t *srv) {
  ec_router_delete(srv->router);
  srv->router = NULL;
}

coap_resource_t *ec_router_resource(ec_server_t *srv,
                                    const ec_route_spec_t *spec,
                                    const char *path, ec_router_res_t *res) {
  coap_str_const_t *uri =
      coap_new_str_const((const uint8_t *)path, strlen(path));
  if (uri == NULL)
    return NULL;
  coap_resource_t *r = coap_resource_init(uri, COAP_RESOURCE_FLAGS_RELEASE_URI);
  if (r == NULL)
    return NULL; /* libcoap freed uri on failure */
  res->spec = spec;
  res->resource = r;
  coap_resource_set_userdata(r, res);
  register_methods(r);
  /* Observed through watch.c, not libcoap. */
  coap_add_resource(srv->ctx, r);
  return r;
}
