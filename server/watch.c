/* edgecoap server: observations the server keeps itself, each with its own filter. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "watch.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "peer.h"

/* libcoap's COAP_OBS_MAX_NON: a confirmable notification after this many. */
#define MAX_NON_IN_A_ROW 4

void ec_watch_list_init(ec_server_t *srv, ec_watch_list_t *list,
                        const char *name) {
  memset(list, 0, sizeof(*list));
  list->name = name;
  list->next = srv->watch_lists;
  srv->watch_lists = list;
}

static ec_watch_t *find(ec_watch_list_t *list, const coap_session_t *session,
                        const uint8_t *token, size_t token_len) {
  for (ec_watch_t *w = list->head; w != NULL; w = w->next)
    if (w->session == session && w->token_len == token_len &&
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
  ec_peer_t *peer = coap_session_get_app_data(w->session);
  if (peer != NULL && peer->n_watches > 0)
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
        peer->n_obs + peer->n_watches >=
            rq->srv->cfg.max_peer_observations) {
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
    w->session = coap_session_reference(rq->session);
    w->token_len = (uint8_t)token.length;
    memcpy(w->token, token.s, token.length);
    w->next = list->head;
    if (list->head != NULL)
      list->head->prev = w;
    list->head = w;
    list->count++;
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

int ec_watch_send(ec_server_t *srv, ec_watch_t *w, const uint8_t *data,
                  size_t len) {
  uint8_t buf[4];
  int con = w->non_count >= MAX_NON_IN_A_ROW;
  ec_req_udp_mtu(w->session);
  coap_pdu_t *pdu = coap_pdu_init(con ? COAP_MESSAGE_CON : COAP_MESSAGE_NON,
                                  COAP_RESPONSE_CODE_CONTENT,
                                  coap_new_message_id(w->session),
                                  coap_session_max_pdu_size(w->session));
  if (pdu == NULL)
    return EC_ENOMEM;
  uint32_t next = (w->observe + 1) & 0xFFFFFF;
  if (!coap_add_token(pdu, w->token_len, w->token))
    goto fail_pdu;
  set_observe_option(pdu, next);
  coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT,
                  coap_encode_var_safe(buf, sizeof(buf), w->fmt), buf);
  if (!coap_add_data(pdu, len, data)) {
    coap_delete_pdu(pdu);
    ec_log(EC_LOG_WARN, "%s: a %zu-byte notification does not fit a datagram",
           w->list->name, len);
    return EC_ETOOBIG;
  }
  /* coap_send takes the PDU whatever happens. */
  if (coap_send(w->session, pdu) == COAP_INVALID_MID)
    return EC_EIO;
  w->observe = next;
  w->non_count = con ? 0 : w->non_count + 1;
  (void)srv;
  return 0;

fail_pdu:
  coap_delete_pdu(pdu);
  return EC_ENOMEM;
}

void ec_watch_free_all(ec_server_t *srv) {
  for (ec_watch_list_t *l = srv->watch_lists; l != NULL; l = l->next)
    while (l->head != NULL)
      ec_watch_remove(l->head);
}

void ec_watch_on_nack(ec_server_t *srv, coap_session_t *session,
                      const coap_pdu_t *sent) {
  if (sent == NULL)
    return;
  coap_bin_const_t token = coap_pdu_get_token(sent);
  for (ec_watch_list_t *l = srv->watch_lists; l != NULL; l = l->next) {
    ec_watch_t *w = find(l, session, token.s, token.length);
    if (w != NULL) {
      ec_log(EC_LOG_INFO, "%s: observer gone (notification refused or "
             "unanswered), observation ended", l->name);
      ec_watch_remove(w);
      return;
    }
  }
}
