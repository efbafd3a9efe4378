/* edgecoap device core: exchanges, retransmission and Observe, driven by one step call. */
/* SPDX-License-Identifier: Apache-2.0 */

#include "engine.h"


/* A notification older than this is no longer compared by sequence number
 * (RFC 7641 section 3.4). */
#define FRESH_MS 128000u
/* Re-register this long after Max-Age passed without a notification, so a
 * notification already on its way is not raced. */
#define REREGISTER_SLACK_MS 2000u
#define FORMAT_CBOR 60

static bool due(uint32_t deadline, uint32_t now) {
  return (int32_t)(deadline - now) <= 0;
}

static uint32_t rnd32(ec_dev_t *dev) {
  uint32_t r = 0;
  dev->t->random(dev->t->ctx, &r, sizeof r);
  return r;
}

void ec_dev_init(ec_dev_t *dev, const ec_dev_transport_t *t) {
  ec__zero(dev, sizeof *dev);
  dev->t = t;
  /* Random starting points make a rebooted device's Message IDs and tokens
   * unlikely to match what the server still remembers of the last boot. */
  dev->next_mid = (uint16_t)rnd32(dev);
  dev->next_token = rnd32(dev);
}

static int send_dgram(ec_dev_t *dev, const uint8_t *d, size_t len) {
  return dev->t->send(dev->t->ctx, d, len) < 0 ? EC_EIO : 0;
}

/* An Empty ACK or RST for the server's message @p mid. */
static void send_empty(ec_dev_t *dev, uint8_t type, uint16_t mid) {
  uint8_t h[4] = {(uint8_t)(0x40 | type << 4), 0, (uint8_t)(mid >> 8),
                  (uint8_t)mid};
  (void)send_dgram(dev, h, sizeof h);
}

/* Send the exchange's datagram as a fresh confirmable transmission: the
 * first timeout is random in [ACK_TIMEOUT, ACK_TIMEOUT * 1.5] (section 4.8). */
int ec__dev_transmit(ec_dev_t *dev, ec__dev_xchg_t *x, uint32_t now) {
  x->state = X_WAIT_ACK;
  x->retries = 0;
  x->timeout =
      EC_DEV_ACK_TIMEOUT_MS + rnd32(dev) % (EC_DEV_ACK_TIMEOUT_MS / 2 + 1);
  x->deadline = now + x->timeout;
  return send_dgram(dev, x->buf, x->len);
}

/* Free the exchange, then run its callback: the callback may start another
 * exchange in the same slot. */
static void finish(ec_dev_t *dev, ec__dev_xchg_t *x, ec_dev_answer_t *a) {
  ec_dev_cb_t cb = x->cb;
  void *user = x->user;
  x->state = X_FREE;
  a->observing = false;
  if (cb != NULL) {
    cb(dev, user, a);
  }
}

static void fail(ec_dev_t *dev, ec__dev_xchg_t *x, int result) {
  ec_dev_answer_t a;
  ec__zero(&a, sizeof a);
  a.result = result;
  a.content_format = -1;
  finish(dev, x, &a);
}

/* RFC 7641 section 3.4: is notification @p v2 newer than the last one? */
static bool fresh(const ec__dev_xchg_t *x, uint32_t v2, uint32_t now) {
  uint32_t v1 = x->seq;
  return !x->have_seq || (v1 < v2 && v2 - v1 < (1u << 23)) ||
         (v1 > v2 && v1 - v2 > (1u << 23)) || now - x->seq_at > FRESH_MS;
}

/* Later blocks of an answer are asked for with the exchange's token but
 * for its last byte's top bit, so that their answers are told from the
 * notifications of an observation, which keep coming on the token. */
#define FOLLOW_UP 0x80u

