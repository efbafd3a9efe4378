/* edgecoap server: the static route table and the one dispatcher every request goes through. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_ROUTER_H
#define EDGECOAP_ROUTER_H

#include "access.h"
#include "dedup.h"
#include "request.h"

/*
 * One table says who handles a request, who may make it and in which
 * formats (RIOT nanocoap's resource table is the model): each entry names
 * its methods, a path template whose {name} segments are route ids, its
 * access rule, its formats and its handler. The dispatcher, ec_router's
 * libcoap handler, runs every request the same way:
 *
 *   commit the open batch (not for a write its route may batch, batch.h)
 *   -> match the path (a request that came through a route's own resource
 *      is matched already) -> ec_req_setup(): Observe from an unverified
 *      address, Accept and Content-Format against the route's formats
 *   -> the route's access rule (access.h)
 *   -> a deferred answer that is due (EC_ROUTE_DEFER) -> 4.04 for no route,
 *      4.00 invalid-route for an id its check refuses, 4.05 for a method
 *      the route has not -> the Echo challenge (EC_ROUTE_VERIFY) -> the
 *      answer remembered for a retransmission (the entry's replay) ->
 *      Request-Id (EC_ROUTE_REQUEST_ID) -> the body (EC_ROUTE_BODY)
 *   -> the handler -> ec_req_done()
 *
 * libcoap 4.3.1 matches exact paths only, and only a registered resource
 * can carry a Block2 transfer of its own: routes without ids get a libcoap
 * resource at start; an observable route with ids gets one per path on
 * demand from its API (ec_router_resource()); every other path reaches the
 * unknown-resource handler, which matches it against the table.
 */

/* Methods as bits of a route's mask. */
#define EC_METHOD(code) (1u << (code))
#define EC_GET EC_METHOD(COAP_REQUEST_CODE_GET)
#define EC_POST EC_METHOD(COAP_REQUEST_CODE_POST)
#define EC_PUT EC_METHOD(COAP_REQUEST_CODE_PUT)
#define EC_FETCH EC_METHOD(COAP_REQUEST_CODE_FETCH)

/* What the dispatcher does for a route besides matching and access. */
#define EC_ROUTE_OBSERVE 0x01u    /* observable through watch.h: a libcoap
                                     resource holds it; discovery says obs */
#define EC_ROUTE_BATCH 0x02u      /* its writes through its own resource may
                                     join the group commit (batch.h) */
#define EC_ROUTE_DEFER 0x04u      /* a write's (or GET's) answer may be
                                     deferred: when libcoap runs it again,
                                     it is answered */
#define EC_ROUTE_VERIFY 0x08u     /* POST only from a verified address over
                                     plain CoAP (echo.h) */
#define EC_ROUTE_BODY 0x10u       /* POST and PUT bodies are collected
                                     (Block1, the cap) before the handler */
#define EC_ROUTE_REQUEST_ID 0x20u /* POST and PUT may carry a Request-Id,
                                     read into rq->rid before the body */

struct ec_router_res;

/** A read a route answers from memory (its entry's cached()): the bytes
 * and what the answer says of them, as its handler would send them. */
typedef struct {
  const uint8_t *data;
  size_t len;
  ec_format_t fmt;
  uint64_t etag;    /**< 0: none */
  unsigned max_age; /**< seconds */
} ec_router_cached_t;

/** One entry of the route table. */
typedef struct ec_route_spec {
  const char *path;  /**< template without the leading '/': literal
                      *   segments and {name} ids, e.g.
                      *   "device/{deviceId}/deployments" */
  unsigned methods;  /**< EC_GET | EC_POST ... */
  ec_access_rule_t access;
  unsigned formats;  /**< EC_FMT_* (request.h) Accept and Content-Format
                      *   may name */
  unsigned flags;    /**< EC_ROUTE_* */
  const char *rt;    /**< resource type for /.well-known/core; NULL: unlisted */
  void (*handler)(ec_req_t *rq);
  /** A confirmable POST or PUT whose answer the dedup table remembers under
   * this entry (ec_dedup_answer_t.route is the entry): answer it again. */
  void (*replay)(ec_req_t *rq, const ec_dedup_answer_t *a);
  /** A GET of the route's own resource @p res (its userdata) with no
   * option but Uri-Path and Accept, over plain CoAP, with no write queued
   * and from a peer that observes nothing: when its handler would answer
   * 2.05 from memory in @p fmt without any other effect, fill @p out
   * (valid until the next request) and say true; the screen then answers
   * it before libcoap reads it (screen.h). NULL, or false: the dispatcher
   * runs it. */
  bool (*cached)(ec_server_t *srv, struct ec_router_res *res, ec_format_t fmt,
                 ec_router_cached_t *out);
} ec_route_spec_t;

