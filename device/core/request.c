/* edgecoap device core: requests of any method, path and body, for client programs such as edgecoap-client. */
/* SPDX-License-Identifier: Apache-2.0 */

#include "engine.h"

/* RFC 7252 section 5.10: a Uri-Path or Uri-Query value is 0 to 255 bytes. */
#define SEGMENT_MAX 255
/* Room kept in a datagram sent whole for what the engine adds when it
 * sends the request again: Block2 (at most 4 bytes) or Echo (43). */
#define AGAIN_ROOM 48
/* The block size exponent of a request whose body went in one datagram:
 * 7 is reserved (RFC 7959 section 2.2), so no upload ever has it. */
#define SZX_WHOLE 7

static int hexval(char c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

/* Options @p num from the items of @p s separated by @p sep, up to @p stop
 * or the end, each %XX-decoded; empty items send nothing. */
static int add_items(ec_coap_build_t *b, uint16_t num, const char *s, char sep,
                     char stop) {
  uint8_t seg[SEGMENT_MAX];
  for (;;) {
    size_t n = 0;
    for (; *s != '\0' && *s != sep && *s != stop; s++) {
      int c = (uint8_t)*s;
      if (c == '%') {
        int hi = hexval(s[1]);
        int lo = hi < 0 ? -1 : hexval(s[2]);
        if (lo < 0) {
          return EC_EINVAL;
        }
        c = hi << 4 | lo;
        s += 2;
      }
      if (n == sizeof seg) {
        return EC_EINVAL;
      }
      seg[n++] = (uint8_t)c;
    }
    if (n > 0) {
      ec_coap_add(b, num, seg, n);
    }
    if (*s != sep) {
      return 0;
    }
    s++;
  }
}

/* The request's options after Observe, in number order: Uri-Path,
 * Content-Format, Uri-Query, Accept. */
static int add_options(ec_coap_build_t *b, const ec_dev_req_t *rq) {
  const char *q = rq->path;
  while (*q != '\0' && *q != '?') {
    q++;
  }
  int rc = add_items(b, EC_COAP_OPT_URI_PATH, rq->path, '/', '?');
  if (rc == 0 && rq->body_len > 0 && rq->format >= 0) {
    ec_coap_add_uint(b, EC_COAP_OPT_CONTENT_FORMAT, (uint32_t)rq->format);
  }
  if (rc == 0 && *q == '?') {
    rc = add_items(b, EC_COAP_OPT_URI_QUERY, q + 1, '&', '\0');
  }
  ec_coap_add_uint(b, EC_COAP_OPT_ACCEPT, rq->accept);
  return rc < 0 ? rc : b->err;
}

/* What follows the options the engine adds: the extra option, then the
 * body of a request sent whole. */
static void tail(const ec__dev_xchg_t *x, ec_coap_build_t *b, bool body) {
  const ec_dev_req_t *rq = x->req;
  if (rq->opt_num != 0) {
    ec_coap_add(b, rq->opt_num, rq->opt_val, rq->opt_len);
  }
  if (body && x->szx == SZX_WHOLE && rq->body_len > 0) {
    size_t room;
    uint8_t *p = ec_coap_payload_room(b, &room);
    if (p != NULL && room >= rq->body_len) {
      ec__copy(p, rq->body, rq->body_len);
    }
    ec_coap_payload_done(b, rq->body_len);
  }
}

int ec_dev_request(ec_dev_t *dev, const ec_dev_req_t *rq, bool observe,
                   uint8_t *buf, size_t cap, ec_dev_cb_t cb, void *user) {
  if (dev == NULL || rq == NULL || rq->path == NULL || buf == NULL ||
      rq->method == 0 || rq->method > 31 || rq->format > 0xFFFF ||
      (rq->body_len > 0 && rq->body == NULL) ||
      (rq->opt_num != 0 &&
       (rq->opt_num <= EC_COAP_OPT_ECHO || (rq->opt_len > 0 && rq->opt_val == NULL)))) {
    return EC_EINVAL;
  }
  ec_coap_build_t b;
  ec__dev_xchg_t *x = ec__dev_begin(dev, &b, buf, cap, rq->method, observe, 0,
                                    NULL, 0);
  if (x == NULL) {
    return EC_ENOMEM;
  }
  int rc = add_options(&b, rq);
  if (rc < 0) {
    return rc; /* the exchange is still free */
  }
  dev->tail = tail;
  x->req = rq;
  size_t hdr = b.len;
  size_t extra = 5 + rq->opt_len + 1 + AGAIN_ROOM;
  if (hdr + extra <= EC_DEV_MAX_DATAGRAM &&
      rq->body_len <= EC_DEV_MAX_DATAGRAM - hdr - extra) {
    x->szx = SZX_WHOLE;
    tail(x, &b, true);
    rc = ec__dev_launch(dev, x, &b, cb, user);
    if (rc >= 0) {
      x->req_len = (uint16_t)hdr; /* later datagrams rebuild the tail */
    }
    return rc;
  }
  /* Block-wise (Block1): each block's datagram is built in @p buf from the
   * options above plus Block1 and the extra option, with its slice of the
   * caller's body. */
  x->uploading = true;
  x->szx = EC_DEV_BLOCK_SZX;
  x->body_len = rq->body_len;
  x->cb = cb;
  x->user = user;
  x->req_len = (uint16_t)hdr;
  x->cap = (uint16_t)(cap > 0xFFFF ? 0xFFFF : cap);
  ec__dev_send_block(dev, x, 0, dev->t->now_ms(dev->t->ctx));
  return x->state == X_FREE ? EC_EIO : (int)(x - dev->x);
}

int ec_dev_unobserve(ec_dev_t *dev, int xid) {
  if (dev == NULL || xid < 0 || xid >= EC_DEV_MAX_EXCHANGES) {
    return EC_EINVAL;
  }
  ec__dev_xchg_t *x = &dev->x[xid];
  if (x->state == X_FREE || !x->observe || x->req == NULL) {
    return EC_EINVAL;
  }
  /* The registration again with Observe 1, on its token and a new Message
   * ID: no later block is being asked for any more. */
  ec_coap_build_t b;
  x->mid = dev->next_mid++;
  x->fetching = false;
  x->observe = false;
  ec_coap_start(&b, x->buf, x->cap, EC_COAP_CON, x->req->method, x->mid,
                x->token, 4);
  ec_coap_add_uint(&b, EC_COAP_OPT_OBSERVE, 1);
  int rc = add_options(&b, x->req);
  x->req_len = (uint16_t)b.len;
  tail(x, &b, true);
  int len = ec_coap_finish(&b);
  if (rc < 0 || len < 0) {
    x->state = X_FREE; /* it was sent as a registration: it fits */
    return rc < 0 ? rc : len;
  }
  x->len = (uint16_t)len;
  (void)ec__dev_transmit(dev, x, dev->t->now_ms(dev->t->ctx));
  return 0;
}
