/* edgecoap device core: CoAP message build and parse (RFC 7252 section 3). */
/* SPDX-License-Identifier: Apache-2.0 */

#include "cbor.h"

/* Read one option header at *p: its delta and length with their extended
 * forms. Every byte is checked against @p end before it is read, so any
 * prefix of a datagram is refused cleanly. Returns 1 for an option, 0 at
 * the payload marker or the end, EC_EPROTO for a malformed header. */
static int opt_next(const uint8_t **p, const uint8_t *end, uint32_t *num,
                    const uint8_t **val, size_t *len) {
  const uint8_t *q = *p;
  if (q == end || *q == 0xFF) {
    return 0;
  }
  uint32_t nib[2] = {(uint32_t)(*q >> 4), (uint32_t)(*q & 0x0F)};
  q++;
  for (int i = 0; i < 2; i++) {
    /* 13 and 14: 1 and 2 bytes more, the value less 13 and 269. */
    size_t k = nib[i] < 13 ? 0 : nib[i] - 12;
    if (k > 2 || k > (size_t)(end - q)) {
      return EC_EPROTO; /* 15 is reserved outside the payload marker */
    }
    if (k > 0) {
      nib[i] = k == 1 ? 13u + q[0] : 269u + ((uint32_t)q[0] << 8 | q[1]);
      q += k;
    }
  }
  if (nib[1] > (size_t)(end - q) || *num + nib[0] > 0xFFFF) {
    return EC_EPROTO;
  }
  *num += nib[0];
  *val = q;
  *len = nib[1];
  *p = q + nib[1];
  return 1;
}

int ec_coap_parse(ec_coap_msg_t *m, const uint8_t *buf, size_t len) {
  if (m == NULL || buf == NULL || len < 4 || (buf[0] >> 6) != 1) {
    return EC_EPROTO;
  }
  ec__zero(m, sizeof *m);
  m->type = (buf[0] >> 4) & 3;
  m->tkl = buf[0] & 0x0F;
  m->code = buf[1];
  m->mid = (uint16_t)(buf[2] << 8 | buf[3]);
  /* An Empty message is the 4-byte header alone (section 4.1). */
  if (m->tkl > 8 || len - 4 < m->tkl || (m->code == 0 && len != 4)) {
    return EC_EPROTO;
  }
  ec__copy(m->token, buf + 4, m->tkl);
  const uint8_t *p = buf + 4 + m->tkl;
  const uint8_t *end = buf + len;
  m->opts = p;
  uint32_t num = 0;
  const uint8_t *v;
  size_t vl;
  int rc;
  while ((rc = opt_next(&p, end, &num, &v, &vl)) == 1) {
  }
  if (rc < 0) {
    return rc;
  }
  m->opts_len = (size_t)(p - m->opts);
  if (p < end) { /* the marker: a payload must follow it */
    if (end - p < 2) {
      return EC_EPROTO;
    }
    m->payload = p + 1;
    m->payload_len = (size_t)(end - p - 1);
  }
  return 0;
}

int ec_coap_opt(const ec_coap_msg_t *m, uint16_t num, unsigned idx,
                const uint8_t **val, size_t *len) {
  const uint8_t *p = m->opts;
  const uint8_t *end = m->opts + m->opts_len;
  uint32_t n = 0;
  while (opt_next(&p, end, &n, val, len) == 1 && n <= num) {
    if (n == num && idx-- == 0) {
      return 1;
    }
  }
  return 0;
}

void ec__coap_opts(const ec_coap_msg_t *m, const uint16_t *nums, unsigned n,
                   unsigned bytes, ec__opt_t *o) {
  const uint8_t *p = m->opts;
  const uint8_t *end = m->opts + m->opts_len;
  const uint8_t *val;
  size_t len;
  uint32_t num = 0;
  unsigned j = 0;
  ec__zero(o, n * sizeof *o);
  /* Both are in number order: one merge. Past the table's last number
   * its 0xFFFF stops the search; a repeated option finds j moved on, so
   * only the first counts, as ec_coap_opt() reads index 0. */
  while (opt_next(&p, end, &num, &val, &len) == 1) {
    while (nums[j] < num) {
      j++;
    }
    if (j >= n || nums[j] != num) {
      continue;
    }
    if (len <= 4 || ((bytes >> j) & 1) != 0) { /* an integer past 4 bytes is none */
      o[j].v = val;
      o[j].len = len;
      for (size_t k = 0; k < len; k++) {
        o[j].u = o[j].u << 8 | val[k];
      }
    }
    j++;
  }
}