/* 1 when @p m carries the exchange's token, 2 its follow-up token, else 0. */
static int token_kind(const ec__dev_xchg_t *x, const ec_coap_msg_t *m) {
  if (m->tkl != 4 || !ec__same(m->token, x->token, 3)) {
    return 0;
  }
  return m->token[3] == x->token[3]                 ? 1
         : m->token[3] == (x->token[3] ^ FOLLOW_UP) ? 2
                                                    : 0;
}

/* A new Message ID for the exchange's datagram, which goes as a new
 * message (a later block, an Echo retry, a re-registration). Out of line,
 * as reopen() below. */
static __attribute__((noinline)) void renumber(ec_dev_t *dev,
                                                ec__dev_xchg_t *x) {
  x->mid = dev->next_mid++;
  x->buf[2] = (uint8_t)(x->mid >> 8);
  x->buf[3] = (uint8_t)x->mid;
}

/* The request up to its own options (req_len, which end with Accept), to
 * add Block2, Block1 or Echo to. Kept out of line: inlined at its four
 * callers it costs 16 bytes of flash. */
static __attribute__((noinline)) void reopen(const ec__dev_xchg_t *x,
                                              ec_coap_build_t *b) {
  b->buf = x->buf;
  b->cap = x->cap;
  b->len = x->req_len;
  b->last = EC_COAP_OPT_ACCEPT;
  b->err = 0;
}

/* End a request built again from its options (req_len) plus Block2,
 * Block1 or Echo: a request of ec_dev_request() has its extra option, and
 * its body when @p body and it was sent whole, after those. */
static int again_done(ec_dev_t *dev, const ec__dev_xchg_t *x,
                      ec_coap_build_t *b, bool body) {
  if (x->req != NULL) {
    dev->tail(x, b, body);
  }
  return ec_coap_finish(b);
}

/* Pass on a whole answer: a notification keeps the observation going
 * (until its Max-Age passes); anything else ends the exchange. */
static void deliver(ec_dev_t *dev, ec__dev_xchg_t *x, ec_dev_answer_t *a,
                    bool notification, uint32_t now) {
  if (x->fetching) {
    x->fetching = false;
    /* The request as it was, for a re-registration. */
    ec_coap_build_t b;
  reopen(x, &b);
    x->len = (uint16_t)again_done(dev, x, &b, true);
    x->buf[7] = x->token[3];
  }
  if (!notification) {
    finish(dev, x, a);
    return;
  }
  x->state = X_OBSERVING;
  x->deadline = now + x->max_age * 1000u + REREGISTER_SLACK_MS;
  a->observing = true;
  a->observe = x->seq;
  if (x->cb != NULL) {
    x->cb(dev, x->user, a);
  }
}

/* Ask for block @p num of the answer being reassembled, on a new Message
 * ID with the follow-up token: the request again, plus Block2. */
static void fetch(ec_dev_t *dev, ec__dev_xchg_t *x, uint32_t num, uint8_t szx,
                  uint32_t now) {
  ec_coap_build_t b;
  reopen(x, &b);
  ec_coap_add_uint(&b, EC_COAP_OPT_BLOCK2, num << 4 | szx);
  int len = again_done(dev, x, &b, true);
  if (len < 0) {
    fail(dev, x, len);
    return;
  }
  x->fetching = true;
  x->next_block = num;
  x->len = (uint16_t)len;
  renumber(dev, x);
  x->buf[7] = (uint8_t)(x->token[3] ^ FOLLOW_UP);
  (void)ec__dev_transmit(dev, x, now);
}

/* Send block @p num of a block-wise report (RFC 7959 section 2.5): the
 * request's header and options again, Block1 (and Size1 with block 0), and
 * that slice of the CBOR kept at the end of the caller's buffer, on a new
 * Message ID. */