/** A {name} segment of the templates: its check, and the 4.00 detail. */
typedef struct {
  const char *name;          /**< "deviceId" */
  bool (*check)(char *seg);  /**< true when valid; may rewrite it in place
                              *   (a deploymentId is lowercased) */
  const char *detail;        /**< invalid-route's detail when it is not */
} ec_route_param_t;

/** The whole table, as an API layer defines it (static data). */
typedef struct {
  const ec_route_spec_t *routes;
  size_t n_routes;
  const ec_route_param_t *params;
  size_t n_params;
} ec_route_table_t;

/* Segments of a path, and bytes of one, that a route can name at most. */
#define EC_ROUTE_MAX_SEGMENTS 8
#define EC_ROUTE_SEGMENT_MAX 128

typedef struct ec_router ec_router_t;

/**
 * Check and compile @p table (which must outlive the router): every
 * template well formed, every {name} in table->params, at most
 * EC_REQ_MAX_PARAMS ids and EC_ROUTE_MAX_SEGMENTS segments each.
 * @param[out] out  release with ec_router_delete()
 * @return 0, EC_EINVAL (the bad template logged) or EC_ENOMEM
 */
int ec_router_new(const ec_route_table_t *table, ec_router_t **out);

/** Release a router; NULL is a no-op. */
void ec_router_delete(ec_router_t *r);

/** What a path matched. */
typedef struct {
  const ec_route_spec_t *spec; /**< the route; when none matched, the first
                                *   route under the same first segment (its
                                *   access rule covers the path), or NULL */
  bool matched;                /**< the path is an instance of spec */
  const char *params[EC_REQ_MAX_PARAMS]; /**< the ids, in template order */
  int n_params;
  int bad_param;               /**< the first id its check refused, or -1 */
  const ec_route_param_t *bad; /**< that id's parameter */
  int owner;                   /**< index of spec's first id among segs, or
                                *   -1: the segment an access rule names */
} ec_route_match_t;

/**
 * Match @p n path segments (n < 0: more than fit) against the table: a
 * route matches when it has as many segments and every literal one is
 * equal; the first route in table order wins. Its ids are then checked in
 * order, and may be rewritten in @p segs.
 * @return true when a route matched (m->bad_param may still say an id is
 *         refused)
 */
bool ec_router_match(const ec_router_t *r, char (*segs)[EC_ROUTE_SEGMENT_MAX + 1],
                     int n, ec_route_match_t *m);

/**
 * Register the dispatcher on srv->ctx: the unknown-resource handler and the
 * resources of the routes without ids. @p r is the server's from now on
 * (freed by ec_router_free()).
 * @return 0 or EC_ENOMEM
 */
int ec_router_install(ec_server_t *srv, ec_router_t *r);

/** Free the server's router (after the libcoap context is gone). */
void ec_router_free(ec_server_t *srv);

/** What the dispatcher finds in the userdata of a route's own resource. An
 * API may make it the first member of its own struct (a status's cache). */
typedef struct ec_router_res {
  const ec_route_spec_t *spec;
  coap_resource_t *resource;
} ec_router_res_t;

/**
 * The answer from memory to a GET of @p path (@p len bytes, no leading
 * '/', its Uri-Path options joined with '/' as libcoap joins them) in
 * @p fmt: the route of that resource answers it through its cached().
 * @return the route, or NULL when the dispatcher must run the request
 */
const ec_route_spec_t *ec_router_cached(ec_server_t *srv, const char *path,
                                        size_t len, ec_format_t fmt,
                                        ec_router_cached_t *out);

/**
 * Make and register the libcoap resource of one instance @p path (no
 * leading '/') of @p spec, an observable route with ids, for its API to
 * keep what it caches in @p res (its spec and resource are set here).
 * libcoap frees the resource with its context or coap_delete_resource().
 * @return the resource, or NULL when out of memory
 */
coap_resource_t *ec_router_resource(ec_server_t *srv,
                                    const ec_route_spec_t *spec,
                                    const char *path, ec_router_res_t *res);

/**
 * Count and log an answer of @p spec's route (NULL: none matched) to
 * @p request of @p in bytes, @p since_us (ec_mono_us) after it came: the
 * dispatcher does it for what it answers, the batch for a late ACK.
 */
/** @p spec's route in the metrics registry (ec_metrics_request()), -1 for
 * none. */
int ec_router_metric(const ec_server_t *srv, const ec_route_spec_t *spec);

void ec_router_answered(ec_server_t *srv, const ec_route_spec_t *spec,
                        coap_session_t *session, const coap_pdu_t *request,
                        size_t in, const coap_pdu_t *response,
                        uint64_t since_us);

#endif /* EDGECOAP_ROUTER_H */
