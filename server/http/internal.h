/* edgecoap server: what the operators' HTTP endpoint's files share (server/http/). */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_HTTP_INTERNAL_H
#define EDGECOAP_HTTP_INTERNAL_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#include "context.h"
#include "http.h"

/*
 * endpoint.c  the daemon, the dispatch of paths, credentials, answers
 * api.c       the dashboard's JSON reads (/api/...), from the store
 * events.c    the ring of recent reports and its Server-Sent Events
 * page.c      the dashboard's files, embedded in the binary at build time
 *
 * Everything here runs on the I/O thread (http.h): no locks.
 */

typedef struct ec_http_events ec_http_events_t;

struct ec_http {
  ec_server_t *srv;
  struct MHD_Daemon *daemon;
  int epoll_fd;
  bool need_auth; /* listening beyond loopback */
  char where[80]; /* "127.0.0.1:5680", for logs */
  ec_http_events_t *events;
};

/* ---- answers (endpoint.c) ----------------------------------------------- */

/** Queue @p body (taken over with MHD_RESPMEM_MUST_FREE, even on failure). */
enum MHD_Result ec__http_answer(struct MHD_Connection *c, unsigned status,
                                const char *type, char *body, size_t len,
                                enum MHD_ResponseMemoryMode mode);

/** A static text/plain answer. */
enum MHD_Result ec__http_text(struct MHD_Connection *c, unsigned status,
                              const char *msg);

/** An application/json answer of malloc'd @p body (taken over). */
enum MHD_Result ec__http_json(struct MHD_Connection *c, unsigned status,
                              char *body, size_t len);

/** {"error": @p code, "detail": "..."} with @p status. */
enum MHD_Result ec__http_problem(struct MHD_Connection *c, unsigned status,
                                 const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/** UTC milliseconds as "2026-12-02T17:09:59.228Z" (the fleet documents'
 * time form) into @p out. */
void ec__http_time(int64_t ms, char out[32]);

/* ---- the JSON reads (api.c) --------------------------------------------- */

/** Answer GET @p url under /api/ (the events excepted). */
enum MHD_Result ec__http_api(ec_http_t *h, struct MHD_Connection *c,
                             const char *url);

/* ---- the event stream (events.c) ---------------------------------------- */

/** Make the ring and register it as the server's report listener. */
int ec__http_events_new(ec_http_t *h);

/** End every stream (before MHD_stop_daemon) ... */
void ec__http_events_close(ec_http_t *h);
/** ... and release the ring, once the daemon is stopped. */
void ec__http_events_free(ec_http_t *h);

/** GET /api/events: a stream, or 503 past the cap of streams. */
enum MHD_Result ec__http_events_serve(ec_http_t *h, struct MHD_Connection *c);

/** Wake the streams that have events or a keep-alive due.
 * @return true when it resumed one */
bool ec__http_events_poll(ec_http_t *h);

/** Milliseconds until a stream's keep-alive is due, or -1. */
int ec__http_events_next_ms(const ec_http_t *h);

/* ---- the page (page.c) -------------------------------------------------- */

/** The cookie that carries a browser's bearer token beyond loopback. */
#define EC_HTTP_TOKEN_COOKIE "edgecoap_token"

/** Without credentials (beyond loopback): answer the page's own paths
 * with its sign-in form (401); false for every other path. */
bool ec__http_page_signin(struct MHD_Connection *c, const char *url,
                          enum MHD_Result *rc);

/** Answer @p url when it names one of the page's files; false otherwise. */
bool ec__http_page(ec_http_t *h, struct MHD_Connection *c, const char *url,
                   enum MHD_Result *rc);

#endif /* EDGECOAP_HTTP_INTERNAL_H */