void ec__dev_send_block(ec_dev_t *dev, ec__dev_xchg_t *x, uint32_t num,
                        uint32_t now) {
  size_t bs = (size_t)16 << x->szx;
  size_t off = (size_t)num * bs;
  size_t n = x->body_len - off < bs ? x->body_len - off : bs;
  ec_coap_build_t b;
  reopen(x, &b);
  ec_coap_add_uint(&b, EC_COAP_OPT_BLOCK1,
                   num << 4 | (off + n < x->body_len ? 8u : 0u) | x->szx);
  if (num == 0) {
    ec_coap_add_uint(&b, EC_COAP_OPT_SIZE1, (uint32_t)x->body_len);
  }
  if (x->req != NULL) {
    dev->tail(x, &b, false); /* a request of ec_dev_request(): its option */
  } else {
    ec_coap_add(&b, EC_COAP_OPT_REQUEST_ID, x->body - EC__RID_LEN, EC__RID_LEN);
  }
  size_t room;
  uint8_t *p = ec_coap_payload_room(&b, &room);
  if (p != NULL && room >= n) {
    ec__copy(p, (x->req != NULL ? x->req->body : x->body) + off, n);
  }
  ec_coap_payload_done(&b, n);
  int len = ec_coap_finish(&b);
  if (len < 0) {
    fail(dev, x, len);
    return;
  }
  x->next_block = num;
  x->len = (uint16_t)len;
  if (num > 0) {
    renumber(dev, x);
  }
  (void)ec__dev_transmit(dev, x, now);
}

/* The answer to one block of an upload: 2.31 Continue for it asks for the
 * next (in the server's block size, if smaller: section 2.5); anything
 * else is the answer to the whole report (false). */
static bool on_upload(ec_dev_t *dev, ec__dev_xchg_t *x, const ec_coap_msg_t *m,
                      uint32_t now) {
  uint32_t b1;
  if (m->code == EC_COAP_CODE(2, 31) &&
      ec_coap_opt_uint(m, EC_COAP_OPT_BLOCK1, &b1) == 1 &&
      b1 >> 4 == x->next_block && (b1 & 7) <= x->szx) {
    uint32_t next = (x->next_block + 1) << (x->szx - (b1 & 7));
    x->szx = b1 & 7;
    if ((size_t)next << (x->szx + 4) >= x->body_len) {
      fail(dev, x, EC_EPROTO); /* Continue, with nothing left to send */
      return true;
    }
    ec__dev_send_block(dev, x, next, now);
    return true;
  }
  x->uploading = false; /* the answer: taken as that of a request sent whole */
  return false;
}

/* One block of a block-wise answer into the caller's body buffer (RFC 7959
 * section 2.4): block 0 starts it and fixes its ETag and Size2; each later
 * block must be the next one with the same ETag, or the representation
 * changed in between and the reassembly starts again from block 0. */
static void on_block(ec_dev_t *dev, ec__dev_xchg_t *x, const ec_coap_msg_t *m,
                     ec_dev_answer_t *a, uint32_t b2, bool notification,
                     uint32_t now) {
  uint32_t num = b2 >> 4;
  uint8_t szx = b2 & 7;
  const uint8_t *etag = NULL;
  size_t etag_len = 0;
  (void)ec_coap_opt(m, EC_COAP_OPT_ETAG, 0, &etag, &etag_len);
  if (szx == 7 || etag_len > sizeof x->etag) {
    fail(dev, x, EC_EPROTO);
    return;
  }
  if (num == 0) {
    uint32_t size2 = 0;
    (void)ec_coap_opt_uint(m, EC_COAP_OPT_SIZE2, &size2);
    x->size2 = size2;
    x->body_len = 0;
    x->etag_len = (uint8_t)etag_len;
    ec__copy(x->etag, etag, etag_len);
  } else if (num != x->next_block || etag_len != x->etag_len ||
             !ec__same(etag, x->etag, etag_len)) {
    if (x->restarts++ < 3) {
      fetch(dev, x, 0, szx, now);
    } else {
      fail(dev, x, EC_EPROTO);
    }
    return;
  }
  size_t off = (size_t)num << (szx + 4);
  bool more = (b2 & 8) != 0;
  if (x->size2 > x->body_cap || off != x->body_len ||
      m->payload_len > x->body_cap - off ||
      (more && m->payload_len != (size_t)16 << szx)) {
    fail(dev, x, off != x->body_len ? EC_EPROTO : EC_ETOOBIG);
    return;
  }
  ec__copy(x->body + off, m->payload, m->payload_len);
  x->body_len = off + m->payload_len;
  if (more) {
    fetch(dev, x, num + 1, szx, now);
    return;
  }
  if (x->size2 != 0 && x->size2 != x->body_len) {
    fail(dev, x, EC_EPROTO);
    return;
  }
  x->restarts = 0;
  a->payload = x->body;
  a->payload_len = x->body_len;
  a->more = false;
  deliver(dev, x, a, notification, now);
}