int ec_coap_opt_uint(const ec_coap_msg_t *m, uint16_t num, uint32_t *v) {
  const uint8_t *val;
  size_t len;
  if (ec_coap_opt(m, num, 0, &val, &len) == 0) {
    return 0;
  }
  if (len > 4) {
    return EC_EPROTO;
  }
  uint32_t x = 0;
  for (size_t i = 0; i < len; i++) {
    x = x << 8 | val[i];
  }
  *v = x;
  return 1;
}

static void put(ec_coap_build_t *b, const void *p, size_t n) {
  if (n == 0) {
    return;
  }
  if (b->err == 0 && n > b->cap - b->len) {
    b->err = EC_ENOSPC;
  }
  if (b->err == 0) {
    ec__copy(b->buf + b->len, p, n);
    b->len += n;
  }
}

void ec_coap_start(ec_coap_build_t *b, uint8_t *buf, size_t cap, uint8_t type,
                   uint8_t code, uint16_t mid, const uint8_t *token,
                   uint8_t tkl) {
  b->buf = buf;
  b->cap = buf != NULL ? cap : 0;
  b->len = 0;
  b->last = 0;
  b->err = tkl > 8 || type > 3 ? EC_EINVAL : 0;
  uint8_t h[4] = {(uint8_t)(0x40 | type << 4 | (tkl & 0x0F)), code,
                  (uint8_t)(mid >> 8), (uint8_t)mid};
  put(b, h, 4);
  put(b, token, tkl);
}

void ec_coap_add(ec_coap_build_t *b, uint16_t num, const void *val,
                 size_t len) {
  if (b->err == 0 && (num < b->last || len > 0xFFFF - 269)) {
    b->err = EC_EINVAL;
  }
  /* The delta and the length, each a nibble and 0 to 2 extension bytes
   * (section 3.1). */
  uint8_t h[5] = {0};
  size_t n = 1;
  uint32_t v[2] = {(uint32_t)(num - b->last), (uint32_t)len};
  for (int i = 0; i < 2; i++) {
    uint32_t x = v[i];
    uint32_t nib = x;
    if (x >= 13) { /* 13: x - 13 in a byte; 14: x - 269 in two */
      nib = 13;
      x -= 13;
      if (x >= 256) {
        nib = 14;
        x -= 256;
        h[n++] = (uint8_t)(x >> 8);
      }
      h[n++] = (uint8_t)x;
    }
    h[0] = (uint8_t)(h[0] << 4 | nib);
  }
  put(b, h, n);
  put(b, val, len);
  b->last = num;
}

void ec_coap_add_uint(ec_coap_build_t *b, uint16_t num, uint32_t v) {
  uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8),
                  (uint8_t)v};
  size_t skip = 0;
  while (skip < 4 && x[skip] == 0) {
    skip++;
  }
  ec_coap_add(b, num, x + skip, 4 - skip);
}

uint8_t *ec_coap_payload_room(ec_coap_build_t *b, size_t *room) {
  static const uint8_t marker = 0xFF;
  *room = 0;
  put(b, &marker, 1);
  if (b->err != 0) {
    return NULL;
  }
  *room = b->cap - b->len;
  return b->buf + b->len;
}

void ec_coap_payload_done(ec_coap_build_t *b, size_t n) {
  if (b->err != 0) {
    return;
  }
  if (n == 0) {
    b->len--; /* no payload, so no marker either */
  } else if (n > b->cap - b->len) {
    b->err = EC_ENOSPC;
  } else {
    b->len += n;
  }
}

int ec_coap_finish(const ec_coap_build_t *b) {
  return b->err != 0 ? b->err : (int)b->len;
}
