/* edgecoap server: observations the server keeps itself, each with its own filter. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "watch.h"

#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "log.h"
#include "peer.h"
#include "screen.h"
#include "util.h"

/* libcoap's COAP_OBS_MAX_NON: a confirmable notification after this many. */
#define MAX_NON_IN_A_ROW 4

/* A notification's block when its body is larger than one datagram: the
 * size every client accepts (RFC 7959, SZX 6). */
#define NOTIFY_BLOCK_SZX 6
#define NOTIFY_BLOCK ((size_t)1 << (NOTIFY_BLOCK_SZX + 4))

/* How long a client may take between a notification's blocks before the
 * next notification goes out anyway. */
#define FETCH_WINDOW_MS 3000

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

static void con_clear(ec_server_t *srv, ec_watch_t *w);

void ec_watch_remove(ec_watch_t *w) {
  ec_watch_list_t *list = w->list;
  con_clear(w->srv, w);
  if (w->deferred && w->srv->n_deferred > 0)
    w->srv->n_deferred--;
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
  ec_metrics_add(w->srv->metrics, EC_M_OBSERVERS, -1);
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
  const coap_opt_t *opt = rq->opt.observe;
  coap_bin_const_t token = coap_pdu_get_token(rq->request);
  unsigned action = opt ? coap_decode_var_bytes(coap_opt_value(opt),
                                                coap_opt_length(opt))
                        : COAP_OBSERVE_CANCEL;
  ec_watch_t *w = find(list, rq->session, token.s, token.length);
  coap_block_b_t block;
  int later_block =
      ec_req_block2(rq, &block) && block.num > 0;

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
    w->srv = rq->srv;
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
    ec_metrics_add(rq->srv->metrics, EC_M_OBSERVERS, 1);
    /* Registrations of one burst are checked spread over a quarter of the
     * interval, not all in the same second. */
    unsigned jitter = 0;
    coap_prng(&jitter, sizeof(jitter));
    w->confirmed_ms = ec_mono_ms() -
                      jitter % (rq->srv->cfg.observe_check_s * 250u + 1);
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

/* One option of a notification; they are kept in ascending number. */
typedef struct {
  uint16_t num;
  uint8_t len;
  uint8_t val[8];
} opt_t;

static void opt_uint(opt_t *o, uint16_t num, uint64_t v) {
  o->num = num;
  o->len = (uint8_t)coap_encode_var_safe8(o->val, sizeof(o->val), v);
}

/* RFC 7252 section 4.8: ACK_RANDOM_FACTOR 1.5, MAX_RETRANSMIT 4;
 * ACK_TIMEOUT is cfg.ack_timeout_ms (2 s). */
#define MAX_RETRANSMIT 4

static void con_clear(ec_server_t *srv, ec_watch_t *w) {
  if (w->con_dgram == NULL)
    return;
  if (w->con_prev != NULL)
    w->con_prev->con_next = w->con_next;
  else
    srv->con_watches = w->con_next;
  if (w->con_next != NULL)
    w->con_next->con_prev = w->con_prev;
  w->con_next = w->con_prev = NULL;
  free(w->con_dgram);
  w->con_dgram = NULL;
}

static uint8_t *put_nibble_ext(uint8_t *p, unsigned v, unsigned *nib) {
  if (v < 13) {
    *nib = v;
  } else if (v < 269) {
    *nib = 13;
    *p++ = (uint8_t)(v - 13);
  } else {
    *nib = 14;
    *p++ = (uint8_t)((v - 269) >> 8);
    *p++ = (uint8_t)(v - 269);
  }
  return p;
}

/* The datagram of a notification (RFC 7252 section 3); 0 if over @p cap. */
static size_t encode(uint8_t *out, size_t cap, int type, uint8_t code,
                     uint16_t mid, const ec_watch_t *w, const opt_t *o, int n,
                     const uint8_t *data, size_t len) {
  if (4 + w->token_len + (size_t)n * (5 + sizeof(o->val)) + 1 + len > cap)
    return 0;
  uint8_t *p =
      out + ec_screen_head(out, (unsigned)type, code, mid, w->token,
                           w->token_len);
  unsigned prev = 0;
  for (int i = 0; i < n; i++) {
    uint8_t *head = p++;
    unsigned dn, ln;
    p = put_nibble_ext(p, o[i].num - prev, &dn);
    p = put_nibble_ext(p, o[i].len, &ln);
    *head = (uint8_t)(dn << 4 | ln);
    memcpy(p, o[i].val, o[i].len);
    p += o[i].len;
    prev = o[i].num;
  }
  if (len > 0) {
    *p++ = 0xFF;
    memcpy(p, data, len);
    p += len;
  }
  return (size_t)(p - out);
}

static int send_raw(ec_server_t *srv, ec_watch_t *w, const uint8_t *d,
                    size_t len) {
  const coap_address_t *to = coap_session_get_addr_remote(w->session);
  return sendto(srv->screen_fd, d, len, 0, &to->addr.sa, to->size) < 0
             ? EC_EIO
             : 0;
}

/*
 * Send one message to @p w's token: NON, or CON every fifth time so that a
 * vanished observer is found. On coap:// the server sends it itself, so
 * that a CON still unacknowledged when the next notification is due is
 * replaced by it (RFC 7641 section 4.5.2: the newer one goes out as CON in
 * its place, keeping its retransmission count, and the stale one is never
 * sent again); libcoap 4.3.1 offers no way to withdraw a CON it
 * retransmits. Over coaps:// libcoap sends it (and does retransmit a stale
 * CON).
 */
static int deliver(ec_server_t *srv, ec_watch_t *w, uint8_t code,
                   const opt_t *o, int n, const uint8_t *data, size_t len) {
  int con = w->non_count >= MAX_NON_IN_A_ROW || w->con_dgram != NULL;
  coap_mid_t mid = coap_new_message_id(w->session);
  if (srv->screen_fd >= 0 &&
      coap_session_get_proto(w->session) == COAP_PROTO_UDP) {
    uint8_t buf[EC_WATCH_MAX_DGRAM];
    size_t dlen = encode(buf, sizeof(buf), con ? COAP_MESSAGE_CON
                                               : COAP_MESSAGE_NON,
                         code, (uint16_t)mid, w, o, n, data, len);
    if (dlen == 0)
      return EC_ETOOBIG;
    if (con) {
      uint8_t *copy = malloc(dlen);
      if (copy == NULL)
        return EC_ENOMEM;
      memcpy(copy, buf, dlen);
      if (w->con_dgram != NULL) {
        free(w->con_dgram); /* replaced: tries and timeout carry on */
      } else {
        w->con_tries = 0;
        /* ACK_TIMEOUT times a random factor of 1 to 1.5. */
        unsigned r = 0;
        coap_prng(&r, sizeof(r));
        unsigned ack = srv->cfg.ack_timeout_ms;
        w->con_timeout_ms = ack + r % (ack / 2 + 1);
        w->con_next = srv->con_watches;
        if (srv->con_watches != NULL)
          srv->con_watches->con_prev = w;
        srv->con_watches = w;
      }
      w->con_dgram = copy;
      w->con_len = dlen;
      w->con_mid = (uint16_t)mid;
      w->con_due_ms = ec_mono_ms() + w->con_timeout_ms;
      if (w->con_due_ms < srv->con_due_min)
        srv->con_due_min = w->con_due_ms;
    }
    int rc = send_raw(srv, w, buf, dlen);
    if (rc < 0 && !con)
      return rc; /* a CON is retransmitted; a NON is simply lost */
  } else {
    ec_req_udp_mtu(w->session);
    coap_pdu_t *pdu = coap_pdu_init(con ? COAP_MESSAGE_CON : COAP_MESSAGE_NON,
                                    code, mid,
                                    coap_session_max_pdu_size(w->session));
    if (pdu == NULL || !coap_add_token(pdu, w->token_len, w->token)) {
      coap_delete_pdu(pdu);
      return EC_ENOMEM;
    }
    for (int i = 0; i < n; i++)
      coap_add_option(pdu, o[i].num, o[i].len, o[i].val);
    if (len > 0 && !coap_add_data(pdu, len, data)) {
      coap_delete_pdu(pdu);
      return EC_ETOOBIG;
    }
    if (coap_send(w->session, pdu) == COAP_INVALID_MID) /* takes the PDU */
      return EC_EIO;
  }
  if (con) {
    w->non_count = 0;
    w->confirmed_ms = ec_mono_ms();
  } else {
    w->non_count++;
    w->non_mids[w->n_non_mids++ % EC_WATCH_NON_MIDS] = (uint16_t)mid;
  }
  return 0;
}

static int notify(ec_server_t *srv, ec_watch_t *w, const uint8_t *data,
                  size_t len, uint64_t etag, unsigned max_age,
                  int whole_only) {
  opt_t o[6];
  int n = 0;
  size_t room = coap_session_max_pdu_size(w->session);
  if (room > EC_WATCH_MAX_DGRAM)
    room = EC_WATCH_MAX_DGRAM;
  int blocks = len > room - NOTIFY_MARGIN;
  if (blocks && whole_only) {
    ec_log(EC_LOG_WARN, "%s: a %zu-byte notification does not fit a datagram",
           w->list->name, len);
    return EC_ETOOBIG;
  }
  uint32_t next = (w->observe + 1) & 0xFFFFFF;
  if (etag != 0)
    opt_uint(&o[n++], COAP_OPTION_ETAG, etag);
  opt_uint(&o[n++], COAP_OPTION_OBSERVE, next);
  opt_uint(&o[n++], COAP_OPTION_CONTENT_FORMAT, w->fmt);
  if (max_age != 0)
    opt_uint(&o[n++], COAP_OPTION_MAXAGE, max_age);
  if (blocks) {
    opt_uint(&o[n++], COAP_OPTION_BLOCK2, 1 << 3 | NOTIFY_BLOCK_SZX);
    opt_uint(&o[n++], COAP_OPTION_SIZE2, len);
    len = NOTIFY_BLOCK;
    /* The observer fetches the rest now: the next notification waits. */
    w->fetch_until = ec_mono_ms() + FETCH_WINDOW_MS;
  }
  int rc = deliver(srv, w, COAP_RESPONSE_CODE_CONTENT, o, n, data, len);
  if (rc == 0)
    w->observe = next;
  return rc;
}

int ec_watch_send(ec_server_t *srv, ec_watch_t *w, const uint8_t *data,
                  size_t len) {
  return notify(srv, w, data, len, 0, 0, 1);
}

static int notify_state(ec_server_t *srv, ec_watch_t *w, const uint8_t *data,
                        size_t len, uint64_t etag, unsigned max_age) {
  return notify(srv, w, data, len, etag, max_age, 0);
}

/* A final response @p code without Observe ends the observation at the
 * client (RFC 7641 3.2); @p title and @p detail make its problem body. */
static void end_watch(ec_server_t *srv, ec_watch_t *w, int code,
                      const char *title, const char *detail) {
  uint8_t body[320];
  opt_t o[1];
  int n = 0;
  int coap_code = (code / 100) << 5 | (code % 100);
  ec_format_t f = w->fmt == EC_FORMAT_CBOR ? EC_FORMAT_PROBLEM_CBOR
                                            : EC_FORMAT_JSON;
  ssize_t len = title ? ec_problem_encode(f, title, detail, coap_code, NULL,
                                          body, sizeof(body))
                      : -1;
  if (len > 0 && (size_t)len <= sizeof(body))
    opt_uint(&o[n++], COAP_OPTION_CONTENT_FORMAT, f);
  else
    len = 0;
  /* A final answer: not kept for retransmission. */
  w->non_count = 0;
  con_clear(srv, w);
  (void)deliver(srv, w, (uint8_t)coap_code, o, n, body, (size_t)len);
  con_clear(srv, w);
  ec_watch_remove(w);
}

void ec_watch_free_all(ec_server_t *srv) {
  for (ec_peer_t *p = srv->peers; p != NULL; p = p->next)
    while (p->watches != NULL)
      ec_watch_remove(p->watches);
}

void ec_watch_end_all(ec_server_t *srv, int code, const char *title,
                      const char *detail) {
  for (ec_peer_t *p = srv->peers; p != NULL; p = p->next)
    while (p->watches != NULL)
      end_watch(srv, p->watches, code, title, detail);
}

/* An observer that stopped answering (@p silent) or refused a notification. */
static void gone(ec_watch_t *w, const char *how, bool silent) {
  ec_log(EC_LOG_INFO, "%s: observer gone (%s), observation ended",
         w->list->name, how);
  ec_metrics_add(w->srv->metrics,
                 silent ? EC_M_OBS_DROPPED_SILENT : EC_M_OBS_DROPPED_RESET, 1);
  ec_watch_remove(w);
}

void ec_watch_on_nack(ec_server_t *srv, coap_session_t *session,
                      const coap_pdu_t *sent, bool silent) {
  ec_peer_t *peer = coap_session_get_app_data(session);
  (void)srv;
  if (sent == NULL || peer == NULL)
    return;
  coap_bin_const_t token = coap_pdu_get_token(sent);
  for (ec_watch_t *w = peer->watches; w != NULL; w = w->peer_next)
    if (w->token_len == token.length &&
        memcmp(w->token, token.s, token.length) == 0) {
      gone(w, silent ? "notification unanswered" : "notification refused",
           silent);
      return;
    }
}

void ec_watch_on_ack(ec_server_t *srv, coap_session_t *session, uint16_t mid) {
  ec_peer_t *peer = coap_session_get_app_data(session);
  if (peer == NULL)
    return;
  for (ec_watch_t *w = peer->watches; w != NULL; w = w->peer_next)
    if (w->con_dgram != NULL && w->con_mid == mid) {
      con_clear(srv, w);
      return;
    }
}

void ec_watch_note_fetch(ec_req_t *rq, ec_watch_list_t *list, size_t len) {
  coap_block_b_t b = {0};
  ec_peer_t *peer = coap_session_get_app_data(rq->session);
  if (peer == NULL || peer->watches == NULL)
    return;
  if (!ec_req_block2(rq, &b))
    b.szx = NOTIFY_BLOCK_SZX; /* block 0 of the server's size */
  size_t size = (size_t)1 << ((b.szx < 6 ? b.szx : 6) + 4);
  int last = ((size_t)b.num + 1) * size >= len;
  uint64_t until = last ? 0 : ec_mono_ms() + FETCH_WINDOW_MS;
  for (ec_watch_t *w = peer->watches; w != NULL; w = w->peer_next)
    if (w->list == list)
      w->fetch_until = until;
}

/* True while @p w's observer fetches a notification's later blocks. */
static bool fetching(const ec_watch_t *w) {
  return w->fetch_until != 0 && w->fetch_until > ec_mono_ms();
}

/* Send @p w the list's current state (list->refresh) once it is no longer
 * busy, from ec_watch_tick(). */
static void defer(ec_server_t *srv, ec_watch_t *w) {
  if (w->deferred)
    return;
  w->deferred = true;
  srv->n_deferred++;
}

/* Send the deferred notifications whose observers are done fetching. */
static void send_deferred(ec_server_t *srv) {
  for (ec_peer_t *p = srv->peers; p != NULL && srv->n_deferred > 0;
       p = p->next) {
    ec_watch_t *next;
    for (ec_watch_t *w = p->watches; w != NULL; w = next) {
      next = w->peer_next;
      if (!w->deferred || fetching(w))
        continue;
      w->deferred = false;
      srv->n_deferred--;
      if (w->list->refresh != NULL)
        w->list->refresh(srv, w); /* may end w */
    }
  }
}

/*
 * RFC 7641 section 4.5: a server that sends only NON notifications never
 * learns that an observer is gone, and an observation of something that
 * does not change sends nothing at all, so a vanished device would be kept
 * (and its session with it) for ever. Each watch that had no confirmable
 * notification for cfg.observe_check_s gets one of the current state; if
 * it goes unanswered, the watch ends as any other (counted as silent).
 */
static void check_silent(ec_server_t *srv, uint64_t now) {
  uint64_t every = (uint64_t)srv->cfg.observe_check_s * 1000u;
  for (ec_peer_t *p = srv->peers; p != NULL; p = p->next) {
    ec_watch_t *next;
    for (ec_watch_t *w = p->watches; w != NULL; w = next) {
      next = w->peer_next;
      if (now - w->confirmed_ms < every || w->con_dgram != NULL ||
          w->deferred || fetching(w))
        continue;
      w->non_count = MAX_NON_IN_A_ROW; /* the next one is confirmable */
      if (w->list->refresh == NULL)
        continue; /* no state to send: its next notification checks */
      w->confirmed_ms = now; /* once per interval, even if it fails */
      ec_metrics_add(srv->metrics, EC_M_OBS_CHECKS, 1);
      w->list->refresh(srv, w); /* may end w */
    }
  }
}

void ec_watch_tick(ec_server_t *srv) {
  if (srv->n_deferred > 0)
    send_deferred(srv);
  uint64_t now = ec_mono_ms();
  if (srv->cfg.observe_check_s > 0 && now >= srv->check_next_ms) {
    srv->check_next_ms = now + 1000;
    check_silent(srv, now);
  }
  /* srv->con_due_min is never later than the earliest due time (an ACK
   * may have made it early), so most rounds end here without a walk. */
  if (srv->con_watches == NULL || now < srv->con_due_min)
    return;
  uint64_t min = UINT64_MAX;
  ec_watch_t *next;
  for (ec_watch_t *w = srv->con_watches; w != NULL; w = next) {
    next = w->con_next;
    if (w->con_due_ms <= now) {
      if (w->con_tries >= MAX_RETRANSMIT) {
        gone(w, "confirmable notification unanswered", true);
        continue;
      }
      w->con_tries++;
      w->con_timeout_ms *= 2;
      w->con_due_ms = now + w->con_timeout_ms;
      (void)send_raw(srv, w, w->con_dgram, w->con_len);
    }
    if (w->con_due_ms < min)
      min = w->con_due_ms;
  }
  srv->con_due_min = min;
}

int ec_watch_next_ms(const ec_server_t *srv) {
  uint64_t now = ec_mono_ms(), due = srv->con_due_min;
  /* A deferred notification waits for a client's next block, or for its
   * fetch window to close: look again soon. */
  if (srv->n_deferred > 0 && (srv->con_watches == NULL || due > now + 50))
    return 50;
  if (srv->con_watches == NULL)
    return -1;
  return due <= now ? 0 : due - now > INT32_MAX ? INT32_MAX : (int)(due - now);
}

void ec_watch_on_rst(ec_server_t *srv, coap_session_t *session, uint16_t mid) {
  ec_peer_t *peer = coap_session_get_app_data(session);
  (void)srv;
  if (peer == NULL)
    return;
  for (ec_watch_t *w = peer->watches; w != NULL; w = w->peer_next) {
    if (w->con_dgram != NULL && w->con_mid == mid) {
      gone(w, "a notification was reset", false);
      return;
    }
    unsigned n = w->n_non_mids < EC_WATCH_NON_MIDS ? w->n_non_mids
                                                   : EC_WATCH_NON_MIDS;
    for (unsigned i = 0; i < n; i++)
      if (w->non_mids[i] == mid) {
        gone(w, "a notification was reset", false);
        return;
      }
  }
}

void ec_watch_deliver(ec_server_t *srv, ec_watch_t *w, const uint8_t *cbor,
                      size_t cbor_len, uint64_t cbor_etag, const uint8_t *json,
                      size_t json_len, uint64_t json_etag, unsigned max_age) {
  /* A DTLS identity removed since the observation began gets no more. */
  if (!ec_access_session_valid(srv, w->session)) {
    end_watch(srv, w, 401, "credentials-revoked",
              "this DTLS session's identity was removed or given a new "
              "key");
    return;
  }
  /* An observer still fetching the blocks of the last notification gets
   * this one when it is done: sent now, it would cut into that transfer,
   * and libcoap 4.3.1's client then dropped both (RFC 7641 section 4.5
   * lets a notification wait; the one sent is the newest). */
  if (fetching(w)) {
    defer(srv, w);
    return;
  }
  if (w->fmt == EC_FORMAT_CBOR)
    notify_state(srv, w, cbor, cbor_len, cbor_etag, max_age);
  else
    notify_state(srv, w, json, json_len, json_etag, max_age);
}