/*
 * A 4.01 with an Echo option (RFC 9175): over plain CoAP the server answers
 * an address it has not verified at most three times the request, and
 * observes only a verified one (docs/API.md section 1, "Amplification").
 * A GET goes again once, with the value after its options and on a new
 * Message ID; later blocks and re-registrations are built from req_len,
 * without it (the session is verified by then). True when sent again.
 */
static bool echo_again(ec_dev_t *dev, ec__dev_xchg_t *x,
                       const ec_coap_msg_t *m, uint32_t now) {
  const uint8_t *v;
  size_t n;
  uint8_t val[40];
  if (m->code != EC_COAP_CODE(4, 1) || x->echoed || x->uploading ||
      x->fetching || (x->buf[1] != EC_COAP_GET && x->req == NULL) ||
      ec_coap_opt(m, EC_COAP_OPT_ECHO, 0, &v, &n) != 1 || n == 0 ||
      n > sizeof val) {
    return false;
  }
  ec__copy(val, v, n);
  ec_coap_build_t b;
  reopen(x, &b);
  ec_coap_add(&b, EC_COAP_OPT_ECHO, val, n);
  int len = again_done(dev, x, &b, true);
  if (len < 0) {
    return false;
  }
  x->echoed = true;
  x->len = (uint16_t)len;
  renumber(dev, x);
  (void)ec__dev_transmit(dev, x, now);
  return true;
}

/* A response (piggybacked or separate) or a notification for @p x. */
static void answer(ec_dev_t *dev, ec__dev_xchg_t *x, const ec_coap_msg_t *m,
                   uint32_t now) {
  if (echo_again(dev, x, m, now)) {
    return;
  }
  ec_dev_answer_t a;
  uint32_t v;
  ec__zero(&a, sizeof a);
  a.code = m->code;
  a.content_format =
      ec_coap_opt_uint(m, EC_COAP_OPT_CONTENT_FORMAT, &v) == 1 ? (int)v : -1;
  a.payload = m->payload;
  a.payload_len = m->payload_len;
  a.max_age = 60; /* the default of section 5.10.5 */
  (void)ec_coap_opt_uint(m, EC_COAP_OPT_MAX_AGE, &a.max_age);
  uint32_t b2 = 0;
  bool block = (m->code >> 5) == 2 &&
               ec_coap_opt_uint(m, EC_COAP_OPT_BLOCK2, &b2) == 1;
  a.more = block && (b2 & 8) != 0;
  if (x->uploading && on_upload(dev, x, m, now)) {
    return;
  }
  if (token_kind(x, m) == 2) { /* a later block's answer */
    if (!x->fetching) {
      return; /* a late answer to a reassembly given up */
    }
    if (block) {
      on_block(dev, x, m, &a, b2, x->observe && x->have_seq, now);
    } else {
      deliver(dev, x, &a, false, now); /* an error ends it */
    }
    return;
  }
  uint32_t obs;
  if (!x->observe || (m->code >> 5) != 2 ||
      ec_coap_opt_uint(m, EC_COAP_OPT_OBSERVE, &obs) != 1) {
    if (a.more && x->body != NULL &&
        (x->buf[1] == EC_COAP_GET || x->req != NULL)) {
      on_block(dev, x, m, &a, b2, false, now);
    } else {
      deliver(dev, x, &a, false, now); /* a plain answer, or the end */
    }
    return;
  }
  /* The answer to the registration itself is always taken; later
   * notifications only when fresher than the last. */
  bool registration = x->state != X_OBSERVING && !x->fetching;
  if (!registration && !fresh(x, obs, now)) {
    return;
  }
  x->max_age = (uint16_t)(a.max_age > 43200u ? 43200u : a.max_age);
  x->seq = obs;
  x->seq_at = now;
  x->have_seq = true;
  if (a.more && x->body != NULL) {
    x->restarts = 0;
    on_block(dev, x, m, &a, b2, true, now);
  } else {
    deliver(dev, x, &a, true, now);
  }
}

