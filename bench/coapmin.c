/* edgecoap-bench: a minimal CoAP (RFC 7252, 7641, 7959) encoder and decoder. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "coapmin.h"

#include <string.h>
#include <strings.h>

/* An unsigned option value in the fewest bytes (0 is empty). */
static size_t uint_bytes(uint32_t v, uint8_t out[4]) {
  size_t n = 0;
  uint8_t tmp[4];
  while (v != 0) {
    tmp[n++] = (uint8_t)(v & 0xff);
    v >>= 8;
  }
  for (size_t i = 0; i < n; i++)
    out[i] = tmp[n - 1 - i];
  return n;
}

/* Append one option; options must come in ascending order. */
int bc_put_opt(uint8_t *buf, size_t cap, size_t *len, unsigned *last,
               unsigned number, const uint8_t *val, size_t vlen) {
  if (number < *last || vlen > 65535 + 269)
    return -1;
  unsigned delta = number - *last;
  uint8_t hdr[5];
  size_t h = 1;
  uint8_t dn, ln;
  if (delta < 13) {
    dn = (uint8_t)delta;
  } else if (delta < 269) {
    dn = 13;
    hdr[h++] = (uint8_t)(delta - 13);
  } else {
    dn = 14;
    hdr[h++] = (uint8_t)((delta - 269) >> 8);
    hdr[h++] = (uint8_t)((delta - 269) & 0xff);
  }
  if (vlen < 13) {
    ln = (uint8_t)vlen;
  } else if (vlen < 269) {
    ln = 13;
    hdr[h++] = (uint8_t)(vlen - 13);
  } else {
    ln = 14;
    hdr[h++] = (uint8_t)((vlen - 269) >> 8);
    hdr[h++] = (uint8_t)((vlen - 269) & 0xff);
  }
  hdr[0] = (uint8_t)(dn << 4 | ln);
  if (*len + h + vlen > cap)
    return -1;
  memcpy(buf + *len, hdr, h);
  if (vlen > 0)
    memcpy(buf + *len + h, val, vlen);
  *len += h + vlen;
  *last = number;
  return 0;
}

static int put_uint(uint8_t *buf, size_t cap, size_t *len, unsigned *last,
                    unsigned number, uint32_t v) {
  uint8_t b[4];
  size_t n = uint_bytes(v, b);
  return bc_put_opt(buf, cap, len, last, number, b, n);
}

/* Split s[0..n) at @p sep into options numbered @p number. */
static int put_split(bc_opts_t *o, const char *s, size_t n, char sep,
                     unsigned number) {
  size_t i = 0;
  while (i < n) {
    size_t j = i;
    while (j < n && s[j] != sep)
      j++;
    if (j > i && bc_put_opt(o->buf, sizeof(o->buf), &o->len, &o->last, number,
                            (const uint8_t *)s + i, j - i) < 0)
      return -1;
    i = j + 1;
  }
  return 0;
}

int bc_opts_init(bc_opts_t *o, const char *path_query, long observe,
                 long content_format, long accept) {
  memset(o, 0, sizeof(*o));
  if (path_query == NULL)
    return -1;
  const char *q = strchr(path_query, '?');
  size_t plen = q ? (size_t)(q - path_query) : strlen(path_query);
  if (observe != BC_ABSENT &&
      put_uint(o->buf, sizeof(o->buf), &o->len, &o->last, BC_OPT_OBSERVE,
               (uint32_t)observe) < 0)
    return -1;
  if (put_split(o, path_query, plen, '/', BC_OPT_URI_PATH) < 0)
    return -1;
  if (content_format != BC_ABSENT &&
      put_uint(o->buf, sizeof(o->buf), &o->len, &o->last,
               BC_OPT_CONTENT_FORMAT, (uint32_t)content_format) < 0)
    return -1;
  if (q != NULL && put_split(o, q + 1, strlen(q + 1), '&', BC_OPT_URI_QUERY) < 0)
    return -1;
  if (accept != BC_ABSENT &&
      put_uint(o->buf, sizeof(o->buf), &o->len, &o->last, BC_OPT_ACCEPT,
               (uint32_t)accept) < 0)
    return -1;
  return 0;
}

static uint32_t block_value(const bc_block_t *b) {
  return b->num << 4 | (b->more ? 8u : 0u) | (b->szx & 7u);
}

