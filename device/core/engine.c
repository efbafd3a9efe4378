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

/* Rebuild the request from its header and options up to Accept (the
 * observation's own token again), for options to be added after them. */
static void again(ec__dev_xchg_t *x, ec_coap_build_t *b) {
  x->buf[7] = x->token[3];
  *b = (ec_coap_build_t){x->buf, x->cap, x->req_len, EC_COAP_OPT_ACCEPT, 0};
}

/* What follows the options of a request built again: the option that
 * comes after all others (a token, a Request-Id), if any; for a request of
 * ec_dev_request() its extra option, and its body when @p body and it was
 * sent whole (device/core/request.c). */
static void tail(const ec_dev_t *dev, const ec__dev_xchg_t *x,
                 ec_coap_build_t *b, bool body) {
  if (x->req != NULL) {
    dev->tail(x, b, body);
  } else if (x->tail_len > 0) {
    ec_coap_add(b, x->tail_num, x->buf + x->cap, x->tail_len);
  }
}

/* Finish the request in @p b and send it on a new Message ID as a fresh
 * confirmable transmission: the first timeout is random in [ACK_TIMEOUT,
 * ACK_TIMEOUT * 1.5] (RFC 7252 section 4.8). A request that no longer fits
 * ends the exchange; a failed send is left to the retransmissions. */
static int resend(ec_dev_t *dev, ec__dev_xchg_t *x, ec_coap_build_t *b,
                  uint32_t now) {
  int len = ec_coap_finish(b);
  if (len < 0) {
    fail(dev, x, len);
    return len;
  }
  x->len = (uint16_t)len;
  x->mid = dev->next_mid++;
  x->buf[2] = (uint8_t)(x->mid >> 8);
  x->buf[3] = (uint8_t)x->mid;
  return ec__dev_transmit(dev, x, now);
}