/* Was the server's CON @p mid seen lately (the last EC_DEV_DEDUP)? */
static bool seen_before(const ec_dev_t *dev, uint16_t mid) {
  for (unsigned i = 0; i < dev->n_seen; i++) {
    if (dev->seen[i] == mid) {
      return true;
    }
  }
  return false;
}

static void remember(ec_dev_t *dev, uint16_t mid) {
  dev->seen[dev->seen_head] = mid;
  dev->seen_head = (uint8_t)((dev->seen_head + 1) % EC_DEV_DEDUP);
  if (dev->n_seen < EC_DEV_DEDUP) {
    dev->n_seen++;
  }
}

static ec__dev_xchg_t *by_token(ec_dev_t *dev, const ec_coap_msg_t *m) {
  for (unsigned i = 0; i < EC_DEV_MAX_EXCHANGES; i++) {
    ec__dev_xchg_t *x = &dev->x[i];
    if (x->state != X_FREE && token_kind(x, m) != 0) {
      return x;
    }
  }
  return NULL;
}

static void on_dgram(ec_dev_t *dev, uint32_t now, const uint8_t *d,
                     size_t len) {
  ec_coap_msg_t m;
  if (ec_coap_parse(&m, d, len) < 0) {
    return; /* not CoAP: nothing can be answered to it */
  }
  if (m.type == EC_COAP_ACK || m.type == EC_COAP_RST) {
    for (unsigned i = 0; i < EC_DEV_MAX_EXCHANGES; i++) {
      ec__dev_xchg_t *x = &dev->x[i];
      if (x->state != X_WAIT_ACK || x->mid != m.mid) {
        continue;
      }
      if (m.type == EC_COAP_RST) {
        fail(dev, x, EC_EPROTO);
      } else if (m.code == 0) { /* the answer will come separately */
        x->state = X_WAIT_SEP;
        x->deadline = now + EC_DEV_SEPARATE_WAIT_MS;
      } else if (token_kind(x, &m) != 0) {
        answer(dev, x, &m, now);
      }
      return;
    }
    return;
  }
  if (m.type == EC_COAP_CON && seen_before(dev, m.mid)) {
    /* Our ACK was lost and the server sent it again: it was passed on
     * already, so it is only acknowledged again. */
    send_empty(dev, EC_COAP_ACK, m.mid);
    return;
  }
  ec__dev_xchg_t *x = (m.code >> 5) >= 2 ? by_token(dev, &m) : NULL;
  if (x == NULL) {
    /* A request, a ping or a notification for nothing we asked (a
     * cancelled observation): an RST ends it (RFC 7641 section 3.6). */
    if (m.type == EC_COAP_CON || m.code != 0) {
      send_empty(dev, EC_COAP_RST, m.mid);
    }
    return;
  }
  if (m.type == EC_COAP_CON) {
    remember(dev, m.mid);
    send_empty(dev, EC_COAP_ACK, m.mid);
  }
  answer(dev, x, &m, now);
}

