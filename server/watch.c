/* edgecoap server: observations the server keeps itself, each with its own filter. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "watch.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "peer.h"

/* libcoap's COAP_OBS_MAX_NON: a confirmable notification after this many. */
#define MAX_NON_IN_A_ROW 4

/* A notification's block when its body is larger than one datagram: the
 * size every client accepts (RFC 7959, SZX 6). */
#define NOTIFY_BLOCK_SZX 6
#define NOTIFY_BLOCK ((size_t)1 << (NOTIFY_BLOCK_SZX + 4))

/* Room for the header, token and options of a notification. */
#define NOTIFY_MARGIN 64

void ec_watch_list_init(ec_server_t *srv, ec_watch_list_t *list,
                        const char *name) {
  memset(list, 0, sizeof(*list));
  list->name = name;
  if (srv == NULL)
    return;
  list->next = srv->watch_lists;
  srv->watch_lists = list;
}

static ec_watch_t *find(ec_watch_list_t *list, const coap_session_t *session,
                        const uint8_t *token, size_t token_len) {
  /* A session holds at most a few dozen watches: look there, not through
   * the list, which may hold thousands of other sessions' watches. */
  ec_peer_t *peer = coap_session_get_app_data(session);
  if (peer == NULL)
    return NULL;
  for (ec_watch_t *w = peer->watches; w != NULL; w = w->peer_next)
    if (w->list == list && w->token_len == token_len &&
        memcmp(w->token, token, token_len) == 0)
      return w;
  return NULL;
}

void ec_watch_remove(ec_watch_t *w) {
  ec_watch_list_t *list = w->list;
  if (w->prev != NULL)
    w->prev->next = w->next;
  else
    list->head = w->next;
  if (w->next != NULL)
    w->next->prev = w->prev;
  list->count--;
  ec_peer_t *peer = w->peer;
  if (w->peer_prev != NULL)
    w->peer_prev->peer_next = w->peer_next;
  else
    peer->watches = w->peer_next;
  if (w->peer_next != NULL)
    w->peer_next->peer_prev = w->peer_prev;
  if (peer->n_watches > 0)
    peer->n_watches--;
  if (w->filter_free != NULL)
    w->filter_free(w->filter);
  coap_session_release(w->session);
  free(w);
}

static void set_observe_option(coap_pdu_t *pdu, uint32_t value) {
  uint8_t buf[4];
  coap_add_option(pdu, COAP_OPTION_OBSERVE,
                  coap_encode_var_safe(buf, sizeof(buf), value), buf);
}

int ec_watch_request(ec_req_t *rq, ec_watch_list_t *list, void *filter,
                     void (*filter_free)(void *filter)) {
  coap_opt_iterator_t it;
  const coap_opt_t *opt = coap_check_option(rq->request, COAP_OPTION_OBSERVE,
                                            &it);
  coap_bin_const_t token = coap_pdu_get_token(rq->request);
  unsigned action = opt ? coap_decode_var_bytes(coap_opt_value(opt),
                                                coap_opt_length(opt))
                        : COAP_OBSERVE_CANCEL;
  ec_watch_t *w = find(list, rq->session, token.s, token.length);
  coap_block_b_t block;
  int later_block =
      coap_get_block_b(rq->session, rq->request, COAP_OPTION_BLOCK2, &block) &&
      block.num > 0;

  if (opt != NULL && action == COAP_OBSERVE_ESTABLISH && later_block) {
    /* The rest of a notification, asked for with the observation's token:
     * answered with the Observe value of the notification it belongs to,
     * so that the client files the reassembled body under it. */
    if (w != NULL)
      set_observe_option(rq->response, w->observe);
    if (filter_free != NULL)
      filter_free(filter);
    return 0;
  }
  /* Anything but a register request is a plain read; Observe 1 also ends
   * the observation it names (RFC 7641 section 3.6). */
  if (opt == NULL || action != COAP_OBSERVE_ESTABLISH ||
      token.length > sizeof(w->token)) {
    if (opt != NULL && action == COAP_OBSERVE_CANCEL && w != NULL) {
      ec_log(EC_LOG_DEBUG, "%s: observation cancelled", list->name);
      ec_watch_remove(w);
    }
    if (filter_free != NULL)
      filter_free(filter);
    return 0;
  }

  if (w == NULL) {
    ec_peer_t *peer = ec_peer_get(rq->srv, rq->session);
    if (peer == NULL || list->count >= rq->srv->cfg.max_observers ||
        peer->n_watches >= rq->srv->cfg.max_peer_observations) {
      if (filter_free != NULL)
        filter_free(filter);
      ec_req_problem(rq, 503, "too-many-observers", NULL,
                     "%s has %u observers or this client too many "
                     "observations; try later",
                     list->name, list->count);
      return -1;
    }
    w = calloc(1, sizeof(*w));
    if (w == NULL) {
      if (filter_free != NULL)
        filter_free(filter);
      ec_req_problem(rq, 503, "out-of-memory", NULL, "cannot observe now");
      return -1;
    }
    w->list = list;
    w->peer = peer;
    w->session = coap_session_reference(rq->session);
    w->token_len = (uint8_t)token.length;
    memcpy(w->token, token.s, token.length);
    w->next = list->head;
    if (list->head != NULL)
      list->head->prev = w;
    list->head = w;
    list->count++;
    w->peer_next = peer->watches;
    if (peer->watches != NULL)
      peer->watches->peer_prev = w;
    peer->watches = w;
    peer->n_watches++;
    ec_log(EC_LOG_DEBUG, "%s: observation registered (%u now)", list->name,
           list->count);
  } else if (w->filter_free != NULL) {
    w->filter_free(w->filter); /* a re-registration may change the filter */
  }
  w->filter = filter;
  w->filter_free = filter_free;
  w->fmt = rq->resp_fmt;
  set_observe_option(rq->response, w->observe);
  return 1;
}