int ec__dev_transmit(ec_dev_t *dev, ec__dev_xchg_t *x, uint32_t now) {
  x->state = X_WAIT_ACK;
  x->retries = 0;
  x->timeout =
      EC_DEV_ACK_TIMEOUT_MS + rnd32(dev) % (EC_DEV_ACK_TIMEOUT_MS / 2 + 1);
  x->deadline = now + x->timeout;
  return send_dgram(dev, x->buf, x->len);
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

/* Pass on a whole answer: a notification keeps the observation going
 * (until its Max-Age passes); anything else ends the exchange. */
static void deliver(ec_dev_t *dev, ec__dev_xchg_t *x, ec_dev_answer_t *a,
                    bool notification, uint32_t now) {
  x->fetching = false;
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

/* Send the request again on a new Message ID: its header and options up
 * to Accept, one more option @p num (none when 0) of the @p n bytes at
 * @p v, or with @p v NULL the unsigned integer @p n (a Block2 on the
 * follow-up token), and its tail. */
static void again_with(ec_dev_t *dev, ec__dev_xchg_t *x, uint16_t num,
                       const uint8_t *v, uint32_t n, uint32_t now) {
  ec_coap_build_t b;
  again(x, &b);
  if (v != NULL) {
    ec_coap_add(&b, num, v, n);
  } else if (num != 0) {
    x->buf[7] = (uint8_t)(x->token[3] ^ FOLLOW_UP);
    ec_coap_add_uint(&b, num, n);
  }
  tail(dev, x, &b, true);
  (void)resend(dev, x, &b, now);
}

/* Ask for block @p num of the answer being reassembled, on a new Message
 * ID with the follow-up token: the request again, plus Block2. */
static void fetch(ec_dev_t *dev, ec__dev_xchg_t *x, uint32_t num, uint8_t szx,
                  uint32_t now) {
  x->fetching = true;
  x->next_block = num;
  again_with(dev, x, EC_COAP_OPT_BLOCK2, NULL, num << 4 | szx, now);
}

/* Send block @p num of a report (RFC 7959 section 2.5), or the whole
 * report in one datagram: the request's header and options again, Block1
 * (and Size1 with block 0) when it goes block-wise, its Request-Id, and
 * that slice of its CBOR (kept at the end of the caller's buffer). */
static int send_block(ec_dev_t *dev, ec__dev_xchg_t *x, uint32_t num,
                      uint32_t now) {
  size_t bs = (size_t)16 << x->szx;
  size_t off = (size_t)num * bs;
  size_t n = !x->uploading || x->body_len - off < bs ? x->body_len - off : bs;
  ec_coap_build_t b;
  again(x, &b);
  if (!x->uploading) {
    /* One datagram, built once: it may run over the tail option's value
     * and the CBOR behind it, both copied down, front to back. */
    b.cap += x->tail_len + x->body_len;
  } else {
    ec_coap_add_uint(&b, EC_COAP_OPT_BLOCK1,
                     num << 4 | (off + n < x->body_len ? 8u : 0u) | x->szx);
    if (num == 0) {
      ec_coap_add_uint(&b, EC_COAP_OPT_SIZE1, (uint32_t)x->body_len);
    }
  }
  tail(dev, x, &b, false);
  size_t room;
  uint8_t *p = ec_coap_payload_room(&b, &room);
  if (p != NULL && room >= n) {
    ec__copy(p, (x->req != NULL ? x->req->body : x->body) + off, n);
  }
  ec_coap_payload_done(&b, n);
  x->next_block = num;
  return resend(dev, x, &b, now);
}

void ec__dev_send_block(ec_dev_t *dev, ec__dev_xchg_t *x, uint32_t num,
                        uint32_t now) {
  (void)send_block(dev, x, num, now);
}

/* The options an answer is read by, in number order, walked once
 * (ec__coap_opts()); ETag and Echo are bytes, the others integers. */
enum { O_ETAG, O_OBSERVE, O_CF, O_MAX_AGE, O_BLOCK2, O_BLOCK1, O_SIZE2, O_ECHO,
       O_N };
static const uint16_t opt_nums[O_N + 1] = {
    EC_COAP_OPT_ETAG,   EC_COAP_OPT_OBSERVE, EC_COAP_OPT_CONTENT_FORMAT,
    EC_COAP_OPT_MAX_AGE, EC_COAP_OPT_BLOCK2, EC_COAP_OPT_BLOCK1,
    EC_COAP_OPT_SIZE2,  EC_COAP_OPT_ECHO,    0xFFFF};

/* The answer to one block of an upload: 2.31 Continue for it asks for the
 * next (in the server's block size, if smaller: section 2.5); anything
 * else is the answer to the whole body (false). */
static bool on_upload(ec_dev_t *dev, ec__dev_xchg_t *x, const ec_coap_msg_t *m,
                      const ec__opt_t *o, uint32_t now) {
  uint32_t b1 = o[O_BLOCK1].u;
  if (m->code == EC_COAP_CODE(2, 31) && o[O_BLOCK1].v != NULL &&
      b1 >> 4 == x->next_block && (b1 & 7) <= x->szx) {
    uint32_t next = (x->next_block + 1) << (x->szx - (b1 & 7));
    x->szx = b1 & 7;
    if ((size_t)next << (x->szx + 4) >= x->body_len) {
      fail(dev, x, EC_EPROTO); /* Continue, with nothing left to send */
      return true;
    }
    (void)send_block(dev, x, next, now);
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
                     const ec__opt_t *o, ec_dev_answer_t *a, bool notification,
                     uint32_t now) {
  uint32_t b2 = o[O_BLOCK2].u;
  uint32_t num = b2 >> 4;
  uint8_t szx = b2 & 7;
  const uint8_t *etag = o[O_ETAG].v;
  size_t etag_len = o[O_ETAG].len;
  size_t off = (size_t)num << (szx + 4);
  bool more = (b2 & 8) != 0;
  int err = EC_EPROTO;
  if (szx == 7 || etag_len > sizeof x->etag) {
    goto fail;
  }
  if (num == 0) {
    x->size2 = o[O_SIZE2].u;
    x->body_len = 0;
    x->etag_len = (uint8_t)etag_len;
    ec__copy(x->etag, etag, etag_len);
  } else if (num != x->next_block || etag_len != x->etag_len ||
             !ec__same(etag, x->etag, etag_len)) {
    if (x->restarts++ >= 3) {
      goto fail;
    }
    fetch(dev, x, 0, szx, now);
    return;
  }
  if (off != x->body_len) {
    goto fail;
  }
  err = EC_ETOOBIG;
  if (x->size2 > x->body_cap || m->payload_len > x->body_cap - off ||
      (more && m->payload_len != (size_t)16 << szx)) {
    goto fail;
  }
  ec__copy(x->body + off, m->payload, m->payload_len);
  x->body_len = off + m->payload_len;
  if (more) {
    fetch(dev, x, num + 1, szx, now);
    return;
  }
  err = EC_EPROTO;
  if (x->size2 != 0 && x->size2 != x->body_len) {
    goto fail;
  }
  x->restarts = 0;
  a->payload = x->body;
  a->payload_len = x->body_len;
  a->more = false;
  deliver(dev, x, a, notification, now);
  return;
fail:
  fail(dev, x, err);
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
                       const ec_coap_msg_t *m, const ec__opt_t *o,
                       uint32_t now) {
  const uint8_t *v = o[O_ECHO].v;
  size_t n = o[O_ECHO].len;
  if (m->code != EC_COAP_CODE(4, 1) || x->echoed || x->fetching ||
      x->uploading || (x->buf[1] != EC_COAP_GET && x->req == NULL) ||
      v == NULL || n == 0 || n > 40) {
    return false;
  }
  /* The value is in the received datagram, the caller's, not in the
   * request buffer rebuilt here. */
  x->echoed = true;
  again_with(dev, x, EC_COAP_OPT_ECHO, v, (uint32_t)n, now);
  return true;
}

/* A response (piggybacked or separate) or a notification for @p x. */
static void answer(ec_dev_t *dev, ec__dev_xchg_t *x, const ec_coap_msg_t *m,
                   uint32_t now) {
  ec__opt_t o[O_N];
  ec__coap_opts(m, opt_nums, O_N, 1u << O_ETAG | 1u << O_ECHO, o);
  if (echo_again(dev, x, m, o, now)) {
    return;
  }
  ec_dev_answer_t a;
  ec__zero(&a, sizeof a);
  a.code = m->code;
  a.content_format = o[O_CF].v != NULL ? (int)o[O_CF].u : -1;
  a.payload = m->payload;
  a.payload_len = m->payload_len;
  /* 60 s when absent, the default of section 5.10.5. */
  a.max_age = o[O_MAX_AGE].v != NULL ? o[O_MAX_AGE].u : 60;
  bool ok = (m->code >> 5) == 2;
  bool block = ok && o[O_BLOCK2].v != NULL;
  a.more = block && (o[O_BLOCK2].u & 8) != 0;
  if (x->uploading && on_upload(dev, x, m, o, now)) {
    return;
  }
  /* A report's body is its CBOR, not a buffer to reassemble into. */
  bool notification = false;
  bool reassemble = a.more && x->body != NULL &&
                    (x->buf[1] == EC_COAP_GET || x->req != NULL);
  uint32_t obs = o[O_OBSERVE].u;
  if (token_kind(x, m) == 2) { /* a later block's answer */
    if (!x->fetching) {
      return; /* a late answer to a reassembly given up */
    }
    notification = block && x->observe && x->have_seq;
    reassemble = block; /* an error ends it */
  } else if (x->observe && ok && o[O_OBSERVE].v != NULL) {
    /* The answer to the registration itself is always taken; later
     * notifications only when fresher than the last. */
    if (x->state == X_OBSERVING && !fresh(x, obs, now)) {
      return;
    }
    x->max_age = (uint16_t)(a.max_age > 43200u ? 43200u : a.max_age);
    x->seq = obs;
    x->seq_at = now;
    x->have_seq = true;
    x->restarts = 0;
    notification = true;
  }
  if (reassemble) {
    on_block(dev, x, m, o, &a, notification, now);
  } else {
    deliver(dev, x, &a, notification, now);
  }
}

/* Was the server's CON @p mid seen lately (the last EC_DEV_DEDUP)? Entries
 * carry a bit above the Message ID, so an empty one matches none. */
#define SEEN 0x10000u
static bool seen_before(const ec_dev_t *dev, uint16_t mid) {
  for (unsigned i = 0; i < EC_DEV_DEDUP; i++) {
    if (dev->seen[i] == (SEEN | mid)) {
      return true;
    }
  }
  return false;
}

static void remember(ec_dev_t *dev, uint16_t mid) {
  dev->seen[dev->seen_head] = SEEN | mid;
  dev->seen_head = (uint8_t)((dev->seen_head + 1) % EC_DEV_DEDUP);
}

static void on_dgram(ec_dev_t *dev, uint32_t now, const uint8_t *d,
                     size_t len) {
  ec_coap_msg_t m;
  if (ec_coap_parse(&m, d, len) < 0) {
    return; /* not CoAP: nothing can be answered to it */
  }
  if (m.type == EC_COAP_CON && seen_before(dev, m.mid)) {
    /* Our ACK was lost and the server sent it again: it was passed on
     * already, so it is only acknowledged again. */
    send_empty(dev, EC_COAP_ACK, m.mid);
    return;
  }
  /* An ACK or RST is for the exchange waiting on its Message ID; a CON or
   * NON response for the one its token names. */
  bool reply = m.type >= EC_COAP_ACK;
  ec__dev_xchg_t *x = NULL;
  for (unsigned i = 0; i < EC_DEV_MAX_EXCHANGES && x == NULL; i++) {
    ec__dev_xchg_t *y = &dev->x[i];
    if (y->state != X_FREE &&
        (reply ? y->state == X_WAIT_ACK && y->mid == m.mid
               : (m.code >> 5) >= 2 && token_kind(y, &m) != 0)) {
      x = y;
    }
  }
  if (reply) {
    if (x == NULL) {
      return;
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
  if (x->state == X_OBSERVING) {
    /* Max-Age passed without a notification: the server may have lost the
     * observation (a restart), so register again with the same token and
     * a new Message ID. */
    again_with(dev, x, 0, NULL, 0, now);
  } else if (x->state == X_WAIT_SEP || x->retries >= EC_DEV_MAX_RETRANSMIT) {
    fail(dev, x, EC_ETIMEOUT);
  } else {
    x->retries++;
    x->timeout *= 2;
    x->deadline = now + x->timeout;
    (void)send_dgram(dev, x->buf, x->len); /* a failure is one more loss */
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

/* Take a free exchange and start its request in @p buf: a CON with a
 * 4-byte token, Observe 0 when observing. An option to follow all the
 * others (@p tnum, @p tval, @p tlen) is kept at the end of @p buf, which
 * is that much smaller for datagrams. */
static ec__dev_xchg_t *begin(ec_dev_t *dev, ec_coap_build_t *b, uint8_t *buf,
                             size_t cap, uint8_t code, bool observe,
                             uint16_t tnum, const void *tval, uint8_t tlen) {
  ec__dev_xchg_t *x = dev->x;
  while (x->state != X_FREE) {
    if (++x == dev->x + EC_DEV_MAX_EXCHANGES) {
      return NULL;
    }
  }
  ec__zero(x, sizeof *x);
  /* Tokens keep the top bit of their last byte clear: follow-up tokens
   * set it (FOLLOW_UP), so the two can never meet however long an
   * observation lives. The counter's 31 low bits are spread over the
   * other 31, so no two of 2^31 tokens in a row are alike. */
  uint32_t t = dev->next_token++;
  x->token[0] = (uint8_t)(t >> 23);
  x->token[1] = (uint8_t)(t >> 15);
  x->token[2] = (uint8_t)(t >> 7);
  x->token[3] = (uint8_t)(t & 0x7F);
  x->observe = observe;
  x->buf = buf;
  cap = cap > 0xFFFF ? 0xFFFF : cap;
  x->cap = (uint16_t)(cap >= tlen ? cap - tlen : 0);
  if (cap >= tlen) {
    x->tail_num = tnum;
    x->tail_len = tlen;
    ec__copy(buf + x->cap, tval, tlen);
  }
  x->szx = EC_DEV_BLOCK_SZX;
  ec_coap_start(b, buf, x->cap, EC_COAP_CON, code, 0, x->token, 4);
  if (observe) {
    ec_coap_add(b, EC_COAP_OPT_OBSERVE, NULL, 0);
  }
  return x;
}

/* The request's options are all in @p b but for Accept and the tail: add
 * them, and note where a rebuilt request starts adding its own. */
static void opts_done(ec__dev_xchg_t *x, ec_coap_build_t *b) {
  ec_coap_add_uint(b, EC_COAP_OPT_ACCEPT, FORMAT_CBOR);
  x->req_len = (uint16_t)b->len;
}

ec__dev_xchg_t *ec__dev_begin(ec_dev_t *dev, ec_coap_build_t *b, uint8_t *buf,
                              size_t cap, uint8_t code, bool observe,
                              uint16_t tnum, const void *tval, uint8_t tlen) {
  return begin(dev, b, buf, cap, code, observe, tnum, tval, tlen);
}

/* Send the first datagram, the request in @p b (its options up to Accept
 * in req_len, what follows after), or the report's block 0 when @p b is
 * NULL; the exchange is the caller's from here on. */
static int launch(ec_dev_t *dev, ec__dev_xchg_t *x, ec_coap_build_t *b,
                  ec_dev_cb_t cb, void *user) {
  uint32_t now = dev->t->now_ms(dev->t->ctx);
  int rc = b == NULL ? send_block(dev, x, 0, now) : resend(dev, x, b, now);
  if (rc < 0) {
    x->state = X_FREE;
    return rc == EC_ENOSPC || rc == EC_EINVAL ? rc : EC_EIO;
  }
  x->cb = cb;
  x->user = user;
  return (int)(x - dev->x);
}

int ec__dev_launch(ec_dev_t *dev, ec__dev_xchg_t *x, ec_coap_build_t *b,
                   ec_dev_cb_t cb, void *user) {
  if (b != NULL) {
    x->req_len = (uint16_t)b->len;
  }
  return launch(dev, x, b, cb, user);
}

/* A GET's options are all in @p b: Accept, then its tail; send it. */
static int get_done(ec_dev_t *dev, ec__dev_xchg_t *x, ec_coap_build_t *b,
                    ec_dev_cb_t cb, void *user) {
  opts_done(x, b);
  tail(dev, x, b, true);
  return launch(dev, x, b, cb, user);
}

/* Uri-Path @p s of @p n bytes, lowercased when @p low (a deploymentId: the
 * server observes only its lowercase spelling). */
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
  const char *seg[] = {"device", device_id, "deployment", deployment_id,
                       "status"};
  for (int i = 0; i < 5; i++) {
    segment(b, EC_COAP_OPT_URI_PATH, seg[i], ec__len(seg[i]), i == 3);
  }
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
  ec__dev_xchg_t *x =
      begin(dev, &b, buf, front + EC__RID_LEN, EC_COAP_POST, false,
            EC_COAP_OPT_REQUEST_ID, buf + front, EC__RID_LEN);
  if (x == NULL) {
    return EC_ENOMEM;
  }
  status_path(&b, device_id, deployment_id);
  ec_coap_add_uint(&b, EC_COAP_OPT_CONTENT_FORMAT, FORMAT_CBOR);
  opts_done(x, &b);
  if (b.err != 0 || (size_t)x->req_len + 3 + EC__RID_LEN > front) {
    /* The options, the Request-Id's among them, go in front of its value;
     * begin() left the exchange free. */
    return b.err != 0 ? b.err : EC_ENOSPC;
  }
  x->body = buf + front + EC__RID_LEN;
  x->body_len = n;
  if (x->req_len + 4 + EC__RID_LEN + n > EC_DEV_MAX_DATAGRAM) {
    size_t bs = (size_t)16 << EC_DEV_BLOCK_SZX;
    if (front < x->req_len + 19 + EC__RID_LEN + bs) {
      return EC_ENOSPC;
    }
    x->uploading = true;
  }
  return launch(dev, x, NULL, cb, user);
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
  ec__dev_xchg_t *x =
      begin(dev, &b, buf, cap, EC_COAP_GET, observe, 0, NULL, 0);
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
  return get_done(dev, x, &b, cb, user);
}

int ec_dev_prov_get(ec_dev_t *dev, uint32_t provisioning_id,
                    const uint8_t *token, size_t token_len, bool observe,
                    uint8_t *buf, size_t cap, ec_dev_cb_t cb, void *user) {
  /* Its two Uri-Path segments and its Uri-Query's name, in one literal. */
  static const char path[] = "v1\0DeviceProvisioningComponents\0"
                             "provisioning_id=";
  char q[26]; /* the query's name and 10 digits */
  size_t n = sizeof q;
  if (dev == NULL || buf == NULL || token == NULL ||
      (token_len != 32 && token_len != 64)) {
    return EC_EINVAL;
  }
  ec_coap_build_t b;
  ec__dev_xchg_t *x = begin(dev, &b, buf, cap, EC_COAP_GET, observe,
                            EC_COAP_OPT_AUTH_TOKEN, token, (uint8_t)token_len);
  if (x == NULL) {
    return EC_ENOMEM;
  }
  segment(&b, EC_COAP_OPT_URI_PATH, path, 2, false);
  segment(&b, EC_COAP_OPT_URI_PATH, path + 3, 28, false);
  /* The number's digits, written from the end of q, the name before them. */
  do {
    q[--n] = (char)('0' + provisioning_id % 10);
    provisioning_id /= 10;
  } while (provisioning_id > 0);
  n -= 16;
  ec__copy(q + n, path + 32, 16);
  segment(&b, EC_COAP_OPT_URI_QUERY, q + n, sizeof q - n, false);
  return get_done(dev, x, &b, cb, user);
}

int ec_dev_observe(ec_dev_t *dev, const char *device_id,
                   const char *deployment_id, uint8_t *buf, size_t cap,
                   ec_dev_cb_t cb, void *user) {
  if (dev == NULL || device_id == NULL || deployment_id == NULL ||
      buf == NULL) {
    return EC_EINVAL;
  }
  ec_coap_build_t b;
  ec__dev_xchg_t *x = begin(dev, &b, buf, cap, EC_COAP_GET, true, 0, NULL, 0);
  if (x == NULL) {
    return EC_ENOMEM;
  }
  status_path(&b, device_id, deployment_id);
  return get_done(dev, x, &b, cb, user);
}

int ec_dev_set_body(ec_dev_t *dev, int xid, uint8_t *body, size_t cap) {
  if (dev == NULL || xid < 0 || xid >= EC_DEV_MAX_EXCHANGES) {
    return EC_EINVAL;
  }
  ec__dev_xchg_t *x = &dev->x[xid];
  if (x->state == X_FREE || (x->buf[1] != EC_COAP_GET && x->req == NULL) ||
      (body == NULL && cap > 0)) {
    return EC_EINVAL;
  }
  x->body = body;
  x->body_cap = cap;
  return 0;
}

void ec_dev_cancel(ec_dev_t *dev, int xid) {
  if (dev != NULL && xid >= 0 && xid < EC_DEV_MAX_EXCHANGES) {
    dev->x[xid].state = X_FREE;
  }
}
