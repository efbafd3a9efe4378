/* edgecoap server: observations the server keeps itself, each with its own filter. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_WATCH_H
#define EDGECOAP_WATCH_H

#include "request.h"

/*
 * libcoap 4.3.1 notifies every observer of a resource at once, and a handler
 * cannot skip one. Resources whose observers each follow their own filter
 * (/api/2.3/statusmessages/latest?orderId=A, provisioning ?provisioning_id=N)
 * therefore keep their observers here: the resource is not marked observable
 * in libcoap; its GET handler hands the request to ec_watch_request(), and
 * when something changes the module walks its list and sends a notification
 * only to the watches whose filter matches (RFC 7641 section 4.2).
 *
 * A watch holds a reference on its session so that libcoap keeps it while it
 * is observed. It ends when the client cancels (GET with Observe 1, or a new
 * GET without Observe on the same token), when a confirmable notification is
 * answered with RST or goes unanswered (libcoap's nack handler), or at
 * shutdown. Every fifth notification is confirmable, as libcoap does, so a
 * vanished observer is found.
 */
typedef struct ec_watch ec_watch_t;
typedef struct ec_watch_list ec_watch_list_t;

struct ec_watch {
  ec_watch_t *next;
  ec_watch_t *prev;
  ec_watch_list_t *list;
  coap_session_t *session;
  uint8_t token[8];
  uint8_t token_len;
  ec_format_t fmt;         /* the observer's response format */
  uint32_t observe;        /* the last Observe value sent */
  unsigned non_count;      /* NON notifications since the last CON */
  void *filter;            /* the module's filter, owned by the watch */
  void (*filter_free)(void *filter);
};

struct ec_watch_list {
  ec_watch_list_t *next;   /* every list of the server, for the nack handler */
  ec_watch_t *head;
  unsigned count;
  const char *name;        /* for logs: "statusmessages/latest" */
};

/** Make @p list known to the server (once, at start-up). */
void ec_watch_list_init(ec_server_t *srv, ec_watch_list_t *list,
                        const char *name);

/**
 * Act on the Observe option of a GET, for @p list.
 * - no Observe option: nothing to do, returns 0 (filter_free(filter) called);
 * - Observe 1 (cancel): the watch of this session and token is removed,
 *   returns 0 (filter_free(filter) called);
 * - Observe 0 (register): a watch is created (or the existing one of this
 *   session and token gets the new filter), the Observe option is added to
 *   rq->response, and @p filter is owned by the watch; returns 1. The handler
 *   then answers the GET as usual (a 2.05 with the current state).
 * - past the caps (per list, per session): 5.03 is answered, returns < 0.
 * If the handler then answers an error instead of 2.05, it must call
 * ec_watch_cancel_request(rq, list) so no watch is left behind.
 */
int ec_watch_request(ec_req_t *rq, ec_watch_list_t *list, void *filter,
                     void (*filter_free)(void *filter));

/** Remove the watch of rq's session and token from @p list, if any. */
void ec_watch_cancel_request(ec_req_t *rq, ec_watch_list_t *list);

/**
 * Send one 2.05 notification carrying @p data (@p len bytes, in w->fmt) to
 * @p w. Bodies larger than one datagram are refused with EC_ETOOBIG (send
 * less, or let the observer fetch the rest).
 * @return 0, or < 0 (the watch stays; a failed session will be nacked)
 */
int ec_watch_send(ec_server_t *srv, ec_watch_t *w, const uint8_t *data,
                  size_t len);

/** Remove and free one watch. */
void ec_watch_remove(ec_watch_t *w);

/** Remove every watch of every list (at shutdown, before the context goes). */
void ec_watch_free_all(ec_server_t *srv);

/** The server's libcoap nack handler: ends watches whose notification failed. */
void ec_watch_on_nack(ec_server_t *srv, coap_session_t *session,
                      const coap_pdu_t *sent);

#endif /* EDGECOAP_WATCH_H */
