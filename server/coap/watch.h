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
 * is observed, and is linked into the session's peer so that a session's
 * watches are found without walking every list. It ends when the client
 * cancels (GET with Observe 1), when a notification is answered with RST
 * (seen by screen.c before libcoap reads it: ec_watch_on_rst(); over
 * coaps://, a CON's through libcoap's nack handler) or a confirmable one
 * goes unanswered, or at shutdown. On coap:// the server sends
 * notifications itself and retransmits a confirmable one until its ACK
 * (ec_watch_on_ack(), ec_watch_tick()), replacing it by a newer one. Every fifth notification is confirmable, as libcoap does, so a
 * vanished observer is found.
 */
typedef struct ec_watch ec_watch_t;
typedef struct ec_watch_list ec_watch_list_t;

/* Message IDs of the latest NON notifications of a watch, for an RST. */
#define EC_WATCH_NON_MIDS 4

/* The largest notification datagram: RFC 7252's 1152 bytes. */
#define EC_WATCH_MAX_DGRAM 1152

struct ec_watch {
  ec_watch_t *next;
  ec_watch_t *prev;
  ec_watch_list_t *list;
  ec_watch_t *peer_next;   /* the session's watches (ec_peer_t.watches) */
  ec_watch_t *peer_prev;
  ec_peer_t *peer;
  ec_server_t *srv;
  coap_session_t *session;
  uint8_t token[8];
  uint8_t token_len;
  ec_format_t fmt;         /* the observer's response format */
  uint32_t observe;        /* the last Observe value sent */
  unsigned non_count;      /* NON notifications since the last CON */
  uint16_t non_mids[EC_WATCH_NON_MIDS]; /* a ring of the latest NONs' MIDs */
  unsigned n_non_mids;
  /* coap://: the confirmable notification waiting for its ACK, sent and
   * retransmitted by the server itself (see deliver() in watch.c). */
  uint8_t *con_dgram;      /* NULL when none is outstanding */
  size_t con_len;
  uint16_t con_mid;
  unsigned con_tries;      /* retransmissions so far */
  unsigned con_timeout_ms; /* the current timeout, doubled at each one */
  uint64_t con_due_ms;     /* monotonic time of the next retransmission */
  ec_watch_t *con_next;    /* srv->con_watches: those with one outstanding */
  ec_watch_t *con_prev;
  /* The observer is fetching a notification's later blocks until then
   * (monotonic ms; 0: not): a new notification waits (deferred). */
  uint64_t fetch_until;
  bool deferred;
  /* Monotonic ms of the last confirmable notification to it (or of its
   * registration): past srv->cfg.observe_check_s, one is sent to see that
   * the observer is still there (ec_watch_tick()). */
  uint64_t confirmed_ms;
  void *filter;            /* the module's filter, owned by the watch */
  void (*filter_free)(void *filter);
};

struct ec_watch_list {
  ec_watch_list_t *next;   /* every list of the server, for the nack handler */
  ec_watch_t *head;
  unsigned count;
  const char *name;        /* for logs: "statusmessages/latest" */
  void *owner;             /* the module's, e.g. the route */
  /* Send @p w the current state (a deferred notification); may be NULL. */
  void (*refresh)(ec_server_t *srv, ec_watch_t *w);
};

/**
 * Set up @p list and, when @p srv is not NULL, make it known to the server
 * (srv->watch_lists, for modules with one list). Lists made on demand (one
 * per deployment status) pass NULL: their owner removes their watches.
 */
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
 * - Observe 0 with a Block2 option for a block past the first: a client
 *   fetching the rest of a notification (RFC 7959 section 3.4; node-coap
 *   keeps the Observe option on these): nothing is registered, the answer
 *   carries the watch's current Observe value, returns 0.
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

/**
 * Send @p w the current state, in its format: @p cbor or @p json with its
 * ETag (Max-Age @p max_age, 0 for none); a body larger than one datagram
 * goes as its first 1024-byte block with Block2 and Size2, and the observer
 * fetches the rest with GETs (RFC 7959 section 3.4), which the resource
 * answers from the same representation while its ETag lasts. Over DTLS a
 * session whose identity was removed or re-keyed is ended with 4.01 instead; an
 * observer still fetching the blocks of the last notification gets this one
 * when done (list->refresh sends the newest state then, from ec_watch_tick()).
 */
void ec_watch_deliver(ec_server_t *srv, ec_watch_t *w, const uint8_t *cbor,
                      size_t cbor_len, uint64_t cbor_etag, const uint8_t *json,
                      size_t json_len, uint64_t json_etag, unsigned max_age);

/**
 * An RST with Message ID @p mid came from @p session's peer (seen before
 * libcoap reads it, screen.c): libcoap 4.3.1 keeps no trace of NON messages
 * it sent, so a watch whose NON notification is refused ends here.
 */
void ec_watch_on_rst(ec_server_t *srv, coap_session_t *session, uint16_t mid);

/**
 * Note a GET of a representation of @p len bytes from rq's session: when it
 * is answered block-wise and this is not its last block, that session's
 * watches on @p list are busy (a new notification waits) until the last
 * block is served, or for a few seconds at most. A notification sent
 * block-wise makes its watch busy the same way.
 */
void ec_watch_note_fetch(ec_req_t *rq, ec_watch_list_t *list, size_t len);

/** An ACK with Message ID @p mid from @p session's peer (screen.c): the
 * outstanding confirmable notification it answers is done. */
void ec_watch_on_ack(ec_server_t *srv, coap_session_t *session, uint16_t mid);

/** Retransmit the confirmable notifications that are due; end the watches
 * whose last retransmission went unanswered; send the liveness checks that
 * are due (a confirmable notification of the current state, to each watch
 * whose list can send it and that had none for cfg.observe_check_s; the
 * next notification of any other watch goes confirmable). Call after each
 * I/O round. */
void ec_watch_tick(ec_server_t *srv);

/** Milliseconds until ec_watch_tick() has something to do, or -1. */
int ec_watch_next_ms(const ec_server_t *srv);

/** Remove and free one watch. */
void ec_watch_remove(ec_watch_t *w);

/** Remove every watch of every list (at shutdown, before the context goes). */
void ec_watch_free_all(ec_server_t *srv);

/**
 * End every watch with a last response of @p code (e.g. 503,
 * class*100+detail) without Observe and an optional problem body (@p title,
 * @p detail may be NULL), so that observers learn that no more
 * notifications will come (RFC 7641 3.2; at a normal shutdown, before
 * ec_watch_free_all()).
 */
void ec_watch_end_all(ec_server_t *srv, int code, const char *title,
                      const char *detail);

/** The server's libcoap nack handler: ends watches whose notification
 * failed, counted as @p silent (unanswered) or reset. */
void ec_watch_on_nack(ec_server_t *srv, coap_session_t *session,
                      const coap_pdu_t *sent, bool silent);

#endif /* EDGECOAP_WATCH_H */