long bc_build(uint8_t *out, size_t cap, int type, uint8_t code, uint16_t mid,
              const uint8_t *token, size_t tkl, const bc_optv_t *o,
              const bc_block_t *block2, const bc_block_t *block1, long size1,
              const uint8_t *echo, size_t echo_len, const uint8_t *payload,
              size_t payload_len) {
  if (tkl > 8 || cap < 4 + tkl)
    return -1;
  out[0] = (uint8_t)(0x40 | (type & 3) << 4 | tkl);
  out[1] = code;
  out[2] = (uint8_t)(mid >> 8);
  out[3] = (uint8_t)(mid & 0xff);
  memcpy(out + 4, token, tkl);
  size_t len = 4 + tkl;
  unsigned last = 0;
  if (o != NULL) {
    if (len + o->len > cap)
      return -1;
    memcpy(out + len, o->p, o->len);
    len += o->len;
    last = o->last;
  }
  if (block2 != NULL &&
      put_uint(out, cap, &len, &last, BC_OPT_BLOCK2, block_value(block2)) < 0)
    return -1;
  if (block1 != NULL &&
      put_uint(out, cap, &len, &last, BC_OPT_BLOCK1, block_value(block1)) < 0)
    return -1;
  if (size1 >= 0 &&
      put_uint(out, cap, &len, &last, BC_OPT_SIZE1, (uint32_t)size1) < 0)
    return -1;
  if (echo_len > 0 &&
      bc_put_opt(out, cap, &len, &last, BC_OPT_ECHO, echo, echo_len) < 0)
    return -1;
  if (payload_len > 0) {
    if (len + 1 + payload_len > cap)
      return -1;
    out[len++] = 0xff;
    memcpy(out + len, payload, payload_len);
    len += payload_len;
  }
  return (long)len;
}

static uint32_t read_uint(const uint8_t *p, size_t n) {
  uint32_t v = 0;
  for (size_t i = 0; i < n && i < 4; i++)
    v = v << 8 | p[i];
  return v;
}

static void read_block(const uint8_t *p, size_t n, bc_block_t *b) {
  uint32_t v = read_uint(p, n);
  b->num = v >> 4;
  b->more = (v & 8) != 0;
  b->szx = v & 7;
}

int bc_parse(const uint8_t *buf, size_t len, bc_msg_t *m) {
  memset(m, 0, sizeof(*m));
  m->observe = BC_ABSENT;
  m->content_format = BC_ABSENT;
  if (len < 4 || (buf[0] >> 6) != 1)
    return -1;
  m->type = (buf[0] >> 4) & 3;
  m->tkl = buf[0] & 0x0f;
  m->code = buf[1];
  m->mid = (uint16_t)(buf[2] << 8 | buf[3]);
  if (m->tkl > 8 || 4u + m->tkl > len)
    return -1;
  m->token = buf + 4;
  const uint8_t *p = buf + 4 + m->tkl, *end = buf + len;
  unsigned number = 0;
  while (p < end) {
    if (*p == 0xff) {
      if (p + 1 == end)
        return -1; /* a marker with no payload is a format error */
      m->payload = p + 1;
      m->payload_len = (size_t)(end - p - 1);
      return 0;
    }
    unsigned delta = *p >> 4, olen = *p & 0x0f;
    p++;
    if (delta == 15 || olen == 15)
      return -1;
    if (delta == 13) {
      if (p >= end)
        return -1;
      delta = 13u + *p++;
    } else if (delta == 14) {
      if (end - p < 2)
        return -1;
      delta = 269u + ((unsigned)p[0] << 8 | p[1]);
      p += 2;
    }
    if (olen == 13) {
      if (p >= end)
        return -1;
      olen = 13u + *p++;
    } else if (olen == 14) {
      if (end - p < 2)
        return -1;
      olen = 269u + ((unsigned)p[0] << 8 | p[1]);
      p += 2;
    }
    if ((size_t)(end - p) < olen)
      return -1;
    number += delta;
    switch (number) {
    case BC_OPT_OBSERVE:
      m->observe = (long)read_uint(p, olen);
      break;
    case BC_OPT_CONTENT_FORMAT:
      m->content_format = (long)read_uint(p, olen);
      break;
    case BC_OPT_BLOCK2:
      m->has_block2 = 1;
      read_block(p, olen, &m->block2);
      break;
    case BC_OPT_BLOCK1:
      m->has_block1 = 1;
      read_block(p, olen, &m->block1);
      break;
    case BC_OPT_ECHO:
      m->echo = p;
      m->echo_len = olen;
      break;
    default:
      break;
    }
    p += olen;
  }
  return 0;
}

uint8_t bc_method(const char *name) {
  static const char *const names[] = {"GET", "POST", "PUT", "DELETE", "FETCH",
                                      "PATCH", "IPATCH"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    if (strcasecmp(name, names[i]) == 0)
      return (uint8_t)(i + 1);
  return 0;
}