void ec_watch_cancel_request(ec_req_t *rq, ec_watch_list_t *list) {
  coap_bin_const_t token = coap_pdu_get_token(rq->request);
  ec_watch_t *w = find(list, rq->session, token.s, token.length);
  if (w != NULL)
    ec_watch_remove(w);
}

/* A response PDU to @p w's token: NON, or CON every fifth time. */
static coap_pdu_t *new_pdu(ec_watch_t *w, coap_pdu_code_t code, int *con) {
  *con = w->non_count >= MAX_NON_IN_A_ROW;
  ec_req_udp_mtu(w->session);
  coap_pdu_t *pdu = coap_pdu_init(*con ? COAP_MESSAGE_CON : COAP_MESSAGE_NON,
                                  code, coap_new_message_id(w->session),
                                  coap_session_max_pdu_size(w->session));
  if (pdu != NULL && !coap_add_token(pdu, w->token_len, w->token)) {
    coap_delete_pdu(pdu);
    pdu = NULL;
  }
  return pdu;
}

/* Send @p pdu (taken) and note what it was for an RST or the next CON. */
static int send_pdu(ec_watch_t *w, coap_pdu_t *pdu, int con) {
  coap_mid_t mid = coap_send(w->session, pdu); /* takes the PDU */
  if (mid == COAP_INVALID_MID)
    return EC_EIO;
  if (con) {
    w->non_count = 0;
  } else {
    w->non_count++;
    w->non_mids[w->n_non_mids++ % EC_WATCH_NON_MIDS] = (uint16_t)mid;
  }
  return 0;
}