static void on_timer(ec_dev_t *dev, ec__dev_xchg_t *x, uint32_t now) {
  switch (x->state) {
  case X_WAIT_ACK:
    if (x->retries >= EC_DEV_MAX_RETRANSMIT) {
      fail(dev, x, EC_ETIMEOUT);
      return;
    }
    x->retries++;
    x->timeout *= 2;
    x->deadline = now + x->timeout;
    (void)send_dgram(dev, x->buf, x->len); /* a failure is one more loss */
    return;
  case X_WAIT_SEP:
    fail(dev, x, EC_ETIMEOUT);
    return;
  default:
    /* Max-Age passed without a notification: the server may have lost the
     * observation (a restart), so register again with the same token and
     * a new Message ID. */
    renumber(dev, x);
    (void)ec__dev_transmit(dev, x, now);
  }
}

uint32_t ec_dev_step(ec_dev_t *dev, uint32_t now, const uint8_t *dgram,
                     size_t len) {
  if (dgram != NULL && len > 0) {
    on_dgram(dev, now, dgram, len);
  }
  for (unsigned i = 0; i < EC_DEV_MAX_EXCHANGES; i++) {
    if (dev->x[i].state != X_FREE && due(dev->x[i].deadline, now)) {
      on_timer(dev, &dev->x[i], now);
    }
  }
  uint32_t next = dev->hook != NULL ? dev->hook(dev->hook_ctx, now) : EC_DEV_IDLE;
  for (unsigned i = 0; i < EC_DEV_MAX_EXCHANGES; i++) {
    const ec__dev_xchg_t *x = &dev->x[i];
    if (x->state != X_FREE) {
      uint32_t d = due(x->deadline, now) ? 0 : x->deadline - now;
      next = d < next ? d : next;
    }
  }
  return next;
}

/* Take a free exchange and start its request in @p buf: a CON with a new
 * Message ID and a 4-byte token, Observe 0 when observing. */
ec__dev_xchg_t *ec__dev_begin(ec_dev_t *dev, ec_coap_build_t *b, uint8_t *buf,
                              size_t cap, uint8_t code, bool observe) {
  for (unsigned i = 0; i < EC_DEV_MAX_EXCHANGES; i++) {
    ec__dev_xchg_t *x = &dev->x[i];
    if (x->state != X_FREE) {
      continue;
    }
    ec__zero(x, sizeof *x);
    /* Tokens keep the top bit of their last byte clear: follow-up tokens
     * set it (FOLLOW_UP), so the two can never meet however long an
     * observation lives. */
    uint32_t t = dev->next_token++;
    if ((t & FOLLOW_UP) != 0) {
      t += FOLLOW_UP;
      dev->next_token = t + 1;
    }
    x->token[0] = (uint8_t)(t >> 24);
    x->token[1] = (uint8_t)(t >> 16);
    x->token[2] = (uint8_t)(t >> 8);
    x->token[3] = (uint8_t)t;
    x->mid = dev->next_mid++;
    x->observe = observe;
    x->buf = buf;
    ec_coap_start(b, buf, cap, EC_COAP_CON, code, x->mid, x->token, 4);
    if (observe) {
      ec_coap_add(b, EC_COAP_OPT_OBSERVE, NULL, 0);
    }
    return x;
  }
  return NULL;
}

int ec__dev_launch(ec_dev_t *dev, ec__dev_xchg_t *x, ec_coap_build_t *b,
                   ec_dev_cb_t cb, void *user) {
  int len = ec_coap_finish(b);
  if (len < 0) {
    return len;
  }
  if (len > 0xFFFF) {
    return EC_ENOSPC;
  }
  x->len = (uint16_t)len;
  x->req_len = (uint16_t)len;
  x->cap = (uint16_t)(b->cap > 0xFFFF ? 0xFFFF : b->cap);
  x->cb = cb;
  x->user = user;
  if (ec__dev_transmit(dev, x, dev->t->now_ms(dev->t->ctx)) < 0) {
    x->state = X_FREE;
    return EC_EIO;
  }
  return (int)(x - dev->x);
}

