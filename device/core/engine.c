/* edgecoap device core: exchanges, retransmission and Observe, driven by one step call. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "edgecoap/device.h"

enum { X_FREE = 0, X_WAIT_ACK, X_WAIT_SEP, X_OBSERVING };

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
  memset(dev, 0, sizeof *dev);
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
static int transmit(ec_dev_t *dev, ec__dev_xchg_t *x, uint32_t now) {
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
  memset(&a, 0, sizeof a);
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

/* A response (piggybacked or separate) or a notification for @p x. */
static void answer(ec_dev_t *dev, ec__dev_xchg_t *x, const ec_coap_msg_t *m,
                   uint32_t now) {
  ec_dev_answer_t a;
  uint32_t v;
  memset(&a, 0, sizeof a);
  a.code = m->code;
  a.content_format =
      ec_coap_opt_uint(m, EC_COAP_OPT_CONTENT_FORMAT, &v) == 1 ? (int)v : -1;
  a.payload = m->payload;
  a.payload_len = m->payload_len;
  a.more = ec_coap_opt_uint(m, EC_COAP_OPT_BLOCK2, &v) == 1 && (v & 8) != 0;
  uint32_t obs;
  if (!x->observe || (m->code >> 5) != 2 ||
      ec_coap_opt_uint(m, EC_COAP_OPT_OBSERVE, &obs) != 1) {
    finish(dev, x, &a); /* a plain answer, or the end of an observation */
    return;
  }
  /* The answer to the registration itself is always taken; later
   * notifications only when fresher than the last. */
  if (x->state == X_OBSERVING && !fresh(x, obs, now)) {
    return;
  }
  uint32_t max_age = 60; /* the default of section 5.10.5 */
  (void)ec_coap_opt_uint(m, EC_COAP_OPT_MAX_AGE, &max_age);
  if (max_age > 86400u) {
    max_age = 86400u; /* keeps the deadline inside int32 milliseconds */
  }
  x->seq = obs;
  x->seq_at = now;
  x->have_seq = true;
  x->state = X_OBSERVING;
  x->deadline = now + max_age * 1000u + REREGISTER_SLACK_MS;
  a.observing = true;
  a.observe = obs;
  if (x->cb != NULL) {
    x->cb(dev, x->user, &a);
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
    if (x->state != X_FREE && m->tkl == 4 && memcmp(x->token, m->token, 4) == 0) {
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
      } else if (m.tkl == 4 && memcmp(m.token, x->token, 4) == 0) {
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
    x->mid = dev->next_mid++;
    x->buf[2] = (uint8_t)(x->mid >> 8);
    x->buf[3] = (uint8_t)x->mid;
    (void)transmit(dev, x, now);
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
  uint32_t next = EC_DEV_IDLE;
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
static ec__dev_xchg_t *begin(ec_dev_t *dev, ec_coap_build_t *b, uint8_t *buf,
                             size_t cap, uint8_t code, bool observe) {
  for (unsigned i = 0; i < EC_DEV_MAX_EXCHANGES; i++) {
    ec__dev_xchg_t *x = &dev->x[i];
    if (x->state != X_FREE) {
      continue;
    }
    memset(x, 0, sizeof *x);
    uint32_t t = dev->next_token++;
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

static int launch(ec_dev_t *dev, ec__dev_xchg_t *x, ec_coap_build_t *b,
                  ec_dev_cb_t cb, void *user) {
  int len = ec_coap_finish(b);
  if (len < 0) {
    return len;
  }
  if (len > 0xFFFF) {
    return EC_ENOSPC;
  }
  x->len = (uint16_t)len;
  x->cb = cb;
  x->user = user;
  if (transmit(dev, x, dev->t->now_ms(dev->t->ctx)) < 0) {
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
  segment(b, EC_COAP_OPT_URI_PATH, device_id, strlen(device_id), false);
  segment(b, EC_COAP_OPT_URI_PATH, "deployment", 10, false);
  segment(b, EC_COAP_OPT_URI_PATH, deployment_id, strlen(deployment_id), true);
  segment(b, EC_COAP_OPT_URI_PATH, "status", 6, false);
}

int ec_dev_report(ec_dev_t *dev, const char *device_id,
                  const ec_dev_status_t *st, uint8_t *buf, size_t cap,
                  ec_dev_cb_t cb, void *user) {
  if (dev == NULL || device_id == NULL || st == NULL ||
      st->deployment_id == NULL || buf == NULL) {
    return EC_EINVAL;
  }
  ec_coap_build_t b;
  ec__dev_xchg_t *x = begin(dev, &b, buf, cap, EC_COAP_POST, false);
  if (x == NULL) {
    return EC_ENOMEM;
  }
  status_path(&b, device_id, st->deployment_id);
  ec_coap_add_uint(&b, EC_COAP_OPT_CONTENT_FORMAT, FORMAT_CBOR);
  ec_coap_add_uint(&b, EC_COAP_OPT_ACCEPT, FORMAT_CBOR);
  size_t room;
  uint8_t *p = ec_coap_payload_room(&b, &room);
  int n = ec_dev_status_encode(st, p, p != NULL ? room : 0);
  if (n < 0) {
    x->state = X_FREE; /* begin() left it free; nothing to undo */
    return n;
  }
  ec_coap_payload_done(&b, (size_t)n);
  return launch(dev, x, &b, cb, user);
}

int ec_dev_get(ec_dev_t *dev, const char *path, bool observe, uint8_t *buf,
               size_t cap, ec_dev_cb_t cb, void *user) {
  if (dev == NULL || path == NULL || buf == NULL) {
    return EC_EINVAL;
  }
  ec_coap_build_t b;
  ec__dev_xchg_t *x = begin(dev, &b, buf, cap, EC_COAP_GET, observe);
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
  return launch(dev, x, &b, cb, user);
}

int ec_dev_observe(ec_dev_t *dev, const char *device_id,
                   const char *deployment_id, uint8_t *buf, size_t cap,
                   ec_dev_cb_t cb, void *user) {
  if (dev == NULL || device_id == NULL || deployment_id == NULL ||
      buf == NULL) {
    return EC_EINVAL;
  }
  ec_coap_build_t b;
  ec__dev_xchg_t *x = begin(dev, &b, buf, cap, EC_COAP_GET, true);
  if (x == NULL) {
    return EC_ENOMEM;
  }
  status_path(&b, device_id, deployment_id);
  ec_coap_add_uint(&b, EC_COAP_OPT_ACCEPT, FORMAT_CBOR);
  return launch(dev, x, &b, cb, user);
}

void ec_dev_cancel(ec_dev_t *dev, int xid) {
  if (dev != NULL && xid >= 0 && xid < EC_DEV_MAX_EXCHANGES) {
    dev->x[xid].state = X_FREE;
  }
}