static int notify(ec_watch_t *w, const uint8_t *data, size_t len,
                  uint64_t etag, unsigned max_age, int whole_only) {
  uint8_t buf[8];
  int con;
  coap_pdu_t *pdu = new_pdu(w, COAP_RESPONSE_CODE_CONTENT, &con);
  if (pdu == NULL)
    return EC_ENOMEM;
  size_t room = coap_session_max_pdu_size(w->session);
  int blocks = room < NOTIFY_MARGIN || len > room - NOTIFY_MARGIN;
  if (blocks && whole_only) {
    coap_delete_pdu(pdu);
    ec_log(EC_LOG_WARN, "%s: a %zu-byte notification does not fit a datagram",
           w->list->name, len);
    return EC_ETOOBIG;
  }
  uint32_t next = (w->observe + 1) & 0xFFFFFF;
  if (etag != 0)
    coap_add_option(pdu, COAP_OPTION_ETAG,
                    coap_encode_var_safe8(buf, sizeof(buf), etag), buf);
  set_observe_option(pdu, next);
  coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT,
                  coap_encode_var_safe(buf, sizeof(buf), w->fmt), buf);
  if (max_age != 0)
    coap_add_option(pdu, COAP_OPTION_MAXAGE,
                    coap_encode_var_safe(buf, sizeof(buf), max_age), buf);
  if (blocks) {
    coap_add_option(pdu, COAP_OPTION_BLOCK2,
                    coap_encode_var_safe(buf, sizeof(buf),
                                         1 << 3 | NOTIFY_BLOCK_SZX),
                    buf);
    coap_add_option(pdu, COAP_OPTION_SIZE2,
                    coap_encode_var_safe(buf, sizeof(buf), (unsigned)len), buf);
    len = NOTIFY_BLOCK;
  }
  if (!coap_add_data(pdu, len, data)) {
    coap_delete_pdu(pdu);
    return EC_ETOOBIG;
  }
  int rc = send_pdu(w, pdu, con);
  if (rc == 0)
    w->observe = next;
  return rc;
}

int ec_watch_send(ec_server_t *srv, ec_watch_t *w, const uint8_t *data,
                  size_t len) {
  (void)srv;
  return notify(w, data, len, 0, 0, 1);
}

int ec_watch_notify(ec_server_t *srv, ec_watch_t *w, const uint8_t *data,
                    size_t len, uint64_t etag, unsigned max_age) {
  (void)srv;
  return notify(w, data, len, etag, max_age, 0);
}

void ec_watch_end(ec_server_t *srv, ec_watch_t *w, int code, const char *title,
                  const char *detail) {
  uint8_t body[320], cf[4];
  int con;
  coap_pdu_t *pdu =
      new_pdu(w, (coap_pdu_code_t)COAP_RESPONSE_CODE(code), &con);
  if (pdu != NULL) {
    int coap_code = (code / 100) << 5 | (code % 100);
    ec_format_t f = w->fmt == EC_FORMAT_CBOR ? EC_FORMAT_PROBLEM_CBOR
                                              : EC_FORMAT_JSON;
    ssize_t n = title ? ec_problem_encode(f, title, detail, coap_code, NULL,
                                          body, sizeof(body))
                      : -1;
    if (n > 0 && (size_t)n <= sizeof(body)) {
      coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT,
                      coap_encode_var_safe(cf, sizeof(cf), f), cf);
      coap_add_data(pdu, (size_t)n, body);
    }
    (void)send_pdu(w, pdu, con);
  }
  (void)srv;
  ec_watch_remove(w);
}

void ec_watch_free_all(ec_server_t *srv) {
  for (ec_peer_t *p = srv->peers; p != NULL; p = p->next)
    while (p->watches != NULL)
      ec_watch_remove(p->watches);
}

static void gone(ec_watch_t *w, const char *how) {
  ec_log(EC_LOG_INFO, "%s: observer gone (%s), observation ended",
         w->list->name, how);
  ec_watch_remove(w);
}

void ec_watch_on_nack(ec_server_t *srv, coap_session_t *session,
                      const coap_pdu_t *sent) {
  ec_peer_t *peer = coap_session_get_app_data(session);
  (void)srv;
  if (sent == NULL || peer == NULL)
    return;
  coap_bin_const_t token = coap_pdu_get_token(sent);
  for (ec_watch_t *w = peer->watches; w != NULL; w = w->peer_next)
    if (w->token_len == token.length &&
        memcmp(w->token, token.s, token.length) == 0) {
      gone(w, "notification refused or unanswered");
      return;
    }
}

void ec_watch_on_rst(ec_server_t *srv, coap_session_t *session, uint16_t mid) {
  ec_peer_t *peer = coap_session_get_app_data(session);
  (void)srv;
  if (peer == NULL)
    return;
  for (ec_watch_t *w = peer->watches; w != NULL; w = w->peer_next) {
    unsigned n = w->n_non_mids < EC_WATCH_NON_MIDS ? w->n_non_mids
                                                   : EC_WATCH_NON_MIDS;
    for (unsigned i = 0; i < n; i++)
      if (w->non_mids[i] == mid) {
        gone(w, "a notification was reset");
        return;
      }
  }
}