/* Option @p num holding @p n bytes of @p s, lowercased when @p low (a
 * deploymentId: the server observes only its lowercase spelling). */
static void segment(ec_coap_build_t *b, uint16_t num, const char *s, size_t n,
                    bool low) {
  ec_coap_add(b, num, s, n);
  for (size_t i = b->len - n; low && b->err == 0 && i < b->len; i++) {
    if (b->buf[i] >= 'A' && b->buf[i] <= 'Z') {
      b->buf[i] = (uint8_t)(b->buf[i] + ('a' - 'A'));
    }
  }
}

static void status_path(ec_coap_build_t *b, const char *device_id,
                        const char *deployment_id) {
  segment(b, EC_COAP_OPT_URI_PATH, "device", 6, false);
  segment(b, EC_COAP_OPT_URI_PATH, device_id, ec__len(device_id), false);
  segment(b, EC_COAP_OPT_URI_PATH, "deployment", 10, false);
  segment(b, EC_COAP_OPT_URI_PATH, deployment_id, ec__len(deployment_id), true);
  segment(b, EC_COAP_OPT_URI_PATH, "status", 6, false);
}

/* The last @p n bytes of @p buf hold a report's CBOR, the EC__RID_LEN
 * before them its Request-Id: POST it to the deployment's status, in one
 * datagram (the CBOR moved down behind the options) or block-wise (Block1:
 * the CBOR stays where it is and each block's datagram is built in front
 * of the Request-Id). */
int ec__dev_post(ec_dev_t *dev, const char *device_id, const char *deployment_id,
                 uint8_t *buf, size_t cap, size_t n, ec_dev_cb_t cb,
                 void *user) {
  if (cap < n + EC__RID_LEN) {
    return EC_ENOSPC;
  }
  size_t front = cap - n - EC__RID_LEN;
  ec_coap_build_t b;
  ec__dev_xchg_t *x = ec__dev_begin(dev, &b, buf, front, EC_COAP_POST, false);
  if (x == NULL) {
    return EC_ENOMEM;
  }
  status_path(&b, device_id, deployment_id);
  ec_coap_add_uint(&b, EC_COAP_OPT_CONTENT_FORMAT, FORMAT_CBOR);
  ec_coap_add_uint(&b, EC_COAP_OPT_ACCEPT, FORMAT_CBOR);
  if (b.err != 0) {
    return b.err; /* begin() left the exchange free */
  }
  size_t hdr = b.len;
  uint8_t *rid = buf + front;
  if (hdr + 4 + EC__RID_LEN + n <= EC_DEV_MAX_DATAGRAM) {
    ec_coap_add(&b, EC_COAP_OPT_REQUEST_ID, rid, EC__RID_LEN);
    b.cap = cap;
    size_t room;
    uint8_t *p = ec_coap_payload_room(&b, &room);
    if (p != NULL) {
      ec__copy(p, rid + EC__RID_LEN, n); /* down: front to back is safe */
    }
    ec_coap_payload_done(&b, n);
    return ec__dev_launch(dev, x, &b, cb, user);
  }
  size_t bs = (size_t)16 << EC_DEV_BLOCK_SZX;
  if (front < hdr + 19 + EC__RID_LEN + bs) {
    return EC_ENOSPC;
  }
  x->body = rid + EC__RID_LEN;
  x->body_len = n;
  x->uploading = true;
  x->szx = EC_DEV_BLOCK_SZX;
  x->cb = cb;
  x->user = user;
  x->req_len = (uint16_t)hdr;
  x->cap = (uint16_t)front;
  ec__dev_send_block(dev, x, 0, dev->t->now_ms(dev->t->ctx));
  return x->state == X_FREE ? EC_EIO : (int)(x - dev->x);
}

int ec_dev_report(ec_dev_t *dev, const char *device_id,
                  const ec_dev_status_t *st, uint8_t *buf, size_t cap,
                  ec_dev_cb_t cb, void *user) {
  if (dev == NULL || device_id == NULL || st == NULL ||
      st->deployment_id == NULL || buf == NULL) {
    return EC_EINVAL;
  }
  int n = ec_dev_status_encode(st, NULL, 0);
  if (n < 0 || cap < (size_t)n + EC__RID_LEN) {
    return n < 0 ? n : EC_ENOSPC;
  }
  /* A Request-Id of the transport's random bytes: kept across the
   * retransmissions and blocks of this exchange (API.md, "Request-Id"). */
  uint8_t *cbor = buf + cap - (size_t)n;
  dev->t->random(dev->t->ctx, cbor - EC__RID_LEN, EC__RID_LEN);
  (void)ec_dev_status_encode(st, cbor, (size_t)n);
  return ec__dev_post(dev, device_id, st->deployment_id, buf, cap, (size_t)n,
                      cb, user);
}

int ec_dev_get(ec_dev_t *dev, const char *path, bool observe, uint8_t *buf,
               size_t cap, ec_dev_cb_t cb, void *user) {
  if (dev == NULL || path == NULL || buf == NULL) {
    return EC_EINVAL;
  }
  ec_coap_build_t b;
  ec__dev_xchg_t *x = ec__dev_begin(dev, &b, buf, cap, EC_COAP_GET, observe);
  if (x == NULL) {
    return EC_ENOMEM;
  }
  /* "a/b?x=1&y=2": Uri-Path segments, then Uri-Query items. */
  uint16_t num = EC_COAP_OPT_URI_PATH;
  const char *s = path;
  for (const char *p = path;; p++) {
    if (*p == '\0' || *p == '/' || (*p == '?' && num == EC_COAP_OPT_URI_PATH) ||
        (*p == '&' && num == EC_COAP_OPT_URI_QUERY)) {
      if (p > s) {
        segment(&b, num, s, (size_t)(p - s), false);
      }
      if (*p == '?') {
        num = EC_COAP_OPT_URI_QUERY;
      }
      if (*p == '\0') {
        break;
      }
      s = p + 1;
    }
  }
  ec_coap_add_uint(&b, EC_COAP_OPT_ACCEPT, FORMAT_CBOR);
  return ec__dev_launch(dev, x, &b, cb, user);
}

int ec_dev_observe(ec_dev_t *dev, const char *device_id,
                   const char *deployment_id, uint8_t *buf, size_t cap,
                   ec_dev_cb_t cb, void *user) {
  if (dev == NULL || device_id == NULL || deployment_id == NULL ||
      buf == NULL) {
    return EC_EINVAL;
  }
  ec_coap_build_t b;
  ec__dev_xchg_t *x = ec__dev_begin(dev, &b, buf, cap, EC_COAP_GET, true);
  if (x == NULL) {
    return EC_ENOMEM;
  }
  status_path(&b, device_id, deployment_id);
  ec_coap_add_uint(&b, EC_COAP_OPT_ACCEPT, FORMAT_CBOR);
  return ec__dev_launch(dev, x, &b, cb, user);
}

int ec_dev_set_body(ec_dev_t *dev, int xid, uint8_t *body, size_t cap) {
  if (dev == NULL || xid < 0 || xid >= EC_DEV_MAX_EXCHANGES ||
      dev->x[xid].state == X_FREE ||
      (dev->x[xid].buf[1] != EC_COAP_GET && dev->x[xid].req == NULL) ||
      (body == NULL && cap > 0)) {
    return EC_EINVAL;
  }
  dev->x[xid].body = body;
  dev->x[xid].body_cap = cap;
  return 0;
}

void ec_dev_cancel(ec_dev_t *dev, int xid) {
  if (dev != NULL && xid >= 0 && xid < EC_DEV_MAX_EXCHANGES) {
    dev->x[xid].state = X_FREE;
  }
}
